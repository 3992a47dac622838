/*
 * cmd_sandbox.c - `tactus sandbox`: run any program inside the tactus sandbox.
 *
 * The policy file uses the sidecar schema (runtime/config.h); only its `sandbox:` part
 * matters here. Without --policy the schema's defaults apply, so `tactus sandbox` behaves
 * like a run with an empty sidecar: current directory at /workspace (read-write), default
 * limits. The program always runs sandboxed; a policy that disables the sandbox is refused.
 */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "commands_sandbox.h"
#include "config.h"
#include "sandbox.h"

#define EXIT_TIMEOUT 124
#define EXIT_LIMIT 125
#define EXIT_CANNOT_RUN 126
#define EXIT_NOT_FOUND 127

static const char usage_text[] =
    "usage: tactus sandbox [--policy FILE.yml] [--workspace DIR] [--timeout SECS] -- PROGRAM "
    "[ARGS...]\n"
    "\n"
    "Runs PROGRAM in the tactus sandbox: new user, pid, mount, net, ipc, uts and cgroup\n"
    "namespaces; an empty root with /usr, /lib, /lib64, /bin, /sbin, /etc/ld.so.cache and\n"
    "/etc/alternatives read-only, a minimal /dev, a size-capped /tmp and the workspace at\n"
    "/workspace; no network; no capabilities; a seccomp allowlist (unknown system calls fail\n"
    "with ENOSYS, attacks are killed); resource limits. PROGRAM is looked up in\n"
    "/usr/bin:/bin inside the sandbox and gets the environment PATH=/usr/bin:/bin only.\n"
    "Its stdout and stderr are pipes relayed to ours; its stdin is ours relayed through a\n"
    "pipe, or /dev/null when ours is a terminal: it never holds this terminal or these files.\n"
    "\n"
    "options:\n"
    "  --policy FILE.yml  sidecar-format policy; its sandbox: section sets the workspace\n"
    "                     mode (profile, mount_current_dir), extra mounts and limits\n"
    "  --workspace DIR    host directory to mount at /workspace (default: the current\n"
    "                     directory unless the policy sets mount_current_dir: false)\n"
    "  --timeout SECS     wall-clock limit (default: the policy's sandbox.timeout)\n"
    "  -h, --help         this text\n"
    "\n"
    "exit status: the program's own; 124 timeout; 125 resource limit reached;\n"
    "128+N killed by signal N (159 = SIGSYS: a system call blocked by seccomp);\n"
    "126 could not run (bad usage, bad policy, sandbox unavailable); 127 program not found.\n";

/* Parsed command line; strings point into argv. */
typedef struct sandbox_args {
    const char *policy;
    const char *workspace;
    const char *timeout;
    char **program; /* NULL-terminated, points into argv */
} sandbox_args;

/* Returns 0, 1 for --help, or -1 after printing a usage error. */
static int parse_args(int argc, char **argv, sandbox_args *a)
{
    memset(a, 0, sizeof *a);
    int i = 1;
    for (; i < argc; i++) {
        const char *o = argv[i];
        if (strcmp(o, "--") == 0) {
            i++;
            break;
        }
        if (strcmp(o, "-h") == 0 || strcmp(o, "--help") == 0)
            return 1;
        const char **slot = strcmp(o, "--policy") == 0      ? &a->policy
                            : strcmp(o, "--workspace") == 0 ? &a->workspace
                            : strcmp(o, "--timeout") == 0   ? &a->timeout
                                                            : NULL;
        if (slot == NULL) {
            if (o[0] == '-') {
                fprintf(stderr, "tactus sandbox: unknown option '%s' (see tactus sandbox --help)\n",
                        o);
                return -1;
            }
            break; /* the program, without a "--" */
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "tactus sandbox: %s needs a value\n", o);
            return -1;
        }
        *slot = argv[++i];
    }
    if (i >= argc) {
        fprintf(stderr, "tactus sandbox: no program given (usage: tactus sandbox [options] -- "
                        "PROGRAM [ARGS...])\n");
        return -1;
    }
    a->program = argv + i;
    return 0;
}

