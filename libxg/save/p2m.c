/*
 * save_p2m.c - find the guest's memory the way a real toolstack must: from
 * the guest's shared info page, either the linear p2m list (p2m_cr3 and
 * p2m_vaddr, by walking the guest's own page tables) or the older
 * pfn-to-mfn frame-list-list tree; all mapped read-only.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "save_private.h"

static uint64_t shinfo_word(struct save_ctx *c, unsigned off)
{
    return xg_guest_word(c->shinfo, off, c->width);
}

/* Map one frame read-only; the caller unmaps. */
static int map_one(struct save_ctx *c, uint64_t mfn, const uint8_t **page, xg_hv_mapping **m,
                   const char *what)
{
    void *p = NULL;
    int err = 0;
    int rc = xg_hv_map(c->hv, c->domid, PROT_READ, 1, &mfn, &p, &err, m, c->d);
    if (rc < 0)
        return rc;
    if (!p) {
        xg_hv_unmap(c->hv, *m);
        *m = NULL;
        uint32_t type = XG_PFINFO_XTAB;
        if (xg_hv_page_types(c->hv, c->domid, 1, &mfn, &type, NULL) == 0 && mfn < c->nr_mfns) {
            /* Say what the frame is, as Xen reports it, and why Xen may refuse it. */
            xg__save_explain_map_error(c, c->m2p[mfn], mfn, type, err, what, XG_SEV_ERROR);
            return XG_E_GUEST;
        }
        struct xg_loc l = { XGF_DOMID(c->domid), XGF_MFN(mfn) };
        return xg_diag_syserr(c->d, XG_E_GUEST, err, &l, "cannot map %s (mfn %#llx) read-only",
                              what, (unsigned long long)mfn);
    }
    *page = p;
    return 0;
}

static int p2m_alloc(struct save_ctx *c)
{
    unsigned fpp = xg_pv_fpp(c->width);
    if (c->max_pfn >= (1ULL << 36)) {
        struct xg_loc l = { XGF_DOMID(c->domid), XGF_FIELD("arch.max_pfn"),
                            XGF_FOUND(c->max_pfn + 1) };
        return xg_diag_err(c->d, XG_E_GUEST, &l,
                           "the guest's shared info claims an implausible %llu pfns",
                           (unsigned long long)c->max_pfn + 1);
    }
    c->nr_pfns = c->max_pfn + 1;
    c->p2m_nr = (unsigned)(c->max_pfn / fpp + 1);
    c->p2m_mfns = calloc(c->p2m_nr, sizeof(uint64_t));
    c->p2m_pfns = calloc(c->p2m_nr, sizeof(uint64_t));
    c->p2m_pages = calloc(c->p2m_nr, sizeof(*c->p2m_pages));
    if (!c->p2m_mfns || !c->p2m_pfns || !c->p2m_pages)
        return xg_diag_err(c->d, XG_E_NOMEM, NULL, "out of memory for a p2m of %u frames",
                           c->p2m_nr);
    return 0;
}

/* Walk the guest's tables from root_mfn for va; *mfn is the frame mapped there. */
struct walk_cache {
    uint64_t mfn[5];
    const uint8_t *page[5];
    xg_hv_mapping *map[5];
};

static void walk_cache_drop(struct save_ctx *c, struct walk_cache *wc)
{
    for (int i = 0; i < 5; i++)
        if (wc->map[i])
            xg_hv_unmap(c->hv, wc->map[i]);
    memset(wc, 0, sizeof(*wc));
}

