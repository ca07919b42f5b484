/*
 * test_stream.c - the libxc migration stream v2 codec (libxg/stream).
 *
 * One TCase per behaviour: round trips of every record type (raw, gzip,
 * pipe), the xl and libxl wrappers, every malformed case with its own
 * error code and location, truncation everywhere, order rules, bounded
 * memory on lying lengths, the writer's refusals, and the real image
 * that Xen 4.17's `xl save` wrote (tests/data).
 *
 * Runs under valgrind (tests/unit/valgrind.sh, `make check-valgrind`) and
 * in sanitizer builds; the RLIMIT_AS child is skipped there, the
 * allocation bound is checked in every build.
 */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#if defined(__has_include)
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#define XGT_ON_VALGRIND() RUNNING_ON_VALGRIND
#endif
#endif
#ifndef XGT_ON_VALGRIND
#define XGT_ON_VALGRIND() 0
#endif

#include "stream/stream_private.h"
#include "testutil.h"
#include "xg/xg.h"

#ifndef XG_TEST_SRCDIR
#define XG_TEST_SRCDIR "."
#endif

#define MiB (1024U * 1024U)
#define VCPU64 5168U
#define VCPU32 2800U

/* ------------------------------------------------------------ allocation tracking
 *
 * The test program is linked with -Wl,--wrap=malloc,--wrap=realloc,
 * --wrap=calloc, so every allocation libxg makes passes here.  While
 * tracking is on, the largest single request is kept: a header that lies
 * about its length must not make the reader ask for that much.
 */
void *__real_malloc(size_t n);
void *__real_realloc(void *p, size_t n);
void *__real_calloc(size_t n, size_t m);
void *__wrap_malloc(size_t n);
void *__wrap_realloc(void *p, size_t n);
void *__wrap_calloc(size_t n, size_t m);

static volatile int alloc_tracking;
static volatile size_t alloc_largest;

static void track(size_t n)
{
    if (alloc_tracking && n > alloc_largest)
        alloc_largest = n;
}

void *__wrap_malloc(size_t n)
{
    track(n);
    return __real_malloc(n);
}

void *__wrap_realloc(void *p, size_t n)
{
    track(n);
    return __real_realloc(p, n);
}

void *__wrap_calloc(size_t n, size_t m)
{
    track(n * m);
    return __real_calloc(n, m);
}

static void track_start(void)
{
    alloc_largest = 0;
    alloc_tracking = 1;
}

static size_t track_stop(void)
{
    alloc_tracking = 0;
    return alloc_largest;
}

/* ------------------------------------------------------------ helpers */

static bool under_sanitizer(void)
{
#if defined(__SANITIZE_ADDRESS__)
    return true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
    return true;
#else
    return false;
#endif
#else
    return false;
#endif
}

static bool under_valgrind(void)
{
    return XGT_ON_VALGRIND() || getenv("XGT_VALGRIND") != NULL;
}

/*
 * Read a whole stream that must fail with `code`, with a message, and
 * return the location of the first error.
 */
static struct xg_loc expect_bad_at(const char *file, int line, const void *p, size_t len,
                                   const struct xg_stream_reader_opts *o, int code)
{
    struct xgt_rd t;
    xgt_rd_open(&t, p, len, o);
    int rc = xgt_rd_drain(&t, NULL, NULL);
    const struct xg_finding *f = xg_diag_first_error(t.d);
    bool ok = rc == code && f && f->code == code && f->msg && f->msg[0];
    if (!ok) {
        fprintf(stderr, "%s:%d: expected %s, got %s; diagnostics:\n", file, line, xg_err_name(code), xg_err_name(rc));
        xg_diag_print(stderr, t.d, true);
    }
    struct xg_loc loc = f ? f->loc : (struct xg_loc){ 0 };
    xgt_rd_close(&t);
    ck_assert_msg(ok, "%s:%d: expected %s, got %s", file, line, xg_err_name(code), xg_err_name(rc));
    return loc;
}
#define EXPECT_BAD(b, code) expect_bad_at(__FILE__, __LINE__, (b)->data, (b)->len, NULL, (code))
#define EXPECT_BAD_OPTS(b, o, code) expect_bad_at(__FILE__, __LINE__, (b)->data, (b)->len, (o), (code))

/* The finding names record idx whose header is at offset off. */
#define ASSERT_REC_LOC(loc, idx, off)                                                            \
    do {                                                                                          \
        struct xg_loc l_ = (loc);                                                                 \
        ck_assert_msg(l_.has_rec_index, "diagnostic has no record index");                        \
        ck_assert_uint_eq(l_.rec_index, (idx));                                                   \
        ck_assert_msg(l_.has_offset, "diagnostic has no offset");                                 \
        ck_assert_uint_eq(l_.offset, (off));                                                      \
    } while (0)
#define ASSERT_OFF(loc, off)                                                                      \
    do {                                                                                          \
        struct xg_loc l_ = (loc);                                                                 \
        ck_assert_msg(l_.has_offset, "diagnostic has no offset");                                 \
        ck_assert_uint_eq(l_.offset, (off));                                                      \
    } while (0)

static void read_ok(struct xgt_rd *t, struct xg_record *rec, uint32_t type)
{
    int rc = xg_stream_read(t->r, rec);
    if (rc < 0)
        xg_diag_print(stderr, t->d, true);
    ck_assert_msg(rc == 0, "reading a %s record: %s", xg_stream_rec_name(type), xg_err_name(rc));
    ck_assert_msg(rec->type == type, "record %llu is %s (%#x), expected %s", (unsigned long long)rec->index,
                  xg_stream_rec_name(rec->type), rec->type, xg_stream_rec_name(type));
}

/* A v3 PV stream's start: headers, X86_PV_INFO (8, 4), STATIC_DATA_END (records 0, 1; 64 bytes). */
static void pv_start(struct xgt_buf *b)
{
    xgt_buf_init(b);
    xgt_put_headers(b, 3, XG_DOMAIN_X86_PV);
    xgt_put_pv_static(b, 8);
}
#define PV_START_LEN 64U
#define PV_START_RECS 2U

/* ------------------------------------------------------------ round trip of every record type */

struct rt_opts {
    unsigned width;
};

#define RT_NR_PAGES 14
static const uint64_t rt_pfns[RT_NR_PAGES] = { 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 0x12345, XG_PD_PFN_MASK };
static const uint32_t rt_types[RT_NR_PAGES] = {
    XG_PFINFO_NOTAB, XG_PFINFO_L1TAB, XG_PFINFO_L2TAB, XG_PFINFO_L3TAB, XG_PFINFO_L4TAB,
    XG_PFINFO_L1TAB | XG_PFINFO_LPINTAB, XG_PFINFO_L2TAB | XG_PFINFO_LPINTAB,
    XG_PFINFO_L3TAB | XG_PFINFO_LPINTAB, XG_PFINFO_L4TAB | XG_PFINFO_LPINTAB,
    XG_PFINFO_BROKEN, XG_PFINFO_XALLOC, XG_PFINFO_XTAB, XG_PFINFO_NOTAB, XG_PFINFO_NOTAB,
};
#define RT_NR_DATA 11U

static const uint32_t rt_cpuid[2][6] = {
    { 0x0, 0, 0xd, 0x756e6547, 0x6c65746e, 0x49656e69 },
    { 0x7, 0, 0, 0x009c6fbb, 0, 0 },
};
static const struct xg_msr_entry rt_msr[2] = { { 0xce, 0, 0x80000000ULL }, { 0x10a, 0, 0x1 } };
static const uint64_t rt_dirty[3] = { 0x10, 0x11, 0xfffff };
static const char rt_opt[13] = "opaque record";
#define RT_OPT_TYPE (XG_REC_OPTIONAL | 0xabcU)

static int rt_write_pv(xg_stream_writer *w, void *arg)
{
    const struct rt_opts *o = arg;
    unsigned width = o->width;
    int rc = xg_stream_write_headers(w, XG_DOMAIN_X86_PV, 4, 17);
#define W(call)          \
    do {                 \
        if (rc == 0)     \
            rc = (call); \
    } while (0)
    W(xg_stream_write_pv_info(w, (uint8_t)width, width == 8 ? 4 : 3));
    W(xg_stream_write_record(w, XG_REC_X86_CPUID_POLICY, rt_cpuid, sizeof(rt_cpuid)));
    W(xg_stream_write_record(w, XG_REC_X86_MSR_POLICY, rt_msr, sizeof(rt_msr)));
    W(xg_stream_write_record(w, XG_REC_STATIC_DATA_END, NULL, 0));
    /* pfns 0..2047: 4 frames of a 64-bit p2m, 2 of a 32-bit one. */
    uint64_t frames[4] = { 0x900, 0x901, 0x902, 0x903 };
    W(xg_stream_write_p2m_frames(w, 0, 2047, frames, width == 8 ? 4 : 2));

    static uint8_t pages[RT_NR_DATA][4096];
    const void *ptrs[RT_NR_DATA];
    uint64_t entries[RT_NR_PAGES];
    unsigned nd = 0;
    for (unsigned i = 0; i < RT_NR_PAGES; i++) {
        entries[i] = xg_pd_entry(rt_pfns[i], rt_types[i]);
        if (xg_pfinfo_has_data(rt_types[i])) {
            xgt_fill_page(pages[nd], rt_pfns[i], 7);
            ptrs[nd] = pages[nd];
            nd++;
        }
    }
    W(xg_stream_write_page_data(w, RT_NR_PAGES, entries, ptrs));
    W(xg_stream_write_record(w, XG_REC_VERIFY, NULL, 0));
    uint64_t xtab = xg_pd_entry(0x42, XG_PFINFO_XTAB);
    W(xg_stream_write_page_data(w, 1, &xtab, NULL));

    struct xg_rec_tsc_info tsc = { .mode = 2, .khz = 2399999, .nsec = 0x123456789abcULL, .incarnation = 5 };
    W(xg_stream_write_tsc_info(w, &tsc));
    static uint8_t shinfo[4096];
    xgt_fill(shinfo, sizeof(shinfo), 0x51);
    W(xg_stream_write_record(w, XG_REC_SHARED_INFO, shinfo, sizeof(shinfo)));
    static uint8_t ctx[VCPU64], ext[64], xsave[832];
    uint32_t basic = width == 8 ? VCPU64 : VCPU32;
    xgt_fill(ctx, basic, 0xba);
    xgt_fill(ext, sizeof(ext), 0xe7);
    xgt_fill(xsave, sizeof(xsave), 0x5a);
    W(xg_stream_write_vcpu(w, XG_REC_X86_PV_VCPU_BASIC, 0, ctx, basic));
    W(xg_stream_write_vcpu(w, XG_REC_X86_PV_VCPU_EXTENDED, 0, ext, sizeof(ext)));
    W(xg_stream_write_vcpu(w, XG_REC_X86_PV_VCPU_XSAVE, 0, xsave, sizeof(xsave)));
    W(xg_stream_write_vcpu(w, XG_REC_X86_PV_VCPU_MSRS, 0, rt_msr, sizeof(rt_msr)));
    /* Zero-content vcpu records, as Xen 4.6-4.8 wrote them (spec errata). */
    W(xg_stream_write_vcpu(w, XG_REC_X86_PV_VCPU_EXTENDED, 1, NULL, 0));
    W(xg_stream_write_vcpu(w, XG_REC_X86_PV_VCPU_XSAVE, 1, NULL, 0));
    W(xg_stream_write_vcpu(w, XG_REC_X86_PV_VCPU_MSRS, 1, NULL, 0));
    W(xg_stream_write_record(w, XG_REC_CHECKPOINT, NULL, 0));
    W(xg_stream_write_record(w, XG_REC_CHECKPOINT_DIRTY_PFN_LIST, rt_dirty, sizeof(rt_dirty)));
    W(xg_stream_write_record(w, RT_OPT_TYPE, rt_opt, sizeof(rt_opt)));
    W(xg_stream_write_end(w));
    return rc;
}

