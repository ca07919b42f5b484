/*
 * validate.c - check an image's page tables in PFN space, as Xen will
 * check them when the restore pins them and sets the vcpus, and plan the
 * pins so that Xen accepts them.
 *
 * 1. Roots: tables the image records as pinned, and each vcpu's cr3
 *    (and 64-bit user cr3).  What a root reaches through ordinary entries
 *    is "live": Xen validates it.  Other tables are stale: Xen never looks
 *    at them, so their problems are warnings.
 * 2. Every entry of every table, against Xen's rules (docs/xen-mm-rules.md):
 *    targets present in the image, one level down or a read-only linear
 *    entry to the same level, no superpages, no forbidden flags, no
 *    writable mapping of a live table or descriptor page, PAE L3 slot 3
 *    rules.  Each violation is a finding with the page, slot, entry, the
 *    page it references, what Xen would log and a hint.
 * 3. Order: Xen accepts a linear entry only to a table already validated,
 *    so pins are simulated in candidate order (lower levels first) and a
 *    pin that needs a table not yet validated waits for it; what can never
 *    be pinned is a cycle, named as such (pin_order.c).
 * 4. The frames Xen's own restore checks: start info, GDT, p2m frames.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "pv/validate_private.h"

/* ------------------------------------------------------------ liveness */

static void mark_pae_l2(struct vctx *c)
{
    if (c->v->width != 4)
        return;
    for (uint64_t p = 0; p < c->v->nr_pfns; p++) {
        if (level_of(c, p) != 3)
            continue;
        const uint64_t *t = table(c, p);
        if (!t || !xg_pte_present(t[XG_PAE_XEN_L2_SLOT]))
            continue;
        uint64_t l2 = xg_pte_frame(t[XG_PAE_XEN_L2_SLOT]);
        if (l2 < c->v->nr_pfns)
            c->f[l2] |= F_PAE_L2;
    }
}

static void push(struct vctx *c, uint64_t pfn)
{
    if (pfn >= c->v->nr_pfns || (c->f[pfn] & F_LIVE) || !level_of(c, pfn))
        return;
    c->f[pfn] |= F_LIVE;
    c->stack[c->nstack++] = pfn;
}

/*
 * A table the stream records at another level than a live entry names it
 * at, which Xen still types by that entry: not pinned (a pin is at the
 * recorded level), not a root (a cr3 is validated at the top level), not
 * validated already from another holder (that is Xen's "Bad type"), and
 * not relevelled before.  tools/libs/guest/xg_sr_restore_x86_pv.c,
 * x86_pv_localise_page, converts L1..L4 alike; mm.c's get_page_from_lNe
 * takes the frame at the level below its holder (docs/xen-mm-rules.md 17).
 */
static bool relevelable(const struct vctx *c, uint64_t tp)
{
    return tp < c->v->nr_pfns && !(c->f[tp] & F_LIVE) && !xg_pfinfo_pinned(c->v->types[tp]) &&
           !((c->f[tp] >> F_RELEVEL_SHIFT) & 7);
}

/*
 * One live table's entries: push the tables one level down; with
 * `relevel`, also give a table recorded at another level the level this
 * entry names it at, when Xen would (relevelable).
 */
static void walk_entries(struct vctx *c, uint64_t p, bool relevel)
{
    unsigned level = level_of(c, p);
    const uint64_t *t = table(c, p);
    if (!t || level < 2)
        return;
    for (unsigned s = 0; s < XG_PTES_PER_TABLE; s++) {
        uint64_t e = t[s];
        if (!xg_pte_present(e) || !guest_slot(c, p, level, s) || (e & XG_PTE_PSE))
            continue;
        uint64_t tp = xg_pte_frame(e);
        unsigned tl = level_of(c, tp);
        /*
         * Another level than the entry names, or the holder's own level (not a linear entry:
         * Xen takes one only to a table already validated at that level, which this one is not).
         */
        if (relevel && tl && tl != level - 1 && tp != p && relevelable(c, tp)) {
            c->f[tp] |= (uint16_t)((level - 1) << F_RELEVEL_SHIFT);
            tl = level - 1;
        }
        if (tl == level - 1)
            push(c, tp);
    }
}

/*
 * What the roots reach, first through entries that name each table at its
 * recorded level.  Then a table still unreached that a live entry names
 * at another level takes that level, as Xen's hypervisor would type it;
 * one a live entry reaches at its recorded level stays at it (a second
 * holder naming it otherwise is Xen's "Bad type", found by
 * check_upper_entry).
 */
static void mark_live(struct vctx *c, uint64_t *roots, size_t nroots)
{
    for (size_t i = 0; i < nroots; i++)
        push(c, roots[i]);
    while (c->nstack)
        walk_entries(c, c->stack[--c->nstack], false);
    for (uint64_t p = 0; p < c->v->nr_pfns; p++) {
        if (!(c->f[p] & F_LIVE))
            continue;
        walk_entries(c, p, true);
        while (c->nstack)
            walk_entries(c, c->stack[--c->nstack], true);
    }
}

