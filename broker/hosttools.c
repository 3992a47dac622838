/* hosttools.c - runs one command host tool in a child process (see hosttools.h). */
#include "hosttools.h"
#include "redact.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <dirent.h>
#include <pthread.h>
#include <signal.h>
#include <sodium.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define ENV_FIXED 6 /* PATH, LANG, HOME, TACTUS_RUN_ID, TACTUS_TOOL, TACTUS_IDEM... */
#define CHUNK 65536 /* bytes moved per read/write */
#define DRAIN_READS                                                                                \
    64                        /* reads per stream after the tool exited (bounds a writer that      \
                                 a background grandchild keeps busy) */
#define ERROR_STDERR_MAX 1024 /* stderr bytes quoted in an error message */
#define NO_PIDFD_POLL_MS 20   /* exit polling interval when pidfd_open is unavailable */
#define SECRET_NAME_MAX 128

/* What the child reports on its status pipe before _exit(127) when it could not exec. */
enum child_stage { STAGE_SETUP = 1, STAGE_CWD = 2, STAGE_EXEC = 3 };
typedef struct child_report {
    int stage;
    int err;
} child_report;

/* One environment entry, NAME=value, by reference (secret values are never copied here). */
typedef struct env_src {
    const char *name;
    const unsigned char *value;
    size_t len;
} env_src;

/*
 * Everything the child needs, prepared before fork so the child does not allocate. envp and
 * envbuf are allocated by the parent but only filled in by the child, in its own copy of the
 * memory: the parent's pages never hold a secret.
 */
typedef struct child_plan {
    char *const *argv;
    char **paths; /* execve candidates for argv[0], NULL-terminated */
    const char *cwd;
    const env_src *env;
    size_t nenv;
    char **envp;  /* room for nenv + 1 pointers */
    char *envbuf; /* room for every "NAME=value\0" */
    pid_t parent;
    int in_r, out_w, err_w, status_w;
} child_plan;

/* The parent's view of a running tool. */
typedef struct pump {
    const char *name; /* the tool's, for messages */
    int in_w, out_r, err_r, pidfd;
    const char *args;
    size_t args_len, args_off;
    char *out; /* stdout so far, NUL-terminated */
    size_t out_len, out_cap, out_max;
    /* The last bytes of stderr: TX_HOSTTOOL_STDERR_KEEP plus, with a redactor, its longest
     * match minus one, so a secret the window cut in two is recognised and dropped whole. */
    char *tail;
    size_t tail_len, tail_cap, tail_context;
    int tail_cut; /* bytes were dropped before the window */
    const tx_redactor *redactor;
    int exited, timed_out, too_large;
    int run_deadline; /* timed_out at the run's deadline, not the tool's own timeout */
} pump;

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

static void close_fd(int *fd)
{
    if (*fd >= 0) {
        close(*fd);
        *fd = -1;
    }
}

/* ---- child side: async-signal-safe calls only ------------------------------------------- */

/* Tells the parent why we could not exec, then exits. write() of 8 bytes to a pipe is atomic. */
static void child_fail(const child_plan *p, int stage, int e)
{
    child_report r = {stage, e};
    ssize_t n = write(p->status_w, &r, sizeof r);
    (void)n;
    _exit(127);
}

/* Closes every descriptor from `from` up; close_range when the kernel has it (5.9+). */
static void close_from(int from)
{
    if (syscall(SYS_close_range, (unsigned)from, ~0u, 0u) == 0)
        return;
    struct rlimit rl;
    long max = 65536;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
        rl.rlim_cur < (rlim_t)(1 << 20))
        max = (long)rl.rlim_cur;
    for (long fd = from; fd < max; fd++)
        close((int)fd);
}

/*
 * Gives the child exactly: 0 = args pipe, 1 = stdout pipe, 2 = stderr pipe, 3 = status pipe
 * (close-on-exec). Each end is first duplicated to a fresh descriptor >= 4 so that none of
 * the dup2 calls below can overwrite another end, whatever numbers pipe2 handed out (a broker
 * started with 0/1/2 closed gets pipe ends among them).
 */
static void child_fds(child_plan *p)
{
    int in = fcntl(p->in_r, F_DUPFD_CLOEXEC, 4);
    int out = fcntl(p->out_w, F_DUPFD_CLOEXEC, 4);
    int er = fcntl(p->err_w, F_DUPFD_CLOEXEC, 4);
    int st = fcntl(p->status_w, F_DUPFD_CLOEXEC, 4);
    if (st < 0)
        child_fail(p, STAGE_SETUP, errno); /* the original status_w still works */
    p->status_w = st;
    if (in < 0 || out < 0 || er < 0)
        child_fail(p, STAGE_SETUP, errno);
    if (dup2(in, 0) < 0 || dup2(out, 1) < 0 || dup2(er, 2) < 0 || dup2(st, 3) < 0)
        child_fail(p, STAGE_SETUP, errno);
    p->status_w = 3;
    if (fcntl(3, F_SETFD, FD_CLOEXEC) < 0)
        child_fail(p, STAGE_SETUP, errno);
    close_from(4);
}

/* Appends s (n bytes) at *w. The caller sized the buffer. */
static char *put(char *w, const void *s, size_t n)
{
    memcpy(w, s, n);
    return w + n;
}

/* Fills envp from p->env inside p->envbuf. */
static void child_env(const child_plan *p)
{
    char *w = p->envbuf;
    for (size_t i = 0; i < p->nenv; i++) {
        p->envp[i] = w;
        w = put(w, p->env[i].name, strlen(p->env[i].name));
        w = put(w, "=", 1);
        w = put(w, p->env[i].value, p->env[i].len);
        *w++ = '\0';
    }
    p->envp[p->nenv] = NULL;
}

