/*
 * util.c - the scenario harness's small tools: dying on a harness error,
 * clocks, allocation, growing buffers, and a scenario's strings and
 * failures.
 */
#include "config.h"

#include "harness.h"

void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("harness: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(EXIT_HARD);
}

double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void sleep_s(double s)
{
    struct timespec ts = { (time_t)s, (long)((s - (double)(time_t)s) * 1e9) };
    nanosleep(&ts, NULL);
}

char *xstrdup(const char *s)
{
    char *p = strdup(s);
    if (!p)
        die("out of memory");
    return p;
}

char *xasprintf(const char *fmt, ...)
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

void buf_add(struct buf *b, const void *data, size_t n)
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

static void buf_vprintf(struct buf *b, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));
static void buf_vprintf(struct buf *b, const char *fmt, va_list ap)
{
    char *s;
    int n = vasprintf(&s, fmt, ap);
    if (n < 0)
        die("out of memory");
    buf_add(b, s, (size_t)n);
    free(s);
}

void buf_printf(struct buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    buf_vprintf(b, fmt, ap);
    va_end(ap);
}

/* Append to a scenario log, keeping at most LOG_KEEP_MAX bytes. */
void log_add(struct buf *b, const char *data, size_t n)
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

const char *buf_str(const struct buf *b)
{
    return b->p ? b->p : "";
}

void buf_free(struct buf *b)
{
    free(b->p);
    memset(b, 0, sizeof(*b));
}

/* ------------------------------------------------------------ a scenario's strings and failures */

/* Free p with the scenario. */
void keep(struct scenario *s, void *p)
{
    void **v = realloc(s->strings, (s->nstrings + 1) * sizeof(*v));
    if (!v)
        die("out of memory");
    s->strings = v;
    s->strings[s->nstrings++] = p;
}

/* A string that lives as long as the scenario. */
const char *S(struct scenario *s, const char *fmt, ...)
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
bool fail(struct scenario *s, const char *fmt, ...)
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

/* ------------------------------------------------------------ files */

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    if (remove(path) < 0 && errno != ENOENT)
        fprintf(stderr, "harness: cannot remove %s: %s\n", path, strerror(errno));
    return 0;
}

void rm_tree(const char *path)
{
    nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}
