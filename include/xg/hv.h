/*
 * xg/hv.h - what the save and restore engines need from a hypervisor.
 *
 * One ops table, roughly one op per libxenctrl call, with two backends:
 *   "xen"       real Xen through libxenctrl / libxenforeignmemory
 *   "sim:PATH"  a simulated Xen host kept in the state file PATH, which
 *               enforces Xen 4.17's x86 PV page-type rules
 * The engine only ever calls the xg_hv_* wrappers below; they are the one
 * place where faults are injected in tests (xg_hv_set_faults), so every
 * error path of the engine can be driven without touching a backend.
 *
 * Numbers are Xen's: frames are machine frames (mfn) unless a parameter
 * says pfn; page types are XG_PFINFO_* (xg/pagetype.h); vcpu contexts are
 * Xen's vcpu_guest_context in the guest's own layout (64-bit: 5168 bytes,
 * 32-bit compat: 2800 bytes).
 *
 * Errors: every op returns 0 or a negative XG_E_*.  A refusal by the
 * hypervisor is XG_E_HV with the errno Xen gave in the finding's
 * sys_errno; the backend records what it knows (frame, op, errno), and
 * the engine adds what the frame *means*.
 */
#ifndef XG_HV_H
#define XG_HV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/mman.h>

#include "xg/diag.h"
#include "xg/stream.h"

