/*
 * store.c - the bottom of the simulator: the host's state as every layer
 * above reads and writes it.  The undo journal (each store inside an op
 * saves the old bytes first, so a dead process's op can be rolled back),
 * the journaled stores built on it, the domain lookup, and the Xen-style
 * log ring.  It calls nothing above it; host.c, the rules (mm.c, maps.c)
 * and everything else call down into it.
 */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hv/sim/sim.h"
#include "internal.h"

/* ------------------------------------------------------------ journal */

struct jrec {
    uint64_t off;
    uint64_t len;
};

/*
 * Bytes already saved in the current op need no second record: rollback
 * restores the first one.  Without this, counters stored once per frame
 * (nr_free, tot_pages) cost a record per frame, and destroying a guest
 * that fills its host overflowed the journal ("undo journal full"), so
 * that op could not have been rolled back.  A small process-local cache
 * of recent addresses, valid for one op (base and op_seq).
 */
#define JCACHE 32U
static struct {
    const uint8_t *base;
    uint64_t seq;
    unsigned next;
    const void *p[JCACHE];
    size_t len[JCACHE];
} jcache;

static bool journaled_already(struct sim_host *h, const void *p, size_t len)
{
    if (jcache.base != h->base || jcache.seq != h->hdr->op_seq) {
        memset(&jcache, 0, sizeof(jcache));
        jcache.base = h->base;
        jcache.seq = h->hdr->op_seq;
    }
    for (unsigned i = 0; i < JCACHE; i++)
        if (jcache.p[i] == p && jcache.len[i] >= len)
            return true;
    jcache.p[jcache.next] = p;
    jcache.len[jcache.next] = len;
    jcache.next = (jcache.next + 1) % JCACHE;
    return false;
}

void sim_journal(struct sim_host *h, const void *p, size_t len)
{
    struct sim_hdr *hdr = h->hdr;
    if (journaled_already(h, p, len))
        return;
    uint64_t need = sizeof(struct jrec) + XG_ROUNDUP(len, 8);
    if (hdr->journal_used + need > hdr->journal_size) {
        /*
         * Cannot happen with the sizing in compute_layout; if it does, the
         * op goes on unprotected: said once per op in the host's log, and
         * as a warning by the backend op that ran it (h->journal_full).
         */
        if (!h->journal_full)
            sim_log(h, "(XEN) xg-sim: undo journal full; this operation cannot be rolled back "
                       "if interrupted");
        h->journal_full = true;
        return;
    }
    struct jrec r = { .off = (uint64_t)((const uint8_t *)p - h->base), .len = len };
    uint8_t *at = h->journal + hdr->journal_used;
    memcpy(at, &r, sizeof(r));
    memcpy(at + sizeof(r), p, len);
    /* Publish the record before the caller's store can reach memory. */
    __atomic_store_n(&hdr->journal_used, hdr->journal_used + need, __ATOMIC_RELEASE);
}

/* Bytes the record at `at` takes, or 0 if it does not lie inside the journal and the file. */
static uint64_t jrec_size(const struct sim_host *h, uint64_t at, uint64_t used)
{
    if (used - at < sizeof(struct jrec))
        return 0;
    const struct jrec *r = (const struct jrec *)(h->journal + at);
    if (r->len > used - at - sizeof(*r) || r->off > h->size || r->len > h->size - r->off)
        return 0;
    return sizeof(*r) + XG_ROUNDUP(r->len, 8);
}

static void jrec_restore(struct sim_host *h, uint64_t at)
{
    const struct jrec *r = (const struct jrec *)(h->journal + at);
    memcpy(h->base + r->off, (const uint8_t *)r + sizeof(*r), r->len);
}

