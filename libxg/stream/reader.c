/*
 * reader.c - pull records from a libxc migration stream v2, one at a time,
 * checking everything the spec constrains.
 *
 * Validation order per record follows Xen's handle_page_data: header,
 * length against the type's rules, order rules, then the body field by
 * field.  A record's body is read into one buffer that grows only as
 * bytes actually arrive, so a header that lies about its length costs at
 * most what the file really holds (and never more than the record cap).
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"
#include "pv/abi.h"
#include "stream/format.h"
#include "stream/stream_private.h"
#include "xg/stream.h"

/* Bodies grow in steps of at most this much beyond what has arrived. */
#define GROW_STEP (4U << 20)

struct xg_stream_reader {
    int fd;
    xg_diag *d;
    struct xg_stream_reader_opts opts;
    struct xg_gzr *gz;
    struct xg_legacy *legacy;   /* a pre-4.6 image being converted */
    uint64_t raw_off;           /* bytes consumed from the (uncompressed) file */
    /* Sniffed bytes handed back to the next reads. */
    uint8_t push[16];
    size_t push_len, push_pos;
    uint64_t off;               /* bytes consumed, uncompressed */
    struct xg_stream_info info;
    uint8_t *buf;
    size_t cap;
    uint64_t next_index;
    unsigned guest_width, pt_levels;
    bool seen_pv_info, seen_static_end, seen_cpuid, seen_msr, seen_end;
    bool trailer_done;
    bool failed;
};

/* ------------------------------------------------------------ bytes */

/* Up to len bytes of the file itself; fewer only at its end.  Negative XG_E_* on error. */
static ssize_t raw_read(xg_stream_reader *r, void *buf, size_t len)
{
    size_t done = 0;
    while (done < len && r->push_pos < r->push_len)
        ((uint8_t *)buf)[done++] = r->push[r->push_pos++];
    if (done < len) {
        ssize_t n;
        if (r->gz) {
            n = xg__gzr_read(r->gz, (uint8_t *)buf + done, len - done, r->raw_off + done, r->d);
            if (n < 0)
                return n;
        } else {
            n = xg__read_full(r->fd, (uint8_t *)buf + done, len - done);
            if (n < 0) {
                struct xg_loc loc = { XGF_OFFSET(r->raw_off + done) };
                return xg_diag_syserr(r->d, XG_E_IO, errno, &loc, "reading the image");
            }
        }
        done += (size_t)n;
    }
    r->raw_off += done;
    return (ssize_t)done;
}

static ssize_t raw_read_cb(void *arg, void *buf, size_t len)
{
    return raw_read(arg, buf, len);
}

/*
 * Up to len bytes of the v2 stream: the file's bytes, or what the legacy
 * converter makes of them.  Fewer only at the end.
 */
static ssize_t src_read(xg_stream_reader *r, void *buf, size_t len)
{
    ssize_t n = r->legacy ? xg__legacy_read(r->legacy, buf, len) : raw_read(r, buf, len);
    if (n > 0)
        r->off += (uint64_t)n;
    return n;
}

/*
 * Exactly len bytes of `what`, else XG_E_TRUNCATED naming what was being
 * read, where it started and how much was missing.
 */
static int read_exact(xg_stream_reader *r, void *buf, size_t len, const char *what,
                      const struct xg_loc *ctx)
{
    uint64_t start = r->off;
    ssize_t n = src_read(r, buf, len);
    if (n < 0)
        return (int)n;
    if ((size_t)n < len) {
        struct xg_loc loc = ctx ? *ctx : (struct xg_loc){ 0 };
        if (!loc.has_offset) {
            loc.has_offset = 1;
            loc.offset = start;
        }
        loc.has_found = 1;
        loc.found = (uint64_t)n;
        loc.has_expected = 1;
        loc.expected = len;
        return xg_diag_err(r->d, XG_E_TRUNCATED, &loc,
                           "image truncated: %s needs %zu bytes at offset %llu, only %zd left",
                           what, len, (unsigned long long)start, n);
    }
    return 0;
}

/* Skip len bytes (wrapper payloads we do not keep). */
static int skip_bytes(xg_stream_reader *r, uint64_t len, const char *what, const struct xg_loc *ctx)
{
    uint8_t scratch[4096];
    while (len) {
        size_t n = len > sizeof(scratch) ? sizeof(scratch) : (size_t)len;
        int rc = read_exact(r, scratch, n, what, ctx);
        if (rc < 0)
            return rc;
        len -= n;
    }
    return 0;
}

/* Make room for len bytes in r->buf, without growing past `limit`. */
static int reserve(xg_stream_reader *r, size_t len)
{
    if (len <= r->cap)
        return 0;
    uint8_t *p = realloc(r->buf, len);
    if (!p)
        return xg_diag_err(r->d, XG_E_NOMEM, NULL, "out of memory for a %zu-byte record", len);
    r->buf = p;
    r->cap = len;
    return 0;
}

/*
 * Read len bytes into r->buf + at, growing the buffer only as data
 * arrives (GROW_STEP at a time beyond what we hold).
 */
static int read_body(xg_stream_reader *r, size_t at, size_t len, const char *what,
                     const struct xg_loc *ctx)
{
    size_t done = 0;
    while (done < len) {
        size_t step = len - done;
        if (at + done + step > r->cap && step > GROW_STEP)
            step = GROW_STEP;
        int rc = reserve(r, at + done + step);
        if (rc < 0)
            return rc;
        rc = read_exact(r, r->buf + at + done, step, what, ctx);
        if (rc < 0)
            return rc;
        done += step;
    }
    return 0;
}

/* ------------------------------------------------------------ headers */

static int fail(xg_stream_reader *r, int rc)
{
    if (rc < 0)
        r->failed = true;
    return rc;
}