#ifdef __cplusplus
extern "C" {
#endif

#define XG_HV_OPS_VERSION 3
#define XG_DOMID_SELF 0x7ff0U
#define XG_DOMID_XEN 0x7ff2U
#define XG_DOMID_INVALID 0x7ff4U
#define XG_INVALID_MFN (~0ULL)
#define XG_INVALID_PFN (~0ULL)
#define XG_HV_MAX_VCPUS 64U
/* Xen's SHUTDOWN_* reasons. */
#define XG_SHUTDOWN_POWEROFF 0
#define XG_SHUTDOWN_REBOOT 1
#define XG_SHUTDOWN_SUSPEND 2
#define XG_SHUTDOWN_CRASH 3

/*
 * What one question to the hypervisor tells of a domain (on Xen one
 * getdomaininfolist; the Xen backend asks the width too the first time,
 * then remembers it for that domain): what a save needs at its start and
 * asks again after the suspend and before the vcpus (a live save before
 * the suspend too).  domain_info adds the highest gpfn, the online vcpus
 * and the toolstack's event channels, at several hypercalls and xenstore
 * reads more.
 */
struct xg_domain_state {
    uint32_t domid;
    bool hvm;
    bool paused;
    bool shutdown;            /* shut down (for suspend: see shutdown_reason) */
    unsigned shutdown_reason; /* XG_SHUTDOWN_* when shutdown */
    bool dying;
    unsigned nr_vcpus;    /* max_vcpu_id + 1 */
    unsigned guest_width; /* 4 or 8; may be 0 for an HVM or dying domain (Xen does not say) */
    uint64_t nr_pages;    /* pages the domain owns (tot_pages) */
    uint64_t max_pages;
    uint64_t shared_info_mfn;
};

struct xg_domain_info {
    uint32_t domid;
    bool hvm;
    bool paused;
    bool shutdown;            /* shut down (for suspend: see shutdown_reason) */
    unsigned shutdown_reason; /* XG_SHUTDOWN_* when shutdown */
    bool dying;
    unsigned guest_width; /* 4 or 8 (XEN_DOMCTL_get_address_size / 8) */
    unsigned pt_levels;   /* 3 or 4 */
    uint64_t nr_pages;    /* pages the domain owns (tot_pages) */
    uint64_t max_pages;
    uint64_t max_pfn; /* highest gpfn (XENMEM_maximum_gpfn) */
    uint64_t shared_info_mfn;
    unsigned nr_vcpus;    /* max_vcpu_id + 1 */
    uint64_t vcpu_online; /* bit per vcpu (up to 64) */
    /* Toolstack state (xenstore on Xen): -1 when unknown. */
    int store_evtchn, console_evtchn;
};

/* mmu_update requests (Xen's mmu_update_t): ptr low bits select the kind. */
#define XG_MMU_NORMAL_PT_UPDATE 0U /* ptr = machine address of a PTE */
#define XG_MMU_MACHPHYS_UPDATE 1U  /* ptr = mfn << 12 | 1, val = pfn */
struct xg_mmu_update {
    uint64_t ptr;
    uint64_t val;
};

/* mmuext ops (Xen's MMUEXT_* numbers). */
#define XG_MMUEXT_PIN_L1_TABLE 0U
#define XG_MMUEXT_PIN_L2_TABLE 1U
#define XG_MMUEXT_PIN_L3_TABLE 2U
#define XG_MMUEXT_PIN_L4_TABLE 3U
#define XG_MMUEXT_UNPIN_TABLE 4U
#define XG_MMUEXT_NEW_BASEPTR 5U
struct xg_mmuext_op {
    unsigned cmd;
    uint64_t mfn;
};

/* Extra vcpu state, as the X86_PV_VCPU_* records carry it. */
enum xg_vcpu_blob {
    XG_VCPU_EXTENDED = XG_REC_X86_PV_VCPU_EXTENDED,
    XG_VCPU_XSAVE = XG_REC_X86_PV_VCPU_XSAVE,
    XG_VCPU_MSRS = XG_REC_X86_PV_VCPU_MSRS,
};

enum xg_logdirty_op {
    XG_LOGDIRTY_ENABLE,
    XG_LOGDIRTY_DISABLE,
    XG_LOGDIRTY_CLEAN, /* copy the bitmap out and clear it */
    XG_LOGDIRTY_PEEK,  /* copy the bitmap out */
};

struct xg_domain_config { /* for domain_create */
    unsigned guest_width; /* 4 or 8 */
    unsigned nr_vcpus;
    uint64_t max_pages;
};

typedef struct xg_hv xg_hv;
typedef struct xg_hv_mapping xg_hv_mapping;

/*
 * The backend vtable.  Implementors (libxg/hv/sim, libxg/hv/xen.c) fill
 * every member; the engine never calls them directly.
 */
struct xg_hv_ops {
    unsigned version; /* XG_HV_OPS_VERSION */
    const char *name;
    void (*close)(xg_hv *hv);

    int (*xen_version)(xg_hv *hv, uint32_t *major, uint32_t *minor, xg_diag *d);
    int (*domain_info)(xg_hv *hv, uint32_t domid, struct xg_domain_info *out, xg_diag *d);
    /*
     * struct xg_domain_state, in one question to the hypervisor (Xen: one
     * XEN_SYSCTL_getdomaininfolist, and XEN_DOMCTL_get_address_size the
     * first time a domain is asked about).  XG_E_NOTFOUND if there is no
     * such domain; a dying one is still answered for.
     */
    int (*domain_state)(xg_hv *hv, uint32_t domid, struct xg_domain_state *out, xg_diag *d);
    /*
     * Which of vcpus 0..nr_vcpus-1 (nr_vcpus <= XG_HV_MAX_VCPUS) are
     * online: bit v of *online (Xen: XEN_DOMCTL_getvcpuinfo per vcpu, a
     * vcpu never created counting as offline).  For a live domain: of a
     * dying one Xen may refuse to say.
     */
    int (*vcpus_online)(xg_hv *hv, uint32_t domid, unsigned nr_vcpus, uint64_t *online, xg_diag *d);

    /*
     * Map n frames of domain domid (PROT_READ or PROT_READ|PROT_WRITE).
     * pages[i] gets the address of frame mfns[i], or NULL with errs[i] set
     * to the errno Xen gave for that frame (the call still succeeds: like
     * xenforeignmemory_map, failures are per frame).  A mapping holds a
     * reference on each frame (writable mappings a writable type
     * reference) until unmap.
     */
    int (*map)(xg_hv *hv, uint32_t domid, int prot, unsigned n, const uint64_t *mfns, void **pages,
               int *errs, xg_hv_mapping **out, xg_diag *d);
    void (*unmap)(xg_hv *hv, xg_hv_mapping *m);

    /* Types of n <= 1024 frames (XEN_DOMCTL_getpageframeinfo3). */
    int (*page_types)(xg_hv *hv, uint32_t domid, unsigned n, const uint64_t *mfns, uint32_t *types,
                      xg_diag *d);

    /*
     * The machine-to-phys table, read-only, valid until close: m2p[mfn]
     * for mfn < *nr_mfns.  *compat_mfn0 is the first frame of the compat
     * (32-bit) M2P, which Xen maps into PAE guests' Xen L2 slots
     * (XG_INVALID_MFN if the host has none); compat_mfn0 may be NULL when
     * the caller does not need it (a 64-bit guest), and then the backend
     * need not ask for it (on Xen one hypercall less).
     */
    int (*m2p)(xg_hv *hv, const uint64_t **m2p, uint64_t *nr_mfns, uint64_t *compat_mfn0,
               xg_diag *d);

    int (*vcpu_get)(xg_hv *hv, uint32_t domid, unsigned vcpu, void *ctx, size_t size, xg_diag *d);
    int (*vcpu_set)(xg_hv *hv, uint32_t domid, unsigned vcpu, const void *ctx, size_t size,
                    xg_diag *d);
    /* *len in: buffer size; out: bytes of state (0 = none). */
    int (*vcpu_blob_get)(xg_hv *hv, uint32_t domid, unsigned vcpu, enum xg_vcpu_blob kind,
                         void *buf, size_t *len, xg_diag *d);
    int (*vcpu_blob_set)(xg_hv *hv, uint32_t domid, unsigned vcpu, enum xg_vcpu_blob kind,
                         const void *buf, size_t len, xg_diag *d);

    int (*tsc_info_get)(xg_hv *hv, uint32_t domid, struct xg_rec_tsc_info *out, xg_diag *d);
    int (*tsc_info_set)(xg_hv *hv, uint32_t domid, const struct xg_rec_tsc_info *tsc, xg_diag *d);

    /*
     * Log-dirty mode.  CLEAN/PEEK copy the bitmap (bit per pfn, nr_pfns
     * bits) into bitmap and set *dirty to the number of bits set.
     */
    int (*logdirty)(xg_hv *hv, uint32_t domid, enum xg_logdirty_op op, unsigned long *bitmap,
                    uint64_t nr_pfns, uint64_t *dirty, xg_diag *d);

    int (*pause)(xg_hv *hv, uint32_t domid, xg_diag *d);
    int (*unpause)(xg_hv *hv, uint32_t domid, xg_diag *d);
    /*
     * Ask the guest to suspend itself and wait (up to timeout_ms) until it
     * has (shutdown reason suspend).  A guest that does not answer is an
     * error and is left running, never forced.
     */
    int (*suspend)(xg_hv *hv, uint32_t domid, unsigned timeout_ms, xg_diag *d);
    /* Resume a suspended domain on this host (the suspend is cancelled). */
    int (*resume)(xg_hv *hv, uint32_t domid, xg_diag *d);

    int (*domain_create)(xg_hv *hv, const struct xg_domain_config *cfg, uint32_t *domid,
                         xg_diag *d);
    int (*domain_destroy)(xg_hv *hv, uint32_t domid, xg_diag *d);
    int (*set_max_pages)(xg_hv *hv, uint32_t domid, uint64_t max_pages, xg_diag *d);
    int (*set_address_size)(xg_hv *hv, uint32_t domid, unsigned guest_width, xg_diag *d);
    int (*evtchn_alloc_unbound)(xg_hv *hv, uint32_t domid, uint32_t remote_domid, int *port,
                                xg_diag *d);

    /*
     * Allocate a frame for each pfns[i]; mfns[i] receives it.  Xen sets the
     * M2P.  On failure the frames given so far stay the domain's (Xen's
     * "extents done", in order): their mfns[i] are written, the others'
     * left as they were, so a caller that fills mfns with XG_INVALID_MFN
     * first knows which pfns got a frame.
     */
    int (*populate)(xg_hv *hv, uint32_t domid, unsigned n, const uint64_t *pfns, uint64_t *mfns,
                    xg_diag *d);
    /*
     * n requests for frames owned by domid.  *done counts the requests
     * that took effect (the first failure stops the batch, as Xen does).
     */
    int (*mmu_update)(xg_hv *hv, uint32_t domid, const struct xg_mmu_update *req, unsigned n,
                      unsigned *done, xg_diag *d);
    int (*mmuext)(xg_hv *hv, uint32_t domid, const struct xg_mmuext_op *ops, unsigned n,
                  unsigned *done, xg_diag *d);

    /*
     * Optional (NULL when the backend cannot tell, as on real Xen): the
     * domain owning a frame, for diagnostics only.
     */
    int (*frame_owner)(xg_hv *hv, uint64_t mfn, uint32_t *owner, xg_diag *d);

    /*
     * Optional (NULL: the backend has none, like the simulated host): the
     * domain's CPUID and MSR policy, as the X86_CPUID_POLICY and
     * X86_MSR_POLICY records carry them.  For get, *nr_leaves and *nr_msrs
     * are the capacities on entry and the counts on return.
     */
    int (*cpu_policy_get)(xg_hv *hv, uint32_t domid, struct xg_cpuid_leaf *leaves,
                          uint32_t *nr_leaves, struct xg_msr_entry *msrs, uint32_t *nr_msrs,
                          xg_diag *d);
    int (*cpu_policy_set)(xg_hv *hv, uint32_t domid, const struct xg_cpuid_leaf *leaves,
                          uint32_t nr_leaves, const struct xg_msr_entry *msrs, uint32_t nr_msrs,
                          xg_diag *d);

    /*
     * Seed the guest's grant table as Xen's restore does (libxenguest's
     * xc_dom_gnttab_seed): entry GNTTAB_RESERVED_CONSOLE (0) grants
     * console_domid the frame console_gfn, entry GNTTAB_RESERVED_XENSTORE
     * (1) grants xenstore_domid xenstore_gfn, v1 layout, GTF_permit_access.
     * For a PV guest a gfn is an mfn.  An entry is left alone when its
     * back end is the guest itself or its frame is ~0.  Without entry 1,
     * xenstored's INTRODUCE of the restored domain fails (EINVAL) and the
     * toolstack gives up on it.
     */
    int (*gnttab_seed)(xg_hv *hv, uint32_t domid, uint64_t console_gfn, uint64_t xenstore_gfn,
                       uint32_t console_domid, uint32_t xenstore_domid, xg_diag *d);

    /*
     * Give n frames of domid back to Xen (XENMEM_decrease_reservation,
     * order 0; a PV domain names them by mfn).  Xen frees each frame once
     * nothing else holds it and clears its M2P entry.
     */
    int (*depopulate)(xg_hv *hv, uint32_t domid, unsigned n, const uint64_t *mfns, xg_diag *d);
};

struct xg_hv {
    const struct xg_hv_ops *ops;
    void *priv;                  /* backend state */
    struct xg_hv_faults *faults; /* injected faults, NULL when none */
    char *spec;                  /* the backend string it was opened with */
};

/*
 * Open a backend by name: "sim:PATH" or "xen".  When spec is NULL the
 * environment variable XG_BACKEND is used, and failing that "xen".  A
 * backend that is not built in, or a host that cannot be reached, is an
 * error that says how to use the simulated host.
 */
int xg_hv_open(const char *spec, xg_diag *d, xg_hv **out);
void xg_hv_close(xg_hv *hv);
/* Is the real Xen backend compiled in? */
bool xg_hv_have_xen(void);

/* Rollback steps and ops whose failure leaves state behind: the caller must look at the result. */
#define XG_HV_MUST_CHECK __attribute__((warn_unused_result))
/*
 * Inject faults, for tests: a comma-separated list of OP[@N][=ERRNO]:
 * make the Nth call (1-based; every call when @N is absent) of OP fail
 * with ERRNO (default EINVAL; "kill": the process kills itself with
 * SIGKILL there, for tests of what a kill -9 leaves).  OPs: the names in
 * libxg/hv/ops.h (XG_HV_FAULT_OPS), the one list: a wrapper below by its
 * name without xg_hv_, with mmuext as pin, unpin and new_baseptr;
 * xg_hv_fault_op_name(i) gives them at run time.
 * The environment variable XG_FAULTS is read by xg_hv_open; with
 * XG_FAULTS_COUNT=FILE, xg_hv_close appends each op's number of calls
 * ("OP N" lines, then "alloc N") to FILE.  Returns XG_E_INVAL for a
 * malformed spec.
 */
int xg_hv_set_faults(xg_hv *hv, const char *spec, xg_diag *d);
/* The name of injectable op i (0, 1, ...), NULL past the last. */
const char *xg_hv_fault_op_name(unsigned i);

/* The wrappers: same contracts as the ops above. */
int xg_hv_xen_version(xg_hv *hv, uint32_t *major, uint32_t *minor, xg_diag *d);
int xg_hv_domain_info(xg_hv *hv, uint32_t domid, struct xg_domain_info *out, xg_diag *d);
int xg_hv_domain_state(xg_hv *hv, uint32_t domid, struct xg_domain_state *out, xg_diag *d);
int xg_hv_vcpus_online(xg_hv *hv, uint32_t domid, unsigned nr_vcpus, uint64_t *online, xg_diag *d);
int xg_hv_map(xg_hv *hv, uint32_t domid, int prot, unsigned n, const uint64_t *mfns, void **pages,
              int *errs, xg_hv_mapping **out, xg_diag *d);
void xg_hv_unmap(xg_hv *hv, xg_hv_mapping *m);
int xg_hv_page_types(xg_hv *hv, uint32_t domid, unsigned n, const uint64_t *mfns, uint32_t *types,
                     xg_diag *d);
int xg_hv_m2p(xg_hv *hv, const uint64_t **m2p, uint64_t *nr_mfns, uint64_t *compat_mfn0,
              xg_diag *d);
int xg_hv_vcpu_get(xg_hv *hv, uint32_t domid, unsigned vcpu, void *ctx, size_t size, xg_diag *d);
int xg_hv_vcpu_set(xg_hv *hv, uint32_t domid, unsigned vcpu, const void *ctx, size_t size,
                   xg_diag *d);
int xg_hv_vcpu_blob_get(xg_hv *hv, uint32_t domid, unsigned vcpu, enum xg_vcpu_blob kind, void *buf,
                        size_t *len, xg_diag *d);
int xg_hv_vcpu_blob_set(xg_hv *hv, uint32_t domid, unsigned vcpu, enum xg_vcpu_blob kind,
                        const void *buf, size_t len, xg_diag *d);
int xg_hv_tsc_info_get(xg_hv *hv, uint32_t domid, struct xg_rec_tsc_info *out, xg_diag *d);
int xg_hv_tsc_info_set(xg_hv *hv, uint32_t domid, const struct xg_rec_tsc_info *tsc, xg_diag *d);
XG_HV_MUST_CHECK int xg_hv_logdirty(xg_hv *hv, uint32_t domid, enum xg_logdirty_op op,
                                    unsigned long *bitmap, uint64_t nr_pfns, uint64_t *dirty,
                                    xg_diag *d);
int xg_hv_pause(xg_hv *hv, uint32_t domid, xg_diag *d);
int xg_hv_unpause(xg_hv *hv, uint32_t domid, xg_diag *d);
int xg_hv_suspend(xg_hv *hv, uint32_t domid, unsigned timeout_ms, xg_diag *d);
XG_HV_MUST_CHECK int xg_hv_resume(xg_hv *hv, uint32_t domid, xg_diag *d);
int xg_hv_domain_create(xg_hv *hv, const struct xg_domain_config *cfg, uint32_t *domid, xg_diag *d);
XG_HV_MUST_CHECK int xg_hv_domain_destroy(xg_hv *hv, uint32_t domid, xg_diag *d);
int xg_hv_set_max_pages(xg_hv *hv, uint32_t domid, uint64_t max_pages, xg_diag *d);
int xg_hv_set_address_size(xg_hv *hv, uint32_t domid, unsigned guest_width, xg_diag *d);
int xg_hv_evtchn_alloc_unbound(xg_hv *hv, uint32_t domid, uint32_t remote_domid, int *port,
                               xg_diag *d);
int xg_hv_populate(xg_hv *hv, uint32_t domid, unsigned n, const uint64_t *pfns, uint64_t *mfns,
                   xg_diag *d);
int xg_hv_depopulate(xg_hv *hv, uint32_t domid, unsigned n, const uint64_t *mfns, xg_diag *d);
int xg_hv_mmu_update(xg_hv *hv, uint32_t domid, const struct xg_mmu_update *req, unsigned n,
                     unsigned *done, xg_diag *d);
XG_HV_MUST_CHECK int xg_hv_mmuext(xg_hv *hv, uint32_t domid, const struct xg_mmuext_op *ops,
                                  unsigned n, unsigned *done, xg_diag *d);
/* The owner of a frame if the backend knows it (0 and *owner set), else XG_E_UNSUPPORTED. */
int xg_hv_frame_owner(xg_hv *hv, uint64_t mfn, uint32_t *owner);
int xg_hv_gnttab_seed(xg_hv *hv, uint32_t domid, uint64_t console_gfn, uint64_t xenstore_gfn,
                      uint32_t console_domid, uint32_t xenstore_domid, xg_diag *d);
/* XG_E_UNSUPPORTED (nothing recorded in d) when the backend has no CPU policies. */
int xg_hv_cpu_policy_get(xg_hv *hv, uint32_t domid, struct xg_cpuid_leaf *leaves,
                         uint32_t *nr_leaves, struct xg_msr_entry *msrs, uint32_t *nr_msrs,
                         xg_diag *d);
int xg_hv_cpu_policy_set(xg_hv *hv, uint32_t domid, const struct xg_cpuid_leaf *leaves,
                         uint32_t nr_leaves, const struct xg_msr_entry *msrs, uint32_t nr_msrs,
                         xg_diag *d);

#ifdef __cplusplus
}
#endif
#endif
