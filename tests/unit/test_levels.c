/*
 * test_levels.c - pv/levels.c: what reads as a page table and how, the
 * paging verdict of a 32-bit image from each piece of evidence alone and
 * in conflict, and the 2008 pattern with its confidence.  Images here are
 * views built in memory; tests/stream/two-level.sh runs whole images.
 */
#include "config.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "pv/pv.h"
#include "testutil.h"
#include "xg/restore.h"
#include "xg/xg.h"

#define NR 4096U

/* A small 32-bit image: types, page contents, one vcpu. */
struct img {
    uint32_t types[NR];
    uint8_t *page[NR];
    bool present[1];
    struct xg_pv_vcpu_frames vcpu[1];
    struct xg_pv_image_view v;
};

static const uint64_t *img_table(void *arg, uint64_t pfn)
{
    struct img *m = arg;
    return (const uint64_t *)m->page[pfn];
}

static const uint8_t *img_kept(void *arg, uint64_t pfn)
{
    struct img *m = arg;
    return m->page[pfn];
}

static struct img *img_new(void)
{
    struct img *m = calloc(1, sizeof(*m));
    m->present[0] = true;
    m->vcpu[0].cr3 = 100;
    m->vcpu[0].start_info = 200;
    m->v = (struct xg_pv_image_view){
        .width = 4,
        .levels = 3,
        .nr_pfns = NR,
        .types = m->types,
        .table = img_table,
        .kept = img_kept,
        .arg = m,
        .nr_vcpus = 1,
        .vcpu_present = m->present,
        .vcpu = m->vcpu,
    };
    return m;
}

static uint8_t *img_page(struct img *m, uint64_t pfn, uint32_t type)
{
    m->types[pfn] = type;
    if (!m->page[pfn])
        m->page[pfn] = calloc(1, 4096);
    return m->page[pfn];
}

static void img_free(struct img *m)
{
    for (unsigned p = 0; p < NR; p++)
        free(m->page[p]);
    free(m);
}

/* A 2-level L2: user slots 32/33 to two L1s, recursive 767, kernel 768; 1008-1023 empty. */
static void put_2level_l2(struct img *m, uint64_t pfn, uint32_t type)
{
    uint8_t *t = img_page(m, pfn, type);
    xg__put_le32(t + 4 * 32, 300 << 12 | 0x067);
    xg__put_le32(t + 4 * 33, 301 << 12 | 0x067);
    xg__put_le32(t + 4 * 767, (uint32_t)pfn << 12 | 0x021);
    xg__put_le32(t + 4 * 768, 302 << 12 | 0x063);
}

/* A PAE L2: 64-bit entries, one with NX. */
static void put_pae_table(struct img *m, uint64_t pfn, uint32_t type)
{
    uint8_t *t = img_page(m, pfn, type);
    xg__put_le64(t + 8 * 0, 300ULL << 12 | 0x067);
    xg__put_le64(t + 8 * 1, 301ULL << 12 | 0x067 | XG_PTE_NX);
    xg__put_le64(t + 8 * 5, 302ULL << 12 | 0x063);
}

START_TEST(test_table_like)
{
    uint8_t page[4096];
    memset(page, 0, sizeof(page));
    ck_assert_uint_eq(xg_pv_table_like(page, NR, true), 0); /* nothing present */
    for (unsigned i = 0; i < 16; i++) {
        xgt_fill_page(page, i, 7); /* random data is never a table */
        ck_assert_uint_eq(xg_pv_table_like(page, NR, true), 0);
    }
    /* Small odd numbers (counters): present, but all frame 0. */
    memset(page, 0, sizeof(page));
    for (unsigned i = 0; i < 100; i++)
        xg__put_le32(page + 4 * i, 2 * i + 1);
    ck_assert_uint_eq(xg_pv_table_like(page, NR, true), 0);

    /* A mostly-zero data page with a signature: odd small words read as two present entries
     * of 64 bits, but its first word is a non-present non-zero entry, which no upper-level
     * table holds: strict refuses it. */
    memset(page, 0, sizeof(page));
    xg__put_le64(page, 0x4741505347584758ULL);
    xg__put_le64(page + 8, 0x1001);
    xg__put_le64(page + 16, 5);
    ck_assert_uint_eq(xg_pv_table_like(page, NR, false), XG_PV_READS_64);
    ck_assert_uint_eq(xg_pv_table_like(page, NR, true), 0);

    struct img *m = img_new();
    put_2level_l2(m, 100, XG_PFINFO_L2TAB);
    ck_assert_uint_eq(xg_pv_table_like(m->page[100], NR, true), XG_PV_READS_32 | XG_PV_ODD_SLOTS);
    /* Frames beyond the p2m: not a table of this guest. */
    ck_assert_uint_eq(xg_pv_table_like(m->page[100], 200, false), 0);
    put_pae_table(m, 101, XG_PFINFO_L2TAB);
    ck_assert_uint_eq(xg_pv_table_like(m->page[101], NR, false), XG_PV_READS_32 | XG_PV_READS_64);
    /* Strict: the NX half (0x80000000) is a non-present non-zero 32-bit entry. */
    ck_assert_uint_eq(xg_pv_table_like(m->page[101], NR, true), XG_PV_READS_64);
    /* A forbidden flag (PSE) in one entry. */
    xg__put_le64(m->page[101] + 8 * 7, 303ULL << 12 | 0x0e3);
    ck_assert_uint_eq(xg_pv_table_like(m->page[101], NR, false), 0);
    img_free(m);
}
END_TEST

