/*
 * records.c - the record table: for every record type of the libxc
 * migration stream, its spec name, the length rules its header must meet,
 * its place in the stream, and the check of its body.  A new record type
 * is one row of rec_kinds[] (and, if its body has fields to check, one
 * small function above it).
 *
 * Validation order per record follows Xen's handle_page_data: length
 * against the type's rules, order rules, then the body field by field.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "internal.h"
#include "pv/abi.h"
#include "stream/format.h"
#include "stream/reader_private.h"
#include "xg/pagetype.h"
#include "xg/stream.h"

/* Where a record type may appear (check_order). */
enum {
    XG_RK_PV_ONLY = 1 << 0,            /* only in an x86 PV stream */
    XG_RK_HVM_ONLY = 1 << 1,           /* only in an x86 HVM stream */
    XG_RK_FROM_V3 = 1 << 2,            /* exists from stream version 3 */
    XG_RK_CONTENT = 1 << 3,            /* v3: only after STATIC_DATA_END */
    XG_RK_STATIC = 1 << 4,             /* v3: static data, only before STATIC_DATA_END */
    XG_RK_ONCE = 1 << 5,               /* at most one per stream */
    XG_RK_NEEDS_PV_INFO = 1 << 6,      /* PV: only after X86_PV_INFO (needs the guest width) */
    XG_RK_ENDS_STATIC = 1 << 7,        /* ends the static data (STATIC_DATA_END) */
    XG_RK_V2_ENDS_STATIC_PV = 1 << 8,  /* v2 PV: the first one implies STATIC_DATA_END */
    XG_RK_V2_ENDS_STATIC_HVM = 1 << 9, /* v2 HVM: the first one implies STATIC_DATA_END */
};

/*
 * Checks the body of rec (its header already checked; the body starts at
 * body_off in the stream, for the locations of findings) and fills
 * rec->u.  0, or a negative XG_E_* with a finding.
 */
typedef int (*body_fn)(xg_stream_reader *r, struct xg_record *rec, struct xg_loc loc,
                       uint64_t body_off);

/* What a record type is: one row of rec_kinds[]. */
struct rec_kind {
    const char *name;    /* the spec's name */
    bool has_exact;      /* the length must be exactly `exact` */
    uint32_t exact;      /* (with has_exact) */
    uint32_t min;        /* the length is at least this */
    uint32_t multiple;   /* 0, or the length is a multiple of this */
    unsigned flags;      /* XG_RK_* */
    const char *refused; /* the record is refused as unsupported, with this message */
    body_fn read;        /* reads and checks the body itself (NULL: read whole, then `parse`) */
    body_fn parse;       /* checks the body in r->buf and fills rec->u (NULL: a blob) */
};

/* loc, pointed at `field` at offset `at` of the body, with what was found and expected. */
static struct xg_loc field_loc(struct xg_loc loc, uint64_t body_off, uint64_t at, const char *field,
                               uint64_t found, uint64_t expected)
{
    loc.has_offset = 1;
    loc.offset = body_off + at;
    loc.field = field;
    loc.has_found = 1;
    loc.found = found;
    loc.has_expected = 1;
    loc.expected = expected;
    return loc;
}

