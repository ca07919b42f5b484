/*
 * xg-sim - drive a simulated Xen host.
 *
 * Exit status: 0 success, 1 failure (a one-line reason on stderr), 2 usage.
 */
#include "config.h"

#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../common/cli.h"
#include "hv/sim/guest.h"
#include "xg/xg.h"

static const char *prog = "xg-sim";

static void usage(FILE *out)
{
    fprintf(out,
            "usage: %s COMMAND HOST [ARGS]\n"
            "\n"
            "A simulated Xen 4.17 host kept in the file HOST, enforcing Xen's x86 PV\n"
            "page-type rules, for xc_save/xc_restore without a hypervisor.\n"
            "\n"
            "  init HOST [--frames N]          create a host (default 524288 frames = 2 GiB)\n"
            "  create HOST --layout L --mem SIZE [--vcpus N] [--seed S] [--fault F]...\n"
            "                                  build a guest; prints its domid\n"
            "      layouts: linux64, pae32, netbsd64\n"
            "      faults:  dom0-writable-map, foreign-pte, stale-table\n"
            "  create HOST --empty --mem SIZE [--vcpus N] [--width 8|4]\n"
            "                                  an empty domain, as a toolstack makes one\n"
            "                                  before a restore; prints its domid\n"
            "  list HOST                       domains and their state (\"log-dirty\" last if on)\n"
            "  suspend HOST DOMID              the guest suspends itself (shutdown suspend)\n"
            "  resume HOST DOMID               resume a suspended or freshly restored guest\n"
            "  destroy HOST DOMID              destroy a domain\n"
            "  run HOST DOMID --seconds T [--dirty-rate PAGES_PER_SEC]\n"
            "      [--pt-churn SPACES_PER_SEC] [--balloon PAGES_PER_SEC]\n"
            "      [--grant-maps MAPS_PER_SEC] [--seed S]\n"
            "                                  the guest's kernel at work for T seconds: it\n"
            "                                  dirties pages; builds, pins, runs on and tears\n"
            "                                  down address spaces (fork/exec/exit); gives\n"
            "                                  pages back to Xen and takes them again; maps a\n"
            "                                  peer domain's pages for a moment, as a backend\n"
            "                                  does.  Each rate defaults to 0; at least one is\n"
            "                                  needed.  Every step obeys Xen's rules: a refused\n"
            "                                  step stops the run (exit 1).  A paused or\n"
            "                                  suspended guest runs nothing meanwhile.\n"
            "  self-check HOST DOMID           walk the guest's page tables from each vcpu's\n"
            "                                  cr3 and check its canaries and p2m\n"
            "  compare HOST_A DOMID_A HOST_B DOMID_B\n"
            "                                  compare two guests in PFN space\n"
            "  check HOST                      recount every reference on the host\n"
            "  log HOST [--trace]              the host's Xen console log\n"
            "\n"
            "Exit status: 0 success, 1 failure, 2 usage error.\n",
            prog);
}

#define usage_error(...) cli_usage_error(prog, NULL, __VA_ARGS__)

static int report(xg_diag *d, int rc)
{
    if (rc < 0)
        xg_diag_print(stderr, d, false);
    return rc < 0 ? EXIT_FAIL : EXIT_OK;
}

static bool parse_domid(const char *s, uint32_t *out)
{
    uint64_t v;
    if (!cli_parse_u64(s, 0, 0x7fef, &v))
        return false;
    *out = (uint32_t)v;
    return true;
}

static int open_host(const char *path, xg_diag *d, struct sim_host **h)
{
    return sim_host_open(path, d, h);
}

