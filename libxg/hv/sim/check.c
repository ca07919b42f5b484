/*
 * check.c - two views from outside a host: a consistency checker that
 * recounts every reference from first principles, and the comparison of
 * two guests in PFN space (what a save and restore must preserve).
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "hv/sim/guest.h"
#include "internal.h"
#include "pv/abi.h"
#include "pv/pte.h"

static unsigned level_of(uint64_t type_info)
{
    uint64_t t = type_info & PGT_type_mask;
    return (t >= PGT_l1_page_table && t <= PGT_l4_page_table) ? (unsigned)(t >> 61) : 0;
}

/* Does slot s of a table of this level hold a guest entry (not one of Xen's)? */
static bool guest_slot(unsigned width, unsigned level, uint64_t type_info, unsigned s)
{
    if (level == 4)
        return width == 4 ? s == 0 : !xg_l4_is_xen_slot(s);
    if (level == 3 && width == 4)
        return s < XG_PAE_L3_ENTRIES;
    if (level == 2 && (type_info & PGT_pae_xen_l2))
        return s < XG_COMPAT_L2_FIRST_XEN_SLOT;
    return true;
}

/* References recounted from their users, per frame. */
struct recount {
    uint64_t n;    /* frames on the host */
    uint64_t *cnt; /* general references */
    uint64_t *typ; /* type references */
    int64_t *lin;  /* linear_pt_count */
    uint64_t nr_free;
};

/* What frame mfn holds itself (allocation, Xen heap, pin) and what its live table entries hold. */
static void count_frame(struct sim_host *h, struct recount *r, uint64_t mfn, xg_diag *d)
{
    const struct sim_frame *f = sim_frame(h, mfn);
    if (f->owner == SIM_OWNER_FREE) {
        r->nr_free++;
        if (f->count || (f->type_info & PGT_count_mask) || h->m2p[mfn] != XG_INVALID_PFN) {
            struct xg_loc l = { XGF_MFN(mfn), XGF_FOUND(f->count) };
            xg_diag_err(d, XG_E_HV, &l, "free frame %#llx still has references or an M2P entry",
                        (unsigned long long)mfn);
        }
        return;
    }
    if (f->flags & SIM_PGC_ALLOCATED)
        r->cnt[mfn]++;
    if (f->flags & SIM_PGC_XEN_HEAP)
        r->typ[mfn]++; /* Xen's own type reference on pages it shares */
    if (f->type_info & PGT_pinned) {
        r->cnt[mfn]++;
        r->typ[mfn]++;
    }
    unsigned level = level_of(f->type_info);
    if (!level || !(f->type_info & PGT_validated) || !(f->type_info & PGT_count_mask))
        return;
    struct sim_domain *dom = sim_domain(h, f->owner);
    unsigned width = dom ? dom->guest_width : 8;
    const uint64_t *e = (const uint64_t *)sim_frame_data(h, mfn);
    for (unsigned s = 0; s < XG_PTES_PER_TABLE; s++) {
        if (!xg_pte_present(e[s]) || !guest_slot(width, level, f->type_info, s))
            continue;
        uint64_t t = xg_pte_frame(e[s]);
        if (t >= r->n)
            continue;
        if (level == 1) {
            r->cnt[t]++;
            if (e[s] & XG_PTE_RW)
                r->typ[t]++;
        } else if (t != mfn) {
            r->cnt[t]++;
            r->typ[t]++;
            if (level_of(sim_frame(h, t)->type_info) == level) {
                r->lin[mfn]++;
                r->lin[t]--;
            }
        }
    }
}

