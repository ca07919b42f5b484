/*
 * save_memory.c - the passes over guest memory.
 *
 * Each batch of up to 1024 pfns: their mfns from the guest's p2m, their
 * types from Xen, the data-bearing frames mapped read-only, page tables
 * normalised into scratch pages, one PAGE_DATA record written with
 * writev() straight from the mappings.
 *
 * A live save makes passes while the guest runs and must expect races: a
 * page changing type, a table holding an entry being rewritten, a frame
 * ballooned out.  Such pages are deferred and sent again after the guest
 * is suspended; only the final pass is held to the strict rules, and a
 * violation there fails the save with the page, slot and entry.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "save_private.h"

/* Wait until the previous batch's record is written, then let go of its frames. */
static int release_held(struct save_ctx *c)
{
    int rc = xg_stream_writer_wait(c->w, c->held_mark);
    xg_hv_unmap(c->hv, c->held_map);
    c->held_map = NULL;
    return rc;
}

static void progress_batch(struct save_ctx *c, unsigned n, const char *phase)
{
    c->pass_done += n;
    xg__save_progress(c, phase);
}

/* The batch's frames from the guest's p2m, and their types from Xen (XTAB: no frame). */
static int batch_types(struct save_ctx *c, unsigned n)
{
    unsigned nvalid = 0;
    for (unsigned i = 0; i < n; i++) {
        uint64_t mfn = xg_pv_p2m_get(&c->pm, c->b_pfns[i]);
        c->b_mfns[i] = mfn;
        if (mfn != ~0ULL && mfn < c->nr_mfns)
            c->b_map_mfns[nvalid++] = mfn;
    }
    int rc = nvalid ? xg_hv_page_types(c->hv, c->domid, nvalid, c->b_map_mfns, c->b_types, c->d)
                    : 0;
    if (rc < 0)
        return rc;
    /* Spread the types back over the batch, XTAB for pfns without a frame. */
    for (unsigned i = n, k = nvalid; i-- > 0;) {
        uint64_t mfn = c->b_mfns[i];
        c->b_types[i] = (mfn != ~0ULL && mfn < c->nr_mfns) ? c->b_types[--k] : XG_PFINFO_XTAB;
    }
    return 0;
}

/* The final pass's finding on pfn i, whose frame is not the guest's (or Xen calls it invalid). */
static int not_the_guests(struct save_ctx *c, unsigned i)
{
    uint64_t pfn = c->b_pfns[i], mfn = c->b_mfns[i];
    struct xg_loc l = { XGF_DOMID(c->domid), XGF_PFN(pfn), XGF_MFN(mfn) };
    uint32_t owner;
    if (mfn < c->nr_mfns && xg_hv_frame_owner(c->hv, mfn, &owner) == 0) {
        l.has_owner = 1;
        l.owner = owner;
    }
    if (c->b_types[i] == XG_PFINFO_XTAB && mfn < c->nr_mfns && c->m2p[mfn] == pfn)
        return xg_diag_err(c->d, XG_E_GUEST, &l,
                           "Xen reports pfn %#llx (mfn %#llx) as invalid "
                           "(XTAB): the frame is not the guest's to save",
                           (unsigned long long)pfn, (unsigned long long)mfn);
    return xg_diag_err(
        c->d, XG_E_GUEST, &l,
        "the guest's p2m maps pfn %#llx to mfn %#llx, which the M2P does not map back to it",
        (unsigned long long)pfn, (unsigned long long)mfn);
}

/*
 * The frames to map (into c->b_map_mfns, *nmap of them): the data-bearing ones.  A pfn
 * whose frame is not the guest's is deferred in a live pass (its type marked "skip":
 * XTAB | 1) and fails the final one.
 */
