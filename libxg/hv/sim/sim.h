/*
 * sim.h - the simulated Xen host: layout of its state file and the
 * hypervisor's memory-management rules (internal to libxg/hv/sim).
 *
 * A host is one file, mmap'ed MAP_SHARED by every process that uses it
 * (xc_save, xc_restore, xg-sim, a workload).  It holds:
 *   - a header with a robust, process-shared mutex (one lock per op),
 *   - per-frame metadata in Xen 4.17's own encoding (type_info with type,
 *     pinned and validated bits and the type count; the general count;
 *     the owner), the M2P, and the frames themselves,
 *   - domains (vcpu contexts, shared info frame, log-dirty bitmap, state),
 *   - a Xen-style console log ring,
 *   - an undo journal: every metadata store inside an op first saves the
 *     old bytes, so an op interrupted by the death of its process is
 *     rolled back by the next process that takes the lock (EOWNERDEAD),
 *   - a registry of foreign mappings per process, so the references that
 *     a dead process's mappings held are dropped, as Linux's privcmd
 *     does when a process exits.
 *
 * The rules are Xen 4.17's arch/x86/mm.c, as docs/xen-mm-rules.md lays
 * them out; every refusal returns Xen's errno and logs Xen's message.
 */
#ifndef XG_HV_SIM_H
#define XG_HV_SIM_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "xg/diag.h"
#include "xg/hv.h"
#include "pv/abi.h"

#define SIM_MAGIC "XGSIMHS1"
#define SIM_VERSION 1U
#define SIM_MAX_DOMAINS 32U
#define SIM_MAX_VCPUS 16U
#define SIM_MAX_PROCS 64U
#define SIM_MAP_SLOTS (1U << 17)
#define SIM_LOG_SIZE (1U << 20)
#define SIM_PAGE 4096U
/* Frames Xen keeps for itself at the bottom of the host (idle tables, compat M2P). */
#define SIM_XEN_FRAMES 96U
#define SIM_COMPAT_M2P_FRAMES 84U /* one per Xen slot 428..511 of a PAE L2 */

#define SIM_OWNER_FREE 0xffffffffU

/* type_info, Xen 4.17 (asm/mm.h). */
#define PGT_none (0ULL << 61)
#define PGT_l1_page_table (1ULL << 61)
#define PGT_l2_page_table (2ULL << 61)
#define PGT_l3_page_table (3ULL << 61)
#define PGT_l4_page_table (4ULL << 61)
#define PGT_seg_desc_page (5ULL << 61)
#define PGT_shared_page (6ULL << 61)
#define PGT_writable_page (7ULL << 61)
#define PGT_type_mask (7ULL << 61)
#define PGT_locked (1ULL << 60)
#define PGT_pinned (1ULL << 59)
#define PGT_validated (1ULL << 58)
#define PGT_pae_xen_l2 (1ULL << 57)
#define PGT_partial (1ULL << 56)
#define PGT_count_mask ((1ULL << 55) - 1)

/* Frame flags (the parts of count_info the simulator needs). */
#define SIM_PGC_ALLOCATED 0x1U /* the domain's allocation reference */
#define SIM_PGC_XEN_HEAP 0x2U  /* shared by Xen (shared info): "special" */
#define SIM_PGC_BROKEN 0x4U
#define SIM_PGC_NEED_SCRUB 0x8U /* freed: zero before the next allocation */

struct sim_frame {
    uint64_t type_info;
    uint32_t count; /* general references, including the allocation */
    uint32_t owner; /* domid, XG_DOMID_XEN, or SIM_OWNER_FREE */
    int32_t linear; /* linear_pt_count: >0 holds linear entries, <0 is a linear target */
    uint32_t flags; /* SIM_PGC_* */
    uint64_t reserved;
};
_Static_assert(sizeof(struct sim_frame) == 32, "frame metadata is 32 bytes");

