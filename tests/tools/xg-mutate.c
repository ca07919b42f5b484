/*
 * xg-mutate - make a broken image from a good one, for tests: copy a
 * stream record by record, changing what the options say.
 *
 *   xg-mutate IN OUT [--type PFN=TYPE]... [--entry PFN:SLOT=VALUE]...
 *                    [--drop PFN]... [--cr3 VCPU=PFN] [--gdt VCPU=PFN]
 *                    [--drop-record NAME]... [--tables-as NOTAB|XTAB]
 *                    [--truncate BYTES] [--seed N] [--print PFN:SLOT]...
 *
 * TYPE is a page type name (NOTAB, L1TAB, L2TAB|LPINTAB, XTAB...) or its
 * nibble in hex.  VALUE is a raw 64-bit entry in the image's (PFN) form.
 * --tables-as rewrites every page table's type, as the 2008 legacy saver
 * did when dom0 could not map them (XTAB drops the data too).
 * --seed N adds one mutation chosen from N (mutate-pick.c) and prints
 * what it is on stdout: the same image and seed give the same mutant.
 * --print PFN:SLOT prints the input's entry there ("PFN:SLOT=VALUE").
 * The output is always an uncompressed bare libxc stream.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pv/pv.h"
#include "xg-mutate.h"
#include "xg/xg.h"

struct edit_type { uint64_t pfn; uint32_t type; };
struct edit_entry { uint64_t pfn; unsigned slot; uint64_t value; };

static struct edit_type types[MAX_EDITS];
static struct edit_entry entries[MAX_EDITS];
static struct edit_entry prints[MAX_EDITS];
static unsigned nprints;
static uint64_t drops[MAX_EDITS];
static const char *drop_records[MAX_EDITS];
static unsigned ntypes, nentries, ndrops, ndrop_records;
static long cr3_vcpu = -1, gdt_vcpu = -1;
static uint64_t cr3_pfn, gdt_pfn;
static bool retype_tables;
static uint32_t tables_as;

bool mutate_add_type(uint64_t pfn, uint32_t type)
{
    if (ntypes == MAX_EDITS)
        return false;
    types[ntypes++] = (struct edit_type){ pfn, type };
    return true;
}

bool mutate_add_entry(uint64_t pfn, unsigned slot, uint64_t value)
{
    if (nentries == MAX_EDITS || slot > 511)
        return false;
    entries[nentries++] = (struct edit_entry){ pfn, slot, value };
    return true;
}

bool mutate_add_drop(uint64_t pfn)
{
    if (ndrops == MAX_EDITS)
        return false;
    drops[ndrops++] = pfn;
    return true;
}

void mutate_set_cr3(long vcpu, uint64_t pfn)
{
    cr3_vcpu = vcpu;
    cr3_pfn = pfn;
}

void mutate_set_gdt(long vcpu, uint64_t pfn)
{
    gdt_vcpu = vcpu;
    gdt_pfn = pfn;
}

static int die(const char *what)
{
    fprintf(stderr, "xg-mutate: %s\n", what);
    return 2;
}

static bool parse_type(const char *s, uint32_t *out)
{
    for (unsigned n = 0; n < 16; n++) {
        if (!strcmp(s, xg_pfinfo_name(n << XG_PFINFO_SHIFT))) {
            *out = n << XG_PFINFO_SHIFT;
            return true;
        }
    }
    char *end;
    unsigned long v = strtoul(s, &end, 16);
    if (*end || v > 15)
        return false;
    *out = (uint32_t)v << XG_PFINFO_SHIFT;
    return true;
}

static bool dropped(uint64_t pfn)
{
    for (unsigned i = 0; i < ndrops; i++)
        if (drops[i] == pfn)
            return true;
    return false;
}

static int copy_page_data(xg_stream_writer *w, const struct xg_record *rec, uint8_t *scratch)
{
    const struct xg_rec_page_data *pd = &rec->u.page_data;
    uint64_t out_e[XG_MAX_BATCH];
    const void *out_p[XG_MAX_BATCH];
    unsigned n = 0, np = 0;
    const uint8_t *data = pd->data;
    for (uint32_t i = 0; i < pd->count; i++) {
        uint64_t pfn = xg_pd_pfn(pd->pfn[i]);
        uint32_t t = xg_pd_type(pd->pfn[i]);
        const uint8_t *page = xg_pfinfo_has_data(t) ? data : NULL;
        if (page)
            data += XG_PAGE_SIZE;
        if (dropped(pfn))
            continue;
        if (retype_tables && xg_pfinfo_level(t))
            t = tables_as;
        for (unsigned k = 0; k < ntypes; k++)
            if (types[k].pfn == pfn)
                t = types[k].type;
        for (unsigned k = 0; k < nprints; k++) {
            uint64_t v;
            if (prints[k].pfn == pfn && page) {
                memcpy(&v, page + prints[k].slot * 8, 8);
                printf("%#llx:%u=%#llx\n", (unsigned long long)pfn, prints[k].slot,
                       (unsigned long long)v);
            }
        }
        if (page && xg_pfinfo_has_data(t)) {
            uint8_t *copy = scratch + (size_t)np * XG_PAGE_SIZE;
            memcpy(copy, page, XG_PAGE_SIZE);
            for (unsigned k = 0; k < nentries; k++)
                if (entries[k].pfn == pfn)
                    memcpy(copy + entries[k].slot * 8, &entries[k].value, 8);
            out_p[np++] = copy;
        } else if (!page && xg_pfinfo_has_data(t)) {
            /* A type with data but none sent: send a zero page. */
            uint8_t *copy = scratch + (size_t)np * XG_PAGE_SIZE;
            memset(copy, 0, XG_PAGE_SIZE);
            out_p[np++] = copy;
        }
        out_e[n++] = xg_pd_entry(pfn, t);
        if (n == XG_MAX_BATCH) {
            int rc = xg_stream_write_page_data(w, n, out_e, out_p);
            if (rc < 0)
                return rc;
            n = np = 0;
        }
    }
    return n ? xg_stream_write_page_data(w, n, out_e, out_p) : 0;
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        { "type", required_argument, NULL, 't' },        { "entry", required_argument, NULL, 'e' },
        { "drop", required_argument, NULL, 'd' },        { "cr3", required_argument, NULL, 'c' },
        { "gdt", required_argument, NULL, 'g' },         { "drop-record", required_argument, NULL, 'R' },
        { "tables-as", required_argument, NULL, 'T' },   { "truncate", required_argument, NULL, 'x' },
        { "seed", required_argument, NULL, 's' },       { "print", required_argument, NULL, 'P' },
        { NULL, 0, NULL, 0 },
    };
    long long truncate_at = -1;
    const char *seed = NULL;
    int c;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        char *eq;
        switch (c) {
        case 't':
            if (ntypes == MAX_EDITS || !(eq = strchr(optarg, '=')))
                return die("bad --type PFN=TYPE");
            *eq = '\0';
            types[ntypes].pfn = strtoull(optarg, NULL, 0);
            if (!parse_type(eq + 1, &types[ntypes].type))
                return die("bad type name");
            ntypes++;
            break;
        case 'e': {
            unsigned long long pfn, value;
            unsigned slot;
            if (nentries == MAX_EDITS || sscanf(optarg, "%lli:%u=%lli", &pfn, &slot, &value) != 3 || slot > 511)
                return die("bad --entry PFN:SLOT=VALUE");
            entries[nentries++] = (struct edit_entry){ pfn, slot, value };
            break;
        }
        case 'd':
            if (ndrops == MAX_EDITS)
                return die("too many --drop");
            drops[ndrops++] = strtoull(optarg, NULL, 0);
            break;
        case 'c':
        case 'g': {
            long v;
            unsigned long long pfn;
            if (sscanf(optarg, "%li=%lli", &v, &pfn) != 2)
                return die("bad --cr3/--gdt VCPU=PFN");
            if (c == 'c')
                cr3_vcpu = v, cr3_pfn = pfn;
            else
                gdt_vcpu = v, gdt_pfn = pfn;
            break;
        }
        case 'R':
            if (ndrop_records == MAX_EDITS)
                return die("too many --drop-record");
            drop_records[ndrop_records++] = optarg;
            break;
        case 'T': {
            uint32_t t;
            if (!parse_type(optarg, &t))
                return die("bad --tables-as type");
            tables_as = t;
            retype_tables = true;
            break;
        }
        case 'x':
            truncate_at = strtoll(optarg, NULL, 0);
            break;
        case 's':
            seed = optarg;
            break;
        case 'P': {
            unsigned long long pfn;
            unsigned slot;
            if (nprints == MAX_EDITS || sscanf(optarg, "%lli:%u", &pfn, &slot) != 2 || slot > 511)
                return die("bad --print PFN:SLOT");
            prints[nprints++] = (struct edit_entry){ pfn, slot, 0 };
            break;
        }
        default:
            return die("unknown option");
        }
    }
    if (argc - optind != 2)
        return die("usage: xg-mutate IN OUT [edits]");
    if (seed) {
        char *end, desc[256];
        errno = 0;
        unsigned long long n = strtoull(seed, &end, 0);
        if (errno || *end || !*seed)
            return die("bad --seed N");
        if (mutate_pick(argv[optind], n, desc, sizeof(desc)) < 0)
            return die(desc);
        printf("seed %llu: %s\n", n, desc);
        fflush(stdout);
    }
    int in = open(argv[optind], O_RDONLY);
    int out = open(argv[optind + 1], O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (in < 0 || out < 0)
        return die(strerror(errno));
    xg_diag *d = xg_diag_new();
    xg_stream_reader *r = NULL;
    xg_stream_writer *w = NULL;
    uint8_t *scratch = malloc((size_t)XG_MAX_BATCH * XG_PAGE_SIZE);
    int rc = xg_stream_reader_open(in, NULL, d, &r);
    if (rc == 0)
        rc = xg_stream_writer_open(out, NULL, d, &w);
    if (rc == 0) {
        const struct xg_stream_info *info = xg_stream_reader_info(r);
        rc = xg_stream_write_headers(w, info->domain_type, info->xen_major, info->xen_minor);
    }
    struct xg_record rec;
    unsigned width = 8;
    while (rc == 0 && (rc = xg_stream_read(r, &rec)) == 0) {
        bool skip = false;
        for (unsigned i = 0; i < ndrop_records; i++)
            skip |= !strcmp(drop_records[i], xg_stream_rec_name(rec.type));
        if (skip)
            continue;
        if (rec.type == XG_REC_X86_PV_INFO)
            width = rec.u.pv_info.guest_width;
        if (rec.type == XG_REC_PAGE_DATA) {
            rc = copy_page_data(w, &rec, scratch);
        } else if (rec.type == XG_REC_X86_PV_VCPU_BASIC &&
                   ((long)rec.u.vcpu.vcpu_id == cr3_vcpu || (long)rec.u.vcpu.vcpu_id == gdt_vcpu)) {
            uint8_t ctx[XG_VCPU_CTX_MAX];
            memcpy(ctx, rec.u.vcpu.ctx, rec.u.vcpu.size);
            const struct xg_vcpu_layout *L = xg_vcpu_layout(width);
            if ((long)rec.u.vcpu.vcpu_id == cr3_vcpu)
                xg_guest_set_word(ctx, L->ctrlreg + 3 * L->word, L->word, xg_frame_to_cr3(cr3_pfn, width));
            if ((long)rec.u.vcpu.vcpu_id == gdt_vcpu)
                xg_guest_set_word(ctx, L->gdt_frames, L->word, gdt_pfn);
            rc = xg_stream_write_vcpu(w, rec.type, rec.u.vcpu.vcpu_id, ctx, rec.u.vcpu.size);
        } else {
            rc = xg_stream_write_record(w, rec.type, rec.body, rec.length);
        }
        if (rec.type == XG_REC_END)
            break;
    }
    if (rc == 0)
        rc = xg_stream_writer_close(w);
    else
        xg_stream_writer_close(w);
    xg_stream_reader_close(r);
    free(scratch);
    if (rc == 0 && truncate_at >= 0 && ftruncate(out, truncate_at) < 0)
        rc = XG_E_IO;
    close(in);
    close(out);
    if (rc < 0)
        xg_diag_print(stderr, d, false);
    xg_diag_free(d);
    return rc < 0 ? 1 : 0;
}
