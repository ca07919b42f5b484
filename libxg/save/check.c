/*
 * save_check.c - the pre-flight check: without suspending anything, walk
 * the guest's live page tables and p2m and report everything that would
 * make its image fail to restore, all of it, not just the first.
 *
 * A running guest changes its tables while they are read: it forks,
 * exits, pins, unpins and frees page tables between the check's samples
 * (types first, then the tables, then the vcpus), so a finding computed
 * from those samples may mix two states of the guest that were each fine.
 * So, on a running guest, every finding is first a suspect:
 *
 *  1. Re-read: everything the finding involves is read again (the type of
 *     each frame, the holder's contents, the vcpu's context), twice, and
 *     the finding is recomputed from those fresh reads.  If both reads
 *     agree and the finding no longer holds, it changed while the guest
 *     ran: it is counted, not reported.
 *  2. Confirm: what still holds (or whose inputs never read the same
 *     twice) is read once more with the domain paused for a moment, a
 *     batch of suspects per pause (each holder mapped once per batch), so
 *     each suspect's inputs are one consistent state and no pause grows
 *     with their number; what holds then is an error.  No pause happens
 *     when every suspect is gone after step 1.
 *
 * On a paused or suspended guest the samples are already consistent, and
 * every finding is an error at once.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "save_private.h"

/* What a suspect involves, and so what must be read again to recompute it. */
enum suspect_kind {
    S_ENTRY,      /* entry `slot` of the table at `pfn` */
    S_UNMAPPABLE, /* the table at `pfn` could not be mapped read-only */
    S_XTAB,       /* Xen reports the frame of `pfn` as invalid */
    S_P2M,        /* the p2m entry of `pfn` names a frame the M2P does not give it */
    S_VCPU,       /* vcpu `vcpu`'s context does not decode */
    S_CR3,        /* vcpu's cr3 (`slot` 0) or user cr3 (`slot` 1) */
    S_GDT,        /* vcpu's GDT frame `g`; `pfn`/`slot`: an L1 entry that maps it writable, or ~0 */
};

/* What a finding says; V_NONE: nothing to report. */
enum verdict {
    V_NONE,
    V_SUPERPAGE,
    V_RW_TABLE,     /* an L1 maps a page table writable */
    V_RW_LINEAR,    /* a writable same-level (linear) entry */
    V_WRONG_TARGET, /* an upper-level entry to an ordinary page or a table of another level */
    V_FOREIGN, /* an entry to a frame that is not the guest's: a warning while the guest runs */
    V_UNMAPPABLE,
    V_XTAB,
    V_P2M,
    V_VCPU_BAD,
    V_NOT_GUEST, /* a vcpu's frame is not one of the guest's */
    V_ROOT_TYPE, /* a cr3 that is not a top-level table */
    V_GDT_TABLE,
    V_GDT_RW,
};

struct suspect {
    uint8_t kind;
    uint8_t vcpu;
    uint16_t slot;
    uint32_t g;
    uint64_t pfn;
};

/* One read of everything a suspect involves.  Zeroed first, so two reads compare with memcmp. */
struct seen {
    uint64_t mfn;    /* of pfn, from the p2m (~0: none, or the M2P disagrees) */
    uint32_t type;   /* of that frame (XTAB when none) */
    int32_t map_err; /* the holder could not be mapped: its errno */
    uint64_t pte;    /* the holder's entry at slot */
    uint8_t xen_l2;  /* the holder is a PAE guest's Xen L2 */
    uint8_t vcpu_ok;
    uint8_t p2m_bad;  /* S_P2M: the entry (mfn) disagrees with the M2P */
    uint8_t has_ref;  /* the vcpu names the frame (cr3 or GDT frame g exists) */
    uint64_t ref_mfn; /* the frame the finding is about: entry target, cr3, GDT frame */
    uint64_t ref_pfn; /* ~0 when it is not one of the guest's frames */
    uint32_t ref_type;
    const char *why; /* S_VCPU: why the context does not decode */
};

struct check {
    struct save_ctx *c;
    bool running;    /* findings are suspects until re-checked */
    uint32_t *types; /* per pfn, XTAB when absent */
    uint64_t *rw_by; /* per pfn: 1 + (L1 pfn << 9 | slot) of a writable mapping, 0: none */
    uint64_t tables;
    struct suspect *sus;
    size_t nsus, capsus;
    bool nomem;
};

/* Test hook (save_private.h): called between the check's phases. */
void (*xg__save_check_hook)(const char *phase, void *arg);
void *xg__save_check_hook_arg;

static void hook(const char *phase)
{
    if (xg__save_check_hook)
        xg__save_check_hook(phase, xg__save_check_hook_arg);
}

/* ------------------------------------------------------------ verdicts */

