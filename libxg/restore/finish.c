/*
 * restore_finish.c - after END: validate the image's page tables in PFN
 * space, and only if every check passes, localise them (PFN -> MFN), fix
 * up start info, the guest's p2m and shared info, pin in dependency order,
 * and set the vcpus last.
 *
 * The order is deliberate.  Every write into guest memory happens through
 * writable mappings, which hold writable type references; they are all
 * dropped before the first pin, or Xen (and the simulator) would refuse to
 * give those frames a page-table type.  Nothing is pinned before the whole
 * image has been checked.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "restore_private.h"

/* Table frames mapped for validation (read-only) or localisation (read-write). */
struct table_map {
    uint64_t *pfns; /* sorted */
    uint64_t *mfns;
    void **pages;
    int *errs;
    size_t n;
    xg_hv_mapping *m;
};

struct view_arg {
    struct restore_ctx *c;
    struct table_map *tm;
    /* one ordinary page mapped on demand (start info) */
    xg_hv_mapping *pm;
    uint64_t page_pfn;
    const uint8_t *page;
    int map_rc; /* a page that could not be mapped: validation saw less than the image holds */
};

static const uint64_t *view_table(void *arg, uint64_t pfn)
{
    struct view_arg *va = arg;
    struct restore_ctx *c = va->c;
    if (c->tables_in_memory)
        return pfn < c->cap ? c->tables[pfn] : NULL;
    size_t lo = 0, hi = va->tm->n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (va->tm->pfns[mid] < pfn)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < va->tm->n && va->tm->pfns[lo] == pfn ? va->tm->pages[lo] : NULL;
}

static const uint8_t *view_page(void *arg, uint64_t pfn)
{
    struct view_arg *va = arg;
    struct restore_ctx *c = va->c;
    if (!c->hv || !c->have_domain)
        return NULL;
    if (va->page && va->page_pfn == pfn)
        return va->page;
    xg_hv_unmap(c->hv, va->pm);
    va->pm = NULL;
    va->page = NULL;
    uint64_t mfn = rc_mfn(c, pfn);
    void *p = NULL;
    int err;
    if (mfn == ~0ULL)
        return NULL;
    int rc = xg_hv_map(c->hv, c->domid, PROT_READ, 1, &mfn, &p, &err, &va->pm, c->d);
    if (rc < 0 || !p) {
        struct xg_loc l = { XGF_DOMID(c->domid), XGF_PFN(pfn), XGF_MFN(mfn) };
        va->map_rc = xg_diag_err(c->d, rc < 0 ? rc : XG_E_HV, &l,
                                 "cannot map pfn %#llx to validate what it names",
                                 (unsigned long long)pfn);
        return NULL;
    }
    va->page = p;
    va->page_pfn = pfn;
    return va->page;
}

/* Offline: restore.c noted which ordinary pages hold a descriptor Xen refuses. */
static bool view_gdt_refused(void *arg, uint64_t pfn)
{
    struct view_arg *va = arg;
    struct restore_ctx *c = va->c;
    return c->tables_in_memory && pfn < c->cap && (c->type1[pfn] & RC_GDT_REFUSED);
}

/*
 * Offline, the ordinary pages restore.c kept (start info, table-like pages); with a
 * domain, mapped.
 */
static const uint8_t *view_kept(void *arg, uint64_t pfn)
{
    struct view_arg *va = arg;
    struct restore_ctx *c = va->c;
    if (c->tables_in_memory)
        return pfn < c->cap ? (const uint8_t *)c->tables[pfn] : NULL;
    return view_page(arg, pfn);
}

static void table_map_free(struct restore_ctx *c, struct table_map *tm)
{
    if (c->hv)
        xg_hv_unmap(c->hv, tm->m);
    free(tm->pfns);
    free(tm->mfns);
    free(tm->pages);
    free(tm->errs);
    memset(tm, 0, sizeof(*tm));
}

