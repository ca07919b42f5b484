/*
 * churn.c - the simulated guest's kernel at work, as `xg-sim run` drives
 * it: address spaces built and torn down as fork/exec/exit do, pages
 * ballooned out to Xen and taken back, transient grant maps of a peer
 * domain's frames, and the workload's dirtying, interleaved tick by tick
 * with whatever else uses the host (a live save in another process).
 *
 * Every change the kernel makes to its tables, pins, cr3s and memory
 * reservation goes through the host's Xen rules (mm.c, domain.c), so a
 * mistake here is refused as Xen would refuse it; the run then stops with
 * the step that failed, its tick rolled back.  Plain stores into guest
 * memory are made only through a writable mapping the guest holds, as a
 * real kernel's stores are (else they would fault).
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

#include "hv/sim/guest.h"
#include "internal.h"
#include "pv/abi.h"
#include "pv/pte.h"

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

struct space {
    uint64_t pfn[SPACE_FRAMES];
    unsigned level[SPACE_FRAMES]; /* 1..4: a table; 0: the process's own data page */
    unsigned nr;
    unsigned pin[2];              /* indexes into pfn[] of the tables pinned */
    unsigned nr_pins;
    unsigned l1;                  /* index of the L1 mapping USER_VA */
    unsigned root, user_root;     /* indexes of the roots (user_root == root: none) */
    bool apdp;                    /* netbsd64: alternate recursive entry set */
    int vcpu;                     /* vcpu running on it, or -1 */
    unsigned ttl;                 /* ticks left */
};

struct ballooned {
    uint64_t pfn;
    unsigned ttl;
};

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
    uint8_t *busy;                /* per pfn: a space's frame, or ballooned out */
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

static uint64_t rnd(struct churn *c)
{
    c->rng ^= c->rng >> 12;
    c->rng ^= c->rng << 25;
    c->rng ^= c->rng >> 27;
    return c->rng * 0x2545f4914f6cdd1dULL;
}

static int refused(struct churn *c, int err, const char *step, uint64_t pfn)
{
    c->step = step;
    c->step_pfn = pfn;
    return err;
}

static uint64_t mfn_of(struct churn *c, uint64_t pfn)
{
    uint64_t m;
    if (sim_guest_p2m(c->h, c->dom, &c->gi, pfn, &m) < 0 || !sim_mfn_valid(c->h, m))
        return NONE;
    return m;
}

static unsigned va_index(unsigned width, uint64_t va, unsigned level)
{
    if (width == 4 && level == 3)
        return (unsigned)((va >> 30) & 3);
    return (unsigned)((va >> (12 + 9 * (level - 1))) & 511);
}

/* The table at `level` that va goes through under root (an mfn), or NONE. */
static uint64_t table_at(struct churn *c, uint64_t root, uint64_t va, unsigned level)
{
    uint64_t t = root;
    for (unsigned l = c->width == 8 ? 4 : 3; l > level; l--) {
        if (!sim_mfn_valid(c->h, t))
            return NONE;
        uint64_t e = ((const uint64_t *)sim_frame_data(c->h, t))[va_index(c->width, va, l)];
        if (!xg_pte_present(e))
            return NONE;
        t = xg_pte_frame(e);
    }
    return sim_mfn_valid(c->h, t) ? t : NONE;
}

/* ------------------------------------------------------------ the kernel's primitives */

/* A store through the guest's own writable mapping of pfn (a fault if it has none). */
static int guest_store(struct churn *c, uint64_t pfn, unsigned off, const void *src, size_t len)
{
    uint64_t m = mfn_of(c, pfn);
    if (m == NONE)
        return refused(c, -EFAULT, "writing a page it has no frame for", pfn);
    const struct sim_frame *f = sim_frame(c->h, m);
    if (f->owner != c->domid || (f->type_info & PGT_type_mask) != PGT_writable_page ||
        !(f->type_info & PGT_count_mask))
        return refused(c, -EFAULT, "writing a page it has no writable mapping of (a page fault)", pfn);
    uint8_t *p = sim_frame_data(c->h, m) + off;
    sim_journal(c->h, p, len);
    if (src)
        memcpy(p, src, len);
    else
        memset(p, 0, len);
    sim_mark_dirty(c->h, m);
    return 0;
}

