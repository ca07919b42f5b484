/*
 * test_legacy.c - the reader's view of legacy (pre-Xen 4.6) PV images:
 * hand-built legacy bytes come out as the v2 records Xen's own
 * convert-legacy-stream makes of them, and every malformed or cut-short
 * image is refused with the right error, never a crash.
 *
 * tests/stream/legacy.sh checks the same reader end to end, against Xen's
 * converter, on images of simulated guests.
 */
#include "config.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "pv/abi.h"
#include "stream/stream_private.h"
#include "testutil.h"
#include "xg/xg.h"

/* How to build one legacy image; the defaults make a valid 64-bit one. */
struct lg {
    unsigned word;            /* toolstack word: 8 or 4 */
    unsigned basic;           /* vcpu context size: 5168 (64-bit guest) or 2800 */
    uint64_t p2m_size;
    bool extv;                /* extended vcpu contexts */
    uint32_t xcnt;            /* xsave size announced (0: none) */
    uint64_t xsave_size;      /* xsave size in the tail (default xcnt - 16) */
    unsigned nr_online;       /* vcpus 0..n-1 online via a VCPU_INFO chunk (0: no chunk) */
    bool tsc, verify_chunk, toolstack_chunk;
    int32_t extra_chunk;      /* a marker chunk to add (0: none) */
    unsigned batch;           /* entries in the page batch (default 4) */
    bool dup_pfn, high_bits, xtab_filler;
    unsigned unmapped;
    const char *unknown_block; /* an extra extended-info block id */
};

static void word(struct xgt_buf *b, const struct lg *o, uint64_t v)
{
    if (o->word == 4)
        xgt_buf_le32(b, (uint32_t)v);
    else
        xgt_buf_le64(b, v);
}

/* Entry i of the batch: pfn 2i, types NOTAB, L1TAB, L2TAB|LPINTAB... (pfn 6 is pinned L4). */
static uint64_t batch_word(unsigned i)
{
    static const uint32_t types[] = { 0, 0x10000000U, 0xa0000000U, 0xc0000000U, 0xf0000000U };
    return types[i % 5] | (2ULL * i);
}