/* The child between fork and execve. Never returns. */
static void child_main(child_plan *p)
{
    /* Handlers the broker installed must not run here, and a tool expects default signals. */
    struct sigaction dfl;
    memset(&dfl, 0, sizeof dfl);
    dfl.sa_handler = SIG_DFL;
    sigemptyset(&dfl.sa_mask);
    for (int sig = 1; sig < NSIG; sig++)
        if (sig != SIGKILL && sig != SIGSTOP)
            sigaction(sig, &dfl, NULL); /* fails harmlessly for numbers that are not signals */
    sigset_t none;
    sigemptyset(&none);
    pthread_sigmask(SIG_SETMASK, &none, NULL);

    if (setsid() < 0)
        child_fail(p, STAGE_SETUP, errno);
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0)
        child_fail(p, STAGE_SETUP, errno);
    if (getppid() != p->parent) /* the broker died before prctl took effect */
        _exit(127);
    child_fds(p);
    if (chdir(p->cwd) < 0)
        child_fail(p, STAGE_CWD, errno);
    child_env(p);

    /* Like execvp, but over our fixed candidates, never a shell fallback for ENOEXEC: a
     * permission problem on any candidate is reported rather than the last ENOENT. */
    int saved = ENOENT;
    for (char **path = p->paths; *path != NULL; path++) {
        execve(*path, p->argv, p->envp);
        if (errno != ENOENT && errno != ENOTDIR && saved == ENOENT)
            saved = errno;
    }
    child_fail(p, STAGE_EXEC, saved);
}

/* ---- parent side: preparing the call ----------------------------------------------------- */

/* True for NAME like an environment variable: [A-Za-z_][A-Za-z0-9_]*, at most 128 bytes. */
static int valid_env_name(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > SECRET_NAME_MAX || (s[0] >= '0' && s[0] <= '9'))
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '_'))
            return 0;
    }
    return 1;
}

/* Variables the runtime sets itself; a secret must not shadow one of them. */
static int reserved_env_name(const char *s)
{
    return strcmp(s, "PATH") == 0 || strcmp(s, "LANG") == 0 || strcmp(s, "HOME") == 0 ||
           strncmp(s, "TACTUS_", 7) == 0;
}

/* Checks that c->secrets is exactly the list c->tool->secrets names, each once, and that every
 * value can travel in an environment block. */
static int check_secrets(const tx_hosttool_call *c, tx_error *err)
{
    const tx_host_tool *t = c->tool;
    if (c->nsecrets > 0 && c->secrets == NULL)
        return tx_fail(err, TACTUS_EUSAGE, "tool %s: secrets is NULL", t->name);
    if (c->nsecrets != t->nsecrets)
        return tx_fail(err, TACTUS_EUSAGE, "tool %s: %zu secrets given, the tool names %zu",
                       t->name, c->nsecrets, t->nsecrets);
    for (size_t i = 0; i < c->nsecrets; i++) {
        const tx_tool_secret *s = &c->secrets[i];
        if (s->name == NULL || !valid_env_name(s->name) || reserved_env_name(s->name))
            return tx_fail(err, TACTUS_EUSAGE,
                           "tool %s: secret %zu: '%s' cannot be an environment variable name",
                           t->name, i + 1, s->name ? s->name : "(null)");
        if (s->len > 0 && (s->value == NULL || memchr(s->value, '\0', s->len) != NULL))
            return tx_fail(err, TACTUS_EUSAGE,
                           "tool %s: secret %s contains a NUL byte and cannot be passed in the "
                           "environment",
                           t->name, s->name);
        size_t named = 0, given = 0;
        for (size_t j = 0; j < t->nsecrets; j++)
            named += strcmp(t->secrets[j], s->name) == 0;
        for (size_t j = 0; j < c->nsecrets; j++)
            given += c->secrets[j].name != NULL && strcmp(c->secrets[j].name, s->name) == 0;
        if (named != 1 || given != 1)
            return tx_fail(err, TACTUS_EUSAGE, "tool %s: secret %s is %s", t->name, s->name,
                           named == 0 ? "not one the tool names" : "given more than once");
    }
    return 0;
}

static int check_call(const tx_hosttool_call *c, tx_error *err)
{
    if (c == NULL || c->tool == NULL || c->tool->name == NULL)
        return tx_fail(err, TACTUS_EUSAGE, "host tool call without a tool");
    const tx_host_tool *t = c->tool;
    if (t->argv == NULL || t->argc == 0 || t->argv[0] == NULL || t->argv[0][0] == '\0')
        return tx_fail(err, TACTUS_EUSAGE, "tool %s: empty command", t->name);
    if (strlen(t->argv[0]) >= PATH_MAX)
        return tx_fail(err, TACTUS_EUSAGE, "tool %s: command name too long", t->name);
    if (t->timeout_ms == 0)
        return tx_fail(err, TACTUS_EUSAGE, "tool %s: timeout must be above 0", t->name);
    if (t->max_output == 0 || t->max_output >= SIZE_MAX / 2)
        return tx_fail(err, TACTUS_EUSAGE, "tool %s: max_output must be above 0 and below %zu",
                       t->name, SIZE_MAX / 2);
    if (t->sandboxed)
        return tx_fail(err, TACTUS_EUSAGE,
                       "tool %s: `sandbox: true` tools must be wrapped in `tactus sandbox` by "
                       "the caller",
                       t->name);
    if (c->proc_dir == NULL || c->proc_dir[0] == '\0')
        return tx_fail(err, TACTUS_EUSAGE, "tool %s: no procedure directory", t->name);
    if (c->run_id == NULL || c->idempotency_key == NULL)
        return tx_fail(err, TACTUS_EUSAGE, "tool %s: run id and idempotency key are required",
                       t->name);
    if (c->args_json == NULL && c->args_len > 0)
        return tx_fail(err, TACTUS_EUSAGE, "tool %s: args_json is NULL", t->name);
    return check_secrets(c, err);
}

/* A malloc'd "a/b" (or "b" alone when b is absolute). */
static char *join_path(const char *a, const char *b)
{
    if (b[0] == '/')
        return strdup(b);
    size_t la = strlen(a), lb = strlen(b);
    char *s = malloc(la + lb + 2);
    if (s == NULL)
        return NULL;
    memcpy(s, a, la);
    s[la] = '/';
    memcpy(s + la + 1, b, lb + 1);
    return s;
}

static void free_paths(char **paths)
{
    if (paths == NULL)
        return;
    for (char **p = paths; *p != NULL; p++)
        free(*p);
    free(paths);
}

/* The NULL-terminated list of files execve should try for argv0: itself when it holds a '/'
 * (relative to the child's cwd), else each TX_HOSTTOOL_PATH directory joined with it. */
