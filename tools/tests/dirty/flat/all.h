/* a header everyone used to include; the layers remove it */
int right_value(void);