static void rt_check_pv(struct xgt_rd *t, unsigned width, bool gzip)
{
    struct xg_record rec;
    ck_assert_int_eq(t->open_rc, 0);
    const struct xg_stream_info *info = xg_stream_reader_info(t->r);
    ck_assert(info->gzip == gzip);
    ck_assert_int_eq(info->wrapper, XG_WRAP_NONE);
    ck_assert_uint_eq(info->version, 3);
    ck_assert_uint_eq(info->domain_type, XG_DOMAIN_X86_PV);
    ck_assert_uint_eq(info->page_shift, 12);
    ck_assert_uint_eq(info->xen_major, 4);
    ck_assert_uint_eq(info->xen_minor, 17);
    ck_assert_uint_eq(info->libxc_offset, 0);

    uint64_t off = 40, index = 0;
#define NEXT(type)                                          \
    do {                                                    \
        read_ok(t, &rec, (type));                           \
        ck_assert_uint_eq(rec.index, index);                \
        ck_assert_uint_eq(rec.offset, off);                 \
        index++;                                            \
        off += 8 + (rec.length + 7) / 8 * 8;                \
    } while (0)

    NEXT(XG_REC_X86_PV_INFO);
    ck_assert_uint_eq(rec.length, 8);
    ck_assert_uint_eq(rec.u.pv_info.guest_width, width);
    ck_assert_uint_eq(rec.u.pv_info.pt_levels, width == 8 ? 4 : 3);
    ck_assert_uint_eq(xg_stream_reader_guest_width(t->r), width);

    NEXT(XG_REC_X86_CPUID_POLICY);
    ck_assert_uint_eq(rec.u.cpuid.nr, 2);
    ck_assert_uint_eq(rec.u.cpuid.leaf[1].leaf, 7);
    ck_assert_uint_eq(rec.u.cpuid.leaf[1].b, 0x009c6fbb);
    ck_assert_mem_eq(rec.u.cpuid.leaf, rt_cpuid, sizeof(rt_cpuid));

    NEXT(XG_REC_X86_MSR_POLICY);
    ck_assert_uint_eq(rec.u.msr.nr, 2);
    ck_assert_uint_eq(rec.u.msr.entry[0].idx, 0xce);
    ck_assert_uint_eq(rec.u.msr.entry[0].val, 0x80000000ULL);
    ck_assert_mem_eq(rec.u.msr.entry, rt_msr, sizeof(rt_msr));

    NEXT(XG_REC_STATIC_DATA_END);
    ck_assert_uint_eq(rec.length, 0);

    NEXT(XG_REC_X86_PV_P2M_FRAMES);
    ck_assert_uint_eq(rec.u.p2m_frames.start_pfn, 0);
    ck_assert_uint_eq(rec.u.p2m_frames.end_pfn, 2047);
    ck_assert_uint_eq(rec.u.p2m_frames.nr, width == 8 ? 4 : 2);
    ck_assert_uint_eq(rec.u.p2m_frames.pfn[1], 0x901);

    NEXT(XG_REC_PAGE_DATA);
    const struct xg_rec_page_data *pd = &rec.u.page_data;
    ck_assert_uint_eq(pd->count, RT_NR_PAGES);
    ck_assert_uint_eq(pd->nr_data, RT_NR_DATA);
    ck_assert_uint_eq(rec.length, 8 + 8 * RT_NR_PAGES + 4096 * RT_NR_DATA);
    unsigned nd = 0;
    uint8_t page[4096];
    for (unsigned i = 0; i < RT_NR_PAGES; i++) {
        ck_assert_uint_eq(xg_pd_pfn(pd->pfn[i]), rt_pfns[i]);
        ck_assert_uint_eq(xg_pd_type(pd->pfn[i]), rt_types[i]);
        if (xg_pfinfo_has_data(rt_types[i])) {
            xgt_fill_page(page, rt_pfns[i], 7);
            ck_assert_msg(memcmp(pd->data + 4096 * nd, page, 4096) == 0, "page data of pfn %#llx differs",
                          (unsigned long long)rt_pfns[i]);
            nd++;
        }
    }
    ck_assert_uint_eq(nd, RT_NR_DATA);

    NEXT(XG_REC_VERIFY);
    NEXT(XG_REC_PAGE_DATA);
    ck_assert_uint_eq(rec.length, 16);
    ck_assert_uint_eq(rec.u.page_data.count, 1);
    ck_assert_uint_eq(rec.u.page_data.nr_data, 0);
    ck_assert_uint_eq(xg_pd_type(rec.u.page_data.pfn[0]), XG_PFINFO_XTAB);
    ck_assert_uint_eq(xg_pd_pfn(rec.u.page_data.pfn[0]), 0x42);

    NEXT(XG_REC_X86_TSC_INFO);
    ck_assert_uint_eq(rec.u.tsc.mode, 2);
    ck_assert_uint_eq(rec.u.tsc.khz, 2399999);
    ck_assert_uint_eq(rec.u.tsc.nsec, 0x123456789abcULL);
    ck_assert_uint_eq(rec.u.tsc.incarnation, 5);

    uint8_t blob[VCPU64];
    NEXT(XG_REC_SHARED_INFO);
    ck_assert_uint_eq(rec.u.blob.size, 4096);
    xgt_fill(blob, 4096, 0x51);
    ck_assert(memcmp(rec.u.blob.data, blob, 4096) == 0);

    uint32_t basic = width == 8 ? VCPU64 : VCPU32;
    NEXT(XG_REC_X86_PV_VCPU_BASIC);
    ck_assert_uint_eq(rec.length, 8 + basic);
    ck_assert_uint_eq(rec.u.vcpu.vcpu_id, 0);
    ck_assert_uint_eq(rec.u.vcpu.size, basic);
    xgt_fill(blob, basic, 0xba);
    ck_assert(memcmp(rec.u.vcpu.ctx, blob, basic) == 0);
    NEXT(XG_REC_X86_PV_VCPU_EXTENDED);
    ck_assert_uint_eq(rec.u.vcpu.size, 64);
    xgt_fill(blob, 64, 0xe7);
    ck_assert_mem_eq(rec.u.vcpu.ctx, blob, 64);
    NEXT(XG_REC_X86_PV_VCPU_XSAVE);
    ck_assert_uint_eq(rec.u.vcpu.size, 832);
    xgt_fill(blob, 832, 0x5a);
    ck_assert(memcmp(rec.u.vcpu.ctx, blob, 832) == 0);
    NEXT(XG_REC_X86_PV_VCPU_MSRS);
    ck_assert_uint_eq(rec.u.vcpu.size, sizeof(rt_msr));
    ck_assert_mem_eq(rec.u.vcpu.ctx, rt_msr, sizeof(rt_msr));
    static const uint32_t empty[3] = { XG_REC_X86_PV_VCPU_EXTENDED, XG_REC_X86_PV_VCPU_XSAVE,
                                       XG_REC_X86_PV_VCPU_MSRS };
    for (int i = 0; i < 3; i++) {
        NEXT(empty[i]);
        ck_assert_uint_eq(rec.length, 8);
        ck_assert_uint_eq(rec.u.vcpu.vcpu_id, 1);
        ck_assert_uint_eq(rec.u.vcpu.size, 0);
    }
    NEXT(XG_REC_CHECKPOINT);
    NEXT(XG_REC_CHECKPOINT_DIRTY_PFN_LIST);
    ck_assert_uint_eq(rec.u.dirty.nr, 3);
    ck_assert_mem_eq(rec.u.dirty.pfn, rt_dirty, sizeof(rt_dirty));
    NEXT(RT_OPT_TYPE);
    ck_assert_uint_eq(rec.length, sizeof(rt_opt));
    ck_assert_uint_eq(rec.u.blob.size, sizeof(rt_opt));
    ck_assert_mem_eq(rec.u.blob.data, rt_opt, sizeof(rt_opt));
    ck_assert_mem_eq(rec.body, rt_opt, sizeof(rt_opt));
    NEXT(XG_REC_END);
    ck_assert_uint_eq(rec.length, 0);
    ck_assert_int_eq(xg_stream_read_trailer(t->r), 0);
    ck_assert_uint_eq(xg_stream_reader_offset(t->r), off);
#undef NEXT
}

static void rt_pv(unsigned width, bool gzip)
{
    struct rt_opts o = { width };
    struct xgt_buf b;
    xgt_buf_init(&b);
    xgt_stream_to_mem(gzip, rt_write_pv, &o, &b);
    if (gzip) {
        ck_assert_uint_eq(b.data[0], 0x1f);
        ck_assert_uint_eq(b.data[1], 0x8b);
    }
    struct xgt_rd t;
    xgt_rd_open(&t, b.data, b.len, NULL);
    rt_check_pv(&t, width, gzip);
    xgt_rd_close(&t);
    xgt_buf_free(&b);
}

START_TEST(test_rt_pv64)
{
    rt_pv(8, false);
}
END_TEST

START_TEST(test_rt_pv32)
{
    rt_pv(4, false);
}
END_TEST

START_TEST(test_rt_gzip)
{
    rt_pv(8, true);
    rt_pv(4, true);
}
END_TEST

START_TEST(test_rt_pipe)
{
    for (int gz = 0; gz < 2; gz++) {
        struct rt_opts o = { 8 };
        struct xgt_thread *th;
        int fd = xgt_stream_to_pipe(gz, rt_write_pv, &o, &th);
        struct xgt_rd t;
        xgt_rd_open_fd(&t, fd, NULL);
        rt_check_pv(&t, 8, gz);
        xgt_rd_close(&t);
        close(fd);
        ck_assert_int_eq(xgt_thread_join(th), 0);
    }
}
END_TEST

/* Written by xg and read back: the whole sample, 2500 pfns in 1024-page batches. */
START_TEST(test_rt_sample)
{
    struct xgt_sample_opts variants[] = {
        { 0 },
        { .guest_width = 4, .nr_vcpus = 2, .empty_blobs = true },
        { .verify = true, .checkpoint = true, .extras = true, .batch = 300, .nr_pfns = 1000 },
    };
    for (size_t v = 0; v < sizeof(variants) / sizeof(variants[0]); v++) {
        for (int gz = 0; gz < 2; gz++) {
            struct xgt_buf b;
            xgt_buf_init(&b);
            xgt_stream_to_mem(gz, xgt_sample_write_fn, &variants[v], &b);
            struct xgt_sample_counts want;
            xgt_sample_counts(&variants[v], &want);
            struct xgt_rd t;
            xgt_rd_open(&t, b.data, b.len, NULL);
            ck_assert_int_eq(t.open_rc, 0);
            struct xg_record rec;
            uint64_t nr = 0, entries = 0, by_type[16] = { 0 };
            uint8_t page[4096];
            int rc;
            while ((rc = xg_stream_read(t.r, &rec)) == 0) {
                nr++;
                if (rec.type == XG_REC_PAGE_DATA) {
                    const struct xg_rec_page_data *pd = &rec.u.page_data;
                    unsigned nd = 0;
                    for (uint32_t i = 0; i < pd->count; i++) {
                        uint64_t pfn = xg_pd_pfn(pd->pfn[i]);
                        uint32_t type = xg_pd_type(pd->pfn[i]);
                        ck_assert_uint_eq(type, xgt_sample_type(pfn));
                        by_type[type >> 28]++;
                        if (xg_pfinfo_has_data(type)) {
                            xgt_fill_page(page, pfn, 0);
                            ck_assert(memcmp(pd->data + 4096 * nd++, page, 4096) == 0);
                        }
                    }
                    ck_assert_uint_eq(nd, pd->nr_data);
                    entries += pd->count;
                }
                if (rec.type == XG_REC_END)
                    break;
            }
            if (rc < 0)
                xg_diag_print(stderr, t.d, true);
            ck_assert_int_eq(rc, 0);
            ck_assert_uint_eq(nr, want.records);
            ck_assert_uint_eq(entries, want.page_entries);
            for (int i = 0; i < 16; i++)
                ck_assert_uint_eq(by_type[i], want.by_type[i]);
            xgt_rd_close(&t);
            xgt_buf_free(&b);
        }
    }
}
END_TEST

static int rt_write_hvm(xg_stream_writer *w, void *arg)
{
    int rc = xg_stream_write_headers(w, XG_DOMAIN_X86_HVM, 4, 17);
    W(xg_stream_write_record(w, XG_REC_X86_CPUID_POLICY, rt_cpuid, sizeof(rt_cpuid)));
    W(xg_stream_write_record(w, XG_REC_X86_MSR_POLICY, rt_msr, sizeof(rt_msr)));
    W(xg_stream_write_record(w, XG_REC_STATIC_DATA_END, NULL, 0));
    static uint8_t page[4096];
    xgt_fill_page(page, 0xfeff, 1);
    const void *ptr = page;
    uint64_t e = xg_pd_entry(0xfeff, XG_PFINFO_NOTAB);
    W(xg_stream_write_page_data(w, 1, &e, &ptr));
    struct xg_rec_tsc_info tsc = { .mode = 1, .khz = 1000000, .nsec = 1, .incarnation = 0 };
    W(xg_stream_write_tsc_info(w, &tsc));
    uint8_t hvmctx[100];
    xgt_fill(hvmctx, sizeof(hvmctx), 0x4c);
    W(xg_stream_write_record(w, XG_REC_HVM_CONTEXT, hvmctx, sizeof(hvmctx)));
    static const struct xg_hvm_param params[3] = { { 1, 0xfeffe }, { 2, 0 }, { 35, UINT64_MAX } };
    W(xg_stream_write_hvm_params(w, params, 3));
    W(xg_stream_write_hvm_params(w, NULL, 0)); /* zero content: tolerated (spec errata) */
    W(xg_stream_write_end(w));
    return rc;
}
#undef W

START_TEST(test_rt_hvm)
{
    struct xgt_buf b;
    xgt_buf_init(&b);
    xgt_stream_to_mem(false, rt_write_hvm, NULL, &b);
    struct xgt_rd t;
    xgt_rd_open(&t, b.data, b.len, NULL);
    ck_assert_int_eq(t.open_rc, 0);
    ck_assert_uint_eq(xg_stream_reader_info(t.r)->domain_type, XG_DOMAIN_X86_HVM);
    struct xg_record rec;
    read_ok(&t, &rec, XG_REC_X86_CPUID_POLICY);
    read_ok(&t, &rec, XG_REC_X86_MSR_POLICY);
    read_ok(&t, &rec, XG_REC_STATIC_DATA_END);
    read_ok(&t, &rec, XG_REC_PAGE_DATA);
    ck_assert_uint_eq(rec.u.page_data.count, 1);
    ck_assert_uint_eq(xg_pd_pfn(rec.u.page_data.pfn[0]), 0xfeff);
    uint8_t page[4096];
    xgt_fill_page(page, 0xfeff, 1);
    ck_assert(memcmp(rec.u.page_data.data, page, 4096) == 0);
    read_ok(&t, &rec, XG_REC_X86_TSC_INFO);
    ck_assert_uint_eq(rec.u.tsc.mode, 1);
    read_ok(&t, &rec, XG_REC_HVM_CONTEXT);
    ck_assert_uint_eq(rec.u.blob.size, 100);
    uint8_t hvmctx[100];
    xgt_fill(hvmctx, sizeof(hvmctx), 0x4c);
    ck_assert_mem_eq(rec.u.blob.data, hvmctx, 100);
    read_ok(&t, &rec, XG_REC_HVM_PARAMS);
    ck_assert_uint_eq(rec.u.hvm_params.count, 3);
    ck_assert_uint_eq(rec.u.hvm_params.param[0].index, 1);
    ck_assert_uint_eq(rec.u.hvm_params.param[0].value, 0xfeffe);
    ck_assert_uint_eq(rec.u.hvm_params.param[2].index, 35);
    ck_assert_uint_eq(rec.u.hvm_params.param[2].value, UINT64_MAX);
    read_ok(&t, &rec, XG_REC_HVM_PARAMS);
    ck_assert_uint_eq(rec.u.hvm_params.count, 0);
    read_ok(&t, &rec, XG_REC_END);
    xgt_rd_close(&t);
    xgt_buf_free(&b);
}
END_TEST

/* Version 2 streams (Xen 4.6-4.13): no STATIC_DATA_END, it is inferred. */
START_TEST(test_rt_v2)
{
    struct xgt_buf b;
    xgt_buf_init(&b);
    xgt_put_headers(&b, 2, XG_DOMAIN_X86_PV);
    xgt_put_pv_info(&b, 4, 3);
    xgt_buf_le32(&b, XG_REC_X86_PV_P2M_FRAMES);
    xgt_buf_le32(&b, 16);
    xgt_buf_le32(&b, 0);
    xgt_buf_le32(&b, 1023);
    xgt_buf_le64(&b, 0x77);
    uint64_t e = xg_pd_entry(3, XG_PFINFO_XALLOC);
    xgt_put_record_hdr(&b, XG_REC_PAGE_DATA, 16);
    xgt_buf_le32(&b, 1);
    xgt_buf_le32(&b, 0);
    xgt_buf_le64(&b, e);
    uint8_t ctx[VCPU32 + 8] = { 0 };
    xgt_put_record(&b, XG_REC_X86_PV_VCPU_BASIC, ctx, sizeof(ctx));
    xgt_put_record(&b, XG_REC_END, NULL, 0);
    struct xgt_rd t;
    xgt_rd_open(&t, b.data, b.len, NULL);
    ck_assert_int_eq(t.open_rc, 0);
    ck_assert_uint_eq(xg_stream_reader_info(t.r)->version, 2);
    struct xg_record rec;
    read_ok(&t, &rec, XG_REC_X86_PV_INFO);
    read_ok(&t, &rec, XG_REC_X86_PV_P2M_FRAMES);
    ck_assert_uint_eq(rec.u.p2m_frames.nr, 1);
    ck_assert_uint_eq(rec.u.p2m_frames.pfn[0], 0x77);
    read_ok(&t, &rec, XG_REC_PAGE_DATA);
    ck_assert_uint_eq(rec.u.page_data.nr_data, 0);
    read_ok(&t, &rec, XG_REC_X86_PV_VCPU_BASIC);
    ck_assert_uint_eq(rec.u.vcpu.size, VCPU32);
    read_ok(&t, &rec, XG_REC_END);
    xgt_rd_close(&t);
    xgt_buf_free(&b);
}
END_TEST

