/*
 * save.c - xg_save(): one save of an x86 PV guest, from the first look at
 * the domain to the END record, and the cleanup that leaves the guest as
 * it was when anything fails.
 *
 * Stream order (spec section 5.1, as Xen 4.17 writes it): headers,
 * X86_PV_INFO, STATIC_DATA_END, X86_PV_P2M_FRAMES, PAGE_DATA..., then
 * with the guest suspended X86_TSC_INFO, SHARED_INFO, per online vcpu
 * BASIC / EXTENDED / XSAVE / MSRS, and END.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "save_private.h"

static int setup(struct save_ctx *c)
{
    struct xg_loc l = { XGF_DOMID(c->domid) };
    int rc = xg_hv_domain_state(c->hv, c->domid, &c->info, c->d);
    if (rc < 0)
        return rc;
    if (c->info.hvm)
        return xg_diag_err(c->d, XG_E_UNSUPPORTED, &l,
                           "domain %u is an HVM guest; xg saves x86 PV guests only", c->domid);
    if (c->info.dying)
        return xg_diag_err(c->d, XG_E_GUEST, &l, "domain %u is being destroyed", c->domid);
    if (c->info.guest_width != 4 && c->info.guest_width != 8)
        return xg_diag_err(c->d, XG_E_GUEST, &l, "domain %u has an invalid guest width of %u bytes",
                           c->domid, c->info.guest_width);
    if (c->info.shutdown && c->info.shutdown_reason != XG_SHUTDOWN_SUSPEND)
        return xg_diag_err(c->d, XG_E_GUEST, &l,
                           "domain %u has shut down (reason %u): there is nothing to save",
                           c->domid, c->info.shutdown_reason);
    c->width = c->info.guest_width;
    c->levels = c->width == 8 ? 4 : 3;
    /* The compat M2P marks a PAE guest's Xen L2s; a 64-bit guest has none to mark. */
    c->compat_mfn0 = XG_INVALID_MFN;
    if ((rc = xg_hv_m2p(c->hv, &c->m2p, &c->nr_mfns, c->width == 4 ? &c->compat_mfn0 : NULL,
                        c->d)) < 0)
        return rc;
    return xg__save_map_p2m(c);
}

/* The domain's CPUID and MSR policy, when the backend can say (real Xen). */
static int write_cpu_policy(struct save_ctx *c)
{
    uint32_t nl = 4096, nm = 1024;
    struct xg_cpuid_leaf *leaves = calloc(nl, sizeof(*leaves));
    struct xg_msr_entry *msrs = calloc(nm, sizeof(*msrs));
    if (!leaves || !msrs) {
        free(leaves);
        free(msrs);
        return xg_diag_err(c->d, XG_E_NOMEM, NULL, "out of memory");
    }
    int rc = xg_hv_cpu_policy_get(c->hv, c->domid, leaves, &nl, msrs, &nm, c->d);
    if (rc == XG_E_UNSUPPORTED) {
        rc = 0; /* none to send: the receiver applies its default policy */
    } else if (rc == 0) {
        if (nl)
            rc = xg_stream_write_record(c->w, XG_REC_X86_CPUID_POLICY, leaves,
                                        nl * (uint32_t)sizeof(*leaves));
        if (rc == 0 && nm)
            rc = xg_stream_write_record(c->w, XG_REC_X86_MSR_POLICY, msrs,
                                        nm * (uint32_t)sizeof(*msrs));
    }
    free(leaves);
    free(msrs);
    return rc;
}

static int write_static(struct save_ctx *c)
{
    uint32_t major = 0, minor = 0;
    int rc = xg_hv_xen_version(c->hv, &major, &minor, c->d);
    if (rc == 0)
        rc = xg_stream_write_headers(c->w, XG_DOMAIN_X86_PV, major, minor);
    if (rc == 0)
        rc = xg_stream_write_pv_info(c->w, (uint8_t)c->width, (uint8_t)c->levels);
    if (rc == 0)
        rc = write_cpu_policy(c);
    if (rc == 0)
        rc = xg_stream_write_record(c->w, XG_REC_STATIC_DATA_END, NULL, 0);
    if (rc == 0)
        rc = xg_stream_write_p2m_frames(c->w, 0, (uint32_t)c->max_pfn, c->p2m_pfns, c->p2m_nr);
    return rc;
}