static int table_map(struct restore_ctx *c, struct table_map *tm, int prot)
{
    size_t n = 0;
    uint64_t nr = c->max_pfn + 1;
    for (uint64_t p = 0; p < nr; p++)
        if (xg_pfinfo_level(rc_type(c, p)) && rc_mfn(c, p) != ~0ULL)
            n++;
    tm->pfns = malloc((n ? n : 1) * sizeof(uint64_t));
    tm->mfns = malloc((n ? n : 1) * sizeof(uint64_t));
    tm->pages = calloc(n ? n : 1, sizeof(void *));
    tm->errs = calloc(n ? n : 1, sizeof(int));
    if (!tm->pfns || !tm->mfns || !tm->pages || !tm->errs)
        return xg_diag_err(c->d, XG_E_NOMEM, NULL, "out of memory for %zu page tables", n);
    for (uint64_t p = 0; p < nr; p++) {
        if (xg_pfinfo_level(rc_type(c, p)) && rc_mfn(c, p) != ~0ULL) {
            tm->pfns[tm->n] = p;
            tm->mfns[tm->n++] = rc_mfn(c, p);
        }
    }
    if (!n)
        return 0;
    int rc = xg_hv_map(c->hv, c->domid, prot, (unsigned)n, tm->mfns, tm->pages, tm->errs, &tm->m,
                       c->d);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        if (!tm->pages[i]) {
            struct xg_loc l = { XGF_DOMID(c->domid), XGF_PFN(tm->pfns[i]), XGF_MFN(tm->mfns[i]) };
            rc = xg_diag_syserr(c->d, XG_E_HV, tm->errs[i], &l,
                                "cannot map the page table at pfn %#llx",
                                (unsigned long long)tm->pfns[i]);
        }
    }
    return rc;
}

/* ------------------------------------------------------------ validation */

static int decode_vcpus(struct restore_ctx *c, struct xg_pv_vcpu_frames *frames, bool *present)
{
    for (unsigned v = 0; v < c->nr_vcpus; v++) {
        present[v] = c->vcpu[v].present;
        if (!present[v])
            continue;
        const char *why;
        if (xg_pv_vcpu_frames(c->vcpu[v].basic, c->width, v, true, &frames[v], &why) < 0) {
            struct xg_loc l = { XGF_VCPU(v) };
            return xg_diag_err(c->d, XG_E_IMAGE, &l, "vcpu%u's context: %s", v, why);
        }
    }
    return 0;
}

/* What each vcpu starts on, for the result (xg-inspect's summary). */
static void summarise_vcpus(struct restore_ctx *c, const struct xg_pv_vcpu_frames *frames,
                            const bool *present, const uint32_t *types, uint64_t nr)
{
    for (unsigned v = 0; v < c->nr_vcpus; v++) {
        if (!present[v])
            continue;
        c->res->image_vcpus++;
        if (c->res->nr_vcpu_summary == XG_RESTORE_SUMMARY_VCPUS)
            continue;
        struct xg_restore_vcpu *s = &c->res->vcpu[c->res->nr_vcpu_summary++];
        s->id = v;
        s->cr3_pfn = frames[v].cr3;
        s->cr3_type = frames[v].cr3 < nr ? types[frames[v].cr3] : XG_PFINFO_XTAB;
        s->has_user = frames[v].has_user;
        s->user_pfn = frames[v].user;
        s->user_type = frames[v].has_user && frames[v].user < nr ? types[frames[v].user]
                                                                 : XG_PFINFO_XTAB;
    }
}

/*
 * What the types alone do not say (pv/levels.c): a 32-bit guest's paging mode, and page
 * tables the saving host lost.  A 2-level guest is refused here, before the tables are
 * read as the PAE ones they are not.
 */
