#ifndef LOOP_H
#define LOOP_H
#include "top/top.h"
#endif
