/*
 * pte.h - x86 page-table entries as Xen PV guests use them.
 *
 * Both guest kinds xg handles (64-bit, 4 levels; 32-bit PAE, 3 levels)
 * use 64-bit entries, 512 per 4 KiB table.  The frame field holds an mfn
 * in a live guest and a pfn in an image (after normalisation).
 */
#ifndef XG_PV_PTE_H
#define XG_PV_PTE_H

#include <stdbool.h>
#include <stdint.h>

#define XG_PTES_PER_TABLE 512U

#define XG_PTE_P 0x001ULL
#define XG_PTE_RW 0x002ULL
#define XG_PTE_US 0x004ULL
#define XG_PTE_PWT 0x008ULL
#define XG_PTE_PCD 0x010ULL
#define XG_PTE_A 0x020ULL
#define XG_PTE_D 0x040ULL
#define XG_PTE_PSE 0x080ULL /* superpage in L2/L3; PAT in L1 */
#define XG_PTE_G 0x100ULL
#define XG_PTE_AVAIL 0xe00ULL
#define XG_PTE_NX (1ULL << 63)
#define XG_PTE_FRAME_MASK 0x000ffffffffff000ULL
#define XG_PTE_FRAME_SHIFT 12

static inline bool xg_pte_present(uint64_t e)
{
    return e & XG_PTE_P;
}
static inline uint64_t xg_pte_frame(uint64_t e)
{
    return (e & XG_PTE_FRAME_MASK) >> XG_PTE_FRAME_SHIFT;
}
static inline uint64_t xg_pte_flags(uint64_t e)
{
    return e & ~XG_PTE_FRAME_MASK;
}
static inline uint64_t xg_pte_make(uint64_t frame, uint64_t flags)
{
    return ((frame << XG_PTE_FRAME_SHIFT) & XG_PTE_FRAME_MASK) | (flags & ~XG_PTE_FRAME_MASK);
}
static inline uint64_t xg_pte_set_frame(uint64_t e, uint64_t frame)
{
    return xg_pte_make(frame, xg_pte_flags(e));
}

/*
 * Xen's 24-bit flag representation, as its "Bad Ln flags %x" messages
 * print it: PTE bits 0-11 stay, bits 52-63 move to 12-23.
 */
static inline unsigned xg_pte_xen_flags(uint64_t e)
{
    return (unsigned)((e & 0xfffULL) | ((e >> 40) & 0xfff000ULL));
}

/*
 * Xen-reserved slots (xen/arch/x86/include/asm/config.h, x86_64/page.h):
 * a 64-bit guest's L4 slots 256..271 belong to Xen; a 32-bit PAE guest's
 * L3 entries 4..511 are cleared by Xen and only slot 0 of the compat L4
 * is the guest's; in the L2 under L3 slot 3 (PGT_pae_xen_l2) slots from
 * 428 (HYPERVISOR_COMPAT_VIRT_START 0xF5800000 >> 21 & 511) are Xen's.
 */
#define XG_L4_FIRST_XEN_SLOT 256U
#define XG_L4_LAST_XEN_SLOT 271U
#define XG_PAE_L3_ENTRIES 4U
#define XG_PAE_XEN_L2_SLOT 3U
#define XG_COMPAT_L2_FIRST_XEN_SLOT 428U

static inline bool xg_l4_is_xen_slot(unsigned slot)
{
    return slot >= XG_L4_FIRST_XEN_SLOT && slot <= XG_L4_LAST_XEN_SLOT;
}

/*
 * Flags Xen 4.17 refuses in each level for a plain PV domU
 * (base_disallow_mask and friends, in the 64-bit PTE encoding): PWT, PCD
 * and PAT in L1 (allowed only for domains with I/O privileges); PWT, PCD,
 * PSE and G above L1; for a 32-bit guest's L3 also everything from bit 12
 * of the flags (NX and the available high bits), as l3_disallow_mask.
 */
#define XG_L1_DISALLOW (XG_PTE_PWT | XG_PTE_PCD | XG_PTE_PSE)
#define XG_L2_DISALLOW (XG_PTE_PWT | XG_PTE_PCD | XG_PTE_PSE | XG_PTE_G)
#define XG_COMPAT_L3_DISALLOW (XG_L2_DISALLOW | 0xfff0000000000000ULL)

/* Bits above the frame field that are neither NX nor "available" are reserved. */
#define XG_PTE_HIGH_AVAIL 0x7ff0000000000000ULL

#endif
