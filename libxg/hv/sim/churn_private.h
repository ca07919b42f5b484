/*
 * churn_private.h - shared by the simulated kernel's churn (churn.c: the
 * run, balloon, grant maps; churn_space.c: address spaces; churn_prim.c:
 * the kernel's primitives).  Internal to libxg/hv/sim.
 */
#ifndef XG_HV_SIM_CHURN_PRIVATE_H
#define XG_HV_SIM_CHURN_PRIVATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hv/sim/guest.h"

#define RW_FLAGS (XG_PTE_P | XG_PTE_RW | XG_PTE_A | XG_PTE_D)
#define RO_FLAGS (XG_PTE_P | XG_PTE_A)
#define USER_FLAGS (XG_PTE_P | XG_PTE_RW | XG_PTE_US | XG_PTE_A | XG_PTE_D)
#define UPPER_FLAGS (XG_PTE_P | XG_PTE_RW | XG_PTE_US | XG_PTE_A)
#define USER_VA 0x400000ULL
#define NETBSD_APDP_SLOT 254U
#define NETBSD_RECURSIVE_SLOT 255U
#define SPACE_FRAMES 6U
#define TICK_S 0.01
#define NONE (~0ULL)

/* An address space the kernel built: its frames by pfn, and what it pinned. */
struct space {
    uint64_t pfn[SPACE_FRAMES];
    unsigned level[SPACE_FRAMES]; /* 1..4: a table; 0: the process's own data page */
    unsigned nr;
    unsigned pin[2]; /* indexes into pfn[] of the tables pinned */
    unsigned nr_pins;
    unsigned l1;              /* index of the L1 mapping USER_VA */
    unsigned root, user_root; /* indexes of the roots (user_root == root: none) */
    bool apdp;                /* netbsd64: alternate recursive entry set */
    int vcpu;                 /* vcpu running on it, or -1 */
    unsigned ttl;             /* ticks left */
};

/* A pfn given back to Xen, and the ticks until the kernel takes it again. */
struct ballooned {
    uint64_t pfn;
    unsigned ttl;
};

/* One run of the kernel: the host, the guest as last seen, what the kernel holds. */
struct churn {
    struct sim_host *h;
    struct sim_domain *dom;
    struct sim_guest_info gi;
    uint64_t gi_mfn;
    uint32_t domid;
    unsigned width;
    const struct sim_churn_opts *o;
    struct sim_churn_stats *st;
    uint64_t rng;
    uint8_t *busy; /* per pfn: a space's frame, or ballooned out */
    struct space *spaces;
    size_t nr_spaces, cap_spaces;
    struct ballooned *out;
    size_t nr_out, cap_out;
    uint64_t home_root[SIM_MAX_VCPUS], home_user[SIM_MAX_VCPUS];
    bool hosting[SIM_MAX_VCPUS];
    uint64_t peer_mfn[16];
    unsigned nr_peer_mfns;
    uint8_t grant_ttl[SIM_MAX_GRANT_MAPS];
    /* The step that Xen refused, for the message. */
    const char *step;
    uint64_t step_pfn;
};

/* ---- churn_prim.c: the kernel's primitives; each returns 0 or -errno (churn_refused) */

uint64_t churn_rnd(struct churn *c);
/* Record the step that failed (for the message) and return err. */
int churn_refused(struct churn *c, int err, const char *step, uint64_t pfn);
/* The mfn of pfn from the guest's p2m, or NONE. */
uint64_t churn_mfn_of(struct churn *c, uint64_t pfn);
/* Index of va at a level (4..1) for this paging mode. */
unsigned churn_va_index(unsigned width, uint64_t va, unsigned level);
/* The table at `level` that va goes through under root (an mfn), or NONE. */
uint64_t churn_table_at(struct churn *c, uint64_t root, uint64_t va, unsigned level);
/* A store through the guest's own writable mapping of pfn (src NULL: zeroes). */
int churn_guest_store(struct churn *c, uint64_t pfn, unsigned off, const void *src, size_t len);
/* mmu_update of one entry of the guest's table at table_pfn. */
int churn_mmu(struct churn *c, uint64_t table_pfn, unsigned slot, uint64_t val, const char *step);
/* Map pfn in the direct map with flags (0: unmap it). */
int churn_set_direct_map(struct churn *c, uint64_t pfn, uint64_t mfn, uint64_t flags,
                         const char *step);
/* Load vcpu v's cr3, and its user cr3 unless user_root is NONE. */
int churn_set_cr3(struct churn *c, unsigned v, uint64_t root, uint64_t user_root);
/* A free data page for the kernel's own use (marked busy), false when none is found. */
bool churn_take_free_page(struct churn *c, uint64_t *pfn);
/* The page becomes an ordinary data page again. */
int churn_fill_data(struct churn *c, uint64_t pfn);

/* ---- churn_space.c: address spaces */

/* fork/exec: a new address space, perhaps run by vcpu (0, or -errno when a step was refused). */
int churn_build_space(struct churn *c, unsigned vcpu);
/* Age the spaces a tick; tear down those due (all of them when `all`). */
int churn_age_spaces(struct churn *c, bool all);

#endif