static int batch_frames(struct save_ctx *c, unsigned n, bool final, unsigned *nmap)
{
    for (unsigned i = 0; i < n; i++) {
        uint64_t pfn = c->b_pfns[i], mfn = c->b_mfns[i];
        uint32_t t = c->b_types[i];
        if (mfn == ~0ULL)
            continue; /* ballooned out: XTAB, no data */
        if (mfn >= c->nr_mfns || c->m2p[mfn] != pfn || t == XG_PFINFO_XTAB) {
            if (final)
                return not_the_guests(c, i);
            xg__set_bit(c->deferred, pfn);
            c->b_types[i] = XG_PFINFO_XTAB | 1; /* marker: skip, not sent now */
            continue;
        }
        if (xg_pfinfo_has_data(t))
            c->b_map_mfns[(*nmap)++] = mfn;
    }
    return 0;
}

/* A pfn that cannot be sent in this live pass: the final one sends it. */
static int defer(struct save_ctx *c, uint64_t pfn)
{
    xg__set_bit(c->deferred, pfn);
    return 1;
}

/*
 * What to send for data-bearing pfn i, mapped at `page` (NULL: not mapped, errno err): a
 * page table is normalised into the batch's next scratch page (*nscratch).  Returns 0 with
 * *out set, 1 when the pfn is deferred to a later pass, or XG_E_GUEST in the final pass,
 * with a finding.
 */
static int data_page(struct save_ctx *c, unsigned i, const void *page, int err, bool final,
                     unsigned *nscratch, const void **out)
{
    uint64_t pfn = c->b_pfns[i];
    uint32_t t = c->b_types[i];
    unsigned level = xg_pfinfo_level(t);
    if (!page) {
        if (!final)
            return defer(c, pfn);
        xg__save_explain_map_error(c, pfn, c->b_mfns[i], t, err, NULL, XG_SEV_ERROR);
        return XG_E_GUEST;
    }
    if (level) {
        uint64_t *dst = (uint64_t *)(c->scratch + (size_t)*nscratch * XG_PAGE_SIZE);
        struct xg_pv_bad bad;
        if (xg_pv_normalise_table(&c->pm, level, page, dst, &bad) < 0) {
            if (!final)
                return defer(c, pfn);
            xg__save_explain_bad_entry(c, pfn, level, &bad, XG_SEV_ERROR);
            return XG_E_GUEST;
        }
        (*nscratch)++;
        page = dst;
    }
    *out = page;
    return 0;
}

/* What pfn was last sent as: its type, and the frame it was sent from. */
static void mark_sent(struct save_ctx *c, uint64_t pfn, uint64_t mfn, uint32_t type)
{
    c->last_type[pfn] = (uint8_t)(type >> XG_PFINFO_SHIFT);
    c->sent_mfn[pfn] = mfn;
}

static void count_sent(struct save_ctx *c, unsigned npages, bool final)
{
    c->st->pages_sent += npages;
    if (final)
        c->st->pages_final += npages;
    c->st->iter[c->iteration < XG_SAVE_MAX_ITERS ? c->iteration : XG_SAVE_MAX_ITERS - 1].sent +=
        npages;
}

/*
 * Send pfns [0..n) of c->b_pfns.  In a live pass a page that cannot be
 * sent now is deferred; in the final pass it fails the save.
 */
static int send_batch(struct save_ctx *c, unsigned n, bool final)
{
    unsigned nmap = 0, nout = 0, npages = 0, nscratch = 0, k = 0;
    xg_hv_mapping *map = NULL;
    int rc = batch_types(c, n);
    if (rc == 0)
        rc = batch_frames(c, n, final, &nmap);
    if (rc == 0 && nmap)
        rc = xg_hv_map(c->hv, c->domid, PROT_READ, nmap, c->b_map_mfns, c->b_maps, c->b_errs, &map,
                       c->d);
    if (rc < 0)
        return rc;
    for (unsigned i = 0; i < n; i++) {
        uint64_t pfn = c->b_pfns[i], mfn = c->b_mfns[i];
        uint32_t t = c->b_types[i];
        if (t == (XG_PFINFO_XTAB | 1))
            continue; /* deferred by batch_frames */
        if (!xg_pfinfo_has_data(t)) {
            /* No data: a pfn without a frame (XTAB), or a type that carries none. */
            c->b_entries[nout++] = xg_pd_entry(pfn, t);
            mark_sent(c, pfn, mfn, t);
            continue;
        }
        const void *page = NULL;
        rc = data_page(c, i, c->b_maps[k], c->b_errs[k], final, &nscratch, &page);
        k++;
        if (rc < 0)
            goto out;
        if (rc > 0) {
            rc = 0;
            continue;
        }
        c->b_entries[nout++] = xg_pd_entry(pfn, t);
        c->b_pages[npages++] = page;
        mark_sent(c, pfn, mfn, t);
        xg__clear_bit(c->deferred, pfn);
    }
    if (nout && (rc = xg_stream_write_page_data(c->w, nout, c->b_entries, c->b_pages)) < 0)
        goto out;
    count_sent(c, npages, final);
    if (nout) {
        /* The record may still be going out from this batch's frames and tables: hold them. */
        rc = release_held(c);
        c->held_map = map;
        c->held_mark = xg_stream_writer_mark(c->w);
        uint8_t *s = c->scratch;
        c->scratch = c->scratch_spare;
        c->scratch_spare = s;
        return rc;
    }
out:
    xg_hv_unmap(c->hv, map);
    return rc;
}

