/*
 * vcpu.c - the frame numbers inside a vcpu context (cr3, the user cr3 of
 * 64-bit guests, GDT frames, and vcpu0's suspend record), read and written
 * for both guest widths.
 */
#include "config.h"

#include "pv/pv.h"

int xg_pv_vcpu_frames(const void *ctx, unsigned width, unsigned vcpu, bool from_image,
                      struct xg_pv_vcpu_frames *out, const char **why)
{
    const struct xg_vcpu_layout *L = xg_vcpu_layout(width);
    unsigned w = L->word;
    *out = (struct xg_pv_vcpu_frames){ 0 };
    /* An image's context goes to XEN_DOMCTL_setvcpucontext: refuse what Xen refuses there. */
    if (from_image && xg_pv_vcpu_ctx_check(ctx, width, vcpu, why) < 0)
        return -1;
    out->flags = xg_guest_word(ctx, L->flags, w);
    out->cr3 = xg_cr3_to_frame(xg_guest_word(ctx, L->ctrlreg + 3 * w, w), width);
    if (width == 8) {
        uint64_t cr1 = xg_guest_word(ctx, L->ctrlreg + 1 * w, w);
        if (from_image) {
            out->has_user = xg_pv_image_cr1(cr1, &out->user);
        } else if (cr1) {
            out->has_user = true;
            out->user = cr1 >> 12;
        }
    }
    out->gdt_ents = xg_guest_word(ctx, L->gdt_ents, w);
    if (out->gdt_ents > XG_FIRST_RESERVED_GDT_ENTRY) {
        *why = "GDT entry count beyond Xen's limit of 7168";
        return -1;
    }
    out->nr_gdt = (unsigned)((out->gdt_ents + XG_GDT_ENTRIES_PER_FRAME - 1) /
                             XG_GDT_ENTRIES_PER_FRAME);
    for (unsigned i = 0; i < out->nr_gdt; i++)
        out->gdt[i] = xg_guest_word(ctx, L->gdt_frames + i * w, w);
    if (vcpu == 0)
        out->start_info = xg_guest_word(ctx, L->user_regs_rdx, w);
    return 0;
}

void xg_pv_vcpu_set_frames(void *ctx, unsigned width, unsigned vcpu,
                           const struct xg_pv_vcpu_frames *f, bool to_image)
{
    const struct xg_vcpu_layout *L = xg_vcpu_layout(width);
    unsigned w = L->word;
    xg_guest_set_word(ctx, L->ctrlreg + 3 * w, w, xg_frame_to_cr3(f->cr3, width));
    if (width == 8 && f->has_user)
        xg_guest_set_word(ctx, L->ctrlreg + 1 * w, w,
                          to_image ? (1 | f->user << 12) : f->user << 12);
    for (unsigned i = 0; i < f->nr_gdt; i++)
        xg_guest_set_word(ctx, L->gdt_frames + i * w, w, f->gdt[i]);
    if (vcpu == 0)
        xg_guest_set_word(ctx, L->user_regs_rdx, w, f->start_info);
}

/*
 * Offsets in the 64-bit vcpu_guest_context (public/arch-x86/xen.h) of the
 * addresses arch_set_info_guest checks beyond those in xg_vcpu_layout.
 */
#define CTX64_TRAP_CTXT 720U /* 256 trap_info of 16 bytes; address at +8 */
#define CTX64_EVENT_CALLBACK 5112U
#define CTX64_FAILSAFE_CALLBACK 5120U
#define CTX64_SYSCALL_CALLBACK 5128U
#define CTX64_FS_BASE 5144U
#define CTX64_GS_BASE_KERNEL 5152U
#define CTX64_GS_BASE_USER 5160U
#define HYPERVISOR_VIRT_END64 0xffff880000000000ULL

/* is_canonical_address (asm/x86_64/page.h): bits 63..47 all equal. */
static bool canonical(uint64_t va)
{
    return ((int64_t)va >> 47) == ((int64_t)va >> 63);
}

/* PV32_VM_ASSIST_MASK, PV64_VM_ASSIST_MASK (asm/domain.h): bits 0-5, m2p_strict (32) for 64-bit. */
static uint64_t vm_assist_valid(unsigned width)
{
    return 0x3fULL | (width == 8 ? 1ULL << 32 : 0);
}

int xg_pv_vcpu_ctx_check(const void *ctx, unsigned width, unsigned vcpu, const char **why)
{
    const struct xg_vcpu_layout *L = xg_vcpu_layout(width);
    unsigned w = L->word;
    if (width == 8) {
        static const struct {
            unsigned off;
            const char *name;
        } addr[] = {
            { 648, "user_regs.rip is not a canonical address" },
            { 672, "user_regs.rsp is not a canonical address" },
            { 4976, "kernel_sp is not a canonical address" },
            { CTX64_FS_BASE, "fs_base is not a canonical address" },
            { CTX64_GS_BASE_KERNEL, "gs_base_kernel is not a canonical address" },
            { CTX64_GS_BASE_USER, "gs_base_user is not a canonical address" },
            { CTX64_EVENT_CALLBACK, "event_callback_eip is not a canonical address" },
            { CTX64_SYSCALL_CALLBACK, "syscall_callback_eip is not a canonical address" },
            { CTX64_FAILSAFE_CALLBACK, "failsafe_callback_eip is not a canonical address" },
        };
        for (size_t i = 0; i < sizeof(addr) / sizeof(addr[0]); i++) {
            if (!canonical(xg_guest_word(ctx, addr[i].off, 8))) {
                *why = addr[i].name;
                return -1;
            }
        }
        uint64_t ldt_base = xg_guest_word(ctx, L->ldt_base, 8);
        if (xg_guest_word(ctx, L->ldt_ents, 8) && !canonical(ldt_base)) {
            *why = "ldt_base is not a canonical address";
            return -1;
        }
        for (unsigned t = 0; t < 256; t++) {
            if (!canonical(xg_guest_word(ctx, CTX64_TRAP_CTXT + t * 16 + 8, 8))) {
                *why = "a trap handler's address (trap_ctxt) is not canonical";
                return -1;
            }
        }
        /* __addr_ok (asm/x86_64/uaccess.h): below 2^47 or above Xen's own range. */
        if (ldt_base >= (1ULL << 47) && ldt_base < HYPERVISOR_VIRT_END64) {
            *why = "ldt_base lies in Xen's own address range";
            return -1;
        }
    }
    if ((xg_guest_word(ctx, L->ldt_base, w) & 0xfff) || xg_guest_word(ctx, L->ldt_ents, w) > 8192) {
        *why = "the LDT is not page aligned or has more than 8192 entries";
        return -1;
    }
    /* A vcpu not yet initialised (as a restore's are): a 64-bit one in user mode needs its
     * user-mode table (ctrlreg[1]) to run on. */
    if (width == 8 && !(xg_guest_word(ctx, L->flags, 8) & XG_VGCF_IN_KERNEL) &&
        !xg_guest_word(ctx, L->ctrlreg + 8, 8)) {
        *why = "the context is not in kernel mode (VGCF_in_kernel clear) and has no user cr3 "
               "(ctrlreg[1] is 0)";
        return -1;
    }
    if (vcpu == 0 && (xg_guest_word(ctx, L->vm_assist, w) & ~vm_assist_valid(width))) {
        *why = "vcpu0's vm_assist has bits Xen does not know for this guest width";
        return -1;
    }
    if (xg_guest_word(ctx, L->gdt_ents, w) > XG_FIRST_RESERVED_GDT_ENTRY) {
        *why = "GDT entry count beyond Xen's limit of 7168";
        return -1;
    }
    return 0;
}
