/* The Chase-Lev deque of frames under stress (the template is
 * deque_stress.h): every frame taken exactly once and whole, while thieves
 * copy slots the owner keeps overwriting and growing. */
#include "config.h"

#include "deque/frame.h"

#define DQ_T weft__deque_frames_cl
#define DQ(op) weft__deque_frames_cl_##op
#define DQ_FRAMES
/* seconds in `make check`; `make check-stress` runs 10^8 */
#define DQ_STRESS_ITEMS 10000000
#define DQ_STRESS_SUITE frame_deque_stress_suite
#define DQ_STRESS_NAME "frame_deque_stress"
#include "tests/deque/deque_stress.h"
