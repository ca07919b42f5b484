/*
 * fuzz_restore - restore into a simulated host: a host file in a
 * temporary directory, made once; each input is restored into a domain
 * the restore creates.  Then the domain must be gone (a failed restore
 * destroys what it created) or destroyable (a good one), and every 256
 * inputs, and at exit, the host must be consistent: anything else aborts,
 * so the fuzzer keeps it as a crash.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "hv/sim/guest.h"
#include "hv/sim/sim.h"
#include "xg/hv.h"
#include "xg/restore.h"
#include "xg/xg.h"

static char host_dir[64], host_path[96], spec[112];
static unsigned long runs, restored;

static void check_host(void)
{
    xg_diag *d = xg_diag_new();
    struct sim_host *h;
    if (!d || sim_host_open(host_path, d, &h) < 0) {
        xg_diag_print(stderr, d, false);
        abort();
    }
    int rc = sim_check_consistency(h, d);
    sim_host_close(h);
    if (rc < 0) {
        fprintf(stderr, "fuzz_restore: the simulated host is inconsistent:\n");
        xg_diag_print(stderr, d, false);
        abort();
    }
    xg_diag_free(d);
}

static void cleanup(void)
{
    if (!host_path[0])
        return;
    check_host();
    /* For replay.sh: the seeds must restore, or this target tests only refusals. */
    if (getenv("XG_FUZZ_STATS"))
        fprintf(stderr, "fuzz_restore: %lu of %lu inputs restored\n", restored, runs);
    unlink(host_path);
    rmdir(host_dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    const char *tmp = getenv("TMPDIR");
    snprintf(host_dir, sizeof(host_dir), "%s/xg-fuzz.XXXXXX",
             tmp && strlen(tmp) < 40 ? tmp : "/tmp");
    if (!mkdtemp(host_dir)) {
        perror("fuzz_restore: mkdtemp");
        exit(1);
    }
    snprintf(host_path, sizeof(host_path), "%s/host", host_dir);
    snprintf(spec, sizeof(spec), "sim:%s", host_path);
    xg_diag *d = xg_diag_new();
    /* Room for two 1 MiB guests and their tables, no more: a leak shows as a failed populate. */
    if (!d || sim_host_create(host_path, 2048, d) < 0) {
        xg_diag_print(stderr, d, false);
        exit(1);
    }
    xg_diag_free(d);
    atexit(cleanup);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!host_path[0])
        LLVMFuzzerInitialize(NULL, NULL);
    int fd = fuzz_fd(data, size);
    if (fd < 0)
        return 0;
    xg_diag *d = xg_diag_new();
    xg_hv *hv = NULL;
    if (!d || xg_hv_open(spec, d, &hv) < 0) {
        xg_diag_print(stderr, d, false);
        abort();
    }
    struct xg_restore_params p = {
        .create = true, .create_vcpus = 2, .store_evtchn = -1, .console_evtchn = -1};
    struct xg_restore_result res;
    int rc = xg_restore(hv, fd, &p, NULL, &res, d);
    struct xg_domain_info info;
    if (rc < 0 && res.created) {
        fprintf(stderr, "fuzz_restore: a failed restore left domain %u behind\n", res.domid);
        abort();
    }
    restored += rc == 0;
    if (rc == 0 && xg_hv_domain_destroy(hv, res.domid, d) < 0) {
        fprintf(stderr, "fuzz_restore: the restored domain %u does not destroy\n", res.domid);
        abort();
    }
    if (res.domid && xg_hv_domain_info(hv, res.domid, &info, NULL) == 0 && !info.dying) {
        fprintf(stderr, "fuzz_restore: domain %u is still there\n", res.domid);
        abort();
    }
    xg_hv_close(hv);
    xg_diag_free(d);
    close(fd);
    if (++runs % 256 == 0)
        check_host();
    return 0;
}
