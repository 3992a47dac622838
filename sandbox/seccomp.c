/*
 * seccomp.c - the sandbox's system-call allowlists (libseccomp).
 *
 * Two profiles share one builder. The runner profile (allow_exec 0) is what the Lua runner
 * needs after its own setup: memory, time, signals and I/O on fds it already holds. The exec
 * profile (allow_exec 1) adds what ordinary programs need (files, processes, pipes, AF_UNIX).
 * In the runner profile everything else hits the default action KILL_PROCESS, so a violation
 * is a SIGSYS the supervisor can name. The exec profile runs arbitrary programs, which probe
 * and fall back: its default is ERRNO(ENOSYS), privileged calls get EPERM, foreign socket
 * families EAFNOSUPPORT, and only an explicit list of calls that are attacks in themselves
 * (docs/security.md) kills. An errno action never lets the call reach the kernel either.
 *
 * Only the native architecture is in the filter: libseccomp's bad-arch action (KILL) then
 * catches x32 numbers (nr | 0x40000000) and `int 0x80` i386 calls. Never add X86/X32 arches.
 * Integer arguments (ioctl cmd, socket domain, prctl option) are compared on their low 32
 * bits only, as the kernel reads them (CVE-2019-10063: a 64-bit compare let TIOCSTI|1<<32
 * through a denylist). libseccomp 2.5's SCMP_A*_32 macros still compare all 64 bits, so the
 * rules use MASKED_EQ with 0xffffffff (ARG32_EQ below). A syscall with argument rules never
 * gets an unconditional rule too (libseccomp would let the unconditional one win): whatever
 * matches no rule gets the profile's default.
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
#include <linux/fs.h>
#include <sys/socket.h>
#include <sys/stat.h>
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
    /* everyday calls of compilers, interpreters and build tools; each is confined to the
     * sandbox's own processes, files and (for scheduling) its own CPU share */
    "getresuid",
    "getresgid",
    "sched_getparam",
    "sched_getscheduler",
    "sched_get_priority_max",
    "sched_get_priority_min",
    "sched_getattr",
    "sched_setaffinity",
    "ioprio_get",
    "ioprio_set",
    "get_mempolicy",
    "membarrier",
    "mlock",
    "mlock2",
    "munlock",
    "mlockall",
    "munlockall",
    "rt_sigqueueinfo",
    "rt_tgsigqueueinfo",
    "tkill",
    "pidfd_open",
    "pidfd_send_signal",
    "epoll_pwait2",
    "futex_waitv",
    "fchmodat2",
    "sync",
    "syncfs",
    "sync_file_range",
    "setxattr",
    "lsetxattr",
    "fsetxattr",
    "removexattr",
    "lremovexattr",
    "fremovexattr",
    "getxattrat",
    "setxattrat",
    "listxattrat",
    "removexattrat",
    "seccomp",
    "landlock_create_ruleset",
    "landlock_add_rule",
    "landlock_restrict_self",
    "io_setup",
    "io_destroy",
    "io_submit",
    "io_getevents",
    "io_pgetevents",
    "io_cancel",
    "vmsplice",
    "process_madvise",
    "name_to_handle_at",
    /* identity calls: without capabilities (and with securebits locked) the kernel lets a
     * process switch only among its own ids, and setgroups is denied in the user namespace;
     * posix_spawn (make) resets its ids with them */
    "setuid",
    "setgid",
    "setreuid",
    "setregid",
    "setresuid",
    "setresgid",
    "setgroups",
    "setfsuid",
    "setfsgid",
    "capset",
};

/*
 * The exec profile's explicit kill list. Unknown system calls fail with ENOSYS (the
 * profile's default, so that programs fall back as they do under Docker's profile); these
 * die instead, because making them is an attack in itself: kernel interfaces with a record of
 * privilege escalations that no ordinary program in a sandbox needs (keyrings are not even
 * namespaced; io_uring operations bypass seccomp), access to other processes' memory, and
 * everything that rearranges mounts or namespaces. A SIGSYS the supervisor names is the
 * evidence that an attack was tried.
 */
static const char *const exec_kill_syscalls[] = {
    "ptrace",
    "process_vm_readv",
    "process_vm_writev",
    "pidfd_getfd",
    "kcmp",
    "keyctl",
    "add_key",
    "request_key",
    "bpf",
    "io_uring_setup",
    "io_uring_enter",
    "io_uring_register",
    "perf_event_open",
    "userfaultfd",
    "mount",
    "umount2",
    "pivot_root",
    "chroot",
    "unshare",
    "setns",
    "fsopen",
    "fsconfig",
    "fsmount",
    "fspick",
    "move_mount",
    "open_tree",
    "open_tree_attr",
    "mount_setattr",
    "init_module",
    "finit_module",
    "delete_module",
    "kexec_load",
    "kexec_file_load",
    "open_by_handle_at",
    "modify_ldt",
    "iopl",
    "ioperm",
    "uselib",
    "lookup_dcookie",
};

