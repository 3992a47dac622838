/*
 * launch.h - starting a runner: in this thread, as a forked child, inside the sandbox, or by
 * exec of the `tactus` binary in its hidden `__runner` role.
 *
 * The fork paths are for the single-threaded CLI. A library host may be multi-threaded, where a
 * forked child may only make async-signal-safe calls until it execs, so it starts runners with
 * posix_spawn of the runner binary (spec->runner_exe); the runner reads its whole job (source,
 * input, limits, tokens) from the socket as its first frame.
 */
#ifndef TX_LAUNCH_H
#define TX_LAUNCH_H

#include <sys/types.h>

#include "run.h"
#include "runner.h"
#include "sandbox.h"
#include "tokens.h"

/* The runner's copy of the run's phase tokens (hex); the broker keeps only their hashes. */
typedef struct tx_run_tokens {
    tx_tokens *hashes;
    char hex[3][TX_TOKEN_BYTES * 2 + 1];
} tx_run_tokens;

/* How the broker side reaches its runner. */
typedef struct tx_runner_link {
    pid_t pid;      /* 0: run the VM in this thread */
    int fd;         /* the broker's end of the runner socket */
    tx_sandbox *sb; /* the sandbox the runner lives in, or NULL */
    int killed;     /* set by tx_runner_reap when it had to SIGKILL a runner still running */
} tx_runner_link;

/* Fresh tokens: hashes for the broker, text for the runner. Returns 0 or -1 with err set. */
int tx_run_tokens_make(tx_run_tokens *tok, tx_error *err);

/* Wipes the token text once the runner holds its copy; the hashes stay. */
void tx_run_tokens_forget_text(tx_run_tokens *tok);

/* Fills runner arguments from a run spec, a channel and the tokens. */
void tx_runner_args_from(const tx_run_spec *spec, tx_runner_args *a, tx_channel ch,
                         const tx_run_tokens *tok);

/*
 * Starts the runner for spec (fork, sandbox, or exec of spec->runner_exe) with one end of a new
 * socketpair; fills link. Returns 0, or -1 with err set and nothing left running.
 */
int tx_runner_start(const tx_run_spec *spec, tx_runner_link *link, const tx_run_tokens *tok,
                    tx_error *err);

/* Ends the runner (SIGKILL when kill_it) and reaps it: *status for a plain child, *outcome for
 * a sandboxed one (outcome->kind 0 otherwise). */
void tx_runner_reap(tx_runner_link *link, int kill_it, int *status, tx_sandbox_outcome *outcome);

/* After tx_runner_reap: the signal that ended the runner by itself (a crash, or a kill from
 * outside; not reap's own SIGKILL), or 0. A runner that vanished mid-conversation is reported
 * by this signal rather than by the broken connection it left behind. */
int tx_runner_own_signal(const tx_runner_link *link, int status, const tx_sandbox_outcome *outcome);

/*
 * The `tactus __runner` role: reads the job frame from fd, then runs it exactly like a forked
 * runner (inside the sandbox when the job says so). Never returns: exits with the runner's
 * status (0 ok; 125 a sandbox limit, 159 a seccomp kill, 70-73 setup failures); a sandboxed
 * runner killed by a signal ends this process by the same signal, so the host sees which.
 */
void tx_runner_role(int fd);

#endif
