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
 * Usage: see usage() below or `harness --help`.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <libxml/tree.h>

#include "xg/xg.h"

extern char **environ;

#define EXIT_USAGE 2
#define EXIT_HARD 99

/* The descriptor number the fake xend hands xc_save/xc_restore as IOFD. */
#define XEND_IOFD 7
/* Output kept per scenario stream while running, and written to JUnit. */
#define LOG_KEEP_MAX (4U << 20)
#define JUNIT_HEAD (48U << 10)
#define JUNIT_TAIL (16U << 10)
/* Largest scenario matrix. */
#define MAX_SCENARIOS 512

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("harness: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(EXIT_HARD);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void sleep_s(double s)
{
    struct timespec ts = { (time_t)s, (long)((s - (double)(time_t)s) * 1e9) };
    nanosleep(&ts, NULL);
}

static char *xstrdup(const char *s)
{
    char *p = strdup(s);
    if (!p)
        die("out of memory");
    return p;
}

static char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *xasprintf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *p;
    int n = vasprintf(&p, fmt, ap);
    va_end(ap);
    if (n < 0)
        die("out of memory");
    return p;
}

/* ------------------------------------------------------------ buffers */

struct buf {
    char *p;
    size_t len, cap;
    size_t dropped;          /* bytes not kept beyond LOG_KEEP_MAX */
};

static void buf_add(struct buf *b, const void *data, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p)
            die("out of memory");
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, data, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void buf_vprintf(struct buf *b, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));
static void buf_vprintf(struct buf *b, const char *fmt, va_list ap)
{
    char *s;
    int n = vasprintf(&s, fmt, ap);
    if (n < 0)
        die("out of memory");
    buf_add(b, s, (size_t)n);
    free(s);
}

static void buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void buf_printf(struct buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    buf_vprintf(b, fmt, ap);
    va_end(ap);
}

/* Append to a scenario log, keeping at most LOG_KEEP_MAX bytes. */
static void log_add(struct buf *b, const char *data, size_t n)
{
    if (b->len >= LOG_KEEP_MAX) {
        b->dropped += n;
        return;
    }
    size_t room = LOG_KEEP_MAX - b->len;
    if (n > room) {
        b->dropped += n - room;
        n = room;
    }
    buf_add(b, data, n);
}

static const char *buf_str(const struct buf *b)
{
    return b->p ? b->p : "";
}

static void buf_free(struct buf *b)
{
    free(b->p);
    memset(b, 0, sizeof(*b));
}

/* ------------------------------------------------------------ configuration */

struct config {
    char *xc_save, *xc_restore, *xg_sim, *xg_inspect, *xg_mutate;
    char *builddir;
    char *tmpdir;            /* this run's directory (mkdtemp) */
    char *junit;
    double timeout;          /* seconds per command */
    bool full, keep, verbose, list;
    const char *filters[16];
    unsigned nfilters;
};

/* ------------------------------------------------------------ scenarios */

struct params {
    const char *layout;      /* linux64, pae32, netbsd64 */
    unsigned mem_mb;
    unsigned vcpus;
    unsigned seed;
    bool live, compress;
    const char *fault;       /* --fault of the guest, or NULL */
    double dirty_rate;       /* pages/s of the workload during a live save; 0 none */
    double dirty_seconds;
    unsigned xend_flags;     /* xend: xc_save's FLAGS */
    unsigned restore_args;   /* xend: 7 or 9 arguments to xc_restore */
    const char *mutation;    /* badimage: which breakage */
    double pt_churn;         /* churn: address spaces/s, pages ballooned/s, grant maps/s */
    double balloon, grant_maps;
};

struct scenario;
typedef void (*scenario_fn)(struct scenario *s, const struct params *p);

struct scenario {
    const struct config *cfg;
    const char *group;
    char *name;
    scenario_fn fn;
    struct params p;
    char *dir;               /* its working directory */
    struct buf out, err;     /* <system-out>, <system-err> */
    struct buf failures;     /* one failure per line */
    char *first_failure;
    unsigned nfail;
    double seconds;
    void **strings;          /* S() and keep() allocations, freed with the scenario */
    size_t nstrings;
    struct child **children; /* every process run, freed with the scenario */
    size_t nchildren;
};

/* Free p with the scenario. */
static void keep(struct scenario *s, void *p)
{
    void **v = realloc(s->strings, (s->nstrings + 1) * sizeof(*v));
    if (!v)
        die("out of memory");
    s->strings = v;
    s->strings[s->nstrings++] = p;
}

