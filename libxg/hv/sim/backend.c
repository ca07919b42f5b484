/*
 * backend.c - the xg_hv_ops of the simulated host: each op takes the host
 * lock, runs the hypervisor's rules (mm.c, domain.c) as the toolstack in
 * dom0 would meet them, and turns a refusal into XG_E_HV with Xen's errno.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "hv/sim/guest.h"
#include "internal.h"
#include "pv/abi.h"
#include "pv/pte.h"

struct xg_hv_mapping {
    uint32_t domid;
    bool rw;                 /* references are writable ones */
    unsigned n;
    uint64_t *mfns;          /* ~0 where the frame was not mapped */
};

static struct sim_host *H(xg_hv *hv)
{
    return hv->priv;
}

struct sim_host *xg_sim_host(xg_hv *hv)
{
    return hv && hv->ops == &xg_sim_ops ? hv->priv : NULL;
}

static struct sim_domain *need_domain(struct sim_host *h, uint32_t domid, xg_diag *d)
{
    struct sim_domain *dom = sim_domain(h, domid);
    if (!dom || dom->dying) {
        struct xg_loc l = { XGF_DOMID(domid) };
        xg_diag_syserr(d, XG_E_NOTFOUND, ESRCH, &l, "no domain %u on the simulated host", domid);
        return NULL;
    }
    return dom;
}

/* Take the host lock for an op on domid; on failure (no lock, no such domain) nothing is held. */
static int lock_domain(struct sim_host *h, uint32_t domid, xg_diag *d)
{
    int rc = sim_lock(h, 0, d);
    if (rc < 0)
        return rc;
    if (!need_domain(h, domid, d)) {
        sim_unlock(h);
        return XG_E_NOTFOUND;
    }
    return 0;
}

static void sim_close(xg_hv *hv)
{
    sim_host_close(H(hv));
}

static int sim_xen_version(xg_hv *hv, uint32_t *major, uint32_t *minor, xg_diag *d)
{
    *major = 4;
    *minor = 17;
    return 0;
}

static int sim_domain_info(xg_hv *hv, uint32_t domid, struct xg_domain_info *out, xg_diag *d)
{
    struct sim_host *h = H(hv);
    int rc = sim_lock(h, 0, d);
    if (rc < 0)
        return rc;
    struct sim_domain *dom = sim_domain(h, domid);
    if (!dom) {
        sim_unlock(h);
        struct xg_loc l = { XGF_DOMID(domid) };
        return xg_diag_syserr(d, XG_E_NOTFOUND, ESRCH, &l, "no domain %u on the simulated host", domid);
    }
    memset(out, 0, sizeof(*out));
    out->domid = domid;
    out->paused = dom->pause_count > 0;
    out->shutdown = dom->shutdown;
    out->shutdown_reason = dom->shutdown_reason;
    out->dying = dom->dying;
    out->guest_width = dom->guest_width;
    out->pt_levels = dom->pt_levels;
    out->nr_pages = dom->tot_pages;
    out->max_pages = dom->max_pages;
    out->max_pfn = sim_domain_max_pfn(h, dom);
    out->shared_info_mfn = dom->shared_info_mfn;
    out->nr_vcpus = dom->nr_vcpus;
    const struct xg_vcpu_layout *L = xg_vcpu_layout(dom->guest_width);
    for (unsigned v = 0; v < dom->nr_vcpus; v++)
        if (dom->vcpu[v].initialised && (xg_guest_word(dom->vcpu[v].ctx, L->flags, L->word) & XG_VGCF_ONLINE))
            out->vcpu_online |= 1ULL << v;
    out->store_evtchn = dom->store_evtchn;
    out->console_evtchn = dom->console_evtchn;
    sim_unlock(h);
    return 0;
}