/* The finding about a table entry, from one read of the holder, the entry and its target. */
static enum verdict entry_verdict(const struct check *k, const struct suspect *s,
                                  const struct seen *r)
{
    const struct save_ctx *c = k->c;
    unsigned level = xg_pfinfo_level(r->type);
    uint64_t pte = r->pte;
    if (!level || r->map_err || !xg_pte_present(pte) ||
        !xg_pv_guest_slot(c->width, level, r->xen_l2, s->slot))
        return V_NONE;
    if (level > 1 && (pte & XG_PTE_PSE))
        return V_SUPERPAGE;
    if (r->ref_mfn == c->info.shared_info_mfn)
        return V_NONE; /* a note, given while scanning */
    if (r->ref_pfn == ~0ULL)
        return V_FOREIGN;
    unsigned tl = xg_pfinfo_level(r->ref_type);
    if (level == 1)
        return (pte & XG_PTE_RW) && tl ? V_RW_TABLE : V_NONE;
    if (tl == level - 1)
        return V_NONE;
    if (tl == level)
        return (pte & XG_PTE_RW) ? V_RW_LINEAR : V_NONE;
    return V_WRONG_TARGET;
}

static enum verdict verdict_of(const struct check *k, const struct suspect *s, const struct seen *r)
{
    const struct save_ctx *c = k->c;
    switch ((enum suspect_kind)s->kind) {
    case S_ENTRY:
        return entry_verdict(k, s, r);
    case S_UNMAPPABLE:
        return r->mfn != ~0ULL && xg_pfinfo_level(r->type) && r->map_err ? V_UNMAPPABLE : V_NONE;
    case S_XTAB:
        return r->mfn != ~0ULL && r->type == XG_PFINFO_XTAB ? V_XTAB : V_NONE;
    case S_P2M:
        return r->p2m_bad ? V_P2M : V_NONE;
    case S_VCPU:
        return r->vcpu_ok ? V_NONE : V_VCPU_BAD;
    case S_CR3:
        if (!r->vcpu_ok || !r->has_ref)
            return V_NONE;
        if (r->ref_pfn == ~0ULL)
            return V_NOT_GUEST;
        if (s->slot)
            return xg_pfinfo_level(r->ref_type) != 4 ? V_ROOT_TYPE : V_NONE;
        return (r->ref_type & XG_PFINFO_LTABTYPE_MASK) !=
                           ((uint32_t)c->levels << XG_PFINFO_SHIFT) ||
                       !xg_pfinfo_level(r->ref_type)
                   ? V_ROOT_TYPE
                   : V_NONE;
    case S_GDT:
        if (!r->vcpu_ok || !r->has_ref)
            return V_NONE;
        if (r->ref_pfn == ~0ULL)
            return V_NOT_GUEST;
        if (xg_pfinfo_level(r->ref_type))
            return V_GDT_TABLE;
        /* Writable: the L1 entry seen mapping it must still be an L1's writable entry to it. */
        if (s->pfn != ~0ULL && xg_pfinfo_level(r->type) == 1 && !r->map_err &&
            xg_pte_present(r->pte) && (r->pte & XG_PTE_RW) && xg_pte_frame(r->pte) == r->ref_mfn)
            return V_GDT_RW;
        return V_NONE;
    }
    return V_NONE;
}

/* ------------------------------------------------------------ reports */

