/*
 * sandbox.c - starting, supervising and tearing down a sandbox (see sandbox.h for the process
 * shape and docs/security.md for the threat model).
 *
 * Parent: builds the plan (policy.c), creates the per-run cgroups, clones init into new
 * namespaces, moves it into the cgroups, writes its uid/gid maps, then releases it through
 * the sync pipe and reads the error pipe until EOF: EOF without a record means the worker is
 * running fn or the exec succeeded (the pipe is O_CLOEXEC).
 *
 * Child (init, then worker): async-signal-safe system calls only, driven by the plan.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "sandbox_int.h"

#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

struct tx_sandbox {
    pid_t pid;     /* init, host pid */
    int pidfd;     /* pidfd of init */
    int status_fd; /* read end: init writes the worker's wait status here */
    int reaped;    /* init has been waited for */
    int waited;    /* tx_sandbox_wait already ran */
    uint64_t limits[TX_LIMIT__COUNT];
    struct timespec started;
    tx_sb_cgroup cg;
    char layers[512];
};

/* ---- child-side helpers (async-signal-safe) ---- */

int tx_sb_strcat(char *dst, size_t cap, const char *src)
{
    size_t n = 0;
    while (n < cap && dst[n] != '\0')
        n++;
    for (size_t i = 0; src[i] != '\0'; i++) {
        if (n + 1 >= cap)
            return -1;
        dst[n++] = src[i];
    }
    if (n >= cap)
        return -1;
    dst[n] = '\0';
    return 0;
}

int tx_sb_utoa(char *dst, size_t cap, unsigned long long v)
{
    char tmp[24];
    size_t n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0);
    if (n + 1 > cap)
        return -1;
    for (size_t i = 0; i < n; i++)
        dst[i] = tmp[n - 1 - i];
    dst[n] = '\0';
    return 0;
}

_Noreturn void tx_sb_child_fail(int fd, const char *step, const char *detail, int err)
{
    tx_sb_child_error rec;
    memset(&rec, 0, sizeof rec);
    rec.err = err;
    (void)tx_sb_strcat(rec.step, sizeof rec.step, step);
    (void)tx_sb_strcat(rec.step, sizeof rec.step, detail);
    if (fd >= 0) {
        ssize_t n = write(fd, &rec, sizeof rec);
        (void)n;
    }
    _exit(126);
}

/* child: closes every fd except 0-2 and the `n` fds in keep (any order, duplicates fine). */
static void close_all_but(const int *keep, size_t n, int errfd)
{
    int sorted[TX_SANDBOX_MAX_KEEP_FDS + 4];
    size_t m = 0;
    for (size_t i = 0; i < n && m < sizeof sorted / sizeof sorted[0]; i++)
        if (keep[i] >= 3)
            sorted[m++] = keep[i];
    for (size_t i = 1; i < m; i++) /* insertion sort: at most a handful */
        for (size_t j = i; j > 0 && sorted[j - 1] > sorted[j]; j--) {
            int t = sorted[j];
            sorted[j] = sorted[j - 1];
            sorted[j - 1] = t;
        }
    unsigned int lo = 3;
    for (size_t i = 0; i <= m; i++) {
        unsigned int hi = i < m ? (unsigned int)sorted[i] : ~0U;
        if (hi > lo && syscall(SYS_close_range, lo, i < m ? hi - 1 : hi, 0) < 0)
            tx_sb_child_fail(errfd, "close_range (needs Linux 5.9+)", "", errno);
        if (i < m)
            lo = hi + 1;
    }
}

typedef struct child_ctx {
    const tx_sb_plan *plan;
    int sync_r, err_w, status_w;
    uid_t uid; /* inner ids: what the sandbox runs as inside */
    gid_t gid;
    int has_pids_cgroup, has_memory_cgroup;
} child_ctx;