static void build(struct xgt_buf *b, struct lg o)
{
    if (!o.word)
        o.word = 8;
    if (!o.basic)
        o.basic = XG_VCPU_CTX64_SIZE;
    if (!o.p2m_size)
        o.p2m_size = 64;
    if (!o.batch)
        o.batch = 4;
    if (o.xcnt && !o.xsave_size)
        o.xsave_size = o.xcnt - 16;
    word(b, &o, o.p2m_size);
    word(b, &o, o.word == 8 ? ~0ULL : 0xffffffffULL);
    uint32_t total = 8 + o.basic + (o.extv ? 8 : 0) + (o.xcnt ? 16 : 0) + (o.unknown_block ? 12 : 0);
    xgt_buf_le32(b, total);
    xgt_buf_put(b, "vcpu", 4);
    xgt_buf_le32(b, o.basic);
    uint8_t *ctx = calloc(1, o.basic);
    xgt_fill(ctx, o.basic, 0);
    xgt_buf_put(b, ctx, o.basic);
    if (o.extv) {
        xgt_buf_put(b, "extv", 4);
        xgt_buf_le32(b, 0);
    }
    if (o.xcnt) {
        xgt_buf_put(b, "xcnt", 4);
        xgt_buf_le32(b, 8);
        xgt_buf_le64(b, o.xcnt);
    }
    if (o.unknown_block) {
        xgt_buf_put(b, o.unknown_block, 4);
        xgt_buf_le32(b, 4);
        xgt_buf_le32(b, 0x12345678);
    }
    unsigned width = o.basic == XG_VCPU_CTX64_SIZE ? 8 : 4;
    uint64_t frames = (o.p2m_size - 1) / (4096 / width) + 1;
    for (uint64_t i = 0; i < frames; i++)
        word(b, &o, 40 + i);
    if (o.tsc) {
        xgt_buf_le32(b, (uint32_t)-7);
        xgt_buf_le32(b, 1);                  /* mode */
        xgt_buf_le64(b, 123456789ULL);       /* nsec */
        xgt_buf_le32(b, 2400000);            /* khz */
        xgt_buf_le32(b, 3);                  /* incarnation */
    }
    if (o.verify_chunk)
        xgt_buf_le32(b, (uint32_t)-1);
    if (o.toolstack_chunk) {
        xgt_buf_le32(b, (uint32_t)-18);
        xgt_buf_le32(b, 5);
        xgt_buf_put(b, "abcde", 5);
    }
    if (o.nr_online) {
        xgt_buf_le32(b, (uint32_t)-2);
        xgt_buf_le32(b, o.nr_online - 1);
        for (unsigned w = 0; w <= (o.nr_online - 1) / 64; w++) {
            uint64_t map = 0;
            for (unsigned i = 0; i < 64 && w * 64 + i < o.nr_online; i++)
                map |= 1ULL << i;
            xgt_buf_le64(b, map);
        }
    }
    if (o.extra_chunk)
        xgt_buf_le32(b, (uint32_t)o.extra_chunk);
    /* One page batch. */
    xgt_buf_le32(b, o.batch + (o.xtab_filler ? 1 : 0));
    unsigned with_data = 0;
    for (unsigned i = 0; i < o.batch; i++) {
        uint64_t w = batch_word(i);
        if (o.dup_pfn && i == o.batch - 1)
            w = batch_word(0);
        if (o.high_bits && i == 1)
            w |= 1ULL << 40;
        word(b, &o, w);
        if ((w & 0xf0000000U) < 0xd0000000U)
            with_data++;
        if (o.xtab_filler && i == 0)
            word(b, &o, 0xf0000000U);
    }
    for (unsigned i = 0; i < with_data; i++) {
        uint8_t page[4096];
        xgt_fill_page(page, i, 9);
        xgt_buf_put(b, page, sizeof(page));
    }
    xgt_buf_le32(b, 0); /* end of chunks */
    xgt_buf_le32(b, o.unmapped);
    for (unsigned i = 0; i < o.unmapped; i++)
        word(b, &o, o.p2m_size - 1 - i);
    for (unsigned v = 0; v < (o.nr_online ? o.nr_online : 1); v++) {
        xgt_fill(ctx, o.basic, v);
        xgt_buf_put(b, ctx, o.basic);
        if (o.extv)
            xgt_buf_zero(b, 128);
        if (o.xcnt) {
            xgt_buf_le64(b, 7);
            xgt_buf_le64(b, o.xsave_size);
            xgt_buf_zero(b, o.xsave_size);
        }
    }
    free(ctx);
    uint8_t shinfo[4096];
    xgt_fill(shinfo, sizeof(shinfo), 77);
    xgt_buf_put(b, shinfo, sizeof(shinfo));
}

static void read_ok(struct xgt_rd *t, struct xg_record *rec, uint32_t type)
{
    int rc = xg_stream_read(t->r, rec);
    if (rc < 0)
        xg_diag_print(stderr, t->d, true);
    ck_assert_msg(rc == 0, "reading %s: %s", xg_stream_rec_name(type), xg_err_name(rc));
    ck_assert_msg(rec->type == type, "got %s, expected %s", xg_stream_rec_name(rec->type), xg_stream_rec_name(type));
}

/* Read a whole legacy image that must be refused with code; returns the first finding's message. */
static char *expect_bad_at(const char *file, int line, const struct xgt_buf *b, int code)
{
    char *msg = NULL;
    int rc = xgt_read_mem(b->data, b->len, NULL, NULL, &msg);
    ck_assert_msg(rc == code, "%s:%d: expected %s, got %s (%s)", file, line, xg_err_name(code), xg_err_name(rc),
                  msg ? msg : "no message");
    ck_assert_msg(msg && msg[0], "%s:%d: no message", file, line);
    return msg;
}
#define EXPECT_BAD(b, code) free(expect_bad_at(__FILE__, __LINE__, (b), (code)))
#define EXPECT_BAD_MSG(b, code, text)                                                             \
    do {                                                                                          \
        char *m_ = expect_bad_at(__FILE__, __LINE__, (b), (code));                                \
        ck_assert_msg(strstr(m_, (text)) != NULL, "message \"%s\" lacks \"%s\"", m_, (text));     \
        free(m_);                                                                                 \
    } while (0)

/* ------------------------------------------------------------ reading */

