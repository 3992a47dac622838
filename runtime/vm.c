/*
 * vm.c - the restricted Lua VM: counting allocator, one global instruction budget, depth and
 * deadline checks, and the safe standard library.
 *
 * Why each wrapper exists (all reproduced against stock Lua 5.4, see docs/security.md):
 *  - pcall/xpcall: a tripped limit must not be catchable, and Lua runs an xpcall message
 *    handler with hooks off when the error came from a hook, so a looping handler would never
 *    be stopped. The wrappers re-raise a tripped limit and skip the user's handler.
 *  - coroutine.*: every new coroutine starts a fresh hook count, so creation is charged a full
 *    hook period and resume/close re-raise a limit that killed the coroutine.
 *  - setmetatable: finalizers (__gc) run with hooks off; any metatable with a __gc key is refused.
 *  - load: stock load accepts bytecode and hands chunks the real globals; ours is text-only and
 *    defaults to the calling procedure's environment.
 *  - coroutine.wrap: like Lua's auxwrap, resets its coroutine only when it died with an error.
 *  - string.rep / string.pack / table.concat: one C call can build a huge string without
 *    reaching a hook, so the size is checked against the `string` limit (before the work for
 *    rep and pack, as the string grows for concat, whose proxies can lie beforehand).
 *  - table.move/insert/remove/unpack/sort: their loops follow a range or a __len, not the size
 *    of anything the procedure holds, so their work is charged (charge_work), which also looks
 *    at the deadline; string.find's plain search is made linear.
 *  - every function that calls back into Lua guards the C stack (guard_cstack) and turns Lua's
 *    own "C stack overflow" into the `depth` limit (c_overflow_is_depth).
 *  - the string metatable is shared by every string: it is locked with __metatable.
 */
#include "vm.h"

#include <lauxlib.h>
#include <limits.h>
#include <lualib.h>
#include <stdint.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <signal.h>
#include <sys/time.h>
#include <time.h>

/* Instructions between two hook calls. Small enough that a tripped limit is noticed quickly,
 * large enough that the hook costs well under 1% of compute. */
#define HOOK_PERIOD 1000

/* Tick interval in runner processes: how often deadline, depth and a tripped limit are checked
 * when no instruction budget asks for the exact count hook. */
#define TICK_USEC 10000

/* C stack that calls nested through C functions (pcall, coroutine.resume/close/wrap, library
 * functions calling metamethods) may use below the frame that created the VM before the `depth`
 * limit trips. Lua bounds C nesting itself (200 levels) only within one chain of threads, and
 * Lua 5.4.4 restarts that count when coroutine.close runs __close handlers, so nothing else stops
 * a hostile chain of them from overflowing the C stack. 200 levels of the deepest-framed library
 * call (string.gsub with a callback) take about 400 KiB, so ordinary code never comes near this,
 * and this plus one more such chain stays far inside the usual 8 MiB stack. */
#define CSTACK_BUDGET (1024 * 1024)

/* Work units charged by library calls between two looks at the clock and at a tripped limit
 * from inside one long C call. */
#define WORK_CLOCK_PERIOD 65536

/* Bytes of string a library call builds per work unit (one instruction of the budget). */
#define WORK_BYTES 64

/* Extra bytes the allocator grants after the memory limit tripped, so the VM can unwind and
 * build its error message; the run is over by then. */
#define MEMORY_SLACK (256 * 1024)

struct tx_vm {
    lua_State *L;
    tactus_alloc_fn alloc;
    void *alloc_ud;
    tx_limits limits;
    uint64_t used[TX_LIMIT__COUNT];
    uint64_t mem_now;
    int tripped; /* tx_limit_id, or -1 */
    int fatal;   /* tx_fatal_kind: the run must end (non-determinism, suspension) */
    char trip_message[512];
    struct timespec deadline;
    int has_deadline;
    int ticking;           /* tick mode: no count hook; a timer arms the hook (tx_vm_start_ticks) */
    lua_State *current;    /* the thread running now (main, or the coroutine last resumed) */
    uintptr_t cstack_base; /* frame address of tx_vm_new: where the VM's C stack use starts */
    uint64_t work_unclocked; /* library work charged since the clock was last read */
};

/*
 * The one VM of a dedicated runner process, for the tick signal handler. A signal handler gets
 * no context argument, so this is the single process-wide variable of the library; it is only
 * set in runner processes that exist to run one VM (never in an embedding program).
 */
static tx_vm *volatile tick_vm;

static void *default_alloc(void *ud, void *ptr, size_t osize, size_t nsize)
{
    (void)ud;
    (void)osize;
    if (nsize == 0) {
        free(ptr);
        return NULL;
    }
    return realloc(ptr, nsize);
}

/* lua_Alloc: counts every byte; refuses growth past the memory limit (Lua then raises a
 * "not enough memory" error, which the sticky trip turns into an uncatchable limit). */
static void *vm_alloc(void *ud, void *ptr, size_t osize, size_t nsize)
{
    tx_vm *vm = ud;
    size_t old = ptr ? osize : 0; /* with ptr == NULL, osize is a type tag, not a size */
    if (nsize == 0) {
        vm->alloc(vm->alloc_ud, ptr, old, 0);
        vm->mem_now -= old;
        return NULL;
    }
    uint64_t limit = vm->limits.allowed[TX_LIMIT_MEMORY];
    if (nsize > old && limit != 0) {
        uint64_t want = vm->mem_now - old + nsize;
        uint64_t cap = vm->tripped == TX_LIMIT_MEMORY ? limit + MEMORY_SLACK : limit;
        if (want > cap) {
            if (vm->tripped < 0) {
                vm->tripped = TX_LIMIT_MEMORY;
                vm->used[TX_LIMIT_MEMORY] = want;
                snprintf(vm->trip_message, sizeof vm->trip_message,
                         "memory limit exceeded (%llu bytes allowed)", (unsigned long long)limit);
            }
            return NULL;
        }
    }
    void *p = vm->alloc(vm->alloc_ud, ptr, old, nsize);
    if (p == NULL)
        return NULL;
    vm->mem_now = vm->mem_now - old + nsize;
    if (vm->mem_now > vm->used[TX_LIMIT_MEMORY])
        vm->used[TX_LIMIT_MEMORY] = vm->mem_now;
    return p;
}