static int read_xl_header(xg_stream_reader *r, const uint8_t first8[8], bool *streamv2)
{
    struct wire_xl_hdr h;
    uint64_t start = r->off - 8;
    memcpy(&h, first8, 8);
    struct xg_loc loc = { XGF_OFFSET(start) };
    int rc = read_exact(r, (uint8_t *)&h + 8, sizeof(h) - 8, "the xl save-file header", &loc);
    if (rc < 0)
        return rc;
    if (memcmp(h.magic, XL_MAGIC, XL_MAGIC_LEN) != 0)
        return xg_diag_err(r->d, XG_E_CORRUPT, &loc, "bad xl save-file magic");
    if (h.byteorder != XL_BYTEORDER) {
        struct xg_loc l = { XGF_OFFSET(start + 32), XGF_FIELD("byteorder"), XGF_FOUND(h.byteorder),
                            XGF_EXPECTED(XL_BYTEORDER) };
        return xg_diag_err(r->d, XG_E_UNSUPPORTED, &l,
                           "xl save file was written on a host of another byte order");
    }
    if (h.mandatory_flags & ~XL_MANDATORY_KNOWN) {
        struct xg_loc l = { XGF_OFFSET(start + 36), XGF_FIELD("mandatory_flags"),
                            XGF_FOUND(h.mandatory_flags), XGF_EXPECTED(XL_MANDATORY_KNOWN) };
        return xg_diag_err(r->d, XG_E_VERSION, &l,
                           "xl save file needs features this reader does not know (mandatory flags %#x)",
                           h.mandatory_flags & ~XL_MANDATORY_KNOWN);
    }
    if (h.optional_data_len > XL_OPTIONAL_DATA_MAX) {
        struct xg_loc l = { XGF_OFFSET(start + 44), XGF_FIELD("optional_data_len"),
                            XGF_FOUND(h.optional_data_len), XGF_EXPECTED(XL_OPTIONAL_DATA_MAX) };
        return xg_diag_err(r->d, XG_E_CORRUPT, &l, "xl optional data of %u bytes is implausibly large",
                           h.optional_data_len);
    }
    uint32_t left = h.optional_data_len;
    if (left >= 4) {
        uint8_t len4[4];
        rc = read_exact(r, len4, 4, "the xl config length", NULL);
        if (rc < 0)
            return rc;
        r->info.xl_config_len = xg__le32(len4);
        left -= 4;
        if (r->info.xl_config_len > left) {
            struct xg_loc l = { XGF_OFFSET(start + 48), XGF_FIELD("config length"),
                                XGF_FOUND(r->info.xl_config_len), XGF_EXPECTED(left) };
            return xg_diag_err(r->d, XG_E_CORRUPT, &l,
                               "xl config of %u bytes does not fit in the %u bytes of optional data left",
                               r->info.xl_config_len, left);
        }
    }
    rc = skip_bytes(r, left, "the xl domain configuration", NULL);
    if (rc < 0)
        return rc;
    r->info.wrapper = XG_WRAP_XL;
    *streamv2 = (h.mandatory_flags & XL_MANDATORY_FLAG_STREAMV2) != 0;
    return 0;
}

/* libxl header (the 8-byte ident is already read) and records up to LIBXC_CONTEXT. */
static int read_libxl_prefix(xg_stream_reader *r)
{
    uint64_t start = r->off - 8;
    uint8_t rest[8];
    struct xg_loc loc = { XGF_OFFSET(start) };
    int rc = read_exact(r, rest, 8, "the libxl stream header", &loc);
    if (rc < 0)
        return rc;
    uint32_t version = xg__be32(rest), options = xg__be32(rest + 4);
    if (version != 2) {
        struct xg_loc l = { XGF_OFFSET(start + 8), XGF_FIELD("version"), XGF_FOUND(version), XGF_EXPECTED(2) };
        return xg_diag_err(r->d, XG_E_VERSION, &l, "libxl stream version %u is not supported (only 2)", version);
    }
    if (options & LIBXL_OPT_RESERVED) {
        struct xg_loc l = { XGF_OFFSET(start + 12), XGF_FIELD("options"), XGF_FOUND(options),
                            XGF_EXPECTED(options & ~LIBXL_OPT_RESERVED) };
        return xg_diag_err(r->d, XG_E_CORRUPT, &l, "reserved bits set in the libxl header options");
    }
    if (options & LIBXL_OPT_BIG_ENDIAN) {
        struct xg_loc l = { XGF_OFFSET(start + 12), XGF_FIELD("options") };
        return xg_diag_err(r->d, XG_E_UNSUPPORTED, &l, "big-endian libxl stream");
    }
    if (r->info.wrapper == XG_WRAP_NONE)
        r->info.wrapper = XG_WRAP_LIBXL;
    r->info.libxl_version = version;

    for (unsigned idx = 0;; idx++) {
        uint8_t hdr[8];
        uint64_t roff = r->off;
        struct xg_loc l = { XGF_OFFSET(roff) };
        rc = read_exact(r, hdr, 8, "a libxl record header", &l);
        if (rc < 0)
            return rc;
        uint32_t type = xg__le32(hdr), len = xg__le32(hdr + 4);
        struct xg_loc rl = { XGF_OFFSET(roff), XGF_REC(idx, type) };
        switch (type) {
        case LIBXL_REC_LIBXC_CONTEXT:
            if (len != 0) {
                rl.has_found = 1, rl.found = len, rl.has_expected = 1, rl.expected = 0;
                return xg_diag_err(r->d, XG_E_CORRUPT, &rl, "libxl LIBXC_CONTEXT record must be empty");
            }
            return 0;
        case LIBXL_REC_END:
            return xg_diag_err(r->d, XG_E_CORRUPT, &rl, "libxl stream ends before its libxc part");
        case LIBXL_REC_EMULATOR_XENSTORE_DATA:
        case LIBXL_REC_EMULATOR_CONTEXT:
        case LIBXL_REC_CHECKPOINT_END:
        case LIBXL_REC_CHECKPOINT_STATE:
            if (len > XG_REC_LENGTH_MAX)
                return xg_diag_err(r->d, XG_E_CORRUPT, &rl, "libxl record of %u bytes exceeds the limit", len);
            rc = skip_bytes(r, XG_ROUNDUP((uint64_t)len, 8), "a libxl record body", &rl);
            if (rc < 0)
                return rc;
            break;
        default:
            return xg_diag_err(r->d, XG_E_CORRUPT, &rl, "unknown libxl record type %#x", type);
        }
    }
}