/* Send every pfn whose bit is set in `set` (all pfns when set is NULL). */
static int send_batches(struct save_ctx *c, const unsigned long *set, bool final, const char *phase)
{
    unsigned n = 0;
    c->pass_done = 0;
    c->pass_total = 0;
    for (uint64_t pfn = 0; pfn < c->nr_pfns; pfn++)
        if (!set || xg__test_bit(set, pfn))
            c->pass_total++;
    for (uint64_t pfn = 0; pfn < c->nr_pfns; pfn++) {
        if (set && !xg__test_bit(set, pfn))
            continue;
        c->b_pfns[n++] = pfn;
        if (n == XG_MAX_BATCH) {
            int rc = send_batch(c, n, final);
            if (rc < 0)
                return rc;
            progress_batch(c, n, phase);
            n = 0;
        }
    }
    if (n) {
        int rc = send_batch(c, n, final);
        if (rc < 0)
            return rc;
        progress_batch(c, n, phase);
    }
    return 0;
}

/* A pass ends with all of its records written and no frame of it still mapped. */
static int send_pass(struct save_ctx *c, const unsigned long *set, bool final, const char *phase)
{
    int rc = send_batches(c, set, final, phase);
    int wrc = release_held(c);
    return rc < 0 ? rc : wrc;
}

static int suspend_guest(struct save_ctx *c)
{
    int rc;
    /*
     * Already suspended by someone else?  A live save asks again, since its
     * passes took a while; a plain save has setup's answer of a moment ago
     * (only opening the stream and its first records lie between: a guest
     * suspended by another toolstack in that window is suspended again by
     * us, and resumed by us if the save then fails).
     */
    struct xg_domain_state before = { .shutdown = c->info.shutdown,
                                      .shutdown_reason = c->info.shutdown_reason };
    if (c->p->live && (rc = xg_hv_domain_state(c->hv, c->domid, &before, c->d)) < 0)
        return rc;
    if (before.shutdown && before.shutdown_reason == XG_SHUTDOWN_SUSPEND) {
        /* Suspended by someone else: save it as it is, and never resume it on our own. */
        xg__save_log(c, "domain %u is already suspended", c->domid);
        return 0;
    }
    xg__save_log(c, "suspending domain %u", c->domid);
    if (c->cb && c->cb->suspend)
        rc = c->cb->suspend(c->cb->arg, c->d);
    else
        rc = xg_hv_suspend(c->hv, c->domid,
                           c->p->suspend_timeout_ms ? c->p->suspend_timeout_ms : 60000, c->d);
    if (rc < 0)
        return rc;
    c->suspended = true; /* asked and accepted: a failure from here on resumes it */
    struct xg_domain_state after;
    if ((rc = xg_hv_domain_state(c->hv, c->domid, &after, c->d)) < 0)
        return rc;
    if (!after.shutdown || after.shutdown_reason != XG_SHUTDOWN_SUSPEND) {
        c->suspended = false;
        struct xg_loc l = { XGF_DOMID(c->domid) };
        return xg_diag_err(c->d, XG_E_GUEST, &l,
                           "domain %u has not suspended (shutdown %d, reason "
                           "%u): it did not answer the suspend request",
                           c->domid, after.shutdown, after.shutdown_reason);
    }
    c->suspended = true;
    return 0;
}

