#include "top/top.h"

int top_sum(void) { return left_value() + right_value(); }
