/*
 * build.c - guest builders: lay out memory the way real PV kernels do,
 * through the simulator's own rules (populate, write tables while they
 * are plain pages, pin, set vcpus), so a built guest is one Xen would
 * have accepted.
 *
 * Layouts:
 *  linux64   x86_64 Linux: per-vcpu "process" L4s (kernel + user cr3 in
 *            ctrlreg[1]), direct map of all memory at 0xffff888000000000
 *            with page tables and GDT frames mapped read-only, kernel
 *            image at 0xffffffff80000000, fixmap with the shared info
 *            page, a linear p2m list at 0xffffc90000000000 announced in
 *            shared info (p2m_cr3/p2m_vaddr) and also the frame-list-list.
 *  pae32     32-bit PAE Linux on 64-bit Xen (compat): per-vcpu L3 whose
 *            slot 3 holds its own L2 (Xen's slots 428..511 in it), lowmem
 *            direct map at 0xC0000000 (852 MiB), fixmap below Xen's hole,
 *            p2m only as the frame-list-list tree.
 *  netbsd64  NetBSD amd64: per-process L4s with a recursive slot (255),
 *            and the first one holding an alternate recursive entry (slot
 *            254) to another process's L4, so it can only be validated
 *            after that one: pinning in pfn order fails.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>

#include "hv/sim/guest.h"
#include "internal.h"
#include "pv/abi.h"
#include "pv/pte.h"

#define PAGE_FLAGS_RW (XG_PTE_P | XG_PTE_RW | XG_PTE_A | XG_PTE_D)
#define PAGE_FLAGS_RO (XG_PTE_P | XG_PTE_A)
#define PAGE_FLAGS_USER (XG_PTE_P | XG_PTE_RW | XG_PTE_US | XG_PTE_A | XG_PTE_D)
#define UPPER_FLAGS (XG_PTE_P | XG_PTE_RW | XG_PTE_US | XG_PTE_A)

#define LINUX64_DIRECTMAP 0xffff888000000000ULL
#define LINUX64_KERNEL 0xffffffff80000000ULL
#define LINUX64_P2M 0xffffc90000000000ULL
#define LINUX64_FIXMAP 0xffffffffff5fe000ULL
#define PAE32_PAGE_OFFSET 0xc0000000ULL
#define PAE32_FIXMAP 0xf56ff000ULL
#define PAE32_DIRECTMAP_SLOTS 426U /* L2 slots of lowmem; 426/427 hold the fixmap */
#define USER_VA 0x400000ULL
#define NETBSD_RECURSIVE_SLOT 255U
#define NETBSD_APDP_SLOT 254U

#define KERNEL_PAGES 32U
#define CANARY_PAGES 8U
#define FAULT_VICTIMS 4U
#define MIN_DATA_PAGES 8U
#define STALE_L2_SLOT 100U /* user VA 200 MiB: unused by every layout */

struct tbl {
    uint64_t pfn;
    unsigned level;
};

struct bld {
    struct sim_host *h;
    xg_diag *d;
    const struct sim_build_opts *o;
    uint32_t domid;
    unsigned width;
    uint64_t n;    /* pages */
    uint64_t *mfn; /* pfn -> mfn */
    uint64_t rng;
    /* pfn layout */
    uint64_t pt_first, pt_next, pt_end;
    uint64_t p2m_first, p2m_nr, fl_first, fl_nr, fll;
    uint64_t start_info, store, console, gdt_first, canary_first, user_first, data_first;
    uint64_t victim_first; /* stale-table fault: frames it releases */
    struct tbl *tables;
    unsigned nr_tables, cap_tables;
    uint64_t root[SIM_MAX_VCPUS + 2];      /* per process: kernel L4 / PAE L3 */
    uint64_t user_root[SIM_MAX_VCPUS + 2]; /* 64-bit user L4 */
    uint64_t user_l1[SIM_MAX_VCPUS + 2];
    unsigned nr_procs;
    uint64_t shinfo_l1, shinfo_slot;
    struct sim_guest_info *info;
};

static uint64_t rnd(struct bld *b)
{
    /* xorshift64* */
    b->rng ^= b->rng >> 12;
    b->rng ^= b->rng << 25;
    b->rng ^= b->rng >> 27;
    return b->rng * 0x2545f4914f6cdd1dULL;
}

static uint64_t canary_value(uint64_t seed, unsigned i)
{
    uint64_t x = seed * 0x9e3779b97f4a7c15ULL + (i + 1) * 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 31;
    return x * 0x94d049bb133111ebULL | 1;
}

static uint8_t *page(struct bld *b, uint64_t pfn)
{
    return sim_frame_data(b->h, b->mfn[pfn]);
}
static uint64_t *ptes(struct bld *b, uint64_t pfn)
{
    return (uint64_t *)page(b, pfn);
}

static int fail(struct bld *b, int err, const char *what)
{
    return xg_diag_syserr(b->d, XG_E_HV, -err, NULL,
                          "building the guest: %s failed (see `xg-sim log`)", what);
}

