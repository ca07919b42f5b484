/*
 * xen_backend_private.h - what the files of the real Xen backend share:
 * the backend's state, the failure helpers every op reports through, and
 * the ops that live outside xen.c (whose table, in xen.c, names them).
 *
 * The backend's files, each with one job:
 *   xen.c          the ops table, open and close, domain ops (info, pause,
 *                  create, destroy, limits, event channels, TSC)
 *   xen_suspend.c  suspending a guest and its cooperative resume
 *   xen_vcpu.c     vcpu state (context, extended, xsave, MSRs), CPU policy
 *   xen_mm.c       memory: mapping, page types, the M2P, log-dirty,
 *                  populate, mmu_update / mmuext_op, the grant table
 *   xen_common.c   the Xen libraries' logger, failures, xenstore and
 *                  domain-info helpers, called by all of the above
 * Calls go one way: xen.c, xen_suspend.c, xen_vcpu.c and xen_mm.c call
 * xen_common.c and nothing else of the backend (xen.c reaches the others
 * only through the ops table).
 *
 * Unlike xen_private.h, this includes Xen's headers: only the backend's
 * own files include it, and only when XG_HAVE_XEN is defined.
 */
#ifndef XG_HV_XEN_BACKEND_PRIVATE_H
#define XG_HV_XEN_BACKEND_PRIVATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <xenctrl.h>
#include <xenevtchn.h>
#include <xenforeignmemory.h>
#include <xenstore.h>
#include <xentoollog.h>

#include "internal.h"
#include "xg/hv.h"

#define XEN_PAGE 4096UL

struct xen_hv {
    xentoollog_logger logger; /* handed to every Xen library; first, so we find ourselves */
    char log[480];            /* the last warning or error the libraries logged during this op */
    xc_interface *xch;
    xenforeignmemory_handle *fmem;
    xenevtchn_handle *xce; /* opened for the first suspend through an event channel */
    struct xs_handle *xsh; /* NULL while xenstore cannot be reached */
    int privcmd;           /* our own privcmd fd, for mmu_update / mmuext_op; -1 until needed */
    /* The M2P, mapped read-only on first use and until close. */
    void *m2p;
    size_t m2p_frames;
    uint64_t max_mfn;     /* entries valid in m2p: XENMEM_maximum_ram_page */
    uint64_t compat_mfn0; /* valid once compat_known: asked for the first caller that needs it */
    bool compat_known;
    /*
     * The guest width last read or set for domain width_domid (0: none),
     * so that a save's vcpu reads do not ask XEN_DOMCTL_get_address_size
     * again each time (issue 15 counts the hypercalls).  A domain's width
     * changes only by set_address_size, which forgets and sets it here when
     * this backend makes it; another domain under a reused id is caught by
     * width_shinfo below.
     */
    uint32_t width_domid;
    unsigned width;
    /*
     * width_domid's shared info frame when domain_state last saw it: a
     * different one means another domain under the same id (destroyed and
     * made again by another process), whose width is asked anew.
     */
    uint64_t width_shinfo;
};

/* ---- xen_common.c: logging and failures ---- */

/* Make x's logger the one the Xen libraries log to: it keeps only the last warning or error. */
void xg__xen_logger_init(struct xen_hv *x);

/* The backend's state, with the log of the previous op forgotten; every op starts with it. */
struct xen_hv *xg__xen_op(xg_hv *hv);

/*
 * One error finding (code, errno err) at loc, then, if the Xen libraries
 * logged something during this op, a note with it.  Returns code's
 * negative value, as xg_diag_addv does.  x may be NULL.
 */
int xg__xen_fail(struct xen_hv *x, xg_diag *d, int code, int err, const struct xg_loc *loc,
                 const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 8, 9)));

/* A refusal by Xen (or its libraries): XG_E_HV with the errno, and what was asked, in words. */
#define FAIL(x, d, err, loc, ...) \
    xg__xen_fail((x), (d), XG_E_HV, (err), (loc), __FILE__, __LINE__, __VA_ARGS__)
#define FAIL_CODE(x, d, code, err, loc, ...) \
    xg__xen_fail((x), (d), (code), (err), (loc), __FILE__, __LINE__, __VA_ARGS__)

/* XG_E_NOMEM: "out of memory for WHAT". */
int xg__xen_nomem(xg_diag *d, const char *what);

/* ---- xen_common.c: helpers ---- */

