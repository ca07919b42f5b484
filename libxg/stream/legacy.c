/*
 * legacy.c - read a pre-Xen 4.6 ("legacy", v1) x86 PV image as if it were
 * a migration stream v2: the converter turns the legacy layout into v2
 * records on the fly, and the ordinary reader checks and parses them.
 * Saving in the legacy format is not possible, as the v2 spec requires.
 *
 * The legacy layout, as Xen's convert-legacy-stream reads it (all
 * "unsigned long" fields are the *saving toolstack's* word size, told
 * apart by octets 4-7: zero for 64-bit, the extended-info marker
 * 0xffffffff for 32-bit):
 *   p2m_size; extended info (~0UL, u32 total, blocks {char id[4], u32 size,
 *   data}: "vcpu" (vcpu0's context: its size gives the guest width),
 *   "extv", "xcnt"); the pfns of the p2m frames; chunks, each starting
 *   with an int: > 0 a page batch (that many pfn/type words, then 4 KiB for
 *   each page with data), < 0 a marker (XC_SAVE_ID_*), 0 the end; then the
 *   tail: unmapped pfns, each online vcpu's context (+ 128-byte extended
 *   context, + xsave), and the shared info page.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "pv/abi.h"
#include "stream/format.h"
#include "stream/stream_private.h"
#include "xg/stream.h"

#define LEGACY_MAX_BATCH 1024U
#define LEGACY_MAX_VCPU_ID 4095
#define LEGACY_EXTV_SIZE 128U
#define LEGACY_XTAB_PFN0 0xf0000000U     /* an unmappable pfn the old saver left in batches */
#define LEGACY_MAX_UNMAPPABLE (1U << 20) /* XTAB|mfn frames kept to name them (4 MiB) */

enum stage {
    ST_HEADERS,
    ST_CHUNKS,
    ST_TAIL,
    ST_DONE
};

struct xg_legacy {
    xg_raw_read_fn read;
    void *arg;
    xg_diag *d;
    uint64_t in_off; /* file offset of the next legacy byte */
    unsigned word;   /* toolstack word size: 4 or 8 */
    enum stage stage;
    uint64_t p2m_size;
    unsigned width, levels;
    uint32_t basic_len, xsave_len;
    bool extv;
    uint64_t *online;            /* online vcpu ids (VCPU_INFO chunk), or NULL: vcpu0 */
    struct xg_stream_info *info; /* where XTAB|mfn entries are reported (report_unmappable) */
    uint32_t *unmappable;        /* their machine frames, the first LEGACY_MAX_UNMAPPABLE */
    size_t nr_unmappable, cap_unmappable;
    unsigned nr_online;
    /* Converted bytes not yet handed out. */
    uint8_t *out;
    size_t out_len, out_pos, out_cap;
};

/* ------------------------------------------------------------ input */

static int in_exact(struct xg_legacy *l, void *buf, size_t len, const char *what)
{
    ssize_t n = l->read(l->arg, buf, len);
    if (n < 0)
        return (int)n;
    if ((size_t)n < len) {
        struct xg_loc loc = { XGF_OFFSET(l->in_off), XGF_FOUND((uint64_t)n), XGF_EXPECTED(len) };
        return xg_diag_err(l->d, XG_E_TRUNCATED, &loc, "legacy image truncated in %s", what);
    }
    l->in_off += len;
    return 0;
}

static int in_word(struct xg_legacy *l, uint64_t *v, const char *what)
{
    *v = 0;
    uint8_t b[8];
    int rc = in_exact(l, b, l->word, what);
    if (rc == 0)
        *v = l->word == 8 ? xg__le64(b) : xg__le32(b);
    return rc;
}

static int in_u32(struct xg_legacy *l, uint32_t *v, const char *what)
{
    *v = 0;
    uint8_t b[4];
    int rc = in_exact(l, b, 4, what);
    if (rc == 0)
        *v = xg__le32(b);
    return rc;
}

static int in_u64(struct xg_legacy *l, uint64_t *v, const char *what)
{
    *v = 0;
    uint8_t b[8];
    int rc = in_exact(l, b, 8, what);
    if (rc == 0)
        *v = xg__le64(b);
    return rc;
}

