/*
 * testutil.c - helpers shared by xg's test programs (see testutil.h).
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"
#include "stream/stream_private.h"
#include "testutil.h"

void xgt_die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("fatal: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    abort();
}

/* ------------------------------------------------------------ buffers */

void xgt_buf_init(struct xgt_buf *b)
{
    b->data = NULL;
    b->len = b->cap = 0;
}

void xgt_buf_free(struct xgt_buf *b)
{
    free(b->data);
    xgt_buf_init(b);
}

void xgt_buf_reset(struct xgt_buf *b)
{
    b->len = 0;
}

static void buf_reserve(struct xgt_buf *b, size_t more)
{
    if (b->len + more <= b->cap)
        return;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + more)
        cap *= 2;
    uint8_t *p = realloc(b->data, cap);
    if (!p)
        xgt_die("out of memory growing a test buffer to %zu bytes", cap);
    b->data = p;
    b->cap = cap;
}

void xgt_buf_put(struct xgt_buf *b, const void *p, size_t n)
{
    if (!n)
        return;
    buf_reserve(b, n);
    if (p)
        memcpy(b->data + b->len, p, n);
    else
        memset(b->data + b->len, 0, n);
    b->len += n;
}

void xgt_buf_zero(struct xgt_buf *b, size_t n)
{
    xgt_buf_put(b, NULL, n);
}

void xgt_buf_u8(struct xgt_buf *b, uint8_t v)
{
    xgt_buf_put(b, &v, 1);
}

void xgt_buf_le16(struct xgt_buf *b, uint16_t v)
{
    uint8_t x[2] = { (uint8_t)v, (uint8_t)(v >> 8) };
    xgt_buf_put(b, x, 2);
}

void xgt_buf_le32(struct xgt_buf *b, uint32_t v)
{
    xgt_buf_le16(b, (uint16_t)v);
    xgt_buf_le16(b, (uint16_t)(v >> 16));
}

void xgt_buf_le64(struct xgt_buf *b, uint64_t v)
{
    xgt_buf_le32(b, (uint32_t)v);
    xgt_buf_le32(b, (uint32_t)(v >> 32));
}

void xgt_buf_be16(struct xgt_buf *b, uint16_t v)
{
    uint8_t x[2] = { (uint8_t)(v >> 8), (uint8_t)v };
    xgt_buf_put(b, x, 2);
}

void xgt_buf_be32(struct xgt_buf *b, uint32_t v)
{
    xgt_buf_be16(b, (uint16_t)(v >> 16));
    xgt_buf_be16(b, (uint16_t)v);
}

void xgt_buf_be64(struct xgt_buf *b, uint64_t v)
{
    xgt_buf_be32(b, (uint32_t)(v >> 32));
    xgt_buf_be32(b, (uint32_t)v);
}

void xgt_buf_pad8(struct xgt_buf *b)
{
    xgt_buf_zero(b, (8 - b->len % 8) % 8);
}

void xgt_buf_set_le32(struct xgt_buf *b, size_t at, uint32_t v)
{
    if (at + 4 > b->len)
        xgt_die("xgt_buf_set_le32 at %zu past the end (%zu)", at, b->len);
    for (int i = 0; i < 4; i++)
        b->data[at + (size_t)i] = (uint8_t)(v >> (8 * i));
}

void xgt_buf_set_le64(struct xgt_buf *b, size_t at, uint64_t v)
{
    xgt_buf_set_le32(b, at, (uint32_t)v);
    xgt_buf_set_le32(b, at + 4, (uint32_t)(v >> 32));
}

/* ------------------------------------------------------------ hand-built streams */

void xgt_put_ihdr_raw(struct xgt_buf *b, uint64_t marker, uint32_t id, uint32_t version, uint16_t options,
                      uint16_t res1, uint32_t res2)
{
    xgt_buf_be64(b, marker);
    xgt_buf_be32(b, id);
    xgt_buf_be32(b, version);
    xgt_buf_be16(b, options);
    xgt_buf_be16(b, res1);
    xgt_buf_be32(b, res2);
}

void xgt_put_ihdr(struct xgt_buf *b, uint32_t version, uint16_t options)
{
    xgt_put_ihdr_raw(b, UINT64_MAX, 0x58454e46U, version, options, 0, 0);
}