/* Each domain's page count, and the references its vcpus hold (cr3s, GDT frames). */
static void count_domain(struct sim_host *h, struct recount *r, const struct sim_domain *dom,
                         xg_diag *d)
{
    uint64_t n = r->n, pages = 0;
    for (uint64_t mfn = 0; mfn < n; mfn++)
        if (h->frames[mfn].owner == dom->domid && !(h->frames[mfn].flags & SIM_PGC_XEN_HEAP))
            pages++;
    if (pages != dom->tot_pages) {
        struct xg_loc l = { XGF_DOMID(dom->domid), XGF_FOUND(dom->tot_pages), XGF_EXPECTED(pages) };
        xg_diag_err(d, XG_E_HV, &l, "domain %u counts %llu pages but owns %llu", dom->domid,
                    (unsigned long long)dom->tot_pages, (unsigned long long)pages);
    }
    for (unsigned v = 0; v < dom->nr_vcpus; v++) {
        const struct sim_vcpu *vc = &dom->vcpu[v];
        if (vc->guest_table != XG_INVALID_MFN && vc->guest_table < n)
            r->cnt[vc->guest_table]++, r->typ[vc->guest_table]++;
        if (vc->guest_table_user != XG_INVALID_MFN && vc->guest_table_user < n)
            r->cnt[vc->guest_table_user]++, r->typ[vc->guest_table_user]++;
        for (unsigned g = 0; g < vc->nr_gdt; g++)
            if (vc->gdt_mfn[g] < n)
                r->cnt[vc->gdt_mfn[g]]++, r->typ[vc->gdt_mfn[g]]++;
    }
}

/* The references dom0 processes' foreign mappings hold. */
static void count_mappings(struct sim_host *h, struct recount *r)
{
    for (uint32_t i = 0; i < SIM_MAP_SLOTS; i++) {
        const struct sim_map_ref *m = &h->maps[i];
        if (m->proc && m->mfn < r->n) {
            r->cnt[m->mfn] += m->count;
            if (m->rw)
                r->typ[m->mfn] += m->count;
        }
    }
}

/* One owned frame's counts against the recount, and the states no op leaves behind. */
static void check_frame(struct sim_host *h, const struct recount *r, uint64_t mfn, xg_diag *d)
{
    const struct sim_frame *f = sim_frame(h, mfn);
    uint64_t ti = f->type_info, tcount = ti & PGT_count_mask;
    const char *tname = sim_type_name(ti);
    unsigned long long m = mfn;
    struct xg_loc l = { XGF_MFN(mfn), XGF_OWNER(f->owner) };
    if (f->count != r->cnt[mfn]) {
        l.has_found = 1, l.found = f->count, l.has_expected = 1, l.expected = r->cnt[mfn];
        xg_diag_err(d, XG_E_HV, &l,
                    "frame %#llx has %u general references; its users account for %llu", m,
                    f->count, (unsigned long long)r->cnt[mfn]);
    }
    if (tcount != r->typ[mfn]) {
        l.has_found = 1, l.found = tcount, l.has_expected = 1, l.expected = r->typ[mfn];
        xg_diag_err(d, XG_E_HV, &l,
                    "frame %#llx (type %s) has %llu type references; its users account for %llu", m,
                    tname, (unsigned long long)tcount, (unsigned long long)r->typ[mfn]);
    }
    if (f->linear != r->lin[mfn]) {
        l.has_found = 1, l.found = (uint64_t)(int64_t)f->linear;
        l.has_expected = 1, l.expected = (uint64_t)r->lin[mfn];
        xg_diag_err(d, XG_E_HV, &l, "frame %#llx has linear count %d; its entries account for %lld",
                    m, f->linear, (long long)r->lin[mfn]);
    }
    bool table = level_of(ti) != 0, validated = ti & PGT_validated;
    if (table && validated && !tcount)
        xg_diag_err(d, XG_E_HV, &l, "frame %#llx is a validated %s table with no references", m,
                    tname);
    /* Between ops nothing is half done: no lock bit, no partial or unvalidated live table. */
    if (ti & (PGT_locked | PGT_partial))
        xg_diag_err(d, XG_E_HV, &l,
                    "frame %#llx is left locked or partially validated (type_info %016llx)", m,
                    (unsigned long long)ti);
    if (table && tcount && !validated)
        xg_diag_err(d, XG_E_HV, &l, "frame %#llx is an %s table in use but not validated", m,
                    tname);
    if ((ti & PGT_pinned) && (!table || !validated))
        xg_diag_err(d, XG_E_HV, &l,
                    "frame %#llx is pinned but not a validated page table (type_info %016llx)", m,
                    (unsigned long long)ti);
    if ((ti & PGT_pae_xen_l2) && (ti & PGT_type_mask) != PGT_l2_page_table)
        xg_diag_err(d, XG_E_HV, &l, "frame %#llx has pae_xen_l2 but is no L2 (type_info %016llx)",
                    m, (unsigned long long)ti);
}