/* mfn -> pfn for a frame a vcpu names, or a finding. */
static int vcpu_frame(struct save_ctx *c, unsigned vcpu, const char *what, uint64_t mfn,
                      uint64_t *pfn)
{
    uint64_t p = xg__save_guest_pfn(c, mfn);
    if (p != ~0ULL) {
        *pfn = p;
        return 0;
    }
    struct xg_loc l = { XGF_DOMID(c->domid), XGF_VCPU(vcpu), XGF_MFN(mfn) };
    return xg_diag_err(c->d, XG_E_GUEST, &l,
                       "vcpu%u's %s names mfn %#llx, which is not one of the guest's frames", vcpu,
                       what, (unsigned long long)mfn);
}

static int write_vcpu(struct save_ctx *c, unsigned v)
{
    uint8_t ctx[XG_VCPU_CTX_MAX];
    size_t size = xg_vcpu_layout(c->width)->size;
    struct xg_pv_vcpu_frames f;
    const char *why;
    int rc = xg__save_vcpu_read(c, v, ctx, &f, &why);
    if (rc < 0)
        return rc;
    struct xg_loc vl = { XGF_DOMID(c->domid), XGF_VCPU(v) };
    if (rc > 0)
        return xg_diag_err(c->d, XG_E_GUEST, &vl, "vcpu%u: %s", v, why);
    if (v == 0 && (rc = vcpu_frame(c, v, "suspend record (start info, in rdx)", f.start_info,
                                   &f.start_info)) < 0)
        return rc;
    for (unsigned g = 0; g < f.nr_gdt; g++)
        if ((rc = vcpu_frame(c, v, "GDT frame", f.gdt[g], &f.gdt[g])) < 0)
            return rc;
    uint64_t cr3_mfn = f.cr3;
    if ((rc = vcpu_frame(c, v, "cr3", f.cr3, &f.cr3)) < 0)
        return rc;
    /*
     * A cr3 must name a top-level table; an image that says otherwise would
     * not restore.  A plain save typed every page with the guest suspended
     * all along: the type it recorded for cr3's pfn is the one to check, and
     * no hypercall is needed.  A live save asks, since the guest may have
     * made the frame a table after its last pass sent it.
     */
    uint32_t t;
    if (!c->p->live && f.cr3 < c->nr_pfns && c->last_type[f.cr3] != 0xff)
        t = (uint32_t)c->last_type[f.cr3] << XG_PFINFO_SHIFT;
    else if ((rc = xg_hv_page_types(c->hv, c->domid, 1, &cr3_mfn, &t, c->d)) < 0)
        return rc;
    if (xg_pfinfo_level(t) != c->levels) {
        struct xg_loc l = { XGF_DOMID(c->domid), XGF_VCPU(v), XGF_PFN(f.cr3), XGF_MFN(cr3_mfn),
                            XGF_REF_TYPE(t) };
        xg_diag_err(c->d, XG_E_GUEST, &l,
                    "vcpu%u's cr3 is pfn %#llx, which Xen reports as %s, not an L%u table", v,
                    (unsigned long long)f.cr3, xg_pfinfo_name(t), c->levels);
        xg_diag_hint(c->d, "the image would fail to restore (\"PT base is bad\"); the "
                           "guest's page tables are not what its vcpu uses");
        return XG_E_GUEST;
    }
    if (f.has_user && (rc = vcpu_frame(c, v, "user cr3 (ctrlreg[1])", f.user, &f.user)) < 0)
        return rc;
    xg_pv_vcpu_set_frames(ctx, c->width, v, &f, true);
    if ((rc = xg_stream_write_vcpu(c->w, XG_REC_X86_PV_VCPU_BASIC, v, ctx, (uint32_t)size)) < 0)
        return rc;

    static const enum xg_vcpu_blob kinds[] = { XG_VCPU_EXTENDED, XG_VCPU_XSAVE, XG_VCPU_MSRS };
    uint8_t *blob = malloc(1U << 16);
    if (!blob)
        return xg_diag_err(c->d, XG_E_NOMEM, NULL, "out of memory");
    for (size_t i = 0; i < XG_ARRAY_SIZE(kinds) && rc == 0; i++) {
        size_t len = 1U << 16;
        rc = xg_hv_vcpu_blob_get(c->hv, c->domid, v, kinds[i], blob, &len, c->d);
        /* Empty state is elided, as the spec asks. */
        if (rc == 0 && len)
            rc = xg_stream_write_vcpu(c->w, (uint32_t)kinds[i], v, blob, (uint32_t)len);
    }
    free(blob);
    return rc;
}

