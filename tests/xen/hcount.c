/*
 * hcount.c - xg-hcount.so, an LD_PRELOAD library for the tier's
 * syscall-counts test (tests.sh): what a save/restore helper asks of Xen,
 * counted the same way for Xen's libxl-save-helper and xg's (issue 15,
 * "count what costs").
 *
 * - every ioctl on privcmd: IOCTL_PRIVCMD_HYPERCALL by hypercall, and
 *   domctl, sysctl, memory_op, event_channel_op, grant_table_op and
 *   xen_version by their command; mmu_update and mmuext_op also by the
 *   requests they carry; MMAPBATCH(_V2) also by the frames they map.
 *
 * (Copies are not counted: interposing memcpy sees only the calls that go
 * through the PLT, and gcc expands a memcpy of a constant 4096 bytes
 * inline: a trial saw none of the 32768 page copies of xg's restore of a
 * 128 MiB guest.  bench/README.md counts copies from the source instead.)
 *
 * At exit each process appends its counts to $XG_HCOUNT_OUT, one line a
 * kind: "XGHC KIND CALLS UNITS" (UNITS: requests or frames; else the calls
 * again).  Counters are atomic: xg's saver writes from a thread.
 *
 * Built on the host by `make check-xen` with no Xen headers (the numbers
 * below are Xen's public ABI: xen/xen.h, xen/domctl.h, xen/sysctl.h,
 * xen/memory.h, xen/event_channel.h, xen/grant_table.h, xen/version.h,
 * and Linux's xen/privcmd.h), so it builds wherever the tier runs.
 */
#define _GNU_SOURCE 1
#include <dlfcn.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

/*
 * Linux's privcmd: _IOC(_IOC_NONE, 'P', nr, size of the argument), x86_64
 * (checked against <xen/sys/privcmd.h>: 0x305000, 0x185003, 0x205004,
 * 0x205007).  The whole request is compared before its argument is read.
 */
#define PRIVCMD_TYPE 'P'
#define PRIVCMD_HYPERCALL 0
#define PRIVCMD_MMAPBATCH 3
#define PRIVCMD_MMAPBATCH_V2 4
#define PRIVCMD_MMAP_RESOURCE 7
#define PRIVCMD_IOC(nr, size) (((unsigned long)(size) << 16) | (PRIVCMD_TYPE << 8) | (nr))

struct privcmd_hypercall {
    uint64_t op, arg[5];
};
struct privcmd_mmapbatch_head { /* both versions begin with the count */
    unsigned int num;
};
#define IOC_HYPERCALL PRIVCMD_IOC(PRIVCMD_HYPERCALL, sizeof(struct privcmd_hypercall))
#define IOC_MMAPBATCH PRIVCMD_IOC(PRIVCMD_MMAPBATCH, 24)
#define IOC_MMAPBATCH_V2 PRIVCMD_IOC(PRIVCMD_MMAPBATCH_V2, 32)
_Static_assert(IOC_HYPERCALL == 0x305000 && IOC_MMAPBATCH == 0x185003 &&
                   IOC_MMAPBATCH_V2 == 0x205004,
               "privcmd's request numbers");

/*
 * One multicall entry, x86_64 (xen/xen.h, struct multicall_entry): the
 * hypercall, its result, its arguments.  Xen 4.17's libxenctrl issues
 * every memory_op on Linux as a one-entry multicall, to get its whole
 * return value (tools/libs/ctrl/xc_private.c, do_memory_op), so the
 * entries are counted too, by hypercall and command.
 */
struct multicall_entry {
    uint64_t op;
    int64_t result;
    uint64_t args[6];
};

enum {
    HC_MMU_UPDATE = 1,
    HC_MEMORY_OP = 12,
    HC_MULTICALL = 13,
    HC_XEN_VERSION = 17,
    HC_GRANT_TABLE_OP = 20,
    HC_MMUEXT_OP = 26,
    HC_EVENT_CHANNEL_OP = 32,
    HC_SYSCTL = 35,
    HC_DOMCTL = 36
};

