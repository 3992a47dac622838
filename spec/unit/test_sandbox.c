/*
 * test_sandbox.c - the sandbox API's contracts (sandbox/sandbox.h): policy validation, the fn
 * path's promised state (environment, cwd, identity, fds, hostname), outcomes and teardown.
 * Attacks live in the escape suite (spec/sandbox/).
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <grp.h>
#include <linux/capability.h>
#include <sys/syscall.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sandbox.h"

extern char **environ;

/* Starts fn under p, waits, frees; returns the outcome. Fails the test if start fails. */
static tx_sandbox_outcome run_fn(const tx_sandbox_policy *p, int (*fn)(void *), void *arg)
{
    tx_sandbox *s = NULL;
    tx_error err = {0};
    ck_assert_msg(tx_sandbox_start(p, fn, arg, &s, &err) == 0, "start: %s", err.message);
    tx_sandbox_outcome o;
    ck_assert_msg(tx_sandbox_wait(s, &o, &err) == 0, "wait: %s", err.message);
    tx_sandbox_free(s);
    return o;
}

/* The tests' base policy. No memory limit: it implies an RLIMIT_AS backstop, and fn runs in
 * a copy of this test process, which under AddressSanitizer has terabytes of shadow mapped
 * and could not allocate at all (the escape suite tests the memory limit on a plain probe). */
static void policy(tx_sandbox_policy *p)
{
    tx_sandbox_policy_init(p);
    p->limits.allowed[TX_LIMIT_TIMEOUT] = 10000;
    p->limits.allowed[TX_LIMIT_MEMORY] = 0;
}

/* Expects start to fail with status and a message containing `needle`. */
static void expect_bad_policy(const tx_sandbox_policy *p, const char *needle)
{
    tx_sandbox *s = NULL;
    tx_error err = {0};
    char *argv[] = {"/bin/true", NULL};
    ck_assert_int_eq(tx_sandbox_exec(p, argv, &s, &err), -1);
    ck_assert_ptr_null(s);
    ck_assert_int_eq(err.status, TACTUS_EUSAGE);
    ck_assert_msg(strstr(err.message, needle) != NULL, "message '%s' lacks '%s'", err.message,
                  needle);
}

START_TEST(bad_policies)
{
    tx_sandbox_policy p;
    tx_mount m[2] = {{"/usr/share", "/data", 1}, {"/usr/share", "/data/sub", 1}};
    policy(&p);
    p.mounts = m;
    p.nmounts = 2;
    expect_bad_policy(&p, "mounts[1]: target '/data/sub' overlaps the mount at '/data'");
    m[0].source = "relative/dir";
    p.nmounts = 1;
    expect_bad_policy(&p, "mounts[0]: source 'relative/dir' must be an absolute path");
    m[0].source = "/nonexistent/tactus-test";
    expect_bad_policy(&p, "mounts[0]: source '/nonexistent/tactus-test'");
    m[0].source = "/usr/share";
    static const char *const bad_targets[] = {"/",    "data",       "/a/../b", "/a//b", "/tmp/x",
                                              "/dev", "/workspace", "/proc",   "/a/."};
    for (size_t i = 0; i < sizeof bad_targets / sizeof bad_targets[0]; i++) {
        m[0].target = (char *)bad_targets[i];
        expect_bad_policy(&p, "mounts[0]: target");
    }
    m[0].target = "/data";
    policy(&p);
    p.workspace = "/nonexistent/tactus-ws";
    expect_bad_policy(&p, "workspace '/nonexistent/tactus-ws'");
    p.workspace = "/etc/hostname";
    if (access(p.workspace, F_OK) == 0)
        expect_bad_policy(&p, "is not a directory");
    policy(&p);
    p.keep_fds[0] = 1;
    p.nkeep_fds = 1;
    expect_bad_policy(&p, "keep_fds[0] = 1");
    policy(&p);
    p.bind_system = 1;
    m[0].target = "/usr/local/x";
    p.mounts = m;
    p.nmounts = 1;
    expect_bad_policy(&p, "overlaps the mount at '/usr'");

    tx_sandbox *s = NULL;
    tx_error err = {0};
    ck_assert_int_eq(tx_sandbox_start(&p, NULL, NULL, &s, &err), -1);
    ck_assert_int_eq(err.status, TACTUS_EUSAGE);
    char *empty[] = {NULL};
    ck_assert_int_eq(tx_sandbox_exec(&p, empty, &s, &err), -1);
    ck_assert_int_eq(err.status, TACTUS_EUSAGE);
}
END_TEST