int sim_check_consistency(struct sim_host *h, xg_diag *d)
{
    int rc = sim_lock(h, 0, d);
    if (rc < 0)
        return rc;
    uint64_t n = h->hdr->nr_frames;
    struct recount r = { .n = n };
    r.cnt = calloc(n, sizeof(*r.cnt));
    r.typ = calloc(n, sizeof(*r.typ));
    r.lin = calloc(n, sizeof(*r.lin));
    size_t before = xg_diag_total(d, XG_SEV_ERROR);
    if (!r.cnt || !r.typ || !r.lin) {
        rc = xg_diag_err(d, XG_E_NOMEM, NULL, "out of memory checking the host");
        goto out;
    }
    for (uint64_t mfn = 0; mfn < n; mfn++)
        count_frame(h, &r, mfn, d);
    for (uint32_t i = 0; i < SIM_MAX_DOMAINS; i++)
        if (h->doms[i].in_use)
            count_domain(h, &r, &h->doms[i], d);
    count_mappings(h, &r);
    for (uint64_t mfn = 0; mfn < n; mfn++) {
        if (sim_frame(h, mfn)->owner == SIM_OWNER_FREE)
            continue;
        check_frame(h, &r, mfn, d);
        if (xg_diag_total(d, XG_SEV_ERROR) - before > 50)
            break;
    }
    if (r.nr_free != h->hdr->nr_free) {
        struct xg_loc l = { XGF_FOUND(h->hdr->nr_free), XGF_EXPECTED(r.nr_free) };
        xg_diag_err(d, XG_E_HV, &l, "the host counts %llu free frames but %llu are free",
                    (unsigned long long)h->hdr->nr_free, (unsigned long long)r.nr_free);
    }
    if (h->hdr->journal_used)
        xg_diag_err(d, XG_E_HV, NULL, "the undo journal is not empty between operations");
    rc = xg_diag_total(d, XG_SEV_ERROR) > before ? XG_E_HV : 0;
out:
    free(r.cnt);
    free(r.typ);
    free(r.lin);
    sim_unlock(h);
    return rc;
}

/* ------------------------------------------------------------ compare */

struct side {
    struct sim_host *h;
    struct sim_domain *dom;
    uint64_t *mfn_of; /* pfn -> mfn, ~0 when absent */
    uint64_t nr;      /* pfns covered */
    bool have_gi;
    struct sim_guest_info gi;
    bool suspended;
};

static int load_side(struct side *s, struct sim_host *h, uint32_t domid, uint64_t cap, xg_diag *d)
{
    s->h = h;
    s->dom = sim_domain(h, domid);
    struct xg_loc l = { XGF_DOMID(domid) };
    if (!s->dom)
        return xg_diag_err(d, XG_E_NOTFOUND, &l, "no domain %u", domid);
    s->nr = cap;
    s->mfn_of = malloc(cap * sizeof(uint64_t));
    if (!s->mfn_of)
        return xg_diag_err(d, XG_E_NOMEM, NULL, "out of memory");
    memset(s->mfn_of, 0xff, cap * sizeof(uint64_t));
    for (uint64_t mfn = 0; mfn < h->hdr->nr_frames; mfn++) {
        const struct sim_frame *f = sim_frame(h, mfn);
        if (f->owner != domid || !(f->flags & SIM_PGC_ALLOCATED) || (f->flags & SIM_PGC_XEN_HEAP))
            continue;
        uint64_t pfn = h->m2p[mfn];
        if (pfn >= cap)
            continue;
        s->mfn_of[pfn] = mfn;
    }
    s->have_gi = sim_guest_info_get(h, s->dom, &s->gi, NULL) == 0;
    s->suspended = s->dom->shutdown && s->dom->shutdown_reason == XG_SHUTDOWN_SUSPEND;
    return 0;
}

static uint64_t max_owned_pfn(struct sim_host *h, uint32_t domid)
{
    uint64_t m = 0;
    for (uint64_t mfn = 0; mfn < h->hdr->nr_frames; mfn++)
        if (h->frames[mfn].owner == domid && (h->frames[mfn].flags & SIM_PGC_ALLOCATED) &&
            !(h->frames[mfn].flags & SIM_PGC_XEN_HEAP) && h->m2p[mfn] != XG_INVALID_PFN &&
            h->m2p[mfn] + 1 > m)
            m = h->m2p[mfn] + 1;
    return m;
}

