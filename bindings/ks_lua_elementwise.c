/* ks_lua_elementwise.c: elementwise ops as module functions (ks.add(a, b)),
 * tensor methods (a:add(b), a:add_(b)) and operators (+ - * / % ^ // unary -,
 * & | ~ and unary ~). Comparisons are methods only (a:lt(b)): Lua turns the
 * results of __eq/__lt/__le into booleans.
 *
 * Differentiable ops go through the ks_ag_* entry points (ks_grad_ops.h),
 * which record autograd nodes when needed; in-place and out= forms refuse
 * leaves that require grad.
 *
 * ks.equal(a, b) -> boolean: same shape and equal elements (values compare
 * after promotion; NaN never equal), as torch.equal. ks.allclose(a, b[,
 * {rtol = 1e-5, atol = 1e-8, equal_nan = false}]) -> boolean: a and b
 * broadcast together and |a - b| <= atol + rtol * |b| everywhere, as
 * torch.allclose (positional (a, b, rtol, atol, equal_nan) too). Both are
 * also methods (a:equal(b), a:allclose(b, opts)). Contract: ks_compare.h.
 *
 * Every closure here has three upvalues: the context box, the tensor
 * metatable (a raw pointer compare beats luaL_testudata's registry lookup on
 * the per-op fast path) and the op number. */
#include "ks_lua.h"
#include "../runtime/core/ks_compare.h"
#include "../runtime/core/ks_elementwise.h"
#include "../runtime/core/ks_grad_ops.h"
#include "../runtime/core/ks_grad_select.h"

#include <stdio.h>
#include <string.h>

#define UP_MT lua_upvalueindex(2)
#define UP_OP lua_upvalueindex(3)

/* ---------------------------------------------------------- arguments */
/* type name for messages: the metatable's __name (e.g. FILE*) when present */
static const char *type_name(lua_State *L, int idx)
{
    if (luaL_getmetafield(L, idx, "__name") == LUA_TSTRING) return lua_tostring(L, -1);
    if (lua_type(L, idx) == LUA_TLIGHTUSERDATA) return "light userdata";
    return luaL_typename(L, idx);
}

/* The tensor box at idx, or NULL when the value is not a tensor. */
static ks_tensor **box_at(lua_State *L, int idx)
{
    ks_tensor **box = lua_touserdata(L, idx);
    if (!box || !lua_getmetatable(L, idx)) return NULL;
    int ok = lua_rawequal(L, -1, UP_MT);
    lua_pop(L, 1);
    return ok ? box : NULL;
}

static ks_tensor *check_tensor(lua_State *L, int idx)
{
    ks_tensor **box = box_at(L, idx);
    if (!box)
        luaL_argerror(L, idx, lua_pushfstring(L, "kshot.Tensor expected, got %s", type_name(L, idx)));
    if (!*box) luaL_argerror(L, idx, "tensor has been released (closed)");
    return *box;
}

/* A tensor, Lua number (integer or float) or boolean. */
static ks_operand check_operand(lua_State *L, int idx)
{
    switch (lua_type(L, idx)) {
    case LUA_TNUMBER:
        if (lua_isinteger(L, idx)) return ks_op_scalar(ks_scalar_int(lua_tointeger(L, idx)));
        return ks_op_scalar(ks_scalar_float(lua_tonumber(L, idx)));
    case LUA_TBOOLEAN:
        return ks_op_scalar(ks_scalar_bool(lua_toboolean(L, idx)));
    case LUA_TUSERDATA: {
        ks_tensor **box = box_at(L, idx);
        if (box) {
            if (!*box) luaL_argerror(L, idx, "tensor has been released (closed)");
            return ks_op_tensor(*box);
        }
    } /* fall through */
    default:
        luaL_argerror(L, idx, lua_pushfstring(L, "tensor or number expected, got %s", type_name(L, idx)));
        return ks_op_scalar(ks_scalar_int(0));
    }
}