void xgt_put_dhdr(struct xgt_buf *b, uint32_t type, uint16_t page_shift, uint16_t reserved, uint32_t xen_major,
                  uint32_t xen_minor)
{
    xgt_buf_le32(b, type);
    xgt_buf_le16(b, page_shift);
    xgt_buf_le16(b, reserved);
    xgt_buf_le32(b, xen_major);
    xgt_buf_le32(b, xen_minor);
}

void xgt_put_headers(struct xgt_buf *b, uint32_t version, uint32_t domain_type)
{
    xgt_put_ihdr(b, version, 0);
    xgt_put_dhdr(b, domain_type, 12, 0, 4, 17);
}

void xgt_put_record_hdr(struct xgt_buf *b, uint32_t type, uint32_t len)
{
    xgt_buf_le32(b, type);
    xgt_buf_le32(b, len);
}

void xgt_put_record(struct xgt_buf *b, uint32_t type, const void *body, uint32_t len)
{
    xgt_put_record_hdr(b, type, len);
    xgt_buf_put(b, body, len);
    xgt_buf_zero(b, (8 - len % 8) % 8);
}

void xgt_put_pv_info(struct xgt_buf *b, uint8_t width, uint8_t levels)
{
    uint8_t body[8] = { width, levels };
    xgt_put_record(b, XG_REC_X86_PV_INFO, body, sizeof(body));
}

void xgt_put_pv_static(struct xgt_buf *b, uint8_t width)
{
    xgt_put_pv_info(b, width, width == 8 ? 4 : 3);
    xgt_put_record(b, XG_REC_STATIC_DATA_END, NULL, 0);
}

void xgt_put_xl_header(struct xgt_buf *b, uint32_t mandatory, const void *config, uint32_t config_len)
{
    static const char magic[32] = "Xen saved domain, xl format\n \0 \r";
    xgt_buf_put(b, magic, sizeof(magic));
    xgt_buf_le32(b, 0x01020304U);
    xgt_buf_le32(b, mandatory);
    xgt_buf_le32(b, 0);
    xgt_buf_le32(b, 4 + config_len);
    xgt_buf_le32(b, config_len);
    xgt_buf_put(b, config, config_len);
}

void xgt_put_libxl_header(struct xgt_buf *b, uint32_t version, uint32_t options)
{
    xgt_buf_be64(b, 0x4c6962786c466d74ULL);
    xgt_buf_be32(b, version);
    xgt_buf_be32(b, options);
}

void xgt_put_libxl_record(struct xgt_buf *b, uint32_t type, const void *body, uint32_t len)
{
    xgt_put_record(b, type, body, len);
}

void xgt_put_wrapper_prefix(struct xgt_buf *b, enum xg_stream_wrapper w)
{
    if (w == XG_WRAP_NONE)
        return;
    if (w == XG_WRAP_XL)
        xgt_put_xl_header(b, XGT_XL_JSON | XGT_XL_STREAMV2, XGT_XL_CONFIG, sizeof(XGT_XL_CONFIG));
    xgt_put_libxl_header(b, 2, 0);
    xgt_put_libxl_record(b, 1 /* LIBXC_CONTEXT */, NULL, 0);
}

void xgt_put_wrapper_suffix(struct xgt_buf *b, enum xg_stream_wrapper w)
{
    if (w != XG_WRAP_NONE)
        xgt_put_libxl_record(b, 0 /* END */, NULL, 0);
}

void xgt_gzip(const void *p, size_t len, struct xgt_buf *out)
{
    int fd = xgt_tmpfd();
    xg_diag *d = xg_diag_new();
    struct xg_gzw *z = NULL;
    struct iovec iov = { (void *)p, len };
    if (!d || xg__gzw_open(fd, 1, 1, d, &z) < 0 || xg__gzw_writev(z, &iov, 1, d) < 0 || xg__gzw_finish(z, d) < 0)
        xgt_die("xgt_gzip: %s", d && xg_diag_first_error(d) ? xg_diag_first_error(d)->msg : "out of memory");
    xg__gzw_close(z);
    xg_diag_free(d);
    if (lseek(fd, 0, SEEK_SET) < 0 || xgt_read_all(fd, out) < 0)
        xgt_die("xgt_gzip: reading back: %s", strerror(errno));
    close(fd);
}

