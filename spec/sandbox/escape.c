/*
 * escape.c - the sandbox escape suite (docs/security.md, reference checklist §4 B-D).
 *
 *   test_escape /path/to/probe
 *
 * Every case runs the probe (spec/sandbox/probe.c) inside a sandbox and asserts that the
 * attack was stopped for the right reason (SIGSYS from seccomp, or a specific errno from the
 * namespace/mount/capability layers, or a named limit) and that the host was not touched.
 * Most cases run twice: "full" is tx_sandbox_exec (every layer, seccomp included) and
 * "layer" is tx_sandbox_start + a plain execve without seccomp, which proves the layers under
 * seccomp hold on their own (Chromium's layer-1/layer-2 idea). The probe is only ever run
 * sandboxed, and its arguments are harmless even if a layer regresses.
 *
 * Cases that need a per-run cgroup (pids, memory) check tx_sandbox_layers() and, in degraded
 * mode (no writable cgroup), assert the rlimit fallback instead.
 */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <pty.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "sandbox.h"

/* The probe's directory, set once in main before any test forks. */
static char probe_dir[PATH_MAX];

enum { FULL = 1, LAYER = 0 };

typedef struct run_opts {
    tx_limits limits;
    const char *workspace;
    int workspace_ro;
    int keep_fd; /* -1 for none */
} run_opts;

static void opts_init(run_opts *o)
{
    tx_limits_default(&o->limits);
    o->limits.allowed[TX_LIMIT_TIMEOUT] = 20000;
    o->workspace = NULL;
    o->workspace_ro = 0;
    o->keep_fd = -1;
}

/* fn for the layer runs: exec the probe with an empty environment and no seccomp. */
static int exec_plain(void *arg)
{
    char **argv = arg;
    char *envp[] = {NULL};
    execve(argv[0], argv, envp);
    return 127;
}

/* Runs "probe CASE ARGS..." (NULL-terminated) in a sandbox and returns the outcome; layers
 * (if not NULL, 256 bytes) receives tx_sandbox_layers(). */
static tx_sandbox_outcome run_with(int full, const run_opts *ro, char *layers,
                                   const char *const *args)
{
    static tx_mount mounts[1];
    mounts[0].source = probe_dir;
    mounts[0].target = "/probe";
    mounts[0].read_only = 1;
    tx_sandbox_policy p;
    tx_sandbox_policy_init(&p);
    p.bind_system = 1;
    p.mounts = mounts;
    p.nmounts = 1;
    p.limits = ro->limits;
    p.workspace = ro->workspace;
    p.workspace_read_only = ro->workspace_ro;
    if (ro->keep_fd >= 0) {
        p.keep_fds[0] = ro->keep_fd;
        p.nkeep_fds = 1;
    }
    char *argv[16];
    size_t n = 0;
    argv[n++] = "/probe/probe";
    for (size_t i = 0; args[i] != NULL && n < 15; i++)
        argv[n++] = (char *)args[i];
    argv[n] = NULL;
    tx_sandbox *s = NULL;
    tx_error err = {0};
    int rc = full ? tx_sandbox_exec(&p, argv, &s, &err)
                  : tx_sandbox_start(&p, exec_plain, argv, &s, &err);
    ck_assert_msg(rc == 0, "start failed: %s", err.message);
    if (layers != NULL)
        snprintf(layers, 256, "%s", tx_sandbox_layers(s));
    tx_sandbox_outcome o;
    ck_assert_msg(tx_sandbox_wait(s, &o, &err) == 0, "wait failed: %s", err.message);
    tx_sandbox_free(s);
    return o;
}

#define RUN(full, ...) run_with((full), &def, NULL, (const char *const[]){__VA_ARGS__, NULL})

static run_opts def_opts(void)
{
    run_opts o;
    opts_init(&o);
    return o;
}

static void expect_errno(tx_sandbox_outcome o, int e, const char *what)
{
    ck_assert_msg(o.kind == TX_SANDBOX_EXITED && o.exit_code == e,
                  "%s: expected exit %d (%s), got kind %d: %s", what, e, strerror(e), o.kind,
                  o.message);
}

static void expect_sigsys(tx_sandbox_outcome o, const char *what)
{
    ck_assert_msg(o.kind == TX_SANDBOX_SECCOMP && o.signal == SIGSYS,
                  "%s: expected SIGSYS (seccomp), got kind %d: %s", what, o.kind, o.message);
}

