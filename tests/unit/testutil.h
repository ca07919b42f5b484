/*
 * testutil.h - helpers shared by xg's test programs.
 *
 * Nothing here depends on Check, so helper programs (tests/stream/
 * write_sample) link it too.  A helper that cannot do its job (disk
 * full, no memory) prints why and aborts: tests treat that as a failure,
 * never as a pass.
 *
 * What is here:
 *  - a growing byte buffer and little/big-endian appenders;
 *  - hand-built stream pieces (image and domain headers, records, the xl
 *    and libxl wrappers), so tests can write exactly the bytes they need,
 *    including wrong ones;
 *  - temporary folders and files, whole-fd reads, pipes fed by a thread;
 *  - writing a stream with xg's writer through a callback (to a file, to
 *    memory, or to a pipe read by the caller);
 *  - the simulated host as a backend, and a search of the findings;
 *  - a representative PV stream (the "sample"): every PV record type,
 *    every page type, deterministic page contents, with the offset of each
 *    record kept for truncation tests.
 */
#ifndef XG_TESTUTIL_H
#define XG_TESTUTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "xg/hv.h"
#include "xg/xg.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Print "fatal: ..." on stderr and abort(). */
void xgt_die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

/* ------------------------------------------------------------ buffers */

struct xgt_buf {
    uint8_t *data;
    size_t len, cap;
};

void xgt_buf_init(struct xgt_buf *b);
void xgt_buf_free(struct xgt_buf *b);
void xgt_buf_reset(struct xgt_buf *b);
/* Append; p may be NULL to append n zero bytes. */
void xgt_buf_put(struct xgt_buf *b, const void *p, size_t n);
void xgt_buf_zero(struct xgt_buf *b, size_t n);
void xgt_buf_u8(struct xgt_buf *b, uint8_t v);
void xgt_buf_le16(struct xgt_buf *b, uint16_t v);
void xgt_buf_le32(struct xgt_buf *b, uint32_t v);
void xgt_buf_le64(struct xgt_buf *b, uint64_t v);
void xgt_buf_be16(struct xgt_buf *b, uint16_t v);
void xgt_buf_be32(struct xgt_buf *b, uint32_t v);
void xgt_buf_be64(struct xgt_buf *b, uint64_t v);
/* Pad with zeros to a multiple of 8 (from the start of the buffer). */
void xgt_buf_pad8(struct xgt_buf *b);
/* Overwrite bytes already in the buffer. */
void xgt_buf_set_le32(struct xgt_buf *b, size_t at, uint32_t v);
void xgt_buf_set_le64(struct xgt_buf *b, size_t at, uint64_t v);

/* ------------------------------------------------------------ hand-built streams */

/* Image header, valid marker and id, with the given version and options. */
void xgt_put_ihdr(struct xgt_buf *b, uint32_t version, uint16_t options);
void xgt_put_ihdr_raw(struct xgt_buf *b, uint64_t marker, uint32_t id, uint32_t version,
                      uint16_t options, uint16_t res1, uint32_t res2);
void xgt_put_dhdr(struct xgt_buf *b, uint32_t type, uint16_t page_shift, uint16_t reserved,
                  uint32_t xen_major, uint32_t xen_minor);
/* Image header (v3 or the given version) + domain header (4.17). */
void xgt_put_headers(struct xgt_buf *b, uint32_t version, uint32_t domain_type);
/* {type, len}, body, zero padding to 8.  body may be NULL (zeros). */
void xgt_put_record(struct xgt_buf *b, uint32_t type, const void *body, uint32_t len);
/* Only the 8-byte record header: the body is up to the caller. */
void xgt_put_record_hdr(struct xgt_buf *b, uint32_t type, uint32_t len);
/* A valid X86_PV_INFO record. */
void xgt_put_pv_info(struct xgt_buf *b, uint8_t width, uint8_t levels);
/* The static data a v3 PV stream starts with: X86_PV_INFO, STATIC_DATA_END. */
void xgt_put_pv_static(struct xgt_buf *b, uint8_t width);

