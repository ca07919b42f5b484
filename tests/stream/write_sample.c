/*
 * write_sample - write the representative PV stream of the tests (every
 * PV record type, every page type) to a file, for checks by other tools
 * (tests/stream/conformance.sh runs Xen's verify-stream-v2 on it).
 *
 *   write_sample [options] OUT
 *
 *   -w, --width 4|8       guest width (default 8: 64-bit, 4 levels)
 *   -n, --pfns N          pfns 0..N-1 (default 2500)
 *   -b, --batch N         pfns per PAGE_DATA record (default 1024)
 *       --vcpus N         default 1
 *       --empty-blobs     zero-content EXTENDED/XSAVE/MSRS records too
 *       --verify          VERIFY, then every page again
 *       --checkpoint      CHECKPOINT, then a second round
 *       --extras          CHECKPOINT_DIRTY_PFN_LIST and an unknown optional
 *                         record (valid for xg; verify-stream-v2 refuses them)
 *       --wrap xl|libxl   inside an xl save file / a libxl stream
 *   -z, --gzip            gzip the whole file
 *
 * OUT may be - for standard output.  Exit status 0, or 1 with the reason.
 */
#include "config.h"

#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../unit/testutil.h"

static unsigned number(const char *s, const char *what)
{
    char *end;
    unsigned long v = strtoul(s, &end, 0);
    if (!*s || *end || v == 0 || v > 0x10000000UL) {
        fprintf(stderr, "write_sample: bad %s: %s\n", what, s);
        exit(2);
    }
    return (unsigned)v;
}

int main(int argc, char **argv)
{
    enum { OPT_VCPUS = 256, OPT_EMPTY, OPT_VERIFY, OPT_CHECKPOINT, OPT_EXTRAS, OPT_WRAP };
    static const struct option longopts[] = {
        { "width", required_argument, NULL, 'w' },
        { "pfns", required_argument, NULL, 'n' },
        { "batch", required_argument, NULL, 'b' },
        { "vcpus", required_argument, NULL, OPT_VCPUS },
        { "empty-blobs", no_argument, NULL, OPT_EMPTY },
        { "verify", no_argument, NULL, OPT_VERIFY },
        { "checkpoint", no_argument, NULL, OPT_CHECKPOINT },
        { "extras", no_argument, NULL, OPT_EXTRAS },
        { "wrap", required_argument, NULL, OPT_WRAP },
        { "gzip", no_argument, NULL, 'z' },
        { NULL, 0, NULL, 0 },
    };
    struct xgt_sample_opts o = { 0 };
    enum xg_stream_wrapper wrap = XG_WRAP_NONE;
    bool gzip = false;
    int c;
    while ((c = getopt_long(argc, argv, "w:n:b:z", longopts, NULL)) != -1) {
        switch (c) {
        case 'w':
            o.guest_width = number(optarg, "width");
            if (o.guest_width != 4 && o.guest_width != 8) {
                fprintf(stderr, "write_sample: the width is 4 or 8\n");
                return 2;
            }
            break;
        case 'n': o.nr_pfns = number(optarg, "pfn count"); break;
        case 'b': o.batch = number(optarg, "batch"); break;
        case OPT_VCPUS: o.nr_vcpus = number(optarg, "vcpu count"); break;
        case OPT_EMPTY: o.empty_blobs = true; break;
        case OPT_VERIFY: o.verify = true; break;
        case OPT_CHECKPOINT: o.checkpoint = true; break;
        case OPT_EXTRAS: o.extras = true; break;
        case OPT_WRAP:
            if (!strcmp(optarg, "xl"))
                wrap = XG_WRAP_XL;
            else if (!strcmp(optarg, "libxl"))
                wrap = XG_WRAP_LIBXL;
            else if (strcmp(optarg, "none")) {
                fprintf(stderr, "write_sample: --wrap takes xl, libxl or none\n");
                return 2;
            }
            break;
        case 'z': gzip = true; break;
        default:
            fprintf(stderr, "usage: %s [-w 4|8] [-n PFNS] [-b BATCH] [--vcpus N] [--empty-blobs] [--verify] "
                            "[--checkpoint] [--extras] [--wrap xl|libxl] [-z] OUT\n", argv[0]);
            return 2;
        }
    }
    if (optind != argc - 1) {
        fprintf(stderr, "write_sample: expected exactly one OUT argument\n");
        return 2;
    }
    const char *path = argv[optind];
    int fd = strcmp(path, "-") ? open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644) : STDOUT_FILENO;
    if (fd < 0) {
        perror(path);
        return 1;
    }
    int status = 0;
    if (wrap == XG_WRAP_NONE) {
        /* Straight from xg's writer to the file (gzip included). */
        xg_diag *d = xg_diag_new();
        if (!d || xgt_write_stream(fd, gzip, xgt_sample_write_fn, &o, d) < 0) {
            xg_diag_print(stderr, d, true);
            status = 1;
        }
        xg_diag_free(d);
    } else {
        struct xgt_buf b, gz;
        xgt_buf_init(&b);
        xgt_buf_init(&gz);
        xgt_sample_mem(&o, wrap, &b, NULL);
        if (gzip)
            xgt_gzip(b.data, b.len, &gz);
        const struct xgt_buf *out = gzip ? &gz : &b;
        if (xgt_write_all(fd, out->data, out->len) < 0) {
            perror(path);
            status = 1;
        }
        xgt_buf_free(&b);
        xgt_buf_free(&gz);
    }
    if (fd != STDOUT_FILENO && close(fd) < 0) {
        perror(path);
        status = 1;
    }
    return status;
}