static int sim_map(xg_hv *hv, uint32_t domid, int prot, unsigned n, const uint64_t *mfns, void **pages, int *errs,
                   xg_hv_mapping **out, xg_diag *d)
{
    struct sim_host *h = H(hv);
    *out = NULL;
    xg_hv_mapping *m = calloc(1, sizeof(*m));
    if (!m || !(m->mfns = malloc((n ? n : 1) * sizeof(uint64_t)))) {
        free(m);
        return xg_diag_err(d, XG_E_NOMEM, NULL, "out of memory mapping %u frames", n);
    }
    int rc = sim_lock(h, 0, d);
    if (rc < 0) {
        free(m->mfns);
        free(m);
        return rc;
    }
    struct sim_domain *dom = need_domain(h, domid, d);
    if (!dom) {
        sim_abort(h);
        free(m->mfns);
        free(m);
        return XG_E_NOTFOUND;
    }
    bool want_rw = prot & PROT_WRITE;
    /* The 2008 NetBSD privcmd: every foreign mapping writable, whatever was asked. */
    bool rw = want_rw || (dom->faults & SIM_FAULT_DOM0_WRITABLE_MAP);
    m->domid = domid;
    m->rw = rw;
    m->n = n;
    sim_trace(h, "d0 map %u frames of d%u %s", n, domid, rw ? "rw" : "ro");
    for (unsigned i = 0; i < n; i++) {
        m->mfns[i] = ~0ULL;
        pages[i] = NULL;
        errs[i] = 0;
        uint64_t mfn = mfns[i];
        /* dom0's PTE for it (beyond RAM: MMIO, refused with Xen's EPERM and log line), with pg_owner = the guest: Xen's get_page_from_l1e. */
        int e = sim_get_l1e(h, xg_pte_make(mfn, XG_PTE_P | (rw ? XG_PTE_RW : 0)), 0, domid);
        if (e == 0 && sim_maps_add(h, mfn, rw) < 0) {
            sim_put_l1e(h, xg_pte_make(mfn, XG_PTE_P | (rw ? XG_PTE_RW : 0)), 0);
            e = -ENOMEM;
        }
        if (e < 0) {
            errs[i] = -e;
            continue;
        }
        m->mfns[i] = mfn;
        pages[i] = want_rw ? (void *)sim_frame_data(h, mfn) : (void *)(h->ro_data + mfn * SIM_PAGE);
    }
    sim_unlock(h);
    *out = m;
    return 0;
}

static void sim_unmap(xg_hv *hv, xg_hv_mapping *m)
{
    struct sim_host *h = H(hv);
    if (!m)
        return;
    if (sim_lock(h, 0, NULL) == 0) {
        for (unsigned i = 0; i < m->n; i++) {
            if (m->mfns[i] == ~0ULL)
                continue;
            sim_put_l1e(h, xg_pte_make(m->mfns[i], XG_PTE_P | (m->rw ? XG_PTE_RW : 0)), 0);
            sim_maps_remove(h, m->mfns[i], m->rw);
        }
        sim_unlock(h);
    }
    free(m->mfns);
    free(m);
}

static int sim_page_types(xg_hv *hv, uint32_t domid, unsigned n, const uint64_t *mfns, uint32_t *types, xg_diag *d)
{
    struct sim_host *h = H(hv);
    if (n > 1024)
        return xg_diag_syserr(d, XG_E_HV, E2BIG, NULL, "getpageframeinfo3 takes at most 1024 frames, not %u", n);
    int rc = lock_domain(h, domid, d);
    if (rc < 0)
        return rc;
    for (unsigned i = 0; i < n; i++)
        types[i] = sim_pfinfo(h, domid, mfns[i]);
    sim_unlock(h);
    return 0;
}

static int sim_m2p(xg_hv *hv, const uint64_t **m2p, uint64_t *nr_mfns, uint64_t *compat_mfn0, xg_diag *d)
{
    struct sim_host *h = H(hv);
    *m2p = h->m2p;
    *nr_mfns = h->hdr->nr_frames;
    *compat_mfn0 = h->hdr->compat_m2p_mfn0;
    return 0;
}

