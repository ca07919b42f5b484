/*
 * xen_private.h - the real Xen backend's entry points (built only with
 * --with-xen; see libxg/hv/xen.c and docs/xen-backend.md).
 *
 * Nothing here includes Xen's headers, so tests and hv.c can use it
 * without libxen-dev's include paths.
 */
#ifndef XG_HV_XEN_PRIVATE_H
#define XG_HV_XEN_PRIVATE_H

#include "xg/hv.h"

#ifdef XG_HAVE_XEN
/*
 * Open the real Xen backend: libxenctrl, libxenforeignmemory and (when it
 * runs) xenstore; the event channel device is opened on first use.  On a
 * machine that is not a Xen dom0 this fails with one finding that says so
 * and how to use a simulated host instead; nothing is printed.
 */
int xg_xen_open(xg_diag *d, xg_hv **out);

/* The ops table (for tests: every member but frame_owner is set). */
extern const struct xg_hv_ops xg_xen_ops;
#endif

#endif
