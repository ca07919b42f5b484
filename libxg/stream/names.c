/*
 * names.c - spec names of record types, for every message that prints one.
 */
#include "config.h"

#include "internal.h"
#include "xg/stream.h"

static const char *const rec_names[] = {
    [XG_REC_END] = "END",
    [XG_REC_PAGE_DATA] = "PAGE_DATA",
    [XG_REC_X86_PV_INFO] = "X86_PV_INFO",
    [XG_REC_X86_PV_P2M_FRAMES] = "X86_PV_P2M_FRAMES",
    [XG_REC_X86_PV_VCPU_BASIC] = "X86_PV_VCPU_BASIC",
    [XG_REC_X86_PV_VCPU_EXTENDED] = "X86_PV_VCPU_EXTENDED",
    [XG_REC_X86_PV_VCPU_XSAVE] = "X86_PV_VCPU_XSAVE",
    [XG_REC_SHARED_INFO] = "SHARED_INFO",
    [XG_REC_X86_TSC_INFO] = "X86_TSC_INFO",
    [XG_REC_HVM_CONTEXT] = "HVM_CONTEXT",
    [XG_REC_HVM_PARAMS] = "HVM_PARAMS",
    [XG_REC_TOOLSTACK] = "TOOLSTACK",
    [XG_REC_X86_PV_VCPU_MSRS] = "X86_PV_VCPU_MSRS",
    [XG_REC_VERIFY] = "VERIFY",
    [XG_REC_CHECKPOINT] = "CHECKPOINT",
    [XG_REC_CHECKPOINT_DIRTY_PFN_LIST] = "CHECKPOINT_DIRTY_PFN_LIST",
    [XG_REC_STATIC_DATA_END] = "STATIC_DATA_END",
    [XG_REC_X86_CPUID_POLICY] = "X86_CPUID_POLICY",
    [XG_REC_X86_MSR_POLICY] = "X86_MSR_POLICY",
};

const char *xg_stream_rec_name(uint32_t type)
{
    if (type < XG_ARRAY_SIZE(rec_names) && rec_names[type])
        return rec_names[type];
    return (type & XG_REC_OPTIONAL) ? "unknown optional record" : "unknown mandatory record";
}
