/*
 * Deque micro-benchmarks (and the first demo): uncontended owner push+pop,
 * uncontended steal, and steal throughput with the owner pushing while thieves
 * take, for the pointer deque and for the frame deque (deque/frame.h: four
 * words a slot); then the cost of one fork+join's queueing in the two schemes
 * of issue 20: a pointer to a 64-byte descriptor from a free list (pop the
 * list, five stores, push; pop, call, push the list), against the frame in
 * the slot (push four words; pop them to the stack, call). Every run also
 * checks that each item came out exactly once (and each frame whole).
 *
 *   deque-bench [items]        the Chase-Lev deque (default 20,000,000 items)
 *   deque-bench-split [items]  the same program built with WEFT_SPLIT_DEQUE
 * whichever deque configure chose for the workers (--enable-split-deque).
 *
 * For instruction counts, the measured loops are functions of their own:
 *   valgrind --tool=callgrind --toggle-collect='push_pop_loop*' bench/deque-bench 1000000
 * (likewise 'steal_loop*', 'frame_push_pop_loop*', 'frame_steal_loop*',
 * 'fork_descriptor_loop*', 'fork_frame_loop*'), divided by the items.
 */
#include "config.h"

/* deque-bench measures Chase-Lev even when config.h picks the split deque:
 * it shares no deque with the library */
#ifdef WEFT_DEQUE_BENCH_CHASE_LEV
#undef WEFT_SPLIT_DEQUE
#endif

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <weft/weft.h>

#include "deque/deque.h"
#include "deque/frame.h"
#include "base/alloc.h"

#define ITEM(i) ((void *)(uintptr_t)((i) + 1))

static weft__deque *new_deque(void)
{
    weft__deque *dq = weft__alloc_aligned(WEFT__CACHE_LINE, sizeof *dq);
    if (dq == NULL || weft__deque_init(dq, 1024) != 0) {
        fprintf(stderr, "deque-bench: out of memory\n");
        exit(1);
    }
    return dq;
}

static void free_deque(weft__deque *dq)
{
    weft__deque_destroy(dq);
    weft__free(dq);
}

static weft__deque_frames *new_frame_deque(void)
{
    weft__deque_frames *fd = weft__alloc_aligned(WEFT__CACHE_LINE, sizeof *fd);
    if (fd == NULL || weft__deque_frames_init(fd, 1024) != 0) {
        fprintf(stderr, "deque-bench: out of memory\n");
        exit(1);
    }
    return fd;
}

static void free_frame_deque(weft__deque_frames *fd)
{
    weft__deque_frames_destroy(fd);
    weft__free(fd);
}

/* Frame i: word k holds i * 4 + k (every word checked on the way out). */
static inline weft__deque_frame frame_of(uint64_t i)
{
    weft__deque_frame f;
    for (unsigned k = 0; k < WEFT__DEQUE_FRAME_WORDS; k++)
        f.w[k] = (void *)(uintptr_t)(i * WEFT__DEQUE_FRAME_WORDS + k);
    return f;
}

/* i when the frame is frame i whole, else 0 (which no sum check survives:
 * the items are 1..n and each is added once). */
static inline uint64_t frame_item(const weft__deque_frame *f)
{
    uint64_t i = (uintptr_t)f->w[0] / WEFT__DEQUE_FRAME_WORDS;
    int whole = 1;
    for (unsigned k = 1; k < WEFT__DEQUE_FRAME_WORDS; k++)
        whole &= (uintptr_t)f->w[k] == i * WEFT__DEQUE_FRAME_WORDS + k;
    return whole ? i : 0;
}

#ifdef WEFT_SPLIT_DEQUE
#define DEQUE_NAME "split deque"
#else
#define DEQUE_NAME "Chase-Lev deque"
#endif

__attribute__((noinline)) static uint64_t push_pop_loop(weft__deque *dq, uint64_t n)
{
    uint64_t sum = 0;
    for (uint64_t i = 0; i < n; i++) {
        weft__deque_push_owner(dq, ITEM(i));
        sum += (uintptr_t)weft__deque_pop_owner(dq);
    }
    return sum;
}

__attribute__((noinline)) static uint64_t steal_loop(weft__deque *dq, uint64_t *got)
{
    uint64_t sum = 0;
    void *item;
    while (weft__deque_steal(dq, &item) == WEFT__STEAL_OK) {
        sum += (uintptr_t)item;
        ++*got;
    }
    return sum;
}