/* A string that lives as long as the scenario. */
static const char *S(struct scenario *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static const char *S(struct scenario *s, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *p;
    int n = vasprintf(&p, fmt, ap);
    va_end(ap);
    if (n < 0)
        die("out of memory");
    keep(s, p);
    return p;
}

/* Record a failure; returns false so checks can `return fail(...)`. */
static bool fail(struct scenario *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static bool fail(struct scenario *s, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *msg;
    if (vasprintf(&msg, fmt, ap) < 0)
        die("out of memory");
    va_end(ap);
    if (!s->nfail)
        s->first_failure = xstrdup(msg);
    s->nfail++;
    buf_printf(&s->failures, "%s\n", msg);
    buf_printf(&s->err, "FAIL: %s\n", msg);
    buf_printf(&s->out, "FAIL: %s\n", msg);
    free(msg);
    return false;
}

/* ------------------------------------------------------------ child processes */

#define SPAWN_PIPE (-2)

struct spawn {
    const char *backend;     /* XG_BACKEND for the child, or NULL */
    int stdin_fd;            /* -1 /dev/null, SPAWN_PIPE a pipe from us, else this fd */
    int stdout_fd;           /* -1 captured, else this fd */
    int iofd;                /* passed to the child as XEND_IOFD, or -1 */
    const char *iofd_note;   /* the redirection the log shows for it ("7>guest.img") */
    double timeout;          /* 0: the configured default */
};

struct child {
    char *cmd;               /* command line as the log shows it */
    pid_t pid;
    int out_fd, err_fd, in_fd;
    bool capture_out;
    struct buf out, err;
    double t0, seconds, deadline, exited_at;
    bool exited, timed_out, logged;
    int code;                /* exit status; 128+N when killed by signal N */
    size_t line_pos;         /* stdout handed to on_line so far */
    void (*on_line)(struct child *c, const char *line, void *arg);
    void *arg;
};

/*
 * Children running now, for an interrupted harness to kill (each child
 * leads its own process group, so a tool's own children go with it).
 */
static pid_t live_pids[64];
static volatile sig_atomic_t interrupted;
static const char *scratch_dir; /* removed when interrupted, unless kept */

static void live_add(pid_t pid)
{
    for (size_t i = 0; i < 64; i++)
        if (!live_pids[i]) {
            live_pids[i] = pid;
            return;
        }
}

static void live_del(pid_t pid)
{
    for (size_t i = 0; i < 64; i++)
        if (live_pids[i] == pid)
            live_pids[i] = 0;
}

static void on_signal(int sig)
{
    for (size_t i = 0; i < 64; i++)
        if (live_pids[i] > 0)
            kill(-live_pids[i], SIGKILL);
    interrupted = sig;
}

static void rm_tree(const char *path);

/* After SIGINT/SIGTERM: the children are dead; tidy up and go. */
static void bail_out(void)
{
    int sig = interrupted;
    fprintf(stderr, "harness: interrupted (signal %d)\n", sig);
    if (scratch_dir)
        rm_tree(scratch_dir);
    signal(sig, SIG_DFL);
    raise(sig);
    exit(128 + sig);
}

static void spawn_defaults(struct spawn *o)
{
    memset(o, 0, sizeof(*o));
    o->stdin_fd = -1;
    o->stdout_fd = -1;
    o->iofd = -1;
}

static const char *base_name(const char *path)
{
    const char *b = strrchr(path, '/');
    return b ? b + 1 : path;
}

/* The command line for the log: program base name, arguments quoted when needed. */
static char *command_line(const struct spawn *o, const char *const *argv)
{
    struct buf b = { 0 };
    if (o->backend)
        buf_printf(&b, "XG_BACKEND=%s ", o->backend);
    for (size_t i = 0; argv[i]; i++) {
        const char *a = i ? argv[i] : base_name(argv[0]);
        bool plain = *a && strspn(a, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.,:/=+@%") ==
                               strlen(a);
        buf_printf(&b, plain ? "%s%s" : "%s'%s'", i ? " " : "", a);
    }
    if (o->iofd >= 0 && o->iofd_note)
        buf_printf(&b, " %s", o->iofd_note);
    else if (o->iofd >= 0)
        buf_printf(&b, " %d<>IMAGE", XEND_IOFD);
    if (o->stdin_fd >= 0)
        buf_printf(&b, " <PIPE");
    if (o->stdout_fd >= 0)
        buf_printf(&b, " >PIPE");
    return b.p;
}

/* environ with XG_BACKEND replaced (or added); the strings are not copied. */
static char **child_env(const char *backend, char **storage)
{
    size_t n = 0;
    while (environ[n])
        n++;
    char **env = calloc(n + 2, sizeof(*env));
    if (!env)
        die("out of memory");
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (!backend || strncmp(environ[i], "XG_BACKEND=", 11) != 0)
            env[k++] = environ[i];
    *storage = NULL;
    if (backend) {
        *storage = xasprintf("XG_BACKEND=%s", backend);
        env[k++] = *storage;
    }
    env[k] = NULL;
    return env;
}

static struct child *child_start(struct scenario *s, const struct spawn *o, const char *const *argv)
{
    struct child *c = calloc(1, sizeof(*c));
    if (!c)
        die("out of memory");
    struct child **v = realloc(s->children, (s->nchildren + 1) * sizeof(*v));
    if (!v)
        die("out of memory");
    s->children = v;
    s->children[s->nchildren++] = c;
    c->cmd = command_line(o, argv);
    c->out_fd = c->err_fd = c->in_fd = -1;
    c->capture_out = o->stdout_fd < 0;
    c->code = -1;

    int outp[2] = { -1, -1 }, errp[2] = { -1, -1 }, inp[2] = { -1, -1 };
    if (pipe2(errp, O_CLOEXEC) < 0 || (c->capture_out && pipe2(outp, O_CLOEXEC) < 0) ||
        (o->stdin_fd == SPAWN_PIPE && pipe2(inp, O_CLOEXEC) < 0))
        die("pipe: %s", strerror(errno));
    int devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (devnull < 0)
        die("/dev/null: %s", strerror(errno));
    char *env_storage;
    char **envp = child_env(o->backend, &env_storage);
    static const char exec_failed[] = "harness: cannot execute the program (exit 127)\n";

    fflush(NULL);
    c->t0 = now_s();
    c->deadline = c->t0 + (o->timeout > 0 ? o->timeout : s->cfg->timeout);
    pid_t pid = fork();
    if (pid < 0)
        die("fork: %s", strerror(errno));
    if (pid == 0) {
        /* The child: only async-signal-safe calls from here on. */
        signal(SIGPIPE, SIG_DFL);
        signal(SIGINT, SIG_DFL);
        signal(SIGTERM, SIG_DFL);
        setpgid(0, 0);
        int in = o->stdin_fd == SPAWN_PIPE ? inp[0] : o->stdin_fd >= 0 ? o->stdin_fd : devnull;
        int out = c->capture_out ? outp[1] : o->stdout_fd;
        if (chdir(s->dir) < 0 || dup2(in, 0) < 0 || dup2(out, 1) < 0 || dup2(errp[1], 2) < 0)
            _exit(126);
        if (o->iofd >= 0) {
            if (o->iofd == XEND_IOFD ? fcntl(XEND_IOFD, F_SETFD, 0) < 0 : dup2(o->iofd, XEND_IOFD) < 0)
                _exit(126);
        }
        execve(argv[0], (char *const *)argv, envp);
        if (write(2, exec_failed, sizeof(exec_failed) - 1) < 0)
            _exit(127);
        _exit(127);
    }
    c->pid = pid;
    setpgid(pid, pid); /* also here: no window in which a kill of the group misses it */
    live_add(pid);
    close(devnull);
    free(envp);
    free(env_storage);
    close(errp[1]);
    c->err_fd = errp[0];
    if (c->capture_out) {
        close(outp[1]);
        c->out_fd = outp[0];
    }
    if (o->stdin_fd == SPAWN_PIPE) {
        close(inp[0]);
        c->in_fd = inp[1];
    }
    return c;
}

/* Hand complete stdout lines to the child's on_line callback. */
static void scan_lines(struct child *c)
{
    while (c->on_line && c->line_pos < c->out.len) {
        char *start = c->out.p + c->line_pos;
        char *nl = memchr(start, '\n', c->out.len - c->line_pos);
        if (!nl)
            break;
        size_t n = (size_t)(nl - start);
        char *line = malloc(n + 1);
        if (!line)
            die("out of memory");
        memcpy(line, start, n);
        line[n] = '\0';
        c->line_pos += n + 1;
        c->on_line(c, line, c->arg);
        free(line);
    }
}

/*
 * Run the children until every one has exited and closed its output,
 * reading their stdout/stderr as they go; a child past its deadline is
 * killed (SIGKILL to its process group, which it leads) and marked timed
 * out.
 */
static void pump(struct child *const *cs, size_t n)
{
    for (;;) {
        struct pollfd pfd[64];
        struct child *who[64];
        bool is_err[64];
        size_t np = 0;
        bool running = false;
        for (size_t i = 0; i < n; i++) {
            struct child *c = cs[i];
            if (c->out_fd >= 0 && np < 64) {
                pfd[np] = (struct pollfd){ .fd = c->out_fd, .events = POLLIN };
                who[np] = c, is_err[np++] = false;
            }
            if (c->err_fd >= 0 && np < 64) {
                pfd[np] = (struct pollfd){ .fd = c->err_fd, .events = POLLIN };
                who[np] = c, is_err[np++] = true;
            }
            running |= !c->exited;
        }
        if (!np && !running)
            return;
        int rc = poll(pfd, (nfds_t)np, 20);
        if (interrupted)
            bail_out();
        if (rc < 0 && errno != EINTR)
            die("poll: %s", strerror(errno));
        for (size_t i = 0; rc > 0 && i < np; i++) {
            if (!pfd[i].revents)
                continue;
            struct child *c = who[i];
            char data[65536];
            ssize_t got = read(pfd[i].fd, data, sizeof(data));
            if (got < 0 && (errno == EINTR || errno == EAGAIN))
                continue;
            if (got <= 0) {
                close(pfd[i].fd);
                if (is_err[i])
                    c->err_fd = -1;
                else
                    c->out_fd = -1;
                continue;
            }
            buf_add(is_err[i] ? &c->err : &c->out, data, (size_t)got);
            if (!is_err[i])
                scan_lines(c);
        }
        double t = now_s();
        for (size_t i = 0; i < n; i++) {
            struct child *c = cs[i];
            if (!c->exited) {
                int st;
                pid_t w = waitpid(c->pid, &st, WNOHANG);
                if (w == c->pid) {
                    live_del(c->pid);
                    c->exited = true;
                    c->exited_at = t;
                    c->seconds = t - c->t0;
                    c->code = WIFEXITED(st) ? WEXITSTATUS(st) : WIFSIGNALED(st) ? 128 + WTERMSIG(st) : -1;
                } else if (w < 0 && errno != EINTR) {
                    die("waitpid: %s", strerror(errno));
                } else if (t > c->deadline && !c->timed_out) {
                    kill(-c->pid, SIGKILL);
                    c->timed_out = true;
                }
            } else if (t - c->exited_at > 10 && (c->out_fd >= 0 || c->err_fd >= 0)) {
                /* Someone else holds its pipes open: stop waiting for them. */
                if (c->out_fd >= 0)
                    close(c->out_fd);
                if (c->err_fd >= 0)
                    close(c->err_fd);
                c->out_fd = c->err_fd = -1;
            }
        }
    }
}

/*
 * Put a finished child into the scenario's log: the command, its stdout
 * (when captured) and status in <system-out>, its stderr in <system-err>.
 * A timeout, a failure to execute, and a sanitizer report are failures
 * whatever the scenario expected.
 */
static void child_log(struct scenario *s, struct child *c)
{
    if (c->logged)
        return;
    c->logged = true;
    if (c->in_fd >= 0) {
        close(c->in_fd);
        c->in_fd = -1;
    }
    char head[64];
    snprintf(head, sizeof(head), "[exit %d, %.2f s]\n", c->code, c->seconds);
    log_add(&s->out, "$ ", 2);
    log_add(&s->out, c->cmd, strlen(c->cmd));
    log_add(&s->out, "\n", 1);
    if (c->capture_out)
        log_add(&s->out, buf_str(&c->out), c->out.len);
    if (c->out.len && c->out.p[c->out.len - 1] != '\n')
        log_add(&s->out, "\n", 1);
    log_add(&s->out, head, strlen(head));
    if (c->err.len) {
        log_add(&s->err, "$ ", 2);
        log_add(&s->err, c->cmd, strlen(c->cmd));
        log_add(&s->err, "\n", 1);
        log_add(&s->err, buf_str(&c->err), c->err.len);
        if (c->err.p[c->err.len - 1] != '\n')
            log_add(&s->err, "\n", 1);
    }
    if (s->cfg->verbose) {
        printf("    $ %s  [exit %d, %.2f s]\n", c->cmd, c->code, c->seconds);
        if (c->err.len)
            printf("%s%s", buf_str(&c->err), c->err.p[c->err.len - 1] == '\n' ? "" : "\n");
    }
    if (c->timed_out)
        fail(s, "%s: still running after %.0f s, killed", c->cmd, c->deadline - c->t0);
    else if (c->code == 127 && strstr(buf_str(&c->err), "harness: cannot execute"))
        fail(s, "%s: could not be executed", c->cmd);
    if (strstr(buf_str(&c->err), "Sanitizer") || strstr(buf_str(&c->err), "runtime error:"))
        fail(s, "%s: sanitizer report on stderr", c->cmd);
}

static void wait_all(struct scenario *s, struct child *const *cs, size_t n)
{
    pump(cs, n);
    for (size_t i = 0; i < n; i++)
        child_log(s, cs[i]);
}

static struct child *run_with(struct scenario *s, const struct spawn *o, const char *const *argv)
{
    struct child *c = child_start(s, o, argv);
    wait_all(s, &c, 1);
    return c;
}

static struct child *run(struct scenario *s, const char *const *argv)
{
    struct spawn o;
    spawn_defaults(&o);
    return run_with(s, &o, argv);
}

#define ARGV(...) ((const char *const[]){ __VA_ARGS__, NULL })

static void child_free(struct child *c)
{
    if (c->out_fd >= 0)
        close(c->out_fd);
    if (c->err_fd >= 0)
        close(c->err_fd);
    if (c->in_fd >= 0)
        close(c->in_fd);
    buf_free(&c->out);
    buf_free(&c->err);
    free(c->cmd);
    free(c);
}

/* ------------------------------------------------------------ checks */

/* First line of a text, for messages. */
static const char *first_line(struct scenario *s, const char *text)
{
    size_t n = strcspn(text, "\n");
    return S(s, "%.*s", (int)(n > 300 ? 300 : n), text);
}

static bool expect_exit(struct scenario *s, const struct child *c, int want)
{
    if (c->timed_out || c->code == want)
        return !c->timed_out;
    return fail(s, "%s: exit %d, expected %d%s%s", c->cmd, c->code, want, c->err.len ? "; stderr: " : "",
                c->err.len ? first_line(s, buf_str(&c->err)) : "");
}

/* A line of text equal to line. */
static bool has_line(const char *text, const char *line)
{
    size_t n = strlen(line);
    for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
        if (!strncmp(p, line, n) && (p[n] == '\n' || p[n] == '\0'))
            return true;
    return false;
}

/* A line starting with prefix and containing every one of the words (NULL-terminated). */
static bool has_line_with(const char *text, const char *prefix, const char *const *words)
{
    for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
        size_t len = strcspn(p, "\n");
        if (strncmp(p, prefix, strlen(prefix)) != 0)
            continue;
        bool all = true;
        for (size_t i = 0; words[i] && all; i++) {
            /* The first occurrence from the line's start must lie within the line. */
            const char *w = strstr(p, words[i]);
            all = w && w < p + len;
        }
        if (all)
            return true;
    }
    return false;
}

/* Parse a whole string as an unsigned decimal number. */
static bool parse_u64(const char *s, size_t len, uint64_t *out)
{
    if (!len || len > 19)
        return false;
    uint64_t v = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        v = v * 10 + (uint64_t)(s[i] - '0');
    }
    *out = v;
    return true;
}

/*
 * "error:" lines that name pfn 0x<pfn> (lowercase hex, as the tools
 * print it), or, with set != NULL, any pfn whose set[] entry is true.
 */
static bool error_names_pfn(const char *text, uint64_t pfn, const bool *set, uint64_t nset)
{
    for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
        size_t len = strcspn(p, "\n");
        if (strncmp(p, "error:", 6) != 0)
            continue;
        for (const char *q = p; (q = strstr(q, "pfn 0x")) && q < p + len; q += 6) {
            char *end;
            unsigned long long v = strtoull(q + 6, &end, 16);
            if (end == q + 6)
                continue;
            if (set ? (v < nset && set[v]) : v == pfn)
                return true;
        }
    }
    return false;
}

