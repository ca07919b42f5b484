/*
 * fake_libxl - play libxl's side of the save/restore helper protocol
 * against a helper (xg-libxl-save-helper), on a simulated host, and check
 * everything libxl relies on.
 *
 *   fake_libxl [OPTIONS] save HELPER HOST DOMID OUT
 *   fake_libxl [OPTIONS] restore HELPER HOST DOMID IN
 *
 * As libxl does (Xen 4.17 libxl_save_callout.c, xen-facts.md section 9):
 * fork, the reply pipe on the helper's stdin, the message pipe on its
 * stdout, the stream on a descriptor of its own (14; the save's unused
 * back channel on 11), XG_BACKEND=sim:HOST in its environment, and the
 * argv libxl builds.  Every message is decoded independently of the
 * helper's code and checked: the u16 length, a known number valid in
 * this mode, its cbflags bit for callback messages (libxl would call a
 * NULL pointer otherwise), exact argument sizes, STRINGs (length counting
 * the NUL, NUL-terminated, no NUL inside), log levels 1..9, order
 * (restore_results before complete, nothing after complete, suspend and
 * static_data_done at most once).  suspend is answered by suspending the
 * simulated guest (xg_hv_suspend, as libxl asks the guest) and replying
 * 1; static_data_done with 0; complete with 0, and only after checking
 * the helper is still waiting for that reply.  The helper must then exit
 * 0.
 *
 * Save: the descriptor gets nothing from fake_libxl; afterwards the bytes
 * the helper wrote must be exactly one bare libxc stream, read back with
 * xg's stream reader up to END with nothing after it.  Restore: the
 * descriptor carries the image IN followed by a fake libxl tail
 * (EMULATOR_XENSTORE_DATA and END records); afterwards the helper must
 * have consumed exactly the libxc stream: the tail is still there to be
 * read, which is what libxl does next.
 *
 * Options:
 *   --flags N            save: XCFLAGS (1 live, 2 debug; default 0)
 *   --cbflags N          default 136 (save: suspend, logdirty), 768 (restore)
 *   --stream-type N      default 0 (plain)
 *   --io file|pipe       the stream descriptor: a file (xl save/restore) or a
 *                        pipe (xl migrate); default file
 *   --store-evtchn N --console-evtchn N   restore: default 1 and 2
 *   --suspend-reply N    reply to suspend (default 1); 0 suspends nothing
 *   --suspend-noop       reply without suspending the guest
 *   --term-at-suspend    SIGTERM the helper instead of replying to suspend
 *   --term-at-progress N SIGTERM the helper on its Nth progress message
 *   --sdd-reply N        reply to static_data_done (default 0)
 *   --expect ok|fail     complete's retval is 0 / not 0 (default ok)
 *   --timeout S          kill the helper after S seconds (default 120)
 *
 * Prints one line per message on stdout ("log LEVEL ERRNO CONTEXT: TEXT",
 * "progress ...", "suspend -> R", "static_data_done MISSING -> R",
 * "restore_results STORE CONSOLE", "complete RETVAL ERRNO"), then what it
 * checked.  Exit status 0 when every check passed, 1 otherwise (each
 * failure on stderr as "fake_libxl: FAIL: ..."), 2 on a usage error.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "xg/hv.h"
#include "xg/xg.h"

/* libxl's numbering (libxl_save_msgs_gen.pl, Xen 4.14-4.19), written out again on purpose. */
enum { M_LOG = 1, M_PROGRESS, M_SUSPEND, M_POSTCOPY, M_CHECKPOINT, M_WAIT_CHECKPOINT, M_LOGDIRTY,
       M_STATIC_DATA_DONE, M_RESTORE_RESULTS, M_COMPLETE };
static const char *const msg_names[] = { "?", "log", "progress", "suspend", "postcopy", "checkpoint",
                                         "wait_checkpoint", "switch_qemu_logdirty", "static_data_done",
                                         "restore_results", "complete" };

/* The descriptor numbers libxl's child ends up with in the observed runs. */
#define CHILD_IO_FD 14
#define CHILD_BACK_FD 11

