/*
 * xg-streamtap - copy a migration stream from stdin to stdout unchanged,
 * and say on stderr how many pages it carried in each pass.
 *
 *     xl migrate -s "" DOM "xg-streamtap | exec xl migrate-receive"
 *
 * The Xen tier puts it between the sending and the receiving xl, so that
 * Xen's own saver and xg's are measured the same way, on the bytes they
 * sent.  It follows the framing only: xl's save header, the libxl stream
 * up to its LIBXC_CONTEXT record, then the libxc stream's records up to
 * END.  A saver sends each pass in rising pfn order (libxenguest's
 * send_dirty_pages and xg's send_pass both walk the pfns upwards), so a
 * pfn at or below the one before starts a new pass; the last pass is the
 * one made after the guest was suspended.  At the libxc END record it
 * prints
 *
 *     XGTAP PASS1,PASS2,...,LAST ENTRIES BYTES
 *
 * with the pages that carried data in each pass (entries typed XTAB,
 * BROKEN or XALLOC carry none), all pfn entries, and the libxc stream's
 * bytes.  Whatever it cannot follow it says in one line (XGTAP unparsed:
 * ...) and goes on copying: it never changes or stops the stream.
 */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define MAX_PASSES 64
#define MAX_BATCH 4096 /* pfn entries of one PAGE_DATA record we look at */

enum state { XL_HEAD, LIBXL_HEAD, LIBXL_REC, LIBXC_HEAD, REC_HEAD, PAGE_HEAD, PAGE_PFNS, SKIP, DONE };

struct tap {
    enum state st, after_skip;
    uint8_t buf[8 + 8 * MAX_BATCH];
    size_t have, need; /* bytes collected in buf, bytes wanted there */
    uint64_t skip;     /* bytes to pass over in SKIP */
    size_t next_need;  /* then collect this many for after_skip */
    uint32_t rec_len, count;
    uint64_t last_pfn;
    bool any_pfn;
    unsigned passes;
    uint64_t pages[MAX_PASSES];
    uint64_t entries, bytes;
    bool said;
};

static uint32_t le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t le64(const uint8_t *p)
{
    return (uint64_t)le32(p) | (uint64_t)le32(p + 4) << 32;
}

static void give_up(struct tap *t, const char *why)
{
    if (!t->said)
        dprintf(STDERR_FILENO, "XGTAP unparsed: %s\n", why); /* one write: see report() */
    t->said = true;
    t->st = DONE;
}

static void want(struct tap *t, enum state st, size_t n)
{
    t->st = st;
    t->have = 0;
    t->need = n;
}

/* Pass over N bytes, then collect NEED bytes in state NEXT. */
static void skip_then(struct tap *t, uint64_t n, enum state next, size_t need)
{
    if (!n)
        return want(t, next, need);
    t->st = SKIP;
    t->skip = n;
    t->after_skip = next;
    t->next_need = need;
}

static uint64_t padded(uint64_t n)
{
    return (n + 7) & ~(uint64_t)7;
}

static void count_pfns(struct tap *t)
{
    for (uint32_t i = 0; i < t->count; i++) {
        uint64_t e = le64(t->buf + 8 + 8 * (size_t)i);
        uint64_t pfn = e & 0x000fffffffffffffULL;
        unsigned type = (unsigned)(e >> 60);
        if (!t->any_pfn || pfn <= t->last_pfn) {
            if (t->passes == MAX_PASSES) {
                give_up(t, "more passes than counted");
                return;
            }
            t->passes++;
        }
        t->any_pfn = true;
        t->last_pfn = pfn;
        t->entries++;
        if (type != 0xf && type != 0xd && type != 0xe) /* XTAB, BROKEN, XALLOC */
            t->pages[t->passes - 1]++;
    }
}

/*
 * The figures line, in one write(): stderr is shared with xl and the save
 * helpers, whose lines would otherwise land in the middle of it.
 */
