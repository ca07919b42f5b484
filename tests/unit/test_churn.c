/*
 * test_churn.c - the simulated guest's kernel at work (libxg/hv/sim/churn.c):
 * address spaces built, pinned, run on and torn down, pages ballooned out
 * and back, grant maps of a peer's frames, for every layout.
 *
 * What a user of `xg-sim run` relies on: every step obeys the simulated
 * Xen's rules, so the host stays consistent and the guest's self-check
 * passes while the churn runs and after it; what the kernel holds at the
 * end is what it held at the start; a ballooned-out pfn really has no
 * frame; grant maps go before the guest suspends; and a churn step that
 * breaks a rule is refused, with Xen's message, its tick rolled back.
 */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "hv/sim/guest.h"
#include "hv/sim/sim.h"
#include "internal.h"
#include "pv/abi.h"
#include "pv/pte.h"

static char topdir[64];
static char host_path[160];
static struct sim_host *H;
static xg_diag *D;

static const enum sim_layout layouts[] = { SIM_LAYOUT_LINUX64, SIM_LAYOUT_PAE32,
                                           SIM_LAYOUT_NETBSD64 };

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(path);
}

static void setup(void)
{
    snprintf(topdir, sizeof(topdir), "%s/xg-test-churn.XXXXXX",
             getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    ck_assert_ptr_nonnull(mkdtemp(topdir));
    snprintf(host_path, sizeof(host_path), "%s/host", topdir);
    D = xg_diag_new();
    ck_assert_ptr_nonnull(D);
    ck_assert_int_eq(sim_host_create(host_path, 32768, D), 0);
    ck_assert_int_eq(sim_host_open(host_path, D, &H), 0);
}

static void teardown(void)
{
    if (H)
        sim_host_close(H);
    H = NULL;
    xg_diag_free(D);
    nftw(topdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static uint32_t build(enum sim_layout layout, unsigned vcpus)
{
    struct sim_build_opts o = {
        .layout = layout, .mem_bytes = 32ULL << 20, .nr_vcpus = vcpus, .seed = 7
    };
    uint32_t dom;
    int rc = sim_build(H, &o, &dom, D);
    if (rc < 0)
        xg_diag_print(stderr, D, true);
    ck_assert_int_eq(rc, 0);
    return dom;
}

static void healthy(uint32_t dom)
{
    int rc = sim_check_consistency(H, D);
    if (rc == 0)
        rc = sim_self_check(H, dom, D);
    if (rc < 0)
        xg_diag_print(stderr, D, true);
    ck_assert_int_eq(rc, 0);
}

/* What the guest holds: its frames, pinned tables, and each vcpu's cr3. */
struct holdings {
    uint64_t tot_pages, pinned, tables, writable;
    uint64_t cr3[SIM_MAX_VCPUS];
};

static struct holdings holdings(uint32_t dom)
{
    struct holdings o = { 0 };
    ck_assert_int_eq(sim_lock(H, 0, D), 0);
    struct sim_domain *d = sim_domain(H, dom);
    o.tot_pages = d->tot_pages;
    for (uint64_t m = 0; m < H->hdr->nr_frames; m++) {
        const struct sim_frame *f = sim_frame(H, m);
        if (f->owner != dom)
            continue;
        o.pinned += !!(f->type_info & PGT_pinned);
        uint64_t t = f->type_info & PGT_type_mask;
        o.tables +=
            t >= PGT_l1_page_table && t <= PGT_l4_page_table && (f->type_info & PGT_count_mask);
        o.writable += t == PGT_writable_page && (f->type_info & PGT_count_mask);
    }
    for (unsigned v = 0; v < d->nr_vcpus; v++)
        o.cr3[v] = sim_vcpu_root(d, v);
    sim_unlock(H);
    return o;
}

static char *host_log(void)
{
    ck_assert_int_eq(sim_lock(H, 0, D), 0);
    char *log = sim_log_read(H, false);
    sim_unlock(H);
    ck_assert_ptr_nonnull(log);
    return log;
}

static char *diag_text(void)
{
    char *text = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&text, &len);
    ck_assert_ptr_nonnull(m);
    xg_diag_print(m, D, false);
    fclose(m);
    return text;
}

/* ------------------------------------------------------------ a whole run */

/* Every kind of churn for a while: it happened, and the guest ends holding what it held. */
START_TEST(test_run_every_layout)
{
    uint32_t dom = build(layouts[_i], 2);
    struct holdings before = holdings(dom);
    struct sim_churn_opts o = {
        .seconds = 0.6,
        .dirty_rate = 2000,
        .pt_churn = 500,
        .balloon = 200,
        .grant_maps = 100,
        .seed = 3,
    };
    struct sim_churn_stats st;
    int rc = sim_churn_run(H, dom, &o, &st, D);
    if (rc < 0)
        xg_diag_print(stderr, D, true);
    ck_assert_int_eq(rc, 0);
    ck_assert_uint_gt(st.spaces_built, 50);
    ck_assert_uint_eq(st.spaces_torn_down, st.spaces_built);
    ck_assert_uint_gt(st.cr3_switches, 0);
    ck_assert_uint_gt(st.ballooned_out, 20);
    ck_assert_uint_eq(st.ballooned_in, st.ballooned_out);
    ck_assert_uint_gt(st.grant_maps, 10);
    ck_assert_uint_eq(st.grant_unmaps, st.grant_maps);
    ck_assert_uint_gt(st.dirty.pages_written, 0);
    ck_assert_uint_eq(st.spaces_left + st.balloon_left, 0);
    healthy(dom);
    struct holdings after = holdings(dom);
    ck_assert_uint_eq(after.tot_pages, before.tot_pages);
    ck_assert_uint_eq(after.pinned, before.pinned);
    ck_assert_uint_eq(after.tables, before.tables);
    ck_assert_uint_eq(after.writable, before.writable);
    for (unsigned v = 0; v < 2; v++)
        ck_assert_uint_eq(after.cr3[v], before.cr3[v]);
    /* Xen refused nothing. */
    char *log = host_log();
    ck_assert_ptr_null(strstr(log, "Bad type"));
    ck_assert_ptr_null(strstr(log, "Error"));
    free(log);
}
END_TEST

/* ------------------------------------------------------------ the rules hold while it runs */

static int child_churn(uint32_t dom, double seconds, double grant_maps)
{
    struct sim_host *h;
    xg_diag *d = xg_diag_new();
    if (sim_host_open(host_path, d, &h) < 0)
        return 10;
    struct sim_churn_opts o = {
        .seconds = seconds,
        .dirty_rate = 1000,
        .pt_churn = 500,
        .balloon = 200,
        .grant_maps = grant_maps,
        .seed = 9,
    };
    struct sim_churn_stats st;
    int rc = sim_churn_run(h, dom, &o, &st, d);
    if (rc < 0)
        xg_diag_print(stderr, d, true);
    sim_host_close(h);
    xg_diag_free(d);
    return rc < 0 ? 11 : st.spaces_built == 0 ? 12 : 0;
}

static pid_t start_child(uint32_t dom, double seconds, double grant_maps)
{
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0)
        _exit(child_churn(dom, seconds, grant_maps));
    return pid;
}

static void wait_child(pid_t pid)
{
    int st;
    ck_assert_int_eq(waitpid(pid, &st, 0), pid);
    ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "the churn ended with status %#x", st);
}

