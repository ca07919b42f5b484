/*
 * churn_space.c - address spaces as fork/exec/exit make and free them: free
 * data pages become tables (zeroed and given the kernel's entries while
 * still writable, then read-only in the direct map, user entries written
 * through mmu_update, pinned), a vcpu may run on the new space, and a few
 * ticks later it is torn down and its frames are data pages again.
 *
 * One address space, per layout (USER_VA is where every process's user
 * page lives, so the guest's canaries hold in whichever space a vcpu runs):
 *   linux64   kernel L4 (guest kernel slots copied, as pgd_alloc does),
 *             user L4, a shared L3, L2, L1; both L4s pinned; a switch
 *             loads cr3 and the user cr3.
 *   pae32     L3 with its own slot-3 L2 (the kernel's entries copied, as
 *             pgd_ctor does), a user L2 and L1; the L3 pinned.
 *   netbsd64  L4 with its recursive slot and, while it lives, an
 *             alternate recursive entry to another process's L4; L3, L2,
 *             L1; the L4 and the L1 pinned, as NetBSD's pmap pins.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hv/sim/churn_private.h"
#include "internal.h"
#include "pv/abi.h"
#include "pv/pte.h"

/* ------------------------------------------------------------ address spaces */

static uint64_t space_mfn(struct churn *c, const struct space *s, unsigned i)
{
    return churn_mfn_of(c, s->pfn[i]);
}

/* Which frames a new space needs, per layout; the last one is its data page. */
static void plan_space(struct churn *c, struct space *s)
{
    static const unsigned linux64[] = { 4, 4, 3, 2, 1, 0 }, pae32[] = { 3, 2, 2, 1, 0 },
                          netbsd64[] = { 4, 3, 2, 1, 0 };
    const unsigned *lv;
    memset(s, 0, sizeof(*s));
    s->vcpu = -1;
    switch (c->gi.layout) {
    case SIM_LAYOUT_LINUX64:
        lv = linux64, s->nr = 6, s->l1 = 4, s->user_root = 1, s->nr_pins = 2, s->pin[1] = 1;
        break;
    case SIM_LAYOUT_PAE32:
        lv = pae32, s->nr = 5, s->l1 = 3, s->nr_pins = 1;
        break;
    default:
        lv = netbsd64, s->nr = 5, s->l1 = 3, s->nr_pins = 2, s->pin[1] = 3;
        break;
    }
    for (unsigned i = 0; i < s->nr; i++)
        s->level[i] = lv[i];
}

/* Contents the kernel writes while the new tables are still its own writable pages. */
static int write_kernel_half(struct churn *c, struct space *s)
{
    uint64_t root = sim_vcpu_root(c->dom, 0);
    const uint64_t *src = (const uint64_t *)sim_frame_data(c->h, root);
    int e = 0;
    for (unsigned i = 0; i < s->nr && e == 0; i++)
        if (s->level[i])
            e = churn_guest_store(c, s->pfn[i], 0, NULL, SIM_PAGE);
    switch (c->gi.layout) {
    case SIM_LAYOUT_LINUX64:
        /* pgd_alloc: the kernel's L4 slots (Xen fills its own at pin time). */
        for (unsigned slot = 256; slot < XG_PTES_PER_TABLE && e == 0; slot++)
            if (!xg_l4_is_xen_slot(slot) && src[slot])
                e = churn_guest_store(c, s->pfn[0], slot * 8U, &src[slot], 8);
        break;
    case SIM_LAYOUT_PAE32: {
        /* pgd_ctor: the kernel's own slot-3 L2, copied below Xen's slots. */
        uint64_t kl2 = xg_pte_frame(src[XG_PAE_XEN_L2_SLOT]);
        if (!sim_mfn_valid(c->h, kl2))
            return churn_refused(c, -EFAULT, "copying the kernel's L2", s->pfn[1]);
        e = e ? e
              : churn_guest_store(c, s->pfn[1], 0, sim_frame_data(c->h, kl2),
                                  XG_COMPAT_L2_FIRST_XEN_SLOT * 8U);
        break;
    }
    default:
        e = e ? e : churn_guest_store(c, s->pfn[0], 511 * 8U, &src[511], 8);
        break;
    }
    return e;
}

