/*
 * xg/diag.h - the one error model of libxg.
 *
 * Every libxg function that can fail returns 0 on success or a negative
 * XG_E_* code, and records *why* in an xg_diag that the caller owns.  The
 * record is filled once, at the lowest level that knows the facts (the
 * stream reader knows the record index and byte offset, the page-table
 * validator knows the pfn, level, slot and entry); callers propagate the
 * code and never overwrite the record.
 *
 * An xg_diag holds an ordered list of findings.  A finding is an error, a
 * warning or a note, with a message, optional "what Xen would log" and
 * "hint" lines, and structured context fields (domid, pfn, mfn, level,
 * slot, entry, record, offset, found/expected ...) so tools can render
 * text for people or XML for machines.  The list is capped (the total
 * count per severity is always kept), because a broken image can have
 * millions of bad entries and nobody reads past the first hundred.
 *
 * An xg_diag is not thread-safe and not shared: one per operation.  Two
 * saves in one process use two of them.
 */
#ifndef XG_DIAG_H
#define XG_DIAG_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Return codes.  0 is success; every failure is one of these. */
enum xg_err {
    XG_OK = 0,
    XG_E_NOMEM = -1,       /* out of memory */
    XG_E_IO = -2,          /* read/write/system call failed (errno kept) */
    XG_E_TRUNCATED = -3,   /* stream ended in the middle of something */
    XG_E_CORRUPT = -4,     /* stream data breaks the format */
    XG_E_VERSION = -5,     /* a format/version we do not handle */
    XG_E_UNSUPPORTED = -6, /* valid, but not something xg does (HVM...) */
    XG_E_HV = -7,          /* the hypervisor refused an operation */
    XG_E_INVAL = -8,       /* bad argument from the caller */
    XG_E_GUEST = -9,       /* the guest's state cannot be saved */
    XG_E_IMAGE = -10,      /* the image would not restore (validation) */
    XG_E_CANCELLED = -11,  /* a callback asked to stop */
    XG_E_BUSY = -12,       /* resource in use (lock, domain state) */
    XG_E_NOTFOUND = -13,   /* no such domain, file, backend... */
};

/* Name of a code ("XG_E_CORRUPT"), never NULL. */
const char *xg_err_name(int code);
/* Short description of a code ("corrupt stream"), never NULL. */
const char *xg_err_str(int code);

enum xg_severity {
    XG_SEV_NOTE = 0,
    XG_SEV_WARNING = 1,
    XG_SEV_ERROR = 2,
};

/*
 * Context of a finding.  Each field has a has_ flag, because 0 is a
 * perfectly good pfn.  Build one with designated initialisers and the
 * XGF_* helpers, e.g.  (struct xg_loc){ XGF_PFN(pfn), XGF_LEVEL(2) }.
 */
struct xg_loc {
    unsigned has_domid : 1, has_pfn : 1, has_mfn : 1, has_level : 1, has_slot : 1, has_entry : 1,
        has_ref_pfn : 1, has_ref_type : 1, has_vcpu : 1, has_rec_index : 1, has_rec_type : 1,
        has_offset : 1, has_found : 1, has_expected : 1, has_owner : 1;
    uint32_t domid;
    uint64_t pfn; /* the page the finding is about */
    uint64_t mfn;
    unsigned level;    /* page-table level of that page (1..4) */
    unsigned slot;     /* entry index within the page */
    uint64_t entry;    /* raw entry */
    uint64_t ref_pfn;  /* the page that entry references */
    uint32_t ref_type; /* XEN_DOMCTL_PFINFO_* type of ref_pfn, as recorded */
    unsigned vcpu;
    uint64_t rec_index; /* record number in the stream, 0-based */
    uint32_t rec_type;
    uint64_t offset; /* byte offset in the stream */
    uint64_t found, expected;
    uint32_t owner;    /* owning domain of a frame */
    const char *field; /* name of a field (static string) */
};

#define XGF_DOMID(v) .has_domid = 1, .domid = (v)
#define XGF_PFN(v) .has_pfn = 1, .pfn = (v)
#define XGF_MFN(v) .has_mfn = 1, .mfn = (v)
#define XGF_LEVEL(v) .has_level = 1, .level = (v)
#define XGF_SLOT(v) .has_slot = 1, .slot = (v)
#define XGF_ENTRY(v) .has_entry = 1, .entry = (v)
#define XGF_REF_PFN(v) .has_ref_pfn = 1, .ref_pfn = (v)
#define XGF_REF_TYPE(v) .has_ref_type = 1, .ref_type = (v)
#define XGF_VCPU(v) .has_vcpu = 1, .vcpu = (v)
#define XGF_REC(idx, type) \
    .has_rec_index = 1, .rec_index = (idx), .has_rec_type = 1, .rec_type = (type)
