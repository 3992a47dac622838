/*
 * policy.c - turns a tx_sandbox_policy into a tx_sb_plan: validates every path, decides what
 * the new root contains, and formats every string the child will need.
 *
 * Target rules: absolute, no "." / ".." / empty components, not "/", not under /tmp, /dev or
 * /workspace (the sandbox owns those), and no target inside another target. The last rule
 * means every directory on the way to a mount point lives in the sandbox's own tmpfs, so a
 * symlink planted in a host directory can never redirect where a later mount lands.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sandbox_int.h"

void tx_sandbox_policy_init(tx_sandbox_policy *p)
{
    memset(p, 0, sizeof *p);
    tx_limits_default(&p->limits);
}

/* Copies src into a TX_SB_PATH buffer; -1 with err naming `what` if it does not fit. */
static int copy_path(char *dst, const char *src, const char *what, tx_error *err)
{
    size_t n = strlen(src);
    if (n >= TX_SB_PATH)
        return tx_fail(err, TACTUS_EUSAGE, "sandbox: %s is longer than %d bytes", what,
                       TX_SB_PATH - 1);
    memcpy(dst, src, n + 1);
    return 0;
}

/* True if path is absolute with only plain components (no "", ".", ".."), and is not "/". */
static int clean_absolute(const char *path)
{
    if (path[0] != '/' || path[1] == '\0')
        return 0;
    const char *c = path + 1;
    for (;;) {
        const char *slash = strchr(c, '/');
        size_t len = slash ? (size_t)(slash - c) : strlen(c);
        if (len == 0 || (len == 1 && c[0] == '.') || (len == 2 && c[0] == '.' && c[1] == '.'))
            return 0;
        if (slash == NULL)
            return 1;
        c = slash + 1;
    }
}

/* True if a == b or one is a directory prefix of the other ("/a" and "/a/b"). */
static int overlaps(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    size_t n = la < lb ? la : lb;
    if (strncmp(a, b, n) != 0)
        return 0;
    if (la == lb)
        return 1;
    return (la < lb ? b[n] : a[n]) == '/';
}

/* Fails if target overlaps a reserved path or a target already in the plan. */
static int check_target(const tx_sb_plan *plan, const char *target, const char *what, tx_error *err)
{
    static const char *const reserved[] = {"/tmp", "/dev", "/workspace", "/proc", "/sys"};
    if (!clean_absolute(target))
        return tx_fail(err, TACTUS_EUSAGE,
                       "sandbox: %s: target '%s' must be an absolute path without '.', '..' "
                       "or empty components, and not '/'",
                       what, target);
    for (size_t i = 0; i < sizeof reserved / sizeof reserved[0]; i++)
        if (overlaps(target, reserved[i]))
            return tx_fail(err, TACTUS_EUSAGE,
                           "sandbox: %s: target '%s' overlaps %s, which the sandbox manages", what,
                           target, reserved[i]);
    for (size_t i = 0; i < plan->nbinds; i++)
        if (overlaps(target, plan->binds[i].target))
            return tx_fail(err, TACTUS_EUSAGE,
                           "sandbox: %s: target '%s' overlaps the mount at '%s' (nested mount "
                           "targets are not allowed)",
                           what, target, plan->binds[i].target);
    for (size_t i = 0; i < plan->nlinks; i++)
        if (overlaps(target, plan->links[i].path))
            return tx_fail(err, TACTUS_EUSAGE, "sandbox: %s: target '%s' overlaps the link '%s'",
                           what, target, plan->links[i].path);
    return 0;
}

/* Appends a bind; source must exist as a directory or a regular file (or device if device). */
static int add_bind(tx_sb_plan *plan, const char *source, const char *target, int read_only,
                    int device, const char *what, tx_error *err)
{
    if (plan->nbinds >= TX_SB_MAX_BINDS)
        return tx_fail(err, TACTUS_EUSAGE, "sandbox: too many mounts (at most %d)",
                       TX_SB_MAX_BINDS);
    if (source[0] != '/')
        return tx_fail(err, TACTUS_EUSAGE,
                       "sandbox: %s: source '%s' must be an absolute path (resolve it first)", what,
                       source);
    struct stat st;
    if (stat(source, &st) < 0)
        return tx_fail(err, TACTUS_EUSAGE, "sandbox: %s: source '%s': %s", what, source,
                       strerror(errno));
    int ok = S_ISDIR(st.st_mode) || S_ISREG(st.st_mode) || (device && S_ISCHR(st.st_mode));
    if (!ok)
        return tx_fail(err, TACTUS_EUSAGE,
                       "sandbox: %s: source '%s' is not a directory or a regular file", what,
                       source);
    tx_sb_bind *b = &plan->binds[plan->nbinds];
    if (copy_path(b->source, source, what, err) < 0 || copy_path(b->target, target, what, err) < 0)
        return -1;
    b->is_dir = S_ISDIR(st.st_mode);
    b->read_only = read_only;
    b->device = device;
    plan->nbinds++;
    return 0;
}

/* Adds host system directory `path` read-only: a bind for a directory, the same symlink for
 * a symlink (merged-/usr systems: /bin -> usr/bin), nothing if absent. */
