/*
 * bitmap.h - bitmaps of nbits bits as arrays of unsigned long (not installed).
 * Below every layer of libxg: it includes nothing of the library.  internal.h
 * includes it, so code that includes internal.h needs nothing more.
 */
#ifndef XG_UTIL_BITMAP_H
#define XG_UTIL_BITMAP_H

#include <stdbool.h>
#include <stdint.h>

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

#endif
