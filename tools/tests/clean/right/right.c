#include "base/base.h"
#include "right/right.h"

int right_value(void) { return base_twice(base_add(3, 4)); }
