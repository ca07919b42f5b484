/*
 * ops.h - the one list of hypervisor operations a fault can be injected
 * into (XG_FAULTS, xg_hv_set_faults).  Everything else is derived from it:
 * the operation numbers INJECT takes in hv.c (a name missing here does not
 * compile there), the names the fault parser accepts and prints
 * (xg_hv_fault_op_name), and the docs check (tests/fault/ops.sh: every name
 * is in docs/tools.md and in an INJECT of hv.c).
 *
 * mmuext is three operations: pin (any level), unpin and new_baseptr, each
 * counted on its own, so "pin@3" is the third table pinned.
 */
#ifndef XG_HV_OPS_H
#define XG_HV_OPS_H

#define XG_HV_FAULT_OPS(X)  \
    X(xen_version)          \
    X(domain_info)          \
    X(domain_state)         \
    X(vcpus_online)         \
    X(map)                  \
    X(page_types)           \
    X(m2p)                  \
    X(vcpu_get)             \
    X(vcpu_set)             \
    X(vcpu_blob_get)        \
    X(vcpu_blob_set)        \
    X(tsc_info_get)         \
    X(tsc_info_set)         \
    X(logdirty)             \
    X(pause)                \
    X(unpause)              \
    X(suspend)              \
    X(resume)               \
    X(domain_create)        \
    X(domain_destroy)       \
    X(set_max_pages)        \
    X(set_address_size)     \
    X(evtchn_alloc_unbound) \
    X(populate)             \
    X(depopulate)           \
    X(mmu_update)           \
    X(pin)                  \
    X(unpin)                \
    X(new_baseptr)          \
    X(frame_owner)          \
    X(cpu_policy_get)       \
    X(cpu_policy_set)       \
    X(gnttab_seed)

enum xg_hv_op {
#define XG_HV_OP_ENUM(name) XG_HV_OP_##name,
    XG_HV_FAULT_OPS(XG_HV_OP_ENUM)
#undef XG_HV_OP_ENUM
    XG_HV_NR_OPS
};

#endif