__attribute__((noinline)) static uint64_t frame_push_pop_loop(weft__deque_frames *fd, uint64_t n)
{
    /* every word summed (single-threaded: no torn frame can occur) */
    uint64_t sum = 0;
    for (uint64_t i = 1; i <= n; i++) {
        weft__deque_frame f = frame_of(i);
        weft__deque_frames_push_owner(fd, &f);
        weft__deque_frame out;
        if (weft__deque_frames_pop_owner(fd, &out))
            sum += (uintptr_t)out.w[0] + (uintptr_t)out.w[1] + (uintptr_t)out.w[2] +
                   (uintptr_t)out.w[3];
    }
    return sum;
}

__attribute__((noinline)) static uint64_t frame_steal_loop(weft__deque_frames *fd,
                                                           uint64_t *got)
{
    uint64_t sum = 0;
    weft__deque_frame f;
    while (weft__deque_frames_steal(fd, &f) == WEFT__STEAL_OK) {
        sum += frame_item(&f);
        ++*got;
    }
    return sum;
}

/* Owner alone: push one, pop one; the fork-join fast path. */
static void bench_push_pop(uint64_t n)
{
    weft__deque *dq = new_deque();
    weft_time t0 = weft_now();
    uint64_t sum = push_pop_loop(dq, n);
    weft_time t1 = weft_now();
    int ok = sum == n * (n + 1) / 2;
    printf("push+pop (owner alone)   %6.2f ns per pair   %s\n", (double)(t1 - t0) / (double)n,
           ok ? "exactly once" : "WRONG");
    free_deque(dq);
}

/* One thread steals a prefilled deque: the cost of the CAS path. */
static void bench_steal_alone(uint64_t n)
{
    weft__deque *dq = new_deque();
    for (uint64_t i = 0; i < n; i++)
        weft__deque_push_owner(dq, ITEM(i));
    weft__deque_share_owner(dq); /* the split deque's items were private */
    uint64_t got = 0;
    weft_time t0 = weft_now();
    uint64_t sum = steal_loop(dq, &got);
    weft_time t1 = weft_now();
    int ok = got == n && sum == n * (n + 1) / 2;
    printf("steal (uncontended)      %6.2f ns per steal  %s\n", (double)(t1 - t0) / (double)n,
           ok ? "exactly once" : "WRONG");
    free_deque(dq);
}

static void bench_frame_push_pop(uint64_t n)
{
    weft__deque_frames *fd = new_frame_deque();
    weft_time t0 = weft_now();
    uint64_t sum = frame_push_pop_loop(fd, n);
    weft_time t1 = weft_now();
    /* the words of frame i add up to 16 i + 6 */
    int ok = sum == 16 * (n * (n + 1) / 2) + 6 * n;
    printf("frame push+pop (owner)   %6.2f ns per pair   %s\n", (double)(t1 - t0) / (double)n,
           ok ? "exactly once, whole" : "WRONG");
    free_frame_deque(fd);
}

static void bench_frame_steal_alone(uint64_t n)
{
    weft__deque_frames *fd = new_frame_deque();
    for (uint64_t i = 1; i <= n; i++) {
        weft__deque_frame f = frame_of(i);
        weft__deque_frames_push_owner(fd, &f);
    }
    weft__deque_frames_share_owner(fd);
    uint64_t got = 0;
    weft_time t0 = weft_now();
    uint64_t sum = frame_steal_loop(fd, &got);
    weft_time t1 = weft_now();
    int ok = got == n && sum == n * (n + 1) / 2;
    printf("frame steal (uncontended) %5.2f ns per steal  %s\n", (double)(t1 - t0) / (double)n,
           ok ? "exactly once, whole" : "WRONG");
    free_frame_deque(fd);
}

struct shared {
    weft__deque *dq;
    weft__deque_frames *fd;
    atomic_bool done;
    uint64_t sum[2], got[2], lost[2], asked[2];
};

struct thief_arg {
    struct shared *sh;
    int id;
};

static void *thief(void *p)
{
    struct thief_arg *a = p;
    struct shared *sh = a->sh;
    void *item;
    for (;;) {
        weft__steal_status st = weft__deque_steal(sh->dq, &item);
        if (st == WEFT__STEAL_OK) {
            sh->sum[a->id] += (uintptr_t)item;
            sh->got[a->id]++;
        } else if (st == WEFT__STEAL_LOST) {
            sh->lost[a->id]++;
        } else if (st == WEFT__STEAL_ASKED) {
            sh->asked[a->id]++;
        } else if (atomic_load_explicit(&sh->done, memory_order_acquire)) {
            break;
        }
    }
    return NULL;
}

