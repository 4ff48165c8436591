/* ks_lua_index.c: (being written) */
#include "ks_lua.h"

void ks_lua_open_index(lua_State *L, int module, int methods, int ctxbox)
{
    (void)L; (void)module; (void)methods; (void)ctxbox;
}

int ks_lua_index_get(lua_State *L, ks_ctx *c)
{
    (void)c;
    return luaL_error(L, "tensor indexing is not available yet");
}

int ks_lua_index_set(lua_State *L, ks_ctx *c)
{
    (void)c;
    return luaL_error(L, "tensor index assignment is not available yet");
}