static uint64_t count_bits(const unsigned long *map, uint64_t nbits)
{
    uint64_t n = 0;
    for (size_t i = 0; i < XG_BITMAP_LONGS(nbits); i++)
        n += (uint64_t)__builtin_popcountl(map[i]);
    return n;
}

/*
 * Ballooning changes a pfn's frame without dirtying the pfn: only the
 * guest's p2m page is written (Xen's own list of open issues: "PV
 * ballooning: p2m marked dirty, target frame not").  A pfn given back after
 * it was sent would come back to life on the other side, and one given
 * back and taken again would keep its old contents there.  So the final
 * pass also sends every pfn whose p2m entry is not the frame it was last
 * sent from (a pfn now without a frame goes as XTAB).
 */
static uint64_t mark_moved_pfns(struct save_ctx *c)
{
    uint64_t n = 0;
    for (uint64_t pfn = 0; pfn < c->nr_pfns; pfn++) {
        if (c->last_type[pfn] == 0xff || xg__test_bit(c->dirty, pfn))
            continue;
        if (xg_pv_p2m_get(&c->pm, pfn) != c->sent_mfn[pfn]) {
            xg__set_bit(c->dirty, pfn);
            n++;
        }
    }
    return n;
}

static int suspend_and_send_final(struct save_ctx *c, bool last_live);

/* Pre-copy with log-dirty on while the guest runs, then the final pass. */
static int live_passes(struct save_ctx *c)
{
    unsigned max_iters = c->p->max_iters ? c->p->max_iters : 29;
    double max_factor = c->p->max_factor > 0 ? c->p->max_factor : 3.0;
    unsigned min_dirty = c->p->min_dirty ? c->p->min_dirty : 50;
    if (max_iters > XG_SAVE_MAX_ITERS - 1)
        max_iters = XG_SAVE_MAX_ITERS - 1;
    /* Xen refuses to enable log-dirty twice: clear whatever an earlier toolstack left on. */
    int stale = xg_hv_logdirty(c->hv, c->domid, XG_LOGDIRTY_DISABLE, NULL, 0, NULL, NULL);
    (void)stale; /* refused when it was off, as it should be: enabling says whether it is now on */
    int rc = xg_hv_logdirty(c->hv, c->domid, XG_LOGDIRTY_ENABLE, NULL, 0, NULL, c->d);
    if (rc < 0)
        return rc;
    c->logdirty_on = true;
    const unsigned long *set = NULL; /* first pass: everything */
    uint64_t prev_dirty = UINT64_MAX;
    bool last_live = false; /* the pass after the decision to stop */
    for (c->iteration = 0;; c->iteration++) {
        double t = xg__now();
        if ((rc = send_pass(c, set, false, "memory")) < 0)
            return rc;
        if ((rc = xg__save_check_p2m_generation(c)) < 0)
            return rc;
        struct xg_save_iteration *it = &c->st->iter[c->iteration];
        c->st->iterations = c->iteration + 1;
        if (last_live) {
            /* Its pages are sent; what the guest dirtied meanwhile goes after the suspend. */
            it->seconds = xg__now() - t;
            xg__save_log(c, "pass %u: sent %llu pages in %.3f s, the last while the guest runs",
                         c->iteration + 1, (unsigned long long)it->sent, it->seconds);
            memset(c->dirty, 0, XG_BITMAP_LONGS(c->nr_pfns) * sizeof(unsigned long));
            break;
        }
        uint64_t dirty = 0;
        if ((rc = xg_hv_logdirty(c->hv, c->domid, XG_LOGDIRTY_CLEAN, c->dirty, c->nr_pfns, &dirty,
                                 c->d)) < 0)
            return rc;
        it->dirty = dirty;
        it->seconds = xg__now() - t;
        xg__save_log(c, "pass %u: sent %llu pages in %.3f s, %llu dirtied meanwhile",
                     c->iteration + 1, (unsigned long long)it->sent, it->seconds,
                     (unsigned long long)dirty);
        set = c->dirty;
        bool enough = (double)c->st->pages_sent >= max_factor * (double)c->nr_pfns;
        /*
         * Once the guest dirties about as much during a pass as the pass
         * sent, more passes only send the same pages again: the pages
         * left for after the suspend no longer shrink.  Measured on real
         * Xen (tests/xen, a guest writing 5 MiB/s): without this rule 18
         * passes, 1.08 times what Xen's saver sent, for as many pages
         * after suspend.
         */
        bool stalled = c->iteration >= 2 && dirty * 5 > prev_dirty * 4;
        prev_dirty = dirty;
        bool at_limit = c->iteration + 1 >= max_iters, near_limit = c->iteration + 2 >= max_iters;
        if (dirty < min_dirty || near_limit || enough || stalled) {
            /*
             * Xen's saver (xg_sr_save.c, send_memory_live) decides before
             * a pass and still sends that pass's dirty pages with the
             * guest running when it decides to stop; only what is dirtied
             * during that pass waits for the suspend.  Sending the set
             * after the suspend instead, as xg did, left 1.1 to 1.3 times
             * Xen's pages for the guest's downtime (tests/xen, run 3).
             * Not when the volume cap stopped it (that pass would pass
             * the cap), nor when the pass limit has no room for it.
             */
            last_live = dirty > 0 && !enough && !at_limit;
            xg__save_log(c, "stopping pre-copy after %u passes: %s%s", c->iteration + 1,
                         dirty < min_dirty ? "few pages dirty"
                         : enough          ? "sent enough (max factor)"
                         : stalled         ? "the dirty pages no longer shrink"
                                           : "iteration limit",
                         last_live ? "; their dirty pages once more while the guest runs" : "");
            if (!last_live)
                break;
        }
    }
    return suspend_and_send_final(c, last_live);
}

