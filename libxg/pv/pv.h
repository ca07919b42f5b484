/*
 * pv.h - x86 PV knowledge shared by save, restore and the inspector.
 * Pure functions over buffers: nothing here calls a hypervisor.
 */
#ifndef XG_PV_PV_H
#define XG_PV_PV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pv/abi.h"
#include "pv/pte.h"
#include "xg/diag.h"
#include "xg/pagetype.h"

/* ---------------------------------------------------------------- p2m */

/* Entries of the guest's p2m per 4 KiB frame: 512 (64-bit) or 1024 (32-bit). */
static inline unsigned xg_pv_fpp(unsigned width)
{
    return 4096U / width;
}

/* The guest-width "no frame" value of a p2m entry, widened. */
static inline bool xg_pv_p2m_invalid(uint64_t e, unsigned width)
{
    return width == 4 ? (uint32_t)e == 0xffffffffU : e == ~0ULL;
}

/*
 * The translation a save needs: the M2P of the host and the guest's own
 * p2m (read from its frames, possibly still changing in a live save).
 */
struct xg_pv_physmap {
    unsigned width;
    uint64_t max_pfn;    /* highest pfn of the guest */
    const uint64_t *m2p; /* machine -> phys, nr_mfns entries */
    uint64_t nr_mfns;
    const uint8_t *const *p2m_pages; /* the guest's p2m frames, mapped */
    uint64_t compat_m2p_mfn0;        /* Xen's compat M2P, marks a PAE guest's Xen L2 */
};

static inline uint64_t xg_pv_p2m_get(const struct xg_pv_physmap *m, uint64_t pfn)
{
    unsigned fpp = xg_pv_fpp(m->width);
    const uint8_t *page = m->p2m_pages[pfn / fpp];
    uint64_t e = xg_guest_word(page, (unsigned)(pfn % fpp) * m->width, m->width);
    return xg_pv_p2m_invalid(e, m->width) ? ~0ULL : e;
}

/*
 * Is mfn one of the guest's frames, by the rule Xen's saver uses:
 * mfn < nr_mfns, m2p[mfn] <= max_pfn, p2m[m2p[mfn]] == mfn.  *pfn gets
 * m2p[mfn] when mfn is in range (even when the test fails).
 */
bool xg_pv_mfn_in_physmap(const struct xg_pv_physmap *m, uint64_t mfn, uint64_t *pfn);

/* ---------------------------------------------------------------- tables */

enum xg_pv_bad_kind {
    XG_PV_OK = 0,
    XG_PV_BAD_MFN,       /* entry names a frame that is not the guest's */
    XG_PV_BAD_SUPERPAGE, /* PSE in an L2/L3 entry */
    XG_PV_BAD_PFN,       /* (localise) entry names a pfn with no frame */
};

struct xg_pv_bad {
    enum xg_pv_bad_kind kind;
    unsigned slot;
    uint64_t entry;
    uint64_t mfn, pfn; /* what the frame field said, and its M2P value */
};

/*
 * Is slot a guest entry of a table of this level (not one Xen owns)?  `xen_l2`: a PAE L2 holding
 * Xen's slots.
 */
bool xg_pv_guest_slot(unsigned width, unsigned level, bool xen_l2, unsigned slot);

/*
 * Does this PAE L2 hold Xen's mappings?  Xen's saver recognises it by the
 * entry at slot 428 naming the compat M2P's first frame.
 */
bool xg_pv_is_xen_l2(const uint64_t *table, uint64_t compat_m2p_mfn0);

/*
 * Save: copy a page table from src to dst with every present entry's
 * frame turned from mfn to pfn and Xen's slots cleared (64-bit L4 slots
 * 256..271; PAE L3 entries 4..511; a PAE L2's Xen slots).  On a bad entry
 * returns -1 with *bad describing the first one (dst is then partial).
 */
int xg_pv_normalise_table(const struct xg_pv_physmap *m, unsigned level, const uint64_t *src,
                          uint64_t *dst, struct xg_pv_bad *bad);

/*
 * Restore: turn a normalised table (frames are pfns) into a live one, in
 * place.  mfn1[pfn] holds the new frame + 1 (0: the pfn has no frame), for
 * pfn < nr_pfns.  Entries whose pfn has no frame are a failure (-1, *bad)
 * when strict; when not strict they are cleared (counted in *cleared), so
 * a stale table keeps what can be kept.
 */
