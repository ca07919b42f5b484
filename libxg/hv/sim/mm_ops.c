/*
 * mm_ops.c - the memory hypercalls a PV toolstack or guest makes, on top
 * of mm.c's reference and type rules, as xen/arch/x86/mm.c has them:
 * MMUEXT_PIN_Lx_TABLE and UNPIN_TABLE, mmu_update's normal and machphys
 * requests (mod_l1_entry, mod_lN_entry), new_baseptr, and what
 * getpageframeinfo3 reports.  All run with the host lock held.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "hv/sim/mm_private.h"
#include "internal.h"
#include "pv/pte.h"

int sim_pin(struct sim_host *h, uint32_t pg_owner, unsigned level, uint64_t mfn)
{
    struct sim_domain *dom = sim_domain(h, pg_owner);
    if (!dom)
        return -ESRCH;
    if (level == 4 && dom->guest_width == 4)
        return 0; /* PIN_L4 is a no-op for 32-bit guests */
    if (level < 1 || level > 4)
        return -ENOSYS;
    if (sim_get_page(h, mfn, pg_owner) < 0)
        return -EINVAL;
    int rc = sim_get_page_type(h, mfn, level_type[level]);
    if (rc < 0) {
        MMLOG(h, "Error %d while pinning mfn %05llx", rc, (unsigned long long)mfn);
        sim_put_page(h, mfn);
        return rc;
    }
    struct sim_frame *f = sim_frame_w(h, mfn);
    if (f->type_info & PGT_pinned) {
        MMLOG(h, "mfn %05llx already pinned", (unsigned long long)mfn);
        sim_put_page_and_type(h, mfn);
        return -EINVAL;
    }
    f->type_info |= PGT_pinned;
    sim_mark_dirty(h, mfn);
    return 0;
}

int sim_unpin(struct sim_host *h, uint32_t pg_owner, uint64_t mfn)
{
    if (sim_get_page(h, mfn, pg_owner) < 0) {
        MMLOG(h, "mfn %05llx bad, or bad owner d%u", (unsigned long long)mfn, pg_owner);
        return -EINVAL;
    }
    struct sim_frame *f = sim_frame_w(h, mfn);
    if (!(f->type_info & PGT_pinned)) {
        MMLOG(h, "mfn %05llx not pinned", (unsigned long long)mfn);
        sim_put_page(h, mfn);
        return -EINVAL;
    }
    f->type_info &= ~PGT_pinned;
    sim_mark_dirty(h, mfn);
    sim_put_page_and_type(h, mfn);
    sim_put_page(h, mfn);
    return 0;
}

/* ------------------------------------------------------------ mmu_update */

#define FASTPATH_FLAGS \
    (XG_PTE_NX | XG_PTE_HIGH_AVAIL | XG_PTE_AVAIL | XG_PTE_G | XG_PTE_D | XG_PTE_A | XG_PTE_US)

static bool fast_path(uint64_t old, uint64_t new)
{
    return xg_pte_present(old) && xg_pte_frame(old) == xg_pte_frame(new) &&
           !((old ^ new) & ~(FASTPATH_FLAGS | XG_PTE_FRAME_MASK));
}

static int mod_l1(struct sim_host *h, uint64_t mfn, unsigned slot, uint64_t new, uint32_t pt_owner,
                  uint32_t pg_owner)
{
    uint64_t old = table_entries(h, mfn)[slot];
    if (xg_pte_present(new)) {
        uint64_t bad = new &l1_disallow();
        if (bad) {
            MMLOG(h, "Bad L1 flags %x", xg_pte_xen_flags(bad));
            return -EINVAL;
        }
        new = adjust_l1e(h, new,
                         is_compat(h, pt_owner)); /* before the fast-path comparison, as Xen does */
        if (fast_path(old, new)) {
            sim_write_u64(h, mfn, slot, new);
            return 0;
        }
        int rc = sim_get_l1e(h, new, pt_owner, pg_owner);
        if (rc < 0)
            return rc;
    }
    sim_write_u64(h, mfn, slot, new);
    sim_put_l1e(h, old, pt_owner);
    return 0;
}

static int mod_upper(struct sim_host *h, uint64_t mfn, unsigned level, unsigned slot, uint64_t new,
                     uint32_t owner)
{
    struct sim_frame *f = sim_frame(h, mfn);
    struct sim_domain *dom = sim_domain(h, owner);
    bool compat = dom && dom->guest_width == 4;
    uint64_t old = table_entries(h, mfn)[slot];

    if (level == 2 && !guest_l2_slot(f->type_info, slot)) {
        MMLOG(h, "L2 update in Xen-private area, slot %#x", slot);
        return -EPERM;
    }
    if (level == 3 && compat && slot >= XG_PAE_XEN_L2_SLOT)
        return -EINVAL;
    if (level == 4 && !guest_l4_slot(dom, slot)) {
        MMLOG(h, "L4 update in Xen-private area, slot %#x", slot);
        return -EINVAL;
    }
    if (xg_pte_present(new)) {
        uint64_t disallow = (level == 3 && compat) ? XG_COMPAT_L3_DISALLOW : XG_L2_DISALLOW;
        uint64_t bad = new &disallow;
        if (bad) {
            MMLOG(h, "Bad L%u flags %x", level, xg_pte_xen_flags(bad));
            return -EINVAL;
        }
        new = adjust_upper(new, level, compat);
        /* RW is not a fast-path flag while linear page tables are allowed. */
        if (fast_path(old, new) && !((old ^ new) & XG_PTE_RW)) {
            sim_write_u64(h, mfn, slot, new);
            return 0;
        }
        int rc = get_upper(h, new, mfn, owner, level, disallow, !(level == 3 && compat), 0);
        if (rc < 0)
            return rc;
    }
    sim_write_u64(h, mfn, slot, new);
    put_upper(h, old, mfn, level);
    return 0;
}

