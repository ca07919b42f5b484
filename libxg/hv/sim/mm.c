/*
 * mm.c - Xen 4.17's x86 PV memory-management rules, simulated.
 *
 * What follows mirrors xen/arch/x86/mm.c function by function (see
 * docs/xen-mm-rules.md for the rules with their sources): general and
 * type references, validation of page tables when their type count goes
 * from 0 to 1 (promote_lN_table), devalidation when it drops back to 0
 * (the type bits stay, PGT_validated goes), L1 entries and the writable
 * type, L2..L4 entries and linear (recursive) page tables, the Xen slots,
 * the 32-bit PAE (compat) L3 rules.  The hypercalls built on them (pin
 * and unpin, mmu_update, new_baseptr, getpageframeinfo3) are in
 * mm_ops.c.  Every refusal returns Xen's errno and logs the line a debug
 * build of Xen logs.
 *
 * Differences from Xen, on purpose: validation is never preempted (no
 * PGT_partial); a failed promotion is rolled back at once (Xen does it in
 * a continuation before the guest sees the error, so nothing observable
 * differs); segment descriptors get a simplified check_descriptor().
 * All functions run with the host lock held, inside an op.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "hv/sim/mm_private.h"
#include "internal.h"
#include "pv/pte.h"


const uint64_t level_type[5] = {
    0, PGT_l1_page_table, PGT_l2_page_table, PGT_l3_page_table, PGT_l4_page_table,
};

unsigned type_level(uint64_t type_info)
{
    uint64_t t = type_info & PGT_type_mask;
    if (t >= PGT_l1_page_table && t <= PGT_l4_page_table)
        return (unsigned)(t >> 61);
    return 0;
}

const char *sim_type_name(uint64_t type_info)
{
    static const char *const names[8] = { "none", "l1",       "l2",     "l3",
                                          "l4",   "seg_desc", "shared", "writable" };
    return names[(type_info & PGT_type_mask) >> 61];
}

uint64_t sim_root_type(const struct sim_domain *dom)
{
    return dom->guest_width == 4 ? PGT_l3_page_table : PGT_l4_page_table;
}

static unsigned long long m2p_of(struct sim_host *h, uint64_t mfn)
{
    return sim_mfn_valid(h, mfn) ? (unsigned long long)h->m2p[mfn] : ~0ULL;
}

/*
 * count_info as Xen prints it ("caf=%08lx"): the PGC_* bits above the
 * count (asm/mm.h: allocated 63, xen_heap 62, broken 60, state 59-58,
 * need_scrub = allocated on free pages) and the general count.
 */
static unsigned long long caf_of(const struct sim_frame *f)
{
    unsigned long long c = f->count;
    if (f->owner == SIM_OWNER_FREE)
        return c | (3ULL << 58) | ((f->flags & SIM_PGC_NEED_SCRUB) ? 1ULL << 63 : 0);
    if (f->flags & SIM_PGC_ALLOCATED)
        c |= 1ULL << 63;
    if (f->flags & SIM_PGC_XEN_HEAP)
        c |= 1ULL << 62;
    if (f->flags & SIM_PGC_BROKEN)
        c |= 1ULL << 60;
    return c;
}

/* A domain as Xen's %pd prints it: d1, d[XEN], or NULL for no owner. */
static const char *dom_name(uint32_t domid, char buf[16])
{
    if (domid == SIM_OWNER_FREE)
        return "NULL";
    if (domid == XG_DOMID_XEN)
        return "d[XEN]";
    snprintf(buf, 16, "d%u", domid);
    return buf;
}

static struct sim_domain *owner_dom(struct sim_host *h, uint64_t mfn)
{
    const struct sim_frame *f = sim_frame(h, mfn);
    if (f->owner == SIM_OWNER_FREE || f->owner == XG_DOMID_XEN)
        return NULL;
    return sim_domain(h, f->owner);
}