static char **exec_candidates(const char *argv0)
{
    static const char *const dirs[] = {"/usr/local/bin", "/usr/bin", "/bin"};
    size_t n = strchr(argv0, '/') != NULL ? 1 : sizeof dirs / sizeof dirs[0];
    char **paths = calloc(n + 1, sizeof *paths);
    if (paths == NULL)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        paths[i] = n == 1 && strchr(argv0, '/') ? strdup(argv0) : join_path(dirs[i], argv0);
        if (paths[i] == NULL) {
            free_paths(paths);
            return NULL;
        }
    }
    return paths;
}

/* The environment entries (by reference) into env[], which has room for ENV_FIXED + nsecrets.
 * Returns the count and sets *bytes to the size of the "NAME=value\0" strings. */
static size_t env_sources(const tx_hosttool_call *c, env_src *env, size_t *bytes)
{
    size_t n = 0;
    const char *home = getenv("HOME");
    env[n++] = (env_src){"PATH", (const unsigned char *)TX_HOSTTOOL_PATH, strlen(TX_HOSTTOOL_PATH)};
    env[n++] = (env_src){"LANG", (const unsigned char *)"C.UTF-8", 7};
    if (home != NULL)
        env[n++] = (env_src){"HOME", (const unsigned char *)home, strlen(home)};
    env[n++] = (env_src){"TACTUS_RUN_ID", (const unsigned char *)c->run_id, strlen(c->run_id)};
    env[n++] =
        (env_src){"TACTUS_TOOL", (const unsigned char *)c->tool->name, strlen(c->tool->name)};
    env[n++] = (env_src){"TACTUS_IDEMPOTENCY_KEY", (const unsigned char *)c->idempotency_key,
                         strlen(c->idempotency_key)};
    for (size_t i = 0; i < c->nsecrets; i++)
        env[n++] = (env_src){c->secrets[i].name, c->secrets[i].value, c->secrets[i].len};
    *bytes = 0;
    for (size_t i = 0; i < n; i++)
        *bytes += strlen(env[i].name) + 1 + env[i].len + 1;
    return n;
}

/* ---- parent side: running the call ------------------------------------------------------- */

