/*
 * seccomp.c - the sandbox's system-call allowlists (libseccomp).
 *
 * Two profiles share one builder. The runner profile (allow_exec 0) is what the Lua runner
 * needs after its own setup: memory, time, signals and I/O on fds it already holds. The exec
 * profile (allow_exec 1) adds what ordinary programs need (files, processes, pipes, AF_UNIX).
 * Everything else, in particular the kernel attack surface listed in docs/security.md, hits
 * the default action KILL_PROCESS, so a violation is a SIGSYS the supervisor can name.
 *
 * Only the native architecture is in the filter: libseccomp's bad-arch action (KILL) then
 * catches x32 numbers (nr | 0x40000000) and `int 0x80` i386 calls. Never add X86/X32 arches.
 * Integer arguments (ioctl cmd, socket domain, prctl option) are compared on their low 32
 * bits only, as the kernel reads them (CVE-2019-10063: a 64-bit compare let TIOCSTI|1<<32
 * through a denylist). libseccomp 2.5's SCMP_A*_32 macros still compare all 64 bits, so the
 * rules use MASKED_EQ with 0xffffffff (ARG32_EQ below), and only ever to allow or to pick an
 * errno: anything that matches no rule is killed.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/sched.h>
#include <seccomp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <termios.h>
#include <unistd.h>

#include "sandbox_int.h"

/* Argument i's low 32 bits equal v (the kernel's view of an int argument). */
#define ARG32_EQ(i, v) SCMP_CMP((i), SCMP_CMP_MASKED_EQ, 0xffffffffULL, (uint64_t)(uint32_t)(v))

/* Namespace-creating clone flags; clone is allowed only with all of them clear. */
#define TX_CLONE_NS_MASK                                                                           \
    (CLONE_NEWNS | CLONE_NEWCGROUP | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER | CLONE_NEWPID |  \
     CLONE_NEWNET)

/* Allowed in both profiles: the runner's whole world. */
static const char *const base_syscalls[] = {
    /* I/O on fds already held (stdio, the broker socketpair) */
    "read",
    "write",
    "readv",
    "writev",
    "pread64",
    "pwrite64",
    "close",
    "lseek",
    "sendmsg",
    "recvmsg",
    "sendto",
    "recvfrom",
    "shutdown",
    "poll",
    "ppoll",
    "pselect6",
    "select",
    "epoll_create1",
    "epoll_ctl",
    "epoll_wait",
    "epoll_pwait",
    "fstat",
    "newfstatat",
    "fcntl",
    "dup",
    "dup3",
    /* memory: mmap/mprotect are added separately (PROT_EXEC rule in the runner profile) */
    "brk",
    "munmap",
    "mremap",
    "madvise",
    /* signals: handlers, masks, abort() on itself */
    "rt_sigaction",
    "rt_sigprocmask",
    "rt_sigreturn",
    "sigaltstack",
    "kill",
    "tgkill",
    /* time (vDSO fallbacks) and randomness */
    "clock_gettime",
    "clock_getres",
    "gettimeofday",
    "time",
    "clock_nanosleep",
    "nanosleep",
    "getrandom",
    /* process identity and teardown */
    "futex",
    "sched_yield",
    "getpid",
    "gettid",
    "getppid",
    "getuid",
    "geteuid",
    "getgid",
    "getegid",
    "exit",
    "exit_group",
    "restart_syscall",
    "getrusage",
    "times",
    "uname",
    "rseq",
};

