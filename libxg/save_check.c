/*
 * save_check.c - the pre-flight check: without suspending anything, walk
 * the guest's live page tables and p2m and report everything that would
 * make its image fail to restore, all of it, not just the first.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "save_private.h"

struct check {
    struct save_ctx *c;
    uint32_t *types;            /* per pfn, XTAB when absent */
    unsigned long *rw_mapped;   /* pfns some L1 table maps writable */
    uint64_t tables, problems;
};

static uint64_t nominal_type_info(uint32_t t)
{
    /* What Xen's type_info of such a live table looks like: type, validated, pinned, count 1. */
    return ((uint64_t)xg_pfinfo_level(t) << 61) | (1ULL << 58) | (xg_pfinfo_pinned(t) ? 1ULL << 59 : 0) | 1;
}

static void check_entry(struct check *k, uint64_t pfn, unsigned level, unsigned slot, uint64_t pte)
{
    struct save_ctx *c = k->c;
    uint64_t mfn = xg_pte_frame(pte), tpfn = ~0ULL;
    if (level > 1 && (pte & XG_PTE_PSE)) {
        struct xg_pv_bad bad = { XG_PV_BAD_SUPERPAGE, slot, pte, mfn, ~0ULL };
        xg__save_explain_bad_entry(c, pfn, level, &bad, XG_SEV_ERROR);
        return;
    }
    if (mfn == c->info.shared_info_mfn) {
        /* Running guests map shared info; Linux and NetBSD unmap it before they suspend. */
        struct xg_loc l = { XGF_DOMID(c->domid), XGF_PFN(pfn), XGF_LEVEL(level), XGF_SLOT(slot), XGF_ENTRY(pte),
                            XGF_MFN(mfn) };
        xg_diag_note(c->d, &l,
                     "L%u table at pfn %#llx maps the shared info page (slot %u); the guest must unmap it before it "
                     "suspends, or the save will fail", level, (unsigned long long)pfn, slot);
        return;
    }
    if (!xg_pv_mfn_in_physmap(&c->pm, mfn, &tpfn)) {
        /*
         * A running guest maps frames that are not its own for a while
         * (grant and foreign mappings); Xen's saver sends such a table
         * again later and fails only if the entry is still there once the
         * guest is paused.  So: a warning while it runs, an error after.
         */
        struct xg_pv_bad bad = { XG_PV_BAD_MFN, slot, pte, mfn, tpfn };
        bool running = !c->info.paused && !c->info.shutdown;
        xg__save_explain_bad_entry(c, pfn, level, &bad, running ? XG_SEV_WARNING : XG_SEV_ERROR);
        return;
    }
    uint32_t tt = k->types[tpfn];
    unsigned tl = xg_pfinfo_level(tt);
    struct xg_loc l = { XGF_DOMID(c->domid), XGF_PFN(pfn), XGF_LEVEL(level), XGF_SLOT(slot), XGF_ENTRY(pte),
                        XGF_REF_PFN(tpfn), XGF_REF_TYPE(tt) };
    if (level == 1) {
        if (pte & XG_PTE_RW) {
            xg__set_bit(k->rw_mapped, tpfn);
            if (tl) {
                xg_diag_err(c->d, XG_E_GUEST, &l, "L1 table at pfn %#llx, slot %u, maps pfn %#llx writable, but it is an L%u table",
                            (unsigned long long)pfn, slot, (unsigned long long)tpfn, tl);
                xg_diag_xen_says(c->d, "Bad type (saw %016llx != exp e000000000000000) for mfn %llx (pfn %llx)",
                                 (unsigned long long)nominal_type_info(tt), (unsigned long long)mfn,
                                 (unsigned long long)tpfn);
            }
        }
        return;
    }
    if (tl == level - 1)
        return;
    if (tl == level) {
        if (pte & XG_PTE_RW) {
            xg_diag_err(c->d, XG_E_GUEST, &l, "L%u table at pfn %#llx, slot %u, is a writable linear entry to pfn %#llx",
                        level, (unsigned long long)pfn, slot, (unsigned long long)tpfn);
            xg_diag_xen_says(c->d, "Attempt to create linear p.t. with write perms");
        }
        return;
    }
    xg_diag_err(c->d, XG_E_GUEST, &l, "L%u table at pfn %#llx, slot %u, points to pfn %#llx, which is %s, not an L%u table",
                level, (unsigned long long)pfn, slot, (unsigned long long)tpfn,
                tl ? "a page table of another level" : "an ordinary page", level - 1);
}

