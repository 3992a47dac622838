/*
 * namespaces.c - which namespaces the sandbox creates, why creating them failed, and the
 * user-namespace id maps the parent writes for the child.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
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

int tx_sb_write_proc(pid_t pid, const char *file, const char *text)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/%s", (int)pid, file);
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    size_t len = strlen(text);
    ssize_t n = write(fd, text, len);
    int e = errno;
    close(fd);
    errno = n < 0 ? e : EIO;
    return n == (ssize_t)len ? 0 : -1;
}

/* tx_sb_write_proc, with the failure (open or write) in err. */
static int write_proc(pid_t pid, const char *file, const char *text, tx_error *err)
{
    if (tx_sb_write_proc(pid, file, text) == 0)
        return 0;
    return tx_fail(err, TACTUS_ESYSTEM, "sandbox: write /proc/%d/%s: %s", (int)pid, file,
                   strerror(errno));
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

/* The id a root caller's sandbox runs as when nothing better is mapped. */
#define TX_SB_NOBODY 65534u
#define TX_SB_MAX_RANGES 340 /* the kernel's limit on lines in an id map */

/* One line of /proc/self/uid_map or gid_map: ids [inner, inner+count) of this namespace are
 * [outer, outer+count) of the parent namespace. */
typedef struct id_range {
    unsigned long inner, outer, count;
} id_range;

typedef struct id_map {
    id_range r[TX_SB_MAX_RANGES];
    size_t n;
    char text[128]; /* the first line, for messages */
} id_map;

/* Reads /proc/self/<file> into m. Returns 0 or -1 with err. */
static int read_id_map(const char *file, id_map *m, tx_error *err)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/self/%s", file);
    FILE *f = fopen(path, "re");
    if (f == NULL)
        return tx_fail(err, TACTUS_ESYSTEM, "sandbox: cannot read %s: %s", path, strerror(errno));
    m->n = 0;
    m->text[0] = '\0';
    char line[128];
    while (m->n < TX_SB_MAX_RANGES && fgets(line, sizeof line, f) != NULL) {
        id_range *r = &m->r[m->n];
        if (sscanf(line, "%lu %lu %lu", &r->inner, &r->outer, &r->count) != 3)
            continue;
        if (m->n == 0)
            snprintf(m->text, sizeof m->text, "%lu %lu %lu", r->inner, r->outer, r->count);
        m->n++;
    }
    fclose(f);
    return 0;
}

/* The parent-namespace image of id, or -1 if this namespace does not map it. */
static long long image_of(const id_map *m, unsigned long id)
{
    for (size_t i = 0; i < m->n; i++)
        if (id >= m->r[i].inner && id - m->r[i].inner < m->r[i].count)
            return (long long)(m->r[i].outer + (id - m->r[i].inner));
    return -1;
}

/* Whether a root caller may run the sandbox as id: mapped here, and not the parent
 * namespace's root (in the initial namespace that is host root itself; in a nested one it
 * is the closest root we can see, and mapping it could be host root one level up). */
static int usable(const id_map *m, unsigned long id)
{
    long long img = image_of(m, id);
    return img > 0;
}

/* Whether m is the initial user namespace's map (every id, identity): uid 0 there is host
 * root itself. */
static int initial_namespace(const id_map *m)
{
    return m->n == 1 && m->r[0].inner == 0 && m->r[0].outer == 0 && m->r[0].count == 4294967295UL;
}

/* A root caller's id from map m: `prefer` (the workspace owner) if usable, else nobody, else
 * the first usable id of the map; -1 if there is none. */
static long long choose(const id_map *m, long long prefer)
{
    if (prefer >= 0 && usable(m, (unsigned long)prefer))
        return prefer;
    if (usable(m, TX_SB_NOBODY))
        return TX_SB_NOBODY;
    for (size_t i = 0; i < m->n; i++)
        for (unsigned long k = 0; k < m->r[i].count && k < 2; k++)
            if (usable(m, m->r[i].inner + k))
                return (long long)(m->r[i].inner + k);
    return -1;
}

