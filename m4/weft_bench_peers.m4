# weft_bench_peers.m4 - find the peer runtimes of `make bench` (bench/bench.am).
#
# WEFT_BENCH_PEERS
# ----------------
# Every peer is optional: a missing one is reported and skipped, never an error.
#
#   omp-gcc    $CC is GCC and -fopenmp links a task program (libgomp).
#              AM_CONDITIONAL WEFT_HAVE_OMP_GCC; AC_SUBST BENCH_OMP_GCC_CFLAGS.
#   omp-clang  $CLANG (default: first of clang, clang-14 .. clang-19) links a task
#              program with -fopenmp (LLVM libomp; Debian: libomp-dev).
#              AM_CONDITIONAL WEFT_HAVE_OMP_CLANG; AC_SUBST CLANG, CLANG_CFLAGS
#              (default -g -O2; $CFLAGS is for $CC and is not used), BENCH_OMP_CLANG_CFLAGS,
#              BENCH_CLANG_WARN.
#   tbb        pkg-config finds `tbb` (oneTBB) and $CXX links a task_group program.
#              AM_CONDITIONAL WEFT_HAVE_TBB; AC_SUBST TBB_CFLAGS, TBB_LIBS, BENCH_CXXFLAGS.
#
# --disable-bench-peers skips the search (all three conditionals false).  Needs
# AC_PROG_CC, AC_PROG_CXX and PKG_PROG_PKG_CONFIG; honours --enable-werror
# (adds -Werror to the clang and C++ warning flags, as configure.ac does for C).
AC_DEFUN([WEFT_BENCH_PEERS], [
AC_REQUIRE([AC_PROG_CC])
AC_REQUIRE([AC_PROG_CXX])
AC_REQUIRE([PKG_PROG_PKG_CONFIG])
AC_ARG_ENABLE([bench-peers],
  [AS_HELP_STRING([--disable-bench-peers],
                  [do not look for OpenMP and oneTBB to compare against in make bench])],
  [], [enable_bench_peers=yes])
AC_ARG_VAR([CLANG], [clang used to build the libomp peer benchmark])
AC_ARG_VAR([CLANG_CFLAGS], [flags for $CLANG (default: -g -O2)])

weft_bench_omp_gcc=no
weft_bench_omp_clang=no
weft_bench_tbb=no
BENCH_OMP_GCC_CFLAGS=
BENCH_OMP_CLANG_CFLAGS=
BENCH_CLANG_WARN=
BENCH_CXXFLAGS=
AS_IF([test "x${CLANG_CFLAGS+set}" != xset], [CLANG_CFLAGS="-g -O2"])

m4_define([_WEFT_BENCH_OMP_PROGRAM], [AC_LANG_SOURCE([[
#include <omp.h>
static int child(int n)
{
    int a = 0;
#pragma omp task shared(a) firstprivate(n)
    a = n;
#pragma omp taskwait
    return a;
}
int main(void)
{
    int r = 0;
#pragma omp parallel shared(r)
    {
#pragma omp single
        r = child(omp_get_num_threads());
    }
    return r > 0 ? 0 : 1;
}
]])])

AS_IF([test "x$enable_bench_peers" != xno], [
  AC_LANG_PUSH([C])

  dnl ---- omp-gcc: OpenMP with the configured C compiler, if it is GCC.
  AC_MSG_CHECKING([whether $CC is GCC with OpenMP tasks (libgomp)])
  AC_COMPILE_IFELSE([AC_LANG_SOURCE([[
#if !defined(__GNUC__) || defined(__clang__) || defined(__INTEL_COMPILER)
#error not GCC
#endif
int weft_bench_is_gcc;
]])], [weft_bench_cc_gcc=yes], [weft_bench_cc_gcc=no])
  AS_IF([test "x$weft_bench_cc_gcc" = xyes], [
    weft_save_CFLAGS=$CFLAGS
    CFLAGS="$CFLAGS -fopenmp"
    AC_LINK_IFELSE([_WEFT_BENCH_OMP_PROGRAM],
                   [weft_bench_omp_gcc=yes; BENCH_OMP_GCC_CFLAGS=-fopenmp])
    CFLAGS=$weft_save_CFLAGS
  ])
  AC_MSG_RESULT([$weft_bench_omp_gcc])

  dnl ---- omp-clang: clang -fopenmp must compile *and* link (libomp present).
  AC_CHECK_PROGS([CLANG],
                 [clang clang-14 clang-15 clang-16 clang-17 clang-18 clang-19])
  AS_IF([test -n "$CLANG"], [
    AC_MSG_CHECKING([whether $CLANG -fopenmp links (LLVM libomp)])
    weft_save_CC=$CC
    weft_save_CFLAGS=$CFLAGS
    CC=$CLANG
    CFLAGS="$CLANG_CFLAGS -fopenmp"
    AC_LINK_IFELSE([_WEFT_BENCH_OMP_PROGRAM], [weft_bench_omp_clang=yes])
    CC=$weft_save_CC
    CFLAGS=$weft_save_CFLAGS
    AC_MSG_RESULT([$weft_bench_omp_clang])
  ])
  AS_IF([test "x$weft_bench_omp_clang" = xyes], [
    BENCH_OMP_CLANG_CFLAGS=-fopenmp
    BENCH_CLANG_WARN="-Wall -Wextra"
    AS_IF([test "x$enable_werror" = xyes], [BENCH_CLANG_WARN="$BENCH_CLANG_WARN -Werror"])
  ])
  AC_LANG_POP([C])

  dnl ---- tbb: oneTBB from pkg-config, then a real C++ link.
  PKG_CHECK_MODULES([TBB], [tbb], [weft_bench_tbb_pc=yes], [weft_bench_tbb_pc=no])
  AS_IF([test "x$weft_bench_tbb_pc" = xyes], [
    AC_LANG_PUSH([C++])
    AC_MSG_CHECKING([whether $CXX links a oneTBB task_group program])
    weft_save_CXXFLAGS=$CXXFLAGS
    weft_save_LIBS=$LIBS
    CXXFLAGS="$CXXFLAGS $TBB_CFLAGS"
    LIBS="$TBB_LIBS $LIBS"
    AC_LINK_IFELSE([AC_LANG_PROGRAM([[
#include <tbb/global_control.h>
#include <tbb/task_arena.h>
#include <tbb/task_group.h>
]], [[
    tbb::global_control gc(tbb::global_control::max_allowed_parallelism, 1);
    tbb::task_arena arena(1);
    int x = 0;
    arena.execute([&] {
        tbb::task_group g;
        g.run([&] { x = 1; });
        g.wait();
    });
    return x == 1 ? 0 : 1;
]])], [weft_bench_tbb=yes])
    CXXFLAGS=$weft_save_CXXFLAGS
    LIBS=$weft_save_LIBS
    AC_MSG_RESULT([$weft_bench_tbb])
    AC_LANG_POP([C++])
  ])
  AS_IF([test "x$weft_bench_tbb" = xyes && test "x$GXX" = xyes], [
    BENCH_CXXFLAGS="-Wall -Wextra"
    AS_IF([test "x$enable_werror" = xyes], [BENCH_CXXFLAGS="$BENCH_CXXFLAGS -Werror"])
  ])
])

AC_SUBST([BENCH_OMP_GCC_CFLAGS])
AC_SUBST([BENCH_OMP_CLANG_CFLAGS])
AC_SUBST([BENCH_CLANG_WARN])
AC_SUBST([BENCH_CXXFLAGS])
AC_SUBST([CLANG_CFLAGS])
AC_SUBST([TBB_CFLAGS])
AC_SUBST([TBB_LIBS])
AM_CONDITIONAL([WEFT_HAVE_OMP_GCC], [test "x$weft_bench_omp_gcc" = xyes])
AM_CONDITIONAL([WEFT_HAVE_OMP_CLANG], [test "x$weft_bench_omp_clang" = xyes])
AM_CONDITIONAL([WEFT_HAVE_TBB], [test "x$weft_bench_tbb" = xyes])
AC_MSG_NOTICE([make bench peers: omp-gcc=$weft_bench_omp_gcc omp-clang=$weft_bench_omp_clang tbb=$weft_bench_tbb])
])
