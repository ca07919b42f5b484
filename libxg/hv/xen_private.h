/*
 * xen_private.h - the real Xen backend's entry point (built only with
 * --with-xen; see libxg/hv/xen.c).
 */
#ifndef XG_HV_XEN_PRIVATE_H
#define XG_HV_XEN_PRIVATE_H

#include "xg/hv.h"

#ifdef XG_HAVE_XEN
int xg_xen_open(xg_diag *d, xg_hv **out);
#endif

#endif
