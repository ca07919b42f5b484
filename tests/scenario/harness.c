/*
 * harness.c - the scenario harness: xg's real tools, end to end, on
 * simulated Xen hosts.
 *
 * Every scenario runs the binaries users run (xg-sim, xc_save, xc_restore,
 * xg-inspect, and the test helper xg-mutate) as child processes, each with
 * a timeout, in a directory of its own, and checks their exit status and
 * what they print.  The groups:
 *
 *   roundtrip  xg-sim init (two hosts), create, xc_save [--live]
 *              [--compress] to a file (a workload dirties the guest during
 *              a live save), xg-inspect, xc_restore --create onto the
 *              second host, compare, self-check, resume, self-check,
 *              check both hosts.
 *   livepipe   xc_save --live --out - piped straight into xc_restore
 *              --create --in -, while `xg-sim run` dirties the source: the
 *              save needs more than one pass and the restored guest equals
 *              the source as it was at suspend.
 *   fault      guests built with an injected fault: dom0-writable-map and
 *              foreign-pte make xc_save fail with the frame named, write
 *              no image, and leave the guest running; its --check fails
 *              on the first and warns on the second (a running guest may
 *              map a foreign frame for a while); stale-table must
 *              round-trip.
 *   xend       xend's calling conventions, the harness playing xend: the
 *              "suspend"/"done" handshake, the image on a descriptor, an
 *              empty domain restored with 7 and 9 arguments, xend's
 *              store-mfn/console-mfn regexes; HVM refused; a wrong answer
 *              to "suspend".
 *   churn      xc_save --live while `xg-sim run` plays a kernel that
 *              builds, pins, runs on and frees address spaces, balloons
 *              and grant-maps: the restored guest equals the source and
 *              its self-check passes; and the churn alone leaves the host
 *              consistent and the guest's self-check passing.
 *   badimage   images broken with xg-mutate: xc_restore --create refuses
 *              them naming the pfn, destroys the domain it created, pins
 *              nothing; xg-inspect agrees offline; the host stays usable.
 *
 * Output: one PASS/FAIL line per scenario and a summary on stdout; a JUnit
 * XML file (libxml2) with one <testcase> per scenario holding the commands
 * it ran and their output.  Exit status 0 when every scenario passed, 1
 * when one failed, 2 on a usage error, 99 when the harness itself could
 * not work (automake's "hard error").
 *
 * This file: the options, the matrix (each group registers its own
 * scenarios; see harness.h for the files), running the scenarios, main.
 * Usage: see usage() below or `harness --help`.
 */
#include "config.h"

#include "harness.h"

/* ------------------------------------------------------------ matrix */

/* The groups, in the order their scenarios run (and their rotation counter advances). */
static void (*const groups[])(struct matrix *mx, const struct config *cfg) = {
    roundtrip_register, livepipe_register, fault_register,
    xend_register,      churn_register,    badimage_register,
};

static void build_matrix(struct matrix *mx, const struct config *cfg)
{
    for (size_t g = 0; g < sizeof(groups) / sizeof(groups[0]); g++)
        groups[g](mx, cfg);
}

static bool selected(const struct config *cfg, const struct scenario *s)
{
    if (!cfg->nfilters)
        return true;
    char *full = xasprintf("%s/%s", s->group, s->name);
    bool r = false;
    for (unsigned i = 0; i < cfg->nfilters && !r; i++)
        r = strstr(full, cfg->filters[i]) != NULL;
    free(full);
    return r;
}

/* ------------------------------------------------------------ running */

static void run_scenario(struct scenario *s, unsigned index)
{
    s->dir = xasprintf("%s/%03u-%s-%s", s->cfg->tmpdir, index, s->group, s->name);
    if (mkdir(s->dir, 0700) < 0)
        die("mkdir %s: %s", s->dir, strerror(errno));
    double t0 = now_s();
    s->fn(s, &s->p);
    s->seconds = now_s() - t0;
    if (!s->cfg->keep)
        rm_tree(s->dir);
    for (size_t i = 0; i < s->nchildren; i++)
        child_free(s->children[i]);
    free(s->children);
    s->children = NULL;
    s->nchildren = 0;
    for (size_t i = 0; i < s->nstrings; i++)
        free(s->strings[i]);
    free(s->strings);
    s->strings = NULL;
    s->nstrings = 0;
}

/* ------------------------------------------------------------ main */

