/*
 * gzip.c - transparent gzip framing around a whole stream, with zlib:
 * the reading side (gzip_write.c compresses).
 *
 * The inner stream stays a standard libxc stream; gzip is only the
 * container, detected by its magic.  Concatenated gzip members (what
 * `cat a.gz b.gz` makes, and what xg's parallel compressor writes) are
 * read as one stream.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "internal.h"
#include "stream/stream_private.h"

#define GZ_IN_SIZE (256U << 10)
#define GZ_OUT_SIZE (256U << 10)

struct xg_gzr {
    int fd;
    z_stream z;
    uint8_t *in;
    bool eof_fd;      /* read() returned 0 */
    bool member_done; /* inflate said Z_STREAM_END for the current member */
    bool finished;    /* no more data, cleanly */
};

int xg__gzr_open(int fd, const void *prefix, size_t prefix_len, xg_diag *d, struct xg_gzr **out)
{
    *out = NULL;
    struct xg_gzr *g = calloc(1, sizeof(*g));
    if (!g || !(g->in = malloc(GZ_IN_SIZE)) || prefix_len > GZ_IN_SIZE) {
        if (g)
            free(g->in);
        free(g);
        return xg_diag_err(d, XG_E_NOMEM, NULL, "out of memory starting gzip decompression");
    }
    g->fd = fd;
    memcpy(g->in, prefix, prefix_len);
    g->z.next_in = g->in;
    g->z.avail_in = (uInt)prefix_len;
    /* 16 + MAX_WBITS: gzip framing only (no raw zlib). */
    if (inflateInit2(&g->z, 16 + MAX_WBITS) != Z_OK) {
        free(g->in);
        free(g);
        return xg_diag_err(d, XG_E_NOMEM, NULL, "zlib: cannot start decompression");
    }
    *out = g;
    return 0;
}

/* Refill the input buffer; returns 0, or XG_E_IO. */
static int gzr_fill(struct xg_gzr *g, xg_diag *d)
{
    if (g->z.avail_in > 0 || g->eof_fd)
        return 0;
    ssize_t n;
    do {
        n = read(g->fd, g->in, GZ_IN_SIZE);
    } while (n < 0 && errno == EINTR);
    if (n < 0)
        return xg_diag_syserr(d, XG_E_IO, errno, NULL, "reading compressed image");
    if (n == 0)
        g->eof_fd = true;
    g->z.next_in = g->in;
    g->z.avail_in = (uInt)n;
    return 0;
}

ssize_t xg__gzr_read(struct xg_gzr *g, void *buf, size_t len, uint64_t offset, xg_diag *d)
{
    size_t done = 0;
    while (done < len && !g->finished) {
        int rc = gzr_fill(g, d);
        if (rc < 0)
            return rc;
        if (g->member_done) {
            /* Another member may follow; anything else after gzip is an error. */
            if (g->z.avail_in == 0 && g->eof_fd) {
                g->finished = true;
                break;
            }
            if (g->z.avail_in == 0)
                continue;
            if (g->z.next_in[0] != XG_GZIP_MAGIC0) {
                struct xg_loc loc = { XGF_OFFSET(offset + done) };
                return xg_diag_err(
                    d, XG_E_CORRUPT, &loc,
                    "data after the end of the gzip stream is not another gzip member");
            }
            inflateReset(&g->z);
            g->member_done = false;
        }
        g->z.next_out = (Bytef *)buf + done;
        size_t want = len - done;
        g->z.avail_out = want > UINT32_MAX ? UINT32_MAX : (uInt)want;
        uInt before = g->z.avail_out;
        int zr = inflate(&g->z, Z_NO_FLUSH);
        done += before - g->z.avail_out;
        if (zr == Z_STREAM_END) {
            g->member_done = true;
        } else if (zr == Z_BUF_ERROR) {
            if (g->z.avail_in == 0 && g->eof_fd) {
                struct xg_loc loc = { XGF_OFFSET(offset + done) };
                return xg_diag_err(
                    d, XG_E_TRUNCATED, &loc,
                    "compressed image ends in the middle of a gzip member (file truncated?)");
            }
        } else if (zr != Z_OK) {
            struct xg_loc loc = { XGF_OFFSET(offset + done) };
            return xg_diag_err(d, XG_E_CORRUPT, &loc, "gzip data is corrupt: %s",
                               g->z.msg ? g->z.msg : "inflate failed");
        }
    }
    return (ssize_t)done;
}

void xg__gzr_close(struct xg_gzr *g)
{
    if (!g)
        return;
    inflateEnd(&g->z);
    free(g->in);
    free(g);
}