/* What live L1 tables map writable: Xen holds a writable type on it; it cannot become a table. */
static void mark_rw_mapped(struct vctx *c)
{
    for (uint64_t p = 0; p < c->v->nr_pfns; p++) {
        if (!(c->f[p] & F_LIVE) || level_of(c, p) != 1)
            continue;
        const uint64_t *t = table(c, p);
        for (unsigned s = 0; t && s < XG_PTES_PER_TABLE; s++) {
            uint64_t tp = xg_pte_frame(t[s]);
            if (xg_pte_present(t[s]) && (t[s] & XG_PTE_RW) && tp < c->v->nr_pfns)
                c->f[tp] |= F_RW_MAPPED;
        }
    }
}

/* ------------------------------------------------------------ entries */

/*
 * One finding about an entry: an error in a live table, a warning (once per table) in a stale
 * one.
 */
static bool entry_finding(struct vctx *c, uint64_t pfn, unsigned level, unsigned slot, uint64_t e,
                          uint64_t ref, const char *fmt, ...) __attribute__((format(printf, 7, 8)));
static bool entry_finding(struct vctx *c, uint64_t pfn, unsigned level, unsigned slot, uint64_t e,
                          uint64_t ref, const char *fmt, ...)
{
    bool live = c->f[pfn] & F_LIVE;
    if (!live && (c->f[pfn] & F_REPORTED))
        return false;
    struct xg_loc l = { XGF_PFN(pfn), XGF_LEVEL(level), XGF_SLOT(slot), XGF_ENTRY(e) };
    if (ref != ~0ULL) {
        l.has_ref_pfn = 1;
        l.ref_pfn = ref;
        l.has_ref_type = 1;
        l.ref_type = type_of(c, ref);
    }
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (live) {
        xg_diag_add(c->d, XG_SEV_ERROR, XG_E_IMAGE, 0, &l, __FILE__, __LINE__, "%s", msg);
    } else {
        c->f[pfn] |= F_REPORTED;
        xg_diag_add(c->d, XG_SEV_WARNING, 0, 0, &l, __FILE__, __LINE__,
                    "%s (in a stale table no pin and no cr3 reaches: Xen never validates it, so it "
                    "is restored as it is)",
                    msg);
    }
    return true;
}

static const char *kind_of(uint32_t t)
{
    switch (xg_pfinfo_level(t)) {
    case 1:
        return "an L1 table";
    case 2:
        return "an L2 table";
    case 3:
        return "an L3 table";
    case 4:
        return "an L4 table";
    default:
        if ((t & XG_PFINFO_LTAB_MASK) == XG_PFINFO_XTAB)
            return "invalid (XTAB: sent without data)";
        return "an ordinary page";
    }
}

/*
 * A live entry naming a pfn the image never sent (or sent as XTAB), within
 * its pfn space.  Xen's restore (tools/libs/guest/xg_sr_restore_x86_pv.c,
 * x86_pv_localise_page) populates a frame for it and goes on; so does xg,
 * with a warning naming the entry.  Returns false when that does not apply.
 */
static bool unsent_target(struct vctx *c, uint64_t p, unsigned level, unsigned s, uint64_t e,
                          uint64_t tp)
{
    if (!(c->f[p] & F_LIVE) || tp >= c->v->nr_pfns)
        return false;
    struct xg_loc l = { XGF_PFN(p),   XGF_LEVEL(level), XGF_SLOT(s),
                        XGF_ENTRY(e), XGF_REF_PFN(tp),  XGF_REF_TYPE(type_of(c, tp)) };
    xg_diag_add(c->d, XG_SEV_WARNING, 0, 0, &l, __FILE__, __LINE__,
                "L%u table at pfn %#llx, slot %u, names pfn %#llx, which the image never sent; "
                "the restore gives it a new zeroed frame, as Xen's restore does",
                level, (unsigned long long)p, s, (unsigned long long)tp);
    if (!(c->f[tp] & F_POPULATE)) {
        c->f[tp] |= F_POPULATE;
        c->nr_populate++;
    }
    return true;
}