/* The pfn an mfn stands for in this guest, or ~0 if it is not one of its frames. */
static uint64_t to_pfn(const struct side *s, uint64_t mfn)
{
    if (!sim_mfn_valid(s->h, mfn) || sim_frame(s->h, mfn)->owner != s->dom->domid)
        return ~0ULL;
    uint64_t pfn = s->h->m2p[mfn];
    return pfn < s->nr && s->mfn_of[pfn] == mfn ? pfn : ~0ULL;
}

/*
 * What an entry's frame stands for when two guests are compared: its pfn,
 * or the guest's own shared info page (a Xen page with no pfn, mapped at
 * the same place in both).  Fix: such a mapping used to count as a
 * difference, so a running guest differed even from itself.
 */
#define SHINFO_KEY (~1ULL)
static uint64_t frame_key(const struct side *s, uint64_t mfn)
{
    if (s->dom->shared_info_mfn && mfn == s->dom->shared_info_mfn)
        return SHINFO_KEY;
    return to_pfn(s, mfn);
}

static bool in_range(uint64_t pfn, uint64_t first, uint64_t nr)
{
    return pfn >= first && pfn < first + nr;
}

static void compare_table(const struct side *a, const struct side *b, uint64_t pfn, unsigned level,
                          uint64_t ta, xg_diag *d)
{
    const uint64_t *ea = (const uint64_t *)sim_frame_data(a->h, a->mfn_of[pfn]);
    const uint64_t *eb = (const uint64_t *)sim_frame_data(b->h, b->mfn_of[pfn]);
    for (unsigned s = 0; s < XG_PTES_PER_TABLE; s++) {
        if (!guest_slot(a->dom->guest_width, level, ta, s))
            continue;
        uint64_t x = ea[s], y = eb[s];
        bool same;
        if (!xg_pte_present(x) || !xg_pte_present(y))
            same = x == y;
        else
            same = xg_pte_flags(x) == xg_pte_flags(y) &&
                   frame_key(a, xg_pte_frame(x)) == frame_key(b, xg_pte_frame(y)) &&
                   frame_key(a, xg_pte_frame(x)) != ~0ULL;
        if (!same) {
            struct xg_loc l = { XGF_PFN(pfn), XGF_LEVEL(level), XGF_SLOT(s), XGF_ENTRY(x),
                                XGF_FOUND(y) };
            xg_diag_err(d, XG_E_GUEST, &l,
                        "L%u table at pfn %#llx differs in slot %u "
                        "(A %#llx -> pfn %#llx, B %#llx -> pfn %#llx)",
                        level, (unsigned long long)pfn, s, (unsigned long long)x,
                        (unsigned long long)to_pfn(a, xg_pte_frame(x)), (unsigned long long)y,
                        (unsigned long long)to_pfn(b, xg_pte_frame(y)));
            return;
        }
    }
}

/* Canonical copy of a page whose words name frames: mfns become pfns. */
static void canonical_words(const struct side *s, uint64_t pfn, uint8_t *out)
{
    memcpy(out, sim_frame_data(s->h, s->mfn_of[pfn]), SIM_PAGE);
    unsigned w = s->dom->guest_width;
    if (!s->have_gi)
        return;
    const struct sim_guest_info *gi = &s->gi;
    if (in_range(pfn, gi->p2m_first_pfn, gi->p2m_nr)) {
        for (unsigned off = 0; off < SIM_PAGE; off += w) {
            uint64_t v = xg_guest_word(out, off, w);
            bool invalid = (w == 4 && v == 0xffffffffULL) || v == ~0ULL;
            if (!invalid)
                xg_guest_set_word(out, off, w, to_pfn(s, v));
        }
    } else if (pfn == gi->fll_pfn || in_range(pfn, gi->fl_first_pfn, gi->fl_nr)) {
        memset(out, 0, SIM_PAGE); /* caches of mfns the guest rebuilds on resume */
    } else if (pfn == gi->start_info_pfn) {
        const struct xg_start_info_layout *L = xg_start_info_layout(w);
        unsigned offs[2] = { L->store_mfn, L->console_mfn };
        for (int i = 0; i < 2; i++)
            if (!s->suspended)
                xg_guest_set_word(out, offs[i], L->word,
                                  to_pfn(s, xg_guest_word(out, offs[i], L->word)));
        xg_guest_set_word(out, L->shared_info, L->word, 0);
    }
}

