/* commands.h - one function per `tactus` command; each returns the process exit code. */
#ifndef TX_COMMANDS_H
#define TX_COMMANDS_H

#include <jansson.h>
#include <stdio.h>

#include "config.h"

/* argv[0] is the command name in each. */
int tx_cmd_run(int argc, char **argv);
int tx_cmd_validate(int argc, char **argv);
int tx_cmd_info(int argc, char **argv);
int tx_cmd_runs(int argc, char **argv);
int tx_cmd_show(int argc, char **argv);
int tx_cmd_resume(int argc, char **argv);
int tx_cmd_replay(int argc, char **argv);
int tx_cmd_test(int argc, char **argv);

/* Prints the top-level usage. */
void tx_cli_usage(FILE *to);

/* True if "--json" is among argv[1..] (before a "--"): the command then prints exactly one
 * JSON object on stdout, also when it fails (docs/cli.md, "--json output"). */
int tx_cli_wants_json(int argc, char **argv);

/*
 * Reports a command's failure that has no result.json of its own (bad usage, a missing file,
 * an invalid procedure, a refused run): "tactus[ CMD]: MESSAGE" on stderr and, when json, one
 * object of the result.json shape on stdout: {"status": S, "error": {"type": T, "message": M
 * [, "file": F, "line": L]}}, S the status name of `status`. file may be NULL and line 0 when
 * unknown; type NULL picks one from status. Returns status as the exit code.
 */
int tx_cli_fail(int json, const char *cmd, tactus_status status, const char *type,
                const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 7, 8)));

/* Prints a JSON value on stdout for --json: indented, keys in insertion order. */
void tx_cli_print_json(const json_t *v);

/* Loads the trusted configuration for procedure `file` (in proc_dir) into cfg: the user's
 * $TACTUS_HOME/config.yml, then `policy` alone if given (as the ceiling: the user config may
 * only narrow it, tx_config_ceiling), else the tree's .tactus/config.yml and FILE.tac.yml.
 * Returns 0, or -1 with err naming the file, line and key. */
int tx_cli_load_config(const char *policy, const char *file, const char *proc_dir, tx_config *cfg,
                       tx_error *err);

/* Reads <dir>/run.json and checks its MAC (this host's run key) and run id. Returns the
 * record, or NULL after printing for `cmd` why the run is refused (never resumed, shown or
 * replayed: a directory this host did not create, or a record changed since). */
json_t *tx_cli_run_record(const char *cmd, const char *dir, const char *id);
/* The same; with json, the refusal is also the one --json object on stdout (tx_cli_fail). */
json_t *tx_cli_run_record_json(const char *cmd, const char *dir, const char *id, int json);

/* Where runs live unless --run-dir says otherwise. */
#define TX_RUNS_DIR ".tactus/runs"

#endif
