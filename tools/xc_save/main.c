/*
 * xc_save - save an x86 PV guest.
 *
 * Two ways to call it:
 *
 *   xend mode (exactly what xend, Xen 3.x-4.5, runs):
 *     xc_save IOFD DOMID MAXIT MAX_F FLAGS
 *   The image goes to the already-open descriptor IOFD.  When the guest
 *   must be suspended it prints "suspend" on stdout and waits for xend's
 *   "done" line on stdin.  The backend comes from XG_BACKEND (sim:PATH),
 *   else real Xen.  Log lines go to stderr; errors start with "ERROR: ".
 *
 *   standalone:
 *     xc_save [--backend B] --domid N [--out FILE|-] [--live] ...
 *   (see --help).
 *
 * Exit status: 0 saved, 1 failed (reasons on stderr), 2 usage error.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../common/cli.h"
#include "xg/report.h"
#include "xg/save.h"

#define XCFLAGS_LIVE 1U
#define XCFLAGS_DEBUG 2U
#define XCFLAGS_HVM 4U
#define XCFLAGS_STDVGA 8U
#define XCFLAGS_CHECKPOINT_COMPRESS 16U

static const char *prog = "xc_save";

static void usage(FILE *out)
{
    fprintf(out,
            "usage: %s [--backend sim:PATH|xen] --domid N [--out FILE|-] [--live]\n"
            "               [--max-iters N] [--max-factor F] [--compress] [--compress-level N]\n"
            "               [--compress-threads N] [--check]\n"
            "               [--progress] [--report FILE.xml] [--verbose]\n"
            "       %s IOFD DOMID MAXIT MAX_F FLAGS          (xend's calling convention)\n"
            "\n"
            "Save a Xen x86 PV guest as a migration stream v2 image.\n"
            "\n"
            "  -b, --backend B      sim:PATH for a simulated host, xen for real Xen\n"
            "                       (default: $XG_BACKEND, else xen)\n"
            "  -d, --domid N        the domain to save\n"
            "  -o, --out FILE       where the image goes (- for stdout; the default when\n"
            "                       stdout is not a terminal); a file is replaced only\n"
            "                       once the image is complete\n"
            "  -l, --live           live: copy memory while the guest runs, then suspend\n"
            "      --max-iters N    live: at most N passes before suspending (default 29)\n"
            "      --max-factor F   live: stop when F times the guest was sent (default 3)\n"
            "  -z, --compress       gzip the image, on every CPU (one gzip member per MiB;\n"
            "                       any gzip reader reads it as one stream)\n"
            "      --compress-level N  zlib level 1 (fastest, the default) .. 9 (smallest)\n"
            "      --compress-threads N  compressing threads (default: one per CPU, at most 8)\n"
            "  -c, --check          pre-flight check only: report what would keep the image\n"
            "                       from restoring; suspends and writes nothing.  On a running\n"
            "                       guest each finding is re-read before it is reported (the\n"
            "                       guest changes its tables meanwhile); what still holds is\n"
            "                       confirmed with the domain paused for a moment (well under\n"
            "                       10 ms for a 1 GiB guest; -v says how long)\n"
            "  -p, --progress       progress bar on stderr (default when it is a terminal)\n"
            "  -r, --report FILE    write the run's diagnostics and figures as XML\n"
            "  -v, --verbose        say what is done, pass by pass\n"
            "  -h, --help           this text\n"
            "\n"
            "xend mode: FLAGS is xend's XCFLAGS (live 1, debug 2, hvm 4, stdvga 8,\n"
            "checkpoint-compress 16); MAXIT/MAX_F 0 mean the defaults.\n"
            "Exit status: 0 saved, 1 failed (reasons on stderr), 2 usage error.\n",
            prog, prog);
}

#define usage_error(...) cli_usage_error(prog, usage, __VA_ARGS__)

/* ---------------------------------------------------------------- xend mode */

/* xend's side of suspend: "suspend" on stdout, then wait for "done" on stdin. */
static int xend_suspend(void *arg, xg_diag *d)
{
    (void)arg;
    printf("suspend\n");
    fflush(stdout);
    char line[256];
    if (!fgets(line, sizeof(line), stdin))
        return xg_diag_err(d, XG_E_CANCELLED, NULL,
                           "xend closed the pipe instead of answering the suspend request");
    if (strncmp(line, "done", 4) != 0)
        return xg_diag_err(d, XG_E_CANCELLED, NULL,
                           "xend answered \"%.*s\" to the suspend request, not \"done\"",
                           (int)strcspn(line, "\n"), line);
    return 0;
}

static void xend_log(void *arg, const char *line)
{
    (void)arg;
    fprintf(stderr, "%s\n", line);
}