/* ------------------------------------------------------------ files, folders, pipes */

static const char *tmp_base(void)
{
    const char *t = getenv("TMPDIR");
    return t && *t ? t : "/tmp";
}

char *xgt_mkdtemp(void)
{
    char *path = xgt_path(tmp_base(), "xg-test.XXXXXX");
    if (!mkdtemp(path))
        xgt_die("mkdtemp %s: %s", path, strerror(errno));
    return path;
}

char *xgt_path(const char *dir, const char *name)
{
    char *p = NULL;
    if (asprintf(&p, "%s/%s", dir, name) < 0)
        xgt_die("out of memory");
    return p;
}

void xgt_rmtree(const char *path)
{
    struct stat st;
    if (lstat(path, &st) < 0)
        return;
    if (S_ISDIR(st.st_mode)) {
        DIR *dir = opendir(path);
        if (dir) {
            struct dirent *e;
            while ((e = readdir(dir)) != NULL) {
                if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
                    continue;
                char *sub = xgt_path(path, e->d_name);
                xgt_rmtree(sub);
                free(sub);
            }
            closedir(dir);
        }
        rmdir(path);
    } else {
        unlink(path);
    }
}

int xgt_tmpfd(void)
{
    /* In memory when the kernel can: tests write thousands of these. */
    int fd = memfd_create("xg-test", MFD_CLOEXEC);
    if (fd >= 0)
        return fd;
    fd = open(tmp_base(), O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
    if (fd >= 0)
        return fd;
    char *path = xgt_path(tmp_base(), "xg-test-file.XXXXXX");
    fd = mkstemp(path);
    if (fd < 0)
        xgt_die("mkstemp %s: %s", path, strerror(errno));
    unlink(path);
    free(path);
    return fd;
}

int xgt_write_all(int fd, const void *p, size_t len)
{
    const uint8_t *c = p;
    while (len) {
        ssize_t n = write(fd, c, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        c += n;
        len -= (size_t)n;
    }
    return 0;
}

int xgt_fd_from_mem(const void *p, size_t len)
{
    int fd = xgt_tmpfd();
    if (xgt_write_all(fd, p, len) < 0 || lseek(fd, 0, SEEK_SET) < 0)
        xgt_die("writing a temporary file: %s", strerror(errno));
    return fd;
}

int xgt_read_all(int fd, struct xgt_buf *out)
{
    for (;;) {
        buf_reserve(out, 64 << 10);
        ssize_t n = read(fd, out->data + out->len, out->cap - out->len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        if (n == 0)
            return 0;
        out->len += (size_t)n;
    }
}

void xgt_read_file(const char *path, struct xgt_buf *out)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0 || xgt_read_all(fd, out) < 0)
        xgt_die("reading %s: %s", path, strerror(errno));
    close(fd);
}

void xgt_write_file(const char *path, const void *p, size_t len)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0 || xgt_write_all(fd, p, len) < 0 || close(fd) < 0)
        xgt_die("writing %s: %s", path, strerror(errno));
}

struct xgt_thread {
    pthread_t tid;
    int (*fn)(void *);
    void *arg;
    int rc;
};

static void *thread_main(void *p)
{
    struct xgt_thread *t = p;
    t->rc = t->fn(t->arg);
    return NULL;
}

struct xgt_thread *xgt_thread_start(int (*fn)(void *arg), void *arg)
{
    struct xgt_thread *t = calloc(1, sizeof(*t));
    if (!t)
        xgt_die("out of memory");
    t->fn = fn;
    t->arg = arg;
    int e = pthread_create(&t->tid, NULL, thread_main, t);
    if (e)
        xgt_die("pthread_create: %s", strerror(e));
    return t;
}

int xgt_thread_join(struct xgt_thread *t)
{
    int e = pthread_join(t->tid, NULL);
    if (e)
        xgt_die("pthread_join: %s", strerror(e));
    int rc = t->rc;
    free(t);
    return rc;
}

