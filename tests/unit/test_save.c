/*
 * test_save.c - the save engine on the simulated host: what it writes is
 * what the guest has (pfns, types, normalised tables), live pre-copy
 * respects its limits and ends with every page's last content, each fault
 * gives its diagnostic, and a failed save leaves the guest as it was.
 */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "hv/sim/guest.h"
#include "internal.h"
#include "pv/pv.h"
#include "testutil.h"
#include "xg/restore.h"
#include "xg/save.h"
#include "xg/xg.h"

/* From save_private.h (not included: pv/pv.h, included above, is not guarded to its end). */
extern bool xg__save_serial_writer;

struct env {
    char *dir, *host, *host2, *img;
    uint32_t dom;
};

static void env_init(struct env *e, const char *layout, uint64_t mem, unsigned vcpus, uint64_t seed, unsigned faults)
{
    memset(e, 0, sizeof(*e));
    e->dir = xgt_mkdtemp();
    e->host = xgt_path(e->dir, "a.host");
    e->host2 = xgt_path(e->dir, "b.host");
    e->img = xgt_path(e->dir, "guest.img");
    xg_diag *d = xg_diag_new();
    ck_assert_int_eq(sim_host_create(e->host, 49152, d), 0);
    ck_assert_int_eq(sim_host_create(e->host2, 49152, d), 0);
    struct sim_host *h;
    ck_assert_int_eq(sim_host_open(e->host, d, &h), 0);
    struct sim_build_opts o = { .layout = sim_layout_from_name(layout), .mem_bytes = mem, .nr_vcpus = vcpus,
                                .seed = seed, .faults = faults };
    int rc = sim_build(h, &o, &e->dom, d);
    if (rc)
        xg_diag_print(stderr, d, true);
    ck_assert_int_eq(rc, 0);
    sim_host_close(h);
    xg_diag_free(d);
}

static void env_fini(struct env *e)
{
    xgt_rmtree(e->dir);
    free(e->dir);
    free(e->host);
    free(e->host2);
    free(e->img);
}

