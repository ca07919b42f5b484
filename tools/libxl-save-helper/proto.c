/*
 * proto.c - encode the helper's messages to libxl and read its replies
 * (the wire format is described in proto.h).
 *
 * Everything is native (libxl and the helper run on one machine, built
 * for one ABI): uint16_t, uint32_t, int, unsigned and unsigned long are
 * copied with memcpy in their own size and byte order.  Each message
 * goes out with one write() of length and body, so a message is never
 * split by anything else the process writes.
 */
#include "config.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "proto.h"

/* Sizes libxl's decoder expects, on the ABI both were built for. */
_Static_assert(sizeof(uint16_t) == 2 && sizeof(uint32_t) == 4, "fixed-size types");
_Static_assert(sizeof(int) == 4,
               "libxl's replies and int arguments are 4 bytes on Xen's platforms");

static struct {
    int in_fd, out_fd;
    unsigned cbflags;
    int wake_fd;
    int status; /* HELPER_EXIT_* once libxl's end is gone */
    size_t len; /* bytes of buf in use, the u16 length included */
    unsigned char buf[2 + HELPER_MSG_MAX];
} chan = { .in_fd = -1, .out_fd = -1, .wake_fd = -1 };

void helper_chan_init(int in_fd, int out_fd, unsigned cbflags)
{
    chan.in_fd = in_fd;
    chan.out_fd = out_fd;
    chan.cbflags = cbflags;
    chan.status = HELPER_EXIT_OK;
}

void helper_chan_set_wake(int wake_fd)
{
    chan.wake_fd = wake_fd;
}

bool helper_chan_has(enum helper_msg n)
{
    return (chan.cbflags & HELPER_CBFLAG(n)) != 0;
}

int helper_chan_status(void)
{
    return chan.status;
}

/* ------------------------------------------------------------ encoding */

static void begin(enum helper_msg n)
{
    chan.len = 2;
    uint16_t v = (uint16_t)n;
    memcpy(chan.buf + chan.len, &v, sizeof(v));
    chan.len += sizeof(v);
}

/* Callers size their arguments first: a body never exceeds HELPER_MSG_MAX. */
static void put(const void *p, size_t n)
{
    if (chan.len + n > sizeof(chan.buf))
        abort(); /* a bug in this file, never input: every caller bounds its strings */
    memcpy(chan.buf + chan.len, p, n);
    chan.len += n;
}

static void put_u32(uint32_t v)
{
    put(&v, sizeof(v));
}
static void put_int(int v)
{
    put(&v, sizeof(v));
}
static void put_unsigned(unsigned v)
{
    put(&v, sizeof(v));
}
static void put_ulong(unsigned long v)
{
    put(&v, sizeof(v));
}

/* STRING: length counting the NUL, the n bytes of s, the NUL. */
static void put_string(const char *s, size_t n)
{
    put_u32((uint32_t)(n + 1));
    put(s, n);
    put("", 1);
}

/* Bytes a STRING of n characters takes. */
#define STRING_SIZE(n) (4 + (n) + 1)

static void send_msg(void)
{
    uint16_t body = (uint16_t)(chan.len - 2);
    memcpy(chan.buf, &body, sizeof(body));
    if (chan.status)
        return;
    size_t done = 0;
    while (done < chan.len) {
        ssize_t w = write(chan.out_fd, chan.buf + done, chan.len - done);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            int e = w < 0 ? errno : EIO;
            /* libxl's stderr is ours: the only place left to say it. */
            fprintf(stderr, "xg-libxl-save-helper: writing to libxl's message pipe: %s\n",
                    strerror(e));
            chan.status = HELPER_EXIT_WRITE;
            return;
        }
        done += (size_t)w;
    }
}

/*
 * Read libxl's int reply.  interruptible: give up once the wake pipe is
 * readable (a SIGTERM came: libxl is stopping the helper and may never
 * answer).  Returns false when there is no reply to be had.
 */