static int sim_vcpu_get(xg_hv *hv, uint32_t domid, unsigned vcpu, void *ctx, size_t size, xg_diag *d)
{
    struct sim_host *h = H(hv);
    int rc = sim_lock(h, 0, d);
    if (rc < 0)
        return rc;
    struct sim_domain *dom = need_domain(h, domid, d);
    struct xg_loc l = { XGF_DOMID(domid), XGF_VCPU(vcpu) };
    if (!dom)
        rc = XG_E_NOTFOUND;
    else if (vcpu >= dom->nr_vcpus)
        rc = xg_diag_syserr(d, XG_E_HV, ESRCH, &l, "domain %u has no vcpu%u", domid, vcpu);
    else if (size != xg_vcpu_layout(dom->guest_width)->size)
        rc = xg_diag_err(d, XG_E_INVAL, &l, "vcpu context buffer of %zu bytes for a %u-bit guest", size,
                         dom->guest_width * 8);
    else
        memcpy(ctx, dom->vcpu[vcpu].ctx, size);
    sim_unlock(h);
    return rc;
}

static int sim_vcpu_set(xg_hv *hv, uint32_t domid, unsigned vcpu, const void *ctx, size_t size, xg_diag *d)
{
    struct sim_host *h = H(hv);
    int rc = sim_lock(h, 0, d);
    if (rc < 0)
        return rc;
    struct xg_loc l = { XGF_DOMID(domid), XGF_VCPU(vcpu) };
    sim_trace(h, "d0 setvcpucontext d%u vcpu%u", domid, vcpu);
    int e = sim_set_vcpu(h, domid, vcpu, ctx, size);
    if (e < 0) {
        sim_abort(h);
        return xg_diag_syserr(d, XG_E_HV, -e, &l, "Xen refused vcpu%u's context (XEN_DOMCTL_setvcpucontext)", vcpu);
    }
    struct sim_domain *dom = sim_domain(h, domid);
    SIM_SET(h, dom->flags, dom->flags | SIM_DOM_RESTORED);
    sim_unlock(h);
    return 0;
}

static int sim_vcpu_blob_get(xg_hv *hv, uint32_t domid, unsigned vcpu, enum xg_vcpu_blob kind, void *buf,
                             size_t *len, xg_diag *d)
{
    struct sim_host *h = H(hv);
    int rc = sim_lock(h, 0, d);
    if (rc < 0)
        return rc;
    struct sim_domain *dom = need_domain(h, domid, d);
    if (!dom || vcpu >= dom->nr_vcpus) {
        sim_unlock(h);
        return dom ? xg_diag_syserr(d, XG_E_HV, ESRCH, NULL, "domain %u has no vcpu%u", domid, vcpu) : XG_E_NOTFOUND;
    }
    size_t have = kind == XG_VCPU_EXTENDED ? dom->vcpu[vcpu].ext_len : 0;
    if (have > *len) {
        sim_unlock(h);
        return xg_diag_err(d, XG_E_INVAL, NULL, "buffer too small for vcpu%u's state", vcpu);
    }
    if (have)
        memcpy(buf, dom->vcpu[vcpu].ext, have);
    *len = have;
    sim_unlock(h);
    return 0;
}