static void usage(FILE *f)
{
    fprintf(f,
            "usage: harness [--quick|--full] [--junit FILE] [--builddir DIR] [--filter TEXT]...\n"
            "               [--timeout SECONDS] [--keep] [--list] [--verbose]\n"
            "\n"
            "Run xg's tools end to end on simulated Xen hosts (see tests/scenario/README.md).\n"
            "\n"
            "  -q, --quick          the quick matrix (default; what make check runs)\n"
            "  -f, --full           the full matrix: every size, seed and rate\n"
            "  -j, --junit FILE     JUnit XML results (default BUILDDIR/tests/scenario/junit.xml)\n"
            "  -b, --builddir DIR   where the tools were built (default $abs_top_builddir, else\n"
            "                       two levels above this program)\n"
            "  -F, --filter TEXT    only scenarios whose GROUP/NAME contains TEXT (repeatable)\n"
            "  -t, --timeout S      kill and fail a command after S seconds (default 120)\n"
            "  -k, --keep           keep the scenarios' directories (hosts, images)\n"
            "  -l, --list           list the scenarios and exit\n"
            "  -v, --verbose        print every command and its stderr\n"
            "  -h, --help           this text\n"
            "\n"
            "The tools are BUILDDIR/tools/xc_save/xc_save, ... unless XC_SAVE, XC_RESTORE,\n"
            "XG_SIM, XG_INSPECT, XG_MUTATE name them.  Scratch files go under $TMPDIR.\n"
            "Exit status: 0 all passed, 1 a scenario failed, 2 usage error, 99 harness error.\n");
}

static char *tool_path(const char *env, const char *builddir, const char *rel)
{
    const char *e = getenv(env);
    char *p = e && *e ? xstrdup(e) : xasprintf("%s/%s", builddir, rel);
    if (access(p, X_OK) != 0) {
        fprintf(stderr,
                "harness: %s is not an executable (%s); build it first"
                " (make check builds everything)\n",
                p, strerror(errno));
        exit(EXIT_HARD);
    }
    char *abs = realpath(p, NULL);
    if (!abs)
        die("%s: %s", p, strerror(errno));
    free(p);
    return abs;
}