static int walk(struct save_ctx *c, struct walk_cache *wc, uint64_t root, uint64_t va,
                uint64_t *mfn)
{
    uint64_t t = root;
    for (unsigned level = c->levels; level >= 1; level--) {
        if (t >= c->nr_mfns) {
            struct xg_loc l = { XGF_DOMID(c->domid), XGF_MFN(t), XGF_LEVEL(level) };
            return xg_diag_err(c->d, XG_E_GUEST, &l,
                               "walking the guest's page tables to its p2m list (va "
                               "%#llx): L%u table mfn %#llx is not a machine frame",
                               (unsigned long long)va, level, (unsigned long long)t);
        }
        if (!wc->map[level] || wc->mfn[level] != t) {
            if (wc->map[level])
                xg_hv_unmap(c->hv, wc->map[level]);
            wc->map[level] = NULL;
            int rc = map_one(c, t, &wc->page[level], &wc->map[level],
                             "the page tables that map the p2m list");
            if (rc < 0)
                return rc;
            wc->mfn[level] = t;
        }
        unsigned idx = (c->width == 4 && level == 3)
                           ? (unsigned)((va >> 30) & 3)
                           : (unsigned)((va >> (12 + 9 * (level - 1))) & 511);
        uint64_t e;
        memcpy(&e, wc->page[level] + idx * 8, 8);
        if (!xg_pte_present(e)) {
            struct xg_loc l = { XGF_DOMID(c->domid), XGF_MFN(t), XGF_LEVEL(level), XGF_SLOT(idx),
                                XGF_ENTRY(e) };
            return xg_diag_err(
                c->d, XG_E_GUEST, &l,
                "the guest's linear p2m list is not mapped at va %#llx (L%u entry %u not present)",
                (unsigned long long)va, level, idx);
        }
        if (level > 1 && (e & XG_PTE_PSE)) {
            struct xg_loc l = { XGF_DOMID(c->domid), XGF_MFN(t), XGF_LEVEL(level), XGF_SLOT(idx),
                                XGF_ENTRY(e) };
            return xg_diag_err(c->d, XG_E_GUEST, &l,
                               "the guest maps its p2m list with a superpage");
        }
        t = xg_pte_frame(e);
    }
    *mfn = t;
    return 0;
}

static int find_linear(struct save_ctx *c, uint64_t p2m_cr3)
{
    uint64_t vaddr = shinfo_word(c, xg_shinfo_layout(c->width)->p2m_vaddr);
    uint64_t root = xg_cr3_to_frame(p2m_cr3, c->width);
    uint64_t end = vaddr + (uint64_t)c->p2m_nr * XG_PAGE_SIZE - 1;
    bool ok = c->width == 8
                  ? end > vaddr && (vaddr >= 0xffff880000000000ULL || end < 0xffff800000000000ULL)
                  : end > vaddr && end <= 0xffffffffULL;
    if (!ok || vaddr & 0xfff) {
        struct xg_loc l = { XGF_DOMID(c->domid), XGF_FIELD("arch.p2m_vaddr"), XGF_FOUND(vaddr) };
        return xg_diag_err(c->d, XG_E_GUEST, &l,
                           "the guest's p2m list address range %#llx-%#llx is not usable",
                           (unsigned long long)vaddr, (unsigned long long)end);
    }
    struct walk_cache wc = { 0 };
    int rc = 0;
    for (unsigned i = 0; i < c->p2m_nr && rc == 0; i++)
        rc = walk(c, &wc, root, vaddr + (uint64_t)i * XG_PAGE_SIZE, &c->p2m_mfns[i]);
    walk_cache_drop(c, &wc);
    if (rc == 0)
        xg__save_log(c, "p2m: linear list at %#llx, %u frames, root table mfn %#llx",
                     (unsigned long long)vaddr, c->p2m_nr, (unsigned long long)root);
    return rc;
}

static int find_tree(struct save_ctx *c)
{
    unsigned fpp = xg_pv_fpp(c->width);
    uint64_t fll = shinfo_word(c, xg_shinfo_layout(c->width)->pfn_to_mfn_frame_list_list);
    unsigned nr_fl = (c->p2m_nr + fpp - 1) / fpp;
    struct xg_loc l = { XGF_DOMID(c->domid), XGF_MFN(fll) };
    if (!fll || fll >= c->nr_mfns)
        return xg_diag_err(c->d, XG_E_GUEST, &l,
                           "the guest announces no p2m: neither a linear list "
                           "(p2m_cr3) nor a frame list list (mfn %#llx)",
                           (unsigned long long)fll);
    if (nr_fl > fpp)
        return xg_diag_err(c->d, XG_E_GUEST, &l,
                           "max_pfn %#llx is too large for a p2m frame-list tree",
                           (unsigned long long)c->max_pfn);
    const uint8_t *fll_page;
    xg_hv_mapping *fll_map;
    int rc = map_one(c, fll, &fll_page, &fll_map, "the p2m frame list list");
    if (rc < 0)
        return rc;
    uint64_t *fl_mfns = calloc(nr_fl, sizeof(uint64_t));
    void **fl_pages = calloc(nr_fl, sizeof(void *));
    int *errs = calloc(nr_fl, sizeof(int));
    xg_hv_mapping *fl_map = NULL;
    if (!fl_mfns || !fl_pages || !errs) {
        rc = xg_diag_err(c->d, XG_E_NOMEM, NULL, "out of memory");
        goto out;
    }
    for (unsigned i = 0; i < nr_fl; i++) {
        fl_mfns[i] = xg_guest_word(fll_page, i * c->width, c->width);
        if (fl_mfns[i] >= c->nr_mfns) {
            struct xg_loc fl = { XGF_DOMID(c->domid), XGF_MFN(fll), XGF_SLOT(i),
                                 XGF_ENTRY(fl_mfns[i]) };
            rc = xg_diag_err(c->d, XG_E_GUEST, &fl, "bad mfn %#llx for p2m frame list %u",
                             (unsigned long long)fl_mfns[i], i);
            goto out;
        }
    }
    rc = xg_hv_map(c->hv, c->domid, PROT_READ, nr_fl, fl_mfns, fl_pages, errs, &fl_map, c->d);
    if (rc < 0)
        goto out;
    for (unsigned i = 0; i < nr_fl; i++) {
        if (!fl_pages[i]) {
            struct xg_loc fl = { XGF_DOMID(c->domid), XGF_MFN(fl_mfns[i]) };
            rc = xg_diag_syserr(c->d, XG_E_GUEST, errs[i], &fl,
                                "cannot map p2m frame list %u read-only", i);
            goto out;
        }
    }
    for (unsigned i = 0; i < c->p2m_nr; i++)
        c->p2m_mfns[i] = xg_guest_word(fl_pages[i / fpp], (i % fpp) * c->width, c->width);
    xg__save_log(c, "p2m: frame list list at mfn %#llx, %u frame lists, %u p2m frames",
                 (unsigned long long)fll, nr_fl, c->p2m_nr);
out:
    xg_hv_unmap(c->hv, fl_map);
    xg_hv_unmap(c->hv, fll_map);
    free(fl_mfns);
    free(fl_pages);
    free(errs);
    return rc;
}

