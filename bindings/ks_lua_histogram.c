/* ks_lua_histogram.c: the C kernels under kshot's Lua-composed isclose, histc,
 * bucketize and searchsorted (bindings/lua/kshot/tensor_math_extra.lua keeps
 * their public names, options and argument checks):
 *   ks._isclose(a, b, rtol, atol, equal_nan) -> bool tensor   (runtime/core/ks_compare.h)
 *   ks._histc(t, bins, min, max) -> float32 [bins]              (runtime/core/ks_histogram.h)
 *   ks._searchsorted(seq, values, right) -> int64 tensor        (runtime/core/ks_histogram.h)
 * Private (the leading underscore keeps them out of help and the name sweeps);
 * none records autograd, as torch. */
#include "ks_lua.h"
#include "../runtime/core/ks_compare.h"
#include "../runtime/core/ks_histogram.h"

/* push a box, run call (which sets r), fill the box */
#define BOXED_RESULT(call)                                  \
    do {                                                    \
        ks_tensor **box = ks_lua_newbox(L);                 \
        ks_tensor *r = NULL;                                \
        if ((call) != KS_OK) return ks_lua_raise(L, c);     \
        ks_lua_fillbox(L, c, box, r);                       \
        return 1;                                           \
    } while (0)

static int l_isclose(lua_State *L)
{
    ks_ctx *c = KS_CTX(L);
    ks_tensor *a = ks_lua_check_tensor(L, 1), *b = ks_lua_check_tensor(L, 2);
    double rtol = luaL_checknumber(L, 3), atol = luaL_checknumber(L, 4);
    bool equal_nan = lua_toboolean(L, 5);
    BOXED_RESULT(ks_isclose(c, a, b, rtol, atol, equal_nan, &r));
}

static int l_histc(lua_State *L)
{
    ks_ctx *c = KS_CTX(L);
    ks_tensor *t = ks_lua_check_tensor(L, 1);
    lua_Integer bins = luaL_checkinteger(L, 2);
    double lo = luaL_checknumber(L, 3), hi = luaL_checknumber(L, 4);
    BOXED_RESULT(ks_histc(c, t, bins, lo, hi, &r));
}

static int l_searchsorted(lua_State *L)
{
    ks_ctx *c = KS_CTX(L);
    ks_tensor *seq = ks_lua_check_tensor(L, 1), *values = ks_lua_check_tensor(L, 2);
    bool right = lua_toboolean(L, 3);
    BOXED_RESULT(ks_searchsorted(c, seq, values, right, &r));
}

static const luaL_Reg histogram_fns[] = {
    {"_isclose", l_isclose}, {"_histc", l_histc}, {"_searchsorted", l_searchsorted}, {NULL, NULL}};

void ks_lua_open_histogram(lua_State *L, int module, int methods, int ctxbox)
{
    (void)methods;
    ks_lua_register(L, histogram_fns, module, ctxbox);
}
