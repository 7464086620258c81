#ifndef BASE_H
#define BASE_H
int base_add(int a, int b);
int helper_half(int x);
/* inlined where it is used: no reference in any object */
static inline int base_twice(int x) { return 2 * x; }
#endif