static void make_pipe(int fds[2])
{
    /* A writer whose reader stopped early must see EPIPE, not die. */
    signal(SIGPIPE, SIG_IGN);
    if (pipe2(fds, O_CLOEXEC) < 0)
        xgt_die("pipe: %s", strerror(errno));
}

struct feed {
    int fd;
    const void *p;
    size_t len;
};

static int feed_main(void *arg)
{
    struct feed *f = arg;
    int rc = xgt_write_all(f->fd, f->p, f->len) < 0 ? -1 : 0;
    close(f->fd);
    free(f);
    return rc;
}

int xgt_pipe_feed(const void *p, size_t len, struct xgt_thread **out)
{
    int fds[2];
    make_pipe(fds);
    struct feed *f = malloc(sizeof(*f));
    if (!f)
        xgt_die("out of memory");
    *f = (struct feed){ fds[1], p, len };
    *out = xgt_thread_start(feed_main, f);
    return fds[0];
}

/* ------------------------------------------------------------ writing with xg */

int xgt_write_stream(int fd, bool gzip, xgt_write_fn fn, void *arg, xg_diag *d)
{
    struct xg_stream_writer_opts o = { .gzip = gzip };
    xg_stream_writer *w = NULL;
    int rc = xg_stream_writer_open(fd, &o, d, &w);
    if (rc < 0)
        return rc;
    rc = fn(w, arg);
    int crc = xg_stream_writer_close(w);
    return rc < 0 ? rc : crc;
}

void xgt_stream_to_mem(bool gzip, xgt_write_fn fn, void *arg, struct xgt_buf *out)
{
    int fd = xgt_tmpfd();
    xg_diag *d = xg_diag_new();
    if (!d)
        xgt_die("out of memory");
    int rc = xgt_write_stream(fd, gzip, fn, arg, d);
    if (rc < 0) {
        xg_diag_print(stderr, d, true);
        xgt_die("writing a stream failed: %s", xg_err_name(rc));
    }
    xg_diag_free(d);
    if (lseek(fd, 0, SEEK_SET) < 0 || xgt_read_all(fd, out) < 0)
        xgt_die("reading back a stream: %s", strerror(errno));
    close(fd);
}

struct pipe_writer {
    int fd;
    bool gzip;
    xgt_write_fn fn;
    void *arg;
};

static int pipe_writer_main(void *p)
{
    struct pipe_writer *pw = p;
    xg_diag *d = xg_diag_new();
    int rc = d ? xgt_write_stream(pw->fd, pw->gzip, pw->fn, pw->arg, d) : XG_E_NOMEM;
    xg_diag_free(d);
    close(pw->fd);
    free(pw);
    return rc;
}

int xgt_stream_to_pipe(bool gzip, xgt_write_fn fn, void *arg, struct xgt_thread **out)
{
    int fds[2];
    make_pipe(fds);
    struct pipe_writer *pw = malloc(sizeof(*pw));
    if (!pw)
        xgt_die("out of memory");
    *pw = (struct pipe_writer){ fds[1], gzip, fn, arg };
    *out = xgt_thread_start(pipe_writer_main, pw);
    return fds[0];
}

/* ------------------------------------------------------------ reading with xg */

void xgt_rd_open_fd(struct xgt_rd *t, int fd, const struct xg_stream_reader_opts *opts)
{
    t->fd = -1;
    t->r = NULL;
    t->d = xg_diag_new();
    if (!t->d)
        xgt_die("out of memory");
    t->open_rc = xg_stream_reader_open(fd, opts, t->d, &t->r);
}

void xgt_rd_open(struct xgt_rd *t, const void *p, size_t len, const struct xg_stream_reader_opts *opts)
{
    int fd = xgt_fd_from_mem(p, len);
    xgt_rd_open_fd(t, fd, opts);
    t->fd = fd;
}

void xgt_rd_close(struct xgt_rd *t)
{
    xg_stream_reader_close(t->r);
    xg_diag_free(t->d);
    if (t->fd >= 0)
        close(t->fd);
    t->r = NULL;
    t->d = NULL;
    t->fd = -1;
}

