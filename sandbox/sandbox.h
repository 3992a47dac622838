/*
 * sandbox.h - the native Linux sandbox: a child process in its own user, pid, mount, net, ipc,
 * uts and cgroup namespaces, with an empty tmpfs root holding only what the policy names,
 * resource limits (rlimits and, where writable, a per-run cgroup), no capabilities,
 * no_new_privs and, on the exec path, a seccomp allowlist. docs/security.md describes every
 * isolation claim and how the escape suite (spec/sandbox/) checks it.
 *
 * Process shape. tx_sandbox_start/exec clone one process, the sandbox's PID 1 ("init"), which
 * builds the sandbox, then forks the worker (PID 2) that runs fn or execs the program. Init only
 * relays the worker's stdio (sandbox/stdio.c) and reaps: when the worker ends it drains the
 * output, reports the worker's wait status to the parent over a pipe and exits, and the kernel
 * then kills everything left in the pid namespace. Killing init from
 * outside (timeout, tx_sandbox_free) therefore kills the whole sandbox.
 *
 * Threads. Everything the cloned child does before running fn or exec is a plain system call
 * prepared by the parent (paths, seccomp BPF, messages), so tx_sandbox_exec is safe to call
 * from a multi-threaded program. tx_sandbox_start runs an arbitrary fn in a forked copy of the
 * caller and is only safe from a single-threaded process (the `tactus` CLI).
 *
 * Failure. If a layer the policy needs is missing (user namespaces disabled, no seccomp, ...)
 * start/exec fail with TACTUS_ESYSTEM and a message naming the missing feature; they never run
 * anything unsandboxed. Cgroups are the one optional layer: when no per-run cgroup can be
 * created (unprivileged, no delegation) the run goes on with rlimits only, and
 * tx_sandbox_layers() says so.
 */
#ifndef TX_SANDBOX_H
#define TX_SANDBOX_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "config.h"
#include "tx_limits.h"
#include "tx_error.h"

#define TX_SANDBOX_MAX_MOUNTS 32
#define TX_SANDBOX_MAX_KEEP_FDS 4

typedef struct tx_sandbox_policy {
    const char *workspace; /* absolute host dir bound at /workspace, or NULL for none */
    int workspace_read_only;
    const tx_mount *mounts; /* source: absolute host path (the caller resolves it); target:
                               absolute path in the sandbox; read_only */
    size_t nmounts;
    int bind_system; /* 1: bind /usr, /lib, /lib64, /bin, /etc/ld.so.cache read-only */
    /* 1: no per-run cgroup; rlimits alone bound the sandbox. For the Lua runner, whose memory
     * the VM allocator already caps and which seccomp stops from forking: moving a task into
     * a v1 cgroup costs milliseconds per run. */
    int no_cgroup;
    /* 1: the worker's stdin is /dev/null. 0: the caller's stdin is relayed through a pipe,
     * unless it is a terminal (then /dev/null too). stdout and stderr are always pipes that
     * init relays to the caller's; the worker never holds the caller's own descriptors. */
    int stdin_null;
    tx_limits limits; /* memory, cpus, pids, files, file_size, tmp, timeout (ms); 0 = none */
    int keep_fds[TX_SANDBOX_MAX_KEEP_FDS]; /* fds that survive into the worker besides 0-2 */
    size_t nkeep_fds;
} tx_sandbox_policy;

/* Outcome kinds reported by tx_sandbox_wait. */
enum {
    TX_SANDBOX_EXITED = 1, /* exit_code is the worker's exit status */
    TX_SANDBOX_SIGNALED,   /* signal killed the worker (not a limit, not seccomp) */
    TX_SANDBOX_TIMEOUT,    /* the policy timeout passed; the sandbox was killed */
    TX_SANDBOX_LIMIT,      /* limit names it ("memory", "pids", "file_size", "cpu"), used/allowed */
    TX_SANDBOX_SECCOMP     /* the worker made a forbidden system call (SIGSYS) */
};

typedef struct tx_sandbox_outcome {
    int kind;          /* one of the TX_SANDBOX_* kinds above */
    int exit_code;     /* TX_SANDBOX_EXITED: 0..255 */
    int signal;        /* the killing signal for SIGNALED, LIMIT (if by signal), SECCOMP */
    char limit[32];    /* TX_SANDBOX_LIMIT: the limit's public name */
    uint64_t used;     /* TX_SANDBOX_LIMIT: what was used (bytes/count), or 0 if unknown */
    uint64_t allowed;  /* TX_SANDBOX_LIMIT / TIMEOUT: the allowed value (timeout in ms) */
    char message[256]; /* one human line, e.g. "limit pids reached (33/32)" */
} tx_sandbox_outcome;

