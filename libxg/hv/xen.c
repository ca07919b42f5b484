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
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <xenctrl.h>
#include <xenevtchn.h>
#include <xenforeignmemory.h>
#include <xenstore.h>
#include <xentoollog.h>
#include <xen/grant_table.h>
#include <xen/memory.h>
#include <xen/sys/privcmd.h>

#include "internal.h"
#include "pv/abi.h"
#include "xg/pagetype.h"

/* ------------------------------------------------------------ the ABI we rely on */

/* vcpu_guest_context in the guest's layout (hv.h, pv/abi.h). */
_Static_assert(sizeof(vcpu_guest_context_x86_64_t) == XG_VCPU_CTX64_SIZE, "64-bit vcpu context size");
_Static_assert(sizeof(vcpu_guest_context_x86_32_t) == XG_VCPU_CTX32_SIZE, "32-bit vcpu context size");
_Static_assert(sizeof(vcpu_guest_context_any_t) >= XG_VCPU_CTX_MAX, "vcpu_guest_context_any_t holds both layouts");
/* The X86_CPUID_POLICY / X86_MSR_POLICY record entries are Xen's own structs. */
_Static_assert(sizeof(struct xg_cpuid_leaf) == sizeof(xen_cpuid_leaf_t), "cpuid leaf size");
_Static_assert(offsetof(struct xg_cpuid_leaf, leaf) == offsetof(xen_cpuid_leaf_t, leaf), "cpuid leaf.leaf");
_Static_assert(offsetof(struct xg_cpuid_leaf, subleaf) == offsetof(xen_cpuid_leaf_t, subleaf), "cpuid leaf.subleaf");
_Static_assert(offsetof(struct xg_cpuid_leaf, a) == offsetof(xen_cpuid_leaf_t, a), "cpuid leaf.a");
_Static_assert(offsetof(struct xg_cpuid_leaf, b) == offsetof(xen_cpuid_leaf_t, b), "cpuid leaf.b");
_Static_assert(offsetof(struct xg_cpuid_leaf, c) == offsetof(xen_cpuid_leaf_t, c), "cpuid leaf.c");
_Static_assert(offsetof(struct xg_cpuid_leaf, d) == offsetof(xen_cpuid_leaf_t, d), "cpuid leaf.d");
_Static_assert(sizeof(struct xg_msr_entry) == sizeof(xen_msr_entry_t), "msr entry size");
_Static_assert(offsetof(struct xg_msr_entry, idx) == offsetof(xen_msr_entry_t, idx), "msr entry.idx");
_Static_assert(offsetof(struct xg_msr_entry, flags) == offsetof(xen_msr_entry_t, flags), "msr entry.flags");
_Static_assert(offsetof(struct xg_msr_entry, val) == offsetof(xen_msr_entry_t, val), "msr entry.val");
/* mmu_update requests go to Xen as they are. */
_Static_assert(sizeof(struct xg_mmu_update) == sizeof(mmu_update_t), "mmu_update_t size");
_Static_assert(offsetof(struct xg_mmu_update, ptr) == offsetof(mmu_update_t, ptr), "mmu_update_t.ptr");
_Static_assert(offsetof(struct xg_mmu_update, val) == offsetof(mmu_update_t, val), "mmu_update_t.val");
_Static_assert(XG_MMU_NORMAL_PT_UPDATE == MMU_NORMAL_PT_UPDATE && XG_MMU_MACHPHYS_UPDATE == MMU_MACHPHYS_UPDATE,
               "mmu_update kinds");
_Static_assert(XG_MMUEXT_PIN_L1_TABLE == MMUEXT_PIN_L1_TABLE && XG_MMUEXT_PIN_L2_TABLE == MMUEXT_PIN_L2_TABLE &&
                   XG_MMUEXT_PIN_L3_TABLE == MMUEXT_PIN_L3_TABLE && XG_MMUEXT_PIN_L4_TABLE == MMUEXT_PIN_L4_TABLE &&
                   XG_MMUEXT_UNPIN_TABLE == MMUEXT_UNPIN_TABLE && XG_MMUEXT_NEW_BASEPTR == MMUEXT_NEW_BASEPTR,
               "mmuext commands");
/* Page types come back from getpageframeinfo3 unchanged. */
_Static_assert(XG_PFINFO_SHIFT == XEN_DOMCTL_PFINFO_LTAB_SHIFT && XG_PFINFO_NOTAB == XEN_DOMCTL_PFINFO_NOTAB &&
                   XG_PFINFO_L1TAB == XEN_DOMCTL_PFINFO_L1TAB && XG_PFINFO_L2TAB == XEN_DOMCTL_PFINFO_L2TAB &&
                   XG_PFINFO_L3TAB == XEN_DOMCTL_PFINFO_L3TAB && XG_PFINFO_L4TAB == XEN_DOMCTL_PFINFO_L4TAB &&
                   XG_PFINFO_LTABTYPE_MASK == XEN_DOMCTL_PFINFO_LTABTYPE_MASK &&
                   XG_PFINFO_LPINTAB == XEN_DOMCTL_PFINFO_LPINTAB && XG_PFINFO_XTAB == XEN_DOMCTL_PFINFO_XTAB &&
                   XG_PFINFO_XALLOC == XEN_DOMCTL_PFINFO_XALLOC && XG_PFINFO_BROKEN == XEN_DOMCTL_PFINFO_BROKEN &&
                   XG_PFINFO_LTAB_MASK == XEN_DOMCTL_PFINFO_LTAB_MASK,
               "XEN_DOMCTL_PFINFO_* values");
_Static_assert(XG_DOMID_SELF == DOMID_SELF && XG_DOMID_XEN == DOMID_XEN && XG_DOMID_INVALID == DOMID_INVALID,
               "DOMID_* values");
_Static_assert(XG_SHUTDOWN_POWEROFF == SHUTDOWN_poweroff && XG_SHUTDOWN_REBOOT == SHUTDOWN_reboot &&
                   XG_SHUTDOWN_SUSPEND == SHUTDOWN_suspend && XG_SHUTDOWN_CRASH == SHUTDOWN_crash,
               "SHUTDOWN_* reasons");
/* Frame numbers travel as uint64_t; a 64-bit toolstack's xen_pfn_t is the same. */
_Static_assert(sizeof(xen_pfn_t) == sizeof(uint64_t), "xen_pfn_t is 64 bits (64-bit toolstack only)");
/* X86_PV_VCPU_EXTENDED is the whole ext_vcpucontext, at most 128 bytes (xg_sr_restore_x86_pv.c). */
_Static_assert(sizeof(struct xen_domctl_ext_vcpucontext) <= 128, "ext_vcpucontext fits the record's limit");
/* X86_PV_VCPU_MSRS is an array of xen_domctl_vcpu_msr_t. */
_Static_assert(sizeof(xen_domctl_vcpu_msr_t) == 16, "vcpu msr entry");

#define XEN_PAGE 4096UL
#define M2P_CHUNK (2UL << 20) /* the M2P is mapped in 2 MiB chunks (libxenguest's M2P_CHUNK_SIZE) */
#define SUSPEND_LOCK "/var/run/xen/suspend-evtchn-%u.lock" /* libxenguest's, so we exclude each other */
#define DEFAULT_MAX_EVTCHN_PORT 1023U                      /* libxl's default event_channels */

struct xen_hv {
    xentoollog_logger logger;  /* handed to every Xen library; first, so we find ourselves */
    char log[480];             /* the last warning or error the libraries logged during this op */
    xc_interface *xch;
    xenforeignmemory_handle *fmem;
    xenevtchn_handle *xce;     /* opened for the first suspend through an event channel */
    struct xs_handle *xsh;     /* NULL while xenstore cannot be reached */
    int privcmd;               /* our own privcmd fd, for mmu_update / mmuext_op; -1 until needed */
    /* The M2P, mapped read-only on first use and until close. */
    void *m2p;
    size_t m2p_frames;
    uint64_t max_mfn;          /* entries valid in m2p: XENMEM_maximum_ram_page */
    uint64_t compat_mfn0;
};

struct xg_hv_mapping {
    void *addr;
    size_t n;
};

/* ------------------------------------------------------------ logging and failures */

static struct xen_hv *from_logger(xentoollog_logger *l)
{
    return (struct xen_hv *)(void *)((char *)l - offsetof(struct xen_hv, logger));
}

__attribute__((format(printf, 5, 0))) static void log_vmessage(xentoollog_logger *l, xentoollog_level level,
                                                                int errnoval, const char *context,
                                                                const char *format, va_list al)
{
    struct xen_hv *x = from_logger(l);
    if (level < XTL_WARN)
        return;
    char msg[sizeof(x->log)];
    vsnprintf(msg, sizeof(msg), format, al);
    size_t n = strlen(msg);
    while (n && (msg[n - 1] == '\n' || msg[n - 1] == ' '))
        msg[--n] = '\0';
    if (errnoval > 0 && !strstr(msg, strerror(errnoval)))
        snprintf(x->log, sizeof(x->log), "%s%s%s: %s", context ? context : "", context ? ": " : "", msg,
                 strerror(errnoval));
    else
        snprintf(x->log, sizeof(x->log), "%s%s%s", context ? context : "", context ? ": " : "", msg);
}

static void log_destroy(xentoollog_logger *l)
{
    /* Ours, and freed with the backend: nothing to do. */
}

/* The backend's state, with the log of the previous op forgotten. */
static struct xen_hv *X(xg_hv *hv)
{
    struct xen_hv *x = hv->priv;
    x->log[0] = '\0';
    return x;
}

__attribute__((format(printf, 8, 9))) static int xen_fail(struct xen_hv *x, xg_diag *d, int code, int err,
                                                           const struct xg_loc *loc, const char *file, int line,
                                                           const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = xg_diag_addv(d, XG_SEV_ERROR, code, err, loc, file, line, fmt, ap);
    va_end(ap);
    if (x && x->log[0]) {
        xg_diag_add(d, XG_SEV_NOTE, 0, 0, loc, file, line, "the Xen libraries said: %s", x->log);
        x->log[0] = '\0';
    }
    return rc;
}

/* A refusal by Xen (or its libraries): XG_E_HV with the errno, and what was asked, in words. */
#define FAIL(x, d, err, loc, ...) xen_fail((x), (d), XG_E_HV, (err), (loc), __FILE__, __LINE__, __VA_ARGS__)
#define FAIL_CODE(x, d, code, err, loc, ...) xen_fail((x), (d), (code), (err), (loc), __FILE__, __LINE__, __VA_ARGS__)