/* The owner pushes n items (popping every 4th back) while `thieves` steal. */
static void bench_contended(uint64_t n, int thieves)
{
    struct shared sh = {.dq = new_deque()};
    struct thief_arg args[2];
    pthread_t tid[2];
    uint64_t sum = 0, got = 0;
    weft_time t0 = weft_now();
    for (int i = 0; i < thieves; i++) {
        args[i] = (struct thief_arg){&sh, i};
        pthread_create(&tid[i], NULL, thief, &args[i]);
    }
    for (uint64_t i = 0; i < n; i++) {
        while (weft__deque_push_owner(sh.dq, ITEM(i)) != 0)
            ;
        if ((i & 3) == 3) {
            void *item = weft__deque_pop_owner(sh.dq);
            if (item != NULL) {
                sum += (uintptr_t)item;
                got++;
            }
        }
    }
    for (void *item; (item = weft__deque_pop_owner(sh.dq)) != NULL; got++)
        sum += (uintptr_t)item;
    atomic_store_explicit(&sh.done, 1, memory_order_release);
    for (int i = 0; i < thieves; i++)
        pthread_join(tid[i], NULL);
    weft_time t1 = weft_now();
    uint64_t stolen = 0, lost = 0, asked = 0;
    for (int i = 0; i < thieves; i++) {
        sum += sh.sum[i];
        stolen += sh.got[i];
        lost += sh.lost[i];
        asked += sh.asked[i];
    }
    got += stolen;
    int ok = got == n && sum == n * (n + 1) / 2;
    double secs = (double)(t1 - t0) / 1e9;
    printf("owner + %d thie%s        %6.2f M items/s, %.1f M steals/s, %llu lost races, "
           "%llu asked  %s\n",
           thieves, thieves > 1 ? "ves" : "f  ", (double)n / secs / 1e6,
           (double)stolen / secs / 1e6, (unsigned long long)lost, (unsigned long long)asked,
           ok ? "exactly once" : "WRONG");
    free_deque(sh.dq);
}

static void *frame_thief(void *p)
{
    struct thief_arg *a = p;
    struct shared *sh = a->sh;
    weft__deque_frame f;
    for (;;) {
        weft__steal_status st = weft__deque_frames_steal(sh->fd, &f);
        if (st == WEFT__STEAL_OK) {
            sh->sum[a->id] += frame_item(&f);
            sh->got[a->id]++;
        } else if (st == WEFT__STEAL_LOST) {
            sh->lost[a->id]++;
        } else if (st == WEFT__STEAL_ASKED) {
            sh->asked[a->id]++;
        } else if (atomic_load_explicit(&sh->done, memory_order_acquire)) {
            break;
        }
    }
    return NULL;
}

/* bench_contended with frames: the owner pushes frames 1..n (popping every
 * 4th back) while `thieves` steal. */
static void bench_frame_contended(uint64_t n, int thieves)
{
    struct shared sh = {.fd = new_frame_deque()};
    struct thief_arg args[2];
    pthread_t tid[2];
    uint64_t sum = 0, got = 0;
    weft_time t0 = weft_now();
    for (int i = 0; i < thieves; i++) {
        args[i] = (struct thief_arg){&sh, i};
        pthread_create(&tid[i], NULL, frame_thief, &args[i]);
    }
    weft__deque_frame f;
    for (uint64_t i = 1; i <= n; i++) {
        f = frame_of(i);
        while (weft__deque_frames_push_owner(sh.fd, &f) != 0)
            ;
        if ((i & 3) == 3 && weft__deque_frames_pop_owner(sh.fd, &f)) {
            sum += frame_item(&f);
            got++;
        }
    }
    for (; weft__deque_frames_pop_owner(sh.fd, &f); got++)
        sum += frame_item(&f);
    atomic_store_explicit(&sh.done, 1, memory_order_release);
    for (int i = 0; i < thieves; i++)
        pthread_join(tid[i], NULL);
    weft_time t1 = weft_now();
    uint64_t stolen = 0, lost = 0, asked = 0;
    for (int i = 0; i < thieves; i++) {
        sum += sh.sum[i];
        stolen += sh.got[i];
        lost += sh.lost[i];
        asked += sh.asked[i];
    }
    got += stolen;
    int ok = got == n && sum == n * (n + 1) / 2;
    double secs = (double)(t1 - t0) / 1e9;
    printf("frames, owner + %d thie%s %6.2f M items/s, %.1f M steals/s, %llu lost races, "
           "%llu asked  %s\n",
           thieves, thieves > 1 ? "ves" : "f  ", (double)n / secs / 1e6,
           (double)stolen / secs / 1e6, (unsigned long long)lost, (unsigned long long)asked,
           ok ? "exactly once, whole" : "WRONG");
    free_frame_deque(sh.fd);
}