/* Added by the exec profile: what dynamically linked programs and shells use. */
static const char *const exec_syscalls[] = {
    "execve",
    "execveat",
    "arch_prctl",
    "set_tid_address",
    "set_robust_list",
    "mmap",
    "mprotect",
    "prlimit64",
    "getrlimit",
    "setrlimit",
    "sysinfo",
    "getcpu",
    "sched_getaffinity",
    "getpriority",
    "setpriority",
    "getgroups",
    "capget",
    "umask",
    /* files (only what the sandbox mounted is reachable) */
    "open",
    "openat",
    "openat2",
    "creat",
    "access",
    "faccessat",
    "faccessat2",
    "stat",
    "lstat",
    "statx",
    "readlink",
    "readlinkat",
    "getdents",
    "getdents64",
    "getcwd",
    "chdir",
    "fchdir",
    "mkdir",
    "mkdirat",
    "rmdir",
    "unlink",
    "unlinkat",
    "rename",
    "renameat",
    "renameat2",
    "link",
    "linkat",
    "symlink",
    "symlinkat",
    "chmod",
    "fchmod",
    "fchmodat",
    "chown",
    "fchown",
    "fchownat",
    "lchown",
    "truncate",
    "ftruncate",
    "fallocate",
    "fsync",
    "fdatasync",
    "utimensat",
    "utimes",
    "utime",
    "futimesat",
    "statfs",
    "fstatfs",
    "flock",
    "copy_file_range",
    "sendfile",
    "splice",
    "tee",
    "fadvise64",
    "readahead",
    "msync",
    "mincore",
    "preadv",
    "pwritev",
    "preadv2",
    "pwritev2",
    "close_range",
    "dup2",
    "memfd_create",
    "getxattr",
    "lgetxattr",
    "fgetxattr",
    "listxattr",
    "llistxattr",
    "flistxattr",
    /* pipes, events, timers */
    "pipe",
    "pipe2",
    "eventfd",
    "eventfd2",
    "timerfd_create",
    "timerfd_settime",
    "timerfd_gettime",
    "signalfd",
    "signalfd4",
    "alarm",
    "setitimer",
    "getitimer",
    "timer_create",
    "timer_settime",
    "timer_gettime",
    "timer_getoverrun",
    "timer_delete",
    "pause",
    "rt_sigsuspend",
    "rt_sigtimedwait",
    "rt_sigpending",
    "inotify_init1",
    "inotify_add_watch",
    "inotify_rm_watch",
    /* processes (the pids limit bounds them; clone is added with a flag rule) */
    "fork",
    "vfork",
    "wait4",
    "waitid",
    "setpgid",
    "getpgid",
    "getpgrp",
    "getsid",
    "setsid",
    /* AF_UNIX sockets (socket/socketpair are added with a domain rule); no network exists */
    "connect",
    "bind",
    "listen",
    "accept",
    "accept4",
    "getsockname",
    "getpeername",
    "setsockopt",
    "getsockopt",
    "sendmmsg",
    "recvmmsg",
};

/* ioctl commands a program may use on its own stdio; compared as 32-bit values. Everything
 * else (TIOCSTI, TIOCLINUX, device ioctls) is killed. */
static const unsigned long runner_ioctls[] = {TCGETS,  TIOCGWINSZ, FIONREAD,
                                              FIONBIO, FIOCLEX,    FIONCLEX};
static const unsigned long exec_ioctls[] = {TCSETS,    TCSETSW, TCSETSF,    TIOCGPGRP,
                                            TIOCSPGRP, TCFLSH,  TIOCSWINSZ, TIOCGSID};

/* prctl options a program may use; others (PR_SET_DUMPABLE, PR_SET_MM, PR_SET_PTRACER, ...)
 * are killed. */
static const int exec_prctls[] = {PR_SET_NAME,         PR_GET_NAME,     PR_SET_PDEATHSIG,
                                  PR_GET_PDEATHSIG,    PR_GET_DUMPABLE, PR_SET_NO_NEW_PRIVS,
                                  PR_GET_NO_NEW_PRIVS, PR_CAPBSET_READ, PR_GET_SECUREBITS,
                                  PR_GET_KEEPCAPS,     PR_SET_SECCOMP,  PR_GET_SECCOMP};

/* Adds an unconditional rule for a syscall name. Names this libseccomp/arch does not know are
 * skipped: a syscall the filter cannot name cannot be allowed, so skipping only narrows it. */