/* Privileged calls that fail with EPERM, the answer the kernel gives an unprivileged caller,
 * so that programs probing them (dropping privileges, setting the clock) take their
 * unprivileged path. None is allowed to reach the kernel. */
static const char *const exec_eperm_syscalls[] = {
    "reboot",
    "swapon",
    "swapoff",
    "clock_settime",
    "clock_adjtime",
    "settimeofday",
    "adjtimex",
    "sethostname",
    "setdomainname",
    "syslog",
    "acct",
    "quotactl",
    "quotactl_fd",
    "vhangup",
    "mbind",
    "set_mempolicy",
    "migrate_pages",
    "move_pages",
    "sched_setscheduler",
    "sched_setparam",
    "sched_setattr",
    "personality",
};

/* ioctl commands a program may use on its own stdio; compared as 32-bit values. Everything
 * else (TIOCSTI, TIOCLINUX, device ioctls) is killed. */
static const unsigned long runner_ioctls[] = {TCGETS,  TIOCGWINSZ, FIONREAD,
                                              FIONBIO, FIOCLEX,    FIONCLEX};
static const unsigned long exec_ioctls[] = {TCSETS,    TCSETSW,      TCSETSF,    TIOCGPGRP,
                                            TIOCSPGRP, TCFLSH,       TIOCSWINSZ, TIOCGSID,
                                            FICLONE,   FICLONERANGE, FIOASYNC};
/* ioctls that are attacks in themselves in the exec profile: pushing input into a terminal,
 * the console and line-discipline interfaces. Other commands fail with ENOSYS (the default). */
static const unsigned long exec_kill_ioctls[] = {TIOCSTI, TIOCLINUX, TIOCCONS, TIOCSETD};

/* prctl options a program may use; others (PR_SET_DUMPABLE, PR_SET_MM, PR_SET_PTRACER, ...)
 * are killed. */
static const int exec_prctls[] = {
    PR_SET_NAME,
    PR_GET_NAME,
    PR_SET_PDEATHSIG,
    PR_GET_PDEATHSIG,
    PR_GET_DUMPABLE,
    PR_SET_NO_NEW_PRIVS,
    PR_GET_NO_NEW_PRIVS,
    PR_CAPBSET_READ,
    PR_GET_SECUREBITS,
    PR_GET_KEEPCAPS,
    PR_SET_SECCOMP,
    PR_GET_SECCOMP,
    PR_SET_CHILD_SUBREAPER,
    PR_GET_CHILD_SUBREAPER,
    PR_GET_TIMERSLACK,
    PR_SET_TIMERSLACK,
    PR_GET_THP_DISABLE,
    PR_SET_THP_DISABLE,
    PR_GET_SPECULATION_CTRL,
    PR_GET_TID_ADDRESS,
#ifdef PR_SET_VMA
    PR_SET_VMA,
#endif
};
/* prctl options that weaken the sandbox's own protections (dumpable again, so that another
 * sandboxed process could read this one's memory; rewriting the memory map's metadata;
 * ptracer exceptions; securebits and ambient capabilities): killed. Other options fail with
 * ENOSYS (the default). */
