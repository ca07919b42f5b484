/*
 * pin_order.c - the order of the pins: Xen accepts a linear entry only to a
 * table it has already validated, so the pins are simulated in candidate
 * order (lower levels first), a pin that needs a table not yet validated
 * waits for it, and what can never be pinned is named as a cycle.  Part of
 * xg_pv_validate (validate.c), which checks the entries first.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "pv/validate_private.h"

/* Validate p as Xen would (depth first, slot order); on failure nothing stays marked. */
static bool sim_validate(struct vctx *c, uint64_t p)
{
    if (c->f[p] & F_VALID)
        return true;
    unsigned level = xen_level(c, p);
    const uint64_t *t = table(c, p);
    if (t && level >= 2) {
        for (unsigned s = 0; s < XG_PTES_PER_TABLE; s++) {
            uint64_t e = t[s];
            if (!xg_pte_present(e) || !guest_slot(c, p, level, s) || (e & XG_PTE_PSE))
                continue;
            uint64_t tp = xg_pte_frame(e);
            unsigned tl = xen_level(c, tp);
            if (tl == level - 1) {
                if (!sim_validate(c, tp))
                    return false;
            } else if (tl == level && tp != p && !(c->f[tp] & F_VALID)) {
                c->blocked_on = tp;
                return false;
            }
        }
    }
    c->f[p] |= F_VALID;
    c->undo[c->nundo++] = p;
    return true;
}

static bool attempt(struct vctx *c, uint64_t p)
{
    size_t mark = c->nundo;
    c->blocked_on = ~0ULL;
    if (sim_validate(c, p))
        return true;
    while (c->nundo > mark)
        c->f[c->undo[--c->nundo]] &= (uint16_t)~F_VALID;
    return false;
}

/* Pin candidates: lower levels first, then pfn order.  Returns how many. */
static size_t pin_candidates(struct vctx *c, uint64_t *pending)
{
    size_t np = 0;
    for (unsigned level = 1; level <= 4; level++)
        for (uint64_t p = 0; p < c->v->nr_pfns; p++)
            if (xg_pfinfo_pinned(c->v->types[p]) && level_of(c, p) == level &&
                !(c->v->width == 4 && level == 4))
                pending[np++] = p;
    return np;
}

/* Simulate the pins (each as soon as it can be); returns how many never can, left in pending. */
static size_t simulate_pins(struct vctx *c, struct xg_pv_plan *plan, uint64_t *pending)
{
    size_t np = pin_candidates(c, pending);
    bool progress = true;
    while (np && progress) {
        progress = false;
        size_t keep = 0;
        for (size_t i = 0; i < np; i++) {
            uint64_t p = pending[i];
            if (attempt(c, p)) {
                plan->pin_pfn[plan->nr_pins] = p;
                plan->pin_level[plan->nr_pins++] = level_of(c, p);
                progress = true;
            } else {
                pending[keep++] = p;
            }
        }
        np = keep;
    }
    return np;
}

/* Simulate setting each vcpu's context (validating its cr3s); report failures when asked. */
static bool simulate_vcpus(struct vctx *c, bool report)
{
    bool ok = true;
    for (unsigned vc = 0; vc < c->v->nr_vcpus; vc++) {
        if (!c->v->vcpu_present[vc])
            continue;
        const struct xg_pv_vcpu_frames *f = &c->v->vcpu[vc];
        uint64_t roots[2] = { f->cr3, f->has_user ? f->user : ~0ULL };
        for (int r = 0; r < 2; r++) {
            uint64_t p = roots[r];
            if (p == ~0ULL || level_of(c, p) != c->v->levels || attempt(c, p))
                continue;
            ok = false;
            if (!report)
                continue;
            struct xg_loc l = { XGF_VCPU(vc), XGF_PFN(p), XGF_REF_PFN(c->blocked_on) };
            xg_diag_add(c->d, XG_SEV_ERROR, XG_E_IMAGE, 0, &l, __FILE__, __LINE__,
                        "vcpu%u's %s at pfn %#llx cannot be validated: a linear entry under it "
                        "needs pfn %#llx validated first, and no pin does that",
                        vc, r ? "user cr3" : "cr3", (unsigned long long)p,
                        (unsigned long long)c->blocked_on);
        }
    }
    return ok;
}

/* Forget a simulation: nothing validated, no pin planned. */
static void simulation_reset(struct vctx *c, struct xg_pv_plan *plan)
{
    for (uint64_t p = 0; p < c->v->nr_pfns; p++)
        c->f[p] &= (uint16_t)~F_VALID;
    c->nundo = 0;
    plan->nr_pins = 0;
}

/*
 * Plan the pins.  xg pins first and sets the vcpus after, which suits the
 * usual guest.  Xen's own restore (xg_sr_restore_x86_pv.c,
 * x86_pv_stream_complete) sets every vcpu's context first, which validates
 * the tree under its cr3, and pins after: a pin whose linear entry needs a
 * table only a cr3 validates works in that order.  When xg's order cannot
 * work and Xen's can, the plan says so (vcpus_first); what neither order
 * can pin is a cycle.
 */
int xg__pv_plan_pins(struct vctx *c, struct xg_pv_plan *plan)
{
    size_t n = 0;
    for (uint64_t p = 0; p < c->v->nr_pfns; p++)
        if (xg_pfinfo_pinned(c->v->types[p]) && !(c->v->width == 4 && level_of(c, p) == 4))
            n++;
    plan->pin_pfn = malloc((n ? n : 1) * sizeof(uint64_t));
    plan->pin_level = malloc((n ? n : 1) * sizeof(unsigned));
    uint64_t *pending = malloc((n ? n : 1) * sizeof(uint64_t));
    if (!plan->pin_pfn || !plan->pin_level || !pending) {
        free(pending);
        return xg_diag_err(c->d, XG_E_NOMEM, NULL, "out of memory planning the pins");
    }
    size_t np = simulate_pins(c, plan, pending);
    if (!np && simulate_vcpus(c, false))
        goto out;
    simulation_reset(c, plan);
    if (simulate_vcpus(c, false) && !(np = simulate_pins(c, plan, pending))) {
        plan->vcpus_first = true;
        xg_diag_note(c->d, NULL,
                     "some pins need a table only a vcpu's cr3 validates; the vcpus are set before "
                     "the pins, in the order Xen's own restore uses");
        goto out;
    }
    /* Neither order works: say why, in xg's order. */
    simulation_reset(c, plan);
    np = simulate_pins(c, plan, pending);
    for (size_t i = 0; i < np; i++) {
        uint64_t p = pending[i];
        attempt(c, p);
        struct xg_loc l = { XGF_PFN(p), XGF_LEVEL(level_of(c, p)), XGF_REF_PFN(c->blocked_on),
                            XGF_REF_TYPE(type_of(c, c->blocked_on)) };
        xg_diag_add(c->d, XG_SEV_ERROR, XG_E_IMAGE, 0, &l, __FILE__, __LINE__,
                    "the pinned L%u table at pfn %#llx can never be pinned: a linear entry under "
                    "it needs the table at pfn %#llx validated first, and that table can only be "
                    "validated after it (a cycle of linear entries)",
                    level_of(c, p), (unsigned long long)p, (unsigned long long)c->blocked_on);
        xg_diag_xen_says(
            c->d, "Failure -22 in promote_l%u_table (a linear entry to a table not yet validated)",
            level_of(c, p));
    }
    simulate_vcpus(c, true);
out:
    free(pending);
    return 0;
}
