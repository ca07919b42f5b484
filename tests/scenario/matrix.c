/*
 * matrix.c - what the groups register their scenarios with: the layouts,
 * add() and the names of a save's modes.  The groups call it; harness.c
 * calls the groups; nothing calls back up.
 */
#include "config.h"

#include "harness.h"

const char *const layouts[NLAYOUTS] = { "linux64", "pae32", "netbsd64" };

void add(struct matrix *mx, const struct config *cfg, const char *group, scenario_fn fn,
         const struct params *p, const char *fmt, ...)
{
    if (mx->n == MAX_SCENARIOS)
        die("more than %u scenarios", MAX_SCENARIOS);
    struct scenario *s = calloc(1, sizeof(*s));
    if (!s)
        die("out of memory");
    va_list ap;
    va_start(ap, fmt);
    if (vasprintf(&s->name, fmt, ap) < 0)
        die("out of memory");
    va_end(ap);
    s->cfg = cfg;
    s->group = group;
    s->fn = fn;
    s->p = *p;
    mx->s[mx->n++] = s;
}

const char *mode_name(const struct params *p)
{
    return p->live ? (p->compress ? "live-gzip" : "live-raw") : (p->compress ? "gzip" : "raw");
}
