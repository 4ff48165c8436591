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
 *   ks._normal(mean, std, size): ks.normal's number path (randn, then * std + mean)
 *   ks._cov(x), ks._corrcoef(x): without gradient, float32 rows  (runtime/core/ks_cov.h)
 *   ks._unbind(t, dim), ks._meshgrid2(x1, x2): unbind and the two-vector meshgrid
 *                                 as views made in one call (recorded as select / unsqueeze + expand)
 *   ks._grid_sample(input, grid, mode, padding, align_corners): F.grid_sample
 *                                 (bindings/lua/kshot/nn/grid_sample.lua)  (runtime/core/ks_grid_sample.h)
 * Private (the leading underscore keeps them out of help and the name sweeps);
 * none of the other kernels records autograd (torch has no gradient for the first
 * four and mode's values; quantile's Lua wrapper keeps its differentiable
 * composition for inputs that require grad); the views record theirs as the
 * tensor methods do, and _grid_sample records one GridSampler2DBackward node. */
#include "ks_lua.h"

#include <limits.h>
#include "../runtime/core/ks_compare.h"
#include "../runtime/core/ks_histogram.h"
#include "../runtime/core/ks_order_stats.h"
#include "../runtime/core/ks_nograd_kernels.h"
#include "../runtime/core/ks_grad_views.h"
#include "../runtime/core/ks_elementwise.h"
#include "../runtime/core/ks_fill.h"
#include "../runtime/core/ks_cov.h"
#include "../runtime/core/ks_grid_sample.h"


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

/* a Lua number as the elementwise bindings read it (integer or float scalar) */
static ks_operand number_operand(lua_State *L, int idx)
{
    if (lua_isinteger(L, idx)) return ks_op_scalar(ks_scalar_int(lua_tointeger(L, idx)));
    return ks_op_scalar(ks_scalar_float(lua_tonumber(L, idx)));
}

/* ks._normal(mean, std, size) -> ks.randn(size) * std + mean: the same draws from the default
 * generator and the same float32 ops as ks.normal's general path, in one call. Numbers mean and
 * std >= 0 and a list of integer sizes >= 0; nothing otherwise (the general path checks). */
static int l_normal(lua_State *L)
{
    ks_ctx *c = KS_CTX(L);
    if (lua_type(L, 1) != LUA_TNUMBER || lua_type(L, 2) != LUA_TNUMBER || !lua_istable(L, 3)) return 0;
    if (lua_tonumber(L, 2) < 0) return 0;
    int64_t size[KS_MAX_DIMS];
    lua_Unsigned nd = lua_rawlen(L, 3);
    if (nd < 1 || nd > KS_MAX_DIMS) return 0;
    for (int i = 0; i < (int)nd; i++) {
        lua_rawgeti(L, 3, i + 1);
        bool ok = lua_isinteger(L, -1) && lua_tointeger(L, -1) >= 0;
        size[i] = ok ? (int64_t)lua_tointeger(L, -1) : 0;
        lua_pop(L, 1);
        if (!ok) return 0;
    }
    ks_tensor **box = ks_lua_newbox(L);
    ks_tensor *z = NULL;
    ks_status st = ks_tensor_empty(c, KS_FLOAT32, (int)nd, size, &z);
    /* in place: each element is computed alone, so z * std + mean into z equals the two new tensors */
    if (!st) st = ks_normal_(c, z, NULL, 0, 1);
    if (!st) st = ks_binary_op(c, KS_OP_MUL, ks_op_tensor(z), number_operand(L, 2), NULL, z, NULL);
    if (!st) st = ks_binary_op(c, KS_OP_ADD, ks_op_tensor(z), number_operand(L, 1), NULL, z, NULL);
    if (st) { ks_tensor_release(z); return ks_lua_raise(L, c); }
    ks_lua_fillbox(L, c, box, z);
    return 1;
}

/* the float32 1-d or 2-d tensor at idx whose ops would record no gradient, else NULL */
static ks_tensor *nograd_rows(lua_State *L, ks_ctx *c, int idx)
{
    ks_tensor *x = ks_lua_to_tensor(L, idx);
    if (!x || x->dtype != KS_FLOAT32 || x->ndim < 1 || x->ndim > 2 || (c->grad_enabled && x->requires_grad))
        return NULL;
    return x;
}

/* ks._cov(x) -> x:cov() (correction 1), ks._corrcoef(x) -> x:corrcoef(); nothing unless x is a
 * float32 1-d or 2-d tensor without gradient to record (the Lua composition then runs) */
static int l_cov(lua_State *L)
{
    ks_ctx *c = KS_CTX(L);
    ks_tensor *x = nograd_rows(L, c, 1);
    if (!x) return 0;
    KS_LUA_NEW_RESULT(ks_cov(c, x, 1, &r));
}

static int l_corrcoef(lua_State *L)
{
    ks_ctx *c = KS_CTX(L);
    ks_tensor *x = nograd_rows(L, c, 1);
    if (!x) return 0;
    KS_LUA_NEW_RESULT(ks_corrcoef(c, x, &r));
}

