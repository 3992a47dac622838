/*
 * sandbox_int.h - internals shared by the sandbox's files.
 *
 * The parent turns a tx_sandbox_policy into a tx_sb_plan: every path, string, number and the
 * seccomp program the child will need, computed before clone. The child then executes the
 * plan with plain system calls only (no malloc, no stdio, no locks), which is what makes the
 * exec path safe in a multi-threaded caller. Child-side functions are marked "child:" and
 * report failure through tx_sb_child_fail, never through tx_error.
 */
#ifndef TX_SANDBOX_INT_H
#define TX_SANDBOX_INT_H

#include <limits.h>
#include <linux/filter.h>
#include <signal.h>
#include <stdint.h>
#include <sys/types.h>

#include "sandbox.h"

#define TX_SB_PATH 512     /* longest path the plan accepts (error if longer) */
#define TX_SB_MAX_BINDS 48 /* user mounts + system binds + devices + workspace */
#define TX_SB_MAX_LINKS 8
#define TX_SB_MAX_CGROUPS 8
#define TX_SB_STAGE "/tmp" /* where the new root's tmpfs is mounted before pivot_root */

/* One bind mount: a host path cloned with open_tree and attached at target. */
typedef struct tx_sb_bind {
    char source[TX_SB_PATH]; /* absolute host path */
    char target[TX_SB_PATH]; /* absolute path inside the sandbox */
    int is_dir;              /* create a directory (1) or an empty file (0) as the mount point */
    int read_only;
    int device; /* a device node: keep dev, add noexec,nosuid */
} tx_sb_bind;

/* A symlink to recreate in the new root (host /bin -> usr/bin and the like). */
typedef struct tx_sb_link {
    char path[TX_SB_PATH];
    char content[TX_SB_PATH];
} tx_sb_link;

/* Per-run cgroups (one directory per v1 controller, or one v2 directory). */
typedef struct tx_sb_cgroup {
    char dirs[TX_SB_MAX_CGROUPS][TX_SB_PATH]; /* created directories, removed at teardown */
    char ctrl[TX_SB_MAX_CGROUPS][16];         /* controller of each dir ("memory", "pids", ...) */
    size_t ndirs;
    int v2;          /* 1: dirs[0] is a cgroup v2 directory */
    char layer[128]; /* for tx_sandbox_layers */
} tx_sb_cgroup;

/* One direction of the stdio relay (stdio.c): from -> to through buf. */
typedef struct tx_sb_relay {
    int from, to;
    int open;
    size_t len, off;
    char buf[4096];
} tx_sb_relay;

/* The worker's stdio: worker[i] becomes its fd i; relay[0] copies the caller's stdin into
 * the worker's, relay[1] and relay[2] its stdout and stderr to the caller's. */
typedef struct tx_sb_stdio {
    int worker[3];
    int null_fd;
    tx_sb_relay relay[3];
} tx_sb_stdio;

typedef struct tx_sb_plan {
    tx_sb_bind binds[TX_SB_MAX_BINDS];
    size_t nbinds;
    tx_sb_link links[TX_SB_MAX_LINKS];
    size_t nlinks;
    char mkdirs[8][TX_SB_PATH]; /* extra empty directories (/workspace when none, ...) */
    size_t nmkdirs;
    char tmp_opts[128]; /* mount data for /tmp */
    int has_workspace;
    int stdin_null; /* the worker's stdin is /dev/null */
    int ws_index;   /* index of the workspace in binds, -1 if none */
    int ws_tree_fd; /* parent-made id-mapped clone of the workspace (idmap.c), or -1 */
    uint64_t limits[TX_LIMIT__COUNT];
    int keep_fds[TX_SANDBOX_MAX_KEEP_FDS];
    size_t nkeep_fds;
    /* exec path */
    char **argv;             /* owned copy, NULL for the fn path */
    struct sock_filter *bpf; /* seccomp program, owned */
    unsigned short bpf_len;
    /* fn path */
    int (*fn)(void *);
    void *arg;
} tx_sb_plan;

/* The error record the child writes to the error pipe when a setup step fails. */
typedef struct tx_sb_child_error {
    int err;        /* errno of the failed call, 0 if not applicable */
    char step[240]; /* what failed, e.g. "bind /usr at /usr: open_tree" */
} tx_sb_child_error;

/* policy.c: validates p and fills plan (mount list, links, options). err names the field. */
int tx_sb_plan_build(const tx_sandbox_policy *p, tx_sb_plan *plan, tx_error *err);

/* child: writes {err, step + detail} to fd (may be -1) and _exits with status 126. */
_Noreturn void tx_sb_child_fail(int fd, const char *step, const char *detail, int err);

/* child: async-signal-safe string helpers (bounded; return -1 if the result would not fit). */
int tx_sb_strcat(char *dst, size_t cap, const char *src);
int tx_sb_utoa(char *dst, size_t cap, unsigned long long v);

/* namespaces.c */
int tx_sb_clone_flags(void);
/* Checks that this kernel and user may create the namespaces; err names the missing one. */
int tx_sb_probe_userns(tx_error *err);
/* The ids a sandbox runs as: inner (seen inside) maps to outer (an id of the caller's
 * namespace). ws_* is the workspace directory's owner when has_ws. */
