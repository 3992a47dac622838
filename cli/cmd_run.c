/*
 * cmd_run.c - `tactus run`, `tactus validate`, `tactus info`.
 *
 * Configuration order for a run: the procedure directory's .tactus/config.yml, then the
 * sidecar FILE.tac.yml, then --limit flags. `--policy FILE` replaces both files: nothing inside
 * an untrusted tree is read as configuration then.
 */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "commands.h"
#include "term.h"
#include "config.h"
#include "evidence.h"
#include "journal.h"
#include "run.h"
#include "util.h"

static const char run_help[] =
    "usage: tactus run FILE.tac [options]\n"
    "\n"
    "Runs a procedure. Progress and logs go to stderr; the output goes to stdout as JSON.\n"
    "\n"
    "options:\n"
    "  --param KEY=VALUE   an input value, converted by the input's declared type (repeatable)\n"
    "  --input FILE.json   input values from a JSON object (--param values override it)\n"
    "  --json              print exactly the result.json object on stdout (or, when the\n"
    "                      run cannot start, one {status, error} object of that shape)\n"
    "  --quiet             no progress or log lines on stderr\n"
    "  --run-id ID         use this run id ([A-Za-z0-9._-], at most 128 characters);\n"
    "                      an existing run is refused: continue it with tactus resume\n"
    "  --run-dir DIR       write the evidence to DIR instead of .tactus/runs/<run-id>\n"
    "  --policy FILE.yml   trusted configuration from outside the tree; ignores the sidecar\n"
    "                      and .tactus/config.yml next to the procedure; the user config\n"
    "                      can only narrow it\n"
    "  --limit NAME=VALUE  override a limit (memory=64m, instructions=1000000, timeout=30, ...)\n"
    "  --no-sandbox        run the VM in a plain child process (no namespaces or seccomp)\n"
    "  --sandbox           run the VM in the native sandbox (the default)\n"
    "  -h, --help          this help\n"
    "\n"
    "exit codes: 0 ok, 1 procedure error, 2 usage/config error, 3 limit, 4 timeout,\n"
    "            5 suspended, 6 nondeterminism, 7 system error,\n"
    "            130/143 interrupted by SIGINT (Ctrl-C)/SIGTERM: the runner is stopped (a\n"
    "            running host tool finishes first), result.json says interrupted; continue\n"
    "            with tactus resume RUN_ID\n";

typedef struct run_opts {
    const char *file;
    const char *input_file;
    const char *policy;
    const char *run_id;
    const char *run_dir;
    const char *runs_dir; /* NULL: TX_RUNS_DIR (unless run_dir says) */
    const char *rerun_of; /* --rerun: the finished run this new one repeats */
    int open_end;         /* replay --check of a run that has not finished: its procedure may
                           * go on past the end of the journal */
    int clean_to_end;     /* set by execute_run: it did (see accept_open_end) */
    json_t *params;       /* object of strings */
    int json;
    int quiet;
    int sandbox; /* -1 default, 0 --no-sandbox, 1 --sandbox */
    tx_config config;
} run_opts;

/* json: --json was given (the error is then also the one object on stdout). */
static int usage_error(int json, const char *cmd, const char *fmt, const char *arg)
{
    char what[512];
    snprintf(what, sizeof what, fmt, arg);
    return tx_cli_fail(json, cmd, TACTUS_EUSAGE, NULL, NULL, 0, "%s (see tactus %s --help)", what,
                       cmd);
}

/* Applies --limit NAME=VALUE; timeout is given in seconds like the sidecar's. */
static int apply_limit(tx_config *cfg, const char *spec, int json)
{
    char name[64];
    const char *eq = strchr(spec, '=');
    if (eq == NULL || eq == spec || (size_t)(eq - spec) >= sizeof name)
        return usage_error(json, "run", "--limit expects NAME=VALUE, got '%s'", spec);
    snprintf(name, sizeof name, "%.*s", (int)(eq - spec), spec);
    int id = tx_limit_by_name(name);
    if (id < 0)
        return usage_error(json, "run", "unknown limit '%s'", name);
    uint64_t v = 0;
    if (id == TX_LIMIT_TIMEOUT) {
        char *end = NULL;
        errno = 0;
        double secs = strtod(eq + 1, &end);
        if (errno != 0 || end == eq + 1 || *end != '\0' || !(secs >= 0) || secs > 1e9)
            return usage_error(json, "run", "--limit timeout expects seconds, got '%s'", eq + 1);
        v = (uint64_t)(secs * 1000.0);
    } else if (tx_parse_size(eq + 1, &v) != 0 ||
               (!tx_limit_is_size((tx_limit_id)id) && strpbrk(eq + 1, "kKmMgG") != NULL)) {
        return usage_error(json, "run", "--limit: bad value '%s'", spec);
    }
    cfg->limits.allowed[id] = v;
    cfg->limits_set |= 1u << id;
    return 0;
}

static const char validate_help[] =
    "usage: tactus validate FILE.tac [--policy FILE.yml] [--no-sandbox]\n"
    "       tactus info FILE.tac [--policy FILE.yml] [--no-sandbox]\n"
    "\n"
    "validate loads the procedure and runs its registration pass (the top-level code) without\n"
    "running main: syntax errors and declaration errors are reported with file:line, exit 1.\n"
    "Script-mode code stops at its input declaration or its first Host.call, checkpoint or\n"
    "other step with effects. info prints the declarations (inputs, outputs, tools, agents,\n"
    "specifications) as JSON. Both run in the sandbox like `run` does.\n";

