/* ks_lua_create.c: (being written) */
#include "ks_lua.h"

void ks_lua_open_create(lua_State *L, int module, int methods, int ctxbox)
{
    (void)L; (void)module; (void)methods; (void)ctxbox;
}

ks_tensor *ks_lua_check_tensorlike(lua_State *L, int arg, int dt)
{
    ks_tensor *t = ks_lua_to_tensor(L, arg);
    if (t) return t;
    ks_ctx *c = ks_lua_getctx(L);
    if (lua_type(L, arg) != LUA_TNUMBER) luaL_argerror(L, arg, "tensor or number expected");
    ks_tensor *r;
    if (ks_tensor_empty(c, dt < 0 ? KS_FLOAT32 : (ks_dtype)dt, 0, NULL, &r)) ks_lua_raise(L, c);
    ks_store_f64(ks_tensor_data(r), r->dtype, lua_tonumber(L, arg));
    ks_lua_push_tensor(L, c, r);
    lua_replace(L, arg);
    return r;
}
