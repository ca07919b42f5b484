/*
 * levels.c - what an image says about its guest's page tables beyond their
 * recorded types: whether a 32-bit guest is 2-level (non-PAE) or PAE, and
 * whether the saving host lost the guest's page tables (the 2008 failure).
 *
 * Both answers rest on evidence in the image, each piece named: the types
 * the stream records (cr3's, and whether any page is an L3), the magic of
 * the start info page ("xen-3.0-x86_32" for a non-PAE guest, with a "p"
 * for PAE: Xen 3.1 tools/libxc/xc_dom_elfloader.c, xc_dom_x86.c), and the
 * contents of pages: a 2-level table holds 1024 32-bit entries, so present
 * entries sit in odd 32-bit slots, which read as 512 64-bit entries are
 * the high halves of impossible frame numbers.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "pv/pv.h"
#include "xg/restore.h"

static const char two_level_verdict[] =
    "no Xen that runs today runs a non-PAE PV guest: non-PAE 32-bit hypervisors were dropped in "
    "Xen 3.3 (xen-project/xen commit 84d54d5d8b31, \"i386: Remove non-PAE hypervisor build "
    "target\", "
    "Keir Fraser, 2008-05-08), a 64-bit Xen runs 32-bit PV guests only with PAE page tables, and "
    "Xen 4.3 removed 32-bit hypervisors altogether (commit 5d1181a5ea5e, 2012-09-12)";
static const char two_level_advice[] =
    "boot the guest's disk with a PAE (or 64-bit) kernel under a current Xen and save it again; "
    "its memory state in this image can only be resumed by a non-PAE 32-bit Xen 3.2 or older "
    "(to shut it down cleanly first)";

const char *xg_restore_two_level_verdict(void)
{
    return two_level_verdict;
}

const char *xg_restore_two_level_advice(void)
{
    return two_level_advice;
}

/* Flags refused in every table a saver writes. */
#define FLAGS_NEVER (XG_PTE_PWT | XG_PTE_PCD | XG_PTE_PSE)

/* One way of reading a page as a table: entries of `bytes` (4 or 8), Xen's slots empty. */
struct reading {
    unsigned bytes;
    unsigned xen_lo, xen_hi; /* Xen's slots, which a saver leaves empty */
    bool alive, distinct, odd;
    unsigned present;
    uint64_t first;
};

/*
 * Can e (non-zero) be entry s of a saved table?  Present: a frame of the guest (below
 * nr_pfns), no flag a saver never writes.  Not present: only in a lower-level table (a swap
 * entry), so `strict` (an upper-level table, or a page whose type was lost) refuses it.
 */
static bool entry_fits(struct reading *r, uint64_t e, unsigned s, uint64_t nr_pfns, bool strict)
{
    bool xen = s >= r->xen_lo && s < r->xen_hi;
    if (!(e & XG_PTE_P))
        return !xen && !strict;
    uint64_t frame = r->bytes == 4 ? e >> 12 : xg_pte_frame(e);
    if (xen || (e & FLAGS_NEVER) || frame >= nr_pfns ||
        (r->bytes == 8 && (e & 0x7ff0000000000000ULL)))
        return false;
    if (r->first == ~0ULL)
        r->first = frame;
    else if (frame != r->first)
        r->distinct = true;
    if (s & 1)
        r->odd = true;
    r->present++;
    return true;
}

/* Read the page both ways in one pass over its 64-bit words (zero words cost nothing). */
static void read_page(const uint8_t *page, uint64_t nr_pfns, bool strict, struct reading *r32,
                      struct reading *r64)
{
    for (unsigned i = 0; i < 512 && (r32->alive || r64->alive); i++) {
        uint64_t w = xg__le64(page + 8 * i);
        if (!w)
            continue;
        if (r64->alive && !entry_fits(r64, w, i, nr_pfns, strict))
            r64->alive = false;
        uint32_t lo = (uint32_t)w, hi = (uint32_t)(w >> 32);
        if (r32->alive && ((lo && !entry_fits(r32, lo, 2 * i, nr_pfns, strict)) ||
                           (hi && !entry_fits(r32, hi, 2 * i + 1, nr_pfns, strict))))
            r32->alive = false;
    }
}

/* At least two present entries naming two different frames: one odd word is no table. */
static bool fits(const struct reading *r)
{
    return r->alive && r->present >= 2 && r->distinct;
}

