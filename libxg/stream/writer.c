/*
 * writer.c - write a libxc migration stream, version 3, little-endian.
 *
 * Every record goes out as one gather list {header, body pieces, padding};
 * PAGE_DATA's pages are referenced, never copied.  With gzip the same
 * gather list is fed to zlib instead of writev().  With opts.async the
 * gather list goes to the writer's own thread (writer_thread.c), page
 * contents by reference: the caller keeps them until xg_stream_writer_wait().
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "pv/abi.h"
#include "stream/format.h"
#include "stream/stream_private.h"
#include "xg/stream.h"

struct xg_stream_writer {
    int fd;
    xg_diag *d;
    struct xg_gzw *gz;
    struct xg__wq *q; /* async: the writing thread */
    uint64_t bytes;   /* raw bytes written (before compression) */
    uint64_t nr_records;
    int fail_rc; /* the error that set failed */
    bool headers_done, ended, failed, finished;
    struct iovec *iov; /* scratch gather list */
    unsigned iov_cap;
};

static const uint8_t zero_pad[8];

int xg_stream_writer_open(int fd, const struct xg_stream_writer_opts *opts, xg_diag *d,
                          xg_stream_writer **out)
{
    *out = NULL;
    xg_stream_writer *w = calloc(1, sizeof(*w));
    if (!w)
        return xg_diag_err(d, XG_E_NOMEM, NULL, "out of memory opening the stream writer");
    w->fd = fd;
    w->d = d;
    if (opts && opts->gzip) {
        int rc = xg__gzw_open(fd, opts->gzip_level, opts->gzip_threads, d, &w->gz);
        if (rc < 0) {
            free(w);
            return rc;
        }
    } else if (opts && opts->async) {
        int e = xg__wq_open(fd, &w->q);
        if (e) {
            free(w);
            if (e == ENOMEM)
                return xg_diag_err(d, XG_E_NOMEM, NULL,
                                   "out of memory starting the stream writer's thread");
            return xg_diag_syserr(d, XG_E_NOMEM, e, NULL,
                                  "cannot start the stream writer's thread");
        }
    }
    *out = w;
    return 0;
}

static int write_failed(xg_stream_writer *w, int e, const struct xg__wq_failure *where)
{
    struct xg_loc loc = { XGF_OFFSET(where->offset) };
    if (where->type != ~0U) {
        loc.has_rec_index = loc.has_rec_type = 1;
        loc.rec_index = where->index;
        loc.rec_type = where->type;
    }
    int rc = xg_diag_syserr(w->d, XG_E_IO, e, &loc, "writing the image");
    if (e == EPIPE)
        xg_diag_hint(w->d, "the reader of the image went away (closed pipe)");
    else if (e == ENOSPC)
        xg_diag_hint(w->d, "the disk holding the image is full");
    return rc;
}

/* The thread's failure, reported once in the caller's diag. */
static int async_failed(xg_stream_writer *w)
{
    struct xg__wq_failure f;
    if (!xg__wq_failed(w->q, &f))
        return 0;
    if (!w->failed) {
        w->failed = true;
        w->fail_rc = write_failed(w, f.err, &f);
    }
    return w->fail_rc;
}

/*
 * Write iov[0..n) (a record of `type`, or the headers: ~0U).  Async,
 * pieces from ref_first on are referenced, the others copied.
 */
static int emit(xg_stream_writer *w, const struct iovec *iov, unsigned n, uint32_t type,
                unsigned ref_first)
{
    size_t total = 0;
    for (unsigned i = 0; i < n; i++)
        total += iov[i].iov_len;
    struct xg__wq_failure where = { 0, w->bytes, w->nr_records, type };
    int rc;
    if (w->gz) {
        rc = xg__gzw_writev(w->gz, iov, n, w->d);
    } else if (w->q) {
        rc = xg__wq_put(w->q, iov, n, ref_first, &where);
        if (rc == XG_E_IO)
            return async_failed(w);
        if (rc < 0)
            rc = xg_diag_err(w->d, rc, NULL, "out of memory queueing a record");
    } else if (xg__writev_full(w->fd, iov, n) < 0) {
        rc = write_failed(w, errno, &where);
    } else {
        rc = 0;
    }
    if (rc < 0) {
        w->failed = true;
        w->fail_rc = rc;
        return rc;
    }
    w->bytes += total;
    return 0;
}

static int usable(xg_stream_writer *w)
{
    if (w->failed)
        return xg_diag_err(w->d, XG_E_INVAL, NULL, "writing on after an earlier write error");
    if (w->ended)
        return xg_diag_err(w->d, XG_E_INVAL, NULL, "writing after the END record");
    return 0;
}