tx_vm *tx_vm_of(lua_State *L)
{
    void *ud = NULL;
    lua_getallocf(L, &ud);
    return ud;
}

static int raise_trip(lua_State *L)
{
    tx_vm *vm = tx_vm_of(L);
    lua_pushstring(L, vm->trip_message);
    return lua_error(L);
}

static void count_hook(lua_State *L, lua_Debug *ar);

int tx_vm_fatal(lua_State *L, tx_fatal_kind kind, const char *message)
{
    tx_vm *vm = tx_vm_of(L);
    if (vm->fatal == TX_FATAL_NONE && vm->tripped < 0) {
        vm->fatal = (int)kind;
        snprintf(vm->trip_message, sizeof vm->trip_message, "%s", message);
    }
    lua_sethook(L, count_hook, LUA_MASKCOUNT, 1);
    return raise_trip(L);
}

tx_fatal_kind tx_vm_fatal_kind(const tx_vm *vm)
{
    return (tx_fatal_kind)vm->fatal;
}

static int trip_now(lua_State *L, tx_vm *vm, tx_limit_id id, uint64_t used)
{
    if (vm->tripped < 0) {
        vm->tripped = (int)id;
        vm->used[id] = used;
        if (id == TX_LIMIT_TIMEOUT)
            snprintf(vm->trip_message, sizeof vm->trip_message,
                     "wall-clock limit of %llu ms exceeded",
                     (unsigned long long)vm->limits.allowed[id]);
        else
            snprintf(vm->trip_message, sizeof vm->trip_message, "%s limit exceeded (%llu allowed)",
                     tx_limit_name(id), (unsigned long long)vm->limits.allowed[id]);
    }
    /* Sticky: from now on every instruction of this thread raises again. */
    lua_sethook(L, count_hook, LUA_MASKCOUNT, 1);
    return raise_trip(L);
}

int tx_vm_trip(lua_State *L, tx_limit_id id, uint64_t used)
{
    return trip_now(L, tx_vm_of(L), id, used);
}

void tx_vm_check(lua_State *L)
{
    tx_vm *vm = tx_vm_of(L);
    if (vm->fatal != TX_FATAL_NONE)
        tx_vm_fatal(L, (tx_fatal_kind)vm->fatal, vm->trip_message);
    if (vm->tripped >= 0)
        trip_now(L, vm, (tx_limit_id)vm->tripped, vm->used[vm->tripped]);
}

void tx_vm_charge_noraise(lua_State *L, tx_limit_id id, uint64_t amount)
{
    tx_vm *vm = tx_vm_of(L);
    vm->used[id] += amount;
    uint64_t allowed = vm->limits.allowed[id];
    if (allowed != 0 && vm->used[id] > allowed && vm->tripped < 0) {
        vm->tripped = (int)id;
        snprintf(vm->trip_message, sizeof vm->trip_message, "%s limit exceeded (%llu allowed)",
                 tx_limit_name(id), (unsigned long long)allowed);
    }
}

void tx_vm_charge(lua_State *L, tx_limit_id id, uint64_t amount)
{
    tx_vm *vm = tx_vm_of(L);
    vm->used[id] += amount;
    uint64_t allowed = vm->limits.allowed[id];
    if (allowed != 0 && vm->used[id] > allowed)
        trip_now(L, vm, id, vm->used[id]);
}

static int deadline_passed(const tx_vm *vm)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return now.tv_sec > vm->deadline.tv_sec ||
           (now.tv_sec == vm->deadline.tv_sec && now.tv_nsec >= vm->deadline.tv_nsec);
}

/* Deepest call level seen; probing from the previous peak keeps this O(new depth). */
static void track_depth(lua_State *L, tx_vm *vm)
{
    lua_Debug probe;
    uint64_t level = vm->used[TX_LIMIT_DEPTH];
    while (lua_getstack(L, (int)level, &probe))
        level++;
    vm->used[TX_LIMIT_DEPTH] = level;
}

static void count_hook(lua_State *L, lua_Debug *ar)
{
    (void)ar;
    tx_vm *vm = tx_vm_of(L);
    if (vm->tripped >= 0 || vm->fatal != TX_FATAL_NONE) {
        tx_vm_check(L);
        return;
    }
    if (vm->ticking)
        lua_sethook(L, NULL, 0, 0); /* armed by the tick for one look; the next tick re-arms */
    else
        vm->used[TX_LIMIT_INSTRUCTIONS] += HOOK_PERIOD;
    uint64_t budget = vm->limits.allowed[TX_LIMIT_INSTRUCTIONS];
    if (budget != 0 && vm->used[TX_LIMIT_INSTRUCTIONS] > budget)
        trip_now(L, vm, TX_LIMIT_INSTRUCTIONS, vm->used[TX_LIMIT_INSTRUCTIONS]);
    track_depth(L, vm);
    uint64_t depth = vm->limits.allowed[TX_LIMIT_DEPTH];
    if (depth != 0 && vm->used[TX_LIMIT_DEPTH] > depth)
        trip_now(L, vm, TX_LIMIT_DEPTH, vm->used[TX_LIMIT_DEPTH]);
    if (vm->has_deadline && deadline_passed(vm))
        trip_now(L, vm, TX_LIMIT_TIMEOUT, vm->limits.allowed[TX_LIMIT_TIMEOUT]);
}

/* ---- C stack and library work ----------------------------------------------------------- */

/* Trips `depth` for C nesting (see CSTACK_BUDGET): its own message, since no Lua call level
 * count says what was exceeded. Does not return. */
static void trip_cstack(lua_State *L, tx_vm *vm)
{
    if (vm->tripped < 0) {
        vm->tripped = TX_LIMIT_DEPTH;
        snprintf(vm->trip_message, sizeof vm->trip_message,
                 "depth limit exceeded: calls nested through C functions (pcall, coroutine "
                 "resume/wrap/close, metamethods called by library functions) use more than %d "
                 "KiB of C stack",
                 CSTACK_BUDGET / 1024);
    }
    lua_sethook(L, count_hook, LUA_MASKCOUNT, 1);
    raise_trip(L);
}

