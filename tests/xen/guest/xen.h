/*
 * xen.h - the parts of Xen's public PV interface xg-testguest uses,
 * declared here so that the guest builds with nothing but a compiler.
 * Values and layouts are those of Xen's public headers (xen/xen.h,
 * xen/sched.h, xen/event_channel.h, xen/io/console.h, xen/io/xs_wire.h);
 * plain C types give the right layout for both the 64-bit and the 32-bit
 * (i386) ABI, as in those headers.
 */
#ifndef XG_TESTGUEST_XEN_H
#define XG_TESTGUEST_XEN_H

#include <stdint.h>

#define PAGE_SHIFT 12
#define PAGE_SIZE 4096UL

/* Hypercall numbers. */
#define HC_mmu_update 1
#define HC_update_va_mapping 14
#define HC_event_channel_op 32
#define HC_mmuext_op 26
#define HC_sched_op 29

/* Page-table entry bits. */
#define PTE_P 0x001ULL
#define PTE_RW 0x002ULL
#define PTE_US 0x004ULL
#define PTE_A 0x020ULL
#define PTE_D 0x040ULL
#define PTE_MFN_MASK 0x000ffffffffff000ULL

#define UVMF_INVLPG 2UL
#define DOMID_SELF 0x7ff0U

/* MMUEXT operations. */
#define MMUEXT_PIN_L1_TABLE 0
#define MMUEXT_PIN_L2_TABLE 1
#define MMUEXT_PIN_L3_TABLE 2
#define MMUEXT_PIN_L4_TABLE 3
#define MMUEXT_UNPIN_TABLE 4
#define MMUEXT_NEW_BASEPTR 5
#define MMUEXT_NEW_USER_BASEPTR 15

struct mmuext_op {
    unsigned int cmd;
    union {
        unsigned long mfn;
        unsigned long linear_addr;
    } arg1;
    union {
        unsigned int nr_ents;
        const void *vcpumask;
        unsigned long src_mfn;
    } arg2;
};

/* Scheduler operations. */
#define SCHEDOP_shutdown 2
#define SCHEDOP_poll 3
#define SHUTDOWN_poweroff 0
#define SHUTDOWN_reboot 1
#define SHUTDOWN_suspend 2

struct sched_shutdown {
    unsigned int reason;
};

struct sched_poll {
    uint32_t *ports;
    unsigned int nr_ports;
    uint64_t timeout;           /* absolute system time, ns; 0: none */
};

/* Event channels. */
#define EVTCHNOP_send 4

struct evtchn_send {
    uint32_t port;
};

struct vcpu_time_info {
    uint32_t version;
    uint32_t pad0;
    uint64_t tsc_timestamp;
    uint64_t system_time;
    uint32_t tsc_to_system_mul;
    int8_t tsc_shift;
    uint8_t flags;
    uint8_t pad1[2];
};

struct vcpu_info {
    uint8_t evtchn_upcall_pending;
    uint8_t evtchn_upcall_mask;
    unsigned long evtchn_pending_sel;
    unsigned long cr2;
    unsigned long pad[sizeof(long) == 8 ? 1 : 5];
    struct vcpu_time_info time;
};

struct shared_info {
    struct vcpu_info vcpu_info[32];
    unsigned long evtchn_pending[sizeof(long) * 8];
    unsigned long evtchn_mask[sizeof(long) * 8];
    uint32_t wc_version;
    uint32_t wc_sec;
    uint32_t wc_nsec;
#if defined(__x86_64__)
    uint32_t wc_sec_hi;
#endif
    /* arch_shared_info */
    unsigned long max_pfn;
    unsigned long pfn_to_mfn_frame_list_list;
    unsigned long nmi_reason;
    unsigned long p2m_cr3;
    unsigned long p2m_vaddr;
    unsigned long p2m_generation;
};

struct start_info {
    char magic[32];
    unsigned long nr_pages;
    unsigned long shared_info;  /* machine address */
    uint32_t flags;
    unsigned long store_mfn;
    uint32_t store_evtchn;
    unsigned long console_mfn;
    uint32_t console_evtchn;
    /* Only on the first boot, not on resume: */
    unsigned long pt_base;
    unsigned long nr_pt_frames;
    unsigned long mfn_list;
    unsigned long mod_start;
    unsigned long mod_len;
    int8_t cmd_line[1024];
    unsigned long first_p2m_pfn;
    unsigned long nr_p2m_frames;
};

/* The console ring (xen/io/console.h). */
struct cons_ring {
    char in[1024];
    char out[2048];
    uint32_t in_cons, in_prod;
    uint32_t out_cons, out_prod;
};

/* The xenstore ring and wire format (xen/io/xs_wire.h). */
#define XS_RING_SIZE 1024
#define XS_READ 2
#define XS_WATCH 4
#define XS_WRITE 11
#define XS_WATCH_EVENT 15
#define XS_ERROR 16

struct xs_ring {
    char req[XS_RING_SIZE];
    char rsp[XS_RING_SIZE];
    uint32_t req_cons, req_prod;
    uint32_t rsp_cons, rsp_prod;
    uint32_t server_features;
    uint32_t connection;
    uint32_t error;
};

struct xs_msg {
    uint32_t type;
    uint32_t req_id;
    uint32_t tx_id;
    uint32_t len;
};

#endif