/* ------------------------------------------------------------ wrappers */

static void check_wrapped(const struct xgt_buf *b, enum xg_stream_wrapper wrap, bool gzip, size_t libxc_off)
{
    struct xgt_sample_counts want;
    xgt_sample_counts(NULL, &want);
    struct xgt_rd t;
    xgt_rd_open(&t, b->data, b->len, NULL);
    ck_assert_int_eq(t.open_rc, 0);
    const struct xg_stream_info *info = xg_stream_reader_info(t.r);
    ck_assert_int_eq(info->wrapper, wrap);
    ck_assert(info->gzip == gzip);
    ck_assert_uint_eq(info->libxl_version, 2);
    ck_assert_uint_eq(info->xl_config_len, wrap == XG_WRAP_XL ? sizeof(XGT_XL_CONFIG) : 0);
    ck_assert_uint_eq(info->libxc_offset, libxc_off);
    ck_assert_uint_eq(info->version, 3);
    struct xg_record rec;
    /* The reader reaches the libxc records. */
    read_ok(&t, &rec, XG_REC_X86_PV_INFO);
    ck_assert_uint_eq(rec.offset, libxc_off + 40);
    ck_assert_uint_eq(rec.index, 0);
    uint64_t nr = 1;
    int rc;
    while ((rc = xg_stream_read(t.r, &rec)) == 0) {
        nr++;
        if (rec.type == XG_REC_END)
            break;
    }
    ck_assert_int_eq(rc, 0);
    ck_assert_uint_eq(nr, want.records);
    /* The trailer (libxl END) is consumed, to the last byte of the file. */
    uint64_t before = xg_stream_reader_offset(t.r);
    ck_assert_int_eq(xg_stream_read_trailer(t.r), 0);
    ck_assert_uint_eq(xg_stream_reader_offset(t.r), before + 8);
    ck_assert_int_eq(xg_stream_read_trailer(t.r), 0); /* twice is fine */
    xgt_rd_close(&t);
}

START_TEST(test_wrap_xl)
{
    struct xgt_buf b, prefix;
    xgt_buf_init(&b);
    xgt_buf_init(&prefix);
    xgt_sample_mem(NULL, XG_WRAP_XL, &b, NULL);
    xgt_put_wrapper_prefix(&prefix, XG_WRAP_XL);
    /* xl header 48 + config {u32 len, text}, libxl header 16, LIBXC_CONTEXT 8 */
    ck_assert_uint_eq(prefix.len, 48 + 4 + sizeof(XGT_XL_CONFIG) + 16 + 8);
    check_wrapped(&b, XG_WRAP_XL, false, prefix.len);

    struct xgt_buf gz;
    xgt_buf_init(&gz);
    xgt_gzip(b.data, b.len, &gz);
    check_wrapped(&gz, XG_WRAP_XL, true, prefix.len);
    xgt_buf_free(&gz);
    xgt_buf_free(&b);
    xgt_buf_free(&prefix);
}
END_TEST

START_TEST(test_wrap_libxl)
{
    struct xgt_buf b;
    xgt_buf_init(&b);
    xgt_sample_mem(NULL, XG_WRAP_LIBXL, &b, NULL);
    check_wrapped(&b, XG_WRAP_LIBXL, false, 24);

    /* libxl records before LIBXC_CONTEXT are skipped; after the libxc END, others may precede END. */
    xgt_buf_reset(&b);
    xgt_put_libxl_header(&b, 2, 0);
    uint8_t xs[21] = { 1, 0, 0, 0, 0, 0, 0, 0, 'k', 0, 'v', 0 };
    xgt_put_libxl_record(&b, 2 /* EMULATOR_XENSTORE_DATA */, xs, sizeof(xs));
    xgt_put_libxl_record(&b, 1, NULL, 0);
    size_t libxc = b.len;
    xgt_put_headers(&b, 3, XG_DOMAIN_X86_PV);
    xgt_put_record(&b, XG_REC_END, NULL, 0);
    xgt_put_libxl_record(&b, 3 /* EMULATOR_CONTEXT */, xs, 9);
    xgt_put_libxl_record(&b, 4 /* CHECKPOINT_END */, NULL, 0);
    xgt_put_libxl_record(&b, 0, NULL, 0);
    struct xgt_rd t;
    xgt_rd_open(&t, b.data, b.len, NULL);
    ck_assert_int_eq(t.open_rc, 0);
    ck_assert_uint_eq(xg_stream_reader_info(t.r)->libxc_offset, libxc);
    ck_assert_int_eq(xgt_rd_drain(&t, NULL, NULL), 0);
    ck_assert_uint_eq(xg_stream_reader_offset(t.r), b.len);
    xgt_rd_close(&t);
    xgt_buf_free(&b);
}
END_TEST

START_TEST(test_wrap_raw_only)
{
    struct xg_stream_reader_opts raw = { .raw_only = true };
    struct xgt_buf b, gz;
    xgt_buf_init(&b);
    xgt_buf_init(&gz);
    xgt_sample_mem(NULL, XG_WRAP_XL, &b, NULL);
    EXPECT_BAD_OPTS(&b, &raw, XG_E_UNSUPPORTED);
    xgt_buf_reset(&b);
    xgt_sample_mem(NULL, XG_WRAP_LIBXL, &b, NULL);
    EXPECT_BAD_OPTS(&b, &raw, XG_E_UNSUPPORTED);
    xgt_buf_reset(&b);
    xgt_sample_mem(NULL, XG_WRAP_NONE, &b, NULL);
    xgt_gzip(b.data, b.len, &gz);
    EXPECT_BAD_OPTS(&gz, &raw, XG_E_UNSUPPORTED);
    /* The bare stream itself is fine. */
    struct xgt_rd t;
    xgt_rd_open(&t, b.data, b.len, &raw);
    ck_assert_int_eq(xgt_rd_drain(&t, NULL, NULL), 0);
    xgt_rd_close(&t);
    xgt_buf_free(&b);
    xgt_buf_free(&gz);
}
END_TEST

/* A bare stream on a shared fd: not a byte past END is consumed (libxl goes on reading). */
START_TEST(test_wrap_no_overread)
{
    struct xgt_buf b;
    xgt_buf_init(&b);
    pv_start(&b);
    xgt_put_record(&b, XG_REC_END, NULL, 0);
    size_t end = b.len;
    static const char after[] = "libxl goes on here";
    xgt_buf_put(&b, after, sizeof(after));
    struct xgt_thread *th;
    int fd = xgt_pipe_feed(b.data, b.len, &th);
    struct xgt_rd t;
    xgt_rd_open_fd(&t, fd, NULL);
    ck_assert_int_eq(t.open_rc, 0);
    ck_assert_int_eq(xgt_rd_drain(&t, NULL, NULL), 0);
    ck_assert_uint_eq(xg_stream_reader_offset(t.r), end);
    xgt_rd_close(&t);
    struct xgt_buf rest;
    xgt_buf_init(&rest);
    ck_assert_int_eq(xgt_read_all(fd, &rest), 0);
    ck_assert_uint_eq(rest.len, sizeof(after));
    ck_assert_mem_eq(rest.data, after, sizeof(after));
    close(fd);
    ck_assert_int_eq(xgt_thread_join(th), 0);
    xgt_buf_free(&rest);
    xgt_buf_free(&b);
}
END_TEST

START_TEST(test_wrap_bad)
{
    struct xgt_buf b;
    xgt_buf_init(&b);
    static const char cfg[] = "{}";

    /* xl without STREAMv2: a legacy stream follows. */
    xgt_put_xl_header(&b, XGT_XL_JSON, cfg, sizeof(cfg));
    xgt_put_headers(&b, 3, XG_DOMAIN_X86_PV);
    EXPECT_BAD(&b, XG_E_VERSION);
    /* Unknown mandatory xl flag. */
    xgt_buf_reset(&b);
    xgt_put_xl_header(&b, XGT_XL_STREAMV2 | 0x100, cfg, sizeof(cfg));
    EXPECT_BAD(&b, XG_E_VERSION);
    /* Byte order of another host. */
    xgt_buf_reset(&b);
    xgt_put_xl_header(&b, XGT_XL_STREAMV2, cfg, sizeof(cfg));
    xgt_buf_set_le32(&b, 32, 0x04030201);
    ASSERT_OFF(EXPECT_BAD(&b, XG_E_UNSUPPORTED), 32);
    /* STREAMv2 promised, no libxl header. */
    xgt_buf_reset(&b);
    xgt_put_xl_header(&b, XGT_XL_STREAMV2, cfg, sizeof(cfg));
    size_t at = b.len;
    xgt_put_headers(&b, 3, XG_DOMAIN_X86_PV);
    ASSERT_OFF(EXPECT_BAD(&b, XG_E_CORRUPT), at);
    /* The config length claims more than the optional data holds. */
    xgt_buf_reset(&b);
    xgt_put_xl_header(&b, XGT_XL_JSON | XGT_XL_STREAMV2, cfg, sizeof(cfg));
    xgt_buf_set_le32(&b, 48, sizeof(cfg) + 1);
    xgt_put_libxl_header(&b, 2, 0);
    xgt_put_libxl_record(&b, 1, NULL, 0);
    xgt_put_headers(&b, 3, XG_DOMAIN_X86_PV);
    xgt_put_record(&b, XG_REC_END, NULL, 0);
    xgt_put_libxl_record(&b, 0, NULL, 0);
    ASSERT_OFF(EXPECT_BAD(&b, XG_E_CORRUPT), 48);
    xgt_buf_set_le32(&b, 48, sizeof(cfg)); /* and right, it reads */
    ck_assert_int_eq(xgt_read_mem(b.data, b.len, NULL, NULL, NULL), 0);
    /* xl optional data absurdly large. */
    xgt_buf_reset(&b);
    xgt_put_xl_header(&b, XGT_XL_STREAMV2, cfg, sizeof(cfg));
    xgt_buf_set_le32(&b, 44, 0x7fffffff);
    EXPECT_BAD(&b, XG_E_CORRUPT);

    /* libxl header: version, reserved options, big-endian. */
    xgt_buf_reset(&b);
    xgt_put_libxl_header(&b, 1, 0);
    ASSERT_OFF(EXPECT_BAD(&b, XG_E_VERSION), 8);
    xgt_buf_reset(&b);
    xgt_put_libxl_header(&b, 2, 4);
    ASSERT_OFF(EXPECT_BAD(&b, XG_E_CORRUPT), 12);
    xgt_buf_reset(&b);
    xgt_put_libxl_header(&b, 2, 1);
    EXPECT_BAD(&b, XG_E_UNSUPPORTED);
    /* libxl records: END before the libxc part, unknown type, LIBXC_CONTEXT with a body. */
    xgt_buf_reset(&b);
    xgt_put_libxl_header(&b, 2, 0);
    xgt_put_libxl_record(&b, 0, NULL, 0);
    ASSERT_REC_LOC(EXPECT_BAD(&b, XG_E_CORRUPT), 0, 16);
    xgt_buf_reset(&b);
    xgt_put_libxl_header(&b, 2, 0);
    xgt_put_libxl_record(&b, 6, NULL, 0);
    EXPECT_BAD(&b, XG_E_CORRUPT);
    xgt_buf_reset(&b);
    xgt_put_libxl_header(&b, 2, 0);
    xgt_put_libxl_record(&b, 1, "x", 1);
    EXPECT_BAD(&b, XG_E_CORRUPT);
    /* Trailer: END with a body, a second LIBXC_CONTEXT, none at all. */
    for (int k = 0; k < 3; k++) {
        xgt_buf_reset(&b);
        xgt_put_wrapper_prefix(&b, XG_WRAP_LIBXL);
        xgt_put_headers(&b, 3, XG_DOMAIN_X86_PV);
        xgt_put_record(&b, XG_REC_END, NULL, 0);
        if (k == 0)
            xgt_put_libxl_record(&b, 0, "abc", 3);
        else if (k == 1)
            xgt_put_libxl_record(&b, 1, NULL, 0);
        EXPECT_BAD(&b, k == 2 ? XG_E_TRUNCATED : XG_E_CORRUPT);
    }
    xgt_buf_free(&b);
}
END_TEST

/* ------------------------------------------------------------ malformed headers */

START_TEST(test_bad_image_header)
{
    struct xgt_buf b;
    xgt_buf_init(&b);
    struct {
        uint64_t marker;
        uint32_t id, version;
        uint16_t options, res1;
        uint32_t res2;
        int code;
        uint64_t off;
    } cases[] = {
        { 0xfffffffffffffffeULL, 0x58454e46, 3, 0, 0, 0, XG_E_VERSION, 0 }, /* bad marker: legacy or not an image */
        { 0x00000000ffffffffULL, 0x58454e46, 3, 0, 0, 0, XG_E_VERSION, 0 },
        { UINT64_MAX, 0x58454e47, 3, 0, 0, 0, XG_E_CORRUPT, 8 },            /* bad ident */
        { UINT64_MAX, 0x58454e46, 1, 0, 0, 0, XG_E_VERSION, 12 },
        { UINT64_MAX, 0x58454e46, 4, 0, 0, 0, XG_E_VERSION, 12 },
        { UINT64_MAX, 0x58454e46, 3, 1, 0, 0, XG_E_UNSUPPORTED, 16 },        /* big endian */
        { UINT64_MAX, 0x58454e46, 3, 2, 0, 0, XG_E_CORRUPT, 16 },            /* reserved option bit */
        { UINT64_MAX, 0x58454e46, 3, 0x8000, 0, 0, XG_E_CORRUPT, 16 },
        { UINT64_MAX, 0x58454e46, 3, 0, 1, 0, XG_E_CORRUPT, 18 },            /* reserved fields */
        { UINT64_MAX, 0x58454e46, 3, 0, 0, 0x80000000U, XG_E_CORRUPT, 18 },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        xgt_buf_reset(&b);
        xgt_put_ihdr_raw(&b, cases[i].marker, cases[i].id, cases[i].version, cases[i].options, cases[i].res1,
                         cases[i].res2);
        xgt_put_dhdr(&b, XG_DOMAIN_X86_PV, 12, 0, 4, 17);
        xgt_put_record(&b, XG_REC_END, NULL, 0);
        struct xg_loc loc = EXPECT_BAD(&b, cases[i].code);
        ASSERT_OFF(loc, cases[i].off);
        ck_assert_msg(loc.field != NULL, "case %zu: no field named", i);
    }
    xgt_buf_free(&b);
}
END_TEST