void sim_mark_dirty(struct sim_host *h, uint64_t mfn)
{
    struct sim_domain *dom = owner_dom(h, mfn);
    if (!dom || !dom->logdirty)
        return;
    uint64_t pfn = h->m2p[mfn];
    if (pfn == XG_INVALID_PFN || pfn >= h->hdr->bitmap_bytes * 8)
        return;
    unsigned long *map = (unsigned long *)(h->bitmaps +
                                           (uint64_t)(dom - h->doms) * h->hdr->bitmap_bytes);
    unsigned long *w = &map[pfn / XG_BITS_PER_LONG];
    unsigned long bit = 1UL << (pfn % XG_BITS_PER_LONG);
    if (!(*w & bit)) {
        SIM_SET(h, *w, *w | bit);
        SIM_SET(h, dom->dirty_count, dom->dirty_count + 1);
    }
}

/* ------------------------------------------------------------ frees */

static void free_frame(struct sim_host *h, uint64_t mfn)
{
    struct sim_frame *f = sim_frame_w(h, mfn);
    struct sim_domain *dom = owner_dom(h, mfn);
    bool counted = !(f->flags & SIM_PGC_XEN_HEAP);
    f->owner = SIM_OWNER_FREE;
    f->type_info = 0;
    f->linear = 0;
    f->flags = SIM_PGC_NEED_SCRUB;
    f->count = 0;
    sim_m2p_set(h, mfn, XG_INVALID_PFN);
    SIM_SET(h, h->hdr->nr_free, h->hdr->nr_free + 1);
    if (dom) {
        if (counted && dom->tot_pages)
            SIM_SET(h, dom->tot_pages, dom->tot_pages - 1);
        /* A dying domain goes away with its last page. */
        if (dom->dying && dom->tot_pages == 0 && !dom->shared_info_mfn)
            SIM_SET(h, dom->in_use, 0);
    }
}

/* ------------------------------------------------------------ refs */

/*
 * Xen's get_page() logs every refusal, a free frame too (its owner prints
 * as NULL), unless the requesting domain is dying; caf is the whole
 * count_info (fix: it used to be the bare count, and free frames were
 * refused silently).
 */
void log_get_page_refusal(struct sim_host *h, uint64_t mfn, uint32_t domid)
{
    const struct sim_frame *f = sim_frame(h, mfn);
    struct sim_domain *rd = sim_domain(h, domid);
    if (rd && rd->dying)
        return;
    char b1[16], b2[16];
    uint32_t od = f->count ? f->owner : SIM_OWNER_FREE;
    sim_log(h, "(XEN) d%uv0 Error mfn %05llx: rd=%s od=%s caf=%08llx taf=%016llx", h->caller,
            (unsigned long long)mfn, dom_name(domid, b1), dom_name(od, b2), caf_of(f),
            (unsigned long long)f->type_info);
}

int sim_get_page(struct sim_host *h, uint64_t mfn, uint32_t domid)
{
    if (!sim_mfn_valid(h, mfn))
        return -EINVAL;
    struct sim_frame *f = sim_frame(h, mfn);
    if (f->count == 0 || f->owner != domid) {
        log_get_page_refusal(h, mfn, domid);
        return -EINVAL;
    }
    sim_frame_w(h, mfn)->count++;
    return 0;
}

/* get_page_from_mfn (asm/mm.h): get_page, with its own message on failure. */
int get_page_from_mfn(struct sim_host *h, uint64_t mfn, uint32_t domid)
{
    int rc = sim_get_page(h, mfn, domid);
    if (rc < 0)
        MMLOG(h, "Could not get page ref for mfn %05llx", (unsigned long long)mfn);
    return rc;
}

void sim_put_page(struct sim_host *h, uint64_t mfn)
{
    struct sim_frame *f = sim_frame_w(h, mfn);
    if (f->count == 0)
        return; /* never happens when the counts are right; the checker would say */
    if (--f->count == 0)
        free_frame(h, mfn);
}

static int validate_page(struct sim_host *h, uint64_t mfn, uint64_t type);
static void devalidate_page(struct sim_host *h, uint64_t mfn, uint64_t type_info);