int xgt_rd_drain(struct xgt_rd *t, uint64_t *nr_records, uint64_t *nr_pages)
{
    if (t->open_rc < 0)
        return t->open_rc;
    struct xg_record rec;
    uint64_t nr = 0, pages = 0;
    int rc;
    while ((rc = xg_stream_read(t->r, &rec)) == 0) {
        nr++;
        if (rec.type == XG_REC_PAGE_DATA)
            pages += rec.u.page_data.count;
        if (rec.type == XG_REC_END)
            break;
    }
    if (rc == 0)
        rc = xg_stream_read_trailer(t->r);
    if (nr_records)
        *nr_records = nr;
    if (nr_pages)
        *nr_pages = pages;
    return rc;
}

int xgt_read_mem(const void *p, size_t len, const struct xg_stream_reader_opts *opts, struct xg_loc *loc_out,
                 char **msg_out)
{
    struct xgt_rd t;
    xgt_rd_open(&t, p, len, opts);
    int rc = xgt_rd_drain(&t, NULL, NULL);
    const struct xg_finding *f = xg_diag_first_error(t.d);
    if (loc_out)
        *loc_out = f ? f->loc : (struct xg_loc){ 0 };
    if (msg_out)
        *msg_out = f && f->msg ? strdup(f->msg) : NULL;
    xgt_rd_close(&t);
    return rc;
}

/* ------------------------------------------------------------ the sample stream */