/* A vcpu: its context in the guest's own layout and the references it holds. */
struct sim_vcpu {
    uint8_t ctx[XG_VCPU_CTX64_SIZE];
    uint32_t initialised;
    uint32_t nr_gdt;           /* GDT frames holding seg_desc refs */
    uint64_t guest_table;      /* mfn with a root type ref (cr3), or ~0 */
    uint64_t guest_table_user; /* 64-bit: user cr3 (ctrlreg[1]), or ~0 */
    uint64_t gdt_mfn[XG_GDT_FRAMES];
    uint32_t ext_len; /* XEN_DOMCTL_get_ext_vcpucontext blob */
    uint32_t reserved;
    uint8_t ext[128];
};

/* Domain flags. */
/* vcpus set by a toolstack: "returning from suspend" on a new host */
#define SIM_DOM_RESTORED 0x1U
/* a guest the simulator did not build (a real image): minimal kernel */
#define SIM_DOM_GENERIC 0x2U

/* Faults a domain can be built with (xg-sim create --fault). */
/* dom0 maps this guest's frames writable whatever was asked */
#define SIM_FAULT_DOM0_WRITABLE_MAP 0x1U
/* a grant mapping of another domain's frame left in an L1 */
#define SIM_FAULT_FOREIGN_PTE 0x2U
/* a freed L1 with stale entries, its targets released */
#define SIM_FAULT_STALE_TABLE 0x4U

struct sim_domain {
    uint32_t in_use;
    uint32_t domid;
    uint32_t guest_width; /* 4 or 8 */
    uint32_t pt_levels;   /* 3 or 4 */
    uint32_t pause_count;
    uint32_t shutdown;
    uint32_t shutdown_reason;
    uint32_t dying;
    uint32_t nr_vcpus;
    uint32_t flags;  /* SIM_DOM_* */
    uint32_t faults; /* SIM_FAULT_* */
    uint32_t logdirty;
    uint64_t tot_pages;
    uint64_t max_pages;
    uint64_t shared_info_mfn;
    uint64_t dirty_count;
    int32_t store_evtchn;
    int32_t console_evtchn;
    uint32_t next_port;
    uint32_t tsc_mode;
    uint32_t tsc_khz;
    uint32_t tsc_incarnation;
    uint64_t tsc_nsec;
    char layout[16]; /* builder that made it ("" for an empty domain) */
    struct sim_vcpu vcpu[SIM_MAX_VCPUS];
};

/* A process using the host, so its mappings can be reaped when it dies. */
struct sim_proc {
    int32_t pid; /* 0 = free slot */
    uint32_t reserved;
    uint64_t start_time; /* /proc/PID/stat starttime, against pid reuse */
};

/* One foreign mapping reference: (process, frame, writable) -> count. */
struct sim_map_ref {
    uint32_t proc; /* slot + 1; 0 = empty */
    uint32_t rw;
    uint64_t mfn;
    uint64_t count;
};

struct sim_hdr {
    char magic[8];
    uint32_t version;
    uint32_t page_size;
    uint64_t file_size;
    uint64_t nr_frames;
    /* Offsets of the regions in the file. */
    uint64_t off_frames, off_m2p, off_domains, off_bitmaps;
    uint64_t off_maps, off_log, off_journal, off_data;
    uint64_t bitmap_bytes; /* per domain */
    uint64_t journal_size;
    pthread_mutex_t lock;
    uint64_t journal_used; /* bytes of undo records of the op in progress */
    uint64_t nr_free;
    uint64_t alloc_hint;
    uint64_t log_head; /* bytes ever written to the log ring */
    uint64_t op_seq;   /* ops done, for the trace */
    uint64_t map_used;
    uint64_t compat_m2p_mfn0; /* first of the compat M2P frames Xen maps into PAE L2s */
    uint64_t xen_l4_mfn0;     /* frames whose mfns Xen puts in L4 slots 256..271 */
    uint32_t next_domid;
    uint32_t reserved;
    struct sim_proc procs[SIM_MAX_PROCS];
};

