/*
 * guest.c - the simulated guest from the inside, below everything that
 * acts for it: walk its page tables, find its guest-info page and its own
 * p2m, dirty its memory (the workload), and check it (self-check).  Its
 * kernel's side of suspend and resume is in suspend.c, above churn.c.
 */
#include "config.h"

#include <errno.h>
#include <string.h>
#include <time.h>

#include "hv/sim/guest.h"
#include "internal.h"
#include "pv/abi.h"
#include "pv/pte.h"

int sim_walk(struct sim_host *h, unsigned guest_width, uint64_t root_mfn, uint64_t va,
             uint64_t *mfn, uint64_t *pte)
{
    unsigned top = guest_width == 8 ? 4 : 3;
    uint64_t t = root_mfn;
    for (unsigned level = top; level >= 1; level--) {
        if (!sim_mfn_valid(h, t))
            return -EFAULT;
        unsigned idx = (guest_width == 4 && level == 3)
                           ? (unsigned)((va >> 30) & 3)
                           : (unsigned)((va >> (12 + 9 * (level - 1))) & 511);
        uint64_t e = ((const uint64_t *)sim_frame_data(h, t))[idx];
        if (!xg_pte_present(e))
            return -ENOENT;
        t = xg_pte_frame(e);
        if (level == 1) {
            if (!sim_mfn_valid(h, t))
                return -EFAULT;
            *mfn = t;
            if (pte)
                *pte = e;
            return 0;
        }
    }
    return -ENOENT;
}

uint64_t sim_vcpu_root(const struct sim_domain *dom, unsigned v)
{
    const struct xg_vcpu_layout *L = xg_vcpu_layout(dom->guest_width);
    uint64_t cr3 = xg_guest_word(dom->vcpu[v].ctx, L->ctrlreg + 3 * L->word, L->word);
    return xg_cr3_to_frame(cr3, dom->guest_width);
}

int sim_guest_info_get(struct sim_host *h, struct sim_domain *dom, struct sim_guest_info *out,
                       uint64_t *mfn)
{
    if (!dom->vcpu[0].initialised)
        return -ENOENT;
    uint64_t kva = dom->guest_width == 8 ? 0xffffffff80000000ULL : 0xc0000000ULL;
    uint64_t m;
    if (sim_walk(h, dom->guest_width, sim_vcpu_root(dom, 0), kva, &m, NULL) < 0)
        return -ENOENT;
    memcpy(out, sim_frame_data(h, m), sizeof(*out));
    if (memcmp(out->magic, SIM_GUEST_MAGIC, 8) != 0)
        return -ENOENT;
    if (mfn)
        *mfn = m;
    return 0;
}

/* The mfn of a pfn, from the guest's own p2m list (its p2m frames, through the M2P-free path). */
int sim_guest_p2m(struct sim_host *h, struct sim_domain *dom, const struct sim_guest_info *gi,
                  uint64_t pfn, uint64_t *mfn)
{
    unsigned w = dom->guest_width;
    if (pfn >= gi->nr_pages)
        return -ERANGE;
    uint64_t frame_pfn = gi->p2m_first_pfn + pfn * w / SIM_PAGE;
    /* The p2m frames are mapped in the direct map; find the frame through it. */
    uint64_t fm;
    if (frame_pfn >= gi->directmap_nr ||
        sim_walk(h, w, sim_vcpu_root(dom, 0), gi->directmap_va + (frame_pfn << 12), &fm, NULL) < 0)
        return -EFAULT;
    uint64_t v = xg_guest_word(sim_frame_data(h, fm), (unsigned)(pfn * w % SIM_PAGE), w);
    if ((w == 4 && v == 0xffffffffULL) || v == ~0ULL)
        return -ENOENT;
    *mfn = v;
    return 0;
}

/* ------------------------------------------------------------ self-check */

