/*
 * domain.c - domains of the simulated host: creation, memory, vcpu
 * contexts (Xen's arch_set_info_guest rules), teardown.
 * All functions run with the host lock held, inside an op.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>

#include "hv/sim/sim.h"
#include "internal.h"
#include "pv/abi.h"
#include "pv/pv.h"

#define DLOG(h, fmt, ...) sim_log((h), "(XEN) d%uv0 " fmt, (h)->caller, ##__VA_ARGS__)

/*
 * The host file is sparse: give a frame its disk blocks before it is
 * used, so a full disk is an allocation failure and not a SIGBUS in
 * whichever process first writes the page.  Blocks are reserved a 1 MiB
 * chunk at a time (frames are mostly allocated in order), and never given
 * back, so what this process reserved stays reserved.
 */
#define BACKED_CHUNK 256U

static bool back_frame(struct sim_host *h, uint64_t mfn)
{
    if (mfn >= h->backed_lo && mfn < h->backed_hi)
        return true;
    uint64_t lo = mfn - mfn % BACKED_CHUNK, hi = XG_MIN(lo + BACKED_CHUNK, h->hdr->nr_frames);
    if (fallocate(h->fd, 0, (off_t)(h->hdr->off_data + lo * SIM_PAGE),
                  (off_t)((hi - lo) * SIM_PAGE)) < 0 &&
        errno != EOPNOTSUPP)
        return false;
    h->backed_lo = lo;
    h->backed_hi = hi;
    return true;
}

static int64_t alloc_frame(struct sim_host *h)
{
    uint64_t n = h->hdr->nr_frames;
    if (h->hdr->nr_free == 0)
        return -1;
    uint64_t mfn = h->hdr->alloc_hint;
    for (uint64_t i = 0; i < n; i++, mfn++) {
        if (mfn >= n)
            mfn = SIM_XEN_FRAMES;
        struct sim_frame *f = sim_frame(h, mfn);
        if (f->owner != SIM_OWNER_FREE)
            continue;
        if (!back_frame(h, mfn))
            return -2;
        if (f->flags & SIM_PGC_NEED_SCRUB)
            memset(sim_frame_data(h, mfn), 0, SIM_PAGE); /* Xen scrubs freed memory */
        SIM_SET(h, h->hdr->alloc_hint, mfn + 1);
        SIM_SET(h, h->hdr->nr_free, h->hdr->nr_free - 1);
        return (int64_t)mfn;
    }
    return -1;
}

static struct sim_domain *alloc_slot(struct sim_host *h)
{
    for (uint32_t i = 0; i < SIM_MAX_DOMAINS; i++)
        if (!h->doms[i].in_use)
            return &h->doms[i];
    return NULL;
}

static bool domid_in_use(struct sim_host *h, uint32_t domid)
{
    return sim_domain(h, domid) != NULL;
}

int sim_domain_create(struct sim_host *h, unsigned guest_width, unsigned nr_vcpus,
                      uint64_t max_pages, uint32_t *domid)
{
    if (guest_width != 4 && guest_width != 8)
        return -EINVAL;
    if (nr_vcpus == 0 || nr_vcpus > SIM_MAX_VCPUS)
        return -EINVAL;
    struct sim_domain *dom = alloc_slot(h);
    if (!dom)
        return -ENOSPC;
    uint32_t id = h->hdr->next_domid;
    for (unsigned tries = 0; domid_in_use(h, id) || id == 0; tries++) {
        if (++id >= XG_DOMID_SELF)
            id = 1;
        if (tries > XG_DOMID_SELF)
            return -ENOSPC;
    }
    SIM_SET(h, h->hdr->next_domid, id + 1 >= XG_DOMID_SELF ? 1 : id + 1);

    int64_t shinfo = alloc_frame(h);
    if (shinfo < 0) {
        DLOG(h, "Could not allocate the shared info page");
        return -ENOMEM;
    }
    sim_journal(h, dom, sizeof(*dom));
    memset(dom, 0, sizeof(*dom));
    dom->in_use = 1;
    dom->domid = id;
    dom->guest_width = guest_width;
    dom->pt_levels = guest_width == 8 ? 4 : 3;
    dom->pause_count = 1; /* domains are created paused */
    dom->nr_vcpus = nr_vcpus;
    dom->max_pages = max_pages;
    dom->store_evtchn = -1;
    dom->console_evtchn = -1;
    dom->next_port = 1;
    dom->tsc_khz = 2000000;
    dom->tsc_incarnation = 0;
    for (unsigned v = 0; v < SIM_MAX_VCPUS; v++) {
        dom->vcpu[v].guest_table = XG_INVALID_MFN;
        dom->vcpu[v].guest_table_user = XG_INVALID_MFN;
    }

    /* The shared info page: Xen's own page, shared writable with the guest. */
    struct sim_frame *f = sim_frame_w(h, (uint64_t)shinfo);
    f->owner = id;
    f->count = 1;
    f->flags = SIM_PGC_ALLOCATED | SIM_PGC_XEN_HEAP;
    f->type_info = PGT_writable_page | PGT_validated | 1;
    f->linear = 0;
    memset(sim_frame_data(h, (uint64_t)shinfo), 0, SIM_PAGE);
    /* Xen starts with every event channel masked. */
    const struct xg_shinfo_layout *sl = xg_shinfo_layout(guest_width);
    memset(sim_frame_data(h, (uint64_t)shinfo) + sl->evtchn_mask, 0xff,
           (size_t)sl->evtchn_words * sl->word);
    sim_m2p_set(h, (uint64_t)shinfo, XG_INVALID_PFN);
    dom->shared_info_mfn = (uint64_t)shinfo;
    *domid = id;
    return 0;
}