static int save(struct env *e, const struct xg_save_params *p, struct xg_save_stats *st, xg_diag *d)
{
    xg_hv *hv = xgt_open_sim(e->host);
    int fd = open(e->img, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ck_assert_int_ge(fd, 0);
    int rc = xg_save(hv, e->dom, fd, p, NULL, st, d);
    close(fd);
    xg_hv_close(hv);
    return rc;
}

struct dom_state {
    bool suspended, paused, logdirty;
};

static struct dom_state state_of(struct env *e)
{
    xg_diag *d = xg_diag_new();
    struct sim_host *h;
    ck_assert_int_eq(sim_host_open(e->host, d, &h), 0);
    struct sim_domain *dom = sim_domain(h, e->dom);
    ck_assert(dom != NULL);
    struct dom_state s = { dom->shutdown && dom->shutdown_reason == XG_SHUTDOWN_SUSPEND, dom->pause_count > 0,
                           dom->logdirty != 0 };
    sim_host_close(h);
    xg_diag_free(d);
    return s;
}

/*
 * The image holds exactly what the guest has: every pfn of its p2m with
 * the type Xen reports, data pages byte for byte, page tables with each
 * entry's frame turned into the guest's pfn and Xen's slots cleared.
 */
static void check_image_matches(struct env *e)
{
    xg_diag *d = xg_diag_new();
    struct sim_host *h;
    ck_assert_int_eq(sim_host_open(e->host, d, &h), 0);
    struct sim_domain *dom = sim_domain(h, e->dom);
    unsigned w = dom->guest_width;
    int fd = open(e->img, O_RDONLY);
    xg_stream_reader *r;
    ck_assert_int_eq(xg_stream_reader_open(fd, NULL, d, &r), 0);
    uint64_t *mfn_of = calloc(1 << 20, sizeof(uint64_t));
    for (uint64_t m = 0; m < h->hdr->nr_frames; m++)
        if (h->frames[m].owner == e->dom && !(h->frames[m].flags & SIM_PGC_XEN_HEAP) && h->m2p[m] < (1 << 20))
            mfn_of[h->m2p[m]] = m + 1;
    /* A live image sends pages many times: the last copy is the one that counts. */
    uint64_t cap = 1 << 20;
    uint32_t *type = malloc(cap * sizeof(uint32_t));
    uint8_t **copy = calloc(cap, sizeof(uint8_t *));
    for (uint64_t p = 0; p < cap; p++)
        type[p] = ~0U;
    struct xg_record rec;
    do {
        ck_assert_int_eq(xg_stream_read(r, &rec), 0);
        if (rec.type != XG_REC_PAGE_DATA)
            continue;
        const uint8_t *data = rec.u.page_data.data;
        for (uint32_t i = 0; i < rec.u.page_data.count; i++) {
            uint64_t pfn = xg_pd_pfn(rec.u.page_data.pfn[i]);
            uint32_t t = xg_pd_type(rec.u.page_data.pfn[i]);
            ck_assert_uint_lt(pfn, cap);
            type[pfn] = t;
            if (xg_pfinfo_has_data(t)) {
                if (!copy[pfn])
                    copy[pfn] = malloc(4096);
                memcpy(copy[pfn], data, 4096);
                data += 4096;
            }
        }
    } while (rec.type != XG_REC_END);
    uint64_t seen = 0, tables = 0;
    for (uint64_t pfn = 0; pfn < cap; pfn++) {
        uint32_t t = type[pfn];
        if (t == ~0U)
            continue;
        seen++;
        if (t == XG_PFINFO_XTAB)
            continue;
        ck_assert_msg(mfn_of[pfn], "pfn %#llx is in the image but not in the guest", (unsigned long long)pfn);
        uint64_t m = mfn_of[pfn] - 1;
        ck_assert_msg(t == sim_pfinfo(h, e->dom, m), "pfn %#llx: image says %s, Xen says %s", (unsigned long long)pfn,
                      xg_pfinfo_name(t), xg_pfinfo_name(sim_pfinfo(h, e->dom, m)));
        const uint64_t *live = (const uint64_t *)sim_frame_data(h, m), *img = (const uint64_t *)copy[pfn];
        unsigned level = xg_pfinfo_level(t);
        if (!level) {
            ck_assert_msg(memcmp(live, img, 4096) == 0, "data of pfn %#llx differs", (unsigned long long)pfn);
            continue;
        }
        tables++;
        bool xen_l2 = w == 4 && level == 2 && xg_pv_is_xen_l2(live, h->hdr->compat_m2p_mfn0);
        for (unsigned s = 0; s < 512; s++) {
            uint64_t want = live[s];
            if (!xg_pv_guest_slot(w, level, xen_l2, s))
                want = 0;
            else if (xg_pte_present(want))
                want = xg_pte_set_frame(want, h->m2p[xg_pte_frame(want)]);
            ck_assert_msg(img[s] == want, "L%u pfn %#llx slot %u: image %#llx, expected %#llx", level,
                          (unsigned long long)pfn, s, (unsigned long long)img[s], (unsigned long long)want);
        }
    }
    for (uint64_t p = 0; p < cap; p++)
        free(copy[p]);
    free(copy);
    free(type);
    ck_assert_uint_eq(seen, sim_domain_max_pfn(h, dom) + 1);
    ck_assert_uint_gt(tables, 0);
    free(mfn_of);
    xg_stream_reader_close(r);
    close(fd);
    sim_host_close(h);
    xg_diag_free(d);
}

static void faithful(const char *layout, uint64_t mem, unsigned vcpus, uint64_t seed)
{
    struct env e;
    env_init(&e, layout, mem, vcpus, seed, 0);
    xg_diag *d = xg_diag_new();
    struct xg_save_params p = { 0 };
    struct xg_save_stats st;
    int rc = save(&e, &p, &st, d);
    if (rc)
        xg_diag_print(stderr, d, true);
    ck_assert_int_eq(rc, 0);
    ck_assert_uint_eq(st.nr_vcpus, vcpus);
    ck_assert_uint_eq(st.iterations, 1);
    check_image_matches(&e);
    ck_assert(state_of(&e).suspended);
    xg_diag_free(d);
    env_fini(&e);
}

START_TEST(image_is_the_guest)
{
    static const char *layouts[] = { "linux64", "pae32", "netbsd64" };
    faithful(layouts[_i % 3], (uint64_t)(4 + 8 * (_i / 3)) << 20, 1 + _i % 3, 100 + (uint64_t)_i);
}
END_TEST

/* ------------------------------------------------------------ live */

static pid_t start_workload(struct env *e, double rate, double seconds)
{
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        signal(SIGTERM, SIG_DFL); /* not Check's handler, which kills the whole process group */
        xg_diag *d = xg_diag_new();
        struct sim_host *h;
        if (sim_host_open(e->host, d, &h) < 0)
            _exit(1);
        struct sim_workload_stats ws;
        int rc = sim_workload(h, e->dom, rate, seconds, 9, &ws, d);
        sim_host_close(h);
        _exit(rc ? 1 : 0);
    }
    return pid;
}

/*
 * Restore the image at path onto a fresh domain on e->host2;
 * returns the diagnostics (the caller frees them) and the new domain.
 */
static xg_diag *restore_image(struct env *e, const char *path, uint32_t *domid)
{
    xg_diag *d = xg_diag_new();
    xg_hv *hv = xgt_open_sim(e->host2);
    int fd = open(path, O_RDONLY);
    ck_assert_int_ge(fd, 0);
    struct xg_restore_params rp = { .create = true, .create_vcpus = 2, .store_evtchn = -1, .console_evtchn = -1 };
    struct xg_restore_result res;
    int rc = xg_restore(hv, fd, &rp, NULL, &res, d);
    if (rc)
        xg_diag_print(stderr, d, true);
    ck_assert_int_eq(rc, 0);
    close(fd);
    xg_hv_close(hv);
    *domid = res.domid;
    return d;
}