static int new_table(struct bld *b, unsigned level, uint64_t *pfn)
{
    if (b->pt_next >= b->pt_end - 1) /* the last one is kept for the stale-table fault */
        return xg_diag_err(b->d, XG_E_INVAL, NULL,
                           "building the guest: page-table budget exhausted");
    if (b->nr_tables == b->cap_tables) {
        unsigned n = b->cap_tables ? b->cap_tables * 2 : 64;
        struct tbl *t = realloc(b->tables, n * sizeof(*t));
        if (!t)
            return xg_diag_err(b->d, XG_E_NOMEM, NULL, "out of memory");
        b->tables = t;
        b->cap_tables = n;
    }
    *pfn = b->pt_next++;
    memset(page(b, *pfn), 0, SIM_PAGE);
    b->tables[b->nr_tables++] = (struct tbl){ *pfn, level };
    return 0;
}

/* Index of va at a level (4..1) for this guest's paging mode. */
static unsigned va_index(unsigned width, uint64_t va, unsigned level)
{
    if (width == 4 && level == 3)
        return (unsigned)((va >> 30) & 3);
    return (unsigned)((va >> (12 + 9 * (level - 1))) & 511);
}

static uint64_t upper_flags(struct bld *b, unsigned level)
{
    /* A PAE guest's L3 entries hold no more than Present. */
    return (b->width == 4 && level == 3) ? XG_PTE_P : UPPER_FLAGS;
}

/* Map va -> pfn under the table at root_pfn, creating lower tables as needed. */
static int map_page(struct bld *b, uint64_t root_pfn, uint64_t va, uint64_t pfn, uint64_t flags)
{
    unsigned top = b->width == 8 ? 4 : 3;
    uint64_t t = root_pfn;
    for (unsigned level = top; level > 1; level--) {
        unsigned idx = va_index(b->width, va, level);
        uint64_t e = ptes(b, t)[idx];
        if (!xg_pte_present(e)) {
            uint64_t child;
            int rc = new_table(b, level - 1, &child);
            if (rc < 0)
                return rc;
            e = xg_pte_make(b->mfn[child], upper_flags(b, level));
            ptes(b, t)[idx] = e;
        }
        uint64_t m = xg_pte_frame(e);
        /* Find the pfn of that frame: it is one of ours. */
        t = b->h->m2p[m];
    }
    ptes(b, t)[va_index(b->width, va, 1)] = xg_pte_make(b->mfn[pfn], flags);
    return 0;
}

/* pfn of the table at `level` that va goes through under root_pfn (it must exist). */
static uint64_t table_at(struct bld *b, uint64_t root_pfn, uint64_t va, unsigned level)
{
    uint64_t t = root_pfn;
    for (unsigned l = b->width == 8 ? 4 : 3; l > level; l--)
        t = b->h->m2p[xg_pte_frame(ptes(b, t)[va_index(b->width, va, l)])];
    return t;
}

static bool is_pt_pfn(struct bld *b, uint64_t pfn)
{
    return pfn >= b->pt_first && pfn < b->pt_end;
}

/* How a pfn is mapped in the direct map: page tables and GDT frames read-only. */
static uint64_t direct_flags(struct bld *b, uint64_t pfn)
{
    if (is_pt_pfn(b, pfn))
        return PAGE_FLAGS_RO;
    if (pfn >= b->gdt_first && pfn < b->gdt_first + b->o->nr_vcpus)
        return PAGE_FLAGS_RO;
    if (pfn >= 1 && pfn <= KERNEL_PAGES / 2)
        return PAGE_FLAGS_RO; /* kernel text */
    return PAGE_FLAGS_RW;
}

/* ------------------------------------------------------------ memory */

static int populate(struct bld *b)
{
    for (uint64_t pfn = 0; pfn < b->n;) {
        int rc = sim_lock(b->h, 0, b->d);
        if (rc < 0)
            return rc;
        uint64_t end = XG_MIN(b->n, pfn + 1024);
        for (; pfn < end; pfn++) {
            int e = sim_populate_one(b->h, b->domid, pfn, &b->mfn[pfn]);
            if (e < 0) {
                sim_unlock(b->h);
                return fail(b, e, "populating memory");
            }
        }
        sim_unlock(b->h);
    }
    return 0;
}

static void fill_data_page(struct bld *b, uint64_t pfn)
{
    uint8_t *p = page(b, pfn);
    uint64_t sig[4] = { 0x4741505347584758ULL /* "XGXGSPAG" */, pfn, b->o->seed, 0 };
    memcpy(p, sig, sizeof(sig));
    /* A quarter of the pages carry random bytes throughout; the rest stay mostly zero. */
    if ((rnd(b) & 3) == 0) {
        for (unsigned i = 4; i < SIM_PAGE / 8; i++)
            ((uint64_t *)p)[i] = rnd(b);
    }
}

static void write_p2m(struct bld *b)
{
    unsigned w = b->width;
    for (uint64_t pfn = 0; pfn < b->n; pfn++) {
        uint64_t frame = b->p2m_first + pfn * w / SIM_PAGE;
        xg_guest_set_word(page(b, frame), (unsigned)(pfn * w % SIM_PAGE), w, b->mfn[pfn]);
    }
    /* Entries past the end of memory say "no frame". */
    uint64_t cap = b->p2m_nr * (SIM_PAGE / w);
    for (uint64_t pfn = b->n; pfn < cap; pfn++) {
        uint64_t frame = b->p2m_first + pfn * w / SIM_PAGE;
        xg_guest_set_word(page(b, frame), (unsigned)(pfn * w % SIM_PAGE), w,
                          w == 4 ? 0xffffffffULL : ~0ULL);
    }
    uint64_t fpp = SIM_PAGE / w;
    for (uint64_t i = 0; i < b->p2m_nr; i++)
        xg_guest_set_word(page(b, b->fl_first + i / fpp), (unsigned)(i % fpp * w), w,
                          b->mfn[b->p2m_first + i]);
    for (uint64_t i = 0; i < b->fl_nr; i++)
        xg_guest_set_word(page(b, b->fll), (unsigned)(i * w), w, b->mfn[b->fl_first + i]);
}

