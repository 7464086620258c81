/*
 * bench_tbb.cpp - the kernels on oneTBB tbb::task_group.
 *
 * Every fork point owns a task_group on its stack: children are started with
 * run() and joined with wait(), the idiomatic oneTBB fork-join (run/wait, no
 * parallel algorithms).  The worker count is set with tbb::global_control and an
 * explicit task_arena of that many slots; the arena is warmed up by
 * bench_main's untimed fib before the timed run.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <new>
#include <vector>

#include <tbb/global_control.h>
#include <tbb/task_arena.h>
#include <tbb/task_group.h>

#include "bench_common.h"

namespace {

std::unique_ptr<tbb::global_control> control;
std::unique_ptr<tbb::task_arena> arena;

int tbb_start(unsigned workers)
{
    try {
        control.reset(new tbb::global_control(tbb::global_control::max_allowed_parallelism,
                                              workers));
        arena.reset(new tbb::task_arena(static_cast<int>(workers)));
        arena->initialize();
    } catch (const std::bad_alloc &) {
        return ENOMEM;
    } catch (...) {
        return EAGAIN;
    }
    return 0;
}

void tbb_stop()
{
    arena.reset();
    control.reset();
}

/* Run f inside the arena; a TBB exception becomes an error code. */
template <typename F> int in_arena(F &&f)
{
    try {
        arena->execute(f);
    } catch (const std::bad_alloc &) {
        return ENOMEM;
    } catch (...) {
        return EIO;
    }
    return 0;
}

/* ---------------------------------------------------------------- fib */

uint64_t fib(unsigned n)
{
    if (n < 2)
        return n;
    uint64_t a, b;
    tbb::task_group tg;
    tg.run([&a, n] { a = fib(n - 1); });
    b = fib(n - 2);
    tg.wait();
    return a + b;
}

int tbb_fib(unsigned n, uint64_t *result)
{
    return in_arena([=] { *result = fib(n); });
}

/* ---------------------------------------------------------------- nqueens */

uint64_t nqueens(uint32_t all, uint32_t cols, uint32_t ld, uint32_t rd)
{
    if (cols == all)
        return 1;
    uint64_t count[KERNEL_NQUEENS_MAX];
    unsigned k = 0;
    uint32_t avail = kernel_nqueens_free(all, cols, ld, rd);
    tbb::task_group tg;
    while (avail) {
        uint32_t bit = avail & (0u - avail);
        avail ^= bit;
        uint64_t *slot = &count[k++];
        tg.run([=] {
            *slot = nqueens(all, cols | bit, kernel_nqueens_ld(all, ld, bit),
                            kernel_nqueens_rd(rd, bit));
        });
    }
    tg.wait();
    uint64_t sum = 0;
    for (unsigned i = 0; i < k; i++)
        sum += count[i];
    return sum;
}

int tbb_nqueens(unsigned n, uint64_t *solutions)
{
    return in_arena([=] { *solutions = nqueens(kernel_nqueens_all(n), 0, 0, 0); });
}

/* ---------------------------------------------------------------- uts */

uint64_t uts_node(uint64_t s)
{
    unsigned k = kernel_uts_fanout(s);
    if (k == 0)
        return 1;
    uint64_t count[KERNEL_UTS_M];
    tbb::task_group tg;
    for (unsigned i = 0; i < k; i++) {
        uint64_t *slot = &count[i];
        tg.run([=] { *slot = uts_node(kernel_uts_child(s, i)); });
    }
    tg.wait();
    uint64_t sum = 1;
    for (unsigned i = 0; i < k; i++)
        sum += count[i];
    return sum;
}

int tbb_uts(unsigned root_children, uint64_t *nodes)
{
    uint64_t *count = static_cast<uint64_t *>(std::malloc(root_children * sizeof *count));
    if (count == nullptr)
        return ENOMEM;
    int err = in_arena([=] {
        uint64_t root = kernel_uts_root();
        tbb::task_group tg;
        for (unsigned i = 0; i < root_children; i++) {
            uint64_t *slot = &count[i];
            tg.run([=] { *slot = uts_node(kernel_uts_child(root, i)); });
        }
        tg.wait();
        uint64_t sum = 1;
        for (unsigned i = 0; i < root_children; i++)
            sum += count[i];
        *nodes = sum;
    });
    std::free(count);
    return err;
}

/* ---------------------------------------------------------------- sort */

uint64_t sort(uint64_t *a, size_t n)
{
    if (n <= KERNEL_SORT_CUTOFF) {
        kernel_sort_small(a, n);
        return 0;
    }
    size_t p = kernel_sort_partition(a, n);
    uint64_t left, right;
    tbb::task_group tg;
    tg.run([&left, a, p] { left = sort(a, p); });
    tg.run([&right, a, p, n] { right = sort(a + p, n - p); });
    tg.wait();
    return left + right + 2;
}

int tbb_sort(uint64_t *keys, size_t n, uint64_t *spawns)
{
    return in_arena([=] { *spawns = sort(keys, n); });
}

/* ---------------------------------------------------------------- spawn */

int tbb_spawn(uint64_t n)
{
    return in_arena([=] {
        tbb::task_group tg;
        for (uint64_t i = 0; i < n; i++)
            tg.run([] { kernel_empty(nullptr); });
        tg.wait();
    });
}

} // namespace

int main(int argc, char **argv)
{
    bench_impl impl = {};
    impl.name = "tbb";
    impl.parallel = true;
    impl.start = tbb_start;
    impl.stop = tbb_stop;
    impl.fib = tbb_fib;
    impl.nqueens = tbb_nqueens;
    impl.uts = tbb_uts;
    impl.sort = tbb_sort;
    impl.spawn = tbb_spawn;
    return bench_main(argc, argv, &impl);
}
