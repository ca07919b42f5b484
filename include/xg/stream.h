/*
 * xg/stream.h - the libxc migration stream v2 (Xen 4.6+), read and write.
 *
 * Format: Xen's docs/specs/libxc-migration-stream (revision 3).  An image
 * is an image header, a domain header, then records {u32 type, u32
 * body_length, body, zero padding to 8 octets}, ending with END.
 *
 * The reader pulls one record at a time from a file descriptor, with
 * bounded memory, and checks everything the spec constrains.  It sees
 * through gzip (by magic) and through the xl save-file header and the
 * libxl stream that xl/libxl wrap around the libxc stream, and reads the
 * legacy (pre-Xen 4.6) PV format too, converting it into v2 records as it
 * goes (offsets in diagnostics about those records are then positions in
 * the converted stream; errors in the legacy layout itself give offsets
 * in the file).  On a raw
 * (uncompressed) stream it never reads a byte past the libxc END record,
 * so a caller sharing the descriptor (libxl) can go on reading after it.
 *
 * The writer writes version 3, little-endian, optionally inside gzip.
 * PAGE_DATA takes page pointers and goes out with writev(), so page
 * contents are never copied in user space.
 *
 * Errors: every function returns 0 or a negative XG_E_* code and records
 * the reason in the xg_diag given at open time, with the record index,
 * the byte offset, the field, the value found and the value expected.
 */
#ifndef XG_STREAM_H
#define XG_STREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "xg/diag.h"
#include "xg/pagetype.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Record types (spec section 4). */
enum xg_rec_type {
    XG_REC_END = 0x00,
    XG_REC_PAGE_DATA = 0x01,
    XG_REC_X86_PV_INFO = 0x02,
    XG_REC_X86_PV_P2M_FRAMES = 0x03,
    XG_REC_X86_PV_VCPU_BASIC = 0x04,
    XG_REC_X86_PV_VCPU_EXTENDED = 0x05,
    XG_REC_X86_PV_VCPU_XSAVE = 0x06,
    XG_REC_SHARED_INFO = 0x07,
    XG_REC_X86_TSC_INFO = 0x08,
    XG_REC_HVM_CONTEXT = 0x09,
    XG_REC_HVM_PARAMS = 0x0a,
    XG_REC_TOOLSTACK = 0x0b,
    XG_REC_X86_PV_VCPU_MSRS = 0x0c,
    XG_REC_VERIFY = 0x0d,
    XG_REC_CHECKPOINT = 0x0e,
    XG_REC_CHECKPOINT_DIRTY_PFN_LIST = 0x0f,
    XG_REC_STATIC_DATA_END = 0x10,
    XG_REC_X86_CPUID_POLICY = 0x11,
    XG_REC_X86_MSR_POLICY = 0x12,
    XG_REC__NR_KNOWN = 0x13,
};
#define XG_REC_OPTIONAL 0x80000000U

/* Spec name of a record type ("PAGE_DATA"), or "unknown" / "optional". */
const char *xg_stream_rec_name(uint32_t type);

#define XG_STREAM_VERSION 3
#define XG_DOMAIN_X86_PV 1
#define XG_DOMAIN_X86_HVM 2
#define XG_PAGE_SHIFT 12
#define XG_PAGE_SIZE 4096U
/* Xen's implementation cap on one record (REC_LENGTH_MAX). */
#define XG_REC_LENGTH_MAX (128U << 20)
/* The batch size Xen's saver uses; the writer accepts up to this many. */
#define XG_MAX_BATCH 1024U

/* PAGE_DATA entry: type nibble in bits 60-63, reserved 52-59, pfn 0-51. */
#define XG_PD_PFN_MASK 0x000fffffffffffffULL
#define XG_PD_RSVD_MASK 0x0ff0000000000000ULL
#define XG_PD_TYPE_SHIFT 32 /* XG_PFINFO_* << 32 */

static inline uint64_t xg_pd_entry(uint64_t pfn, uint32_t type)
{
    return ((uint64_t)(type & XG_PFINFO_LTAB_MASK) << XG_PD_TYPE_SHIFT) | (pfn & XG_PD_PFN_MASK);
}
static inline uint64_t xg_pd_pfn(uint64_t e)
{
    return e & XG_PD_PFN_MASK;
}
static inline uint32_t xg_pd_type(uint64_t e)
{
    return (uint32_t)(e >> XG_PD_TYPE_SHIFT) & XG_PFINFO_LTAB_MASK;
}

/* ---- Typed bodies.  Pointers point into the reader's buffer and stay
 *      valid until the next xg_stream_read(). ---- */

struct xg_rec_page_data {
    uint32_t count;      /* entries in pfn[] (> 0) */
    const uint64_t *pfn; /* count entries: xg_pd_pfn / xg_pd_type */
    uint32_t nr_data;    /* pages with data (xg_pfinfo_has_data) */
    const uint8_t *data; /* nr_data * 4096 bytes, in pfn[] order */
};

struct xg_rec_x86_pv_info {
    uint8_t guest_width; /* 4 or 8 */
    uint8_t pt_levels;   /* 3 or 4 */
};