/* `help`: the text --help prints for this command. */
static int parse_run_args(int argc, char **argv, run_opts *o, const char *help)
{
    const char *cmd = argv[0];
    o->json = tx_cli_wants_json(argc, argv);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *next = i + 1 < argc ? argv[i + 1] : NULL;
        int takes = strcmp(a, "--param") == 0 || strcmp(a, "--input") == 0 ||
                    strcmp(a, "--policy") == 0 || strcmp(a, "--run-id") == 0 ||
                    strcmp(a, "--run-dir") == 0 || strcmp(a, "--limit") == 0;
        if (takes && next == NULL)
            return usage_error(o->json, cmd, "%s needs a value", a);
        if (next == NULL)
            next = ""; /* only options that take no value get here */
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            fputs(help, stdout);
            return -1;
        } else if (strcmp(a, "--param") == 0) {
            const char *eq = strchr(next, '=');
            if (eq == NULL || eq == next)
                return usage_error(o->json, cmd,
                                   "invalid parameter format: %s (expected key=value)", next);
            char key[256];
            snprintf(key, sizeof key, "%.*s", (int)(eq - next), next);
            json_t *v = json_string(eq + 1);
            if (v == NULL || json_object_set_new(o->params, key, v) != 0)
                return usage_error(o->json, cmd, "--param %s: value is not valid UTF-8", next);
            i++;
        } else if (strcmp(a, "--input") == 0) {
            o->input_file = argv[++i];
        } else if (strcmp(a, "--policy") == 0) {
            o->policy = argv[++i];
        } else if (strcmp(a, "--run-id") == 0) {
            o->run_id = argv[++i];
        } else if (strcmp(a, "--run-dir") == 0) {
            o->run_dir = argv[++i];
        } else if (strcmp(a, "--limit") == 0) {
            if (apply_limit(&o->config, argv[++i], o->json) != 0)
                return TACTUS_EUSAGE;
        } else if (strcmp(a, "--json") == 0) {
            o->json = 1;
        } else if (strcmp(a, "--quiet") == 0 || strcmp(a, "-q") == 0) {
            o->quiet = 1;
        } else if (strcmp(a, "--no-sandbox") == 0) {
            o->sandbox = 0;
        } else if (strcmp(a, "--sandbox") == 0) {
            o->sandbox = 1;
        } else if (a[0] == '-' && a[1] != '\0') {
            return usage_error(o->json, cmd, "unknown option '%s'", a);
        } else if (o->file == NULL) {
            o->file = a;
        } else {
            return usage_error(o->json, cmd, "unexpected argument '%s'", a);
        }
    }
    if (o->file == NULL)
        return usage_error(o->json, cmd, "%s", "missing FILE.tac");
    return 0;
}

/* Loads configuration in order; later --limit flags were applied already and must win, so
 * they are re-applied on top by the caller keeping a copy. */
static int load_config(run_opts *o, const char *proc_dir)
{
    tx_config cli_limits = o->config; /* --limit flags */
    tx_config cfg;
    tx_error err;
    tx_error_clear(&err);
    tx_config_init(&cfg);
    if (tx_cli_load_config(o->policy, o->file, proc_dir, &cfg, &err) != 0) {
        tx_cli_fail(o->json, NULL, TACTUS_EUSAGE, "ConfigError", NULL, 0, "%s", err.message);
        tx_config_free(&cfg);
        return TACTUS_EUSAGE;
    }
    for (int id = 0; id < TX_LIMIT__COUNT; id++)
        if (cli_limits.limits_set & (1u << id))
            cfg.limits.allowed[id] = cli_limits.limits.allowed[id];
    tx_config_free(&cli_limits);
    o->config = cfg;
    return 0;
}

/* Prints run events for people, on stderr. Everything in them may come from the procedure,
 * so each line is escaped as a whole (tx_term_line): a message cannot end its line, start a
 * forged "tactus: ok" one, or send the terminal an escape sequence. stream.jsonl keeps the
 * exact text. */
static void print_event(void *ud, const char *event_json)
{
    (void)ud;
    json_t *e = json_loads(event_json, 0, NULL);
    const char *type = json_string_value(json_object_get(e, "type"));
    if (type == NULL) {
        json_decref(e);
        return;
    }
    if (strcmp(type, "log") == 0) {
        const char *level = json_string_value(json_object_get(e, "level"));
        const char *msg = json_string_value(json_object_get(e, "message"));
        json_t *ctx = json_object_get(e, "context");
        char *c = NULL;
        if (json_is_object(ctx) && json_object_size(ctx) > 0)
            c = json_dumps(ctx, JSON_COMPACT | JSON_PRESERVE_ORDER);
        tx_term_line(stderr, "[%s] %s%s%s", level ? level : "info", msg ? msg : "", c ? " " : "",
                     c ? c : "");
        free(c);
    } else if (strcmp(type, "run_started") == 0) {
        tx_term_line(stderr, "tactus: running %s (run %s)",
                     json_string_value(json_object_get(e, "procedure")) ?: "?",
                     json_string_value(json_object_get(e, "run_id")) ?: "?");
    } else if (strcmp(type, "host_call") == 0) {
        tx_term_line(stderr, "tactus: Host.call %s -> %s",
                     json_string_value(json_object_get(e, "name")) ?: "?",
                     json_string_value(json_object_get(e, "outcome")) ?: "?");
    } else if (strcmp(type, "stage") == 0) {
        tx_term_line(stderr, "tactus: stage %s",
                     json_string_value(json_object_get(e, "stage")) ?: "?");
    }
    json_decref(e);
}

