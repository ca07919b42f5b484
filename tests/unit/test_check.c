/*
 * test_check.c - xc_save --check on a guest that changes its page tables
 * while it is checked.  For every class of finding the check reports, the
 * guest makes, between two of the check's samples, a change Xen allows
 * (a table freed and reused as data, a new table, a new address space, a
 * new GDT, a page given back): the samples mix two good states and look
 * bad, and the check must re-read and report no error.  The same bad
 * states, planted on a paused guest (or left in place on a running one),
 * must still be errors.
 *
 * The guest's changes are made as its kernel would make them, through the
 * simulated host's Xen rules (mmu_update, pin, unpin, new_baseptr, a
 * set_gdt), from a hook the check calls between its phases; the bad
 * states are planted by writing the host's memory directly, past Xen.
 */
#include "config.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "hv/sim/guest.h"
#include "internal.h"
#include "save/save_private.h"
#include "testutil.h"
#include "xg/save.h"
#include "xg/xg.h"

static char *dir, *hostpath;
static struct sim_host *H;
static uint32_t DOM;
static struct sim_guest_info GI;

static void setup(void)
{
    dir = xgt_mkdtemp();
    hostpath = xgt_path(dir, "a.host");
    xg_diag *d = xg_diag_new();
    ck_assert_int_eq(sim_host_create(hostpath, 32768, d), 0);
    ck_assert_int_eq(sim_host_open(hostpath, d, &H), 0);
    struct sim_build_opts o = {
        .layout = SIM_LAYOUT_LINUX64, .mem_bytes = 16 << 20, .nr_vcpus = 2, .seed = 7
    };
    ck_assert_int_eq(sim_build(H, &o, &DOM, d), 0);
    ck_assert_int_eq(sim_lock(H, 0, d), 0);
    ck_assert_int_eq(sim_guest_info_get(H, sim_domain(H, DOM), &GI, NULL), 0);
    sim_unlock(H);
    xg_diag_free(d);
}

static void teardown(void)
{
    xg__save_check_hook = NULL;
    sim_host_close(H);
    xgt_rmtree(dir);
    free(dir);
    free(hostpath);
}

/* ------------------------------------------------------------ the guest's kernel, lock held */

static uint64_t *frame(uint64_t mfn)
{
    return (uint64_t *)sim_frame_data(H, mfn);
}

/* The L1 entry mapping va in vcpu0's address space: its table's mfn and slot. */
static void walk(uint64_t va, uint64_t *l1, unsigned *slot)
{
    uint64_t t = sim_domain(H, DOM)->vcpu[0].guest_table;
    for (unsigned level = 4; level > 1; level--) {
        uint64_t e = frame(t)[(va >> (12 + 9 * (level - 1))) & 511];
        ck_assert(xg_pte_present(e) && !(e & XG_PTE_PSE));
        t = xg_pte_frame(e);
    }
    *l1 = t;
    *slot = (unsigned)((va >> 12) & 511);
}

static void dm_slot(uint64_t pfn, uint64_t *l1, unsigned *slot)
{
    ck_assert_uint_lt(pfn, GI.directmap_nr);
    walk(GI.directmap_va + pfn * 4096, l1, slot);
}

static uint64_t mfn_of(uint64_t pfn)
{
    uint64_t l1;
    unsigned s;
    dm_slot(pfn, &l1, &s);
    return xg_pte_frame(frame(l1)[s]);
}

static void set_pte(uint64_t table, unsigned slot, uint64_t val)
{
    ck_assert_int_eq(sim_mmu_normal(H, DOM, DOM, (table << 12) | (slot * 8U), val), 0);
}

/* The direct map's alias of pfn: read-only (before it becomes a table) or writable again. */
static void alias(uint64_t pfn, bool rw)
{
    uint64_t l1;
    unsigned s;
    dm_slot(pfn, &l1, &s);
    uint64_t e = frame(l1)[s] & ~(1ULL << 52); /* Xen's own _PAGE_GUEST_KERNEL: it adds it again */
    set_pte(l1, s, rw ? e | XG_PTE_RW : e & ~(uint64_t)XG_PTE_RW);
}

static uint64_t data_pfn(unsigned i)
{
    return GI.data_first_pfn + 3 + i;
}