static void write_start_info(struct bld *b)
{
    const struct xg_start_info_layout *L = xg_start_info_layout(b->width);
    uint8_t *si = page(b, b->start_info);
    memset(si, 0, SIM_PAGE);
    strcpy((char *)si, b->width == 8 ? "xen-3.0-x86_64" : "xen-3.0-x86_32p");
    struct sim_domain *dom = sim_domain(b->h, b->domid);
    xg_guest_set_word(si, L->nr_pages, L->word, b->n);
    xg_guest_set_word(si, L->shared_info, L->word, dom->shared_info_mfn << 12);
    xg_guest_set_word(si, L->store_mfn, L->word, b->mfn[b->store]);
    xg_guest_set_word(si, L->console_mfn, L->word, b->mfn[b->console]);
    xg_guest_set_word(si, L->pt_base, L->word, b->info->kernel_va + (b->pt_first << 12));
    xg_guest_set_word(si, L->nr_pt_frames, L->word, b->pt_next - b->pt_first);
    xg_guest_set_word(si, L->mfn_list, L->word, b->info->p2m_va);
    xg_guest_set_word(si, L->first_p2m_pfn, L->word, b->p2m_first);
    xg_guest_set_word(si, L->nr_p2m_frames, L->word, b->p2m_nr);
    snprintf((char *)si + L->cmd_line, 64, "xg-sim %s seed=%llu", sim_layout_name(b->o->layout),
             (unsigned long long)b->o->seed);
}

/* ------------------------------------------------------------ layouts */

static int add_canary(struct bld *b, uint64_t va, uint64_t pfn, unsigned off, uint32_t mask)
{
    struct sim_guest_info *gi = b->info;
    if (gi->nr_canaries >= SIM_MAX_CANARIES)
        return 0;
    unsigned i = gi->nr_canaries++;
    uint64_t v = canary_value(b->o->seed, i);
    gi->canary[i] = (struct sim_canary){ .va = va + off, .value = v, .vcpu_mask = mask };
    memcpy(page(b, pfn) + off, &v, 8);
    return 0;
}

static uint32_t all_vcpus(struct bld *b)
{
    return b->o->nr_vcpus >= 32 ? 0xffffffffU : (1U << b->o->nr_vcpus) - 1;
}

/* Kernel-half mappings shared by every process: built once into proc 0's root. */
static int build_kernel_64(struct bld *b, uint64_t root, bool directmap, uint64_t kernel_span)
{
    int rc;
    if (directmap) {
        for (uint64_t pfn = 0; pfn < b->n; pfn++)
            if ((rc = map_page(b, root, LINUX64_DIRECTMAP + (pfn << 12), pfn,
                               direct_flags(b, pfn))) < 0)
                return rc;
    }
    for (uint64_t pfn = 0; pfn < kernel_span; pfn++)
        if ((rc = map_page(b, root, LINUX64_KERNEL + (pfn << 12), pfn, direct_flags(b, pfn))) < 0)
            return rc;
    return 0;
}

static int build_linux64(struct bld *b)
{
    struct sim_guest_info *gi = b->info;
    int rc;
    b->nr_procs = b->o->nr_vcpus;
    for (unsigned p = 0; p < b->nr_procs; p++) {
        if ((rc = new_table(b, 4, &b->root[p])) < 0 || (rc = new_table(b, 4, &b->user_root[p])) < 0)
            return rc;
    }
    gi->kernel_va = LINUX64_KERNEL;
    gi->directmap_va = LINUX64_DIRECTMAP;
    gi->directmap_nr = b->n;
    gi->p2m_va = LINUX64_P2M;
    gi->shinfo_va = LINUX64_FIXMAP;
    uint64_t r0 = b->root[0];
    if ((rc = build_kernel_64(b, r0, true, KERNEL_PAGES)) < 0)
        return rc;
    for (uint64_t i = 0; i < b->p2m_nr; i++)
        if ((rc = map_page(b, r0, LINUX64_P2M + (i << 12), b->p2m_first + i, PAGE_FLAGS_RW)) < 0)
            return rc;
    /* Fixmap: an L1 whose slot will map shared info once the guest runs. */
    if ((rc = map_page(b, r0, LINUX64_FIXMAP, 0, PAGE_FLAGS_RO)) < 0)
        return rc;
    uint64_t l4e = ptes(b, r0)[511];
    uint64_t l3 = b->h->m2p[xg_pte_frame(l4e)];
    uint64_t l2 = b->h->m2p[xg_pte_frame(ptes(b, l3)[va_index(8, LINUX64_FIXMAP, 3)])];
    b->shinfo_l1 = b->h->m2p[xg_pte_frame(ptes(b, l2)[va_index(8, LINUX64_FIXMAP, 2)])];
    b->shinfo_slot = va_index(8, LINUX64_FIXMAP, 1);
    ptes(b, b->shinfo_l1)[b->shinfo_slot] = 0;

    /* Other processes share the kernel half (slots 256..511). */
    for (unsigned p = 1; p < b->nr_procs; p++)
        for (unsigned s = 256; s < 512; s++)
            ptes(b, b->root[p])[s] = ptes(b, r0)[s];
    /* Each process has a user page with its own canary, seen from kernel and user cr3. */
    for (unsigned p = 0; p < b->nr_procs; p++) {
        if ((rc = map_page(b, b->root[p], USER_VA, b->user_first + p, PAGE_FLAGS_USER)) < 0)
            return rc;
        ptes(b, b->user_root[p])[0] = ptes(b, b->root[p])[0];
        uint64_t u3 = b->h->m2p[xg_pte_frame(ptes(b, b->root[p])[0])];
        uint64_t u2 = b->h->m2p[xg_pte_frame(ptes(b, u3)[0])];
        b->user_l1[p] = b->h->m2p[xg_pte_frame(ptes(b, u2)[va_index(8, USER_VA, 2)])];
        add_canary(b, USER_VA, b->user_first + p, 0x40, 1U << p);
    }
    add_canary(b, LINUX64_KERNEL + (1 << 12), 1, 0x100, all_vcpus(b));
    add_canary(b, LINUX64_KERNEL + ((uint64_t)(KERNEL_PAGES - 1) << 12), KERNEL_PAGES - 1, 0x200,
               all_vcpus(b));
    for (unsigned i = 0; i < CANARY_PAGES; i++)
        add_canary(b, LINUX64_DIRECTMAP + ((b->canary_first + i) << 12), b->canary_first + i,
                   0x800 + i * 8, all_vcpus(b));
    return 0;
}