static bool check_scalar(lua_State *L, int idx, ks_scalar *s, const char *what)
{
    if (lua_isnoneornil(L, idx)) return false;
    if (lua_type(L, idx) != LUA_TNUMBER)
        luaL_argerror(L, idx, lua_pushfstring(L, "number expected for %s, got %s", what, luaL_typename(L, idx)));
    *s = lua_isinteger(L, idx) ? ks_scalar_int(lua_tointeger(L, idx)) : ks_scalar_float(lua_tonumber(L, idx));
    return true;
}

/* An option: positional number at idx, or field `key` of a table at idx. */
static bool opt_scalar(lua_State *L, int idx, const char *key, ks_scalar *s)
{
    if (lua_istable(L, idx)) {
        lua_getfield(L, idx, key);
        bool has = check_scalar(L, lua_gettop(L), s, key);
        lua_pop(L, 1);
        return has;
    }
    return check_scalar(L, idx, s, key);
}

/* `out=` field of an options table at idx (NULL when absent). */
static ks_tensor *opt_out(lua_State *L, int idx)
{
    if (!lua_istable(L, idx)) return NULL;
    lua_getfield(L, idx, "out");
    ks_tensor *t = lua_isnil(L, -1) ? NULL : check_tensor(L, lua_gettop(L));
    lua_pop(L, 1);
    return t;
}

/* Push an empty tensor box (before the kernel runs, so errors leak nothing). */
static ks_tensor **push_box(lua_State *L)
{
    ks_tensor **box = lua_newuserdatauv(L, sizeof *box, 0);
    *box = NULL;
    lua_pushvalue(L, UP_MT);
    lua_setmetatable(L, -2);
    return box;
}

/* Return the result: new box filled, or the out= tensor at out_idx. */
static int result(lua_State *L, ks_ctx *c, ks_status st, ks_tensor **box, ks_tensor *r, int out_idx)
{
    if (st) return ks_lua_raise(L, c);
    if (out_idx) {
        lua_getfield(L, out_idx, "out");
        return 1;
    }
    ks_lua_fillbox(L, c, box, r);
    return 1;
}

/* ------------------------------------------------------------- binary */
/* The autograd guard of a write that is not recorded (in place, or out=):
 * dst must not be in the graph, nor may a source (up to 3; NULL: none)
 * require grad while grad mode is on. */
static ks_status guard_write(ks_ctx *c, const char *op, ks_tensor *dst, const ks_tensor *s1, const ks_tensor *s2,
                             const ks_tensor *s3)
{
    ks_status st = dst ? ks_ag_check_inplace(c, dst, op) : KS_OK;
    if (!st) st = ks_ag_check_inplace_src(c, s1, op);
    if (!st) st = ks_ag_check_inplace_src(c, s2, op);
    if (!st) st = ks_ag_check_inplace_src(c, s3, op);
    return st;
}

/* f(a, b[, alpha | {alpha=, out=}]); also the metamethods (a, b) */
static int l_binary(lua_State *L)
{
    ks_ctx *c = KS_CTX(L);
    ks_binop op = (ks_binop)lua_tointeger(L, UP_OP);
    ks_operand a = check_operand(L, 1), b = check_operand(L, 2);
    if (!a.t && !b.t) luaL_argerror(L, 1, "a tensor operand expected (both are numbers)");
    ks_scalar alpha;
    bool has_alpha = false;
    ks_tensor *dst = NULL;
    int out_idx = 0;
    if (lua_gettop(L) >= 3) {
        bool scaled = op == KS_OP_ADD || op == KS_OP_SUB;
        if (!scaled && !lua_isnoneornil(L, 3) && !lua_istable(L, 3))
            luaL_argerror(L, 3, lua_pushfstring(L, "options table expected, got %s", type_name(L, 3)));
        ks_lua_check_known(L, 3, ks_binop_name(op),
                           scaled ? (const char *const[]){"alpha", "out", NULL} : (const char *const[]){"out", NULL});
        has_alpha = scaled && opt_scalar(L, 3, "alpha", &alpha);
        if ((dst = opt_out(L, 3))) out_idx = 3;
    }
    ks_tensor **box = dst ? NULL : push_box(L);
    ks_tensor *r = NULL;
    ks_status st = dst ? guard_write(c, ks_binop_name(op), dst, a.t, b.t, NULL) : KS_OK;
    if (!st) st = dst ? ks_binary_op(c, op, a, b, has_alpha ? &alpha : NULL, dst, &r)
                      : ks_ag_binary(c, op, a, b, has_alpha ? &alpha : NULL, &r);
    return result(L, c, st, box, r, out_idx);
}