/* A data page made into a zeroed table of this level, pinned. */
static uint64_t new_table(uint64_t pfn, unsigned level)
{
    uint64_t mfn = mfn_of(pfn);
    memset(frame(mfn), 0, 4096);
    alias(pfn, false);
    ck_assert_int_eq(sim_pin(H, DOM, level, mfn), 0);
    return mfn;
}

static void free_table(uint64_t pfn)
{
    ck_assert_int_eq(sim_unpin(H, DOM, mfn_of(pfn)), 0);
    alias(pfn, true);
}

/* A live L2 of vcpu0's address space (the one mapping the direct map) and a free slot in it. */
static uint64_t free_l2_slot(unsigned *slot)
{
    uint64_t t = sim_domain(H, DOM)->vcpu[0].guest_table, va = GI.directmap_va;
    for (unsigned level = 4; level > 2; level--)
        t = xg_pte_frame(frame(t)[(va >> (12 + 9 * (level - 1))) & 511]);
    for (unsigned s = 511; s > 0; s--) {
        if (!frame(t)[s]) {
            *slot = s;
            return t;
        }
    }
    ck_abort_msg("no free slot in the direct map's L2");
    return 0;
}

/* What HYPERVISOR_set_gdt does: a seg_desc reference on each new frame, the old ones dropped. */
static void set_gdt(unsigned vcpu, uint64_t mfn)
{
    struct sim_domain *dom = sim_domain(H, DOM);
    struct sim_vcpu *v = &dom->vcpu[vcpu];
    ck_assert_int_eq(sim_get_page_and_type(H, mfn, DOM, PGT_seg_desc_page), 0);
    for (unsigned i = 0; i < v->nr_gdt; i++)
        sim_put_page_and_type(H, v->gdt_mfn[i]);
    v->gdt_mfn[0] = mfn;
    v->nr_gdt = 1;
    struct xg_pv_vcpu_frames f;
    const char *why;
    ck_assert_int_eq(xg_pv_vcpu_frames(v->ctx, 8, vcpu, false, &f, &why), 0);
    f.nr_gdt = 1;
    f.gdt[0] = mfn;
    xg_pv_vcpu_set_frames(v->ctx, 8, vcpu, &f, false);
    const struct xg_vcpu_layout *L = xg_vcpu_layout(8);
    memcpy(v->ctx + L->gdt_ents, &(uint64_t){ 512 }, 8);
}

/* The vcpu's context names cr3 as Xen's getvcpucontext would after a new_baseptr. */
static void set_cr3(unsigned vcpu, uint64_t mfn)
{
    struct sim_vcpu *v = &sim_domain(H, DOM)->vcpu[vcpu];
    ck_assert_int_eq(sim_new_baseptr(H, DOM, vcpu, mfn, false), 0);
    struct xg_pv_vcpu_frames f;
    const char *why;
    ck_assert_int_eq(xg_pv_vcpu_frames(v->ctx, 8, vcpu, false, &f, &why), 0);
    f.cr3 = mfn;
    xg_pv_vcpu_set_frames(v->ctx, 8, vcpu, &f, false);
}

/* Give pfn back to Xen, as a balloon driver does: unmapped, p2m entry invalid, frame released. */
static void balloon_out(uint64_t pfn)
{
    uint64_t mfn = mfn_of(pfn), l1;
    unsigned s;
    dm_slot(pfn, &l1, &s);
    set_pte(l1, s, 0);
    uint64_t p2m_mfn = mfn_of(GI.p2m_first_pfn + pfn / 512);
    frame(p2m_mfn)[pfn % 512] = ~0ULL;
    ck_assert_int_eq(sim_release_frame(H, DOM, mfn), 0);
}

/* ------------------------------------------------------------ running the check */

static void (*change)(void);
static const char *change_at;
static uint64_t change_pfn;

static void hook(const char *phase, void *arg)
{
    (void)arg;
    if (!change || strcmp(phase, change_at))
        return;
    ck_assert_int_eq(sim_lock(H, DOM, NULL), 0);
    change();
    sim_unlock(H);
    change = NULL;
}