int xg__save_map_p2m(struct save_ctx *c)
{
    const struct xg_shinfo_layout *sl = xg_shinfo_layout(c->width);
    void *p = NULL;
    int err = 0;
    uint64_t smfn = c->info.shared_info_mfn;
    int rc = xg_hv_map(c->hv, c->domid, PROT_READ, 1, &smfn, &p, &err, &c->shinfo_map, c->d);
    if (rc < 0)
        return rc;
    if (!p) {
        struct xg_loc l = { XGF_DOMID(c->domid), XGF_MFN(smfn) };
        return xg_diag_syserr(c->d, XG_E_HV, err, &l, "cannot map the guest's shared info page");
    }
    c->shinfo = p;
    uint64_t max = shinfo_word(c, sl->max_pfn);
    if (max == 0) {
        struct xg_loc l = { XGF_DOMID(c->domid), XGF_FIELD("arch.max_pfn"), XGF_FOUND(0) };
        return xg_diag_err(c->d, XG_E_GUEST, &l,
                           "the guest has not filled in its shared info "
                           "(arch.max_pfn is 0): it is not a running PV kernel");
    }
    c->max_pfn = max - 1;
    if ((rc = p2m_alloc(c)) < 0)
        return rc;
    uint64_t p2m_cr3 = shinfo_word(c, sl->p2m_cr3);
    c->linear_p2m = p2m_cr3 != 0;
    c->p2m_generation = shinfo_word(c, sl->p2m_generation);
    rc = c->linear_p2m ? find_linear(c, p2m_cr3) : find_tree(c);
    if (rc < 0)
        return rc;

    int *errs = calloc(c->p2m_nr, sizeof(int));
    if (!errs)
        return xg_diag_err(c->d, XG_E_NOMEM, NULL, "out of memory");
    for (unsigned i = 0; i < c->p2m_nr; i++) {
        if (c->p2m_mfns[i] >= c->nr_mfns) {
            struct xg_loc l = { XGF_DOMID(c->domid), XGF_MFN(c->p2m_mfns[i]) };
            free(errs);
            return xg_diag_err(c->d, XG_E_GUEST, &l, "p2m frame %u is not a machine frame", i);
        }
    }
    rc = xg_hv_map(c->hv, c->domid, PROT_READ, c->p2m_nr, c->p2m_mfns, (void **)c->p2m_pages, errs,
                   &c->p2m_map, c->d);
    for (unsigned i = 0; rc == 0 && i < c->p2m_nr; i++) {
        if (!c->p2m_pages[i]) {
            struct xg_loc l = { XGF_DOMID(c->domid), XGF_MFN(c->p2m_mfns[i]) };
            rc = xg_diag_syserr(c->d, XG_E_GUEST, errs[i], &l, "cannot map p2m frame %u read-only",
                                i);
        }
        uint64_t pfn = c->m2p[c->p2m_mfns[i]];
        if (rc == 0 && pfn > c->max_pfn) {
            struct xg_loc l = { XGF_DOMID(c->domid), XGF_MFN(c->p2m_mfns[i]), XGF_PFN(pfn) };
            rc = xg_diag_err(c->d, XG_E_GUEST, &l,
                             "p2m frame %u (mfn %#llx) is not one of the guest's pfns", i,
                             (unsigned long long)c->p2m_mfns[i]);
        }
        c->p2m_pfns[i] = pfn;
    }
    free(errs);
    if (rc < 0)
        return rc;
    c->pm = (struct xg_pv_physmap){
        .width = c->width,
        .max_pfn = c->max_pfn,
        .m2p = c->m2p,
        .nr_mfns = c->nr_mfns,
        .p2m_pages = c->p2m_pages,
        .compat_m2p_mfn0 = c->compat_mfn0,
    };
    return 0;
}

