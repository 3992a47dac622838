/*
 * probe.c - the escape suite's attacker: simulated post-exploitation code that runs inside the
 * sandbox (like bubblewrap's tests/try-syscall.c).
 *
 *   probe CASE [ARG...]
 *
 * Each case makes one attack and exits with the errno that stopped it, or 0 if the attack
 * went through (for "check" cases, 0 means the property holds; see each case). A seccomp
 * block shows as death by SIGSYS instead. Arguments are bad pointers or harmless values
 * wherever possible, so that even a sandbox regression cannot hurt the machine: reboot uses a
 * wrong magic, clock_settime sets the time it just read, init_module gets an empty image.
 * Never run it outside the sandbox (the driver never does).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <linux/reboot.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/shm.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/sysinfo.h>
#include <sys/sysmacros.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

/* Exits with errno if rc < 0, else 0 (the call went through). */
static int result(long rc)
{
    return rc < 0 ? errno : 0;
}

static int net_inet(const char *port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return errno;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(port))};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return result(connect(fd, (struct sockaddr *)&a, sizeof a));
}

static int net_abstract(const char *name)
{
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    if (fd < 0)
        return errno;
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    size_t n = strlen(name);
    if (n + 1 > sizeof a.sun_path)
        return EINVAL;
    memcpy(a.sun_path + 1, name, n);
    return result(connect(fd, (struct sockaddr *)&a, (socklen_t)(sizeof(sa_family_t) + 1 + n)));
}

/* 0 if NAME is in the environment (a leak), ENOENT if not. */
static int env_leak(const char *name)
{
    size_t n = strlen(name);
    for (char **e = environ; e != NULL && *e != NULL; e++)
        if (strncmp(*e, name, n) == 0 && (*e)[n] == '=')
            return 0;
    return ENOENT;
}

/* Tries to signal the host sentinel, then everything it can see. 0 only if the sentinel
 * was reachable. */
static int kill_host(const char *pid)
{
    int rc = result(kill((pid_t)atoi(pid), SIGKILL));
    (void)kill(-1, SIGKILL);
    return rc;
}

static int fork_bomb(void)
{
    int refused = 0;
    for (int i = 0; i < 100000; i++) {
        pid_t p = fork();
        if (p == 0) {
            for (;;)
                pause();
        }
        if (p < 0 && ++refused > 100)
            return errno;
    }
    return 0;
}

static int mem_bomb(void)
{
    for (size_t total = 0; total < ((size_t)64 << 30); total += 1 << 20) {
        char *p = malloc(1 << 20);
        if (p == NULL)
            return ENOMEM;
        memset(p, 0x5a, 1 << 20);
    }
    return 0;
}

/* One file grows until something stops it (file_size: SIGXFSZ). */
static int disk_fill(const char *path)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0)
        return errno;
    static char buf[1 << 16];
    memset(buf, 'x', sizeof buf);
    for (long i = 0; i < (1L << 20); i++)
        if (write(fd, buf, sizeof buf) < 0)
            return errno;
    return 0;
}

/* Many files each below file_size, until /tmp is full (ENOSPC at the tmp limit). */
static int tmp_fill(void)
{
    static char buf[1 << 16];
    memset(buf, 'y', sizeof buf);
    for (int f = 0; f < 100000; f++) {
        char name[64];
        snprintf(name, sizeof name, "/tmp/fill%d", f);
        int fd = open(name, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (fd < 0)
            return errno;
        for (int i = 0; i < 16; i++)
            if (write(fd, buf, sizeof buf) < 0) {
                int e = errno;
                close(fd);
                return e;
            }
        close(fd);
    }
    return 0;
}

static int fd_exhaust(void)
{
    for (int i = 0; i < 1000000; i++)
        if (open("/dev/null", O_RDONLY) < 0)
            return errno;
    return 0;
}

/* Number of open fds >= 3 (0 expected unless the driver kept one). */
static int fd_scan(void)
{
    int open_fds = 0;
    for (int fd = 3; fd < 4096; fd++)
        if (fcntl(fd, F_GETFD) >= 0)
            open_fds++;
    return open_fds;
}

/* 0 if: no capabilities at all, no_new_privs, and (when arg says so) seccomp filter mode. */
static int privs(const char *want_seccomp)
{
    struct __user_cap_header_struct h = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
    struct __user_cap_data_struct d[2];
    if (syscall(SYS_capget, &h, d) < 0)
        return errno;
    for (int i = 0; i < 2; i++)
        if (d[i].effective || d[i].permitted || d[i].inheritable)
            return 101;
    if (prctl(PR_CAPBSET_READ, CAP_SYS_ADMIN, 0, 0, 0) != 0)
        return 102;
    if (prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) != 1)
        return 103;
    if (want_seccomp != NULL && atoi(want_seccomp) && prctl(PR_GET_SECCOMP, 0, 0, 0, 0) != 2)
        return 104;
    return 0;
}

