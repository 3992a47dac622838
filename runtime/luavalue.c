/* luavalue.c - Lua <-> JSON conversion with raw access and caps. */
#include "luavalue.h"

#include <lauxlib.h>
#include <math.h>
#include <sodium.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

typedef struct to_json_ctx {
    int exact; /* journal encoding: every value round-trips exactly (see luavalue.h) */
    size_t nodes;
    json_t *root; /* everything built so far hangs off root, so an error frees it all */
    char path[256];
} to_json_ctx;

static int raise_at(lua_State *L, const to_json_ctx *c, const char *what)
{
    return luaL_error(L, "%s: %s", c->path, what);
}

/* Appends a path component; returns the previous length, to cut the path back after. */
static size_t path_push(to_json_ctx *c, const char *key, lua_Integer index)
{
    size_t len = strlen(c->path);
    if (len > 96) {
        /* Deep paths (usually a cycle) are cut: the start says where the value is. */
        if (c->path[len - 1] != '.')
            snprintf(c->path + len, sizeof c->path - len, "...");
        return len;
    }
    if (key == NULL)
        snprintf(c->path + len, sizeof c->path - len, "[%lld]", (long long)index);
    else
        snprintf(c->path + len, sizeof c->path - len, ".%s", key);
    return len;
}

/* True when the table's keys are exactly 1..n with n > 0; sets *n. */
static int table_is_array(lua_State *L, int idx, lua_Integer *n)
{
    lua_Integer count = 0;
    lua_pushnil(L);
    while (lua_next(L, idx) != 0) {
        lua_pop(L, 1);
        if (!lua_isinteger(L, -1) || lua_tointeger(L, -1) < 1) {
            lua_pop(L, 1);
            return 0;
        }
        count++;
    }
    if (count == 0)
        return 0;
    for (lua_Integer i = 1; i <= count; i++) {
        int t = lua_rawgeti(L, idx, i);
        lua_pop(L, 1);
        if (t == LUA_TNIL)
            return 0;
    }
    *n = count;
    return 1;
}

/* True if s[0..len) is valid UTF-8 without NUL (what a JSON object key can hold exactly). */
static int utf8_key(const char *s, size_t len)
{
    if (memchr(s, '\0', len) != NULL)
        return 0;
    json_t *probe = json_stringn(s, len);
    json_decref(probe);
    return probe != NULL;
}

/* True if every key is a UTF-8 string not starting with '$' (so a plain JSON object holds the
 * table exactly); anything else takes the {"$t": pairs} form. */
static int plain_string_keys(lua_State *L, int idx)
{
    lua_pushnil(L);
    while (lua_next(L, idx) != 0) {
        lua_pop(L, 1);
        size_t len = 0;
        const char *k = lua_type(L, -1) == LUA_TSTRING ? lua_tolstring(L, -1, &len) : NULL;
        if (k == NULL || k[0] == '$' || !utf8_key(k, len)) {
            lua_pop(L, 1);
            return 0;
        }
    }
    return 1;
}

/* {"$f": "nan"} and friends: the floats JSON cannot write, tagged. */
static json_t *exact_float(lua_State *L, double d)
{
    const char *tag = NULL;
    if (isnan(d))
        tag = "nan";
    else if (isinf(d))
        tag = d > 0 ? "inf" : "-inf";
    else if (d == 0 && signbit(d))
        tag = "-0";
    if (tag == NULL)
        return json_real(d);
    json_t *o = json_pack("{s:s}", "$f", tag);
    if (o == NULL)
        luaL_error(L, "out of memory");
    return o;
}

/* {"$b": "<base64>"}: a string that is not UTF-8. */
static json_t *exact_bytes(lua_State *L, const char *s, size_t len)
{
    size_t cap = sodium_base64_ENCODED_LEN(len, sodium_base64_VARIANT_ORIGINAL);
    char *b64 = malloc(cap);
    if (b64 == NULL) {
        luaL_error(L, "out of memory");
        return NULL;
    }
    sodium_bin2base64(b64, cap, (const unsigned char *)s, len, sodium_base64_VARIANT_ORIGINAL);
    json_t *o = json_pack("{s:s}", "$b", b64);
    free(b64);
    if (o == NULL)
        luaL_error(L, "out of memory");
    return o;
}

/* Makes the JSON for the value at idx: a scalar, or an EMPTY container that fill() fills
 * once it is attached to its parent. Raises on values JSON cannot hold. */
