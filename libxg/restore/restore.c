/*
 * restore.c - xg_restore() and xg_image_check(): read the image record by
 * record, set up the domain, populate frames as pfns arrive and copy page
 * data in.  Page tables are written as they come, still in their
 * normalised (PFN) form: a live stream sends a page many times and only
 * the last copy counts, so nothing is localised, validated or pinned
 * before END (restore_finish.c).
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "restore_private.h"

/* ------------------------------------------------------------ per-pfn state */

static int grow(struct restore_ctx *c, uint64_t pfn, const struct xg_loc *loc)
{
    if (pfn < c->cap)
        return 0;
    if (pfn >= XG_RESTORE_MAX_PFNS)
        return xg_diag_err(c->d, XG_E_CORRUPT, loc,
                           "pfn %#llx is beyond what xg restores (%llu pfns, 256 GiB)",
                           (unsigned long long)pfn, (unsigned long long)XG_RESTORE_MAX_PFNS);
    uint64_t cap = XG_MAX(pfn + 1, c->cap * 2);
    if (c->have_p2m_frames)
        cap = XG_MAX(cap, c->declared_max_pfn + 1);
    cap = XG_MIN(XG_MAX(cap, 4096), XG_RESTORE_MAX_PFNS);
    /* Fresh zeroed blocks, old contents copied: pages never touched stay unallocated. */
    uint64_t *m = calloc(cap, sizeof(uint64_t));
    uint8_t *t = calloc(cap, 1);
    uint64_t **tb = c->tables_in_memory ? calloc(cap, sizeof(uint64_t *)) : NULL;
    if (!m || !t || (c->tables_in_memory && !tb)) {
        free(m);
        free(t);
        free(tb);
        return xg_diag_err(c->d, XG_E_NOMEM, loc, "out of memory tracking %llu pfns",
                           (unsigned long long)cap);
    }
    if (c->cap) {
        memcpy(m, c->mfn1, c->cap * sizeof(uint64_t));
        memcpy(t, c->type1, c->cap);
        if (tb)
            memcpy(tb, c->tables, c->cap * sizeof(uint64_t *));
    }
    free(c->mfn1);
    free(c->type1);
    free(c->tables);
    c->mfn1 = m;
    c->type1 = t;
    c->tables = tb;
    c->cap = cap;
    return 0;
}

/* ------------------------------------------------------------ the domain */

static int setup_domain(struct restore_ctx *c, const struct xg_loc *loc)
{
    if (!c->hv || c->have_domain)
        return 0;
    int rc;
    if (c->p->create) {
        if (c->p->check_only)
            return 0;
        struct xg_domain_config cfg = {
            .guest_width = c->width,
            .nr_vcpus = c->p->create_vcpus ? c->p->create_vcpus : 16,
            .max_pages = 16,
        };
        if ((rc = xg_hv_domain_create(c->hv, &cfg, &c->domid, c->d)) < 0)
            return rc;
        c->created = true;
        xg__restore_log(c, "created domain %u (%u-bit, %u vcpus)", c->domid, c->width * 8,
                        cfg.nr_vcpus);
    } else {
        c->domid = c->p->domid;
    }
    if ((rc = xg_hv_domain_info(c->hv, c->domid, &c->dinfo, c->d)) < 0)
        return rc;
    struct xg_loc l = { XGF_DOMID(c->domid) };
    if (c->dinfo.hvm)
        return xg_diag_err(c->d, XG_E_INVAL, &l,
                           "domain %u is an HVM domain; this image is of a PV guest", c->domid);
    if (c->dinfo.dying)
        return xg_diag_err(c->d, XG_E_INVAL, &l, "domain %u is being destroyed", c->domid);
    if (c->dinfo.nr_pages) {
        return xg_diag_err(c->d, XG_E_INVAL, &l,
                           "domain %u already has %llu pages: a restore goes into an empty domain",
                           c->domid, (unsigned long long)c->dinfo.nr_pages);
    }
    if (c->p->check_only) {
        c->have_domain = false;
        return 0;
    }
    if (c->dinfo.guest_width != c->width) {
        if ((rc = xg_hv_set_address_size(c->hv, c->domid, c->width, c->d)) < 0)
            return rc;
        xg__restore_log(c, "domain %u set to a %u-bit guest", c->domid, c->width * 8);
    }
    c->have_domain = true;
    /* From here on page contents go from the stream straight into the frames. */
    xg__stream_defer_page_data(c->r, !xg__restore_bounce_buffer);
    (void)loc;
    return 0;
}

