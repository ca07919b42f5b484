/*
 * bench_sim - the simulated host's speed where tests wait on it.
 *
 *   bench_sim [--mem MIB] [--vcpus N] [--layout L] [--runs R] [--rate PERCENT] [--seconds T] [--dir DIR]
 *
 * Build: a fresh host (the guest's pages plus 10%) in a temporary file
 * under DIR (default $TMPDIR or /tmp); sim_build of one guest (default a
 * 1 GiB linux64 guest with 2 vcpus) as `xg-sim create` does it: populate,
 * write the tables, pin, set the vcpus.  Reported: seconds and pages per
 * second, the median of R runs (a new host each run), then the time of a
 * self-check and of the consistency checker on the last guest.
 *
 * Workload: sim_workload on that guest asked to dirty PERCENT of its pages
 * per second (default 5) for T seconds (default 3), as `xg-sim run` does;
 * reported: the rate asked, the rate achieved (pages written over elapsed
 * time) and their ratio, then the same at 10x the rate to show headroom.
 *
 * Not a test: it prints figures and exits 0 (1 on errors).
 */
#include "config.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "hv/sim/guest.h"
#include "hv/sim/sim.h"
#include "internal.h"

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void usage(FILE *f)
{
    fprintf(f, "usage: bench_sim [--mem MIB] [--vcpus N] [--layout linux64|pae32|netbsd64] [--runs R]\n"
               "                 [--rate PERCENT_PER_SEC] [--seconds T] [--dir DIR]\n");
}

/* The host file goes whatever happens. */
static char path[4096];
static void remove_host(void)
{
    if (path[0])
        unlink(path);
}

static int fail(xg_diag *d, const char *what)
{
    fprintf(stderr, "bench_sim: %s failed\n", what);
    xg_diag_print(stderr, d, false);
    return 1;
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        { "mem", required_argument, NULL, 'm' },     { "vcpus", required_argument, NULL, 'v' },
        { "layout", required_argument, NULL, 'l' },  { "runs", required_argument, NULL, 'r' },
        { "rate", required_argument, NULL, 'p' },    { "seconds", required_argument, NULL, 's' },
        { "dir", required_argument, NULL, 'd' },     { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    unsigned long mib = 1024, vcpus = 2, runs = 3;
    double percent = 5, seconds = 3;
    const char *dir = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    enum sim_layout layout = SIM_LAYOUT_LINUX64;
    int c;
    while ((c = getopt_long(argc, argv, "m:v:l:r:p:s:d:h", opts, NULL)) != -1) {
        switch (c) {
        case 'm': mib = strtoul(optarg, NULL, 10); break;
        case 'v': vcpus = strtoul(optarg, NULL, 10); break;
        case 'r': runs = strtoul(optarg, NULL, 10); break;
        case 'p': percent = strtod(optarg, NULL); break;
        case 's': seconds = strtod(optarg, NULL); break;
        case 'd': dir = optarg; break;
        case 'l':
            if (!(layout = sim_layout_from_name(optarg))) {
                usage(stderr);
                return 1;
            }
            break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 1;
        }
    }
    if (!mib || !vcpus || vcpus > SIM_MAX_VCPUS || !runs || runs > 99 || percent <= 0 || seconds <= 0) {
        usage(stderr);
        return 1;
    }
    uint64_t pages = (uint64_t)mib << 8;
    uint64_t frames = pages + pages / 10 + SIM_XEN_FRAMES + 1024;
    /*
     * The host file is sparse, but the build writes every guest page: on a
     * full disk the writes through the mapping end in SIGBUS.  Ask first.
     */
    struct statvfs vfs;
    uint64_t need = (frames + frames / 8) * SIM_PAGE;
    if (statvfs(dir, &vfs) == 0 && (uint64_t)vfs.f_bavail * vfs.f_frsize < need) {
        fprintf(stderr, "bench_sim: %s has %llu MiB free; a guest of %lu MiB needs about %llu MiB there\n", dir,
                (unsigned long long)((uint64_t)vfs.f_bavail * vfs.f_frsize >> 20), mib,
                (unsigned long long)(need >> 20));
        return 1;
    }
    snprintf(path, sizeof(path), "%s/bench_sim.%d.host", dir, (int)getpid());
    atexit(remove_host);
    xg_diag *d = xg_diag_new();
    if (!d)
        return 1;

    printf("bench_sim: %s guest of %lu MiB (%llu pages), %lu vcpus, host of %llu frames in %s, median of %lu runs\n",
           sim_layout_name(layout), mib, (unsigned long long)pages, vcpus, (unsigned long long)frames, dir, runs);
    double t_build[99];
    struct sim_host *h = NULL;
    uint32_t domid = 0;
    for (unsigned long r = 0; r < runs; r++) {
        if (h) {
            sim_host_close(h);
            unlink(path);
        }
        h = NULL;
        if (sim_host_create(path, frames, d) < 0 || sim_host_open(path, d, &h) < 0)
            return fail(d, "creating the host");
        struct sim_build_opts o = { .layout = layout, .mem_bytes = (uint64_t)mib << 20, .nr_vcpus = (unsigned)vcpus,
                                    .seed = r + 1 };
        double t0 = xg__now();
        if (sim_build(h, &o, &domid, d) < 0)
            return fail(d, "building the guest");
        t_build[r] = xg__now() - t0;
    }
    qsort(t_build, runs, sizeof(double), cmp_double);
    double tb = t_build[runs / 2];
    printf("build: %.2f s, %.0f pages/s (runs from %.2f to %.2f s)\n", tb, (double)pages / tb, t_build[0],
           t_build[runs - 1]);

    double t0 = xg__now();
    if (sim_self_check(h, domid, d) < 0)
        return fail(d, "the self-check");
    double t_self = xg__now() - t0;
    t0 = xg__now();
    if (sim_check_consistency(h, d) < 0)
        return fail(d, "the consistency check");
    double t_check = xg__now() - t0;
    printf("self-check: %.3f s; consistency check of %llu frames: %.3f s\n", t_self, (unsigned long long)frames,
           t_check);

    for (int k = 0; k < 2; k++) {
        double pct = k ? percent * 10 : percent;
        double rate = (double)pages * pct / 100;
        struct sim_workload_stats st;
        t0 = xg__now();
        if (sim_workload(h, domid, rate, seconds, 7, &st, d) < 0)
            return fail(d, "the workload");
        double el = xg__now() - t0, got = (double)st.pages_written / el;
        printf("workload at %g%% of pages/s: asked %.0f pages/s for %g s, wrote %llu pages in %.2f s = %.0f pages/s "
               "(%.1f%% of the rate asked)\n",
               pct, rate, seconds, (unsigned long long)st.pages_written, el, got, 100 * got / rate);
    }
    sim_host_close(h);
    unlink(path);
    xg_diag_free(d);
    return 0;
}