int sim_populate_one(struct sim_host *h, uint32_t domid, uint64_t pfn, uint64_t *mfn)
{
    struct sim_domain *dom = sim_domain(h, domid);
    if (!dom)
        return -ESRCH;
    /*
     * assign_pages refuses, then populate_physmap reports the extent it
     * could not allocate (fix: that second line was missing after the
     * dying and over-allocation refusals).
     */
    if (dom->dying) {
        sim_log(h, "(XEN) page_alloc.c:d%uv0 Cannot assign page to domain%u -- dying.", h->caller,
                domid);
        sim_log(h,
                "(XEN) memory.c:d%uv0 Could not allocate order=0 extent: id=%u memflags=0 (0 of 1)",
                h->caller, domid);
        return -EINVAL;
    }
    if (dom->tot_pages + 1 > dom->max_pages) {
        DLOG(h, "Over-allocation for d%u: %llu > %llu", domid,
             (unsigned long long)dom->tot_pages + 1, (unsigned long long)dom->max_pages);
        sim_log(h,
                "(XEN) memory.c:d%uv0 Could not allocate order=0 extent: id=%u memflags=0 (0 of 1)",
                h->caller, domid);
        return -ENOMEM;
    }
    int64_t m = alloc_frame(h);
    if (m == -2) {
        sim_log(h, "(SIM) the disk holding the host file is full: no frame for d%u", domid);
        return -ENOSPC;
    }
    if (m < 0) {
        sim_log(h,
                "(XEN) memory.c:d%uv0 Could not allocate order=0 extent: id=%u memflags=0 (0 of 1)",
                h->caller, domid);
        return -ENOMEM;
    }
    struct sim_frame *f = sim_frame_w(h, (uint64_t)m);
    f->owner = domid;
    f->count = 1;
    f->flags = SIM_PGC_ALLOCATED;
    f->type_info = 0;
    f->linear = 0;
    sim_m2p_set(h, (uint64_t)m, pfn);
    SIM_SET(h, dom->tot_pages, dom->tot_pages + 1);
    *mfn = (uint64_t)m;
    return 0;
}

int sim_release_frame(struct sim_host *h, uint32_t domid, uint64_t mfn)
{
    if (!sim_mfn_valid(h, mfn) || sim_frame(h, mfn)->owner != domid ||
        sim_frame(h, mfn)->count == 0 || (sim_frame(h, mfn)->flags & SIM_PGC_XEN_HEAP)) {
        /*
         * For a PV guest the GFN Xen prints is the frame it was given (fix:
         * it printed the M2P entry).
         */
        sim_log(h, "(XEN) memory.c:d%uv0 Bad page free for Dom%u GFN %llx", h->caller, domid,
                (unsigned long long)mfn);
        return -ENXIO;
    }
    struct sim_frame *f = sim_frame_w(h, mfn);
    if (!(f->flags & SIM_PGC_ALLOCATED))
        return -EINVAL;
    f->flags &= ~SIM_PGC_ALLOCATED;
    sim_put_page(h, mfn);
    return 0;
}

