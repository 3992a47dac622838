/* cmd_secrets.c - `tactus secrets set|list|rm`: manage the encrypted secrets store. */
#include "commands_secrets.h"

#include <errno.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "home.h"
#include "redact.h"
#include "secrets.h"

#define EXIT_OK 0
#define EXIT_USAGE 2
#define EXIT_SYSTEM 7
#define PREFIX "tactus secrets: "
#define HOME_MAX 4096

static const char usage_secrets[] =
    "Usage: tactus secrets COMMAND [NAME]\n"
    "\n"
    "Manage the encrypted secrets store in TACTUS_HOME (default ~/.tactus).\n"
    "\n"
    "Commands:\n"
    "  set NAME   store a secret; the value is read from stdin, or typed at a hidden\n"
    "             prompt when stdin is a terminal (never from the command line)\n"
    "  list       print the stored names, one per line (never the values)\n"
    "  rm NAME    delete a secret\n"
    "\n"
    "Names match [A-Z_][A-Z0-9_]* (at most 128 characters); values are 1 byte to 64 KiB.\n"
    "Environment: TACTUS_HOME, TACTUS_SECRETS_KEY (64 hex chars; replaces the key file).\n"
    "Exit codes: 0 ok, 2 bad usage or configuration, 7 system error. See docs/secrets.md.\n";

static const char usage_set[] =
    "Usage: tactus secrets set NAME\n"
    "\n"
    "Stores the secret NAME, replacing any earlier value. When stdin is a terminal the value\n"
    "is typed at a prompt with echo off (one line); otherwise all of stdin is the value (at\n"
    "most 64 KiB) with one trailing newline removed. For example:\n"
    "  printf '%s' \"$TOKEN\" | tactus secrets set GITHUB_TOKEN\n"
    "  tactus secrets set GITHUB_TOKEN < token.txt\n"
    "The value is never taken from the command line, where other users can read it (ps)\n"
    "and where it lands in shell history.\n"
    "A value shorter than 8 bytes is stored with a warning: it can be guessed, and no\n"
    "redaction hides it from a procedure that tries values (see docs/secrets.md).\n";

static const char usage_list[] = "Usage: tactus secrets list\n"
                                 "\n"
                                 "Prints the names of the stored secrets, sorted, one per line.\n"
                                 "Values are never printed.\n";

static const char usage_rm[] = "Usage: tactus secrets rm NAME\n"
                               "\n"
                               "Deletes the secret NAME from the store.\n";

/* Maps a tx_error status to this command's exit code. */
static int exit_code(const tx_error *e)
{
    return e->status == TACTUS_EUSAGE ? EXIT_USAGE : EXIT_SYSTEM;
}

/* Prints err to stderr and returns its exit code. */
static int report(const tx_error *e)
{
    fprintf(stderr, PREFIX "%s\n", e->message);
    return exit_code(e);
}

static int is_help(const char *arg)
{
    return strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0;
}

/*
 * Splits a subcommand's arguments (argv[1..argc)) into positionals. Returns -1 if --help was
 * given (the caller prints help), -2 after printing an error for an unknown option, else the
 * number of positionals stored in pos (at most cap; extra ones are counted, not stored).
 * The unknown option itself is not echoed for `set`: it might be a secret value typed by
 * mistake, and stderr often ends up in CI logs.
 */
static int parse_args(int argc, char **argv, const char *cmd, const char **pos, int cap)
{
    int echo = strcmp(cmd, "set") != 0;

    int n = 0;

    for (int i = 1; i < argc; i++) {
        if (is_help(argv[i]))
            return -1;
        if (argv[i][0] == '-' && argv[i][1] != '\0') {
            fprintf(stderr, PREFIX "%s: unknown option %s (see tactus secrets %s --help)\n", cmd,
                    echo ? argv[i] : "(not shown)", cmd);
            return -2;
        }
        if (n < cap)
            pos[n] = argv[i];
        n++;
    }
    return n;
}

/* Opens the store in TACTUS_HOME. Returns 0 or an exit code after printing the error. */
static int open_store(tx_secrets **s)
{
    char home[HOME_MAX];
    tx_error err;

    tx_error_clear(&err);
    if (tx_home_dir(home, sizeof home, &err) != 0 || tx_secrets_open(home, s, &err) != 0)
        return report(&err);
    return 0;
}

/* Signal handler for the prompt: does nothing, so that read() returns EINTR. */
static void interrupt_read(int sig)
{
    (void)sig;
}

/*
 * Prompts on stderr and reads one line from the terminal on stdin with echo off into buf (cap
 * bytes). The terminal settings and signal handlers are restored before returning, also when
 * the user presses Ctrl-C (which cancels). Returns 0 with *len set, or -1 with err filled.
 */