/* The guest restored as dom on e->host2 equals e->dom on e->host, page for page in PFN space. */
static void assert_same_as_source(struct env *e, uint32_t dom)
{
    xg_diag *d = xg_diag_new();
    struct sim_host *ha, *hb;
    ck_assert_int_eq(sim_host_open(e->host, d, &ha), 0);
    ck_assert_int_eq(sim_host_open(e->host2, d, &hb), 0);
    int rc = sim_compare(ha, e->dom, hb, dom, d);
    if (rc)
        xg_diag_print(stderr, d, true);
    ck_assert_int_eq(rc, 0);
    sim_host_close(ha);
    sim_host_close(hb);
    xg_diag_free(d);
}

START_TEST(live_save_ends_with_last_content)
{
    struct env e;
    env_init(&e, "linux64", 32 << 20, 2, 5, 0);
    pid_t w = start_workload(&e, 4000, 30);
    usleep(100000);
    xg_diag *d = xg_diag_new();
    struct xg_save_params p = { .live = true, .max_iters = 5 };
    struct xg_save_stats st;
    int rc = save(&e, &p, &st, d);
    kill(w, SIGTERM);
    waitpid(w, NULL, 0);
    if (rc)
        xg_diag_print(stderr, d, true);
    ck_assert_int_eq(rc, 0);
    ck_assert_uint_ge(st.iterations, 2);
    ck_assert_uint_le(st.iterations, 5 + 1);
    ck_assert(!state_of(&e).logdirty);
    /* The guest is suspended: the image must equal it, page for page. */
    check_image_matches(&e);
    /* And restore to an identical guest. */
    uint32_t dom;
    xg_diag_free(restore_image(&e, e.img, &dom));
    assert_same_as_source(&e, dom);
    xg_diag_free(d);
    env_fini(&e);
}
END_TEST

/*
 * XCFLAGS_DEBUG: after the pages, a VERIFY record and every page again; the
 * restore compares the second copy with what it put in the frames (read
 * from the stream a page at a time, since the contents go straight into
 * the frames otherwise).  A faithful image verifies without a word; one
 * page of the second copy changed is named, and the guest is restored from
 * the first.
 */
START_TEST(verify_pass_compares_the_second_copy)
{
    struct env e;
    env_init(&e, "linux64", 8 << 20, 2, 11, 0);
    xg_diag *d = xg_diag_new();
    struct xg_save_params p = { .debug = true };
    struct xg_save_stats st;
    ck_assert_int_eq(save(&e, &p, &st, d), 0);
    xg_diag_free(d);
    uint32_t dom;
    d = restore_image(&e, e.img, &dom);
    ck_assert(!xgt_diag_has(d, "verify pfn"));
    xg_diag_free(d);

    /* The first data page after VERIFY, one byte changed. */
    struct xgt_buf b;
    xgt_buf_init(&b);
    int fd = open(e.img, O_RDONLY);
    ck_assert_int_eq(xgt_read_all(fd, &b), 0);
    close(fd);
    struct xgt_rd rd;
    xgt_rd_open(&rd, b.data, b.len, NULL);
    ck_assert_int_eq(rd.open_rc, 0);
    struct xg_record rec;
    bool after_verify = false;
    uint64_t flip = 0, pfn = 0;
    do {
        ck_assert_int_eq(xg_stream_read(rd.r, &rec), 0);
        after_verify |= rec.type == XG_REC_VERIFY;
        if (after_verify && !flip && rec.type == XG_REC_PAGE_DATA && rec.u.page_data.nr_data) {
            const struct xg_rec_page_data *pd = &rec.u.page_data;
            unsigned i = 0;
            while (!xg_pfinfo_has_data(xg_pd_type(pd->pfn[i])))
                i++;
            pfn = xg_pd_pfn(pd->pfn[i]);
            flip = (uint64_t)(pd->data - rec.body) + rec.offset + 8 + 100;
        }
    } while (rec.type != XG_REC_END);
    xgt_rd_close(&rd);
    ck_assert_uint_gt(flip, 0);
    b.data[flip] ^= 0x5a;
    char *bad = xgt_path(e.dir, "bad.img");
    fd = open(bad, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, b.data, b.len), (ssize_t)b.len);
    close(fd);
    d = restore_image(&e, bad, &dom);
    char needle[64];
    snprintf(needle, sizeof(needle), "verify pfn %#llx failed", (unsigned long long)pfn);
    ck_assert_msg(xgt_diag_has(d, needle), "no \"%s\"", needle);
    xg_diag_free(d);
    /* Restored from the first copy: equal to the guest. */
    assert_same_as_source(&e, dom);
    free(bad);
    xgt_buf_free(&b);
    env_fini(&e);
}
END_TEST

static pid_t start_churn(struct env *e, uint64_t seed)
{
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        signal(SIGTERM, SIG_DFL);
        xg_diag *d = xg_diag_new();
        struct sim_host *h;
        if (sim_host_open(e->host, d, &h) < 0)
            _exit(1);
        struct sim_churn_opts o = {
            .seconds = 30,
            .dirty_rate = 1600,
            .pt_churn = 500,
            .balloon = 400,
            .grant_maps = 50,
            .seed = seed,
        };
        struct sim_churn_stats cs;
        int rc = sim_churn_run(h, e->dom, &o, &cs, d);
        sim_host_close(h);
        _exit(rc ? 1 : 0);
    }
    return pid;
}

