/*
 * xen.c - the real Xen backend: the xg_hv_ops over Xen 4.17's libxenctrl,
 * libxenforeignmemory, libxenevtchn and libxenstore.
 *
 * Each op is the call (or the domctl) that libxenguest's own save/restore
 * (tools/libs/guest/xg_sr_*.c) or libxl (libxl_dom_suspend.c) makes for
 * the same job, so that images and behaviour match Xen's tools; the
 * mapping op by op, what was checked and what still has to be checked on
 * a real host are in docs/xen-backend.md.
 *
 * Only public interfaces are used: libxenctrl's declared functions and
 * its hypercall buffers with xc_domctl / xc_memory_op for the domctls it
 * has no wrapper for, and the privcmd driver's hypercall ioctl (the one
 * libxencall uses) for mmu_update and mmuext_op, whose libxenctrl
 * wrappers cannot say how many requests took effect before a failure.
 * libxenguest is not linked.
 *
 * This file holds the ops table, open and close, and the domain ops; the
 * rest of the backend is split by job (xen_backend_private.h lists the
 * files).
 *
 * Errors: every refusal becomes one XG_E_HV finding with Xen's errno and
 * the domain, vcpu or frame concerned; if the Xen libraries logged a
 * warning or error during the op, it follows as a note.  The libraries
 * never print: they log to a logger of ours that only keeps the last
 * message.
 */
#include "config.h"

#include "hv/xen_private.h"

#ifdef XG_HAVE_XEN

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pv/abi.h"
#include "xg/pagetype.h"
#include "hv/xen_backend_private.h"

/* ------------------------------------------------------------ the ABI we rely on */

/* vcpu_guest_context in the guest's layout (hv.h, pv/abi.h). */
_Static_assert(sizeof(vcpu_guest_context_x86_64_t) == XG_VCPU_CTX64_SIZE,
               "64-bit vcpu context size");
_Static_assert(sizeof(vcpu_guest_context_x86_32_t) == XG_VCPU_CTX32_SIZE,
               "32-bit vcpu context size");
_Static_assert(sizeof(vcpu_guest_context_any_t) >= XG_VCPU_CTX_MAX,
               "vcpu_guest_context_any_t holds both layouts");
/* The X86_CPUID_POLICY / X86_MSR_POLICY record entries are Xen's own structs. */
_Static_assert(sizeof(struct xg_cpuid_leaf) == sizeof(xen_cpuid_leaf_t), "cpuid leaf size");
_Static_assert(offsetof(struct xg_cpuid_leaf, leaf) == offsetof(xen_cpuid_leaf_t, leaf),
               "cpuid leaf.leaf");
_Static_assert(offsetof(struct xg_cpuid_leaf, subleaf) == offsetof(xen_cpuid_leaf_t, subleaf),
               "cpuid leaf.subleaf");
_Static_assert(offsetof(struct xg_cpuid_leaf, a) == offsetof(xen_cpuid_leaf_t, a), "cpuid leaf.a");
_Static_assert(offsetof(struct xg_cpuid_leaf, b) == offsetof(xen_cpuid_leaf_t, b), "cpuid leaf.b");
_Static_assert(offsetof(struct xg_cpuid_leaf, c) == offsetof(xen_cpuid_leaf_t, c), "cpuid leaf.c");
_Static_assert(offsetof(struct xg_cpuid_leaf, d) == offsetof(xen_cpuid_leaf_t, d), "cpuid leaf.d");
_Static_assert(sizeof(struct xg_msr_entry) == sizeof(xen_msr_entry_t), "msr entry size");
_Static_assert(offsetof(struct xg_msr_entry, idx) == offsetof(xen_msr_entry_t, idx),
               "msr entry.idx");
_Static_assert(offsetof(struct xg_msr_entry, flags) == offsetof(xen_msr_entry_t, flags),
               "msr entry.flags");
_Static_assert(offsetof(struct xg_msr_entry, val) == offsetof(xen_msr_entry_t, val),
               "msr entry.val");