static int check_tables(struct check *k)
{
    struct save_ctx *c = k->c;
    uint64_t *pfns = malloc(XG_MAX_BATCH * sizeof(uint64_t)), *mfns = malloc(XG_MAX_BATCH * sizeof(uint64_t));
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
                xg__save_explain_map_error(c, pfns[i], mfns[i], t, errs[i], NULL, XG_SEV_ERROR);
                continue;
            }
            unsigned level = xg_pfinfo_level(t);
            const uint64_t *e = pages[i];
            bool xen_l2 = c->width == 4 && level == 2 && xg_pv_is_xen_l2(e, c->compat_mfn0);
            for (unsigned s = 0; s < XG_PTES_PER_TABLE; s++)
                if (xg_pte_present(e[s]) && xg_pv_guest_slot(c->width, level, xen_l2, s))
                    check_entry(k, pfns[i], level, s, e[s]);
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

static void check_frame(struct check *k, unsigned vcpu, const char *what, uint64_t mfn, uint64_t *pfn_out)
{
    struct save_ctx *c = k->c;
    uint64_t pfn = ~0ULL;
    *pfn_out = ~0ULL;
    if (!xg_pv_mfn_in_physmap(&c->pm, mfn, &pfn)) {
        struct xg_loc l = { XGF_DOMID(c->domid), XGF_VCPU(vcpu), XGF_MFN(mfn) };
        xg_diag_err(c->d, XG_E_GUEST, &l, "vcpu%u's %s (mfn %#llx) is not one of the guest's frames", vcpu, what,
                    (unsigned long long)mfn);
        return;
    }
    *pfn_out = pfn;
}

static int check_vcpus(struct check *k)
{
    struct save_ctx *c = k->c;
    uint8_t ctx[XG_VCPU_CTX_MAX];
    size_t size = xg_vcpu_layout(c->width)->size;
    uint32_t top = (uint32_t)c->levels << XG_PFINFO_SHIFT;
    for (unsigned v = 0; v < c->info.nr_vcpus && v < 64; v++) {
        if (!(c->info.vcpu_online & (1ULL << v)))
            continue;
        int rc = xg_hv_vcpu_get(c->hv, c->domid, v, ctx, size, c->d);
        if (rc < 0)
            return rc;
        struct xg_pv_vcpu_frames f;
        const char *why;
        struct xg_loc vl = { XGF_DOMID(c->domid), XGF_VCPU(v) };
        if (xg_pv_vcpu_frames(ctx, c->width, v, false, &f, &why) < 0) {
            xg_diag_err(c->d, XG_E_GUEST, &vl, "vcpu%u: %s", v, why);
            continue;
        }
        uint64_t pfn;
        check_frame(k, v, "cr3", f.cr3, &pfn);
        if (pfn != ~0ULL) {
            uint32_t t = k->types[pfn];
            struct xg_loc l = { XGF_DOMID(c->domid), XGF_VCPU(v), XGF_PFN(pfn), XGF_REF_TYPE(t) };
            if ((t & XG_PFINFO_LTABTYPE_MASK) != top || xg_pfinfo_level(t) == 0)
                xg_diag_err(c->d, XG_E_GUEST, &l, "vcpu%u's cr3 is pfn %#llx, which Xen reports as %s, not the L%u table a cr3 needs",
                            v, (unsigned long long)pfn, xg_pfinfo_name(t), c->levels);
            else if (!xg_pfinfo_pinned(t))
                xg_diag_warn(c->d, &l,
                             "vcpu%u's cr3 (pfn %#llx) is not pinned; the restore validates it through the vcpu context, "
                             "but guests normally pin every top-level table before they suspend",
                             v, (unsigned long long)pfn);
        }
        if (f.has_user) {
            check_frame(k, v, "user cr3", f.user, &pfn);
            if (pfn != ~0ULL && xg_pfinfo_level(k->types[pfn]) != 4) {
                struct xg_loc l = { XGF_DOMID(c->domid), XGF_VCPU(v), XGF_PFN(pfn), XGF_REF_TYPE(k->types[pfn]) };
                xg_diag_err(c->d, XG_E_GUEST, &l, "vcpu%u's user cr3 is pfn %#llx, which is not an L4 table", v,
                            (unsigned long long)pfn);
            }
        }
        for (unsigned g = 0; g < f.nr_gdt; g++) {
            check_frame(k, v, "GDT frame", f.gdt[g], &pfn);
            if (pfn == ~0ULL)
                continue;
            struct xg_loc l = { XGF_DOMID(c->domid), XGF_VCPU(v), XGF_PFN(pfn), XGF_REF_TYPE(k->types[pfn]) };
            if (xg_pfinfo_level(k->types[pfn]))
                xg_diag_err(c->d, XG_E_GUEST, &l, "vcpu%u's GDT frame %u (pfn %#llx) is a page table", v, g,
                            (unsigned long long)pfn);
            else if (xg__test_bit(k->rw_mapped, pfn))
                xg_diag_err(c->d, XG_E_GUEST, &l, "vcpu%u's GDT frame %u (pfn %#llx) is mapped writable by the guest",
                            v, g, (unsigned long long)pfn);
        }
    }
    return 0;
}