/*
 * A live save while the guest's kernel builds and frees page tables,
 * switches cr3, balloons and grant-maps: the image holds each pfn as it was
 * at suspend (a pfn ballooned out after it was sent goes again, as XTAB),
 * and restores to an equal guest whose self-check passes.
 */
START_TEST(live_save_under_churn)
{
    static const char *layouts[] = { "linux64", "pae32", "netbsd64" };
    struct env e;
    env_init(&e, layouts[_i], 32 << 20, 2, 40 + (uint64_t)_i, 0);
    pid_t w = start_churn(&e, 3 + (uint64_t)_i);
    usleep(300000);
    xg_diag *d = xg_diag_new();
    struct xg_save_params p = { .live = true, .max_iters = 5 };
    struct xg_save_stats st;
    int rc = save(&e, &p, &st, d);
    kill(w, SIGTERM);
    waitpid(w, NULL, 0);
    if (rc)
        xg_diag_print(stderr, d, true);
    ck_assert_int_eq(rc, 0);
    ck_assert_uint_ge(st.iterations, 2);
    ck_assert_uint_gt(st.invalid, 0); /* pages were out at suspend */
    check_image_matches(&e);
    xg_hv *hv = xgt_open_sim(e.host2);
    int fd = open(e.img, O_RDONLY);
    struct xg_restore_params rp = {
        .create = true, .create_vcpus = 2, .store_evtchn = -1, .console_evtchn = -1
    };
    struct xg_restore_result res;
    rc = xg_restore(hv, fd, &rp, NULL, &res, d);
    if (rc)
        xg_diag_print(stderr, d, true);
    ck_assert_int_eq(rc, 0);
    close(fd);
    xg_hv_close(hv);
    struct sim_host *ha, *hb;
    ck_assert_int_eq(sim_host_open(e.host, d, &ha), 0);
    ck_assert_int_eq(sim_host_open(e.host2, d, &hb), 0);
    rc = sim_compare(ha, e.dom, hb, res.domid, d);
    if (rc == 0)
        rc = sim_self_check(hb, res.domid, d);
    if (rc == 0)
        rc = sim_check_consistency(hb, d);
    if (rc)
        xg_diag_print(stderr, d, true);
    ck_assert_int_eq(rc, 0);
    sim_host_close(ha);
    sim_host_close(hb);
    xg_diag_free(d);
    env_fini(&e);
}
END_TEST

/*
 * xg_sr_save.c, send_memory_live: Xen's saver decides before a pass whether
 * to stop, and sends that pass's dirty pages with the guest still running;
 * only what is dirtied during it waits for the suspend.  Stopped at once
 * here (every count is "few pages dirty"): the full pass, one more live
 * pass of what the first left dirty, then the final pass with no more than
 * what that second pass saw dirtied.
 */
START_TEST(live_save_sends_the_last_dirty_set_live)
{
    struct env e;
    env_init(&e, "linux64", 32 << 20, 1, 7, 0);
    pid_t w = start_workload(&e, 20000, 30);
    usleep(100000);
    xg_diag *d = xg_diag_new();
    struct xg_save_params p = { .live = true, .min_dirty = 1U << 30 };
    struct xg_save_stats st;
    int rc = save(&e, &p, &st, d);
    kill(w, SIGTERM);
    waitpid(w, NULL, 0);
    if (rc)
        xg_diag_print(stderr, d, true);
    ck_assert_int_eq(rc, 0);
    ck_assert_msg(st.iter[0].dirty > 0, "the workload dirtied nothing during the first pass");
    ck_assert_uint_eq(st.iterations, 3);
    ck_assert_uint_eq(st.iter[1].sent, st.iter[0].dirty);
    ck_assert_msg(st.pages_final <= st.iter[1].dirty,
                  "%llu pages after the suspend, but only %llu dirtied since the last live pass",
                  (unsigned long long)st.pages_final, (unsigned long long)st.iter[1].dirty);
    ck_assert_uint_eq(st.iter[2].sent, st.pages_final);
    check_image_matches(&e);
    xg_diag_free(d);
    env_fini(&e);
}
END_TEST

START_TEST(live_save_respects_limits)
{
    struct env e;
    env_init(&e, "linux64", 64 << 20, 1, 6, 0);
    pid_t w = start_workload(&e, 20000, 30); /* dirties faster than the save can converge */
    usleep(100000);
    xg_diag *d = xg_diag_new();
    struct xg_save_params p = { .live = true, .max_iters = 3, .max_factor = 100, .min_dirty = 1 };
    struct xg_save_stats st;
    ck_assert_int_eq(save(&e, &p, &st, d), 0);
    /* Never more than max_iters live passes and the final one (the workload is bursty: it may converge sooner). */
    ck_assert_msg(st.iterations >= 2 && st.iterations <= 3 + 1, "%u passes (dirty after each: %llu %llu %llu)", st.iterations,
                  (unsigned long long)st.iter[0].dirty, (unsigned long long)st.iter[1].dirty,
                  (unsigned long long)st.iter[2].dirty); /* three passes, then the final one */
    /* With a low factor the save stops on volume instead. */
    kill(w, SIGTERM);
    waitpid(w, NULL, 0);
    xg_diag_free(d);
    env_fini(&e);

    env_init(&e, "linux64", 64 << 20, 1, 6, 0);
    w = start_workload(&e, 20000, 30);
    usleep(100000);
    d = xg_diag_new();
    struct xg_save_params q = { .live = true, .max_iters = 50, .max_factor = 1.2, .min_dirty = 1 };
    ck_assert_int_eq(save(&e, &q, &st, d), 0);
    kill(w, SIGTERM);
    waitpid(w, NULL, 0);
    uint64_t before_final = st.pages_sent - st.pages_final;
    /* It stops after the pass that takes the total past 1.2 x the guest: at most one pass more. */
    ck_assert_uint_le(before_final, (uint64_t)(2.2 * (double)st.nr_pfns));
    ck_assert_uint_lt(st.iterations, 50);
    xg_diag_free(d);
    env_fini(&e);
}
END_TEST

