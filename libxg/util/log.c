/*
 * log.c - one formatted line to an engine's log callback, shared by the save
 * and restore engines (their callbacks take the same (arg, line)).
 */
#include "config.h"

#include <stdio.h>

#include "internal.h"

void xg__log_line(void (*log)(void *arg, const char *line), void *arg, const char *fmt, ...)
{
    if (!log)
        return;
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    log(arg, line);
}
