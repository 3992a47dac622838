/*
 * stdio.c - child: the worker's standard streams, relayed by init.
 *
 * The worker never holds the caller's stdin, stdout or stderr. Sharing them would share the
 * caller's open file descriptions: a sandboxed program could set O_NONBLOCK on the caller's
 * pipe (it persists after the run and breaks the next writer), change or flush the caller's
 * terminal, resize its window, seek or truncate a log file it was redirected to. Instead the
 * worker gets pipes (stdin: /dev/null when the policy asks for it or the caller's stdin is a
 * terminal) and init, which runs no untrusted code, copies between those pipes and the
 * caller's descriptors until the worker has ended, then drains what it wrote.
 *
 * Init also holds the kept descriptors (the runner's broker socket) until it has reported
 * the worker's status: a supervisor that waits for EOF on that socket and then kills the
 * sandbox therefore cannot lose the worker's real termination status.
 *
 * Async-signal-safe: only system calls, no allocation.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include "sandbox_int.h"

/* What init copies after the worker has ended, at most (a background process that keeps
 * writing must not keep init alive). */
#define TX_SB_DRAIN_MAX (1 << 20)

/* child: true if fd is open. */
static int fd_open(int fd)
{
    return fcntl(fd, F_GETFD) >= 0;
}

/* child: true if fd is a terminal (TCGETS succeeds). */
static int is_terminal(int fd)
{
    struct termios t;
    return ioctl(fd, TCGETS, &t) == 0;
}

/* child: true if fds a and b are the same file (2>&1: one pipe keeps their order). */
static int same_file(int a, int b)
{
    struct stat sa, sb;
    return fstat(a, &sa) == 0 && fstat(b, &sb) == 0 && sa.st_dev == sb.st_dev &&
           sa.st_ino == sb.st_ino;
}

/* child: a pipe, both ends >= 3 and close-on-exec; fails via errfd. */
static void make_pipe(int p[2], int errfd)
{
    if (pipe2(p, O_CLOEXEC) < 0)
        tx_sb_child_fail(errfd, "pipe for the worker's stdio", "", errno);
}

void tx_sb_child_stdio_prepare(const tx_sb_plan *plan, tx_sb_stdio *io, int errfd)
{
    memset(io, 0, sizeof *io);
    for (int i = 0; i < 3; i++)
        io->relay[i].from = io->relay[i].to = -1;
    int null_fd = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (null_fd < 0)
        tx_sb_child_fail(errfd, "open /dev/null for the worker's stdio", "", errno);
    /* A closed caller fd becomes /dev/null, so that no pipe lands on 0-2 by accident. */
    for (int i = 0; i < 3; i++)
        if (!fd_open(i) && dup2(null_fd, i) < 0)
            tx_sb_child_fail(errfd, "dup2 /dev/null", "", errno);
    if (null_fd < 3) {
        int moved = fcntl(null_fd, F_DUPFD_CLOEXEC, 3);
        if (moved < 0)
            tx_sb_child_fail(errfd, "fcntl F_DUPFD_CLOEXEC", "", errno);
        null_fd = moved; /* the low copy stays as the caller's (closed) stdio */
    }
    io->null_fd = null_fd;
    int p[2];
    if (plan->stdin_null || is_terminal(0)) {
        io->worker[0] = null_fd;
    } else {
        make_pipe(p, errfd);
        io->worker[0] = p[0];
        io->relay[0] = (tx_sb_relay){.from = 0, .to = p[1], .open = 1};
    }
    make_pipe(p, errfd);
    io->worker[1] = p[1];
    io->relay[1] = (tx_sb_relay){.from = p[0], .to = 1, .open = 1};
    if (same_file(1, 2)) {
        io->worker[2] = p[1];
    } else {
        make_pipe(p, errfd);
        io->worker[2] = p[1];
        io->relay[2] = (tx_sb_relay){.from = p[0], .to = 2, .open = 1};
    }
}

void tx_sb_child_stdio_worker(const tx_sb_stdio *io, int errfd)
{
    for (int i = 0; i < 3; i++)
        if (dup2(io->worker[i], i) < 0)
            tx_sb_child_fail(errfd, "dup2 the worker's stdio", "", errno);
}

void tx_sb_child_stdio_init_side(tx_sb_stdio *io)
{
    /* Close the worker's ends (and /dev/null); ours become non-blocking, the caller's stay as
     * they are (we never change the caller's file status flags). */
    for (int i = 0; i < 3; i++) {
        int w = io->worker[i];
        int dup_of_earlier = (i > 0 && w == io->worker[i - 1]) || (i > 1 && w == io->worker[0]);
        if (w >= 3 && w != io->null_fd && !dup_of_earlier)
            close(w);
    }
    for (int i = 0; i < 3; i++)
        io->worker[i] = -1;
    close(io->null_fd);
    io->null_fd = -1;
    if (io->relay[0].open)
        (void)fcntl(io->relay[0].to, F_SETFL, O_NONBLOCK);
    for (int i = 1; i < 3; i++)
        if (io->relay[i].open)
            (void)fcntl(io->relay[i].from, F_SETFL, O_NONBLOCK);
}