/* ------------------------------------------------------------ tool steps */

static const char *layout_width(const char *layout)
{
    return !strcmp(layout, "pae32") ? "4" : "8";
}

/* Frames for a host that holds a guest of mem_mb (and its builder's extra). */
static unsigned host_frames(unsigned mem_mb)
{
    unsigned pages = mem_mb * 256;
    unsigned frames = 16384 + pages + pages / 4;
    frames = (frames + 4095) & ~4095U;
    return frames < 65536 ? 65536 : frames;
}

static bool sim_init(struct scenario *s, const char *host, unsigned mem_mb)
{
    const struct config *cfg = s->cfg;
    struct child *c = run(s, ARGV(cfg->xg_sim, "init", host, "--frames", S(s, "%u", host_frames(mem_mb))));
    return expect_exit(s, c, 0);
}

static bool init_hosts(struct scenario *s, unsigned mem_mb)
{
    return sim_init(s, "h1", mem_mb) && sim_init(s, "h2", mem_mb);
}

/* A domid alone on a line: what `xg-sim create` prints. */
static bool parse_domid(struct scenario *s, const struct child *c, uint32_t *domid)
{
    const char *o = buf_str(&c->out);
    uint64_t v;
    size_t n = strcspn(o, "\n");
    if (!parse_u64(o, n, &v) || v > 0x7fef || (o[n] && o[n + 1]))
        return fail(s, "%s: expected a domid alone on stdout, got \"%s\"", c->cmd, first_line(s, o));
    *domid = (uint32_t)v;
    return true;
}

static bool create_guest(struct scenario *s, const char *host, const struct params *p, uint32_t *domid)
{
    const struct config *cfg = s->cfg;
    struct child *c;
    const char *mem = S(s, "%uM", p->mem_mb), *vcpus = S(s, "%u", p->vcpus), *seed = S(s, "%u", p->seed);
    if (p->fault)
        c = run(s, ARGV(cfg->xg_sim, "create", host, "--layout", p->layout, "--mem", mem, "--vcpus", vcpus, "--seed",
                        seed, "--fault", p->fault));
    else
        c = run(s, ARGV(cfg->xg_sim, "create", host, "--layout", p->layout, "--mem", mem, "--vcpus", vcpus, "--seed",
                        seed));
    return expect_exit(s, c, 0) && parse_domid(s, c, domid);
}

struct dom_entry {
    uint32_t domid;
    char layout[32], state[32];
};

struct dom_list {
    struct dom_entry d[64];
    unsigned n;
};

/* `xg-sim list HOST`: two header lines, then "domid layout state ...". */
static bool sim_list(struct scenario *s, const char *host, struct dom_list *l)
{
    struct child *c = run(s, ARGV(s->cfg->xg_sim, "list", host));
    if (!expect_exit(s, c, 0))
        return false;
    l->n = 0;
    unsigned lineno = 0;
    for (const char *p = buf_str(&c->out); *p; p = strchr(p, '\n'), p = p ? p + 1 : "") {
        if (lineno++ < 2 || *p == '\n')
            continue;
        struct dom_entry e;
        if (sscanf(p, "%" SCNu32 " %31s %31s", &e.domid, e.layout, e.state) != 3)
            return fail(s, "%s: cannot read the line \"%s\"", c->cmd, first_line(s, p));
        if (l->n < 64)
            l->d[l->n++] = e;
    }
    return true;
}

static const char *dom_state(const struct dom_list *l, uint32_t domid)
{
    for (unsigned i = 0; i < l->n; i++)
        if (l->d[i].domid == domid)
            return l->d[i].state;
    return NULL;
}

static bool expect_state(struct scenario *s, const char *host, uint32_t domid, const char *want)
{
    struct dom_list l;
    if (!sim_list(s, host, &l))
        return false;
    const char *st = dom_state(&l, domid);
    if (!st)
        return fail(s, "domain %u is not on %s any more (expected %s)", domid, host, want);
    if (strcmp(st, want) != 0)
        return fail(s, "domain %u on %s is %s, expected %s", domid, host, st, want);
    return true;
}

static bool same_domains(struct scenario *s, const char *host, const struct dom_list *a, const struct dom_list *b)
{
    bool ok = a->n == b->n;
    for (unsigned i = 0; ok && i < a->n; i++)
        ok = a->d[i].domid == b->d[i].domid && !strcmp(a->d[i].state, b->d[i].state);
    if (ok)
        return true;
    struct buf m = { 0 };
    for (unsigned i = 0; i < b->n; i++)
        buf_printf(&m, " d%u(%s)", b->d[i].domid, b->d[i].state);
    bool r = fail(s, "%s has %u domains after the failed restore, %u before:%s", host, b->n, a->n, buf_str(&m));
    buf_free(&m);
    return r;
}

static bool host_consistent(struct scenario *s, const char *host)
{
    struct child *c = run(s, ARGV(s->cfg->xg_sim, "check", host));
    if (!expect_exit(s, c, 0))
        return false;
    if (!has_line(buf_str(&c->out), "host consistent"))
        return fail(s, "%s: no \"host consistent\" line", c->cmd);
    return true;
}

struct restored {
    bool has_domid, has_store, has_console;
    uint64_t domid, store_mfn, console_mfn;
};

/*
 * xc_restore's stdout, line by line, the way xend reads it (its regexes
 * are ^(store-mfn) (\d+)$ and ^(console-mfn) (\d+)$), plus "domid N"
 * with --create.  Anything else on stdout is a failure: scripts parse it.
 */
static bool parse_restore_output(struct scenario *s, const struct child *c, bool want_domid, struct restored *r)
{
    memset(r, 0, sizeof(*r));
    bool ok = true;
    for (const char *p = buf_str(&c->out); *p; p = strchr(p, '\n'), p = p ? p + 1 : "") {
        size_t len = strcspn(p, "\n");
        static const struct { const char *key; size_t off_has, off_val; } keys[] = {
            { "domid ", offsetof(struct restored, has_domid), offsetof(struct restored, domid) },
            { "store-mfn ", offsetof(struct restored, has_store), offsetof(struct restored, store_mfn) },
            { "console-mfn ", offsetof(struct restored, has_console), offsetof(struct restored, console_mfn) },
        };
        bool known = false;
        for (size_t k = 0; k < sizeof(keys) / sizeof(keys[0]) && !known; k++) {
            size_t kl = strlen(keys[k].key);
            uint64_t v;
            if (len > kl && !strncmp(p, keys[k].key, kl) && parse_u64(p + kl, len - kl, &v)) {
                bool *has = (bool *)((char *)r + keys[k].off_has);
                if (*has)
                    ok = fail(s, "%s: \"%.*s\" printed twice", c->cmd, (int)kl - 1, p);
                *has = true;
                *(uint64_t *)((char *)r + keys[k].off_val) = v;
                known = true;
            }
        }
        if (!known)
            ok = fail(s, "%s: unexpected line on stdout: \"%.*s\"", c->cmd, (int)(len > 200 ? 200 : len), p);
    }
    if (!r->has_store || !r->has_console)
        ok = fail(s, "%s: stdout lacks a line matching ^store-mfn [0-9]+$ and one matching ^console-mfn [0-9]+$",
                  c->cmd);
    if (want_domid && !r->has_domid)
        ok = fail(s, "%s: stdout lacks \"domid N\"", c->cmd);
    if (!want_domid && r->has_domid)
        ok = fail(s, "%s: xend mode printed a domid line", c->cmd);
    if (r->has_store && r->has_console && r->store_mfn == r->console_mfn)
        ok = fail(s, "%s: store-mfn and console-mfn are the same frame (%" PRIu64 ")", c->cmd, r->store_mfn);
    return ok;
}

/*
 * The restored guest against the source: equal in PFN space, its own
 * self-check passes paused and after resume, it runs, both hosts are
 * consistent.
 */
static bool verify_restored(struct scenario *s, const char *h1, uint32_t d1, const char *h2, uint32_t d2)
{
    const struct config *cfg = s->cfg;
    const char *a = S(s, "%u", d1), *b = S(s, "%u", d2);
    struct child *c = run(s, ARGV(cfg->xg_sim, "compare", h1, a, h2, b));
    if (!expect_exit(s, c, 0))
        return false;
    if (!has_line(buf_str(&c->out), "equal"))
        return fail(s, "%s: exit 0 but no \"equal\" line", c->cmd);
    for (int round = 0; round < 2; round++) {
        if (round) {
            c = run(s, ARGV(cfg->xg_sim, "resume", h2, b));
            if (!expect_exit(s, c, 0) || !expect_state(s, h2, d2, "running"))
                return false;
        }
        c = run(s, ARGV(cfg->xg_sim, "self-check", h2, b));
        if (!expect_exit(s, c, 0))
            return false;
        if (!strstr(buf_str(&c->out), "self-check passed"))
            return fail(s, "%s: exit 0 but no \"self-check passed\"", c->cmd);
    }
    return host_consistent(s, h1) && host_consistent(s, h2);
}

