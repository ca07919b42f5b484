/*
 * badimage.c - the badimage group: images broken with xg-mutate, which
 * xc_restore and xg-inspect must refuse naming the pfn, leaving the host
 * as it was.
 */
#include "config.h"

#include "harness.h"

/* The page types of an image, read with libxg's stream reader. */
struct image_scan {
    uint8_t *type;    /* type nibble per pfn; 0xff: not in the image */
    uint8_t *present; /* per pfn: a word of its data has bit 0 set (a present entry) */
    uint64_t nr;      /* pfns covered by type[] */
    uint64_t bytes;   /* file size */
};

static bool scan_image(struct scenario *s, const char *name, struct image_scan *out)
{
    memset(out, 0, sizeof(*out));
    char *path = xasprintf("%s/%s", s->dir, name);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    free(path);
    if (fd < 0)
        return fail(s, "cannot open %s: %s", name, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) == 0)
        out->bytes = (uint64_t)st.st_size;
    xg_diag *d = xg_diag_new();
    if (!d)
        die("out of memory");
    xg_stream_reader *r = NULL;
    int rc = xg_stream_reader_open(fd, NULL, d, &r);
    struct xg_record rec;
    while (rc == 0 && (rc = xg_stream_read(r, &rec)) == 0 && rec.type != XG_REC_END) {
        if (rec.type != XG_REC_PAGE_DATA)
            continue;
        const uint8_t *data = rec.u.page_data.data;
        for (uint32_t i = 0; i < rec.u.page_data.count; i++) {
            uint64_t pfn = xg_pd_pfn(rec.u.page_data.pfn[i]);
            if (pfn >= (1ULL << 24)) {
                rc = -1;
                break;
            }
            if (pfn >= out->nr) {
                uint64_t nr = out->nr ? out->nr : 1024;
                while (nr <= pfn)
                    nr *= 2;
                uint8_t *t = realloc(out->type, nr), *pr = realloc(out->present, nr);
                if (!t || !pr)
                    die("out of memory");
                memset(t + out->nr, 0xff, nr - out->nr);
                memset(pr + out->nr, 0, nr - out->nr);
                out->type = t;
                out->present = pr;
                out->nr = nr;
            }
            uint32_t type = xg_pd_type(rec.u.page_data.pfn[i]);
            out->type[pfn] = (uint8_t)(type >> XG_PFINFO_SHIFT);
            if (xg_pfinfo_has_data(type)) {
                out->present[pfn] = 0;
                for (unsigned w = 0; w < 512 && !out->present[pfn]; w++)
                    out->present[pfn] = data[w * 8] & 1;
                data += 4096;
            }
        }
    }
    xg_stream_reader_close(r);
    close(fd);
    bool ok = rc == 0;
    if (!ok) {
        char *text = NULL;
        size_t len = 0;
        FILE *m = open_memstream(&text, &len);
        if (m) {
            xg_diag_print(m, d, false);
            fclose(m);
        }
        fail(s, "the harness cannot read %s: %s", name, text ? first_line(s, text) : "?");
        free(text);
    }
    xg_diag_free(d);
    return ok;
}

static unsigned scan_level(const struct image_scan *im, uint64_t pfn)
{
    return im->type[pfn] == 0xff ? 0 : xg_pfinfo_level((uint32_t)im->type[pfn] << XG_PFINFO_SHIFT);
}

static bool scan_pinned(const struct image_scan *im, uint64_t pfn)
{
    return im->type[pfn] != 0xff && xg_pfinfo_pinned((uint32_t)im->type[pfn] << XG_PFINFO_SHIFT);
}

/* First pfn of a table of the level (pinned or not as asked, -1: either), or UINT64_MAX. */
static uint64_t find_table(const struct image_scan *im, unsigned level, int pinned)
{
    for (uint64_t pfn = 0; pfn < im->nr; pfn++)
        if (scan_level(im, pfn) == level && (pinned < 0 || scan_pinned(im, pfn) == (pinned > 0)))
            return pfn;
    return UINT64_MAX;
}

