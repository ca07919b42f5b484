/*
 * space.c - the guest's own address spaces, in the NetBSD style: every
 * process's top-level table maps itself read-only (a recursive entry), and
 * some map another address space's table read-only (a linear entry), as
 * NetBSD's pmap does to reach a process's page tables from another one.
 *
 * 64-bit: the top level is the L4.  Each space maps the kernel (the boot
 * L4's entries), its data pages at slot 1 (L3 -> L2 -> L1 -> data), itself
 * at slot 255, and, for the "holders", the L4 of the space "target" at
 * slot 254.
 * 32-bit PAE: an L3 cannot hold such entries, so the recursive and linear
 * entries are in the L2 under the L3's slot 1 (the "dir"), at 511 and 510;
 * slot 0 is the kernel's boot L2, slot 3 an L2 of its own that Xen fills.
 *
 * The target space is built first (it must be pinned before the holders)
 * and no vcpu's cr3 ever points at it.  In the "cross" layout its frames
 * are at the top of memory, above the holders'; in the "ordered" layout
 * below them.  Xen's own restore pins tables in
 * pfn order after setting the vcpus' contexts: it meets a holder before
 * its target, and Xen accepts a linear entry only to a table already
 * validated at the same level (xen/arch/x86/mm.c,
 * define_get_linear_pagetable).
 *
 * Every count the guest loads each holder's and plain space's cr3 in turn
 * and reads, through those tables, its own data pages (canaries), its own
 * dir through the recursive entry, and the target's dir and L1 through
 * the linear entry; the target's and the user space's data pages are read
 * through a temporary mapping of the frames their tables name.
 */
#include "guest.h"
#include "hcall.h"

#define NDATA 4          /* data pages per space */
#define WORDS (PAGE_SIZE / sizeof(unsigned long))

#if defined(__x86_64__)
# define DIR_SELF 255
# define DIR_LINK 254
# define DIR_DOWN 1     /* the dir's entry towards the data pages */
# define DATA_VA (1UL << 39)
# define VA4(a, b, c, d) (((unsigned long)(a) << 39) | ((unsigned long)(b) << 30) | \
                          ((unsigned long)(c) << 21) | ((unsigned long)(d) << 12))
# define SELF_VA VA4(255, 255, 255, 255)   /* the current dir */
# define LINK_VA VA4(254, 255, 255, 255)   /* the target's dir */
# define LINK_L1_VA VA4(254, 1, 0, 0)      /* the target's L1 */
#else
# define DIR_SELF 511
# define DIR_LINK 510
# define DIR_DOWN 0
# define DATA_VA (1UL << 30)
# define VA3(b, c, d) (((unsigned long)(b) << 30) | ((unsigned long)(c) << 21) | \
                       ((unsigned long)(d) << 12))
# define SELF_VA VA3(1, 511, 511)
# define LINK_VA VA3(1, 510, 511)
# define LINK_L1_VA VA3(1, 510, 0)
#endif

#define TABLE_FLAGS (PTE_P | PTE_RW | PTE_US | PTE_A)
#define DATA_FLAGS (PTE_P | PTE_RW | PTE_US | PTE_A | PTE_D)
#define RO_FLAGS (PTE_P | PTE_US | PTE_A)

enum role { TARGET, HOLDER, PLAIN, USER };

struct space {
    const char *name;
    enum role role;
    unsigned long root;         /* pfn of the table cr3 takes */
    unsigned long dir;          /* pfn of the table with the recursive entry */
    unsigned long mid[2];       /* pfns of the tables between dir and l1 */
    unsigned long l1;
    unsigned long data[NDATA];
};

/* The target first: it gets the highest pfns. */
static struct space spaces[] = {
    { "target", TARGET, 0, 0, { 0, 0 }, 0, { 0 } },
    { "holder1", HOLDER, 0, 0, { 0, 0 }, 0, { 0 } },
    { "holder2", HOLDER, 0, 0, { 0, 0 }, 0, { 0 } },
    { "plain", PLAIN, 0, 0, { 0, 0 }, 0, { 0 } },
#if defined(__x86_64__)
    { "user", USER, 0, 0, { 0, 0 }, 0, { 0 } },
#endif
};
#define NSPACES (sizeof(spaces) / sizeof(spaces[0]))

