/*
 * bench_gzip - xg's parallel gzip compression against single-threaded
 * `gzip -1`, on the same image bytes, in the same run.
 *
 *   bench_gzip [--pages N] [--image FILE] [--runs R] [--threads T] [--level L]
 *
 * The input is an uncompressed v2 image: FILE, or one that xg's writer
 * makes of N pages of guest-like content (bench_make_pages: zero,
 * table-like, partly used and random pages; default 65536 pages, 256 MiB).
 * Each run, taking turns:
 *   gzip:  `gzip -1 -c` reads the image from a file and writes a file;
 *   xg:    xg's compressing writer (libxg/stream/gzip_write.c) with T
 *          threads (default: one per CPU) reads the same file in 1 MiB
 *          pieces and writes a file;
 *   xg-1:  the same with one compressing thread (its scaling reference).
 * Printed: the median time and throughput of each, the throughput ratio
 * xg/gzip, and the compressed sizes.  Not a test: figures, exit 0 (1 on
 * errors).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "benchutil.h"
#include "internal.h"
#include "stream/stream_private.h"
#include "xg/xg.h"

#define MAX_RUNS 51

static char in_path[] = "/tmp/bench_gzip_in.XXXXXX";
static char out_path[] = "/tmp/bench_gzip_out.XXXXXX";
static bool made_input;

static void cleanup(void)
{
    if (made_input)
        unlink(in_path);
    unlink(out_path);
}

/* An uncompressed image of nr bench pages, written by xg's own writer. */
static void make_image(int fd, size_t nr)
{
    uint8_t *pages = bench_make_pages(nr);
    xg_diag *d = xg_diag_new();
    xg_stream_writer *w;
    if (!d || xg_stream_writer_open(fd, NULL, d, &w) < 0)
        bench_die("opening the writer");
    if (xg_stream_write_headers(w, 1 /* x86 PV */, 4, 17) < 0 || xg_stream_write_pv_info(w, 8, 4) < 0)
        bench_die("writing the headers");
    uint64_t entries[1024];
    const void *ptrs[1024];
    for (size_t done = 0; done < nr;) {
        uint32_t n = nr - done < 1024 ? (uint32_t)(nr - done) : 1024;
        for (uint32_t i = 0; i < n; i++) {
            entries[i] = xg_pd_entry(done + i, 0);
            ptrs[i] = pages + (done + i) * BENCH_PAGE;
        }
        if (xg_stream_write_page_data(w, n, entries, ptrs) < 0)
            bench_die("writing page data");
        done += n;
    }
    if (xg_stream_write_end(w) < 0 || xg_stream_writer_close(w) < 0)
        bench_die("finishing the image");
    xg_diag_free(d);
}

/* `gzip -1 -c < in > out`; returns seconds. */
static double run_gzip(int level)
{
    char lv[4];
    snprintf(lv, sizeof(lv), "-%d", level);
    double t0 = bench_now();
    pid_t pid = fork();
    if (pid < 0)
        bench_die("fork");
    if (pid == 0) {
        int in = open(in_path, O_RDONLY), out = open(out_path, O_WRONLY | O_TRUNC);
        if (in < 0 || out < 0 || dup2(in, 0) < 0 || dup2(out, 1) < 0)
            _exit(126);
        execlp("gzip", "gzip", lv, "-c", (char *)NULL);
        _exit(127);
    }
    int st;
    if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
        bench_die("gzip failed (is it installed?)");
    return bench_now() - t0;
}