int sim_get_page_type(struct sim_host *h, uint64_t mfn, uint64_t type)
{
    struct sim_frame *f = sim_frame_w(h, mfn);
    uint64_t x = f->type_info, nx;
    uint64_t cmp_mask = PGT_type_mask | PGT_pae_xen_l2;

    if ((x & PGT_count_mask) == 0) {
        if ((x & cmp_mask) != type) {
            /* Type change: the page loses its validation (and any linear bookkeeping). */
            nx = type;
            f->linear = 0;
        } else {
            nx = x;
        }
        nx += 1;
    } else {
        if ((x & cmp_mask) != type) {
            uint64_t xt = x & PGT_type_mask, rt = type & PGT_type_mask;
            bool looks_linear = (xt == PGT_l2_page_table && rt == PGT_l1_page_table &&
                                 !(type & PGT_pae_xen_l2)) ||
                                (xt == PGT_l3_page_table && rt == PGT_l2_page_table &&
                                 !(type & PGT_pae_xen_l2)) ||
                                (xt == PGT_l4_page_table && rt == PGT_l3_page_table);
            if (!looks_linear)
                MMLOG(h, "Bad type (saw %016llx != exp %016llx) for mfn %05llx (pfn %05llx)",
                      (unsigned long long)x, (unsigned long long)type, (unsigned long long)mfn,
                      m2p_of(h, mfn));
            return -EINVAL;
        }
        if (!(x & PGT_validated)) {
            /* Being validated further up this very call chain: a loop of tables. */
            MMLOG(h, "Bad type (saw %016llx != exp %016llx) for mfn %05llx (pfn %05llx)",
                  (unsigned long long)x, (unsigned long long)type, (unsigned long long)mfn,
                  m2p_of(h, mfn));
            return -EINVAL;
        }
        nx = x + 1;
    }
    f->type_info = nx;
    if (nx & PGT_validated)
        return 0;

    uint64_t t = type & PGT_type_mask;
    if (t == PGT_writable_page || t == PGT_shared_page || t == PGT_none) {
        f->type_info |= PGT_validated;
        return 0;
    }
    /* A page table (or descriptor page) dirties its frame when it is validated. */
    sim_mark_dirty(h, mfn);
    int rc = validate_page(h, mfn, type);
    f = sim_frame_w(h, mfn);
    if (rc < 0) {
        MMLOG(h,
              "Error while validating mfn %05llx (pfn %05llx) for type %016llx: "
              "caf=%08llx taf=%016llx",
              (unsigned long long)mfn, m2p_of(h, mfn), (unsigned long long)type, caf_of(f),
              (unsigned long long)f->type_info);
        f->type_info = 0;
        f->linear = 0;
        return rc;
    }
    f->type_info |= PGT_validated;
    return 0;
}

void sim_put_page_type(struct sim_host *h, uint64_t mfn)
{
    struct sim_frame *f = sim_frame_w(h, mfn);
    uint64_t x = f->type_info;
    if ((x & PGT_count_mask) == 0)
        return;
    if ((x & PGT_count_mask) == 1 && type_level(x) && (x & PGT_validated)) {
        /*
         * Last reference to a page table: it is unvalidated and lets go of
         * what its entries held.
         */
        f->type_info = x & ~(PGT_validated | PGT_partial);
        devalidate_page(h, mfn, x);
        f = sim_frame_w(h, mfn);
        f->type_info = (f->type_info & ~PGT_pae_xen_l2) - 1;
        f->linear = 0;
        sim_mark_dirty(h, mfn);
        return;
    }
    f->type_info = x - 1;
}

int sim_get_page_and_type(struct sim_host *h, uint64_t mfn, uint32_t domid, uint64_t type)
{
    int rc = sim_get_page(h, mfn, domid);
    if (rc < 0)
        return rc;
    rc = sim_get_page_type(h, mfn, type);
    if (rc < 0)
        sim_put_page(h, mfn);
    return rc;
}

