/*
 * abi.h - the parts of Xen's public x86 guest ABI that save and restore
 * touch, for both guest widths, as byte offsets into the structures of
 * xen/include/public (foreign/x86_64.h and foreign/x86_32.h).
 *
 * xg does not include Xen's headers here (libxen-dev is optional), so each
 * offset below was taken from those headers and is pinned by a unit test
 * that compiles against them when they are installed (tests/unit/test_xen_backend.c).
 */
#ifndef XG_PV_ABI_H
#define XG_PV_ABI_H

#include <stdint.h>
#include <string.h>

/* vcpu_guest_context: XEN_DOMCTL_{get,set}vcpucontext, X86_PV_VCPU_BASIC. */
#define XG_VCPU_CTX64_SIZE 5168U
#define XG_VCPU_CTX32_SIZE 2800U
#define XG_VCPU_CTX_MAX XG_VCPU_CTX64_SIZE

struct xg_vcpu_layout {
    unsigned size;
    unsigned word; /* width of the "unsigned long" fields */
    unsigned flags;
    unsigned user_regs_rdx; /* start_info frame at suspend (vcpu0) */
    unsigned user_regs_rip;
    unsigned user_regs_rsp;
    unsigned ldt_base;
    unsigned ldt_ents;
    unsigned gdt_frames; /* 16 words */
    unsigned gdt_ents;
    unsigned kernel_ss, kernel_sp;
    unsigned ctrlreg; /* 8 words: cr0..cr7 */
    unsigned vm_assist;
};

static const struct xg_vcpu_layout xg_vcpu_layout64 = {
    .size = XG_VCPU_CTX64_SIZE,
    .word = 8,
    .flags = 512,
    .user_regs_rdx = 616,
    .user_regs_rip = 648,
    .user_regs_rsp = 672,
    .ldt_base = 4816,
    .ldt_ents = 4824,
    .gdt_frames = 4832,
    .gdt_ents = 4960,
    .kernel_ss = 4968,
    .kernel_sp = 4976,
    .ctrlreg = 4984,
    .vm_assist = 5136,
};

static const struct xg_vcpu_layout xg_vcpu_layout32 = {
    .size = XG_VCPU_CTX32_SIZE,
    .word = 4,
    .flags = 512,
    .user_regs_rdx = 524,
    .user_regs_rip = 548,
    .user_regs_rsp = 560,
    .ldt_base = 2632,
    .ldt_ents = 2636,
    .gdt_frames = 2640,
    .gdt_ents = 2704,
    .kernel_ss = 2708,
    .kernel_sp = 2712,
    .ctrlreg = 2716,
    .vm_assist = 2796,
};

static inline const struct xg_vcpu_layout *xg_vcpu_layout(unsigned guest_width)
{
    return guest_width == 4 ? &xg_vcpu_layout32 : &xg_vcpu_layout64;
}

#define XG_VGCF_I387_VALID (1U << 0)
#define XG_VGCF_IN_KERNEL (1U << 2)
#define XG_VGCF_ONLINE (1U << 5)
#define XG_GDT_FRAMES 16U
/* Entries per GDT frame, and the guest's limit (FIRST_RESERVED_GDT_ENTRY). */
#define XG_GDT_ENTRIES_PER_FRAME 512U
#define XG_FIRST_RESERVED_GDT_ENTRY 7168U /* FIRST_RESERVED_GDT_PAGE 14 * 4096 / 8 */
#define XG_VMASST_PAE_EXTENDED_CR3 3U

/* Unsigned-long-sized field access in a guest structure. */
static inline uint64_t xg_guest_word(const void *base, unsigned off, unsigned word)
{
    if (word == 4) {
        uint32_t v;
        memcpy(&v, (const uint8_t *)base + off, 4);
        return v;
    }
    uint64_t v;
    memcpy(&v, (const uint8_t *)base + off, 8);
    return v;
}
static inline void xg_guest_set_word(void *base, unsigned off, unsigned word, uint64_t v)
{
    if (word == 4) {
        uint32_t w = (uint32_t)v;
        memcpy((uint8_t *)base + off, &w, 4);
    } else {
        memcpy((uint8_t *)base + off, &v, 8);
    }
}

/*
 * cr3 encoding.  A 64-bit guest's cr3 holds mfn << 12.  A 32-bit (compat)
 * guest's cr3 folds the high mfn bits into the low ones, as Xen's
 * xen_pfn_to_cr3/xen_cr3_to_pfn do for x86_32: (mfn << 12) | (mfn >> 20).
 */