/* child: the worker, PID 2. Never returns. */
static _Noreturn void worker_main(const child_ctx *c)
{
    const tx_sb_plan *plan = c->plan;
    int errfd = c->err_w;
    /* PDEATHSIG does not survive fork; re-arm it and re-check that init is still there. */
    if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0)
        tx_sb_child_fail(errfd, "prctl PR_SET_PDEATHSIG", "", errno);
    if (getppid() != 1)
        _exit(126);
    /* A new session: no controlling terminal, so TIOCSTI-style tricks have nothing to aim at. */
    if (setsid() < 0)
        tx_sb_child_fail(errfd, "setsid", "", errno);
    if (chdir(plan->has_workspace ? "/workspace" : "/") < 0)
        tx_sb_child_fail(errfd, "chdir /workspace", "", errno);
    int keep[TX_SANDBOX_MAX_KEEP_FDS + 1];
    for (size_t i = 0; i < plan->nkeep_fds; i++)
        keep[i] = plan->keep_fds[i];
    keep[plan->nkeep_fds] = errfd;
    close_all_but(keep, plan->nkeep_fds + 1, errfd);

    if (plan->argv == NULL) {
        static char *empty_env[] = {NULL};
        extern char **environ;
        environ = empty_env;
        close(errfd);
        int rc = plan->fn(plan->arg);
        fflush(NULL);
        _exit(rc & 0xff);
    }

    /* exec path: kept fds must survive exec, everything else is already closed. */
    for (size_t i = 0; i < plan->nkeep_fds; i++)
        if (fcntl(plan->keep_fds[i], F_SETFD, 0) < 0)
            tx_sb_child_fail(errfd, "keep fd", "", errno);
    struct sock_fprog prog = {.len = plan->bpf_len, .filter = plan->bpf};
    if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) < 0)
        tx_sb_child_fail(errfd, "seccomp (kernel without CONFIG_SECCOMP_FILTER?)", "", errno);
    static char path_env[] = "PATH=/usr/bin:/bin";
    char *envp[] = {path_env, NULL};
    const char *prog_name = plan->argv[0];
    int saved = ENOENT;
    if (strchr(prog_name, '/') != NULL) {
        execve(prog_name, plan->argv, envp);
        saved = errno;
    } else {
        static const char *const dirs[] = {"/usr/bin", "/bin"};
        for (size_t i = 0; i < 2; i++) {
            char path[TX_SB_PATH];
            path[0] = '\0';
            if (tx_sb_strcat(path, sizeof path, dirs[i]) < 0 ||
                tx_sb_strcat(path, sizeof path, "/") < 0 ||
                tx_sb_strcat(path, sizeof path, prog_name) < 0)
                tx_sb_child_fail(errfd, "exec ", "program name too long", ENAMETOOLONG);
            execve(path, plan->argv, envp);
            if (errno != ENOENT)
                saved = errno; /* EACCES etc. is more telling than a later ENOENT */
        }
    }
    tx_sb_child_fail(errfd, "exec ", prog_name, saved);
}

/* child: sets user.max_user_namespaces to 0 in the sandbox's own user namespace (the sysctl
 * is per namespace), so even without seccomp nothing inside can create a nested user
 * namespace: that is where unprivileged code would regain capabilities and reach mount, netfilter
 * and other kernel code (bwrap --disable-userns does the same). Must run before pivot_root,
 * while the host's /proc is still reachable; a kernel without the file has no nesting limit to
 * set and is skipped. */
static void forbid_nested_userns(int errfd)
{
    int fd = open("/proc/sys/user/max_user_namespaces", O_WRONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT)
            return;
        tx_sb_child_fail(errfd, "open /proc/sys/user/max_user_namespaces", "", errno);
    }
    if (write(fd, "0", 1) != 1)
        tx_sb_child_fail(errfd, "write /proc/sys/user/max_user_namespaces", "", errno);
    close(fd);
}

/* child: init, PID 1 of the new pid namespace. Builds the sandbox, forks the worker, reaps,
 * reports the worker's status and exits (which kills whatever is left). Never returns. */