static void check_l1_entry(struct vctx *c, uint64_t p, unsigned s, uint64_t e)
{
    uint64_t tp = xg_pte_frame(e);
    if (e & XG_L1_DISALLOW) {
        if (entry_finding(c, p, 1, s, e, ~0ULL,
                          "L1 table at pfn %#llx, slot %u, has "
                          "cache-attribute flags %#x a PV guest may not use",
                          (unsigned long long)p, s, xg_pte_xen_flags(e & XG_L1_DISALLOW)))
            xg_diag_xen_says(c->d, "Bad L1 flags %x", xg_pte_xen_flags(e & XG_L1_DISALLOW));
        return;
    }
    if (!present_in_image(c, tp)) {
        if (unsent_target(c, p, 1, s, e, tp))
            return;
        if (entry_finding(
                c, p, 1, s, e, tp,
                "L1 table at pfn %#llx, slot %u, maps pfn %#llx, which is not in the image",
                (unsigned long long)p, s, (unsigned long long)tp))
            xg_diag_hint(
                c->d,
                "the saving side sent no frame for that pfn (ballooned out, or it could not map "
                "it); the guest still maps it");
        return;
    }
    if (!(e & XG_PTE_RW))
        return;
    bool live_table = (c->f[tp] & F_LIVE) != 0;
    if (live_table) {
        if (entry_finding(c, p, 1, s, e, tp,
                          "L1 table at pfn %#llx, slot %u, maps pfn %#llx writable, but that page "
                          "is %s that Xen will validate",
                          (unsigned long long)p, s, (unsigned long long)tp,
                          kind_of(type_of(c, tp)))) {
            xg_diag_xen_says(c->d,
                             "Bad type (saw %016llx != exp e000000000000000) for "
                             "mfn <new frame of pfn %llx> (pfn %llx)",
                             (unsigned long long)nominal(type_of(c, tp)), (unsigned long long)tp,
                             (unsigned long long)tp);
            xg_diag_hint(
                c->d,
                "a page table must be mapped read-only; the image records pfn %#llx both as a "
                "table and as writable data, so one of the two records "
                "is stale (a race the save did not resend)",
                (unsigned long long)tp);
        }
    } else if (c->f[tp] & F_GDT) {
        if (entry_finding(
                c, p, 1, s, e, tp,
                "L1 table at pfn %#llx, slot %u, maps pfn %#llx writable, but it is a GDT frame",
                (unsigned long long)p, s, (unsigned long long)tp))
            xg_diag_xen_says(c->d,
                             "Bad type (saw e400000000000001 != exp a000000000000000) "
                             "for mfn <new frame of pfn %llx> (pfn %llx)",
                             (unsigned long long)tp, (unsigned long long)tp);
    }
}

/*
 * A live upper-level entry to a page the image records as ordinary, all of
 * whose entries are non-present: Xen's get_page_type (xen/arch/x86/mm.c)
 * changes the type of a page nobody holds a type reference on, and its
 * validation (promote_l1_table..promote_l3_table) passes on non-present
 * entries, so Xen retypes it and restores the guest.  Not when a live L1
 * maps it writable or it is a GDT frame (a type reference Xen will hold),
 * nor when its contents cannot be read (offline).  A note, then accepted;
 * the level it takes is recorded: a live entry needing another level is
 * refused (retype_conflict), and the pin simulation sees a table.
 */
static bool retypable(struct vctx *c, uint64_t p, unsigned level, unsigned s, uint64_t e,
                      uint64_t tp)
{
    if (!(c->f[p] & F_LIVE) || level_of(c, tp) || type_of(c, tp) != XG_PFINFO_NOTAB ||
        (c->f[tp] & (F_RW_MAPPED | F_GDT)) || !c->v->page)
        return false;
    const uint8_t *page = c->v->page(c->v->arg, tp);
    if (!page)
        return false;
    for (unsigned i = 0; i < XG_PTES_PER_TABLE; i++) {
        uint64_t x;
        memcpy(&x, page + i * 8, 8);
        if (xg_pte_present(x))
            return false;
    }
    c->f[tp] |= (uint16_t)((level - 1) << F_RETYPED_SHIFT);
    struct xg_loc l = { XGF_PFN(p),   XGF_LEVEL(level), XGF_SLOT(s),
                        XGF_ENTRY(e), XGF_REF_PFN(tp),  XGF_REF_TYPE(type_of(c, tp)) };
    xg_diag_add(c->d, XG_SEV_NOTE, 0, 0, &l, __FILE__, __LINE__,
                "L%u table at pfn %#llx, slot %u, points to pfn %#llx, recorded as an ordinary "
                "page; all its entries are non-present, so Xen makes it an L%u table when it "
                "validates this one, and so does the restore",
                level, (unsigned long long)p, s, (unsigned long long)tp, level - 1);
    return true;
}

/*
 * A live entry to an ordinary empty page an earlier live entry already made a table of
 * another level: Xen's get_page_type gives the page the type of whichever entry it
 * validates first and refuses the other (the type is in use, its count is not zero).
 */
