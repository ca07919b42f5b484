/*
 * test_restore.c - the save and restore engines on the simulated host:
 * round trips, one crafted image per violation kind (each refused before
 * any pin, with its own diagnostic), the pin order of linear tables, the
 * real Xen 4.17 image, truncation, and hypervisor refusals injected after
 * validation (everything pinned is unpinned).
 */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hv/sim/guest.h"
#include "internal.h"
#include "pv/pv.h"
#include "testutil.h"
#include "xg/restore.h"
#include "xg/save.h"
#include "xg/xg.h"

#ifndef XG_TEST_SRCDIR
#define XG_TEST_SRCDIR "."
#endif

/* ------------------------------------------------------------ an image in memory */

struct rec {
    uint32_t type;
    uint32_t len;
    uint8_t *body;
};

#define PAGES_HERE 0xfffffffeU /* where the PAGE_DATA records go back */

struct img {
    uint32_t dom_type, major, minor;
    unsigned width;
    struct rec *recs;
    size_t nrecs;
    uint64_t nr;       /* pfns */
    uint32_t *type;    /* XTAB for absent */
    uint8_t **page;
    bool xtab_twin;       /* img_write lists xtab_twin_pfn as XTAB too, */
    uint64_t xtab_twin_pfn; /* just before its own entry, in the same record */
};

static void img_free(struct img *im)
{
    for (size_t i = 0; i < im->nrecs; i++)
        free(im->recs[i].body);
    for (uint64_t p = 0; p < im->nr; p++)
        free(im->page[p]);
    free(im->recs);
    free(im->type);
    free(im->page);
    memset(im, 0, sizeof(*im));
}

static void img_load(const char *path, struct img *im)
{
    memset(im, 0, sizeof(*im));
    int fd = open(path, O_RDONLY);
    ck_assert_int_ge(fd, 0);
    xg_diag *d = xg_diag_new();
    xg_stream_reader *r;
    ck_assert_int_eq(xg_stream_reader_open(fd, NULL, d, &r), 0);
    const struct xg_stream_info *info = xg_stream_reader_info(r);
    im->dom_type = info->domain_type;
    im->major = info->xen_major;
    im->minor = info->xen_minor;
    struct xg_record rec;
    bool pages_placed = false;
    for (;;) {
        ck_assert_int_eq(xg_stream_read(r, &rec), 0);
        if (rec.type == XG_REC_X86_PV_INFO)
            im->width = rec.u.pv_info.guest_width;
        if (rec.type == XG_REC_PAGE_DATA) {
            const struct xg_rec_page_data *pd = &rec.u.page_data;
            const uint8_t *data = pd->data;
            for (uint32_t i = 0; i < pd->count; i++) {
                uint64_t pfn = xg_pd_pfn(pd->pfn[i]);
                uint32_t t = xg_pd_type(pd->pfn[i]);
                if (pfn >= im->nr) {
                    uint64_t n = pfn + 1024;
                    im->type = realloc(im->type, n * sizeof(uint32_t));
                    im->page = realloc(im->page, n * sizeof(uint8_t *));
                    for (uint64_t q = im->nr; q < n; q++) {
                        im->type[q] = XG_PFINFO_XTAB;
                        im->page[q] = NULL;
                    }
                    im->nr = n;
                }
                im->type[pfn] = t;
                free(im->page[pfn]);
                im->page[pfn] = NULL;
                if (xg_pfinfo_has_data(t)) {
                    im->page[pfn] = malloc(4096);
                    memcpy(im->page[pfn], data, 4096);
                    data += 4096;
                }
            }
            if (pages_placed)
                continue;
            pages_placed = true;
        }
        im->recs = realloc(im->recs, (im->nrecs + 1) * sizeof(struct rec));
        struct rec *o = &im->recs[im->nrecs++];
        o->type = rec.type == XG_REC_PAGE_DATA ? PAGES_HERE : rec.type;
        o->len = rec.length;
        o->body = malloc(rec.length ? rec.length : 1);
        memcpy(o->body, rec.body, rec.length);
        if (rec.type == XG_REC_END)
            break;
    }
    xg_stream_reader_close(r);
    xg_diag_free(d);
    close(fd);
}

static void img_write(const struct img *im, const char *path)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ck_assert_int_ge(fd, 0);
    xg_diag *d = xg_diag_new();
    xg_stream_writer *w;
    ck_assert_int_eq(xg_stream_writer_open(fd, NULL, d, &w), 0);
    ck_assert_int_eq(xg_stream_write_headers(w, im->dom_type, im->major, im->minor), 0);
    for (size_t i = 0; i < im->nrecs; i++) {
        const struct rec *r = &im->recs[i];
        if (r->type != PAGES_HERE) {
            ck_assert_int_eq(xg_stream_write_record(w, r->type, r->body, r->len), 0);
            continue;
        }
        uint64_t e[XG_MAX_BATCH];
        const void *pg[XG_MAX_BATCH];
        unsigned n = 0, np = 0;
        for (uint64_t p = 0; p < im->nr; p++) {
            if (im->type[p] == XG_PFINFO_XTAB && !im->page[p])
                continue;
            if (im->xtab_twin && p == im->xtab_twin_pfn)
                e[n++] = xg_pd_entry(p, XG_PFINFO_XTAB);
            e[n++] = xg_pd_entry(p, im->type[p]);
            if (xg_pfinfo_has_data(im->type[p])) {
                static const uint8_t zero[4096];
                pg[np++] = im->page[p] ? im->page[p] : zero;
            }
            if (n + im->xtab_twin >= XG_MAX_BATCH) { /* room for a twin and its pfn */
                ck_assert_int_eq(xg_stream_write_page_data(w, n, e, pg), 0);
                n = np = 0;
            }
        }
        if (n)
            ck_assert_int_eq(xg_stream_write_page_data(w, n, e, pg), 0);
    }
    ck_assert_int_eq(xg_stream_writer_close(w), 0);
    xg_diag_free(d);
    close(fd);
}

static uint64_t *img_table(struct img *im, uint64_t pfn)
{
    ck_assert(pfn < im->nr && im->page[pfn]);
    return (uint64_t *)im->page[pfn];
}

static struct rec *img_record(struct img *im, uint32_t type, unsigned nth)
{
    for (size_t i = 0; i < im->nrecs; i++)
        if (im->recs[i].type == type && nth-- == 0)
            return &im->recs[i];
    return NULL;
}

static uint8_t *img_vcpu(struct img *im, unsigned vcpu)
{
    for (size_t i = 0; i < im->nrecs; i++)
        if (im->recs[i].type == XG_REC_X86_PV_VCPU_BASIC && xg__le32(im->recs[i].body) == vcpu)
            return im->recs[i].body + 8;
    ck_abort_msg("no vcpu%u in the image", vcpu);
    return NULL;
}

static struct xg_pv_vcpu_frames img_frames(struct img *im, unsigned vcpu)
{
    struct xg_pv_vcpu_frames f;
    const char *why;
    ck_assert_int_eq(xg_pv_vcpu_frames(img_vcpu(im, vcpu), im->width, vcpu, true, &f, &why), 0);
    return f;
}

/* First pfn recorded with this level (pinned or not, as asked: -1 either). */
static uint64_t find_table(struct img *im, unsigned level, int pinned)
{
    for (uint64_t p = 0; p < im->nr; p++)
        if (xg_pfinfo_level(im->type[p]) == level && (pinned < 0 || (int)xg_pfinfo_pinned(im->type[p]) == pinned))
            return p;
    ck_abort_msg("no L%u table in the image", level);
    return 0;
}

/* A present entry (slot) of a live table of this level whose target has level `tl`. */
static uint64_t find_entry(struct img *im, unsigned level, unsigned tl, unsigned *slot)
{
    for (uint64_t p = 0; p < im->nr; p++) {
        if (xg_pfinfo_level(im->type[p]) != level || !im->page[p])
            continue;
        const uint64_t *t = img_table(im, p);
        for (unsigned s = 0; s < 512; s++) {
            if (level == 4 && s >= 256 && s <= 271)
                continue;
            if (!xg_pte_present(t[s]))
                continue;
            uint64_t tp = xg_pte_frame(t[s]);
            if (tp < im->nr && xg_pfinfo_level(im->type[tp]) == tl && (tl || xg_pfinfo_has_data(im->type[tp]))) {
                *slot = s;
                return p;
            }
        }
    }
    ck_abort_msg("no L%u entry to an L%u page", level, tl);
    return 0;
}

/* ------------------------------------------------------------ hosts and guests */

struct env {
    char *dir;
    char *src, *dst;   /* host files */
    char *img;         /* a good image */
    char *bad;         /* a crafted one */
    uint32_t src_dom;
    unsigned vcpus;
};

static void build_guest(struct env *e, const char *layout, uint64_t mem, unsigned vcpus, unsigned faults)
{
    xg_diag *d = xg_diag_new();
    struct sim_host *h;
    ck_assert_int_eq(sim_host_open(e->src, d, &h), 0);
    struct sim_build_opts o = { .layout = sim_layout_from_name(layout), .mem_bytes = mem, .nr_vcpus = vcpus,
                                .seed = 7, .faults = faults };
    int rc = sim_build(h, &o, &e->src_dom, d);
    if (rc)
        xg_diag_print(stderr, d, true);
    ck_assert_int_eq(rc, 0);
    sim_host_close(h);
    xg_diag_free(d);
    e->vcpus = vcpus;
}