/* PAGE_DATA, read in stages so a lying count is caught before the data. */
static int read_page_data(xg_stream_reader *r, struct xg_record *rec, struct xg_loc loc,
                          uint64_t body_off)
{
    uint32_t len = rec->length;
    int rc = xg__src_read_body(r, 0, sizeof(struct wire_page_data_hdr), "the PAGE_DATA header",
                               &loc);
    if (rc < 0)
        return rc;
    struct wire_page_data_hdr h;
    memcpy(&h, r->buf, sizeof(h));
    if (h.count == 0) {
        struct xg_loc l = field_loc(loc, body_off, 0, "count", 0, 1);
        return xg_diag_err(r->d, XG_E_CORRUPT, &l, "PAGE_DATA record with a count of 0");
    }
    if (h.reserved) {
        struct xg_loc l = field_loc(loc, body_off, 4, "reserved", h.reserved, 0);
        return xg_diag_err(r->d, XG_E_CORRUPT, &l, "reserved field of PAGE_DATA is not zero");
    }
    uint64_t pfn_bytes = (uint64_t)h.count * 8;
    if (8 + pfn_bytes > len) {
        struct xg_loc l = field_loc(loc, body_off, 0, "count", h.count, (len - 8) / 8);
        return xg_diag_err(
            r->d, XG_E_CORRUPT, &l,
            "PAGE_DATA count %u needs %llu bytes of pfns, but the record body is %u bytes", h.count,
            (unsigned long long)pfn_bytes, len);
    }
    rc = xg__src_read_body(r, 8, (size_t)pfn_bytes, "the PAGE_DATA pfn array", &loc);
    if (rc < 0)
        return rc;
    const uint64_t *pfn = (const uint64_t *)(r->buf + 8);
    uint32_t nr_data = 0;
    for (uint32_t i = 0; i < h.count; i++) {
        uint64_t e = pfn[i];
        if (e & XG_PD_RSVD_MASK) {
            struct xg_loc l = field_loc(loc, body_off, 8 + 8ULL * i, "pfn[] reserved bits 52-59", e,
                                        e & ~XG_PD_RSVD_MASK);
            return xg_diag_err(r->d, XG_E_CORRUPT, &l, "PAGE_DATA pfn[%u] has reserved bits set",
                               i);
        }
        uint32_t type = xg_pd_type(e);
        if (!xg_pfinfo_known(type)) {
            struct xg_loc l = field_loc(loc, body_off, 8 + 8ULL * i, "pfn[] type", type >> 28, 0);
            l.has_expected = 0;
            l.has_pfn = 1;
            l.pfn = xg_pd_pfn(e);
            return xg_diag_err(r->d, XG_E_CORRUPT, &l, "PAGE_DATA pfn[%u] has the reserved type %s",
                               i, xg_pfinfo_name(type));
        }
        if (xg_pfinfo_has_data(type))
            nr_data++;
    }
    uint64_t want = 8 + pfn_bytes + (uint64_t)nr_data * XG_PAGE_SIZE;
    if (want != len) {
        struct xg_loc l = loc;
        l.field = "body_length";
        l.has_found = 1, l.found = len, l.has_expected = 1, l.expected = want;
        return xg_diag_err(
            r->d, XG_E_CORRUPT, &l,
            "PAGE_DATA record length %u does not match its %u pfns with %u data pages (%llu bytes)",
            len, h.count, nr_data, (unsigned long long)want);
    }
    size_t data_at = (size_t)(8 + pfn_bytes);
    rec->u.page_data.count = h.count;
    rec->u.page_data.pfn = (const uint64_t *)(r->buf + 8);
    rec->u.page_data.nr_data = nr_data;
    if (r->defer_page_data) {
        /* The contents stay in the stream, for xg__stream_read_pages(). */
        r->pending_data = (uint64_t)nr_data * XG_PAGE_SIZE;
        r->pending_loc = loc;
        rec->u.page_data.data = NULL;
        return 0;
    }
    rc = xg__src_read_body(r, data_at, (size_t)nr_data * XG_PAGE_SIZE,
                           "the PAGE_DATA page contents", &loc);
    if (rc < 0)
        return rc;
    rec->u.page_data.pfn = (const uint64_t *)(r->buf + 8); /* the body may have moved */
    rec->u.page_data.data = r->buf + data_at;
    return 0;
}

static unsigned frames_per_p2m_page(unsigned width)
{
    return XG_PAGE_SIZE / width;
}

/*
 * A body kept as it is (rec->u.blob): records with no fields to check,
 * and unknown optional ones.
 */
static int parse_blob(xg_stream_reader *r, struct xg_record *rec, struct xg_loc loc,
                      uint64_t body_off)
{
    rec->u.blob.size = rec->length;
    rec->u.blob.data = r->buf;
    return 0;
}