static _Noreturn void init_main(const child_ctx *c)
{
    int errfd = c->err_w;
    /* If the parent dies from here on, the whole sandbox dies with it. */
    if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0)
        tx_sb_child_fail(errfd, "prctl PR_SET_PDEATHSIG", "", errno);
    /* The parent writes our id maps through /proc/<pid>/: a non-dumpable process's /proc
     * files belong to root, so an unprivileged parent could not open them. A non-dumpable
     * caller (the broker) passed that on to us: become dumpable until the maps are written,
     * and say so. Nothing but this setup code runs meanwhile, and non-dumpable is restored
     * before anything else (and again in tx_sb_child_drop_privileges). */
    if (prctl(PR_GET_DUMPABLE, 0, 0, 0, 0) != 1 && prctl(PR_SET_DUMPABLE, 1, 0, 0, 0) < 0)
        tx_sb_child_fail(errfd, "prctl PR_SET_DUMPABLE 1 (for the id maps)", "", errno);
    if (write(c->sync_r, "r", 1) != 1)
        _exit(126);
    char go;
    /* EOF here means the parent died or gave up before releasing us. */
    if (read(c->sync_r, &go, 1) != 1)
        _exit(126);
    if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0)
        tx_sb_child_fail(errfd, "prctl PR_SET_DUMPABLE 0", "", errno);
    int fds[TX_SB_MAX_BINDS];
    tx_sb_child_clone_sources(c->plan, fds, errfd);
    /* Become the mapped, unprivileged id (a root caller's clone still runs as host uid 0
     * until this point; capabilities inside the namespace are kept). */
    if (setresgid(c->gid, c->gid, c->gid) < 0)
        tx_sb_child_fail(errfd, "setresgid", "", errno);
    if (setresuid(c->uid, c->uid, c->uid) < 0)
        tx_sb_child_fail(errfd, "setresuid", "", errno);
    if (sethostname("tactus", 6) < 0)
        tx_sb_child_fail(errfd, "sethostname", "", errno);
    forbid_nested_userns(errfd);
    tx_sb_child_build_root(c->plan, fds, errfd);
    tx_sb_child_rlimits(c->plan, c->has_pids_cgroup, c->has_memory_cgroup, errfd);
    if (setsid() < 0)
        tx_sb_child_fail(errfd, "setsid", "", errno);
    tx_sb_child_drop_privileges(errfd);
    /* The parent moved us into the per-run cgroups while we built the root (moving a task is
     * slow on cgroup v1); no sandboxed code may run before that, so wait for its word. */
    if (read(c->sync_r, &go, 1) != 1 || go != 'c')
        _exit(126);
    close(c->sync_r);

    tx_sb_stdio io;
    tx_sb_child_stdio_prepare(c->plan, &io, errfd);
    /* SIGCHLD is read through a signalfd; SIGPIPE (a caller that closed its stdout) must not
     * kill init. Blocked before the fork, restored in the worker. */
    sigset_t chld, blocked, old;
    sigemptyset(&chld);
    sigaddset(&chld, SIGCHLD);
    blocked = chld;
    sigaddset(&blocked, SIGPIPE);
    if (sigprocmask(SIG_BLOCK, &blocked, &old) < 0)
        tx_sb_child_fail(errfd, "sigprocmask", "", errno);
    pid_t worker = (pid_t)syscall(SYS_clone, SIGCHLD, 0, 0, 0, 0);
    if (worker < 0)
        tx_sb_child_fail(errfd, "fork the worker", "", errno);
    if (worker == 0) {
        if (sigprocmask(SIG_SETMASK, &old, NULL) < 0)
            tx_sb_child_fail(errfd, "sigprocmask", "", errno);
        tx_sb_child_stdio_worker(&io, errfd);
        worker_main(c);
    }
    /* init keeps the caller's stdio (it relays it), the relay pipes, the status pipe and the
     * kept fds: those close only when init exits, after the status is written, so that a
     * supervisor that reacts to EOF on a kept socket cannot lose the worker's real status.
     * No error pipe, nothing else. */
    tx_sb_child_stdio_init_side(&io);
    int keep[TX_SANDBOX_MAX_KEEP_FDS + 4];
    size_t nkeep = 0;
    keep[nkeep++] = c->status_w;
    for (size_t i = 0; i < c->plan->nkeep_fds; i++)
        keep[nkeep++] = c->plan->keep_fds[i];
    if (io.relay[0].open)
        keep[nkeep++] = io.relay[0].to;
    for (int i = 1; i < 3; i++)
        if (io.relay[i].open)
            keep[nkeep++] = io.relay[i].from;
    close_all_but(keep, nkeep, -1);
    int st = tx_sb_child_relay(&io, worker, &chld);
    if (st == -1)
        _exit(125);
    ssize_t n = write(c->status_w, &st, sizeof st);
    (void)n;
    _exit(0);
}