/* The entries of the user half (and the links between the new tables), through mmu_update. */
static int link_tables(struct churn *c, struct space *s, unsigned vcpu)
{
    /* The vcpu's user page, shared as fork shares pages, keeps its canary in view. */
    uint64_t up_mfn = churn_table_at(c, c->home_root[vcpu], USER_VA, 1);
    if (up_mfn == NONE)
        return churn_refused(c, -EFAULT, "finding the user page to share", 0);
    uint64_t up = ((const uint64_t *)sim_frame_data(c->h,
                                                    up_mfn))[churn_va_index(c->width, USER_VA, 1)];
    if (!xg_pte_present(up))
        return churn_refused(c, -EFAULT, "finding the user page to share", 0);
    const char *st = "writing an entry of a new page table";
    unsigned i2 = churn_va_index(c->width, USER_VA, 2);
    uint64_t m[SPACE_FRAMES];
    for (unsigned i = 0; i < s->nr; i++)
        m[i] = space_mfn(c, s, i);
    int e;
    switch (c->gi.layout) {
    case SIM_LAYOUT_LINUX64:
        if ((e = churn_mmu(c, s->pfn[0], 0, xg_pte_make(m[2], UPPER_FLAGS), st)) < 0 ||
            (e = churn_mmu(c, s->pfn[1], 0, xg_pte_make(m[2], UPPER_FLAGS), st)) < 0 ||
            (e = churn_mmu(c, s->pfn[2], 0, xg_pte_make(m[3], UPPER_FLAGS), st)) < 0 ||
            (e = churn_mmu(c, s->pfn[3], i2, xg_pte_make(m[4], UPPER_FLAGS), st)) < 0)
            return e;
        break;
    case SIM_LAYOUT_PAE32:
        if ((e = churn_mmu(c, s->pfn[0], 0, xg_pte_make(m[2], XG_PTE_P), st)) < 0 ||
            (e = churn_mmu(c, s->pfn[0], XG_PAE_XEN_L2_SLOT, xg_pte_make(m[1], XG_PTE_P), st)) <
                0 ||
            (e = churn_mmu(c, s->pfn[2], i2, xg_pte_make(m[3], UPPER_FLAGS), st)) < 0)
            return e;
        break;
    default:
        if ((e = churn_mmu(c, s->pfn[0], NETBSD_RECURSIVE_SLOT, xg_pte_make(m[0], RO_FLAGS), st)) <
                0 ||
            (e = churn_mmu(c, s->pfn[0], 0, xg_pte_make(m[1], UPPER_FLAGS), st)) < 0 ||
            (e = churn_mmu(c, s->pfn[1], 0, xg_pte_make(m[2], UPPER_FLAGS), st)) < 0 ||
            (e = churn_mmu(c, s->pfn[2], i2, xg_pte_make(m[3], UPPER_FLAGS), st)) < 0)
            return e;
        break;
    }
    return churn_mmu(c, s->pfn[s->l1], churn_va_index(c->width, USER_VA, 1),
                     xg_pte_make(xg_pte_frame(up), USER_FLAGS), st);
}

/* netbsd64: an alternate recursive entry to a validated L4 that holds no linear entry itself. */
static int set_apdp(struct churn *c, struct space *s, unsigned vcpu)
{
    uint64_t target = c->home_root[vcpu];
    const struct sim_frame *tf = sim_frame(c->h, target);
    if (tf->linear > 0 ||
        (tf->type_info & (PGT_type_mask | PGT_validated)) != (PGT_l4_page_table | PGT_validated))
        return 0;
    int e = churn_mmu(c, s->pfn[0], NETBSD_APDP_SLOT, xg_pte_make(target, RO_FLAGS),
                      "setting an alternate recursive entry");
    s->apdp = e == 0;
    return e;
}