/* Both modes: full must die by SIGSYS, layer must fail with errno e1 or e2. */
static void expect_blocked2(const char *c, int e1, int e2)
{
    run_opts def = def_opts();
    expect_sigsys(RUN(FULL, c), c);
    tx_sandbox_outcome o = RUN(LAYER, c);
    ck_assert_msg(o.kind == TX_SANDBOX_EXITED && (o.exit_code == e1 || o.exit_code == e2),
                  "%s (layer): expected %s or %s, got kind %d: %s", c, strerror(e1), strerror(e2),
                  o.kind, o.message);
}

/* Both modes fail with an errno: full (seccomp answers, the call never reaches the kernel)
 * with full_errno, layer (the kernel refuses) with e1 or e2. */
static void expect_denied(const char *c, int full_errno, int e1, int e2)
{
    run_opts def = def_opts();
    expect_errno(RUN(FULL, c), full_errno, c);
    tx_sandbox_outcome o = RUN(LAYER, c);
    ck_assert_msg(o.kind == TX_SANDBOX_EXITED && (o.exit_code == e1 || o.exit_code == e2),
                  "%s (layer): expected %s or %s, got kind %d: %s", c, strerror(e1), strerror(e2),
                  o.kind, o.message);
}

/* Both modes: full must die by SIGSYS, layer must fail with errno e. */
static void expect_blocked(const char *c, int layer_errno)
{
    expect_blocked2(c, layer_errno, layer_errno);
}

/* ---- sanity ---- */

START_TEST(sanity_true)
{
    run_opts def = def_opts();
    expect_errno(RUN(FULL, "true"), 0, "full true");
    expect_errno(RUN(LAYER, "true"), 0, "layer true");
    expect_errno(RUN(FULL, "exit", "7"), 7, "exit status passes through");
    tx_sandbox_outcome o = RUN(FULL, "signal", "11");
    ck_assert_msg(o.kind == TX_SANDBOX_SIGNALED && o.signal == SIGSEGV, "%s", o.message);
}
END_TEST

START_TEST(privileges_dropped)
{
    run_opts def = def_opts();
    expect_errno(RUN(FULL, "privs", "1"), 0, "caps 0, bounding 0, nnp, seccomp (full)");
    expect_errno(RUN(LAYER, "privs", "0"), 0, "caps 0, bounding 0, nnp (layer)");
}
END_TEST

START_TEST(host_paths_absent)
{
    run_opts def = def_opts();
    expect_errno(RUN(FULL, "host-paths"), 0, "host paths (full)");
    expect_errno(RUN(LAYER, "host-paths"), 0, "host paths (layer)");
}
END_TEST

/* ---- network ---- */

START_TEST(net_loopback_listener)
{
    int l = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    ck_assert_int_ge(l, 0);
    struct sockaddr_in a = {.sin_family = AF_INET};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_int_eq(bind(l, (struct sockaddr *)&a, sizeof a), 0);
    ck_assert_int_eq(listen(l, 4), 0);
    socklen_t len = sizeof a;
    ck_assert_int_eq(getsockname(l, (struct sockaddr *)&a, &len), 0);
    char port[16];
    snprintf(port, sizeof port, "%d", ntohs(a.sin_port));
    run_opts def = def_opts();
    expect_errno(RUN(FULL, "net-inet", port), EAFNOSUPPORT, "AF_INET socket (full)");
    expect_errno(RUN(LAYER, "net-inet", port), ENETUNREACH, "connect 127.0.0.1 (layer)");
    ck_assert_msg(accept(l, NULL, NULL) < 0 && errno == EAGAIN,
                  "the host listener got a connection");
    close(l);
}
END_TEST

START_TEST(net_abstract_unix)
{
    int l = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0);
    ck_assert_int_ge(l, 0);
    char name[64];
    snprintf(name, sizeof name, "tactus-escape-%d", (int)getpid());
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    memcpy(a.sun_path + 1, name, strlen(name));
    socklen_t alen = (socklen_t)(sizeof(sa_family_t) + 1 + strlen(name));
    ck_assert_int_eq(bind(l, (struct sockaddr *)&a, alen), 0);
    ck_assert_int_eq(listen(l, 4), 0);
    run_opts def = def_opts();
    expect_errno(RUN(FULL, "net-abstract", name), ECONNREFUSED, "abstract socket (full)");
    expect_errno(RUN(LAYER, "net-abstract", name), ECONNREFUSED, "abstract socket (layer)");
    ck_assert_msg(accept(l, NULL, NULL) < 0 && errno == EAGAIN,
                  "the host abstract socket got a connection");
    close(l);
}
END_TEST

