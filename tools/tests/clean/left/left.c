#include "left/left.h"

int left_value(void) { return base_add(1, 2); }