START_TEST(test_bad_domain_header)
{
    struct xgt_buf b;
    xgt_buf_init(&b);
    struct {
        uint32_t type;
        uint16_t shift, res;
        uint64_t off;
    } cases[] = {
        { 0, 12, 0, 24 }, { 3, 12, 0, 24 }, { 0xffffffff, 12, 0, 24 },
        { 1, 11, 0, 28 }, { 1, 13, 0, 28 }, { 2, 21, 0, 28 },
        { 1, 12, 1, 30 },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        xgt_buf_reset(&b);
        xgt_put_ihdr(&b, 3, 0);
        xgt_put_dhdr(&b, cases[i].type, cases[i].shift, cases[i].res, 4, 17);
        xgt_put_record(&b, XG_REC_END, NULL, 0);
        ASSERT_OFF(EXPECT_BAD(&b, XG_E_CORRUPT), cases[i].off);
    }
    /* Xen 0.x: an image converted from a legacy one is fine. */
    xgt_buf_reset(&b);
    xgt_put_ihdr(&b, 3, 0);
    xgt_put_dhdr(&b, 1, 12, 0, 0, 1);
    xgt_put_record(&b, XG_REC_END, NULL, 0);
    ck_assert_int_eq(xgt_read_mem(b.data, b.len, NULL, NULL, NULL), 0);
    xgt_buf_free(&b);
}
END_TEST

/* ------------------------------------------------------------ malformed records */

START_TEST(test_bad_padding)
{
    struct xgt_buf b;
    pv_start(&b);
    xgt_put_record(&b, XG_REC_OPTIONAL | 7, "12345", 5);
    b.data[b.len - 2] = 0xaa; /* second padding byte */
    xgt_put_record(&b, XG_REC_END, NULL, 0);
    struct xg_loc loc = EXPECT_BAD(&b, XG_E_CORRUPT);
    ck_assert(loc.has_rec_index && loc.rec_index == PV_START_RECS);
    ASSERT_OFF(loc, PV_START_LEN + 8 + 5 + 1);
    ck_assert_uint_eq(loc.found, 0xaa);

    /* The last padding byte, right after the headers. */
    xgt_buf_free(&b);
    xgt_buf_init(&b);
    xgt_put_headers(&b, 3, XG_DOMAIN_X86_PV);
    xgt_put_record(&b, XG_REC_OPTIONAL | 1, "x", 1);
    b.data[b.len - 1] = 1;
    EXPECT_BAD(&b, XG_E_CORRUPT);
    xgt_buf_free(&b);
}
END_TEST

START_TEST(test_bad_unknown_mandatory)
{
    uint32_t types[] = { XG_REC__NR_KNOWN, 0x100, 0x7fffffff };
    for (size_t i = 0; i < 3; i++) {
        struct xgt_buf b;
        pv_start(&b);
        xgt_put_record(&b, types[i], "abcd", 4);
        xgt_put_record(&b, XG_REC_END, NULL, 0);
        struct xg_loc loc = EXPECT_BAD(&b, XG_E_UNSUPPORTED);
        ASSERT_REC_LOC(loc, PV_START_RECS, PV_START_LEN);
        ck_assert(loc.has_rec_type && loc.rec_type == types[i]);
        xgt_buf_free(&b);
    }
    /* Unknown optional records are passed on as blobs (see the round trip); TOOLSTACK is refused. */
    struct xgt_buf b;
    pv_start(&b);
    xgt_put_record(&b, XG_REC_TOOLSTACK, "abcd", 4);
    ASSERT_REC_LOC(EXPECT_BAD(&b, XG_E_UNSUPPORTED), PV_START_RECS, PV_START_LEN);
    xgt_buf_free(&b);
}
END_TEST

/* A PAGE_DATA record by hand: count, reserved, entries, then nr_pages pages of data. */
static void put_page_data(struct xgt_buf *b, uint32_t len, uint32_t count, uint32_t reserved, const uint64_t *e,
                          unsigned nr_e, unsigned nr_pages)
{
    xgt_put_record_hdr(b, XG_REC_PAGE_DATA, len);
    xgt_buf_le32(b, count);
    xgt_buf_le32(b, reserved);
    for (unsigned i = 0; i < nr_e; i++)
        xgt_buf_le64(b, e[i]);
    for (unsigned i = 0; i < nr_pages; i++) {
        uint8_t page[4096];
        xgt_fill_page(page, i, 3);
        xgt_buf_put(b, page, sizeof(page));
    }
    xgt_buf_pad8(b);
}

START_TEST(test_bad_page_data)
{
    const uint64_t body = PV_START_LEN + 8; /* offset of the PAGE_DATA body */
    uint64_t two[2] = { xg_pd_entry(1, XG_PFINFO_NOTAB), xg_pd_entry(2, XG_PFINFO_L1TAB) };
    struct xgt_buf b;
    struct xg_loc loc;

    /* The sane version of what follows reads fine. */
    pv_start(&b);
    put_page_data(&b, 8 + 16 + 2 * 4096, 2, 0, two, 2, 2);
    xgt_put_record(&b, XG_REC_END, NULL, 0);
    ck_assert_int_eq(xgt_read_mem(b.data, b.len, NULL, NULL, NULL), 0);
    xgt_buf_free(&b);

    /* count 0 (with and without room for an entry). */
    pv_start(&b);
    put_page_data(&b, 16, 0, 0, two, 1, 0);
    loc = EXPECT_BAD(&b, XG_E_CORRUPT);
    ASSERT_OFF(loc, body);
    ck_assert(loc.has_rec_index && loc.rec_index == PV_START_RECS);
    xgt_buf_free(&b);
    pv_start(&b);
    put_page_data(&b, 8, 0, 0, NULL, 0, 0);
    ASSERT_REC_LOC(EXPECT_BAD(&b, XG_E_CORRUPT), PV_START_RECS, PV_START_LEN);
    xgt_buf_free(&b);

    /* Reserved header field. */
    pv_start(&b);
    put_page_data(&b, 8 + 16 + 2 * 4096, 2, 1, two, 2, 2);
    ASSERT_OFF(EXPECT_BAD(&b, XG_E_CORRUPT), body + 4);
    xgt_buf_free(&b);

    /* count larger than the pfn array the length allows. */
    pv_start(&b);
    put_page_data(&b, 8 + 16, 3, 0, two, 2, 0);
    loc = EXPECT_BAD(&b, XG_E_CORRUPT);
    ck_assert(loc.has_rec_index && loc.rec_index == PV_START_RECS);
    xgt_buf_free(&b);

    /* Length does not match the data pages: one page missing, one too many. */
    pv_start(&b);
    put_page_data(&b, 8 + 16 + 1 * 4096, 2, 0, two, 2, 1);
    loc = EXPECT_BAD(&b, XG_E_CORRUPT);
    ASSERT_REC_LOC(loc, PV_START_RECS, PV_START_LEN);
    ck_assert_uint_eq(loc.expected, 8 + 16 + 2 * 4096);
    xgt_buf_free(&b);
    pv_start(&b);
    put_page_data(&b, 8 + 16 + 3 * 4096, 2, 0, two, 2, 3);
    ASSERT_REC_LOC(EXPECT_BAD(&b, XG_E_CORRUPT), PV_START_RECS, PV_START_LEN);
    xgt_buf_free(&b);
    /* Pages without data (XTAB) followed by data anyway. */
    uint64_t xtab = xg_pd_entry(9, XG_PFINFO_XTAB);
    pv_start(&b);
    put_page_data(&b, 8 + 8 + 4096, 1, 0, &xtab, 1, 1);
    EXPECT_BAD(&b, XG_E_CORRUPT);
    xgt_buf_free(&b);

    /* Reserved pfn bits 52-59, in the second entry. */
    for (int bit = 52; bit < 60; bit++) {
        uint64_t e[2] = { two[0], two[1] | (1ULL << bit) };
        pv_start(&b);
        put_page_data(&b, 8 + 16 + 2 * 4096, 2, 0, e, 2, 2);
        loc = EXPECT_BAD(&b, XG_E_CORRUPT);
        ASSERT_OFF(loc, body + 8 + 8);
        ck_assert(loc.has_rec_index && loc.rec_index == PV_START_RECS);
        xgt_buf_free(&b);
    }
    /* Reserved page types 0x5-0x8. */
    for (uint32_t n = 5; n <= 8; n++) {
        uint64_t e[2] = { two[0], ((uint64_t)n << 60) | 2 };
        pv_start(&b);
        put_page_data(&b, 8 + 16 + 2 * 4096, 2, 0, e, 2, 2);
        loc = EXPECT_BAD(&b, XG_E_CORRUPT);
        ASSERT_OFF(loc, body + 16);
        ck_assert(loc.has_pfn && loc.pfn == 2);
        xgt_buf_free(&b);
    }
}
END_TEST

/* Order rules (spec 5.1, 6.1). */
START_TEST(test_bad_order)
{
    struct xgt_buf b;
    xgt_buf_init(&b);
    uint8_t p2m[16] = { 0, 0, 0, 0, 0xff, 1, 0, 0 }; /* pfns 0-0x1ff: one frame */

    /* STATIC_DATA_END twice. */
    pv_start(&b);
    xgt_put_record(&b, XG_REC_STATIC_DATA_END, NULL, 0);
    ASSERT_REC_LOC(EXPECT_BAD(&b, XG_E_CORRUPT), 2, 64);
    xgt_buf_free(&b);
    /* Content before STATIC_DATA_END in v3. */
    uint32_t content[] = { XG_REC_X86_PV_P2M_FRAMES, XG_REC_PAGE_DATA, XG_REC_SHARED_INFO, XG_REC_X86_TSC_INFO,
                           XG_REC_X86_PV_VCPU_BASIC, XG_REC_VERIFY, XG_REC_CHECKPOINT };
    for (size_t i = 0; i < sizeof(content) / sizeof(content[0]); i++) {
        xgt_buf_init(&b);
        xgt_put_headers(&b, 3, XG_DOMAIN_X86_PV);
        xgt_put_pv_info(&b, 8, 4);
        uint32_t len = content[i] == XG_REC_SHARED_INFO   ? 4096
                       : content[i] == XG_REC_X86_TSC_INFO ? 24
                       : content[i] == XG_REC_PAGE_DATA    ? 16
                       : content[i] == XG_REC_X86_PV_VCPU_BASIC ? 8 + VCPU64
                       : content[i] == XG_REC_X86_PV_P2M_FRAMES ? 16
                       : 0;
        xgt_put_record(&b, content[i], NULL, len);
        ASSERT_REC_LOC(EXPECT_BAD(&b, XG_E_CORRUPT), 1, 56);
        xgt_buf_free(&b);
    }
    /* STATIC_DATA_END and the policies in a v2 stream. */
    uint32_t v3only[] = { XG_REC_STATIC_DATA_END, XG_REC_X86_CPUID_POLICY, XG_REC_X86_MSR_POLICY };
    for (size_t i = 0; i < 3; i++) {
        xgt_buf_init(&b);
        xgt_put_headers(&b, 2, XG_DOMAIN_X86_PV);
        xgt_put_pv_info(&b, 8, 4);
        xgt_put_record(&b, v3only[i], NULL, i == 0 ? 0 : i == 1 ? 24 : 16);
        ASSERT_REC_LOC(EXPECT_BAD(&b, XG_E_CORRUPT), 1, 56);
        xgt_buf_free(&b);
    }
    /* X86_PV_INFO twice (before and after STATIC_DATA_END), a policy twice. */
    xgt_buf_init(&b);
    xgt_put_headers(&b, 3, XG_DOMAIN_X86_PV);
    xgt_put_pv_info(&b, 8, 4);
    xgt_put_pv_info(&b, 8, 4);
    ASSERT_REC_LOC(EXPECT_BAD(&b, XG_E_CORRUPT), 1, 56);
    xgt_buf_free(&b);
    pv_start(&b);
    xgt_put_pv_info(&b, 8, 4);
    ASSERT_REC_LOC(EXPECT_BAD(&b, XG_E_CORRUPT), 2, 64);
    xgt_buf_free(&b);
    xgt_buf_init(&b);
    xgt_put_headers(&b, 2, XG_DOMAIN_X86_PV);
    xgt_put_pv_info(&b, 8, 4);
    xgt_put_pv_info(&b, 4, 3);
    ASSERT_REC_LOC(EXPECT_BAD(&b, XG_E_CORRUPT), 1, 56);
    xgt_buf_free(&b);
    xgt_buf_init(&b);
    xgt_put_headers(&b, 3, XG_DOMAIN_X86_PV);
    xgt_put_record(&b, XG_REC_X86_CPUID_POLICY, NULL, 24);
    xgt_put_record(&b, XG_REC_X86_CPUID_POLICY, NULL, 24);
    ASSERT_REC_LOC(EXPECT_BAD(&b, XG_E_CORRUPT), 1, 72);
    xgt_buf_free(&b);

    /* P2M_FRAMES (and PAGE_DATA, vcpu records) before X86_PV_INFO: v3 and v2. */
    xgt_buf_init(&b);
    xgt_put_headers(&b, 3, XG_DOMAIN_X86_PV);
    xgt_put_record(&b, XG_REC_STATIC_DATA_END, NULL, 0);
    xgt_put_record(&b, XG_REC_X86_PV_P2M_FRAMES, p2m, sizeof(p2m));
    ASSERT_REC_LOC(EXPECT_BAD(&b, XG_E_CORRUPT), 1, 48);
    xgt_buf_free(&b);
    xgt_buf_init(&b);
    xgt_put_headers(&b, 2, XG_DOMAIN_X86_PV);
    xgt_put_record(&b, XG_REC_X86_PV_P2M_FRAMES, p2m, sizeof(p2m));
    ASSERT_REC_LOC(EXPECT_BAD(&b, XG_E_CORRUPT), 0, 40);
    xgt_buf_free(&b);
    xgt_buf_init(&b);
    xgt_put_headers(&b, 2, XG_DOMAIN_X86_PV);
    xgt_put_record(&b, XG_REC_X86_PV_VCPU_BASIC, NULL, 8 + VCPU64);
    ASSERT_REC_LOC(EXPECT_BAD(&b, XG_E_CORRUPT), 0, 40);
    xgt_buf_free(&b);

    /* HVM records in a PV stream, PV records in an HVM stream. */
    pv_start(&b);
    xgt_put_record(&b, XG_REC_HVM_CONTEXT, "ctx", 3);
    ASSERT_REC_LOC(EXPECT_BAD(&b, XG_E_CORRUPT), 2, 64);
    xgt_buf_free(&b);
    pv_start(&b);
    xgt_put_record(&b, XG_REC_HVM_PARAMS, NULL, 8);
    ASSERT_REC_LOC(EXPECT_BAD(&b, XG_E_CORRUPT), 2, 64);
    xgt_buf_free(&b);
    uint32_t pvonly[] = { XG_REC_X86_PV_INFO, XG_REC_SHARED_INFO, XG_REC_X86_PV_VCPU_MSRS };
    for (size_t i = 0; i < 3; i++) {
        xgt_buf_init(&b);
        xgt_put_headers(&b, 3, XG_DOMAIN_X86_HVM);
        xgt_put_record(&b, XG_REC_STATIC_DATA_END, NULL, 0);
        xgt_put_record(&b, pvonly[i], NULL, i == 0 ? 8 : i == 1 ? 4096 : 8);
        ASSERT_REC_LOC(EXPECT_BAD(&b, XG_E_CORRUPT), 1, 48);
        xgt_buf_free(&b);
    }
}
END_TEST