typedef struct tx_sb_ids {
    uid_t inner_uid, outer_uid;
    gid_t inner_gid, outer_gid;
    int privileged; /* uid 0 with CAP_SETUID/CAP_SETGID: may map any id its namespace has */
    int has_ws;
    uid_t ws_uid;
    gid_t ws_gid;
    mode_t ws_mode;
} tx_sb_ids;

/* parent: picks the ids (docs/security.md "Identity"): a non-root caller's own; for a root
 * caller the workspace owner, else nobody, else any id its namespace maps, never the parent
 * namespace's root (host root in the initial namespace). -1 with err if no id qualifies. */
int tx_sb_pick_ids(const char *workspace, tx_sb_ids *ids, tx_error *err);
/* namespaces.c: writes text to /proc/<pid>/<file> in one write; 0, or -1 with errno set. */
int tx_sb_write_proc(pid_t pid, const char *file, const char *text);
/* parent: writes setgroups=deny, uid_map, gid_map of child pid (mapping inner -> outer). */
int tx_sb_write_idmaps(pid_t pid, uid_t inner_uid, uid_t outer_uid, gid_t inner_gid,
                       gid_t outer_gid, tx_error *err);

/* mounts.c, child, in this order. clone_sources makes the mount tree private and clones
 * every bind source into fds[i] (detached, flags applied); it runs with the caller's host
 * identity, so the caller can bind whatever it can read itself. build_root then mounts the
 * new root, attaches the clones (closing fds), pivots into it and makes / read-only. Both
 * fail via errfd. */
void tx_sb_child_clone_sources(const tx_sb_plan *plan, int *fds, int errfd);
void tx_sb_child_build_root(const tx_sb_plan *plan, int *fds, int errfd);

/* rlimits.c: child: applies the plan's rlimits; the cgroup flags say which limits a cgroup
 * already enforces (the rlimit is then looser or absent). Fails via errfd. */
void tx_sb_child_rlimits(const tx_sb_plan *plan, int have_pids_cgroup, int have_memory_cgroup,
                         int errfd);

/* caps.c: child: drops every capability (effective, permitted, inheritable, ambient, bounding),
 * locks securebits, sets no_new_privs and non-dumpable. Fails via errfd. */
void tx_sb_child_drop_privileges(int errfd);

/* idmap.c, parent: clones the workspace bind with an id mapping workspace owner -> the
 * sandbox's outer ids (needs host root and a filesystem with id-mapped mount support).
 * Returns 0 with *tree_fd (detached, flags applied), or -1 with *why = errno. */
int tx_sb_idmapped_workspace(const tx_sb_plan *plan, const tx_sb_ids *ids, int *tree_fd, int *why);

/* stdio.c, child. prepare (init, before forking the worker): pipes for the worker's stdio,
 * /dev/null for a stdin the policy does not want or a terminal. worker: dup2s them onto 0-2.
 * init_side (init, after the fork): closes the worker's ends. relay: copies until the worker
 * ends (reaping orphans; SIGCHLD must be blocked, chld holds it), drains its output and
 * returns its wait status (-1 if it vanished). */
void tx_sb_child_stdio_prepare(const tx_sb_plan *plan, tx_sb_stdio *io, int errfd);
void tx_sb_child_stdio_worker(const tx_sb_stdio *io, int errfd);
void tx_sb_child_stdio_init_side(tx_sb_stdio *io);
int tx_sb_child_relay(tx_sb_stdio *io, pid_t worker, const sigset_t *chld);

/* cgroup.c (parent side) */
/* Creates per-run cgroups named after `id` with the plan's limits, or records why not. Never
 * fails: no cgroup is a degraded mode reported in cg->layer. */
void tx_sb_cgroup_create(tx_sb_cgroup *cg, const tx_limits *limits, const char *id);

/* An empty cgroup record whose layer text says why there is none. */
void tx_sb_cgroup_none(tx_sb_cgroup *cg, const char *why);
/* Moves pid into every per-run cgroup. Returns 0 or -1 with err. */
int tx_sb_cgroup_attach(const tx_sb_cgroup *cg, pid_t pid, tx_error *err);
/* Whether a pids (resp. memory) controller is active. */
int tx_sb_cgroup_has(const tx_sb_cgroup *cg, const char *ctrl);
/* Reads limit evidence after the run: memory oom kills, pids refusals. Returns the name of the
 * limit that was hit ("memory", "pids") or NULL; fills used. */
const char *tx_sb_cgroup_tripped(const tx_sb_cgroup *cg, uint64_t *used);
/* SIGKILLs every pid left in the cgroups (bounded loop). */
void tx_sb_cgroup_kill(const tx_sb_cgroup *cg);
/* Kills what is left, removes the directories; -1 with err if one stays (busy). */
int tx_sb_cgroup_destroy(tx_sb_cgroup *cg, tx_error *err);

/* seccomp.c: builds the filter as BPF in memory (owned by caller, free()). */
int tx_seccomp_build_bpf(int allow_exec, struct sock_filter **prog, unsigned short *len,
                         tx_error *err);

#endif