static int sim_vcpu_blob_set(xg_hv *hv, uint32_t domid, unsigned vcpu, enum xg_vcpu_blob kind, const void *buf,
                             size_t len, xg_diag *d)
{
    struct sim_host *h = H(hv);
    int rc = sim_lock(h, 0, d);
    if (rc < 0)
        return rc;
    struct sim_domain *dom = need_domain(h, domid, d);
    if (!dom || vcpu >= dom->nr_vcpus) {
        sim_unlock(h);
        return dom ? xg_diag_syserr(d, XG_E_HV, ESRCH, NULL, "domain %u has no vcpu%u", domid, vcpu) : XG_E_NOTFOUND;
    }
    if (kind == XG_VCPU_EXTENDED) {
        if (len > sizeof(dom->vcpu[vcpu].ext)) {
            sim_unlock(h);
            return xg_diag_syserr(d, XG_E_HV, EINVAL, NULL, "extended state of %zu bytes is too big", len);
        }
        sim_journal(h, &dom->vcpu[vcpu], sizeof(dom->vcpu[vcpu]));
        memcpy(dom->vcpu[vcpu].ext, buf, len);
        dom->vcpu[vcpu].ext_len = (uint32_t)len;
    }
    /* The simulated CPU has no xsave state or MSRs worth keeping. */
    sim_unlock(h);
    return 0;
}

static int sim_tsc_get(xg_hv *hv, uint32_t domid, struct xg_rec_tsc_info *out, xg_diag *d)
{
    struct sim_host *h = H(hv);
    int rc = sim_lock(h, 0, d);
    if (rc < 0)
        return rc;
    struct sim_domain *dom = need_domain(h, domid, d);
    if (dom) {
        out->mode = dom->tsc_mode;
        out->khz = dom->tsc_khz;
        out->nsec = dom->tsc_nsec;
        out->incarnation = dom->tsc_incarnation;
    }
    sim_unlock(h);
    return dom ? 0 : XG_E_NOTFOUND;
}

static int sim_tsc_set(xg_hv *hv, uint32_t domid, const struct xg_rec_tsc_info *t, xg_diag *d)
{
    struct sim_host *h = H(hv);
    int rc = sim_lock(h, 0, d);
    if (rc < 0)
        return rc;
    struct sim_domain *dom = need_domain(h, domid, d);
    if (dom) {
        SIM_SET(h, dom->tsc_mode, t->mode);
        SIM_SET(h, dom->tsc_khz, t->khz);
        SIM_SET(h, dom->tsc_nsec, t->nsec);
        SIM_SET(h, dom->tsc_incarnation, t->incarnation + 1);
    }
    sim_unlock(h);
    return dom ? 0 : XG_E_NOTFOUND;
}

static int sim_logdirty(xg_hv *hv, uint32_t domid, enum xg_logdirty_op op, unsigned long *bitmap, uint64_t nr_pfns,
                        uint64_t *dirty, xg_diag *d)
{
    struct sim_host *h = H(hv);
    int rc = sim_lock(h, 0, d);
    if (rc < 0)
        return rc;
    struct sim_domain *dom = need_domain(h, domid, d);
    struct xg_loc l = { XGF_DOMID(domid) };
    if (!dom) {
        sim_unlock(h);
        return XG_E_NOTFOUND;
    }
    unsigned long *map = (unsigned long *)(h->bitmaps + (uint64_t)(dom - h->doms) * h->hdr->bitmap_bytes);
    uint64_t cap = h->hdr->bitmap_bytes * 8;
    switch (op) {
    case XG_LOGDIRTY_ENABLE:
        if (dom->logdirty) {
            sim_unlock(h);
            return xg_diag_syserr(d, XG_E_HV, EINVAL, &l, "domain %u is already in log-dirty mode", domid);
        }
        sim_journal(h, map, h->hdr->bitmap_bytes);
        memset(map, 0, h->hdr->bitmap_bytes);
        SIM_SET(h, dom->logdirty, 1);
        SIM_SET(h, dom->dirty_count, 0);
        sim_trace(h, "d0 shadow_op ENABLE_LOGDIRTY d%u", domid);
        break;
    case XG_LOGDIRTY_DISABLE:
        SIM_SET(h, dom->logdirty, 0);
        sim_trace(h, "d0 shadow_op OFF d%u", domid);
        break;
    case XG_LOGDIRTY_CLEAN:
    case XG_LOGDIRTY_PEEK: {
        uint64_t n = XG_MIN(nr_pfns, cap), count = 0;
        size_t longs = XG_BITMAP_LONGS(n);
        if (bitmap) {
            memset(bitmap, 0, XG_BITMAP_LONGS(nr_pfns) * sizeof(unsigned long));
            memcpy(bitmap, map, longs * sizeof(unsigned long));
            if (n % XG_BITS_PER_LONG)
                bitmap[longs - 1] &= (1UL << (n % XG_BITS_PER_LONG)) - 1;
            for (size_t i = 0; i < longs; i++)
                count += (uint64_t)__builtin_popcountl(bitmap[i]);
        }
        if (op == XG_LOGDIRTY_CLEAN) {
            sim_journal(h, map, h->hdr->bitmap_bytes);
            memset(map, 0, h->hdr->bitmap_bytes);
            SIM_SET(h, dom->dirty_count, 0);
        }
        if (dirty)
            *dirty = count;
        break;
    }
    }
    sim_unlock(h);
    return 0;
}