/* ------------------------------------------------------------ records */

static int handle_pv_info(struct restore_ctx *c, const struct xg_record *rec)
{
    c->width = rec->u.pv_info.guest_width;
    c->levels = rec->u.pv_info.pt_levels;
    c->have_pv_info = true;
    c->res->guest_width = c->width;
    c->res->pt_levels = c->levels;
    struct xg_loc l = { XGF_REC(rec->index, rec->type), XGF_OFFSET(rec->offset) };
    return setup_domain(c, &l);
}

static int handle_p2m_frames(struct restore_ctx *c, const struct xg_record *rec)
{
    const struct xg_rec_p2m_frames *pf = &rec->u.p2m_frames;
    struct xg_loc l = { XGF_REC(rec->index, rec->type), XGF_OFFSET(rec->offset) };
    if (pf->start_pfn != 0 || c->have_p2m_frames)
        return xg_diag_err(c->d, XG_E_UNSUPPORTED, &l,
                           "X86_PV_P2M_FRAMES for pfns %#x-%#x: xg takes one "
                           "record covering the whole p2m from pfn 0",
                           pf->start_pfn, pf->end_pfn);
    if (pf->end_pfn >= XG_RESTORE_MAX_PFNS)
        return xg_diag_err(c->d, XG_E_CORRUPT, &l,
                           "X86_PV_P2M_FRAMES declares %llu pfns, beyond what xg restores",
                           (unsigned long long)pf->end_pfn + 1);
    c->p2m_pfns = malloc(pf->nr * sizeof(uint64_t));
    if (!c->p2m_pfns)
        return xg_diag_err(c->d, XG_E_NOMEM, &l, "out of memory");
    memcpy(c->p2m_pfns, pf->pfn, pf->nr * sizeof(uint64_t));
    if (c->tables_in_memory) {
        /* Offline, the p2m's frames are kept (restore.c keep_ordinary): mark them. */
        c->p2m_frame_bits = calloc(XG_BITMAP_LONGS((uint64_t)pf->end_pfn + 1),
                                   sizeof(unsigned long));
        if (!c->p2m_frame_bits)
            return xg_diag_err(c->d, XG_E_NOMEM, &l, "out of memory");
        for (uint32_t i = 0; i < pf->nr; i++)
            if (pf->pfn[i] <= pf->end_pfn)
                xg__set_bit(c->p2m_frame_bits, pf->pfn[i]);
    }
    c->nr_p2m = pf->nr;
    c->declared_max_pfn = pf->end_pfn;
    c->have_p2m_frames = true;
    int rc = grow(c, pf->end_pfn, &l);
    if (rc == 0 && c->have_domain && c->created)
        rc = xg_hv_set_max_pages(c->hv, c->domid, (uint64_t)pf->end_pfn + 1, c->d);
    return rc;
}

/* The second copy of a page (XCFLAGS_DEBUG's VERIFY pass) against what its frame holds. */
static void verify_page(struct restore_ctx *c, unsigned i, const uint8_t *copy)
{
    if (memcmp(c->b_pages[i], copy, XG_PAGE_SIZE) == 0)
        return;
    c->verify_mismatches++;
    struct xg_loc l = { XGF_DOMID(c->domid), XGF_PFN(c->b_pfns[i]) };
    xg_diag_warn(c->d, &l, "verify pfn %#llx failed: the second copy differs from the first",
                 (unsigned long long)c->b_pfns[i]);
}

/*
 * The contents of n pages into their new frames (c->b_pfns, c->b_mfns):
 * copied from src, or, when src is NULL, read from the stream straight into
 * the mapped frames, with no bounce buffer (the reader defers PAGE_DATA
 * contents once there is a domain: xg__stream_defer_page_data).  In verify
 * mode each page is compared with its frame instead.
 */
