/*
 * cgroup.c - parent: the per-run cgroups that cap memory, pids and CPU and let the supervisor
 * kill every process of a run.
 *
 * Layout. Per-run directories are created inside the caller's own cgroup of each hierarchy
 * (from /proc/self/cgroup), named "tactus-<id>": that respects whatever limits and
 * delegation the caller already lives under. On cgroup v1 one directory per controller
 * (memory, pids, cpu), plus one in the v2 "unified" hierarchy of a hybrid setup when it is
 * writable (used for cgroup.kill and cgroup.events even though it has no controllers). On a
 * pure v2 host one directory with the controllers the caller's cgroup delegates.
 *
 * When nothing is writable (an unprivileged user without delegation) the run continues in a
 * degraded mode (rlimits only) and cg->layer says why; this is never silent.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <time.h>
#include <unistd.h>

#include "sandbox_int.h"

#define CGROUP_SUPER_MAGIC_V1 0x27e0eb
#define CGROUP2_SUPER_MAGIC_V2 0x63677270
#define CG_ROOT "/sys/fs/cgroup"

/* Reads at most cap-1 bytes of a small file into buf. Returns bytes read or -1. */
static ssize_t read_small(const char *path, char *buf, size_t cap)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    ssize_t n = read(fd, buf, cap - 1);
    close(fd);
    if (n < 0)
        return -1;
    buf[n] = '\0';
    return n;
}

/* Writes text to dir/file. Returns 0 or -1 (errno set). */
static int write_file(const char *dir, const char *file, const char *text)
{
    char path[TX_SB_PATH + 64];
    if (snprintf(path, sizeof path, "%s/%s", dir, file) >= (int)sizeof path) {
        errno = ENAMETOOLONG;
        return -1;
    }
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    size_t len = strlen(text);
    ssize_t n = write(fd, text, len);
    int e = errno;
    close(fd);
    if (n != (ssize_t)len) {
        errno = n < 0 ? e : EIO;
        return -1;
    }
    return 0;
}

/* The value after "key " in a flat-keyed cgroup file (memory.events, pids.events, ...). */
static uint64_t keyed_value(const char *dir, const char *file, const char *key)
{
    char path[TX_SB_PATH + 64], buf[4096];
    snprintf(path, sizeof path, "%s/%s", dir, file);
    if (read_small(path, buf, sizeof buf) < 0)
        return 0;
    size_t klen = strlen(key);
    for (char *line = buf; line != NULL && *line != '\0';) {
        char *next = strchr(line, '\n');
        if (strncmp(line, key, klen) == 0 && line[klen] == ' ')
            return strtoull(line + klen + 1, NULL, 10);
        line = next ? next + 1 : NULL;
    }
    return 0;
}

/* A single number file (pids.peak, memory.max_usage_in_bytes). 0 if absent. */
static uint64_t number_value(const char *dir, const char *file)
{
    char path[TX_SB_PATH + 64], buf[64];
    snprintf(path, sizeof path, "%s/%s", dir, file);
    if (read_small(path, buf, sizeof buf) < 0)
        return 0;
    return strtoull(buf, NULL, 10);
}

static int is_fs(const char *path, long magic)
{
    struct statfs sf;
    return statfs(path, &sf) == 0 && (long)sf.f_type == magic;
}

/* Finds the caller's path in hierarchy `ctrl` ("" for the v2 line) from /proc/self/cgroup. */
static int own_path(const char *ctrl, char *out, size_t cap)
{
    char buf[4096];
    if (read_small("/proc/self/cgroup", buf, sizeof buf) < 0)
        return -1;
    for (char *line = buf; line != NULL && *line != '\0';) {
        char *next = strchr(line, '\n');
        if (next)
            *next = '\0';
        char *c1 = strchr(line, ':');
        char *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
        if (c2 != NULL) {
            *c2 = '\0';
            const char *ctrls = c1 + 1, *path = c2 + 1;
            int match = 0;
            if (ctrl[0] == '\0')
                match = ctrls[0] == '\0';
            else {
                size_t n = strlen(ctrl);
                for (const char *p = ctrls; *p != '\0';) {
                    const char *comma = strchr(p, ',');
                    size_t len = comma ? (size_t)(comma - p) : strlen(p);
                    if (len == n && strncmp(p, ctrl, n) == 0)
                        match = 1;
                    p = comma ? comma + 1 : p + len;
                }
            }
            if (match) {
                if (strcmp(path, "/") == 0)
                    path = "";
                if (snprintf(out, cap, "%s", path) >= (int)cap)
                    return -1;
                return 0;
            }
        }
        line = next ? next + 1 : NULL;
    }
    return -1;
}