/* Parses --timeout SECS (positive, decimals allowed, at most a day) into milliseconds. */
static int parse_timeout(const char *text, uint64_t *ms)
{
    char *end = NULL;
    errno = 0;
    double secs = strtod(text, &end);
    if (errno != 0 || end == text || *end != '\0' || !(secs > 0) || secs > 86400) {
        fprintf(stderr,
                "tactus sandbox: --timeout: expected seconds between 0 and 86400, got '%s'\n",
                text);
        return -1;
    }
    *ms = (uint64_t)(secs * 1000.0 + 0.5);
    if (*ms == 0)
        *ms = 1;
    return 0;
}

/* Resolves a mount source relative to the policy file's directory into an absolute,
 * symlink-free path (malloc'd into *out). */
static int resolve_source(const char *policy, const char *source, char **out)
{
    char joined[PATH_MAX * 2];
    if (source[0] == '/' || policy == NULL) {
        snprintf(joined, sizeof joined, "%s", source);
    } else {
        const char *slash = strrchr(policy, '/');
        int dirlen = slash ? (int)(slash - policy) : 1;
        snprintf(joined, sizeof joined, "%.*s/%s", dirlen, slash ? policy : ".", source);
    }
    char *real = realpath(joined, NULL);
    if (real == NULL) {
        fprintf(stderr, "tactus sandbox: %s: sandbox.mounts source '%s': %s\n",
                policy ? policy : "policy", source, strerror(errno));
        return -1;
    }
    *out = real;
    return 0;
}

/* True if a program name will be found inside the sandbox: checked on the host, which shows
 * the same /usr/bin and /bin. Paths outside the system directories are left to exec. */
static int program_missing(const char *prog)
{
    if (strchr(prog, '/') == NULL) {
        char path[PATH_MAX];
        snprintf(path, sizeof path, "/usr/bin/%s", prog);
        if (access(path, F_OK) == 0)
            return 0;
        snprintf(path, sizeof path, "/bin/%s", prog);
        return access(path, F_OK) != 0;
    }
    static const char *const sys[] = {"/usr/", "/bin/", "/lib/", "/lib64/", "/sbin/"};
    for (size_t i = 0; i < sizeof sys / sizeof sys[0]; i++)
        if (strncmp(prog, sys[i], strlen(sys[i])) == 0)
            return access(prog, F_OK) != 0;
    return 0;
}

/* Prints a library error without doubling the "sandbox: " prefix. */
static void print_error(const tx_error *err)
{
    const char *m = err->message;
    if (strncmp(m, "sandbox: ", 9) == 0)
        m += 9;
    fprintf(stderr, "tactus sandbox: %s\n", m);
}

/* Maps an outcome to the exit code, printing the one-line reason for non-program statuses. */
static int report(const tx_sandbox_outcome *o)
{
    switch (o->kind) {
    case TX_SANDBOX_EXITED:
        return o->exit_code;
    case TX_SANDBOX_TIMEOUT:
        if (o->allowed % 1000 == 0)
            fprintf(stderr, "tactus sandbox: timeout after %llu s\n",
                    (unsigned long long)(o->allowed / 1000));
        else
            fprintf(stderr, "tactus sandbox: timeout after %.3f s\n", (double)o->allowed / 1000);
        return EXIT_TIMEOUT;
    case TX_SANDBOX_LIMIT:
        if (o->used > 0)
            fprintf(stderr, "tactus sandbox: limit %s reached (%llu/%llu)\n", o->limit,
                    (unsigned long long)o->used, (unsigned long long)o->allowed);
        else
            fprintf(stderr, "tactus sandbox: limit %s reached (?/%llu)\n", o->limit,
                    (unsigned long long)o->allowed);
        return EXIT_LIMIT;
    case TX_SANDBOX_SECCOMP:
        fprintf(stderr, "tactus sandbox: killed by signal %d (SIGSYS): blocked by seccomp\n",
                o->signal);
        return 128 + o->signal;
    default: {
        const char *name = sigabbrev_np(o->signal);
        fprintf(stderr, "tactus sandbox: killed by signal %d (SIG%s)\n", o->signal,
                name ? name : "?");
        return 128 + o->signal;
    }
    }
}

/* Fills the sandbox policy from the config and flags. Owns nothing: *ws_out and the mount
 * sources are malloc'd and freed by the caller through `owned`. */
