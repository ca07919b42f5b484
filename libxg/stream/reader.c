/*
 * reader.c - pull records from a libxc migration stream v2, one at a time,
 * checking everything the spec constrains: the wrappers and headers
 * before the stream, each record's header, the libxl trailer after it.
 *
 * Validation order per record follows Xen's handle_page_data: header,
 * length against the type's rules, order rules, then the body field by
 * field (the rules of each type: records.c).  A record's body is read
 * into one buffer that grows only as bytes actually arrive (source.c), so
 * a header that lies about its length costs at most what the file really
 * holds (and never more than the record cap).
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "stream/format.h"
#include "stream/reader_private.h"
#include "stream/stream_private.h"
#include "xg/stream.h"

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
    int rc = xg__src_read_exact(r, (uint8_t *)&h + 8, sizeof(h) - 8, "the xl save-file header",
                                &loc);
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
        return xg_diag_err(
            r->d, XG_E_VERSION, &l,
            "xl save file needs features this reader does not know (mandatory flags %#x)",
            h.mandatory_flags & ~XL_MANDATORY_KNOWN);
    }
    if (h.optional_data_len > XL_OPTIONAL_DATA_MAX) {
        struct xg_loc l = { XGF_OFFSET(start + 44), XGF_FIELD("optional_data_len"),
                            XGF_FOUND(h.optional_data_len), XGF_EXPECTED(XL_OPTIONAL_DATA_MAX) };
        return xg_diag_err(r->d, XG_E_CORRUPT, &l,
                           "xl optional data of %u bytes is implausibly large",
                           h.optional_data_len);
    }
    uint32_t left = h.optional_data_len;
    if (left >= 4) {
        uint8_t len4[4];
        rc = xg__src_read_exact(r, len4, 4, "the xl config length", NULL);
        if (rc < 0)
            return rc;
        r->info.xl_config_len = xg__le32(len4);
        left -= 4;
        if (r->info.xl_config_len > left) {
            struct xg_loc l = { XGF_OFFSET(start + 48), XGF_FIELD("config length"),
                                XGF_FOUND(r->info.xl_config_len), XGF_EXPECTED(left) };
            return xg_diag_err(
                r->d, XG_E_CORRUPT, &l,
                "xl config of %u bytes does not fit in the %u bytes of optional data left",
                r->info.xl_config_len, left);
        }
    }
    rc = xg__src_skip(r, left, "the xl domain configuration", NULL);
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
    int rc = xg__src_read_exact(r, rest, 8, "the libxl stream header", &loc);
    if (rc < 0)
        return rc;
    uint32_t version = xg__be32(rest), options = xg__be32(rest + 4);
    if (version != 2) {
        struct xg_loc l = { XGF_OFFSET(start + 8), XGF_FIELD("version"), XGF_FOUND(version),
                            XGF_EXPECTED(2) };
        return xg_diag_err(r->d, XG_E_VERSION, &l,
                           "libxl stream version %u is not supported (only 2)", version);
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
        rc = xg__src_read_exact(r, hdr, 8, "a libxl record header", &l);
        if (rc < 0)
            return rc;
        uint32_t type = xg__le32(hdr), len = xg__le32(hdr + 4);
        struct xg_loc rl = { XGF_OFFSET(roff), XGF_REC(idx, type) };
        switch (type) {
        case LIBXL_REC_LIBXC_CONTEXT:
            if (len != 0) {
                rl.has_found = 1, rl.found = len, rl.has_expected = 1, rl.expected = 0;
                return xg_diag_err(r->d, XG_E_CORRUPT, &rl,
                                   "libxl LIBXC_CONTEXT record must be empty");
            }
            return 0;
        case LIBXL_REC_END:
            return xg_diag_err(r->d, XG_E_CORRUPT, &rl, "libxl stream ends before its libxc part");
        case LIBXL_REC_EMULATOR_XENSTORE_DATA:
        case LIBXL_REC_EMULATOR_CONTEXT:
        case LIBXL_REC_CHECKPOINT_END:
        case LIBXL_REC_CHECKPOINT_STATE:
            if (len > XG_REC_LENGTH_MAX)
                return xg_diag_err(r->d, XG_E_CORRUPT, &rl,
                                   "libxl record of %u bytes exceeds the limit", len);
            rc = xg__src_skip(r, XG_ROUNDUP((uint64_t)len, 8), "a libxl record body", &rl);
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
    int rc = xg__src_read_exact(r, ih + 8, IHDR_SIZE - 8, "the image header", &loc);
    if (rc < 0)
        return rc;
    r->info.libxc_offset = start;

    uint32_t id = xg__be32(ih + 8), version = xg__be32(ih + 12);
    uint16_t options = xg__be16(ih + 16), res1 = xg__be16(ih + 18);
    uint32_t res2 = xg__be32(ih + 20);
    if (id != IHDR_ID) {
        struct xg_loc l = { XGF_OFFSET(start + 8), XGF_FIELD("id"), XGF_FOUND(id),
                            XGF_EXPECTED(IHDR_ID) };
        return xg_diag_err(r->d, XG_E_CORRUPT, &l, "bad image id (expected 0x58454e46 \"XENF\")");
    }
    if (version < 2 || version > 3) {
        struct xg_loc l = { XGF_OFFSET(start + 12), XGF_FIELD("version"), XGF_FOUND(version),
                            XGF_EXPECTED(3) };
        return xg_diag_err(r->d, XG_E_VERSION, &l,
                           "image version %u is not supported (2 and 3 are)", version);
    }
    if (options & IHDR_OPT_RESERVED) {
        struct xg_loc l = { XGF_OFFSET(start + 16), XGF_FIELD("options"), XGF_FOUND(options),
                            XGF_EXPECTED(options & ~IHDR_OPT_RESERVED) };
        return xg_diag_err(r->d, XG_E_CORRUPT, &l, "reserved bits set in the image header options");
    }
    if (res1 || res2) {
        struct xg_loc l = { XGF_OFFSET(start + 18), XGF_FIELD("reserved"),
                            XGF_FOUND((uint64_t)res1 << 32 | res2), XGF_EXPECTED(0) };
        return xg_diag_err(r->d, XG_E_CORRUPT, &l,
                           "reserved field of the image header is not zero");
    }
    if (options & IHDR_OPT_BIG_ENDIAN) {
        struct xg_loc l = { XGF_OFFSET(start + 16), XGF_FIELD("options") };
        return xg_diag_err(r->d, XG_E_UNSUPPORTED, &l,
                           "big-endian image: xg handles little-endian (x86) images only");
    }
    r->info.version = version;

    struct wire_dhdr dh;
    uint64_t doff = r->off;
    struct xg_loc dl = { XGF_OFFSET(doff) };
    rc = xg__src_read_exact(r, &dh, sizeof(dh), "the domain header", &dl);
    if (rc < 0)
        return rc;
    if (dh.type != XG_DOMAIN_X86_PV && dh.type != XG_DOMAIN_X86_HVM) {
        struct xg_loc l = { XGF_OFFSET(doff), XGF_FIELD("type"), XGF_FOUND(dh.type),
                            XGF_EXPECTED(XG_DOMAIN_X86_PV) };
        return xg_diag_err(r->d, XG_E_CORRUPT, &l,
                           "unknown domain type %#x (1 = x86 PV, 2 = x86 HVM)", dh.type);
    }
    if (dh.page_shift != XG_PAGE_SHIFT) {
        struct xg_loc l = { XGF_OFFSET(doff + 4), XGF_FIELD("page_shift"), XGF_FOUND(dh.page_shift),
                            XGF_EXPECTED(XG_PAGE_SHIFT) };
        return xg_diag_err(r->d, XG_E_CORRUPT, &l, "page shift %u is not 12 (4 KiB pages)",
                           dh.page_shift);
    }
    if (dh.reserved) {
        struct xg_loc l = { XGF_OFFSET(doff + 6), XGF_FIELD("reserved"), XGF_FOUND(dh.reserved),
                            XGF_EXPECTED(0) };
        return xg_diag_err(r->d, XG_E_CORRUPT, &l,
                           "reserved field of the domain header is not zero");
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

/*
 * xend (Xen 3.x): "LinuxGuestRecord", a big-endian config length, the SXP
 * config, then a legacy stream.
 */
