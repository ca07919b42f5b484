/*
 * test_sim.c - the simulated Xen host against Xen 4.17's rules
 * (docs/xen-mm-rules.md): for every rule, the legal case is accepted and
 * the illegal one refused with Xen's errno and Xen's log line.  Then the
 * guest layouts, suspend/resume, the faults, several processes on one
 * host, and processes killed in the middle of an operation.
 *
 * The tests drive the simulator's internal functions (libxg/hv/sim) and,
 * where the contract is the ops table's, xg_hv_* on "sim:PATH".  Every
 * test gets its own host file in a fresh temporary directory.
 */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <ftw.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "hv/sim/guest.h"
#include "hv/sim/sim.h"
#include "internal.h"
#include "pv/abi.h"
#include "pv/pte.h"
#include "xg/hv.h"
#include "xg/pagetype.h"

/* ------------------------------------------------------------ fixture */

/*
 * Each TCase gets a directory (made and removed in the runner, so that it
 * goes even when a test fails and its forked process ends early); each
 * test a directory of its own inside it.
 */
static char topdir[64];
static char tmpdir[128];
static char host_path[160];
static struct sim_host *H;
static xg_diag *D;
static uint64_t next_pfn[SIM_MAX_DOMAINS * 2 + 8];

static void top_up(void)
{
    snprintf(topdir, sizeof(topdir), "%s/xg-test-sim.XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (!mkdtemp(topdir)) {
        perror("test_sim: mkdtemp");
        exit(EXIT_FAILURE);
    }
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(path);
}

