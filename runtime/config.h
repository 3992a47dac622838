/*
 * config.h - the trusted configuration of a run: sidecar `proc.tac.yml`, `.tactus/config.yml`,
 * a `--policy` file. All three share one schema (docs/sidecar.md); later files are merged on
 * top of earlier ones with tx_config_load_file().
 *
 * Merge rules: scalars present in a later file replace earlier ones; `tools` lists are unioned
 * (order kept, duplicates dropped); `host_tools` entries replace an earlier entry of the same
 * name; `sandbox.mounts` lists are appended. Unknown keys, wrong types, bad sizes and bad enum
 * values are errors naming file, line and key path (e.g. "proc.tac.yml:7: sandbox.limits.memory:
 * expected a size like 256m, got 'lots'").
 */
#ifndef TX_CONFIG_H
#define TX_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include "tx_limits.h"
#include "tx_error.h"

typedef enum tx_durability {
    TX_DURABILITY_FSYNC, /* default: every journal record fdatasync'd before Lua sees it */
    TX_DURABILITY_BATCH,
    TX_DURABILITY_NONE
} tx_durability;

typedef enum tx_profile {
    TX_PROFILE_NONE,      /* no `sandbox.profile` given */
    TX_PROFILE_OFFLINE,   /* workspace not mounted writable, no host tools beyond the allowlist */
    TX_PROFILE_REPO_READ, /* workspace read-only */
    TX_PROFILE_REPO_WRITE /* workspace read-write */
} tx_profile;

typedef struct tx_mount {
    char *source; /* as written; relative paths are relative to the config file's directory */
    char *target; /* absolute path inside the sandbox */
    int read_only;
} tx_mount;

typedef struct tx_host_tool {
    char *name;  /* e.g. "repo.diff" */
    char **argv; /* NULL-terminated argv, argv[0] looked up in PATH; never a shell */
    size_t argc;
    uint64_t timeout_ms; /* default 30000 */
    char **secrets;      /* names of secrets put into the tool's environment */
    size_t nsecrets;
    char *cwd;           /* NULL: the procedure's directory */
    uint64_t max_output; /* bytes of stdout accepted; default 1 MiB */
    int sandboxed;       /* `sandbox: true`: run the command under `tactus sandbox` */
} tx_host_tool;

typedef struct tx_config {
    char **tools; /* allowlist of tool names the procedure may call */
    size_t ntools;
    tx_host_tool *host_tools;
    size_t nhost_tools;
    tx_durability durability;
    int sandbox_enabled;   /* -1 unset (caller decides), 0 or 1 */
    char *network;         /* only "none" is accepted today; NULL when unset */
    int mount_current_dir; /* default 1 */
    int workspace_read_only;
    tx_mount *mounts;
    size_t nmounts;
    tx_profile profile;
    tx_limits limits;        /* defaults from tx_limits_default(), overridden per key */
    uint32_t limits_set;     /* bit (1u << id) set for each limit a file gave explicitly */
    int strict_determinism;  /* default 0 */
    char **read_credentials; /* `files.read_credentials`: credential files File may read */
    size_t nread_credentials;
    char **sources; /* the files merged in (absolute paths where they resolve), in order */
    size_t nsources;
} tx_config;

/* Fills cfg with defaults. Never fails. */
void tx_config_init(tx_config *cfg);

/* Frees everything cfg owns and re-initialises it. */
void tx_config_free(tx_config *cfg);

/*
 * Parses YAML text (named `name` in messages) and merges it onto cfg. An empty document is
 * valid and changes nothing. Returns 0, or -1 with err set (status TACTUS_EUSAGE) and cfg left
 * exactly as it was before the call.
 */
int tx_config_load_string(tx_config *cfg, const char *name, const char *yaml, size_t len,
                          tx_error *err);

/* Reads a file (at most 1 MiB) and calls tx_config_load_string with its path as name. On
 * success the path (made absolute) is appended to cfg->sources. */
int tx_config_load_file(tx_config *cfg, const char *path, tx_error *err);

/* Like tx_config_load_file for a file the CLI found rather than one the user named (sidecars,
 * project and user configuration): it must be a regular file; a FIFO, socket or device under
 * that name is refused without blocking. */
int tx_config_load_found(tx_config *cfg, const char *path, tx_error *err);

/*
 * Applies `policy` as the ceiling of cfg (`--policy`): cfg may only narrow it. The result is
 * the policy's configuration with: tools = policy tools, intersected with cfg's when cfg names
 * any; host_tools, mounts and files.read_credentials from the policy only; each limit the
 * smaller of the two (0 meaning unlimited); the sandbox enabled unless both leave it off or
 * unset-and-off; the workspace read-only, mount_current_dir off and the stricter profile when
 * either says so; strict determinism when either says so. cfg's sources are kept and the
 * policy's appended. Returns 0, or -1 with err set (out of memory) and cfg unchanged.
 */
int tx_config_ceiling(tx_config *cfg, const tx_config *policy, tx_error *err);

/* True if `tool` is in cfg->tools. */
int tx_config_allows_tool(const tx_config *cfg, const char *tool);

/* The host tool named `name`, or NULL. */
const tx_host_tool *tx_config_host_tool(const tx_config *cfg, const char *name);

#endif
