/* launch.c - starting runners (see launch.h). */
#include "launch.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/close_range.h>
#include <poll.h>
#include <signal.h>
#include <sodium.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "frame.h"
#include "protocol.h"

int tx_run_tokens_make(tx_run_tokens *tok, tx_error *err)
{
    unsigned char raw[3][TX_TOKEN_BYTES];
    tok->hashes = tx_tokens_new(raw);
    if (tok->hashes == NULL)
        return tx_fail(err, TACTUS_ESYSTEM, "cannot create run tokens");
    for (int k = 0; k < 3; k++)
        tx_token_hex(raw[k], tok->hex[k], sizeof tok->hex[k]);
    sodium_memzero(raw, sizeof raw);
    return 0;
}

/* Once the runner holds its copy, the broker side forgets the tokens themselves. */
void tx_run_tokens_forget_text(tx_run_tokens *tok)
{
    sodium_memzero(tok->hex, sizeof tok->hex);
}

void tx_runner_args_from(const tx_run_spec *spec, tx_runner_args *a, tx_channel ch,
                         const tx_run_tokens *tok)
{
    memset(a, 0, sizeof *a);
    a->source = spec->source;
    a->source_len = spec->source_len;
    a->chunkname = spec->chunkname;
    a->input = spec->input;
    a->params = spec->params;
    a->limits = spec->config->limits;
    a->alloc = spec->alloc;
    a->alloc_ud = spec->alloc_ud;
    a->channel = ch;
    a->token_setup = tok->hex[TX_TOKEN_SETUP];
    a->token_run = tok->hex[TX_TOKEN_RUN];
    a->validate_only = spec->validate_only;
    a->strict_determinism = spec->config->strict_determinism;
    a->run_id = spec->run_id;
    a->check_only = spec->check_dir != NULL;
    a->journal_async = spec->config->durability == TX_DURABILITY_NONE;
    a->test_mode = spec->test_mode;
    a->test_filter = spec->test_filter;
}

/* Inside the sandbox: the VM is built, no procedure code has run yet; from here on the runner
 * may only compute and talk over the socket it holds. */
static int harden_runner(void *ud, tx_error *err)
{
    (void)ud;
    return tx_seccomp_install(0, err);
}

/* Child side: run the VM, deliver the result with run.finish, exit without unwinding. */
static void child_main(const tx_run_spec *spec, int fd, int sandboxed, const tx_run_tokens *tok)
{
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    clearenv(); /* the runner has no use for the host's environment (keys, tokens, paths) */
    if (sodium_init() < 0) /* before seccomp: it may open /dev/urandom */
        _exit(70);
    tx_socket_channel *sc = tx_socket_channel_new(fd);
    if (sc == NULL)
        _exit(70);
    tx_runner_args a;
    tx_runner_args_from(spec, &a, tx_socket_channel_get(sc), tok);
    a.use_ticks = 1; /* this process exists only to run the VM */
    if (sandboxed)
        a.harden = harden_runner;
    json_t *result = tx_runner_execute(&a);
    if (result == NULL)
        _exit(71);
    tx_channel ch = tx_socket_channel_get(sc);
    tx_reply reply;
    memset(&reply, 0, sizeof reply);
    tx_error err;
    tx_error_clear(&err);
    json_t *params = json_pack("{s:o, s:s}", "result", result, "token", tok->hex[TX_TOKEN_UPLOAD]);
    int rc = params ? ch.call(ch.ud, TX_METHOD_RUN_FINISH, params, &reply, &err) : -1;
    json_decref(params);
    json_decref(reply.data);
    tx_socket_channel_free(sc);
    _exit(rc == 0 ? 0 : 72);
}

/* True once the runner's end of the socket is closed: the runner has exited or is exiting. */
static int peer_hung_up(int fd)
{
    struct pollfd p = {.fd = fd, .events = POLLRDHUP};
    return fd >= 0 && poll(&p, 1, 0) == 1 && (p.revents & (POLLHUP | POLLRDHUP | POLLERR)) != 0;
}

