#include "config.h"

#include <stdio.h>

#include "base/base.h"
#include "left/left.h"

int base_add(int a, int b) { return a + helper_half(2 * b); }
