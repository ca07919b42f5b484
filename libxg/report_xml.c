/*
 * report_xml.c - the XML report of a run (schema: docs/report.md).
 * The only file of libxg that includes libxml2.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/parser.h>
#include <libxml/tree.h>

#include "internal.h"
#include "xg/report.h"
#include "xg/restore.h"
#include "xg/save.h"

struct xg_report {
    xmlDocPtr doc;
    xmlNodePtr root, params, figures;
};

static const xmlChar *X(const char *s)
{
    return (const xmlChar *)s;
}

static void set_u64(xmlNodePtr n, const char *name, uint64_t v)
{
    char buf[32];
    snprintf(buf, sizeof(buf), "%llu", (unsigned long long)v);
    xmlSetProp(n, X(name), X(buf));
}

static void set_hex(xmlNodePtr n, const char *name, uint64_t v)
{
    char buf[32];
    snprintf(buf, sizeof(buf), "%#llx", (unsigned long long)v);
    xmlSetProp(n, X(name), X(buf));
}

static void set_dbl(xmlNodePtr n, const char *name, double v)
{
    char buf[32];
    snprintf(buf, sizeof(buf), "%.6f", v);
    xmlSetProp(n, X(name), X(buf));
}

xg_report *xg_report_new(const char *tool)
{
    xg_report *r = calloc(1, sizeof(*r));
    if (!r)
        return NULL;
    r->doc = xmlNewDoc(X("1.0"));
    r->root = r->doc ? xmlNewNode(NULL, X("xg-report")) : NULL;
    if (!r->root) {
        xmlFreeDoc(r->doc);
        free(r);
        return NULL;
    }
    xmlDocSetRootElement(r->doc, r->root);
    xmlSetProp(r->root, X("schema"), X("1"));
    xmlSetProp(r->root, X("tool"), X(tool));
    xmlSetProp(r->root, X("version"), X(PACKAGE_VERSION));
    r->params = xmlNewChild(r->root, NULL, X("params"), NULL);
    r->figures = xmlNewChild(r->root, NULL, X("figures"), NULL);
    return r;
}

void xg_report_free(xg_report *r)
{
    if (!r)
        return;
    xmlFreeDoc(r->doc);
    free(r);
}

void xg_report_set_result(xg_report *r, int rc, uint32_t domid)
{
    if (!r)
        return;
    xmlSetProp(r->root, X("result"), X(rc == 0 ? "ok" : "failed"));
    xmlSetProp(r->root, X("code"), X(xg_err_name(rc)));
    if (domid != ~0U)
        set_u64(r->root, "domid", domid);
}

void xg_report_set_param(xg_report *r, const char *key, const char *value)
{
    if (!r || !value)
        return;
    xmlNodePtr n = xmlNewChild(r->params, NULL, X("param"), NULL);
    xmlSetProp(n, X("name"), X(key));
    xmlSetProp(n, X("value"), X(value));
}

static void add_types(xmlNodePtr parent, const uint64_t by_type[16])
{
    xmlNodePtr types = xmlNewChild(parent, NULL, X("types"), NULL);
    for (unsigned t = 0; t < 16; t++) {
        if (!by_type[t])
            continue;
        xmlNodePtr n = xmlNewChild(types, NULL, X("type"), NULL);
        xmlSetProp(n, X("name"), X(xg_pfinfo_name(t << XG_PFINFO_SHIFT)));
        set_u64(n, "pages", by_type[t]);
    }
}

void xg_report_add_save(xg_report *r, const struct xg_save_stats *st)
{
    if (!r || !st)
        return;
    xmlNodePtr s = xmlNewChild(r->figures, NULL, X("save"), NULL);
    set_u64(s, "pfns", st->nr_pfns);
    set_u64(s, "pages-sent", st->pages_sent);
    set_u64(s, "pages-after-suspend", st->pages_final);
    set_u64(s, "invalid", st->invalid);
    set_u64(s, "tables-pinned", st->pinned);
    set_u64(s, "vcpus", st->nr_vcpus);
    set_u64(s, "bytes", st->bytes);
    set_dbl(s, "seconds", st->seconds);
    add_types(s, st->by_type);
    xmlNodePtr its = xmlNewChild(s, NULL, X("iterations"), NULL);
    set_u64(its, "count", st->iterations);
    for (unsigned i = 0; i < st->iterations && i < XG_SAVE_MAX_ITERS; i++) {
        xmlNodePtr n = xmlNewChild(its, NULL, X("iteration"), NULL);
        set_u64(n, "n", i + 1);
        set_u64(n, "sent", st->iter[i].sent);
        set_u64(n, "dirty", st->iter[i].dirty);
        set_dbl(n, "seconds", st->iter[i].seconds);
    }
}

/*
 * A 2-level guest (or conflicting evidence), and page tables the saving host
 * lost: only when found.
 */