/* a:op_(b[, alpha]) in place; returns a */
static int l_binary_(lua_State *L)
{
    ks_ctx *c = KS_CTX(L);
    ks_binop op = (ks_binop)lua_tointeger(L, UP_OP);
    ks_tensor *a = check_tensor(L, 1);
    ks_operand b = check_operand(L, 2);
    ks_scalar alpha;
    bool scaled = op == KS_OP_ADD || op == KS_OP_SUB;
    if (scaled) ks_lua_check_known(L, 3, op == KS_OP_ADD ? "add_" : "sub_", (const char *const[]){"alpha", NULL});
    bool has_alpha = scaled && opt_scalar(L, 3, "alpha", &alpha);
    if (guard_write(c, ks_binop_name(op), a, b.t, NULL, NULL) ||
        ks_binary_op(c, op, ks_op_tensor(a), b, has_alpha ? &alpha : NULL, a, NULL))
        return ks_lua_raise(L, c);
    lua_settop(L, 1);
    return 1;
}

/* -------------------------------------------------------------- unary */
/* f(t[, {out=}]); also __unm and __bnot, which receive (t, t) */
static int l_unary(lua_State *L)
{
    ks_ctx *c = KS_CTX(L);
    ks_unop op = (ks_unop)lua_tointeger(L, UP_OP);
    ks_tensor *a = check_tensor(L, 1);
    ks_lua_check_known(L, 2, ks_unop_name(op), (const char *const[]){"out", NULL});
    ks_tensor *dst = opt_out(L, 2);
    ks_tensor **box = dst ? NULL : push_box(L);
    ks_tensor *r = NULL;
    ks_status st = dst ? guard_write(c, ks_unop_name(op), dst, a, NULL, NULL) : KS_OK;
    if (!st) st = dst ? ks_unary(c, op, a, dst, &r) : ks_ag_unary(c, op, a, &r);
    return result(L, c, st, box, r, dst ? 2 : 0);
}

static int l_unary_(lua_State *L)
{
    ks_ctx *c = KS_CTX(L);
    ks_tensor *a = check_tensor(L, 1);
    ks_unop op = (ks_unop)lua_tointeger(L, UP_OP);
    if (ks_ag_check_inplace(c, a, ks_unop_name(op)) || ks_unary(c, op, a, a, NULL)) return ks_lua_raise(L, c);
    lua_settop(L, 1);
    return 1;
}

/* ----------------------------------------------------- clamp, nan_to_num */
/* clamp(t, min, max) with nil for a missing side, or clamp(t, {min=, max=}) */
static int clamp_impl(lua_State *L, bool inplace)
{
    ks_ctx *c = KS_CTX(L);
    ks_tensor *a = check_tensor(L, 1);
    ks_scalar lo, hi;
    bool has_lo, has_hi;
    if (lua_istable(L, 2)) {
        ks_lua_check_known(L, 2, inplace ? "clamp_" : "clamp", (const char *const[]){"min", "max", NULL});
        has_lo = opt_scalar(L, 2, "min", &lo);
        has_hi = opt_scalar(L, 2, "max", &hi);
    } else {
        has_lo = check_scalar(L, 2, &lo, "min");
        has_hi = check_scalar(L, 3, &hi, "max");
    }
    if (!has_lo && !has_hi) return luaL_error(L, "clamp: at least one of min or max must be a number");
    ks_tensor *dst = inplace ? a : NULL;
    ks_tensor **box = dst ? NULL : push_box(L);
    ks_tensor *r = NULL;
    const ks_scalar *plo = has_lo ? &lo : NULL, *phi = has_hi ? &hi : NULL;
    ks_status st = inplace ? ks_ag_check_inplace(c, a, "clamp_") : KS_OK;
    if (!st) st = inplace ? ks_clamp(c, a, plo, phi, a, NULL) : ks_ag_clamp(c, a, plo, phi, &r);
    if (st) return ks_lua_raise(L, c);
    if (inplace) { lua_settop(L, 1); return 1; }
    return result(L, c, st, box, r, 0);
}
static int l_clamp(lua_State *L) { return clamp_impl(L, false); }
static int l_clamp_(lua_State *L) { return clamp_impl(L, true); }

