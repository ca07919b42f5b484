/*
 * damage - truncate and corrupt good images and restore each result into
 * a simulated host, in one process (thousands of restores in seconds):
 *
 *   damage [--random N] [--seed S] IMAGE...
 *
 * For each bare v2 IMAGE: a cut at every record boundary and at N random
 * offsets (the image minus its tail must be refused: an error finding,
 * never a success), then N single random byte flips (restored, or refused
 * with an error finding).  After every run: the domain the restore
 * created is gone (destroyed by the restore's rollback, or by us after a
 * success); a refusal that is not the hypervisor's (the damage was seen
 * in the image) comes before any pin; and every 64 runs, and at the end,
 * the host is consistent (sim_check_consistency).  A crash, a leak (ASan)
 * or a failed check is a failure.  Prints what it ran; exit 0 or 1.
 */
#include "config.h"

#define _GNU_SOURCE 1
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "hv/sim/guest.h"
#include "hv/sim/sim.h"
#include "xg/hv.h"
#include "xg/restore.h"
#include "xg/xg.h"

static char host_dir[] = "/tmp/xg-damage.XXXXXX";
static char host_path[64], spec[80], count_path[64];
static unsigned long runs, failures, refused, restored;

#define FAIL(...) (fprintf(stderr, "FAIL: " __VA_ARGS__), fputc('\n', stderr), failures++)

static int memfd_of(const uint8_t *data, size_t size)
{
    int fd = memfd_create("xg-damage", MFD_CLOEXEC);
    if (fd < 0 || write(fd, data, size) != (ssize_t)size || lseek(fd, 0, SEEK_SET) != 0) {
        perror("memfd");
        exit(1);
    }
    return fd;
}

static void check_host(const char *after)
{
    xg_diag *d = xg_diag_new();
    struct sim_host *h;
    if (sim_host_open(host_path, d, &h) < 0) {
        FAIL("cannot open the host after %s", after);
    } else {
        if (sim_check_consistency(h, d) < 0) {
            FAIL("the host is inconsistent after %s:", after);
            xg_diag_print(stderr, d, false);
        }
        sim_host_close(h);
    }
    xg_diag_free(d);
}

/* Pins the last run made, from its XG_FAULTS_COUNT file. */
static unsigned long pins_made(void)
{
    FILE *f = fopen(count_path, "r");
    unsigned long pins = 0, n;
    char op[32];
    while (f && fscanf(f, "%31s %lu", op, &n) == 2)
        if (strcmp(op, "pin") == 0)
            pins = n;
    if (f)
        fclose(f);
    unlink(count_path);
    return pins;
}

/* Restore data[0..size) into a new domain.  Returns 1 restored, 0 refused. */
static int restore_one(const uint8_t *data, size_t size, const char *what)
{
    int fd = memfd_of(data, size);
    xg_diag *d = xg_diag_new();
    xg_hv *hv;
    if (xg_hv_open(spec, d, &hv) < 0) {
        xg_diag_print(stderr, d, false);
        exit(1);
    }
    struct xg_restore_params p = {
        .create = true, .create_vcpus = 2, .store_evtchn = -1, .console_evtchn = -1};
    struct xg_restore_result res;
    int rc = xg_restore(hv, fd, &p, NULL, &res, d);
    const struct xg_finding *e = xg_diag_first_error(d);
    struct xg_domain_info info;
    if (rc < 0 && !e)
        FAIL("%s: refused without an error message", what);
    if (rc < 0 && res.created)
        FAIL("%s: the refused restore left domain %u", what, res.domid);
    if (rc == 0 && xg_hv_domain_destroy(hv, res.domid, d) < 0)
        FAIL("%s: the restored domain %u does not destroy", what, res.domid);
    if (res.domid && xg_hv_domain_info(hv, res.domid, &info, NULL) == 0 && !info.dying)
        FAIL("%s: domain %u is still there", what, res.domid);
    xg_hv_close(hv);
    unsigned long pins = pins_made();
    if (rc < 0 && e && e->code != XG_E_HV && pins)
        FAIL("%s: %lu tables were pinned before the image's damage was refused (%s)", what, pins,
             e->msg);
    xg_diag_free(d);
    close(fd);
    if (++runs % 64 == 0)
        check_host(what);
    rc == 0 ? restored++ : refused++;
    return rc == 0;
}

/* Offsets after each record of a bare image; *n of them. */
static uint64_t *record_ends(const uint8_t *data, size_t size, size_t *n)
{
    int fd = memfd_of(data, size);
    xg_diag *d = xg_diag_new();
    xg_stream_reader *r;
    uint64_t *ends = NULL;
    *n = 0;
    if (xg_stream_reader_open(fd, NULL, d, &r) == 0) {
        size_t cap = 0;
        struct xg_record rec;
        do {
            if (*n == cap && !(ends = realloc(ends, (cap = cap * 2 + 64) * sizeof(*ends)))) {
                perror("realloc");
                exit(1);
            }
            ends[(*n)++] = xg_stream_reader_offset(r);
        } while (xg_stream_read(r, &rec) == 0 && rec.type != XG_REC_END);
        xg_stream_reader_close(r);
    }
    xg_diag_free(d);
    close(fd);
    return ends;
}

static uint32_t le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/*
 * Where the page tables' data is in a bare image: the offset of each
 * L1..L4 page in its PAGE_DATA record (a record: type, length, body;
 * PAGE_DATA's body: count, reserved, count pfn|type words, the pages).
 */
