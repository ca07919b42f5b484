/*
 * gzip_write.c - the compressing side of the gzip framing: deflate on
 * every core.
 *
 * The stream is cut into chunks of XG_GZW_CHUNK bytes and each chunk is
 * deflated on its own, as a complete gzip member, by a pool of worker
 * threads; the members are written in order.  Concatenated members are
 * one gzip stream to every reader (RFC 1952 section 2.2; zlib's inflate,
 * gzip -d, and xg's own reader in gzip.c), so the file stays what a
 * single-threaded gzip would write, a few bytes per MiB larger (each
 * member has its own 18-byte frame and starts with an empty dictionary).
 *
 * Threads: the caller fills a chunk, hands it to the pool and goes on
 * filling the next; before it reuses a slot it writes the oldest chunk,
 * which is the one in that slot, once a worker has compressed it.  So
 * the caller's own work (the save engine mapping and normalising pages)
 * overlaps compression, and compression runs on every core.  Nothing but
 * the caller touches the fd.
 *
 * Memory: (workers + 2) slots of one chunk in and its deflateBound out,
 * about 2 MiB each.
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "internal.h"
#include "stream/stream_private.h"

#define XG_GZW_CHUNK (1U << 20)
#define XG_GZW_MAX_WORKERS 8

enum slot_state {
    SLOT_FREE,
    SLOT_QUEUED,
    SLOT_BUSY,
    SLOT_DONE
};

struct gzw_slot {
    uint8_t *in;
    size_t in_len;
    uint8_t *out;
    size_t out_len;
    enum slot_state state;
    bool failed; /* deflate refused the chunk */
};

struct gzw_worker {
    struct xg_gzw *g;
    pthread_t thread;
    z_stream z;
    bool z_ready, started;
};

struct xg_gzw {
    int fd;
    uint64_t bytes_out;
    size_t out_cap; /* deflateBound of one chunk */
    unsigned nr_slots, nr_workers;
    struct gzw_slot *slots;
    struct gzw_worker *workers;
    /* Chunk sequence numbers: slot = seq % nr_slots. */
    uint64_t filled;  /* chunks handed to the pool */
    uint64_t taken;   /* chunks a worker has started */
    uint64_t written; /* chunks written to fd */
    bool stopping, finished, failed;
    pthread_mutex_t lock;
    pthread_cond_t work; /* a chunk was queued, or stopping */
    pthread_cond_t done; /* a chunk was compressed */
};

/* Deflate one chunk into a complete gzip member. */
static bool compress_chunk(z_stream *z, struct gzw_slot *s, size_t out_cap)
{
    if (deflateReset(z) != Z_OK)
        return false;
    z->next_in = s->in;
    z->avail_in = (uInt)s->in_len;
    z->next_out = s->out;
    z->avail_out = (uInt)out_cap;
    /* The output buffer is deflateBound() of the input: one call finishes. */
    if (deflate(z, Z_FINISH) != Z_STREAM_END)
        return false;
    s->out_len = out_cap - z->avail_out;
    return true;
}

static void *worker_main(void *arg)
{
    struct gzw_worker *w = arg;
    struct xg_gzw *g = w->g;
    pthread_mutex_lock(&g->lock);
    for (;;) {
        while (!g->stopping && g->taken == g->filled)
            pthread_cond_wait(&g->work, &g->lock);
        if (g->taken == g->filled) /* stopping, and nothing left */
            break;
        struct gzw_slot *s = &g->slots[g->taken % g->nr_slots];
        g->taken++;
        s->state = SLOT_BUSY;
        pthread_mutex_unlock(&g->lock);
        bool ok = compress_chunk(&w->z, s, g->out_cap);
        pthread_mutex_lock(&g->lock);
        s->failed = !ok;
        s->state = SLOT_DONE;
        pthread_cond_broadcast(&g->done);
    }
    pthread_mutex_unlock(&g->lock);
    return NULL;
}

static unsigned default_workers(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : (unsigned)n;
}

static void stop_workers(struct xg_gzw *g)
{
    pthread_mutex_lock(&g->lock);
    g->stopping = true;
    pthread_cond_broadcast(&g->work);
    pthread_mutex_unlock(&g->lock);
    for (unsigned i = 0; i < g->nr_workers; i++) {
        if (g->workers[i].started)
            pthread_join(g->workers[i].thread, NULL);
        g->workers[i].started = false;
    }
}

static void free_gzw(struct xg_gzw *g)
{
    for (unsigned i = 0; g->workers && i < g->nr_workers; i++)
        if (g->workers[i].z_ready)
            deflateEnd(&g->workers[i].z);
    for (unsigned i = 0; g->slots && i < g->nr_slots; i++) {
        free(g->slots[i].in);
        free(g->slots[i].out);
    }
    free(g->workers);
    free(g->slots);
    pthread_cond_destroy(&g->work);
    pthread_cond_destroy(&g->done);
    pthread_mutex_destroy(&g->lock);
    free(g);
}

