/*
 * xg-legacy-write - turn a v2 image of an x86 PV guest into a legacy
 * (pre-Xen 4.6) one, for tests: there are no old images to download, so
 * the legacy reader is tested on what this writes, and this writer is
 * checked against Xen's own reader of the legacy format
 * (convert-legacy-stream, see tests/stream/legacy.sh).
 *
 *   xg-legacy-write IN OUT [--bits 32|64] [--wrap none|xl|xend]
 *                          [--unmapped N] [--xtab-pad]
 *
 * The layout is the one Xen 3.x/4.x's xc_domain_save wrote: p2m_size, the
 * extended info ("vcpu", "extv", "xcnt"), the p2m frame list, chunks (TSC
 * info, vcpu map, page batches of type|pfn words), the end marker, then
 * the tail (unmapped pfns, each vcpu's contexts, shared info).  "unsigned
 * long" is --bits wide.  --unmapped lists N bogus unmapped pfns in the
 * tail, and --xtab-pad puts the 0xf0000000 fillers the old saver left in
 * batches, as real old images have them.  --wrap adds the pre-4.6 xl
 * save-file header (no STREAMv2 flag) or xend's "LinuxGuestRecord" one.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"
#include "xg/xg.h"

#define MAX_VCPUS 128
#define EXTV_SIZE 128

struct vcpu_state {
    bool online;
    void *basic, *ext, *xsave;
    uint32_t basic_len, ext_len, xsave_len;
};

struct image {
    unsigned width;                 /* guest width */
    uint64_t p2m_size;
    uint64_t *p2m_frames;
    uint32_t nr_p2m_frames;
    struct vcpu_state vcpu[MAX_VCPUS];
    uint8_t shinfo[4096];
    bool have_tsc;
    struct xg_rec_tsc_info tsc;
};

static unsigned bits = 64;
static const char *wrap = "none";
static unsigned unmapped;
static bool xtab_pad;

static int fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "xg-legacy-write: ");
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return 1;
}

static int diag_fail(const xg_diag *d)
{
    fputs("xg-legacy-write: ", stderr);
    xg_diag_print(stderr, d, false);
    return 1;
}

/* ------------------------------------------------------------ output */

static FILE *out;

static void put(const void *p, size_t len)
{
    if (len && fwrite(p, 1, len, out) != len) {
        perror("xg-legacy-write: writing");
        exit(1);
    }
}

static void put_u32(uint32_t v)
{
    uint8_t b[4];
    xg__put_le32(b, v);
    put(b, 4);
}

static void put_u64(uint64_t v)
{
    uint8_t b[8];
    xg__put_le64(b, v);
    put(b, 8);
}

static void put_word(uint64_t v)
{
    if (bits == 64)
        put_u64(v);
    else
        put_u32((uint32_t)v);
}

