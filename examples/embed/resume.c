/*
 * resume.c - a C program that runs a procedure which waits for a person (examples/approval.tac),
 * shows the question, answers it and gets the final output, all through libtactus.
 *
 *   cc -std=c17 resume.c $(pkg-config --cflags --libs tactus) -o resume
 *   TACTUS_HOME=/tmp/th ./resume examples/approval.tac /tmp/runs [approve|reject]
 *
 * The run's evidence goes under the runs directory; its run.json is sealed with the key in
 * TACTUS_HOME (or $HOME/.tactus), which is what lets a later tactus_resume() trust it. The
 * answer could come hours later, from another process: only the run id is needed.
 */
#define _POSIX_C_SOURCE 200809L /* strdup */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <tactus.h>

/* Prints procedure text for people: control characters (a forged line, a terminal escape)
 * are shown as \xNN, line breaks kept. */
static void print_text(const char *label, const char *text)
{
    fputs(label, stdout);
    for (const unsigned char *p = (const unsigned char *)text; *p != '\0'; p++) {
        if (*p == '\n')
            fputs("\n    ", stdout);
        else if (*p < 0x20 || *p == 0x7f)
            printf("\\x%02x", *p);
        else
            putchar(*p);
    }
    putchar('\n');
}

/* Shows what the suspended run `run_id` waits for. Returns 0, or -1 after printing why. */
static int show_question(tactus_runtime *rt, const char *run_id)
{
    tactus_question *q = NULL;
    if (tactus_question_get(rt, run_id, &q) != TACTUS_OK) {
        fprintf(stderr, "question: %s\n", tactus_errmsg(rt));
        return -1;
    }
    printf("run %s waits at %s:%d for: %s\n", tactus_question_run_id(q), tactus_question_file(q),
           tactus_question_line(q), tactus_question_kind(q));
    print_text("    ", tactus_question_message(q));
    if (tactus_question_default(q) != NULL)
        printf("    default: %s\n", tactus_question_default(q));
    tactus_question_free(q);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: %s PROCEDURE.tac RUNS_DIR [approve|reject]\n", argv[0]);
        return 2;
    }
    int approve = argc < 4 || strcmp(argv[3], "reject") != 0;
    tactus_runtime *rt = tactus_new();
    if (rt == NULL)
        return 1;
    int ok = 0;
    tactus_result *res = NULL;
    char *run_id = NULL;
    if (tactus_set_runs_dir(rt, argv[2]) != TACTUS_OK)
        goto done;

    /* 1. The run stops where the procedure asks a person (no terminal in a library). */
    tactus_status st = tactus_run_file(rt, argv[1], NULL, &res);
    if (res == NULL) {
        fprintf(stderr, "run: %s\n", tactus_errmsg(rt));
        goto done;
    }
    printf("status=%s\n", tactus_status_name(st));
    if (st != TACTUS_SUSPENDED)
        goto done;
    run_id = strdup(tactus_result_run_id(res));
    tactus_result_free(res);
    res = NULL;
    if (run_id == NULL)
        goto done;

    /* 2. What it waits for. */
    if (show_question(rt, run_id) != 0)
        goto done;

    /* 3. The answer: the run continues from its journal; the steps before the question are
     *    not done again. */
    st = tactus_resume(rt, run_id, approve ? TACTUS_ANSWER_APPROVE : TACTUS_ANSWER_REJECT, NULL,
                       &res);
    if (res == NULL) {
        fprintf(stderr, "resume: %s\n", tactus_errmsg(rt));
        goto done;
    }
    printf("status=%s output=%s\n", tactus_status_name(st),
           tactus_result_output(res) ? tactus_result_output(res) : "null");
    ok = st == TACTUS_OK &&
         strstr(tactus_result_output(res), approve ? "\"approved\":true" : "\"approved\":false");

    /* 4. A finished run stays finished: answering again is refused. */
    tactus_result *again = NULL;
    st = tactus_resume(rt, run_id, TACTUS_ANSWER_APPROVE, NULL, &again);
    printf("again: status=%s (%s)\n", tactus_status_name(st), tactus_errmsg(rt));
    ok = ok && st == TACTUS_EUSAGE && again == NULL;
done:
    if (!ok && tactus_errmsg(rt)[0] != '\0')
        fprintf(stderr, "resume example: %s\n", tactus_errmsg(rt));
    free(run_id);
    tactus_result_free(res);
    tactus_free(rt);
    return ok ? 0 : 1;
}