/* xl save-file header; the optional data is {u32 len, config[len]}. */
#define XGT_XL_JSON (1U << 0)
#define XGT_XL_STREAMV2 (1U << 1)
void xgt_put_xl_header(struct xgt_buf *b, uint32_t mandatory, const void *config, uint32_t config_len);
void xgt_put_libxl_header(struct xgt_buf *b, uint32_t version, uint32_t options);
void xgt_put_libxl_record(struct xgt_buf *b, uint32_t type, const void *body, uint32_t len);
/*
 * What goes before / after a libxc stream inside a wrapper: for XG_WRAP_XL
 * an xl header with a small JSON config, then (XL and LIBXL) the libxl
 * header and an empty LIBXC_CONTEXT record; after it, the libxl END.
 */
void xgt_put_wrapper_prefix(struct xgt_buf *b, enum xg_stream_wrapper w);
void xgt_put_wrapper_suffix(struct xgt_buf *b, enum xg_stream_wrapper w);
/* The config text xgt_put_wrapper_prefix() puts in an xl header (sizeof: with its NUL). */
#define XGT_XL_CONFIG "{\"c_info\":{\"type\":\"pv\",\"name\":\"xg-test\"},\"b_info\":{\"max_memkb\":131072}}"

/* Compress p[0..len) into one gzip member (with xg's own zlib wrapper). */
void xgt_gzip(const void *p, size_t len, struct xgt_buf *out);

/* ------------------------------------------------------------ files, folders, pipes */

/* A fresh folder under $TMPDIR (or /tmp); free() the result. */
char *xgt_mkdtemp(void);
/* Remove a folder and everything in it (no symlinks followed). */
void xgt_rmtree(const char *path);
/* path joined with name; free() the result. */
char *xgt_path(const char *dir, const char *name);
/* An anonymous read-write temporary file (already unlinked). */
int xgt_tmpfd(void);
/* A temporary file holding p[0..len), positioned at its start. */
int xgt_fd_from_mem(const void *p, size_t len);
/* Read fd to its end into out (appended).  Returns 0, or -1 with errno. */
int xgt_read_all(int fd, struct xgt_buf *out);
/* Read a whole file into out (appended); dies when it cannot. */
void xgt_read_file(const char *path, struct xgt_buf *out);
void xgt_write_file(const char *path, const void *p, size_t len);
/* Write all of p[0..len) to fd; returns 0 or -1 with errno. */
int xgt_write_all(int fd, const void *p, size_t len);

/* A function run in a thread; its int result comes back from the join. */
struct xgt_thread;
struct xgt_thread *xgt_thread_start(int (*fn)(void *arg), void *arg);
int xgt_thread_join(struct xgt_thread *t);

/*
 * A pipe fed with p[0..len) by a thread (SIGPIPE is ignored, so a reader
 * that stops early only ends the feed).  Returns the read end; the caller
 * closes it and then joins the thread (0: everything was written).
 */
int xgt_pipe_feed(const void *p, size_t len, struct xgt_thread **out);

/* ------------------------------------------------------------ writing with xg */

/* Writes a stream's records (headers included) with w. 0 or XG_E_*. */
typedef int (*xgt_write_fn)(xg_stream_writer *w, void *arg);

/*
 * Open a writer on fd (gzip or not), call fn, close the writer.  Returns
 * the first error (fn's or the close's), recorded in d (may be NULL).
 */
int xgt_write_stream(int fd, bool gzip, xgt_write_fn fn, void *arg, xg_diag *d);
/* The same into memory (appended to out); dies on error, printing d. */
void xgt_stream_to_mem(bool gzip, xgt_write_fn fn, void *arg, struct xgt_buf *out);
/*
 * The same into a pipe, written by a thread: returns the read end.  The
 * caller reads, closes the read end, then joins (the join returns fn's rc).
 */
int xgt_stream_to_pipe(bool gzip, xgt_write_fn fn, void *arg, struct xgt_thread **out);

/* ------------------------------------------------------------ backends, findings */

/* The simulated host in the file at path, as a backend; dies when it cannot be opened. */
xg_hv *xgt_open_sim(const char *path);
/* Whether some finding of d says needle, in its message, "Xen would log" line or hint. */
bool xgt_diag_has(const xg_diag *d, const char *needle);

