/*
 * log.c - one formatted line to an engine's log callback, shared by the save
 * and restore engines (their callbacks take the same (arg, line)).
 */
#include "config.h"

#include <stdio.h>

#include "internal.h"

void xg__log_linev(void (*log)(void *arg, const char *line), void *arg, const char *fmt,
                   va_list ap)
{
    if (!log)
        return;
    char line[512];
    vsnprintf(line, sizeof(line), fmt, ap);
    log(arg, line);
}