static void add_paging(xmlNodePtr s, const struct xg_restore_result *res)
{
    const struct xg_paging_evidence *ev = &res->paging;
    if (ev->verdict == XG_PAGING_2LEVEL || ev->verdict == XG_PAGING_CONFLICT) {
        xmlNodePtr p = xmlNewChild(s, NULL, X("paging"), NULL);
        xmlSetProp(p, X("verdict"), X(ev->verdict == XG_PAGING_2LEVEL ? "2-level" : "conflict"));
        set_u64(p, "magic-levels", ev->magic_levels);
        set_u64(p, "cr3-l2", ev->cr3_l2);
        set_u64(p, "cr3-l3", ev->cr3_l3);
        set_u64(p, "tables-2level-contents", ev->fit_2level);
        xmlNodePtr t = xmlNewChild(p, NULL, X("tables-by-level"), NULL);
        static const char *const names[] = { "", "l1", "l2", "l3", "l4" };
        for (unsigned l = 1; l <= 4; l++)
            set_u64(t, names[l], res->tables_by_level[l]);
        xmlNewTextChild(p, NULL, X("evidence"), X(ev->why));
        if (ev->verdict == XG_PAGING_2LEVEL) {
            xmlNewTextChild(p, NULL, X("verdict"), X(xg_restore_two_level_verdict()));
            xmlNewTextChild(p, NULL, X("advice"), X(xg_restore_two_level_advice()));
        }
    }
    const struct xg_lost_tables *lt = &res->lost;
    if (lt->confidence != XG_CONF_NONE) {
        static const char *const conf[] = { "none", "low", "medium", "high" };
        xmlNodePtr n = xmlNewChild(s, NULL, X("lost-tables"), NULL);
        xmlSetProp(n, X("confidence"), X(conf[lt->confidence]));
        set_u64(n, "vcpus", lt->vcpus);
        set_u64(n, "unmappable", lt->unmappable);
        set_u64(n, "named", lt->named);
        set_u64(n, "untyped-tables", lt->untyped_tables);
        xmlNewTextChild(n, NULL, X("evidence"), X(lt->why));
        xmlNewTextChild(n, NULL, X("xen-at-save"), X(lt->xen_says));
    }
}

void xg_report_add_restore(xg_report *r, const struct xg_restore_result *res)
{
    if (!r || !res)
        return;
    xmlNodePtr s = xmlNewChild(r->figures, NULL, X("restore"), NULL);
    set_u64(s, "guest-width", res->guest_width);
    set_u64(s, "pt-levels", res->pt_levels);
    set_u64(s, "pfns", res->max_pfn + 1);
    uint64_t recorded_pinned = 0;
    for (unsigned t = 9; t <= 12; t++) /* L1TAB|LPINTAB .. L4TAB|LPINTAB */
        recorded_pinned += res->by_type[t];
    if (res->check_only)
        xmlSetProp(s, X("check-only"), X("yes"));
    else
        set_u64(s, "pages", res->pages);
    set_u64(s, "tables", res->tables);
    set_u64(s, "tables-live", res->tables_live);
    set_u64(s, "tables-stale", res->tables_stale);
    set_u64(s, "tables-recorded-pinned", recorded_pinned);
    if (!res->check_only) {
        set_u64(s, "tables-pinned", res->pinned);
        set_u64(s, "vcpus", res->nr_vcpus);
    }
    set_u64(s, "image-vcpus", res->image_vcpus);
    set_u64(s, "records", res->records);
    set_u64(s, "bytes", res->bytes);
    set_dbl(s, "seconds", res->seconds);
    set_dbl(s, "validate-seconds", res->validate_seconds);
    if (res->store_mfn != ~0ULL)
        set_u64(s, "store-mfn", res->store_mfn);
    if (res->console_mfn != ~0ULL)
        set_u64(s, "console-mfn", res->console_mfn);
    add_types(s, res->by_type);
    add_paging(s, res);
    for (unsigned i = 0; i < res->nr_vcpu_summary; i++) {
        const struct xg_restore_vcpu *v = &res->vcpu[i];
        xmlNodePtr n = xmlNewChild(s, NULL, X("vcpu"), NULL);
        set_u64(n, "id", v->id);
        set_hex(n, "cr3-pfn", v->cr3_pfn);
        xmlSetProp(n, X("cr3-type"), X(xg_pfinfo_name(v->cr3_type)));
        if (v->has_user) {
            set_hex(n, "user-cr3-pfn", v->user_pfn);
            xmlSetProp(n, X("user-cr3-type"), X(xg_pfinfo_name(v->user_type)));
        }
    }
}