/* True if our child pid has ended (left unreaped), polling for at most ms milliseconds. */
static int ended_within(pid_t pid, int ms)
{
    for (int waited = 0;; waited += 5) {
        siginfo_t si;
        memset(&si, 0, sizeof si);
        if (waitid(P_PID, (id_t)pid, &si, WEXITED | WNOHANG | WNOWAIT) == 0 && si.si_pid == pid)
            return 1;
        if (waited >= ms)
            return 0;
        struct timespec ts = {0, 5 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
}

/* Ends the runner (if needed) and learns how it ended: status for a plain child, the sandbox's
 * outcome for a sandboxed one. */
void tx_runner_reap(tx_runner_link *link, int kill_it, int *status, tx_sandbox_outcome *outcome)
{
    memset(outcome, 0, sizeof *outcome);
    *status = 0;
    if (kill_it) {
        /* A runner that closed its socket is on its way out (a crash, a kill from outside, an
         * exec'd runner reporting its sandbox's outcome): give it a bounded moment to end by
         * itself so that its real end, not our SIGKILL, is what gets reported. */
        pid_t pid = link->sb != NULL ? tx_sandbox_pid(link->sb) : link->pid;
        if (pid > 0 && !ended_within(pid, peer_hung_up(link->fd) ? 2000 : 0)) {
            kill(pid, SIGKILL);
            link->killed = 1;
        }
    }
    if (link->sb != NULL) {
        tx_error err;
        tx_error_clear(&err);
        tx_sandbox_wait(link->sb, outcome, &err);
        tx_sandbox_free(link->sb);
        link->sb = NULL;
        return;
    }
    while (waitpid(link->pid, status, 0) < 0 && errno == EINTR) {
    }
}

int tx_runner_own_signal(const tx_runner_link *link, int status, const tx_sandbox_outcome *outcome)
{
    if (link->killed)
        return 0;
    if (outcome->kind == TX_SANDBOX_SIGNALED)
        return outcome->signal;
    return outcome->kind == 0 && WIFSIGNALED(status) ? WTERMSIG(status) : 0;
}

/* Ends this process by sig (no core file), as the sandboxed runner it supervised ended. */
static _Noreturn void die_by_signal(int sig)
{
    struct rlimit none = {0, 0};
    (void)setrlimit(RLIMIT_CORE, &none);
    signal(sig, SIG_DFL);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, sig);
    sigprocmask(SIG_UNBLOCK, &set, NULL);
    raise(sig);
    _exit(128 + sig); /* a signal whose default is not to terminate */
}

typedef struct sandboxed_runner {
    const tx_run_spec *spec;
    int fd;
    const tx_run_tokens *tok;
} sandboxed_runner;

static int sandbox_entry(void *arg)
{
    sandboxed_runner *r = arg;
    child_main(r->spec, r->fd, 1, r->tok);
    return 70; /* not reached: child_main exits */
}

/* Starts the runner with one end of a fresh socketpair: forked, or inside the sandbox. Fills
 * link (pid, our end of the socket, the sandbox). Returns 0 or -1 with err set. */
/* Starts a sandbox whose worker runs the VM on child_fd (kept open inside). */
static int start_sandboxed(const tx_run_spec *spec, int child_fd, const tx_run_tokens *tok,
                           tx_sandbox **out, tx_error *err)
{
    /* The Lua runner needs no files at all: no workspace, no mounts; seccomp refuses open()
     * anyway. The kernel's memory cap sits above the VM's own, so the VM reports the limit by
     * name before the kernel has to act. */
    tx_sandbox_policy policy;
    tx_sandbox_policy_init(&policy);
    policy.limits = spec->config->limits;
    if (policy.limits.allowed[TX_LIMIT_MEMORY] != 0)
        policy.limits.allowed[TX_LIMIT_MEMORY] += 64u << 20;
    policy.limits.allowed[TX_LIMIT_TIMEOUT] = 0; /* the broker keeps the clock */
    policy.no_cgroup = 1;
    policy.stdin_null = 1; /* the runner reads nothing; its stdout/stderr are relayed */
    policy.keep_fds[0] = child_fd;
    policy.nkeep_fds = 1;
    sandboxed_runner arg = {spec, child_fd, tok};
    if (tx_sandbox_start(&policy, sandbox_entry, &arg, out, err) != 0) {
        char why[sizeof err->message];
        snprintf(why, sizeof why, "%s", err->message);
        return tx_fail(err, err->status,
                       "cannot start the sandbox: %.900s (to run without it, pass --no-sandbox)",
                       why);
    }
    return 0;
}

/* The job an exec'd runner reads as its first frame. */
static json_t *job_json(const tx_run_spec *spec, const tx_run_tokens *tok)
{
    size_t cap = sodium_base64_ENCODED_LEN(spec->source_len, sodium_base64_VARIANT_ORIGINAL);
    char *b64 = malloc(cap);
    if (b64 == NULL)
        return NULL;
    sodium_bin2base64(b64, cap, (const unsigned char *)spec->source, spec->source_len,
                      sodium_base64_VARIANT_ORIGINAL);
    json_t *limits = json_object();
    for (int id = 0; limits != NULL && id < TX_LIMIT__COUNT; id++)
        json_object_set_new(limits, tx_limit_name((tx_limit_id)id),
                            json_integer((json_int_t)spec->config->limits.allowed[id]));
    json_t *job = json_pack(
        "{s:s, s:s, s:O?, s:O?, s:o, s:b, s:b, s:s?, s:[sss], s:b, s:b, s:s?}", "source", b64,
        "chunkname", spec->chunkname, "input", spec->input, "params", spec->params, "limits",
        limits, "strict", spec->config->strict_determinism, "validate_only", spec->validate_only,
        "run_id", spec->run_id, "tokens", tok->hex[TX_TOKEN_SETUP], tok->hex[TX_TOKEN_RUN],
        tok->hex[TX_TOKEN_UPLOAD], "sandbox", spec->isolation == TACTUS_SANDBOX, "test_mode",
        spec->test_mode, "test_filter", spec->test_filter);
    free(b64);
    return job;
}

/* posix_spawn of `runner_exe __runner` with the socket as fd 3 and an empty environment, then
 * the job frame. Safe in a multi-threaded host: nothing runs between fork and exec but libc. */
static int spawn_runner(const tx_run_spec *spec, int sv[2], tx_runner_link *link,
                        const tx_run_tokens *tok, tx_error *err)
{
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t attr;
    sigset_t none, all;
    sigemptyset(&none);
    sigfillset(&all);
    if (posix_spawn_file_actions_init(&fa) != 0 || posix_spawnattr_init(&attr) != 0)
        return tx_fail(err, TACTUS_ESYSTEM, "out of memory");
    int rc = posix_spawn_file_actions_adddup2(&fa, sv[1], 3);
    if (rc == 0)
        rc = posix_spawn_file_actions_addclosefrom_np(&fa, 4);
    if (rc == 0)
        rc = posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
    if (rc == 0)
        rc = posix_spawnattr_setsigmask(&attr, &none);
    if (rc == 0)
        rc = posix_spawnattr_setsigdefault(&attr, &all);
    char *argv[] = {(char *)spec->runner_exe, (char *)"__runner", NULL};
    char *envp[] = {NULL};
    pid_t pid = 0;
    if (rc == 0)
        rc = posix_spawn(&pid, spec->runner_exe, &fa, &attr, argv, envp);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&attr);
    close(sv[1]);
    if (rc != 0) {
        close(sv[0]);
        return tx_fail(err, TACTUS_ESYSTEM, "cannot start the runner %s: %s", spec->runner_exe,
                       strerror(rc));
    }
    json_t *job = job_json(spec, tok);
    json_t *msg = job ? tx_msg_request(NULL, "runner.job", json_pack("{s:o}", "job", job)) : NULL;
    int sent = msg ? tx_msg_send(sv[0], msg, err) : tx_fail(err, TACTUS_ESYSTEM, "out of memory");
    json_decref(msg);
    if (sent != 0) {
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        close(sv[0]);
        return -1;
    }
    link->pid = pid;
    link->fd = sv[0];
    return 0;
}

