/*
 * Bounded copies of names (task names in trace events and detached tasks'
 * records) that never cut a UTF-8 character in two.
 */
#ifndef WEFT_RUNTIME_UTF8_H
#define WEFT_RUNTIME_UTF8_H

#include <stddef.h>
#include <string.h>

/* Copy at most size - 1 bytes of src (NULL: "") into dst, which gets a
 * terminating NUL, cut on a UTF-8 character boundary. */
static inline void weft__utf8_copy(char *dst, size_t size, const char *src)
{
    size_t n = src != NULL ? strnlen(src, size) : 0;
    if (n == size) {
        n = size - 1;
        while (n > 0 && ((unsigned char)src[n] & 0xc0) == 0x80)
            n--; /* src[n] continues a character that would be cut */
    }
    if (n != 0)
        memcpy(dst, src, n);
    dst[n] = '\0';
}

#endif