static int set_nonblock(int fd)
{
    int fl = fcntl(fd, F_GETFL);
    return fl < 0 ? -1 : fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

/*
 * write() to the tool's stdin without risking SIGPIPE: the signal is blocked in this thread
 * for the one call, and if the write raised it (EPIPE) and it was not already pending, it is
 * taken off the pending set before the mask is restored. Dispositions are never touched.
 */
static ssize_t write_nosigpipe(int fd, const void *buf, size_t n)
{
    sigset_t pipe_set, old, pending;
    sigemptyset(&pipe_set);
    sigaddset(&pipe_set, SIGPIPE);
    sigemptyset(&pending);
    if (pthread_sigmask(SIG_BLOCK, &pipe_set, &old) != 0)
        return -1;
    sigpending(&pending);
    int was_pending = sigismember(&pending, SIGPIPE);
    ssize_t w = write(fd, buf, n);
    int e = errno;
    if (w < 0 && e == EPIPE && !was_pending) {
        struct timespec zero = {0, 0};
        while (sigtimedwait(&pipe_set, NULL, &zero) < 0 && errno == EINTR)
            ;
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    errno = e;
    return w;
}

/* Moves the next piece of the arguments into the tool; closes stdin when done or refused. */
static void pump_stdin(pump *p)
{
    while (p->in_w >= 0) {
        if (p->args_off >= p->args_len) {
            close_fd(&p->in_w);
            return;
        }
        size_t n = p->args_len - p->args_off;
        ssize_t w = write_nosigpipe(p->in_w, p->args + p->args_off, n < CHUNK ? n : CHUNK);
        if (w > 0) {
            p->args_off += (size_t)w;
        } else if (w < 0 && errno == EINTR) {
            continue;
        } else if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            return;
        } else {
            /* EPIPE: the tool closed stdin without reading it all. That is its business. */
            close_fd(&p->in_w);
        }
    }
}

/* Reads once from the tool's stdout. Returns 1 if more may come, 0 at EOF/would-block,
 * -1 on out of memory. Sets too_large when the cap is passed. */
static int pump_stdout(pump *p)
{
    char buf[CHUNK];
    ssize_t r = read(p->out_r, buf, sizeof buf);
    if (r < 0 && errno == EINTR)
        return 1;
    if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
        return 0;
    if (r <= 0) {
        close_fd(&p->out_r);
        return 0;
    }
    if ((uint64_t)p->out_len + (uint64_t)r > p->out_max) {
        p->too_large = 1;
        return 0;
    }
    if (p->out_len + (size_t)r + 1 > p->out_cap) {
        size_t cap = p->out_cap ? p->out_cap : CHUNK;
        while (cap < p->out_len + (size_t)r + 1)
            cap *= 2;
        if (cap > p->out_max + 1)
            cap = p->out_max + 1;
        char *grown = realloc(p->out, cap);
        if (grown == NULL)
            return -1;
        p->out = grown;
        p->out_cap = cap;
    }
    memcpy(p->out + p->out_len, buf, (size_t)r);
    p->out_len += (size_t)r;
    p->out[p->out_len] = '\0';
    return 1;
}

/* Reads once from the tool's stderr, keeping only the last TX_HOSTTOOL_STDERR_KEEP bytes.
 * Returns 1 if more may come, 0 at EOF/would-block. */
static int pump_stderr(pump *p)
{
    char buf[CHUNK];
    ssize_t r = read(p->err_r, buf, sizeof buf);
    if (r < 0 && errno == EINTR)
        return 1;
    if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
        return 0;
    if (r <= 0) {
        close_fd(&p->err_r);
        return 0;
    }
    const char *src = buf;
    size_t n = (size_t)r;
    if (n >= p->tail_cap) {
        src += n - p->tail_cap;
        n = p->tail_cap;
        p->tail_cut = p->tail_cut || p->tail_len > 0 || (size_t)r > p->tail_cap;
        p->tail_len = 0;
    } else if (p->tail_len + n > p->tail_cap) {
        size_t drop = p->tail_len + n - p->tail_cap;
        memmove(p->tail, p->tail + drop, p->tail_len - drop);
        p->tail_len -= drop;
        p->tail_cut = 1;
    }
    memcpy(p->tail + p->tail_len, src, n);
    p->tail_len += n;
    return 1;
}

/* Without a pidfd: true once the tool process (not its group) has exited. It is not reaped: the
 * zombie keeps its pid, and so the process group id, from being reused until we have killed the
 * group. */
static int child_has_exited(pid_t pid)
{
    siginfo_t si;
    memset(&si, 0, sizeof si);
    if (waitid(P_PID, (id_t)pid, &si, WEXITED | WNOHANG | WNOWAIT) < 0)
        return errno == ECHILD;
    return si.si_pid == pid;
}

/* Reads what the exited tool left in its pipes. Bounded, because a background grandchild
 * may still hold the write ends and keep writing. */
static int drain(pump *p)
{
    for (int i = 0; i < DRAIN_READS && p->out_r >= 0 && !p->too_large; i++) {
        int r = pump_stdout(p);
        if (r < 0)
            return -1;
        if (r == 0)
            break;
    }
    for (int i = 0; i < DRAIN_READS && p->err_r >= 0; i++)
        if (pump_stderr(p) == 0)
            break;
    return 0;
}

/*
 * Feeds stdin and collects stdout/stderr until the tool exits, the deadline passes or stdout
 * passes its cap. Returns 0, or -1 (out of memory / poll failure) with err set.
 */
static int pump_run(pump *p, pid_t pid, double deadline, tx_error *err)
{
    for (;;) {
        double left = deadline - now_ms();
        if (left <= 0) {
            p->timed_out = 1;
            return 0;
        }
        struct pollfd fds[4];
        int nfds = 0, i_in = -1, i_out = -1, i_err = -1, i_pid = -1;
        if (p->in_w >= 0) {
            i_in = nfds;
            fds[nfds++] = (struct pollfd){p->in_w, POLLOUT, 0};
        }
        if (p->out_r >= 0) {
            i_out = nfds;
            fds[nfds++] = (struct pollfd){p->out_r, POLLIN, 0};
        }
        if (p->err_r >= 0) {
            i_err = nfds;
            fds[nfds++] = (struct pollfd){p->err_r, POLLIN, 0};
        }
        if (p->pidfd >= 0) {
            i_pid = nfds;
            fds[nfds++] = (struct pollfd){p->pidfd, POLLIN, 0};
        }
        int timeout = left > INT_MAX ? INT_MAX : (int)left + 1;
        if (p->pidfd < 0 && timeout > NO_PIDFD_POLL_MS)
            timeout = NO_PIDFD_POLL_MS;
        int n = poll(fds, (nfds_t)nfds, timeout);
        if (n < 0 && errno != EINTR)
            return tx_fail(err, TACTUS_ESYSTEM, "tool %s: poll: %s", p->name, strerror(errno));
        if (n > 0) {
            if (i_in >= 0 && fds[i_in].revents != 0)
                pump_stdin(p);
            if (i_out >= 0 && fds[i_out].revents != 0 && pump_stdout(p) < 0)
                return tx_fail(err, TACTUS_ESYSTEM, "out of memory reading a tool's output");
            if (p->too_large)
                return 0;
            if (i_err >= 0 && fds[i_err].revents != 0)
                pump_stderr(p);
        }
        int gone = i_pid >= 0 ? n > 0 && fds[i_pid].revents != 0 : child_has_exited(pid);
        if (gone) {
            p->exited = 1;
            if (drain(p) < 0)
                return tx_fail(err, TACTUS_ESYSTEM, "out of memory reading a tool's output");
            return 0;
        }
    }
}

/* ---- parent side: ending every process the tool started ---------------------------------- */

#define SWEEP_MAX_MS 2000 /* how long the broker keeps killing a tool's processes, at most */
#define SWEEP_PAUSE_MS 2  /* between rounds, while killed processes finish dying */

/* What /proc/PID/stat says about one process. */
typedef struct proc_entry {
    pid_t pid, ppid, pgrp, sid;
    char state;
    char victim;
} proc_entry;

/* A growable list of processes. */
typedef struct proc_list {
    proc_entry *v;
    size_t n, cap;
} proc_list;

/* Reads pid, state, ppid, pgrp and session of /proc/NAME (dirfd = /proc). Returns 0, or -1 when
 * the process is gone or the line is not understood. The command name may hold anything,
 * ')' included, so the fields are found after the last ')'. */
static int read_proc_stat(int procfd, const char *name, proc_entry *e)
{
    char path[64], buf[512];
    snprintf(path, sizeof path, "%s/stat", name);
    int fd = openat(procfd, path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    ssize_t n;
    while ((n = read(fd, buf, sizeof buf - 1)) < 0 && errno == EINTR)
        ;
    close(fd);
    if (n <= 0)
        return -1;
    buf[n] = '\0';
    const char *close_paren = strrchr(buf, ')');
    long pid = strtol(buf, NULL, 10), ppid, pgrp, sid;
    char state;
    if (close_paren == NULL || pid <= 0 ||
        sscanf(close_paren + 1, " %c %ld %ld %ld", &state, &ppid, &pgrp, &sid) != 4)
        return -1;
    *e = (proc_entry){(pid_t)pid, (pid_t)ppid, (pid_t)pgrp, (pid_t)sid, state, 0};
    return 0;
}

/* Fills l with every process this one can see in /proc. Returns 0, or -1 (no /proc, no
 * memory): the caller then falls back to killing the process group alone. */
static int scan_procs(proc_list *l)
{
    l->n = 0;
    int procfd = open("/proc", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (procfd < 0)
        return -1;
    DIR *d = fdopendir(procfd);
    if (d == NULL) {
        close(procfd);
        return -1;
    }
    int rc = 0;
    struct dirent *de;
    while (rc == 0 && (de = readdir(d)) != NULL) {
        if (de->d_name[0] < '1' || de->d_name[0] > '9')
            continue;
        proc_entry e;
        if (read_proc_stat(dirfd(d), de->d_name, &e) != 0)
            continue;
        if (l->n == l->cap) {
            size_t cap = l->cap ? l->cap * 2 : 256;
            proc_entry *grown = realloc(l->v, cap * sizeof *grown);
            if (grown == NULL) {
                rc = -1;
                break;
            }
            l->v = grown;
            l->cap = cap;
        }
        l->v[l->n++] = e;
    }
    closedir(d);
    return rc;
}

/* True if pid is in `known` (the children this process had before the call). */
static int known_child(const proc_list *known, pid_t pid)
{
    for (size_t i = 0; i < known->n; i++)
        if (known->v[i].pid == pid)
            return 1;
    return 0;
}

/* Appends pid to l. Returns 0, or -1 out of memory. */
static int list_add(proc_list *l, pid_t pid)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 16;
        proc_entry *grown = realloc(l->v, cap * sizeof *grown);
        if (grown == NULL)
            return -1;
        l->v = grown;
        l->cap = cap;
    }
    l->v[l->n++] = (proc_entry){pid, 0, 0, 0, 0, 0};
    return 0;
}

/* Appends the pids listed (space-separated) in the file at path to l. Returns 0, or -1. */
static int read_pid_list(const char *path, proc_list *l)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    char buf[4096];
    long cur = 0;
    int in_num = 0, rc = 0;
    for (;;) {
        ssize_t n = read(fd, buf, sizeof buf);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            rc = n < 0 ? -1 : 0;
            break;
        }
        for (ssize_t i = 0; i < n && rc == 0; i++) {
            if (buf[i] >= '0' && buf[i] <= '9') {
                if (cur > INT_MAX / 10) {
                    rc = -1;
                    break;
                }
                cur = cur * 10 + (buf[i] - '0');
                in_num = 1;
            } else if (in_num) {
                rc = list_add(l, (pid_t)cur);
                cur = 0;
                in_num = 0;
            }
        }
        if (rc != 0)
            break;
    }
    if (rc == 0 && in_num)
        rc = list_add(l, (pid_t)cur);
    close(fd);
    return rc;
}