static json_t *read_input_file(const char *path, int json)
{
    json_error_t jerr;
    json_t *v = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
    if (v == NULL) {
        if (jerr.line > 0)
            tx_cli_fail(json, NULL, TACTUS_EUSAGE, "InputError", path, jerr.line,
                        "%s:%d: invalid JSON: %s", path, jerr.line, jerr.text);
        else
            tx_cli_fail(json, NULL, TACTUS_EUSAGE, "InputError", path, 0, "%s: %s", path,
                        jerr.text);
        return NULL;
    }
    if (!json_is_object(v)) {
        tx_cli_fail(json, NULL, TACTUS_EUSAGE, "InputError", path, 0,
                    "%s: the input must be a JSON object", path);
        json_decref(v);
        return NULL;
    }
    return v;
}

static void print_result(const json_t *result, const run_opts *o)
{
    const char *status = json_string_value(json_object_get(result, "status"));
    if (o->json) {
        tx_cli_print_json(result);
        /* The final `tactus: STATUS: MESSAGE` line still goes to stderr (below). */
        if (status != NULL && strcmp(status, "ok") == 0)
            return;
    } else if (status != NULL && strcmp(status, "ok") == 0) {
        /* For people: JSON escapes control characters in strings, not DEL or C1 ones. */
        char *text = json_dumps(json_object_get(result, "output"),
                                JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_ENCODE_ANY);
        if (text != NULL) {
            tx_term_put(stdout, text, TX_TERM_KEEP_NEWLINES);
            fputc('\n', stdout);
        }
        free(text);
        if (!o->quiet)
            tx_term_line(stderr, "tactus: ok in %lld ms (run %s)",
                         (long long)json_integer_value(json_object_get(result, "duration_ms")),
                         json_string_value(json_object_get(result, "run_id")) ?: "?");
        return;
    }
    json_t *error = json_object_get(result, "error");
    tx_term_line(stderr, "tactus: %s: %s", status ? status : "failed",
                 json_string_value(json_object_get(error, "message")) ?: "(no message)");
}

/* True if the run directory exists as anything but an empty directory: a new run never takes
 * it over (tx_evidence_open refuses it too). */
static int run_dir_in_use(const char *run_dir)
{
    struct stat st;
    if (lstat(run_dir, &st) != 0)
        return 0;
    if (!S_ISDIR(st.st_mode))
        return 1;
    DIR *d = opendir(run_dir);
    if (d == NULL)
        return 1;
    struct dirent *de;
    int used = 0;
    while (!used && (de = readdir(d)) != NULL)
        used = strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0;
    closedir(d);
    return used;
}

/* `tactus run --run-id ID` of a run that exists: refused, naming the run and its status. */
static int refuse_existing_run(const char *run_dir, const char *run_id)
{
    char path[PATH_MAX + 256];
    snprintf(path, sizeof path, "%s/run.json", run_dir);
    tx_error err;
    tx_error_clear(&err);
    json_t *run = json_load_file(path, 0, NULL);
    int has_record = run != NULL;
    int ours = has_record && tx_run_record_verify(run, run_id, &err) == 0;
    json_decref(run);
    if (!ours) {
        fprintf(stderr,
                "tactus run: run %s exists (%s) but this host cannot vouch for it: %s; refusing "
                "to use it (remove the directory to start the run again)\n",
                run_id, run_dir, has_record ? err.message : "it holds no run.json");
        return TACTUS_EUSAGE;
    }
    snprintf(path, sizeof path, "%s/result.json", run_dir);
    json_t *result = json_load_file(path, 0, NULL);
    const char *status = json_string_value(json_object_get(result, "status"));
    fprintf(stderr,
            "tactus run: run %s already exists (status %s): continue it with `tactus resume "
            "%s`, or pick another --run-id\n",
            run_id, status ? status : "incomplete", run_id);
    json_decref(result);
    return TACTUS_EUSAGE;
}

json_t *tx_cli_run_record_json(const char *cmd, const char *dir, const char *id, int json)
{
    char path[PATH_MAX + 16];
    snprintf(path, sizeof path, "%s/run.json", dir);
    json_error_t jerr;
    json_t *run = json_load_file(path, 0, &jerr);
    if (run == NULL) {
        tx_cli_fail(json, cmd, TACTUS_EUSAGE, "NoSuchRun", NULL, 0, "no run '%s' (%s: %s)", id,
                    path, jerr.text);
        return NULL;
    }
    tx_error err;
    tx_error_clear(&err);
    if (tx_run_record_verify(run, id, &err) != 0) {
        tx_cli_fail(json, cmd, TACTUS_EUSAGE, "RunRefused", NULL, 0,
                    "refusing run '%s': this host did not create it or it was changed since: %s",
                    id, err.message);
        json_decref(run);
        return NULL;
    }
    return run;
}

