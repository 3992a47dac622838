/*
 * prims.c - the private C functions behind the procedure language (the `tx` table that
 * lua/prelude.lua receives). Each one is the single place where Lua values cross into the
 * host: everything is converted with raw access (luavalue.c) and charged against its limit.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <lauxlib.h>
#include <math.h>
#include <string.h>
#include <sodium.h>
#include <time.h>

#include "luavalue.h"
#include "protocol.h"
#include "runner.h"

/* Largest serialized Host.call arguments, log event or other message the runner may send: well
 * under the frame limit, so an oversized value is a clean error here, not a broken channel. */
#define MESSAGE_MAX (1u << 20)

/* Raises a message without a position prefix (the prelude adds the procedure's line). */
static int raise_plain(lua_State *L, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    lua_pushvfstring(L, fmt, ap);
    va_end(ap);
    return lua_error(L);
}

static tx_runner *runner_of(lua_State *L)
{
    return lua_touserdata(L, lua_upvalueindex(1));
}

/* Raises after a broken channel: the run cannot continue without its broker. */
static int channel_lost(lua_State *L, tx_runner *r, const tx_error *err)
{
    r->channel_broken = 1;
    snprintf(r->channel_error, sizeof r->channel_error, "%s", err->message);
    return luaL_error(L, "connection to the broker lost: %s", err->message);
}

/* Converts the value at idx or raises the conversion error as a Lua error. */
static json_t *to_json_or_raise(lua_State *L, int idx, const char *what)
{
    tx_error err;
    json_t *v = NULL;
    tx_error_clear(&err);
    if (tx_lua_to_json(L, idx, what, &v, &err) != 0) {
        tx_vm_check(L);
        luaL_error(L, "%s", err.message);
    }
    return v;
}

/* tx.emit(kind, fields): one event to the broker, charged against the output limit. */
static int prim_emit(lua_State *L)
{
    tx_runner *r = runner_of(L);
    const char *kind = luaL_checkstring(L, 1);
    luaL_checktype(L, 2, LUA_TTABLE);
    json_t *event = to_json_or_raise(L, 2, kind);
    if (!json_is_object(event)) {
        json_decref(event);
        event = json_object();
        if (event == NULL)
            return luaL_error(L, "out of memory");
    }
    json_object_set_new(event, "type", json_string(kind));
    size_t size = json_dumpb(event, NULL, 0, JSON_COMPACT);
    /* Charged before sending: an event past the output limit is never delivered. */
    tx_vm_charge_noraise(L, TX_LIMIT_OUTPUT, size);
    if (tx_vm_tripped(r->vm) >= 0 || size > MESSAGE_MAX) {
        json_decref(event);
        tx_vm_check(L);
        return raise_plain(L, "%s event is %d bytes; the largest allowed is %d", kind, (int)size,
                           (int)MESSAGE_MAX);
    }
    tx_error err;
    tx_error_clear(&err);
    json_t *params = json_pack("{s:o}", "event", event);
    int rc = params
                 ? r->args->channel.notify(r->args->channel.ud, TX_METHOD_EVENTS_EMIT, params, &err)
                 : tx_fail(&err, TACTUS_ESYSTEM, "out of memory");
    json_decref(params);
    if (rc != 0)
        return channel_lost(L, r, &err);
    return 0;
}

/* tx.call(method, params) -> true, data | false, error_type, message */
static int prim_call(lua_State *L)
{
    tx_runner *r = runner_of(L);
    const char *method = luaL_checkstring(L, 1);
    luaL_checktype(L, 2, LUA_TTABLE);
    if (strcmp(method, "tool.call") == 0)
        tx_vm_charge(L, TX_LIMIT_HOST_CALLS, 1);
    json_t *params = to_json_or_raise(L, 2, "args");
    size_t size = json_dumpb(params, NULL, 0, JSON_COMPACT);
    if (size > MESSAGE_MAX) {
        json_decref(params);
        return raise_plain(L, "%s: arguments are %d bytes; the largest allowed is %d", method,
                           (int)size, (int)MESSAGE_MAX);
    }
    tx_reply reply;
    memset(&reply, 0, sizeof reply);
    tx_error err;
    tx_error_clear(&err);
    int rc = r->args->channel.call(r->args->channel.ud, method, params, &reply, &err);
    json_decref(params);
    if (rc != 0)
        return channel_lost(L, r, &err);
    if (reply.data == NULL && strcmp(reply.error_type, "JournalError") == 0)
        return tx_vm_fatal(L, TX_FATAL_JOURNAL, reply.error_message);
    if (reply.data == NULL) {
        lua_pushboolean(L, 0);
        lua_pushstring(L, reply.error_type[0] ? reply.error_type : "HostError");
        lua_pushstring(L, reply.error_message);
        return 3;
    }
    lua_pushboolean(L, 1);
    tx_error perr;
    tx_error_clear(&perr);
    int pushed = tx_json_push_protected(L, reply.data, &perr);
    json_decref(reply.data);
    if (pushed != 0) {
        tx_vm_check(L);
        return luaL_error(L, "host reply: %s", perr.message);
    }
    return 2;
}

