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
 * The pieces: churn_prim.c (the kernel's primitives), churn_space.c
 * (address spaces); here the balloon, the grant maps and the run.
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

/* ------------------------------------------------------------ balloon */

/*
 * The guest's p2m entry for pfn, a plain store into its p2m list.  Linux
 * bumps shared info's p2m_generation only around a change of the list's
 * own mapping (xen_alloc_p2m_entry replacing a p2m page); this guest's list
 * is backed in full, so an entry change leaves the generation alone, and
 * the saver must notice the change through the dirty p2m page.
 */
static int set_p2m(struct churn *c, uint64_t pfn, uint64_t mfn)
{
    unsigned w = c->width;
    uint8_t word[8];
    xg_guest_set_word(word, 0, w, mfn == NONE ? (w == 4 ? 0xffffffffULL : NONE) : mfn);
    return churn_guest_store(c, c->gi.p2m_first_pfn + pfn * w / SIM_PAGE,
                             (unsigned)(pfn * w % SIM_PAGE), word, w);
}

static int balloon_out(struct churn *c)
{
    uint64_t pfn;
    if (!churn_take_free_page(c, &pfn))
        return 0;
    uint64_t m = churn_mfn_of(c, pfn);
    int e = churn_set_direct_map(c, pfn, m, 0, "unmapping a page it gives back");
    if (e == 0)
        e = set_p2m(c, pfn, NONE);
    if (e == 0 && (e = sim_release_frame(c->h, c->domid, m)) < 0)
        e = churn_refused(c, e, "giving a page back (decrease_reservation)", pfn);
    if (e < 0)
        return e;
    if (c->nr_out == c->cap_out) {
        size_t n = c->cap_out ? c->cap_out * 2 : 64;
        struct ballooned *nb = realloc(c->out, n * sizeof(*nb));
        if (!nb)
            return churn_refused(c, -ENOMEM, "keeping track of its balloon", pfn);
        c->out = nb;
        c->cap_out = n;
    }
    c->out[c->nr_out++] = (struct ballooned){ pfn, 5 + (unsigned)(churn_rnd(c) % 50) };
    c->st->ballooned_out++;
    return 0;
}

static int balloon_in(struct churn *c, uint64_t pfn)
{
    uint64_t m;
    int e = sim_populate_one(c->h, c->domid, pfn, &m);
    if (e < 0)
        return churn_refused(c, e, "taking a page back (populate_physmap)", pfn);
    if ((e = set_p2m(c, pfn, m)) < 0 ||
        (e = churn_set_direct_map(c, pfn, m, RW_FLAGS, "mapping a page it took back")) < 0 ||
        (e = churn_fill_data(c, pfn)) < 0)
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

/* A peer domain whose frames the guest maps, as a backend maps a frontend's (made once per host).
 */
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
            return churn_refused(c, e, "creating a peer domain to grant it pages", 0);
        struct sim_domain *pd = sim_domain(h, peer);
        sim_journal(h, pd->layout, sizeof(pd->layout));
        memcpy(pd->layout, "grant-peer", 11);
        SIM_SET(h, pd->pause_count, 0);
        c->dom = sim_domain(h, c->domid);
    }
    c->nr_peer_mfns = 0;
    for (uint64_t m = 0; m < h->hdr->nr_frames && c->nr_peer_mfns < XG_ARRAY_SIZE(c->peer_mfn); m++)
        if (h->frames[m].owner == peer && h->frames[m].count &&
            !(h->frames[m].flags & SIM_PGC_XEN_HEAP))
            c->peer_mfn[c->nr_peer_mfns++] = m;
    if (!c->nr_peer_mfns)
        return churn_refused(c, -ENOENT, "finding a peer's page to map", 0);
    struct sim_guest_info *gi = live_info(c);
    SIM_SET(h, gi->grant_peer, peer);
    return 0;
}

