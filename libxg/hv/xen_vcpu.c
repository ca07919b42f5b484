/*
 * xen_vcpu.c - the real Xen backend's vcpu state and CPU policy: the vcpu
 * context (XEN_DOMCTL_{get,set}vcpucontext), the extended, xsave and MSR
 * state of the X86_PV_VCPU_* records, and the domain's CPUID and MSR
 * policy, each as libxenguest's save and restore get and set them.
 */
#include "config.h"

#include "hv/xen_private.h"

#ifdef XG_HAVE_XEN

#include <errno.h>
#include <string.h>

#include "hv/xen_backend_private.h"

/* ------------------------------------------------------------ vcpu state */

static int vcpu_size_check(struct xen_hv *x, uint32_t domid, unsigned vcpu, size_t size, xg_diag *d)
{
    unsigned w;
    int rc = xg__xen_guest_width(x, domid, &w, d);
    if (rc < 0)
        return rc;
    size_t want = w == 8 ? sizeof(vcpu_guest_context_x86_64_t)
                         : sizeof(vcpu_guest_context_x86_32_t);
    if (size != want) {
        struct xg_loc l = { XGF_DOMID(domid), XGF_VCPU(vcpu) };
        return xg_diag_err(d, XG_E_INVAL, &l,
                           "vcpu context buffer of %zu bytes for a %u-bit guest (%zu expected)",
                           size, w * 8, want);
    }
    return 0;
}

int xg__xen_vcpu_get(xg_hv *hv, uint32_t domid, unsigned vcpu, void *ctx, size_t size, xg_diag *d)
{
    struct xen_hv *x = xg__xen_op(hv);
    int rc = vcpu_size_check(x, domid, vcpu, size, d);
    if (rc < 0)
        return rc;
    vcpu_guest_context_any_t any;
    memset(&any, 0, sizeof(any));
    if (xc_vcpu_getcontext(x->xch, domid, vcpu, &any) < 0) {
        struct xg_loc l = { XGF_DOMID(domid), XGF_VCPU(vcpu) };
        return FAIL(x, d, errno, &l,
                    "getting vcpu%u's context of domain %u failed (XEN_DOMCTL_getvcpucontext)",
                    vcpu, domid);
    }
    memcpy(ctx, &any, size);
    return 0;
}

int xg__xen_vcpu_set(xg_hv *hv, uint32_t domid, unsigned vcpu, const void *ctx, size_t size,
                     xg_diag *d)
{
    struct xen_hv *x = xg__xen_op(hv);
    int rc = vcpu_size_check(x, domid, vcpu, size, d);
    if (rc < 0)
        return rc;
    vcpu_guest_context_any_t any;
    memset(&any, 0, sizeof(any));
    memcpy(&any, ctx, size);
    if (xc_vcpu_setcontext(x->xch, domid, vcpu, &any) < 0) {
        struct xg_loc l = { XGF_DOMID(domid), XGF_VCPU(vcpu) };
        return FAIL(x, d, errno, &l,
                    "Xen refused vcpu%u's context for domain %u (XEN_DOMCTL_setvcpucontext)", vcpu,
                    domid);
    }
    return 0;
}

static const char *blob_name(enum xg_vcpu_blob kind)
{
    return kind == XG_VCPU_EXTENDED ? "extended state"
           : kind == XG_VCPU_XSAVE  ? "xsave state"
                                    : "MSRs";
}

/*
 * X86_PV_VCPU_EXTENDED: the ext_vcpucontext struct, header included,
 * `size` bytes (write_one_vcpu_extended).
 */
static int get_extended(struct xen_hv *x, uint32_t domid, unsigned vcpu, void *buf, size_t *len,
                        xg_diag *d, const struct xg_loc *l)
{
    struct xen_domctl domctl = {
        .cmd = XEN_DOMCTL_get_ext_vcpucontext,
        .domain = (domid_t)domid,
        .u.ext_vcpucontext.vcpu = vcpu,
    };
    if (xc_domctl(x->xch, &domctl) < 0)
        return FAIL(x, d, errno, l,
                    "getting vcpu%u's extended state of domain %u failed "
                    "(XEN_DOMCTL_get_ext_vcpucontext)",
                    vcpu, domid);
    size_t size = domctl.u.ext_vcpucontext.size;
    if (size > sizeof(domctl.u.ext_vcpucontext))
        return xg_diag_err(
            d, XG_E_HV, l,
            "Xen says vcpu%u's extended state is %zu bytes, more than its %zu-byte struct", vcpu,
            size, sizeof(domctl.u.ext_vcpucontext));
    if (size > *len)
        return xg_diag_err(d, XG_E_INVAL, l,
                           "buffer of %zu bytes too small for vcpu%u's %zu bytes of extended state",
                           *len, vcpu, size);
    memcpy(buf, &domctl.u.ext_vcpucontext, size);
    *len = size;
    return 0;
}