/* The children of this process, from /proc/self/task/TID/children of each thread: a few
 * reads instead of a scan of every process. Returns 0, or -1 (the kernel has no such files:
 * CONFIG_PROC_CHILDREN). */
static int list_children(proc_list *l)
{
    l->n = 0;
    DIR *d = opendir("/proc/self/task");
    if (d == NULL)
        return -1;
    int rc = 0;
    struct dirent *de;
    while (rc == 0 && (de = readdir(d)) != NULL) {
        if (de->d_name[0] < '1' || de->d_name[0] > '9')
            continue;
        char path[64];
        snprintf(path, sizeof path, "/proc/self/task/%.20s/children", de->d_name);
        rc = read_pid_list(path, l);
    }
    closedir(d);
    return rc;
}

/* The children this process has now (before a tool is started, for adopt_orphans). */
static int snapshot_children(proc_list *children)
{
    if (list_children(children) == 0)
        return 0;
    if (scan_procs(children) != 0)
        return -1;
    pid_t self = getpid();
    size_t k = 0;
    for (size_t i = 0; i < children->n; i++)
        if (children->v[i].ppid == self)
            children->v[k++] = children->v[i];
    children->n = k;
    return 0;
}

static void mark_descendants(proc_list *l);

/*
 * Marks the tool's processes in l: the tool itself, everything in its session (the tool is a
 * session leader, so sid == tool), every descendant of a marked process (whatever session or
 * group it moved to), and, with adopt, every child of this process that it did not have
 * before the call (orphans the kernel reparented to us as their subreaper).
 */
static void mark_victims(proc_list *l, pid_t tool, const proc_list *before, int adopt)
{
    pid_t self = getpid();
    for (size_t i = 0; i < l->n; i++) {
        proc_entry *e = &l->v[i];
        e->victim = e->pid == tool || e->sid == tool ||
                    (adopt && e->ppid == self && !known_child(before, e->pid));
    }
    mark_descendants(l);
}

static int by_pid(const void *a, const void *b)
{
    pid_t x = ((const proc_entry *)a)->pid, y = ((const proc_entry *)b)->pid;
    return (x > y) - (x < y);
}

/* Marks every descendant of a marked process in l (whatever session or group it moved to).
 * Sorts l by pid so each parent is found by binary search: a pass is O(n log n) even on a
 * machine with thousands of processes. */
static void mark_descendants(proc_list *l)
{
    pid_t self = getpid();
    if (l->n > 1)
        qsort(l->v, l->n, sizeof *l->v, by_pid);
    for (int changed = 1; changed;) { /* each pass marks at least one more level */
        changed = 0;
        for (size_t i = 0; i < l->n; i++) {
            if (l->v[i].victim || l->v[i].pid == self)
                continue;
            proc_entry key = {.pid = l->v[i].ppid};
            const proc_entry *parent = bsearch(&key, l->v, l->n, sizeof *l->v, by_pid);
            if (parent != NULL && parent->victim) {
                l->v[i].victim = 1;
                changed = 1;
            }
        }
    }
}

/*
 * SIGKILLs the marked processes of l that are still alive, and the process group of each
 * unless it is this process's own group or session (a child forked without setsid shares
 * those). Reaps marked zombies that are children of this process, except `keep` (0: none).
 * Returns how many were alive.
 */
static size_t kill_marked(const proc_list *l, pid_t keep)
{
    pid_t self = getpid(), my_pgrp = getpgrp(), my_sid = getsid(0);
    size_t alive = 0;
    for (size_t i = 0; i < l->n; i++) {
        const proc_entry *e = &l->v[i];
        if (!e->victim)
            continue;
        if (e->state != 'Z' && e->state != 'X') {
            alive++;
            kill(e->pid, SIGKILL);
            /* A group in a session a victim made holds only victims: killing it also catches
             * members forked since the scan. */
            if (e->pgrp > 1 && e->pgrp != my_pgrp && e->sid != my_sid)
                kill(-e->pgrp, SIGKILL);
        } else if (e->ppid == self && e->pid != keep) {
            waitpid(e->pid, NULL, WNOHANG);
        }
    }
    return alive;
}

/*
 * Kills every process the tool started, wherever it went, and reaps the ones that became
 * this process's children; the tool itself is killed but left unreaped (its zombie keeps its
 * pid, and so its session and group ids, from being reused meanwhile). Rounds of scan + SIGKILL
 * repeat until a scan finds none of them alive (a process forked between two rounds is found
 * in the next one), for at most SWEEP_MAX_MS. With adopt and a tool that exited by itself, a
 * look at this process's children replaces the scan when it shows no orphan. Returns how many
 * were still alive at the end.
 */