/* ---- parent side ---- */

static void now(struct timespec *ts)
{
    clock_gettime(CLOCK_MONOTONIC, ts);
}

static void append_layers(tx_sandbox *s, int with_seccomp)
{
    snprintf(s->layers, sizeof s->layers,
             "userns,pidns,mountns,netns,ipcns,utsns,cgroupns,rlimits,caps,nnp%s,%s",
             with_seccomp ? ",seccomp" : "", s->cg.layer);
}

/* Kills init (and with it the pid namespace) and the cgroups, and reaps init. */
static void kill_and_reap(tx_sandbox *s)
{
    if (!s->reaped && s->pid > 0) {
        (void)kill(s->pid, SIGKILL);
        tx_sb_cgroup_kill(&s->cg);
        while (waitpid(s->pid, NULL, 0) < 0 && errno == EINTR)
            ;
        s->reaped = 1;
    }
}

static void close_fd(int *fd)
{
    if (*fd >= 0)
        close(*fd);
    *fd = -1;
}

/* Reads the error pipe until EOF. Returns 1 with err set if the child reported a failed
 * setup step, 0 if it did not (EOF without a record). */
static int read_child_error(int fd, tx_error *err)
{
    tx_sb_child_error rec;
    size_t got = 0;
    while (got < sizeof rec) {
        ssize_t n = read(fd, (char *)&rec + got, sizeof rec - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    if (got == 0)
        return 0;
    rec.step[sizeof rec.step - 1] = '\0';
    if (got == sizeof rec && rec.err != 0)
        tx_fail(err, TACTUS_ESYSTEM, "sandbox: setup failed: %s: %s", rec.step, strerror(rec.err));
    else
        tx_fail(err, TACTUS_ESYSTEM, "sandbox: setup failed: %s",
                got == sizeof rec ? rec.step : "(truncated report)");
    return 1;
}

/*
 * A root caller whose sandbox does not run as the workspace's owner (never host root, see
 * docs/security.md "Identity") gets an id-mapped view of the workspace in which the owner is
 * the sandbox's id (idmap.c). Where the kernel or filesystem cannot, a read-only or
 * world-writable workspace, or one the caller cannot write either, goes on as a plain bind;
 * one the caller could write fails with what to do.
 * Returns 0 or -1 with err.
 */
static int workspace_view(const tx_sandbox_policy *p, tx_sb_plan *plan, const tx_sb_ids *ids,
                          tx_error *err)
{
    if (plan->ws_index < 0 || !ids->has_ws || geteuid() != 0 ||
        (ids->ws_uid == ids->outer_uid && ids->ws_gid == ids->outer_gid))
        return 0;
    int why = 0;
    if (tx_sb_idmapped_workspace(plan, ids, &plan->ws_tree_fd, &why) == 0)
        return 0;
    /* Read-only, or writable for others anyway, or not writable for the caller either (an
     * owner this namespace does not map): a plain bind behaves as the caller would expect. */
    if (plan->binds[plan->ws_index].read_only || (ids->ws_mode & S_IWOTH) ||
        access(p->workspace, W_OK) != 0)
        return 0;
    return tx_fail(
        err, TACTUS_ESYSTEM,
        "sandbox: workspace '%s' is owned by uid %u and the sandbox, which never runs as host "
        "root, runs as uid %u; an id-mapped mount would make it writable, but the kernel "
        "refused it (%s; needs Linux 5.12+ and a filesystem with id-mapped mount support, "
        "e.g. ext4, xfs, btrfs, tmpfs). Run tactus as the workspace's owner (an ordinary "
        "user), chown the workspace to an unprivileged user (the sandbox then runs as that "
        "user), make it writable for uid %u (chmod o+w, or setfacl -m u:%u:rwx), or use a "
        "read-only profile (sandbox.profile: repo-read)",
        p->workspace, (unsigned)ids->ws_uid, (unsigned)ids->outer_uid, strerror(why),
        (unsigned)ids->outer_uid, (unsigned)ids->outer_uid);
}

/* Runs the parent's side of a start; consumes plan. */
static int start_common(const tx_sandbox_policy *p, tx_sb_plan *plan, tx_sandbox **out,
                        tx_error *err)
{
    tx_sandbox *s = calloc(1, sizeof *s);
    if (s == NULL)
        return tx_fail(err, TACTUS_ESYSTEM, "sandbox: out of memory");
    s->pidfd = s->status_fd = -1;
    memcpy(s->limits, plan->limits, sizeof s->limits);
    int syncp[2] = {-1, -1}, errp[2] = {-1, -1}, statp[2] = {-1, -1};
    /* The sync channel is a socketpair so that writing to a child that already died is
     * EPIPE via MSG_NOSIGNAL, not a SIGPIPE in the caller. */
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, syncp) < 0 ||
        pipe2(errp, O_CLOEXEC) < 0 || pipe2(statp, O_CLOEXEC) < 0) {
        tx_fail(err, TACTUS_ESYSTEM, "sandbox: pipe/socketpair: %s", strerror(errno));
        goto fail_pipes;
    }

    unsigned long long rnd = 0;
    if (getrandom(&rnd, sizeof rnd, GRND_NONBLOCK) != (ssize_t)sizeof rnd)
        rnd = (unsigned long long)time(NULL);
    char id[64];
    snprintf(id, sizeof id, "%d-%llx", (int)getpid(), rnd);
    if (p->no_cgroup)
        tx_sb_cgroup_none(&s->cg, "cgroup:off(policy: rlimits and the VM allocator bound it)");
    else
        tx_sb_cgroup_create(&s->cg, &p->limits, id);

    child_ctx c = {.plan = plan,
                   .sync_r = syncp[0],
                   .err_w = errp[1],
                   .status_w = statp[1],
                   .has_pids_cgroup = tx_sb_cgroup_has(&s->cg, "pids"),
                   .has_memory_cgroup = tx_sb_cgroup_has(&s->cg, "memory")};
    tx_sb_ids ids;
    if (tx_sb_pick_ids(p->workspace, &ids, err) < 0)
        goto fail_cgroup;
    c.uid = ids.inner_uid;
    c.gid = ids.inner_gid;
    if (workspace_view(p, plan, &ids, err) < 0)
        goto fail_cgroup;
    now(&s->started);
    pid_t pid = (pid_t)syscall(SYS_clone, tx_sb_clone_flags() | SIGCHLD, 0, 0, 0, 0);
    if (pid < 0) {
        tx_sb_probe_userns(err);
        goto fail_cgroup;
    }
    if (pid == 0) {
        close(syncp[1]);
        close(errp[0]);
        close(statp[0]);
        init_main(&c);
    }
    s->pid = pid;
    close_fd(&plan->ws_tree_fd); /* the child has its own copy */
    close_fd(&syncp[0]);
    close_fd(&errp[1]);
    close_fd(&statp[1]);
    s->status_fd = statp[0];
    statp[0] = -1;
    s->pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
    if (s->pidfd < 0) {
        tx_fail(err, TACTUS_ESYSTEM, "sandbox: pidfd_open (needs Linux 5.3+): %s", strerror(errno));
        goto fail_child;
    }
    /* Two releases: "g" once the id maps exist (the child builds its root), "c" once it is in
     * its cgroups (the child may start the worker). The cgroup move overlaps the setup. */
    char ready = 0;
    ssize_t got_ready;
    while ((got_ready = recv(syncp[1], &ready, 1, 0)) < 0 && errno == EINTR)
        ;
    if (got_ready != 1 || ready != 'r') {
        /* The child died before it could be mapped: its report (if any) says why. */
        close_fd(&syncp[1]);
        if (read_child_error(errp[0], err) == 0)
            tx_fail(err, TACTUS_ESYSTEM, "sandbox: the child died during setup");
        goto fail_child;
    }
    if (tx_sb_write_idmaps(pid, ids.inner_uid, ids.outer_uid, ids.inner_gid, ids.outer_gid, err) <
        0) {
        if (ids.outer_uid == 0 && !ids.privileged) {
            /* e.g. bwrap --uid 0: the kernel refuses every nested map there (unshare(1)
             * fails the same way). */
            char why[sizeof err->message];
            snprintf(why, sizeof why, "%s", err->message);
            tx_fail(err, TACTUS_ESYSTEM,
                    "%.700s (this process is uid 0 of a nested user namespace without "
                    "CAP_SETUID/CAP_SETGID, where the kernel refuses nested id maps: run tactus "
                    "as the namespace's ordinary user, or keep CAP_SETUID and CAP_SETGID)",
                    why);
        }
        goto fail_child;
    }
    if (send(syncp[1], "g", 1, MSG_NOSIGNAL) != 1) {
        tx_fail(err, TACTUS_ESYSTEM, "sandbox: cannot release the child: %s", strerror(errno));
        goto fail_child;
    }
    if (tx_sb_cgroup_attach(&s->cg, pid, err) < 0)
        goto fail_child;
    /* If this fails the child has died: its own report (read below) says why. */
    int release_errno = send(syncp[1], "c", 1, MSG_NOSIGNAL) == 1 ? 0 : errno;
    close_fd(&syncp[1]);

    int failed = read_child_error(errp[0], err);
    close_fd(&errp[0]);
    if (failed)
        goto fail_child;
    if (release_errno != 0) {
        tx_fail(err, TACTUS_ESYSTEM, "sandbox: the child died during setup: %s",
                strerror(release_errno));
        goto fail_child;
    }
    append_layers(s, plan->argv != NULL);
    *out = s;
    return 0;

fail_child:
    kill_and_reap(s);
fail_cgroup:
    close_fd(&plan->ws_tree_fd);
    tx_sb_cgroup_destroy(&s->cg, NULL);
fail_pipes:
    for (int i = 0; i < 2; i++) {
        close_fd(&syncp[i]);
        close_fd(&errp[i]);
        close_fd(&statp[i]);
    }
    close_fd(&s->pidfd);
    close_fd(&s->status_fd);
    free(s);
    return -1;
}

