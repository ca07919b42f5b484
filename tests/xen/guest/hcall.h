/*
 * hcall.h - hypercalls through the hypercall page Xen fills in
 * (XEN_ELFNOTE_HYPERCALL_PAGE): entry NR is at hypercall_page + 32 * NR.
 * Arguments go in rdi, rsi, rdx, r10, r8 (64-bit) or ebx, ecx, edx, esi,
 * edi (32-bit); the result comes back in rax/eax.  Xen may clobber the
 * argument registers, so they are all outputs here.
 */
#ifndef XG_TESTGUEST_HCALL_H
#define XG_TESTGUEST_HCALL_H

extern char hypercall_page[];

static inline long hcall4(unsigned int nr, unsigned long a1, unsigned long a2,
                          unsigned long a3, unsigned long a4)
{
    long ret;
    void *fn = hypercall_page + nr * 32;
#if defined(__x86_64__)
    register unsigned long r10 __asm__("r10") = a4;
    __asm__ volatile("call *%[fn]"
                     : "=a"(ret), "+D"(a1), "+S"(a2), "+d"(a3), "+r"(r10)
                     : [fn] "r"(fn)
                     : "memory", "rcx", "r8", "r9", "r11");
#else
    __asm__ volatile("call *%[fn]"
                     : "=a"(ret), "+b"(a1), "+c"(a2), "+d"(a3), "+S"(a4)
                     : [fn] "m"(fn)
                     : "memory", "edi");
#endif
    return ret;
}

static inline long hcall3(unsigned int nr, unsigned long a1, unsigned long a2,
                          unsigned long a3)
{
    return hcall4(nr, a1, a2, a3, 0);
}

static inline long hcall2(unsigned int nr, unsigned long a1, unsigned long a2)
{
    return hcall4(nr, a1, a2, 0, 0);
}

#endif
