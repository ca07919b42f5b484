/*
 * harness.h - what the scenario harness's files share: its configuration,
 * a scenario and its parameters, child processes, the checks and tool
 * steps every group uses, and the matrix each group registers into.
 *
 * The files: harness.c (options, the matrix, running, main), util.c
 * (buffers, allocation, a scenario's failures, removing trees), matrix.c
 * (what the groups register with), child.c (child processes with
 * timeouts), checks.c (reading the tools' output), steps.c (steps on
 * simulated hosts), junit.c (the JUnit XML file), and one file per scenario
 * group (roundtrip.c, churn.c, livepipe.c, fault.c, xend.c, badimage.c),
 * each with its scenarios and the function that registers them.  Adding a
 * scenario to a group changes that group's file only.
 */
#ifndef XG_SCENARIO_HARNESS_H
#define XG_SCENARIO_HARNESS_H

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <libxml/tree.h>

#include "xg/xg.h"

extern char **environ;

#define EXIT_USAGE 2
#define EXIT_HARD 99

/* The descriptor number the fake xend hands xc_save/xc_restore as IOFD. */
#define XEND_IOFD 7
/* Output kept per scenario stream while running, and written to JUnit. */
#define LOG_KEEP_MAX (4U << 20)
#define JUNIT_HEAD (48U << 10)
#define JUNIT_TAIL (16U << 10)
/* Largest scenario matrix. */
#define MAX_SCENARIOS 512

/* ------------------------------------------------------------ util.c */

void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
double now_s(void);
void sleep_s(double s);
char *xstrdup(const char *s);
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* ------------------------------------------------------------ buffers */

struct buf {
    char *p;
    size_t len, cap;
    size_t dropped; /* bytes not kept beyond LOG_KEEP_MAX */
};

void buf_add(struct buf *b, const void *data, size_t n);
void buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void log_add(struct buf *b, const char *data, size_t n);
const char *buf_str(const struct buf *b);
void buf_free(struct buf *b);

/* Remove a directory tree, reporting (not failing on) what cannot be removed. */
void rm_tree(const char *path);

/* ------------------------------------------------------------ configuration */

struct config {
    char *xc_save, *xc_restore, *xg_sim, *xg_inspect, *xg_mutate;
    char *builddir;
    char *tmpdir; /* this run's directory (mkdtemp) */
    char *junit;
    double timeout; /* seconds per command */
    bool full, keep, verbose, list;
    const char *filters[16];
    unsigned nfilters;
};

/* ------------------------------------------------------------ scenarios */

struct params {
    const char *layout; /* linux64, pae32, netbsd64 */
    unsigned mem_mb;
    unsigned vcpus;
    unsigned seed;
    bool live, compress;
    const char *fault; /* --fault of the guest, or NULL */
    double dirty_rate; /* pages/s of the workload during a live save; 0 none */
    double dirty_seconds;
    unsigned xend_flags;   /* xend: xc_save's FLAGS */
    unsigned restore_args; /* xend: 7 or 9 arguments to xc_restore */
    const char *mutation;  /* badimage: which breakage */
    double pt_churn;       /* churn: address spaces/s, pages ballooned/s, grant maps/s */
    double balloon, grant_maps;
};

struct scenario;
typedef void (*scenario_fn)(struct scenario *s, const struct params *p);

struct scenario {
    const struct config *cfg;
    const char *group;
    char *name;
    scenario_fn fn;
    struct params p;
    char *dir;           /* its working directory */
    struct buf out, err; /* <system-out>, <system-err> */
    struct buf failures; /* one failure per line */
    char *first_failure;
    unsigned nfail;
    double seconds;
    void **strings; /* S() and keep() allocations, freed with the scenario */
    size_t nstrings;
    struct child **children; /* every process run, freed with the scenario */
    size_t nchildren;
};

