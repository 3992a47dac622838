/* run.c - one run from the trusted side (see run.h). */
#include "run.h"

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <linux/close_range.h>
#include <unistd.h>

#include "frame.h"
#include "hosttools.h"
#include "protocol.h"
#include "launch.h"
#include "runner.h"
#include "tactus_version.h"

/* The host kills a child runner this long after the timeout the VM enforces itself, so a VM
 * that notices its own deadline reports it first. */
#define KILL_GRACE_MS 250

/* SIGINT or SIGTERM received by the CLI's host or broker process (0: none). A signal handler
 * can reach nothing else, so this one flag is process-wide; only the split (CLI) path installs
 * the handler (install_interrupt_handler): a library's host never has its signals taken. */
static volatile sig_atomic_t interrupt_signal;

static void on_interrupt(int sig)
{
    interrupt_signal = sig;
}

/* SIGINT and SIGTERM set interrupt_signal; no SA_RESTART, so a blocking wait returns. A
 * signal this process was started with ignored (a background job's SIGINT, nohup) stays
 * ignored, as for any Unix command. */
static void install_interrupt_handler(void)
{
    static const int sigs[] = {SIGINT, SIGTERM};
    for (int i = 0; i < 2; i++) {
        struct sigaction old, sa;
        if (sigaction(sigs[i], NULL, &old) == 0 && old.sa_handler == SIG_IGN)
            continue;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = on_interrupt;
        sigemptyset(&sa.sa_mask);
        sigaction(sigs[i], &sa, NULL);
    }
}

/* How often a wait without a nearer deadline looks at interrupt_signal (ms). */
#define INTERRUPT_POLL_MS 100

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
               {"system", TACTUS_ESYSTEM},
               {"interrupted", TACTUS_ESYSTEM}};
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

static json_t *failure(const char *status, const char *type, const char *message)
{
    return json_pack("{s:s, s:n, s:{s:s, s:s}}", "status", status, "output", "error", "type", type,
                     "message", message);
}

/*
 * Sends msg to the runner like tx_msg_send (one frame: 4-byte big-endian length, compact JSON),
 * but gives up at `deadline` (CLOCK_MONOTONIC ms; 0: none): a runner that stops reading its
 * replies must not hold the broker in send past the run's end. Returns 0, -1 with err set, or
 * -2 at the deadline.
 */
static int send_until(int fd, const json_t *msg, double deadline, tx_error *err)
{
    if (deadline == 0)
        return tx_msg_send(fd, msg, err);
    size_t n = json_dumpb(msg, NULL, 0, JSON_COMPACT);
    if (n == 0 || n > TX_FRAME_MAX)
        return tx_fail(err, TACTUS_EUSAGE, "send message: %zu bytes cannot be framed", n);
    unsigned char *buf = malloc(TX_FRAME_HEADER + n);
    if (buf == NULL)
        return tx_fail(err, TACTUS_ESYSTEM, "send message: out of memory for %zu bytes", n);
    if (json_dumpb(msg, (char *)buf + TX_FRAME_HEADER, n, JSON_COMPACT) != n) {
        free(buf);
        return tx_fail(err, TACTUS_EUSAGE, "send message: the message changed while encoded");
    }
    for (int i = 0; i < TX_FRAME_HEADER; i++)
        buf[i] = (unsigned char)(n >> (8 * (TX_FRAME_HEADER - 1 - i)));
    size_t off = 0, total = TX_FRAME_HEADER + n;
    int rc = 0;
    while (rc == 0 && off < total) {
        ssize_t w = send(fd, buf + off, total - off, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (w > 0) {
            off += (size_t)w;
            continue;
        }
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
            rc = tx_fail(err, TACTUS_ESYSTEM, "send frame: %s", strerror(errno));
            break;
        }
        double left = deadline - mono_ms();
        if (left <= 0) {
            rc = -2;
            break;
        }
        struct pollfd pfd = {fd, POLLOUT, 0};
        if (poll(&pfd, 1, left > INT_MAX ? INT_MAX : (int)left + 1) < 0 && errno != EINTR)
            rc = tx_fail(err, TACTUS_ESYSTEM, "send frame: poll: %s", strerror(errno));
    }
    free(buf);
    return rc;
}

/* Serves one frame from the runner; returns 1 when run.finish arrived, 0 to go on, -1 on a
 * protocol violation (err set), 2 when the run's deadline passed while serving it (the
 * reply, if any, is dropped: the runner is about to be killed). */