/* ------------------------------------------------------------ faults and failures */

START_TEST(dom0_writable_map_is_named)
{
    struct env e;
    env_init(&e, "linux64", 8 << 20, 1, 1, SIM_FAULT_DOM0_WRITABLE_MAP);
    xg_diag *d = xg_diag_new();
    struct xg_save_params p = { 0 };
    ck_assert_int_eq(save(&e, &p, NULL, d), XG_E_GUEST);
    const struct xg_finding *f = xg_diag_first_error(d);
    ck_assert(f && f->loc.has_pfn && f->loc.has_mfn && f->loc.has_ref_type);
    ck_assert(xg_pfinfo_level(f->loc.ref_type) != 0);
    ck_assert_int_eq(f->sys_errno, EBUSY);
    ck_assert(xgt_diag_has(d, "cannot map pfn"));
    ck_assert(xgt_diag_has(d, "exp e000000000000000"));
    ck_assert(xgt_diag_has(d, "maps foreign pages writable"));
    struct dom_state s = state_of(&e);
    ck_assert(!s.suspended && !s.logdirty);
    xg_diag_free(d);
    env_fini(&e);
}
END_TEST

START_TEST(foreign_pte_is_named)
{
    struct env e;
    env_init(&e, "linux64", 8 << 20, 1, 1, SIM_FAULT_FOREIGN_PTE);
    xg_diag *d = xg_diag_new();
    struct xg_save_params p = { .live = true };
    ck_assert_int_eq(save(&e, &p, NULL, d), XG_E_GUEST);
    const struct xg_finding *f = xg_diag_first_error(d);
    ck_assert(f && f->loc.has_level && f->loc.level == 1 && f->loc.has_slot && f->loc.has_entry && f->loc.has_owner);
    ck_assert(f->loc.owner != e.dom);
    ck_assert(xgt_diag_has(d, "a frame of domain"));
    /* It was suspended for the final pass: the failed save resumed it and left log-dirty off. */
    struct dom_state s = state_of(&e);
    ck_assert(!s.suspended && !s.logdirty);
    xg_diag_free(d);
    env_fini(&e);
}
END_TEST

/* libxl resumes a guest whose save failed itself: with toolstack_resumes the engine leaves it suspended. */
START_TEST(failed_save_left_for_the_toolstack)
{
    struct env e;
    env_init(&e, "linux64", 8 << 20, 1, 1, SIM_FAULT_FOREIGN_PTE);
    xg_diag *d = xg_diag_new();
    struct xg_save_params p = { .live = false, .toolstack_resumes = true };
    ck_assert_int_eq(save(&e, &p, NULL, d), XG_E_GUEST);
    struct dom_state s = state_of(&e);
    ck_assert_msg(s.suspended, "the save resumed the guest the toolstack was to resume");
    ck_assert(!s.logdirty);
    xg_diag_free(d);
    env_fini(&e);
}
END_TEST

static void log_line(void *arg, const char *line)
{
    struct xgt_buf *b = arg;
    xgt_buf_put(b, line, strlen(line));
    xgt_buf_put(b, "\n", 1);
}