static void print_xend_errors(const xg_diag *d)
{
    for (size_t i = 0; i < xg_diag_count(d); i++) {
        const struct xg_finding *f = xg_diag_get(d, i);
        char ctx[512];
        xg_loc_format(ctx, sizeof(ctx), &f->loc);
        fprintf(stderr, "%s: %s%s%s%s\n", f->sev == XG_SEV_ERROR ? "ERROR" : "WARNING", f->msg,
                ctx[0] ? " [" : "", ctx, ctx[0] ? "]" : "");
        if (f->xen_says)
            fprintf(stderr, "  Xen would log: %s\n", f->xen_says);
        if (f->hint)
            fprintf(stderr, "  hint: %s\n", f->hint);
    }
}

static int xend_mode(int argc, char **argv)
{
    uint64_t iofd, domid, maxit, flags;
    double maxf;
    if (!cli_parse_u64(argv[1], 0, 65535, &iofd) || !cli_parse_u64(argv[2], 0, 0x7fef, &domid) ||
        !cli_parse_u64(argv[3], 0, 1000000, &maxit) || !cli_parse_double(argv[4], 0, 1e6, &maxf) ||
        !cli_parse_u64(argv[5], 0, 0xffffffff, &flags)) {
        fprintf(stderr, "usage: %s iofd domid maxit maxf flags\n", prog);
        return EXIT_USAGE;
    }
    (void)argc;
    if (flags & XCFLAGS_HVM) {
        fprintf(stderr,
                "ERROR: domain %llu: HVM guests are not supported by xg's xc_save (PV only)\n",
                (unsigned long long)domid);
        return EXIT_FAIL;
    }
    xg_diag *d = xg_diag_new();
    if (!d)
        return EXIT_FAIL;
    int status = EXIT_FAIL;
    xg_hv *hv = NULL;
    if (xg_hv_open(getenv("XG_BACKEND"), d, &hv) == 0) {
        struct xg_save_params p = {
            .live = flags & XCFLAGS_LIVE,
            .debug = flags & XCFLAGS_DEBUG,
            .max_iters = (unsigned)maxit,
            .max_factor = maxf,
        };
        struct xg_save_callbacks cb = { .suspend = xend_suspend, .log = xend_log };
        struct xg_save_stats st;
        int rc = xg_save(hv, (uint32_t)domid, (int)iofd, &p, &cb, &st, d);
        if (rc == 0)
            status = EXIT_OK;
        xg_hv_close(hv);
    }
    if (status != EXIT_OK)
        print_xend_errors(d);
    xg_diag_free(d);
    return status;
}

/* ---------------------------------------------------------------- standalone */