static int parse_pv_info(xg_stream_reader *r, struct xg_record *rec, struct xg_loc loc,
                         uint64_t body_off)
{
    const struct wire_x86_pv_info *pi = (const void *)r->buf;
    bool ok = (pi->guest_width == 8 && pi->pt_levels == 4) ||
              (pi->guest_width == 4 && pi->pt_levels == 3);
    if (pi->guest_width != 4 && pi->guest_width != 8) {
        struct xg_loc l = field_loc(loc, body_off, 0, "guest_width", pi->guest_width, 8);
        return xg_diag_err(r->d, XG_E_CORRUPT, &l, "X86_PV_INFO guest width %u is neither 4 nor 8",
                           pi->guest_width);
    }
    if (!ok) {
        struct xg_loc l = field_loc(loc, body_off, 1, "pt_levels", pi->pt_levels,
                                    pi->guest_width == 8 ? 4 : 3);
        return xg_diag_err(
            r->d, XG_E_CORRUPT, &l,
            "X86_PV_INFO: a %u-bit guest with %u page-table levels is not a valid combination "
            "(64-bit: 4, 32-bit PAE: 3)",
            pi->guest_width * 8, pi->pt_levels);
    }
    for (int i = 0; i < 6; i++)
        if (pi->reserved[i]) {
            struct xg_loc l = field_loc(loc, body_off, 2 + (uint64_t)i, "reserved", pi->reserved[i],
                                        0);
            return xg_diag_err(r->d, XG_E_CORRUPT, &l,
                               "reserved bytes of X86_PV_INFO are not zero");
        }
    rec->u.pv_info.guest_width = pi->guest_width;
    rec->u.pv_info.pt_levels = pi->pt_levels;
    r->guest_width = pi->guest_width;
    r->pt_levels = pi->pt_levels;
    r->seen_pv_info = true;
    return 0;
}

static int parse_p2m_frames(xg_stream_reader *r, struct xg_record *rec, struct xg_loc loc,
                            uint64_t body_off)
{
    const struct wire_p2m_frames_hdr *h = (const void *)r->buf;
    uint32_t len = rec->length;
    if (h->start_pfn > h->end_pfn) {
        struct xg_loc l = field_loc(loc, body_off, 4, "p2m_end_pfn", h->end_pfn, h->start_pfn);
        return xg_diag_err(r->d, XG_E_CORRUPT, &l,
                           "X86_PV_P2M_FRAMES end pfn %#x is below start pfn %#x", h->end_pfn,
                           h->start_pfn);
    }
    unsigned fpp = frames_per_p2m_page(r->guest_width);
    uint64_t want = (uint64_t)h->end_pfn / fpp - h->start_pfn / fpp + 1;
    uint64_t have = (len - 8) / 8;
    if (want != have) {
        struct xg_loc l = loc;
        l.field = "body_length";
        l.has_found = 1, l.found = len, l.has_expected = 1, l.expected = 8 + want * 8;
        return xg_diag_err(r->d, XG_E_CORRUPT, &l,
                           "X86_PV_P2M_FRAMES covers pfns %#x-%#x, which needs %llu frame entries, "
                           "but it holds %llu",
                           h->start_pfn, h->end_pfn, (unsigned long long)want,
                           (unsigned long long)have);
    }
    rec->u.p2m_frames.start_pfn = h->start_pfn;
    rec->u.p2m_frames.end_pfn = h->end_pfn;
    rec->u.p2m_frames.nr = (uint32_t)have;
    rec->u.p2m_frames.pfn = (const uint64_t *)(r->buf + 8);
    return 0;
}

/*
 * The X86_PV_VCPU_* records share a header (vcpu id, reserved).  Checks
 * it and fills rec->u.vcpu; *l becomes the location the size checks of
 * each type report at.
 */
static int vcpu_header(xg_stream_reader *r, struct xg_record *rec, struct xg_loc loc,
                       uint64_t body_off, struct xg_loc *l)
{
    const struct wire_vcpu_hdr *h = (const void *)r->buf;
    uint32_t size = rec->length - 8;
    if (h->reserved) {
        struct xg_loc rl = field_loc(loc, body_off, 4, "reserved", h->reserved, 0);
        return xg_diag_err(r->d, XG_E_CORRUPT, &rl, "reserved field of %s is not zero",
                           xg_stream_rec_name(rec->type));
    }
    *l = loc;
    l->has_vcpu = 1;
    l->vcpu = h->vcpu_id;
    l->field = "context size";
    l->has_found = 1;
    l->found = size;
    rec->u.vcpu.vcpu_id = h->vcpu_id;
    rec->u.vcpu.size = size;
    rec->u.vcpu.ctx = r->buf + 8;
    return 0;
}

