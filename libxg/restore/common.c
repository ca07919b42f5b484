/*
 * common.c - the restore engine's shared helpers, at the bottom of the engine:
 * its log and progress lines.  They call nothing of the engine.
 */
#include "config.h"

#include "restore_private.h"

void xg__restore_log(struct restore_ctx *c, const char *fmt, ...)
{
    if (!c->cb)
        return;
    va_list ap;
    va_start(ap, fmt);
    xg__log_linev(c->cb->log, c->cb->arg, fmt, ap);
    va_end(ap);
}

void xg__restore_progress(struct restore_ctx *c, const char *phase, uint64_t done,
                          uint64_t total)
{
    if (!c->cb || !c->cb->progress)
        return;
    struct xg_progress p = {
        .phase = phase,
        .iteration = 1,
        .done = done,
        .total = total,
        .bytes = c->r ? xg_stream_reader_offset(c->r) : 0,
        .seconds = xg__now() - c->t0,
    };
    c->cb->progress(c->cb->arg, &p);
}
