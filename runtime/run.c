/* run.c - one run from the trusted side (see run.h). */
#include "run.h"

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "frame.h"
#include "protocol.h"
#include "runner.h"
#include "tactus_version.h"

/* The host kills a child runner this long after the timeout the VM enforces itself, so a VM
 * that notices its own deadline reports it first. */
#define KILL_GRACE_MS 250

tactus_status tx_status_from_string(const char *status)
{
    static const struct {
        const char *name;
        tactus_status status;
    } map[] = {{"ok", TACTUS_OK},
               {"error", TACTUS_EPROC},
               {"usage", TACTUS_EUSAGE},
               {"limit", TACTUS_ELIMIT},
               {"timeout", TACTUS_ETIMEOUT},
               {"suspended", TACTUS_SUSPENDED},
               {"nondeterminism", TACTUS_ENONDET},
               {"system", TACTUS_ESYSTEM}};
    for (size_t i = 0; status != NULL && i < sizeof map / sizeof map[0]; i++)
        if (strcmp(map[i].name, status) == 0)
            return map[i].status;
    return TACTUS_ESYSTEM;
}

void tx_new_run_id(char *buf, size_t cap)
{
    unsigned char rnd[6];
    char hex[sizeof rnd * 2 + 1];
    randombytes_buf(rnd, sizeof rnd);
    sodium_bin2hex(hex, sizeof hex, rnd, sizeof rnd);
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    char stamp[32];
    strftime(stamp, sizeof stamp, "%Y%m%d-%H%M%S", &tm);
    snprintf(buf, cap, "%s-%s", stamp, hex);
}

int tx_valid_run_id(const char *id)
{
    size_t n = strlen(id);
    if (n == 0 || n > 128 || strcmp(id, ".") == 0 || strcmp(id, "..") == 0)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = id[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-'))
            return 0;
    }
    return 1;
}

static double mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

static void runner_args_from(const tx_run_spec *spec, tx_runner_args *a, tx_channel ch)
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
    a->validate_only = spec->validate_only;
}

static json_t *failure(const char *status, const char *type, const char *message)
{
    return json_pack("{s:s, s:n, s:{s:s, s:s}}", "status", status, "output", "error", "type", type,
                     "message", message);
}

/* Child side: run the VM, deliver the result with run.finish, exit without unwinding. */
static void child_main(const tx_run_spec *spec, int fd)
{
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    tx_socket_channel *sc = tx_socket_channel_new(fd);
    if (sc == NULL)
        _exit(70);
    tx_runner_args a;
    runner_args_from(spec, &a, tx_socket_channel_get(sc));
    json_t *result = tx_runner_execute(&a);
    if (result == NULL)
        _exit(71);
    tx_channel ch = tx_socket_channel_get(sc);
    tx_reply reply;
    memset(&reply, 0, sizeof reply);
    tx_error err;
    tx_error_clear(&err);
    json_t *params = json_pack("{s:o}", "result", result);
    int rc = params ? ch.call(ch.ud, TX_METHOD_RUN_FINISH, params, &reply, &err) : -1;
    json_decref(params);
    json_decref(reply.data);
    tx_socket_channel_free(sc);
    _exit(rc == 0 ? 0 : 72);
}

/* Serves one frame from the runner; returns 1 when run.finish arrived, 0 to go on, -1 on a
 * protocol violation (err set). */
static int serve_frame(tx_server *server, int fd, const char *payload, size_t len, tx_error *err)
{
    tx_request req;
    if (tx_request_parse(payload, len, &req, err) != 0) {
        json_t *resp = tx_msg_error(NULL, TX_ERR_BAD_REQUEST, err->message);
        if (resp != NULL) {
            tx_error ignored;
            tx_msg_send(fd, resp, &ignored);
            json_decref(resp);
        }
        return -1;
    }
    int finished = strcmp(req.method, TX_METHOD_RUN_FINISH) == 0;
    json_t *resp = tx_server_handle(server, &req);
    tx_request_free(&req);
    if (resp != NULL) {
        int rc = tx_msg_send(fd, resp, err);
        json_decref(resp);
        if (rc != 0)
            return -1;
    }
    return finished ? 1 : 0;
}