/* HYPERVISOR_mmu_update(MMU_NORMAL_PT_UPDATE) of one entry of the guest's table at pfn. */
static int mmu(struct churn *c, uint64_t table_pfn, unsigned slot, uint64_t val, const char *step)
{
    uint64_t m = mfn_of(c, table_pfn);
    if (m == NONE)
        return refused(c, -EFAULT, step, table_pfn);
    int e = sim_mmu_normal(c->h, c->domid, c->domid, (m << 12) | (slot * 8U), val);
    return e < 0 ? refused(c, e, step, table_pfn) : 0;
}

/* Map pfn in the direct map writable, read-only, or not at all. */
static int set_direct_map(struct churn *c, uint64_t pfn, uint64_t mfn, uint64_t flags, const char *step)
{
    uint64_t va = c->gi.directmap_va + (pfn << 12);
    uint64_t l1 = table_at(c, sim_vcpu_root(c->dom, 0), va, 1);
    if (l1 == NONE)
        return refused(c, -EFAULT, step, pfn);
    uint64_t val = flags ? xg_pte_make(mfn, flags) : 0;
    int e = sim_mmu_normal(c->h, c->domid, c->domid, (l1 << 12) | (va_index(c->width, va, 1) * 8U), val);
    return e < 0 ? refused(c, e, step, pfn) : 0;
}

/* Load vcpu v's cr3 (and on 64-bit Linux its user cr3): MMUEXT_NEW_BASEPTR / NEW_USER_BASEPTR. */
static int set_cr3(struct churn *c, unsigned v, uint64_t root, uint64_t user_root)
{
    const struct xg_vcpu_layout *L = xg_vcpu_layout(c->width);
    uint8_t *ctx = c->dom->vcpu[v].ctx;
    int e = sim_new_baseptr(c->h, c->domid, v, root, false);
    if (e < 0)
        return refused(c, e, "loading a new cr3", c->h->m2p[root]);
    sim_journal(c->h, ctx + L->ctrlreg + 3 * L->word, L->word);
    xg_guest_set_word(ctx, L->ctrlreg + 3 * L->word, L->word, xg_frame_to_cr3(root, c->width));
    if (user_root == NONE)
        return 0;
    if ((e = sim_new_baseptr(c->h, c->domid, v, user_root, true)) < 0)
        return refused(c, e, "loading a new user cr3", c->h->m2p[user_root]);
    sim_journal(c->h, ctx + L->ctrlreg + 1 * L->word, L->word);
    xg_guest_set_word(ctx, L->ctrlreg + 1 * L->word, L->word, user_root << 12);
    return 0;
}

/* A free data page: mapped once (writable, in the direct map) and by nothing else. */
static bool page_is_free(struct churn *c, uint64_t pfn)
{
    if (c->busy[pfn])
        return false;
    uint64_t m = mfn_of(c, pfn);
    if (m == NONE)
        return false;
    const struct sim_frame *f = sim_frame(c->h, m);
    return f->owner == c->domid && !(f->flags & SIM_PGC_XEN_HEAP) &&
           (f->type_info & PGT_type_mask) == PGT_writable_page && (f->type_info & PGT_count_mask) == 1 &&
           f->count == 2;
}

static bool take_free_page(struct churn *c, uint64_t *pfn)
{
    uint64_t lo = c->gi.data_first_pfn, hi = XG_MIN(c->gi.nr_pages, c->gi.directmap_nr);
    if (hi <= lo)
        return false;
    for (int tries = 0; tries < 64; tries++) {
        uint64_t p = lo + rnd(c) % (hi - lo);
        if (page_is_free(c, p)) {
            c->busy[p] = 1;
            *pfn = p;
            return true;
        }
    }
    return false;
}

/* The page becomes an ordinary data page again, with the builder's signature. */
static int fill_data(struct churn *c, uint64_t pfn)
{
    uint64_t sig[4] = { 0x4741505347584758ULL /* "XGXGSPAG" */, pfn, c->gi.seed, rnd(c) };
    int e = guest_store(c, pfn, 0, NULL, SIM_PAGE);
    return e < 0 ? e : guest_store(c, pfn, 0, sig, sizeof(sig));
}

/* ------------------------------------------------------------ address spaces */