static int read_libxc_headers(xg_stream_reader *r, const uint8_t first8[8])
{
    uint8_t ih[IHDR_SIZE];
    uint64_t start = r->off - 8;
    memcpy(ih, first8, 8);
    struct xg_loc loc = { XGF_OFFSET(start) };
    int rc = read_exact(r, ih + 8, IHDR_SIZE - 8, "the image header", &loc);
    if (rc < 0)
        return rc;
    r->info.libxc_offset = start;

    uint32_t id = xg__be32(ih + 8), version = xg__be32(ih + 12);
    uint16_t options = xg__be16(ih + 16), res1 = xg__be16(ih + 18);
    uint32_t res2 = xg__be32(ih + 20);
    if (id != IHDR_ID) {
        struct xg_loc l = { XGF_OFFSET(start + 8), XGF_FIELD("id"), XGF_FOUND(id), XGF_EXPECTED(IHDR_ID) };
        return xg_diag_err(r->d, XG_E_CORRUPT, &l, "bad image id (expected 0x58454e46 \"XENF\")");
    }
    if (version < 2 || version > 3) {
        struct xg_loc l = { XGF_OFFSET(start + 12), XGF_FIELD("version"), XGF_FOUND(version), XGF_EXPECTED(3) };
        return xg_diag_err(r->d, XG_E_VERSION, &l, "image version %u is not supported (2 and 3 are)", version);
    }
    if (options & IHDR_OPT_RESERVED) {
        struct xg_loc l = { XGF_OFFSET(start + 16), XGF_FIELD("options"), XGF_FOUND(options),
                            XGF_EXPECTED(options & ~IHDR_OPT_RESERVED) };
        return xg_diag_err(r->d, XG_E_CORRUPT, &l, "reserved bits set in the image header options");
    }
    if (res1 || res2) {
        struct xg_loc l = { XGF_OFFSET(start + 18), XGF_FIELD("reserved"),
                            XGF_FOUND((uint64_t)res1 << 32 | res2), XGF_EXPECTED(0) };
        return xg_diag_err(r->d, XG_E_CORRUPT, &l, "reserved field of the image header is not zero");
    }
    if (options & IHDR_OPT_BIG_ENDIAN) {
        struct xg_loc l = { XGF_OFFSET(start + 16), XGF_FIELD("options") };
        return xg_diag_err(r->d, XG_E_UNSUPPORTED, &l, "big-endian image: xg handles little-endian (x86) images only");
    }
    r->info.version = version;

    struct wire_dhdr dh;
    uint64_t doff = r->off;
    struct xg_loc dl = { XGF_OFFSET(doff) };
    rc = read_exact(r, &dh, sizeof(dh), "the domain header", &dl);
    if (rc < 0)
        return rc;
    if (dh.type != XG_DOMAIN_X86_PV && dh.type != XG_DOMAIN_X86_HVM) {
        struct xg_loc l = { XGF_OFFSET(doff), XGF_FIELD("type"), XGF_FOUND(dh.type), XGF_EXPECTED(XG_DOMAIN_X86_PV) };
        return xg_diag_err(r->d, XG_E_CORRUPT, &l, "unknown domain type %#x (1 = x86 PV, 2 = x86 HVM)", dh.type);
    }
    if (dh.page_shift != XG_PAGE_SHIFT) {
        struct xg_loc l = { XGF_OFFSET(doff + 4), XGF_FIELD("page_shift"), XGF_FOUND(dh.page_shift),
                            XGF_EXPECTED(XG_PAGE_SHIFT) };
        return xg_diag_err(r->d, XG_E_CORRUPT, &l, "page shift %u is not 12 (4 KiB pages)", dh.page_shift);
    }
    if (dh.reserved) {
        struct xg_loc l = { XGF_OFFSET(doff + 6), XGF_FIELD("reserved"), XGF_FOUND(dh.reserved), XGF_EXPECTED(0) };
        return xg_diag_err(r->d, XG_E_CORRUPT, &l, "reserved field of the domain header is not zero");
    }
    r->info.domain_type = dh.type;
    r->info.page_shift = dh.page_shift;
    r->info.xen_major = dh.xen_major;
    r->info.xen_minor = dh.xen_minor;
    return 0;
}

static bool is_legacy_start(const uint8_t b[8])
{
    for (int i = 0; i < 8; i++)
        if (b[i] != 0xff)
            return true;
    return false;
}

/* xend (Xen 3.x): "LinuxGuestRecord", a big-endian config length, the SXP config, then a legacy stream. */
static int read_xend_header(xg_stream_reader *r, const uint8_t first8[8])
{
    uint8_t rest[12];
    uint64_t start = r->off - 8;
    struct xg_loc loc = { XGF_OFFSET(start) };
    int rc = read_exact(r, rest, sizeof(rest), "the xend save-file header", &loc);
    if (rc < 0)
        return rc;
    if (memcmp(first8, XEND_MAGIC, 8) || memcmp(rest, XEND_MAGIC + 8, 8))
        return xg_diag_err(r->d, XG_E_CORRUPT, &loc, "bad xend save-file magic");
    uint32_t len = xg__be32(rest + 8);
    if (len > XL_OPTIONAL_DATA_MAX) {
        struct xg_loc l = { XGF_OFFSET(start + 16), XGF_FIELD("config length"), XGF_FOUND(len) };
        return xg_diag_err(r->d, XG_E_CORRUPT, &l, "xend config of %u bytes is implausibly large", len);
    }
    r->info.wrapper = XG_WRAP_XEND;
    r->info.xl_config_len = len;
    return skip_bytes(r, len, "the xend domain configuration", NULL);
}

/* A legacy (pre-4.6) image starts here with b: convert it as it is read. */
static int open_legacy(xg_stream_reader *r, const uint8_t b[8])
{
    struct xg_loc l = { XGF_OFFSET(r->raw_off - 8), XGF_FIELD("octets 4-7") };
    if (r->opts.raw_only)
        return xg_diag_err(r->d, XG_E_UNSUPPORTED, &l, "a legacy (pre-Xen 4.6) image where a v2 libxc stream is expected");
    /* Octets 4-7: the top of a 64-bit toolstack's p2m_size (0), or a 32-bit one's extended-info marker. */
    uint32_t hi = xg__le32(b + 4), p2m_size = xg__le32(b);
    unsigned word = hi == 0 ? 8 : hi == 0xffffffffU ? 4 : 0;
    /* Octets 0-3: p2m_size, at most 2^28 (a legacy batch has 28 bits of pfn). */
    if (!word || p2m_size == 0 || p2m_size > XG_LEGACY_MAX_PFNS)
        return xg_diag_err(r->d, XG_E_VERSION, &l,
                           "not a Xen save image: neither a migration stream v2 (first 8 bytes all 0xff) nor a legacy PV image");
    memcpy(r->push, b, 8);
    r->push_len = 8;
    r->push_pos = 0;
    r->raw_off -= 8;
    int rc = xg__legacy_open(raw_read_cb, r, word, r->raw_off, r->d, &r->legacy);
    if (rc < 0)
        return rc;
    r->info.legacy = true;
    r->info.legacy_toolstack_bits = word * 8;
    xg__legacy_report_unmappable(r->legacy, &r->info);
    uint8_t ih[8];
    r->off = 0;
    if ((rc = read_exact(r, ih, 8, "the converted image header", NULL)) < 0)
        return rc;
    return read_libxc_headers(r, ih);
}