static int read_from_tty(const char *name, unsigned char *buf, size_t cap, size_t *len,
                         tx_error *err)
{
    static const int sigs[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGTSTP};
    struct sigaction sa, old[sizeof sigs / sizeof sigs[0]];
    struct termios saved, quiet;
    size_t got = 0;
    int rc = 0, nl = 0;

    if (tcgetattr(STDIN_FILENO, &saved) != 0)
        return tx_fail(err, TACTUS_ESYSTEM, "cannot read terminal settings: %s", strerror(errno));
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = interrupt_read; /* no SA_RESTART: we want read() to stop */
    sigemptyset(&sa.sa_mask);
    for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
        sigaction(sigs[i], &sa, &old[i]);
    quiet = saved;
    quiet.c_lflag &= (tcflag_t) ~(ECHO | ECHOE | ECHOK);
    quiet.c_lflag |= ECHONL; /* still echo the final newline so the shell prompt starts clean */
    fprintf(stderr, "Value for %s (input hidden): ", name);
    fflush(stderr);
    if (tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet) != 0) {
        rc = tx_fail(err, TACTUS_ESYSTEM, "cannot turn off terminal echo: %s", strerror(errno));
        goto restore;
    }
    while (!nl) {
        ssize_t n = read(STDIN_FILENO, buf + got, cap - got);
        if (n < 0) {
            rc = errno == EINTR ? tx_fail(err, TACTUS_EUSAGE, "cancelled; nothing stored")
                                : tx_fail(err, TACTUS_ESYSTEM, "cannot read the terminal: %s",
                                          strerror(errno));
            break;
        }
        if (n == 0)
            break; /* Ctrl-D */
        got += (size_t)n;
        if (buf[got - 1] == '\n') {
            got--;
            nl = 1;
        } else if (got == cap) {
            rc = tx_fail(err, TACTUS_EUSAGE, "the value is longer than %d bytes",
                         TX_SECRET_VALUE_MAX);
            break;
        }
    }
    if (tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved) != 0 && rc == 0)
        rc = tx_fail(err, TACTUS_ESYSTEM, "cannot restore terminal settings: %s", strerror(errno));
restore:
    for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
        sigaction(sigs[i], &old[i], NULL);
    if (!nl)
        fputc('\n', stderr);
    *len = got;
    return rc;
}

/*
 * Reads all of stdin into buf (cap bytes, cap > TX_SECRET_VALUE_MAX + 1) and strips one
 * trailing newline. Returns 0 with *len set, or -1 with err filled (too long, read error).
 */
static int read_from_pipe(unsigned char *buf, size_t cap, size_t *len, tx_error *err)
{
    size_t got = 0;

    for (;;) {
        ssize_t n = read(STDIN_FILENO, buf + got, cap - got);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return tx_fail(err, TACTUS_ESYSTEM, "cannot read stdin: %s", strerror(errno));
        }
        if (n == 0)
            break;
        got += (size_t)n;
        if (got == cap)
            return tx_fail(err, TACTUS_EUSAGE, "the value on stdin is longer than %d bytes",
                           TX_SECRET_VALUE_MAX);
    }
    if (got > 0 && buf[got - 1] == '\n')
        got--;
    if (got > TX_SECRET_VALUE_MAX)
        return tx_fail(err, TACTUS_EUSAGE, "the value on stdin is longer than %d bytes",
                       TX_SECRET_VALUE_MAX);
    *len = got;
    return 0;
}

