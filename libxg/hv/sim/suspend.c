/*
 * suspend.c - the guest kernel's side of suspend and resume, as Linux's
 * xen_pv_pre_suspend and xen_pv_post_suspend do it: backends drop their
 * grant maps (churn.c), store and console mfns become pfns and back, the
 * shared info page is unmapped and mapped again, and on a new host the
 * frame lists are rebuilt.  Sits above guest.c and churn.c.
 */
#include "config.h"

#include <errno.h>
#include <string.h>

#include "hv/sim/guest.h"
#include "internal.h"
#include "pv/abi.h"
#include "pv/pte.h"

static int write_start_info_frames(struct sim_host *h, struct sim_domain *dom,
                                   const struct sim_guest_info *gi, bool to_pfn)
{
    uint64_t si_mfn;
    if (sim_guest_p2m(h, dom, gi, gi->start_info_pfn, &si_mfn) < 0)
        return -EFAULT;
    const struct xg_start_info_layout *L = xg_start_info_layout(dom->guest_width);
    uint8_t *si = sim_frame_data(h, si_mfn);
    unsigned offs[2] = { L->store_mfn, L->console_mfn };
    for (int i = 0; i < 2; i++) {
        uint64_t v = xg_guest_word(si, offs[i], L->word), nv;
        if (to_pfn) {
            if (!sim_mfn_valid(h, v))
                return -EFAULT;
            nv = h->m2p[v];
        } else if (sim_guest_p2m(h, dom, gi, v, &nv) < 0) {
            return -EFAULT;
        }
        sim_journal(h, si + offs[i], L->word);
        xg_guest_set_word(si, offs[i], L->word, nv);
    }
    sim_mark_dirty(h, si_mfn);
    return 0;
}

static int set_shinfo_mapping(struct sim_host *h, struct sim_domain *dom,
                              const struct sim_guest_info *gi, bool map)
{
    uint64_t l1;
    if (sim_guest_p2m(h, dom, gi, gi->shinfo_l1_pfn, &l1) < 0)
        return -EFAULT;
    uint64_t val = map ? xg_pte_make(dom->shared_info_mfn,
                                     XG_PTE_P | XG_PTE_RW | XG_PTE_A | XG_PTE_D)
                       : 0;
    return sim_mmu_normal(h, dom->domid, dom->domid, (l1 << 12) | (gi->shinfo_l1_slot * 8), val);
}

/*
 * A guest the simulator did not build (restored from a real image): the
 * simulator knows nothing of its kernel's layout, so it plays the part of
 * a minimal PV kernel through what the ABI itself says: the start info
 * page is the frame vcpu0's rdx named at its last suspend, and a linear
 * p2m list lives under vcpu0's cr3.
 */
static uint64_t generic_start_info(struct sim_host *h, struct sim_domain *dom)
{
    const struct xg_vcpu_layout *L = xg_vcpu_layout(dom->guest_width);
    uint64_t m = xg_guest_word(dom->vcpu[0].ctx, L->user_regs_rdx, L->word);
    if (!sim_mfn_valid(h, m) || sim_frame(h, m)->owner != dom->domid)
        return ~0ULL;
    return m;
}

static uint64_t generic_pfn_to_mfn(struct sim_host *h, struct sim_domain *dom, uint64_t pfn)
{
    for (uint64_t m = 0; m < h->hdr->nr_frames; m++)
        if (h->frames[m].owner == dom->domid && h->m2p[m] == pfn &&
            !(h->frames[m].flags & SIM_PGC_XEN_HEAP))
            return m;
    return ~0ULL;
}

/* Convert start info's store/console frames, as a PV kernel does around suspend. */
static int generic_start_info_frames(struct sim_host *h, struct sim_domain *dom, bool to_pfn)
{
    uint64_t si = generic_start_info(h, dom);
    if (si == ~0ULL)
        return -EFAULT;
    const struct xg_start_info_layout *L = xg_start_info_layout(dom->guest_width);
    uint8_t *p = sim_frame_data(h, si);
    unsigned offs[2] = { L->store_mfn, L->console_mfn };
    for (int i = 0; i < 2; i++) {
        uint64_t v = xg_guest_word(p, offs[i], L->word);
        uint64_t nv = to_pfn ? (sim_mfn_valid(h, v) ? h->m2p[v] : ~0ULL)
                             : generic_pfn_to_mfn(h, dom, v);
        if (nv == ~0ULL)
            return -EFAULT;
        sim_journal(h, p + offs[i], L->word);
        xg_guest_set_word(p, offs[i], L->word, nv);
    }
    sim_mark_dirty(h, si);
    return 0;
}

