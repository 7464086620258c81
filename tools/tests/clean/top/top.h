#ifndef TOP_H
#define TOP_H
#include "left/left.h"
#include "right/right.h"
int top_run(void);
int top_sum(void);
#endif