/* First table of the level (pinned as asked) with a present entry, or UINT64_MAX. */
static uint64_t find_nonempty_table(const struct image_scan *im, unsigned level, int pinned)
{
    for (uint64_t pfn = 0; pfn < im->nr; pfn++)
        if (scan_level(im, pfn) == level && (pinned < 0 || scan_pinned(im, pfn) == (pinned > 0)) &&
            im->present[pfn])
            return pfn;
    return UINT64_MAX;
}

/* The highest ordinary data page. */
static uint64_t find_data_page(const struct image_scan *im)
{
    for (uint64_t pfn = im->nr; pfn-- > 0;)
        if (im->type[pfn] == (XG_PFINFO_NOTAB >> XG_PFINFO_SHIFT))
            return pfn;
    return UINT64_MAX;
}

/* What the "error:" lines about a broken image must name. */
struct want_error {
    const char *words;  /* a word (truncation), or NULL */
    uint64_t pfn;       /* this pfn, unless words or tables */
    const bool *tables; /* any pfn marked here (tables[0..nr)) */
    uint64_t nr;
};

static bool names_expected(struct scenario *s, const struct child *c, const struct want_error *w)
{
    const char *err = buf_str(&c->err);
    if (w->words ? has_line_with(err, "error:", ARGV(w->words))
                 : error_names_pfn(err, w->pfn, w->tables, w->nr))
        return true;
    if (w->words)
        return fail(s, "%s: no \"error:\" line saying \"%s\"", c->cmd, w->words);
    if (w->tables)
        return fail(s, "%s: no \"error:\" line naming a pfn the good image had as a page table",
                    c->cmd);
    return fail(s, "%s: no \"error:\" line naming pfn 0x%" PRIx64, c->cmd, w->pfn);
}

/*
 * Break a good image the way the mutation says, and check that the
 * restore refuses it before pinning anything and leaves no domain behind.
 */