static size_t kill_tool_processes(pid_t tool, int exited, const proc_list *before, int adopt)
{
    if (adopt && exited) {
        /* The fast path of a tool that exited by itself: every process it left alive has a
         * topmost ancestor whose parent is dead, reparented to us, the subreaper. No new
         * child: nothing is left (but the tool's zombie). */
        kill(-tool, SIGKILL);
        proc_list now = {NULL, 0, 0};
        int clean = list_children(&now) == 0;
        for (size_t i = 0; clean && i < now.n; i++)
            clean = now.v[i].pid == tool || known_child(before, now.v[i].pid);
        free(now.v);
        if (clean)
            return 0;
    }
    /* Stop the tool's group first: a stopped tool can neither exit (which would orphan its
     * children before the scan finds them by their parent) nor fork. */
    kill(-tool, SIGSTOP);
    proc_list l = {NULL, 0, 0};
    double until = now_ms() + SWEEP_MAX_MS;
    size_t alive = 0;
    for (;;) {
        if (scan_procs(&l) != 0) {
            kill(-tool, SIGKILL); /* no /proc: the tool's own process group at least */
            kill(tool, SIGKILL);
            break;
        }
        mark_victims(&l, tool, before, adopt);
        alive = kill_marked(&l, tool);
        if (alive == 0 || now_ms() >= until)
            break;
        struct timespec pause = {0, SWEEP_PAUSE_MS * 1000000L};
        nanosleep(&pause, NULL);
    }
    free(l.v);
    return alive;
}

size_t tx_hosttool_reap_children(void)
{
    proc_list l = {NULL, 0, 0};
    pid_t self = getpid();
    double until = now_ms() + SWEEP_MAX_MS;
    size_t alive = 0;
    for (;;) {
        while (waitpid(-1, NULL, WNOHANG) > 0)
            ;
        if (scan_procs(&l) != 0)
            break;
        for (size_t i = 0; i < l.n; i++)
            l.v[i].victim = l.v[i].ppid == self;
        mark_descendants(&l);
        alive = kill_marked(&l, 0);
        if (alive == 0 || now_ms() >= until)
            break;
        struct timespec pause = {0, SWEEP_PAUSE_MS * 1000000L};
        nanosleep(&pause, NULL);
    }
    while (waitpid(-1, NULL, WNOHANG) > 0)
        ;
    free(l.v);
    return alive;
}

/* ---- parent side: describing the outcome ------------------------------------------------- */

/* Length of the valid UTF-8 sequence at s (n bytes available), or 0 if it is not one. */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
    unsigned char c = s[0];
    size_t len;
    unsigned char lo = 0x80, hi = 0xBF;
    if (c < 0x80)
        return 1;
    if (c >= 0xC2 && c <= 0xDF)
        len = 2;
    else if (c >= 0xE0 && c <= 0xEF) {
        len = 3;
        if (c == 0xE0)
            lo = 0xA0;
        if (c == 0xED)
            hi = 0x9F; /* no UTF-16 surrogates */
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4;
        if (c == 0xF0)
            lo = 0x90;
        if (c == 0xF4)
            hi = 0x8F;
    } else
        return 0;
    if (n < len || s[1] < lo || s[1] > hi)
        return 0;
    for (size_t i = 2; i < len; i++)
        if (s[i] < 0x80 || s[i] > 0xBF)
            return 0;
    return len;
}

/* Makes s valid UTF-8 in place, with control characters other than \n and \t shown as '?',
 * so the message can go into JSON events and onto a terminal as is. Never lengthens s. */
static void clean_text(char *s)
{
    unsigned char *r = (unsigned char *)s, *w = (unsigned char *)s;
    size_t n = strlen(s);
    while (n > 0) {
        size_t len = utf8_seq(r, n);
        if (len == 0 || (len == 1 && ((*r < 0x20 && *r != '\n' && *r != '\t') || *r == 0x7F))) {
            *w++ = '?';
            r++;
            n--;
            continue;
        }
        memmove(w, r, len);
        w += len;
        r += len;
        n -= len;
    }
    *w = '\0';
}

/* Appends s to buf (capacity cap, *pos bytes used), cutting it to fit; buf stays terminated. */
static void append(char *buf, size_t cap, size_t *pos, const char *s)
{
    size_t n = strlen(s);
    if (n > cap - 1 - *pos)
        n = cap - 1 - *pos;
    memcpy(buf + *pos, s, n);
    *pos += n;
    buf[*pos] = '\0';
}

/* Sets the error fields: "<head>" followed by ": <last bytes of stderr>" if the tool printed
 * any, cut from the front so the message fits. */
static void set_error(tx_hosttool_result *out, const char *type, const pump *p, const char *head)
{
    snprintf(out->error_type, sizeof out->error_type, "%s", type);
    /* Redact first, then cut: the window's context bytes (where a secret may have been cut
     * in two) are dropped by the redactor, and the cuts below only cut masked text. */
    size_t tl = 0;
    char *tail = tx_redact_tail(p->redactor, p->tail, p->tail_len,
                                p->tail_cut ? p->tail_context : 0, &tl, NULL);
    size_t tail_alloc = tl;
    if (tail == NULL) {
        snprintf(out->error, sizeof out->error, "%s (stderr withheld: out of memory)", head);
        clean_text(out->error);
        return;
    }
    for (size_t i = 0; i < tl; i++)
        if (tail[i] == '\0')
            tail[i] = '?';
    clean_text(tail);
    tl = strlen(tail);
    while (tl > 0 && (tail[tl - 1] == '\n' || tail[tl - 1] == ' ' || tail[tl - 1] == '\t'))
        tail[--tl] = '\0';
    const char *t = tail;
    while (*t == '\n' || *t == ' ' || *t == '\t')
        t++;
    size_t hl = strlen(head);
    size_t room = sizeof out->error - 1;
    size_t max_tail = room > hl + 5 ? room - hl - 5 : 0;
    if (max_tail > ERROR_STDERR_MAX)
        max_tail = ERROR_STDERR_MAX;
    const char *cut = "";
    if (strlen(t) > max_tail) {
        t += strlen(t) - max_tail;
        while ((*(const unsigned char *)t & 0xC0) == 0x80) /* start on a character */
            t++;
        cut = "...";
    }
    size_t pos = 0;
    append(out->error, sizeof out->error, &pos, head);
    if (*t != '\0') {
        append(out->error, sizeof out->error, &pos, ": ");
        append(out->error, sizeof out->error, &pos, cut);
        append(out->error, sizeof out->error, &pos, t);
    }
    sodium_memzero(tail, tail_alloc);
    free(tail);
    clean_text(out->error);
}

/*
 * Masks the secrets in a parsed result. A secret the text held that the parsed value does not
 * show where it can be masked (spread over JSON syntax, or digits a double could not keep) means
 * the value cannot be passed on safely: it is replaced by "[REDACTED]" whole.
 */