int xg_stream_write_headers(xg_stream_writer *w, uint32_t domain_type, uint32_t xen_major,
                            uint32_t xen_minor)
{
    int rc = usable(w);
    if (rc < 0)
        return rc;
    if (w->headers_done)
        return xg_diag_err(w->d, XG_E_INVAL, NULL, "stream headers written twice");
    uint8_t ih[IHDR_SIZE] = { 0 };
    xg__put_be64(ih, IHDR_MARKER);
    xg__put_be32(ih + 8, IHDR_ID);
    xg__put_be32(ih + 12, XG_STREAM_VERSION);
    xg__put_be16(ih + 16, 0); /* little-endian */
    struct wire_dhdr dh = {
        .type = domain_type,
        .page_shift = XG_PAGE_SHIFT,
        .xen_major = xen_major,
        .xen_minor = xen_minor,
    };
    struct iovec iov[2] = { { ih, sizeof(ih) }, { &dh, sizeof(dh) } };
    rc = emit(w, iov, 2, ~0U, 2);
    if (rc == 0)
        w->headers_done = true;
    return rc;
}

static int grow_iov(xg_stream_writer *w, unsigned n)
{
    if (n <= w->iov_cap)
        return 0;
    struct iovec *p = realloc(w->iov, n * sizeof(*p));
    if (!p)
        return xg_diag_err(w->d, XG_E_NOMEM, NULL, "out of memory building a record");
    w->iov = p;
    w->iov_cap = n;
    return 0;
}

/* A record whose body pieces from ref_first on are referenced when async (PAGE_DATA's pages). */
static int write_recordv(xg_stream_writer *w, uint32_t type, const struct iovec *body, unsigned n,
                         unsigned ref_first)
{
    int rc = usable(w);
    if (rc < 0)
        return rc;
    if (!w->headers_done)
        return xg_diag_err(w->d, XG_E_INVAL, NULL, "record %s written before the stream headers",
                           xg_stream_rec_name(type));
    uint64_t len = 0;
    for (unsigned i = 0; i < n; i++)
        len += body[i].iov_len;
    if (len > XG_REC_LENGTH_MAX)
        return xg_diag_err(w->d, XG_E_INVAL, NULL,
                           "%s record of %llu bytes exceeds the %u-byte limit",
                           xg_stream_rec_name(type), (unsigned long long)len, XG_REC_LENGTH_MAX);
    rc = grow_iov(w, n + 2);
    if (rc < 0)
        return rc;
    struct wire_rhdr h = { .type = type, .length = (uint32_t)len };
    unsigned k = 0;
    w->iov[k++] = (struct iovec){ &h, sizeof(h) };
    for (unsigned i = 0; i < n; i++)
        w->iov[k++] = body[i];
    size_t pad = (8 - len % 8) % 8;
    if (pad)
        w->iov[k++] = (struct iovec){ (void *)zero_pad, pad };
    rc = emit(w, w->iov, k, type, ref_first < n ? ref_first + 1 : k);
    if (rc == 0) {
        w->nr_records++;
        if (type == XG_REC_END)
            w->ended = true;
    }
    return rc;
}

int xg_stream_write_recordv(xg_stream_writer *w, uint32_t type, const struct iovec *body,
                            unsigned n)
{
    return write_recordv(w, type, body, n, n);
}

int xg_stream_write_record(xg_stream_writer *w, uint32_t type, const void *body, uint32_t len)
{
    struct iovec iov = { (void *)body, len };
    return xg_stream_write_recordv(w, type, &iov, len ? 1 : 0);
}

int xg_stream_write_page_data(xg_stream_writer *w, uint32_t count, const uint64_t *entries,
                              const void *const *pages)
{
    if (count == 0 || count > XG_MAX_BATCH)
        return xg_diag_err(w->d, XG_E_INVAL, NULL, "PAGE_DATA batch of %u pages (must be 1..%u)",
                           count, XG_MAX_BATCH);
    unsigned nr_data = 0;
    for (uint32_t i = 0; i < count; i++) {
        uint32_t t = xg_pd_type(entries[i]);
        if (!xg_pfinfo_known(t) || (entries[i] & XG_PD_RSVD_MASK))
            return xg_diag_err(w->d, XG_E_INVAL, NULL,
                               "PAGE_DATA entry %u (%#llx) has an invalid type or reserved bits", i,
                               (unsigned long long)entries[i]);
        if (xg_pfinfo_has_data(t))
            nr_data++;
    }
    /* {count, reserved}, pfns, then one iovec per page: no copy of page data. */
    struct iovec stack_iov[2 + XG_MAX_BATCH];
    struct wire_page_data_hdr h = { .count = count };
    unsigned k = 0;
    stack_iov[k++] = (struct iovec){ &h, sizeof(h) };
    stack_iov[k++] = (struct iovec){ (void *)entries, (size_t)count * 8 };
    for (unsigned i = 0; i < nr_data; i++) {
        if (!pages[i])
            return xg_diag_err(w->d, XG_E_INVAL, NULL, "PAGE_DATA page pointer %u is NULL", i);
        stack_iov[k++] = (struct iovec){ (void *)pages[i], XG_PAGE_SIZE };
    }
    return write_recordv(w, XG_REC_PAGE_DATA, stack_iov, k, 2);
}