/* Trips `depth` and raises it in L when the C stack below the frame that created the VM is
 * deeper than CSTACK_BUDGET: called by every function that calls back into Lua code (pcall,
 * coroutine.resume, ...), so no chain of them can overflow the C stack. Assumes the VM runs on
 * the thread, and below the frame, that created it. */
static void guard_cstack(lua_State *L)
{
    tx_vm *vm = tx_vm_of(L);
    /* Integer arithmetic on addresses: the stack grows down on every target Lua runs on here. */
    uintptr_t here = (uintptr_t)__builtin_frame_address(0);
    if (here < vm->cstack_base && vm->cstack_base - here > CSTACK_BUDGET)
        trip_cstack(L, vm);
}

/* Slow path of charge_work: the clock and a limit tripped elsewhere (by the allocator, or by a
 * hook in a coroutine the work called into), every WORK_CLOCK_PERIOD units. */
static void work_clock(lua_State *L, tx_vm *vm)
{
    vm->work_unclocked = 0;
    tx_vm_check(L);
    if (vm->has_deadline && deadline_passed(vm))
        trip_now(L, vm, TX_LIMIT_TIMEOUT, vm->limits.allowed[TX_LIMIT_TIMEOUT]);
}

/* Charges `units` of work done inside one library call: to the instruction budget (count mode
 * only; tick mode counts no instructions), and towards the next look at the clock, so a long C
 * loop ends at the budget or the deadline like Lua code does. May raise. */
static inline void charge_work(lua_State *L, tx_vm *vm, uint64_t units)
{
    if (!vm->ticking) {
        uint64_t *used = &vm->used[TX_LIMIT_INSTRUCTIONS];
        /* units can be 2^57 (string.rep): saturate where result.json can still show it */
        *used = units > (uint64_t)INT64_MAX - *used ? (uint64_t)INT64_MAX : *used + units;
        uint64_t budget = vm->limits.allowed[TX_LIMIT_INSTRUCTIONS];
        if (budget != 0 && vm->used[TX_LIMIT_INSTRUCTIONS] > budget)
            trip_now(L, vm, TX_LIMIT_INSTRUCTIONS, vm->used[TX_LIMIT_INSTRUCTIONS]);
    }
    vm->work_unclocked += units;
    if (vm->work_unclocked >= WORK_CLOCK_PERIOD)
        work_clock(L, vm);
}

/* True if the value at idx is the error Lua raises when nested C calls pass its own bound
 * (LUAI_MAXCCALLS, 200 along one chain of threads): "C stack overflow", with or without a
 * position, or "error in error handling" (status LUA_ERRERR), raised once past that bound. */
static int is_c_overflow(lua_State *L, int status, int idx)
{
    static const char overflow[] = "C stack overflow";
    const size_t n = sizeof overflow - 1;
    if (status == LUA_ERRERR)
        return 1;
    if (lua_type(L, idx) != LUA_TSTRING)
        return 0;
    size_t len = 0;
    const char *msg = lua_tolstring(L, idx, &len);
    return (len >= n && memcmp(msg + len - n, overflow, n) == 0) ||
           strcmp(msg, "error in error handling") == 0;
}

/* Where procedure code would see Lua's C-call bound as an error it can catch and go on from
 * (pcall, xpcall, coroutine.resume/wrap/close, load), it becomes the `depth` limit: every path
 * of nested C calls ends the same way, whether Lua's count or the VM's C-stack budget stops
 * it. Does not return when the value at idx is that error. */
static void c_overflow_is_depth(lua_State *L, int status, int idx)
{
    if (!is_c_overflow(L, status, idx))
        return;
    tx_vm *vm = tx_vm_of(L);
    if (vm->tripped < 0) {
        vm->tripped = TX_LIMIT_DEPTH;
        snprintf(vm->trip_message, sizeof vm->trip_message,
                 "depth limit exceeded: calls nested through C functions go deeper than Lua's "
                 "%d C levels (C stack overflow)",
                 200);
    }
    lua_sethook(L, count_hook, LUA_MASKCOUNT, 1);
    raise_trip(L);
}

/* ---- pcall / xpcall ------------------------------------------------------------------- */

static int finish_pcall(lua_State *L, int status, lua_KContext extra)
{
    tx_vm_check(L);
    if (status != LUA_OK && status != LUA_YIELD) {
        c_overflow_is_depth(L, status, -1);
        lua_pushboolean(L, 0);
        lua_pushvalue(L, -2);
        return 2;
    }
    return lua_gettop(L) - (int)extra;
}

static int safe_pcall(lua_State *L)
{
    guard_cstack(L);
    luaL_checkany(L, 1);
    lua_pushboolean(L, 1);
    lua_insert(L, 1);
    int status = lua_pcallk(L, lua_gettop(L) - 2, LUA_MULTRET, 0, 0, finish_pcall);
    return finish_pcall(L, status, 0);
}

/* Message handler trampoline: calls the user's handler only while no limit has tripped. */
static int xpcall_handler(lua_State *L)
{
    if (tx_vm_of(L)->tripped >= 0 || tx_vm_of(L)->fatal != TX_FATAL_NONE)
        return 1;
    guard_cstack(L);
    c_overflow_is_depth(L, LUA_ERRRUN, 1); /* before the handler can replace the message */
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_insert(L, 1);
    lua_call(L, lua_gettop(L) - 1, 1);
    return 1;
}

static int safe_xpcall(lua_State *L)
{
    guard_cstack(L);
    int n = lua_gettop(L);
    luaL_checktype(L, 2, LUA_TFUNCTION);
    lua_pushvalue(L, 2);
    lua_pushcclosure(L, xpcall_handler, 1);
    lua_replace(L, 2);
    lua_pushboolean(L, 1);
    lua_pushvalue(L, 1);
    lua_rotate(L, 3, 2);
    int status = lua_pcallk(L, n - 2, LUA_MULTRET, 2, 2, finish_pcall);
    return finish_pcall(L, status, 2);
}

/* ---- coroutines --------------------------------------------------------------------- */

/* Calls the original library function (upvalue 1) with all arguments, then re-raises a limit
 * that tripped inside. */
static int call_original_checked(lua_State *L)
{
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_insert(L, 1);
    lua_call(L, lua_gettop(L) - 1, LUA_MULTRET);
    tx_vm_check(L);
    return lua_gettop(L);
}