static int cmd_init(int argc, char **argv, xg_diag *d)
{
    static const struct option opts[] = { { "frames", required_argument, NULL, 'f' },
                                          { NULL, 0, NULL, 0 } };
    uint64_t frames = 524288;
    int c;
    while ((c = getopt_long(argc, argv, "f:", opts, NULL)) != -1) {
        if (c != 'f' || !cli_parse_u64(optarg, 1, 1ULL << 28, &frames))
            return c == 'f' ? usage_error("bad --frames value \"%s\"", optarg)
                            : usage_error("bad option");
    }
    if (optind != argc - 1)
        return usage_error("init takes one HOST argument");
    return report(d, sim_host_create(argv[optind], frames, d));
}

static int cmd_create(int argc, char **argv, xg_diag *d)
{
    static const struct option opts[] = {
        { "layout", required_argument, NULL, 'l' }, { "mem", required_argument, NULL, 'm' },
        { "vcpus", required_argument, NULL, 'v' },  { "seed", required_argument, NULL, 's' },
        { "fault", required_argument, NULL, 'f' },  { "empty", no_argument, NULL, 'e' },
        { "width", required_argument, NULL, 'w' },  { NULL, 0, NULL, 0 },
    };
    struct sim_build_opts o = { .nr_vcpus = 1, .seed = 1 };
    bool empty = false, have_mem = false;
    uint64_t v, width = 8;
    int c;
    while ((c = getopt_long(argc, argv, "l:m:v:s:f:ew:", opts, NULL)) != -1) {
        switch (c) {
        case 'l':
            if (!(o.layout = sim_layout_from_name(optarg)))
                return usage_error("unknown layout \"%s\" (linux64, pae32, netbsd64)", optarg);
            break;
        case 'm':
            /* Any whole number of pages: the builder says how small each layout can be. */
            if (!cli_parse_size(optarg, &o.mem_bytes) || !o.mem_bytes || o.mem_bytes % 4096)
                return usage_error("bad --mem \"%s\" (a size in whole 4 KiB pages, such as 128M)",
                                   optarg);
            have_mem = true;
            break;
        case 'v':
            if (!cli_parse_u64(optarg, 1, SIM_MAX_VCPUS, &v))
                return usage_error("bad --vcpus \"%s\" (1..16)", optarg);
            o.nr_vcpus = (unsigned)v;
            break;
        case 's':
            if (!cli_parse_u64(optarg, 0, UINT64_MAX, &o.seed))
                return usage_error("bad --seed \"%s\"", optarg);
            break;
        case 'f': {
            unsigned f = sim_fault_from_name(optarg);
            if (!f)
                return usage_error(
                    "unknown fault \"%s\" (dom0-writable-map, foreign-pte, stale-table)", optarg);
            o.faults |= f;
            break;
        }
        case 'e':
            empty = true;
            break;
        case 'w':
            if (!cli_parse_u64(optarg, 4, 8, &width) || (width != 4 && width != 8))
                return usage_error("bad --width \"%s\" (8 or 4)", optarg);
            break;
        default:
            return usage_error("bad option for create");
        }
    }
    if (optind != argc - 1)
        return usage_error("create takes one HOST argument");
    if (!have_mem)
        return usage_error("create needs --mem SIZE");
    if (!empty && !o.layout)
        return usage_error("create needs --layout (or --empty)");
    if (empty && (o.layout || o.faults))
        return usage_error("--empty takes no --layout or --fault");
    struct sim_host *h;
    int rc = open_host(argv[optind], d, &h);
    if (rc < 0)
        return report(d, rc);
    uint32_t domid = 0;
    if (empty) {
        rc = sim_lock(h, 0, d);
        if (rc == 0) {
            int e = sim_domain_create(h, (unsigned)width, o.nr_vcpus, o.mem_bytes / 4096, &domid);
            if (e < 0) {
                sim_abort(h);
                rc = xg_diag_syserr(d, XG_E_HV, -e, NULL, "creating the domain failed");
            } else {
                sim_unlock(h);
            }
        }
    } else {
        rc = sim_build(h, &o, &domid, d);
    }
    sim_host_close(h);
    if (rc == 0)
        printf("%u\n", domid);
    return report(d, rc);
}