static struct child *start_workload(struct scenario *s, const char *host, uint32_t domid, const struct params *p)
{
    struct spawn o;
    spawn_defaults(&o);
    o.timeout = p->dirty_seconds + s->cfg->timeout;
    return child_start(s, &o,
                       ARGV(s->cfg->xg_sim, "run", host, S(s, "%u", domid), "--dirty-rate",
                            S(s, "%g", p->dirty_rate), "--seconds", S(s, "%g", p->dirty_seconds), "--seed",
                            S(s, "%u", p->seed + 100)));
}

/* The workload ran, exited 0, and wrote pages. */
static bool workload_ok(struct scenario *s, const struct child *w)
{
    unsigned long long wrote = 0, skipped = 0;
    if (!expect_exit(s, w, 0))
        return false;
    if (sscanf(buf_str(&w->out), "wrote %llu pages (%llu skipped", &wrote, &skipped) != 2)
        return fail(s, "%s: no \"wrote N pages\" line", w->cmd);
    if (!wrote)
        return fail(s, "%s: the workload wrote no page (the guest never ran?)", w->cmd);
    return true;
}

/* gzip magic at the start of the file. */
static int file_is_gzip(struct scenario *s, const char *name)
{
    char *path = xasprintf("%s/%s", s->dir, name);
    unsigned char m[2] = { 0, 0 };
    FILE *f = fopen(path, "rb");
    free(path);
    if (!f)
        return -1;
    size_t n = fread(m, 1, 2, f);
    fclose(f);
    return n == 2 && m[0] == 0x1f && m[1] == 0x8b;
}

/* No file called name, or starting with it (a temporary left behind), in the scenario's directory. */
static bool no_file_like(struct scenario *s, const char *name)
{
    DIR *dir = opendir(s->dir);
    if (!dir)
        return fail(s, "cannot list %s: %s", s->dir, strerror(errno));
    bool ok = true;
    struct dirent *e;
    while ((e = readdir(dir)))
        if (!strncmp(e->d_name, name, strlen(name)))
            ok = fail(s, "%s was left in the directory although the save failed", e->d_name);
    closedir(dir);
    return ok;
}

static bool inspect_ok(struct scenario *s, const char *image)
{
    struct child *c = run(s, ARGV(s->cfg->xg_inspect, image));
    if (!expect_exit(s, c, 0))
        return false;
    if (!has_line_with(buf_str(&c->out), "verdict:", ARGV("would restore")))
        return fail(s, "%s: exit 0 but no \"verdict: ... would restore\"", c->cmd);
    return true;
}

static const char *const *save_argv(struct scenario *s, uint32_t domid, const struct params *p, const char *out)
{
    const char **v = calloc(16, sizeof(*v));
    if (!v)
        die("out of memory");
    size_t n = 0;
    v[n++] = s->cfg->xc_save;
    v[n++] = "--backend";
    v[n++] = "sim:h1";
    v[n++] = "--domid";
    v[n++] = S(s, "%u", domid);
    if (p->live)
        v[n++] = "--live";
    if (p->compress)
        v[n++] = "--compress";
    v[n++] = "--out";
    v[n++] = out;
    v[n++] = "--verbose";
    v[n] = NULL;
    keep(s, v);
    return v;
}

static struct child *restore_create(struct scenario *s, const char *host, unsigned vcpus, const char *image)
{
    return run(s, ARGV(s->cfg->xc_restore, "--backend", S(s, "sim:%s", host), "--create", "--vcpus",
                       S(s, "%u", vcpus), "--in", image));
}

/* ------------------------------------------------------------ group: roundtrip */

/*
 * Save to a file (a workload dirtying the guest during a live save),
 * inspect, restore with --create onto a second host, verify.
 */
static void scen_roundtrip(struct scenario *s, const struct params *p)
{
    uint32_t d1;
    if (!init_hosts(s, p->mem_mb) || !create_guest(s, "h1", p, &d1) || !expect_state(s, "h1", d1, "running"))
        return;
    struct spawn o;
    spawn_defaults(&o);
    struct child *work = NULL;
    if (p->live && p->dirty_rate > 0) {
        work = start_workload(s, "h1", d1, p);
        sleep_s(0.2);
    }
    struct child *save = child_start(s, &o, save_argv(s, d1, p, "guest.img"));
    struct child *both[2] = { save, work };
    wait_all(s, both, work ? 2 : 1);
    if (!expect_exit(s, save, 0) || (work && !workload_ok(s, work)))
        return;
    if (!expect_state(s, "h1", d1, "suspended") || !inspect_ok(s, "guest.img"))
        return;
    int gz = file_is_gzip(s, "guest.img");
    if (gz != (int)p->compress) {
        fail(s, "guest.img is %s, expected %s", gz < 0 ? "missing" : gz ? "gzip" : "not gzip",
             p->compress ? "gzip (--compress)" : "a bare stream");
        return;
    }
    struct child *r = restore_create(s, "h2", p->vcpus, "guest.img");
    struct restored res;
    if (!expect_exit(s, r, 0) || !parse_restore_output(s, r, true, &res))
        return;
    if (!expect_state(s, "h2", (uint32_t)res.domid, "restored"))
        return;
    verify_restored(s, "h1", d1, "h2", (uint32_t)res.domid);
}

/* ------------------------------------------------------------ group: churn */

/* xg-sim run with the kernel's churn; dirty_rate is a fraction of the guest's pages per second. */
static struct child *start_churn(struct scenario *s, const char *host, uint32_t domid,
                                 const struct params *p)
{
    struct spawn o;
    spawn_defaults(&o);
    o.timeout = p->dirty_seconds + s->cfg->timeout;
    double pages = (double)p->mem_mb * 256;
    return child_start(
        s, &o,
        ARGV(s->cfg->xg_sim, "run", host, S(s, "%u", domid), "--seconds",
             S(s, "%g", p->dirty_seconds), "--dirty-rate", S(s, "%g", p->dirty_rate * pages),
             "--pt-churn", S(s, "%g", p->pt_churn), "--balloon", S(s, "%g", p->balloon),
             "--grant-maps", S(s, "%g", p->grant_maps), "--seed", S(s, "%u", p->seed + 100)));
}

/* The run exited 0 and its kernel built address spaces (and ballooned, grant-mapped) as asked. */
static bool churn_ok(struct scenario *s, const struct child *w, const struct params *p)
{
    if (!workload_ok(s, w))
        return false;
    const char *o = buf_str(&w->out);
    unsigned long long built = 0, torn = 0, out = 0, maps = 0;
    const char *a = strstr(o, "address spaces: "), *b = strstr(o, "balloon: "),
               *g = strstr(o, "grant maps: ");
    if (!a || sscanf(a, "address spaces: %llu built, %llu torn down", &built, &torn) != 2 || !b ||
        sscanf(b, "balloon: %llu pages out", &out) != 1 || !g ||
        sscanf(g, "grant maps: %llu mapped", &maps) != 1)
        return fail(s, "%s: no \"address spaces:\", \"balloon:\" and \"grant maps:\" lines",
                    w->cmd);
    bool idle = (p->pt_churn > 0 && (!built || !torn)) || (p->balloon > 0 && !out) ||
                (p->grant_maps > 0 && !maps);
    if (idle)
        return fail(s,
                    "%s: the kernel did not churn as asked (%llu spaces built, %llu torn down, "
                    "%llu pages ballooned, %llu grant maps)",
                    w->cmd, built, torn, out, maps);
    return true;
}

/*
 * A live save while the guest's kernel builds, pins, switches to and tears
 * down address spaces, balloons and grant-maps: the image restores to a
 * guest equal to the source at suspend, whose self-check passes.
 */
static void scen_churn_live(struct scenario *s, const struct params *p)
{
    uint32_t d1;
    if (!init_hosts(s, p->mem_mb) || !create_guest(s, "h1", p, &d1))
        return;
    struct child *work = start_churn(s, "h1", d1, p);
    sleep_s(0.3);
    struct spawn o;
    spawn_defaults(&o);
    struct child *save = child_start(s, &o, save_argv(s, d1, p, "guest.img"));
    struct child *both[2] = { save, work };
    wait_all(s, both, 2);
    bool ok = expect_exit(s, save, 0);
    ok &= churn_ok(s, work, p);
    if (!ok || !expect_state(s, "h1", d1, "suspended") || !inspect_ok(s, "guest.img"))
        return;
    struct child *r = restore_create(s, "h2", p->vcpus, "guest.img");
    struct restored res;
    if (!expect_exit(s, r, 0) || !parse_restore_output(s, r, true, &res))
        return;
    verify_restored(s, "h1", d1, "h2", (uint32_t)res.domid);
}

/* The churn alone on a running guest, the host checked while it runs and after. */
static void scen_churn_run(struct scenario *s, const struct params *p)
{
    uint32_t d1;
    if (!sim_init(s, "h1", p->mem_mb) || !create_guest(s, "h1", p, &d1))
        return;
    struct child *work = start_churn(s, "h1", d1, p);
    sleep_s(p->dirty_seconds / 2);
    bool ok = host_consistent(s, "h1");
    struct child *c = run(s, ARGV(s->cfg->xg_sim, "self-check", "h1", S(s, "%u", d1)));
    ok &= expect_exit(s, c, 0);
    wait_all(s, &work, 1);
    if (!churn_ok(s, work, p) || !ok || !expect_state(s, "h1", d1, "running"))
        return;
    c = run(s, ARGV(s->cfg->xg_sim, "self-check", "h1", S(s, "%u", d1)));
    if (expect_exit(s, c, 0))
        host_consistent(s, "h1");
}

/* ------------------------------------------------------------ group: livepipe */