/* A process's handle on a host. */
struct sim_host {
    int fd;
    size_t size;
    uint8_t *base;          /* whole file, read-write */
    const uint8_t *ro_data; /* frame data again, read-only: what PROT_READ maps return */
    struct sim_hdr *hdr;
    struct sim_frame *frames;
    uint64_t *m2p;
    struct sim_domain *doms;
    uint8_t *bitmaps;
    struct sim_map_ref *maps;
    char *log;
    uint8_t *journal;
    uint8_t *data;
    uint32_t proc_slot; /* our slot in hdr->procs */
    uint32_t caller;    /* domain making the current hypercall (log prefix) */
    bool locked;
    bool journal_full; /* the op in progress outgrew the undo journal */
    char *path;
    /* Frames [lo, hi) whose disk blocks this process knows are allocated (domain.c). */
    uint64_t backed_lo, backed_hi;
};

/* ---- host.c: the file, the process table, the lock ---- */

/* Create a host with nr_frames machine frames; fails if path exists. */
int sim_host_create(const char *path, uint64_t nr_frames, xg_diag *d);
/*
 * Open an existing host; reaps dead processes' mappings.  A file whose
 * header or tables do not hold together is refused (XG_E_CORRUPT).
 */
int sim_host_open(const char *path, xg_diag *d, struct sim_host **out);
void sim_host_close(struct sim_host *h);

/*
 * Take the host lock for one operation.  If the previous holder died in
 * the middle of an op, its changes are rolled back first; a journal too
 * damaged to roll back is XG_E_CORRUPT (and stays so for every process).
 * `caller` is the domain on whose behalf the op runs (0: the toolstack in
 * dom0).
 */
int sim_lock(struct sim_host *h, uint32_t caller, xg_diag *d);
/* Commit the op (drop its undo records) and release the lock. */
void sim_unlock(struct sim_host *h);
/* Abandon the op: roll back every change it made, then release. */
void sim_abort(struct sim_host *h);

/* ---- store.c: the bottom layer: journal, journaled stores, lookups, log ---- */

/* Save the bytes at p (inside the mapped file) before changing them. */
void sim_journal(struct sim_host *h, const void *p, size_t len);
/*
 * Restore what the op in progress changed (its undo records, newest
 * first) and empty the journal.  -1, restoring nothing, when the records
 * do not lie inside the journal and the file (a damaged host).
 */
int sim_journal_rollback(struct sim_host *h);

