# WEFT_BENCH_PEERS: placeholder until the peer benchmarks land; defines no peers.
AC_DEFUN([WEFT_BENCH_PEERS], [
  AM_CONDITIONAL([WEFT_HAVE_OMP_GCC], [false])
  AM_CONDITIONAL([WEFT_HAVE_OMP_CLANG], [false])
  AM_CONDITIONAL([WEFT_HAVE_TBB], [false])
])
