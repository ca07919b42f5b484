/*
 * xend.c - the xend group: the harness plays xend (the suspend/done
 * handshake, the image on a descriptor, xc_restore with 7 and 9
 * arguments, HVM refused, a wrong answer to "suspend").
 */
#include "config.h"

#include "harness.h"

struct xend {
    struct scenario *s;
    uint32_t domid;
    const char *answer; /* what xend answers to "suspend" */
    unsigned suspends;
    bool ok;
};

/* xend's saveInputHandler: on "suspend", suspend the domain, answer "done". */
static void xend_on_line(struct child *c, const char *line, void *arg)
{
    struct xend *x = arg;
    struct scenario *s = x->s;
    buf_printf(&s->out, "(xend) xc_save said \"%s\"\n", line);
    if (strcmp(line, "suspend") != 0) {
        x->ok = fail(s, "%s: unexpected line on stdout: \"%s\"", c->cmd, line);
        return;
    }
    if (x->suspends++) {
        x->ok = fail(s, "%s: asked to suspend twice", c->cmd);
        return;
    }
    if (!expect_state(s, "h1", x->domid, "running")) {
        x->ok = false;
        return;
    }
    if (!strcmp(x->answer, "done")) {
        struct child *su = run(s, ARGV(s->cfg->xg_sim, "suspend", "h1", S(s, "%u", x->domid)));
        if (!expect_exit(s, su, 0)) {
            x->ok = false;
            return;
        }
    }
    char *msg = xasprintf("%s\n", x->answer);
    if (write(c->in_fd, msg, strlen(msg)) != (ssize_t)strlen(msg))
        x->ok = fail(s, "cannot answer xc_save: %s", strerror(errno));
    free(msg);
    buf_printf(&s->out, "(xend) answered \"%s\"\n", x->answer);
}

static int open_image(struct scenario *s, const char *name, int flags)
{
    char *path = xasprintf("%s/%s", s->dir, name);
    int fd = open(path, flags | O_CLOEXEC, 0644);
    if (fd < 0)
        fail(s, "cannot open %s: %s", path, strerror(errno));
    free(path);
    return fd;
}

/* xc_save IOFD DOMID 0 0 FLAGS with the handshake; the image goes to `image`. */
static struct child *xend_save(struct scenario *s, uint32_t domid, unsigned flags,
                               const char *answer, const char *image, struct xend *x)
{
    int fd = open_image(s, image, O_WRONLY | O_CREAT | O_TRUNC);
    if (fd < 0)
        return NULL;
    *x = (struct xend){ .s = s, .domid = domid, .answer = answer, .ok = true };
    struct spawn o;
    spawn_defaults(&o);
    o.backend = "sim:h1";
    o.stdin_fd = SPAWN_PIPE;
    o.iofd = fd;
    o.iofd_note = S(s, "%d>%s", XEND_IOFD, image);
    struct child *c = child_start(s, &o,
                                  ARGV(s->cfg->xc_save, S(s, "%d", XEND_IOFD), S(s, "%u", domid),
                                       "0", "0", S(s, "%u", flags)));
    close(fd);
    c->on_line = xend_on_line;
    c->arg = x;
    wait_all(s, &c, 1);
    return c;
}

/* An empty domain on h2, as xend makes before calling xc_restore. */
static bool create_empty(struct scenario *s, const struct params *p, uint32_t *domid)
{
    struct child *c = run(s, ARGV(s->cfg->xg_sim, "create", "h2", "--empty", "--mem",
                                  S(s, "%uM", p->mem_mb), "--vcpus", S(s, "%u", p->vcpus),
                                  "--width", layout_width(p->layout)));
    return expect_exit(s, c, 0) && parse_domid(s, c, domid);
}

static struct child *xend_restore(struct scenario *s, uint32_t domid, const char *image,
                                  const char *hvm, const char *pae, unsigned nargs)
{
    int fd = open_image(s, image, O_RDONLY);
    if (fd < 0)
        return NULL;
    struct spawn o;
    spawn_defaults(&o);
    o.backend = "sim:h2";
    o.iofd = fd;
    o.iofd_note = S(s, "%d<%s", XEND_IOFD, image);
    const char *iofd = S(s, "%d", XEND_IOFD), *dom = S(s, "%u", domid);
    struct child *c;
    if (nargs == 9)
        c = child_start(s, &o,
                        ARGV(s->cfg->xc_restore, iofd, dom, "1", "2", hvm, pae, "0", "0", "0"));
    else
        c = child_start(s, &o, ARGV(s->cfg->xc_restore, iofd, dom, "1", "2", hvm, pae, "0"));
    close(fd);
    wait_all(s, &c, 1);
    return c;
}