/* ---- filesystem ---- */

START_TEST(host_file_read_write)
{
    char dir[] = "/tmp/tactus-escape-XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    char secret[PATH_MAX], created[PATH_MAX];
    snprintf(secret, sizeof secret, "%s/secret.txt", dir);
    snprintf(created, sizeof created, "%s/created.txt", dir);
    FILE *f = fopen(secret, "w");
    ck_assert_ptr_nonnull(f);
    fputs("host secret\n", f);
    fclose(f);
    run_opts def = def_opts();
    for (int mode = 0; mode < 2; mode++) {
        expect_errno(RUN(mode, "read", secret), ENOENT, "read host file");
        expect_errno(RUN(mode, "write", created), ENOENT, "create host file");
        expect_errno(RUN(mode, "write", "/usr/bin/tactus-pwned"), EROFS, "write into /usr");
        expect_errno(RUN(mode, "write", "/tactus-pwned"), EROFS, "write into /");
        expect_errno(RUN(mode, "write", "/dev/tactus-pwned"), EROFS, "write into /dev");
        expect_errno(RUN(mode, "write", "/probe/pwned"), EROFS, "write into ro mount");
        expect_errno(RUN(mode, "read", "/etc/passwd"), ENOENT, "read /etc/passwd");
    }
    ck_assert_int_ne(access(created, F_OK), 0);
    ck_assert_int_ne(access("/usr/bin/tactus-pwned", F_OK), 0);
    unlink(secret);
    rmdir(dir);
}
END_TEST

START_TEST(mounts_read_only)
{
    char dir[] = "/tmp/tactus-ws-XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    ck_assert_int_eq(chmod(dir, 0777), 0); /* a root caller's sandbox runs as nobody */
    run_opts def = def_opts();
    def.workspace = dir;
    expect_errno(RUN(FULL, "readonly", "/", "/usr", "/dev", "/probe", "/etc/ld.so.cache"), 0,
                 "statvfs ST_RDONLY (full)");
    expect_errno(RUN(LAYER, "readonly", "/", "/usr", "/dev", "/probe"), 0,
                 "statvfs ST_RDONLY (layer)");
    expect_errno(RUN(FULL, "readonly", "/workspace"), 105, "rw workspace is writable");
    expect_errno(RUN(FULL, "readonly", "/tmp"), 105, "/tmp is writable");
    expect_errno(RUN(FULL, "write", "/workspace/out.txt"), 0, "write in rw workspace");
    char out[PATH_MAX];
    snprintf(out, sizeof out, "%s/out.txt", dir);
    ck_assert_int_eq(access(out, F_OK), 0);
    unlink(out);
    def.workspace_ro = 1;
    expect_errno(RUN(FULL, "readonly", "/workspace"), 0, "ro workspace");
    expect_errno(RUN(FULL, "write", "/workspace/out.txt"), EROFS, "write in ro workspace");
    rmdir(dir);
}
END_TEST

/* A workspace owned by the caller with ordinary permissions (0755) is writable from inside,
 * also for host root, whose sandbox never runs as root (an id-mapped mount shows the owner's
 * files as the sandbox's); what the sandbox creates belongs to the owner on the host; a
 * read-only workspace still refuses writes with EROFS. */
START_TEST(caller_owned_workspace_writable)
{
    char dir[] = "/tmp/tactus-ws-XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    ck_assert_int_eq(chmod(dir, 0755), 0);
    char out[PATH_MAX];
    snprintf(out, sizeof out, "%s/out.txt", dir);
    run_opts def = def_opts();
    def.workspace = dir;
    for (int mode = 0; mode < 2; mode++) {
        expect_errno(RUN(mode, "write", "/workspace/out.txt"), 0, "write in a 0755 workspace");
        struct stat st;
        ck_assert_int_eq(stat(out, &st), 0);
        ck_assert_msg(st.st_uid == geteuid() && st.st_gid == getegid(),
                      "created file is owned by %u:%u, not the workspace owner %u:%u",
                      (unsigned)st.st_uid, (unsigned)st.st_gid, (unsigned)geteuid(),
                      (unsigned)getegid());
        ck_assert_int_eq(unlink(out), 0);
    }
    def.workspace_ro = 1;
    expect_errno(RUN(FULL, "write", "/workspace/out.txt"), EROFS, "write in ro workspace");
    ck_assert_int_ne(access(out, F_OK), 0);
    rmdir(dir);
}
END_TEST

