/*
 * xg-inspect - check a Xen save image offline, without any hypervisor.
 *
 *   xg-inspect IMAGE [--records] [--xml REPORT] [--verbose]
 *
 * Reads the image (raw libxc stream v2, gzip, or inside an xl/libxl save
 * file) and runs the restore engine's own validation on it: the answer to
 * "why will this image not restore?" without a Xen host.
 *
 * Exit status: 0 the image would restore, 1 it would not (reasons on
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

#include "../common/cli.h"
#include "xg/report.h"
#include "xg/restore.h"
#include "xg/xg.h"

static const char *prog = "xg-inspect";

static void usage(FILE *out)
{
    fprintf(out,
            "usage: %s IMAGE [--records] [--structure] [--xml REPORT] [--verbose]\n"
            "\n"
            "Check a Xen save image (libxc migration stream v2: raw, gzip-compressed, or\n"
            "inside an xl/libxl save file; or a legacy pre-Xen 4.6 PV image, bare or in an\n"
            "xl or xend save file) without a hypervisor: the same validation the restore\n"
            "runs before it pins anything, with the same diagnostics.\n"
            "\n"
            "  -r, --records     list every record (type, length; for PAGE_DATA the pfn range\n"
            "                    and page types)\n"
            "  -s, --structure   check the stream's format only (records, fields, order),\n"
            "                    not whether the guest it holds would restore\n"
            "  -x, --xml FILE    write the diagnostics and a summary as XML\n"
            "  -v, --verbose     more detail in the diagnostics\n"
            "  -h, --help        this text\n"
            "\n"
            "IMAGE may be - for standard input.\n"
            "Exit status: 0 the image would restore, 1 it would not, 2 usage error.\n",
            prog);
}

static const char *wrapper_name(enum xg_stream_wrapper w)
{
    switch (w) {
    case XG_WRAP_XL:
        return "xl save file";
    case XG_WRAP_LIBXL:
        return "libxl stream";
    case XG_WRAP_XEND:
        return "xend save file";
    default:
        return "bare libxc stream";
    }
}

/* "xl save file (gzip), libxc stream version 3, x86 PV domain, saved by Xen 4.17" */
static void print_image(const struct xg_stream_info *in)
{
    const char *wrapper = in->legacy && in->wrapper == XG_WRAP_NONE ? "bare image"
                                                                    : wrapper_name(in->wrapper);
    printf("%s%s, ", wrapper, in->gzip ? " (gzip)" : "");
    if (in->legacy)
        printf("legacy (pre-Xen 4.6) stream from a %u-bit "
               "toolstack, read as libxc stream version %u, ",
               in->legacy_toolstack_bits, in->version);
    else
        printf("libxc stream version %u, ", in->version);
    printf("%s domain, ", in->domain_type == XG_DOMAIN_X86_PV ? "x86 PV" : "x86 HVM");
    if (in->legacy)
        printf("saved by Xen before 4.6\n");
    else if (in->xen_major)
        printf("saved by Xen %u.%u\n", in->xen_major, in->xen_minor);
    else
        printf("converted from a legacy image\n");
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
    printf("%6llu @%-10llu %-26s length %u", (unsigned long long)rec->index,
           (unsigned long long)rec->offset, xg_stream_rec_name(rec->type), rec->length);
    switch (rec->type) {
    case XG_REC_PAGE_DATA:
        print_page_data(rec);
        return;
    case XG_REC_X86_PV_INFO:
        printf("  %u-bit guest, %u levels", rec->u.pv_info.guest_width * 8,
               rec->u.pv_info.pt_levels);
        break;
    case XG_REC_X86_PV_P2M_FRAMES:
        printf("  pfns %#x-%#x in %u frames", rec->u.p2m_frames.start_pfn,
               rec->u.p2m_frames.end_pfn, rec->u.p2m_frames.nr);
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

/*
 * --records / --structure: a pass over the records alone (the check pass
 * keeps none).  Ends with "N records, M page entries, B bytes".
 */
static int list_records(int fd, bool print, xg_diag *d)
{
    xg_stream_reader *r = NULL;
    int rc = xg_stream_reader_open(fd, NULL, d, &r);
    if (rc < 0)
        return rc;
    const struct xg_stream_info *info = xg_stream_reader_info(r);
    print_image(info);
    (void)print;
    struct xg_record rec;
    uint64_t nr = 0, pages = 0;
    while ((rc = xg_stream_read(r, &rec)) == 0) {
        nr++;
        if (rec.type == XG_REC_PAGE_DATA)
            pages += rec.u.page_data.count;
        if (print)
            print_record(&rec);
        if (rec.type == XG_REC_END)
            break;
    }
    if (rc == 0)
        rc = xg_stream_read_trailer(r);
    if (rc == 0)
        printf("%llu records, %llu page entries, %llu bytes\n", (unsigned long long)nr,
               (unsigned long long)pages, (unsigned long long)xg_stream_reader_offset(r));
    xg_stream_reader_close(r);
    return rc;
}

/* The evidence behind a 2-level verdict (or a conflict), and page tables the saving host lost. */
static void print_paging(const struct xg_restore_result *res)
{
    static const char *const conf[] = { "", "low", "medium", "high" };
    if (res->paging.verdict == XG_PAGING_2LEVEL) {
        printf("paging:      a 32-bit non-PAE (2-level) PV guest, saved by Xen 3.x: %s\n",
               res->paging.why);
        printf("convert:     Xen's convert-legacy-stream accepts the image, but as a 3-level (PAE) "
               "guest, which it is not\n");
        if (res->image.legacy_unmappable)
            printf("             it keeps the %llu XTAB|mfn entries as pfns beyond the guest, "
                   "which Xen 4.17's restore refuses (\"pfn ... outside domain maximum\")\n",
                   (unsigned long long)res->image.legacy_unmappable);
    } else if (res->paging.verdict == XG_PAGING_CONFLICT) {
        printf("paging:      the evidence conflicts (read as PAE): %s\n", res->paging.why);
    }
    if (res->lost.confidence != XG_CONF_NONE) {
        printf("lost:        the saving dom0 could not map the guest's page tables "
               "(confidence %s): %s\n",
               conf[res->lost.confidence], res->lost.why);
        printf("             at save time Xen would have logged \"%s\" from d0; the likely cause "
               "is the dom0's privcmd driver (it mapped the tables writable), not the guest\n",
               res->lost.xen_says);
    }
}

static void print_summary(const struct xg_restore_result *res)
{
    const struct xg_stream_info *in = &res->image;
    printf("image:       ");
    print_image(in);
    if (!res->guest_width)
        return;
    bool two_level = res->paging.verdict == XG_PAGING_2LEVEL;
    printf("guest:       %u-bit PV, %u page-table levels%s, %llu pfns (%llu MiB)\n",
           res->guest_width * 8, res->pt_levels, two_level ? " (non-PAE)" : "",
           (unsigned long long)res->max_pfn + 1, (unsigned long long)((res->max_pfn + 1) >> 8));
    printf("pages:      ");
    for (unsigned t = 0; t < 16; t++)
        if (res->by_type[t])
            printf(" %s=%llu", xg_pfinfo_name(t << XG_PFINFO_SHIFT),
                   (unsigned long long)res->by_type[t]);
    printf("\n");
    uint64_t pinned = 0;
    for (unsigned t = 9; t <= 12; t++)
        pinned += res->by_type[t];
    if (two_level)
        printf("tables:      %llu by level: L2=%llu L1=%llu (%llu pinned)\n",
               (unsigned long long)res->tables, (unsigned long long)res->tables_by_level[2],
               (unsigned long long)res->tables_by_level[1], (unsigned long long)pinned);
    else
        printf("tables:      %llu (%llu pinned; %llu live, %llu stale)\n",
               (unsigned long long)res->tables, (unsigned long long)pinned,
               (unsigned long long)res->tables_live, (unsigned long long)res->tables_stale);
    printf("vcpus:       %u\n", res->image_vcpus);
    for (unsigned i = 0; i < res->nr_vcpu_summary; i++) {
        const struct xg_restore_vcpu *v = &res->vcpu[i];
        printf("  vcpu%-3u    cr3 pfn %#llx (%s)", v->id, (unsigned long long)v->cr3_pfn,
               xg_pfinfo_name(v->cr3_type));
        if (v->has_user)
            printf(", user cr3 pfn %#llx (%s)", (unsigned long long)v->user_pfn,
                   xg_pfinfo_name(v->user_type));
        printf("\n");
    }
    if (res->image_vcpus > res->nr_vcpu_summary)
        printf("  (%u more)\n", res->image_vcpus - res->nr_vcpu_summary);
    print_paging(res);
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        { "records", no_argument, NULL, 'r' },   { "xml", required_argument, NULL, 'x' },
        { "structure", no_argument, NULL, 's' }, { "verbose", no_argument, NULL, 'v' },
        { "help", no_argument, NULL, 'h' },      { NULL, 0, NULL, 0 },
    };
    bool records = false, verbose = false, structure = false;
    const char *xml = NULL;
    int c;
    while ((c = getopt_long(argc, argv, "rsx:vh", opts, NULL)) != -1) {
        switch (c) {
        case 'r':
            records = true;
            break;
        case 's':
            structure = true;
            break;
        case 'x':
            xml = optarg;
            break;
        case 'v':
            verbose = true;
            break;
        case 'h':
            usage(stdout);
            return EXIT_OK;
        default:
            usage(stderr);
            return EXIT_USAGE;
        }
    }
    if (optind != argc - 1) {
        fprintf(stderr, "%s: expected exactly one IMAGE argument\n", prog);
        usage(stderr);
        return EXIT_USAGE;
    }
    const char *path = argv[optind];
    bool is_stdin = strcmp(path, "-") == 0;
    if (structure && xml) {
        fprintf(stderr, "%s: --structure writes no XML report\n", prog);
        return EXIT_USAGE;
    }
    if (records && !structure && is_stdin) {
        fprintf(stderr, "%s: --records reads the image twice: give a file, not standard input\n",
                prog);
        return EXIT_USAGE;
    }
    int fd = is_stdin ? STDIN_FILENO : open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        fprintf(stderr, "%s: cannot open %s: %s\n", prog, path, strerror(errno));
        return EXIT_FAIL;
    }
    xg_diag *d = xg_diag_new();
    if (!d)
        return EXIT_FAIL;
    int rc = 0;
    if (structure) {
        rc = list_records(fd, records, d);
        if (rc < 0)
            xg_diag_print(stderr, d, verbose);
        xg_diag_free(d);
        if (!is_stdin)
            close(fd);
        return rc == 0 ? EXIT_OK : EXIT_FAIL;
    }
    if (records) {
        rc = list_records(fd, true, d);
        if (rc == 0 && lseek(fd, 0, SEEK_SET) < 0)
            rc = xg_diag_syserr(d, XG_E_IO, errno, NULL, "cannot rewind %s", path);
        if (rc == 0)
            printf("\n");
    }
    struct xg_restore_result res;
    memset(&res, 0, sizeof(res));
    if (rc == 0)
        rc = xg_image_check(fd, NULL, &res, d);
    fflush(stdout);
    if (res.image.version)
        print_summary(&res);
    if (rc == 0) {
        printf("verdict:     the image would restore\n");
    } else if (res.paging.verdict == XG_PAGING_2LEVEL) {
        printf("verdict:     the image would NOT restore: %s\n", xg_restore_two_level_verdict());
        printf("what to do:  %s\n", xg_restore_two_level_advice());
    } else {
        printf("verdict:     the image would NOT restore (%zu errors)\n",
               xg_diag_total(d, XG_SEV_ERROR));
    }
    fflush(stdout);
    if (rc < 0 || verbose || xg_diag_total(d, XG_SEV_WARNING))
        xg_diag_print(stderr, d, verbose);
    if (xml) {
        xg_report *xr = cli_report_begin(prog, rc, ~0U);
        xg_report_set_param(xr, "image", path);
        xg_report_add_restore(xr, &res);
        if (cli_report_finish(xr, xml, d) < 0)
            rc = XG_E_IO;
    }
    xg_diag_free(d);
    if (!is_stdin)
        close(fd);
    return rc == 0 ? EXIT_OK : EXIT_FAIL;
}