void sim_put_page_and_type(struct sim_host *h, uint64_t mfn)
{
    sim_put_page_type(h, mfn);
    sim_put_page(h, mfn);
}

/* ------------------------------------------------------------ L1 */

uint64_t l1_disallow(void)
{
    /* A domU without I/O privileges: no cache attributes (PWT, PCD, PAT). */
    return XG_L1_DISALLOW;
}

int sim_get_l1e(struct sim_host *h, uint64_t l1e, uint32_t l1e_owner, uint32_t pg_owner)
{
    uint64_t bad = l1e & l1_disallow();
    if (bad) {
        MMLOG(h, "Bad L1 flags %x", xg_pte_xen_flags(bad));
        return -EINVAL;
    }
    uint64_t mfn = xg_pte_frame(l1e);
    if (!sim_mfn_valid(h, mfn)) {
        /*
         * MMIO: no domain here has I/O memory rights.  Xen names pg_owner
         * (fix: it was l1e_owner, which differs for dom0's foreign maps),
         * and stays silent for the all-ones frame (INVALID_MFN).
         */
        if (mfn == (XG_PTE_FRAME_MASK >> XG_PTE_FRAME_SHIFT))
            return -EINVAL;
        MMLOG(h, "d%u non-privileged attempt to map MMIO space %05llx", pg_owner,
              (unsigned long long)mfn);
        return -EPERM;
    }
    struct sim_frame *f = sim_frame(h, mfn);
    bool allocated = f->count != 0 && f->owner != SIM_OWNER_FREE;
    uint32_t real_owner = allocated ? f->owner : SIM_OWNER_FREE;
    if (real_owner != pg_owner) {
        /*
         * Xen lets the mapping through to the real owner only when
         * pg_owner != l1e_owner and xsm_priv_mapping(pg_owner, real owner)
         * allows it, i.e. pg_owner is the control domain (dom0).  Fix: the
         * test was on l1e_owner, which let dom0 map a third domain's
         * frame while naming the guest as pg_owner.
         */
        if (!allocated || pg_owner == l1e_owner || pg_owner != 0) {
            MMLOG(h, "pg_owner d%u l1e_owner d%u, but real_pg_owner d%d", pg_owner, l1e_owner,
                  allocated ? (int)real_owner : -1);
            goto could_not_pin;
        }
        pg_owner = real_owner; /* a privileged foreign mapping */
    }
    sim_frame_w(h, mfn)->count++;
    if ((l1e & XG_PTE_RW) && sim_get_page_type(h, mfn, PGT_writable_page) < 0) {
        MMLOG(h, "Could not get page type PGT_writable_page");
        sim_put_page(h, mfn);
        goto could_not_pin;
    }
    return 0;

could_not_pin:
    MMLOG(h,
          "Error getting mfn %05llx (pfn %05llx) from L1 entry %016llx "
          "for l1e_owner d%u, pg_owner d%u",
          (unsigned long long)mfn, m2p_of(h, mfn), (unsigned long long)l1e, l1e_owner, pg_owner);
    return -EBUSY;
}

void sim_put_l1e(struct sim_host *h, uint64_t l1e, uint32_t l1e_owner)
{
    (void)l1e_owner;
    if (!xg_pte_present(l1e))
        return;
    uint64_t mfn = xg_pte_frame(l1e);
    if (!sim_mfn_valid(h, mfn))
        return;
    if (l1e & XG_PTE_RW)
        sim_put_page_and_type(h, mfn);
    else
        sim_put_page(h, mfn);
}

/* ------------------------------------------------------------ linear tables */

/*
 * An Ln entry that names a table of level n (not n-1): Xen's
 * get_lN_linear_pagetable.  Returns true when allowed (refs taken).
 */
