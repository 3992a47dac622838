/*
 * cmd_test.c - `tactus test FILE.tac`: runs the procedure's specifications([[...]]) scenarios
 * (lua/bdd.lua does the work inside the VM; this prints the report).
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "term.h"
#include "commands.h"
#include "config.h"
#include "run.h"
#include "util.h"

static const char test_help[] =
    "usage: tactus test FILE.tac [--scenario TEXT] [--param KEY=VALUE]... [--input FILE.json]\n"
    "                   [--policy FILE.yml] [--json] [--no-sandbox]\n"
    "\n"
    "Runs the Gherkin scenarios the procedure declares with specifications([[...]]). Each\n"
    "scenario runs the procedure afresh: nothing is journaled, Human.* answer with mock values\n"
    "(approve: true, input: \"test input\", review: {decision = \"Approve\"}) unless a step sets\n"
    "them, and Host.call reaches the real host tools allowed by the sidecar.\n"
    "\n"
    "options:\n"
    "  --scenario TEXT     run only scenarios whose name contains TEXT\n"
    "  --param KEY=VALUE   an input value for every scenario, converted by the input's\n"
    "                      declared type as in `tactus run` (a step may override it)\n"
    "  --input FILE.json   input values for every scenario\n"
    "  --json              print the report as JSON on stdout\n"
    "\n"
    "exit codes: 0 every scenario passed, 1 a scenario failed or none were found,\n"
    "            2 usage/config error, 7 system error\n";

static void print_report(const json_t *report)
{
    size_t i;
    json_t *sc;
    json_array_foreach(json_object_get(report, "scenarios"), i, sc)
    {
        int passed = json_is_true(json_object_get(sc, "passed"));
        /* Names, step texts and messages are the procedure's: escaped (term.h). */
        tx_term_line(stdout, "%s %s", passed ? "PASS" : "FAIL",
                     json_string_value(json_object_get(sc, "name")) ?: "(unnamed)");
        size_t k;
        json_t *st;
        json_array_foreach(json_object_get(sc, "steps"), k, st)
        {
            const char *status = json_string_value(json_object_get(st, "status"));
            if (passed || status == NULL || strcmp(status, "passed") == 0)
                continue;
            tx_term_line(stdout, "    %s %s %s (line %lld)", status,
                         json_string_value(json_object_get(st, "keyword")) ?: "",
                         json_string_value(json_object_get(st, "text")) ?: "",
                         (long long)json_integer_value(json_object_get(st, "line")));
            const char *msg = json_string_value(json_object_get(st, "message"));
            if (msg != NULL)
                tx_term_line(stdout, "        %s", msg);
        }
    }
    printf("%lld scenarios: %lld passed, %lld failed\n",
           (long long)json_integer_value(json_object_get(report, "total")),
           (long long)json_integer_value(json_object_get(report, "passed")),
           (long long)json_integer_value(json_object_get(report, "failed")));
}