/*
 * Sampled while another process churns: the host's counts agree with the
 * tables, every vcpu sees its canaries, a pfn the guest's p2m calls
 * ballooned out has no frame on the host, the guest's frames add up, and
 * now and then a vcpu runs on a space the churn built.
 */
START_TEST(test_rules_hold_while_running)
{
    uint32_t dom = build(layouts[_i], 2);
    struct holdings home = holdings(dom);
    pid_t pid = start_child(dom, 1.5, 0);
    unsigned away = 0, ballooned_seen = 0;
    for (int round = 0; round < 12; round++) {
        usleep(100000);
        healthy(dom);
        ck_assert_int_eq(sim_lock(H, 0, D), 0);
        struct sim_domain *d = sim_domain(H, dom);
        struct sim_guest_info gi;
        ck_assert_int_eq(sim_guest_info_get(H, d, &gi, NULL), 0);
        uint64_t out = 0;
        for (uint64_t pfn = 0; pfn < gi.nr_pages; pfn++) {
            uint64_t m;
            if (sim_guest_p2m(H, d, &gi, pfn, &m) == -ENOENT)
                out++;
        }
        uint64_t owned = 0, at_out_pfn = 0;
        for (uint64_t m = 0; m < H->hdr->nr_frames; m++) {
            const struct sim_frame *f = sim_frame(H, m);
            if (f->owner != dom || (f->flags & SIM_PGC_XEN_HEAP))
                continue;
            owned++;
            uint64_t pm;
            if (H->m2p[m] < gi.nr_pages && sim_guest_p2m(H, d, &gi, H->m2p[m], &pm) == -ENOENT)
                at_out_pfn++;
        }
        ck_assert_uint_eq(at_out_pfn, 0);
        ck_assert_uint_eq(owned + out, gi.nr_pages);
        ballooned_seen += out > 0;
        for (unsigned v = 0; v < 2; v++)
            away += sim_vcpu_root(d, v) != home.cr3[v];
        sim_unlock(H);
    }
    wait_child(pid);
    healthy(dom);
    ck_assert_uint_gt(ballooned_seen, 0);
    ck_assert_uint_gt(away, 0);
}
END_TEST