unsigned xg_pv_table_like(const uint8_t *page, uint64_t nr_pfns, bool strict)
{
    struct reading r32 = { .bytes = 4, .alive = true, .first = ~0ULL };
    struct reading r64 = { .bytes = 8, .alive = true, .first = ~0ULL };
    read_page(page, nr_pfns, strict, &r32, &r64);
    unsigned r = 0;
    if (fits(&r32))
        r |= XG_PV_READS_32 | (r32.odd ? XG_PV_ODD_SLOTS : 0);
    if (fits(&r64))
        r |= XG_PV_READS_64;
    return r;
}

/* The top-level table a cr3 names: upper-level entries only, Xen's slots empty as saved. */
static bool top_level_like(const uint8_t *page, unsigned width, unsigned levels, uint64_t nr_pfns)
{
    struct reading r32 = { .bytes = 4, .first = ~0ULL, .xen_lo = 1008, .xen_hi = 1024 };
    struct reading r64 = { .bytes = 8, .first = ~0ULL, .xen_lo = 256, .xen_hi = 272 };
    if (levels == 2)
        r32.alive = true; /* 2-level L2: slots from 0xfc000000 >> 22 */
    else if (levels == 3 && width == 4)
        r64.alive = true, r64.xen_lo = 4, r64.xen_hi = 512; /* PAE L3: entries 4-511 cleared */
    else
        r64.alive = true; /* 64-bit L4: slots 256-271 */
    read_page(page, nr_pfns, true, &r32, &r64);
    return levels == 2 ? fits(&r32) : fits(&r64);
}

static unsigned level_of(const struct xg_pv_image_view *v, uint64_t pfn)
{
    return pfn < v->nr_pfns ? xg_pfinfo_level(v->types[pfn]) : 0;
}

static const uint8_t *contents(const struct xg_pv_image_view *v, uint64_t pfn)
{
    if (pfn >= v->nr_pfns)
        return NULL;
    if (level_of(v, pfn))
        return (const uint8_t *)v->table(v->arg, pfn);
    return v->kept ? v->kept(v->arg, pfn) : NULL;
}

/* 2 or 3 from "xen-3.0-x86_32" / "xen-3.0-x86_32p", 0 when the page says neither. */
static unsigned magic_levels(const struct xg_pv_image_view *v)
{
    if (!v->nr_vcpus || !v->vcpu_present[0])
        return 0;
    const uint8_t *si = contents(v, v->vcpu[0].start_info);
    if (!si || level_of(v, v->vcpu[0].start_info) || memcmp(si, "xen-", 4) != 0)
        return 0;
    const char *m = memchr(si, 0, XG_START_INFO_MAGIC_LEN) ? strstr((const char *)si, "-x86_32")
                                                           : NULL;
    if (!m)
        return 0;
    return m[7] == 'p' && m[8] == 0 ? 3 : m[7] == 0 ? 2 : 0;
}

static void add(char *buf, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void add(char *buf, size_t len, const char *fmt, ...)
{
    size_t used = strlen(buf);
    if (used + 3 >= len)
        return;
    if (used) {
        strcpy(buf + used, "; ");
        used += 2;
    }
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf + used, len - used, fmt, ap);
    va_end(ap);
}

