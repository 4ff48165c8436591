/* ks_lua_linalg.c: matmul, mm, bmm, mv, dot, outer, addmm (module
 * functions and tensor methods). */
#include "ks_lua.h"
#include "../runtime/core/ks_linalg.h"
#include "../runtime/core/ks_grad_ops.h"

typedef ks_status (*binary_fn)(ks_ctx *, ks_tensor *, ks_tensor *, ks_tensor **);

static int binary(lua_State *L, binary_fn fn)
{
    ks_ctx *c = KS_CTX(L);
    ks_tensor *a = ks_lua_check_tensor(L, 1), *b = ks_lua_check_tensor(L, 2);
    ks_tensor **box = ks_lua_newbox(L);
    ks_tensor *r = NULL;
    if (fn(c, a, b, &r)) return ks_lua_raise(L, c);
    ks_lua_fillbox(L, c, box, r);
    return 1;
}

/* ks.matmul(a, b[, out]) / a:matmul(b[, out]); out may also be {out = t}.
 * With out, the result is written into it and out is returned. */
static int l_matmul(lua_State *L)
{
    if (lua_istable(L, 3)) {
        ks_lua_check_known(L, 3, "matmul", (const char *const[]){"out", NULL});
        lua_getfield(L, 3, "out");
        lua_replace(L, 3);
    }
    if (lua_isnoneornil(L, 3)) return binary(L, ks_ag_matmul);
    ks_tensor *out = ks_lua_check_tensor(L, 3);
    ks_ctx *c = KS_CTX(L);
    ks_tensor *a = ks_lua_check_tensor(L, 1), *b = ks_lua_check_tensor(L, 2);
    ks_tensor *ins[2] = {a, b};
    if (ks_ag_needs_record(c, 2, ins))
        return luaL_error(L, "matmul(): functions with out=... arguments don't support automatic differentiation");
    if (ks_matmul_out(c, a, b, out)) return ks_lua_raise(L, c);
    lua_settop(L, 3);
    return 1;
}

static ks_status ag_mm(ks_ctx *c, ks_tensor *a, ks_tensor *b, ks_tensor **o) { return ks_ag_mm(c, KS_AG_MM, a, b, o); }
static ks_status ag_bmm(ks_ctx *c, ks_tensor *a, ks_tensor *b, ks_tensor **o) { return ks_ag_mm(c, KS_AG_BMM, a, b, o); }
static ks_status ag_mv(ks_ctx *c, ks_tensor *a, ks_tensor *b, ks_tensor **o) { return ks_ag_mm(c, KS_AG_MV, a, b, o); }
static ks_status ag_dot(ks_ctx *c, ks_tensor *a, ks_tensor *b, ks_tensor **o) { return ks_ag_mm(c, KS_AG_DOT, a, b, o); }

/* f(a, b[, {out = r}]) for mm, bmm, mv, dot, outer: torch's out= keyword in
 * an options table, as ks.add takes it. Anything else after b is an error
 * (an extra argument used to be dropped: ks.mm(a, b, {out = r}) quietly
 * returned a new tensor and left r alone). */
static int strict(lua_State *L, const char *name, ks_product kind, binary_fn fn)
{
    int top = lua_gettop(L);
    while (top > 2 && lua_isnil(L, top)) top--; /* trailing nils are absent arguments */
    if (top == 2) {
        lua_settop(L, 2);
        return binary(L, fn);
    }
    if (top > 3)
        return luaL_argerror(L, 4, lua_pushfstring(L, "%s takes (a, b[, {out = r}]), got %d arguments", name, top));
    if (!lua_istable(L, 3))
        return luaL_argerror(L, 3, lua_pushfstring(L, "options table {out = r} expected, got %s", luaL_typename(L, 3)));
    ks_lua_check_known(L, 3, name, (const char *const[]){"out", NULL});
    lua_getfield(L, 3, "out");
    if (lua_isnil(L, -1)) {
        lua_settop(L, 2);
        return binary(L, fn);
    }
    ks_tensor *out = ks_lua_check_tensor(L, 4);
    ks_ctx *c = KS_CTX(L);
    ks_tensor *a = ks_lua_check_tensor(L, 1), *b = ks_lua_check_tensor(L, 2);
    /* as torch: no autograd through out=, and out itself may not be a tensor that requires grad */
    ks_tensor *ins[3] = {a, b, out};
    if (ks_ag_needs_record(c, 3, ins))
        return luaL_error(L, "%s(): functions with out=... arguments don't support automatic differentiation", name);
    if (ks_product_out(c, kind, a, b, out)) return ks_lua_raise(L, c);
    return 1; /* out, on the top */
}

static int l_mm(lua_State *L) { return strict(L, "mm", KS_PRODUCT_MM, ag_mm); }
static int l_bmm(lua_State *L) { return strict(L, "bmm", KS_PRODUCT_BMM, ag_bmm); }
static int l_mv(lua_State *L) { return strict(L, "mv", KS_PRODUCT_MV, ag_mv); }
static int l_dot(lua_State *L) { return strict(L, "dot", KS_PRODUCT_DOT, ag_dot); }
static int l_outer(lua_State *L) { return strict(L, "outer", KS_PRODUCT_OUTER, ks_ag_outer); }

static double opt_number_field(lua_State *L, int arg, const char *key, double def)
{
    lua_getfield(L, arg, key);
    double v = def;
    if (!lua_isnil(L, -1)) {
        int ok;
        v = lua_tonumberx(L, -1, &ok);
        if (!ok) luaL_argerror(L, arg, lua_pushfstring(L, "field '%s' must be a number", key));
    }
    lua_pop(L, 1);
    return v;
}

/* ks.addmm(input, a, b[, beta[, alpha]]) or ks.addmm(input, a, b, {beta=, alpha=}):
 * beta * input + alpha * (a @ b) */
static int l_addmm(lua_State *L)
{
    ks_ctx *c = KS_CTX(L);
    ks_tensor *in = ks_lua_check_tensorlike(L, 1, -1);
    ks_tensor *a = ks_lua_check_tensor(L, 2), *b = ks_lua_check_tensor(L, 3);
    double beta, alpha;
    if (lua_istable(L, 4)) {
        ks_lua_check_known(L, 4, "addmm", (const char *const[]){"beta", "alpha", NULL});
        beta = opt_number_field(L, 4, "beta", 1.0);
        alpha = opt_number_field(L, 4, "alpha", 1.0);
    } else {
        beta = luaL_optnumber(L, 4, 1.0);
        alpha = luaL_optnumber(L, 5, 1.0);
    }
    ks_tensor **box = ks_lua_newbox(L);
    ks_tensor *r = NULL;
    if (ks_ag_addmm(c, in, a, b, beta, alpha, &r)) return ks_lua_raise(L, c);
    ks_lua_fillbox(L, c, box, r);
    return 1;
}

static const luaL_Reg linalg_fns[] = {
    {"matmul", l_matmul}, {"mm", l_mm}, {"bmm", l_bmm}, {"mv", l_mv},
    {"dot", l_dot}, {"outer", l_outer}, {"addmm", l_addmm},
    {NULL, NULL}};

void ks_lua_open_linalg(lua_State *L, int module, int methods, int ctxbox)
{
    ks_lua_register(L, linalg_fns, module, ctxbox);
    ks_lua_register(L, linalg_fns, methods, ctxbox);
}