static int return_42(void *arg)
{
    return 42;
}

START_TEST(fn_status_and_layers)
{
    tx_sandbox_policy p;
    policy(&p);
    tx_sandbox *s = NULL;
    tx_error err = {0};
    ck_assert_int_eq(tx_sandbox_start(&p, return_42, NULL, &s, &err), 0);
    ck_assert_int_gt(tx_sandbox_pid(s), 0);
    const char *layers = tx_sandbox_layers(s);
    ck_assert_ptr_nonnull(strstr(layers, "userns,pidns,mountns,netns"));
    ck_assert_ptr_null(strstr(layers, "seccomp")); /* fn installs its own */
    ck_assert_ptr_nonnull(strstr(layers, "cgroup"));
    tx_sandbox_outcome o;
    ck_assert_int_eq(tx_sandbox_wait(s, &o, &err), 0);
    ck_assert_int_eq(o.kind, TX_SANDBOX_EXITED);
    ck_assert_int_eq(o.exit_code, 42);
    ck_assert_int_eq(tx_sandbox_wait(s, &o, &err), -1); /* at most once */
    tx_sandbox_free(s);
    tx_sandbox_free(NULL);
}
END_TEST

/* Returns a bit per broken promise, 0 if the worker's state is as documented. */
static int check_state(void *arg)
{
    const char *want_cwd = arg;
    int bad = 0;
    if (environ != NULL && environ[0] != NULL)
        bad |= 1;
    char cwd[PATH_MAX];
    if (getcwd(cwd, sizeof cwd) == NULL || strcmp(cwd, want_cwd) != 0)
        bad |= 2;
    if (getuid() == 0 || geteuid() == 0)
        bad |= 4;
    char host[64];
    if (gethostname(host, sizeof host) != 0 || strcmp(host, "tactus") != 0)
        bad |= 8;
    if (getpid() != 2 || getppid() != 1)
        bad |= 16;
    struct statvfs sv;
    if (statvfs("/", &sv) != 0 || !(sv.f_flag & ST_RDONLY))
        bad |= 32;
    if (access("/proc/self", F_OK) == 0 || access("/usr", F_OK) == 0)
        bad |= 64;
    return bad;
}

START_TEST(fn_state)
{
    ck_assert_int_eq(setenv("TACTUS_TEST_SENTINEL", "x", 1), 0);
    tx_sandbox_policy p;
    policy(&p);
    tx_sandbox_outcome o = run_fn(&p, check_state, "/");
    ck_assert_msg(o.kind == TX_SANDBOX_EXITED && o.exit_code == 0, "broken promises: %d (%s)",
                  o.exit_code, o.message);
    char dir[] = "/tmp/tactus-sbws-XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    ck_assert_int_eq(chmod(dir, 0755), 0); /* a root caller's sandbox runs as nobody */
    p.workspace = dir;
    o = run_fn(&p, check_state, "/workspace");
    ck_assert_msg(o.kind == TX_SANDBOX_EXITED && o.exit_code == 0, "broken promises: %d (%s)",
                  o.exit_code, o.message);
    rmdir(dir);
}
END_TEST

static int write_workspace(void *arg)
{
    int fd = open("/workspace/out.txt", O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0)
        return errno;
    int ok = write(fd, "from sandbox\n", 13) == 13;
    close(fd);
    return ok ? 0 : 100;
}

START_TEST(workspace_rw_and_ro)
{
    char dir[] = "/tmp/tactus-sbws-XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    ck_assert_int_eq(chmod(dir, 0777), 0); /* a root caller's sandbox runs as nobody */
    tx_sandbox_policy p;
    policy(&p);
    p.workspace = dir;
    tx_sandbox_outcome o = run_fn(&p, write_workspace, NULL);
    ck_assert_msg(o.kind == TX_SANDBOX_EXITED && o.exit_code == 0, "%s", o.message);
    char path[PATH_MAX], buf[64] = "";
    snprintf(path, sizeof path, "%s/out.txt", dir);
    FILE *f = fopen(path, "r");
    ck_assert_ptr_nonnull(f);
    ck_assert_ptr_nonnull(fgets(buf, sizeof buf, f));
    fclose(f);
    ck_assert_str_eq(buf, "from sandbox\n");
    unlink(path);
    p.workspace_read_only = 1;
    o = run_fn(&p, write_workspace, NULL);
    ck_assert_int_eq(o.kind, TX_SANDBOX_EXITED);
    ck_assert_int_eq(o.exit_code, EROFS);
    ck_assert_int_ne(access(path, F_OK), 0);
    rmdir(dir);
}
END_TEST