static int read_xend_header(xg_stream_reader *r, const uint8_t first8[8])
{
    uint8_t rest[12];
    uint64_t start = r->off - 8;
    struct xg_loc loc = { XGF_OFFSET(start) };
    int rc = xg__src_read_exact(r, rest, sizeof(rest), "the xend save-file header", &loc);
    if (rc < 0)
        return rc;
    if (memcmp(first8, XEND_MAGIC, 8) || memcmp(rest, XEND_MAGIC + 8, 8))
        return xg_diag_err(r->d, XG_E_CORRUPT, &loc, "bad xend save-file magic");
    uint32_t len = xg__be32(rest + 8);
    if (len > XL_OPTIONAL_DATA_MAX) {
        struct xg_loc l = { XGF_OFFSET(start + 16), XGF_FIELD("config length"), XGF_FOUND(len) };
        return xg_diag_err(r->d, XG_E_CORRUPT, &l, "xend config of %u bytes is implausibly large",
                           len);
    }
    r->info.wrapper = XG_WRAP_XEND;
    r->info.xl_config_len = len;
    return xg__src_skip(r, len, "the xend domain configuration", NULL);
}

/* A legacy (pre-4.6) image starts here with b: convert it as it is read. */
static int open_legacy(xg_stream_reader *r, const uint8_t b[8])
{
    struct xg_loc l = { XGF_OFFSET(r->raw_off - 8), XGF_FIELD("octets 4-7") };
    if (r->opts.raw_only)
        return xg_diag_err(r->d, XG_E_UNSUPPORTED, &l,
                           "a legacy (pre-Xen 4.6) image where a v2 libxc stream is expected");
    /*
     * Octets 4-7: the top of a 64-bit toolstack's p2m_size (0), or a
     * 32-bit one's extended-info marker.
     */
    uint32_t hi = xg__le32(b + 4), p2m_size = xg__le32(b);
    unsigned word = hi == 0 ? 8 : hi == 0xffffffffU ? 4 : 0;
    /* Octets 0-3: p2m_size, at most 2^28 (a legacy batch has 28 bits of pfn). */
    if (!word || p2m_size == 0 || p2m_size > XG_LEGACY_MAX_PFNS)
        return xg_diag_err(
            r->d, XG_E_VERSION, &l,
            "not a Xen save image: neither a migration stream v2 (first 8 bytes all 0xff) "
            "nor a legacy PV image");
    memcpy(r->push, b, 8);
    r->push_len = 8;
    r->push_pos = 0;
    r->raw_off -= 8;
    int rc = xg__legacy_open(xg__src_raw_read, r, word, r->raw_off, r->d, &r->legacy);
    if (rc < 0)
        return rc;
    r->info.legacy = true;
    r->info.legacy_toolstack_bits = word * 8;
    xg__legacy_report_unmappable(r->legacy, &r->info);
    uint8_t ih[8];
    r->off = 0;
    if ((rc = xg__src_read_exact(r, ih, 8, "the converted image header", NULL)) < 0)
        return rc;
    return read_libxc_headers(r, ih);
}