static bool get_linear(struct sim_host *h, uint64_t e, uint64_t table, uint32_t domid,
                       unsigned level)
{
    if (e & XG_PTE_RW) {
        MMLOG(h, "Attempt to create linear p.t. with write perms");
        return false;
    }
    uint64_t target = xg_pte_frame(e);
    if (target == table)
        return true;                             /* a self-map holds no references */
    if (get_page_from_mfn(h, target, domid) < 0) /* logs, as Xen's get_page_from_mfn does */
        return false;
    struct sim_frame *tf = sim_frame(h, target), *cf = sim_frame(h, table);
    uint64_t want = level_type[level] | PGT_validated;
    bool ok = cf->linear >= 0 && /* the holder is not itself a linear target */
              tf->linear <= 0 && /* the target holds no linear entries */
              (tf->type_info & (PGT_type_mask | PGT_validated)) == want &&
              (tf->type_info & PGT_count_mask) != 0;
    if (!ok) {
        sim_put_page(h, target);
        return false;
    }
    sim_frame_w(h, table)->linear++;
    tf = sim_frame_w(h, target);
    tf->linear--;
    tf->type_info++;
    return true;
}

/* Release what an L2..L4 entry holds (put_page_from_lNe). */
void put_upper(struct sim_host *h, uint64_t e, uint64_t table, unsigned level)
{
    if (!xg_pte_present(e))
        return;
    uint64_t target = xg_pte_frame(e);
    if (target == table || !sim_mfn_valid(h, target))
        return;
    if (type_level(sim_frame(h, target)->type_info) == level) {
        /* A linear entry: undo the bookkeeping, then drop its references. */
        sim_frame_w(h, target)->linear++;
        sim_frame_w(h, table)->linear--;
    }
    sim_put_page_and_type(h, target);
}

int get_upper(struct sim_host *h, uint64_t e, uint64_t table, uint32_t domid, unsigned level,
              uint64_t disallow, bool linear_ok, uint64_t extra_type)
{
    uint64_t bad = e & disallow;
    if (bad) {
        MMLOG(h, "Bad L%u flags %x", level, xg_pte_xen_flags(bad));
        return -EINVAL;
    }
    uint64_t target = xg_pte_frame(e);
    /*
     * get_page_and_type_from_mfn: get_page_from_mfn (logs "Error mfn" and
     * "Could not get page ref"), then the type.
     */
    int rc = get_page_from_mfn(h, target, domid);
    if (rc == 0) {
        rc = sim_get_page_type(h, target, level_type[level - 1] | extra_type);
        if (rc < 0)
            sim_put_page(h, target);
    }
    if (rc == -EINVAL && linear_ok && get_linear(h, e, table, domid, level))
        rc = 0;
    return rc;
}

/* ------------------------------------------------------------ promote / demote */

uint64_t *table_entries(struct sim_host *h, uint64_t mfn)
{
    return (uint64_t *)sim_frame_data(h, mfn);
}

bool guest_l4_slot(const struct sim_domain *dom, unsigned s)
{
    if (dom->guest_width == 4)
        return s == 0;
    return !xg_l4_is_xen_slot(s);
}

bool guest_l2_slot(uint64_t type, unsigned s)
{
    return !(type & PGT_pae_xen_l2) || s < XG_COMPAT_L2_FIRST_XEN_SLOT;
}

bool is_compat(struct sim_host *h, uint32_t domid)
{
    struct sim_domain *dom = sim_domain(h, domid);
    return dom && dom->guest_width == 4;
}

/*
 * adjust_guest_l1e..l4e (pv/mm.h): Xen rewrites every present entry it
 * accepts, and the guest reads the rewritten value back.  Fix: the
 * simulator stored entries as given, so no saver ever met the bits real
 * Xen adds (_PAGE_GUEST_KERNEL is PTE bit 52, above the frame field).
 */
#define SIM_PTE_GUEST_KERNEL (1ULL << 52)