static int open_headers(xg_stream_reader *r)
{
    uint8_t b[8];
    ssize_t n = src_read(r, b, 8);
    if (n < 0)
        return (int)n;
    if (n == 0)
        return xg_diag_err(r->d, XG_E_TRUNCATED, NULL, "empty input: not a Xen save image");
    if (n < 8) {
        struct xg_loc l = { XGF_OFFSET(0), XGF_FOUND((uint64_t)n), XGF_EXPECTED(8) };
        return xg_diag_err(r->d, XG_E_TRUNCATED, &l, "input of %zd bytes is too short to be a Xen save image", n);
    }
    if (b[0] == XG_GZIP_MAGIC0 && b[1] == XG_GZIP_MAGIC1) {
        if (r->opts.raw_only)
            return xg_diag_err(r->d, XG_E_UNSUPPORTED, NULL, "gzip-compressed input where a raw libxc stream is expected");
        int rc = xg__gzr_open(r->fd, b, 8, r->d, &r->gz);
        if (rc < 0)
            return rc;
        r->info.gzip = true;
        r->off = r->raw_off = 0;
        n = src_read(r, b, 8);
        if (n < 0)
            return (int)n;
        if (n < 8) {
            struct xg_loc l = { XGF_OFFSET(0), XGF_FOUND((uint64_t)n), XGF_EXPECTED(8) };
            return xg_diag_err(r->d, XG_E_TRUNCATED, &l, "compressed input holds only %zd bytes: not a Xen save image", n);
        }
    }

    if (memcmp(b, XL_MAGIC, 8) == 0) {
        if (r->opts.raw_only)
            return xg_diag_err(r->d, XG_E_UNSUPPORTED, NULL, "xl save file where a raw libxc stream is expected");
        bool v2 = false;
        int rc = read_xl_header(r, b, &v2);
        if (rc < 0)
            return rc;
        rc = read_exact(r, b, 8, v2 ? "the libxl stream header" : "the legacy image", NULL);
        if (rc < 0)
            return rc;
        if (!v2 && xg__be64(b) == IHDR_MARKER) {
            struct xg_loc l = { XGF_OFFSET(r->off - 8), XGF_FIELD("stream start") };
            return xg_diag_err(r->d, XG_E_VERSION, &l,
                               "the xl header announces a legacy stream (no STREAMv2 flag) but a migration stream v2 follows");
        }
        if (!v2)
            return open_legacy(r, b); /* xl before Xen 4.6 wrote a legacy stream */
        if (xg__be64(b) != LIBXL_IDENT) {
            struct xg_loc l = { XGF_OFFSET(r->off - 8), XGF_FIELD("ident"), XGF_FOUND(xg__be64(b)),
                                XGF_EXPECTED(LIBXL_IDENT) };
            return xg_diag_err(r->d, XG_E_CORRUPT, &l, "xl save file says a libxl stream follows, but there is none");
        }
    }
    if (xg__be64(b) == LIBXL_IDENT) {
        if (r->opts.raw_only)
            return xg_diag_err(r->d, XG_E_UNSUPPORTED, NULL, "libxl stream where a raw libxc stream is expected");
        int rc = read_libxl_prefix(r);
        if (rc < 0)
            return rc;
        rc = read_exact(r, b, 8, "the image header", NULL);
        if (rc < 0)
            return rc;
    }
    if (memcmp(b, XEND_MAGIC, 8) == 0) {
        if (r->opts.raw_only)
            return xg_diag_err(r->d, XG_E_UNSUPPORTED, NULL, "xend save file where a raw libxc stream is expected");
        int rc = read_xend_header(r, b);
        if (rc < 0)
            return rc;
        if ((rc = read_exact(r, b, 8, "the legacy image", NULL)) < 0)
            return rc;
        return open_legacy(r, b);
    }
    if (is_legacy_start(b))
        return open_legacy(r, b);
    return read_libxc_headers(r, b);
}

int xg_stream_reader_open(int fd, const struct xg_stream_reader_opts *opts, xg_diag *d,
                          xg_stream_reader **out)
{
    *out = NULL;
    xg_stream_reader *r = calloc(1, sizeof(*r));
    if (!r)
        return xg_diag_err(d, XG_E_NOMEM, NULL, "out of memory opening the image");
    r->fd = fd;
    r->d = d;
    if (opts)
        r->opts = *opts;
    if (!r->opts.max_record || r->opts.max_record > XG_REC_LENGTH_MAX)
        r->opts.max_record = XG_REC_LENGTH_MAX;
    int rc = open_headers(r);
    if (rc < 0) {
        xg_stream_reader_close(r);
        return rc;
    }
    *out = r;
    return 0;
}

const struct xg_stream_info *xg_stream_reader_info(const xg_stream_reader *r)
{
    return &r->info;
}

uint64_t xg_stream_reader_offset(const xg_stream_reader *r)
{
    return r->raw_off;
}

unsigned xg_stream_reader_guest_width(const xg_stream_reader *r)
{
    return r->guest_width;
}

void xg_stream_reader_close(xg_stream_reader *r)
{
    if (!r)
        return;
    xg__gzr_close(r->gz);
    xg__legacy_close(r->legacy);
    free(r->buf);
    free(r);
}

/* ------------------------------------------------------------ records */

/* Length rules that can be checked from the header alone. */
static int check_length(xg_stream_reader *r, const struct xg_record *rec, struct xg_loc loc)
{
    uint32_t len = rec->length;
    const char *name = xg_stream_rec_name(rec->type);
    long exact = -1;
    uint32_t multiple = 0, min = 0;

    switch (rec->type) {
    case XG_REC_END:
    case XG_REC_VERIFY:
    case XG_REC_CHECKPOINT:
    case XG_REC_STATIC_DATA_END:
        exact = 0;
        break;
    case XG_REC_X86_PV_INFO:
        exact = sizeof(struct wire_x86_pv_info);
        break;
    case XG_REC_X86_TSC_INFO:
        exact = sizeof(struct wire_tsc_info);
        break;
    case XG_REC_SHARED_INFO:
        exact = SHARED_INFO_SIZE;
        break;
    case XG_REC_PAGE_DATA:
        min = sizeof(struct wire_page_data_hdr) + 8; /* count >= 1 */
        break;
    case XG_REC_X86_PV_P2M_FRAMES:
        min = sizeof(struct wire_p2m_frames_hdr) + 8;
        multiple = 8;
        break;
    case XG_REC_X86_PV_VCPU_BASIC:
    case XG_REC_X86_PV_VCPU_EXTENDED:
    case XG_REC_X86_PV_VCPU_XSAVE:
    case XG_REC_X86_PV_VCPU_MSRS:
        min = sizeof(struct wire_vcpu_hdr);
        break;
    case XG_REC_HVM_CONTEXT:
        min = 1;
        break;
    case XG_REC_HVM_PARAMS:
        min = sizeof(struct wire_hvm_params_hdr);
        break;
    case XG_REC_X86_CPUID_POLICY:
        min = CPUID_LEAF_SIZE;
        multiple = CPUID_LEAF_SIZE;
        break;
    case XG_REC_X86_MSR_POLICY:
        min = MSR_ENTRY_SIZE;
        multiple = MSR_ENTRY_SIZE;
        break;
    case XG_REC_CHECKPOINT_DIRTY_PFN_LIST:
        multiple = 8;
        break;
    default:
        break;
    }
    loc.field = "body_length";
    loc.has_found = 1;
    loc.found = len;
    if (exact >= 0 && len != (uint32_t)exact) {
        loc.has_expected = 1;
        loc.expected = (uint64_t)exact;
        return xg_diag_err(r->d, XG_E_CORRUPT, &loc, "%s record has length %u, the spec says %ld", name, len, exact);
    }
    if (len < min) {
        loc.has_expected = 1;
        loc.expected = min;
        return xg_diag_err(r->d, XG_E_CORRUPT, &loc, "%s record of %u bytes is shorter than its minimum of %u",
                           name, len, min);
    }
    if (multiple && len % multiple) {
        loc.has_expected = 1;
        loc.expected = len - len % multiple;
        return xg_diag_err(r->d, XG_E_CORRUPT, &loc, "%s record length %u is not a multiple of %u", name, len,
                           multiple);
    }
    return 0;
}