static int fill_batch(struct restore_ctx *c, unsigned n, const uint8_t *const *src)
{
    xg_hv_mapping *m = NULL;
    int rc = xg_hv_map(c->hv, c->domid, PROT_READ | PROT_WRITE, n, c->b_mfns, c->b_pages, c->b_errs,
                       &m, c->d);
    if (rc < 0)
        return rc;
    for (unsigned i = 0; i < n && rc == 0; i++) {
        if (c->b_pages[i])
            continue;
        struct xg_loc l = { XGF_DOMID(c->domid), XGF_PFN(c->b_pfns[i]), XGF_MFN(c->b_mfns[i]) };
        rc = xg_diag_syserr(c->d, XG_E_HV, c->b_errs[i], &l,
                            "cannot map the new frame of pfn %#llx writable",
                            (unsigned long long)c->b_pfns[i]);
    }
    uint8_t copy[XG_PAGE_SIZE];
    for (unsigned i = 0; rc == 0 && i < n && (src || c->verify); i++) {
        const uint8_t *page = src ? src[i] : copy;
        if (!src && (rc = xg__stream_read_pages(c->r, (uint8_t *const[]){ copy }, 1)) < 0)
            break;
        if (c->verify)
            verify_page(c, i, page);
        else
            memcpy(c->b_pages[i], page, XG_PAGE_SIZE);
    }
    if (rc == 0 && !src && !c->verify)
        rc = xg__stream_read_pages(c->r, (uint8_t *const *)c->b_pages, n);
    xg_hv_unmap(c->hv, m);
    return rc;
}

/* Whether the record also sends data for pfn (it may list a pfn more than once). */
static bool has_data_entry(const struct xg_rec_page_data *pd, uint64_t pfn)
{
    for (uint32_t i = 0; i < pd->count; i++)
        if (xg_pd_pfn(pd->pfn[i]) == pfn && xg_pfinfo_has_data(xg_pd_type(pd->pfn[i])))
            return true;
    return false;
}

/*
 * A pfn sent with data in one pass and as XTAB in a later one was
 * ballooned out meanwhile: its frame goes back to Xen, so the restored
 * domain holds the memory the guest holds.  (Xen's own restore keeps such
 * a frame populated; legacy xc_domain_restore freed the pfns of its
 * "unmapped pfn list" the same way.)  A pfn the same record also sends
 * with data keeps its frame: Xen skips the XTAB entry and writes the data.
 */
static int give_back_xtab(struct restore_ctx *c, const struct xg_rec_page_data *pd)
{
    uint64_t mfns[64];
    unsigned n = 0;
    for (uint32_t i = 0; i <= pd->count; i++) {
        if (i == pd->count || n == XG_ARRAY_SIZE(mfns)) {
            int rc = n ? xg_hv_depopulate(c->hv, c->domid, n, mfns, c->d) : 0;
            if (rc < 0)
                return rc;
            c->res->pages -= n;
            n = 0;
            if (i == pd->count)
                break;
        }
        uint64_t pfn = xg_pd_pfn(pd->pfn[i]);
        uint32_t type = xg_pd_type(pd->pfn[i]);
        if ((type & XG_PFINFO_LTAB_MASK) != XG_PFINFO_XTAB || !c->mfn1[pfn] ||
            c->mfn1[pfn] == ~0ULL || has_data_entry(pd, pfn))
            continue;
        mfns[n++] = c->mfn1[pfn] - 1;
        c->mfn1[pfn] = 0;
    }
    return 0;
}

/*
 * An ordinary page worth keeping offline: a start info page, a frame of the guest's p2m
 * (it names the pfn of a machine frame the saver could not map), or one whose contents
 * read as a table.
 */
static bool keep_ordinary(const struct restore_ctx *c, uint64_t pfn, const uint8_t *page)
{
    if (!memcmp(page, "xen-", 4) && memchr(page, 0, XG_START_INFO_MAGIC_LEN))
        return true;
    if (c->p2m_frame_bits && pfn <= c->declared_max_pfn && xg__test_bit(c->p2m_frame_bits, pfn))
        return true;
    return c->have_p2m_frames && xg_pv_table_like(page, c->declared_max_pfn + 1, true) != 0;
}