static uint64_t space_mfn(struct churn *c, const struct space *s, unsigned i)
{
    return mfn_of(c, s->pfn[i]);
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
            e = guest_store(c, s->pfn[i], 0, NULL, SIM_PAGE);
    switch (c->gi.layout) {
    case SIM_LAYOUT_LINUX64:
        /* pgd_alloc: the kernel's L4 slots (Xen fills its own at pin time). */
        for (unsigned slot = 256; slot < XG_PTES_PER_TABLE && e == 0; slot++)
            if (!xg_l4_is_xen_slot(slot) && src[slot])
                e = guest_store(c, s->pfn[0], slot * 8U, &src[slot], 8);
        break;
    case SIM_LAYOUT_PAE32: {
        /* pgd_ctor: the kernel's own slot-3 L2, copied below Xen's slots. */
        uint64_t kl2 = xg_pte_frame(src[XG_PAE_XEN_L2_SLOT]);
        if (!sim_mfn_valid(c->h, kl2))
            return refused(c, -EFAULT, "copying the kernel's L2", s->pfn[1]);
        e = e ? e : guest_store(c, s->pfn[1], 0, sim_frame_data(c->h, kl2), XG_COMPAT_L2_FIRST_XEN_SLOT * 8U);
        break;
    }
    default:
        e = e ? e : guest_store(c, s->pfn[0], 511 * 8U, &src[511], 8);
        break;
    }
    return e;
}

/* The entries of the user half (and the links between the new tables), through mmu_update. */
static int link_tables(struct churn *c, struct space *s, unsigned vcpu)
{
    /* The vcpu's user page, shared as fork shares pages, keeps its canary in view. */
    uint64_t up_mfn = table_at(c, c->home_root[vcpu], USER_VA, 1);
    if (up_mfn == NONE)
        return refused(c, -EFAULT, "finding the user page to share", 0);
    uint64_t up = ((const uint64_t *)sim_frame_data(c->h, up_mfn))[va_index(c->width, USER_VA, 1)];
    if (!xg_pte_present(up))
        return refused(c, -EFAULT, "finding the user page to share", 0);
    const char *st = "writing an entry of a new page table";
    unsigned i2 = va_index(c->width, USER_VA, 2);
    uint64_t m[SPACE_FRAMES];
    for (unsigned i = 0; i < s->nr; i++)
        m[i] = space_mfn(c, s, i);
    int e;
    switch (c->gi.layout) {
    case SIM_LAYOUT_LINUX64:
        if ((e = mmu(c, s->pfn[0], 0, xg_pte_make(m[2], UPPER_FLAGS), st)) < 0 ||
            (e = mmu(c, s->pfn[1], 0, xg_pte_make(m[2], UPPER_FLAGS), st)) < 0 ||
            (e = mmu(c, s->pfn[2], 0, xg_pte_make(m[3], UPPER_FLAGS), st)) < 0 ||
            (e = mmu(c, s->pfn[3], i2, xg_pte_make(m[4], UPPER_FLAGS), st)) < 0)
            return e;
        break;
    case SIM_LAYOUT_PAE32:
        if ((e = mmu(c, s->pfn[0], 0, xg_pte_make(m[2], XG_PTE_P), st)) < 0 ||
            (e = mmu(c, s->pfn[0], XG_PAE_XEN_L2_SLOT, xg_pte_make(m[1], XG_PTE_P), st)) < 0 ||
            (e = mmu(c, s->pfn[2], i2, xg_pte_make(m[3], UPPER_FLAGS), st)) < 0)
            return e;
        break;
    default:
        if ((e = mmu(c, s->pfn[0], NETBSD_RECURSIVE_SLOT, xg_pte_make(m[0], RO_FLAGS), st)) < 0 ||
            (e = mmu(c, s->pfn[0], 0, xg_pte_make(m[1], UPPER_FLAGS), st)) < 0 ||
            (e = mmu(c, s->pfn[1], 0, xg_pte_make(m[2], UPPER_FLAGS), st)) < 0 ||
            (e = mmu(c, s->pfn[2], i2, xg_pte_make(m[3], UPPER_FLAGS), st)) < 0)
            return e;
        break;
    }
    return mmu(c, s->pfn[s->l1], va_index(c->width, USER_VA, 1), xg_pte_make(xg_pte_frame(up), USER_FLAGS), st);
}

