/*
 * internal.h - helpers shared inside libxg (not installed).
 */
#ifndef XG_INTERNAL_H
#define XG_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "xg/diag.h"

/*
 * The library's allocations go through one hook (util/alloc.c) that a
 * test can make fail: XG_FAIL_ALLOC=N fails the Nth.  xg__alloc_count is
 * how many there have been in this process.
 */
void *xg__malloc(size_t n);
void *xg__calloc(size_t n, size_t size);
void *xg__realloc(void *p, size_t n);
char *xg__strdup(const char *s);
unsigned long xg__alloc_count(void);
#ifndef XG_ALLOC_IMPL
#define malloc(n) xg__malloc(n)
#define calloc(n, size) xg__calloc(n, size)
#define realloc(p, n) xg__realloc(p, n)
#define strdup(s) xg__strdup(s)
#endif

#define XG_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
/* clang-format would read "(a) - 1" as a cast of -1. */
/* clang-format off */
#define XG_ROUNDUP(x, a) (((x) + (a) - 1) / (a) * (a))
/* clang-format on */
#define XG_MIN(a, b) ((a) < (b) ? (a) : (b))
#define XG_MAX(a, b) ((a) > (b) ? (a) : (b))
/* A result that must not be ignored: a failed rollback step is a finding. */
#define XG_MUST_CHECK __attribute__((warn_unused_result))

/*
 * Read exactly len bytes, retrying on EINTR and short reads.  Returns the
 * number of bytes read: len on success, less at end of file; -1 with errno
 * set on error.
 */
ssize_t xg__read_full(int fd, void *buf, size_t len);

/*
 * Write all of iov[0..n) (n may exceed IOV_MAX), retrying on EINTR and
 * short writes.  Returns 0, or -1 with errno set.  The iovec array is not
 * modified.
 */
int xg__writev_full(int fd, const struct iovec *iov, unsigned n);
int xg__write_full(int fd, const void *buf, size_t len);

/* Monotonic time in seconds. */
double xg__now(void);

/*
 * One line to an engine's log callback (xg_save_callbacks.log, xg_restore_callbacks.log):
 * fmt formatted into at most 511 characters (a longer line is cut), then log(arg, line).
 * Nothing when log is NULL.
 */
void xg__log_line(void (*log)(void *arg, const char *line), void *arg, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

struct xg_domain_info;
struct xg_domain_state;
/*
 * For the backends' domain_info: *info zeroed, then the fields it shares
 * with st copied; the backend fills the rest (levels, max_pfn, online
 * vcpus, event channels).
 */
void xg__hv_info_from_state(struct xg_domain_info *info, const struct xg_domain_state *st);

/* Bitmaps (xg__test_bit ...) and unaligned byte order (xg__le32 ...): util/. */
#include "util/bitmap.h"
#include "util/bytes.h"

#endif
