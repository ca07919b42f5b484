/*
 * xen_mm.c - the real Xen backend's memory ops: mapping a guest's frames,
 * their page types, Xen's M2P, log-dirty mode, populating and giving
 * back frames, mmu_update and mmuext_op (through our own privcmd fd, so a
 * failure says how many requests took effect), and seeding the grant
 * table.
 */
#include "config.h"

#include "hv/xen_private.h"

#ifdef XG_HAVE_XEN

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "hv/xen_backend_private.h"

#include <xen/grant_table.h>
#include <xen/memory.h>
#include <xen/sys/privcmd.h>

#define M2P_CHUNK (2UL << 20) /* the M2P is mapped in 2 MiB chunks (libxenguest's M2P_CHUNK_SIZE) */

struct xg_hv_mapping {
    void *addr;
    size_t n;
};

/*
 * A hypercall through our own privcmd fd, as libxencall issues it
 * (IOCTL_PRIVCMD_HYPERCALL).  Arguments that point to memory must point
 * to hypercall buffers.  Returns the hypercall's result, or -1 with errno.
 */
static long hypercall4(struct xen_hv *x, unsigned op, uint64_t a0, uint64_t a1, uint64_t a2,
                       uint64_t a3)
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

/* ------------------------------------------------------------ mapping, types, the M2P */