void xg_pv_paging_decide(const struct xg_pv_image_view *v, struct xg_paging_evidence *ev)
{
    memset(ev, 0, sizeof(*ev));
    if (v->width != 4)
        return;
    ev->magic_levels = magic_levels(v);
    uint64_t typed_l3 = 0, first_l3 = 0;
    for (uint64_t p = 0; p < v->nr_pfns; p++) {
        unsigned l = level_of(v, p);
        if (l == 3 && !typed_l3++)
            first_l3 = p;
        if (l != 1 && l != 2)
            continue;
        const uint8_t *t = contents(v, p);
        unsigned r = t ? xg_pv_table_like(t, v->nr_pfns, false) : 0;
        if ((r & XG_PV_READS_32) && (r & XG_PV_ODD_SLOTS) && !(r & XG_PV_READS_64))
            ev->fit_2level++;
        else if ((r & XG_PV_READS_32) && (r & XG_PV_READS_64))
            ev->fit_either++;
    }
    uint64_t cr3_l2 = ~0ULL, cr3_l3 = ~0ULL;
    for (unsigned vc = 0; vc < v->nr_vcpus; vc++) {
        if (!v->vcpu_present[vc])
            continue;
        unsigned l = level_of(v, v->vcpu[vc].cr3);
        if (l == 2 && !ev->cr3_l2++)
            cr3_l2 = vc;
        if (l == 3 && !ev->cr3_l3++)
            cr3_l3 = vc;
    }
    char two[300] = "", pae[300] = "";
    if (ev->magic_levels == 2)
        add(two, sizeof(two), "its start info says \"x86_32\" without the \"p\" of a PAE guest");
    if (ev->cr3_l2)
        add(two, sizeof(two), "vcpu%llu's cr3 (pfn %#llx) is an L2 table%s",
            (unsigned long long)cr3_l2, (unsigned long long)v->vcpu[cr3_l2].cr3,
            ev->cr3_l2 > 1 ? ", as are the other vcpus'" : "");
    if (ev->fit_2level)
        add(two, sizeof(two), "%llu of its tables hold 1024 32-bit entries",
            (unsigned long long)ev->fit_2level);
    if (ev->magic_levels == 3)
        add(pae, sizeof(pae), "its start info says \"x86_32p\" (PAE)");
    if (ev->cr3_l3)
        add(pae, sizeof(pae), "vcpu%llu's cr3 (pfn %#llx) is an L3 table",
            (unsigned long long)cr3_l3, (unsigned long long)v->vcpu[cr3_l3].cr3);
    if (typed_l3)
        add(pae, sizeof(pae),
            "%llu pages are typed L3 (the first at pfn %#llx), a level only PAE has",
            (unsigned long long)typed_l3, (unsigned long long)first_l3);
    if (two[0] && pae[0]) {
        ev->verdict = XG_PAGING_CONFLICT;
        snprintf(ev->why, sizeof(ev->why), "2-level: %s; but PAE: %s", two, pae);
    } else if (two[0]) {
        ev->verdict = XG_PAGING_2LEVEL;
        snprintf(ev->why, sizeof(ev->why), "%s; no page is typed L3", two);
    } else if (pae[0]) {
        ev->verdict = XG_PAGING_PAE;
        snprintf(ev->why, sizeof(ev->why), "%s", pae);
    }
}

int xg_pv_paging_findings(const struct xg_pv_image_view *v, const struct xg_paging_evidence *ev,
                          const uint64_t by_level[5], xg_diag *d)
{
    (void)v;
    if (ev->verdict == XG_PAGING_CONFLICT) {
        xg_diag_warn(d, NULL,
                     "the image's evidence on the guest's paging conflicts: %s; it is read as PAE, "
                     "as Xen's convert-legacy-stream reads every 32-bit image",
                     ev->why);
        return 0;
    }
    if (ev->verdict != XG_PAGING_2LEVEL)
        return 0;
    xg_diag_err(
        d, XG_E_UNSUPPORTED, NULL,
        "the image is of a 32-bit non-PAE (2-level) PV guest, saved by Xen 3.x (%s; page tables: "
        "%llu L2, %llu L1); %s",
        ev->why, (unsigned long long)by_level[2], (unsigned long long)by_level[1],
        two_level_verdict);
    xg_diag_hint(
        d,
        "%s. Xen's convert-legacy-stream accepts the image but reads it as a 3-level (PAE) guest, "
        "which it is not",
        two_level_advice);
    return XG_E_UNSUPPORTED;
}

/* ------------------------------------------------------------ the 2008 pattern */

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

/*
 * The pfns of the machine frames the old saver could not map, from the guest's own p2m
 * (its frames are in the image): the saver wrote the mfn, the p2m says whose it was.
 * Fills pfns[] (ascending, up to max) and *cr3_mfn when cr3's frame is among them.
 */
static size_t name_unmappable(const struct xg_pv_image_view *v, uint64_t cr3, uint64_t *pfns,
                              size_t max, uint64_t *cr3_mfn)
{
    size_t n = v->nr_unmappable_mfns, found = 0;
    *cr3_mfn = ~0ULL;
    uint32_t *sorted = n ? malloc(n * sizeof(uint32_t)) : NULL;
    if (!sorted)
        return 0;
    memcpy(sorted, v->unmappable_mfns, n * sizeof(uint32_t));
    qsort(sorted, n, sizeof(uint32_t), cmp_u32);
    unsigned fpp = 4096 / v->width;
    for (unsigned i = 0; i < v->nr_p2m; i++) {
        const uint8_t *frame = contents(v, v->p2m_pfns[i]);
        for (unsigned j = 0; frame && j < fpp; j++) {
            uint64_t pfn = (uint64_t)i * fpp + j;
            if (pfn >= v->nr_pfns)
                break;
            uint64_t mfn = xg_guest_word(frame, j * v->width, v->width);
            uint32_t key = (uint32_t)(mfn & 0x0fffffff);
            if (mfn >> 28 || !bsearch(&key, sorted, n, sizeof(uint32_t), cmp_u32))
                continue;
            if (pfn == cr3)
                *cr3_mfn = mfn;
            if (found < max)
                pfns[found] = pfn;
            found++;
        }
    }
    free(sorted);
    return found;
}