static int write_tail(struct save_ctx *c)
{
    struct xg_domain_state state;
    int rc = xg_hv_domain_state(c->hv, c->domid, &state, c->d);
    if (rc < 0)
        return rc;
    if (!state.shutdown || state.shutdown_reason != XG_SHUTDOWN_SUSPEND) {
        struct xg_loc l = { XGF_DOMID(c->domid) };
        return xg_diag_err(c->d, XG_E_GUEST, &l,
                           "domain %u is no longer suspended: its vcpus cannot be saved", c->domid);
    }
    /* Asked now, not at setup: a guest can take vcpus down or up while a live save runs. */
    unsigned nr_vcpus = state.nr_vcpus < XG_HV_MAX_VCPUS ? state.nr_vcpus : XG_HV_MAX_VCPUS;
    uint64_t online;
    if ((rc = xg_hv_vcpus_online(c->hv, c->domid, nr_vcpus, &online, c->d)) < 0)
        return rc;
    struct xg_rec_tsc_info tsc;
    if ((rc = xg_hv_tsc_info_get(c->hv, c->domid, &tsc, c->d)) < 0 ||
        (rc = xg_stream_write_tsc_info(c->w, &tsc)) < 0)
        return rc;
    if ((rc = xg_stream_write_record(c->w, XG_REC_SHARED_INFO, c->shinfo, XG_SHINFO_SIZE)) < 0)
        return rc;
    c->pass_done = 0;
    c->pass_total = nr_vcpus;
    for (unsigned v = 0; v < nr_vcpus; v++) {
        if (!(online & (1ULL << v)))
            continue;
        if ((rc = write_vcpu(c, v)) < 0)
            return rc;
        c->st->nr_vcpus++;
        c->pass_done = v + 1;
        xg__save_progress(c, "vcpus");
    }
    if (!(online & 1)) {
        struct xg_loc l = { XGF_DOMID(c->domid), XGF_VCPU(0) };
        return xg_diag_err(c->d, XG_E_GUEST, &l,
                           "vcpu0 is not online: an image without it cannot restore");
    }
    return xg_stream_write_end(c->w);
}

/*
 * Leave the guest as the save found it.  Returns 0, or XG_E_HV when a step
 * of that failed: then a finding says what is left behind and what to do.
 */