static struct {
    bool save;
    const char *helper, *host, *path;
    uint32_t domid;
    unsigned long flags, cbflags, stream_type;
    bool pipe_io;
    unsigned long store_evtchn, console_evtchn;
    int suspend_reply;
    bool suspend_noop, term_at_suspend;
    int term_at_progress;
    int sdd_reply;
    bool expect_ok;
    unsigned timeout;
} o = { .cbflags = ~0UL, .store_evtchn = 1, .console_evtchn = 2, .suspend_reply = 1, .expect_ok = true,
        .timeout = 120 };

static int failures;

static void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "fake_libxl: FAIL: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    failures++;
}

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "fake_libxl: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    exit(1);
}

/* ------------------------------------------------------------ the helper */

static pid_t pid = -1;
static int msg_rd = -1, reply_wr = -1;
static int io_fd = -1;      /* file: the shared file; save pipe: read end; restore pipe: write end */
static int io_keep = -1;    /* restore pipe: libxl's own read end, read after the helper */
static bool exited;
static int exit_status;

/* Restore: the bytes to hand over (image + tail) and how far they went. */
static uint8_t *feed;
static size_t feed_len, feed_done, image_len;
/* Save: where the stream goes. */
static int out_fd = -1;

static const uint8_t *tail;
static size_t tail_len;

/* A libxl stream tail, as libxl writes after the libxc stream: EMULATOR_XENSTORE_DATA, END. */
static void make_tail(void)
{
    static uint8_t t[8 + 32 + 8];
    uint32_t h[2] = { 2 /* EMULATOR_XENSTORE_DATA */, 8 + 23 };
    memcpy(t, h, 8);
    uint32_t em[2] = { 1 /* emulator id */, 0 /* index */ };
    memcpy(t + 8, em, 8);
    memcpy(t + 16, "fake-libxl tail record", 23); /* and one byte of padding */
    /* END: type 0, length 0. */
    tail = t;
    tail_len = sizeof(t);
}

static int xdup(int fd, int min)
{
    int n = fcntl(fd, F_DUPFD, min);
    if (n < 0)
        _exit(127);
    return n;
}