static int build_pae32(struct bld *b)
{
    struct sim_guest_info *gi = b->info;
    int rc;
    b->nr_procs = b->o->nr_vcpus;
    for (unsigned p = 0; p < b->nr_procs; p++)
        if ((rc = new_table(b, 3, &b->root[p])) < 0)
            return rc;
    gi->kernel_va = PAE32_PAGE_OFFSET;
    gi->directmap_va = PAE32_PAGE_OFFSET;
    gi->directmap_nr = XG_MIN(b->n, (uint64_t)PAE32_DIRECTMAP_SLOTS * 512);
    gi->p2m_va = 0;
    gi->shinfo_va = PAE32_FIXMAP;
    uint64_t r0 = b->root[0];
    for (uint64_t pfn = 0; pfn < gi->directmap_nr; pfn++)
        if ((rc = map_page(b, r0, PAE32_PAGE_OFFSET + (pfn << 12), pfn, direct_flags(b, pfn))) < 0)
            return rc;
    if ((rc = map_page(b, r0, PAE32_FIXMAP, 0, PAGE_FLAGS_RO)) < 0)
        return rc;
    uint64_t kl2 = b->h->m2p[xg_pte_frame(ptes(b, r0)[3])];
    b->shinfo_l1 = b->h->m2p[xg_pte_frame(ptes(b, kl2)[va_index(4, PAE32_FIXMAP, 2)])];
    b->shinfo_slot = va_index(4, PAE32_FIXMAP, 1);
    ptes(b, b->shinfo_l1)[b->shinfo_slot] = 0;
    /* Every L3 needs its own slot-3 L2 (Xen refuses a shared one); they share the L1s. */
    for (unsigned p = 1; p < b->nr_procs; p++) {
        uint64_t l2;
        if ((rc = new_table(b, 2, &l2)) < 0)
            return rc;
        memcpy(ptes(b, l2), ptes(b, kl2), XG_COMPAT_L2_FIRST_XEN_SLOT * 8);
        ptes(b, b->root[p])[3] = xg_pte_make(b->mfn[l2], XG_PTE_P);
    }
    for (unsigned p = 0; p < b->nr_procs; p++) {
        if ((rc = map_page(b, b->root[p], USER_VA, b->user_first + p, PAGE_FLAGS_USER)) < 0)
            return rc;
        uint64_t u2 = b->h->m2p[xg_pte_frame(ptes(b, b->root[p])[0])];
        b->user_l1[p] = b->h->m2p[xg_pte_frame(ptes(b, u2)[va_index(4, USER_VA, 2)])];
        add_canary(b, USER_VA, b->user_first + p, 0x40, 1U << p);
    }
    add_canary(b, PAE32_PAGE_OFFSET + (1 << 12), 1, 0x100, all_vcpus(b));
    add_canary(b, PAE32_PAGE_OFFSET + ((uint64_t)(KERNEL_PAGES - 1) << 12), KERNEL_PAGES - 1, 0x200,
               all_vcpus(b));
    for (unsigned i = 0; i < CANARY_PAGES; i++)
        if (b->canary_first + i < gi->directmap_nr)
            add_canary(b, PAE32_PAGE_OFFSET + ((b->canary_first + i) << 12), b->canary_first + i,
                       0x800 + i * 8, all_vcpus(b));
    return 0;
}

