/*
 * xg-plant - pause a simulated guest and plant a bad page-table entry in
 * it, for tests of xc_save --check:
 *
 *   xg-plant HOST DOMID [--running]
 *
 * A data page of the guest is made an L1 table (read-only in the direct
 * map, pinned, through the host's Xen rules), and then its direct-map
 * entry is made writable by writing the host's memory behind Xen's back:
 * a state Xen never allows, which the check must report.  The domain is
 * left paused (its pause count raised by one), so a running workload
 * cannot undo it; with --running it is left running.  Prints the pfn it planted.  Exit 0 done, 1
 * failure, 2 usage.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hv/sim/guest.h"
#include "internal.h"
#include "pv/pv.h"

static uint64_t *frame(struct sim_host *h, uint64_t mfn)
{
    return (uint64_t *)sim_frame_data(h, mfn);
}

/* The L1 entry mapping va from root (a 64-bit L4 or a PAE L3): table mfn and slot; 0 on success. */
static int walk(struct sim_host *h, unsigned width, uint64_t root, uint64_t va, uint64_t *l1,
                unsigned *slot)
{
    uint64_t t = root;
    for (unsigned level = width == 8 ? 4 : 3; level > 1; level--) {
        unsigned idx =
            (unsigned)((va >> (12 + 9 * (level - 1))) & (width == 4 && level == 3 ? 3 : 511));
        if (!sim_mfn_valid(h, t))
            return -1;
        uint64_t e = frame(h, t)[idx];
        if (!xg_pte_present(e) || (e & XG_PTE_PSE))
            return -1;
        t = xg_pte_frame(e);
    }
    *l1 = t;
    *slot = (unsigned)((va >> 12) & 511);
    return sim_mfn_valid(h, t) ? 0 : -1;
}

static int plant(struct sim_host *h, uint32_t domid, bool pause, uint64_t *planted)
{
    struct sim_domain *dom = sim_domain(h, domid);
    struct sim_guest_info gi;
    if (!dom || dom->dying || sim_guest_info_get(h, dom, &gi, NULL) < 0)
        return -1;
    if (pause)
        SIM_SET(h, dom->pause_count, dom->pause_count + 1);
    /* A data page that is plain writable data now (the workload may hold some as tables). */
    for (uint64_t i = 0; i < gi.data_nr; i++) {
        uint64_t pfn = gi.data_first_pfn + i, l1, mfn;
        unsigned s;
        if (pfn >= gi.directmap_nr || walk(h, gi.guest_width, dom->vcpu[0].guest_table,
                                           gi.directmap_va + pfn * 4096, &l1, &s) < 0)
            continue;
        uint64_t e = frame(h, l1)[s];
        mfn = xg_pte_frame(e);
        if (!xg_pte_present(e) || !(e & XG_PTE_RW) || !sim_mfn_valid(h, mfn) ||
            sim_frame(h, mfn)->owner != domid || sim_pfinfo(h, domid, mfn) != XG_PFINFO_NOTAB ||
            (sim_frame(h, mfn)->type_info & PGT_count_mask) != 1)
            continue; /* only the direct map maps it (writable): nothing else will notice */
        sim_journal(h, frame(h, mfn), 4096);
        memset(frame(h, mfn), 0, 4096);
        uint64_t ro = (e & ~(1ULL << 52)) & ~(uint64_t)XG_PTE_RW;
        if (sim_mmu_normal(h, domid, domid, (l1 << 12) | (s * 8U), ro) < 0)
            return -1;
        if (sim_pin(h, domid, 1, mfn) < 0) {
            /* Mapped writable elsewhere too (a running process's page): put it back, try the next.
             */
            if (sim_mmu_normal(h, domid, domid, (l1 << 12) | (s * 8U), e & ~(1ULL << 52)) < 0)
                return -1;
            continue;
        }
        sim_write_u64(h, l1, s, frame(h, l1)[s] | XG_PTE_RW);
        *planted = pfn;
        return 0;
    }
    return -1;
}

int main(int argc, char **argv)
{
    bool running = argc == 4 && !strcmp(argv[3], "--running");
    if (argc != 3 && !running) {
        fprintf(stderr, "usage: xg-plant HOST DOMID [--running]\n");
        return 2;
    }
    char *end;
    unsigned long domid = strtoul(argv[2], &end, 0);
    if (*end || end == argv[2]) {
        fprintf(stderr, "xg-plant: bad domid '%s'\n", argv[2]);
        return 2;
    }
    xg_diag *d = xg_diag_new();
    struct sim_host *h;
    int status = 1;
    uint64_t pfn = 0;
    if (sim_host_open(argv[1], d, &h) < 0) {
        xg_diag_print(stderr, d, false);
    } else {
        if (sim_lock(h, (uint32_t)domid, d) == 0) {
            if (plant(h, (uint32_t)domid, !running, &pfn) == 0) {
                status = 0;
                sim_unlock(h);
            } else {
                sim_abort(h);
            }
        }
        sim_host_close(h);
        if (status)
            fprintf(stderr, "xg-plant: could not plant a bad entry in domain %lu\n", domid);
        else
            printf("%#llx\n", (unsigned long long)pfn);
    }
    xg_diag_free(d);
    return status;
}