static const char *const hypercall_names[64] = {
    [1] = "mmu_update",        [12] = "memory_op",  [13] = "multicall", [17] = "xen_version",
    [20] = "grant_table_op",   [24] = "vcpu_op",    [26] = "mmuext_op", [29] = "sched_op",
    [32] = "event_channel_op", [33] = "physdev_op", [34] = "hvm_op",    [35] = "sysctl",
    [36] = "domctl",           [41] = "dm_op",
};
static const char *const domctl_names[128] = {
    [1] = "createdomain",
    [2] = "destroydomain",
    [3] = "pausedomain",
    [4] = "unpausedomain",
    [5] = "getdomaininfo",
    [10] = "shadow_op",
    [11] = "max_mem",
    [12] = "setvcpucontext",
    [13] = "getvcpucontext",
    [14] = "getvcpuinfo",
    [15] = "max_vcpus",
    [27] = "resumedomain",
    [35] = "set_address_size",
    [36] = "get_address_size",
    [42] = "set_ext_vcpucontext",
    [43] = "get_ext_vcpucontext",
    [59] = "gettscinfo",
    [60] = "settscinfo",
    [61] = "getpageframeinfo3",
    [62] = "setvcpuextstate",
    [63] = "getvcpuextstate",
    [72] = "get_vcpu_msrs",
    [73] = "set_vcpu_msrs",
    [82] = "get_cpu_policy",
    [83] = "set_cpu_policy",
};
static const char *const sysctl_names[64] = {
    [3] = "physinfo",        [6] = "getdomaininfolist",       [8] = "getcpuinfo",
    [16] = "cputopoinfo",    [25] = "get_cpu_levelling_caps", [26] = "get_cpu_featureset",
    [29] = "get_cpu_policy",
};
static const char *const memory_op_names[64] = {
    [0] = "increase_reservation", [1] = "decrease_reservation", [2] = "maximum_ram_page",
    [3] = "current_reservation",  [4] = "maximum_reservation",  [5] = "machphys_mfn_list",
    [6] = "populate_physmap",     [7] = "add_to_physmap",       [12] = "machphys_mapping",
    [14] = "maximum_gpfn",        [24] = "claim_pages",         [28] = "acquire_resource",
};
static const char *const evtchn_names[16] = {
    [0] = "bind_interdomain", [3] = "close", [4] = "send", [5] = "status", [6] = "alloc_unbound",
};
static const char *const gnttab_names[16] = {
    [2] = "setup_table",
    [6] = "query_size",
    [9] = "get_status_frames",
    [10] = "get_version",
};
static const char *const xenver_names[16] = {
    [0] = "version",      [1] = "extraversion", [2] = "compile_info",
    [3] = "capabilities", [6] = "get_features", [7] = "pagesize",
};

/* One counter: calls and units. */
struct counter {
    uint64_t calls, units;
};
/* Each table has one slot more than its names, for commands beyond them ("other"). */
static struct counter hypercalls[65], in_multicalls[65], domctls[129], sysctls[65], memory_ops[65],
    evtchns[17], gnttabs[17], xenvers[17], privcmd_ioctls[257], other_ioctls[257];

/* Slot i of a table of n named slots, or the table's "other" slot. */
#define SLOT(table, i)                                               \
    (&(table)[(uint64_t)(i) < sizeof(table) / sizeof((table)[0]) - 1 \
                  ? (uint64_t)(i)                                    \
                  : sizeof(table) / sizeof((table)[0]) - 1])

static void add(struct counter *c, uint64_t units)
{
    __atomic_fetch_add(&c->calls, 1, __ATOMIC_RELAXED);
    __atomic_fetch_add(&c->units, units, __ATOMIC_RELAXED);
}

static void count_command(uint64_t op, const uint64_t *arg);

/* Counts one hypercall whose arguments are h (the caller's, readable here). */
static void count_hypercall(const struct privcmd_hypercall *h)
{
    uint64_t op = h->op;
    uint64_t units = 1;
    if (op == HC_MMU_UPDATE || op == HC_MMUEXT_OP || op == HC_MULTICALL)
        units = h->arg[1]; /* the number of requests, or of entries */
    add(SLOT(hypercalls, op), units);
    if (op != HC_MULTICALL) {
        count_command(op, h->arg);
        return;
    }
    const struct multicall_entry *e = (const void *)(uintptr_t)h->arg[0];
    for (uint64_t i = 0; e && i < h->arg[1] && i < 64; i++) {
        add(SLOT(in_multicalls, e[i].op), 1);
        count_command(e[i].op, e[i].args);
    }
}

/* The command of hypercall op with arguments arg, in the table of its kind. */
static void count_command(uint64_t op, const uint64_t *arg)
{
    const void *p = (const void *)(uintptr_t)arg[0];
    uint64_t cmd = arg[0];
    switch (op) {
    case HC_DOMCTL: /* struct xen_domctl begins with uint32_t cmd */
        if (p)
            add(SLOT(domctls, *(const uint32_t *)p), 1);
        break;
    case HC_SYSCTL:
        if (p)
            add(SLOT(sysctls, *(const uint32_t *)p), 1);
        break;
    case HC_MEMORY_OP: /* the command is the low bits; above them a continuation */
        add(SLOT(memory_ops, cmd & 0x3f), 1);
        break;
    case HC_EVENT_CHANNEL_OP:
        add(SLOT(evtchns, cmd), 1);
        break;
    case HC_GRANT_TABLE_OP:
        add(SLOT(gnttabs, cmd), 1);
        break;
    case HC_XEN_VERSION:
        add(SLOT(xenvers, cmd), 1);
        break;
    }
}

