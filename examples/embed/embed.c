/*
 * embed.c - a C program that runs a procedure through libtactus, with a C host tool.
 *
 * Build against the installed library:
 *   cc -std=c17 embed.c $(pkg-config --cflags --libs tactus) -o embed
 */
#define _POSIX_C_SOURCE 200809L /* strdup */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <tactus.h>

/* A host tool: returns {"sum": a + b}. Runs on the trusted side, never inside the VM. */
static int add_tool(void *ud, const char *args_json, char **result_json, char **error_message)
{
    (void)ud;
    long a = 0, b = 0;
    const char *pa = strstr(args_json, "\"a\":"), *pb = strstr(args_json, "\"b\":");
    if (pa == NULL || pb == NULL) {
        *error_message = strdup("add needs a and b");
        return -1;
    }
    a = strtol(pa + 4, NULL, 10);
    b = strtol(pb + 4, NULL, 10);
    char buf[64];
    snprintf(buf, sizeof buf, "{\"sum\": %ld}", a + b);
    *result_json = strdup(buf);
    return *result_json ? 0 : -1;
}

static void on_event(void *ud, const char *event_json)
{
    int *count = ud;
    (*count)++;
    (void)event_json;
}

static const char procedure[] =
    "Procedure {\n"
    "  input = { x = field.integer { required = true } },\n"
    "  output = { total = field.integer { required = true } },\n"
    "  function(input)\n"
    "    Log.info('adding', { x = input.x })\n"
    "    local r = Host.call('math.add', { a = input.x, b = 10 })\n"
    "    return { total = r.sum }\n"
    "  end,\n"
    "}\n";

int main(void)
{
    tactus_runtime *rt = tactus_new();
    if (rt == NULL)
        return 1;
    int events = 0;
    tactus_set_event_callback(rt, on_event, &events);
    tactus_set_limit(rt, "instructions", 1000000);
    if (tactus_register_tool(rt, "math.add", add_tool, NULL) != TACTUS_OK) {
        fprintf(stderr, "register: %s\n", tactus_errmsg(rt));
        tactus_free(rt);
        return 1;
    }
    tactus_result *res = NULL;
    tactus_status st = tactus_run_string(rt, "embedded.tac", procedure, strlen(procedure),
                                         "{\"x\": 32}", &res);
    if (res == NULL) {
        fprintf(stderr, "run: %s\n", tactus_errmsg(rt));
        tactus_free(rt);
        return 1;
    }
    printf("status=%s output=%s events=%d\n", tactus_status_name(st),
           tactus_result_output(res) ? tactus_result_output(res) : "null", events);
    int ok = st == TACTUS_OK && strcmp(tactus_result_output(res), "{\"total\":42}") == 0;
    tactus_result_free(res);

    /* A procedure error is a result, not a crash. */
    st = tactus_run_string(rt, "bad.tac", "error('boom')", 13, NULL, &res);
    printf("status=%s error=%s\n", tactus_status_name(st), tactus_result_error(res));
    ok = ok && st == TACTUS_EPROC && strstr(tactus_result_error(res), "boom") != NULL;
    tactus_result_free(res);
    tactus_free(rt);
    return ok ? 0 : 1;
}