/* The records of a 64-bit toolstack's image, field by field, as convert-legacy-stream makes them. */
START_TEST(test_legacy_64_records)
{
    struct xgt_buf b;
    xgt_buf_init(&b);
    build(&b, (struct lg){ .tsc = true, .verify_chunk = true, .toolstack_chunk = true, .xtab_filler = true,
                           .unmapped = 3, .batch = 5 });
    struct xgt_rd t;
    xgt_rd_open(&t, b.data, b.len, NULL);
    ck_assert_int_eq(t.open_rc, 0);
    const struct xg_stream_info *in = xg_stream_reader_info(t.r);
    ck_assert(in->legacy);
    ck_assert_uint_eq(in->legacy_toolstack_bits, 64);
    ck_assert_uint_eq(in->domain_type, XG_DOMAIN_X86_PV);
    ck_assert_uint_eq(in->version, 3);
    ck_assert_uint_eq(in->xen_major, 0);
    ck_assert_uint_eq(in->xen_minor, 1);
    ck_assert_uint_eq(in->wrapper, XG_WRAP_NONE);

    struct xg_record rec;
    read_ok(&t, &rec, XG_REC_X86_PV_INFO);
    ck_assert_uint_eq(rec.u.pv_info.guest_width, 8);
    ck_assert_uint_eq(rec.u.pv_info.pt_levels, 4);
    read_ok(&t, &rec, XG_REC_STATIC_DATA_END);
    read_ok(&t, &rec, XG_REC_X86_PV_P2M_FRAMES);
    ck_assert_uint_eq(rec.u.p2m_frames.start_pfn, 0);
    ck_assert_uint_eq(rec.u.p2m_frames.end_pfn, 63);
    ck_assert_uint_eq(rec.u.p2m_frames.nr, 1);
    ck_assert_uint_eq(rec.u.p2m_frames.pfn[0], 40);
    read_ok(&t, &rec, XG_REC_X86_TSC_INFO);
    ck_assert_uint_eq(rec.u.tsc.mode, 1);
    ck_assert_uint_eq(rec.u.tsc.khz, 2400000);
    ck_assert_uint_eq(rec.u.tsc.nsec, 123456789ULL);
    ck_assert_uint_eq(rec.u.tsc.incarnation, 3);
    read_ok(&t, &rec, XG_REC_VERIFY);
    /* The batch: the 0xf0000000 filler dropped, types moved to bits 60-63. */
    read_ok(&t, &rec, XG_REC_PAGE_DATA);
    ck_assert_uint_eq(rec.u.page_data.count, 5);
    for (unsigned i = 0; i < 5; i++) {
        ck_assert_uint_eq(xg_pd_pfn(rec.u.page_data.pfn[i]), 2 * i);
        ck_assert_uint_eq(xg_pd_type(rec.u.page_data.pfn[i]), batch_word(i) & 0xf0000000U);
    }
    ck_assert_uint_eq(rec.u.page_data.nr_data, 4); /* the XTAB entry has none */
    uint8_t page[4096];
    for (unsigned i = 0; i < 4; i++) {
        xgt_fill_page(page, i, 9);
        ck_assert(memcmp(rec.u.page_data.data + 4096 * i, page, 4096) == 0);
    }
    read_ok(&t, &rec, XG_REC_X86_PV_VCPU_BASIC);
    ck_assert_uint_eq(rec.u.vcpu.vcpu_id, 0);
    ck_assert_uint_eq(rec.u.vcpu.size, XG_VCPU_CTX64_SIZE);
    uint8_t *ctx = malloc(XG_VCPU_CTX64_SIZE);
    xgt_fill(ctx, XG_VCPU_CTX64_SIZE, 0);
    ck_assert(memcmp(rec.u.vcpu.ctx, ctx, XG_VCPU_CTX64_SIZE) == 0);
    free(ctx);
    read_ok(&t, &rec, XG_REC_SHARED_INFO);
    uint8_t shinfo[4096];
    xgt_fill(shinfo, sizeof(shinfo), 77);
    ck_assert(memcmp(rec.u.blob.data, shinfo, 4096) == 0);
    read_ok(&t, &rec, XG_REC_END);
    ck_assert_int_eq(xg_stream_read_trailer(t.r), 0);
    /* All of the file was read, and no more. */
    ck_assert_uint_eq(xg_stream_reader_offset(t.r), b.len);
    xgt_rd_close(&t);
    xgt_buf_free(&b);
}
END_TEST

