/*
 * mm_private.h - the pieces of mm.c's rules that mm_ops.c's hypercalls
 * use too (internal to libxg/hv/sim/mm*.c).  They keep the names they have
 * in mm.c, close to Xen's own, so the rules still read like xen/arch/x86/mm.c.
 * All run with the host lock held.
 */
#ifndef XG_HV_SIM_MM_PRIVATE_H
#define XG_HV_SIM_MM_PRIVATE_H

#include <stdbool.h>
#include <stdint.h>

#include "hv/sim/sim.h"

/* A line of Xen's debug log from mm.c, as the calling domain's vcpu0 sees it. */
#define MMLOG(h, fmt, ...) sim_log((h), "(XEN) mm.c:d%uv0 " fmt, (h)->caller, ##__VA_ARGS__)

/* PGT_lN_page_table by level N (1..4). */
extern const uint64_t level_type[5];
/* The page-table level of a type (1..4), 0 for any other type. */
unsigned type_level(uint64_t type_info);

/* Xen's get_page() message for a refused general reference. */
void log_get_page_refusal(struct sim_host *h, uint64_t mfn, uint32_t domid);
/* get_page_from_mfn (asm/mm.h): get_page, with its own message on failure. */
int get_page_from_mfn(struct sim_host *h, uint64_t mfn, uint32_t domid);

/* The 512 entries of a table frame. */
uint64_t *table_entries(struct sim_host *h, uint64_t mfn);
/* Whether slot s of an L4 (of dom) or of an L2 (of type) is the guest's, not Xen's. */
bool guest_l4_slot(const struct sim_domain *dom, unsigned s);
bool guest_l2_slot(uint64_t type, unsigned s);
/* A 32-bit (compat) guest. */
bool is_compat(struct sim_host *h, uint32_t domid);

/* L1 flags a domU may not set. */
uint64_t l1_disallow(void);
/* The entry as Xen stores it (adjust_guest_l1e, adjust_guest_lNe). */
uint64_t adjust_l1e(struct sim_host *h, uint64_t e, bool compat);
uint64_t adjust_upper(uint64_t e, unsigned level, bool compat);
/* Take (get_page_from_lNe) or release (put_page_from_lNe) what an L2..L4 entry holds. */
int get_upper(struct sim_host *h, uint64_t e, uint64_t table, uint32_t domid, unsigned level,
              uint64_t disallow, bool linear_ok, uint64_t extra_type);
void put_upper(struct sim_host *h, uint64_t e, uint64_t table, unsigned level);

#endif