int xg_stream_write_pv_info(xg_stream_writer *w, uint8_t guest_width, uint8_t pt_levels)
{
    struct wire_x86_pv_info pi = { .guest_width = guest_width, .pt_levels = pt_levels };
    return xg_stream_write_record(w, XG_REC_X86_PV_INFO, &pi, sizeof(pi));
}

int xg_stream_write_p2m_frames(xg_stream_writer *w, uint32_t start_pfn, uint32_t end_pfn,
                               const uint64_t *pfns, uint32_t nr)
{
    struct wire_p2m_frames_hdr h = { .start_pfn = start_pfn, .end_pfn = end_pfn };
    struct iovec iov[2] = { { &h, sizeof(h) }, { (void *)pfns, (size_t)nr * 8 } };
    return xg_stream_write_recordv(w, XG_REC_X86_PV_P2M_FRAMES, iov, 2);
}

int xg_stream_write_vcpu(xg_stream_writer *w, uint32_t type, uint32_t vcpu_id, const void *ctx,
                         uint32_t size)
{
    if (type < XG_REC_X86_PV_VCPU_BASIC ||
        (type > XG_REC_X86_PV_VCPU_XSAVE && type != XG_REC_X86_PV_VCPU_MSRS))
        return xg_diag_err(w->d, XG_E_INVAL, NULL, "%s is not a vcpu record",
                           xg_stream_rec_name(type));
    struct wire_vcpu_hdr h = { .vcpu_id = vcpu_id };
    struct iovec iov[2] = { { &h, sizeof(h) }, { (void *)ctx, size } };
    return xg_stream_write_recordv(w, type, iov, 2);
}

int xg_stream_write_tsc_info(xg_stream_writer *w, const struct xg_rec_tsc_info *tsc)
{
    struct wire_tsc_info t = {
        .mode = tsc->mode,
        .khz = tsc->khz,
        .nsec = tsc->nsec,
        .incarnation = tsc->incarnation,
    };
    return xg_stream_write_record(w, XG_REC_X86_TSC_INFO, &t, sizeof(t));
}

int xg_stream_write_hvm_params(xg_stream_writer *w, const struct xg_hvm_param *p, uint32_t count)
{
    struct wire_hvm_params_hdr h = { .count = count };
    struct iovec iov[2] = { { &h, sizeof(h) }, { (void *)p, (size_t)count * 16 } };
    return xg_stream_write_recordv(w, XG_REC_HVM_PARAMS, iov, 2);
}

int xg_stream_write_end(xg_stream_writer *w)
{
    return xg_stream_write_record(w, XG_REC_END, NULL, 0);
}

uint64_t xg_stream_writer_mark(const xg_stream_writer *w)
{
    return w->q ? xg__wq_queued(w->q) : 0;
}

int xg_stream_writer_wait(xg_stream_writer *w, uint64_t mark)
{
    if (w->q && xg__wq_wait(w->q, mark) < 0)
        return async_failed(w);
    return w->failed ? w->fail_rc : 0;
}

int xg_stream_writer_finish(xg_stream_writer *w)
{
    if (w->finished || w->failed)
        return 0;
    w->finished = true;
    int rc = 0;
    if (w->gz && (rc = xg__gzw_finish(w->gz, w->d)) < 0)
        w->failed = true;
    if (w->q) {
        /* Everything written, and the thread gone: the fd is the caller's again. */
        rc = xg_stream_writer_wait(w, xg__wq_queued(w->q));
        xg__wq_close(w->q);
        w->q = NULL;
    }
    return rc;
}

int xg_stream_writer_close(xg_stream_writer *w)
{
    if (!w)
        return 0;
    int rc = xg_stream_writer_finish(w);
    if (w->gz)
        xg__gzw_close(w->gz);
    xg__wq_close(w->q);
    free(w->iov);
    free(w);
    return rc;
}

uint64_t xg_stream_writer_bytes(const xg_stream_writer *w)
{
    return w->gz ? xg__gzw_bytes_out(w->gz) : w->bytes;
}
