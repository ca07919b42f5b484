/*
 * diag.c - findings: collect, cap, render as text.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "xg/diag.h"
#include "xg/pagetype.h"

#define DEFAULT_CAP 200

struct xg_diag {
    struct xg_finding *items;
    size_t nr, alloc;
    size_t cap;      /* per severity */
    size_t total[3]; /* per severity, including dropped */
    size_t kept[3];
    struct xg_finding *last;               /* target of xen_says/hint, NULL if dropped */
    struct xg_finding first_error_dropped; /* when even the first error could not be kept */
    bool has_first_error;
    size_t first_error_index;
};

static const char *const err_names[] = {
    [0] = "XG_OK",
    [-XG_E_NOMEM] = "XG_E_NOMEM",
    [-XG_E_IO] = "XG_E_IO",
    [-XG_E_TRUNCATED] = "XG_E_TRUNCATED",
    [-XG_E_CORRUPT] = "XG_E_CORRUPT",
    [-XG_E_VERSION] = "XG_E_VERSION",
    [-XG_E_UNSUPPORTED] = "XG_E_UNSUPPORTED",
    [-XG_E_HV] = "XG_E_HV",
    [-XG_E_INVAL] = "XG_E_INVAL",
    [-XG_E_GUEST] = "XG_E_GUEST",
    [-XG_E_IMAGE] = "XG_E_IMAGE",
    [-XG_E_CANCELLED] = "XG_E_CANCELLED",
    [-XG_E_BUSY] = "XG_E_BUSY",
    [-XG_E_NOTFOUND] = "XG_E_NOTFOUND",
};

static const char *const err_strs[] = {
    [0] = "success",
    [-XG_E_NOMEM] = "out of memory",
    [-XG_E_IO] = "input/output error",
    [-XG_E_TRUNCATED] = "stream truncated",
    [-XG_E_CORRUPT] = "corrupt stream",
    [-XG_E_VERSION] = "unsupported format version",
    [-XG_E_UNSUPPORTED] = "not supported",
    [-XG_E_HV] = "hypervisor refused the operation",
    [-XG_E_INVAL] = "invalid argument",
    [-XG_E_GUEST] = "guest state cannot be saved",
    [-XG_E_IMAGE] = "image would not restore",
    [-XG_E_CANCELLED] = "cancelled",
    [-XG_E_BUSY] = "busy",
    [-XG_E_NOTFOUND] = "not found",
};

#define NR_ERRS (sizeof(err_names) / sizeof(err_names[0]))

const char *xg_err_name(int code)
{
    if (code > 0 || (size_t)-code >= NR_ERRS || !err_names[-code])
        return "XG_E_UNKNOWN";
    return err_names[-code];
}

const char *xg_err_str(int code)
{
    if (code > 0 || (size_t)-code >= NR_ERRS || !err_strs[-code])
        return "unknown error";
    return err_strs[-code];
}

const char *xg_pfinfo_name(uint32_t type)
{
    /* One row per kind: tables, reserved, pinned tables, special. */
    /* clang-format off */
    static const char *const names[16] = {
        "NOTAB", "L1TAB", "L2TAB", "L3TAB", "L4TAB",
        "reserved(0x5)", "reserved(0x6)", "reserved(0x7)", "reserved(0x8)",
        "L1TAB|LPINTAB", "L2TAB|LPINTAB", "L3TAB|LPINTAB", "L4TAB|LPINTAB",
        "BROKEN", "XALLOC", "XTAB",
    };
    /* clang-format on */
    return names[(type & XG_PFINFO_LTAB_MASK) >> XG_PFINFO_SHIFT];
}

xg_diag *xg_diag_new(void)
{
    xg_diag *d = calloc(1, sizeof(*d));
    if (d)
        d->cap = DEFAULT_CAP;
    return d;
}

static void free_finding(struct xg_finding *f)
{
    free(f->msg);
    free(f->xen_says);
    free(f->hint);
}

void xg_diag_clear(xg_diag *d)
{
    if (!d)
        return;
    for (size_t i = 0; i < d->nr; i++)
        free_finding(&d->items[i]);
    free_finding(&d->first_error_dropped);
    memset(&d->first_error_dropped, 0, sizeof(d->first_error_dropped));
    d->nr = 0;
    memset(d->total, 0, sizeof(d->total));
    memset(d->kept, 0, sizeof(d->kept));
    d->last = NULL;
    d->has_first_error = false;
}

