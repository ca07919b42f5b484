/*
 * test_gzip.c - the parallel gzip writer (libxg/stream/gzip_write.c).
 *
 * What a user relies on: whatever the thread count, the file is one gzip
 * stream to every reader (gzip -d and xg's own), holds exactly the bytes
 * written, is about as small as one single-threaded member, and a write
 * error comes back as an error instead of a hang or a crash.
 */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

#include "internal.h"
#include "stream/stream_private.h"
#include "testutil.h"
#include "xg/xg.h"

#define MIB (1U << 20)

/* Bytes that compress like guest memory: text-like runs, zeros and noise. */
static uint8_t *make_data(size_t len, uint64_t seed)
{
    uint8_t *p = malloc(len);
    ck_assert_ptr_nonnull(p);
    for (size_t i = 0; i < len; i += 4096) {
        size_t n = len - i < 4096 ? len - i : 4096;
        seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
        switch ((seed >> 60) % 4) {
        case 0: memset(p + i, 0, n); break;
        case 1:
            for (size_t k = 0; k < n; k++)
                p[i + k] = (uint8_t)("page tables and canaries "[(k + (seed >> 40)) % 25]);
            break;
        default:
            for (size_t k = 0; k < n; k++) {
                seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
                p[i + k] = (uint8_t)((seed >> 56) & ((seed >> 50) % 2 ? 0xff : 0x0f));
            }
        }
    }
    return p;
}

/* Compress data into a temporary file with `threads`; returns its fd (at 0). */
static int compress_to_file(const uint8_t *data, size_t len, size_t piece, unsigned threads,
                            int level, uint64_t *bytes_out)
{
    FILE *f = tmpfile();
    ck_assert_ptr_nonnull(f);
    int fd = dup(fileno(f));
    fclose(f);
    xg_diag *d = xg_diag_new();
    struct xg_gzw *g;
    ck_assert_int_eq(xg__gzw_open(fd, level, threads, d, &g), 0);
    /* Uneven pieces, so chunk boundaries fall inside writes. */
    for (size_t off = 0; off < len; off += piece) {
        struct iovec iov[2];
        size_t n = len - off < piece ? len - off : piece;
        size_t half = n / 3;
        iov[0] = (struct iovec){ (void *)(data + off), half };
        iov[1] = (struct iovec){ (void *)(data + off + half), n - half };
        ck_assert_int_eq(xg__gzw_writev(g, iov, 2, d), 0);
    }
    ck_assert_int_eq(xg__gzw_finish(g, d), 0);
    ck_assert_int_eq(xg__gzw_finish(g, d), 0); /* idempotent */
    *bytes_out = xg__gzw_bytes_out(g);
    xg__gzw_close(g);
    xg_diag_free(d);
    ck_assert_int_eq((int)lseek(fd, 0, SEEK_SET), 0);
    return fd;
}

/* gzip -dc on the file: an independent reader of concatenated members. */
static void check_with_gzip_tool(int fd, const uint8_t *data, size_t len)
{
    int out[2];
    ck_assert_int_eq(pipe(out), 0);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        dup2(fd, 0);
        dup2(out[1], 1);
        close(out[0]);
        execlp("gzip", "gzip", "-dc", (char *)NULL);
        _exit(127);
    }
    close(out[1]);
    uint8_t *got = malloc(len + 1);
    size_t have = 0;
    ssize_t n;
    while ((n = read(out[0], got + have, len + 1 - have)) > 0)
        have += (size_t)n;
    close(out[0]);
    int st;
    ck_assert_int_eq(waitpid(pid, &st, 0), pid);
    ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "gzip -d refused the file");
    ck_assert_uint_eq(have, len);
    ck_assert(memcmp(got, data, len) == 0);
    free(got);
}

/* xg's own reader (gzip.c) on the same file. */
static void check_with_xg_reader(int fd, const uint8_t *data, size_t len)
{
    uint8_t magic[2];
    ck_assert_int_eq((int)read(fd, magic, 2), 2);
    xg_diag *d = xg_diag_new();
    struct xg_gzr *r;
    ck_assert_int_eq(xg__gzr_open(fd, magic, 2, d, &r), 0);
    uint8_t *got = malloc(len + 4096);
    size_t have = 0;
    ssize_t n;
    while ((n = xg__gzr_read(r, got + have, 4096, have, d)) > 0)
        have += (size_t)n;
    ck_assert_int_eq((int)n, 0);
    ck_assert_uint_eq(have, len);
    ck_assert(memcmp(got, data, len) == 0);
    free(got);
    xg__gzr_close(r);
    xg_diag_free(d);
}