/* A new coroutine starts a fresh hook count: charge it a full period up front. */
static int charged_create(lua_State *L)
{
    if (!tx_vm_of(L)->ticking)
        tx_vm_charge(L, TX_LIMIT_INSTRUCTIONS, HOOK_PERIOD);
    return call_original_checked(L);
}

/* coroutine.resume(co, ...) and coroutine.close(co) (the original is upvalue 1): track the thread
 * that runs code now (the resumed coroutine, or the one whose __close handlers run) so the tick
 * arms the right one, and guard the C stack: a close inside a __close handler inside a close...
 * is C recursion that Lua 5.4.4 does not count. */
static int tracked_switch(lua_State *L)
{
    tx_vm *vm = tx_vm_of(L);
    guard_cstack(L);
    lua_State *co = lua_tothread(L, 1);
    lua_State *saved = vm->current;
    if (co != NULL)
        vm->current = co;
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_insert(L, 1);
    int status = lua_pcall(L, lua_gettop(L) - 1, LUA_MULTRET, 0);
    vm->current = saved;
    if (status != LUA_OK) {
        c_overflow_is_depth(L, status, -1);
        return lua_error(L);
    }
    tx_vm_check(L);
    if (lua_gettop(L) >= 2 && !lua_toboolean(L, 1)) /* false, error */
        c_overflow_is_depth(L, LUA_ERRRUN, 2);
    return lua_gettop(L);
}

/* Closes the pending to-be-closed variables of the dead coroutine co, leaving its error object
 * on co's stack; returns the status. Lua 5.4.6 has lua_closethread, which also counts the C
 * calls of `from`; 5.4.4 only has lua_resetthread. */
static int close_thread(lua_State *co, lua_State *from)
{
#if LUA_VERSION_RELEASE_NUM >= 50406
    return lua_closethread(co, from);
#else
    (void)from;
    return lua_resetthread(co);
#endif
}

/* The function coroutine.wrap returns: upvalue 1 is the coroutine. Behaves like Lua's own
 * (lcorolib.c auxwrap): an error raised in the coroutine closes its pending to-be-closed
 * variables; a resume Lua refused (the coroutine is running, normal or dead) leaves the
 * coroutine alone: resetting a running coroutine from its own __close handler would free the
 * stack it runs on. */
static int wrapped_call(lua_State *L)
{
    tx_vm *vm = tx_vm_of(L);
    lua_State *co = lua_tothread(L, lua_upvalueindex(1));
    guard_cstack(L);
    int nargs = lua_gettop(L), nres = 0;
    if (!lua_checkstack(co, nargs + 1))
        return luaL_error(L, "too many arguments to resume");
    lua_xmove(L, co, nargs);
    lua_State *saved = vm->current;
    vm->current = co;
    int status = lua_resume(co, L, nargs, &nres);
    vm->current = saved;
    tx_vm_check(L);
    if (status == LUA_OK || status == LUA_YIELD) {
        if (!lua_checkstack(L, nres + 1)) {
            lua_pop(co, nres);
            return luaL_error(L, "too many results to resume");
        }
        lua_xmove(co, L, nres);
        return nres;
    }
    lua_xmove(co, L, 1); /* the error object, or why the resume was refused */
    c_overflow_is_depth(L, status, -1);
    int costatus = lua_status(co);
    if (costatus != LUA_OK && costatus != LUA_YIELD) { /* it died with an error */
        vm->current = co;
        costatus = close_thread(co, L);
        vm->current = saved;
        lua_xmove(co, L, 1); /* the error after closing (a __close handler may replace it) */
        tx_vm_check(L);
    }
    if (costatus != LUA_ERRMEM && lua_type(L, -1) == LUA_TSTRING) { /* add where it was resumed */
        luaL_where(L, 1);
        lua_insert(L, -2);
        lua_concat(L, 2);
    }
    return lua_error(L);
}

/* coroutine.wrap(f): a coroutine resumed through wrapped_call (so it is tracked too). */
static int tracked_wrap(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TFUNCTION);
    if (!tx_vm_of(L)->ticking)
        tx_vm_charge(L, TX_LIMIT_INSTRUCTIONS, HOOK_PERIOD);
    lua_State *co = lua_newthread(L);
    lua_pushvalue(L, 1);
    lua_xmove(L, co, 1);
    lua_pushcclosure(L, wrapped_call, 1);
    return 1;
}

/* ---- metatables, load, collectgarbage --------------------------------------------------- */

static int safe_setmetatable(lua_State *L)
{
    int t = lua_type(L, 2);
    luaL_checktype(L, 1, LUA_TTABLE);
    luaL_argexpected(L, t == LUA_TNIL || t == LUA_TTABLE, 2, "nil or table");
    if (t == LUA_TTABLE) {
        lua_pushliteral(L, "__gc");
        if (lua_rawget(L, 2) != LUA_TNIL)
            return luaL_error(L, "setmetatable: __gc metamethods are not allowed in procedures");
        lua_pop(L, 1);
    }
    if (luaL_getmetafield(L, 1, "__metatable") != LUA_TNIL)
        return luaL_error(L, "cannot change a protected metatable");
    lua_settop(L, 2);
    lua_setmetatable(L, 1);
    return 1;
}

/* load(chunk [, chunkname [, mode [, env]]]): text only; env defaults to upvalue 1. */
static int safe_load(lua_State *L)
{
    size_t len = 0;
    guard_cstack(L); /* the parser recurses on nested source */
    if (lua_type(L, 1) != LUA_TSTRING)
        return luaL_error(L, "load: only source strings are accepted");
    const char *src = lua_tolstring(L, 1, &len);
    const char *name = luaL_optstring(L, 2, "=(load)");
    int has_env = !lua_isnone(L, 4);
    int rc = luaL_loadbufferx(L, src, len, name, "t");
    if (rc != LUA_OK) {
        c_overflow_is_depth(L, rc, -1); /* source nested past Lua's C levels */
        luaL_pushfail(L);
        lua_insert(L, -2);
        return 2;
    }
    if (has_env)
        lua_pushvalue(L, 4);
    else
        lua_pushvalue(L, lua_upvalueindex(1));
    if (lua_setupvalue(L, -2, 1) == NULL)
        lua_pop(L, 1);
    return 1;
}