/* netbsd64: an alternate recursive entry to a validated L4 that holds no linear entry itself. */
static int set_apdp(struct churn *c, struct space *s, unsigned vcpu)
{
    uint64_t target = c->home_root[vcpu];
    const struct sim_frame *tf = sim_frame(c->h, target);
    if (tf->linear > 0 || (tf->type_info & (PGT_type_mask | PGT_validated)) != (PGT_l4_page_table | PGT_validated))
        return 0;
    int e = mmu(c, s->pfn[0], NETBSD_APDP_SLOT, xg_pte_make(target, RO_FLAGS), "setting an alternate recursive entry");
    s->apdp = e == 0;
    return e;
}

static int build_space(struct churn *c, unsigned vcpu)
{
    struct space s;
    plan_space(c, &s);
    for (unsigned i = 0; i < s.nr; i++) {
        if (!take_free_page(c, &s.pfn[i])) {
            while (i-- > 0)
                c->busy[s.pfn[i]] = 0;
            return 0; /* no free memory now: no fork */
        }
    }
    int e = write_kernel_half(c, &s);
    /* Each table's direct-map alias becomes read-only before the table is used as one. */
    for (unsigned i = 0; i < s.nr && e == 0; i++)
        if (s.level[i] && !(c->o->bugs & SIM_CHURN_BUG_NO_RO))
            e = set_direct_map(c, s.pfn[i], space_mfn(c, &s, i), RO_FLAGS,
                               "making a new page table's direct-map alias read-only");
    if (e == 0)
        e = link_tables(c, &s, vcpu);
    for (unsigned p = 0; p < s.nr_pins && e == 0; p++) {
        unsigned i = s.pin[p];
        e = sim_pin(c->h, c->domid, s.level[i], space_mfn(c, &s, i));
        if (e < 0)
            e = refused(c, e, "pinning a new page table", s.pfn[i]);
    }
    /* The process touches its own page: an entry added to a live L1, as a page fault does. */
    if (e == 0)
        e = mmu(c, s.pfn[s.l1], va_index(c->width, USER_VA, 1) + 1,
                xg_pte_make(space_mfn(c, &s, s.nr - 1), USER_FLAGS), "mapping a page in a live L1");
    if (e == 0 && c->gi.layout == SIM_LAYOUT_NETBSD64)
        e = set_apdp(c, &s, vcpu);
    if (e == 0 && !c->hosting[vcpu] && (rnd(c) & 1)) {
        uint64_t user = s.user_root != s.root ? space_mfn(c, &s, s.user_root) : NONE;
        e = set_cr3(c, vcpu, space_mfn(c, &s, s.root), user);
        if (e == 0) {
            s.vcpu = (int)vcpu;
            c->hosting[vcpu] = true;
            c->st->cr3_switches++;
        }
    }
    if (e < 0)
        return e;
    s.ttl = 1 + (unsigned)(rnd(c) % 20);
    if (c->nr_spaces == c->cap_spaces) {
        size_t n = c->cap_spaces ? c->cap_spaces * 2 : 64;
        struct space *ns = realloc(c->spaces, n * sizeof(*ns));
        if (!ns)
            return refused(c, -ENOMEM, "keeping track of its processes", 0);
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
        e = set_cr3(c, v, c->home_root[v], s->user_root != s->root ? c->home_user[v] : NONE);
        if (e < 0)
            return e;
        c->hosting[v] = false;
        s->vcpu = -1;
    }
    /* exit: the process's mappings go, then its tables. */
    if ((e = mmu(c, s->pfn[s->l1], va_index(c->width, USER_VA, 1) + 1, 0, "unmapping a page from a live L1")) < 0)
        return e;
    if (s->apdp && (e = mmu(c, s->pfn[0], NETBSD_APDP_SLOT, 0, "clearing an alternate recursive entry")) < 0)
        return e;
    if (c->o->bugs & SIM_CHURN_BUG_EARLY_RW)
        if ((e = set_direct_map(c, s->pfn[s->root], space_mfn(c, s, s->root), RW_FLAGS,
                                "making a pinned page table writable")) < 0)
            return e;
    for (unsigned p = s->nr_pins; p-- > 0;) {
        unsigned i = s->pin[p];
        if ((e = sim_unpin(c->h, c->domid, space_mfn(c, s, i))) < 0)
            return refused(c, e, "unpinning a page table", s->pfn[i]);
    }
    for (unsigned i = 0; i < s->nr; i++) {
        if (!s->level[i])
            continue;
        if ((e = set_direct_map(c, s->pfn[i], space_mfn(c, s, i), RW_FLAGS,
                                "making a freed page table writable again in the direct map")) < 0 ||
            (e = fill_data(c, s->pfn[i])) < 0)
            return e;
    }
    for (unsigned i = 0; i < s->nr; i++)
        c->busy[s->pfn[i]] = 0;
    c->st->spaces_torn_down++;
    return 0;
}

