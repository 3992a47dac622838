/*
 * runner.h - runs one procedure in a restricted VM and describes the outcome as JSON.
 *
 * The runner is the untrusted side: it holds no secrets and reaches nothing outside the VM
 * except through its tx_channel. It is the same code in-process, in a plain child and in the
 * sandbox.
 */
#ifndef TX_RUNNER_H
#define TX_RUNNER_H

#include <jansson.h>
#include <stddef.h>

#include "channel.h"
#include "tx_limits.h"
#include "tactus.h"
#include "vm.h"

typedef struct tx_runner_args {
    const char *source; /* the .tac text */
    size_t source_len;
    const char *chunkname; /* shown in messages: "examples/hello.tac" */
    json_t *input;         /* borrowed; an object or NULL */
    json_t *params;        /* borrowed; `--param` strings by name, converted by input type */
    tx_limits limits;
    tactus_alloc_fn alloc; /* NULL: malloc */
    void *alloc_ud;
    tx_channel channel;
    int validate_only; /* register declarations, do not run main; the result has "declarations" */
    int strict_determinism;  /* time/random outside a checkpoint is an error */
    int check_only;          /* replay --check: every operation must come from the journal */
    int journal_async;       /* durability none: journal records are sent without waiting */
    int use_ticks;           /* a dedicated runner process: timer ticks instead of the count hook */
    int test_mode;           /* `tactus test`: run the specifications; the output is the report */
    const char *test_filter; /* only scenarios whose name contains this; NULL: all */
    const char *run_id;      /* for Step.key(); NULL: "local" */
    const char *token_setup; /* phase tokens presented to the broker (hex); NULL: none */
    const char *token_run;
    /* Called after the VM and prelude are built and before any procedure code runs (the
     * sandbox installs its seccomp filter here). NULL: nothing. Non-zero fails the run. */
    int (*harden)(void *ud, tx_error *err);
} tx_runner_args;

/* State shared by the runner and the C functions the prelude calls (prims.c). */
typedef struct tx_runner {
    const tx_runner_args *args;
    tx_vm *vm;
    int channel_broken; /* the broker went away: the run ends with status "system" */
    int syntax_error;   /* the last error was a compile error */
    char channel_error[1024];
} tx_runner;

/*
 * Runs the procedure and returns a new result object:
 *   {status, output, error: {type, message, file, line} | null, limits: {name: {used, allowed}}}
 * plus "declarations" when validate_only. Returns NULL only when out of memory.
 */
json_t *tx_runner_execute(const tx_runner_args *args);

/* Pushes the private `tx` table of C functions the prelude is given (prims.c). */
void tx_prims_push(lua_State *L, tx_runner *runner);

/* The embedded Lua sources (generated from the lua folder at build time). */
extern const unsigned char tx_lua_prelude[];
extern const size_t tx_lua_prelude_len;
extern const unsigned char tx_lua_bdd[];
extern const size_t tx_lua_bdd_len;
extern const unsigned char tx_lua_prelude_bc[]; /* precompiled by the same liblua */
extern const size_t tx_lua_prelude_bc_len;
extern const unsigned char tx_lua_bdd_bc[];
extern const size_t tx_lua_bdd_bc_len;

#endif
