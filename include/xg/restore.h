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
    uint32_t domid;          /* the empty domain to restore into (unless create) */
    bool create;             /* create the domain first */
    unsigned create_vcpus;   /* with create: vcpus of the new domain (0: 16) */
    /* Event channels for xenstore and the console (-1: allocate / ask the domain). */
    int store_evtchn, console_evtchn;
    uint32_t store_domid, console_domid; /* the back ends' domain (0) */
    bool check_only;         /* read and validate the image; create, populate and pin nothing */
    bool raw_only;           /* the fd carries one bare libxc stream (libxl): no gzip/xl/libxl */
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
    uint32_t cr3_type;        /* XG_PFINFO_*; XTAB when cr3 is beyond the image */
    bool has_user;            /* 64-bit guests: ctrlreg[1], the user-mode top-level table */
    uint64_t user_pfn;
    uint32_t user_type;
};
#define XG_RESTORE_SUMMARY_VCPUS 64

struct xg_restore_result {
    bool check_only;          /* a check: nothing was created, populated, pinned or set */
    uint32_t domid;
    bool created;
    uint64_t store_mfn, console_mfn;  /* as xend and libxl read them */
    int store_evtchn, console_evtchn;
    struct xg_stream_info image;
    unsigned guest_width, pt_levels;
    uint64_t max_pfn;
    uint64_t pages;           /* frames populated */
    uint64_t by_type[16];     /* pfns by recorded type nibble */
    uint64_t tables;          /* page tables in the image */
    uint64_t tables_live;     /* reachable from a pin or a cr3: what Xen validates */
    uint64_t tables_stale;    /* reachable from nothing: never validated */
    uint64_t pinned;          /* pins made */
    unsigned nr_vcpus;        /* vcpu contexts set */
    unsigned image_vcpus;     /* vcpu contexts in the image */
    unsigned nr_vcpu_summary; /* entries of vcpu[]: the first image vcpus, up to XG_RESTORE_SUMMARY_VCPUS */
    struct xg_restore_vcpu vcpu[XG_RESTORE_SUMMARY_VCPUS];
    uint64_t records, bytes;
    double seconds, validate_seconds;
};

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
int xg_restore(xg_hv *hv, int fd, const struct xg_restore_params *params, const struct xg_restore_callbacks *cb,
               struct xg_restore_result *res, xg_diag *d);

/*
 * Check an image offline (no hypervisor): read it fully and run the same
 * validation as xg_restore.  Returns 0 when the image would restore.
 */
int xg_image_check(int fd, const struct xg_restore_callbacks *cb, struct xg_restore_result *res, xg_diag *d);

#ifdef __cplusplus
}
#endif
#endif