static int generic_suspend(struct sim_host *h, struct sim_domain *dom, xg_diag *d)
{
    struct xg_loc loc = { XGF_DOMID(dom->domid) };
    if (generic_start_info_frames(h, dom, true) < 0)
        return xg_diag_err(d, XG_E_HV, &loc,
                           "domain %u failed to prepare for suspend (its start info is not where "
                           "vcpu0's rdx says)",
                           dom->domid);
    SIM_SET(h, dom->shutdown, 1);
    SIM_SET(h, dom->shutdown_reason, XG_SHUTDOWN_SUSPEND);
    sim_log(h, "(XEN) d%u: shutdown (suspend)", dom->domid);
    return 0;
}

int sim_guest_suspend(struct sim_host *h, uint32_t domid, xg_diag *d)
{
    struct sim_domain *gdom = sim_domain(h, domid);
    if (gdom && (gdom->flags & SIM_DOM_GENERIC) && !gdom->shutdown && !gdom->pause_count &&
        !gdom->dying)
        return generic_suspend(h, gdom, d);

    struct sim_domain *dom = sim_domain(h, domid);
    struct xg_loc loc = { XGF_DOMID(domid) };
    if (!dom)
        return xg_diag_err(d, XG_E_NOTFOUND, &loc, "no domain %u", domid);
    struct sim_guest_info gi;
    if (dom->shutdown || dom->pause_count || dom->dying ||
        sim_guest_info_get(h, dom, &gi, NULL) < 0)
        return xg_diag_err(d, XG_E_HV, &loc,
                           "domain %u did not suspend: it is not a running guest that answers "
                           "suspend requests (%s)",
                           domid,
                           dom->shutdown      ? "already shut down"
                           : dom->pause_count ? "paused"
                                              : "no guest kernel");
    uint32_t saved = h->caller;
    h->caller = domid;
    /* Backends finish their I/O and unmap their grants first (dpm_suspend_start). */
    uint64_t gi_mfn = 0;
    sim_guest_info_get(h, dom, &gi, &gi_mfn);
    int e = sim_churn_drop_grants(h, dom, gi_mfn);
    /* xen_pv_pre_suspend: store/console mfns become pfns, shared info is unmapped. */
    if (e == 0)
        e = write_start_info_frames(h, dom, &gi, true);
    if (e == 0)
        e = set_shinfo_mapping(h, dom, &gi, false);
    h->caller = saved;
    if (e < 0)
        return xg_diag_syserr(d, XG_E_HV, -e, &loc, "domain %u failed to prepare for suspend",
                              domid);
    /* HYPERVISOR_suspend(start_info_mfn): the argument sits in vcpu0's rdx/edx. */
    uint64_t si_mfn = 0;
    sim_guest_p2m(h, dom, &gi, gi.start_info_pfn, &si_mfn);
    const struct xg_vcpu_layout *L = xg_vcpu_layout(dom->guest_width);
    sim_journal(h, dom->vcpu[0].ctx + L->user_regs_rdx, L->word);
    xg_guest_set_word(dom->vcpu[0].ctx, L->user_regs_rdx, L->word, si_mfn);
    SIM_SET(h, dom->shutdown, 1);
    SIM_SET(h, dom->shutdown_reason, XG_SHUTDOWN_SUSPEND);
    sim_log(h, "(XEN) d%u: shutdown (suspend)", domid);
    return 0;
}

