/* cmd_runs.c - `tactus runs` (list) and `tactus show RUN_ID`. */
#include <dirent.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <jansson.h>

#include "term.h"
#include "commands.h"
#include "evidence.h"
#include "run.h"

static const char runs_help[] =
    "usage: tactus runs [--json]\n"
    "\n"
    "Lists the runs under .tactus/runs (newest last): run id, status, procedure, start time.\n"
    "A run without result.json is shown as 'incomplete' (still running, or its host died).\n";

static const char show_help[] =
    "usage: tactus show RUN_ID\n"
    "\n"
    "Prints the run's result.json (or, for an incomplete run, its stream.jsonl).\n";

static int by_name(const struct dirent **a, const struct dirent **b)
{
    return strcmp((*a)->d_name, (*b)->d_name);
}

int tx_cmd_runs(int argc, char **argv)
{
    int as_json = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            fputs(runs_help, stdout);
            return 0;
        } else if (strcmp(argv[i], "--json") == 0) {
            as_json = 1;
        } else {
            fprintf(stderr, "tactus runs: unexpected argument '%s'\n", argv[i]);
            return 2;
        }
    }
    struct dirent **names = NULL;
    int n = scandir(TX_RUNS_DIR, &names, NULL, by_name);
    if (n < 0) {
        if (!as_json)
            fprintf(stderr, "tactus runs: no runs yet (%s does not exist)\n", TX_RUNS_DIR);
        else
            printf("[]\n");
        return 0;
    }
    json_t *list = json_array();
    for (int i = 0; i < n; i++) {
        const char *id = names[i]->d_name;
        if (id[0] == '.' || !tx_valid_run_id(id)) {
            free(names[i]);
            continue;
        }
        char path[PATH_MAX];
        snprintf(path, sizeof path, "%s/%s/run.json", TX_RUNS_DIR, id);
        json_t *record = json_load_file(path, 0, NULL);
        tx_error verr;
        tx_error_clear(&verr);
        /* A directory this host cannot vouch for is listed as such, never with the status its
         * (perhaps planted) result.json claims. */
        int vouched = record != NULL && tx_run_record_verify(record, id, &verr) == 0;
        json_decref(record);
        snprintf(path, sizeof path, "%s/%s/result.json", TX_RUNS_DIR, id);
        json_t *r = vouched ? json_load_file(path, 0, NULL) : NULL;
        const char *status = r ? json_string_value(json_object_get(r, "status")) : NULL;
        if (!vouched)
            status = "unverified";
        const char *proc = r ? json_string_value(json_object_get(r, "procedure")) : NULL;
        const char *started = r ? json_string_value(json_object_get(r, "started_at")) : NULL;
        if (as_json)
            json_array_append_new(list, json_pack("{s:s, s:s, s:s?, s:s?}", "run_id", id, "status",
                                                  status ? status : "incomplete", "procedure", proc,
                                                  "started_at", started));
        else
            tx_term_line(stdout, "%-32s %-14s %-24s %s", id, status ? status : "incomplete",
                         started ? started : "-", proc ? proc : "-");
        if (!as_json && status != NULL && strcmp(status, "suspended") == 0) {
            const char *waiting =
                json_string_value(json_object_get(json_object_get(r, "error"), "message"));
            /* The message is the procedure's: escaped like everything it says (term.h). */
            tx_term_line(stdout, "    %s (tactus resume %s --approve | --reject | --answer TEXT)",
                         waiting ? waiting : "waiting", id);
        }
        json_decref(r);
        free(names[i]);
    }
    free(names);
    if (as_json) {
        char *text = json_dumps(list, JSON_INDENT(2));
        if (text != NULL)
            printf("%s\n", text);
        free(text);
    }
    json_decref(list);
    return 0;
}

/* Prints a run's JSON file for people, line by line through the terminal escaper: JSON escapes
 * C0 controls but may carry DEL, C1 controls and bidi overrides from the procedure as they are. */
static int cat_file(const char *path)
{
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return -1;
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    while ((n = getline(&line, &cap, f)) > 0) {
        char *safe = tx_term_escape(line, (size_t)n, TX_TERM_KEEP_NEWLINES);
        fputs(safe != NULL ? safe : "(line withheld: out of memory)\n", stdout);
        free(safe);
    }
    free(line);
    fclose(f);
    return 0;
}

int tx_cmd_show(int argc, char **argv)
{
    if (argc >= 2 && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0)) {
        fputs(show_help, stdout);
        return 0;
    }
    if (argc != 2) {
        fprintf(stderr, "tactus show: expected one RUN_ID (see tactus show --help)\n");
        return 2;
    }
    if (!tx_valid_run_id(argv[1])) {
        fprintf(stderr, "tactus show: invalid run id '%s'\n", argv[1]);
        return 2;
    }
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/%s", TX_RUNS_DIR, argv[1]);
    struct stat st;
    if (lstat(path, &st) == 0) {
        /* Evidence this host cannot vouch for is not shown as if it were a run. */
        json_t *run = tx_cli_run_record("show", path, argv[1]);
        if (run == NULL)
            return 2;
        json_decref(run);
    }
    snprintf(path, sizeof path, "%s/%s/result.json", TX_RUNS_DIR, argv[1]);
    if (cat_file(path) == 0)
        return 0;
    snprintf(path, sizeof path, "%s/%s/stream.jsonl", TX_RUNS_DIR, argv[1]);
    if (cat_file(path) == 0)
        return 0;
    fprintf(stderr, "tactus show: no run '%s' under %s\n", argv[1], TX_RUNS_DIR);
    return 2;
}