static void spawn(void)
{
    int rp[2], mp[2], dp[2] = { -1, -1 };
    if (pipe2(rp, O_CLOEXEC) < 0 || pipe2(mp, O_CLOEXEC) < 0)
        die("pipe: %s", strerror(errno));
    int child_io;
    if (o.pipe_io) {
        if (pipe2(dp, O_CLOEXEC) < 0)
            die("pipe: %s", strerror(errno));
        child_io = o.save ? dp[1] : dp[0];
    } else {
        child_io = io_fd;
    }
    int back = open("/dev/null", O_RDONLY | O_CLOEXEC); /* libxl's dup of its own stdin */
    if (back < 0)
        die("/dev/null: %s", strerror(errno));

    char a[12][32];
    char *argv[14];
    int n = 0;
    argv[n++] = (char *)o.helper;
    if (o.save) {
        argv[n++] = "--save-domain";
        snprintf(a[0], 32, "%d", CHILD_IO_FD);
        snprintf(a[1], 32, "%d", CHILD_BACK_FD);
        snprintf(a[2], 32, "%lu", (unsigned long)o.domid);
        snprintf(a[3], 32, "%lu", o.flags);
        snprintf(a[4], 32, "%lu", o.cbflags);
        snprintf(a[5], 32, "%lu", o.stream_type);
        for (int i = 0; i < 6; i++)
            argv[n++] = a[i];
    } else {
        argv[n++] = "--restore-domain";
        snprintf(a[0], 32, "%d", CHILD_IO_FD);
        snprintf(a[1], 32, "%d", -1);
        snprintf(a[2], 32, "%lu", (unsigned long)o.domid);
        snprintf(a[3], 32, "%lu", o.store_evtchn);
        snprintf(a[4], 32, "%lu", 0UL);
        snprintf(a[5], 32, "%lu", o.console_evtchn);
        snprintf(a[6], 32, "%lu", 0UL);
        snprintf(a[7], 32, "%lu", o.cbflags);
        snprintf(a[8], 32, "%lu", o.stream_type);
        for (int i = 0; i < 9; i++)
            argv[n++] = a[i];
    }
    argv[n] = NULL;

    size_t envlen = strlen(o.host) + 32;
    char *env = malloc(envlen);
    if (!env)
        die("out of memory");
    snprintf(env, envlen, "XG_BACKEND=sim:%s", o.host);

    fflush(NULL);
    pid = fork();
    if (pid < 0)
        die("fork: %s", strerror(errno));
    if (pid == 0) {
        /* Out of the way of the target numbers first, then into place, inheritable. */
        int r = xdup(rp[0], 100), m = xdup(mp[1], 100), io = xdup(child_io, 100), b = xdup(back, 100);
        if (dup2(r, 0) < 0 || dup2(m, 1) < 0 || dup2(io, CHILD_IO_FD) < 0 || (o.save && dup2(b, CHILD_BACK_FD) < 0))
            _exit(127);
        close(r);
        close(m);
        close(io);
        close(b);
        putenv(env);
        signal(SIGPIPE, SIG_DFL); /* libxl__exec resets it */
        execv(o.helper, argv);
        fprintf(stderr, "fake_libxl: exec %s: %s\n", o.helper, strerror(errno));
        _exit(127);
    }
    free(env);
    close(rp[0]);
    close(mp[1]);
    close(back);
    msg_rd = mp[0];
    reply_wr = rp[1];
    if (o.pipe_io) {
        if (o.save) {
            close(dp[1]);
            io_fd = dp[0];
        } else {
            io_keep = dp[0];
            io_fd = dp[1];
            fcntl(io_fd, F_SETFL, O_NONBLOCK);
        }
    }
    printf("argv:");
    for (int i = 0; argv[i]; i++)
        printf(" %s", argv[i]);
    printf("\n");
}

static void reap(bool block)
{
    if (exited || pid < 0)
        return;
    int st;
    pid_t r = waitpid(pid, &st, block ? 0 : WNOHANG);
    if (r == pid) {
        exited = true;
        exit_status = st;
    }
}

static void send_reply(int v)
{
    if (write(reply_wr, &v, sizeof(v)) != (ssize_t)sizeof(v))
        fail("writing a reply to the helper: %s", strerror(errno));
}

/* ------------------------------------------------------------ messages */

struct cursor {
    const uint8_t *p, *end;
    const char *msg;
    bool bad;
};

static bool get(struct cursor *c, void *out, size_t n, const char *what)
{
    if (c->bad)
        return false;
    if ((size_t)(c->end - c->p) < n) {
        fail("%s: body too short for %s (%zu bytes left, %zu needed): libxl would drop it, and wait", c->msg, what,
             (size_t)(c->end - c->p), n);
        c->bad = true;
        return false;
    }
    memcpy(out, c->p, n);
    c->p += n;
    return true;
}

/* STRING: u32 length counting the NUL (not 0), the bytes, the NUL last. */
static const char *get_string(struct cursor *c, const char *what)
{
    uint32_t len;
    if (!get(c, &len, sizeof(len), what))
        return NULL;
    if (len == 0) {
        fail("%s: %s has length 0 (libxl rejects it)", c->msg, what);
        c->bad = true;
        return NULL;
    }
    if ((size_t)(c->end - c->p) < len) {
        fail("%s: %s says %u bytes, %zu left", c->msg, what, len, (size_t)(c->end - c->p));
        c->bad = true;
        return NULL;
    }
    const char *s = (const char *)c->p;
    if (s[len - 1] != '\0') {
        fail("%s: %s does not end with NUL (libxl rejects it)", c->msg, what);
        c->bad = true;
        return NULL;
    }
    if (strlen(s) != len - 1)
        fail("%s: %s has a NUL inside (length %u, strlen %zu)", c->msg, what, len, strlen(s));
    c->p += len;
    return s;
}