/* X86_PV_VCPU_XSAVE: xcr0, xcr0_accum, then the xsave area (write_one_vcpu_xsave). */
static int get_xsave(struct xen_hv *x, uint32_t domid, unsigned vcpu, void *buf, size_t *len,
                     xg_diag *d, const struct xg_loc *l)
{
    /* First the size query: no buffer, zero size and mask. */
    struct xen_domctl domctl = {
        .cmd = XEN_DOMCTL_getvcpuextstate,
        .domain = (domid_t)domid,
        .u.vcpuextstate.vcpu = vcpu,
    };
    if (xc_domctl(x->xch, &domctl) < 0)
        return FAIL(x, d, errno, l,
                    "asking for the size of vcpu%u's xsave state of domain %u failed "
                    "(XEN_DOMCTL_getvcpuextstate)",
                    vcpu, domid);
    if (!domctl.u.vcpuextstate.xfeature_mask) {
        *len = 0; /* no xsave on this host: no record */
        return 0;
    }
    size_t size = domctl.u.vcpuextstate.size;
    DECLARE_HYPERCALL_BUFFER(void, hb);
    hb = xc_hypercall_buffer_alloc(x->xch, hb, size);
    if (!hb)
        return FAIL(x, d, errno, l,
                    "allocating a %zu-byte hypercall buffer for vcpu%u's xsave state failed", size,
                    vcpu);
    /* The mask and size Xen gave stay in the request, as libxenguest leaves them. */
    set_xen_guest_handle(domctl.u.vcpuextstate.buffer, hb);
    int rc = xc_domctl(x->xch, &domctl);
    int e = errno;
    size_t got = domctl.u.vcpuextstate.size;
    if (rc < 0)
        rc = FAIL(x, d, e, l,
                  "getting vcpu%u's xsave state of domain %u failed (XEN_DOMCTL_getvcpuextstate)",
                  vcpu, domid);
    else if (got > size)
        rc = xg_diag_err(d, XG_E_HV, l,
                         "Xen returned %zu bytes of xsave state for vcpu%u in a %zu-byte buffer",
                         got, vcpu, size);
    else if (got > *len)
        rc = xg_diag_err(d, XG_E_INVAL, l,
                         "buffer of %zu bytes too small for vcpu%u's %zu bytes of xsave state",
                         *len, vcpu, got);
    else {
        memcpy(buf, hb, got);
        *len = got;
    }
    xc_hypercall_buffer_free(x->xch, hb);
    return rc;
}

/* X86_PV_VCPU_MSRS: an array of xen_domctl_vcpu_msr_t (write_one_vcpu_msrs). */
static int get_msrs(struct xen_hv *x, uint32_t domid, unsigned vcpu, void *buf, size_t *len,
                    xg_diag *d, const struct xg_loc *l)
{
    struct xen_domctl domctl = {
        .cmd = XEN_DOMCTL_get_vcpu_msrs,
        .domain = (domid_t)domid,
        .u.vcpu_msrs.vcpu = vcpu,
    };
    if (xc_domctl(x->xch, &domctl) < 0)
        return FAIL(
            x, d, errno, l,
            "asking how many MSRs vcpu%u of domain %u has failed (XEN_DOMCTL_get_vcpu_msrs)", vcpu,
            domid);
    if (!domctl.u.vcpu_msrs.msr_count) {
        *len = 0;
        return 0;
    }
    size_t cap = domctl.u.vcpu_msrs.msr_count;
    DECLARE_HYPERCALL_BUFFER(xen_domctl_vcpu_msr_t, hb);
    hb = xc_hypercall_buffer_alloc(x->xch, hb, cap * sizeof(*hb));
    if (!hb)
        return FAIL(x, d, errno, l, "allocating a hypercall buffer for vcpu%u's %zu MSRs failed",
                    vcpu, cap);
    set_xen_guest_handle(domctl.u.vcpu_msrs.msrs, hb);
    int rc = xc_domctl(x->xch, &domctl);
    int e = errno;
    size_t got = (size_t)domctl.u.vcpu_msrs.msr_count * sizeof(*hb);
    if (rc < 0)
        rc = FAIL(x, d, e, l,
                  "getting vcpu%u's MSRs of domain %u failed (XEN_DOMCTL_get_vcpu_msrs)", vcpu,
                  domid);
    else if (domctl.u.vcpu_msrs.msr_count > cap)
        rc = xg_diag_err(d, XG_E_HV, l, "Xen returned %u MSRs for vcpu%u after announcing %zu",
                         domctl.u.vcpu_msrs.msr_count, vcpu, cap);
    else if (got > *len)
        rc = xg_diag_err(d, XG_E_INVAL, l,
                         "buffer of %zu bytes too small for vcpu%u's %zu bytes of MSRs", *len, vcpu,
                         got);
    else {
        memcpy(buf, hb, got);
        *len = got;
    }
    xc_hypercall_buffer_free(x->xch, hb);
    return rc;
}