/* 0 if every given path is on a read-only mount (ST_RDONLY), else 105, or the errno. */
static int readonly(int argc, char **argv)
{
    for (int i = 0; i < argc; i++) {
        struct statvfs sv;
        if (statvfs(argv[i], &sv) < 0)
            return errno;
        if (!(sv.f_flag & ST_RDONLY))
            return 105;
    }
    return 0;
}

/* 0 if none of the host paths exist inside, else 106. */
static int host_paths(void)
{
    static const char *const paths[] = {
        "/proc", "/sys",     "/home",     "/root",    "/etc/passwd", "/etc/shadow", "/var",
        "/run",  "/dev/mem", "/dev/kmsg", "/dev/tty", "/dev/ptmx",   "/dev/shm",    "/.oldroot"};
    for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
        struct stat st;
        if (lstat(paths[i], &st) == 0) {
            fprintf(stderr, "probe: host path visible: %s\n", paths[i]);
            return 106;
        }
    }
    return 0;
}

static int x32_call(void)
{
    return result(syscall(SYS_getpid | 0x40000000));
}

static int int80_call(void)
{
    long ret;
    /* i386 getpid is 20. */
    __asm__ volatile("int $0x80" : "=a"(ret) : "a"(20L) : "memory");
    if (ret < 0) {
        errno = (int)-ret;
        return errno;
    }
    return 0;
}

static int clock_set(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return result(clock_settime(CLOCK_REALTIME, &ts));
}

/* Sets O_NONBLOCK on its stdio, then writes to stdout and stderr (0, or the errno). */
static int nonblock(void)
{
    for (int fd = 0; fd < 3; fd++) {
        int fl = fcntl(fd, F_GETFL);
        if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
            return errno;
    }
    if (write(1, "out\n", 4) != 4 || write(2, "err\n", 4) != 4)
        return errno;
    return 0;
}

/* Tries to change the caller's terminal through its stdio: raw mode, window size, flushing
 * typed-ahead input. 0 if any of it worked on any of fds 0-2, else the last errno. */
static int tty_attack(void)
{
    int e = 0, worked = 0;
    for (int fd = 0; fd < 3; fd++) {
        struct termios t;
        if (tcgetattr(fd, &t) == 0) {
            cfmakeraw(&t);
            worked |= tcsetattr(fd, TCSANOW, &t) == 0;
        }
        e = errno;
        struct winsize ws = {.ws_row = 7, .ws_col = 13};
        worked |= ioctl(fd, TIOCSWINSZ, &ws) == 0;
        worked |= tcflush(fd, TCIOFLUSH) == 0;
    }
    return worked ? 0 : e;
}

/* Writes lines "o1".."oN" to stdout and "e1".."eN" to stderr (stdio buffered). */
static int lines(const char *count)
{
    long n = atol(count);
    for (long i = 1; i <= n; i++) {
        printf("o%ld\n", i);
        fprintf(stderr, "e%ld\n", i);
    }
    return fflush(stdout) == 0 && fflush(stderr) == 0 ? 0 : errno;
}

static int usage(void)
{
    fprintf(stderr, "usage: probe CASE [ARG...]\n");
    return 64;
}