START_TEST(stale_table_still_restorable)
{
    struct env e;
    env_init(&e, "linux64", 8 << 20, 1, 1, SIM_FAULT_STALE_TABLE);
    xg_diag *d = xg_diag_new();
    struct xgt_buf logbuf;
    xgt_buf_init(&logbuf);
    struct xg_save_callbacks cb = { .log = log_line, .arg = &logbuf };
    struct xg_save_params p = { 0 };
    struct xg_save_stats st;
    xg_hv *hv = xgt_open_sim(e.host);
    int fd = open(e.img, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ck_assert_int_eq(xg_save(hv, e.dom, fd, &p, &cb, &st, d), 0);
    close(fd);
    xg_hv_close(hv);
    ck_assert_uint_eq(st.invalid, 4);
    xgt_buf_put(&logbuf, "", 1);
    ck_assert_msg(strstr((char *)logbuf.data, "ballooned out"), "log: %s", (char *)logbuf.data);
    check_image_matches(&e);
    xg_diag *d2 = xg_diag_new();
    struct xg_restore_result res;
    fd = open(e.img, O_RDONLY);
    ck_assert_int_eq(xg_image_check(fd, NULL, &res, d2), 0);
    close(fd);
    xgt_buf_free(&logbuf);
    xg_diag_free(d2);
    xg_diag_free(d);
    env_fini(&e);
}
END_TEST

START_TEST(closed_pipe_resumes_the_guest)
{
    struct env e;
    env_init(&e, "linux64", 16 << 20, 1, 2, 0);
    int p[2];
    ck_assert_int_eq(pipe(p), 0);
    close(p[0]);
    signal(SIGPIPE, SIG_IGN);
    xg_hv *hv = xgt_open_sim(e.host);
    xg_diag *d = xg_diag_new();
    struct xg_save_params sp = { .live = true };
    int rc = xg_save(hv, e.dom, p[1], &sp, NULL, NULL, d);
    close(p[1]);
    xg_hv_close(hv);
    ck_assert_int_eq(rc, XG_E_IO);
    const struct xg_finding *f = xg_diag_first_error(d);
    ck_assert_int_eq(f->sys_errno, EPIPE);
    ck_assert(xgt_diag_has(d, "closed pipe"));
    struct dom_state s = state_of(&e);
    ck_assert(!s.suspended && !s.logdirty && !s.paused);
    xg_diag_free(d);
    env_fini(&e);
}
END_TEST

/*
 * In a child: copy the read end of fds to out in small reads (a slow
 * receiver), or stop after `limit` bytes.  The parent keeps the write end.
 */
static pid_t start_receiver(const int fds[2], const char *out, uint64_t limit)
{
    int fd = fds[0];
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        close(fds[1]);
        int o = out ? open(out, O_WRONLY | O_CREAT | O_TRUNC, 0644) : -1;
        char buf[3000];
        uint64_t got = 0;
        ssize_t n;
        while (got < limit && (n = read(fd, buf, sizeof(buf))) > 0) {
            got += (uint64_t)n;
            if (o >= 0 && write(o, buf, (size_t)n) != n)
                _exit(1);
        }
        _exit(0);
    }
    close(fd);
    return pid;
}

static void read_image(const char *path, struct xgt_buf *b)
{
    xgt_buf_init(b);
    xgt_read_file(path, b);
}

/*
 * The save's writer thread (the stream is written while the next batch is
 * prepared) writes the bytes the saving thread wrote alone: the same
 * paused guest saved both ways, to a file and through a pipe drained in
 * small reads, gives one image.
 */
START_TEST(pipelined_save_writes_the_serial_image)
{
    static const char *layouts[] = { "linux64", "pae32" };
    struct env e;
    env_init(&e, layouts[_i], 24 << 20, 2, 40 + (uint64_t)_i, 0);
    xg_diag *d = xg_diag_new();
    struct xg_save_params p = { 0 };
    xg__save_serial_writer = true;
    int rc = save(&e, &p, NULL, d);
    xg__save_serial_writer = false;
    ck_assert_int_eq(rc, 0);
    check_image_matches(&e);
    struct xgt_buf serial, to_file, piped;
    read_image(e.img, &serial);
    /* The guest stays suspended after a save: the next saves find it as the first left it. */
    ck_assert_int_eq(save(&e, &p, NULL, d), 0);
    read_image(e.img, &to_file);
    int fds[2];
    ck_assert_int_eq(pipe(fds), 0);
    pid_t rx = start_receiver(fds, e.img, UINT64_MAX);
    xg_hv *hv = xgt_open_sim(e.host);
    rc = xg_save(hv, e.dom, fds[1], &p, NULL, NULL, d);
    close(fds[1]);
    xg_hv_close(hv);
    int status;
    ck_assert_int_eq(waitpid(rx, &status, 0), rx);
    ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    if (rc)
        xg_diag_print(stderr, d, true);
    ck_assert_int_eq(rc, 0);
    read_image(e.img, &piped);
    ck_assert_uint_gt(serial.len, 24 << 20);
    ck_assert_uint_eq(to_file.len, serial.len);
    ck_assert_uint_eq(piped.len, serial.len);
    ck_assert(memcmp(to_file.data, serial.data, serial.len) == 0);
    ck_assert(memcmp(piped.data, serial.data, serial.len) == 0);
    xgt_buf_free(&serial);
    xgt_buf_free(&to_file);
    xgt_buf_free(&piped);
    xg_diag_free(d);
    env_fini(&e);
}
END_TEST

/*
 * The receiver goes away in the middle of the memory: the save fails with
 * EPIPE at a PAGE_DATA record's offset, reported once, resumes the guest
 * and leaves nothing mapped, with the writer's thread or without it.
 */
