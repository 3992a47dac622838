/*
 * idmap.c - parent: an id-mapped clone of the workspace for a root caller.
 *
 * Host root is never mapped into the sandbox, so a root caller's sandbox runs as nobody
 * (or another unprivileged id), and a root-owned checkout, the common CI case, would not be
 * writable. The parent therefore clones the workspace with open_tree and gives the detached
 * clone an id mapping (mount_setattr MOUNT_ATTR_IDMAP) in which the workspace's owner is
 * the sandbox's id: inside, the owner's files are the sandbox's own; whatever the sandbox
 * creates is stored on disk as the owner's. Other owners' files are unmapped there (shown as
 * nobody, never writable through their owner bits). The mapping is a user namespace created
 * for the purpose by a short-lived helper process that only waits to be ended.
 *
 * Only a caller with CAP_SYS_ADMIN over the filesystem (host root) can do this, and only on
 * filesystems that support id-mapped mounts (ext4, xfs, btrfs, tmpfs, ... on Linux >= 5.12
 * or later per filesystem). Everything here runs before the sandbox is cloned; the helper
 * makes raw system calls only, so this is safe in a multi-threaded caller.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "mount_api.h"
#include "sandbox_int.h"

/* Returns an fd of a fresh user namespace mapping uid `from` -> `to` and gid `gfrom` ->
 * `gto`, or -1 with errno set. */
static int make_userns(uid_t from, uid_t to, gid_t gfrom, gid_t gto)
{
    int hold[2];
    if (pipe2(hold, O_CLOEXEC) < 0)
        return -1;
    pid_t pid = (pid_t)syscall(SYS_clone, CLONE_NEWUSER | SIGCHLD, 0, 0, 0, 0);
    if (pid == 0) {
        /* helper: wait for EOF (the parent is done with our namespace), then go. */
        char c;
        close(hold[1]);
        while (read(hold[0], &c, 1) < 0 && errno == EINTR)
            ;
        _exit(0);
    }
    int e = errno, fd = -1;
    close(hold[0]);
    if (pid > 0) {
        char map[64], path[64];
        snprintf(map, sizeof map, "%u %u 1\n", (unsigned)from, (unsigned)to);
        int ok = tx_sb_write_proc(pid, "uid_map", map) == 0;
        snprintf(map, sizeof map, "%u %u 1\n", (unsigned)gfrom, (unsigned)gto);
        ok = ok && tx_sb_write_proc(pid, "gid_map", map) == 0;
        snprintf(path, sizeof path, "/proc/%d/ns/user", (int)pid);
        if (ok)
            fd = open(path, O_RDONLY | O_CLOEXEC);
        e = errno;
    }
    close(hold[1]);
    if (pid > 0)
        while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
            ;
    errno = e;
    return fd;
}

int tx_sb_idmapped_workspace(const tx_sb_plan *plan, const tx_sb_ids *ids, int *tree_fd, int *why)
{
    *tree_fd = -1;
    *why = 0;
    int userns = make_userns(ids->ws_uid, ids->outer_uid, ids->ws_gid, ids->outer_gid);
    if (userns < 0) {
        *why = errno;
        return -1;
    }
    const tx_sb_bind *b = &plan->binds[plan->ws_index];
    int fd = (int)syscall(SYS_open_tree, AT_FDCWD, b->source,
                          OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_RECURSIVE);
    if (fd < 0) {
        *why = errno;
        close(userns);
        return -1;
    }
    struct mount_attr attr = {0};
    attr.attr_set = MOUNT_ATTR_IDMAP | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV |
                    (b->read_only ? MOUNT_ATTR_RDONLY : 0);
    attr.userns_fd = (uint64_t)userns;
    int rc =
        (int)syscall(SYS_mount_setattr, fd, "", AT_EMPTY_PATH | AT_RECURSIVE, &attr, sizeof attr);
    int e = errno;
    close(userns);
    if (rc < 0) {
        close(fd);
        *why = e;
        return -1;
    }
    *tree_fd = fd;
    return 0;
}