/*
 * xc_save --live --out - | xc_restore --create --in -, no file, while the
 * workload dirties the source: more than one pass, and the destination
 * equals the source as it was at suspend (the source stays suspended).
 */
static void scen_livepipe(struct scenario *s, const struct params *p)
{
    uint32_t d1;
    if (!init_hosts(s, p->mem_mb) || !create_guest(s, "h1", p, &d1))
        return;
    struct child *work = start_workload(s, "h1", d1, p);
    sleep_s(0.2);
    int pp[2];
    if (pipe2(pp, O_CLOEXEC) < 0)
        die("pipe: %s", strerror(errno));
    struct spawn so, ro;
    spawn_defaults(&so);
    spawn_defaults(&ro);
    so.stdout_fd = pp[1];
    ro.stdin_fd = pp[0];
    struct child *save = child_start(s, &so, save_argv(s, d1, p, "-"));
    struct child *rest = child_start(s, &ro,
                                     ARGV(s->cfg->xc_restore, "--backend", "sim:h2", "--create", "--vcpus",
                                          S(s, "%u", p->vcpus), "--in", "-"));
    close(pp[0]);
    close(pp[1]);
    struct child *all[3] = { save, rest, work };
    wait_all(s, all, 3);
    bool ok = expect_exit(s, save, 0);
    ok &= expect_exit(s, rest, 0);
    ok &= workload_ok(s, work);
    if (!ok)
        return;
    const char *err = buf_str(&save->err);
    /* "xc_save: saved domain N: P pages in K passes, T s" */
    unsigned passes = 0;
    const char *sv = strstr(err, "xc_save: saved domain ");
    const char *in = sv ? strstr(sv, " pages in ") : NULL;
    if (!in || sscanf(in, " pages in %u pass", &passes) != 1)
        fail(s, "%s: no \"saved domain N: ... pages in K passes\" line", save->cmd);
    else if (passes < 2 || !has_line_with(err, "xc_save: pass 2:", ARGV("sent")))
        fail(s, "%s: %u pass(es) only: the workload dirtied nothing during the first pass", save->cmd, passes);
    struct restored res;
    if (!parse_restore_output(s, rest, true, &res) || !expect_state(s, "h1", d1, "suspended"))
        return;
    verify_restored(s, "h1", d1, "h2", (uint32_t)res.domid);
}

/* ------------------------------------------------------------ group: fault */

/*
 * What xc_save must say about a fault, on stderr.  `check`: the pre-flight
 * check of a running guest, which can only warn about a foreign mapping
 * (a running guest may hold one for a while; the save fails if it is
 * still there at suspend).
 */
static bool fault_reported(struct scenario *s, const struct child *c, const char *fault, bool check)
{
    const char *err = buf_str(&c->err);
    if (!strcmp(fault, "dom0-writable-map")) {
        if (!has_line_with(err, "error: ", ARGV("cannot map pfn 0x", "mfn 0x", "read-only")))
            return fail(s, "%s: no \"error: cannot map pfn 0x... (mfn 0x...) read-only\" line", c->cmd);
        if (!strstr(err, "writable"))
            return fail(s, "%s: the diagnostic does not say \"writable\"", c->cmd);
        if (!has_line_with(err, "  Xen would log: ", ARGV("Bad type")))
            return fail(s, "%s: no \"Xen would log: Bad type ...\" line", c->cmd);
    } else if (!strcmp(fault, "foreign-pte")) {
        const char *sev = check ? "warning: L1 table at pfn 0x" : "error: L1 table at pfn 0x";
        if (!has_line_with(err, sev, ARGV("slot ", "a frame of domain ", "entry 0x")))
            return fail(s, "%s: no \"%s..., slot N, ... a frame of domain N\" line", c->cmd, sev);
    }
    return true;
}

/* xc_save of a guest whose host or page tables are broken: refused, nothing written, guest running. */
static void scen_fault_refused(struct scenario *s, const struct params *p)
{
    uint32_t d1;
    if (!sim_init(s, "h1", p->mem_mb) || !create_guest(s, "h1", p, &d1))
        return;
    const char *dom = S(s, "%u", d1);
    /* The pre-flight check finds it without suspending anything. */
    struct child *c = run(s, ARGV(s->cfg->xc_save, "--backend", "sim:h1", "--domid", dom, "--check"));
    bool warn_only = !strcmp(p->fault, "foreign-pte");
    if (!expect_exit(s, c, warn_only ? 0 : 1) || !fault_reported(s, c, p->fault, true) ||
        !expect_state(s, "h1", d1, "running"))
        return;
    struct spawn o;
    spawn_defaults(&o);
    c = run_with(s, &o, save_argv(s, d1, p, "guest.img"));
    if (!expect_exit(s, c, 1) || !fault_reported(s, c, p->fault, false))
        return;
    if (!no_file_like(s, "guest.img"))
        return;
    if (!expect_state(s, "h1", d1, "running"))
        return;
    c = run(s, ARGV(s->cfg->xg_sim, "self-check", "h1", dom));
    if (!expect_exit(s, c, 0))
        return;
    host_consistent(s, "h1");
}

/* ------------------------------------------------------------ group: xend */

struct xend {
    struct scenario *s;
    uint32_t domid;
    const char *answer;      /* what xend answers to "suspend" */
    unsigned suspends;
    bool ok;
};

/* xend's saveInputHandler: on "suspend", suspend the domain, answer "done". */
static void xend_on_line(struct child *c, const char *line, void *arg)
{
    struct xend *x = arg;
    struct scenario *s = x->s;
    buf_printf(&s->out, "(xend) xc_save said \"%s\"\n", line);
    if (strcmp(line, "suspend") != 0) {
        x->ok = fail(s, "%s: unexpected line on stdout: \"%s\"", c->cmd, line);
        return;
    }
    if (x->suspends++) {
        x->ok = fail(s, "%s: asked to suspend twice", c->cmd);
        return;
    }
    if (!expect_state(s, "h1", x->domid, "running")) {
        x->ok = false;
        return;
    }
    if (!strcmp(x->answer, "done")) {
        struct child *su = run(s, ARGV(s->cfg->xg_sim, "suspend", "h1", S(s, "%u", x->domid)));
        if (!expect_exit(s, su, 0)) {
            x->ok = false;
            return;
        }
    }
    char *msg = xasprintf("%s\n", x->answer);
    if (write(c->in_fd, msg, strlen(msg)) != (ssize_t)strlen(msg))
        x->ok = fail(s, "cannot answer xc_save: %s", strerror(errno));
    free(msg);
    buf_printf(&s->out, "(xend) answered \"%s\"\n", x->answer);
}

static int open_image(struct scenario *s, const char *name, int flags)
{
    char *path = xasprintf("%s/%s", s->dir, name);
    int fd = open(path, flags | O_CLOEXEC, 0644);
    if (fd < 0)
        fail(s, "cannot open %s: %s", path, strerror(errno));
    free(path);
    return fd;
}

/* xc_save IOFD DOMID 0 0 FLAGS with the handshake; the image goes to `image`. */
static struct child *xend_save(struct scenario *s, uint32_t domid, unsigned flags, const char *answer,
                               const char *image, struct xend *x)
{
    int fd = open_image(s, image, O_WRONLY | O_CREAT | O_TRUNC);
    if (fd < 0)
        return NULL;
    *x = (struct xend){ .s = s, .domid = domid, .answer = answer, .ok = true };
    struct spawn o;
    spawn_defaults(&o);
    o.backend = "sim:h1";
    o.stdin_fd = SPAWN_PIPE;
    o.iofd = fd;
    o.iofd_note = S(s, "%d>%s", XEND_IOFD, image);
    struct child *c = child_start(s, &o,
                                  ARGV(s->cfg->xc_save, S(s, "%d", XEND_IOFD), S(s, "%u", domid), "0", "0",
                                       S(s, "%u", flags)));
    close(fd);
    c->on_line = xend_on_line;
    c->arg = x;
    wait_all(s, &c, 1);
    return c;
}

/* An empty domain on h2, as xend makes before calling xc_restore. */
static bool create_empty(struct scenario *s, const struct params *p, uint32_t *domid)
{
    struct child *c = run(s, ARGV(s->cfg->xg_sim, "create", "h2", "--empty", "--mem", S(s, "%uM", p->mem_mb),
                                  "--vcpus", S(s, "%u", p->vcpus), "--width", layout_width(p->layout)));
    return expect_exit(s, c, 0) && parse_domid(s, c, domid);
}

static struct child *xend_restore(struct scenario *s, uint32_t domid, const char *image, const char *hvm,
                                  const char *pae, unsigned nargs)
{
    int fd = open_image(s, image, O_RDONLY);
    if (fd < 0)
        return NULL;
    struct spawn o;
    spawn_defaults(&o);
    o.backend = "sim:h2";
    o.iofd = fd;
    o.iofd_note = S(s, "%d<%s", XEND_IOFD, image);
    const char *iofd = S(s, "%d", XEND_IOFD), *dom = S(s, "%u", domid);
    struct child *c;
    if (nargs == 9)
        c = child_start(s, &o, ARGV(s->cfg->xc_restore, iofd, dom, "1", "2", hvm, pae, "0", "0", "0"));
    else
        c = child_start(s, &o, ARGV(s->cfg->xc_restore, iofd, dom, "1", "2", hvm, pae, "0"));
    close(fd);
    wait_all(s, &c, 1);
    return c;
}

/* Save and restore as xend does, FLAGS 0 or 1, xc_restore with 7 or 9 arguments. */
static void scen_xend(struct scenario *s, const struct params *p)
{
    uint32_t d1, d2;
    if (!init_hosts(s, p->mem_mb) || !create_guest(s, "h1", p, &d1))
        return;
    struct xend x;
    struct child *c = xend_save(s, d1, p->xend_flags, "done", "guest.img", &x);
    if (!c || !expect_exit(s, c, 0) || !x.ok)
        return;
    if (x.suspends != 1) {
        fail(s, "%s: never printed \"suspend\"", c->cmd);
        return;
    }
    if (!expect_state(s, "h1", d1, "suspended") || !inspect_ok(s, "guest.img"))
        return;
    if (!create_empty(s, p, &d2))
        return;
    c = xend_restore(s, d2, "guest.img", "0", strcmp(p->layout, "pae32") ? "0" : "1", p->restore_args);
    struct restored res;
    if (!c || !expect_exit(s, c, 0) || !parse_restore_output(s, c, false, &res))
        return;
    if (!expect_state(s, "h2", d2, "restored"))
        return;
    verify_restored(s, "h1", d1, "h2", d2);
}