typedef struct fd_pair {
    int kept, dropped;
} fd_pair;

static int use_fds(void *arg)
{
    fd_pair *fp = arg;
    if (fcntl(fp->dropped, F_GETFD) >= 0)
        return 1;
    if (write(fp->kept, "hello", 5) != 5)
        return 2;
    return 0;
}

START_TEST(keep_fds_only)
{
    int sv[2];
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
    int dropped = open("/dev/null", O_RDONLY);
    ck_assert_int_ge(dropped, 0);
    tx_sandbox_policy p;
    policy(&p);
    p.keep_fds[0] = sv[1];
    p.nkeep_fds = 1;
    fd_pair fp = {sv[1], dropped};
    tx_sandbox_outcome o = run_fn(&p, use_fds, &fp);
    ck_assert_msg(o.kind == TX_SANDBOX_EXITED && o.exit_code == 0, "%s", o.message);
    char buf[16];
    ck_assert_int_eq(read(sv[0], buf, sizeof buf), 5);
    ck_assert_int_eq(memcmp(buf, "hello", 5), 0);
    close(sv[0]);
    close(sv[1]);
    close(dropped);
}
END_TEST

static int forbidden_after_filter(void *arg)
{
    tx_error err = {0};
    if (tx_seccomp_install(0, &err) < 0)
        return 100;
    (void)socket(AF_UNIX, SOCK_STREAM, 0);
    return 0;
}

static int sleep_forever(void *arg)
{
    for (;;)
        pause();
    return 0;
}

/* SIGUSR1, not SIGSEGV: sanitizer runtimes catch SIGSEGV themselves. */
static int raise_usr1(void *arg)
{
    raise(SIGUSR1);
    return 0;
}

START_TEST(outcomes)
{
    tx_sandbox_policy p;
    policy(&p);
    tx_sandbox_outcome o = run_fn(&p, forbidden_after_filter, NULL);
    ck_assert_msg(o.kind == TX_SANDBOX_SECCOMP && o.signal == SIGSYS, "%s", o.message);
    ck_assert_ptr_nonnull(strstr(o.message, "seccomp"));
    o = run_fn(&p, raise_usr1, NULL);
    ck_assert_msg(o.kind == TX_SANDBOX_SIGNALED && o.signal == SIGUSR1, "%s", o.message);
    p.limits.allowed[TX_LIMIT_TIMEOUT] = 300;
    o = run_fn(&p, sleep_forever, NULL);
    ck_assert_msg(o.kind == TX_SANDBOX_TIMEOUT && o.allowed == 300, "%s", o.message);
}
END_TEST

/* The runner's death as the broker sees it: it holds a socket, crashes; the broker reads EOF
 * and kills the sandbox at once. The outcome must still be the real signal, not SIGKILL. */
static int crash_with_socket(void *arg)
{
    (void)arg;
    signal(SIGSEGV, SIG_DFL); /* sanitizer runtimes install their own handler */
    raise(SIGSEGV);
    return 0;
}

START_TEST(crash_status_survives_kill_on_eof)
{
    for (int round = 0; round < 5; round++) {
        int sv[2];
        ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
        tx_sandbox_policy p;
        policy(&p);
        p.keep_fds[0] = sv[1];
        p.nkeep_fds = 1;
        p.stdin_null = 1;
        tx_sandbox *s = NULL;
        tx_error err = {0};
        ck_assert_msg(tx_sandbox_start(&p, crash_with_socket, NULL, &s, &err) == 0, "%s",
                      err.message);
        close(sv[1]);
        char c;
        ck_assert_int_eq(read(sv[0], &c, 1), 0); /* EOF: the worker is gone */
        kill(tx_sandbox_pid(s), SIGKILL);
        tx_sandbox_outcome o;
        ck_assert_int_eq(tx_sandbox_wait(s, &o, &err), 0);
        ck_assert_msg(o.kind == TX_SANDBOX_SIGNALED && o.signal == SIGSEGV,
                      "round %d: expected SIGSEGV, got kind %d: %s", round, o.kind, o.message);
        tx_sandbox_free(s);
        close(sv[0]);
    }
}
END_TEST

