/*
 * xen.c - the real Xen backend, over libxenctrl and libxenforeignmemory.
 *
 * Not written yet (issue 7): until it is, asking for it says so plainly
 * instead of pretending.  Everything runs on the simulated host meanwhile.
 */
#include "config.h"

#include "hv/xen_private.h"

#ifdef XG_HAVE_XEN
int xg_xen_open(xg_diag *d, xg_hv **out)
{
    *out = NULL;
    return xg_diag_err(d, XG_E_UNSUPPORTED, NULL,
                       "the real Xen backend is not implemented yet; use a simulated host: "
                       "`xg-sim init HOST` and --backend sim:HOST (or XG_BACKEND=sim:HOST)");
}
#endif
