/* commands.h - one function per `tactus` command; each returns the process exit code. */
#ifndef TX_COMMANDS_H
#define TX_COMMANDS_H

#include <stdio.h>

/* argv[0] is the command name in each. */
int tx_cmd_run(int argc, char **argv);
int tx_cmd_validate(int argc, char **argv);
int tx_cmd_info(int argc, char **argv);
int tx_cmd_runs(int argc, char **argv);
int tx_cmd_show(int argc, char **argv);
int tx_cmd_resume(int argc, char **argv);
int tx_cmd_replay(int argc, char **argv);
int tx_cmd_test(int argc, char **argv);
int tx_cmd_unavailable(int argc, char **argv);

/* Prints the top-level usage. */
void tx_cli_usage(FILE *to);

/* Where runs live unless --run-dir says otherwise. */
#define TX_RUNS_DIR ".tactus/runs"

#endif