static uint64_t splitmix64(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

void xgt_fill(void *p, size_t len, uint64_t salt)
{
    uint64_t s = salt * 0x2545f4914f6cdd1dULL + 1;
    uint8_t *c = p;
    while (len >= 8) {
        uint64_t v = splitmix64(&s);
        memcpy(c, &v, 8);
        c += 8;
        len -= 8;
    }
    if (len) {
        uint64_t v = splitmix64(&s);
        memcpy(c, &v, len);
    }
}

void xgt_fill_page(void *page, uint64_t pfn, uint32_t seed)
{
    /* Varied but not random everywhere: a quarter of each page is zero, as in real memory. */
    xgt_fill(page, 4096, pfn * 2654435761U + seed);
    memset((uint8_t *)page + 1024 * (pfn % 4), 0, 1024);
}

uint32_t xgt_sample_type(uint64_t pfn)
{
    static const uint32_t types[12] = {
        XG_PFINFO_NOTAB,
        XG_PFINFO_L1TAB,
        XG_PFINFO_L2TAB,
        XG_PFINFO_L3TAB,
        XG_PFINFO_L4TAB,
        XG_PFINFO_L1TAB | XG_PFINFO_LPINTAB,
        XG_PFINFO_L2TAB | XG_PFINFO_LPINTAB,
        XG_PFINFO_L3TAB | XG_PFINFO_LPINTAB,
        XG_PFINFO_L4TAB | XG_PFINFO_LPINTAB,
        XG_PFINFO_BROKEN,
        XG_PFINFO_XALLOC,
        XG_PFINFO_XTAB,
    };
    unsigned i = (unsigned)(pfn % 64);
    return i < 12 ? types[i] : XG_PFINFO_NOTAB;
}

void xgt_offsets_free(struct xgt_offsets *o)
{
    free(o->off);
    free(o->type);
    memset(o, 0, sizeof(*o));
}

static void note(struct xgt_offsets *o, xg_stream_writer *w, uint32_t type)
{
    if (!o)
        return;
    if (o->nr == o->cap) {
        o->cap = o->cap ? o->cap * 2 : 64;
        o->off = realloc(o->off, o->cap * sizeof(*o->off));
        o->type = realloc(o->type, o->cap * sizeof(*o->type));
        if (!o->off || !o->type)
            xgt_die("out of memory");
    }
    o->off[o->nr] = xg_stream_writer_bytes(w);
    o->type[o->nr] = type;
    o->nr++;
}

struct sample_ctx {
    const struct xgt_sample_opts *o;
    xg_stream_writer *w;
    struct xgt_offsets *offs;
    uint8_t *pages;      /* batch * 4096 */
    uint64_t *entries;   /* batch */
    const void **ptrs;   /* batch */
};

static int send_pages(struct sample_ctx *c, uint64_t first, uint64_t nr)
{
    unsigned batch = c->o->batch;
    for (uint64_t at = first; at < first + nr; at += batch) {
        uint32_t count = (uint32_t)XG_MIN((uint64_t)batch, first + nr - at), nd = 0;
        for (uint32_t i = 0; i < count; i++) {
            uint64_t pfn = at + i;
            uint32_t type = xgt_sample_type(pfn);
            c->entries[i] = xg_pd_entry(pfn, type);
            if (xg_pfinfo_has_data(type)) {
                uint8_t *pg = c->pages + (size_t)nd * 4096;
                xgt_fill_page(pg, pfn, c->o->seed);
                c->ptrs[nd++] = pg;
            }
        }
        note(c->offs, c->w, XG_REC_PAGE_DATA);
        int rc = xg_stream_write_page_data(c->w, count, c->entries, c->ptrs);
        if (rc < 0)
            return rc;
    }
    return 0;
}

#define TRY(type, call)                 \
    do {                                \
        note(c->offs, c->w, (type));    \
        int rc_ = (call);               \
        if (rc_ < 0)                    \
            return rc_;                 \
    } while (0)

/* End-of-checkpoint state: TSC, shared info, every vcpu's records. */
static int send_state(struct sample_ctx *c, unsigned round)
{
    const struct xgt_sample_opts *o = c->o;
    struct xg_rec_tsc_info tsc = { .mode = 0, .khz = 2400000, .nsec = 123456789ULL + round, .incarnation = 3 };
    TRY(XG_REC_X86_TSC_INFO, xg_stream_write_tsc_info(c->w, &tsc));

    uint8_t shinfo[4096];
    xgt_fill(shinfo, sizeof(shinfo), 0x5111f0 + round);
    TRY(XG_REC_SHARED_INFO, xg_stream_write_record(c->w, XG_REC_SHARED_INFO, shinfo, sizeof(shinfo)));

    uint32_t basic_size = o->guest_width == 8 ? 5168 : 2800;
    uint8_t ctx[5168], ext[64], xsave[832], msrs[32];
    for (unsigned v = 0; v < o->nr_vcpus; v++) {
        xgt_fill(ctx, basic_size, 0xbac0 + v + 100 * round);
        TRY(XG_REC_X86_PV_VCPU_BASIC, xg_stream_write_vcpu(c->w, XG_REC_X86_PV_VCPU_BASIC, v, ctx, basic_size));
        xgt_fill(ext, sizeof(ext), 0xe0 + v);
        TRY(XG_REC_X86_PV_VCPU_EXTENDED,
            xg_stream_write_vcpu(c->w, XG_REC_X86_PV_VCPU_EXTENDED, v, ext, sizeof(ext)));
        xgt_fill(xsave, sizeof(xsave), 0x5a + v);
        TRY(XG_REC_X86_PV_VCPU_XSAVE, xg_stream_write_vcpu(c->w, XG_REC_X86_PV_VCPU_XSAVE, v, xsave, sizeof(xsave)));
        for (unsigned i = 0; i < 2; i++) {
            uint32_t idx = 0xc0000080U + i, flags = 0;
            uint64_t val = 0x1000ULL * (i + 1) + v;
            memcpy(msrs + 16 * i, &idx, 4);
            memcpy(msrs + 16 * i + 4, &flags, 4);
            memcpy(msrs + 16 * i + 8, &val, 8);
        }
        TRY(XG_REC_X86_PV_VCPU_MSRS, xg_stream_write_vcpu(c->w, XG_REC_X86_PV_VCPU_MSRS, v, msrs, sizeof(msrs)));
        if (o->empty_blobs) {
            TRY(XG_REC_X86_PV_VCPU_EXTENDED, xg_stream_write_vcpu(c->w, XG_REC_X86_PV_VCPU_EXTENDED, v, NULL, 0));
            TRY(XG_REC_X86_PV_VCPU_XSAVE, xg_stream_write_vcpu(c->w, XG_REC_X86_PV_VCPU_XSAVE, v, NULL, 0));
            TRY(XG_REC_X86_PV_VCPU_MSRS, xg_stream_write_vcpu(c->w, XG_REC_X86_PV_VCPU_MSRS, v, NULL, 0));
        }
    }
    return 0;
}

static void sample_defaults(const struct xgt_sample_opts *in, struct xgt_sample_opts *o)
{
    *o = in ? *in : (struct xgt_sample_opts){ 0 };
    if (o->guest_width != 4)
        o->guest_width = 8;
    if (!o->nr_pfns)
        o->nr_pfns = 2500;
    if (!o->batch || o->batch > XG_MAX_BATCH)
        o->batch = XG_MAX_BATCH;
    if (!o->nr_vcpus)
        o->nr_vcpus = 1;
}

#define DIRTY_PFNS 100U

static int sample_body(struct sample_ctx *c)
{
    const struct xgt_sample_opts *o = c->o;
    uint8_t width = (uint8_t)o->guest_width;

    TRY(XG_REC_X86_PV_INFO, xg_stream_write_pv_info(c->w, width, width == 8 ? 4 : 3));
    uint32_t cpuid[3][6] = {
        { 0x0, 0, 0xd, 0x756e6547, 0x6c65746e, 0x49656e69 },
        { 0x1, 0, 0x000306c3, 0x00100800, 0x77fafbff, 0xbfebfbff },
        { 0xd, 1, 0x1, 0, 0, 0 },
    };
    TRY(XG_REC_X86_CPUID_POLICY, xg_stream_write_record(c->w, XG_REC_X86_CPUID_POLICY, cpuid, sizeof(cpuid)));
    struct xg_msr_entry msr[2] = { { 0xce, 0, 0x80000000ULL }, { 0x10a, 0, 0 } };
    TRY(XG_REC_X86_MSR_POLICY, xg_stream_write_record(c->w, XG_REC_X86_MSR_POLICY, msr, sizeof(msr)));
    TRY(XG_REC_STATIC_DATA_END, xg_stream_write_record(c->w, XG_REC_STATIC_DATA_END, NULL, 0));

    unsigned fpp = 4096 / o->guest_width;
    uint32_t nr_frames = (o->nr_pfns - 1) / fpp + 1;
    uint64_t *frames = calloc(nr_frames, 8);
    if (!frames)
        xgt_die("out of memory");
    for (uint32_t i = 0; i < nr_frames; i++)
        frames[i] = o->nr_pfns + 16 + i;
    note(c->offs, c->w, XG_REC_X86_PV_P2M_FRAMES);
    int rc = xg_stream_write_p2m_frames(c->w, 0, o->nr_pfns - 1, frames, nr_frames);
    free(frames);
    if (rc < 0)
        return rc;

    rc = send_pages(c, 0, o->nr_pfns);
    if (rc < 0)
        return rc;
    if (o->verify) {
        TRY(XG_REC_VERIFY, xg_stream_write_record(c->w, XG_REC_VERIFY, NULL, 0));
        rc = send_pages(c, 0, o->nr_pfns);
        if (rc < 0)
            return rc;
    }
    if (o->checkpoint) {
        rc = send_state(c, 1);
        if (rc < 0)
            return rc;
        TRY(XG_REC_CHECKPOINT, xg_stream_write_record(c->w, XG_REC_CHECKPOINT, NULL, 0));
        rc = send_pages(c, 0, XG_MIN(DIRTY_PFNS, o->nr_pfns));
        if (rc < 0)
            return rc;
    }
    if (o->extras) {
        uint64_t dirty[3] = { 1, 7, 0x1234 };
        TRY(XG_REC_CHECKPOINT_DIRTY_PFN_LIST,
            xg_stream_write_record(c->w, XG_REC_CHECKPOINT_DIRTY_PFN_LIST, dirty, sizeof(dirty)));
        static const char opt[13] = "optional blob";
        TRY(XG_REC_OPTIONAL | 0x123, xg_stream_write_record(c->w, XG_REC_OPTIONAL | 0x123, opt, sizeof(opt)));
    }
    rc = send_state(c, 0);
    if (rc < 0)
        return rc;
    TRY(XG_REC_END, xg_stream_write_end(c->w));
    return 0;
}

int xgt_sample_write(xg_stream_writer *w, const struct xgt_sample_opts *in, struct xgt_offsets *offs)
{
    struct xgt_sample_opts o;
    sample_defaults(in, &o);
    int rc = xg_stream_write_headers(w, XG_DOMAIN_X86_PV, 4, 17);
    if (rc < 0)
        return rc;
    if (offs)
        offs->headers_end = xg_stream_writer_bytes(w);
    struct sample_ctx c = {
        .o = &o,
        .w = w,
        .offs = offs,
        .pages = malloc((size_t)o.batch * 4096),
        .entries = malloc((size_t)o.batch * 8),
        .ptrs = malloc((size_t)o.batch * sizeof(void *)),
    };
    if (!c.pages || !c.entries || !c.ptrs)
        xgt_die("out of memory");
    rc = sample_body(&c);
    free(c.pages);
    free(c.entries);
    free(c.ptrs);
    if (rc == 0 && offs)
        offs->end = xg_stream_writer_bytes(w);
    return rc;
}

int xgt_sample_write_fn(xg_stream_writer *w, void *arg)
{
    return xgt_sample_write(w, arg, NULL);
}

struct sample_arg {
    const struct xgt_sample_opts *o;
    struct xgt_offsets *offs;
};

static int sample_offs_fn(xg_stream_writer *w, void *arg)
{
    struct sample_arg *a = arg;
    return xgt_sample_write(w, a->o, a->offs);
}

void xgt_sample_mem(const struct xgt_sample_opts *o, enum xg_stream_wrapper wrap, struct xgt_buf *out,
                    struct xgt_offsets *offs)
{
    size_t base = out->len;
    xgt_put_wrapper_prefix(out, wrap);
    uint64_t shift = out->len - base;
    struct sample_arg a = { o, offs };
    if (offs)
        memset(offs, 0, sizeof(*offs));
    xgt_stream_to_mem(false, sample_offs_fn, &a, out);
    if (offs) {
        for (size_t i = 0; i < offs->nr; i++)
            offs->off[i] += shift;
        offs->headers_end += shift;
        offs->end += shift;
    }
    xgt_put_wrapper_suffix(out, wrap);
}

static void count_pages(struct xgt_sample_counts *c, uint64_t nr, unsigned batch)
{
    c->records += (nr + batch - 1) / batch;
    c->page_entries += nr;
    for (uint64_t pfn = 0; pfn < nr; pfn++)
        c->by_type[xgt_sample_type(pfn) >> XG_PFINFO_SHIFT]++;
}

void xgt_sample_counts(const struct xgt_sample_opts *in, struct xgt_sample_counts *c)
{
    struct xgt_sample_opts o;
    sample_defaults(in, &o);
    memset(c, 0, sizeof(*c));
    uint64_t state = 2 + (uint64_t)o.nr_vcpus * (o.empty_blobs ? 7 : 4);
    c->records = 4 + 1; /* static data, P2M frames */
    count_pages(c, o.nr_pfns, o.batch);
    if (o.verify) {
        c->records++;
        count_pages(c, o.nr_pfns, o.batch);
    }
    if (o.checkpoint) {
        c->records += state + 1;
        count_pages(c, XG_MIN(DIRTY_PFNS, o.nr_pfns), o.batch);
    }
    if (o.extras)
        c->records += 2;
    c->records += state + 1; /* state, END */
}

/* ------------------------------------------------------------ backends, findings */

xg_hv *xgt_open_sim(const char *path)
{
    char spec[4096];
    snprintf(spec, sizeof(spec), "sim:%s", path);
    xg_diag *d = xg_diag_new();
    xg_hv *hv;
    if (!d || xg_hv_open(spec, d, &hv) < 0) {
        if (d)
            xg_diag_print(stderr, d, true);
        xgt_die("cannot open the simulated host %s", path);
    }
    xg_diag_free(d);
    return hv;
}

bool xgt_diag_has(const xg_diag *d, const char *needle)
{
    for (size_t i = 0; i < xg_diag_count(d); i++) {
        const struct xg_finding *f = xg_diag_get(d, i);
        if ((f->msg && strstr(f->msg, needle)) || (f->xen_says && strstr(f->xen_says, needle)) ||
            (f->hint && strstr(f->hint, needle)))
            return true;
    }
    return false;
}