static bool at_end(struct cursor *c)
{
    if (c->bad)
        return false;
    if (c->p != c->end) {
        fail("%s: %zu bytes left over (libxl drops the message)", c->msg, (size_t)(c->end - c->p));
        return false;
    }
    return true;
}

static int n_suspend, n_sdd, n_results, n_complete, n_log, n_progress, n_error_lines;
static int retval = -12345, errnoval = -12345;
static unsigned long store_mfn, console_mfn;
static bool complete_replied;

static void check_cbflag(int num)
{
    if (!(o.cbflags & (1UL << num)))
        fail("%s (%d) sent although cbflags %#lx lacks bit %d: libxl would call a NULL pointer", msg_names[num], num,
             o.cbflags, num);
}

static void suspend_guest(void)
{
    xg_diag *d = xg_diag_new();
    xg_hv *hv = NULL;
    size_t len = strlen(o.host) + 8;
    char *spec = malloc(len);
    if (!spec)
        die("out of memory");
    snprintf(spec, len, "sim:%s", o.host);
    int rc = xg_hv_open(spec, d, &hv);
    free(spec);
    if (rc == 0)
        rc = xg_hv_suspend(hv, o.domid, 10000, d);
    if (rc < 0) {
        fprintf(stderr, "fake_libxl: suspending domain %u failed:\n", o.domid);
        xg_diag_print(stderr, d, false);
        fail("could not suspend the guest for the helper");
    }
    xg_hv_close(hv);
    xg_diag_free(d);
}

static void handle(const uint8_t *body, size_t len)
{
    struct cursor c = { .p = body, .end = body + len };
    uint16_t num;
    c.msg = "message";
    if (!get(&c, &num, sizeof(num), "the message number"))
        return;
    if (num < 1 || num > M_COMPLETE) {
        fail("unknown message number %u (length %zu): libxl drops it silently", num, len);
        return;
    }
    c.msg = msg_names[num];
    if (n_complete)
        fail("%s after complete: libxl no longer reads", msg_names[num]);
    /* libxl's save receiver has no case for 8 and 9, the restore one none for 7. */
    if ((o.save && (num == M_STATIC_DATA_DONE || num == M_RESTORE_RESULTS)) || (!o.save && num == M_LOGDIRTY))
        fail("%s in a %s: libxl's receiver has no case for it", msg_names[num], o.save ? "save" : "restore");
    if (num >= M_SUSPEND && num <= M_RESTORE_RESULTS)
        check_cbflag(num);

    switch (num) {
    case M_LOG: {
        uint32_t level = 0, err = 0;
        get(&c, &level, 4, "level");
        get(&c, &err, 4, "errnoval");
        const char *ctx = get_string(&c, "context");
        const char *text = get_string(&c, "formatted");
        if (!at_end(&c))
            return;
        if (level < 1 || level > 9)
            fail("log level %u outside 1..9: xtl_logv asserts and xl aborts", level);
        n_log++;
        if (level >= 8)
            n_error_lines++;
        printf("log %u %d %s: %s\n", level, (int)err, ctx, text);
        break;
    }
    case M_PROGRESS: {
        unsigned long done = 0, total = 0;
        const char *ctx = get_string(&c, "context");
        const char *what = get_string(&c, "doing_what");
        get(&c, &done, sizeof(done), "done");
        get(&c, &total, sizeof(total), "total");
        if (!at_end(&c))
            return;
        if (total && done > total)
            fail("progress %s: done %lu > total %lu", what, done, total);
        n_progress++;
        printf("progress %s: %s %lu/%lu\n", ctx, what, done, total);
        if (o.term_at_progress == n_progress) {
            printf("(SIGTERM)\n");
            kill(pid, SIGTERM);
        }
        break;
    }
    case M_SUSPEND: {
        if (!at_end(&c))
            return;
        if (!o.save)
            fail("suspend in a plain restore (COLO only)");
        if (++n_suspend > 1)
            fail("suspend sent %d times: once per plain stream", n_suspend);
        if (o.term_at_suspend) {
            printf("suspend -> (SIGTERM, no reply)\n");
            kill(pid, SIGTERM);
            break;
        }
        if (o.suspend_reply && !o.suspend_noop)
            suspend_guest();
        printf("suspend -> %d\n", o.suspend_reply);
        send_reply(o.suspend_reply);
        break;
    }
    case M_STATIC_DATA_DONE: {
        unsigned missing = 0;
        get(&c, &missing, sizeof(missing), "missing");
        if (!at_end(&c))
            return;
        if (++n_sdd > 1)
            fail("static_data_done sent %d times", n_sdd);
        if (n_results)
            fail("static_data_done after restore_results");
        if (missing & ~3U)
            fail("static_data_done: missing %#x has bits other than CPUID (1) and MSR (2)", missing);
        printf("static_data_done %u -> %d\n", missing, o.sdd_reply);
        send_reply(o.sdd_reply);
        break;
    }
    case M_RESTORE_RESULTS: {
        get(&c, &store_mfn, sizeof(store_mfn), "store_gfn");
        get(&c, &console_mfn, sizeof(console_mfn), "console_gfn");
        if (!at_end(&c))
            return;
        if (++n_results > 1)
            fail("restore_results sent %d times", n_results);
        printf("restore_results %#lx %#lx\n", store_mfn, console_mfn);
        break;
    }
    case M_COMPLETE: {
        int rv = 0, ev = 0;
        get(&c, &rv, sizeof(rv), "retval");
        get(&c, &ev, sizeof(ev), "errnoval");
        if (!at_end(&c))
            return;
        if (++n_complete > 1)
            fail("complete sent %d times", n_complete);
        retval = rv;
        errnoval = ev;
        printf("complete %d %d\n", rv, ev);
        /* The helper must still be there, waiting for this reply. */
        struct timespec ts = { 0, 50 * 1000 * 1000 };
        nanosleep(&ts, NULL);
        reap(false);
        if (exited)
            fail("the helper exited before libxl's reply to complete");
        send_reply(0);
        complete_replied = true;
        break;
    }
    default:
        fail("%s (%u): a Remus/COLO/HVM message in a plain PV %s", msg_names[num], num, o.save ? "save" : "restore");
        break;
    }
    fflush(stdout);
}

