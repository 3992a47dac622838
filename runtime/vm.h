/*
 * vm.h - the restricted Lua 5.4 VM a procedure runs in.
 *
 * A tx_vm owns one lua_State built from nothing: its allocator counts every byte against the
 * `memory` limit, a count hook charges one instruction budget shared by all coroutines and
 * watches the call depth and the wall-clock deadline, and the procedure's environment holds only
 * the safe parts of the standard library (docs/lua-api.md lists them). A tripped limit is
 * sticky: once set, every pcall/xpcall/coroutine boundary re-raises it and the hook raises it
 * again at the next instruction, so procedure code can never catch it.
 */
#ifndef TX_VM_H
#define TX_VM_H

#include <lua.h>
#include <stdint.h>

#include "tx_limits.h"
#include "tactus.h"
#include "tx_error.h"

typedef struct tx_vm tx_vm;

/*
 * Creates a VM with the given limits (copied). alloc may be NULL for malloc. The wall-clock
 * deadline starts now when limits->allowed[TX_LIMIT_TIMEOUT] is non-zero. Returns NULL with err
 * set when out of memory.
 */
tx_vm *tx_vm_new(const tx_limits *limits, tactus_alloc_fn alloc, void *alloc_ud, tx_error *err);

/*
 * Switches a VM in a dedicated runner process from the count hook (which costs every
 * instruction) to a 10 ms timer that arms the hook for one look: deadline, depth and tripped
 * limits are then checked per tick instead of per 1000 instructions. Does nothing when an
 * instruction budget is set (that needs exact counting). Installs a SIGALRM handler and an
 * interval timer, so call it only in a process that runs nothing but this VM. Returns 0 or -1.
 */
int tx_vm_start_ticks(tx_vm *vm, tx_error *err);

/* Closes the state and frees the VM. NULL is allowed. */
void tx_vm_free(tx_vm *vm);

/* The VM's main thread. */
lua_State *tx_vm_state(tx_vm *vm);

/* The VM that owns L (any thread of it). */
tx_vm *tx_vm_of(lua_State *L);

/*
 * Builds a fresh procedure environment on top of L's stack: a new table holding the safe base
 * functions and private copies of the safe libraries, so nothing one chunk does to its `string`
 * or `math` table reaches another. `_G` points to the table itself.
 */
void tx_vm_push_sandbox_env(lua_State *L);

/* The limit that tripped, or -1 if none has. */
int tx_vm_tripped(const tx_vm *vm);

/* The message of the tripped limit ("limit exceeded: memory (268435456 bytes allowed)"). */
const char *tx_vm_trip_message(const tx_vm *vm);

/* Amount of a limit used so far (instructions, memory peak, output bytes, max depth, calls). */
uint64_t tx_vm_used(const tx_vm *vm, tx_limit_id id);

/* The limit's allowed value for this VM. */
uint64_t tx_vm_allowed(const tx_vm *vm, tx_limit_id id);

/*
 * Adds `amount` to a counted limit (output bytes, host calls). When the total passes the
 * allowed value the limit trips and this raises the limit error in L (does not return).
 */
void tx_vm_charge(lua_State *L, tx_limit_id id, uint64_t amount);

/* Like tx_vm_charge but only marks the limit as tripped, for callers that must clean up before
 * raising (they then call tx_vm_check). */
void tx_vm_charge_noraise(lua_State *L, tx_limit_id id, uint64_t amount);

/*
 * Marks `id` as tripped with `used` and raises the limit error in L (does not return). Used by
 * library wrappers that can tell before doing the work that it would pass a limit.
 */
int tx_vm_trip(lua_State *L, tx_limit_id id, uint64_t used);

/* Raises the sticky limit (or fatal) error in L if one is set; returns otherwise. */
void tx_vm_check(lua_State *L);

/* Conditions that end a run as surely as a limit, and as uncatchably. */
typedef enum tx_fatal_kind {
    TX_FATAL_NONE = 0,
    TX_FATAL_NONDETERMINISM, /* replay diverged from the journal */
    TX_FATAL_SUSPENDED,      /* waiting for a human; the run resumes later */
    TX_FATAL_JOURNAL         /* the journal could not be written: the step did not happen */
} tx_fatal_kind;

/* Marks the run as ending with `kind` and raises `message` (does not return). Sticky. */
int tx_vm_fatal(lua_State *L, tx_fatal_kind kind, const char *message);

/* The fatal condition set, or TX_FATAL_NONE. */
tx_fatal_kind tx_vm_fatal_kind(const tx_vm *vm);

#endif