/* ------------------------------------------------------------ reading with xg */

/* A reader on a temporary file holding a stream, with its diag. */
struct xgt_rd {
    int fd;
    xg_diag *d;
    xg_stream_reader *r;
    int open_rc;
};

/* Open; never fails itself (the reader's verdict is in open_rc / d). */
void xgt_rd_open(struct xgt_rd *t, const void *p, size_t len, const struct xg_stream_reader_opts *opts);
/* Open on an fd the caller owns (it is not closed by xgt_rd_close). */
void xgt_rd_open_fd(struct xgt_rd *t, int fd, const struct xg_stream_reader_opts *opts);
void xgt_rd_close(struct xgt_rd *t);
/*
 * Read records up to and including END (then the trailer); returns 0 or
 * the first error.  Counts records and PAGE_DATA entries when non-NULL.
 */
int xgt_rd_drain(struct xgt_rd *t, uint64_t *nr_records, uint64_t *nr_pages);
/*
 * Whole-stream verdict in one call: open p[0..len), drain, close.  Returns
 * 0 or the first error.  When non-NULL, loc_out gets the location of the
 * first error (zeroed when none) and msg_out a copy of its message (NULL
 * when none; the caller frees it).
 */
int xgt_read_mem(const void *p, size_t len, const struct xg_stream_reader_opts *opts,
                 struct xg_loc *loc_out, char **msg_out);

/* ------------------------------------------------------------ the sample stream */

/* Deterministic, varied page contents. */
void xgt_fill_page(void *page, uint64_t pfn, uint32_t seed);
/* Deterministic filler for any blob. */
void xgt_fill(void *p, size_t len, uint64_t salt);

struct xgt_sample_opts {
    unsigned guest_width;  /* 8 (the default when 0) or 4 */
    unsigned nr_pfns;      /* pfns 0..nr_pfns-1 (default 2500) */
    unsigned batch;        /* pfns per PAGE_DATA record (default 1024, max 1024) */
    unsigned nr_vcpus;     /* default 1 */
    uint32_t seed;         /* for page contents */
    bool empty_blobs;      /* zero-content EXTENDED/XSAVE/MSRS records too (spec errata) */
    bool verify;           /* VERIFY, then every page again */
    bool checkpoint;       /* CHECKPOINT, then a second round of some pages and state */
    bool extras;           /* CHECKPOINT_DIRTY_PFN_LIST and an unknown optional record:
                              valid for xg, refused by Xen's verify-stream-v2 */
};

/* Type the sample gives pfn: mostly NOTAB, every page type in each 64 pfns. */
uint32_t xgt_sample_type(uint64_t pfn);

/* Start offsets of records, as the writer counted raw bytes. */
struct xgt_offsets {
    uint64_t *off;
    uint32_t *type;
    size_t nr, cap;
    uint64_t headers_end;  /* first byte after the image and domain headers */
    uint64_t end;          /* first byte after the END record */
};
void xgt_offsets_free(struct xgt_offsets *o);

/* Write the whole sample stream (headers to END) with w. */
int xgt_sample_write(xg_stream_writer *w, const struct xgt_sample_opts *o, struct xgt_offsets *offs);
/* An xgt_write_fn for xgt_write_stream(): arg is a const struct xgt_sample_opts * (or NULL). */
int xgt_sample_write_fn(xg_stream_writer *w, void *arg);

/*
 * The sample in memory, raw (offs filled when non-NULL), optionally in a
 * wrapper (offsets then count from the start of the whole file).
 */
void xgt_sample_mem(const struct xgt_sample_opts *o, enum xg_stream_wrapper wrap, struct xgt_buf *out,
                    struct xgt_offsets *offs);

/* What reading the sample must find, for checks. */
struct xgt_sample_counts {
    uint64_t records;      /* END included */
    uint64_t page_entries; /* sum of PAGE_DATA counts */
    uint64_t by_type[16];  /* entries per type nibble */
};
void xgt_sample_counts(const struct xgt_sample_opts *o, struct xgt_sample_counts *c);

#ifdef __cplusplus
}
#endif
#endif