/* tx.json_encode(value) -> text, in the reference's layout: {"a": 1}, [1, 2, 3]. */
static int prim_json_encode(lua_State *L)
{
    luaL_checkany(L, 1);
    tx_error err;
    json_t *v = NULL;
    tx_error_clear(&err);
    if (tx_lua_to_json(L, 1, "value", &v, &err) != 0) {
        tx_vm_check(L);
        return raise_plain(L, "Failed to encode to JSON: %s", err.message);
    }
    char *text = json_dumps(v, JSON_ENCODE_ANY | JSON_PRESERVE_ORDER);
    json_decref(v);
    if (text == NULL)
        return raise_plain(L, "Failed to encode to JSON: out of memory");
    lua_pushstring(L, text);
    free(text);
    return 1;
}

/* tx.json_decode(text) -> value (null becomes nil). */
static int prim_json_decode(lua_State *L)
{
    size_t len = 0;
    const char *text = luaL_checklstring(L, 1, &len);
    json_error_t jerr;
    json_t *v =
        json_loadb(text, len, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &jerr);
    if (v == NULL)
        return raise_plain(L, "Failed to decode JSON: %s (line %d, column %d)", jerr.text,
                           jerr.line, jerr.column);
    tx_error perr;
    tx_error_clear(&perr);
    int pushed = tx_json_push_protected(L, v, &perr);
    json_decref(v);
    if (pushed != 0) {
        tx_vm_check(L);
        return raise_plain(L, "Failed to decode JSON: %s", perr.message);
    }
    return 1;
}

/* tx.load_module(name) -> source, chunkname | nil, message. Modules come from the broker, which
 * reads only .tac/.lua files under the procedure's directory. */
static int prim_load_module(lua_State *L)
{
    tx_runner *r = runner_of(L);
    const char *name = luaL_checkstring(L, 1);
    json_t *params = json_pack("{s:s}", "name", name);
    if (params == NULL)
        return luaL_error(L, "out of memory");
    tx_reply reply;
    memset(&reply, 0, sizeof reply);
    tx_error err;
    tx_error_clear(&err);
    int rc = r->args->channel.call(r->args->channel.ud, "module.load", params, &reply, &err);
    json_decref(params);
    if (rc != 0)
        return channel_lost(L, r, &err);
    if (reply.data == NULL) {
        lua_pushnil(L);
        lua_pushstring(L, reply.error_message);
        return 2;
    }
    const char *source = json_string_value(json_object_get(reply.data, "source"));
    const char *chunk = json_string_value(json_object_get(reply.data, "chunkname"));
    if (source == NULL || chunk == NULL) {
        json_decref(reply.data);
        return luaL_error(L, "broker sent a malformed module.load reply");
    }
    lua_pushlstring(L, source, json_string_length(json_object_get(reply.data, "source")));
    lua_pushstring(L, chunk);
    json_decref(reply.data);
    return 2;
}

static int prim_sandbox_env(lua_State *L)
{
    tx_vm_push_sandbox_env(L);
    return 1;
}

/* tx.now() -> seconds since the epoch, as a float. */
static int prim_now(lua_State *L)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    lua_pushnumber(L, (lua_Number)ts.tv_sec + (lua_Number)ts.tv_nsec / 1e9);
    return 1;
}

/* tx.sleep(seconds): never sleeps past the run's deadline; the hook reports the timeout. */
static int prim_sleep(lua_State *L)
{
    lua_Number s = luaL_checknumber(L, 1);
    if (!(s >= 0))
        return luaL_error(L, "Sleep: seconds must be a non-negative number");
    tx_vm *vm = tx_vm_of(L);
    uint64_t timeout_ms = tx_vm_allowed(vm, TX_LIMIT_TIMEOUT);
    if (timeout_ms != 0 && s * 1000.0 > (lua_Number)timeout_ms)
        s = (lua_Number)timeout_ms / 1000.0;
    struct timespec ts = {(time_t)s, (long)((s - floor(s)) * 1e9)};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
    return 0;
}

/* tx.site(level) -> "file.tac:12" for the function `level` frames up (0 = tx.site). */
static int prim_site(lua_State *L)
{
    lua_Debug ar;
    int level = (int)luaL_checkinteger(L, 1);
    if (!lua_getstack(L, level, &ar) || !lua_getinfo(L, "Sl", &ar)) {
        lua_pushliteral(L, "?");
        return 1;
    }
    lua_pushfstring(L, "%s:%d", ar.short_src, ar.currentline);
    return 1;
}

