/*
 * descriptor.c - what Xen accepts in a PV guest's GDT frames: Xen 4.17's
 * check_descriptor (xen/arch/x86/pv/descriptor-tables.c), which
 * validate_segdesc_page applies to all 512 descriptors of a frame when
 * the frame becomes a GDT frame (XEN_DOMCTL_setvcpucontext, set_gdt).
 */
#include "config.h"

#include "pv/pv.h"

#define SEG_TYPE (15U << 8)
#define SEG_S (1U << 12)
#define SEG_P (1U << 15)
#define SEG_L (1U << 21)
#define SEG_CALL_GATE (12U << 8)
#define FLAT_KERNEL_CS64 0xe033U      /* FLAT_RING3_CS64, public/arch-x86/xen-x86_64.h */
#define FLAT_COMPAT_KERNEL_CS 0xe019U /* FLAT_COMPAT_RING1_CS, asm/desc.h */

/* A system descriptor type's name, for the finding. */
static const char *system_type(unsigned type)
{
    switch (type) {
    case 0x1:
    case 0x3:
    case 0x9:
    case 0xb:
        return "a TSS descriptor";
    case 0x2:
        return "an LDT descriptor";
    case 0x4:
        return "a 16-bit call gate";
    case 0x5:
        return "a task gate";
    case 0x6:
    case 0xe:
        return "an interrupt gate";
    case 0x7:
    case 0xf:
        return "a trap gate";
    default:
        return "a system descriptor of a reserved type";
    }
}

bool xg_pv_descriptor_ok(uint64_t desc, unsigned width, const char **why)
{
    uint32_t a = (uint32_t)desc, b = (uint32_t)(desc >> 32);
    bool compat = width == 4;
    /* A not-present descriptor always faults, so it is safe.  Xen fixes the DPL up; it refuses
     * none. */
    if (!(b & SEG_P))
        return true;
    if (b & SEG_S) {
        /* Code and data segments: no base or limit checks, but no 64-bit code in a 32-bit guest. */
        if (compat && (b & SEG_L)) {
            *why = "a 64-bit (L) code segment, which a 32-bit PV guest may not have";
            return false;
        }
        return true;
    }
    unsigned type = (b & SEG_TYPE) >> 8;
    if (type == 0)
        return true; /* type 0 is harmless: the second half of a call gate */
    if ((b & SEG_TYPE) != SEG_CALL_GATE) {
        *why = system_type(type);
        return false;
    }
    /* A call gate: its target must be the guest's own segment, Xen's flat kernel CS or an LDT one.
     */
    uint32_t cs = a >> 16;
    if (!((cs >> 3) < XG_FIRST_RESERVED_GDT_ENTRY ||
          cs == (compat ? FLAT_COMPAT_KERNEL_CS : FLAT_KERNEL_CS64) || (cs & 4))) {
        *why = "a call gate to one of Xen's own segments";
        return false;
    }
    if (b & (compat ? 0xe0U : 0xffU)) {
        *why = "a call gate with reserved bits set";
        return false;
    }
    return true;
}

int xg_pv_gdt_frame_check(const void *page, unsigned width, uint64_t *desc, const char **why)
{
    const uint8_t *p = page;
    for (unsigned i = 0; i < XG_GDT_ENTRIES_PER_FRAME; i++) {
        uint64_t d;
        memcpy(&d, p + i * 8, 8);
        if (!xg_pv_descriptor_ok(d, width, why)) {
            *desc = d;
            return (int)i;
        }
    }
    return -1;
}