/* The page_types (or map) call that reads change_pfn's frame: the guest changes just before it. */
static const struct xg_hv_ops *sim_ops;
static int page_types_then_change(xg_hv *hv, uint32_t domid, unsigned n, const uint64_t *mfns,
                                  uint32_t *types, xg_diag *d)
{
    if (change && !strcmp(change_at, "page_types")) {
        uint64_t mfn = ~0ULL;
        ck_assert_int_eq(sim_lock(H, 0, NULL), 0);
        mfn = mfn_of(change_pfn);
        sim_unlock(H);
        for (unsigned i = 0; i < n; i++)
            if (mfns[i] == mfn)
                hook("page_types", NULL);
    }
    return sim_ops->page_types(hv, domid, n, mfns, types, d);
}

static int map_then_change(xg_hv *hv, uint32_t domid, int prot, unsigned n, const uint64_t *mfns,
                           void **pages, int *errs, xg_hv_mapping **out, xg_diag *d)
{
    if (change && !strcmp(change_at, "map")) {
        ck_assert_int_eq(sim_lock(H, 0, NULL), 0);
        uint64_t mfn = mfn_of(change_pfn);
        sim_unlock(H);
        for (unsigned i = 0; i < n; i++)
            if (mfns[i] == mfn)
                hook("map", NULL);
    }
    return sim_ops->map(hv, domid, prot, n, mfns, pages, errs, out, d);
}

/* What the re-check did, counted from its "recheck" phase on (see counting_hook). */
static bool rechecking;
static unsigned pauses, dup_maps;

static int pause_counted(xg_hv *hv, uint32_t domid, xg_diag *d)
{
    pauses += rechecking;
    return sim_ops->pause(hv, domid, d);
}

/* A map naming one frame twice, while re-checking: a holder mapped once per suspect. */
static int map_counted(xg_hv *hv, uint32_t domid, int prot, unsigned n, const uint64_t *mfns,
                       void **pages, int *errs, xg_hv_mapping **out, xg_diag *d)
{
    for (unsigned i = 0; rechecking && i < n; i++)
        for (unsigned j = i + 1; j < n; j++)
            dup_maps += mfns[i] == mfns[j];
    return map_then_change(hv, domid, prot, n, mfns, pages, errs, out, d);
}

static void counting_hook(const char *phase, void *arg)
{
    if (!strcmp(phase, "recheck"))
        rechecking = true;
    hook(phase, arg);
}

static int run_check(bool paused, struct xg_save_stats *st, xg_diag *d)
{
    xg_hv *hv = xgt_open_sim(hostpath);
    struct xg_hv_ops ops = *hv->ops;
    sim_ops = hv->ops;
    ops.page_types = page_types_then_change;
    ops.map = map_counted;
    ops.pause = pause_counted;
    rechecking = false;
    pauses = dup_maps = 0;
    hv->ops = &ops;
    xg__save_check_hook = counting_hook;
    if (paused)
        ck_assert_int_eq(xg_hv_pause(hv, DOM, d), 0);
    struct xg_save_params sp = { .check_only = true };
    memset(st, 0, sizeof(*st));
    int rc = xg_save(hv, DOM, -1, &sp, NULL, st, d);
    if (paused)
        ck_assert_int_eq(xg_hv_unpause(hv, DOM, d), 0);
    hv->ops = sim_ops;
    xg_hv_close(hv);
    xg__save_check_hook = NULL;
    return rc;
}

/* The guest changes at `at`; the check must report no error and say what changed. */
static void expect_no_error(void (*fn)(void), const char *at)
{
    change = fn;
    change_at = at;
    xg_diag *d = xg_diag_new();
    struct xg_save_stats st;
    int rc = run_check(false, &st, d);
    if (rc || xg_diag_total(d, XG_SEV_ERROR))
        xg_diag_print(stderr, d, true);
    ck_assert_msg(change == NULL, "the guest's change was never made (phase %s)", at);
    ck_assert_int_eq(rc, 0);
    ck_assert_uint_eq(xg_diag_total(d, XG_SEV_ERROR), 0);
    ck_assert_uint_ge(st.check_changed, 1);
    ck_assert(xgt_diag_has(d, "changed while the guest ran; re-checked, none persists"));
    xg_diag_free(d);
    /* Every change went through Xen's rules. */
    d = xg_diag_new();
    ck_assert_int_eq(sim_check_consistency(H, d), 0);
    xg_diag_free(d);
}