/* Wrong sizes and reserved fields, record by record. */
START_TEST(test_bad_sizes)
{
    struct xgt_buf b;
    struct xg_loc loc;
    const uint64_t body = PV_START_LEN + 8;

    /* X86_PV_INFO of 7 bytes; bad combinations; reserved bytes. */
    xgt_buf_init(&b);
    xgt_put_headers(&b, 3, XG_DOMAIN_X86_PV);
    xgt_put_record(&b, XG_REC_X86_PV_INFO, "\x08\x04\0\0\0\0\0", 7);
    loc = EXPECT_BAD(&b, XG_E_CORRUPT);
    ASSERT_REC_LOC(loc, 0, 40);
    ck_assert_uint_eq(loc.found, 7);
    ck_assert_uint_eq(loc.expected, 8);
    xgt_buf_free(&b);
    uint8_t bad_info[][8] = { { 8, 3 }, { 4, 4 }, { 2, 2 }, { 8, 4, 0, 0, 0, 0, 0, 1 } };
    uint64_t bad_info_off[] = { 41, 41, 40, 47 };
    for (size_t i = 0; i < 4; i++) {
        xgt_buf_init(&b);
        xgt_put_headers(&b, 3, XG_DOMAIN_X86_PV);
        xgt_put_record(&b, XG_REC_X86_PV_INFO, bad_info[i], 8);
        loc = EXPECT_BAD(&b, XG_E_CORRUPT);
        ck_assert(loc.has_rec_index && loc.rec_index == 0);
        ASSERT_OFF(loc, 8 + bad_info_off[i]);
        xgt_buf_free(&b);
    }

    /* SHARED_INFO of 4095 and 4097 bytes. */
    for (uint32_t len = 4095; len <= 4097; len += 2) {
        pv_start(&b);
        xgt_put_record(&b, XG_REC_SHARED_INFO, NULL, len);
        loc = EXPECT_BAD(&b, XG_E_CORRUPT);
        ASSERT_REC_LOC(loc, PV_START_RECS, PV_START_LEN);
        ck_assert_uint_eq(loc.expected, 4096);
        xgt_buf_free(&b);
    }

    /* vcpu BASIC of the other width's size, and of 0 bytes. */
    for (unsigned width = 4; width <= 8; width += 4) {
        uint32_t sizes[] = { width == 8 ? VCPU32 : VCPU64, 0, (width == 8 ? VCPU64 : VCPU32) - 8 };
        for (size_t i = 0; i < 3; i++) {
            xgt_buf_init(&b);
            xgt_put_headers(&b, 3, XG_DOMAIN_X86_PV);
            xgt_put_pv_static(&b, (uint8_t)width);
            xgt_put_record_hdr(&b, XG_REC_X86_PV_VCPU_BASIC, 8 + sizes[i]);
            xgt_buf_le32(&b, 3);
            xgt_buf_le32(&b, 0);
            xgt_buf_zero(&b, sizes[i]);
            loc = EXPECT_BAD(&b, XG_E_CORRUPT);
            ASSERT_REC_LOC(loc, PV_START_RECS, PV_START_LEN);
            ck_assert(loc.has_vcpu && loc.vcpu == 3);
            ck_assert_uint_eq(loc.expected, width == 8 ? VCPU64 : VCPU32);
            xgt_buf_free(&b);
        }
    }
    /* vcpu record header: reserved field; shorter than the header. */
    pv_start(&b);
    xgt_put_record_hdr(&b, XG_REC_X86_PV_VCPU_MSRS, 8);
    xgt_buf_le32(&b, 0);
    xgt_buf_le32(&b, 1);
    ASSERT_OFF(EXPECT_BAD(&b, XG_E_CORRUPT), body + 4);
    xgt_buf_free(&b);
    pv_start(&b);
    xgt_put_record(&b, XG_REC_X86_PV_VCPU_XSAVE, NULL, 4);
    ASSERT_REC_LOC(EXPECT_BAD(&b, XG_E_CORRUPT), PV_START_RECS, PV_START_LEN);
    xgt_buf_free(&b);
    /* EXTENDED over 128 bytes, XSAVE under 16, MSRS not a multiple of 16. */
    struct {
        uint32_t type, size;
    } blobs[] = { { XG_REC_X86_PV_VCPU_EXTENDED, 136 }, { XG_REC_X86_PV_VCPU_XSAVE, 8 },
                  { XG_REC_X86_PV_VCPU_MSRS, 24 } };
    for (size_t i = 0; i < 3; i++) {
        pv_start(&b);
        xgt_put_record(&b, blobs[i].type, NULL, 8 + blobs[i].size);
        loc = EXPECT_BAD(&b, XG_E_CORRUPT);
        ASSERT_REC_LOC(loc, PV_START_RECS, PV_START_LEN);
        ck_assert(loc.has_vcpu);
        xgt_buf_free(&b);
    }

    /* X86_TSC_INFO: reserved bits, wrong length. */
    pv_start(&b);
    xgt_put_record_hdr(&b, XG_REC_X86_TSC_INFO, 24);
    xgt_buf_le32(&b, 0);
    xgt_buf_le32(&b, 1000);
    xgt_buf_le64(&b, 0);
    xgt_buf_le32(&b, 0);
    xgt_buf_le32(&b, 0x100);
    loc = EXPECT_BAD(&b, XG_E_CORRUPT);
    ASSERT_OFF(loc, body + 20);
    ck_assert(loc.has_rec_index && loc.rec_index == PV_START_RECS);
    ck_assert_uint_eq(loc.found, 0x100);
    xgt_buf_free(&b);
    pv_start(&b);
    xgt_put_record(&b, XG_REC_X86_TSC_INFO, NULL, 16);
    ASSERT_REC_LOC(EXPECT_BAD(&b, XG_E_CORRUPT), PV_START_RECS, PV_START_LEN);
    xgt_buf_free(&b);

    /* X86_MSR_POLICY: flags must be zero; length a multiple of 16 and non-zero. */
    xgt_buf_init(&b);
    xgt_put_headers(&b, 3, XG_DOMAIN_X86_PV);
    xgt_put_record_hdr(&b, XG_REC_X86_MSR_POLICY, 32);
    xgt_buf_le32(&b, 0xce);
    xgt_buf_le32(&b, 0);
    xgt_buf_le64(&b, 1);
    xgt_buf_le32(&b, 0x10a);
    xgt_buf_le32(&b, 2);
    xgt_buf_le64(&b, 1);
    loc = EXPECT_BAD(&b, XG_E_CORRUPT);
    ASSERT_OFF(loc, 48 + 16 + 4);
    ck_assert(loc.has_rec_index && loc.rec_index == 0);
    xgt_buf_free(&b);
    uint32_t msr_lens[] = { 0, 8, 20 };
    for (size_t i = 0; i < 3; i++) {
        xgt_buf_init(&b);
        xgt_put_headers(&b, 3, XG_DOMAIN_X86_PV);
        xgt_put_record(&b, XG_REC_X86_MSR_POLICY, NULL, msr_lens[i]);
        ASSERT_REC_LOC(EXPECT_BAD(&b, XG_E_CORRUPT), 0, 40);
        xgt_buf_free(&b);
    }
    /* X86_CPUID_POLICY: a multiple of 24, non-zero. */
    uint32_t cpuid_lens[] = { 0, 23, 25, 40 };
    for (size_t i = 0; i < 4; i++) {
        xgt_buf_init(&b);
        xgt_put_headers(&b, 3, XG_DOMAIN_X86_PV);
        xgt_put_record(&b, XG_REC_X86_CPUID_POLICY, NULL, cpuid_lens[i]);
        ASSERT_REC_LOC(EXPECT_BAD(&b, XG_E_CORRUPT), 0, 40);
        xgt_buf_free(&b);
    }

    /* X86_PV_P2M_FRAMES: entry count mismatch (both ways), start > end, ragged length. */
    struct {
        uint32_t start, end, nr, len;
    } p2m[] = {
        { 0, 0x7fff, 63, 0 }, { 0, 0x7fff, 65, 0 }, { 0x200, 0x3ff, 2, 0 }, { 0x400, 0x3ff, 1, 0 },
        { 0, 0x1ff, 1, 8 + 12 },
    };
    for (size_t i = 0; i < sizeof(p2m) / sizeof(p2m[0]); i++) {
        pv_start(&b);
        uint32_t len = p2m[i].len ? p2m[i].len : 8 + 8 * p2m[i].nr;
        xgt_put_record_hdr(&b, XG_REC_X86_PV_P2M_FRAMES, len);
        xgt_buf_le32(&b, p2m[i].start);
        xgt_buf_le32(&b, p2m[i].end);
        xgt_buf_zero(&b, len - 8);
        xgt_buf_pad8(&b);
        loc = EXPECT_BAD(&b, XG_E_CORRUPT);
        ck_assert(loc.has_rec_index && loc.rec_index == PV_START_RECS);
        ck_assert(loc.has_offset);
        xgt_buf_free(&b);
    }
    /* The exact count for a 32-bit guest: 1024 pfns per frame. */
    xgt_buf_init(&b);
    xgt_put_headers(&b, 3, XG_DOMAIN_X86_PV);
    xgt_put_pv_static(&b, 4);
    xgt_put_record_hdr(&b, XG_REC_X86_PV_P2M_FRAMES, 8 + 8 * 2);
    xgt_buf_le32(&b, 0x3ff);
    xgt_buf_le32(&b, 0x400);
    xgt_buf_zero(&b, 16);
    xgt_put_record(&b, XG_REC_END, NULL, 0);
    ck_assert_int_eq(xgt_read_mem(b.data, b.len, NULL, NULL, NULL), 0);
    xgt_buf_free(&b);

    /* Empty records with a body; HVM_CONTEXT empty; HVM_PARAMS count mismatch, reserved. */
    uint32_t empty[] = { XG_REC_END, XG_REC_VERIFY, XG_REC_CHECKPOINT };
    for (size_t i = 0; i < 3; i++) {
        pv_start(&b);
        xgt_put_record(&b, empty[i], NULL, 8);
        ASSERT_REC_LOC(EXPECT_BAD(&b, XG_E_CORRUPT), PV_START_RECS, PV_START_LEN);
        xgt_buf_free(&b);
    }
    pv_start(&b);
    xgt_put_record(&b, XG_REC_CHECKPOINT_DIRTY_PFN_LIST, NULL, 12);
    ASSERT_REC_LOC(EXPECT_BAD(&b, XG_E_CORRUPT), PV_START_RECS, PV_START_LEN);
    xgt_buf_free(&b);
    struct {
        uint32_t len, count, reserved;
    } hp[] = { { 0, 0, 0 }, { 8, 0, 0 }, { 8 + 16, 2, 0 }, { 8 + 32, 1, 0 }, { 8 + 16, 1, 1 } };
    for (size_t i = 0; i < sizeof(hp) / sizeof(hp[0]); i++) {
        xgt_buf_init(&b);
        xgt_put_headers(&b, 3, XG_DOMAIN_X86_HVM);
        xgt_put_record(&b, XG_REC_STATIC_DATA_END, NULL, 0);
        if (i == 0) {
            xgt_put_record(&b, XG_REC_HVM_CONTEXT, NULL, 0);
        } else {
            xgt_put_record_hdr(&b, XG_REC_HVM_PARAMS, hp[i].len);
            xgt_buf_le32(&b, hp[i].count);
            xgt_buf_le32(&b, hp[i].reserved);
            xgt_buf_zero(&b, hp[i].len - 8);
        }
        xgt_put_record(&b, XG_REC_END, NULL, 0);
        if (i == 1) { /* count 0, length 8: tolerated */
            ck_assert_int_eq(xgt_read_mem(b.data, b.len, NULL, NULL, NULL), 0);
        } else if (i == 4) { /* the reserved field itself */
            struct xg_loc l = EXPECT_BAD(&b, XG_E_CORRUPT);
            ck_assert(l.has_rec_index && l.rec_index == 1);
            ASSERT_OFF(l, 48 + 8 + 4);
        } else {
            ASSERT_REC_LOC(EXPECT_BAD(&b, XG_E_CORRUPT), 1, 48);
        }
        xgt_buf_free(&b);
    }
}
END_TEST