typedef struct tx_sandbox tx_sandbox; /* a running sandbox */

/* Fills p with an empty policy: no workspace, no mounts, no system binds, tx_limits_default(). */
void tx_sandbox_policy_init(tx_sandbox_policy *p);

/*
 * Starts a sandbox and runs fn(arg) in its worker, after all setup (pivot_root done, old root
 * detached, rlimits, cgroup, setsid, PDEATHSIG, fds closed except keep_fds and 0-2, caps
 * dropped, no_new_privs, non-dumpable, empty environment, cwd /workspace or /, stdio the
 * sandbox's own pipes relayed by init, see stdin_null). No seccomp is
 * installed: fn installs its own (tx_seccomp_install) once its own setup is done. fn's return
 * value (0..255) is the worker's exit status. Only safe from a single-threaded process.
 * On success *out owns the running sandbox (free with tx_sandbox_free); returns 0. Returns -1
 * with err set (TACTUS_EUSAGE for a bad policy, TACTUS_ESYSTEM when the kernel refuses a layer,
 * naming it) and nothing left running.
 */
int tx_sandbox_start(const tx_sandbox_policy *p, int (*fn)(void *arg), void *arg, tx_sandbox **out,
                     tx_error *err);

/*
 * Like tx_sandbox_start, but the worker execs argv[0] (looked up in /usr/bin:/bin inside the
 * sandbox unless it contains a '/') with environment exactly {"PATH=/usr/bin:/bin"}, after
 * installing the exec-mode seccomp allowlist (tx_seccomp_install(1)). An exec failure (e.g.
 * program not found) is reported here as -1 with the errno text, not as an exit status. Safe
 * from multi-threaded callers (see the header comment). argv is copied; the caller keeps it.
 */
int tx_sandbox_exec(const tx_sandbox_policy *p, char *const argv[], tx_sandbox **out,
                    tx_error *err);

/* The host pid of the sandbox's init (PID 1 inside). */
pid_t tx_sandbox_pid(const tx_sandbox *s);

/*
 * Which isolation layers are active, comma-separated, e.g.
 * "userns,pidns,mountns,netns,ipcns,utsns,cgroupns,rlimits,caps,nnp,seccomp,cgroup-v1:memory,pids,cpu"
 * or "...,cgroup:none(permission denied)". "seccomp" appears only on the exec path (on the fn
 * path fn installs its own). The string lives as long as s.
 */
const char *tx_sandbox_layers(const tx_sandbox *s);

/*
 * Waits for the sandbox with the policy timeout (pidfd + poll). On timeout kills the whole
 * sandbox (SIGKILL to init, then every pid left in the per-run cgroups). Fills *out (see
 * tx_sandbox_outcome) and tears down: kills everything left, removes the per-run cgroups and
 * checks they were empty. Returns 0, or -1 with err set if waiting or teardown failed (e.g. a
 * cgroup could not be removed); *out is still filled as well as known. Call at most once.
 */
int tx_sandbox_wait(tx_sandbox *s, tx_sandbox_outcome *out, tx_error *err);

/* Kills and cleans up if still running, then frees s. NULL is allowed. */
void tx_sandbox_free(tx_sandbox *s);

/*
 * Installs the seccomp allowlist in the calling process (and, with TSYNC, all its threads).
 * Only the native arch (x32 and int 0x80 die); clone3 -> ENOSYS. Runner profile: default
 * KILL_PROCESS. Exec profile: default ENOSYS, EPERM for privileged calls, kill for the attack
 * list (docs/security.md "Exec profile").
 * allow_exec 0 is the runner's stage 2: memory, time, signals, read/write/poll/sendmsg/recvmsg on
 * fds it already holds; open -> EACCES; no sockets, no processes, no exec. allow_exec 1 is the
 * exec mode for ordinary programs (files, fork, pipes, AF_UNIX). Both deny the kernel attack
 * surface listed in docs/security.md. Returns 0, or -1 with err (TACTUS_ESYSTEM) if the kernel
 * has no seccomp filter support.
 */
int tx_seccomp_install(int allow_exec, tx_error *err);

#endif