json_t *tx_cli_run_record(const char *cmd, const char *dir, const char *id)
{
    return tx_cli_run_record_json(cmd, dir, id, 0);
}

/* The exit code for a result: its status's, and for an interrupted run 128 + the signal (130
 * for SIGINT, 143 for SIGTERM), as a shell reports a command a signal ended. */
static int exit_code(const json_t *result)
{
    const char *status = json_string_value(json_object_get(result, "status"));
    if (status != NULL && strcmp(status, "interrupted") == 0) {
        const char *sig =
            json_string_value(json_object_get(json_object_get(result, "error"), "signal"));
        return sig != NULL && strcmp(sig, "SIGTERM") == 0 ? 143 : 130;
    }
    return (int)tx_status_from_string(status);
}

/*
 * replay --check of a run that has not finished (interrupted or suspended): a procedure that
 * matched every record and then went on past the end of the journal is what such a run looks
 * like, not a divergence. The prelude reports it as the nondeterminism "replay check: the
 * journal ends at position N, but the procedure goes on to ..."; that one result becomes
 * {"status": "ok", "replay": "clean_to_end", ...} (exit 0). Any other divergence stays.
 */
static int accept_open_end(json_t *result)
{
    static const char prefix[] = "replay check: the journal ends at position ";
    const char *status = json_string_value(json_object_get(result, "status"));
    const char *msg =
        json_string_value(json_object_get(json_object_get(result, "error"), "message"));
    if (status == NULL || strcmp(status, "nondeterminism") != 0 || msg == NULL ||
        strncmp(msg, prefix, sizeof prefix - 1) != 0)
        return 0;
    json_object_set_new(result, "replay_note", json_string(msg));
    json_object_set_new(result, "status", json_string("ok"));
    json_object_set_new(result, "replay", json_string("clean_to_end"));
    json_object_set_new(result, "error", json_null());
    return 1;
}

/* Runs (or resumes) with options already parsed; returns the exit code. `answer` is the human's
 * answer for a resumed run, or NULL. */
static int execute_run(run_opts *o, json_t *input, int resume, json_t *answer,
                       const char *check_dir)
{
    char *source = NULL;
    size_t len = 0;
    json_t *result = NULL;
    tx_error err;
    tx_error_clear(&err);
    char proc_dir[PATH_MAX], runs_dir[PATH_MAX], run_id_buf[160], run_dir[PATH_MAX + 200];
    tx_dirname(o->file, proc_dir, sizeof proc_dir);
    int rc = load_config(o, proc_dir);
    if (rc != 0)
        return rc;
    rc = TACTUS_EUSAGE;
    if (tx_read_source(o->file, &source, &len, &err) != 0) {
        tx_cli_fail(o->json, NULL, TACTUS_EUSAGE, NULL, o->file, 0, "%s", err.message);
        goto done;
    }
    /* Sandboxed unless --no-sandbox or `sandbox: {enabled: false}` says otherwise. */
    int sandboxed = o->sandbox >= 0 ? o->sandbox : o->config.sandbox_enabled != 0;
    if (!sandboxed && !o->quiet)
        fprintf(stderr, "tactus: warning: running WITHOUT the sandbox (plain child process): "
                        "use this only for procedures you trust\n");

    const char *run_id = o->run_id;
    snprintf(runs_dir, sizeof runs_dir, "%s", o->runs_dir ? o->runs_dir : TX_RUNS_DIR);
    if (o->run_dir != NULL) {
        /* --run-dir DIR: the evidence goes exactly there. */
        tx_dirname(o->run_dir, runs_dir, sizeof runs_dir);
        const char *base = strrchr(o->run_dir, '/');
        snprintf(run_id_buf, sizeof run_id_buf, "%s", base ? base + 1 : o->run_dir);
        if (o->run_id != NULL && strcmp(o->run_id, run_id_buf) != 0) {
            tx_cli_fail(o->json, "run", TACTUS_EUSAGE, NULL, NULL, 0,
                        "--run-id and --run-dir name different runs");
            goto done;
        }
        run_id = run_id_buf;
    }
    if (run_id != NULL && check_dir == NULL) {
        snprintf(run_dir, sizeof run_dir, "%s/%s", runs_dir, run_id);
        if (!resume && run_dir_in_use(run_dir)) {
            rc = refuse_existing_run(run_dir, run_id);
            goto done;
        }
    }

    tx_run_spec spec;
    memset(&spec, 0, sizeof spec);
    spec.source = source;
    spec.source_len = len;
    spec.chunkname = o->file;
    spec.proc_dir = proc_dir;
    spec.input = input;
    spec.params = o->params;
    spec.config = &o->config;
    spec.isolation = sandboxed ? TACTUS_SANDBOX : TACTUS_CHILD;
    spec.separate_broker = 1;
    spec.runs_dir = check_dir ? NULL : runs_dir;
    spec.check_dir = check_dir;
    spec.run_id = run_id;
    spec.resume = resume;
    spec.answer = answer;
    spec.policy = o->policy;
    spec.rerun_of = o->rerun_of;
    spec.interactive = !o->json;
    spec.on_event = o->quiet ? NULL : print_event;
    result = tx_run(&spec, &err);
    if (result == NULL) {
        rc = tx_cli_fail(o->json, NULL, err.status != TACTUS_OK ? err.status : TACTUS_ESYSTEM, NULL,
                         NULL, 0, "%s", err.message);
        goto done;
    }
    if (check_dir != NULL && o->open_end)
        o->clean_to_end = accept_open_end(result);
    print_result(result, o);
    rc = exit_code(result);
done:
    json_decref(result);
    free(source);
    return rc;
}

