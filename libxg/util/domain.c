/*
 * domain.c - the part of a domain's info that its state already holds,
 * for both hypervisor backends' domain_info (hv/sim/backend.c, hv/xen.c).
 */
#include "config.h"

#include "internal.h"
#include "xg/hv.h"

void xg__hv_info_from_state(struct xg_domain_info *info, const struct xg_domain_state *st)
{
    *info = (struct xg_domain_info){
        .domid = st->domid,
        .hvm = st->hvm,
        .paused = st->paused,
        .shutdown = st->shutdown,
        .shutdown_reason = st->shutdown_reason,
        .dying = st->dying,
        .guest_width = st->guest_width,
        .nr_pages = st->nr_pages,
        .max_pages = st->max_pages,
        .shared_info_mfn = st->shared_info_mfn,
        .nr_vcpus = st->nr_vcpus,
        .store_evtchn = -1,
        .console_evtchn = -1,
    };
}
