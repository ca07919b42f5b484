/*
 * guest.h - the simulated guests: what lives in their memory, and what
 * the simulator does on their behalf (build, suspend, resume, a workload,
 * the self-check, the comparison of two guests).
 *
 * A simulated guest is defined by its memory and vcpus alone, like a real
 * one: its "kernel" keeps a guest-info page at the first page of its
 * kernel image (a fixed virtual address per layout), found by walking the
 * guest's own page tables from vcpu0's cr3.  That page records where the
 * guest keeps its p2m, start info, shared-info mapping and canaries, so
 * the simulator can act as the guest's kernel on any host the guest has
 * been restored to.
 */
#ifndef XG_HV_SIM_GUEST_H
#define XG_HV_SIM_GUEST_H

#include <stdbool.h>
#include <stdint.h>

#include "hv/sim/sim.h"

#define SIM_GUEST_MAGIC "XGSIMGI1"
#define SIM_MAX_CANARIES 48U
#define SIM_MAX_GRANT_MAPS 32U

enum sim_layout {
    SIM_LAYOUT_LINUX64 = 1,
    SIM_LAYOUT_PAE32 = 2,
    SIM_LAYOUT_NETBSD64 = 3,
};

struct sim_canary {
    uint64_t va;
    uint64_t value;
    uint32_t vcpu_mask; /* address spaces it must be visible in (bit per vcpu) */
    uint32_t reserved;
};

/* In guest memory, little-endian, at the guest's kernel base address. */
struct sim_guest_info {
    char magic[8];
    uint32_t layout; /* enum sim_layout */
    uint32_t guest_width;
    uint64_t seed;
    uint64_t nr_pages; /* pfns 0 .. nr_pages-1 */
    uint32_t nr_vcpus;
    uint32_t nr_canaries;
    uint64_t kernel_va; /* where this page is mapped */
    uint64_t start_info_pfn, store_pfn, console_pfn;
    uint64_t shinfo_va;     /* fixmap address of the shared info page */
    uint64_t shinfo_l1_pfn; /* the L1 holding that mapping, and its slot */
    uint64_t shinfo_l1_slot;
    uint64_t p2m_va; /* linear p2m list (0: the guest offers none) */
    uint64_t p2m_first_pfn, p2m_nr;
    uint64_t fll_pfn, fl_first_pfn, fl_nr; /* pfn_to_mfn frame list list and lists */
    uint64_t data_first_pfn, data_nr;      /* ordinary pages the workload dirties */
    uint64_t directmap_va; /* pfn p is at directmap_va + p*4096 (if p < directmap_nr) */
    uint64_t directmap_nr;
    uint64_t generation; /* bumped by every workload write */
    struct sim_canary canary[SIM_MAX_CANARIES];
    /*
     * Grant mappings the guest holds now (a backend driver's transient
     * maps of a peer's frames, churn.c); the guest drops them before it
     * suspends, as backends finish their I/O first.
     */
    uint32_t nr_grant_maps;
    uint32_t grant_peer; /* domid of the peer whose frames are mapped */
    struct sim_grant_map {
        uint64_t l1_pfn; /* the guest L1 holding the mapping, and its slot */
        uint32_t slot;
        uint32_t reserved;
        uint64_t peer_mfn;
    } grant[SIM_MAX_GRANT_MAPS];
};
_Static_assert(sizeof(struct sim_guest_info) <= 4096, "guest info fits a page");

struct sim_build_opts {
    enum sim_layout layout;
    uint64_t mem_bytes;
    unsigned nr_vcpus;
    uint64_t seed;
    unsigned faults; /* SIM_FAULT_* */
};

/* Name <-> layout ("linux64", "pae32", "netbsd64"); 0 / NULL when unknown. */
enum sim_layout sim_layout_from_name(const char *name);
const char *sim_layout_name(enum sim_layout l);
/* Name <-> fault ("dom0-writable-map", "foreign-pte", "stale-table"). */
unsigned sim_fault_from_name(const char *name);
const char *sim_fault_name(unsigned fault);

/*
 * Build a guest through the simulator's own rules (it populates memory,
 * writes page tables, pins them, sets vcpus) and leave it running.
 * Takes and drops the host lock per step.
 */
int sim_build(struct sim_host *h, const struct sim_build_opts *o, uint32_t *domid, xg_diag *d);

