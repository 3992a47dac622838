/*
 * runner.c - one procedure, start to finish, inside a restricted VM.
 *
 * Boot order: VM (limits armed), prelude (in an environment of its own), then the procedure's
 * source compiled in text mode, then M.execute. Every step runs under lua_pcall, so nothing the
 * procedure does can raise through the host. The outcome is classified in this order: a tripped
 * limit wins over whatever error it caused, then a lost broker, then the procedure's own error.
 */
#include "runner.h"

#include <lauxlib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "luavalue.h"

/* Largest output a run may return: it travels in one frame with the rest of the result. */
#define TX_OUTPUT_MAX (3u << 20)

/* Registry key of the prelude module M. */
static const char prelude_key = 'M';

/* Limits the VM itself measures, reported in result.json. */
static const tx_limit_id vm_limits[] = {TX_LIMIT_INSTRUCTIONS, TX_LIMIT_MEMORY, TX_LIMIT_OUTPUT,
                                        TX_LIMIT_DEPTH, TX_LIMIT_HOST_CALLS};

/* Loads one of our own embedded chunks: the build-time bytecode, or the source if this liblua
 * refuses it. Procedure code is never loaded in binary mode. */
static int load_embedded(lua_State *L, const unsigned char *bc, size_t bc_len,
                         const unsigned char *src, size_t src_len, const char *name)
{
    if (luaL_loadbufferx(L, (const char *)bc, bc_len, name, "b") == LUA_OK)
        return LUA_OK;
    lua_pop(L, 1);
    return luaL_loadbufferx(L, (const char *)src, src_len, name, "t");
}

static int boot(lua_State *L)
{
    tx_runner *r = lua_touserdata(L, 1);
    if (load_embedded(L, tx_lua_prelude_bc, tx_lua_prelude_bc_len, tx_lua_prelude,
                      tx_lua_prelude_len, "=[tactus]") != LUA_OK)
        return lua_error(L);
    tx_vm_push_sandbox_env(L);
    lua_setupvalue(L, -2, 1);
    tx_prims_push(L, r);
    lua_call(L, 1, 1);
    lua_rawsetp(L, LUA_REGISTRYINDEX, &prelude_key);
    if (r->args->test_mode) {
        /* The BDD runner: called with (M, tx), returns B; kept as M.bdd. */
        if (load_embedded(L, tx_lua_bdd_bc, tx_lua_bdd_bc_len, tx_lua_bdd, tx_lua_bdd_len,
                          "=[tactus-bdd]") != LUA_OK)
            return lua_error(L);
        tx_vm_push_sandbox_env(L);
        lua_setupvalue(L, -2, 1);
        lua_rawgetp(L, LUA_REGISTRYINDEX, &prelude_key);
        tx_prims_push(L, r);
        lua_call(L, 2, 1);
        lua_rawgetp(L, LUA_REGISTRYINDEX, &prelude_key);
        lua_insert(L, -2);
        lua_setfield(L, -2, "bdd");
        lua_pop(L, 1);
    }
    return 0;
}

/* compile(env) -> the procedure's main chunk with env as _ENV. Upvalue 1: the runner. */
static int compile_chunk(lua_State *L)
{
    tx_runner *r = lua_touserdata(L, lua_upvalueindex(1));
    const tx_runner_args *a = r->args;
    char name[512];
    snprintf(name, sizeof name, "@%s", a->chunkname);
    if (luaL_loadbufferx(L, a->source, a->source_len, name, "t") != LUA_OK) {
        r->syntax_error = 1;
        return lua_error(L);
    }
    lua_pushvalue(L, 1);
    lua_setupvalue(L, -2, 1);
    return 1;
}

/* Calls M.execute(compile, chunkname, input, validate_only) -> output, declarations. */
/* B.run(compile, chunkname, input, filter, params) -> report, nil */
static int execute_tests(lua_State *L, tx_runner *r)
{
    lua_getfield(L, -1, "bdd");
    lua_getfield(L, -1, "run");
    lua_pushlightuserdata(L, r);
    lua_pushcclosure(L, compile_chunk, 1);
    lua_pushstring(L, r->args->chunkname);
    if (r->args->input != NULL)
        tx_json_push(L, r->args->input);
    else
        lua_newtable(L);
    if (r->args->test_filter != NULL)
        lua_pushstring(L, r->args->test_filter);
    else
        lua_pushnil(L);
    if (r->args->params != NULL) /* --param strings: converted by the schema, as in a run */
        tx_json_push(L, r->args->params);
    else
        lua_pushnil(L);
    lua_call(L, 5, 1);
    lua_pushnil(L);
    return 2;
}