/* tx.fatal(kind, message): ends the run (non-determinism or suspension), uncatchably. */
static int prim_fatal(lua_State *L)
{
    const char *kind = luaL_checkstring(L, 1);
    const char *message = luaL_checkstring(L, 2);
    tx_fatal_kind k = strcmp(kind, "suspended") == 0 ? TX_FATAL_SUSPENDED : TX_FATAL_NONDETERMINISM;
    return tx_vm_fatal(L, k, message);
}

static int prim_run_id(lua_State *L)
{
    tx_runner *r = runner_of(L);
    lua_pushstring(L, r->args->run_id ? r->args->run_id : "local");
    return 1;
}

static int prim_random_seed(lua_State *L)
{
    uint32_t hi = randombytes_random(), lo = randombytes_random();
    lua_pushinteger(L, (lua_Integer)(((uint64_t)(hi & 0x7fffffffu) << 32) | lo));
    return 1;
}

/* Calls the broker; on a refusal raises "<message>" (typed by the prelude). Returns the data
 * (new reference). */
static json_t *broker_call(lua_State *L, const char *method, json_t *params)
{
    tx_runner *r = runner_of(L);
    tx_reply reply;
    memset(&reply, 0, sizeof reply);
    tx_error err;
    tx_error_clear(&err);
    int rc = params ? r->args->channel.call(r->args->channel.ud, method, params, &reply, &err) : -1;
    json_decref(params);
    if (rc != 0)
        channel_lost(L, r, &err);
    if (reply.data == NULL && strcmp(reply.error_type, "JournalError") == 0)
        tx_vm_fatal(L, TX_FATAL_JOURNAL, reply.error_message); /* the run cannot go on */
    if (reply.data == NULL)
        luaL_error(L, "%s: %s", method, reply.error_message);
    return reply.data;
}

/* tx.journal_read(digests) -> array of records, results decoded from the journal encoding;
 * with digests true the records carry their argument digests ("args") too. */
static int prim_journal_read(lua_State *L)
{
    int digests = lua_toboolean(L, 1);
    lua_newtable(L);
    lua_Integer n = 0;
    for (;;) {
        json_t *data =
            broker_call(L, "journal.read",
                        json_pack("{s:I, s:b}", "from", (json_int_t)n + 1, "digests", digests));
        json_t *records = json_object_get(data, "records");
        size_t i;
        json_t *rec;
        tx_error err;
        tx_error_clear(&err);
        json_array_foreach(records, i, rec)
        {
            json_t *copy = json_copy(rec);
            json_t *result = json_object_get(rec, "result");
            if (copy == NULL) {
                json_decref(data);
                return luaL_error(L, "out of memory");
            }
            json_object_del(copy, "result");
            int ok = tx_json_push_protected(L, copy, &err);
            json_decref(copy);
            if (ok == 0 && result != NULL && !json_is_null(result)) {
                if (tx_journal_push_protected(L, result, &err) == 0)
                    lua_setfield(L, -2, "result");
                else
                    ok = -1;
            }
            if (ok != 0) {
                json_decref(data);
                return luaL_error(L, "journal record %d: %s", (int)(n + 1), err.message);
            }
            lua_rawseti(L, -2, ++n);
        }
        int more = json_is_true(json_object_get(data, "more"));
        size_t got = json_array_size(records); /* read before data (which owns it) goes */
        json_decref(data);
        if (!more || got == 0)
            break;
    }
    return 1;
}

/* tx.args_digest(args) -> "sha256:<hex>": the digest the broker records for Host.call arguments
 * `args` (broker/server.c digest_json): SHA-256 of their compact JSON with sorted keys, where
 * nil and any array (Lua's {} among them) count as the empty object, as the broker takes them.
 * The replay of a host call compares it with the record's under strict_determinism. */
static int prim_args_digest(lua_State *L)
{
    json_t *v = lua_isnoneornil(L, 1) ? NULL : to_json_or_raise(L, 1, "Host.call arguments");
    if (v == NULL || json_is_array(v)) {
        json_decref(v);
        v = json_object();
    }
    char *text = v ? json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY) : NULL;
    json_decref(v);
    if (text == NULL)
        return luaL_error(L, "out of memory");
    unsigned char hash[crypto_hash_sha256_BYTES];
    char hex[crypto_hash_sha256_BYTES * 2 + 1], out[sizeof hex + 8];
    crypto_hash_sha256(hash, (const unsigned char *)text, strlen(text));
    free(text);
    sodium_bin2hex(hex, sizeof hex, hash, sizeof hash);
    snprintf(out, sizeof out, "sha256:%s", hex);
    lua_pushstring(L, out);
    return 1;
}

