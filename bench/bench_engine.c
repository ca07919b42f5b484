/*
 * bench_engine - the save and restore engines on a simulated host, beside
 * the pipe baseline measured in the same run (bench/README.md).
 *
 *   bench_engine save    [--mem SIZE] [--runs R]   non-live save to /dev/null and through a pipe
 *                                                  (pipelined, and with the serial writer of before)
 *   bench_engine live    [--mem SIZE] [--rate PCT] live save through a pipe while a workload dirties PCT% of pages/s
 *   bench_engine restore [--mem SIZE] [--runs R]   restore from a file and through a pipe
 *   bench_engine scale   [--sizes MIB,...] [--runs R]  seconds per GiB and peak memory by guest size
 *
 * Throughput counts the guest's page data (pages x 4 KiB), for the engine
 * and for the baseline alike.  Memory is the saving or restoring process's
 * own: its peak anonymous RSS (guest memory lives in the host; the
 * simulated host's frames, mapped in, are left out), with the kernel's
 * whole-RSS high-water mark beside it.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include "benchutil.h"
#include "hv/sim/guest.h"
#include "restore/restore_private.h"
#include "save/save_private.h"
#include "xg/restore.h"
#include "xg/save.h"
#include "xg/xg.h"

static char *dir, *host_a, *host_b, *image;
static uint64_t mem = 1ULL << 30;
static int runs = 3;
static double rate_pct = 5;
static const char *sizes = "256,1024,4096,16384";

static char *path_in(const char *name)
{
    char *p;
    if (asprintf(&p, "%s/%s", dir, name) < 0)
        bench_die("asprintf");
    return p;
}

static void cleanup(void)
{
    if (!dir)
        return;
    unlink(host_a);
    unlink(host_b);
    unlink(image);
    rmdir(dir);
}

static xg_hv *open_hv(const char *path)
{
    char spec[512];
    snprintf(spec, sizeof(spec), "sim:%s", path);
    xg_hv *hv;
    xg_diag *d = xg_diag_new();
    if (xg_hv_open(spec, d, &hv) < 0) {
        xg_diag_print(stderr, d, false);
        exit(1);
    }
    xg_diag_free(d);
    return hv;
}

static void new_host(const char *path)
{
    unlink(path);
    xg_diag *d = xg_diag_new();
    if (sim_host_create(path, mem / 4096 + mem / 4096 / 8 + 8192, d) < 0) {
        xg_diag_print(stderr, d, false);
        exit(1);
    }
    xg_diag_free(d);
}

static uint32_t build(const char *path)
{
    xg_diag *d = xg_diag_new();
    struct sim_host *h;
    if (sim_host_open(path, d, &h) < 0)
        goto fail;
    struct sim_build_opts o = {
        .layout = SIM_LAYOUT_LINUX64, .mem_bytes = mem, .nr_vcpus = 2, .seed = 1
    };
    uint32_t dom;
    double t = bench_now();
    if (sim_build(h, &o, &dom, d) < 0)
        goto fail;
    printf("built a %llu MiB linux64 guest in %.2f s\n", (unsigned long long)(mem >> 20),
           bench_now() - t);
    sim_host_close(h);
    xg_diag_free(d);
    return dom;
fail:
    xg_diag_print(stderr, d, false);
    exit(1);
}

/* In a child: save dom to fd, exit 0 on success. */
static void save_child(const char *host, uint32_t dom, int fd, bool live,
                       struct xg_save_stats *out_pipe_unused)
{
    (void)out_pipe_unused;
    xg_hv *hv = open_hv(host);
    xg_diag *d = xg_diag_new();
    struct xg_save_params p = { .live = live };
    struct xg_save_stats st;
    int rc = xg_save(hv, dom, fd, &p, NULL, &st, d);
    if (rc < 0)
        xg_diag_print(stderr, d, false);
    if (live && rc == 0)
        printf("  %u passes, %.2f x the guest sent, %llu pages after suspend, %.2f s\n",
               st.iterations, (double)st.pages_sent / (double)st.nr_pfns,
               (unsigned long long)st.pages_final, st.seconds);
    fflush(stdout);
    xg_hv_close(hv);
    xg_diag_free(d);
    _exit(rc ? 1 : 0);
}

