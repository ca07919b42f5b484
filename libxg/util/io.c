/*
 * io.c - whole reads and writes that survive EINTR and short transfers.
 */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

ssize_t xg__read_full(int fd, void *buf, size_t len)
{
    size_t done = 0;
    while (done < len) {
        ssize_t n = read(fd, (char *)buf + done, len - done);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        if (n == 0)
            break;
        done += (size_t)n;
    }
    return (ssize_t)done;
}

int xg__write_full(int fd, const void *buf, size_t len)
{
    struct iovec iov = { .iov_base = (void *)buf, .iov_len = len };
    return xg__writev_full(fd, &iov, 1);
}

int xg__writev_full(int fd, const struct iovec *iov, unsigned n)
{
    /* A private window of at most IOV_MAX entries, advanced on short writes. */
    struct iovec win[IOV_MAX];
    unsigned next = 0; /* first entry of iov[] not yet in the window */
    unsigned wn = 0;   /* entries in the window */
    unsigned wstart = 0;

    while (next < n || wn > wstart) {
        /* Refill the window. */
        if (wstart == wn) {
            wstart = wn = 0;
            while (next < n && wn < IOV_MAX) {
                if (iov[next].iov_len)
                    win[wn++] = iov[next];
                next++;
            }
            if (wn == 0)
                break;
        }
        ssize_t w = writev(fd, win + wstart, (int)(wn - wstart));
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        if (w == 0) {
            errno = EIO;
            return -1;
        }
        size_t left = (size_t)w;
        while (left && wstart < wn) {
            if (left >= win[wstart].iov_len) {
                left -= win[wstart].iov_len;
                wstart++;
            } else {
                win[wstart].iov_base = (char *)win[wstart].iov_base + left;
                win[wstart].iov_len -= left;
                left = 0;
            }
        }
    }
    return 0;
}

double xg__now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}