/* ------------------------------------------------------------ balloon */

/* The guest's p2m entry for pfn, written as Linux does: p2m_generation odd while it changes. */
static int set_p2m(struct churn *c, uint64_t pfn, uint64_t mfn)
{
    unsigned w = c->width;
    uint8_t word[8];
    xg_guest_set_word(word, 0, w, mfn == NONE ? (w == 4 ? 0xffffffffULL : NONE) : mfn);
    const struct xg_shinfo_layout *sl = xg_shinfo_layout(w);
    uint8_t *si = sim_frame_data(c->h, c->dom->shared_info_mfn);
    bool linear = c->gi.p2m_va != 0;
    if (linear) {
        sim_journal(c->h, si + sl->p2m_generation, sl->word);
        xg_guest_set_word(si, sl->p2m_generation, sl->word, xg_guest_word(si, sl->p2m_generation, sl->word) + 1);
    }
    int e = guest_store(c, c->gi.p2m_first_pfn + pfn * w / SIM_PAGE, (unsigned)(pfn * w % SIM_PAGE), word, w);
    if (linear)
        xg_guest_set_word(si, sl->p2m_generation, sl->word, xg_guest_word(si, sl->p2m_generation, sl->word) + 1);
    return e;
}

static int balloon_out(struct churn *c)
{
    uint64_t pfn;
    if (!take_free_page(c, &pfn))
        return 0;
    uint64_t m = mfn_of(c, pfn);
    int e = set_direct_map(c, pfn, m, 0, "unmapping a page it gives back");
    if (e == 0)
        e = set_p2m(c, pfn, NONE);
    if (e == 0 && (e = sim_release_frame(c->h, c->domid, m)) < 0)
        e = refused(c, e, "giving a page back (decrease_reservation)", pfn);
    if (e < 0)
        return e;
    if (c->nr_out == c->cap_out) {
        size_t n = c->cap_out ? c->cap_out * 2 : 64;
        struct ballooned *nb = realloc(c->out, n * sizeof(*nb));
        if (!nb)
            return refused(c, -ENOMEM, "keeping track of its balloon", pfn);
        c->out = nb;
        c->cap_out = n;
    }
    c->out[c->nr_out++] = (struct ballooned){ pfn, 5 + (unsigned)(rnd(c) % 50) };
    c->st->ballooned_out++;
    return 0;
}

static int balloon_in(struct churn *c, uint64_t pfn)
{
    uint64_t m;
    int e = sim_populate_one(c->h, c->domid, pfn, &m);
    if (e < 0)
        return refused(c, e, "taking a page back (populate_physmap)", pfn);
    if ((e = set_p2m(c, pfn, m)) < 0 ||
        (e = set_direct_map(c, pfn, m, RW_FLAGS, "mapping a page it took back")) < 0 || (e = fill_data(c, pfn)) < 0)
        return e;
    c->busy[pfn] = 0;
    c->st->ballooned_in++;
    return 0;
}

/* ------------------------------------------------------------ grant maps */

static struct sim_guest_info *live_info(struct churn *c)
{
    return (struct sim_guest_info *)sim_frame_data(c->h, c->gi_mfn);
}