START_TEST(exec_errors)
{
    tx_sandbox_policy p;
    policy(&p);
    p.bind_system = 1;
    tx_sandbox *s = NULL;
    tx_error err = {0};
    char *argv[] = {"tactus-no-such-program", NULL};
    ck_assert_int_eq(tx_sandbox_exec(&p, argv, &s, &err), -1);
    ck_assert_ptr_null(s);
    ck_assert_msg(strstr(err.message, "exec tactus-no-such-program") != NULL &&
                      strstr(err.message, strerror(ENOENT)) != NULL,
                  "%s", err.message);
    /* Without bind_system nothing is there to run. */
    p.bind_system = 0;
    char *argv2[] = {"/bin/true", NULL};
    ck_assert_int_eq(tx_sandbox_exec(&p, argv2, &s, &err), -1);
    ck_assert_ptr_nonnull(strstr(err.message, "exec /bin/true"));
    ck_assert_int_eq(waitpid(-1, NULL, WNOHANG), -1); /* nothing left behind */
}
END_TEST

START_TEST(free_kills_running_sandbox)
{
    tx_sandbox_policy p;
    policy(&p);
    tx_sandbox *s = NULL;
    tx_error err = {0};
    ck_assert_int_eq(tx_sandbox_start(&p, sleep_forever, NULL, &s, &err), 0);
    pid_t pid = tx_sandbox_pid(s);
    tx_sandbox_free(s);
    ck_assert_int_eq(kill(pid, 0), -1);
    ck_assert_int_eq(errno, ESRCH);
}
END_TEST

/* With user namespaces disabled the start must fail, naming the feature; never fall back. */
START_TEST(userns_disabled_is_an_error)
{
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        /* Disable user namespaces inside a throwaway user namespace of our own. */
        int fd;
        if (unshare(CLONE_NEWUSER) < 0 ||
            (fd = open("/proc/sys/user/max_user_namespaces", O_WRONLY)) < 0 ||
            write(fd, "0", 1) != 1)
            _exit(77);
        close(fd);
        tx_sandbox_policy p;
        policy(&p);
        p.bind_system = 1;
        tx_sandbox *s = NULL;
        tx_error err = {0};
        char *argv[] = {"/bin/true", NULL};
        if (tx_sandbox_exec(&p, argv, &s, &err) != -1 || s != NULL)
            _exit(1);
        if (err.status != TACTUS_ESYSTEM || strstr(err.message, "max_user_namespaces") == NULL ||
            strstr(err.message, "refusing to run unsandboxed") == NULL)
            _exit(2);
        _exit(0);
    }
    int st = 0;
    ck_assert_int_eq(waitpid(pid, &st, 0), pid);
    ck_assert_msg(WIFEXITED(st), "child died");
    if (WEXITSTATUS(st) == 77)
        return; /* cannot create the throwaway namespace here: nothing to test */
    ck_assert_int_eq(WEXITSTATUS(st), 0);
}
END_TEST

/* Returns 42 if the worker is non-dumpable and runs as `arg`'s uid (or any non-root uid). */
static int report_identity(void *arg)
{
    const uid_t *want = arg;
    if (prctl(PR_GET_DUMPABLE, 0, 0, 0, 0) != 0)
        return 1;
    if (getuid() == 0 || (want != NULL && getuid() != *want))
        return 2;
    return 42;
}

/* In a child: drops to an unprivileged uid if root (as `runuser -u USER` would). 0, 1 if
 * this is the root of a user namespace that does not map nobody (already an ordinary user
 * on the host: it stays as it is), or -1. */
static int become_unprivileged(void)
{
    if (geteuid() != 0)
        return 0;
    if ((setgroups(0, NULL) < 0 && errno != EPERM) || setresgid(65534, 65534, 65534) < 0 ||
        setresuid(65534, 65534, 65534) < 0)
        return errno == EINVAL ? 1 : -1;
    return 0;
}

/* Writes text to /proc/self/<file>; 0 or -1. */
static int write_self(const char *file, const char *text)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/self/%s", file);
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    ssize_t n = write(fd, text, strlen(text));
    close(fd);
    return n == (ssize_t)strlen(text) ? 0 : -1;
}