/* A bad state planted (past Xen) on a paused guest: an error that names it. */
static void expect_error(bool paused, const char *needle)
{
    xg_diag *d = xg_diag_new();
    struct xg_save_stats st;
    ck_assert_int_eq(run_check(paused, &st, d), XG_E_GUEST);
    if (!xgt_diag_has(d, needle))
        xg_diag_print(stderr, d, true);
    ck_assert_uint_ge(xg_diag_total(d, XG_SEV_ERROR), 1);
    ck_assert_msg(xgt_diag_has(d, needle), "no finding says \"%s\"", needle);
    if (!paused) {
        /*
         * Confirmed with the guest paused for a moment: under 10 ms.  The best of three
         * runs, so that a busy machine preempting the check mid-pause does not count.
         */
        double best = st.check_pause_ms;
        for (int i = 0; i < 2 && best >= 10; i++) {
            xg_diag_clear(d);
            ck_assert_int_eq(run_check(paused, &st, d), XG_E_GUEST);
            best = st.check_pause_ms < best ? st.check_pause_ms : best;
        }
        ck_assert_double_gt(best, 0);
        ck_assert_double_lt(best, 10);
    }
    xg_diag_free(d);
}

static void locked(void (*fn)(void))
{
    ck_assert_int_eq(sim_lock(H, DOM, NULL), 0);
    fn();
    sim_unlock(H);
}

/* ------------------------------------------------------------ writable mapping of a table */

/* A process's L1 is freed and reused as data after the types were sampled. */
static void prep_l1(void)
{
    new_table(data_pfn(0), 1);
}
static void free_l1(void)
{
    free_table(data_pfn(0));
}

START_TEST(freed_table_reused_as_data)
{
    locked(prep_l1);
    expect_no_error(free_l1, "types");
}
END_TEST

static void plant_rw_table(void)
{
    new_table(data_pfn(0), 1);
    uint64_t l1;
    unsigned s;
    dm_slot(data_pfn(0), &l1, &s);
    sim_write_u64(H, l1, s, frame(l1)[s] | XG_PTE_RW);
}

START_TEST(writable_table_paused_is_error)
{
    locked(plant_rw_table);
    expect_error(true, "writable, but it is an L1 table");
}
END_TEST

/* The same bad entry on a running guest: it persists, so it is confirmed and reported. */
START_TEST(writable_table_running_persists)
{
    locked(plant_rw_table);
    expect_error(false, "writable, but it is an L1 table");
}
END_TEST

/* ------------------------------------------------------------ upper entry to an ordinary page */

static uint64_t l2_table;
static unsigned l2_slot;

static void new_l1_under_l2(void)
{
    uint64_t mfn = mfn_of(data_pfn(1));
    memset(frame(mfn), 0, 4096);
    alias(data_pfn(1), false);
    l2_table = free_l2_slot(&l2_slot);
    set_pte(l2_table, l2_slot, (mfn << 12) | 0x63);
}

START_TEST(new_table_after_sample)
{
    expect_no_error(new_l1_under_l2, "types");
}
END_TEST

static void plant_l2_to_data(void)
{
    l2_table = free_l2_slot(&l2_slot);
    sim_write_u64(H, l2_table, l2_slot, (mfn_of(data_pfn(1)) << 12) | 0x67);
}

START_TEST(entry_to_ordinary_page_paused_is_error)
{
    locked(plant_l2_to_data);
    expect_error(true, "which is an ordinary page, not an L1 table");
}
END_TEST

/* ------------------------------------------------------------ writable linear entry */

static void prep_l2(void)
{
    new_table(data_pfn(2), 2);
}

/* An L2 freed, its frame taken again as an L1 under a live L2, writable as L1s are. */
static void l2_becomes_l1(void)
{
    uint64_t mfn = mfn_of(data_pfn(2));
    ck_assert_int_eq(sim_unpin(H, DOM, mfn), 0);
    l2_table = free_l2_slot(&l2_slot);
    set_pte(l2_table, l2_slot, (mfn << 12) | 0x63);
}

START_TEST(table_changes_level)
{
    locked(prep_l2);
    expect_no_error(l2_becomes_l1, "types");
}
END_TEST

static void plant_rw_linear(void)
{
    uint64_t mfn = new_table(data_pfn(2), 2);
    l2_table = free_l2_slot(&l2_slot);
    sim_write_u64(H, l2_table, l2_slot, (mfn << 12) | 0x67);
}