uint64_t adjust_l1e(struct sim_host *h, uint64_t e, bool compat)
{
    if (!xg_pte_present(e) || compat)
        return e;
    if ((e & (SIM_PTE_GUEST_KERNEL | XG_PTE_G)) == (SIM_PTE_GUEST_KERNEL | XG_PTE_G))
        MMLOG(h, "Global bit is set in kernel page %llx", (unsigned long long)xg_pte_frame(e));
    if (!(e & XG_PTE_US))
        e |= SIM_PTE_GUEST_KERNEL | XG_PTE_US;
    if (!(e & SIM_PTE_GUEST_KERNEL))
        e |= XG_PTE_G | XG_PTE_US;
    return e;
}

uint64_t adjust_upper(uint64_t e, unsigned level, bool compat)
{
    if (!xg_pte_present(e))
        return e;
    switch (level) {
    case 2:
        return compat ? e : e | XG_PTE_US;
    case 3:
        return e | (compat ? XG_PTE_US | XG_PTE_RW : XG_PTE_US);
    case 4:
        return e | XG_PTE_A | (compat ? 0 : XG_PTE_US);
    default:
        return e;
    }
}

/* unadjust_guest_l3e: what a compat L3 entry loses again when its table is devalidated. */
static uint64_t unadjust_l3e(uint64_t e, bool compat)
{
    if (compat && xg_pte_present(e))
        e &= ~(XG_PTE_US | XG_PTE_RW | XG_PTE_A);
    return e;
}

/* Store an entry if it changed (journaled). */
static void store_entry(struct sim_host *h, uint64_t mfn, unsigned slot, uint64_t e)
{
    if (table_entries(h, mfn)[slot] != e)
        sim_write_u64(h, mfn, slot, e);
}

static int promote_l1(struct sim_host *h, uint64_t mfn, uint32_t owner)
{
    uint64_t *e = table_entries(h, mfn);
    bool compat = is_compat(h, owner);
    for (unsigned i = 0; i < XG_PTES_PER_TABLE; i++) {
        if (!xg_pte_present(e[i]))
            continue;
        int rc = sim_get_l1e(h, e[i], owner, owner);
        if (rc < 0) {
            MMLOG(h, "Failure %d in promote_l1_table: slot %#x", rc, i);
            /* The references go; the entries already adjusted stay so, as in Xen. */
            while (i-- > 0)
                sim_put_l1e(h, e[i], owner);
            return rc;
        }
        store_entry(h, mfn, i, adjust_l1e(h, e[i], compat));
    }
    return 0;
}

/* Xen fills its slots of a compat guest's slot-3 L2 with the compat M2P. */
static void init_xen_pae_l2_slots(struct sim_host *h, uint64_t mfn)
{
    for (unsigned s = XG_COMPAT_L2_FIRST_XEN_SLOT; s < XG_PTES_PER_TABLE; s++) {
        uint64_t frame = h->hdr->compat_m2p_mfn0 + (s - XG_COMPAT_L2_FIRST_XEN_SLOT);
        sim_write_u64(h, mfn, s, xg_pte_make(frame, XG_PTE_P | XG_PTE_A | XG_PTE_US));
    }
}

/* Xen overwrites a 64-bit L4's slots 256..271 with its own mappings. */
static void init_xen_l4_slots(struct sim_host *h, uint64_t mfn)
{
    for (unsigned s = XG_L4_FIRST_XEN_SLOT; s <= XG_L4_LAST_XEN_SLOT; s++) {
        uint64_t v;
        if (s == 258) /* linear map of itself */
            v = xg_pte_make(mfn, XG_PTE_P | XG_PTE_RW | XG_PTE_A | XG_PTE_D);
        else if (s == 259)
            v = 0;
        else
            v = xg_pte_make(h->hdr->xen_l4_mfn0 + (s - XG_L4_FIRST_XEN_SLOT),
                            XG_PTE_P | XG_PTE_A | XG_PTE_US);
        sim_write_u64(h, mfn, s, v);
    }
}

