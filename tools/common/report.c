/*
 * report.c - the XML report a tool writes with --report / --xml: begun with the
 * run's outcome, filled by the tool, finished with the findings.
 */
#include "config.h"

#include "cli.h"

xg_report *cli_report_begin(const char *prog, int rc, uint32_t domid)
{
    xg_report *xr = xg_report_new(prog);
    xg_report_set_result(xr, rc, domid);
    return xr;
}

int cli_report_finish(xg_report *xr, const char *path, const xg_diag *d)
{
    xg_report_add_diag(xr, d);
    xg_diag *rd = xg_diag_new();
    int rc = xg_report_write(xr, path, rd);
    if (rc < 0)
        xg_diag_print(stderr, rd, false);
    xg_diag_free(rd);
    xg_report_free(xr);
    return rc < 0 ? -1 : 0;
}
