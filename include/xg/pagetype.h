/*
 * xg/pagetype.h - the page types Xen reports and the stream records.
 *
 * These are Xen's XEN_DOMCTL_PFINFO_* values (xen/include/public/domctl.h):
 * the type of a frame as XEN_DOMCTL_getpageframeinfo3 reports it, in bits
 * 28-31 of a 32-bit word.  The migration stream carries the same nibble in
 * bits 60-63 of each PAGE_DATA pfn entry.
 */
#ifndef XG_PAGETYPE_H
#define XG_PAGETYPE_H

#include <stdbool.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define XG_PFINFO_SHIFT 28
#define XG_PFINFO_NOTAB (0x0U << 28) /* ordinary page */
#define XG_PFINFO_L1TAB (0x1U << 28)
#define XG_PFINFO_L2TAB (0x2U << 28)
#define XG_PFINFO_L3TAB (0x3U << 28)
#define XG_PFINFO_L4TAB (0x4U << 28)
#define XG_PFINFO_LTABTYPE_MASK (0x7U << 28)
#define XG_PFINFO_LPINTAB (0x1U << 31) /* pinned page table */
#define XG_PFINFO_BROKEN (0xdU << 28)
#define XG_PFINFO_XALLOC (0xeU << 28) /* allocate only, no data */
#define XG_PFINFO_XTAB (0xfU << 28)   /* invalid, not sent */
#define XG_PFINFO_LTAB_MASK (0xfU << 28)

/* Level of a page-table type (1..4), 0 for anything else. */
static inline unsigned xg_pfinfo_level(uint32_t type)
{
    uint32_t t = type & XG_PFINFO_LTAB_MASK;
    if (t == XG_PFINFO_BROKEN || t == XG_PFINFO_XALLOC || t == XG_PFINFO_XTAB)
        return 0;
    return (t & XG_PFINFO_LTABTYPE_MASK) >> XG_PFINFO_SHIFT;
}

static inline bool xg_pfinfo_pinned(uint32_t type)
{
    return xg_pfinfo_level(type) != 0 && (type & XG_PFINFO_LPINTAB);
}

/* A value the stream may carry (not 0x5-0x8). */
static inline bool xg_pfinfo_known(uint32_t type)
{
    uint32_t n = (type & XG_PFINFO_LTAB_MASK) >> XG_PFINFO_SHIFT;
    return n <= 4 || n >= 9;
}

/* Pages of this type carry 4096 bytes of data in a PAGE_DATA record. */
static inline bool xg_pfinfo_has_data(uint32_t type)
{
    uint32_t n = (type & XG_PFINFO_LTAB_MASK) >> XG_PFINFO_SHIFT;
    return n <= 4 || (n >= 9 && n <= 0xc);
}

/* Pages of this type get a frame on restore (data pages and XALLOC). */
static inline bool xg_pfinfo_populate(uint32_t type)
{
    return xg_pfinfo_has_data(type) || (type & XG_PFINFO_LTAB_MASK) == XG_PFINFO_XALLOC;
}

/*
 * Name of a type: "NOTAB", "L2TAB", "L4TAB|LPINTAB", "XTAB", or
 * "reserved(0x5)" for values the spec reserves.  Never NULL; the result
 * is a static string.
 */
const char *xg_pfinfo_name(uint32_t type);

#ifdef __cplusplus
}
#endif
#endif