static int grant_map(struct churn *c)
{
    struct sim_guest_info *gi = live_info(c);
    if (gi->nr_grant_maps >= SIM_MAX_GRANT_MAPS)
        return 0;
    uint64_t l1 = churn_mfn_of(c, c->gi.shinfo_l1_pfn);
    if (l1 == NONE)
        return churn_refused(c, -EFAULT, "finding its fixmap L1", c->gi.shinfo_l1_pfn);
    const uint64_t *e = (const uint64_t *)sim_frame_data(c->h, l1);
    unsigned slot = 512;
    for (int tries = 0; tries < 16 && slot == 512; tries++) {
        unsigned s = (unsigned)(churn_rnd(c) % XG_PTES_PER_TABLE);
        if (!xg_pte_present(e[s]) && s != c->gi.shinfo_l1_slot &&
            s != (c->gi.shinfo_l1_slot + 1) % 512)
            slot = s;
    }
    if (slot == 512)
        return 0;
    uint64_t pm = c->peer_mfn[churn_rnd(c) % c->nr_peer_mfns];
    /* GNTTABOP_map_grant_ref with a host address: Xen writes the entry, holding a page and type
     * ref. */
    sim_frame_w(c->h, pm)->count++;
    int rc = sim_get_page_type(c->h, pm, PGT_writable_page);
    if (rc < 0) {
        sim_put_page(c->h, pm);
        return churn_refused(c, rc, "grant-mapping a peer's page", c->gi.shinfo_l1_pfn);
    }
    sim_write_u64(c->h, l1, slot, xg_pte_make(pm, RW_FLAGS));
    sim_mark_dirty(c->h, l1);
    unsigned i = gi->nr_grant_maps;
    sim_journal(c->h, &gi->grant[i], sizeof(gi->grant[i]));
    gi->grant[i] = (struct sim_grant_map){ .l1_pfn = c->gi.shinfo_l1_pfn,
                                           .slot = slot,
                                           .peer_mfn = pm };
    SIM_SET(c->h, gi->nr_grant_maps, i + 1);
    sim_mark_dirty(c->h, c->gi_mfn);
    c->grant_ttl[i] = (uint8_t)(1 + churn_rnd(c) % 3);
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
            return churn_refused(c, e, "unmapping a grant", gi->grant[i].l1_pfn);
        c->grant_ttl[i] = c->grant_ttl[gi->nr_grant_maps];
        c->st->grant_unmaps++;
    }
    return 0;
}

/* ------------------------------------------------------------ the run */

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

/*
 * What is due this tick.  At most `cap` (the rest waits for the next
 * ticks), so one tick's undo journal stays small whatever the rate.
 */
static unsigned take(double *credit, double rate, double dt, unsigned cap)
{
    *credit += rate * dt;
    unsigned n = *credit < cap ? (unsigned)*credit : cap;
    *credit -= n;
    return n;
}

/* One tick of the guest's kernel; the host lock is held, the guest is running. */
static int tick(struct churn *c, const unsigned n[4], bool last)
{
    sim_workload_dirty(c->h, c->dom, &c->gi, c->gi_mfn, n[0], &c->rng, &c->st->dirty);
    int e = churn_age_spaces(c, last);
    if (e == 0)
        e = age_balloon(c, last);
    if (e == 0 && live_info(c)->nr_grant_maps)
        e = age_grants(c, last);
    if (last)
        return e;
    for (unsigned i = 0; i < n[1] && e == 0; i++) {
        unsigned v = (unsigned)(churn_rnd(c) % c->dom->nr_vcpus);
        if (c->dom->vcpu[v].initialised)
            e = churn_build_space(c, v);
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
        return xg_diag_err(
            d, XG_E_INVAL, &loc,
            "domain %u is not a guest xg-sim built: it has no simulated kernel to churn its tables",
            c->domid);
    c->width = c->dom->guest_width;
    const struct xg_vcpu_layout *L = xg_vcpu_layout(c->width);
    for (unsigned v = 0; v < c->dom->nr_vcpus && v < SIM_MAX_VCPUS; v++) {
        c->home_root[v] = sim_vcpu_root(c->dom, v);
        uint64_t cr1 = c->width == 8
                           ? xg_guest_word(c->dom->vcpu[v].ctx, L->ctrlreg + L->word, L->word)
                           : 0;
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
        if (c->nr_out == c->cap_out) {
            size_t n = c->cap_out * 2 + 64;
            struct ballooned *nb = realloc(c->out, n * sizeof(*nb));
            if (!nb)
                return xg_diag_err(d, XG_E_NOMEM, NULL, "out of memory");
            c->out = nb;
            c->cap_out = n;
        }
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
    return xg_diag_syserr(
        d, XG_E_HV, -e, &loc,
        "the guest's kernel was refused while %s (pfn %#llx); its tick was rolled back "
        "(see `xg-sim log`)",
        c->step ? c->step : "churning", (unsigned long long)c->step_pfn);
}

int sim_churn_run(struct sim_host *h, uint32_t domid, const struct sim_churn_opts *o,
                  struct sim_churn_stats *st, xg_diag *d)
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
        unsigned n[4] = { take(&cr.dirty, o->dirty_rate, dt, UINT32_MAX),
                          take(&cr.spaces, o->pt_churn, dt, 32),
                          take(&cr.balloon, o->balloon, dt, 64),
                          take(&cr.grants, o->grant_maps, dt, 16) };
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