static int build_netbsd64(struct bld *b)
{
    struct sim_guest_info *gi = b->info;
    int rc;
    /* One process more than vcpus, so there is always a pinned L4 no vcpu runs. */
    b->nr_procs = b->o->nr_vcpus + 1;
    for (unsigned p = 0; p < b->nr_procs; p++)
        if ((rc = new_table(b, 4, &b->root[p])) < 0)
            return rc;
    gi->kernel_va = LINUX64_KERNEL;
    gi->directmap_va = LINUX64_KERNEL;
    gi->directmap_nr = XG_MIN(b->n, 1ULL << 19); /* KERNBASE maps the first 2 GiB */
    gi->p2m_va = 0;
    gi->shinfo_va = LINUX64_FIXMAP;
    uint64_t r0 = b->root[0];
    if ((rc = build_kernel_64(b, r0, false, gi->directmap_nr)) < 0)
        return rc;
    if ((rc = map_page(b, r0, LINUX64_FIXMAP, 0, PAGE_FLAGS_RO)) < 0)
        return rc;
    uint64_t l3 = b->h->m2p[xg_pte_frame(ptes(b, r0)[511])];
    uint64_t l2 = b->h->m2p[xg_pte_frame(ptes(b, l3)[va_index(8, LINUX64_FIXMAP, 3)])];
    b->shinfo_l1 = b->h->m2p[xg_pte_frame(ptes(b, l2)[va_index(8, LINUX64_FIXMAP, 2)])];
    b->shinfo_slot = va_index(8, LINUX64_FIXMAP, 1);
    ptes(b, b->shinfo_l1)[b->shinfo_slot] = 0;
    for (unsigned p = 1; p < b->nr_procs; p++)
        ptes(b, b->root[p])[511] = ptes(b, r0)[511];
    for (unsigned p = 0; p < b->nr_procs; p++) {
        /* PDIR_SLOT_PTE: the L4 maps itself, read-only as Xen demands. */
        ptes(b, b->root[p])[NETBSD_RECURSIVE_SLOT] = xg_pte_make(b->mfn[b->root[p]],
                                                                 XG_PTE_P | XG_PTE_A);
        if ((rc = map_page(b, b->root[p], USER_VA, b->user_first + p, PAGE_FLAGS_USER)) < 0)
            return rc;
        uint64_t u3 = b->h->m2p[xg_pte_frame(ptes(b, b->root[p])[0])];
        uint64_t u2 = b->h->m2p[xg_pte_frame(ptes(b, u3)[0])];
        b->user_l1[p] = b->h->m2p[xg_pte_frame(ptes(b, u2)[va_index(8, USER_VA, 2)])];
        if (p < b->o->nr_vcpus)
            add_canary(b, USER_VA, b->user_first + p, 0x40, 1U << p);
    }
    /*
     * PDIR_SLOT_APTE of process 0: an alternate recursive entry to the last
     * process's L4, which has a higher pfn.  Xen takes it only once that L4
     * is validated, and only read-only.
     */
    uint64_t target = b->root[b->nr_procs - 1];
    ptes(b, r0)[NETBSD_APDP_SLOT] = xg_pte_make(b->mfn[target], XG_PTE_P | XG_PTE_A);
    add_canary(b, LINUX64_KERNEL + (1 << 12), 1, 0x100, all_vcpus(b));
    for (unsigned i = 0; i < CANARY_PAGES; i++)
        if (b->canary_first + i < gi->directmap_nr)
            add_canary(b, LINUX64_KERNEL + ((b->canary_first + i) << 12), b->canary_first + i,
                       0x800 + i * 8, all_vcpus(b));
    return 0;
}

/* ------------------------------------------------------------ pins, vcpus */

static int pin(struct bld *b, unsigned level, uint64_t pfn)
{
    int e = sim_pin(b->h, b->domid, level, b->mfn[pfn]);
    if (e < 0) {
        xg_diag_syserr(b->d, XG_E_HV, -e, NULL,
                       "building the guest: pinning pfn %#llx as an L%u table failed",
                       (unsigned long long)pfn, level);
        return XG_E_HV;
    }
    return 0;
}

static int pin_all(struct bld *b)
{
    int rc = sim_lock(b->h, 0, b->d);
    if (rc < 0)
        return rc;
    if (b->o->layout == SIM_LAYOUT_NETBSD64) {
        /* The target of process 0's alternate recursive entry first. */
        for (unsigned p = b->nr_procs; p-- > 0 && rc == 0;)
            rc = pin(b, 4, b->root[p]);
        for (unsigned p = 0; p < b->nr_procs && rc == 0; p++)
            rc = pin(b, 1, b->user_l1[p]);
    } else {
        unsigned top = b->width == 8 ? 4 : 3;
        for (unsigned p = 0; p < b->nr_procs && rc == 0; p++) {
            rc = pin(b, top, b->root[p]);
            if (rc == 0 && b->width == 8)
                rc = pin(b, 4, b->user_root[p]);
            if (rc == 0)
                rc = pin(b, 1, b->user_l1[p]);
        }
        if (rc == 0)
            rc = pin(b, 1, b->shinfo_l1);
    }
    if (rc < 0)
        sim_abort(b->h);
    else
        sim_unlock(b->h);
    return rc;
}