/* A record longer than the rest of the file, or than the cap: no big allocation. */
START_TEST(test_bad_length)
{
    struct xgt_buf b;
    struct xg_loc loc;
    size_t largest;

    /* An optional record claiming 120 MiB in a file of about 1 MiB. */
    pv_start(&b);
    xgt_put_record_hdr(&b, XG_REC_OPTIONAL | 0x55, 120 * MiB);
    xgt_buf_zero(&b, MiB);
    track_start();
    loc = EXPECT_BAD(&b, XG_E_TRUNCATED);
    largest = track_stop();
    ASSERT_REC_LOC(loc, PV_START_RECS, PV_START_LEN);
    ck_assert_msg(largest < 8 * MiB, "reading a truncated 120 MiB record allocated %zu bytes at once", largest);
    /* The MiB that is there was read into some buffer: the wrappers do see libxg's allocations. */
    ck_assert_msg(largest >= MiB, "allocation tracking saw nothing (largest %zu): is the test linked with --wrap?",
                  largest);
    xgt_buf_free(&b);

    /* A PAGE_DATA whose count and length agree (8 Mi pfns, 64 MiB), with 2 MiB of them present. */
    pv_start(&b);
    uint32_t count = 8 * MiB - 1;
    xgt_put_record_hdr(&b, XG_REC_PAGE_DATA, 8 + 8 * count);
    xgt_buf_le32(&b, count);
    xgt_buf_le32(&b, 0);
    xgt_buf_zero(&b, 2 * MiB);
    track_start();
    loc = EXPECT_BAD(&b, XG_E_TRUNCATED);
    largest = track_stop();
    ASSERT_REC_LOC(loc, PV_START_RECS, PV_START_LEN);
    ck_assert_msg(largest < 8 * MiB, "reading a truncated PAGE_DATA allocated %zu bytes at once", largest);
    xgt_buf_free(&b);

    /* Beyond the 128 MiB cap: refused from the header, before any read or allocation. */
    uint32_t lens[] = { XG_REC_LENGTH_MAX + 1, UINT32_MAX };
    uint32_t types[] = { XG_REC_PAGE_DATA, XG_REC_HVM_CONTEXT, XG_REC_OPTIONAL | 1 };
    for (size_t i = 0; i < 2; i++) {
        for (size_t k = 0; k < 3; k++) {
            pv_start(&b);
            xgt_put_record_hdr(&b, types[k], lens[i]);
            xgt_buf_zero(&b, 64);
            track_start();
            loc = EXPECT_BAD(&b, XG_E_CORRUPT);
            largest = track_stop();
            ASSERT_REC_LOC(loc, PV_START_RECS, PV_START_LEN);
            ck_assert_uint_eq(loc.found, lens[i]);
            ck_assert_uint_eq(loc.expected, XG_REC_LENGTH_MAX);
            ck_assert_msg(largest < MiB, "a record over the cap allocated %zu bytes", largest);
            xgt_buf_free(&b);
        }
    }
    /* A smaller cap chosen by the caller. */
    pv_start(&b);
    xgt_put_record(&b, XG_REC_OPTIONAL | 2, NULL, 4096 + 8);
    xgt_put_record(&b, XG_REC_END, NULL, 0);
    struct xg_stream_reader_opts small = { .max_record = 4096 };
    loc = EXPECT_BAD_OPTS(&b, &small, XG_E_CORRUPT);
    ck_assert_uint_eq(loc.expected, 4096);
    ck_assert_int_eq(xgt_read_mem(b.data, b.len, NULL, NULL, NULL), 0);
    xgt_buf_free(&b);
}
END_TEST

/*
 * The same under a small address-space limit, in a child: a reader that
 * allocated what the header claims would die of it.  Not under ASan or
 * valgrind, which need a large address space of their own.
 */
START_TEST(test_bad_length_rlimit)
{
    if (under_sanitizer() || under_valgrind())
        return;
    struct xgt_buf b;
    pv_start(&b);
    xgt_put_record_hdr(&b, XG_REC_OPTIONAL | 0x55, XG_REC_LENGTH_MAX);
    xgt_buf_zero(&b, 3 * MiB);
    int fd = xgt_fd_from_mem(b.data, b.len);
    xgt_buf_free(&b);
    fflush(NULL);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        /* What the process maps now, plus 48 MiB: far less than the 128 MiB claimed. */
        unsigned long pages = 0;
        FILE *f = fopen("/proc/self/statm", "r");
        if (!f || fscanf(f, "%lu", &pages) != 1)
            _exit(90);
        fclose(f);
        rlim_t lim = (rlim_t)pages * (rlim_t)sysconf(_SC_PAGESIZE) + 48 * MiB;
        struct rlimit rl = { lim, lim };
        if (setrlimit(RLIMIT_AS, &rl) < 0)
            _exit(91);
        /* The limit bites: 128 MiB at once is refused. */
        void *big = malloc(XG_REC_LENGTH_MAX);
        if (big)
            _exit(92);
        struct xgt_rd t;
        xgt_rd_open_fd(&t, fd, NULL);
        int rc = xgt_rd_drain(&t, NULL, NULL);
        xgt_rd_close(&t);
        _exit(rc == XG_E_TRUNCATED ? 0 : 100 - rc);
    }
    int status = 0;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    close(fd);
    ck_assert_msg(WIFEXITED(status), "reader child died of signal %d", WTERMSIG(status));
    ck_assert_msg(WEXITSTATUS(status) == 0, "reader child exited %d (100 - XG_E_* code, or 9x: setup)",
                  WEXITSTATUS(status));
}
END_TEST

/* ------------------------------------------------------------ truncation */

/* Reading prefix p[0..len) must fail with XG_E_TRUNCATED. */
static struct xg_loc expect_truncated(const uint8_t *p, size_t len, const char *what)
{
    struct xgt_rd t;
    xgt_rd_open(&t, p, len, NULL);
    int rc = xgt_rd_drain(&t, NULL, NULL);
    const struct xg_finding *f = xg_diag_first_error(t.d);
    if (rc != XG_E_TRUNCATED)
        xg_diag_print(stderr, t.d, true);
    ck_assert_msg(rc == XG_E_TRUNCATED && f && f->code == XG_E_TRUNCATED && f->msg && f->msg[0],
                  "%s, cut at %zu: %s instead of XG_E_TRUNCATED", what, len, xg_err_name(rc));
    struct xg_loc loc = f->loc;
    xgt_rd_close(&t);
    return loc;
}

START_TEST(test_trunc_headers)
{
    for (int w = XG_WRAP_NONE; w <= XG_WRAP_XL; w++) {
        struct xgt_buf b;
        struct xgt_offsets offs;
        xgt_buf_init(&b);
        xgt_sample_mem(NULL, (enum xg_stream_wrapper)w, &b, &offs);
        /* Every byte inside the wrapper, image and domain headers. */
        for (size_t len = 0; len < offs.headers_end; len++) {
            struct xgt_rd t;
            xgt_rd_open(&t, b.data, len, NULL);
            ck_assert_msg(t.open_rc == XG_E_TRUNCATED, "wrapper %d, cut at %zu: open says %s", w, len,
                          xg_err_name(t.open_rc));
            ck_assert(t.r == NULL);
            const struct xg_finding *f = xg_diag_first_error(t.d);
            ck_assert(f && f->code == XG_E_TRUNCATED && f->msg && f->msg[0]);
            xgt_rd_close(&t);
        }
        xgt_offsets_free(&offs);
        xgt_buf_free(&b);
    }
}
END_TEST

START_TEST(test_trunc_boundaries)
{
    struct xgt_sample_opts o = { .nr_pfns = 40, .batch = 16, .empty_blobs = true, .verify = true,
                                 .checkpoint = true, .extras = true };
    for (int w = XG_WRAP_NONE; w <= XG_WRAP_XL; w += XG_WRAP_XL) {
        struct xgt_buf b;
        struct xgt_offsets offs;
        xgt_buf_init(&b);
        xgt_sample_mem(&o, (enum xg_stream_wrapper)w, &b, &offs);
        ck_assert_uint_eq(offs.off[0], offs.headers_end);
        /* At every record boundary but the end of END: "ends after record N". */
        for (size_t i = 0; i < offs.nr; i++) {
            struct xg_loc loc = expect_truncated(b.data, offs.off[i], "at a record boundary");
            ASSERT_OFF(loc, offs.off[i]);
        }
        /* After END: complete when bare, a libxl END short when wrapped. */
        if (w == XG_WRAP_NONE) {
            ck_assert_uint_eq(offs.end, b.len);
            ck_assert_int_eq(xgt_read_mem(b.data, b.len, NULL, NULL, NULL), 0);
        } else {
            expect_truncated(b.data, offs.end, "before the libxl END");
            expect_truncated(b.data, b.len - 1, "inside the libxl END");
            ck_assert_int_eq(xgt_read_mem(b.data, b.len, NULL, NULL, NULL), 0);
        }
        /* Inside every record header, and inside every record (padding included). */
        uint64_t seed = 0x7e57;
        for (size_t i = 0; i < offs.nr; i++) {
            uint64_t start = offs.off[i], end = i + 1 < offs.nr ? offs.off[i + 1] : offs.end;
            for (uint64_t k = 1; k < 8; k++)
                expect_truncated(b.data, start + k, "inside a record header");
            for (int r = 0; r < 4 && end - start > 9; r++) {
                seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
                uint64_t at = start + 8 + (seed >> 33) % (end - start - 8);
                struct xg_loc loc = expect_truncated(b.data, at, "inside a record");
                ck_assert(loc.has_rec_index && loc.rec_index == i);
            }
            if (end - start > 9)
                expect_truncated(b.data, end - 1, "at the last byte of a record");
        }
        xgt_offsets_free(&offs);
        xgt_buf_free(&b);
    }
}
END_TEST

START_TEST(test_trunc_gzip)
{
    struct xgt_sample_opts o = { .nr_pfns = 200 };
    struct xgt_buf b;
    xgt_buf_init(&b);
    xgt_stream_to_mem(true, xgt_sample_write_fn, &o, &b);
    /* Random cuts of the compressed file, the first 64 bytes, and the gzip trailer (CRC, size). */
    uint64_t seed = 42;
    for (int r = 0; r < 200; r++) {
        seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
        expect_truncated(b.data, (seed >> 33) % b.len, "gzip");
    }
    for (size_t len = 0; len < 64; len++)
        expect_truncated(b.data, len, "gzip header");
    for (size_t k = 1; k <= 8; k++)
        expect_truncated(b.data, b.len - k, "gzip trailer");
    ck_assert_int_eq(xgt_read_mem(b.data, b.len, NULL, NULL, NULL), 0);
    xgt_buf_free(&b);
}
END_TEST

/* gzip: CRC checked, members concatenated, nothing else after the data. */
START_TEST(test_gzip_framing)
{
    struct xgt_buf raw, gz, cat;
    xgt_buf_init(&raw);
    xgt_buf_init(&gz);
    xgt_buf_init(&cat);
    struct xgt_sample_opts o = { .nr_pfns = 100 };
    xgt_sample_mem(&o, XG_WRAP_NONE, &raw, NULL);
    /* Two members, split in the middle of a record: `cat a.gz b.gz`. */
    size_t half = raw.len / 2 + 3;
    xgt_gzip(raw.data, half, &cat);
    xgt_gzip(raw.data + half, raw.len - half, &cat);
    uint64_t nr = 0;
    struct xgt_rd t;
    xgt_rd_open(&t, cat.data, cat.len, NULL);
    ck_assert_int_eq(xgt_rd_drain(&t, &nr, NULL), 0);
    ck_assert(xg_stream_reader_info(t.r)->gzip);
    ck_assert_uint_eq(xg_stream_reader_offset(t.r), raw.len);
    xgt_rd_close(&t);

    /* A wrong CRC-32 or length in the gzip trailer. */
    xgt_gzip(raw.data, raw.len, &gz);
    for (size_t k = 8; k >= 1; k -= 4) {
        gz.data[gz.len - k] ^= 0x01;
        EXPECT_BAD(&gz, XG_E_CORRUPT);
        gz.data[gz.len - k] ^= 0x01;
    }
    ck_assert_int_eq(xgt_read_mem(gz.data, gz.len, NULL, NULL, NULL), 0);
    /* Garbage after the gzip data; data after END inside it. */
    xgt_buf_put(&gz, "junk", 4);
    EXPECT_BAD(&gz, XG_E_CORRUPT);
    xgt_buf_reset(&gz);
    xgt_buf_put(&raw, "12345678", 8);
    xgt_gzip(raw.data, raw.len, &gz);
    EXPECT_BAD(&gz, XG_E_CORRUPT);
    /* Corrupt deflate data. */
    xgt_buf_reset(&gz);
    xgt_gzip(raw.data, raw.len - 8, &gz);
    for (size_t i = 20; i < 40; i++)
        gz.data[i] ^= 0x5a;
    struct xgt_rd t2;
    xgt_rd_open(&t2, gz.data, gz.len, NULL);
    int rc = xgt_rd_drain(&t2, NULL, NULL);
    ck_assert_msg(rc < 0 && xg_diag_code(t2.d) == rc, "corrupt deflate data: %s", xg_err_name(rc));
    xgt_rd_close(&t2);
    xgt_buf_free(&raw);
    xgt_buf_free(&gz);
    xgt_buf_free(&cat);
}
END_TEST

/*
 * Damage anywhere: a verdict, never a crash (ASan and valgrind watch the
 * memory).  Bytes are changed at random, half of the time in the headers
 * or a record header, where the reader decides most.
 */
START_TEST(test_fuzz_bytes)
{
    struct xgt_sample_opts o = { .nr_pfns = 40, .batch = 16, .empty_blobs = true, .checkpoint = true,
                                 .extras = true };
    for (int w = XG_WRAP_NONE; w <= XG_WRAP_XL; w += XG_WRAP_XL) {
        struct xgt_buf b;
        struct xgt_offsets offs;
        xgt_buf_init(&b);
        xgt_sample_mem(&o, (enum xg_stream_wrapper)w, &b, &offs);
        uint64_t seed = 0xf00d + (uint64_t)w;
        unsigned ok = 0, bad = 0;
        for (int i = 0; i < 300; i++) {
            seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
            uint64_t r = seed >> 11;
            size_t at;
            if (r & 1)
                at = (size_t)((r >> 1) % b.len);
            else if (r & 2)
                at = (size_t)((r >> 2) % offs.headers_end);
            else
                at = (size_t)(offs.off[(r >> 2) % offs.nr] + (r >> 20) % 16);
            if (at >= b.len)
                at = b.len - 1;
            uint8_t old = b.data[at];
            uint8_t val = (r >> 40) & 1 ? (uint8_t)(old ^ (1U << ((r >> 41) % 8))) : (uint8_t)(r >> 48);
            b.data[at] = val;
            struct xgt_rd t;
            xgt_rd_open(&t, b.data, b.len, NULL);
            int rc = xgt_rd_drain(&t, NULL, NULL);
            if (rc == 0) {
                ok++;
            } else {
                const struct xg_finding *f = xg_diag_first_error(t.d);
                ck_assert_msg(f && f->code == rc && f->msg && f->msg[0],
                              "byte %zu set to %#x: %s without a matching finding", at, val, xg_err_name(rc));
                ck_assert_str_ne(xg_err_name(rc), "XG_E_UNKNOWN");
                bad++;
            }
            xgt_rd_close(&t);
            b.data[at] = old;
        }
        ck_assert_uint_gt(bad, 0);
        xgt_offsets_free(&offs);
        xgt_buf_free(&b);
    }
}
END_TEST

/* ------------------------------------------------------------ the reader's own contract */

