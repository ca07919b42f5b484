/*
 * child.c - the tools as child processes: started in a process group of
 * their own, their output captured (and handed line by line to a callback
 * when asked), killed after a timeout, logged into the scenario.
 */
#include "config.h"

#include "harness.h"

/*
 * Children running now, for an interrupted harness to kill (each child
 * leads its own process group, so a tool's own children go with it).
 */
static pid_t live_pids[64];
volatile sig_atomic_t interrupted;
const char *scratch_dir; /* removed when interrupted, unless kept */

static void live_add(pid_t pid)
{
    for (size_t i = 0; i < 64; i++)
        if (!live_pids[i]) {
            live_pids[i] = pid;
            return;
        }
}

static void live_del(pid_t pid)
{
    for (size_t i = 0; i < 64; i++)
        if (live_pids[i] == pid)
            live_pids[i] = 0;
}

void on_signal(int sig)
{
    for (size_t i = 0; i < 64; i++)
        if (live_pids[i] > 0)
            kill(-live_pids[i], SIGKILL);
    interrupted = sig;
}

/* After SIGINT/SIGTERM: the children are dead; tidy up and go. */
void bail_out(void)
{
    int sig = interrupted;
    fprintf(stderr, "harness: interrupted (signal %d)\n", sig);
    if (scratch_dir)
        rm_tree(scratch_dir);
    signal(sig, SIG_DFL);
    raise(sig);
    exit(128 + sig);
}

void spawn_defaults(struct spawn *o)
{
    memset(o, 0, sizeof(*o));
    o->stdin_fd = -1;
    o->stdout_fd = -1;
    o->iofd = -1;
}

static const char *base_name(const char *path)
{
    const char *b = strrchr(path, '/');
    return b ? b + 1 : path;
}