START_TEST(proc_absent)
{
    run_opts def = def_opts();
    expect_errno(RUN(FULL, "proc"), ENOENT, "/proc/1/environ (full)");
    expect_errno(RUN(LAYER, "proc"), ENOENT, "/proc/1/environ (layer)");
    expect_errno(RUN(FULL, "proc-sys"), ENOENT, "/proc/sys (full)");
    expect_errno(RUN(LAYER, "proc-sys"), ENOENT, "/proc/sys (layer)");
}
END_TEST

START_TEST(mknod_device)
{
    /* EPERM from the filter (the kernel's own answer without CAP_MKNOD) and from the kernel. */
    expect_denied("mknod", EPERM, EPERM, EPERM);
    run_opts def = def_opts();
    expect_errno(RUN(FULL, "mkfifo"), 0, "a FIFO in /tmp is fine");
}
END_TEST

/* sysinfo() would tell the program the host's memory size, load and uptime. */
START_TEST(host_sysinfo_hidden)
{
    run_opts def = def_opts();
    expect_errno(RUN(FULL, "sysinfo"), ENOSYS, "sysinfo -> ENOSYS");
}
END_TEST

START_TEST(environment_clean)
{
    ck_assert_int_eq(setenv("TACTUS_ESCAPE_SENTINEL", "leaked", 1), 0);
    run_opts def = def_opts();
    expect_errno(RUN(FULL, "env", "TACTUS_ESCAPE_SENTINEL"), ENOENT, "host env (full)");
    expect_errno(RUN(LAYER, "env", "TACTUS_ESCAPE_SENTINEL"), ENOENT, "host env (layer)");
}
END_TEST

/* ---- processes ---- */

START_TEST(kill_host_sentinel)
{
    pid_t sentinel = fork();
    ck_assert_int_ge(sentinel, 0);
    if (sentinel == 0) {
        for (;;)
            pause();
    }
    char pid[16];
    snprintf(pid, sizeof pid, "%d", (int)sentinel);
    run_opts def = def_opts();
    expect_errno(RUN(FULL, "kill", pid), ESRCH, "kill host pid (full)");
    expect_errno(RUN(LAYER, "kill", pid), ESRCH, "kill host pid (layer)");
    ck_assert_int_eq(waitpid(sentinel, NULL, WNOHANG), 0);
    ck_assert_int_eq(kill(sentinel, 0), 0);
    kill(sentinel, SIGKILL);
    waitpid(sentinel, NULL, 0);
}
END_TEST

START_TEST(ptrace_attach)
{
    expect_blocked("ptrace", EPERM);
}
END_TEST

START_TEST(process_vm)
{
    expect_blocked("process_vm_readv", EPERM);
}
END_TEST

/* ---- kernel attack surface ---- */

START_TEST(mount_and_namespaces)
{
    expect_blocked("mount", EPERM);
    expect_blocked("chroot", EPERM);
    expect_blocked("setns", EINVAL);
    /* Without seccomp, nested user namespaces are refused by user.max_user_namespaces = 0. */
    expect_blocked("unshare", ENOSPC);
    expect_blocked("clone-ns", ENOSPC);
    run_opts def = def_opts();
    expect_errno(RUN(FULL, "clone3"), ENOSYS, "clone3 -> ENOSYS");
}
END_TEST

START_TEST(kernel_interfaces)
{
    run_opts def = def_opts();
    /* Full policy only: keyrings are not namespaced, io_uring/perf/userfaultfd/bpf are
     * reachable unprivileged on some kernels; seccomp is the layer that removes them. */
    static const char *const cases[] = {"keyctl",      "bpf",     "io_uring",    "perf",
                                        "userfaultfd", "tiocsti", "tiocsti-high"};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        expect_sigsys(RUN(FULL, cases[i]), cases[i]);
    expect_errno(RUN(LAYER, "bpf"), EPERM, "bpf (layer)");
    /* SysV IPC is namespaced (a private IPC namespace): outside the allowlist, so ENOSYS. */
    expect_errno(RUN(FULL, "shmget"), ENOSYS, "shmget -> ENOSYS");
}
END_TEST

START_TEST(foreign_abi)
{
    run_opts def = def_opts();
    expect_sigsys(RUN(FULL, "x32"), "x32 syscall");
    expect_sigsys(RUN(FULL, "int80"), "int 0x80");
}
END_TEST