static int sim_pause(xg_hv *hv, uint32_t domid, xg_diag *d)
{
    struct sim_host *h = H(hv);
    int rc = sim_lock(h, 0, d);
    if (rc < 0)
        return rc;
    struct sim_domain *dom = need_domain(h, domid, d);
    if (dom)
        SIM_SET(h, dom->pause_count, dom->pause_count + 1);
    sim_unlock(h);
    return dom ? 0 : XG_E_NOTFOUND;
}

static int sim_unpause(xg_hv *hv, uint32_t domid, xg_diag *d)
{
    struct sim_host *h = H(hv);
    int rc = sim_lock(h, 0, d);
    if (rc < 0)
        return rc;
    struct sim_domain *dom = need_domain(h, domid, d);
    struct xg_loc l = { XGF_DOMID(domid) };
    if (dom && dom->pause_count == 0) {
        sim_unlock(h);
        return xg_diag_syserr(d, XG_E_HV, EINVAL, &l, "domain %u is not paused", domid);
    }
    if (dom)
        SIM_SET(h, dom->pause_count, dom->pause_count - 1);
    sim_unlock(h);
    return dom ? 0 : XG_E_NOTFOUND;
}

static int sim_suspend(xg_hv *hv, uint32_t domid, unsigned timeout_ms, xg_diag *d)
{
    struct sim_host *h = H(hv);
    int rc = sim_lock(h, domid, d);
    if (rc < 0)
        return rc;
    sim_trace(h, "d0 suspend request to d%u", domid);
    rc = sim_guest_suspend(h, domid, d);
    if (rc < 0)
        sim_abort(h);
    else
        sim_unlock(h);
    return rc;
}

static int sim_resume(xg_hv *hv, uint32_t domid, xg_diag *d)
{
    struct sim_host *h = H(hv);
    int rc = sim_lock(h, domid, d);
    if (rc < 0)
        return rc;
    sim_trace(h, "d0 resume d%u", domid);
    rc = sim_guest_resume(h, domid, d);
    if (rc < 0)
        sim_abort(h);
    else
        sim_unlock(h);
    return rc;
}

static int sim_create(xg_hv *hv, const struct xg_domain_config *cfg, uint32_t *domid, xg_diag *d)
{
    struct sim_host *h = H(hv);
    int rc = sim_lock(h, 0, d);
    if (rc < 0)
        return rc;
    int e = sim_domain_create(h, cfg->guest_width ? cfg->guest_width : 8, cfg->nr_vcpus ? cfg->nr_vcpus : 1,
                              cfg->max_pages, domid);
    if (e < 0) {
        sim_abort(h);
        return xg_diag_syserr(d, XG_E_HV, -e, NULL, "creating a domain failed");
    }
    sim_trace(h, "d0 createdomain -> d%u", *domid);
    sim_unlock(h);
    return 0;
}