int churn_build_space(struct churn *c, unsigned vcpu)
{
    struct space s;
    plan_space(c, &s);
    for (unsigned i = 0; i < s.nr; i++) {
        if (!churn_take_free_page(c, &s.pfn[i])) {
            while (i-- > 0)
                c->busy[s.pfn[i]] = 0;
            return 0; /* no free memory now: no fork */
        }
    }
    int e = write_kernel_half(c, &s);
    /* Each table's direct-map alias becomes read-only before the table is used as one. */
    for (unsigned i = 0; i < s.nr && e == 0; i++)
        if (s.level[i] && !(c->o->bugs & SIM_CHURN_BUG_NO_RO))
            e = churn_set_direct_map(c, s.pfn[i], space_mfn(c, &s, i), RO_FLAGS,
                                     "making a new page table's direct-map alias read-only");
    if (e == 0)
        e = link_tables(c, &s, vcpu);
    for (unsigned p = 0; p < s.nr_pins && e == 0; p++) {
        unsigned i = s.pin[p];
        e = sim_pin(c->h, c->domid, s.level[i], space_mfn(c, &s, i));
        if (e < 0)
            e = churn_refused(c, e, "pinning a new page table", s.pfn[i]);
    }
    /* The process touches its own page: an entry added to a live L1, as a page fault does. */
    if (e == 0)
        e = churn_mmu(c, s.pfn[s.l1], churn_va_index(c->width, USER_VA, 1) + 1,
                      xg_pte_make(space_mfn(c, &s, s.nr - 1), USER_FLAGS),
                      "mapping a page in a live L1");
    if (e == 0 && c->gi.layout == SIM_LAYOUT_NETBSD64)
        e = set_apdp(c, &s, vcpu);
    if (e == 0 && !c->hosting[vcpu] && (churn_rnd(c) & 1)) {
        uint64_t user = s.user_root != s.root ? space_mfn(c, &s, s.user_root) : NONE;
        e = churn_set_cr3(c, vcpu, space_mfn(c, &s, s.root), user);
        if (e == 0) {
            s.vcpu = (int)vcpu;
            c->hosting[vcpu] = true;
            c->st->cr3_switches++;
        }
    }
    if (e < 0)
        return e;
    s.ttl = 1 + (unsigned)(churn_rnd(c) % 20);
    if (c->nr_spaces == c->cap_spaces) {
        size_t n = c->cap_spaces ? c->cap_spaces * 2 : 64;
        struct space *ns = realloc(c->spaces, n * sizeof(*ns));
        if (!ns)
            return churn_refused(c, -ENOMEM, "keeping track of its processes", 0);
        c->spaces = ns;
        c->cap_spaces = n;
    }
    c->spaces[c->nr_spaces++] = s;
    c->st->spaces_built++;
    return 0;
}

static int tear_down_space(struct churn *c, struct space *s)
{
    int e = 0;
    if (s->vcpu >= 0 && !(c->o->bugs & SIM_CHURN_BUG_KEEP_CR3)) {
        unsigned v = (unsigned)s->vcpu;
        e = churn_set_cr3(c, v, c->home_root[v], s->user_root != s->root ? c->home_user[v] : NONE);
        if (e < 0)
            return e;
        c->hosting[v] = false;
        s->vcpu = -1;
    }
    /* exit: the process's mappings go, then its tables. */
    if ((e = churn_mmu(c, s->pfn[s->l1], churn_va_index(c->width, USER_VA, 1) + 1, 0,
                       "unmapping a page from a live L1")) < 0)
        return e;
    if (s->apdp && (e = churn_mmu(c, s->pfn[0], NETBSD_APDP_SLOT, 0,
                                  "clearing an alternate recursive entry")) < 0)
        return e;
    if (c->o->bugs & SIM_CHURN_BUG_EARLY_RW)
        if ((e = churn_set_direct_map(c, s->pfn[s->root], space_mfn(c, s, s->root), RW_FLAGS,
                                      "making a pinned page table writable")) < 0)
            return e;
    for (unsigned p = s->nr_pins; p-- > 0;) {
        unsigned i = s->pin[p];
        if ((e = sim_unpin(c->h, c->domid, space_mfn(c, s, i))) < 0)
            return churn_refused(c, e, "unpinning a page table", s->pfn[i]);
    }
    for (unsigned i = 0; i < s->nr; i++) {
        if (!s->level[i])
            continue;
        if ((e = churn_set_direct_map(
                 c, s->pfn[i], space_mfn(c, s, i), RW_FLAGS,
                 "making a freed page table writable again in the direct map")) < 0 ||
            (e = churn_fill_data(c, s->pfn[i])) < 0)
            return e;
    }
    for (unsigned i = 0; i < s->nr; i++)
        c->busy[s->pfn[i]] = 0;
    c->st->spaces_torn_down++;
    return 0;
}

int churn_age_spaces(struct churn *c, bool all)
{
    for (size_t i = c->nr_spaces; i-- > 0;) {
        struct space *s = &c->spaces[i];
        if (!all && --s->ttl)
            continue;
        int e = tear_down_space(c, s);
        if (e < 0)
            return e;
        c->spaces[i] = c->spaces[--c->nr_spaces];
    }
    return 0;
}