static void release_vcpu_refs(struct sim_host *h, struct sim_vcpu *v)
{
    if (v->guest_table != XG_INVALID_MFN)
        sim_put_page_and_type(h, v->guest_table);
    if (v->guest_table_user != XG_INVALID_MFN)
        sim_put_page_and_type(h, v->guest_table_user);
    for (unsigned i = 0; i < v->nr_gdt; i++)
        sim_put_page_and_type(h, v->gdt_mfn[i]);
    SIM_SET(h, v->guest_table, XG_INVALID_MFN);
    SIM_SET(h, v->guest_table_user, XG_INVALID_MFN);
    SIM_SET(h, v->nr_gdt, 0);
    SIM_SET(h, v->initialised, 0);
}

int sim_domain_destroy(struct sim_host *h, uint32_t domid)
{
    struct sim_domain *dom = sim_domain(h, domid);
    if (!dom)
        return -ESRCH;
    if (dom->dying)
        return 0;
    SIM_SET(h, dom->dying, 1);
    SIM_SET(h, dom->logdirty, 0);
    for (unsigned v = 0; v < dom->nr_vcpus; v++)
        release_vcpu_refs(h, &dom->vcpu[v]);
    uint64_t n = h->hdr->nr_frames;
    /* Unpin everything: the tables then let go of each other as their counts drop. */
    for (uint64_t mfn = 0; mfn < n; mfn++) {
        struct sim_frame *f = sim_frame(h, mfn);
        if (f->owner == domid && (f->type_info & PGT_pinned)) {
            sim_frame_w(h, mfn)->type_info &= ~PGT_pinned;
            sim_put_page_and_type(h, mfn);
        }
    }
    SIM_SET(h, dom->shared_info_mfn, 0);
    /* Then drop every allocation reference; frames still mapped elsewhere linger. */
    for (uint64_t mfn = 0; mfn < n; mfn++) {
        struct sim_frame *f = sim_frame(h, mfn);
        if (f->owner == domid && (f->flags & SIM_PGC_ALLOCATED)) {
            sim_frame_w(h, mfn)->flags &= ~SIM_PGC_ALLOCATED;
            sim_put_page(h, mfn);
        }
    }
    if (dom->tot_pages == 0)
        SIM_SET(h, dom->in_use, 0);
    return 0;
}

uint64_t sim_shinfo_word(struct sim_host *h, struct sim_domain *dom, unsigned off)
{
    if (!dom->shared_info_mfn)
        return 0;
    const struct xg_shinfo_layout *sl = xg_shinfo_layout(dom->guest_width);
    return xg_guest_word(sim_frame_data(h, dom->shared_info_mfn), off, sl->word);
}

uint64_t sim_domain_max_pfn(struct sim_host *h, struct sim_domain *dom)
{
    /* XENMEM_maximum_gpfn for PV: the guest's own shared_info arch.max_pfn, minus one. */
    uint64_t m = sim_shinfo_word(h, dom, xg_shinfo_layout(dom->guest_width)->max_pfn);
    return (m ? m : 1) - 1;
}

/* Xen's pv_set_gdt: a seg_desc reference on every frame, or none at all. */
static int set_gdt(struct sim_host *h, struct sim_domain *dom, struct sim_vcpu *v,
                   const uint64_t *frames, unsigned nr)
{
    for (unsigned i = 0; i < nr; i++) {
        if (sim_get_page_and_type(h, frames[i], dom->domid, PGT_seg_desc_page) < 0) {
            while (i-- > 0)
                sim_put_page_and_type(h, frames[i]);
            return -EINVAL;
        }
    }
    for (unsigned i = 0; i < v->nr_gdt; i++)
        sim_put_page_and_type(h, v->gdt_mfn[i]);
    for (unsigned i = 0; i < nr; i++)
        SIM_SET(h, v->gdt_mfn[i], frames[i]);
    SIM_SET(h, v->nr_gdt, nr);
    return 0;
}

/*
 * Xen 4.17 arch_set_info_guest (xen/arch/x86/domain.c), the EINVAL checks
 * it makes of a PV context before it looks at any frame, written here from
 * Xen and not shared with xg's validation (pv/vcpu.c), so that the tests
 * comparing the two can catch a rule either gets wrong.
 */

/* Offsets in the 64-bit struct vcpu_guest_context (public/arch-x86/xen-x86_64.h). */
enum {
    VGC64_RIP = 648, /* 512 fpu_ctxt + 8 flags + 128 in cpu_user_regs */
    VGC64_RSP = 672,
    VGC64_TRAP_CTXT = 720, /* 256 struct trap_info of 16 bytes, address at +8 */
    VGC64_LDT_BASE = 4816,
    VGC64_LDT_ENTS = 4824,
    VGC64_KERNEL_SP = 4976,
    VGC64_EVENT_CALLBACK = 5112,
    VGC64_FAILSAFE_CALLBACK = 5120,
    VGC64_SYSCALL_CALLBACK = 5128,
    VGC64_FS_BASE = 5144,
    VGC64_GS_BASE_KERNEL = 5152,
    VGC64_GS_BASE_USER = 5160,
};