static int cmd_set(int argc, char **argv)
{
    const char *pos[1];
    int n = parse_args(argc, argv, "set", pos, 1), code;
    tx_secrets *s = NULL;
    tx_error err;
    unsigned char *buf;
    size_t len = 0, cap = TX_SECRET_VALUE_MAX + 2;

    if (n == -1)
        return fputs(usage_set, stdout) < 0 ? EXIT_SYSTEM : EXIT_OK;
    if (n == -2)
        return EXIT_USAGE;
    if (n == 0) {
        fprintf(stderr, PREFIX "set: missing NAME (usage: tactus secrets set NAME)\n");
        return EXIT_USAGE;
    }
    if (n > 1) {
        fprintf(stderr,
                PREFIX "set: takes only NAME; refusing a value on the command line, where other "
                       "users can see it (ps, /proc) and your shell history keeps it.\n"
                       "Pipe it on stdin instead (printf '%%s' \"$VALUE\" | tactus secrets set "
                       "%s), or run without input to be prompted.\n",
                tx_secrets_name_valid(pos[0], NULL) == 0 ? pos[0] : "NAME");
        return EXIT_USAGE;
    }
    tx_error_clear(&err);
    if (tx_secrets_name_valid(pos[0], &err) != 0)
        return report(&err);
    /* Open first: a permission problem should show before anyone types a secret. */
    if ((code = open_store(&s)) != 0)
        return code;
    buf = sodium_malloc(cap);
    if (buf == NULL) {
        tx_secrets_close(s);
        fprintf(stderr, PREFIX "out of memory\n");
        return EXIT_SYSTEM;
    }
    if (isatty(STDIN_FILENO))
        code = read_from_tty(pos[0], buf, cap, &len, &err);
    else
        code = read_from_pipe(buf, cap, &len, &err);
    if (code == 0 && len == 0)
        code = tx_fail(&err, TACTUS_EUSAGE, "set: the value is empty; nothing stored");
    if (code == 0)
        code = tx_secrets_set(s, pos[0], buf, len, &err);
    if (code == 0 && len < TX_SECRET_WEAK_LEN)
        fprintf(stderr,
                PREFIX "warning: %s is only %zu bytes long. A value this short can be guessed: "
                       "a procedure that can try values against a tool, or compare its own "
                       "output with the evidence, finds it whatever the redactor does%s. Use a "
                       "value of at least %d random bytes (see docs/secrets.md).\n",
                pos[0], len,
                len < TX_REDACT_MIN_LEN ? ", and values under 4 bytes are not redacted at all" : "",
                TX_SECRET_WEAK_LEN);
    sodium_memzero(buf, cap);
    sodium_free(buf);
    tx_secrets_close(s);
    return code == 0 ? EXIT_OK : report(&err);
}

static int cmd_list(int argc, char **argv)
{
    const char *pos[1];
    int n = parse_args(argc, argv, "list", pos, 1), code;
    tx_secrets *s = NULL;
    tx_error err;
    char **names = NULL;
    size_t count = 0;

    if (n == -1)
        return fputs(usage_list, stdout) < 0 ? EXIT_SYSTEM : EXIT_OK;
    if (n == -2)
        return EXIT_USAGE;
    if (n > 0) {
        fprintf(stderr, PREFIX "list: takes no arguments (got %s)\n", pos[0]);
        return EXIT_USAGE;
    }
    if ((code = open_store(&s)) != 0)
        return code;
    tx_error_clear(&err);
    code = tx_secrets_list(s, &names, &count, &err);
    tx_secrets_close(s);
    if (code != 0)
        return report(&err);
    for (size_t i = 0; i < count; i++)
        printf("%s\n", names[i]);
    tx_secrets_list_free(names, count);
    if (fflush(stdout) != 0 || ferror(stdout)) {
        fprintf(stderr, PREFIX "cannot write to stdout: %s\n", strerror(errno));
        return EXIT_SYSTEM;
    }
    return EXIT_OK;
}

static int cmd_rm(int argc, char **argv)
{
    const char *pos[1];
    int n = parse_args(argc, argv, "rm", pos, 1), code;
    tx_secrets *s = NULL;
    tx_error err;

    if (n == -1)
        return fputs(usage_rm, stdout) < 0 ? EXIT_SYSTEM : EXIT_OK;
    if (n == -2)
        return EXIT_USAGE;
    if (n != 1) {
        fprintf(stderr, PREFIX "rm: %s (usage: tactus secrets rm NAME)\n",
                n == 0 ? "missing NAME" : "takes exactly one NAME");
        return EXIT_USAGE;
    }
    tx_error_clear(&err);
    if (tx_secrets_name_valid(pos[0], &err) != 0)
        return report(&err);
    if ((code = open_store(&s)) != 0)
        return code;
    code = tx_secrets_remove(s, pos[0], &err);
    tx_secrets_close(s);
    return code == 0 ? EXIT_OK : report(&err);
}

int tx_cmd_secrets(int argc, char **argv)
{
    const char *sub;

    if (argc < 2 || argv[1] == NULL) {
        fprintf(stderr, PREFIX "missing command\n\n%s", usage_secrets);
        return EXIT_USAGE;
    }
    sub = argv[1];
    if (is_help(sub))
        return fputs(usage_secrets, stdout) < 0 ? EXIT_SYSTEM : EXIT_OK;
    if (strcmp(sub, "set") == 0)
        return cmd_set(argc - 1, argv + 1);
    if (strcmp(sub, "list") == 0)
        return cmd_list(argc - 1, argv + 1);
    if (strcmp(sub, "rm") == 0)
        return cmd_rm(argc - 1, argv + 1);
    fprintf(stderr,
            PREFIX "unknown command \"%s\" (expected set, list or rm; see tactus secrets --help)\n",
            sub);
    return EXIT_USAGE;
}
