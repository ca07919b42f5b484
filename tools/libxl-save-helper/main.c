/*
 * xg-libxl-save-helper - xg's engine behind xl/libxl, in place of Xen's
 * libxl-save-helper (Xen 4.14 to 4.19; README.md beside this file).
 *
 * libxl forks it as
 *   HELPER --save-domain IO_FD RECV_FD DOMID FLAGS CBFLAGS STREAM_TYPE
 *   HELPER --restore-domain IO_FD SEND_BACK_FD DOMID STORE_EVTCHN STORE_DOMID
 *          CONSOLE_EVTCHN CONSOLE_DOMID CBFLAGS STREAM_TYPE
 * with its message pipe on stdout and its reply pipe on stdin, and talks
 * to it in the binary protocol of proto.h.  A save writes exactly one
 * libxc stream to IO_FD, ending with its END record (libxl appends its
 * own records after it); a restore reads exactly one, and not a byte
 * past its END (libxl reads on from the same descriptor).
 *
 * Every outcome reaches libxl as complete(retval, errno), after the
 * reasons as log lines; then the helper waits for libxl's reply and
 * exits 0.  It exits otherwise only when libxl's pipes are gone (255: a
 * write failed, 254: no reply), or with 2 on an argv libxl would not
 * build (another Xen version's helper protocol: messages would be
 * misread, so none is sent).
 *
 * The backend is real Xen unless XG_BACKEND says otherwise (sim:PATH for
 * a simulated host).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "proto.h"
#include "xg/restore.h"
#include "xg/save.h"

#define XCFLAGS_LIVE 1U
#define XCFLAGS_DEBUG 2U
#define XC_STREAM_PLAIN 0UL

#define EXIT_USAGE 2

static const char *const prog = "xg-libxl-save-helper";
/* Context of the engine's lines and findings, as libxenguest's are "xc". */
static const char *const engine_ctx = "xg";

/* ------------------------------------------------------------ argv */

static void usage(FILE *out)
{
    fprintf(out,
            "usage: %s --save-domain IO_FD RECV_FD DOMID FLAGS CBFLAGS STREAM_TYPE\n"
            "       %s --restore-domain IO_FD SEND_BACK_FD DOMID STORE_EVTCHN STORE_DOMID\n"
            "                          CONSOLE_EVTCHN CONSOLE_DOMID CBFLAGS STREAM_TYPE\n"
            "\n"
            "xg's stand-in for Xen's libxl-save-helper: libxl (xl save, xl restore,\n"
            "xl migrate) runs it, with its message pipe on stdout and its reply pipe\n"
            "on stdin, in the protocol of Xen 4.14 to 4.19.  It is not meant to be\n"
            "run by hand.  To use it:\n"
            "\n"
            "  LIBXL_SAVE_HELPER=/path/to/xg-libxl-save-helper xl save DOMAIN FILE\n"
            "\n"
            "or install it as /usr/lib/xen-4.17/bin/libxl-save-helper.  The backend\n"
            "is real Xen unless XG_BACKEND names another (sim:PATH).\n"
            "\n"
            "FLAGS: 1 live, 2 debug.  STREAM_TYPE: 0 (plain) only; Remus and COLO are\n"
            "refused.  Exit status: 0 once libxl has the result (failures included),\n"
            "2 for an argv that libxl of Xen 4.14-4.19 would not build, 254/255 when\n"
            "libxl's pipes are gone.\n",
            prog, prog);
}

static int usage_error(const char *what, const char *arg)
{
    fprintf(stderr, "%s: %s%s%s%s\n", prog, what, arg ? " \"" : "", arg ? arg : "",
            arg ? "\"" : "");
    fprintf(stderr,
            "%s: this helper speaks the argv and messages of Xen 4.14-4.19's libxl-save-helper; "
            "run `%s --help`\n",
            prog, prog);
    return EXIT_USAGE;
}

/* A decimal number in [min, max], as libxl prints them (%lu; fds with %d). */
static bool parse_num(const char *s, long long min, long long max, long long *out)
{
    if (!s || !*s)
        return false;
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || *end || v < min || v > max)
        return false;
    *out = v;
    return true;
}

/* ------------------------------------------------------------ signals */

