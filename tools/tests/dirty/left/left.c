#include "left/left.h"

int top_run(void);
int right_value(void);

int left_value(void) { return base_add(1, 2) + right_value(); }
int left_bounce(void) { return top_run(); }
int right_extra(void) { return 1; } /* a name of right, defined in left */