static int check_levels(struct restore_ctx *c, struct xg_pv_image_view *v, struct xg_pv_plan *plan)
{
    for (uint64_t p = 0; p < v->nr_pfns; p++)
        c->res->tables_by_level[xg_pfinfo_level(v->types[p])]++;
    c->res->tables_by_level[0] = 0;
    xg_pv_paging_decide(v, &c->res->paging);
    int rc = xg_pv_paging_findings(v, &c->res->paging, c->res->tables_by_level, c->d);
    if (rc < 0) {
        memset(plan, 0, sizeof(*plan));
        c->res->pt_levels = 2;
        for (unsigned l = 1; l <= 4; l++)
            plan->nr_tables += c->res->tables_by_level[l];
    }
    return rc;
}

static int validate(struct restore_ctx *c, struct xg_pv_plan *plan, struct table_map *tm)
{
    double t = xg__now();
    uint64_t nr = c->max_pfn + 1;
    int rc = 0;
    uint32_t *types = malloc(nr * sizeof(uint32_t));
    struct xg_pv_vcpu_frames *frames = calloc(c->nr_vcpus ? c->nr_vcpus : 1, sizeof(*frames));
    bool *present = calloc(c->nr_vcpus ? c->nr_vcpus : 1, sizeof(bool));
    if (!types || !frames || !present) {
        rc = xg_diag_err(c->d, XG_E_NOMEM, NULL, "out of memory");
        goto out;
    }
    for (uint64_t p = 0; p < nr; p++) {
        types[p] = rc_type(c, p);
        c->res->by_type[types[p] >> XG_PFINFO_SHIFT]++;
    }
    if ((rc = decode_vcpus(c, frames, present)) < 0)
        goto out;
    summarise_vcpus(c, frames, present, types, nr);
    if (!c->tables_in_memory && (rc = table_map(c, tm, PROT_READ)) < 0)
        goto out;
    struct view_arg va = { .c = c, .tm = tm };
    struct xg_pv_image_view v = {
        .width = c->width,
        .levels = c->levels,
        .nr_pfns = nr,
        .types = types,
        .table = view_table,
        .page = view_page,
        .arg = &va,
        .nr_vcpus = c->nr_vcpus,
        .vcpu_present = present,
        .vcpu = frames,
        .p2m_pfns = c->p2m_pfns,
        .nr_p2m = c->nr_p2m,
        .have_shared_info = c->have_shinfo,
        .kept = view_kept,
        .gdt_refused = view_gdt_refused,
        .legacy_bits = c->res->image.legacy_toolstack_bits,
        .unmappable = xg_stream_reader_info(c->r)->legacy_unmappable,
        .unmappable_mfns = xg_stream_reader_info(c->r)->legacy_unmappable_mfns,
        .nr_unmappable_mfns = xg_stream_reader_info(c->r)->legacy_nr_unmappable_mfns,
    };
    c->res->image.legacy_unmappable = v.unmappable;
    xg__restore_progress(c, "validate", 0, 1);
    rc = check_levels(c, &v, plan);
    if (rc == 0)
        rc = xg_pv_validate(&v, plan, c->d);
    if (rc == 0 && va.map_rc < 0)
        rc = va.map_rc;
    /* After the errors: why the tables may be missing (the 2008 pattern), when it fits. */
    if (rc != XG_E_NOMEM)
        xg_pv_lost_tables(&v, c->res->paging.verdict == XG_PAGING_2LEVEL ? 2 : v.levels,
                          &c->res->lost, c->d);
    if (c->hv)
        xg_hv_unmap(c->hv, va.pm);
    c->res->tables = plan->nr_tables;
    c->res->tables_live = plan->nr_live;
    c->res->tables_stale = plan->nr_stale;
    xg__restore_log(c, "validated %llu page tables (%llu live, %llu stale), %zu pins planned: %s",
                    (unsigned long long)plan->nr_tables, (unsigned long long)plan->nr_live,
                    (unsigned long long)plan->nr_stale, plan->nr_pins,
                    rc == 0 ? "Xen will accept them" : "refused");
out:
    /* The read-only mappings go before anything is written or pinned. */
    table_map_free(c, tm);
    free(types);
    free(frames);
    free(present);
    c->res->validate_seconds = xg__now() - t;
    return rc;
}

