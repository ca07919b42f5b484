/*
 * source.c - the stream reader's bytes: the file itself (or zlib's
 * inflation of it), the legacy converter's v2 records made from an old
 * image, reads of an exact length that name what was cut short, and the
 * record body buffer that grows only as bytes arrive.
 */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>

#include "internal.h"
#include "stream/reader_private.h"
#include "stream/stream_private.h"
#include "xg/stream.h"

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

/* The file ended after `got` of the `len` bytes of `what` that start at `start`. */
static int truncated(xg_stream_reader *r, const char *what, size_t len, uint64_t start, size_t got,
                     const struct xg_loc *ctx)
{
    struct xg_loc loc = ctx ? *ctx : (struct xg_loc){ 0 };
    if (!loc.has_offset) {
        loc.has_offset = 1;
        loc.offset = start;
    }
    loc.has_found = 1;
    loc.found = (uint64_t)got;
    loc.has_expected = 1;
    loc.expected = len;
    return xg_diag_err(r->d, XG_E_TRUNCATED, &loc,
                       "image truncated: %s needs %zu bytes at offset %llu, only %zu left", what,
                       len, (unsigned long long)start, got);
}

int xg__src_read_exact(xg_stream_reader *r, void *buf, size_t len, const char *what,
                       const struct xg_loc *ctx)
{
    uint64_t start = r->off;
    ssize_t n = xg__src_read(r, buf, len);
    if (n < 0)
        return (int)n;
    if ((size_t)n < len)
        return truncated(r, what, len, start, (size_t)n, ctx);
    return 0;
}

/* ---- page contents straight into their frames (stream_private.h) ---- */

#define PAGE_CONTENTS "the PAGE_DATA page contents"

void xg__stream_defer_page_data(xg_stream_reader *r, bool on)
{
    r->defer_page_data = on;
}

/*
 * The file itself, nothing sniffed left to hand back: n pages by readv(),
 * as few calls as the pipe or file allows (a page at a time would cost a
 * system call per page, more than the copy it saves).
 */
_Static_assert(XG_MAX_BATCH <= IOV_MAX, "a batch of pages is one readv()");

static int readv_pages(xg_stream_reader *r, uint8_t *const *dst, unsigned n)
{
    struct iovec iov[XG_MAX_BATCH];
    size_t want = (size_t)n * XG_PAGE_SIZE, got = 0;
    uint64_t start = r->off;
    while (got < want) {
        /* The pages not yet (wholly) read, from the one readv() stopped in. */
        unsigned first = (unsigned)(got / XG_PAGE_SIZE), k = 0;
        size_t into = got % XG_PAGE_SIZE;
        for (unsigned i = first; i < n && k < XG_MAX_BATCH; i++, k++) {
            iov[k].iov_base = dst[i] + (i == first ? into : 0);
            iov[k].iov_len = XG_PAGE_SIZE - (i == first ? into : 0);
        }
        ssize_t m = readv(r->fd, iov, (int)k);
        if (m < 0 && errno == EINTR)
            continue;
        if (m < 0) {
            struct xg_loc loc = { XGF_OFFSET(r->raw_off) };
            return xg_diag_syserr(r->d, XG_E_IO, errno, &loc, "reading the image");
        }
        if (m == 0)
            return truncated(r, PAGE_CONTENTS, want, start, got, &r->pending_loc);
        got += (size_t)m;
        r->raw_off += (uint64_t)m;
        r->off += (uint64_t)m;
    }
    return 0;
}

int xg__stream_read_pages(xg_stream_reader *r, uint8_t *const *dst, unsigned n)
{
    if ((uint64_t)n * XG_PAGE_SIZE > r->pending_data)
        return xg_diag_err(r->d, XG_E_INVAL, &r->pending_loc,
                           "asked for %u pages of PAGE_DATA contents, %llu left", n,
                           (unsigned long long)(r->pending_data / XG_PAGE_SIZE));
    int rc = 0;
    if (!r->gz && !r->legacy && r->push_pos >= r->push_len) {
        for (unsigned done = 0; rc == 0 && done < n; done += XG_MAX_BATCH)
            rc = readv_pages(r, dst + done, XG_MIN(n - done, XG_MAX_BATCH));
    } else {
        /* zlib or the legacy converter hand over bytes they hold: straight in, a page at a time. */
        for (unsigned i = 0; rc == 0 && i < n; i++)
            rc = xg__src_read_exact(r, dst[i], XG_PAGE_SIZE, PAGE_CONTENTS, &r->pending_loc);
    }
    if (rc < 0)
        r->failed = true; /* part of the contents is gone: no record boundary to go on from */
    else
        r->pending_data -= (uint64_t)n * XG_PAGE_SIZE;
    return rc;
}

/* What the caller left of the last PAGE_DATA record's contents: skipped, to the next record. */
int xg__src_skip_pending(xg_stream_reader *r)
{
    if (!r->pending_data)
        return 0;
    uint64_t left = r->pending_data;
    r->pending_data = 0;
    return xg__src_skip(r, left, PAGE_CONTENTS, &r->pending_loc);
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
