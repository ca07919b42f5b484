/*
 * pagetable.c - moving page tables between machine and pseudo-physical
 * frame numbers: normalisation on save, localisation on restore, and the
 * Xen-owned slots both must leave alone.
 */
#include "config.h"

#include <string.h>

#include "pv/pv.h"

bool xg_pv_mfn_in_physmap(const struct xg_pv_physmap *m, uint64_t mfn, uint64_t *pfn)
{
    if (mfn >= m->nr_mfns)
        return false;
    uint64_t p = m->m2p[mfn];
    if (pfn)
        *pfn = p;
    return p <= m->max_pfn && xg_pv_p2m_get(m, p) == mfn;
}

bool xg_pv_guest_slot(unsigned width, unsigned level, bool xen_l2, unsigned slot)
{
    if (width == 8)
        return level != 4 || !xg_l4_is_xen_slot(slot);
    if (level == 3)
        return slot < XG_PAE_L3_ENTRIES;
    if (level == 2 && xen_l2)
        return slot < XG_COMPAT_L2_FIRST_XEN_SLOT;
    return level != 4;
}

bool xg_pv_is_xen_l2(const uint64_t *table, uint64_t compat_m2p_mfn0)
{
    return xg_pte_frame(table[XG_COMPAT_L2_FIRST_XEN_SLOT]) == compat_m2p_mfn0 &&
           xg_pte_present(table[XG_COMPAT_L2_FIRST_XEN_SLOT]);
}

int xg_pv_normalise_table(const struct xg_pv_physmap *m, unsigned level, const uint64_t *src,
                          uint64_t *dst, struct xg_pv_bad *bad)
{
    bool xen_l2 = m->width == 4 && level == 2 && xg_pv_is_xen_l2(src, m->compat_m2p_mfn0);
    for (unsigned i = 0; i < XG_PTES_PER_TABLE; i++) {
        uint64_t pte = src[i];
        if (!xg_pv_guest_slot(m->width, level, xen_l2, i)) {
            dst[i] = 0; /* Xen rebuilds its own slots on the other side */
            continue;
        }
        if (!xg_pte_present(pte)) {
            dst[i] = pte;
            continue;
        }
        uint64_t mfn = xg_pte_frame(pte), pfn = ~0ULL;
        if (level > 1 && (pte & XG_PTE_PSE)) {
            *bad = (struct xg_pv_bad){ XG_PV_BAD_SUPERPAGE, i, pte, mfn, ~0ULL };
            return -1;
        }
        if (!xg_pv_mfn_in_physmap(m, mfn, &pfn)) {
            *bad = (struct xg_pv_bad){ XG_PV_BAD_MFN, i, pte, mfn, pfn };
            return -1;
        }
        dst[i] = xg_pte_set_frame(pte, pfn);
    }
    return 0;
}

int xg_pv_localise_table(uint64_t *table, unsigned width, unsigned level, const uint64_t *mfn1,
                         uint64_t nr_pfns, bool strict, struct xg_pv_bad *bad, unsigned *cleared)
{
    for (unsigned i = 0; i < XG_PTES_PER_TABLE; i++) {
        uint64_t pte = table[i];
        /* Xen's slots were cleared by the saver; whatever is there is not ours to keep. */
        if (!xg_pv_guest_slot(width, level, false, i)) {
            table[i] = 0;
            continue;
        }
        if (!xg_pte_present(pte))
            continue;
        uint64_t pfn = xg_pte_frame(pte);
        uint64_t mfn = pfn < nr_pfns && mfn1[pfn] ? mfn1[pfn] - 1 : ~0ULL;
        if (mfn == ~0ULL) {
            if (strict) {
                *bad = (struct xg_pv_bad){ XG_PV_BAD_PFN, i, pte, ~0ULL, pfn };
                return -1;
            }
            table[i] = 0;
            if (cleared)
                (*cleared)++;
            continue;
        }
        table[i] = xg_pte_set_frame(pte, mfn);
    }
    return 0;
}