/* Save and restore as xend does, FLAGS 0 or 1, xc_restore with 7 or 9 arguments. */
static void scen_xend(struct scenario *s, const struct params *p)
{
    uint32_t d1, d2;
    if (!init_hosts(s, p->mem_mb) || !create_guest(s, "h1", p, &d1))
        return;
    struct xend x;
    struct child *c = xend_save(s, d1, p->xend_flags, "done", "guest.img", &x);
    if (!c || !expect_exit(s, c, 0) || !x.ok)
        return;
    if (x.suspends != 1) {
        fail(s, "%s: never printed \"suspend\"", c->cmd);
        return;
    }
    if (!expect_state(s, "h1", d1, "suspended") || !inspect_ok(s, "guest.img"))
        return;
    if (!create_empty(s, p, &d2))
        return;
    c = xend_restore(s, d2, "guest.img", "0", strcmp(p->layout, "pae32") ? "0" : "1",
                     p->restore_args);
    struct restored res;
    if (!c || !expect_exit(s, c, 0) || !parse_restore_output(s, c, false, &res))
        return;
    if (!expect_state(s, "h2", d2, "restored"))
        return;
    verify_restored(s, "h1", d1, "h2", d2);
}

/* xend mode with HVM set: both tools refuse, say why, touch nothing. */
static void scen_xend_hvm(struct scenario *s, const struct params *p)
{
    uint32_t d1, d2;
    if (!init_hosts(s, p->mem_mb) || !create_guest(s, "h1", p, &d1))
        return;
    struct xend x;
    struct child *c = xend_save(s, d1, 4, "done", "guest.img", &x);
    if (!c || !expect_exit(s, c, 1))
        return;
    if (x.suspends)
        fail(s, "%s: asked to suspend an HVM save it refuses", c->cmd);
    if (!has_line_with(buf_str(&c->err), "ERROR: ", ARGV("HVM")))
        fail(s, "%s: no \"ERROR: ... HVM ...\" line on stderr", c->cmd);
    if (!expect_state(s, "h1", d1, "running"))
        return;
    /* A good image, for the restore side. */
    c = run(s, ARGV(s->cfg->xc_save, "--backend", "sim:h1", "--domid", S(s, "%u", d1), "--out",
                    "good.img"));
    if (!expect_exit(s, c, 0) || !create_empty(s, p, &d2))
        return;
    c = xend_restore(s, d2, "good.img", "1", "0", 7);
    if (!c || !expect_exit(s, c, 1))
        return;
    if (!has_line_with(buf_str(&c->err), "ERROR: ", ARGV("HVM")))
        fail(s, "%s: no \"ERROR: ... HVM ...\" line on stderr", c->cmd);
    if (c->out.len)
        fail(s, "%s: printed on stdout although it refused: \"%s\"", c->cmd,
             first_line(s, buf_str(&c->out)));
    host_consistent(s, "h2");
}

/* xend answers something else than "done": xc_save fails and the guest keeps running. */
static void scen_xend_abort(struct scenario *s, const struct params *p)
{
    uint32_t d1;
    if (!sim_init(s, "h1", p->mem_mb) || !create_guest(s, "h1", p, &d1))
        return;
    struct xend x;
    struct child *c = xend_save(s, d1, p->xend_flags, "abort", "guest.img", &x);
    if (!c || !expect_exit(s, c, 1))
        return;
    if (x.suspends != 1)
        fail(s, "%s: never printed \"suspend\"", c->cmd);
    if (!has_line_with(buf_str(&c->err), "ERROR: ", ARGV("\"abort\"")))
        fail(s, "%s: no \"ERROR: ...\" line quoting xend's answer", c->cmd);
    if (!expect_state(s, "h1", d1, "running"))
        return;
    c = run(s, ARGV(s->cfg->xg_sim, "self-check", "h1", S(s, "%u", d1)));
    if (expect_exit(s, c, 0))
        host_consistent(s, "h1");
}

/* The group's scenarios, in the quick or the full matrix. */
void xend_register(struct matrix *mx, const struct config *cfg)
{
    const bool full = cfg->full;

    /* xend: layout x FLAGS {0 (xc_restore with 7 args), 1 (9 args)} (full: x 2 sizes);
     * HVM refused; an answer other than "done". */
    for (unsigned l = 0; l < NLAYOUTS; l++)
        for (unsigned flags = 0; flags < 2; flags++)
            for (unsigned mi = 0; mi < (full ? 2U : 1U); mi++, mx->k++) {
                struct params p = {
                    .layout = layouts[l],
                    .mem_mb = mi ? 256 : 32,
                    .vcpus = 1 + mx->k % 3,
                    .seed = 1 + mx->k % 2,
                    .xend_flags = flags,
                    .restore_args = flags ? 9 : 7,
                };
                add(mx, cfg, "xend", scen_xend, &p, "%s-%uM-flags%u-restore%uargs", p.layout,
                    p.mem_mb, flags, p.restore_args);
            }
    struct params hp = { .layout = "linux64", .mem_mb = 16, .vcpus = 1, .seed = 1 };
    add(mx, cfg, "xend", scen_xend_hvm, &hp, "hvm-refused");
    hp.xend_flags = 1;
    add(mx, cfg, "xend", scen_xend_abort, &hp, "answer-not-done");
}