static int build_policy(const sandbox_args *a, const tx_config *cfg, tx_sandbox_policy *p,
                        char **ws_out, tx_mount *mounts)
{
    tx_sandbox_policy_init(p);
    p->bind_system = 1;
    p->limits = cfg->limits;
    if (a->timeout && parse_timeout(a->timeout, &p->limits.allowed[TX_LIMIT_TIMEOUT]) < 0)
        return -1;
    const char *ws = a->workspace;
    if (ws == NULL && cfg->mount_current_dir)
        ws = ".";
    if (ws != NULL) {
        *ws_out = realpath(ws, NULL);
        if (*ws_out == NULL) {
            fprintf(stderr, "tactus sandbox: workspace '%s': %s\n", ws, strerror(errno));
            return -1;
        }
        p->workspace = *ws_out;
    }
    p->workspace_read_only = cfg->workspace_read_only || cfg->profile == TX_PROFILE_REPO_READ ||
                             cfg->profile == TX_PROFILE_OFFLINE;
    if (cfg->profile == TX_PROFILE_REPO_WRITE)
        p->workspace_read_only = 0;
    if (cfg->nmounts > TX_SANDBOX_MAX_MOUNTS) {
        fprintf(stderr, "tactus sandbox: %s: at most %d sandbox.mounts\n", a->policy,
                TX_SANDBOX_MAX_MOUNTS);
        return -1;
    }
    for (size_t i = 0; i < cfg->nmounts; i++) {
        if (resolve_source(a->policy, cfg->mounts[i].source, &mounts[i].source) < 0)
            return -1;
        mounts[i].target = cfg->mounts[i].target;
        mounts[i].read_only = cfg->mounts[i].read_only;
        p->nmounts = i + 1;
    }
    p->mounts = mounts;
    return 0;
}

int tx_cmd_sandbox(int argc, char **argv)
{
    sandbox_args a;
    int pr = parse_args(argc, argv, &a);
    if (pr == 1) {
        fputs(usage_text, stdout);
        return 0;
    }
    if (pr < 0)
        return EXIT_CANNOT_RUN;

    tx_config cfg;
    tx_config_init(&cfg);
    tx_error err = {0};
    int rc = EXIT_CANNOT_RUN;
    char *ws = NULL;
    tx_mount mounts[TX_SANDBOX_MAX_MOUNTS];
    memset(mounts, 0, sizeof mounts);
    tx_sandbox_policy p;
    tx_sandbox *s = NULL;

    if (a.policy != NULL && tx_config_load_file(&cfg, a.policy, &err) < 0) {
        fprintf(stderr, "tactus sandbox: %s\n", err.message);
        goto out;
    }
    if (cfg.sandbox_enabled == 0) {
        fprintf(stderr,
                "tactus sandbox: %s sets sandbox.enabled: false; tactus sandbox never runs a "
                "program unsandboxed\n",
                a.policy);
        goto out;
    }
    if (build_policy(&a, &cfg, &p, &ws, mounts) < 0)
        goto out;
    if (program_missing(a.program[0])) {
        fprintf(stderr, "tactus sandbox: %s: command not found in the sandbox (/usr/bin:/bin)\n",
                a.program[0]);
        rc = EXIT_NOT_FOUND;
        goto out;
    }
    /* Our own stdio buffers must not be duplicated into the sandbox. */
    fflush(NULL);
    if (tx_sandbox_exec(&p, a.program, &s, &err) < 0) {
        print_error(&err);
        goto out;
    }
    /* Degraded mode is never silent: say which layers are missing. */
    if (strstr(tx_sandbox_layers(s), "none(") != NULL)
        fprintf(stderr,
                "tactus sandbox: note: no per-run cgroup, pids and memory are bounded by rlimits "
                "only (layers: %s)\n",
                tx_sandbox_layers(s));
    tx_sandbox_outcome o;
    if (tx_sandbox_wait(s, &o, &err) < 0) {
        print_error(&err);
        if (o.kind == 0)
            goto out;
    }
    rc = report(&o);
out:
    tx_sandbox_free(s);
    for (size_t i = 0; i < TX_SANDBOX_MAX_MOUNTS; i++)
        free(mounts[i].source);
    free(ws);
    tx_config_free(&cfg);
    return rc;
}
