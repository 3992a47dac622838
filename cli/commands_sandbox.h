/* commands_sandbox.h - the `tactus sandbox` command. */
#ifndef TX_COMMANDS_SANDBOX_H
#define TX_COMMANDS_SANDBOX_H

/*
 * Runs `tactus sandbox [--policy FILE.yml] [--workspace DIR] [--timeout SECS] -- PROGRAM
 * [ARGS...]`; argv[0] is "sandbox", argv[argc] is NULL. Runs PROGRAM inside the sandbox
 * (system directories bound read-only, workspace at /workspace, limits from the policy) and
 * returns the process exit code (docs/security.md "tactus sandbox exit codes"): the program's
 * own status; 124 timeout; 125 a resource limit; 128+N killed by signal N (159: SIGSYS, blocked
 * by seccomp); 126 tactus sandbox could not run the program (bad usage, bad policy, the
 * kernel refused a sandbox layer); 127 program not found. Every non-program status comes
 * with one line on stderr starting "tactus sandbox: ".
 */
int tx_cmd_sandbox(int argc, char **argv);

#endif
