/*
 * fuzz_restore - restore into a simulated host: a host file made once, on
 * tmpfs (/dev/shm) when there is one, with one handle on it for the whole
 * run, as a long-lived toolstack would hold; each input is restored into
 * a domain the restore creates.  Then the domain must be gone (a failed
 * restore destroys what it created; a good one is destroyed here), not
 * merely dying: a frame the restore left mapped would keep it alive.
 * Every 256 inputs, and at exit, the host must be consistent: anything
 * else aborts, so the fuzzer keeps it as a crash.
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
static xg_hv *hv; /* open for the whole run */

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
    xg_hv_close(hv);
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
    /* tmpfs: the host's pages never go to a disk. */
    const char *tmp = getenv("TMPDIR");
    snprintf(host_dir, sizeof(host_dir), "/dev/shm/xg-fuzz.XXXXXX");
    if (!mkdtemp(host_dir)) {
        snprintf(host_dir, sizeof(host_dir), "%s/xg-fuzz.XXXXXX",
                 tmp && strlen(tmp) < 40 ? tmp : "/tmp");
        if (!mkdtemp(host_dir)) {
            perror("fuzz_restore: mkdtemp");
            exit(1);
        }
    }
    snprintf(host_path, sizeof(host_path), "%s/host", host_dir);
    snprintf(spec, sizeof(spec), "sim:%s", host_path);
    xg_diag *d = xg_diag_new();
    /*
     * Room for four of the seed guests (about 120 pages each) and their
     * tables: a frame leak shows soon as a failed populate, and a small
     * host makes destroy, which walks every frame, cheap.
     */
    if (!d || sim_host_create(host_path, 512, d) < 0 || xg_hv_open(spec, d, &hv) < 0) {
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
    if (!d)
        abort();
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
    if (res.domid && xg_hv_domain_info(hv, res.domid, &info, NULL) == 0) {
        fprintf(stderr, "fuzz_restore: domain %u is still there (%s)\n", res.domid,
                info.dying ? "dying: something still holds its frames" : "alive");
        abort();
    }
    xg_diag_free(d);
    close(fd);
    if (++runs % 256 == 0)
        check_host();
    return 0;
}