/* The guest's p2m entry for pfn, from its frames in the image (~0 when not there). */
static uint64_t p2m_entry(const struct xg_pv_image_view *v, uint64_t pfn)
{
    unsigned fpp = 4096 / v->width;
    if (pfn / fpp >= v->nr_p2m)
        return ~0ULL;
    const uint8_t *frame = contents(v, v->p2m_pfns[pfn / fpp]);
    return frame ? xg_guest_word(frame, (unsigned)(pfn % fpp) * v->width, v->width) : ~0ULL;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static const char hint_privcmd[] =
    "the dom0's privcmd driver, not the guest, is the likely cause: it mapped the guest's frames "
    "writable to save them (NetBSD's privcmd did in 2008), Xen refuses a writable mapping of a "
    "page table in use, and the saver then recorded those frames as invalid and reported "
    "success. The image cannot be repaired; save the guest again from a dom0 whose privcmd maps "
    "read-only";

/*
 * The vcpus' tables survived, but the old saver recorded some frames as XTAB | mfn: name them
 * through the p2m, and count those the guest's own tables point to as tables (lost tables).
 */
static void lost_some(const struct xg_pv_image_view *v, unsigned levels, struct xg_lost_tables *out,
                      xg_diag *d)
{
    size_t max = v->nr_unmappable_mfns;
    uint64_t *pfns = max ? malloc(max * sizeof(uint64_t)) : NULL, dummy;
    size_t named = pfns ? name_unmappable(v, ~0ULL, pfns, max, &dummy) : 0;
    named = named < max ? named : max;
    out->named = named;
    qsort(pfns, named, sizeof(uint64_t), cmp_u64);
    uint64_t first_table = ~0ULL, first_from = 0;
    unsigned bytes = levels == 2 ? 4 : 8;
    for (uint64_t p = 0; named && p < v->nr_pfns; p++) {
        const uint8_t *t = level_of(v, p) >= 2 ? contents(v, p) : NULL;
        for (unsigned s = 0; t && s < 4096 / bytes; s++) {
            uint64_t e = bytes == 4 ? xg__le32(t + 4 * s) : xg__le64(t + 8 * s);
            uint64_t q = bytes == 4 ? e >> 12 : xg_pte_frame(e);
            if (!(e & XG_PTE_P) || !bsearch(&q, pfns, named, sizeof(uint64_t), cmp_u64))
                continue;
            out->untyped_tables++;
            if (first_table == ~0ULL || q < first_table) {
                first_table = q;
                first_from = p;
            }
        }
    }
    char list[160] = "";
    for (size_t i = 0; i < named && i < 8; i++)
        snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s%#llx", i ? ", " : "",
                 (unsigned long long)pfns[i]);
    free(pfns);
    out->confidence = XG_CONF_HIGH;
    snprintf(out->why, sizeof(out->why),
             "%llu page-batch entries carry XTAB with a machine frame instead of a pfn, the old "
             "saver's own record of a frame its dom0 could not map%s%s%s; %llu entries of the "
             "guest's tables point to them as page tables",
             (unsigned long long)v->unmappable, named ? "; the guest's p2m names them: pfns " : "",
             list, named > 8 ? ", ..." : "", (unsigned long long)out->untyped_tables);
    struct xg_loc l = { XGF_PFN(first_table == ~0ULL ? 0 : first_table) };
    l.has_pfn = first_table != ~0ULL;
    xg_diag_warn(d, &l,
                 "the saving host could not map some of the guest's frames (confidence high: %s)",
                 out->why);
    if (first_table != ~0ULL) {
        uint64_t m = p2m_entry(v, first_table);
        char mfn[32] = "<its frame>";
        if (m != ~0ULL)
            snprintf(mfn, sizeof(mfn), "%llx", (unsigned long long)m);
        /* Xen 3.x's type_info of an in-use, validated, unpinned table one level down. */
        uint32_t saw = (uint32_t)(level_of(v, first_from) - 1) << 29 | 0x08000000U | 1;
        if (v->legacy_bits == 32)
            snprintf(out->xen_says, sizeof(out->xen_says),
                     "Bad type (saw %08x != exp e0000000) for mfn %s (pfn %llx)", saw, mfn,
                     (unsigned long long)first_table);
        else
            snprintf(out->xen_says, sizeof(out->xen_says),
                     "Bad type (saw <its type_info> != exp e000000000000000) for mfn %s (pfn %llx)",
                     mfn, (unsigned long long)first_table);
        xg_diag_xen_says(d, "%s, at save time, from d0 (a table the L%u at pfn %#llx points to)",
                         out->xen_says, level_of(v, first_from), (unsigned long long)first_from);
    }
    xg_diag_hint(d, "%s", hint_privcmd);
}

