/*
 * backend.c - the xg_hv_ops of the simulated host: each op takes the host
 * lock, runs the hypervisor's rules (mm.c, domain.c) as the toolstack in
 * dom0 would meet them, and turns a refusal into XG_E_HV with Xen's errno.
 */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "hv/sim/guest.h"
#include "internal.h"
#include "pv/abi.h"
#include "pv/pte.h"

struct xg_hv_mapping {
    uint32_t domid;
    bool rw; /* references are writable ones */
    unsigned n;
    uint64_t *mfns; /* ~0 where the frame was not mapped */
};

static struct sim_host *H(xg_hv *hv)
{
    return hv->priv;
}

struct sim_host *xg_sim_host(xg_hv *hv)
{
    return hv && hv->ops == &xg_sim_ops ? hv->priv : NULL;
}

/* How host_call runs an op. */
enum {
    OP_ANY_DOMAIN = 0x1, /* domid need not name a domain: the body checks, or makes one */
    OP_DYING_OK = 0x2,   /* a dying domain is still there to be asked about */
    OP_AS_GUEST = 0x4,   /* the guest itself makes the call (the lock's caller is domid) */
    OP_UNDO = 0x8,       /* a failed body's changes are rolled back, not kept */
};

/*
 * An op's body: runs under the host lock.  `dom` is the live domain the op
 * names (NULL with OP_ANY_DOMAIN); `arg` the op's own arguments.  Returns 0
 * or a negative XG_E_* with a finding in d.
 */
typedef int op_body(struct sim_host *h, uint32_t domid, struct sim_domain *dom, void *arg,
                    xg_diag *d);

/*
 * Every op of the simulated host, as Xen runs a hypercall: take the host
 * lock, find the domain the op names (ESRCH as Xen's, unless OP_ANY_DOMAIN),
 * trace the call (trace may be NULL), run the body, and let go: commit what
 * it did, or with OP_UNDO roll back a failed body's changes.  Xen keeps the
 * work a failed batch did (populate, mmu_update: "the extents done"), so
 * keeping is the default.  Returns the body's result; nothing is held after.
 */
static int host_call(xg_hv *hv, uint32_t domid, unsigned how, op_body *body, void *arg, xg_diag *d,
                     const char *trace, ...) __attribute__((format(printf, 7, 8)));