static int add_named(scmp_filter_ctx ctx, uint32_t action, const char *name, tx_error *err)
{
    int nr = seccomp_syscall_resolve_name(name);
    if (nr == __NR_SCMP_ERROR || nr < 0)
        return 0;
    int rc = seccomp_rule_add(ctx, action, nr, 0);
    if (rc < 0)
        return tx_fail(err, TACTUS_ESYSTEM, "seccomp: cannot add rule for %s: %s", name,
                       strerror(-rc));
    return 0;
}

static int check_rc(int rc, const char *what, tx_error *err)
{
    if (rc < 0)
        return tx_fail(err, TACTUS_ESYSTEM, "seccomp: cannot add rule for %s: %s", what,
                       strerror(-rc));
    return 0;
}

/* Adds the argument-checked rules: ioctl, mmap/mprotect, clone, clone3, socket, prctl, open. */
static int add_conditional(scmp_filter_ctx ctx, int allow_exec, tx_error *err)
{
    for (size_t i = 0; i < sizeof runner_ioctls / sizeof runner_ioctls[0]; i++)
        if (check_rc(seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(ioctl), 1,
                                      ARG32_EQ(1, runner_ioctls[i])),
                     "ioctl", err) < 0)
            return -1;
    /* glibc's fallback for clone3 is clone: ENOSYS makes it fall back; the struct argument of
     * clone3 cannot be inspected, so it is never allowed. */
    if (check_rc(seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0), "clone3",
                 err) < 0)
        return -1;
    if (!allow_exec) {
        /* No executable memory after init: the runner is a pure interpreter. */
        if (check_rc(seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(mmap), 1,
                                      SCMP_A2_64(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0)),
                     "mmap", err) < 0 ||
            check_rc(seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(mprotect), 1,
                                      SCMP_A2_64(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0)),
                     "mprotect", err) < 0)
            return -1;
        /* Library code that probes for a file (locale, timezone) gets EACCES instead of a kill;
         * nothing is mounted to open anyway. */
        if (check_rc(seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EACCES), SCMP_SYS(openat), 0), "openat",
                     err) < 0 ||
            check_rc(seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EACCES), SCMP_SYS(open), 0), "open",
                     err) < 0)
            return -1;
        return 0;
    }
    for (size_t i = 0; i < sizeof exec_ioctls / sizeof exec_ioctls[0]; i++)
        if (check_rc(seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(ioctl), 1,
                                      ARG32_EQ(1, exec_ioctls[i])),
                     "ioctl", err) < 0)
            return -1;
    for (size_t i = 0; i < sizeof exec_prctls / sizeof exec_prctls[0]; i++)
        if (check_rc(seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(prctl), 1,
                                      ARG32_EQ(0, exec_prctls[i])),
                     "prctl", err) < 0)
            return -1;
    /* Threads and fork, but no new namespaces (nested user namespaces are a large kernel
     * attack surface). */
    if (check_rc(seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(clone), 1,
                                  SCMP_A0_64(SCMP_CMP_MASKED_EQ, TX_CLONE_NS_MASK, 0)),
                 "clone", err) < 0)
        return -1;
    /* AF_UNIX only. The internet and netlink families get EAFNOSUPPORT rather than a kill:
     * programs probe for IPv6 and glibc's getaddrinfo opens netlink, and both must fail
     * cleanly; there is no network in the sandbox either way. Every other family (packet,
     * AF_ALG, vsock, bluetooth, ...) is killed. */
    if (check_rc(seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(socket), 1, ARG32_EQ(0, AF_UNIX)),
                 "socket", err) < 0 ||
        check_rc(
            seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(socketpair), 1, ARG32_EQ(0, AF_UNIX)),
            "socketpair", err) < 0)
        return -1;
    static const int soft_families[] = {AF_INET, AF_INET6, AF_NETLINK};
    for (size_t i = 0; i < sizeof soft_families / sizeof soft_families[0]; i++)
        if (check_rc(seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EAFNOSUPPORT), SCMP_SYS(socket), 1,
                                      ARG32_EQ(0, soft_families[i])),
                     "socket", err) < 0)
            return -1;
    return 0;
}

