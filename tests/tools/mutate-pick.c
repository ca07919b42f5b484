/*
 * mutate-pick - xg-mutate --seed: one mutation of an image chosen from a
 * seed, for the differential test of the real-Xen tier (tests/xen,
 * sim-diff), where Xen's own restore and xg's model judge the same
 * mutants.  The same image and seed always give the same mutation, so the
 * build machine and the VM make the same mutant independently.
 *
 * The kinds (seed % NR_KINDS picks one; a kind that has nothing to work
 * on in this image falls through to the next): a flipped RW bit, a cleared
 * entry, a PSE bit, another flag bit, a table retyped, a data page typed
 * as a table, a pin removed or added, a linear entry (read-only or
 * writable) in a top-level table, an L1 entry mapping a page table, an
 * entry beyond the guest's pfns, vcpu0's cr3 moved, a GDT descriptor
 * changed, the GDT frame moved, a page dropped, an entry in Xen's slots.
 */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pv/pv.h"
#include "xg-mutate.h"
#include "xg/xg.h"

#define PICK_MAX_PAGES (1U << 16)

struct pick_page {
    uint64_t pfn;
    uint32_t type;
    uint8_t *data; /* NULL: no data in the image */
};

struct pick_image {
    unsigned width, levels;
    struct pick_page *pages;
    size_t nr;
    uint64_t max_pfn; /* highest pfn seen */
    bool have_vcpu0;
    uint64_t cr3_pfn, gdt_pfn;
    unsigned nr_gdt;
};

struct pick {
    struct pick_image *im;
    uint64_t rng;
    char *desc;
    size_t desc_len;
};

static uint64_t next_rand(struct pick *p)
{
    /* splitmix64: small, and the same everywhere. */
    uint64_t z = (p->rng += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static unsigned below(struct pick *p, unsigned n)
{
    return n ? (unsigned)(next_rand(p) % n) : 0;
}

static void say(struct pick *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void say(struct pick *p, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->desc, p->desc_len, fmt, ap);
    va_end(ap);
}

/* ---------------------------------------------------------------- reading */

static struct pick_page *find_page(struct pick_image *im, uint64_t pfn)
{
    for (size_t i = 0; i < im->nr; i++)
        if (im->pages[i].pfn == pfn)
            return &im->pages[i];
    return NULL;
}

static int add_page(struct pick_image *im, uint64_t pfn, uint32_t type, const uint8_t *data)
{
    struct pick_page *pg = find_page(im, pfn);
    if (!pg) {
        if (im->nr == PICK_MAX_PAGES)
            return -1;
        pg = &im->pages[im->nr++];
        pg->pfn = pfn;
        pg->data = NULL;
    }
    pg->type = type;
    free(pg->data);
    pg->data = NULL;
    if (data) {
        if (!(pg->data = malloc(XG_PAGE_SIZE)))
            return -1;
        memcpy(pg->data, data, XG_PAGE_SIZE);
    }
    if (pfn > im->max_pfn)
        im->max_pfn = pfn;
    return 0;
}

static int read_image(const char *path, struct pick_image *im, char *desc, size_t len)
{
    int fd = open(path, O_RDONLY);
    if (fd < 0) {
        snprintf(desc, len, "%s: %s", path, strerror(errno));
        return -1;
    }
    xg_diag *d = xg_diag_new();
    xg_stream_reader *r = NULL;
    struct xg_record rec;
    int rc = xg_stream_reader_open(fd, NULL, d, &r);
    im->width = 8;
    im->levels = 4;
    while (rc == 0 && (rc = xg_stream_read(r, &rec)) == 0 && rec.type != XG_REC_END) {
        if (rec.type == XG_REC_X86_PV_INFO) {
            im->width = rec.u.pv_info.guest_width;
            im->levels = rec.u.pv_info.pt_levels;
        } else if (rec.type == XG_REC_PAGE_DATA) {
            const struct xg_rec_page_data *pd = &rec.u.page_data;
            const uint8_t *data = pd->data;
            for (uint32_t i = 0; i < pd->count && rc == 0; i++) {
                uint32_t t = xg_pd_type(pd->pfn[i]);
                const uint8_t *page = xg_pfinfo_has_data(t) ? data : NULL;
                if (page)
                    data += XG_PAGE_SIZE;
                if (add_page(im, xg_pd_pfn(pd->pfn[i]), t, page) < 0)
                    rc = XG_E_NOMEM;
            }
        } else if (rec.type == XG_REC_X86_PV_VCPU_BASIC && rec.u.vcpu.vcpu_id == 0) {
            struct xg_pv_vcpu_frames f;
            const char *why;
            if (xg_pv_vcpu_frames(rec.u.vcpu.ctx, im->width, 0, true, &f, &why) == 0) {
                im->have_vcpu0 = true;
                im->cr3_pfn = f.cr3;
                im->nr_gdt = f.nr_gdt;
                im->gdt_pfn = f.nr_gdt ? f.gdt[0] : 0;
            }
        }
    }
    if (rc < 0 || rec.type != XG_REC_END)
        snprintf(desc, len, "cannot read %s (at most %u pages)", path, PICK_MAX_PAGES);
    xg_stream_reader_close(r);
    xg_diag_free(d);
    close(fd);
    return rc < 0 ? -1 : 0;
}

/* ---------------------------------------------------------------- choosing */

static bool is_table(const struct pick_page *pg) { return xg_pfinfo_level(pg->type) && pg->data; }

/* A random page that `want` accepts, or NULL. */
typedef bool (*page_filter)(const struct pick_page *, unsigned);

static struct pick_page *random_page(struct pick *p, page_filter want, unsigned arg)
{
    unsigned n = 0;
    for (size_t i = 0; i < p->im->nr; i++)
        n += want(&p->im->pages[i], arg);
    unsigned k = below(p, n);
    for (size_t i = 0; i < p->im->nr; i++)
        if (want(&p->im->pages[i], arg) && k-- == 0)
            return &p->im->pages[i];
    return NULL;
}

static bool want_table(const struct pick_page *pg, unsigned level)
{
    return is_table(pg) && (!level || xg_pfinfo_level(pg->type) == level);
}
static bool want_min_level(const struct pick_page *pg, unsigned level)
{
    return is_table(pg) && xg_pfinfo_level(pg->type) >= level;
}
static bool want_data(const struct pick_page *pg, unsigned unused)
{
    (void)unused;
    return pg->data && !xg_pfinfo_level(pg->type);
}
static bool want_pinned(const struct pick_page *pg, unsigned pinned)
{
    return is_table(pg) && xg_pfinfo_pinned(pg->type) == (bool)pinned;
}
static bool want_any(const struct pick_page *pg, unsigned unused)
{
    (void)unused;
    return xg_pfinfo_has_data(pg->type);
}

static uint64_t entry_at(const struct pick_page *pg, unsigned slot)
{
    uint64_t e;
    memcpy(&e, pg->data + slot * 8, 8);
    return e;
}

/* A random present entry of a random table of level >= min_level: its slot, or -1. */
static int random_present(struct pick *p, unsigned min_level, struct pick_page **out)
{
    struct pick_page *pg = random_page(p, want_min_level, min_level);
    if (!pg)
        return -1;
    unsigned n = 0, slots[512];
    for (unsigned s = 0; s < 512; s++)
        if (entry_at(pg, s) & 1)
            slots[n++] = s;
    if (!n)
        return -1;
    *out = pg;
    return (int)slots[below(p, n)];
}

static bool set_entry(struct pick *p, struct pick_page *pg, unsigned slot, uint64_t value,
                      const char *kind)
{
    say(p, "%s: pfn %#" PRIx64 " (%s) slot %u: %#" PRIx64 " -> %#" PRIx64, kind, pg->pfn,
        xg_pfinfo_name(pg->type), slot, entry_at(pg, slot), value);
    return mutate_add_entry(pg->pfn, slot, value);
}

static uint32_t table_type(unsigned level, bool pinned)
{
    return ((uint32_t)level << XG_PFINFO_SHIFT) | (pinned ? XG_PFINFO_LPINTAB : 0);
}

static bool set_type(struct pick *p, struct pick_page *pg, uint32_t type, const char *kind)
{
    say(p, "%s: pfn %#" PRIx64 " %s -> %s", kind, pg->pfn, xg_pfinfo_name(pg->type),
        xg_pfinfo_name(type));
    return mutate_add_type(pg->pfn, type);
}

#define FRAME_MASK 0x000ffffffffff000ULL

static int k_rw_flip(struct pick *p)
{
    struct pick_page *pg;
    int s = random_present(p, 1, &pg);
    return s < 0 ? 1 : !set_entry(p, pg, (unsigned)s, entry_at(pg, (unsigned)s) ^ 2, "rw-flip");
}

static int k_clear(struct pick *p)
{
    struct pick_page *pg;
    int s = random_present(p, 1, &pg);
    return s < 0 ? 1 : !set_entry(p, pg, (unsigned)s, 0, "clear-entry");
}

static int k_pse(struct pick *p)
{
    struct pick_page *pg;
    int s = random_present(p, 2, &pg);
    return s < 0 ? 1 : !set_entry(p, pg, (unsigned)s, entry_at(pg, (unsigned)s) | 0x80, "pse");
}

static int k_flag(struct pick *p)
{
    static const unsigned bits[] = { 3, 4, 5, 6, 7, 8, 9, 10, 11, 52, 53, 62, 63 };
    struct pick_page *pg;
    int s = random_present(p, 1, &pg);
    if (s < 0)
        return 1;
    unsigned b = bits[below(p, sizeof(bits) / sizeof(bits[0]))];
    return !set_entry(p, pg, (unsigned)s, entry_at(pg, (unsigned)s) ^ (1ULL << b), "flag-bit");
}

static int k_retype_table(struct pick *p)
{
    struct pick_page *pg = random_page(p, want_table, 0);
    if (!pg)
        return 1;
    unsigned level = below(p, p->im->levels + 1);
    if (level == xg_pfinfo_level(pg->type))
        level = level ? level - 1 : 1;
    return !set_type(p, pg, table_type(level, level && below(p, 2)), "retype-table");
}

static int k_retype_data(struct pick *p)
{
    struct pick_page *pg = random_page(p, want_data, 0);
    if (!pg)
        return 1;
    return !set_type(p, pg, table_type(1 + below(p, p->im->levels), below(p, 2)), "retype-data");
}

static int k_unpin(struct pick *p)
{
    struct pick_page *pg = random_page(p, want_pinned, 1);
    return pg ? !set_type(p, pg, pg->type & ~XG_PFINFO_LPINTAB, "unpin") : 1;
}

static int k_pin(struct pick *p)
{
    struct pick_page *pg = random_page(p, want_pinned, 0);
    return pg ? !set_type(p, pg, pg->type | XG_PFINFO_LPINTAB, "pin") : 1;
}

/* A slot Xen leaves to the guest in a table of this level (PAE: any L2 slot below Xen's). */
static unsigned random_guest_slot(struct pick *p, unsigned level)
{
    for (;;) {
        unsigned s = below(p, 512);
        if (xg_pv_guest_slot(p->im->width, level, false, s))
            return s;
    }
}

static int k_linear(struct pick *p)
{
    /* The top level holds linear entries: L4 on 64-bit, L2 on PAE (an L3 cannot). */
    unsigned level = p->im->levels == 4 ? 4 : 2;
    struct pick_page *holder = random_page(p, want_table, level);
    struct pick_page *target = random_page(p, want_table, level);
    if (!holder || !target)
        return 1;
    unsigned slot = random_guest_slot(p, level);
    uint64_t flags = 0x21 | (below(p, 2) ? 2 : 0) | (below(p, 2) ? 4 : 0);
    const char *kind = flags & 2 ? "linear-rw" : "linear-ro";
    return !set_entry(p, holder, slot, (target->pfn << 12) | flags, kind);
}

static int k_l1_to_table(struct pick *p)
{
    struct pick_page *l1 = random_page(p, want_table, 1);
    struct pick_page *t = random_page(p, want_table, 0);
    if (!l1 || !t)
        return 1;
    uint64_t flags = 0x25 | (below(p, 2) ? 2 : 0);
    const char *kind = flags & 2 ? "l1-maps-table-rw" : "l1-maps-table-ro";
    return !set_entry(p, l1, below(p, 512), (t->pfn << 12) | flags, kind);
}

static int k_beyond(struct pick *p)
{
    struct pick_page *pg;
    int s = random_present(p, 1, &pg);
    if (s < 0)
        return 1;
    uint64_t pfn = p->im->max_pfn + 1 + below(p, 1U << 20);
    uint64_t e = (entry_at(pg, (unsigned)s) & ~FRAME_MASK) | (pfn << 12);
    return !set_entry(p, pg, (unsigned)s, e, "beyond-pfns");
}

/* A table or, as often, any page with data. */
static struct pick_page *table_or_page(struct pick *p)
{
    return below(p, 2) ? random_page(p, want_table, 0) : random_page(p, want_any, 0);
}

static int k_cr3(struct pick *p)
{
    if (!p->im->have_vcpu0)
        return 1;
    struct pick_page *pg = table_or_page(p);
    if (!pg || pg->pfn == p->im->cr3_pfn)
        return 1;
    say(p, "cr3-moved: vcpu0 cr3 pfn %#" PRIx64 " -> %#" PRIx64 " (%s)", p->im->cr3_pfn, pg->pfn,
        xg_pfinfo_name(pg->type));
    mutate_set_cr3(0, pg->pfn);
    return 0;
}

static int k_gdt_entry(struct pick *p)
{
    /* Descriptors a guest might write: flat code and data at DPL 3 and 0,
     * 64-bit code, a TSS, an LDT, a call gate to a guest selector and to
     * a ring-0 one, an interrupt gate, and noise. */
    static const uint64_t descs[] = {
        0x00cffa000000ffffULL, 0x00cff2000000ffffULL, 0x00cf9a000000ffffULL, 0x00cf92000000ffffULL,
        0x00affa000000ffffULL, 0x00af9a000000ffffULL, 0x0000890000000067ULL, 0x0000820000000fffULL,
        0x0000ec0000e30000ULL, 0x00008c0000080000ULL, 0x00008e0000e30000ULL, 0,
    };
    if (!p->im->have_vcpu0 || !p->im->nr_gdt)
        return 1;
    struct pick_page *pg = find_page(p->im, p->im->gdt_pfn);
    if (!pg || !pg->data)
        return 1;
    unsigned n = sizeof(descs) / sizeof(descs[0]);
    unsigned k = below(p, n + 1);
    uint64_t v = k < n ? descs[k] : next_rand(p);
    return !set_entry(p, pg, below(p, 32), v, "gdt-entry");
}

static int k_gdt_moved(struct pick *p)
{
    if (!p->im->have_vcpu0 || !p->im->nr_gdt)
        return 1;
    struct pick_page *pg = table_or_page(p);
    if (!pg || pg->pfn == p->im->gdt_pfn)
        return 1;
    say(p, "gdt-moved: vcpu0 GDT frame pfn %#" PRIx64 " -> %#" PRIx64 " (%s)", p->im->gdt_pfn,
        pg->pfn, xg_pfinfo_name(pg->type));
    mutate_set_gdt(0, pg->pfn);
    return 0;
}

static int k_drop(struct pick *p)
{
    struct pick_page *pg = table_or_page(p);
    if (!pg)
        return 1;
    say(p, "drop: pfn %#" PRIx64 " (%s) left out of the image", pg->pfn, xg_pfinfo_name(pg->type));
    return !mutate_add_drop(pg->pfn);
}

static int k_xen_slot(struct pick *p)
{
    unsigned level = p->im->levels == 4 ? 4 : 2;
    struct pick_page *holder = random_page(p, want_table, level);
    struct pick_page *target = random_page(p, want_table, level - 1);
    if (!holder || !target)
        return 1;
    /* 64-bit: L4 slots 256-271; PAE: the top of an L2, Xen's in the L2 under L3 slot 3. */
    unsigned slot = level == 4 ? 256 + below(p, 16) : 428 + below(p, 84);
    uint64_t flags = 0x23 | (below(p, 2) ? 4 : 0);
    return !set_entry(p, holder, slot, (target->pfn << 12) | flags, "xen-slot");
}

typedef int (*pick_kind)(struct pick *p);
static const pick_kind kinds[] = {
    k_rw_flip,     k_clear,  k_pse,  k_flag, k_retype_table, k_retype_data, k_unpin,   k_pin,
    k_linear,      k_beyond, k_cr3,  k_gdt_entry, k_gdt_moved, k_drop, k_xen_slot, k_l1_to_table,
};
#define NR_KINDS (sizeof(kinds) / sizeof(kinds[0]))

int mutate_pick(const char *path, uint64_t seed, char *desc, size_t desc_len)
{
    struct pick_image im = { 0 };
    if (!(im.pages = calloc(PICK_MAX_PAGES, sizeof(*im.pages)))) {
        snprintf(desc, desc_len, "out of memory");
        return -1;
    }
    int rc = read_image(path, &im, desc, desc_len);
    struct pick p = { .im = &im, .rng = seed, .desc = desc, .desc_len = desc_len };
    if (rc == 0) {
        rc = -1;
        snprintf(desc, desc_len, "no mutation applies to this image");
        for (unsigned k = 0; k < NR_KINDS && rc < 0; k++) {
            int r = kinds[(seed + k) % NR_KINDS](&p);
            if (r == 0)
                rc = 0;
        }
    }
    for (size_t i = 0; i < im.nr; i++)
        free(im.pages[i].data);
    free(im.pages);
    return rc;
}
