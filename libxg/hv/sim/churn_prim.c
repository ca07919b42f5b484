/*
 * churn_prim.c - the primitives of the simulated kernel (churn.c): its
 * stores into its own memory, which fault without a writable mapping; its
 * mmu_update, direct-map and cr3 changes through the host's Xen rules;
 * and its page allocator's free pages.
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

uint64_t churn_rnd(struct churn *c)
{
    c->rng ^= c->rng >> 12;
    c->rng ^= c->rng << 25;
    c->rng ^= c->rng >> 27;
    return c->rng * 0x2545f4914f6cdd1dULL;
}

int churn_refused(struct churn *c, int err, const char *step, uint64_t pfn)
{
    c->step = step;
    c->step_pfn = pfn;
    return err;
}

uint64_t churn_mfn_of(struct churn *c, uint64_t pfn)
{
    uint64_t m;
    if (sim_guest_p2m(c->h, c->dom, &c->gi, pfn, &m) < 0 || !sim_mfn_valid(c->h, m))
        return NONE;
    return m;
}

unsigned churn_va_index(unsigned width, uint64_t va, unsigned level)
{
    if (width == 4 && level == 3)
        return (unsigned)((va >> 30) & 3);
    return (unsigned)((va >> (12 + 9 * (level - 1))) & 511);
}

/* The table at `level` that va goes through under root (an mfn), or NONE. */
uint64_t churn_table_at(struct churn *c, uint64_t root, uint64_t va, unsigned level)
{
    uint64_t t = root;
    for (unsigned l = c->width == 8 ? 4 : 3; l > level; l--) {
        if (!sim_mfn_valid(c->h, t))
            return NONE;
        uint64_t e = ((const uint64_t *)sim_frame_data(c->h, t))[churn_va_index(c->width, va, l)];
        if (!xg_pte_present(e))
            return NONE;
        t = xg_pte_frame(e);
    }
    return sim_mfn_valid(c->h, t) ? t : NONE;
}

/* ------------------------------------------------------------ the kernel's primitives */

/* A store through the guest's own writable mapping of pfn (a fault if it has none). */
int churn_guest_store(struct churn *c, uint64_t pfn, unsigned off, const void *src, size_t len)
{
    uint64_t m = churn_mfn_of(c, pfn);
    if (m == NONE)
        return churn_refused(c, -EFAULT, "writing a page it has no frame for", pfn);
    const struct sim_frame *f = sim_frame(c->h, m);
    if (f->owner != c->domid || (f->type_info & PGT_type_mask) != PGT_writable_page ||
        !(f->type_info & PGT_count_mask))
        return churn_refused(c, -EFAULT,
                             "writing a page it has no writable mapping of (a page fault)", pfn);
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
int churn_mmu(struct churn *c, uint64_t table_pfn, unsigned slot, uint64_t val, const char *step)
{
    uint64_t m = churn_mfn_of(c, table_pfn);
    if (m == NONE)
        return churn_refused(c, -EFAULT, step, table_pfn);
    int e = sim_mmu_normal(c->h, c->domid, c->domid, (m << 12) | (slot * 8U), val);
    return e < 0 ? churn_refused(c, e, step, table_pfn) : 0;
}

/* Map pfn in the direct map writable, read-only, or not at all. */
int churn_set_direct_map(struct churn *c, uint64_t pfn, uint64_t mfn, uint64_t flags,
                         const char *step)
{
    uint64_t va = c->gi.directmap_va + (pfn << 12);
    uint64_t l1 = churn_table_at(c, sim_vcpu_root(c->dom, 0), va, 1);
    if (l1 == NONE)
        return churn_refused(c, -EFAULT, step, pfn);
    uint64_t val = flags ? xg_pte_make(mfn, flags) : 0;
    int e = sim_mmu_normal(c->h, c->domid, c->domid,
                           (l1 << 12) | (churn_va_index(c->width, va, 1) * 8U), val);
    return e < 0 ? churn_refused(c, e, step, pfn) : 0;
}

/* Load vcpu v's cr3 (and on 64-bit Linux its user cr3): MMUEXT_NEW_BASEPTR / NEW_USER_BASEPTR. */
int churn_set_cr3(struct churn *c, unsigned v, uint64_t root, uint64_t user_root)
{
    const struct xg_vcpu_layout *L = xg_vcpu_layout(c->width);
    uint8_t *ctx = c->dom->vcpu[v].ctx;
    int e = sim_new_baseptr(c->h, c->domid, v, root, false);
    if (e < 0)
        return churn_refused(c, e, "loading a new cr3", c->h->m2p[root]);
    sim_journal(c->h, ctx + L->ctrlreg + 3 * L->word, L->word);
    xg_guest_set_word(ctx, L->ctrlreg + 3 * L->word, L->word, xg_frame_to_cr3(root, c->width));
    if (user_root == NONE)
        return 0;
    if ((e = sim_new_baseptr(c->h, c->domid, v, user_root, true)) < 0)
        return churn_refused(c, e, "loading a new user cr3", c->h->m2p[user_root]);
    sim_journal(c->h, ctx + L->ctrlreg + 1 * L->word, L->word);
    xg_guest_set_word(ctx, L->ctrlreg + 1 * L->word, L->word, user_root << 12);
    return 0;
}

/* A free data page: mapped once (writable, in the direct map) and by nothing else. */
static bool page_is_free(struct churn *c, uint64_t pfn)
{
    if (c->busy[pfn])
        return false;
    uint64_t m = churn_mfn_of(c, pfn);
    if (m == NONE)
        return false;
    const struct sim_frame *f = sim_frame(c->h, m);
    return f->owner == c->domid && !(f->flags & SIM_PGC_XEN_HEAP) &&
           (f->type_info & PGT_type_mask) == PGT_writable_page &&
           (f->type_info & PGT_count_mask) == 1 && f->count == 2;
}

bool churn_take_free_page(struct churn *c, uint64_t *pfn)
{
    uint64_t lo = c->gi.data_first_pfn, hi = XG_MIN(c->gi.nr_pages, c->gi.directmap_nr);
    if (hi <= lo)
        return false;
    for (int tries = 0; tries < 64; tries++) {
        uint64_t p = lo + churn_rnd(c) % (hi - lo);
        if (page_is_free(c, p)) {
            c->busy[p] = 1;
            *pfn = p;
            return true;
        }
    }
    return false;
}

/* The page becomes an ordinary data page again, with the builder's signature. */
int churn_fill_data(struct churn *c, uint64_t pfn)
{
    uint64_t sig[4] = { 0x4741505347584758ULL /* "XGXGSPAG" */, pfn, c->gi.seed, churn_rnd(c) };
    int e = churn_guest_store(c, pfn, 0, NULL, SIM_PAGE);
    return e < 0 ? e : churn_guest_store(c, pfn, 0, sig, sizeof(sig));
}