static int safe_collectgarbage(lua_State *L)
{
    const char *opt = luaL_optstring(L, 1, "collect");
    if (strcmp(opt, "count") != 0)
        return luaL_error(L, "collectgarbage: only \"count\" is available to procedures");
    lua_pushnumber(L, (lua_Number)lua_gc(L, LUA_GCCOUNT, 0) +
                          (lua_Number)lua_gc(L, LUA_GCCOUNTB, 0) / 1024.0);
    return 1;
}

/* ---- string building ------------------------------------------------------------------ */

static void check_string_size(lua_State *L, uint64_t size)
{
    tx_vm *vm = tx_vm_of(L);
    uint64_t limit = vm->limits.allowed[TX_LIMIT_STRING];
    if (limit != 0 && size > limit)
        trip_now(L, vm, TX_LIMIT_STRING, size);
}

/* a * b, saturating at UINT64_MAX. */
static uint64_t mul_sat(uint64_t a, uint64_t b)
{
    return a != 0 && b > UINT64_MAX / a ? UINT64_MAX : a * b;
}

/* string.rep(s, n [, sep]): the result's size is checked against `string` before any work, and
 * the bytes it builds are charged. Empty s and sep give "" at once: Lua would loop n times
 * building nothing, with no limit to stop it. */
static int sized_rep(lua_State *L)
{
    size_t len = 0, seplen = 0;
    luaL_checklstring(L, 1, &len);
    lua_Integer n = luaL_checkinteger(L, 2);
    luaL_optlstring(L, 3, "", &seplen);
    if (n <= 0 || (len == 0 && seplen == 0)) {
        lua_pushliteral(L, "");
        return 1;
    }
    uint64_t count = (uint64_t)n;
    uint64_t total = mul_sat(count, len);
    uint64_t seps = mul_sat(count - 1, seplen);
    total = total > UINT64_MAX - seps ? UINT64_MAX : total + seps;
    check_string_size(L, total);
    charge_work(L, tx_vm_of(L), total / WORK_BYTES);
    return call_original_checked(L);
}

/* string.pack(fmt, ...): a `cN` option pads to N bytes whatever its argument, so a short call
 * can build a huge string; their sum is checked against `string` and charged before the work.
 * Digits are read as lstrlib reads them (it stops before overflowing an int); the rest of the
 * result is proportional to the arguments. */
static int sized_pack(lua_State *L)
{
    size_t flen = 0;
    const char *fmt = luaL_checklstring(L, 1, &flen);
    uint64_t padded = 0;
    for (size_t i = 0; i < flen; i++) {
        if (fmt[i] != 'c')
            continue;
        uint64_t n = 0;
        while (i + 1 < flen && fmt[i + 1] >= '0' && fmt[i + 1] <= '9' && n <= (INT_MAX - 9) / 10)
            n = n * 10 + (uint64_t)(fmt[++i] - '0');
        padded += n; /* at most flen terms below 2^31: no overflow */
    }
    check_string_size(L, padded);
    charge_work(L, tx_vm_of(L), padded / WORK_BYTES);
    return call_original_checked(L);
}

/* True if Lua would search for p as plain text: it has none of the pattern specials. */
static int plain_pattern(const char *p, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (p[i] != '\0' && strchr("^$*+?.([%-", p[i]) != NULL)
            return 0;
    return 1;
}

/* string.find(s, p [, init [, plain]]). Lua's plain search (asked for, or a pattern without
 * specials) compares the pattern at every occurrence of its first byte: time |s| * |p| in one C
 * call, hours for strings of a few megabytes. memmem finds the same first match in linear time.
 * Patterns go to the original. */
static int linear_find(lua_State *L)
{
    size_t ls = 0, lp = 0;
    const char *s = luaL_checklstring(L, 1, &ls);
    const char *p = luaL_checklstring(L, 2, &lp);
    lua_Integer init = luaL_optinteger(L, 3, 1);
    if (!lua_toboolean(L, 4) && !plain_pattern(p, lp))
        return call_original_checked(L);
    size_t start; /* 0-based, as lstrlib's posrelatI(init) - 1 */
    if (init > 0)
        start = (size_t)init - 1;
    else if (init == 0 || init < -(lua_Integer)ls)
        start = 0;
    else
        start = ls - (size_t)(-init);
    if (start > ls) {
        luaL_pushfail(L);
        return 1;
    }
    const char *found = lp == 0 ? s + start : memmem(s + start, ls - start, p, lp);
    if (found == NULL) {
        luaL_pushfail(L);
        return 1;
    }
    lua_pushinteger(L, (lua_Integer)(found - s) + 1);
    lua_pushinteger(L, (lua_Integer)(found - s) + (lua_Integer)lp);
    return 2;
}

/* ---- table functions -------------------------------------------------------------------- */

/* What a table function needs of an argument that is not a table (as in ltablib.c). */
#define TAB_R 1 /* read: __index */
#define TAB_W 2 /* write: __newindex */
#define TAB_L 4 /* length: __len */

/* Raises the usual argument error unless argument arg is a table, or has a metatable with the
 * metamethods `what` asks for: the table library accepts proxies. */
static void check_table(lua_State *L, int arg, int what)
{
    if (lua_type(L, arg) == LUA_TTABLE)
        return;
    static const char *const fields[] = {"__index", "__newindex", "__len"};
    int ok = lua_getmetatable(L, arg);
    for (int i = 0; ok && i < 3; i++) {
        if (what & (1 << i)) {
            lua_pushstring(L, fields[i]);
            ok = lua_rawget(L, -2) != LUA_TNIL;
            lua_pop(L, 1);
        }
    }
    if (!ok)
        luaL_checktype(L, arg, LUA_TTABLE);
    lua_pop(L, 1);
}

/* #t for table function argument arg, respecting __len. */
static lua_Integer table_len(lua_State *L, int arg, int what)
{
    check_table(L, arg, what | TAB_L);
    return luaL_len(L, arg);
}

/* Appends t[i] (read with metamethods, as Lua does) to b, checking the size the result reaches
 * against `string` before the bytes are copied. */