static void decide(struct img *m, struct xg_paging_evidence *ev)
{
    xg_pv_paging_decide(&m->v, ev);
}

START_TEST(test_paging_evidence)
{
    struct xg_paging_evidence ev;
    /* No evidence: nothing decided. */
    struct img *m = img_new();
    decide(m, &ev);
    ck_assert_int_eq(ev.verdict, XG_PAGING_NONE);

    /* cr3 an L2 with 2-level contents: 2-level, both pieces named. */
    put_2level_l2(m, 100, XG_PFINFO_L2TAB | XG_PFINFO_LPINTAB);
    decide(m, &ev);
    ck_assert_int_eq(ev.verdict, XG_PAGING_2LEVEL);
    ck_assert_uint_eq(ev.cr3_l2, 1);
    ck_assert_uint_eq(ev.fit_2level, 1);
    ck_assert_ptr_nonnull(strstr(ev.why, "cr3 (pfn 0x64) is an L2"));
    ck_assert_ptr_nonnull(strstr(ev.why, "1024 32-bit entries"));

    /* The start info's magic alone (every table lost). */
    img_free(m);
    m = img_new();
    strcpy((char *)img_page(m, 200, XG_PFINFO_NOTAB), "xen-3.0-x86_32");
    decide(m, &ev);
    ck_assert_int_eq(ev.verdict, XG_PAGING_2LEVEL);
    ck_assert_uint_eq(ev.magic_levels, 2);
    strcpy((char *)m->page[200], "xen-3.0-x86_32p");
    decide(m, &ev);
    ck_assert_int_eq(ev.verdict, XG_PAGING_PAE);
    ck_assert_uint_eq(ev.magic_levels, 3);

    /* A PAE image: cr3 an L3, PAE tables (they read either way): PAE, no 2-level vote. */
    img_page(m, 100, XG_PFINFO_L3TAB | XG_PFINFO_LPINTAB);
    xg__put_le64(m->page[100] + 8 * 3, 101ULL << 12 | 0x001);
    put_pae_table(m, 101, XG_PFINFO_L2TAB);
    decide(m, &ev);
    ck_assert_int_eq(ev.verdict, XG_PAGING_PAE);
    ck_assert_uint_eq(ev.fit_2level, 0);
    ck_assert_uint_eq(ev.fit_either, 1);

    /* Conflict: magic says PAE, an L3 exists, but a typed L2 holds 2-level contents. */
    put_2level_l2(m, 102, XG_PFINFO_L2TAB);
    decide(m, &ev);
    ck_assert_int_eq(ev.verdict, XG_PAGING_CONFLICT);
    ck_assert_ptr_nonnull(strstr(ev.why, "2-level: 1 of its tables hold 1024 32-bit entries"));
    ck_assert_ptr_nonnull(strstr(ev.why, "but PAE:"));
    xg_diag *d = xg_diag_new();
    uint64_t by_level[5] = { 0 };
    ck_assert_int_eq(xg_pv_paging_findings(&m->v, &ev, by_level, d), 0);
    ck_assert_uint_eq(xg_diag_total(d, XG_SEV_WARNING), 1);
    xg_diag_free(d);

    /* A 64-bit guest: never decided. */
    m->v.width = 8;
    decide(m, &ev);
    ck_assert_int_eq(ev.verdict, XG_PAGING_NONE);
    img_free(m);
}
END_TEST