static int open_headers(xg_stream_reader *r)
{
    uint8_t b[8];
    ssize_t n = xg__src_read(r, b, 8);
    if (n < 0)
        return (int)n;
    if (n == 0)
        return xg_diag_err(r->d, XG_E_TRUNCATED, NULL, "empty input: not a Xen save image");
    if (n < 8) {
        struct xg_loc l = { XGF_OFFSET(0), XGF_FOUND((uint64_t)n), XGF_EXPECTED(8) };
        return xg_diag_err(r->d, XG_E_TRUNCATED, &l,
                           "input of %zd bytes is too short to be a Xen save image", n);
    }
    if (b[0] == XG_GZIP_MAGIC0 && b[1] == XG_GZIP_MAGIC1) {
        if (r->opts.raw_only)
            return xg_diag_err(r->d, XG_E_UNSUPPORTED, NULL,
                               "gzip-compressed input where a raw libxc stream is expected");
        int rc = xg__gzr_open(r->fd, b, 8, r->d, &r->gz);
        if (rc < 0)
            return rc;
        r->info.gzip = true;
        r->off = r->raw_off = 0;
        n = xg__src_read(r, b, 8);
        if (n < 0)
            return (int)n;
        if (n < 8) {
            struct xg_loc l = { XGF_OFFSET(0), XGF_FOUND((uint64_t)n), XGF_EXPECTED(8) };
            return xg_diag_err(r->d, XG_E_TRUNCATED, &l,
                               "compressed input holds only %zd bytes: not a Xen save image", n);
        }
    }

    if (memcmp(b, XL_MAGIC, 8) == 0) {
        if (r->opts.raw_only)
            return xg_diag_err(r->d, XG_E_UNSUPPORTED, NULL,
                               "xl save file where a raw libxc stream is expected");
        bool v2 = false;
        int rc = read_xl_header(r, b, &v2);
        if (rc < 0)
            return rc;
        rc = xg__src_read_exact(r, b, 8, v2 ? "the libxl stream header" : "the legacy image", NULL);
        if (rc < 0)
            return rc;
        if (!v2 && xg__be64(b) == IHDR_MARKER) {
            struct xg_loc l = { XGF_OFFSET(r->off - 8), XGF_FIELD("stream start") };
            return xg_diag_err(r->d, XG_E_VERSION, &l,
                               "the xl header announces a legacy stream (no STREAMv2 flag) "
                               "but a migration stream v2 follows");
        }
        if (!v2)
            return open_legacy(r, b); /* xl before Xen 4.6 wrote a legacy stream */
        if (xg__be64(b) != LIBXL_IDENT) {
            struct xg_loc l = { XGF_OFFSET(r->off - 8), XGF_FIELD("ident"), XGF_FOUND(xg__be64(b)),
                                XGF_EXPECTED(LIBXL_IDENT) };
            return xg_diag_err(r->d, XG_E_CORRUPT, &l,
                               "xl save file says a libxl stream follows, but there is none");
        }
    }
    if (xg__be64(b) == LIBXL_IDENT) {
        if (r->opts.raw_only)
            return xg_diag_err(r->d, XG_E_UNSUPPORTED, NULL,
                               "libxl stream where a raw libxc stream is expected");
        int rc = read_libxl_prefix(r);
        if (rc < 0)
            return rc;
        rc = xg__src_read_exact(r, b, 8, "the image header", NULL);
        if (rc < 0)
            return rc;
    }
    if (memcmp(b, XEND_MAGIC, 8) == 0) {
        if (r->opts.raw_only)
            return xg_diag_err(r->d, XG_E_UNSUPPORTED, NULL,
                               "xend save file where a raw libxc stream is expected");
        int rc = read_xend_header(r, b);
        if (rc < 0)
            return rc;
        if ((rc = xg__src_read_exact(r, b, 8, "the legacy image", NULL)) < 0)
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


static int check_padding(xg_stream_reader *r, const uint8_t *pad, size_t n, uint64_t at,
                         struct xg_loc loc)
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
            return xg_diag_err(r->d, XG_E_CORRUPT, &loc,
                               "non-zero padding byte after the %s record body",
                               xg_stream_rec_name(loc.rec_type));
        }
    }
    return 0;
}

