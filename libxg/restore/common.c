/*
 * common.c - the restore engine's shared helpers, at the bottom of the engine:
 * its progress line (its log line is util/log.c's, through restore_private.h)
 * and the frames it allocates.
 * They call nothing of the engine.
 */
#include "config.h"

#include "restore_private.h"

void xg__restore_progress(struct restore_ctx *c, const char *phase, uint64_t done, uint64_t total)
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

int xg__restore_populate(struct restore_ctx *c, const uint64_t *pfns, unsigned n)
{
    for (unsigned i = 0; i < n; i++)
        c->b_mfns[i] = XG_INVALID_MFN;
    int rc = xg_hv_populate(c->hv, c->domid, n, pfns, c->b_mfns, c->d);
    /* Even when it stopped part-way: the frames it gave are the domain's, and counted. */
    for (unsigned i = 0; i < n; i++) {
        bool got = c->b_mfns[i] != XG_INVALID_MFN;
        c->mfn1[pfns[i]] = got ? c->b_mfns[i] + 1 : 0;
        c->res->pages += got;
    }
    return rc < 0 ? rc : 0;
}