/* xg's writer over the same file; returns seconds. */
static double run_xg(int level, unsigned threads)
{
    static uint8_t *buf;
    if (!buf && !(buf = malloc(BENCH_CHUNK)))
        bench_die("malloc");
    double t0 = bench_now();
    int in = open(in_path, O_RDONLY), out = open(out_path, O_WRONLY | O_TRUNC);
    xg_diag *d = xg_diag_new();
    struct xg_gzw *g;
    if (in < 0 || out < 0 || !d || xg__gzw_open(out, level, threads, d, &g) < 0)
        bench_die("starting xg's compressor");
    for (;;) {
        ssize_t n = read(in, buf, BENCH_CHUNK);
        if (n < 0)
            bench_die("read");
        if (n == 0)
            break;
        struct iovec iov = { buf, (size_t)n };
        if (xg__gzw_writev(g, &iov, 1, d) < 0)
            bench_die("compressing");
    }
    if (xg__gzw_finish(g, d) < 0)
        bench_die("finishing");
    xg__gzw_close(g);
    xg_diag_free(d);
    close(in);
    close(out);
    return bench_now() - t0;
}

static off_t file_size(const char *path)
{
    struct stat sb;
    if (stat(path, &sb) < 0)
        bench_die(path);
    return sb.st_size;
}

static void usage(FILE *f)
{
    fprintf(f, "usage: bench_gzip [--pages N] [--image FILE] [--runs R] [--threads T] [--level L]\n");
}

int main(int argc, char **argv)
{
    bench_prog = "bench_gzip";
    size_t pages = 65536;
    int runs = 5, level = 1;
    unsigned threads = 0;
    const char *image = NULL;
    static const struct option opts[] = {
        { "pages", required_argument, NULL, 'p' }, { "image", required_argument, NULL, 'i' },
        { "runs", required_argument, NULL, 'r' },  { "threads", required_argument, NULL, 't' },
        { "level", required_argument, NULL, 'l' }, { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    int c;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'p': pages = strtoul(optarg, NULL, 0); break;
        case 'i': image = optarg; break;
        case 'r': runs = atoi(optarg); break;
        case 't': threads = (unsigned)atoi(optarg); break;
        case 'l': level = atoi(optarg); break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (pages < 1 || runs < 1 || runs > MAX_RUNS || level < 1 || level > 9 || threads > 8) {
        usage(stderr);
        return 2;
    }
    atexit(cleanup);
    int ofd = mkstemp(out_path);
    if (ofd < 0)
        bench_die("mkstemp");
    close(ofd);
    if (image) {
        if (strlen(image) >= sizeof(in_path))
            bench_die("--image path too long");
        strcpy(in_path, image);
    } else {
        int fd = mkstemp(in_path);
        if (fd < 0)
            bench_die("mkstemp");
        made_input = true;
        make_image(fd, pages);
        close(fd);
    }
    double in_bytes = (double)file_size(in_path);
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);

    double tg[MAX_RUNS], tx[MAX_RUNS], t1[MAX_RUNS];
    off_t sg = 0, sx = 0, s1 = 0;
    run_gzip(level); /* warm the page cache and the binary */
    for (int r = 0; r < runs; r++) {
        tg[r] = run_gzip(level);
        sg = file_size(out_path);
        tx[r] = run_xg(level, threads);
        sx = file_size(out_path);
        t1[r] = run_xg(level, 1);
        s1 = file_size(out_path);
    }
    double mg = bench_median(tg, runs), mx = bench_median(tx, runs), m1 = bench_median(t1, runs);
    printf("bench_gzip: %.0f MiB image, level %d, %ld CPUs, median of %d runs\n",
           in_bytes / (1 << 20), level, cpus, runs);
    printf("gzip -%d (one thread):      %6.3f s  %7.1f MiB/s  %12lld bytes\n", level, mg,
           in_bytes / mg / (1 << 20), (long long)sg);
    printf("xg, %u thread(s):           %6.3f s  %7.1f MiB/s  %12lld bytes\n",
           threads ? threads : (unsigned)(cpus > 8 ? 8 : cpus), mx, in_bytes / mx / (1 << 20),
           (long long)sx);
    printf("xg, 1 thread:              %6.3f s  %7.1f MiB/s  %12lld bytes\n", m1,
           in_bytes / m1 / (1 << 20), (long long)s1);
    printf("throughput xg/gzip: %.2f   size xg/gzip: %.3f   xg threads/1 thread: %.2f\n",
           mg / mx, (double)sx / (double)sg, m1 / mx);
    return 0;
}