int xg_pv_localise_table(uint64_t *table, unsigned width, unsigned level, const uint64_t *mfn1,
                         uint64_t nr_pfns, bool strict, struct xg_pv_bad *bad, unsigned *cleared);

/* ---------------------------------------------------------------- vcpus */

/* The frames a vcpu context names, decoded (values as found: mfns or pfns). */
struct xg_pv_vcpu_frames {
    uint64_t cr3; /* frame of ctrlreg[3] */
    bool has_user;
    uint64_t user; /* 64-bit: frame of ctrlreg[1] */
    unsigned nr_gdt;
    uint64_t gdt[XG_GDT_FRAMES];
    uint64_t gdt_ents;
    uint64_t start_info; /* vcpu0: user_regs.rdx, the suspend record */
    uint64_t flags;
};

/*
 * Decode a context, live (`from_image` false: ctrlreg[1] = mfn << 12) or
 * from an image (ctrlreg[1] = 1 | pfn << 12).  Returns -1 (*why set) when
 * gdt_ents is beyond what Xen allows.
 */
int xg_pv_vcpu_frames(const void *ctx, unsigned width, unsigned vcpu, bool from_image,
                      struct xg_pv_vcpu_frames *out, const char **why);

/*
 * What Xen 4.17's arch_set_info_guest (xen/arch/x86/domain.c) refuses in a
 * PV vcpu context with EINVAL before it looks at any frame: a non-canonical
 * address (64-bit: rip, rsp, kernel_sp, fs/gs bases, callbacks, trap
 * handlers, the LDT base when it has entries), an LDT base in Xen's range,
 * an unaligned LDT or more than 8192 entries, vm_assist bits outside the
 * width's mask (vcpu0), more GDT entries than Xen allows, and, as for a
 * vcpu not yet initialised, a 64-bit context in user mode (VGCF_in_kernel
 * clear) without a user cr3 (ctrlreg[1]).  Returns 0, or -1 with *why set.
 */
int xg_pv_vcpu_ctx_check(const void *ctx, unsigned width, unsigned vcpu, const char **why);

/*
 * Xen's check_descriptor (xen/arch/x86/pv/descriptor-tables.c) for one
 * 8-byte GDT descriptor: not present, code/data (for a 32-bit guest
 * without the L bit), type 0, or a call gate to a guest segment with no
 * reserved bits set.  Anything else (a TSS, LDT, task, interrupt or trap
 * gate) is refused: false, *why names it.
 */
bool xg_pv_descriptor_ok(uint64_t desc, unsigned width, const char **why);
/* The first of a GDT frame's 512 descriptors Xen refuses (its index; *desc, *why), or -1. */
int xg_pv_gdt_frame_check(const void *page, unsigned width, uint64_t *desc, const char **why);

/*
 * Rewrite the frame fields of a vcpu context.  The frames are given in
 * the same order xg_pv_vcpu_frames decodes them.  In the image, the user
 * cr3 (64-bit ctrlreg[1]) is stored as 1 | pfn << 12, as Xen's saver
 * writes it; `to_image` chooses that form, else the live form mfn << 12.
 */
void xg_pv_vcpu_set_frames(void *ctx, unsigned width, unsigned vcpu,
                           const struct xg_pv_vcpu_frames *f, bool to_image);

/* Decode the image form of ctrlreg[1]: 1 | pfn << 12 (0 = none). */
static inline bool xg_pv_image_cr1(uint64_t cr1, uint64_t *pfn)
{
    if (!(cr1 & 1))
        return false;
    *pfn = cr1 >> 12;
    return true;
}

/* ---------------------------------------------------------------- validation */

/*
 * An image seen in PFN space, for validation: what the stream recorded,
 * read through callbacks so the restore can keep tables in guest frames
 * and the inspector in memory.
 */
