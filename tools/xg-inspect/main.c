/*
 * xg-inspect - look inside a Xen save image without a hypervisor.
 *
 *   xg-inspect --records IMAGE     list every record
 *
 * Exit status: 0 the image is well-formed, 1 it is not (the reason on
 * stderr), 2 usage error.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "xg/xg.h"

static void usage(FILE *out, const char *prog)
{
    fprintf(out,
            "usage: %s [--records] [--verbose] IMAGE\n"
            "\n"
            "Read a Xen save image (libxc migration stream v2, raw, gzip-compressed, or\n"
            "inside an xl/libxl save file) and check it record by record.\n"
            "\n"
            "  -r, --records   list every record (type, length; pfn range and page types\n"
            "                  for PAGE_DATA)\n"
            "  -v, --verbose   more detail in diagnostics\n"
            "  -h, --help      this text\n"
            "\n"
            "IMAGE may be - for standard input.\n"
            "Exit status: 0 well-formed, 1 not (reason on stderr), 2 usage error.\n",
            prog);
}

static const char *wrapper_name(enum xg_stream_wrapper w)
{
    switch (w) {
    case XG_WRAP_XL: return "xl save file";
    case XG_WRAP_LIBXL: return "libxl stream";
    default: return "bare libxc stream";
    }
}

static void print_page_data(const struct xg_record *rec)
{
    const struct xg_rec_page_data *pd = &rec->u.page_data;
    uint64_t lo = UINT64_MAX, hi = 0;
    unsigned by_type[16] = { 0 };
    for (uint32_t i = 0; i < pd->count; i++) {
        uint64_t pfn = xg_pd_pfn(pd->pfn[i]);
        lo = pfn < lo ? pfn : lo;
        hi = pfn > hi ? pfn : hi;
        by_type[xg_pd_type(pd->pfn[i]) >> XG_PFINFO_SHIFT]++;
    }
    printf("  pfns %#llx-%#llx (%u):", (unsigned long long)lo, (unsigned long long)hi, pd->count);
    for (unsigned t = 0; t < 16; t++)
        if (by_type[t])
            printf(" %s=%u", xg_pfinfo_name(t << XG_PFINFO_SHIFT), by_type[t]);
    printf("\n");
}

static void print_record(const struct xg_record *rec)
{
    printf("%6llu @%-10llu %-26s length %u", (unsigned long long)rec->index, (unsigned long long)rec->offset,
           xg_stream_rec_name(rec->type), rec->length);
    switch (rec->type) {
    case XG_REC_PAGE_DATA:
        print_page_data(rec);
        return;
    case XG_REC_X86_PV_INFO:
        printf("  %u-bit guest, %u levels", rec->u.pv_info.guest_width * 8, rec->u.pv_info.pt_levels);
        break;
    case XG_REC_X86_PV_P2M_FRAMES:
        printf("  pfns %#x-%#x in %u frames", rec->u.p2m_frames.start_pfn, rec->u.p2m_frames.end_pfn,
               rec->u.p2m_frames.nr);
        break;
    case XG_REC_X86_PV_VCPU_BASIC:
    case XG_REC_X86_PV_VCPU_EXTENDED:
    case XG_REC_X86_PV_VCPU_XSAVE:
    case XG_REC_X86_PV_VCPU_MSRS:
        printf("  vcpu%u, %u bytes", rec->u.vcpu.vcpu_id, rec->u.vcpu.size);
        break;
    case XG_REC_X86_TSC_INFO:
        printf("  mode %u, %u kHz, %llu ns, incarnation %u", rec->u.tsc.mode, rec->u.tsc.khz,
               (unsigned long long)rec->u.tsc.nsec, rec->u.tsc.incarnation);
        break;
    case XG_REC_X86_CPUID_POLICY:
        printf("  %u leaves", rec->u.cpuid.nr);
        break;
    case XG_REC_X86_MSR_POLICY:
        printf("  %u MSRs", rec->u.msr.nr);
        break;
    case XG_REC_HVM_PARAMS:
        printf("  %u params", rec->u.hvm_params.count);
        break;
    default:
        break;
    }
    printf("\n");
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        { "records", no_argument, NULL, 'r' },
        { "verbose", no_argument, NULL, 'v' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    bool records = false, verbose = false;
    int c;
    while ((c = getopt_long(argc, argv, "rvh", longopts, NULL)) != -1) {
        switch (c) {
        case 'r': records = true; break;
        case 'v': verbose = true; break;
        case 'h': usage(stdout, argv[0]); return 0;
        default: usage(stderr, argv[0]); return 2;
        }
    }
    if (optind != argc - 1) {
        fprintf(stderr, "%s: expected exactly one IMAGE argument\n", argv[0]);
        usage(stderr, argv[0]);
        return 2;
    }
    const char *path = argv[optind];
    int fd = strcmp(path, "-") == 0 ? STDIN_FILENO : open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        fprintf(stderr, "%s: cannot open %s: %s\n", argv[0], path, strerror(errno));
        return 1;
    }

    xg_diag *d = xg_diag_new();
    if (!d) {
        fprintf(stderr, "%s: out of memory\n", argv[0]);
        return 1;
    }
    int status = 1;
    xg_stream_reader *r = NULL;
    if (xg_stream_reader_open(fd, NULL, d, &r) == 0) {
        const struct xg_stream_info *info = xg_stream_reader_info(r);
        printf("%s%s, libxc stream version %u, %s domain, ", wrapper_name(info->wrapper),
               info->gzip ? " (gzip)" : "", info->version,
               info->domain_type == XG_DOMAIN_X86_PV ? "x86 PV" : "x86 HVM");
        if (info->xen_major)
            printf("saved by Xen %u.%u\n", info->xen_major, info->xen_minor);
        else
            printf("converted from a legacy image\n");
        struct xg_record rec;
        uint64_t nr = 0, pages = 0;
        int rc;
        while ((rc = xg_stream_read(r, &rec)) == 0) {
            nr++;
            if (rec.type == XG_REC_PAGE_DATA)
                pages += rec.u.page_data.count;
            if (records)
                print_record(&rec);
            if (rec.type == XG_REC_END)
                break;
        }
        if (rc == 0)
            rc = xg_stream_read_trailer(r);
        if (rc == 0) {
            printf("%llu records, %llu page entries, %llu bytes\n", (unsigned long long)nr,
                   (unsigned long long)pages, (unsigned long long)xg_stream_reader_offset(r));
            status = 0;
        }
    }
    fflush(stdout);
    if (status != 0)
        xg_diag_print(stderr, d, verbose);
    xg_stream_reader_close(r);
    xg_diag_free(d);
    if (fd != STDIN_FILENO)
        close(fd);
    return status;
}