static bool is_content_record(uint32_t type)
{
    switch (type) {
    case XG_REC_PAGE_DATA:
    case XG_REC_X86_PV_P2M_FRAMES:
    case XG_REC_X86_PV_VCPU_BASIC:
    case XG_REC_X86_PV_VCPU_EXTENDED:
    case XG_REC_X86_PV_VCPU_XSAVE:
    case XG_REC_X86_PV_VCPU_MSRS:
    case XG_REC_SHARED_INFO:
    case XG_REC_X86_TSC_INFO:
    case XG_REC_HVM_CONTEXT:
    case XG_REC_HVM_PARAMS:
    case XG_REC_VERIFY:
    case XG_REC_CHECKPOINT:
        return true;
    default:
        return false;
    }
}

static bool is_pv_only(uint32_t type)
{
    return type == XG_REC_X86_PV_INFO || type == XG_REC_X86_PV_P2M_FRAMES ||
           type == XG_REC_X86_PV_VCPU_BASIC || type == XG_REC_X86_PV_VCPU_EXTENDED ||
           type == XG_REC_X86_PV_VCPU_XSAVE || type == XG_REC_X86_PV_VCPU_MSRS ||
           type == XG_REC_SHARED_INFO;
}

static bool needs_pv_info(uint32_t type)
{
    return type == XG_REC_X86_PV_P2M_FRAMES || type == XG_REC_PAGE_DATA ||
           type == XG_REC_X86_PV_VCPU_BASIC || type == XG_REC_X86_PV_VCPU_EXTENDED ||
           type == XG_REC_X86_PV_VCPU_XSAVE || type == XG_REC_X86_PV_VCPU_MSRS;
}

/* Order rules (spec 5.1, 6.1).  Updates the reader's state on success. */
static int check_order(xg_stream_reader *r, const struct xg_record *rec, struct xg_loc loc)
{
    uint32_t t = rec->type;
    const char *name = xg_stream_rec_name(t);
    bool pv = r->info.domain_type == XG_DOMAIN_X86_PV;

    if (pv && (t == XG_REC_HVM_CONTEXT || t == XG_REC_HVM_PARAMS))
        return xg_diag_err(r->d, XG_E_CORRUPT, &loc, "%s record in an x86 PV stream", name);
    if (!pv && is_pv_only(t))
        return xg_diag_err(r->d, XG_E_CORRUPT, &loc, "%s record in an x86 HVM stream", name);

    if (r->info.version < 3) {
        if (t == XG_REC_STATIC_DATA_END || t == XG_REC_X86_CPUID_POLICY || t == XG_REC_X86_MSR_POLICY)
            return xg_diag_err(r->d, XG_E_CORRUPT, &loc, "%s record in a version 2 stream (it exists from version 3)",
                               name);
        /* v2: STATIC_DATA_END is implied by the first P2M_FRAMES (PV) / PAGE_DATA (HVM). */
        if ((pv && t == XG_REC_X86_PV_P2M_FRAMES) || (!pv && t == XG_REC_PAGE_DATA))
            r->seen_static_end = true;
    } else {
        if (t == XG_REC_STATIC_DATA_END && r->seen_static_end)
            return xg_diag_err(r->d, XG_E_CORRUPT, &loc, "second STATIC_DATA_END record");
        if (is_content_record(t) && !r->seen_static_end)
            return xg_diag_err(r->d, XG_E_CORRUPT, &loc,
                               "%s record before STATIC_DATA_END (a version 3 stream must end its static data first)",
                               name);
        if ((t == XG_REC_X86_PV_INFO || t == XG_REC_X86_CPUID_POLICY || t == XG_REC_X86_MSR_POLICY) &&
            r->seen_static_end)
            return xg_diag_err(r->d, XG_E_CORRUPT, &loc, "static data record %s after STATIC_DATA_END", name);
    }
    if (t == XG_REC_X86_PV_INFO && r->seen_pv_info)
        return xg_diag_err(r->d, XG_E_CORRUPT, &loc, "second X86_PV_INFO record");
    if (t == XG_REC_X86_CPUID_POLICY && r->seen_cpuid)
        return xg_diag_err(r->d, XG_E_CORRUPT, &loc, "second X86_CPUID_POLICY record");
    if (t == XG_REC_X86_MSR_POLICY && r->seen_msr)
        return xg_diag_err(r->d, XG_E_CORRUPT, &loc, "second X86_MSR_POLICY record");
    if (pv && needs_pv_info(t) && !r->seen_pv_info)
        return xg_diag_err(r->d, XG_E_CORRUPT, &loc,
                           "%s record before X86_PV_INFO (the guest width is not known yet)", name);
    if (t == XG_REC_TOOLSTACK)
        return xg_diag_err(r->d, XG_E_UNSUPPORTED, &loc,
                           "deprecated TOOLSTACK record (written only by development versions of Xen 4.6)");

    if (t == XG_REC_STATIC_DATA_END)
        r->seen_static_end = true;
    else if (t == XG_REC_X86_CPUID_POLICY)
        r->seen_cpuid = true;
    else if (t == XG_REC_X86_MSR_POLICY)
        r->seen_msr = true;
    return 0;
}

static int check_padding(xg_stream_reader *r, const uint8_t *pad, size_t n, uint64_t at, struct xg_loc loc)
{
    for (size_t i = 0; i < n; i++) {
        if (pad[i]) {
            loc.has_offset = 1;
            loc.offset = at + i;
            loc.field = "padding";
            loc.has_found = 1;
            loc.found = pad[i];
            loc.has_expected = 1;
            loc.expected = 0;
            return xg_diag_err(r->d, XG_E_CORRUPT, &loc, "non-zero padding byte after the %s record body",
                               xg_stream_rec_name(loc.rec_type));
        }
    }
    return 0;
}