/* Whether the calling process holds CAP_SETUID and CAP_SETGID (in its user namespace). */
static int can_set_ids(void)
{
    struct __user_cap_header_struct hdr = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
    struct __user_cap_data_struct data[2];
    memset(data, 0, sizeof data);
    if (syscall(SYS_capget, &hdr, data) < 0)
        return 0;
    uint32_t eff = data[0].effective;
    return (eff & (1u << CAP_SETUID)) && (eff & (1u << CAP_SETGID));
}

int tx_sb_pick_ids(const char *workspace, tx_sb_ids *ids, tx_error *err)
{
    memset(ids, 0, sizeof *ids);
    ids->outer_uid = geteuid();
    ids->outer_gid = getegid();
    id_map *um = malloc(sizeof *um), *gm = malloc(sizeof *gm);
    int rc = -1;
    if (um == NULL || gm == NULL) {
        tx_fail(err, TACTUS_ESYSTEM, "sandbox: out of memory");
        goto out;
    }
    if (read_id_map("uid_map", um, err) < 0 || read_id_map("gid_map", gm, err) < 0)
        goto out;
    ids->privileged = ids->outer_uid == 0 && can_set_ids();
    if (!ids->privileged) {
        /* Without CAP_SETUID/CAP_SETGID the kernel lets us map our own ids only (a root
         * without them: bwrap --uid 0, capsh --drop). That must not be host root; a nested
         * root that is its parent's root is used, as in the exception below. */
        if (ids->outer_uid == 0 && !usable(um, 0) && initial_namespace(um)) {
            tx_fail(err, TACTUS_ESYSTEM,
                    "sandbox: the caller is uid 0 without CAP_SETUID/CAP_SETGID, and uid 0 here "
                    "is root of the parent namespace (/proc/self/uid_map: '%s'); host root is "
                    "never mapped into the sandbox: run tactus as an ordinary user",
                    um->text);
            goto out;
        }
        ids->inner_uid = ids->outer_uid == 0 ? TX_SB_NOBODY : ids->outer_uid;
        ids->inner_gid = ids->outer_gid == 0 ? TX_SB_NOBODY : ids->outer_gid;
        rc = 0;
        goto out;
    }
    long long want_uid = -1, want_gid = -1;
    struct stat st;
    if (workspace != NULL && stat(workspace, &st) == 0) {
        want_uid = st.st_uid;
        want_gid = st.st_gid;
        ids->ws_uid = st.st_uid;
        ids->ws_gid = st.st_gid;
        ids->ws_mode = st.st_mode;
        ids->has_ws = 1;
    }
    long long uid = choose(um, want_uid), gid = choose(gm, want_gid);
    if ((uid < 0 || gid < 0) && !initial_namespace(um) && image_of(um, 0) == 0 &&
        image_of(gm, 0) == 0) {
        /* A nested namespace that maps nothing but its parent's root (root running `unshare
         * --user --map-root-user`): the only id the kernel lets a nested map use is that root.
         * It is used, as bwrap does, because the alternative is not running at all; inside
         * it is nobody, with no capabilities, securebits locked and no_new_privs, so it keeps
         * only the parent root's file ownership on what is mounted (the workspace; the
         * system binds are read-only). docs/security.md "Identity" says so. */
        uid = uid < 0 ? 0 : uid;
        gid = gid < 0 ? 0 : gid;
    }
    if (uid < 0 || gid < 0) {
        tx_fail(err, TACTUS_ESYSTEM,
                "sandbox: no unprivileged id to run as: this user namespace maps only the "
                "parent namespace's root (/proc/self/%s: '%s'), and host root is never mapped "
                "into the sandbox; run tactus as an ordinary user, or give this namespace an "
                "unprivileged id range (e.g. newuidmap/newgidmap, or a container runtime's "
                "userns mapping)",
                uid < 0 ? "uid_map" : "gid_map", uid < 0 ? um->text : gm->text);
        goto out;
    }
    ids->outer_uid = (uid_t)uid;
    ids->outer_gid = (gid_t)gid;
    /* Never uid 0 inside either: a namespace's own root (mapped to an unprivileged id) is
     * seen as nobody. */
    ids->inner_uid = uid == 0 ? TX_SB_NOBODY : (uid_t)uid;
    ids->inner_gid = gid == 0 ? TX_SB_NOBODY : (gid_t)gid;
    rc = 0;
out:
    free(um);
    free(gm);
    return rc;
}