static int set_vcpus(struct bld *b)
{
    const struct xg_vcpu_layout *L = xg_vcpu_layout(b->width);
    uint8_t ctx[XG_VCPU_CTX64_SIZE];
    int rc = sim_lock(b->h, 0, b->d);
    if (rc < 0)
        return rc;
    for (unsigned v = 0; v < b->o->nr_vcpus; v++) {
        memset(ctx, 0, sizeof(ctx));
        unsigned w = L->word;
        xg_guest_set_word(ctx, L->flags, w,
                          XG_VGCF_IN_KERNEL | XG_VGCF_ONLINE | XG_VGCF_I387_VALID);
        xg_guest_set_word(ctx, L->user_regs_rip, w, b->info->kernel_va + 0x1000 + 0x10 * v);
        xg_guest_set_word(ctx, L->user_regs_rsp, w,
                          b->info->kernel_va + ((uint64_t)KERNEL_PAGES << 12) - 0x100 * v);
        xg_guest_set_word(ctx, L->gdt_frames, w, b->mfn[b->gdt_first + v]);
        xg_guest_set_word(ctx, L->gdt_ents, w, 32);
        xg_guest_set_word(ctx, L->kernel_ss, w, b->width == 8 ? 0xe02b : 0xe021);
        xg_guest_set_word(ctx, L->kernel_sp, w,
                          b->info->kernel_va + ((uint64_t)KERNEL_PAGES << 12) - 0x80 * v);
        unsigned proc = v;
        xg_guest_set_word(ctx, L->ctrlreg + 3 * w, w,
                          xg_frame_to_cr3(b->mfn[b->root[proc]], b->width));
        if (b->width == 8 && b->o->layout == SIM_LAYOUT_LINUX64)
            xg_guest_set_word(ctx, L->ctrlreg + 1 * w, w, b->mfn[b->user_root[proc]] << 12);
        int e = sim_set_vcpu(b->h, b->domid, v, ctx, L->size);
        if (e < 0) {
            sim_abort(b->h);
            return xg_diag_syserr(b->d, XG_E_HV, -e, NULL,
                                  "building the guest: setting vcpu%u failed", v);
        }
    }
    sim_unlock(b->h);
    return 0;
}

/* ------------------------------------------------------------ faults */

static int inject_faults(struct bld *b)
{
    struct sim_host *h = b->h;
    int rc = sim_lock(h, b->domid, b->d);
    if (rc < 0)
        return rc;
    struct sim_domain *dom = sim_domain(h, b->domid);
    SIM_SET(h, dom->faults, b->o->faults);
    int e = 0;

    if (b->o->faults & SIM_FAULT_STALE_TABLE) {
        /*
         * A page table the guest freed: an L1 that mapped FAULT_VICTIMS
         * pages from a slot of process 0's user L2; the guest unhooked it
         * (its type stays l1, with a count of 0) and ballooned those pages
         * out: direct-map entries cleared, frames given back to Xen, p2m
         * entries marked invalid.  The table still holds their old mfns.
         */
        uint64_t stale = b->pt_end - 1, smfn = b->mfn[stale];
        for (unsigned i = 0; i < FAULT_VICTIMS; i++)
            sim_write_u64(h, smfn, i, xg_pte_make(b->mfn[b->victim_first + i], PAGE_FLAGS_RW));
        uint64_t l2 = table_at(b, b->root[0], USER_VA, 2);
        uint64_t ptr = (b->mfn[l2] << 12) | (STALE_L2_SLOT * 8);
        e = sim_mmu_normal(h, b->domid, b->domid, ptr, xg_pte_make(smfn, UPPER_FLAGS));
        if (e == 0)
            e = sim_mmu_normal(h, b->domid, b->domid, ptr, 0);
        for (unsigned i = 0; e == 0 && i < FAULT_VICTIMS; i++) {
            uint64_t pfn = b->victim_first + i;
            uint64_t va = b->info->directmap_va + (pfn << 12);
            if (pfn < b->info->directmap_nr) {
                uint64_t l1 = table_at(b, b->root[0], va, 1);
                e = sim_mmu_normal(h, b->domid, b->domid,
                                   (b->mfn[l1] << 12) | (va_index(b->width, va, 1) * 8), 0);
            }
            if (e == 0)
                e = sim_release_frame(h, b->domid, b->mfn[pfn]);
            uint64_t frame = b->p2m_first + pfn * b->width / SIM_PAGE;
            xg_guest_set_word(page(b, frame), (unsigned)(pfn * b->width % SIM_PAGE), b->width,
                              b->width == 4 ? 0xffffffffULL : ~0ULL);
        }
    }
    if (e == 0 && (b->o->faults & SIM_FAULT_FOREIGN_PTE)) {
        /*
         * A grant mapping left in place: a page of a peer domain mapped in
         * a guest L1 (the fixmap), written directly as GNTTABOP_map_grant_ref
         * does, with the references a mapping holds.
         */
        uint32_t peer;
        e = sim_domain_create(h, 8, 1, 16, &peer);
        uint64_t pmfn = 0;
        if (e == 0)
            e = sim_populate_one(h, peer, 0, &pmfn);
        if (e == 0) {
            struct sim_domain *pd = sim_domain(h, peer);
            memcpy(pd->layout, "grant-peer", 11);
            SIM_SET(h, pd->pause_count, 0);
            sim_frame_w(h, pmfn)->count++;
            e = sim_get_page_type(h, pmfn, PGT_writable_page);
            if (e == 0)
                sim_write_u64(h, b->mfn[b->shinfo_l1], (unsigned)(b->shinfo_slot + 1) % 512,
                              xg_pte_make(pmfn, PAGE_FLAGS_RW));
        }
    }
    if (e < 0) {
        sim_abort(h);
        return xg_diag_syserr(b->d, XG_E_HV, -e, NULL,
                              "building the guest: injecting a fault failed");
    }
    sim_unlock(h);
    return 0;
}

