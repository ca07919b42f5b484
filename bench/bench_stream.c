/*
 * bench_stream - throughput of the migration stream codec through a pipe,
 * beside a baseline measured in the same run.
 *
 *   bench_stream [--pages N] [--runs R] [--pipe-size BYTES] [--only codec|baseline]
 *
 * Codec: a writer process sends a PV stream (headers, X86_PV_INFO,
 * STATIC_DATA_END, X86_PV_P2M_FRAMES, PAGE_DATA records of 1024 pages,
 * END) with xg's writer, pages taken in place from a buffer of N pages of
 * varied content; this process reads it with xg's reader, record by
 * record, as a restore does, and touches nothing more.
 *
 * Baseline: the same N pages through the same kind of pipe with plain
 * 1 MiB write() and read() calls.
 *
 * Both pipes get the same size (F_SETPIPE_SZ; 1 MiB by default, 0 keeps
 * the kernel's default).  Throughput counts page data only (N * 4 KiB)
 * over the time from the writer's start signal to the reader's last
 * byte.  Each figure is the median of R runs, codec and baseline taking
 * turns.  With two CPUs or more, the writers run on cpu0 and the reader on
 * cpu1 (--no-pin leaves it to the scheduler, which makes figures swing).  --only runs one side (for a profiler).  Not a test: it prints
 * figures and exits 0 (1 on errors).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdbool.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "benchutil.h"
#include "xg/xg.h"

#define PAGE BENCH_PAGE
#define BASE_CHUNK BENCH_CHUNK
#define GiB BENCH_GIB

struct run {
    int data[2];   /* the measured pipe */
    int go[2];     /* writer waits for one byte here */
    pid_t writer;
};

/* Fork a writer running fn(fd); it starts when go() is called. */
static void start(struct run *r, long pipe_size, int (*fn)(int fd, const uint8_t *src, size_t nr),
                  const uint8_t *src, size_t nr)
{
    if (pipe(r->data) < 0 || pipe(r->go) < 0)
        bench_die("pipe");
    bench_set_pipe_size(r->data[1], pipe_size);
    r->writer = fork();
    if (r->writer < 0)
        bench_die("fork");
    if (r->writer == 0) {
        bench_pin_to(0);
        close(r->data[0]);
        close(r->go[1]);
        char c;
        if (read(r->go[0], &c, 1) != 1)
            _exit(2);
        int rc = fn(r->data[1], src, nr);
        close(r->data[1]);
        _exit(rc ? 1 : 0);
    }
    close(r->data[1]);
    close(r->go[0]);
}

static double go(struct run *r)
{
    double t0 = bench_now();
    if (write(r->go[1], "g", 1) != 1)
        bench_die("starting the writer");
    close(r->go[1]);
    return t0;
}

static void finish(struct run *r, const char *what)
{
    int status;
    close(r->data[0]);
    if (waitpid(r->writer, &status, 0) != r->writer || !WIFEXITED(status) || WEXITSTATUS(status)) {
        fprintf(stderr, "bench_stream: the %s writer failed\n", what);
        exit(1);
    }
}

/* ---------------------------------------------------------------- baseline */

static int base_write(int fd, const uint8_t *src, size_t nr)
{
    size_t len = nr * PAGE, off = 0;
    while (off < len) {
        size_t n = len - off < BASE_CHUNK ? len - off : BASE_CHUNK;
        ssize_t w = write(fd, src + off, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        off += (size_t)w;
    }
    return 0;
}

static double run_baseline(const uint8_t *src, size_t nr, long pipe_size)
{
    static uint8_t *buf;
    if (!buf && !(buf = malloc(BASE_CHUNK)))
        bench_die("malloc");
    struct run r;
    start(&r, pipe_size, base_write, src, nr);
    double t0 = go(&r);
    uint64_t total = 0;
    for (;;) {
        ssize_t n = read(r.data[0], buf, BASE_CHUNK);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            bench_die("read");
        }
        if (n == 0)
            break;
        total += (uint64_t)n;
    }
    double t = bench_now() - t0;
    finish(&r, "baseline");
    if (total != (uint64_t)nr * PAGE) {
        fprintf(stderr, "bench_stream: baseline moved %llu bytes\n", (unsigned long long)total);
        exit(1);
    }
    return t;
}

/* ---------------------------------------------------------------- codec */

static int codec_write(int fd, const uint8_t *src, size_t nr)
{
    xg_diag *d = xg_diag_new();
    xg_stream_writer *w = NULL;
    int rc = d ? xg_stream_writer_open(fd, NULL, d, &w) : XG_E_NOMEM;
    uint64_t entries[XG_MAX_BATCH];
    const void *pages[XG_MAX_BATCH];
    if (rc == 0)
        rc = xg_stream_write_headers(w, XG_DOMAIN_X86_PV, 4, 17);
    if (rc == 0)
        rc = xg_stream_write_pv_info(w, 8, 4);
    if (rc == 0)
        rc = xg_stream_write_record(w, XG_REC_STATIC_DATA_END, NULL, 0);
    if (rc == 0) {
        uint32_t nr_frames = (uint32_t)((nr - 1) / 512 + 1);
        uint64_t *frames = calloc(nr_frames, 8);
        for (uint32_t i = 0; frames && i < nr_frames; i++)
            frames[i] = nr + i;
        rc = frames ? xg_stream_write_p2m_frames(w, 0, (uint32_t)(nr - 1), frames, nr_frames) : XG_E_NOMEM;
        free(frames);
    }
    for (size_t at = 0; rc == 0 && at < nr; at += XG_MAX_BATCH) {
        uint32_t count = (uint32_t)(nr - at < XG_MAX_BATCH ? nr - at : XG_MAX_BATCH);
        for (uint32_t i = 0; i < count; i++) {
            entries[i] = xg_pd_entry(at + i, XG_PFINFO_NOTAB);
            pages[i] = src + (at + i) * PAGE;
        }
        rc = xg_stream_write_page_data(w, count, entries, pages);
    }
    if (rc == 0)
        rc = xg_stream_write_end(w);
    int crc = xg_stream_writer_close(w);
    if (rc == 0)
        rc = crc;
    if (rc < 0)
        xg_diag_print(stderr, d, true);
    xg_diag_free(d);
    return rc;
}