int tx_cmd_test(int argc, char **argv)
{
    const char *file = NULL, *filter = NULL, *policy = NULL, *input_file = NULL;
    int as_json = 0, sandbox = -1, rc = TACTUS_EUSAGE;
    json_t *params = json_object(), *input = NULL, *result = NULL;
    char *source = NULL;
    tx_config cfg;
    tx_config_init(&cfg);
    as_json = tx_cli_wants_json(argc, argv);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *next = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            fputs(test_help, stdout);
            rc = 0;
            goto done;
        } else if (strcmp(a, "--scenario") == 0 && next) {
            filter = argv[++i];
        } else if (strcmp(a, "--policy") == 0 && next) {
            policy = argv[++i];
        } else if (strcmp(a, "--input") == 0 && next) {
            input_file = argv[++i];
        } else if (strcmp(a, "--param") == 0 && next) {
            const char *eq = strchr(next, '=');
            if (eq == NULL || eq == next) {
                tx_cli_fail(as_json, "test", TACTUS_EUSAGE, NULL, NULL, 0,
                            "invalid parameter format: %s (expected key=value)", next);
                goto done;
            }
            char key[256];
            snprintf(key, sizeof key, "%.*s", (int)(eq - next), next);
            if (json_object_set_new(params, key, json_string(eq + 1)) != 0) {
                tx_cli_fail(as_json, "test", TACTUS_EUSAGE, NULL, NULL, 0,
                            "--param %s: value is not valid UTF-8", next);
                goto done;
            }
            i++;
        } else if (strcmp(a, "--json") == 0) {
            as_json = 1;
        } else if (strcmp(a, "--no-sandbox") == 0) {
            sandbox = 0;
        } else if (a[0] == '-') {
            tx_cli_fail(as_json, "test", TACTUS_EUSAGE, NULL, NULL, 0,
                        "unknown option or missing value: '%s' (see --help)", a);
            goto done;
        } else if (file == NULL) {
            file = a;
        } else {
            tx_cli_fail(as_json, "test", TACTUS_EUSAGE, NULL, NULL, 0, "unexpected argument '%s'",
                        a);
            goto done;
        }
    }
    if (file == NULL) {
        tx_cli_fail(as_json, "test", TACTUS_EUSAGE, NULL, NULL, 0,
                    "missing FILE.tac (see tactus test --help)");
        goto done;
    }
    char proc_dir[PATH_MAX];
    tx_dirname(file, proc_dir, sizeof proc_dir);
    tx_error err;
    tx_error_clear(&err);
    if (tx_cli_load_config(policy, file, proc_dir, &cfg, &err) != 0) {
        tx_cli_fail(as_json, NULL, TACTUS_EUSAGE, "ConfigError", NULL, 0, "%s", err.message);
        goto done;
    }
    size_t len = 0;
    if (tx_read_source(file, &source, &len, &err) != 0) {
        tx_cli_fail(as_json, NULL, TACTUS_EUSAGE, NULL, file, 0, "%s", err.message);
        goto done;
    }
    if (input_file != NULL) {
        json_error_t jerr;
        input = json_load_file(input_file, JSON_REJECT_DUPLICATES, &jerr);
        if (!json_is_object(input)) {
            tx_cli_fail(as_json, "test", TACTUS_EUSAGE, "InputError", input_file,
                        input ? 0 : jerr.line, "%s: %s", input_file,
                        input ? "the input must be a JSON object" : jerr.text);
            goto done;
        }
    }
    tx_run_spec spec;
    memset(&spec, 0, sizeof spec);
    spec.source = source;
    spec.source_len = len;
    spec.chunkname = file;
    spec.proc_dir = proc_dir;
    spec.input = input;
    /* --param strings go as in `run`: the VM converts them by the declared input types. */
    spec.params = json_object_size(params) > 0 ? params : NULL;
    spec.config = &cfg;
    spec.isolation =
        (sandbox >= 0 ? sandbox : cfg.sandbox_enabled != 0) ? TACTUS_SANDBOX : TACTUS_CHILD;
    spec.test_mode = 1;
    spec.test_filter = filter;
    result = tx_run(&spec, &err);
    if (result == NULL) {
        rc = tx_cli_fail(as_json, NULL, err.status != TACTUS_OK ? err.status : TACTUS_ESYSTEM, NULL,
                         NULL, 0, "%s", err.message);
        goto done;
    }
    const char *status = json_string_value(json_object_get(result, "status"));
    json_t *report = json_object_get(result, "output");
    if (status == NULL || strcmp(status, "ok") != 0 || !json_is_object(report)) {
        tx_term_line(stderr, "tactus test: %s: %s", status ? status : "failed",
                     json_string_value(json_object_get(json_object_get(result, "error"), "message"))
                         ?: "(no message)");
        rc = (int)tx_status_from_string(status);
        if (as_json) { /* the run's own status and error object */
            json_t *obj = json_pack("{s:s, s:O?}", "status", status ? status : "system", "error",
                                    json_object_get(result, "error"));
            tx_cli_print_json(obj);
            json_decref(obj);
        }
        goto done;
    }
    if (as_json) {
        tx_cli_print_json(report);
    } else {
        print_report(report);
    }
    json_int_t total = json_integer_value(json_object_get(report, "total"));
    json_int_t failed = json_integer_value(json_object_get(report, "failed"));
    if (total == 0)
        fprintf(stderr,
                "tactus test: no specifications found in %s (add specifications([[...]]))\n", file);
    rc = total > 0 && failed == 0 ? 0 : 1;
done:
    json_decref(result);
    json_decref(input);
    json_decref(params);
    free(source);
    tx_config_free(&cfg);
    return rc;
}
