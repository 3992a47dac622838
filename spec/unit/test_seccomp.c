/*
 * test_seccomp.c - the seccomp allowlists (sandbox/seccomp.c), each checked in a forked child
 * that installs the filter, makes one system call and reports: exit(errno) if the call failed,
 * exit(0) if it went through, or death by SIGSYS if the filter killed it. Children leave with
 * _exit so that sanitizer runtimes do not run their own (filtered) exit hooks.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/sched.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include "sandbox.h"
#include "sandbox_int.h"

enum { RUNNER = 0, EXEC = 1 };

typedef long (*attack_fn)(void);

/* Runs attack under profile in a child; returns its wait status. */
static int run_filtered(int profile, attack_fn attack)
{
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        tx_error err = {0};
        if (tx_seccomp_install(profile, &err) < 0)
            _exit(200);
        long rc = attack();
        _exit(rc < 0 ? errno : 0);
    }
    int st = 0;
    ck_assert_int_eq(waitpid(pid, &st, 0), pid);
    return st;
}

static void expect_killed(int profile, attack_fn attack, const char *what)
{
    int st = run_filtered(profile, attack);
    ck_assert_msg(WIFSIGNALED(st) && WTERMSIG(st) == SIGSYS, "%s: expected SIGSYS, got %s %d", what,
                  WIFSIGNALED(st) ? "signal" : "exit",
                  WIFSIGNALED(st) ? WTERMSIG(st) : WEXITSTATUS(st));
}

static void expect_exit(int profile, attack_fn attack, int code, const char *what)
{
    int st = run_filtered(profile, attack);
    ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == code, "%s: expected exit %d, got %s %d", what,
                  code, WIFSIGNALED(st) ? "signal" : "exit",
                  WIFSIGNALED(st) ? WTERMSIG(st) : WEXITSTATUS(st));
}

static long do_write(void)
{
    return write(STDERR_FILENO, "", 0);
}
static long do_getpid(void)
{
    return getpid() > 0 ? 0 : -1;
}
static long do_open(void)
{
    return open("/etc/passwd", O_RDONLY);
}
static long do_socket_inet(void)
{
    return socket(AF_INET, SOCK_STREAM, 0);
}
static long do_socket_unix(void)
{
    return socket(AF_UNIX, SOCK_STREAM, 0);
}
static long do_socket_inet_high(void)
{
    /* AF_UNIX in the low 32 bits, garbage above: the kernel sees AF_UNIX, so must we. */
    return syscall(SYS_socket, (1UL << 32) | AF_UNIX, SOCK_STREAM, 0);
}
static long do_socket_packet(void)
{
    return socket(AF_PACKET, SOCK_RAW, 0);
}
static long do_socket_alg(void)
{
    return socket(38 /* AF_ALG */, SOCK_SEQPACKET, 0);
}
static long do_unknown_ioctl(void)
{
    unsigned long flags = 0;
    return ioctl(STDERR_FILENO, 0x80086601UL /* FS_IOC_GETFLAGS */, &flags);
}
static long do_unknown_prctl(void)
{
    return prctl(65 /* PR_SET_MDWE, not in the allowlist */, 0, 0, 0, 0);
}
static long do_shmget(void)
{
    return syscall(SYS_shmget, 0x7ac7, 4096, 01000 /* IPC_CREAT */ | 0600);
}
static long do_sysinfo(void)
{
    char buf[256];
    return syscall(SYS_sysinfo, buf);
}
static long do_setuid(void)
{
    return setuid(getuid()); /* allowed: its own id */
}
static long do_mknod_fifo(void)
{
    char path[64];
    snprintf(path, sizeof path, "/tmp/tactus-seccomp-fifo-%d", (int)getpid());
    long rc = mknod(path, S_IFIFO | 0600, 0);
    if (rc == 0)
        unlink(path);
    return rc;
}
static long do_mknod_dev(void)
{
    return mknod("/tmp/tactus-seccomp-null", S_IFCHR | 0600, makedev(1, 3));
}
static long do_socket_inet6(void)
{
    return socket(AF_INET6, SOCK_STREAM, 0);
}
static long do_tcgets_high(void)
{
    struct termios t;
    long rc = syscall(SYS_ioctl, STDERR_FILENO, (0x7UL << 32) | TCGETS, &t);
    return rc < 0 && errno == ENOTTY ? 0 : rc;
}
static long do_fork(void)
{
    pid_t p = (pid_t)syscall(SYS_fork);
    if (p == 0)
        _exit(0);
    return p;
}
static long do_clone_newuser(void)
{
    long p = syscall(SYS_clone, CLONE_NEWUSER | SIGCHLD, 0, 0, 0, 0);
    if (p == 0)
        _exit(0);
    return p;
}
static long do_clone3(void)
{
    return syscall(SYS_clone3, NULL, 0);
}
static long do_mmap_exec(void)
{
    void *p = mmap(NULL, 4096, PROT_READ | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    return p == MAP_FAILED ? -1 : 0;
}
static long do_mmap_rw(void)
{
    void *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    return p == MAP_FAILED ? -1 : 0;
}
static long do_mprotect_exec(void)
{
    void *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return -1;
    return mprotect(p, 4096, PROT_READ | PROT_EXEC);
}
static long do_execve(void)
{
    char *argv[] = {"/bin/true", NULL}, *envp[] = {NULL};
    return execve("/bin/true", argv, envp);
}
static long do_tcgets(void)
{
    struct termios t;
    int fd = STDERR_FILENO;
    long rc = ioctl(fd, TCGETS, &t);
    /* Allowed: any result but a kill. Normalise "not a tty" to success. */
    return rc < 0 && errno == ENOTTY ? 0 : rc;
}
static long do_tiocsti(void)
{
    char c = 'x';
    return ioctl(STDIN_FILENO, TIOCSTI, &c);
}
static long do_tiocsti_high(void)
{
    char c = 'x';
    return syscall(SYS_ioctl, STDIN_FILENO, (0x123UL << 32) | TIOCSTI, &c);
}
static long do_x32(void)
{
    return syscall(SYS_getpid | 0x40000000);
}
static long do_ptrace(void)
{
    return ptrace(PTRACE_TRACEME, 0, NULL, NULL);
}
static long do_unshare(void)
{
    return unshare(CLONE_NEWUSER);
}
static long do_mount(void)
{
    return mount("none", "/", "tmpfs", 0, NULL);
}
static long do_set_dumpable(void)
{
    return prctl(PR_SET_DUMPABLE, 1, 0, 0, 0);
}
static long do_set_name(void)
{
    return prctl(PR_SET_NAME, "probe", 0, 0, 0);
}
static long do_keyctl(void)
{
    return syscall(SYS_keyctl, 0, -3, 0);
}
static long do_bpf(void)
{
    return syscall(SYS_bpf, 5, NULL, 0);
}
static long do_io_uring(void)
{
    return syscall(SYS_io_uring_setup, 1, NULL);
}
static long do_userfaultfd(void)
{
    return syscall(SYS_userfaultfd, 0);
}
static long do_perf(void)
{
    return syscall(SYS_perf_event_open, NULL, 0, -1, -1, 0);
}
static long do_personality(void)
{
    return syscall(SYS_personality, 0x0400000 /* READ_IMPLIES_EXEC */);
}
static long do_setns(void)
{
    return setns(0, CLONE_NEWNET);
}
static long do_chroot(void)
{
    return chroot("/");
}
static long do_sendmsg_pair(void)
{
    /* The runner's one channel: an inherited socketpair. Create it before the filter? No:
     * socketpair is not allowed in the runner, so the exec profile checks it here. */
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv) < 0)
        return -1;
    char b = 'x';
    struct iovec io = {&b, 1};
    struct msghdr m = {.msg_iov = &io, .msg_iovlen = 1};
    if (sendmsg(sv[0], &m, 0) != 1 || recvmsg(sv[1], &m, 0) != 1)
        return -1;
    return 0;
}