START_TEST(writable_linear_paused_is_error)
{
    locked(plant_rw_linear);
    expect_error(true, "is a writable linear entry");
}
END_TEST

/* ------------------------------------------------------------ superpage */

/* An L2 freed and its frame reused as data whose words look like superpage entries. */
static void l2_reused_as_data(void)
{
    free_table(data_pfn(2));
    frame(mfn_of(data_pfn(2)))[5] = (mfn_of(data_pfn(4)) << 12) | XG_PTE_PSE | 1;
}

START_TEST(superpage_in_freed_table)
{
    locked(prep_l2);
    expect_no_error(l2_reused_as_data, "types");
}
END_TEST

static void plant_superpage(void)
{
    l2_table = free_l2_slot(&l2_slot);
    sim_write_u64(H, l2_table, l2_slot, (mfn_of(data_pfn(4)) << 12) | XG_PTE_PSE | 0x63);
}

START_TEST(superpage_paused_is_error)
{
    locked(plant_superpage);
    expect_error(true, "maps a superpage");
}
END_TEST

/* ------------------------------------------------------------ unmappable table, XTAB */

/* A table freed and its page given back to Xen between the check's p2m read and its map. */
static void free_and_balloon(void)
{
    free_table(data_pfn(0));
    balloon_out(data_pfn(0));
}

START_TEST(table_ballooned_before_read)
{
    locked(prep_l1);
    change_pfn = data_pfn(0);
    expect_no_error(free_and_balloon, "map");
}
END_TEST

START_TEST(unmappable_tables_paused_are_errors)
{
    /* A dom0 that maps foreign pages writable cannot map a table at all (the NetBSD privcmd bug).
     */
    sim_host_close(H);
    xgt_rmtree(dir);
    free(dir);
    free(hostpath);
    dir = xgt_mkdtemp();
    hostpath = xgt_path(dir, "b.host");
    xg_diag *d = xg_diag_new();
    ck_assert_int_eq(sim_host_create(hostpath, 32768, d), 0);
    ck_assert_int_eq(sim_host_open(hostpath, d, &H), 0);
    struct sim_build_opts o = { .layout = SIM_LAYOUT_NETBSD64,
                                .mem_bytes = 8 << 20,
                                .nr_vcpus = 1,
                                .seed = 3,
                                .faults = SIM_FAULT_DOM0_WRITABLE_MAP };
    ck_assert_int_eq(sim_build(H, &o, &DOM, d), 0);
    xg_diag_free(d);
    expect_error(true, "maps foreign pages writable");
    expect_error(false, "maps foreign pages writable");
}
END_TEST

static void balloon_data(void)
{
    balloon_out(data_pfn(5));
}

START_TEST(page_ballooned_while_sampled)
{
    change_pfn = data_pfn(5);
    expect_no_error(balloon_data, "page_types");
}
END_TEST

static void plant_xtab(void)
{
    /* The frame leaves the guest behind its p2m's back. */
    sim_frame_w(H, mfn_of(data_pfn(5)))->owner = 0;
}

START_TEST(xtab_paused_is_error)
{
    locked(plant_xtab);
    expect_error(true, "as invalid (XTAB)");
}
END_TEST

/* ------------------------------------------------------------ p2m */

static uint64_t p2m_saved;

/* The guest's p2m entry of one pfn names another pfn's frame for a moment (the guest's own memory).
 */
static void p2m_wrong(void)
{
    uint64_t *e = &frame(mfn_of(GI.p2m_first_pfn + data_pfn(8) / 512))[data_pfn(8) % 512];
    p2m_saved = *e;
    *e = mfn_of(data_pfn(9));
}
static void p2m_fixed(void)
{
    frame(mfn_of(GI.p2m_first_pfn + data_pfn(8) / 512))[data_pfn(8) % 512] = p2m_saved;
}

START_TEST(p2m_entry_fixed_after_read)
{
    locked(p2m_wrong);
    expect_no_error(p2m_fixed, "types");
}
END_TEST

START_TEST(p2m_entry_paused_is_error)
{
    locked(p2m_wrong);
    expect_error(true, "but the M2P says that frame is pfn");
}
END_TEST

/* ------------------------------------------------------------ cr3 */

static uint64_t new_l4;