/* The first vcpu whose cr3 page was recorded untyped. */
struct untyped_cr3 {
    uint64_t pfn;
    unsigned vcpu;
    bool xtab; /* recorded as XTAB (no data), not as an ordinary page */
};

/* How many of the tables the top-level table t (at pfn p) reaches were recorded untyped. */
static uint64_t untyped_below(const struct xg_pv_image_view *v, unsigned levels, uint64_t p,
                              const uint8_t *t)
{
    uint64_t n = 0;
    unsigned bytes = levels == 2 ? 4 : 8;
    for (unsigned s = 0; s < 4096 / bytes; s++) {
        uint64_t e = bytes == 4 ? xg__le32(t + 4 * s) : xg__le64(t + 8 * s);
        uint64_t q = bytes == 4 ? e >> 12 : xg_pte_frame(e);
        if (!(e & XG_PTE_P) || q == p || q >= v->nr_pfns || level_of(v, q))
            continue;
        const uint8_t *u = contents(v, q);
        unsigned r = u ? xg_pv_table_like(u, v->nr_pfns, true) : 0;
        if (r & (bytes == 4 ? XG_PV_READS_32 : XG_PV_READS_64))
            n++;
    }
    return n;
}

/*
 * Count the vcpus whose cr3 page was recorded untyped (out->vcpus, the first in *first) and
 * the untyped pages that read as their tables, one level down included (out->untyped_tables).
 */
static void scan_vcpu_roots(const struct xg_pv_image_view *v, unsigned levels,
                            struct xg_lost_tables *out, struct untyped_cr3 *first)
{
    for (unsigned vc = 0; vc < v->nr_vcpus; vc++) {
        if (!v->vcpu_present[vc])
            continue;
        uint64_t p = v->vcpu[vc].cr3;
        if (p >= v->nr_pfns || level_of(v, p))
            continue; /* beyond the guest, or a table: some other fault */
        if (!out->vcpus++) {
            first->pfn = p;
            first->vcpu = vc;
            first->xtab = !xg_pfinfo_has_data(v->types[p]);
        }
        const uint8_t *mapped = contents(v, p);
        if (!mapped || !top_level_like(mapped, v->width, levels, v->nr_pfns))
            continue;
        out->untyped_tables++;
        /* A copy: with a domain, contents() maps one page at a time, unmapping the last. */
        uint8_t t[4096];
        memcpy(t, mapped, sizeof(t));
        out->untyped_tables += untyped_below(v, levels, p, t);
    }
}

/*
 * out->why and out->confidence when the old saver recorded frames as XTAB | mfn and a
 * vcpu's cr3 is untyped; *cr3_mfn: the cr3's machine frame when the p2m names it.
 */
static void why_unmappable(const struct xg_pv_image_view *v, const struct untyped_cr3 *first,
                           uint64_t tables, struct xg_lost_tables *out, uint64_t *cr3_mfn)
{
    out->confidence = XG_CONF_HIGH;
    uint64_t pfns[8];
    size_t named = name_unmappable(v, first->pfn, pfns, 8, cr3_mfn);
    out->named = named;
    char list[160] = "";
    for (size_t i = 0; i < named && i < 8; i++)
        snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s%#llx", i ? ", " : "",
                 (unsigned long long)pfns[i]);
    char cr3[96] = "";
    if (*cr3_mfn != ~0ULL)
        snprintf(cr3, sizeof(cr3), ", vcpu%u's cr3 (pfn %#llx, mfn %#llx) among them", first->vcpu,
                 (unsigned long long)first->pfn, (unsigned long long)*cr3_mfn);
    if (named)
        snprintf(out->why, sizeof(out->why),
                 "%llu page-batch entries carry XTAB with a machine frame instead of a pfn, the "
                 "old saver's own record of a frame its dom0 could not map; the guest's p2m "
                 "names them: pfns %s%s (%zu in all)%s; the image holds %llu page tables",
                 (unsigned long long)v->unmappable, list, named > 8 ? ", ..." : "", named, cr3,
                 (unsigned long long)tables);
    else
        snprintf(out->why, sizeof(out->why),
                 "%llu page-batch entries carry XTAB with a machine frame instead of a pfn, the "
                 "old saver's own record of a frame its dom0 could not map; the image holds %llu "
                 "page tables",
                 (unsigned long long)v->unmappable, (unsigned long long)tables);
}

