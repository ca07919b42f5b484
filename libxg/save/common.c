/*
 * common.c - the save engine's shared helpers, at the bottom of the engine: its
 * progress line (its log line is util/log.c's, through save_private.h), reading a
 * vcpu's frames, and the findings that both the save (memory.c, p2m.c) and the
 * pre-flight check (check.c) explain.  Everything here calls down (hv, pv, diag),
 * never back into the engine.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>

#include "save_private.h"

void xg__save_progress(struct save_ctx *c, const char *phase)
{
    if (!c->cb || !c->cb->progress)
        return;
    struct xg_progress p = {
        .phase = phase,
        .iteration = c->iteration + 1,
        .done = c->pass_done,
        .total = c->pass_total,
        .bytes = c->w ? xg_stream_writer_bytes(c->w) : 0,
        .seconds = xg__now() - c->t0,
    };
    c->cb->progress(c->cb->arg, &p);
}

/* ------------------------------------------------------------ vcpus */

int xg__save_vcpu_read(struct save_ctx *c, unsigned v, uint8_t *ctx, struct xg_pv_vcpu_frames *f,
                       const char **why)
{
    size_t size = xg_vcpu_layout(c->width)->size;
    int rc = xg_hv_vcpu_get(c->hv, c->domid, v, ctx, size, c->d);
    if (rc < 0)
        return rc;
    *why = NULL;
    return xg_pv_vcpu_frames(ctx, c->width, v, false, f, why) < 0 ? 1 : 0;
}

uint64_t xg__save_guest_pfn(const struct save_ctx *c, uint64_t mfn)
{
    uint64_t pfn = ~0ULL;
    return xg_pv_mfn_in_physmap(&c->pm, mfn, &pfn) ? pfn : ~0ULL;
}

/* ------------------------------------------------------------ findings */

uint64_t xg__save_nominal_type_info(uint32_t type)
{
    /* Type, validated, pinned when it is, count 1. */
    return ((uint64_t)xg_pfinfo_level(type) << 61) | (1ULL << 58) |
           (xg_pfinfo_pinned(type) ? 1ULL << 59 : 0) | 1;
}

static const char *level_name(unsigned level)
{
    static const char *const n[] = { "ordinary page", "L1 table", "L2 table", "L3 table",
                                     "L4 table" };
    return level <= 4 ? n[level] : "?";
}

void xg__save_explain_map_error(struct save_ctx *c, uint64_t pfn, uint64_t mfn, uint32_t type,
                                int err, const char *what, enum xg_severity sev)
{
    struct xg_loc l = { XGF_DOMID(c->domid), XGF_PFN(pfn), XGF_MFN(mfn), XGF_REF_TYPE(type) };
    unsigned level = xg_pfinfo_level(type);
    xg_diag_add(c->d, sev, XG_E_GUEST, err, &l, __FILE__, __LINE__,
                "cannot map pfn %#llx (mfn %#llx, %s%s) read-only%s%s", (unsigned long long)pfn,
                (unsigned long long)mfn, level_name(level),
                xg_pfinfo_pinned(type) ? ", pinned" : "", what ? " while reading " : "",
                what ? what : "");
    if (level && err == EBUSY) {
        xg_diag_xen_says(c->d,
                         "Bad type (saw %016llx != exp e000000000000000) for mfn %llx (pfn %llx)",
                         (unsigned long long)xg__save_nominal_type_info(type),
                         (unsigned long long)mfn, (unsigned long long)pfn);
        xg_diag_hint(c->d, "Xen refused a writable mapping of a page table: this dom0 maps "
                           "foreign pages writable even when read-only is asked (the 2008 "
                           "NetBSD privcmd bug); fix dom0's privcmd, the guest is fine");
    } else if (err == EBUSY) {
        xg_diag_hint(c->d, "the frame is in use with a type that forbids this mapping (Xen's "
                           "Bad type)");
    }
}

/* An entry naming a frame that is not the guest's: whose it is, or what the M2P says. */
static void explain_foreign_entry(struct save_ctx *c, uint64_t pfn, unsigned level,
                                  const struct xg_pv_bad *bad, enum xg_severity sev,
                                  struct xg_loc *l)
{
    if (l->has_owner && l->owner != c->domid) {
        xg_diag_add(c->d, sev, XG_E_GUEST, 0, l, __FILE__, __LINE__,
                    "L%u table at pfn %#llx, slot %u, maps mfn %#llx, a frame of domain %u", level,
                    (unsigned long long)pfn, bad->slot, (unsigned long long)bad->mfn, l->owner);
        xg_diag_hint(c->d, "a foreign or grant mapping left in place at suspend; the guest must "
                           "unmap it before it suspends");
        return;
    }
    char m2p[64];
    if (bad->mfn >= c->nr_mfns)
        snprintf(m2p, sizeof(m2p), "beyond the host's memory");
    else if (bad->pfn == ~0ULL)
        snprintf(m2p, sizeof(m2p), "the M2P has no pfn for it");
    else
        snprintf(m2p, sizeof(m2p), "the M2P says pfn %#llx", (unsigned long long)bad->pfn);
    xg_diag_add(c->d, sev, XG_E_GUEST, 0, l, __FILE__, __LINE__,
                "L%u table at pfn %#llx, slot %u, maps mfn %#llx, "
                "which is not one of the guest's frames (%s)",
                level, (unsigned long long)pfn, bad->slot, (unsigned long long)bad->mfn, m2p);
    xg_diag_hint(c->d, "the entry names a frame outside the guest's p2m (shared info, a foreign "
                       "or I/O frame, or one it gave back); the guest "
                       "must drop such mappings before it suspends");
}

void xg__save_explain_bad_entry(struct save_ctx *c, uint64_t pfn, unsigned level,
                                const struct xg_pv_bad *bad, enum xg_severity sev)
{
    struct xg_loc l = { XGF_DOMID(c->domid), XGF_PFN(pfn),          XGF_LEVEL(level),
                        XGF_SLOT(bad->slot), XGF_ENTRY(bad->entry), XGF_MFN(bad->mfn) };
    if (bad->kind == XG_PV_BAD_SUPERPAGE) {
        xg_diag_add(c->d, sev, XG_E_GUEST, 0, &l, __FILE__, __LINE__,
                    "L%u table at pfn %#llx maps a superpage in slot %u", level,
                    (unsigned long long)pfn, bad->slot);
        xg_diag_hint(c->d, "Xen 4.17 gives PV guests no superpages; such an entry cannot be "
                           "migrated");
        return;
    }
    uint32_t owner;
    if (bad->mfn < c->nr_mfns && xg_hv_frame_owner(c->hv, bad->mfn, &owner) == 0) {
        l.has_owner = 1;
        l.owner = owner;
    }
    if (bad->mfn == c->info.shared_info_mfn) {
        xg_diag_add(c->d, sev, XG_E_GUEST, 0, &l, __FILE__, __LINE__,
                    "L%u table at pfn %#llx, slot %u, still maps the shared info page (mfn %#llx)",
                    level, (unsigned long long)pfn, bad->slot, (unsigned long long)bad->mfn);
        xg_diag_hint(c->d, "a PV guest must unmap shared info before it suspends (Linux: "
                           "xen_pv_pre_suspend); its page is Xen's and "
                           "gets a new frame on the other side");
        return;
    }
    explain_foreign_entry(c, pfn, level, bad, sev, &l);
}