/* ------------------------------------------------------------ localise, fix up */

/*
 * Frames for the pfns live entries name but the image never sent, zeroed:
 * Xen's restore populates them when it localises a table
 * (xg_sr_restore_x86_pv.c, x86_pv_localise_page); here a batch of them,
 * gathered in c->b_pfns, in one populate and one map.
 */
static int populate_zeroed(struct restore_ctx *c, unsigned n)
{
    int rc = xg__restore_populate(c, c->b_pfns, n);
    if (rc < 0)
        return rc; /* what was populated is the domain's, whatever follows */
    xg_hv_mapping *m = NULL;
    if ((rc = xg_hv_map(c->hv, c->domid, PROT_READ | PROT_WRITE, n, c->b_mfns, c->b_pages,
                        c->b_errs, &m, c->d)) < 0)
        return rc;
    for (unsigned i = 0; i < n && rc == 0; i++) {
        if (c->b_pages[i]) {
            memset(c->b_pages[i], 0, XG_PAGE_SIZE);
            continue;
        }
        struct xg_loc l = { XGF_DOMID(c->domid), XGF_PFN(c->b_pfns[i]), XGF_MFN(c->b_mfns[i]) };
        rc = xg_diag_syserr(c->d, XG_E_HV, c->b_errs[i], &l,
                            "cannot map a frame for a pfn never sent (pfn %#llx) writable",
                            (unsigned long long)c->b_pfns[i]);
    }
    xg_hv_unmap(c->hv, m);
    return rc;
}

static int populate_unsent(struct restore_ctx *c, const struct xg_pv_plan *plan)
{
    unsigned n = 0;
    for (size_t i = 0; i < plan->nr_populate; i++) {
        uint64_t pfn = plan->populate_pfn[i];
        if (pfn >= c->cap || c->mfn1[pfn])
            continue;
        c->mfn1[pfn] = ~0ULL; /* claimed: a pfn the plan lists twice gets one frame */
        c->b_pfns[n++] = pfn;
        int rc = n == XG_MAX_BATCH ? populate_zeroed(c, n) : 0;
        if (rc < 0)
            return rc;
        n = n == XG_MAX_BATCH ? 0 : n;
    }
    int rc = n ? populate_zeroed(c, n) : 0;
    if (rc == 0 && plan->nr_populate)
        xg__restore_log(c, "gave %zu pfns the image never sent a zeroed frame", plan->nr_populate);
    return rc;
}

static int localise(struct restore_ctx *c, const struct xg_pv_plan *plan)
{
    struct table_map tm = { 0 };
    int rc = table_map(c, &tm, PROT_READ | PROT_WRITE);
    uint64_t cleared_tables = 0;
    unsigned cleared = 0;
    for (size_t i = 0; rc == 0 && i < tm.n; i++) {
        uint64_t pfn = tm.pfns[i];
        bool live = xg__test_bit(plan->live, pfn);
        unsigned level = plan->level && pfn < c->cap && plan->level[pfn]
                             ? plan->level[pfn]
                             : xg_pfinfo_level(rc_type(c, pfn));
        unsigned before = cleared;
        struct xg_pv_bad bad;
        if (xg_pv_localise_table(tm.pages[i], c->width, level, c->mfn1, c->cap, live, &bad,
                                 &cleared) < 0) {
            /* Validation rules this out for live tables; the invariant is checked all the same. */
            struct xg_loc l = { XGF_PFN(pfn), XGF_LEVEL(level), XGF_SLOT(bad.slot),
                                XGF_ENTRY(bad.entry), XGF_REF_PFN(bad.pfn) };
            rc = xg_diag_err(c->d, XG_E_IMAGE, &l,
                             "L%u table at pfn %#llx, slot %u, names pfn %#llx, which has no frame",
                             level, (unsigned long long)pfn, bad.slot, (unsigned long long)bad.pfn);
            break;
        }
        if (cleared != before)
            cleared_tables++;
    }
    table_map_free(c, &tm);
    if (rc == 0 && cleared)
        xg_diag_warn(c->d, NULL,
                     "%u entries of %llu stale page tables named pfns that are not in the "
                     "image; they were cleared (Xen never validates those tables)",
                     cleared, (unsigned long long)cleared_tables);
    return rc;
}