int sim_self_check(struct sim_host *h, uint32_t domid, xg_diag *d)
{
    int rc = sim_lock(h, 0, d);
    if (rc < 0)
        return rc;
    struct sim_domain *dom = sim_domain(h, domid);
    struct xg_loc loc = { XGF_DOMID(domid) };
    size_t errors_before = xg_diag_total(d, XG_SEV_ERROR);
    struct sim_guest_info gi;
    if (!dom) {
        rc = xg_diag_err(d, XG_E_NOTFOUND, &loc, "no domain %u", domid);
        goto out;
    }
    if (sim_guest_info_get(h, dom, &gi, NULL) < 0) {
        rc = xg_diag_err(d, XG_E_GUEST, &loc,
                         "vcpu0's page tables do not lead to the guest's kernel "
                         "(no guest-info page at its kernel address)");
        goto out;
    }
    for (unsigned v = 0; v < dom->nr_vcpus; v++) {
        struct xg_loc vl = { XGF_DOMID(domid), XGF_VCPU(v) };
        if (!dom->vcpu[v].initialised) {
            /* An offline vcpu (a domain may have more than its guest brings up); vcpu0 must run. */
            if (v == 0)
                xg_diag_err(d, XG_E_GUEST, &vl, "vcpu0 has no context");
            continue;
        }
        uint64_t root = sim_vcpu_root(dom, v);
        for (unsigned i = 0; i < gi.nr_canaries && i < SIM_MAX_CANARIES; i++) {
            const struct sim_canary *c = &gi.canary[i];
            if (!(c->vcpu_mask & (1U << v)))
                continue;
            uint64_t m, got;
            if (sim_walk(h, dom->guest_width, root, c->va, &m, NULL) < 0) {
                xg_diag_err(d, XG_E_GUEST, &vl,
                            "canary %u at %#llx is not mapped in vcpu%u's address space", i,
                            (unsigned long long)c->va, v);
                continue;
            }
            memcpy(&got, sim_frame_data(h, m) + (c->va & 0xfff), 8);
            if (got != c->value) {
                struct xg_loc cl = { XGF_DOMID(domid), XGF_VCPU(v), XGF_MFN(m), XGF_FOUND(got),
                                     XGF_EXPECTED(c->value) };
                xg_diag_err(d, XG_E_GUEST, &cl, "canary %u at %#llx holds the wrong value", i,
                            (unsigned long long)c->va);
            }
        }
    }
    /* The guest's p2m must name its own frames, and the M2P must agree. */
    for (uint64_t pfn = 0; pfn < gi.nr_pages; pfn++) {
        uint64_t m;
        int e = sim_guest_p2m(h, dom, &gi, pfn, &m);
        if (e == -ENOENT)
            continue; /* ballooned out */
        struct xg_loc pl = { XGF_DOMID(domid), XGF_PFN(pfn) };
        if (e < 0 || !sim_mfn_valid(h, m) || sim_frame(h, m)->owner != domid || h->m2p[m] != pfn) {
            if (e == 0) {
                pl.has_mfn = 1;
                pl.mfn = m;
            }
            xg_diag_err(d, XG_E_GUEST, &pl, "the guest's p2m entry for pfn %#llx is wrong",
                        (unsigned long long)pfn);
            if (xg_diag_total(d, XG_SEV_ERROR) - errors_before > 20)
                break;
        }
    }
    /* Start info: store and console frames as the guest's state says they should be. */
    uint64_t si_mfn;
    if (sim_guest_p2m(h, dom, &gi, gi.start_info_pfn, &si_mfn) == 0) {
        const struct xg_start_info_layout *L = xg_start_info_layout(dom->guest_width);
        const uint8_t *si = sim_frame_data(h, si_mfn);
        bool suspended = dom->shutdown && dom->shutdown_reason == XG_SHUTDOWN_SUSPEND;
        uint64_t want_store = gi.store_pfn, want_console = gi.console_pfn;
        uint64_t store = xg_guest_word(si, L->store_mfn, L->word),
                 console = xg_guest_word(si, L->console_mfn, L->word);
        if (!suspended) {
            store = sim_mfn_valid(h, store) ? h->m2p[store] : ~0ULL;
            console = sim_mfn_valid(h, console) ? h->m2p[console] : ~0ULL;
        }
        if (strncmp((const char *)si, "xen-3.0-", 8) != 0)
            xg_diag_err(d, XG_E_GUEST, &loc, "start info page has lost its magic");
        if (store != want_store)
            xg_diag_err(d, XG_E_GUEST, &loc,
                        "start info names the wrong xenstore page (pfn %#llx, expected %#llx)",
                        (unsigned long long)store, (unsigned long long)want_store);
        if (console != want_console)
            xg_diag_err(d, XG_E_GUEST, &loc,
                        "start info names the wrong console page (pfn %#llx, expected %#llx)",
                        (unsigned long long)console, (unsigned long long)want_console);
    } else {
        xg_diag_err(d, XG_E_GUEST, &loc, "the guest's p2m has no frame for its start info page");
    }
    rc = xg_diag_total(d, XG_SEV_ERROR) > errors_before ? XG_E_GUEST : 0;
out:
    sim_unlock(h);
    return rc;
}