int sim_mmu_normal(struct sim_host *h, uint32_t pt_owner, uint32_t pg_owner, uint64_t ptr,
                   uint64_t val)
{
    uint64_t mfn = ptr >> 12;
    unsigned slot = (unsigned)((ptr & 0xfff) >> 3);
    if (sim_get_page(h, mfn, pt_owner) < 0) {
        MMLOG(h, "Could not get page for normal update");
        return -EINVAL;
    }
    struct sim_frame *f = sim_frame(h, mfn);
    uint64_t t = f->type_info;
    int rc = -EINVAL;
    if ((t & PGT_count_mask) && (t & PGT_validated)) {
        /*
         * page_lock(): while the entry is changed the frame carries
         * PGT_locked and one more type reference, which shows in the
         * "saw" of any Bad type message about the frame itself (an L1
         * mapping itself writable reports 34000000000000xx).  Fix: the
         * simulator did not take the lock.
         */
        sim_frame_w(h, mfn)->type_info += PGT_locked + 1;
        unsigned level = type_level(t);
        if (level == 1)
            rc = mod_l1(h, mfn, slot, val, pt_owner, pg_owner);
        else if (level > 1)
            rc = pg_owner == pt_owner ? mod_upper(h, mfn, level, slot, val, pt_owner) : -EINVAL;
        else if ((t & PGT_type_mask) == PGT_writable_page) {
            sim_write_u64(h, mfn, slot, val);
            rc = 0;
        }
        sim_frame_w(h, mfn)->type_info -= PGT_locked + 1; /* page_unlock */
    } else if (sim_get_page_type(h, mfn, PGT_writable_page) == 0) {
        /* Not a live table: any frame with no type references becomes writable. */
        sim_write_u64(h, mfn, slot, val);
        sim_put_page_type(h, mfn);
        rc = 0;
    }
    if (rc == 0)
        sim_mark_dirty(h, mfn);
    sim_put_page(h, mfn);
    return rc;
}

int sim_mmu_machphys(struct sim_host *h, uint32_t pg_owner, uint64_t mfn, uint64_t pfn)
{
    /*
     * get_page_from_mfn(mfn, pg_owner): its messages ("Error mfn", "Could
     * not get page ref"), then the caller's.
     */
    if (!sim_mfn_valid(h, mfn) || get_page_from_mfn(h, mfn, pg_owner) < 0) {
        if (!sim_mfn_valid(h, mfn))
            MMLOG(h, "Could not get page ref for mfn %05llx", (unsigned long long)mfn);
        MMLOG(h, "Could not get page for mach->phys update");
        return -EINVAL;
    }
    sim_m2p_set(h, mfn, pfn);
    sim_mark_dirty(h, mfn);
    sim_put_page(h, mfn);
    return 0;
}

int sim_new_baseptr(struct sim_host *h, uint32_t domid, unsigned vcpu, uint64_t mfn, bool user)
{
    struct sim_domain *dom = sim_domain(h, domid);
    if (!dom || vcpu >= dom->nr_vcpus)
        return -EINVAL;
    struct sim_vcpu *v = &dom->vcpu[vcpu];
    uint64_t *slot = user ? &v->guest_table_user : &v->guest_table;
    if (*slot == mfn)
        return 0;
    if (user && mfn == 0) {
        if (*slot != XG_INVALID_MFN)
            sim_put_page_and_type(h, *slot);
        SIM_SET(h, *slot, XG_INVALID_MFN);
        return 0;
    }
    int rc = sim_get_page_and_type(h, mfn, domid, sim_root_type(dom));
    if (rc < 0) {
        if (user)
            MMLOG(h, "Error %d installing new mfn %05llx", rc, (unsigned long long)mfn);
        else if (dom->guest_width == 4)
            MMLOG(h, "Error while installing new compat baseptr %05llx", (unsigned long long)mfn);
        else
            MMLOG(h, "Error while installing new baseptr %05llx", (unsigned long long)mfn);
        return rc;
    }
    uint64_t old = *slot;
    SIM_SET(h, *slot, mfn);
    if (old != XG_INVALID_MFN)
        sim_put_page_and_type(h, old);
    return 0;
}

/* ------------------------------------------------------------ getpageframeinfo3 */

uint32_t sim_pfinfo(struct sim_host *h, uint32_t domid, uint64_t mfn)
{
    if (!sim_mfn_valid(h, mfn))
        return XG_PFINFO_XTAB;
    const struct sim_frame *f = sim_frame(h, mfn);
    if (f->owner != domid || f->count == 0) {
        log_get_page_refusal(h, mfn, domid); /* getpageframeinfo3 goes through get_page_from_gfn */
        return XG_PFINFO_XTAB;
    }
    if (f->flags & SIM_PGC_XEN_HEAP)
        return XG_PFINFO_XTAB;
    uint32_t t = XG_PFINFO_NOTAB;
    unsigned level = type_level(f->type_info);
    if (level)
        t = (uint32_t)level << XG_PFINFO_SHIFT;
    if (f->type_info & PGT_pinned)
        t |= XG_PFINFO_LPINTAB;
    else if (!(f->type_info & PGT_validated))
        t = XG_PFINFO_NOTAB;
    if (f->flags & SIM_PGC_BROKEN)
        t = XG_PFINFO_BROKEN;
    return t;
}
