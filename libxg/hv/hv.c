/*
 * hv.c - backend selection and the wrappers every engine call goes
 * through.  The wrappers are the one place where faults are injected
 * (XG_FAULTS / xg_hv_set_faults), so tests can make the Nth map, pin or
 * vcpu set fail and watch the engine clean up.
 */
#include "config.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hv/ops.h"
#include "hv/sim/sim.h"
#include "hv/xen_private.h"
#include "internal.h"
#include "xg/hv.h"

static const char *const op_names[XG_HV_NR_OPS] = {
#define XG_HV_OP_NAME(name) #name,
    XG_HV_FAULT_OPS(XG_HV_OP_NAME)
#undef XG_HV_OP_NAME
};

struct fault {
    enum xg_hv_op op;
    unsigned nth; /* 0: every call */
    int err;
    unsigned calls;
};

struct xg_hv_faults {
    struct fault f[16];
    unsigned n;
    unsigned long calls[XG_HV_NR_OPS]; /* every call, for XG_FAULTS_COUNT */
    unsigned long own_allocs;          /* made only because XG_FAULTS_COUNT asked to count */
};

const char *xg_hv_fault_op_name(unsigned i)
{
    return i < XG_HV_NR_OPS ? op_names[i] : NULL;
}

bool xg_hv_have_xen(void)
{
#ifdef XG_HAVE_XEN
    return true;
#else
    return false;
#endif
}

int xg_hv_open(const char *spec, xg_diag *d, xg_hv **out)
{
    *out = NULL;
    if (!spec || !*spec)
        spec = getenv("XG_BACKEND");
    if (!spec || !*spec)
        spec = "xen";
    int rc;
    xg_hv *hv = NULL;
    if (strncmp(spec, "sim:", 4) == 0) {
        if (!spec[4])
            return xg_diag_err(d, XG_E_INVAL, NULL, "backend \"sim:\" needs a host file: sim:PATH");
        rc = xg_sim_open(spec + 4, d, &hv);
    } else if (strcmp(spec, "xen") == 0) {
#ifdef XG_HAVE_XEN
        rc = xg_xen_open(d, &hv);
#else
        rc = xg_diag_err(d, XG_E_UNSUPPORTED, NULL,
                         "this xg was built without the real Xen backend; use a simulated host: "
                         "`xg-sim init HOST` and --backend sim:HOST (or XG_BACKEND=sim:HOST)");
#endif
    } else {
        rc = xg_diag_err(d, XG_E_INVAL, NULL, "unknown backend \"%s\" (use sim:PATH or xen)", spec);
    }
    if (rc < 0)
        return rc;
    hv->spec = strdup(spec);
    if (!hv->spec) {
        xg_hv_close(hv);
        return xg_diag_err(d, XG_E_NOMEM, NULL, "out of memory");
    }
    const char *faults = getenv("XG_FAULTS"), *count = getenv("XG_FAULTS_COUNT");
    if (faults && *faults && (rc = xg_hv_set_faults(hv, faults, d)) < 0) {
        xg_hv_close(hv);
        return rc;
    }
    if (count && *count && !hv->faults) {
        unsigned long before = xg__alloc_count();
        if ((rc = xg_hv_set_faults(hv, "", d)) < 0) {
            xg_hv_close(hv);
            return rc;
        }
        hv->faults->own_allocs = xg__alloc_count() - before;
    }
    *out = hv;
    return 0;
}

/*
 * XG_FAULTS_COUNT=FILE: append "OP N" for every op called N > 0 times, and
 * "alloc N" (allocations so far), so a sweep knows which (op, index)
 * points a run reaches.
 */
static void write_fault_counts(const struct xg_hv_faults *fs)
{
    const char *path = getenv("XG_FAULTS_COUNT");
    if (!fs || !path || !*path)
        return;
    FILE *f = fopen(path, "a");
    if (!f)
        return;
    for (unsigned i = 0; i < XG_HV_NR_OPS; i++)
        if (fs->calls[i])
            fprintf(f, "%s %lu\n", op_names[i], fs->calls[i]);
    fprintf(f, "alloc %lu\n", xg__alloc_count() - fs->own_allocs);
    fclose(f);
}

