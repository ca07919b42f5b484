/*
 * livepipe.c - the livepipe group: xc_save --live piped straight into
 * xc_restore --create while the source is dirtied.
 */
#include "config.h"

#include "harness.h"

/*
 * xc_save --live --out - | xc_restore --create --in -, no file, while the
 * workload dirties the source: more than one pass, and the destination
 * equals the source as it was at suspend (the source stays suspended).
 */
static void scen_livepipe(struct scenario *s, const struct params *p)
{
    uint32_t d1;
    if (!init_hosts(s, p->mem_mb) || !create_guest(s, "h1", p, &d1))
        return;
    struct child *work = start_workload(s, "h1", d1, p);
    sleep_s(0.2);
    int pp[2];
    if (pipe2(pp, O_CLOEXEC) < 0)
        die("pipe: %s", strerror(errno));
    struct spawn so, ro;
    spawn_defaults(&so);
    spawn_defaults(&ro);
    so.stdout_fd = pp[1];
    ro.stdin_fd = pp[0];
    struct child *save = child_start(s, &so, save_argv(s, d1, p, "-"));
    struct child *rest = child_start(s, &ro,
                                     ARGV(s->cfg->xc_restore, "--backend", "sim:h2", "--create",
                                          "--vcpus", S(s, "%u", p->vcpus), "--in", "-"));
    close(pp[0]);
    close(pp[1]);
    struct child *all[3] = { save, rest, work };
    wait_all(s, all, 3);
    bool ok = expect_exit(s, save, 0);
    ok &= expect_exit(s, rest, 0);
    ok &= workload_ok(s, work);
    if (!ok)
        return;
    const char *err = buf_str(&save->err);
    /* "xc_save: saved domain N: P pages in K passes, T s" */
    unsigned passes = 0;
    const char *sv = strstr(err, "xc_save: saved domain ");
    const char *in = sv ? strstr(sv, " pages in ") : NULL;
    if (!in || sscanf(in, " pages in %u pass", &passes) != 1)
        fail(s, "%s: no \"saved domain N: ... pages in K passes\" line", save->cmd);
    else if (passes < 2 || !has_line_with(err, "xc_save: pass 2:", ARGV("sent")))
        fail(s, "%s: %u pass(es) only: the workload dirtied nothing during the first pass",
             save->cmd, passes);
    struct restored res;
    if (!parse_restore_output(s, rest, true, &res) || !expect_state(s, "h1", d1, "suspended"))
        return;
    verify_restored(s, "h1", d1, "h2", (uint32_t)res.domid);
}

/* The group's scenarios, in the quick or the full matrix. */
void livepipe_register(struct matrix *mx, const struct config *cfg)
{
    const bool full = cfg->full;

    /* livepipe: layout x {raw, gzip} (full: x sizes x dirty rates). */
    static const unsigned pipe_mem[] = { 64, 256 };
    static const double rates[] = { 20000, 60000 };
    for (unsigned l = 0; l < NLAYOUTS; l++)
        for (unsigned z = 0; z < 2; z++)
            for (unsigned mi = 0; mi < (full ? 2U : 1U); mi++)
                for (unsigned ri = 0; ri < (full ? 2U : 1U); ri++, mx->k++) {
                    struct params p = {
                        .layout = layouts[l],
                        .mem_mb = pipe_mem[mi],
                        .vcpus = 1 + mx->k % 3,
                        .seed = 1 + mx->k % 2,
                        .live = true,
                        .compress = z,
                        .dirty_rate = rates[ri],
                        .dirty_seconds = 2,
                    };
                    add(mx, cfg, "livepipe", scen_livepipe, &p, "%s-%uM-s%u-v%u-%s-%gpps", p.layout,
                        p.mem_mb, p.seed, p.vcpus, z ? "gzip" : "raw", p.dirty_rate);
                }
}