/* Builds the filter context for a profile. On success *out owns it (seccomp_release). */
static int build_ctx(int allow_exec, scmp_filter_ctx *out, tx_error *err)
{
    scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_KILL_PROCESS);
    if (ctx == NULL)
        return tx_fail(err, TACTUS_ESYSTEM, "seccomp: cannot create a filter (libseccomp)");
    /* KILL (not the default trap) for foreign arches: x32 and int 0x80 die. */
    if (seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS) < 0 ||
        seccomp_attr_set(ctx, SCMP_FLTATR_CTL_NNP, 1) < 0) {
        seccomp_release(ctx);
        return tx_fail(err, TACTUS_ESYSTEM, "seccomp: cannot set filter attributes");
    }
    for (size_t i = 0; i < sizeof base_syscalls / sizeof base_syscalls[0]; i++)
        if (add_named(ctx, SCMP_ACT_ALLOW, base_syscalls[i], err) < 0)
            goto fail;
    if (allow_exec)
        for (size_t i = 0; i < sizeof exec_syscalls / sizeof exec_syscalls[0]; i++)
            if (add_named(ctx, SCMP_ACT_ALLOW, exec_syscalls[i], err) < 0)
                goto fail;
    if (add_conditional(ctx, allow_exec, err) < 0)
        goto fail;
    *out = ctx;
    return 0;
fail:
    seccomp_release(ctx);
    return -1;
}

int tx_seccomp_install(int allow_exec, tx_error *err)
{
    scmp_filter_ctx ctx;
    if (build_ctx(allow_exec, &ctx, err) < 0)
        return -1;
    /* TSYNC: if the caller has threads, they get the filter too (or the load fails). */
    if (seccomp_attr_set(ctx, SCMP_FLTATR_CTL_TSYNC, 1) < 0) {
        seccomp_release(ctx);
        return tx_fail(err, TACTUS_ESYSTEM, "seccomp: thread sync (TSYNC) unsupported");
    }
    int rc = seccomp_load(ctx);
    seccomp_release(ctx);
    if (rc < 0)
        return tx_fail(err, TACTUS_ESYSTEM,
                       "seccomp: cannot load the filter: %s (kernel without "
                       "CONFIG_SECCOMP_FILTER?)",
                       strerror(-rc));
    return 0;
}

int tx_seccomp_build_bpf(int allow_exec, struct sock_filter **prog, unsigned short *len,
                         tx_error *err)
{
    scmp_filter_ctx ctx;
    if (build_ctx(allow_exec, &ctx, err) < 0)
        return -1;
    int fd = memfd_create("tactus-seccomp", MFD_CLOEXEC);
    if (fd < 0) {
        seccomp_release(ctx);
        return tx_fail(err, TACTUS_ESYSTEM, "seccomp: memfd_create: %s", strerror(errno));
    }
    int rc = seccomp_export_bpf(ctx, fd);
    seccomp_release(ctx);
    if (rc < 0) {
        close(fd);
        return tx_fail(err, TACTUS_ESYSTEM, "seccomp: cannot export the filter: %s", strerror(-rc));
    }
    off_t size = lseek(fd, 0, SEEK_END);
    /* A BPF program has at most BPF_MAXINSNS (4096) instructions. */
    if (size <= 0 || size % (off_t)sizeof(struct sock_filter) != 0 ||
        size / (off_t)sizeof(struct sock_filter) > BPF_MAXINSNS) {
        close(fd);
        return tx_fail(err, TACTUS_ESYSTEM, "seccomp: exported filter has a bad size (%lld)",
                       (long long)size);
    }
    struct sock_filter *p = malloc((size_t)size);
    if (p == NULL) {
        close(fd);
        return tx_fail(err, TACTUS_ESYSTEM, "seccomp: out of memory");
    }
    ssize_t got = pread(fd, p, (size_t)size, 0);
    close(fd);
    if (got != size) {
        free(p);
        return tx_fail(err, TACTUS_ESYSTEM, "seccomp: cannot read the exported filter");
    }
    *prog = p;
    *len = (unsigned short)(size / (off_t)sizeof(struct sock_filter));
    return 0;
}
