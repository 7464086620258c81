/*
 * WEFT_TRACE (internal; trace.c): a Chrome trace event file of the
 * schedule, written at weft_runtime_destroy from the events of its log
 * (trace_log.h), which every layer records into.
 */
#ifndef WEFT_RUNTIME_TRACE_H
#define WEFT_RUNTIME_TRACE_H

#include <weft/weft.h>

struct weft__trace;

/* Create: open `path` (NULL: no tracing). An unopenable file costs one line
 * on stderr and the runtime runs untraced: observing must not break it. */
void weft__trace_open(weft_runtime *rt, const char *path);
/* Destroy, after the workers joined: write the file and close it. Events of
 * threads that outlive destroy (abandoned jobs) are written up to now, and
 * dropped from then on. */
void weft__trace_write(weft_runtime *rt);
/* The runtime's memory goes (weft__runtime_free): nobody emits any more. */
void weft__trace_free(weft_runtime *rt);

#endif