static inline uint64_t xg_cr3_to_frame(uint64_t cr3, unsigned guest_width)
{
    if (guest_width == 4)
        return ((cr3 >> 12) & 0xfffff) | ((cr3 & 0xfff) << 20);
    return cr3 >> 12;
}
static inline uint64_t xg_frame_to_cr3(uint64_t frame, unsigned guest_width)
{
    if (guest_width == 4)
        return ((frame << 12) & 0xffffffffULL) | (frame >> 20);
    return frame << 12;
}

/* shared_info. */
#define XG_SHINFO_SIZE 4096U
struct xg_shinfo_layout {
    unsigned word;
    unsigned vcpu_info; /* 32 entries of 64 bytes */
    unsigned evtchn_pending, evtchn_mask, evtchn_words;
    unsigned max_pfn, pfn_to_mfn_frame_list_list, nmi_reason;
    unsigned p2m_cr3, p2m_vaddr, p2m_generation;
};
static const struct xg_shinfo_layout xg_shinfo_layout64 = {
    .word = 8,
    .vcpu_info = 0,
    .evtchn_pending = 2048,
    .evtchn_mask = 2560,
    .evtchn_words = 64,
    .max_pfn = 3088,
    .pfn_to_mfn_frame_list_list = 3096,
    .nmi_reason = 3104,
    .p2m_cr3 = 3112,
    .p2m_vaddr = 3120,
    .p2m_generation = 3128,
};
static const struct xg_shinfo_layout xg_shinfo_layout32 = {
    .word = 4,
    .vcpu_info = 0,
    .evtchn_pending = 2048,
    .evtchn_mask = 2176,
    .evtchn_words = 32,
    .max_pfn = 2316,
    .pfn_to_mfn_frame_list_list = 2320,
    .nmi_reason = 2324,
    .p2m_cr3 = 2328,
    .p2m_vaddr = 2332,
    .p2m_generation = 2336,
};
static inline const struct xg_shinfo_layout *xg_shinfo_layout(unsigned guest_width)
{
    return guest_width == 4 ? &xg_shinfo_layout32 : &xg_shinfo_layout64;
}
#define XG_VCPU_INFO_SIZE 64U
#define XG_LEGACY_MAX_VCPUS 32U
/* Within a vcpu_info: evtchn_upcall_pending, _mask, then pending_sel. */
#define XG_VCPU_INFO_UPCALL_PENDING 0
#define XG_VCPU_INFO_PENDING_SEL 8 /* word-sized (4 for 32-bit, 8 for 64) */

/* start_info. */
#define XG_START_INFO_MAGIC_LEN 32U
struct xg_start_info_layout {
    unsigned word;
    unsigned nr_pages, shared_info, flags, store_mfn, store_evtchn;
    unsigned console_mfn, console_evtchn, pt_base, nr_pt_frames, mfn_list;
    unsigned mod_start, mod_len, cmd_line, first_p2m_pfn, nr_p2m_frames;
};
static const struct xg_start_info_layout xg_start_info_layout64 = {
    .word = 8,
    .nr_pages = 32,
    .shared_info = 40,
    .flags = 48,
    .store_mfn = 56,
    .store_evtchn = 64,
    .console_mfn = 72,
    .console_evtchn = 80,
    .pt_base = 88,
    .nr_pt_frames = 96,
    .mfn_list = 104,
    .mod_start = 112,
    .mod_len = 120,
    .cmd_line = 128,
    .first_p2m_pfn = 1152,
    .nr_p2m_frames = 1160,
};
static const struct xg_start_info_layout xg_start_info_layout32 = {
    .word = 4,
    .nr_pages = 32,
    .shared_info = 36,
    .flags = 40,
    .store_mfn = 44,
    .store_evtchn = 48,
    .console_mfn = 52,
    .console_evtchn = 56,
    .pt_base = 60,
    .nr_pt_frames = 64,
    .mfn_list = 68,
    .mod_start = 72,
    .mod_len = 76,
    .cmd_line = 80,
    .first_p2m_pfn = 1104,
    .nr_p2m_frames = 1108,
};
static inline const struct xg_start_info_layout *xg_start_info_layout(unsigned guest_width)
{
    return guest_width == 4 ? &xg_start_info_layout32 : &xg_start_info_layout64;
}

#endif