static void env_init(struct env *e, const char *layout, uint64_t mem, unsigned vcpus)
{
    memset(e, 0, sizeof(*e));
    e->dir = xgt_mkdtemp();
    e->src = xgt_path(e->dir, "src.host");
    e->dst = xgt_path(e->dir, "dst.host");
    e->img = xgt_path(e->dir, "good.img");
    e->bad = xgt_path(e->dir, "bad.img");
    xg_diag *d = xg_diag_new();
    ck_assert_int_eq(sim_host_create(e->src, 49152, d), 0);
    ck_assert_int_eq(sim_host_create(e->dst, 49152, d), 0);
    xg_diag_free(d);
    if (layout)
        build_guest(e, layout, mem, vcpus, 0);
}

static void env_fini(struct env *e)
{
    xgt_rmtree(e->dir);
    free(e->dir);
    free(e->src);
    free(e->dst);
    free(e->img);
    free(e->bad);
}

static void save_to(struct env *e, const char *path)
{
    xg_hv *hv = xgt_open_sim(e->src);
    xg_diag *d = xg_diag_new();
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    struct xg_save_params p = { 0 };
    int rc = xg_save(hv, e->src_dom, fd, &p, NULL, NULL, d);
    if (rc)
        xg_diag_print(stderr, d, true);
    ck_assert_int_eq(rc, 0);
    close(fd);
    xg_diag_free(d);
    xg_hv_close(hv);
}

static int restore_file(struct env *e, const char *path, struct xg_restore_params *p, xg_diag *d,
                        struct xg_restore_result *res, const char *faults)
{
    xg_hv *hv = xgt_open_sim(e->dst);
    if (faults)
        ck_assert_int_eq(xg_hv_set_faults(hv, faults, d), 0);
    int fd = open(path, O_RDONLY);
    ck_assert_int_ge(fd, 0);
    int rc = xg_restore(hv, fd, p, NULL, res, d);
    close(fd);
    xg_hv_close(hv);
    return rc;
}

static char *host_log(const char *path, bool trace)
{
    xg_diag *d = xg_diag_new();
    struct sim_host *h;
    ck_assert_int_eq(sim_host_open(path, d, &h), 0);
    ck_assert_int_eq(sim_lock(h, 0, d), 0);
    char *log = sim_log_read(h, trace);
    sim_unlock(h);
    sim_host_close(h);
    xg_diag_free(d);
    return log;
}

static unsigned host_domains(const char *path)
{
    xg_diag *d = xg_diag_new();
    struct sim_host *h;
    ck_assert_int_eq(sim_host_open(path, d, &h), 0);
    unsigned n = 0;
    for (unsigned i = 0; i < SIM_MAX_DOMAINS; i++)
        n += h->doms[i].in_use != 0;
    sim_host_close(h);
    xg_diag_free(d);
    return n;
}

static void assert_consistent(const char *path)
{
    xg_diag *d = xg_diag_new();
    struct sim_host *h;
    ck_assert_int_eq(sim_host_open(path, d, &h), 0);
    int rc = sim_check_consistency(h, d);
    if (rc)
        xg_diag_print(stderr, d, true);
    ck_assert_int_eq(rc, 0);
    sim_host_close(h);
    xg_diag_free(d);
}

static unsigned pinned_frames(const char *path, uint32_t domid)
{
    xg_diag *d = xg_diag_new();
    struct sim_host *h;
    ck_assert_int_eq(sim_host_open(path, d, &h), 0);
    unsigned n = 0;
    for (uint64_t m = 0; m < h->hdr->nr_frames; m++)
        if (h->frames[m].owner == domid && (h->frames[m].type_info & PGT_pinned))
            n++;
    sim_host_close(h);
    xg_diag_free(d);
    return n;
}

/*
 * The crafted image must be refused before any pin: XG_E_IMAGE, a finding
 * containing `needle`, no pin in the host's trace, no domain left behind,
 * and the host consistent.
 */
static void expect_refused(struct env *e, const char *needle)
{
    xg_diag *d = xg_diag_new();
    struct xg_restore_params p = { .create = true, .create_vcpus = e->vcpus, .store_evtchn = -1, .console_evtchn = -1 };
    struct xg_restore_result res;
    int rc = restore_file(e, e->bad, &p, d, &res, NULL);
    if (rc != XG_E_IMAGE || !xgt_diag_has(d, needle)) {
        xg_diag_print(stderr, d, true);
        ck_abort_msg("expected XG_E_IMAGE with \"%s\", got %s", needle, xg_err_name(rc));
    }
    char *log = host_log(e->dst, true);
    ck_assert_msg(strstr(log, "PIN_") == NULL, "a pin was attempted:\n%s", log);
    ck_assert_msg(strstr(log, "createdomain") && strstr(log, "destroydomain"), "no create/destroy in:\n%s", log);
    free(log);
    ck_assert_uint_eq(host_domains(e->dst), 0);
    assert_consistent(e->dst);
    xg_diag_free(d);
}

/* ------------------------------------------------------------ round trips */

static void round_trip(const char *layout, uint64_t mem, unsigned vcpus)
{
    struct env e;
    env_init(&e, layout, mem, vcpus);
    save_to(&e, e.img);
    xg_diag *d = xg_diag_new();
    struct xg_restore_params p = { .create = true, .create_vcpus = vcpus, .store_evtchn = -1, .console_evtchn = -1 };
    struct xg_restore_result res;
    int rc = restore_file(&e, e.img, &p, d, &res, NULL);
    if (rc)
        xg_diag_print(stderr, d, true);
    ck_assert_int_eq(rc, 0);
    ck_assert_uint_eq(res.nr_vcpus, vcpus);
    ck_assert_uint_gt(res.pinned, 0);
    ck_assert_uint_eq(res.tables_stale, 0);
    ck_assert(res.store_mfn != ~0ULL && res.console_mfn != ~0ULL);
    /* The back ends (dom0) may map the rings: xenstored's INTRODUCE needs grant entry 1. */
    char *log = host_log(e.dst, true), want[160];
    snprintf(want, sizeof(want), "gnttab_seed d%u entry 1 (xenstore): d0 may map frame %#llx", res.domid,
             (unsigned long long)res.store_mfn);
    ck_assert_msg(strstr(log, want), "no \"%s\" in the trace", want);
    snprintf(want, sizeof(want), "gnttab_seed d%u entry 0 (console): d0 may map frame %#llx", res.domid,
             (unsigned long long)res.console_mfn);
    ck_assert_msg(strstr(log, want), "no \"%s\" in the trace", want);
    free(log);
    struct sim_host *ha, *hb;
    ck_assert_int_eq(sim_host_open(e.src, d, &ha), 0);
    ck_assert_int_eq(sim_host_open(e.dst, d, &hb), 0);
    rc = sim_compare(ha, e.src_dom, hb, res.domid, d);
    if (rc == 0)
        rc = sim_self_check(hb, res.domid, d);
    if (rc)
        xg_diag_print(stderr, d, true);
    ck_assert_int_eq(rc, 0);
    sim_host_close(ha);
    sim_host_close(hb);
    assert_consistent(e.src);
    assert_consistent(e.dst);
    xg_diag_free(d);
    env_fini(&e);
}

START_TEST(round_trip_linux64) { round_trip("linux64", 8 << 20, 2); }
END_TEST
START_TEST(round_trip_pae32) { round_trip("pae32", 8 << 20, 3); }
END_TEST
START_TEST(round_trip_netbsd64) { round_trip("netbsd64", 8 << 20, 2); }
END_TEST

/* ------------------------------------------------------------ crafted images */

static void craft(struct env *e, const char *layout, unsigned vcpus, struct img *im)
{
    env_init(e, layout, 8 << 20, vcpus);
    save_to(e, e->img);
    img_load(e->img, im);
}

START_TEST(bad_writable_pagetable)
{
    struct env e;
    struct img im;
    craft(&e, "linux64", 1, &im);
    unsigned slot;
    uint64_t l1 = find_entry(&im, 1, 0, &slot);
    uint64_t l2 = find_table(&im, 2, -1);
    img_table(&im, l1)[slot] = xg_pte_make(l2, XG_PTE_P | XG_PTE_RW | XG_PTE_A);
    img_write(&im, e.bad);
    expect_refused(&e, "writable, but that page is an L2 table");
    xg_diag *d = xg_diag_new();
    /* The diagnostic carries what Xen would say. */
    struct xg_restore_params p = { .check_only = true, .create = true };
    restore_file(&e, e.bad, &p, d, NULL, NULL);
    ck_assert(xgt_diag_has(d, "exp e000000000000000"));
    xg_diag_free(d);
    img_free(&im);
    env_fini(&e);
}
END_TEST

START_TEST(bad_cr3_not_a_table)
{
    struct env e;
    struct img im;
    craft(&e, "linux64", 1, &im);
    /* pfn 1 is kernel text: an ordinary page. */
    uint8_t *ctx = img_vcpu(&im, 0);
    const struct xg_vcpu_layout *L = xg_vcpu_layout(8);
    xg_guest_set_word(ctx, L->ctrlreg + 3 * 8, 8, xg_frame_to_cr3(1, 8));
    img_write(&im, e.bad);
    expect_refused(&e, "vcpu0's cr3 points to pfn 0x1, which the image records as an ordinary page");
    img_free(&im);
    env_fini(&e);
}
END_TEST

START_TEST(bad_pfn_not_in_image)
{
    struct env e;
    struct img im;
    craft(&e, "linux64", 1, &im);
    unsigned slot;
    uint64_t l1 = find_entry(&im, 1, 0, &slot);
    /* Beyond the image's pfns (one it never sent within them gets a frame: unsent_pfn_...). */
    img_table(&im, l1)[slot] = xg_pte_set_frame(img_table(&im, l1)[slot], im.nr + 10);
    img_write(&im, e.bad);
    expect_refused(&e, "which is not in the image");
    img_free(&im);
    env_fini(&e);
}
END_TEST

