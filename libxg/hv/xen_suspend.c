/*
 * xen_suspend.c - the real Xen backend's suspend and resume: a PV guest
 * asked to suspend as libxl asks it (its suspend event channel when it
 * has one, else control/shutdown in xenstore), waited for until it has
 * made the suspend hypercall, and the cooperative resume of
 * libxenguest's xg_resume.c.
 */
#include "config.h"

#include "hv/xen_private.h"

#ifdef XG_HAVE_XEN

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "hv/xen_backend_private.h"

/* libxenguest's lock file, so that it and we exclude each other. */
#define SUSPEND_LOCK "/var/run/xen/suspend-evtchn-%u.lock"

static void sleep_ms(unsigned ms)
{
    struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L };
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

/*
 * The lock libxenguest takes around a domain's suspend event channel
 * (xg_suspend.c lock_suspend_event), same file and protocol, so that xg
 * and a libxl of the same host never bind it together.
 */
static int lock_suspend_channel(uint32_t domid, int *out, char *path, size_t pathlen)
{
    snprintf(path, pathlen, SUSPEND_LOCK, domid);
    for (;;) {
        int fd = open(path, O_CREAT | O_RDWR | O_CLOEXEC, 0600);
        if (fd < 0)
            return -1;
        struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_len = 1 };
        struct stat ours, theirs;
        if (fcntl(fd, F_SETLK, &fl) < 0 || fstat(fd, &ours) < 0) {
            int e = errno;
            close(fd);
            errno = e;
            return -1;
        }
        if (stat(path, &theirs) < 0) {
            int e = errno;
            close(fd);
            if (e == ENOENT)
                continue; /* removed by its holder while we locked it */
            errno = e;
            return -1;
        }
        if (ours.st_ino != theirs.st_ino) {
            close(fd);
            continue;
        }
        *out = fd;
        return 0;
    }
}

static void unlock_suspend_channel(int fd, const char *path)
{
    if (fd < 0)
        return;
    unlink(path);
    close(fd);
}

/*
 * Wait for an event on our end of the suspend channel, until `until`
 * (xg__now() seconds).  1: it fired; 0: time is up; -1: error (errno).
 */
static int wait_channel(struct xen_hv *x, int local, double until)
{
    int fd = xenevtchn_fd(x->xce);
    for (;;) {
        double left = until - xg__now();
        if (left <= 0)
            return 0;
        struct pollfd p = { .fd = fd, .events = POLLIN };
        int r = poll(&p, 1, left > 1.0 ? 1000 : (int)(left * 1000) + 1);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return -1;
        if (r == 0)
            continue; /* the loop's head decides whether time is up */
        xenevtchn_port_or_error_t port = xenevtchn_pending(x->xce);
        if (port < 0)
            return -1;
        xenevtchn_unmask(x->xce, (evtchn_port_t)port);
        if (port == local)
            return 1;
    }
}

/*
 * Until `until`, poll the domain's state: 0 once it has shut down for
 * suspend, an error finding when it shuts down otherwise or disappears,
 * 1 when time is up.  `wake` (when >= 0) is our end of the suspend
 * channel, which Xen notifies when the guest suspends.
 */
static int wait_suspended(struct xen_hv *x, uint32_t domid, double until, int wake, xg_diag *d)
{
    struct xg_loc l = { XGF_DOMID(domid) };
    unsigned nap = 1;
    for (;;) {
        xc_domaininfo_t di;
        int rc = xg__xen_domain_getinfo(x, domid, &di, d);
        if (rc < 0)
            return rc;
        if (xg__xen_di_suspended(&di))
            return 0;
        if (di.flags & XEN_DOMINF_shutdown)
            return xg_diag_err(d, XG_E_GUEST, &l,
                               "domain %u shut down with reason %u instead of suspending", domid,
                               xg__xen_di_reason(&di));
        if (di.flags & XEN_DOMINF_dying)
            return xg_diag_err(d, XG_E_GUEST, &l,
                               "domain %u is being destroyed instead of suspending", domid);
        double now = xg__now();
        if (now >= until)
            return 1;
        if (wake >= 0) {
            /* Re-check at least every 100 ms, in case a notification is lost. */
            if (wait_channel(x, wake, XG_MIN(until, now + 0.1)) < 0)
                return FAIL(x, d, errno, &l, "waiting on domain %u's suspend event channel failed",
                            domid);
        } else {
            sleep_ms(nap);
            nap = XG_MIN(nap * 2, 50U);
        }
    }
}

