/*
 * roundtrip.c - the roundtrip group: save to a file (a workload dirtying
 * the guest during a live save), inspect, restore with --create onto a
 * second host, verify both hosts.
 */
#include "config.h"

#include "harness.h"

/*
 * Save to a file (a workload dirtying the guest during a live save),
 * inspect, restore with --create onto a second host, verify.
 */
void scen_roundtrip(struct scenario *s, const struct params *p)
{
    uint32_t d1;
    if (!init_hosts(s, p->mem_mb) || !create_guest(s, "h1", p, &d1) ||
        !expect_state(s, "h1", d1, "running"))
        return;
    struct spawn o;
    spawn_defaults(&o);
    struct child *work = NULL;
    if (p->live && p->dirty_rate > 0) {
        work = start_workload(s, "h1", d1, p);
        sleep_s(0.2);
    }
    struct child *save = child_start(s, &o, save_argv(s, d1, p, "guest.img"));
    struct child *both[2] = { save, work };
    wait_all(s, both, work ? 2 : 1);
    if (!expect_exit(s, save, 0) || (work && !workload_ok(s, work)))
        return;
    if (!expect_state(s, "h1", d1, "suspended") || !inspect_ok(s, "guest.img"))
        return;
    int gz = file_is_gzip(s, "guest.img");
    if (gz != (int)p->compress) {
        fail(s, "guest.img is %s, expected %s",
             gz < 0 ? "missing"
             : gz   ? "gzip"
                    : "not gzip",
             p->compress ? "gzip (--compress)" : "a bare stream");
        return;
    }
    struct child *r = restore_create(s, "h2", p->vcpus, "guest.img");
    struct restored res;
    if (!expect_exit(s, r, 0) || !parse_restore_output(s, r, true, &res))
        return;
    if (!expect_state(s, "h2", (uint32_t)res.domid, "restored"))
        return;
    verify_restored(s, "h1", d1, "h2", (uint32_t)res.domid);
}

/* The group's scenarios, in the quick or the full matrix. */
void roundtrip_register(struct matrix *mx, const struct config *cfg)
{
    const bool full = cfg->full;

    /* roundtrip: layout x {non-live, live} x {raw, gzip}; quick: one size and seed
     * each, rotating through 16M-64M, seeds 1-2, 1-3 vcpus; full: every size and seed. */
    static const unsigned quick_mem[] = { 16, 32, 64 };
    static const unsigned full_mem[] = { 16, 64, 256 };
    const unsigned nseeds = full ? 3 : 1, nmem = full ? 3 : 1;
    for (unsigned l = 0; l < NLAYOUTS; l++)
        for (unsigned live = 0; live < 2; live++)
            for (unsigned z = 0; z < 2; z++)
                for (unsigned mi = 0; mi < nmem; mi++)
                    for (unsigned si = 0; si < nseeds; si++, mx->k++) {
                        struct params p = {
                            .layout = layouts[l],
                            .mem_mb = full ? full_mem[mi] : quick_mem[mx->k % 3],
                            .vcpus = 1 + mx->k % 3,
                            .seed = full ? si + 1 : 1 + mx->k % 2,
                            .live = live,
                            .compress = z,
                            .dirty_rate = live ? 5000 : 0,
                            .dirty_seconds = 1,
                        };
                        add(mx, cfg, "roundtrip", scen_roundtrip, &p, "%s-%uM-s%u-v%u-%s", p.layout,
                            p.mem_mb, p.seed, p.vcpus, mode_name(&p));
                    }
}