int main(int argc, char **argv)
{
    /* xend passes exactly five positional numbers. */
    if (argc == 6 && argv[1][0] >= '0' && argv[1][0] <= '9')
        return xend_mode(argc, argv);

    static const struct option opts[] = {
        { "backend", required_argument, NULL, 'b' },
        { "domid", required_argument, NULL, 'd' },
        { "out", required_argument, NULL, 'o' },
        { "live", no_argument, NULL, 'l' },
        { "max-iters", required_argument, NULL, 'I' },
        { "max-factor", required_argument, NULL, 'F' },
        { "compress", no_argument, NULL, 'z' },
        { "check", no_argument, NULL, 'c' },
        { "compress-level", required_argument, NULL, 'L' },
        { "compress-threads", required_argument, NULL, 'T' },
        { "progress", no_argument, NULL, 'p' },
        { "report", required_argument, NULL, 'r' },
        { "verbose", no_argument, NULL, 'v' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    const char *backend = NULL, *out = NULL, *report = NULL;
    uint64_t domid = UINT64_MAX, v;
    bool progress = false, verbose = false;
    struct xg_save_params p = { 0 };
    int c;
    while ((c = getopt_long(argc, argv, "b:d:o:lzcpr:vh", opts, NULL)) != -1) {
        switch (c) {
        case 'b':
            backend = optarg;
            break;
        case 'd':
            if (!cli_parse_u64(optarg, 0, 0x7fef, &domid))
                return usage_error("bad --domid \"%s\"", optarg);
            break;
        case 'o':
            out = optarg;
            break;
        case 'l':
            p.live = true;
            break;
        case 'I':
            if (!cli_parse_u64(optarg, 1, 63, &v))
                return usage_error("bad --max-iters \"%s\" (1..63)", optarg);
            p.max_iters = (unsigned)v;
            break;
        case 'F':
            if (!cli_parse_double(optarg, 1, 1000, &p.max_factor))
                return usage_error("bad --max-factor \"%s\" (1..1000)", optarg);
            break;
        case 'z':
            p.compress = true;
            break;
        case 'L':
            if (!cli_parse_u64(optarg, 1, 9, &v))
                return usage_error("bad --compress-level \"%s\" (1..9)", optarg);
            p.compress = true;
            p.compress_level = (int)v;
            break;
        case 'T':
            if (!cli_parse_u64(optarg, 1, 8, &v))
                return usage_error("bad --compress-threads \"%s\" (1..8)", optarg);
            p.compress = true;
            p.compress_threads = (unsigned)v;
            break;
        case 'c':
            p.check_only = true;
            break;
        case 'p':
            progress = true;
            break;
        case 'r':
            report = optarg;
            break;
        case 'v':
            verbose = true;
            break;
        case 'h':
            usage(stdout);
            return EXIT_OK;
        default:
            return usage_error("unknown option");
        }
    }
    if (optind != argc)
        return usage_error("unexpected argument \"%s\"", argv[optind]);
    if (domid == UINT64_MAX)
        return usage_error("--domid is required");
    if (p.check_only && out)
        return usage_error("--check writes no image: drop --out");

    int fd = -1;
    char *tmp = NULL;
    if (!p.check_only) {
        if (!out || strcmp(out, "-") == 0) {
            if (!out && isatty(STDOUT_FILENO))
                return usage_error("refusing to write an image to a terminal: give --out FILE");
            fd = STDOUT_FILENO;
        } else {
            struct stat sb;
            bool regular = stat(out, &sb) != 0 || S_ISREG(sb.st_mode);
            if (regular) {
                /* Write next to it and rename at the end: a failed save never clobbers an image. */
                if (asprintf(&tmp, "%s.xg-tmp.%d", out, (int)getpid()) < 0)
                    return EXIT_FAIL;
                fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
            } else {
                fd = open(out, O_WRONLY | O_CLOEXEC);
            }
            if (fd < 0) {
                fprintf(stderr, "%s: cannot create %s: %s\n", prog, tmp ? tmp : out,
                        strerror(errno));
                free(tmp);
                return EXIT_FAIL;
            }
        }
    }

    xg_diag *d = xg_diag_new();
    if (!d)
        return EXIT_FAIL;
    struct cli_ui ui = { .prog = prog,
                         .progress = progress || isatty(STDERR_FILENO),
                         .verbose = verbose };
    struct xg_save_callbacks cb = { .progress = cli_ui_progress, .log = cli_ui_log, .arg = &ui };
    int status = EXIT_FAIL, rc = XG_E_INVAL;
    struct xg_save_stats st;
    memset(&st, 0, sizeof(st));
    xg_hv *hv = cli_open_backend(backend, d);
    if (hv) {
        rc = xg_save(hv, (uint32_t)domid, fd, &p, &cb, &st, d);
        status = rc == 0 ? EXIT_OK : EXIT_FAIL;
        cli_ui_done(&ui);
        xg_hv_close(hv);
    }
    if (fd >= 0 && fd != STDOUT_FILENO) {
        if (status == EXIT_OK && tmp && fsync(fd) < 0) {
            fprintf(stderr, "%s: writing %s: %s\n", prog, out, strerror(errno));
            status = EXIT_FAIL;
        }
        close(fd);
        if (tmp) {
            if (status == EXIT_OK && rename(tmp, out) < 0) {
                fprintf(stderr, "%s: cannot rename %s to %s: %s\n", prog, tmp, out,
                        strerror(errno));
                status = EXIT_FAIL;
            }
            if (status != EXIT_OK)
                unlink(tmp);
        }
    }
    free(tmp);
    if (p.check_only) {
        xg_diag_print(stderr, d, verbose);
        if (status == EXIT_OK)
            fprintf(stderr, "%s: domain %llu: no problem found; its image would restore\n", prog,
                    (unsigned long long)domid);
    } else if (status != EXIT_OK) {
        xg_diag_print(stderr, d, verbose);
    } else if (verbose || xg_diag_total(d, XG_SEV_WARNING)) {
        xg_diag_print(stderr, d, verbose);
    }
    if (report) {
        xg_report *xr = cli_report_begin(prog, rc, (uint32_t)domid);
        xg_report_set_param(xr, "backend", backend ? backend : getenv("XG_BACKEND"));
        xg_report_set_param(xr, "mode", p.check_only ? "check" : p.live ? "live" : "non-live");
        if (!p.check_only &&
            rc == 0) /* a failed save's image is gone: its figures would describe nothing */
            xg_report_add_save(xr, &st);
        if (cli_report_finish(xr, report, d) < 0 && status == EXIT_OK)
            status = EXIT_FAIL;
    }
    xg_diag_free(d);
    return status;
}