/* A 32-bit toolstack (4-byte words) and a 32-bit guest: width 4, 3 levels. */
START_TEST(test_legacy_32)
{
    struct xgt_buf b;
    xgt_buf_init(&b);
    build(&b, (struct lg){ .word = 4, .basic = XG_VCPU_CTX32_SIZE, .p2m_size = 3000 });
    struct xgt_rd t;
    xgt_rd_open(&t, b.data, b.len, NULL);
    ck_assert_int_eq(t.open_rc, 0);
    ck_assert_uint_eq(xg_stream_reader_info(t.r)->legacy_toolstack_bits, 32);
    struct xg_record rec;
    read_ok(&t, &rec, XG_REC_X86_PV_INFO);
    ck_assert_uint_eq(rec.u.pv_info.guest_width, 4);
    ck_assert_uint_eq(rec.u.pv_info.pt_levels, 3);
    read_ok(&t, &rec, XG_REC_STATIC_DATA_END);
    read_ok(&t, &rec, XG_REC_X86_PV_P2M_FRAMES);
    ck_assert_uint_eq(rec.u.p2m_frames.end_pfn, 2999);
    ck_assert_uint_eq(rec.u.p2m_frames.nr, 3); /* 1024 four-byte entries per frame */
    ck_assert_uint_eq(rec.u.p2m_frames.pfn[2], 42);
    read_ok(&t, &rec, XG_REC_PAGE_DATA);
    read_ok(&t, &rec, XG_REC_X86_PV_VCPU_BASIC);
    ck_assert_uint_eq(rec.u.vcpu.size, XG_VCPU_CTX32_SIZE);
    read_ok(&t, &rec, XG_REC_SHARED_INFO);
    read_ok(&t, &rec, XG_REC_END);
    xgt_rd_close(&t);
    xgt_buf_free(&b);
}
END_TEST

/* Online vcpus from VCPU_INFO, with extended and xsave contexts each. */
START_TEST(test_legacy_vcpus)
{
    struct xgt_buf b;
    xgt_buf_init(&b);
    build(&b, (struct lg){ .nr_online = 70, .extv = true, .xcnt = 16 + 832 });
    struct xgt_rd t;
    xgt_rd_open(&t, b.data, b.len, NULL);
    ck_assert_int_eq(t.open_rc, 0);
    struct xg_record rec;
    read_ok(&t, &rec, XG_REC_X86_PV_INFO);
    read_ok(&t, &rec, XG_REC_STATIC_DATA_END);
    read_ok(&t, &rec, XG_REC_X86_PV_P2M_FRAMES);
    read_ok(&t, &rec, XG_REC_PAGE_DATA);
    for (unsigned v = 0; v < 70; v++) {
        read_ok(&t, &rec, XG_REC_X86_PV_VCPU_BASIC);
        ck_assert_uint_eq(rec.u.vcpu.vcpu_id, v);
        read_ok(&t, &rec, XG_REC_X86_PV_VCPU_EXTENDED);
        ck_assert_uint_eq(rec.u.vcpu.vcpu_id, v);
        ck_assert_uint_eq(rec.u.vcpu.size, 128);
        read_ok(&t, &rec, XG_REC_X86_PV_VCPU_XSAVE);
        ck_assert_uint_eq(rec.u.vcpu.vcpu_id, v);
        ck_assert_uint_eq(rec.u.vcpu.size, 832);
    }
    read_ok(&t, &rec, XG_REC_SHARED_INFO);
    read_ok(&t, &rec, XG_REC_END);
    xgt_rd_close(&t);
    xgt_buf_free(&b);
}
END_TEST