static void concat_field(lua_State *L, tx_vm *vm, luaL_Buffer *b, lua_Integer i, uint64_t limit)
{
    lua_geti(L, 1, i);
    if (!lua_isstring(L, -1))
        luaL_error(L, "invalid value (%s) at index %I in table for 'concat'", luaL_typename(L, -1),
                   (LUAI_UACINT)i);
    size_t len = 0;
    lua_tolstring(L, -1, &len);
    if (limit != 0 && luaL_bufflen(b) + len > limit)
        trip_now(L, vm, TX_LIMIT_STRING, (uint64_t)luaL_bufflen(b) + len);
    charge_work(L, vm, 1 + len / WORK_BYTES);
    luaL_addvalue(b);
}

/* table.concat(t [, sep [, i [, j]]]): Lua's, except that the size of the string is checked
 * against `string` as it is built (a table with __index or __len can say anything about its
 * contents beforehand) and each element is charged as work. */
static int sized_concat(lua_State *L)
{
    tx_vm *vm = tx_vm_of(L);
    guard_cstack(L);
    lua_Integer last = table_len(L, 1, TAB_R);
    size_t seplen = 0;
    const char *sep = luaL_optlstring(L, 2, "", &seplen);
    lua_Integer i = luaL_optinteger(L, 3, 1);
    last = luaL_optinteger(L, 4, last);
    uint64_t limit = vm->limits.allowed[TX_LIMIT_STRING];
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    for (; i <= last; i++) {
        concat_field(L, vm, &b, i, limit);
        if (i == last) /* also ends the loop at LUA_MAXINTEGER */
            break;
        if (limit != 0 && luaL_bufflen(&b) + seplen > limit)
            trip_now(L, vm, TX_LIMIT_STRING, (uint64_t)luaL_bufflen(&b) + seplen);
        luaL_addlstring(&b, sep, seplen);
    }
    luaL_pushresult(&b);
    return 1;
}

/* table.insert(t, [pos,] v): Lua's, with each element shifted charged as work: with a __len
 * metamethod, the shift has no relation to the table's real size. */
static int charged_insert(lua_State *L)
{
    tx_vm *vm = tx_vm_of(L);
    guard_cstack(L);
    lua_Integer e = (lua_Integer)((lua_Unsigned)table_len(L, 1, TAB_R | TAB_W) + 1u);
    lua_Integer pos = e;
    switch (lua_gettop(L)) {
    case 2:
        break;
    case 3:
        pos = luaL_checkinteger(L, 2);
        luaL_argcheck(L, (lua_Unsigned)pos - 1u < (lua_Unsigned)e, 2, "position out of bounds");
        for (lua_Integer i = e; i > pos; i--) {
            charge_work(L, vm, 1);
            lua_geti(L, 1, i - 1);
            lua_seti(L, 1, i);
        }
        break;
    default:
        return luaL_error(L, "wrong number of arguments to 'insert'");
    }
    lua_seti(L, 1, pos);
    return 0;
}

/* table.remove(t [, pos]): Lua's, with each element shifted charged as work. */
static int charged_remove(lua_State *L)
{
    tx_vm *vm = tx_vm_of(L);
    guard_cstack(L);
    lua_Integer size = table_len(L, 1, TAB_R | TAB_W);
    lua_Integer pos = luaL_optinteger(L, 2, size);
    if (pos != size)
        /* argument 1, as Lua 5.4.4 reports it */
        luaL_argcheck(L, (lua_Unsigned)pos - 1u <= (lua_Unsigned)size, 1, "position out of bounds");
    lua_geti(L, 1, pos);
    for (; pos < size; pos++) {
        charge_work(L, vm, 1);
        lua_geti(L, 1, pos + 1);
        lua_seti(L, 1, pos);
    }
    lua_pushnil(L);
    lua_seti(L, 1, pos);
    return 1;
}

/* table.move(a1, f, e, t [, a2]): Lua's, with each element moved charged as work: the range is
 * whatever the caller says, not the table's size. */
static int charged_move(lua_State *L)
{
    tx_vm *vm = tx_vm_of(L);
    guard_cstack(L);
    lua_Integer f = luaL_checkinteger(L, 2);
    lua_Integer e = luaL_checkinteger(L, 3);
    lua_Integer t = luaL_checkinteger(L, 4);
    int tt = !lua_isnoneornil(L, 5) ? 5 : 1;
    check_table(L, 1, TAB_R);
    check_table(L, tt, TAB_W);
    if (e >= f) {
        luaL_argcheck(L, f > 0 || e < LUA_MAXINTEGER + f, 3, "too many elements to move");
        lua_Integer n = e - f + 1;
        luaL_argcheck(L, t <= LUA_MAXINTEGER - n + 1, 4, "destination wrap around");
        if (t > e || t <= f || (tt != 1 && !lua_compare(L, 1, tt, LUA_OPEQ))) {
            for (lua_Integer i = 0; i < n; i++) {
                charge_work(L, vm, 1);
                lua_geti(L, 1, f + i);
                lua_seti(L, tt, t + i);
            }
        } else { /* overlapping, moving up: copy from the end */
            for (lua_Integer i = n - 1; i >= 0; i--) {
                charge_work(L, vm, 1);
                lua_geti(L, 1, f + i);
                lua_seti(L, tt, t + i);
            }
        }
    }
    lua_pushvalue(L, tt);
    return 1;
}

/* table.unpack(t [, i [, j]]): Lua's, with the values pushed charged as work. */
static int charged_unpack(lua_State *L)
{
    tx_vm *vm = tx_vm_of(L);
    guard_cstack(L);
    lua_Integer i = luaL_optinteger(L, 2, 1);
    lua_Integer e = lua_isnoneornil(L, 3) ? luaL_len(L, 1) : luaL_checkinteger(L, 3);
    if (i > e)
        return 0;
    lua_Unsigned n = (lua_Unsigned)e - (lua_Unsigned)i; /* one less than the count */
    if (n >= (unsigned int)INT_MAX || !lua_checkstack(L, (int)(++n)))
        return luaL_error(L, "too many results to unpack");
    charge_work(L, vm, n);
    for (; i < e; i++)
        lua_geti(L, 1, i);
    lua_geti(L, 1, e);
    return (int)n;
}

