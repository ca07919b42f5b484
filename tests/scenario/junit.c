/*
 * junit.c - the JUnit XML file (libxml2): one <testcase> per scenario,
 * the commands it ran with their output.
 */
#include "config.h"

#include "harness.h"

/*
 * Text fit for an XML document: valid UTF-8, no control characters but
 * tab and newline; long text keeps its head and tail.
 */
static char *xml_text(const struct buf *b)
{
    const unsigned char *p = (const unsigned char *)buf_str(b);
    size_t n = b->len;
    struct buf o = { 0 };
    size_t cut_from = n, cut_to = n;
    if (n > JUNIT_HEAD + JUNIT_TAIL) {
        cut_from = JUNIT_HEAD;
        cut_to = n - JUNIT_TAIL;
    }
    for (size_t i = 0; i < n;) {
        if (i == cut_from) {
            buf_printf(&o, "\n[... %zu bytes left out ...]\n", cut_to - cut_from);
            i = cut_to;
            /* Resynchronise on a character boundary. */
            while (i < n && (p[i] & 0xc0) == 0x80)
                i++;
            continue;
        }
        unsigned char ch = p[i];
        size_t len = 0;
        if (ch == '\t' || ch == '\n' || (ch >= 0x20 && ch < 0x7f))
            len = 1;
        else if (ch >= 0xc2 && ch <= 0xdf)
            len = 2;
        else if (ch >= 0xe0 && ch <= 0xef)
            len = 3;
        else if (ch >= 0xf0 && ch <= 0xf4)
            len = 4;
        bool valid = len > 0 && i + len <= n;
        for (size_t k = 1; valid && k < len; k++)
            valid = (p[i + k] & 0xc0) == 0x80;
        if (valid && len == 3)
            valid = !(ch == 0xe0 && p[i + 1] < 0xa0) && !(ch == 0xed && p[i + 1] >= 0xa0) &&
                    !(ch == 0xef && p[i + 1] == 0xbf && p[i + 2] >= 0xbe);
        if (valid && len == 4)
            valid = !(ch == 0xf0 && p[i + 1] < 0x90) && !(ch == 0xf4 && p[i + 1] >= 0x90);
        if (valid) {
            buf_add(&o, p + i, len);
            i += len;
        } else {
            buf_add(&o, "?", 1);
            i++;
        }
    }
    if (b->dropped)
        buf_printf(&o, "\n[... %zu more bytes not kept ...]\n", b->dropped);
    if (!o.p)
        buf_add(&o, "", 0);
    return o.p;
}

static void set_prop(xmlNodePtr n, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void set_prop(xmlNodePtr n, const char *name, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *v;
    if (vasprintf(&v, fmt, ap) < 0)
        die("out of memory");
    va_end(ap);
    struct buf b = { 0 };
    buf_add(&b, v, strlen(v));
    char *safe = xml_text(&b);
    xmlNewProp(n, BAD_CAST name, BAD_CAST safe);
    free(safe);
    buf_free(&b);
    free(v);
}

static void text_child(xmlNodePtr parent, const char *name, const struct buf *b)
{
    char *safe = xml_text(b);
    xmlNewTextChild(parent, NULL, BAD_CAST name, BAD_CAST safe);
    free(safe);
}

int write_junit(const struct config *cfg, struct scenario *const *ss, unsigned n, double seconds,
                time_t started)
{
    unsigned failures = 0;
    for (unsigned i = 0; i < n; i++)
        failures += ss[i]->nfail != 0;
    xmlDocPtr doc = xmlNewDoc(BAD_CAST "1.0");
    xmlNodePtr root = xmlNewNode(NULL, BAD_CAST "testsuites");
    if (!doc || !root)
        die("out of memory");
    xmlDocSetRootElement(doc, root);
    set_prop(root, "name", "xg");
    set_prop(root, "tests", "%u", n);
    set_prop(root, "failures", "%u", failures);
    set_prop(root, "errors", "0");
    set_prop(root, "time", "%.3f", seconds);
    xmlNodePtr suite = xmlNewChild(root, NULL, BAD_CAST "testsuite", NULL);
    set_prop(suite, "name", "xg-scenarios");
    set_prop(suite, "tests", "%u", n);
    set_prop(suite, "failures", "%u", failures);
    set_prop(suite, "errors", "0");
    set_prop(suite, "skipped", "0");
    set_prop(suite, "time", "%.3f", seconds);
    char stamp[32];
    struct tm tm;
    strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", localtime_r(&started, &tm));
    set_prop(suite, "timestamp", "%s", stamp);
    xmlNodePtr props = xmlNewChild(suite, NULL, BAD_CAST "properties", NULL);
    xmlNodePtr prop = xmlNewChild(props, NULL, BAD_CAST "property", NULL);
    set_prop(prop, "name", "matrix");
    set_prop(prop, "value", "%s", cfg->full ? "full" : "quick");
    for (unsigned i = 0; i < n; i++) {
        const struct scenario *s = ss[i];
        xmlNodePtr tc = xmlNewChild(suite, NULL, BAD_CAST "testcase", NULL);
        set_prop(tc, "classname", "scenario.%s", s->group);
        set_prop(tc, "name", "%s", s->name);
        set_prop(tc, "time", "%.3f", s->seconds);
        if (s->nfail) {
            char *body = xml_text(&s->failures);
            xmlNodePtr f = xmlNewTextChild(tc, NULL, BAD_CAST "failure", BAD_CAST body);
            free(body);
            set_prop(f, "message", "%s", s->first_failure);
            set_prop(f, "type", "%s", "failure");
        }
        text_child(tc, "system-out", &s->out);
        text_child(tc, "system-err", &s->err);
    }
    int rc = xmlSaveFormatFileEnc(cfg->junit, doc, "UTF-8", 1);
    xmlFreeDoc(doc);
    return rc < 0 ? -1 : 0;
}