static void scen_badimage(struct scenario *s, const struct params *p)
{
    const struct config *cfg = s->cfg;
    uint32_t d1;
    if (!init_hosts(s, p->mem_mb) || !create_guest(s, "h1", p, &d1))
        return;
    struct child *c = run(s, ARGV(cfg->xc_save, "--backend", "sim:h1", "--domid", S(s, "%u", d1),
                                  "--out", "good.img"));
    struct image_scan im;
    if (!expect_exit(s, c, 0) || !scan_image(s, "good.img", &im))
        return;

    /* What to break, and what the diagnostics must name. */
    const char *edit = NULL, *value = NULL;
    struct want_error want = { .pfn = UINT64_MAX };
    bool *tables = NULL;
    const char *m = p->mutation;
    if (!strcmp(m, "tables-as-notab") || !strcmp(m, "tables-as-xtab")) {
        edit = "--tables-as";
        value = strcmp(m, "tables-as-notab") ? "XTAB" : "NOTAB";
        tables = calloc(im.nr ? im.nr : 1, sizeof(*tables));
        if (!tables)
            die("out of memory");
        for (uint64_t pfn = 0; pfn < im.nr; pfn++)
            tables[pfn] = scan_level(&im, pfn) != 0;
        want.tables = tables;
        want.nr = im.nr;
    } else if (!strcmp(m, "cr3-to-data")) {
        want.pfn = find_data_page(&im);
        edit = "--cr3";
        value = S(s, "0=0x%" PRIx64, want.pfn);
    } else if (!strcmp(m, "pinned-l1-as-notab")) {
        /*
         * One with present entries: an empty one recorded as ordinary is retyped by Xen
         * (mm.c, _get_page_type), and the restore accepts it (docs/xen-mm-rules.md, section 16).
         */
        want.pfn = find_nonempty_table(&im, 1, 1);
        if (want.pfn == UINT64_MAX)
            want.pfn = find_nonempty_table(&im, 1, -1);
        edit = "--type";
        value = S(s, "0x%" PRIx64 "=NOTAB", want.pfn);
    } else if (!strcmp(m, "l1-maps-l2-rw")) {
        /* Slot 0 of an L1 maps an L2 table writable (present, rw, accessed, dirty). */
        want.pfn = find_table(&im, 1, -1);
        uint64_t l2 = find_table(&im, 2, -1);
        if (l2 != UINT64_MAX && want.pfn != UINT64_MAX) {
            edit = "--entry";
            value = S(s, "0x%" PRIx64 ":0=0x%" PRIx64, want.pfn, (l2 << 12) | 0x63);
        }
    } else if (!strcmp(m, "truncated")) {
        edit = "--truncate";
        value = S(s, "%" PRIu64, im.bytes / 2);
        want.words = "truncated";
    }
    if (!edit || (!want.tables && !want.words && want.pfn == UINT64_MAX)) {
        fail(s, "good.img has no page for the %s mutation", m);
        goto out;
    }
    c = run(s, ARGV(cfg->xg_mutate, "good.img", "bad.img", edit, value));
    if (!expect_exit(s, c, 0))
        goto out;

    /* Offline, xg-inspect says the same as the restore will. */
    c = run(s, ARGV(cfg->xg_inspect, "bad.img"));
    if (!expect_exit(s, c, 1))
        goto out;
    names_expected(s, c, &want);

    struct dom_list before, after;
    c = run(s, ARGV(cfg->xg_sim, "log", "h2", "--trace"));
    if (!expect_exit(s, c, 0) || !sim_list(s, "h2", &before))
        goto out;
    char *log_before = xstrdup(buf_str(&c->out));
    c = restore_create(s, "h2", p->vcpus, "bad.img");
    bool ok = expect_exit(s, c, 1) && names_expected(s, c, &want);
    if (ok && c->out.len)
        ok = fail(s, "%s: printed on stdout although it failed: \"%s\"", c->cmd,
                  first_line(s, buf_str(&c->out)));

    /* The domain it created is gone; nothing was pinned. */
    ok &= sim_list(s, "h2", &after) && same_domains(s, "h2", &before, &after);
    c = run(s, ARGV(cfg->xg_sim, "log", "h2", "--trace"));
    if (expect_exit(s, c, 0)) {
        const char *log = buf_str(&c->out);
        size_t nb = strlen(log_before);
        if (strncmp(log, log_before, nb) != 0) {
            ok = fail(s, "h2's log ring wrapped: cannot tell the attempt's lines");
        } else {
            const char *mine = log + nb;
            const char *pin = strstr(mine, "PIN_");
            if (pin) {
                while (pin > mine && pin[-1] != '\n')
                    pin--;
                ok = fail(s, "the failed restore pinned a table: \"%s\"", first_line(s, pin));
            }
            const char *cr = strstr(mine, "createdomain -> d");
            if (cr) {
                unsigned dom = (unsigned)strtoul(cr + 17, NULL, 10);
                if (!strstr(mine, S(s, "destroydomain d%u ", dom)))
                    ok = fail(s, "the failed restore created d%u and did not destroy it", dom);
            }
        }
    }
    free(log_before);
    ok &= host_consistent(s, "h2");
    if (!ok)
        goto out;

    /* The host is still usable: the good image restores onto it. */
    c = restore_create(s, "h2", p->vcpus, "good.img");
    struct restored res;
    if (expect_exit(s, c, 0) && parse_restore_output(s, c, true, &res))
        verify_restored(s, "h1", d1, "h2", (uint32_t)res.domid);
out:
    free(tables);
    free(im.type);
    free(im.present);
}

/* The group's scenarios, in the quick or the full matrix. */
void badimage_register(struct matrix *mx, const struct config *cfg)
{
    const bool full = cfg->full;

    /* badimage: each mutation x layout. */
    static const char *const mutations[] = { "tables-as-notab",    "tables-as-xtab", "cr3-to-data",
                                             "pinned-l1-as-notab", "l1-maps-l2-rw",  "truncated" };
    for (unsigned mu = 0; mu < 6; mu++)
        for (unsigned l = 0; l < NLAYOUTS; l++, mx->k++) {
            struct params p = {
                .layout = layouts[l],
                .mem_mb = full ? 64 : 16,
                .vcpus = 1 + mx->k % 3,
                .seed = 1 + mx->k % 2,
                .mutation = mutations[mu],
            };
            add(mx, cfg, "badimage", scen_badimage, &p, "%s-%s-%uM-v%u", mutations[mu], p.layout,
                p.mem_mb, p.vcpus);
        }
}