static void top_down(void)
{
    nftw(topdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static void host_up(uint64_t frames)
{
    snprintf(tmpdir, sizeof(tmpdir), "%s/test.XXXXXX", topdir);
    ck_assert_ptr_nonnull(mkdtemp(tmpdir));
    snprintf(host_path, sizeof(host_path), "%s/host", tmpdir);
    D = xg_diag_new();
    ck_assert_ptr_nonnull(D);
    ck_assert_int_eq(sim_host_create(host_path, frames, D), 0);
    ck_assert_int_eq(sim_host_open(host_path, D, &H), 0);
    memset(next_pfn, 0, sizeof(next_pfn));
}

/* The host file is sparse, but guest pages written take space: tests that write much ask first. */
static bool enough_disk(uint64_t bytes)
{
    struct statvfs v;
    if (statvfs(tmpdir, &v) == 0 && (uint64_t)v.f_bavail * v.f_frsize < bytes + bytes / 4) {
        fprintf(stderr, "test_sim: %s has too little space for %llu MiB of guest; test skipped\n", tmpdir,
                (unsigned long long)(bytes >> 20));
        return false;
    }
    return true;
}

static void setup(void)
{
    host_up(16384); /* 64 MiB */
}

static void setup_big(void)
{
    host_up(196608); /* 768 MiB: a 256 MiB guest and company */
}

static void teardown(void)
{
    if (H)
        sim_host_close(H);
    H = NULL;
    xg_diag_free(D);
    unlink(host_path);
    rmdir(tmpdir);
}

/* ------------------------------------------------------------ helpers */

#define P XG_PTE_P
#define RW XG_PTE_RW
#define US XG_PTE_US
#define AC XG_PTE_A
#define DI XG_PTE_D
#define UPPER (P | RW | US | AC)
#define GUEST_KERNEL (1ULL << 52)

static void lock_as(uint32_t caller)
{
    ck_assert_int_eq(sim_lock(H, caller, D), 0);
}

static uint32_t new_dom(unsigned width, uint64_t max_pages)
{
    uint32_t domid = 0;
    lock_as(0);
    ck_assert_int_eq(sim_domain_create(H, width, 2, max_pages, &domid), 0);
    sim_unlock(H);
    return domid;
}

/* A new frame for the domain at its next pfn. */
static uint64_t pop(uint32_t dom)
{
    uint64_t mfn = ~0ULL;
    lock_as(0);
    ck_assert_int_eq(sim_populate_one(H, dom, next_pfn[dom]++, &mfn), 0);
    sim_unlock(H);
    return mfn;
}

static uint64_t *tbl(uint64_t mfn)
{
    return (uint64_t *)sim_frame_data(H, mfn);
}

static uint64_t ti(uint64_t mfn)
{
    return sim_frame(H, mfn)->type_info;
}

static uint64_t tcount(uint64_t mfn)
{
    return ti(mfn) & PGT_count_mask;
}

static uint32_t cnt(uint64_t mfn)
{
    return sim_frame(H, mfn)->count;
}

static uint64_t pfn_of(uint64_t mfn)
{
    return H->m2p[mfn];
}

static uint64_t pte(uint64_t mfn, uint64_t flags)
{
    return xg_pte_make(mfn, flags);
}

/* The guest (or dom0, caller 0) pins, unpins, updates; one op each. */
static int pin(uint32_t dom, unsigned level, uint64_t mfn)
{
    lock_as(dom);
    int rc = sim_pin(H, dom, level, mfn);
    sim_unlock(H);
    return rc;
}

static int unpin(uint32_t dom, uint64_t mfn)
{
    lock_as(dom);
    int rc = sim_unpin(H, dom, mfn);
    sim_unlock(H);
    return rc;
}

static int mmu(uint32_t dom, uint64_t table, unsigned slot, uint64_t val)
{
    lock_as(dom);
    int rc = sim_mmu_normal(H, dom, dom, (table << 12) | (slot * 8U), val);
    sim_unlock(H);
    return rc;
}

static uint32_t pfinfo(uint32_t dom, uint64_t mfn)
{
    lock_as(0);
    uint32_t t = sim_pfinfo(H, dom, mfn);
    sim_unlock(H);
    return t;
}

static int consistent(void)
{
    int rc = sim_check_consistency(H, D);
    if (rc < 0)
        xg_diag_print(stderr, D, true);
    return rc;
}

/* ---- the log: what Xen printed since a mark */

static uint64_t mark(void)
{
    return H->hdr->log_head;
}

static char *since(uint64_t m)
{
    uint64_t head = H->hdr->log_head;
    size_t n = (size_t)(head - m);
    char *s = malloc(n + 1);
    ck_assert_ptr_nonnull(s);
    for (size_t i = 0; i < n; i++)
        s[i] = H->log[(m + i) % SIM_LOG_SIZE];
    s[n] = '\0';
    return s;
}

static void expect_log_at(const char *file, int line, bool want, uint64_t m, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
static void expect_log_at(const char *file, int line, bool want, uint64_t m, const char *fmt, ...)
{
    char needle[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(needle, sizeof(needle), fmt, ap);
    va_end(ap);
    char *log = since(m);
    bool found = strstr(log, needle) != NULL;
    if (found != want)
        ck_abort_msg("%s:%d: the log %s \"%s\"; it reads:\n%s", file, line, want ? "lacks" : "has", needle, log);
    free(log);
}
#define EXPECT_LOG(m, ...) expect_log_at(__FILE__, __LINE__, true, (m), __VA_ARGS__)
#define EXPECT_NO_LOG(m, ...) expect_log_at(__FILE__, __LINE__, false, (m), __VA_ARGS__)

static size_t log_lines(uint64_t m)
{
    char *log = since(m);
    size_t n = 0;
    for (char *p = log; *p; p++)
        n += *p == '\n';
    free(log);
    return n;
}

/* A 64-bit chain L4 -> L3 -> L2 -> L1 -> data, slot 0 at each level, not yet typed. */
struct chain {
    uint64_t l4, l3, l2, l1, data;
};

static struct chain make_chain(uint32_t dom)
{
    struct chain c = { pop(dom), pop(dom), pop(dom), pop(dom), pop(dom) };
    tbl(c.l4)[0] = pte(c.l3, UPPER);
    tbl(c.l3)[0] = pte(c.l2, UPPER);
    tbl(c.l2)[0] = pte(c.l1, UPPER);
    tbl(c.l1)[0] = pte(c.data, P | RW | AC | DI);
    return c;
}

/* ------------------------------------------------------------ rule: one type at a time */

START_TEST(test_one_type)
{
    uint32_t dom = new_dom(8, 64);
    uint64_t f = pop(dom), l1 = pop(dom);
    tbl(l1)[0] = pte(f, P | RW | AC | DI);
    ck_assert_int_eq(pin(dom, 1, l1), 0);
    ck_assert_uint_eq(ti(f), PGT_writable_page | PGT_validated | 1); /* e400000000000001 */

    /* Illegal: the writable frame as an L1, while its writable reference lives. */
    uint64_t m = mark();
    ck_assert_int_eq(pin(dom, 1, f), -EINVAL);
    EXPECT_LOG(m, "(XEN) mm.c:d%uv0 Bad type (saw e400000000000001 != exp 2000000000000000) for mfn %05llx (pfn %05llx)",
               dom, (unsigned long long)f, (unsigned long long)pfn_of(f));
    EXPECT_LOG(m, "Error -22 while pinning mfn %05llx", (unsigned long long)f);
    ck_assert_uint_eq(ti(f), PGT_writable_page | PGT_validated | 1);
    ck_assert_uint_eq(cnt(f), 2); /* allocation + the mapping: the pin's reference went back */

    /* And the L1, pinned, cannot be taken writable. */
    m = mark();
    lock_as(dom);
    ck_assert_int_eq(sim_get_page_type(H, l1, PGT_writable_page), -EINVAL);
    sim_unlock(H);
    EXPECT_LOG(m, "Bad type (saw 2c00000000000001 != exp e000000000000000) for mfn %05llx", (unsigned long long)l1);

    /* Legal: once the mapping is gone (type count 0) the frame can become an L1. */
    ck_assert_int_eq(mmu(dom, l1, 0, 0), 0);
    ck_assert_uint_eq(tcount(f), 0);
    ck_assert_int_eq(pin(dom, 1, f), 0);
    ck_assert_uint_eq(ti(f), PGT_l1_page_table | PGT_pinned | PGT_validated | 1);
    ck_assert_int_eq(consistent(), 0);
}
END_TEST

/* ------------------------------------------------------------ rule: type changes only at count 0 */

START_TEST(test_type_change_at_zero)
{
    uint32_t dom = new_dom(8, 64);
    uint64_t t = pop(dom);
    ck_assert_int_eq(pin(dom, 1, t), 0);
    uint64_t m = mark();
    ck_assert_int_eq(pin(dom, 2, t), -EINVAL);
    EXPECT_LOG(m, "Bad type (saw 2c00000000000001 != exp 4000000000000000) for mfn %05llx", (unsigned long long)t);
    EXPECT_LOG(m, "Error -22 while pinning mfn %05llx", (unsigned long long)t);
    ck_assert_uint_eq(ti(t), PGT_l1_page_table | PGT_pinned | PGT_validated | 1);

    ck_assert_int_eq(unpin(dom, t), 0);
    ck_assert_uint_eq(ti(t), PGT_l1_page_table); /* count 0: the type may change now */
    ck_assert_int_eq(pin(dom, 2, t), 0);
    ck_assert_uint_eq(ti(t), PGT_l2_page_table | PGT_pinned | PGT_validated | 1);
    ck_assert_int_eq(unpin(dom, t), 0);
    ck_assert_int_eq(pin(dom, 3, t), 0);
    ck_assert_int_eq(unpin(dom, t), 0);
    ck_assert_int_eq(pin(dom, 4, t), 0);
    ck_assert_uint_eq(ti(t), PGT_l4_page_table | PGT_pinned | PGT_validated | 1);
    ck_assert_int_eq(consistent(), 0);
}
END_TEST

/* ------------------------------------------------------------ rule: types stick; getpageframeinfo3 */

START_TEST(test_sticky_types_and_pfinfo)
{
    uint32_t dom = new_dom(8, 64), other = new_dom(8, 16);
    struct chain c = make_chain(dom);
    ck_assert_int_eq(pin(dom, 4, c.l4), 0);
    ck_assert_uint_eq(pfinfo(dom, c.l4), XG_PFINFO_L4TAB | XG_PFINFO_LPINTAB);
    /* Validated through a reference, not pinned: the table type alone. */
    ck_assert_uint_eq(pfinfo(dom, c.l3), XG_PFINFO_L3TAB);
    ck_assert_uint_eq(pfinfo(dom, c.l2), XG_PFINFO_L2TAB);
    ck_assert_uint_eq(pfinfo(dom, c.l1), XG_PFINFO_L1TAB);
    ck_assert_uint_eq(pfinfo(dom, c.data), XG_PFINFO_NOTAB);

    /* Unpinned: every table keeps its type with count 0, unvalidated, and reports NOTAB. */
    ck_assert_int_eq(unpin(dom, c.l4), 0);
    ck_assert_uint_eq(ti(c.l4), PGT_l4_page_table);
    ck_assert_uint_eq(ti(c.l3), PGT_l3_page_table);
    ck_assert_uint_eq(ti(c.l2), PGT_l2_page_table);
    ck_assert_uint_eq(ti(c.l1), PGT_l1_page_table);
    /* A writable page with count 0 keeps type and validated bit. */
    ck_assert_uint_eq(ti(c.data), PGT_writable_page | PGT_validated);
    const uint64_t all[] = { c.l4, c.l3, c.l2, c.l1, c.data };
    for (size_t i = 0; i < XG_ARRAY_SIZE(all); i++)
        ck_assert_uint_eq(pfinfo(dom, all[i]), XG_PFINFO_NOTAB);

    /* A descriptor page keeps seg_desc and validated at count 0. */
    uint64_t g = pop(dom);
    lock_as(dom);
    ck_assert_int_eq(sim_get_page_and_type(H, g, dom, PGT_seg_desc_page), 0);
    ck_assert_uint_eq(ti(g), PGT_seg_desc_page | PGT_validated | 1);
    sim_put_page_and_type(H, g);
    sim_unlock(H);
    ck_assert_uint_eq(ti(g), PGT_seg_desc_page | PGT_validated);
    ck_assert_uint_eq(pfinfo(dom, g), XG_PFINFO_NOTAB);

    /* XTAB: another domain's frame, the shared info page, a free frame, no frame. */
    uint64_t theirs = pop(other);
    uint64_t m = mark();
    ck_assert_uint_eq(pfinfo(dom, theirs), XG_PFINFO_XTAB);
    EXPECT_LOG(m, "(XEN) d0v0 Error mfn %05llx: rd=d%u od=d%u caf=8000000000000001 taf=0000000000000000",
               (unsigned long long)theirs, dom, other);
    ck_assert_uint_eq(pfinfo(other, theirs), XG_PFINFO_NOTAB);
    ck_assert_uint_eq(pfinfo(dom, sim_domain(H, dom)->shared_info_mfn), XG_PFINFO_XTAB);
    m = mark();
    ck_assert_uint_eq(pfinfo(dom, H->hdr->nr_frames - 1), XG_PFINFO_XTAB);
    EXPECT_LOG(m, "Error mfn %05llx: rd=d%u od=NULL", (unsigned long long)(H->hdr->nr_frames - 1), dom);
    ck_assert_uint_eq(pfinfo(dom, H->hdr->nr_frames + 7), XG_PFINFO_XTAB);

    /* Re-taking a stuck Lx type validates again: a bad entry written meanwhile is caught. */
    ck_assert_int_eq(pin(dom, 4, c.l4), 0);
    ck_assert_int_eq(unpin(dom, c.l4), 0);
    tbl(c.l1)[9] = pte(c.data, P | XG_PTE_PCD);
    m = mark();
    ck_assert_int_eq(pin(dom, 4, c.l4), -EINVAL);
    EXPECT_LOG(m, "Bad L1 flags 10");
    EXPECT_LOG(m, "Failure -22 in promote_l1_table: slot 0x9");
    EXPECT_LOG(m, "Failure -22 in promote_l2_table: slot 0\n");
    EXPECT_LOG(m, "Failure -22 in promote_l3_table: slot 0\n");
    EXPECT_LOG(m, "Failure -22 in promote_l4_table: slot 0\n");
    EXPECT_LOG(m, "Error -22 while pinning mfn %05llx", (unsigned long long)c.l4);
    ck_assert_int_eq(consistent(), 0);
}
END_TEST

/* ------------------------------------------------------------ rule: no RW mapping of a table or descriptor page */

START_TEST(test_l1_rw_to_table)
{
    uint32_t dom = new_dom(8, 64);
    uint64_t a = pop(dom), l2 = pop(dom), c = pop(dom);
    tbl(l2)[0] = pte(a, UPPER);
    ck_assert_int_eq(pin(dom, 2, l2), 0);
    ck_assert_uint_eq(ti(a), PGT_l1_page_table | PGT_validated | 1); /* 2400000000000001 */

    uint64_t bad = pte(a, P | RW | AC | DI);
    tbl(c)[5] = bad;
    uint64_t m = mark();
    ck_assert_int_eq(pin(dom, 1, c), -EBUSY);
    EXPECT_LOG(m, "(XEN) mm.c:d%uv0 Bad type (saw 2400000000000001 != exp e000000000000000) for mfn %05llx (pfn %05llx)",
               dom, (unsigned long long)a, (unsigned long long)pfn_of(a));
    EXPECT_LOG(m, "Could not get page type PGT_writable_page");
    EXPECT_LOG(m, "Error getting mfn %05llx (pfn %05llx) from L1 entry %016llx for l1e_owner d%u, pg_owner d%u",
               (unsigned long long)a, (unsigned long long)pfn_of(a), (unsigned long long)bad, dom, dom);
    EXPECT_LOG(m, "Failure -16 in promote_l1_table: slot 0x5");
    EXPECT_LOG(m, "Error while validating mfn %05llx (pfn %05llx) for type 2000000000000000: caf=8000000000000002 "
                  "taf=2000000000000001",
               (unsigned long long)c, (unsigned long long)pfn_of(c));
    EXPECT_LOG(m, "Error -16 while pinning mfn %05llx", (unsigned long long)c);
    ck_assert_uint_eq(ti(c), 0);
    ck_assert_uint_eq(cnt(a), 2);

    /* The same page read-only is fine: one more general reference, no type reference. */
    tbl(c)[5] = pte(a, P | AC);
    ck_assert_int_eq(pin(dom, 1, c), 0);
    ck_assert_uint_eq(cnt(a), 3);
    ck_assert_uint_eq(tcount(a), 1);

    /* Through mmu_update too; a pinned L1 mapping itself shows page_lock's bit and reference. */
    m = mark();
    ck_assert_int_eq(mmu(dom, c, 7, pte(c, P | RW | AC)), -EBUSY);
    EXPECT_LOG(m, "Bad type (saw 3c00000000000002 != exp e000000000000000) for mfn %05llx", (unsigned long long)c);
    EXPECT_LOG(m, "Error getting mfn %05llx", (unsigned long long)c);
    ck_assert_uint_eq(tbl(c)[7], 0);
    ck_assert_uint_eq(ti(c), PGT_l1_page_table | PGT_pinned | PGT_validated | 1);
    ck_assert_int_eq(mmu(dom, c, 7, pte(c, P | AC)), 0);

    /* A descriptor page (type seg_desc, count 1). */
    uint64_t g = pop(dom), l1d = pop(dom);
    lock_as(dom);
    ck_assert_int_eq(sim_get_page_and_type(H, g, dom, PGT_seg_desc_page), 0);
    sim_unlock(H);
    tbl(l1d)[0] = pte(g, P | RW | AC);
    m = mark();
    ck_assert_int_eq(pin(dom, 1, l1d), -EBUSY);
    EXPECT_LOG(m, "Bad type (saw a400000000000001 != exp e000000000000000) for mfn %05llx", (unsigned long long)g);
    tbl(l1d)[0] = pte(g, P | AC);
    ck_assert_int_eq(pin(dom, 1, l1d), 0);
    lock_as(dom);
    sim_put_page_and_type(H, g);
    sim_unlock(H);
    ck_assert_int_eq(consistent(), 0);
}
END_TEST

/* ------------------------------------------------------------ rule: L1 cache attributes */

START_TEST(test_l1_flags)
{
    uint32_t dom = new_dom(8, 64);
    uint64_t data = pop(dom), l1 = pop(dom);
    static const struct {
        uint64_t flag;
        const char *text;
    } bad[] = { { XG_PTE_PWT, "Bad L1 flags 8" }, { XG_PTE_PCD, "Bad L1 flags 10" }, { XG_PTE_PSE, "Bad L1 flags 80" } };
    for (size_t i = 0; i < XG_ARRAY_SIZE(bad); i++) {
        memset(tbl(l1), 0, SIM_PAGE);
        tbl(l1)[3] = pte(data, P | AC | bad[i].flag);
        uint64_t m = mark();
        ck_assert_int_eq(pin(dom, 1, l1), -EINVAL);
        EXPECT_LOG(m, "(XEN) mm.c:d%uv0 %s\n", dom, bad[i].text);
        EXPECT_LOG(m, "Failure -22 in promote_l1_table: slot 0x3");
    }
    /* Legal: G (allowed in L1s), NX, the available bits. */
    memset(tbl(l1), 0, SIM_PAGE);
    tbl(l1)[3] = pte(data, P | AC | XG_PTE_G | XG_PTE_NX | XG_PTE_AVAIL);
    ck_assert_int_eq(pin(dom, 1, l1), 0);
    /* mmu_update checks the same mask. */
    uint64_t m = mark();
    ck_assert_int_eq(mmu(dom, l1, 4, pte(data, P | XG_PTE_PWT | XG_PTE_PCD)), -EINVAL);
    EXPECT_LOG(m, "Bad L1 flags 18");
    ck_assert_uint_eq(tbl(l1)[4], 0);
    ck_assert_int_eq(mmu(dom, l1, 4, pte(data, P | AC)), 0);
    ck_assert_int_eq(consistent(), 0);
}
END_TEST

/* ------------------------------------------------------------ rule: adjust_guest_lNe */

START_TEST(test_adjust_guest_entries)
{
    uint32_t dom = new_dom(8, 64);
    struct chain c = make_chain(dom);
    uint64_t ro = pop(dom);
    tbl(c.l1)[1] = pte(ro, P | AC);      /* kernel page: gets USER and _PAGE_GUEST_KERNEL */
    tbl(c.l1)[2] = pte(ro, P | US | AC); /* user page: gets GLOBAL */
    tbl(c.l4)[0] = pte(c.l3, P | RW);    /* L4: gets ACCESSED and USER */
    ck_assert_int_eq(pin(dom, 4, c.l4), 0);
    ck_assert_uint_eq(tbl(c.l1)[1], pte(ro, P | AC | US | GUEST_KERNEL));
    ck_assert_uint_eq(tbl(c.l1)[2], pte(ro, P | AC | US | XG_PTE_G));
    ck_assert_uint_eq(tbl(c.l4)[0], pte(c.l3, P | RW | AC | US));
    /* mmu_update stores the adjusted entry, and the same entry again takes the fast path. */
    ck_assert_int_eq(mmu(dom, c.l1, 3, pte(ro, P | AC)), 0);
    ck_assert_uint_eq(tbl(c.l1)[3], pte(ro, P | AC | US | GUEST_KERNEL));
    uint32_t before = cnt(ro);
    ck_assert_int_eq(mmu(dom, c.l1, 3, pte(ro, P | AC)), 0);
    ck_assert_uint_eq(cnt(ro), before);
    /* A kernel page with the global bit is accepted, with a warning. */
    uint64_t m = mark();
    ck_assert_int_eq(mmu(dom, c.l1, 4, pte(ro, P | AC | XG_PTE_G | GUEST_KERNEL)), 0);
    EXPECT_LOG(m, "Global bit is set in kernel page %llx", (unsigned long long)ro);
    ck_assert_int_eq(consistent(), 0);
}
END_TEST

/* ------------------------------------------------------------ rule: no other domain's frame in an L1 */

START_TEST(test_l1_foreign)
{
    uint32_t a = new_dom(8, 64), b = new_dom(8, 64);
    uint64_t theirs = pop(b), l1 = pop(a);
    uint64_t e = pte(theirs, P | AC);
    tbl(l1)[0] = e;
    uint64_t m = mark();
    ck_assert_int_eq(pin(a, 1, l1), -EBUSY);
    EXPECT_LOG(m, "(XEN) mm.c:d%uv0 pg_owner d%u l1e_owner d%u, but real_pg_owner d%u", a, a, a, b);
    EXPECT_LOG(m, "Error getting mfn %05llx (pfn %05llx) from L1 entry %016llx for l1e_owner d%u, pg_owner d%u",
               (unsigned long long)theirs, (unsigned long long)pfn_of(theirs), (unsigned long long)e, a, a);
    ck_assert_uint_eq(cnt(theirs), 1);

    /* A free frame has no owner at all. */
    uint64_t free_mfn = H->hdr->nr_frames - 1;
    ck_assert_uint_eq(sim_frame(H, free_mfn)->owner, SIM_OWNER_FREE);
    tbl(l1)[0] = pte(free_mfn, P | AC);
    m = mark();
    ck_assert_int_eq(pin(a, 1, l1), -EBUSY);
    EXPECT_LOG(m, "pg_owner d%u l1e_owner d%u, but real_pg_owner d-1", a, a);

    /* Legal: its own frame. */
    uint64_t mine = pop(a);
    tbl(l1)[0] = pte(mine, P | AC);
    ck_assert_int_eq(pin(a, 1, l1), 0);

    /* dom0's foreign mappings: allowed for the named domain's frames only. */
    lock_as(0);
    ck_assert_int_eq(sim_get_l1e(H, pte(theirs, P), 0, b), 0);
    sim_put_l1e(H, pte(theirs, P), 0);
    m = mark();
    ck_assert_int_eq(sim_get_l1e(H, pte(theirs, P), 0, a), -EBUSY);
    sim_unlock(H);
    EXPECT_LOG(m, "pg_owner d%u l1e_owner d0, but real_pg_owner d%u", a, b);
    EXPECT_LOG(m, "for l1e_owner d0, pg_owner d%u", a);
    ck_assert_int_eq(consistent(), 0);
}
END_TEST

/* ------------------------------------------------------------ rule: MMIO */

START_TEST(test_mmio)
{
    uint32_t dom = new_dom(8, 64);
    uint64_t l1 = pop(dom), io = H->hdr->nr_frames + 0x10;
    tbl(l1)[2] = pte(io, P | RW | AC);
    uint64_t m = mark();
    ck_assert_int_eq(pin(dom, 1, l1), -EPERM);
    EXPECT_LOG(m, "d%u non-privileged attempt to map MMIO space %05llx", dom, (unsigned long long)io);
    EXPECT_LOG(m, "Failure -1 in promote_l1_table: slot 0x2");
    tbl(l1)[2] = 0;
    ck_assert_int_eq(pin(dom, 1, l1), 0);
    m = mark();
    ck_assert_int_eq(mmu(dom, l1, 2, pte(io, P | AC)), -EPERM);
    EXPECT_LOG(m, "non-privileged attempt to map MMIO space %05llx", (unsigned long long)io);
}
END_TEST

/* ------------------------------------------------------------ rule: one level down */

START_TEST(test_levels)
{
    uint32_t dom = new_dom(8, 64);
    struct chain c = make_chain(dom);
    ck_assert_int_eq(pin(dom, 4, c.l4), 0);
    ck_assert_uint_eq(ti(c.l4), PGT_l4_page_table | PGT_pinned | PGT_validated | 1);
    ck_assert_uint_eq(ti(c.l3), PGT_l3_page_table | PGT_validated | 1);
    ck_assert_uint_eq(ti(c.l2), PGT_l2_page_table | PGT_validated | 1);
    ck_assert_uint_eq(ti(c.l1), PGT_l1_page_table | PGT_validated | 1);
    ck_assert_uint_eq(ti(c.data), PGT_writable_page | PGT_validated | 1);

    uint64_t l1p = pop(dom), l2p = pop(dom);
    ck_assert_int_eq(pin(dom, 1, l1p), 0);
    ck_assert_int_eq(pin(dom, 2, l2p), 0);

    /* An L3 entry to an L1. */
    uint64_t l3 = pop(dom);
    tbl(l3)[6] = pte(l1p, UPPER);
    uint64_t m = mark();
    ck_assert_int_eq(pin(dom, 3, l3), -EINVAL);
    EXPECT_LOG(m, "Bad type (saw 2c00000000000001 != exp 4000000000000000) for mfn %05llx", (unsigned long long)l1p);
    EXPECT_LOG(m, "Failure -22 in promote_l3_table: slot 0x6");
    /* An L4 entry to an L2. */
    uint64_t l4 = pop(dom);
    tbl(l4)[7] = pte(l2p, UPPER);
    m = mark();
    ck_assert_int_eq(pin(dom, 4, l4), -EINVAL);
    EXPECT_LOG(m, "Bad type (saw 4c00000000000001 != exp 6000000000000000) for mfn %05llx", (unsigned long long)l2p);
    EXPECT_LOG(m, "Failure -22 in promote_l4_table: slot 0x7");
    /* An L2 entry to another L2: silent type check (it may be a linear entry), then the linear rule. */
    uint64_t l2 = pop(dom);
    tbl(l2)[8] = pte(l2p, UPPER);
    m = mark();
    ck_assert_int_eq(pin(dom, 2, l2), -EINVAL);
    EXPECT_NO_LOG(m, "Bad type");
    EXPECT_LOG(m, "Attempt to create linear p.t. with write perms");
    EXPECT_LOG(m, "Failure -22 in promote_l2_table: slot 0x8");
    /* Legal: each level to the next one down; an untyped page becomes an L1. */
    uint64_t fresh = pop(dom);
    memset(tbl(l2), 0, SIM_PAGE);
    tbl(l2)[8] = pte(l1p, UPPER);
    tbl(l2)[9] = pte(fresh, UPPER);
    ck_assert_int_eq(pin(dom, 2, l2), 0);
    ck_assert_uint_eq(ti(fresh), PGT_l1_page_table | PGT_validated | 1);
    ck_assert_uint_eq(tcount(l1p), 2);
    memset(tbl(l3), 0, SIM_PAGE);
    tbl(l3)[6] = pte(l2p, UPPER);
    ck_assert_int_eq(pin(dom, 3, l3), 0);
    memset(tbl(l4), 0, SIM_PAGE);
    tbl(l4)[7] = pte(l3, UPPER);
    ck_assert_int_eq(pin(dom, 4, l4), 0);
    ck_assert_int_eq(consistent(), 0);
}
END_TEST

/* ------------------------------------------------------------ rule: no superpages */

START_TEST(test_pse)
{
    uint32_t dom = new_dom(8, 64);
    uint64_t l1 = pop(dom), l2 = pop(dom), l3 = pop(dom), l4 = pop(dom);
    tbl(l2)[1] = pte(l1, UPPER | XG_PTE_PSE);
    uint64_t m = mark();
    ck_assert_int_eq(pin(dom, 2, l2), -EINVAL);
    EXPECT_LOG(m, "(XEN) mm.c:d%uv0 Bad L2 flags 80\n", dom);
    EXPECT_LOG(m, "Failure -22 in promote_l2_table: slot 0x1");
    tbl(l3)[1] = pte(l2, UPPER | XG_PTE_PSE);
    m = mark();
    ck_assert_int_eq(pin(dom, 3, l3), -EINVAL);
    EXPECT_LOG(m, "Bad L3 flags 80\n");
    tbl(l4)[1] = pte(l3, UPPER | XG_PTE_PSE);
    m = mark();
    ck_assert_int_eq(pin(dom, 4, l4), -EINVAL);
    EXPECT_LOG(m, "Bad L4 flags 80\n");
    /* G is refused above L1 too. */
    tbl(l2)[1] = pte(l1, UPPER | XG_PTE_G);
    m = mark();
    ck_assert_int_eq(pin(dom, 2, l2), -EINVAL);
    EXPECT_LOG(m, "Bad L2 flags 100\n");
    /* Legal without; and mmu_update refuses PSE the same way. */
    tbl(l2)[1] = pte(l1, UPPER);
    ck_assert_int_eq(pin(dom, 2, l2), 0);
    m = mark();
    ck_assert_int_eq(mmu(dom, l2, 2, pte(pop(dom), UPPER | XG_PTE_PSE)), -EINVAL);
    EXPECT_LOG(m, "Bad L2 flags 80\n");
    ck_assert_int_eq(consistent(), 0);
}
END_TEST

/* ------------------------------------------------------------ rule: linear page tables */

START_TEST(test_linear)
{
    uint32_t dom = new_dom(8, 64);
    /* A writable self-map. */
    uint64_t a = pop(dom);
    tbl(a)[255] = pte(a, P | RW | AC);
    uint64_t m = mark();
    ck_assert_int_eq(pin(dom, 4, a), -EINVAL);
    EXPECT_LOG(m, "Attempt to create linear p.t. with write perms");
    EXPECT_LOG(m, "Failure -22 in promote_l4_table: slot 0xff");
    /* Read-only: fine, and it costs no reference. */
    tbl(a)[255] = pte(a, P | AC);
    ck_assert_int_eq(pin(dom, 4, a), 0);
    ck_assert_uint_eq(cnt(a), 2);
    ck_assert_uint_eq(tcount(a), 1);
    ck_assert_int_eq(sim_frame(H, a)->linear, 0);

    /* To another, already validated L4: a general and a type reference. */
    uint64_t b = pop(dom), cc = pop(dom);
    ck_assert_int_eq(pin(dom, 4, b), 0);
    tbl(cc)[254] = pte(b, P | AC);
    ck_assert_int_eq(pin(dom, 4, cc), 0);
    ck_assert_uint_eq(tcount(b), 2);
    ck_assert_uint_eq(cnt(b), 3);
    ck_assert_int_eq(sim_frame(H, b)->linear, -1);
    ck_assert_int_eq(sim_frame(H, cc)->linear, 1);

    /* A table that holds linear entries cannot be a linear target (silently). */
    uint64_t d = pop(dom);
    tbl(d)[254] = pte(cc, P | AC);
    m = mark();
    ck_assert_int_eq(pin(dom, 4, d), -EINVAL);
    EXPECT_NO_LOG(m, "Bad type");
    EXPECT_NO_LOG(m, "Attempt to create");
    EXPECT_LOG(m, "Failure -22 in promote_l4_table: slot 0xfe");
    /* ...while one target may have many holders. */
    tbl(d)[254] = pte(b, P | AC);
    ck_assert_int_eq(pin(dom, 4, d), 0);
    ck_assert_int_eq(sim_frame(H, b)->linear, -2);

    /* A linear target cannot hold linear entries (silently), a holder can take more. */
    uint64_t e = pop(dom);
    ck_assert_int_eq(pin(dom, 4, e), 0);
    m = mark();
    ck_assert_int_eq(mmu(dom, b, 10, pte(e, P | AC)), -EINVAL);
    ck_assert_uint_eq(log_lines(m), 0);
    ck_assert_uint_eq(tbl(b)[10], 0);
    ck_assert_int_eq(mmu(dom, cc, 10, pte(e, P | AC)), 0);
    ck_assert_int_eq(sim_frame(H, cc)->linear, 2);

    /*
     * Only to an already validated table: f's entry to g, while g is not
     * validated, makes Xen take g as an L3 (its type count is 0), and g's
     * own RW entry to an L3 then fails as an L3 linear entry.
     */
    uint64_t x = pop(dom), f = pop(dom), g = pop(dom);
    ck_assert_int_eq(pin(dom, 3, x), 0);
    tbl(g)[0] = pte(x, UPPER);
    tbl(f)[200] = pte(g, P | AC);
    m = mark();
    ck_assert_int_eq(pin(dom, 4, f), -EINVAL);
    EXPECT_LOG(m, "Attempt to create linear p.t. with write perms");
    EXPECT_LOG(m, "Failure -22 in promote_l3_table: slot 0\n");
    EXPECT_LOG(m, "Error while validating mfn %05llx (pfn %05llx) for type 6000000000000000", (unsigned long long)g,
               (unsigned long long)pfn_of(g));
    EXPECT_LOG(m, "Failure -22 in promote_l4_table: slot 0xc8");
    ck_assert_uint_eq(ti(g), 0);
    /* Validate g first, as its own L4: then f may link to it. */
    ck_assert_int_eq(pin(dom, 4, g), 0);
    ck_assert_int_eq(pin(dom, 4, f), 0);

    /* Unlinking restores the counts. */
    ck_assert_int_eq(unpin(dom, cc), 0);
    ck_assert_int_eq(unpin(dom, d), 0);
    ck_assert_uint_eq(tcount(b), 1);
    ck_assert_int_eq(sim_frame(H, b)->linear, 0);
    ck_assert_int_eq(consistent(), 0);
}
END_TEST

/* ------------------------------------------------------------ rule: Xen's L4 slots 256..271 */

START_TEST(test_l4_xen_slots)
{
    uint32_t dom = new_dom(8, 64);
    uint64_t l4 = pop(dom), data = pop(dom), l3 = pop(dom);
    /* Garbage Xen would refuse in a guest slot; in its own slots it is not even looked at. */
    tbl(l4)[256] = pte(data, P | RW | XG_PTE_PSE | XG_PTE_PCD);
    tbl(l4)[263] = pte(H->hdr->nr_frames + 3, P);
    tbl(l4)[271] = pte(data, P);
    ck_assert_int_eq(pin(dom, 4, l4), 0);
    ck_assert_uint_eq(cnt(data), 1);
    ck_assert_uint_eq(tcount(data), 0);
    /* ...and overwritten by Xen: 258 maps the L4 itself, 259 is empty. */
    ck_assert_uint_eq(xg_pte_frame(tbl(l4)[258]), l4);
    ck_assert_uint_eq(tbl(l4)[259], 0);
    for (unsigned s = 256; s <= 271; s++)
        if (s != 258 && s != 259)
            ck_assert_uint_eq(xg_pte_frame(tbl(l4)[s]), H->hdr->xen_l4_mfn0 + (s - 256));
    /* mmu_update there is refused, present or not. */
    uint64_t m = mark();
    ck_assert_int_eq(mmu(dom, l4, 260, pte(l3, UPPER)), -EINVAL);
    EXPECT_LOG(m, "(XEN) mm.c:d%uv0 L4 update in Xen-private area, slot 0x104", dom);
    m = mark();
    ck_assert_int_eq(mmu(dom, l4, 256, 0), -EINVAL);
    EXPECT_LOG(m, "L4 update in Xen-private area, slot 0x100");
    /* Legal: a guest slot either side. */
    ck_assert_int_eq(mmu(dom, l4, 255, pte(l3, UPPER)), 0);
    ck_assert_int_eq(mmu(dom, l4, 272, 0), 0);
    ck_assert_int_eq(consistent(), 0);
}
END_TEST

/* ------------------------------------------------------------ rule: 32-bit PAE (compat) */

START_TEST(test_compat_l3)
{
    uint32_t dom = new_dom(4, 128);
    uint64_t l3 = pop(dom), k = pop(dom), l2 = pop(dom), l1 = pop(dom);
    tbl(l2)[0] = pte(l1, UPPER);
    tbl(l3)[0] = pte(l2, P);
    tbl(l3)[3] = pte(k, P);
    for (unsigned s = 4; s < 512; s++)
        tbl(l3)[s] = pte(0xdead, P | RW);
    ck_assert_int_eq(pin(dom, 3, l3), 0);
    for (unsigned s = 4; s < 512; s++)
        ck_assert_uint_eq(tbl(l3)[s], 0);
    /* Stored with USER|RW added (adjust_guest_l3e). */
    ck_assert_uint_eq(tbl(l3)[3], pte(k, P | US | RW));
    /* The slot-3 L2 is a pae_xen_l2, with Xen's compat M2P in slots 428..511. */
    ck_assert_uint_eq(ti(k), PGT_l2_page_table | PGT_pae_xen_l2 | PGT_validated | 1);
    for (unsigned s = 428; s < 512; s++)
        ck_assert_uint_eq(xg_pte_frame(tbl(k)[s]), H->hdr->compat_m2p_mfn0 + (s - 428));
    ck_assert_uint_eq(tbl(k)[427], 0);

    /* Updates in Xen's part of that L2: -EPERM; below it: fine. */
    uint64_t m = mark();
    ck_assert_int_eq(mmu(dom, k, 428, 0), -EPERM);
    EXPECT_LOG(m, "(XEN) mm.c:d%uv0 L2 update in Xen-private area, slot 0x1ac", dom);
    ck_assert_int_eq(mmu(dom, k, 427, pte(l1, UPPER)), 0);
    /* Slot 3 of a validated L3 (and anything above) is immutable, silently. */
    m = mark();
    ck_assert_int_eq(mmu(dom, l3, 3, 0), -EINVAL);
    ck_assert_int_eq(mmu(dom, l3, 5, 0), -EINVAL);
    ck_assert_uint_eq(log_lines(m), 0);
    ck_assert_int_eq(mmu(dom, l3, 1, pte(pop(dom), P)), 0);

    /* Another L3 sharing that L2 in its slot 3: the type matches, the count does not. */
    uint64_t q = pop(dom);
    tbl(q)[3] = pte(k, P);
    m = mark();
    ck_assert_int_eq(pin(dom, 3, q), -EINVAL);
    EXPECT_LOG(m, "(XEN) mm.c:d%uv0 PAE L3 3rd slot is shared", dom);
    EXPECT_LOG(m, "Failure -22 in promote_l3_table: slot 0x3");
    ck_assert_uint_eq(tcount(k), 1);
    /* An L2 in use as a plain L2 (slot 0 of another L3) cannot become a slot-3 L2, nor the reverse. */
    uint64_t k2 = pop(dom), r1 = pop(dom), holder = pop(dom);
    tbl(holder)[0] = pte(k2, P);
    tbl(holder)[3] = pte(pop(dom), P);
    tbl(r1)[3] = pte(k2, P);
    ck_assert_int_eq(pin(dom, 3, holder), 0);
    m = mark();
    ck_assert_int_eq(pin(dom, 3, r1), -EINVAL);
    EXPECT_LOG(m, "Bad type (saw 4400000000000001 != exp 4200000000000000) for mfn %05llx", (unsigned long long)k2);
    EXPECT_LOG(m, "Failure -22 in promote_l3_table: slot 0x3");
    memset(tbl(r1), 0, SIM_PAGE);
    tbl(r1)[0] = pte(k, P);
    tbl(r1)[3] = pte(pop(dom), P);
    m = mark();
    ck_assert_int_eq(pin(dom, 3, r1), -EINVAL);
    EXPECT_LOG(m, "Bad type (saw 4600000000000001 != exp 4000000000000000) for mfn %05llx", (unsigned long long)k);
    EXPECT_LOG(m, "Failure -22 in promote_l3_table: slot 0\n");
    /* Slot 3 missing, or with flags a compat L3 refuses: silently -EINVAL. */
    uint64_t nos = pop(dom);
    m = mark();
    ck_assert_int_eq(pin(dom, 3, nos), -EINVAL);
    EXPECT_LOG(m, "Failure -22 in promote_l3_table: slot 0x3");
    tbl(nos)[3] = pte(pop(dom), P | XG_PTE_NX);
    m = mark();
    ck_assert_int_eq(pin(dom, 3, nos), -EINVAL);
    EXPECT_NO_LOG(m, "Bad L3 flags");
    EXPECT_LOG(m, "Failure -22 in promote_l3_table: slot 0x3");
    /* In slots 0..2 the compat mask speaks (NX is flag bit 23). */
    tbl(nos)[3] = pte(pop(dom), P);
    tbl(nos)[1] = pte(pop(dom), P | XG_PTE_NX);
    m = mark();
    ck_assert_int_eq(pin(dom, 3, nos), -EINVAL);
    EXPECT_LOG(m, "Bad L3 flags 800000");
    EXPECT_LOG(m, "Failure -22 in promote_l3_table: slot 0x1");

    /* A pae_xen_l2 cannot be pinned (or used) as a plain L2. */
    m = mark();
    ck_assert_int_eq(pin(dom, 2, k), -EINVAL);
    EXPECT_LOG(m, "Bad type (saw 4600000000000001 != exp 4000000000000000) for mfn %05llx", (unsigned long long)k);

    /* PIN_L4 is a no-op for a 32-bit guest. */
    uint64_t before = ti(l3);
    m = mark();
    ck_assert_int_eq(pin(dom, 4, l3), 0);
    ck_assert_uint_eq(ti(l3), before);
    ck_assert_uint_eq(log_lines(m), 0);

    /* Unpinned: the L2 loses pae_xen_l2 and the L3 entries their added flags. */
    ck_assert_int_eq(unpin(dom, l3), 0);
    ck_assert_uint_eq(ti(k), PGT_l2_page_table);
    ck_assert_uint_eq(tbl(l3)[3], pte(k, P));
    ck_assert_int_eq(consistent(), 0);
}
END_TEST

/* ------------------------------------------------------------ rule: pin and unpin */

START_TEST(test_pin_unpin)
{
    uint32_t dom = new_dom(8, 64), other = new_dom(8, 16);
    struct chain c = make_chain(dom);
    ck_assert_int_eq(pin(dom, 4, c.l4), 0);
    ck_assert_uint_eq(cnt(c.l4), 2); /* allocation + pin */
    ck_assert_uint_eq(tcount(c.l4), 1);
    const uint64_t all[] = { c.l4, c.l3, c.l2, c.l1, c.data };
    for (size_t i = 1; i < XG_ARRAY_SIZE(all); i++) {
        ck_assert_uint_eq(cnt(all[i]), 2); /* allocation + the entry above */
        ck_assert_uint_eq(tcount(all[i]), 1);
        ck_assert(ti(all[i]) & PGT_validated);
    }
    uint64_t m = mark();
    ck_assert_int_eq(pin(dom, 4, c.l4), -EINVAL);
    EXPECT_LOG(m, "(XEN) mm.c:d%uv0 mfn %05llx already pinned", dom, (unsigned long long)c.l4);
    ck_assert_uint_eq(cnt(c.l4), 2);
    ck_assert_uint_eq(tcount(c.l4), 1);

    ck_assert_int_eq(unpin(dom, c.l4), 0);
    for (size_t i = 0; i < XG_ARRAY_SIZE(all); i++) {
        ck_assert_uint_eq(cnt(all[i]), 1);
        ck_assert_uint_eq(tcount(all[i]), 0);
    }
    m = mark();
    ck_assert_int_eq(unpin(dom, c.l4), -EINVAL);
    EXPECT_LOG(m, "mfn %05llx not pinned", (unsigned long long)c.l4);
    uint64_t theirs = pop(other);
    m = mark();
    ck_assert_int_eq(unpin(dom, theirs), -EINVAL);
    EXPECT_LOG(m, "mfn %05llx bad, or bad owner d%u", (unsigned long long)theirs, dom);
    EXPECT_LOG(m, "Error mfn %05llx: rd=d%u od=d%u caf=8000000000000001 taf=0000000000000000", (unsigned long long)theirs,
               dom, other);
    m = mark();
    ck_assert_int_eq(pin(dom, 1, theirs), -EINVAL);
    EXPECT_LOG(m, "Error mfn %05llx: rd=d%u od=d%u", (unsigned long long)theirs, dom, other);
    ck_assert_int_eq(consistent(), 0);
}
END_TEST

/* ------------------------------------------------------------ rule: mmu_update */

START_TEST(test_mmu_update)
{
    uint32_t dom = new_dom(8, 64), other = new_dom(8, 16);
    uint64_t t = pop(dom), d1 = pop(dom), d2 = pop(dom);
    /* A count-0 frame (a stuck L1 here) is written as a plain page: no validation, no message. */
    ck_assert_int_eq(pin(dom, 1, t), 0);
    ck_assert_int_eq(unpin(dom, t), 0);
    ck_assert_uint_eq(ti(t), PGT_l1_page_table);
    uint64_t m = mark();
    ck_assert_int_eq(mmu(dom, t, 1, pte(d1, P | XG_PTE_PCD)), 0);
    ck_assert_uint_eq(log_lines(m), 0);
    ck_assert_uint_eq(tbl(t)[1], pte(d1, P | XG_PTE_PCD));
    ck_assert_uint_eq(ti(t), PGT_writable_page | PGT_validated);
    ck_assert_uint_eq(cnt(d1), 1);

    /* On a validated table: the new entry is validated alone, the old one released. */
    tbl(t)[1] = pte(d1, P | RW | AC | DI);
    ck_assert_int_eq(pin(dom, 1, t), 0);
    ck_assert_uint_eq(ti(d1), PGT_writable_page | PGT_validated | 1);
    ck_assert_int_eq(mmu(dom, t, 1, pte(d2, P | RW | AC | DI)), 0);
    ck_assert_uint_eq(ti(d1), PGT_writable_page | PGT_validated);
    ck_assert_uint_eq(cnt(d1), 1);
    ck_assert_uint_eq(ti(d2), PGT_writable_page | PGT_validated | 1);
    ck_assert_uint_eq(cnt(d2), 2);
    /* A refused entry leaves the old one in place. */
    uint64_t old = tbl(t)[1];
    m = mark();
    ck_assert_int_eq(mmu(dom, t, 1, pte(d1, P | XG_PTE_PCD)), -EINVAL);
    EXPECT_LOG(m, "Bad L1 flags 10");
    ck_assert_uint_eq(tbl(t)[1], old);
    ck_assert_uint_eq(cnt(d2), 2);
    /* A page with live writable references is written directly. */
    ck_assert_int_eq(mmu(dom, d2, 4, 0x1234), 0);
    ck_assert_uint_eq(tbl(d2)[4], 0x1234);
    /* A frame that is not the caller's. */
    uint64_t theirs = pop(other);
    m = mark();
    ck_assert_int_eq(mmu(dom, theirs, 0, 0), -EINVAL);
    EXPECT_LOG(m, "Could not get page for normal update");
    /* A descriptor page in use: silently refused. */
    uint64_t g = pop(dom);
    lock_as(dom);
    ck_assert_int_eq(sim_get_page_and_type(H, g, dom, PGT_seg_desc_page), 0);
    sim_unlock(H);
    m = mark();
    ck_assert_int_eq(mmu(dom, g, 0, 0), -EINVAL);
    ck_assert_uint_eq(log_lines(m), 0);
    /* An L2 update naming another pg_owner: silently refused. */
    uint64_t l2 = pop(dom);
    ck_assert_int_eq(pin(dom, 2, l2), 0);
    lock_as(0);
    ck_assert_int_eq(sim_mmu_normal(H, dom, other, l2 << 12, 0), -EINVAL);
    sim_unlock(H);
    lock_as(dom);
    sim_put_page_and_type(H, g);
    sim_unlock(H);
    ck_assert_int_eq(consistent(), 0);
}
END_TEST

/* ------------------------------------------------------------ rule: MMU_MACHPHYS_UPDATE */

START_TEST(test_machphys)
{
    uint32_t dom = new_dom(8, 64), other = new_dom(8, 16);
    uint64_t mine = pop(dom), theirs = pop(other);
    lock_as(dom);
    ck_assert_int_eq(sim_mmu_machphys(H, dom, mine, 0x777), 0);
    sim_unlock(H);
    ck_assert_uint_eq(H->m2p[mine], 0x777);
    ck_assert_uint_eq(cnt(mine), 1);
    uint64_t m = mark();
    lock_as(dom);
    ck_assert_int_eq(sim_mmu_machphys(H, dom, theirs, 0x778), -EINVAL);
    sim_unlock(H);
    EXPECT_LOG(m, "Could not get page ref for mfn %05llx", (unsigned long long)theirs);
    EXPECT_LOG(m, "Could not get page for mach->phys update");
    ck_assert_uint_eq(H->m2p[theirs], 0);
}
END_TEST

/* ------------------------------------------------------------ rule: arch_set_info_guest */

static void ctx_init(unsigned width, uint8_t *ctx, uint64_t cr3_mfn, uint64_t gdt, uint64_t gdt_ents)
{
    const struct xg_vcpu_layout *L = xg_vcpu_layout(width);
    memset(ctx, 0, L->size);
    xg_guest_set_word(ctx, L->flags, L->word, XG_VGCF_IN_KERNEL | XG_VGCF_ONLINE);
    xg_guest_set_word(ctx, L->gdt_frames, L->word, gdt);
    xg_guest_set_word(ctx, L->gdt_ents, L->word, gdt_ents);
    xg_guest_set_word(ctx, L->ctrlreg + 3 * L->word, L->word, xg_frame_to_cr3(cr3_mfn, width));
}

/* No rollback on failure: the refusal paths must undo their own references (the checker says). */
static int set_vcpu(uint32_t dom, unsigned v, const uint8_t *ctx)
{
    lock_as(0);
    unsigned width = sim_domain(H, dom)->guest_width;
    int rc = sim_set_vcpu(H, dom, v, ctx, xg_vcpu_layout(width)->size);
    sim_unlock(H);
    return rc;
}

START_TEST(test_set_vcpu)
{
    uint32_t dom = new_dom(8, 64), other = new_dom(8, 16);
    const struct xg_vcpu_layout *L = xg_vcpu_layout(8);
    uint8_t ctx[XG_VCPU_CTX64_SIZE];
    struct chain c = make_chain(dom);
    uint64_t g = pop(dom);

    /* cr3 naming a page mapped writable (c.data, through the chain, pinned by its L1). */
    ck_assert_int_eq(pin(dom, 1, c.l1), 0);
    ctx_init(8, ctx, c.data, g, 32);
    uint64_t m = mark();
    ck_assert_int_eq(set_vcpu(dom, 0, ctx), -EINVAL);
    EXPECT_LOG(m, "Bad type (saw e400000000000001 != exp 8000000000000000) for mfn %05llx", (unsigned long long)c.data);
    ck_assert_uint_eq(tcount(g), 0); /* the GDT references went with it */
    ck_assert_int_eq(consistent(), 0);
    ck_assert_int_eq(unpin(dom, c.l1), 0);

    /* A root that does not validate: its own errors and errno come back (-EBUSY from an L1). */
    uint64_t l1p = pop(dom);
    ck_assert_int_eq(pin(dom, 1, l1p), 0);
    tbl(c.l1)[1] = pte(l1p, P | RW | AC);
    ctx_init(8, ctx, c.l4, g, 32);
    m = mark();
    ck_assert_int_eq(set_vcpu(dom, 0, ctx), -EBUSY);
    EXPECT_LOG(m, "Failure -16 in promote_l1_table: slot 0x1");
    EXPECT_LOG(m, "Failure -16 in promote_l4_table: slot 0\n");
    ck_assert_int_eq(consistent(), 0);
    tbl(c.l1)[1] = 0;
    /* cr3 of another domain's frame. */
    ctx_init(8, ctx, pop(other), g, 32);
    m = mark();
    ck_assert_int_eq(set_vcpu(dom, 0, ctx), -EINVAL);
    EXPECT_LOG(m, "Could not get page ref for mfn");

    /* A GDT frame mapped writable anywhere. */
    uint64_t w = pop(dom);
    tbl(w)[0] = pte(g, P | RW | AC);
    ck_assert_int_eq(pin(dom, 1, w), 0);
    ctx_init(8, ctx, c.l4, g, 32);
    m = mark();
    ck_assert_int_eq(set_vcpu(dom, 0, ctx), -EINVAL);
    EXPECT_LOG(m, "Bad type (saw e400000000000001 != exp a000000000000000) for mfn %05llx", (unsigned long long)g);
    ck_assert_uint_eq(tcount(c.l4), 0);
    ck_assert_int_eq(mmu(dom, w, 0, pte(g, P | AC)), 0);

    /* Too many GDT entries: Xen's limit is 14 frames, 7168 entries. */
    ctx_init(8, ctx, c.l4, g, 7169);
    ck_assert_int_eq(set_vcpu(dom, 0, ctx), -EINVAL);
    ctx_init(8, ctx, c.l4, g, 7681);
    ck_assert_int_eq(set_vcpu(dom, 0, ctx), -EINVAL);

    /* A 64-bit vcpu out of kernel mode needs a user cr3. */
    ctx_init(8, ctx, c.l4, g, 32);
    xg_guest_set_word(ctx, L->flags, 8, XG_VGCF_ONLINE);
    ck_assert_int_eq(set_vcpu(dom, 1, ctx), -EINVAL);

    /* GDT contents: a ring-0 flat code segment is raised to ring 3; a TSS descriptor is refused. */
    ((uint64_t *)sim_frame_data(H, g))[1] = 0x00af9a000000ffffULL;
    ((uint64_t *)sim_frame_data(H, g))[2] = 0x0000890000000067ULL;
    ctx_init(8, ctx, c.l4, g, 32);
    m = mark();
    ck_assert_int_eq(set_vcpu(dom, 0, ctx), -EINVAL);
    EXPECT_LOG(m, "Error while validating mfn %05llx (pfn %05llx) for type a000000000000000", (unsigned long long)g,
               (unsigned long long)pfn_of(g));
    ((uint64_t *)sim_frame_data(H, g))[2] = 0;

    /* Legal. */
    ck_assert_int_eq(set_vcpu(dom, 0, ctx), 0);
    ck_assert_uint_eq(((uint64_t *)sim_frame_data(H, g))[1], 0x00affa000000ffffULL);
    ck_assert_uint_eq(ti(g), PGT_seg_desc_page | PGT_validated | 1);
    ck_assert_uint_eq(cnt(g), 3); /* allocation, w's read-only entry, the GDT */
    ck_assert_uint_eq(ti(c.l4), PGT_l4_page_table | PGT_validated | 1);
    ck_assert_uint_eq(sim_domain(H, dom)->vcpu[0].guest_table, c.l4);

    /* An initialised vcpu: registers may change, its tables may not. */
    xg_guest_set_word(ctx, L->user_regs_rip, 8, 0xffffffff81000000ULL);
    ck_assert_int_eq(set_vcpu(dom, 0, ctx), 0);
    uint64_t l4b = pop(dom);
    ctx_init(8, ctx, l4b, g, 32);
    ck_assert_int_eq(set_vcpu(dom, 0, ctx), -EOPNOTSUPP);
    ctx_init(8, ctx, c.l4, g, 33);
    ck_assert_int_eq(set_vcpu(dom, 0, ctx), -EOPNOTSUPP);
    ck_assert_uint_eq(tcount(l4b), 0);
    ck_assert_int_eq(consistent(), 0);
}
END_TEST

START_TEST(test_set_vcpu_compat)
{
    uint32_t dom = new_dom(4, 64);
    uint8_t ctx[XG_VCPU_CTX32_SIZE];
    uint64_t l3 = pop(dom), k = pop(dom), g = pop(dom), bad = pop(dom);
    tbl(l3)[3] = pte(k, P);
    /* cr3 must be an L3 that validates: slot 3 present. */
    ctx_init(4, ctx, bad, g, 16);
    uint64_t m = mark();
    ck_assert_int_eq(set_vcpu(dom, 0, ctx), -EINVAL);
    EXPECT_LOG(m, "Failure -22 in promote_l3_table: slot 0x3");
    EXPECT_LOG(m, "for type 6000000000000000");
    ctx_init(4, ctx, l3, g, 16);
    ck_assert_int_eq(set_vcpu(dom, 0, ctx), 0);
    ck_assert_uint_eq(ti(l3), PGT_l3_page_table | PGT_validated | 1);
    ck_assert_uint_eq(ti(k), PGT_l2_page_table | PGT_pae_xen_l2 | PGT_validated | 1);
    ck_assert_int_eq(consistent(), 0);
}
END_TEST

/* ------------------------------------------------------------ rule: populate past max_pages */

START_TEST(test_populate_max)
{
    uint32_t dom = new_dom(8, 4);
    for (int i = 0; i < 4; i++)
        pop(dom);
    uint64_t m = mark(), mfn;
    lock_as(0);
    ck_assert_int_eq(sim_populate_one(H, dom, 4, &mfn), -ENOMEM);
    sim_unlock(H);
    EXPECT_LOG(m, "Over-allocation for d%u: 5 > 4", dom);
    EXPECT_LOG(m, "Could not allocate order=0 extent: id=%u memflags=0 (0 of 1)", dom);
    ck_assert_uint_eq(sim_domain(H, dom)->tot_pages, 4);
    ck_assert_int_eq(consistent(), 0);
}
END_TEST

/* ------------------------------------------------------------ rule: destroy releases everything */

START_TEST(test_destroy)
{
    uint64_t free0 = H->hdr->nr_free;
    struct sim_build_opts o = { .layout = SIM_LAYOUT_LINUX64, .mem_bytes = 16 << 20, .nr_vcpus = 2, .seed = 3 };
    uint32_t dom;
    ck_assert_int_eq(sim_build(H, &o, &dom, D), 0);
    ck_assert_int_eq(consistent(), 0);

    /* A dom0 process's mapping keeps a frame (and the dying domain) alive until unmapped. */
    xg_hv *hv;
    char spec[200];
    snprintf(spec, sizeof(spec), "sim:%s", host_path);
    ck_assert_int_eq(xg_hv_open(spec, D, &hv), 0);
    uint64_t some = 0;
    for (uint64_t mfn = 0; mfn < H->hdr->nr_frames; mfn++)
        if (sim_frame(H, mfn)->owner == dom && !(sim_frame(H, mfn)->flags & SIM_PGC_XEN_HEAP))
            some = mfn;
    void *page;
    int err;
    xg_hv_mapping *map;
    ck_assert_int_eq(xg_hv_map(hv, dom, PROT_READ, 1, &some, &page, &err, &map, D), 0);
    ck_assert_int_eq(err, 0);

    lock_as(0);
    ck_assert_int_eq(sim_domain_destroy(H, dom), 0);
    sim_unlock(H);
    ck_assert_int_eq(consistent(), 0);
    ck_assert_ptr_nonnull(sim_domain(H, dom));
    ck_assert(sim_domain(H, dom)->dying);
    ck_assert_uint_eq(sim_frame(H, some)->owner, dom);
    xg_hv_unmap(hv, map);
    xg_hv_close(hv);

    ck_assert_ptr_null(sim_domain(H, dom));
    ck_assert_uint_eq(H->hdr->nr_free, free0);
    for (uint64_t mfn = SIM_XEN_FRAMES; mfn < H->hdr->nr_frames; mfn++) {
        ck_assert_uint_eq(sim_frame(H, mfn)->owner, SIM_OWNER_FREE);
        ck_assert_uint_eq(sim_frame(H, mfn)->count, 0);
    }
    ck_assert_int_eq(consistent(), 0);
}
END_TEST

/* ------------------------------------------------------------ layouts */

struct layout_case {
    enum sim_layout layout;
    uint64_t mib;
    unsigned vcpus;
    uint64_t seed;
};

static const struct layout_case layout_cases[] = {
    { SIM_LAYOUT_LINUX64, 8, 1, 1 },   { SIM_LAYOUT_LINUX64, 64, 2, 7 },   { SIM_LAYOUT_LINUX64, 256, 4, 42 },
    { SIM_LAYOUT_LINUX64, 64, 3, 99 }, { SIM_LAYOUT_PAE32, 8, 1, 2 },      { SIM_LAYOUT_PAE32, 64, 3, 8 },
    { SIM_LAYOUT_PAE32, 256, 4, 43 },  { SIM_LAYOUT_PAE32, 64, 2, 1000 },  { SIM_LAYOUT_NETBSD64, 8, 1, 3 },
    { SIM_LAYOUT_NETBSD64, 64, 2, 9 }, { SIM_LAYOUT_NETBSD64, 256, 4, 44 }, { SIM_LAYOUT_NETBSD64, 64, 3, 5 },
};

START_TEST(test_layout)
{
    const struct layout_case *lc = &layout_cases[_i];
    struct sim_build_opts o = { .layout = lc->layout, .mem_bytes = lc->mib << 20, .nr_vcpus = lc->vcpus, .seed = lc->seed };
    uint64_t free0 = H->hdr->nr_free;
    uint32_t dom;
    if (!enough_disk(lc->mib << 20))
        return;
    int rc = sim_build(H, &o, &dom, D);
    if (rc < 0)
        xg_diag_print(stderr, D, true);
    ck_assert_int_eq(rc, 0);
    ck_assert_int_eq(sim_self_check(H, dom, D), 0);
    ck_assert_int_eq(consistent(), 0);

    /* Every vcpu's root is a validated, pinned table of the guest's root level. */
    struct sim_domain *sd = sim_domain(H, dom);
    unsigned root = lc->layout == SIM_LAYOUT_PAE32 ? 3 : 4;
    for (unsigned v = 0; v < lc->vcpus; v++) {
        uint64_t r = sd->vcpu[v].guest_table;
        ck_assert_uint_eq(pfinfo(dom, r), ((uint32_t)root << XG_PFINFO_SHIFT) | XG_PFINFO_LPINTAB);
        ck_assert_uint_eq(ti(sd->vcpu[v].gdt_mfn[0]) & (PGT_type_mask | PGT_validated),
                          PGT_seg_desc_page | PGT_validated);
    }
    ck_assert_uint_eq(sd->tot_pages, lc->mib << 8);
    ck_assert_str_eq(sd->layout, sim_layout_name(lc->layout));

    /* The comparison with itself finds nothing. */
    ck_assert_int_eq(sim_compare(H, dom, H, dom, D), 0);

    lock_as(0);
    ck_assert_int_eq(sim_domain_destroy(H, dom), 0);
    sim_unlock(H);
    ck_assert_uint_eq(H->hdr->nr_free, free0);
    ck_assert_int_eq(consistent(), 0);
}
END_TEST

START_TEST(test_suspend_resume)
{
    static const enum sim_layout layouts[] = { SIM_LAYOUT_LINUX64, SIM_LAYOUT_PAE32, SIM_LAYOUT_NETBSD64 };
    struct sim_build_opts o = { .layout = layouts[_i], .mem_bytes = 32 << 20, .nr_vcpus = 2, .seed = 11 };
    uint32_t dom;
    ck_assert_int_eq(sim_build(H, &o, &dom, D), 0);
    for (int round = 0; round < 3; round++) {
        lock_as(dom);
        ck_assert_int_eq(sim_guest_suspend(H, dom, D), 0);
        sim_unlock(H);
        ck_assert(sim_domain(H, dom)->shutdown);
        ck_assert_int_eq(sim_self_check(H, dom, D), 0);
        ck_assert_int_eq(consistent(), 0);
        lock_as(dom);
        ck_assert_int_eq(sim_guest_resume(H, dom, D), 0);
        sim_unlock(H);
        ck_assert(!sim_domain(H, dom)->shutdown);
        ck_assert_int_eq(sim_self_check(H, dom, D), 0);
        ck_assert_int_eq(consistent(), 0);
    }
    /* A running guest cannot be resumed. */
    xg_diag *d2 = xg_diag_new();
    lock_as(dom);
    ck_assert_int_lt(sim_guest_resume(H, dom, d2), 0);
    sim_abort(H);
    xg_diag_free(d2);
}
END_TEST

/* ------------------------------------------------------------ faults */

static uint32_t build(enum sim_layout layout, unsigned faults, uint64_t mib)
{
    struct sim_build_opts o = { .layout = layout, .mem_bytes = mib << 20, .nr_vcpus = 1, .seed = 5, .faults = faults };
    uint32_t dom;
    int rc = sim_build(H, &o, &dom, D);
    if (rc < 0)
        xg_diag_print(stderr, D, true);
    ck_assert_int_eq(rc, 0);
    return dom;
}

static xg_hv *open_hv(void)
{
    char spec[200];
    snprintf(spec, sizeof(spec), "sim:%s", host_path);
    xg_hv *hv;
    ck_assert_int_eq(xg_hv_open(spec, D, &hv), 0);
    return hv;
}

/*
 * The cheap run-state query says what domain_info says of the same domain,
 * and vcpus_online follows a vcpu taken down after domain_info was asked
 * (a save asks it at the end, not at the start, for that reason).
 */
START_TEST(test_domain_state_and_online_vcpus)
{
    struct sim_build_opts o = {
        .layout = SIM_LAYOUT_LINUX64, .mem_bytes = 16 << 20, .nr_vcpus = 3, .seed = 4
    };
    uint32_t dom;
    ck_assert_int_eq(sim_build(H, &o, &dom, D), 0);
    xg_hv *hv = open_hv();
    struct xg_domain_info info;
    struct xg_domain_state st;
    uint64_t online;
    for (int suspended = 0; suspended < 2; suspended++) {
        ck_assert_int_eq(xg_hv_domain_info(hv, dom, &info, D), 0);
        ck_assert_int_eq(xg_hv_domain_state(hv, dom, &st, D), 0);
        ck_assert_uint_eq(st.domid, dom);
        ck_assert(!st.hvm && !st.dying);
        ck_assert_int_eq(st.shutdown, suspended);
        ck_assert_int_eq(st.shutdown, info.shutdown);
        ck_assert_uint_eq(st.shutdown_reason, info.shutdown_reason);
        ck_assert_int_eq(st.paused, info.paused);
        ck_assert_uint_eq(st.nr_vcpus, 3);
        ck_assert_uint_eq(st.nr_vcpus, info.nr_vcpus);
        ck_assert_int_eq(xg_hv_vcpus_online(hv, dom, st.nr_vcpus, &online, D), 0);
        ck_assert_uint_eq(online, 7);
        ck_assert_uint_eq(online, info.vcpu_online);
        if (!suspended) {
            lock_as(dom);
            ck_assert_int_eq(sim_guest_suspend(H, dom, D), 0);
            sim_unlock(H);
        }
    }
    ck_assert_uint_eq(st.shutdown_reason, XG_SHUTDOWN_SUSPEND);

    /* vcpu1 goes down (its context's online flag, as Xen reports VPF_down). */
    const struct xg_vcpu_layout *L = xg_vcpu_layout(8);
    lock_as(0);
    uint8_t *ctx = sim_domain(H, dom)->vcpu[1].ctx;
    xg_guest_set_word(ctx, L->flags, L->word,
                      xg_guest_word(ctx, L->flags, L->word) & ~(uint64_t)XG_VGCF_ONLINE);
    sim_unlock(H);
    ck_assert_int_eq(xg_hv_vcpus_online(hv, dom, 3, &online, D), 0);
    ck_assert_uint_eq(online, 5);
    ck_assert_int_eq(xg_hv_vcpus_online(hv, dom, 1, &online, D), 0);
    ck_assert_uint_eq(online, 1); /* only the vcpus asked about */

    /* No such domain; more vcpus than a mask holds. */
    xg_diag *d2 = xg_diag_new();
    ck_assert_int_eq(xg_hv_domain_state(hv, 999, &st, d2), XG_E_NOTFOUND);
    ck_assert_int_eq(xg_hv_vcpus_online(hv, dom, XG_HV_MAX_VCPUS + 1, &online, d2), XG_E_INVAL);
    ck_assert_uint_eq(online, 0);
    xg_diag_free(d2);
    xg_hv_close(hv);
    ck_assert_int_eq(consistent(), 0);
}
END_TEST

START_TEST(test_fault_dom0_writable_map)
{
    uint32_t bad = build(SIM_LAYOUT_LINUX64, SIM_FAULT_DOM0_WRITABLE_MAP, 16);
    uint32_t good = build(SIM_LAYOUT_LINUX64, 0, 16);
    xg_hv *hv = open_hv();
    void *page;
    int err;
    xg_hv_mapping *map;

    /* With the fault, a read-only map of a page table fails for that frame. */
    uint64_t root = sim_domain(H, bad)->vcpu[0].guest_table;
    uint64_t m = mark();
    ck_assert_int_eq(xg_hv_map(hv, bad, PROT_READ, 1, &root, &page, &err, &map, D), 0);
    ck_assert_int_eq(err, EBUSY);
    ck_assert_ptr_null(page);
    EXPECT_LOG(m, "(XEN) mm.c:d0v0 Bad type (saw %016llx != exp e000000000000000) for mfn %05llx",
               (unsigned long long)ti(root), (unsigned long long)root);
    EXPECT_LOG(m, "Error getting mfn %05llx (pfn %05llx) from L1 entry", (unsigned long long)root,
               (unsigned long long)pfn_of(root));
    EXPECT_LOG(m, "for l1e_owner d0, pg_owner d%u", bad);
    xg_hv_unmap(hv, map);
    /* ...and a data frame it maps takes a writable reference though read was asked. */
    struct sim_guest_info gi;
    lock_as(0);
    ck_assert_int_eq(sim_guest_info_get(H, sim_domain(H, bad), &gi, NULL), 0);
    uint64_t data = ~0ULL;
    for (uint64_t mfn = 0; mfn < H->hdr->nr_frames; mfn++)
        if (sim_frame(H, mfn)->owner == bad && H->m2p[mfn] == gi.data_first_pfn)
            data = mfn;
    sim_unlock(H);
    uint64_t tc0 = tcount(data);
    ck_assert_int_eq(xg_hv_map(hv, bad, PROT_READ, 1, &data, &page, &err, &map, D), 0);
    ck_assert_int_eq(err, 0);
    ck_assert_uint_eq(tcount(data), tc0 + 1);
    xg_hv_unmap(hv, map);
    ck_assert_uint_eq(tcount(data), tc0);

    /* Without it: read-only maps of page tables work, writable ones fail the same way. */
    root = sim_domain(H, good)->vcpu[0].guest_table;
    ck_assert_int_eq(xg_hv_map(hv, good, PROT_READ, 1, &root, &page, &err, &map, D), 0);
    ck_assert_int_eq(err, 0);
    ck_assert_ptr_nonnull(page);
    ck_assert_uint_eq(((const uint64_t *)page)[258] & XG_PTE_FRAME_MASK, root << 12);
    xg_hv_unmap(hv, map);
    m = mark();
    ck_assert_int_eq(xg_hv_map(hv, good, PROT_READ | PROT_WRITE, 1, &root, &page, &err, &map, D), 0);
    ck_assert_int_eq(err, EBUSY);
    EXPECT_LOG(m, "!= exp e000000000000000) for mfn %05llx", (unsigned long long)root);
    EXPECT_LOG(m, "for l1e_owner d0, pg_owner d%u", good);
    xg_hv_unmap(hv, map);
    xg_hv_close(hv);
    ck_assert_int_eq(sim_self_check(H, bad, D), 0);
    ck_assert_int_eq(consistent(), 0);
}
END_TEST

START_TEST(test_fault_foreign_pte)
{
    uint32_t dom = build(SIM_LAYOUT_LINUX64, SIM_FAULT_FOREIGN_PTE, 16);
    ck_assert_int_eq(sim_self_check(H, dom, D), 0);
    ck_assert_int_eq(consistent(), 0);
    /* Some validated L1 of the guest holds an entry naming a frame of another domain. */
    uint64_t holder = ~0ULL, entry = 0;
    for (uint64_t mfn = 0; mfn < H->hdr->nr_frames && holder == ~0ULL; mfn++) {
        if (sim_frame(H, mfn)->owner != dom || (ti(mfn) & PGT_type_mask) != PGT_l1_page_table || !tcount(mfn))
            continue;
        for (unsigned s = 0; s < 512; s++) {
            uint64_t e = tbl(mfn)[s];
            if (xg_pte_present(e) && xg_pte_frame(e) < H->hdr->nr_frames &&
                sim_frame(H, xg_pte_frame(e))->owner != dom) {
                holder = mfn;
                entry = e;
                break;
            }
        }
    }
    ck_assert_uint_ne(holder, ~0ULL);
    uint32_t peer = sim_frame(H, xg_pte_frame(entry))->owner;
    ck_assert_ptr_nonnull(sim_domain(H, peer));
    /* It got there as a grant mapping; through Xen's own checks it would not. */
    uint64_t m = mark();
    lock_as(dom);
    ck_assert_int_eq(sim_get_l1e(H, entry, dom, dom), -EBUSY);
    sim_unlock(H);
    EXPECT_LOG(m, "pg_owner d%u l1e_owner d%u, but real_pg_owner d%u", dom, dom, peer);
}
END_TEST

START_TEST(test_fault_stale_table)
{
    uint32_t dom = build(SIM_LAYOUT_LINUX64, SIM_FAULT_STALE_TABLE, 16);
    ck_assert_int_eq(sim_self_check(H, dom, D), 0);
    ck_assert_int_eq(consistent(), 0);
    /* An L1 with type count 0 (its type stuck) whose entries name frames the guest gave back. */
    uint64_t stale = ~0ULL;
    for (uint64_t mfn = 0; mfn < H->hdr->nr_frames; mfn++)
        if (sim_frame(H, mfn)->owner == dom && ti(mfn) == PGT_l1_page_table && xg_pte_present(tbl(mfn)[0]))
            stale = mfn;
    ck_assert_uint_ne(stale, ~0ULL);
    ck_assert_uint_eq(pfinfo(dom, stale), XG_PFINFO_NOTAB);
    uint64_t gone = xg_pte_frame(tbl(stale)[0]);
    ck_assert_uint_ne(sim_frame(H, gone)->owner, dom);
    uint64_t m = mark();
    ck_assert_int_eq(pin(dom, 1, stale), -EBUSY);
    EXPECT_LOG(m, "pg_owner d%u l1e_owner d%u, but real_pg_owner d-1", dom, dom);
    EXPECT_LOG(m, "Failure -16 in promote_l1_table: slot 0\n");
    ck_assert_int_eq(consistent(), 0);
}
END_TEST

/* ------------------------------------------------------------ several processes */

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* In a child: its own handle on the host (never the parent's), plain exit codes. */
static int child_workload(uint32_t dom, uint64_t seed)
{
    struct sim_host *h;
    xg_diag *d = xg_diag_new();
    if (sim_host_open(host_path, d, &h) < 0)
        return 10;
    struct sim_workload_stats st;
    int rc = sim_workload(h, dom, 3000, 1.5, seed, &st, d);
    sim_host_close(h);
    xg_diag_free(d);
    return rc < 0 ? 11 : st.pages_written == 0 ? 12 : 0;
}

static int child_reader(uint32_t a, uint32_t b)
{
    struct sim_host *h;
    xg_diag *d = xg_diag_new();
    if (sim_host_open(host_path, d, &h) < 0)
        return 20;
    int rounds = 0, status = 0;
    for (double t0 = now_s(); now_s() - t0 < 1.5 && !status; rounds++) {
        if (sim_self_check(h, a, d) < 0 || sim_self_check(h, b, d) < 0)
            status = 21;
        if (sim_lock(h, 0, d) < 0)
            return 22;
        unsigned n = 0;
        for (unsigned i = 0; i < SIM_MAX_DOMAINS; i++)
            n += h->doms[i].in_use;
        sim_unlock(h);
        if (n != 2)
            status = 23;
    }
    if (!status && sim_check_consistency(h, d) < 0)
        status = 24;
    if (status)
        xg_diag_print(stderr, d, true);
    sim_host_close(h);
    xg_diag_free(d);
    return status ? status : rounds > 2 ? 0 : 25;
}

START_TEST(test_concurrent_processes)
{
    uint32_t a = build(SIM_LAYOUT_LINUX64, 0, 32), b = build(SIM_LAYOUT_PAE32, 0, 32);
    pid_t kids[3];
    for (int i = 0; i < 3; i++) {
        kids[i] = fork();
        ck_assert_int_ge(kids[i], 0);
        if (kids[i] == 0)
            _exit(i == 0 ? child_workload(a, 1) : i == 1 ? child_workload(b, 2) : child_reader(a, b));
    }
    for (int i = 0; i < 3; i++) {
        int st;
        ck_assert_int_eq(waitpid(kids[i], &st, 0), kids[i]);
        ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child %d ended with status %#x", i, st);
    }
    ck_assert_int_eq(consistent(), 0);
    ck_assert_int_eq(sim_self_check(H, a, D), 0);
    ck_assert_int_eq(sim_self_check(H, b, D), 0);
    /* The writes happened: the guests' data pages carry workload generations. */
    struct sim_guest_info gi;
    lock_as(0);
    ck_assert_int_eq(sim_guest_info_get(H, sim_domain(H, a), &gi, NULL), 0);
    sim_unlock(H);
    ck_assert_uint_gt(gi.generation, 0);
}
END_TEST

/* ------------------------------------------------------------ processes killed mid-operation */

/* A big tree: L4 -> L3 -> L2 -> 48 L1s, each mapping the same 512 pages read-only. */
static uint64_t big_tree(uint32_t dom)
{
    uint64_t l4 = pop(dom), l3 = pop(dom), l2 = pop(dom), data[512];
    for (unsigned i = 0; i < 512; i++)
        data[i] = pop(dom);
    tbl(l4)[0] = pte(l3, UPPER);
    tbl(l3)[0] = pte(l2, UPPER);
    for (unsigned j = 0; j < 48; j++) {
        uint64_t l1 = pop(dom);
        tbl(l2)[j] = pte(l1, UPPER);
        for (unsigned i = 0; i < 512; i++)
            tbl(l1)[i] = pte(data[i], P | AC);
    }
    return l4;
}

static void child_pin_loop(uint32_t dom, uint64_t l4, int ready_fd)
{
    struct sim_host *h;
    if (sim_host_open(host_path, NULL, &h) < 0)
        _exit(30);
    for (unsigned n = 0;; n++) {
        if (sim_lock(h, dom, NULL) < 0)
            _exit(31);
        if (sim_pin(h, dom, 4, l4) < 0 || sim_unpin(h, dom, l4) < 0)
            _exit(32);
        sim_unlock(h);
        if (n == 0 && write(ready_fd, "r", 1) != 1) /* the parent's clock starts now */
            _exit(33);
    }
}

START_TEST(test_killed_mid_operation)
{
    uint32_t dom = new_dom(8, 1024);
    uint64_t l4 = big_tree(dom);
    ck_assert_int_eq(pin(dom, 4, l4), 0); /* entries adjusted once, so later pins rewrite nothing */
    ck_assert_int_eq(unpin(dom, l4), 0);
    srand((unsigned)getpid());
    int fds[2];
    ck_assert_int_eq(pipe(fds), 0);
    uint64_t m = mark();
    for (int round = 0; round < 8; round++) {
        pid_t kid = fork();
        ck_assert_int_ge(kid, 0);
        if (kid == 0)
            child_pin_loop(dom, l4, fds[1]);
        char c;
        ck_assert_int_eq(read(fds[0], &c, 1), 1);
        struct timespec ts = { 0, (long)(2 + rand() % 60) * 1000000L };
        nanosleep(&ts, NULL);
        ck_assert_int_eq(kill(kid, SIGKILL), 0);
        int st;
        ck_assert_int_eq(waitpid(kid, &st, 0), kid);
        ck_assert(WIFSIGNALED(st));
        /* The next locker rolls back whatever the dead process left half done. */
        ck_assert_int_eq(consistent(), 0);
        ck_assert_uint_eq(tcount(l4), 0);
        ck_assert_uint_eq(cnt(l4), 1);
    }
    /* The child spends nearly all its time inside the lock: some deaths were inside an op. */
    EXPECT_LOG(m, "a process died in the middle of an operation; its changes were rolled back");
    ck_assert_int_eq(pin(dom, 4, l4), 0);
    ck_assert_int_eq(consistent(), 0);
    close(fds[0]);
    close(fds[1]);
}
END_TEST

START_TEST(test_dead_process_mappings)
{
    uint32_t dom = new_dom(8, 64);
    uint64_t f = pop(dom);
    int fds[2];
    ck_assert_int_eq(pipe(fds), 0);
    pid_t kid = fork();
    ck_assert_int_ge(kid, 0);
    if (kid == 0) {
        char spec[200];
        snprintf(spec, sizeof(spec), "sim:%s", host_path);
        xg_hv *hv;
        void *page;
        int err;
        xg_hv_mapping *map;
        if (xg_hv_open(spec, NULL, &hv) < 0 ||
            xg_hv_map(hv, dom, PROT_READ | PROT_WRITE, 1, &f, &page, &err, &map, NULL) < 0 || err)
            _exit(40);
        if (write(fds[1], "m", 1) != 1)
            _exit(41);
        pause();
        _exit(42);
    }
    char c;
    ck_assert_int_eq(read(fds[0], &c, 1), 1);
    ck_assert_uint_eq(ti(f), PGT_writable_page | PGT_validated | 1);
    kill(kid, SIGKILL);
    waitpid(kid, NULL, 0);
    /* Until someone reaps it, the dead process's writable mapping still holds. */
    uint64_t m = mark();
    ck_assert_int_eq(pin(dom, 1, f), -EINVAL);
    EXPECT_LOG(m, "Bad type (saw e400000000000001 != exp 2000000000000000)");
    /* The next opener drops it, as Linux tears down a dead process's privcmd mappings. */
    struct sim_host *h2;
    m = mark();
    ck_assert_int_eq(sim_host_open(host_path, D, &h2), 0);
    sim_host_close(h2);
    EXPECT_LOG(m, "process %d went away; dropping its foreign mappings", (int)kid);
    ck_assert_uint_eq(tcount(f), 0);
    ck_assert_int_eq(pin(dom, 1, f), 0);
    ck_assert_int_eq(consistent(), 0);
    close(fds[0]);
    close(fds[1]);
}
END_TEST

/*
 * A process that dies holding the lock with undo records that do not fit
 * the journal (a damaged file): the next opener cannot roll the op back,
 * so it refuses the host as corrupt -- and so does every opener after it,
 * instead of trusting, or crashing on, a half-changed host.
 */
START_TEST(test_damaged_journal_refused)
{
    pid_t kid = fork();
    ck_assert_int_ge(kid, 0);
    if (kid == 0) {
        struct sim_host *h;
        if (sim_host_open(host_path, NULL, &h) < 0 || sim_lock(h, 0, NULL) < 0)
            _exit(40);
        uint64_t rec[2] = { 0, h->hdr->journal_size }; /* offset 0, a length past the journal */
        memcpy(h->journal, rec, sizeof(rec));
        h->hdr->journal_used = sizeof(rec) + 8;
        _exit(0); /* with the lock held */
    }
    int status;
    ck_assert_int_eq(waitpid(kid, &status, 0), kid);
    ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    struct sim_host *h2 = NULL;
    xg_diag *d = xg_diag_new();
    ck_assert_int_eq(sim_host_open(host_path, d, &h2), XG_E_CORRUPT);
    ck_assert_ptr_null(h2);
    const struct xg_finding *f = xg_diag_first_error(d);
    ck_assert_ptr_nonnull(f);
    ck_assert_ptr_nonnull(strstr(f->msg, "is corrupt: the undo records of an interrupted operation are damaged"));
    xg_diag_clear(d);
    ck_assert_int_eq(sim_host_open(host_path, d, &h2), XG_E_CORRUPT);
    f = xg_diag_first_error(d);
    ck_assert_ptr_nonnull(f);
    ck_assert_ptr_nonnull(strstr(f->msg, "is corrupt: an interrupted operation could not be rolled back"));
    xg_diag_free(d);
}
END_TEST

static void child_map_loop(uint32_t dom, const uint64_t *mfns, unsigned n)
{
    char spec[200];
    snprintf(spec, sizeof(spec), "sim:%s", host_path);
    xg_hv *hv;
    if (xg_hv_open(spec, NULL, &hv) < 0)
        _exit(50);
    void *pages[64];
    int errs[64];
    for (unsigned round = 0;; round++) {
        xg_hv_mapping *ro, *rw;
        if (xg_hv_map(hv, dom, PROT_READ, n, mfns, pages, errs, &ro, NULL) < 0 ||
            xg_hv_map(hv, dom, PROT_READ | PROT_WRITE, n / 2, mfns + (round % 2) * (n / 2), pages, errs, &rw, NULL) < 0)
            _exit(51);
        xg_hv_unmap(hv, rw);
        if (round % 3)
            xg_hv_unmap(hv, ro); /* and sometimes keep a batch mapped */
    }
}

START_TEST(test_killed_while_mapping)
{
    uint32_t dom = new_dom(8, 128);
    uint64_t mfns[64];
    for (unsigned i = 0; i < 64; i++)
        mfns[i] = pop(dom);
    srand((unsigned)getpid() * 7);
    for (int round = 0; round < 6; round++) {
        pid_t kid = fork();
        ck_assert_int_ge(kid, 0);
        if (kid == 0)
            child_map_loop(dom, mfns, 64);
        struct timespec ts = { 0, (long)(5 + rand() % 40) * 1000000L };
        nanosleep(&ts, NULL);
        kill(kid, SIGKILL);
        waitpid(kid, NULL, 0);
        struct sim_host *h2;
        ck_assert_int_eq(sim_host_open(host_path, D, &h2), 0); /* reaps */
        sim_host_close(h2);
        ck_assert_int_eq(consistent(), 0);
        ck_assert_uint_eq(H->hdr->map_used, 0);
        for (unsigned i = 0; i < 64; i++) {
            ck_assert_uint_eq(cnt(mfns[i]), 1);
            ck_assert_uint_eq(tcount(mfns[i]), 0);
        }
    }
    /* Nothing the dead held is in the way: every frame can become a page table. */
    for (unsigned i = 0; i < 64; i++)
        ck_assert_int_eq(pin(dom, 1, mfns[i]), 0);
}
END_TEST

START_TEST(test_child_closes_inherited_handle)
{
    uint32_t dom = new_dom(8, 64);
    uint64_t f = pop(dom);
    xg_hv *hv = open_hv();
    void *page;
    int err;
    xg_hv_mapping *map;
    ck_assert_int_eq(xg_hv_map(hv, dom, PROT_READ | PROT_WRITE, 1, &f, &page, &err, &map, D), 0);
    ck_assert_int_eq(err, 0);
    pid_t kid = fork();
    ck_assert_int_ge(kid, 0);
    if (kid == 0) {
        xg_hv_close(hv); /* the parent's handle, inherited */
        _exit(0);
    }
    int st;
    ck_assert_int_eq(waitpid(kid, &st, 0), kid);
    ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    /* The parent's mapping still holds its references. */
    ck_assert_uint_eq(ti(f), PGT_writable_page | PGT_validated | 1);
    ck_assert_uint_eq(cnt(f), 2);
    ck_assert_int_eq(consistent(), 0);
    xg_hv_unmap(hv, map);
    xg_hv_close(hv);
    ck_assert_uint_eq(tcount(f), 0);
    ck_assert_int_eq(consistent(), 0);
}
END_TEST

/*
 * The biggest op there is, destroying a guest that fills its host, fits
 * the undo journal: abandoned half way (here: after it finished, before
 * the commit), it rolls back to a guest that still runs.
 */
START_TEST(test_destroy_rolls_back)
{
    uint64_t pages = H->hdr->nr_free - 1952;
    if (!enough_disk(pages << 12))
        return;
    struct sim_build_opts o = { .layout = SIM_LAYOUT_LINUX64, .mem_bytes = pages << 12, .nr_vcpus = 2, .seed = 4 };
    uint32_t dom;
    ck_assert_int_eq(sim_build(H, &o, &dom, D), 0);
    uint64_t free0 = H->hdr->nr_free;
    lock_as(0);
    ck_assert_int_eq(sim_domain_destroy(H, dom), 0);
    ck_assert_ptr_null(sim_domain(H, dom));
    ck_assert_uint_le(H->hdr->journal_used, H->hdr->journal_size - 64);
    sim_abort(H);
    ck_assert_ptr_nonnull(sim_domain(H, dom));
    ck_assert_uint_eq(H->hdr->nr_free, free0);
    ck_assert_int_eq(sim_self_check(H, dom, D), 0);
    ck_assert_int_eq(consistent(), 0);
}
END_TEST

/* ------------------------------------------------------------ suite */

static Suite *sim_suite(void)
{
    Suite *s = suite_create("sim");
    struct {
        const char *name;
        const TTest *test;
    } rules[] = {
        { "one_type", test_one_type },
        { "type_change_at_zero", test_type_change_at_zero },
        { "sticky_types_and_pfinfo", test_sticky_types_and_pfinfo },
        { "l1_rw_to_table", test_l1_rw_to_table },
        { "l1_flags", test_l1_flags },
        { "adjust_guest_entries", test_adjust_guest_entries },
        { "l1_foreign", test_l1_foreign },
        { "mmio", test_mmio },
        { "levels", test_levels },
        { "pse", test_pse },
        { "linear", test_linear },
        { "l4_xen_slots", test_l4_xen_slots },
        { "compat_l3", test_compat_l3 },
        { "pin_unpin", test_pin_unpin },
        { "mmu_update", test_mmu_update },
        { "machphys", test_machphys },
        { "set_vcpu", test_set_vcpu },
        { "set_vcpu_compat", test_set_vcpu_compat },
        { "populate_max", test_populate_max },
        { "destroy", test_destroy },
    };
    for (size_t i = 0; i < XG_ARRAY_SIZE(rules); i++) {
        TCase *tc = tcase_create(rules[i].name);
        tcase_add_unchecked_fixture(tc, top_up, top_down);
        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_add_test(tc, rules[i].test);
        suite_add_tcase(s, tc);
    }
    TCase *tc = tcase_create("layouts");
    tcase_add_unchecked_fixture(tc, top_up, top_down);
    tcase_add_checked_fixture(tc, setup_big, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_loop_test(tc, test_layout, 0, (int)XG_ARRAY_SIZE(layout_cases));
    tcase_add_loop_test(tc, test_suspend_resume, 0, 3);
    tcase_add_test(tc, test_domain_state_and_online_vcpus);
    suite_add_tcase(s, tc);

    tc = tcase_create("faults");
    tcase_add_unchecked_fixture(tc, top_up, top_down);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_fault_dom0_writable_map);
    tcase_add_test(tc, test_fault_foreign_pte);
    tcase_add_test(tc, test_fault_stale_table);
    suite_add_tcase(s, tc);

    tc = tcase_create("processes");
    tcase_add_unchecked_fixture(tc, top_up, top_down);
    tcase_add_checked_fixture(tc, setup_big, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_concurrent_processes);
    tcase_add_test(tc, test_killed_mid_operation);
    tcase_add_test(tc, test_dead_process_mappings);
    tcase_add_test(tc, test_damaged_journal_refused);
    tcase_add_test(tc, test_killed_while_mapping);
    tcase_add_test(tc, test_child_closes_inherited_handle);
    tcase_add_test(tc, test_destroy_rolls_back);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    SRunner *sr = srunner_create(sim_suite());
    srunner_run_all(sr, CK_ENV);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