/* Guest slots of vcpu0's L4 copied into a data page, which becomes the new address space's L4. */
static void prep_l4(void)
{
    uint64_t old = sim_domain(H, DOM)->vcpu[0].guest_table, mfn = mfn_of(data_pfn(6));
    memset(frame(mfn), 0, 4096);
    for (unsigned s = 0; s < 512; s++)
        if (!xg_l4_is_xen_slot(s))
            frame(mfn)[s] = frame(old)[s] & ~(1ULL << 52);
    new_l4 = mfn;
}

static void switch_to_new_l4(void)
{
    alias(data_pfn(6), false);
    ck_assert_int_eq(sim_pin(H, DOM, 4, new_l4), 0);
    set_cr3(0, new_l4);
}

START_TEST(new_address_space_after_sample)
{
    locked(prep_l4);
    expect_no_error(switch_to_new_l4, "types");
}
END_TEST

static void plant_cr3(void)
{
    struct sim_vcpu *v = &sim_domain(H, DOM)->vcpu[1];
    struct xg_pv_vcpu_frames f;
    const char *why;
    ck_assert_int_eq(xg_pv_vcpu_frames(v->ctx, 8, 1, false, &f, &why), 0);
    f.cr3 = mfn_of(data_pfn(6));
    xg_pv_vcpu_set_frames(v->ctx, 8, 1, &f, false);
}

START_TEST(cr3_paused_is_error)
{
    locked(plant_cr3);
    expect_error(true, "not the L4 table a cr3 needs");
}
END_TEST

/* ------------------------------------------------------------ GDT frames */

/* A table freed; its frame becomes vcpu0's GDT after the types were sampled. */
static void l1_becomes_gdt(void)
{
    ck_assert_int_eq(sim_unpin(H, DOM, mfn_of(data_pfn(0))), 0);
    set_gdt(0, mfn_of(data_pfn(0)));
}

START_TEST(gdt_on_freed_table)
{
    locked(prep_l1);
    expect_no_error(l1_becomes_gdt, "types");
}
END_TEST

/* A data page becomes a GDT frame (read-only first) after the tables were read. */
static void prep_gdt(void)
{
    memset(frame(mfn_of(data_pfn(7))), 0, 4096);
}
static void data_becomes_gdt(void)
{
    alias(data_pfn(7), false);
    set_gdt(1, mfn_of(data_pfn(7)));
}

START_TEST(gdt_made_after_tables_read)
{
    locked(prep_gdt);
    expect_no_error(data_becomes_gdt, "tables");
}
END_TEST

static void plant_gdt(uint64_t mfn)
{
    struct sim_vcpu *v = &sim_domain(H, DOM)->vcpu[1];
    struct xg_pv_vcpu_frames f;
    const char *why;
    ck_assert_int_eq(xg_pv_vcpu_frames(v->ctx, 8, 1, false, &f, &why), 0);
    f.gdt[0] = mfn;
    xg_pv_vcpu_set_frames(v->ctx, 8, 1, &f, false);
}
static void plant_gdt_table(void)
{
    plant_gdt(new_table(data_pfn(0), 1));
}
static void plant_gdt_rw(void)
{
    plant_gdt(mfn_of(data_pfn(7)));
}

START_TEST(gdt_paused_is_error)
{
    locked(plant_gdt_table);
    expect_error(true, "GDT frame 0 (pfn");
    ck_assert_int_eq(sim_lock(H, DOM, NULL), 0);
    free_table(data_pfn(0));
    plant_gdt_rw();
    sim_unlock(H);
    expect_error(true, "is mapped writable by the guest");
}
END_TEST

/* ------------------------------------------------------------ the p2m itself */

/*
 * The guest rebuilds its p2m list (p2m_generation moves on) after the types
 * were sampled: every read of the check went through the p2m frames found
 * at its start, so its findings cannot be trusted.  It stops with an error
 * naming the generation, as the save does (Xen's saver: "p2m generation
 * count changed").
 */
static void rebuild_p2m(void)
{
    struct sim_domain *dom = sim_domain(H, DOM);
    unsigned off = xg_shinfo_layout64.p2m_generation;
    ck_assert_uint_ne(sim_shinfo_word(H, dom, xg_shinfo_layout64.p2m_cr3), 0);
    sim_write_u64(H, dom->shared_info_mfn, off / 8, sim_shinfo_word(H, dom, off) + 2);
}