/* nan_to_num(t[, nan[, posinf[, neginf]]]) or nan_to_num(t, {nan=, posinf=, neginf=}) */
static int n2n_impl(lua_State *L, bool inplace)
{
    ks_ctx *c = KS_CTX(L);
    ks_tensor *a = check_tensor(L, 1);
    const char *keys[3] = {"nan", "posinf", "neginf"};
    double v[3];
    const double *p[3] = {NULL, NULL, NULL};
    ks_lua_check_known(L, 2, inplace ? "nan_to_num_" : "nan_to_num", (const char *const[]){"nan", "posinf", "neginf", NULL});
    for (int i = 0; i < 3; i++) {
        ks_scalar s;
        if (lua_istable(L, 2) ? opt_scalar(L, 2, keys[i], &s) : check_scalar(L, 2 + i, &s, keys[i])) {
            v[i] = s.f;
            p[i] = &v[i];
        }
    }
    ks_tensor *dst = inplace ? a : NULL;
    ks_tensor **box = dst ? NULL : push_box(L);
    ks_tensor *r = NULL;
    ks_status st = inplace ? ks_ag_check_inplace(c, a, "nan_to_num_") : ks_ag_refuse(c, "nan_to_num", 1, &a);
    if (st || ks_nan_to_num(c, a, p[0], p[1], p[2], dst, &r))
        return ks_lua_raise(L, c);
    if (inplace) { lua_settop(L, 1); return 1; }
    ks_lua_fillbox(L, c, box, r);
    return 1;
}
static int l_nan_to_num(lua_State *L) { return n2n_impl(L, false); }
static int l_nan_to_num_(lua_State *L) { return n2n_impl(L, true); }

/* ---------------------------------------------------------- ternary */
/* ks.where(cond, a, b): a, b tensors or numbers */
static int l_where(lua_State *L)
{
    ks_ctx *c = KS_CTX(L);
    ks_tensor *cond = check_tensor(L, 1);
    ks_operand a = check_operand(L, 2), b = check_operand(L, 3);
    ks_tensor **box = push_box(L);
    ks_tensor *r = NULL;
    ks_status st = ks_ag_where(c, cond, a, b, &r);
    return result(L, c, st, box, r, 0);
}

/* x:where(cond, y) == ks.where(cond, x, y), as in PyTorch */
static int l_where_method(lua_State *L)
{
    lua_settop(L, 3);
    lua_pushvalue(L, 2); /* cond */
    lua_pushvalue(L, 1); /* x */
    lua_pushvalue(L, 3); /* y */
    lua_replace(L, 3);
    lua_replace(L, 2);
    lua_replace(L, 1);
    return l_where(L);
}

/* ks.equal(a, b) / a:equal(b) -> boolean: same shape and elements (torch.equal) */
static int l_equal(lua_State *L)
{
    ks_ctx *c = KS_CTX(L);
    ks_tensor *a = check_tensor(L, 1), *b = check_tensor(L, 2);
    bool eq;
    if (ks_equal(c, a, b, &eq)) return ks_lua_raise(L, c);
    lua_pushboolean(L, eq);
    return 1;
}

/* a number option of allclose (table field at -1, or positional argument) */
static double close_number(lua_State *L, int idx, int arg, const char *name, double def)
{
    if (lua_isnoneornil(L, idx)) return def;
    if (lua_type(L, idx) != LUA_TNUMBER)
        luaL_argerror(L, arg, lua_pushfstring(L, "%s must be a number, got %s", name, luaL_typename(L, idx)));
    return lua_tonumber(L, idx);
}

static bool close_bool(lua_State *L, int idx, int arg)
{
    if (lua_isnoneornil(L, idx)) return false;
    if (!lua_isboolean(L, idx))
        luaL_argerror(L, arg, lua_pushfstring(L, "equal_nan must be a boolean, got %s", luaL_typename(L, idx)));
    return lua_toboolean(L, idx);
}