START_TEST(runner_allows_its_world)
{
    expect_exit(RUNNER, do_write, 0, "write");
    expect_exit(RUNNER, do_getpid, 0, "getpid");
    expect_exit(RUNNER, do_mmap_rw, 0, "mmap rw");
    expect_exit(RUNNER, do_tcgets, 0, "ioctl TCGETS");
    expect_exit(RUNNER, do_open, EACCES, "open -> EACCES, not a kill");
    expect_exit(RUNNER, do_clone3, ENOSYS, "clone3 -> ENOSYS");
}
END_TEST

START_TEST(runner_denies)
{
    static const struct {
        attack_fn fn;
        const char *what;
    } cases[] = {
        {do_socket_inet, "socket AF_INET"},
        {do_socket_unix, "socket AF_UNIX"},
        {do_fork, "fork"},
        {do_clone_newuser, "clone NEWUSER"},
        {do_mmap_exec, "mmap PROT_EXEC"},
        {do_mprotect_exec, "mprotect PROT_EXEC"},
        {do_execve, "execve"},
        {do_tiocsti, "TIOCSTI"},
        {do_tiocsti_high, "TIOCSTI|1<<32"},
        {do_x32, "x32 getpid"},
        {do_ptrace, "ptrace"},
        {do_unshare, "unshare"},
        {do_mount, "mount"},
        {do_set_dumpable, "prctl"},
        {do_keyctl, "keyctl"},
        {do_bpf, "bpf"},
        {do_io_uring, "io_uring_setup"},
        {do_userfaultfd, "userfaultfd"},
        {do_perf, "perf_event_open"},
        {do_personality, "personality"},
        {do_setns, "setns"},
        {do_chroot, "chroot"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        expect_killed(RUNNER, cases[i].fn, cases[i].what);
}
END_TEST

START_TEST(exec_profile)
{
    expect_exit(EXEC, do_execve, 0, "execve /bin/true");
    expect_exit(EXEC, do_fork, 0, "fork");
    expect_exit(EXEC, do_socket_unix, 0, "socket AF_UNIX");
    expect_exit(EXEC, do_socket_inet_high, 0, "socket AF_UNIX with high bits");
    expect_exit(EXEC, do_socket_inet, EAFNOSUPPORT, "socket AF_INET -> EAFNOSUPPORT");
    expect_exit(EXEC, do_socket_inet6, EAFNOSUPPORT, "socket AF_INET6 -> EAFNOSUPPORT");
    expect_exit(EXEC, do_tcgets_high, 0, "ioctl TCGETS with high bits (kernel sees TCGETS)");
    expect_exit(EXEC, do_sendmsg_pair, 0, "socketpair + sendmsg/recvmsg");
    expect_exit(EXEC, do_set_name, 0, "prctl PR_SET_NAME");
    expect_exit(EXEC, do_clone3, ENOSYS, "clone3 -> ENOSYS");
    /* Outside the allowlist but no attack: an errno, so programs fall back. */
    expect_exit(EXEC, do_socket_packet, EAFNOSUPPORT, "socket AF_PACKET -> EAFNOSUPPORT");
    expect_exit(EXEC, do_socket_alg, EAFNOSUPPORT, "socket AF_ALG -> EAFNOSUPPORT");
    expect_exit(EXEC, do_unknown_ioctl, ENOSYS, "unlisted ioctl -> ENOSYS");
    expect_exit(EXEC, do_unknown_prctl, ENOSYS, "unlisted prctl -> ENOSYS");
    expect_exit(EXEC, do_shmget, ENOSYS, "SysV shmget -> ENOSYS");
    expect_exit(EXEC, do_sysinfo, ENOSYS, "sysinfo -> ENOSYS (host memory, uptime)");
    expect_exit(EXEC, do_personality, EPERM, "personality -> EPERM");
    expect_exit(EXEC, do_setuid, 0, "setuid(getuid()) (posix_spawn RESETIDS)");
    expect_exit(EXEC, do_mknod_fifo, 0, "mknod S_IFIFO");
    expect_exit(EXEC, do_mknod_dev, EPERM, "mknod S_IFCHR -> EPERM");
    static const struct {
        attack_fn fn;
        const char *what;
    } cases[] = {
        {do_clone_newuser, "clone NEWUSER"},
        {do_tiocsti, "TIOCSTI"},
        {do_tiocsti_high, "TIOCSTI|1<<32"},
        {do_x32, "x32 getpid"},
        {do_ptrace, "ptrace"},
        {do_unshare, "unshare"},
        {do_mount, "mount"},
        {do_set_dumpable, "prctl PR_SET_DUMPABLE"},
        {do_keyctl, "keyctl"},
        {do_bpf, "bpf"},
        {do_io_uring, "io_uring_setup"},
        {do_userfaultfd, "userfaultfd"},
        {do_perf, "perf_event_open"},
        {do_setns, "setns"},
        {do_chroot, "chroot"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        expect_killed(EXEC, cases[i].fn, cases[i].what);
}
END_TEST

/* A thread that exists before the filter is installed must be filtered too (TSYNC). */
static void *late_socket(void *arg)
{
    int *pipefd = arg;
    char c;
    if (read(pipefd[0], &c, 1) != 1)
        return NULL;
    (void)socket(AF_INET, SOCK_STREAM, 0);
    _exit(0); /* only reached if the filter missed this thread */
}

START_TEST(filter_covers_threads)
{
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        int pipefd[2];
        pthread_t t;
        if (pipe(pipefd) < 0 || pthread_create(&t, NULL, late_socket, pipefd) != 0)
            _exit(201);
        tx_error err = {0};
        if (tx_seccomp_install(RUNNER, &err) < 0)
            _exit(200);
        if (write(pipefd[1], "g", 1) != 1)
            _exit(202);
        for (;;)
            pause();
    }
    int st = 0;
    ck_assert_int_eq(waitpid(pid, &st, 0), pid);
    ck_assert_msg(WIFSIGNALED(st) && WTERMSIG(st) == SIGSYS, "thread escaped the filter");
}
END_TEST

START_TEST(bpf_export)
{
    struct sock_filter *a = NULL, *b = NULL, *r = NULL;
    unsigned short alen = 0, blen = 0, rlen = 0;
    tx_error err = {0};
    ck_assert_int_eq(tx_seccomp_build_bpf(EXEC, &a, &alen, &err), 0);
    ck_assert_int_eq(tx_seccomp_build_bpf(EXEC, &b, &blen, &err), 0);
    ck_assert_int_eq(tx_seccomp_build_bpf(RUNNER, &r, &rlen, &err), 0);
    ck_assert_int_gt(alen, 10);
    ck_assert_int_eq(alen, blen);
    ck_assert_int_eq(memcmp(a, b, alen * sizeof *a), 0); /* deterministic */
    ck_assert_int_lt(rlen, alen);                        /* the runner's list is smaller */
    free(a);
    free(b);
    free(r);
}
END_TEST

static Suite *seccomp_suite(void)
{
    Suite *s = suite_create("seccomp");
    TCase *t = tcase_create("profiles");
    tcase_add_test(t, runner_allows_its_world);
    tcase_add_test(t, runner_denies);
    tcase_add_test(t, exec_profile);
    tcase_add_test(t, filter_covers_threads);
    tcase_add_test(t, bpf_export);
    suite_add_tcase(s, t);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(seccomp_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