/* xenstore, opened again if it was not running before; NULL if it still cannot be reached. */
struct xs_handle *xg__xen_xs(struct xen_hv *x);
/* An integer node; -1 when absent, unreadable or not a number. */
int xg__xen_xs_read_int(struct xen_hv *x, const char *path);
/* Xen's info on domid; XG_E_NOTFOUND when there is no such domain. */
int xg__xen_domain_getinfo(struct xen_hv *x, uint32_t domid, xc_domaininfo_t *di, xg_diag *d);
/* The guest's width in bytes (XEN_DOMCTL_get_address_size / 8): 4 or 8, else an error. */
int xg__xen_guest_width(struct xen_hv *x, uint32_t domid, unsigned *width, xg_diag *d);
/* Remember domid's width (4 or 8; anything else forgets it), for xg__xen_guest_width. */
void xg__xen_width_known(struct xen_hv *x, uint32_t domid, unsigned width);

/* The shutdown reason in a domain's info (meaningful when XEN_DOMINF_shutdown is set). */
static inline unsigned xg__xen_di_reason(const xc_domaininfo_t *di)
{
    return (di->flags >> XEN_DOMINF_shutdownshift) & XEN_DOMINF_shutdownmask;
}

/* Has the domain shut down for suspend (made the suspend hypercall)? */
static inline bool xg__xen_di_suspended(const xc_domaininfo_t *di)
{
    return (di->flags & XEN_DOMINF_shutdown) && xg__xen_di_reason(di) == SHUTDOWN_suspend;
}

/* ---- the ops outside xen.c (their contracts: include/xg/hv.h) ---- */

/* xen_suspend.c */
int xg__xen_suspend(xg_hv *hv, uint32_t domid, unsigned timeout_ms, xg_diag *d);
int xg__xen_resume(xg_hv *hv, uint32_t domid, xg_diag *d);

/* xen_vcpu.c */
int xg__xen_vcpu_get(xg_hv *hv, uint32_t domid, unsigned vcpu, void *ctx, size_t size, xg_diag *d);
int xg__xen_vcpu_set(xg_hv *hv, uint32_t domid, unsigned vcpu, const void *ctx, size_t size,
                     xg_diag *d);
int xg__xen_vcpu_blob_get(xg_hv *hv, uint32_t domid, unsigned vcpu, enum xg_vcpu_blob kind,
                          void *buf, size_t *len, xg_diag *d);
int xg__xen_vcpu_blob_set(xg_hv *hv, uint32_t domid, unsigned vcpu, enum xg_vcpu_blob kind,
                          const void *buf, size_t len, xg_diag *d);
int xg__xen_cpu_policy_get(xg_hv *hv, uint32_t domid, struct xg_cpuid_leaf *leaves,
                           uint32_t *nr_leaves, struct xg_msr_entry *msrs, uint32_t *nr_msrs,
                           xg_diag *d);
int xg__xen_cpu_policy_set(xg_hv *hv, uint32_t domid, const struct xg_cpuid_leaf *leaves,
                           uint32_t nr_leaves, const struct xg_msr_entry *msrs, uint32_t nr_msrs,
                           xg_diag *d);

/* xen_mm.c */
int xg__xen_map(xg_hv *hv, uint32_t domid, int prot, unsigned n, const uint64_t *mfns, void **pages,
                int *errs, xg_hv_mapping **out, xg_diag *d);
void xg__xen_unmap(xg_hv *hv, xg_hv_mapping *m);
int xg__xen_page_types(xg_hv *hv, uint32_t domid, unsigned n, const uint64_t *mfns, uint32_t *types,
                       xg_diag *d);
int xg__xen_m2p(xg_hv *hv, const uint64_t **m2p, uint64_t *nr_mfns, uint64_t *compat_mfn0,
                xg_diag *d);
int xg__xen_logdirty(xg_hv *hv, uint32_t domid, enum xg_logdirty_op op, unsigned long *bitmap,
                     uint64_t nr_pfns, uint64_t *dirty, xg_diag *d);
int xg__xen_populate(xg_hv *hv, uint32_t domid, unsigned n, const uint64_t *pfns, uint64_t *mfns,
                     xg_diag *d);
int xg__xen_depopulate(xg_hv *hv, uint32_t domid, unsigned n, const uint64_t *mfns, xg_diag *d);
int xg__xen_mmu_update(xg_hv *hv, uint32_t domid, const struct xg_mmu_update *req, unsigned n,
                       unsigned *done, xg_diag *d);
int xg__xen_mmuext(xg_hv *hv, uint32_t domid, const struct xg_mmuext_op *ops, unsigned n,
                   unsigned *done, xg_diag *d);
int xg__xen_gnttab_seed(xg_hv *hv, uint32_t domid, uint64_t console_gfn, uint64_t xenstore_gfn,
                        uint32_t console_domid, uint32_t xenstore_domid, xg_diag *d);

#endif