/* ------------------------------------------------------------ workload */

static uint64_t mix(uint64_t *s)
{
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 0x2545f4914f6cdd1dULL;
}

static void sleep_s(double s)
{
    if (s <= 0)
        return;
    struct timespec ts = { (time_t)s, (long)((s - (double)(time_t)s) * 1e9) };
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

void sim_workload_dirty(struct sim_host *h, struct sim_domain *dom, struct sim_guest_info *gi,
                        uint64_t gi_mfn, unsigned batch, uint64_t *rng,
                        struct sim_workload_stats *st)
{
    uint64_t span = XG_MIN(gi->data_nr, gi->directmap_nr > gi->data_first_pfn
                                            ? gi->directmap_nr - gi->data_first_pfn
                                            : 0);
    for (unsigned i = 0; i < batch && span; i++) {
        uint64_t pfn = gi->data_first_pfn + mix(rng) % span, m;
        if (sim_guest_p2m(h, dom, gi, pfn, &m) < 0 || !sim_mfn_valid(h, m))
            continue;
        const struct sim_frame *f = sim_frame(h, m);
        /* The guest writes only through its own writable mappings. */
        if (f->owner != dom->domid || (f->type_info & PGT_type_mask) != PGT_writable_page ||
            !(f->type_info & PGT_count_mask))
            continue;
        uint64_t *p = (uint64_t *)sim_frame_data(h, m);
        uint64_t gen = ++gi->generation;
        p[3] = gen;
        for (unsigned k = 0; k < 8; k++)
            p[8 + (mix(rng) % (SIM_PAGE / 8 - 8))] = mix(rng);
        sim_mark_dirty(h, m);
        st->pages_written++;
    }
    /* The kernel's own counter of writes lives in its guest-info page. */
    struct sim_guest_info *live = (struct sim_guest_info *)sim_frame_data(h, gi_mfn);
    live->generation = gi->generation;
    sim_mark_dirty(h, gi_mfn);
}

int sim_workload(struct sim_host *h, uint32_t domid, double rate, double seconds, uint64_t seed,
                 struct sim_workload_stats *st, xg_diag *d)
{
    memset(st, 0, sizeof(*st));
    struct xg_loc dl = { XGF_DOMID(domid) };
    int lrc = sim_lock(h, 0, d);
    if (lrc < 0)
        return lrc;
    struct sim_domain *first = sim_domain(h, domid);
    bool known = first && !first->dying;
    sim_unlock(h);
    if (!known)
        return xg_diag_err(d, XG_E_NOTFOUND, &dl, "no domain %u on this host", domid);
    uint64_t s = seed * 0x9e3779b97f4a7c15ULL + 0xdeadbeef;
    const double tick = 0.01;
    double start = xg__now(), last = start, now, credit = 0;
    struct xg_loc loc = { XGF_DOMID(domid) };
    while ((now = xg__now()) - start < seconds) {
        credit += rate * (now - last);
        last = now;
        unsigned batch = (unsigned)credit;
        credit -= batch;
        if (batch) {
            int rc = sim_lock(h, domid, d);
            if (rc < 0)
                return rc;
            struct sim_domain *dom = sim_domain(h, domid);
            struct sim_guest_info gi;
            uint64_t gi_mfn;
            if (!dom || dom->dying) {
                sim_unlock(h);
                return xg_diag_err(d, XG_E_NOTFOUND, &loc, "domain %u went away", domid);
            }
            if (dom->pause_count || dom->shutdown || sim_guest_info_get(h, dom, &gi, &gi_mfn) < 0) {
                /* A suspended or paused guest runs no code. */
                st->skipped += batch;
                sim_unlock(h);
            } else {
                sim_workload_dirty(h, dom, &gi, gi_mfn, batch, &s, st);
                sim_unlock(h);
            }
        }
        sleep_s(tick);
    }
    return 0;
}
