/*
 * cli.h - small helpers shared by the command-line tools.
 */
#ifndef XG_TOOLS_CLI_H
#define XG_TOOLS_CLI_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

/* Exit statuses of every tool. */
#define EXIT_OK 0
#define EXIT_FAIL 1
#define EXIT_USAGE 2

/*
 * A usage error: "PROG: message" on stderr, then usage(stderr), or when
 * usage is NULL a pointer to --help.  Returns EXIT_USAGE.
 */
int cli_usage_error(const char *prog, void (*usage)(FILE *out), const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/*
 * Parse a size: bytes, or a number with K, M, G (binary) suffix.
 * Returns false (and leaves *out) when s is not a size.
 */
bool cli_parse_size(const char *s, uint64_t *out);
/* Parse an unsigned decimal (or 0x hex) number in [min, max]. */
bool cli_parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out);
bool cli_parse_double(const char *s, double min, double max, double *out);

#include <stdio.h>

#include "xg/xg.h"
#include "xg/report.h"
#include "xg/save.h"

/*
 * What a tool shows while the engine works: a progress bar on stderr
 * (when enabled) and, when verbose, the engine's log lines.  One struct,
 * passed as the callbacks' arg.
 */
struct cli_ui {
    const char *prog;
    bool progress; /* draw the bar */
    bool verbose;  /* print log lines */
    double last;   /* time of the last redraw */
    bool drawn;    /* a partial line is on screen */
};
/* xg_save_callbacks / xg_restore_callbacks members; arg is a struct cli_ui. */
void cli_ui_progress(void *arg, const struct xg_progress *p);
void cli_ui_log(void *arg, const char *line);
/* End the bar's line, if one was drawn. */
void cli_ui_done(struct cli_ui *ui);

/*
 * Open the backend named by spec (or XG_BACKEND, or real Xen).  On
 * failure returns NULL with the findings in d, which the caller prints;
 * when no backend was asked for, the last one carries a hint on how to use
 * the simulated host.
 */
xg_hv *cli_open_backend(const char *spec, xg_diag *d);

/*
 * A tool's XML report: cli_report_begin makes it with the run's outcome (rc, the domain
 * or ~0U); the tool adds its params and figures; cli_report_finish adds the findings of d,
 * writes it to path ("-": stdout) and frees it.  Returns 0, or -1 when it could not be
 * written (the reason printed on stderr).
 */
xg_report *cli_report_begin(const char *prog, int rc, uint32_t domid);
int cli_report_finish(xg_report *xr, const char *path, const xg_diag *d);

#endif
