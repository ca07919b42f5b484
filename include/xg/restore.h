/*
 * xg/restore.h - restore an x86 PV guest from a libxc migration stream v2.
 *
 * The image is read record by record with bounded memory.  Before anything
 * is pinned, its page tables are checked in PFN space exactly as Xen will
 * check them when they are pinned and the vcpus set: every violation is
 * collected and explained (which page, slot and entry, what Xen would log,
 * the likely cause), and the restore stops before the first pin.  Only an
 * image that passes is localised and pinned, in dependency order (lower
 * levels first, and the target of every linear entry before the table
 * holding it).
 *
 * On failure nothing stays pinned and the domain is left destroyable (a
 * domain the restore created itself is destroyed).  On success the domain
 * is left paused, for the toolstack to unpause.
 */
#ifndef XG_RESTORE_H
#define XG_RESTORE_H

#include <stdbool.h>
#include <stdint.h>

#include "xg/diag.h"
#include "xg/hv.h"
#include "xg/save.h"
#include "xg/stream.h"

#ifdef __cplusplus
extern "C" {
#endif

struct xg_restore_params {
    uint32_t domid;        /* the empty domain to restore into (unless create) */
    bool create;           /* create the domain first */
    unsigned create_vcpus; /* with create: vcpus of the new domain (0: 16) */
    /* Event channels for xenstore and the console (-1: allocate / ask the domain). */
    int store_evtchn, console_evtchn;
    uint32_t store_domid, console_domid; /* the back ends' domain (0) */
    bool check_only; /* read and validate the image; create, populate and pin nothing */
    bool raw_only;   /* the fd carries one bare libxc stream (libxl): no gzip/xl/libxl */
    /*
     * Pin in pfn order, as Xen 4.17's own restore does, instead of in
     * dependency order.  For comparison only: guests whose tables hold
     * linear entries to each other (NetBSD) then fail to pin.
     */
    bool pin_in_pfn_order;
};

/* The page tables a vcpu of the image starts on (pfns; types as the image records them). */
struct xg_restore_vcpu {
    uint32_t id;
    uint64_t cr3_pfn;
    uint32_t cr3_type; /* XG_PFINFO_*; XTAB when cr3 is beyond the image */
    bool has_user;     /* 64-bit guests: ctrlreg[1], the user-mode top-level table */
    uint64_t user_pfn;
    uint32_t user_type;
};
#define XG_RESTORE_SUMMARY_VCPUS 64

/*
 * The paging mode of a 32-bit guest, as the image's evidence shows it.
 * Migration stream v2 (and Xen's convert-legacy-stream) take every 32-bit
 * guest for 3-level PAE; a legacy image of a 2-level (non-PAE) guest is told
 * apart by its types (cr3 an L2, no L3 anywhere), its start info's magic
 * ("xen-3.0-x86_32", no "p") and its tables' contents (1024 32-bit entries).
 */
enum xg_paging {
    XG_PAGING_NONE = 0, /* not decided: a 64-bit guest, or no evidence either way */
    XG_PAGING_PAE,      /* 3 levels, as the image says */
    XG_PAGING_2LEVEL,   /* 2 levels (non-PAE): no current Xen can restore it */
    XG_PAGING_CONFLICT, /* the evidence disagrees (taken as PAE, as before) */
};
struct xg_paging_evidence {
    enum xg_paging verdict;
    unsigned magic_levels;   /* start info's magic says: 2, 3, or 0 (unknown) */
    unsigned cr3_l2, cr3_l3; /* vcpus whose cr3 the image types L2 / L3 */
    uint64_t fit_2level;     /* tables whose contents read only as 1024 32-bit entries */
    uint64_t fit_either;     /* tables whose contents read either way (PAE tables do) */
    char why[600];           /* the evidence in words; for a conflict, what conflicts */
};

/* Page tables the saving host could not map (the 2008 failure), as the image shows it. */
enum xg_confidence {
    XG_CONF_NONE = 0,
    XG_CONF_LOW,
    XG_CONF_MEDIUM,
    XG_CONF_HIGH
};
struct xg_lost_tables {
    enum xg_confidence confidence; /* NONE: no such pattern */
    unsigned vcpus;          /* vcpus whose cr3 the image records untyped (invalid or ordinary) */
    uint64_t unmappable;     /* legacy: batch entries written as XTAB | mfn */
    uint64_t named;          /* ... of which the guest's p2m (in the image) names the pfn */
    uint64_t untyped_tables; /* pages recorded ordinary whose contents are page tables */
    char why[600];
    char xen_says[160]; /* what the saving host's Xen would have logged for cr3's table */
};

struct xg_restore_result {
    bool check_only; /* a check: nothing was created, populated, pinned or set */
    uint32_t domid;
    bool created;
    uint64_t store_mfn, console_mfn; /* as xend and libxl read them */
    int store_evtchn, console_evtchn;
    struct xg_stream_info image;
    unsigned guest_width, pt_levels;
    uint64_t max_pfn;
    uint64_t pages;        /* frames populated */
    uint64_t by_type[16];  /* pfns by recorded type nibble */
    uint64_t tables;       /* page tables in the image */
    uint64_t tables_live;  /* reachable from a pin or a cr3: what Xen validates */
    uint64_t tables_stale; /* reachable from nothing: never validated */
    uint64_t pinned;       /* pins made */
    unsigned nr_vcpus;     /* vcpu contexts set */
    unsigned image_vcpus;  /* vcpu contexts in the image */
    /* Entries of vcpu[]: the first image vcpus, up to XG_RESTORE_SUMMARY_VCPUS. */
    unsigned nr_vcpu_summary;
    struct xg_restore_vcpu vcpu[XG_RESTORE_SUMMARY_VCPUS];
    uint64_t records, bytes;
    double seconds, validate_seconds;
    uint64_t tables_by_level[5];      /* [1..4]: pages the image types L1..L4 */
    struct xg_paging_evidence paging; /* 32-bit guests */
    struct xg_lost_tables lost;
};

/*
 * The verdict on a 2-level (non-PAE) image and what to do, as xg-inspect
 * and xc_restore say it: static strings, never freed.
 */
const char *xg_restore_two_level_verdict(void);
const char *xg_restore_two_level_advice(void);

/* Bits of xg_restore_callbacks.static_data_done's `missing`, as libxenguest's XGR_SDD_*. */
#define XG_SDD_MISSING_CPUID 1U
#define XG_SDD_MISSING_MSR 2U

struct xg_restore_callbacks {
    void (*progress)(void *arg, const struct xg_progress *p);
    void (*log)(void *arg, const char *line);
    /*
     * Called once, when the image's static data ends (STATIC_DATA_END, or
     * where a version 2 stream implies it), after the CPU policies it held
     * were applied; `missing` says which it lacked.  A non-zero return
     * stops the restore (libxl builds a default policy here).  May be NULL.
     */
    int (*static_data_done)(void *arg, unsigned missing);
    void *arg;
};

/*
 * Restore from fd into params->domid (or a new domain).  res may be NULL.
 * Returns 0 or a negative XG_E_* with every reason in d (XG_E_IMAGE when
 * the image's page tables would not pass Xen's checks).
 */
int xg_restore(xg_hv *hv, int fd, const struct xg_restore_params *params,
               const struct xg_restore_callbacks *cb, struct xg_restore_result *res, xg_diag *d);

/*
 * Check an image offline (no hypervisor): read it fully and run the same
 * validation as xg_restore.  Returns 0 when the image would restore.
 */
int xg_image_check(int fd, const struct xg_restore_callbacks *cb, struct xg_restore_result *res,
                   xg_diag *d);

#ifdef __cplusplus
}
#endif
#endif