static int handle_page_data(struct restore_ctx *c, const struct xg_record *rec)
{
    const struct xg_rec_page_data *pd = &rec->u.page_data;
    struct xg_loc l = { XGF_REC(rec->index, rec->type), XGF_OFFSET(rec->offset) };
    int rc;

    if (!c->have_pv_info)
        return xg_diag_err(c->d, XG_E_CORRUPT, &l, "PAGE_DATA before X86_PV_INFO");
    /* First the pfns: range, record types, frames to allocate. */
    unsigned npop = 0;
    for (uint32_t i = 0; i < pd->count; i++) {
        uint64_t pfn = xg_pd_pfn(pd->pfn[i]);
        uint32_t type = xg_pd_type(pd->pfn[i]);
        struct xg_loc pl = l;
        pl.has_pfn = 1;
        pl.pfn = pfn;
        if (c->have_p2m_frames && pfn > c->declared_max_pfn)
            return xg_diag_err(c->d, XG_E_CORRUPT, &pl,
                               "PAGE_DATA pfn %#llx (index %u) is outside the "
                               "domain's maximum %#llx (X86_PV_P2M_FRAMES)",
                               (unsigned long long)pfn, i, (unsigned long long)c->declared_max_pfn);
        if ((rc = grow(c, pfn, &pl)) < 0)
            return rc;
        if (!c->any_pfn || pfn > c->max_pfn)
            c->max_pfn = pfn;
        c->any_pfn = true;
        c->type1[pfn] = (uint8_t)((type >> XG_PFINFO_SHIFT) + 1);
        if (c->have_domain && xg_pfinfo_populate(type) && !c->mfn1[pfn]) {
            c->mfn1[pfn] = ~0ULL; /* claimed: a pfn listed twice in one record gets one frame */
            c->b_pfns[npop++] = pfn;
            if (npop == XG_MAX_BATCH) {
                if ((rc = xg__restore_populate(c, c->b_pfns, npop)) < 0)
                    return rc;
                npop = 0;
            }
        }
    }
    if (npop && (rc = xg__restore_populate(c, c->b_pfns, npop)) < 0)
        return rc;
    if (c->have_domain && (rc = give_back_xtab(c, pd)) < 0)
        return rc;

    /* Then the data: copied into the frames (page tables as they are, normalised). */
    const uint8_t *data = pd->data;
    const uint8_t *srcs[XG_MAX_BATCH];
    unsigned nsrc = 0;
    for (uint32_t i = 0; i < pd->count; i++) {
        uint64_t pfn = xg_pd_pfn(pd->pfn[i]);
        uint32_t type = xg_pd_type(pd->pfn[i]);
        if (!xg_pfinfo_has_data(type)) {
            if (c->tables_in_memory && c->tables[pfn]) {
                free(c->tables[pfn]);
                c->tables[pfn] = NULL;
            }
            continue;
        }
        const uint8_t *page = data;
        if (data)
            data += XG_PAGE_SIZE;
        if (c->tables_in_memory) {
            /* The vcpu records naming GDT frames come after the pages: note, for each
             * ordinary page, whether Xen would refuse it as one (pv/validate.c). */
            uint64_t desc;
            const char *why;
            if (!xg_pfinfo_level(type) && xg_pv_gdt_frame_check(page, c->width, &desc, &why) >= 0)
                c->type1[pfn] |= RC_GDT_REFUSED;
            /* No domain: keep the normalised tables for validation, and the few ordinary pages
             * that tell what the tables are (start info, table-like contents: pv/levels.c). */
            if (xg_pfinfo_level(type) || keep_ordinary(c, pfn, page)) {
                if (!c->tables[pfn] && !(c->tables[pfn] = malloc(XG_PAGE_SIZE)))
                    return xg_diag_err(c->d, XG_E_NOMEM, &l, "out of memory");
                memcpy(c->tables[pfn], page, XG_PAGE_SIZE);
            } else if (c->tables[pfn]) {
                free(c->tables[pfn]);
                c->tables[pfn] = NULL;
            }
            continue;
        }
        if (!c->mfn1[pfn] || c->mfn1[pfn] == ~0ULL) {
            /* Never a made-up frame number to the hypervisor, whatever the stream says. */
            struct xg_loc pl = l;
            pl.has_pfn = 1;
            pl.pfn = pfn;
            return xg_diag_err(c->d, XG_E_CORRUPT, &pl,
                               "PAGE_DATA sends data for pfn %#llx, which has no frame",
                               (unsigned long long)pfn);
        }
        c->b_pfns[nsrc] = pfn;
        c->b_mfns[nsrc] = c->mfn1[pfn] - 1;
        srcs[nsrc++] = page;
        if (nsrc == XG_MAX_BATCH) {
            if ((rc = fill_batch(c, nsrc, data ? srcs : NULL)) < 0)
                return rc;
            nsrc = 0;
        }
    }
    if (nsrc && (rc = fill_batch(c, nsrc, data ? srcs : NULL)) < 0)
        return rc;
    c->pages_done += pd->count;
    xg__restore_progress(c, "restore", c->pages_done,
                         c->have_p2m_frames ? c->declared_max_pfn + 1 : c->pages_done);
    return 0;
}