/* mmu_update requests go to Xen as they are. */
_Static_assert(sizeof(struct xg_mmu_update) == sizeof(mmu_update_t), "mmu_update_t size");
_Static_assert(offsetof(struct xg_mmu_update, ptr) == offsetof(mmu_update_t, ptr),
               "mmu_update_t.ptr");
_Static_assert(offsetof(struct xg_mmu_update, val) == offsetof(mmu_update_t, val),
               "mmu_update_t.val");
_Static_assert(XG_MMU_NORMAL_PT_UPDATE == MMU_NORMAL_PT_UPDATE &&
                   XG_MMU_MACHPHYS_UPDATE == MMU_MACHPHYS_UPDATE,
               "mmu_update kinds");
_Static_assert(XG_MMUEXT_PIN_L1_TABLE == MMUEXT_PIN_L1_TABLE &&
                   XG_MMUEXT_PIN_L2_TABLE == MMUEXT_PIN_L2_TABLE &&
                   XG_MMUEXT_PIN_L3_TABLE == MMUEXT_PIN_L3_TABLE &&
                   XG_MMUEXT_PIN_L4_TABLE == MMUEXT_PIN_L4_TABLE &&
                   XG_MMUEXT_UNPIN_TABLE == MMUEXT_UNPIN_TABLE &&
                   XG_MMUEXT_NEW_BASEPTR == MMUEXT_NEW_BASEPTR,
               "mmuext commands");
/* Page types come back from getpageframeinfo3 unchanged. */
_Static_assert(
    XG_PFINFO_SHIFT == XEN_DOMCTL_PFINFO_LTAB_SHIFT && XG_PFINFO_NOTAB == XEN_DOMCTL_PFINFO_NOTAB &&
        XG_PFINFO_L1TAB == XEN_DOMCTL_PFINFO_L1TAB && XG_PFINFO_L2TAB == XEN_DOMCTL_PFINFO_L2TAB &&
        XG_PFINFO_L3TAB == XEN_DOMCTL_PFINFO_L3TAB && XG_PFINFO_L4TAB == XEN_DOMCTL_PFINFO_L4TAB &&
        XG_PFINFO_LTABTYPE_MASK == XEN_DOMCTL_PFINFO_LTABTYPE_MASK &&
        XG_PFINFO_LPINTAB == XEN_DOMCTL_PFINFO_LPINTAB &&
        XG_PFINFO_XTAB == XEN_DOMCTL_PFINFO_XTAB && XG_PFINFO_XALLOC == XEN_DOMCTL_PFINFO_XALLOC &&
        XG_PFINFO_BROKEN == XEN_DOMCTL_PFINFO_BROKEN &&
        XG_PFINFO_LTAB_MASK == XEN_DOMCTL_PFINFO_LTAB_MASK,
    "XEN_DOMCTL_PFINFO_* values");
_Static_assert(XG_DOMID_SELF == DOMID_SELF && XG_DOMID_XEN == DOMID_XEN &&
                   XG_DOMID_INVALID == DOMID_INVALID,
               "DOMID_* values");
_Static_assert(XG_SHUTDOWN_POWEROFF == SHUTDOWN_poweroff && XG_SHUTDOWN_REBOOT == SHUTDOWN_reboot &&
                   XG_SHUTDOWN_SUSPEND == SHUTDOWN_suspend && XG_SHUTDOWN_CRASH == SHUTDOWN_crash,
               "SHUTDOWN_* reasons");
/* Frame numbers travel as uint64_t; a 64-bit toolstack's xen_pfn_t is the same. */
_Static_assert(sizeof(xen_pfn_t) == sizeof(uint64_t),
               "xen_pfn_t is 64 bits (64-bit toolstack only)");
/* X86_PV_VCPU_EXTENDED is the whole ext_vcpucontext, at most 128 bytes (xg_sr_restore_x86_pv.c). */
_Static_assert(sizeof(struct xen_domctl_ext_vcpucontext) <= 128,
               "ext_vcpucontext fits the record's limit");
/* X86_PV_VCPU_MSRS is an array of xen_domctl_vcpu_msr_t. */
_Static_assert(sizeof(xen_domctl_vcpu_msr_t) == 16, "vcpu msr entry");

