/*
 * maps.c - the registry of foreign mappings, per process.
 *
 * On real Xen, a dom0 process's foreign mapping is a PTE in dom0's page
 * tables holding a reference on the guest frame (a writable type reference
 * when writable); when the process exits, its kernel tears the PTEs down
 * and the references go.  The simulator keeps the same references and
 * records them here, per process, so that the references of a process
 * that died are dropped by the next process that opens the host.
 *
 * Open addressing with linear probing over (process, mfn, rw); removal
 * shifts later entries back so that probing never meets a hole.
 */
#include "config.h"

#include <string.h>

#include "hv/sim/sim.h"

static uint32_t slot_of(uint32_t proc, uint64_t mfn, bool rw)
{
    uint64_t k = (mfn * 0x9e3779b97f4a7c15ULL) ^ ((uint64_t)proc << 1 | rw);
    return (uint32_t)(k >> 40) & (SIM_MAP_SLOTS - 1);
}

int sim_maps_add(struct sim_host *h, uint64_t mfn, bool rw)
{
    uint32_t tag = h->proc_slot + 1;
    uint32_t i = slot_of(tag, mfn, rw);
    for (uint32_t n = 0; n < SIM_MAP_SLOTS; n++, i = (i + 1) & (SIM_MAP_SLOTS - 1)) {
        struct sim_map_ref *m = &h->maps[i];
        if (m->proc == tag && m->mfn == mfn && m->rw == rw) {
            SIM_SET(h, m->count, m->count + 1);
            return 0;
        }
        if (m->proc == 0) {
            sim_journal(h, m, sizeof(*m));
            m->proc = tag;
            m->mfn = mfn;
            m->rw = rw;
            m->count = 1;
            SIM_SET(h, h->hdr->map_used, h->hdr->map_used + 1);
            return 0;
        }
    }
    return -12; /* -ENOMEM: as many mappings as the registry holds */
}

static void delete_at(struct sim_host *h, uint32_t i)
{
    /* Backward-shift deletion. */
    uint32_t j = i;
    for (;;) {
        j = (j + 1) & (SIM_MAP_SLOTS - 1);
        struct sim_map_ref *mj = &h->maps[j];
        if (mj->proc == 0)
            break;
        uint32_t home = slot_of(mj->proc, mj->mfn, mj->rw);
        /* Can mj move to i?  Only if its home is not in (i, j]. */
        bool between = i <= j ? (home > i && home <= j) : (home > i || home <= j);
        if (!between) {
            sim_journal(h, &h->maps[i], sizeof(h->maps[i]));
            h->maps[i] = *mj;
            i = j;
        }
    }
    sim_journal(h, &h->maps[i], sizeof(h->maps[i]));
    memset(&h->maps[i], 0, sizeof(h->maps[i]));
    SIM_SET(h, h->hdr->map_used, h->hdr->map_used - 1);
}

void sim_maps_remove(struct sim_host *h, uint64_t mfn, bool rw)
{
    uint32_t tag = h->proc_slot + 1;
    uint32_t i = slot_of(tag, mfn, rw);
    for (uint32_t n = 0; n < SIM_MAP_SLOTS; n++, i = (i + 1) & (SIM_MAP_SLOTS - 1)) {
        struct sim_map_ref *m = &h->maps[i];
        if (m->proc == 0)
            return;
        if (m->proc == tag && m->mfn == mfn && m->rw == rw) {
            if (m->count > 1)
                SIM_SET(h, m->count, m->count - 1);
            else
                delete_at(h, i);
            return;
        }
    }
}

void sim_maps_rehash(struct sim_host *h)
{
    /* Pull every live entry out of its slot and insert it again. */
    uint64_t used = 0;
    for (uint32_t i = 0; i < SIM_MAP_SLOTS; i++) {
        struct sim_map_ref e = h->maps[i];
        if (e.proc == 0)
            continue;
        sim_journal(h, &h->maps[i], sizeof(h->maps[i]));
        memset(&h->maps[i], 0, sizeof(h->maps[i]));
        uint32_t j = slot_of(e.proc, e.mfn, e.rw);
        while (h->maps[j].proc != 0)
            j = (j + 1) & (SIM_MAP_SLOTS - 1);
        sim_journal(h, &h->maps[j], sizeof(h->maps[j]));
        h->maps[j] = e;
        used++;
    }
    SIM_SET(h, h->hdr->map_used, used);
}