static void retype_conflict(struct vctx *c, uint64_t p, unsigned level, unsigned s, uint64_t e,
                            uint64_t tp)
{
    unsigned taken = retyped_level(c, tp);
    if (entry_finding(c, p, level, s, e, tp,
                      "L%u table at pfn %#llx, slot %u, points to pfn %#llx, an ordinary page "
                      "another live entry makes an L%u table; Xen cannot make it an L%u too",
                      level, (unsigned long long)p, s, (unsigned long long)tp, taken, level - 1)) {
        xg_diag_xen_says(c->d,
                         "Bad type (saw %016llx != exp %016llx) for mfn <new frame of "
                         "pfn %llx> (pfn %llx)",
                         (unsigned long long)(((uint64_t)taken << 61) | (1ULL << 58) | 1),
                         (unsigned long long)((uint64_t)(level - 1) << 61), (unsigned long long)tp,
                         (unsigned long long)tp);
        xg_diag_hint(c->d,
                     "a page is a table of one level at a time; the image names pfn %#llx "
                     "from live tables of two levels",
                     (unsigned long long)tp);
    }
}

static void check_upper_entry(struct vctx *c, uint64_t p, unsigned level, unsigned s, uint64_t e)
{
    bool compat = c->v->width == 4;
    uint64_t tp = xg_pte_frame(e);
    uint64_t disallow = (compat && level == 3) ? XG_COMPAT_L3_DISALLOW : XG_L2_DISALLOW;
    if (e & XG_PTE_PSE) {
        if (entry_finding(c, p, level, s, e, ~0ULL,
                          "L%u table at pfn %#llx, slot %u, maps a superpage", level,
                          (unsigned long long)p, s)) {
            xg_diag_xen_says(c->d, "Bad L%u flags 80", level);
            xg_diag_hint(c->d, "Xen 4.17 gives PV guests no superpages");
        }
        return;
    }
    if (e & disallow) {
        if (entry_finding(
                c, p, level, s, e, ~0ULL,
                "L%u table at pfn %#llx, slot %u, has flags %#x Xen refuses at this level", level,
                (unsigned long long)p, s, xg_pte_xen_flags(e & disallow)))
            xg_diag_xen_says(c->d, "Bad L%u flags %x", level, xg_pte_xen_flags(e & disallow));
        return;
    }
    if (!present_in_image(c, tp)) {
        /* Xen then validates the zeroed frame as an L(level-1) table: no entry is present. */
        if (unsent_target(c, p, level, s, e, tp))
            return;
        if (entry_finding(
                c, p, level, s, e, tp,
                "L%u table at pfn %#llx, slot %u, points to pfn %#llx, which is not in the image",
                level, (unsigned long long)p, s, (unsigned long long)tp))
            xg_diag_xen_says(c->d, "Could not get page ref for mfn <none: pfn %llx has no frame>",
                             (unsigned long long)tp);
        return;
    }
    unsigned tl = level_of(c, tp);
    if (tl == level - 1)
        return;
    if (!tl && retyped_level(c, tp) && (c->f[p] & F_LIVE)) {
        if (retyped_level(c, tp) != level - 1)
            retype_conflict(c, p, level, s, e, tp);
        return;
    }
    if (tl == level) {
        if (compat && level == 3) {
            entry_finding(c, p, level, s, e, tp,
                          "PAE L3 table at pfn %#llx, slot %u, points to another L3 (pfn %#llx); "
                          "32-bit guests get no linear L3 entries",
                          (unsigned long long)p, s, (unsigned long long)tp);
            return;
        }
        if (e & XG_PTE_RW) {
            if (entry_finding(c, p, level, s, e, tp,
                              "L%u table at pfn %#llx, slot %u, is a writable linear (recursive) "
                              "entry to pfn %#llx",
                              level, (unsigned long long)p, s, (unsigned long long)tp)) {
                xg_diag_xen_says(c->d, "Attempt to create linear p.t. with write perms");
                xg_diag_hint(c->d, "Xen accepts linear page-table entries only read-only");
            }
            return;
        }
        /*
         * Only entries Xen will validate count (mm.c, define_get_linear_pagetable:
         * inc_linear_entries/inc_linear_uses happen when the holder is validated):
         * a stale table's linear entry never becomes one.
         */
        if (tp != p && (c->f[p] & F_LIVE)) {
            c->f[p] |= F_LIN_SRC;
            c->f[tp] |= F_LIN_DST;
        }
        return;
    }
    if (retypable(c, p, level, s, e, tp))
        return;
    if (entry_finding(
            c, p, level, s, e, tp,
            "L%u table at pfn %#llx, slot %u, points to pfn %#llx, which is %s, not an L%u table",
            level, (unsigned long long)p, s, (unsigned long long)tp, kind_of(type_of(c, tp)),
            level - 1)) {
        if (tl)
            xg_diag_xen_says(
                c->d,
                "Bad type (saw %016llx != exp %016llx) for mfn <new frame of pfn %llx> (pfn %llx)",
                (unsigned long long)nominal(type_of(c, tp)),
                (unsigned long long)((uint64_t)(level - 1) << 61), (unsigned long long)tp,
                (unsigned long long)tp);
        else if (type_of(c, tp) == XG_PFINFO_NOTAB && !(c->v->page && c->v->page(c->v->arg, tp)))
            xg_diag_hint(c->d,
                         "the saving side recorded no page-table type for pfn %#llx, so its "
                         "contents were saved as data; if every entry in it is non-present, "
                         "Xen makes it a table and a restore onto a host accepts it, but "
                         "this check cannot read ordinary pages offline",
                         (unsigned long long)tp);
        else
            xg_diag_hint(
                c->d,
                "the saving side recorded no page-table type for pfn %#llx, so its contents were "
                "saved as data, still holding the old host's machine frames; the save was wrong "
                "(as when a dom0 cannot map the guest's tables read-only), not the guest",
                (unsigned long long)tp);
    }
}