#define DEFAULT_MAX_EVTCHN_PORT 1023U /* libxl's default event_channels */

/* ------------------------------------------------------------ domain ops */

static void xen_close(xg_hv *hv)
{
    struct xen_hv *x = hv->priv;
    if (!x)
        return;
    if (x->m2p)
        xenforeignmemory_unmap(x->fmem, x->m2p, x->m2p_frames);
    if (x->privcmd >= 0)
        close(x->privcmd);
    if (x->xsh)
        xs_close(x->xsh);
    if (x->xce)
        xenevtchn_close(x->xce);
    if (x->fmem)
        xenforeignmemory_close(x->fmem);
    if (x->xch)
        xc_interface_close(x->xch);
    free(x);
    hv->priv = NULL;
}

static int xen_xen_version(xg_hv *hv, uint32_t *major, uint32_t *minor, xg_diag *d)
{
    struct xen_hv *x = xg__xen_op(hv);
    int v = xc_version(x->xch, XENVER_version, NULL);
    if (v < 0)
        return FAIL(x, d, errno, NULL, "asking Xen for its version failed (XENVER_version)");
    *major = (uint32_t)v >> 16;
    *minor = (uint32_t)v & 0xffff;
    return 0;
}

/* The run state from one getdomaininfolist answer: domain_state's, and domain_info's first part. */
static void state_from_di(uint32_t domid, const xc_domaininfo_t *di, struct xg_domain_state *st)
{
    memset(st, 0, sizeof(*st));
    st->domid = domid;
    st->hvm = di->flags & XEN_DOMINF_hvm_guest;
    st->paused = di->flags & XEN_DOMINF_paused;
    st->shutdown = di->flags & XEN_DOMINF_shutdown;
    st->shutdown_reason = st->shutdown ? xg__xen_di_reason(di) : 0;
    st->dying = di->flags & XEN_DOMINF_dying;
    st->nr_vcpus = di->max_vcpu_id == XEN_INVALID_MAX_VCPU_ID ? 0 : di->max_vcpu_id + 1;
    st->nr_pages = di->tot_pages;
    st->max_pages = di->max_pages;
    st->shared_info_mfn = di->shared_info_frame;
}

static int xen_domain_state(xg_hv *hv, uint32_t domid, struct xg_domain_state *out, xg_diag *d)
{
    struct xen_hv *x = xg__xen_op(hv);
    xc_domaininfo_t di;
    int rc = xg__xen_domain_getinfo(x, domid, &di, d);
    if (rc < 0)
        return rc;
    state_from_di(domid, &di, out);
    /* Asked once per domain (xg__xen_guest_width remembers it): free in a save's later asks. */
    if (x->width_domid == domid && x->width_shinfo != out->shared_info_mfn)
        xg__xen_width_known(x, domid, 0);
    if (!out->hvm && !out->dying && (rc = xg__xen_guest_width(x, domid, &out->guest_width, d)) < 0)
        return rc;
    x->width_shinfo = out->shared_info_mfn;
    return 0;
}

/* Online vcpus as libxenguest's write_all_vcpu_information sees them. */
static int online_vcpus(struct xen_hv *x, uint32_t domid, unsigned nr_vcpus, bool dying,
                        uint64_t *online, xg_diag *d)
{
    *online = 0;
    for (unsigned v = 0; v < nr_vcpus && v < XG_HV_MAX_VCPUS; v++) {
        xc_vcpuinfo_t vi;
        if (xc_vcpu_getinfo(x->xch, domid, v, &vi) < 0) {
            if (errno == ESRCH || dying)
                continue; /* no such vcpu (never created): offline */
            struct xg_loc vl = { XGF_DOMID(domid), XGF_VCPU(v) };
            return FAIL(x, d, errno, &vl,
                        "asking Xen about vcpu%u of domain %u failed (XEN_DOMCTL_getvcpuinfo)", v,
                        domid);
        }
        if (vi.online)
            *online |= 1ULL << v;
    }
    return 0;
}