static int add_system(tx_sb_plan *plan, const char *path, tx_error *err)
{
    struct stat st;
    if (lstat(path, &st) < 0)
        return 0;
    if (S_ISLNK(st.st_mode)) {
        if (plan->nlinks >= TX_SB_MAX_LINKS)
            return tx_fail(err, TACTUS_ESYSTEM, "sandbox: too many system links");
        tx_sb_link *l = &plan->links[plan->nlinks];
        ssize_t n = readlink(path, l->content, sizeof l->content - 1);
        if (n < 0 || (size_t)n >= sizeof l->content - 1)
            return tx_fail(err, TACTUS_ESYSTEM, "sandbox: cannot read link %s", path);
        l->content[n] = '\0';
        if (copy_path(l->path, path, "system link", err) < 0)
            return -1;
        plan->nlinks++;
        return 0;
    }
    return add_bind(plan, path, path, 1, 0, "system bind", err);
}

int tx_sb_plan_build(const tx_sandbox_policy *p, tx_sb_plan *plan, tx_error *err)
{
    memset(plan, 0, sizeof *plan);
    plan->ws_index = -1;
    plan->ws_tree_fd = -1;
    if (p->nkeep_fds > TX_SANDBOX_MAX_KEEP_FDS)
        return tx_fail(err, TACTUS_EUSAGE, "sandbox: at most %d kept fds", TX_SANDBOX_MAX_KEEP_FDS);
    for (size_t i = 0; i < p->nkeep_fds; i++) {
        if (p->keep_fds[i] < 3)
            return tx_fail(err, TACTUS_EUSAGE,
                           "sandbox: keep_fds[%zu] = %d: fds 0-2 are always "
                           "kept; give fds >= 3",
                           i, p->keep_fds[i]);
        plan->keep_fds[i] = p->keep_fds[i];
    }
    plan->nkeep_fds = p->nkeep_fds;
    plan->stdin_null = p->stdin_null;
    if (p->nmounts > TX_SANDBOX_MAX_MOUNTS || (p->nmounts > 0 && p->mounts == NULL))
        return tx_fail(err, TACTUS_EUSAGE, "sandbox: at most %d mounts", TX_SANDBOX_MAX_MOUNTS);
    if (p->bind_system) {
        static const char *const sys[] = {"/usr", "/lib", "/lib64", "/bin", "/sbin"};
        for (size_t i = 0; i < sizeof sys / sizeof sys[0]; i++)
            if (add_system(plan, sys[i], err) < 0)
                return -1;
        if (access("/etc/ld.so.cache", R_OK) == 0 &&
            add_bind(plan, "/etc/ld.so.cache", "/etc/ld.so.cache", 1, 0, "system bind", err) < 0)
            return -1;
        /* Debian's alternatives are the links behind cc, c++, awk, ...: symlinks only. */
        struct stat alt;
        if (lstat("/etc/alternatives", &alt) == 0 && S_ISDIR(alt.st_mode) &&
            add_bind(plan, "/etc/alternatives", "/etc/alternatives", 1, 0, "system bind", err) < 0)
            return -1;
    }
    for (size_t i = 0; i < p->nmounts; i++) {
        const tx_mount *m = &p->mounts[i];
        char what[64];
        snprintf(what, sizeof what, "mounts[%zu]", i);
        if (m->source == NULL || m->target == NULL)
            return tx_fail(err, TACTUS_EUSAGE, "sandbox: %s: source and target are required", what);
        if (check_target(plan, m->target, what, err) < 0 ||
            add_bind(plan, m->source, m->target, m->read_only, 0, what, err) < 0)
            return -1;
    }
    if (p->workspace != NULL) {
        struct stat st;
        if (stat(p->workspace, &st) < 0)
            return tx_fail(err, TACTUS_EUSAGE, "sandbox: workspace '%s': %s", p->workspace,
                           strerror(errno));
        if (!S_ISDIR(st.st_mode))
            return tx_fail(err, TACTUS_EUSAGE, "sandbox: workspace '%s' is not a directory",
                           p->workspace);
        if (add_bind(plan, p->workspace, "/workspace", p->workspace_read_only, 0, "workspace",
                     err) < 0)
            return -1;
        plan->has_workspace = 1;
        plan->ws_index = (int)plan->nbinds - 1;
    }
    /* A minimal /dev: the data sinks and sources programs expect, nothing that reaches
     * hardware, the kernel log or a terminal. */
    static const char *const devs[] = {"/dev/null", "/dev/zero", "/dev/full", "/dev/random",
                                       "/dev/urandom"};
    for (size_t i = 0; i < sizeof devs / sizeof devs[0]; i++) {
        struct stat st;
        if (stat(devs[i], &st) == 0 && S_ISCHR(st.st_mode) &&
            add_bind(plan, devs[i], devs[i], 0, 1, "device", err) < 0)
            return -1;
    }
    memcpy(plan->limits, p->limits.allowed, sizeof plan->limits);
    /* nr_inodes caps file-count bombs (F12) independently of the byte size. */
    uint64_t tmp = p->limits.allowed[TX_LIMIT_TMP];
    int n;
    if (tmp > 0)
        n = snprintf(plan->tmp_opts, sizeof plan->tmp_opts, "mode=1777,nr_inodes=16384,size=%llu",
                     (unsigned long long)tmp);
    else
        n = snprintf(plan->tmp_opts, sizeof plan->tmp_opts, "mode=1777,nr_inodes=16384");
    if (n < 0 || (size_t)n >= sizeof plan->tmp_opts)
        return tx_fail(err, TACTUS_EUSAGE, "sandbox: tmp options too long");
    return 0;
}