/* A peer domain whose frames the guest maps, as a backend maps a frontend's (made once per host). */
static int find_peer(struct churn *c)
{
    struct sim_host *h = c->h;
    uint32_t peer = XG_DOMID_INVALID;
    for (uint32_t i = 0; i < SIM_MAX_DOMAINS; i++)
        if (h->doms[i].in_use && !h->doms[i].dying && !strcmp(h->doms[i].layout, "grant-peer"))
            peer = h->doms[i].domid;
    if (peer == XG_DOMID_INVALID) {
        int e = sim_domain_create(h, 8, 1, 16, &peer);
        for (uint64_t pfn = 0; e == 0 && pfn < 8; pfn++) {
            uint64_t m;
            e = sim_populate_one(h, peer, pfn, &m);
        }
        if (e < 0)
            return refused(c, e, "creating a peer domain to grant it pages", 0);
        struct sim_domain *pd = sim_domain(h, peer);
        sim_journal(h, pd->layout, sizeof(pd->layout));
        memcpy(pd->layout, "grant-peer", 11);
        SIM_SET(h, pd->pause_count, 0);
        c->dom = sim_domain(h, c->domid);
    }
    c->nr_peer_mfns = 0;
    for (uint64_t m = 0; m < h->hdr->nr_frames && c->nr_peer_mfns < XG_ARRAY_SIZE(c->peer_mfn); m++)
        if (h->frames[m].owner == peer && h->frames[m].count && !(h->frames[m].flags & SIM_PGC_XEN_HEAP))
            c->peer_mfn[c->nr_peer_mfns++] = m;
    if (!c->nr_peer_mfns)
        return refused(c, -ENOENT, "finding a peer's page to map", 0);
    struct sim_guest_info *gi = live_info(c);
    SIM_SET(h, gi->grant_peer, peer);
    return 0;
}

static int grant_map(struct churn *c)
{
    struct sim_guest_info *gi = live_info(c);
    if (gi->nr_grant_maps >= SIM_MAX_GRANT_MAPS)
        return 0;
    uint64_t l1 = mfn_of(c, c->gi.shinfo_l1_pfn);
    if (l1 == NONE)
        return refused(c, -EFAULT, "finding its fixmap L1", c->gi.shinfo_l1_pfn);
    const uint64_t *e = (const uint64_t *)sim_frame_data(c->h, l1);
    unsigned slot = 512;
    for (int tries = 0; tries < 16 && slot == 512; tries++) {
        unsigned s = (unsigned)(rnd(c) % XG_PTES_PER_TABLE);
        if (!xg_pte_present(e[s]) && s != c->gi.shinfo_l1_slot && s != (c->gi.shinfo_l1_slot + 1) % 512)
            slot = s;
    }
    if (slot == 512)
        return 0;
    uint64_t pm = c->peer_mfn[rnd(c) % c->nr_peer_mfns];
    /* GNTTABOP_map_grant_ref with a host address: Xen writes the entry, holding a page and type ref. */
    sim_frame_w(c->h, pm)->count++;
    int rc = sim_get_page_type(c->h, pm, PGT_writable_page);
    if (rc < 0) {
        sim_put_page(c->h, pm);
        return refused(c, rc, "grant-mapping a peer's page", c->gi.shinfo_l1_pfn);
    }
    sim_write_u64(c->h, l1, slot, xg_pte_make(pm, RW_FLAGS));
    sim_mark_dirty(c->h, l1);
    unsigned i = gi->nr_grant_maps;
    sim_journal(c->h, &gi->grant[i], sizeof(gi->grant[i]));
    gi->grant[i] = (struct sim_grant_map){ .l1_pfn = c->gi.shinfo_l1_pfn, .slot = slot, .peer_mfn = pm };
    SIM_SET(c->h, gi->nr_grant_maps, i + 1);
    sim_mark_dirty(c->h, c->gi_mfn);
    c->grant_ttl[i] = (uint8_t)(1 + rnd(c) % 3);
    c->st->grant_maps++;
    return 0;
}

/* GNTTABOP_unmap_grant_ref of map i: the entry cleared, the references dropped. */
static int grant_unmap(struct sim_host *h, struct sim_domain *dom, uint64_t gi_mfn, unsigned i)
{
    struct sim_guest_info *gi = (struct sim_guest_info *)sim_frame_data(h, gi_mfn);
    struct sim_guest_info copy;
    memcpy(&copy, gi, sizeof(copy));
    struct sim_grant_map g = gi->grant[i];
    uint64_t l1;
    if (sim_guest_p2m(h, dom, &copy, g.l1_pfn, &l1) < 0 || !sim_mfn_valid(h, l1) || g.slot >= 512)
        return -EFAULT;
    uint64_t pte = ((const uint64_t *)sim_frame_data(h, l1))[g.slot];
    if (!xg_pte_present(pte) || xg_pte_frame(pte) != g.peer_mfn)
        return -EINVAL; /* GNTST_general_error: no such mapping there */
    sim_write_u64(h, l1, g.slot, 0);
    sim_mark_dirty(h, l1);
    sim_put_page_and_type(h, g.peer_mfn);
    unsigned last = gi->nr_grant_maps - 1;
    sim_journal(h, &gi->grant[i], sizeof(gi->grant[i]));
    gi->grant[i] = gi->grant[last];
    SIM_SET(h, gi->nr_grant_maps, last);
    sim_mark_dirty(h, gi_mfn);
    return 0;
}

