/* test_vm.c - the restricted VM: safe library surface, limits, and the hook bypasses. */
#include <check.h>

#include "check_main.h"
#include <lauxlib.h>
#include <string.h>

#include "tx_limits.h"
#include "vm.h"

/* Runs `code` in a fresh VM with the given limits; returns the lua status and leaves the
 * message (or first result, as a string) in msg. */
static int run_code(const char *code, tx_limits *limits, char *msg, size_t cap, tx_vm **out_vm)
{
    tx_error err;
    tx_vm *vm = tx_vm_new(limits, NULL, NULL, &err);
    ck_assert_ptr_nonnull(vm);
    lua_State *L = tx_vm_state(vm);
    int rc = luaL_loadbufferx(L, code, strlen(code), "=test", "t");
    if (rc == LUA_OK) {
        tx_vm_push_sandbox_env(L);
        lua_setupvalue(L, -2, 1);
        rc = lua_pcall(L, 0, 1, 0);
    }
    const char *s = lua_type(L, -1) == LUA_TSTRING    ? lua_tostring(L, -1)
                    : lua_type(L, -1) == LUA_TBOOLEAN ? (lua_toboolean(L, -1) ? "true" : "false")
                                                      : lua_typename(L, lua_type(L, -1));
    snprintf(msg, cap, "%s", s);
    if (out_vm)
        *out_vm = vm;
    else
        tx_vm_free(vm);
    return rc;
}

static tx_limits defaults(void)
{
    tx_limits l;
    tx_limits_default(&l);
    l.allowed[TX_LIMIT_TIMEOUT] = 10000;
    return l;
}

START_TEST(absent_globals)
{
    static const char *const absent[] = {"io",      "debug",       "package",    "require",
                                         "dofile",  "loadfile",    "os.execute", "os.getenv",
                                         "os.exit", "string.dump", "os.remove",  NULL};
    for (int i = 0; absent[i]; i++) {
        char code[128], msg[256];
        snprintf(code, sizeof code, "return %s == nil", absent[i]);
        tx_limits l = defaults();
        ck_assert_int_eq(run_code(code, &l, msg, sizeof msg, NULL), LUA_OK);
        ck_assert_msg(strcmp(msg, "true") == 0, "%s should be absent", absent[i]);
    }
}
END_TEST

START_TEST(load_is_text_only_and_sandboxed)
{
    char msg[256];
    tx_limits l = defaults();
    ck_assert_int_eq(run_code("return select(2, load('\\27Lua'))", &l, msg, sizeof msg, NULL),
                     LUA_OK);
    ck_assert_ptr_nonnull(strstr(msg, "binary"));
    ck_assert_int_eq(run_code("return load('return io')() == nil", &l, msg, sizeof msg, NULL),
                     LUA_OK);
    ck_assert_str_eq(msg, "true");
    ck_assert_int_eq(
        run_code("return load(function() return 'x' end) ~= nil", &l, msg, sizeof msg, NULL),
        LUA_ERRRUN);
}
END_TEST

START_TEST(string_metatable_locked)
{
    char msg[256];
    tx_limits l = defaults();
    ck_assert_int_eq(run_code("return getmetatable('') == false", &l, msg, sizeof msg, NULL),
                     LUA_OK);
    ck_assert_str_eq(msg, "true");
    ck_assert_int_eq(run_code("setmetatable(getmetatable(''), {})", &l, msg, sizeof msg, NULL),
                     LUA_ERRRUN);
}
END_TEST

START_TEST(gc_metatables_refused)
{
    char msg[256];
    tx_limits l = defaults();
    ck_assert_int_eq(run_code("setmetatable({}, {__gc = true})", &l, msg, sizeof msg, NULL),
                     LUA_ERRRUN);
    ck_assert_ptr_nonnull(strstr(msg, "__gc"));
    ck_assert_int_eq(run_code("return collectgarbage('collect')", &l, msg, sizeof msg, NULL),
                     LUA_ERRRUN);
    ck_assert_int_eq(run_code("return type(collectgarbage('count'))", &l, msg, sizeof msg, NULL),
                     LUA_OK);
    ck_assert_str_eq(msg, "number");
}
END_TEST

