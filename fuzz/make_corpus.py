#!/usr/bin/env python3
"""Writes the seed corpus (fuzz/corpus/): one small program per file that
exercises each command of fuzz/fuzz-api's language (fuzz/program.c).

Every command is three bytes `op a b`; a SPAWN's child program is the next
`b % 7` commands. Run from the source tree: python3 fuzz/make_corpus.py
To read a finding: python3 fuzz/make_corpus.py --dump fuzz/artifacts/crash-...
"""
import os
import sys

OPS = ["open", "spawn", "join", "cancel", "cancel_scope", "fail", "sleep", "check_cancel",
       "deadline", "job", "job_wait", "job_cancel", "job_release", "group_wait", "group_next",
       "pfor", "retry", "on_cancel", "on_cancel_remove", "misuse", "chain", "outer_cancel",
       "scope_enter", "scope_exit", "scope_cancel"]
OP = {name: i for i, name in enumerate(OPS)}

COLLECT, SHIELD, STREAM = 1, 2, 4
# deadline choices: 0 none, 1 past, 2 300 us, 3 2 ms
NONE, PAST, SHORT, LONG = 0, 1, 2, 3
# spawn options (a): 1 named, 2 cleanup, deadline choice << 2, 0x40 plain weft_spawn
NAMED, CLEANUP, PLAIN = 1, 2, 0x40
# wait choices (b): 0 poll, 1 100 us, 2 1 ms, 3 never
# scope_enter a: 1 shield, 2 named, deadline choice << 2, 0x40 NULL options;
#   b % 8: 0-4 enter, 5 NULL self, 6 NULL scope, 7 bad flags; b & 0x18 == 0x18: the
#   task returns inside what it entered
# scope_exit a % 8: 0-3 the innermost, 4 out of order, 5 a copy, 6 exited or never
#   entered, 7 NULLs
# scope_cancel a % 8: 0-2 and 7 the innermost, 3 the spawner's innermost, 4 one exited,
#   5 NULL and never entered, 6 the outermost of several
SHIELD_SCOPE, NAMED_SCOPE, NULL_OPTS = 1, 2, 0x40
LEAVE_OPEN = 0x18
EXIT, EXIT_OUT_OF_ORDER, EXIT_COPY, EXIT_EXITED, EXIT_NULLS = 0, 4, 5, 6, 7
CANCEL_OWN, CANCEL_SPAWNERS, CANCEL_EXITED, CANCEL_NOTHING, CANCEL_OUTERMOST = 0, 3, 4, 5, 6


def c(op, a=0, b=0):
    return bytes([OP[op], a & 0xff, b & 0xff])


def spawn(a, *child):
    return c("spawn", a, len(child)) + b"".join(child)