int xg__xen_map(xg_hv *hv, uint32_t domid, int prot, unsigned n, const uint64_t *mfns, void **pages,
                int *errs, xg_hv_mapping **out, xg_diag *d)
{
    struct xen_hv *x = xg__xen_op(hv);
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
        return xg__xen_nomem(d, "a mapping");
    }
    for (unsigned i = 0; i < n; i++) {
        arr[i] = mfns[i];
        err[i] = 0;
        pages[i] = NULL;
    }
    if (n) {
        /*
         * With err[] the map succeeds frame by frame (xenforeignmemory.h);
         * for PV, gfns are mfns.
         */
        m->addr = xenforeignmemory_map(x->fmem, domid, prot, n, arr, err);
        if (!m->addr) {
            int e = errno;
            free(m);
            free(arr);
            if (err != errs)
                free(err);
            if (n == 1)
                l = (struct xg_loc){ XGF_DOMID(domid), XGF_MFN(mfns[0]) };
            return FAIL(x, d, e, &l,
                        "mapping %u frame%s of domain %u %s failed (privcmd mmapbatch)", n,
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

void xg__xen_unmap(xg_hv *hv, xg_hv_mapping *m)
{
    struct xen_hv *x = hv->priv;
    if (!m)
        return;
    if (m->addr)
        xenforeignmemory_unmap(x->fmem, m->addr, m->n);
    free(m);
}

int xg__xen_page_types(xg_hv *hv, uint32_t domid, unsigned n, const uint64_t *mfns, uint32_t *types,
                       xg_diag *d)
{
    struct xen_hv *x = xg__xen_op(hv);
    struct xg_loc l = { XGF_DOMID(domid) };
    if (n > 1024)
        return xg_diag_syserr(d, XG_E_HV, E2BIG, &l,
                              "getpageframeinfo3 takes at most 1024 frames, not %u", n);
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
        return FAIL(x, d, e, &l,
                    "asking Xen for the types of %u frame%s of domain %u failed "
                    "(XEN_DOMCTL_getpageframeinfo3)",
                    n, n == 1 ? "" : "s", domid);
    }
    return 0;
}

/* Map the M2P read-only from DOMID_XEN, as libxenguest's x86_pv_map_m2p does. */
static int map_m2p(struct xen_hv *x, xg_diag *d)
{
    unsigned long max_page = 0;
    if (xc_maximum_ram_page(x->xch, &max_page) < 0)
        return FAIL(x, d, errno, NULL,
                    "asking Xen for its highest machine frame failed (XENMEM_maximum_ram_page)");
    size_t bytes = XG_ROUNDUP((size_t)max_page * sizeof(xen_pfn_t), M2P_CHUNK);
    size_t chunks = bytes / M2P_CHUNK, per_chunk = M2P_CHUNK / XEN_PAGE, n = chunks * per_chunk;
    if (!chunks)
        return xg_diag_err(d, XG_E_HV, NULL,
                           "Xen reports no machine frames (XENMEM_maximum_ram_page = %lu)",
                           max_page);
    xen_pfn_t *first = malloc(chunks * sizeof(*first));
    xen_pfn_t *arr = malloc(n * sizeof(*arr));
    if (!first || !arr) {
        free(first);
        free(arr);
        return xg__xen_nomem(d, "the M2P frame list");
    }
    /* Succeeds only when Xen returns exactly `chunks` extents. */
    if (xc_machphys_mfn_list(x->xch, chunks, first) < 0) {
        int e = errno;
        free(first);
        free(arr);
        return FAIL(
            x, d, e, NULL,
            "asking Xen for the %zu frames of its M2P table failed (XENMEM_machphys_mfn_list)",
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
        return FAIL(x, d, e, NULL,
                    "mapping Xen's M2P table (%zu frames of DOMID_XEN) read-only failed", n);

    x->log[0] = '\0';
    x->m2p = m2p;
    x->m2p_frames = n;
    x->max_mfn = max_page;
    return 0;
}

/*
 * The first frame of the compat (32-bit) M2P, which Xen maps into PAE
 * guests' L2s.  A Xen without 32-bit PV support has none: only 32-bit
 * guests need it, so its absence is not an error here.  Asked once, and
 * only for a caller that needs it.
 */
static void find_compat_m2p(struct xen_hv *x)
{
    uint64_t compat = XG_INVALID_MFN;
    DECLARE_HYPERCALL_BUFFER(xen_pfn_t, cm);
    cm = xc_hypercall_buffer_alloc(x->xch, cm, sizeof(*cm));
    if (cm) {
        struct xen_machphys_mfn_list xmml = { .max_extents = 1 };
        set_xen_guest_handle(xmml.extent_start, cm);
        if (xc_memory_op(x->xch, XENMEM_machphys_compat_mfn_list, &xmml, sizeof(xmml)) == 0 &&
            xmml.nr_extents == 1)
            compat = *cm;
        xc_hypercall_buffer_free(x->xch, cm);
    }
    x->log[0] = '\0';
    x->compat_mfn0 = compat;
    x->compat_known = true;
}

int xg__xen_m2p(xg_hv *hv, const uint64_t **m2p, uint64_t *nr_mfns, uint64_t *compat_mfn0,
                xg_diag *d)
{
    struct xen_hv *x = xg__xen_op(hv);
    if (!x->m2p) {
        int rc = map_m2p(x, d);
        if (rc < 0)
            return rc;
    }
    *m2p = (const uint64_t *)x->m2p;
    *nr_mfns = x->max_mfn;
    if (compat_mfn0) {
        if (!x->compat_known)
            find_compat_m2p(x);
        *compat_mfn0 = x->compat_mfn0;
    }
    return 0;
}

int xg__xen_logdirty(xg_hv *hv, uint32_t domid, enum xg_logdirty_op op, unsigned long *bitmap,
                     uint64_t nr_pfns, uint64_t *dirty, xg_diag *d)
{
    struct xen_hv *x = xg__xen_op(hv);
    struct xg_loc l = { XGF_DOMID(domid) };
    switch (op) {
    case XG_LOGDIRTY_ENABLE:
        /*
         * Xen refuses a second enable; the engine turns it off first, as
         * xg_sr_save.c does on failure.
         */
        if (xc_shadow_control(x->xch, domid, XEN_DOMCTL_SHADOW_OP_ENABLE_LOGDIRTY, NULL, 0) < 0)
            return FAIL(x, d, errno, &l,
                        "enabling log-dirty mode for domain %u failed "
                        "(XEN_DOMCTL_SHADOW_OP_ENABLE_LOGDIRTY)",
                        domid);
        return 0;
    case XG_LOGDIRTY_DISABLE:
        if (xc_shadow_control(x->xch, domid, XEN_DOMCTL_SHADOW_OP_OFF, NULL, 0) < 0)
            return FAIL(
                x, d, errno, &l,
                "turning log-dirty mode off for domain %u failed (XEN_DOMCTL_SHADOW_OP_OFF)",
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
            return FAIL(x, d, errno, &l,
                        "log-dirty %s of domain %u failed (XEN_DOMCTL_SHADOW_OP_%s)", opname, domid,
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
        return FAIL(x, d, errno, &l,
                    "allocating a hypercall buffer for a %llu-pfn dirty bitmap failed",
                    (unsigned long long)nr_pfns);
    memset(hb, 0, bytes);
    long long r = xc_logdirty_control(x->xch, domid, sop, HYPERCALL_BUFFER(hb), nr_pfns, 0, &stats);
    int e = errno;
    int rc = 0;
    if (r < 0) {
        rc = FAIL(x, d, e, &l, "log-dirty %s of domain %u failed (XEN_DOMCTL_SHADOW_OP_%s)", opname,
                  domid, opname);
    } else if ((uint64_t)r != nr_pfns) {
        /* libxenguest treats this as failure too ("Failed to retrieve logdirty bitmap"). */
        rc = xg_diag_err(d, XG_E_HV, &l,
                         "log-dirty %s of domain %u covered %lld pfns, not the %llu asked", opname,
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

int xg__xen_populate(xg_hv *hv, uint32_t domid, unsigned n, const uint64_t *pfns, uint64_t *mfns,
                     xg_diag *d)
{
    struct xen_hv *x = xg__xen_op(hv);
    if (!n)
        return 0;
    xen_pfn_t *arr = malloc(n * sizeof(*arr));
    if (!arr)
        return xg__xen_nomem(d, "populating frames");
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
        return FAIL(
            x, d, e, &l,
            "populating %u pfns of domain %u from pfn %#llx failed (XENMEM_populate_physmap)", n,
            domid, (unsigned long long)pfns[0]);
    }
    if (ok < n) {
        /*
         * Xen stops at the first extent it cannot allocate and reports no
         * errno: ENOMEM is the usual cause.
         */
        struct xg_loc l = { XGF_DOMID(domid), XGF_PFN(pfns[ok]) };
        int rc = FAIL(x, d, ENOMEM, &l,
                      "populate_physmap stopped at pfn %#llx (%u of %u done) for domain %u",
                      (unsigned long long)pfns[ok], ok, n, domid);
        xg_diag_hint(d, "the host is out of free memory, or the domain reached its max_pages");
        return rc;
    }
    return 0;
}

int xg__xen_depopulate(xg_hv *hv, uint32_t domid, unsigned n, const uint64_t *mfns, xg_diag *d)
{
    struct xen_hv *x = xg__xen_op(hv);
    if (!n)
        return 0;
    xen_pfn_t *arr = malloc(n * sizeof(*arr));
    if (!arr)
        return xg__xen_nomem(d, "giving frames back");
    for (unsigned i = 0; i < n; i++)
        arr[i] = mfns[i];
    int rc = xc_domain_decrease_reservation_exact(x->xch, domid, n, 0, arr);
    int e = errno;
    free(arr);
    if (rc < 0) {
        struct xg_loc l = { XGF_DOMID(domid), XGF_MFN(mfns[0]) };
        return FAIL(x, d, e, &l,
                    "giving %u frames of domain %u back from mfn %#llx failed "
                    "(XENMEM_decrease_reservation)",
                    n, domid, (unsigned long long)mfns[0]);
    }
    return 0;
}

int xg__xen_mmu_update(xg_hv *hv, uint32_t domid, const struct xg_mmu_update *req, unsigned n,
                       unsigned *done, xg_diag *d)
{
    struct xen_hv *x = xg__xen_op(hv);
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
    long r = hypercall4(x, __HYPERVISOR_mmu_update, HYPERCALL_BUFFER_AS_ARG(reqs), n,
                        HYPERCALL_BUFFER_AS_ARG(pdone), foreigndom);
    int e = errno;
    unsigned got = *pdone;
    xc_hypercall_buffer_free(x->xch, reqs);
    xc_hypercall_buffer_free(x->xch, pdone);
    *done = XG_MIN(got, n);
    if (r < 0) {
        unsigned i = XG_MIN(got, n - 1);
        l = (struct xg_loc){ XGF_DOMID(domid), XGF_MFN(req[i].ptr >> 12), XGF_ENTRY(req[i].val) };
        return FAIL(x, d, e, &l, "Xen refused mmu_update request %u of %u for domain %u (%s)", i, n,
                    domid,
                    (req[i].ptr & 7) == XG_MMU_MACHPHYS_UPDATE ? "MMU_MACHPHYS_UPDATE"
                                                               : "MMU_NORMAL_PT_UPDATE");
    }
    return 0;
}

int xg__xen_mmuext(xg_hv *hv, uint32_t domid, const struct xg_mmuext_op *ops, unsigned n,
                   unsigned *done, xg_diag *d)
{
    static const char *const names[] = { "PIN_L1_TABLE", "PIN_L2_TABLE", "PIN_L3_TABLE",
                                         "PIN_L4_TABLE", "UNPIN_TABLE",  "NEW_BASEPTR" };
    struct xen_hv *x = xg__xen_op(hv);
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
    long r = hypercall4(x, __HYPERVISOR_mmuext_op, HYPERCALL_BUFFER_AS_ARG(xops), n,
                        HYPERCALL_BUFFER_AS_ARG(pdone), domid);
    int e = errno;
    unsigned got = *pdone;
    xc_hypercall_buffer_free(x->xch, xops);
    xc_hypercall_buffer_free(x->xch, pdone);
    *done = XG_MIN(got, n);
    if (r < 0) {
        unsigned i = XG_MIN(got, n - 1), cmd = ops[i].cmd;
        l = (struct xg_loc){ XGF_DOMID(domid), XGF_MFN(ops[i].mfn) };
        return FAIL(x, d, e, &l, "Xen refused mmuext %s of mfn %#llx for domain %u (op %u of %u)",
                    cmd < XG_ARRAY_SIZE(names) ? names[cmd] : "?", (unsigned long long)ops[i].mfn,
                    domid, i, n);
    }
    return 0;
}

/* ------------------------------------------------------------ grant table */

/*
 * libxenguest's xc_dom_gnttab_seed, from public calls: the guest's first
 * shared grant frame through XENMEM_acquire_resource, and the two
 * reserved entries written in the v1 layout.  (Its fallback for a Xen
 * without acquire_resource, GNTTABOP_setup_table, is not needed on 4.17.)
 */
int xg__xen_gnttab_seed(xg_hv *hv, uint32_t domid, uint64_t console_gfn, uint64_t xenstore_gfn,
                        uint32_t console_domid, uint32_t xenstore_domid, xg_diag *d)
{
    struct xen_hv *x = xg__xen_op(hv);
    void *addr = NULL;
    xenforeignmemory_resource_handle *res = xenforeignmemory_map_resource(
        x->fmem, (domid_t)domid, XENMEM_resource_grant_table, XENMEM_resource_grant_table_id_shared,
        0, 1, &addr, PROT_READ | PROT_WRITE, 0);
    if (!res) {
        struct xg_loc l = { XGF_DOMID(domid) };
        return FAIL(x, d, errno, &l,
                    "mapping the grant table of domain %u failed (XENMEM_acquire_resource)", domid);
    }
    grant_entry_v1_t *gnttab = addr;
    if (console_domid != domid && console_gfn != ~0ULL) {
        gnttab[GNTTAB_RESERVED_CONSOLE].domid = (domid_t)console_domid;
        gnttab[GNTTAB_RESERVED_CONSOLE].frame = (uint32_t)console_gfn;
        __atomic_store_n(&gnttab[GNTTAB_RESERVED_CONSOLE].flags, GTF_permit_access,
                         __ATOMIC_RELEASE);
    }
    if (xenstore_domid != domid && xenstore_gfn != ~0ULL) {
        gnttab[GNTTAB_RESERVED_XENSTORE].domid = (domid_t)xenstore_domid;
        gnttab[GNTTAB_RESERVED_XENSTORE].frame = (uint32_t)xenstore_gfn;
        __atomic_store_n(&gnttab[GNTTAB_RESERVED_XENSTORE].flags, GTF_permit_access,
                         __ATOMIC_RELEASE);
    }
    xenforeignmemory_unmap_resource(x->fmem, res);
    return 0;
}

#endif /* XG_HAVE_XEN */