/* The comparison table.sort calls on its charged path: one unit of work per comparison, then
 * the caller's function (upvalue 1) or Lua's `<`. */
static int charged_compare(lua_State *L)
{
    charge_work(L, tx_vm_of(L), 1);
    if (lua_isnil(L, lua_upvalueindex(1))) {
        lua_pushboolean(L, lua_compare(L, 1, 2, LUA_OPLT));
        return 1;
    }
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_insert(L, 1);
    lua_call(L, 2, 1);
    return 1;
}

/* table.sort(t [, comp]). On a plain table (no metatable) with Lua's `<` or a Lua comparison
 * function, the work is bounded by the table's real size and the function's instructions are
 * counted, so the original runs as it is. Otherwise (a __len that lies about the size, elements
 * produced by a C __index, a C function as comparison) every comparison is charged. */
static int charged_sort(lua_State *L)
{
    guard_cstack(L);
    int cmp = lua_type(L, 2);
    if (cmp != LUA_TNONE && cmp != LUA_TNIL && cmp != LUA_TFUNCTION)
        return call_original_checked(L); /* Lua's own error, if the table needs sorting */
    int lua_cmp = cmp == LUA_TFUNCTION && !lua_iscfunction(L, 2);
    if (lua_type(L, 1) == LUA_TTABLE && (cmp != LUA_TFUNCTION || lua_cmp)) {
        if (!lua_getmetatable(L, 1))
            return call_original_checked(L);
        lua_pop(L, 1);
    }
    lua_settop(L, 2);
    lua_pushcclosure(L, charged_compare, 1);
    return call_original_checked(L);
}

/* ---- building the state ------------------------------------------------------------------ */

/* Replaces t[name] (t: library `lib`, at an absolute index) with a C closure fn whose upvalue 1
 * is the previous value. The original stays in the state's own globals table (which no
 * procedure sees) under "lib.name": that is where luaL_argerror finds the name of a function
 * called from C, so the original's argument errors still say "bad argument #2 to 'lib.name'". */
static void wrap_field(lua_State *L, int t, const char *lib, const char *name, lua_CFunction fn)
{
    lua_pushglobaltable(L);
    lua_pushfstring(L, "%s.%s", lib, name);
    lua_getfield(L, t, name);
    lua_rawset(L, -3);
    lua_pop(L, 1);
    lua_getfield(L, t, name);
    lua_pushcclosure(L, fn, 1);
    lua_setfield(L, t, name);
}

/* Shallow copy of the table at `idx`, pushed on the stack. */
static void push_copy(lua_State *L, int idx)
{
    idx = lua_absindex(L, idx);
    lua_newtable(L);
    lua_pushnil(L);
    while (lua_next(L, idx) != 0) {
        lua_pushvalue(L, -2);
        lua_insert(L, -2);
        lua_rawset(L, -4);
    }
}

static const char *const safe_base[] = {
    "assert", "error",  "ipairs",   "next",     "pairs", "rawequal",     "rawget",   "rawlen",
    "rawset", "select", "tonumber", "tostring", "type",  "getmetatable", "_VERSION", NULL,
};

/* Runs inside lua_pcall: opens the libraries, hardens the shared parts. */
static int setup_state(lua_State *L)
{
    luaL_requiref(L, LUA_GNAME, luaopen_base, 1);
    luaL_requiref(L, LUA_STRLIBNAME, luaopen_string, 1);
    luaL_requiref(L, LUA_TABLIBNAME, luaopen_table, 1);
    luaL_requiref(L, LUA_MATHLIBNAME, luaopen_math, 1);
    luaL_requiref(L, LUA_UTF8LIBNAME, luaopen_utf8, 1);
    luaL_requiref(L, LUA_COLIBNAME, luaopen_coroutine, 1);
    luaL_requiref(L, LUA_OSLIBNAME, luaopen_os, 0);
    lua_settop(L, 0);

    /* The original string table is what every string's metatable points at, so harden it in
     * place: no dump, sized rep. Then lock the metatable itself. */
    lua_getglobal(L, LUA_STRLIBNAME);
    lua_pushnil(L);
    lua_setfield(L, 1, "dump");
    wrap_field(L, 1, LUA_STRLIBNAME, "rep", sized_rep);
    wrap_field(L, 1, LUA_STRLIBNAME, "pack", sized_pack);
    wrap_field(L, 1, LUA_STRLIBNAME, "find", linear_find);
    lua_pushliteral(L, "");
    lua_getmetatable(L, -1);
    lua_pushboolean(L, 0);
    lua_setfield(L, -2, "__metatable");
    lua_settop(L, 0);

    lua_getglobal(L, LUA_TABLIBNAME);
    static const luaL_Reg table_fns[] = {{"concat", sized_concat},   {"insert", charged_insert},
                                         {"remove", charged_remove}, {"move", charged_move},
                                         {"unpack", charged_unpack}, {NULL, NULL}};
    luaL_setfuncs(L, table_fns, 0);
    wrap_field(L, 1, LUA_TABLIBNAME, "sort", charged_sort);
    lua_settop(L, 0);

    lua_getglobal(L, LUA_COLIBNAME);
    wrap_field(L, 1, LUA_COLIBNAME, "create", charged_create);
    lua_pushcfunction(L, tracked_wrap);
    lua_setfield(L, 1, "wrap");
    wrap_field(L, 1, LUA_COLIBNAME, "resume", tracked_switch);
    wrap_field(L, 1, LUA_COLIBNAME, "close", tracked_switch);
    lua_settop(L, 0);

    /* Only the clock functions of os survive; the rest of it never enters an environment. */
    lua_newtable(L);
    luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE);
    lua_getfield(L, -1, LUA_OSLIBNAME);
    static const char *const os_keep[] = {"time", "clock", "date", "difftime", NULL};
    for (int i = 0; os_keep[i]; i++) {
        lua_getfield(L, -1, os_keep[i]);
        lua_setfield(L, 1, os_keep[i]);
    }
    lua_pop(L, 1);
    lua_pushnil(L);
    lua_setfield(L, -2, LUA_OSLIBNAME);
    lua_pop(L, 1);
    lua_setfield(L, LUA_REGISTRYINDEX, "tactus.os");
    return 0;
}