static const char *signal_text(int sig)
{
    switch (sig) {
    case SIGKILL:
        return "SIGKILL";
    case SIGSEGV:
        return "SIGSEGV";
    case SIGABRT:
        return "SIGABRT";
    case SIGSYS:
        return "SIGSYS (blocked system call)";
    case SIGXCPU:
        return "SIGXCPU";
    case SIGXFSZ:
        return "SIGXFSZ";
    default:
        return "a signal";
    }
}

/* Parent side of a child run: serve until run.finish, EOF or the deadline. */
static json_t *supervise_child(const tx_run_spec *spec, tx_server *server, pid_t pid, int fd)
{
    uint64_t timeout_ms = spec->config->limits.allowed[TX_LIMIT_TIMEOUT];
    double deadline = timeout_ms ? mono_ms() + (double)timeout_ms + KILL_GRACE_MS : 0;
    tx_frame_reader reader;
    tx_error err;
    tx_error_clear(&err);
    json_t *result = NULL;
    int timed_out = 0, violation = 0, finished = 0;
    if (tx_frame_reader_init(&reader, TX_FRAME_MAX, &err) != 0)
        return failure("system", "SystemError", err.message);
    while (!finished) {
        int wait_ms = -1;
        if (deadline != 0) {
            double left = deadline - mono_ms();
            if (left <= 0) {
                timed_out = 1;
                break;
            }
            wait_ms = (int)left + 1;
        }
        const char *payload = NULL;
        size_t len = 0;
        int rc = tx_frame_recv(fd, &reader, &payload, &len, wait_ms, &err);
        if (rc == 0)
            break; /* runner closed: it died or exited without finishing */
        if (rc < 0) {
            if (deadline != 0 && mono_ms() >= deadline) {
                timed_out = 1;
            } else {
                violation = 1;
            }
            break;
        }
        rc = serve_frame(server, fd, payload, len, &err);
        if (rc < 0) {
            violation = 1;
            break;
        }
        finished = rc == 1;
    }
    tx_frame_reader_free(&reader);
    if (!finished)
        kill(pid, SIGKILL);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    result = tx_server_take_result(server);
    if (result != NULL)
        return result;
    if (timed_out) {
        char msg[160];
        snprintf(msg, sizeof msg, "wall-clock limit of %llu ms exceeded",
                 (unsigned long long)timeout_ms);
        result = failure("timeout", "Timeout", msg);
        json_object_set_new(json_object_get(result, "error"), "limit", json_string("timeout"));
        return result;
    }
    char msg[1200];
    if (violation)
        snprintf(msg, sizeof msg, "runner broke the protocol: %s", err.message);
    else if (WIFSIGNALED(status))
        snprintf(msg, sizeof msg, "runner was killed by %s (signal %d)",
                 signal_text(WTERMSIG(status)), WTERMSIG(status));
    else
        snprintf(msg, sizeof msg, "runner exited (status %d) without a result",
                 WIFEXITED(status) ? WEXITSTATUS(status) : -1);
    return failure("system", "RunnerDied", msg);
}

static json_t *run_child(const tx_run_spec *spec, tx_server *server, tx_error *err)
{
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
        tx_fail(err, TACTUS_ESYSTEM, "socketpair: %s", strerror(errno));
        return NULL;
    }
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        tx_fail(err, TACTUS_ESYSTEM, "fork: %s", strerror(errno));
        close(sv[0]);
        close(sv[1]);
        return NULL;
    }
    if (pid == 0) {
        close(sv[0]);
        child_main(spec, sv[1]);
    }
    close(sv[1]);
    json_t *result = supervise_child(spec, server, pid, sv[0]);
    close(sv[0]);
    return result;
}