#define XGF_OFFSET(v) .has_offset = 1, .offset = (v)
#define XGF_FOUND(v) .has_found = 1, .found = (v)
#define XGF_EXPECTED(v) .has_expected = 1, .expected = (v)
#define XGF_OWNER(v) .has_owner = 1, .owner = (v)
#define XGF_FIELD(v) .field = (v)

struct xg_finding {
    enum xg_severity sev;
    int code;      /* XG_E_* (0 for notes) */
    int sys_errno; /* errno at the time, when relevant, else 0 */
    const char *src_file;
    int src_line;
    char *msg;      /* one line, no trailing newline */
    char *xen_says; /* what Xen logs (or would log) for this, or NULL */
    char *hint;     /* likely cause / what to do, or NULL */
    struct xg_loc loc;
};

typedef struct xg_diag xg_diag;

/* Create an empty diagnostic list.  Returns NULL when out of memory. */
xg_diag *xg_diag_new(void);
/* Free it and every finding (NULL is fine). */
void xg_diag_free(xg_diag *d);
/* Drop every finding, keep the object. */
void xg_diag_clear(xg_diag *d);
/* Keep at most max findings of each severity (default 200); counts go on. */
void xg_diag_set_cap(xg_diag *d, size_t max);

/*
 * Record a finding.  Returns `code` so a failing function can say
 * `return xg_diag_err(d, XG_E_CORRUPT, &loc, "...")`.  `loc` may be NULL.
 * `d` may be NULL (the finding is dropped).  Never fails: when memory runs
 * out the finding is counted and a fixed "out of memory" text stands in.
 */
int xg_diag_add(xg_diag *d, enum xg_severity sev, int code, int sys_errno, const struct xg_loc *loc,
                const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 8, 9)));
int xg_diag_addv(xg_diag *d, enum xg_severity sev, int code, int sys_errno,
                 const struct xg_loc *loc, const char *file, int line, const char *fmt, va_list ap)
    __attribute__((format(printf, 8, 0)));

/* Attach "Xen would log: ..." / "hint: ..." to the most recent finding. */
void xg_diag_xen_says(xg_diag *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void xg_diag_hint(xg_diag *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define xg_diag_err(d, code, loc, ...) \
    xg_diag_add((d), XG_SEV_ERROR, (code), 0, (loc), __FILE__, __LINE__, __VA_ARGS__)
#define xg_diag_syserr(d, code, err, loc, ...) \
    xg_diag_add((d), XG_SEV_ERROR, (code), (err), (loc), __FILE__, __LINE__, __VA_ARGS__)
#define xg_diag_warn(d, loc, ...) \
    xg_diag_add((d), XG_SEV_WARNING, 0, 0, (loc), __FILE__, __LINE__, __VA_ARGS__)
#define xg_diag_note(d, loc, ...) \
    xg_diag_add((d), XG_SEV_NOTE, 0, 0, (loc), __FILE__, __LINE__, __VA_ARGS__)

/* Findings kept (up to the cap), in order. */
size_t xg_diag_count(const xg_diag *d);
const struct xg_finding *xg_diag_get(const xg_diag *d, size_t i);
/* All findings of a severity, including those beyond the cap. */
size_t xg_diag_total(const xg_diag *d, enum xg_severity sev);
/* The first error recorded, or NULL. */
const struct xg_finding *xg_diag_first_error(const xg_diag *d);
/* The code of the first error, or 0. */
int xg_diag_code(const xg_diag *d);

/*
 * Render one finding as text: "error: <msg> (<context>)" and, on their own
 * indented lines, "Xen would log: ..." and "hint: ...".  `verbose` adds the
 * source location and errno name.
 */
void xg_diag_print_finding(FILE *out, const struct xg_finding *f, bool verbose);
/* Render every finding, then "N errors, M warnings (K not shown)" if capped. */
void xg_diag_print(FILE *out, const xg_diag *d, bool verbose);
/* Render the context fields only ("pfn 0x76b, L2, slot 5, ...") into buf. */
size_t xg_loc_format(char *buf, size_t len, const struct xg_loc *loc);

#ifdef __cplusplus
}
#endif
#endif