void xg__save_unmap_p2m(struct save_ctx *c)
{
    xg_hv_unmap(c->hv, c->p2m_map);
    xg_hv_unmap(c->hv, c->shinfo_map);
    c->p2m_map = c->shinfo_map = NULL;
    c->shinfo = NULL;
    free(c->p2m_mfns);
    free(c->p2m_pfns);
    free(c->p2m_pages);
    c->p2m_mfns = c->p2m_pfns = NULL;
    c->p2m_pages = NULL;
}

int xg__save_check_p2m_generation(struct save_ctx *c)
{
    const struct xg_shinfo_layout *sl = xg_shinfo_layout(c->width);
    uint64_t gen = shinfo_word(c, sl->p2m_generation), max = shinfo_word(c, sl->max_pfn);
    if (c->linear_p2m && gen != c->p2m_generation) {
        struct xg_loc l = { XGF_DOMID(c->domid), XGF_FIELD("arch.p2m_generation"), XGF_FOUND(gen),
                            XGF_EXPECTED(c->p2m_generation) };
        return xg_diag_err(c->d, XG_E_GUEST, &l,
                           "the guest rebuilt its p2m while xg read it (p2m "
                           "generation changed); stopped: retry");
    }
    if (max != c->max_pfn + 1) {
        struct xg_loc l = { XGF_DOMID(c->domid), XGF_FIELD("arch.max_pfn"), XGF_FOUND(max),
                            XGF_EXPECTED(c->max_pfn + 1) };
        return xg_diag_err(c->d, XG_E_GUEST, &l,
                           "the guest changed its memory size during the save; retry it");
    }
    return 0;
}

bool xg__save_p2m_bad(const struct save_ctx *c, uint64_t pfn, uint64_t *mfn_out)
{
    uint64_t mfn = xg_pv_p2m_get(&c->pm, pfn);
    *mfn_out = mfn;
    return mfn != ~0ULL && !(mfn < c->nr_mfns && c->m2p[mfn] == pfn);
}

void xg__save_explain_p2m(struct save_ctx *c, uint64_t pfn, uint64_t mfn, enum xg_severity sev)
{
    struct xg_loc l = { XGF_DOMID(c->domid), XGF_PFN(pfn), XGF_MFN(mfn) };
    uint32_t owner;
    if (mfn < c->nr_mfns && xg_hv_frame_owner(c->hv, mfn, &owner) == 0) {
        l.has_owner = 1;
        l.owner = owner;
    }
    if (mfn >= c->nr_mfns)
        xg_diag_add(c->d, sev, XG_E_GUEST, 0, &l, __FILE__, __LINE__,
                    "the guest's p2m maps pfn %#llx to mfn %#llx, beyond the host's %llu frames",
                    (unsigned long long)pfn, (unsigned long long)mfn,
                    (unsigned long long)c->nr_mfns);
    else
        xg_diag_add(
            c->d, sev, XG_E_GUEST, 0, &l, __FILE__, __LINE__,
            "the guest's p2m maps pfn %#llx to mfn %#llx, but the M2P says that frame is pfn %#llx",
            (unsigned long long)pfn, (unsigned long long)mfn, (unsigned long long)c->m2p[mfn]);
}

uint64_t xg__save_check_p2m(struct save_ctx *c, enum xg_severity sev)
{
    uint64_t bad = 0, mfn;
    for (uint64_t pfn = 0; pfn <= c->max_pfn; pfn++) {
        if (!xg__save_p2m_bad(c, pfn, &mfn))
            continue;
        bad++;
        xg__save_explain_p2m(c, pfn, mfn, sev);
    }
    return bad;
}
