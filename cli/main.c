/*
 * main.c - the `tactus` command: dispatches to one function per command.
 *
 * Exit codes (docs/cli.md): 0 ok, 1 procedure error, 2 usage or configuration error, 3 limit,
 * 4 timeout, 5 suspended, 6 nondeterminism, 7 system error. They are the tactus_status values.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "commands.h"
#include "commands_sandbox.h"
#include "commands_secrets.h"
#include "launch.h"
#include "tactus.h"
#include "term.h"

static const char usage_text[] =
    "usage: tactus <command> [options]\n"
    "       tactus FILE.tac [run options]     (same as: tactus run FILE.tac)\n"
    "\n"
    "commands:\n"
    "  run FILE.tac        run a procedure\n"
    "  validate FILE.tac   check syntax and declarations without running\n"
    "  info FILE.tac       show inputs, outputs, tools and specifications\n"
    "  runs                list runs under .tactus/runs\n"
    "  show RUN_ID         summarize a run (--json: run.json and result.json)\n"
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
    "            5 suspended, 6 nondeterminism, 7 system error\n"
    "--json: every command that takes it prints exactly one JSON object on stdout, also\n"
    "        when it fails ({\"status\": ..., \"error\": {\"type\": ..., \"message\": ...}})\n";

void tx_cli_usage(FILE *to)
{
    fputs(usage_text, to);
}

int tx_cli_wants_json(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--") == 0)
            return 0;
        if (strcmp(argv[i], "--json") == 0)
            return 1;
    }
    return 0;
}

void tx_cli_print_json(const json_t *v)
{
    char *text = json_dumps(v, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_ENCODE_ANY);
    if (text != NULL)
        printf("%s\n", text);
    free(text);
}

/* The error.type a failure without its own type gets, by status. */
static const char *type_for(tactus_status status)
{
    switch (status) {
    case TACTUS_EUSAGE:
        return "UsageError";
    case TACTUS_EPROC:
        return "ProcedureError";
    case TACTUS_ESYSTEM:
        return "SystemError";
    default:
        return "Error";
    }
}

int tx_cli_fail(int json, const char *cmd, tactus_status status, const char *type, const char *file,
                int line, const char *fmt, ...)
{
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    /* Messages may quote the procedure or its files: escaped for the terminal (term.h). */
    tx_term_line(stderr, "tactus%s%s: %s", cmd ? " " : "", cmd ? cmd : "", msg);
    if (json) {
        json_t *error =
            json_pack("{s:s, s:s}", "type", type ? type : type_for(status), "message", msg);
        if (error != NULL && file != NULL)
            json_object_set_new(error, "file", json_string(file));
        if (error != NULL && line > 0)
            json_object_set_new(error, "line", json_integer(line));
        json_t *obj =
            error ? json_pack("{s:s, s:o}", "status", tactus_status_name(status), "error", error)
                  : NULL;
        if (obj != NULL)
            tx_cli_print_json(obj);
        else
            printf("{\"status\": \"system\", \"error\": {\"type\": \"SystemError\", "
                   "\"message\": \"out of memory\"}}\n");
        json_decref(obj);
    }
    return (int)status;
}

/*
 * The --json contract for every command: while it runs, stdout goes to a memory file; if it
 * printed nothing at all (a failure it reported only on stderr), one object of the result.json
 * shape takes its place, so a script always reads exactly one object. Then the captured
 * output goes to the real stdout. Returns the command's exit code (7 if stdout fails).
 */
static int run_json_command(int (*cmd)(int, char **), int argc, char **argv)
{
    fflush(stdout);
    int real = fcntl(STDOUT_FILENO, F_DUPFD_CLOEXEC, 3); /* no child inherits it */
    int mem = memfd_create("tactus-json-stdout", MFD_CLOEXEC);
    if (real < 0 || mem < 0 || dup2(mem, STDOUT_FILENO) < 0) {
        if (real >= 0)
            close(real);
        if (mem >= 0)
            close(mem);
        return cmd(argc, argv); /* no capture: the commands' own reports still hold */
    }
    int rc = cmd(argc, argv);
    fflush(stdout);
    off_t size = lseek(mem, 0, SEEK_END);
    if (dup2(real, STDOUT_FILENO) < 0)
        rc = TACTUS_ESYSTEM;
    close(real);
    if (size == 0) {
        char what[64];
        snprintf(what, sizeof what, "exited with status %d", rc);
        json_t *obj = json_pack("{s:s, s:{s:s, s:s}}", "status",
                                tactus_status_name((tactus_status)(rc == 0 ? TACTUS_ESYSTEM : rc)),
                                "error", "type", type_for((tactus_status)rc), "message",
                                rc == 0 ? "the command printed no result" : what);
        tx_cli_print_json(obj);
        json_decref(obj);
        if (rc == 0)
            rc = TACTUS_ESYSTEM;
    } else if (size > 0 && lseek(mem, 0, SEEK_SET) == 0) {
        char buf[65536];
        ssize_t n;
        while ((n = read(mem, buf, sizeof buf)) > 0 || (n < 0 && errno == EINTR))
            if (n > 0 && fwrite(buf, 1, (size_t)n, stdout) != (size_t)n)
                break;
    }
    close(mem);
    if (fflush(stdout) != 0)
        rc = TACTUS_ESYSTEM;
    return rc;
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
    static const struct {
        const char *name;
        int (*fn)(int, char **);
    } commands[] = {{"run", tx_cmd_run},         {"validate", tx_cmd_validate},
                    {"info", tx_cmd_info},       {"runs", tx_cmd_runs},
                    {"show", tx_cmd_show},       {"secrets", tx_cmd_secrets},
                    {"sandbox", tx_cmd_sandbox}, {"replay", tx_cmd_replay},
                    {"resume", tx_cmd_resume},   {"test", tx_cmd_test}};
    int (*fn)(int, char **) = NULL;
    int shift = 1; /* argv[0] stands in for "run" in `tactus FILE.tac` */
    for (size_t i = 0; fn == NULL && i < sizeof commands / sizeof commands[0]; i++)
        if (strcmp(cmd, commands[i].name) == 0)
            fn = commands[i].fn;
    if (fn == NULL && cmd[0] != '-' && is_file(cmd)) {
        fn = tx_cmd_run;
        shift = 0;
    }
    if (fn != NULL) {
        /* `tactus sandbox -- PROG --json` passes --json on to PROG: not ours. */
        if (fn != tx_cmd_sandbox && fn != tx_cmd_secrets &&
            tx_cli_wants_json(argc - shift, argv + shift))
            return run_json_command(fn, argc - shift, argv + shift);
        return fn(argc - shift, argv + shift);
    }
    return tx_cli_fail(tx_cli_wants_json(argc, argv), NULL, TACTUS_EUSAGE, NULL, NULL, 0,
                       "unknown command '%s' (see tactus --help)", cmd);
}