/*
 * After the live passes: suspend the guest and send what is left, what
 * the last pass left dirty and what the guest dirtied since.  last_live:
 * that pass was the one after the decision to stop, whose own dirty set
 * was sent and cleared; its count of pages dirtied meanwhile is the
 * clean's after the suspend.
 */
static int suspend_and_send_final(struct save_ctx *c, bool last_live)
{
    unsigned last_live_pass = c->iteration;
    c->iteration++;
    int rc;
    if ((rc = suspend_guest(c)) < 0)
        return rc;
    /*
     * The guest may have rebuilt its p2m between the last pass's check and
     * its suspend: the frames mapped as its p2m would then be stale.  Xen's
     * saver checks after every pass, the final one included.
     */
    if ((rc = xg__save_check_p2m_generation(c)) < 0)
        return rc;
    /*
     * The final set: what the last live pass left dirty (still in c->dirty,
     * unless that pass was the one after the decision), what was dirtied
     * since that clean until the guest stopped, and what was deferred.  The
     * second clean goes to a bitmap of its own, so the first is not lost.
     */
    unsigned long *since = calloc(XG_BITMAP_LONGS(c->nr_pfns), sizeof(unsigned long));
    if (!since)
        return xg_diag_err(c->d, XG_E_NOMEM, NULL, "out of memory");
    uint64_t dirtied_since = 0;
    rc = xg_hv_logdirty(c->hv, c->domid, XG_LOGDIRTY_CLEAN, since, c->nr_pfns, &dirtied_since,
                        c->d);
    for (size_t i = 0; rc == 0 && i < XG_BITMAP_LONGS(c->nr_pfns); i++)
        c->dirty[i] |= since[i] | c->deferred[i];
    free(since);
    if (rc < 0)
        return rc;
    if (last_live)
        c->st->iter[last_live_pass].dirty = dirtied_since;
    if (xg__save_check_p2m(c, XG_SEV_ERROR))
        return XG_E_GUEST;
    uint64_t moved = mark_moved_pfns(c);
    if (moved)
        xg__save_log(
            c, "%llu pfns changed frame since they were sent (ballooned out or in); sent again",
            (unsigned long long)moved);
    uint64_t last = count_bits(c->dirty, c->nr_pfns);
    double t = xg__now();
    if ((rc = send_pass(c, c->dirty, true, "final pass")) < 0)
        return rc;
    if ((rc = xg__save_check_p2m_generation(c)) < 0)
        return rc;
    struct xg_save_iteration *it = &c->st->iter[c->iteration];
    it->seconds = xg__now() - t;
    c->st->iterations = c->iteration + 1;
    xg__save_log(
        c, "final pass with the guest suspended: %llu pages (%llu dirty or deferred) in %.3f s",
        (unsigned long long)it->sent, (unsigned long long)last, it->seconds);
    return 0;
}