int main(int argc, char **argv)
{
    if (argc < 2)
        return usage();
    const char *c = argv[1];
    const char *a = argc > 2 ? argv[2] : NULL;
    if (strcmp(c, "true") == 0)
        return 0;
    if (strcmp(c, "net-inet") == 0 && a)
        return net_inet(a);
    if (strcmp(c, "net-abstract") == 0 && a)
        return net_abstract(a);
    if (strcmp(c, "read") == 0 && a)
        return result(open(a, O_RDONLY));
    if (strcmp(c, "write") == 0 && a)
        return result(open(a, O_WRONLY | O_CREAT, 0644));
    if (strcmp(c, "env") == 0 && a)
        return env_leak(a);
    if (strcmp(c, "proc") == 0)
        return result(open("/proc/1/environ", O_RDONLY));
    if (strcmp(c, "proc-sys") == 0)
        return result(open("/proc/sys/kernel/hostname", O_WRONLY));
    if (strcmp(c, "ptrace") == 0)
        return result(ptrace(PTRACE_ATTACH, 1, NULL, NULL));
    if (strcmp(c, "kill") == 0 && a)
        return kill_host(a);
    if (strcmp(c, "mount") == 0)
        return result(mount("none", "/tmp", "tmpfs", 0, NULL));
    if (strcmp(c, "unshare") == 0)
        return result(unshare(CLONE_NEWUSER));
    if (strcmp(c, "clone-ns") == 0)
        return result(syscall(SYS_clone, CLONE_NEWUSER | SIGCHLD, 0, 0, 0, 0));
    if (strcmp(c, "clone3") == 0)
        return result(syscall(SYS_clone3, NULL, 0));
    if (strcmp(c, "setns") == 0)
        return result(setns(0, CLONE_NEWNET));
    if (strcmp(c, "keyctl") == 0)
        return result(syscall(SYS_keyctl, 0 /* KEYCTL_GET_KEYRING_ID */, -3, 0));
    if (strcmp(c, "bpf") == 0)
        return result(syscall(SYS_bpf, 5 /* BPF_PROG_LOAD */, NULL, 0));
    if (strcmp(c, "io_uring") == 0)
        return result(syscall(SYS_io_uring_setup, 1, NULL));
    if (strcmp(c, "perf") == 0)
        return result(syscall(SYS_perf_event_open, NULL, 0, -1, -1, 0));
    if (strcmp(c, "userfaultfd") == 0)
        return result(syscall(SYS_userfaultfd, 0));
    if (strcmp(c, "x32") == 0)
        return x32_call();
    if (strcmp(c, "int80") == 0)
        return int80_call();
    if (strcmp(c, "fork-bomb") == 0)
        return fork_bomb();
    if (strcmp(c, "mem-bomb") == 0)
        return mem_bomb();
    if (strcmp(c, "disk-fill") == 0)
        return disk_fill(a ? a : "/tmp/fill");
    if (strcmp(c, "tmp-fill") == 0)
        return tmp_fill();
    if (strcmp(c, "fd-exhaust") == 0)
        return fd_exhaust();
    if (strcmp(c, "fd-scan") == 0)
        return fd_scan();
    if (strcmp(c, "fd-check") == 0 && a)
        return result(fcntl(atoi(a), F_GETFD));
    if (strcmp(c, "spin") == 0)
        for (;;)
            __asm__ volatile("" ::: "memory");
    if (strcmp(c, "mknod") == 0)
        return result(mknod("/tmp/null", S_IFCHR | 0666, makedev(1, 3)));
    if (strcmp(c, "nonblock") == 0)
        return nonblock();
    if (strcmp(c, "tty-attack") == 0)
        return tty_attack();
    if (strcmp(c, "lines") == 0 && a)
        return lines(a);
    if (strcmp(c, "segv") == 0) {
        volatile int *p = NULL;
        *p = 1;
        return 0;
    }
    if (strcmp(c, "mkfifo") == 0)
        return result(mkfifo("/tmp/fifo", 0600));
    if (strcmp(c, "sysinfo") == 0) {
        struct sysinfo si;
        memset(&si, 0, sizeof si);
        if (sysinfo(&si) < 0)
            return errno;
        return si.totalram != 0 || si.uptime != 0 ? 107 : 0;
    }
    if (strcmp(c, "clock_settime") == 0)
        return clock_set();
    if (strcmp(c, "reboot") == 0)
        return result(syscall(SYS_reboot, 0, 0, LINUX_REBOOT_CMD_CAD_OFF, NULL));
    if (strcmp(c, "init_module") == 0)
        return result(syscall(SYS_init_module, NULL, 0, ""));
    if (strcmp(c, "open_by_handle_at") == 0)
        return result(syscall(SYS_open_by_handle_at, AT_FDCWD, NULL, O_RDONLY));
    if (strcmp(c, "process_vm_readv") == 0) {
        char buf[8];
        struct iovec l = {buf, sizeof buf}, r = {(void *)0x1000, sizeof buf};
        return result(process_vm_readv(1, &l, 1, &r, 1, 0));
    }
    if (strcmp(c, "sethostname") == 0)
        return result(sethostname("pwned", 5));
    if (strcmp(c, "tiocsti") == 0) {
        char ch = 'x';
        return result(ioctl(0, TIOCSTI, &ch));
    }
    if (strcmp(c, "tiocsti-high") == 0) {
        char ch = 'x';
        return result(syscall(SYS_ioctl, 0, (0x123UL << 32) | TIOCSTI, &ch));
    }
    if (strcmp(c, "chroot") == 0)
        return result(chroot("/tmp"));
    if (strcmp(c, "shmget") == 0)
        return result(shmget(0x7ac7, 4096, IPC_CREAT | 0600));
    if (strcmp(c, "privs") == 0)
        return privs(a);
    if (strcmp(c, "readonly") == 0)
        return readonly(argc - 2, argv + 2);
    if (strcmp(c, "host-paths") == 0)
        return host_paths();
    if (strcmp(c, "exit") == 0 && a)
        return atoi(a);
    if (strcmp(c, "signal") == 0 && a) {
        raise(atoi(a));
        return 0;
    }
    return usage();
}