static int execute(lua_State *L)
{
    tx_runner *r = lua_touserdata(L, 1);
    lua_rawgetp(L, LUA_REGISTRYINDEX, &prelude_key);
    if (r->args->test_mode)
        return execute_tests(L, r);
    lua_getfield(L, -1, "execute");
    lua_pushlightuserdata(L, r);
    lua_pushcclosure(L, compile_chunk, 1);
    lua_pushstring(L, r->args->chunkname);
    if (r->args->input != NULL)
        tx_json_push(L, r->args->input);
    else
        lua_newtable(L);
    lua_pushboolean(L, r->args->validate_only);
    if (r->args->params != NULL)
        tx_json_push(L, r->args->params);
    else
        lua_pushnil(L);
    lua_pushboolean(L, r->args->strict_determinism);
    lua_pushboolean(L, r->args->check_only);
    lua_call(L, 7, 2);
    return 2;
}

/* The error's kind as the prelude recorded it ("InputError"), or NULL. */
static const char *lookup_kind(lua_State *L, const char *message, char *buf, size_t cap)
{
    lua_rawgetp(L, LUA_REGISTRYINDEX, &prelude_key);
    if (lua_type(L, -1) != LUA_TTABLE) {
        lua_pop(L, 1);
        return NULL;
    }
    lua_getfield(L, -1, "error_kind");
    lua_pushstring(L, message);
    const char *kind = NULL;
    if (lua_pcall(L, 1, 1, 0) == LUA_OK && lua_type(L, -1) == LUA_TSTRING) {
        snprintf(buf, cap, "%s", lua_tostring(L, -1));
        kind = buf;
    }
    lua_pop(L, 2);
    return kind;
}

/* Splits "file.tac:12: message" into file and line when the prefix names a source file. */
static void error_location(const char *message, json_t *error)
{
    const char *colon = strchr(message, ':');
    while (colon != NULL) {
        const char *p = colon + 1;
        char *end = NULL;
        long line = strtol(p, &end, 10);
        if (end != p && *end == ':' && line > 0) {
            size_t flen = (size_t)(colon - message);
            /* "file.tac:12: msg" only: a message that merely mentions a site later on (as in
             * "waiting for a human at x.tac:6: ...") has no location prefix. */
            if (flen > 0 && flen < 512 && memchr(message, ' ', flen) == NULL) {
                json_object_set_new(error, "file", json_stringn(message, flen));
                json_object_set_new(error, "line", json_integer(line));
            }
            return;
        }
        colon = strchr(colon + 1, ':');
        if (colon != NULL && colon - message > 512)
            return;
    }
}

/* Describes the error value on top of L without running any of its metamethods. */
static void describe_error(lua_State *L, char *buf, size_t cap)
{
    int t = lua_type(L, -1);
    if (t == LUA_TSTRING) {
        snprintf(buf, cap, "%s", lua_tostring(L, -1));
    } else if (t == LUA_TTABLE) {
        lua_pushliteral(L, "message");
        if (lua_rawget(L, -2) == LUA_TSTRING)
            snprintf(buf, cap, "%s", lua_tostring(L, -1));
        else
            snprintf(buf, cap, "error object is a table value");
        lua_pop(L, 1);
    } else if (t == LUA_TNUMBER) {
        if (lua_isinteger(L, -1))
            snprintf(buf, cap, "%lld", (long long)lua_tointeger(L, -1));
        else
            snprintf(buf, cap, "%.14g", (double)lua_tonumber(L, -1));
    } else {
        snprintf(buf, cap, "error object is a %s value", lua_typename(L, t));
    }
}

static json_t *make_error(const char *type, const char *message)
{
    json_t *e = json_pack("{s:s, s:s}", "type", type, "message", message);
    if (e != NULL)
        error_location(message, e);
    return e;
}

static json_t *limits_json(const tx_runner *r)
{
    json_t *limits = json_object();
    if (limits == NULL)
        return NULL;
    for (size_t i = 0; i < sizeof vm_limits / sizeof vm_limits[0]; i++) {
        tx_limit_id id = vm_limits[i];
        json_object_set_new(limits, tx_limit_name(id),
                            json_pack("{s:I, s:I}", "used", (json_int_t)tx_vm_used(r->vm, id),
                                      "allowed", (json_int_t)tx_vm_allowed(r->vm, id)));
    }
    return limits;
}

static json_t *result_object(const char *status, json_t *output, json_t *error)
{
    return json_pack("{s:s, s:o, s:o}", "status", status, "output", output ? output : json_null(),
                     "error", error ? error : json_null());
}

/* Presents a phase token to the broker. Returns 0, or -1 with err set. */
static int present_token(const tx_runner_args *args, const char *method, const char *token,
                         tx_error *err)
{
    if (token == NULL)
        return 0;
    json_t *params = json_pack("{s:s}", "token", token);
    tx_reply reply;
    memset(&reply, 0, sizeof reply);
    int rc = params ? args->channel.call(args->channel.ud, method, params, &reply, err)
                    : tx_fail(err, TACTUS_ESYSTEM, "out of memory");
    json_decref(params);
    if (rc != 0)
        return -1;
    if (reply.data == NULL)
        return tx_fail(err, TACTUS_ESYSTEM, "%s refused: %s", method, reply.error_message);
    json_decref(reply.data);
    return 0;
}