static void resume(const char *host, uint32_t dom)
{
    xg_hv *hv = open_hv(host);
    xg_diag *d = xg_diag_new();
    if (xg_hv_resume(hv, dom, d) < 0) {
        xg_diag_print(stderr, d, false);
        exit(1);
    }
    xg_hv_close(hv);
    xg_diag_free(d);
}

static double save_to_null(uint32_t dom, struct bench_mem *m)
{
    int fd = open("/dev/null", O_WRONLY);
    double t = bench_now();
    pid_t c = fork();
    if (c == 0) {
        bench_pin_to(0);
        save_child(host_a, dom, fd, false, NULL);
    }
    close(fd);
    bench_wait(c, m, "the save to /dev/null");
    t = bench_now() - t;
    resume(host_a, dom);
    return t;
}

/* serial: the stream written by the saving thread itself, as before the writer had a thread. */
static double save_to_pipe(uint32_t dom, bool serial)
{
    int p[2];
    if (pipe(p) < 0)
        bench_die("pipe");
    bench_set_pipe_size(p[1], 1 << 20);
    double t = bench_now();
    pid_t c = fork();
    if (c == 0) {
        close(p[0]);
        bench_pin_to(0);
        xg__save_serial_writer = serial;
        save_child(host_a, dom, p[1], false, NULL);
    }
    close(p[1]);
    bench_pin_to(1);
    bench_drain(p[0]);
    t = bench_now() - t;
    close(p[0]);
    bench_wait(c, NULL, "the save through a pipe");
    resume(host_a, dom);
    return t;
}

static void report(const char *what, double secs, double base)
{
    double gib = (double)mem / BENCH_GIB;
    printf("%-34s %6.2f GiB/s   ratio to baseline %.2f\n", what, gib / secs, base / secs);
}

static int cmd_save(void)
{
    new_host(host_a);
    uint32_t dom = build(host_a);
    size_t nr = mem / BENCH_PAGE;
    double tb[16], tn[16], tp[16], ts[16], rp[16], rs[16];
    struct bench_mem m = { 0 };
    for (int i = 0; i < runs; i++) {
        bench_settle(dir);
        tb[i] = bench_pipe_baseline(nr, 1 << 20);
        tn[i] = save_to_null(dom, &m);
        tp[i] = save_to_pipe(dom, false);
        ts[i] = save_to_pipe(dom, true);
        rp[i] = tb[i] / tp[i];
        rs[i] = tb[i] / ts[i];
        double gib = (double)mem / BENCH_GIB;
        printf("  run %d: baseline %.2f GiB/s, save to /dev/null %.2f, save through a pipe %.2f "
               "(ratio %.2f), with the serial writer %.2f (ratio %.2f)\n",
               i + 1, gib / tb[i], gib / tn[i], gib / tp[i], rp[i], gib / ts[i], rs[i]);
    }
    double b = bench_median(tb, runs), n = bench_median(tn, runs), p = bench_median(tp, runs);
    double sp = bench_median(ts, runs);
    printf("median of %d runs, %llu MiB guest, 2 vcpus:\n", runs, (unsigned long long)(mem >> 20));
    printf("%-34s %6.2f GiB/s\n", "baseline (pipe, 1 MiB write/read)", (double)mem / BENCH_GIB / b);
    report("save to /dev/null", n, b);
    report("save through a pipe", p, b);
    report("  the same, serial writer (before)", sp, b);
    printf("median of the runs' own ratios: pipelined %.2f, serial writer %.2f\n",
           bench_median(rp, runs), bench_median(rs, runs));
    printf(
        "peak memory of the saving process: %llu KiB anonymous (whole RSS high-water %llu KiB)\n",
        (unsigned long long)m.anon_kib, (unsigned long long)m.hwm_kib);
    return 0;
}