static int nomem(xg_diag *d, const char *what)
{
    return xg_diag_err(d, XG_E_NOMEM, NULL, "out of memory for %s", what);
}

/* ------------------------------------------------------------ small helpers */

static void sleep_ms(unsigned ms)
{
    struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L };
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

/* xenstore, opened again if it was not running before. */
static struct xs_handle *xs(struct xen_hv *x)
{
    if (!x->xsh)
        x->xsh = xs_open(0);
    return x->xsh;
}

/* An integer node; -1 when absent, unreadable or not a number. */
static int xs_read_int(struct xen_hv *x, const char *path)
{
    struct xs_handle *h = xs(x);
    if (!h)
        return -1;
    unsigned len = 0;
    char *v = xs_read(h, XBT_NULL, path, &len);
    if (!v)
        return -1;
    char *end;
    errno = 0;
    long n = strtol(v, &end, 10);
    int ok = len && end != v && *end == '\0' && errno == 0 && n >= 0 && n <= 0x7fffffffL;
    free(v);
    return ok ? (int)n : -1;
}

static int domain_getinfo(struct xen_hv *x, uint32_t domid, xc_domaininfo_t *di, xg_diag *d)
{
    struct xg_loc l = { XGF_DOMID(domid) };
    int n = xc_domain_getinfolist(x->xch, domid, 1, di);
    if (n < 0)
        return FAIL(x, d, errno, &l, "asking Xen about domain %u failed (XEN_SYSCTL_getdomaininfolist)", domid);
    /* The list starts at domid: another domain, or none, means it does not exist. */
    if (n != 1 || di->domain != domid)
        return xg_diag_syserr(d, XG_E_NOTFOUND, ESRCH, &l, "there is no domain %u on this Xen host", domid);
    return 0;
}

static bool di_suspended(const xc_domaininfo_t *di)
{
    return (di->flags & XEN_DOMINF_shutdown) &&
           ((di->flags >> XEN_DOMINF_shutdownshift) & XEN_DOMINF_shutdownmask) == SHUTDOWN_suspend;
}

static unsigned di_reason(const xc_domaininfo_t *di)
{
    return (di->flags >> XEN_DOMINF_shutdownshift) & XEN_DOMINF_shutdownmask;
}

/* The guest's width in bytes (XEN_DOMCTL_get_address_size / 8). */
static int guest_width(struct xen_hv *x, uint32_t domid, unsigned *width, xg_diag *d)
{
    struct xg_loc l = { XGF_DOMID(domid) };
    unsigned w = 0;
    /* Returns 1, not -1, on failure, with errno from the domctl. */
    if (xc_domain_get_guest_width(x->xch, domid, &w) != 0)
        return FAIL(x, d, errno, &l, "asking Xen for domain %u's address size failed (XEN_DOMCTL_get_address_size)",
                    domid);
    if (w != 4 && w != 8)
        return xg_diag_err(d, XG_E_HV, &l, "Xen says domain %u is %u bits wide; a PV guest is 32 or 64", domid, w * 8);
    *width = w;
    return 0;
}

/*
 * A hypercall through our own privcmd fd, as libxencall issues it
 * (IOCTL_PRIVCMD_HYPERCALL).  Arguments that point to memory must point
 * to hypercall buffers.  Returns the hypercall's result, or -1 with errno.
 */
static long hypercall4(struct xen_hv *x, unsigned op, uint64_t a0, uint64_t a1, uint64_t a2, uint64_t a3)
{
    if (x->privcmd < 0) {
        x->privcmd = open("/dev/xen/privcmd", O_RDWR | O_CLOEXEC);
        if (x->privcmd < 0 && errno == ENOENT)
            x->privcmd = open("/proc/xen/privcmd", O_RDWR | O_CLOEXEC);
        if (x->privcmd < 0)
            return -1;
    }
    privcmd_hypercall_t call = { .op = op, .arg = { a0, a1, a2, a3, 0 } };
    return ioctl(x->privcmd, IOCTL_PRIVCMD_HYPERCALL, &call);
}

/* ------------------------------------------------------------ ops */

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
    struct xen_hv *x = X(hv);
    int v = xc_version(x->xch, XENVER_version, NULL);
    if (v < 0)
        return FAIL(x, d, errno, NULL, "asking Xen for its version failed (XENVER_version)");
    *major = (uint32_t)v >> 16;
    *minor = (uint32_t)v & 0xffff;
    return 0;
}

static int xen_domain_info(xg_hv *hv, uint32_t domid, struct xg_domain_info *out, xg_diag *d)
{
    struct xen_hv *x = X(hv);
    struct xg_loc l = { XGF_DOMID(domid) };
    xc_domaininfo_t di;
    int rc = domain_getinfo(x, domid, &di, d);
    if (rc < 0)
        return rc;
    memset(out, 0, sizeof(*out));
    out->domid = domid;
    out->hvm = di.flags & XEN_DOMINF_hvm_guest;
    out->paused = di.flags & XEN_DOMINF_paused;
    out->shutdown = di.flags & XEN_DOMINF_shutdown;
    out->shutdown_reason = out->shutdown ? di_reason(&di) : 0;
    out->dying = di.flags & XEN_DOMINF_dying;
    out->nr_pages = di.tot_pages;
    out->max_pages = di.max_pages;
    out->shared_info_mfn = di.shared_info_frame;
    out->nr_vcpus = di.max_vcpu_id == XEN_INVALID_MAX_VCPU_ID ? 0 : di.max_vcpu_id + 1;
    out->store_evtchn = out->console_evtchn = -1;

    /* Width and levels as libxenguest derives them (x86_pv_domain_info). */
    unsigned w = 0;
    if (xc_domain_get_guest_width(x->xch, domid, &w) != 0) {
        if (!out->dying && !out->hvm)
            return FAIL(x, d, errno, &l,
                        "asking Xen for domain %u's address size failed (XEN_DOMCTL_get_address_size)", domid);
        w = 0;
    }
    out->guest_width = w;
    out->pt_levels = w == 8 ? 4 : w == 4 ? 3 : 0;

    /* XENMEM_maximum_gpfn: the guest's own idea (shared_info max_pfn) - 1 for PV. */
    xen_pfn_t gpfn = 0;
    if (xc_domain_maximum_gpfn(x->xch, domid, &gpfn) < 0) {
        if (!out->dying)
            return FAIL(x, d, errno, &l, "asking Xen for domain %u's highest pfn failed (XENMEM_maximum_gpfn)", domid);
        gpfn = 0;
    }
    out->max_pfn = gpfn;

    /* Online vcpus as libxenguest's write_all_vcpu_information sees them. */
    for (unsigned v = 0; v < out->nr_vcpus && v < XG_HV_MAX_VCPUS; v++) {
        xc_vcpuinfo_t vi;
        if (xc_vcpu_getinfo(x->xch, domid, v, &vi) < 0) {
            if (errno == ESRCH || out->dying)
                continue; /* no such vcpu (never created): offline */
            struct xg_loc vl = { XGF_DOMID(domid), XGF_VCPU(v) };
            return FAIL(x, d, errno, &vl, "asking Xen about vcpu%u of domain %u failed (XEN_DOMCTL_getvcpuinfo)", v,
                        domid);
        }
        if (vi.online)
            out->vcpu_online |= 1ULL << v;
    }

    /* Toolstack state: what xenstore says, when it runs and says it. */
    char path[80];
    snprintf(path, sizeof(path), "/local/domain/%u/store/port", domid);
    out->store_evtchn = xs_read_int(x, path);
    snprintf(path, sizeof(path), "/local/domain/%u/console/port", domid);
    out->console_evtchn = xs_read_int(x, path);
    return 0;
}

static int xen_map(xg_hv *hv, uint32_t domid, int prot, unsigned n, const uint64_t *mfns, void **pages, int *errs,
                   xg_hv_mapping **out, xg_diag *d)
{
    struct xen_hv *x = X(hv);
    struct xg_loc l = { XGF_DOMID(domid) };
    *out = NULL;
    xg_hv_mapping *m = calloc(1, sizeof(*m));
    xen_pfn_t *arr = malloc((n ? n : 1) * sizeof(*arr));
    int *err = errs ? errs : malloc((n ? n : 1) * sizeof(*err));
    if (!m || !arr || !err) {
        free(m);
        free(arr);
        if (err != errs)
            free(err);
        return nomem(d, "a mapping");
    }
    for (unsigned i = 0; i < n; i++) {
        arr[i] = mfns[i];
        err[i] = 0;
        pages[i] = NULL;
    }
    if (n) {
        /* With err[] the map succeeds frame by frame (xenforeignmemory.h); for PV, gfns are mfns. */
        m->addr = xenforeignmemory_map(x->fmem, domid, prot, n, arr, err);
        if (!m->addr) {
            int e = errno;
            free(m);
            free(arr);
            if (err != errs)
                free(err);
            if (n == 1)
                l = (struct xg_loc){ XGF_DOMID(domid), XGF_MFN(mfns[0]) };
            return FAIL(x, d, e, &l, "mapping %u frame%s of domain %u %s failed (privcmd mmapbatch)", n,
                        n == 1 ? "" : "s", domid, prot & PROT_WRITE ? "writable" : "read-only");
        }
        m->n = n;
        for (unsigned i = 0; i < n; i++) {
            /* Xen's per-frame errors are negative errnos; the contract wants them positive. */
            if (err[i]) {
                err[i] = err[i] < 0 ? -err[i] : err[i];
                continue;
            }
            pages[i] = (uint8_t *)m->addr + (size_t)i * XEN_PAGE;
        }
    }
    free(arr);
    if (err != errs)
        free(err);
    *out = m;
    return 0;
}

static void xen_unmap(xg_hv *hv, xg_hv_mapping *m)
{
    struct xen_hv *x = hv->priv;
    if (!m)
        return;
    if (m->addr)
        xenforeignmemory_unmap(x->fmem, m->addr, m->n);
    free(m);
}