int sim_churn_drop_grants(struct sim_host *h, struct sim_domain *dom, uint64_t gi_mfn)
{
    struct sim_guest_info *gi = (struct sim_guest_info *)sim_frame_data(h, gi_mfn);
    while (gi->nr_grant_maps) {
        if (gi->nr_grant_maps > SIM_MAX_GRANT_MAPS)
            return -EINVAL;
        int e = grant_unmap(h, dom, gi_mfn, gi->nr_grant_maps - 1);
        if (e < 0)
            return e;
    }
    return 0;
}

static int age_grants(struct churn *c, bool all)
{
    struct sim_guest_info *gi = live_info(c);
    for (unsigned i = gi->nr_grant_maps; i-- > 0;) {
        if (!all && c->grant_ttl[i] && --c->grant_ttl[i])
            continue;
        int e = grant_unmap(c->h, c->dom, c->gi_mfn, i);
        if (e < 0)
            return refused(c, e, "unmapping a grant", gi->grant[i].l1_pfn);
        c->grant_ttl[i] = c->grant_ttl[gi->nr_grant_maps];
        c->st->grant_unmaps++;
    }
    return 0;
}

/* ------------------------------------------------------------ the run */

static int age_spaces(struct churn *c, bool all)
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

static int age_balloon(struct churn *c, bool all)
{
    for (size_t i = c->nr_out; i-- > 0;) {
        if (!all && --c->out[i].ttl)
            continue;
        int e = balloon_in(c, c->out[i].pfn);
        if (e < 0)
            return e;
        c->out[i] = c->out[--c->nr_out];
    }
    return 0;
}

struct credits {
    double dirty, spaces, balloon, grants;
};

static unsigned take(double *credit, double rate, double dt)
{
    *credit += rate * dt;
    unsigned n = (unsigned)*credit;
    *credit -= n;
    return n;
}

/* One tick of the guest's kernel; the host lock is held, the guest is running. */
static int tick(struct churn *c, const unsigned n[4], bool last)
{
    sim_workload_dirty(c->h, c->dom, &c->gi, c->gi_mfn, n[0], &c->rng, &c->st->dirty);
    int e = age_spaces(c, last);
    if (e == 0)
        e = age_balloon(c, last);
    if (e == 0 && live_info(c)->nr_grant_maps)
        e = age_grants(c, last);
    if (last)
        return e;
    for (unsigned i = 0; i < n[1] && e == 0; i++) {
        unsigned v = (unsigned)(rnd(c) % c->dom->nr_vcpus);
        if (c->dom->vcpu[v].initialised)
            e = build_space(c, v);
    }
    for (unsigned i = 0; i < n[2] && e == 0; i++)
        e = balloon_out(c);
    if (e == 0 && n[3] && !c->nr_peer_mfns)
        e = find_peer(c);
    for (unsigned i = 0; i < n[3] && e == 0; i++)
        e = grant_map(c);
    return e;
}