static int cmd_live(void)
{
    new_host(host_a);
    uint32_t dom = build(host_a);
    double pages_per_s = (double)(mem / 4096) * rate_pct / 100;
    printf("live save while a workload dirties %.0f%% of the pages per second (%.0f pages/s):\n",
           rate_pct, pages_per_s);
    pid_t w = fork();
    if (w == 0) {
        xg_diag *d = xg_diag_new();
        struct sim_host *h;
        if (sim_host_open(host_a, d, &h) < 0)
            _exit(1);
        struct sim_workload_stats ws;
        sim_workload(h, dom, pages_per_s, 600, 3, &ws, d);
        _exit(0);
    }
    sleep(1);
    /* Through a pipe drained by this process, as to a receiver: the passes take as long as the transfer. */
    int p[2];
    if (pipe(p) < 0)
        bench_die("pipe");
    bench_set_pipe_size(p[1], 1 << 20);
    pid_t c = fork();
    if (c == 0) {
        close(p[0]);
        save_child(host_a, dom, p[1], true, NULL);
    }
    close(p[1]);
    pid_t r = fork(); /* the receiver, so that this process can sample the saver's memory */
    if (r == 0) {
        bench_drain(p[0]);
        _exit(0);
    }
    close(p[0]);
    struct bench_mem m = { 0 };
    bench_wait(c, &m, "the live save");
    bench_wait(r, NULL, "the receiver");
    kill(w, SIGKILL);
    waitpid(w, NULL, 0);
    printf("peak memory of the saving process: %llu KiB anonymous\n",
           (unsigned long long)m.anon_kib);
    return 0;
}

/*
 * In a child: restore from fd onto host_b, report the validation share.
 * bounce: page contents through the reader's buffer, as before the reader
 * read them straight into the frames.
 */
static void restore_child(int fd, bool bounce)
{
    xg__restore_bounce_buffer = bounce;
    xg_hv *hv = open_hv(host_b);
    xg_diag *d = xg_diag_new();
    struct xg_restore_params p = {
        .create = true, .create_vcpus = 2, .store_evtchn = -1, .console_evtchn = -1
    };
    struct xg_restore_result res;
    int rc = xg_restore(hv, fd, &p, NULL, &res, d);
    if (rc < 0)
        xg_diag_print(stderr, d, false);
    else if (xg_hv_domain_destroy(hv, res.domid, NULL) < 0)
        fprintf(stderr, "warning: destroying the restored domain %u failed\n", res.domid);
    if (rc == 0) {
        /* The parent reads this line for the validation share. */
        fprintf(stderr, "validate %.6f of %.6f\n", res.validate_seconds, res.seconds);
    }
    xg_hv_close(hv);
    xg_diag_free(d);
    _exit(rc ? 1 : 0);
}

static double restore_from_file(struct bench_mem *m, double *share, bool bounce)
{
    int errp[2];
    if (pipe(errp) < 0)
        bench_die("pipe");
    double t = bench_now();
    pid_t c = fork();
    if (c == 0) {
        dup2(errp[1], 2);
        close(errp[0]);
        int fd = open(image, O_RDONLY);
        bench_pin_to(0);
        restore_child(fd, bounce);
    }
    close(errp[1]);
    bench_wait(c, m, "the restore from a file");
    t = bench_now() - t;
    char buf[256] = "";
    ssize_t n = read(errp[0], buf, sizeof(buf) - 1);
    close(errp[0]);
    double v = 0, all = 1;
    if (n > 0 && sscanf(buf, "validate %lf of %lf", &v, &all) == 2)
        *share = v / all;
    return t;
}

static double restore_through_pipe(bool bounce)
{
    int p[2];
    if (pipe(p) < 0)
        bench_die("pipe");
    bench_set_pipe_size(p[1], 1 << 20);
    double t = bench_now();
    pid_t writer = fork();
    if (writer == 0) {
        /* cat the image into the pipe in 1 MiB writes */
        close(p[0]);
        bench_pin_to(1);
        int fd = open(image, O_RDONLY);
        static uint8_t buf[BENCH_CHUNK];
        ssize_t n;
        while ((n = read(fd, buf, sizeof(buf))) > 0)
            for (ssize_t off = 0; off < n;) {
                ssize_t w = write(p[1], buf + off, (size_t)(n - off));
                if (w < 0)
                    _exit(1);
                off += w;
            }
        _exit(n < 0);
    }
    pid_t c = fork();
    if (c == 0) {
        close(p[1]);
        bench_pin_to(0);
        restore_child(p[0], bounce);
    }
    close(p[0]);
    close(p[1]);
    bench_wait(c, NULL, "the restore through a pipe");
    t = bench_now() - t;
    bench_wait(writer, NULL, "the pipe writer");
    return t;
}