/* Grant maps in place when the guest suspends: its backends drop them first. */
START_TEST(test_grants_dropped_at_suspend)
{
    uint32_t dom = build(layouts[_i], 1);
    pid_t pid = start_child(dom, 1.2, 2000);
    usleep(300000);
    ck_assert_int_eq(sim_lock(H, dom, D), 0);
    int rc = sim_guest_suspend(H, dom, D);
    if (rc < 0)
        xg_diag_print(stderr, D, true);
    ck_assert_int_eq(rc, 0);
    struct sim_domain *d = sim_domain(H, dom);
    struct sim_guest_info gi;
    ck_assert_int_eq(sim_guest_info_get(H, d, &gi, NULL), 0);
    ck_assert_uint_eq(gi.nr_grant_maps, 0);
    ck_assert_uint_ne(gi.grant_peer, 0);
    /* No entry of the fixmap L1 names a frame that is not the guest's. */
    uint64_t l1;
    ck_assert_int_eq(sim_guest_p2m(H, d, &gi, gi.shinfo_l1_pfn, &l1), 0);
    const uint64_t *e = (const uint64_t *)sim_frame_data(H, l1);
    for (unsigned s = 0; s < 512; s++)
        if (xg_pte_present(e[s]))
            ck_assert_uint_eq(sim_frame(H, xg_pte_frame(e[s]))->owner, dom);
    sim_unlock(H);
    healthy(dom);
    /* Back to running: the churn goes on, and ends with every map of its own undone. */
    ck_assert_int_eq(sim_lock(H, dom, D), 0);
    ck_assert_int_eq(sim_guest_resume(H, dom, D), 0);
    sim_unlock(H);
    wait_child(pid);
    healthy(dom);
}
END_TEST

/* ------------------------------------------------------------ a wrong step is refused */

static const struct {
    unsigned bug;
    const char *step;     /* what the run says it was doing */
    const char *xen_says; /* what Xen logs */
} bugs[] = {
    { SIM_CHURN_BUG_NO_RO, "pinning a new page table", "Bad type" },
    { SIM_CHURN_BUG_EARLY_RW, "making a pinned page table writable", "Bad type" },
    { SIM_CHURN_BUG_KEEP_CR3, "making a freed page table writable again", "Bad type" },
};

