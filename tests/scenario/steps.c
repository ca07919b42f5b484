/*
 * steps.c - the steps every group takes on simulated hosts: hosts and
 * guests, domain lists and states, host checks, the restore's output, the
 * workload, image checks, and the save and restore command lines.
 */
#include "config.h"

#include "harness.h"

const char *layout_width(const char *layout)
{
    return !strcmp(layout, "pae32") ? "4" : "8";
}

/* Frames for a host that holds a guest of mem_mb (and its builder's extra). */
unsigned host_frames(unsigned mem_mb)
{
    unsigned pages = mem_mb * 256;
    unsigned frames = 16384 + pages + pages / 4;
    frames = (frames + 4095) & ~4095U;
    return frames < 65536 ? 65536 : frames;
}

bool sim_init(struct scenario *s, const char *host, unsigned mem_mb)
{
    const struct config *cfg = s->cfg;
    struct child *c = run(
        s, ARGV(cfg->xg_sim, "init", host, "--frames", S(s, "%u", host_frames(mem_mb))));
    return expect_exit(s, c, 0);
}

bool init_hosts(struct scenario *s, unsigned mem_mb)
{
    return sim_init(s, "h1", mem_mb) && sim_init(s, "h2", mem_mb);
}

/* A domid alone on a line: what `xg-sim create` prints. */
bool parse_domid(struct scenario *s, const struct child *c, uint32_t *domid)
{
    const char *o = buf_str(&c->out);
    uint64_t v;
    size_t n = strcspn(o, "\n");
    if (!parse_u64(o, n, &v) || v > 0x7fef || (o[n] && o[n + 1]))
        return fail(s, "%s: expected a domid alone on stdout, got \"%s\"", c->cmd,
                    first_line(s, o));
    *domid = (uint32_t)v;
    return true;
}

bool create_guest(struct scenario *s, const char *host, const struct params *p, uint32_t *domid)
{
    const struct config *cfg = s->cfg;
    struct child *c;
    const char *mem = S(s, "%uM", p->mem_mb), *vcpus = S(s, "%u", p->vcpus),
               *seed = S(s, "%u", p->seed);
    if (p->fault)
        c = run(s, ARGV(cfg->xg_sim, "create", host, "--layout", p->layout, "--mem", mem, "--vcpus",
                        vcpus, "--seed", seed, "--fault", p->fault));
    else
        c = run(s, ARGV(cfg->xg_sim, "create", host, "--layout", p->layout, "--mem", mem, "--vcpus",
                        vcpus, "--seed", seed));
    return expect_exit(s, c, 0) && parse_domid(s, c, domid);
}

/* `xg-sim list HOST`: two header lines, then "domid layout state ...". */
bool sim_list(struct scenario *s, const char *host, struct dom_list *l)
{
    struct child *c = run(s, ARGV(s->cfg->xg_sim, "list", host));
    if (!expect_exit(s, c, 0))
        return false;
    l->n = 0;
    unsigned lineno = 0;
    for (const char *p = buf_str(&c->out); *p; p = strchr(p, '\n'), p = p ? p + 1 : "") {
        if (lineno++ < 2 || *p == '\n')
            continue;
        struct dom_entry e;
        if (sscanf(p, "%" SCNu32 " %31s %31s", &e.domid, e.layout, e.state) != 3)
            return fail(s, "%s: cannot read the line \"%s\"", c->cmd, first_line(s, p));
        if (l->n < 64)
            l->d[l->n++] = e;
    }
    return true;
}

const char *dom_state(const struct dom_list *l, uint32_t domid)
{
    for (unsigned i = 0; i < l->n; i++)
        if (l->d[i].domid == domid)
            return l->d[i].state;
    return NULL;
}

bool expect_state(struct scenario *s, const char *host, uint32_t domid, const char *want)
{
    struct dom_list l;
    if (!sim_list(s, host, &l))
        return false;
    const char *st = dom_state(&l, domid);
    if (!st)
        return fail(s, "domain %u is not on %s any more (expected %s)", domid, host, want);
    if (strcmp(st, want) != 0)
        return fail(s, "domain %u on %s is %s, expected %s", domid, host, st, want);
    return true;
}