/* Views made in C, each recorded for autograd as the tensor method that
 * makes it (t:select, t:unsqueeze, t:expand): the same views and gradients as
 * the Lua compositions, without one Lua method call per view. */

/* fill box with view r of t (made by a ks_* view op that returned st), recorded as `kind` */
static void push_view(lua_State *L, ks_ctx *c, ks_tensor **box, ks_status st, ks_tensor *r, ks_view_kind kind,
                      const int64_t *args, int nargs, ks_tensor *t)
{
    if (st != KS_OK) ks_lua_raise(L, c);
    ks_lua_fillbox(L, c, box, r);
    if (ks_ag_record_view(c, kind, args, nargs, t, r) != KS_OK) ks_lua_raise(L, c);
}

/* ks._unbind(t, dim) -> {t:select(dim, 0), t:select(dim, 1), ...}; nothing when t is not a tensor
 * with dims or dim not an integer in range (the Lua wrapper then names what is wrong) */
static int l_unbind(lua_State *L)
{
    ks_ctx *c = KS_CTX(L);
    ks_tensor *t = ks_lua_to_tensor(L, 1);
    if (!t || t->ndim == 0 || !lua_isinteger(L, 2)) return 0;
    lua_Integer d = lua_tointeger(L, 2);
    if (d < -t->ndim || d >= t->ndim) return 0;
    if (d < 0) d += t->ndim;
    int64_t n = t->size[d];
    lua_createtable(L, n < INT_MAX ? (int)n : 0, 0);
    for (int64_t i = 0; i < n; i++) {
        ks_tensor **box = ks_lua_newbox(L);
        ks_tensor *r = NULL;
        int64_t args[2] = {d, i};
        ks_status st = ks_select(c, t, (int)d, i, &r);
        push_view(L, c, box, st, r, KS_VIEW_SELECT, args, 2, t);
        lua_rawseti(L, -2, (lua_Integer)i + 1);
    }
    return 1;
}

/* ks._meshgrid2(x1, x2) -> {x1:unsqueeze(1):expand({n1, n2}), x2:expand({n1, n2})} for two 1-d
 * tensors ("ij" indexing); nothing otherwise (the Lua wrapper's general path) */
static int l_meshgrid2(lua_State *L)
{
    ks_ctx *c = KS_CTX(L);
    ks_tensor *x1 = ks_lua_to_tensor(L, 1), *x2 = ks_lua_to_tensor(L, 2);
    if (!x1 || !x2 || x1->ndim != 1 || x2->ndim != 1) return 0;
    int64_t size[2] = {x1->size[0], x2->size[0]}, one = 1;
    lua_createtable(L, 2, 0);
    ks_tensor **ubox = ks_lua_newbox(L), **box = ks_lua_newbox(L); /* the column view, then its expand */
    ks_tensor *u = NULL, *r = NULL;
    ks_status st = ks_unsqueeze(c, x1, 1, &u);
    push_view(L, c, ubox, st, u, KS_VIEW_UNSQUEEZE, &one, 1, x1);
    st = ks_expand(c, u, 2, size, &r);
    push_view(L, c, box, st, r, KS_VIEW_EXPAND, size, 0, u);
    lua_rawseti(L, -3, 1);
    lua_pop(L, 1); /* the column view: the collector's (its node, if any, stays in the graph) */
    box = ks_lua_newbox(L);
    r = NULL;
    st = ks_expand(c, x2, 2, size, &r);
    push_view(L, c, box, st, r, KS_VIEW_EXPAND, size, 0, x2);
    lua_rawseti(L, -2, 2);
    return 1;
}

/* ks._grid_sample(input, grid, mode, padding, align_corners): mode 0 bilinear, 1 nearest;
 * padding 0 zeros, 1 border, 2 reflection (the Lua wrapper maps and checks the names) */
static int l_grid_sample(lua_State *L)
{
    ks_ctx *c = KS_CTX(L);
    ks_tensor *x = ks_lua_check_tensor(L, 1), *g = ks_lua_check_tensor(L, 2);
    ks_grid_sample_opts o = {(ks_gs_mode)luaL_checkinteger(L, 3), (ks_gs_padding)luaL_checkinteger(L, 4),
                             lua_toboolean(L, 5)};
    KS_LUA_NEW_RESULT(ks_nn_grid_sample(c, x, g, &r, &o));
}

static const luaL_Reg composed_kernel_fns[] = {
    {"_isclose", l_isclose}, {"_histc", l_histc}, {"_searchsorted", l_searchsorted}, {"_mode", l_mode},
    {"_quantile", l_quantile}, {"_diag_embed", l_diag_embed}, {"_trace", l_trace}, {"_take", l_take},
    {"_diff", l_diff}, {"_unbind", l_unbind}, {"_normal", l_normal},
    {"_cov", l_cov}, {"_corrcoef", l_corrcoef}, {"_meshgrid2", l_meshgrid2},
    {"_grid_sample", l_grid_sample}, {NULL, NULL}};

void ks_lua_open_composed_kernels(lua_State *L, int module, int methods, int ctxbox)
{
    (void)methods;
    ks_lua_register(L, composed_kernel_fns, module, ctxbox);
}