static void report(struct check *k, const struct suspect *s, const struct seen *r, enum verdict v)
{
    struct save_ctx *c = k->c;
    unsigned long long pfn = s->pfn, tpfn = r->ref_pfn;
    unsigned level = xg_pfinfo_level(r->type), slot = s->slot, vc = s->vcpu;
    struct xg_loc el = { XGF_DOMID(c->domid),      XGF_PFN(s->pfn),   XGF_LEVEL(level),
                         XGF_SLOT(slot),           XGF_ENTRY(r->pte), XGF_REF_PFN(r->ref_pfn),
                         XGF_REF_TYPE(r->ref_type) };
    struct xg_loc vl = { XGF_DOMID(c->domid), XGF_VCPU(vc) };
    if (r->ref_pfn != ~0ULL) {
        vl.has_pfn = 1;
        vl.pfn = r->ref_pfn;
        vl.has_ref_type = 1;
        vl.ref_type = r->ref_type;
    }
    static const char *const what[] = { "cr3", "user cr3" };
    switch (v) {
    case V_NONE:
        return;
    case V_SUPERPAGE: {
        struct xg_pv_bad bad = { XG_PV_BAD_SUPERPAGE, slot, r->pte, xg_pte_frame(r->pte), ~0ULL };
        xg__save_explain_bad_entry(c, s->pfn, level, &bad, XG_SEV_ERROR);
        return;
    }
    case V_RW_TABLE:
        xg_diag_err(
            c->d, XG_E_GUEST, &el,
            "L1 table at pfn %#llx, slot %u, maps pfn %#llx writable, but it is an L%u table", pfn,
            slot, tpfn, xg_pfinfo_level(r->ref_type));
        xg_diag_xen_says(c->d,
                         "Bad type (saw %016llx != exp e000000000000000) for mfn %llx (pfn %llx)",
                         (unsigned long long)xg__save_nominal_type_info(r->ref_type),
                         (unsigned long long)r->ref_mfn, tpfn);
        return;
    case V_RW_LINEAR:
        xg_diag_err(c->d, XG_E_GUEST, &el,
                    "L%u table at pfn %#llx, slot %u, is a writable linear entry to pfn %#llx",
                    level, pfn, slot, tpfn);
        xg_diag_xen_says(c->d, "Attempt to create linear p.t. with write perms");
        return;
    case V_WRONG_TARGET:
        xg_diag_err(
            c->d, XG_E_GUEST, &el,
            "L%u table at pfn %#llx, slot %u, points to pfn %#llx, which is %s, not an L%u table",
            level, pfn, slot, tpfn,
            xg_pfinfo_level(r->ref_type) ? "a page table of another level" : "an ordinary page",
            level - 1);
        return;
    case V_FOREIGN: {
        /*
         * A running guest maps frames that are not its own for a while
         * (grant and foreign mappings); Xen's saver sends such a table
         * again later and fails only if the entry is still there once the
         * guest is paused.  So: a warning while it runs, an error after.
         */
        uint64_t m2p_pfn = ~0ULL;
        xg_pv_mfn_in_physmap(&c->pm, r->ref_mfn, &m2p_pfn);
        struct xg_pv_bad bad = { XG_PV_BAD_MFN, slot, r->pte, r->ref_mfn, m2p_pfn };
        xg__save_explain_bad_entry(c, s->pfn, level, &bad,
                                   k->running ? XG_SEV_WARNING : XG_SEV_ERROR);
        return;
    }
    case V_UNMAPPABLE:
        xg__save_explain_map_error(c, s->pfn, r->mfn, r->type, r->map_err, NULL, XG_SEV_ERROR);
        return;
    case V_XTAB: {
        struct xg_loc l = { XGF_DOMID(c->domid), XGF_PFN(s->pfn), XGF_MFN(r->mfn) };
        xg_diag_err(c->d, XG_E_GUEST, &l, "Xen reports pfn %#llx (mfn %#llx) as invalid (XTAB)",
                    pfn, (unsigned long long)r->mfn);
        return;
    }
    case V_P2M:
        xg__save_explain_p2m(c, s->pfn, r->mfn, XG_SEV_ERROR);
        return;
    case V_VCPU_BAD:
        xg_diag_err(c->d, XG_E_GUEST, &vl, "vcpu%u: %s", vc,
                    r->why ? r->why : "its context does not decode");
        return;
    case V_NOT_GUEST: {
        char frame[32];
        if (s->kind == S_GDT)
            snprintf(frame, sizeof(frame), "GDT frame %u", s->g);
        struct xg_loc l = { XGF_DOMID(c->domid), XGF_VCPU(vc), XGF_MFN(r->ref_mfn) };
        xg_diag_err(c->d, XG_E_GUEST, &l,
                    "vcpu%u's %s (mfn %#llx) is not one of the guest's frames", vc,
                    s->kind == S_GDT ? frame : what[slot & 1], (unsigned long long)r->ref_mfn);
        return;
    }
    case V_ROOT_TYPE:
        if (slot)
            xg_diag_err(c->d, XG_E_GUEST, &vl,
                        "vcpu%u's user cr3 is pfn %#llx, which is not an L4 table", vc, tpfn);
        else
            xg_diag_err(
                c->d, XG_E_GUEST, &vl,
                "vcpu%u's cr3 is pfn %#llx, which Xen reports as %s, not the L%u table a cr3 needs",
                vc, tpfn, xg_pfinfo_name(r->ref_type), c->levels);
        return;
    case V_GDT_TABLE:
        xg_diag_err(c->d, XG_E_GUEST, &vl, "vcpu%u's GDT frame %u (pfn %#llx) is a page table", vc,
                    s->g, tpfn);
        return;
    case V_GDT_RW:
        xg_diag_err(c->d, XG_E_GUEST, &vl,
                    "vcpu%u's GDT frame %u (pfn %#llx) is mapped writable "
                    "by the guest (L1 table at pfn %#llx, slot %u)",
                    vc, s->g, tpfn, pfn, slot);
        return;
    }
}

/* A finding from the samples: an error at once on a paused guest, a suspect on a running one. */
static void found(struct check *k, const struct suspect *s, const struct seen *r)
{
    enum verdict v = verdict_of(k, s, r);
    if (v == V_NONE)
        return;
    if (!k->running) {
        report(k, s, r, v);
        return;
    }
    if (k->nsus == k->capsus) {
        size_t cap = k->capsus ? 2 * k->capsus : 64;
        struct suspect *n = realloc(k->sus, cap * sizeof(*n));
        if (!n) {
            k->nomem = true;
            return;
        }
        k->sus = n;
        k->capsus = cap;
    }
    k->sus[k->nsus++] = *s;
}