/* A tripped limit cannot be caught: pcall, xpcall handlers and coroutines re-raise it. */
START_TEST(instruction_budget_is_uncatchable)
{
    static const char *const loops[] = {
        "while true do end",
        "while true do pcall(function() while true do end end) end",
        "xpcall(function() while true do end end, function() while true do end end)",
        "while true do coroutine.wrap(function() for i = 1, 900 do end end)() end",
        "while true do local co = coroutine.create(function() while true do end end) "
        "coroutine.resume(co) end",
        NULL};
    for (int i = 0; loops[i]; i++) {
        char msg[256];
        tx_limits l = defaults();
        l.allowed[TX_LIMIT_INSTRUCTIONS] = 200000;
        tx_vm *vm = NULL;
        ck_assert_int_ne(run_code(loops[i], &l, msg, sizeof msg, &vm), LUA_OK);
        ck_assert_int_eq(tx_vm_tripped(vm), TX_LIMIT_INSTRUCTIONS);
        ck_assert_ptr_nonnull(strstr(msg, "instructions limit exceeded"));
        tx_vm_free(vm);
    }
}
END_TEST

START_TEST(memory_limit)
{
    char msg[256];
    tx_limits l = defaults();
    l.allowed[TX_LIMIT_MEMORY] = 4u << 20;
    tx_vm *vm = NULL;
    ck_assert_int_ne(
        run_code("local t = {} for i = 1, 1e8 do t[i] = i end", &l, msg, sizeof msg, &vm), LUA_OK);
    ck_assert_int_eq(tx_vm_tripped(vm), TX_LIMIT_MEMORY);
    ck_assert_uint_le(tx_vm_used(vm, TX_LIMIT_MEMORY), (4u << 20) + (1u << 20));
    tx_vm_free(vm);
    /* Caught by pcall: still the memory limit. */
    l = defaults();
    l.allowed[TX_LIMIT_MEMORY] = 4u << 20;
    ck_assert_int_ne(
        run_code("local ok = pcall(function() local s = 'x' for i = 1, 40 do s = s .. s "
                 "end end) return ok",
                 &l, msg, sizeof msg, &vm),
        LUA_OK);
    ck_assert_int_eq(tx_vm_tripped(vm), TX_LIMIT_MEMORY);
    tx_vm_free(vm);
}
END_TEST

START_TEST(string_limit_before_work)
{
    char msg[256];
    tx_limits l = defaults();
    l.allowed[TX_LIMIT_STRING] = 1u << 20;
    tx_vm *vm = NULL;
    ck_assert_int_ne(run_code("return ('x'):rep(1 << 40)", &l, msg, sizeof msg, &vm), LUA_OK);
    ck_assert_int_eq(tx_vm_tripped(vm), TX_LIMIT_STRING);
    tx_vm_free(vm);
    l = defaults();
    l.allowed[TX_LIMIT_STRING] = 1u << 20;
    ck_assert_int_ne(run_code("local t = {} for i = 1, 3000 do t[i] = ('y'):rep(1000) end "
                              "return table.concat(t)",
                              &l, msg, sizeof msg, &vm),
                     LUA_OK);
    ck_assert_int_eq(tx_vm_tripped(vm), TX_LIMIT_STRING);
    tx_vm_free(vm);
}
END_TEST

START_TEST(depth_limit)
{
    char msg[256];
    tx_limits l = defaults();
    l.allowed[TX_LIMIT_DEPTH] = 100;
    tx_vm *vm = NULL;
    ck_assert_int_ne(run_code("local function f(n) return 1 + f(n + 1) end return f(1)", &l, msg,
                              sizeof msg, &vm),
                     LUA_OK);
    ck_assert_int_eq(tx_vm_tripped(vm), TX_LIMIT_DEPTH);
    tx_vm_free(vm);
}
END_TEST