static int handle_vcpu(struct restore_ctx *c, const struct xg_record *rec)
{
    const struct xg_rec_vcpu *v = &rec->u.vcpu;
    struct xg_loc l = { XGF_REC(rec->index, rec->type), XGF_OFFSET(rec->offset),
                        XGF_VCPU(v->vcpu_id) };
    if (v->vcpu_id >= XG_HV_MAX_VCPUS)
        return xg_diag_err(c->d, XG_E_CORRUPT, &l,
                           "%s record for vcpu%u: xg handles at most %u vcpus",
                           xg_stream_rec_name(rec->type), v->vcpu_id, XG_HV_MAX_VCPUS);
    if (c->have_domain && v->vcpu_id >= c->dinfo.nr_vcpus)
        return xg_diag_err(
            c->d, XG_E_INVAL, &l, "%s record vcpu_id (%u) exceeds domain %u's max (%u)",
            xg_stream_rec_name(rec->type), v->vcpu_id, c->domid, c->dinfo.nr_vcpus - 1);
    if (v->vcpu_id >= c->nr_vcpus) {
        struct vcpu_stash *s = realloc(c->vcpu, (v->vcpu_id + 1) * sizeof(*s));
        if (!s)
            return xg_diag_err(c->d, XG_E_NOMEM, &l, "out of memory");
        memset(s + c->nr_vcpus, 0, (v->vcpu_id + 1 - c->nr_vcpus) * sizeof(*s));
        c->vcpu = s;
        c->nr_vcpus = v->vcpu_id + 1;
    }
    struct vcpu_stash *s = &c->vcpu[v->vcpu_id];
    if (rec->type == XG_REC_X86_PV_VCPU_BASIC) {
        memcpy(s->basic, v->ctx, v->size);
        s->present = true;
        return 0;
    }
    if (v->size == 0)
        return 0;
    unsigned k = rec->type == XG_REC_X86_PV_VCPU_EXTENDED ? 0
                 : rec->type == XG_REC_X86_PV_VCPU_XSAVE  ? 1
                                                          : 2;
    void *copy = malloc(v->size);
    if (!copy)
        return xg_diag_err(c->d, XG_E_NOMEM, &l, "out of memory");
    memcpy(copy, v->ctx, v->size);
    free(s->blob[k]);
    s->blob[k] = copy;
    s->blob_len[k] = v->size;
    return 0;
}

/*
 * The end of static data: apply the CPU policies the image held (when the
 * backend can), then tell the caller what was missing.  Version 2 streams
 * have no STATIC_DATA_END: it is implied at the first X86_PV_P2M_FRAMES.
 */
static int static_data_end(struct restore_ctx *c)
{
    if (c->static_done)
        return 0;
    c->static_done = true;
    unsigned missing = (c->cpuid ? 0 : XG_SDD_MISSING_CPUID) | (c->msr ? 0 : XG_SDD_MISSING_MSR);
    if (c->hv && c->have_domain && (c->cpuid || c->msr)) {
        int rc = xg_hv_cpu_policy_set(c->hv, c->domid, c->cpuid, c->nr_cpuid, c->msr, c->nr_msr,
                                      c->d);
        if (rc == XG_E_UNSUPPORTED)
            xg__restore_log(c, "the image's CPU policy was not applied: this backend has none");
        else if (rc < 0)
            return rc;
    }
    if (c->cb && c->cb->static_data_done && c->cb->static_data_done(c->cb->arg, missing) != 0)
        return xg_diag_err(
            c->d, XG_E_CANCELLED, NULL,
            "the toolstack refused the image's static data (static_data_done, missing %#x)",
            missing);
    return 0;
}

static int keep_policy(struct restore_ctx *c, const struct xg_record *rec)
{
    size_t len = rec->length;
    void *copy = malloc(len);
    if (!copy)
        return xg_diag_err(c->d, XG_E_NOMEM, NULL, "out of memory");
    memcpy(copy, rec->body, len);
    if (rec->type == XG_REC_X86_CPUID_POLICY) {
        free(c->cpuid);
        c->cpuid = copy;
        c->nr_cpuid = rec->u.cpuid.nr;
    } else {
        free(c->msr);
        c->msr = copy;
        c->nr_msr = rec->u.msr.nr;
    }
    return 0;
}