/* child: ends relay r; for stdin that closes the worker's pipe, so that it sees EOF. */
static void relay_close(tx_sb_relay *r, int is_stdin)
{
    if (!r->open)
        return;
    r->open = 0;
    r->len = r->off = 0;
    if (is_stdin)
        close(r->to);
    else
        close(r->from);
}

/* child: one step of relay r given its poll results. */
static void relay_step(tx_sb_relay *r, short from_ev, short to_ev, int is_stdin)
{
    if (!r->open)
        return;
    if (r->len == 0 && (from_ev & (POLLIN | POLLHUP | POLLERR))) {
        ssize_t n = read(r->from, r->buf, sizeof r->buf);
        if (n > 0) {
            r->len = (size_t)n;
            r->off = 0;
        } else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
            relay_close(r, is_stdin);
        }
        return;
    }
    if (r->len > 0 && (to_ev & (POLLOUT | POLLHUP | POLLERR))) {
        ssize_t n = write(r->to, r->buf + r->off, r->len - r->off);
        if (n > 0) {
            r->off += (size_t)n;
            if (r->off == r->len)
                r->len = r->off = 0;
        } else if (n < 0 && errno != EAGAIN && errno != EINTR) {
            relay_close(r, is_stdin); /* EPIPE: the reader is gone; drop the rest */
        }
    }
}

/* child: writes all of buf to fd (which may be non-blocking), waiting as needed. Returns 0,
 * or -1 if fd is gone. */
static int write_all(int fd, const char *buf, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, buf, len);
        if (n > 0) {
            buf += n;
            len -= (size_t)n;
        } else if (n < 0 && errno == EAGAIN) {
            struct pollfd p = {.fd = fd, .events = POLLOUT};
            if (poll(&p, 1, -1) < 0 && errno != EINTR)
                return -1;
        } else if (n < 0 && errno == EINTR) {
            continue;
        } else {
            return -1;
        }
    }
    return 0;
}

/* child: after the worker ended, copies what is left in an output relay (bounded). */
static void relay_drain(tx_sb_relay *r)
{
    if (!r->open)
        return;
    size_t copied = 0;
    if (r->len > 0 && write_all(r->to, r->buf + r->off, r->len - r->off) < 0) {
        relay_close(r, 0);
        return;
    }
    while (copied < TX_SB_DRAIN_MAX) {
        ssize_t n = read(r->from, r->buf, sizeof r->buf);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0 || write_all(r->to, r->buf, (size_t)n) < 0)
            break;
        copied += (size_t)n;
    }
    relay_close(r, 0);
}

int tx_sb_child_relay(tx_sb_stdio *io, pid_t worker, const sigset_t *chld)
{
    int sfd = signalfd(-1, chld, SFD_CLOEXEC | SFD_NONBLOCK);
    for (;;) {
        int st = 0;
        pid_t r;
        /* Reap every orphan the pid namespace hands us; the worker's status ends the loop. */
        while ((r = waitpid(-1, &st, WNOHANG)) > 0)
            if (r == worker) {
                if (sfd >= 0)
                    close(sfd);
                relay_close(&io->relay[0], 1);
                relay_drain(&io->relay[1]);
                relay_drain(&io->relay[2]);
                return st;
            }
        if (r < 0 && errno == ECHILD)
            return -1;
        struct pollfd p[7];
        int idx[3][2];
        nfds_t n = 0;
        if (sfd >= 0)
            p[n++] = (struct pollfd){.fd = sfd, .events = POLLIN};
        for (int i = 0; i < 3; i++) {
            tx_sb_relay *rl = &io->relay[i];
            idx[i][0] = idx[i][1] = -1;
            if (!rl->open)
                continue;
            if (rl->len == 0) {
                idx[i][0] = (int)n;
                p[n++] = (struct pollfd){.fd = rl->from, .events = POLLIN};
            } else {
                idx[i][1] = (int)n;
                p[n++] = (struct pollfd){.fd = rl->to, .events = POLLOUT};
            }
        }
        /* Without a signalfd, wake up now and then to reap. */
        int rc = poll(p, n, sfd >= 0 ? -1 : 100);
        if (rc < 0 && errno != EINTR)
            return -1;
        if (rc <= 0)
            continue;
        if (sfd >= 0 && (p[0].revents & POLLIN)) {
            struct signalfd_siginfo si;
            while (read(sfd, &si, sizeof si) == (ssize_t)sizeof si)
                ;
        }
        for (int i = 0; i < 3; i++)
            relay_step(&io->relay[i], idx[i][0] >= 0 ? p[idx[i][0]].revents : 0,
                       idx[i][1] >= 0 ? p[idx[i][1]].revents : 0, i == 0);
    }
}