START_TEST(deadline)
{
    char msg[256];
    tx_limits l = defaults();
    l.allowed[TX_LIMIT_TIMEOUT] = 100;
    tx_vm *vm = NULL;
    ck_assert_int_ne(run_code("while true do end", &l, msg, sizeof msg, &vm), LUA_OK);
    ck_assert_int_eq(tx_vm_tripped(vm), TX_LIMIT_TIMEOUT);
    tx_vm_free(vm);
}
END_TEST

START_TEST(libraries_are_private_copies)
{
    char msg[256];
    tx_limits l = defaults();
    /* Changing the procedure's string table does not change string methods. */
    ck_assert_int_eq(
        run_code("string.upper = nil; return ('a'):upper()", &l, msg, sizeof msg, NULL), LUA_OK);
    ck_assert_str_eq(msg, "A");
}
END_TEST

START_TEST(ordinary_code_works)
{
    char msg[256];
    tx_limits l = defaults();
    ck_assert_int_eq(
        run_code("local co = coroutine.wrap(function(a) local b = coroutine.yield(a + 1) "
                 "return b * 2 end) local x = co(1) return tostring(x + co(10))",
                 &l, msg, sizeof msg, NULL),
        LUA_OK);
    ck_assert_str_eq(msg, "22");
    ck_assert_int_eq(
        run_code("local ok, e = pcall(error, 'boom') return e", &l, msg, sizeof msg, NULL), LUA_OK);
    ck_assert_str_eq(msg, "boom");
    ck_assert_int_eq(run_code("return select(2, xpcall(error, function(m) return 'handled ' .. m "
                              "end, 'x'))",
                              &l, msg, sizeof msg, NULL),
                     LUA_OK);
    ck_assert_str_eq(msg, "handled x");
}
END_TEST

/* coroutine.wrap re-entered from a __close handler of its own (running) coroutine: refused like
 * stock Lua ("cannot resume non-suspended coroutine"), and the coroutine is left intact. */
START_TEST(wrap_reentry_from_close)
{
    char msg[256];
    tx_limits l = defaults();
    ck_assert_int_eq(run_code("local f, inner f = coroutine.wrap(function() "
                              "  local x <close> = setmetatable({}, {__close = function() "
                              "    local ok, e = pcall(f) inner = tostring(ok) .. ' ' .. e "
                              "    coroutine.yield('y') end}) "
                              "  coroutine.yield('a') return 'done' end) "
                              "local a = f() local b = f() local c = f() "
                              "local ok, d = pcall(f) "
                              "return table.concat({a, inner, b, c, tostring(ok), d}, '|')",
                              &l, msg, sizeof msg, NULL),
                     LUA_OK);
    ck_assert_str_eq(msg, "a|false cannot resume non-suspended coroutine|y|done|false|cannot "
                          "resume dead coroutine");
}
END_TEST

/* Each __close handler closes the next coroutine: C recursion Lua 5.4.4 does not count. The VM
 * ends it as the `depth` limit instead of overflowing the C stack. */
START_TEST(close_nesting_is_depth_limit)
{
    static const char *const calls[] = {"coroutine.close(nxt)", "pcall(coroutine.close, nxt)",
                                        "coroutine.wrap(function() coroutine.close(nxt) end)()",
                                        NULL};
    for (int i = 0; calls[i]; i++) {
        char code[1024], msg[512];
        snprintf(code, sizeof code,
                 "local cos = {} for i = 1, 60000 do "
                 "  local co = coroutine.create(function() "
                 "    local x <close> = setmetatable({}, {__close = function() "
                 "      local nxt = cos[i + 1] if nxt then %s end end}) "
                 "    coroutine.yield() end) "
                 "  coroutine.resume(co) cos[i] = co end "
                 "coroutine.close(cos[1])",
                 calls[i]);
        tx_limits l = defaults();
        tx_vm *vm = NULL;
        ck_assert_int_ne(run_code(code, &l, msg, sizeof msg, &vm), LUA_OK);
        ck_assert_int_eq(tx_vm_tripped(vm), TX_LIMIT_DEPTH);
        ck_assert_ptr_nonnull(strstr(msg, "C stack"));
        tx_vm_free(vm);
    }
}
END_TEST