static void check_tables(struct vctx *c)
{
    bool compat = c->v->width == 4;
    for (uint64_t p = 0; p < c->v->nr_pfns; p++) {
        unsigned level = level_of(c, p);
        if (!level)
            continue;
        const uint64_t *t = table(c, p);
        if (!t)
            continue;
        if (compat && level == 4) {
            entry_finding(c, p, 4, 0, 0, ~0ULL,
                          "the image of a 32-bit guest records pfn %#llx as an L4 table",
                          (unsigned long long)p);
            continue;
        }
        if (compat && level == 3 && (c->f[p] & F_LIVE)) {
            if (!xg_pte_present(t[XG_PAE_XEN_L2_SLOT])) {
                entry_finding(c, p, 3, XG_PAE_XEN_L2_SLOT, t[XG_PAE_XEN_L2_SLOT], ~0ULL,
                              "PAE L3 table at pfn %#llx has no entry in "
                              "slot 3, which Xen requires",
                              (unsigned long long)p);
            } else {
                uint64_t l2 = xg_pte_frame(t[XG_PAE_XEN_L2_SLOT]);
                if (l2 < c->v->nr_pfns)
                    c->pae_refs[l2]++;
            }
        }
        for (unsigned s = 0; s < XG_PTES_PER_TABLE; s++) {
            uint64_t e = t[s];
            if (!xg_pte_present(e) || !guest_slot(c, p, level, s))
                continue;
            if (level == 1)
                check_l1_entry(c, p, s, e);
            else
                check_upper_entry(c, p, level, s, e);
            if (compat && level == 3 && s != XG_PAE_XEN_L2_SLOT && (c->f[p] & F_LIVE)) {
                uint64_t l2 = xg_pte_frame(e);
                if (l2 < c->v->nr_pfns && (c->f[l2] & F_PAE_L2))
                    c->pae_refs[l2]++;
            }
        }
    }
    if (compat) {
        for (uint64_t p = 0; p < c->v->nr_pfns; p++) {
            if ((c->f[p] & F_PAE_L2) && c->pae_refs[p] > 1) {
                struct xg_loc l = { XGF_PFN(p), XGF_LEVEL(2) };
                xg_diag_add(c->d, XG_SEV_ERROR, XG_E_IMAGE, 0, &l, __FILE__, __LINE__,
                            "the L2 at pfn %#llx holds Xen's mappings for a PAE L3 (slot 3) but is "
                            "referenced %u times",
                            (unsigned long long)p, c->pae_refs[p]);
                xg_diag_xen_says(c->d, "PAE L3 3rd slot is shared");
            }
            if ((c->f[p] & F_PAE_L2) && xg_pfinfo_pinned(c->v->types[p])) {
                struct xg_loc l = { XGF_PFN(p), XGF_LEVEL(2), XGF_REF_TYPE(c->v->types[p]) };
                xg_diag_add(c->d, XG_SEV_ERROR, XG_E_IMAGE, 0, &l, __FILE__, __LINE__,
                            "the L2 at pfn %#llx is pinned as an ordinary L2 but serves as a PAE "
                            "L3's slot-3 table",
                            (unsigned long long)p);
                xg_diag_xen_says(c->d,
                                 "Bad type (saw 4600000000000001 != exp "
                                 "4000000000000000) for mfn <new frame of pfn %llx>",
                                 (unsigned long long)p);
            }
        }
    }
    for (uint64_t p = 0; p < c->v->nr_pfns; p++) {
        if ((c->f[p] & F_LIN_SRC) && (c->f[p] & F_LIN_DST) && (c->f[p] & F_LIVE)) {
            struct xg_loc l = { XGF_PFN(p), XGF_LEVEL(level_of(c, p)) };
            xg_diag_add(c->d, XG_SEV_ERROR, XG_E_IMAGE, 0, &l, __FILE__, __LINE__,
                        "the L%u table at pfn %#llx holds linear entries to other tables and is "
                        "itself the target of one; Xen allows a table to be one or the other",
                        level_of(c, p), (unsigned long long)p);
            xg_diag_hint(
                c->d,
                "guests such as NetBSD clear their alternate recursive slots before suspending");
        }
    }
}

