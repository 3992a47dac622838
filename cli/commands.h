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

/* Where runs live unless --run-dir says otherwise. */
#define TX_RUNS_DIR ".tactus/runs"

#endif