/* Inside gzip, inside xl (no STREAMv2) and inside xend's header: the same records. */
START_TEST(test_legacy_wrapped)
{
    struct xgt_buf raw, b, z;
    xgt_buf_init(&raw);
    xgt_buf_init(&b);
    xgt_buf_init(&z);
    build(&raw, (struct lg){ 0 });
    uint64_t nr_plain, pages_plain, nr, pages;
    struct xgt_rd t;
    xgt_rd_open(&t, raw.data, raw.len, NULL);
    ck_assert_int_eq(xgt_rd_drain(&t, &nr_plain, &pages_plain), 0);
    xgt_rd_close(&t);
    ck_assert_uint_eq(nr_plain, 7);

    static const char cfg[] = "name = \"old\"\n";
    xgt_put_xl_header(&b, 0, cfg, sizeof(cfg));
    xgt_buf_put(&b, raw.data, raw.len);
    xgt_gzip(b.data, b.len, &z);
    xgt_rd_open(&t, z.data, z.len, NULL);
    ck_assert_int_eq(t.open_rc, 0);
    ck_assert_uint_eq(xg_stream_reader_info(t.r)->wrapper, XG_WRAP_XL);
    ck_assert(xg_stream_reader_info(t.r)->gzip);
    ck_assert(xg_stream_reader_info(t.r)->legacy);
    ck_assert_int_eq(xgt_rd_drain(&t, &nr, &pages), 0);
    ck_assert_uint_eq(nr, nr_plain);
    ck_assert_uint_eq(pages, pages_plain);
    xgt_rd_close(&t);

    static const char sxp[] = "(domain (name old))";
    xgt_buf_reset(&b);
    xgt_buf_put(&b, "LinuxGuestRecord", 16);
    xgt_buf_be32(&b, sizeof(sxp));
    xgt_buf_put(&b, sxp, sizeof(sxp));
    xgt_buf_put(&b, raw.data, raw.len);
    xgt_rd_open(&t, b.data, b.len, NULL);
    ck_assert_int_eq(t.open_rc, 0);
    ck_assert_uint_eq(xg_stream_reader_info(t.r)->wrapper, XG_WRAP_XEND);
    ck_assert_int_eq(xgt_rd_drain(&t, &nr, &pages), 0);
    ck_assert_uint_eq(nr, nr_plain);
    ck_assert_uint_eq(xg_stream_reader_offset(t.r), b.len);
    xgt_rd_close(&t);

    /* libxl hands its helper a bare libxc stream: a legacy one is refused there. */
    struct xg_stream_reader_opts raw_only = { .raw_only = true };
    xgt_rd_open(&t, raw.data, raw.len, &raw_only);
    ck_assert_int_eq(t.open_rc, XG_E_UNSUPPORTED);
    xgt_rd_close(&t);
    xgt_buf_free(&raw);
    xgt_buf_free(&b);
    xgt_buf_free(&z);
}
END_TEST

/* ------------------------------------------------------------ refusing */

/* Every prefix of a valid image is refused as truncated, with its place. */
START_TEST(test_legacy_every_truncation)
{
    struct xgt_buf b;
    xgt_buf_init(&b);
    build(&b, (struct lg){ .tsc = true, .nr_online = 2, .extv = true, .xcnt = 64, .batch = 3, .unmapped = 2 });
    /* Below 8 bytes the file is not recognisable as anything. */
    for (size_t len = 8; len < b.len; len += (len < 300 || b.len - len < 5000) ? 1 : 97) {
        char *msg = NULL;
        int rc = xgt_read_mem(b.data, len, NULL, NULL, &msg);
        ck_assert_msg(rc == XG_E_TRUNCATED, "prefix of %zu/%zu bytes: %s (%s)", len, b.len, xg_err_name(rc),
                      msg ? msg : "");
        free(msg);
    }
    xgt_buf_free(&b);
}
END_TEST