int tx_sandbox_start(const tx_sandbox_policy *p, int (*fn)(void *arg), void *arg, tx_sandbox **out,
                     tx_error *err)
{
    if (p == NULL || fn == NULL || out == NULL)
        return tx_fail(err, TACTUS_EUSAGE, "sandbox: policy, fn and out are required");
    tx_sb_plan *plan = malloc(sizeof *plan);
    if (plan == NULL)
        return tx_fail(err, TACTUS_ESYSTEM, "sandbox: out of memory");
    int rc = tx_sb_plan_build(p, plan, err);
    if (rc == 0) {
        plan->fn = fn;
        plan->arg = arg;
        rc = start_common(p, plan, out, err);
    }
    free(plan);
    return rc;
}

/* Frees a NULL-terminated argv copy. */
static void free_argv(char **argv)
{
    if (argv == NULL)
        return;
    for (size_t i = 0; argv[i] != NULL; i++)
        free(argv[i]);
    free(argv);
}

int tx_sandbox_exec(const tx_sandbox_policy *p, char *const argv[], tx_sandbox **out, tx_error *err)
{
    if (p == NULL || argv == NULL || argv[0] == NULL || argv[0][0] == '\0' || out == NULL)
        return tx_fail(err, TACTUS_EUSAGE, "sandbox: policy, a program and out are required");
    if (strlen(argv[0]) >= TX_SB_PATH - 16)
        return tx_fail(err, TACTUS_EUSAGE, "sandbox: program name too long");
    tx_sb_plan *plan = malloc(sizeof *plan);
    if (plan == NULL)
        return tx_fail(err, TACTUS_ESYSTEM, "sandbox: out of memory");
    int rc = tx_sb_plan_build(p, plan, err);
    if (rc == 0) {
        size_t n = 0;
        while (argv[n] != NULL)
            n++;
        plan->argv = calloc(n + 1, sizeof *plan->argv);
        for (size_t i = 0; plan->argv != NULL && i < n; i++)
            if ((plan->argv[i] = strdup(argv[i])) == NULL) {
                free_argv(plan->argv);
                plan->argv = NULL;
            }
        if (plan->argv == NULL)
            rc = tx_fail(err, TACTUS_ESYSTEM, "sandbox: out of memory");
    }
    if (rc == 0)
        rc = tx_seccomp_build_bpf(1, &plan->bpf, &plan->bpf_len, err);
    if (rc == 0)
        rc = start_common(p, plan, out, err);
    free_argv(plan->argv);
    free(plan->bpf);
    free(plan);
    return rc;
}