/* ------------------------------------------------------------ roots and special frames */

static void root_error(struct vctx *c, unsigned vc, const char *what, uint64_t p, bool user)
{
    uint32_t t = type_of(c, p);
    struct xg_loc l = { XGF_VCPU(vc), XGF_PFN(p), XGF_REF_TYPE(t) };
    if (p >= c->v->nr_pfns) {
        xg_diag_add(c->d, XG_SEV_ERROR, XG_E_IMAGE, 0, &l, __FILE__, __LINE__,
                    "vcpu%u's %s points to pfn %#llx, beyond the image's %llu pfns", vc, what,
                    (unsigned long long)p, (unsigned long long)c->v->nr_pfns);
        xg_diag_xen_says(c->d, "cr3 (pfn %#llx) out of range", (unsigned long long)p);
        return;
    }
    unsigned want = user ? 4 : c->v->levels;
    xg_diag_add(c->d, XG_SEV_ERROR, XG_E_IMAGE, 0, &l, __FILE__, __LINE__,
                "vcpu%u's %s points to pfn %#llx, which the image records as %s, not as the "
                "top-level (L%u) table a %s needs",
                vc, what, (unsigned long long)p, kind_of(t), want, what);
    xg_diag_xen_says(c->d, "%s (pfn %#llx) has bad type %u, expected %u", user ? "cr1" : "cr3",
                     (unsigned long long)p, (t & XG_PFINFO_LTABTYPE_MASK) >> XG_PFINFO_SHIFT, want);
    uint64_t tables = 0;
    for (uint64_t q = 0; q < c->v->nr_pfns; q++)
        tables += level_of(c, q) != 0;
    static const char *const once = "root hint";
    if (!xg_pfinfo_level(t) && !c->hinted) {
        c->hinted = once;
        xg_diag_hint(c->d,
                     "the image holds %llu page tables; pfn %#llx was saved %s. If the saving host "
                     "logged \"Bad type (saw ... != exp e000000000000000)\" for the guest's page "
                     "tables, its dom0 could not map them read-only and the save recorded them as "
                     "ordinary or invalid pages: the save was wrong, not the guest",
                     (unsigned long long)tables, (unsigned long long)p,
                     (t & XG_PFINFO_LTAB_MASK) == XG_PFINFO_XTAB ? "without any data (as invalid)"
                                                                 : "as an ordinary page");
    }
}

static void check_frame(struct vctx *c, const char *what, int vc, uint64_t p, const char *xen_says)
{
    uint32_t t = type_of(c, p);
    struct xg_loc l = { XGF_PFN(p), XGF_REF_TYPE(t) };
    if (vc >= 0) {
        l.has_vcpu = 1;
        l.vcpu = (unsigned)vc;
    }
    if (!present_in_image(c, p)) {
        xg_diag_add(c->d, XG_SEV_ERROR, XG_E_IMAGE, 0, &l, __FILE__, __LINE__,
                    "%s (pfn %#llx) is not in the image", what, (unsigned long long)p);
        if (xen_says)
            xg_diag_xen_says(c->d, "%s", xen_says);
    } else if (xg_pfinfo_level(t)) {
        xg_diag_add(c->d, XG_SEV_ERROR, XG_E_IMAGE, 0, &l, __FILE__, __LINE__,
                    "%s (pfn %#llx) is recorded as %s; it must be an ordinary page", what,
                    (unsigned long long)p, kind_of(t));
        if (xen_says)
            xg_diag_xen_says(c->d, "%s", xen_says);
    }
}

/*
 * A GDT frame's descriptors, as Xen's check_descriptor (pv/descriptor-tables.c)
 * checks them when XEN_DOMCTL_setvcpucontext makes the frame a GDT frame:
 * that comes after every pin, so what it would refuse is refused here.
 * Onto a host it reads the frame; offline (xg-inspect) restore.c noted, as the
 * page went by, whether Xen would refuse it (the vcpu records come after the pages).
 */