/*
 * Removes tactus-<pid>-* cgroups left behind by a process that died before its teardown (a
 * host killed with SIGKILL): its pid no longer exists and the cgroup holds no process. Best
 * effort; a cgroup still in use is never touched.
 */
static void sweep_stale(const char *parent)
{
    DIR *d = opendir(parent);
    if (d == NULL)
        return;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strncmp(e->d_name, "tactus-", 7) != 0)
            continue;
        char *end = NULL;
        long pid = strtol(e->d_name + 7, &end, 10);
        if (end == e->d_name + 7 || *end != '-' || pid <= 0)
            continue;
        if (kill((pid_t)pid, 0) == 0 || errno != ESRCH)
            continue; /* its owner is alive (or not ours to judge) */
        char dir[TX_SB_PATH], procs[64];
        if (snprintf(dir, sizeof dir, "%s/%s", parent, e->d_name) >= (int)sizeof dir)
            continue;
        char path[TX_SB_PATH + 16];
        snprintf(path, sizeof path, "%s/cgroup.procs", dir);
        if (read_small(path, procs, sizeof procs) == 0)
            (void)rmdir(dir);
    }
    closedir(d);
}

/* Creates base/<own path>/tactus-<id> and records it; returns its index or -1 (errno). */
static int make_dir(tx_sb_cgroup *cg, const char *mount, const char *hier, const char *ctrl,
                    const char *id)
{
    char own[TX_SB_PATH];
    if (cg->ndirs >= TX_SB_MAX_CGROUPS || own_path(hier, own, sizeof own) < 0) {
        errno = ENOENT;
        return -1;
    }
    char parent[TX_SB_PATH];
    if (snprintf(parent, sizeof parent, "%s%s", mount, own) < (int)sizeof parent)
        sweep_stale(parent);
    char *dir = cg->dirs[cg->ndirs];
    if (snprintf(dir, TX_SB_PATH, "%s%s/tactus-%s", mount, own, id) >= TX_SB_PATH) {
        errno = ENAMETOOLONG;
        return -1;
    }
    if (mkdir(dir, 0755) < 0)
        return -1;
    snprintf(cg->ctrl[cg->ndirs], sizeof cg->ctrl[0], "%s", ctrl);
    return (int)cg->ndirs++;
}

/* Appends text to the layer description (bounded). */
static void layer_add(tx_sb_cgroup *cg, const char *text)
{
    size_t used = strlen(cg->layer);
    snprintf(cg->layer + used, sizeof cg->layer - used, "%s", text);
}

/* cgroup v1 (and hybrid): one directory per controller with a limit, plus the unified one. */
static void create_v1(tx_sb_cgroup *cg, const tx_limits *limits, const char *id)
{
    const uint64_t *l = limits->allowed;
    char num[64];
    int first_errno = 0;
    layer_add(cg, "cgroup-v1:");
    size_t before = strlen(cg->layer);
    if (l[TX_LIMIT_MEMORY] > 0) {
        int i = make_dir(cg, CG_ROOT "/memory", "memory", "memory", id);
        snprintf(num, sizeof num, "%llu", (unsigned long long)l[TX_LIMIT_MEMORY]);
        if (i >= 0 && write_file(cg->dirs[i], "memory.limit_in_bytes", num) == 0) {
            /* No swap either (fails harmlessly where swap accounting is off). */
            (void)write_file(cg->dirs[i], "memory.memsw.limit_in_bytes", num);
            layer_add(cg, "memory,");
        } else if (first_errno == 0) {
            first_errno = errno;
        }
    }
    if (l[TX_LIMIT_PIDS] > 0) {
        int i = make_dir(cg, CG_ROOT "/pids", "pids", "pids", id);
        /* +1: the sandbox's init is in the cgroup too. */
        snprintf(num, sizeof num, "%llu", (unsigned long long)l[TX_LIMIT_PIDS] + 1);
        if (i >= 0 && write_file(cg->dirs[i], "pids.max", num) == 0)
            layer_add(cg, "pids,");
        else if (first_errno == 0)
            first_errno = errno;
    }
    if (l[TX_LIMIT_CPUS] > 0) {
        int i = make_dir(cg, CG_ROOT "/cpu", "cpu", "cpu", id);
        snprintf(num, sizeof num, "%llu", (unsigned long long)l[TX_LIMIT_CPUS] * 100000ULL);
        if (i >= 0 && write_file(cg->dirs[i], "cpu.cfs_period_us", "100000") == 0 &&
            write_file(cg->dirs[i], "cpu.cfs_quota_us", num) == 0)
            layer_add(cg, "cpu,");
        else if (first_errno == 0)
            first_errno = errno;
    }
    if (is_fs(CG_ROOT "/unified", CGROUP2_SUPER_MAGIC_V2) &&
        make_dir(cg, CG_ROOT "/unified", "", "unified", id) >= 0)
        layer_add(cg, "unified,");
    if (strlen(cg->layer) == before) {
        char why[96];
        snprintf(why, sizeof why, "none(%s)",
                 first_errno ? strerror(first_errno) : "no controller available");
        layer_add(cg, why);
    } else {
        cg->layer[strlen(cg->layer) - 1] = '\0';
    }
}