static int promote_upper(struct sim_host *h, uint64_t mfn, uint64_t type, uint32_t owner)
{
    struct sim_domain *dom = sim_domain(h, owner);
    unsigned level = type_level(type);
    bool compat = dom && dom->guest_width == 4;
    uint64_t *e = table_entries(h, mfn);
    unsigned nslots = XG_PTES_PER_TABLE;

    if (level == 3 && compat) {
        /* A PAE guest's L3 has 4 entries; Xen clears the rest. */
        for (unsigned s = XG_PAE_L3_ENTRIES; s < XG_PTES_PER_TABLE; s++)
            if (e[s])
                sim_write_u64(h, mfn, s, 0);
        nslots = XG_PAE_L3_ENTRIES;
    }
    for (unsigned i = 0; i < nslots; i++) {
        int rc = 0;
        if (level == 4 && !guest_l4_slot(dom, i))
            continue;
        if (level == 2 && !guest_l2_slot(type, i))
            continue;
        if (level == 3 && compat && i == XG_PAE_XEN_L2_SLOT) {
            /*
             * Slot 3 must be present with acceptable flags; Xen says
             * nothing of its own here (fix: bad flags used to log "Bad L3
             * flags", which promote_l3_table does not).
             */
            if (!xg_pte_present(e[i]) || (e[i] & XG_COMPAT_L3_DISALLOW)) {
                rc = -EINVAL;
            } else {
                rc = get_upper(h, e[i], mfn, owner, 3, XG_COMPAT_L3_DISALLOW, false,
                               PGT_pae_xen_l2);
                if (rc == 0 &&
                    (sim_frame(h, xg_pte_frame(e[i]))->type_info & PGT_count_mask) != 1) {
                    MMLOG(h, "PAE L3 3rd slot is shared");
                    put_upper(h, e[i], mfn, 3);
                    rc = -EINVAL;
                }
            }
        } else if (xg_pte_present(e[i])) {
            uint64_t disallow = (level == 3 && compat) ? XG_COMPAT_L3_DISALLOW : XG_L2_DISALLOW;
            bool linear_ok = !(level == 3 && compat);
            rc = get_upper(h, e[i], mfn, owner, level, disallow, linear_ok, 0);
        }
        if (rc < 0) {
            MMLOG(h, "Failure %d in promote_l%u_table: slot %#x", rc, level, i);
            while (i-- > 0) {
                if (level == 4 && !guest_l4_slot(dom, i))
                    continue;
                if (level == 2 && !guest_l2_slot(type, i))
                    continue;
                put_upper(h, e[i], mfn, level);
                if (level == 3)
                    store_entry(h, mfn, i, unadjust_l3e(e[i], compat));
            }
            return rc;
        }
        store_entry(h, mfn, i, adjust_upper(e[i], level, compat));
    }
    if (level == 2 && (type & PGT_pae_xen_l2))
        init_xen_pae_l2_slots(h, mfn);
    if (level == 4 && !compat)
        init_xen_l4_slots(h, mfn);
    return 0;
}

/*
 * check_descriptor (pv/descriptor-tables.c) for one 8-byte descriptor.
 * Fix: the simulator refused every present descriptor of DPL 0 and took
 * anything else.  Xen raises a too-low DPL to the guest kernel's ring,
 * takes any code or data segment (a compat one without the L bit, and
 * widens a flat 4 GiB one), ignores type 0, and refuses every other
 * system descriptor except a call gate whose target selector is the
 * guest's own and whose reserved bits are zero.  Fix-ups are written
 * back into the page, as Xen writes them.
 */
#define SEG_TYPE (15U << 8)
#define SEG_S (1U << 12)
#define SEG_DPL (3U << 13)
#define SEG_P (1U << 15)
#define SEG_L (1U << 21)
#define SEG_G (1U << 23)
#define COMPAT_VIRT_START 0xf5800000ULL /* __HYPERVISOR_COMPAT_VIRT_START */
#define FIRST_RESERVED_GDT_ENTRY 7168U  /* FIRST_RESERVED_GDT_PAGE 14 * 4096 / 8 */