/*
 * libxl's domain_suspend_pvcontrol_acked: anything but "suspend", absence
 * included, is an answer.
 */
static int read_ack(struct xs_handle *h, xs_transaction_t t, const char *path, bool *acked)
{
    unsigned len = 0;
    char *v = xs_read(h, t, path, &len);
    if (!v) {
        if (errno != ENOENT)
            return -1;
        *acked = true;
        return 0;
    }
    *acked = !(len == 7 && memcmp(v, "suspend", 7) == 0);
    free(v);
    return 0;
}

/* The guest's suspend event channel (device/suspend/event-channel), as libxl uses it. */
static int suspend_by_channel(struct xen_hv *x, uint32_t domid, int port, unsigned timeout_ms,
                              xg_diag *d)
{
    struct xg_loc l = { XGF_DOMID(domid) };
    char lockpath[80];
    int lockfd = -1, local = -1, rc;
    if (lock_suspend_channel(domid, &lockfd, lockpath, sizeof(lockpath)) < 0) {
        int e = errno;
        if (e == EAGAIN || e == EACCES)
            return xg_diag_syserr(d, XG_E_BUSY, e, &l,
                                  "another toolstack process holds %s: "
                                  "it is suspending domain %u already",
                                  lockpath, domid);
        return xg_diag_syserr(d, XG_E_IO, e, &l, "cannot create the suspend lock %s for domain %u",
                              lockpath, domid);
    }
    if (!x->xce && !(x->xce = xenevtchn_open(&x->logger, 0))) {
        rc = FAIL(x, d, errno, &l, "opening the event channel device to suspend domain %u failed",
                  domid);
        goto out;
    }
    local = xenevtchn_bind_interdomain(x->xce, domid, (evtchn_port_t)port);
    if (local < 0) {
        rc = FAIL(x, d, errno, &l, "binding domain %u's suspend event channel (port %d) failed",
                  domid, port);
        goto out;
    }
    /* Xen notifies the guest's port when the guest has suspended (XEN_DOMCTL_subscribe). */
    if (xc_domain_subscribe_for_suspend(x->xch, domid, (evtchn_port_t)port) < 0) {
        rc = FAIL(x, d, errno, &l,
                  "subscribing to domain %u's suspend on port %d failed (XEN_DOMCTL_subscribe)",
                  domid, port);
        goto out;
    }
    /*
     * A newly bound channel starts pending (xc_suspend_evtchn_init_exclusive):
     * consume that first.
     */
    double until = xg__now() + timeout_ms / 1000.0;
    if (wait_channel(x, local, XG_MIN(until, xg__now() + 1.0)) < 0) {
        rc = FAIL(x, d, errno, &l, "waiting on domain %u's suspend event channel failed", domid);
        goto out;
    }
    if (xenevtchn_notify(x->xce, (evtchn_port_t)local) < 0) {
        rc = FAIL(x, d, errno, &l, "notifying domain %u's suspend event channel (port %d) failed",
                  domid, port);
        goto out;
    }
    rc = wait_suspended(x, domid, until, local, d);
    if (rc == 1) {
        rc = xg_diag_syserr(
            d, XG_E_HV, ETIMEDOUT, &l,
            "domain %u did not suspend within %u ms of the request on its suspend event channel "
            "(port %d); it was left running",
            domid, timeout_ms, port);
        xg_diag_hint(d, "the guest kernel did not answer; its console may say why "
                        "(a driver refusing to suspend)");
    }
out:
    if (local >= 0)
        xenevtchn_unbind(x->xce, (evtchn_port_t)local);
    unlock_suspend_channel(lockfd, lockpath);
    return rc;
}

/*
 * control/shutdown = "suspend", as libxl's domain_suspend_callback_common
 * does without a channel.
 */
static int suspend_by_xenstore(struct xen_hv *x, uint32_t domid, unsigned timeout_ms, xg_diag *d)
{
    struct xg_loc l = { XGF_DOMID(domid) };
    struct xs_handle *h = xg__xen_xs(x);
    if (!h)
        return FAIL(x, d, errno, &l,
                    "cannot reach xenstore to ask domain %u to suspend (is xenstored running?)",
                    domid);
    char path[80];
    snprintf(path, sizeof(path), "/local/domain/%u/control/shutdown", domid);
    if (!xs_write(h, XBT_NULL, path, "suspend", 7))
        return FAIL(x, d, errno, &l, "writing \"suspend\" to %s failed (xenstore)", path);

    /* The guest acknowledges by changing or removing the node, before it suspends. */
    double until = xg__now() + timeout_ms / 1000.0;
    unsigned nap = 1;
    for (;;) {
        bool acked = false;
        if (read_ack(h, XBT_NULL, path, &acked) < 0)
            return FAIL(x, d, errno, &l, "reading %s failed (xenstore)", path);
        if (acked)
            break;
        if (xg__now() >= until) {
            /*
             * Cancel, in a transaction so that a last-minute answer wins
             * (libxl's domain_suspend_common_pvcontrol_suspending).  The
             * guest is not resumed: it never made the suspend hypercall.
             */
            for (;;) {
                xs_transaction_t t = xs_transaction_start(h);
                if (t == XBT_NULL)
                    return FAIL(x, d, errno, &l,
                                "starting a xenstore transaction to cancel "
                                "domain %u's suspend failed",
                                domid);
                if (read_ack(h, t, path, &acked) < 0) {
                    int e = errno;
                    xs_transaction_end(h, t, true);
                    return FAIL(x, d, e, &l, "reading %s failed (xenstore)", path);
                }
                if (acked) {
                    xs_transaction_end(h, t, true);
                    break;
                }
                if (!xs_write(h, t, path, "", 0)) {
                    int e = errno;
                    xs_transaction_end(h, t, true);
                    return FAIL(x, d, e, &l, "clearing %s to cancel the suspend request failed",
                                path);
                }
                if (xs_transaction_end(h, t, false)) {
                    int rc = xg_diag_syserr(
                        d, XG_E_HV, ETIMEDOUT, &l,
                        "domain %u did not acknowledge the suspend request within %u ms (%s still "
                        "\"suspend\"); the request was cancelled and the guest left running",
                        domid, timeout_ms, path);
                    xg_diag_hint(
                        d,
                        "the guest has no xenbus control driver, or it is hung; the guest was not "
                        "resumed because it never made the suspend hypercall");
                    return rc;
                }
                if (errno != EAGAIN)
                    return FAIL(x, d, errno, &l,
                                "committing the cancellation of domain %u's suspend failed", domid);
            }
            if (acked)
                break;
        }
        /* It may also have suspended already without our seeing the node change. */
        xc_domaininfo_t di;
        int rc = xg__xen_domain_getinfo(x, domid, &di, d);
        if (rc < 0)
            return rc;
        if (xg__xen_di_suspended(&di))
            return 0;
        sleep_ms(nap);
        nap = XG_MIN(nap * 2, 50U);
    }

    /*
     * Acknowledged: now the suspend itself, with a fresh allowance as libxl
     * gives (a 60 s timer each).
     */
    int rc = wait_suspended(x, domid, xg__now() + timeout_ms / 1000.0, -1, d);
    if (rc == 1) {
        rc = xg_diag_syserr(
            d, XG_E_HV, ETIMEDOUT, &l,
            "domain %u acknowledged the suspend request but did not suspend within %u ms; "
            "it was left as it is",
            domid, timeout_ms);
        xg_diag_hint(d,
                     "the guest kernel is stuck suspending its devices; its console may say why");
    }
    return rc;
}

int xg__xen_suspend(xg_hv *hv, uint32_t domid, unsigned timeout_ms, xg_diag *d)
{
    struct xen_hv *x = xg__xen_op(hv);
    struct xg_loc l = { XGF_DOMID(domid) };
    xc_domaininfo_t di;
    int rc = xg__xen_domain_getinfo(x, domid, &di, d);
    if (rc < 0)
        return rc;
    if (xg__xen_di_suspended(&di))
        return 0;
    if (di.flags & XEN_DOMINF_hvm_guest)
        return xg_diag_err(d, XG_E_UNSUPPORTED, &l,
                           "domain %u is an HVM guest; xg suspends PV guests only", domid);
    if (di.flags & (XEN_DOMINF_shutdown | XEN_DOMINF_dying))
        return xg_diag_err(d, XG_E_GUEST, &l,
                           "domain %u has shut down (reason %u) or is dying: it cannot suspend",
                           domid, xg__xen_di_reason(&di));
    if (di.flags & XEN_DOMINF_paused)
        return xg_diag_syserr(d, XG_E_HV, EBUSY, &l,
                              "domain %u is paused: a paused guest cannot answer a suspend request "
                              "(unpause it first)",
                              domid);
    char path[80];
    snprintf(path, sizeof(path), "/local/domain/%u/device/suspend/event-channel", domid);
    int port = xg__xen_xs_read_int(x, path);
    if (port >= 0)
        return suspend_by_channel(x, domid, port, timeout_ms, d);
    return suspend_by_xenstore(x, domid, timeout_ms, d);
}

/*
 * xc_domain_resume(xch, domid, 1), the cooperative ("fast") resume of
 * libxenguest's xg_resume.c: vcpu0's hypercall return value becomes 1
 * (the suspend was cancelled, the guest keeps its devices), then
 * XEN_DOMCTL_resumedomain.  Only for a guest that suspended itself.
 */
int xg__xen_resume(xg_hv *hv, uint32_t domid, xg_diag *d)
{
    struct xen_hv *x = xg__xen_op(hv);
    struct xg_loc l = { XGF_DOMID(domid) };
    xc_domaininfo_t di;
    int rc = xg__xen_domain_getinfo(x, domid, &di, d);
    if (rc < 0)
        return rc;
    if (!xg__xen_di_suspended(&di))
        return xg_diag_syserr(
            d, XG_E_HV, EINVAL, &l,
            "domain %u has not suspended itself (shutdown %d, reason %u): it is not resumed, "
            "since only a guest that made the suspend hypercall can be",
            domid, !!(di.flags & XEN_DOMINF_shutdown), xg__xen_di_reason(&di));
    unsigned w;
    if ((rc = xg__xen_guest_width(x, domid, &w, d)) < 0)
        return rc;
    vcpu_guest_context_any_t ctx;
    memset(&ctx, 0, sizeof(ctx));
    struct xg_loc vl = { XGF_DOMID(domid), XGF_VCPU(0) };
    if (xc_vcpu_getcontext(x->xch, domid, 0, &ctx) < 0)
        return FAIL(x, d, errno, &vl,
                    "getting vcpu0's context of domain %u to resume it failed "
                    "(XEN_DOMCTL_getvcpucontext)",
                    domid);
    if (w == 8)
        ctx.x64.user_regs.rax = 1;
    else
        ctx.x32.user_regs.eax = 1;
    if (xc_vcpu_setcontext(x->xch, domid, 0, &ctx) < 0)
        return FAIL(x, d, errno, &vl,
                    "setting vcpu0's suspend return value to 1 in domain %u failed "
                    "(XEN_DOMCTL_setvcpucontext)",
                    domid);
    struct xen_domctl domctl = { .cmd = XEN_DOMCTL_resumedomain, .domain = (domid_t)domid };
    if (xc_domctl(x->xch, &domctl) < 0)
        return FAIL(x, d, errno, &l, "resuming domain %u failed (XEN_DOMCTL_resumedomain)", domid);
    return 0;
}

#endif /* XG_HAVE_XEN */
