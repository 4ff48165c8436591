/* ks_lua_composed_kernels.c: the C kernels under kshot's Lua-composed isclose, histc,
 * bucketize, searchsorted, mode and quantile, and the no-grad paths of diag,
 * trace, take and diff (bindings/lua/kshot/tensor_math_extra.lua and
 * tensor_shape_extra.lua keep their public names, options and argument checks):
 *   ks._isclose(a, b, rtol, atol, equal_nan) -> bool tensor   (runtime/core/ks_compare.h)
 *   ks._histc(t, bins, min, max) -> float32 [bins]              (runtime/core/ks_histogram.h)
 *   ks._searchsorted(seq, values, right) -> int64 tensor        (runtime/core/ks_histogram.h)
 *   ks._mode(t, dim, keepdim) -> values, int64 indices           (runtime/core/ks_order_stats.h)
 *   ks._quantile(t, q, dim|nil, keepdim, interpolation) -> float32 (runtime/core/ks_order_stats.h)
 *   ks._diag_embed(t, offset), ks._trace(t), ks._take(t, index), ks._diff(t)
 *                                                                (runtime/core/ks_nograd_kernels.h)
 * Private (the leading underscore keeps them out of help and the name sweeps);
 * none records autograd (torch has no gradient for the first four and mode's
 * values; quantile's Lua wrapper keeps its differentiable composition for
 * inputs that require grad). */
#include "ks_lua.h"
#include "../runtime/core/ks_compare.h"
#include "../runtime/core/ks_histogram.h"
#include "../runtime/core/ks_order_stats.h"
#include "../runtime/core/ks_nograd_kernels.h"


static int l_isclose(lua_State *L)
{
    ks_ctx *c = KS_CTX(L);
    ks_tensor *a = ks_lua_check_tensor(L, 1), *b = ks_lua_check_tensor(L, 2);
    double rtol = luaL_checknumber(L, 3), atol = luaL_checknumber(L, 4);
    bool equal_nan = lua_toboolean(L, 5);
    KS_LUA_NEW_RESULT(ks_isclose(c, a, b, rtol, atol, equal_nan, &r));
}

static int l_histc(lua_State *L)
{
    ks_ctx *c = KS_CTX(L);
    ks_tensor *t = ks_lua_check_tensor(L, 1);
    lua_Integer bins = luaL_checkinteger(L, 2);
    double lo = luaL_checknumber(L, 3), hi = luaL_checknumber(L, 4);
    KS_LUA_NEW_RESULT(ks_histc(c, t, bins, lo, hi, &r));
}

static int l_searchsorted(lua_State *L)
{
    ks_ctx *c = KS_CTX(L);
    ks_tensor *seq = ks_lua_check_tensor(L, 1), *values = ks_lua_check_tensor(L, 2);
    bool right = lua_toboolean(L, 3);
    KS_LUA_NEW_RESULT(ks_searchsorted(c, seq, values, right, &r));
}

static int l_mode(lua_State *L)
{
    ks_ctx *c = KS_CTX(L);
    ks_tensor *t = ks_lua_check_tensor(L, 1);
    lua_Integer dim = luaL_checkinteger(L, 2);
    bool keepdim = lua_toboolean(L, 3);
    ks_tensor **vbox = ks_lua_newbox(L), **ibox = ks_lua_newbox(L);
    ks_tensor *v = NULL, *ix = NULL;
    if (ks_mode(c, t, dim, keepdim, &v, &ix) != KS_OK) return ks_lua_raise(L, c);
    ks_lua_fillbox(L, c, vbox, v);
    ks_lua_fillbox(L, c, ibox, ix);
    return 2; /* the two boxes, values first */
}

static const char *const QUANTILE_MODES[] = {"linear", "lower", "higher", "nearest", "midpoint", NULL};

/* q: a number (no q dim in the result) or a float32 tensor of 0 or 1 dims (a leading q dim) */
static int l_quantile(lua_State *L)
{
    ks_ctx *c = KS_CTX(L);
    ks_tensor *t = ks_lua_check_tensor(L, 1);
    bool flat = lua_isnoneornil(L, 3);
    lua_Integer dim = flat ? 0 : luaL_checkinteger(L, 3);
    bool keepdim = lua_toboolean(L, 4);
    ks_quantile_mode mode = (ks_quantile_mode)luaL_checkoption(L, 5, "linear", QUANTILE_MODES);
    float one;
    const float *q = &one;
    int64_t nq = 1;
    ks_tensor *qc = NULL;
    if (lua_type(L, 2) == LUA_TNUMBER) {
        one = (float)lua_tonumber(L, 2);
    } else {
        ks_tensor *qt = ks_lua_check_tensor(L, 2);
        if (qt->dtype != KS_FLOAT32 || qt->ndim > 1) return luaL_argerror(L, 2, "a float32 tensor of 0 or 1 dims");
        if (ks_contiguous(c, qt, &qc) != KS_OK) return ks_lua_raise(L, c);
        q = ks_tensor_data(qc);
        nq = qc->numel;
    }
    ks_tensor **box = ks_lua_newbox(L);
    ks_tensor *r = NULL;
    ks_status st = ks_quantile(c, t, q, nq, qc != NULL, flat, dim, keepdim, mode, &r);
    ks_tensor_release(qc);
    if (st != KS_OK) return ks_lua_raise(L, c);
    ks_lua_fillbox(L, c, box, r);
    return 1;
}

static int l_diag_embed(lua_State *L)
{
    ks_ctx *c = KS_CTX(L);
    ks_tensor *t = ks_lua_check_tensor(L, 1);
    lua_Integer offset = luaL_optinteger(L, 2, 0);
    KS_LUA_NEW_RESULT(ks_diag_embed(c, t, offset, &r));
}

static int l_trace(lua_State *L)
{
    ks_ctx *c = KS_CTX(L);
    ks_tensor *t = ks_lua_check_tensor(L, 1);
    KS_LUA_NEW_RESULT(ks_trace(c, t, &r));
}

static int l_take(lua_State *L)
{
    ks_ctx *c = KS_CTX(L);
    ks_tensor *t = ks_lua_check_tensor(L, 1), *index = ks_lua_check_tensor(L, 2);
    KS_LUA_NEW_RESULT(ks_take(c, t, index, &r));
}

static int l_diff(lua_State *L)
{
    ks_ctx *c = KS_CTX(L);
    ks_tensor *t = ks_lua_check_tensor(L, 1);
    KS_LUA_NEW_RESULT(ks_diff_last(c, t, &r));
}

static const luaL_Reg composed_kernel_fns[] = {
    {"_isclose", l_isclose}, {"_histc", l_histc}, {"_searchsorted", l_searchsorted}, {"_mode", l_mode},
    {"_quantile", l_quantile}, {"_diag_embed", l_diag_embed}, {"_trace", l_trace}, {"_take", l_take},
    {"_diff", l_diff}, {NULL, NULL}};

void ks_lua_open_composed_kernels(lua_State *L, int module, int methods, int ctxbox)
{
    (void)methods;
    ks_lua_register(L, composed_kernel_fns, module, ctxbox);
}