/* Library calls whose work is not bounded by the size of their arguments. */
static const char *const unbounded_calls[] = {
    "table.move({}, 1, math.maxinteger - 1, 2, {})",
    "table.insert(setmetatable({}, {__len = function() return math.maxinteger - 1 end}), 1, 0)",
    "table.remove(setmetatable({}, {__len = function() return math.maxinteger end}), 1)",
    "table.sort(setmetatable({}, {__len = function() return (1 << 31) - 2 end, "
    "__index = rawlen, __newindex = rawequal}))",
    "table.sort(setmetatable({}, {__len = function() return (1 << 31) - 2 end, "
    "__index = rawlen, __newindex = rawequal}), math.type)",
    "for i = 1, 1e9 do table.unpack({}, 1, 900000) end",
    "local t = setmetatable({}, {__index = function() return '' end, "
    "__len = function() return math.maxinteger end}) table.concat(t)",
    NULL};

/* ... charge the instruction budget for the work they do. */
START_TEST(library_work_is_charged)
{
    for (int i = 0; unbounded_calls[i]; i++) {
        char msg[256];
        tx_limits l = defaults();
        l.allowed[TX_LIMIT_INSTRUCTIONS] = 1000000;
        tx_vm *vm = NULL;
        ck_assert_int_ne(run_code(unbounded_calls[i], &l, msg, sizeof msg, &vm), LUA_OK);
        ck_assert_msg(tx_vm_tripped(vm) == TX_LIMIT_INSTRUCTIONS, "%s: %s", unbounded_calls[i],
                      msg);
        tx_vm_free(vm);
    }
}
END_TEST

/* ... and without a budget, in-process (nothing outside the VM kills it), look at the clock. */
START_TEST(library_work_sees_deadline)
{
    for (int i = 0; unbounded_calls[i]; i++) {
        char msg[256];
        tx_limits l = defaults();
        l.allowed[TX_LIMIT_TIMEOUT] = 200;
        tx_vm *vm = NULL;
        ck_assert_int_ne(run_code(unbounded_calls[i], &l, msg, sizeof msg, &vm), LUA_OK);
        ck_assert_msg(tx_vm_tripped(vm) == TX_LIMIT_TIMEOUT, "%s: %s", unbounded_calls[i], msg);
        tx_vm_free(vm);
    }
}
END_TEST

/* string.rep of nothing is "" at once (Lua loops n times building nothing). */
START_TEST(rep_of_empty_is_immediate)
{
    char msg[256];
    tx_limits l = defaults();
    ck_assert_int_eq(run_code("return #string.rep('', math.maxinteger) .. #('')"
                              ":rep(math.maxinteger, '')",
                              &l, msg, sizeof msg, NULL),
                     LUA_OK);
    ck_assert_str_eq(msg, "00");
}
END_TEST

/* table.concat checks the size of the string as it builds it, reading elements the way Lua
 * does (__index, __len); string.pack checks its `cN` padding. */
START_TEST(string_limit_as_built)
{
    static const char *const builders[] = {
        "local c = ('x'):rep(1000) return table.concat(setmetatable({}, {__index = function() "
        "return c end, __len = function() return 20000 end}))",
        "return table.concat(setmetatable({}, {__index = tostring, __len = function() return "
        "math.maxinteger end}), ',')",
        "return table.concat({('x'):rep(600000)}, ('y'):rep(600000), 1, 2)",
        "return string.pack('c1000000000', '')",
        "return ('c2000000'):pack('')",
        NULL};
    for (int i = 0; builders[i]; i++) {
        char msg[256];
        tx_limits l = defaults();
        l.allowed[TX_LIMIT_STRING] = 1u << 20;
        tx_vm *vm = NULL;
        ck_assert_int_ne(run_code(builders[i], &l, msg, sizeof msg, &vm), LUA_OK);
        ck_assert_msg(tx_vm_tripped(vm) == TX_LIMIT_STRING, "%s: %s", builders[i], msg);
        tx_vm_free(vm);
    }
}
END_TEST