static int XG_MUST_CHECK cleanup(struct save_ctx *c, bool failed)
{
    int rc = 0;
    struct xg_loc l = { XGF_DOMID(c->domid) };
    if (c->logdirty_on) {
        if (xg_hv_logdirty(c->hv, c->domid, XG_LOGDIRTY_DISABLE, NULL, 0, NULL, c->d) < 0) {
            xg_diag_warn(c->d, &l, "domain %u is left in log-dirty mode: switching it off failed",
                         c->domid);
            xg_diag_hint(
                c->d,
                "the guest runs, more slowly; the next save of domain %u switches log-dirty "
                "off before it starts, or `xl destroy %u` if it is not to run on",
                c->domid, c->domid);
            rc = XG_E_HV;
            /* The tool reports a failure: leave the guest running, as a failed save does. */
            failed = true;
        }
        c->logdirty_on = false;
    }
    if (failed && c->suspended && c->p->toolstack_resumes) {
        xg__save_log(c, "the save failed: domain %u stays suspended for the toolstack to resume",
                     c->domid);
    } else if (failed && c->suspended) {
        /* A failed save leaves the guest running, as it found it. */
        if (xg_hv_resume(c->hv, c->domid, c->d) == 0) {
            xg__save_log(c, "the save failed: domain %u was resumed", c->domid);
        } else {
            xg_diag_err(c->d, XG_E_HV, &l,
                        "the save failed and domain %u could not be resumed: it stays suspended",
                        c->domid);
            xg_diag_hint(c->d,
                         "the toolstack resumes it (libxl_domain_resume; on a simulated "
                         "host `xg-sim resume HOST %u`), or `xl destroy %u` ends it",
                         c->domid, c->domid);
            rc = XG_E_HV;
        }
    }
    xg__save_unmap_p2m(c);
    free(c->b_pfns);
    free(c->b_mfns);
    free(c->b_entries);
    free(c->b_map_mfns);
    free(c->b_types);
    free(c->b_pages);
    free(c->b_maps);
    free(c->b_errs);
    free(c->scratch);
    free(c->scratch_spare);
    free(c->dirty);
    free(c->deferred);
    free(c->last_type);
    free(c->sent_mfn);
    return rc;
}

bool xg__save_serial_writer;

int xg_save(xg_hv *hv, uint32_t domid, int fd, const struct xg_save_params *params,
            const struct xg_save_callbacks *cb, struct xg_save_stats *stats, xg_diag *d)
{
    struct xg_save_params defaults = { 0 };
    struct xg_save_stats scratch_stats;
    struct save_ctx c = {
        .hv = hv,
        .domid = domid,
        .d = d,
        .p = params ? params : &defaults,
        .cb = cb,
        .st = stats ? stats : &scratch_stats,
        .t0 = xg__now(),
    };
    memset(c.st, 0, sizeof(*c.st));
    int rc = setup(&c);
    c.st->nr_pfns = c.nr_pfns;
    if (rc == 0 && c.p->check_only) {
        rc = xg__save_preflight(&c);
        int crc = cleanup(&c, rc < 0);
        if (rc == 0)
            rc = crc;
        c.st->seconds = xg__now() - c.t0;
        return rc;
    }
    if (rc == 0) {
        struct xg_stream_writer_opts wo = { .gzip = c.p->compress,
                                            .gzip_level = c.p->compress_level,
                                            .gzip_threads = c.p->compress_threads,
                                            .async = !xg__save_serial_writer };
        rc = xg_stream_writer_open(fd, &wo, d, &c.w);
    }
    if (rc == 0)
        rc = write_static(&c);
    if (rc == 0)
        rc = xg__save_memory(&c);
    if (rc == 0)
        rc = write_tail(&c);
    if (c.w) {
        int crc = rc == 0 ? xg_stream_writer_finish(c.w) : 0;
        c.st->bytes = xg_stream_writer_bytes(c.w);
        xg_stream_writer_close(c.w);
        if (rc == 0)
            rc = crc;
    }
    int crc = cleanup(&c, rc < 0);
    if (rc == 0)
        rc = crc;
    c.st->seconds = xg__now() - c.t0;
    if (rc == 0)
        xg__save_log(&c, "saved domain %u: %llu pages in %u pass%s, %.2f s", domid,
                     (unsigned long long)c.st->pages_sent, c.st->iterations,
                     c.st->iterations == 1 ? "" : "es", c.st->seconds);
    return rc;
}