static uint64_t *table_pages(const uint8_t *data, size_t size, const uint64_t *ends, size_t nends,
                             size_t *n)
{
    uint64_t *pages = NULL;
    size_t cap = 0;
    *n = 0;
    for (size_t k = 0; k + 1 < nends; k++) {
        uint64_t at = ends[k];
        if (at + 16 > size || le32(data + at) != XG_REC_PAGE_DATA)
            continue;
        uint32_t count = le32(data + at + 8);
        uint64_t page = at + 16 + (uint64_t)count * 8;
        for (uint32_t i = 0; i < count && at + 24 + i * 8ULL <= size; i++) {
            uint32_t type = le32(data + at + 16 + i * 8ULL + 4) & XG_PFINFO_LTAB_MASK;
            if (!xg_pfinfo_has_data(type))
                continue;
            if (xg_pfinfo_level(type) && page + 4096 <= size) {
                if (*n == cap && !(pages = realloc(pages, (cap = cap * 2 + 64) * sizeof(*pages)))) {
                    perror("realloc");
                    exit(1);
                }
                pages[(*n)++] = page;
            }
            page += 4096;
        }
    }
    return pages;
}

static uint8_t *slurp(const char *path, size_t *size)
{
    FILE *f = fopen(path, "rb");
    if (!f || fseek(f, 0, SEEK_END) < 0) {
        perror(path);
        exit(1);
    }
    long len = ftell(f);
    uint8_t *buf = malloc(len > 0 ? (size_t)len : 1);
    rewind(f);
    if (!buf || len <= 0 || fread(buf, 1, (size_t)len, f) != (size_t)len) {
        fprintf(stderr, "%s: cannot read\n", path);
        exit(1);
    }
    fclose(f);
    *size = (size_t)len;
    return buf;
}

static void cleanup(void)
{
    unlink(count_path);
    unlink(host_path);
    rmdir(host_dir);
}

int main(int argc, char **argv)
{
    unsigned long nrandom = 1000, seed = 1;
    int i = 1;
    for (; i + 1 < argc && argv[i][0] == '-'; i += 2) {
        if (strcmp(argv[i], "--random") == 0)
            nrandom = strtoul(argv[i + 1], NULL, 10);
        else if (strcmp(argv[i], "--seed") == 0)
            seed = strtoul(argv[i + 1], NULL, 10);
        else
            break;
    }
    if (i >= argc) {
        fprintf(stderr, "usage: damage [--random N] [--seed S] IMAGE...\n");
        return 2;
    }
    if (!mkdtemp(host_dir)) {
        perror("mkdtemp");
        return 1;
    }
    snprintf(host_path, sizeof(host_path), "%s/host", host_dir);
    snprintf(count_path, sizeof(count_path), "%s/count", host_dir);
    snprintf(spec, sizeof(spec), "sim:%s", host_path);
    atexit(cleanup);
    setenv("XG_FAULTS_COUNT", count_path, 1);
    xg_diag *d = xg_diag_new();
    if (sim_host_create(host_path, 4096, d) < 0) {
        xg_diag_print(stderr, d, false);
        return 1;
    }
    xg_diag_free(d);
    srandom((unsigned)seed);
    for (; i < argc; i++) {
        size_t size, nends;
        uint8_t *data = slurp(argv[i], &size);
        char what[160];
        snprintf(what, sizeof(what), "%s intact", argv[i]);
        if (!restore_one(data, size, what))
            FAIL("%s: the intact image does not restore", argv[i]);
        uint64_t *ends = record_ends(data, size, &nends);
        if (nends < 4)
            FAIL("%s: only %zu records read", argv[i], nends);
        unsigned long cuts = 0, flips = 0, harmless = 0;
        for (size_t k = 0; k < nends; k++) {
            if (ends[k] >= size)
                continue;
            snprintf(what, sizeof(what), "%s cut at record boundary %llu", argv[i],
                     (unsigned long long)ends[k]);
            if (restore_one(data, (size_t)ends[k], what))
                FAIL("%s: restored", what);
            cuts++;
        }
        for (unsigned long k = 0; k < nrandom; k++) {
            size_t at = (size_t)random() % size;
            snprintf(what, sizeof(what), "%s cut at %zu", argv[i], at);
            if (restore_one(data, at, what))
                FAIL("%s: restored", what);
            cuts++;
        }
        size_t ntables;
        uint64_t *tables = table_pages(data, size, ends, nends, &ntables);
        if (!ntables)
            FAIL("%s: no page table found in the image", argv[i]);
        /* Half the flips anywhere, half in the page tables (a pin must wait for validation). */
        unsigned long in_tables = 0, in_tables_refused = 0;
        for (unsigned long k = 0; k < nrandom; k++) {
            bool table = ntables && k % 2;
            size_t at = table ? (size_t)tables[(size_t)random() % ntables] + (size_t)random() % 4096
                              : (size_t)random() % size;
            uint8_t mask = (uint8_t)(1 + random() % 255);
            data[at] ^= mask;
            snprintf(what, sizeof(what), "%s byte %zu ^ %#x", argv[i], at, mask);
            int ok = restore_one(data, size, what);
            harmless += ok;
            in_tables += table;
            in_tables_refused += table && !ok;
            data[at] ^= mask;
            flips++;
        }
        printf("%s: %zu record boundaries, %lu cuts refused, %lu flips (%lu restored), %lu of them "
               "in the "
               "%zu page tables (%lu refused)\n",
               argv[i], nends, cuts, flips, harmless, in_tables, ntables, in_tables_refused);
        free(tables);
        free(ends);
        free(data);
    }
    check_host("the last run");
    printf("damage: %lu restores, %lu refused, %lu restored, %lu failures\n", runs, refused,
           restored, failures);
    return failures ? 1 : 0;
}
