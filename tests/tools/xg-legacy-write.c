/*
 * xg-legacy-write - turn a v2 image of an x86 PV guest into a legacy
 * (pre-Xen 4.6) one, for tests: there are no old images to download, so
 * the legacy reader is tested on what this writes, and this writer is
 * checked against Xen's own reader of the legacy format
 * (convert-legacy-stream, see tests/stream/legacy.sh).
 *
 *   xg-legacy-write IN OUT [--bits 32|64] [--wrap none|xl|xend]
 *                          [--unmapped N] [--xtab-pad]
 *   xg-legacy-write --two-level OUT [--seed S] [--unmapped N] [--wrap none|xl|xend]
 *
 * The layout is the one Xen 3.x/4.x's xc_domain_save wrote: p2m_size, the
 * extended info ("vcpu", "extv", "xcnt"), the p2m frame list, chunks (TSC
 * info, vcpu map, page batches of type|pfn words), the end marker, then
 * the tail (unmapped pfns, each vcpu's contexts, shared info).  "unsigned
 * long" is --bits wide.  --unmapped lists N bogus unmapped pfns in the
 * tail, and --xtab-pad puts the 0xf0000000 fillers the old saver left in
 * batches, as real old images have them.  --wrap adds the pre-4.6 xl
 * save-file header (no STREAMv2 flag) or xend's "LinuxGuestRecord" one.
 * --two-level writes a synthetic 2-level (non-PAE) 32-bit guest instead,
 * with no input image (see write_two_level below).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"
#include "pv/abi.h"
#include "xg/xg.h"

#define MAX_VCPUS 128
#define EXTV_SIZE 128

struct vcpu_state {
    bool online;
    void *basic, *ext, *xsave;
    uint32_t basic_len, ext_len, xsave_len;
};

struct image {
    unsigned width;                 /* guest width */
    uint64_t p2m_size;
    uint64_t *p2m_frames;
    uint32_t nr_p2m_frames;
    struct vcpu_state vcpu[MAX_VCPUS];
    uint8_t shinfo[4096];
    bool have_tsc;
    struct xg_rec_tsc_info tsc;
};

static unsigned bits = 64;
static const char *wrap = "none";
static unsigned unmapped;
static bool xtab_pad;

static int fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "xg-legacy-write: ");
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return 1;
}

static int diag_fail(const xg_diag *d)
{
    fputs("xg-legacy-write: ", stderr);
    xg_diag_print(stderr, d, false);
    return 1;
}

/* ------------------------------------------------------------ output */

static FILE *out;

static void put(const void *p, size_t len)
{
    if (len && fwrite(p, 1, len, out) != len) {
        perror("xg-legacy-write: writing");
        exit(1);
    }
}

static void put_u32(uint32_t v)
{
    uint8_t b[4];
    xg__put_le32(b, v);
    put(b, 4);
}

static void put_u64(uint64_t v)
{
    uint8_t b[8];
    xg__put_le64(b, v);
    put(b, 8);
}

static void put_word(uint64_t v)
{
    if (bits == 64)
        put_u64(v);
    else
        put_u32((uint32_t)v);
}

