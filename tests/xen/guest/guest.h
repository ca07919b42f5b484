/*
 * guest.h - what the parts of xg-testguest share: the start of day, the
 * p2m, hypercall helpers, console output.
 */
#ifndef XG_TESTGUEST_GUEST_H
#define XG_TESTGUEST_GUEST_H

#include <stddef.h>
#include <stdint.h>

#include "xen.h"

#define PAGE_ALIGNED __attribute__((aligned(4096)))

extern struct start_info *start_info;

/* The machine frame of guest frame PFN (start_info's p2m, which a
 * restore rewrites with the new frames). */
unsigned long pfn_to_mfn(unsigned long pfn);
/* The machine frame behind an address of the kernel image (virtual base 0:
 * the address over the page size is the pfn). */
unsigned long va_to_mfn(const void *va);

/* Map machine frame MFN at the page VA (RW or read-only); MFN 0 unmaps. */
void map_frame(void *va, unsigned long mfn, int writable);
/* One MMUEXT operation on MFN; 0 or Xen's error. */
long mmuext(unsigned int cmd, unsigned long mfn);

/* Console output (the xenconsoled ring). */
void put_str(const char *s);
void put_dec(unsigned long v);
void put_hex(unsigned long v);
void put_id(void);          /* the boot id */
void put_nl(void);

/* The boot id as printed, and the count the guest is at. */
extern unsigned long count_now;

/* Address spaces (space.c): build them at boot, the linear target's
 * tables above the holders' if CROSS, else below; check them, printing
 * XGBAD on a mismatch (returns the number of mismatches). */
void space_build(int cross);
unsigned int space_check(void);

void *memset(void *d, int c, size_t n);
void *memcpy(void *d, const void *s, size_t n);

static inline void barrier(void)
{
    __asm__ volatile("" ::: "memory");
}

static inline void mb(void)
{
    __sync_synchronize();
}

#endif