static void report(struct tap *t)
{
    char line[4096];
    size_t n = (size_t)snprintf(line, sizeof(line), "XGTAP ");
    for (unsigned i = 0; i < t->passes && n < sizeof(line); i++)
        n += (size_t)snprintf(line + n, sizeof(line) - n, "%s%" PRIu64, i ? "," : "", t->pages[i]);
    if (n < sizeof(line))
        n += (size_t)snprintf(line + n, sizeof(line) - n, "%s %" PRIu64 " %" PRIu64 "\n",
                              t->passes ? "" : "-", t->entries, t->bytes);
    if (n >= sizeof(line)) { /* too many passes for one line: say so, in one line */
        n = (size_t)snprintf(line, sizeof(line), "XGTAP unparsed: %u passes\n", t->passes);
    }
    if (write(STDERR_FILENO, line, n) < 0)
        return;
}

/* A complete header or prefix is in buf: act on it. */
static void parsed(struct tap *t)
{
    switch (t->st) {
    case XL_HEAD:
        if (memcmp(t->buf, "Xen saved domain, xl format", 27))
            return give_up(t, "no xl save header");
        return skip_then(t, le32(t->buf + 44), LIBXL_HEAD, 16);
    case LIBXL_HEAD:
        if (memcmp(t->buf, "LibxlFmt", 8))
            return give_up(t, "no libxl stream header");
        return want(t, LIBXL_REC, 8);
    case LIBXL_REC: {
        uint32_t type = le32(t->buf), len = le32(t->buf + 4);
        if (type == 0)
            return give_up(t, "libxl END before LIBXC_CONTEXT");
        if (type == 1) /* LIBXC_CONTEXT: the libxc stream follows */
            return want(t, LIBXC_HEAD, 24 + 16);
        return skip_then(t, padded(len), LIBXL_REC, 8);
    }
    case LIBXC_HEAD:
        if (le64(t->buf) != UINT64_MAX)
            return give_up(t, "no libxc image header");
        t->bytes = 40;
        return want(t, REC_HEAD, 8);
    case REC_HEAD: {
        uint32_t type = le32(t->buf);
        t->rec_len = le32(t->buf + 4);
        t->bytes += 8 + padded(t->rec_len);
        if (type == 0) { /* END */
            report(t);
            t->st = DONE;
            return;
        }
        if (type == 1 && t->rec_len >= 8)
            return want(t, PAGE_HEAD, 8);
        return skip_then(t, padded(t->rec_len), REC_HEAD, 8);
    }
    case PAGE_HEAD:
        t->count = le32(t->buf);
        if (t->count > MAX_BATCH || 8 + 8 * (uint64_t)t->count > t->rec_len)
            return give_up(t, "a PAGE_DATA record larger than expected");
        t->need = 8 + 8 * (size_t)t->count;
        t->st = PAGE_PFNS;
        if (t->have < t->need)
            return;
        __attribute__((fallthrough)); /* a record of no pfns */
    case PAGE_PFNS:
        count_pfns(t);
        if (t->st == DONE)
            return;
        return skip_then(t, padded(t->rec_len) - t->need, REC_HEAD, 8);
    default:
        return;
    }
}

static void feed(struct tap *t, const uint8_t *p, size_t n)
{
    while (n && t->st != DONE) {
        if (t->st == SKIP) {
            uint64_t k = t->skip < n ? t->skip : n;
            t->skip -= k;
            p += k;
            n -= k;
            if (!t->skip)
                want(t, t->after_skip, t->next_need);
            continue;
        }
        size_t k = t->need - t->have;
        if (k > n)
            k = n;
        memcpy(t->buf + t->have, p, k);
        t->have += k;
        p += k;
        n -= k;
        if (t->have == t->need)
            parsed(t);
    }
}

static int write_all(const uint8_t *p, size_t n)
{
    while (n) {
        ssize_t w = write(1, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (argc > 1) {
        fprintf(stderr, "usage: %s < STREAM > STREAM (copies a migration stream; pages per pass on stderr)\n",
                argv[0]);
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    static struct tap t;
    want(&t, XL_HEAD, 48);
    static uint8_t chunk[1 << 16];
    for (;;) {
        ssize_t r = read(0, chunk, sizeof(chunk));
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            perror("xg-streamtap: read");
            return 1;
        }
        if (r == 0)
            break;
        if (write_all(chunk, (size_t)r) < 0) {
            perror("xg-streamtap: write");
            return 1;
        }
        feed(&t, chunk, (size_t)r);
    }
    if (t.st != DONE)
        give_up(&t, "the stream ended before the libxc END record");
    return 0;
}