void xg_hv_close(xg_hv *hv)
{
    if (!hv)
        return;
    write_fault_counts(hv->faults);
    free(hv->faults);
    free(hv->spec);
    hv->ops->close(hv);
    free(hv);
}

int xg_hv_set_faults(xg_hv *hv, const char *spec, xg_diag *d)
{
    struct xg_hv_faults *fs = calloc(1, sizeof(*fs));
    char *copy = strdup(spec);
    if (!fs || !copy) {
        free(fs);
        free(copy);
        return xg_diag_err(d, XG_E_NOMEM, NULL, "out of memory");
    }
    char *save = NULL;
    for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        if (fs->n == XG_ARRAY_SIZE(fs->f)) {
            free(copy);
            free(fs);
            return xg_diag_err(d, XG_E_INVAL, NULL, "too many injected faults in \"%s\"", spec);
        }
        struct fault *f = &fs->f[fs->n];
        f->err = EINVAL;
        char *eq = strchr(tok, '='), *at = strchr(tok, '@');
        if (eq) {
            *eq = '\0';
            char *end;
            /* OP@N=kill: the process dies there by SIGKILL (tests of what a kill -9 leaves). */
            long v = strcmp(eq + 1, "kill") == 0 ? -1 : strtol(eq + 1, &end, 10);
            if (v != -1 && (*end || v <= 0)) {
                free(copy);
                free(fs);
                return xg_diag_err(d, XG_E_INVAL, NULL, "bad errno in fault spec \"%s\"", spec);
            }
            f->err = (int)v;
        }
        if (at) {
            *at = '\0';
            char *end;
            long v = strtol(at + 1, &end, 10);
            if (*end || v <= 0) {
                free(copy);
                free(fs);
                return xg_diag_err(d, XG_E_INVAL, NULL, "bad call number in fault spec \"%s\"",
                                   spec);
            }
            f->nth = (unsigned)v;
        }
        bool ok = false;
        for (unsigned i = 0; i < XG_HV_NR_OPS && !ok; i++)
            if (strcmp(tok, op_names[i]) == 0) {
                f->op = (enum xg_hv_op)i;
                ok = true;
            }
        if (!ok) {
            xg_diag_err(d, XG_E_INVAL, NULL, "unknown operation \"%s\" in fault spec", tok);
            free(copy);
            free(fs);
            return XG_E_INVAL;
        }
        fs->n++;
    }
    free(copy);
    free(hv->faults);
    hv->faults = fs;
    return 0;
}

/* Should this call of op fail?  Returns the errno to fail with, or 0. */
static int injected(xg_hv *hv, enum xg_hv_op op)
{
    if (!hv->faults)
        return 0;
    hv->faults->calls[op]++;
    for (unsigned i = 0; i < hv->faults->n; i++) {
        struct fault *f = &hv->faults->f[i];
        if (f->op != op)
            continue;
        f->calls++;
        if ((f->nth == 0 || f->nth == f->calls) && f->err < 0)
            raise(SIGKILL);
        if (f->nth == 0 || f->nth == f->calls)
            return f->err;
    }
    return 0;
}