START_TEST(privileged_calls)
{
    expect_denied("clock_settime", EPERM, EPERM, EPERM);
    expect_denied("reboot", EPERM, EPERM, EPERM);
    /* EPERM without CAP_SYS_MODULE; ENOSYS on kernels built without module support. */
    expect_blocked2("init_module", EPERM, ENOSYS);
    /* Newer kernels copy the (bad) handle before the capability check: EFAULT. */
    expect_blocked2("open_by_handle_at", EPERM, EFAULT);
    char before[256], after[256];
    ck_assert_int_eq(gethostname(before, sizeof before), 0);
    expect_denied("sethostname", EPERM, EPERM, EPERM);
    ck_assert_int_eq(gethostname(after, sizeof after), 0);
    ck_assert_str_eq(before, after);
}
END_TEST

/* ---- resources ---- */

/* Counts host processes running this build's probe (same file as probe_dir/probe; other
 * worktrees' suites may run their own probes on the same machine at the same time). */
static int count_probes(void)
{
    char self[PATH_MAX + 8];
    snprintf(self, sizeof self, "%s/probe", probe_dir);
    struct stat want;
    ck_assert_int_eq(stat(self, &want), 0);
    DIR *d = opendir("/proc");
    ck_assert_ptr_nonnull(d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        char path[300];
        struct stat st;
        if (e->d_name[0] < '0' || e->d_name[0] > '9')
            continue;
        snprintf(path, sizeof path, "/proc/%s/exe", e->d_name);
        if (stat(path, &st) == 0 && st.st_dev == want.st_dev && st.st_ino == want.st_ino)
            n++;
    }
    closedir(d);
    return n;
}

START_TEST(fork_bomb)
{
    run_opts def = def_opts();
    def.limits.allowed[TX_LIMIT_PIDS] = 16;
    char layers[256];
    tx_sandbox_outcome o = run_with(FULL, &def, layers, (const char *const[]){"fork-bomb", NULL});
    if (strstr(layers, "pids") != NULL) {
        ck_assert_msg(o.kind == TX_SANDBOX_LIMIT && strcmp(o.limit, "pids") == 0, "fork bomb: %s",
                      o.message);
        ck_assert_uint_eq(o.allowed, 16);
    } else {
        /* degraded: RLIMIT_NPROC refuses the forks */
        expect_errno(o, EAGAIN, "fork bomb (rlimit only)");
    }
    ck_assert_int_eq(count_probes(), 0);
}
END_TEST

START_TEST(memory_bomb)
{
    run_opts def = def_opts();
    def.limits.allowed[TX_LIMIT_MEMORY] = 64ULL << 20;
    char layers[256];
    tx_sandbox_outcome o = run_with(FULL, &def, layers, (const char *const[]){"mem-bomb", NULL});
    if (strstr(layers, "memory") != NULL) {
        ck_assert_msg(o.kind == TX_SANDBOX_LIMIT && strcmp(o.limit, "memory") == 0,
                      "memory bomb: %s", o.message);
        ck_assert_uint_eq(o.allowed, 64ULL << 20);
    } else {
        expect_errno(o, ENOMEM, "memory bomb (RLIMIT_AS only)");
    }
}
END_TEST

START_TEST(disk_fill)
{
    run_opts def = def_opts();
    def.limits.allowed[TX_LIMIT_FILE_SIZE] = 1 << 20;
    tx_sandbox_outcome o = RUN(FULL, "disk-fill");
    ck_assert_msg(o.kind == TX_SANDBOX_LIMIT && strcmp(o.limit, "file_size") == 0 &&
                      o.signal == SIGXFSZ,
                  "file_size: %s", o.message);
    ck_assert_uint_eq(o.allowed, 1 << 20);
    /* Many files below file_size: the /tmp tmpfs size stops them. */
    def.limits.allowed[TX_LIMIT_TMP] = 2 << 20;
    expect_errno(RUN(FULL, "tmp-fill"), ENOSPC, "tmp limit");
    expect_errno(RUN(LAYER, "tmp-fill"), ENOSPC, "tmp limit (layer)");
}
END_TEST

START_TEST(fd_exhaustion)
{
    run_opts def = def_opts();
    def.limits.allowed[TX_LIMIT_FILES] = 16;
    expect_errno(RUN(FULL, "fd-exhaust"), EMFILE, "fd exhaustion");
}
END_TEST

START_TEST(cpu_spin_timeout)
{
    run_opts def = def_opts();
    def.limits.allowed[TX_LIMIT_TIMEOUT] = 1000;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    tx_sandbox_outcome o = RUN(FULL, "spin");
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    ck_assert_msg(o.kind == TX_SANDBOX_TIMEOUT, "spin: %s", o.message);
    ck_assert_msg(secs < 3.0, "timeout took %.2f s", secs);
    ck_assert_int_eq(count_probes(), 0);
}
END_TEST