static json_t *make(lua_State *L, int idx, to_json_ctx *c, int depth)
{
    if (++c->nodes > TX_VALUE_MAX_NODES)
        raise_at(L, c, "value has too many elements to convert");
    if (depth > TX_VALUE_MAX_DEPTH)
        raise_at(L, c, "value is nested too deeply (or contains a cycle)");
    json_t *out = NULL;
    lua_Integer n = 0;
    switch (lua_type(L, idx)) {
    case LUA_TNIL:
        out = json_null();
        break;
    case LUA_TBOOLEAN:
        out = json_boolean(lua_toboolean(L, idx));
        break;
    case LUA_TNUMBER:
        if (lua_isinteger(L, idx)) {
            out = json_integer((json_int_t)lua_tointeger(L, idx));
        } else {
            double d = (double)lua_tonumber(L, idx);
            if (c->exact)
                return exact_float(L, d);
            if (!isfinite(d))
                raise_at(L, c, "NaN and infinite numbers cannot be converted to JSON");
            out = json_real(d);
        }
        break;
    case LUA_TSTRING: {
        size_t len = 0;
        const char *s = lua_tolstring(L, idx, &len);
        out = json_stringn(s, len);
        if (out == NULL && c->exact)
            return exact_bytes(L, s, len);
        if (out == NULL)
            raise_at(L, c, "string is not valid UTF-8 (JSON text must be UTF-8)");
        break;
    }
    case LUA_TTABLE:
        if (table_is_array(L, idx, &n))
            out = json_array();
        else if (!c->exact || plain_string_keys(L, idx))
            out = json_object();
        else
            out = json_pack("{s:[]}", "$t"); /* [[key, value], ...] */
        break;
    default: {
        char msg[96];
        snprintf(msg, sizeof msg, "%ss cannot be converted to JSON",
                 lua_typename(L, lua_type(L, idx)));
        raise_at(L, c, msg);
    }
    }
    if (out == NULL)
        luaL_error(L, "out of memory");
    return out;
}

static void fill(lua_State *L, int idx, to_json_ctx *c, int depth, json_t *container);

/* Converts the value on top of the stack into a child of `parent` (under `key`, or appended
 * when key is NULL), then fills it if it is a container. */
static void attach_child(lua_State *L, to_json_ctx *c, int depth, json_t *parent, const char *key)
{
    int idx = lua_gettop(L);
    json_t *v = make(L, idx, c, depth);
    int rc = key ? json_object_set_new(parent, key, v) : json_array_append_new(parent, v);
    if (rc != 0)
        luaL_error(L, "%s: cannot store value (key not valid UTF-8, or out of memory)", c->path);
    /* Only a Lua table has contents to fill in; a tagged scalar ({"$f": ...}) is complete. */
    if (lua_type(L, idx) == LUA_TTABLE)
        fill(L, idx, c, depth, v);
}

/* Fills a {"$t": [[k, v], ...]} container: keys of any type, exactly. */
static void fill_pairs(lua_State *L, int idx, to_json_ctx *c, int depth, json_t *pairs)
{
    lua_pushnil(L);
    while (lua_next(L, idx) != 0) {
        json_t *pair = json_array();
        if (pair == NULL || json_array_append_new(pairs, pair) != 0)
            luaL_error(L, "out of memory");
        if (lua_type(L, -2) == LUA_TTABLE)
            raise_at(L, c, "tables used as keys cannot be journaled");
        lua_pushvalue(L, -2);
        attach_child(L, c, depth + 1, pair, NULL);
        lua_pop(L, 1);
        attach_child(L, c, depth + 1, pair, NULL);
        lua_pop(L, 1);
    }
}

static void fill(lua_State *L, int idx, to_json_ctx *c, int depth, json_t *container)
{
    luaL_checkstack(L, 6, "value nested too deeply");
    if (c->exact && json_is_object(container) && json_object_get(container, "$t") != NULL) {
        fill_pairs(L, idx, c, depth, json_object_get(container, "$t"));
        return;
    }
    if (json_is_array(container)) {
        lua_Integer n = (lua_Integer)lua_rawlen(L, idx);
        for (lua_Integer i = 1; i <= n; i++) {
            lua_rawgeti(L, idx, i);
            size_t mark = path_push(c, NULL, i);
            attach_child(L, c, depth + 1, container, NULL);
            c->path[mark] = '\0';
            lua_pop(L, 1);
        }
        return;
    }
    lua_pushnil(L);
    while (lua_next(L, idx) != 0) {
        char numkey[32];
        const char *key;
        int kt = lua_type(L, -2);
        if (kt == LUA_TSTRING) {
            key = lua_tostring(L, -2);
        } else if (lua_isinteger(L, -2)) {
            /* Never lua_tostring a key during traversal: it would change the key in place. */
            snprintf(numkey, sizeof numkey, "%lld", (long long)lua_tointeger(L, -2));
            key = numkey;
        } else {
            char msg[96];
            snprintf(msg, sizeof msg, "a table key of type %s cannot be converted to JSON",
                     lua_typename(L, kt));
            raise_at(L, c, msg);
            return;
        }
        size_t mark = path_push(c, key, 0);
        attach_child(L, c, depth + 1, container, key);
        c->path[mark] = '\0';
        lua_pop(L, 1);
    }
}