/* ------------------------------------------------------------ the loop */

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void run(void)
{
    static uint8_t buf[2 + 65536 + 4096];
    size_t have = 0;
    bool msg_eof = false, io_eof = !o.pipe_io || !o.save;
    double deadline = now() + o.timeout;
    static uint8_t data[1 << 16];

    while (!msg_eof || !io_eof || !exited) {
        struct pollfd p[2];
        nfds_t n = 0;
        int mi = -1, ii = -1;
        if (!msg_eof) {
            p[n] = (struct pollfd){ .fd = msg_rd, .events = POLLIN };
            mi = (int)n++;
        }
        if (o.pipe_io && o.save && !io_eof) {
            p[n] = (struct pollfd){ .fd = io_fd, .events = POLLIN };
            ii = (int)n++;
        }
        if (o.pipe_io && !o.save && feed_done < feed_len && !exited) {
            p[n] = (struct pollfd){ .fd = io_fd, .events = POLLOUT };
            ii = (int)n++;
        }
        int r = poll(p, n, 100);
        if (r < 0 && errno != EINTR)
            die("poll: %s", strerror(errno));
        if (now() > deadline) {
            fail("the helper did not finish within %u s (waiting for a reply to a message libxl could not decode?)",
                 o.timeout);
            kill(pid, SIGKILL);
            reap(true);
            return;
        }
        if (r > 0 && mi >= 0 && p[mi].revents) {
            ssize_t got = read(msg_rd, buf + have, sizeof(buf) - have);
            if (got < 0 && errno != EINTR)
                die("reading the message pipe: %s", strerror(errno));
            if (got == 0) {
                msg_eof = true;
                if (have)
                    fail("the message pipe ended inside a message (%zu bytes): libxl reports a truncated ipc msg",
                         have);
            }
            if (got > 0)
                have += (size_t)got;
            for (;;) {
                uint16_t len;
                if (have < 2)
                    break;
                memcpy(&len, buf, 2);
                if (have < 2U + len)
                    break;
                if (len < 2)
                    fail("a message of length %u: too short for its number", len);
                else
                    handle(buf + 2, len);
                memmove(buf, buf + 2 + len, have - 2 - len);
                have -= 2U + len;
            }
        }
        if (r > 0 && ii >= 0 && p[ii].revents) {
            if (o.save) {
                ssize_t got = read(io_fd, data, sizeof(data));
                if (got == 0)
                    io_eof = true;
                else if (got > 0 && write(out_fd, data, (size_t)got) != got)
                    die("writing the image: %s", strerror(errno));
            } else {
                ssize_t w = write(io_fd, feed + feed_done, feed_len - feed_done);
                if (w > 0)
                    feed_done += (size_t)w;
                /* All sent: the sender's end closes, as a migration's does (libxl keeps its read end). */
                if (feed_done == feed_len) {
                    close(io_fd);
                    io_fd = -1;
                }
            }
        }
        reap(false);
    }
}

