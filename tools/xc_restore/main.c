/*
 * xc_restore - restore an x86 PV guest from a migration stream v2 image.
 *
 *   xend mode (what xend, Xen 3.2-4.5, runs; 7 to 9 arguments):
 *     xc_restore IOFD DOMID STORE_EVTCHN CONSOLE_EVTCHN HVM PAE APIC [SUPERPAGES [CHECKPOINTED]]
 *   Restores from IOFD into the domain xend created and prints
 *   "store-mfn N" and "console-mfn N" on stdout, as xend parses them.
 *   The backend comes from XG_BACKEND (sim:PATH), else real Xen.
 *
 *   standalone:
 *     xc_restore [--backend B] (--domid N | --create) [--in FILE|-] ...
 *   (see --help).  With --create it prints "domid N" first.
 *
 * Exit status: 0 restored, 1 failed (reasons on stderr), 2 usage error.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../common/cli.h"
#include "xg/report.h"
#include "xg/restore.h"

static const char *prog = "xc_restore";

static void usage(FILE *out)
{
    fprintf(
        out,
        "usage: %s [--backend sim:PATH|xen] (--domid N | --create) [--in FILE|-]\n"
        "                  [--check] [--vcpus N] [--store-evtchn P] [--console-evtchn P]\n"
        "                  [--report FILE.xml] [--progress] [--verbose]\n"
        "       %s IOFD DOMID STORE_EVTCHN CONSOLE_EVTCHN HVM PAE APIC [SUPERPAGES [CHECKPOINTED]]\n"
        "                                             (xend's calling convention)\n"
        "\n"
        "Restore a Xen x86 PV guest from an image (migration stream v2: raw, gzip, or an\n"
        "xl save file).  The image's page tables are checked the way Xen will check\n"
        "them before anything is pinned; a bad image is refused with every reason.\n"
        "\n"
        "  -b, --backend B        sim:PATH for a simulated host, xen for real Xen\n"
        "                         (default: $XG_BACKEND, else xen)\n"
        "  -d, --domid N          restore into this empty domain\n"
        "  -C, --create           create the domain (prints \"domid N\")\n"
        "      --vcpus N          with --create: vcpus of the new domain (default 16)\n"
        "  -i, --in FILE          the image (default: standard input)\n"
        "  -c, --check            read and validate the image against the target, change nothing\n"
        "      --store-evtchn P   event channel for xenstore (default: the domain's, or a new one)\n"
        "      --console-evtchn P event channel for the console (likewise)\n"
        "      --pin-order ORDER  dependency (default), or pfn as Xen's own restore does\n"
        "                         (for comparison: NetBSD-like guests then fail to pin)\n"
        "  -r, --report FILE      write the run's diagnostics and figures as XML\n"
        "  -p, --progress         progress bar on stderr (default when it is a terminal)\n"
        "  -v, --verbose          say what is done\n"
        "  -h, --help             this text\n"
        "\n"
        "On success prints store-mfn N and console-mfn N (and domid N with --create);\n"
        "the domain is left paused.  Exit status: 0 restored, 1 failed, 2 usage error.\n",
        prog, prog);
}

#define usage_error(...) cli_usage_error(prog, usage, __VA_ARGS__)

static void xend_log(void *arg, const char *line)
{
    (void)arg;
    fprintf(stderr, "%s\n", line);
}

/* Copy every finding of `from` into `to`. */
static void copy_findings(xg_diag *to, const xg_diag *from)
{
    for (size_t i = 0; i < xg_diag_count(from); i++) {
        const struct xg_finding *f = xg_diag_get(from, i);
        xg_diag_add(to, f->sev, f->code, 0, &f->loc, __FILE__, __LINE__, "%s", f->msg);
        if (f->xen_says)
            xg_diag_xen_says(to, "%s", f->xen_says);
        if (f->hint)
            xg_diag_hint(to, "%s", f->hint);
    }
}

/*
 * A legacy image of a 32-bit guest may be of a 2-level (non-PAE) one, which no current Xen
 * runs; that shows only in the whole image.  When the input can be read twice, check it
 * first (xg_image_check), so such an image is refused before any domain or frame is made.
 * Returns true when refused (a 2-level image, or no memory to look): the reasons are in d
 * and *res.  Any other trouble reading the image is left to the restore, which reports it.
 */