static void compare_vcpus(const struct side *a, const struct side *b, xg_diag *d)
{
    const struct xg_vcpu_layout *L = xg_vcpu_layout(a->dom->guest_width);
    /* Domains may differ in how many vcpus they could have; the vcpus the guests run must match. */
    unsigned nv = XG_MAX(a->dom->nr_vcpus, b->dom->nr_vcpus);
    for (unsigned v = 0; v < nv; v++) {
        struct xg_loc l = { XGF_VCPU(v) };
        bool ia = v < a->dom->nr_vcpus && a->dom->vcpu[v].initialised;
        bool ib = v < b->dom->nr_vcpus && b->dom->vcpu[v].initialised;
        if (!ia && !ib)
            continue;
        if (ia != ib) {
            xg_diag_err(d, XG_E_GUEST, &l, "vcpu%u is set up in one guest only", v);
            continue;
        }
        uint8_t ca[XG_VCPU_CTX64_SIZE], cb[XG_VCPU_CTX64_SIZE];
        memcpy(ca, a->dom->vcpu[v].ctx, L->size);
        memcpy(cb, b->dom->vcpu[v].ctx, L->size);
        unsigned w = L->word, gw = a->dom->guest_width;
        /* Frame fields become pfns. */
        uint64_t cra = xg_cr3_to_frame(xg_guest_word(ca, L->ctrlreg + 3 * w, w), gw);
        uint64_t crb = xg_cr3_to_frame(xg_guest_word(cb, L->ctrlreg + 3 * w, w), gw);
        xg_guest_set_word(ca, L->ctrlreg + 3 * w, w, to_pfn(a, cra));
        xg_guest_set_word(cb, L->ctrlreg + 3 * w, w, to_pfn(b, crb));
        if (gw == 8) {
            uint64_t ua = xg_guest_word(ca, L->ctrlreg + w, w),
                     ub = xg_guest_word(cb, L->ctrlreg + w, w);
            if (ua)
                xg_guest_set_word(ca, L->ctrlreg + w, w, to_pfn(a, ua >> 12));
            if (ub)
                xg_guest_set_word(cb, L->ctrlreg + w, w, to_pfn(b, ub >> 12));
        }
        for (unsigned g = 0; g < XG_GDT_FRAMES; g++) {
            uint64_t fa = xg_guest_word(ca, L->gdt_frames + g * w, w),
                     fb = xg_guest_word(cb, L->gdt_frames + g * w, w);
            if (fa)
                xg_guest_set_word(ca, L->gdt_frames + g * w, w, to_pfn(a, fa));
            if (fb)
                xg_guest_set_word(cb, L->gdt_frames + g * w, w, to_pfn(b, fb));
        }
        if (v == 0) {
            uint64_t ra = xg_guest_word(ca, L->user_regs_rdx, w),
                     rb = xg_guest_word(cb, L->user_regs_rdx, w);
            if (to_pfn(a, ra) != ~0ULL)
                xg_guest_set_word(ca, L->user_regs_rdx, w, to_pfn(a, ra));
            if (to_pfn(b, rb) != ~0ULL)
                xg_guest_set_word(cb, L->user_regs_rdx, w, to_pfn(b, rb));
        }
        for (unsigned off = 0; off < L->size; off++) {
            if (ca[off] != cb[off]) {
                l.field = off >= L->ctrlreg && off < L->ctrlreg + 8 * w           ? "ctrlreg"
                          : off >= L->gdt_frames && off < L->gdt_frames + 16 * w  ? "gdt_frames"
                          : off >= L->user_regs_rdx && off < L->user_regs_rdx + w ? "user_regs.rdx"
                                                                                  : "context";
                l.has_offset = 1;
                l.offset = off;
                xg_diag_err(d, XG_E_GUEST, &l, "vcpu%u's context differs at byte %u (%s)", v, off,
                            l.field);
                break;
            }
        }
    }
}