/* Waits for a test child; 77 from it means "cannot set up here", which skips the case. */
static void expect_child_ok(pid_t pid, const char *what)
{
    int st = 0;
    ck_assert_int_eq(waitpid(pid, &st, 0), pid);
    ck_assert_msg(WIFEXITED(st), "%s: child died (signal %d)", what, WTERMSIG(st));
    if (WEXITSTATUS(st) == 77) {
        fprintf(stderr, "%s: skipped (the reason is above)\n", what);
        return;
    }
    ck_assert_msg(WEXITSTATUS(st) == 0, "%s: child failed with %d", what, WEXITSTATUS(st));
}

/* An ordinary user whose process is non-dumpable (the broker is) can start a sandbox, and the
 * worker is non-dumpable again. */
START_TEST(nondumpable_unprivileged_caller)
{
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        if (become_unprivileged() < 0)
            _exit(3);
        if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0)
            _exit(4);
        tx_sandbox_policy p;
        policy(&p);
        uid_t me = getuid();
        tx_sandbox *s = NULL;
        tx_error err = {0};
        /* (The root of an outer namespace runs as nobody inside: any non-root id will do.) */
        if (tx_sandbox_start(&p, report_identity, me == 0 ? NULL : &me, &s, &err) < 0) {
            fprintf(stderr, "start: %s\n", err.message);
            _exit(5);
        }
        tx_sandbox_outcome o;
        if (tx_sandbox_wait(s, &o, &err) < 0 || o.kind != TX_SANDBOX_EXITED || o.exit_code != 42) {
            fprintf(stderr, "outcome: %s\n", o.message);
            _exit(6);
        }
        tx_sandbox_free(s);
        _exit(0);
    }
    expect_child_ok(pid, "non-dumpable unprivileged caller");
}
END_TEST

/* Inside an outer user namespace whose root is an ordinary user (`unshare --user
 * --map-root-user` by a user, a rootless container), the sandbox maps the one id there is,
 * and runs as nobody inside. */
START_TEST(nested_user_namespace)
{
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        /* A uid change made us non-dumpable; a fresh `unshare` process would not be. */
        int dropped = become_unprivileged();
        if (dropped < 0 || prctl(PR_SET_DUMPABLE, 1, 0, 0, 0) < 0)
            _exit(3);
        /* Already the root of an outer namespace: one more level would map only that root,
         * which nested_only_parent_root_runs_as_nobody covers; this case is the outer run itself.
         */
        if (dropped == 1)
            _exit(77);
        char map[64];
        snprintf(map, sizeof map, "0 %u 1", (unsigned)geteuid());
        char gmap[64];
        snprintf(gmap, sizeof gmap, "0 %u 1", (unsigned)getegid());
        if (unshare(CLONE_NEWUSER) < 0 || write_self("setgroups", "deny") < 0 ||
            write_self("uid_map", map) < 0 || write_self("gid_map", gmap) < 0)
            _exit(77);
        if (geteuid() != 0)
            _exit(7);
        tx_sandbox_policy p;
        policy(&p);
        uid_t nobody = 65534;
        tx_sandbox *s = NULL;
        tx_error err = {0};
        if (tx_sandbox_start(&p, report_identity, &nobody, &s, &err) < 0) {
            fprintf(stderr, "start: %s\n", err.message);
            _exit(5);
        }
        tx_sandbox_outcome o;
        if (tx_sandbox_wait(s, &o, &err) < 0 || o.kind != TX_SANDBOX_EXITED || o.exit_code != 42) {
            fprintf(stderr, "outcome: %s\n", o.message);
            _exit(6);
        }
        tx_sandbox_free(s);
        _exit(0);
    }
    expect_child_ok(pid, "nested user namespace");
}
END_TEST

/* A namespace that maps nothing but root of its parent (host root's `unshare --user
 * --map-root-user`): that root is the only id a nested map may use, so the sandbox runs as it,
 * but as nobody inside, non-dumpable and never uid 0 (as bwrap does, rather than not at all). */
