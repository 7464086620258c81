#ifndef LEFT_H
#define LEFT_H
#include "base/base.h"
int left_value(void);
#endif