/* is_canonical_address: bits 63..47 all equal. */
static bool sim_canonical(uint64_t va)
{
    uint64_t top = va >> 47;
    return top == 0 || top == 0x1ffff;
}

/* __addr_ok for a 64-bit guest: below 2^47, or at or above HYPERVISOR_VIRT_END. */
static bool sim_addr_ok(uint64_t va)
{
    return va < (1ULL << 47) || va >= 0xffff880000000000ULL;
}

/*
 * arch_vm_assist_valid_mask: PV32_VM_ASSIST_MASK is types 0-5 (4gb_segments,
 * 4gb_segments_notify, writable_pagetables, pae_extended_cr3, architectural_iopl,
 * runstate_update_flag); PV64_VM_ASSIST_MASK adds m2p_strict (32).
 */
static uint64_t sim_vm_assist_mask(unsigned width)
{
    uint64_t m = 0;
    for (unsigned t = 0; t <= 5; t++)
        m |= 1ULL << t;
    return width == 8 ? m | 1ULL << 32 : m;
}

static bool sim_context_acceptable(const struct sim_domain *dom, unsigned vcpu, const uint8_t *ctx)
{
    const struct xg_vcpu_layout *L = xg_vcpu_layout(dom->guest_width);
    if (dom->guest_width == 8) {
        static const unsigned must_be_canonical[] = {
            VGC64_RIP,
            VGC64_RSP,
            VGC64_KERNEL_SP,
            VGC64_FS_BASE,
            VGC64_GS_BASE_KERNEL,
            VGC64_GS_BASE_USER,
            VGC64_EVENT_CALLBACK,
            VGC64_SYSCALL_CALLBACK,
            VGC64_FAILSAFE_CALLBACK,
        };
        for (size_t i = 0; i < XG_ARRAY_SIZE(must_be_canonical); i++)
            if (!sim_canonical(xg_guest_word(ctx, must_be_canonical[i], 8)))
                return false;
        uint64_t ldt_base = xg_guest_word(ctx, VGC64_LDT_BASE, 8);
        if (xg_guest_word(ctx, VGC64_LDT_ENTS, 8) && !sim_canonical(ldt_base))
            return false;
        for (unsigned t = 0; t < 256; t++)
            if (!sim_canonical(xg_guest_word(ctx, VGC64_TRAP_CTXT + 16 * t + 8, 8)))
                return false;
        if (!sim_addr_ok(ldt_base))
            return false;
    }
    /* LDT safety checks, both widths. */
    if (xg_guest_word(ctx, L->ldt_base, L->word) % XG_PAGE_SIZE ||
        xg_guest_word(ctx, L->ldt_ents, L->word) > 8192)
        return false;
    uint64_t vm_assist = xg_guest_word(ctx, L->vm_assist, L->word);
    if (vcpu == 0 && (vm_assist & ~sim_vm_assist_mask(dom->guest_width)))
        return false;
    return true;
}