static void check_gdt_contents(struct vctx *c, unsigned vc, unsigned g, uint64_t p)
{
    if (!c->v->page || !present_in_image(c, p) || xg_pfinfo_level(type_of(c, p)))
        return;
    const uint8_t *page = c->v->page(c->v->arg, p);
    uint64_t desc;
    const char *why;
    if (!page && c->v->gdt_refused && c->v->gdt_refused(c->v->arg, p)) {
        struct xg_loc l = { XGF_VCPU(vc), XGF_PFN(p) };
        xg_diag_add(c->d, XG_SEV_ERROR, XG_E_IMAGE, 0, &l, __FILE__, __LINE__,
                    "vcpu%u's GDT frame %u (pfn %#llx) holds a descriptor Xen refuses", vc, g,
                    (unsigned long long)p);
        xg_diag_hint(c->d, "Xen checks all 512 descriptors of a GDT frame (check_descriptor) "
                           "when it sets the vcpu's context; XEN_DOMCTL_setvcpucontext "
                           "would fail with EINVAL");
        return;
    }
    int i = page ? xg_pv_gdt_frame_check(page, c->v->width, &desc, &why) : -1;
    if (i < 0)
        return;
    struct xg_loc l = { XGF_VCPU(vc), XGF_PFN(p), XGF_SLOT((unsigned)i), XGF_ENTRY(desc) };
    xg_diag_add(c->d, XG_SEV_ERROR, XG_E_IMAGE, 0, &l, __FILE__, __LINE__,
                "vcpu%u's GDT frame %u (pfn %#llx) holds, in "
                "descriptor %d (%#018llx), %s; Xen refuses it",
                vc, g, (unsigned long long)p, i, (unsigned long long)desc, why);
    xg_diag_hint(c->d, "Xen checks every descriptor of a GDT frame (check_descriptor) when it sets "
                       "the vcpu's context, after every table is pinned; "
                       "XEN_DOMCTL_setvcpucontext would fail with EINVAL");
}

static void check_special(struct vctx *c, struct xg_pv_plan *plan)
{
    char says[160];
    if (!c->v->nr_vcpus || !c->v->vcpu_present[0]) {
        xg_diag_add(c->d, XG_SEV_ERROR, XG_E_IMAGE, 0, NULL, __FILE__, __LINE__,
                    "the image has no X86_PV_VCPU_BASIC record for vcpu0");
        xg_diag_xen_says(c->d, "Sender didn't send vcpu0's basic state");
    } else {
        uint64_t si = c->v->vcpu[0].start_info;
        snprintf(says, sizeof(says), "Start Info pfn %#llx has bad type", (unsigned long long)si);
        check_frame(c, "vcpu0's start info page (its suspend record, in rdx)", 0, si, says);
        const uint8_t *page = c->v->page && present_in_image(c, si) ? c->v->page(c->v->arg, si)
                                                                    : NULL;
        if (page) {
            const struct xg_start_info_layout *L = xg_start_info_layout(c->v->width);
            plan->store_pfn = xg_guest_word(page, L->store_mfn, L->word);
            plan->console_pfn = xg_guest_word(page, L->console_mfn, L->word);
            check_frame(c, "the xenstore page named in start info", -1, plan->store_pfn,
                        "XenStore pfn has bad mfn");
            check_frame(c, "the console page named in start info", -1, plan->console_pfn,
                        "Console pfn has bad mfn");
        }
    }
    for (unsigned vc = 0; vc < c->v->nr_vcpus; vc++) {
        if (!c->v->vcpu_present[vc])
            continue;
        for (unsigned g = 0; g < c->v->vcpu[vc].nr_gdt; g++) {
            uint64_t p = c->v->vcpu[vc].gdt[g];
            snprintf(says, sizeof(says), "GDT frame %u (pfn %#llx) has bad type %u", g,
                     (unsigned long long)p,
                     (type_of(c, p) & XG_PFINFO_LTABTYPE_MASK) >> XG_PFINFO_SHIFT);
            check_frame(c, "a GDT frame", (int)vc, p, says);
            check_gdt_contents(c, vc, g, p);
        }
    }
    for (unsigned i = 0; i < c->v->nr_p2m; i++) {
        uint64_t p = c->v->p2m_pfns[i];
        snprintf(says, sizeof(says), "pfn (%#llx) for p2m_frame_list[%u] has bad type %u",
                 (unsigned long long)p, i,
                 (type_of(c, p) & XG_PFINFO_LTABTYPE_MASK) >> XG_PFINFO_SHIFT);
        check_frame(c, "a frame of the guest's p2m", -1, p, says);
    }
    if (!c->v->have_shared_info)
        xg_diag_add(c->d, XG_SEV_ERROR, XG_E_IMAGE, 0, NULL, __FILE__, __LINE__,
                    "the image has no SHARED_INFO record");
}

/* The tables Xen will type at another level than recorded: a note each, and the plan's levels. */
static int plan_relevels(struct vctx *c, struct xg_pv_plan *plan)
{
    for (uint64_t p = 0; p < c->v->nr_pfns; p++) {
        unsigned l = (c->f[p] >> F_RELEVEL_SHIFT) & 7;
        if (!l)
            continue;
        if (!plan->level && !(plan->level = calloc(c->v->nr_pfns, 1)))
            return xg_diag_err(c->d, XG_E_NOMEM, NULL, "out of memory");
        plan->level[p] = (uint8_t)l;
        plan->nr_relevelled++;
        struct xg_loc loc = { XGF_PFN(p), XGF_LEVEL(l) };
        if (plan->nr_relevelled <= 8)
            xg_diag_note(c->d, &loc,
                         "pfn %#llx is recorded as %s but not pinned, and a live L%u table names "
                         "it: Xen validates it as an L%u table, and xg restores it as one",
                         (unsigned long long)p, kind_of(type_of(c, p)), l + 1, l);
    }
    return 0;
}

