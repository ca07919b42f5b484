/*
 * churn.c - the churn group: a live save while `xg-sim run` plays a
 * kernel that builds and frees address spaces, balloons and grant-maps;
 * and the churn alone, the host checked meanwhile.
 */
#include "config.h"

#include "harness.h"

/* xg-sim run with the kernel's churn; dirty_rate is a fraction of the guest's pages per second. */
static struct child *start_churn(struct scenario *s, const char *host, uint32_t domid,
                                 const struct params *p)
{
    struct spawn o;
    spawn_defaults(&o);
    o.timeout = p->dirty_seconds + s->cfg->timeout;
    double pages = (double)p->mem_mb * 256;
    return child_start(
        s, &o,
        ARGV(s->cfg->xg_sim, "run", host, S(s, "%u", domid), "--seconds",
             S(s, "%g", p->dirty_seconds), "--dirty-rate", S(s, "%g", p->dirty_rate * pages),
             "--pt-churn", S(s, "%g", p->pt_churn), "--balloon", S(s, "%g", p->balloon),
             "--grant-maps", S(s, "%g", p->grant_maps), "--seed", S(s, "%u", p->seed + 100)));
}

/* The run exited 0 and its kernel built address spaces (and ballooned, grant-mapped) as asked. */
static bool churn_ok(struct scenario *s, const struct child *w, const struct params *p)
{
    if (!workload_ok(s, w))
        return false;
    const char *o = buf_str(&w->out);
    unsigned long long built = 0, torn = 0, out = 0, maps = 0;
    const char *a = strstr(o, "address spaces: "), *b = strstr(o, "balloon: "),
               *g = strstr(o, "grant maps: ");
    if (!a || sscanf(a, "address spaces: %llu built, %llu torn down", &built, &torn) != 2 || !b ||
        sscanf(b, "balloon: %llu pages out", &out) != 1 || !g ||
        sscanf(g, "grant maps: %llu mapped", &maps) != 1)
        return fail(s, "%s: no \"address spaces:\", \"balloon:\" and \"grant maps:\" lines",
                    w->cmd);
    bool idle = (p->pt_churn > 0 && (!built || !torn)) || (p->balloon > 0 && !out) ||
                (p->grant_maps > 0 && !maps);
    if (idle)
        return fail(s,
                    "%s: the kernel did not churn as asked (%llu spaces built, %llu torn down, "
                    "%llu pages ballooned, %llu grant maps)",
                    w->cmd, built, torn, out, maps);
    return true;
}

/*
 * A live save while the guest's kernel builds, pins, switches to and tears
 * down address spaces, balloons and grant-maps: the image restores to a
 * guest equal to the source at suspend, whose self-check passes.
 */
static void scen_churn_live(struct scenario *s, const struct params *p)
{
    uint32_t d1;
    if (!init_hosts(s, p->mem_mb) || !create_guest(s, "h1", p, &d1))
        return;
    struct child *work = start_churn(s, "h1", d1, p);
    sleep_s(0.3);
    struct spawn o;
    spawn_defaults(&o);
    struct child *save = child_start(s, &o, save_argv(s, d1, p, "guest.img"));
    struct child *both[2] = { save, work };
    wait_all(s, both, 2);
    bool ok = expect_exit(s, save, 0);
    ok &= churn_ok(s, work, p);
    if (!ok || !expect_state(s, "h1", d1, "suspended") || !inspect_ok(s, "guest.img"))
        return;
    struct child *r = restore_create(s, "h2", p->vcpus, "guest.img");
    struct restored res;
    if (!expect_exit(s, r, 0) || !parse_restore_output(s, r, true, &res))
        return;
    verify_restored(s, "h1", d1, "h2", (uint32_t)res.domid);
}

/* The churn alone on a running guest, the host checked while it runs and after. */
static void scen_churn_run(struct scenario *s, const struct params *p)
{
    uint32_t d1;
    if (!sim_init(s, "h1", p->mem_mb) || !create_guest(s, "h1", p, &d1))
        return;
    struct child *work = start_churn(s, "h1", d1, p);
    sleep_s(p->dirty_seconds / 2);
    bool ok = host_consistent(s, "h1");
    struct child *c = run(s, ARGV(s->cfg->xg_sim, "self-check", "h1", S(s, "%u", d1)));
    ok &= expect_exit(s, c, 0);
    wait_all(s, &work, 1);
    if (!churn_ok(s, work, p) || !ok || !expect_state(s, "h1", d1, "running"))
        return;
    c = run(s, ARGV(s->cfg->xg_sim, "self-check", "h1", S(s, "%u", d1)));
    if (expect_exit(s, c, 0))
        host_consistent(s, "h1");
}

/* The group's scenarios, in the quick or the full matrix. */
void churn_register(struct matrix *mx, const struct config *cfg)
{
    const bool full = cfg->full;

    /*
     * churn: a live save while the kernel churns (2 page-table rates, 100
     * pages/s ballooned, 5% of the guest dirtied per second, grant maps on
     * alternate seeds), per layout; quick: one seed each; full: 9 seeds each
     * (54).  And the churn alone, the host checked meanwhile.
     */
    static const double pt_rates[] = { 50, 500 };
    for (unsigned l = 0; l < NLAYOUTS; l++)
        for (unsigned ri = 0; ri < 2; ri++)
            for (unsigned si = 0; si < (full ? 9U : 1U); si++, mx->k++) {
                if (!full && ri != l % 2)
                    continue;
                struct params p = {
                    .layout = layouts[l],
                    .mem_mb = 32 + 32 * (mx->k % 2),
                    .vcpus = 1 + mx->k % 3,
                    .seed = si + 1 + ri * 10,
                    .live = true,
                    .dirty_rate = 0.05,
                    .dirty_seconds = 2.5,
                    .pt_churn = pt_rates[ri],
                    .balloon = 100,
                    .grant_maps = (si % 2) ? 0 : 50,
                };
                add(mx, cfg, "churn", scen_churn_live, &p,
                    "live-%s-%uM-s%u-v%u-pt%g-balloon%g-grants%g", p.layout, p.mem_mb, p.seed,
                    p.vcpus, p.pt_churn, p.balloon, p.grant_maps);
            }
    for (unsigned l = 0; l < NLAYOUTS; l++, mx->k++) {
        struct params p = {
            .layout = layouts[l],
            .mem_mb = 32,
            .vcpus = 2,
            .seed = 1 + l,
            .dirty_rate = 0.05,
            .dirty_seconds = full ? 10 : 2,
            .pt_churn = 500,
            .balloon = 100,
            .grant_maps = 50,
        };
        add(mx, cfg, "churn", scen_churn_run, &p, "run-%s-%uM-v%u-%gs-pt%g-balloon%g-grants%g",
            p.layout, p.mem_mb, p.vcpus, p.dirty_seconds, p.pt_churn, p.balloon, p.grant_maps);
    }
}
