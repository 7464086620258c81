/* The split deque under stress (the template is deque_stress.h): thieves
 * mostly find the public part empty and ask, so shares answering requests,
 * the owner taking the public part back, and growth all race. */
#include "config.h"

#include "deque/split.h"

#define DQ_T weft__deque_split
#define DQ(op) weft__deque_split_##op
#define DQ_STRESS_SUITE split_deque_stress_suite
#define DQ_STRESS_NAME "split_deque_stress"
#include "tests/deque/deque_stress.h"