/* out->why and out->confidence when every frame was mapped: the evidence in the pages. */
static void why_untyped(uint64_t tables, struct xg_lost_tables *out)
{
    char *w = out->why;
    size_t len = sizeof(out->why);
    if (out->untyped_tables >= 2) {
        out->confidence = XG_CONF_HIGH;
        snprintf(w, len,
                 "%llu pages recorded as ordinary hold page-table contents (present entries "
                 "whose frames are in the p2m, Xen's slots empty), the cr3 page and the tables "
                 "it reaches among them",
                 (unsigned long long)out->untyped_tables);
    } else if (out->untyped_tables == 1) {
        out->confidence = XG_CONF_MEDIUM;
        snprintf(w, len,
                 "the cr3 page was recorded as ordinary but holds a top-level table's contents; "
                 "none of the tables it reaches was found");
    } else if (!tables) {
        out->confidence = XG_CONF_MEDIUM;
        snprintf(w, len,
                 "the image holds no page table at all, yet a running guest must have some");
    } else {
        out->confidence = XG_CONF_LOW;
        snprintf(w, len,
                 "the image holds %llu other page tables, so a damaged vcpu context fits as well",
                 (unsigned long long)tables);
    }
}

void xg_pv_lost_tables(const struct xg_pv_image_view *v, unsigned levels,
                       struct xg_lost_tables *out, xg_diag *d)
{
    memset(out, 0, sizeof(*out));
    uint64_t tables = 0;
    for (uint64_t p = 0; p < v->nr_pfns; p++)
        tables += level_of(v, p) != 0;
    struct untyped_cr3 first = { 0, 0, false };
    scan_vcpu_roots(v, levels, out, &first);
    out->unmappable = v->unmappable;
    if (!out->vcpus) {
        if (v->unmappable)
            lost_some(v, levels, out, d);
        return;
    }
    uint64_t cr3_mfn = ~0ULL;
    if (v->unmappable)
        why_unmappable(v, &first, tables, out, &cr3_mfn);
    else
        why_untyped(tables, out);
    static const char *const conf[] = { "", "low", "medium", "high" };
    struct xg_loc l = { XGF_VCPU(first.vcpu), XGF_PFN(first.pfn),
                        XGF_REF_TYPE(v->types[first.pfn]) };
    xg_diag_warn(d, &l,
                 "the saving host could not map the guest's page tables: vcpu%u's cr3 (pfn %#llx) "
                 "was recorded as %s, not as a page table%s (confidence %s: %s)",
                 first.vcpu, (unsigned long long)first.pfn,
                 first.xtab ? "invalid (XTAB, no data)" : "an ordinary page",
                 out->vcpus > 1 ? ", and so were other vcpus'" : "", conf[out->confidence],
                 out->why);
    char mfn[32] = "<the table's frame>";
    if (cr3_mfn != ~0ULL)
        snprintf(mfn, sizeof(mfn), "%llx", (unsigned long long)cr3_mfn);
    if (v->legacy_bits == 32)
        snprintf(out->xen_says, sizeof(out->xen_says),
                 "Bad type (saw %s != exp e0000000) for mfn %s (pfn %llx)",
                 levels == 2 ? "58000001" : "78000001", mfn, (unsigned long long)first.pfn);
    else
        snprintf(out->xen_says, sizeof(out->xen_says),
                 "Bad type (saw <the table's type_info> != exp e000000000000000) for mfn %s "
                 "(pfn %llx)",
                 mfn, (unsigned long long)first.pfn);
    xg_diag_xen_says(d, "%s, at save time, from d0", out->xen_says);
    xg_diag_hint(d, "%s", hint_privcmd);
}