/*
 * Walk the page tables rooted at root_mfn (a 64-bit L4 or a PAE L3) for
 * va; on success *mfn is the frame and *pte the leaf entry.  Lock held.
 */
int sim_walk(struct sim_host *h, unsigned guest_width, uint64_t root_mfn, uint64_t va,
             uint64_t *mfn, uint64_t *pte);
/* Copy the guest-info page of a domain (found from vcpu0's cr3).  Lock held. */
int sim_guest_info_get(struct sim_host *h, struct sim_domain *dom, struct sim_guest_info *out,
                       uint64_t *mfn);

/*
 * suspend.c: the guest's side of suspend (Linux's xen_pv_pre_suspend),
 * then shutdown(suspend).  Lock held.
 */
int sim_guest_suspend(struct sim_host *h, uint32_t domid, xg_diag *d);
/*
 * Resume: a suspended domain resumes on this host (suspend cancelled); a
 * freshly restored one resumes on its new host (xen_pv_post_suspend).
 * Lock held.
 */
int sim_guest_resume(struct sim_host *h, uint32_t domid, xg_diag *d);

/* Walk each vcpu's tables to every canary and check it.  Takes the lock. */
int sim_self_check(struct sim_host *h, uint32_t domid, xg_diag *d);

/* Dirty pages at a rate, for T seconds.  Takes the lock per batch. */
struct sim_workload_stats {
    uint64_t pages_written;
    uint64_t skipped; /* guest paused or suspended at that moment */
};
int sim_workload(struct sim_host *h, uint32_t domid, double pages_per_sec, double seconds,
                 uint64_t seed, struct sim_workload_stats *st, xg_diag *d);

/* One batch of the workload: dirty up to `batch` data pages.  Lock held, guest running. */
void sim_workload_dirty(struct sim_host *h, struct sim_domain *dom, struct sim_guest_info *gi,
                        uint64_t gi_mfn, unsigned batch, uint64_t *rng,
                        struct sim_workload_stats *st);
/* The frame vcpu v's cr3 names. */
uint64_t sim_vcpu_root(const struct sim_domain *dom, unsigned v);
/* The mfn of pfn from the guest's own p2m; -ENOENT when ballooned out.  Lock held. */
int sim_guest_p2m(struct sim_host *h, struct sim_domain *dom, const struct sim_guest_info *gi,
                  uint64_t pfn, uint64_t *mfn);

/*
 * churn.c: a kernel at work.  `xg-sim run` with any of the rates below
 * set: address spaces built and torn down (fork/exec/exit), pages
 * ballooned out and back, transient grant maps of a peer's frames, and
 * the workload's dirtying, each step through the host's Xen rules.
 */
/* Deliberate mistakes, for tests: each must be refused. */
#define SIM_CHURN_BUG_NO_RO 0x1U    /* pin tables whose direct-map alias is still writable */
#define SIM_CHURN_BUG_EARLY_RW 0x2U /* make a table writable again before unpinning it */
#define SIM_CHURN_BUG_KEEP_CR3 0x4U /* tear a space down while a vcpu still runs on it */
struct sim_churn_opts {
    double seconds;
    double dirty_rate; /* pages per second */
    double pt_churn;   /* address spaces per second */
    double balloon;    /* pages per second out (and as many back) */
    double grant_maps; /* maps per second */
    uint64_t seed;
    unsigned bugs; /* SIM_CHURN_BUG_*: deliberate mistakes, to be refused */
};
struct sim_churn_stats {
    struct sim_workload_stats dirty;
    uint64_t spaces_built, spaces_torn_down, cr3_switches, spaces_left;
    uint64_t ballooned_out, ballooned_in, balloon_left;
    uint64_t grant_maps, grant_unmaps;
    uint64_t ticks_skipped; /* the guest was paused or suspended */
};
int sim_churn_run(struct sim_host *h, uint32_t domid, const struct sim_churn_opts *o,
                  struct sim_churn_stats *st, xg_diag *d);
/* The guest's side of suspend for its grant maps: unmap them all.  Lock held. */
int sim_churn_drop_grants(struct sim_host *h, struct sim_domain *dom, uint64_t gi_mfn);

/* Compare two guests in PFN space; each difference is a finding.  Returns 0 when equal. */
int sim_compare(struct sim_host *ha, uint32_t da, struct sim_host *hb, uint32_t db, xg_diag *d);

/* Recount every reference from first principles; each mismatch is a finding. */
int sim_check_consistency(struct sim_host *h, xg_diag *d);

#endif