/*
 * gzip: once the last record is in, read on to the end of the compressed
 * data.  zlib checks the CRC-32 and length of the gzip trailer only when
 * it gets there, so a reader that stopped at END would accept a damaged
 * file; and nothing may follow the stream inside the gzip data.
 */
static int gz_check_end(xg_stream_reader *r, const char *after)
{
    uint8_t extra;
    uint64_t at = r->off;
    ssize_t n = src_read(r, &extra, 1);
    if (n < 0)
        return (int)n;
    if (n > 0) {
        struct xg_loc loc = { XGF_OFFSET(at), XGF_FOUND(extra) };
        return xg_diag_err(r->d, XG_E_CORRUPT, &loc, "data follows %s inside the gzip-compressed image", after);
    }
    return 0;
}

static struct xg_loc field_loc(struct xg_loc loc, uint64_t body_off, uint64_t at, const char *field,
                               uint64_t found, uint64_t expected)
{
    loc.has_offset = 1;
    loc.offset = body_off + at;
    loc.field = field;
    loc.has_found = 1;
    loc.found = found;
    loc.has_expected = 1;
    loc.expected = expected;
    return loc;
}

/* PAGE_DATA, read in stages so a lying count is caught before the data. */
static int read_page_data(xg_stream_reader *r, struct xg_record *rec, struct xg_loc loc, uint64_t body_off)
{
    uint32_t len = rec->length;
    int rc = read_body(r, 0, sizeof(struct wire_page_data_hdr), "the PAGE_DATA header", &loc);
    if (rc < 0)
        return rc;
    struct wire_page_data_hdr h;
    memcpy(&h, r->buf, sizeof(h));
    if (h.count == 0) {
        struct xg_loc l = field_loc(loc, body_off, 0, "count", 0, 1);
        return xg_diag_err(r->d, XG_E_CORRUPT, &l, "PAGE_DATA record with a count of 0");
    }
    if (h.reserved) {
        struct xg_loc l = field_loc(loc, body_off, 4, "reserved", h.reserved, 0);
        return xg_diag_err(r->d, XG_E_CORRUPT, &l, "reserved field of PAGE_DATA is not zero");
    }
    uint64_t pfn_bytes = (uint64_t)h.count * 8;
    if (8 + pfn_bytes > len) {
        struct xg_loc l = field_loc(loc, body_off, 0, "count", h.count, (len - 8) / 8);
        return xg_diag_err(r->d, XG_E_CORRUPT, &l,
                           "PAGE_DATA count %u needs %llu bytes of pfns, but the record body is %u bytes",
                           h.count, (unsigned long long)pfn_bytes, len);
    }
    rc = read_body(r, 8, (size_t)pfn_bytes, "the PAGE_DATA pfn array", &loc);
    if (rc < 0)
        return rc;
    const uint64_t *pfn = (const uint64_t *)(r->buf + 8);
    uint32_t nr_data = 0;
    for (uint32_t i = 0; i < h.count; i++) {
        uint64_t e = pfn[i];
        if (e & XG_PD_RSVD_MASK) {
            struct xg_loc l = field_loc(loc, body_off, 8 + 8ULL * i, "pfn[] reserved bits 52-59", e,
                                        e & ~XG_PD_RSVD_MASK);
            return xg_diag_err(r->d, XG_E_CORRUPT, &l, "PAGE_DATA pfn[%u] has reserved bits set", i);
        }
        uint32_t type = xg_pd_type(e);
        if (!xg_pfinfo_known(type)) {
            struct xg_loc l = field_loc(loc, body_off, 8 + 8ULL * i, "pfn[] type", type >> 28, 0);
            l.has_expected = 0;
            l.has_pfn = 1;
            l.pfn = xg_pd_pfn(e);
            return xg_diag_err(r->d, XG_E_CORRUPT, &l, "PAGE_DATA pfn[%u] has the reserved type %s", i,
                               xg_pfinfo_name(type));
        }
        if (xg_pfinfo_has_data(type))
            nr_data++;
    }
    uint64_t want = 8 + pfn_bytes + (uint64_t)nr_data * XG_PAGE_SIZE;
    if (want != len) {
        struct xg_loc l = loc;
        l.field = "body_length";
        l.has_found = 1, l.found = len, l.has_expected = 1, l.expected = want;
        return xg_diag_err(r->d, XG_E_CORRUPT, &l,
                           "PAGE_DATA record length %u does not match its %u pfns with %u data pages (%llu bytes)",
                           len, h.count, nr_data, (unsigned long long)want);
    }
    size_t data_at = (size_t)(8 + pfn_bytes);
    rc = read_body(r, data_at, (size_t)nr_data * XG_PAGE_SIZE, "the PAGE_DATA page contents", &loc);
    if (rc < 0)
        return rc;
    rec->u.page_data.count = h.count;
    rec->u.page_data.pfn = (const uint64_t *)(r->buf + 8);
    rec->u.page_data.nr_data = nr_data;
    rec->u.page_data.data = r->buf + data_at;
    return 0;
}

static unsigned frames_per_p2m_page(unsigned width)
{
    return XG_PAGE_SIZE / width;
}