int xg__xen_vcpu_blob_get(xg_hv *hv, uint32_t domid, unsigned vcpu, enum xg_vcpu_blob kind,
                          void *buf, size_t *len, xg_diag *d)
{
    struct xen_hv *x = xg__xen_op(hv);
    struct xg_loc l = { XGF_DOMID(domid), XGF_VCPU(vcpu) };
    switch (kind) {
    case XG_VCPU_EXTENDED:
        return get_extended(x, domid, vcpu, buf, len, d, &l);
    case XG_VCPU_XSAVE:
        return get_xsave(x, domid, vcpu, buf, len, d, &l);
    case XG_VCPU_MSRS:
        return get_msrs(x, domid, vcpu, buf, len, d, &l);
    }
    return xg_diag_err(d, XG_E_INVAL, &l, "unknown kind %d of vcpu state", (int)kind);
}

int xg__xen_vcpu_blob_set(xg_hv *hv, uint32_t domid, unsigned vcpu, enum xg_vcpu_blob kind,
                          const void *buf, size_t len, xg_diag *d)
{
    struct xen_hv *x = xg__xen_op(hv);
    struct xg_loc l = { XGF_DOMID(domid), XGF_VCPU(vcpu) };
    if (!len)
        return 0; /* empty records are skipped, as Xen's restore does */
    struct xen_domctl domctl = { .domain = (domid_t)domid };
    int rc, e;
    switch (kind) {
    case XG_VCPU_EXTENDED:
        /* process_vcpu_extended: the record is copied over the struct, size field and all. */
        if (len > sizeof(domctl.u.ext_vcpucontext))
            return xg_diag_err(d, XG_E_INVAL, &l,
                               "vcpu%u's extended state of %zu bytes is larger than Xen's %zu",
                               vcpu, len, sizeof(domctl.u.ext_vcpucontext));
        domctl.cmd = XEN_DOMCTL_set_ext_vcpucontext;
        memcpy(&domctl.u.ext_vcpucontext, buf, len);
        domctl.u.ext_vcpucontext.vcpu =
            vcpu; /* the record's header names the vcpu; its copy here must agree */
        if (xc_domctl(x->xch, &domctl) < 0)
            return FAIL(x, d, errno, &l,
                        "Xen refused vcpu%u's extended state for domain %u "
                        "(XEN_DOMCTL_set_ext_vcpucontext)",
                        vcpu, domid);
        return 0;
    case XG_VCPU_XSAVE: {
        if (len < 16)
            return xg_diag_err(d, XG_E_INVAL, &l,
                               "vcpu%u's xsave state of %zu bytes lacks xcr0 and xcr0_accum", vcpu,
                               len);
        DECLARE_HYPERCALL_BUFFER(void, hb);
        hb = xc_hypercall_buffer_alloc(x->xch, hb, len);
        if (!hb)
            return FAIL(x, d, errno, &l,
                        "allocating a %zu-byte hypercall buffer for vcpu%u's xsave state failed",
                        len, vcpu);
        memcpy(hb, buf, len);
        domctl.cmd = XEN_DOMCTL_setvcpuextstate;
        domctl.u.vcpuextstate.vcpu = vcpu;
        domctl.u.vcpuextstate.size = len;
        set_xen_guest_handle(domctl.u.vcpuextstate.buffer, hb);
        rc = xc_domctl(x->xch, &domctl);
        e = errno;
        xc_hypercall_buffer_free(x->xch, hb);
        if (rc < 0)
            return FAIL(x, d, e, &l,
                        "Xen refused vcpu%u's %zu bytes of xsave state for domain %u "
                        "(XEN_DOMCTL_setvcpuextstate)",
                        vcpu, len, domid);
        return 0;
    }
    case XG_VCPU_MSRS: {
        if (len % sizeof(xen_domctl_vcpu_msr_t))
            return xg_diag_err(d, XG_E_INVAL, &l,
                               "vcpu%u's MSR state of %zu bytes is not a whole number "
                               "of %zu-byte entries",
                               vcpu, len, sizeof(xen_domctl_vcpu_msr_t));
        DECLARE_HYPERCALL_BUFFER(void, hb);
        hb = xc_hypercall_buffer_alloc(x->xch, hb, len);
        if (!hb)
            return FAIL(x, d, errno, &l,
                        "allocating a %zu-byte hypercall buffer for vcpu%u's MSRs failed", len,
                        vcpu);
        memcpy(hb, buf, len);
        domctl.cmd = XEN_DOMCTL_set_vcpu_msrs;
        domctl.u.vcpu_msrs.vcpu = vcpu;
        domctl.u.vcpu_msrs.msr_count = (uint32_t)(len / sizeof(xen_domctl_vcpu_msr_t));
        set_xen_guest_handle(domctl.u.vcpu_msrs.msrs, hb);
        rc = xc_domctl(x->xch, &domctl);
        e = errno;
        xc_hypercall_buffer_free(x->xch, hb);
        if (rc < 0)
            return FAIL(x, d, e, &l,
                        "Xen refused vcpu%u's %zu MSRs for domain %u (XEN_DOMCTL_set_vcpu_msrs)",
                        vcpu, len / sizeof(xen_domctl_vcpu_msr_t), domid);
        return 0;
    }
    }
    return xg_diag_err(d, XG_E_INVAL, &l, "unknown kind %d of vcpu state (%s)", (int)kind,
                       blob_name(kind));
}