SEEDS = {
    "empty-group": c("open") + c("join", 1),
    "spawn-plain": c("open") + spawn(PLAIN) + spawn(PLAIN) + c("join", 1),
    "spawn-nested": c("open") + spawn(NAMED, c("open"), spawn(NAMED, c("sleep", 2)), c("join", 1))
    + c("join", 1),
    "collect-fails": c("open", COLLECT) + spawn(NAMED, c("fail", 0)) + spawn(NAMED, c("fail", 3))
    + spawn(NAMED | CLEANUP) + c("join", 1),
    "fail-fast": c("open") + spawn(NAMED, c("fail", 1)) + spawn(NAMED, c("sleep", 8), c("check_cancel"))
    + c("join", 1),
    "fail-from-cause": c("open") + spawn(NAMED, c("open", COLLECT), spawn(NAMED, c("fail", 2)),
                                         c("join", 1), c("fail", 5)) + c("join", 1),
    "cancel-group": c("open") + spawn(NAMED, c("sleep", 4), c("check_cancel")) + c("cancel")
    + c("join", 1),
    "cancel-scope": c("open", COLLECT) + spawn(NAMED, c("cancel_scope")) + spawn(NAMED, c("sleep", 3),
                                                                           c("check_cancel"))
    + c("join", 1),
    "shield": c("open") + spawn(0, c("open", SHIELD, SHORT), spawn(NAMED, c("sleep", 10), c("deadline")),
                                c("join", 1)) + c("cancel") + c("join", 1),
    "group-deadline": c("open", 0, SHORT) + spawn(NAMED | CLEANUP, c("sleep", 12), c("check_cancel"))
    + c("join", 1),
    "past-deadline": c("open", COLLECT, PAST) + spawn(NAMED, c("check_cancel")) + c("join", 1),
    "spawn-deadline": c("open", COLLECT) + spawn(NAMED | CLEANUP | (SHORT << 2), c("sleep", 12),
                                                 c("check_cancel")) + c("join", 1),
    "deadline-check": c("open", 0, LONG) + spawn(NAMED | (SHORT << 2), c("deadline"), c("open", 0, SHORT),
                                                 spawn(0, c("deadline")), c("join", 1)) + c("join", 1),
    "job-wait": c("job", 0, 3) + c("job_wait", 0, 3) + c("job_release"),
    "job-fail": c("job", 1 | 0x40, 2) + c("job_wait", 0, 2) + c("job_release"),
    "job-cancel": c("job", 2, 15) + c("job_cancel") + c("job_wait", 0, 3),
    "job-timeout": c("job", 3, 10) + c("job_wait", 0, 1) + c("job_release"),
    "job-deadline": c("open") + spawn(NAMED | (SHORT << 2), c("job", 3 | (LONG << 2), 15),
                                      c("job_wait", 0, 3)) + c("join", 1),
    "job-released": c("job", 1, 8) + c("job", 0, 4) + c("job_release", 0) + c("job_release", 1),
    "group-wait": c("open") + spawn(PLAIN, c("sleep", 4)) + c("group_wait", 0, 1) + c("group_wait", 0, 3)
    + c("join", 1),
    "group-next": c("open", STREAM | COLLECT) + spawn(NAMED, c("sleep", 2)) + spawn(NAMED, c("fail", 4))
    + spawn(0) + c("group_next", 3, 3) + c("group_next", 0, 3) + c("join", 1),
    "group-next-nostream": c("open") + spawn(0) + c("group_next", 0, 0) + c("join", 1),
    "pfor": c("pfor", 40, 3) + c("pfor", 7, 0x41),
    "pfor-fail": c("pfor", 30, 0x5a) + c("pfor", 0, 0),
    "retry": c("retry", 3, 2) + c("retry", 2, 4) + c("retry", 0x80, 0) + c("retry", 4, 0x91),
    "on-cancel": c("open") + spawn(NAMED, c("on_cancel"), c("sleep", 8), c("on_cancel_remove"))
    + c("cancel") + c("join", 1),
    "on-cancel-late": c("open") + c("cancel") + spawn(NAMED, c("on_cancel"), c("on_cancel_remove"))
    + c("join", 1),
    "misuse": b"".join(c("misuse", i) for i in range(11)),
    "misuse-joined": c("open") + spawn(0, c("misuse", 3)) + c("join", 1) + c("misuse", 2)
    + c("misuse", 1),
    "abandon-open": c("open", COLLECT) + spawn(NAMED, c("fail", 6)) + c("open", STREAM)
    + spawn(0) + c("job", 2, 12),
    # chain a: links - 1, b: bit k % 8 makes link k fail
    "detached-chain": c("chain", 11, 0x24) + c("open") + spawn(NAMED, c("chain", 2, 0x01))
    + c("join", 1),
    "detached-chain-long": c("chain", 15, 0) + c("chain", 0, 0xff),
    # A -> B -> X: a second thread cancels A (outer_cancel a: delay / 16 us)
    # while B fails fast, and a task starting in X afterwards must see it
    "outer-cancel-inner-fails": c("open") + spawn(0, c("open"), spawn(NAMED, c("sleep", 1), c("fail", 1)),
                                               spawn(0, c("open"), spawn(0, c("sleep", 2), c("check_cancel")),
                                                     c("sleep", 3), spawn(0, c("check_cancel")), c("join", 1)),
                                               c("join", 1))
    + c("outer_cancel", 4) + c("join", 1),
    # the same, B cancelled by one of its own tasks
    "outer-cancel-inner-cancels": c("open") + spawn(0, c("open"), spawn(NAMED, c("cancel_scope")),
                                                 spawn(0, c("open"), spawn(0, c("sleep", 1)),
                                                       c("join", 1)), c("join", 1))
    + c("outer_cancel", 0) + c("join", 1),
    "outer-cancel-late": c("open", COLLECT) + spawn(NAMED) + c("outer_cancel", 31) + c("join", 1),
    # cancel scopes: the scope's own cancel ends the group begun inside, exit says ECANCELED
    "scope-cancel": c("scope_enter", NAMED_SCOPE) + c("open") + spawn(NAMED, c("sleep", 8), c("check_cancel"))
    + c("scope_cancel", CANCEL_OWN) + c("join", 1) + c("scope_exit", EXIT) + c("check_cancel"),
    # its own deadline ends a sleep: ETIMEDOUT; one already past cancels at enter
    "scope-deadline": c("scope_enter", NAMED_SCOPE | (SHORT << 2)) + c("deadline") + c("sleep", 12)
    + c("scope_exit", EXIT) + c("deadline")
    + c("scope_enter", PAST << 2) + c("open") + spawn(NAMED, c("check_cancel")) + c("join", 1)
    + c("scope_exit", EXIT),
    # a shield inside a cancelled group: its children are not cancelled, its own deadline holds
    "scope-shield": c("open") + spawn(NAMED, c("scope_enter", SHIELD_SCOPE | (LONG << 2)), c("open"),
                                      spawn(NAMED, c("sleep", 6), c("check_cancel")), c("join", 1),
                                      c("scope_exit", EXIT), c("check_cancel"))
    + c("sleep", 1) + c("cancel") + c("join", 1),
    # an enclosing cancel ends a plain scope: exit says 0, the task stays cancelled
    "scope-enclosing": c("open", 0, SHORT) + spawn(NAMED, c("scope_enter", 0), c("sleep", 16),
                                                   c("scope_exit", EXIT), c("check_cancel"))
    + c("cancel") + c("join", 1),
    # a task of the group begun inside cancels the scope of its spawner
    "scope-child-cancels": c("scope_enter", NAMED_SCOPE) + c("open", COLLECT)
    + spawn(NAMED, c("scope_cancel", CANCEL_SPAWNERS)) + spawn(0, c("sleep", 4), c("check_cancel"))
    + c("join", 1) + c("scope_exit", EXIT),
    # nested: a shield inside a scope with a deadline, cancels of both, LIFO exits
    "scope-nested": c("scope_enter", SHORT << 2) + c("scope_enter", SHIELD_SCOPE) + c("scope_enter", 0)
    + c("scope_cancel", CANCEL_OUTERMOST) + c("sleep", 8) + c("scope_exit", EXIT) + c("scope_exit", EXIT)
    + c("sleep", 8) + c("scope_exit", EXIT),
    # misuse: out of order, a copy, exited or never entered, NULLs, bad flags, cancels of nothing
    "scope-misuse": c("scope_enter", 0) + c("scope_enter", NAMED_SCOPE) + c("scope_exit", EXIT_OUT_OF_ORDER)
    + c("scope_exit", EXIT_COPY) + c("scope_exit", EXIT_NULLS) + c("scope_enter", 0, 5)
    + c("scope_enter", 0, 6) + c("scope_enter", 0, 7) + c("scope_exit", EXIT)
    + c("scope_exit", EXIT_EXITED) + c("scope_cancel", CANCEL_EXITED) + c("scope_cancel", CANCEL_NOTHING)
    + c("scope_exit", EXIT) + c("scope_exit", EXIT_EXITED) + c("scope_exit", EXIT_COPY),
    # a group begun inside is open: exit refused; one begun before may be joined inside
    "scope-group-open": c("open") + c("scope_enter", 0) + c("open") + spawn(PLAIN)
    + c("scope_exit", EXIT) + c("join", 1) + c("join", 1) + c("open") + c("scope_exit", EXIT)
    + c("join", 1) + c("scope_exit", EXIT),
    # a task returns inside its scope: it fails with EINVAL; the root too
    "scope-left-open": c("open", COLLECT) + spawn(NAMED, c("scope_enter", SHORT << 2, LEAVE_OPEN))
    + spawn(0, c("scope_enter", 0, LEAVE_OPEN), c("fail", 2)) + c("join", 1)
    + c("scope_enter", NULL_OPTS, LEAVE_OPEN),
    # a callback registered inside is removed before exit; one outside stays put
    "scope-callback": c("on_cancel") + c("scope_enter", 0) + c("scope_cancel", CANCEL_OWN)
    + c("scope_exit", EXIT) + c("on_cancel_remove") + c("scope_enter", 0) + c("on_cancel")
    + c("scope_cancel", CANCEL_OWN) + c("scope_exit", EXIT),
    # a task stops for its own scope's cancel and returns ECANCELED outside it: its group was
    # not cancelled, so that is a failure the join lists (the fuzzer once assumed otherwise)
    "scope-stop-inside": c("open", 0, LONG) + spawn(NAMED, c("scope_enter", PAST << 2), c("check_cancel"))
    + spawn(0, c("scope_enter", 0), c("scope_cancel", CANCEL_OWN), c("check_cancel")) + c("join", 1),
    # a job spawned inside keeps the scope's deadline after exit; a job cannot enter one
    "scope-job": c("scope_enter", SHORT << 2) + c("job", 2, 15) + c("scope_exit", EXIT)
    + c("job_wait", 0, 3) + c("job_release"),
}


def dump(data, depth=0, pos=0, count=None):
    """Prints the program in data as program.c decodes it; returns the end."""
    n = 0
    while pos < len(data) and (count is None or n < count):
        op, a, b = (list(data[pos:pos + 3]) + [0, 0])[:3]
        op %= len(OPS)
        print(f"{'  ' * depth}{OPS[op]} a={a:#04x} b={b:#04x}")
        pos += 3
        n += 1
        if OPS[op] == "spawn":
            pos = dump(data, depth + 1, pos, b % 7 if depth + 1 < 4 else 0)
    return pos


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "--dump":
        with open(sys.argv[2], "rb") as f:
            dump(f.read())
        return
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")
    os.makedirs(out, exist_ok=True)
    for name, data in sorted(SEEDS.items()):
        with open(os.path.join(out, name), "wb") as f:
            f.write(data)
    print(f"{len(SEEDS)} seeds in {out}", file=sys.stderr)


if __name__ == "__main__":
    main()