/* xend mode with HVM set: both tools refuse, say why, touch nothing. */
static void scen_xend_hvm(struct scenario *s, const struct params *p)
{
    uint32_t d1, d2;
    if (!init_hosts(s, p->mem_mb) || !create_guest(s, "h1", p, &d1))
        return;
    struct xend x;
    struct child *c = xend_save(s, d1, 4, "done", "guest.img", &x);
    if (!c || !expect_exit(s, c, 1))
        return;
    if (x.suspends)
        fail(s, "%s: asked to suspend an HVM save it refuses", c->cmd);
    if (!has_line_with(buf_str(&c->err), "ERROR: ", ARGV("HVM")))
        fail(s, "%s: no \"ERROR: ... HVM ...\" line on stderr", c->cmd);
    if (!expect_state(s, "h1", d1, "running"))
        return;
    /* A good image, for the restore side. */
    c = run(s, ARGV(s->cfg->xc_save, "--backend", "sim:h1", "--domid", S(s, "%u", d1), "--out", "good.img"));
    if (!expect_exit(s, c, 0) || !create_empty(s, p, &d2))
        return;
    c = xend_restore(s, d2, "good.img", "1", "0", 7);
    if (!c || !expect_exit(s, c, 1))
        return;
    if (!has_line_with(buf_str(&c->err), "ERROR: ", ARGV("HVM")))
        fail(s, "%s: no \"ERROR: ... HVM ...\" line on stderr", c->cmd);
    if (c->out.len)
        fail(s, "%s: printed on stdout although it refused: \"%s\"", c->cmd, first_line(s, buf_str(&c->out)));
    host_consistent(s, "h2");
}

/* xend answers something else than "done": xc_save fails and the guest keeps running. */
static void scen_xend_abort(struct scenario *s, const struct params *p)
{
    uint32_t d1;
    if (!sim_init(s, "h1", p->mem_mb) || !create_guest(s, "h1", p, &d1))
        return;
    struct xend x;
    struct child *c = xend_save(s, d1, p->xend_flags, "abort", "guest.img", &x);
    if (!c || !expect_exit(s, c, 1))
        return;
    if (x.suspends != 1)
        fail(s, "%s: never printed \"suspend\"", c->cmd);
    if (!has_line_with(buf_str(&c->err), "ERROR: ", ARGV("\"abort\"")))
        fail(s, "%s: no \"ERROR: ...\" line quoting xend's answer", c->cmd);
    if (!expect_state(s, "h1", d1, "running"))
        return;
    c = run(s, ARGV(s->cfg->xg_sim, "self-check", "h1", S(s, "%u", d1)));
    if (expect_exit(s, c, 0))
        host_consistent(s, "h1");
}

/* ------------------------------------------------------------ group: badimage */

/* The page types of an image, read with libxg's stream reader. */
struct image_scan {
    uint8_t *type;           /* type nibble per pfn; 0xff: not in the image */
    uint8_t *present;        /* per pfn: a word of its data has bit 0 set (a present entry) */
    uint64_t nr;             /* pfns covered by type[] */
    uint64_t bytes;          /* file size */
};

static bool scan_image(struct scenario *s, const char *name, struct image_scan *out)
{
    memset(out, 0, sizeof(*out));
    char *path = xasprintf("%s/%s", s->dir, name);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    free(path);
    if (fd < 0)
        return fail(s, "cannot open %s: %s", name, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) == 0)
        out->bytes = (uint64_t)st.st_size;
    xg_diag *d = xg_diag_new();
    if (!d)
        die("out of memory");
    xg_stream_reader *r = NULL;
    int rc = xg_stream_reader_open(fd, NULL, d, &r);
    struct xg_record rec;
    while (rc == 0 && (rc = xg_stream_read(r, &rec)) == 0 && rec.type != XG_REC_END) {
        if (rec.type != XG_REC_PAGE_DATA)
            continue;
        const uint8_t *data = rec.u.page_data.data;
        for (uint32_t i = 0; i < rec.u.page_data.count; i++) {
            uint64_t pfn = xg_pd_pfn(rec.u.page_data.pfn[i]);
            if (pfn >= (1ULL << 24)) {
                rc = -1;
                break;
            }
            if (pfn >= out->nr) {
                uint64_t nr = out->nr ? out->nr : 1024;
                while (nr <= pfn)
                    nr *= 2;
                uint8_t *t = realloc(out->type, nr), *pr = realloc(out->present, nr);
                if (!t || !pr)
                    die("out of memory");
                memset(t + out->nr, 0xff, nr - out->nr);
                memset(pr + out->nr, 0, nr - out->nr);
                out->type = t;
                out->present = pr;
                out->nr = nr;
            }
            uint32_t type = xg_pd_type(rec.u.page_data.pfn[i]);
            out->type[pfn] = (uint8_t)(type >> XG_PFINFO_SHIFT);
            if (xg_pfinfo_has_data(type)) {
                out->present[pfn] = 0;
                for (unsigned w = 0; w < 512 && !out->present[pfn]; w++)
                    out->present[pfn] = data[w * 8] & 1;
                data += 4096;
            }
        }
    }
    xg_stream_reader_close(r);
    close(fd);
    bool ok = rc == 0;
    if (!ok) {
        char *text = NULL;
        size_t len = 0;
        FILE *m = open_memstream(&text, &len);
        if (m) {
            xg_diag_print(m, d, false);
            fclose(m);
        }
        fail(s, "the harness cannot read %s: %s", name, text ? first_line(s, text) : "?");
        free(text);
    }
    xg_diag_free(d);
    return ok;
}

static unsigned scan_level(const struct image_scan *im, uint64_t pfn)
{
    return im->type[pfn] == 0xff ? 0 : xg_pfinfo_level((uint32_t)im->type[pfn] << XG_PFINFO_SHIFT);
}

static bool scan_pinned(const struct image_scan *im, uint64_t pfn)
{
    return im->type[pfn] != 0xff && xg_pfinfo_pinned((uint32_t)im->type[pfn] << XG_PFINFO_SHIFT);
}

/* First pfn of a table of the level (pinned or not as asked, -1: either), or UINT64_MAX. */
static uint64_t find_table(const struct image_scan *im, unsigned level, int pinned)
{
    for (uint64_t pfn = 0; pfn < im->nr; pfn++)
        if (scan_level(im, pfn) == level && (pinned < 0 || scan_pinned(im, pfn) == (pinned > 0)))
            return pfn;
    return UINT64_MAX;
}

/* First table of the level (pinned as asked) with a present entry, or UINT64_MAX. */
static uint64_t find_nonempty_table(const struct image_scan *im, unsigned level, int pinned)
{
    for (uint64_t pfn = 0; pfn < im->nr; pfn++)
        if (scan_level(im, pfn) == level && (pinned < 0 || scan_pinned(im, pfn) == (pinned > 0)) &&
            im->present[pfn])
            return pfn;
    return UINT64_MAX;
}

/* The highest ordinary data page. */
static uint64_t find_data_page(const struct image_scan *im)
{
    for (uint64_t pfn = im->nr; pfn-- > 0;)
        if (im->type[pfn] == (XG_PFINFO_NOTAB >> XG_PFINFO_SHIFT))
            return pfn;
    return UINT64_MAX;
}

/* What the "error:" lines about a broken image must name. */
struct want_error {
    const char *words;       /* a word (truncation), or NULL */
    uint64_t pfn;            /* this pfn, unless words or tables */
    const bool *tables;      /* any pfn marked here (tables[0..nr)) */
    uint64_t nr;
};

static bool names_expected(struct scenario *s, const struct child *c, const struct want_error *w)
{
    const char *err = buf_str(&c->err);
    if (w->words ? has_line_with(err, "error:", ARGV(w->words)) : error_names_pfn(err, w->pfn, w->tables, w->nr))
        return true;
    if (w->words)
        return fail(s, "%s: no \"error:\" line saying \"%s\"", c->cmd, w->words);
    if (w->tables)
        return fail(s, "%s: no \"error:\" line naming a pfn the good image had as a page table", c->cmd);
    return fail(s, "%s: no \"error:\" line naming pfn 0x%" PRIx64, c->cmd, w->pfn);
}

/*
 * Break a good image the way the mutation says, and check that the
 * restore refuses it before pinning anything and leaves no domain behind.
 */