#define INJECT(op, loc)                                                                     \
    do {                                                                                    \
        int e_ = injected(hv, XG_HV_OP_##op);                                               \
        if (e_)                                                                             \
            return xg_diag_syserr(d, XG_E_HV, e_, loc, "%s refused (injected fault)", #op); \
    } while (0)

int xg_hv_xen_version(xg_hv *hv, uint32_t *major, uint32_t *minor, xg_diag *d)
{
    INJECT(xen_version, NULL);
    return hv->ops->xen_version(hv, major, minor, d);
}

int xg_hv_domain_info(xg_hv *hv, uint32_t domid, struct xg_domain_info *out, xg_diag *d)
{
    struct xg_loc l = { XGF_DOMID(domid) };
    INJECT(domain_info, &l);
    return hv->ops->domain_info(hv, domid, out, d);
}

int xg_hv_domain_state(xg_hv *hv, uint32_t domid, struct xg_domain_state *out, xg_diag *d)
{
    struct xg_loc l = { XGF_DOMID(domid) };
    INJECT(domain_state, &l);
    return hv->ops->domain_state(hv, domid, out, d);
}

int xg_hv_vcpus_online(xg_hv *hv, uint32_t domid, unsigned nr_vcpus, uint64_t *online, xg_diag *d)
{
    struct xg_loc l = { XGF_DOMID(domid) };
    *online = 0;
    if (nr_vcpus > XG_HV_MAX_VCPUS)
        return xg_diag_err(d, XG_E_INVAL, &l, "%u vcpus asked about; at most %u are", nr_vcpus,
                           XG_HV_MAX_VCPUS);
    INJECT(vcpus_online, &l);
    return hv->ops->vcpus_online(hv, domid, nr_vcpus, online, d);
}

int xg_hv_map(xg_hv *hv, uint32_t domid, int prot, unsigned n, const uint64_t *mfns, void **pages,
              int *errs, xg_hv_mapping **out, xg_diag *d)
{
    *out = NULL;
    INJECT(map, NULL);
    return hv->ops->map(hv, domid, prot, n, mfns, pages, errs, out, d);
}

void xg_hv_unmap(xg_hv *hv, xg_hv_mapping *m)
{
    if (m)
        hv->ops->unmap(hv, m);
}

int xg_hv_page_types(xg_hv *hv, uint32_t domid, unsigned n, const uint64_t *mfns, uint32_t *types,
                     xg_diag *d)
{
    INJECT(page_types, NULL);
    return hv->ops->page_types(hv, domid, n, mfns, types, d);
}

int xg_hv_m2p(xg_hv *hv, const uint64_t **m2p, uint64_t *nr_mfns, uint64_t *compat_mfn0, xg_diag *d)
{
    INJECT(m2p, NULL);
    return hv->ops->m2p(hv, m2p, nr_mfns, compat_mfn0, d);
}

int xg_hv_vcpu_get(xg_hv *hv, uint32_t domid, unsigned vcpu, void *ctx, size_t size, xg_diag *d)
{
    struct xg_loc l = { XGF_DOMID(domid), XGF_VCPU(vcpu) };
    INJECT(vcpu_get, &l);
    return hv->ops->vcpu_get(hv, domid, vcpu, ctx, size, d);
}

int xg_hv_vcpu_set(xg_hv *hv, uint32_t domid, unsigned vcpu, const void *ctx, size_t size,
                   xg_diag *d)
{
    struct xg_loc l = { XGF_DOMID(domid), XGF_VCPU(vcpu) };
    INJECT(vcpu_set, &l);
    return hv->ops->vcpu_set(hv, domid, vcpu, ctx, size, d);
}

int xg_hv_vcpu_blob_get(xg_hv *hv, uint32_t domid, unsigned vcpu, enum xg_vcpu_blob kind, void *buf,
                        size_t *len, xg_diag *d)
{
    struct xg_loc l = { XGF_DOMID(domid), XGF_VCPU(vcpu) };
    INJECT(vcpu_blob_get, &l);
    return hv->ops->vcpu_blob_get(hv, domid, vcpu, kind, buf, len, d);
}

int xg_hv_vcpu_blob_set(xg_hv *hv, uint32_t domid, unsigned vcpu, enum xg_vcpu_blob kind,
                        const void *buf, size_t len, xg_diag *d)
{
    struct xg_loc l = { XGF_DOMID(domid), XGF_VCPU(vcpu) };
    INJECT(vcpu_blob_set, &l);
    return hv->ops->vcpu_blob_set(hv, domid, vcpu, kind, buf, len, d);
}

int xg_hv_tsc_info_get(xg_hv *hv, uint32_t domid, struct xg_rec_tsc_info *out, xg_diag *d)
{
    struct xg_loc l = { XGF_DOMID(domid) };
    INJECT(tsc_info_get, &l);
    return hv->ops->tsc_info_get(hv, domid, out, d);
}

int xg_hv_tsc_info_set(xg_hv *hv, uint32_t domid, const struct xg_rec_tsc_info *tsc, xg_diag *d)
{
    struct xg_loc l = { XGF_DOMID(domid) };
    INJECT(tsc_info_set, &l);
    return hv->ops->tsc_info_set(hv, domid, tsc, d);
}

int xg_hv_logdirty(xg_hv *hv, uint32_t domid, enum xg_logdirty_op op, unsigned long *bitmap,
                   uint64_t nr_pfns, uint64_t *dirty, xg_diag *d)
{
    struct xg_loc l = { XGF_DOMID(domid) };
    INJECT(logdirty, &l);
    return hv->ops->logdirty(hv, domid, op, bitmap, nr_pfns, dirty, d);
}

int xg_hv_pause(xg_hv *hv, uint32_t domid, xg_diag *d)
{
    struct xg_loc l = { XGF_DOMID(domid) };
    INJECT(pause, &l);
    return hv->ops->pause(hv, domid, d);
}

int xg_hv_unpause(xg_hv *hv, uint32_t domid, xg_diag *d)
{
    struct xg_loc l = { XGF_DOMID(domid) };
    INJECT(unpause, &l);
    return hv->ops->unpause(hv, domid, d);
}

int xg_hv_suspend(xg_hv *hv, uint32_t domid, unsigned timeout_ms, xg_diag *d)
{
    struct xg_loc l = { XGF_DOMID(domid) };
    INJECT(suspend, &l);
    return hv->ops->suspend(hv, domid, timeout_ms, d);
}

int xg_hv_resume(xg_hv *hv, uint32_t domid, xg_diag *d)
{
    struct xg_loc l = { XGF_DOMID(domid) };
    INJECT(resume, &l);
    return hv->ops->resume(hv, domid, d);
}

int xg_hv_domain_create(xg_hv *hv, const struct xg_domain_config *cfg, uint32_t *domid, xg_diag *d)
{
    INJECT(domain_create, NULL);
    return hv->ops->domain_create(hv, cfg, domid, d);
}

int xg_hv_domain_destroy(xg_hv *hv, uint32_t domid, xg_diag *d)
{
    struct xg_loc l = { XGF_DOMID(domid) };
    INJECT(domain_destroy, &l);
    return hv->ops->domain_destroy(hv, domid, d);
}

int xg_hv_set_max_pages(xg_hv *hv, uint32_t domid, uint64_t max_pages, xg_diag *d)
{
    struct xg_loc l = { XGF_DOMID(domid) };
    INJECT(set_max_pages, &l);
    return hv->ops->set_max_pages(hv, domid, max_pages, d);
}

int xg_hv_set_address_size(xg_hv *hv, uint32_t domid, unsigned guest_width, xg_diag *d)
{
    struct xg_loc l = { XGF_DOMID(domid) };
    INJECT(set_address_size, &l);
    return hv->ops->set_address_size(hv, domid, guest_width, d);
}

int xg_hv_evtchn_alloc_unbound(xg_hv *hv, uint32_t domid, uint32_t remote_domid, int *port,
                               xg_diag *d)
{
    struct xg_loc l = { XGF_DOMID(domid) };
    INJECT(evtchn_alloc_unbound, &l);
    return hv->ops->evtchn_alloc_unbound(hv, domid, remote_domid, port, d);
}

int xg_hv_populate(xg_hv *hv, uint32_t domid, unsigned n, const uint64_t *pfns, uint64_t *mfns,
                   xg_diag *d)
{
    struct xg_loc l = { XGF_DOMID(domid) };
    INJECT(populate, &l);
    return hv->ops->populate(hv, domid, n, pfns, mfns, d);
}

int xg_hv_depopulate(xg_hv *hv, uint32_t domid, unsigned n, const uint64_t *mfns, xg_diag *d)
{
    struct xg_loc l = { XGF_DOMID(domid) };
    INJECT(depopulate, &l);
    if (!hv->ops->depopulate) {
        return xg_diag_err(d, XG_E_UNSUPPORTED, &l, "the %s backend cannot give frames back to Xen",
                           hv->ops->name);
    }
    return hv->ops->depopulate(hv, domid, n, mfns, d);
}

int xg_hv_mmu_update(xg_hv *hv, uint32_t domid, const struct xg_mmu_update *req, unsigned n,
                     unsigned *done, xg_diag *d)
{
    struct xg_loc l = { XGF_DOMID(domid) };
    *done = 0;
    INJECT(mmu_update, &l);
    return hv->ops->mmu_update(hv, domid, req, n, done, d);
}

int xg_hv_mmuext(xg_hv *hv, uint32_t domid, const struct xg_mmuext_op *ops, unsigned n,
                 unsigned *done, xg_diag *d)
{
    *done = 0;
    /* Faults per kind of op, counted op by op, so "pin@3" is the third pin. */
    for (unsigned i = 0; i < n; i++) {
        enum xg_hv_op kind = ops[i].cmd <= XG_MMUEXT_PIN_L4_TABLE  ? XG_HV_OP_pin
                             : ops[i].cmd == XG_MMUEXT_UNPIN_TABLE ? XG_HV_OP_unpin
                                                                   : XG_HV_OP_new_baseptr;
        int e = injected(hv, kind);
        if (e) {
            unsigned done_before = 0;
            int rc = i ? hv->ops->mmuext(hv, domid, ops, i, &done_before, d) : 0;
            *done = done_before;
            if (rc < 0)
                return rc;
            struct xg_loc l = { XGF_DOMID(domid), XGF_MFN(ops[i].mfn) };
            return xg_diag_syserr(d, XG_E_HV, e, &l, "%s of mfn %#llx refused (injected fault)",
                                  op_names[kind], (unsigned long long)ops[i].mfn);
        }
    }
    return hv->ops->mmuext(hv, domid, ops, n, done, d);
}

int xg_hv_frame_owner(xg_hv *hv, uint64_t mfn, uint32_t *owner)
{
    if (!hv->ops->frame_owner)
        return XG_E_UNSUPPORTED;
    if (injected(hv, XG_HV_OP_frame_owner))
        return XG_E_HV;
    return hv->ops->frame_owner(hv, mfn, owner, NULL);
}

int xg_hv_cpu_policy_get(xg_hv *hv, uint32_t domid, struct xg_cpuid_leaf *leaves,
                         uint32_t *nr_leaves, struct xg_msr_entry *msrs, uint32_t *nr_msrs,
                         xg_diag *d)
{
    struct xg_loc l = { XGF_DOMID(domid) };
    INJECT(cpu_policy_get, &l);
    if (!hv->ops->cpu_policy_get)
        return XG_E_UNSUPPORTED;
    return hv->ops->cpu_policy_get(hv, domid, leaves, nr_leaves, msrs, nr_msrs, d);
}

int xg_hv_gnttab_seed(xg_hv *hv, uint32_t domid, uint64_t console_gfn, uint64_t xenstore_gfn,
                      uint32_t console_domid, uint32_t xenstore_domid, xg_diag *d)
{
    struct xg_loc l = { XGF_DOMID(domid) };
    INJECT(gnttab_seed, &l);
    return hv->ops->gnttab_seed(hv, domid, console_gfn, xenstore_gfn, console_domid, xenstore_domid,
                                d);
}

int xg_hv_cpu_policy_set(xg_hv *hv, uint32_t domid, const struct xg_cpuid_leaf *leaves,
                         uint32_t nr_leaves, const struct xg_msr_entry *msrs, uint32_t nr_msrs,
                         xg_diag *d)
{
    struct xg_loc l = { XGF_DOMID(domid) };
    INJECT(cpu_policy_set, &l);
    if (!hv->ops->cpu_policy_set)
        return XG_E_UNSUPPORTED;
    return hv->ops->cpu_policy_set(hv, domid, leaves, nr_leaves, msrs, nr_msrs, d);
}