static int cmd_domid_op(const char *cmd, int argc, char **argv, xg_diag *d)
{
    if (argc - optind != 2)
        return usage_error("%s takes HOST DOMID", cmd);
    uint32_t domid;
    if (!parse_domid(argv[optind + 1], &domid))
        return usage_error("bad DOMID \"%s\"", argv[optind + 1]);
    struct sim_host *h;
    int rc = open_host(argv[optind], d, &h);
    if (rc < 0)
        return report(d, rc);
    if (!strcmp(cmd, "self-check")) {
        rc = sim_self_check(h, domid, d);
        if (rc == 0)
            printf("domain %u: self-check passed\n", domid);
    } else if ((rc = sim_lock(h, 0, d)) == 0) {
        int e = 0;
        if (!strcmp(cmd, "destroy")) {
            e = sim_domain_destroy(h, domid);
            if (e < 0)
                rc = xg_diag_syserr(d, XG_E_NOTFOUND, -e, NULL, "no domain %u", domid);
        } else if (!strcmp(cmd, "suspend")) {
            h->caller = domid;
            rc = sim_guest_suspend(h, domid, d);
        } else {
            h->caller = domid;
            rc = sim_guest_resume(h, domid, d);
        }
        if (rc < 0)
            sim_abort(h);
        else
            sim_unlock(h);
    }
    sim_host_close(h);
    return report(d, rc);
}

static const char *state_of(const struct sim_domain *dom)
{
    if (dom->dying)
        return "dying";
    if (dom->shutdown)
        return dom->shutdown_reason == XG_SHUTDOWN_SUSPEND ? "suspended" : "shutdown";
    if (dom->flags & SIM_DOM_RESTORED)
        return "restored";
    if (dom->pause_count)
        return "paused";
    return "running";
}

static int cmd_list(int argc, char **argv, xg_diag *d)
{
    if (argc - optind != 1)
        return usage_error("list takes HOST");
    struct sim_host *h;
    int rc = open_host(argv[optind], d, &h);
    if (rc < 0)
        return report(d, rc);
    if ((rc = sim_lock(h, 0, d)) == 0) {
        printf("host %s: %llu frames, %llu free\n", argv[optind],
               (unsigned long long)h->hdr->nr_frames, (unsigned long long)h->hdr->nr_free);
        printf("%5s  %-10s  %-9s  %5s  %8s  %s\n", "domid", "layout", "state", "width", "MiB",
               "vcpus");
        for (uint32_t i = 0; i < SIM_MAX_DOMAINS; i++) {
            const struct sim_domain *dom = &h->doms[i];
            if (!dom->in_use)
                continue;
            /* A restored guest's layout is whatever its own guest-info page says. */
            struct sim_guest_info gi;
            const char *layout = dom->layout[0] ? dom->layout
                                 : sim_guest_info_get(h, (struct sim_domain *)dom, &gi, NULL) ==
                                             0 &&
                                         sim_layout_name(gi.layout)
                                     ? sim_layout_name(gi.layout)
                                     : "-";
            /* A domain left in log-dirty mode (a save could not switch it off) says so last. */
            printf("%5u  %-10s  %-9s  %5u  %8llu  %u%s\n", dom->domid, layout, state_of(dom),
                   dom->guest_width * 8, (unsigned long long)(dom->tot_pages >> 8), dom->nr_vcpus,
                   dom->logdirty ? "  log-dirty" : "");
        }
        sim_unlock(h);
    }
    sim_host_close(h);
    return report(d, rc);
}