static int cmd_restore(void)
{
    new_host(host_a);
    new_host(host_b);
    uint32_t dom = build(host_a);
    int fd = open(image, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    pid_t c = fork();
    if (c == 0)
        save_child(host_a, dom, fd, false, NULL);
    close(fd);
    bench_wait(c, NULL, "the save of the image");
    size_t nr = mem / BENCH_PAGE;
    double tb[16], tf[16], tp[16], tfb[16], tpb[16], share[16], unused;
    struct bench_mem m = { 0 };
    /* Read the image once so every run finds it in the page cache. */
    fd = open(image, O_RDONLY);
    bench_drain(fd);
    close(fd);
    for (int i = 0; i < runs; i++) {
        bench_settle(dir);
        tb[i] = bench_pipe_baseline(nr, 1 << 20);
        share[i] = 0;
        bench_settle(dir);
        tf[i] = restore_from_file(&m, &share[i], false);
        bench_settle(dir);
        tfb[i] = restore_from_file(&m, &unused, true);
        bench_settle(dir);
        tp[i] = restore_through_pipe(false);
        bench_settle(dir);
        tpb[i] = restore_through_pipe(true);
        double gib = (double)mem / BENCH_GIB;
        printf("  run %d: baseline %.2f GiB/s, restore from a file %.2f (through a buffer %.2f), "
               "through a pipe %.2f (through a buffer %.2f), validation %.1f%%\n",
               i + 1, gib / tb[i], gib / tf[i], gib / tfb[i], gib / tp[i], gib / tpb[i],
               share[i] * 100);
    }
    double b = bench_median(tb, runs), f = bench_median(tf, runs), p = bench_median(tp, runs);
    double fb = bench_median(tfb, runs), pb = bench_median(tpb, runs);
    double s = bench_median(share, runs);
    printf("median of %d runs, %llu MiB guest, 2 vcpus:\n", runs, (unsigned long long)(mem >> 20));
    printf("%-34s %6.2f GiB/s\n", "baseline (pipe, 1 MiB write/read)", (double)mem / BENCH_GIB / b);
    report("restore from a file", f, b);
    report("  the same, through a buffer (before)", fb, b);
    report("restore through a pipe", p, b);
    report("  the same, through a buffer (before)", pb, b);
    printf("validation phase: %.1f%% of the restore\n", s * 100);
    printf(
        "peak memory of the restoring process: %llu KiB anonymous (aim: under %llu KiB = 64 MiB + 1%% of the guest)\n",
        (unsigned long long)m.anon_kib, (unsigned long long)((64ULL << 10) + mem / 1024 / 100));
    return 0;
}

/* One save to a file, timed, with the saver's peak memory. */
static double save_to_file(uint32_t dom, struct bench_mem *m)
{
    int fd = open(image, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0)
        bench_die(image);
    double t = bench_now();
    pid_t c = fork();
    if (c == 0)
        save_child(host_a, dom, fd, false, NULL);
    close(fd);
    bench_wait(c, m, "the save to a file");
    t = bench_now() - t;
    resume(host_a, dom);
    return t;
}

/* Free disk under dir, in bytes. */
static uint64_t free_disk(void)
{
    struct statvfs sv;
    if (statvfs(dir, &sv) < 0)
        bench_die("statvfs");
    return (uint64_t)sv.f_bavail * sv.f_frsize;
}

/*
 * For each size: build a guest, save it to /dev/null (the engine and the
 * host alone) and to a file, then restore that file onto a fresh host.
 * Seconds per GiB should stay flat; the peak anonymous RSS should stay
 * under 32 MiB + 0.5% of the guest.  Disk: the largest guest's host file
 * (its size + 1/8) and its image (its size), one after the other with the
 * restoring host's file (the same again): about 2.2 x the largest size.
 */
static int cmd_scale(void)
{
    uint64_t list[16];
    int n = 0;
    for (const char *p = sizes; *p && n < 16;) {
        char *end;
        uint64_t mib = strtoull(p, &end, 0);
        if (end == p || mib < 16)
            bench_die("--sizes takes MiB figures of 16 or more, separated by commas");
        list[n++] = mib << 20;
        p = *end == ',' ? end + 1 : end;
    }
    uint64_t biggest = 0;
    for (int i = 0; i < n; i++)
        biggest = list[i] > biggest ? list[i] : biggest;
    uint64_t need = biggest / 8 * 18, have = free_disk();
    printf("scale: sizes %s MiB, %d run(s) each; disk needed about %.1f GiB, free %.1f GiB in %s\n",
           sizes, runs, (double)need / BENCH_GIB, (double)have / BENCH_GIB, dir);
    if (need > have) {
        fprintf(stderr, "bench_engine: not enough disk for a %llu MiB guest (set TMPDIR)\n",
                (unsigned long long)(biggest >> 20));
        return 1;
    }
    printf("%9s %12s %12s %12s %14s %14s %14s\n", "guest MiB", "null s/GiB", "file s/GiB",
           "restore s/GiB", "save peak KiB", "rest. peak KiB", "aim KiB");
    for (int i = 0; i < n; i++) {
        mem = list[i];
        double gib = (double)mem / BENCH_GIB;
        double tn[16], tf[16], tr[16];
        struct bench_mem ms = { 0 }, mr = { 0 };
        new_host(host_a);
        uint32_t dom = build(host_a);
        for (int r = 0; r < runs; r++) {
            tn[r] = save_to_null(dom, &ms) / gib;
            tf[r] = save_to_file(dom, &ms) / gib;
        }
        unlink(host_a);
        for (int r = 0; r < runs; r++) {
            new_host(host_b);
            double share = 0;
            tr[r] = restore_from_file(&mr, &share, false) / gib;
            unlink(host_b);
        }
        unlink(image);
        printf("%9llu %12.3f %12.3f %12.3f %14llu %14llu %14llu\n", (unsigned long long)(mem >> 20),
               bench_median(tn, runs), bench_median(tf, runs), bench_median(tr, runs),
               (unsigned long long)ms.anon_kib, (unsigned long long)mr.anon_kib,
               (unsigned long long)((32ULL << 10) + mem / 1024 / 200));
    }
    return 0;
}

int main(int argc, char **argv)
{
    bench_prog = "bench_engine";
    static const struct option opts[] = {
        { "mem", required_argument, NULL, 'm' },   { "runs", required_argument, NULL, 'r' },
        { "rate", required_argument, NULL, 'p' },  { "no-pin", no_argument, NULL, 'n' },
        { "sizes", required_argument, NULL, 's' }, { NULL, 0, NULL, 0 },
    };
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        FILE *f = argc < 2 ? stderr : stdout;
        fprintf(
            f,
            "usage: %s save|live|restore|scale [--mem SIZE_MIB] [--runs R] [--rate PCT] [--no-pin]\n"
            "       [--sizes MIB,MIB,...]\n"
            "  save     non-live save to /dev/null and through a pipe (pipelined, then with the\n"
            "           serial writer), beside a pipe baseline\n"
            "  live     live save through a pipe while a workload dirties PCT%% of the pages per second\n"
            "  restore  restore from a file and through a pipe, beside the baseline\n"
            "  scale    save and restore guests of each --sizes (default 256,1024,4096,16384 MiB):\n"
            "           seconds per GiB and peak memory; needs about 2.2 x the largest size of disk\n"
            "(bench/README.md)\n",
            argv[0]);
        return argc < 2 ? 2 : 0;
    }
    const char *cmd = argv[1];
    argc--;
    argv++;
    int c;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'm':
            mem = strtoull(optarg, NULL, 0) << 20;
            break;
        case 'r':
            runs = atoi(optarg);
            break;
        case 'p':
            rate_pct = atof(optarg);
            break;
        case 'n':
            bench_pin = false;
            break;
        case 's':
            sizes = optarg;
            break;
        default:
            return 2;
        }
    }
    if (runs < 1 || runs > 16 || mem < (16ULL << 20)) {
        fprintf(stderr, "bench_engine: --runs 1..16, --mem at least 16 (MiB)\n");
        return 2;
    }
    const char *tmp = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    if (asprintf(&dir, "%s/bench_engine.XXXXXX", tmp) < 0 || !mkdtemp(dir))
        bench_die("mkdtemp");
    host_a = path_in("a.host");
    host_b = path_in("b.host");
    image = path_in("guest.img");
    atexit(cleanup);
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (!strcmp(cmd, "save"))
        return cmd_save();
    if (!strcmp(cmd, "live"))
        return cmd_live();
    if (!strcmp(cmd, "restore"))
        return cmd_restore();
    if (!strcmp(cmd, "scale"))
        return cmd_scale();
    fprintf(stderr, "bench_engine: unknown command %s\n", cmd);
    return 2;
}
