/*
 * bytes.h - little- and big-endian loads and stores on unaligned bytes (not
 * installed).  Below every layer of libxg: it includes nothing of the library.
 * internal.h includes it, so code that includes internal.h needs nothing more.
 */
#ifndef XG_UTIL_BYTES_H
#define XG_UTIL_BYTES_H

#include <stdint.h>

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
    b[0] = (uint8_t)v;
    b[1] = (uint8_t)(v >> 8);
    b[2] = (uint8_t)(v >> 16);
    b[3] = (uint8_t)(v >> 24);
}
static inline void xg__put_le64(void *p, uint64_t v)
{
    xg__put_le32(p, (uint32_t)v);
    xg__put_le32((uint8_t *)p + 4, (uint32_t)(v >> 32));
}
static inline void xg__put_le16(void *p, uint16_t v)
{
    uint8_t *b = p;
    b[0] = (uint8_t)v;
    b[1] = (uint8_t)(v >> 8);
}
static inline void xg__put_be32(void *p, uint32_t v)
{
    uint8_t *b = p;
    b[0] = (uint8_t)(v >> 24);
    b[1] = (uint8_t)(v >> 16);
    b[2] = (uint8_t)(v >> 8);
    b[3] = (uint8_t)v;
}
static inline void xg__put_be64(void *p, uint64_t v)
{
    xg__put_be32(p, (uint32_t)(v >> 32));
    xg__put_be32((uint8_t *)p + 4, (uint32_t)v);
}
static inline void xg__put_be16(void *p, uint16_t v)
{
    uint8_t *b = p;
    b[0] = (uint8_t)(v >> 8);
    b[1] = (uint8_t)v;
}

#endif