static volatile sig_atomic_t terminated;
static int unwritable_fd = -1;
static int save_io_fd = -1;
static int wake_pipe[2] = { -1, -1 }; /* the handler wakes a wait for libxl's reply */

/*
 * Save: libxl stops a helper with SIGTERM.  The engine writes straight
 * through, so make its next write fail (read-only /dev/null over the
 * stream) and let its error path put the guest back, as Xen's helper
 * does; complete(-1) still follows.
 */
static void save_sigterm(int sig)
{
    (void)sig;
    int e = errno;
    terminated = 1;
    if (dup2(unwritable_fd, save_io_fd) != save_io_fd)
        abort(); /* nothing async-signal-safe left to try */
    ssize_t w = write(wake_pipe[1], "T", 1);
    (void)w; /* a full pipe is already awake */
    errno = e;
}

static bool setup_signals(bool save)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sigemptyset(&sa.sa_mask);
    /*
     * Unlike Xen's helper, a vanished reader (libxl, or the far end of a
     * migration) is an EPIPE the engine handles, not a death that leaves
     * the guest suspended or in log-dirty mode.
     */
    sa.sa_handler = SIG_IGN;
    if (sigaction(SIGPIPE, &sa, NULL) < 0)
        return false;
    if (save) {
        unwritable_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
        if (unwritable_fd < 0 || pipe2(wake_pipe, O_CLOEXEC | O_NONBLOCK) < 0)
            return false;
        helper_chan_set_wake(wake_pipe[0]);
        sa.sa_handler = save_sigterm;
        sa.sa_flags = 0; /* no SA_RESTART: a blocked write or read returns */
    } else {
        sa.sa_handler = SIG_DFL;
    }
    if (sigaction(SIGTERM, &sa, NULL) < 0)
        return false;
    /* The signal mask survives exec: libxl may have left SIGTERM blocked. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    return sigprocmask(SIG_UNBLOCK, &set, NULL) == 0;
}

/* ------------------------------------------------------------ reporting */

/* The errno libxl shows for a failure ("saving domain: ...: <strerror>"). */
static int errno_of(int rc, const xg_diag *d)
{
    const struct xg_finding *f = xg_diag_first_error(d);
    if (f && f->sys_errno > 0)
        return f->sys_errno;
    /* One row per code. */
    /* clang-format off */
    switch (rc) {
    case XG_E_NOMEM: return ENOMEM;
    case XG_E_IO: return EIO;
    case XG_E_TRUNCATED: return EIO;
    case XG_E_CORRUPT: return EINVAL;
    case XG_E_VERSION: return EOPNOTSUPP;
    case XG_E_UNSUPPORTED: return EOPNOTSUPP;
    case XG_E_HV: return EPERM;
    case XG_E_INVAL: return EINVAL;
    case XG_E_GUEST: return EINVAL;
    case XG_E_IMAGE: return EINVAL;
    case XG_E_CANCELLED: return ECANCELED;
    case XG_E_BUSY: return EBUSY;
    case XG_E_NOTFOUND: return ESRCH;
    default: return EIO;
    }
    /* clang-format on */
}

/*
 * Every finding as log lines: the message with its context, then what
 * Xen would log and the hint, at the finding's level.  On success only
 * warnings and notes can be there; they do not shout.
 */
static void log_findings(const xg_diag *d, bool failed)
{
    for (size_t i = 0; i < xg_diag_count(d); i++) {
        const struct xg_finding *f = xg_diag_get(d, i);
        int level = f->sev == XG_SEV_ERROR     ? HELPER_XTL_ERROR
                    : f->sev == XG_SEV_WARNING ? HELPER_XTL_WARN
                    : failed                   ? HELPER_XTL_INFO
                                               : HELPER_XTL_DETAIL;
        char ctx[512];
        xg_loc_format(ctx, sizeof(ctx), &f->loc);
        helper_log(level, f->sys_errno > 0 ? f->sys_errno : -1, engine_ctx, "%s%s%s%s", f->msg,
                   ctx[0] ? " [" : "", ctx, ctx[0] ? "]" : "");
        if (f->xen_says)
            helper_log(level, -1, engine_ctx, "  Xen would log: %s", f->xen_says);
        if (f->hint)
            helper_log(level, -1, engine_ctx, "  hint: %s", f->hint);
    }
    size_t errs = xg_diag_total(d, XG_SEV_ERROR), warns = xg_diag_total(d, XG_SEV_WARNING);
    size_t all = errs + warns + xg_diag_total(d, XG_SEV_NOTE);
    if (all > xg_diag_count(d))
        helper_log(failed ? HELPER_XTL_ERROR : HELPER_XTL_WARN, -1, engine_ctx,
                   "%zu errors, %zu warnings (%zu not shown)", errs, warns, all - xg_diag_count(d));
}

