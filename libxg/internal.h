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
#define XG_ROUNDUP(x, a) (((x) + (a) - 1) / (a) * (a))
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

/* Bitmaps of nbits bits, as arrays of unsigned long. */
#define XG_BITS_PER_LONG (8 * sizeof(unsigned long))
#define XG_BITMAP_LONGS(n) (((n) + XG_BITS_PER_LONG - 1) / XG_BITS_PER_LONG)
static inline bool xg__test_bit(const unsigned long *map, uint64_t bit)
{
    return (map[bit / XG_BITS_PER_LONG] >> (bit % XG_BITS_PER_LONG)) & 1;
}
static inline void xg__set_bit(unsigned long *map, uint64_t bit)
{
    map[bit / XG_BITS_PER_LONG] |= 1UL << (bit % XG_BITS_PER_LONG);
}
static inline void xg__clear_bit(unsigned long *map, uint64_t bit)
{
    map[bit / XG_BITS_PER_LONG] &= ~(1UL << (bit % XG_BITS_PER_LONG));
}

/* Little-endian loads and stores on unaligned bytes. */
static inline uint32_t xg__le32(const void *p)
{
    const uint8_t *b = p;
    return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}
static inline uint64_t xg__le64(const void *p)
{
    return (uint64_t)xg__le32(p) | (uint64_t)xg__le32((const uint8_t *)p + 4) << 32;
}
static inline uint16_t xg__le16(const void *p)
{
    const uint8_t *b = p;
    return (uint16_t)(b[0] | b[1] << 8);
}
static inline uint32_t xg__be32(const void *p)
{
    const uint8_t *b = p;
    return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | (uint32_t)b[3];
}
static inline uint64_t xg__be64(const void *p)
{
    return (uint64_t)xg__be32(p) << 32 | xg__be32((const uint8_t *)p + 4);
}
static inline uint16_t xg__be16(const void *p)
{
    const uint8_t *b = p;
    return (uint16_t)(b[0] << 8 | b[1]);
}
static inline void xg__put_le32(void *p, uint32_t v)
{
    uint8_t *b = p;
    b[0] = (uint8_t)v; b[1] = (uint8_t)(v >> 8); b[2] = (uint8_t)(v >> 16); b[3] = (uint8_t)(v >> 24);
}
static inline void xg__put_le64(void *p, uint64_t v)
{
    xg__put_le32(p, (uint32_t)v);
    xg__put_le32((uint8_t *)p + 4, (uint32_t)(v >> 32));
}
static inline void xg__put_le16(void *p, uint16_t v)
{
    uint8_t *b = p;
    b[0] = (uint8_t)v; b[1] = (uint8_t)(v >> 8);
}
static inline void xg__put_be32(void *p, uint32_t v)
{
    uint8_t *b = p;
    b[0] = (uint8_t)(v >> 24); b[1] = (uint8_t)(v >> 16); b[2] = (uint8_t)(v >> 8); b[3] = (uint8_t)v;
}
static inline void xg__put_be64(void *p, uint64_t v)
{
    xg__put_be32(p, (uint32_t)(v >> 32));
    xg__put_be32((uint8_t *)p + 4, (uint32_t)v);
}
static inline void xg__put_be16(void *p, uint16_t v)
{
    uint8_t *b = p;
    b[0] = (uint8_t)(v >> 8); b[1] = (uint8_t)v;
}

#endif