START_TEST(test_read_after_end)
{
    struct xgt_buf b;
    pv_start(&b);
    xgt_put_record(&b, XG_REC_END, NULL, 0);
    xgt_put_record(&b, XG_REC_END, NULL, 0); /* there, but not to be read */
    struct xgt_rd t;
    xgt_rd_open(&t, b.data, b.len, NULL);
    struct xg_record rec;
    read_ok(&t, &rec, XG_REC_X86_PV_INFO);
    ck_assert_int_eq(xg_stream_read_trailer(t.r), XG_E_INVAL); /* not at END yet */
    xg_diag_clear(t.d);
    read_ok(&t, &rec, XG_REC_STATIC_DATA_END);
    read_ok(&t, &rec, XG_REC_END);
    ck_assert_int_eq(xg_stream_read(t.r, &rec), XG_E_INVAL);
    const struct xg_finding *f = xg_diag_first_error(t.d);
    ck_assert(f && f->code == XG_E_INVAL && f->msg && strstr(f->msg, "END"));
    /* And once failed, it stays failed. */
    ck_assert_int_eq(xg_stream_read(t.r, &rec), XG_E_INVAL);
    ck_assert_int_eq(xg_stream_read_trailer(t.r), XG_E_INVAL);
    xgt_rd_close(&t);

    /* Reading on after an error. */
    xgt_buf_reset(&b);
    xgt_put_headers(&b, 3, XG_DOMAIN_X86_PV);
    xgt_put_record(&b, 0x99, NULL, 0);
    xgt_put_record(&b, XG_REC_END, NULL, 0);
    xgt_rd_open(&t, b.data, b.len, NULL);
    ck_assert_int_eq(xg_stream_read(t.r, &rec), XG_E_UNSUPPORTED);
    ck_assert_int_eq(xg_stream_read(t.r, &rec), XG_E_INVAL);
    ck_assert_int_eq(xg_diag_code(t.d), XG_E_UNSUPPORTED); /* the first error is kept */
    xgt_rd_close(&t);
    xgt_buf_free(&b);
}
END_TEST

START_TEST(test_empty_and_short)
{
    struct xgt_buf b;
    xgt_buf_init(&b);
    EXPECT_BAD(&b, XG_E_TRUNCATED);
    /* Headers and nothing else. */
    xgt_put_headers(&b, 3, XG_DOMAIN_X86_PV);
    ASSERT_OFF(EXPECT_BAD(&b, XG_E_TRUNCATED), 40);
    /* Not an image at all. */
    xgt_buf_reset(&b);
    xgt_buf_put(&b, "#!/bin/sh\necho hello\n", 21);
    EXPECT_BAD(&b, XG_E_VERSION);
    xgt_buf_free(&b);
}
END_TEST

/* ------------------------------------------------------------ writer */

START_TEST(test_writer_refusals)
{
    xg_diag *d = xg_diag_new();
    int fd = xgt_tmpfd();
    xg_stream_writer *w = NULL;
    ck_assert_int_eq(xg_stream_writer_open(fd, NULL, d, &w), 0);
    /* A record before the headers. */
    ck_assert_int_eq(xg_stream_write_end(w), XG_E_INVAL);
    ck_assert_int_eq(xg_stream_write_headers(w, XG_DOMAIN_X86_PV, 4, 17), 0);
    ck_assert_int_eq(xg_stream_write_headers(w, XG_DOMAIN_X86_PV, 4, 17), XG_E_INVAL);
    /* Page batches: 0, over 1024, reserved type, reserved bits, NULL page. */
    uint64_t e[XG_MAX_BATCH + 1];
    for (unsigned i = 0; i <= XG_MAX_BATCH; i++)
        e[i] = xg_pd_entry(i, XG_PFINFO_XTAB);
    ck_assert_int_eq(xg_stream_write_page_data(w, 0, e, NULL), XG_E_INVAL);
    ck_assert_int_eq(xg_stream_write_page_data(w, XG_MAX_BATCH + 1, e, NULL), XG_E_INVAL);
    ck_assert_int_eq(xg_stream_write_page_data(w, XG_MAX_BATCH, e, NULL), 0);
    uint64_t bad = (5ULL << 60) | 1;
    ck_assert_int_eq(xg_stream_write_page_data(w, 1, &bad, NULL), XG_E_INVAL);
    bad = xg_pd_entry(1, XG_PFINFO_NOTAB) | (1ULL << 55);
    ck_assert_int_eq(xg_stream_write_page_data(w, 1, &bad, NULL), XG_E_INVAL);
    const void *nullpage = NULL;
    uint64_t one = xg_pd_entry(1, XG_PFINFO_NOTAB);
    ck_assert_int_eq(xg_stream_write_page_data(w, 1, &one, &nullpage), XG_E_INVAL);
    /* Not a vcpu record; over the record cap. */
    ck_assert_int_eq(xg_stream_write_vcpu(w, XG_REC_SHARED_INFO, 0, NULL, 0), XG_E_INVAL);
    uint8_t small[16] = { 0 };
    struct iovec big[2] = { { small, XG_REC_LENGTH_MAX }, { small, 1 } };
    ck_assert_int_eq(xg_stream_write_recordv(w, XG_REC_OPTIONAL | 1, big, 2), XG_E_INVAL);
    /* Everything refused left no trace: the file is the headers and one XTAB batch. */
    ck_assert_uint_eq(xg_stream_writer_bytes(w), 40 + 8 + 8 + 8 * XG_MAX_BATCH);
    ck_assert_int_eq(xg_stream_write_end(w), 0);
    ck_assert_int_eq(xg_stream_write_end(w), XG_E_INVAL); /* after END */
    ck_assert_int_eq(xg_stream_writer_close(w), 0);
    ck_assert_int_eq(xg_stream_writer_close(NULL), 0);
    for (size_t i = 0; i < xg_diag_count(d); i++) {
        const struct xg_finding *f = xg_diag_get(d, i);
        ck_assert(f->code == XG_E_INVAL && f->msg && f->msg[0]);
    }
    xg_diag_free(d);
    /* What it did write reads back. */
    struct xgt_buf b;
    xgt_buf_init(&b);
    ck_assert_int_eq(lseek(fd, 0, SEEK_SET), 0);
    ck_assert_int_eq(xgt_read_all(fd, &b), 0);
    close(fd);
    ck_assert_int_eq(xgt_read_mem(b.data, b.len, NULL, NULL, NULL), XG_E_CORRUPT); /* PAGE_DATA before PV_INFO */
    xgt_buf_free(&b);
}
END_TEST

/* The reader went away: XG_E_IO with EPIPE, then the writer refuses to go on. */
START_TEST(test_writer_epipe)
{
    for (int gz = 0; gz < 3; gz++) { /* 0: plain, 1: gzip, 2: plain from the writer's thread */
        int fds[2];
        ck_assert_int_eq(pipe(fds), 0);
        signal(SIGPIPE, SIG_IGN);
        close(fds[0]);
        xg_diag *d = xg_diag_new();
        xg_stream_writer *w = NULL;
        struct xg_stream_writer_opts o = { .gzip = gz == 1, .async = gz == 2 };
        ck_assert_int_eq(xg_stream_writer_open(fds[1], &o, d, &w), 0);
        int rc = xg_stream_write_headers(w, XG_DOMAIN_X86_PV, 4, 17);
        static uint8_t junk[1 << 20];
        for (int i = 0; rc == 0 && i < 64; i++)
            rc = xg_stream_write_record(w, XG_REC_OPTIONAL | 1, junk, sizeof(junk));
        bool closed = false;
        if (rc == 0) {
            /* gzip keeps 256 KiB of output: the failure comes with the final flush. */
            rc = xg_stream_writer_close(w);
            closed = true;
        } else {
            ck_assert_int_eq(xg_stream_write_end(w), XG_E_INVAL);
        }
        ck_assert_int_eq(rc, XG_E_IO);
        const struct xg_finding *f = xg_diag_first_error(d);
        ck_assert(f && f->code == XG_E_IO && f->sys_errno == EPIPE);
        if (gz != 1) {
            ck_assert(f->hint != NULL);
            ck_assert(f->loc.has_offset && f->loc.offset == 0); /* the headers, the first write */
            /* Once, and the refusal after it. */
            ck_assert_uint_eq(xg_diag_count(d), 1 + (closed ? 0 : 1));
        }
        if (!closed)
            xg_stream_writer_close(w);
        close(fds[1]);
        xg_diag_free(d);
    }
}
END_TEST

/* ------------------------------------------------------------ async writer */

/* PAGE_DATA records of pages in `pages`, each record waited for before its pages change. */
struct async_pages {
    uint8_t *pages;          /* 4 pages, rewritten between records */
    unsigned records;
};

static int async_pages_fn(xg_stream_writer *w, void *arg)
{
    struct async_pages *a = arg;
    int rc = xg_stream_write_headers(w, XG_DOMAIN_X86_PV, 4, 17);
    if (rc == 0)
        rc = xg_stream_write_pv_info(w, 8, 4);
    if (rc == 0)
        rc = xg_stream_write_record(w, XG_REC_STATIC_DATA_END, NULL, 0);
    for (unsigned r = 0; rc == 0 && r < a->records; r++) {
        uint64_t mark = xg_stream_writer_mark(w);
        if ((rc = xg_stream_writer_wait(w, mark)) < 0)
            break;
        /* Only now may the pages of the records before change.  Page i of record r holds 4r + i + 1. */
        for (unsigned i = 0; i < 4; i++)
            memset(a->pages + i * 4096, (int)((4 * r + i + 1) & 0xff), 4096);
        uint64_t e[5];
        const void *pg[4];
        for (unsigned i = 0; i < 5; i++)
            e[i] = xg_pd_entry(r * 5 + i, i == 2 ? XG_PFINFO_XTAB : XG_PFINFO_NOTAB);
        for (unsigned i = 0; i < 4; i++)
            pg[i] = a->pages + i * 4096;
        rc = xg_stream_write_page_data(w, 5, e, pg);
    }
    if (rc == 0)
        rc = xg_stream_write_end(w);
    return rc;
}

/* records of 4 data pages each (record r's pages hold r + 1), written to fd as o says. */
static void write_pages_stream(int fd, const struct xg_stream_writer_opts *o, unsigned records)
{
    struct async_pages a = { malloc(4 * 4096), records };
    ck_assert(a.pages != NULL);
    xg_diag *d = xg_diag_new();
    xg_stream_writer *w;
    ck_assert_int_eq(xg_stream_writer_open(fd, o, d, &w), 0);
    int rc = async_pages_fn(w, &a);
    if (rc == 0)
        rc = xg_stream_writer_finish(w);
    ck_assert_int_eq(xg_stream_writer_close(w), 0);
    if (rc)
        xg_diag_print(stderr, d, true);
    ck_assert_int_eq(rc, 0);
    xg_diag_free(d);
    free(a.pages);
}

static void write_async_pages(int fd, bool async, unsigned records)
{
    struct xg_stream_writer_opts o = { .async = async };
    write_pages_stream(fd, &o, records);
}

static int async_pipe_main(void *arg)
{
    int *fd = arg;
    write_async_pages(*fd, true, 300);
    close(*fd);
    return 0;
}

/*
 * The writer's thread writes the bytes the calling thread would, in order,
 * through a pipe read in small pieces (the queue fills and waits), and the
 * page contents of each record are the ones they had when it was queued.
 */
START_TEST(test_writer_async_same_bytes)
{
    int fd = xgt_tmpfd();
    write_async_pages(fd, false, 300);
    struct xgt_buf serial, piped;
    xgt_buf_init(&serial);
    xgt_buf_init(&piped);
    ck_assert_int_eq(lseek(fd, 0, SEEK_SET), 0);
    ck_assert_int_eq(xgt_read_all(fd, &serial), 0);
    close(fd);
    int fds[2];
    ck_assert_int_eq(pipe(fds), 0);
    struct xgt_thread *t = xgt_thread_start(async_pipe_main, &fds[1]);
    xgt_buf_zero(&piped, serial.len + 4096); /* room for all, and for more if it came */
    size_t got = 0;
    ssize_t n;
    while ((n = read(fds[0], piped.data + got, piped.len - got < 1000 ? piped.len - got : 1000)) > 0)
        got += (size_t)n;
    ck_assert_int_eq(n, 0);
    piped.len = got;
    ck_assert_int_eq(xgt_thread_join(t), 0);
    close(fds[0]);
    ck_assert_uint_eq(piped.len, serial.len);
    ck_assert(memcmp(piped.data, serial.data, serial.len) == 0);
    /* And the stream says what it should: record r's pages all hold r + 1. */
    struct xgt_rd rd;
    xgt_rd_open(&rd, piped.data, piped.len, NULL);
    ck_assert_int_eq(rd.open_rc, 0);
    struct xg_record rec;
    unsigned r = 0;
    do {
        ck_assert_int_eq(xg_stream_read(rd.r, &rec), 0);
        if (rec.type != XG_REC_PAGE_DATA)
            continue;
        ck_assert_uint_eq(rec.u.page_data.nr_data, 4);
        unsigned wrong = 0; /* one assertion per record: each ck_assert is a message to Check */
        for (unsigned i = 0; i < 4 * 4096; i++)
            wrong += rec.u.page_data.data[i] != ((4 * r + i / 4096 + 1) & 0xff);
        ck_assert_msg(wrong == 0, "record %u: %u bytes are not 4r + page + 1", r, wrong);
        r++;
    } while (rec.type != XG_REC_END);
    ck_assert_uint_eq(r, 300);
    xgt_rd_close(&rd);
    xgt_buf_free(&serial);
    xgt_buf_free(&piped);
}
END_TEST

/* ------------------------------------------------------------ deferred page contents */

/* The stream into a pipe in writes of 1000 bytes: the reader's readv() stops inside pages. */
static int pages_pipe_main(void *arg)
{
    int *fd = arg;
    int tmp = xgt_tmpfd();
    write_async_pages(tmp, false, 40);
    struct xgt_buf b;
    xgt_buf_init(&b);
    int rc = lseek(tmp, 0, SEEK_SET) == 0 ? xgt_read_all(tmp, &b) : -1;
    close(tmp);
    for (size_t off = 0; rc == 0 && off < b.len;) {
        size_t k = b.len - off < 1000 ? b.len - off : 1000;
        ssize_t n = write(*fd, b.data + off, k);
        if (n <= 0)
            rc = -1;
        else
            off += (size_t)n;
    }
    xgt_buf_free(&b);
    close(*fd);
    return rc ? 1 : 0;
}

/*
 * Read a stream of write_pages_stream's with the contents deferred: each
 * PAGE_DATA comes back without data, its 4 pages read straight into the
 * caller's pages, 1 then 3; every third record's left unread, which the
 * next read skips.  Asking for more than is left is refused.
 */