static bool get_reply(int *out, bool interruptible)
{
    if (chan.status)
        return false;
    unsigned char b[sizeof(int)];
    size_t done = 0;
    while (done < sizeof(b)) {
        struct pollfd p[2] = { { .fd = chan.in_fd, .events = POLLIN },
                               { .fd = chan.wake_fd, .events = POLLIN } };
        nfds_t n = interruptible && chan.wake_fd >= 0 ? 2 : 1;
        if (poll(p, n, -1) < 0) {
            if (errno == EINTR)
                continue;
            fprintf(stderr, "xg-libxl-save-helper: waiting for libxl's reply: %s\n",
                    strerror(errno));
            chan.status = HELPER_EXIT_EOF;
            return false;
        }
        if (n == 2 && p[1].revents)
            return false;
        if (!p[0].revents)
            continue;
        ssize_t r = read(chan.in_fd, b + done, sizeof(b) - done);
        if (r < 0 && (errno == EINTR || errno == EAGAIN))
            continue;
        if (r < 0)
            fprintf(stderr, "xg-libxl-save-helper: reading libxl's reply: %s\n", strerror(errno));
        if (r <= 0) {
            chan.status = HELPER_EXIT_EOF;
            return false;
        }
        done += (size_t)r;
    }
    memcpy(out, b, sizeof(b));
    return true;
}

/* ------------------------------------------------------------ messages */

void helper_vlog(int level, int errnoval, const char *context, const char *fmt, va_list ap)
{
    static const char cut[] = " [truncated]";
    static char text[HELPER_MSG_MAX];
    if (level < HELPER_XTL_DEBUG)
        level = HELPER_XTL_DEBUG;
    if (level > HELPER_XTL_CRITICAL)
        level = HELPER_XTL_CRITICAL;
    if (!context || !*context)
        context = "xg";
    size_t clen = strnlen(context, 256);
    int n = vsnprintf(text, sizeof(text), fmt, ap);
    if (n < 0)
        n = snprintf(text, sizeof(text), "(unprintable log line)");
    size_t tlen = strlen(text); /* stops at an embedded NUL, as libxl's %s would */
    /* number, level, errnoval, two STRINGs: what is left is the text's. */
    size_t room = HELPER_MSG_MAX - 2 - 4 - 4 - STRING_SIZE(clen) - STRING_SIZE(0);
    if ((size_t)n > tlen || tlen > room) {
        /* Cut by the buffer, at a NUL, or to fit: say so at the end. */
        if (tlen > room - (sizeof(cut) - 1))
            tlen = room - (sizeof(cut) - 1);
        memcpy(text + tlen, cut, sizeof(cut) - 1);
        tlen += sizeof(cut) - 1;
    }
    for (size_t i = 0; i < tlen; i++)
        if (text[i] == '\n' || text[i] == '\r')
            text[i] = ' ';
    begin(HELPER_MSG_LOG);
    put_u32((uint32_t)level);
    put_u32((uint32_t)errnoval);
    put_string(context, clen);
    put_string(text, tlen);
    send_msg();
}

void helper_log(int level, int errnoval, const char *context, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    helper_vlog(level, errnoval, context, fmt, ap);
    va_end(ap);
}

void helper_progress(const char *context, const char *doing_what, unsigned long done,
                     unsigned long total)
{
    size_t clen = strnlen(context, 256), dlen = strnlen(doing_what, 1024);
    begin(HELPER_MSG_PROGRESS);
    put_string(context, clen);
    put_string(doing_what, dlen);
    put_ulong(done);
    put_ulong(total);
    send_msg();
}

int helper_call_suspend(void)
{
    begin(HELPER_MSG_SUSPEND);
    send_msg();
    int r;
    return get_reply(&r, true) ? r : 0;
}

int helper_call_static_data_done(unsigned missing)
{
    begin(HELPER_MSG_STATIC_DATA_DONE);
    put_unsigned(missing);
    send_msg();
    int r;
    return get_reply(&r, false) ? r : -1;
}

void helper_restore_results(unsigned long store_gfn, unsigned long console_gfn)
{
    /* xen_pfn_t is unsigned long on x86, in both word sizes. */
    begin(HELPER_MSG_RESTORE_RESULTS);
    put_ulong(store_gfn);
    put_ulong(console_gfn);
    send_msg();
}

int helper_complete(int retval, int errnoval)
{
    begin(HELPER_MSG_COMPLETE);
    put_int(retval);
    put_int(errnoval);
    send_msg();
    int r;
    return get_reply(&r, false) ? r : -1;
}