/*
 * An L3 entry moved from its L2 to an L1 no other live table holds: Xen
 * validates the L1 as an L2 (an unpinned table takes the level of the
 * entry that names it, unpinned_table_takes_its_holders_level), and its
 * entries, to data pages, fail as L2 entries.  Refused, with the note
 * that says why the L1 is checked as an L2.
 */
START_TEST(bad_level_off_by_one)
{
    struct env e;
    struct img im;
    craft(&e, "linux64", 1, &im);
    unsigned slot;
    uint64_t l3 = find_entry(&im, 3, 2, &slot);
    uint64_t l1 = find_table(&im, 1, -1);
    img_table(&im, l3)[slot] = xg_pte_set_frame(img_table(&im, l3)[slot], l1);
    img_write(&im, e.bad);
    char needle[128];
    snprintf(needle, sizeof(needle),
             "pfn %#llx is recorded as an L1 table but not pinned, and a live L3 table names it",
             (unsigned long long)l1);
    expect_refused(&e, needle);
    img_free(&im);
    env_fini(&e);
}
END_TEST

START_TEST(bad_superpage)
{
    struct env e;
    struct img im;
    craft(&e, "linux64", 1, &im);
    unsigned slot;
    uint64_t l2 = find_entry(&im, 2, 1, &slot);
    img_table(&im, l2)[slot] |= XG_PTE_PSE;
    img_write(&im, e.bad);
    expect_refused(&e, "maps a superpage");
    img_free(&im);
    env_fini(&e);
}
END_TEST

START_TEST(bad_writable_linear)
{
    struct env e;
    struct img im;
    craft(&e, "netbsd64", 1, &im);
    uint64_t l4 = img_frames(&im, 0).cr3;
    img_table(&im, l4)[255] |= XG_PTE_RW; /* the recursive slot */
    img_write(&im, e.bad);
    expect_refused(&e, "writable linear (recursive) entry");
    img_free(&im);
    env_fini(&e);
}
END_TEST

START_TEST(bad_linear_cycle)
{
    struct env e;
    struct img im;
    craft(&e, "netbsd64", 1, &im);
    uint64_t a = img_frames(&im, 0).cr3;
    uint64_t b = xg_pte_frame(img_table(&im, a)[254]); /* process 0's alternate recursive slot */
    ck_assert(b != a && xg_pfinfo_level(im.type[b]) == 4);
    img_table(&im, b)[254] = xg_pte_make(a, XG_PTE_P | XG_PTE_A);
    img_write(&im, e.bad);
    expect_refused(&e, "holds linear entries to other tables and is itself the target of one");
    img_free(&im);
    env_fini(&e);
}
END_TEST

START_TEST(bad_missing_p2m_frame)
{
    struct env e;
    struct img im;
    craft(&e, "linux64", 1, &im);
    struct rec *r = img_record(&im, XG_REC_X86_PV_P2M_FRAMES, 0);
    uint64_t pfn = xg__le64(r->body + 8);
    im.type[pfn] = XG_PFINFO_XTAB;
    free(im.page[pfn]);
    im.page[pfn] = NULL;
    img_write(&im, e.bad);
    expect_refused(&e, "a frame of the guest's p2m");
    img_free(&im);
    env_fini(&e);
}
END_TEST

START_TEST(bad_missing_gdt_frame)
{
    struct env e;
    struct img im;
    craft(&e, "linux64", 1, &im);
    uint64_t pfn = img_frames(&im, 0).gdt[0];
    im.type[pfn] = XG_PFINFO_XTAB;
    free(im.page[pfn]);
    im.page[pfn] = NULL;
    img_write(&im, e.bad);
    expect_refused(&e, "a GDT frame (pfn");
    img_free(&im);
    env_fini(&e);
}
END_TEST

START_TEST(bad_start_info_typed_as_table)
{
    struct env e;
    struct img im;
    craft(&e, "linux64", 1, &im);
    uint64_t pfn = img_frames(&im, 0).start_info;
    im.type[pfn] = XG_PFINFO_L1TAB;
    img_write(&im, e.bad);
    expect_refused(&e, "start info page");
    img_free(&im);
    env_fini(&e);
}
END_TEST

START_TEST(bad_pae_shared_slot3)
{
    struct env e;
    struct img im;
    craft(&e, "pae32", 2, &im);
    uint64_t a = img_frames(&im, 0).cr3, b = img_frames(&im, 1).cr3;
    img_table(&im, b)[3] = img_table(&im, a)[3];
    img_write(&im, e.bad);
    expect_refused(&e, "PAE L3 3rd slot is shared");
    img_free(&im);
    env_fini(&e);
}
END_TEST

START_TEST(stale_table_is_a_warning)
{
    struct env e;
    struct img im;
    craft(&e, "linux64", 1, &im);
    /* An ordinary page now recorded as an L1 table nobody references: junk entries included. */
    uint64_t pfn = img_frames(&im, 0).start_info + 8;
    ck_assert_uint_eq(im.type[pfn], XG_PFINFO_NOTAB);
    im.type[pfn] = XG_PFINFO_L1TAB;
    uint64_t *t = img_table(&im, pfn);
    t[0] = xg_pte_make(im.nr + 5000, XG_PTE_P | XG_PTE_RW);
    img_write(&im, e.bad);
    xg_diag *d = xg_diag_new();
    struct xg_restore_params p = { .create = true, .create_vcpus = 1, .store_evtchn = -1, .console_evtchn = -1 };
    struct xg_restore_result res;
    int rc = restore_file(&e, e.bad, &p, d, &res, NULL);
    if (rc)
        xg_diag_print(stderr, d, true);
    ck_assert_int_eq(rc, 0);
    ck_assert_uint_eq(res.tables_stale, 1);
    ck_assert_uint_gt(xg_diag_total(d, XG_SEV_WARNING), 0);
    ck_assert(xgt_diag_has(d, "stale table no pin and no cr3 reaches"));
    assert_consistent(e.dst);
    xg_diag_free(d);
    img_free(&im);
    env_fini(&e);
}
END_TEST

/* ------------------------------------------------------------ pin order */

START_TEST(netbsd_needs_dependency_order)
{
    struct env e;
    env_init(&e, "netbsd64", 8 << 20, 2);
    save_to(&e, e.img);
    xg_diag *d = xg_diag_new();
    struct xg_restore_params p = { .create = true, .create_vcpus = 2, .store_evtchn = -1, .console_evtchn = -1,
                                   .pin_in_pfn_order = true };
    struct xg_restore_result res;
    /* Xen's own order (pfns upwards) fails on linear entries between L4s... */
    ck_assert_int_eq(restore_file(&e, e.img, &p, d, &res, NULL), XG_E_HV);
    ck_assert(xgt_diag_has(d, "pinning in pfn order"));
    ck_assert_uint_eq(host_domains(e.dst), 0);
    assert_consistent(e.dst);
    xg_diag_clear(d);
    /* ...and the dependency order does not. */
    p.pin_in_pfn_order = false;
    int rc = restore_file(&e, e.img, &p, d, &res, NULL);
    if (rc)
        xg_diag_print(stderr, d, true);
    ck_assert_int_eq(rc, 0);
    char *log = host_log(e.dst, false);
    ck_assert_msg(strstr(log, "promote_l4_table"), "the pfn-order attempt should have left Xen's reason:\n%s", log);
    free(log);
    xg_diag_free(d);
    env_fini(&e);
}
END_TEST

/* ------------------------------------------------------------ refusals after validation */

static void refusal(const char *faults, unsigned expect_pins_before)
{
    struct env e;
    env_init(&e, "linux64", 8 << 20, 2);
    save_to(&e, e.img);
    /* An existing empty domain, as xend makes it: it must survive, with nothing pinned. */
    xg_diag *d = xg_diag_new();
    struct sim_host *h;
    ck_assert_int_eq(sim_host_open(e.dst, d, &h), 0);
    uint32_t domid;
    ck_assert_int_eq(sim_lock(h, 0, d), 0);
    ck_assert_int_eq(sim_domain_create(h, 8, 2, 4096, &domid), 0);
    sim_unlock(h);
    sim_host_close(h);
    struct xg_restore_params p = { .domid = domid, .store_evtchn = -1, .console_evtchn = -1 };
    int rc = restore_file(&e, e.img, &p, d, NULL, faults);
    ck_assert_int_eq(rc, XG_E_HV);
    ck_assert(xgt_diag_has(d, "injected fault"));
    ck_assert_uint_eq(host_domains(e.dst), 1);
    ck_assert_uint_eq(pinned_frames(e.dst, domid), 0);
    char *log = host_log(e.dst, true);
    unsigned pins = 0, unpins = 0;
    for (char *q = log; (q = strstr(q, "mmuext ")); q++) {
        if (!strncmp(q, "mmuext PIN_", 11))
            pins++;
        if (!strncmp(q, "mmuext UNPIN_", 13))
            unpins++;
    }
    ck_assert_uint_eq(pins, expect_pins_before);
    ck_assert_uint_eq(unpins, expect_pins_before);
    free(log);
    assert_consistent(e.dst);
    xg_diag_free(d);
    env_fini(&e);
}

START_TEST(refused_pin_unpins_everything) { refusal("pin@3", 2); }
END_TEST
START_TEST(refused_vcpu_unpins_everything) { refusal("vcpu_set@2", 7); }
END_TEST

/* ------------------------------------------------------------ truncation */