void keep(struct scenario *s, void *p);
const char *S(struct scenario *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
bool fail(struct scenario *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* ------------------------------------------------------------ child.c */

/* ------------------------------------------------------------ child processes */

#define SPAWN_PIPE (-2)

struct spawn {
    const char *backend;   /* XG_BACKEND for the child, or NULL */
    int stdin_fd;          /* -1 /dev/null, SPAWN_PIPE a pipe from us, else this fd */
    int stdout_fd;         /* -1 captured, else this fd */
    int iofd;              /* passed to the child as XEND_IOFD, or -1 */
    const char *iofd_note; /* the redirection the log shows for it ("7>guest.img") */
    double timeout;        /* 0: the configured default */
};

struct child {
    char *cmd; /* command line as the log shows it */
    pid_t pid;
    int out_fd, err_fd, in_fd;
    bool capture_out;
    struct buf out, err;
    double t0, seconds, deadline, exited_at;
    bool exited, timed_out, logged;
    int code;        /* exit status; 128+N when killed by signal N */
    size_t line_pos; /* stdout handed to on_line so far */
    void (*on_line)(struct child *c, const char *line, void *arg);
    void *arg;
};

/* Set by on_signal(); the directory bail_out() removes. */
extern volatile sig_atomic_t interrupted;
extern const char *scratch_dir; /* removed when interrupted, unless kept */

void on_signal(int sig);
void bail_out(void);
void spawn_defaults(struct spawn *o);
struct child *child_start(struct scenario *s, const struct spawn *o, const char *const *argv);
void wait_all(struct scenario *s, struct child *const *cs, size_t n);
struct child *run_with(struct scenario *s, const struct spawn *o, const char *const *argv);
struct child *run(struct scenario *s, const char *const *argv);
void child_free(struct child *c);

#define ARGV(...) ((const char *const[]){ __VA_ARGS__, NULL })

/* ------------------------------------------------------------ checks.c */

const char *first_line(struct scenario *s, const char *text);
bool expect_exit(struct scenario *s, const struct child *c, int want);
bool has_line(const char *text, const char *line);
bool has_line_with(const char *text, const char *prefix, const char *const *words);
bool parse_u64(const char *s, size_t len, uint64_t *out);
bool error_names_pfn(const char *text, uint64_t pfn, const bool *set, uint64_t nset);

/* ------------------------------------------------------------ steps.c */

struct dom_entry {
    uint32_t domid;
    char layout[32], state[32];
};

struct dom_list {
    struct dom_entry d[64];
    unsigned n;
};


struct restored {
    bool has_domid, has_store, has_console;
    uint64_t domid, store_mfn, console_mfn;
};

const char *layout_width(const char *layout);
unsigned host_frames(unsigned mem_mb);
bool sim_init(struct scenario *s, const char *host, unsigned mem_mb);
bool init_hosts(struct scenario *s, unsigned mem_mb);
bool parse_domid(struct scenario *s, const struct child *c, uint32_t *domid);
bool create_guest(struct scenario *s, const char *host, const struct params *p, uint32_t *domid);
bool sim_list(struct scenario *s, const char *host, struct dom_list *l);
const char *dom_state(const struct dom_list *l, uint32_t domid);
bool expect_state(struct scenario *s, const char *host, uint32_t domid, const char *want);
bool same_domains(struct scenario *s, const char *host, const struct dom_list *a,
                  const struct dom_list *b);
bool host_consistent(struct scenario *s, const char *host);
bool parse_restore_output(struct scenario *s, const struct child *c, bool want_domid,
                          struct restored *r);
bool verify_restored(struct scenario *s, const char *h1, uint32_t d1, const char *h2, uint32_t d2);
struct child *start_workload(struct scenario *s, const char *host, uint32_t domid,
                             const struct params *p);
bool workload_ok(struct scenario *s, const struct child *w);
int file_is_gzip(struct scenario *s, const char *name);
bool no_file_like(struct scenario *s, const char *name);
bool inspect_ok(struct scenario *s, const char *image);
const char *const *save_argv(struct scenario *s, uint32_t domid, const struct params *p,
                             const char *out);
struct child *restore_create(struct scenario *s, const char *host, unsigned vcpus,
                             const char *image);

/* ------------------------------------------------------------ junit.c */

int write_junit(const struct config *cfg, struct scenario *const *ss, unsigned n, double seconds,
                time_t started);

/* ------------------------------------------------------------ the matrix (matrix.c) */

struct matrix {
    struct scenario *s[MAX_SCENARIOS];
    unsigned n;
    /*
     * Combinations registered so far, across the groups in their order
     * (skipped ones included): sizes, vcpus and seeds rotate on it.
     */
    unsigned k;
};

extern const char *const layouts[];
#define NLAYOUTS 3

void add(struct matrix *mx, const struct config *cfg, const char *group, scenario_fn fn,
         const struct params *p, const char *fmt, ...) __attribute__((format(printf, 6, 7)));
const char *mode_name(const struct params *p);

/*
 * Each group registers its scenarios (quick or full matrix), in this
 * order; adding a group adds a line here, one to the list in harness.c,
 * and its file to the harness's SOURCES in Makefile.am.
 */
void roundtrip_register(struct matrix *mx, const struct config *cfg);
void livepipe_register(struct matrix *mx, const struct config *cfg);
void fault_register(struct matrix *mx, const struct config *cfg);
void xend_register(struct matrix *mx, const struct config *cfg);
void churn_register(struct matrix *mx, const struct config *cfg);
void badimage_register(struct matrix *mx, const struct config *cfg);

/* The round trip, which the fault group's stale-table also runs. */
void scen_roundtrip(struct scenario *s, const struct params *p);

#endif
