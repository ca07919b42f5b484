/*
 * save_private.h - the state of one save, shared by the files of the save engine.
 * Calls go one way: save.c (xg_save(), the orchestration) calls the phases,
 * check.c (the pre-flight check) and memory.c (the passes over memory); they and
 * save.c call p2m.c (finding the guest's memory, checking its p2m); everything
 * calls common.c (log, progress, vcpu frames, explaining findings), which calls
 * nothing of the engine.
 */
#ifndef XG_SAVE_PRIVATE_H
#define XG_SAVE_PRIVATE_H

#include <stdarg.h>

#include "internal.h"
#include "pv/pv.h"
#include "xg/save.h"
#include "xg/stream.h"

struct save_ctx {
    xg_hv *hv;
    uint32_t domid;
    xg_diag *d;
    const struct xg_save_params *p;
    const struct xg_save_callbacks *cb;
    struct xg_save_stats *st;

    struct xg_domain_state info; /* at setup: one question to the hypervisor */
    unsigned width, levels;
    const uint64_t *m2p;
    uint64_t nr_mfns, compat_mfn0;

    xg_hv_mapping *shinfo_map;
    const uint8_t *shinfo;

    /* The guest's p2m, mapped read-only for the whole save. */
    uint64_t max_pfn, nr_pfns;
    unsigned p2m_nr; /* frames holding the p2m */
    uint64_t *p2m_mfns, *p2m_pfns;
    xg_hv_mapping *p2m_map;
    const uint8_t **p2m_pages;
    bool linear_p2m;
    uint64_t p2m_generation;
    struct xg_pv_physmap pm;

    xg_stream_writer *w;
    bool logdirty_on;
    bool suspended;          /* by this save (directly or through the callback) */
    unsigned long *dirty;    /* pfns to send in the next pass */
    unsigned long *deferred; /* pfns that could not be sent yet (live passes) */
    uint8_t *last_type;      /* XG_PFINFO nibble last sent per pfn, 0xff = never */
    uint64_t *sent_mfn;      /* frame each pfn was last sent from (~0: sent as XTAB) */

    /* Batch buffers, XG_MAX_BATCH entries each. */
    uint64_t *b_pfns, *b_mfns, *b_entries;
    uint32_t *b_types;
    const void **b_pages;
    void **b_maps;
    int *b_errs;
    uint64_t *b_map_mfns;
    uint8_t *scratch; /* normalised tables of one batch */
    /*
     * The stream writer writes from a thread of its own: the previous
     * batch's record may still be going out from its frames and its
     * scratch while this batch is prepared.  They are let go once the
     * writer has passed held_mark.
     */
    uint8_t *scratch_spare;
    xg_hv_mapping *held_map;
    uint64_t held_mark;

    double t0;
    uint64_t pass_done, pass_total;
    unsigned iteration;
};

/*
 * common.c: the helpers at the bottom of the engine.  Every other file of the save calls
 * them; they call nothing above them.
 */
/* Informational line through the log callback (util/log.c: one for both engines). */
#define xg__save_log(c, ...) \
    xg__log_line((c)->cb ? (c)->cb->log : NULL, (c)->cb ? (c)->cb->arg : NULL, __VA_ARGS__)
void xg__save_progress(struct save_ctx *c, const char *phase);
/*
 * Read vcpu v's context into ctx (XG_VCPU_CTX_MAX bytes) and decode the frames it names
 * (machine frames, as the guest runs).  Returns the hypervisor's error (< 0), 0 with *f
 * filled, or 1 when the context does not decode, *why saying why.
 */
int xg__save_vcpu_read(struct save_ctx *c, unsigned v, uint8_t *ctx, struct xg_pv_vcpu_frames *f,
                       const char **why);
/* The guest's pfn of machine frame mfn, ~0 when the frame is not one of the guest's. */
uint64_t xg__save_guest_pfn(const struct save_ctx *c, uint64_t mfn);
/* What Xen's type_info of a live table of this type looks like (for "Xen would log"). */
uint64_t xg__save_nominal_type_info(uint32_t type);
/* Explain a frame the save could not map read-only. */
void xg__save_explain_map_error(struct save_ctx *c, uint64_t pfn, uint64_t mfn, uint32_t type,
                                int err, const char *what, enum xg_severity sev);
/* Explain a bad page-table entry found while normalising. */
void xg__save_explain_bad_entry(struct save_ctx *c, uint64_t pfn, unsigned level,
                                const struct xg_pv_bad *bad, enum xg_severity sev);

/* p2m.c: map shared info and the guest's p2m (linear list or frame-list tree). */
int xg__save_map_p2m(struct save_ctx *c);
void xg__save_unmap_p2m(struct save_ctx *c);
/* Re-read shared info: the guest must not have rebuilt its p2m meanwhile. */
int xg__save_check_p2m_generation(struct save_ctx *c);
/* Every p2m entry against the M2P; each bad pfn is a finding.  Returns the number of bad pfns. */
uint64_t xg__save_check_p2m(struct save_ctx *c, enum xg_severity sev);
/* One p2m entry: bad when it names a frame beyond the host or one the M2P gives another pfn. */
bool xg__save_p2m_bad(const struct save_ctx *c, uint64_t pfn, uint64_t *mfn);
void xg__save_explain_p2m(struct save_ctx *c, uint64_t pfn, uint64_t mfn, enum xg_severity sev);

/* Tests only: write the stream in the saving thread, as before the writer had a thread. */
extern bool xg__save_serial_writer;

/* memory.c: the passes over memory, live or not. */
int xg__save_memory(struct save_ctx *c);

/* check.c: everything that would make the image fail to restore. */
int xg__save_preflight(struct save_ctx *c);
/* Tests only: called between the check's phases ("types", "tables", "recheck", "confirm"). */
extern void (*xg__save_check_hook)(const char *phase, void *arg);
extern void *xg__save_check_hook_arg;

#endif