/* ------------------------------------------------------------ the stream checks */

static void check_saved_image(void)
{
    int fd = open(o.path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return fail("cannot reopen %s: %s", o.path, strerror(errno));
    struct stat sb;
    fstat(fd, &sb);
    xg_diag *d = xg_diag_new();
    xg_stream_reader *r = NULL;
    struct xg_stream_reader_opts ro = { .raw_only = true };
    int rc = xg_stream_reader_open(fd, &ro, d, &r);
    uint64_t records = 0, pages = 0;
    struct xg_record rec;
    while (rc == 0 && (rc = xg_stream_read(r, &rec)) == 0) {
        records++;
        if (rec.type == XG_REC_PAGE_DATA)
            pages += rec.u.page_data.count;
        if (rec.type == XG_REC_END)
            break;
    }
    if (rc < 0) {
        xg_diag_print(stderr, d, false);
        fail("the helper's output is not one bare libxc stream");
    } else {
        uint64_t off = xg_stream_reader_offset(r);
        const struct xg_stream_info *in = xg_stream_reader_info(r);
        printf("image: libxc stream v%u, %llu records, %llu page entries, END at byte %llu of %lld\n", in->version,
               (unsigned long long)records, (unsigned long long)pages, (unsigned long long)off,
               (long long)sb.st_size);
        if (off != (uint64_t)sb.st_size)
            fail("%lld bytes after the libxc END record: libxl appends its own records there",
                 (long long)sb.st_size - (long long)off);
    }
    xg_stream_reader_close(r);
    xg_diag_free(d);
    close(fd);
}

/* What libxl would read next from the descriptor must be the tail, whole. */
static void check_rest(void)
{
    uint8_t *rest = malloc(feed_len + 65536);
    size_t n = 0;
    if (!rest)
        die("out of memory");
    if (o.pipe_io) {
        fcntl(io_keep, F_SETFL, O_NONBLOCK);
        for (;;) {
            ssize_t r = read(io_keep, rest + n, 65536);
            if (r <= 0)
                break;
            n += (size_t)r;
        }
        memcpy(rest + n, feed + feed_done, feed_len - feed_done);
        n += feed_len - feed_done;
    } else {
        off_t pos = lseek(io_fd, 0, SEEK_CUR);
        if (pos != (off_t)image_len)
            fail("the helper left the descriptor at byte %lld, the libxc stream ends at %zu", (long long)pos,
                 image_len);
        ssize_t r;
        while ((r = read(io_fd, rest + n, 65536)) > 0)
            n += (size_t)r;
    }
    printf("left on the descriptor: %zu bytes (the fake libxl tail is %zu)\n", n, tail_len);
    if (n != tail_len || memcmp(rest, tail, tail_len) != 0)
        fail("the helper consumed %s the libxc stream: %zu bytes left where libxl's %zu-byte tail should be",
             n < tail_len ? "more than" : "less than", n, tail_len);
    free(rest);
}

static void load_feed(void)
{
    int fd = open(o.path, O_RDONLY | O_CLOEXEC);
    struct stat sb;
    if (fd < 0 || fstat(fd, &sb) < 0)
        die("cannot open %s: %s", o.path, strerror(errno));
    image_len = (size_t)sb.st_size;
    make_tail();
    feed_len = image_len + tail_len;
    feed = malloc(feed_len);
    if (!feed)
        die("out of memory");
    size_t n = 0;
    while (n < image_len) {
        ssize_t r = read(fd, feed + n, image_len - n);
        if (r <= 0)
            die("reading %s: %s", o.path, r < 0 ? strerror(errno) : "short file");
        n += (size_t)r;
    }
    close(fd);
    memcpy(feed + image_len, tail, tail_len);
    if (!o.pipe_io) {
        /* An unlinked file: image, then tail, offset at 0 (libxl shares the offset with the helper). */
        const char *tmp = getenv("TMPDIR");
        char path[4200];
        snprintf(path, sizeof(path), "%s/fake-libxl.XXXXXX", tmp && *tmp ? tmp : "/tmp");
        io_fd = mkstemp(path);
        if (io_fd < 0)
            die("mkstemp %s: %s", path, strerror(errno));
        unlink(path);
        fcntl(io_fd, F_SETFD, FD_CLOEXEC);
        if (write(io_fd, feed, feed_len) != (ssize_t)feed_len || lseek(io_fd, 0, SEEK_SET) != 0)
            die("writing the stream file: %s", strerror(errno));
    }
}

/* ------------------------------------------------------------ main */

static unsigned long num_arg(const char *s, const char *what)
{
    char *end;
    errno = 0;
    unsigned long v = strtoul(s, &end, 0);
    if (errno || !*s || *end) {
        fprintf(stderr, "fake_libxl: bad %s \"%s\"\n", what, s);
        exit(2);
    }
    return v;
}

int main(int argc, char **argv)
{
    enum { O_FLAGS = 256, O_CBFLAGS, O_STREAM, O_IO, O_STORE, O_CONSOLE, O_SREPLY, O_SNOOP, O_TERM, O_TERMP, O_SDD,
           O_EXPECT, O_TIMEOUT };
    static const struct option opts[] = {
        { "flags", required_argument, NULL, O_FLAGS },
        { "cbflags", required_argument, NULL, O_CBFLAGS },
        { "stream-type", required_argument, NULL, O_STREAM },
        { "io", required_argument, NULL, O_IO },
        { "store-evtchn", required_argument, NULL, O_STORE },
        { "console-evtchn", required_argument, NULL, O_CONSOLE },
        { "suspend-reply", required_argument, NULL, O_SREPLY },
        { "suspend-noop", no_argument, NULL, O_SNOOP },
        { "term-at-suspend", no_argument, NULL, O_TERM },
        { "term-at-progress", required_argument, NULL, O_TERMP },
        { "sdd-reply", required_argument, NULL, O_SDD },
        { "expect", required_argument, NULL, O_EXPECT },
        { "timeout", required_argument, NULL, O_TIMEOUT },
        { NULL, 0, NULL, 0 },
    };
    int c;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case O_FLAGS: o.flags = num_arg(optarg, "--flags"); break;
        case O_CBFLAGS: o.cbflags = num_arg(optarg, "--cbflags"); break;
        case O_STREAM: o.stream_type = num_arg(optarg, "--stream-type"); break;
        case O_IO:
            if (strcmp(optarg, "file") && strcmp(optarg, "pipe")) {
                fprintf(stderr, "fake_libxl: --io file|pipe\n");
                return 2;
            }
            o.pipe_io = !strcmp(optarg, "pipe");
            break;
        case O_STORE: o.store_evtchn = num_arg(optarg, "--store-evtchn"); break;
        case O_CONSOLE: o.console_evtchn = num_arg(optarg, "--console-evtchn"); break;
        case O_SREPLY: o.suspend_reply = (int)strtol(optarg, NULL, 0); break;
        case O_SNOOP: o.suspend_noop = true; break;
        case O_TERM: o.term_at_suspend = true; break;
        case O_TERMP: o.term_at_progress = (int)num_arg(optarg, "--term-at-progress"); break;
        case O_SDD: o.sdd_reply = (int)strtol(optarg, NULL, 0); break;
        case O_EXPECT:
            if (strcmp(optarg, "ok") && strcmp(optarg, "fail")) {
                fprintf(stderr, "fake_libxl: --expect ok|fail\n");
                return 2;
            }
            o.expect_ok = !strcmp(optarg, "ok");
            break;
        case O_TIMEOUT: o.timeout = (unsigned)num_arg(optarg, "--timeout"); break;
        default: return 2;
        }
    }
    if (argc - optind != 5 || (strcmp(argv[optind], "save") && strcmp(argv[optind], "restore"))) {
        fprintf(stderr, "usage: fake_libxl [OPTIONS] save|restore HELPER HOST DOMID IMAGE\n");
        return 2;
    }
    o.save = !strcmp(argv[optind], "save");
    o.helper = argv[optind + 1];
    o.host = argv[optind + 2];
    o.domid = (uint32_t)num_arg(argv[optind + 3], "DOMID");
    o.path = argv[optind + 4];
    if (o.cbflags == ~0UL)
        o.cbflags = o.save ? (1U << 3) | (1U << 7) : (1U << 8) | (1U << 9);
    signal(SIGPIPE, SIG_IGN);

    if (o.save) {
        out_fd = open(o.path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (out_fd < 0)
            die("cannot create %s: %s", o.path, strerror(errno));
        if (!o.pipe_io)
            io_fd = out_fd;
    } else {
        load_feed();
    }
    spawn();
    run();
    reap(true);

    /* Exit discipline: complete answered, then exit 0. */
    if (WIFSIGNALED(exit_status))
        fail("the helper died of signal %d (libxl: \"died due to fatal signal\")", WTERMSIG(exit_status));
    else if (WEXITSTATUS(exit_status) != 0)
        fail("the helper exited with status %d (libxl: \"exited with error status\")", WEXITSTATUS(exit_status));
    printf("exit %d\n", WIFEXITED(exit_status) ? WEXITSTATUS(exit_status) : 128 + WTERMSIG(exit_status));
    if (!n_complete)
        fail("no complete message (libxl: \"exited without signaling completion\")");
    if (!o.save && (o.cbflags & (1U << 9)) && !n_results)
        fail("no restore_results (libxl: \"exited without providing results\")");
    if (n_complete) {
        if (o.expect_ok && (retval != 0 || errnoval != 0))
            fail("complete(%d, %d), expected success", retval, errnoval);
        if (!o.expect_ok && retval == 0)
            fail("complete(0), expected a failure");
        if (!o.expect_ok && retval != 0 && errnoval <= 0)
            fail("complete(%d, %d): a failure without an errno (libxl would print \"Success\")", retval, errnoval);
        if (!o.expect_ok && retval != 0 && !n_error_lines)
            fail("a failure without an ERROR log line saying why");
    }
    if (!o.save && n_results) {
        if (retval == 0 && (!store_mfn || !console_mfn))
            fail("a successful restore reported store mfn %#lx, console mfn %#lx", store_mfn, console_mfn);
        if (retval != 0 && (store_mfn || console_mfn))
            fail("a failed restore reported store mfn %#lx, console mfn %#lx (Xen's helper sends 0, 0)", store_mfn,
                 console_mfn);
    }
    if (o.save && o.expect_ok && retval == 0)
        check_saved_image();
    if (!o.save && o.expect_ok && retval == 0)
        check_rest();
    printf("messages: %d log (%d error), %d progress, %d suspend, %d static_data_done, %d restore_results, "
           "%d complete\n",
           n_log, n_error_lines, n_progress, n_suspend, n_sdd, n_results, n_complete);
    free(feed);
    printf("%s\n", failures ? "FAILED" : "PASSED");
    return failures ? 1 : 0;
}