/* ------------------------------------------------------------ CPU policy */

/*
 * XEN_DOMCTL_get_cpu_policy: Xen's own serialisation of the domain's
 * policy (x86_cpuid_copy_to_buffer / x86_msr_copy_to_buffer), the same
 * code libxenguest's xc_cpu_policy_serialise runs on the policy it got
 * from this domctl, so the records match write_x86_cpu_policy_records.
 */
int xg__xen_cpu_policy_get(xg_hv *hv, uint32_t domid, struct xg_cpuid_leaf *leaves,
                           uint32_t *nr_leaves, struct xg_msr_entry *msrs, uint32_t *nr_msrs,
                           xg_diag *d)
{
    struct xen_hv *x = xg__xen_op(hv);
    struct xg_loc l = { XGF_DOMID(domid) };
    /* Null buffers: Xen says how many entries it may write. */
    struct xen_domctl domctl = { .cmd = XEN_DOMCTL_get_cpu_policy, .domain = (domid_t)domid };
    if (xc_domctl(x->xch, &domctl) < 0)
        return FAIL(x, d, errno, &l,
                    "asking the size of domain %u's CPU policy failed (XEN_DOMCTL_get_cpu_policy)",
                    domid);
    uint32_t ml = domctl.u.cpu_policy.nr_leaves, mm = domctl.u.cpu_policy.nr_msrs;
    DECLARE_HYPERCALL_BUFFER(xen_cpuid_leaf_t, hl);
    DECLARE_HYPERCALL_BUFFER(xen_msr_entry_t, hm);
    hl = xc_hypercall_buffer_alloc(x->xch, hl, (ml ? ml : 1) * sizeof(*hl));
    hm = xc_hypercall_buffer_alloc(x->xch, hm, (mm ? mm : 1) * sizeof(*hm));
    int rc = 0;
    if (!hl || !hm) {
        rc = FAIL(x, d, errno, &l, "allocating hypercall buffers for domain %u's CPU policy failed",
                  domid);
        goto out;
    }
    memset(&domctl, 0, sizeof(domctl));
    domctl.cmd = XEN_DOMCTL_get_cpu_policy;
    domctl.domain = (domid_t)domid;
    domctl.u.cpu_policy.nr_leaves = ml;
    domctl.u.cpu_policy.nr_msrs = mm;
    set_xen_guest_handle(domctl.u.cpu_policy.leaves, hl);
    set_xen_guest_handle(domctl.u.cpu_policy.msrs, hm);
    if (xc_domctl(x->xch, &domctl) < 0) {
        rc = FAIL(x, d, errno, &l,
                  "getting domain %u's CPU policy failed (XEN_DOMCTL_get_cpu_policy)", domid);
        goto out;
    }
    uint32_t gl = domctl.u.cpu_policy.nr_leaves, gm = domctl.u.cpu_policy.nr_msrs;
    if (gl > ml || gm > mm) {
        rc = xg_diag_err(d, XG_E_HV, &l,
                         "Xen wrote %u CPUID leaves and %u MSRs after announcing at most %u and %u",
                         gl, gm, ml, mm);
        goto out;
    }
    if (gl > *nr_leaves || gm > *nr_msrs) {
        rc = xg_diag_err(
            d, XG_E_INVAL, &l,
            "domain %u's CPU policy has %u CPUID leaves and %u MSRs; room was given for %u and %u",
            domid, gl, gm, *nr_leaves, *nr_msrs);
        goto out;
    }
    memcpy(leaves, hl, gl * sizeof(*hl));
    memcpy(msrs, hm, gm * sizeof(*hm));
    *nr_leaves = gl;
    *nr_msrs = gm;
out:
    xc_hypercall_buffer_free(x->xch, hl);
    xc_hypercall_buffer_free(x->xch, hm);
    return rc;
}