void xg_diag_free(xg_diag *d)
{
    if (!d)
        return;
    xg_diag_clear(d);
    free(d->items);
    free(d);
}

void xg_diag_set_cap(xg_diag *d, size_t max)
{
    if (d)
        d->cap = max ? max : 1;
}

static char *vformat(const char *fmt, va_list ap)
{
    char *s = NULL;
    if (vasprintf(&s, fmt, ap) < 0)
        return NULL;
    return s;
}

int xg_diag_addv(xg_diag *d, enum xg_severity sev, int code, int sys_errno,
                 const struct xg_loc *loc, const char *file, int line, const char *fmt, va_list ap)
{
    if (!d)
        return code;
    if (sev > XG_SEV_ERROR)
        sev = XG_SEV_ERROR;
    d->total[sev]++;
    d->last = NULL;

    struct xg_finding f = {
        .sev = sev,
        .code = code,
        .sys_errno = sys_errno,
        .src_file = file,
        .src_line = line,
    };
    if (loc)
        f.loc = *loc;

    bool first_error = sev == XG_SEV_ERROR && !d->has_first_error;
    bool keep = d->kept[sev] < d->cap;
    if (!keep && !first_error)
        return code;

    f.msg = vformat(fmt, ap);

    if (keep && d->nr == d->alloc) {
        size_t n = d->alloc ? d->alloc * 2 : 16;
        struct xg_finding *p = realloc(d->items, n * sizeof(*p));
        if (p) {
            d->items = p;
            d->alloc = n;
        } else {
            keep = false;
        }
    }
    if (keep) {
        d->items[d->nr] = f;
        d->last = &d->items[d->nr];
        if (first_error) {
            d->has_first_error = true;
            d->first_error_index = d->nr;
        }
        d->nr++;
        d->kept[sev]++;
    } else if (first_error) {
        /* Keep the first error whatever happens: it is what callers print. */
        d->first_error_dropped = f;
        d->has_first_error = true;
        d->first_error_index = (size_t)-1;
        d->last = &d->first_error_dropped;
    } else {
        free_finding(&f);
    }
    return code;
}

int xg_diag_add(xg_diag *d, enum xg_severity sev, int code, int sys_errno, const struct xg_loc *loc,
                const char *file, int line, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int r = xg_diag_addv(d, sev, code, sys_errno, loc, file, line, fmt, ap);
    va_end(ap);
    return r;
}

void xg_diag_xen_says(xg_diag *d, const char *fmt, ...)
{
    if (!d || !d->last)
        return;
    va_list ap;
    va_start(ap, fmt);
    free(d->last->xen_says);
    d->last->xen_says = vformat(fmt, ap);
    va_end(ap);
}

void xg_diag_hint(xg_diag *d, const char *fmt, ...)
{
    if (!d || !d->last)
        return;
    va_list ap;
    va_start(ap, fmt);
    free(d->last->hint);
    d->last->hint = vformat(fmt, ap);
    va_end(ap);
}

size_t xg_diag_count(const xg_diag *d)
{
    return d ? d->nr : 0;
}

const struct xg_finding *xg_diag_get(const xg_diag *d, size_t i)
{
    return d && i < d->nr ? &d->items[i] : NULL;
}

size_t xg_diag_total(const xg_diag *d, enum xg_severity sev)
{
    return d && sev <= XG_SEV_ERROR ? d->total[sev] : 0;
}

const struct xg_finding *xg_diag_first_error(const xg_diag *d)
{
    if (!d || !d->has_first_error)
        return NULL;
    if (d->first_error_index == (size_t)-1)
        return &d->first_error_dropped;
    return &d->items[d->first_error_index];
}

int xg_diag_code(const xg_diag *d)
{
    const struct xg_finding *f = xg_diag_first_error(d);
    return f ? f->code : 0;
}

/* snprintf into buf at *pos, never past len, always NUL-terminated. */
static void append(char *buf, size_t len, size_t *pos, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void append(char *buf, size_t len, size_t *pos, const char *fmt, ...)
{
    if (*pos >= len)
        return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf + *pos, len - *pos, fmt, ap);
    va_end(ap);
    if (n > 0)
        *pos += (size_t)n;
    if (*pos >= len)
        *pos = len - 1;
}

