/*
 * benchutil.h - what the benchmarks share: a clock, CPU pinning, pipes of
 * a chosen size, guest-like page contents, and the baseline every figure
 * is compared with: the same bytes through the same kind of pipe with
 * plain 1 MiB write()/read() calls, measured in the same run.
 */
#ifndef XG_BENCHUTIL_H
#define XG_BENCHUTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define BENCH_PAGE 4096U
#define BENCH_CHUNK (1U << 20)
#define BENCH_GIB (1024.0 * 1024.0 * 1024.0)

extern bool bench_pin;          /* pin writer and reader to CPUs 0 and 1 (default true) */
extern const char *bench_prog;  /* for messages */

double bench_now(void);
void bench_die(const char *what) __attribute__((noreturn));
void bench_pin_to(int cpu);
void bench_set_pipe_size(int fd, long size);
/*
 * Write back the dirty pages of the file system holding dir (syncfs), so
 * that a timed step does not share the machine with the write-back of the
 * step before: a restore into the simulated host dirties a page of its
 * host file per guest page (1.9 GB dirty seen during `bench_engine
 * restore`), and the kernel's flusher then ran beside the next baseline.
 */
void bench_settle(const char *dir);
/* nr pages of guest-like content: zero pages, table-like, partly used, random. */
uint8_t *bench_make_pages(size_t nr);
/* Read fd to its end in 1 MiB reads, discarding; returns the bytes read. */
uint64_t bench_drain(int fd);
/*
 * The baseline: a child writes nr pages (from a buffer of guest-like
 * pages) into a pipe in 1 MiB writes; this process reads them in 1 MiB
 * reads.  Returns the seconds from the start signal to the last byte.
 */
double bench_pipe_baseline(size_t nr, long pipe_size);
double bench_median(double *v, int n);

/*
 * Peak memory of a child: its own (anonymous) memory, sampled every few
 * milliseconds, and the kernel's high-water mark of its whole RSS (which
 * also counts the guest frames a simulated host maps in).
 */
struct bench_mem {
    uint64_t anon_kib, hwm_kib;
};
void bench_sample_mem(pid_t pid, struct bench_mem *m);
/* Wait for pid, sampling its memory meanwhile; exits on failure. */
void bench_wait(pid_t pid, struct bench_mem *m, const char *what);

#endif