static int map_rw(struct restore_ctx *c, uint64_t mfn, uint8_t **page, xg_hv_mapping **m,
                  const char *what)
{
    void *p = NULL;
    int err = 0;
    int rc = xg_hv_map(c->hv, c->domid, PROT_READ | PROT_WRITE, 1, &mfn, &p, &err, m, c->d);
    if (rc < 0)
        return rc;
    if (!p) {
        struct xg_loc l = { XGF_DOMID(c->domid), XGF_MFN(mfn) };
        return xg_diag_syserr(c->d, XG_E_HV, err, &l, "cannot map %s writable", what);
    }
    *page = p;
    return 0;
}

static int fix_start_info(struct restore_ctx *c, const struct xg_pv_plan *plan)
{
    struct xg_pv_vcpu_frames f;
    const char *why;
    xg_pv_vcpu_frames(c->vcpu[0].basic, c->width, 0, true, &f, &why);
    uint64_t si_pfn = f.start_info;
    const struct xg_start_info_layout *L = xg_start_info_layout(c->width);
    uint8_t *si;
    xg_hv_mapping *m = NULL;
    int rc = map_rw(c, rc_mfn(c, si_pfn), &si, &m, "the start info page");
    if (rc < 0)
        return rc;
    uint64_t store_pfn = xg_guest_word(si, L->store_mfn, L->word);
    uint64_t console_pfn = xg_guest_word(si, L->console_mfn, L->word);
    (void)plan;
    int store_ev = c->p->store_evtchn, console_ev = c->p->console_evtchn;
    if (store_ev < 0)
        store_ev = c->dinfo.store_evtchn;
    if (console_ev < 0)
        console_ev = c->dinfo.console_evtchn;
    if (store_ev < 0 &&
        (rc = xg_hv_evtchn_alloc_unbound(c->hv, c->domid, c->p->store_domid, &store_ev, c->d)) < 0)
        goto out;
    if (console_ev < 0 && (rc = xg_hv_evtchn_alloc_unbound(c->hv, c->domid, c->p->console_domid,
                                                           &console_ev, c->d)) < 0)
        goto out;
    uint64_t store_mfn = rc_mfn(c, store_pfn), console_mfn = rc_mfn(c, console_pfn);
    if (store_mfn == ~0ULL || console_mfn == ~0ULL) {
        struct xg_loc l = { XGF_PFN(store_mfn == ~0ULL ? store_pfn : console_pfn) };
        rc = xg_diag_err(c->d, XG_E_IMAGE, &l,
                         "start info names a %s page (pfn %#llx) that is not in the image",
                         store_mfn == ~0ULL ? "xenstore" : "console",
                         (unsigned long long)(store_mfn == ~0ULL ? store_pfn : console_pfn));
        goto out;
    }
    xg_guest_set_word(si, L->store_mfn, L->word, store_mfn);
    xg_guest_set_word(si, L->console_mfn, L->word, console_mfn);
    xg_guest_set_word(si, L->store_evtchn, 4, (uint64_t)store_ev);
    xg_guest_set_word(si, L->console_evtchn, 4, (uint64_t)console_ev);
    xg_guest_set_word(si, L->nr_pages, L->word, c->max_pfn + 1);
    xg_guest_set_word(si, L->shared_info, L->word, c->dinfo.shared_info_mfn << 12);
    xg_guest_set_word(si, L->flags, 4, 0);
    c->res->store_mfn = store_mfn;
    c->res->console_mfn = console_mfn;
    c->res->store_evtchn = store_ev;
    c->res->console_evtchn = console_ev;
out:
    xg_hv_unmap(c->hv, m);
    return rc;
}