static char scratch[PAGE_SIZE] PAGE_ALIGNED;
static unsigned long next_free;     /* next pfn to hand out, downwards */
static unsigned long boot_root_pfn;     /* the kernel's cr3 (its frame changes on restore) */

typedef uint64_t pte_t;

static unsigned long target_free;   /* the same for the target, "ordered" layout */
static int building_target;

static unsigned long alloc_pfn(void)
{
    if (building_target && target_free != 0)
        return target_free--;
    return next_free--;
}

static unsigned long mfn_of(pte_t e)
{
    return (unsigned long)((e & PTE_MFN_MASK) >> PAGE_SHIFT);
}

static pte_t entry(unsigned long pfn, pte_t flags)
{
    return ((pte_t)pfn_to_mfn(pfn) << PAGE_SHIFT) | flags;
}

static unsigned long canary(unsigned int s, unsigned int page, unsigned long word)
{
    return 0x5a17c0deUL ^ (s << 24) ^ (page << 16) ^ (word * 2654435761UL);
}

/* Fill frame PFN: zero, then the entries ENTRIES[0..N) at INDEX[]. */
static void write_table(unsigned long pfn, const unsigned int *index, const pte_t *entries,
                        unsigned int n)
{
    pte_t *t = (pte_t *)scratch;
    map_frame(scratch, pfn_to_mfn(pfn), 1);
    memset(t, 0, PAGE_SIZE);
    for (unsigned int i = 0; i < n; i++)
        t[index[i]] = entries[i];
    map_frame(scratch, 0, 0);
}

static void pin(unsigned int cmd, unsigned long pfn, const char *what, const struct space *sp)
{
    long rc = mmuext(cmd, pfn_to_mfn(pfn));
    if (rc != 0) {
        put_str("XGBAD ");
        put_id();
        put_str(" 0 cannot pin ");
        put_str(what);
        put_str(" of ");
        put_str(sp->name);
        put_str(" (pfn ");
        put_hex(pfn);
        put_str("): error ");
        put_dec((unsigned long)-rc);
        put_nl();
    }
}

static void build_data(unsigned int s, struct space *sp)
{
    for (unsigned int k = 0; k < NDATA; k++) {
        unsigned long *w = (unsigned long *)scratch;
        sp->data[k] = alloc_pfn();
        map_frame(scratch, pfn_to_mfn(sp->data[k]), 1);
        for (unsigned long j = 0; j < WORDS; j++)
            w[j] = canary(s, k, j);
        map_frame(scratch, 0, 0);
    }
    unsigned int idx[NDATA];
    pte_t e[NDATA];
    for (unsigned int k = 0; k < NDATA; k++) {
        idx[k] = k;
        e[k] = entry(sp->data[k], DATA_FLAGS);
    }
    sp->l1 = alloc_pfn();
    write_table(sp->l1, idx, e, NDATA);
}

/* The kernel's entries of the boot top-level table, copied into ROOT's. */
static unsigned int kernel_entries(unsigned int *idx, pte_t *e)
{
    const pte_t *boot = (const pte_t *)start_info->pt_base;
    unsigned int n = 0;
#if defined(__x86_64__)
    /* Slots 256-271 are Xen's, which it fills in itself. */
    for (unsigned int i = 0; i < 512; i++)
        if ((boot[i] & PTE_P) && (i < 256 || i > 271) && i != DIR_DOWN &&
            i != DIR_SELF && i != DIR_LINK) {
            idx[n] = i;
            e[n++] = boot[i];
        }
#else
    idx[n] = 0;
    e[n++] = boot[0];
#endif
    return n;
}

