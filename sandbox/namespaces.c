/*
 * namespaces.c - which namespaces the sandbox creates, why creating them failed, and the
 * user-namespace id maps the parent writes for the child.
 */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "sandbox_int.h"

/* All namespaces the sandbox lives in. The user namespace comes first in the kernel's order,
 * which is what lets an unprivileged caller create the others. */
int tx_sb_clone_flags(void)
{
    return CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS |
           CLONE_NEWCGROUP;
}

/* Reads a small integer from a /proc/sys file; returns -1 if absent or unreadable. */
static long read_sysctl(const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    char buf[32];
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return -1;
    buf[n] = '\0';
    long v = -1;
    if (sscanf(buf, "%ld", &v) != 1)
        return -1;
    return v;
}

/*
 * Explains why the kernel refused to create the sandbox's namespaces (called after clone
 * failed with errno `e`). Always returns -1 with err set to a message naming the feature and,
 * where known, the sysctl that disables it.
 */
int tx_sb_probe_userns(tx_error *err)
{
    int e = errno;
    if (read_sysctl("/proc/sys/user/max_user_namespaces") == 0)
        return tx_fail(err, TACTUS_ESYSTEM,
                       "sandbox: user namespaces are disabled (user.max_user_namespaces = 0); "
                       "refusing to run unsandboxed");
    if (geteuid() != 0 && read_sysctl("/proc/sys/kernel/unprivileged_userns_clone") == 0)
        return tx_fail(err, TACTUS_ESYSTEM,
                       "sandbox: unprivileged user namespaces are disabled "
                       "(kernel.unprivileged_userns_clone = 0); refusing to run unsandboxed");
    if (geteuid() != 0 &&
        read_sysctl("/proc/sys/kernel/apparmor_restrict_unprivileged_userns") == 1)
        return tx_fail(err, TACTUS_ESYSTEM,
                       "sandbox: AppArmor restricts unprivileged user namespaces "
                       "(kernel.apparmor_restrict_unprivileged_userns = 1); refusing to run "
                       "unsandboxed");
    if (e == ENOSPC || e == EUSERS)
        return tx_fail(err, TACTUS_ESYSTEM,
                       "sandbox: namespace limit reached (user.max_*_namespaces): %s", strerror(e));
    return tx_fail(err, TACTUS_ESYSTEM,
                   "sandbox: cannot create user/pid/mount/net/ipc/uts/cgroup namespaces: %s "
                   "(kernel without CONFIG_USER_NS or namespaces restricted); refusing to run "
                   "unsandboxed",
                   strerror(e));
}

/* Writes text to /proc/<pid>/<file>. Returns 0 or -1 with err. */
static int write_proc(pid_t pid, const char *file, const char *text, tx_error *err)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/%s", (int)pid, file);
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return tx_fail(err, TACTUS_ESYSTEM, "sandbox: open %s: %s", path, strerror(errno));
    size_t len = strlen(text);
    ssize_t n = write(fd, text, len);
    int e = errno;
    close(fd);
    if (n != (ssize_t)len)
        return tx_fail(err, TACTUS_ESYSTEM, "sandbox: write %s: %s", path,
                       n < 0 ? strerror(e) : "short write");
    return 0;
}

/*
 * Maps exactly one uid and one gid into the child's user namespace. setgroups is denied first:
 * the kernel requires it for an unprivileged gid map, and it stops the sandbox from dropping
 * supplementary groups to get around "deny group" permissions on host files.
 */
int tx_sb_write_idmaps(pid_t pid, uid_t inner_uid, uid_t outer_uid, gid_t inner_gid,
                       gid_t outer_gid, tx_error *err)
{
    char map[64];
    if (write_proc(pid, "setgroups", "deny", err) < 0)
        return -1;
    snprintf(map, sizeof map, "%u %u 1\n", (unsigned)inner_uid, (unsigned)outer_uid);
    if (write_proc(pid, "uid_map", map, err) < 0)
        return -1;
    snprintf(map, sizeof map, "%u %u 1\n", (unsigned)inner_gid, (unsigned)outer_gid);
    return write_proc(pid, "gid_map", map, err);
}