struct xg_rec_p2m_frames {
    uint32_t start_pfn, end_pfn; /* inclusive range of guest pfns covered */
    uint32_t nr;                 /* entries in pfn[] */
    const uint64_t *pfn;         /* pfns of the frames holding the guest's p2m */
};

struct xg_rec_vcpu {
    uint32_t vcpu_id;
    uint32_t size; /* bytes of ctx (may be 0: tolerated, spec errata) */
    const void *ctx;
};

struct xg_rec_tsc_info {
    uint32_t mode, khz;
    uint64_t nsec;
    uint32_t incarnation;
};

struct xg_hvm_param {
    uint64_t index, value;
};
struct xg_rec_hvm_params {
    uint32_t count;
    const struct xg_hvm_param *param;
};

struct xg_cpuid_leaf {
    uint32_t leaf, subleaf, a, b, c, d;
};
struct xg_msr_entry {
    uint32_t idx, flags;
    uint64_t val;
};

struct xg_rec_blob { /* SHARED_INFO, HVM_CONTEXT, TOOLSTACK, unknown */
    uint32_t size;
    const void *data;
};

struct xg_rec_pfn_list { /* CHECKPOINT_DIRTY_PFN_LIST */
    uint32_t nr;
    const uint64_t *pfn;
};

struct xg_record {
    uint32_t type;
    uint32_t length;     /* body length, without padding */
    uint64_t index;      /* record number in the libxc stream, from 0 */
    uint64_t offset;     /* byte offset of its header (see xg_stream_info) */
    const uint8_t *body; /* raw body */
    union {
        struct xg_rec_page_data page_data;
        struct xg_rec_x86_pv_info pv_info;
        struct xg_rec_p2m_frames p2m_frames;
        struct xg_rec_vcpu vcpu; /* all four X86_PV_VCPU_* */
        struct xg_rec_tsc_info tsc;
        struct xg_rec_hvm_params hvm_params;
        struct {
            uint32_t nr;
            const struct xg_cpuid_leaf *leaf;
        } cpuid;
        struct {
            uint32_t nr;
            const struct xg_msr_entry *entry;
        } msr;
        struct xg_rec_pfn_list dirty;
        struct xg_rec_blob blob;
    } u;
};

/* What surrounds the libxc stream in the file. */
enum xg_stream_wrapper {
    XG_WRAP_NONE = 0,  /* a bare libxc stream */
    XG_WRAP_LIBXL = 1, /* libxl stream v2 (LibxlFmt) around it */
    XG_WRAP_XL = 2,    /* xl save-file header + libxl stream (before Xen 4.6: a legacy stream) */
    XG_WRAP_XEND = 3,  /* xend's "LinuxGuestRecord" header + SXP config (Xen 3.x) */
};

struct xg_stream_info {
    bool gzip; /* whole file was gzip-compressed */
    enum xg_stream_wrapper wrapper;
    uint32_t libxl_version; /* when wrapped */
    uint32_t xl_config_len; /* xl: bytes of the domain config */
    uint32_t version;       /* image header version (2 or 3) */
    uint32_t domain_type;   /* XG_DOMAIN_* */
    uint32_t page_shift;
    uint32_t xen_major, xen_minor;  /* 0.x: converted from a legacy image */
    uint64_t libxc_offset;          /* where the libxc image header starts */
    bool legacy;                    /* a pre-Xen 4.6 image, converted to v2 as it is read */
    unsigned legacy_toolstack_bits; /* 32 or 64: the word size of the toolstack that saved it */
    /*
     * Legacy: the batch entries (so far read) written as XTAB | mfn, frames the saving dom0
     * could not map; and their machine frames (the first 2^20), valid while the reader is open.
     */
    uint64_t legacy_unmappable;
    const uint32_t *legacy_unmappable_mfns;
    size_t legacy_nr_unmappable_mfns;
    /*
     * Offsets reported in diagnostics count bytes from the start of the
     * file as the user has it, or of the uncompressed data when gzip.
     */
};

/* ---------------------------------------------------------------- reader */

typedef struct xg_stream_reader xg_stream_reader;

struct xg_stream_reader_opts {
    /*
     * Refuse gzip, xl and libxl wrappers: read exactly one bare libxc
     * stream (what libxl hands its save helper).
     */
    bool raw_only;
    /* Largest body accepted, 0 = XG_REC_LENGTH_MAX. */
    uint32_t max_record;
};

/*
 * Open a reader on fd (not closed by the reader) and read up to and
 * including the image and domain headers.  On success *out is set and
 * the headers are in xg_stream_reader_info().  On failure *out is NULL
 * and d says why.
 */
int xg_stream_reader_open(int fd, const struct xg_stream_reader_opts *opts, xg_diag *d,
                          xg_stream_reader **out);

const struct xg_stream_info *xg_stream_reader_info(const xg_stream_reader *r);