static bool refuse_two_level(int fd, struct xg_restore_result *res, xg_diag *d)
{
    off_t start = lseek(fd, 0, SEEK_CUR);
    if (start < 0)
        return false; /* a pipe: the restore itself refuses it, after reading it */
    xg_diag *probe = xg_diag_new();
    if (!probe) {
        xg_diag_err(d, XG_E_NOMEM, NULL, "out of memory checking the image");
        return true;
    }
    xg_stream_reader *r = NULL;
    struct xg_record rec;
    int rc = xg_stream_reader_open(fd, NULL, probe, &r);
    bool legacy32 = rc == 0 && xg_stream_reader_info(r)->legacy &&
                    (rc = xg_stream_read(r, &rec)) == 0 && rec.type == XG_REC_X86_PV_INFO &&
                    rec.u.pv_info.guest_width == 4;
    xg_stream_reader_close(r);
    bool refused = rc == XG_E_NOMEM;
    if (refused)
        copy_findings(d, probe);
    if (legacy32 && lseek(fd, start, SEEK_SET) == start) {
        xg_diag *check = xg_diag_new();
        struct xg_restore_result *cres = calloc(1, sizeof(*cres));
        rc = check && cres ? xg_image_check(fd, NULL, cres, check) : XG_E_NOMEM;
        if (rc == XG_E_NOMEM || (rc < 0 && cres->paging.verdict == XG_PAGING_2LEVEL)) {
            refused = true;
            if (check)
                copy_findings(d, check);
            if (rc == XG_E_NOMEM) {
                if (!check)
                    xg_diag_err(d, XG_E_NOMEM, NULL, "out of memory checking the image");
            } else {
                *res = *cres;
                xg_diag_note(d, NULL,
                             "nothing was created: the image was checked before the restore began");
            }
        }
        free(cres);
        xg_diag_free(check);
    }
    xg_diag_free(probe);
    if (!refused && lseek(fd, start, SEEK_SET) != start)
        return false;
    return refused;
}

static int xend_mode(int argc, char **argv)
{
    uint64_t iofd, domid, store, console, hvm, pae, apic, v;
    if (!cli_parse_u64(argv[1], 0, 65535, &iofd) || !cli_parse_u64(argv[2], 0, 0x7fef, &domid) ||
        !cli_parse_u64(argv[3], 0, 0xffffffff, &store) ||
        !cli_parse_u64(argv[4], 0, 0xffffffff, &console) || !cli_parse_u64(argv[5], 0, 1, &hvm) ||
        !cli_parse_u64(argv[6], 0, 1, &pae) || !cli_parse_u64(argv[7], 0, 1, &apic) ||
        (argc > 8 && !cli_parse_u64(argv[8], 0, 1, &v)) ||
        (argc > 9 && !cli_parse_u64(argv[9], 0, 1, &v))) {
        fprintf(
            stderr,
            "usage: %s iofd domid store_evtchn console_evtchn hvm pae apic [superpages [checkpointed]]\n",
            prog);
        return EXIT_USAGE;
    }
    if (hvm) {
        fprintf(stderr, "ERROR: HVM guests are not supported by xg's xc_restore (PV only)\n");
        fprintf(stderr, "Restore exit with rc=1\n");
        return EXIT_FAIL;
    }
    if (argc > 9 && v)
        fprintf(
            stderr,
            "WARNING: checkpointed (Remus) streams are not supported; restoring a plain stream\n");
    xg_diag *d = xg_diag_new();
    if (!d)
        return EXIT_FAIL;
    int status = EXIT_FAIL;
    xg_hv *hv = NULL;
    if (xg_hv_open(getenv("XG_BACKEND"), d, &hv) == 0) {
        struct xg_restore_params p = {
            .domid = (uint32_t)domid,
            .store_evtchn = (int)store,
            .console_evtchn = (int)console,
        };
        struct xg_restore_callbacks cb = { .log = xend_log };
        struct xg_restore_result res;
        if (!refuse_two_level((int)iofd, &res, d) &&
            xg_restore(hv, (int)iofd, &p, &cb, &res, d) == 0) {
            printf("store-mfn %llu\n", (unsigned long long)res.store_mfn);
            printf("console-mfn %llu\n", (unsigned long long)res.console_mfn);
            fflush(stdout);
            status = EXIT_OK;
        }
        xg_hv_close(hv);
    }
    if (status != EXIT_OK) {
        for (size_t i = 0; i < xg_diag_count(d); i++) {
            const struct xg_finding *f = xg_diag_get(d, i);
            char ctx[512];
            xg_loc_format(ctx, sizeof(ctx), &f->loc);
            fprintf(stderr, "%s: %s%s%s%s\n",
                    f->sev == XG_SEV_ERROR     ? "ERROR"
                    : f->sev == XG_SEV_WARNING ? "WARNING"
                                               : "NOTE",
                    f->msg, ctx[0] ? " [" : "", ctx, ctx[0] ? "]" : "");
            if (f->xen_says)
                fprintf(stderr, "  Xen would log: %s\n", f->xen_says);
            if (f->hint)
                fprintf(stderr, "  hint: %s\n", f->hint);
        }
        fprintf(stderr, "Restore exit with rc=1\n");
    }
    xg_diag_free(d);
    return status;
}