/* XEN_DOMCTL_set_cpu_policy, as xc_set_domain_cpu_policy (x86_static_data_complete) issues it. */
int xg__xen_cpu_policy_set(xg_hv *hv, uint32_t domid, const struct xg_cpuid_leaf *leaves,
                           uint32_t nr_leaves, const struct xg_msr_entry *msrs, uint32_t nr_msrs,
                           xg_diag *d)
{
    struct xen_hv *x = xg__xen_op(hv);
    struct xg_loc l = { XGF_DOMID(domid) };
    if (!nr_leaves && !nr_msrs)
        return 0;
    DECLARE_HYPERCALL_BUFFER(xen_cpuid_leaf_t, hl);
    DECLARE_HYPERCALL_BUFFER(xen_msr_entry_t, hm);
    int rc = 0;
    struct xen_domctl domctl = {
        .cmd = XEN_DOMCTL_set_cpu_policy,
        .domain = (domid_t)domid,
        .u.cpu_policy.nr_leaves = nr_leaves,
        .u.cpu_policy.nr_msrs = nr_msrs,
        .u.cpu_policy.err_leaf = ~0U,
        .u.cpu_policy.err_subleaf = ~0U,
        .u.cpu_policy.err_msr = ~0U,
    };
    if (nr_leaves) {
        if (!(hl = xc_hypercall_buffer_alloc(x->xch, hl, nr_leaves * sizeof(*hl)))) {
            rc = FAIL(x, d, errno, &l, "allocating a hypercall buffer for %u CPUID leaves failed",
                      nr_leaves);
            goto out;
        }
        memcpy(hl, leaves, nr_leaves * sizeof(*hl));
        set_xen_guest_handle(domctl.u.cpu_policy.leaves, hl);
    }
    if (nr_msrs) {
        if (!(hm = xc_hypercall_buffer_alloc(x->xch, hm, nr_msrs * sizeof(*hm)))) {
            rc = FAIL(x, d, errno, &l, "allocating a hypercall buffer for %u MSR entries failed",
                      nr_msrs);
            goto out;
        }
        memcpy(hm, msrs, nr_msrs * sizeof(*hm));
        set_xen_guest_handle(domctl.u.cpu_policy.msrs, hm);
    }
    if (xc_domctl(x->xch, &domctl) < 0) {
        int e = errno;
        uint32_t el = domctl.u.cpu_policy.err_leaf, es = domctl.u.cpu_policy.err_subleaf,
                 em = domctl.u.cpu_policy.err_msr;
        if (el != ~0U)
            rc = FAIL(
                x, d, e, &l,
                "Xen refused the image's CPU policy for domain %u at CPUID leaf %#x subleaf %#x "
                "(XEN_DOMCTL_set_cpu_policy)",
                domid, el, es);
        else if (em != ~0U)
            rc = FAIL(x, d, e, &l,
                      "Xen refused the image's CPU policy for domain %u at MSR %#x "
                      "(XEN_DOMCTL_set_cpu_policy)",
                      domid, em);
        else
            rc = FAIL(x, d, e, &l,
                      "Xen refused the image's CPU policy (%u CPUID leaves, %u MSRs) for domain %u "
                      "(XEN_DOMCTL_set_cpu_policy)",
                      nr_leaves, nr_msrs, domid);
        xg_diag_hint(d, "the image was saved on a host whose CPU offers features this one lacks");
    }
out:
    xc_hypercall_buffer_free(x->xch, hl);
    xc_hypercall_buffer_free(x->xch, hm);
    return rc;
}

#endif /* XG_HAVE_XEN */