static void scen_badimage(struct scenario *s, const struct params *p)
{
    const struct config *cfg = s->cfg;
    uint32_t d1;
    if (!init_hosts(s, p->mem_mb) || !create_guest(s, "h1", p, &d1))
        return;
    struct child *c = run(s, ARGV(cfg->xc_save, "--backend", "sim:h1", "--domid", S(s, "%u", d1), "--out", "good.img"));
    struct image_scan im;
    if (!expect_exit(s, c, 0) || !scan_image(s, "good.img", &im))
        return;

    /* What to break, and what the diagnostics must name. */
    const char *edit = NULL, *value = NULL;
    struct want_error want = { .pfn = UINT64_MAX };
    bool *tables = NULL;
    const char *m = p->mutation;
    if (!strcmp(m, "tables-as-notab") || !strcmp(m, "tables-as-xtab")) {
        edit = "--tables-as";
        value = strcmp(m, "tables-as-notab") ? "XTAB" : "NOTAB";
        tables = calloc(im.nr ? im.nr : 1, sizeof(*tables));
        if (!tables)
            die("out of memory");
        for (uint64_t pfn = 0; pfn < im.nr; pfn++)
            tables[pfn] = scan_level(&im, pfn) != 0;
        want.tables = tables;
        want.nr = im.nr;
    } else if (!strcmp(m, "cr3-to-data")) {
        want.pfn = find_data_page(&im);
        edit = "--cr3";
        value = S(s, "0=0x%" PRIx64, want.pfn);
    } else if (!strcmp(m, "pinned-l1-as-notab")) {
        /*
         * One with present entries: an empty one recorded as ordinary is retyped by Xen
         * (mm.c, _get_page_type), and the restore accepts it (docs/xen-mm-rules.md, section 16).
         */
        want.pfn = find_nonempty_table(&im, 1, 1);
        if (want.pfn == UINT64_MAX)
            want.pfn = find_nonempty_table(&im, 1, -1);
        edit = "--type";
        value = S(s, "0x%" PRIx64 "=NOTAB", want.pfn);
    } else if (!strcmp(m, "l1-maps-l2-rw")) {
        /* Slot 0 of an L1 maps an L2 table writable (present, rw, accessed, dirty). */
        want.pfn = find_table(&im, 1, -1);
        uint64_t l2 = find_table(&im, 2, -1);
        if (l2 != UINT64_MAX && want.pfn != UINT64_MAX) {
            edit = "--entry";
            value = S(s, "0x%" PRIx64 ":0=0x%" PRIx64, want.pfn, (l2 << 12) | 0x63);
        }
    } else if (!strcmp(m, "truncated")) {
        edit = "--truncate";
        value = S(s, "%" PRIu64, im.bytes / 2);
        want.words = "truncated";
    }
    if (!edit || (!want.tables && !want.words && want.pfn == UINT64_MAX)) {
        fail(s, "good.img has no page for the %s mutation", m);
        goto out;
    }
    c = run(s, ARGV(cfg->xg_mutate, "good.img", "bad.img", edit, value));
    if (!expect_exit(s, c, 0))
        goto out;

    /* Offline, xg-inspect says the same as the restore will. */
    c = run(s, ARGV(cfg->xg_inspect, "bad.img"));
    if (!expect_exit(s, c, 1))
        goto out;
    names_expected(s, c, &want);

    struct dom_list before, after;
    c = run(s, ARGV(cfg->xg_sim, "log", "h2", "--trace"));
    if (!expect_exit(s, c, 0) || !sim_list(s, "h2", &before))
        goto out;
    char *log_before = xstrdup(buf_str(&c->out));
    c = restore_create(s, "h2", p->vcpus, "bad.img");
    bool ok = expect_exit(s, c, 1) && names_expected(s, c, &want);
    if (ok && c->out.len)
        ok = fail(s, "%s: printed on stdout although it failed: \"%s\"", c->cmd, first_line(s, buf_str(&c->out)));

    /* The domain it created is gone; nothing was pinned. */
    ok &= sim_list(s, "h2", &after) && same_domains(s, "h2", &before, &after);
    c = run(s, ARGV(cfg->xg_sim, "log", "h2", "--trace"));
    if (expect_exit(s, c, 0)) {
        const char *log = buf_str(&c->out);
        size_t nb = strlen(log_before);
        if (strncmp(log, log_before, nb) != 0) {
            ok = fail(s, "h2's log ring wrapped: cannot tell the attempt's lines");
        } else {
            const char *mine = log + nb;
            const char *pin = strstr(mine, "PIN_");
            if (pin) {
                while (pin > mine && pin[-1] != '\n')
                    pin--;
                ok = fail(s, "the failed restore pinned a table: \"%s\"", first_line(s, pin));
            }
            const char *cr = strstr(mine, "createdomain -> d");
            if (cr) {
                unsigned dom = (unsigned)strtoul(cr + 17, NULL, 10);
                if (!strstr(mine, S(s, "destroydomain d%u ", dom)))
                    ok = fail(s, "the failed restore created d%u and did not destroy it", dom);
            }
        }
    }
    free(log_before);
    ok &= host_consistent(s, "h2");
    if (!ok)
        goto out;

    /* The host is still usable: the good image restores onto it. */
    c = restore_create(s, "h2", p->vcpus, "good.img");
    struct restored res;
    if (expect_exit(s, c, 0) && parse_restore_output(s, c, true, &res))
        verify_restored(s, "h1", d1, "h2", (uint32_t)res.domid);
out:
    free(tables);
    free(im.type);
    free(im.present);
}

/* ------------------------------------------------------------ matrix */

struct matrix {
    struct scenario *s[MAX_SCENARIOS];
    unsigned n;
};

static const char *const layouts[] = { "linux64", "pae32", "netbsd64" };
#define NLAYOUTS 3

static void add(struct matrix *mx, const struct config *cfg, const char *group, scenario_fn fn,
                const struct params *p, const char *fmt, ...) __attribute__((format(printf, 6, 7)));
static void add(struct matrix *mx, const struct config *cfg, const char *group, scenario_fn fn,
                const struct params *p, const char *fmt, ...)
{
    if (mx->n == MAX_SCENARIOS)
        die("more than %u scenarios", MAX_SCENARIOS);
    struct scenario *s = calloc(1, sizeof(*s));
    if (!s)
        die("out of memory");
    va_list ap;
    va_start(ap, fmt);
    if (vasprintf(&s->name, fmt, ap) < 0)
        die("out of memory");
    va_end(ap);
    s->cfg = cfg;
    s->group = group;
    s->fn = fn;
    s->p = *p;
    mx->s[mx->n++] = s;
}

static const char *mode_name(const struct params *p)
{
    return p->live ? (p->compress ? "live-gzip" : "live-raw") : (p->compress ? "gzip" : "raw");
}

static void build_matrix(struct matrix *mx, const struct config *cfg)
{
    const bool full = cfg->full;
    unsigned k = 0;

    /* roundtrip: layout x {non-live, live} x {raw, gzip}; quick: one size and seed
     * each, rotating through 16M-64M, seeds 1-2, 1-3 vcpus; full: every size and seed. */
    static const unsigned quick_mem[] = { 16, 32, 64 };
    static const unsigned full_mem[] = { 16, 64, 256 };
    const unsigned nseeds = full ? 3 : 1, nmem = full ? 3 : 1;
    for (unsigned l = 0; l < NLAYOUTS; l++)
        for (unsigned live = 0; live < 2; live++)
            for (unsigned z = 0; z < 2; z++)
                for (unsigned mi = 0; mi < nmem; mi++)
                    for (unsigned si = 0; si < nseeds; si++, k++) {
                        struct params p = {
                            .layout = layouts[l],
                            .mem_mb = full ? full_mem[mi] : quick_mem[k % 3],
                            .vcpus = 1 + k % 3,
                            .seed = full ? si + 1 : 1 + k % 2,
                            .live = live,
                            .compress = z,
                            .dirty_rate = live ? 5000 : 0,
                            .dirty_seconds = 1,
                        };
                        add(mx, cfg, "roundtrip", scen_roundtrip, &p, "%s-%uM-s%u-v%u-%s", p.layout, p.mem_mb, p.seed,
                            p.vcpus, mode_name(&p));
                    }

    /* livepipe: layout x {raw, gzip} (full: x sizes x dirty rates). */
    static const unsigned pipe_mem[] = { 64, 256 };
    static const double rates[] = { 20000, 60000 };
    for (unsigned l = 0; l < NLAYOUTS; l++)
        for (unsigned z = 0; z < 2; z++)
            for (unsigned mi = 0; mi < (full ? 2U : 1U); mi++)
                for (unsigned ri = 0; ri < (full ? 2U : 1U); ri++, k++) {
                    struct params p = {
                        .layout = layouts[l],
                        .mem_mb = pipe_mem[mi],
                        .vcpus = 1 + k % 3,
                        .seed = 1 + k % 2,
                        .live = true,
                        .compress = z,
                        .dirty_rate = rates[ri],
                        .dirty_seconds = 2,
                    };
                    add(mx, cfg, "livepipe", scen_livepipe, &p, "%s-%uM-s%u-v%u-%s-%gpps", p.layout, p.mem_mb, p.seed,
                        p.vcpus, z ? "gzip" : "raw", p.dirty_rate);
                }

    /* fault: each fault x layout x {non-live, live} (full: x 2 seeds). */
    static const char *const faults[] = { "dom0-writable-map", "foreign-pte", "stale-table" };
    for (unsigned f = 0; f < 3; f++)
        for (unsigned l = 0; l < NLAYOUTS; l++)
            for (unsigned live = 0; live < 2; live++)
                for (unsigned si = 0; si < (full ? 2U : 1U); si++, k++) {
                    struct params p = {
                        .layout = layouts[l],
                        .mem_mb = 16 + 16 * (k % 2),
                        .vcpus = 1 + k % 3,
                        .seed = si + 1,
                        .live = live,
                        .fault = faults[f],
                        .dirty_rate = 0,
                    };
                    add(mx, cfg, "fault", f == 2 ? scen_roundtrip : scen_fault_refused, &p, "%s-%s-%uM-s%u-v%u-%s",
                        faults[f], p.layout, p.mem_mb, p.seed, p.vcpus, mode_name(&p));
                }

    /* xend: layout x FLAGS {0 (xc_restore with 7 args), 1 (9 args)} (full: x 2 sizes);
     * HVM refused; an answer other than "done". */
    for (unsigned l = 0; l < NLAYOUTS; l++)
        for (unsigned flags = 0; flags < 2; flags++)
            for (unsigned mi = 0; mi < (full ? 2U : 1U); mi++, k++) {
                struct params p = {
                    .layout = layouts[l],
                    .mem_mb = mi ? 256 : 32,
                    .vcpus = 1 + k % 3,
                    .seed = 1 + k % 2,
                    .xend_flags = flags,
                    .restore_args = flags ? 9 : 7,
                };
                add(mx, cfg, "xend", scen_xend, &p, "%s-%uM-flags%u-restore%uargs", p.layout, p.mem_mb, flags,
                    p.restore_args);
            }
    struct params hp = { .layout = "linux64", .mem_mb = 16, .vcpus = 1, .seed = 1 };
    add(mx, cfg, "xend", scen_xend_hvm, &hp, "hvm-refused");
    hp.xend_flags = 1;
    add(mx, cfg, "xend", scen_xend_abort, &hp, "answer-not-done");

    /*
     * churn: a live save while the kernel churns (2 page-table rates, 100
     * pages/s ballooned, 5% of the guest dirtied per second, grant maps on
     * alternate seeds), per layout; quick: one seed each; full: 9 seeds each
     * (54).  And the churn alone, the host checked meanwhile.
     */
    static const double pt_rates[] = { 50, 500 };
    for (unsigned l = 0; l < NLAYOUTS; l++)
        for (unsigned ri = 0; ri < 2; ri++)
            for (unsigned si = 0; si < (full ? 9U : 1U); si++, k++) {
                if (!full && ri != l % 2)
                    continue;
                struct params p = {
                    .layout = layouts[l],
                    .mem_mb = 32 + 32 * (k % 2),
                    .vcpus = 1 + k % 3,
                    .seed = si + 1 + ri * 10,
                    .live = true,
                    .dirty_rate = 0.05,
                    .dirty_seconds = 2.5,
                    .pt_churn = pt_rates[ri],
                    .balloon = 100,
                    .grant_maps = (si % 2) ? 0 : 50,
                };
                add(mx, cfg, "churn", scen_churn_live, &p,
                    "live-%s-%uM-s%u-v%u-pt%g-balloon%g-grants%g", p.layout, p.mem_mb, p.seed,
                    p.vcpus, p.pt_churn, p.balloon, p.grant_maps);
            }
    for (unsigned l = 0; l < NLAYOUTS; l++, k++) {
        struct params p = {
            .layout = layouts[l],
            .mem_mb = 32,
            .vcpus = 2,
            .seed = 1 + l,
            .dirty_rate = 0.05,
            .dirty_seconds = full ? 10 : 2,
            .pt_churn = 500,
            .balloon = 100,
            .grant_maps = 50,
        };
        add(mx, cfg, "churn", scen_churn_run, &p, "run-%s-%uM-v%u-%gs-pt%g-balloon%g-grants%g",
            p.layout, p.mem_mb, p.vcpus, p.dirty_seconds, p.pt_churn, p.balloon, p.grant_maps);
    }

    /* badimage: each mutation x layout. */
    static const char *const mutations[] = { "tables-as-notab", "tables-as-xtab", "cr3-to-data",
                                             "pinned-l1-as-notab", "l1-maps-l2-rw", "truncated" };
    for (unsigned mu = 0; mu < 6; mu++)
        for (unsigned l = 0; l < NLAYOUTS; l++, k++) {
            struct params p = {
                .layout = layouts[l],
                .mem_mb = full ? 64 : 16,
                .vcpus = 1 + k % 3,
                .seed = 1 + k % 2,
                .mutation = mutations[mu],
            };
            add(mx, cfg, "badimage", scen_badimage, &p, "%s-%s-%uM-v%u", mutations[mu], p.layout, p.mem_mb, p.vcpus);
        }
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

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    if (remove(path) < 0 && errno != ENOENT)
        fprintf(stderr, "harness: cannot remove %s: %s\n", path, strerror(errno));
    return 0;
}