/*
 * One fork+join's queueing, the two schemes of issue 20, with the task
 * called through its function pointer in both (the call is the same).
 * The descriptor is the runtime's today: 64 bytes, from the owner's free
 * list; five stores fill it (fn, arg, scope, home, kind), the deque holds
 * its address. The frame is the slot: fn, arg, scope and a NULL tag.
 */
typedef struct task_descriptor task_descriptor;
struct task_descriptor {
    uint64_t (*fn)(void *self, void *arg);
    void *arg;
    void *scope;
    void *home;
    task_descriptor *next; /* free list */
    const char *name;
    void (*cleanup)(void *);
    int kind;
} __attribute__((aligned(64)));

_Static_assert(sizeof(task_descriptor) == 64, "a descriptor is one cache line");

__attribute__((noinline)) static uint64_t task_fn(void *self, void *arg)
{
    (void)self;
    return (uintptr_t)arg;
}

static uint64_t (*volatile task_fn_ptr)(void *, void *) = task_fn;

__attribute__((noinline)) static uint64_t fork_descriptor_loop(weft__deque *dq,
                                                               task_descriptor **free_list,
                                                               void *scope, uint64_t n)
{
    uint64_t (*fn)(void *, void *) = task_fn_ptr;
    uint64_t sum = 0;
    for (uint64_t i = 1; i <= n; i++) {
        task_descriptor *d = *free_list; /* spawn */
        *free_list = d->next;
        d->fn = fn;
        d->arg = (void *)(uintptr_t)i;
        d->scope = scope;
        d->home = free_list;
        d->kind = 1;
        weft__deque_push_owner(dq, d);
        task_descriptor *t = weft__deque_pop_owner(dq); /* join: run it */
        sum += t->fn(t, t->arg);
        t->next = *free_list;
        *free_list = t;
    }
    return sum;
}

__attribute__((noinline)) static uint64_t fork_frame_loop(weft__deque_frames *fd, void *scope,
                                                          uint64_t n)
{
    uint64_t (*fn)(void *, void *) = task_fn_ptr;
    uint64_t sum = 0;
    for (uint64_t i = 1; i <= n; i++) {
        weft__deque_frame f = {{(void *)fn, (void *)(uintptr_t)i, scope, NULL}}; /* spawn */
        weft__deque_frames_push_owner(fd, &f);
        weft__deque_frame self; /* join: run it from the runner's copy */
        if (weft__deque_frames_pop_owner(fd, &self)) {
            uint64_t (*run)(void *, void *) = (uint64_t(*)(void *, void *))self.w[0];
            sum += run(&self, self.w[1]);
        }
    }
    return sum;
}

static void bench_fork(uint64_t n)
{
    enum { DESCRIPTORS = 64 };
    task_descriptor *pool = weft__alloc_aligned(64, DESCRIPTORS * sizeof *pool);
    if (pool == NULL) {
        fprintf(stderr, "deque-bench: out of memory\n");
        exit(1);
    }
    task_descriptor *free_list = NULL;
    for (int i = DESCRIPTORS - 1; i >= 0; i--) {
        pool[i].next = free_list;
        free_list = &pool[i];
    }
    int scope;
    weft__deque *dq = new_deque();
    weft_time t0 = weft_now();
    uint64_t sum = fork_descriptor_loop(dq, &free_list, &scope, n);
    weft_time t1 = weft_now();
    printf("fork, descriptor+pointer %6.2f ns per fork   %s\n", (double)(t1 - t0) / (double)n,
           sum == n * (n + 1) / 2 ? "exactly once" : "WRONG");
    free_deque(dq);
    weft__free(pool);
    weft__deque_frames *fd = new_frame_deque();
    t0 = weft_now();
    sum = fork_frame_loop(fd, &scope, n);
    t1 = weft_now();
    printf("fork, frame in the slot  %6.2f ns per fork   %s\n", (double)(t1 - t0) / (double)n,
           sum == n * (n + 1) / 2 ? "exactly once" : "WRONG");
    free_frame_deque(fd);
}

int main(int argc, char **argv)
{
    uint64_t n = argc > 1 ? strtoull(argv[1], NULL, 10) : 20000000;
    if (n == 0) {
        fprintf(stderr, "usage: deque-bench [items]\n");
        return 2;
    }
    printf("weft %s: %s, %llu items per run\n", weft_version(), DEQUE_NAME,
           (unsigned long long)n);
    bench_push_pop(n);
    bench_steal_alone(n);
    bench_contended(n, 1);
    bench_contended(n, 2);
    bench_frame_push_pop(n);
    bench_frame_steal_alone(n);
    bench_frame_contended(n, 1);
    bench_frame_contended(n, 2);
    bench_fork(n);
    return 0;
}