bool same_domains(struct scenario *s, const char *host, const struct dom_list *a,
                  const struct dom_list *b)
{
    bool ok = a->n == b->n;
    for (unsigned i = 0; ok && i < a->n; i++)
        ok = a->d[i].domid == b->d[i].domid && !strcmp(a->d[i].state, b->d[i].state);
    if (ok)
        return true;
    struct buf m = { 0 };
    for (unsigned i = 0; i < b->n; i++)
        buf_printf(&m, " d%u(%s)", b->d[i].domid, b->d[i].state);
    bool r = fail(s, "%s has %u domains after the failed restore, %u before:%s", host, b->n, a->n,
                  buf_str(&m));
    buf_free(&m);
    return r;
}

bool host_consistent(struct scenario *s, const char *host)
{
    struct child *c = run(s, ARGV(s->cfg->xg_sim, "check", host));
    if (!expect_exit(s, c, 0))
        return false;
    if (!has_line(buf_str(&c->out), "host consistent"))
        return fail(s, "%s: no \"host consistent\" line", c->cmd);
    return true;
}

/*
 * xc_restore's stdout, line by line, the way xend reads it (its regexes
 * are ^(store-mfn) (\d+)$ and ^(console-mfn) (\d+)$), plus "domid N"
 * with --create.  Anything else on stdout is a failure: scripts parse it.
 */
bool parse_restore_output(struct scenario *s, const struct child *c, bool want_domid,
                          struct restored *r)
{
    memset(r, 0, sizeof(*r));
    bool ok = true;
    for (const char *p = buf_str(&c->out); *p; p = strchr(p, '\n'), p = p ? p + 1 : "") {
        size_t len = strcspn(p, "\n");
        static const struct {
            const char *key;
            size_t off_has, off_val;
        } keys[] = {
            { "domid ", offsetof(struct restored, has_domid), offsetof(struct restored, domid) },
            { "store-mfn ", offsetof(struct restored, has_store),
              offsetof(struct restored, store_mfn) },
            { "console-mfn ", offsetof(struct restored, has_console),
              offsetof(struct restored, console_mfn) },
        };
        bool known = false;
        for (size_t k = 0; k < sizeof(keys) / sizeof(keys[0]) && !known; k++) {
            size_t kl = strlen(keys[k].key);
            uint64_t v;
            if (len > kl && !strncmp(p, keys[k].key, kl) && parse_u64(p + kl, len - kl, &v)) {
                bool *has = (bool *)((char *)r + keys[k].off_has);
                if (*has)
                    ok = fail(s, "%s: \"%.*s\" printed twice", c->cmd, (int)kl - 1, p);
                *has = true;
                *(uint64_t *)((char *)r + keys[k].off_val) = v;
                known = true;
            }
        }
        if (!known)
            ok = fail(s, "%s: unexpected line on stdout: \"%.*s\"", c->cmd,
                      (int)(len > 200 ? 200 : len), p);
    }
    if (!r->has_store || !r->has_console)
        ok = fail(s,
                  "%s: stdout lacks a line matching ^store-mfn [0-9]+$"
                  " and one matching ^console-mfn [0-9]+$",
                  c->cmd);
    if (want_domid && !r->has_domid)
        ok = fail(s, "%s: stdout lacks \"domid N\"", c->cmd);
    if (!want_domid && r->has_domid)
        ok = fail(s, "%s: xend mode printed a domid line", c->cmd);
    if (r->has_store && r->has_console && r->store_mfn == r->console_mfn)
        ok = fail(s, "%s: store-mfn and console-mfn are the same frame (%" PRIu64 ")", c->cmd,
                  r->store_mfn);
    return ok;
}

/*
 * The restored guest against the source: equal in PFN space, its own
 * self-check passes paused and after resume, it runs, both hosts are
 * consistent.
 */
