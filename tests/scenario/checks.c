/*
 * checks.c - reading what the tools print: exit status, lines, pfns
 * named in error lines.
 */
#include "config.h"

#include "harness.h"

/* First line of a text, for messages. */
const char *first_line(struct scenario *s, const char *text)
{
    size_t n = strcspn(text, "\n");
    return S(s, "%.*s", (int)(n > 300 ? 300 : n), text);
}

bool expect_exit(struct scenario *s, const struct child *c, int want)
{
    if (c->timed_out || c->code == want)
        return !c->timed_out;
    return fail(s, "%s: exit %d, expected %d%s%s", c->cmd, c->code, want,
                c->err.len ? "; stderr: " : "", c->err.len ? first_line(s, buf_str(&c->err)) : "");
}

/* A line of text equal to line. */
bool has_line(const char *text, const char *line)
{
    size_t n = strlen(line);
    for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
        if (!strncmp(p, line, n) && (p[n] == '\n' || p[n] == '\0'))
            return true;
    return false;
}

/* A line starting with prefix and containing every one of the words (NULL-terminated). */
bool has_line_with(const char *text, const char *prefix, const char *const *words)
{
    for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
        size_t len = strcspn(p, "\n");
        if (strncmp(p, prefix, strlen(prefix)) != 0)
            continue;
        bool all = true;
        for (size_t i = 0; words[i] && all; i++) {
            /* The first occurrence from the line's start must lie within the line. */
            const char *w = strstr(p, words[i]);
            all = w && w < p + len;
        }
        if (all)
            return true;
    }
    return false;
}

/* Parse a whole string as an unsigned decimal number. */
bool parse_u64(const char *s, size_t len, uint64_t *out)
{
    if (!len || len > 19)
        return false;
    uint64_t v = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        v = v * 10 + (uint64_t)(s[i] - '0');
    }
    *out = v;
    return true;
}

/*
 * "error:" lines that name pfn 0x<pfn> (lowercase hex, as the tools
 * print it), or, with set != NULL, any pfn whose set[] entry is true.
 */
bool error_names_pfn(const char *text, uint64_t pfn, const bool *set, uint64_t nset)
{
    for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
        size_t len = strcspn(p, "\n");
        if (strncmp(p, "error:", 6) != 0)
            continue;
        for (const char *q = p; (q = strstr(q, "pfn 0x")) && q < p + len; q += 6) {
            char *end;
            unsigned long long v = strtoull(q + 6, &end, 16);
            if (end == q + 6)
                continue;
            if (set ? (v < nset && set[v]) : v == pfn)
                return true;
        }
    }
    return false;
}