/*
 * Read the next record into *rec.  Returns 0 with rec->type == XG_REC_END
 * at the end; a read after END is XG_E_INVAL.  Unknown optional records
 * are returned as blobs; unknown mandatory records are XG_E_UNSUPPORTED.
 * Order rules checked here: X86_PV_INFO, STATIC_DATA_END and the policy
 * records at most once; in v3, STATIC_DATA_END before any memory or vcpu
 * record; X86_PV_INFO before X86_PV_P2M_FRAMES, PAGE_DATA and vcpu
 * records of a PV stream; nothing after END.  For v2 streams the position
 * of STATIC_DATA_END is inferred as the spec says.
 */
int xg_stream_read(xg_stream_reader *r, struct xg_record *rec);

/*
 * After END of a wrapped stream: read and check the rest of the libxl
 * stream up to its END record (optional; for inspection).  Returns 0 also
 * when the stream was not wrapped.
 */
int xg_stream_read_trailer(xg_stream_reader *r);

/* Bytes consumed from the (uncompressed) file so far. */
uint64_t xg_stream_reader_offset(const xg_stream_reader *r);

void xg_stream_reader_close(xg_stream_reader *r);

/* Guest width recorded by X86_PV_INFO so far, 0 if none yet. */
unsigned xg_stream_reader_guest_width(const xg_stream_reader *r);

/* ---------------------------------------------------------------- writer */

typedef struct xg_stream_writer xg_stream_writer;

struct xg_stream_writer_opts {
    bool gzip;             /* compress the whole stream with zlib */
    int gzip_level;        /* 1..9, 0 = default (1: fast) */
    unsigned gzip_threads; /* compression threads, 0 = one per online CPU */
    /*
     * Write from a thread of the writer's own (ignored with gzip, which has
     * its threads): each call returns once its record is queued, so the
     * caller prepares the next record while this one is written.  Headers,
     * bodies and PAGE_DATA's entries are copied; PAGE_DATA's pages are
     * not, and must stay mapped and unchanged until xg_stream_writer_wait()
     * covers their record.  A write error is reported by a later call.
     */
    bool async;
};

/*
 * Open a writer on fd (not closed by the writer).  Nothing is written
 * until xg_stream_write_headers().
 */
int xg_stream_writer_open(int fd, const struct xg_stream_writer_opts *opts, xg_diag *d,
                          xg_stream_writer **out);

/* Image header (version 3, little-endian) and domain header. */
int xg_stream_write_headers(xg_stream_writer *w, uint32_t domain_type, uint32_t xen_major,
                            uint32_t xen_minor);

/*
 * Write one record whose body is the concatenation of iov[0..n).  Pads to
 * 8 octets.  The total must not exceed XG_REC_LENGTH_MAX.
 */
int xg_stream_write_recordv(xg_stream_writer *w, uint32_t type, const struct iovec *iov,
                            unsigned n);
int xg_stream_write_record(xg_stream_writer *w, uint32_t type, const void *body, uint32_t len);

/*
 * PAGE_DATA: count entries (1..XG_MAX_BATCH) built with xg_pd_entry();
 * pages[i] points to 4096 bytes for every entry whose type has data, in
 * order (entries without data have no slot in pages[]).  The pages are
 * not copied.
 */
int xg_stream_write_page_data(xg_stream_writer *w, uint32_t count, const uint64_t *entries,
                              const void *const *pages);

int xg_stream_write_pv_info(xg_stream_writer *w, uint8_t guest_width, uint8_t pt_levels);
int xg_stream_write_p2m_frames(xg_stream_writer *w, uint32_t start_pfn, uint32_t end_pfn,
                               const uint64_t *pfns, uint32_t nr);
int xg_stream_write_vcpu(xg_stream_writer *w, uint32_t type, uint32_t vcpu_id, const void *ctx,
                         uint32_t size);
int xg_stream_write_tsc_info(xg_stream_writer *w, const struct xg_rec_tsc_info *tsc);
int xg_stream_write_hvm_params(xg_stream_writer *w, const struct xg_hvm_param *p, uint32_t count);
int xg_stream_write_end(xg_stream_writer *w);

/*
 * A mark covering every record written so far, for xg_stream_writer_wait()
 * (0 when not async: nothing is ever pending).
 */
uint64_t xg_stream_writer_mark(const xg_stream_writer *w);

/*
 * Wait until everything up to `mark` is written (async), so that the
 * pages those records referenced may be unmapped.  Returns 0, or the
 * error of a failed write (reported once in the writer's diag; the
 * records it covers are then dropped, never written later).
 */
int xg_stream_writer_wait(xg_stream_writer *w, uint64_t mark);

/*
 * Finish the stream: flush, and write the gzip trailer when compressing.
 * Nothing may be written after it.  Idempotent; close calls it.
 */
int xg_stream_writer_finish(xg_stream_writer *w);

/*
 * Flush (and finish gzip) and free.  Returns the first error of the
 * flush; the writer is freed either way.  NULL is fine.
 */
int xg_stream_writer_close(xg_stream_writer *w);

/* Bytes written to fd so far (compressed bytes when gzip). */
uint64_t xg_stream_writer_bytes(const xg_stream_writer *w);

#ifdef __cplusplus
}
#endif
#endif
