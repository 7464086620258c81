#include "base/base.h"

int helper_half(int x) { return x / 2; }