/* Pure cgroup v2: one directory under the caller's cgroup with the delegated controllers. */
static void create_v2(tx_sb_cgroup *cg, const tx_limits *limits, const char *id)
{
    const uint64_t *l = limits->allowed;
    char own[TX_SB_PATH], parent[TX_SB_PATH + 32], avail[256] = "", num[64];
    if (own_path("", own, sizeof own) < 0 ||
        snprintf(parent, sizeof parent, CG_ROOT "%s", own) >= (int)sizeof parent) {
        layer_add(cg, "cgroup-v2:none(own cgroup unknown)");
        return;
    }
    /* Controllers must be enabled in our own cgroup's subtree_control; the kernel refuses
     * (EBUSY) when our cgroup holds processes and is not the root, which is the usual case
     * without a delegated subtree. Take what is already enabled. */
    (void)write_file(parent, "cgroup.subtree_control", "+memory +pids +cpu");
    char path[TX_SB_PATH + 64];
    snprintf(path, sizeof path, "%s/cgroup.subtree_control", parent);
    (void)read_small(path, avail, sizeof avail);
    int i = make_dir(cg, CG_ROOT, "", "v2", id);
    if (i < 0) {
        char why[96];
        snprintf(why, sizeof why, "cgroup-v2:none(%s)", strerror(errno));
        layer_add(cg, why);
        return;
    }
    cg->v2 = 1;
    layer_add(cg, "cgroup-v2:");
    if (l[TX_LIMIT_MEMORY] > 0 && strstr(avail, "memory")) {
        snprintf(num, sizeof num, "%llu", (unsigned long long)l[TX_LIMIT_MEMORY]);
        if (write_file(cg->dirs[i], "memory.max", num) == 0) {
            (void)write_file(cg->dirs[i], "memory.swap.max", "0");
            (void)write_file(cg->dirs[i], "memory.oom.group", "1");
            layer_add(cg, "memory,");
        }
    }
    if (l[TX_LIMIT_PIDS] > 0 && strstr(avail, "pids")) {
        snprintf(num, sizeof num, "%llu", (unsigned long long)l[TX_LIMIT_PIDS] + 1);
        if (write_file(cg->dirs[i], "pids.max", num) == 0)
            layer_add(cg, "pids,");
    }
    if (l[TX_LIMIT_CPUS] > 0 && strstr(avail, "cpu")) {
        snprintf(num, sizeof num, "%llu 100000", (unsigned long long)l[TX_LIMIT_CPUS] * 100000ULL);
        if (write_file(cg->dirs[i], "cpu.max", num) == 0)
            layer_add(cg, "cpu,");
    }
    layer_add(cg, "kill");
}

void tx_sb_cgroup_none(tx_sb_cgroup *cg, const char *why)
{
    memset(cg, 0, sizeof *cg);
    layer_add(cg, why);
}

void tx_sb_cgroup_create(tx_sb_cgroup *cg, const tx_limits *limits, const char *id)
{
    memset(cg, 0, sizeof *cg);
    if (is_fs(CG_ROOT, CGROUP2_SUPER_MAGIC_V2))
        create_v2(cg, limits, id);
    else if (is_fs(CG_ROOT "/pids", CGROUP_SUPER_MAGIC_V1) ||
             is_fs(CG_ROOT "/memory", CGROUP_SUPER_MAGIC_V1))
        create_v1(cg, limits, id);
    else
        layer_add(cg, "cgroup:none(no cgroup filesystem at " CG_ROOT ")");
}