START_TEST(inherited_fds)
{
    int leak = open("/dev/null", O_RDONLY); /* no O_CLOEXEC on purpose */
    int kept = open("/dev/null", O_RDONLY | O_CLOEXEC);
    ck_assert_int_ge(leak, 3);
    ck_assert_int_ge(kept, 3);
    char leak_s[16], kept_s[16];
    snprintf(leak_s, sizeof leak_s, "%d", leak);
    snprintf(kept_s, sizeof kept_s, "%d", kept);
    run_opts def = def_opts();
    expect_errno(RUN(FULL, "fd-check", leak_s), EBADF, "inherited fd (full)");
    expect_errno(RUN(LAYER, "fd-check", leak_s), EBADF, "inherited fd (layer)");
    expect_errno(RUN(FULL, "fd-scan"), 0, "no fds >= 3");
    def.keep_fd = kept;
    expect_errno(RUN(FULL, "fd-check", kept_s), 0, "kept fd survives exec");
    expect_errno(RUN(FULL, "fd-scan"), 1, "exactly the kept fd");
    close(leak);
    close(kept);
}
END_TEST

/* ---- the caller's stdio ---- */

/* Runs `probe args` with the test's fds 0-2 replaced by in/out/err (restored after). */
static tx_sandbox_outcome run_stdio(int full, int in, int out, int err, const char *const *args)
{
    int saved[3];
    for (int i = 0; i < 3; i++)
        ck_assert_int_ge(saved[i] = dup(i), 0);
    ck_assert_int_eq(dup2(in, 0), 0);
    ck_assert_int_eq(dup2(out, 1), 1);
    ck_assert_int_eq(dup2(err, 2), 2);
    run_opts def = def_opts();
    tx_sandbox_outcome o = run_with(full, &def, NULL, args);
    for (int i = 0; i < 3; i++) {
        ck_assert_int_eq(dup2(saved[i], i), i);
        close(saved[i]);
    }
    return o;
}

/* A sandboxed program that sets O_NONBLOCK on its stdout/stderr must not change the caller's
 * pipe (file status flags belong to the open file description, shared if inherited). */
START_TEST(stdio_nonblock_stays_inside)
{
    for (int mode = 0; mode < 2; mode++) {
        int p[2];
        ck_assert_int_eq(pipe(p), 0);
        int null_fd = open("/dev/null", O_RDONLY);
        ck_assert_int_ge(null_fd, 0);
        tx_sandbox_outcome o =
            run_stdio(mode, null_fd, p[1], p[1], (const char *const[]){"nonblock", NULL});
        expect_errno(o, 0, "nonblock");
        ck_assert_msg((fcntl(p[1], F_GETFL) & O_NONBLOCK) == 0,
                      "the caller's pipe became non-blocking (%s)", mode ? "full" : "layer");
        close(p[1]);
        char buf[64] = "";
        ssize_t n = read(p[0], buf, sizeof buf - 1);
        ck_assert_int_eq(n, 8);
        ck_assert_msg(strstr(buf, "out\n") != NULL && strstr(buf, "err\n") != NULL, "%s", buf);
        close(p[0]);
        close(null_fd);
    }
}
END_TEST

/* The caller's terminal (a pty the test owns) cannot be reconfigured, resized or flushed
 * from inside, and typed-ahead input stays for the caller. */
START_TEST(terminal_stays_outside)
{
    for (int mode = 0; mode < 2; mode++) {
        int master = -1, slave = -1;
        ck_assert_int_eq(openpty(&master, &slave, NULL, NULL, NULL), 0);
        struct termios before, after;
        memset(&before, 0, sizeof before); /* padding bytes: memcmp below */
        memset(&after, 0, sizeof after);
        struct winsize ws_before = {.ws_row = 24, .ws_col = 80}, ws_after;
        ck_assert_int_eq(ioctl(slave, TIOCSWINSZ, &ws_before), 0);
        ck_assert_int_eq(tcgetattr(slave, &before), 0);
        ck_assert_int_eq(write(master, "typed\n", 6), 6);
        tx_sandbox_outcome o =
            run_stdio(mode, slave, slave, slave, (const char *const[]){"tty-attack", NULL});
        expect_errno(o, ENOTTY, mode ? "tty attack (full)" : "tty attack (layer)");
        ck_assert_int_eq(tcgetattr(slave, &after), 0);
        ck_assert_msg(memcmp(&before, &after, sizeof before) == 0, "terminal settings changed");
        ck_assert_int_eq(ioctl(slave, TIOCGWINSZ, &ws_after), 0);
        ck_assert_int_eq(ws_after.ws_row, 24);
        ck_assert_int_eq(ws_after.ws_col, 80);
        int avail = 0;
        ck_assert_int_eq(ioctl(slave, FIONREAD, &avail), 0);
        ck_assert_msg(avail == 6, "typed-ahead input was flushed or read (%d bytes left)", avail);
        close(master);
        close(slave);
    }
}
END_TEST