/* Parse and check the body of everything but PAGE_DATA. */
static int parse_body(xg_stream_reader *r, struct xg_record *rec, struct xg_loc loc, uint64_t body_off)
{
    const uint8_t *b = r->buf;
    uint32_t len = rec->length;

    switch (rec->type) {
    case XG_REC_X86_PV_INFO: {
        const struct wire_x86_pv_info *pi = (const void *)b;
        bool ok = (pi->guest_width == 8 && pi->pt_levels == 4) || (pi->guest_width == 4 && pi->pt_levels == 3);
        if (pi->guest_width != 4 && pi->guest_width != 8) {
            struct xg_loc l = field_loc(loc, body_off, 0, "guest_width", pi->guest_width, 8);
            return xg_diag_err(r->d, XG_E_CORRUPT, &l, "X86_PV_INFO guest width %u is neither 4 nor 8",
                               pi->guest_width);
        }
        if (!ok) {
            struct xg_loc l = field_loc(loc, body_off, 1, "pt_levels", pi->pt_levels,
                                        pi->guest_width == 8 ? 4 : 3);
            return xg_diag_err(r->d, XG_E_CORRUPT, &l,
                               "X86_PV_INFO: a %u-bit guest with %u page-table levels is not a valid combination (64-bit: 4, 32-bit PAE: 3)",
                               pi->guest_width * 8, pi->pt_levels);
        }
        for (int i = 0; i < 6; i++)
            if (pi->reserved[i]) {
                struct xg_loc l = field_loc(loc, body_off, 2 + (uint64_t)i, "reserved", pi->reserved[i], 0);
                return xg_diag_err(r->d, XG_E_CORRUPT, &l, "reserved bytes of X86_PV_INFO are not zero");
            }
        rec->u.pv_info.guest_width = pi->guest_width;
        rec->u.pv_info.pt_levels = pi->pt_levels;
        r->guest_width = pi->guest_width;
        r->pt_levels = pi->pt_levels;
        r->seen_pv_info = true;
        return 0;
    }
    case XG_REC_X86_PV_P2M_FRAMES: {
        const struct wire_p2m_frames_hdr *h = (const void *)b;
        if (h->start_pfn > h->end_pfn) {
            struct xg_loc l = field_loc(loc, body_off, 4, "p2m_end_pfn", h->end_pfn, h->start_pfn);
            return xg_diag_err(r->d, XG_E_CORRUPT, &l, "X86_PV_P2M_FRAMES end pfn %#x is below start pfn %#x",
                               h->end_pfn, h->start_pfn);
        }
        unsigned fpp = frames_per_p2m_page(r->guest_width);
        uint64_t want = (uint64_t)h->end_pfn / fpp - h->start_pfn / fpp + 1;
        uint64_t have = (len - 8) / 8;
        if (want != have) {
            struct xg_loc l = loc;
            l.field = "body_length";
            l.has_found = 1, l.found = len, l.has_expected = 1, l.expected = 8 + want * 8;
            return xg_diag_err(r->d, XG_E_CORRUPT, &l,
                               "X86_PV_P2M_FRAMES covers pfns %#x-%#x, which needs %llu frame entries, but it holds %llu",
                               h->start_pfn, h->end_pfn, (unsigned long long)want, (unsigned long long)have);
        }
        rec->u.p2m_frames.start_pfn = h->start_pfn;
        rec->u.p2m_frames.end_pfn = h->end_pfn;
        rec->u.p2m_frames.nr = (uint32_t)have;
        rec->u.p2m_frames.pfn = (const uint64_t *)(b + 8);
        return 0;
    }
    case XG_REC_X86_PV_VCPU_BASIC:
    case XG_REC_X86_PV_VCPU_EXTENDED:
    case XG_REC_X86_PV_VCPU_XSAVE:
    case XG_REC_X86_PV_VCPU_MSRS: {
        const struct wire_vcpu_hdr *h = (const void *)b;
        uint32_t size = len - 8;
        if (h->reserved) {
            struct xg_loc l = field_loc(loc, body_off, 4, "reserved", h->reserved, 0);
            return xg_diag_err(r->d, XG_E_CORRUPT, &l, "reserved field of %s is not zero",
                               xg_stream_rec_name(rec->type));
        }
        struct xg_loc l = loc;
        l.has_vcpu = 1;
        l.vcpu = h->vcpu_id;
        l.field = "context size";
        l.has_found = 1;
        l.found = size;
        if (rec->type == XG_REC_X86_PV_VCPU_BASIC) {
            uint32_t want = r->guest_width == 4 ? XG_VCPU_CTX32_SIZE : XG_VCPU_CTX64_SIZE;
            if (size != want) {
                l.has_expected = 1, l.expected = want;
                return xg_diag_err(r->d, XG_E_CORRUPT, &l,
                                   "X86_PV_VCPU_BASIC for vcpu%u holds %u bytes; a %u-bit guest's context is %u",
                                   h->vcpu_id, size, r->guest_width * 8, want);
            }
        } else if (size == 0) {
            /* Spec errata: Xen 4.6-4.8 wrote empty ones; tolerate. */
        } else if (rec->type == XG_REC_X86_PV_VCPU_EXTENDED && size > VCPU_EXTENDED_MAX) {
            l.has_expected = 1, l.expected = VCPU_EXTENDED_MAX;
            return xg_diag_err(r->d, XG_E_CORRUPT, &l, "X86_PV_VCPU_EXTENDED for vcpu%u is %u bytes, more than %u",
                               h->vcpu_id, size, VCPU_EXTENDED_MAX);
        } else if (rec->type == XG_REC_X86_PV_VCPU_XSAVE && (size < VCPU_XSAVE_MIN || size > VCPU_BLOB_MAX)) {
            l.has_expected = 1, l.expected = size < VCPU_XSAVE_MIN ? VCPU_XSAVE_MIN : VCPU_BLOB_MAX;
            return xg_diag_err(r->d, XG_E_CORRUPT, &l, "X86_PV_VCPU_XSAVE for vcpu%u has an implausible size of %u bytes",
                               h->vcpu_id, size);
        } else if (rec->type == XG_REC_X86_PV_VCPU_MSRS && (size % MSR_ENTRY_SIZE || size > VCPU_BLOB_MAX)) {
            l.has_expected = 1, l.expected = size - size % MSR_ENTRY_SIZE;
            return xg_diag_err(r->d, XG_E_CORRUPT, &l,
                               "X86_PV_VCPU_MSRS for vcpu%u is %u bytes, not a multiple of %u", h->vcpu_id, size,
                               MSR_ENTRY_SIZE);
        }
        rec->u.vcpu.vcpu_id = h->vcpu_id;
        rec->u.vcpu.size = size;
        rec->u.vcpu.ctx = b + 8;
        return 0;
    }
    case XG_REC_X86_TSC_INFO: {
        const struct wire_tsc_info *t = (const void *)b;
        if (t->reserved) {
            struct xg_loc l = field_loc(loc, body_off, 20, "reserved", t->reserved, 0);
            return xg_diag_err(r->d, XG_E_CORRUPT, &l, "reserved field of X86_TSC_INFO is not zero");
        }
        rec->u.tsc.mode = t->mode;
        rec->u.tsc.khz = t->khz;
        rec->u.tsc.nsec = t->nsec;
        rec->u.tsc.incarnation = t->incarnation;
        return 0;
    }
    case XG_REC_HVM_PARAMS: {
        const struct wire_hvm_params_hdr *h = (const void *)b;
        if (h->reserved) {
            struct xg_loc l = field_loc(loc, body_off, 4, "reserved", h->reserved, 0);
            return xg_diag_err(r->d, XG_E_CORRUPT, &l, "reserved field of HVM_PARAMS is not zero");
        }
        uint64_t want = 8 + (uint64_t)h->count * 16;
        if (want != len) {
            struct xg_loc l = loc;
            l.field = "body_length";
            l.has_found = 1, l.found = len, l.has_expected = 1, l.expected = want;
            return xg_diag_err(r->d, XG_E_CORRUPT, &l, "HVM_PARAMS count %u does not match its length %u",
                               h->count, len);
        }
        rec->u.hvm_params.count = h->count;
        rec->u.hvm_params.param = (const struct xg_hvm_param *)(b + 8);
        return 0;
    }
    case XG_REC_X86_CPUID_POLICY:
        rec->u.cpuid.nr = len / CPUID_LEAF_SIZE;
        rec->u.cpuid.leaf = (const struct xg_cpuid_leaf *)b;
        return 0;
    case XG_REC_X86_MSR_POLICY: {
        const struct xg_msr_entry *m = (const void *)b;
        for (uint32_t i = 0; i < len / MSR_ENTRY_SIZE; i++)
            if (m[i].flags) {
                struct xg_loc l = field_loc(loc, body_off, 16ULL * i + 4, "flags", m[i].flags, 0);
                return xg_diag_err(r->d, XG_E_CORRUPT, &l, "X86_MSR_POLICY entry %u (MSR %#x) has non-zero flags",
                                   i, m[i].idx);
            }
        rec->u.msr.nr = len / MSR_ENTRY_SIZE;
        rec->u.msr.entry = m;
        return 0;
    }
    case XG_REC_CHECKPOINT_DIRTY_PFN_LIST:
        rec->u.dirty.nr = len / 8;
        rec->u.dirty.pfn = (const uint64_t *)b;
        return 0;
    default:
        rec->u.blob.size = len;
        rec->u.blob.data = b;
        return 0;
    }
}

