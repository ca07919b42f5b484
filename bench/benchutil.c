/*
 * benchutil.c - shared by the benchmarks (see benchutil.h).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "benchutil.h"

bool bench_pin = true;
const char *bench_prog = "bench";

double bench_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void bench_die(const char *what)
{
    fprintf(stderr, "%s: %s: %s\n", bench_prog, what, strerror(errno));
    exit(1);
}

void bench_pin_to(int cpu)
{
    if (!bench_pin || sysconf(_SC_NPROCESSORS_ONLN) < 2)
        return;
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    sched_setaffinity(0, sizeof(set), &set);
}

void bench_set_pipe_size(int fd, long size)
{
    if (size > 0 && fcntl(fd, F_SETPIPE_SZ, (int)size) < 0)
        bench_die("F_SETPIPE_SZ (see /proc/sys/fs/pipe-max-size)");
}

uint8_t *bench_make_pages(size_t nr)
{
    size_t len = nr * BENCH_PAGE;
    uint8_t *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        bench_die("mmap of the source pages");
    uint64_t s = 0x9e3779b97f4a7c15ULL;
    for (size_t i = 0; i < nr; i++) {
        uint64_t *w = (uint64_t *)(p + i * BENCH_PAGE);
        unsigned kind = (unsigned)(i % 8);
        for (unsigned k = 0; k < BENCH_PAGE / 8; k++) {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            if (kind == 0)
                w[k] = 0;                       /* zero page */
            else if (kind == 1)
                w[k] = i * 0x1000 + (k & 0xff); /* page-table-like, ascending */
            else if (kind == 2 && k >= 256)
                w[k] = 0;                       /* partly used */
            else
                w[k] = s;
        }
    }
    return p;
}

uint64_t bench_drain(int fd)
{
    static uint8_t *buf;
    if (!buf && !(buf = malloc(BENCH_CHUNK)))
        bench_die("malloc");
    uint64_t total = 0;
    for (;;) {
        ssize_t n = read(fd, buf, BENCH_CHUNK);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            bench_die("read");
        }
        if (n == 0)
            return total;
        total += (uint64_t)n;
    }
}

static int write_all(int fd, const uint8_t *p, size_t len)
{
    while (len) {
        ssize_t w = write(fd, p, len < BENCH_CHUNK ? len : BENCH_CHUNK);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        p += w;
        len -= (size_t)w;
    }
    return 0;
}

void bench_settle(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY);
    if (fd < 0 || syncfs(fd) < 0)
        bench_die(dir);
    close(fd);
}

double bench_pipe_baseline(size_t nr, long pipe_size)
{
    int data[2], go[2], ready[2];
    if (pipe(data) < 0 || pipe(go) < 0 || pipe(ready) < 0)
        bench_die("pipe");
    bench_set_pipe_size(data[1], pipe_size);
    pid_t w = fork();
    if (w < 0)
        bench_die("fork");
    if (w == 0) {
        /* The pages live in the writer only: the measuring process stays small for its other children. */
        bench_pin_to(0);
        close(data[0]);
        close(go[1]);
        close(ready[0]);
        uint8_t *src = bench_make_pages(nr);
        char c;
        if (write(ready[1], "r", 1) != 1 || read(go[0], &c, 1) != 1)
            _exit(2);
        _exit(write_all(data[1], src, nr * BENCH_PAGE) ? 1 : 0);
    }
    close(data[1]);
    close(go[0]);
    bench_pin_to(1);
    /* The clock starts once the writer has built its pages. */
    close(ready[1]);
    char r;
    if (read(ready[0], &r, 1) != 1)
        bench_die("waiting for the baseline writer");
    close(ready[0]);
    double t0 = bench_now();
    if (write(go[1], "g", 1) != 1)
        bench_die("starting the writer");
    close(go[1]);
    uint64_t total = bench_drain(data[0]);
    double t = bench_now() - t0;
    close(data[0]);
    int status;
    if (waitpid(w, &status, 0) != w || !WIFEXITED(status) || WEXITSTATUS(status) || total != nr * BENCH_PAGE) {
        fprintf(stderr, "%s: the baseline writer failed\n", bench_prog);
        exit(1);
    }
    return t;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

double bench_median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof(double), cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

void bench_sample_mem(pid_t pid, struct bench_mem *m)
{
    char path[64], line[256];
    snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return;
    while (fgets(line, sizeof(line), f)) {
        unsigned long long v;
        if (sscanf(line, "RssAnon: %llu kB", &v) == 1 && v > m->anon_kib)
            m->anon_kib = v;
        if (sscanf(line, "VmHWM: %llu kB", &v) == 1 && v > m->hwm_kib)
            m->hwm_kib = v;
    }
    fclose(f);
}

void bench_wait(pid_t pid, struct bench_mem *m, const char *what)
{
    int status;
    for (;;) {
        if (m)
            bench_sample_mem(pid, m);
        pid_t r = waitpid(pid, &status, WNOHANG);
        if (r == pid)
            break;
        if (r < 0)
            bench_die("waitpid");
        struct timespec ts = { 0, 2000000 };
        nanosleep(&ts, NULL);
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status)) {
        fprintf(stderr, "%s: %s failed\n", bench_prog, what);
        exit(1);
    }
}