int main(int argc, char **argv)
{
    if (argc >= 8 && argc <= 10 && argv[1][0] >= '0' && argv[1][0] <= '9')
        return xend_mode(argc, argv);

    enum {
        OPT_VCPUS = 256,
        OPT_STORE,
        OPT_CONSOLE,
        OPT_PIN_ORDER
    };
    static const struct option opts[] = {
        { "backend", required_argument, NULL, 'b' },
        { "domid", required_argument, NULL, 'd' },
        { "create", no_argument, NULL, 'C' },
        { "in", required_argument, NULL, 'i' },
        { "check", no_argument, NULL, 'c' },
        { "report", required_argument, NULL, 'r' },
        { "progress", no_argument, NULL, 'p' },
        { "verbose", no_argument, NULL, 'v' },
        { "vcpus", required_argument, NULL, OPT_VCPUS },
        { "store-evtchn", required_argument, NULL, OPT_STORE },
        { "console-evtchn", required_argument, NULL, OPT_CONSOLE },
        { "pin-order", required_argument, NULL, OPT_PIN_ORDER },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    const char *backend = NULL, *in = NULL, *report = NULL;
    uint64_t domid = UINT64_MAX, v;
    bool progress = false, verbose = false;
    struct xg_restore_params p = { .store_evtchn = -1, .console_evtchn = -1 };
    int c;
    while ((c = getopt_long(argc, argv, "b:d:Ci:cr:pvh", opts, NULL)) != -1) {
        switch (c) {
        case 'b':
            backend = optarg;
            break;
        case 'd':
            if (!cli_parse_u64(optarg, 0, 0x7fef, &domid))
                return usage_error("bad --domid \"%s\"", optarg);
            break;
        case 'C':
            p.create = true;
            break;
        case 'i':
            in = optarg;
            break;
        case 'c':
            p.check_only = true;
            break;
        case 'r':
            report = optarg;
            break;
        case 'p':
            progress = true;
            break;
        case 'v':
            verbose = true;
            break;
        case OPT_VCPUS:
            if (!cli_parse_u64(optarg, 1, XG_HV_MAX_VCPUS, &v))
                return usage_error("bad --vcpus \"%s\"", optarg);
            p.create_vcpus = (unsigned)v;
            break;
        case OPT_STORE:
        case OPT_CONSOLE:
            if (!cli_parse_u64(optarg, 0, 0x7fffffff, &v))
                return usage_error("bad event channel \"%s\"", optarg);
            *(c == OPT_STORE ? &p.store_evtchn : &p.console_evtchn) = (int)v;
            break;
        case OPT_PIN_ORDER:
            if (strcmp(optarg, "pfn") && strcmp(optarg, "dependency"))
                return usage_error("--pin-order takes dependency or pfn, not \"%s\"", optarg);
            p.pin_in_pfn_order = strcmp(optarg, "pfn") == 0;
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
    if (p.create == (domid != UINT64_MAX))
        return usage_error("give exactly one of --domid N and --create");
    p.domid = (uint32_t)domid;
    int fd = STDIN_FILENO;
    if (in && strcmp(in, "-") != 0 && (fd = open(in, O_RDONLY | O_CLOEXEC)) < 0) {
        fprintf(stderr, "%s: cannot open %s: %s\n", prog, in, strerror(errno));
        return EXIT_FAIL;
    }
    if (fd == STDIN_FILENO && isatty(fd))
        return usage_error(
            "the image is read from standard input, which is a terminal: give --in FILE");

    xg_diag *d = xg_diag_new();
    if (!d)
        return EXIT_FAIL;
    struct cli_ui ui = { .prog = prog,
                         .progress = progress || isatty(STDERR_FILENO),
                         .verbose = verbose };
    struct xg_restore_callbacks cb = { .progress = cli_ui_progress, .log = cli_ui_log, .arg = &ui };
    struct xg_restore_result res;
    memset(&res, 0, sizeof(res));
    int status = EXIT_FAIL, rc = XG_E_INVAL;
    xg_hv *hv = cli_open_backend(backend, d);
    if (hv) {
        rc = XG_E_UNSUPPORTED;
        if (!refuse_two_level(fd, &res, d))
            rc = xg_restore(hv, fd, &p, &cb, &res, d);
        cli_ui_done(&ui);
        xg_hv_close(hv);
        if (rc == 0) {
            status = EXIT_OK;
            if (p.check_only) {
                fprintf(
                    stderr,
                    "%s: the image passed every check (%llu page tables, %llu live); nothing was changed\n",
                    prog, (unsigned long long)res.tables, (unsigned long long)res.tables_live);
            } else {
                if (p.create)
                    printf("domid %u\n", res.domid);
                printf("store-mfn %llu\n", (unsigned long long)res.store_mfn);
                printf("console-mfn %llu\n", (unsigned long long)res.console_mfn);
                fflush(stdout);
            }
        }
    }
    if (fd != STDIN_FILENO)
        close(fd);
    if (status != EXIT_OK || verbose || xg_diag_total(d, XG_SEV_WARNING))
        xg_diag_print(stderr, d, verbose);
    if (report) {
        xg_report *xr = cli_report_begin(prog, rc, p.create ? res.domid : p.domid);
        xg_report_set_param(xr, "backend", backend ? backend : getenv("XG_BACKEND"));
        xg_report_set_param(xr, "image", in ? in : "-");
        xg_report_set_param(xr, "mode",
                            p.check_only ? "check"
                            : p.create   ? "create"
                                         : "existing domain");
        xg_report_add_restore(xr, &res);
        if (cli_report_finish(xr, report, d) < 0 && status == EXIT_OK)
            status = EXIT_FAIL;
    }
    xg_diag_free(d);
    return status;
}