int sim_compare(struct sim_host *ha, uint32_t da, struct sim_host *hb, uint32_t db, xg_diag *d)
{
    int rc = sim_lock(ha, 0, d);
    if (rc < 0)
        return rc;
    bool same_host = ha == hb;
    if (!same_host && (rc = sim_lock(hb, 0, d)) < 0) {
        sim_unlock(ha);
        return rc;
    }
    size_t before = xg_diag_total(d, XG_SEV_ERROR);
    struct side a = { 0 }, b = { 0 };
    uint64_t cap = 0;
    if (!sim_domain(ha, da) || !sim_domain(hb, db)) {
        struct xg_loc l = { XGF_DOMID(!sim_domain(ha, da) ? da : db) };
        rc = xg_diag_err(d, XG_E_NOTFOUND, &l, "no domain %u on %s host", l.domid,
                         !sim_domain(ha, da) ? "the first" : "the second");
        goto out;
    }
    cap = XG_MAX(max_owned_pfn(ha, da), max_owned_pfn(hb, db));
    if ((rc = load_side(&a, ha, da, cap, d)) < 0 || (rc = load_side(&b, hb, db, cap, d)) < 0)
        goto out;
    if (a.dom->guest_width != b.dom->guest_width) {
        xg_diag_err(d, XG_E_GUEST, NULL, "the guests differ in width (%u/%u bytes)",
                    a.dom->guest_width, b.dom->guest_width);
        goto done;
    }
    uint8_t *pa = malloc(SIM_PAGE), *pb = malloc(SIM_PAGE);
    if (!pa || !pb) {
        free(pa);
        free(pb);
        rc = xg_diag_err(d, XG_E_NOMEM, NULL, "out of memory");
        goto out;
    }
    for (uint64_t pfn = 0; pfn < cap; pfn++) {
        uint64_t ma = a.mfn_of[pfn], mb = b.mfn_of[pfn];
        struct xg_loc l = { XGF_PFN(pfn) };
        if (ma == ~0ULL && mb == ~0ULL)
            continue;
        if (ma == ~0ULL || mb == ~0ULL) {
            xg_diag_err(d, XG_E_GUEST, &l, "pfn %#llx exists only in the %s guest",
                        (unsigned long long)pfn, ma == ~0ULL ? "second" : "first");
            continue;
        }
        uint32_t tya = sim_pfinfo(ha, da, ma), tyb = sim_pfinfo(hb, db, mb);
        if (tya != tyb) {
            l.has_found = 1, l.found = tyb, l.has_expected = 1, l.expected = tya;
            xg_diag_err(d, XG_E_GUEST, &l,
                        "pfn %#llx is %s in the first guest but %s in the second",
                        (unsigned long long)pfn, xg_pfinfo_name(tya), xg_pfinfo_name(tyb));
            continue;
        }
        unsigned level = xg_pfinfo_level(tya);
        if (level) {
            compare_table(&a, &b, pfn, level, sim_frame(ha, ma)->type_info, d);
        } else {
            canonical_words(&a, pfn, pa);
            canonical_words(&b, pfn, pb);
            if (memcmp(pa, pb, SIM_PAGE) != 0) {
                unsigned off = 0;
                while (pa[off] == pb[off])
                    off++;
                l.has_offset = 1, l.offset = off;
                xg_diag_err(d, XG_E_GUEST, &l, "contents of pfn %#llx differ (first at byte %u)",
                            (unsigned long long)pfn, off);
            }
        }
        if (xg_diag_total(d, XG_SEV_ERROR) - before > 100)
            break;
    }
    free(pa);
    free(pb);
    compare_vcpus(&a, &b, d);
    {
        const struct xg_shinfo_layout *sl = xg_shinfo_layout(a.dom->guest_width);
        if (sim_shinfo_word(ha, a.dom, sl->max_pfn) != sim_shinfo_word(hb, b.dom, sl->max_pfn))
            xg_diag_err(d, XG_E_GUEST, NULL, "shared info max_pfn differs");
        if (sim_shinfo_word(ha, a.dom, sl->p2m_vaddr) != sim_shinfo_word(hb, b.dom, sl->p2m_vaddr))
            xg_diag_err(d, XG_E_GUEST, NULL, "shared info p2m_vaddr differs");
    }
done:
    rc = xg_diag_total(d, XG_SEV_ERROR) > before ? XG_E_GUEST : 0;
out:
    free(a.mfn_of);
    free(b.mfn_of);
    if (!same_host)
        sim_unlock(hb);
    sim_unlock(ha);
    return rc;
}