/* The command line for the log: program base name, arguments quoted when needed. */
static char *command_line(const struct spawn *o, const char *const *argv)
{
    struct buf b = { 0 };
    if (o->backend)
        buf_printf(&b, "XG_BACKEND=%s ", o->backend);
    for (size_t i = 0; argv[i]; i++) {
        const char *a = i ? argv[i] : base_name(argv[0]);
        bool plain =
            *a &&
            strspn(a, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.,:/=+@%") ==
                strlen(a);
        buf_printf(&b, plain ? "%s%s" : "%s'%s'", i ? " " : "", a);
    }
    if (o->iofd >= 0 && o->iofd_note)
        buf_printf(&b, " %s", o->iofd_note);
    else if (o->iofd >= 0)
        buf_printf(&b, " %d<>IMAGE", XEND_IOFD);
    if (o->stdin_fd >= 0)
        buf_printf(&b, " <PIPE");
    if (o->stdout_fd >= 0)
        buf_printf(&b, " >PIPE");
    return b.p;
}

/* environ with XG_BACKEND replaced (or added); the strings are not copied. */
static char **child_env(const char *backend, char **storage)
{
    size_t n = 0;
    while (environ[n])
        n++;
    char **env = calloc(n + 2, sizeof(*env));
    if (!env)
        die("out of memory");
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (!backend || strncmp(environ[i], "XG_BACKEND=", 11) != 0)
            env[k++] = environ[i];
    *storage = NULL;
    if (backend) {
        *storage = xasprintf("XG_BACKEND=%s", backend);
        env[k++] = *storage;
    }
    env[k] = NULL;
    return env;
}

struct child *child_start(struct scenario *s, const struct spawn *o, const char *const *argv)
{
    struct child *c = calloc(1, sizeof(*c));
    if (!c)
        die("out of memory");
    struct child **v = realloc(s->children, (s->nchildren + 1) * sizeof(*v));
    if (!v)
        die("out of memory");
    s->children = v;
    s->children[s->nchildren++] = c;
    c->cmd = command_line(o, argv);
    c->out_fd = c->err_fd = c->in_fd = -1;
    c->capture_out = o->stdout_fd < 0;
    c->code = -1;

    int outp[2] = { -1, -1 }, errp[2] = { -1, -1 }, inp[2] = { -1, -1 };
    if (pipe2(errp, O_CLOEXEC) < 0 || (c->capture_out && pipe2(outp, O_CLOEXEC) < 0) ||
        (o->stdin_fd == SPAWN_PIPE && pipe2(inp, O_CLOEXEC) < 0))
        die("pipe: %s", strerror(errno));
    int devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (devnull < 0)
        die("/dev/null: %s", strerror(errno));
    char *env_storage;
    char **envp = child_env(o->backend, &env_storage);
    static const char exec_failed[] = "harness: cannot execute the program (exit 127)\n";

    fflush(NULL);
    c->t0 = now_s();
    c->deadline = c->t0 + (o->timeout > 0 ? o->timeout : s->cfg->timeout);
    pid_t pid = fork();
    if (pid < 0)
        die("fork: %s", strerror(errno));
    if (pid == 0) {
        /* The child: only async-signal-safe calls from here on. */
        signal(SIGPIPE, SIG_DFL);
        signal(SIGINT, SIG_DFL);
        signal(SIGTERM, SIG_DFL);
        setpgid(0, 0);
        int in = o->stdin_fd == SPAWN_PIPE ? inp[0] : o->stdin_fd >= 0 ? o->stdin_fd : devnull;
        int out = c->capture_out ? outp[1] : o->stdout_fd;
        if (chdir(s->dir) < 0 || dup2(in, 0) < 0 || dup2(out, 1) < 0 || dup2(errp[1], 2) < 0)
            _exit(126);
        if (o->iofd >= 0) {
            if (o->iofd == XEND_IOFD ? fcntl(XEND_IOFD, F_SETFD, 0) < 0
                                     : dup2(o->iofd, XEND_IOFD) < 0)
                _exit(126);
        }
        execve(argv[0], (char *const *)argv, envp);
        if (write(2, exec_failed, sizeof(exec_failed) - 1) < 0)
            _exit(127);
        _exit(127);
    }
    c->pid = pid;
    setpgid(pid, pid); /* also here: no window in which a kill of the group misses it */
    live_add(pid);
    close(devnull);
    free(envp);
    free(env_storage);
    close(errp[1]);
    c->err_fd = errp[0];
    if (c->capture_out) {
        close(outp[1]);
        c->out_fd = outp[0];
    }
    if (o->stdin_fd == SPAWN_PIPE) {
        close(inp[0]);
        c->in_fd = inp[1];
    }
    return c;
}

/* Hand complete stdout lines to the child's on_line callback. */
static void scan_lines(struct child *c)
{
    while (c->on_line && c->line_pos < c->out.len) {
        char *start = c->out.p + c->line_pos;
        char *nl = memchr(start, '\n', c->out.len - c->line_pos);
        if (!nl)
            break;
        size_t n = (size_t)(nl - start);
        char *line = malloc(n + 1);
        if (!line)
            die("out of memory");
        memcpy(line, start, n);
        line[n] = '\0';
        c->line_pos += n + 1;
        c->on_line(c, line, c->arg);
        free(line);
    }
}

/*
 * Run the children until every one has exited and closed its output,
 * reading their stdout/stderr as they go; a child past its deadline is
 * killed (SIGKILL to its process group, which it leads) and marked timed
 * out.
 */
static void pump(struct child *const *cs, size_t n)
{
    for (;;) {
        struct pollfd pfd[64];
        struct child *who[64];
        bool is_err[64];
        size_t np = 0;
        bool running = false;
        for (size_t i = 0; i < n; i++) {
            struct child *c = cs[i];
            if (c->out_fd >= 0 && np < 64) {
                pfd[np] = (struct pollfd){ .fd = c->out_fd, .events = POLLIN };
                who[np] = c, is_err[np++] = false;
            }
            if (c->err_fd >= 0 && np < 64) {
                pfd[np] = (struct pollfd){ .fd = c->err_fd, .events = POLLIN };
                who[np] = c, is_err[np++] = true;
            }
            running |= !c->exited;
        }
        if (!np && !running)
            return;
        int rc = poll(pfd, (nfds_t)np, 20);
        if (interrupted)
            bail_out();
        if (rc < 0 && errno != EINTR)
            die("poll: %s", strerror(errno));
        for (size_t i = 0; rc > 0 && i < np; i++) {
            if (!pfd[i].revents)
                continue;
            struct child *c = who[i];
            char data[65536];
            ssize_t got = read(pfd[i].fd, data, sizeof(data));
            if (got < 0 && (errno == EINTR || errno == EAGAIN))
                continue;
            if (got <= 0) {
                close(pfd[i].fd);
                if (is_err[i])
                    c->err_fd = -1;
                else
                    c->out_fd = -1;
                continue;
            }
            buf_add(is_err[i] ? &c->err : &c->out, data, (size_t)got);
            if (!is_err[i])
                scan_lines(c);
        }
        double t = now_s();
        for (size_t i = 0; i < n; i++) {
            struct child *c = cs[i];
            if (!c->exited) {
                int st;
                pid_t w = waitpid(c->pid, &st, WNOHANG);
                if (w == c->pid) {
                    live_del(c->pid);
                    c->exited = true;
                    c->exited_at = t;
                    c->seconds = t - c->t0;
                    c->code = WIFEXITED(st)     ? WEXITSTATUS(st)
                              : WIFSIGNALED(st) ? 128 + WTERMSIG(st)
                                                : -1;
                } else if (w < 0 && errno != EINTR) {
                    die("waitpid: %s", strerror(errno));
                } else if (t > c->deadline && !c->timed_out) {
                    kill(-c->pid, SIGKILL);
                    c->timed_out = true;
                }
            } else if (t - c->exited_at > 10 && (c->out_fd >= 0 || c->err_fd >= 0)) {
                /* Someone else holds its pipes open: stop waiting for them. */
                if (c->out_fd >= 0)
                    close(c->out_fd);
                if (c->err_fd >= 0)
                    close(c->err_fd);
                c->out_fd = c->err_fd = -1;
            }
        }
    }
}

/*
 * Put a finished child into the scenario's log: the command, its stdout
 * (when captured) and status in <system-out>, its stderr in <system-err>.
 * A timeout, a failure to execute, and a sanitizer report are failures
 * whatever the scenario expected.
 */
static void child_log(struct scenario *s, struct child *c)
{
    if (c->logged)
        return;
    c->logged = true;
    if (c->in_fd >= 0) {
        close(c->in_fd);
        c->in_fd = -1;
    }
    char head[64];
    snprintf(head, sizeof(head), "[exit %d, %.2f s]\n", c->code, c->seconds);
    log_add(&s->out, "$ ", 2);
    log_add(&s->out, c->cmd, strlen(c->cmd));
    log_add(&s->out, "\n", 1);
    if (c->capture_out)
        log_add(&s->out, buf_str(&c->out), c->out.len);
    if (c->out.len && c->out.p[c->out.len - 1] != '\n')
        log_add(&s->out, "\n", 1);
    log_add(&s->out, head, strlen(head));
    if (c->err.len) {
        log_add(&s->err, "$ ", 2);
        log_add(&s->err, c->cmd, strlen(c->cmd));
        log_add(&s->err, "\n", 1);
        log_add(&s->err, buf_str(&c->err), c->err.len);
        if (c->err.p[c->err.len - 1] != '\n')
            log_add(&s->err, "\n", 1);
    }
    if (s->cfg->verbose) {
        printf("    $ %s  [exit %d, %.2f s]\n", c->cmd, c->code, c->seconds);
        if (c->err.len)
            printf("%s%s", buf_str(&c->err), c->err.p[c->err.len - 1] == '\n' ? "" : "\n");
    }
    if (c->timed_out)
        fail(s, "%s: still running after %.0f s, killed", c->cmd, c->deadline - c->t0);
    else if (c->code == 127 && strstr(buf_str(&c->err), "harness: cannot execute"))
        fail(s, "%s: could not be executed", c->cmd);
    if (strstr(buf_str(&c->err), "Sanitizer") || strstr(buf_str(&c->err), "runtime error:"))
        fail(s, "%s: sanitizer report on stderr", c->cmd);
}

void wait_all(struct scenario *s, struct child *const *cs, size_t n)
{
    pump(cs, n);
    for (size_t i = 0; i < n; i++)
        child_log(s, cs[i]);
}

struct child *run_with(struct scenario *s, const struct spawn *o, const char *const *argv)
{
    struct child *c = child_start(s, o, argv);
    wait_all(s, &c, 1);
    return c;
}

struct child *run(struct scenario *s, const char *const *argv)
{
    struct spawn o;
    spawn_defaults(&o);
    return run_with(s, &o, argv);
}

void child_free(struct child *c)
{
    if (c->out_fd >= 0)
        close(c->out_fd);
    if (c->err_fd >= 0)
        close(c->err_fd);
    if (c->in_fd >= 0)
        close(c->in_fd);
    buf_free(&c->out);
    buf_free(&c->err);
    free(c->cmd);
    free(c);
}