json_t *tx_runner_execute(const tx_runner_args *args)
{
    tx_runner r;
    memset(&r, 0, sizeof r);
    r.args = args;
    tx_error err;
    tx_error_clear(&err);
    if (present_token(args, "session.setup", args->token_setup, &err) != 0)
        return result_object("system", NULL, make_error("BrokerLost", err.message));
    r.vm = tx_vm_new(&args->limits, args->alloc, args->alloc_ud, &err);
    if (r.vm == NULL)
        return result_object("system", NULL, make_error("SystemError", err.message));
    lua_State *L = tx_vm_state(r.vm);
    if (args->use_ticks && tx_vm_start_ticks(r.vm, &err) != 0) {
        tx_vm_free(r.vm);
        return result_object("system", NULL, make_error("SystemError", err.message));
    }

    json_t *result = NULL;
    lua_pushcfunction(L, boot);
    lua_pushlightuserdata(L, &r);
    int status = lua_pcall(L, 1, 0, 0);
    if (status == LUA_OK && args->harden != NULL && args->harden(NULL, &err) != 0) {
        tx_vm_free(r.vm);
        return result_object("system", NULL, make_error("SandboxError", err.message));
    }
    if (status == LUA_OK && present_token(args, "session.run", args->token_run, &err) != 0) {
        tx_vm_free(r.vm);
        return result_object("system", NULL, make_error("BrokerLost", err.message));
    }
    if (status == LUA_OK) {
        lua_pushcfunction(L, execute);
        lua_pushlightuserdata(L, &r);
        status = lua_pcall(L, 1, 2, 0);
    }

    int tripped = tx_vm_tripped(r.vm);
    tx_fatal_kind fatal = tx_vm_fatal_kind(r.vm);
    if (fatal == TX_FATAL_NONDETERMINISM) {
        result = result_object("nondeterminism", NULL,
                               make_error("NondeterminismError", tx_vm_trip_message(r.vm)));
    } else if (fatal == TX_FATAL_JOURNAL) {
        result =
            result_object("system", NULL, make_error("JournalError", tx_vm_trip_message(r.vm)));
    } else if (fatal == TX_FATAL_SUSPENDED) {
        /* "waiting for a human at x.tac:6: ...": the site is where the procedure waits. */
        static const char waiting[] = "waiting for a human at ";
        const char *message = tx_vm_trip_message(r.vm);
        json_t *e = make_error("Suspended", message);
        if (e != NULL && strncmp(message, waiting, sizeof waiting - 1) == 0)
            error_location(message + sizeof waiting - 1, e);
        result = result_object("suspended", NULL, e);
    } else if (tripped >= 0) {
        int is_timeout = tripped == TX_LIMIT_TIMEOUT;
        json_t *e = json_pack("{s:s, s:s, s:s}", "type", is_timeout ? "Timeout" : "LimitExceeded",
                              "message", tx_vm_trip_message(r.vm), "limit",
                              tx_limit_name((tx_limit_id)tripped));
        result = result_object(is_timeout ? "timeout" : "limit", NULL, e);
    } else if (r.channel_broken) {
        result = result_object("system", NULL, make_error("BrokerLost", r.channel_error));
    } else if (status != LUA_OK) {
        char message[2048], kindbuf[64];
        describe_error(L, message, sizeof message);
        lua_pop(L, 1);
        const char *kind =
            r.syntax_error ? "SyntaxError" : lookup_kind(L, message, kindbuf, sizeof kindbuf);
        result = result_object("error", NULL, make_error(kind ? kind : "LuaError", message));
    } else {
        json_t *output = NULL;
        int converted = lua_isnil(L, -2) || tx_lua_to_json(L, -2, "output", &output, &err) == 0;
        if (converted && output != NULL &&
            json_dumpb(output, NULL, 0, JSON_COMPACT) > TX_OUTPUT_MAX) {
            json_decref(output);
            output = NULL;
            converted = 0;
            tx_fail(&err, TACTUS_EPROC, "output is larger than %u bytes", TX_OUTPUT_MAX);
        }
        if (converted) {
            result = result_object("ok", output, NULL);
            if (args->validate_only && result != NULL) {
                json_t *decl = NULL;
                if (tx_lua_to_json(L, -1, "declarations", &decl, &err) == 0)
                    json_object_set_new(result, "declarations", decl);
            }
        } else if (tx_vm_tripped(r.vm) >= 0) {
            result = result_object("limit", NULL,
                                   json_pack("{s:s, s:s, s:s}", "type", "LimitExceeded", "message",
                                             tx_vm_trip_message(r.vm), "limit",
                                             tx_limit_name((tx_limit_id)tx_vm_tripped(r.vm))));
        } else {
            result = result_object("error", NULL, make_error("OutputError", err.message));
        }
        lua_pop(L, 2);
    }
    if (result != NULL)
        json_object_set_new(result, "limits", limits_json(&r));
    tx_vm_free(r.vm);
    return result;
}