static void rebuild_frame_lists(struct sim_host *h, struct sim_domain *dom,
                                const struct sim_guest_info *gi)
{
    /* xen_build_mfn_list_list + xen_setup_mfn_list_list on the new host. */
    unsigned w = dom->guest_width;
    uint64_t fpp = SIM_PAGE / w;
    uint64_t fll_mfn, m;
    if (sim_guest_p2m(h, dom, gi, gi->fll_pfn, &fll_mfn) < 0)
        return;
    for (uint64_t i = 0; i < gi->fl_nr; i++) {
        uint64_t fl_mfn;
        if (sim_guest_p2m(h, dom, gi, gi->fl_first_pfn + i, &fl_mfn) < 0)
            return;
        uint8_t *fll = sim_frame_data(h, fll_mfn);
        sim_journal(h, fll + i * w, w);
        xg_guest_set_word(fll, (unsigned)(i * w), w, fl_mfn);
        for (uint64_t j = 0; j < fpp && i * fpp + j < gi->p2m_nr; j++) {
            if (sim_guest_p2m(h, dom, gi, gi->p2m_first_pfn + i * fpp + j, &m) < 0)
                return;
            uint8_t *fl = sim_frame_data(h, fl_mfn);
            sim_journal(h, fl + j * w, w);
            xg_guest_set_word(fl, (unsigned)(j * w), w, m);
        }
        sim_mark_dirty(h, fl_mfn);
    }
    sim_mark_dirty(h, fll_mfn);
    const struct xg_shinfo_layout *sl = xg_shinfo_layout(w);
    uint8_t *si = sim_frame_data(h, dom->shared_info_mfn);
    sim_journal(h, si, SIM_PAGE);
    xg_guest_set_word(si, sl->max_pfn, sl->word, gi->nr_pages);
    xg_guest_set_word(si, sl->pfn_to_mfn_frame_list_list, sl->word, fll_mfn);
    if (gi->p2m_va) {
        xg_guest_set_word(si, sl->p2m_cr3, sl->word, xg_frame_to_cr3(sim_vcpu_root(dom, 0), w));
        xg_guest_set_word(si, sl->p2m_vaddr, sl->word, gi->p2m_va);
    }
}

int sim_guest_resume(struct sim_host *h, uint32_t domid, xg_diag *d)
{
    struct sim_domain *dom = sim_domain(h, domid);
    struct xg_loc loc = { XGF_DOMID(domid) };
    if (!dom)
        return xg_diag_err(d, XG_E_NOTFOUND, &loc, "no domain %u", domid);
    struct sim_guest_info gi;
    bool restored = dom->flags & SIM_DOM_RESTORED;
    bool suspended = dom->shutdown && dom->shutdown_reason == XG_SHUTDOWN_SUSPEND;
    if (!restored && !suspended)
        return xg_diag_err(d, XG_E_INVAL, &loc,
                           "domain %u is neither suspended nor freshly restored: nothing to resume",
                           domid);
    if (sim_guest_info_get(h, dom, &gi, NULL) < 0) {
        /* A real guest's image: resume it as a minimal PV kernel would. */
        int e = 0;
        if (restored) {
            const struct xg_shinfo_layout *sl = xg_shinfo_layout(dom->guest_width);
            uint8_t *si = sim_frame_data(h, dom->shared_info_mfn);
            if (xg_guest_word(si, sl->p2m_vaddr, sl->word)) {
                sim_journal(h, si + sl->p2m_cr3, sl->word);
                xg_guest_set_word(si, sl->p2m_cr3, sl->word,
                                  xg_frame_to_cr3(sim_vcpu_root(dom, 0), dom->guest_width));
            }
        } else if (generic_start_info_frames(h, dom, false) < 0) {
            e = -EFAULT;
        }
        if (e < 0)
            return xg_diag_err(d, XG_E_HV, &loc, "domain %u failed to resume", domid);
        SIM_SET(h, dom->shutdown, 0);
        SIM_SET(h, dom->shutdown_reason, 0);
        SIM_SET(h, dom->flags, (dom->flags & ~SIM_DOM_RESTORED) | SIM_DOM_GENERIC);
        SIM_SET(h, dom->pause_count, 0);
        return 0;
    }
    uint32_t saved = h->caller;
    h->caller = domid;
    int e = 0;
    if (restored) {
        /* New host: the restorer wrote mfns into start info; the guest rebuilds its frame lists. */
        rebuild_frame_lists(h, dom, &gi);
    } else {
        /* Suspend cancelled: back from pfns to mfns. */
        e = write_start_info_frames(h, dom, &gi, false);
    }
    if (e == 0)
        e = set_shinfo_mapping(h, dom, &gi, true);
    h->caller = saved;
    if (e < 0)
        return xg_diag_syserr(d, XG_E_HV, -e, &loc, "domain %u failed to resume", domid);
    SIM_SET(h, dom->shutdown, 0);
    SIM_SET(h, dom->shutdown_reason, 0);
    SIM_SET(h, dom->flags, dom->flags & ~SIM_DOM_RESTORED);
    SIM_SET(h, dom->pause_count, 0);
    return 0;
}