static int parse_vcpu_basic(xg_stream_reader *r, struct xg_record *rec, struct xg_loc loc,
                            uint64_t body_off)
{
    struct xg_loc l;
    int rc = vcpu_header(r, rec, loc, body_off, &l);
    if (rc < 0)
        return rc;
    uint32_t size = rec->u.vcpu.size;
    uint32_t want = r->guest_width == 4 ? XG_VCPU_CTX32_SIZE : XG_VCPU_CTX64_SIZE;
    if (size != want) {
        l.has_expected = 1, l.expected = want;
        return xg_diag_err(
            r->d, XG_E_CORRUPT, &l,
            "X86_PV_VCPU_BASIC for vcpu%u holds %u bytes; a %u-bit guest's context is %u",
            rec->u.vcpu.vcpu_id, size, r->guest_width * 8, want);
    }
    return 0;
}

/* Spec errata: Xen 4.6-4.8 wrote empty EXTENDED, XSAVE and MSRS records; they are tolerated. */

static int parse_vcpu_extended(xg_stream_reader *r, struct xg_record *rec, struct xg_loc loc,
                               uint64_t body_off)
{
    struct xg_loc l;
    int rc = vcpu_header(r, rec, loc, body_off, &l);
    if (rc < 0)
        return rc;
    uint32_t size = rec->u.vcpu.size;
    if (size > VCPU_EXTENDED_MAX) {
        l.has_expected = 1, l.expected = VCPU_EXTENDED_MAX;
        return xg_diag_err(r->d, XG_E_CORRUPT, &l,
                           "X86_PV_VCPU_EXTENDED for vcpu%u is %u bytes, more than %u",
                           rec->u.vcpu.vcpu_id, size, VCPU_EXTENDED_MAX);
    }
    return 0;
}

static int parse_vcpu_xsave(xg_stream_reader *r, struct xg_record *rec, struct xg_loc loc,
                            uint64_t body_off)
{
    struct xg_loc l;
    int rc = vcpu_header(r, rec, loc, body_off, &l);
    if (rc < 0)
        return rc;
    uint32_t size = rec->u.vcpu.size;
    if (size != 0 && (size < VCPU_XSAVE_MIN || size > VCPU_BLOB_MAX)) {
        l.has_expected = 1, l.expected = size < VCPU_XSAVE_MIN ? VCPU_XSAVE_MIN : VCPU_BLOB_MAX;
        return xg_diag_err(r->d, XG_E_CORRUPT, &l,
                           "X86_PV_VCPU_XSAVE for vcpu%u has an implausible size of %u bytes",
                           rec->u.vcpu.vcpu_id, size);
    }
    return 0;
}

static int parse_vcpu_msrs(xg_stream_reader *r, struct xg_record *rec, struct xg_loc loc,
                           uint64_t body_off)
{
    struct xg_loc l;
    int rc = vcpu_header(r, rec, loc, body_off, &l);
    if (rc < 0)
        return rc;
    uint32_t size = rec->u.vcpu.size;
    if (size % MSR_ENTRY_SIZE || size > VCPU_BLOB_MAX) {
        l.has_expected = 1, l.expected = size - size % MSR_ENTRY_SIZE;
        return xg_diag_err(r->d, XG_E_CORRUPT, &l,
                           "X86_PV_VCPU_MSRS for vcpu%u is %u bytes, not a multiple of %u",
                           rec->u.vcpu.vcpu_id, size, MSR_ENTRY_SIZE);
    }
    return 0;
}

static int parse_tsc_info(xg_stream_reader *r, struct xg_record *rec, struct xg_loc loc,
                          uint64_t body_off)
{
    const struct wire_tsc_info *t = (const void *)r->buf;
    if (t->reserved) {
        struct xg_loc l = field_loc(loc, body_off, 20, "reserved", t->reserved, 0);
        return xg_diag_err(r->d, XG_E_CORRUPT, &l, "reserved field of X86_TSC_INFO is not zero");
    }
    rec->u.tsc.mode = t->mode;
    rec->u.tsc.khz = t->khz;
    rec->u.tsc.nsec = t->nsec;
    rec->u.tsc.incarnation = t->incarnation;
    return 0;
}

