/*
 * reader_private.h - shared by the stream reader's files:
 *   reader.c   the reader's entry points: headers and wrappers, the record
 *              loop, the libxl trailer
 *   records.c  the record table: per record type, its name, length rules,
 *              place in the stream and the check of its body
 *   source.c   bytes: the file, gzip or the legacy converter, read exactly
 *              and into the growing body buffer
 * Calls go one way: reader.c calls records.c and source.c, records.c
 * calls source.c, source.c calls neither.
 */
#ifndef XG_STREAM_READER_PRIVATE_H
#define XG_STREAM_READER_PRIVATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "internal.h"
#include "xg/stream.h"

struct xg_stream_reader {
    int fd;
    xg_diag *d;
    struct xg_stream_reader_opts opts;
    struct xg_gzr *gz;
    struct xg_legacy *legacy; /* a pre-4.6 image being converted */
    uint64_t raw_off;         /* bytes consumed from the (uncompressed) file */
    /* Sniffed bytes handed back to the next reads. */
    uint8_t push[16];
    size_t push_len, push_pos;
    uint64_t off; /* bytes consumed, uncompressed */
    struct xg_stream_info info;
    uint8_t *buf;
    size_t cap;
    uint64_t next_index;
    unsigned guest_width, pt_levels;
    bool seen_pv_info, seen_static_end, seen_end;
    uint32_t seen_once; /* bit t: a record of type t that may appear once (XG_RK_ONCE) was read */
    bool trailer_done;
    bool failed;
    /*
     * PAGE_DATA contents left in the stream for xg__stream_read_pages()
     * (xg__stream_defer_page_data): bytes still unread, and the record
     * they belong to, for messages.  The next record skips what is left.
     */
    bool defer_page_data;
    uint64_t pending_data;
    struct xg_loc pending_loc;
};

/* ---- source.c: bytes ---- */

/*
 * Up to len bytes of the file itself; fewer only at its end.  Negative
 * XG_E_* on error.  An xg_raw_read_fn, whose argument is the reader.
 */
ssize_t xg__src_raw_read(void *reader, void *buf, size_t len);
/*
 * Up to len bytes of the v2 stream: the file's bytes, or what the legacy
 * converter makes of them.  Fewer only at the end.
 */
ssize_t xg__src_read(xg_stream_reader *r, void *buf, size_t len);
/*
 * Exactly len bytes of `what`, else XG_E_TRUNCATED naming what was being
 * read, where it started and how much was missing.
 */
int xg__src_read_exact(xg_stream_reader *r, void *buf, size_t len, const char *what,
                       const struct xg_loc *ctx);
/* Skip len bytes (wrapper payloads we do not keep). */
int xg__src_skip(xg_stream_reader *r, uint64_t len, const char *what, const struct xg_loc *ctx);
/* Skip what the caller left unread of a deferred PAGE_DATA record's contents. */
int xg__src_skip_pending(xg_stream_reader *r);
/*
 * Read len bytes into r->buf + at, growing the buffer only as data
 * arrives, so a length that lies costs at most what the file holds.
 */
int xg__src_read_body(xg_stream_reader *r, size_t at, size_t len, const char *what,
                      const struct xg_loc *ctx);
/*
 * gzip: once the last record is in, read on to the end of the compressed
 * data, which must end there (zlib checks the gzip trailer's CRC-32 and
 * length only when it gets to it).  `after` names what came last.
 */
int xg__src_gz_check_end(xg_stream_reader *r, const char *after);

/* ---- records.c: the record table ---- */

/*
 * The rules of rec's type that its header alone can break: the length
 * (exact, minimum, multiple), then the stream's order (spec 5.1, 6.1):
 * PV or HVM only, version 3 only, before or after STATIC_DATA_END, at most
 * once, after X86_PV_INFO.  Updates the reader's order state on success.
 */
int xg__rec_check_header(xg_stream_reader *r, const struct xg_record *rec, struct xg_loc loc);
/*
 * Read rec's body (its header already read; it starts at body_off in the
 * stream) into r->buf, check it field by field and fill rec->u.
 */
int xg__rec_read_body(xg_stream_reader *r, struct xg_record *rec, struct xg_loc loc,
                      uint64_t body_off);

#endif