static int bad(struct xg_legacy *l, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int bad(struct xg_legacy *l, int code, const char *fmt, ...)
{
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    struct xg_loc loc = { XGF_OFFSET(l->in_off) };
    return xg_diag_err(l->d, code, &loc, "legacy image: %s", msg);
}

/* ------------------------------------------------------------ output */

static uint8_t *out_room(struct xg_legacy *l, size_t len)
{
    if (l->out_len + len > l->out_cap) {
        size_t cap = XG_MAX(l->out_cap * 2, l->out_len + len);
        uint8_t *p = realloc(l->out, cap);
        if (!p)
            return NULL;
        l->out = p;
        l->out_cap = cap;
    }
    uint8_t *p = l->out + l->out_len;
    l->out_len += len;
    return p;
}

/* Append one v2 record; body is copied unless NULL (then the caller fills it). */
static uint8_t *emit(struct xg_legacy *l, uint32_t type, const void *body, uint32_t len)
{
    size_t pad = (8 - len % 8) % 8;
    uint8_t *p = out_room(l, 8 + (size_t)len + pad);
    if (!p) {
        xg_diag_err(l->d, XG_E_NOMEM, NULL, "out of memory converting a legacy image");
        return NULL;
    }
    xg__put_le32(p, type);
    xg__put_le32(p + 4, len);
    if (body && len)
        memcpy(p + 8, body, len);
    memset(p + 8 + len, 0, pad);
    return p + 8;
}

/* ------------------------------------------------------------ stages */

/*
 * The extended-info section, after p2m_size: its blocks give the guest's
 * width ("vcpu": the size of vcpu0's context), whether extended vcpu
 * state follows each context ("extv") and the size of the xsave state
 * ("xcnt").
 */
static int read_extended_info(struct xg_legacy *l)
{
    int rc;
    uint64_t marker;
    if ((rc = in_word(l, &marker, "the extended-info marker")) < 0)
        return rc;
    if (marker != (l->word == 8 ? ~0ULL : 0xffffffffULL))
        return bad(l, XG_E_UNSUPPORTED,
                   "no extended-info block (marker %#llx): an HVM image, or a PV image from "
                   "before Xen 3.0, which xg does not read",
                   (unsigned long long)marker);
    uint32_t total = 0, so_far = 0;
    if ((rc = in_u32(l, &total, "the extended-info length")) < 0)
        return rc;
    if (total > (1U << 20))
        return bad(l, XG_E_CORRUPT, "extended info of %u bytes is implausibly large", total);
    uint8_t *vcpu0 = NULL;
    while (so_far < total) {
        /* Each bound is checked before so_far moves: so_far never passes total, so
         * total - so_far cannot wrap into a bound that admits any size. */
        if (total - so_far < 8) {
            rc = bad(l, XG_E_CORRUPT,
                     "the %u-byte extended-info section ends inside a block header "
                     "(%u bytes left)",
                     total, total - so_far);
            goto fail;
        }
        uint8_t hdr[8];
        if ((rc = in_exact(l, hdr, 8, "an extended-info block header")) < 0)
            goto fail;
        uint32_t size = xg__le32(hdr + 4);
        so_far += 8;
        if (size > total - so_far) {
            rc = bad(l, XG_E_CORRUPT,
                     "extended-info block \"%.4s\" of %u bytes overruns its %u-byte section",
                     (const char *)hdr, size, total);
            goto fail;
        }
        uint8_t *data = malloc(size ? size : 1);
        if (!data) {
            rc = xg_diag_err(l->d, XG_E_NOMEM, NULL, "out of memory");
            goto fail;
        }
        if ((rc = in_exact(l, data, size, "an extended-info block")) < 0) {
            free(data);
            goto fail;
        }
        so_far += size;
        if (!memcmp(hdr, "vcpu", 4)) {
            if (size == XG_VCPU_CTX64_SIZE)
                l->width = 8, l->levels = 4;
            else if (size == XG_VCPU_CTX32_SIZE)
                l->width = 4, l->levels = 3; /* as Xen's converter; 2-level guests are told apart
                                               * later, from the tables (pv/levels.c) */
            else {
                free(data);
                rc = bad(l, XG_E_CORRUPT,
                         "the \"vcpu\" block of %u bytes is neither a 64-bit (5168) nor a "
                         "32-bit (2800) vcpu context",
                         size);
                goto fail;
            }
            l->basic_len = size;
            free(vcpu0);
            vcpu0 = data;
            continue;
        }
        if (!memcmp(hdr, "extv", 4))
            l->extv = true;
        else if (!memcmp(hdr, "xcnt", 4) && size >= 4)
            l->xsave_len = xg__le32(data);
        else if (memcmp(hdr, "xcnt", 4)) {
            /* Xen 3.x's own restore skipped unknown blocks; so do we. */
        }
        free(data);
    }
    free(vcpu0);
    if (!l->width)
        return bad(l, XG_E_CORRUPT,
                   "the extended info has no \"vcpu\" block: the guest's width is unknown");
    if (l->xsave_len && (l->xsave_len < 16 || l->xsave_len > (1U << 20)))
        return bad(l, XG_E_CORRUPT, "xsave size %u is implausible", l->xsave_len);
    return 0;
fail:
    free(vcpu0);
    return rc;
}

static int headers(struct xg_legacy *l)
{
    uint8_t *ih = out_room(l, IHDR_SIZE + DHDR_SIZE);
    if (!ih)
        return xg_diag_err(l->d, XG_E_NOMEM, NULL, "out of memory");
    memset(ih, 0, IHDR_SIZE + DHDR_SIZE);
    xg__put_be64(ih, IHDR_MARKER);
    xg__put_be32(ih + 8, IHDR_ID);
    xg__put_be32(ih + 12, XG_STREAM_VERSION);
    /*
     * Domain header: x86 PV, 4 KiB pages, "Xen 0.1": converted from a
     * legacy image, as Xen's converter says.
     */
    xg__put_le32(ih + IHDR_SIZE, XG_DOMAIN_X86_PV);
    xg__put_le16(ih + IHDR_SIZE + 4, XG_PAGE_SHIFT);
    xg__put_le32(ih + IHDR_SIZE + 12, 1);

    int rc = in_word(l, &l->p2m_size, "p2m_size");
    if (rc < 0)
        return rc;
    if (l->p2m_size == 0 || l->p2m_size > XG_LEGACY_MAX_PFNS)
        return bad(l, XG_E_CORRUPT, "p2m_size %#llx is not a plausible number of pfns",
                   (unsigned long long)l->p2m_size);
    if ((rc = read_extended_info(l)) < 0)
        return rc;
    uint8_t info[8] = { (uint8_t)l->width, (uint8_t)l->levels };
    if (!emit(l, XG_REC_X86_PV_INFO, info, 8) || !emit(l, XG_REC_STATIC_DATA_END, NULL, 0))
        return XG_E_NOMEM;

    /* The pfns of the p2m frames. */
    uint64_t fpp = 4096 / l->width, nr = (l->p2m_size - 1) / fpp + 1;
    uint8_t *body = emit(l, XG_REC_X86_PV_P2M_FRAMES, NULL, (uint32_t)(8 + nr * 8));
    if (!body)
        return XG_E_NOMEM;
    xg__put_le32(body, 0);
    xg__put_le32(body + 4, (uint32_t)(l->p2m_size - 1));
    for (uint64_t i = 0; i < nr; i++) {
        uint64_t pfn;
        if ((rc = in_word(l, &pfn, "the p2m frame list")) < 0)
            return rc;
        xg__put_le64(body + 8 + 8 * i, pfn);
    }
    l->stage = ST_CHUNKS;
    return 0;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Keep the machine frame of an XTAB|mfn entry, for the restore to name (up to a bound). */
static int note_unmappable(struct xg_legacy *l, uint32_t mfn)
{
    if (!l->info)
        return 0;
    l->info->legacy_unmappable++;
    if (l->nr_unmappable == l->cap_unmappable) {
        if (l->cap_unmappable == LEGACY_MAX_UNMAPPABLE)
            return 0;
        size_t cap = l->cap_unmappable ? l->cap_unmappable * 2 : 64;
        uint32_t *p = realloc(l->unmappable, cap * sizeof(uint32_t));
        if (!p)
            return xg_diag_err(l->d, XG_E_NOMEM, NULL, "out of memory");
        l->unmappable = p;
        l->cap_unmappable = cap;
    }
    l->unmappable[l->nr_unmappable++] = mfn;
    l->info->legacy_unmappable_mfns = l->unmappable;
    l->info->legacy_nr_unmappable_mfns = l->nr_unmappable;
    return 0;
}

static int page_batch(struct xg_legacy *l, int32_t n)
{
    if (n > (int32_t)LEGACY_MAX_BATCH)
        return bad(l, XG_E_CORRUPT, "page batch of %d pages exceeds the maximum of %u", n,
                   LEGACY_MAX_BATCH);
    uint64_t sorted[LEGACY_MAX_BATCH], entries[LEGACY_MAX_BATCH];
    unsigned count = 0, nr_data = 0;
    for (int32_t i = 0; i < n; i++) {
        uint64_t w;
        int rc = in_word(l, &w, "a page batch's pfn list");
        if (rc < 0)
            return rc;
        /* The old saver left XTAB entries for pfn 0 where it could not map: drop them. */
        if (w == LEGACY_XTAB_PFN0)
            continue;
        /* The legacy saver packed the type into bits 28-31 of a 28-bit pfn. */
        if (w >> 32)
            return bad(l, XG_E_CORRUPT, "page batch word %#llx has bits above 31 set",
                       (unsigned long long)w);
        uint32_t type = (uint32_t)(w & 0xf0000000U);
        /*
         * Xen 3.x's saver wrote a frame it could not map (its dom0's privcmd refused it) as
         * XTAB | mfn: the machine frame, never turned into a pfn, and no data.  Beyond the
         * p2m it names no pfn of the guest; the page is simply lost, as Xen 3.x's restore
         * treated it (it skipped every XTAB entry).  Count it: the restore explains it.
         */
        if (type == XG_PFINFO_XTAB && (w & 0x0fffffff) >= l->p2m_size) {
            if ((rc = note_unmappable(l, (uint32_t)(w & 0x0fffffff))) < 0)
                return rc;
            continue;
        }
        if (!xg_pfinfo_known(type))
            return bad(l, XG_E_CORRUPT, "pfn %#llx has the reserved type %s",
                       (unsigned long long)(w & 0x0fffffff), xg_pfinfo_name(type));
        sorted[count] = w & 0x0fffffff;
        entries[count++] = xg_pd_entry(w & 0x0fffffff, type);
        if (xg_pfinfo_has_data(type))
            nr_data++;
    }
    qsort(sorted, count, sizeof(uint64_t), cmp_u64);
    for (unsigned i = 1; i < count; i++)
        if (sorted[i] == sorted[i - 1])
            return bad(l, XG_E_CORRUPT, "pfn %#llx appears twice in one page batch",
                       (unsigned long long)sorted[i]);
    if (!count)
        return 0;
    uint8_t *body = emit(l, XG_REC_PAGE_DATA, NULL, 8 + count * 8 + nr_data * XG_PAGE_SIZE);
    if (!body)
        return XG_E_NOMEM;
    xg__put_le32(body, count);
    xg__put_le32(body + 4, 0);
    for (unsigned i = 0; i < count; i++)
        xg__put_le64(body + 8 + 8 * i, entries[i]);
    return in_exact(l, body + 8 + count * 8, (size_t)nr_data * XG_PAGE_SIZE,
                    "a page batch's contents");
}

static int vcpu_info_chunk(struct xg_legacy *l)
{
    uint32_t max_id;
    int rc = in_u32(l, &max_id, "the VCPU_INFO chunk");
    if (rc < 0)
        return rc;
    if ((int32_t)max_id < 0 || (int32_t)max_id > LEGACY_MAX_VCPU_ID)
        return bad(l, XG_E_CORRUPT, "vcpu max id %d out of range (0..%d)", (int32_t)max_id,
                   LEGACY_MAX_VCPU_ID);
    free(l->online);
    l->online = calloc(max_id + 1, sizeof(uint64_t));
    l->nr_online = 0;
    if (!l->online)
        return xg_diag_err(l->d, XG_E_NOMEM, NULL, "out of memory");
    for (uint32_t w = 0; w <= max_id / 64; w++) {
        uint64_t bits;
        if ((rc = in_u64(l, &bits, "the VCPU_INFO bitmap")) < 0)
            return rc;
        for (unsigned b = 0; b < 64; b++)
            if ((bits >> b) & 1 && w * 64 + b <= max_id)
                l->online[l->nr_online++] = w * 64 + b;
    }
    return 0;
}

static int chunk(struct xg_legacy *l)
{
    uint32_t raw;
    int rc = in_u32(l, &raw, "a chunk marker");
    if (rc < 0)
        return rc;
    int32_t marker = (int32_t)raw;
    if (marker > 0)
        return page_batch(l, marker);
    uint8_t tmp[24];
    switch (marker) {
    case 0:
        l->stage = ST_TAIL;
        return 0;
    case -1: /* ENABLE_VERIFY_MODE */
        return emit(l, XG_REC_VERIFY, NULL, 0) ? 0 : XG_E_NOMEM;
    case -2:
        return vcpu_info_chunk(l);
    case -7: { /* TSC_INFO: u32 mode, u64 nsec, u32 khz, u32 incarnation (packed) */
        if ((rc = in_exact(l, tmp, 20, "the TSC_INFO chunk")) < 0)
            return rc;
        uint8_t t[24] = { 0 };
        xg__put_le32(t, xg__le32(tmp));           /* mode */
        xg__put_le32(t + 4, xg__le32(tmp + 12));  /* khz */
        xg__put_le64(t + 8, xg__le64(tmp + 4));   /* nsec */
        xg__put_le32(t + 16, xg__le32(tmp + 16)); /* incarnation */
        return emit(l, XG_REC_X86_TSC_INFO, t, 24) ? 0 : XG_E_NOMEM;
    }
    case -9: /* LAST_CHECKPOINT */
        return 0;
    case -18: { /* TOOLSTACK: toolstack data, not ours */
        uint32_t size;
        if ((rc = in_u32(l, &size, "the TOOLSTACK chunk")) < 0)
            return rc;
        if (size > (16U << 20))
            return bad(l, XG_E_CORRUPT, "toolstack chunk of %u bytes is implausibly large", size);
        for (uint32_t left = size; left;) {
            uint8_t buf[4096];
            uint32_t k = XG_MIN(left, (uint32_t)sizeof(buf));
            if ((rc = in_exact(l, buf, k, "the TOOLSTACK chunk")) < 0)
                return rc;
            left -= k;
        }
        return 0;
    }
    case -3:
    case -4:
    case -8:
    case -10:
    case -11:
    case -14:
    case -15:
    case -16:
    case -17:
    case -19:
    case -20:
        return bad(l, XG_E_CORRUPT, "chunk %d belongs to HVM images, not to a PV one", marker);
    case -5:
    case -6:
        return bad(l, XG_E_UNSUPPORTED, "chunk %d (tmem) is not supported", marker);
    case -12:
    case -13:
        return bad(l, XG_E_UNSUPPORTED, "chunk %d: Remus-compressed page data is not supported",
                   marker);
    default:
        return bad(l, XG_E_CORRUPT, "unknown chunk %d", marker);
    }
}

static int tail(struct xg_legacy *l)
{
    uint32_t unmapped;
    int rc = in_u32(l, &unmapped, "the unmapped-pfn count");
    if (rc < 0)
        return rc;
    if (unmapped > l->p2m_size)
        return bad(l, XG_E_CORRUPT, "%u unmapped pfns in a guest of %llu pfns", unmapped,
                   (unsigned long long)l->p2m_size);
    for (uint32_t i = 0; i < unmapped; i++) {
        uint64_t pfn;
        if ((rc = in_word(l, &pfn, "the unmapped-pfn list")) < 0)
            return rc;
    }
    static const uint64_t vcpu0_only[1] = { 0 };
    const uint64_t *ids = l->online ? l->online : vcpu0_only;
    unsigned nr = l->online ? l->nr_online : 1;
    for (unsigned i = 0; i < nr; i++) {
        uint8_t *body = emit(l, XG_REC_X86_PV_VCPU_BASIC, NULL, 8 + l->basic_len);
        if (!body)
            return XG_E_NOMEM;
        xg__put_le32(body, (uint32_t)ids[i]);
        xg__put_le32(body + 4, 0);
        if ((rc = in_exact(l, body + 8, l->basic_len, "a vcpu context")) < 0)
            return rc;
        if (l->extv) {
            if (!(body = emit(l, XG_REC_X86_PV_VCPU_EXTENDED, NULL, 8 + LEGACY_EXTV_SIZE)))
                return XG_E_NOMEM;
            xg__put_le32(body, (uint32_t)ids[i]);
            xg__put_le32(body + 4, 0);
            if ((rc = in_exact(l, body + 8, LEGACY_EXTV_SIZE, "an extended vcpu context")) < 0)
                return rc;
        }
        if (l->xsave_len) {
            uint64_t mask, size;
            if ((rc = in_u64(l, &mask, "an xsave header")) < 0 ||
                (rc = in_u64(l, &size, "an xsave header")) < 0)
                return rc;
            if (size != l->xsave_len - 16)
                return bad(l, XG_E_CORRUPT, "xsave area of %llu bytes where \"xcnt\" announced %u",
                           (unsigned long long)size, l->xsave_len - 16);
            if (!(body = emit(l, XG_REC_X86_PV_VCPU_XSAVE, NULL, (uint32_t)(8 + size))))
                return XG_E_NOMEM;
            xg__put_le32(body, (uint32_t)ids[i]);
            xg__put_le32(body + 4, 0);
            if ((rc = in_exact(l, body + 8, size, "an xsave area")) < 0)
                return rc;
        }
    }
    uint8_t *shinfo = emit(l, XG_REC_SHARED_INFO, NULL, XG_SHINFO_SIZE);
    if (!shinfo)
        return XG_E_NOMEM;
    if ((rc = in_exact(l, shinfo, XG_SHINFO_SIZE, "the shared info page")) < 0)
        return rc;
    if (!emit(l, XG_REC_END, NULL, 0))
        return XG_E_NOMEM;
    l->stage = ST_DONE;
    return 0;
}

/* ------------------------------------------------------------ interface */

int xg__legacy_open(xg_raw_read_fn read, void *arg, unsigned toolstack_word, uint64_t file_off,
                    xg_diag *d, struct xg_legacy **out)
{
    *out = NULL;
    struct xg_legacy *l = calloc(1, sizeof(*l));
    if (!l)
        return xg_diag_err(d, XG_E_NOMEM, NULL, "out of memory");
    l->read = read;
    l->arg = arg;
    l->d = d;
    l->word = toolstack_word;
    l->in_off = file_off;
    *out = l;
    return 0;
}

ssize_t xg__legacy_read(struct xg_legacy *l, void *buf, size_t len)
{
    size_t done = 0;
    while (done < len) {
        if (l->out_pos == l->out_len) {
            l->out_pos = l->out_len = 0;
            if (l->stage == ST_DONE)
                break;
            int rc;
            switch (l->stage) {
            case ST_HEADERS:
                rc = headers(l);
                break;
            case ST_CHUNKS:
                rc = chunk(l);
                break;
            default:
                rc = tail(l);
                break;
            }
            if (rc < 0)
                return rc;
            continue;
        }
        size_t k = XG_MIN(len - done, l->out_len - l->out_pos);
        memcpy((uint8_t *)buf + done, l->out + l->out_pos, k);
        l->out_pos += k;
        done += k;
    }
    return (ssize_t)done;
}

void xg__legacy_report_unmappable(struct xg_legacy *l, struct xg_stream_info *info)
{
    l->info = info;
}

void xg__legacy_close(struct xg_legacy *l)
{
    if (!l)
        return;
    if (l->info) {
        l->info->legacy_unmappable_mfns = NULL;
        l->info->legacy_nr_unmappable_mfns = 0;
    }
    free(l->unmappable);
    free(l->online);
    free(l->out);
    free(l);
}