static int read_record(xg_stream_reader *r, struct xg_record *rec)
{
    memset(rec, 0, sizeof(*rec));
    if (r->seen_end)
        return xg_diag_err(r->d, XG_E_INVAL, NULL, "read past the END record");
    int rc = xg__src_skip_pending(r);
    if (rc < 0)
        return rc;

    uint64_t hdr_off = r->off;
    struct wire_rhdr h;
    ssize_t n = xg__src_read(r, &h, sizeof(h));
    if (n < 0)
        return (int)n;
    if (n == 0) {
        struct xg_loc l = { XGF_OFFSET(hdr_off) };
        if (r->next_index)
            return xg_diag_err(r->d, XG_E_TRUNCATED, &l,
                               "image ends after record %llu without an END record (truncated)",
                               (unsigned long long)r->next_index - 1);
        return xg_diag_err(r->d, XG_E_TRUNCATED, &l,
                           "image ends right after its headers, without any record");
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
                           "unknown mandatory record type %#x: this image needs a newer restorer",
                           h.type);
    if (h.length > r->opts.max_record) {
        struct xg_loc l = loc;
        l.field = "body_length", l.has_found = 1, l.found = h.length, l.has_expected = 1,
        l.expected = r->opts.max_record;
        return xg_diag_err(r->d, XG_E_CORRUPT, &l,
                           "%s record claims %u bytes, more than the %u-byte record limit",
                           xg_stream_rec_name(h.type), h.length, r->opts.max_record);
    }
    rc = xg__rec_check_header(r, rec, loc);
    if (rc < 0)
        return rc;

    size_t pad = (8 - h.length % 8) % 8;
    rc = xg__rec_read_body(r, rec, loc, body_off);
    if (rc < 0)
        return rc;
    if (pad) {
        uint8_t p[8];
        rc = xg__src_read_exact(r, p, pad, "record padding", &loc);
        if (rc < 0)
            return rc;
        rc = check_padding(r, p, pad, body_off + h.length, loc);
        if (rc < 0)
            return rc;
    }
    rec->body = r->buf;
    if (h.type == XG_REC_END) {
        r->seen_end = true;
        /*
         * A wrapped v2 stream goes on with the libxl trailer, checked
         * there; a legacy PV image ends here.
         */
        if (r->gz && (r->info.wrapper == XG_WRAP_NONE || r->legacy))
            return xg__src_gz_check_end(r, "the END record");
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
        int rc = xg__src_read_exact(r, hdr, 8, "a libxl record header after the libxc stream", &l);
        if (rc < 0)
            return fail(r, rc);
        uint32_t type = xg__le32(hdr), len = xg__le32(hdr + 4);
        l.has_rec_type = 1;
        l.rec_type = type;
        if (type == LIBXL_REC_END) {
            if (len) {
                l.field = "body_length", l.has_found = 1, l.found = len, l.has_expected = 1,
                l.expected = 0;
                return fail(r,
                            xg_diag_err(r->d, XG_E_CORRUPT, &l, "libxl END record must be empty"));
            }
            r->trailer_done = true;
            if (r->gz)
                return fail(r, xg__src_gz_check_end(r, "the libxl END record"));
            return 0;
        }
        if (type > LIBXL_REC_CHECKPOINT_STATE || type == LIBXL_REC_LIBXC_CONTEXT)
            return fail(r, xg_diag_err(r->d, XG_E_CORRUPT, &l,
                                       "unexpected libxl record type %#x after the libxc stream",
                                       type));
        if (len > XG_REC_LENGTH_MAX)
            return fail(r, xg_diag_err(r->d, XG_E_CORRUPT, &l,
                                       "libxl record of %u bytes exceeds the limit", len));
        rc = xg__src_skip(r, XG_ROUNDUP((uint64_t)len, 8), "a libxl record body", &l);
        if (rc < 0)
            return fail(r, rc);
    }
}