static double run_codec(const uint8_t *src, size_t nr, long pipe_size)
{
    struct run r;
    start(&r, pipe_size, codec_write, src, nr);
    xg_diag *d = xg_diag_new();
    if (!d)
        bench_die("xg_diag_new");
    double t0 = go(&r);
    xg_stream_reader *rd = NULL;
    struct xg_record rec;
    uint64_t pages = 0;
    int rc = xg_stream_reader_open(r.data[0], NULL, d, &rd);
    while (rc == 0 && (rc = xg_stream_read(rd, &rec)) == 0 && rec.type != XG_REC_END)
        if (rec.type == XG_REC_PAGE_DATA)
            pages += rec.u.page_data.nr_data;
    double t = bench_now() - t0;
    if (rc < 0 || pages != nr) {
        xg_diag_print(stderr, d, true);
        fprintf(stderr, "bench_stream: the codec run read %llu pages of %zu\n", (unsigned long long)pages, nr);
        exit(1);
    }
    xg_stream_reader_close(rd);
    xg_diag_free(d);
    finish(&r, "codec");
    return t;
}

/* ---------------------------------------------------------------- main */

int main(int argc, char **argv)
{
    bench_prog = "bench_stream";
    static const struct option longopts[] = {
        { "pages", required_argument, NULL, 'n' },
        { "runs", required_argument, NULL, 'r' },
        { "pipe-size", required_argument, NULL, 'p' },
        { "only", required_argument, NULL, 'o' },
        { "no-pin", no_argument, NULL, 'P' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    size_t nr = 262144;
    int runs = 5;
    long pipe_size = 1L << 20;
    bool do_codec = true, do_base = true;
    int c;
    while ((c = getopt_long(argc, argv, "n:r:p:o:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'n': nr = strtoul(optarg, NULL, 0); break;
        case 'r': runs = atoi(optarg); break;
        case 'p': pipe_size = strtol(optarg, NULL, 0); break;
        case 'P': bench_pin = false; break;
        case 'o':
            do_codec = !strcmp(optarg, "codec");
            do_base = !strcmp(optarg, "baseline");
            if (do_codec || do_base)
                break;
            /* fall through */
        default:
            fprintf(c == 'h' ? stdout : stderr,
                    "usage: %s [--pages N] [--runs R] [--pipe-size BYTES (0: default)] [--only codec|baseline] [--no-pin]\n",
                    argv[0]);
            return c == 'h' ? 0 : 2;
        }
    }
    if (nr == 0 || runs < 1 || runs > 100) {
        fprintf(stderr, "bench_stream: bad --pages or --runs\n");
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    if (sysconf(_SC_NPROCESSORS_ONLN) < 2)
        bench_pin = false;
    bench_pin_to(1);
    uint8_t *src = bench_make_pages(nr);
    double gib = (double)nr * PAGE / GiB;
    int probe[2];
    long actual = 0;
    if (pipe(probe) == 0) {
        bench_set_pipe_size(probe[1], pipe_size);
        actual = fcntl(probe[1], F_GETPIPE_SZ);
        close(probe[0]);
        close(probe[1]);
    }
    printf("bench_stream: %zu pages (%.2f GiB) through a pipe of %ld KiB, median of %d runs%s\n", nr, gib,
           actual / 1024, runs, bench_pin ? ", writer on cpu0, reader on cpu1" : "");

    double *tb = calloc((size_t)runs, sizeof(double)), *tc = calloc((size_t)runs, sizeof(double));
    if (!tb || !tc)
        bench_die("calloc");
    for (int i = 0; i < runs; i++) {
        /* Take turns, so drift (heat, other load) hits both alike. */
        if (i % 2 && do_codec)
            tc[i] = run_codec(src, nr, pipe_size);
        if (do_base)
            tb[i] = run_baseline(src, nr, pipe_size);
        if (i % 2 == 0 && do_codec)
            tc[i] = run_codec(src, nr, pipe_size);
        printf("  run %d: baseline %.2f GiB/s, codec %.2f GiB/s\n", i + 1, do_base ? gib / tb[i] : 0,
               do_codec ? gib / tc[i] : 0);
        fflush(stdout);
    }
    double b = gib / bench_median(tb, runs), k = gib / bench_median(tc, runs);
    if (do_base)
        printf("baseline (write/read 1 MiB): %.2f GiB/s\n", b);
    if (do_codec)
        printf("codec (xg writer -> reader): %.2f GiB/s\n", k);
    if (do_base && do_codec)
        printf("ratio codec/baseline: %.2f\n", k / b);
    free(tb);
    free(tc);
    munmap(src, nr * PAGE);
    return 0;
}