/* Append a line to the host log as Xen's console would show it. */
void sim_log(struct sim_host *h, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* A trace line (hypercalls made), shown by `xg-sim log --trace`. */
void sim_trace(struct sim_host *h, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Copy the log ring out (oldest first); returns a malloc'ed string. */
char *sim_log_read(struct sim_host *h, bool with_trace);

static inline struct sim_frame *sim_frame(struct sim_host *h, uint64_t mfn)
{
    return &h->frames[mfn];
}
static inline uint8_t *sim_frame_data(struct sim_host *h, uint64_t mfn)
{
    return h->data + mfn * SIM_PAGE;
}
static inline bool sim_mfn_valid(struct sim_host *h, uint64_t mfn)
{
    return mfn < h->hdr->nr_frames;
}
/* The frame's metadata, journaled (once per op) for writing. */
struct sim_frame *sim_frame_w(struct sim_host *h, uint64_t mfn);
void sim_m2p_set(struct sim_host *h, uint64_t mfn, uint64_t pfn);
/* Journaled 64-bit store into frame data (PTE writes). */
void sim_write_u64(struct sim_host *h, uint64_t mfn, unsigned slot, uint64_t val);

/* The domain if it exists, else NULL. */
struct sim_domain *sim_domain(struct sim_host *h, uint32_t domid);

/* Store v into lvalue lv (inside the mapped file), journaling the old value. */
#define SIM_SET(h, lv, v)                    \
    do {                                     \
        sim_journal((h), &(lv), sizeof(lv)); \
        (lv) = (v);                          \
    } while (0)

/* ---- maps.c: foreign mappings held by processes ---- */

/* Count one more (or one less) mapping of mfn by this process. */
int sim_maps_add(struct sim_host *h, uint64_t mfn, bool rw);
void sim_maps_remove(struct sim_host *h, uint64_t mfn, bool rw);
/* Re-insert every entry (after entries were cleared in place). */
void sim_maps_rehash(struct sim_host *h);

/* ---- mm.c: Xen's page-type rules ---- */

/* All return 0 or a negative errno, as Xen does, and log what Xen logs. */
int sim_get_page(struct sim_host *h, uint64_t mfn, uint32_t domid);
void sim_put_page(struct sim_host *h, uint64_t mfn);
int sim_get_page_type(struct sim_host *h, uint64_t mfn, uint64_t type);
void sim_put_page_type(struct sim_host *h, uint64_t mfn);
int sim_get_page_and_type(struct sim_host *h, uint64_t mfn, uint32_t domid, uint64_t type);
void sim_put_page_and_type(struct sim_host *h, uint64_t mfn);
int sim_get_l1e(struct sim_host *h, uint64_t l1e, uint32_t l1e_owner, uint32_t pg_owner);
void sim_put_l1e(struct sim_host *h, uint64_t l1e, uint32_t l1e_owner);
int sim_pin(struct sim_host *h, uint32_t pg_owner, unsigned level, uint64_t mfn);
int sim_unpin(struct sim_host *h, uint32_t pg_owner, uint64_t mfn);
int sim_mmu_normal(struct sim_host *h, uint32_t pt_owner, uint32_t pg_owner, uint64_t ptr,
                   uint64_t val);
int sim_mmu_machphys(struct sim_host *h, uint32_t pg_owner, uint64_t mfn, uint64_t pfn);
int sim_new_baseptr(struct sim_host *h, uint32_t domid, unsigned vcpu, uint64_t mfn, bool user);
/* Root table type for a domain's cr3: L4, or L3 for a 32-bit guest. */
uint64_t sim_root_type(const struct sim_domain *dom);
/* Xen-style type name for messages ("l1", "writable"...). */
const char *sim_type_name(uint64_t type_info);
/* XEN_DOMCTL_PFINFO_* of a frame as getpageframeinfo3 reports it to `domid`. */
uint32_t sim_pfinfo(struct sim_host *h, uint32_t domid, uint64_t mfn);
/* Mark a frame dirty in its owner's log-dirty bitmap (if log-dirty is on). */
void sim_mark_dirty(struct sim_host *h, uint64_t mfn);

/* ---- domain.c ---- */

int sim_domain_create(struct sim_host *h, unsigned guest_width, unsigned nr_vcpus,
                      uint64_t max_pages, uint32_t *domid);
int sim_domain_destroy(struct sim_host *h, uint32_t domid);
/* Allocate one frame for pfn (populate_physmap, order 0). */
int sim_populate_one(struct sim_host *h, uint32_t domid, uint64_t pfn, uint64_t *mfn);
/* decrease_reservation of one frame. */
int sim_release_frame(struct sim_host *h, uint32_t domid, uint64_t mfn);
int sim_set_vcpu(struct sim_host *h, uint32_t domid, unsigned vcpu, const void *ctx, size_t size);
uint64_t sim_shinfo_word(struct sim_host *h, struct sim_domain *dom, unsigned off);
uint64_t sim_domain_max_pfn(struct sim_host *h, struct sim_domain *dom);

/* ---- backend.c ---- */
extern const struct xg_hv_ops xg_sim_ops;
int xg_sim_open(const char *path, xg_diag *d, xg_hv **out);
/* The host behind a sim backend (for xg-sim and tests). */
struct sim_host *xg_sim_host(xg_hv *hv);

#endif