START_TEST(receiver_gone_mid_memory_cleans_up)
{
    struct env e;
    env_init(&e, "linux64", 24 << 20, 2, 5, 0);
    signal(SIGPIPE, SIG_IGN);
    xg__save_serial_writer = _i == 1;
    int fds[2];
    ck_assert_int_eq(pipe(fds), 0);
    pid_t rx = start_receiver(fds, NULL, 5 << 20);
    xg_hv *hv = xgt_open_sim(e.host);
    xg_diag *d = xg_diag_new();
    struct xg_save_params sp = { 0 };
    int rc = xg_save(hv, e.dom, fds[1], &sp, NULL, NULL, d);
    xg__save_serial_writer = false;
    close(fds[1]);
    xg_hv_close(hv);
    waitpid(rx, NULL, 0);
    ck_assert_int_eq(rc, XG_E_IO);
    ck_assert_uint_eq(xg_diag_total(d, XG_SEV_ERROR), 1);
    const struct xg_finding *f = xg_diag_first_error(d);
    ck_assert_int_eq(f->sys_errno, EPIPE);
    ck_assert(f->loc.has_offset && f->loc.offset > (4 << 20) && f->loc.offset < (24 << 20));
    ck_assert(f->loc.has_rec_type && f->loc.rec_type == XG_REC_PAGE_DATA);
    ck_assert(xgt_diag_has(d, "closed pipe"));
    struct dom_state s = state_of(&e);
    ck_assert(!s.suspended && !s.logdirty && !s.paused);
    struct sim_host *h;
    ck_assert_int_eq(sim_host_open(e.host, d, &h), 0);
    ck_assert_uint_eq(h->hdr->map_used, 0);
    ck_assert_int_eq(sim_check_consistency(h, d), 0);
    sim_host_close(h);
    xg_diag_free(d);
    env_fini(&e);
}
END_TEST

