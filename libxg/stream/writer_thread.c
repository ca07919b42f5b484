/*
 * writer_thread.c - the stream writer's own thread (xg_stream_writer_opts.async).
 *
 * Why: a save through a pipe otherwise maps, types and normalises one
 * batch and then waits in writev() while the reader drains that batch's
 * record, one after the other.  With this thread the caller prepares the
 * next batch while the previous record is written, so the save is bound
 * by the pipe rather than by the sum of both (bench/README.md).
 *
 * A record is queued as a gather list.  Its pieces before `ref_first` are
 * copied into the job (the record header, small bodies, PAGE_DATA's pfn
 * list); the pieces from `ref_first` on (page contents) are referenced and
 * must stay valid and unchanged until xg__wq_wait() has covered the job.
 * At most WQ_DEPTH jobs wait; the caller blocks when the queue is full.
 *
 * The thread touches only the fd and the queue.  When a write fails it
 * records errno with the job's offset and record index, and from then on
 * discards what is queued without writing it (every job still counts as
 * done, so a caller waiting to unmap its pages never hangs on a dead
 * thread).  The caller's thread reports the failure in its own xg_diag.
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "stream/stream_private.h"

#define WQ_DEPTH 4U

struct wq_job {
    uint8_t *copy; /* the copied pieces, back to back */
    size_t copy_cap;
    struct iovec *iov;
    unsigned iov_cap, n;
    struct xg__wq_failure where; /* offset and record of this job (err unused) */
};

struct xg__wq {
    int fd;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t queued_cv;     /* a job was queued, or stopping */
    pthread_cond_t done_cv;       /* a job was written or discarded */
    struct wq_job jobs[WQ_DEPTH]; /* job number j lives in jobs[j % WQ_DEPTH] */
    uint64_t queued, done;
    bool stopping;
    bool failed;
    struct xg__wq_failure failure;
};

static void *wq_main(void *arg)
{
    struct xg__wq *q = arg;
    pthread_mutex_lock(&q->lock);
    for (;;) {
        while (q->done == q->queued && !q->stopping)
            pthread_cond_wait(&q->queued_cv, &q->lock);
        if (q->done == q->queued)
            break; /* stopping, nothing left */
        struct wq_job *j = &q->jobs[q->done % WQ_DEPTH];
        bool skip = q->failed || q->stopping;
        pthread_mutex_unlock(&q->lock);
        int err = 0;
        if (!skip && xg__writev_full(q->fd, j->iov, j->n) < 0)
            err = errno;
        pthread_mutex_lock(&q->lock);
        if (err && !q->failed) {
            q->failed = true;
            q->failure = j->where;
            q->failure.err = err;
        }
        q->done++;
        pthread_cond_broadcast(&q->done_cv);
    }
    pthread_mutex_unlock(&q->lock);
    return NULL;
}

int xg__wq_open(int fd, struct xg__wq **out)
{
    *out = NULL;
    struct xg__wq *q = calloc(1, sizeof(*q));
    if (!q)
        return ENOMEM;
    q->fd = fd;
    int e = pthread_mutex_init(&q->lock, NULL);
    if (e) {
        free(q);
        return e;
    }
    if ((e = pthread_cond_init(&q->queued_cv, NULL)) != 0)
        goto no_queued_cv;
    if ((e = pthread_cond_init(&q->done_cv, NULL)) != 0)
        goto no_done_cv;
    if ((e = pthread_create(&q->thread, NULL, wq_main, q)) != 0)
        goto no_thread;
    *out = q;
    return 0;
no_thread:
    pthread_cond_destroy(&q->done_cv);
no_done_cv:
    pthread_cond_destroy(&q->queued_cv);
no_queued_cv:
    pthread_mutex_destroy(&q->lock);
    free(q);
    return e;
}

/* Fill job j from iov (no lock needed: the thread does not look at a job before it is queued). */
static int fill_job(struct wq_job *j, const struct iovec *iov, unsigned n, unsigned ref_first)
{
    size_t copied = 0;
    for (unsigned i = 0; i < n && i < ref_first; i++)
        copied += iov[i].iov_len;
    if (copied > j->copy_cap) {
        uint8_t *p = realloc(j->copy, copied);
        if (!p)
            return XG_E_NOMEM;
        j->copy = p;
        j->copy_cap = copied;
    }
    if (n > j->iov_cap) {
        struct iovec *p = realloc(j->iov, n * sizeof(*p));
        if (!p)
            return XG_E_NOMEM;
        j->iov = p;
        j->iov_cap = n;
    }
    size_t at = 0;
    for (unsigned i = 0; i < n; i++) {
        if (i < ref_first) {
            if (iov[i].iov_len)
                memcpy(j->copy + at, iov[i].iov_base, iov[i].iov_len);
            j->iov[i] = (struct iovec){ j->copy + at, iov[i].iov_len };
            at += iov[i].iov_len;
        } else {
            j->iov[i] = iov[i];
        }
    }
    j->n = n;
    return 0;
}

int xg__wq_put(struct xg__wq *q, const struct iovec *iov, unsigned n, unsigned ref_first,
               const struct xg__wq_failure *where)
{
    pthread_mutex_lock(&q->lock);
    while (!q->failed && q->queued - q->done >= WQ_DEPTH)
        pthread_cond_wait(&q->done_cv, &q->lock);
    bool failed = q->failed;
    uint64_t slot = q->queued;
    pthread_mutex_unlock(&q->lock);
    if (failed)
        return XG_E_IO;
    struct wq_job *j = &q->jobs[slot % WQ_DEPTH];
    int rc = fill_job(j, iov, n, ref_first);
    if (rc < 0)
        return rc;
    j->where = *where;
    pthread_mutex_lock(&q->lock);
    q->queued++;
    pthread_cond_signal(&q->queued_cv);
    pthread_mutex_unlock(&q->lock);
    return 0;
}

uint64_t xg__wq_queued(const struct xg__wq *q)
{
    return q->queued; /* written by the caller's thread only */
}

int xg__wq_wait(struct xg__wq *q, uint64_t nr)
{
    pthread_mutex_lock(&q->lock);
    while (q->done < nr)
        pthread_cond_wait(&q->done_cv, &q->lock);
    bool failed = q->failed;
    pthread_mutex_unlock(&q->lock);
    return failed ? XG_E_IO : 0;
}

bool xg__wq_failed(struct xg__wq *q, struct xg__wq_failure *f)
{
    pthread_mutex_lock(&q->lock);
    bool failed = q->failed;
    if (failed && f)
        *f = q->failure;
    pthread_mutex_unlock(&q->lock);
    return failed;
}

void xg__wq_close(struct xg__wq *q)
{
    if (!q)
        return;
    pthread_mutex_lock(&q->lock);
    q->stopping = true;
    pthread_cond_signal(&q->queued_cv);
    pthread_mutex_unlock(&q->lock);
    pthread_join(q->thread, NULL);
    for (unsigned i = 0; i < WQ_DEPTH; i++) {
        free(q->jobs[i].copy);
        free(q->jobs[i].iov);
    }
    pthread_cond_destroy(&q->done_cv);
    pthread_cond_destroy(&q->queued_cv);
    pthread_mutex_destroy(&q->lock);
    free(q);
}