/* ks.allclose(a, b[, {rtol = 1e-5, atol = 1e-8, equal_nan = false}]) or
 * (a, b[, rtol[, atol[, equal_nan]]]) -> boolean (torch.allclose) */
static int l_allclose(lua_State *L)
{
    ks_ctx *c = KS_CTX(L);
    ks_tensor *a = check_tensor(L, 1), *b = check_tensor(L, 2);
    double rtol = 1e-5, atol = 1e-8;
    bool equal_nan = false;
    if (lua_istable(L, 3)) {
        if (lua_gettop(L) > 3) return luaL_argerror(L, 4, "unexpected argument after the options table");
        for (lua_pushnil(L); lua_next(L, 3); lua_pop(L, 1)) {
            const char *k = lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : NULL;
            if (k && !strcmp(k, "rtol")) rtol = close_number(L, -1, 3, "rtol", rtol);
            else if (k && !strcmp(k, "atol")) atol = close_number(L, -1, 3, "atol", atol);
            else if (k && !strcmp(k, "equal_nan")) equal_nan = close_bool(L, -1, 3);
            else
                return luaL_argerror(L, 3, lua_pushfstring(L, "unknown option '%s' (expected rtol, atol, equal_nan)",
                                                           k ? k : luaL_typename(L, -2)));
        }
    } else {
        rtol = close_number(L, 3, 3, "rtol", rtol);
        atol = close_number(L, 4, 4, "atol", atol);
        equal_nan = close_bool(L, 5, 5);
    }
    bool close;
    if (ks_allclose(c, a, b, rtol, atol, equal_nan, &close)) return ks_lua_raise(L, c);
    lua_pushboolean(L, close);
    return 1;
}

/* lerp(start, end, weight) with weight a number or tensor */
static int lerp_impl(lua_State *L, bool inplace)
{
    ks_ctx *c = KS_CTX(L);
    ks_tensor *s = check_tensor(L, 1), *e = check_tensor(L, 2);
    ks_operand w = check_operand(L, 3);
    if (!w.t && w.s.kind == KS_BOOL) luaL_argerror(L, 3, "number or tensor expected for weight, got boolean");
    ks_tensor *dst = inplace ? s : NULL;
    ks_tensor **box = dst ? NULL : push_box(L);
    ks_tensor *r = NULL;
    ks_tensor *ins[3] = {s, e, (ks_tensor *)w.t};
    ks_status st = inplace ? guard_write(c, "lerp_", s, e, w.t, NULL) : ks_ag_refuse(c, "lerp", w.t ? 3 : 2, ins);
    if (st || ks_lerp(c, s, e, w, dst, &r)) return ks_lua_raise(L, c);
    if (inplace) { lua_settop(L, 1); return 1; }
    ks_lua_fillbox(L, c, box, r);
    return 1;
}
static int l_lerp(lua_State *L) { return lerp_impl(L, false); }
static int l_lerp_(lua_State *L) { return lerp_impl(L, true); }

/* addcmul(self, t1, t2[, value | {value=}]); addcdiv likewise (op upvalue: 1 = div) */
static int addc_impl(lua_State *L, bool inplace)
{
    ks_ctx *c = KS_CTX(L);
    bool divide = lua_tointeger(L, UP_OP) != 0;
    ks_tensor *self = check_tensor(L, 1), *t1 = check_tensor(L, 2), *t2 = check_tensor(L, 3);
    const char *name = divide ? (inplace ? "addcdiv_" : "addcdiv") : (inplace ? "addcmul_" : "addcmul");
    /* value is the only option: another key or a 5th argument is a mistake, not something to skip */
    while (lua_gettop(L) > 4 && lua_isnil(L, -1)) lua_pop(L, 1); /* f(t, t1, t2, v, nil) is f(t, t1, t2, v) */
    if (lua_gettop(L) > 4)
        return luaL_argerror(L, 5, lua_pushfstring(L, "%s takes (t, t1, t2[, value | {value =}]), got %d arguments",
                                                   name, lua_gettop(L)));
    ks_lua_check_known(L, 4, name, (const char *const[]){"value", NULL});
    ks_scalar v = ks_scalar_float(1);
    opt_scalar(L, 4, "value", &v);
    double value = v.kind == KS_FLOAT32 ? v.f : (double)v.i;
    ks_tensor *dst = inplace ? self : NULL;
    ks_tensor **box = dst ? NULL : push_box(L);
    ks_tensor *r = NULL;
    ks_tensor *ins[3] = {self, t1, t2};
    ks_status st = inplace ? guard_write(c, name, self, t1, t2, NULL) : ks_ag_refuse(c, name, 3, ins);
    if (st ||
        ks_addcmul(c, self, t1, t2, value, divide, dst, &r))
        return ks_lua_raise(L, c);
    if (inplace) { lua_settop(L, 1); return 1; }
    ks_lua_fillbox(L, c, box, r);
    return 1;
}
static int l_addc(lua_State *L) { return addc_impl(L, false); }
static int l_addc_(lua_State *L) { return addc_impl(L, true); }