/* What one single-threaded deflate of the same bytes gives. */
static size_t single_member_size(const uint8_t *data, size_t len, int level)
{
    z_stream z = { 0 };
    ck_assert_int_eq(deflateInit2(&z, level, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY),
                     Z_OK);
    size_t cap = deflateBound(&z, len);
    uint8_t *out = malloc(cap);
    z.next_in = (Bytef *)data;
    z.avail_in = (uInt)len;
    z.next_out = out;
    z.avail_out = (uInt)cap;
    ck_assert_int_eq(deflate(&z, Z_FINISH), Z_STREAM_END);
    size_t size = cap - z.avail_out;
    deflateEnd(&z);
    free(out);
    return size;
}

START_TEST(test_every_thread_count)
{
    size_t len = 5 * MIB + 12345; /* six members, the last partial */
    uint8_t *data = make_data(len, 42);
    size_t single = single_member_size(data, len, 1);
    unsigned counts[] = { 1, 2, 3, 8, 0 };
    for (size_t i = 0; i < sizeof(counts) / sizeof(counts[0]); i++) {
        uint64_t bytes;
        int fd = compress_to_file(data, len, 300000, counts[i], 1, &bytes);
        check_with_gzip_tool(fd, data, len);
        ck_assert_int_eq((int)lseek(fd, 0, SEEK_SET), 0);
        check_with_xg_reader(fd, data, len);
        ck_assert_int_eq((int)lseek(fd, 0, SEEK_END), (int)bytes);
        /* Within 5% of one single-threaded member (the bound). */
        ck_assert_msg(bytes <= single + single / 20, "threads %u: %llu bytes against %zu",
                      counts[i], (unsigned long long)bytes, single);
        close(fd);
    }
    free(data);
}
END_TEST

START_TEST(test_levels_and_edges)
{
    /* Empty, one byte, exactly one chunk, one chunk and one byte. */
    size_t lens[] = { 0, 1, MIB, MIB + 1 };
    uint8_t *data = make_data(MIB + 1, 7);
    for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
        for (int level = 1; level <= 9; level += 8) {
            uint64_t bytes;
            int fd = compress_to_file(data, lens[i], 4096, 2, level, &bytes);
            check_with_gzip_tool(fd, data, lens[i]);
            close(fd);
        }
    }
    free(data);
}
END_TEST

/* A reader that goes away: an error, no hang, nothing leaked. */
START_TEST(test_write_error)
{
    int p[2];
    ck_assert_int_eq(pipe(p), 0);
    close(p[0]);
    uint8_t *data = make_data(4 * MIB, 3);
    xg_diag *d = xg_diag_new();
    struct xg_gzw *g;
    ck_assert_int_eq(xg__gzw_open(p[1], 1, 2, d, &g), 0);
    int rc = 0;
    for (size_t off = 0; off < 4 * MIB && rc == 0; off += 65536) {
        struct iovec iov = { data + off, 65536 };
        rc = xg__gzw_writev(g, &iov, 1, d);
    }
    if (rc == 0)
        rc = xg__gzw_finish(g, d);
    ck_assert_int_eq(rc, XG_E_IO);
    ck_assert_ptr_nonnull(xg_diag_first_error(d));
    /* Once broken, it stays broken. */
    struct iovec iov = { data, 10 };
    ck_assert_int_eq(xg__gzw_writev(g, &iov, 1, d), XG_E_IO);
    ck_assert_int_eq(xg__gzw_finish(g, d), XG_E_IO);
    xg__gzw_close(g);
    xg_diag_free(d);
    close(p[1]);
    free(data);
}
END_TEST

/* Closed before finishing (a save that failed): the threads stop, nothing leaks. */
START_TEST(test_close_unfinished)
{
    FILE *f = tmpfile();
    uint8_t *data = make_data(3 * MIB, 9);
    xg_diag *d = xg_diag_new();
    struct xg_gzw *g;
    ck_assert_int_eq(xg__gzw_open(fileno(f), 1, 3, d, &g), 0);
    struct iovec iov = { data, 3 * MIB };
    ck_assert_int_eq(xg__gzw_writev(g, &iov, 1, d), 0);
    xg__gzw_close(g);
    xg_diag_free(d);
    fclose(f);
    free(data);
}
END_TEST

static Suite *gzip_suite(void)
{
    Suite *s = suite_create("gzip");
    TCase *tc = tcase_create("parallel_writer");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_every_thread_count);
    tcase_add_test(tc, test_levels_and_edges);
    tcase_add_test(tc, test_write_error);
    tcase_add_test(tc, test_close_unfinished);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    SRunner *sr = srunner_create(gzip_suite());
    srunner_run_all(sr, CK_ENV);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