START_TEST(p2m_rebuilt_during_check_is_error)
{
    change = rebuild_p2m;
    change_at = "types";
    xg_diag *d = xg_diag_new();
    struct xg_save_stats st;
    ck_assert_int_eq(run_check(false, &st, d), XG_E_GUEST);
    ck_assert_msg(change == NULL, "the guest's change was never made");
    const struct xg_finding *f = xg_diag_first_error(d);
    ck_assert(f && f->loc.field && !strcmp(f->loc.field, "arch.p2m_generation"));
    ck_assert(xgt_diag_has(d, "rebuilt its p2m"));
    xg_diag_free(d);
}
END_TEST

/*
 * Many findings that persist on a running guest, a few hundred sharing each
 * holder (the direct map's L1s map hundreds of new L1 tables writable): each
 * is confirmed with the guest paused, but in batches, a pause each, so no
 * pause grows with their number (each under 10 ms), and each holder is
 * mapped once per batch, not once per finding.
 */
#define MANY_RW_TABLES 600

static void plant_many_rw_tables(void)
{
    for (unsigned i = 0; i < MANY_RW_TABLES; i++) {
        new_table(data_pfn(i), 1);
        uint64_t l1;
        unsigned s;
        dm_slot(data_pfn(i), &l1, &s);
        sim_write_u64(H, l1, s, frame(l1)[s] | XG_PTE_RW);
    }
}

START_TEST(many_findings_confirmed_in_bounded_pauses)
{
    locked(plant_many_rw_tables);
    xg_diag *d = xg_diag_new();
    xg_diag_set_cap(d, 2 * MANY_RW_TABLES);
    struct xg_save_stats st;
    double best = 1e9;
    for (int i = 0; i < 3 && best >= 10; i++) {
        xg_diag_clear(d);
        ck_assert_int_eq(run_check(false, &st, d), XG_E_GUEST);
        best = st.check_pause_ms < best ? st.check_pause_ms : best;
    }
    ck_assert_uint_ge(xg_diag_total(d, XG_SEV_ERROR), MANY_RW_TABLES);
    ck_assert(xgt_diag_has(d, "writable, but it is an L1 table"));
    ck_assert_uint_ge(st.check_suspects, MANY_RW_TABLES);
    ck_assert_uint_eq(dup_maps, 0);
    ck_assert_uint_ge(pauses, 2);
    ck_assert_double_gt(best, 0);
    ck_assert_double_lt(best, 10);
    xg_diag_free(d);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("check");
    struct {
        const char *name;
        const TTest *t;
    } cases[] = {
        { "freed_table_reused_as_data", freed_table_reused_as_data },
        { "writable_table_paused_is_error", writable_table_paused_is_error },
        { "writable_table_running_persists", writable_table_running_persists },
        { "new_table_after_sample", new_table_after_sample },
        { "entry_to_ordinary_page_paused_is_error", entry_to_ordinary_page_paused_is_error },
        { "table_changes_level", table_changes_level },
        { "writable_linear_paused_is_error", writable_linear_paused_is_error },
        { "superpage_in_freed_table", superpage_in_freed_table },
        { "superpage_paused_is_error", superpage_paused_is_error },
        { "table_ballooned_before_read", table_ballooned_before_read },
        { "unmappable_tables_paused_are_errors", unmappable_tables_paused_are_errors },
        { "page_ballooned_while_sampled", page_ballooned_while_sampled },
        { "xtab_paused_is_error", xtab_paused_is_error },
        { "p2m_entry_fixed_after_read", p2m_entry_fixed_after_read },
        { "p2m_entry_paused_is_error", p2m_entry_paused_is_error },
        { "new_address_space_after_sample", new_address_space_after_sample },
        { "cr3_paused_is_error", cr3_paused_is_error },
        { "gdt_on_freed_table", gdt_on_freed_table },
        { "gdt_made_after_tables_read", gdt_made_after_tables_read },
        { "gdt_paused_is_error", gdt_paused_is_error },
        { "p2m_rebuilt_during_check_is_error", p2m_rebuilt_during_check_is_error },
        { "many_findings_confirmed_in_bounded_pauses", many_findings_confirmed_in_bounded_pauses },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        TCase *tc = tcase_create(cases[i].name);
        tcase_set_timeout(tc, 60);
        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_add_test(tc, cases[i].t);
        suite_add_tcase(s, tc);
    }
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