static void sleep_s(double s)
{
    struct timespec ts = { (time_t)s, (long)((s - (double)(time_t)s) * 1e9) };
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

/* Lock held: is the guest running code now?  Loads its guest-info page. */
static bool guest_running(struct churn *c)
{
    c->dom = sim_domain(c->h, c->domid);
    return c->dom && !c->dom->dying && !c->dom->pause_count && !c->dom->shutdown &&
           sim_guest_info_get(c->h, c->dom, &c->gi, &c->gi_mfn) == 0;
}

/* Lock held: the vcpus' own address spaces, and pages a previous run left ballooned out. */
static int start(struct churn *c, xg_diag *d)
{
    struct xg_loc loc = { XGF_DOMID(c->domid) };
    c->dom = sim_domain(c->h, c->domid);
    if (!c->dom || c->dom->dying)
        return xg_diag_err(d, XG_E_NOTFOUND, &loc, "no domain %u on this host", c->domid);
    if (sim_guest_info_get(c->h, c->dom, &c->gi, &c->gi_mfn) < 0)
        return xg_diag_err(d, XG_E_INVAL, &loc,
                           "domain %u is not a guest xg-sim built: it has no simulated kernel to churn its tables",
                           c->domid);
    c->width = c->dom->guest_width;
    const struct xg_vcpu_layout *L = xg_vcpu_layout(c->width);
    for (unsigned v = 0; v < c->dom->nr_vcpus && v < SIM_MAX_VCPUS; v++) {
        c->home_root[v] = sim_vcpu_root(c->dom, v);
        uint64_t cr1 = c->width == 8 ? xg_guest_word(c->dom->vcpu[v].ctx, L->ctrlreg + L->word, L->word) : 0;
        c->home_user[v] = cr1 ? cr1 >> 12 : NONE;
    }
    c->busy = calloc(c->gi.nr_pages, 1);
    if (!c->busy)
        return xg_diag_err(d, XG_E_NOMEM, NULL, "out of memory");
    uint64_t hi = XG_MIN(c->gi.nr_pages, c->gi.directmap_nr);
    for (uint64_t pfn = c->gi.data_first_pfn; pfn < hi; pfn++) {
        uint64_t m;
        if (sim_guest_p2m(c->h, c->dom, &c->gi, pfn, &m) != -ENOENT)
            continue;
        struct ballooned *nb = c->nr_out == c->cap_out ? realloc(c->out, (c->cap_out = c->cap_out * 2 + 64) * sizeof(*nb))
                                                       : c->out;
        if (!nb)
            return xg_diag_err(d, XG_E_NOMEM, NULL, "out of memory");
        c->out = nb;
        c->out[c->nr_out++] = (struct ballooned){ pfn, 1 };
        c->busy[pfn] = 1;
    }
    return 0;
}

static int report_refusal(struct churn *c, int e, xg_diag *d)
{
    struct xg_loc loc = { XGF_DOMID(c->domid) };
    if (c->step_pfn) {
        loc.has_pfn = 1;
        loc.pfn = c->step_pfn;
    }
    return xg_diag_syserr(d, XG_E_HV, -e, &loc,
                          "the guest's kernel was refused while %s (pfn %#llx); its tick was rolled back "
                          "(see `xg-sim log`)",
                          c->step ? c->step : "churning", (unsigned long long)c->step_pfn);
}

int sim_churn_run(struct sim_host *h, uint32_t domid, const struct sim_churn_opts *o, struct sim_churn_stats *st,
                  xg_diag *d)
{
    memset(st, 0, sizeof(*st));
    struct churn c = { .h = h, .domid = domid, .o = o, .st = st };
    c.rng = o->seed * 0x9e3779b97f4a7c15ULL + 0xc0ffee;
    int rc = sim_lock(h, domid, d);
    if (rc < 0)
        return rc;
    rc = start(&c, d);
    sim_unlock(h);
    struct credits cr = { 0 };
    double t0 = xg__now(), last = t0, now;
    bool finishing = false;
    while (rc == 0 && !finishing) {
        now = xg__now();
        finishing = now - t0 >= o->seconds;
        double dt = now - last;
        last = now;
        unsigned n[4] = { take(&cr.dirty, o->dirty_rate, dt), take(&cr.spaces, o->pt_churn, dt),
                          take(&cr.balloon, o->balloon, dt), take(&cr.grants, o->grant_maps, dt) };
        if ((rc = sim_lock(h, domid, d)) < 0)
            break;
        if (!guest_running(&c)) {
            if (!c.dom || c.dom->dying) {
                sim_unlock(h);
                struct xg_loc loc = { XGF_DOMID(domid) };
                rc = xg_diag_err(d, XG_E_NOTFOUND, &loc, "domain %u went away", domid);
                break;
            }
            /* A paused or suspended guest runs no code; what it holds stays as it is. */
            st->ticks_skipped++;
            st->dirty.skipped += n[0];
            sim_unlock(h);
        } else {
            int e = tick(&c, n, finishing);
            if (e < 0) {
                sim_abort(h);
                rc = report_refusal(&c, e, d);
                break;
            }
            sim_unlock(h);
        }
        if (!finishing)
            sleep_s(TICK_S);
    }
    st->spaces_left = c.nr_spaces;
    st->balloon_left = c.nr_out;
    free(c.busy);
    free(c.spaces);
    free(c.out);
    return rc;
}