START_TEST(test_legacy_refused)
{
    struct xgt_buf b;
    xgt_buf_init(&b);
#define CASE(code, text, ...)                                                                     \
    do {                                                                                          \
        xgt_buf_reset(&b);                                                                        \
        build(&b, (struct lg){ __VA_ARGS__ });                                                    \
        EXPECT_BAD_MSG(&b, code, text);                                                           \
    } while (0)
    CASE(XG_E_CORRUPT, "appears twice", .dup_pfn = true);
    CASE(XG_E_CORRUPT, "bits above 31", .high_bits = true);
    CASE(XG_E_CORRUPT, "exceeds the maximum", .batch = 1025);
    CASE(XG_E_CORRUPT, "neither a 64-bit", .basic = 4000);
    CASE(XG_E_CORRUPT, "xsave area of", .xcnt = 80, .xsave_size = 40);
    CASE(XG_E_CORRUPT, "unknown chunk -99", .extra_chunk = -99);
    CASE(XG_E_CORRUPT, "HVM", .extra_chunk = -3);
    CASE(XG_E_UNSUPPORTED, "tmem", .extra_chunk = -5);
    CASE(XG_E_UNSUPPORTED, "compressed", .extra_chunk = -12);
    CASE(XG_E_CORRUPT, "unmapped pfns", .p2m_size = 2, .unmapped = 3);
#undef CASE

    /* A reserved page type in a batch. */
    xgt_buf_reset(&b);
    build(&b, (struct lg){ 0 });
    size_t batch_at = 8 + 8 + 4 + 8 + XG_VCPU_CTX64_SIZE + 8 + 4; /* ... p2m frame list, batch count */
    ck_assert_uint_eq(xg__le32(b.data + batch_at - 4), 4);
    xgt_buf_set_le64(&b, batch_at, 0x50000000ULL | 2);
    EXPECT_BAD_MSG(&b, XG_E_CORRUPT, "reserved type");

    /* An extended-info block running past its section. */
    xgt_buf_reset(&b);
    build(&b, (struct lg){ 0 });
    xgt_buf_set_le32(&b, 16, 20); /* total: less than the vcpu block */
    EXPECT_BAD_MSG(&b, XG_E_CORRUPT, "overruns");

    /* Regression (issue 12): a section too short for even one block header. Its
     * length went from 5176 to 4; the whole vcpu block was read past it and the
     * image was restored without a word. */
    xgt_buf_reset(&b);
    build(&b, (struct lg){ 0 });
    ck_assert_uint_eq(xg__le32(b.data + 16), 8 + XG_VCPU_CTX64_SIZE);
    xgt_buf_set_le32(&b, 16, 4);
    EXPECT_BAD_MSG(&b, XG_E_CORRUPT, "ends inside a block header");
    /* ... and one whose last block header does not fit after a whole block. */
    xgt_buf_reset(&b);
    build(&b, (struct lg){ 0 });
    xgt_buf_set_le32(&b, 16, 8 + XG_VCPU_CTX64_SIZE + 5);
    EXPECT_BAD_MSG(&b, XG_E_CORRUPT, "ends inside a block header");

    /* Regression (issue 12): an 84-byte file whose 4-byte section holds a block header
     * announcing ~4 GiB. Once so_far had passed total, total - so_far wrapped and the
     * reader asked for the 4 GiB; it must be refused as corrupt before any allocation. */
    xgt_buf_reset(&b);
    xgt_buf_le64(&b, 64);
    xgt_buf_le64(&b, ~0ULL);
    xgt_buf_le32(&b, 4);
    xgt_buf_put(&b, "vcpu", 4);
    xgt_buf_le32(&b, 0xfffffff0U);
    xgt_buf_zero(&b, 56);
    ck_assert_uint_eq(b.len, 84);
    EXPECT_BAD_MSG(&b, XG_E_CORRUPT, "ends inside a block header");

    /* No extended-info marker: an HVM image, or a pre-3.0 PV one. */
    xgt_buf_reset(&b);
    build(&b, (struct lg){ 0 });
    xgt_buf_set_le64(&b, 8, 0x1000);
    EXPECT_BAD_MSG(&b, XG_E_UNSUPPORTED, "HVM");

    /* VCPU_INFO with a max id out of range. */
    xgt_buf_reset(&b);
    build(&b, (struct lg){ .nr_online = 1 });
    size_t vi = 8 + 8 + 4 + 8 + XG_VCPU_CTX64_SIZE + 8;
    ck_assert_uint_eq(xg__le32(b.data + vi), (uint32_t)-2);
    xgt_buf_set_le32(&b, vi + 4, 5000);
    EXPECT_BAD_MSG(&b, XG_E_CORRUPT, "max id");

    /* An unknown extended-info block is skipped, as Xen 3.x's restore did. */
    xgt_buf_reset(&b);
    build(&b, (struct lg){ .unknown_block = "abcd" });
    ck_assert_int_eq(xgt_read_mem(b.data, b.len, NULL, NULL, NULL), 0);

    /* The first eight bytes are neither v2 nor a plausible legacy start. */
    static const uint8_t junk[][16] = {
        { 0, 0, 0, 0, 0, 0, 0, 0 },                        /* p2m_size 0 */
        { 0, 0, 0, 0x20, 0, 0, 0, 0 },                     /* 2^29 pfns: beyond 28 bits */
        { 1, 2, 3, 4, 5, 6, 7, 8 },                        /* neither word size */
        { 'h', 'e', 'l', 'l', 'o', ' ', 'w', 'o' },
    };
    for (unsigned i = 0; i < sizeof(junk) / sizeof(junk[0]); i++) {
        char *msg = NULL;
        int rc = xgt_read_mem(junk[i], sizeof(junk[i]), NULL, NULL, &msg);
        ck_assert_msg(rc == XG_E_VERSION, "junk %u: %s (%s)", i, xg_err_name(rc), msg ? msg : "");
        ck_assert(strstr(msg, "not a Xen save image"));
        free(msg);
    }
    xgt_buf_free(&b);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("legacy");
    TCase *tc = tcase_create("legacy");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_legacy_64_records);
    tcase_add_test(tc, test_legacy_32);
    tcase_add_test(tc, test_legacy_vcpus);
    tcase_add_test(tc, test_legacy_wrapped);
    tcase_add_test(tc, test_legacy_every_truncation);
    tcase_add_test(tc, test_legacy_refused);
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
