/*
 * guest_names.c - the names of the simulated guests' layouts and of the faults
 * a guest can be built with, as xg-sim's options and messages spell them.
 */
#include "config.h"

#include <string.h>

#include "hv/sim/guest.h"

enum sim_layout sim_layout_from_name(const char *name)
{
    if (!strcmp(name, "linux64"))
        return SIM_LAYOUT_LINUX64;
    if (!strcmp(name, "pae32"))
        return SIM_LAYOUT_PAE32;
    if (!strcmp(name, "netbsd64"))
        return SIM_LAYOUT_NETBSD64;
    return 0;
}

const char *sim_layout_name(enum sim_layout l)
{
    switch (l) {
    case SIM_LAYOUT_LINUX64:
        return "linux64";
    case SIM_LAYOUT_PAE32:
        return "pae32";
    case SIM_LAYOUT_NETBSD64:
        return "netbsd64";
    default:
        return NULL;
    }
}

unsigned sim_fault_from_name(const char *name)
{
    if (!strcmp(name, "dom0-writable-map"))
        return SIM_FAULT_DOM0_WRITABLE_MAP;
    if (!strcmp(name, "foreign-pte"))
        return SIM_FAULT_FOREIGN_PTE;
    if (!strcmp(name, "stale-table"))
        return SIM_FAULT_STALE_TABLE;
    return 0;
}

const char *sim_fault_name(unsigned fault)
{
    switch (fault) {
    case SIM_FAULT_DOM0_WRITABLE_MAP:
        return "dom0-writable-map";
    case SIM_FAULT_FOREIGN_PTE:
        return "foreign-pte";
    case SIM_FAULT_STALE_TABLE:
        return "stale-table";
    default:
        return NULL;
    }
}