/* ------------------------------------------------------------ the samples */

static void scan_entry(struct check *k, uint64_t pfn, unsigned level, bool xen_l2, unsigned slot,
                       uint64_t pte)
{
    struct save_ctx *c = k->c;
    uint64_t mfn = xg_pte_frame(pte), tpfn = ~0ULL;
    struct suspect s = { .kind = S_ENTRY, .slot = (uint16_t)slot, .pfn = pfn };
    struct seen r = { .mfn = xg_pv_p2m_get(&c->pm, pfn),
                      .type = k->types[pfn],
                      .pte = pte,
                      .xen_l2 = xen_l2,
                      .ref_mfn = mfn,
                      .ref_pfn = ~0ULL,
                      .ref_type = XG_PFINFO_XTAB };
    if (level > 1 && (pte & XG_PTE_PSE)) {
        found(k, &s, &r);
        return;
    }
    if (mfn == c->info.shared_info_mfn) {
        /* Running guests map shared info; Linux and NetBSD unmap it before they suspend. */
        struct xg_loc l = { XGF_DOMID(c->domid), XGF_PFN(pfn),   XGF_LEVEL(level),
                            XGF_SLOT(slot),      XGF_ENTRY(pte), XGF_MFN(mfn) };
        xg_diag_note(c->d, &l,
                     "L%u table at pfn %#llx maps the shared info page (slot %u); the "
                     "guest must unmap it before it suspends, or the save will fail",
                     level, (unsigned long long)pfn, slot);
        return;
    }
    if (!xg_pv_mfn_in_physmap(&c->pm, mfn, &tpfn)) {
        found(k, &s, &r); /* a frame not the guest's (r.ref_pfn ~0) */
        return;
    }
    r.ref_pfn = tpfn;
    r.ref_type = k->types[tpfn];
    if (level == 1 && (pte & XG_PTE_RW) && !k->rw_by[tpfn])
        k->rw_by[tpfn] = 1 + (pfn << 9 | slot);
    found(k, &s, &r);
}

static int scan_tables(struct check *k)
{
    struct save_ctx *c = k->c;
    uint64_t *pfns = malloc(XG_MAX_BATCH * sizeof(uint64_t)),
             *mfns = malloc(XG_MAX_BATCH * sizeof(uint64_t));
    void **pages = malloc(XG_MAX_BATCH * sizeof(void *));
    int *errs = malloc(XG_MAX_BATCH * sizeof(int));
    int rc = 0;
    if (!pfns || !mfns || !pages || !errs) {
        rc = xg_diag_err(c->d, XG_E_NOMEM, NULL, "out of memory");
        goto out;
    }
    uint64_t pfn = 0;
    while (pfn < c->nr_pfns) {
        unsigned n = 0;
        for (; pfn < c->nr_pfns && n < XG_MAX_BATCH; pfn++) {
            if (!xg_pfinfo_level(k->types[pfn]))
                continue;
            pfns[n] = pfn;
            mfns[n++] = xg_pv_p2m_get(&c->pm, pfn);
        }
        if (!n)
            break;
        xg_hv_mapping *m = NULL;
        if ((rc = xg_hv_map(c->hv, c->domid, PROT_READ, n, mfns, pages, errs, &m, c->d)) < 0)
            goto out;
        for (unsigned i = 0; i < n; i++) {
            uint32_t t = k->types[pfns[i]];
            k->tables++;
            if (!pages[i]) {
                struct suspect s = { .kind = S_UNMAPPABLE, .pfn = pfns[i] };
                struct seen r = { .mfn = mfns[i],
                                  .type = t,
                                  .map_err = errs[i] ? errs[i] : EINVAL };
                found(k, &s, &r);
                continue;
            }
            unsigned level = xg_pfinfo_level(t);
            const uint64_t *e = pages[i];
            bool xen_l2 = c->width == 4 && level == 2 && xg_pv_is_xen_l2(e, c->compat_mfn0);
            for (unsigned s = 0; s < XG_PTES_PER_TABLE; s++)
                if (xg_pte_present(e[s]) && xg_pv_guest_slot(c->width, level, xen_l2, s))
                    scan_entry(k, pfns[i], level, xen_l2, s, e[s]);
        }
        xg_hv_unmap(c->hv, m);
        c->pass_done = pfn;
        xg__save_progress(c, "check");
    }
out:
    free(pfns);
    free(mfns);
    free(pages);
    free(errs);
    return rc;
}