static int serve_frame(tx_server *server, int fd, const char *payload, size_t len, double deadline,
                       tx_error *err)
{
    tx_request req;
    if (tx_request_parse(payload, len, &req, err) != 0) {
        json_t *resp = tx_msg_error(NULL, TX_ERR_BAD_REQUEST, err->message);
        if (resp != NULL) {
            tx_error ignored;
            send_until(fd, resp, deadline, &ignored);
            json_decref(resp);
        }
        return -1;
    }
    int finished = strcmp(req.method, TX_METHOD_RUN_FINISH) == 0;
    json_t *resp = tx_server_handle(server, &req);
    tx_request_free(&req);
    if (tx_server_deadline_hit(server) != NULL) {
        json_decref(resp);
        return 2;
    }
    if (resp != NULL) {
        int rc = send_until(fd, resp, deadline, err);
        json_decref(resp);
        if (rc == -2)
            return 2;
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

/* The result of a run stopped at its deadline while it was at `where`. */
static json_t *timeout_result(uint64_t timeout_ms, const char *where)
{
    char msg[512];
    snprintf(msg, sizeof msg, "wall-clock limit of %llu ms exceeded during %s",
             (unsigned long long)timeout_ms, where);
    json_t *result = failure("timeout", "Timeout", msg);
    json_t *e = json_object_get(result, "error");
    json_object_set_new(e, "limit", json_string("timeout"));
    json_object_set_new(e, "where", json_string(where));
    return result;
}

/* The result of a run stopped by SIGINT or SIGTERM: status "interrupted", the signal named. */
static json_t *interrupted_result(const char *run_id, int sig)
{
    char msg[300];
    const char *name = sig == SIGTERM ? "SIGTERM" : "SIGINT";
    snprintf(msg, sizeof msg, "interrupted by %s: continue it with tactus resume %s", name, run_id);
    json_t *result = failure("interrupted", "Interrupted", msg);
    json_object_set_new(json_object_get(result, "error"), "signal", json_string(name));
    return result;
}

/* Parent side of a child run: serve until run.finish, EOF or the deadline (CLOCK_MONOTONIC
 * ms; 0: none), which bounds every wait: for a request, for a reply to go out, and (through
 * the server) for the host tools and terminal answers a request waits for. */
static json_t *supervise_child(const tx_run_spec *spec, tx_server *server, tx_runner_link *link,
                               double deadline)
{
    int fd = link->fd;
    uint64_t timeout_ms = spec->config->limits.allowed[TX_LIMIT_TIMEOUT];
    tx_frame_reader reader;
    tx_error err;
    tx_error_clear(&err);
    json_t *result = NULL;
    int timed_out = 0, violation = 0, finished = 0;
    if (tx_frame_reader_init(&reader, TX_FRAME_MAX, &err) != 0)
        return failure("system", "SystemError", err.message);
    double stop_at = 0; /* a broker-side limit stopped the run: the runner gets 2 s to finish */
    int interrupted = 0;
    while (!finished) {
        if (spec->separate_broker && interrupt_signal != 0) {
            interrupted = 1; /* the runner is killed below, like at a deadline */
            break;
        }
        int wait_ms = -1; /* no deadline: one blocking recvmsg per frame */
        if (deadline != 0) {
            double left = deadline - mono_ms();
            if (left <= 0) {
                timed_out = 1;
                break;
            }
            /* The whole frame must arrive by the deadline: a runner that trickles bytes does
             * not extend it. */
            wait_ms = left > INT_MAX ? INT_MAX : (int)left + 1;
        }
        if (stop_at == 0 && tx_server_stopped(server))
            stop_at = mono_ms() + 2000;
        if (stop_at != 0 && mono_ms() >= stop_at)
            break; /* a runner that does not end when told is killed (reaped below) */
        if (stop_at != 0) {
            double left = stop_at - mono_ms();
            if (wait_ms < 0 || left < wait_ms)
                wait_ms = (int)left + 1;
        }
        const char *payload = NULL;
        size_t len = 0;
        /* The CLI's broker waits in slices, to notice an interrupt (a timeout keeps the
         * reader's partial frame). */
        int sliced = spec->separate_broker && (wait_ms < 0 || wait_ms > INTERRUPT_POLL_MS);
        if (sliced)
            wait_ms = INTERRUPT_POLL_MS;
        int rc = tx_frame_recv(fd, &reader, &payload, &len, wait_ms, &err);
        if (rc == 0)
            break; /* runner closed: it died or exited without finishing */
        if (rc < 0 && sliced && err.status == TACTUS_ETIMEOUT &&
            (deadline == 0 || mono_ms() < deadline) && (stop_at == 0 || mono_ms() < stop_at)) {
            tx_error_clear(&err);
            continue;
        }
        if (rc < 0) {
            if (stop_at != 0 && mono_ms() >= stop_at)
                break; /* as above: the limit, not the deadline, ended the run */
            if (err.status == TACTUS_ETIMEOUT || (deadline != 0 && mono_ms() >= deadline)) {
                timed_out = 1;
            } else {
                violation = 1;
            }
            break;
        }
        rc = serve_frame(server, fd, payload, len, deadline, &err);
        if (rc == 2) {
            timed_out = 1;
            break;
        }
        if (rc < 0) {
            violation = 1;
            break;
        }
        finished = rc == 1;
    }
    tx_frame_reader_free(&reader);
    int status = 0;
    tx_sandbox_outcome outcome;
    tx_runner_reap(link, !finished, &status, &outcome);
    result = tx_server_take_result(server);
    if (result != NULL)
        return result;
    if (interrupted)
        return interrupted_result(spec->run_id, (int)interrupt_signal);
    if (outcome.kind == TX_SANDBOX_LIMIT) {
        /* The kernel stopped it (cgroup memory, pids, file size): a limit, named. */
        result = failure("limit", "LimitExceeded", outcome.message);
        json_object_set_new(json_object_get(result, "error"), "limit", json_string(outcome.limit));
        return result;
    }
    if (outcome.kind == TX_SANDBOX_SECCOMP)
        return failure("system", "RunnerDied",
                       "runner was killed by the sandbox: it made a forbidden system call");
    if (timed_out) {
        /* Where the run was: what the broker was doing for it, or else the runner itself
         * (computing, in a call the VM's own clock check could not interrupt). */
        const char *where = tx_server_deadline_hit(server);
        return timeout_result(
            timeout_ms,
            where ? where
                  : "the procedure (the runner did not stop at its deadline and was killed)");
    }
    char msg[1200];
    if (violation && tx_runner_own_signal(link, status, &outcome) == 0)
        snprintf(msg, sizeof msg, "runner broke the protocol: %s", err.message);
    else if (outcome.kind == TX_SANDBOX_SIGNALED || outcome.kind == TX_SANDBOX_EXITED)
        snprintf(msg, sizeof msg, "runner ended without a result: %s", outcome.message);
    else if (WIFEXITED(status) && WEXITSTATUS(status) == 125)
        snprintf(msg, sizeof msg, "the sandbox stopped the runner at a resource limit");
    else if (WIFEXITED(status) && WEXITSTATUS(status) == 159)
        snprintf(msg, sizeof msg,
                 "runner was killed by the sandbox: it made a forbidden system call");
    else if (WIFSIGNALED(status))
        snprintf(msg, sizeof msg, "runner was killed by %s (signal %d)",
                 signal_text(WTERMSIG(status)), WTERMSIG(status));
    else
        snprintf(msg, sizeof msg, "runner exited (status %d) without a result",
                 WIFEXITED(status) ? WEXITSTATUS(status) : -1);
    return failure("system", "RunnerDied", msg);
}

/* "sha256:<hex>" of a buffer. */
static void sha256_text(const char *text, size_t len, char *out, size_t cap)
{
    unsigned char hash[crypto_hash_sha256_BYTES];
    char hex[crypto_hash_sha256_BYTES * 2 + 1];
    crypto_hash_sha256(hash, (const unsigned char *)text, len);
    sodium_bin2hex(hex, sizeof hex, hash, sizeof hash);
    snprintf(out, cap, "sha256:%s", hex);
}

/* Copies into buf the first start of a resumed run: run.json's started_at, else (a run
 * recorded before it was kept there) the started_at of its last result.json. Leaves buf alone
 * when neither says. */
static void first_start(const tx_evidence *evidence, char *buf, size_t cap)
{
    static const char *const files[] = {"run.json", "result.json"};
    for (int i = 0; i < 2; i++) {
        char path[PATH_MAX + 32];
        snprintf(path, sizeof path, "%s/%s", tx_evidence_dir(evidence), files[i]);
        json_t *v = json_load_file(path, 0, NULL);
        const char *t = json_string_value(json_object_get(v, "started_at"));
        if (t != NULL && strlen(t) < cap) {
            snprintf(buf, cap, "%s", t);
            json_decref(v);
            return;
        }
        json_decref(v);
    }
}

/*
 * A resume's answer is checked against the journal opened read-only first, so a refused answer
 * leaves journal.jsonl byte-identical (a read-write open would cut a torn tail or the zero
 * reserve a crash left). Skipped (0) when answer.json says an answer is being recorded: the
 * session's recovery must see the journal first. Returns 0, or -1 with err set.
 */
static int refuse_answer_readonly(const tx_evidence *evidence, const char *journal_path,
                                  const char *run_id, json_t *answer, tx_error *err)
{
    char path[PATH_MAX + 32];
    struct stat st;
    snprintf(path, sizeof path, "%s/answer.json", tx_evidence_dir(evidence));
    if (lstat(path, &st) == 0)
        return 0;
    tx_journal *j = NULL;
    if (tx_journal_open_readonly(journal_path, run_id, &j, NULL, err) != 0)
        return -1;
    long n = tx_journal_count(j);
    json_t *last = n > 0 ? tx_journal_read(j, n, err) : NULL;
    tx_journal_close(j);
    if (n > 0 && last == NULL)
        return -1;
    int rc = tx_answer_check(last, run_id, answer, err);
    json_decref(last);
    return rc;
}

/* True if the run directory already holds run.json. */
static int has_run_json(const tx_evidence *evidence)
{
    char path[PATH_MAX + 32];
    struct stat st;
    snprintf(path, sizeof path, "%s/run.json", tx_evidence_dir(evidence));
    return stat(path, &st) == 0;
}

/* run.json: what `tactus resume` needs to run the same procedure again. */
static int write_run_json(const tx_run_spec *spec, tx_evidence *evidence, json_t *input,
                          const tx_server *server, const char *started_at, tx_error *err)
{
    char abs[PATH_MAX];
    /* Source text (tactus_run_string, no proc_dir) has no file: none is recorded, so a resume
     * never takes a file that happens to bear the run's name for its source. */
    const char *path = NULL;
    if (spec->proc_dir != NULL)
        path = realpath(spec->chunkname, abs) ? abs : spec->chunkname;
    char policy_abs[PATH_MAX];
    const char *policy = NULL;
    if (spec->policy != NULL)
        policy = realpath(spec->policy, policy_abs) ? policy_abs : spec->policy;
    static const char *const isolation_names[] = {"inprocess", "child", "sandbox"};
    json_t *run = json_pack("{s:s, s:s, s:s?, s:O, s:O?, s:s?, s:s, s:s?}", "run_id", spec->run_id,
                            "procedure", spec->chunkname, "procedure_path", path, "input", input,
                            "params", spec->params, "policy", policy, "isolation",
                            isolation_names[spec->isolation], "rerun_of", spec->rerun_of);
    if (run != NULL)
        json_object_set_new(run, "started_at", json_string(started_at));
    if (run == NULL || tx_server_redact(server, run) != 0) {
        json_decref(run);
        return tx_fail(err, TACTUS_ESYSTEM, "out of memory");
    }
    /* Authenticated, so `tactus resume` never takes a planted or edited record for ours. */
    if (tx_run_record_seal(run, err) != 0) {
        json_decref(run);
        return -1;
    }
    int rc = tx_evidence_write_json(evidence, "run.json", run, err);
    json_decref(run);
    return rc;
}

/* Stops a session that ends before the run starts (nothing ran): reaps a runner already
 * started and closes what was opened, leaving the run's evidence as it was. */
static void abandon_session(tx_runner_link *link, tx_server *server, tx_journal *journal,
                            tx_evidence *evidence)
{
    if (link->pid > 0) {
        int status;
        tx_sandbox_outcome outcome;
        tx_runner_reap(link, 1, &status, &outcome);
    }
    tx_server_free(server);
    tx_journal_close(journal);
    tx_evidence_close(evidence);
}
/*
 * The broker's whole job for one run: evidence, secrets, serving the runner, the final
 * result.json. Runs in the broker process (CLI), or in the host itself (library).
 */
static json_t *broker_session(const tx_run_spec *spec, const char *run_id, tx_runner_link link,
                              tx_run_tokens *tok, tactus_event_fn on_event, void *event_ud,
                              int adopt_orphans, tx_error *err)
{
    tx_evidence *evidence = NULL;
    if (spec->runs_dir != NULL) {
        char dir[PATH_MAX];
        if (snprintf(dir, sizeof dir, "%s/%s", spec->runs_dir, run_id) >= (int)sizeof dir) {
            tx_fail(err, TACTUS_EUSAGE, "runs directory path too long");
            return NULL;
        }
        if (tx_evidence_open(dir, spec->resume, &evidence, err) != 0)
            return NULL;
    }
    /* started_at: the run's first start, kept by every resume; resumed_at: this session's. */
    char started_at[40], resumed_at[40], digest[80], input_digest[80];
    tx_utc_now(started_at, sizeof started_at);
    snprintf(resumed_at, sizeof resumed_at, "%s", started_at);
    if (spec->resume && evidence != NULL)
        first_start(evidence, started_at, sizeof started_at);
    sha256_text(spec->source, spec->source_len, digest, sizeof digest);
    json_t *input = spec->input ? json_incref(spec->input) : json_object();
    char *input_text = json_dumps(input, JSON_COMPACT | JSON_SORT_KEYS);
    sha256_text(input_text ? input_text : "", input_text ? strlen(input_text) : 0, input_digest,
                sizeof input_digest);
    free(input_text);

    tx_journal *journal = NULL;
    tx_journal_report report;
    memset(&report, 0, sizeof report);
    if (spec->check_dir != NULL) {
        /* replay --check: the run's own journal, read under its lock; nothing is written. */
        char path[PATH_MAX + 32];
        snprintf(path, sizeof path, "%s/journal.jsonl", spec->check_dir);
        struct stat st;
        if (stat(path, &st) != 0) {
            json_decref(input);
            tx_fail(err, TACTUS_EUSAGE, "%s: no journal to check against", path);
            return NULL;
        }
        if (tx_journal_open_readonly(path, run_id, &journal, &report, err) != 0) {
            json_decref(input);
            return NULL;
        }
    }
    char journal_path[PATH_MAX + 32] = "";
    tx_journal_meta journal_meta = {run_id, digest, input_digest, TACTUS_VERSION};
    struct stat jst;
    if (spec->check_dir == NULL && evidence != NULL) {
        snprintf(journal_path, sizeof journal_path, "%s/journal.jsonl", tx_evidence_dir(evidence));
        /* An existing journal (a resume) is opened now: replay reads it and its lock keeps
         * other sessions out. A new run's journal is created with its first record. */
        if (spec->resume && spec->answer != NULL && stat(journal_path, &jst) == 0 &&
            refuse_answer_readonly(evidence, journal_path, run_id, spec->answer, err) != 0) {
            json_decref(input);
            tx_evidence_close(evidence);
            return NULL;
        }
        if (stat(journal_path, &jst) == 0 &&
            tx_journal_open(journal_path, &journal_meta, spec->config->durability, &journal,
                            &report, err) != 0) {
            json_decref(input);
            tx_evidence_close(evidence);
            return NULL;
        }
    }
    tx_server_opts opts = {
        run_id,           spec->proc_dir,
        spec->config,     spec->c_tools,
        spec->n_c_tools,  evidence,
        on_event,         event_ud,
        journal,          spec->interactive,
        tok->hashes,      spec->check_dir != NULL,
        spec->runner_exe, journal == NULL && journal_path[0] ? journal_path : NULL,
        journal_meta};
    tx_server *server = tx_server_new(&opts, err);
    if (server == NULL) {
        json_decref(input);
        tx_journal_close(journal);
        tx_evidence_close(evidence);
        return NULL;
    }
    /* An answer a crash interrupted is finished (or known lost) before anything reads the
     * journal's last record. */
    char answer_note[200] = "";
    if (spec->resume &&
        tx_server_recover_answer(server, answer_note, sizeof answer_note, err) != 0) {
        json_decref(input);
        abandon_session(&link, server, journal, evidence);
        return NULL;
    }
    static const char *const isolation_names[] = {"inprocess", "child", "sandbox"};
    const char *isolation = isolation_names[spec->isolation];
    json_t *started =
        json_pack("{s:s, s:s, s:s, s:s, s:s, s:o, s:s, s:b, s:I}", "type",
                  spec->resume ? "run_resumed" : "run_started", "run_id", run_id, "procedure",
                  spec->chunkname, "source_digest", digest, "isolation", isolation, "input", input,
                  "version", TACTUS_VERSION, "resume", spec->resume, "journal_records",
                  (json_int_t)tx_server_journal_count(server));
    if (started != NULL && answer_note[0] != '\0')
        json_object_set_new(started, "answer_recovery", json_string(answer_note));
    if (started != NULL && spec->rerun_of != NULL)
        json_object_set_new(started, "rerun_of", json_string(spec->rerun_of));
    if (started != NULL && report.dropped_bytes > 0)
        json_object_set_new(started, "journal_repair", json_string(report.note));
    tx_error ev_err;
    tx_error_clear(&ev_err);
    double t0 = mono_ms();
    json_t *result = NULL;
    if (spec->resume && spec->answer != NULL && tx_server_answer(server, spec->answer, err) != 0) {
        /* Nothing ran: leave the run's evidence exactly as it was. */
        json_decref(started);
        abandon_session(&link, server, journal, evidence);
        return NULL;
    }
    /* Secrets are decrypted only now: the runner (if a child) already exists without them. */
    if (result == NULL && !spec->validate_only && tx_server_load_secrets(server, &ev_err) != 0) {
        result = failure(ev_err.status == TACTUS_EUSAGE ? "usage" : "system", "SecretsError",
                         ev_err.message);
    }
    /* run.json is written once secrets are known, so an input equal to one is masked. */
    if (result == NULL && evidence != NULL && (!spec->resume || !has_run_json(evidence)) &&
        write_run_json(spec, evidence, input, server, started_at, &ev_err) != 0) {
        result = failure("system", "EvidenceError", ev_err.message);
    }
    if (result != NULL && link.pid > 0) {
        int status;
        tx_sandbox_outcome outcome;
        tx_runner_reap(&link, 1, &status, &outcome);
    }
    if (started != NULL)
        tx_server_record(server, started, &ev_err);
    json_decref(started);

    /* One deadline for everything the broker waits for on this run's behalf; a VM in another
     * process gets KILL_GRACE_MS to report its own timeout first. */
    uint64_t timeout_ms = spec->config->limits.allowed[TX_LIMIT_TIMEOUT];
    double deadline = timeout_ms ? mono_ms() + (double)timeout_ms + KILL_GRACE_MS : 0;
    tx_server_set_deadline(server, deadline, adopt_orphans);
    if (result != NULL) {
        /* secrets failed: already classified */
    } else if (link.pid == 0) {
        tx_runner_args a;
        tx_runner_args_from(spec, &a, tx_server_channel(server), tok);
        result = tx_runner_execute(&a);
        /* A request the deadline cut failed with an error the procedure could catch; the run
         * is over all the same, whatever the VM went on to report. */
        const char *where = tx_server_deadline_hit(server);
        const char *st = json_string_value(json_object_get(result, "status"));
        if (result != NULL && where != NULL && (st == NULL || strcmp(st, "timeout") != 0)) {
            json_decref(result);
            result = timeout_result(timeout_ms, where);
        }
    } else {
        result = supervise_child(spec, server, &link, deadline);
    }
    if (result == NULL) {
        tx_server_free(server);
        tx_journal_close(journal);
        tx_evidence_close(evidence);
        tx_fail(err, TACTUS_ESYSTEM, "out of memory");
        return NULL;
    }
    double duration = mono_ms() - t0;
    /* A broker-side limit (journal, disk) decides the status, whatever the runner reported. */
    tx_server_apply_limit(server, result);

    /* Enrich with what only the trusted side knows; the runner's word does not set these. */
    json_object_set_new(result, "run_id", json_string(run_id));
    json_object_set_new(result, "procedure", json_string(spec->chunkname));
    json_object_set_new(result, "started_at", json_string(started_at));
    if (spec->resume)
        json_object_set_new(result, "resumed_at", json_string(resumed_at));
    json_object_set_new(result, "duration_ms", json_integer((json_int_t)duration));
    json_object_set_new(result, "host_calls", json_integer(tx_server_host_calls(server)));
    json_object_set_new(result, "journal_records",
                        json_integer((json_int_t)tx_server_journal_count(server)));
    json_object_set_new(result, "isolation", json_string(isolation));
    if (spec->rerun_of != NULL)
        json_object_set_new(result, "rerun_of", json_string(spec->rerun_of));
    json_t *limits = json_object_get(result, "limits");
    if (!json_is_object(limits)) {
        limits = json_object();
        json_object_set_new(result, "limits", limits);
    }
    json_object_set_new(limits, "timeout",
                        json_pack("{s:I, s:I}", "used", (json_int_t)duration, "allowed",
                                  (json_int_t)spec->config->limits.allowed[TX_LIMIT_TIMEOUT]));
    tx_server_limits(server, limits);
    if (json_object_get(result, "error") == NULL)
        json_object_set_new(result, "error", json_null());
    if (tx_server_redact(server, result) != 0) {
        json_decref(result);
        result = failure("system", "SystemError", "out of memory redacting the result");
    }

    const char *status = json_string_value(json_object_get(result, "status"));
    json_t *error = json_object_get(result, "error");
    if (status != NULL && (strcmp(status, "limit") == 0 || strcmp(status, "timeout") == 0)) {
        json_t *limit_ev = json_pack("{s:s, s:O}", "type", "limit", "error", error);
        if (limit_ev != NULL)
            tx_server_record(server, limit_ev, &ev_err);
        json_decref(limit_ev);
    }
    json_t *finished = json_pack("{s:s, s:s, s:I}", "type", "finished", "status",
                                 status ? status : "system", "duration_ms", (json_int_t)duration);
    if (finished != NULL) {
        if (json_is_object(error))
            json_object_set(finished, "error", error);
        tx_server_record(server, finished, &ev_err);
        json_decref(finished);
    }
    if (evidence != NULL) {
        tx_error sync_err;
        tx_error_clear(&sync_err);
        /* A failed journal write already ended the run (status system); the evidence of that
         * run is written all the same. */
        tx_journal *in_use = tx_server_journal(server);
        if (in_use != NULL && tx_journal_sync(in_use, &sync_err) != 0) {
            fprintf(stderr, "tactus: %s\n", sync_err.message);
            const char *st = json_string_value(json_object_get(result, "status"));
            if (st == NULL || strcmp(st, "system") != 0) /* else: the journal broke mid-run */
                tx_evidence_failed(result, &sync_err);
        }
        /* Evidence that cannot be written fails the run (exit 7), and whatever can still be
         * written is: a failed steps.json still leaves a result.json saying so. */
        tx_error steps_err;
        tx_error_clear(&steps_err);
        if (tx_evidence_stream_failure(evidence) != NULL) {
            tx_fail(&steps_err, TACTUS_ESYSTEM, "%s", tx_evidence_stream_failure(evidence));
            fprintf(stderr, "tactus: %s\n", steps_err.message);
            tx_evidence_failed(result, &steps_err);
            tx_error_clear(&steps_err);
        }
        if (tx_server_write_steps(server, evidence, &steps_err) != 0) {
            fprintf(stderr, "tactus: %s\n", steps_err.message);
            tx_evidence_failed(result, &steps_err);
        }
        tx_error_clear(&ev_err);
        if (tx_evidence_write_json(evidence, "result.json", result, &ev_err) != 0) {
            fprintf(stderr, "tactus: %s\n", ev_err.message);
            tx_evidence_failed(result, &ev_err);
        }
    }
    tx_server_free(server);
    tx_journal_close(journal);
    tx_evidence_close(evidence);
    return result;
}

/* ---- the separate broker process (CLI) ----------------------------------------------------- */

/* In the broker process, events go to the host over the control socket. */
static void forward_event(void *ud, const char *event_json)
{
    int fd = *(int *)ud;
    json_error_t jerr;
    json_t *event = json_loads(event_json, JSON_ALLOW_NUL, &jerr);
    if (event == NULL)
        return;
    json_t *msg = tx_msg_request(NULL, TX_METHOD_EVENTS_EMIT, json_pack("{s:o}", "event", event));
    tx_error err;
    if (msg != NULL)
        tx_msg_send(fd, msg, &err);
    json_decref(msg);
}

static void broker_main(const tx_run_spec *spec, const char *run_id, int control_fd)
{
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    /* Orphans of the host tools' (a daemon that double-forked, setsid or not) are reparented
     * here, where the tool's call kills them; this process starts no other children during a
     * call. Without it they would go to init and outlive the run. */
    int adopt = prctl(PR_SET_CHILD_SUBREAPER, 1) == 0;
    prctl(PR_SET_DUMPABLE, 0); /* will hold decrypted secrets: no core dumps, no ptrace */
    /* A file-size limit must surface as a failed write (EFBIG) the journal reports, not as a
     * signal that kills the broker without a word. */
    signal(SIGXFSZ, SIG_IGN);
    /* A Ctrl-C reaches the whole foreground group: the runner (which inherits this) ignores it
     * and is killed by this process, which records the run as interrupted. */
    struct sigaction host_sigint;
    sigaction(SIGINT, NULL, &host_sigint); /* the host's: on_interrupt, or ignored */
    signal(SIGINT, SIG_IGN);
    tx_error err;
    tx_error_clear(&err);
    /* The runner is started first, while this process has never held a secret. */
    tx_runner_link link;
    tx_run_tokens tok;
    json_t *result = NULL;
    if (tx_run_tokens_make(&tok, &err) == 0 && tx_runner_start(spec, &link, &tok, &err) == 0) {
        sigaction(SIGINT, &host_sigint, NULL); /* SIGTERM kept the host's all along */
        tx_run_tokens_forget_text(&tok);
        /* Events cross to the host only when someone there listens (not with --quiet). */
        result = broker_session(spec, run_id, link, &tok, spec->on_event ? forward_event : NULL,
                                &control_fd, adopt, &err);
        close(link.fd);
    }
    if (result == NULL)
        result =
            failure(err.status == TACTUS_EUSAGE ? "usage" : "system", "BrokerError", err.message);
    json_t *msg =
        result ? tx_msg_request(NULL, TX_METHOD_RUN_FINISH, json_pack("{s:o}", "result", result))
               : NULL;
    int rc = msg ? tx_msg_send(control_fd, msg, &err) : -1;
    json_decref(msg);
    _exit(rc == 0 ? 0 : 73);
}

/* Host side of a split run: relay the broker's events, collect its result, reap it. */
static json_t *host_supervise(const tx_run_spec *spec, pid_t broker, int control_fd)
{
    uint64_t timeout_ms = spec->config->limits.allowed[TX_LIMIT_TIMEOUT];
    /* The broker enforces the timeout; this backstop only catches a wedged broker. */
    double deadline = timeout_ms ? mono_ms() + (double)timeout_ms + 5000 : 0;
    tx_frame_reader reader;
    tx_error err;
    tx_error_clear(&err);
    json_t *result = NULL;
    if (tx_frame_reader_init(&reader, TX_FRAME_MAX, &err) != 0)
        return failure("system", "SystemError", err.message);
    int forwarded = 0;
    double give_up = 0; /* after an interrupt: the broker gets 10 s to record it */
    for (;;) {
        if (interrupt_signal != 0 && !forwarded) {
            /* A kill of this process alone (SIGTERM from a CI runner) must reach the broker. */
            kill(broker, (int)interrupt_signal);
            forwarded = 1;
            give_up = mono_ms() + 10000;
        }
        if (give_up != 0 && mono_ms() >= give_up)
            break;
        int wait_ms = INTERRUPT_POLL_MS;
        if (deadline != 0) {
            double left = deadline - mono_ms();
            if (left <= 0)
                break;
            if (left < wait_ms)
                wait_ms = (int)left + 1;
        }
        const char *payload = NULL;
        size_t len = 0;
        int got = tx_frame_recv(control_fd, &reader, &payload, &len, wait_ms, &err);
        if (got < 0 && err.status == TACTUS_ETIMEOUT) {
            tx_error_clear(&err);
            continue;
        }
        if (got <= 0)
            break;
        tx_request req;
        if (tx_request_parse(payload, len, &req, &err) != 0)
            break;
        json_t *params = req.params;
        if (strcmp(req.method, TX_METHOD_EVENTS_EMIT) == 0 && spec->on_event != NULL) {
            char *text = json_dumps(json_object_get(params, "event"), JSON_COMPACT);
            if (text != NULL)
                spec->on_event(spec->event_ud, text);
            free(text);
        } else if (strcmp(req.method, TX_METHOD_RUN_FINISH) == 0 && result == NULL) {
            result = json_incref(json_object_get(params, "result"));
        }
        tx_request_free(&req);
        if (result != NULL)
            break;
    }
    tx_frame_reader_free(&reader);
    if (result == NULL)
        kill(broker, SIGKILL); /* its runner dies with it (parent-death signal) */
    int status = 0;
    while (waitpid(broker, &status, 0) < 0 && errno == EINTR) {
    }
    /* Whatever the broker left behind (all of it, if it was killed: its runner, a tool and
     * the tool's processes) was reparented to this subreaper: end it now. */
    tx_hosttool_reap_children();
    if (result == NULL) {
        char msg[200];
        snprintf(msg, sizeof msg, "the broker process %s without a result",
                 WIFSIGNALED(status) ? "was killed" : "exited");
        result = failure("system", "BrokerDied", msg);
    }
    return result;
}

static json_t *run_split(const tx_run_spec *spec, const char *run_id, tx_error *err)
{
    int control[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, control) != 0) {
        tx_fail(err, TACTUS_ESYSTEM, "socketpair: %s", strerror(errno));
        return NULL;
    }
    /* This process (the CLI) starts no other children: every process the run leaves behind is
     * reparented here if the broker dies, and killed by host_supervise. */
    prctl(PR_SET_CHILD_SUBREAPER, 1);
    install_interrupt_handler(); /* before the fork: a signal in between is not lost */
    fflush(NULL);
    pid_t broker = fork();
    if (broker < 0) {
        tx_fail(err, TACTUS_ESYSTEM, "fork: %s", strerror(errno));
        close(control[0]);
        close(control[1]);
        return NULL;
    }
    if (broker == 0) {
        close(control[0]);
        broker_main(spec, run_id, control[1]);
    }
    close(control[1]);
    json_t *result = host_supervise(spec, broker, control[0]);
    close(control[0]);
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
    tx_run_spec resolved = *spec; /* from here on, run_id is the one in use */
    resolved.run_id = run_id;
    spec = &resolved;
    if (spec->separate_broker && spec->isolation != TACTUS_INPROCESS)
        return run_split(spec, run_id, err);
    tx_run_tokens tok;
    if (tx_run_tokens_make(&tok, err) != 0)
        return NULL;
    json_t *result = NULL;
    if (spec->isolation == TACTUS_INPROCESS) {
        /* Same thread: the runner reads the token text from `tok` as it starts. */
        tx_runner_link link = {0, -1, NULL, 0};
        result = broker_session(spec, run_id, link, &tok, spec->on_event, spec->event_ud, 0, err);
    } else {
        /* Forked runners (no runner_exe) mean the single-threaded CLI (`tactus test`,
         * `validate`), which starts no other children: it can be the host tools' subreaper. A
         * library always execs its runners and is never made one. */
        int adopt = spec->runner_exe == NULL && prctl(PR_SET_CHILD_SUBREAPER, 1) == 0;
        tx_runner_link link;
        if (tx_runner_start(spec, &link, &tok, err) == 0) {
            tx_run_tokens_forget_text(&tok);
            result = broker_session(spec, run_id, link, &tok, spec->on_event, spec->event_ud, adopt,
                                    err);
            close(link.fd);
        }
    }
    tx_tokens_free(tok.hashes);
    return result;
}
