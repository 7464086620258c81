/* The Chase-Lev deque under stress (the template is deque_stress.h). */
#include "config.h"

#include "deque/chase_lev.h"

#define DQ_T weft__deque_cl
#define DQ(op) weft__deque_cl_##op
#define DQ_STRESS_SUITE deque_stress_suite
#define DQ_STRESS_NAME "deque_stress"
#include "tests/deque/deque_stress.h"