int xg_pv_validate(const struct xg_pv_image_view *v, struct xg_pv_plan *plan, xg_diag *d)
{
    memset(plan, 0, sizeof(*plan));
    plan->store_pfn = plan->console_pfn = ~0ULL;
    size_t errors_before = xg_diag_total(d, XG_SEV_ERROR);
    uint64_t n = v->nr_pfns;
    struct vctx c = { .v = v, .d = d };
    c.f = calloc(n ? n : 1, sizeof(uint16_t));
    c.stack = malloc((n ? n : 1) * sizeof(uint64_t));
    c.undo = malloc((n ? n : 1) * sizeof(uint64_t));
    c.pae_refs = v->width == 4 ? calloc(n ? n : 1, sizeof(uint16_t)) : NULL;
    plan->live = calloc(XG_BITMAP_LONGS(n ? n : 1), sizeof(unsigned long));
    uint64_t *roots = malloc((n + 2 * v->nr_vcpus + 1) * sizeof(uint64_t));
    int rc = 0;
    if (!c.f || !c.stack || !c.undo || (v->width == 4 && !c.pae_refs) || !plan->live || !roots) {
        rc = xg_diag_err(d, XG_E_NOMEM, NULL, "out of memory validating %llu pfns",
                         (unsigned long long)n);
        goto out;
    }
    for (unsigned vc = 0; vc < v->nr_vcpus; vc++)
        if (v->vcpu_present[vc])
            for (unsigned g = 0; g < v->vcpu[vc].nr_gdt; g++)
                if (v->vcpu[vc].gdt[g] < n)
                    c.f[v->vcpu[vc].gdt[g]] |= F_GDT;
    mark_pae_l2(&c);

    size_t nroots = 0;
    for (uint64_t p = 0; p < n; p++) {
        if (level_of(&c, p))
            plan->nr_tables++;
        if (xg_pfinfo_pinned(v->types[p]))
            roots[nroots++] = p;
    }
    for (unsigned vc = 0; vc < v->nr_vcpus; vc++) {
        if (!v->vcpu_present[vc])
            continue;
        const struct xg_pv_vcpu_frames *f = &v->vcpu[vc];
        if (f->cr3 >= n || level_of(&c, f->cr3) != v->levels)
            root_error(&c, vc, "cr3", f->cr3, false);
        else
            roots[nroots++] = f->cr3;
        if (f->has_user) {
            if (f->user >= n || level_of(&c, f->user) != 4)
                root_error(&c, vc, "user cr3", f->user, true);
            else
                roots[nroots++] = f->user;
        }
    }
    mark_live(&c, roots, nroots);
    if ((rc = plan_relevels(&c, plan)) < 0)
        goto out;
    mark_rw_mapped(&c);
    for (uint64_t p = 0; p < n; p++) {
        if (!level_of(&c, p))
            continue;
        if (c.f[p] & F_LIVE) {
            xg__set_bit(plan->live, p);
            plan->nr_live++;
        } else {
            plan->nr_stale++;
        }
    }
    check_tables(&c);
    check_special(&c, plan);
    if (c.nr_populate) {
        plan->populate_pfn = malloc(c.nr_populate * sizeof(uint64_t));
        if (!plan->populate_pfn) {
            rc = xg_diag_err(d, XG_E_NOMEM, NULL, "out of memory");
            goto out;
        }
        for (uint64_t p = 0; p < n; p++)
            if (c.f[p] & F_POPULATE)
                plan->populate_pfn[plan->nr_populate++] = p;
    }
    if (xg_diag_total(d, XG_SEV_ERROR) == errors_before && (rc = xg__pv_plan_pins(&c, plan)) < 0)
        goto out;
    if (plan->nr_stale)
        xg_diag_note(d, NULL,
                     "%llu of the image's %llu page tables are stale (no pin and no cr3 reaches "
                     "them); Xen never validates them and they are restored as they are",
                     (unsigned long long)plan->nr_stale, (unsigned long long)plan->nr_tables);
    rc = xg_diag_total(d, XG_SEV_ERROR) > errors_before ? XG_E_IMAGE : 0;
out:
    free(c.f);
    free(c.stack);
    free(c.undo);
    free(c.pae_refs);
    free(roots);
    return rc;
}

void xg_pv_plan_free(struct xg_pv_plan *plan)
{
    free(plan->pin_pfn);
    free(plan->pin_level);
    free(plan->live);
    free(plan->populate_pfn);
    free(plan->level);
    memset(plan, 0, sizeof(*plan));
}
