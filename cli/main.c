/*
 * main.c - the `tactus` command: dispatches to one function per command.
 *
 * Exit codes (docs/cli.md): 0 ok, 1 procedure error, 2 usage or configuration error, 3 limit,
 * 4 timeout, 5 suspended, 6 nondeterminism, 7 system error. They are the tactus_status values.
 */
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "commands.h"
#include "commands_sandbox.h"
#include "commands_secrets.h"
#include "launch.h"
#include "tactus.h"

static const char usage_text[] =
    "usage: tactus <command> [options]\n"
    "       tactus FILE.tac [run options]     (same as: tactus run FILE.tac)\n"
    "\n"
    "commands:\n"
    "  run FILE.tac        run a procedure\n"
    "  validate FILE.tac   check syntax and declarations without running\n"
    "  info FILE.tac       show inputs, outputs, tools and specifications\n"
    "  runs                list runs under .tactus/runs\n"
    "  show RUN_ID         print a run's result.json\n"
    "  secrets set|list|rm manage encrypted secrets in TACTUS_HOME\n"
    "  sandbox -- PROG     run any program inside the sandbox\n"
    "  test FILE.tac       run the procedure's specifications\n"
    "  resume RUN_ID       resume a suspended or crashed run\n"
    "  replay --check ID   replay a run against the current source, executing nothing\n"
    "\n"
    "options:\n"
    "  -h, --help          help (also `tactus COMMAND --help`)\n"
    "  -V, --version       print the version\n"
    "\n"
    "exit codes: 0 ok, 1 procedure error, 2 usage/config error, 3 limit, 4 timeout,\n"
    "            5 suspended, 6 nondeterminism, 7 system error\n";

void tx_cli_usage(FILE *to)
{
    fputs(usage_text, to);
}

static int is_file(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        tx_cli_usage(stderr);
        return TACTUS_EUSAGE;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "-h") == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "help") == 0) {
        tx_cli_usage(stdout);
        return 0;
    }
    if (strcmp(cmd, "-V") == 0 || strcmp(cmd, "--version") == 0 || strcmp(cmd, "version") == 0) {
        printf("tactus %s\n", tactus_version());
        return 0;
    }
    if (strcmp(cmd, "__runner") == 0) {
        /* Hidden helper role: a library host exec'd us as its runner, socket on fd 3. */
        tx_runner_role(3);
    }
    if (strcmp(cmd, "run") == 0)
        return tx_cmd_run(argc - 1, argv + 1);
    if (strcmp(cmd, "validate") == 0)
        return tx_cmd_validate(argc - 1, argv + 1);
    if (strcmp(cmd, "info") == 0)
        return tx_cmd_info(argc - 1, argv + 1);
    if (strcmp(cmd, "runs") == 0)
        return tx_cmd_runs(argc - 1, argv + 1);
    if (strcmp(cmd, "show") == 0)
        return tx_cmd_show(argc - 1, argv + 1);
    if (strcmp(cmd, "secrets") == 0)
        return tx_cmd_secrets(argc - 1, argv + 1);
    if (strcmp(cmd, "sandbox") == 0)
        return tx_cmd_sandbox(argc - 1, argv + 1);
    if (strcmp(cmd, "replay") == 0)
        return tx_cmd_replay(argc - 1, argv + 1);
    if (strcmp(cmd, "resume") == 0)
        return tx_cmd_resume(argc - 1, argv + 1);
    if (strcmp(cmd, "test") == 0)
        return tx_cmd_test(argc - 1, argv + 1);
    if (cmd[0] != '-' && is_file(cmd))
        return tx_cmd_run(argc, argv); /* argv[0] stands in for "run" */
    fprintf(stderr, "tactus: unknown command '%s' (see tactus --help)\n", cmd);
    return TACTUS_EUSAGE;
}