static void build_space(unsigned int s)
{
    struct space *sp = &spaces[s];
    const struct space *target = &spaces[0];
    unsigned int idx[520];
    pte_t e[520];
    unsigned int n = 0;

    build_data(s, sp);
    pin(MMUEXT_PIN_L1_TABLE, sp->l1, "L1", sp);
#if defined(__x86_64__)
    unsigned int zero = 0;
    pte_t down;
    sp->mid[0] = alloc_pfn();        /* L2 */
    down = entry(sp->l1, TABLE_FLAGS);
    write_table(sp->mid[0], &zero, &down, 1);
    pin(MMUEXT_PIN_L2_TABLE, sp->mid[0], "L2", sp);
    sp->mid[1] = alloc_pfn();        /* L3 */
    down = entry(sp->mid[0], TABLE_FLAGS);
    write_table(sp->mid[1], &zero, &down, 1);
    pin(MMUEXT_PIN_L3_TABLE, sp->mid[1], "L3", sp);
    sp->root = sp->dir = alloc_pfn();
    if (sp->role != USER)
        n = kernel_entries(idx, e);
    idx[n] = DIR_DOWN;
    e[n++] = entry(sp->mid[1], TABLE_FLAGS);
#else
    sp->dir = alloc_pfn();
    idx[n] = DIR_DOWN;
    e[n++] = entry(sp->l1, TABLE_FLAGS);
#endif
    idx[n] = DIR_SELF;
    e[n++] = entry(sp->dir, RO_FLAGS);
    if (sp->role == HOLDER) {
        idx[n] = DIR_LINK;
        e[n++] = entry(target->dir, RO_FLAGS);
    }
    write_table(sp->dir, idx, e, n);
#if defined(__x86_64__)
    pin(MMUEXT_PIN_L4_TABLE, sp->root, "L4", sp);
#else
    pin(MMUEXT_PIN_L2_TABLE, sp->dir, "L2 (dir)", sp);
    /* The L3: the kernel's L2, the dir, and an L2 for Xen's slot 3 that
     * Xen fills (it may belong to one L3 only, so each space has one). */
    sp->mid[0] = alloc_pfn();
    write_table(sp->mid[0], idx, e, 0);
    sp->root = alloc_pfn();
    n = kernel_entries(idx, e);
    idx[n] = 1;
    e[n++] = entry(sp->dir, PTE_P);
    idx[n] = 3;
    e[n++] = entry(sp->mid[0], PTE_P);
    write_table(sp->root, idx, e, n);
    pin(MMUEXT_PIN_L3_TABLE, sp->root, "L3", sp);
#endif
}

static void info_space(const struct space *sp)
{
    put_str("XGINFO ");
    put_id();
    put_str(" space ");
    put_str(sp->name);
    put_str(sp->role == TARGET ? " (linear target, in no cr3)" :
            sp->role == HOLDER ? " (holds a linear entry to the target)" :
            sp->role == USER ? " (the vcpu's user-mode cr3)" : "");
    put_str(": root pfn ");
    put_hex(sp->root);
    put_str(" dir pfn ");
    put_hex(sp->dir);
    put_str(" l1 pfn ");
    put_hex(sp->l1);
    put_nl();
}

void space_build(int cross)
{
    boot_root_pfn = start_info->pt_base >> PAGE_SHIFT;
    next_free = start_info->nr_pages - 1;
    /* "cross": the target's tables above the holders' (it is built first,
     * from the top down); "ordered": below them, 256 frames further down. */
    target_free = cross ? 0 : next_free - 256;
    for (unsigned int s = 0; s < NSPACES; s++) {
        building_target = spaces[s].role == TARGET;
        build_space(s);
        info_space(&spaces[s]);
    }
    building_target = 0;
#if defined(__x86_64__)
    for (unsigned int s = 0; s < NSPACES; s++)
        if (spaces[s].role == USER && mmuext(MMUEXT_NEW_USER_BASEPTR,
                                             pfn_to_mfn(spaces[s].root)) != 0) {
            put_str("XGBAD ");
            put_id();
            put_str(" 0 cannot set the user-mode cr3");
            put_nl();
        }
#endif
}

static unsigned int bad(const struct space *sp, const char *what, unsigned long got,
                        unsigned long want)
{
    put_str("XGBAD ");
    put_id();
    put_str(" ");
    put_dec(count_now);
    put_str(" space ");
    put_str(sp->name);
    put_str(": ");
    put_str(what);
    put_str(" is ");
    put_hex(got);
    put_str(", not ");
    put_hex(want);
    put_nl();
    return 1;
}