json_t *tx_run(const tx_run_spec *spec, tx_error *err)
{
    char run_id[160];
    if (spec->run_id != NULL) {
        if (!tx_valid_run_id(spec->run_id)) {
            tx_fail(err, TACTUS_EUSAGE, "invalid run id '%s' (use [A-Za-z0-9._-], at most 128)",
                    spec->run_id);
            return NULL;
        }
        snprintf(run_id, sizeof run_id, "%s", spec->run_id);
    } else {
        tx_new_run_id(run_id, sizeof run_id);
    }
    tx_evidence *evidence = NULL;
    if (spec->runs_dir != NULL) {
        char dir[PATH_MAX];
        if (snprintf(dir, sizeof dir, "%s/%s", spec->runs_dir, run_id) >= (int)sizeof dir) {
            tx_fail(err, TACTUS_EUSAGE, "runs directory path too long");
            return NULL;
        }
        if (tx_evidence_open(dir, &evidence, err) != 0)
            return NULL;
    }
    tx_server_opts opts = {run_id,          spec->proc_dir, spec->config,   spec->c_tools,
                           spec->n_c_tools, evidence,       spec->on_event, spec->event_ud};
    tx_server *server = tx_server_new(&opts, err);
    if (server == NULL) {
        tx_evidence_close(evidence);
        return NULL;
    }

    char started_at[40], digest_hex[crypto_hash_sha256_BYTES * 2 + 1], digest[80];
    unsigned char hash[crypto_hash_sha256_BYTES];
    tx_utc_now(started_at, sizeof started_at);
    crypto_hash_sha256(hash, (const unsigned char *)spec->source, spec->source_len);
    sodium_bin2hex(digest_hex, sizeof digest_hex, hash, sizeof hash);
    snprintf(digest, sizeof digest, "sha256:%s", digest_hex);
    static const char *const isolation_names[] = {"inprocess", "child", "sandbox"};
    const char *isolation = isolation_names[spec->isolation];
    json_t *input = spec->input ? json_incref(spec->input) : json_object();
    json_t *started =
        json_pack("{s:s, s:s, s:s, s:s, s:s, s:o, s:s}", "type", "run_started", "run_id", run_id,
                  "procedure", spec->chunkname, "source_digest", digest, "isolation", isolation,
                  "input", input, "version", TACTUS_VERSION);
    tx_error ev_err;
    tx_error_clear(&ev_err);
    if (started != NULL)
        tx_server_record(server, started, &ev_err);
    json_decref(started);

    double t0 = mono_ms();
    json_t *result = NULL;
    if (spec->isolation == TACTUS_INPROCESS) {
        tx_runner_args a;
        runner_args_from(spec, &a, tx_server_channel(server));
        result = tx_runner_execute(&a);
    } else {
        result = run_child(spec, server, err);
    }
    if (result == NULL) {
        tx_server_free(server);
        tx_evidence_close(evidence);
        if (err->status == TACTUS_OK)
            tx_fail(err, TACTUS_ESYSTEM, "out of memory");
        return NULL;
    }
    double duration = mono_ms() - t0;

    /* Enrich with what only the host knows; the runner's word does not set these. */
    json_object_set_new(result, "run_id", json_string(run_id));
    json_object_set_new(result, "procedure", json_string(spec->chunkname));
    json_object_set_new(result, "started_at", json_string(started_at));
    json_object_set_new(result, "duration_ms", json_integer((json_int_t)duration));
    json_object_set_new(result, "host_calls", json_integer(tx_server_host_calls(server)));
    json_object_set_new(result, "isolation", json_string(isolation));
    json_t *limits = json_object_get(result, "limits");
    if (!json_is_object(limits)) {
        limits = json_object();
        json_object_set_new(result, "limits", limits);
    }
    json_object_set_new(limits, "timeout",
                        json_pack("{s:I, s:I}", "used", (json_int_t)duration, "allowed",
                                  (json_int_t)spec->config->limits.allowed[TX_LIMIT_TIMEOUT]));
    if (json_object_get(result, "error") == NULL)
        json_object_set_new(result, "error", json_null());

    const char *status = json_string_value(json_object_get(result, "status"));
    json_t *finished = json_pack("{s:s, s:s, s:I}", "type", "finished", "status",
                                 status ? status : "system", "duration_ms", (json_int_t)duration);
    if (finished != NULL) {
        json_t *error = json_object_get(result, "error");
        if (json_is_object(error))
            json_object_set(finished, "error", error);
        tx_server_record(server, finished, &ev_err);
        json_decref(finished);
    }
    if (evidence != NULL) {
        if (tx_evidence_write_json(evidence, "steps.json", tx_server_steps(server), &ev_err) != 0 ||
            tx_evidence_write_json(evidence, "result.json", result, &ev_err) != 0) {
            fprintf(stderr, "tactus: %s\n", ev_err.message);
        }
    }
    tx_server_free(server);
    tx_evidence_close(evidence);
    return result;
}
