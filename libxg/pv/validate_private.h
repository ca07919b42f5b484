/*
 * validate_private.h - what validate.c and pin_order.c share: the
 * validation context (one per xg_pv_validate call), its per-pfn flags and
 * the small readers of the image view both use.
 */
#ifndef XG_PV_VALIDATE_PRIVATE_H
#define XG_PV_VALIDATE_PRIVATE_H

#include "internal.h"
#include "pv/pv.h"

#define F_LIVE 0x01
#define F_LIN_SRC 0x02 /* holds a linear entry to another table */
#define F_LIN_DST 0x04 /* is the target of another table's linear entry */
#define F_GDT 0x08
#define F_PAE_L2 0x10      /* under slot 3 of a PAE L3: Xen's slots are in it */
#define F_VALID 0x20       /* (simulation) validated */
#define F_REPORTED 0x40    /* stale table: first problem already reported */
#define F_POPULATE 0x80    /* never sent, named by a live entry: gets a zeroed frame */
#define F_RW_MAPPED 0x100  /* a live L1 maps it writable */
#define F_RELEVEL_SHIFT 9  /* bits 9-11: the level Xen gives an unpinned table (mark_live) */
#define F_RETYPED_SHIFT 12 /* bits 12-14: the level an ordinary empty page takes (retypable) */

struct vctx {
    const struct xg_pv_image_view *v;
    xg_diag *d;
    uint16_t *f;
    uint16_t *pae_refs; /* PAE: references to an L2 from live L3 slots */
    uint64_t *stack;
    size_t nstack;
    uint64_t *undo;
    size_t nundo;
    uint64_t blocked_on; /* (simulation) linear target that was not validated */
    size_t nr_populate;  /* pfns marked F_POPULATE */
    const char *hinted;  /* the long hint about untyped roots was given */
};

/*
 * A table's level as Xen will validate it: the recorded one, unless the
 * table is unpinned, no cr3 names it and its first live holder names it as
 * a table of another level (mark_live): Xen's toolstack localises L1..L4
 * alike and the hypervisor types the frame by that holder's entry.
 */
static inline unsigned level_of(const struct vctx *c, uint64_t pfn)
{
    if (pfn >= c->v->nr_pfns)
        return 0;
    unsigned relevel = (c->f[pfn] >> F_RELEVEL_SHIFT) & 7;
    return relevel ? relevel : xg_pfinfo_level(c->v->types[pfn]);
}

/* The level Xen gives an ordinary empty page a live entry names (0: none; see retypable). */
static inline unsigned retyped_level(const struct vctx *c, uint64_t pfn)
{
    return pfn < c->v->nr_pfns ? (c->f[pfn] >> F_RETYPED_SHIFT) & 7 : 0;
}

/* The level pfn has once Xen validated the live tables: recorded, or taken by a retype. */
static inline unsigned xen_level(const struct vctx *c, uint64_t pfn)
{
    unsigned l = level_of(c, pfn);
    return l ? l : retyped_level(c, pfn);
}

static inline uint32_t type_of(const struct vctx *c, uint64_t pfn)
{
    return pfn < c->v->nr_pfns ? c->v->types[pfn] : XG_PFINFO_XTAB;
}

static inline bool present_in_image(const struct vctx *c, uint64_t pfn)
{
    return pfn < c->v->nr_pfns && xg_pfinfo_populate(c->v->types[pfn]);
}

static inline const uint64_t *table(const struct vctx *c, uint64_t pfn)
{
    return c->v->table(c->v->arg, pfn);
}

/* Xen's type_info of a live table of this recorded type, as its messages would show it. */
static inline uint64_t nominal(uint32_t t)
{
    unsigned l = xg_pfinfo_level(t);
    return ((uint64_t)l << 61) | (1ULL << 58) | (xg_pfinfo_pinned(t) ? 1ULL << 59 : 0) | 1;
}

static inline bool guest_slot(const struct vctx *c, uint64_t pfn, unsigned level, unsigned s)
{
    return xg_pv_guest_slot(c->v->width, level, (c->f[pfn] & F_PAE_L2) != 0, s);
}

/*
 * pin_order.c: simulate Xen's pins (and, where only Xen's order works, the
 * vcpus first) over the checked tables and fill plan with an order Xen
 * accepts.  Findings for what can never be pinned go to c->d.  Returns 0,
 * or XG_E_NOMEM.
 */
int xg__pv_plan_pins(struct vctx *c, struct xg_pv_plan *plan);

#endif