static int cmd_log(int argc, char **argv, xg_diag *d)
{
    static const struct option opts[] = { { "trace", no_argument, NULL, 't' },
                                          { NULL, 0, NULL, 0 } };
    bool trace = false;
    int c;
    while ((c = getopt_long(argc, argv, "t", opts, NULL)) != -1) {
        if (c != 't')
            return usage_error("bad option for log");
        trace = true;
    }
    if (argc - optind != 1)
        return usage_error("log takes HOST");
    struct sim_host *h;
    int rc = open_host(argv[optind], d, &h);
    if (rc < 0)
        return report(d, rc);
    if ((rc = sim_lock(h, 0, d)) == 0) {
        char *log = sim_log_read(h, trace);
        sim_unlock(h);
        if (log)
            fputs(log, stdout);
        free(log);
    }
    sim_host_close(h);
    return report(d, rc);
}

static int cmd_run(int argc, char **argv, xg_diag *d)
{
    static const struct option opts[] = {
        { "dirty-rate", required_argument, NULL, 'r' },
        { "seconds", required_argument, NULL, 't' },
        { "seed", required_argument, NULL, 's' },
        { "pt-churn", required_argument, NULL, 'p' },
        { "balloon", required_argument, NULL, 'b' },
        { "grant-maps", required_argument, NULL, 'g' },
        { NULL, 0, NULL, 0 },
    };
    struct sim_churn_opts o = { .seconds = -1, .seed = 1 };
    bool have_rate = false;
    int c;
    while ((c = getopt_long(argc, argv, "r:t:s:p:b:g:", opts, NULL)) != -1) {
        double *rate = c == 'r'   ? &o.dirty_rate
                       : c == 'p' ? &o.pt_churn
                       : c == 'b' ? &o.balloon
                       : c == 'g' ? &o.grant_maps
                                  : NULL;
        if (rate) {
            const char *name = c == 'r'   ? "dirty-rate"
                               : c == 'p' ? "pt-churn"
                               : c == 'b' ? "balloon"
                                          : "grant-maps";
            if (!cli_parse_double(optarg, 0, 1e9, rate))
                return usage_error("bad --%s \"%s\"", name, optarg);
            have_rate = true;
            continue;
        }
        switch (c) {
        case 't':
            if (!cli_parse_double(optarg, 0, 86400, &o.seconds))
                return usage_error("bad --seconds \"%s\"", optarg);
            break;
        case 's':
            if (!cli_parse_u64(optarg, 0, UINT64_MAX, &o.seed))
                return usage_error("bad --seed \"%s\"", optarg);
            break;
        default:
            return usage_error("bad option for run");
        }
    }
    if (!have_rate || o.seconds < 0)
        return usage_error("run needs --seconds and at least one of --dirty-rate, --pt-churn, "
                           "--balloon, --grant-maps");
    if (argc - optind != 2)
        return usage_error("run takes HOST DOMID");
    uint32_t domid;
    if (!parse_domid(argv[optind + 1], &domid))
        return usage_error("bad DOMID \"%s\"", argv[optind + 1]);
    struct sim_host *h;
    int rc = open_host(argv[optind], d, &h);
    if (rc < 0)
        return report(d, rc);
    bool churn = o.pt_churn > 0 || o.balloon > 0 || o.grant_maps > 0;
    if (!churn) {
        /* Only dirtying: the workload as it always was. */
        struct sim_workload_stats st;
        rc = sim_workload(h, domid, o.dirty_rate, o.seconds, o.seed, &st, d);
        sim_host_close(h);
        if (rc == 0)
            printf("wrote %llu pages (%llu skipped while the guest was not running)\n",
                   (unsigned long long)st.pages_written, (unsigned long long)st.skipped);
        return report(d, rc);
    }
    struct sim_churn_stats st;
    rc = sim_churn_run(h, domid, &o, &st, d);
    sim_host_close(h);
    if (rc == 0) {
        printf("wrote %llu pages (%llu skipped while the guest was not running)\n",
               (unsigned long long)st.dirty.pages_written, (unsigned long long)st.dirty.skipped);
        printf("address spaces: %llu built, %llu torn down, %llu cr3 switches, %llu left\n",
               (unsigned long long)st.spaces_built, (unsigned long long)st.spaces_torn_down,
               (unsigned long long)st.cr3_switches, (unsigned long long)st.spaces_left);
        printf("balloon: %llu pages out, %llu back, %llu still out\n",
               (unsigned long long)st.ballooned_out, (unsigned long long)st.ballooned_in,
               (unsigned long long)st.balloon_left);
        printf("grant maps: %llu mapped, %llu unmapped by the run\n",
               (unsigned long long)st.grant_maps, (unsigned long long)st.grant_unmaps);
        if (st.ticks_skipped)
            printf("%llu ticks skipped while the guest was not running\n",
                   (unsigned long long)st.ticks_skipped);
    }
    return report(d, rc);
}

