/*
 * fuzz_json_input.c - the path outside JSON takes into a procedure: `--input`/API input text is
 * parsed (as the CLI does), pushed into a Lua state as the procedure's input, converted back
 * as an output would be, and also pushed in the journal's exact form. Nothing may crash, leak
 * or loop, whatever the bytes.
 */
#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>
#include <stdint.h>
#include <stdlib.h>

#include "luavalue.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_error_t jerr;
    json_t *v = json_loadb((const char *)data, size,
                           JSON_DECODE_ANY | JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &jerr);
    if (v == NULL)
        return 0;
    lua_State *L = luaL_newstate();
    if (L == NULL) {
        json_decref(v);
        return 0;
    }
    tx_error err;
    if (tx_json_push_protected(L, v, &err) == 0) {
        json_t *back = NULL;
        if (tx_lua_to_json(L, -1, "input", &back, &err) == 0)
            json_decref(back);
        if (tx_lua_to_journal(L, -1, "input", &back, &err) == 0)
            json_decref(back);
        lua_pop(L, 1);
    }
    if (tx_journal_push_protected(L, v, &err) == 0)
        lua_pop(L, 1);
    lua_close(L);
    json_decref(v);
    return 0;
}