static void read_deferred(xg_stream_reader *r, unsigned records)
{
    xg__stream_defer_page_data(r, true);
    uint8_t *pg[4];
    for (unsigned i = 0; i < 4; i++)
        ck_assert((pg[i] = malloc(4096)) != NULL);
    struct xg_record rec;
    unsigned n = 0;
    do {
        ck_assert_int_eq(xg_stream_read(r, &rec), 0);
        if (rec.type != XG_REC_PAGE_DATA)
            continue;
        ck_assert(rec.u.page_data.data == NULL);
        ck_assert_uint_eq(rec.u.page_data.nr_data, 4);
        ck_assert_uint_eq(xg_pd_pfn(rec.u.page_data.pfn[4]), n * 5 + 4);
        if (n++ % 3 == 2)
            continue;
        for (unsigned i = 0; i < 4; i++)
            memset(pg[i], 0xee, 4096);
        ck_assert_int_eq(xg__stream_read_pages(r, pg, 1), 0);
        ck_assert_int_eq(xg__stream_read_pages(r, pg + 1, 3), 0);
        unsigned wrong = 0; /* page i of record r holds 4r + i + 1 */
        for (unsigned i = 0; i < 4; i++)
            for (unsigned b = 0; b < 4096; b++)
                wrong += pg[i][b] != ((4 * (n - 1) + i + 1) & 0xff);
        ck_assert_msg(wrong == 0, "record %u: %u bytes are not 4r + page + 1", n - 1, wrong);
        ck_assert_int_eq(xg__stream_read_pages(r, pg, 1), XG_E_INVAL);
    } while (rec.type != XG_REC_END);
    ck_assert_uint_eq(n, records);
    for (unsigned i = 0; i < 4; i++)
        free(pg[i]);
}

/* From a file (readv), a pipe (readv that stops short) and gzip (inflated into place). */
START_TEST(test_deferred_page_data)
{
    for (int gzip = 0; gzip < 2; gzip++) {
        int fd = xgt_tmpfd();
        struct xg_stream_writer_opts o = { .gzip = gzip };
        write_pages_stream(fd, &o, 40);
        ck_assert_int_eq(lseek(fd, 0, SEEK_SET), 0);
        struct xgt_rd rd;
        xgt_rd_open_fd(&rd, fd, NULL);
        ck_assert_int_eq(rd.open_rc, 0);
        read_deferred(rd.r, 40);
        xgt_rd_close(&rd);
        close(fd);
    }
    int fds[2];
    ck_assert_int_eq(pipe(fds), 0);
    struct xgt_thread *t = xgt_thread_start(pages_pipe_main, &fds[1]);
    struct xgt_rd rd;
    xgt_rd_open_fd(&rd, fds[0], NULL);
    ck_assert_int_eq(rd.open_rc, 0);
    read_deferred(rd.r, 40);
    xgt_rd_close(&rd);
    ck_assert_int_eq(xgt_thread_join(t), 0);
    close(fds[0]);
}
END_TEST

/* Cut inside a record's contents: the deferred read says so, naming the record. */
START_TEST(test_deferred_page_data_truncated)
{
    int fd = xgt_tmpfd();
    write_async_pages(fd, false, 3);
    struct xgt_buf b;
    xgt_buf_init(&b);
    ck_assert_int_eq(lseek(fd, 0, SEEK_SET), 0);
    ck_assert_int_eq(xgt_read_all(fd, &b), 0);
    close(fd);
    /* The last PAGE_DATA ends 16 bytes before END (8) and the 8 bytes of its header. */
    size_t cut = b.len - 16 - 4096 - 100;
    struct xgt_rd rd;
    xgt_rd_open(&rd, b.data, cut, NULL);
    ck_assert_int_eq(rd.open_rc, 0);
    xg__stream_defer_page_data(rd.r, true);
    struct xg_record rec;
    uint8_t *pg[4];
    for (unsigned i = 0; i < 4; i++)
        ck_assert((pg[i] = malloc(4096)) != NULL);
    unsigned records = 0;
    int rc = 0;
    while (rc == 0 && (rc = xg_stream_read(rd.r, &rec)) == 0)
        if (rec.type == XG_REC_PAGE_DATA && ++records == 3)
            rc = xg__stream_read_pages(rd.r, pg, 4);
    ck_assert_uint_eq(records, 3);
    ck_assert_int_eq(rc, XG_E_TRUNCATED);
    ck_assert(xgt_diag_has(rd.d, "image truncated: the PAGE_DATA page contents needs 16384 bytes"));
    for (unsigned i = 0; i < 4; i++)
        free(pg[i]);
    xgt_rd_close(&rd);
    xgt_buf_free(&b);
}
END_TEST

/* A full disk: ENOSPC with the offset and record of the write that failed, reported once. */
START_TEST(test_writer_async_enospc)
{
    int fd = open("/dev/full", O_WRONLY);
    if (fd < 0)
        return; /* no /dev/full in this sandbox */
    xg_diag *d = xg_diag_new();
    xg_stream_writer *w;
    struct xg_stream_writer_opts o = { .async = true };
    ck_assert_int_eq(xg_stream_writer_open(fd, &o, d, &w), 0);
    int rc = 0;
    for (int i = 0; rc == 0 && i < 100; i++)
        rc = i ? xg_stream_write_record(w, XG_REC_OPTIONAL | 1, "x", 1)
               : xg_stream_write_headers(w, XG_DOMAIN_X86_PV, 4, 17);
    if (rc == 0)
        rc = xg_stream_writer_finish(w);
    ck_assert_int_eq(rc, XG_E_IO);
    ck_assert_int_eq(xg_stream_writer_wait(w, xg_stream_writer_mark(w)), XG_E_IO);
    ck_assert_int_eq(xg_stream_writer_finish(w), 0); /* idempotent after the failure */
    ck_assert_int_eq(xg_stream_writer_close(w), 0);
    close(fd);
    ck_assert_uint_eq(xg_diag_count(d), 1);
    const struct xg_finding *f = xg_diag_first_error(d);
    ck_assert(f && f->code == XG_E_IO && f->sys_errno == ENOSPC);
    ck_assert(f->loc.has_offset && f->loc.offset == 0);
    ck_assert(f->hint && strstr(f->hint, "full"));
    xg_diag_free(d);
}
END_TEST

/* ------------------------------------------------------------ names */

START_TEST(test_names)
{
    ck_assert_str_eq(xg_stream_rec_name(XG_REC_END), "END");
    ck_assert_str_eq(xg_stream_rec_name(XG_REC_PAGE_DATA), "PAGE_DATA");
    ck_assert_str_eq(xg_stream_rec_name(XG_REC_X86_MSR_POLICY), "X86_MSR_POLICY");
    for (uint32_t t = 0; t < XG_REC__NR_KNOWN; t++)
        ck_assert(strstr(xg_stream_rec_name(t), "unknown") == NULL);
    ck_assert(strstr(xg_stream_rec_name(XG_REC__NR_KNOWN), "mandatory"));
    ck_assert(strstr(xg_stream_rec_name(XG_REC_OPTIONAL | 5), "optional"));
    ck_assert_str_eq(xg_pfinfo_name(XG_PFINFO_L4TAB | XG_PFINFO_LPINTAB), "L4TAB|LPINTAB");
    ck_assert_str_eq(xg_pfinfo_name(XG_PFINFO_XTAB), "XTAB");
    ck_assert_str_eq(xg_pfinfo_name(0x6U << 28), "reserved(0x6)");
    ck_assert_str_eq(xg_err_name(XG_E_TRUNCATED), "XG_E_TRUNCATED");
    ck_assert_str_eq(xg_err_name(-100), "XG_E_UNKNOWN");
    /* Page-type predicates, as the spec's table says. */
    for (uint32_t n = 0; n < 16; n++) {
        uint32_t t = n << 28;
        ck_assert(xg_pfinfo_known(t) == !(n >= 5 && n <= 8));
        ck_assert(xg_pfinfo_has_data(t) == (n <= 4 || (n >= 9 && n <= 12)));
        ck_assert(xg_pfinfo_populate(t) == (n <= 4 || (n >= 9 && n <= 12) || n == 0xe));
        uint64_t e = xg_pd_entry(0xabcdefULL, t);
        ck_assert_uint_eq(e >> 60, n);
        ck_assert_uint_eq(xg_pd_pfn(e), 0xabcdef);
        ck_assert_uint_eq(xg_pd_type(e), t);
    }
}
END_TEST

/* ------------------------------------------------------------ the real image */

static char *fixture_path(void)
{
    const char *src = getenv("XG_TEST_SRCDIR");
    if (!src || !*src)
        src = XG_TEST_SRCDIR;
    return xgt_path(src, "tests/data/linux64-4.17-xl.img.gz");
}

START_TEST(test_fixture_xl_417)
{
    char *path = fixture_path();
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    ck_assert_msg(fd >= 0, "cannot open the fixture %s: %s", path, strerror(errno));
    free(path);
    struct xgt_rd t;
    xgt_rd_open_fd(&t, fd, NULL);
    if (t.open_rc)
        xg_diag_print(stderr, t.d, true);
    ck_assert_int_eq(t.open_rc, 0);
    const struct xg_stream_info *info = xg_stream_reader_info(t.r);
    ck_assert(info->gzip);
    ck_assert_int_eq(info->wrapper, XG_WRAP_XL);
    ck_assert_uint_eq(info->libxl_version, 2);
    ck_assert_uint_eq(info->version, 3);
    ck_assert_uint_eq(info->domain_type, XG_DOMAIN_X86_PV);
    ck_assert_uint_eq(info->xen_major, 4);
    ck_assert_uint_eq(info->xen_minor, 17);
    ck_assert_uint_gt(info->xl_config_len, 0);

    struct xg_record rec;
    uint64_t nr = 0, entries = 0, by_type[16] = { 0 }, basic = 0;
    uint32_t cr3_level = 0;
    int rc;
    while ((rc = xg_stream_read(t.r, &rec)) == 0) {
        nr++;
        if (rec.type == XG_REC_PAGE_DATA) {
            for (uint32_t i = 0; i < rec.u.page_data.count; i++) {
                uint64_t e = rec.u.page_data.pfn[i];
                by_type[xg_pd_type(e) >> 28]++;
                if (xg_pd_pfn(e) == 0x2a10)
                    cr3_level = xg_pd_type(e);
            }
            entries += rec.u.page_data.count;
        } else if (rec.type == XG_REC_X86_PV_VCPU_BASIC) {
            basic++;
            ck_assert_uint_eq(rec.u.vcpu.size, VCPU64);
        } else if (rec.type == XG_REC_END) {
            break;
        }
    }
    if (rc)
        xg_diag_print(stderr, t.d, true);
    ck_assert_int_eq(rc, 0);
    ck_assert_int_eq(xg_stream_read_trailer(t.r), 0);
    ck_assert_uint_eq(nr, 42);
    ck_assert_uint_eq(entries, 32768);
    ck_assert_uint_eq(basic, 1);
    /* As the fixture's README counts them. */
    ck_assert_uint_eq(by_type[0x0], 32584);
    ck_assert_uint_eq(by_type[0x1] + by_type[0x9], 88);
    ck_assert_uint_eq(by_type[0x9], 48);
    ck_assert_uint_eq(by_type[0x2] + by_type[0xa], 14);
    ck_assert_uint_eq(by_type[0x3] + by_type[0xb], 75);
    ck_assert_uint_eq(by_type[0xb], 1);
    ck_assert_uint_eq(by_type[0xc], 7);
    ck_assert_uint_eq(by_type[0x4], 0);
    ck_assert_uint_eq(cr3_level, XG_PFINFO_L4TAB | XG_PFINFO_LPINTAB);
    xgt_rd_close(&t);
    close(fd);
}
END_TEST

/* ------------------------------------------------------------ suite */

static Suite *stream_suite(void)
{
    Suite *s = suite_create("stream");
    struct {
        const char *name;
        const TTest *test;
        double timeout;
    } cases[] = {
        { "roundtrip_pv64", test_rt_pv64, 0 },
        { "roundtrip_pv32", test_rt_pv32, 0 },
        { "roundtrip_gzip", test_rt_gzip, 0 },
        { "roundtrip_pipe", test_rt_pipe, 0 },
        { "roundtrip_sample", test_rt_sample, 0 },
        { "roundtrip_hvm", test_rt_hvm, 0 },
        { "roundtrip_v2", test_rt_v2, 0 },
        { "wrapper_xl", test_wrap_xl, 0 },
        { "wrapper_libxl", test_wrap_libxl, 0 },
        { "wrapper_raw_only", test_wrap_raw_only, 0 },
        { "wrapper_no_overread", test_wrap_no_overread, 0 },
        { "wrapper_malformed", test_wrap_bad, 0 },
        { "bad_image_header", test_bad_image_header, 0 },
        { "bad_domain_header", test_bad_domain_header, 0 },
        { "bad_padding", test_bad_padding, 0 },
        { "bad_unknown_mandatory", test_bad_unknown_mandatory, 0 },
        { "bad_page_data", test_bad_page_data, 0 },
        { "bad_order", test_bad_order, 0 },
        { "bad_sizes", test_bad_sizes, 0 },
        { "bad_length", test_bad_length, 0 },
        { "bad_length_rlimit", test_bad_length_rlimit, 0 },
        { "truncated_headers", test_trunc_headers, 0 },
        { "truncated_records", test_trunc_boundaries, 120 },
        { "truncated_gzip", test_trunc_gzip, 60 },
        { "gzip_framing", test_gzip_framing, 0 },
        { "fuzz_bytes", test_fuzz_bytes, 60 },
        { "read_after_end", test_read_after_end, 0 },
        { "empty_and_short", test_empty_and_short, 0 },
        { "writer_refusals", test_writer_refusals, 0 },
        { "writer_epipe", test_writer_epipe, 0 },
        { "writer_async_same_bytes", test_writer_async_same_bytes, 0 },
        { "writer_async_enospc", test_writer_async_enospc, 0 },
        { "deferred_page_data", test_deferred_page_data, 0 },
        { "deferred_page_data_truncated", test_deferred_page_data_truncated, 0 },
        { "names", test_names, 0 },
        { "fixture_xl_417", test_fixture_xl_417, 120 },
    };
    double scale = under_valgrind() ? 20 : under_sanitizer() ? 4 : 1;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        TCase *tc = tcase_create(cases[i].name);
        tcase_set_timeout(tc, (cases[i].timeout ? cases[i].timeout : 30) * scale);
        tcase_add_test(tc, cases[i].test);
        suite_add_tcase(s, tc);
    }
    return s;
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    SRunner *sr = srunner_create(stream_suite());
    srunner_run_all(sr, CK_ENV);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