pid_t tx_sandbox_pid(const tx_sandbox *s)
{
    return s->pid;
}

const char *tx_sandbox_layers(const tx_sandbox *s)
{
    return s->layers;
}

/* Milliseconds left until the policy timeout, or -1 for no timeout. */
static int remaining_ms(const tx_sandbox *s)
{
    uint64_t limit = s->limits[TX_LIMIT_TIMEOUT];
    if (limit == 0)
        return -1;
    struct timespec t;
    now(&t);
    int64_t elapsed =
        (int64_t)(t.tv_sec - s->started.tv_sec) * 1000 + (t.tv_nsec - s->started.tv_nsec) / 1000000;
    if (elapsed >= (int64_t)limit)
        return 0;
    int64_t left = (int64_t)limit - elapsed;
    return left > 1000000000 ? 1000000000 : (int)left;
}

static void set_limit_outcome(tx_sandbox_outcome *o, const char *name, uint64_t used,
                              uint64_t allowed, int sig)
{
    o->kind = TX_SANDBOX_LIMIT;
    o->signal = sig;
    snprintf(o->limit, sizeof o->limit, "%s", name);
    o->used = used;
    o->allowed = allowed;
    if (used > 0)
        snprintf(o->message, sizeof o->message, "limit %s reached (%llu/%llu)", name,
                 (unsigned long long)used, (unsigned long long)allowed);
    else
        snprintf(o->message, sizeof o->message, "limit %s reached (allowed %llu)", name,
                 (unsigned long long)allowed);
}