static bool check_descriptor(bool compat, uint64_t *desc)
{
    uint32_t a = (uint32_t)*desc, b = (uint32_t)(*desc >> 32);
    if (!(b & SEG_P))
        return true;               /* a not-present descriptor always faults */
    unsigned rpl = compat ? 1 : 3; /* GUEST_KERNEL_RPL */
    unsigned dpl = (b >> 13) & 3;
    if (dpl < rpl)
        dpl = rpl; /* __fixup_guest_selector */
    b = (b & ~SEG_DPL) | (dpl << 13);
    if (b & SEG_S) {
        if (compat) {
            if (b & SEG_L)
                return false;
            uint64_t base = (b & 0xff000000U) | ((b & 0xffU) << 16) | (a >> 16);
            uint64_t limit = ((b & 0xf0000U) | (a & 0xffffU)) + 1;
            if (b & SEG_G)
                limit <<= 12;
            if (base == 0 && limit > COMPAT_VIRT_START) {
                a |= 0x0000ffffU;
                b |= 0x000f0000U;
            }
        }
    } else {
        if ((b & SEG_TYPE) == 0)
            return true; /* type 0: the second half of a 64-bit gate */
        if ((b & SEG_TYPE) != 0xc00)
            return false; /* only call gates */
        uint32_t cs = a >> 16;
        bool ok = (cs >> 3) < FIRST_RESERVED_GDT_ENTRY || cs == (compat ? 0xe019U : 0xe033U) ||
                  (cs & 4);
        if (!ok)
            return false;
        b &= ~SEG_DPL;
        cs = (cs & ~3U) | dpl;
        a = (a & 0xffffU) | (cs << 16);
        if (b & (compat ? 0xe0U : 0xffU))
            return false;
    }
    *desc = (uint64_t)b << 32 | a;
    return true;
}

static int validate_segdesc(struct sim_host *h, uint64_t mfn)
{
    const uint64_t *desc = table_entries(h, mfn);
    bool compat = is_compat(h, sim_frame(h, mfn)->owner);
    for (unsigned i = 0; i < XG_PTES_PER_TABLE; i++) {
        uint64_t dsc = desc[i];
        if (!check_descriptor(compat, &dsc))
            return -EINVAL;
        store_entry(h, mfn, i, dsc);
    }
    return 0;
}

static int validate_page(struct sim_host *h, uint64_t mfn, uint64_t type)
{
    uint32_t owner = sim_frame(h, mfn)->owner;
    switch (type & PGT_type_mask) {
    case PGT_l1_page_table:
        return promote_l1(h, mfn, owner);
    case PGT_l2_page_table:
    case PGT_l3_page_table:
    case PGT_l4_page_table:
        return promote_upper(h, mfn, type, owner);
    case PGT_seg_desc_page:
        return validate_segdesc(h, mfn);
    default:
        return 0;
    }
}

static void devalidate_page(struct sim_host *h, uint64_t mfn, uint64_t type_info)
{
    unsigned level = type_level(type_info);
    uint32_t owner = sim_frame(h, mfn)->owner;
    struct sim_domain *dom = sim_domain(h, owner);
    bool compat = dom && dom->guest_width == 4;
    uint64_t *e = table_entries(h, mfn);

    if (level == 1) {
        for (unsigned i = 0; i < XG_PTES_PER_TABLE; i++)
            sim_put_l1e(h, e[i], owner);
        return;
    }
    unsigned nslots = (level == 3 && compat) ? XG_PAE_L3_ENTRIES : XG_PTES_PER_TABLE;
    for (unsigned i = 0; i < nslots; i++) {
        if (level == 4 && !guest_l4_slot(dom, i))
            continue;
        if (level == 2 && !guest_l2_slot(type_info, i))
            continue;
        put_upper(h, e[i], mfn, level);
        /* demote_l3_table unadjusts what it released */
        if (level == 3 && xg_pte_frame(e[i]) != mfn)
            store_entry(h, mfn, i, unadjust_l3e(e[i], compat));
    }
}
