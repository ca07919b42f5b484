/*
 * stream_private.h - shared inside libxg/stream: the zlib wrapper and the
 * byte source the reader pulls from; and the reader's one extension for
 * the restore engine, page contents read straight into guest frames.
 */
#ifndef XG_STREAM_PRIVATE_H
#define XG_STREAM_PRIVATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "xg/diag.h"

/* ---- gzip.c (reading) and gzip_write.c: the only files that include zlib.h ---- */

struct xg_gzr; /* inflating reader over an fd */
struct xg_gzw; /* deflating writer over an fd */

#define XG_GZIP_MAGIC0 0x1f
#define XG_GZIP_MAGIC1 0x8b

/*
 * Start inflating from fd.  `prefix` holds bytes the caller already read
 * from fd (the sniffed magic); they are fed to zlib first.
 */
int xg__gzr_open(int fd, const void *prefix, size_t prefix_len, xg_diag *d, struct xg_gzr **out);
/*
 * Read up to len uncompressed bytes; fewer only at the end of the data.
 * Returns the count, or a negative XG_E_* (with d filled; `offset` is the
 * uncompressed offset used in the message).
 */
ssize_t xg__gzr_read(struct xg_gzr *z, void *buf, size_t len, uint64_t offset, xg_diag *d);
void xg__gzr_close(struct xg_gzr *z);

/*
 * Start compressing into fd at zlib level 1..9 (anything else: 1) with
 * `threads` compression threads (0: one per online CPU; at most 8).  The
 * output is a sequence of gzip members, one per MiB of input.
 */
int xg__gzw_open(int fd, int level, unsigned threads, xg_diag *d, struct xg_gzw **out);
int xg__gzw_writev(struct xg_gzw *z, const struct iovec *iov, unsigned n, xg_diag *d);
/* Compress and write what is left.  Returns 0 or XG_E_*. */
int xg__gzw_finish(struct xg_gzw *z, xg_diag *d);
/* Stop the threads and free; what was not finished is dropped.  NULL is fine. */
void xg__gzw_close(struct xg_gzw *z);
uint64_t xg__gzw_bytes_out(const struct xg_gzw *z);

/* ---- writer_thread.c: the writer's own thread (xg_stream_writer_opts.async) ---- */

struct xg__wq;
/* Where a queued write starts, and, after a failure, its errno. */
struct xg__wq_failure {
    int err;
    uint64_t offset; /* of the job's first byte in the stream */
    uint64_t index;  /* records written before it */
    uint32_t type;   /* its record type, or ~0U for the stream headers */
};
/* Start the thread writing to fd.  Returns 0 or an errno value. */
int xg__wq_open(int fd, struct xg__wq **out);
/*
 * Queue one write of iov[0..n): pieces before ref_first are copied, the
 * rest referenced until xg__wq_wait() covers this job.  Blocks while the
 * queue is full.  Returns 0, XG_E_IO once an earlier write failed
 * (xg__wq_failed() says which), or XG_E_NOMEM.
 */
int xg__wq_put(struct xg__wq *q, const struct iovec *iov, unsigned n, unsigned ref_first,
               const struct xg__wq_failure *where);
/* Jobs queued so far: a mark for xg__wq_wait(). */
uint64_t xg__wq_queued(const struct xg__wq *q);
/* Wait until the first nr jobs are written or discarded; XG_E_IO if a write failed. */
int xg__wq_wait(struct xg__wq *q, uint64_t nr);
/* Whether a write failed, and which (f may be NULL). */
bool xg__wq_failed(struct xg__wq *q, struct xg__wq_failure *f);
/* Discard what has not started, stop the thread and free.  NULL is fine. */
void xg__wq_close(struct xg__wq *q);

/* ---- legacy.c: pre-Xen 4.6 PV images, converted to v2 on the fly ---- */

/* Raw bytes of the image: up to len, fewer only at its end; negative XG_E_* on error. */
typedef ssize_t (*xg_raw_read_fn)(void *arg, void *buf, size_t len);

/* pfns a legacy image can hold: its page batches carry 28 bits of pfn. */
#define XG_LEGACY_MAX_PFNS (1U << 28)

struct xg_legacy;
/*
 * Start converting a legacy image whose "unsigned long" is toolstack_word
 * bytes (8: 64-bit toolstack, 4: 32-bit), read through read(arg, ...) from
 * its first byte, which is at file_off in the file (diagnostics give file
 * offsets).
 */
int xg__legacy_open(xg_raw_read_fn read, void *arg, unsigned toolstack_word, uint64_t file_off,
                    xg_diag *d, struct xg_legacy **out);
/* The converted v2 stream: up to len bytes; fewer only after its END record. */
ssize_t xg__legacy_read(struct xg_legacy *l, void *buf, size_t len);
struct xg_stream_info;
/* Report in info the batch entries the old saver wrote as XTAB | mfn (frames it could not map). */
void xg__legacy_report_unmappable(struct xg_legacy *l, struct xg_stream_info *info);
void xg__legacy_close(struct xg_legacy *l);

/* ---- reader.c: page contents straight into their frames (the restore engine) ---- */

struct xg_stream_reader;

/*
 * From the next record on, PAGE_DATA records come back with their pfns
 * checked and page_data.data NULL: the contents stay in the stream, to be
 * read with xg__stream_read_pages() into the guest's frames, with no
 * bounce buffer.  What a caller leaves unread is skipped (and still
 * checked for truncation) by the next xg_stream_read().
 */
void xg__stream_defer_page_data(struct xg_stream_reader *r, bool on);
/*
 * The next n pages of the current PAGE_DATA record's contents, page i
 * into dst[i] (4096 bytes each; the same page may be named twice, the
 * later wins).  n must not exceed the pages left.  Errors: XG_E_TRUNCATED
 * naming the record, XG_E_IO, XG_E_INVAL when n is more than is left.
 */
int xg__stream_read_pages(struct xg_stream_reader *r, uint8_t *const *dst, unsigned n);

#endif