/* ---------------------------------------------------------------- the real calls */

typedef int ioctl_fn(int, unsigned long, ...);
static ioctl_fn *real_ioctl;

/* A forked child counts from zero: each process reports its own. */
static void zero_in_child(void)
{
    struct counter *tables[] = { hypercalls, in_multicalls, domctls, sysctls,        memory_ops,
                                 evtchns,    gnttabs,       xenvers, privcmd_ioctls, other_ioctls };
    size_t sizes[] = { sizeof(hypercalls),  sizeof(in_multicalls), sizeof(domctls),
                       sizeof(sysctls),     sizeof(memory_ops),    sizeof(evtchns),
                       sizeof(gnttabs),     sizeof(xenvers),       sizeof(privcmd_ioctls),
                       sizeof(other_ioctls) };
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++)
        memset(tables[i], 0, sizes[i]);
}

__attribute__((constructor)) static void resolve(void)
{
    static int once;
    if (!once++)
        pthread_atfork(NULL, NULL, zero_in_child);
    real_ioctl = (ioctl_fn *)dlsym(RTLD_NEXT, "ioctl");
    if (!real_ioctl) {
        static const char msg[] = "xg-hcount.so: no ioctl to wrap (dlsym); stopping\n";
        ssize_t w = write(2, msg, sizeof(msg) - 1);
        (void)w;
        _exit(127);
    }
}

int ioctl(int fd, unsigned long req, ...)
{
    va_list ap;
    va_start(ap, req);
    void *arg = va_arg(ap, void *);
    va_end(ap);
    if (!real_ioctl)
        resolve();
    if (req == IOC_HYPERCALL && arg)
        count_hypercall(arg);
    else if ((req == IOC_MMAPBATCH || req == IOC_MMAPBATCH_V2) && arg)
        add(SLOT(privcmd_ioctls, req & 0xff), ((const struct privcmd_mmapbatch_head *)arg)->num);
    else if (((req >> 8) & 0xff) == PRIVCMD_TYPE)
        add(SLOT(privcmd_ioctls, req & 0xff), 1);
    else
        add(SLOT(other_ioctls, (req >> 8) & 0xff), 1);
    return real_ioctl(fd, req, arg);
}

/* ---------------------------------------------------------------- the report */

static void print_table(FILE *f, const char *kind, const struct counter *c,
                        const char *const *names, unsigned n)
{
    for (unsigned i = 0; i <= n; i++) {
        if (!c[i].calls)
            continue;
        if (i == n)
            fprintf(f, "XGHC %s/other %llu %llu\n", kind, (unsigned long long)c[i].calls,
                    (unsigned long long)c[i].units);
        else if (names && names[i])
            fprintf(f, "XGHC %s/%s %llu %llu\n", kind, names[i], (unsigned long long)c[i].calls,
                    (unsigned long long)c[i].units);
        else
            fprintf(f, "XGHC %s/%u %llu %llu\n", kind, i, (unsigned long long)c[i].calls,
                    (unsigned long long)c[i].units);
    }
}

__attribute__((destructor)) static void report(void)
{
    const char *out = getenv("XG_HCOUNT_OUT");
    if (!out)
        return;
    FILE *f = fopen(out, "a");
    if (!f)
        return;
    static const char *const privcmd_names[256] = {
        [PRIVCMD_HYPERCALL] = "hypercall-other",
        [PRIVCMD_MMAPBATCH] = "mmapbatch",
        [PRIVCMD_MMAPBATCH_V2] = "mmapbatch_v2",
        [PRIVCMD_MMAP_RESOURCE] = "mmap_resource",
    };
    fprintf(f, "XGHC process/%ld 1 1\n", (long)getpid());
    print_table(f, "hypercall", hypercalls, hypercall_names, 64);
    print_table(f, "in-multicall", in_multicalls, hypercall_names, 64);
    print_table(f, "domctl", domctls, domctl_names, 128);
    print_table(f, "sysctl", sysctls, sysctl_names, 64);
    print_table(f, "memory_op", memory_ops, memory_op_names, 64);
    print_table(f, "event_channel_op", evtchns, evtchn_names, 16);
    print_table(f, "grant_table_op", gnttabs, gnttab_names, 16);
    print_table(f, "xen_version", xenvers, xenver_names, 16);
    print_table(f, "privcmd", privcmd_ioctls, privcmd_names, 256);
    print_table(f, "ioctl-type", other_ioctls, NULL, 256);
    fclose(f);
}