void tx_vm_push_sandbox_env(lua_State *L)
{
    lua_newtable(L);
    int env = lua_gettop(L);
    lua_pushglobaltable(L);
    int g = lua_gettop(L);
    for (int i = 0; safe_base[i]; i++) {
        lua_getfield(L, g, safe_base[i]);
        lua_setfield(L, env, safe_base[i]);
    }
    lua_pushcfunction(L, safe_pcall);
    lua_setfield(L, env, "pcall");
    lua_pushcfunction(L, safe_xpcall);
    lua_setfield(L, env, "xpcall");
    lua_pushcfunction(L, safe_setmetatable);
    lua_setfield(L, env, "setmetatable");
    lua_pushcfunction(L, safe_collectgarbage);
    lua_setfield(L, env, "collectgarbage");
    lua_pushvalue(L, env);
    lua_pushcclosure(L, safe_load, 1);
    lua_setfield(L, env, "load");
    static const char *const libs[] = {LUA_STRLIBNAME,  LUA_TABLIBNAME, LUA_MATHLIBNAME,
                                       LUA_UTF8LIBNAME, LUA_COLIBNAME,  NULL};
    for (int i = 0; libs[i]; i++) {
        lua_getfield(L, g, libs[i]);
        push_copy(L, -1);
        lua_setfield(L, env, libs[i]);
        lua_pop(L, 1);
    }
    lua_getfield(L, LUA_REGISTRYINDEX, "tactus.os");
    push_copy(L, -1);
    lua_setfield(L, env, LUA_OSLIBNAME);
    lua_pop(L, 1);
    lua_pushvalue(L, env);
    lua_setfield(L, env, LUA_GNAME);
    lua_settop(L, env);
}

static int panic_handler(lua_State *L)
{
    const char *msg = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : "(non-string)";
    fprintf(stderr, "tactus: unprotected Lua error: %s\n", msg);
    return 0;
}

tx_vm *tx_vm_new(const tx_limits *limits, tactus_alloc_fn alloc, void *alloc_ud, tx_error *err)
{
    if (alloc == NULL)
        alloc = default_alloc;
    tx_vm *vm = alloc(alloc_ud, NULL, 0, sizeof *vm);
    if (vm == NULL) {
        tx_fail(err, TACTUS_ESYSTEM, "out of memory creating the Lua VM");
        return NULL;
    }
    memset(vm, 0, sizeof *vm);
    vm->alloc = alloc;
    vm->alloc_ud = alloc_ud;
    vm->limits = *limits;
    vm->tripped = -1;
    vm->cstack_base = (uintptr_t)__builtin_frame_address(0);
    vm->L = lua_newstate(vm_alloc, vm);
    if (vm->L == NULL) {
        alloc(alloc_ud, vm, sizeof *vm, 0);
        tx_fail(err, TACTUS_ESYSTEM, "out of memory creating the Lua VM");
        return NULL;
    }
    lua_atpanic(vm->L, panic_handler);
    lua_pushcfunction(vm->L, setup_state);
    if (lua_pcall(vm->L, 0, 0, 0) != LUA_OK) {
        tx_fail(err, TACTUS_ESYSTEM, "cannot set up the Lua VM: %s",
                lua_type(vm->L, -1) == LUA_TSTRING ? lua_tostring(vm->L, -1) : "?");
        tx_vm_free(vm);
        return NULL;
    }
    uint64_t timeout_ms = limits->allowed[TX_LIMIT_TIMEOUT];
    if (timeout_ms != 0) {
        clock_gettime(CLOCK_MONOTONIC, &vm->deadline);
        vm->deadline.tv_sec += (time_t)(timeout_ms / 1000);
        vm->deadline.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
        if (vm->deadline.tv_nsec >= 1000000000L) {
            vm->deadline.tv_sec++;
            vm->deadline.tv_nsec -= 1000000000L;
        }
        vm->has_deadline = 1;
    }
    /* Set before any procedure code or coroutine exists: new threads copy the hook. */
    lua_sethook(vm->L, count_hook, LUA_MASKCOUNT, HOOK_PERIOD);
    vm->current = vm->L;
    return vm;
}

static void on_tick(int sig)
{
    (void)sig;
    tx_vm *vm = tick_vm;
    if (vm != NULL && vm->current != NULL)
        lua_sethook(vm->current, count_hook, LUA_MASKCOUNT, 1);
}

int tx_vm_start_ticks(tx_vm *vm, tx_error *err)
{
    if (vm->limits.allowed[TX_LIMIT_INSTRUCTIONS] != 0)
        return 0; /* an instruction budget needs the exact count hook */
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_tick;
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    struct itimerval every = {{0, TICK_USEC}, {0, TICK_USEC}};
    tick_vm = vm;
    if (sigaction(SIGALRM, &sa, NULL) != 0 || setitimer(ITIMER_REAL, &every, NULL) != 0) {
        tick_vm = NULL;
        return tx_fail(err, TACTUS_ESYSTEM, "cannot start the VM's tick timer");
    }
    vm->ticking = 1;
    lua_sethook(vm->L, NULL, 0, 0); /* no per-instruction cost from here on */
    return 0;
}

void tx_vm_free(tx_vm *vm)
{
    if (vm == NULL)
        return;
    if (vm->ticking) {
        /* A late tick must not touch freed memory. The timer itself keeps running (seccomp
         * may forbid setitimer by now); the handler does nothing without a VM. */
        tick_vm = NULL;
    }
    if (vm->L != NULL) {
        /* Finalizers cannot exist (setmetatable refuses __gc), so closing runs no procedure
         * code. */
        lua_close(vm->L);
    }
    vm->alloc(vm->alloc_ud, vm, sizeof *vm, 0);
}

lua_State *tx_vm_state(tx_vm *vm)
{
    return vm->L;
}

int tx_vm_tripped(const tx_vm *vm)
{
    return vm->tripped;
}

const char *tx_vm_trip_message(const tx_vm *vm)
{
    return vm->trip_message;
}

uint64_t tx_vm_used(const tx_vm *vm, tx_limit_id id)
{
    return vm->used[id];
}

uint64_t tx_vm_allowed(const tx_vm *vm, tx_limit_id id)
{
    return vm->limits.allowed[id];
}