static int host_call(xg_hv *hv, uint32_t domid, unsigned how, op_body *body, void *arg, xg_diag *d,
                     const char *trace, ...)
{
    struct sim_host *h = H(hv);
    int rc = sim_lock(h, how & OP_AS_GUEST ? domid : 0, d);
    if (rc < 0)
        return rc;
    struct sim_domain *dom = NULL;
    if (!(how & OP_ANY_DOMAIN)) {
        dom = sim_domain(h, domid);
        if (!dom || (dom->dying && !(how & OP_DYING_OK))) {
            sim_unlock(h);
            struct xg_loc l = { XGF_DOMID(domid) };
            return xg_diag_syserr(d, XG_E_NOTFOUND, ESRCH, &l, "no domain %u on the simulated host",
                                  domid);
        }
    }
    if (trace) {
        char line[256];
        va_list ap;
        va_start(ap, trace);
        vsnprintf(line, sizeof(line), trace, ap);
        va_end(ap);
        sim_trace(h, "%s", line);
    }
    rc = body(h, domid, dom, arg, d);
    if (h->journal_full)
        xg_diag_warn(d, NULL,
                     "simulated host %s: the op outgrew the undo journal, so it could not "
                     "have been rolled back had it been interrupted",
                     h->path);
    if (rc < 0 && (how & OP_UNDO))
        sim_abort(h);
    else
        sim_unlock(h);
    return rc;
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

struct vcpus_online_args {
    unsigned nr_vcpus;
    uint64_t *online;
};

static int vcpus_online_body(struct sim_host *h, uint32_t domid, struct sim_domain *dom, void *arg,
                             xg_diag *d)
{
    struct vcpus_online_args *a = arg;
    const struct xg_vcpu_layout *L = xg_vcpu_layout(dom->guest_width);
    for (unsigned v = 0; v < a->nr_vcpus && v < dom->nr_vcpus; v++)
        if (dom->vcpu[v].initialised &&
            (xg_guest_word(dom->vcpu[v].ctx, L->flags, L->word) & XG_VGCF_ONLINE))
            *a->online |= 1ULL << v;
    return 0;
}

static int domain_state_body(struct sim_host *h, uint32_t domid, struct sim_domain *dom, void *arg,
                             xg_diag *d)
{
    struct xg_domain_state *out = arg;
    memset(out, 0, sizeof(*out));
    out->domid = domid;
    out->paused = dom->pause_count > 0;
    out->shutdown = dom->shutdown;
    out->shutdown_reason = dom->shutdown_reason;
    out->dying = dom->dying;
    out->nr_vcpus = dom->nr_vcpus;
    out->guest_width = dom->guest_width;
    out->nr_pages = dom->tot_pages;
    out->max_pages = dom->max_pages;
    out->shared_info_mfn = dom->shared_info_mfn;
    return 0;
}

static int domain_info_body(struct sim_host *h, uint32_t domid, struct sim_domain *dom, void *arg,
                            xg_diag *d)
{
    struct xg_domain_info *out = arg;
    struct xg_domain_state st;
    domain_state_body(h, domid, dom, &st, d);
    xg__hv_info_from_state(out, &st);
    out->pt_levels = dom->pt_levels;
    out->max_pfn = sim_domain_max_pfn(h, dom);
    struct vcpus_online_args a = { dom->nr_vcpus, &out->vcpu_online };
    vcpus_online_body(h, domid, dom, &a, d);
    out->store_evtchn = dom->store_evtchn;
    out->console_evtchn = dom->console_evtchn;
    return 0;
}

static int sim_domain_info(xg_hv *hv, uint32_t domid, struct xg_domain_info *out, xg_diag *d)
{
    return host_call(hv, domid, OP_DYING_OK, domain_info_body, out, d, NULL);
}

static int sim_domain_state(xg_hv *hv, uint32_t domid, struct xg_domain_state *out, xg_diag *d)
{
    return host_call(hv, domid, OP_DYING_OK, domain_state_body, out, d, NULL);
}

static int sim_vcpus_online(xg_hv *hv, uint32_t domid, unsigned nr_vcpus, uint64_t *online,
                            xg_diag *d)
{
    struct vcpus_online_args a = { nr_vcpus, online };
    *online = 0;
    return host_call(hv, domid, OP_DYING_OK, vcpus_online_body, &a, d, NULL);
}

struct map_args {
    int prot;
    unsigned n;
    const uint64_t *mfns;
    void **pages;
    int *errs;
    xg_hv_mapping *m;
};

static int map_body(struct sim_host *h, uint32_t domid, struct sim_domain *dom, void *arg,
                    xg_diag *d)
{
    struct map_args *a = arg;
    xg_hv_mapping *m = a->m;
    bool want_rw = a->prot & PROT_WRITE;
    /* The 2008 NetBSD privcmd: every foreign mapping writable, whatever was asked. */
    bool rw = want_rw || (dom->faults & SIM_FAULT_DOM0_WRITABLE_MAP);
    m->domid = domid;
    m->rw = rw;
    m->n = a->n;
    sim_trace(h, "d0 map %u frames of d%u %s", a->n, domid, rw ? "rw" : "ro");
    for (unsigned i = 0; i < a->n; i++) {
        m->mfns[i] = ~0ULL;
        a->pages[i] = NULL;
        a->errs[i] = 0;
        uint64_t mfn = a->mfns[i];
        /*
         * dom0's PTE for it (beyond RAM: MMIO, refused with Xen's EPERM and
         * log line), with pg_owner = the guest: Xen's get_page_from_l1e.
         */
        uint64_t pte = xg_pte_make(mfn, XG_PTE_P | (rw ? XG_PTE_RW : 0));
        int e = sim_get_l1e(h, pte, 0, domid);
        if (e == 0 && sim_maps_add(h, mfn, rw) < 0) {
            sim_put_l1e(h, pte, 0);
            e = -ENOMEM;
        }
        if (e < 0) {
            a->errs[i] = -e;
            continue;
        }
        m->mfns[i] = mfn;
        a->pages[i] = want_rw ? (void *)sim_frame_data(h, mfn)
                              : (void *)(h->ro_data + mfn * SIM_PAGE);
    }
    return 0;
}

static int sim_map(xg_hv *hv, uint32_t domid, int prot, unsigned n, const uint64_t *mfns,
                   void **pages, int *errs, xg_hv_mapping **out, xg_diag *d)
{
    *out = NULL;
    xg_hv_mapping *m = calloc(1, sizeof(*m));
    if (!m || !(m->mfns = malloc((n ? n : 1) * sizeof(uint64_t)))) {
        free(m);
        return xg_diag_err(d, XG_E_NOMEM, NULL, "out of memory mapping %u frames", n);
    }
    struct map_args a = { prot, n, mfns, pages, errs, m };
    int rc = host_call(hv, domid, 0, map_body, &a, d, NULL);
    if (rc < 0) {
        free(m->mfns);
        free(m);
        return rc;
    }
    *out = m;
    return 0;
}

static int unmap_body(struct sim_host *h, uint32_t domid, struct sim_domain *dom, void *arg,
                      xg_diag *d)
{
    xg_hv_mapping *m = arg;
    for (unsigned i = 0; i < m->n; i++) {
        if (m->mfns[i] == ~0ULL)
            continue;
        sim_put_l1e(h, xg_pte_make(m->mfns[i], XG_PTE_P | (m->rw ? XG_PTE_RW : 0)), 0);
        sim_maps_remove(h, m->mfns[i], m->rw);
    }
    return 0;
}

static void sim_unmap(xg_hv *hv, xg_hv_mapping *m)
{
    if (!m)
        return;
    /* The references go even if the domain went first, as Xen drops them at unmap. */
    host_call(hv, m->domid, OP_ANY_DOMAIN, unmap_body, m, NULL, NULL);
    free(m->mfns);
    free(m);
}

struct page_types_args {
    unsigned n;
    const uint64_t *mfns;
    uint32_t *types;
};

static int page_types_body(struct sim_host *h, uint32_t domid, struct sim_domain *dom, void *arg,
                           xg_diag *d)
{
    struct page_types_args *a = arg;
    for (unsigned i = 0; i < a->n; i++)
        a->types[i] = sim_pfinfo(h, domid, a->mfns[i]);
    return 0;
}

static int sim_page_types(xg_hv *hv, uint32_t domid, unsigned n, const uint64_t *mfns,
                          uint32_t *types, xg_diag *d)
{
    if (n > 1024)
        return xg_diag_syserr(d, XG_E_HV, E2BIG, NULL,
                              "getpageframeinfo3 takes at most 1024 frames, not %u", n);
    struct page_types_args a = { n, mfns, types };
    return host_call(hv, domid, 0, page_types_body, &a, d, NULL);
}

static int sim_m2p(xg_hv *hv, const uint64_t **m2p, uint64_t *nr_mfns, uint64_t *compat_mfn0,
                   xg_diag *d)
{
    struct sim_host *h = H(hv);
    *m2p = h->m2p;
    *nr_mfns = h->hdr->nr_frames;
    if (compat_mfn0)
        *compat_mfn0 = h->hdr->compat_m2p_mfn0;
    return 0;
}

/* A vcpu's state in or out: vcpu_get, vcpu_set and the blobs. */
struct vcpu_args {
    unsigned vcpu;
    enum xg_vcpu_blob kind;
    void *out;
    const void *in;
    size_t size;
    size_t *len;
};

static int no_vcpu(xg_diag *d, uint32_t domid, unsigned vcpu, const struct xg_loc *l)
{
    return xg_diag_syserr(d, XG_E_HV, ESRCH, l, "domain %u has no vcpu%u", domid, vcpu);
}

static int vcpu_get_body(struct sim_host *h, uint32_t domid, struct sim_domain *dom, void *arg,
                         xg_diag *d)
{
    struct vcpu_args *a = arg;
    struct xg_loc l = { XGF_DOMID(domid), XGF_VCPU(a->vcpu) };
    if (a->vcpu >= dom->nr_vcpus)
        return no_vcpu(d, domid, a->vcpu, &l);
    if (a->size != xg_vcpu_layout(dom->guest_width)->size)
        return xg_diag_err(d, XG_E_INVAL, &l, "vcpu context buffer of %zu bytes for a %u-bit guest",
                           a->size, dom->guest_width * 8);
    memcpy(a->out, dom->vcpu[a->vcpu].ctx, a->size);
    return 0;
}

static int sim_vcpu_get(xg_hv *hv, uint32_t domid, unsigned vcpu, void *ctx, size_t size,
                        xg_diag *d)
{
    struct vcpu_args a = { .vcpu = vcpu, .out = ctx, .size = size };
    return host_call(hv, domid, 0, vcpu_get_body, &a, d, NULL);
}

static int vcpu_set_body(struct sim_host *h, uint32_t domid, struct sim_domain *unused, void *arg,
                         xg_diag *d)
{
    struct vcpu_args *a = arg;
    int e = sim_set_vcpu(h, domid, a->vcpu, a->in, a->size);
    if (e < 0) {
        struct xg_loc l = { XGF_DOMID(domid), XGF_VCPU(a->vcpu) };
        return xg_diag_syserr(d, XG_E_HV, -e, &l,
                              "Xen refused vcpu%u's context (XEN_DOMCTL_setvcpucontext)", a->vcpu);
    }
    struct sim_domain *dom = sim_domain(h, domid);
    SIM_SET(h, dom->flags, dom->flags | SIM_DOM_RESTORED);
    return 0;
}

static int sim_vcpu_set(xg_hv *hv, uint32_t domid, unsigned vcpu, const void *ctx, size_t size,
                        xg_diag *d)
{
    /* sim_set_vcpu answers for a missing domain with Xen's errno. */
    struct vcpu_args a = { .vcpu = vcpu, .in = ctx, .size = size };
    return host_call(hv, domid, OP_ANY_DOMAIN | OP_UNDO, vcpu_set_body, &a, d,
                     "d0 setvcpucontext d%u vcpu%u", domid, vcpu);
}

static int vcpu_blob_get_body(struct sim_host *h, uint32_t domid, struct sim_domain *dom, void *arg,
                              xg_diag *d)
{
    struct vcpu_args *a = arg;
    if (a->vcpu >= dom->nr_vcpus)
        return no_vcpu(d, domid, a->vcpu, NULL);
    size_t have = a->kind == XG_VCPU_EXTENDED ? dom->vcpu[a->vcpu].ext_len : 0;
    if (have > *a->len)
        return xg_diag_err(d, XG_E_INVAL, NULL, "buffer too small for vcpu%u's state", a->vcpu);
    if (have)
        memcpy(a->out, dom->vcpu[a->vcpu].ext, have);
    *a->len = have;
    return 0;
}

static int sim_vcpu_blob_get(xg_hv *hv, uint32_t domid, unsigned vcpu, enum xg_vcpu_blob kind,
                             void *buf, size_t *len, xg_diag *d)
{
    struct vcpu_args a = { .vcpu = vcpu, .kind = kind, .out = buf, .len = len };
    return host_call(hv, domid, 0, vcpu_blob_get_body, &a, d, NULL);
}

static int vcpu_blob_set_body(struct sim_host *h, uint32_t domid, struct sim_domain *dom, void *arg,
                              xg_diag *d)
{
    struct vcpu_args *a = arg;
    if (a->vcpu >= dom->nr_vcpus)
        return no_vcpu(d, domid, a->vcpu, NULL);
    if (a->kind == XG_VCPU_EXTENDED) {
        struct sim_vcpu *v = &dom->vcpu[a->vcpu];
        if (a->size > sizeof(v->ext))
            return xg_diag_syserr(d, XG_E_HV, EINVAL, NULL,
                                  "extended state of %zu bytes is too big", a->size);
        sim_journal(h, v, sizeof(*v));
        memcpy(v->ext, a->in, a->size);
        v->ext_len = (uint32_t)a->size;
    }
    /* The simulated CPU has no xsave state or MSRs worth keeping. */
    return 0;
}

static int sim_vcpu_blob_set(xg_hv *hv, uint32_t domid, unsigned vcpu, enum xg_vcpu_blob kind,
                             const void *buf, size_t len, xg_diag *d)
{
    struct vcpu_args a = { .vcpu = vcpu, .kind = kind, .in = buf, .size = len };
    return host_call(hv, domid, 0, vcpu_blob_set_body, &a, d, NULL);
}

static int tsc_get_body(struct sim_host *h, uint32_t domid, struct sim_domain *dom, void *arg,
                        xg_diag *d)
{
    struct xg_rec_tsc_info *out = arg;
    out->mode = dom->tsc_mode;
    out->khz = dom->tsc_khz;
    out->nsec = dom->tsc_nsec;
    out->incarnation = dom->tsc_incarnation;
    return 0;
}

static int sim_tsc_get(xg_hv *hv, uint32_t domid, struct xg_rec_tsc_info *out, xg_diag *d)
{
    return host_call(hv, domid, 0, tsc_get_body, out, d, NULL);
}

static int tsc_set_body(struct sim_host *h, uint32_t domid, struct sim_domain *dom, void *arg,
                        xg_diag *d)
{
    const struct xg_rec_tsc_info *t = arg;
    SIM_SET(h, dom->tsc_mode, t->mode);
    SIM_SET(h, dom->tsc_khz, t->khz);
    SIM_SET(h, dom->tsc_nsec, t->nsec);
    SIM_SET(h, dom->tsc_incarnation, t->incarnation + 1);
    return 0;
}

static int sim_tsc_set(xg_hv *hv, uint32_t domid, const struct xg_rec_tsc_info *t, xg_diag *d)
{
    return host_call(hv, domid, 0, tsc_set_body, (void *)t, d, NULL);
}

struct logdirty_args {
    enum xg_logdirty_op op;
    unsigned long *bitmap;
    uint64_t nr_pfns;
    uint64_t *dirty;
};

/* CLEAN and PEEK: copy the dirty bitmap out (and clear it for CLEAN). */
static void logdirty_read(struct sim_host *h, struct sim_domain *dom, unsigned long *map,
                          const struct logdirty_args *a)
{
    uint64_t cap = h->hdr->bitmap_bytes * 8;
    uint64_t n = XG_MIN(a->nr_pfns, cap), count = 0;
    size_t longs = XG_BITMAP_LONGS(n);
    unsigned long *bitmap = a->bitmap;
    if (bitmap) {
        memset(bitmap, 0, XG_BITMAP_LONGS(a->nr_pfns) * sizeof(unsigned long));
        memcpy(bitmap, map, longs * sizeof(unsigned long));
        if (n % XG_BITS_PER_LONG)
            bitmap[longs - 1] &= (1UL << (n % XG_BITS_PER_LONG)) - 1;
        for (size_t i = 0; i < longs; i++)
            count += (uint64_t)__builtin_popcountl(bitmap[i]);
    }
    if (a->op == XG_LOGDIRTY_CLEAN) {
        sim_journal(h, map, h->hdr->bitmap_bytes);
        memset(map, 0, h->hdr->bitmap_bytes);
        SIM_SET(h, dom->dirty_count, 0);
    }
    if (a->dirty)
        *a->dirty = count;
}

static int logdirty_body(struct sim_host *h, uint32_t domid, struct sim_domain *dom, void *arg,
                         xg_diag *d)
{
    struct logdirty_args *a = arg;
    uint64_t bytes = h->hdr->bitmap_bytes;
    unsigned long *map = (unsigned long *)(h->bitmaps + (uint64_t)(dom - h->doms) * bytes);
    switch (a->op) {
    case XG_LOGDIRTY_ENABLE:
        if (dom->logdirty) {
            struct xg_loc l = { XGF_DOMID(domid) };
            return xg_diag_syserr(d, XG_E_HV, EINVAL, &l, "domain %u is already in log-dirty mode",
                                  domid);
        }
        sim_journal(h, map, bytes);
        memset(map, 0, bytes);
        SIM_SET(h, dom->logdirty, 1);
        SIM_SET(h, dom->dirty_count, 0);
        sim_trace(h, "d0 shadow_op ENABLE_LOGDIRTY d%u", domid);
        break;
    case XG_LOGDIRTY_DISABLE:
        SIM_SET(h, dom->logdirty, 0);
        sim_trace(h, "d0 shadow_op OFF d%u", domid);
        break;
    case XG_LOGDIRTY_CLEAN:
    case XG_LOGDIRTY_PEEK:
        logdirty_read(h, dom, map, a);
        break;
    }
    return 0;
}

static int sim_logdirty(xg_hv *hv, uint32_t domid, enum xg_logdirty_op op, unsigned long *bitmap,
                        uint64_t nr_pfns, uint64_t *dirty, xg_diag *d)
{
    struct logdirty_args a = { op, bitmap, nr_pfns, dirty };
    return host_call(hv, domid, 0, logdirty_body, &a, d, NULL);
}

static int pause_body(struct sim_host *h, uint32_t domid, struct sim_domain *dom, void *arg,
                      xg_diag *d)
{
    SIM_SET(h, dom->pause_count, dom->pause_count + 1);
    return 0;
}

static int sim_pause(xg_hv *hv, uint32_t domid, xg_diag *d)
{
    return host_call(hv, domid, 0, pause_body, NULL, d, NULL);
}

static int unpause_body(struct sim_host *h, uint32_t domid, struct sim_domain *dom, void *arg,
                        xg_diag *d)
{
    if (dom->pause_count == 0) {
        struct xg_loc l = { XGF_DOMID(domid) };
        return xg_diag_syserr(d, XG_E_HV, EINVAL, &l, "domain %u is not paused", domid);
    }
    SIM_SET(h, dom->pause_count, dom->pause_count - 1);
    return 0;
}

static int sim_unpause(xg_hv *hv, uint32_t domid, xg_diag *d)
{
    return host_call(hv, domid, 0, unpause_body, NULL, d, NULL);
}

static int suspend_body(struct sim_host *h, uint32_t domid, struct sim_domain *unused, void *arg,
                        xg_diag *d)
{
    return sim_guest_suspend(h, domid, d);
}

static int sim_suspend(xg_hv *hv, uint32_t domid, unsigned timeout_ms, xg_diag *d)
{
    return host_call(hv, domid, OP_ANY_DOMAIN | OP_AS_GUEST | OP_UNDO, suspend_body, NULL, d,
                     "d0 suspend request to d%u", domid);
}

static int resume_body(struct sim_host *h, uint32_t domid, struct sim_domain *unused, void *arg,
                       xg_diag *d)
{
    return sim_guest_resume(h, domid, d);
}

static int sim_resume(xg_hv *hv, uint32_t domid, xg_diag *d)
{
    return host_call(hv, domid, OP_ANY_DOMAIN | OP_AS_GUEST | OP_UNDO, resume_body, NULL, d,
                     "d0 resume d%u", domid);
}

struct create_args {
    const struct xg_domain_config *cfg;
    uint32_t *domid;
};

static int create_body(struct sim_host *h, uint32_t unused_domid, struct sim_domain *unused,
                       void *arg, xg_diag *d)
{
    struct create_args *a = arg;
    const struct xg_domain_config *cfg = a->cfg;
    int e = sim_domain_create(h, cfg->guest_width ? cfg->guest_width : 8,
                              cfg->nr_vcpus ? cfg->nr_vcpus : 1, cfg->max_pages, a->domid);
    if (e < 0)
        return xg_diag_syserr(d, XG_E_HV, -e, NULL, "creating a domain failed");
    sim_trace(h, "d0 createdomain -> d%u", *a->domid);
    return 0;
}

static int sim_create(xg_hv *hv, const struct xg_domain_config *cfg, uint32_t *domid, xg_diag *d)
{
    struct create_args a = { cfg, domid };
    return host_call(hv, 0, OP_ANY_DOMAIN | OP_UNDO, create_body, &a, d, NULL);
}

static int destroy_body(struct sim_host *h, uint32_t domid, struct sim_domain *unused, void *arg,
                        xg_diag *d)
{
    int e = sim_domain_destroy(h, domid);
    sim_trace(h, "d0 destroydomain d%u -> %d", domid, e);
    if (e < 0) {
        struct xg_loc l = { XGF_DOMID(domid) };
        return xg_diag_syserr(d, XG_E_NOTFOUND, -e, &l, "no domain %u to destroy", domid);
    }
    return 0;
}

static int sim_destroy(xg_hv *hv, uint32_t domid, xg_diag *d)
{
    /* A dying domain can be destroyed again: sim_domain_destroy answers for it. */
    return host_call(hv, domid, OP_ANY_DOMAIN, destroy_body, NULL, d, NULL);
}

static int max_pages_body(struct sim_host *h, uint32_t domid, struct sim_domain *dom, void *arg,
                          xg_diag *d)
{
    SIM_SET(h, dom->max_pages, *(const uint64_t *)arg);
    return 0;
}

static int sim_set_max_pages(xg_hv *hv, uint32_t domid, uint64_t max_pages, xg_diag *d)
{
    return host_call(hv, domid, 0, max_pages_body, &max_pages, d, NULL);
}

static int address_size_body(struct sim_host *h, uint32_t domid, struct sim_domain *dom, void *arg,
                             xg_diag *d)
{
    unsigned width = *(const unsigned *)arg;
    struct xg_loc l = { XGF_DOMID(domid) };
    if (width != 4 && width != 8)
        return xg_diag_syserr(d, XG_E_HV, EINVAL, &l, "address size %u is not 4 or 8 bytes", width);
    if (width == dom->guest_width)
        return 0;
    bool started = false;
    for (unsigned v = 0; v < dom->nr_vcpus; v++)
        started |= dom->vcpu[v].initialised;
    if (started || dom->tot_pages)
        return xg_diag_syserr(
            d, XG_E_HV, EBUSY, &l,
            "domain %u already has memory or running vcpus: its width cannot change", domid);
    SIM_SET(h, dom->guest_width, width);
    SIM_SET(h, dom->pt_levels, width == 8 ? 4 : 3);
    /* The shared info page takes the other layout: mask every event channel again. */
    uint8_t *si = sim_frame_data(h, dom->shared_info_mfn);
    const struct xg_shinfo_layout *sl = xg_shinfo_layout(width);
    sim_journal(h, si, SIM_PAGE);
    memset(si, 0, SIM_PAGE);
    memset(si + sl->evtchn_mask, 0xff, (size_t)sl->evtchn_words * sl->word);
    return 0;
}

static int sim_set_address_size(xg_hv *hv, uint32_t domid, unsigned width, xg_diag *d)
{
    return host_call(hv, domid, 0, address_size_body, &width, d, NULL);
}

struct gnttab_args {
    uint64_t console_gfn, xenstore_gfn;
    uint32_t console_domid, xenstore_domid;
};

static int gnttab_seed_body(struct sim_host *h, uint32_t domid, struct sim_domain *dom, void *arg,
                            xg_diag *d)
{
    const struct gnttab_args *a = arg;
    if (a->console_domid != domid && a->console_gfn != ~0ULL)
        sim_trace(h, "d0 gnttab_seed d%u entry 0 (console): d%u may map frame %#llx", domid,
                  a->console_domid, (unsigned long long)a->console_gfn);
    if (a->xenstore_domid != domid && a->xenstore_gfn != ~0ULL)
        sim_trace(h, "d0 gnttab_seed d%u entry 1 (xenstore): d%u may map frame %#llx", domid,
                  a->xenstore_domid, (unsigned long long)a->xenstore_gfn);
    return 0;
}

/*
 * The simulated host has no grant tables and no xenstored: it records the
 * seeds in its trace, so tests see what a restore granted to whom.
 */
static int sim_gnttab_seed(xg_hv *hv, uint32_t domid, uint64_t console_gfn, uint64_t xenstore_gfn,
                           uint32_t console_domid, uint32_t xenstore_domid, xg_diag *d)
{
    struct gnttab_args a = { console_gfn, xenstore_gfn, console_domid, xenstore_domid };
    return host_call(hv, domid, 0, gnttab_seed_body, &a, d, NULL);
}

static int evtchn_body(struct sim_host *h, uint32_t domid, struct sim_domain *dom, void *arg,
                       xg_diag *d)
{
    *(int *)arg = (int)dom->next_port;
    SIM_SET(h, dom->next_port, dom->next_port + 1);
    return 0;
}

static int sim_evtchn(xg_hv *hv, uint32_t domid, uint32_t remote, int *port, xg_diag *d)
{
    return host_call(hv, domid, 0, evtchn_body, port, d, NULL);
}

/* A batch of frames: populate, depopulate. */
struct frames_args {
    unsigned n;
    const uint64_t *in;
    uint64_t *out;
};

static int populate_body(struct sim_host *h, uint32_t domid, struct sim_domain *dom, void *arg,
                         xg_diag *d)
{
    struct frames_args *a = arg;
    for (unsigned i = 0; i < a->n; i++) {
        int e = sim_populate_one(h, domid, a->in[i], &a->out[i]);
        if (e < 0) {
            /* Xen returns the extents done; those stay allocated. */
            struct xg_loc l = { XGF_DOMID(domid), XGF_PFN(a->in[i]) };
            return xg_diag_syserr(d, XG_E_HV, -e, &l,
                                  "populate_physmap stopped at pfn %#llx (%u of %u done)",
                                  (unsigned long long)a->in[i], i, a->n);
        }
    }
    return 0;
}

static int sim_populate(xg_hv *hv, uint32_t domid, unsigned n, const uint64_t *pfns, uint64_t *mfns,
                        xg_diag *d)
{
    struct frames_args a = { n, pfns, mfns };
    return host_call(hv, domid, 0, populate_body, &a, d, NULL);
}

static int depopulate_body(struct sim_host *h, uint32_t domid, struct sim_domain *dom, void *arg,
                           xg_diag *d)
{
    struct frames_args *a = arg;
    for (unsigned i = 0; i < a->n; i++) {
        int e = sim_release_frame(h, domid, a->in[i]);
        if (e < 0) {
            /* Xen returns the extents done; those stay freed. */
            struct xg_loc l = { XGF_DOMID(domid), XGF_MFN(a->in[i]) };
            return xg_diag_syserr(d, XG_E_HV, -e, &l,
                                  "decrease_reservation stopped at mfn %#llx (%u of %u done)",
                                  (unsigned long long)a->in[i], i, a->n);
        }
    }
    return 0;
}

static int sim_depopulate(xg_hv *hv, uint32_t domid, unsigned n, const uint64_t *mfns, xg_diag *d)
{
    struct frames_args a = { n, mfns, NULL };
    return host_call(hv, domid, 0, depopulate_body, &a, d, NULL);
}

struct mmu_args {
    const struct xg_mmu_update *req;
    const struct xg_mmuext_op *ops;
    unsigned n;
    unsigned *done;
};

static int mmu_update_body(struct sim_host *h, uint32_t domid, struct sim_domain *unused, void *arg,
                           xg_diag *d)
{
    struct mmu_args *a = arg;
    for (unsigned i = 0; i < a->n; i++) {
        const struct xg_mmu_update *r = &a->req[i];
        unsigned cmd = (unsigned)(r->ptr & 7);
        int e;
        if (cmd == XG_MMU_NORMAL_PT_UPDATE)
            e = sim_mmu_normal(h, domid, domid, r->ptr & ~7ULL, r->val);
        else if (cmd == XG_MMU_MACHPHYS_UPDATE)
            e = sim_mmu_machphys(h, domid, r->ptr >> 12, r->val);
        else
            e = -ENOSYS;
        if (e < 0) {
            struct xg_loc l = { XGF_DOMID(domid), XGF_MFN(r->ptr >> 12), XGF_ENTRY(r->val) };
            return xg_diag_syserr(d, XG_E_HV, -e, &l, "mmu_update request %u of %u refused", i,
                                  a->n);
        }
        *a->done = i + 1;
    }
    return 0;
}

static int sim_mmu_update(xg_hv *hv, uint32_t domid, const struct xg_mmu_update *req, unsigned n,
                          unsigned *done, xg_diag *d)
{
    *done = 0;
    /* The rules check each request's owner (pt_owner, pg_owner) as Xen does. */
    struct mmu_args a = { .req = req, .n = n, .done = done };
    return host_call(hv, domid, OP_ANY_DOMAIN, mmu_update_body, &a, d, NULL);
}

static int mmuext_body(struct sim_host *h, uint32_t domid, struct sim_domain *dom, void *arg,
                       xg_diag *d)
{
    static const char *const names[] = { "PIN_L1_TABLE", "PIN_L2_TABLE", "PIN_L3_TABLE",
                                         "PIN_L4_TABLE", "UNPIN_TABLE",  "NEW_BASEPTR" };
    struct mmu_args *a = arg;
    for (unsigned i = 0; i < a->n; i++) {
        int e;
        unsigned cmd = a->ops[i].cmd;
        uint64_t mfn = a->ops[i].mfn;
        if (cmd <= XG_MMUEXT_PIN_L4_TABLE)
            e = sim_pin(h, domid, cmd + 1, mfn);
        else if (cmd == XG_MMUEXT_UNPIN_TABLE)
            e = sim_unpin(h, domid, mfn);
        else if (cmd == XG_MMUEXT_NEW_BASEPTR)
            e = -EPERM; /* only for the calling domain's own vcpu */
        else
            e = -ENOSYS;
        const char *name = cmd < 6 ? names[cmd] : "?";
        sim_trace(h, "d0 mmuext %s mfn %llx of d%u -> %d", name, (unsigned long long)mfn, domid, e);
        if (e < 0) {
            struct xg_loc l = { XGF_DOMID(domid), XGF_MFN(mfn) };
            return xg_diag_syserr(d, XG_E_HV, -e, &l,
                                  "mmuext %s of mfn %#llx refused (op %u of %u)", name,
                                  (unsigned long long)mfn, i, a->n);
        }
        *a->done = i + 1;
    }
    return 0;
}

static int sim_mmuext(xg_hv *hv, uint32_t domid, const struct xg_mmuext_op *ops, unsigned n,
                      unsigned *done, xg_diag *d)
{
    *done = 0;
    struct mmu_args a = { .ops = ops, .n = n, .done = done };
    return host_call(hv, domid, 0, mmuext_body, &a, d, NULL);
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
    .domain_state = sim_domain_state,
    .vcpus_online = sim_vcpus_online,
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