/* tx.journal_append(record): durable before it returns. */
static int prim_journal_append(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    json_t *result = NULL;
    tx_error err;
    tx_error_clear(&err);
    lua_getfield(L, 1, "result");
    int conv = tx_lua_to_journal(L, -1, "checkpoint result", &result, &err);
    lua_pop(L, 1);
    if (conv != 0) {
        tx_vm_check(L);
        return raise_plain(L, "%s", err.message);
    }
    lua_pushnil(L);
    lua_setfield(L, 1, "result");
    json_t *record = NULL;
    if (tx_lua_to_json(L, 1, "record", &record, &err) != 0) {
        json_decref(result);
        return luaL_error(L, "%s", err.message);
    }
    json_object_set_new(record, "result", result);
    static const char *const optional[] = {"name", "site", "args", "error", NULL};
    for (int i = 0; optional[i]; i++)
        if (json_object_get(record, optional[i]) == NULL)
            json_object_set_new(record, optional[i], json_null());
    json_t *params = json_pack("{s:o}", "record", record);
    if (runner_of(L)->args->journal_async && params != NULL) {
        /* durability none: the record is not waited for (a refusal fails the next request) */
        tx_error nerr;
        tx_error_clear(&nerr);
        tx_runner *r = runner_of(L);
        int rc = r->args->channel.notify(r->args->channel.ud, "journal.append", params, &nerr);
        json_decref(params);
        if (rc != 0)
            return channel_lost(L, r, &nerr);
        return 0;
    }
    json_t *data = broker_call(L, "journal.append", params);
    json_decref(data);
    return 0;
}

static int prim_journal_truncate(lua_State *L)
{
    lua_Integer keep = luaL_checkinteger(L, 1);
    json_t *data = broker_call(L, "journal.truncate", json_pack("{s:I}", "keep", (json_int_t)keep));
    json_decref(data);
    return 0;
}

/* tx.human_ask(request) -> {answer = ...} or {suspend = true}. */
static int prim_human_ask(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    json_t *request = NULL;
    tx_error err;
    tx_error_clear(&err);
    if (tx_lua_to_json(L, 1, "request", &request, &err) != 0)
        return luaL_error(L, "%s", err.message);
    json_t *data = broker_call(L, "human.ask", json_pack("{s:o}", "request", request));
    int pushed = tx_json_push_protected(L, data, &err);
    json_decref(data);
    if (pushed != 0)
        return luaL_error(L, "%s", err.message);
    return 1;
}

/* tx.base64(bytes) -> text, for content that is not UTF-8 (JSON carries only UTF-8). */
static int prim_base64(lua_State *L)
{
    size_t len = 0;
    const char *s = luaL_checklstring(L, 1, &len);
    size_t cap = sodium_base64_ENCODED_LEN(len, sodium_base64_VARIANT_ORIGINAL);
    luaL_Buffer b;
    char *out = luaL_buffinitsize(L, &b, cap);
    sodium_bin2base64(out, cap, (const unsigned char *)s, len, sodium_base64_VARIANT_ORIGINAL);
    luaL_pushresultsize(&b, strlen(out));
    return 1;
}

/* tx.unbase64(text) -> bytes: File.read's answer for a file that is not UTF-8. */
static int prim_unbase64(lua_State *L)
{
    size_t len = 0, bin_len = 0;
    const char *s = luaL_checklstring(L, 1, &len);
    luaL_Buffer b;
    unsigned char *out = (unsigned char *)luaL_buffinitsize(L, &b, len + 1);
    if (sodium_base642bin(out, len + 1, s, len, NULL, &bin_len, NULL,
                          sodium_base64_VARIANT_ORIGINAL) != 0)
        return luaL_error(L, "invalid base64");
    luaL_pushresultsize(&b, bin_len);
    return 1;
}

void tx_prims_push(lua_State *L, tx_runner *runner)
{
    static const luaL_Reg prims[] = {
        {"emit", prim_emit},
        {"call", prim_call},
        {"json_encode", prim_json_encode},
        {"json_decode", prim_json_decode},
        {"load_module", prim_load_module},
        {"sandbox_env", prim_sandbox_env},
        {"now", prim_now},
        {"sleep", prim_sleep},
        {"site", prim_site},
        {"fatal", prim_fatal},
        {"run_id", prim_run_id},
        {"random_seed", prim_random_seed},
        {"journal_read", prim_journal_read},
        {"args_digest", prim_args_digest},
        {"journal_append", prim_journal_append},
        {"journal_truncate", prim_journal_truncate},
        {"human_ask", prim_human_ask},
        {"base64", prim_base64},
        {"unbase64", prim_unbase64},
        {NULL, NULL},
    };
    lua_newtable(L);
    lua_pushlightuserdata(L, runner);
    luaL_setfuncs(L, prims, 1);
}