int tx_runner_start(const tx_run_spec *spec, tx_runner_link *link, const tx_run_tokens *tok,
                    tx_error *err)
{
    int sv[2];
    memset(link, 0, sizeof *link);
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
        return tx_fail(err, TACTUS_ESYSTEM, "socketpair: %s", strerror(errno));
    if (spec->runner_exe != NULL)
        return spawn_runner(spec, sv, link, tok, err);
    fflush(NULL);
    if (spec->isolation == TACTUS_SANDBOX) {
        if (start_sandboxed(spec, sv[1], tok, &link->sb, err) != 0) {
            close(sv[0]);
            close(sv[1]);
            return -1;
        }
        close(sv[1]);
        link->pid = tx_sandbox_pid(link->sb);
        link->fd = sv[0];
        return 0;
    }
    pid_t pid = fork();
    if (pid < 0) {
        close(sv[0]);
        close(sv[1]);
        return tx_fail(err, TACTUS_ESYSTEM, "fork: %s", strerror(errno));
    }
    if (pid == 0) {
        /* The runner keeps stdio and its socket, nothing else: no control socket to the host,
         * no evidence file, nothing the embedding program had open. */
        int fd = sv[1];
        if (fd != 3 && dup2(fd, 3) < 0)
            _exit(70);
        close_range(4, ~0U, 0);
        child_main(spec, 3, 0, tok);
    }
    close(sv[1]);
    link->pid = pid;
    link->fd = sv[0];
    return 0;
}