int tx_sb_cgroup_attach(const tx_sb_cgroup *cg, pid_t pid, tx_error *err)
{
    char num[32];
    snprintf(num, sizeof num, "%d", (int)pid);
    for (size_t i = 0; i < cg->ndirs; i++)
        if (write_file(cg->dirs[i], "cgroup.procs", num) < 0)
            return tx_fail(err, TACTUS_ESYSTEM, "sandbox: cannot move pid %d into %s: %s", (int)pid,
                           cg->dirs[i], strerror(errno));
    return 0;
}

int tx_sb_cgroup_has(const tx_sb_cgroup *cg, const char *ctrl)
{
    if (cg->v2)
        return strstr(cg->layer, ctrl) != NULL;
    for (size_t i = 0; i < cg->ndirs; i++)
        if (strcmp(cg->ctrl[i], ctrl) == 0)
            return strstr(cg->layer, ctrl) != NULL;
    return 0;
}

/* The directory that holds controller ctrl's files, or NULL. */
static const char *dir_of(const tx_sb_cgroup *cg, const char *ctrl)
{
    if (!tx_sb_cgroup_has(cg, ctrl))
        return NULL;
    if (cg->v2)
        return cg->dirs[0];
    for (size_t i = 0; i < cg->ndirs; i++)
        if (strcmp(cg->ctrl[i], ctrl) == 0)
            return cg->dirs[i];
    return NULL;
}

const char *tx_sb_cgroup_tripped(const tx_sb_cgroup *cg, uint64_t *used)
{
    const char *mem = dir_of(cg, "memory");
    if (mem != NULL) {
        uint64_t kills = cg->v2 ? keyed_value(mem, "memory.events", "oom_kill")
                                : keyed_value(mem, "memory.oom_control", "oom_kill");
        if (kills > 0) {
            *used = cg->v2 ? number_value(mem, "memory.peak")
                           : number_value(mem, "memory.max_usage_in_bytes");
            return "memory";
        }
    }
    const char *pids = dir_of(cg, "pids");
    if (pids != NULL && keyed_value(pids, "pids.events", "max") > 0) {
        uint64_t peak = number_value(pids, "pids.peak");
        /* The peak includes init; refused forks mean demand went one past it. */
        *used = peak > 0 ? peak : 0;
        return "pids";
    }
    return NULL;
}

/* Reads dir/cgroup.procs and SIGKILLs every pid in it; returns how many were listed. */
static int kill_listed(const char *dir)
{
    char path[TX_SB_PATH + 64], buf[16384];
    snprintf(path, sizeof path, "%s/cgroup.procs", dir);
    ssize_t n = read_small(path, buf, sizeof buf);
    if (n <= 0)
        return 0;
    int count = 0;
    for (char *p = buf; *p != '\0';) {
        char *end;
        long pid = strtol(p, &end, 10);
        if (end == p)
            break;
        if (pid > 1) {
            (void)kill((pid_t)pid, SIGKILL);
            count++;
        }
        p = end;
        while (*p == '\n')
            p++;
    }
    return count;
}

void tx_sb_cgroup_kill(const tx_sb_cgroup *cg)
{
    for (size_t i = 0; i < cg->ndirs; i++)
        if (cg->v2 || strcmp(cg->ctrl[i], "unified") == 0)
            (void)write_file(cg->dirs[i], "cgroup.kill", "1");
    /* v1 has no cgroup.kill: kill what is listed until nothing is (bounded: a fork bomb is
     * capped by pids.max, and the pid namespace is already dying). */
    for (int round = 0; round < 100; round++) {
        int listed = 0;
        for (size_t i = 0; i < cg->ndirs; i++)
            listed += kill_listed(cg->dirs[i]);
        if (listed == 0)
            return;
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
}

int tx_sb_cgroup_destroy(tx_sb_cgroup *cg, tx_error *err)
{
    int rc = 0;
    tx_sb_cgroup_kill(cg);
    for (size_t i = cg->ndirs; i-- > 0;) {
        /* Killed tasks leave the cgroup asynchronously: retry rmdir for up to ~2 s. */
        int removed = 0;
        for (int attempt = 0; attempt < 400 && !removed; attempt++) {
            if (rmdir(cg->dirs[i]) == 0 || errno == ENOENT) {
                removed = 1;
                break;
            }
            if (errno != EBUSY)
                break;
            (void)kill_listed(cg->dirs[i]);
            struct timespec ts = {0, 5000000};
            nanosleep(&ts, NULL);
        }
        if (!removed && rc == 0)
            rc = tx_fail(err, TACTUS_ESYSTEM, "sandbox: cannot remove cgroup %s: %s", cg->dirs[i],
                         strerror(errno));
    }
    cg->ndirs = 0;
    return rc;
}
