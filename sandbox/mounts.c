/*
 * mounts.c - child: builds the sandbox's root filesystem and pivots into it.
 *
 * Every source is first cloned with open_tree(OPEN_TREE_CLONE|AT_RECURSIVE) and made
 * read-only / nosuid / nodev with mount_setattr(AT_RECURSIVE) while still detached, so the
 * flags apply to submounts too (a plain MS_BIND ignores MS_RDONLY and a remount only touches
 * the top mount). Only then is the new root's tmpfs mounted at TX_SB_STAGE and the clones
 * attached inside it with move_mount. pivot_root(".", ".") plus a lazy unmount drops the host
 * root entirely; nothing of it stays reachable. Needs Linux 5.12 (mount_setattr).
 *
 * Async-signal-safe: only system calls and the bounded helpers from sandbox.c.
 */
#include <errno.h>
#include <fcntl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "mount_api.h"
#include "sandbox_int.h"

/* Size of the new root's own tmpfs: it only holds mount points and links, and is remounted
 * read-only before any untrusted code runs. */
#define ROOT_TMPFS_OPTS "mode=0755,size=1m,nr_inodes=4096"
#define DEV_TMPFS_OPTS "mode=0755,size=64k,nr_inodes=64"

/* child: STAGE + path into buf, or fail. */
static void staged(char *buf, size_t cap, const char *path, int errfd)
{
    buf[0] = '\0';
    if (tx_sb_strcat(buf, cap, TX_SB_STAGE) < 0 || tx_sb_strcat(buf, cap, path) < 0)
        tx_sb_child_fail(errfd, "path too long: ", path, ENAMETOOLONG);
}

/* child: creates every missing parent directory of path (which is inside the new root). */
static void make_parents(const char *path, int errfd)
{
    char buf[TX_SB_PATH + 16];
    size_t len = 0;
    while (len < sizeof buf - 1 && path[len] != '\0') {
        buf[len] = path[len];
        len++;
    }
    buf[len] = '\0';
    for (size_t i = 1; i < len; i++) {
        if (buf[i] != '/')
            continue;
        buf[i] = '\0';
        if (mkdir(buf, 0755) < 0 && errno != EEXIST)
            tx_sb_child_fail(errfd, "mkdir ", buf, errno);
        buf[i] = '/';
    }
}

/* child: clones b->source as a detached tree with the sandbox's mount flags; returns its fd. */
static int clone_source(const tx_sb_bind *b, int errfd)
{
    int fd = (int)syscall(SYS_open_tree, AT_FDCWD, b->source,
                          OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_RECURSIVE);
    if (fd < 0)
        tx_sb_child_fail(errfd,
                         errno == ENOSYS ? "open_tree (needs Linux 5.2+) for " : "open_tree ",
                         b->source, errno);
    struct mount_attr attr = {0};
    /* Devices keep dev (else /dev/null is unusable) but lose exec; everything else is nodev. */
    attr.attr_set = MOUNT_ATTR_NOSUID | (b->device ? MOUNT_ATTR_NOEXEC : MOUNT_ATTR_NODEV) |
                    (b->read_only ? MOUNT_ATTR_RDONLY : 0);
    if (syscall(SYS_mount_setattr, fd, "", AT_EMPTY_PATH | AT_RECURSIVE, &attr, sizeof attr) < 0)
        tx_sb_child_fail(
            errfd, errno == ENOSYS ? "mount_setattr (needs Linux 5.12+) for " : "mount_setattr ",
            b->source, errno);
    return fd;
}

/* child: creates the mount point for b under the stage and attaches tree fd there. */
static void attach(const tx_sb_bind *b, int fd, int errfd)
{
    char path[TX_SB_PATH + 16];
    staged(path, sizeof path, b->target, errfd);
    make_parents(path, errfd);
    if (b->is_dir) {
        if (mkdir(path, 0755) < 0 && errno != EEXIST)
            tx_sb_child_fail(errfd, "mkdir ", path, errno);
    } else {
        int f = open(path, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
        if (f < 0)
            tx_sb_child_fail(errfd, "create mount point ", path, errno);
        close(f);
    }
    if (syscall(SYS_move_mount, fd, "", AT_FDCWD, path, MOVE_MOUNT_F_EMPTY_PATH) < 0)
        tx_sb_child_fail(errfd, "move_mount to ", b->target, errno);
    close(fd);
}

/* child: mounts a fresh tmpfs at path with flags and options. */
static void mount_tmpfs(const char *path, unsigned long flags, const char *opts, int errfd)
{
    if (mkdir(path, 0755) < 0 && errno != EEXIST)
        tx_sb_child_fail(errfd, "mkdir ", path, errno);
    if (mount("tmpfs", path, "tmpfs", flags, opts) < 0)
        tx_sb_child_fail(errfd, "mount tmpfs at ", path, errno);
}

void tx_sb_child_clone_sources(const tx_sb_plan *plan, int *fds, int errfd)
{
    /* Nothing we mount may propagate back to the host's mount namespace. */
    if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
        tx_sb_child_fail(errfd, "make / private (MS_REC|MS_PRIVATE)", "", errno);
    for (size_t i = 0; i < plan->nbinds; i++)
        fds[i] = (int)i == plan->ws_index && plan->ws_tree_fd >= 0
                     ? plan->ws_tree_fd
                     : clone_source(&plan->binds[i], errfd);
}

void tx_sb_child_build_root(const tx_sb_plan *plan, int *fds, int errfd)
{
    char path[TX_SB_PATH + 16];

    mount_tmpfs(TX_SB_STAGE, MS_NOSUID | MS_NODEV, ROOT_TMPFS_OPTS, errfd);
    staged(path, sizeof path, "/dev", errfd);
    mount_tmpfs(path, MS_NOSUID | MS_NOEXEC, DEV_TMPFS_OPTS, errfd);
    for (size_t i = 0; i < plan->nbinds; i++)
        attach(&plan->binds[i], fds[i], errfd);
    for (size_t i = 0; i < plan->nlinks; i++) {
        staged(path, sizeof path, plan->links[i].path, errfd);
        make_parents(path, errfd);
        if (symlink(plan->links[i].content, path) < 0)
            tx_sb_child_fail(errfd, "symlink ", plan->links[i].path, errno);
    }
    staged(path, sizeof path, "/tmp", errfd);
    mount_tmpfs(path, MS_NOSUID | MS_NODEV | MS_NOEXEC, plan->tmp_opts, errfd);
    staged(path, sizeof path, "/dev", errfd);
    if (mount(NULL, path, NULL, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NOEXEC, NULL) < 0)
        tx_sb_child_fail(errfd, "remount /dev read-only", "", errno);

    /* pivot_root(".", ".") stacks the old root on the new one; the lazy unmount then removes
     * it, so no path, fd or cwd of the host root survives. */
    if (chdir(TX_SB_STAGE) < 0)
        tx_sb_child_fail(errfd, "chdir ", TX_SB_STAGE, errno);
    if (syscall(SYS_pivot_root, ".", ".") < 0)
        tx_sb_child_fail(errfd, "pivot_root", "", errno);
    if (umount2(".", MNT_DETACH) < 0)
        tx_sb_child_fail(errfd, "detach the old root (umount2 MNT_DETACH)", "", errno);
    if (chdir("/") < 0)
        tx_sb_child_fail(errfd, "chdir /", "", errno);
    if (mount(NULL, "/", NULL, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV, NULL) < 0)
        tx_sb_child_fail(errfd, "remount / read-only", "", errno);
}