static int sim_destroy(xg_hv *hv, uint32_t domid, xg_diag *d)
{
    struct sim_host *h = H(hv);
    int rc = sim_lock(h, 0, d);
    if (rc < 0)
        return rc;
    int e = sim_domain_destroy(h, domid);
    sim_trace(h, "d0 destroydomain d%u -> %d", domid, e);
    sim_unlock(h);
    if (e < 0) {
        struct xg_loc l = { XGF_DOMID(domid) };
        return xg_diag_syserr(d, XG_E_NOTFOUND, -e, &l, "no domain %u to destroy", domid);
    }
    return 0;
}

static int sim_set_max_pages(xg_hv *hv, uint32_t domid, uint64_t max_pages, xg_diag *d)
{
    struct sim_host *h = H(hv);
    int rc = sim_lock(h, 0, d);
    if (rc < 0)
        return rc;
    struct sim_domain *dom = need_domain(h, domid, d);
    if (dom)
        SIM_SET(h, dom->max_pages, max_pages);
    sim_unlock(h);
    return dom ? 0 : XG_E_NOTFOUND;
}

static int sim_set_address_size(xg_hv *hv, uint32_t domid, unsigned width, xg_diag *d)
{
    struct sim_host *h = H(hv);
    int rc = sim_lock(h, 0, d);
    if (rc < 0)
        return rc;
    struct sim_domain *dom = need_domain(h, domid, d);
    struct xg_loc l = { XGF_DOMID(domid) };
    if (!dom) {
        sim_unlock(h);
        return XG_E_NOTFOUND;
    }
    if (width != 4 && width != 8) {
        sim_unlock(h);
        return xg_diag_syserr(d, XG_E_HV, EINVAL, &l, "address size %u is not 4 or 8 bytes", width);
    }
    if (width != dom->guest_width) {
        bool started = false;
        for (unsigned v = 0; v < dom->nr_vcpus; v++)
            started |= dom->vcpu[v].initialised;
        if (started || dom->tot_pages) {
            sim_unlock(h);
            return xg_diag_syserr(d, XG_E_HV, EBUSY, &l,
                                  "domain %u already has memory or running vcpus: its width cannot change", domid);
        }
        SIM_SET(h, dom->guest_width, width);
        SIM_SET(h, dom->pt_levels, width == 8 ? 4 : 3);
        /* The shared info page takes the other layout: mask every event channel again. */
        uint8_t *si = sim_frame_data(h, dom->shared_info_mfn);
        const struct xg_shinfo_layout *sl = xg_shinfo_layout(width);
        sim_journal(h, si, SIM_PAGE);
        memset(si, 0, SIM_PAGE);
        memset(si + sl->evtchn_mask, 0xff, (size_t)sl->evtchn_words * sl->word);
    }
    sim_unlock(h);
    return 0;
}

/*
 * The simulated host has no grant tables and no xenstored: it records the
 * seeds in its trace, so tests see what a restore granted to whom.
 */
static int sim_gnttab_seed(xg_hv *hv, uint32_t domid, uint64_t console_gfn, uint64_t xenstore_gfn,
                           uint32_t console_domid, uint32_t xenstore_domid, xg_diag *d)
{
    struct sim_host *h = H(hv);
    int rc = sim_lock(h, 0, d);
    if (rc < 0)
        return rc;
    struct sim_domain *dom = need_domain(h, domid, d);
    if (dom) {
        if (console_domid != domid && console_gfn != ~0ULL)
            sim_trace(h, "d0 gnttab_seed d%u entry 0 (console): d%u may map frame %#llx", domid, console_domid,
                      (unsigned long long)console_gfn);
        if (xenstore_domid != domid && xenstore_gfn != ~0ULL)
            sim_trace(h, "d0 gnttab_seed d%u entry 1 (xenstore): d%u may map frame %#llx", domid, xenstore_domid,
                      (unsigned long long)xenstore_gfn);
    }
    sim_unlock(h);
    return dom ? 0 : XG_E_NOTFOUND;
}