static int parse_hvm_params(xg_stream_reader *r, struct xg_record *rec, struct xg_loc loc,
                            uint64_t body_off)
{
    const struct wire_hvm_params_hdr *h = (const void *)r->buf;
    uint32_t len = rec->length;
    if (h->reserved) {
        struct xg_loc l = field_loc(loc, body_off, 4, "reserved", h->reserved, 0);
        return xg_diag_err(r->d, XG_E_CORRUPT, &l, "reserved field of HVM_PARAMS is not zero");
    }
    uint64_t want = 8 + (uint64_t)h->count * 16;
    if (want != len) {
        struct xg_loc l = loc;
        l.field = "body_length";
        l.has_found = 1, l.found = len, l.has_expected = 1, l.expected = want;
        return xg_diag_err(r->d, XG_E_CORRUPT, &l,
                           "HVM_PARAMS count %u does not match its length %u", h->count, len);
    }
    rec->u.hvm_params.count = h->count;
    rec->u.hvm_params.param = (const struct xg_hvm_param *)(r->buf + 8);
    return 0;
}

static int parse_cpuid_policy(xg_stream_reader *r, struct xg_record *rec, struct xg_loc loc,
                              uint64_t body_off)
{
    rec->u.cpuid.nr = rec->length / CPUID_LEAF_SIZE;
    rec->u.cpuid.leaf = (const struct xg_cpuid_leaf *)r->buf;
    return 0;
}

static int parse_msr_policy(xg_stream_reader *r, struct xg_record *rec, struct xg_loc loc,
                            uint64_t body_off)
{
    const struct xg_msr_entry *m = (const void *)r->buf;
    for (uint32_t i = 0; i < rec->length / MSR_ENTRY_SIZE; i++)
        if (m[i].flags) {
            struct xg_loc l = field_loc(loc, body_off, 16ULL * i + 4, "flags", m[i].flags, 0);
            return xg_diag_err(r->d, XG_E_CORRUPT, &l,
                               "X86_MSR_POLICY entry %u (MSR %#x) has non-zero flags", i, m[i].idx);
        }
    rec->u.msr.nr = rec->length / MSR_ENTRY_SIZE;
    rec->u.msr.entry = m;
    return 0;
}

static int parse_dirty_pfn_list(xg_stream_reader *r, struct xg_record *rec, struct xg_loc loc,
                                uint64_t body_off)
{
    rec->u.dirty.nr = rec->length / 8;
    rec->u.dirty.pfn = (const uint64_t *)r->buf;
    return 0;
}

/* ------------------------------------------------------------ the table */

#define EXACT(n) .has_exact = true, .exact = (n)
#define TOOLSTACK_REFUSED \
    "deprecated TOOLSTACK record (written only by development versions of Xen 4.6)"
#define VCPU_RECORD                      \
    .min = sizeof(struct wire_vcpu_hdr), \
    .flags = XG_RK_PV_ONLY | XG_RK_CONTENT | XG_RK_NEEDS_PV_INFO