static void put_be32(uint32_t v)
{
    uint8_t b[4] = { (uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v };
    put(b, 4);
}

/* ------------------------------------------------------------ input */

static void *dup_bytes(const void *p, uint32_t len)
{
    void *q = malloc(len ? len : 1);
    if (!q) {
        fputs("xg-legacy-write: out of memory\n", stderr);
        exit(1);
    }
    memcpy(q, p, len);
    return q;
}

/* First pass: everything the legacy layout needs before the pages. */
static int collect(const char *path, struct image *im, xg_diag *d)
{
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        return fail("cannot open %s", path);
    xg_stream_reader *r;
    if (xg_stream_reader_open(fd, NULL, d, &r) < 0) {
        close(fd);
        return diag_fail(d);
    }
    if (xg_stream_reader_info(r)->domain_type != XG_DOMAIN_X86_PV) {
        xg_stream_reader_close(r);
        close(fd);
        return fail("%s: only x86 PV images have a legacy form here", path);
    }
    struct xg_record rec;
    int rc;
    while ((rc = xg_stream_read(r, &rec)) == 0 && rec.type != XG_REC_END) {
        struct vcpu_state *v = NULL;
        if (rec.type >= XG_REC_X86_PV_VCPU_BASIC && rec.type <= XG_REC_X86_PV_VCPU_XSAVE) {
            if (rec.u.vcpu.vcpu_id >= MAX_VCPUS) {
                rc = fail("%s: vcpu id too large for this tool", path);
                break;
            }
            v = &im->vcpu[rec.u.vcpu.vcpu_id];
        }
        switch (rec.type) {
        case XG_REC_X86_PV_INFO:
            im->width = rec.u.pv_info.guest_width;
            break;
        case XG_REC_X86_PV_P2M_FRAMES:
            im->p2m_size = (uint64_t)rec.u.p2m_frames.end_pfn + 1;
            im->nr_p2m_frames = rec.u.p2m_frames.nr;
            im->p2m_frames = dup_bytes(rec.u.p2m_frames.pfn, rec.u.p2m_frames.nr * 8);
            break;
        case XG_REC_X86_PV_VCPU_BASIC:
            v->online = true;
            v->basic_len = rec.u.vcpu.size;
            v->basic = dup_bytes(rec.u.vcpu.ctx, rec.u.vcpu.size);
            break;
        case XG_REC_X86_PV_VCPU_EXTENDED:
            v->ext_len = rec.u.vcpu.size;
            v->ext = dup_bytes(rec.u.vcpu.ctx, rec.u.vcpu.size);
            break;
        case XG_REC_X86_PV_VCPU_XSAVE:
            v->xsave_len = rec.u.vcpu.size;
            v->xsave = dup_bytes(rec.u.vcpu.ctx, rec.u.vcpu.size);
            break;
        case XG_REC_SHARED_INFO:
            memcpy(im->shinfo, rec.u.blob.data, XG_MIN(rec.u.blob.size, 4096U));
            break;
        case XG_REC_X86_TSC_INFO:
            im->have_tsc = true;
            im->tsc = rec.u.tsc;
            break;
        default:
            break; /* policies, MSRs: the legacy format had no place for them */
        }
    }
    if (rc < 0 && xg_diag_code(d))
        diag_fail(d);
    xg_stream_reader_close(r);
    close(fd);
    if (rc < 0)
        return 1;
    if (!im->width || !im->p2m_size || !im->vcpu[0].online)
        return fail("%s: no X86_PV_INFO, P2M_FRAMES or vcpu0", path);
    if (im->p2m_size > (1U << 28))
        return fail("%s: the guest has pfns above 2^28, which a legacy batch cannot express", path);
    return 0;
}

/* ------------------------------------------------------------ writing */

static void write_wrapper(void)
{
    if (!strcmp(wrap, "xl")) {
        /* xl's header: magic, then big-endian byteorder marker, flags, optional-data length. */
        put("Xen saved domain, xl format\n \0 \r", 32);
        uint8_t bo[4] = { 0x04, 0x03, 0x02, 0x01 }; /* the saving host's native (little-endian) order */
        put(bo, 4);
        put_u32(0); /* mandatory flags: no STREAMv2, so a legacy stream follows */
        put_u32(0); /* optional flags */
        /* Optional data: xl's u32 config length, then the config file. */
        static const char cfg[] = "name = \"legacy\"\n";
        put_u32(4 + sizeof(cfg));
        put_u32(sizeof(cfg));
        put(cfg, sizeof(cfg));
    } else if (!strcmp(wrap, "xend")) {
        static const char cfg[] = "(domain (name legacy) (memory 64))";
        put("LinuxGuestRecord", 16);
        put_be32(sizeof(cfg));
        put(cfg, sizeof(cfg));
    }
}

static void write_head(const struct image *im)
{
    const struct vcpu_state *v0 = &im->vcpu[0];
    uint32_t xcnt = v0->xsave_len ? v0->xsave_len + 16 : 0;
    put_word(im->p2m_size);
    put_word(~0ULL);
    uint32_t total = 8 + v0->basic_len + (v0->ext ? 8 : 0) + (xcnt ? 16 : 0);
    put_u32(total);
    put("vcpu", 4);
    put_u32(v0->basic_len);
    put(v0->basic, v0->basic_len);
    if (v0->ext) {
        put("extv", 4);
        put_u32(0);
    }
    if (xcnt) {
        put("xcnt", 4);
        put_u32(8);
        put_u32(xcnt);
        put_u32(0);
    }
    /* The p2m frame list: as many words as the p2m takes frames of the guest's width. */
    uint64_t fpp = 4096 / im->width, nr = (im->p2m_size - 1) / fpp + 1;
    for (uint64_t i = 0; i < nr; i++)
        put_word(i < im->nr_p2m_frames ? im->p2m_frames[i] : 0);
    if (im->have_tsc) {
        put_u32((uint32_t)-7);
        put_u32(im->tsc.mode);
        put_u64(im->tsc.nsec);
        put_u32(im->tsc.khz);
        put_u32(im->tsc.incarnation);
    }
    unsigned max_id = 0;
    for (unsigned i = 0; i < MAX_VCPUS; i++)
        if (im->vcpu[i].online)
            max_id = i;
    put_u32((uint32_t)-2);
    put_u32(max_id);
    for (unsigned w = 0; w <= max_id / 64; w++) {
        uint64_t map = 0;
        for (unsigned b = 0; b < 64 && w * 64 + b <= max_id; b++)
            if (im->vcpu[w * 64 + b].online)
                map |= 1ULL << b;
        put_u64(map);
    }
}

/* Second pass: every PAGE_DATA record becomes one batch. */
static int write_pages(const char *path, xg_diag *d)
{
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        return fail("cannot open %s", path);
    xg_stream_reader *r;
    if (xg_stream_reader_open(fd, NULL, d, &r) < 0) {
        close(fd);
        return diag_fail(d);
    }
    struct xg_record rec;
    int rc;
    while ((rc = xg_stream_read(r, &rec)) == 0 && rec.type != XG_REC_END) {
        if (rec.type != XG_REC_PAGE_DATA)
            continue;
        const struct xg_rec_page_data *pd = &rec.u.page_data;
        unsigned pad = xtab_pad && pd->count < XG_MAX_BATCH ? 1 : 0;
        put_u32(pd->count + pad);
        for (uint32_t i = 0; i < pd->count; i++) {
            put_word(xg_pd_type(pd->pfn[i]) | xg_pd_pfn(pd->pfn[i]));
            if (pad && i == 0)
                put_word(0xf0000000U);
        }
        put(pd->data, (size_t)pd->nr_data * 4096);
    }
    if (rc < 0)
        diag_fail(d);
    xg_stream_reader_close(r);
    close(fd);
    return rc < 0;
}

static void write_tail(const struct image *im)
{
    put_u32(0); /* end of chunks */
    put_u32(unmapped);
    for (unsigned i = 0; i < unmapped; i++)
        put_word(im->p2m_size - 1 - i);
    uint8_t ext[EXTV_SIZE];
    for (unsigned i = 0; i < MAX_VCPUS; i++) {
        const struct vcpu_state *v = &im->vcpu[i];
        if (!v->online)
            continue;
        put(v->basic, v->basic_len);
        if (im->vcpu[0].ext) {
            memset(ext, 0, sizeof(ext));
            if (v->ext)
                memcpy(ext, v->ext, XG_MIN(v->ext_len, (uint32_t)EXTV_SIZE));
            put(ext, sizeof(ext));
        }
        if (im->vcpu[0].xsave_len) {
            put_u64(v->xsave_len >= 8 ? *(const uint64_t *)v->xsave : 0); /* a mask; the reader ignores it */
            put_u64(im->vcpu[0].xsave_len);
            if (v->xsave_len == im->vcpu[0].xsave_len) {
                put(v->xsave, v->xsave_len);
            } else {
                void *z = calloc(1, im->vcpu[0].xsave_len);
                put(z, im->vcpu[0].xsave_len);
                free(z);
            }
        }
    }
    put(im->shinfo, sizeof(im->shinfo));
}

/* ------------------------------------------------------------ --two-level */

/*
 * A synthetic 2-level (non-PAE) 32-bit guest, written as Xen 3.1's saver on
 * a 32-bit dom0 wrote it: "unsigned long" is 4 bytes, each page-table page
 * holds 1024 32-bit entries, and the legacy type words carry L1TAB/L2TAB
 * (never L3TAB).  The layout follows the 2008 report (../shared/xen-facts.md
 * section 6, NetBSD port-xen 2008-06-12): 3840 pfns (15 MiB), vcpu0's cr3
 * at pfn 1899 (0x76b, machine frame 0x1ee3a), a pinned page directory (L2)
 * per process, a recursive read-only slot 767 (NetBSD's PDIR_SLOT_PTE),
 * the kernel's L1s shared from slot 768 (KERNBASE 0xc0000000) and Xen's
 * slots 1008-1023 left empty, as the saver canonicalised them.  43 tables
 * in all: the report's 3840 - 3797 pfns that its restore never populated
 * (an inference: the post does not list them).
 *
 * --unmapped N records the first N tables (pfn order, the order the saver
 * met them) as that saver recorded a frame its dom0 could not map: the
 * batch word XTAB | mfn (the machine frame, never turned into a pfn) and
 * no data.  With N = 43 every page table is lost, as in 2008.
 */
#define TL_PFNS 3840U
#define TL_CR3 1899U
#define TL_NR_PROC 6U
#define TL_USER_L1S 5U
#define TL_KERNEL_L1S 7U
#define TL_TABLES (TL_NR_PROC + TL_NR_PROC * TL_USER_L1S + TL_KERNEL_L1S)
#define TL_START_INFO 1920U
#define TL_STORE 1921U
#define TL_CONSOLE 1922U
#define TL_GDT 1923U
#define TL_P2M0 1924U      /* 4 frames: 3840 four-byte entries */
#define TL_XEN_SLOT0 1008U /* HYPERVISOR_VIRT_START 0xfc000000 >> 22 */

struct two_level {
    uint64_t seed;
    uint32_t l2[TL_NR_PROC]; /* [0] is vcpu0's cr3 */
    uint32_t user_l1[TL_NR_PROC][TL_USER_L1S];
    uint32_t kernel_l1[TL_KERNEL_L1S];
    uint32_t type[TL_PFNS]; /* legacy type nibble per pfn */
};

static uint64_t tl_rand(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* The machine frame of a pfn on the saving host (pfn 0x74a and the cr3 as in the report). */
static uint32_t tl_mfn(uint32_t pfn)
{
    if (pfn == 0x74a)
        return 0x1ee5b;
    if (pfn == 0x78c)
        return 0x1ee19;
    return 0x1e6cf + pfn;
}

static bool tl_special(uint32_t pfn)
{
    return pfn >= TL_START_INFO && pfn < TL_P2M0 + 4;
}

/* Place the tables: cr3 and the kernel's L1s where the report puts them, the rest by seed. */
static void tl_layout(struct two_level *g)
{
    uint64_t s = g->seed;
    memset(g->type, 0, sizeof(g->type));
    g->l2[0] = TL_CR3;
    g->type[TL_CR3] = XG_PFINFO_L2TAB | XG_PFINFO_LPINTAB;
    for (unsigned i = 0; i < TL_KERNEL_L1S; i++) {
        g->kernel_l1[i] = 1860 + i * 2; /* 0x744.. : the report's L1 at pfn 0x74a among them */
        g->type[g->kernel_l1[i]] = XG_PFINFO_L1TAB;
    }
    for (unsigned p = 0; p < TL_NR_PROC; p++) {
        for (unsigned k = p ? 0 : 1; k <= TL_USER_L1S; k++) {
            uint32_t pfn;
            do
                pfn = 1024 + (uint32_t)(tl_rand(&s) % 2048);
            while (g->type[pfn] || tl_special(pfn));
            if (k == 0) {
                g->l2[p] = pfn;
                g->type[pfn] = XG_PFINFO_L2TAB | XG_PFINFO_LPINTAB;
            } else {
                g->user_l1[p][k - 1] = pfn;
                g->type[pfn] = XG_PFINFO_L1TAB;
            }
        }
    }
}

static bool tl_is_table(const struct two_level *g, uint32_t pfn)
{
    return (g->type[pfn] & XG_PFINFO_LTABTYPE_MASK) != 0;
}

static void tl_put32(uint8_t *page, unsigned slot, uint32_t v)
{
    xg__put_le32(page + 4 * slot, v);
}

/* One page's contents: tables as 1024 32-bit entries, other pages from the seed. */
static void tl_page(const struct two_level *g, uint32_t pfn, uint8_t *page)
{
    memset(page, 0, 4096);
    for (unsigned p = 0; p < TL_NR_PROC; p++) {
        if (pfn == g->l2[p]) {
            static const unsigned user_slot[TL_USER_L1S] = { 32, 33, 288, 289, 766 };
            for (unsigned k = 0; k < TL_USER_L1S; k++)
                tl_put32(page, user_slot[k], g->user_l1[p][k] << 12 | 0x067); /* P|RW|US|A|D */
            tl_put32(page, 767, pfn << 12 | 0x021); /* recursive, read-only */
            for (unsigned k = 0; k < TL_KERNEL_L1S; k++)
                tl_put32(page, 768 + k, g->kernel_l1[k] << 12 | 0x063); /* P|RW|A|D */
            return; /* slots 1008-1023: Xen's, left empty by the saver */
        }
        for (unsigned k = 0; k < TL_USER_L1S; k++) {
            if (pfn != g->user_l1[p][k])
                continue;
            uint64_t s = g->seed ^ pfn;
            for (unsigned e = 0; e < 64; e++) {
                uint32_t target;
                do
                    target = (uint32_t)(tl_rand(&s) % TL_PFNS);
                while (tl_is_table(g, target) || tl_special(target));
                tl_put32(page, e, target << 12 | 0x067);
            }
            return;
        }
    }
    for (unsigned k = 0; k < TL_KERNEL_L1S; k++) {
        if (pfn != g->kernel_l1[k])
            continue;
        /* The first four map all of the guest's memory from KERNBASE: tables and GDT read-only. */
        for (unsigned e = 0; e < 1024 && k < 4; e++) {
            uint32_t target = k * 1024 + e;
            if (target >= TL_PFNS)
                break;
            bool ro = tl_is_table(g, target) || target == TL_GDT;
            tl_put32(page, e, target << 12 | (ro ? 0x021 : 0x063));
        }
        return;
    }
    if (pfn == TL_START_INFO) {
        const struct xg_start_info_layout *L = xg_start_info_layout(4);
        strcpy((char *)page, "xen-3.0-x86_32"); /* no "p": a non-PAE guest */
        xg__put_le32(page + L->nr_pages, TL_PFNS);
        /* The guest made store and console pfns before suspending. */
        xg__put_le32(page + L->store_mfn, TL_STORE);
        xg__put_le32(page + L->console_mfn, TL_CONSOLE);
        xg__put_le32(page + L->store_evtchn, 1);
        xg__put_le32(page + L->console_evtchn, 2);
        xg__put_le32(page + L->pt_base, 0xc0000000U + (TL_CR3 << 12));
        xg__put_le32(page + L->nr_pt_frames, 1 + TL_KERNEL_L1S);
        return;
    }
    if (pfn >= TL_P2M0 && pfn < TL_P2M0 + 4) {
        for (unsigned e = 0; e < 1024; e++)
            tl_put32(page, e, tl_mfn((pfn - TL_P2M0) * 1024 + e));
        return;
    }
    if (pfn == TL_GDT || pfn == TL_STORE || pfn == TL_CONSOLE)
        return;
    uint64_t s = g->seed * 0x2545f4914f6cdd1dULL + pfn;
    for (unsigned i = 0; i < 4096; i += 8)
        xg__put_le64(page + i, tl_rand(&s));
}

/* vcpu0's context: in the extended info with machine frames (as saved), in the tail with pfns. */
static void tl_vcpu(uint8_t *ctx, bool canonical)
{
    const struct xg_vcpu_layout *L = xg_vcpu_layout(4);
    memset(ctx, 0, XG_VCPU_CTX32_SIZE);
    xg__put_le32(ctx + L->flags, XG_VGCF_I387_VALID | XG_VGCF_IN_KERNEL | XG_VGCF_ONLINE);
    xg__put_le32(ctx + L->user_regs_rdx, canonical ? TL_START_INFO : tl_mfn(TL_START_INFO));
    xg__put_le32(ctx + L->user_regs_rip, 0xc0100000U);
    xg__put_le32(ctx + L->gdt_frames, canonical ? TL_GDT : tl_mfn(TL_GDT));
    xg__put_le32(ctx + L->gdt_ents, 32);
    xg__put_le32(ctx + L->kernel_ss, 0x11);
    xg__put_le32(ctx + L->kernel_sp, 0xc0400000U);
    xg__put_le32(ctx + L->ctrlreg + 3 * 4, (canonical ? TL_CR3 : tl_mfn(TL_CR3)) << 12);
}

static int write_two_level(uint64_t seed, unsigned lost)
{
    struct two_level *g = calloc(1, sizeof(*g));
    uint8_t *ctx = malloc(XG_VCPU_CTX32_SIZE), *pages = malloc((size_t)XG_MAX_BATCH * 4096);
    if (!g || !ctx || !pages) {
        free(g);
        free(ctx);
        free(pages);
        return fail("%s", "out of memory");
    }
    g->seed = seed;
    tl_layout(g);
    bits = 32; /* Xen 3.1 on a 32-bit (non-PAE) hypervisor: a 32-bit dom0 toolstack */
    write_wrapper();
    put_word(TL_PFNS);
    put_word(~0ULL);
    put_u32(8 + XG_VCPU_CTX32_SIZE + 8);
    put("vcpu", 4);
    put_u32(XG_VCPU_CTX32_SIZE);
    tl_vcpu(ctx, false);
    put(ctx, XG_VCPU_CTX32_SIZE);
    put("extv", 4);
    put_u32(0);
    for (unsigned i = 0; i < 4; i++)
        put_word(TL_P2M0 + i);
    put_u32((uint32_t)-2); /* VCPU_INFO: vcpu0 only */
    put_u32(0);
    put_u64(1);
    unsigned seen_tables = 0;
    for (uint32_t base = 0; base < TL_PFNS; base += XG_MAX_BATCH) {
        uint32_t n = XG_MIN(TL_PFNS - base, (uint32_t)XG_MAX_BATCH);
        unsigned nr_data = 0;
        put_u32(n);
        for (uint32_t pfn = base; pfn < base + n; pfn++) {
            if (tl_is_table(g, pfn) && seen_tables++ < lost) {
                put_word(XG_PFINFO_XTAB | tl_mfn(pfn)); /* "type fail": the mfn, no data */
                continue;
            }
            put_word(g->type[pfn] | pfn);
            tl_page(g, pfn, pages + (size_t)nr_data++ * 4096);
        }
        put(pages, (size_t)nr_data * 4096);
    }
    put_u32(0); /* end of chunks */
    put_u32(0); /* no unmapped pfns */
    tl_vcpu(ctx, true);
    put(ctx, XG_VCPU_CTX32_SIZE);
    uint8_t ext[EXTV_SIZE] = { 0 };
    put(ext, sizeof(ext));
    uint8_t shinfo[4096] = { 0 };
    const struct xg_shinfo_layout *S = xg_shinfo_layout(4);
    xg__put_le32(shinfo + S->max_pfn, TL_PFNS);
    put(shinfo, sizeof(shinfo));
    free(g);
    free(ctx);
    free(pages);
    return 0;
}

static void usage(FILE *f)
{
    fputs(
        "usage: xg-legacy-write IN OUT [--bits 32|64] [--wrap none|xl|xend] [--unmapped N] "
        "[--xtab-pad]\n"
        "       xg-legacy-write --two-level OUT [--seed S] [--unmapped N] [--wrap none|xl|xend]\n",
        f);
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        { "bits", required_argument, NULL, 'b' }, { "wrap", required_argument, NULL, 'w' },
        { "unmapped", required_argument, NULL, 'u' }, { "xtab-pad", no_argument, NULL, 'x' },
        { "two-level", no_argument, NULL, 't' }, { "seed", required_argument, NULL, 's' },
        { "help", no_argument, NULL, 'h' }, { NULL, 0, NULL, 0 },
    };
    bool two_level = false;
    uint64_t seed = 1;
    int c;
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (c) {
        case 'b': bits = (unsigned)atoi(optarg); break;
        case 'w': wrap = optarg; break;
        case 'u': unmapped = (unsigned)atoi(optarg); break;
        case 'x': xtab_pad = true; break;
        case 't': two_level = true; break;
        case 's': seed = strtoull(optarg, NULL, 0); break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (two_level) {
        if (argc - optind != 1 || xtab_pad || unmapped > TL_TABLES ||
            (strcmp(wrap, "none") && strcmp(wrap, "xl") && strcmp(wrap, "xend"))) {
            usage(stderr);
            if (unmapped > TL_TABLES)
                fprintf(stderr,
                        "xg-legacy-write: --unmapped: the 2-level guest has %u page tables\n",
                        TL_TABLES);
            return 2;
        }
        out = fopen(argv[optind], "wb");
        if (!out)
            return fail("cannot create %s", argv[optind]);
        int rc = write_two_level(seed, unmapped);
        if (fclose(out) != 0)
            rc = fail("%s", "writing the output failed");
        return rc ? 1 : 0;
    }
    if (argc - optind != 2 || (bits != 32 && bits != 64) ||
        (strcmp(wrap, "none") && strcmp(wrap, "xl") && strcmp(wrap, "xend"))) {
        usage(stderr);
        return 2;
    }
    xg_diag *d = xg_diag_new();
    struct image *im = calloc(1, sizeof(*im));
    if (!d || !im)
        return fail("%s", "out of memory");
    int rc = collect(argv[optind], im, d);
    if (rc == 0 && unmapped >= im->p2m_size)
        rc = fail("%s", "--unmapped must be below the guest's pfn count");
    if (rc == 0) {
        out = fopen(argv[optind + 1], "wb");
        if (!out)
            rc = fail("cannot create %s", argv[optind + 1]);
    }
    if (rc == 0) {
        write_wrapper();
        write_head(im);
        rc = write_pages(argv[optind], d);
        if (rc == 0)
            write_tail(im);
        if (fclose(out) != 0)
            rc = fail("%s", "writing the output failed");
    }
    for (unsigned i = 0; i < MAX_VCPUS; i++) {
        free(im->vcpu[i].basic);
        free(im->vcpu[i].ext);
        free(im->vcpu[i].xsave);
    }
    free(im->p2m_frames);
    free(im);
    xg_diag_free(d);
    return rc ? 1 : 0;
}
