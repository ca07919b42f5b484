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
    out->nr_gdt = (unsigned)((out->gdt_ents + XG_GDT_ENTRIES_PER_FRAME - 1) / XG_GDT_ENTRIES_PER_FRAME);
    for (unsigned i = 0; i < out->nr_gdt; i++)
        out->gdt[i] = xg_guest_word(ctx, L->gdt_frames + i * w, w);
    if (vcpu == 0)
        out->start_info = xg_guest_word(ctx, L->user_regs_rdx, w);
    return 0;
}

void xg_pv_vcpu_set_frames(void *ctx, unsigned width, unsigned vcpu, const struct xg_pv_vcpu_frames *f,
                           bool to_image)
{
    const struct xg_vcpu_layout *L = xg_vcpu_layout(width);
    unsigned w = L->word;
    xg_guest_set_word(ctx, L->ctrlreg + 3 * w, w, xg_frame_to_cr3(f->cr3, width));
    if (width == 8 && f->has_user)
        xg_guest_set_word(ctx, L->ctrlreg + 1 * w, w, to_image ? (1 | f->user << 12) : f->user << 12);
    for (unsigned i = 0; i < f->nr_gdt; i++)
        xg_guest_set_word(ctx, L->gdt_frames + i * w, w, f->gdt[i]);
    if (vcpu == 0)
        xg_guest_set_word(ctx, L->user_regs_rdx, w, f->start_info);
}