int xg__gzw_open(int fd, int level, unsigned threads, xg_diag *d, struct xg_gzw **out)
{
    *out = NULL;
    if (level < 1 || level > 9)
        level = 1;
    if (threads == 0)
        threads = default_workers();
    if (threads > XG_GZW_MAX_WORKERS)
        threads = XG_GZW_MAX_WORKERS;

    struct xg_gzw *g = calloc(1, sizeof(*g));
    if (!g)
        return xg_diag_err(d, XG_E_NOMEM, NULL, "out of memory starting gzip compression");
    g->fd = fd;
    pthread_mutex_init(&g->lock, NULL);
    pthread_cond_init(&g->work, NULL);
    pthread_cond_init(&g->done, NULL);
    g->nr_workers = threads;
    g->nr_slots = threads + 2;
    g->workers = calloc(g->nr_workers, sizeof(*g->workers));
    g->slots = calloc(g->nr_slots, sizeof(*g->slots));
    if (!g->workers || !g->slots)
        goto nomem;
    for (unsigned i = 0; i < g->nr_workers; i++) {
        struct gzw_worker *w = &g->workers[i];
        w->g = g;
        /* 16 + MAX_WBITS: a gzip frame around each member. */
        if (deflateInit2(&w->z, level, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY) != Z_OK)
            goto nomem;
        w->z_ready = true;
    }
    g->out_cap = deflateBound(&g->workers[0].z, XG_GZW_CHUNK);
    for (unsigned i = 0; i < g->nr_slots; i++) {
        g->slots[i].in = malloc(XG_GZW_CHUNK);
        g->slots[i].out = malloc(g->out_cap);
        if (!g->slots[i].in || !g->slots[i].out)
            goto nomem;
    }
    for (unsigned i = 0; i < g->nr_workers; i++) {
        int e = pthread_create(&g->workers[i].thread, NULL, worker_main, &g->workers[i]);
        if (e) {
            stop_workers(g);
            free_gzw(g);
            return xg_diag_syserr(d, XG_E_NOMEM, e, NULL, "cannot start a compression thread");
        }
        g->workers[i].started = true;
    }
    *out = g;
    return 0;

nomem:
    free_gzw(g);
    return xg_diag_err(d, XG_E_NOMEM, NULL, "out of memory starting gzip compression");
}

/* Wait for the oldest chunk in the pool and write it.  Called without the lock. */
static int write_oldest(struct xg_gzw *g, xg_diag *d)
{
    struct gzw_slot *s = &g->slots[g->written % g->nr_slots];
    pthread_mutex_lock(&g->lock);
    while (s->state != SLOT_DONE)
        pthread_cond_wait(&g->done, &g->lock);
    pthread_mutex_unlock(&g->lock);

    int rc = 0;
    if (s->failed)
        rc = xg_diag_err(d, XG_E_IO, NULL, "zlib: compression failed");
    else if (xg__write_full(g->fd, s->out, s->out_len) < 0)
        rc = xg_diag_syserr(d, XG_E_IO, errno, NULL, "writing compressed image");
    else
        g->bytes_out += s->out_len;
    pthread_mutex_lock(&g->lock);
    s->state = SLOT_FREE;
    s->in_len = 0;
    g->written++;
    pthread_mutex_unlock(&g->lock);
    if (rc < 0)
        g->failed = true;
    return rc;
}

/* Hand the chunk being filled to the workers. */
static void queue_current(struct xg_gzw *g)
{
    pthread_mutex_lock(&g->lock);
    g->slots[g->filled % g->nr_slots].state = SLOT_QUEUED;
    g->filled++;
    pthread_cond_signal(&g->work);
    pthread_mutex_unlock(&g->lock);
}

/*
 * The slot to fill next, after writing out the chunk that held it
 * (the oldest in flight) when every slot is taken.
 */
static struct gzw_slot *current_slot(struct xg_gzw *g, xg_diag *d, int *rc)
{
    *rc = 0;
    if (g->filled - g->written == g->nr_slots && (*rc = write_oldest(g, d)) < 0)
        return NULL;
    return &g->slots[g->filled % g->nr_slots];
}

static int gzw_append(struct xg_gzw *g, const uint8_t *p, size_t len, xg_diag *d)
{
    while (len) {
        int rc;
        struct gzw_slot *s = current_slot(g, d, &rc);
        if (!s)
            return rc;
        size_t n = XG_GZW_CHUNK - s->in_len;
        if (n > len)
            n = len;
        memcpy(s->in + s->in_len, p, n);
        s->in_len += n;
        p += n;
        len -= n;
        if (s->in_len == XG_GZW_CHUNK)
            queue_current(g);
    }
    return 0;
}

int xg__gzw_writev(struct xg_gzw *g, const struct iovec *iov, unsigned n, xg_diag *d)
{
    if (g->failed || g->finished)
        return xg_diag_err(d, XG_E_IO, NULL, "writing to a compressed image that is %s",
                           g->failed ? "broken" : "finished");
    for (unsigned i = 0; i < n; i++) {
        int rc = gzw_append(g, iov[i].iov_base, iov[i].iov_len, d);
        if (rc < 0)
            return rc;
    }
    return 0;
}

int xg__gzw_finish(struct xg_gzw *g, xg_diag *d)
{
    if (g->failed)
        return xg_diag_err(d, XG_E_IO, NULL, "the compressed image is incomplete");
    if (g->finished)
        return 0;
    g->finished = true;
    /* The last, partial chunk; an empty stream still gets one (empty) member. */
    int rc;
    struct gzw_slot *s = current_slot(g, d, &rc);
    if (!s)
        return rc;
    if (s->in_len > 0 || g->filled == 0)
        queue_current(g);
    while (g->written < g->filled)
        if ((rc = write_oldest(g, d)) < 0)
            return rc;
    return 0;
}

void xg__gzw_close(struct xg_gzw *g)
{
    if (!g)
        return;
    stop_workers(g);
    free_gzw(g);
}

uint64_t xg__gzw_bytes_out(const struct xg_gzw *g)
{
    return g->bytes_out;
}