static void run_opts_init(run_opts *o)
{
    memset(o, 0, sizeof *o);
    o->sandbox = -1;
    o->params = json_object();
    tx_config_init(&o->config);
}

static void run_opts_free(run_opts *o)
{
    json_decref(o->params);
    tx_config_free(&o->config);
}

int tx_cmd_run(int argc, char **argv)
{
    run_opts o;
    run_opts_init(&o);
    int rc = parse_run_args(argc, argv, &o, run_help);
    json_t *input = NULL;
    if (rc == 0 && o.input_file != NULL && (input = read_input_file(o.input_file, o.json)) == NULL)
        rc = TACTUS_EUSAGE;
    if (rc == 0)
        rc = execute_run(&o, input, 0, NULL, NULL);
    json_decref(input);
    run_opts_free(&o);
    return rc < 0 ? 0 : rc;
}

/* --json, --quiet/-q, --no-sandbox, --sandbox for commands that take a RUN_ID. Returns 1 if
 * `a` was one of them. */
static int output_flag(const char *a, run_opts *o)
{
    if (strcmp(a, "--json") == 0)
        o->json = 1;
    else if (strcmp(a, "--quiet") == 0 || strcmp(a, "-q") == 0)
        o->quiet = 1;
    else if (strcmp(a, "--no-sandbox") == 0)
        o->sandbox = 0;
    else if (strcmp(a, "--sandbox") == 0)
        o->sandbox = 1;
    else
        return 0;
    return 1;
}

/* Takes `a` as the RUN_ID argument; an unknown option or a second argument is a usage error
 * (printed for `cmd`, returns -1). */
static int run_id_argument(const char *cmd, const char *a, const char **id, int json)
{
    if (a[0] == '-') {
        usage_error(json, cmd, "unknown option or missing value: '%s'", a);
        return -1;
    }
    if (*id != NULL) {
        usage_error(json, cmd, "unexpected argument '%s'", a);
        return -1;
    }
    *id = a;
    return 0;
}

/*
 * A RUN_ID argument names a run under .tactus/runs, or, when it contains a '/', the run's
 * directory itself (a run started with --run-dir). Fills dir, sets *id to the run id and
 * o->run_dir for a path. Returns 0, or -1 after a usage message.
 */
static int locate_run(const char *cmd, const char **id, char *dir, size_t cap, run_opts *o)
{
    if (*id == NULL) {
        usage_error(o->json, cmd, "%s", "missing RUN_ID");
        return -1;
    }
    const char *slash = strrchr(*id, '/');
    if (slash != NULL) {
        snprintf(dir, cap, "%s", *id);
        o->run_dir = *id;
        *id = slash + 1;
    } else {
        snprintf(dir, cap, "%s/%s", TX_RUNS_DIR, *id);
    }
    if (!tx_valid_run_id(*id)) {
        usage_error(o->json, cmd, "invalid RUN_ID '%s'", *id);
        return -1;
    }
    return 0;
}

/*
 * Reads <dir>/run.json and fills o with the recorded procedure, policy and
 * --param strings. Returns the record (o points into it: keep it until o is done), or NULL
 * after printing why for `cmd`.
 */
static json_t *load_run_record(const char *cmd, const char *dir, const char *id, run_opts *o)
{
    json_t *run = tx_cli_run_record_json(cmd, dir, id, o->json);
    if (run == NULL)
        return NULL;
    /* The path as given when the run started, if it still exists from here; else absolute. */
    const char *file = json_string_value(json_object_get(run, "procedure"));
    struct stat st;
    if (file == NULL || stat(file, &st) != 0)
        file = json_string_value(json_object_get(run, "procedure_path"));
    if (file == NULL) {
        tx_term_line(stderr, "tactus %s: %s/run.json names no procedure", cmd, dir);
        json_decref(run);
        return NULL;
    }
    o->file = file;
    o->run_id = id;
    o->policy = json_string_value(json_object_get(run, "policy"));
    /* The isolation the run started with, unless the command line chooses. */
    const char *isolation = json_string_value(json_object_get(run, "isolation"));
    if (o->sandbox < 0 && isolation != NULL)
        o->sandbox = strcmp(isolation, "sandbox") == 0;
    json_t *params = json_object_get(run, "params");
    if (json_is_object(params))
        json_object_update(o->params, params);
    return run;
}

/* The result.json of the run in `dir` (new reference) when its status says it is finished:
 * ok, error, limit or timeout. NULL for a run that may go on (suspended, interrupted, a
 * system failure or a resume that diverged leave the journal to continue from) or that never
 * wrote one. */
static json_t *finished_result(const char *dir)
{
    static const char *const final[] = {"ok", "error", "limit", "timeout", NULL};
    char path[PATH_MAX + 16];
    snprintf(path, sizeof path, "%s/result.json", dir);
    json_t *result = json_load_file(path, 0, NULL);
    const char *status = json_string_value(json_object_get(result, "status"));
    for (int i = 0; status != NULL && final[i] != NULL; i++)
        if (strcmp(status, final[i]) == 0)
            return result;
    json_decref(result);
    return NULL;
}