static void put_be32(uint32_t v)
{
    uint8_t b[4] = { (uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v };
    put(b, 4);
}

/* ------------------------------------------------------------ input */

static void *dup_bytes(const void *p, uint32_t len)
{
    void *q = malloc(len ? len : 1);
    if (!q) {
        fputs("xg-legacy-write: out of memory\n", stderr);
        exit(1);
    }
    memcpy(q, p, len);
    return q;
}

/* First pass: everything the legacy layout needs before the pages. */
static int collect(const char *path, struct image *im, xg_diag *d)
{
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        return fail("cannot open %s", path);
    xg_stream_reader *r;
    if (xg_stream_reader_open(fd, NULL, d, &r) < 0) {
        close(fd);
        return diag_fail(d);
    }
    if (xg_stream_reader_info(r)->domain_type != XG_DOMAIN_X86_PV) {
        xg_stream_reader_close(r);
        close(fd);
        return fail("%s: only x86 PV images have a legacy form here", path);
    }
    struct xg_record rec;
    int rc;
    while ((rc = xg_stream_read(r, &rec)) == 0 && rec.type != XG_REC_END) {
        struct vcpu_state *v = NULL;
        if (rec.type >= XG_REC_X86_PV_VCPU_BASIC && rec.type <= XG_REC_X86_PV_VCPU_XSAVE) {
            if (rec.u.vcpu.vcpu_id >= MAX_VCPUS) {
                rc = fail("%s: vcpu id too large for this tool", path);
                break;
            }
            v = &im->vcpu[rec.u.vcpu.vcpu_id];
        }
        switch (rec.type) {
        case XG_REC_X86_PV_INFO:
            im->width = rec.u.pv_info.guest_width;
            break;
        case XG_REC_X86_PV_P2M_FRAMES:
            im->p2m_size = (uint64_t)rec.u.p2m_frames.end_pfn + 1;
            im->nr_p2m_frames = rec.u.p2m_frames.nr;
            im->p2m_frames = dup_bytes(rec.u.p2m_frames.pfn, rec.u.p2m_frames.nr * 8);
            break;
        case XG_REC_X86_PV_VCPU_BASIC:
            v->online = true;
            v->basic_len = rec.u.vcpu.size;
            v->basic = dup_bytes(rec.u.vcpu.ctx, rec.u.vcpu.size);
            break;
        case XG_REC_X86_PV_VCPU_EXTENDED:
            v->ext_len = rec.u.vcpu.size;
            v->ext = dup_bytes(rec.u.vcpu.ctx, rec.u.vcpu.size);
            break;
        case XG_REC_X86_PV_VCPU_XSAVE:
            v->xsave_len = rec.u.vcpu.size;
            v->xsave = dup_bytes(rec.u.vcpu.ctx, rec.u.vcpu.size);
            break;
        case XG_REC_SHARED_INFO:
            memcpy(im->shinfo, rec.u.blob.data, XG_MIN(rec.u.blob.size, 4096U));
            break;
        case XG_REC_X86_TSC_INFO:
            im->have_tsc = true;
            im->tsc = rec.u.tsc;
            break;
        default:
            break; /* policies, MSRs: the legacy format had no place for them */
        }
    }
    if (rc < 0 && xg_diag_code(d))
        diag_fail(d);
    xg_stream_reader_close(r);
    close(fd);
    if (rc < 0)
        return 1;
    if (!im->width || !im->p2m_size || !im->vcpu[0].online)
        return fail("%s: no X86_PV_INFO, P2M_FRAMES or vcpu0", path);
    if (im->p2m_size > (1U << 28))
        return fail("%s: the guest has pfns above 2^28, which a legacy batch cannot express", path);
    return 0;
}

/* ------------------------------------------------------------ writing */

static void write_wrapper(void)
{
    if (!strcmp(wrap, "xl")) {
        /* xl's header: magic, then big-endian byteorder marker, flags, optional-data length. */
        put("Xen saved domain, xl format\n \0 \r", 32);
        uint8_t bo[4] = { 0x04, 0x03, 0x02, 0x01 }; /* the saving host's native (little-endian) order */
        put(bo, 4);
        put_u32(0); /* mandatory flags: no STREAMv2, so a legacy stream follows */
        put_u32(0); /* optional flags */
        /* Optional data: xl's u32 config length, then the config file. */
        static const char cfg[] = "name = \"legacy\"\n";
        put_u32(4 + sizeof(cfg));
        put_u32(sizeof(cfg));
        put(cfg, sizeof(cfg));
    } else if (!strcmp(wrap, "xend")) {
        static const char cfg[] = "(domain (name legacy) (memory 64))";
        put("LinuxGuestRecord", 16);
        put_be32(sizeof(cfg));
        put(cfg, sizeof(cfg));
    }
}

static void write_head(const struct image *im)
{
    const struct vcpu_state *v0 = &im->vcpu[0];
    uint32_t xcnt = v0->xsave_len ? v0->xsave_len + 16 : 0;
    put_word(im->p2m_size);
    put_word(~0ULL);
    uint32_t total = 8 + v0->basic_len + (v0->ext ? 8 : 0) + (xcnt ? 16 : 0);
    put_u32(total);
    put("vcpu", 4);
    put_u32(v0->basic_len);
    put(v0->basic, v0->basic_len);
    if (v0->ext) {
        put("extv", 4);
        put_u32(0);
    }
    if (xcnt) {
        put("xcnt", 4);
        put_u32(8);
        put_u32(xcnt);
        put_u32(0);
    }
    /* The p2m frame list: as many words as the p2m takes frames of the guest's width. */
    uint64_t fpp = 4096 / im->width, nr = (im->p2m_size - 1) / fpp + 1;
    for (uint64_t i = 0; i < nr; i++)
        put_word(i < im->nr_p2m_frames ? im->p2m_frames[i] : 0);
    if (im->have_tsc) {
        put_u32((uint32_t)-7);
        put_u32(im->tsc.mode);
        put_u64(im->tsc.nsec);
        put_u32(im->tsc.khz);
        put_u32(im->tsc.incarnation);
    }
    unsigned max_id = 0;
    for (unsigned i = 0; i < MAX_VCPUS; i++)
        if (im->vcpu[i].online)
            max_id = i;
    put_u32((uint32_t)-2);
    put_u32(max_id);
    for (unsigned w = 0; w <= max_id / 64; w++) {
        uint64_t map = 0;
        for (unsigned b = 0; b < 64 && w * 64 + b <= max_id; b++)
            if (im->vcpu[w * 64 + b].online)
                map |= 1ULL << b;
        put_u64(map);
    }
}

/* Second pass: every PAGE_DATA record becomes one batch. */
static int write_pages(const char *path, xg_diag *d)
{
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        return fail("cannot open %s", path);
    xg_stream_reader *r;
    if (xg_stream_reader_open(fd, NULL, d, &r) < 0) {
        close(fd);
        return diag_fail(d);
    }
    struct xg_record rec;
    int rc;
    while ((rc = xg_stream_read(r, &rec)) == 0 && rec.type != XG_REC_END) {
        if (rec.type != XG_REC_PAGE_DATA)
            continue;
        const struct xg_rec_page_data *pd = &rec.u.page_data;
        unsigned pad = xtab_pad && pd->count < XG_MAX_BATCH ? 1 : 0;
        put_u32(pd->count + pad);
        for (uint32_t i = 0; i < pd->count; i++) {
            put_word(xg_pd_type(pd->pfn[i]) | xg_pd_pfn(pd->pfn[i]));
            if (pad && i == 0)
                put_word(0xf0000000U);
        }
        put(pd->data, (size_t)pd->nr_data * 4096);
    }
    if (rc < 0)
        diag_fail(d);
    xg_stream_reader_close(r);
    close(fd);
    return rc < 0;
}

static void write_tail(const struct image *im)
{
    put_u32(0); /* end of chunks */
    put_u32(unmapped);
    for (unsigned i = 0; i < unmapped; i++)
        put_word(im->p2m_size - 1 - i);
    uint8_t ext[EXTV_SIZE];
    for (unsigned i = 0; i < MAX_VCPUS; i++) {
        const struct vcpu_state *v = &im->vcpu[i];
        if (!v->online)
            continue;
        put(v->basic, v->basic_len);
        if (im->vcpu[0].ext) {
            memset(ext, 0, sizeof(ext));
            if (v->ext)
                memcpy(ext, v->ext, XG_MIN(v->ext_len, (uint32_t)EXTV_SIZE));
            put(ext, sizeof(ext));
        }
        if (im->vcpu[0].xsave_len) {
            put_u64(v->xsave_len >= 8 ? *(const uint64_t *)v->xsave : 0); /* a mask; the reader ignores it */
            put_u64(im->vcpu[0].xsave_len);
            if (v->xsave_len == im->vcpu[0].xsave_len) {
                put(v->xsave, v->xsave_len);
            } else {
                void *z = calloc(1, im->vcpu[0].xsave_len);
                put(z, im->vcpu[0].xsave_len);
                free(z);
            }
        }
    }
    put(im->shinfo, sizeof(im->shinfo));
}

static void usage(FILE *f)
{
    fputs("usage: xg-legacy-write IN OUT [--bits 32|64] [--wrap none|xl|xend] [--unmapped N] [--xtab-pad]\n", f);
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        { "bits", required_argument, NULL, 'b' }, { "wrap", required_argument, NULL, 'w' },
        { "unmapped", required_argument, NULL, 'u' }, { "xtab-pad", no_argument, NULL, 'x' },
        { "help", no_argument, NULL, 'h' }, { NULL, 0, NULL, 0 },
    };
    int c;
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (c) {
        case 'b': bits = (unsigned)atoi(optarg); break;
        case 'w': wrap = optarg; break;
        case 'u': unmapped = (unsigned)atoi(optarg); break;
        case 'x': xtab_pad = true; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (argc - optind != 2 || (bits != 32 && bits != 64) ||
        (strcmp(wrap, "none") && strcmp(wrap, "xl") && strcmp(wrap, "xend"))) {
        usage(stderr);
        return 2;
    }
    xg_diag *d = xg_diag_new();
    struct image *im = calloc(1, sizeof(*im));
    if (!d || !im)
        return fail("%s", "out of memory");
    int rc = collect(argv[optind], im, d);
    if (rc == 0 && unmapped >= im->p2m_size)
        rc = fail("%s", "--unmapped must be below the guest's pfn count");
    if (rc == 0) {
        out = fopen(argv[optind + 1], "wb");
        if (!out)
            rc = fail("cannot create %s", argv[optind + 1]);
    }
    if (rc == 0) {
        write_wrapper();
        write_head(im);
        rc = write_pages(argv[optind], d);
        if (rc == 0)
            write_tail(im);
        if (fclose(out) != 0)
            rc = fail("%s", "writing the output failed");
    }
    for (unsigned i = 0; i < MAX_VCPUS; i++) {
        free(im->vcpu[i].basic);
        free(im->vcpu[i].ext);
        free(im->vcpu[i].xsave);
    }
    free(im->p2m_frames);
    free(im);
    xg_diag_free(d);
    return rc ? 1 : 0;
}