static int fix_p2m(struct restore_ctx *c)
{
    unsigned w = c->width, fpp = xg_pv_fpp(w);
    uint64_t *mfns = malloc((c->nr_p2m ? c->nr_p2m : 1) * sizeof(uint64_t));
    void **pages = calloc(c->nr_p2m ? c->nr_p2m : 1, sizeof(void *));
    int *errs = calloc(c->nr_p2m ? c->nr_p2m : 1, sizeof(int));
    xg_hv_mapping *m = NULL;
    int rc = 0;
    if (!mfns || !pages || !errs) {
        rc = xg_diag_err(c->d, XG_E_NOMEM, NULL, "out of memory");
        goto out;
    }
    for (unsigned i = 0; i < c->nr_p2m; i++)
        mfns[i] = rc_mfn(c, c->p2m_pfns[i]);
    if (!c->nr_p2m || (rc = xg_hv_map(c->hv, c->domid, PROT_READ | PROT_WRITE, c->nr_p2m, mfns,
                                      pages, errs, &m, c->d)) < 0)
        goto out;
    for (unsigned i = 0; i < c->nr_p2m; i++) {
        if (!pages[i]) {
            struct xg_loc l = { XGF_PFN(c->p2m_pfns[i]), XGF_MFN(mfns[i]) };
            rc = xg_diag_syserr(c->d, XG_E_HV, errs[i], &l, "cannot map p2m frame %u writable", i);
            goto out;
        }
        for (unsigned k = 0; k < fpp; k++) {
            uint64_t pfn = (uint64_t)i * fpp + k;
            uint64_t mfn = pfn <= c->max_pfn ? rc_mfn(c, pfn) : ~0ULL;
            if (mfn == ~0ULL)
                mfn = w == 4 ? 0xffffffffULL : ~0ULL;
            xg_guest_set_word(pages[i], k * w, w, mfn);
        }
    }
out:
    xg_hv_unmap(c->hv, m);
    free(mfns);
    free(pages);
    free(errs);
    return rc;
}

static int fix_shared_info(struct restore_ctx *c)
{
    const struct xg_shinfo_layout *sl = xg_shinfo_layout(c->width);
    uint8_t *si;
    xg_hv_mapping *m = NULL;
    int rc = map_rw(c, c->dinfo.shared_info_mfn, &si, &m, "the shared info page");
    if (rc < 0)
        return rc;
    /*
     * Only vcpu_info[] and arch come across; events start cleared and masked, as Xen's
     * restore does.
     */
    memcpy(si + sl->vcpu_info, c->shinfo + sl->vcpu_info, XG_LEGACY_MAX_VCPUS * XG_VCPU_INFO_SIZE);
    unsigned arch_len = (sl->p2m_generation + sl->word) - sl->max_pfn;
    memcpy(si + sl->max_pfn, c->shinfo + sl->max_pfn, arch_len);
    xg_guest_set_word(si, sl->pfn_to_mfn_frame_list_list, sl->word, 0);
    memset(si + sl->evtchn_pending, 0, (size_t)sl->evtchn_words * sl->word);
    for (unsigned v = 0; v < XG_LEGACY_MAX_VCPUS; v++)
        xg_guest_set_word(si, sl->vcpu_info + v * XG_VCPU_INFO_SIZE + XG_VCPU_INFO_PENDING_SEL,
                          sl->word, 0);
    memset(si + sl->evtchn_mask, 0xff, (size_t)sl->evtchn_words * sl->word);
    xg_hv_unmap(c->hv, m);
    return 0;
}

/* ------------------------------------------------------------ pins, vcpus */