/*
 * A finished run's journal must still hold every record its result.json counted
 * ("journal_records"): records lost from its tail would be executed again by anything that
 * replays it. Opened read-only (nothing changes). Returns 0, or the exit code after saying why.
 */
static int check_finished_journal(const char *dir, const char *id, const json_t *result)
{
    char path[PATH_MAX + 32];
    snprintf(path, sizeof path, "%s/journal.jsonl", dir);
    json_t *want_v = json_object_get(result, "journal_records");
    long want = json_is_integer(want_v) ? (long)json_integer_value(want_v) : -1;
    struct stat st;
    if (stat(path, &st) != 0) {
        if (want <= 0)
            return 0; /* a run that journaled nothing has no journal */
        tx_term_line(stderr,
                     "tactus resume: run %s finished with %ld journal records but %s is missing: "
                     "refusing it (nothing changed)",
                     id, want, path);
        return TACTUS_ESYSTEM;
    }
    tx_journal *j = NULL;
    tx_journal_report report;
    tx_error err;
    tx_error_clear(&err);
    if (tx_journal_open_readonly(path, id, &j, &report, &err) != 0) {
        tx_term_line(stderr, "tactus resume: %s", err.message);
        return err.status != TACTUS_OK ? (int)err.status : TACTUS_ESYSTEM;
    }
    long have = tx_journal_count(j);
    tx_journal_close(j);
    if (want >= 0 && (have != want || report.dropped_bytes > 0)) {
        tx_term_line(
            stderr,
            "tactus resume: run %s finished with %ld journal records but %s holds %ld%s%s: "
            "records of a finished run are missing or damaged; refusing it (nothing "
            "changed)",
            id, want, path, have, report.dropped_bytes > 0 ? " and " : "",
            report.dropped_bytes > 0 ? report.note : "");
        return TACTUS_ESYSTEM;
    }
    return 0;
}

/*
 * `tactus resume` of a finished run: nothing in its directory changes. Without --rerun it
 * prints the recorded result and returns its status's exit code; an answer is refused (exit
 * 2). With --rerun a new run (new id, next to the old one, run.json "rerun_of") runs the
 * recorded procedure and input again, so the first run's evidence stays what it was.
 */
static int resume_finished(run_opts *o, const char *id, const char *dir, json_t *result,
                           json_t *answer, int rerun, json_t *input)
{
    const char *status = json_string_value(json_object_get(result, "status"));
    if (answer != NULL) {
        tx_term_line(stderr,
                     "tactus resume: run %s is not waiting for an answer: it finished (status %s)",
                     id, status);
        return TACTUS_EUSAGE;
    }
    if (!rerun) {
        int rc = check_finished_journal(dir, id, result);
        if (rc != 0)
            return rc;
        print_result(result, o);
        if (!o->quiet)
            tx_term_line(stderr,
                         "tactus resume: run %s already finished (status %s); nothing changed. "
                         "tactus resume %s --rerun starts a new run of it",
                         id, status, id);
        return exit_code(result);
    }
    char parent[PATH_MAX];
    tx_dirname(dir, parent, sizeof parent);
    o->runs_dir = parent;
    o->run_dir = NULL;
    o->run_id = NULL;
    o->rerun_of = id;
    return execute_run(o, input, 0, NULL, NULL);
}

/*
 * Adds the answer option argv[*i] (and its value) to *answer ({"approve"|"reject": true,
 * "feedback"?: text} | {"text": ...} | {"json": v}). A resume carries one answer: a second
 * answer option, or one repeated, is a usage error naming both (*flag: the first one).
 * --feedback only joins --approve/--reject. Returns 0, or TACTUS_EUSAGE after the message.
 */
static int add_answer(int json, int argc, char **argv, int *i, json_t **answer, const char **flag)
{
    const char *a = argv[*i];
    int feedback = strcmp(a, "--feedback") == 0;
    int takes = feedback || strcmp(a, "--answer") == 0 || strcmp(a, "--answer-json") == 0;
    if (takes && *i + 1 >= argc)
        return usage_error(json, "resume", "%s needs a value", a);
    if (*answer == NULL)
        *answer = json_object();
    if (*answer == NULL)
        return usage_error(json, "resume", "%s", "out of memory");
    const char *key = feedback                          ? "feedback"
                      : strcmp(a, "--answer") == 0      ? "text"
                      : strcmp(a, "--answer-json") == 0 ? "json"
                                                        : a + 2;
    int has_decision = json_object_size(*answer) > (json_object_get(*answer, "feedback") != NULL);
    if ((feedback && json_object_get(*answer, "feedback") != NULL) || (!feedback && has_decision)) {
        char what[200];
        snprintf(what, sizeof what, "%s and %s are two answers: give one", *flag, a);
        return usage_error(json, "resume", "%s", what);
    }
    if (!feedback)
        *flag = a;
    json_t *v;
    if (!takes) {
        v = json_true();
    } else if (strcmp(key, "json") == 0) {
        json_error_t jerr;
        v = json_loads(argv[*i + 1], JSON_DECODE_ANY, &jerr);
        if (v == NULL) {
            return tx_cli_fail(json, "resume", TACTUS_EUSAGE, NULL, NULL, 0, "--answer-json: %s",
                               jerr.text);
        }
    } else {
        v = json_string(argv[*i + 1]);
        if (v == NULL)
            return usage_error(json, "resume", "%s: the value is not valid UTF-8", a);
    }
    if (takes)
        (*i)++;
    json_object_set_new(*answer, key, v);
    return 0;
}

