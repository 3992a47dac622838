/* test_config.c - the trusted-configuration parser: schema, merge rules, every error class. */
#include <check.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"

#define MIB (1024ULL * 1024ULL)

/* Loads NUL-terminated text named "t.yml" onto cfg. */
static int load(tx_config *cfg, const char *yaml, tx_error *err)
{
    tx_error_clear(err);
    return tx_config_load_string(cfg, "t.yml", yaml, strlen(yaml), err);
}

/* Appends a printf-formatted line to the growing string *s (of length *len). */
static void put(char **s, size_t *len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void put(char **s, size_t *len, const char *fmt, ...)
{
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    ck_assert_int_ge(n, 0);
    char *grown = realloc(*s, *len + (size_t)n + 1);
    ck_assert_ptr_nonnull(grown);
    memcpy(grown + *len, line, (size_t)n + 1);
    *s = grown;
    *len += (size_t)n;
}

/* A canonical text form of everything in cfg, to show that a failed load changed nothing. */
static char *dump(const tx_config *cfg)
{
    char *s = NULL;
    size_t len = 0;
    put(&s, &len, "tools:");
    for (size_t i = 0; i < cfg->ntools; i++)
        put(&s, &len, " %s", cfg->tools[i]);
    for (size_t i = 0; i < cfg->nhost_tools; i++) {
        const tx_host_tool *t = &cfg->host_tools[i];
        put(&s, &len, "\nhost %s argc=%zu timeout=%llu max=%llu sb=%d cwd=%s argv:", t->name,
            t->argc, (unsigned long long)t->timeout_ms, (unsigned long long)t->max_output,
            t->sandboxed, t->cwd ? t->cwd : "(null)");
        for (size_t j = 0; j < t->argc; j++)
            put(&s, &len, " %s", t->argv[j]);
        put(&s, &len, " secrets:");
        for (size_t j = 0; j < t->nsecrets; j++)
            put(&s, &len, " %s", t->secrets[j]);
    }
    put(&s, &len, "\ndur=%d sb=%d net=%s mcd=%d ro=%d prof=%d strict=%d set=%u", cfg->durability,
        cfg->sandbox_enabled, cfg->network ? cfg->network : "(null)", cfg->mount_current_dir,
        cfg->workspace_read_only, cfg->profile, cfg->strict_determinism, cfg->limits_set);
    for (size_t i = 0; i < cfg->nmounts; i++)
        put(&s, &len, "\nmount %s %s %d", cfg->mounts[i].source, cfg->mounts[i].target,
            cfg->mounts[i].read_only);
    for (int i = 0; i < TX_LIMIT__COUNT; i++)
        put(&s, &len, "\nlimit %s %llu", tx_limit_name((tx_limit_id)i),
            (unsigned long long)cfg->limits.allowed[i]);
    return s;
}

static const char base_doc[] = "tools: [host.ping]\n"
                               "host_tools:\n"
                               "  host.ping: {command: [ping, -c1], secrets: [TOKEN]}\n"
                               "sandbox: {timeout: 5, mounts: [{source: a, target: /a}]}\n";

START_TEST(test_defaults)
{
    tx_config cfg;
    tx_config_init(&cfg);
    tx_limits lim;
    tx_limits_default(&lim);
    ck_assert_ptr_null(cfg.tools);
    ck_assert_uint_eq(cfg.ntools, 0);
    ck_assert_uint_eq(cfg.nhost_tools, 0);
    ck_assert_uint_eq(cfg.nmounts, 0);
    ck_assert_int_eq(cfg.durability, TX_DURABILITY_FSYNC);
    ck_assert_int_eq(cfg.sandbox_enabled, -1);
    ck_assert_ptr_null(cfg.network);
    ck_assert_int_eq(cfg.mount_current_dir, 1);
    ck_assert_int_eq(cfg.workspace_read_only, 0);
    ck_assert_int_eq(cfg.profile, TX_PROFILE_NONE);
    ck_assert_int_eq(cfg.strict_determinism, 0);
    ck_assert_uint_eq(cfg.limits_set, 0);
    ck_assert_mem_eq(&cfg.limits, &lim, sizeof lim);
    ck_assert_int_eq(tx_config_allows_tool(&cfg, "x"), 0);
    ck_assert_ptr_null(tx_config_host_tool(&cfg, "x"));
    tx_config_free(&cfg);
    tx_config_free(NULL);
}
END_TEST

START_TEST(test_empty_documents)
{
    static const char *const empties[] = {"",
                                          "# only a comment\n",
                                          "---\n",
                                          "--- ~\n",
                                          "{}\n",
                                          "--- null\n...\n",
                                          "\xEF\xBB\xBF# bom\n"};
    tx_config cfg;
    tx_config_init(&cfg);
    char *before = dump(&cfg);
    for (size_t i = 0; i < sizeof empties / sizeof empties[0]; i++) {
        tx_error err;
        ck_assert_msg(load(&cfg, empties[i], &err) == 0, "%zu: %s", i, err.message);
        char *after = dump(&cfg);
        ck_assert_str_eq(before, after);
        free(after);
    }
    tx_error err;
    ck_assert_int_eq(tx_config_load_string(&cfg, "t.yml", NULL, 0, &err), 0);
    free(before);
    tx_config_free(&cfg);
}
END_TEST

START_TEST(test_full_document)
{
    static const char doc[] =
        "# a full sidecar\n"
        "tools: [host.ping, repo.diff, host.ping]\n"
        "host_tools:\n"
        "  repo.diff:\n"
        "    command: [git, diff, --stat]\n"
        "    timeout: 10\n"
        "    secrets: [GITHUB_TOKEN, _X1, GITHUB_TOKEN]\n"
        "    cwd: .\n"
        "    max_output: 2m\n"
        "    sandbox: false\n"
        "  host.ping: {command: [ping]}\n"
        "checkpoint: {durability: batch}\n"
        "sandbox:\n"
        "  enabled: false\n"
        "  timeout: 1.5\n"
        "  network: none\n"
        "  mount_current_dir: false\n"
        "  workspace: ro\n"
        "  mounts:\n"
        "    - {source: ./data, target: /data, mode: ro}\n"
        "    - {source: out, target: /out/x, mode: rw}\n"
        "    - {source: '/abs', target: /c}\n"
        "  profile: repo-write\n"
        "  limits: {memory: 128m, cpus: 2, pids: 16, files: 32, file_size: 1g, tmp: 64k,\n"
        "           output: 1024, instructions: 0, string: 1M, depth: 200, host_calls: 7,\n"
        "           journal: 32m, disk: 2g}\n"
        "strict_determinism: true\n";
    tx_config cfg;
    tx_config_init(&cfg);
    tx_error err;
    ck_assert_msg(load(&cfg, doc, &err) == 0, "%s", err.message);

    ck_assert_uint_eq(cfg.ntools, 2);
    ck_assert_str_eq(cfg.tools[0], "host.ping");
    ck_assert_str_eq(cfg.tools[1], "repo.diff");
    ck_assert(tx_config_allows_tool(&cfg, "repo.diff"));
    ck_assert(!tx_config_allows_tool(&cfg, "repo"));

    ck_assert_uint_eq(cfg.nhost_tools, 2);
    const tx_host_tool *t = tx_config_host_tool(&cfg, "repo.diff");
    ck_assert_ptr_nonnull(t);
    ck_assert_uint_eq(t->argc, 3);
    ck_assert_str_eq(t->argv[0], "git");
    ck_assert_str_eq(t->argv[2], "--stat");
    ck_assert_ptr_null(t->argv[3]);
    ck_assert_uint_eq(t->timeout_ms, 10000);
    ck_assert_uint_eq(t->nsecrets, 2);
    ck_assert_str_eq(t->secrets[0], "GITHUB_TOKEN");
    ck_assert_str_eq(t->secrets[1], "_X1");
    ck_assert_str_eq(t->cwd, ".");
    ck_assert_uint_eq(t->max_output, 2 * MIB);
    ck_assert_int_eq(t->sandboxed, 0); /* sandbox: true cannot take secrets */
    t = tx_config_host_tool(&cfg, "host.ping");
    ck_assert_ptr_nonnull(t);
    ck_assert_uint_eq(t->argc, 1);
    ck_assert_ptr_null(t->argv[1]);
    ck_assert_uint_eq(t->timeout_ms, 30000);
    ck_assert_uint_eq(t->max_output, MIB);
    ck_assert_uint_eq(t->nsecrets, 0);
    ck_assert_ptr_null(t->cwd);
    ck_assert_int_eq(t->sandboxed, 0);

    ck_assert_int_eq(cfg.durability, TX_DURABILITY_BATCH);
    ck_assert_int_eq(cfg.sandbox_enabled, 0);
    ck_assert_str_eq(cfg.network, "none");
    ck_assert_int_eq(cfg.mount_current_dir, 0);
    ck_assert_int_eq(cfg.workspace_read_only, 1);
    ck_assert_uint_eq(cfg.nmounts, 3);
    ck_assert_str_eq(cfg.mounts[0].source, "./data");
    ck_assert_str_eq(cfg.mounts[0].target, "/data");
    ck_assert_int_eq(cfg.mounts[0].read_only, 1);
    ck_assert_int_eq(cfg.mounts[1].read_only, 0);
    ck_assert_str_eq(cfg.mounts[2].source, "/abs");
    ck_assert_int_eq(cfg.mounts[2].read_only, 1);
    ck_assert_int_eq(cfg.profile, TX_PROFILE_REPO_WRITE);
    ck_assert_int_eq(cfg.strict_determinism, 1);

    const uint64_t *a = cfg.limits.allowed;
    ck_assert_uint_eq(a[TX_LIMIT_TIMEOUT], 1500);
    ck_assert_uint_eq(a[TX_LIMIT_MEMORY], 128 * MIB);
    ck_assert_uint_eq(a[TX_LIMIT_CPUS], 2);
    ck_assert_uint_eq(a[TX_LIMIT_PIDS], 16);
    ck_assert_uint_eq(a[TX_LIMIT_FILES], 32);
    ck_assert_uint_eq(a[TX_LIMIT_FILE_SIZE], 1024 * MIB);
    ck_assert_uint_eq(a[TX_LIMIT_TMP], 64 * 1024);
    ck_assert_uint_eq(a[TX_LIMIT_OUTPUT], 1024);
    ck_assert_uint_eq(a[TX_LIMIT_INSTRUCTIONS], 0);
    ck_assert_uint_eq(a[TX_LIMIT_STRING], MIB);
    ck_assert_uint_eq(a[TX_LIMIT_DEPTH], 200);
    ck_assert_uint_eq(a[TX_LIMIT_HOST_CALLS], 7);
    ck_assert_uint_eq(a[TX_LIMIT_JOURNAL], 32 * MIB);
    ck_assert_uint_eq(a[TX_LIMIT_DISK], 2048 * MIB);
    ck_assert_uint_eq(cfg.limits_set, (1u << TX_LIMIT__COUNT) - 1);

    tx_config_free(&cfg);
    ck_assert_uint_eq(cfg.ntools, 0);
    ck_assert_int_eq(cfg.sandbox_enabled, -1);
}
END_TEST

START_TEST(test_other_enum_values)
{
    tx_config cfg;
    tx_config_init(&cfg);
    tx_error err;
    ck_assert_msg(load(&cfg,
                       "checkpoint: {durability: none}\n"
                       "sandbox: {profile: offline, workspace: rw, enabled: true}\n",
                       &err) == 0,
                  "%s", err.message);
    ck_assert_int_eq(cfg.durability, TX_DURABILITY_NONE);
    ck_assert_int_eq(cfg.profile, TX_PROFILE_OFFLINE);
    ck_assert_int_eq(cfg.workspace_read_only, 0);
    ck_assert_int_eq(cfg.sandbox_enabled, 1);
    ck_assert_int_eq(load(&cfg, "sandbox: {profile: repo-read}\n", &err), 0);
    ck_assert_int_eq(cfg.profile, TX_PROFILE_REPO_READ);
    ck_assert_int_eq(load(&cfg, "checkpoint: {durability: fsync}\n", &err), 0);
    ck_assert_int_eq(cfg.durability, TX_DURABILITY_FSYNC);
    tx_config_free(&cfg);
}
END_TEST

START_TEST(test_merge)
{
    static const char first[] =
        "tools: [a, b]\n"
        "host_tools:\n"
        "  x: {command: [one], secrets: [S1], timeout: 3}\n"
        "  y: {command: [why]}\n"
        "checkpoint: {durability: batch}\n"
        "sandbox: {enabled: true, network: none, mounts: [{source: s1, target: /t1}],\n"
        "          limits: {memory: 1m, pids: 3}}\n"
        "strict_determinism: true\n";
    static const char second[] = "tools: [b, c, a, d]\n"
                                 "host_tools:\n"
                                 "  x: {command: [two, arg]}\n"
                                 "  z: {command: [zed]}\n"
                                 "sandbox:\n"
                                 "  mounts: [{source: s2, target: /t2, mode: rw}]\n"
                                 "  limits: {memory: 2m}\n"
                                 "  timeout: 2\n";
    static const char third[] = "checkpoint: {durability: none}\n"
                                "sandbox: {enabled: false}\n"
                                "strict_determinism: false\n";
    tx_config cfg;
    tx_config_init(&cfg);
    tx_error err;
    ck_assert_msg(load(&cfg, first, &err) == 0, "%s", err.message);
    ck_assert_msg(load(&cfg, second, &err) == 0, "%s", err.message);

    /* tools: union, order kept, duplicates dropped */
    ck_assert_uint_eq(cfg.ntools, 4);
    ck_assert_str_eq(cfg.tools[0], "a");
    ck_assert_str_eq(cfg.tools[1], "b");
    ck_assert_str_eq(cfg.tools[2], "c");
    ck_assert_str_eq(cfg.tools[3], "d");

    /* host_tools: same name replaced as a whole (defaults back), others kept, new appended */
    ck_assert_uint_eq(cfg.nhost_tools, 3);
    const tx_host_tool *x = tx_config_host_tool(&cfg, "x");
    ck_assert_ptr_nonnull(x);
    ck_assert_uint_eq(x->argc, 2);
    ck_assert_str_eq(x->argv[0], "two");
    ck_assert_uint_eq(x->nsecrets, 0);
    ck_assert_uint_eq(x->timeout_ms, 30000);
    ck_assert_ptr_nonnull(tx_config_host_tool(&cfg, "y"));
    ck_assert_str_eq(tx_config_host_tool(&cfg, "z")->argv[0], "zed");

    /* scalars not given in the second file are kept; given ones replaced */
    ck_assert_int_eq(cfg.durability, TX_DURABILITY_BATCH);
    ck_assert_int_eq(cfg.sandbox_enabled, 1);
    ck_assert_str_eq(cfg.network, "none");
    ck_assert_int_eq(cfg.strict_determinism, 1);
    ck_assert_uint_eq(cfg.limits.allowed[TX_LIMIT_MEMORY], 2 * MIB);
    ck_assert_uint_eq(cfg.limits.allowed[TX_LIMIT_PIDS], 3);
    ck_assert_uint_eq(cfg.limits.allowed[TX_LIMIT_TIMEOUT], 2000);
    ck_assert_uint_eq(cfg.limits_set,
                      (1u << TX_LIMIT_MEMORY) | (1u << TX_LIMIT_PIDS) | (1u << TX_LIMIT_TIMEOUT));

    /* mounts appended */
    ck_assert_uint_eq(cfg.nmounts, 2);
    ck_assert_str_eq(cfg.mounts[0].target, "/t1");
    ck_assert_int_eq(cfg.mounts[0].read_only, 1);
    ck_assert_str_eq(cfg.mounts[1].target, "/t2");
    ck_assert_int_eq(cfg.mounts[1].read_only, 0);

    ck_assert_msg(load(&cfg, third, &err) == 0, "%s", err.message);
    ck_assert_int_eq(cfg.durability, TX_DURABILITY_NONE);
    ck_assert_int_eq(cfg.sandbox_enabled, 0);
    ck_assert_int_eq(cfg.strict_determinism, 0);
    ck_assert_uint_eq(cfg.ntools, 4);

    /* loading the same text again adds no tools or host tools; mounts are appended anyway */
    ck_assert_int_eq(load(&cfg, second, &err), 0);
    ck_assert_uint_eq(cfg.nmounts, 3);
    ck_assert_uint_eq(cfg.ntools, 4);
    ck_assert_uint_eq(cfg.nhost_tools, 3);
    tx_config_free(&cfg);
}
END_TEST

START_TEST(test_sizes_and_unlimited)
{
    static const struct {
        const char *text;
        uint64_t want;
    } cases[] = {
        {"0", 0},           {"1024", 1024},      {"64k", 64 * 1024},
        {"64K", 64 * 1024}, {"256m", 256 * MIB}, {"2g", 2048 * MIB},
        {"3mb", 3 * MIB},   {"'5m'", 5 * MIB},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        tx_config cfg;
        tx_config_init(&cfg);
        char doc[128];
        snprintf(doc, sizeof doc, "sandbox: {limits: {memory: %s, tmp: %s}}\n", cases[i].text,
                 cases[i].text);
        tx_error err;
        ck_assert_msg(load(&cfg, doc, &err) == 0, "%s: %s", cases[i].text, err.message);
        ck_assert_uint_eq(cfg.limits.allowed[TX_LIMIT_MEMORY], cases[i].want);
        ck_assert_uint_eq(cfg.limits.allowed[TX_LIMIT_TMP], cases[i].want);
        ck_assert_uint_eq(cfg.limits_set, (1u << TX_LIMIT_MEMORY) | (1u << TX_LIMIT_TMP));
        tx_config_free(&cfg);
    }
    /* 0 = unlimited for counts too, and it is recorded as given */
    tx_config cfg;
    tx_config_init(&cfg);
    tx_error err;
    ck_assert_int_eq(load(&cfg, "sandbox: {limits: {depth: 0, host_calls: 0, pids: 0}}", &err), 0);
    ck_assert_uint_eq(cfg.limits.allowed[TX_LIMIT_DEPTH], 0);
    ck_assert_uint_eq(cfg.limits.allowed[TX_LIMIT_HOST_CALLS], 0);
    ck_assert_uint_eq(cfg.limits.allowed[TX_LIMIT_PIDS], 0);
    ck_assert(cfg.limits_set & (1u << TX_LIMIT_DEPTH));
    ck_assert_int_eq(load(&cfg, "sandbox: {limits: {instructions: 18446744073709551615}}", &err),
                     0);
    ck_assert_uint_eq(cfg.limits.allowed[TX_LIMIT_INSTRUCTIONS], UINT64_MAX);
    /* fractional and tiny timeouts */
    ck_assert_int_eq(load(&cfg, "sandbox: {timeout: 0.001}", &err), 0);
    ck_assert_uint_eq(cfg.limits.allowed[TX_LIMIT_TIMEOUT], 1);
    ck_assert_int_eq(load(&cfg, "sandbox: {timeout: .25}", &err), 0);
    ck_assert_uint_eq(cfg.limits.allowed[TX_LIMIT_TIMEOUT], 250);
    ck_assert_int_eq(load(&cfg, "sandbox: {timeout: 2.0009}", &err), 0);
    ck_assert_uint_eq(cfg.limits.allowed[TX_LIMIT_TIMEOUT], 2000);
    ck_assert_int_eq(load(&cfg, "sandbox: {timeout: 31536000}", &err), 0);
    ck_assert_uint_eq(cfg.limits.allowed[TX_LIMIT_TIMEOUT], 31536000ULL * 1000);
    tx_config_free(&cfg);
}
END_TEST

/* Each bad document, the exact start of its message, and a further fragment it must contain. */
static const struct bad_case {
    const char *yaml;
    const char *prefix;
    const char *contains;
} bad_cases[] = {
    /* unknown keys */
    {"colour: red\n",
     "t.yml:1: colour: unknown key (allowed: tools, host_tools, checkpoint, "
     "sandbox, strict_determinism, files)",
     ""},
    {"sandbox:\n  enabled: true\n  colour: red\n",
     "t.yml:3: sandbox.colour: unknown key (allowed: enabled, timeout, network, "
     "mount_current_dir, workspace, mounts, profile, limits)",
     ""},
    {"checkpoint: {mode: fsync}\n", "t.yml:1: checkpoint.mode: unknown key (allowed: durability)",
     ""},
    {"host_tools:\n  x: {command: [a], shell: true}\n",
     "t.yml:2: host_tools.x.shell: unknown key (allowed: command,", ""},
    {"sandbox:\n  mounts:\n  - {source: a, target: /b, opts: x}\n",
     "t.yml:3: sandbox.mounts[0].opts: unknown key (allowed: source, target, mode)", ""},
    {"sandbox:\n  limits:\n    memroy: 1m\n",
     "t.yml:3: sandbox.limits.memroy: unknown key (allowed: instructions, memory, string,", ""},
    {"sandbox:\n  limits:\n    timeout: 10\n", "t.yml:3: sandbox.limits.timeout: not allowed",
     "sandbox.timeout"},
    /* wrong types */
    {"tools: {a: 1}\n", "t.yml:1: tools: expected a list of tool names", "got a mapping"},
    {"tools: host.ping\n", "t.yml:1: tools: expected a list", "got 'host.ping'"},
    {"tools:\n", "t.yml:1: tools: expected a list", "got nothing"},
    {"tools: [[a]]\n", "t.yml:1: tools[0]: expected a tool name", "got a list"},
    {"host_tools: [a]\n", "t.yml:1: host_tools: expected a mapping", "got a list"},
    {"host_tools:\n  x:\n", "t.yml:", "host_tools.x: expected a mapping like {command"},
    {"sandbox: true\n", "t.yml:1: sandbox: expected a mapping", "got 'true'"},
    {"host_tools:\n  t: {command: [x], sandbox: true, secrets: [A]}\n",
     "t.yml:2: host_tools.t.sandbox: 'sandbox: true' is not supported by this build", ""},
    {"files: {read_credentials: [/etc/netrc]}\n",
     "t.yml:1: files.read_credentials[0]: expected "
     "a relative path inside the workspace",
     ""},
    {"files: {read_credentials: [a/../.netrc]}\n", "t.yml:1: files.read_credentials[0]:", ""},
    {"files: {read: [.netrc]}\n", "t.yml:1: files.read: unknown key (allowed: read_credentials)",
     ""},
    {"sandbox: {limits: [1]}\n", "t.yml:1: sandbox.limits: expected a mapping", "got a list"},
    {"sandbox: {mounts: {source: a}}\n", "t.yml:1: sandbox.mounts: expected a list", ""},
    {"sandbox: {mounts: [a]}\n", "t.yml:1: sandbox.mounts[0]: expected a mapping", ""},
    {"- tools\n", "t.yml:1: expected a mapping of settings", "got a list"},
    {"just text\n", "t.yml:1: expected a mapping of settings", "got 'just text'"},
    /* booleans: only true and false */
    {"strict_determinism: yes\n", "t.yml:1: strict_determinism: expected true or false",
     "got 'yes'"},
    {"sandbox:\n  enabled: True\n", "t.yml:2: sandbox.enabled: expected true or false",
     "got 'True'"},
    {"sandbox: {mount_current_dir: 1}\n", "t.yml:1: sandbox.mount_current_dir: expected true", ""},
    {"host_tools: {x: {command: [a], sandbox: on}}\n",
     "t.yml:1: host_tools.x.sandbox: expected "
     "true or false",
     ""},
    /* sizes and counts */
    {"sandbox:\n  limits:\n    memory: 256m\n    tmp: 1m\n\n\n    output: lots\n",
     "t.yml:7: sandbox.limits.output: expected a size like 256m, got 'lots'", ""},
    {"sandbox: {limits: {memory: -1}}\n", "t.yml:1: sandbox.limits.memory: expected a size", ""},
    {"sandbox: {limits: {memory: 1t}}\n", "t.yml:1: sandbox.limits.memory: expected a size", ""},
    {"sandbox: {limits: {memory: 99999999999999999999g}}\n",
     "t.yml:1: sandbox.limits.memory: "
     "expected a size",
     ""},
    {"sandbox: {limits: {pids: -1}}\n", "t.yml:1: sandbox.limits.pids: expected a whole number",
     "got '-1'"},
    {"sandbox: {limits: {cpus: 1.5}}\n", "t.yml:1: sandbox.limits.cpus: expected a whole number",
     ""},
    {"sandbox: {limits: {files: 64k}}\n", "t.yml:1: sandbox.limits.files: expected a whole", ""},
    {"sandbox: {limits: {depth: 18446744073709551616}}\n",
     "t.yml:1: sandbox.limits.depth: "
     "expected a whole number",
     ""},
    {"sandbox: {limits: {depth: }}\n", "t.yml:1: sandbox.limits.depth: expected a whole number",
     "got nothing"},
    {"host_tools: {x: {command: [a], max_output: big}}\n",
     "t.yml:1: host_tools.x.max_output: expected a size like 256m, got 'big'", ""},
    {"host_tools: {x: {command: [a], max_output: 0}}\n",
     "t.yml:1: host_tools.x.max_output: must be greater than 0", ""},
    /* timeouts */
    {"sandbox: {timeout: 0}\n", "t.yml:1: sandbox.timeout: must be greater than 0", ""},
    {"sandbox: {timeout: 0.0004}\n", "t.yml:1: sandbox.timeout: must be greater than 0", ""},
    {"sandbox: {timeout: -5}\n", "t.yml:1: sandbox.timeout: expected a number of seconds", ""},
    {"sandbox: {timeout: 1e3}\n", "t.yml:1: sandbox.timeout: expected a number of seconds", ""},
    {"sandbox: {timeout: 10s}\n", "t.yml:1: sandbox.timeout: expected a number of seconds", ""},
    {"sandbox: {timeout: .}\n", "t.yml:1: sandbox.timeout: expected a number of seconds", ""},
    {"sandbox: {timeout: 31536000.5}\n", "t.yml:1: sandbox.timeout: too long", ""},
    {"sandbox: {timeout: 99999999999999999999999}\n", "t.yml:1: sandbox.timeout: too long", ""},
    {"host_tools: {x: {command: [a], timeout: soon}}\n",
     "t.yml:1: host_tools.x.timeout: expected a number of seconds", ""},
    /* enums */
    {"checkpoint: {durability: sometimes}\n",
     "t.yml:1: checkpoint.durability: expected one of fsync, batch, none, got 'sometimes'", ""},
    {"sandbox: {workspace: readonly}\n",
     "t.yml:1: sandbox.workspace: expected one of rw, ro, got 'readonly'", ""},
    {"sandbox: {profile: yolo}\n",
     "t.yml:1: sandbox.profile: expected one of offline, repo-read, repo-write", ""},
    {"sandbox: {network: bridge}\n", "t.yml:1: sandbox.network: networking is not supported",
     "got 'bridge'"},
    {"sandbox: {network: host}\n", "t.yml:1: sandbox.network: networking is not supported", ""},
    /* names */
    {"tools: [ok, 'bad name']\n", "t.yml:1: tools[1]: expected a tool name", "'bad name'"},
    {"tools: ['']\n", "t.yml:1: tools[0]: expected a tool name", ""},
    {"tools: [a/b]\n", "t.yml:1: tools[0]: expected a tool name", ""},
    {"host_tools: {'no way': {command: [a]}}\n",
     "t.yml:1: host_tools.no way: expected a tool "
     "name",
     ""},
    {"host_tools: {x: {command: [a], secrets: [github_token]}}\n",
     "t.yml:1: host_tools.x.secrets[0]: expected a secret name", "'github_token'"},
    {"host_tools: {x: {command: [a], secrets: [1TOKEN]}}\n",
     "t.yml:1: host_tools.x.secrets[0]: expected a secret name", ""},
    {"host_tools: {x: {command: [a], secrets: TOKEN}}\n",
     "t.yml:1: host_tools.x.secrets: expected a list of secret names", ""},
    /* commands */
    {"host_tools:\n  x: {timeout: 3}\n", "t.yml:2: host_tools.x: missing key 'command'", ""},
    {"host_tools: {x: {command: []}}\n", "t.yml:1: host_tools.x.command: expected a list of words",
     "got an empty list"},
    {"host_tools: {x: {command: git diff}}\n", "t.yml:1: host_tools.x.command: expected a list",
     "not run through a shell"},
    {"host_tools: {x: {command: [git, '']}}\n",
     "t.yml:1: host_tools.x.command[1]: command words must not be empty", ""},
    {"host_tools: {x: {command: [git, ~]}}\n", "t.yml:1: host_tools.x.command[1]: expected a word",
     "got null"},
    {"host_tools: {x: {command: [a], cwd: ''}}\n", "t.yml:1: host_tools.x.cwd: expected a path",
     ""},
    /* mounts */
    {"sandbox:\n  mounts:\n    - {source: a, target: data}\n",
     "t.yml:3: sandbox.mounts[0].target: expected an absolute path", "got 'data'"},
    {"sandbox: {mounts: [{source: a, target: /data/../etc}]}\n",
     "t.yml:1: sandbox.mounts[0].target: must not contain '..'", ""},
    {"sandbox: {mounts: [{source: a, target: /..}]}\n",
     "t.yml:1: sandbox.mounts[0].target: must not contain '..'", ""},
    {"sandbox: {mounts: [{source: a, target: //}]}\n",
     "t.yml:1: sandbox.mounts[0].target: cannot mount over", ""},
    {"sandbox: {mounts: [{target: /a}]}\n", "t.yml:1: sandbox.mounts[0]: missing key 'source'", ""},
    {"sandbox: {mounts: [{source: '', target: /a}]}\n",
     "t.yml:1: sandbox.mounts[0].source: expected a path", ""},
    {"sandbox: {mounts: [{source: a}]}\n", "t.yml:1: sandbox.mounts[0]: missing key 'target'", ""},
    {"sandbox: {mounts: [{source: a, target: /a, mode: rx}]}\n",
     "t.yml:1: sandbox.mounts[0].mode: expected one of ro, rw, got 'rx'", ""},
    /* duplicate keys */
    {"tools: [a]\ntools: [b]\n", "t.yml:2: tools: duplicate key (first given at line 1)", ""},
    {"sandbox:\n  limits:\n    memory: 1m\n    pids: 2\n    memory: 2m\n",
     "t.yml:5: sandbox.limits.memory: duplicate key (first given at line 3)", ""},
    {"host_tools:\n  x: {command: [a]}\n  x: {command: [b]}\n",
     "t.yml:3: host_tools.x: duplicate key (first given at line 2)", ""},
    /* anchors, aliases, tags, documents */
    {"tools: &t [a]\n", "t.yml:1: anchors (&t) and aliases are not allowed", ""},
    {"tools: *t\n", "t.yml:1: aliases (*t) are not allowed", ""},
    {"sandbox: &s {enabled: true}\nx: *s\n", "t.yml:1:", "anchors"},
    {"tools: !!seq [a]\n", "t.yml:1: YAML tags (tag:yaml.org,2002:seq) are not allowed", ""},
    {"tools: [!custom a]\n", "t.yml:1: YAML tags (!custom) are not allowed", ""},
    {"tools: [a]\n---\ntools: [b]\n", "t.yml:2: only one YAML document is allowed", ""},
    {"---\n...\n---\n", "t.yml:3: only one YAML document is allowed", ""},
    /* keys that are not strings */
    {"? [a]\n: b\n", "t.yml:1: mapping keys must be plain strings", ""},
    /* syntax and encoding */
    {"tools: [a, b\n", "t.yml:2: YAML syntax error: ", "while parsing a flow sequence at line 1"},
    {"sandbox:\n  enabled: true\n limits: 1\n", "t.yml:3: YAML syntax error: ", ""},
    {"tools: [\"unterminated]\n", "t.yml:2: YAML syntax error: ", ""},
    {"tools: [a]\n\ttools: [b]\n", "t.yml:", "YAML syntax error"},
    {"tools: [caf\xC3]\n", "t.yml:1: not valid UTF-8 text: ", ""},
    {"# ok\ntools: [\xFF\xFE]\n", "t.yml:2: not valid UTF-8 text: ", "byte offset 13"},
    {"\xFF\xFEt\0o\0", "t.yml:1: not valid UTF-8 text: looks like UTF-16", ""},
    {"tools: [a\x01]\n", "t.yml:1: not valid UTF-8 text: control characters", ""},
    {"tools: [\"a\\0b\"]\n", "t.yml:1: NUL characters are not allowed", ""},
    {"tools: [\"\\u0007\"]\n", "t.yml:1: tools[0]: expected a tool name", "got '?'"},
};

START_TEST(test_errors)
{
    const struct bad_case *bc = &bad_cases[_i];
    tx_config cfg;
    tx_config_init(&cfg);
    tx_error err;
    ck_assert_msg(load(&cfg, base_doc, &err) == 0, "%s", err.message);
    char *before = dump(&cfg);

    /* the length is given explicitly so cases may hold NUL bytes; strlen is fine for the rest */
    size_t len = strlen(bc->yaml);
    if (bc->yaml[0] == '\xFF')
        len = 6;
    tx_error_clear(&err);
    int rc = tx_config_load_string(&cfg, "t.yml", bc->yaml, len, &err);
    ck_assert_msg(rc == -1, "case %d accepted: %s", _i, bc->yaml);
    ck_assert_int_eq(err.status, TACTUS_EUSAGE);
    ck_assert_msg(strncmp(err.message, bc->prefix, strlen(bc->prefix)) == 0,
                  "case %d: message '%s' does not start with '%s'", _i, err.message, bc->prefix);
    ck_assert_msg(strstr(err.message, bc->contains) != NULL, "case %d: message '%s' lacks '%s'", _i,
                  err.message, bc->contains);
    for (const char *p = err.message; *p; p++)
        ck_assert_msg((unsigned char)*p >= 0x20, "case %d: control char in message", _i);

    char *after = dump(&cfg);
    ck_assert_str_eq(before, after);
    free(before);
    free(after);
    tx_config_free(&cfg);
}
END_TEST

/* A failing file that gets far (tools, host tools, mounts, limits already parsed) before its
 * error leaves the config exactly as it was, and a NULL error record is allowed. */
START_TEST(test_failed_load_changes_nothing)
{
    static const char late_error[] = "tools: [new.tool, host.ping]\n"
                                     "host_tools:\n"
                                     "  host.ping: {command: [replaced]}\n"
                                     "  other: {command: [o]}\n"
                                     "checkpoint: {durability: none}\n"
                                     "sandbox:\n"
                                     "  enabled: true\n"
                                     "  network: none\n"
                                     "  mounts: [{source: b, target: /b}]\n"
                                     "  limits: {memory: 1m, pids: 1}\n"
                                     "strict_determinism: maybe\n";
    tx_config cfg;
    tx_config_init(&cfg);
    tx_error err;
    ck_assert_int_eq(load(&cfg, base_doc, &err), 0);
    char *before = dump(&cfg);
    ck_assert_int_eq(load(&cfg, late_error, &err), -1);
    ck_assert_str_eq(err.message,
                     "t.yml:11: strict_determinism: expected true or false (only these two "
                     "spellings are accepted), got 'maybe'");
    char *after = dump(&cfg);
    ck_assert_str_eq(before, after);
    free(after);
    ck_assert_int_eq(tx_config_load_string(&cfg, "t.yml", late_error, strlen(late_error), NULL),
                     -1);
    after = dump(&cfg);
    ck_assert_str_eq(before, after);
    free(after);
    free(before);
    ck_assert_int_eq(tx_config_load_string(NULL, "t.yml", "", 0, &err), -1);
    ck_assert_int_eq(tx_config_load_string(&cfg, "t.yml", NULL, 3, &err), -1);
    tx_config_free(&cfg);
}
END_TEST

/* Builds "tools: [[[...a...]]]" with `lists` nested lists under the top mapping. */
static char *nested(int lists)
{
    char *s = malloc((size_t)lists * 2 + 32);
    ck_assert_ptr_nonnull(s);
    strcpy(s, "tools: ");
    size_t n = strlen(s);
    for (int i = 0; i < lists; i++)
        s[n++] = '[';
    s[n++] = 'a';
    for (int i = 0; i < lists; i++)
        s[n++] = ']';
    s[n] = '\0';
    return s;
}

START_TEST(test_limits_on_shape)
{
    tx_config cfg;
    tx_config_init(&cfg);
    tx_error err;
    /* 1 mapping + 15 lists = 16 levels: allowed by the parser, refused by the schema */
    char *s = nested(15);
    ck_assert_int_eq(load(&cfg, s, &err), -1);
    ck_assert_msg(strstr(err.message, "tools[0]: expected a tool name") != NULL, "%s", err.message);
    free(s);
    /* 17 levels */
    s = nested(16);
    ck_assert_int_eq(load(&cfg, s, &err), -1);
    ck_assert_msg(strstr(err.message, "t.yml:1: lists and mappings nested deeper than 16") ==
                      err.message,
                  "%s", err.message);
    free(s);
    /* very deep: stops early, no stack trouble */
    s = nested(200000);
    ck_assert_int_eq(load(&cfg, s, &err), -1);
    ck_assert_ptr_nonnull(strstr(err.message, "nested deeper"));
    free(s);

    /* 4096 entries are fine, 4097 are not */
    size_t cap = 4097 * 8 + 64;
    s = malloc(cap);
    ck_assert_ptr_nonnull(s);
    size_t n = (size_t)snprintf(s, cap, "tools: [");
    for (int i = 0; i < 4096; i++)
        n += (size_t)snprintf(s + n, cap - n, "t%d,", i);
    strcpy(s + n, "]");
    ck_assert_msg(load(&cfg, s, &err) == 0, "%s", err.message);
    ck_assert_uint_eq(cfg.ntools, 4096);
    strcpy(s + n, "x]");
    tx_config_free(&cfg);
    ck_assert_int_eq(load(&cfg, s, &err), -1);
    ck_assert_ptr_nonnull(strstr(err.message, "more than 4096 entries"));
    ck_assert_uint_eq(cfg.ntools, 0);
    free(s);

    /* more than 1 MiB of text, even if it is only a comment */
    size_t big = 1024 * 1024 + 1;
    s = malloc(big + 1);
    ck_assert_ptr_nonnull(s);
    memset(s, ' ', big);
    s[0] = '#';
    s[big] = '\0';
    ck_assert_int_eq(load(&cfg, s, &err), -1);
    ck_assert_str_eq(err.message, "t.yml: larger than 1 MiB (1048577 bytes); a configuration "
                                  "file may be at most 1048576 bytes");
    ck_assert_int_eq(tx_config_load_string(&cfg, "t.yml", s, big - 1, &err), 0);
    free(s);

    /* long keys and values are cut in messages */
    char longkey[600];
    memset(longkey, 'k', sizeof longkey);
    memcpy(longkey + 590, ": 1\n", 5);
    ck_assert_int_eq(load(&cfg, longkey, &err), -1);
    ck_assert_ptr_nonnull(strstr(err.message, "kkk...: unknown key"));
    ck_assert_uint_lt(strlen(err.message), 300);
    tx_config_free(&cfg);
}
END_TEST

/* Writes text to a new temporary file and returns its malloc'd path. */
static char *temp_file(const char *text, size_t len)
{
    char *path = strdup("/tmp/test_config_XXXXXX");
    ck_assert_ptr_nonnull(path);
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    size_t done = 0;
    while (done < len) {
        ssize_t n = write(fd, text + done, len - done);
        ck_assert_int_gt(n, 0);
        done += (size_t)n;
    }
    ck_assert_int_eq(close(fd), 0);
    return path;
}

START_TEST(test_load_file)
{
    tx_config cfg;
    tx_config_init(&cfg);
    tx_error err;

    ck_assert_int_eq(tx_config_load_file(&cfg, "/nonexistent/dir/proc.tac.yml", &err), -1);
    ck_assert_int_eq(err.status, TACTUS_EUSAGE);
    ck_assert_str_eq(err.message,
                     "/nonexistent/dir/proc.tac.yml: cannot open: No such file or directory");

    ck_assert_int_eq(tx_config_load_file(&cfg, "/tmp", &err), -1);
    ck_assert_str_eq(err.message, "/tmp: is a directory, not a configuration file");

    static const char good[] = "tools: [f.tool]\nsandbox: {limits: {pids: 9}}\n";
    char *path = temp_file(good, strlen(good));
    ck_assert_msg(tx_config_load_file(&cfg, path, &err) == 0, "%s", err.message);
    ck_assert(tx_config_allows_tool(&cfg, "f.tool"));
    ck_assert_uint_eq(cfg.limits.allowed[TX_LIMIT_PIDS], 9);
    unlink(path);
    free(path);

    static const char bad[] = "tools: [a]\nsandbox:\n  pids: 3\n";
    path = temp_file(bad, strlen(bad));
    ck_assert_int_eq(tx_config_load_file(&cfg, path, &err), -1);
    char want[256];
    snprintf(want, sizeof want, "%s:3: sandbox.pids: unknown key", path);
    ck_assert_msg(strncmp(err.message, want, strlen(want)) == 0, "%s", err.message);
    ck_assert(!tx_config_allows_tool(&cfg, "a"));
    unlink(path);
    free(path);

    /* exactly 1 MiB is read; one byte more is refused, naming the file */
    size_t mib = 1024 * 1024;
    char *text = malloc(mib + 1);
    ck_assert_ptr_nonnull(text);
    memset(text, '\n', mib + 1);
    memcpy(text, "tools: [big.one]", 16);
    path = temp_file(text, mib);
    ck_assert_msg(tx_config_load_file(&cfg, path, &err) == 0, "%s", err.message);
    ck_assert(tx_config_allows_tool(&cfg, "big.one"));
    unlink(path);
    free(path);
    text[mib - 1] = 'x'; /* would be a syntax error if it were read */
    path = temp_file(text, mib + 1);
    ck_assert_int_eq(tx_config_load_file(&cfg, path, &err), -1);
    snprintf(want, sizeof want, "%s: larger than 1 MiB", path);
    ck_assert_msg(strncmp(err.message, want, strlen(want)) == 0, "%s", err.message);
    unlink(path);
    free(path);
    free(text);

    ck_assert_int_eq(tx_config_load_file(&cfg, NULL, &err), -1);
    ck_assert_uint_eq(cfg.ntools, 2);
    tx_config_free(&cfg);
}
END_TEST

/* Issue 8: under --policy a writable user config could add tools (tools were a union) and
 * widen limits or turn the sandbox off. The policy is now the ceiling. */
START_TEST(test_policy_is_a_ceiling)
{
    tx_config user, pol;
    tx_error err;
    tx_config_init(&user);
    tx_config_init(&pol);
    const char *u = "tools: [a, evil]\n"
                    "host_tools:\n  evil: {command: [/bin/sh, -c, 'rm -rf ~']}\n"
                    "  a: {command: [/bin/sh, -c, planted]}\n"
                    "files: {read_credentials: [.npmrc]}\n"
                    "sandbox:\n  enabled: false\n  workspace: rw\n"
                    "  mounts: [{source: /, target: /host}]\n"
                    "  limits: {memory: 2g, pids: 8, instructions: 0}\n";
    const char *p = "tools: [a, b]\nhost_tools:\n  a: {command: [/usr/bin/true]}\n"
                    "sandbox:\n  workspace: ro\n  limits: {instructions: 1000, pids: 16}\n";
    ck_assert_int_eq(tx_config_load_string(&user, "user.yml", u, strlen(u), &err), 0);
    ck_assert_int_eq(tx_config_load_string(&pol, "policy.yml", p, strlen(p), &err), 0);
    ck_assert_int_eq(tx_config_ceiling(&user, &pol, &err), 0);
    ck_assert_uint_eq(user.ntools, 1); /* a: in both; b: the user config narrowed it away */
    ck_assert_str_eq(user.tools[0], "a");
    ck_assert_int_eq(tx_config_allows_tool(&user, "evil"), 0);
    ck_assert_uint_eq(user.nhost_tools, 1);
    ck_assert_str_eq(user.host_tools[0].argv[0], "/usr/bin/true");
    ck_assert_uint_eq(user.nmounts, 0);
    ck_assert_uint_eq(user.nread_credentials, 0);
    ck_assert_int_ne(user.sandbox_enabled, 0);
    ck_assert_int_eq(user.workspace_read_only, 1);
    tx_limits def;
    tx_limits_default(&def);
    ck_assert_uint_eq(user.limits.allowed[TX_LIMIT_MEMORY], def.allowed[TX_LIMIT_MEMORY]);
    ck_assert_uint_eq(user.limits.allowed[TX_LIMIT_PIDS], 8);
    ck_assert_uint_eq(user.limits.allowed[TX_LIMIT_INSTRUCTIONS], 1000);
    tx_config_free(&user);
    tx_config_free(&pol);
}
END_TEST

static Suite *config_suite(void)
{
    Suite *s = suite_create("config");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_defaults);
    tcase_add_test(tc, test_empty_documents);
    tcase_add_test(tc, test_full_document);
    tcase_add_test(tc, test_other_enum_values);
    tcase_add_test(tc, test_merge);
    tcase_add_test(tc, test_sizes_and_unlimited);
    tcase_add_loop_test(tc, test_errors, 0, (int)(sizeof bad_cases / sizeof bad_cases[0]));
    tcase_add_test(tc, test_failed_load_changes_nothing);
    tcase_add_test(tc, test_limits_on_shape);
    tcase_add_test(tc, test_load_file);
    tcase_add_test(tc, test_policy_is_a_ceiling);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(config_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