/* Decides the outcome from the worker's wait status (have_ws), init's, the timer and the
 * cgroup evidence. A memory OOM kill wins over everything; refused forks explain a failure
 * or a timeout; then the worker's own status. */
static void classify(tx_sandbox *s, int timed_out, int have_ws, int ws, int init_status,
                     tx_sandbox_outcome *o)
{
    uint64_t used = 0;
    const char *tripped = tx_sb_cgroup_tripped(&s->cg, &used);
    const uint64_t *l = s->limits;
    int clean_exit = have_ws && WIFEXITED(ws) && WEXITSTATUS(ws) == 0;
    if (tripped != NULL && strcmp(tripped, "memory") == 0) {
        set_limit_outcome(o, "memory", used, l[TX_LIMIT_MEMORY], SIGKILL);
        return;
    }
    if (tripped != NULL && !clean_exit) {
        /* pids.peak counts init, which the policy's number does not; a refused fork means
         * the demand was one more than the workers reached, i.e. the peak itself. */
        set_limit_outcome(o, tripped, used, l[TX_LIMIT_PIDS], 0);
        return;
    }
    if (timed_out) {
        o->kind = TX_SANDBOX_TIMEOUT;
        o->allowed = l[TX_LIMIT_TIMEOUT];
        snprintf(o->message, sizeof o->message, "timeout after %llu ms",
                 (unsigned long long)l[TX_LIMIT_TIMEOUT]);
        return;
    }
    if (!have_ws) {
        /* init died before reporting: killed from outside or by the OOM killer. */
        ws = init_status;
    }
    if (WIFEXITED(ws)) {
        o->kind = TX_SANDBOX_EXITED;
        o->exit_code = WEXITSTATUS(ws);
        snprintf(o->message, sizeof o->message, "exited with status %d", o->exit_code);
        return;
    }
    int sig = WIFSIGNALED(ws) ? WTERMSIG(ws) : SIGKILL;
    if (sig == SIGSYS) {
        o->kind = TX_SANDBOX_SECCOMP;
        o->signal = sig;
        snprintf(o->message, sizeof o->message, "killed by SIGSYS: blocked by seccomp");
    } else if (sig == SIGXFSZ) {
        set_limit_outcome(o, "file_size", 0, l[TX_LIMIT_FILE_SIZE], sig);
    } else if (sig == SIGXCPU) {
        set_limit_outcome(o, "cpu", 0, (l[TX_LIMIT_TIMEOUT] + 999) / 1000, sig);
    } else {
        o->kind = TX_SANDBOX_SIGNALED;
        o->signal = sig;
        snprintf(o->message, sizeof o->message, "killed by signal %d (%s)%s", sig, strsignal(sig),
                 have_ws ? "" : " before the program ended");
    }
}