START_TEST(truncated_at_every_record_boundary)
{
    struct env e;
    env_init(&e, "linux64", 8 << 20, 1);
    save_to(&e, e.img);
    /* Record boundaries, from the reader itself. */
    uint64_t off[64];
    unsigned n = 0;
    int fd = open(e.img, O_RDONLY);
    xg_diag *d = xg_diag_new();
    xg_stream_reader *r;
    ck_assert_int_eq(xg_stream_reader_open(fd, NULL, d, &r), 0);
    struct xg_record rec;
    do {
        ck_assert_int_eq(xg_stream_read(r, &rec), 0);
        off[n++] = rec.offset;
    } while (rec.type != XG_REC_END && n < 64);
    xg_stream_reader_close(r);
    close(fd);
    struct xgt_buf whole;
    xgt_buf_init(&whole);
    xgt_read_file(e.img, &whole);
    srand(42);
    for (unsigned i = 0; i < n + 12; i++) {
        /* every boundary, then a dozen random cuts inside records */
        uint64_t cut = i < n ? off[i] : off[0] + (uint64_t)rand() % (whole.len - off[0] - 1);
        xgt_write_file(e.bad, whole.data, cut);
        xg_diag_clear(d);
        struct xg_restore_params p = { .create = true, .create_vcpus = 1, .store_evtchn = -1, .console_evtchn = -1 };
        int rc = restore_file(&e, e.bad, &p, d, NULL, NULL);
        ck_assert_msg(rc == XG_E_TRUNCATED, "cut at %llu: %s", (unsigned long long)cut, xg_err_name(rc));
        ck_assert_uint_eq(host_domains(e.dst), 0);
    }
    char *log = host_log(e.dst, true);
    ck_assert(strstr(log, "PIN_") == NULL);
    free(log);
    assert_consistent(e.dst);
    xgt_buf_free(&whole);
    xg_diag_free(d);
    env_fini(&e);
}
END_TEST

/* ------------------------------------------------------------ the real image */

START_TEST(xen417_image_restores)
{
    struct env e;
    env_init(&e, NULL, 0, 1);
    char *fixture = xgt_path(XG_TEST_SRCDIR, "tests/data/linux64-4.17-xl.img.gz");
    xg_diag *d = xg_diag_new();
    struct xg_restore_params p = { .create = true, .create_vcpus = 1, .store_evtchn = -1, .console_evtchn = -1 };
    struct xg_restore_result res;
    int rc = restore_file(&e, fixture, &p, d, &res, NULL);
    if (rc)
        xg_diag_print(stderr, d, true);
    ck_assert_int_eq(rc, 0);
    ck_assert_uint_eq(res.image.wrapper, XG_WRAP_XL);
    ck_assert(res.image.gzip);
    ck_assert_uint_eq(res.pages, 32768);
    ck_assert_uint_eq(res.tables, 184);
    ck_assert_uint_eq(res.pinned, 56);
    ck_assert_uint_eq(res.nr_vcpus, 1);
    ck_assert_uint_eq(pinned_frames(e.dst, res.domid), 56);
    assert_consistent(e.dst);
    free(fixture);
    xg_diag_free(d);
    env_fini(&e);
}
END_TEST

/*
 * The real image restored onto the simulated host, resumed, suspended and
 * saved again gives back the same pages, types and tables, and the same
 * vcpu state.  Only what names machine frames of a host may differ: the
 * guest's p2m frames (the new host's mfns) and start info's shared_info
 * (and its flags, which a restore clears as Xen's own does).
 */