int xg__save_memory(struct save_ctx *c)
{
    c->b_pfns = calloc(XG_MAX_BATCH, sizeof(uint64_t));
    c->b_mfns = calloc(XG_MAX_BATCH, sizeof(uint64_t));
    c->b_entries = calloc(XG_MAX_BATCH, sizeof(uint64_t));
    c->b_map_mfns = calloc(XG_MAX_BATCH, sizeof(uint64_t));
    c->b_types = calloc(XG_MAX_BATCH, sizeof(uint32_t));
    c->b_pages = calloc(XG_MAX_BATCH, sizeof(void *));
    c->b_maps = calloc(XG_MAX_BATCH, sizeof(void *));
    c->b_errs = calloc(XG_MAX_BATCH, sizeof(int));
    c->scratch = malloc((size_t)XG_MAX_BATCH * XG_PAGE_SIZE);
    c->scratch_spare = malloc((size_t)XG_MAX_BATCH * XG_PAGE_SIZE);
    c->dirty = calloc(XG_BITMAP_LONGS(c->nr_pfns), sizeof(unsigned long));
    c->deferred = calloc(XG_BITMAP_LONGS(c->nr_pfns), sizeof(unsigned long));
    c->last_type = malloc(c->nr_pfns);
    c->sent_mfn = malloc(c->nr_pfns * sizeof(uint64_t));
    if (!c->b_pfns || !c->b_mfns || !c->b_entries || !c->b_map_mfns || !c->b_types || !c->b_pages ||
        !c->b_maps || !c->b_errs || !c->scratch || !c->scratch_spare || !c->dirty || !c->deferred ||
        !c->last_type || !c->sent_mfn)
        return xg_diag_err(c->d, XG_E_NOMEM, NULL, "out of memory for the save buffers");
    memset(c->last_type, 0xff, c->nr_pfns);

    int rc;
    if (c->p->live) {
        rc = live_passes(c);
    } else {
        if ((rc = suspend_guest(c)) < 0)
            return rc;
        if (xg__save_check_p2m(c, XG_SEV_ERROR))
            return XG_E_GUEST;
        double t = xg__now();
        c->iteration = 0;
        rc = send_pass(c, NULL, true, "memory");
        c->st->iter[0].seconds = xg__now() - t;
        c->st->iterations = 1;
    }
    if (rc == 0 && c->p->debug) {
        /* XCFLAGS_DEBUG: the receiver compares a second copy of everything. */
        if ((rc = xg_stream_write_record(c->w, XG_REC_VERIFY, NULL, 0)) == 0)
            rc = send_pass(c, NULL, true, "verify");
    }
    if (rc < 0)
        return rc;
    for (uint64_t pfn = 0; pfn < c->nr_pfns; pfn++) {
        uint8_t t = c->last_type[pfn];
        if (t == 0xff)
            continue;
        c->st->by_type[t & 0xf]++;
        if (t >= 9 && t <= 0xc)
            c->st->pinned++;
        if (t == 0xf)
            c->st->invalid++;
    }
    if (c->st->invalid)
        xg__save_log(
            c, "%llu pfns have no memory behind them (ballooned out); they are recorded as XTAB",
            (unsigned long long)c->st->invalid);
    return 0;
}
