#ifndef RIGHT_H
#define RIGHT_H
int right_value(void);
#endif