static int by_key(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/*
 * Puts every object's keys in sorted order (the order a Lua table's pairs() gives changes from
 * one VM to the next: its string hashes are seeded per state), so the same value always gives
 * the same JSON text: result.json, steps.json, stream.jsonl and --json output compare equal
 * between identical runs. Removing and re-adding each key in sorted order leaves them in that
 * order. Depth is bounded by the conversion (TX_VALUE_MAX_DEPTH). Returns 0, -1 out of memory.
 */
static int sort_keys(json_t *v)
{
    if (json_is_array(v)) {
        size_t i;
        json_t *x;
        json_array_foreach(v, i, x)
        {
            if (sort_keys(x) != 0)
                return -1;
        }
        return 0;
    }
    if (!json_is_object(v) || json_object_size(v) == 0)
        return 0;
    size_t n = json_object_size(v), k = 0;
    char **keys = calloc(n, sizeof *keys);
    if (keys == NULL)
        return -1;
    const char *key;
    json_t *x;
    int rc = 0;
    json_object_foreach(v, key, x)
    {
        if (k < n && (keys[k++] = strdup(key)) == NULL)
            rc = -1;
        if (rc == 0 && sort_keys(x) != 0)
            rc = -1;
    }
    if (rc == 0) {
        qsort(keys, k, sizeof *keys, by_key);
        for (size_t i = 0; i < k && rc == 0; i++) {
            json_t *val = json_incref(json_object_get(v, keys[i]));
            if (json_object_del(v, keys[i]) != 0 || json_object_set_new(v, keys[i], val) != 0)
                rc = -1;
        }
    }
    for (size_t i = 0; i < k; i++)
        free(keys[i]);
    free(keys);
    return rc;
}

typedef struct protected_args {
    int idx;
    to_json_ctx ctx;
} protected_args;

static int protected_convert(lua_State *L)
{
    protected_args *a = lua_touserdata(L, 1);
    json_t *v = make(L, a->idx, &a->ctx, 0);
    a->ctx.root = v;
    if (lua_type(L, a->idx) == LUA_TTABLE)
        fill(L, a->idx, &a->ctx, 0, v);
    return 0;
}

static int to_json_mode(lua_State *L, int idx, const char *what, int exact, json_t **out,
                        tx_error *err);

int tx_lua_to_json(lua_State *L, int idx, const char *what, json_t **out, tx_error *err)
{
    return to_json_mode(L, idx, what, 0, out, err);
}

int tx_lua_to_journal(lua_State *L, int idx, const char *what, json_t **out, tx_error *err)
{
    return to_json_mode(L, idx, what, 1, out, err);
}

static int to_json_mode(lua_State *L, int idx, const char *what, int exact, json_t **out,
                        tx_error *err)
{
    protected_args a;
    memset(&a, 0, sizeof a);
    a.ctx.exact = exact;
    a.idx = lua_absindex(L, idx);
    snprintf(a.ctx.path, sizeof a.ctx.path, "%s", what);
    if (!lua_checkstack(L, 8))
        return tx_fail(err, TACTUS_ESYSTEM, "%s: Lua stack exhausted", what);
    lua_pushcfunction(L, protected_convert);
    lua_pushlightuserdata(L, &a);
    lua_pushvalue(L, a.idx);
    a.idx = 2; /* the value's slot inside protected_convert's own frame */
    if (lua_pcall(L, 2, 0, 0) != LUA_OK) {
        json_decref(a.ctx.root);
        const char *msg =
            lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : "conversion failed";
        tx_fail(err, TACTUS_EPROC, "%s", msg);
        lua_pop(L, 1);
        return -1;
    }
    if (sort_keys(a.ctx.root) != 0) {
        json_decref(a.ctx.root);
        return tx_fail(err, TACTUS_ESYSTEM, "%s: out of memory", what);
    }
    *out = a.ctx.root;
    return 0;
}

static void push_depth(lua_State *L, const json_t *value, int depth, int exact);

/* Decodes the tagged forms of the journal encoding; returns 1 if value was one. */
static int push_tagged(lua_State *L, const json_t *value, int depth)
{
    if (json_object_size(value) != 1)
        return 0;
    const json_t *f = json_object_get(value, "$f");
    const json_t *b = json_object_get(value, "$b");
    const json_t *t = json_object_get(value, "$t");
    if (json_is_string(f)) {
        const char *tag = json_string_value(f);
        if (strcmp(tag, "nan") == 0)
            lua_pushnumber(L, (lua_Number)NAN);
        else if (strcmp(tag, "inf") == 0)
            lua_pushnumber(L, (lua_Number)INFINITY);
        else if (strcmp(tag, "-inf") == 0)
            lua_pushnumber(L, -(lua_Number)INFINITY);
        else if (strcmp(tag, "-0") == 0)
            lua_pushnumber(L, -(lua_Number)0.0);
        else
            luaL_error(L, "journal value: unknown float tag '%s'", tag);
        return 1;
    }
    if (json_is_string(b)) {
        size_t len = json_string_length(b), bin_len = 0;
        unsigned char *bin = malloc(len + 1);
        if (bin == NULL) {
            luaL_error(L, "out of memory");
            return 0;
        }
        if (sodium_base642bin(bin, len + 1, json_string_value(b), len, NULL, &bin_len, NULL,
                              sodium_base64_VARIANT_ORIGINAL) != 0) {
            free(bin);
            luaL_error(L, "journal value: bad base64 string");
            return 0;
        }
        lua_pushlstring(L, (const char *)bin, bin_len); /* may raise: bin leaks only on OOM */
        free(bin);
        return 1;
    }
    if (json_is_array(t)) {
        lua_newtable(L);
        size_t i;
        const json_t *pair;
        json_array_foreach(t, i, pair)
        {
            if (json_array_size(pair) != 2)
                luaL_error(L, "journal value: malformed table pair");
            push_depth(L, json_array_get(pair, 0), depth + 1, 1);
            push_depth(L, json_array_get(pair, 1), depth + 1, 1);
            if (lua_isnil(L, -2))
                luaL_error(L, "journal value: nil table key");
            lua_rawset(L, -3);
        }
        return 1;
    }
    return 0;
}

static void push_depth(lua_State *L, const json_t *value, int depth, int exact)
{
    if (depth > TX_VALUE_MAX_DEPTH)
        luaL_error(L, "JSON value is nested too deeply");
    luaL_checkstack(L, 4, "JSON value is nested too deeply");
    switch (json_typeof(value)) {
    case JSON_OBJECT: {
        if (exact && push_tagged(L, value, depth))
            break;
        lua_createtable(L, 0, (int)json_object_size(value));
        const char *key;
        size_t klen;
        json_t *v;
        json_object_keylen_foreach((json_t *)value, key, klen, v)
        {
            if (json_is_null(v))
                continue;
            lua_pushlstring(L, key, klen);
            push_depth(L, v, depth + 1, exact);
            lua_rawset(L, -3);
        }
        break;
    }
    case JSON_ARRAY: {
        size_t n = json_array_size(value);
        lua_createtable(L, n > 1000000 ? 0 : (int)n, 0);
        for (size_t i = 0; i < n; i++) {
            push_depth(L, json_array_get(value, i), depth + 1, exact);
            lua_rawseti(L, -2, (lua_Integer)i + 1);
        }
        break;
    }
    case JSON_STRING:
        lua_pushlstring(L, json_string_value(value), json_string_length(value));
        break;
    case JSON_INTEGER:
        lua_pushinteger(L, (lua_Integer)json_integer_value(value));
        break;
    case JSON_REAL:
        lua_pushnumber(L, (lua_Number)json_real_value(value));
        break;
    case JSON_TRUE:
        lua_pushboolean(L, 1);
        break;
    case JSON_FALSE:
        lua_pushboolean(L, 0);
        break;
    case JSON_NULL:
        lua_pushnil(L);
        break;
    }
}

void tx_json_push(lua_State *L, const json_t *value)
{
    push_depth(L, value, 0, 0);
}

void tx_journal_push(lua_State *L, const json_t *value)
{
    push_depth(L, value, 0, 1);
}

static int protected_push(lua_State *L)
{
    const json_t *v = lua_touserdata(L, 1);
    int exact = lua_toboolean(L, 2);
    lua_settop(L, 0);
    push_depth(L, v, 0, exact);
    return 1;
}

static int push_protected(lua_State *L, const json_t *value, int exact, tx_error *err)
{
    if (!lua_checkstack(L, 8))
        return tx_fail(err, TACTUS_ESYSTEM, "Lua stack exhausted");
    lua_pushcfunction(L, protected_push);
    lua_pushlightuserdata(L, (void *)value);
    lua_pushboolean(L, exact);
    if (lua_pcall(L, 2, 1, 0) != LUA_OK) {
        tx_fail(err, TACTUS_EPROC, "%s",
                lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : "conversion failed");
        lua_pop(L, 1);
        return -1;
    }
    return 0;
}

int tx_json_push_protected(lua_State *L, const json_t *value, tx_error *err)
{
    return push_protected(L, value, 0, err);
}

int tx_journal_push_protected(lua_State *L, const json_t *value, tx_error *err)
{
    return push_protected(L, value, 1, err);
}