START_TEST(nested_only_parent_root_runs_as_nobody)
{
    if (geteuid() != 0 || access("/proc/self/uid_map", R_OK) != 0)
        return; /* only a namespace's root can build this namespace */
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        if (unshare(CLONE_NEWUSER) < 0 || write_self("setgroups", "deny") < 0 ||
            write_self("uid_map", "0 0 1") < 0 || write_self("gid_map", "0 0 1") < 0)
            _exit(77);
        tx_sandbox_policy p;
        policy(&p);
        uid_t nobody = 65534;
        tx_sandbox *s = NULL;
        tx_error err = {0};
        if (tx_sandbox_start(&p, report_identity, &nobody, &s, &err) < 0) {
            fprintf(stderr, "start: %s\n", err.message);
            _exit(5);
        }
        tx_sandbox_outcome o;
        if (tx_sandbox_wait(s, &o, &err) < 0 || o.kind != TX_SANDBOX_EXITED || o.exit_code != 42) {
            fprintf(stderr, "outcome: %s\n", o.message);
            _exit(6);
        }
        tx_sandbox_free(s);
        _exit(0);
    }
    expect_child_ok(pid, "only the parent's root mapped");
}
END_TEST

/* True if this is the initial user namespace (uid 0 here is host root). */
static int initial_userns(void)
{
    FILE *f = fopen("/proc/self/uid_map", "r");
    unsigned long a = 1, b = 1, c = 0;
    ck_assert_ptr_nonnull(f);
    int fields = fscanf(f, "%lu %lu %lu", &a, &b, &c);
    fclose(f);
    return fields == 3 && a == 0 && b == 0 && c == 4294967295UL;
}

/* uid 0 without CAP_SETUID/CAP_SETGID (capsh --drop, bwrap --uid 0) can map only itself: as
 * host root that is refused by name; as the root of an outer namespace it runs as nobody. */
START_TEST(root_without_setid_capabilities)
{
    if (geteuid() != 0)
        return; /* an ordinary user: nondumpable_unprivileged_caller covers it */
    int host_root = initial_userns();
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        struct __user_cap_header_struct hdr = {.version = _LINUX_CAPABILITY_VERSION_3};
        struct __user_cap_data_struct data[2];
        memset(data, 0, sizeof data);
        if (syscall(SYS_capget, &hdr, data) < 0)
            _exit(3);
        memset(data, 0, sizeof data); /* as capsh --caps="" */
        if (syscall(SYS_capset, &hdr, data) < 0)
            _exit(4);
        tx_sandbox_policy p;
        policy(&p);
        tx_sandbox *s = NULL;
        tx_error err = {0};
        int rc = tx_sandbox_start(&p, report_identity, NULL, &s, &err);
        if (host_root) {
            if (rc != -1 || s != NULL || strstr(err.message, "without CAP_SETUID") == NULL ||
                strstr(err.message, "never mapped") == NULL) {
                fprintf(stderr, "host root without caps: rc %d: %s\n", rc, err.message);
                _exit(5);
            }
            _exit(0);
        }
        if (rc < 0 && strstr(err.message, "refuses nested id maps") != NULL) {
            /* uid 0 of a nested namespace without the capabilities: the kernel refuses any
             * nested map (unshare(1) too); the message says what to do. */
            fprintf(stderr, "nested uid 0 without CAP_SETUID: %s\n", err.message);
            _exit(77);
        }
        if (rc < 0) {
            fprintf(stderr, "start: %s\n", err.message);
            _exit(6);
        }
        tx_sandbox_outcome o;
        if (tx_sandbox_wait(s, &o, &err) < 0 || o.kind != TX_SANDBOX_EXITED || o.exit_code != 42)
            _exit(7);
        tx_sandbox_free(s);
        _exit(0);
    }
    expect_child_ok(pid, "root without CAP_SETUID");
}
END_TEST

static Suite *sandbox_suite(void)
{
    Suite *s = suite_create("sandbox");
    TCase *t = tcase_create("api");
    tcase_set_timeout(t, 60);
    tcase_add_test(t, bad_policies);
    tcase_add_test(t, fn_status_and_layers);
    tcase_add_test(t, fn_state);
    tcase_add_test(t, workspace_rw_and_ro);
    tcase_add_test(t, keep_fds_only);
    tcase_add_test(t, outcomes);
    tcase_add_test(t, crash_status_survives_kill_on_eof);
    tcase_add_test(t, exec_errors);
    tcase_add_test(t, free_kills_running_sandbox);
    tcase_add_test(t, userns_disabled_is_an_error);
    tcase_add_test(t, nondumpable_unprivileged_caller);
    tcase_add_test(t, nested_user_namespace);
    tcase_add_test(t, nested_only_parent_root_runs_as_nobody);
    tcase_add_test(t, root_without_setid_capabilities);
    suite_add_tcase(s, t);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(sandbox_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