static void scan_vcpu_frame(struct check *k, struct suspect *s, uint64_t mfn)
{
    struct seen r = { .vcpu_ok = 1,
                      .has_ref = 1,
                      .ref_mfn = mfn,
                      .ref_pfn = xg__save_guest_pfn(k->c, mfn),
                      .ref_type = XG_PFINFO_XTAB,
                      .mfn = ~0ULL };
    if (r.ref_pfn != ~0ULL)
        r.ref_type = k->types[r.ref_pfn];
    if (s->kind == S_GDT && r.ref_pfn != ~0ULL && k->rw_by[r.ref_pfn]) {
        /* The L1 entry the scan saw mapping it writable: read from the L1 again on a re-check. */
        uint64_t by = k->rw_by[r.ref_pfn] - 1;
        s->pfn = by >> 9;
        s->slot = (uint16_t)(by & 511);
        r.type = k->types[s->pfn];
        r.pte = (mfn << 12) | XG_PTE_RW | 1;
    }
    found(k, s, &r);
}

static int scan_vcpus(struct check *k)
{
    struct save_ctx *c = k->c;
    uint8_t ctx[XG_VCPU_CTX_MAX];
    unsigned nr_vcpus = c->info.nr_vcpus < XG_HV_MAX_VCPUS ? c->info.nr_vcpus : XG_HV_MAX_VCPUS;
    uint64_t online;
    int orc = xg_hv_vcpus_online(c->hv, c->domid, nr_vcpus, &online, c->d);
    if (orc < 0)
        return orc;
    for (unsigned v = 0; v < nr_vcpus; v++) {
        if (!(online & (1ULL << v)))
            continue;
        struct xg_pv_vcpu_frames f;
        const char *why = NULL;
        int rc = xg__save_vcpu_read(c, v, ctx, &f, &why);
        if (rc < 0)
            return rc;
        if (rc > 0) {
            struct suspect s = { .kind = S_VCPU, .vcpu = (uint8_t)v };
            struct seen r = { .why = why };
            found(k, &s, &r);
            continue;
        }
        struct suspect s = { .kind = S_CR3, .vcpu = (uint8_t)v, .pfn = ~0ULL };
        scan_vcpu_frame(k, &s, f.cr3);
        uint64_t pfn = xg__save_guest_pfn(c, f.cr3);
        if (pfn != ~0ULL && xg_pfinfo_level(k->types[pfn]) == c->levels &&
            !xg_pfinfo_pinned(k->types[pfn])) {
            struct xg_loc l = { XGF_DOMID(c->domid), XGF_VCPU(v), XGF_PFN(pfn),
                                XGF_REF_TYPE(k->types[pfn]) };
            xg_diag_warn(c->d, &l,
                         "vcpu%u's cr3 (pfn %#llx) is not pinned; the restore "
                         "validates it through the vcpu context, but guests "
                         "normally pin every top-level table before they suspend",
                         v, (unsigned long long)pfn);
        }
        if (f.has_user) {
            s = (struct suspect){ .kind = S_CR3, .vcpu = (uint8_t)v, .slot = 1, .pfn = ~0ULL };
            scan_vcpu_frame(k, &s, f.user);
        }
        for (unsigned g = 0; g < f.nr_gdt; g++) {
            s = (struct suspect){ .kind = S_GDT, .vcpu = (uint8_t)v, .g = g, .pfn = ~0ULL };
            scan_vcpu_frame(k, &s, f.gdt[g]);
        }
    }
    return 0;
}

/* A running guest's p2m entries, each bad one a suspect (it may be mid-balloon). */
static uint64_t check_p2m(struct check *k)
{
    uint64_t bad = 0;
    for (uint64_t pfn = 0; pfn <= k->c->max_pfn; pfn++) {
        struct suspect s = { .kind = S_P2M, .pfn = pfn };
        struct seen r = { 0 };
        if (!xg__save_p2m_bad(k->c, pfn, &r.mfn))
            continue;
        r.p2m_bad = 1;
        bad++;
        found(k, &s, &r);
    }
    return bad;
}

static int sample_types(struct check *k)
{
    struct save_ctx *c = k->c;
    uint64_t *mfns = malloc(XG_MAX_BATCH * sizeof(uint64_t)),
             *pfns = malloc(XG_MAX_BATCH * sizeof(uint64_t));
    uint32_t *t = malloc(XG_MAX_BATCH * sizeof(uint32_t));
    int rc = 0;
    if (!mfns || !pfns || !t) {
        rc = xg_diag_err(c->d, XG_E_NOMEM, NULL, "out of memory");
        goto out;
    }
    c->pass_total = c->nr_pfns;
    for (uint64_t pfn = 0; pfn < c->nr_pfns;) {
        unsigned n = 0;
        for (; pfn < c->nr_pfns && n < XG_MAX_BATCH; pfn++) {
            uint64_t mfn = xg_pv_p2m_get(&c->pm, pfn);
            k->types[pfn] = XG_PFINFO_XTAB;
            if (mfn != ~0ULL && mfn < c->nr_mfns && c->m2p[mfn] == pfn) {
                pfns[n] = pfn;
                mfns[n++] = mfn;
            }
        }
        if (n && (rc = xg_hv_page_types(c->hv, c->domid, n, mfns, t, c->d)) < 0)
            goto out;
        for (unsigned i = 0; i < n; i++) {
            k->types[pfns[i]] = t[i];
            if (t[i] == XG_PFINFO_XTAB) {
                struct suspect s = { .kind = S_XTAB, .pfn = pfns[i] };
                struct seen r = { .mfn = mfns[i], .type = t[i] };
                found(k, &s, &r);
            } else {
                c->st->by_type[t[i] >> XG_PFINFO_SHIFT]++;
                if (xg_pfinfo_pinned(t[i]))
                    c->st->pinned++;
            }
        }
    }
out:
    free(mfns);
    free(pfns);
    free(t);
    return rc;
}