/* A dir read through some mapping: its recursive entry and its way down. */
static unsigned int check_dir(const struct space *sp, const volatile pte_t *dir)
{
    unsigned int nbad = 0;
    const unsigned long want_down = pfn_to_mfn(DIR_DOWN == 0 ? sp->l1 : sp->mid[1]);
    if (mfn_of(dir[DIR_SELF]) != pfn_to_mfn(sp->dir) || (dir[DIR_SELF] & PTE_RW))
        nbad += bad(sp, "the recursive entry", (unsigned long)dir[DIR_SELF],
                    pfn_to_mfn(sp->dir));
    if (mfn_of(dir[DIR_DOWN]) != want_down)
        nbad += bad(sp, "the dir's entry down", mfn_of(dir[DIR_DOWN]), want_down);
    return nbad;
}

static unsigned int check_data(unsigned int s, unsigned int k, const volatile unsigned long *w)
{
    for (unsigned long j = 0; j < WORDS; j++)
        if (w[j] != canary(s, k, j))
            return bad(&spaces[s], "a canary word", w[j], canary(s, k, j));
    return 0;
}

/* Data pages and dir of a space that is in no cr3: through the frames
 * its L1 (read through L1) names, mapped one at a time. */
static unsigned int check_unloaded(unsigned int s, const volatile pte_t *l1)
{
    const struct space *sp = &spaces[s];
    unsigned long mfns[NDATA];
    unsigned int nbad = 0;
    for (unsigned int k = 0; k < NDATA; k++) {
        mfns[k] = mfn_of(l1[k]);
        if (mfns[k] != pfn_to_mfn(sp->data[k]))
            nbad += bad(sp, "an L1 entry", mfns[k], pfn_to_mfn(sp->data[k]));
    }
    for (unsigned int k = 0; k < NDATA && nbad == 0; k++) {
        map_frame(scratch, mfns[k], 0);
        nbad += check_data(s, k, (const volatile unsigned long *)scratch);
        map_frame(scratch, 0, 0);
    }
    return nbad;
}

unsigned int space_check(void)
{
    unsigned int nbad = 0;
    for (unsigned int s = 0; s < NSPACES; s++) {
        const struct space *sp = &spaces[s];
        if (sp->role == TARGET || sp->role == USER)
            continue;
        if (mmuext(MMUEXT_NEW_BASEPTR, pfn_to_mfn(sp->root)) != 0) {
            nbad += bad(sp, "loading cr3 (MMUEXT_NEW_BASEPTR)", pfn_to_mfn(sp->root), 0);
            continue;
        }
        nbad += check_dir(sp, (const volatile pte_t *)SELF_VA);
        for (unsigned int k = 0; k < NDATA; k++)
            nbad += check_data(s, k, (const volatile unsigned long *)(DATA_VA + k * PAGE_SIZE));
        if (sp->role == HOLDER) {
            nbad += check_dir(&spaces[0], (const volatile pte_t *)LINK_VA);
            nbad += check_unloaded(0, (const volatile pte_t *)LINK_L1_VA);
        }
        if (mmuext(MMUEXT_NEW_BASEPTR, pfn_to_mfn(boot_root_pfn)) != 0)
            nbad += bad(sp, "going back to the kernel's cr3", pfn_to_mfn(boot_root_pfn), 0);
    }
    for (unsigned int s = 0; s < NSPACES; s++) {
        const struct space *sp = &spaces[s];
        if (sp->role != USER)
            continue;
        /* Not loadable in kernel mode: its tables read-only, one at a time. */
        map_frame(scratch, pfn_to_mfn(sp->dir), 0);
        nbad += check_dir(sp, (const volatile pte_t *)scratch);
        map_frame(scratch, 0, 0);
        pte_t l1[NDATA];
        map_frame(scratch, pfn_to_mfn(sp->l1), 0);
        for (unsigned int k = 0; k < NDATA; k++)
            l1[k] = ((const volatile pte_t *)scratch)[k];
        map_frame(scratch, 0, 0);
        nbad += check_unloaded(s, l1);
    }
    return nbad;
}