static int handle_record(struct restore_ctx *c, const struct xg_record *rec)
{
    struct xg_loc l = { XGF_REC(rec->index, rec->type), XGF_OFFSET(rec->offset) };
    if ((rec->type == XG_REC_X86_PV_P2M_FRAMES || rec->type == XG_REC_PAGE_DATA) &&
        !c->static_done) {
        int rc = static_data_end(c);
        if (rc < 0)
            return rc;
    }
    switch (rec->type) {
    case XG_REC_X86_PV_INFO:
        return handle_pv_info(c, rec);
    case XG_REC_X86_PV_P2M_FRAMES:
        return handle_p2m_frames(c, rec);
    case XG_REC_PAGE_DATA:
        return handle_page_data(c, rec);
    case XG_REC_X86_PV_VCPU_BASIC:
    case XG_REC_X86_PV_VCPU_EXTENDED:
    case XG_REC_X86_PV_VCPU_XSAVE:
    case XG_REC_X86_PV_VCPU_MSRS:
        return handle_vcpu(c, rec);
    case XG_REC_SHARED_INFO:
        memcpy(c->shinfo, rec->u.blob.data, XG_SHINFO_SIZE);
        c->have_shinfo = true;
        return 0;
    case XG_REC_X86_TSC_INFO:
        c->tsc = rec->u.tsc;
        c->have_tsc = true;
        return 0;
    case XG_REC_VERIFY:
        c->verify = true;
        xg__restore_log(
            c, "VERIFY record: the pages that follow are compared with those already restored");
        return 0;
    case XG_REC_CHECKPOINT:
        return xg_diag_err(c->d, XG_E_UNSUPPORTED, &l,
                           "CHECKPOINT record: this is a Remus/COLO "
                           "checkpointed stream, which xg does not restore");
    case XG_REC_X86_CPUID_POLICY:
    case XG_REC_X86_MSR_POLICY:
        return keep_policy(c, rec);
    case XG_REC_STATIC_DATA_END:
        return static_data_end(c);
    default:
        if (rec->type & XG_REC_OPTIONAL) {
            xg__restore_log(c, "ignoring optional record %#x", rec->type);
            return 0;
        }
        return xg_diag_err(c->d, XG_E_UNSUPPORTED, &l, "%s is not part of an x86 PV image",
                           xg_stream_rec_name(rec->type));
    }
}

/* ------------------------------------------------------------ driver */

static void free_ctx(struct restore_ctx *c)
{
    if (c->tables)
        for (uint64_t p = 0; p < c->cap; p++)
            free(c->tables[p]);
    for (unsigned v = 0; v < c->nr_vcpus; v++)
        for (int k = 0; k < 3; k++)
            free(c->vcpu[v].blob[k]);
    free(c->vcpu);
    free(c->tables);
    free(c->mfn1);
    free(c->type1);
    free(c->p2m_pfns);
    free(c->p2m_frame_bits);
    free(c->b_pfns);
    free(c->b_mfns);
    free(c->b_pages);
    free(c->b_errs);
    free(c->pinned);
    free(c->cpuid);
    free(c->msr);
    xg_stream_reader_close(c->r);
}

bool xg__restore_bounce_buffer;