static int xen_vcpus_online(xg_hv *hv, uint32_t domid, unsigned nr_vcpus, uint64_t *online,
                            xg_diag *d)
{
    return online_vcpus(xg__xen_op(hv), domid, nr_vcpus, false, online, d);
}

static int xen_domain_info(xg_hv *hv, uint32_t domid, struct xg_domain_info *out, xg_diag *d)
{
    struct xen_hv *x = xg__xen_op(hv);
    struct xg_loc l = { XGF_DOMID(domid) };
    xc_domaininfo_t di;
    int rc = xg__xen_domain_getinfo(x, domid, &di, d);
    if (rc < 0)
        return rc;
    struct xg_domain_state st;
    state_from_di(domid, &di, &st);
    xg__hv_info_from_state(out, &st);

    /* Width and levels as libxenguest derives them (x86_pv_domain_info). */
    unsigned w = 0;
    if (xc_domain_get_guest_width(x->xch, domid, &w) != 0) {
        if (!out->dying && !out->hvm)
            return FAIL(
                x, d, errno, &l,
                "asking Xen for domain %u's address size failed (XEN_DOMCTL_get_address_size)",
                domid);
        w = 0;
    }
    out->guest_width = w;
    out->pt_levels = w == 8 ? 4 : w == 4 ? 3 : 0;
    xg__xen_width_known(x, domid, w);
    x->width_shinfo = di.shared_info_frame;

    /* XENMEM_maximum_gpfn: the guest's own idea (shared_info max_pfn) - 1 for PV. */
    xen_pfn_t gpfn = 0;
    if (xc_domain_maximum_gpfn(x->xch, domid, &gpfn) < 0) {
        if (!out->dying)
            return FAIL(x, d, errno, &l,
                        "asking Xen for domain %u's highest pfn failed (XENMEM_maximum_gpfn)",
                        domid);
        gpfn = 0;
    }
    out->max_pfn = gpfn;

    if ((rc = online_vcpus(x, domid, out->nr_vcpus, out->dying, &out->vcpu_online, d)) < 0)
        return rc;

    /* Toolstack state: what xenstore says, when it runs and says it. */
    char path[80];
    snprintf(path, sizeof(path), "/local/domain/%u/store/port", domid);
    out->store_evtchn = xg__xen_xs_read_int(x, path);
    snprintf(path, sizeof(path), "/local/domain/%u/console/port", domid);
    out->console_evtchn = xg__xen_xs_read_int(x, path);
    return 0;
}

static int xen_pause(xg_hv *hv, uint32_t domid, xg_diag *d)
{
    struct xen_hv *x = xg__xen_op(hv);
    if (xc_domain_pause(x->xch, domid) < 0) {
        struct xg_loc l = { XGF_DOMID(domid) };
        return FAIL(x, d, errno, &l, "pausing domain %u failed (XEN_DOMCTL_pausedomain)", domid);
    }
    return 0;
}

static int xen_unpause(xg_hv *hv, uint32_t domid, xg_diag *d)
{
    struct xen_hv *x = xg__xen_op(hv);
    if (xc_domain_unpause(x->xch, domid) < 0) {
        struct xg_loc l = { XGF_DOMID(domid) };
        return FAIL(x, d, errno, &l, "unpausing domain %u failed (XEN_DOMCTL_unpausedomain)",
                    domid);
    }
    return 0;
}

static int xen_tsc_get(xg_hv *hv, uint32_t domid, struct xg_rec_tsc_info *out, xg_diag *d)
{
    struct xen_hv *x = xg__xen_op(hv);
    uint32_t mode = 0, khz = 0, inc = 0;
    uint64_t nsec = 0;
    if (xc_domain_get_tsc_info(x->xch, domid, &mode, &nsec, &khz, &inc) < 0) {
        struct xg_loc l = { XGF_DOMID(domid) };
        return FAIL(x, d, errno, &l,
                    "getting domain %u's TSC settings failed (XEN_DOMCTL_gettscinfo)", domid);
    }
    out->mode = mode;
    out->khz = khz;
    out->nsec = nsec;
    out->incarnation = inc;
    return 0;
}

