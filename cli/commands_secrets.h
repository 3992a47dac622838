/* commands_secrets.h - the `tactus secrets` subcommand. */
#ifndef TX_COMMANDS_SECRETS_H
#define TX_COMMANDS_SECRETS_H

/*
 * Runs `tactus secrets ...`; argv[0] is "secrets", argv[argc] is NULL. Subcommands: `set NAME`
 * (value from stdin, or a hidden prompt when stdin is a terminal; never from argv), `list`
 * (names, one per line, on stdout), `rm NAME`; `--help`/`-h` on each. Messages go to stderr,
 * prefixed "tactus secrets: ". Returns the process exit code: 0 ok, 2 bad usage or
 * configuration (bad name, unknown subcommand, missing argument, bad TACTUS_SECRETS_KEY,
 * unknown secret), 7 system error (I/O, permissions, damaged store).
 */
int tx_cmd_secrets(int argc, char **argv);

#endif