static int run(struct restore_ctx *c, int fd)
{
    struct xg_stream_reader_opts ro = { .raw_only = c->p->raw_only };
    c->b_pfns = malloc(XG_MAX_BATCH * sizeof(uint64_t));
    c->b_mfns = malloc(XG_MAX_BATCH * sizeof(uint64_t));
    c->b_pages = malloc(XG_MAX_BATCH * sizeof(void *));
    c->b_errs = malloc(XG_MAX_BATCH * sizeof(int));
    if (!c->b_pfns || !c->b_mfns || !c->b_pages || !c->b_errs)
        return xg_diag_err(c->d, XG_E_NOMEM, NULL, "out of memory");
    int rc = xg_stream_reader_open(fd, &ro, c->d, &c->r);
    if (rc < 0)
        return rc;
    c->res->image = *xg_stream_reader_info(c->r);
    if (c->res->image.domain_type != XG_DOMAIN_X86_PV)
        return xg_diag_err(c->d, XG_E_UNSUPPORTED, NULL,
                           "the image is of an HVM guest; xg restores x86 PV guests only");
    xg__restore_log(c, "image: libxc stream v%u from Xen %u.%u%s", c->res->image.version,
                    c->res->image.xen_major, c->res->image.xen_minor,
                    c->res->image.gzip ? ", gzip" : "");
    struct xg_record rec;
    for (;;) {
        if ((rc = xg_stream_read(c->r, &rec)) < 0)
            return rc;
        c->res->records++;
        if (rec.type == XG_REC_END)
            break;
        if ((rc = handle_record(c, &rec)) < 0)
            return rc;
    }
    /* Wrapped images: read on to the libxl END (and the gzip trailer, checked there). */
    if ((rc = xg_stream_read_trailer(c->r)) < 0)
        return rc;
    c->res->bytes = xg_stream_reader_offset(c->r);
    if (!c->have_pv_info)
        return xg_diag_err(c->d, XG_E_CORRUPT, NULL, "the image has no X86_PV_INFO record");
    if (!c->any_pfn)
        return xg_diag_err(c->d, XG_E_CORRUPT, NULL, "the image holds no memory (no PAGE_DATA)");
    return xg__restore_finish(c);
}

int xg_restore(xg_hv *hv, int fd, const struct xg_restore_params *params,
               const struct xg_restore_callbacks *cb, struct xg_restore_result *res, xg_diag *d)
{
    struct xg_restore_result scratch;
    struct restore_ctx c = {
        .hv = hv,
        .d = d,
        .p = params,
        .cb = cb,
        .res = res ? res : &scratch,
        .t0 = xg__now(),
        .tables_in_memory = params->check_only,
    };
    memset(c.res, 0, sizeof(*c.res));
    c.res->store_mfn = c.res->console_mfn = ~0ULL;
    c.res->store_evtchn = c.res->console_evtchn = -1;
    c.res->check_only = params->check_only;
    if (!hv) {
        return xg_diag_err(d, XG_E_INVAL, NULL, "xg_restore needs a hypervisor backend");
    }
    int rc = run(&c, fd);
    c.res->domid = c.domid;
    c.res->created = c.created;
    if (rc < 0) {
        bool unpinned = xg__restore_unpin_all(&c) == 0;
        if (c.created) {
            if (xg_hv_domain_destroy(hv, c.domid, d) == 0) {
                xg__restore_log(
                    &c, "the restore failed: domain %u, which it had created, was destroyed%s",
                    c.domid, unpinned ? "" : " (with the tables left pinned)");
                c.res->created = false;
            } else {
                struct xg_loc l = { XGF_DOMID(c.domid) };
                xg_diag_warn(
                    d, &l,
                    "the restore failed and destroying domain %u, which it had created, failed too",
                    c.domid);
                xg_diag_hint(d, "the domain is left behind: `xl destroy %u` ends it", c.domid);
            }
        } else if (c.have_domain && unpinned && c.vcpus_set) {
            xg__restore_log(&c,
                            "the restore failed: domain %u holds nothing pinned, but %u vcpu "
                            "contexts set hold references to their page tables; destroy it",
                            c.domid, c.vcpus_set);
        } else if (c.have_domain && unpinned) {
            xg__restore_log(
                &c, "the restore failed: domain %u holds nothing pinned and can be destroyed",
                c.domid);
        }
    }
    c.res->seconds = xg__now() - c.t0;
    free_ctx(&c);
    return rc;
}

int xg_image_check(int fd, const struct xg_restore_callbacks *cb, struct xg_restore_result *res,
                   xg_diag *d)
{
    struct xg_restore_params p = { .check_only = true };
    struct xg_restore_result scratch;
    struct restore_ctx c = { .d = d,
                             .p = &p,
                             .cb = cb,
                             .res = res ? res : &scratch,
                             .t0 = xg__now(),
                             .tables_in_memory = true };
    memset(c.res, 0, sizeof(*c.res));
    c.res->store_mfn = c.res->console_mfn = ~0ULL;
    c.res->store_evtchn = c.res->console_evtchn = -1;
    c.res->check_only = true;
    int rc = run(&c, fd);
    c.res->seconds = xg__now() - c.t0;
    free_ctx(&c);
    return rc;
}