/* -------------------------------------------------------- registration */
struct op_entry {
    const char *name;
    int op;
};

static const struct op_entry binops[] = {
    {"add", KS_OP_ADD}, {"sub", KS_OP_SUB}, {"subtract", KS_OP_SUB}, {"mul", KS_OP_MUL},
    {"multiply", KS_OP_MUL}, {"div", KS_OP_DIV}, {"divide", KS_OP_DIV}, {"true_divide", KS_OP_DIV},
    {"floor_divide", KS_OP_FLOOR_DIVIDE}, {"remainder", KS_OP_REMAINDER}, {"fmod", KS_OP_FMOD}, {"pow", KS_OP_POW},
    {"maximum", KS_OP_MAXIMUM}, {"minimum", KS_OP_MINIMUM}, {"atan2", KS_OP_ATAN2},
    {"eq", KS_OP_EQ}, {"ne", KS_OP_NE}, {"not_equal", KS_OP_NE}, {"lt", KS_OP_LT}, {"less", KS_OP_LT},
    {"le", KS_OP_LE}, {"less_equal", KS_OP_LE}, {"gt", KS_OP_GT}, {"greater", KS_OP_GT},
    {"ge", KS_OP_GE}, {"greater_equal", KS_OP_GE},
    {"logical_and", KS_OP_LOGICAL_AND}, {"logical_or", KS_OP_LOGICAL_OR}, {"logical_xor", KS_OP_LOGICAL_XOR},
    {"bitwise_and", KS_OP_BITWISE_AND}, {"bitwise_or", KS_OP_BITWISE_OR}, {"bitwise_xor", KS_OP_BITWISE_XOR},
    {NULL, 0}};

static const struct op_entry binmeta[] = {
    {"__add", KS_OP_ADD}, {"__sub", KS_OP_SUB}, {"__mul", KS_OP_MUL}, {"__div", KS_OP_DIV},
    {"__mod", KS_OP_REMAINDER}, {"__pow", KS_OP_POW}, {"__idiv", KS_OP_FLOOR_DIVIDE},
    {"__band", KS_OP_BITWISE_AND}, {"__bor", KS_OP_BITWISE_OR}, {"__bxor", KS_OP_BITWISE_XOR},
    {NULL, 0}};

static const struct op_entry unops[] = {
    {"neg", KS_OP_NEG}, {"negative", KS_OP_NEG}, {"abs", KS_OP_ABS}, {"sign", KS_OP_SIGN},
    {"exp", KS_OP_EXP}, {"exp2", KS_OP_EXP2}, {"expm1", KS_OP_EXPM1}, {"log", KS_OP_LOG},
    {"log2", KS_OP_LOG2}, {"log10", KS_OP_LOG10}, {"log1p", KS_OP_LOG1P}, {"sqrt", KS_OP_SQRT},
    {"rsqrt", KS_OP_RSQRT}, {"reciprocal", KS_OP_RECIPROCAL}, {"square", KS_OP_SQUARE},
    {"sin", KS_OP_SIN}, {"cos", KS_OP_COS}, {"tan", KS_OP_TAN}, {"tanh", KS_OP_TANH},
    {"sigmoid", KS_OP_SIGMOID}, {"relu", KS_OP_RELU}, {"floor", KS_OP_FLOOR}, {"ceil", KS_OP_CEIL},
    {"round", KS_OP_ROUND}, {"trunc", KS_OP_TRUNC}, {"frac", KS_OP_FRAC}, {"erf", KS_OP_ERF},
    {"logical_not", KS_OP_LOGICAL_NOT}, {"bitwise_not", KS_OP_BITWISE_NOT},
    {NULL, 0}};