int sim_journal_rollback(struct sim_host *h)
{
    struct sim_hdr *hdr = h->hdr;
    uint64_t used = hdr->journal_used, n = 0;
    if (used > hdr->journal_size)
        return -1;
    for (uint64_t at = 0; at < used; n++) {
        uint64_t size = jrec_size(h, at, used);
        if (!size)
            return -1;
        at += size;
    }
    /* Newest first, so that the oldest bytes saved for a range are the ones left. */
    uint64_t *pos = malloc((n ? n : 1) * sizeof(*pos));
    if (pos) {
        uint64_t i = 0;
        for (uint64_t at = 0; at < used; i++) {
            pos[i] = at;
            at += jrec_size(h, at, used);
        }
        while (i-- > 0)
            jrec_restore(h, pos[i]);
        free(pos);
    } else {
        /* No memory for the index: find each record from the start (slow, needs nothing). */
        for (uint64_t k = n; k-- > 0;) {
            uint64_t at = 0;
            for (uint64_t i = 0; i < k; i++)
                at += jrec_size(h, at, used);
            jrec_restore(h, at);
        }
    }
    hdr->journal_used = 0;
    return 0;
}

/* ------------------------------------------------------------ stores and lookups */

struct sim_frame *sim_frame_w(struct sim_host *h, uint64_t mfn)
{
    struct sim_frame *f = &h->frames[mfn];
    if (f->reserved != h->hdr->op_seq) {
        sim_journal(h, f, sizeof(*f));
        f->reserved = h->hdr->op_seq;
    }
    return f;
}

void sim_m2p_set(struct sim_host *h, uint64_t mfn, uint64_t pfn)
{
    SIM_SET(h, h->m2p[mfn], pfn);
}

void sim_write_u64(struct sim_host *h, uint64_t mfn, unsigned slot, uint64_t val)
{
    uint64_t *p = (uint64_t *)sim_frame_data(h, mfn) + slot;
    SIM_SET(h, *p, val);
}

struct sim_domain *sim_domain(struct sim_host *h, uint32_t domid)
{
    for (uint32_t i = 0; i < SIM_MAX_DOMAINS; i++)
        if (h->doms[i].in_use && h->doms[i].domid == domid)
            return &h->doms[i];
    return NULL;
}

/* ------------------------------------------------------------ log */

static void log_append(struct sim_host *h, const char *prefix, const char *fmt, va_list ap)
{
    char line[512];
    int n = snprintf(line, sizeof(line), "%s", prefix);
    if (n < 0)
        return;
    int m = vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
    if (m < 0)
        return;
    size_t len = strlen(line);
    line[len++] = '\n';
    /* The log is not journaled: what Xen printed stays printed. */
    for (size_t i = 0; i < len; i++)
        h->log[(h->hdr->log_head + i) % SIM_LOG_SIZE] = line[i];
    h->hdr->log_head += len;
}

void sim_log(struct sim_host *h, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    log_append(h, "", fmt, ap);
    va_end(ap);
}

void sim_trace(struct sim_host *h, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    log_append(h, "(TRACE) ", fmt, ap);
    va_end(ap);
}

char *sim_log_read(struct sim_host *h, bool with_trace)
{
    uint64_t head = h->hdr->log_head;
    uint64_t start = head > SIM_LOG_SIZE ? head - SIM_LOG_SIZE : 0;
    size_t n = (size_t)(head - start);
    char *raw = malloc(n + 1), *out = malloc(n + 1);
    if (!raw || !out) {
        free(raw);
        free(out);
        return NULL;
    }
    for (size_t i = 0; i < n; i++)
        raw[i] = h->log[(start + i) % SIM_LOG_SIZE];
    raw[n] = '\0';
    /* When the ring has wrapped, drop the partial first line. */
    char *p = raw;
    if (start > 0) {
        char *nl = strchr(p, '\n');
        p = nl ? nl + 1 : p + n;
    }
    size_t o = 0;
    while (*p) {
        char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p + 1) : strlen(p);
        if (with_trace || strncmp(p, "(TRACE) ", 8) != 0) {
            memcpy(out + o, p, len);
            o += len;
        }
        p += len;
    }
    out[o] = '\0';
    free(raw);
    return out;
}