static int sim_evtchn(xg_hv *hv, uint32_t domid, uint32_t remote, int *port, xg_diag *d)
{
    struct sim_host *h = H(hv);
    int rc = sim_lock(h, 0, d);
    if (rc < 0)
        return rc;
    struct sim_domain *dom = need_domain(h, domid, d);
    if (dom) {
        *port = (int)dom->next_port;
        SIM_SET(h, dom->next_port, dom->next_port + 1);
    }
    sim_unlock(h);
    return dom ? 0 : XG_E_NOTFOUND;
}

static int sim_populate(xg_hv *hv, uint32_t domid, unsigned n, const uint64_t *pfns, uint64_t *mfns, xg_diag *d)
{
    struct sim_host *h = H(hv);
    int rc = lock_domain(h, domid, d);
    if (rc < 0)
        return rc;
    for (unsigned i = 0; i < n; i++) {
        int e = sim_populate_one(h, domid, pfns[i], &mfns[i]);
        if (e < 0) {
            /* Xen returns the extents done; those stay allocated. */
            sim_unlock(h);
            struct xg_loc l = { XGF_DOMID(domid), XGF_PFN(pfns[i]) };
            return xg_diag_syserr(d, XG_E_HV, -e, &l, "populate_physmap stopped at pfn %#llx (%u of %u done)",
                                  (unsigned long long)pfns[i], i, n);
        }
    }
    sim_unlock(h);
    return 0;
}

static int sim_depopulate(xg_hv *hv, uint32_t domid, unsigned n, const uint64_t *mfns, xg_diag *d)
{
    struct sim_host *h = H(hv);
    int rc = lock_domain(h, domid, d);
    if (rc < 0)
        return rc;
    for (unsigned i = 0; i < n; i++) {
        int e = sim_release_frame(h, domid, mfns[i]);
        if (e < 0) {
            /* Xen returns the extents done; those stay freed. */
            sim_unlock(h);
            struct xg_loc l = { XGF_DOMID(domid), XGF_MFN(mfns[i]) };
            return xg_diag_syserr(d, XG_E_HV, -e, &l,
                                  "decrease_reservation stopped at mfn %#llx (%u of %u done)",
                                  (unsigned long long)mfns[i], i, n);
        }
    }
    sim_unlock(h);
    return 0;
}

static int sim_mmu_update(xg_hv *hv, uint32_t domid, const struct xg_mmu_update *req, unsigned n, unsigned *done,
                          xg_diag *d)
{
    struct sim_host *h = H(hv);
    *done = 0;
    int rc = sim_lock(h, 0, d);
    if (rc < 0)
        return rc;
    for (unsigned i = 0; i < n; i++) {
        unsigned cmd = (unsigned)(req[i].ptr & 7);
        int e;
        if (cmd == XG_MMU_NORMAL_PT_UPDATE)
            e = sim_mmu_normal(h, domid, domid, req[i].ptr & ~7ULL, req[i].val);
        else if (cmd == XG_MMU_MACHPHYS_UPDATE)
            e = sim_mmu_machphys(h, domid, req[i].ptr >> 12, req[i].val);
        else
            e = -ENOSYS;
        if (e < 0) {
            sim_unlock(h);
            struct xg_loc l = { XGF_DOMID(domid), XGF_MFN(req[i].ptr >> 12), XGF_ENTRY(req[i].val) };
            return xg_diag_syserr(d, XG_E_HV, -e, &l, "mmu_update request %u of %u refused", i, n);
        }
        *done = i + 1;
    }
    sim_unlock(h);
    return 0;
}