static const char resume_help[] =
    "usage: tactus resume RUN_ID [--approve | --reject [--feedback TEXT] | --answer TEXT |\n"
    "                             --answer-json JSON]\n"
    "                            [--rerun] [--json] [--quiet] [--no-sandbox]\n"
    "\n"
    "Continues a suspended or interrupted run from its journal: the procedure runs again from\n"
    "the top and every recorded step returns its recorded result instead of running again.\n"
    "A finished run (status ok, error, limit or timeout) is final: resume prints its recorded\n"
    "result, exits with its status's code and changes nothing; an answer to it is refused.\n"
    "--rerun starts a NEW run (new id, next to the old one) of its recorded procedure and\n"
    "input; its run.json and result.json name the old run as \"rerun_of\".\n"
    "A run waiting for a human needs one answer of its question's kind (two answer options are\n"
    "a usage error, exit 2): Human.approve/escalate take --approve, --reject or --answer-json\n"
    "true|false; Human.review takes --approve or --reject (with --feedback TEXT) or\n"
    "--answer-json '{\"decision\": \"approve\"|\"reject\", \"feedback\": TEXT}'; Human.input "
    "takes\n"
    "--answer TEXT or --answer-json JSON (one of its options, if it lists some). Any other\n"
    "answer is refused (exit 2) with the accepted ones, and nothing changes.\n"
    "The procedure file, input, --policy and isolation are the ones recorded in the run's\n"
    "run.json, which must carry this host's MAC (TACTUS_HOME/run.key): a run this host did\n"
    "not create, or whose run.json was changed, is refused (exit 2).\n"
    "RUN_ID may also be the path of a run directory (a run started with --run-dir).\n";

int tx_cmd_resume(int argc, char **argv)
{
    run_opts o;
    run_opts_init(&o);
    json_t *answer = NULL, *run = NULL, *input = NULL, *finished = NULL;
    const char *id = NULL;
    int rc = TACTUS_EUSAGE, rerun = 0;
    const char *answer_flag = NULL;
    o.json = tx_cli_wants_json(argc, argv);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            fputs(resume_help, stdout);
            rc = 0;
            goto done;
        } else if (strcmp(a, "--rerun") == 0) {
            rerun = 1;
        } else if (strcmp(a, "--approve") == 0 || strcmp(a, "--reject") == 0 ||
                   strcmp(a, "--answer") == 0 || strcmp(a, "--answer-json") == 0 ||
                   strcmp(a, "--feedback") == 0) {
            if (add_answer(o.json, argc, argv, &i, &answer, &answer_flag) != 0)
                goto done;
        } else if (!output_flag(a, &o) && run_id_argument("resume", a, &id, o.json) != 0) {
            goto done;
        }
    }
    if (json_object_get(answer, "feedback") != NULL && json_object_get(answer, "approve") == NULL &&
        json_object_get(answer, "reject") == NULL) {
        usage_error(o.json, "resume", "%s", "--feedback goes with --approve or --reject");
        goto done;
    }
    char dir[PATH_MAX];
    if (locate_run("resume", &id, dir, sizeof dir, &o) != 0)
        goto done;
    if ((run = load_run_record("resume", dir, id, &o)) == NULL)
        goto done;
    input = json_incref(json_object_get(run, "input"));
    if ((finished = finished_result(dir)) != NULL) {
        rc = resume_finished(&o, id, dir, finished, answer, rerun,
                             json_is_object(input) ? input : NULL);
        goto done;
    }
    if (rerun) {
        tx_cli_fail(o.json, "resume", TACTUS_EUSAGE, "RunRefused", NULL, 0,
                    "--rerun: run %s has not finished: continue it with tactus resume %s", id, id);
        goto done;
    }
    rc = execute_run(&o, json_is_object(input) ? input : NULL, 1, answer, NULL);
done:
    json_decref(finished);
    json_decref(answer);
    json_decref(input);
    json_decref(run);
    run_opts_free(&o);
    return rc;
}