static int cmd_compare(int argc, char **argv, xg_diag *d)
{
    if (argc - optind != 4)
        return usage_error("compare takes HOST_A DOMID_A HOST_B DOMID_B");
    uint32_t da, db;
    if (!parse_domid(argv[optind + 1], &da))
        return usage_error("bad DOMID \"%s\"", argv[optind + 1]);
    if (!parse_domid(argv[optind + 3], &db))
        return usage_error("bad DOMID \"%s\"", argv[optind + 3]);
    struct sim_host *ha, *hb;
    int rc = open_host(argv[optind], d, &ha);
    if (rc < 0)
        return report(d, rc);
    bool same = strcmp(argv[optind], argv[optind + 2]) == 0;
    if (same)
        hb = ha;
    else if ((rc = open_host(argv[optind + 2], d, &hb)) < 0) {
        sim_host_close(ha);
        return report(d, rc);
    }
    rc = sim_compare(ha, da, hb, db, d);
    if (!same)
        sim_host_close(hb);
    sim_host_close(ha);
    if (rc == 0)
        printf("equal\n");
    return report(d, rc);
}

static int cmd_check(int argc, char **argv, xg_diag *d)
{
    if (argc - optind != 1)
        return usage_error("check takes HOST");
    struct sim_host *h;
    int rc = open_host(argv[optind], d, &h);
    if (rc < 0)
        return report(d, rc);
    rc = sim_check_consistency(h, d);
    sim_host_close(h);
    if (rc == 0)
        printf("host consistent\n");
    return report(d, rc);
}

int main(int argc, char **argv)
{
    if (argc < 2)
        return usage_error("missing COMMAND");
    const char *cmd = argv[1];
    if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h") || !strcmp(cmd, "help")) {
        usage(stdout);
        return EXIT_OK;
    }
    xg_diag *d = xg_diag_new();
    if (!d) {
        fprintf(stderr, "%s: out of memory\n", prog);
        return EXIT_FAIL;
    }
    /* Subcommand argv: getopt starts after the command word; its own messages would double ours. */
    argc--;
    argv++;
    optind = 1;
    opterr = 0;
    int status;
    if (!strcmp(cmd, "init"))
        status = cmd_init(argc, argv, d);
    else if (!strcmp(cmd, "create"))
        status = cmd_create(argc, argv, d);
    else if (!strcmp(cmd, "list"))
        status = cmd_list(argc, argv, d);
    else if (!strcmp(cmd, "log"))
        status = cmd_log(argc, argv, d);
    else if (!strcmp(cmd, "run"))
        status = cmd_run(argc, argv, d);
    else if (!strcmp(cmd, "compare"))
        status = cmd_compare(argc, argv, d);
    else if (!strcmp(cmd, "check"))
        status = cmd_check(argc, argv, d);
    else if (!strcmp(cmd, "suspend") || !strcmp(cmd, "resume") || !strcmp(cmd, "destroy") ||
             !strcmp(cmd, "self-check"))
        status = cmd_domid_op(cmd, argc, argv, d);
    else
        status = usage_error("unknown command \"%s\"", cmd);
    xg_diag_free(d);
    return status;
}
