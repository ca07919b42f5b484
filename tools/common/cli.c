/*
 * cli.c - helpers shared by the tools: argument parsing, usage errors,
 * progress and log output, opening a backend.
 */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>

#include "cli.h"

bool cli_parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
    if (!s || !*s || *s == '-')
        return false;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 0);
    if (errno || *end || v < min || v > max)
        return false;
    *out = v;
    return true;
}

bool cli_parse_double(const char *s, double min, double max, double *out)
{
    if (!s || !*s)
        return false;
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || *end || !(v >= min && v <= max))
        return false;
    *out = v;
    return true;
}

bool cli_parse_size(const char *s, uint64_t *out)
{
    if (!s || !*s || *s == '-')
        return false;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s)
        return false;
    unsigned shift = 0;
    switch (*end) {
    case '\0':
        break;
    case 'k':
    case 'K':
        shift = 10;
        end++;
        break;
    case 'm':
    case 'M':
        shift = 20;
        end++;
        break;
    case 'g':
    case 'G':
        shift = 30;
        end++;
        break;
    default:
        return false;
    }
    if (*end == 'i' || *end == 'B') {
        if (*end == 'i')
            end++;
        if (*end == 'B')
            end++;
    }
    if (*end || (shift && v > (~0ULL >> shift)))
        return false;
    *out = (uint64_t)v << shift;
    return true;
}

#include <string.h>
#include <time.h>

/* Seconds on a monotonic clock: the tools link libxg's public API only. */
static double cli_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void cli_ui_progress(void *arg, const struct xg_progress *p)
{
    struct cli_ui *ui = arg;
    if (!ui || !ui->progress)
        return;
    double now = cli_now();
    if (p->done < p->total && now - ui->last < 0.1)
        return;
    ui->last = now;
    double gib = 0;
    if (p->seconds > 0)
        gib = (double)(p->bytes ? p->bytes : p->done * 4096) / p->seconds / (1 << 30);
    fprintf(stderr, "\r%-10s pass %-3u %10llu / %-10llu  %6.2f GiB/s ", p->phase, p->iteration,
            (unsigned long long)p->done, (unsigned long long)p->total, gib);
    ui->drawn = true;
    fflush(stderr);
}

void cli_ui_done(struct cli_ui *ui)
{
    if (ui && ui->drawn) {
        fputc('\n', stderr);
        ui->drawn = false;
    }
}

void cli_ui_log(void *arg, const char *line)
{
    struct cli_ui *ui = arg;
    if (!ui->verbose)
        return;
    cli_ui_done(ui);
    fprintf(stderr, "%s: %s\n", ui->prog, line);
}

xg_hv *cli_open_backend(const char *spec, xg_diag *d)
{
    xg_hv *hv = NULL;
    if (xg_hv_open(spec, d, &hv) == 0)
        return hv;
    /* The caller prints d: the finding and this hint once, in that order. */
    if (!spec && !getenv("XG_BACKEND"))
        xg_diag_hint(d, "no Xen here; to run on a simulated host: "
                        "xg-sim init HOST, then --backend sim:HOST");
    return NULL;
}

int cli_usage_error(const char *prog, void (*usage)(FILE *out), const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "%s: ", prog);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    if (usage) {
        fprintf(stderr, "\n");
        usage(stderr);
    } else {
        fprintf(stderr, "\n(run `%s --help` for usage)\n", prog);
    }
    return EXIT_USAGE;
}