static int xen_page_types(xg_hv *hv, uint32_t domid, unsigned n, const uint64_t *mfns, uint32_t *types, xg_diag *d)
{
    struct xen_hv *x = X(hv);
    struct xg_loc l = { XGF_DOMID(domid) };
    if (n > 1024)
        return xg_diag_syserr(d, XG_E_HV, E2BIG, &l, "getpageframeinfo3 takes at most 1024 frames, not %u", n);
    if (!n)
        return 0;
    DECLARE_HYPERCALL_BUFFER(xen_pfn_t, arr);
    arr = xc_hypercall_buffer_alloc(x->xch, arr, n * sizeof(*arr));
    if (!arr)
        return FAIL(x, d, errno, &l, "allocating a hypercall buffer for %u page types failed", n);
    for (unsigned i = 0; i < n; i++)
        arr[i] = mfns[i];
    struct xen_domctl domctl = {
        .cmd = XEN_DOMCTL_getpageframeinfo3,
        .domain = (domid_t)domid,
        .u.getpageframeinfo3.num = n,
    };
    set_xen_guest_handle(domctl.u.getpageframeinfo3.array, arr);
    int rc = xc_domctl(x->xch, &domctl);
    int e = errno;
    if (rc == 0)
        for (unsigned i = 0; i < n; i++)
            types[i] = (uint32_t)arr[i];
    xc_hypercall_buffer_free(x->xch, arr);
    if (rc < 0) {
        if (n == 1)
            l = (struct xg_loc){ XGF_DOMID(domid), XGF_MFN(mfns[0]) };
        return FAIL(x, d, e, &l, "asking Xen for the types of %u frame%s of domain %u failed "
                                 "(XEN_DOMCTL_getpageframeinfo3)", n, n == 1 ? "" : "s", domid);
    }
    return 0;
}

/* Map the M2P read-only from DOMID_XEN, as libxenguest's x86_pv_map_m2p does. */
static int map_m2p(struct xen_hv *x, xg_diag *d)
{
    unsigned long max_page = 0;
    if (xc_maximum_ram_page(x->xch, &max_page) < 0)
        return FAIL(x, d, errno, NULL, "asking Xen for its highest machine frame failed (XENMEM_maximum_ram_page)");
    size_t bytes = XG_ROUNDUP((size_t)max_page * sizeof(xen_pfn_t), M2P_CHUNK);
    size_t chunks = bytes / M2P_CHUNK, per_chunk = M2P_CHUNK / XEN_PAGE, n = chunks * per_chunk;
    if (!chunks)
        return xg_diag_err(d, XG_E_HV, NULL, "Xen reports no machine frames (XENMEM_maximum_ram_page = %lu)",
                           max_page);
    xen_pfn_t *first = malloc(chunks * sizeof(*first));
    xen_pfn_t *arr = malloc(n * sizeof(*arr));
    if (!first || !arr) {
        free(first);
        free(arr);
        return nomem(d, "the M2P frame list");
    }
    /* Succeeds only when Xen returns exactly `chunks` extents. */
    if (xc_machphys_mfn_list(x->xch, chunks, first) < 0) {
        int e = errno;
        free(first);
        free(arr);
        return FAIL(x, d, e, NULL, "asking Xen for the %zu frames of its M2P table failed (XENMEM_machphys_mfn_list)",
                    chunks);
    }
    for (size_t c = 0; c < chunks; c++)
        for (size_t j = 0; j < per_chunk; j++)
            arr[c * per_chunk + j] = first[c] + j;
    free(first);
    void *m2p = xenforeignmemory_map(x->fmem, DOMID_XEN, PROT_READ, n, arr, NULL);
    int e = errno;
    free(arr);
    if (!m2p)
        return FAIL(x, d, e, NULL, "mapping Xen's M2P table (%zu frames of DOMID_XEN) read-only failed", n);

    /*
     * The first frame of the compat (32-bit) M2P, which Xen maps into PAE
     * guests' L2s.  A Xen without 32-bit PV support has none: only 32-bit
     * guests need it, so its absence is not an error here.
     */
    uint64_t compat = XG_INVALID_MFN;
    DECLARE_HYPERCALL_BUFFER(xen_pfn_t, cm);
    cm = xc_hypercall_buffer_alloc(x->xch, cm, sizeof(*cm));
    if (cm) {
        struct xen_machphys_mfn_list xmml = { .max_extents = 1 };
        set_xen_guest_handle(xmml.extent_start, cm);
        if (xc_memory_op(x->xch, XENMEM_machphys_compat_mfn_list, &xmml, sizeof(xmml)) == 0 && xmml.nr_extents == 1)
            compat = *cm;
        xc_hypercall_buffer_free(x->xch, cm);
    }
    x->log[0] = '\0';
    x->m2p = m2p;
    x->m2p_frames = n;
    x->max_mfn = max_page;
    x->compat_mfn0 = compat;
    return 0;
}

static int xen_m2p(xg_hv *hv, const uint64_t **m2p, uint64_t *nr_mfns, uint64_t *compat_mfn0, xg_diag *d)
{
    struct xen_hv *x = X(hv);
    if (!x->m2p) {
        int rc = map_m2p(x, d);
        if (rc < 0)
            return rc;
    }
    *m2p = (const uint64_t *)x->m2p;
    *nr_mfns = x->max_mfn;
    *compat_mfn0 = x->compat_mfn0;
    return 0;
}

static int vcpu_size_check(struct xen_hv *x, uint32_t domid, unsigned vcpu, size_t size, xg_diag *d)
{
    unsigned w;
    int rc = guest_width(x, domid, &w, d);
    if (rc < 0)
        return rc;
    size_t want = w == 8 ? sizeof(vcpu_guest_context_x86_64_t) : sizeof(vcpu_guest_context_x86_32_t);
    if (size != want) {
        struct xg_loc l = { XGF_DOMID(domid), XGF_VCPU(vcpu) };
        return xg_diag_err(d, XG_E_INVAL, &l, "vcpu context buffer of %zu bytes for a %u-bit guest (%zu expected)",
                           size, w * 8, want);
    }
    return 0;
}

static int xen_vcpu_get(xg_hv *hv, uint32_t domid, unsigned vcpu, void *ctx, size_t size, xg_diag *d)
{
    struct xen_hv *x = X(hv);
    int rc = vcpu_size_check(x, domid, vcpu, size, d);
    if (rc < 0)
        return rc;
    vcpu_guest_context_any_t any;
    memset(&any, 0, sizeof(any));
    if (xc_vcpu_getcontext(x->xch, domid, vcpu, &any) < 0) {
        struct xg_loc l = { XGF_DOMID(domid), XGF_VCPU(vcpu) };
        return FAIL(x, d, errno, &l, "getting vcpu%u's context of domain %u failed (XEN_DOMCTL_getvcpucontext)", vcpu,
                    domid);
    }
    memcpy(ctx, &any, size);
    return 0;
}

static int xen_vcpu_set(xg_hv *hv, uint32_t domid, unsigned vcpu, const void *ctx, size_t size, xg_diag *d)
{
    struct xen_hv *x = X(hv);
    int rc = vcpu_size_check(x, domid, vcpu, size, d);
    if (rc < 0)
        return rc;
    vcpu_guest_context_any_t any;
    memset(&any, 0, sizeof(any));
    memcpy(&any, ctx, size);
    if (xc_vcpu_setcontext(x->xch, domid, vcpu, &any) < 0) {
        struct xg_loc l = { XGF_DOMID(domid), XGF_VCPU(vcpu) };
        return FAIL(x, d, errno, &l, "Xen refused vcpu%u's context for domain %u (XEN_DOMCTL_setvcpucontext)", vcpu,
                    domid);
    }
    return 0;
}

static const char *blob_name(enum xg_vcpu_blob kind)
{
    return kind == XG_VCPU_EXTENDED ? "extended state" : kind == XG_VCPU_XSAVE ? "xsave state" : "MSRs";
}

/* X86_PV_VCPU_EXTENDED: the ext_vcpucontext struct, header included, `size` bytes (write_one_vcpu_extended). */
static int get_extended(struct xen_hv *x, uint32_t domid, unsigned vcpu, void *buf, size_t *len, xg_diag *d,
                        const struct xg_loc *l)
{
    struct xen_domctl domctl = {
        .cmd = XEN_DOMCTL_get_ext_vcpucontext,
        .domain = (domid_t)domid,
        .u.ext_vcpucontext.vcpu = vcpu,
    };
    if (xc_domctl(x->xch, &domctl) < 0)
        return FAIL(x, d, errno, l, "getting vcpu%u's extended state of domain %u failed "
                                    "(XEN_DOMCTL_get_ext_vcpucontext)", vcpu, domid);
    size_t size = domctl.u.ext_vcpucontext.size;
    if (size > sizeof(domctl.u.ext_vcpucontext))
        return xg_diag_err(d, XG_E_HV, l, "Xen says vcpu%u's extended state is %zu bytes, more than its %zu-byte struct",
                           vcpu, size, sizeof(domctl.u.ext_vcpucontext));
    if (size > *len)
        return xg_diag_err(d, XG_E_INVAL, l, "buffer of %zu bytes too small for vcpu%u's %zu bytes of extended state",
                           *len, vcpu, size);
    memcpy(buf, &domctl.u.ext_vcpucontext, size);
    *len = size;
    return 0;
}

/* X86_PV_VCPU_XSAVE: xcr0, xcr0_accum, then the xsave area (write_one_vcpu_xsave). */
static int get_xsave(struct xen_hv *x, uint32_t domid, unsigned vcpu, void *buf, size_t *len, xg_diag *d,
                     const struct xg_loc *l)
{
    /* First the size query: no buffer, zero size and mask. */
    struct xen_domctl domctl = {
        .cmd = XEN_DOMCTL_getvcpuextstate,
        .domain = (domid_t)domid,
        .u.vcpuextstate.vcpu = vcpu,
    };
    if (xc_domctl(x->xch, &domctl) < 0)
        return FAIL(x, d, errno, l, "asking for the size of vcpu%u's xsave state of domain %u failed "
                                    "(XEN_DOMCTL_getvcpuextstate)", vcpu, domid);
    if (!domctl.u.vcpuextstate.xfeature_mask) {
        *len = 0; /* no xsave on this host: no record */
        return 0;
    }
    size_t size = domctl.u.vcpuextstate.size;
    DECLARE_HYPERCALL_BUFFER(void, hb);
    hb = xc_hypercall_buffer_alloc(x->xch, hb, size);
    if (!hb)
        return FAIL(x, d, errno, l, "allocating a %zu-byte hypercall buffer for vcpu%u's xsave state failed", size,
                    vcpu);
    /* The mask and size Xen gave stay in the request, as libxenguest leaves them. */
    set_xen_guest_handle(domctl.u.vcpuextstate.buffer, hb);
    int rc = xc_domctl(x->xch, &domctl);
    int e = errno;
    size_t got = domctl.u.vcpuextstate.size;
    if (rc < 0)
        rc = FAIL(x, d, e, l, "getting vcpu%u's xsave state of domain %u failed (XEN_DOMCTL_getvcpuextstate)", vcpu,
                  domid);
    else if (got > size)
        rc = xg_diag_err(d, XG_E_HV, l, "Xen returned %zu bytes of xsave state for vcpu%u in a %zu-byte buffer", got,
                         vcpu, size);
    else if (got > *len)
        rc = xg_diag_err(d, XG_E_INVAL, l, "buffer of %zu bytes too small for vcpu%u's %zu bytes of xsave state",
                         *len, vcpu, got);
    else {
        memcpy(buf, hb, got);
        *len = got;
    }
    xc_hypercall_buffer_free(x->xch, hb);
    return rc;
}