/* Two directories above this program (BUILDDIR/tests/scenario/harness), past a libtool .libs. */
static char *default_builddir(void)
{
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
    if (n <= 0)
        return xstrdup(".");
    self[n] = '\0';
    for (int up = 0; up < 3; up++) {
        char *slash = strrchr(self, '/');
        if (!slash)
            return xstrdup(".");
        *slash = '\0';
        if (up == 0 && strlen(self) >= 6 && !strcmp(self + strlen(self) - 6, "/.libs"))
            up--;
    }
    return xstrdup(self[0] ? self : "/");
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        { "quick", no_argument, NULL, 'q' },
        { "full", no_argument, NULL, 'f' },
        { "junit", required_argument, NULL, 'j' },
        { "builddir", required_argument, NULL, 'b' },
        { "filter", required_argument, NULL, 'F' },
        { "timeout", required_argument, NULL, 't' },
        { "keep", no_argument, NULL, 'k' },
        { "list", no_argument, NULL, 'l' },
        { "verbose", no_argument, NULL, 'v' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    struct config cfg = { .timeout = 120 };
    const char *builddir = NULL, *junit = NULL;
    int c;
    while ((c = getopt_long(argc, argv, "qfj:b:F:t:klvh", opts, NULL)) != -1) {
        switch (c) {
        case 'q':
            cfg.full = false;
            break;
        case 'f':
            cfg.full = true;
            break;
        case 'j':
            junit = optarg;
            break;
        case 'b':
            builddir = optarg;
            break;
        case 'F':
            if (cfg.nfilters == sizeof(cfg.filters) / sizeof(cfg.filters[0])) {
                fprintf(stderr, "harness: too many --filter\n");
                return EXIT_USAGE;
            }
            cfg.filters[cfg.nfilters++] = optarg;
            break;
        case 't': {
            char *end;
            cfg.timeout = strtod(optarg, &end);
            if (*end || !(cfg.timeout > 0)) {
                fprintf(stderr, "harness: bad --timeout \"%s\"\n", optarg);
                return EXIT_USAGE;
            }
            break;
        }
        case 'k':
            cfg.keep = true;
            break;
        case 'l':
            cfg.list = true;
            break;
        case 'v':
            cfg.verbose = true;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return EXIT_USAGE;
        }
    }
    if (optind != argc) {
        fprintf(stderr, "harness: unexpected argument \"%s\"\n", argv[optind]);
        usage(stderr);
        return EXIT_USAGE;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    signal(SIGPIPE, SIG_IGN);
    struct sigaction sa = { .sa_handler = on_signal };
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);

    struct matrix mx = { .n = 0 };
    build_matrix(&mx, &cfg);
    struct scenario *sel[MAX_SCENARIOS];
    unsigned nsel = 0;
    for (unsigned i = 0; i < mx.n; i++)
        if (selected(&cfg, mx.s[i]))
            sel[nsel++] = mx.s[i];
    if (cfg.list) {
        for (unsigned i = 0; i < nsel; i++)
            printf("%s/%s\n", sel[i]->group, sel[i]->name);
        return 0;
    }
    if (!nsel) {
        fprintf(stderr, "harness: no scenario matches the filters\n");
        return EXIT_USAGE;
    }

    const char *env_build = getenv("abs_top_builddir");
    cfg.builddir = builddir                  ? xstrdup(builddir)
                   : env_build && *env_build ? xstrdup(env_build)
                                             : default_builddir();
    cfg.xc_save = tool_path("XC_SAVE", cfg.builddir, "tools/xc_save/xc_save");
    cfg.xc_restore = tool_path("XC_RESTORE", cfg.builddir, "tools/xc_restore/xc_restore");
    cfg.xg_sim = tool_path("XG_SIM", cfg.builddir, "tools/xg-sim/xg-sim");
    cfg.xg_inspect = tool_path("XG_INSPECT", cfg.builddir, "tools/xg-inspect/xg-inspect");
    cfg.xg_mutate = tool_path("XG_MUTATE", cfg.builddir, "tests/tools/xg-mutate");
    cfg.junit = junit ? xstrdup(junit) : xasprintf("%s/tests/scenario/junit.xml", cfg.builddir);
    const char *tmp = getenv("TMPDIR");
    cfg.tmpdir = xasprintf("%s/xg-scenarios.XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(cfg.tmpdir))
        die("mkdtemp %s: %s", cfg.tmpdir, strerror(errno));
    if (!cfg.keep)
        scratch_dir = cfg.tmpdir;

    printf("xg scenarios: %u of the %s matrix; tools from %s; scratch in %s\n", nsel,
           cfg.full ? "full" : "quick", cfg.builddir, cfg.tmpdir);
    time_t started = time(NULL);
    double t0 = now_s();
    unsigned failed = 0;
    for (unsigned i = 0; i < nsel; i++) {
        struct scenario *s = sel[i];
        run_scenario(s, i);
        if (interrupted)
            bail_out();
        failed += s->nfail != 0;
        printf("%s %s/%s (%.2f s)\n", s->nfail ? "FAIL" : "PASS", s->group, s->name, s->seconds);
        if (s->nfail) {
            const char *f = buf_str(&s->failures);
            for (const char *p = f; *p; p = strchr(p, '\n'), p = p ? p + 1 : "")
                printf("    %.*s\n", (int)strcspn(p, "\n"), p);
        }
    }
    double total = now_s() - t0;
    int jrc = write_junit(&cfg, sel, nsel, total, started);
    if (jrc < 0)
        fprintf(stderr, "harness: cannot write %s\n", cfg.junit);
    printf("%u scenarios: %u passed, %u failed, %.1f s; JUnit: %s%s\n", nsel, nsel - failed, failed,
           total, cfg.junit, jrc < 0 ? " (could not be written)" : "");
    if (cfg.keep)
        printf("scenario directories kept in %s\n", cfg.tmpdir);
    else
        rm_tree(cfg.tmpdir);

    for (unsigned i = 0; i < mx.n; i++) {
        struct scenario *s = mx.s[i];
        buf_free(&s->out);
        buf_free(&s->err);
        buf_free(&s->failures);
        free(s->first_failure);
        free(s->name);
        free(s->dir);
        free(s);
    }
    free(cfg.xc_save);
    free(cfg.xc_restore);
    free(cfg.xg_sim);
    free(cfg.xg_inspect);
    free(cfg.xg_mutate);
    free(cfg.builddir);
    free(cfg.junit);
    free(cfg.tmpdir);
    xmlCleanupParser();
    if (jrc < 0)
        return EXIT_HARD;
    return failed ? 1 : 0;
}