/* Reads a whole file into buf (NUL-terminated); returns its length. */
static size_t slurp(int fd, char *buf, size_t cap)
{
    ck_assert_int_eq(lseek(fd, 0, SEEK_SET), 0);
    size_t len = 0;
    ssize_t n;
    while (len + 1 < cap && (n = read(fd, buf + len, cap - 1 - len)) > 0)
        len += (size_t)n;
    buf[len] = '\0';
    return len;
}

/* Output is relayed completely and in order per stream, and the exit status is kept. */
START_TEST(stdio_relayed_completely)
{
    enum { N = 20000 };
    static char buf[N * 8 + 64];
    char outp[] = "/tmp/tactus-out-XXXXXX", errp[] = "/tmp/tactus-err-XXXXXX";
    int out = mkstemp(outp), errf = mkstemp(errp);
    ck_assert_int_ge(out, 0);
    ck_assert_int_ge(errf, 0);
    unlink(outp);
    unlink(errp);
    int null_fd = open("/dev/null", O_RDONLY);
    char count[16];
    snprintf(count, sizeof count, "%d", N);
    tx_sandbox_outcome o =
        run_stdio(FULL, null_fd, out, errf, (const char *const[]){"lines", count, NULL});
    expect_errno(o, 0, "lines");
    for (int s = 0; s < 2; s++) {
        size_t len = slurp(s == 0 ? out : errf, buf, sizeof buf);
        char *line = buf;
        for (int i = 1; i <= N; i++) {
            char want[16];
            int w = snprintf(want, sizeof want, "%c%d\n", s == 0 ? 'o' : 'e', i);
            ck_assert_msg((size_t)(line - buf) + (size_t)w <= len && memcmp(line, want, w) == 0,
                          "stream %d: line %d missing or out of order", s, i);
            line += w;
        }
        ck_assert_uint_eq((size_t)(line - buf), len);
    }
    o = run_stdio(FULL, null_fd, out, errf, (const char *const[]){"exit", "9", NULL});
    expect_errno(o, 9, "exit status");
    close(out);
    close(errf);
    close(null_fd);
}
END_TEST

/* ---- lifecycle ---- */

static int count_dir(const char *path)
{
    DIR *d = opendir(path);
    if (d == NULL)
        return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        n++;
    closedir(d);
    return n;
}

static int count_lines(const char *path)
{
    FILE *f = fopen(path, "r");
    ck_assert_ptr_nonnull(f);
    int n = 0, c;
    while ((c = fgetc(f)) != EOF)
        n += c == '\n';
    fclose(f);
    return n;
}

/* Number of "tactus-*" cgroup directories under our own pids and memory cgroups. */
static int count_cgroups(void)
{
    static const char *const roots[] = {"/sys/fs/cgroup/pids", "/sys/fs/cgroup/memory",
                                        "/sys/fs/cgroup/cpu", "/sys/fs/cgroup/unified",
                                        "/sys/fs/cgroup"};
    FILE *f = fopen("/proc/self/cgroup", "r");
    ck_assert_ptr_nonnull(f);
    char line[512];
    int n = 0;
    while (fgets(line, sizeof line, f) != NULL) {
        char *c2 = strchr(strchr(line, ':') + 1, ':');
        char *path = c2 + 1;
        path[strcspn(path, "\n")] = '\0';
        for (size_t r = 0; r < sizeof roots / sizeof roots[0]; r++) {
            char dir[1024];
            snprintf(dir, sizeof dir, "%s%s", roots[r], strcmp(path, "/") == 0 ? "" : path);
            DIR *d = opendir(dir);
            if (d == NULL)
                continue;
            struct dirent *e;
            /* Only this process's own (tactus-<pid>-...): other suites may be running. */
            char mine[32];
            int len = snprintf(mine, sizeof mine, "tactus-%d-", (int)getpid());
            while ((e = readdir(d)) != NULL)
                n += strncmp(e->d_name, mine, (size_t)len) == 0;
            closedir(d);
        }
    }
    fclose(f);
    return n;
}

