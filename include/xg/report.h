/*
 * xg/report.h - a run's diagnostics and figures as an XML document (made
 * with libxml2), for tools' --report and for machines that read them.
 * The schema is in docs/report.md.
 */
#ifndef XG_REPORT_H
#define XG_REPORT_H

#include <stdint.h>

#include "xg/diag.h"

#ifdef __cplusplus
extern "C" {
#endif

struct xg_save_stats;
struct xg_restore_result;

typedef struct xg_report xg_report;

/* A report for one run of `tool`; NULL when out of memory. */
xg_report *xg_report_new(const char *tool);
void xg_report_free(xg_report *r);

/* The outcome: rc 0 or XG_E_*, the domain it was about (~0U: none). */
void xg_report_set_result(xg_report *r, int rc, uint32_t domid);
/* Free-form key/value about the run (backend, image path...). */
void xg_report_set_param(xg_report *r, const char *key, const char *value);
void xg_report_add_save(xg_report *r, const struct xg_save_stats *st);
void xg_report_add_restore(xg_report *r, const struct xg_restore_result *res);
/* Every finding kept in d, and the totals. */
void xg_report_add_diag(xg_report *r, const xg_diag *d);

/* Write the document to path ("-" for stdout).  Returns 0 or XG_E_IO (in d). */
int xg_report_write(xg_report *r, const char *path, xg_diag *d);

#ifdef __cplusplus
}
#endif
#endif