/* no in-place forms (their results are bool) */
static const struct op_entry unops_pure[] = {
    {"isfinite", KS_OP_ISFINITE}, {"isnan", KS_OP_ISNAN}, {"isinf", KS_OP_ISINF}, {NULL, 0}};

struct fn_entry {
    const char *name;
    lua_CFunction fn;
    int op;
};

static const struct fn_entry others[] = {
    {"clamp", l_clamp, 0}, {"clip", l_clamp, 0}, {"clamp_", l_clamp_, 0}, {"clip_", l_clamp_, 0},
    {"nan_to_num", l_nan_to_num, 0}, {"nan_to_num_", l_nan_to_num_, 0},
    {"lerp", l_lerp, 0}, {"lerp_", l_lerp_, 0},
    {"addcmul", l_addc, 0}, {"addcmul_", l_addc_, 0}, {"addcdiv", l_addc, 1}, {"addcdiv_", l_addc_, 1},
    {"equal", l_equal, 0}, {"allclose", l_allclose, 0},
    {NULL, NULL, 0}};

/* t[name] = closure(fn; ctxbox, mt, op) */
static void set_fn(lua_State *L, int table, const char *name, lua_CFunction fn, int op, int ctxbox, int mt)
{
    lua_pushvalue(L, ctxbox);
    lua_pushvalue(L, mt);
    lua_pushinteger(L, op);
    lua_pushcclosure(L, fn, 3);
    lua_setfield(L, table, name);
}

/* name in the module and methods; name_ (in place) in the methods */
static void set_ops(lua_State *L, const struct op_entry *e, lua_CFunction fn, lua_CFunction fn_, int module,
                    int methods, int ctxbox, int mt)
{
    for (; e->name; e++) {
        set_fn(L, module, e->name, fn, e->op, ctxbox, mt);
        set_fn(L, methods, e->name, fn, e->op, ctxbox, mt);
        if (!fn_) continue;
        char name[64];
        snprintf(name, sizeof name, "%s_", e->name);
        set_fn(L, methods, name, fn_, e->op, ctxbox, mt);
    }
}

void ks_lua_open_elementwise(lua_State *L, int module, int methods, int ctxbox)
{
    module = lua_absindex(L, module);
    methods = lua_absindex(L, methods);
    ctxbox = lua_absindex(L, ctxbox);
    luaL_getmetatable(L, KS_TENSOR_MT);
    int mt = lua_gettop(L);
    set_ops(L, binops, l_binary, l_binary_, module, methods, ctxbox, mt);
    set_ops(L, unops, l_unary, l_unary_, module, methods, ctxbox, mt);
    set_ops(L, unops_pure, l_unary, NULL, module, methods, ctxbox, mt);
    for (const struct fn_entry *e = others; e->name; e++) {
        if (e->name[strlen(e->name) - 1] != '_') set_fn(L, module, e->name, e->fn, e->op, ctxbox, mt);
        set_fn(L, methods, e->name, e->fn, e->op, ctxbox, mt);
    }
    set_fn(L, module, "where", l_where, 0, ctxbox, mt);
    set_fn(L, methods, "where", l_where_method, 0, ctxbox, mt);
    for (const struct op_entry *e = binmeta; e->name; e++) set_fn(L, mt, e->name, l_binary, e->op, ctxbox, mt);
    set_fn(L, mt, "__unm", l_unary, KS_OP_NEG, ctxbox, mt);
    set_fn(L, mt, "__bnot", l_unary, KS_OP_BITWISE_NOT, ctxbox, mt);
    lua_pop(L, 1);
}