/* validate and info share this: load, register, do not run main. */
static int inspect(int argc, char **argv, int show_info)
{
    run_opts o;
    run_opts_init(&o);
    int rc = parse_run_args(argc, argv, &o, validate_help);
    if (rc != 0) {
        json_decref(o.params);
        tx_config_free(&o.config);
        return rc < 0 ? 0 : rc;
    }
    char *source = NULL;
    size_t len = 0;
    tx_error err;
    tx_error_clear(&err);
    json_t *result = NULL;
    char proc_dir[PATH_MAX];
    tx_dirname(o.file, proc_dir, sizeof proc_dir);
    if ((rc = load_config(&o, proc_dir)) != 0)
        goto done;
    rc = TACTUS_EUSAGE;
    if (tx_read_source(o.file, &source, &len, &err) != 0) {
        tx_cli_fail(o.json, NULL, TACTUS_EUSAGE, NULL, o.file, 0, "%s", err.message);
        goto done;
    }
    tx_run_spec spec;
    memset(&spec, 0, sizeof spec);
    spec.source = source;
    spec.source_len = len;
    spec.chunkname = o.file;
    spec.proc_dir = proc_dir;
    spec.config = &o.config;
    /* The top-level code of an untrusted file runs here too: sandboxed like `run`. */
    spec.isolation = (o.sandbox >= 0 ? o.sandbox : o.config.sandbox_enabled != 0) ? TACTUS_SANDBOX
                                                                                  : TACTUS_CHILD;
    spec.validate_only = 1;
    result = tx_run(&spec, &err);
    if (result == NULL) {
        rc = tx_cli_fail(o.json, NULL, TACTUS_ESYSTEM, NULL, NULL, 0, "%s", err.message);
        goto done;
    }
    const char *status = json_string_value(json_object_get(result, "status"));
    if (status == NULL || strcmp(status, "ok") != 0) {
        json_t *error = json_object_get(result, "error");
        tx_term_line(stderr, "tactus: %s is not valid: %s", o.file,
                     json_string_value(json_object_get(error, "message")) ?: "(no message)");
        if (o.json) { /* the run's own error object: type, message, file, line */
            json_t *obj = json_pack("{s:s, s:O}", "status", "error", "error", error);
            tx_cli_print_json(obj);
            json_decref(obj);
        }
        rc = TACTUS_EPROC;
        goto done;
    }
    json_t *decl = json_object_get(result, "declarations");
    /* Lists that came out empty are empty arrays (an empty Lua table reads as an object). */
    static const char *const lists[] = {"tools", "agents", NULL};
    for (int i = 0; lists[i]; i++) {
        json_t *v = json_object_get(decl, lists[i]);
        if (json_is_object(v) && json_object_size(v) == 0)
            json_object_set_new(decl, lists[i], json_array());
    }
    if (o.json || show_info) {
        char *text = json_dumps(decl, JSON_INDENT(2) | JSON_SORT_KEYS);
        if (text != NULL)
            printf("%s\n", text);
        free(text);
    } else {
        json_t *procs = json_object_get(decl, "procedures");
        tx_term_line(stdout, "%s: valid (%zu procedure%s%s, %lld specification block%s)", o.file,
                     json_object_size(procs), json_object_size(procs) == 1 ? "" : "s",
                     json_is_true(json_object_get(decl, "script_mode")) ? ", script mode" : "",
                     (long long)json_integer_value(json_object_get(decl, "specifications")),
                     json_integer_value(json_object_get(decl, "specifications")) == 1 ? "" : "s");
    }
    rc = 0;
done:
    json_decref(result);
    json_decref(o.params);
    free(source);
    tx_config_free(&o.config);
    return rc;
}

int tx_cmd_validate(int argc, char **argv)
{
    return inspect(argc, argv, 0);
}

int tx_cmd_info(int argc, char **argv)
{
    return inspect(argc, argv, 1);
}

static const char replay_help[] =
    "usage: tactus replay --check RUN_ID [--json] [--quiet] [--no-sandbox]\n"
    "\n"
    "Replays a run against the procedure's current source without executing any step: every\n"
    "journaled operation must match the run's journal (kind, name and call site) and the\n"
    "procedure must use the whole journal. Exit 0 when it matches (the replayed output is\n"
    "printed), 6 with the first divergence otherwise. A run that has not finished (interrupted\n"
    "or suspended) may go on past the end of its journal: that is exit 0, \"replays cleanly up\n"
    "to the end of the journal\". Nothing in the run directory changes: the journal is opened\n"
    "read-only (byte-identical, same mtime).\n"
    "RUN_ID may also be the path of a run directory (a run started with --run-dir).\n";

int tx_cmd_replay(int argc, char **argv)
{
    run_opts o;
    run_opts_init(&o);
    o.quiet = 1;
    json_t *run = NULL, *input = NULL;
    const char *id = NULL;
    int check = 0, rc = TACTUS_EUSAGE;
    o.json = tx_cli_wants_json(argc, argv);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            fputs(replay_help, stdout);
            rc = 0;
            goto done;
        } else if (strcmp(a, "--check") == 0) {
            check = 1;
        } else if (!output_flag(a, &o) && run_id_argument("replay", a, &id, o.json) != 0) {
            goto done;
        }
    }
    if (!check) {
        usage_error(o.json, "replay", "%s",
                    "only --check is supported: tactus replay --check RUN_ID");
        goto done;
    }
    char dir[PATH_MAX];
    if (locate_run("replay", &id, dir, sizeof dir, &o) != 0)
        goto done;
    if ((run = load_run_record("replay", dir, id, &o)) == NULL)
        goto done;
    input = json_incref(json_object_get(run, "input"));
    json_t *finished = finished_result(dir);
    o.open_end = finished == NULL;
    json_decref(finished);
    rc = execute_run(&o, json_is_object(input) ? input : NULL, 0, NULL, dir);
    if (rc == 0 && !o.json && o.clean_to_end)
        tx_term_line(stderr,
                     "tactus replay: run %s replays cleanly up to the end of the journal (it has "
                     "not finished: what comes next has not run yet)",
                     id);
    else if (rc == 0 && !o.json)
        tx_term_line(stderr, "tactus replay: run %s matches its journal", id);
done:
    json_decref(input);
    json_decref(run);
    run_opts_free(&o);
    return rc;
}
