/* hostile_test.c - a hostile runner (hostile_runner.c) cannot hold the broker past the run's
 * deadline: neither by trickling a frame byte by byte nor by never reading its replies. Each
 * run must end with status timeout a little after its 2 s limit; the code before this test
 * waited forever (the alarm below turns that into a failure). argv[1] = the hostile runner;
 * argv[2], optional, one attack. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "tactus.h"

static double mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int attack(const char *runner, const char *name)
{
    tactus_runtime *rt = tactus_new();
    if (rt == NULL || tactus_set_runner(rt, runner) != TACTUS_OK ||
        tactus_set_isolation(rt, TACTUS_CHILD) != TACTUS_OK ||
        tactus_set_limit(rt, "timeout", 2000) != TACTUS_OK) {
        printf("FAIL %s: setup: %s\n", name, rt ? tactus_errmsg(rt) : "out of memory");
        tactus_free(rt);
        return 1;
    }
    const char *src = "main = procedure('p', {}, function() return 1 end)\n";
    tactus_result *r = NULL;
    double t0 = mono_s();
    tactus_status st = tactus_run_string(rt, name, src, strlen(src), NULL, &r);
    double took = mono_s() - t0;
    int fail = 0;
    if (st != TACTUS_ETIMEOUT || r == NULL) {
        printf("FAIL %s: status %s (%s), expected timeout\n", name, tactus_status_name(st),
               r && tactus_result_error(r) ? tactus_result_error(r) : tactus_errmsg(rt));
        fail = 1;
    } else if (strstr(tactus_result_json(r), "\"limit\":\"timeout\"") == NULL) {
        printf("FAIL %s: result does not name the limit: %s\n", name, tactus_result_json(r));
        fail = 1;
    } else {
        printf("ok %s: timeout after %.1f s\n", name, took);
    }
    tactus_result_free(r);
    tactus_free(rt);
    return fail;
}

/* In-process (the VM in this thread): a tool the deadline cuts returns an error the procedure
 * can catch with pcall, and it then returns normally; the run must still end as timeout. */
static int inprocess_cut(void)
{
    char dir[] = "/tmp/tx-hostile-XXXXXX";
    if (mkdtemp(dir) == NULL)
        return 1;
    char path[128];
    FILE *f;
    snprintf(path, sizeof path, "%s/slow.sh", dir);
    if ((f = fopen(path, "w")) == NULL)
        return 1;
    fputs("#!/bin/sh\nsleep 30\necho '{}'\n", f);
    fclose(f);
    chmod(path, 0755);
    snprintf(path, sizeof path, "%s/p.tac.yml", dir);
    if ((f = fopen(path, "w")) == NULL)
        return 1;
    fputs("tools: [slow]\nhost_tools:\n  slow: {command: [./slow.sh], timeout: 60}\n", f);
    fclose(f);
    snprintf(path, sizeof path, "%s/p.tac", dir);
    if ((f = fopen(path, "w")) == NULL)
        return 1;
    fputs("main = procedure('p', {}, function()\n"
          "  local ok = pcall(Host.call, 'slow', {})\n"
          "  return {caught = not ok}\n"
          "end)\n",
          f);
    fclose(f);
    char yml[160];
    snprintf(yml, sizeof yml, "%s/p.tac.yml", dir);
    tactus_runtime *rt = tactus_new();
    int fail = 0;
    tactus_result *r = NULL;
    if (rt == NULL || tactus_load_config(rt, yml) != TACTUS_OK ||
        tactus_set_limit(rt, "timeout", 1000) != TACTUS_OK) {
        printf("FAIL inprocess: setup: %s\n", rt ? tactus_errmsg(rt) : "out of memory");
        fail = 1;
    } else {
        tactus_status st = tactus_run_file(rt, path, NULL, &r);
        if (st != TACTUS_ETIMEOUT || r == NULL ||
            strstr(tactus_result_json(r), "\"where\":\"host tool slow") == NULL) {
            printf("FAIL inprocess: status %s: %s\n", tactus_status_name(st),
                   r ? tactus_result_json(r) : tactus_errmsg(rt));
            fail = 1;
        } else {
            printf("ok inprocess: timeout, where: host tool slow\n");
        }
    }
    tactus_result_free(r);
    tactus_free(rt);
    char cmd[160];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0)
        fail = 1;
    return fail;
}

int main(int argc, char **argv)
{
    if (argc != 2 && argc != 3) {
        fprintf(stderr, "usage: hostile_test HOSTILE_RUNNER [trickle.tac|noread.tac|inprocess]\n");
        return 2;
    }
    alarm(60); /* a broker that hangs fails the test instead of stalling the suite */
    int fail = 0;
    if (argc == 2 || strcmp(argv[2], "trickle.tac") == 0)
        fail |= attack(argv[1], "trickle.tac");
    if (argc == 2 || strcmp(argv[2], "noread.tac") == 0)
        fail |= attack(argv[1], "noread.tac");
    if (argc == 2 || strcmp(argv[2], "inprocess") == 0)
        fail |= inprocess_cut();
    return fail;
}