/* ------------------------------------------------------------ driver */

static uint64_t pt_budget(struct bld *b)
{
    uint64_t l1s = b->n / 512 + 1;
    uint64_t procs = b->o->nr_vcpus + 2;
    /* direct map + kernel map + p2m map + fixmap, per process roots, user tables, PAE copies. */
    return 2 * l1s + b->p2m_nr / 512 + 16 + procs * 8 + (b->n / (512 * 512) + 1) * 4;
}

static int plan(struct bld *b)
{
    uint64_t fpp = SIM_PAGE / b->width;
    b->p2m_nr = (b->n + fpp - 1) / fpp;
    b->fl_nr = (b->p2m_nr + fpp - 1) / fpp;
    uint64_t at = KERNEL_PAGES;
    b->pt_first = b->pt_next = at;
    at += pt_budget(b);
    b->pt_end = at;
    b->p2m_first = at;
    at += b->p2m_nr;
    b->fl_first = at;
    at += b->fl_nr;
    b->fll = at++;
    b->start_info = at++;
    b->store = at++;
    b->console = at++;
    b->gdt_first = at;
    at += b->o->nr_vcpus;
    b->canary_first = at;
    at += CANARY_PAGES;
    b->user_first = at;
    at += b->o->nr_vcpus + 1;
    b->victim_first = at;
    at += FAULT_VICTIMS;
    b->data_first = at;
    /* A few pages for the workload to dirty; the fuzz seeds use the smallest guest. */
    if (at + MIN_DATA_PAGES > b->n)
        return xg_diag_err(b->d, XG_E_INVAL, NULL,
                           "a guest of %llu KiB is too small for this layout (at least %llu KiB)",
                           (unsigned long long)(b->n * 4),
                           (unsigned long long)((at + MIN_DATA_PAGES) * 4));
    return 0;
}

/* Refuse a build that cannot fit: vcpus, a PAE guest's reach, the host's frames, its disk. */
static int check_room(struct bld *b)
{
    const struct sim_build_opts *o = b->o;
    struct sim_host *h = b->h;
    xg_diag *d = b->d;
    if (o->nr_vcpus == 0 || o->nr_vcpus > SIM_MAX_VCPUS)
        return xg_diag_err(d, XG_E_INVAL, NULL, "a guest has 1 to %u vcpus, not %u", SIM_MAX_VCPUS,
                           o->nr_vcpus);
    if (o->layout == SIM_LAYOUT_PAE32 && b->n > (1ULL << 20))
        return xg_diag_err(d, XG_E_INVAL, NULL, "a 32-bit PAE guest here is at most 4 GiB");
    int rc = plan(b);
    if (rc < 0)
        return rc;
    if (h->hdr->nr_free < b->n + 1)
        return xg_diag_err(
            d, XG_E_INVAL, NULL,
            "the host has %llu free frames (%llu MiB); a guest of %llu MiB needs %llu",
            (unsigned long long)h->hdr->nr_free, (unsigned long long)(h->hdr->nr_free >> 8),
            (unsigned long long)(b->n >> 8), (unsigned long long)b->n + 1);
    /*
     * The host file is sparse: every page the guest gets must fit on its
     * disk, or the build dies of SIGBUS.
     */
    struct statvfs vfs;
    if (fstatvfs(h->fd, &vfs) == 0 &&
        (uint64_t)vfs.f_bavail * vfs.f_frsize < b->n * SIM_PAGE + (64ULL << 20))
        return xg_diag_err(
            d, XG_E_INVAL, NULL,
            "the disk holding the host file has %llu MiB free; a guest of %llu MiB needs more",
            (unsigned long long)((uint64_t)vfs.f_bavail * vfs.f_frsize >> 20),
            (unsigned long long)(b->n >> 8));
    return 0;
}

/* XEN_DOMCTL_createdomain for the guest, in its own op. */
static int create_domain(struct bld *b)
{
    struct sim_host *h = b->h;
    int rc = sim_lock(h, 0, b->d);
    if (rc < 0)
        return rc;
    int e = sim_domain_create(h, b->width, b->o->nr_vcpus, b->n + 16, &b->domid);
    if (e < 0) {
        sim_abort(h);
        return xg_diag_syserr(b->d, XG_E_HV, -e, NULL, "creating the domain failed");
    }
    sim_unlock(h);
    return 0;
}

/*
 * Contents, written as the domain builder does while nothing is typed
 * yet: the guest-info page, the data pages, the p2m.
 */