int xg__save_preflight(struct save_ctx *c)
{
    size_t errors_before = xg_diag_total(c->d, XG_SEV_ERROR);
    struct check k = { .c = c };
    k.types = malloc(c->nr_pfns * sizeof(uint32_t));
    k.rw_mapped = calloc(XG_BITMAP_LONGS(c->nr_pfns), sizeof(unsigned long));
    uint64_t *mfns = malloc(XG_MAX_BATCH * sizeof(uint64_t));
    uint32_t *t = malloc(XG_MAX_BATCH * sizeof(uint32_t));
    uint64_t *pfns = malloc(XG_MAX_BATCH * sizeof(uint64_t));
    int rc = 0;
    if (!k.types || !k.rw_mapped || !mfns || !t || !pfns) {
        rc = xg_diag_err(c->d, XG_E_NOMEM, NULL, "out of memory");
        goto out;
    }
    uint64_t bad_p2m = xg__save_check_p2m(c, XG_SEV_ERROR);

    /* Types of every frame the p2m names. */
    c->pass_total = c->nr_pfns;
    for (uint64_t pfn = 0; pfn < c->nr_pfns;) {
        unsigned n = 0;
        for (; pfn < c->nr_pfns && n < XG_MAX_BATCH; pfn++) {
            uint64_t mfn = xg_pv_p2m_get(&c->pm, pfn);
            k.types[pfn] = XG_PFINFO_XTAB;
            if (mfn != ~0ULL && mfn < c->nr_mfns && c->m2p[mfn] == pfn) {
                pfns[n] = pfn;
                mfns[n++] = mfn;
            }
        }
        if (n && (rc = xg_hv_page_types(c->hv, c->domid, n, mfns, t, c->d)) < 0)
            goto out;
        for (unsigned i = 0; i < n; i++) {
            k.types[pfns[i]] = t[i];
            if (t[i] == XG_PFINFO_XTAB) {
                struct xg_loc l = { XGF_DOMID(c->domid), XGF_PFN(pfns[i]), XGF_MFN(mfns[i]) };
                xg_diag_err(c->d, XG_E_GUEST, &l, "Xen reports pfn %#llx (mfn %#llx) as invalid (XTAB)",
                            (unsigned long long)pfns[i], (unsigned long long)mfns[i]);
            } else {
                c->st->by_type[t[i] >> XG_PFINFO_SHIFT]++;
                if (xg_pfinfo_pinned(t[i]))
                    c->st->pinned++;
            }
        }
    }
    if ((rc = check_tables(&k)) < 0 || (rc = check_vcpus(&k)) < 0)
        goto out;
    size_t errors = xg_diag_total(c->d, XG_SEV_ERROR) - errors_before;
    xg__save_log(c, "pre-flight check of domain %u: %llu pfns, %llu page tables, %llu bad p2m entries, %zu problems",
                 c->domid, (unsigned long long)c->nr_pfns, (unsigned long long)k.tables, (unsigned long long)bad_p2m,
                 errors);
    rc = errors ? XG_E_GUEST : 0;
out:
    free(k.types);
    free(k.rw_mapped);
    free(mfns);
    free(t);
    free(pfns);
    return rc;
}