/* ------------------------------------------------------------ fresh reads */

/* The p2m's frame for pfn, ~0 unless the M2P agrees. */
static uint64_t guest_mfn(const struct save_ctx *c, uint64_t pfn)
{
    if (pfn > c->max_pfn)
        return ~0ULL;
    uint64_t mfn = xg_pv_p2m_get(&c->pm, pfn);
    return mfn != ~0ULL && mfn < c->nr_mfns && c->m2p[mfn] == pfn ? mfn : ~0ULL;
}

/* Types of n frames, any n (~0 frames read as XTAB). */
static int read_types(struct check *k, size_t n, const uint64_t *mfns, uint32_t *types)
{
    struct save_ctx *c = k->c;
    uint64_t batch[XG_MAX_BATCH];
    uint32_t t[XG_MAX_BATCH];
    size_t idx[XG_MAX_BATCH];
    for (size_t i = 0; i < n;) {
        unsigned m = 0;
        for (; i < n && m < XG_MAX_BATCH; i++) {
            types[i] = XG_PFINFO_XTAB;
            if (mfns[i] != ~0ULL) {
                idx[m] = i;
                batch[m++] = mfns[i];
            }
        }
        int rc = m ? xg_hv_page_types(c->hv, c->domid, m, batch, t, c->d) : 0;
        if (rc < 0)
            return rc;
        for (unsigned j = 0; j < m; j++)
            types[idx[j]] = t[j];
    }
    return 0;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/*
 * Map the tables among n suspects' holders, each table once per batch however many
 * suspects it holds, and read the entry (or the error) each suspect involves.
 */
static int read_holders(struct check *k, const struct suspect *s, size_t n, struct seen *r)
{
    struct save_ctx *c = k->c;
    uint64_t want[XG_MAX_BATCH], mfns[XG_MAX_BATCH];
    void *pages[XG_MAX_BATCH];
    int errs[XG_MAX_BATCH];
    size_t idx[XG_MAX_BATCH];
    for (size_t i = 0; i < n;) {
        unsigned m = 0;
        for (; i < n && m < XG_MAX_BATCH; i++) {
            bool holder = s[i].kind == S_ENTRY || s[i].kind == S_UNMAPPABLE ||
                          (s[i].kind == S_GDT && s[i].pfn != ~0ULL);
            if (holder && r[i].mfn != ~0ULL && xg_pfinfo_level(r[i].type)) {
                idx[m] = i;
                want[m++] = r[i].mfn;
            }
        }
        if (!m)
            continue;
        /* The distinct tables, sorted: each suspect finds its own by a binary search. */
        memcpy(mfns, want, m * sizeof(uint64_t));
        qsort(mfns, m, sizeof(uint64_t), cmp_u64);
        unsigned u = 0;
        for (unsigned j = 0; j < m; j++)
            if (!u || mfns[u - 1] != mfns[j])
                mfns[u++] = mfns[j];
        xg_hv_mapping *map = NULL;
        int rc = xg_hv_map(c->hv, c->domid, PROT_READ, u, mfns, pages, errs, &map, c->d);
        if (rc < 0)
            return rc;
        for (unsigned j = 0; j < m; j++) {
            const uint64_t *at = bsearch(&want[j], mfns, u, sizeof(uint64_t), cmp_u64);
            size_t t = (size_t)(at - mfns);
            struct seen *x = &r[idx[j]];
            const uint64_t *e = pages[t];
            if (!e) {
                x->map_err = errs[t] ? errs[t] : EINVAL;
                continue;
            }
            x->pte = e[s[idx[j]].slot];
            x->xen_l2 = c->width == 4 && xg_pfinfo_level(x->type) == 2 &&
                        xg_pv_is_xen_l2(e, c->compat_mfn0);
        }
        xg_hv_unmap(c->hv, map);
    }
    return 0;
}

/*
 * One read of everything n suspects involve: vcpu contexts, the holders'
 * types, their entries, then the types of what the entries and vcpus name.
 */
static int read_seen(struct check *k, const struct suspect *s, size_t n, struct seen *r)
{
    struct save_ctx *c = k->c;
    uint64_t *mfns = malloc((n ? n : 1) * sizeof(uint64_t));
    uint32_t *types = malloc((n ? n : 1) * sizeof(uint32_t));
    int rc = 0;
    if (!mfns || !types) {
        rc = xg_diag_err(c->d, XG_E_NOMEM, NULL, "out of memory re-checking %zu findings", n);
        goto out;
    }
    memset(r, 0, n * sizeof(*r));
    /* vcpus first, each read once. */
    uint8_t ctx[XG_VCPU_CTX_MAX];
    for (unsigned v = 0; v < 64; v++) {
        bool needed = false;
        for (size_t i = 0; i < n && !needed; i++)
            needed = s[i].kind >= S_VCPU && s[i].vcpu == v;
        if (!needed)
            continue;
        struct xg_pv_vcpu_frames f;
        const char *why = NULL;
        int vrc = xg__save_vcpu_read(c, v, ctx, &f, &why);
        if (vrc < 0) {
            rc = vrc;
            goto out;
        }
        bool ok = vrc == 0;
        for (size_t i = 0; i < n; i++) {
            if (s[i].kind < S_VCPU || s[i].vcpu != v)
                continue;
            r[i].vcpu_ok = ok;
            r[i].why = ok ? NULL : why;
            if (!ok)
                continue;
            if (s[i].kind == S_CR3 && (!s[i].slot || f.has_user)) {
                r[i].has_ref = 1;
                r[i].ref_mfn = s[i].slot ? f.user : f.cr3;
            } else if (s[i].kind == S_GDT && s[i].g < f.nr_gdt) {
                r[i].has_ref = 1;
                r[i].ref_mfn = f.gdt[s[i].g];
            }
        }
    }
    /* The holders' (or frames') types, then their contents. */
    for (size_t i = 0; i < n; i++) {
        if (s[i].kind == S_P2M)
            r[i].p2m_bad = xg__save_p2m_bad(c, s[i].pfn, &r[i].ref_mfn);
        bool frame = s[i].pfn != ~0ULL && s[i].kind != S_VCPU && s[i].kind != S_CR3 &&
                     s[i].kind != S_P2M;
        mfns[i] = frame ? guest_mfn(c, s[i].pfn) : ~0ULL;
    }
    if ((rc = read_types(k, n, mfns, types)) < 0)
        goto out;
    for (size_t i = 0; i < n; i++) {
        r[i].mfn = s[i].kind == S_P2M ? r[i].ref_mfn : mfns[i];
        r[i].type = types[i];
    }
    if ((rc = read_holders(k, s, n, r)) < 0)
        goto out;
    /* What the entries and the vcpus name. */
    for (size_t i = 0; i < n; i++) {
        if (s[i].kind == S_ENTRY && !r[i].map_err)
            r[i].ref_mfn = xg_pte_frame(r[i].pte);
        bool named = s[i].kind == S_ENTRY || r[i].has_ref;
        r[i].ref_pfn = named ? xg__save_guest_pfn(c, r[i].ref_mfn) : ~0ULL;
        mfns[i] = r[i].ref_pfn != ~0ULL ? guest_mfn(c, r[i].ref_pfn) : ~0ULL;
    }
    if ((rc = read_types(k, n, mfns, types)) < 0)
        goto out;
    for (size_t i = 0; i < n; i++)
        r[i].ref_type = types[i];
out:
    free(mfns);
    free(types);
    return rc;
}

/* ------------------------------------------------------------ the re-check */

#define RECHECK_ROUNDS 3
#define CONFIRM_BATCH 256   /* suspects re-read in one pause, to begin with */
#define PAUSE_BUDGET_MS 2.0 /* a pause longer than this halves the next batch */

/*
 * Re-read the suspects of a running guest; report what holds with the
 * guest paused for a moment, count what changed, say so in one line.
 */
static int recheck(struct check *k)
{
    struct save_ctx *c = k->c;
    size_t n = k->nsus, changed = 0, confirm = 0;
    if (!n)
        return 0;
    struct seen *r1 = malloc(n * sizeof(*r1)), *r2 = malloc(n * sizeof(*r2));
    struct suspect *left = malloc(n * sizeof(*left));
    int rc = 0;
    bool paused = false;
    if (!r1 || !r2 || !left) {
        rc = xg_diag_err(c->d, XG_E_NOMEM, NULL, "out of memory re-checking %zu findings", n);
        goto out;
    }
    memcpy(left, k->sus, n * sizeof(*left));
    size_t nleft = n;
    hook("recheck");
    /* 1. Two reads in a row; a suspect whose inputs read the same twice is decided by them. */
    for (unsigned round = 0; round < RECHECK_ROUNDS && nleft; round++) {
        if ((rc = read_seen(k, left, nleft, r1)) < 0 || (rc = read_seen(k, left, nleft, r2)) < 0)
            goto out;
        size_t keep = 0;
        for (size_t i = 0; i < nleft; i++) {
            bool stable = memcmp(&r1[i], &r2[i], sizeof(r1[i])) == 0;
            enum verdict v = verdict_of(k, &left[i], &r2[i]);
            if (stable && v == V_NONE)
                changed++;
            else if (stable && v == V_FOREIGN)
                report(k, &left[i], &r2[i],
                       v); /* a warning while the guest runs: no pause for it */
            else if (stable)
                k->sus[confirm++] = left[i]; /* holds on a stable read: confirm it */
            else
                left[keep++] = left[i]; /* read differently twice: try again */
        }
        nleft = keep;
    }
    for (size_t i = 0; i < nleft; i++)
        k->sus[confirm++] = left[i];
    /*
     * 2. What still holds, read once more with the guest paused: one consistent state for
     * each suspect.  A batch of suspects per pause, so no pause grows with their number;
     * a pause over the budget halves the next batch.
     */
    double pause_ms = 0; /* the longest pause */
    unsigned pauses = 0;
    size_t persist = 0;
    if (confirm) {
        hook("confirm");
        size_t batch = CONFIRM_BATCH;
        for (size_t at = 0; at < confirm;) {
            size_t m = XG_MIN(batch, confirm - at);
            double t0 = xg__now();
            if ((rc = xg_hv_pause(c->hv, c->domid, c->d)) < 0)
                goto out;
            paused = true;
            rc = read_seen(k, k->sus + at, m, r1 + at);
            int urc = xg_hv_unpause(c->hv, c->domid, c->d);
            paused = false;
            double ms = (xg__now() - t0) * 1e3;
            if (rc < 0 || (rc = urc) < 0)
                goto out;
            pauses++;
            pause_ms = ms > pause_ms ? ms : pause_ms;
            at += m;
            if (ms > PAUSE_BUDGET_MS && batch > 1)
                batch /= 2;
        }
        c->st->check_pause_ms = pause_ms;
        xg__save_log(c,
                     "pre-flight check: domain %u paused for %.3f ms to "
                     "confirm %zu findings (the longest of %u pauses)",
                     c->domid, pause_ms, confirm, pauses);
        for (size_t i = 0; i < confirm; i++) {
            enum verdict v = verdict_of(k, &k->sus[i], &r1[i]);
            if (v == V_NONE) {
                changed++;
            } else {
                persist++;
                report(k, &k->sus[i], &r1[i], v);
            }
        }
    }
    c->st->check_suspects = n;
    c->st->check_changed = changed;
    if (changed) {
        struct xg_loc l = { XGF_DOMID(c->domid) };
        if (persist)
            xg_diag_note(c->d, &l,
                         "%zu findings changed while the guest ran; re-checked, they no longer "
                         "hold (%zu others persisted, confirmed with the guest paused for %.2f ms)",
                         changed, persist, pause_ms);
        else
            xg_diag_note(c->d, &l,
                         "%zu findings changed while the guest ran; re-checked, none persists",
                         changed);
    }
out:
    if (paused)
        xg_hv_unpause(c->hv, c->domid, NULL);
    free(r1);
    free(r2);
    free(left);
    return rc;
}

int xg__save_preflight(struct save_ctx *c)
{
    size_t errors_before = xg_diag_total(c->d, XG_SEV_ERROR);
    struct check k = { .c = c, .running = !c->info.paused && !c->info.shutdown };
    k.types = malloc((c->nr_pfns ? c->nr_pfns : 1) * sizeof(uint32_t));
    k.rw_by = calloc(c->nr_pfns ? c->nr_pfns : 1, sizeof(uint64_t));
    int rc = 0;
    if (!k.types || !k.rw_by) {
        rc = xg_diag_err(c->d, XG_E_NOMEM, NULL, "out of memory");
        goto out;
    }
    uint64_t bad_p2m = k.running ? check_p2m(&k) : xg__save_check_p2m(c, XG_SEV_ERROR);
    if ((rc = sample_types(&k)) < 0)
        goto out;
    hook("types");
    if ((rc = scan_tables(&k)) < 0)
        goto out;
    hook("tables");
    if ((rc = scan_vcpus(&k)) < 0)
        goto out;
    if (k.nomem) {
        rc = xg_diag_err(c->d, XG_E_NOMEM, NULL, "out of memory keeping the check's findings");
        goto out;
    }
    if ((rc = recheck(&k)) < 0)
        goto out;
    /* Every read went through c->pm: a guest that rebuilt its p2m meanwhile was checked
     * against stale frames, so the check says so rather than trust them (as the save does). */
    if (k.running && (rc = xg__save_check_p2m_generation(c)) < 0)
        goto out;
    size_t errors = xg_diag_total(c->d, XG_SEV_ERROR) - errors_before;
    xg__save_log(c,
                 "pre-flight check of domain %u: %llu pfns, %llu page "
                 "tables, %llu bad p2m entries, %zu problems",
                 c->domid, (unsigned long long)c->nr_pfns, (unsigned long long)k.tables,
                 (unsigned long long)bad_p2m, errors);
    rc = errors ? XG_E_GUEST : 0;
out:
    free(k.types);
    free(k.rw_by);
    free(k.sus);
    return rc;
}