/* X86_PV_VCPU_MSRS: an array of xen_domctl_vcpu_msr_t (write_one_vcpu_msrs). */
static int get_msrs(struct xen_hv *x, uint32_t domid, unsigned vcpu, void *buf, size_t *len, xg_diag *d,
                    const struct xg_loc *l)
{
    struct xen_domctl domctl = {
        .cmd = XEN_DOMCTL_get_vcpu_msrs,
        .domain = (domid_t)domid,
        .u.vcpu_msrs.vcpu = vcpu,
    };
    if (xc_domctl(x->xch, &domctl) < 0)
        return FAIL(x, d, errno, l, "asking how many MSRs vcpu%u of domain %u has failed (XEN_DOMCTL_get_vcpu_msrs)",
                    vcpu, domid);
    if (!domctl.u.vcpu_msrs.msr_count) {
        *len = 0;
        return 0;
    }
    size_t cap = domctl.u.vcpu_msrs.msr_count;
    DECLARE_HYPERCALL_BUFFER(xen_domctl_vcpu_msr_t, hb);
    hb = xc_hypercall_buffer_alloc(x->xch, hb, cap * sizeof(*hb));
    if (!hb)
        return FAIL(x, d, errno, l, "allocating a hypercall buffer for vcpu%u's %zu MSRs failed", vcpu, cap);
    set_xen_guest_handle(domctl.u.vcpu_msrs.msrs, hb);
    int rc = xc_domctl(x->xch, &domctl);
    int e = errno;
    size_t got = (size_t)domctl.u.vcpu_msrs.msr_count * sizeof(*hb);
    if (rc < 0)
        rc = FAIL(x, d, e, l, "getting vcpu%u's MSRs of domain %u failed (XEN_DOMCTL_get_vcpu_msrs)", vcpu, domid);
    else if (domctl.u.vcpu_msrs.msr_count > cap)
        rc = xg_diag_err(d, XG_E_HV, l, "Xen returned %u MSRs for vcpu%u after announcing %zu",
                         domctl.u.vcpu_msrs.msr_count, vcpu, cap);
    else if (got > *len)
        rc = xg_diag_err(d, XG_E_INVAL, l, "buffer of %zu bytes too small for vcpu%u's %zu bytes of MSRs", *len, vcpu,
                         got);
    else {
        memcpy(buf, hb, got);
        *len = got;
    }
    xc_hypercall_buffer_free(x->xch, hb);
    return rc;
}