START_TEST(injected_map_failure_cleans_up)
{
    struct env e;
    env_init(&e, "linux64", 16 << 20, 1, 2, 0);
    xg_hv *hv = xgt_open_sim(e.host);
    xg_diag *d = xg_diag_new();
    ck_assert_int_eq(xg_hv_set_faults(hv, "map@6", d), 0);
    int fd = open(e.img, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    struct xg_save_params sp = { 0 };
    int rc = xg_save(hv, e.dom, fd, &sp, NULL, NULL, d);
    close(fd);
    xg_hv_close(hv);
    ck_assert_int_eq(rc, XG_E_HV);
    ck_assert(!state_of(&e).suspended);
    /* Nothing left mapped: the host's registry of foreign mappings is empty. */
    struct sim_host *h;
    ck_assert_int_eq(sim_host_open(e.host, d, &h), 0);
    ck_assert_uint_eq(h->hdr->map_used, 0);
    ck_assert_int_eq(sim_check_consistency(h, d), 0);
    sim_host_close(h);
    xg_diag_free(d);
    env_fini(&e);
}
END_TEST

START_TEST(preflight_changes_nothing)
{
    struct env e;
    env_init(&e, "pae32", 8 << 20, 2, 3, 0);
    xg_hv *hv = xgt_open_sim(e.host);
    xg_diag *d = xg_diag_new();
    struct xg_save_params sp = { .check_only = true };
    int rc = xg_save(hv, e.dom, -1, &sp, NULL, NULL, d);
    if (rc)
        xg_diag_print(stderr, d, true);
    ck_assert_int_eq(rc, 0);
    xg_hv_close(hv);
    struct dom_state s = state_of(&e);
    ck_assert(!s.suspended && !s.logdirty && !s.paused);
    xg_diag_free(d);
    env_fini(&e);
}
END_TEST

/*
 * A running guest may map a foreign frame for a while (grant mappings):
 * the check warns, as Xen's saver only retries such a table while the
 * guest runs; once it is paused, the same entry is an error.
 */
START_TEST(preflight_foreign_mapping_running_then_paused)
{
    struct env e;
    env_init(&e, "linux64", 8 << 20, 1, 1, SIM_FAULT_FOREIGN_PTE);
    xg_hv *hv = xgt_open_sim(e.host);
    xg_diag *d = xg_diag_new();
    struct xg_save_params sp = { .check_only = true };
    ck_assert_int_eq(xg_save(hv, e.dom, -1, &sp, NULL, NULL, d), 0);
    ck_assert_uint_eq(xg_diag_total(d, XG_SEV_ERROR), 0);
    ck_assert_uint_ge(xg_diag_total(d, XG_SEV_WARNING), 1);
    ck_assert(xgt_diag_has(d, "a frame of domain"));
    xg_diag_free(d);
    d = xg_diag_new();
    ck_assert_int_eq(xg_hv_pause(hv, e.dom, d), 0);
    ck_assert_int_eq(xg_save(hv, e.dom, -1, &sp, NULL, NULL, d), XG_E_GUEST);
    const struct xg_finding *f = xg_diag_first_error(d);
    ck_assert(f && f->loc.has_owner && f->loc.owner != e.dom && f->loc.level == 1);
    ck_assert_int_eq(xg_hv_unpause(hv, e.dom, NULL), 0);
    xg_hv_close(hv);
    xg_diag_free(d);
    env_fini(&e);
}
END_TEST

START_TEST(preflight_finds_every_problem)
{
    struct env e;
    /* netbsd64 keeps its p2m in a frame-list tree of ordinary pages, so the check gets to the tables. */
    env_init(&e, "netbsd64", 8 << 20, 1, 3, SIM_FAULT_DOM0_WRITABLE_MAP);
    xg_hv *hv = xgt_open_sim(e.host);
    xg_diag *d = xg_diag_new();
    struct xg_save_params sp = { .check_only = true };
    ck_assert_int_eq(xg_save(hv, e.dom, -1, &sp, NULL, NULL, d), XG_E_GUEST);
    xg_hv_close(hv);
    /* Every table that cannot be mapped read-only is reported, not just the first. */
    ck_assert_uint_gt(xg_diag_total(d, XG_SEV_ERROR), 3);
    ck_assert(xgt_diag_has(d, "maps foreign pages writable"));
    xg_diag_free(d);
    env_fini(&e);
}
END_TEST

/*
 * A guest that rebuilds its p2m list after the last live pass was checked
 * and before it suspends (p2m_generation moves on): the frames the saver
 * mapped as the p2m are stale, so the final pass would write an image from
 * them.  Xen 4.17's saver checks the generation after every pass, the final
 * one included, and aborts; so must xg.  The suspend callback plays the
 * guest: it suspends it, then bumps the generation as the rebuild would.
 */
struct bump_on_suspend {
    struct env *e;
    xg_hv *hv;
};

static int suspend_then_bump_p2m_generation(void *arg, xg_diag *d)
{
    struct bump_on_suspend *a = arg;
    int rc = xg_hv_suspend(a->hv, a->e->dom, 60000, d);
    if (rc < 0)
        return rc;
    struct sim_host *h;
    ck_assert_int_eq(sim_host_open(a->e->host, d, &h), 0);
    ck_assert_int_eq(sim_lock(h, 0, d), 0);
    struct sim_domain *dom = sim_domain(h, a->e->dom);
    unsigned off = xg_shinfo_layout64.p2m_generation;
    ck_assert_uint_ne(sim_shinfo_word(h, dom, xg_shinfo_layout64.p2m_cr3), 0); /* a linear p2m */
    uint64_t gen = sim_shinfo_word(h, dom, off);
    sim_write_u64(h, dom->shared_info_mfn, off / 8, gen + 2);
    sim_unlock(h);
    sim_host_close(h);
    return 0;
}

START_TEST(p2m_rebuilt_before_suspend_stops_the_save)
{
    struct env e;
    env_init(&e, "linux64", 8 << 20, 1, 1, 0);
    xg_diag *d = xg_diag_new();
    xg_hv *hv = xgt_open_sim(e.host);
    struct bump_on_suspend a = { &e, hv };
    struct xg_save_callbacks cb = { .suspend = suspend_then_bump_p2m_generation, .arg = &a };
    struct xg_save_params p = { .live = true, .max_iters = 2 };
    int fd = open(e.img, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ck_assert_int_ge(fd, 0);
    int rc = xg_save(hv, e.dom, fd, &p, &cb, NULL, d);
    close(fd);
    xg_hv_close(hv);
    ck_assert_int_eq(rc, XG_E_GUEST);
    const struct xg_finding *f = xg_diag_first_error(d);
    ck_assert(f && f->loc.field && strcmp(f->loc.field, "arch.p2m_generation") == 0);
    ck_assert(xgt_diag_has(d, "rebuilt its p2m"));
    xg_diag_free(d);
    env_fini(&e);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("save");
    TCase *tc = tcase_create("image_is_the_guest");
    tcase_set_timeout(tc, 120);
    tcase_add_loop_test(tc, image_is_the_guest, 0, 6);
    suite_add_tcase(s, tc);
    tc = tcase_create("live_save_under_churn");
    tcase_set_timeout(tc, 120);
    /* Under valgrind (make check-valgrind) one layout: each takes a minute or more there. */
    tcase_add_loop_test(tc, live_save_under_churn, 0, getenv("XGT_VALGRIND") ? 1 : 3);
    suite_add_tcase(s, tc);
    tc = tcase_create("pipelined_save");
    tcase_set_timeout(tc, 120);
    tcase_add_loop_test(tc, pipelined_save_writes_the_serial_image, 0, 2);
    tcase_add_loop_test(tc, receiver_gone_mid_memory_cleans_up, 0, 2);
    suite_add_tcase(s, tc);
    struct {
        const char *name;
        const TTest *t;
    } cases[] = {
        { "live_save_ends_with_last_content", live_save_ends_with_last_content },
        { "live_save_respects_limits", live_save_respects_limits },
        { "live_save_sends_the_last_dirty_set_live", live_save_sends_the_last_dirty_set_live },
        { "verify_pass_compares_the_second_copy", verify_pass_compares_the_second_copy },
        { "dom0_writable_map_is_named", dom0_writable_map_is_named },
        { "foreign_pte_is_named", foreign_pte_is_named },
        { "failed_save_left_for_the_toolstack", failed_save_left_for_the_toolstack },
        { "stale_table_still_restorable", stale_table_still_restorable },
        { "closed_pipe_resumes_the_guest", closed_pipe_resumes_the_guest },
        { "injected_map_failure_cleans_up", injected_map_failure_cleans_up },
        { "preflight_changes_nothing", preflight_changes_nothing },
        { "preflight_finds_every_problem", preflight_finds_every_problem },
        { "preflight_foreign_mapping_running_then_paused", preflight_foreign_mapping_running_then_paused },
        { "p2m_rebuilt_before_suspend_stops_the_save", p2m_rebuilt_before_suspend_stops_the_save },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        tc = tcase_create(cases[i].name);
        tcase_set_timeout(tc, 120);
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
