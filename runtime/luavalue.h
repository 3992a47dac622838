/*
 * luavalue.h - converting between Lua values and JSON (jansson) at the trust boundary.
 *
 * Lua -> JSON reads procedure values with raw access only (lua_rawget/lua_next): no
 * metamethod of a hostile value ever runs on the host side. A table whose keys are exactly
 * 1..n becomes an array; any other table (and the empty table) an object. Integers stay JSON
 * integers and floats stay reals. Cycles, nesting deeper than TX_VALUE_MAX_DEPTH, more than
 * TX_VALUE_MAX_NODES values, functions, userdata, threads, NaN/inf and non-string/non-integer
 * keys are refused with an error that says where in the value the problem is ("output.items[3]:
 * functions cannot be converted to JSON").
 */
#ifndef TX_LUAVALUE_H
#define TX_LUAVALUE_H

#include <jansson.h>
#include <lua.h>

#include "tx_error.h"

#define TX_VALUE_MAX_DEPTH 100
#define TX_VALUE_MAX_NODES 1000000

/*
 * Converts the value at idx to JSON; `what` names the value in messages ("output"). Runs in a
 * protected call, so it is safe on any value and under memory pressure. Returns 0 and a new
 * reference in *out, or -1 with err set (status TACTUS_EPROC).
 */
int tx_lua_to_json(lua_State *L, int idx, const char *what, json_t **out, tx_error *err);

/*
 * Pushes the Lua form of a JSON value: objects and arrays become tables, null becomes nil.
 * Raises a Lua error when nesting passes TX_VALUE_MAX_DEPTH. Call from Lua context (a C
 * function or protected call).
 */
void tx_json_push(lua_State *L, const json_t *value);

/* Like tx_json_push inside a protected call: returns 0 with the value pushed, or -1 with err
 * set and nothing pushed (too deep, out of memory). */
int tx_json_push_protected(lua_State *L, const json_t *value, tx_error *err);

/*
 * The journal encoding: like tx_lua_to_json, but every value a procedure can journal comes back
 * exactly: NaN, infinities and -0.0 as {"$f": "nan" | "inf" | "-inf" | "-0"}, strings that are
 * not UTF-8 as {"$b": "<base64>"}, and tables whose keys are not all plain strings (numbers,
 * booleans, keys starting with '$') as {"$t": [[key, value], ...]}. Functions, userdata,
 * threads, table keys that are tables, cycles and oversized values are refused.
 */
int tx_lua_to_journal(lua_State *L, int idx, const char *what, json_t **out, tx_error *err);

/* Pushes a value in the journal encoding (raises on a malformed one; call protected). */
void tx_journal_push(lua_State *L, const json_t *value);

/* tx_journal_push inside a protected call: 0 with the value pushed, or -1 with err set. */
int tx_journal_push_protected(lua_State *L, const json_t *value, tx_error *err);

#endif