static void mask_result(const pump *p, tx_hosttool_result *out)
{
    size_t raw = tx_redact_count(p->redactor, p->out, p->out_len), found = 0;
    if (raw == 0)
        return;
    if (raw == SIZE_MAX || tx_redact_json_ref(p->redactor, &out->result, &found) != 0 ||
        found < raw) {
        json_decref(out->result);
        out->result = json_string("[REDACTED]");
        if (out->result == NULL) {
            snprintf(out->error_type, sizeof out->error_type, "%s", TX_HOSTTOOL_FAILED);
            snprintf(out->error, sizeof out->error, "tool %s: out of memory masking its result",
                     p->name);
        }
    }
}

/* Fills *out from how the tool ended. */
static void describe(const tx_host_tool *t, pump *p, int status, const child_report *rep,
                     const char *cwd, tx_hosttool_result *out)
{
    char head[1024];
    if (rep != NULL) {
        if (rep->stage == STAGE_EXEC && strchr(t->argv[0], '/') == NULL && rep->err == ENOENT)
            snprintf(head, sizeof head, "tool %s: command '%s' not found in %s", t->name,
                     t->argv[0], TX_HOSTTOOL_PATH);
        else if (rep->stage == STAGE_EXEC)
            snprintf(head, sizeof head, "tool %s: cannot run '%s': %s", t->name, t->argv[0],
                     strerror(rep->err));
        else if (rep->stage == STAGE_CWD)
            snprintf(head, sizeof head, "tool %s: cannot use working directory '%s': %s", t->name,
                     cwd, strerror(rep->err));
        else
            snprintf(head, sizeof head, "tool %s: could not set up the tool process: %s", t->name,
                     strerror(rep->err));
        set_error(out, rep->stage == STAGE_EXEC ? TX_HOSTTOOL_NOT_FOUND : TX_HOSTTOOL_FAILED, p,
                  head);
        return;
    }
    if (p->run_deadline) {
        snprintf(head, sizeof head, "tool %s was stopped at the run's deadline (sandbox.timeout)",
                 t->name);
        set_error(out, TX_HOSTTOOL_TIMEOUT, p, head);
        out->run_deadline = 1;
        return;
    }
    if (p->timed_out) {
        snprintf(head, sizeof head, "tool %s timed out after %llu ms", t->name,
                 (unsigned long long)t->timeout_ms);
        set_error(out, TX_HOSTTOOL_TIMEOUT, p, head);
        return;
    }
    if (p->too_large) {
        snprintf(head, sizeof head, "tool %s printed more than %llu bytes on stdout (max_output)",
                 t->name, (unsigned long long)t->max_output);
        set_error(out, TX_HOSTTOOL_TOO_LARGE, p, head);
        return;
    }
    if (WIFSIGNALED(status)) {
        const char *abbrev = sigabbrev_np(WTERMSIG(status));
        snprintf(head, sizeof head, "tool %s was killed by signal %d (SIG%s)", t->name,
                 WTERMSIG(status), abbrev ? abbrev : "?");
        set_error(out, TX_HOSTTOOL_FAILED, p, head);
        return;
    }
    out->exit_code = WEXITSTATUS(status);
    if (out->exit_code != 0) {
        snprintf(head, sizeof head, "tool %s exited with status %d", t->name, out->exit_code);
        set_error(out, TX_HOSTTOOL_FAILED, p, head);
        return;
    }
    size_t start = 0;
    while (start < p->out_len && (p->out[start] == ' ' || p->out[start] == '\t' ||
                                  p->out[start] == '\r' || p->out[start] == '\n'))
        start++;
    if (start == p->out_len) {
        snprintf(head, sizeof head, "tool %s printed no JSON", t->name);
        set_error(out, TX_HOSTTOOL_BAD_OUTPUT, p, head);
        return;
    }
    json_error_t jerr;
    /* Valid JSON may carry \u0000 in a string: it reaches Lua as that exact byte. */
    out->result = json_loadb(p->out, p->out_len, JSON_DECODE_ANY | JSON_ALLOW_NUL, &jerr);
    if (out->result == NULL) {
        /* jansson quotes the offending token cut to fit its buffer, which could cut a secret
         * before it can be masked: say where, not what. */
        char *near = strstr(jerr.text, " near ");
        if (near != NULL)
            *near = '\0';
        snprintf(head, sizeof head, "tool %s printed invalid JSON: %s (line %d, column %d)",
                 t->name, jerr.text, jerr.line, jerr.column);
        set_error(out, TX_HOSTTOOL_BAD_OUTPUT, p, head);
        return;
    }
    mask_result(p, out);
}

/* ---- the call ---------------------------------------------------------------------------- */

/* Resources of one call, released by call_free whatever happened. */
typedef struct call_res {
    int in[2], outp[2], errp[2], st[2];
    char **paths;
    char *cwd;
    env_src *env;
    char **envp;
    char *envbuf;
    size_t envbytes, nenv;
} call_res;

static void call_free(call_res *r)
{
    int *fds[] = {&r->in[0],   &r->in[1],   &r->outp[0], &r->outp[1],
                  &r->errp[0], &r->errp[1], &r->st[0],   &r->st[1]};
    for (size_t i = 0; i < sizeof fds / sizeof fds[0]; i++)
        close_fd(fds[i]);
    free_paths(r->paths);
    free(r->cwd);
    free(r->env);
    if (r->envp != NULL) {
        sodium_memzero(r->envp, (r->nenv + 1) * sizeof *r->envp);
        free(r->envp);
    }
    if (r->envbuf != NULL) {
        sodium_memzero(r->envbuf, r->envbytes);
        free(r->envbuf);
    }
}