static int xen_tsc_set(xg_hv *hv, uint32_t domid, const struct xg_rec_tsc_info *t, xg_diag *d)
{
    struct xen_hv *x = xg__xen_op(hv);
    /* As handle_x86_tsc_info: the record's values unchanged (Xen bumps the incarnation itself). */
    if (xc_domain_set_tsc_info(x->xch, domid, t->mode, t->nsec, t->khz, t->incarnation) < 0) {
        struct xg_loc l = { XGF_DOMID(domid) };
        return FAIL(x, d, errno, &l,
                    "Xen refused TSC mode %u at %u kHz for domain %u (XEN_DOMCTL_settscinfo)",
                    t->mode, t->khz, domid);
    }
    return 0;
}

/* ------------------------------------------------------------ building a domain */

static int set_address_size(struct xen_hv *x, uint32_t domid, unsigned width, xg_diag *d)
{
    struct xg_loc l = { XGF_DOMID(domid) };
    if (width != 4 && width != 8)
        return xg_diag_syserr(d, XG_E_INVAL, EINVAL, &l, "address size %u is not 4 or 8 bytes",
                              width);
    /* What xg_sr_restore_x86_pv.c's handle_x86_pv_info issues when the widths differ. */
    struct xen_domctl domctl = {
        .cmd = XEN_DOMCTL_set_address_size,
        .domain = (domid_t)domid,
        .u.address_size.size = width * 8,
    };
    xg__xen_width_known(x, domid, 0); /* whatever Xen makes of it */
    if (xc_domctl(x->xch, &domctl) < 0)
        return FAIL(x, d, errno, &l,
                    "setting domain %u to a %u-bit guest failed (XEN_DOMCTL_set_address_size)",
                    domid, width * 8);
    xg__xen_width_known(x, domid, width);
    return 0;
}

static int set_max_pages(struct xen_hv *x, uint32_t domid, uint64_t max_pages, xg_diag *d)
{
    struct xg_loc l = { XGF_DOMID(domid) };
    if (max_pages > UINT64_MAX / 4)
        return xg_diag_err(d, XG_E_INVAL, &l, "%llu pages is beyond any domain",
                           (unsigned long long)max_pages);
    if (xc_domain_setmaxmem(x->xch, domid, max_pages * (XEN_PAGE / 1024)) < 0)
        return FAIL(x, d, errno, &l,
                    "setting domain %u's memory limit to %llu pages failed (XEN_DOMCTL_max_mem)",
                    domid, (unsigned long long)max_pages);
    return 0;
}