START_TEST(test_lost_tables)
{
    struct xg_lost_tables lt;
    xg_diag *d = xg_diag_new();
    /* cr3 a table: nothing lost. */
    struct img *m = img_new();
    put_2level_l2(m, 100, XG_PFINFO_L2TAB | XG_PFINFO_LPINTAB);
    xg_pv_lost_tables(&m->v, 2, &lt, d);
    ck_assert_int_eq(lt.confidence, XG_CONF_NONE);
    ck_assert_uint_eq(xg_diag_count(d), 0);

    /* cr3 and the L1s it reaches recorded as ordinary pages, contents intact: high. */
    m->types[100] = XG_PFINFO_NOTAB;
    for (unsigned p = 300; p <= 302; p++) {
        uint8_t *t = img_page(m, p, XG_PFINFO_NOTAB);
        for (unsigned s = 0; s < 8; s++)
            xg__put_le32(t + 4 * s, (500 + s) << 12 | 0x067);
    }
    xg_pv_lost_tables(&m->v, 2, &lt, d);
    ck_assert_int_eq(lt.confidence, XG_CONF_HIGH);
    ck_assert_uint_eq(lt.untyped_tables, 4);
    ck_assert_uint_eq(xg_diag_total(d, XG_SEV_WARNING), 1);
    ck_assert_ptr_nonnull(strstr(xg_diag_get(d, 0)->msg, "could not map the guest's page tables"));
    ck_assert_ptr_nonnull(strstr(xg_diag_get(d, 0)->hint, "privcmd"));

    /* Xen's slots not empty: the cr3 page is not taken for a table. */
    xg__put_le32(m->page[100] + 4 * 1010, 303 << 12 | 0x063);
    xg_pv_lost_tables(&m->v, 2, &lt, d);
    ck_assert_uint_eq(lt.untyped_tables, 0);
    ck_assert_int_eq(lt.confidence, XG_CONF_MEDIUM); /* still: no table at all in the image */

    /* cr3 never sent, other tables present: low. */
    m->types[100] = XG_PFINFO_XTAB;
    img_page(m, 400, XG_PFINFO_L1TAB);
    xg_pv_lost_tables(&m->v, 2, &lt, d);
    ck_assert_int_eq(lt.confidence, XG_CONF_LOW);

    /* ... with the old saver's XTAB | mfn entries: high, and Xen 3.x's words for the log line. */
    m->v.unmappable = 43;
    m->v.legacy_bits = 32;
    xg_pv_lost_tables(&m->v, 2, &lt, d);
    ck_assert_int_eq(lt.confidence, XG_CONF_HIGH);
    ck_assert_ptr_nonnull(strstr(lt.xen_says, "saw 58000001 != exp e0000000"));
    img_free(m);
    xg_diag_free(d);
}
END_TEST

/* cr3 intact, some frames written as XTAB | mfn: named through the p2m, tables counted. */
START_TEST(test_lost_some)
{
    struct img *m = img_new();
    put_2level_l2(m, 100, XG_PFINFO_L2TAB | XG_PFINFO_LPINTAB); /* points to 300, 301, 302 */
    uint8_t *p2m = img_page(m, 50, XG_PFINFO_NOTAB);            /* pfns 0-1023: mfn 0x10000 + pfn */
    for (unsigned pfn = 0; pfn < 1024; pfn++)
        xg__put_le32(p2m + 4 * pfn, 0x10000 + pfn);
    static const uint64_t p2m_pfns[4] = { 50, 51, 52, 53 };
    static const uint32_t lost[2] = { 0x10000 + 301, 0x10000 + 900 }; /* an L1, and a data page */
    m->v.p2m_pfns = p2m_pfns;
    m->v.nr_p2m = 4;
    m->v.unmappable = 2;
    m->v.unmappable_mfns = lost;
    m->v.nr_unmappable_mfns = 2;
    m->v.legacy_bits = 32;
    struct xg_lost_tables lt;
    xg_diag *d = xg_diag_new();
    xg_pv_lost_tables(&m->v, 2, &lt, d);
    ck_assert_int_eq(lt.confidence, XG_CONF_HIGH);
    ck_assert_uint_eq(lt.vcpus, 0);
    ck_assert_uint_eq(lt.named, 2);
    ck_assert_uint_eq(lt.untyped_tables, 1); /* only pfn 301 is one of the L2's */
    ck_assert_ptr_nonnull(strstr(lt.why, "pfns 0x12d, 0x384"));
    ck_assert_str_eq(lt.xen_says,
                     "Bad type (saw 28000001 != exp e0000000) for mfn 1012d (pfn 12d)");
    ck_assert_uint_eq(xg_diag_total(d, XG_SEV_WARNING), 1);
    xg_diag_free(d);
    img_free(m);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("levels");
    TCase *tc = tcase_create("levels");
    tcase_add_test(tc, test_table_like);
    tcase_add_test(tc, test_paging_evidence);
    tcase_add_test(tc, test_lost_tables);
    tcase_add_test(tc, test_lost_some);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(suite());
    srunner_run_all(sr, CK_ENV);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