/* ---- the `tactus __runner` role ---------------------------------------------------------- */

static void copy_token(json_t *tokens, int k, tx_run_tokens *tok)
{
    const char *t = json_string_value(json_array_get(tokens, (size_t)k));
    snprintf(tok->hex[k], sizeof tok->hex[k], "%s", t ? t : "");
}

void tx_runner_role(int fd)
{
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    tx_frame_reader reader;
    tx_error err;
    tx_error_clear(&err);
    const char *payload = NULL;
    size_t len = 0;
    tx_request req;
    if (tx_frame_reader_init(&reader, TX_FRAME_MAX, &err) != 0 ||
        tx_frame_recv(fd, &reader, &payload, &len, 30000, &err) != 1 ||
        tx_request_parse(payload, len, &req, &err) != 0 || strcmp(req.method, "runner.job") != 0) {
        fprintf(stderr, "tactus __runner: no job on fd %d: %s\n", fd, err.message);
        _exit(70);
    }
    json_t *job = json_object_get(req.params, "job");
    const char *b64 = json_string_value(json_object_get(job, "source"));
    size_t b64_len = b64 ? strlen(b64) : 0, src_len = 0;
    char *source = malloc(b64_len + 1);
    if (b64 == NULL || source == NULL ||
        sodium_base642bin((unsigned char *)source, b64_len + 1, b64, b64_len, NULL, &src_len, NULL,
                          sodium_base64_VARIANT_ORIGINAL) != 0)
        _exit(70);
    tx_config config;
    tx_config_init(&config);
    json_t *limits = json_object_get(job, "limits");
    for (int id = 0; id < TX_LIMIT__COUNT; id++) {
        json_t *v = json_object_get(limits, tx_limit_name((tx_limit_id)id));
        if (json_is_integer(v) && json_integer_value(v) >= 0)
            config.limits.allowed[id] = (uint64_t)json_integer_value(v);
    }
    config.strict_determinism = json_is_true(json_object_get(job, "strict"));
    tx_run_spec spec;
    memset(&spec, 0, sizeof spec);
    spec.source = source;
    spec.source_len = src_len;
    spec.chunkname = json_string_value(json_object_get(job, "chunkname"));
    json_t *input = json_object_get(job, "input");
    json_t *params = json_object_get(job, "params");
    spec.input = json_is_object(input) ? input : NULL;
    spec.params = json_is_object(params) ? params : NULL;
    spec.config = &config;
    spec.run_id = json_string_value(json_object_get(job, "run_id"));
    spec.validate_only = json_is_true(json_object_get(job, "validate_only"));
    spec.test_mode = json_is_true(json_object_get(job, "test_mode"));
    spec.test_filter = json_string_value(json_object_get(job, "test_filter"));
    int sandboxed = json_is_true(json_object_get(job, "sandbox"));
    spec.isolation = sandboxed ? TACTUS_SANDBOX : TACTUS_CHILD;
    if (spec.chunkname == NULL)
        _exit(70);
    tx_run_tokens tok;
    memset(&tok, 0, sizeof tok);
    json_t *tokens = json_object_get(job, "tokens");
    for (int k = 0; k < 3; k++)
        copy_token(tokens, k, &tok);
    if (!sandboxed)
        child_main(&spec, fd, 0, &tok);
    /* This process is fresh from exec and single-threaded: forking the sandbox is safe here. */
    tx_sandbox *sb = NULL;
    if (start_sandboxed(&spec, fd, &tok, &sb, &err) != 0) {
        fprintf(stderr, "tactus __runner: %s\n", err.message);
        _exit(73);
    }
    close(fd);
    tx_sandbox_outcome outcome;
    memset(&outcome, 0, sizeof outcome);
    tx_sandbox_wait(sb, &outcome, &err);
    tx_sandbox_free(sb);
    switch (outcome.kind) {
    case TX_SANDBOX_EXITED:
        _exit(outcome.exit_code);
    case TX_SANDBOX_LIMIT:
        fprintf(stderr, "tactus __runner: %s\n", outcome.message);
        _exit(125);
    case TX_SANDBOX_SECCOMP:
        _exit(159);
    case TX_SANDBOX_SIGNALED:
        die_by_signal(outcome.signal);
    default:
        _exit(72);
    }
}