START_TEST(xen417_image_saves_back_the_same)
{
    struct env e;
    env_init(&e, NULL, 0, 1);
    char *fixture = xgt_path(XG_TEST_SRCDIR, "tests/data/linux64-4.17-xl.img.gz");
    xg_diag *d = xg_diag_new();
    struct xg_restore_params p = { .create = true, .create_vcpus = 1, .store_evtchn = -1, .console_evtchn = -1 };
    struct xg_restore_result res;
    ck_assert_int_eq(restore_file(&e, fixture, &p, d, &res, NULL), 0);
    xg_hv *hv = xgt_open_sim(e.dst);
    ck_assert_int_eq(xg_hv_resume(hv, res.domid, d), 0);
    int fd = open(e.img, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    struct xg_save_params sp = { 0 };
    int rc = xg_save(hv, res.domid, fd, &sp, NULL, NULL, d);
    if (rc)
        xg_diag_print(stderr, d, true);
    ck_assert_int_eq(rc, 0);
    close(fd);
    xg_hv_close(hv);

    struct img a, b;
    img_load(fixture, &a);
    img_load(e.img, &b);
    ck_assert_uint_eq(a.width, b.width);
    struct rec *ra = img_record(&a, XG_REC_X86_PV_P2M_FRAMES, 0), *rb = img_record(&b, XG_REC_X86_PV_P2M_FRAMES, 0);
    ck_assert(ra && rb && ra->len == rb->len && memcmp(ra->body, rb->body, ra->len) == 0);
    uint64_t si = img_frames(&a, 0).start_info;
    ck_assert_uint_eq(si, img_frames(&b, 0).start_info);
    uint64_t n = XG_MAX(a.nr, b.nr), tables = 0;
    for (uint64_t pfn = 0; pfn < n; pfn++) {
        uint32_t ta = pfn < a.nr ? a.type[pfn] : XG_PFINFO_XTAB, tb = pfn < b.nr ? b.type[pfn] : XG_PFINFO_XTAB;
        ck_assert_msg(ta == tb, "pfn %#llx: %s then %s", (unsigned long long)pfn, xg_pfinfo_name(ta), xg_pfinfo_name(tb));
        if (!xg_pfinfo_has_data(ta))
            continue;
        bool p2m_frame = false;
        for (unsigned i = 0; i < (ra->len - 8) / 8; i++)
            p2m_frame |= xg__le64(ra->body + 8 + 8 * i) == pfn;
        if (p2m_frame)
            continue;
        tables += xg_pfinfo_level(ta) != 0;
        uint8_t *pa = a.page[pfn], *pb = b.page[pfn];
        if (pfn == si) {
            const struct xg_start_info_layout *L = xg_start_info_layout(a.width);
            /* The shared info frame's address, and flags, which a restore clears (as Xen's does). */
            memset(pa + L->shared_info, 0, L->word);
            memset(pb + L->shared_info, 0, L->word);
            memset(pa + L->flags, 0, 4);
            memset(pb + L->flags, 0, 4);
        }
        ck_assert_msg(memcmp(pa, pb, 4096) == 0, "pfn %#llx (%s) differs", (unsigned long long)pfn, xg_pfinfo_name(ta));
    }
    ck_assert_uint_eq(tables, 184);
    struct rec *va = img_record(&a, XG_REC_X86_PV_VCPU_BASIC, 0), *vb = img_record(&b, XG_REC_X86_PV_VCPU_BASIC, 0);
    ck_assert(va && vb && va->len == vb->len && memcmp(va->body, vb->body, va->len) == 0);
    va = img_record(&a, XG_REC_X86_PV_VCPU_EXTENDED, 0);
    vb = img_record(&b, XG_REC_X86_PV_VCPU_EXTENDED, 0);
    ck_assert(va && vb && va->len == vb->len && memcmp(va->body, vb->body, va->len) == 0);
    img_free(&a);
    img_free(&b);
    free(fixture);
    xg_diag_free(d);
    env_fini(&e);
}
END_TEST

/* The real image cut at record boundaries (and inside records), fed through a pipe. */
START_TEST(xen417_image_truncated)
{
    struct env e;
    env_init(&e, NULL, 0, 1);
    char *fixture = xgt_path(XG_TEST_SRCDIR, "tests/data/linux64-4.17-xl.img.gz");
    /* Uncompressed once, in memory (about 130 MB). */
    xg_diag *d = xg_diag_new();
    struct xgt_buf whole;
    xgt_buf_init(&whole);
    int fd;
    char cmd[1024];
    snprintf(cmd, sizeof(cmd), "gzip -dc < '%s'", fixture);
    FILE *z = popen(cmd, "r");
    ck_assert(z != NULL);
    char buf[1 << 16];
    size_t got;
    while ((got = fread(buf, 1, sizeof(buf), z)) > 0)
        xgt_buf_put(&whole, buf, got);
    ck_assert_int_eq(pclose(z), 0);
    /* Record boundaries of the libxc part, by the reader. */
    uint64_t off[64];
    unsigned n = 0;
    fd = xgt_fd_from_mem(whole.data, whole.len);
    xg_stream_reader *r;
    ck_assert_int_eq(xg_stream_reader_open(fd, NULL, d, &r), 0);
    struct xg_record rec;
    do {
        ck_assert_int_eq(xg_stream_read(r, &rec), 0);
        off[n++] = rec.offset;
    } while (rec.type != XG_REC_END && n < 64);
    xg_stream_reader_close(r);
    close(fd);
    ck_assert_uint_eq(n, 42);
    srand(4217);
    unsigned cuts = 0;
    for (unsigned i = 0; i < n + 4; i++) {
        /* All boundaries but most of the long run of PAGE_DATA ones; then cuts inside records. */
        if (i < n && i > 8 && i < n - 8 && i % 8)
            continue;
        uint64_t cut = i < n ? off[i] : off[0] + (uint64_t)rand() % (whole.len - off[0] - 1);
        struct xgt_thread *feeder;
        int pfd = xgt_pipe_feed(whole.data, cut, &feeder);
        xg_hv *hv = xgt_open_sim(e.dst);
        struct xg_restore_params p = { .create = true, .create_vcpus = 1, .store_evtchn = -1, .console_evtchn = -1 };
        xg_diag_clear(d);
        int rc = xg_restore(hv, pfd, &p, NULL, NULL, d);
        xg_hv_close(hv);
        close(pfd);
        xgt_thread_join(feeder);
        ck_assert_msg(rc == XG_E_TRUNCATED, "cut at %llu: %s", (unsigned long long)cut, xg_err_name(rc));
        ck_assert_uint_eq(host_domains(e.dst), 0);
        cuts++;
    }
    ck_assert_uint_ge(cuts, 20);
    char *log = host_log(e.dst, true);
    ck_assert(strstr(log, "PIN_") == NULL);
    free(log);
    assert_consistent(e.dst);
    xgt_buf_free(&whole);
    free(fixture);
    xg_diag_free(d);
    env_fini(&e);
}
END_TEST

/* -------------------------------------------------------- Xen 4.17: what it restores, refuses */

/* Restore the crafted image: it succeeds (a finding says `needle`, if given) and self-checks. */
static uint32_t expect_restored(struct env *e, const char *needle)
{
    xg_diag *d = xg_diag_new();
    struct xg_restore_params p = { .create = true, .create_vcpus = e->vcpus, .store_evtchn = -1,
                                   .console_evtchn = -1 };
    struct xg_restore_result res;
    int rc = restore_file(e, e->bad, &p, d, &res, NULL);
    if (rc || (needle && !xgt_diag_has(d, needle)))
        xg_diag_print(stderr, d, true);
    ck_assert_int_eq(rc, 0);
    ck_assert_msg(!needle || xgt_diag_has(d, needle), "no finding says \"%s\"", needle);
    struct sim_host *h;
    ck_assert_int_eq(sim_host_open(e->dst, d, &h), 0);
    rc = sim_self_check(h, res.domid, d);
    if (rc)
        xg_diag_print(stderr, d, true);
    ck_assert_int_eq(rc, 0);
    sim_host_close(h);
    assert_consistent(e->dst);
    xg_diag_free(d);
    return res.domid;
}

static uint64_t *gdt_frame(struct img *im, unsigned vcpu)
{
    struct xg_pv_vcpu_frames f = img_frames(im, vcpu);
    ck_assert_uint_ge(f.nr_gdt, 1);
    return img_table(im, f.gdt[0]);
}

/*
 * xen/arch/x86/pv/descriptor-tables.c, check_descriptor (through
 * validate_segdesc_page, pv_set_gdt, arch_set_info_guest): every system
 * descriptor but a call gate is refused, here a 64-bit TSS.  Xen checks it
 * at XEN_DOMCTL_setvcpucontext, after every pin: xg refuses it before.
 */
START_TEST(gdt_tss_refused_before_pins)
{
    struct env e;
    struct img im;
    craft(&e, "linux64", 1, &im);
    gdt_frame(&im, 0)[20] = 0x0000890000000067ULL; /* P, type 9 (64-bit TSS), limit 0x67 */
    img_write(&im, e.bad);
    expect_refused(&e, "a TSS descriptor; Xen refuses it");
    img_free(&im);
    env_fini(&e);
}
END_TEST

/* xg_image_check (xg-inspect) on the image at `path`: its result; `needle` must be a finding. */
static int image_check_file(const char *path, const char *needle)
{
    xg_diag *d = xg_diag_new();
    int fd = open(path, O_RDONLY);
    ck_assert_int_ge(fd, 0);
    int rc = xg_image_check(fd, NULL, NULL, d);
    close(fd);
    if (needle && !xgt_diag_has(d, needle)) {
        xg_diag_print(stderr, d, true);
        ck_abort_msg("xg_image_check: no finding with \"%s\"", needle);
    }
    xg_diag_free(d);
    return rc;
}

/*
 * The same rule offline: xg-inspect has no host to read the GDT frame from
 * when it meets the vcpu record (which comes after the pages), so the
 * restore's reader notes, as each ordinary page goes by, whether Xen would
 * refuse it as a GDT frame.  Found by the tier's differential test
 * (sim-diff): the simulator's restore refused an interrupt gate (type 14)
 * in the GDT frame that xg-inspect had passed.  Xen 4.17.5 xen/arch/x86/pv/
 * descriptor-tables.c, validate_segdesc_page (line 287): all 512
 * descriptors of the frame go through check_descriptor (line 294), and any
 * refused one fails the vcpu context with EINVAL.
 */
START_TEST(gdt_checked_offline)
{
    struct env e;
    struct img im;
    craft(&e, "linux64", 1, &im);
    gdt_frame(&im, 0)[10] = 0x00008e0000e30000ULL; /* P, DPL 0, interrupt gate */
    img_write(&im, e.bad);
    ck_assert_int_eq(image_check_file(e.bad, "GDT frame 0 (pfn"), XG_E_IMAGE);
    img_free(&im);
    env_fini(&e);
    /* The untouched image passes: the note is about the frame, not every page. */
    craft(&e, "linux64", 1, &im);
    img_write(&im, e.bad);
    ck_assert_int_eq(image_check_file(e.bad, NULL), 0);
    img_free(&im);
    env_fini(&e);
}
END_TEST

/* check_descriptor: a 32-bit PV guest's code segment may not have the L bit; a 64-bit one's may. */
START_TEST(gdt_long_code_refused_in_32bit_guest)
{
    struct env e;
    struct img im;
    const uint64_t long_code = 0x00af9a000000ffffULL; /* P, DPL 0, code, L, G, limit 0xfffff */
    craft(&e, "pae32", 1, &im);
    gdt_frame(&im, 0)[21] = long_code;
    img_write(&im, e.bad);
    expect_refused(&e, "a 64-bit (L) code segment");
    img_free(&im);
    env_fini(&e);
    craft(&e, "linux64", 1, &im);
    gdt_frame(&im, 0)[21] = long_code;
    img_write(&im, e.bad);
    expect_restored(&e, NULL);
    img_free(&im);
    env_fini(&e);
}
END_TEST

/*
 * xen/arch/x86/domain.c, arch_set_info_guest: a 64-bit PV context with a
 * non-canonical address is refused (EINVAL) before any frame is looked at.
 */
START_TEST(vcpu_noncanonical_refused_before_pins)
{
    struct env e;
    struct img im;
    craft(&e, "linux64", 1, &im);
    xg_guest_set_word(img_vcpu(&im, 0), 648, 8, 0x0000800000000000ULL); /* user_regs.rip */
    img_write(&im, e.bad);
    expect_refused(&e, "user_regs.rip is not a canonical address");
    img_free(&im);
    env_fini(&e);
}
END_TEST

/* arch_set_info_guest: vm_assist bits outside PV64_VM_ASSIST_MASK are refused, for vcpu0 only. */
START_TEST(vcpu0_vm_assist_checked)
{
    struct env e;
    struct img im;
    const struct xg_vcpu_layout *L = xg_vcpu_layout(8);
    craft(&e, "linux64", 2, &im);
    uint8_t *ctx0 = img_vcpu(&im, 0), *ctx1 = img_vcpu(&im, 1);
    uint64_t good = xg_guest_word(ctx0, L->vm_assist, 8);
    xg_guest_set_word(ctx0, L->vm_assist, 8, good | 1ULL << 10);
    img_write(&im, e.bad);
    expect_refused(&e, "vm_assist has bits Xen does not know");
    xg_guest_set_word(ctx0, L->vm_assist, 8, good);
    xg_guest_set_word(ctx1, L->vm_assist, 8, xg_guest_word(ctx1, L->vm_assist, 8) | 1ULL << 10);
    img_write(&im, e.bad);
    expect_restored(&e, NULL);
    img_free(&im);
    env_fini(&e);
}
END_TEST

/* The simulator's XEN_DOMCTL_setvcpucontext applies arch_set_info_guest's checks first, as Xen. */
START_TEST(sim_setvcpucontext_as_strict_as_xen)
{
    struct env e;
    env_init(&e, "linux64", 8 << 20, 2);
    xg_diag *d = xg_diag_new();
    struct sim_host *h;
    ck_assert_int_eq(sim_host_open(e.src, d, &h), 0);
    ck_assert_int_eq(sim_lock(h, 0, d), 0);
    const struct xg_vcpu_layout *L = xg_vcpu_layout(8);
    uint8_t ctx[XG_VCPU_CTX64_SIZE], ctx1[XG_VCPU_CTX64_SIZE];
    memcpy(ctx, sim_domain(h, e.src_dom)->vcpu[0].ctx, sizeof(ctx));
    memcpy(ctx1, sim_domain(h, e.src_dom)->vcpu[1].ctx, sizeof(ctx1));
    /* The same frames, registers changed: a running vcpu takes it. */
    xg_guest_set_word(ctx, L->user_regs_rip, 8, 0xffffffff81000000ULL);
    ck_assert_int_eq(sim_set_vcpu(h, e.src_dom, 0, ctx, sizeof(ctx)), 0);
    xg_guest_set_word(ctx, L->user_regs_rip, 8, 0x0000800000000000ULL);
    ck_assert_int_eq(sim_set_vcpu(h, e.src_dom, 0, ctx, sizeof(ctx)), -EINVAL);
    xg_guest_set_word(ctx, L->user_regs_rip, 8, 0xffffffff81000000ULL);
    xg_guest_set_word(ctx, 5128, 8, 0x7fff800000000000ULL); /* syscall_callback_eip */
    ck_assert_int_eq(sim_set_vcpu(h, e.src_dom, 0, ctx, sizeof(ctx)), -EINVAL);
    xg_guest_set_word(ctx, 5128, 8, 0xffffffff81000100ULL);
    xg_guest_set_word(ctx, 720 + 14 * 16 + 8, 8, 0x0001000000000000ULL); /* trap_ctxt[14].address */
    ck_assert_int_eq(sim_set_vcpu(h, e.src_dom, 0, ctx, sizeof(ctx)), -EINVAL);
    xg_guest_set_word(ctx, 720 + 14 * 16 + 8, 8, 0xffffffff81000200ULL);
    xg_guest_set_word(ctx, L->vm_assist, 8, 1ULL << 33);
    ck_assert_int_eq(sim_set_vcpu(h, e.src_dom, 0, ctx, sizeof(ctx)), -EINVAL);
    xg_guest_set_word(ctx1, L->vm_assist, 8, 1ULL << 33); /* only vcpu0's is checked */
    ck_assert_int_eq(sim_set_vcpu(h, e.src_dom, 1, ctx1, sizeof(ctx1)), 0);
    xg_guest_set_word(ctx, L->vm_assist, 8, 1ULL << 32); /* m2p_strict: 64-bit guests only */
    ck_assert_int_eq(sim_set_vcpu(h, e.src_dom, 0, ctx, sizeof(ctx)), 0);
    xg_guest_set_word(ctx, 4976, 8, 0xfff0000000000000ULL); /* kernel_sp */
    ck_assert_int_eq(sim_set_vcpu(h, e.src_dom, 0, ctx, sizeof(ctx)), -EINVAL);
    xg_guest_set_word(ctx, 4976, 8, 0xffffffff81000300ULL);
    /* __addr_ok: an LDT base in Xen's range is refused even with no entries. */
    xg_guest_set_word(ctx, L->ldt_base, 8, 0xffff800000000000ULL);
    ck_assert_int_eq(sim_set_vcpu(h, e.src_dom, 0, ctx, sizeof(ctx)), -EINVAL);
    xg_guest_set_word(ctx, L->ldt_base, 8, 0);
    /*
     * The vcpu runs (is_initialised): user mode without a user cr3 is not the
     * fresh vcpu's EINVAL but a change of its tables, EOPNOTSUPP.
     */
    uint64_t flags = xg_guest_word(ctx, L->flags, 8);
    xg_guest_set_word(ctx, L->flags, 8, flags & ~(uint64_t)XG_VGCF_IN_KERNEL);
    xg_guest_set_word(ctx, L->ctrlreg + 8, 8, 0);
    ck_assert_int_eq(sim_set_vcpu(h, e.src_dom, 0, ctx, sizeof(ctx)), -EOPNOTSUPP);
    sim_unlock(h);
    sim_host_close(h);
    xg_diag_free(d);
    env_fini(&e);
}
END_TEST

/* An ordinary page of the image, all zero, and no vcpu's (a free page of the guest). */
static uint64_t zero_page(struct img *im)
{
    static const uint8_t zero[4096];
    struct xg_pv_vcpu_frames f = img_frames(im, 0);
    for (uint64_t p = im->nr; p-- > 0;) {
        bool gdt = false;
        for (unsigned g = 0; g < f.nr_gdt; g++)
            gdt = gdt || f.gdt[g] == p;
        if (!gdt && p != f.start_info && im->type[p] == XG_PFINFO_NOTAB && im->page[p] &&
            !memcmp(im->page[p], zero, sizeof(zero)))
            return p;
    }
    ck_abort_msg("no zero page in the image");
    return 0;
}

/*
 * xen/arch/x86/mm.c, define_get_linear_pagetable: a linear entry counts
 * (inc_linear_entries on its holder, inc_linear_uses on its target) only
 * when Xen validates the holder.  A stale table (no pin, no cr3 reaches
 * it) is never validated, so its read-only linear entry to a live L4 that
 * itself holds linear entries does not make that L4 fail.
 */
START_TEST(stale_linear_entry_to_live_table)
{
    struct env e;
    struct img im;
    craft(&e, "netbsd64", 1, &im);
    uint64_t a = img_frames(&im, 0).cr3;
    ck_assert(xg_pte_present(img_table(&im, a)[254])); /* a holds a linear entry to another L4 */
    uint64_t stale = zero_page(&im);
    im.type[stale] = XG_PFINFO_L4TAB;
    img_table(&im, stale)[5] = xg_pte_make(a, XG_PTE_P | XG_PTE_A);
    img_write(&im, e.bad);
    expect_restored(&e, "stale");
    img_free(&im);
    env_fini(&e);
}
END_TEST

/*
 * tools/libs/guest/xg_sr_restore_x86_pv.c, x86_pv_localise_page: a live
 * entry naming a pfn the image never sent gets a newly populated frame
 * (populate_pfns) and the restore goes on.  xg does the same, zeroed, with
 * a warning naming the entry; the restored guest is whole.
 */
START_TEST(unsent_pfn_gets_a_zeroed_frame)
{
    struct env e;
    struct img im;
    craft(&e, "linux64", 1, &im);
    uint64_t z = zero_page(&im);
    /* Some live L1 maps it (the direct map): drop its data from the image. */
    bool named = false;
    for (uint64_t p = 0; p < im.nr && !named; p++)
        if (xg_pfinfo_level(im.type[p]) == 1)
            for (unsigned s = 0; s < 512 && !named; s++)
                named = xg_pte_present(img_table(&im, p)[s]) &&
                        xg_pte_frame(img_table(&im, p)[s]) == z;
    ck_assert(named);
    im.type[z] = XG_PFINFO_XTAB;
    free(im.page[z]);
    im.page[z] = NULL;
    img_write(&im, e.bad);
    char needle[96];
    snprintf(needle, sizeof(needle), "names pfn %#llx, which the image never sent",
             (unsigned long long)z);
    uint32_t dom = expect_restored(&e, needle);
    /* The new frame is zero, as the guest's page was: the two guests are equal. */
    xg_diag *d = xg_diag_new();
    struct sim_host *ha, *hb;
    ck_assert_int_eq(sim_host_open(e.src, d, &ha), 0);
    ck_assert_int_eq(sim_host_open(e.dst, d, &hb), 0);
    int rc = sim_compare(ha, e.src_dom, hb, dom, d);
    if (rc)
        xg_diag_print(stderr, d, true);
    ck_assert_int_eq(rc, 0);
    sim_host_close(ha);
    sim_host_close(hb);
    xg_diag_free(d);
    img_free(&im);
    env_fini(&e);
}
END_TEST

/*
 * Xen's toolstack localises L1..L4 tables alike (xg_sr_restore_x86_pv.c,
 * x86_pv_localise_page) and only pins at the recorded level; the
 * hypervisor types an unpinned table by the live entry that names it
 * (mm.c, get_page_from_l2e: the level below).  So an L1 that the stream
 * records as an L4, or as an L2 (a same-level entry is a linear one only
 * to a table already validated at that level), unpinned and named by a
 * live L2, restores: Xen takes it as an L1 (found by the tier's sim-diff,
 * 112 mutants per layout).  The restore localises it as an L1 too, all 512
 * slots: the guests are equal.
 * Recorded as a pinned L4, it is pinned at that level, and the L2's entry
 * is Xen's "Bad type".
 */
START_TEST(unpinned_table_takes_its_holders_level)
{
    /* As an L4 (another level), as an L2 (its holder's own: not a linear entry), as a pinned L4. */
    static const uint32_t as[] = { XG_PFINFO_L4TAB, XG_PFINFO_L2TAB,
                                   XG_PFINFO_L4TAB | XG_PFINFO_LPINTAB };
    for (unsigned k = 0; k < 3; k++) {
        bool pinned = xg_pfinfo_pinned(as[k]);
        struct env e;
        struct img im;
        craft(&e, "linux64", 1, &im);
        unsigned slot;
        uint64_t l2 = find_entry(&im, 2, 1, &slot);
        uint64_t l1 = xg_pte_frame(img_table(&im, l2)[slot]);
        ck_assert(!xg_pfinfo_pinned(im.type[l1]));
        im.type[l1] = as[k];
        img_write(&im, e.bad);
        char needle[128];
        if (!pinned) {
            snprintf(needle, sizeof(needle), "pfn %#llx is recorded as", (unsigned long long)l1);
            uint32_t dom = expect_restored(&e, needle);
            xg_diag *d = xg_diag_new();
            struct sim_host *ha, *hb;
            ck_assert_int_eq(sim_host_open(e.src, d, &ha), 0);
            ck_assert_int_eq(sim_host_open(e.dst, d, &hb), 0);
            int rc = sim_compare(ha, e.src_dom, hb, dom, d);
            if (rc == 0)
                rc = sim_self_check(hb, dom, d);
            if (rc)
                xg_diag_print(stderr, d, true);
            ck_assert_int_eq(rc, 0);
            sim_host_close(ha);
            sim_host_close(hb);
            xg_diag_free(d);
        } else {
            snprintf(needle, sizeof(needle), "points to pfn %#llx, which is", (unsigned long long)l1);
            expect_refused(&e, needle);
        }
        img_free(&im);
        env_fini(&e);
    }
}
END_TEST

/*
 * xen/arch/x86/mm.c, get_page_type / promote_l1_table: an upper-level
 * entry to a page nobody holds a type reference on makes Xen retype it,
 * and a page whose entries are all non-present validates at any level.  So
 * a live L2 entry to a zero page the image records as ordinary restores
 * (a note).  While a live L1 maps the page writable, Xen cannot retype it
 * ("Bad type"): refused.
 */
START_TEST(ordinary_empty_page_retyped)
{
    struct env e;
    struct img im;
    craft(&e, "linux64", 1, &im);
    uint64_t z = zero_page(&im);
    unsigned slot;
    uint64_t l2 = find_entry(&im, 2, 1, &slot), free_slot = 512;
    for (unsigned s = 0; s < 512 && free_slot == 512; s++)
        if (!img_table(&im, l2)[s])
            free_slot = s;
    ck_assert_uint_lt(free_slot, 512);
    img_table(&im, l2)[free_slot] = xg_pte_make(z, XG_PTE_P | XG_PTE_RW | XG_PTE_A);
    /* A live L1 maps it writable too. */
    uint64_t l1 = find_entry(&im, 1, 0, &slot);
    img_table(&im, l1)[slot] = xg_pte_set_frame(img_table(&im, l1)[slot], z) | XG_PTE_RW;
    img_write(&im, e.bad);
    expect_refused(&e, "which is an ordinary page, not an L1 table");
    /* The direct map's writable entries to it made read-only: nothing holds a type on it now. */
    for (uint64_t p = 0; p < im.nr; p++) {
        if (xg_pfinfo_level(im.type[p]) != 1)
            continue;
        uint64_t *t = img_table(&im, p);
        for (unsigned s = 0; s < 512; s++)
            if (xg_pte_present(t[s]) && xg_pte_frame(t[s]) == z)
                t[s] &= ~(uint64_t)XG_PTE_RW;
    }
    img_write(&im, e.bad);
    expect_restored(&e, "all its entries are non-present, so Xen makes it an L1 table");
    img_free(&im);
    env_fini(&e);
}
END_TEST

/*
 * tools/libs/guest/xg_sr_restore_x86_pv.c, x86_pv_stream_complete: Xen's
 * restore sets each vcpu's context (update_vcpu_context; Xen validates the
 * tree under its cr3) before it pins (pin_pagetables).  A pinned L4 whose
 * read-only linear entry names vcpu0's unpinned cr3 L4 restores in that
 * order: it is not a cycle.  xg sets the vcpus first when the pins need it.
 */
START_TEST(cr3_validated_before_pins)
{
    struct env e;
    struct img im;
    craft(&e, "netbsd64", 1, &im);
    uint64_t a = img_frames(&im, 0).cr3;
    uint64_t b = xg_pte_frame(img_table(&im, a)[254]); /* the alternate recursive slot */
    ck_assert(b != a && xg_pfinfo_level(im.type[b]) == 4 && xg_pfinfo_pinned(im.type[b]));
    im.type[a] = XG_PFINFO_L4TAB;               /* a: only vcpu0's cr3 holds it */
    img_table(&im, a)[254] = 0;
    img_table(&im, b)[254] = xg_pte_make(a, XG_PTE_P | XG_PTE_A);
    img_write(&im, e.bad);
    expect_restored(&e, "the vcpus are set before the pins");
    img_free(&im);
    env_fini(&e);
}
END_TEST

/*
 * A pfn listed both as XTAB and with data in one PAGE_DATA record: Xen
 * 4.17's restore skips the XTAB entry (populate_pfns populates only pfns
 * with data) and writes the data.  xg gave the frame back first and then
 * copied the data to frame ~0.  The restored guest must equal the source.
 */
START_TEST(xtab_and_data_in_one_record_keeps_the_data)
{
    struct env e;
    struct img im;
    craft(&e, "linux64", 1, &im);
    uint64_t pfn = zero_page(&im);
    im.xtab_twin = true;
    im.xtab_twin_pfn = pfn;
    img_write(&im, e.bad);
    uint32_t dom = expect_restored(&e, NULL);
    xg_diag *d = xg_diag_new();
    struct sim_host *ha, *hb;
    ck_assert_int_eq(sim_host_open(e.src, d, &ha), 0);
    ck_assert_int_eq(sim_host_open(e.dst, d, &hb), 0);
    int rc = sim_compare(ha, e.src_dom, hb, dom, d);
    if (rc)
        xg_diag_print(stderr, d, true);
    ck_assert_int_eq(rc, 0);
    sim_host_close(ha);
    sim_host_close(hb);
    xg_diag_free(d);
    img_free(&im);
    env_fini(&e);
}
END_TEST

/* A free slot of the table at pfn (aborts if it has none). */
static unsigned free_slot_of(struct img *im, uint64_t pfn)
{
    for (unsigned s = 0; s < 512; s++)
        if (!img_table(im, pfn)[s])
            return s;
    ck_abort_msg("the table at pfn %#llx has no free slot", (unsigned long long)pfn);
    return 0;
}

/*
 * An ordinary empty page named by live entries of two levels (an L3's and an
 * L2's): Xen's get_page_type makes it a table of the level of whichever entry
 * it validates first and refuses the other, so the restore fails at a pin.
 * The validation accepted both (once as an L2, once as an L1): it must refuse
 * before any pin.  Named by two L2 entries, it is one L1 table: accepted.
 */
START_TEST(ordinary_empty_page_named_at_two_levels_refused)
{
    struct env e;
    struct img im;
    craft(&e, "linux64", 1, &im);
    uint64_t z = zero_page(&im);
    unsigned slot;
    uint64_t l2 = find_entry(&im, 2, 1, &slot), l3 = find_entry(&im, 3, 2, &slot);
    unsigned s2 = free_slot_of(&im, l2), s3 = free_slot_of(&im, l3);
    img_table(&im, l2)[s2] = xg_pte_make(z, XG_PTE_P | XG_PTE_RW | XG_PTE_A);
    img_table(&im, l3)[s3] = xg_pte_make(z, XG_PTE_P | XG_PTE_RW | XG_PTE_A);
    /* No live L1 maps it writable (the direct map's entries made read-only). */
    for (uint64_t p = 0; p < im.nr; p++) {
        if (xg_pfinfo_level(im.type[p]) != 1)
            continue;
        uint64_t *t = img_table(&im, p);
        for (unsigned s = 0; s < 512; s++)
            if (xg_pte_present(t[s]) && xg_pte_frame(t[s]) == z)
                t[s] &= ~(uint64_t)XG_PTE_RW;
    }
    img_write(&im, e.bad);
    expect_refused(&e, "another live entry makes an L");
    /* The L3's entry gone and a second L2 entry instead: one L1 table, named twice. */
    img_table(&im, l3)[s3] = 0;
    img_table(&im, l2)[free_slot_of(&im, l2)] = xg_pte_make(z, XG_PTE_P | XG_PTE_RW | XG_PTE_A);
    img_write(&im, e.bad);
    expect_restored(&e, "so Xen makes it an L1 table");
    img_free(&im);
    env_fini(&e);
}
END_TEST

/*
 * Xen 4.17's arch_set_info_guest, for a vcpu not yet initialised (every vcpu
 * of a restore): a 64-bit context in user mode (VGCF_in_kernel clear) with no
 * user cr3 (ctrlreg[1] 0) is EINVAL.  The validation let it through and the
 * restore failed at the vcpu, after every pin: it must be refused before any.
 * The same context in kernel mode restores.
 */
START_TEST(user_mode_vcpu_without_user_cr3_refused_before_pins)
{
    struct env e;
    struct img im;
    const struct xg_vcpu_layout *L = xg_vcpu_layout(8);
    craft(&e, "netbsd64", 1, &im);
    uint8_t *ctx = img_vcpu(&im, 0);
    uint64_t flags = xg_guest_word(ctx, L->flags, 8);
    ck_assert(flags & XG_VGCF_IN_KERNEL);
    xg_guest_set_word(ctx, L->ctrlreg + 8, 8, 0);
    xg_guest_set_word(ctx, L->flags, 8, flags & ~(uint64_t)XG_VGCF_IN_KERNEL);
    img_write(&im, e.bad);
    expect_refused(&e, "not in kernel mode (VGCF_in_kernel clear) and has no user cr3");
    xg_guest_set_word(ctx, L->flags, 8, flags);
    img_write(&im, e.bad);
    expect_restored(&e, NULL);
    img_free(&im);
    env_fini(&e);
}
END_TEST

/* An empty domain made on the destination host, as a toolstack makes it before a restore. */
static uint32_t empty_domain_max(struct env *e, unsigned vcpus, uint64_t max_pages)
{
    xg_diag *d = xg_diag_new();
    struct sim_host *h;
    uint32_t domid;
    ck_assert_int_eq(sim_host_open(e->dst, d, &h), 0);
    ck_assert_int_eq(sim_lock(h, 0, d), 0);
    ck_assert_int_eq(sim_domain_create(h, 8, vcpus, max_pages, &domid), 0);
    sim_unlock(h);
    sim_host_close(h);
    xg_diag_free(d);
    return domid;
}

static uint32_t empty_domain(struct env *e, unsigned vcpus)
{
    return empty_domain_max(e, vcpus, 4096);
}

static uint64_t domain_pages(struct env *e, uint32_t domid)
{
    xg_diag *d = xg_diag_new();
    struct sim_host *h;
    ck_assert_int_eq(sim_host_open(e->dst, d, &h), 0);
    ck_assert_int_eq(sim_lock(h, 0, d), 0);
    uint64_t n = sim_domain(h, domid)->tot_pages;
    sim_unlock(h);
    sim_host_close(h);
    xg_diag_free(d);
    return n;
}

/*
 * A frame populated for a pfn the image never sent, whose mapping then fails:
 * the domain holds it, so the restore must count it (res.pages, what it gave
 * the domain) and know its pfn, or it is lost to the restore's accounting.
 * Each map in turn fails, into a domain the toolstack made (left to it after
 * a failure): whichever fails, the count is what the domain holds.
 */
START_TEST(failed_map_leaves_every_frame_counted)
{
    struct env e;
    struct img im;
    craft(&e, "linux64", 1, &im);
    uint64_t z = zero_page(&im);
    im.type[z] = XG_PFINFO_XTAB;
    free(im.page[z]);
    im.page[z] = NULL;
    img_write(&im, e.bad);
    /* Some maps fail quietly (validation reading an ordinary page): go on past successes. */
    unsigned k, failed = 0, ok_in_a_row = 0;
    for (k = 1; k < 1000 && ok_in_a_row < 20; k++) {
        uint32_t domid = empty_domain(&e, 1);
        uint64_t before = domain_pages(&e, domid);
        char faults[32];
        snprintf(faults, sizeof(faults), "map@%u", k);
        xg_diag *d = xg_diag_new();
        struct xg_restore_params p = { .domid = domid, .store_evtchn = -1, .console_evtchn = -1 };
        struct xg_restore_result res;
        int rc = restore_file(&e, e.bad, &p, d, &res, faults);
        ck_assert_msg(rc == 0 || xgt_diag_has(d, "injected fault"), "map@%u: %s", k,
                      xg_err_name(rc));
        ok_in_a_row = rc ? 0 : ok_in_a_row + 1;
        failed += rc != 0;
        ck_assert_msg(res.pages == domain_pages(&e, domid) - before,
                      "map@%u: the restore counts %llu pages, the domain holds %llu more", k,
                      (unsigned long long)res.pages,
                      (unsigned long long)(domain_pages(&e, domid) - before));
        xg_diag_free(d);
        d = xg_diag_new();
        struct sim_host *h;
        ck_assert_int_eq(sim_host_open(e.dst, d, &h), 0);
        ck_assert_int_eq(sim_lock(h, 0, d), 0);
        ck_assert_int_eq(sim_domain_destroy(h, domid), 0);
        sim_unlock(h);
        sim_host_close(h);
        xg_diag_free(d);
    }
    ck_assert_uint_gt(failed, 3);
    img_free(&im);
    env_fini(&e);
}
END_TEST

/*
 * A domain whose max_pages is short of the image: populate_physmap stops
 * part-way through a record's batch, and the frames it gave before it
 * stopped are the domain's (Xen keeps the extents done).  The restore
 * fails naming the pfn, and counts every frame the domain holds.
 */
START_TEST(short_max_pages_counts_the_frames_given)
{
    struct env e;
    struct img im;
    craft(&e, "linux64", 1, &im);
    img_write(&im, e.bad);
    uint64_t max = im.nr - 300;
    ck_assert_uint_gt(max % XG_MAX_BATCH, 0); /* stops inside a batch, not at its end */
    uint32_t domid = empty_domain_max(&e, 1, max);
    xg_diag *d = xg_diag_new();
    struct xg_restore_params p = { .domid = domid, .store_evtchn = -1, .console_evtchn = -1 };
    struct xg_restore_result res;
    int rc = restore_file(&e, e.bad, &p, d, &res, NULL);
    ck_assert_int_ne(rc, 0);
    ck_assert(xgt_diag_has(d, "populate_physmap stopped at pfn"));
    ck_assert_uint_eq(domain_pages(&e, domid), max);
    ck_assert_uint_eq(res.pages, max);
    xg_diag_free(d);
    img_free(&im);
    env_fini(&e);
}
END_TEST

static void log_append(void *arg, const char *line)
{
    struct xgt_buf *b = arg;
    xgt_buf_put(b, line, strlen(line));
    xgt_buf_put(b, "\n", 1);
}

/*
 * An image whose pins need a table only vcpu0's cr3 validates: the vcpus are
 * set before the pins.  When a pin then fails, the pins are undone but vcpu0's
 * context still holds references to its tables: the log must not say the
 * domain (the toolstack's, left to it) "holds nothing pinned and can be
 * destroyed" as if it were clean.
 */
START_TEST(failed_pin_after_vcpus_says_what_they_hold)
{
    struct env e;
    struct img im;
    craft(&e, "netbsd64", 1, &im);
    uint64_t a = img_frames(&im, 0).cr3;
    uint64_t b = xg_pte_frame(img_table(&im, a)[254]);
    im.type[a] = XG_PFINFO_L4TAB; /* as cr3_validated_before_pins: only cr3 validates a */
    img_table(&im, a)[254] = 0;
    img_table(&im, b)[254] = xg_pte_make(a, XG_PTE_P | XG_PTE_A);
    img_write(&im, e.bad);
    uint32_t domid = empty_domain(&e, 1);
    xg_hv *hv = xgt_open_sim(e.dst);
    xg_diag *d = xg_diag_new();
    ck_assert_int_eq(xg_hv_set_faults(hv, "pin@1", d), 0);
    struct xgt_buf log;
    xgt_buf_init(&log);
    struct xg_restore_callbacks cb = { .log = log_append, .arg = &log };
    struct xg_restore_params p = { .domid = domid, .store_evtchn = -1, .console_evtchn = -1 };
    int fd = open(e.bad, O_RDONLY);
    ck_assert_int_ge(fd, 0);
    int rc = xg_restore(hv, fd, &p, &cb, NULL, d);
    close(fd);
    xg_hv_close(hv);
    ck_assert_int_eq(rc, XG_E_HV);
    xgt_buf_put(&log, "", 1);
    const char *text = (const char *)log.data;
    ck_assert_msg(strstr(text, "the vcpus are set before the pins") ||
                      xgt_diag_has(d, "the vcpus are set before the pins"),
                  "vcpus not first:\n%s", text);
    ck_assert_msg(!strstr(text, "can be destroyed"), "log:\n%s", text);
    ck_assert_msg(strstr(text, "1 vcpu contexts set hold references to their page tables"),
                  "log:\n%s", text);
    xgt_buf_free(&log);
    xg_diag_free(d);
    img_free(&im);
    env_fini(&e);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("restore");
    struct {
        const char *name;
        const TTest *t;
    } cases[] = {
        { "round_trip_linux64", round_trip_linux64 },
        { "round_trip_pae32", round_trip_pae32 },
        { "round_trip_netbsd64", round_trip_netbsd64 },
        { "bad_writable_pagetable", bad_writable_pagetable },
        { "bad_cr3_not_a_table", bad_cr3_not_a_table },
        { "bad_pfn_not_in_image", bad_pfn_not_in_image },
        { "bad_level_off_by_one", bad_level_off_by_one },
        { "bad_superpage", bad_superpage },
        { "bad_writable_linear", bad_writable_linear },
        { "bad_linear_cycle", bad_linear_cycle },
        { "bad_missing_p2m_frame", bad_missing_p2m_frame },
        { "bad_missing_gdt_frame", bad_missing_gdt_frame },
        { "bad_start_info_typed_as_table", bad_start_info_typed_as_table },
        { "bad_pae_shared_slot3", bad_pae_shared_slot3 },
        { "stale_table_is_a_warning", stale_table_is_a_warning },
        { "netbsd_needs_dependency_order", netbsd_needs_dependency_order },
        { "refused_pin_unpins_everything", refused_pin_unpins_everything },
        { "refused_vcpu_unpins_everything", refused_vcpu_unpins_everything },
        { "truncated_at_every_record_boundary", truncated_at_every_record_boundary },
        { "xen417_image_restores", xen417_image_restores },
        { "xen417_image_truncated", xen417_image_truncated },
        { "xen417_image_saves_back_the_same", xen417_image_saves_back_the_same },
        { "gdt_tss_refused_before_pins", gdt_tss_refused_before_pins },
        { "gdt_long_code_refused_in_32bit_guest", gdt_long_code_refused_in_32bit_guest },
        { "gdt_checked_offline", gdt_checked_offline },
        { "vcpu_noncanonical_refused_before_pins", vcpu_noncanonical_refused_before_pins },
        { "vcpu0_vm_assist_checked", vcpu0_vm_assist_checked },
        { "sim_setvcpucontext_as_strict_as_xen", sim_setvcpucontext_as_strict_as_xen },
        { "stale_linear_entry_to_live_table", stale_linear_entry_to_live_table },
        { "unsent_pfn_gets_a_zeroed_frame", unsent_pfn_gets_a_zeroed_frame },
        { "ordinary_empty_page_retyped", ordinary_empty_page_retyped },
        { "cr3_validated_before_pins", cr3_validated_before_pins },
        { "xtab_and_data_in_one_record_keeps_the_data",
          xtab_and_data_in_one_record_keeps_the_data },
        { "ordinary_empty_page_named_at_two_levels_refused",
          ordinary_empty_page_named_at_two_levels_refused },
        { "user_mode_vcpu_without_user_cr3_refused_before_pins",
          user_mode_vcpu_without_user_cr3_refused_before_pins },
        { "failed_map_leaves_every_frame_counted", failed_map_leaves_every_frame_counted },
        { "unpinned_table_takes_its_holders_level", unpinned_table_takes_its_holders_level },
        { "short_max_pages_counts_the_frames_given", short_max_pages_counts_the_frames_given },
        { "failed_pin_after_vcpus_says_what_they_hold",
          failed_pin_after_vcpus_says_what_they_hold },
    };
    /* Under valgrind (make check-valgrind) the two 130 MB passes over the real image take minutes: skip them. */
    bool valgrind = getenv("XGT_VALGRIND") != NULL;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        if (valgrind && (cases[i].t == xen417_image_truncated || cases[i].t == xen417_image_saves_back_the_same))
            continue;
        TCase *tc = tcase_create(cases[i].name);
        tcase_set_timeout(tc, 120);
        tcase_add_test(tc, cases[i].t);
        suite_add_tcase(s, tc);
    }
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