START_TEST(test_wrong_step_refused)
{
    unsigned b = (unsigned)_i / 3;
    uint32_t dom = build(layouts[_i % 3], 2);
    struct sim_churn_opts o = { .seconds = 3, .pt_churn = 500, .seed = 5, .bugs = bugs[b].bug };
    struct sim_churn_stats st;
    int rc = sim_churn_run(H, dom, &o, &st, D);
    ck_assert_int_eq(rc, XG_E_HV);
    char *text = diag_text();
    ck_assert_msg(strstr(text, bugs[b].step), "the refusal does not say \"%s\": %s", bugs[b].step,
                  text);
    ck_assert_msg(strstr(text, "rolled back"), "%s", text);
    free(text);
    char *log = host_log();
    ck_assert_msg(strstr(log, bugs[b].xen_says), "Xen's log does not say \"%s\"", bugs[b].xen_says);
    free(log);
    /* The refused tick left nothing half done. */
    xg_diag_free(D);
    D = xg_diag_new();
    healthy(dom);
}
END_TEST

/* A guest xg-sim did not build has no kernel to churn; a missing domain is named. */
START_TEST(test_no_kernel_to_churn)
{
    uint32_t empty;
    ck_assert_int_eq(sim_lock(H, 0, D), 0);
    ck_assert_int_eq(sim_domain_create(H, 8, 1, 256, &empty), 0);
    sim_unlock(H);
    struct sim_churn_opts o = { .seconds = 0.1, .pt_churn = 100, .seed = 1 };
    struct sim_churn_stats st;
    ck_assert_int_eq(sim_churn_run(H, empty, &o, &st, D), XG_E_INVAL);
    char *text = diag_text();
    ck_assert_ptr_nonnull(strstr(text, "no simulated kernel"));
    free(text);
    ck_assert_int_eq(sim_churn_run(H, 77, &o, &st, D), XG_E_NOTFOUND);
}
END_TEST

/* A checksum of every frame the guest owns, with its mfn. */
static uint64_t memory_sum(uint32_t dom)
{
    uint64_t sum = 0;
    for (uint64_t m = 0; m < H->hdr->nr_frames; m++) {
        if (sim_frame(H, m)->owner != dom)
            continue;
        const uint64_t *w = (const uint64_t *)sim_frame_data(H, m);
        for (unsigned i = 0; i < 512; i++)
            sum = (sum ^ w[i]) * 0x100000001b3ULL + m;
    }
    return sum;
}

/* A paused guest runs nothing: the churn skips its ticks and leaves the guest alone. */
START_TEST(test_paused_guest_untouched)
{
    uint32_t dom = build(SIM_LAYOUT_LINUX64, 1);
    ck_assert_int_eq(sim_lock(H, 0, D), 0);
    SIM_SET(H, sim_domain(H, dom)->pause_count, 1);
    sim_unlock(H);
    struct holdings before = holdings(dom);
    uint64_t sum_before = memory_sum(dom);
    struct sim_churn_opts o = {
        .seconds = 0.3, .pt_churn = 500, .balloon = 100, .grant_maps = 50, .seed = 1
    };
    struct sim_churn_stats st;
    ck_assert_int_eq(sim_churn_run(H, dom, &o, &st, D), 0);
    ck_assert_uint_eq(st.spaces_built + st.ballooned_out + st.grant_maps, 0);
    ck_assert_uint_gt(st.ticks_skipped, 0);
    struct holdings after = holdings(dom);
    ck_assert_mem_eq(&after, &before, sizeof(before));
    ck_assert_uint_eq(memory_sum(dom), sum_before);
}
END_TEST

static Suite *churn_suite(void)
{
    Suite *s = suite_create("churn");
    TCase *tc = tcase_create("run");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_loop_test(tc, test_run_every_layout, 0, 3);
    tcase_add_loop_test(tc, test_rules_hold_while_running, 0, 3);
    tcase_add_loop_test(tc, test_grants_dropped_at_suspend, 0, 3);
    tcase_add_test(tc, test_paused_guest_untouched);
    tcase_add_test(tc, test_no_kernel_to_churn);
    suite_add_tcase(s, tc);
    tc = tcase_create("refused");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_loop_test(tc, test_wrong_step_refused, 0, 3 * (int)XG_ARRAY_SIZE(bugs));
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    SRunner *sr = srunner_create(churn_suite());
    srunner_run_all(sr, CK_ENV);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