size_t xg_loc_format(char *buf, size_t len, const struct xg_loc *l)
{
    size_t pos = 0;
    if (!len)
        return 0;
    buf[0] = '\0';
    if (!l)
        return 0;
#define SEP (pos ? ", " : "")
    if (l->has_domid)
        append(buf, len, &pos, "%sdomain %u", SEP, l->domid);
    if (l->has_vcpu)
        append(buf, len, &pos, "%svcpu%u", SEP, l->vcpu);
    if (l->has_rec_index)
        append(buf, len, &pos, "%srecord %llu", SEP, (unsigned long long)l->rec_index);
    if (l->has_rec_type)
        append(buf, len, &pos, "%stype %#x", SEP, l->rec_type);
    if (l->has_offset)
        append(buf, len, &pos, "%soffset %llu", SEP, (unsigned long long)l->offset);
    if (l->field)
        append(buf, len, &pos, "%sfield %s", SEP, l->field);
    if (l->has_found)
        append(buf, len, &pos, "%sfound %#llx", SEP, (unsigned long long)l->found);
    if (l->has_expected)
        append(buf, len, &pos, "%sexpected %#llx", SEP, (unsigned long long)l->expected);
    if (l->has_pfn)
        append(buf, len, &pos, "%spfn %#llx", SEP, (unsigned long long)l->pfn);
    if (l->has_mfn)
        append(buf, len, &pos, "%smfn %#llx", SEP, (unsigned long long)l->mfn);
    if (l->has_owner)
        append(buf, len, &pos, "%sowner d%u", SEP, l->owner);
    if (l->has_level)
        append(buf, len, &pos, "%sL%u", SEP, l->level);
    if (l->has_slot)
        append(buf, len, &pos, "%sslot %u", SEP, l->slot);
    if (l->has_entry)
        append(buf, len, &pos, "%sentry %#018llx", SEP, (unsigned long long)l->entry);
    if (l->has_ref_pfn)
        append(buf, len, &pos, "%sreferences pfn %#llx", SEP, (unsigned long long)l->ref_pfn);
    if (l->has_ref_type)
        append(buf, len, &pos, "%s(type %s)", pos ? " " : "", xg_pfinfo_name(l->ref_type));
#undef SEP
    return pos;
}

static const char *sev_name(enum xg_severity s)
{
    switch (s) {
    case XG_SEV_ERROR:
        return "error";
    case XG_SEV_WARNING:
        return "warning";
    default:
        return "note";
    }
}

void xg_diag_print_finding(FILE *out, const struct xg_finding *f, bool verbose)
{
    char ctx[512];
    xg_loc_format(ctx, sizeof(ctx), &f->loc);
    fprintf(out, "%s: %s", sev_name(f->sev),
            f->msg ? f->msg : "(out of memory formatting message)");
    if (ctx[0])
        fprintf(out, " [%s]", ctx);
    if (f->sys_errno)
        fprintf(out, ": %s", strerror(f->sys_errno));
    fputc('\n', out);
    if (f->xen_says)
        fprintf(out, "  Xen would log: %s\n", f->xen_says);
    if (f->hint)
        fprintf(out, "  hint: %s\n", f->hint);
    if (verbose)
        fprintf(out, "  (%s, reported at %s:%d)\n", xg_err_name(f->code),
                f->src_file ? f->src_file : "?", f->src_line);
}

void xg_diag_print(FILE *out, const xg_diag *d, bool verbose)
{
    if (!d)
        return;
    for (size_t i = 0; i < d->nr; i++)
        xg_diag_print_finding(out, &d->items[i], verbose);
    if (d->first_error_index == (size_t)-1 && d->has_first_error)
        xg_diag_print_finding(out, &d->first_error_dropped, verbose);
    size_t shown = d->nr, all = d->total[0] + d->total[1] + d->total[2];
    if (all > shown)
        fprintf(out, "%zu errors, %zu warnings (%zu more not shown)\n", d->total[XG_SEV_ERROR],
                d->total[XG_SEV_WARNING], all - shown);
}
