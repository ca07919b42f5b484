/*
 * head.S - the entry point, the ELF notes Xen's domain builder reads, and
 * the hypercall page.  At entry (start of day of a PV guest) rsi/esi holds
 * the virtual address of start_info; the stack Xen gives is replaced by
 * our own.
 */
#include "notes.h"

#if defined(__x86_64__)
# define PTR .quad
#else
# define PTR .long
#endif

/* note TYPE, DESC...: one Xen ELF note (name "Xen"). */
.macro xennote type:req, desc:vararg
    .pushsection .note.Xen, "a", @note
    .balign 4
    .long 4f - 3f           /* name size */
    .long 6f - 5f           /* desc size */
    .long \type
3:  .asciz "Xen"
4:  .balign 4
5:  \desc
6:  .balign 4
    .popsection
.endm

xennote XEN_ELFNOTE_GUEST_OS, .asciz "xg-testguest"
xennote XEN_ELFNOTE_XEN_VERSION, .asciz "xen-3.0"
xennote XEN_ELFNOTE_LOADER, .asciz "generic"
xennote XEN_ELFNOTE_VIRT_BASE, PTR 0
xennote XEN_ELFNOTE_PADDR_OFFSET, PTR 0
xennote XEN_ELFNOTE_ENTRY, PTR _start
xennote XEN_ELFNOTE_HYPERCALL_PAGE, PTR hypercall_page
#if !defined(__x86_64__)
xennote XEN_ELFNOTE_PAE_MODE, .asciz "yes"
xennote XEN_ELFNOTE_FEATURES, .asciz "pae_pgdir_above_4gb"
#endif

    .section .text.head, "ax"
    .globl _start
_start:
#if defined(__x86_64__)
    mov %rsi, start_info(%rip)
    lea stack_top(%rip), %rsp
    call guest_main
#else
    mov %esi, start_info
    mov $stack_top, %esp
    call guest_main
#endif
1:  jmp 1b

    .section .text.hcall, "ax"
    .balign 4096
    .globl hypercall_page
hypercall_page:
    .fill 4096, 1, 0xcc

    .bss
    .balign 16
stack:
    .skip 16384
stack_top:
