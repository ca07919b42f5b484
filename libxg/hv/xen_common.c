/*
 * xen_common.c - the real Xen backend's common ground: the logger the Xen
 * libraries log to, the failure helpers every op reports through, and the
 * xenstore and domain-info helpers more than one op needs.
 *
 * The bottom of the backend: it calls nothing in the other xen*.c files
 * (xen_backend_private.h).
 */
#include "config.h"

#include "hv/xen_private.h"

#ifdef XG_HAVE_XEN

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hv/xen_backend_private.h"

/* ------------------------------------------------------------ logging and failures */

static struct xen_hv *from_logger(xentoollog_logger *l)
{
    return (struct xen_hv *)(void *)((char *)l - offsetof(struct xen_hv, logger));
}

__attribute__((format(printf, 5, 0))) static void log_vmessage(xentoollog_logger *l,
                                                               xentoollog_level level, int errnoval,
                                                               const char *context,
                                                               const char *format, va_list al)
{
    struct xen_hv *x = from_logger(l);
    if (level < XTL_WARN)
        return;
    char msg[sizeof(x->log)];
    vsnprintf(msg, sizeof(msg), format, al);
    size_t n = strlen(msg);
    while (n && (msg[n - 1] == '\n' || msg[n - 1] == ' '))
        msg[--n] = '\0';
    if (errnoval > 0 && !strstr(msg, strerror(errnoval)))
        snprintf(x->log, sizeof(x->log), "%s%s%s: %s", context ? context : "", context ? ": " : "",
                 msg, strerror(errnoval));
    else
        snprintf(x->log, sizeof(x->log), "%s%s%s", context ? context : "", context ? ": " : "",
                 msg);
}

static void log_destroy(xentoollog_logger *l)
{
    /* Ours, and freed with the backend: nothing to do. */
}

void xg__xen_logger_init(struct xen_hv *x)
{
    x->logger.vmessage = log_vmessage;
    x->logger.progress = NULL;
    x->logger.destroy = log_destroy;
}

struct xen_hv *xg__xen_op(xg_hv *hv)
{
    struct xen_hv *x = hv->priv;
    x->log[0] = '\0';
    return x;
}

int xg__xen_fail(struct xen_hv *x, xg_diag *d, int code, int err, const struct xg_loc *loc,
                 const char *file, int line, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = xg_diag_addv(d, XG_SEV_ERROR, code, err, loc, file, line, fmt, ap);
    va_end(ap);
    if (x && x->log[0]) {
        xg_diag_add(d, XG_SEV_NOTE, 0, 0, loc, file, line, "the Xen libraries said: %s", x->log);
        x->log[0] = '\0';
    }
    return rc;
}

int xg__xen_nomem(xg_diag *d, const char *what)
{
    return xg_diag_err(d, XG_E_NOMEM, NULL, "out of memory for %s", what);
}

/* ------------------------------------------------------------ helpers */

struct xs_handle *xg__xen_xs(struct xen_hv *x)
{
    if (!x->xsh)
        x->xsh = xs_open(0);
    return x->xsh;
}

int xg__xen_xs_read_int(struct xen_hv *x, const char *path)
{
    struct xs_handle *h = xg__xen_xs(x);
    if (!h)
        return -1;
    unsigned len = 0;
    char *v = xs_read(h, XBT_NULL, path, &len);
    if (!v)
        return -1;
    char *end;
    errno = 0;
    long n = strtol(v, &end, 10);
    int ok = len && end != v && *end == '\0' && errno == 0 && n >= 0 && n <= 0x7fffffffL;
    free(v);
    return ok ? (int)n : -1;
}

int xg__xen_domain_getinfo(struct xen_hv *x, uint32_t domid, xc_domaininfo_t *di, xg_diag *d)
{
    struct xg_loc l = { XGF_DOMID(domid) };
    int n = xc_domain_getinfolist(x->xch, domid, 1, di);
    if (n < 0)
        return FAIL(x, d, errno, &l,
                    "asking Xen about domain %u failed (XEN_SYSCTL_getdomaininfolist)", domid);
    /* The list starts at domid: another domain, or none, means it does not exist. */
    if (n != 1 || di->domain != domid)
        return xg_diag_syserr(d, XG_E_NOTFOUND, ESRCH, &l, "there is no domain %u on this Xen host",
                              domid);
    return 0;
}

int xg__xen_guest_width(struct xen_hv *x, uint32_t domid, unsigned *width, xg_diag *d)
{
    struct xg_loc l = { XGF_DOMID(domid) };
    if (x->width && x->width_domid == domid) {
        *width = x->width;
        return 0;
    }
    unsigned w = 0;
    /* Returns 1, not -1, on failure, with errno from the domctl. */
    if (xc_domain_get_guest_width(x->xch, domid, &w) != 0)
        return FAIL(x, d, errno, &l,
                    "asking Xen for domain %u's address size failed (XEN_DOMCTL_get_address_size)",
                    domid);
    if (w != 4 && w != 8)
        return xg_diag_err(d, XG_E_HV, &l,
                           "Xen says domain %u is %u bits wide; a PV guest is 32 or 64", domid,
                           w * 8);
    *width = w;
    xg__xen_width_known(x, domid, w);
    return 0;
}

void xg__xen_width_known(struct xen_hv *x, uint32_t domid, unsigned width)
{
    x->width_domid = domid;
    x->width = width == 4 || width == 8 ? width : 0;
}

#endif /* XG_HAVE_XEN */
