/*
 * source.c - the stream reader's bytes: the file itself (or zlib's
 * inflation of it), the legacy converter's v2 records made from an old
 * image, reads of an exact length that name what was cut short, and the
 * record body buffer that grows only as bytes arrive.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "stream/reader_private.h"
#include "stream/stream_private.h"

/* Bodies grow in steps of at most this much beyond what has arrived. */
#define GROW_STEP (4U << 20)

ssize_t xg__src_raw_read(void *reader, void *buf, size_t len)
{
    xg_stream_reader *r = reader;
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

ssize_t xg__src_read(xg_stream_reader *r, void *buf, size_t len)
{
    ssize_t n = r->legacy ? xg__legacy_read(r->legacy, buf, len) : xg__src_raw_read(r, buf, len);
    if (n > 0)
        r->off += (uint64_t)n;
    return n;
}

int xg__src_read_exact(xg_stream_reader *r, void *buf, size_t len, const char *what,
                       const struct xg_loc *ctx)
{
    uint64_t start = r->off;
    ssize_t n = xg__src_read(r, buf, len);
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

int xg__src_skip(xg_stream_reader *r, uint64_t len, const char *what, const struct xg_loc *ctx)
{
    uint8_t scratch[4096];
    while (len) {
        size_t n = len > sizeof(scratch) ? sizeof(scratch) : (size_t)len;
        int rc = xg__src_read_exact(r, scratch, n, what, ctx);
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

/* GROW_STEP at a time beyond what we hold. */
int xg__src_read_body(xg_stream_reader *r, size_t at, size_t len, const char *what,
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
        rc = xg__src_read_exact(r, r->buf + at + done, step, what, ctx);
        if (rc < 0)
            return rc;
        done += step;
    }
    return 0;
}


/*
 * A reader that stopped at END would accept a damaged file; and nothing
 * may follow the stream inside the gzip data.
 */
int xg__src_gz_check_end(xg_stream_reader *r, const char *after)
{
    uint8_t extra;
    uint64_t at = r->off;
    ssize_t n = xg__src_read(r, &extra, 1);
    if (n < 0)
        return (int)n;
    if (n > 0) {
        struct xg_loc loc = { XGF_OFFSET(at), XGF_FOUND(extra) };
        return xg_diag_err(r->d, XG_E_CORRUPT, &loc,
                           "data follows %s inside the gzip-compressed image", after);
    }
    return 0;
}