/* Allocates what the child will use and opens the four pipes. */
static int call_prepare(const tx_hosttool_call *c, call_res *r, tx_error *err)
{
    const tx_host_tool *t = c->tool;
    r->cwd = t->cwd != NULL ? join_path(c->proc_dir, t->cwd) : strdup(c->proc_dir);
    r->paths = exec_candidates(t->argv[0]);
    r->env = calloc(ENV_FIXED + c->nsecrets, sizeof *r->env);
    if (r->cwd == NULL || r->paths == NULL || r->env == NULL)
        return tx_fail(err, TACTUS_ESYSTEM, "tool %s: out of memory", t->name);
    r->nenv = env_sources(c, r->env, &r->envbytes);
    r->envp = calloc(r->nenv + 1, sizeof *r->envp);
    r->envbuf = malloc(r->envbytes);
    if (r->envp == NULL || r->envbuf == NULL)
        return tx_fail(err, TACTUS_ESYSTEM, "tool %s: out of memory", t->name);
    if (pipe2(r->in, O_CLOEXEC) < 0 || pipe2(r->outp, O_CLOEXEC) < 0 ||
        pipe2(r->errp, O_CLOEXEC) < 0 || pipe2(r->st, O_CLOEXEC) < 0)
        return tx_fail(err, TACTUS_ESYSTEM, "tool %s: pipe: %s", t->name, strerror(errno));
    if (set_nonblock(r->in[1]) < 0 || set_nonblock(r->outp[0]) < 0 ||
        set_nonblock(r->errp[0]) < 0 || set_nonblock(r->st[0]) < 0)
        return tx_fail(err, TACTUS_ESYSTEM, "tool %s: fcntl: %s", t->name, strerror(errno));
    return 0;
}

/* Forks the child with every signal blocked, so no handler of ours runs in it before it has
 * reset them. Returns the pid, or -1 with errno. */
static pid_t spawn(child_plan *plan)
{
    sigset_t all, old;
    sigfillset(&all);
    if (pthread_sigmask(SIG_SETMASK, &all, &old) != 0)
        return -1;
    pid_t pid = fork();
    if (pid == 0)
        child_main(plan);
    int e = errno;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    errno = e;
    return pid;
}

int tx_hosttool_run(const tx_hosttool_call *c, tx_hosttool_result *out, tx_error *err)
{
    if (out == NULL)
        return tx_fail(err, TACTUS_EUSAGE, "host tool call without a result record");
    memset(out, 0, sizeof *out);
    out->exit_code = -1;
    if (check_call(c, err) != 0)
        return -1;
    const tx_host_tool *t = c->tool;

    call_res r;
    memset(&r, 0, sizeof r);
    r.in[0] = r.in[1] = r.outp[0] = r.outp[1] = r.errp[0] = r.errp[1] = r.st[0] = r.st[1] = -1;
    if (call_prepare(c, &r, err) != 0) {
        call_free(&r);
        return -1;
    }
    child_plan plan = {
        .argv = t->argv,
        .paths = r.paths,
        .cwd = r.cwd,
        .env = r.env,
        .nenv = r.nenv,
        .envp = r.envp,
        .envbuf = r.envbuf,
        .parent = getpid(),
        .in_r = r.in[0],
        .out_w = r.outp[1],
        .err_w = r.errp[1],
        .status_w = r.st[1],
    };
    /* With adopt_orphans, a child that appears during the call is the tool's orphan: note the
     * children there are before it starts. */
    proc_list before = {NULL, 0, 0};
    if (c->adopt_orphans && snapshot_children(&before) != 0) {
        free(before.v);
        call_free(&r);
        return tx_fail(err, TACTUS_ESYSTEM, "tool %s: cannot list this process's children in /proc",
                       t->name);
    }
    double started = now_ms();
    if (c->deadline_ms > 0 && started >= c->deadline_ms) {
        /* The run is out of time: nothing is started. */
        free(before.v);
        call_free(&r);
        out->run_deadline = 1;
        snprintf(out->error_type, sizeof out->error_type, "%s", TX_HOSTTOOL_TIMEOUT);
        snprintf(out->error, sizeof out->error,
                 "tool %s not started: the run's deadline has passed", t->name);
        return 0;
    }
    pid_t pid = spawn(&plan);
    if (pid < 0) {
        int e = errno;
        free(before.v);
        call_free(&r);
        return tx_fail(err, TACTUS_ESYSTEM, "tool %s: fork: %s", t->name, strerror(e));
    }
    close_fd(&r.in[0]);
    close_fd(&r.outp[1]);
    close_fd(&r.errp[1]);
    close_fd(&r.st[1]);

    pump *p = calloc(1, sizeof *p);
    int rc = 0;
    if (p == NULL) {
        rc = tx_fail(err, TACTUS_ESYSTEM, "tool %s: out of memory", t->name);
    } else {
        p->name = t->name;
        p->in_w = r.in[1];
        p->out_r = r.outp[0];
        p->err_r = r.errp[0];
        r.in[1] = r.outp[0] = r.errp[0] = -1;
        p->pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
        p->args = c->args_json;
        p->args_len = c->args_len;
        p->out_max = (size_t)t->max_output;
        p->redactor = c->redactor;
        size_t span = tx_redactor_max_span(c->redactor);
        p->tail_context = span > 0 ? span - 1 : 0;
        p->tail_cap = TX_HOSTTOOL_STDERR_KEEP + p->tail_context;
        p->tail = malloc(p->tail_cap);
        if (p->tail == NULL)
            rc = tx_fail(err, TACTUS_ESYSTEM, "tool %s: out of memory", t->name);
        double budget = t->timeout_ms > (uint64_t)1 << 50 ? 1e15 : (double)t->timeout_ms;
        double end = started + budget;
        if (c->deadline_ms > 0 && c->deadline_ms < end)
            end = c->deadline_ms;
        if (rc == 0)
            rc = pump_run(p, pid, end, err);
        p->run_deadline = p->timed_out && end < started + budget;
    }

    /* Whatever happened: kill everything the tool started while the unreaped child still pins
     * its ids, then reap the child. SIGKILL ends the child even if it was stopped. */
    kill_tool_processes(pid, p != NULL && p->exited, &before, c->adopt_orphans);
    kill(pid, SIGKILL); /* in every case, even if /proc could not be read */
    free(before.v);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    out->duration_ms = now_ms() - started;

    child_report rep;
    ssize_t got;
    while ((got = read(r.st[0], &rep, sizeof rep)) < 0 && errno == EINTR)
        ;
    if (rc == 0)
        describe(t, p, status, got == (ssize_t)sizeof rep ? &rep : NULL, r.cwd, out);
    if (p != NULL) {
        close_fd(&p->in_w);
        close_fd(&p->out_r);
        close_fd(&p->err_r);
        close_fd(&p->pidfd);
        free(p->out);
        if (p->tail != NULL)
            sodium_memzero(p->tail, p->tail_cap);
        free(p->tail);
        free(p);
    }
    call_free(&r);
    return rc;
}
