/* test_luavalue.c - Lua <-> JSON at the trust boundary: raw access, caps, exact journal form. */
#include <check.h>

#include "check_main.h"
#include <lauxlib.h>
#include <lualib.h>
#include <math.h>
#include <string.h>

#include "luavalue.h"

static lua_State *state(void)
{
    lua_State *L = luaL_newstate();
    luaL_openlibs(L);
    return L;
}

/* Evaluates `expr` and converts the value; returns the compact JSON text (caller frees) or
 * NULL with the error message copied into msg. */
static char *convert(lua_State *L, const char *expr, int exact, char *msg, size_t cap)
{
    char code[1024];
    snprintf(code, sizeof code, "return %s", expr);
    ck_assert_int_eq(luaL_dostring(L, code), 0);
    json_t *v = NULL;
    tx_error err;
    tx_error_clear(&err);
    int rc = exact ? tx_lua_to_journal(L, -1, "v", &v, &err) : tx_lua_to_json(L, -1, "v", &v, &err);
    lua_pop(L, 1);
    if (rc != 0) {
        snprintf(msg, cap, "%.200s", err.message);
        return NULL;
    }
    char *text = json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
    json_decref(v);
    return text;
}

START_TEST(arrays_objects_numbers)
{
    lua_State *L = state();
    char msg[256];
    struct {
        const char *expr, *json;
    } cases[] = {
        {"{1, 2, 3}", "[1,2,3]"},
        {"{}", "{}"},
        {"{a = 1, b = 2.5}", "{\"a\":1,\"b\":2.5}"},
        {"{[1] = 'x', [3] = 'y'}", "{\"1\":\"x\",\"3\":\"y\"}"},
        {"4.0", "4.0"},
        {"4", "4"},
        {"math.maxinteger", "9223372036854775807"},
        {"{nested = {deep = {true, false}}}", "{\"nested\":{\"deep\":[true,false]}}"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *t = convert(L, cases[i].expr, 0, msg, sizeof msg);
        ck_assert_msg(t != NULL, "%s: %s", cases[i].expr, msg);
        ck_assert_str_eq(t, cases[i].json);
        free(t);
    }
    lua_close(L);
}
END_TEST

START_TEST(refusals_name_the_path)
{
    lua_State *L = state();
    char msg[256];
    ck_assert_ptr_null(convert(L, "{a = {b = print}}", 0, msg, sizeof msg));
    ck_assert_ptr_nonnull(strstr(msg, "v.a.b"));
    ck_assert_ptr_nonnull(strstr(msg, "function"));
    ck_assert_ptr_null(convert(L, "0/0", 0, msg, sizeof msg));
    ck_assert_ptr_nonnull(strstr(msg, "NaN"));
    ck_assert_ptr_null(convert(L, "'\\255'", 0, msg, sizeof msg));
    ck_assert_ptr_nonnull(strstr(msg, "UTF-8"));
    ck_assert_int_eq(luaL_dostring(L, "cyc = {} cyc.self = cyc"), 0);
    ck_assert_ptr_null(convert(L, "cyc", 0, msg, sizeof msg));
    ck_assert_ptr_nonnull(strstr(msg, "nested too deeply"));
    ck_assert_ptr_null(convert(L, "{[true] = 1}", 0, msg, sizeof msg));
    ck_assert_ptr_nonnull(strstr(msg, "boolean"));
    lua_close(L);
}
END_TEST

/* Metamethods never run on the host side: __index/__pairs are ignored, raw contents used. */
START_TEST(no_metamethods)
{
    lua_State *L = state();
    char msg[256];
    ck_assert_int_eq(luaL_dostring(L, "hits = 0 t = setmetatable({x = 1}, {__index = function() "
                                      "hits = hits + 1 end, __pairs = function() hits = hits + 1 "
                                      "error('no') end, __len = function() error('no') end})"),
                     0);
    char *text = convert(L, "t", 0, msg, sizeof msg);
    ck_assert_str_eq(text, "{\"x\":1}");
    free(text);
    lua_getglobal(L, "hits");
    ck_assert_int_eq(lua_tointeger(L, -1), 0);
    lua_close(L);
}
END_TEST

/* The journal form brings back what JSON cannot hold, exactly. */
START_TEST(exact_round_trip)
{
    lua_State *L = state();
    char msg[256];
    const char *expr =
        "{nan = 0/0, inf = 1/0, ninf = -1/0, nz = -0.0, bytes = '\\255\\0x', "
        "mixed = {[1] = 'a', [true] = 'b', [2.5] = 'c', ['$k'] = 'd'}, f = 4.0, i = 4}";
    char code[1024];
    snprintf(code, sizeof code, "return %s", expr);
    ck_assert_int_eq(luaL_dostring(L, code), 0);
    json_t *v = NULL;
    tx_error err;
    ck_assert_int_eq(tx_lua_to_journal(L, -1, "v", &v, &err), 0);
    lua_pop(L, 1);
    /* Through text and back, as the journal does. */
    char *text = json_dumps(v, JSON_COMPACT);
    json_decref(v);
    v = json_loads(text, 0, NULL);
    free(text);
    ck_assert_ptr_nonnull(v);
    ck_assert_int_eq(tx_journal_push_protected(L, v, &err), 0);
    json_decref(v);
    lua_setglobal(L, "r");
    ck_assert_int_eq(
        luaL_dostring(L,
                      "return r.nan ~= r.nan and r.inf == 1/0 and r.ninf == -1/0 and "
                      "1/r.nz == -1/0 and r.bytes == '\\255\\0x' and r.mixed[1] == 'a' and "
                      "r.mixed[true] == 'b' and r.mixed[2.5] == 'c' and r.mixed['$k'] == 'd' and "
                      "math.type(r.f) == 'float' and math.type(r.i) == 'integer'"),
        0);
    ck_assert(lua_toboolean(L, -1));
    ck_assert_ptr_null(convert(L, "{f = print}", 1, msg, sizeof msg));
    ck_assert_ptr_null(convert(L, "{[{}] = 1}", 1, msg, sizeof msg));
    lua_close(L);
}
END_TEST

START_TEST(json_to_lua_depth_cap)
{
    lua_State *L = state();
    char deep[4096];
    size_t n = 0;
    for (int i = 0; i < 500; i++)
        deep[n++] = '[';
    for (int i = 0; i < 500; i++)
        deep[n++] = ']';
    deep[n] = '\0';
    json_t *v = json_loads(deep, 0, NULL);
    ck_assert_ptr_nonnull(v);
    tx_error err;
    ck_assert_int_eq(tx_json_push_protected(L, v, &err), -1);
    ck_assert_ptr_nonnull(strstr(err.message, "too deeply"));
    json_decref(v);
    lua_close(L);
}
END_TEST

/* Embedded NUL bytes survive both ways, in plain and journal form (issue 9). */
START_TEST(nul_bytes_both_ways)
{
    lua_State *L = state();
    const char *text = "{\"s\": \"a\\u0000b\"}";
    json_t *v = json_loadb(text, strlen(text), JSON_ALLOW_NUL, NULL);
    ck_assert_ptr_nonnull(v);
    for (int exact = 0; exact < 2; exact++) {
        if (exact)
            tx_journal_push(L, v);
        else
            tx_json_push(L, v);
        lua_getfield(L, -1, "s");
        size_t len = 0;
        const char *str = lua_tolstring(L, -1, &len);
        ck_assert_uint_eq(len, 3);
        ck_assert_int_eq(memcmp(str, "a\0b", 3), 0);
        lua_pop(L, 1);
        json_t *back = NULL;
        tx_error err;
        tx_error_clear(&err);
        int rc = exact ? tx_lua_to_journal(L, -1, "v", &back, &err)
                       : tx_lua_to_json(L, -1, "v", &back, &err);
        ck_assert_int_eq(rc, 0);
        ck_assert_uint_eq(json_string_length(json_object_get(back, "s")), 3);
        ck_assert(json_equal(back, v));
        json_decref(back);
        lua_pop(L, 1);
    }
    json_decref(v);
    lua_close(L);
}
END_TEST

/* Object keys come out sorted whatever order the table's hash gives (issue 9). */
START_TEST(object_keys_sorted)
{
    lua_State *L = state();
    ck_assert_int_eq(luaL_dostring(L, "local t = {} for i = 30, 1, -1 do t['k' .. i] = { z = 1, "
                                      "a = 2, m = 3 } end return t"),
                     0);
    json_t *v = NULL;
    tx_error err;
    tx_error_clear(&err);
    ck_assert_int_eq(tx_lua_to_json(L, -1, "v", &v, &err), 0);
    const char *key, *prev = NULL;
    json_t *x;
    json_object_foreach(v, key, x)
    {
        ck_assert_msg(prev == NULL || strcmp(prev, key) < 0, "%s before %s", prev, key);
        prev = key;
        const char *inner = NULL, *k2;
        json_t *y;
        json_object_foreach(x, k2, y)
        {
            ck_assert(inner == NULL || strcmp(inner, k2) < 0);
            inner = k2;
        }
    }
    json_decref(v);
    lua_close(L);
}
END_TEST

static Suite *luavalue_suite(void)
{
    Suite *s = suite_create("luavalue");
    TCase *tc = tcase_create("luavalue");
    tcase_add_test(tc, arrays_objects_numbers);
    tcase_add_test(tc, refusals_name_the_path);
    tcase_add_test(tc, no_metamethods);
    tcase_add_test(tc, exact_round_trip);
    tcase_add_test(tc, json_to_lua_depth_cap);
    tcase_add_test(tc, nul_bytes_both_ways);
    tcase_add_test(tc, object_keys_sorted);
    suite_add_tcase(s, tc);
    return s;
}

TX_CHECK_MAIN(luavalue_suite)