int tx_sandbox_wait(tx_sandbox *s, tx_sandbox_outcome *out, tx_error *err)
{
    memset(out, 0, sizeof *out);
    if (s == NULL || s->waited)
        return tx_fail(err, TACTUS_EUSAGE, "sandbox: already waited for");
    s->waited = 1;
    int timed_out = 0, poll_failed = 0;
    for (;;) {
        int left = remaining_ms(s);
        struct pollfd pfd = {.fd = s->pidfd, .events = POLLIN};
        int r = poll(&pfd, 1, left);
        if (r > 0)
            break;
        if (r == 0) {
            timed_out = 1;
            break;
        }
        if (errno != EINTR) {
            tx_fail(err, TACTUS_ESYSTEM, "sandbox: poll: %s", strerror(errno));
            timed_out = poll_failed = 1; /* cannot supervise any more: kill it */
            break;
        }
    }
    if (timed_out) {
        (void)syscall(SYS_pidfd_send_signal, s->pidfd, SIGKILL, NULL, 0);
        tx_sb_cgroup_kill(&s->cg);
    }
    int init_status = 0;
    while (waitpid(s->pid, &init_status, 0) < 0) {
        if (errno != EINTR) {
            init_status = 0;
            break;
        }
    }
    s->reaped = 1;
    int ws = 0, have_ws = 0;
    ssize_t n;
    while ((n = read(s->status_fd, &ws, sizeof ws)) < 0 && errno == EINTR)
        ;
    have_ws = n == (ssize_t)sizeof ws;
    classify(s, timed_out, have_ws, ws, init_status, out);
    if (tx_sb_cgroup_destroy(&s->cg, err) < 0)
        return -1;
    return poll_failed ? -1 : 0;
}

void tx_sandbox_free(tx_sandbox *s)
{
    if (s == NULL)
        return;
    kill_and_reap(s);
    (void)tx_sb_cgroup_destroy(&s->cg, NULL);
    close_fd(&s->pidfd);
    close_fd(&s->status_fd);
    free(s);
}
