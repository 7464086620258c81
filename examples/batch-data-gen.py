#!/usr/bin/env python3
# Regenerates examples/data/, the tree examples/batch runs on (README, make
# check): text from a fixed-seed LCG over an original word list, so the same
# bytes every time. Usage: python3 examples/batch-data-gen.py examples/data
# (then ./examples/batch examples/data > examples/batch-expected.txt).
import os, sys
root = sys.argv[1]
state = 20261123
def rnd(n):
    global state
    state = (state * 6364136223846793005 + 1442695040888963407) % (1 << 64)
    return (state >> 33) % n
words = ("weft warp loom shuttle thread spool bobbin heddle reed twill satin plain "
         "task worker queue steal deque join spawn group deadline cancel retry error "
         "tree file block chunk byte line word count sum hash merge split rank batch "
         "river stone cloud lamp bread salt window garden ladder copper violet autumn "
         "quiet rapid narrow gentle early late north south the a of and to in is it").split()
def sentence():
    n = 4 + rnd(12)
    w = [words[rnd(len(words))] for _ in range(n)]
    w[0] = w[0].capitalize()
    return " ".join(w) + "."
def paragraph(lines):
    out = []
    for _ in range(lines):
        out.append(" ".join(sentence() for _ in range(1 + rnd(3))))
    return "\n".join(out) + "\n"
def logfile(nlines):
    lvl = ["INFO", "WARN", "DEBUG", "ERROR"]
    out = []
    t = 0
    for i in range(nlines):
        t += 1 + rnd(900)
        out.append("%02d:%02d:%02d.%03d %-5s worker=%d %s" % (t // 3600000 % 24, t // 60000 % 60,
                   t // 1000 % 60, t % 1000, lvl[rnd(4)], rnd(8), sentence()))
    return "\n".join(out) + "\n"
def put(rel, text):
    p = os.path.join(root, rel)
    os.makedirs(os.path.dirname(p), exist_ok=True)
    with open(p, "w", newline="") as f:
        f.write(text)
put("README.txt", "A small tree for examples/batch: text generated from a fixed seed\n"
    "(original words, no outside content). Its summary is examples/batch-expected.txt.\n")
for i in range(8):
    put("notes/note-%02d.txt" % i, paragraph(8 + rnd(20)))
for i in range(6):
    put("logs/day-%d.log" % (i + 1), logfile(20 + rnd(40)))
put("logs/archive/big.log", logfile(760))
for i in range(5):
    put("recipes/recipe-%d.md" % i, "# " + sentence() + "\n\n" + paragraph(5 + rnd(8)))
for i in range(4):
    put("nested/a/b/deep-%d.txt" % i, paragraph(3 + rnd(6)))
for i in range(4):
    put("nested/a/leaf-%d.txt" % i, paragraph(2 + rnd(5)))
for i in range(3):
    put("data/table-%d.csv" % i, "id,name,count\n" + "".join(
        "%d,%s,%d\n" % (k, words[rnd(len(words))], rnd(10000)) for k in range(30 + rnd(60))))
put("edge/empty.txt", "")
put("edge/no-newline.txt", "last line has no newline")
put("edge/crlf.txt", "one\r\ntwo three\r\n\r\nfour\r\n")
put("edge/spaces.txt", "  \t leading and   trailing \t \n\n\n   \v\f words\tand\ttabs  \n")
put("edge/one-word.txt", "word")
put("edge/name with spaces.txt", paragraph(2))