static void rm_tree(const char *path)
{
    nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

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

/* ------------------------------------------------------------ JUnit */

/*
 * Text fit for an XML document: valid UTF-8, no control characters but
 * tab and newline; long text keeps its head and tail.
 */
static char *xml_text(const struct buf *b)
{
    const unsigned char *p = (const unsigned char *)buf_str(b);
    size_t n = b->len;
    struct buf o = { 0 };
    size_t cut_from = n, cut_to = n;
    if (n > JUNIT_HEAD + JUNIT_TAIL) {
        cut_from = JUNIT_HEAD;
        cut_to = n - JUNIT_TAIL;
    }
    for (size_t i = 0; i < n;) {
        if (i == cut_from) {
            buf_printf(&o, "\n[... %zu bytes left out ...]\n", cut_to - cut_from);
            i = cut_to;
            /* Resynchronise on a character boundary. */
            while (i < n && (p[i] & 0xc0) == 0x80)
                i++;
            continue;
        }
        unsigned char ch = p[i];
        size_t len = 0;
        if (ch == '\t' || ch == '\n' || (ch >= 0x20 && ch < 0x7f))
            len = 1;
        else if (ch >= 0xc2 && ch <= 0xdf)
            len = 2;
        else if (ch >= 0xe0 && ch <= 0xef)
            len = 3;
        else if (ch >= 0xf0 && ch <= 0xf4)
            len = 4;
        bool valid = len > 0 && i + len <= n;
        for (size_t k = 1; valid && k < len; k++)
            valid = (p[i + k] & 0xc0) == 0x80;
        if (valid && len == 3)
            valid = !(ch == 0xe0 && p[i + 1] < 0xa0) && !(ch == 0xed && p[i + 1] >= 0xa0) &&
                    !(ch == 0xef && p[i + 1] == 0xbf && p[i + 2] >= 0xbe);
        if (valid && len == 4)
            valid = !(ch == 0xf0 && p[i + 1] < 0x90) && !(ch == 0xf4 && p[i + 1] >= 0x90);
        if (valid) {
            buf_add(&o, p + i, len);
            i += len;
        } else {
            buf_add(&o, "?", 1);
            i++;
        }
    }
    if (b->dropped)
        buf_printf(&o, "\n[... %zu more bytes not kept ...]\n", b->dropped);
    if (!o.p)
        buf_add(&o, "", 0);
    return o.p;
}

static void set_prop(xmlNodePtr n, const char *name, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void set_prop(xmlNodePtr n, const char *name, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *v;
    if (vasprintf(&v, fmt, ap) < 0)
        die("out of memory");
    va_end(ap);
    struct buf b = { 0 };
    buf_add(&b, v, strlen(v));
    char *safe = xml_text(&b);
    xmlNewProp(n, BAD_CAST name, BAD_CAST safe);
    free(safe);
    buf_free(&b);
    free(v);
}

static void text_child(xmlNodePtr parent, const char *name, const struct buf *b)
{
    char *safe = xml_text(b);
    xmlNewTextChild(parent, NULL, BAD_CAST name, BAD_CAST safe);
    free(safe);
}

static int write_junit(const struct config *cfg, struct scenario *const *ss, unsigned n, double seconds,
                       time_t started)
{
    unsigned failures = 0;
    for (unsigned i = 0; i < n; i++)
        failures += ss[i]->nfail != 0;
    xmlDocPtr doc = xmlNewDoc(BAD_CAST "1.0");
    xmlNodePtr root = xmlNewNode(NULL, BAD_CAST "testsuites");
    if (!doc || !root)
        die("out of memory");
    xmlDocSetRootElement(doc, root);
    set_prop(root, "name", "xg");
    set_prop(root, "tests", "%u", n);
    set_prop(root, "failures", "%u", failures);
    set_prop(root, "errors", "0");
    set_prop(root, "time", "%.3f", seconds);
    xmlNodePtr suite = xmlNewChild(root, NULL, BAD_CAST "testsuite", NULL);
    set_prop(suite, "name", "xg-scenarios");
    set_prop(suite, "tests", "%u", n);
    set_prop(suite, "failures", "%u", failures);
    set_prop(suite, "errors", "0");
    set_prop(suite, "skipped", "0");
    set_prop(suite, "time", "%.3f", seconds);
    char stamp[32];
    struct tm tm;
    strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", localtime_r(&started, &tm));
    set_prop(suite, "timestamp", "%s", stamp);
    xmlNodePtr props = xmlNewChild(suite, NULL, BAD_CAST "properties", NULL);
    xmlNodePtr prop = xmlNewChild(props, NULL, BAD_CAST "property", NULL);
    set_prop(prop, "name", "matrix");
    set_prop(prop, "value", "%s", cfg->full ? "full" : "quick");
    for (unsigned i = 0; i < n; i++) {
        const struct scenario *s = ss[i];
        xmlNodePtr tc = xmlNewChild(suite, NULL, BAD_CAST "testcase", NULL);
        set_prop(tc, "classname", "scenario.%s", s->group);
        set_prop(tc, "name", "%s", s->name);
        set_prop(tc, "time", "%.3f", s->seconds);
        if (s->nfail) {
            char *body = xml_text(&s->failures);
            xmlNodePtr f = xmlNewTextChild(tc, NULL, BAD_CAST "failure", BAD_CAST body);
            free(body);
            set_prop(f, "message", "%s", s->first_failure);
            set_prop(f, "type", "%s", "failure");
        }
        text_child(tc, "system-out", &s->out);
        text_child(tc, "system-err", &s->err);
    }
    int rc = xmlSaveFormatFileEnc(cfg->junit, doc, "UTF-8", 1);
    xmlFreeDoc(doc);
    return rc < 0 ? -1 : 0;
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
        fprintf(stderr, "harness: %s is not an executable (%s); build it first (make check builds everything)\n",
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
        { "quick", no_argument, NULL, 'q' },         { "full", no_argument, NULL, 'f' },
        { "junit", required_argument, NULL, 'j' },   { "builddir", required_argument, NULL, 'b' },
        { "filter", required_argument, NULL, 'F' },  { "timeout", required_argument, NULL, 't' },
        { "keep", no_argument, NULL, 'k' },          { "list", no_argument, NULL, 'l' },
        { "verbose", no_argument, NULL, 'v' },       { "help", no_argument, NULL, 'h' },
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
    cfg.builddir = builddir ? xstrdup(builddir) : env_build && *env_build ? xstrdup(env_build) : default_builddir();
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

    printf("xg scenarios: %u of the %s matrix; tools from %s; scratch in %s\n", nsel, cfg.full ? "full" : "quick",
           cfg.builddir, cfg.tmpdir);
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
    printf("%u scenarios: %u passed, %u failed, %.1f s; JUnit: %s%s\n", nsel, nsel - failed, failed, total,
           cfg.junit, jrc < 0 ? " (could not be written)" : "");
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