struct xg_pv_image_view {
    unsigned width, levels;
    uint64_t nr_pfns;      /* max_pfn + 1 */
    const uint32_t *types; /* per pfn; XTAB for pfns never sent */
    /* A table's 512 entries in normalised form, or NULL if unavailable. */
    const uint64_t *(*table)(void *arg, uint64_t pfn);
    /* An ordinary page's contents, or NULL (the start info check is then skipped). */
    const uint8_t *(*page)(void *arg, uint64_t pfn);
    void *arg;
    unsigned nr_vcpus; /* vcpus with a BASIC record (indices < this) */
    const bool *vcpu_present;
    const struct xg_pv_vcpu_frames *vcpu; /* decoded from the image: frames are pfns */
    const uint64_t *p2m_pfns;             /* X86_PV_P2M_FRAMES */
    unsigned nr_p2m;
    bool have_shared_info;
    /* (levels.c) An ordinary page's contents where kept (start info, table-like pages), or NULL. */
    const uint8_t *(*kept)(void *arg, uint64_t pfn);
    uint64_t unmappable;             /* legacy: batch entries written as XTAB | mfn */
    const uint32_t *unmappable_mfns; /* their machine frames (some or all of them) */
    size_t nr_unmappable_mfns;
    unsigned legacy_bits; /* legacy: the saving toolstack's word (32, 64); 0 for v2 */
    /* Offline, where `page` gives nothing: would Xen refuse this ordinary page as a GDT frame? */
    bool (*gdt_refused)(void *arg, uint64_t pfn);
};

/* What the restore must do, in order, once validation has passed. */
struct xg_pv_plan {
    uint64_t *pin_pfn; /* pins, in an order Xen accepts */
    unsigned *pin_level;
    size_t nr_pins;
    unsigned long *live; /* tables Xen will validate (reachable from a pin or cr3) */
    uint64_t nr_tables, nr_live, nr_stale;
    uint64_t store_pfn, console_pfn; /* from start info, ~0 if unknown */
    uint64_t *populate_pfn;          /* pfns never sent that live entries name: zeroed frames */
    size_t nr_populate;
    bool vcpus_first; /* the pins need the vcpus set first (Xen's restore order) */
    /*
     * Per pfn, the level Xen will validate an unpinned table at when a live
     * holder names it at another level than recorded (0: the recorded one);
     * NULL when there is none.  The restore localises such a table at it.
     */
    uint8_t *level;
    uint64_t nr_relevelled;
};

/*
 * Check the image exactly as Xen will when its tables are pinned and its
 * vcpus set, and plan the pins.  Every violation is a finding in d (errors
 * for what Xen would refuse, warnings for stale tables Xen never looks at).
 * Returns 0, XG_E_IMAGE when any error was found, or XG_E_NOMEM.
 */
int xg_pv_validate(const struct xg_pv_image_view *v, struct xg_pv_plan *plan, xg_diag *d);
void xg_pv_plan_free(struct xg_pv_plan *plan);

/* ---------------------------------------------------------------- levels.c */

struct xg_paging_evidence;
struct xg_lost_tables;

/*
 * How a page reads as a page table: present entries name frames below nr_pfns with no flag a
 * saver never writes, at least two of them and two frames.  `strict`: no non-present entry may
 * be non-zero either (upper-level tables; pages whose type was lost).
 */
#define XG_PV_READS_32 1U  /* as 1024 32-bit entries (2-level) */
#define XG_PV_ODD_SLOTS 2U /* ... with entries in odd 32-bit slots, which a PAE table never has */
#define XG_PV_READS_64 4U  /* as 512 64-bit entries (PAE, 64-bit) */
unsigned xg_pv_table_like(const uint8_t *page, uint64_t nr_pfns, bool strict);

/* A 32-bit guest: 2-level or PAE, from the image's evidence (ev->verdict NONE for 64-bit). */
void xg_pv_paging_decide(const struct xg_pv_image_view *v, struct xg_paging_evidence *ev);
/* The findings for the evidence: XG_E_UNSUPPORTED (an error in d) for a 2-level guest, else 0. */
int xg_pv_paging_findings(const struct xg_pv_image_view *v, const struct xg_paging_evidence *ev,
                          const uint64_t by_level[5], xg_diag *d);
/* The 2008 pattern: cr3 recorded untyped; a warning in d with the confidence, when found. */
void xg_pv_lost_tables(const struct xg_pv_image_view *v, unsigned levels,
                       struct xg_lost_tables *out, xg_diag *d);

#endif