static int xen_create(xg_hv *hv, const struct xg_domain_config *cfg, uint32_t *domid, xg_diag *d)
{
    struct xen_hv *x = xg__xen_op(hv);
    unsigned width = cfg->guest_width ? cfg->guest_width : 8;
    unsigned vcpus = cfg->nr_vcpus ? cfg->nr_vcpus : 1;
    if (width != 4 && width != 8)
        return xg_diag_err(d, XG_E_INVAL, NULL, "a PV guest is 4 or 8 bytes wide, not %u", width);
    /* The grant table version libxl asks for: the highest the host offers. */
    xc_physinfo_t pi;
    memset(&pi, 0, sizeof(pi));
    if (xc_physinfo(x->xch, &pi) < 0)
        return FAIL(x, d, errno, NULL, "asking Xen about the host failed (XEN_SYSCTL_physinfo)");
    unsigned gnttab = (pi.capabilities & XEN_SYSCTL_PHYSCAP_gnttab_v2)   ? 2
                      : (pi.capabilities & XEN_SYSCTL_PHYSCAP_gnttab_v1) ? 1
                                                                         : 0;
    /* A PV domain as libxl__domain_make creates one with its defaults. */
    struct xen_domctl_createdomain c = {
        .ssidref = 0,
        .flags = 0, /* PV: no XEN_DOMCTL_CDF_hvm */
        .max_vcpus = vcpus,
        .max_evtchn_port = DEFAULT_MAX_EVTCHN_PORT,
        .max_grant_frames = -1,    /* Xen's default (gnttab_max_frames) */
        .max_maptrack_frames = -1, /* Xen's default (gnttab_max_maptrack_frames) */
        .grant_opts = XEN_DOMCTL_GRANT_version(gnttab),
        .arch.emulation_flags = 0,
    };
    uint32_t id = 0; /* 0: Xen picks a free domid */
    if (xc_domain_create(x->xch, &id, &c) < 0)
        return FAIL(x, d, errno, NULL,
                    "creating a %u-bit PV domain with %u vcpus failed (XEN_DOMCTL_createdomain)",
                    width * 8, vcpus);
    if (x->width_domid == id)
        xg__xen_width_known(x, id, 0); /* a new domain of a reused id */
    struct xg_loc l = { XGF_DOMID(id) };
    int rc = 0;
    /*
     * Still needed in 4.17: createdomain only sizes d->vcpu[]; this
     * creates the vcpus (libxl__build_pre).
     */
    if (xc_domain_max_vcpus(x->xch, id, vcpus) < 0)
        rc = FAIL(x, d, errno, &l, "creating %u vcpus in domain %u failed (XEN_DOMCTL_max_vcpus)",
                  vcpus, id);
    if (rc == 0 && width == 4)
        rc = set_address_size(x, id, width, d);
    if (rc == 0 && cfg->max_pages)
        rc = set_max_pages(x, id, cfg->max_pages, d);
    if (rc < 0) {
        xg__xen_width_known(x, id, 0);
        xc_domain_destroy(x->xch, id);
        return rc;
    }
    *domid = id; /* created paused, as every new domain is */
    return 0;
}

static int xen_destroy(xg_hv *hv, uint32_t domid, xg_diag *d)
{
    struct xen_hv *x = xg__xen_op(hv);
    if (x->width_domid == domid)
        xg__xen_width_known(x, domid, 0);
    if (xc_domain_destroy(x->xch, domid) < 0) {
        struct xg_loc l = { XGF_DOMID(domid) };
        return FAIL_CODE(x, d, errno == ESRCH ? XG_E_NOTFOUND : XG_E_HV, errno, &l,
                         "destroying domain %u failed (XEN_DOMCTL_destroydomain)", domid);
    }
    return 0;
}

static int xen_set_max_pages(xg_hv *hv, uint32_t domid, uint64_t max_pages, xg_diag *d)
{
    return set_max_pages(xg__xen_op(hv), domid, max_pages, d);
}

static int xen_set_address_size(xg_hv *hv, uint32_t domid, unsigned width, xg_diag *d)
{
    return set_address_size(xg__xen_op(hv), domid, width, d);
}

static int xen_evtchn(xg_hv *hv, uint32_t domid, uint32_t remote, int *port, xg_diag *d)
{
    struct xen_hv *x = xg__xen_op(hv);
    int p = xc_evtchn_alloc_unbound(x->xch, domid, remote);
    if (p < 0) {
        struct xg_loc l = { XGF_DOMID(domid) };
        return FAIL(x, d, errno, &l,
                    "allocating an event channel in domain %u for domain %u failed "
                    "(EVTCHNOP_alloc_unbound)",
                    domid, remote);
    }
    *port = p;
    return 0;
}

/* ------------------------------------------------------------ the table, open */