static const struct rec_kind rec_kinds[] = {
    [XG_REC_END] = { "END", EXACT(0) },
    [XG_REC_PAGE_DATA] = { "PAGE_DATA",
                           .min = sizeof(struct wire_page_data_hdr) + 8, /* count >= 1 */
                           .flags = XG_RK_CONTENT | XG_RK_NEEDS_PV_INFO | XG_RK_V2_ENDS_STATIC_HVM,
                           .read = read_page_data },
    [XG_REC_X86_PV_INFO] = { "X86_PV_INFO", EXACT(sizeof(struct wire_x86_pv_info)),
                             .flags = XG_RK_PV_ONLY | XG_RK_STATIC | XG_RK_ONCE,
                             .parse = parse_pv_info },
    [XG_REC_X86_PV_P2M_FRAMES] = { "X86_PV_P2M_FRAMES",
                                   .min = sizeof(struct wire_p2m_frames_hdr) + 8, .multiple = 8,
                                   .flags = XG_RK_PV_ONLY | XG_RK_CONTENT | XG_RK_NEEDS_PV_INFO |
                                            XG_RK_V2_ENDS_STATIC_PV,
                                   .parse = parse_p2m_frames },
    [XG_REC_X86_PV_VCPU_BASIC] = { "X86_PV_VCPU_BASIC", VCPU_RECORD, .parse = parse_vcpu_basic },
    [XG_REC_X86_PV_VCPU_EXTENDED] = { "X86_PV_VCPU_EXTENDED", VCPU_RECORD,
                                      .parse = parse_vcpu_extended },
    [XG_REC_X86_PV_VCPU_XSAVE] = { "X86_PV_VCPU_XSAVE", VCPU_RECORD, .parse = parse_vcpu_xsave },
    [XG_REC_SHARED_INFO] = { "SHARED_INFO", EXACT(SHARED_INFO_SIZE),
                             .flags = XG_RK_PV_ONLY | XG_RK_CONTENT },
    [XG_REC_X86_TSC_INFO] = { "X86_TSC_INFO", EXACT(sizeof(struct wire_tsc_info)),
                              .flags = XG_RK_CONTENT, .parse = parse_tsc_info },
    [XG_REC_HVM_CONTEXT] = { "HVM_CONTEXT", .min = 1, .flags = XG_RK_HVM_ONLY | XG_RK_CONTENT },
    [XG_REC_HVM_PARAMS] = { "HVM_PARAMS", .min = sizeof(struct wire_hvm_params_hdr),
                            .flags = XG_RK_HVM_ONLY | XG_RK_CONTENT, .parse = parse_hvm_params },
    [XG_REC_TOOLSTACK] = { "TOOLSTACK", .refused = TOOLSTACK_REFUSED },
    [XG_REC_X86_PV_VCPU_MSRS] = { "X86_PV_VCPU_MSRS", VCPU_RECORD, .parse = parse_vcpu_msrs },
    [XG_REC_VERIFY] = { "VERIFY", EXACT(0), .flags = XG_RK_CONTENT },
    [XG_REC_CHECKPOINT] = { "CHECKPOINT", EXACT(0), .flags = XG_RK_CONTENT },
    [XG_REC_CHECKPOINT_DIRTY_PFN_LIST] = { "CHECKPOINT_DIRTY_PFN_LIST", .multiple = 8,
                                           .parse = parse_dirty_pfn_list },
    [XG_REC_STATIC_DATA_END] = { "STATIC_DATA_END", EXACT(0),
                                 .flags = XG_RK_FROM_V3 | XG_RK_ONCE | XG_RK_ENDS_STATIC },
    [XG_REC_X86_CPUID_POLICY] = { "X86_CPUID_POLICY", .min = CPUID_LEAF_SIZE,
                                  .multiple = CPUID_LEAF_SIZE,
                                  .flags = XG_RK_FROM_V3 | XG_RK_STATIC | XG_RK_ONCE,
                                  .parse = parse_cpuid_policy },
    [XG_REC_X86_MSR_POLICY] = { "X86_MSR_POLICY", .min = MSR_ENTRY_SIZE, .multiple = MSR_ENTRY_SIZE,
                                .flags = XG_RK_FROM_V3 | XG_RK_STATIC | XG_RK_ONCE,
                                .parse = parse_msr_policy },
};
_Static_assert(XG_ARRAY_SIZE(rec_kinds) == XG_REC__NR_KNOWN, "a row for every known record type");
_Static_assert(XG_REC__NR_KNOWN <= 32, "seen_once has a bit for every known record type");

/* Unknown optional records: no rules, kept as blobs. */
static const struct rec_kind unknown_kind = { NULL };

static const struct rec_kind *kind_of(uint32_t type)
{
    if (type < XG_ARRAY_SIZE(rec_kinds) && rec_kinds[type].name)
        return &rec_kinds[type];
    return &unknown_kind;
}

const char *xg_stream_rec_name(uint32_t type)
{
    const struct rec_kind *k = kind_of(type);
    if (k->name)
        return k->name;
    return (type & XG_REC_OPTIONAL) ? "unknown optional record" : "unknown mandatory record";
}

/* ------------------------------------------------------------ applying it */