/* complete(), then leave: 0 once libxl has answered, else how the pipes broke. */
static int finish(int rc, int errnoval)
{
    int retval = rc == 0 ? 0 : -1;
    if (retval == 0)
        errnoval = 0;
    helper_log(HELPER_XTL_DEBUG, retval ? errnoval : -1, prog, "complete r=%d", retval);
    helper_complete(retval, errnoval);
    return helper_chan_status();
}

/* A refusal before the engine runs: one ERROR line and complete(-1). */
static int refuse(int errnoval, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int refuse(int errnoval, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    helper_vlog(HELPER_XTL_ERROR, -1, prog, fmt, ap);
    va_end(ap);
    return finish(-1, errnoval);
}

/* ------------------------------------------------------------ engine callbacks */

struct run {
    uint32_t domid;
    bool live;
    char what[64]; /* doing_what of the last progress message */
};

static void on_log(void *arg, const char *line)
{
    (void)arg;
    helper_log(HELPER_XTL_DETAIL, -1, engine_ctx, "%s", line);
}

/* The engine's phases in the words of libxenguest's progress lines. */
static const char *doing_what(struct run *r, const struct xg_progress *p)
{
    const char *ph = p->phase ? p->phase : "";
    if (!strcmp(ph, "memory") && r->live)
        snprintf(r->what, sizeof(r->what), "Frames iteration %u", p->iteration);
    else if (!strcmp(ph, "memory") || !strcmp(ph, "restore"))
        snprintf(r->what, sizeof(r->what), "Frames");
    else if (!strcmp(ph, "final pass"))
        snprintf(r->what, sizeof(r->what), "Frames final pass");
    else if (!strcmp(ph, "verify"))
        snprintf(r->what, sizeof(r->what), "Frames (verify)");
    else if (!strcmp(ph, "vcpus"))
        snprintf(r->what, sizeof(r->what), "vCPUs");
    else if (!strcmp(ph, "validate"))
        snprintf(r->what, sizeof(r->what), "Checking page tables");
    else if (!strcmp(ph, "pin"))
        snprintf(r->what, sizeof(r->what), "Pinning page tables");
    else
        snprintf(r->what, sizeof(r->what), "%s", ph);
    return r->what;
}

static unsigned long to_ulong(uint64_t v)
{
    return v > ULONG_MAX ? ULONG_MAX : (unsigned long)v;
}

static void on_progress(void *arg, const struct xg_progress *p)
{
    uint64_t done = p->done > p->total ? p->total : p->done;
    helper_progress(engine_ctx, doing_what(arg, p), to_ulong(done), to_ulong(p->total));
}

/* libxl suspends the guest (its suspend event channel, or control/shutdown). */
static int on_suspend(void *arg, xg_diag *d)
{
    struct run *r = arg;
    struct xg_loc l = { XGF_DOMID(r->domid) };
    int reply = helper_call_suspend();
    if (reply) {
        helper_progress(engine_ctx, "Domain now suspended", 0, 0);
        return 0;
    }
    if (terminated)
        return xg_diag_err(d, XG_E_CANCELLED, &l,
                           "stopped by libxl (SIGTERM) while waiting for it to suspend domain %u",
                           r->domid);
    if (helper_chan_status())
        return xg_diag_err(d, XG_E_CANCELLED, &l,
                           "libxl went away while the helper waited for it to suspend domain %u",
                           r->domid);
    xg_diag_err(d, XG_E_CANCELLED, &l,
                "libxl could not suspend domain %u (its suspend callback answered 0)", r->domid);
    xg_diag_hint(
        d, "libxl logs why just before this line: the guest did not acknowledge "
           "control/shutdown=suspend or its suspend event channel within 60 s, or a device model "
           "could not be suspended");
    return XG_E_CANCELLED;
}

static int on_static_data_done(void *arg, unsigned missing)
{
    (void)arg;
    return helper_call_static_data_done(missing);
}

/* ------------------------------------------------------------ modes */

static xg_hv *open_backend(xg_diag *d)
{
    xg_hv *hv = NULL;
    if (xg_hv_open(NULL, d, &hv) < 0)
        return NULL;
    return hv;
}

static const char *stream_type_name(long long t)
{
    return t == 1 ? "Remus" : t == 2 ? "COLO" : "unknown";
}

static int do_save(int io_fd, uint32_t domid, unsigned flags, unsigned cbflags,
                   long long stream_type, bool io_ok)
{
    helper_log(HELPER_XTL_DEBUG, -1, prog, "starting save");
    if (!setup_signals(true))
        return refuse(errno ? errno : EIO, "cannot set up signal handling: %s", strerror(errno));
    helper_log(HELPER_XTL_DETAIL, -1, prog,
               "xg save: io_fd %d, domid %u, flags %#x, cbflags %#x, stream type %lld", io_fd,
               domid, flags, cbflags, stream_type);
    if (stream_type != (long long)XC_STREAM_PLAIN)
        return refuse(
            EOPNOTSUPP,
            "domain %u: stream type %lld (%s) is not supported: xg writes plain streams only, "
            "not Remus or COLO checkpoints",
            domid, stream_type, stream_type_name(stream_type));
    if (!io_ok || io_fd <= STDERR_FILENO)
        return refuse(EBADF,
                      "domain %u: the stream descriptor %d is not usable "
                      "(libxl passes an open descriptor above 2)",
                      domid, io_fd);
    if (!helper_chan_has(HELPER_MSG_SUSPEND))
        /* Suspending behind libxl's back would leave it and xenstore out of step. */
        return refuse(
            EINVAL,
            "domain %u: libxl gave no suspend callback (cbflags %#x lacks %#x): xg's helper "
            "suspends guests only through libxl, so it cannot save",
            domid, cbflags, HELPER_CBFLAG(HELPER_MSG_SUSPEND));
    if (flags & ~(XCFLAGS_LIVE | XCFLAGS_DEBUG))
        helper_log(HELPER_XTL_WARN, -1, prog, "domain %u: ignoring unknown save flags %#x", domid,
                   flags & ~(XCFLAGS_LIVE | XCFLAGS_DEBUG));

    xg_diag *d = xg_diag_new();
    if (!d)
        return refuse(ENOMEM, "out of memory");
    int rc = XG_E_INVAL;
    xg_hv *hv = open_backend(d);
    if (!hv)
        rc = xg_diag_code(d) ? xg_diag_code(d) : XG_E_HV;
    struct xg_save_stats st;
    memset(&st, 0, sizeof(st));
    if (hv) {
        struct run r = { .domid = domid, .live = flags & XCFLAGS_LIVE };
        /* XCFLAGS_DEBUG means something only for a live stream, as in libxenguest. */
        /* On failure libxl resumes the guest itself ("Failed to save domain, resuming domain"). */
        struct xg_save_params p = { .live = r.live,
                                    .debug = r.live && (flags & XCFLAGS_DEBUG),
                                    .toolstack_resumes = true };
        struct xg_save_callbacks cb = {
            .suspend = on_suspend, .progress = on_progress, .log = on_log, .arg = &r
        };
        helper_log(HELPER_XTL_INFO, -1, engine_ctx,
                   "Saving domain %u, type x86 PV, %s%s (xg, backend %s)", domid,
                   r.live ? "live" : "non-live", p.debug ? ", debug" : "",
                   hv->spec ? hv->spec : "?");
        helper_progress(engine_ctx, "Start of stream", 0, 0);
        rc = xg_save(hv, domid, io_fd, &p, &cb, &st, d);
        /* libxl resumes a guest whose save failed, unless it is gone: then nobody would. */
        struct xg_domain_info di;
        if (rc < 0 && helper_chan_status() != HELPER_EXIT_OK &&
            xg_hv_domain_info(hv, domid, &di, NULL) == 0 && di.shutdown &&
            di.shutdown_reason == XG_SHUTDOWN_SUSPEND)
            if (xg_hv_resume(hv, domid, NULL) < 0)
                helper_log(HELPER_XTL_ERROR, -1, prog,
                           "domain %u stays suspended: resuming it failed "
                           "(`xl destroy %u` ends it)",
                           domid, domid);
        xg_hv_close(hv);
    }
    int errnoval = rc < 0 ? errno_of(rc, d) : 0;
    if (rc < 0 && terminated)
        helper_log(HELPER_XTL_ERROR, -1, prog, "domain %u: the save was stopped by libxl (SIGTERM)",
                   domid);
    log_findings(d, rc < 0);
    if (rc == 0) {
        helper_progress(engine_ctx, "End of stream", 0, 0);
        helper_log(HELPER_XTL_INFO, -1, engine_ctx,
                   "Saved domain %u: %llu pages in %u pass%s, %llu bytes of stream, %.2f s", domid,
                   (unsigned long long)st.pages_sent, st.iterations, st.iterations == 1 ? "" : "es",
                   (unsigned long long)st.bytes, st.seconds);
    } else {
        helper_log(HELPER_XTL_ERROR, errnoval, engine_ctx, "Save of domain %u failed (%s)", domid,
                   xg_err_str(rc));
    }
    xg_diag_free(d);
    return finish(rc, errnoval);
}

static int do_restore(int io_fd, uint32_t domid, unsigned store_evtchn, uint32_t store_domid,
                      unsigned console_evtchn, uint32_t console_domid, unsigned cbflags,
                      long long stream_type, bool io_ok)
{
    helper_log(HELPER_XTL_DEBUG, -1, prog, "starting restore");
    if (!setup_signals(false))
        return refuse(errno ? errno : EIO, "cannot set up signal handling: %s", strerror(errno));
    helper_log(
        HELPER_XTL_DETAIL, -1, prog,
        "xg restore: io_fd %d, domid %u, store evtchn %u (dom %u), console evtchn %u (dom %u), "
        "cbflags %#x, stream type %lld",
        io_fd, domid, store_evtchn, store_domid, console_evtchn, console_domid, cbflags,
        stream_type);

    int rc = XG_E_INVAL, errnoval = 0;
    struct xg_restore_result res;
    memset(&res, 0, sizeof(res));
    xg_diag *d = xg_diag_new();
    if (!d) {
        rc = XG_E_NOMEM;
        errnoval = ENOMEM;
        helper_log(HELPER_XTL_ERROR, -1, prog, "out of memory");
    } else if (stream_type != (long long)XC_STREAM_PLAIN) {
        rc = XG_E_UNSUPPORTED;
        errnoval = EOPNOTSUPP;
        helper_log(
            HELPER_XTL_ERROR, -1, prog,
            "domain %u: stream type %lld (%s) is not supported: xg restores plain streams only, "
            "not Remus or COLO checkpoints",
            domid, stream_type, stream_type_name(stream_type));
    } else if (!io_ok || io_fd <= STDERR_FILENO) {
        rc = XG_E_INVAL;
        errnoval = EBADF;
        helper_log(HELPER_XTL_ERROR, -1, prog,
                   "domain %u: the stream descriptor %d is not usable "
                   "(libxl passes an open descriptor above 2)",
                   domid, io_fd);
    } else {
        xg_hv *hv = open_backend(d);
        if (!hv)
            rc = xg_diag_code(d) ? xg_diag_code(d) : XG_E_HV;
        if (hv) {
            struct run r = { .domid = domid };
            struct xg_restore_params p = {
                .domid = domid,
                .store_evtchn = (int)store_evtchn,
                .console_evtchn = (int)console_evtchn,
                .store_domid = store_domid,
                .console_domid = console_domid,
                /* libxl hands over one bare libxc stream and reads on after its END. */
                .raw_only = true,
            };
            struct xg_restore_callbacks cb = {
                .progress = on_progress,
                .log = on_log,
                .static_data_done = helper_chan_has(HELPER_MSG_STATIC_DATA_DONE)
                                        ? on_static_data_done
                                        : NULL,
                .arg = &r,
            };
            helper_log(HELPER_XTL_INFO, -1, engine_ctx,
                       "Restoring domain %u, type x86 PV (xg, backend %s)", domid,
                       hv->spec ? hv->spec : "?");
            rc = xg_restore(hv, io_fd, &p, &cb, &res, d);
            xg_hv_close(hv);
        }
        errnoval = rc < 0 ? errno_of(rc, d) : 0;
        log_findings(d, rc < 0);
    }
    if (rc == 0) {
        helper_log(HELPER_XTL_INFO, -1, engine_ctx, "XenStore: mfn %#llx, dom %u, evt %u",
                   (unsigned long long)res.store_mfn, store_domid, store_evtchn);
        helper_log(HELPER_XTL_INFO, -1, engine_ctx, "Console: mfn %#llx, dom %u, evt %u",
                   (unsigned long long)res.console_mfn, console_domid, console_evtchn);
        helper_log(HELPER_XTL_INFO, -1, engine_ctx,
                   "Restored domain %u: %llu pages, %llu page tables pinned, %.2f s", domid,
                   (unsigned long long)res.pages, (unsigned long long)res.pinned, res.seconds);
    } else if (d) {
        helper_log(HELPER_XTL_ERROR, errnoval, engine_ctx, "Restore of domain %u failed (%s)",
                   domid, xg_err_str(rc));
    }
    xg_diag_free(d);
    /* Sent after every restore, failed ones too (then 0, 0): libxl wants them before complete. */
    if (helper_chan_has(HELPER_MSG_RESTORE_RESULTS))
        helper_restore_results(rc == 0 ? to_ulong(res.store_mfn) : 0,
                               rc == 0 ? to_ulong(res.console_mfn) : 0);
    return finish(rc, errnoval);
}

/* ------------------------------------------------------------ main */

int main(int argc, char **argv)
{
    if (argc == 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
        usage(stdout);
        return 0;
    }
    if (argc < 2)
        return usage_error("missing mode (--save-domain or --restore-domain)", NULL);
    bool save = !strcmp(argv[1], "--save-domain");
    if (!save && strcmp(argv[1], "--restore-domain"))
        return usage_error("unknown mode", argv[1]);
    int want = save ? 8 : 11;
    if (argc != want) {
        char what[96];
        snprintf(what, sizeof(what), "%s takes %d arguments, not %d", argv[1], want - 2, argc - 2);
        return usage_error(what, NULL);
    }
    long long v[9];
    /* fds: %d (the back channel may be -1); the rest: %lu, the C types Xen's helper reads into. */
    static const long long smax[6] = { INT_MAX,    INT_MAX,  UINT32_MAX,
                                       UINT32_MAX, UINT_MAX, UINT32_MAX };
    static const long long rmax[9] = { INT_MAX, INT_MAX,    UINT32_MAX, INT_MAX,   UINT16_MAX,
                                       INT_MAX, UINT16_MAX, UINT_MAX,   UINT32_MAX };
    for (int i = 0; i < want - 2; i++) {
        long long min = i == 1 ? -1 : 0;
        if (!parse_num(argv[i + 2], min, save ? smax[i] : rmax[i], &v[i]))
            return usage_error("bad number", argv[i + 2]);
    }

    int io_fd = (int)v[0];
    bool io_ok = fcntl(io_fd, F_GETFD) >= 0;
    /*
     * The message pipe moves to a descriptor of its own and stdout points
     * at stderr: a stray printf anywhere in the process would otherwise
     * corrupt the protocol and leave xl waiting forever.
     */
    int msg_fd = fcntl(STDOUT_FILENO, F_DUPFD_CLOEXEC, 3);
    if (msg_fd < 0) {
        fprintf(stderr, "%s: no message pipe on stdout: %s\n", prog, strerror(errno));
        return HELPER_EXIT_WRITE;
    }
    dup2(STDERR_FILENO, STDOUT_FILENO);
    helper_chan_init(STDIN_FILENO, msg_fd, save ? (unsigned)v[4] : (unsigned)v[7]);

    if (save) {
        save_io_fd = io_fd;
        return do_save(io_fd, (uint32_t)v[2], (unsigned)v[3], (unsigned)v[4], v[5], io_ok);
    }
    return do_restore(io_fd, (uint32_t)v[2], (unsigned)v[3], (uint32_t)v[4], (unsigned)v[5],
                      (uint32_t)v[6], (unsigned)v[7], v[8], io_ok);
}
