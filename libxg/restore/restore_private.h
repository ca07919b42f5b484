/*
 * restore_private.h - the state of one restore, shared by restore.c (the
 * stream: records, frames, page data) and restore_finish.c (validation,
 * localisation, fix-ups, pins, vcpus).  The same state serves the offline
 * image check, with no hypervisor and page tables kept in memory.
 */
#ifndef XG_RESTORE_PRIVATE_H
#define XG_RESTORE_PRIVATE_H

#include <stdarg.h>

#include "internal.h"
#include "pv/pv.h"
#include "stream/stream_private.h"
#include "xg/restore.h"
#include "xg/stream.h"

/* Largest pfn space a restore takes on (256 GiB of guest): bounds its own memory. */
#define XG_RESTORE_MAX_PFNS (1ULL << 26)

struct vcpu_stash {
    bool present;
    uint8_t basic[XG_VCPU_CTX_MAX];
    void *blob[3]; /* EXTENDED, XSAVE, MSRS */
    uint32_t blob_len[3];
};

struct restore_ctx {
    xg_hv *hv; /* NULL: offline check */
    xg_diag *d;
    const struct xg_restore_params *p;
    const struct xg_restore_callbacks *cb;
    struct xg_restore_result *res;
    xg_stream_reader *r;

    uint32_t domid;
    bool have_domain; /* created or checked: pages may be populated */
    bool created;
    struct xg_domain_info dinfo;

    bool have_pv_info;
    unsigned width, levels;
    bool have_p2m_frames;
    uint64_t declared_max_pfn; /* from X86_PV_P2M_FRAMES */
    uint64_t *p2m_pfns;
    unsigned long *p2m_frame_bits; /* offline: which pfns are p2m frames (kept in memory) */
    unsigned nr_p2m;

    /* Per pfn, grown as pfns arrive (calloc'ed: untouched parts cost nothing). */
    uint64_t cap;     /* entries allocated */
    uint64_t max_pfn; /* highest pfn seen */
    bool any_pfn;
    uint64_t *mfn1;        /* mfn + 1; 0 = no frame */
    uint8_t *type1;        /* XG_PFINFO nibble + 1; 0 = never sent; | RC_GDT_REFUSED */
    bool tables_in_memory; /* no domain to hold them (offline, --check): keep tables here */
    uint64_t **tables;     /* normalised tables kept in memory, when tables_in_memory */

    struct vcpu_stash *vcpu;
    unsigned nr_vcpus; /* stash entries (max vcpu id seen + 1) */
    uint8_t shinfo[XG_SHINFO_SIZE];
    bool have_shinfo;
    struct xg_rec_tsc_info tsc;
    bool have_tsc;
    bool verify;                 /* after a VERIFY record: compare, do not write */
    bool static_done;            /* static data ended (callback made, policies applied) */
    struct xg_cpuid_leaf *cpuid; /* X86_CPUID_POLICY, until static data ends */
    uint32_t nr_cpuid;
    struct xg_msr_entry *msr; /* X86_MSR_POLICY */
    uint32_t nr_msr;
    uint64_t verify_mismatches;

    /* Batch buffers (XG_MAX_BATCH). */
    uint64_t *b_pfns, *b_mfns;
    void **b_pages;
    int *b_errs;

    uint64_t *pinned; /* mfns pinned so far, for the rollback */
    size_t nr_pinned;
    unsigned vcpus_set; /* vcpu contexts set: they hold type references on their tables */

    double t0;
    uint64_t pages_done;
};

/* Informational line through the log callback (util/log.c: one for both engines). */
#define xg__restore_log(c, ...) \
    xg__log_line((c)->cb ? (c)->cb->log : NULL, (c)->cb ? (c)->cb->arg : NULL, __VA_ARGS__)
/* common.c, at the bottom of the engine: progress through the callback. */
void xg__restore_progress(struct restore_ctx *c, const char *phase, uint64_t done, uint64_t total);
/*
 * Frames for n (<= XG_MAX_BATCH) pfns in one XENMEM_populate_physmap, as
 * Xen's restore allocates them (one call per record, xg_sr_restore.c
 * populate_pfns): recorded in c->mfn1 and counted in c->res->pages.  The
 * frames also land in c->b_mfns, so pfns must not be c->b_mfns.  Errors:
 * the op's; the frames given before it stopped are recorded and counted
 * all the same (the domain holds them), the other pfns have none.
 */
int XG_MUST_CHECK xg__restore_populate(struct restore_ctx *c, const uint64_t *pfns, unsigned n);
/* Benches and tests only: copy page contents through the reader's buffer, as before. */
extern bool xg__restore_bounce_buffer;

static inline uint64_t rc_mfn(const struct restore_ctx *c, uint64_t pfn)
{
    return pfn < c->cap && c->mfn1[pfn] ? c->mfn1[pfn] - 1 : ~0ULL;
}

/* Offline, in type1: an ordinary page Xen's check_descriptor would refuse as a GDT frame. */
#define RC_GDT_REFUSED 0x80

static inline uint32_t rc_type(const struct restore_ctx *c, uint64_t pfn)
{
    unsigned t = pfn < c->cap ? c->type1[pfn] & ~RC_GDT_REFUSED : 0;
    return t ? (uint32_t)(t - 1) << XG_PFINFO_SHIFT : XG_PFINFO_XTAB;
}

/* restore_finish.c: everything after END. */
int xg__restore_finish(struct restore_ctx *c);
/* Undo what the finish did when it failed: unpin everything pinned. */
/* Unpin what this restore pinned.  0, or XG_E_HV with a warning naming what stays pinned. */
int XG_MUST_CHECK xg__restore_unpin_all(struct restore_ctx *c);

#endif