const struct xg_hv_ops xg_xen_ops = {
    .version = XG_HV_OPS_VERSION,
    .name = "xen",
    .close = xen_close,
    .xen_version = xen_xen_version,
    .domain_info = xen_domain_info,
    .domain_state = xen_domain_state,
    .vcpus_online = xen_vcpus_online,
    .map = xg__xen_map,
    .unmap = xg__xen_unmap,
    .page_types = xg__xen_page_types,
    .m2p = xg__xen_m2p,
    .vcpu_get = xg__xen_vcpu_get,
    .vcpu_set = xg__xen_vcpu_set,
    .vcpu_blob_get = xg__xen_vcpu_blob_get,
    .vcpu_blob_set = xg__xen_vcpu_blob_set,
    .tsc_info_get = xen_tsc_get,
    .tsc_info_set = xen_tsc_set,
    .logdirty = xg__xen_logdirty,
    .pause = xen_pause,
    .unpause = xen_unpause,
    .suspend = xg__xen_suspend,
    .resume = xg__xen_resume,
    .domain_create = xen_create,
    .domain_destroy = xen_destroy,
    .set_max_pages = xen_set_max_pages,
    .set_address_size = xen_set_address_size,
    .evtchn_alloc_unbound = xen_evtchn,
    .populate = xg__xen_populate,
    .mmu_update = xg__xen_mmu_update,
    .mmuext = xg__xen_mmuext,
    .frame_owner = NULL, /* Xen cannot tell a dom0 who owns a frame */
    .cpu_policy_get = xg__xen_cpu_policy_get,
    .cpu_policy_set = xg__xen_cpu_policy_set,
    .gnttab_seed = xg__xen_gnttab_seed,
    .depopulate = xg__xen_depopulate,
};

#define USE_SIM_HINT \
    "use a simulated host: `xg-sim init HOST` and --backend sim:HOST (or XG_BACKEND=sim:HOST)"

int xg_xen_open(xg_diag *d, xg_hv **out)
{
    *out = NULL;
    /* libxencall opens /dev/xen/privcmd, or /proc/xen/privcmd on old kernels. */
    if (access("/dev/xen/privcmd", F_OK) < 0 && access("/proc/xen/privcmd", F_OK) < 0)
        return xg_diag_syserr(
            d, XG_E_NOTFOUND, ENOENT, NULL,
            "cannot reach Xen: /dev/xen/privcmd does not exist (this is not a Xen dom0, or the "
            "xen-privcmd driver is not loaded); to work without Xen, " USE_SIM_HINT);
    const char *privcmd = access("/dev/xen/privcmd", F_OK) == 0 ? "/dev/xen/privcmd"
                                                                : "/proc/xen/privcmd";
    if (access(privcmd, R_OK | W_OK) < 0 && (errno == EACCES || errno == EPERM))
        return xg_diag_syserr(d, XG_E_HV, errno, NULL,
                              "cannot open Xen's control interface (%s): xg needs root in dom0; "
                              "to work without Xen, " USE_SIM_HINT,
                              privcmd);
    struct xen_hv *x = calloc(1, sizeof(*x));
    xg_hv *hv = calloc(1, sizeof(*hv));
    if (!x || !hv) {
        free(x);
        free(hv);
        return xg__xen_nomem(d, "the Xen backend");
    }
    xg__xen_logger_init(x);
    x->privcmd = -1;
    x->compat_mfn0 = XG_INVALID_MFN;
    hv->ops = &xg_xen_ops;
    hv->priv = x;

    x->xch = xc_interface_open(&x->logger, &x->logger, 0);
    if (!x->xch) {
        int e = errno;
        int rc;
        if (e == EACCES || e == EPERM)
            rc = xg_diag_syserr(d, XG_E_HV, e, NULL,
                                "cannot open Xen's control interface (/dev/xen/privcmd): "
                                "xg needs root in dom0; to work without Xen, " USE_SIM_HINT);
        else
            rc = xg__xen_fail(x, d, XG_E_HV, e, NULL, __FILE__, __LINE__,
                              "cannot open Xen's control interface (xc_interface_open); "
                              "to work without Xen, " USE_SIM_HINT);
        xen_close(hv);
        free(hv);
        return rc;
    }
    x->fmem = xenforeignmemory_open(&x->logger, 0);
    if (!x->fmem) {
        int rc = xg__xen_fail(x, d, XG_E_HV, errno, NULL, __FILE__, __LINE__,
                              "cannot open Xen's foreign memory interface (xenforeignmemory_open)");
        xen_close(hv);
        free(hv);
        return rc;
    }
    /* xenstore is optional until an op needs it (suspend, toolstack ports); retried then. */
    x->xsh = xs_open(0);
    x->log[0] = '\0';
    *out = hv;
    return 0;
}

#endif /* XG_HAVE_XEN */