static void add_loc(xmlNodePtr f, const struct xg_loc *l)
{
    xmlNodePtr c = xmlNewChild(f, NULL, X("context"), NULL);
    if (l->has_domid)
        set_u64(c, "domid", l->domid);
    if (l->has_vcpu)
        set_u64(c, "vcpu", l->vcpu);
    if (l->has_rec_index)
        set_u64(c, "record", l->rec_index);
    if (l->has_rec_type)
        set_hex(c, "record-type", l->rec_type);
    if (l->has_offset)
        set_u64(c, "offset", l->offset);
    if (l->field)
        xmlSetProp(c, X("field"), X(l->field));
    if (l->has_found)
        set_hex(c, "found", l->found);
    if (l->has_expected)
        set_hex(c, "expected", l->expected);
    if (l->has_pfn)
        set_hex(c, "pfn", l->pfn);
    if (l->has_mfn)
        set_hex(c, "mfn", l->mfn);
    if (l->has_owner)
        set_u64(c, "owner", l->owner);
    if (l->has_level)
        set_u64(c, "level", l->level);
    if (l->has_slot)
        set_u64(c, "slot", l->slot);
    if (l->has_entry)
        set_hex(c, "entry", l->entry);
    if (l->has_ref_pfn)
        set_hex(c, "ref-pfn", l->ref_pfn);
    if (l->has_ref_type)
        xmlSetProp(c, X("ref-type"), X(xg_pfinfo_name(l->ref_type)));
}

static void add_finding(xmlNodePtr parent, const struct xg_finding *f)
{
    static const char *const sev[] = { "note", "warning", "error" };
    xmlNodePtr n = xmlNewChild(parent, NULL, X("finding"), NULL);
    xmlSetProp(n, X("severity"), X(sev[f->sev]));
    if (f->code)
        xmlSetProp(n, X("code"), X(xg_err_name(f->code)));
    if (f->sys_errno) {
        set_u64(n, "errno", (uint64_t)f->sys_errno);
        xmlSetProp(n, X("strerror"), X(strerror(f->sys_errno)));
    }
    xmlNewTextChild(n, NULL, X("message"), X(f->msg ? f->msg : ""));
    if (f->xen_says)
        xmlNewTextChild(n, NULL, X("xen"), X(f->xen_says));
    if (f->hint)
        xmlNewTextChild(n, NULL, X("hint"), X(f->hint));
    add_loc(n, &f->loc);
}

void xg_report_add_diag(xg_report *r, const xg_diag *d)
{
    if (!r || !d)
        return;
    xmlNodePtr n = xmlNewChild(r->root, NULL, X("diagnostics"), NULL);
    set_u64(n, "errors", xg_diag_total(d, XG_SEV_ERROR));
    set_u64(n, "warnings", xg_diag_total(d, XG_SEV_WARNING));
    set_u64(n, "notes", xg_diag_total(d, XG_SEV_NOTE));
    for (size_t i = 0; i < xg_diag_count(d); i++)
        add_finding(n, xg_diag_get(d, i));
}

int xg_report_write(xg_report *r, const char *path, xg_diag *d)
{
    if (!r)
        return xg_diag_err(d, XG_E_NOMEM, NULL, "out of memory building the report");
    int n = xmlSaveFormatFileEnc(strcmp(path, "-") == 0 ? "-" : path, r->doc, "UTF-8", 1);
    if (n < 0)
        return xg_diag_syserr(d, XG_E_IO, errno, NULL, "cannot write the report %s", path);
    return 0;
}