/* Lua's own bound of 200 nested C calls, reached through any path, is the `depth` limit: the
 * procedure cannot catch "C stack overflow" and go on. */
START_TEST(c_levels_are_depth_limit)
{
    static const char *const nestings[] = {
        "local function f() local ok, e = pcall(f) return e end return f()",
        "local function f() return select(2, xpcall(f, function() return 'hidden' end)) end "
        "return f()",
        "local function f() return select(2, pcall(string.gsub, 'a', 'a', f)) end return f()",
        "local mt = {} mt.__tostring = function() return tostring(setmetatable({}, mt)) end "
        "return select(2, pcall(tostring, setmetatable({}, mt)))",
        "local function f() return select(2, coroutine.resume(coroutine.create(f))) end "
        "return f()",
        "local function f() return coroutine.wrap(f)() end return select(2, pcall(f))",
        "return select(2, load('return ' .. ('('):rep(100000) .. '1' .. (')'):rep(100000)))",
        "local mt = {} mt.__index = function(t, k) return setmetatable({}, mt)[k] end "
        "return select(2, pcall(function() return setmetatable({}, mt).x end))",
        "local function f(a, b) pcall(table.sort, {3, 2, 1}, f) return a < b end "
        "return select(2, pcall(table.sort, {3, 2, 1}, f))",
        NULL};
    for (int i = 0; nestings[i]; i++) {
        char msg[256];
        tx_limits l = defaults();
        tx_vm *vm = NULL;
        ck_assert_int_ne(run_code(nestings[i], &l, msg, sizeof msg, &vm), LUA_OK);
        ck_assert_msg(tx_vm_tripped(vm) == TX_LIMIT_DEPTH, "%s: %s", nestings[i], msg);
        ck_assert_ptr_nonnull(strstr(msg, "C stack overflow"));
        tx_vm_free(vm);
    }
}
END_TEST

/* A plain string.find is linear, not |s| * |p| (in-process, nothing else would stop it). */
START_TEST(plain_find_is_linear)
{
    char msg[256];
    tx_limits l = defaults();
    ck_assert_int_eq(run_code("local hay, needle = ('a'):rep(8000000), ('a'):rep(4000000) .. 'b' "
                              "return tostring(hay:find(needle, 1, true)) .. ' ' .. "
                              "tostring(hay:find(needle)) .. ' ' .. hay:find('aaa', -3)",
                              &l, msg, sizeof msg, NULL),
                     LUA_OK);
    ck_assert_str_eq(msg, "nil nil 7999998");
}
END_TEST

static Suite *vm_suite(void)
{
    Suite *s = suite_create("vm");
    TCase *tc = tcase_create("vm");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, absent_globals);
    tcase_add_test(tc, load_is_text_only_and_sandboxed);
    tcase_add_test(tc, string_metatable_locked);
    tcase_add_test(tc, gc_metatables_refused);
    tcase_add_test(tc, instruction_budget_is_uncatchable);
    tcase_add_test(tc, memory_limit);
    tcase_add_test(tc, string_limit_before_work);
    tcase_add_test(tc, depth_limit);
    tcase_add_test(tc, deadline);
    tcase_add_test(tc, libraries_are_private_copies);
    tcase_add_test(tc, ordinary_code_works);
    tcase_add_test(tc, wrap_reentry_from_close);
    tcase_add_test(tc, close_nesting_is_depth_limit);
    tcase_add_test(tc, library_work_is_charged);
    tcase_add_test(tc, library_work_sees_deadline);
    tcase_add_test(tc, rep_of_empty_is_immediate);
    tcase_add_test(tc, string_limit_as_built);
    tcase_add_test(tc, plain_find_is_linear);
    tcase_add_test(tc, c_levels_are_depth_limit);
    suite_add_tcase(s, tc);
    return s;
}

TX_CHECK_MAIN(vm_suite)