int sim_set_vcpu(struct sim_host *h, uint32_t domid, unsigned vcpu, const void *ctx, size_t size)
{
    struct sim_domain *dom = sim_domain(h, domid);
    if (!dom)
        return -ESRCH;
    if (vcpu >= dom->nr_vcpus)
        return -EINVAL; /* XEN_DOMCTL_setvcpucontext: vcpu >= max_vcpus (fix: was -ENOENT) */
    const struct xg_vcpu_layout *L = xg_vcpu_layout(dom->guest_width);
    if (size != L->size)
        return -EINVAL;
    /* arch_set_info_guest's checks of addresses, LDT and vm_assist come before anything else. */
    if (!sim_context_acceptable(dom, vcpu, ctx))
        return -EINVAL;
    struct sim_vcpu *v = &dom->vcpu[vcpu];
    uint64_t flags = xg_guest_word(ctx, L->flags, L->word);
    uint64_t gdt_ents = xg_guest_word(ctx, L->gdt_ents, L->word);
    uint64_t ldt_base = xg_guest_word(ctx, L->ldt_base, L->word);
    uint64_t ldt_ents = xg_guest_word(ctx, L->ldt_ents, L->word);
    uint64_t cr3 = xg_guest_word(ctx, L->ctrlreg + 3 * L->word, L->word);
    uint64_t cr1 = dom->guest_width == 8 ? xg_guest_word(ctx, L->ctrlreg + 1 * L->word, L->word)
                                         : 0;

    if ((ldt_base & 0xfff) || ldt_ents > 8192)
        return -EINVAL;
    unsigned nr_gdt = (unsigned)((gdt_ents + XG_GDT_ENTRIES_PER_FRAME - 1) /
                                 XG_GDT_ENTRIES_PER_FRAME);
    /*
     * More than FIRST_RESERVED_GDT_PAGE (14) frames, i.e. more than 7168
     * entries (pv_set_gdt's FIRST_RESERVED_GDT_ENTRY = 14 * 4096 / 8).
     */
    if (gdt_ents > XG_FIRST_RESERVED_GDT_ENTRY || nr_gdt > 14)
        return -EINVAL;
    uint64_t gdt[XG_GDT_FRAMES];
    for (unsigned i = 0; i < nr_gdt; i++)
        gdt[i] = xg_guest_word(ctx, L->gdt_frames + i * L->word, L->word);
    uint64_t cr3_mfn = xg_cr3_to_frame(cr3, dom->guest_width);
    uint64_t cr1_mfn = cr1 >> 12;

    if (v->initialised) {
        /*
         * Only registers may change on a running vcpu.  Xen compares the
         * cr3 values as written, gdt_ents (not just the frame count) and
         * the LDT, and with no user table installed refuses a user cr3 or
         * a context that is not in kernel mode (fix: the simulator
         * compared frame numbers and the GDT frame count only).
         */
        uint64_t old_gdt_ents = xg_guest_word(v->ctx, L->gdt_ents, L->word);
        uint64_t old_ldt_base = xg_guest_word(v->ctx, L->ldt_base, L->word);
        uint64_t old_ldt_ents = xg_guest_word(v->ctx, L->ldt_ents, L->word);
        bool same = xg_frame_to_cr3(v->guest_table, dom->guest_width) == cr3 &&
                    old_gdt_ents == gdt_ents && old_ldt_ents == ldt_ents &&
                    (!ldt_ents || old_ldt_base == ldt_base);
        if (dom->guest_width == 8) {
            if (v->guest_table_user == XG_INVALID_MFN)
                same = same && !cr1 && (flags & XG_VGCF_IN_KERNEL);
            else
                same = same && (v->guest_table_user << 12) == cr1;
        }
        for (unsigned i = 0; same && i < nr_gdt; i++)
            same = v->gdt_mfn[i] == gdt[i];
        if (!same)
            return -EOPNOTSUPP;
        sim_journal(h, v->ctx, L->size);
        memcpy(v->ctx, ctx, L->size);
        return 0;
    }
    if (dom->guest_width == 8 && !(flags & XG_VGCF_IN_KERNEL) && cr1 == 0)
        return -EINVAL;

    int rc = set_gdt(h, dom, v, gdt, nr_gdt);
    if (rc < 0)
        return rc;
    if (sim_get_page(h, cr3_mfn, domid) < 0) {
        sim_log(h, "(XEN) mm.c:d%uv0 Could not get page ref for mfn %05llx", h->caller,
                (unsigned long long)cr3_mfn);
        set_gdt(h, dom, v, NULL, 0);
        return -EINVAL;
    }
    rc = sim_get_page_type(h, cr3_mfn, sim_root_type(dom));
    if (rc < 0) {
        sim_put_page(h, cr3_mfn);
        set_gdt(h, dom, v, NULL, 0);
        return rc;
    }
    if (cr1) {
        /*
         * get_page_from_mfn logs when the frame is not ours; a type refusal
         * has only its own messages (fix).
         */
        rc = sim_get_page(h, cr1_mfn, domid);
        if (rc < 0)
            sim_log(h, "(XEN) mm.c:d%uv0 Could not get page ref for mfn %05llx", h->caller,
                    (unsigned long long)cr1_mfn);
        else if ((rc = sim_get_page_type(h, cr1_mfn, PGT_l4_page_table)) < 0)
            sim_put_page(h, cr1_mfn);
        if (rc < 0) {
            sim_put_page_and_type(h, cr3_mfn);
            set_gdt(h, dom, v, NULL, 0);
            return rc;
        }
        SIM_SET(h, v->guest_table_user, cr1_mfn);
    }
    SIM_SET(h, v->guest_table, cr3_mfn);
    sim_journal(h, v->ctx, L->size);
    memcpy(v->ctx, ctx, L->size);
    SIM_SET(h, v->initialised, 1);
    return 0;
}