static int xen_vcpu_blob_get(xg_hv *hv, uint32_t domid, unsigned vcpu, enum xg_vcpu_blob kind, void *buf,
                             size_t *len, xg_diag *d)
{
    struct xen_hv *x = X(hv);
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

static int xen_vcpu_blob_set(xg_hv *hv, uint32_t domid, unsigned vcpu, enum xg_vcpu_blob kind, const void *buf,
                             size_t len, xg_diag *d)
{
    struct xen_hv *x = X(hv);
    struct xg_loc l = { XGF_DOMID(domid), XGF_VCPU(vcpu) };
    if (!len)
        return 0; /* empty records are skipped, as Xen's restore does */
    struct xen_domctl domctl = { .domain = (domid_t)domid };
    int rc, e;
    switch (kind) {
    case XG_VCPU_EXTENDED:
        /* process_vcpu_extended: the record is copied over the struct, size field and all. */
        if (len > sizeof(domctl.u.ext_vcpucontext))
            return xg_diag_err(d, XG_E_INVAL, &l, "vcpu%u's extended state of %zu bytes is larger than Xen's %zu",
                               vcpu, len, sizeof(domctl.u.ext_vcpucontext));
        domctl.cmd = XEN_DOMCTL_set_ext_vcpucontext;
        memcpy(&domctl.u.ext_vcpucontext, buf, len);
        domctl.u.ext_vcpucontext.vcpu = vcpu; /* the record's header names the vcpu; its copy here must agree */
        if (xc_domctl(x->xch, &domctl) < 0)
            return FAIL(x, d, errno, &l, "Xen refused vcpu%u's extended state for domain %u "
                                         "(XEN_DOMCTL_set_ext_vcpucontext)", vcpu, domid);
        return 0;
    case XG_VCPU_XSAVE: {
        if (len < 16)
            return xg_diag_err(d, XG_E_INVAL, &l, "vcpu%u's xsave state of %zu bytes lacks xcr0 and xcr0_accum", vcpu,
                               len);
        DECLARE_HYPERCALL_BUFFER(void, hb);
        hb = xc_hypercall_buffer_alloc(x->xch, hb, len);
        if (!hb)
            return FAIL(x, d, errno, &l, "allocating a %zu-byte hypercall buffer for vcpu%u's xsave state failed",
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
            return FAIL(x, d, e, &l, "Xen refused vcpu%u's %zu bytes of xsave state for domain %u "
                                     "(XEN_DOMCTL_setvcpuextstate)", vcpu, len, domid);
        return 0;
    }
    case XG_VCPU_MSRS: {
        if (len % sizeof(xen_domctl_vcpu_msr_t))
            return xg_diag_err(d, XG_E_INVAL, &l, "vcpu%u's MSR state of %zu bytes is not a whole number of %zu-byte "
                                                  "entries", vcpu, len, sizeof(xen_domctl_vcpu_msr_t));
        DECLARE_HYPERCALL_BUFFER(void, hb);
        hb = xc_hypercall_buffer_alloc(x->xch, hb, len);
        if (!hb)
            return FAIL(x, d, errno, &l, "allocating a %zu-byte hypercall buffer for vcpu%u's MSRs failed", len, vcpu);
        memcpy(hb, buf, len);
        domctl.cmd = XEN_DOMCTL_set_vcpu_msrs;
        domctl.u.vcpu_msrs.vcpu = vcpu;
        domctl.u.vcpu_msrs.msr_count = (uint32_t)(len / sizeof(xen_domctl_vcpu_msr_t));
        set_xen_guest_handle(domctl.u.vcpu_msrs.msrs, hb);
        rc = xc_domctl(x->xch, &domctl);
        e = errno;
        xc_hypercall_buffer_free(x->xch, hb);
        if (rc < 0)
            return FAIL(x, d, e, &l, "Xen refused vcpu%u's %zu MSRs for domain %u (XEN_DOMCTL_set_vcpu_msrs)", vcpu,
                        len / sizeof(xen_domctl_vcpu_msr_t), domid);
        return 0;
    }
    }
    return xg_diag_err(d, XG_E_INVAL, &l, "unknown kind %d of vcpu state (%s)", (int)kind, blob_name(kind));
}

static int xen_tsc_get(xg_hv *hv, uint32_t domid, struct xg_rec_tsc_info *out, xg_diag *d)
{
    struct xen_hv *x = X(hv);
    uint32_t mode = 0, khz = 0, inc = 0;
    uint64_t nsec = 0;
    if (xc_domain_get_tsc_info(x->xch, domid, &mode, &nsec, &khz, &inc) < 0) {
        struct xg_loc l = { XGF_DOMID(domid) };
        return FAIL(x, d, errno, &l, "getting domain %u's TSC settings failed (XEN_DOMCTL_gettscinfo)", domid);
    }
    out->mode = mode;
    out->khz = khz;
    out->nsec = nsec;
    out->incarnation = inc;
    return 0;
}

static int xen_tsc_set(xg_hv *hv, uint32_t domid, const struct xg_rec_tsc_info *t, xg_diag *d)
{
    struct xen_hv *x = X(hv);
    /* As handle_x86_tsc_info: the record's values unchanged (Xen bumps the incarnation itself). */
    if (xc_domain_set_tsc_info(x->xch, domid, t->mode, t->nsec, t->khz, t->incarnation) < 0) {
        struct xg_loc l = { XGF_DOMID(domid) };
        return FAIL(x, d, errno, &l, "Xen refused TSC mode %u at %u kHz for domain %u (XEN_DOMCTL_settscinfo)",
                    t->mode, t->khz, domid);
    }
    return 0;
}

static int xen_logdirty(xg_hv *hv, uint32_t domid, enum xg_logdirty_op op, unsigned long *bitmap, uint64_t nr_pfns,
                        uint64_t *dirty, xg_diag *d)
{
    struct xen_hv *x = X(hv);
    struct xg_loc l = { XGF_DOMID(domid) };
    switch (op) {
    case XG_LOGDIRTY_ENABLE:
        /* Xen refuses a second enable; the engine turns it off first, as xg_sr_save.c does on failure. */
        if (xc_shadow_control(x->xch, domid, XEN_DOMCTL_SHADOW_OP_ENABLE_LOGDIRTY, NULL, 0) < 0)
            return FAIL(x, d, errno, &l, "enabling log-dirty mode for domain %u failed "
                                         "(XEN_DOMCTL_SHADOW_OP_ENABLE_LOGDIRTY)", domid);
        return 0;
    case XG_LOGDIRTY_DISABLE:
        if (xc_shadow_control(x->xch, domid, XEN_DOMCTL_SHADOW_OP_OFF, NULL, 0) < 0)
            return FAIL(x, d, errno, &l, "turning log-dirty mode off for domain %u failed (XEN_DOMCTL_SHADOW_OP_OFF)",
                        domid);
        return 0;
    case XG_LOGDIRTY_CLEAN:
    case XG_LOGDIRTY_PEEK:
        break;
    default:
        return xg_diag_err(d, XG_E_INVAL, &l, "unknown log-dirty operation %d", (int)op);
    }
    unsigned sop = op == XG_LOGDIRTY_CLEAN ? XEN_DOMCTL_SHADOW_OP_CLEAN : XEN_DOMCTL_SHADOW_OP_PEEK;
    const char *opname = op == XG_LOGDIRTY_CLEAN ? "CLEAN" : "PEEK";
    xc_shadow_op_stats_t stats;
    memset(&stats, 0, sizeof(stats));
    if (!bitmap || !nr_pfns) {
        /* No copy wanted: Xen still walks (and, for CLEAN, clears) nr_pfns bits. */
        long long r = xc_logdirty_control(x->xch, domid, sop, NULL, nr_pfns, 0, &stats);
        if (r < 0)
            return FAIL(x, d, errno, &l, "log-dirty %s of domain %u failed (XEN_DOMCTL_SHADOW_OP_%s)", opname, domid,
                        opname);
        if (dirty)
            *dirty = stats.dirty_count;
        return 0;
    }
    /* Xen writes whole bytes of the bitmap; the caller's is whole longs, at least as long. */
    size_t longs = XG_BITMAP_LONGS(nr_pfns), bytes = longs * sizeof(unsigned long);
    if (nr_pfns > (1ULL << 40))
        return xg_diag_err(d, XG_E_INVAL, &l, "a dirty bitmap of %llu pfns is beyond any PV guest",
                           (unsigned long long)nr_pfns);
    int npages = (int)((bytes + XEN_PAGE - 1) / XEN_PAGE);
    DECLARE_HYPERCALL_BUFFER(unsigned long, hb);
    hb = xc_hypercall_buffer_alloc_pages(x->xch, hb, npages);
    if (!hb)
        return FAIL(x, d, errno, &l, "allocating a hypercall buffer for a %llu-pfn dirty bitmap failed",
                    (unsigned long long)nr_pfns);
    memset(hb, 0, bytes);
    long long r = xc_logdirty_control(x->xch, domid, sop, HYPERCALL_BUFFER(hb), nr_pfns, 0, &stats);
    int e = errno;
    int rc = 0;
    if (r < 0) {
        rc = FAIL(x, d, e, &l, "log-dirty %s of domain %u failed (XEN_DOMCTL_SHADOW_OP_%s)", opname, domid, opname);
    } else if ((uint64_t)r != nr_pfns) {
        /* libxenguest treats this as failure too ("Failed to retrieve logdirty bitmap"). */
        rc = xg_diag_err(d, XG_E_HV, &l, "log-dirty %s of domain %u covered %lld pfns, not the %llu asked", opname,
                         domid, r, (unsigned long long)nr_pfns);
    } else {
        memcpy(bitmap, hb, bytes);
        if (nr_pfns % XG_BITS_PER_LONG)
            bitmap[longs - 1] &= (1UL << (nr_pfns % XG_BITS_PER_LONG)) - 1;
        uint64_t count = 0;
        for (size_t i = 0; i < longs; i++)
            count += (uint64_t)__builtin_popcountl(bitmap[i]);
        if (dirty)
            *dirty = count;
    }
    xc_hypercall_buffer_free_pages(x->xch, hb, npages);
    return rc;
}

static int xen_pause(xg_hv *hv, uint32_t domid, xg_diag *d)
{
    struct xen_hv *x = X(hv);
    if (xc_domain_pause(x->xch, domid) < 0) {
        struct xg_loc l = { XGF_DOMID(domid) };
        return FAIL(x, d, errno, &l, "pausing domain %u failed (XEN_DOMCTL_pausedomain)", domid);
    }
    return 0;
}

static int xen_unpause(xg_hv *hv, uint32_t domid, xg_diag *d)
{
    struct xen_hv *x = X(hv);
    if (xc_domain_unpause(x->xch, domid) < 0) {
        struct xg_loc l = { XGF_DOMID(domid) };
        return FAIL(x, d, errno, &l, "unpausing domain %u failed (XEN_DOMCTL_unpausedomain)", domid);
    }
    return 0;
}

/* ------------------------------------------------------------ suspend */

/*
 * The lock libxenguest takes around a domain's suspend event channel
 * (xg_suspend.c lock_suspend_event), same file and protocol, so that xg
 * and a libxl of the same host never bind it together.
 */
static int lock_suspend_channel(uint32_t domid, int *out, char *path, size_t pathlen)
{
    snprintf(path, pathlen, SUSPEND_LOCK, domid);
    for (;;) {
        int fd = open(path, O_CREAT | O_RDWR | O_CLOEXEC, 0600);
        if (fd < 0)
            return -1;
        struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_len = 1 };
        struct stat ours, theirs;
        if (fcntl(fd, F_SETLK, &fl) < 0 || fstat(fd, &ours) < 0) {
            int e = errno;
            close(fd);
            errno = e;
            return -1;
        }
        if (stat(path, &theirs) < 0) {
            int e = errno;
            close(fd);
            if (e == ENOENT)
                continue; /* removed by its holder while we locked it */
            errno = e;
            return -1;
        }
        if (ours.st_ino != theirs.st_ino) {
            close(fd);
            continue;
        }
        *out = fd;
        return 0;
    }
}

static void unlock_suspend_channel(int fd, const char *path)
{
    if (fd < 0)
        return;
    unlink(path);
    close(fd);
}

/*
 * Wait for an event on our end of the suspend channel, until `until`
 * (xg__now() seconds).  1: it fired; 0: time is up; -1: error (errno).
 */
static int wait_channel(struct xen_hv *x, int local, double until)
{
    int fd = xenevtchn_fd(x->xce);
    for (;;) {
        double left = until - xg__now();
        if (left <= 0)
            return 0;
        struct pollfd p = { .fd = fd, .events = POLLIN };
        int r = poll(&p, 1, left > 1.0 ? 1000 : (int)(left * 1000) + 1);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return -1;
        if (r == 0)
            continue; /* the loop's head decides whether time is up */
        xenevtchn_port_or_error_t port = xenevtchn_pending(x->xce);
        if (port < 0)
            return -1;
        xenevtchn_unmask(x->xce, (evtchn_port_t)port);
        if (port == local)
            return 1;
    }
}

/*
 * Until `until`, poll the domain's state: 0 once it has shut down for
 * suspend, an error finding when it shuts down otherwise or disappears,
 * 1 when time is up.  `wake` (when >= 0) is our end of the suspend
 * channel, which Xen notifies when the guest suspends.
 */
static int wait_suspended(struct xen_hv *x, uint32_t domid, double until, int wake, xg_diag *d)
{
    struct xg_loc l = { XGF_DOMID(domid) };
    unsigned nap = 1;
    for (;;) {
        xc_domaininfo_t di;
        int rc = domain_getinfo(x, domid, &di, d);
        if (rc < 0)
            return rc;
        if (di_suspended(&di))
            return 0;
        if (di.flags & XEN_DOMINF_shutdown)
            return xg_diag_err(d, XG_E_GUEST, &l, "domain %u shut down with reason %u instead of suspending", domid,
                               di_reason(&di));
        if (di.flags & XEN_DOMINF_dying)
            return xg_diag_err(d, XG_E_GUEST, &l, "domain %u is being destroyed instead of suspending", domid);
        double now = xg__now();
        if (now >= until)
            return 1;
        if (wake >= 0) {
            /* Re-check at least every 100 ms, in case a notification is lost. */
            if (wait_channel(x, wake, XG_MIN(until, now + 0.1)) < 0)
                return FAIL(x, d, errno, &l, "waiting on domain %u's suspend event channel failed", domid);
        } else {
            sleep_ms(nap);
            nap = XG_MIN(nap * 2, 50U);
        }
    }
}

/* libxl's domain_suspend_pvcontrol_acked: anything but "suspend", absence included, is an answer. */
static int read_ack(struct xs_handle *h, xs_transaction_t t, const char *path, bool *acked)
{
    unsigned len = 0;
    char *v = xs_read(h, t, path, &len);
    if (!v) {
        if (errno != ENOENT)
            return -1;
        *acked = true;
        return 0;
    }
    *acked = !(len == 7 && memcmp(v, "suspend", 7) == 0);
    free(v);
    return 0;
}

/* The guest's suspend event channel (device/suspend/event-channel), as libxl uses it. */
static int suspend_by_channel(struct xen_hv *x, uint32_t domid, int port, unsigned timeout_ms, xg_diag *d)
{
    struct xg_loc l = { XGF_DOMID(domid) };
    char lockpath[80];
    int lockfd = -1, local = -1, rc;
    if (lock_suspend_channel(domid, &lockfd, lockpath, sizeof(lockpath)) < 0) {
        int e = errno;
        if (e == EAGAIN || e == EACCES)
            return xg_diag_syserr(d, XG_E_BUSY, e, &l, "another toolstack process holds %s: it is suspending domain "
                                                       "%u already", lockpath, domid);
        return xg_diag_syserr(d, XG_E_IO, e, &l, "cannot create the suspend lock %s for domain %u", lockpath, domid);
    }
    if (!x->xce && !(x->xce = xenevtchn_open(&x->logger, 0))) {
        rc = FAIL(x, d, errno, &l, "opening the event channel device to suspend domain %u failed", domid);
        goto out;
    }
    local = xenevtchn_bind_interdomain(x->xce, domid, (evtchn_port_t)port);
    if (local < 0) {
        rc = FAIL(x, d, errno, &l, "binding domain %u's suspend event channel (port %d) failed", domid, port);
        goto out;
    }
    /* Xen notifies the guest's port when the guest has suspended (XEN_DOMCTL_subscribe). */
    if (xc_domain_subscribe_for_suspend(x->xch, domid, (evtchn_port_t)port) < 0) {
        rc = FAIL(x, d, errno, &l, "subscribing to domain %u's suspend on port %d failed (XEN_DOMCTL_subscribe)",
                  domid, port);
        goto out;
    }
    /* A newly bound channel starts pending (xc_suspend_evtchn_init_exclusive): consume that first. */
    double until = xg__now() + timeout_ms / 1000.0;
    if (wait_channel(x, local, XG_MIN(until, xg__now() + 1.0)) < 0) {
        rc = FAIL(x, d, errno, &l, "waiting on domain %u's suspend event channel failed", domid);
        goto out;
    }
    if (xenevtchn_notify(x->xce, (evtchn_port_t)local) < 0) {
        rc = FAIL(x, d, errno, &l, "notifying domain %u's suspend event channel (port %d) failed", domid, port);
        goto out;
    }
    rc = wait_suspended(x, domid, until, local, d);
    if (rc == 1) {
        rc = xg_diag_syserr(d, XG_E_HV, ETIMEDOUT, &l,
                            "domain %u did not suspend within %u ms of the request on its suspend event channel "
                            "(port %d); it was left running", domid, timeout_ms, port);
        xg_diag_hint(d, "the guest kernel did not answer; its console may say why (a driver refusing to suspend)");
    }
out:
    if (local >= 0)
        xenevtchn_unbind(x->xce, (evtchn_port_t)local);
    unlock_suspend_channel(lockfd, lockpath);
    return rc;
}

/* control/shutdown = "suspend", as libxl's domain_suspend_callback_common does without a channel. */
static int suspend_by_xenstore(struct xen_hv *x, uint32_t domid, unsigned timeout_ms, xg_diag *d)
{
    struct xg_loc l = { XGF_DOMID(domid) };
    struct xs_handle *h = xs(x);
    if (!h)
        return FAIL(x, d, errno, &l, "cannot reach xenstore to ask domain %u to suspend (is xenstored running?)",
                    domid);
    char path[80];
    snprintf(path, sizeof(path), "/local/domain/%u/control/shutdown", domid);
    if (!xs_write(h, XBT_NULL, path, "suspend", 7))
        return FAIL(x, d, errno, &l, "writing \"suspend\" to %s failed (xenstore)", path);

    /* The guest acknowledges by changing or removing the node, before it suspends. */
    double until = xg__now() + timeout_ms / 1000.0;
    unsigned nap = 1;
    for (;;) {
        bool acked = false;
        if (read_ack(h, XBT_NULL, path, &acked) < 0)
            return FAIL(x, d, errno, &l, "reading %s failed (xenstore)", path);
        if (acked)
            break;
        if (xg__now() >= until) {
            /*
             * Cancel, in a transaction so that a last-minute answer wins
             * (libxl's domain_suspend_common_pvcontrol_suspending).  The
             * guest is not resumed: it never made the suspend hypercall.
             */
            for (;;) {
                xs_transaction_t t = xs_transaction_start(h);
                if (t == XBT_NULL)
                    return FAIL(x, d, errno, &l, "starting a xenstore transaction to cancel domain %u's suspend "
                                                 "failed", domid);
                if (read_ack(h, t, path, &acked) < 0) {
                    int e = errno;
                    xs_transaction_end(h, t, true);
                    return FAIL(x, d, e, &l, "reading %s failed (xenstore)", path);
                }
                if (acked) {
                    xs_transaction_end(h, t, true);
                    break;
                }
                if (!xs_write(h, t, path, "", 0)) {
                    int e = errno;
                    xs_transaction_end(h, t, true);
                    return FAIL(x, d, e, &l, "clearing %s to cancel the suspend request failed", path);
                }
                if (xs_transaction_end(h, t, false)) {
                    int rc = xg_diag_syserr(d, XG_E_HV, ETIMEDOUT, &l,
                                            "domain %u did not acknowledge the suspend request within %u ms (%s still "
                                            "\"suspend\"); the request was cancelled and the guest left running",
                                            domid, timeout_ms, path);
                    xg_diag_hint(d, "the guest has no xenbus control driver, or it is hung; the guest was not "
                                    "resumed because it never made the suspend hypercall");
                    return rc;
                }
                if (errno != EAGAIN)
                    return FAIL(x, d, errno, &l, "committing the cancellation of domain %u's suspend failed", domid);
            }
            if (acked)
                break;
        }
        /* It may also have suspended already without our seeing the node change. */
        xc_domaininfo_t di;
        int rc = domain_getinfo(x, domid, &di, d);
        if (rc < 0)
            return rc;
        if (di_suspended(&di))
            return 0;
        sleep_ms(nap);
        nap = XG_MIN(nap * 2, 50U);
    }

    /* Acknowledged: now the suspend itself, with a fresh allowance as libxl gives (a 60 s timer each). */
    int rc = wait_suspended(x, domid, xg__now() + timeout_ms / 1000.0, -1, d);
    if (rc == 1) {
        rc = xg_diag_syserr(d, XG_E_HV, ETIMEDOUT, &l,
                            "domain %u acknowledged the suspend request but did not suspend within %u ms; it was "
                            "left as it is", domid, timeout_ms);
        xg_diag_hint(d, "the guest kernel is stuck suspending its devices; its console may say why");
    }
    return rc;
}

static int xen_suspend(xg_hv *hv, uint32_t domid, unsigned timeout_ms, xg_diag *d)
{
    struct xen_hv *x = X(hv);
    struct xg_loc l = { XGF_DOMID(domid) };
    xc_domaininfo_t di;
    int rc = domain_getinfo(x, domid, &di, d);
    if (rc < 0)
        return rc;
    if (di_suspended(&di))
        return 0;
    if (di.flags & XEN_DOMINF_hvm_guest)
        return xg_diag_err(d, XG_E_UNSUPPORTED, &l, "domain %u is an HVM guest; xg suspends PV guests only", domid);
    if (di.flags & (XEN_DOMINF_shutdown | XEN_DOMINF_dying))
        return xg_diag_err(d, XG_E_GUEST, &l, "domain %u has shut down (reason %u) or is dying: it cannot suspend",
                           domid, di_reason(&di));
    if (di.flags & XEN_DOMINF_paused)
        return xg_diag_syserr(d, XG_E_HV, EBUSY, &l,
                              "domain %u is paused: a paused guest cannot answer a suspend request (unpause it first)",
                              domid);
    char path[80];
    snprintf(path, sizeof(path), "/local/domain/%u/device/suspend/event-channel", domid);
    int port = xs_read_int(x, path);
    if (port >= 0)
        return suspend_by_channel(x, domid, port, timeout_ms, d);
    return suspend_by_xenstore(x, domid, timeout_ms, d);
}

/*
 * xc_domain_resume(xch, domid, 1), the cooperative ("fast") resume of
 * libxenguest's xg_resume.c: vcpu0's hypercall return value becomes 1
 * (the suspend was cancelled, the guest keeps its devices), then
 * XEN_DOMCTL_resumedomain.  Only for a guest that suspended itself.
 */
static int xen_resume(xg_hv *hv, uint32_t domid, xg_diag *d)
{
    struct xen_hv *x = X(hv);
    struct xg_loc l = { XGF_DOMID(domid) };
    xc_domaininfo_t di;
    int rc = domain_getinfo(x, domid, &di, d);
    if (rc < 0)
        return rc;
    if (!di_suspended(&di))
        return xg_diag_syserr(d, XG_E_HV, EINVAL, &l,
                              "domain %u has not suspended itself (shutdown %d, reason %u): it is not resumed, "
                              "since only a guest that made the suspend hypercall can be", domid,
                              !!(di.flags & XEN_DOMINF_shutdown), di_reason(&di));
    unsigned w;
    if ((rc = guest_width(x, domid, &w, d)) < 0)
        return rc;
    vcpu_guest_context_any_t ctx;
    memset(&ctx, 0, sizeof(ctx));
    struct xg_loc vl = { XGF_DOMID(domid), XGF_VCPU(0) };
    if (xc_vcpu_getcontext(x->xch, domid, 0, &ctx) < 0)
        return FAIL(x, d, errno, &vl, "getting vcpu0's context of domain %u to resume it failed "
                                      "(XEN_DOMCTL_getvcpucontext)", domid);
    if (w == 8)
        ctx.x64.user_regs.rax = 1;
    else
        ctx.x32.user_regs.eax = 1;
    if (xc_vcpu_setcontext(x->xch, domid, 0, &ctx) < 0)
        return FAIL(x, d, errno, &vl, "setting vcpu0's suspend return value to 1 in domain %u failed "
                                      "(XEN_DOMCTL_setvcpucontext)", domid);
    struct xen_domctl domctl = { .cmd = XEN_DOMCTL_resumedomain, .domain = (domid_t)domid };
    if (xc_domctl(x->xch, &domctl) < 0)
        return FAIL(x, d, errno, &l, "resuming domain %u failed (XEN_DOMCTL_resumedomain)", domid);
    return 0;
}

/* ------------------------------------------------------------ building a domain */

static int set_address_size(struct xen_hv *x, uint32_t domid, unsigned width, xg_diag *d)
{
    struct xg_loc l = { XGF_DOMID(domid) };
    if (width != 4 && width != 8)
        return xg_diag_syserr(d, XG_E_INVAL, EINVAL, &l, "address size %u is not 4 or 8 bytes", width);
    /* What xg_sr_restore_x86_pv.c's handle_x86_pv_info issues when the widths differ. */
    struct xen_domctl domctl = {
        .cmd = XEN_DOMCTL_set_address_size,
        .domain = (domid_t)domid,
        .u.address_size.size = width * 8,
    };
    if (xc_domctl(x->xch, &domctl) < 0)
        return FAIL(x, d, errno, &l, "setting domain %u to a %u-bit guest failed (XEN_DOMCTL_set_address_size)", domid,
                    width * 8);
    return 0;
}

static int set_max_pages(struct xen_hv *x, uint32_t domid, uint64_t max_pages, xg_diag *d)
{
    struct xg_loc l = { XGF_DOMID(domid) };
    if (max_pages > UINT64_MAX / 4)
        return xg_diag_err(d, XG_E_INVAL, &l, "%llu pages is beyond any domain", (unsigned long long)max_pages);
    if (xc_domain_setmaxmem(x->xch, domid, max_pages * (XEN_PAGE / 1024)) < 0)
        return FAIL(x, d, errno, &l, "setting domain %u's memory limit to %llu pages failed (XEN_DOMCTL_max_mem)",
                    domid, (unsigned long long)max_pages);
    return 0;
}

static int xen_create(xg_hv *hv, const struct xg_domain_config *cfg, uint32_t *domid, xg_diag *d)
{
    struct xen_hv *x = X(hv);
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
        return FAIL(x, d, errno, NULL, "creating a %u-bit PV domain with %u vcpus failed (XEN_DOMCTL_createdomain)",
                    width * 8, vcpus);
    struct xg_loc l = { XGF_DOMID(id) };
    int rc = 0;
    /* Still needed in 4.17: createdomain only sizes d->vcpu[]; this creates the vcpus (libxl__build_pre). */
    if (xc_domain_max_vcpus(x->xch, id, vcpus) < 0)
        rc = FAIL(x, d, errno, &l, "creating %u vcpus in domain %u failed (XEN_DOMCTL_max_vcpus)", vcpus, id);
    if (rc == 0 && width == 4)
        rc = set_address_size(x, id, width, d);
    if (rc == 0 && cfg->max_pages)
        rc = set_max_pages(x, id, cfg->max_pages, d);
    if (rc < 0) {
        xc_domain_destroy(x->xch, id);
        return rc;
    }
    *domid = id; /* created paused, as every new domain is */
    return 0;
}

static int xen_destroy(xg_hv *hv, uint32_t domid, xg_diag *d)
{
    struct xen_hv *x = X(hv);
    if (xc_domain_destroy(x->xch, domid) < 0) {
        struct xg_loc l = { XGF_DOMID(domid) };
        return FAIL_CODE(x, d, errno == ESRCH ? XG_E_NOTFOUND : XG_E_HV, errno, &l,
                         "destroying domain %u failed (XEN_DOMCTL_destroydomain)", domid);
    }
    return 0;
}

static int xen_set_max_pages(xg_hv *hv, uint32_t domid, uint64_t max_pages, xg_diag *d)
{
    return set_max_pages(X(hv), domid, max_pages, d);
}

static int xen_set_address_size(xg_hv *hv, uint32_t domid, unsigned width, xg_diag *d)
{
    return set_address_size(X(hv), domid, width, d);
}

static int xen_evtchn(xg_hv *hv, uint32_t domid, uint32_t remote, int *port, xg_diag *d)
{
    struct xen_hv *x = X(hv);
    int p = xc_evtchn_alloc_unbound(x->xch, domid, remote);
    if (p < 0) {
        struct xg_loc l = { XGF_DOMID(domid) };
        return FAIL(x, d, errno, &l, "allocating an event channel in domain %u for domain %u failed "
                                     "(EVTCHNOP_alloc_unbound)", domid, remote);
    }
    *port = p;
    return 0;
}

static int xen_populate(xg_hv *hv, uint32_t domid, unsigned n, const uint64_t *pfns, uint64_t *mfns, xg_diag *d)
{
    struct xen_hv *x = X(hv);
    if (!n)
        return 0;
    xen_pfn_t *arr = malloc(n * sizeof(*arr));
    if (!arr)
        return nomem(d, "populating frames");
    for (unsigned i = 0; i < n; i++)
        arr[i] = pfns[i];
    /*
     * Order-0 extents.  For a PV domain Xen writes each new frame's mfn
     * back over its pfn, and sets the M2P itself.  The count of extents
     * done comes back, so a partial failure says where it stopped.
     */
    int done = xc_domain_populate_physmap(x->xch, domid, n, 0, 0, arr);
    int e = errno;
    unsigned ok = done > 0 ? (unsigned)done : 0;
    for (unsigned i = 0; i < ok && i < n; i++)
        mfns[i] = arr[i];
    free(arr);
    if (done < 0) {
        struct xg_loc l = { XGF_DOMID(domid), XGF_PFN(pfns[0]) };
        return FAIL(x, d, e, &l, "populating %u pfns of domain %u from pfn %#llx failed (XENMEM_populate_physmap)", n,
                    domid, (unsigned long long)pfns[0]);
    }
    if (ok < n) {
        /* Xen stops at the first extent it cannot allocate and reports no errno: ENOMEM is the usual cause. */
        struct xg_loc l = { XGF_DOMID(domid), XGF_PFN(pfns[ok]) };
        int rc = FAIL(x, d, ENOMEM, &l, "populate_physmap stopped at pfn %#llx (%u of %u done) for domain %u",
                      (unsigned long long)pfns[ok], ok, n, domid);
        xg_diag_hint(d, "the host is out of free memory, or the domain reached its max_pages");
        return rc;
    }
    return 0;
}

static int xen_depopulate(xg_hv *hv, uint32_t domid, unsigned n, const uint64_t *mfns, xg_diag *d)
{
    struct xen_hv *x = X(hv);
    if (!n)
        return 0;
    xen_pfn_t *arr = malloc(n * sizeof(*arr));
    if (!arr)
        return nomem(d, "giving frames back");
    for (unsigned i = 0; i < n; i++)
        arr[i] = mfns[i];
    int rc = xc_domain_decrease_reservation_exact(x->xch, domid, n, 0, arr);
    int e = errno;
    free(arr);
    if (rc < 0) {
        struct xg_loc l = { XGF_DOMID(domid), XGF_MFN(mfns[0]) };
        return FAIL(x, d, e, &l, "giving %u frames of domain %u back from mfn %#llx failed "
                                 "(XENMEM_decrease_reservation)", n, domid, (unsigned long long)mfns[0]);
    }
    return 0;
}

static int xen_mmu_update(xg_hv *hv, uint32_t domid, const struct xg_mmu_update *req, unsigned n, unsigned *done,
                          xg_diag *d)
{
    struct xen_hv *x = X(hv);
    struct xg_loc l = { XGF_DOMID(domid) };
    *done = 0;
    if (!n)
        return 0;
    DECLARE_HYPERCALL_BUFFER(mmu_update_t, reqs);
    DECLARE_HYPERCALL_BUFFER(unsigned int, pdone);
    reqs = xc_hypercall_buffer_alloc(x->xch, reqs, (size_t)n * sizeof(*reqs));
    pdone = xc_hypercall_buffer_alloc(x->xch, pdone, sizeof(*pdone));
    if (!reqs || !pdone) {
        int e = errno;
        xc_hypercall_buffer_free(x->xch, reqs);
        xc_hypercall_buffer_free(x->xch, pdone);
        return FAIL(x, d, e, &l, "allocating a hypercall buffer for %u mmu updates failed", n);
    }
    memcpy(reqs, req, (size_t)n * sizeof(*reqs));
    *pdone = 0;
    /*
     * foreigndom: the low 16 bits name the owner of the frames the
     * requests refer to (pg_owner), the high 16 bits domid + 1 the owner
     * of the page tables written (pt_owner), both the guest here.
     */
    uint64_t foreigndom = (uint64_t)(domid & 0xffff) | ((uint64_t)((domid + 1) & 0xffff) << 16);
    long r = hypercall4(x, __HYPERVISOR_mmu_update, HYPERCALL_BUFFER_AS_ARG(reqs), n, HYPERCALL_BUFFER_AS_ARG(pdone),
                        foreigndom);
    int e = errno;
    unsigned got = *pdone;
    xc_hypercall_buffer_free(x->xch, reqs);
    xc_hypercall_buffer_free(x->xch, pdone);
    *done = XG_MIN(got, n);
    if (r < 0) {
        unsigned i = XG_MIN(got, n - 1);
        l = (struct xg_loc){ XGF_DOMID(domid), XGF_MFN(req[i].ptr >> 12), XGF_ENTRY(req[i].val) };
        return FAIL(x, d, e, &l, "Xen refused mmu_update request %u of %u for domain %u (%s)", i, n, domid,
                    (req[i].ptr & 7) == XG_MMU_MACHPHYS_UPDATE ? "MMU_MACHPHYS_UPDATE" : "MMU_NORMAL_PT_UPDATE");
    }
    return 0;
}

static int xen_mmuext(xg_hv *hv, uint32_t domid, const struct xg_mmuext_op *ops, unsigned n, unsigned *done,
                      xg_diag *d)
{
    static const char *const names[] = { "PIN_L1_TABLE", "PIN_L2_TABLE", "PIN_L3_TABLE", "PIN_L4_TABLE",
                                         "UNPIN_TABLE", "NEW_BASEPTR" };
    struct xen_hv *x = X(hv);
    struct xg_loc l = { XGF_DOMID(domid) };
    *done = 0;
    if (!n)
        return 0;
    DECLARE_HYPERCALL_BUFFER(struct mmuext_op, xops);
    DECLARE_HYPERCALL_BUFFER(unsigned int, pdone);
    xops = xc_hypercall_buffer_alloc(x->xch, xops, (size_t)n * sizeof(*xops));
    pdone = xc_hypercall_buffer_alloc(x->xch, pdone, sizeof(*pdone));
    if (!xops || !pdone) {
        int e = errno;
        xc_hypercall_buffer_free(x->xch, xops);
        xc_hypercall_buffer_free(x->xch, pdone);
        return FAIL(x, d, e, &l, "allocating a hypercall buffer for %u mmuext ops failed", n);
    }
    memset(xops, 0, (size_t)n * sizeof(*xops));
    for (unsigned i = 0; i < n; i++) {
        xops[i].cmd = ops[i].cmd;
        xops[i].arg1.mfn = ops[i].mfn;
    }
    *pdone = 0;
    /* As xc_mmuext_op issues it (foreigndom = the guest), but with a done count. */
    long r = hypercall4(x, __HYPERVISOR_mmuext_op, HYPERCALL_BUFFER_AS_ARG(xops), n, HYPERCALL_BUFFER_AS_ARG(pdone),
                        domid);
    int e = errno;
    unsigned got = *pdone;
    xc_hypercall_buffer_free(x->xch, xops);
    xc_hypercall_buffer_free(x->xch, pdone);
    *done = XG_MIN(got, n);
    if (r < 0) {
        unsigned i = XG_MIN(got, n - 1), cmd = ops[i].cmd;
        l = (struct xg_loc){ XGF_DOMID(domid), XGF_MFN(ops[i].mfn) };
        return FAIL(x, d, e, &l, "Xen refused mmuext %s of mfn %#llx for domain %u (op %u of %u)",
                    cmd < XG_ARRAY_SIZE(names) ? names[cmd] : "?", (unsigned long long)ops[i].mfn, domid, i, n);
    }
    return 0;
}

/* ------------------------------------------------------------ CPU policy */

/*
 * XEN_DOMCTL_get_cpu_policy: Xen's own serialisation of the domain's
 * policy (x86_cpuid_copy_to_buffer / x86_msr_copy_to_buffer), the same
 * code libxenguest's xc_cpu_policy_serialise runs on the policy it got
 * from this domctl, so the records match write_x86_cpu_policy_records.
 */
static int xen_cpu_policy_get(xg_hv *hv, uint32_t domid, struct xg_cpuid_leaf *leaves, uint32_t *nr_leaves,
                              struct xg_msr_entry *msrs, uint32_t *nr_msrs, xg_diag *d)
{
    struct xen_hv *x = X(hv);
    struct xg_loc l = { XGF_DOMID(domid) };
    /* Null buffers: Xen says how many entries it may write. */
    struct xen_domctl domctl = { .cmd = XEN_DOMCTL_get_cpu_policy, .domain = (domid_t)domid };
    if (xc_domctl(x->xch, &domctl) < 0)
        return FAIL(x, d, errno, &l, "asking the size of domain %u's CPU policy failed (XEN_DOMCTL_get_cpu_policy)",
                    domid);
    uint32_t ml = domctl.u.cpu_policy.nr_leaves, mm = domctl.u.cpu_policy.nr_msrs;
    DECLARE_HYPERCALL_BUFFER(xen_cpuid_leaf_t, hl);
    DECLARE_HYPERCALL_BUFFER(xen_msr_entry_t, hm);
    hl = xc_hypercall_buffer_alloc(x->xch, hl, (ml ? ml : 1) * sizeof(*hl));
    hm = xc_hypercall_buffer_alloc(x->xch, hm, (mm ? mm : 1) * sizeof(*hm));
    int rc = 0;
    if (!hl || !hm) {
        rc = FAIL(x, d, errno, &l, "allocating hypercall buffers for domain %u's CPU policy failed", domid);
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
        rc = FAIL(x, d, errno, &l, "getting domain %u's CPU policy failed (XEN_DOMCTL_get_cpu_policy)", domid);
        goto out;
    }
    uint32_t gl = domctl.u.cpu_policy.nr_leaves, gm = domctl.u.cpu_policy.nr_msrs;
    if (gl > ml || gm > mm) {
        rc = xg_diag_err(d, XG_E_HV, &l, "Xen wrote %u CPUID leaves and %u MSRs after announcing at most %u and %u",
                         gl, gm, ml, mm);
        goto out;
    }
    if (gl > *nr_leaves || gm > *nr_msrs) {
        rc = xg_diag_err(d, XG_E_INVAL, &l,
                         "domain %u's CPU policy has %u CPUID leaves and %u MSRs; room was given for %u and %u", domid,
                         gl, gm, *nr_leaves, *nr_msrs);
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
static int xen_cpu_policy_set(xg_hv *hv, uint32_t domid, const struct xg_cpuid_leaf *leaves, uint32_t nr_leaves,
                              const struct xg_msr_entry *msrs, uint32_t nr_msrs, xg_diag *d)
{
    struct xen_hv *x = X(hv);
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
            rc = FAIL(x, d, errno, &l, "allocating a hypercall buffer for %u CPUID leaves failed", nr_leaves);
            goto out;
        }
        memcpy(hl, leaves, nr_leaves * sizeof(*hl));
        set_xen_guest_handle(domctl.u.cpu_policy.leaves, hl);
    }
    if (nr_msrs) {
        if (!(hm = xc_hypercall_buffer_alloc(x->xch, hm, nr_msrs * sizeof(*hm)))) {
            rc = FAIL(x, d, errno, &l, "allocating a hypercall buffer for %u MSR entries failed", nr_msrs);
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
            rc = FAIL(x, d, e, &l, "Xen refused the image's CPU policy for domain %u at CPUID leaf %#x subleaf %#x "
                                   "(XEN_DOMCTL_set_cpu_policy)", domid, el, es);
        else if (em != ~0U)
            rc = FAIL(x, d, e, &l, "Xen refused the image's CPU policy for domain %u at MSR %#x "
                                   "(XEN_DOMCTL_set_cpu_policy)", domid, em);
        else
            rc = FAIL(x, d, e, &l, "Xen refused the image's CPU policy (%u CPUID leaves, %u MSRs) for domain %u "
                                   "(XEN_DOMCTL_set_cpu_policy)", nr_leaves, nr_msrs, domid);
        xg_diag_hint(d, "the image was saved on a host whose CPU offers features this one lacks");
    }
out:
    xc_hypercall_buffer_free(x->xch, hl);
    xc_hypercall_buffer_free(x->xch, hm);
    return rc;
}

/* ------------------------------------------------------------ grant table */

/*
 * libxenguest's xc_dom_gnttab_seed, from public calls: the guest's first
 * shared grant frame through XENMEM_acquire_resource, and the two
 * reserved entries written in the v1 layout.  (Its fallback for a Xen
 * without acquire_resource, GNTTABOP_setup_table, is not needed on 4.17.)
 */
static int xen_gnttab_seed(xg_hv *hv, uint32_t domid, uint64_t console_gfn, uint64_t xenstore_gfn,
                           uint32_t console_domid, uint32_t xenstore_domid, xg_diag *d)
{
    struct xen_hv *x = X(hv);
    void *addr = NULL;
    xenforeignmemory_resource_handle *res =
        xenforeignmemory_map_resource(x->fmem, (domid_t)domid, XENMEM_resource_grant_table,
                                      XENMEM_resource_grant_table_id_shared, 0, 1, &addr, PROT_READ | PROT_WRITE, 0);
    if (!res) {
        struct xg_loc l = { XGF_DOMID(domid) };
        return FAIL(x, d, errno, &l, "mapping the grant table of domain %u failed (XENMEM_acquire_resource)", domid);
    }
    grant_entry_v1_t *gnttab = addr;
    if (console_domid != domid && console_gfn != ~0ULL) {
        gnttab[GNTTAB_RESERVED_CONSOLE].domid = (domid_t)console_domid;
        gnttab[GNTTAB_RESERVED_CONSOLE].frame = (uint32_t)console_gfn;
        __atomic_store_n(&gnttab[GNTTAB_RESERVED_CONSOLE].flags, GTF_permit_access, __ATOMIC_RELEASE);
    }
    if (xenstore_domid != domid && xenstore_gfn != ~0ULL) {
        gnttab[GNTTAB_RESERVED_XENSTORE].domid = (domid_t)xenstore_domid;
        gnttab[GNTTAB_RESERVED_XENSTORE].frame = (uint32_t)xenstore_gfn;
        __atomic_store_n(&gnttab[GNTTAB_RESERVED_XENSTORE].flags, GTF_permit_access, __ATOMIC_RELEASE);
    }
    xenforeignmemory_unmap_resource(x->fmem, res);
    return 0;
}

/* ------------------------------------------------------------ the table, open */

const struct xg_hv_ops xg_xen_ops = {
    .version = XG_HV_OPS_VERSION,
    .name = "xen",
    .close = xen_close,
    .xen_version = xen_xen_version,
    .domain_info = xen_domain_info,
    .map = xen_map,
    .unmap = xen_unmap,
    .page_types = xen_page_types,
    .m2p = xen_m2p,
    .vcpu_get = xen_vcpu_get,
    .vcpu_set = xen_vcpu_set,
    .vcpu_blob_get = xen_vcpu_blob_get,
    .vcpu_blob_set = xen_vcpu_blob_set,
    .tsc_info_get = xen_tsc_get,
    .tsc_info_set = xen_tsc_set,
    .logdirty = xen_logdirty,
    .pause = xen_pause,
    .unpause = xen_unpause,
    .suspend = xen_suspend,
    .resume = xen_resume,
    .domain_create = xen_create,
    .domain_destroy = xen_destroy,
    .set_max_pages = xen_set_max_pages,
    .set_address_size = xen_set_address_size,
    .evtchn_alloc_unbound = xen_evtchn,
    .populate = xen_populate,
    .mmu_update = xen_mmu_update,
    .mmuext = xen_mmuext,
    .frame_owner = NULL, /* Xen cannot tell a dom0 who owns a frame */
    .cpu_policy_get = xen_cpu_policy_get,
    .cpu_policy_set = xen_cpu_policy_set,
    .gnttab_seed = xen_gnttab_seed,
    .depopulate = xen_depopulate,
};

#define USE_SIM_HINT "use a simulated host: `xg-sim init HOST` and --backend sim:HOST (or XG_BACKEND=sim:HOST)"

int xg_xen_open(xg_diag *d, xg_hv **out)
{
    *out = NULL;
    /* libxencall opens /dev/xen/privcmd, or /proc/xen/privcmd on old kernels. */
    if (access("/dev/xen/privcmd", F_OK) < 0 && access("/proc/xen/privcmd", F_OK) < 0)
        return xg_diag_syserr(d, XG_E_NOTFOUND, ENOENT, NULL,
                              "cannot reach Xen: /dev/xen/privcmd does not exist (this is not a Xen dom0, or the "
                              "xen-privcmd driver is not loaded); to work without Xen, " USE_SIM_HINT);
    const char *privcmd = access("/dev/xen/privcmd", F_OK) == 0 ? "/dev/xen/privcmd" : "/proc/xen/privcmd";
    if (access(privcmd, R_OK | W_OK) < 0 && (errno == EACCES || errno == EPERM))
        return xg_diag_syserr(d, XG_E_HV, errno, NULL,
                              "cannot open Xen's control interface (%s): xg needs root in dom0; to work without "
                              "Xen, " USE_SIM_HINT, privcmd);
    struct xen_hv *x = calloc(1, sizeof(*x));
    xg_hv *hv = calloc(1, sizeof(*hv));
    if (!x || !hv) {
        free(x);
        free(hv);
        return nomem(d, "the Xen backend");
    }
    x->logger.vmessage = log_vmessage;
    x->logger.progress = NULL;
    x->logger.destroy = log_destroy;
    x->privcmd = -1;
    x->compat_mfn0 = XG_INVALID_MFN;
    hv->ops = &xg_xen_ops;
    hv->priv = x;

    x->xch = xc_interface_open(&x->logger, &x->logger, 0);
    if (!x->xch) {
        int e = errno;
        int rc = e == EACCES || e == EPERM
                     ? xg_diag_syserr(d, XG_E_HV, e, NULL,
                                      "cannot open Xen's control interface (/dev/xen/privcmd): xg needs root in "
                                      "dom0; to work without Xen, " USE_SIM_HINT)
                     : xen_fail(x, d, XG_E_HV, e, NULL, __FILE__, __LINE__,
                                "cannot open Xen's control interface (xc_interface_open); to work without Xen, "
                                USE_SIM_HINT);
        xen_close(hv);
        free(hv);
        return rc;
    }
    x->fmem = xenforeignmemory_open(&x->logger, 0);
    if (!x->fmem) {
        int rc = xen_fail(x, d, XG_E_HV, errno, NULL, __FILE__, __LINE__,
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