static const int exec_kill_prctls[] = {PR_SET_DUMPABLE, PR_SET_MM, PR_SET_PTRACER,
                                       PR_SET_SECUREBITS, PR_CAP_AMBIENT};

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
    if (!allow_exec && check_rc(seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0),
                                "clone3", err) < 0)
        return -1; /* (the exec profile's default action is ENOSYS already) */
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
    for (size_t i = 0; i < sizeof exec_kill_ioctls / sizeof exec_kill_ioctls[0]; i++)
        if (check_rc(seccomp_rule_add(ctx, SCMP_ACT_KILL_PROCESS, SCMP_SYS(ioctl), 1,
                                      ARG32_EQ(1, exec_kill_ioctls[i])),
                     "ioctl", err) < 0)
            return -1;
    for (size_t i = 0; i < sizeof exec_prctls / sizeof exec_prctls[0]; i++)
        if (check_rc(seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(prctl), 1,
                                      ARG32_EQ(0, exec_prctls[i])),
                     "prctl", err) < 0)
            return -1;
    for (size_t i = 0; i < sizeof exec_kill_prctls / sizeof exec_kill_prctls[0]; i++)
        if (check_rc(seccomp_rule_add(ctx, SCMP_ACT_KILL_PROCESS, SCMP_SYS(prctl), 1,
                                      ARG32_EQ(0, exec_kill_prctls[i])),
                     "prctl", err) < 0)
            return -1;
    /* Threads and fork, but no new namespaces (nested user namespaces are a large kernel
     * attack surface): a clone with any namespace flag is killed. The rules are disjoint. */
    if (check_rc(seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(clone), 1,
                                  SCMP_A0_64(SCMP_CMP_MASKED_EQ, TX_CLONE_NS_MASK, 0)),
                 "clone", err) < 0)
        return -1;
    static const unsigned long ns_flags[] = {CLONE_NEWNS,  CLONE_NEWCGROUP, CLONE_NEWUTS,
                                             CLONE_NEWIPC, CLONE_NEWUSER,   CLONE_NEWPID,
                                             CLONE_NEWNET};
    for (size_t i = 0; i < sizeof ns_flags / sizeof ns_flags[0]; i++)
        if (check_rc(seccomp_rule_add(ctx, SCMP_ACT_KILL_PROCESS, SCMP_SYS(clone), 1,
                                      SCMP_A0_64(SCMP_CMP_MASKED_EQ, ns_flags[i], ns_flags[i])),
                     "clone", err) < 0)
            return -1;
    /* AF_UNIX only. Every other family gets EAFNOSUPPORT, the kernel's own answer for a
     * family it lacks: programs probe for IPv6 and glibc's getaddrinfo opens netlink, and
     * both must fail cleanly. The call never reaches the family's code. */
    if (check_rc(seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(socket), 1, ARG32_EQ(0, AF_UNIX)),
                 "socket", err) < 0 ||
        check_rc(
            seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(socketpair), 1, ARG32_EQ(0, AF_UNIX)),
            "socketpair", err) < 0)
        return -1;
    for (int family = 0; family < AF_MAX; family++) {
        if (family == AF_UNIX)
            continue;
        if (check_rc(seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EAFNOSUPPORT), SCMP_SYS(socket), 1,
                                      ARG32_EQ(0, family)),
                     "socket", err) < 0 ||
            check_rc(seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EAFNOSUPPORT), SCMP_SYS(socketpair), 1,
                                      ARG32_EQ(0, family)),
                     "socketpair", err) < 0)
            return -1;
    }
    /* FIFOs and sockets may be created (mkfifo); device nodes get EPERM, as the kernel
     * answers without CAP_MKNOD (every mount is nodev anyway). */
    static const unsigned int node_types[] = {S_IFIFO, S_IFSOCK, S_IFREG, 0};
    for (size_t i = 0; i < sizeof node_types / sizeof node_types[0]; i++)
        if (check_rc(seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(mknodat), 1,
                                      SCMP_A2_64(SCMP_CMP_MASKED_EQ, S_IFMT, node_types[i])),
                     "mknodat", err) < 0 ||
            check_rc(seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(mknod), 1,
                                      SCMP_A1_64(SCMP_CMP_MASKED_EQ, S_IFMT, node_types[i])),
                     "mknod", err) < 0)
            return -1;
    static const unsigned int dev_types[] = {S_IFCHR, S_IFBLK};
    for (size_t i = 0; i < sizeof dev_types / sizeof dev_types[0]; i++)
        if (check_rc(seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(mknodat), 1,
                                      SCMP_A2_64(SCMP_CMP_MASKED_EQ, S_IFMT, dev_types[i])),
                     "mknodat", err) < 0 ||
            check_rc(seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(mknod), 1,
                                      SCMP_A1_64(SCMP_CMP_MASKED_EQ, S_IFMT, dev_types[i])),
                     "mknod", err) < 0)
            return -1;
    /* sysinfo stays out of the allowlist (ENOSYS, the default): host memory size, load and
     * uptime are nobody's business inside; libc falls back (sysconf(_SC_PHYS_PAGES) fails,
     * GNU sort guesses a buffer size). */
    return 0;
}

/* Builds the filter context for a profile. On success *out owns it (seccomp_release). */
static int build_ctx(int allow_exec, scmp_filter_ctx *out, tx_error *err)
{
    /* The runner is our own code with a known set of calls: anything else is an attack. The
     * exec profile runs arbitrary programs: unknown calls fail with ENOSYS, attacks die. */
    scmp_filter_ctx ctx = seccomp_init(allow_exec ? SCMP_ACT_ERRNO(ENOSYS) : SCMP_ACT_KILL_PROCESS);
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
    if (allow_exec) {
        for (size_t i = 0; i < sizeof exec_syscalls / sizeof exec_syscalls[0]; i++)
            if (add_named(ctx, SCMP_ACT_ALLOW, exec_syscalls[i], err) < 0)
                goto fail;
        for (size_t i = 0; i < sizeof exec_kill_syscalls / sizeof exec_kill_syscalls[0]; i++)
            if (add_named(ctx, SCMP_ACT_KILL_PROCESS, exec_kill_syscalls[i], err) < 0)
                goto fail;
        for (size_t i = 0; i < sizeof exec_eperm_syscalls / sizeof exec_eperm_syscalls[0]; i++)
            if (add_named(ctx, SCMP_ACT_ERRNO(EPERM), exec_eperm_syscalls[i], err) < 0)
                goto fail;
    }
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
