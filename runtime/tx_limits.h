/*
 * limits.h - the named resource limits of a run.
 *
 * Every limit has one name used everywhere: in the sidecar (`sandbox.limits.<name>`, except
 * `timeout`, which is `sandbox.timeout`), on the C API (tactus_set_limit), in result.json
 * (`limits.<name>.used/allowed`) and in the message of a tripped limit. A value of 0 means
 * "unlimited". Sizes are bytes, `timeout` is milliseconds, the rest are counts.
 */
#ifndef TX_LIMITS_H
#define TX_LIMITS_H

#include <stdint.h>

typedef enum tx_limit_id {
    TX_LIMIT_INSTRUCTIONS, /* Lua VM instructions, one budget across all coroutines */
    TX_LIMIT_MEMORY,       /* bytes held by the Lua allocator (and the sandbox's memory cap) */
    TX_LIMIT_STRING,       /* largest single string a library call may build */
    TX_LIMIT_OUTPUT,       /* bytes of Log/print output */
    TX_LIMIT_DEPTH,        /* Lua call depth */
    TX_LIMIT_HOST_CALLS,   /* Host.call invocations per run */
    TX_LIMIT_TIMEOUT,      /* wall clock, milliseconds */
    TX_LIMIT_CPUS,         /* sandbox: CPUs (count) */
    TX_LIMIT_PIDS,         /* sandbox: processes */
    TX_LIMIT_FILES,        /* sandbox: open file descriptors */
    TX_LIMIT_FILE_SIZE,    /* sandbox: largest file the run may write */
    TX_LIMIT_TMP,          /* sandbox: size of the /tmp tmpfs */
    TX_LIMIT_JOURNAL,      /* broker: bytes of the run's journal */
    TX_LIMIT_DISK,         /* broker: bytes the run puts on disk (run directory, File.write) */
    TX_LIMIT__COUNT
} tx_limit_id;

typedef struct tx_limits {
    uint64_t allowed[TX_LIMIT__COUNT];
} tx_limits;

/* Fills l with the documented defaults (docs/limits.md). */
void tx_limits_default(tx_limits *l);

/* The limit's public name ("memory", "instructions", ...). */
const char *tx_limit_name(tx_limit_id id);

/* Looks a limit up by public name; returns its id or -1 for an unknown name. */
int tx_limit_by_name(const char *name);

/* True for limits whose value is a byte size (accepts k/m/g suffixes). */
int tx_limit_is_size(tx_limit_id id);

/*
 * Parses a size such as "256m", "64k", "1g", "1024" (bytes; suffixes k/m/g are powers of 1024,
 * case-insensitive) into *out. Returns 0, or -1 if text is empty, has trailing junk, is negative
 * or overflows 64 bits.
 */
int tx_parse_size(const char *text, uint64_t *out);

#endif