static void write_contents(struct bld *b)
{
    const struct sim_build_opts *o = b->o;
    b->info = (struct sim_guest_info *)page(b, 0);
    memset(b->info, 0, SIM_PAGE);
    memcpy(b->info->magic, SIM_GUEST_MAGIC, 8);
    b->info->layout = o->layout;
    b->info->guest_width = b->width;
    b->info->seed = o->seed;
    b->info->nr_pages = b->n;
    b->info->nr_vcpus = o->nr_vcpus;
    b->info->start_info_pfn = b->start_info;
    b->info->store_pfn = b->store;
    b->info->console_pfn = b->console;
    b->info->p2m_first_pfn = b->p2m_first;
    b->info->p2m_nr = b->p2m_nr;
    b->info->fll_pfn = b->fll;
    b->info->fl_first_pfn = b->fl_first;
    b->info->fl_nr = b->fl_nr;
    b->info->data_first_pfn = b->data_first;
    b->info->data_nr = b->n - b->data_first;
    for (uint64_t pfn = 1; pfn < b->n; pfn++) {
        if (is_pt_pfn(b, pfn) || (pfn >= b->p2m_first && pfn <= b->fll) ||
            (pfn >= b->gdt_first && pfn < b->canary_first))
            continue;
        fill_data_page(b, pfn);
    }
    write_p2m(b);
}

/* The layout's page tables, then what they tell the guest-info and start info pages. */
static int build_tables(struct bld *b)
{
    int rc;
    switch (b->o->layout) {
    case SIM_LAYOUT_LINUX64:
        rc = build_linux64(b);
        break;
    case SIM_LAYOUT_PAE32:
        rc = build_pae32(b);
        break;
    case SIM_LAYOUT_NETBSD64:
        rc = build_netbsd64(b);
        break;
    default:
        rc = xg_diag_err(b->d, XG_E_INVAL, NULL, "unknown layout");
        break;
    }
    if (rc < 0)
        return rc;
    b->info->shinfo_l1_pfn = b->shinfo_l1;
    b->info->shinfo_l1_slot = b->shinfo_slot;
    write_start_info(b);
    return 0;
}

/*
 * The guest comes up, as its kernel would, in one op as the guest: shared
 * info's arch fields, its fixmap of shared info, event channels.
 */
static int bring_up(struct bld *b)
{
    struct sim_host *h = b->h;
    int rc = sim_lock(h, b->domid, b->d);
    if (rc < 0)
        return rc;
    struct sim_domain *dom = sim_domain(h, b->domid);
    const struct xg_shinfo_layout *sl = xg_shinfo_layout(b->width);
    uint8_t *si = sim_frame_data(h, dom->shared_info_mfn);
    xg_guest_set_word(si, sl->max_pfn, sl->word, b->n);
    xg_guest_set_word(si, sl->pfn_to_mfn_frame_list_list, sl->word, b->mfn[b->fll]);
    if (b->info->p2m_va) {
        xg_guest_set_word(si, sl->p2m_cr3, sl->word, xg_frame_to_cr3(b->mfn[b->root[0]], b->width));
        xg_guest_set_word(si, sl->p2m_vaddr, sl->word, b->info->p2m_va);
    }
    int e = sim_mmu_normal(h, b->domid, b->domid,
                           (b->mfn[b->shinfo_l1] << 12) | (b->shinfo_slot * 8),
                           xg_pte_make(dom->shared_info_mfn, PAGE_FLAGS_RW));
    if (e < 0) {
        sim_abort(h);
        return xg_diag_syserr(b->d, XG_E_HV, -e, NULL,
                              "building the guest: mapping shared info failed");
    }
    SIM_SET(h, dom->store_evtchn, (int32_t)dom->next_port);
    SIM_SET(h, dom->console_evtchn, (int32_t)dom->next_port + 1);
    SIM_SET(h, dom->next_port, dom->next_port + 2);
    const struct xg_start_info_layout *L = xg_start_info_layout(b->width);
    xg_guest_set_word(page(b, b->start_info), L->store_evtchn, 4, (uint64_t)dom->store_evtchn);
    xg_guest_set_word(page(b, b->start_info), L->console_evtchn, 4, (uint64_t)dom->console_evtchn);
    memset(dom->layout, 0, sizeof(dom->layout));
    strncpy(dom->layout, sim_layout_name(b->o->layout), sizeof(dom->layout) - 1);
    SIM_SET(h, dom->pause_count, 0);
    sim_unlock(h);
    return 0;
}

int sim_build(struct sim_host *h, const struct sim_build_opts *o, uint32_t *domid, xg_diag *d)
{
    struct bld b = { .h = h, .d = d, .o = o, .rng = o->seed * 0x9e3779b97f4a7c15ULL + 0x1234567 };
    b.width = o->layout == SIM_LAYOUT_PAE32 ? 4 : 8;
    b.n = o->mem_bytes / SIM_PAGE;
    int rc = check_room(&b);
    if (rc < 0)
        return rc;
    b.mfn = calloc(b.n, sizeof(*b.mfn));
    if (!b.mfn)
        return xg_diag_err(d, XG_E_NOMEM, NULL, "out of memory");
    if ((rc = create_domain(&b)) < 0)
        goto out;
    if ((rc = populate(&b)) < 0)
        goto destroy;
    write_contents(&b);
    if ((rc = build_tables(&b)) < 0 || (rc = pin_all(&b)) < 0 || (rc = set_vcpus(&b)) < 0 ||
        (rc = bring_up(&b)) < 0)
        goto destroy;
    if (o->faults && (rc = inject_faults(&b)) < 0)
        goto destroy;
    *domid = b.domid;
    rc = 0;
    goto out;

destroy:
    if (sim_lock(h, 0, NULL) == 0) {
        sim_domain_destroy(h, b.domid);
        sim_unlock(h);
    }
out:
    free(b.mfn);
    free(b.tables);
    return rc;
}