static int read_record(xg_stream_reader *r, struct xg_record *rec)
{
    memset(rec, 0, sizeof(*rec));
    if (r->seen_end)
        return xg_diag_err(r->d, XG_E_INVAL, NULL, "read past the END record");

    uint64_t hdr_off = r->off;
    struct wire_rhdr h;
    ssize_t n = src_read(r, &h, sizeof(h));
    if (n < 0)
        return (int)n;
    if (n == 0) {
        struct xg_loc l = { XGF_OFFSET(hdr_off) };
        if (r->next_index)
            return xg_diag_err(r->d, XG_E_TRUNCATED, &l,
                               "image ends after record %llu without an END record (truncated)",
                               (unsigned long long)r->next_index - 1);
        return xg_diag_err(r->d, XG_E_TRUNCATED, &l, "image ends right after its headers, without any record");
    }
    if ((size_t)n < sizeof(h)) {
        struct xg_loc l = { XGF_OFFSET(hdr_off), XGF_FOUND((uint64_t)n), XGF_EXPECTED(8) };
        return xg_diag_err(r->d, XG_E_TRUNCATED, &l,
                           "image truncated inside the header of record %llu (%zd of 8 bytes)",
                           (unsigned long long)r->next_index, n);
    }
    rec->type = h.type;
    rec->length = h.length;
    rec->index = r->next_index++;
    rec->offset = hdr_off;
    struct xg_loc loc = { XGF_REC(rec->index, rec->type), XGF_OFFSET(hdr_off) };
    uint64_t body_off = hdr_off + 8;

    bool known = h.type < XG_REC__NR_KNOWN;
    if (!known && !(h.type & XG_REC_OPTIONAL))
        return xg_diag_err(r->d, XG_E_UNSUPPORTED, &loc,
                           "unknown mandatory record type %#x: this image needs a newer restorer", h.type);
    if (h.length > r->opts.max_record) {
        struct xg_loc l = loc;
        l.field = "body_length", l.has_found = 1, l.found = h.length, l.has_expected = 1,
        l.expected = r->opts.max_record;
        return xg_diag_err(r->d, XG_E_CORRUPT, &l, "%s record claims %u bytes, more than the %u-byte record limit",
                           xg_stream_rec_name(h.type), h.length, r->opts.max_record);
    }
    int rc = check_length(r, rec, loc);
    if (rc < 0)
        return rc;
    rc = check_order(r, rec, loc);
    if (rc < 0)
        return rc;

    size_t pad = (8 - h.length % 8) % 8;
    char what[64];
    snprintf(what, sizeof(what), "the %s record body", xg_stream_rec_name(h.type));
    if (h.type == XG_REC_PAGE_DATA) {
        rc = read_page_data(r, rec, loc, body_off);
    } else {
        rc = read_body(r, 0, h.length, what, &loc);
        if (rc == 0) {
            rc = parse_body(r, rec, loc, body_off);
        }
    }
    if (rc < 0)
        return rc;
    if (pad) {
        uint8_t p[8];
        rc = read_exact(r, p, pad, "record padding", &loc);
        if (rc < 0)
            return rc;
        rc = check_padding(r, p, pad, body_off + h.length, loc);
        if (rc < 0)
            return rc;
    }
    rec->body = r->buf;
    if (h.type == XG_REC_END) {
        r->seen_end = true;
        /* A wrapped v2 stream goes on with the libxl trailer, checked there; a legacy PV image ends here. */
        if (r->gz && (r->info.wrapper == XG_WRAP_NONE || r->legacy))
            return gz_check_end(r, "the END record");
    }
    return 0;
}

int xg_stream_read(xg_stream_reader *r, struct xg_record *rec)
{
    if (r->failed)
        return xg_diag_err(r->d, XG_E_INVAL, NULL, "reading on after an earlier stream error");
    return fail(r, read_record(r, rec));
}

int xg_stream_read_trailer(xg_stream_reader *r)
{
    if (r->failed)
        return xg_diag_err(r->d, XG_E_INVAL, NULL, "reading on after an earlier stream error");
    if (!r->seen_end)
        return xg_diag_err(r->d, XG_E_INVAL, NULL, "the libxc stream has not reached END yet");
    if (r->info.wrapper == XG_WRAP_NONE || r->legacy || r->trailer_done)
        return 0;
    for (;;) {
        uint8_t hdr[8];
        uint64_t roff = r->off;
        struct xg_loc l = { XGF_OFFSET(roff) };
        int rc = read_exact(r, hdr, 8, "a libxl record header after the libxc stream", &l);
        if (rc < 0)
            return fail(r, rc);
        uint32_t type = xg__le32(hdr), len = xg__le32(hdr + 4);
        l.has_rec_type = 1;
        l.rec_type = type;
        if (type == LIBXL_REC_END) {
            if (len) {
                l.field = "body_length", l.has_found = 1, l.found = len, l.has_expected = 1, l.expected = 0;
                return fail(r, xg_diag_err(r->d, XG_E_CORRUPT, &l, "libxl END record must be empty"));
            }
            r->trailer_done = true;
            if (r->gz)
                return fail(r, gz_check_end(r, "the libxl END record"));
            return 0;
        }
        if (type > LIBXL_REC_CHECKPOINT_STATE || type == LIBXL_REC_LIBXC_CONTEXT)
            return fail(r, xg_diag_err(r->d, XG_E_CORRUPT, &l, "unexpected libxl record type %#x after the libxc stream",
                                       type));
        if (len > XG_REC_LENGTH_MAX)
            return fail(r, xg_diag_err(r->d, XG_E_CORRUPT, &l, "libxl record of %u bytes exceeds the limit", len));
        rc = skip_bytes(r, XG_ROUNDUP((uint64_t)len, 8), "a libxl record body", &l);
        if (rc < 0)
            return fail(r, rc);
    }
}