bool verify_restored(struct scenario *s, const char *h1, uint32_t d1, const char *h2, uint32_t d2)
{
    const struct config *cfg = s->cfg;
    const char *a = S(s, "%u", d1), *b = S(s, "%u", d2);
    struct child *c = run(s, ARGV(cfg->xg_sim, "compare", h1, a, h2, b));
    if (!expect_exit(s, c, 0))
        return false;
    if (!has_line(buf_str(&c->out), "equal"))
        return fail(s, "%s: exit 0 but no \"equal\" line", c->cmd);
    for (int round = 0; round < 2; round++) {
        if (round) {
            c = run(s, ARGV(cfg->xg_sim, "resume", h2, b));
            if (!expect_exit(s, c, 0) || !expect_state(s, h2, d2, "running"))
                return false;
        }
        c = run(s, ARGV(cfg->xg_sim, "self-check", h2, b));
        if (!expect_exit(s, c, 0))
            return false;
        if (!strstr(buf_str(&c->out), "self-check passed"))
            return fail(s, "%s: exit 0 but no \"self-check passed\"", c->cmd);
    }
    return host_consistent(s, h1) && host_consistent(s, h2);
}

struct child *start_workload(struct scenario *s, const char *host, uint32_t domid,
                             const struct params *p)
{
    struct spawn o;
    spawn_defaults(&o);
    o.timeout = p->dirty_seconds + s->cfg->timeout;
    return child_start(s, &o,
                       ARGV(s->cfg->xg_sim, "run", host, S(s, "%u", domid), "--dirty-rate",
                            S(s, "%g", p->dirty_rate), "--seconds", S(s, "%g", p->dirty_seconds),
                            "--seed", S(s, "%u", p->seed + 100)));
}

/* The workload ran, exited 0, and wrote pages. */
bool workload_ok(struct scenario *s, const struct child *w)
{
    unsigned long long wrote = 0, skipped = 0;
    if (!expect_exit(s, w, 0))
        return false;
    if (sscanf(buf_str(&w->out), "wrote %llu pages (%llu skipped", &wrote, &skipped) != 2)
        return fail(s, "%s: no \"wrote N pages\" line", w->cmd);
    if (!wrote)
        return fail(s, "%s: the workload wrote no page (the guest never ran?)", w->cmd);
    return true;
}

/* gzip magic at the start of the file. */
int file_is_gzip(struct scenario *s, const char *name)
{
    char *path = xasprintf("%s/%s", s->dir, name);
    unsigned char m[2] = { 0, 0 };
    FILE *f = fopen(path, "rb");
    free(path);
    if (!f)
        return -1;
    size_t n = fread(m, 1, 2, f);
    fclose(f);
    return n == 2 && m[0] == 0x1f && m[1] == 0x8b;
}

/*
 * No file called name, or starting with it (a temporary left behind), in
 * the scenario's directory.
 */
bool no_file_like(struct scenario *s, const char *name)
{
    DIR *dir = opendir(s->dir);
    if (!dir)
        return fail(s, "cannot list %s: %s", s->dir, strerror(errno));
    bool ok = true;
    struct dirent *e;
    while ((e = readdir(dir)))
        if (!strncmp(e->d_name, name, strlen(name)))
            ok = fail(s, "%s was left in the directory although the save failed", e->d_name);
    closedir(dir);
    return ok;
}

bool inspect_ok(struct scenario *s, const char *image)
{
    struct child *c = run(s, ARGV(s->cfg->xg_inspect, image));
    if (!expect_exit(s, c, 0))
        return false;
    if (!has_line_with(buf_str(&c->out), "verdict:", ARGV("would restore")))
        return fail(s, "%s: exit 0 but no \"verdict: ... would restore\"", c->cmd);
    return true;
}

const char *const *save_argv(struct scenario *s, uint32_t domid, const struct params *p,
                             const char *out)
{
    const char **v = calloc(16, sizeof(*v));
    if (!v)
        die("out of memory");
    size_t n = 0;
    v[n++] = s->cfg->xc_save;
    v[n++] = "--backend";
    v[n++] = "sim:h1";
    v[n++] = "--domid";
    v[n++] = S(s, "%u", domid);
    if (p->live)
        v[n++] = "--live";
    if (p->compress)
        v[n++] = "--compress";
    v[n++] = "--out";
    v[n++] = out;
    v[n++] = "--verbose";
    v[n] = NULL;
    keep(s, v);
    return v;
}

struct child *restore_create(struct scenario *s, const char *host, unsigned vcpus,
                             const char *image)
{
    return run(s, ARGV(s->cfg->xc_restore, "--backend", S(s, "sim:%s", host), "--create", "--vcpus",
                       S(s, "%u", vcpus), "--in", image));
}