static int sim_mmuext(xg_hv *hv, uint32_t domid, const struct xg_mmuext_op *ops, unsigned n, unsigned *done,
                      xg_diag *d)
{
    static const char *const names[] = { "PIN_L1_TABLE", "PIN_L2_TABLE", "PIN_L3_TABLE", "PIN_L4_TABLE",
                                         "UNPIN_TABLE", "NEW_BASEPTR" };
    struct sim_host *h = H(hv);
    *done = 0;
    int rc = lock_domain(h, domid, d);
    if (rc < 0)
        return rc;
    for (unsigned i = 0; i < n; i++) {
        int e;
        unsigned cmd = ops[i].cmd;
        if (cmd <= XG_MMUEXT_PIN_L4_TABLE)
            e = sim_pin(h, domid, cmd + 1, ops[i].mfn);
        else if (cmd == XG_MMUEXT_UNPIN_TABLE)
            e = sim_unpin(h, domid, ops[i].mfn);
        else if (cmd == XG_MMUEXT_NEW_BASEPTR)
            e = -EPERM; /* only for the calling domain's own vcpu */
        else
            e = -ENOSYS;
        sim_trace(h, "d0 mmuext %s mfn %llx of d%u -> %d", cmd < 6 ? names[cmd] : "?",
                  (unsigned long long)ops[i].mfn, domid, e);
        if (e < 0) {
            sim_unlock(h);
            struct xg_loc l = { XGF_DOMID(domid), XGF_MFN(ops[i].mfn) };
            return xg_diag_syserr(d, XG_E_HV, -e, &l, "mmuext %s of mfn %#llx refused (op %u of %u)",
                                  cmd < 6 ? names[cmd] : "?", (unsigned long long)ops[i].mfn, i, n);
        }
        *done = i + 1;
    }
    sim_unlock(h);
    return 0;
}

static int sim_frame_owner(xg_hv *hv, uint64_t mfn, uint32_t *owner, xg_diag *d)
{
    struct sim_host *h = H(hv);
    if (!sim_mfn_valid(h, mfn))
        return XG_E_NOTFOUND;
    uint32_t o = sim_frame(h, mfn)->owner;
    if (o == SIM_OWNER_FREE)
        return XG_E_NOTFOUND;
    *owner = o;
    return 0;
}

const struct xg_hv_ops xg_sim_ops = {
    .version = XG_HV_OPS_VERSION,
    .name = "sim",
    .close = sim_close,
    .xen_version = sim_xen_version,
    .domain_info = sim_domain_info,
    .map = sim_map,
    .unmap = sim_unmap,
    .page_types = sim_page_types,
    .m2p = sim_m2p,
    .vcpu_get = sim_vcpu_get,
    .vcpu_set = sim_vcpu_set,
    .vcpu_blob_get = sim_vcpu_blob_get,
    .vcpu_blob_set = sim_vcpu_blob_set,
    .tsc_info_get = sim_tsc_get,
    .tsc_info_set = sim_tsc_set,
    .logdirty = sim_logdirty,
    .pause = sim_pause,
    .unpause = sim_unpause,
    .suspend = sim_suspend,
    .resume = sim_resume,
    .domain_create = sim_create,
    .domain_destroy = sim_destroy,
    .set_max_pages = sim_set_max_pages,
    .set_address_size = sim_set_address_size,
    .evtchn_alloc_unbound = sim_evtchn,
    .populate = sim_populate,
    .mmu_update = sim_mmu_update,
    .mmuext = sim_mmuext,
    .frame_owner = sim_frame_owner,
    .gnttab_seed = sim_gnttab_seed,
    .depopulate = sim_depopulate,
};

int xg_sim_open(const char *path, xg_diag *d, xg_hv **out)
{
    *out = NULL;
    struct sim_host *h;
    int rc = sim_host_open(path, d, &h);
    if (rc < 0)
        return rc;
    xg_hv *hv = calloc(1, sizeof(*hv));
    if (!hv) {
        sim_host_close(h);
        return xg_diag_err(d, XG_E_NOMEM, NULL, "out of memory");
    }
    hv->ops = &xg_sim_ops;
    hv->priv = h;
    *out = hv;
    return 0;
}