int xg__restore_unpin_all(struct restore_ctx *c)
{
    if (!c->hv || !c->nr_pinned)
        return 0;
    size_t n = c->nr_pinned, failed = 0;
    uint64_t first_failed = 0;
    /* Newest first, so no table is unpinned under one pinned after it. */
    while (c->nr_pinned) {
        struct xg_mmuext_op op = { XG_MMUEXT_UNPIN_TABLE, c->pinned[c->nr_pinned - 1] };
        unsigned done;
        if (xg_hv_mmuext(c->hv, c->domid, &op, 1, &done, c->d) < 0 || done != 1) {
            first_failed = failed ? first_failed : op.mfn;
            failed++;
        }
        c->nr_pinned--;
    }
    if (failed) {
        struct xg_loc l = { XGF_DOMID(c->domid), XGF_MFN(first_failed) };
        xg_diag_warn(c->d, &l,
                     "%zu of the %zu tables this restore pinned stay "
                     "pinned in domain %u (unpinning them failed)",
                     failed, n, c->domid);
        xg_diag_hint(c->d, "`xl destroy %u` releases them; the domain cannot run as it is",
                     c->domid);
        return XG_E_HV;
    }
    xg__restore_log(c, "unpinned the %zu tables this restore had pinned", n);
    return 0;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static int pin_all(struct restore_ctx *c, struct xg_pv_plan *plan)
{
    if (c->p->pin_in_pfn_order) {
        /* Xen's own order: walk the pfns upwards.  Levels follow the pfns. */
        qsort(plan->pin_pfn, plan->nr_pins, sizeof(uint64_t), cmp_u64);
        for (size_t i = 0; i < plan->nr_pins; i++)
            plan->pin_level[i] = xg_pfinfo_level(rc_type(c, plan->pin_pfn[i]));
        xg__restore_log(c, "pinning in pfn order, as Xen's own restore does");
    }
    c->pinned = malloc((plan->nr_pins ? plan->nr_pins : 1) * sizeof(uint64_t));
    if (!c->pinned)
        return xg_diag_err(c->d, XG_E_NOMEM, NULL, "out of memory");
    struct xg_mmuext_op ops[256];
    for (size_t at = 0; at < plan->nr_pins;) {
        unsigned n = (unsigned)XG_MIN(plan->nr_pins - at, 256);
        for (unsigned i = 0; i < n; i++)
            ops[i] = (struct xg_mmuext_op){ XG_MMUEXT_PIN_L1_TABLE + plan->pin_level[at + i] - 1,
                                            rc_mfn(c, plan->pin_pfn[at + i]) };
        unsigned done = 0;
        int rc = xg_hv_mmuext(c->hv, c->domid, ops, n, &done, c->d);
        for (unsigned i = 0; i < done; i++)
            c->pinned[c->nr_pinned++] = ops[i].mfn;
        if (rc < 0) {
            uint64_t pfn = plan->pin_pfn[at + done];
            struct xg_loc l = { XGF_DOMID(c->domid), XGF_PFN(pfn), XGF_MFN(ops[done].mfn),
                                XGF_LEVEL(plan->pin_level[at + done]) };
            if (c->p->pin_in_pfn_order) {
                xg_diag_err(c->d, XG_E_HV, &l,
                            "pinning in pfn order, as Xen's own restore does, failed at the L%u "
                            "table at pfn %#llx; everything pinned so far will be unpinned",
                            plan->pin_level[at + done], (unsigned long long)pfn);
                xg_diag_hint(c->d, "a table with linear entries was pinned before their target "
                                   "was validated, so Xen typed the target by the entry's "
                                   "level; the default dependency order avoids this");
            } else {
                xg_diag_err(c->d, XG_E_HV, &l,
                            "the hypervisor refused to pin the L%u table at pfn %#llx, which "
                            "passed validation; everything pinned so far will be unpinned",
                            plan->pin_level[at + done], (unsigned long long)pfn);
                xg_diag_hint(c->d, "validation should make this impossible; the "
                                   "hypervisor's log says why it refused");
            }
            return rc;
        }
        at += n;
        xg__restore_progress(c, "pin", at, plan->nr_pins);
    }
    c->res->pinned = c->nr_pinned;
    return 0;
}

static int set_vcpus(struct restore_ctx *c)
{
    size_t size = xg_vcpu_layout(c->width)->size;
    static const enum xg_vcpu_blob kinds[3] = { XG_VCPU_EXTENDED, XG_VCPU_XSAVE, XG_VCPU_MSRS };
    for (unsigned v = 0; v < c->nr_vcpus; v++) {
        struct vcpu_stash *s = &c->vcpu[v];
        if (!s->present)
            continue;
        struct xg_pv_vcpu_frames f;
        const char *why;
        xg_pv_vcpu_frames(s->basic, c->width, v, true, &f, &why);
        f.cr3 = rc_mfn(c, f.cr3);
        if (f.has_user)
            f.user = rc_mfn(c, f.user);
        for (unsigned g = 0; g < f.nr_gdt; g++)
            f.gdt[g] = rc_mfn(c, f.gdt[g]);
        if (v == 0)
            f.start_info = rc_mfn(c, f.start_info);
        xg_pv_vcpu_set_frames(s->basic, c->width, v, &f, false);
        int rc = xg_hv_vcpu_set(c->hv, c->domid, v, s->basic, size, c->d);
        if (rc < 0) {
            struct xg_loc l = { XGF_DOMID(c->domid), XGF_VCPU(v), XGF_MFN(f.cr3) };
            xg_diag_err(c->d, XG_E_HV, &l,
                        "setting vcpu%u's context failed after validation passed", v);
            return rc;
        }
        c->vcpus_set++; /* its context now holds type references on its tables */
        for (int k = 0; k < 3; k++)
            if (s->blob[k] && (rc = xg_hv_vcpu_blob_set(c->hv, c->domid, v, kinds[k], s->blob[k],
                                                        s->blob_len[k], c->d)) < 0)
                return rc;
        c->res->nr_vcpus++;
    }
    return 0;
}

int xg__restore_finish(struct restore_ctx *c)
{
    struct xg_pv_plan plan = { 0 }; /* freed even when validation stops before filling it */
    struct table_map tm = { 0 };
    int rc = validate(c, &plan, &tm);
    c->res->max_pfn = c->max_pfn;
    if (rc < 0 || !c->have_domain) {
        if (rc == 0)
            xg__restore_log(c, "the image passed every check; nothing was changed");
        xg_pv_plan_free(&plan);
        return rc;
    }
    if ((rc = populate_unsent(c, &plan)) == 0 && (rc = localise(c, &plan)) == 0 &&
        (rc = fix_start_info(c, &plan)) == 0 && (rc = fix_p2m(c)) == 0 &&
        (rc = fix_shared_info(c)) == 0) {
        if (c->have_tsc)
            rc = xg_hv_tsc_info_set(c->hv, c->domid, &c->tsc, c->d);
    }
    if (rc == 0 && plan.vcpus_first)
        rc = set_vcpus(c);
    if (rc == 0)
        rc = pin_all(c, &plan);
    if (rc == 0 && !plan.vcpus_first)
        rc = set_vcpus(c);
    /* Last, as Xen's restore: the back ends' way into the console and xenstore rings. */
    if (rc == 0)
        rc = xg_hv_gnttab_seed(c->hv, c->domid, c->res->console_mfn, c->res->store_mfn,
                               c->p->console_domid, c->p->store_domid, c->d);
    if (rc == 0)
        xg__restore_log(
            c, "restored domain %u: %llu pages, %zu tables pinned, %u vcpus; it is left paused",
            c->domid, (unsigned long long)c->res->pages, plan.nr_pins, c->res->nr_vcpus);
    xg_pv_plan_free(&plan);
    return rc;
}