START_TEST(fifty_runs_leave_nothing)
{
    int fds = count_dir("/proc/self/fd"), mounts = count_lines("/proc/self/mountinfo");
    int cgroups = count_cgroups();
    run_opts def = def_opts();
    def.limits.allowed[TX_LIMIT_PIDS] = 8;
    for (int i = 0; i < 50; i++) {
        tx_sandbox_outcome o = RUN(i % 2 ? FULL : LAYER, i % 5 == 0 ? "fork-bomb" : "true");
        ck_assert_msg(o.kind == TX_SANDBOX_EXITED || o.kind == TX_SANDBOX_LIMIT, "run %d: %s", i,
                      o.message);
    }
    ck_assert_int_eq(count_dir("/proc/self/fd"), fds);
    ck_assert_int_eq(count_lines("/proc/self/mountinfo"), mounts);
    /* At most as many as before: a run may also sweep cgroups that a killed host left. */
    ck_assert_int_le(count_cgroups(), cgroups);
    ck_assert_int_eq(count_probes(), 0);
    ck_assert_int_eq(waitpid(-1, NULL, WNOHANG), -1); /* no children left, none unreaped */
    ck_assert_int_eq(errno, ECHILD);
}
END_TEST

START_TEST(free_while_running)
{
    run_opts def = def_opts();
    static tx_mount mounts[1];
    mounts[0].source = probe_dir;
    mounts[0].target = "/probe";
    mounts[0].read_only = 1;
    tx_sandbox_policy p;
    tx_sandbox_policy_init(&p);
    p.bind_system = 1;
    p.mounts = mounts;
    p.nmounts = 1;
    p.limits = def.limits;
    char *argv[] = {"/probe/probe", "spin", NULL};
    tx_sandbox *s = NULL;
    tx_error err = {0};
    ck_assert_int_eq(tx_sandbox_exec(&p, argv, &s, &err), 0);
    pid_t pid = tx_sandbox_pid(s);
    ck_assert_int_gt(pid, 0);
    tx_sandbox_free(s);
    ck_assert_int_eq(count_probes(), 0);
    ck_assert_int_eq(kill(pid, 0), -1);
}
END_TEST

static Suite *escape_suite(void)
{
    Suite *s = suite_create("sandbox-escape");
    TCase *t = tcase_create("escape");
    tcase_set_timeout(t, 120);
    tcase_add_test(t, sanity_true);
    tcase_add_test(t, privileges_dropped);
    tcase_add_test(t, host_paths_absent);
    tcase_add_test(t, net_loopback_listener);
    tcase_add_test(t, net_abstract_unix);
    tcase_add_test(t, host_file_read_write);
    tcase_add_test(t, mounts_read_only);
    tcase_add_test(t, caller_owned_workspace_writable);
    tcase_add_test(t, proc_absent);
    tcase_add_test(t, mknod_device);
    tcase_add_test(t, environment_clean);
    tcase_add_test(t, host_sysinfo_hidden);
    tcase_add_test(t, kill_host_sentinel);
    tcase_add_test(t, ptrace_attach);
    tcase_add_test(t, process_vm);
    tcase_add_test(t, mount_and_namespaces);
    tcase_add_test(t, kernel_interfaces);
    tcase_add_test(t, foreign_abi);
    tcase_add_test(t, privileged_calls);
    tcase_add_test(t, fork_bomb);
    tcase_add_test(t, memory_bomb);
    tcase_add_test(t, disk_fill);
    tcase_add_test(t, fd_exhaustion);
    tcase_add_test(t, cpu_spin_timeout);
    tcase_add_test(t, inherited_fds);
    tcase_add_test(t, stdio_nonblock_stays_inside);
    tcase_add_test(t, terminal_stays_outside);
    tcase_add_test(t, stdio_relayed_completely);
    tcase_add_test(t, fifty_runs_leave_nothing);
    tcase_add_test(t, free_while_running);
    suite_add_tcase(s, t);
    return s;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: test_escape /path/to/probe\n");
        return 2;
    }
    char real[PATH_MAX];
    if (realpath(argv[1], real) == NULL) {
        fprintf(stderr, "test_escape: %s: %s\n", argv[1], strerror(errno));
        return 2;
    }
    char *slash = strrchr(real, '/');
    *slash = '\0';
    snprintf(probe_dir, sizeof probe_dir, "%s", real);
    SRunner *sr = srunner_create(escape_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
