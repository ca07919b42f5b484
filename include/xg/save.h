/*
 * xg/save.h - save an x86 PV guest as a libxc migration stream v2.
 *
 * The engine runs on any backend (xg/hv.h).  It canonicalises every page
 * table from machine to guest frame numbers, records each page's type as
 * Xen reports it, and refuses to write an image that cannot restore (a
 * frame it cannot map read-only, a table entry naming a frame the guest
 * does not own, a superpage, a cr3 that is not a top-level table),
 * saying which page, slot and entry, and why.
 *
 * On failure the guest is left as it was: log-dirty mode is turned off,
 * a guest the save suspended is resumed (unless the toolstack resumes
 * it: toolstack_resumes), and nothing stays mapped.  On
 * success a plain save leaves the guest suspended, as Xen's does: the
 * toolstack destroys it (migration) or resumes it (checkpoint).
 */
#ifndef XG_SAVE_H
#define XG_SAVE_H

#include <stdbool.h>
#include <stdint.h>

#include "xg/diag.h"
#include "xg/hv.h"

#ifdef __cplusplus
extern "C" {
#endif

struct xg_save_params {
    bool live;          /* pre-copy with log-dirty before suspending */
    unsigned max_iters; /* live: most passes before suspending (0: 29, as xc_save's default) */
    double max_factor;  /* live: stop when pages sent exceed this times the guest (0: 3) */
    unsigned min_dirty; /* live: suspend once fewer pages are dirty (0: 50) */
    bool compress;      /* gzip the whole stream */
    int compress_level; /* zlib level 1..9, 0: 1 (fast) */
    unsigned compress_threads;   /* compressing threads, 0: one per online CPU */
    bool check_only;             /* pre-flight check: report, change nothing, write nothing */
    bool debug;                  /* XCFLAGS_DEBUG: send VERIFY and every page again */
    unsigned suspend_timeout_ms; /* 0: 60 s */
    /*
     * On failure, leave a guest this save suspended as it is (log-dirty
     * still off, nothing mapped) for the toolstack to resume: libxl does
     * (xl's "Failed to save domain, resuming domain"), and Xen's resume
     * of a running guest fails.  Default: the engine resumes it.
     */
    bool toolstack_resumes;
};

/* Figures of a save, per pass and in all. */
#define XG_SAVE_MAX_ITERS 64
struct xg_save_iteration {
    uint64_t sent;  /* pages sent in this pass */
    uint64_t dirty; /* pages dirtied during it (left for the next) */
    double seconds;
};

struct xg_save_stats {
    uint64_t nr_pfns;     /* max_pfn + 1 */
    uint64_t pages_sent;  /* all passes, data-bearing pages */
    uint64_t pages_final; /* sent after the guest was suspended */
    uint64_t by_type[16]; /* last type recorded per pfn, by XG_PFINFO nibble */
    uint64_t pinned;      /* tables recorded as pinned */
    uint64_t invalid;     /* pfns sent as XTAB (ballooned out, not backed) */
    unsigned iterations;  /* passes over memory */
    struct xg_save_iteration iter[XG_SAVE_MAX_ITERS];
    unsigned nr_vcpus;
    uint64_t bytes; /* stream bytes written */
    double seconds;
    /* The pre-flight check of a running guest (--check): findings re-checked, those that had
     * changed while the guest ran, and the longest pause of the domain to confirm the rest
     * (a batch of findings per pause). */
    uint64_t check_suspects, check_changed;
    double check_pause_ms;
};

/* Progress, for a bar: pages done of total in this pass. */
struct xg_progress {
    const char *phase;  /* "memory", "final pass", "vcpus", "restore", "validate", "pin" */
    unsigned iteration; /* 1-based pass number (live saves) */
    uint64_t done, total;
    uint64_t bytes;
    double seconds;
};

struct xg_save_callbacks {
    /*
     * Suspend the guest, the toolstack's way (xend: print "suspend" and
     * wait for "done").  Return 0 once it is suspended.  NULL: ask the
     * backend (xg_hv_suspend).  The engine checks the domain really is
     * shut down with reason suspend afterwards.
     */
    int (*suspend)(void *arg, xg_diag *d);
    void (*progress)(void *arg, const struct xg_progress *p);
    /* Informational lines (what was done and why); NULL to drop them. */
    void (*log)(void *arg, const char *line);
    void *arg;
};

/*
 * Save domain domid to fd (not closed).  stats may be NULL.  Returns 0 or
 * a negative XG_E_*, with the reasons in d.  With params->check_only fd
 * is not used (pass -1) and the guest is not suspended: every finding of
 * the pre-flight check is in d, and the return is XG_E_GUEST when any is
 * an error.
 */
int xg_save(xg_hv *hv, uint32_t domid, int fd, const struct xg_save_params *params,
            const struct xg_save_callbacks *cb, struct xg_save_stats *stats, xg_diag *d);

#ifdef __cplusplus
}
#endif
#endif
