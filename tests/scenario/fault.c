/*
 * fault.c - the fault group: guests built with an injected fault that
 * xc_save must refuse naming the frame (or, for stale-table, round-trip).
 */
#include "config.h"

#include "harness.h"

/*
 * What xc_save must say about a fault, on stderr.  `check`: the pre-flight
 * check of a running guest, which can only warn about a foreign mapping
 * (a running guest may hold one for a while; the save fails if it is
 * still there at suspend).
 */
static bool fault_reported(struct scenario *s, const struct child *c, const char *fault, bool check)
{
    const char *err = buf_str(&c->err);
    if (!strcmp(fault, "dom0-writable-map")) {
        if (!has_line_with(err, "error: ", ARGV("cannot map pfn 0x", "mfn 0x", "read-only")))
            return fail(s, "%s: no \"error: cannot map pfn 0x... (mfn 0x...) read-only\" line",
                        c->cmd);
        if (!strstr(err, "writable"))
            return fail(s, "%s: the diagnostic does not say \"writable\"", c->cmd);
        if (!has_line_with(err, "  Xen would log: ", ARGV("Bad type")))
            return fail(s, "%s: no \"Xen would log: Bad type ...\" line", c->cmd);
    } else if (!strcmp(fault, "foreign-pte")) {
        const char *sev = check ? "warning: L1 table at pfn 0x" : "error: L1 table at pfn 0x";
        if (!has_line_with(err, sev, ARGV("slot ", "a frame of domain ", "entry 0x")))
            return fail(s, "%s: no \"%s..., slot N, ... a frame of domain N\" line", c->cmd, sev);
    }
    return true;
}

/*
 * xc_save of a guest whose host or page tables are broken: refused,
 * nothing written, guest running.
 */
static void scen_fault_refused(struct scenario *s, const struct params *p)
{
    uint32_t d1;
    if (!sim_init(s, "h1", p->mem_mb) || !create_guest(s, "h1", p, &d1))
        return;
    const char *dom = S(s, "%u", d1);
    /* The pre-flight check finds it without suspending anything. */
    struct child *c = run(s,
                          ARGV(s->cfg->xc_save, "--backend", "sim:h1", "--domid", dom, "--check"));
    bool warn_only = !strcmp(p->fault, "foreign-pte");
    if (!expect_exit(s, c, warn_only ? 0 : 1) || !fault_reported(s, c, p->fault, true) ||
        !expect_state(s, "h1", d1, "running"))
        return;
    struct spawn o;
    spawn_defaults(&o);
    c = run_with(s, &o, save_argv(s, d1, p, "guest.img"));
    if (!expect_exit(s, c, 1) || !fault_reported(s, c, p->fault, false))
        return;
    if (!no_file_like(s, "guest.img"))
        return;
    if (!expect_state(s, "h1", d1, "running"))
        return;
    c = run(s, ARGV(s->cfg->xg_sim, "self-check", "h1", dom));
    if (!expect_exit(s, c, 0))
        return;
    host_consistent(s, "h1");
}

/* The group's scenarios, in the quick or the full matrix. */
void fault_register(struct matrix *mx, const struct config *cfg)
{
    const bool full = cfg->full;

    /* fault: each fault x layout x {non-live, live} (full: x 2 seeds). */
    static const char *const faults[] = { "dom0-writable-map", "foreign-pte", "stale-table" };
    for (unsigned f = 0; f < 3; f++)
        for (unsigned l = 0; l < NLAYOUTS; l++)
            for (unsigned live = 0; live < 2; live++)
                for (unsigned si = 0; si < (full ? 2U : 1U); si++, mx->k++) {
                    struct params p = {
                        .layout = layouts[l],
                        .mem_mb = 16 + 16 * (mx->k % 2),
                        .vcpus = 1 + mx->k % 3,
                        .seed = si + 1,
                        .live = live,
                        .fault = faults[f],
                        .dirty_rate = 0,
                    };
                    add(mx, cfg, "fault", f == 2 ? scen_roundtrip : scen_fault_refused, &p,
                        "%s-%s-%uM-s%u-v%u-%s", faults[f], p.layout, p.mem_mb, p.seed, p.vcpus,
                        mode_name(&p));
                }
}