/* Length rules that can be checked from the header alone. */
static int check_length(xg_stream_reader *r, const struct xg_record *rec, struct xg_loc loc)
{
    const struct rec_kind *k = kind_of(rec->type);
    uint32_t len = rec->length;
    const char *name = xg_stream_rec_name(rec->type);
    loc.field = "body_length";
    loc.has_found = 1;
    loc.found = len;
    if (k->has_exact && len != k->exact) {
        loc.has_expected = 1;
        loc.expected = k->exact;
        return xg_diag_err(r->d, XG_E_CORRUPT, &loc, "%s record has length %u, the spec says %ld",
                           name, len, (long)k->exact);
    }
    if (len < k->min) {
        loc.has_expected = 1;
        loc.expected = k->min;
        return xg_diag_err(r->d, XG_E_CORRUPT, &loc,
                           "%s record of %u bytes is shorter than its minimum of %u", name, len,
                           k->min);
    }
    if (k->multiple && len % k->multiple) {
        loc.has_expected = 1;
        loc.expected = len - len % k->multiple;
        return xg_diag_err(r->d, XG_E_CORRUPT, &loc, "%s record length %u is not a multiple of %u",
                           name, len, k->multiple);
    }
    return 0;
}

/* Order rules (spec 5.1, 6.1).  Updates the reader's state on success. */
static int check_order(xg_stream_reader *r, const struct xg_record *rec, struct xg_loc loc)
{
    uint32_t t = rec->type;
    unsigned f = kind_of(t)->flags;
    const char *name = xg_stream_rec_name(t);
    bool pv = r->info.domain_type == XG_DOMAIN_X86_PV;

    if (pv && (f & XG_RK_HVM_ONLY))
        return xg_diag_err(r->d, XG_E_CORRUPT, &loc, "%s record in an x86 PV stream", name);
    if (!pv && (f & XG_RK_PV_ONLY))
        return xg_diag_err(r->d, XG_E_CORRUPT, &loc, "%s record in an x86 HVM stream", name);

    if (r->info.version < 3) {
        if (f & XG_RK_FROM_V3)
            return xg_diag_err(r->d, XG_E_CORRUPT, &loc,
                               "%s record in a version 2 stream (it exists from version 3)", name);
        /* v2: STATIC_DATA_END is implied by the first P2M_FRAMES (PV) / PAGE_DATA (HVM). */
        if ((pv && (f & XG_RK_V2_ENDS_STATIC_PV)) || (!pv && (f & XG_RK_V2_ENDS_STATIC_HVM)))
            r->seen_static_end = true;
    } else {
        if ((f & XG_RK_CONTENT) && !r->seen_static_end)
            return xg_diag_err(r->d, XG_E_CORRUPT, &loc,
                               "%s record before STATIC_DATA_END "
                               "(a version 3 stream must end its static data first)",
                               name);
        if ((f & XG_RK_STATIC) && r->seen_static_end)
            return xg_diag_err(r->d, XG_E_CORRUPT, &loc,
                               "static data record %s after STATIC_DATA_END", name);
    }
    if ((f & XG_RK_ONCE) && (r->seen_once & (1U << t)))
        return xg_diag_err(r->d, XG_E_CORRUPT, &loc, "second %s record", name);
    if (pv && (f & XG_RK_NEEDS_PV_INFO) && !r->seen_pv_info)
        return xg_diag_err(r->d, XG_E_CORRUPT, &loc,
                           "%s record before X86_PV_INFO (the guest width is not known yet)", name);
    if (kind_of(t)->refused)
        return xg_diag_err(r->d, XG_E_UNSUPPORTED, &loc, "%s", kind_of(t)->refused);

    if (f & XG_RK_ENDS_STATIC)
        r->seen_static_end = true;
    if (f & XG_RK_ONCE)
        r->seen_once |= 1U << t;
    return 0;
}

int xg__rec_check_header(xg_stream_reader *r, const struct xg_record *rec, struct xg_loc loc)
{
    int rc = check_length(r, rec, loc);
    if (rc < 0)
        return rc;
    return check_order(r, rec, loc);
}

int xg__rec_read_body(xg_stream_reader *r, struct xg_record *rec, struct xg_loc loc,
                      uint64_t body_off)
{
    const struct rec_kind *k = kind_of(rec->type);
    if (k->read)
        return k->read(r, rec, loc, body_off);
    char what[64];
    snprintf(what, sizeof(what), "the %s record body", xg_stream_rec_name(rec->type));
    int rc = xg__src_read_body(r, 0, rec->length, what, &loc);
    if (rc < 0)
        return rc;
    return k->parse ? k->parse(r, rec, loc, body_off) : parse_blob(r, rec, loc, body_off);
}
