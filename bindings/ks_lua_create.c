/* ks_lua_create.c: tensor creation from Lua values and by shape.
 *
 *   ks.tensor(data[, opts])        data: nested tables of numbers/booleans, a
 *                                  number, a boolean or a tensor (copied)
 *   ks.empty/zeros/ones(shape...[, opts])   shape as varargs (2, 3) or a table {2, 3}
 *   ks.full(shape, value[, opts])  dtype from the value when not given:
 *                                  integer -> int64, float -> float32, boolean -> bool
 *   ks.arange(end) / ks.arange(start, end[, step])[, opts]
 *                                  int64 when every bound is a Lua integer, else float32
 *   ks.linspace(start, end, steps[, opts])
 *   ks._logspace(start, end, steps, base)   kshot.tensor_math_extra's logspace without options
 *   ks.eye(n[, m][, opts])
 *   ks.zeros_like/ones_like/empty_like(t[, opts]), ks.full_like(t, value[, opts])
 *
 * opts: a dtype name ("float32", "int64", "uint8", "bool") or a table
 * {dtype=, requires_grad=}. The dtype constants ks.float32, ks.int64,
 * ks.uint8, ks.bool (and torch's aliases ks.float = float32, ks.long =
 * int64) are those names as strings: ks.zeros(3, ks.int64),
 * ks.tensor({1, 2}, {dtype = ks.int64}), t:to(ks.uint8), t:dtype() == ks.int64.
 * Numbers in tables become float32 by default, booleans bool (mixed:
 * float32). Positions in error messages are the Lua (1-based) positions
 * inside the table argument: "row 2" is data[2], "row 2.1" is data[2][1].
 *
 * A Lua number stored into an int64 or uint8 tensor (ks.tensor with a dtype,
 * full, full_like, fill_) must be representable (ks_check_fill_value: not
 * NaN/inf, in range, 0..255 for uint8; fractions truncate), else an error
 * names the value and the dtype, as PyTorch's "cannot be converted without
 * overflow". Tensor sources (ks.tensor(t, dtype), fill_(t)) convert like C
 * casts, as PyTorch's dtype conversions do.
 *
 * Errors name the function: "zeros: negative size -1 in shape [-1]",
 * "tensor: row 2 has 2 elements, expected 1", "eye: unknown option 'foo'
 * (known: dtype, requires_grad)" (kshot.options' wording); argument type
 * errors are Lua's "bad argument #2 to 'full' (...)". The random creators
 * (ks_lua_random.c) share the options parser and the rule.
 */
#include "ks_lua_create.h"
#include "../runtime/core/ks_fill.h"
#include "../runtime/core/ks_grad_ops.h"
#include "../runtime/core/ks_indexing.h"

#include <string.h>

/* ----------------------------------------------------------- options */
static ks_dtype dtype_value(lua_State *L, int idx, const char *fn)
{
    int dt = lua_type(L, idx) == LUA_TSTRING ? ks_dtype_from_name(lua_tostring(L, idx)) : -1;
    if (dt < 0) {
        bool named = lua_type(L, idx) == LUA_TSTRING;
        luaL_error(L, "%s: option 'dtype': unknown dtype %s (expected float32, int64, uint8 or bool%s)", fn,
                   named ? lua_tostring(L, idx) : luaL_typename(L, idx), named ? ks_lua_dtype_hint(lua_tostring(L, idx)) : "");
    }
    return (ks_dtype)dt;
}

void ks_lua_check_copts(lua_State *L, int arg, ks_dtype def, bool allow_gen, const char *fn, ks_copts *o)
{
    o->fn = fn;
    o->dt = def;
    o->has_dt = false;
    o->requires_grad = false;
    o->gen = NULL;
    if (lua_gettop(L) > arg) luaL_argerror(L, arg + 1, "unexpected extra argument");
    int ty = lua_type(L, arg);
    if (ty == LUA_TNONE || ty == LUA_TNIL) return;
    if (ty == LUA_TSTRING) {
        o->dt = ks_lua_opt_dtype(L, arg, def);
        o->has_dt = true;
        return;
    }
    if (ty != LUA_TTABLE)
        luaL_argerror(L, arg, lua_pushfstring(L, "dtype name or options table expected, got %s", luaL_typename(L, arg)));
    lua_pushnil(L);
    while (lua_next(L, arg)) {
        const char *k = lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : NULL;
        if (k && strcmp(k, "dtype") == 0) {
            o->dt = dtype_value(L, -1, fn);
            o->has_dt = true;
        } else if (k && strcmp(k, "requires_grad") == 0) {
            o->requires_grad = lua_toboolean(L, -1);
        } else if (k && allow_gen && strcmp(k, "generator") == 0) {
            o->gen = ks_lua_opt_generator(L, -1);
        } else { /* kshot.options' wording: the known names and the nearest one */
            static const char *const known[] = {"dtype", "requires_grad", NULL};
            static const char *const known_gen[] = {"dtype", "requires_grad", "generator", NULL};
            ks_lua_check_known(L, arg, fn, allow_gen ? known_gen : known);
        }
        lua_pop(L, 1);
    }
}

int ks_lua_shape_args(lua_State *L, int arg, int64_t *size, int *ndim)
{
    *ndim = ks_lua_check_shape(L, arg, size);
    return lua_istable(L, arg) ? arg + 1 : arg + *ndim;
}

void ks_lua_finish_new(lua_State *L, ks_ctx *c, ks_tensor **box, ks_tensor *t, const ks_copts *o)
{
    if (o->requires_grad) {
        if (t->dtype != KS_FLOAT32) {
            const char *name = ks_dtype_name(t->dtype); /* read before the release frees t */
            ks_tensor_release(t);
            luaL_error(L, "%s: only floating point (float32) tensors can require gradients, got %s", o->fn, name);
        }
        t->requires_grad = true;
    }
    ks_lua_fillbox(L, c, box, t);
}

int ks_lua_raise_in(lua_State *L, ks_ctx *c, const char *fn)
{
    const char *m = ks_ctx_message(c);
    size_t n = strlen(fn);
    /* the core already named it ("arange: ...", "full(): ...") */
    if (strncmp(m, fn, n) == 0 && (m[n] == ':' || m[n] == '(')) return luaL_error(L, "%s", m);
    return luaL_error(L, "%s: %s", fn, m);
}

/* -------------------------------------------------- nested Lua tables */
struct nest {
    int ndim;
    int64_t size[KS_MAX_DIMS];
    lua_Integer pos[KS_MAX_DIMS]; /* current Lua index at each depth (for messages) */
    int64_t numbers, booleans;
    int dt; /* the requested dtype (< 0: inferred, any number fits) */
};

static const char *pos_str(lua_State *L, const struct nest *n, int depth)
{
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    for (int d = 0; d < depth; d++) {
        if (d) luaL_addchar(&b, '.');
        lua_pushinteger(L, n->pos[d]);
        luaL_addvalue(&b);
    }
    luaL_pushresult(&b);
    return lua_tostring(L, -1);
}

/* The shape is read along the first elements; check_nest validates the rest. */
static void infer_shape(lua_State *L, int idx, struct nest *n, const char *fn)
{
    n->ndim = 0;
    lua_pushvalue(L, idx);
    while (lua_istable(L, -1)) {
        if (n->ndim == KS_MAX_DIMS) luaL_error(L, "%s: tables nested deeper than %d dimensions", fn, KS_MAX_DIMS);
        lua_Integer len = (lua_Integer)lua_rawlen(L, -1);
        n->size[n->ndim++] = len;
        if (len == 0) break;
        lua_rawgeti(L, -1, 1);
        lua_remove(L, -2);
    }
    lua_pop(L, 1);
}

/* The number at the top of the stack must fit the requested dtype. */
static void check_number(lua_State *L, const struct nest *n, int depth, const char *fn)
{
    if (n->dt != KS_INT64 && n->dt != KS_UINT8) return;
    ks_ctx *c = ks_lua_getctx(L);
    ks_status st = lua_isinteger(L, -1) ? ks_check_fill_i64(c, fn, (ks_dtype)n->dt, lua_tointeger(L, -1))
                                        : ks_check_fill_value(c, fn, (ks_dtype)n->dt, lua_tonumber(L, -1));
    if (!st) return;
    const char *v = luaL_tolstring(L, -1, NULL);
    if (depth == 0) luaL_error(L, "%s: value %s cannot be converted to %s without overflow", fn, v, ks_dtype_name(n->dt));
    luaL_error(L, "%s: element %s (value %s) cannot be converted to %s without overflow", fn, pos_str(L, n, depth), v,
               ks_dtype_name(n->dt));
}

/* Validate the value at the top of the stack at `depth`; count element kinds. */
static void check_nest(lua_State *L, struct nest *n, int depth, const char *fn)
{
    int ty = lua_type(L, -1);
    if (depth == n->ndim) {
        if (ty == LUA_TNUMBER) { n->numbers++; check_number(L, n, depth, fn); return; }
        if (ty == LUA_TBOOLEAN) { n->booleans++; return; }
        if (ty == LUA_TTABLE)
            luaL_error(L, "%s: element %s is a table but the rows before it hold numbers (ragged nesting)", fn,
                       pos_str(L, n, depth));
        luaL_error(L, "%s: element %s is a %s, expected a number or boolean", fn, pos_str(L, n, depth),
                   luaL_typename(L, -1));
    }
    if (ty != LUA_TTABLE)
        luaL_error(L, "%s: row %s is a %s, expected a table of %d elements", fn, pos_str(L, n, depth),
                   luaL_typename(L, -1), (int)n->size[depth]);
    lua_Integer len = (lua_Integer)lua_rawlen(L, -1);
    if (len != n->size[depth])
        luaL_error(L, "%s: row %s has %d elements, expected %d", fn, pos_str(L, n, depth), (int)len, (int)n->size[depth]);
    luaL_checkstack(L, 4, "nested table");
    for (lua_Integer i = 1; i <= len; i++) {
        n->pos[depth] = i;
        lua_rawgeti(L, -1, i);
        check_nest(L, n, depth + 1, fn);
        lua_pop(L, 1);
    }
}

/* Store the validated nest at the top of the stack into contiguous memory (cannot raise). */
static char *store_nest(lua_State *L, const struct nest *n, int depth, char *p, ks_dtype dt, size_t isz)
{
    if (depth == n->ndim) {
        if (lua_isboolean(L, -1)) ks_store_i64(p, dt, lua_toboolean(L, -1));
        else if (lua_isinteger(L, -1)) ks_store_i64(p, dt, lua_tointeger(L, -1));
        else ks_store_f64(p, dt, lua_tonumber(L, -1));
        return p + isz;
    }
    for (lua_Integer i = 1; i <= n->size[depth]; i++) {
        lua_rawgeti(L, -1, i);
        p = store_nest(L, n, depth + 1, p, dt, isz);
        lua_pop(L, 1);
    }
    return p;
}

/* Convert the Lua value at idx (not a tensor) into a new tensor pushed on the
 * stack. dt < 0 infers the dtype. */
static ks_tensor *push_from_lua(lua_State *L, ks_ctx *c, int idx, int dt, const char *fn)
{
    idx = lua_absindex(L, idx);
    int ty = lua_type(L, idx);
    if (ty != LUA_TNUMBER && ty != LUA_TBOOLEAN && ty != LUA_TTABLE)
        luaL_error(L, "%s: expected a table, number, boolean or tensor, got %s", fn, luaL_typename(L, idx));
    struct nest n = {0};
    n.dt = dt;
    if (ty != LUA_TTABLE) n.ndim = 0;
    else infer_shape(L, idx, &n, fn);
    lua_pushvalue(L, idx);
    check_nest(L, &n, 0, fn);
    lua_pop(L, 1);
    ks_dtype d = dt >= 0 ? (ks_dtype)dt : (n.booleans && !n.numbers) ? KS_BOOL : KS_FLOAT32;
    ks_tensor **box = ks_lua_newbox(L);
    ks_tensor *t;
    if (ks_tensor_empty(c, d, n.ndim, n.size, &t)) ks_lua_raise_in(L, c, fn);
    lua_pushvalue(L, idx);
    store_nest(L, &n, 0, ks_tensor_data(t), d, ks_dtype_size(d));
    lua_pop(L, 1);
    ks_lua_fillbox(L, c, box, t);
    return t;
}

ks_tensor *ks_lua_check_tensorlike(lua_State *L, int arg, int dt)
{
    ks_tensor *t = ks_lua_to_tensor(L, arg);
    if (t) return t;
    int ty = lua_type(L, arg);
    if (ks_lua_to_tensor(L, arg) == NULL && luaL_testudata(L, arg, KS_TENSOR_MT))
        luaL_argerror(L, arg, "tensor has been released (closed)");
    if (ty != LUA_TNUMBER && ty != LUA_TBOOLEAN && ty != LUA_TTABLE)
        luaL_argerror(L, arg, lua_pushfstring(L, "tensor, number, boolean or table expected, got %s",
                                              luaL_typename(L, arg)));
    arg = lua_absindex(L, arg);
    t = push_from_lua(L, ks_lua_getctx(L), arg, dt, "tensor argument");
    lua_replace(L, arg);
    return t;
}

/* ------------------------------------------------------------- ks.tensor */
static int l_tensor(lua_State *L)
{
    ks_ctx *c = KS_CTX(L);
    ks_copts o;
    luaL_checkany(L, 1);
    ks_lua_check_copts(L, 2, KS_FLOAT32, false, "tensor", &o);
    ks_tensor *src = ks_lua_to_tensor(L, 1);
    if (src) { /* a copy, like torch.tensor(t) */
        ks_tensor **box = ks_lua_newbox(L);
        ks_tensor *r;
        if (ks_tensor_empty_like(c, src, o.has_dt ? o.dt : src->dtype, &r)) return ks_lua_raise_in(L, c, "tensor");
        if (ks_copy_(c, r, src)) { ks_tensor_release(r); return ks_lua_raise_in(L, c, "tensor"); }
        ks_lua_finish_new(L, c, box, r, &o);
        return 1;
    }
    ks_tensor *t = push_from_lua(L, c, 1, o.has_dt ? (int)o.dt : -1, "tensor");
    if (o.requires_grad) {
        if (t->dtype != KS_FLOAT32)
            return luaL_error(L, "tensor: only floating point (float32) tensors can require gradients, got %s",
                              ks_dtype_name(t->dtype));
        t->requires_grad = true;
    }
    return 1;
}

/* ------------------------------------------------------ shape creators */
static int by_shape(lua_State *L, int kind) /* 0 empty, 1 zeros, 2 ones */
{
    static const char *const names[] = {"empty", "zeros", "ones"};
    ks_ctx *c = KS_CTX(L);
    int64_t size[KS_MAX_DIMS];
    int ndim;
    ks_copts o;
    ks_lua_check_copts(L, ks_lua_shape_args(L, 1, size, &ndim), KS_FLOAT32, false, names[kind], &o);
    ks_tensor **box = ks_lua_newbox(L);
    ks_tensor *t;
    if (ks_tensor_empty(c, o.dt, ndim, size, &t)) return ks_lua_raise_in(L, c, o.fn);
    if (kind && ks_fill_(c, t, kind == 2)) { ks_tensor_release(t); return ks_lua_raise_in(L, c, o.fn); }
    ks_lua_finish_new(L, c, box, t, &o);
    return 1;
}
static int l_empty(lua_State *L) { return by_shape(L, 0); }
static int l_zeros(lua_State *L) { return by_shape(L, 1); }
static int l_ones(lua_State *L) { return by_shape(L, 2); }

/* dtype of a fill value when none is given (PyTorch's inference) */
static ks_dtype value_dtype(lua_State *L, int arg)
{
    if (lua_isboolean(L, arg)) return KS_BOOL;
    if (lua_type(L, arg) != LUA_TNUMBER)
        luaL_argerror(L, arg, lua_pushfstring(L, "fill value must be a number or boolean, got %s", luaL_typename(L, arg)));
    return lua_isinteger(L, arg) ? KS_INT64 : KS_FLOAT32;
}

/* Before allocating: the fill value at arg must fit dtype dt. */
static void check_fill_arg(lua_State *L, ks_ctx *c, int arg, ks_dtype dt, const char *op)
{
    if (lua_isboolean(L, arg)) return;
    ks_status st = lua_isinteger(L, arg) ? ks_check_fill_i64(c, op, dt, lua_tointeger(L, arg))
                                         : ks_check_fill_value(c, op, dt, lua_tonumber(L, arg));
    if (st) ks_lua_raise_in(L, c, op);
}

static ks_status fill_value(ks_ctx *c, lua_State *L, ks_tensor *t, int arg)
{
    if (lua_isboolean(L, arg)) return ks_fill_i64_(c, t, lua_toboolean(L, arg));
    if (lua_isinteger(L, arg)) return ks_fill_i64_(c, t, lua_tointeger(L, arg));
    return ks_fill_(c, t, lua_tonumber(L, arg));
}

static int new_filled(lua_State *L, ks_ctx *c, int ndim, const int64_t *size, int varg, const ks_copts *o,
                      const char *op)
{
    check_fill_arg(L, c, varg, o->dt, op);
    ks_tensor **box = ks_lua_newbox(L);
    ks_tensor *t;
    if (ks_tensor_empty(c, o->dt, ndim, size, &t)) return ks_lua_raise_in(L, c, op);
    if (fill_value(c, L, t, varg)) { ks_tensor_release(t); return ks_lua_raise_in(L, c, op); }
    ks_lua_finish_new(L, c, box, t, o);
    return 1;
}

/* ks.full(shape, value[, opts]): shape a table, or one integer for 1-D */
static int l_full(lua_State *L)
{
    ks_ctx *c = KS_CTX(L);
    int64_t size[KS_MAX_DIMS];
    int ndim;
    if (lua_istable(L, 1)) {
        ndim = ks_lua_check_shape(L, 1, size);
    } else if (lua_isinteger(L, 1)) {
        ndim = 1;
        size[0] = lua_tointeger(L, 1);
    } else {
        return luaL_argerror(L, 1, lua_pushfstring(L, "shape table expected, got %s", luaL_typename(L, 1)));
    }
    luaL_checkany(L, 2);
    ks_copts o;
    ks_lua_check_copts(L, 3, value_dtype(L, 2), false, "full", &o);
    return new_filled(L, c, ndim, size, 2, &o, "full");
}

/* ------------------------------------------------------------------ *_like */
/* a new tensor of the given shape, kind 0 uninitialised, 1 zeros, 2 ones
 * (the *_like functions and t:new_empty / new_zeros / new_ones) */
static int new_constant(lua_State *L, ks_ctx *c, int ndim, const int64_t *size, int kind, const ks_copts *o)
{
    ks_tensor **box = ks_lua_newbox(L);
    ks_tensor *t;
    if (ks_tensor_empty(c, o->dt, ndim, size, &t)) return ks_lua_raise_in(L, c, o->fn);
    if (kind && ks_fill_(c, t, kind == 2)) { ks_tensor_release(t); return ks_lua_raise_in(L, c, o->fn); }
    ks_lua_finish_new(L, c, box, t, o);
    return 1;
}

static int like(lua_State *L, int kind)
{
    static const char *const names[] = {"empty_like", "zeros_like", "ones_like"};
    ks_copts o;
    ks_tensor *t = ks_lua_check_tensor(L, 1);
    ks_lua_check_copts(L, 2, t->dtype, false, names[kind], &o);
    return new_constant(L, KS_CTX(L), t->ndim, t->size, kind, &o);
}
static int l_empty_like(lua_State *L) { return like(L, 0); }
static int l_zeros_like(lua_State *L) { return like(L, 1); }
static int l_ones_like(lua_State *L) { return like(L, 2); }

static int l_full_like(lua_State *L)
{
    ks_ctx *c = KS_CTX(L);
    ks_tensor *t = ks_lua_check_tensor(L, 1);
    luaL_checkany(L, 2);
    value_dtype(L, 2); /* type check only: full_like keeps t's dtype */
    ks_copts o;
    ks_lua_check_copts(L, 3, t->dtype, false, "full_like", &o);
    return new_filled(L, c, t->ndim, t->size, 2, &o, "full_like");
}

/* ------------------------------------------------------------- ranges */
static int l_arange(lua_State *L)
{
    ks_ctx *c = KS_CTX(L);
    int n = 0;
    bool all_int = true;
    while (n < 3 && lua_type(L, n + 1) == LUA_TNUMBER) {
        all_int = all_int && lua_isinteger(L, n + 1);
        n++;
    }
    if (n == 0) return luaL_argerror(L, 1, lua_pushfstring(L, "number expected, got %s", luaL_typename(L, 1)));
    ks_copts o;
    ks_lua_check_copts(L, n + 1, all_int ? KS_INT64 : KS_FLOAT32, false, "arange", &o);
    ks_tensor **box = ks_lua_newbox(L);
    ks_tensor *t = NULL;
    ks_status st;
    if (all_int) {
        lua_Integer a = n == 1 ? 0 : lua_tointeger(L, 1), b = lua_tointeger(L, n == 1 ? 1 : 2);
        lua_Integer s = n == 3 ? lua_tointeger(L, 3) : 1;
        st = ks_arange_i64(c, a, b, s, o.dt, &t);
    } else {
        double a = n == 1 ? 0 : lua_tonumber(L, 1), b = lua_tonumber(L, n == 1 ? 1 : 2);
        double s = n == 3 ? lua_tonumber(L, 3) : 1;
        st = ks_arange(c, a, b, s, o.dt, &t);
    }
    if (st) return ks_lua_raise_in(L, c, "arange");
    ks_lua_finish_new(L, c, box, t, &o);
    return 1;
}

static int l_linspace(lua_State *L)
{
    ks_ctx *c = KS_CTX(L);
    double a = luaL_checknumber(L, 1), b = luaL_checknumber(L, 2);
    lua_Integer steps = luaL_checkinteger(L, 3);
    ks_copts o;
    ks_lua_check_copts(L, 4, KS_FLOAT32, false, "linspace", &o);
    ks_tensor **box = ks_lua_newbox(L);
    ks_tensor *t;
    if (ks_linspace(c, a, b, steps, o.dt, &t)) return ks_lua_raise_in(L, c, "linspace");
    ks_lua_finish_new(L, c, box, t, &o);
    return 1;
}

static int l_eye(lua_State *L)
{
    ks_ctx *c = KS_CTX(L);
    lua_Integer n = luaL_checkinteger(L, 1), m = n;
    int optarg = 2;
    if (lua_type(L, 2) == LUA_TNUMBER) {
        m = luaL_checkinteger(L, 2);
        optarg = 3;
    }
    ks_copts o;
    ks_lua_check_copts(L, optarg, KS_FLOAT32, false, "eye", &o);
    ks_tensor **box = ks_lua_newbox(L);
    ks_tensor *t;
    if (ks_eye(c, n, m, o.dt, &t)) return ks_lua_raise_in(L, c, "eye");
    ks_lua_finish_new(L, c, box, t, &o);
    return 1;
}

/* ks._logspace(start, end, steps, base) -> ks.pow(base, ks.linspace(start, end, steps)) in one call: the same
 * two kernels (tensor_math_extra.lua's logspace without options). Nothing unless start, end and base are
 * numbers and steps an integer >= 0, or when linspace fails: the Lua path then raises the error. */
static int l_logspace(lua_State *L)
{
    ks_ctx *c = KS_CTX(L);
    if (lua_type(L, 1) != LUA_TNUMBER || lua_type(L, 2) != LUA_TNUMBER || !lua_isinteger(L, 3) ||
        lua_tointeger(L, 3) < 0 || lua_type(L, 4) != LUA_TNUMBER)
        return 0;
    /* the base as ks.pow reads a Lua number: an integer stays an integer scalar */
    ks_scalar base = lua_isinteger(L, 4) ? ks_scalar_int(lua_tointeger(L, 4)) : ks_scalar_float(lua_tonumber(L, 4));
    ks_tensor **box = ks_lua_newbox(L), *lin = NULL, *r = NULL;
    if (ks_linspace(c, lua_tonumber(L, 1), lua_tonumber(L, 2), lua_tointeger(L, 3), KS_FLOAT32, &lin)) return 0;
    ks_status st = ks_binary_op(c, KS_OP_POW, ks_op_scalar(base), ks_op_tensor(lin), NULL, NULL, &r);
    ks_tensor_release(lin);
    if (st) return ks_lua_raise(L, c);
    ks_lua_fillbox(L, c, box, r);
    return 1;
}

static const luaL_Reg create_functions[] = {
    {"tensor", l_tensor}, {"empty", l_empty}, {"zeros", l_zeros}, {"ones", l_ones}, {"full", l_full},
    {"arange", l_arange}, {"linspace", l_linspace}, {"eye", l_eye}, {"empty_like", l_empty_like},
    {"zeros_like", l_zeros_like}, {"ones_like", l_ones_like}, {"full_like", l_full_like},
    {"_logspace", l_logspace}, {NULL, NULL}};

/* t:fill_(v), t:zero_() */
static int t_fill_(lua_State *L)
{
    ks_ctx *c = KS_CTX(L);
    ks_tensor *t = ks_lua_check_tensor(L, 1);
    ks_tensor *v = ks_lua_to_tensor(L, 2);
    if (ks_ag_check_inplace(c, t, "fill_") || ks_ag_check_inplace_src(c, v, "fill_")) return ks_lua_raise(L, c);
    if (v) {
        if (v->ndim != 0)
            return luaL_error(L, "fill_ only supports a 0-dimension value tensor, but got one with %d dimensions", v->ndim);
        if (ks_copy_(c, t, v)) return ks_lua_raise(L, c);
    } else {
        value_dtype(L, 2);
        if (fill_value(c, L, t, 2)) return ks_lua_raise(L, c);
    }
    lua_settop(L, 1);
    return 1;
}

static int t_zero_(lua_State *L)
{
    ks_ctx *c = KS_CTX(L);
    ks_tensor *t = ks_lua_check_tensor(L, 1);
    if (ks_ag_check_inplace(c, t, "zero_") || ks_fill_(c, t, 0)) return ks_lua_raise(L, c);
    lua_settop(L, 1);
    return 1;
}

/* ------------------------------------------------- t:new_* (PyTorch's Tensor.new_*)
 * t:new_zeros(size...[, opts]), new_ones, new_empty, new_full(size, value[, opts]),
 * new_tensor(data[, opts]): a fresh tensor (no storage, graph or requires_grad
 * shared with t) whose dtype is t's unless opts = {dtype=, requires_grad=}
 * (or a dtype name) says otherwise: code that builds tensors next to an input
 * keeps the input's dtype. size: integers or one table, as ks.zeros. */
static int new_by_shape(lua_State *L, int kind) /* 0 empty, 1 zeros, 2 ones */
{
    static const char *const names[] = {"new_empty", "new_zeros", "new_ones"};
    ks_ctx *c = KS_CTX(L);
    ks_tensor *src = ks_lua_check_tensor(L, 1);
    if (lua_type(L, 2) != LUA_TNUMBER && lua_type(L, 2) != LUA_TTABLE)
        return luaL_error(L, "%s: size (integers or a table) expected, got %s", names[kind], luaL_typename(L, 2));
    int64_t size[KS_MAX_DIMS];
    int ndim;
    ks_copts o;
    ks_lua_check_copts(L, ks_lua_shape_args(L, 2, size, &ndim), src->dtype, false, names[kind], &o);
    return new_constant(L, c, ndim, size, kind, &o);
}
static int t_new_empty(lua_State *L) { return new_by_shape(L, 0); }
static int t_new_zeros(lua_State *L) { return new_by_shape(L, 1); }
static int t_new_ones(lua_State *L) { return new_by_shape(L, 2); }

/* t:new_full(size, value[, opts]): size a table or one integer (1-D); the
 * value must fit the dtype (t's), as in full_like */
static int t_new_full(lua_State *L)
{
    ks_ctx *c = KS_CTX(L);
    ks_tensor *src = ks_lua_check_tensor(L, 1);
    int64_t size[KS_MAX_DIMS];
    int ndim;
    if (lua_istable(L, 2)) ndim = ks_lua_check_shape(L, 2, size);
    else if (lua_isinteger(L, 2)) { ndim = 1; size[0] = lua_tointeger(L, 2); }
    else return luaL_error(L, "new_full: size (a table or an integer) expected, got %s", luaL_typename(L, 2));
    if (lua_isnoneornil(L, 3)) return luaL_error(L, "new_full: fill value expected after the size");
    value_dtype(L, 3); /* type check only: the dtype is t's */
    ks_copts o;
    ks_lua_check_copts(L, 4, src->dtype, false, "new_full", &o);
    return new_filled(L, c, ndim, size, 3, &o, "new_full");
}

/* t:new_tensor(data[, opts]): ks.tensor(data) in t's dtype (a tensor is copied) */
static int t_new_tensor(lua_State *L)
{
    ks_ctx *c = KS_CTX(L);
    ks_tensor *src = ks_lua_check_tensor(L, 1);
    if (lua_isnone(L, 2)) return luaL_error(L, "new_tensor: data (a number, boolean, table or tensor) expected");
    ks_copts o;
    ks_lua_check_copts(L, 3, src->dtype, false, "new_tensor", &o);
    ks_tensor *data = ks_lua_to_tensor(L, 2);
    if (data) {
        ks_tensor **box = ks_lua_newbox(L);
        ks_tensor *r;
        if (ks_tensor_empty_like(c, data, o.dt, &r)) return ks_lua_raise_in(L, c, "new_tensor");
        if (ks_copy_(c, r, data)) { ks_tensor_release(r); return ks_lua_raise_in(L, c, "new_tensor"); }
        ks_lua_finish_new(L, c, box, r, &o);
        return 1;
    }
    int ty = lua_type(L, 2);
    if (ty != LUA_TNUMBER && ty != LUA_TBOOLEAN && ty != LUA_TTABLE)
        return luaL_error(L, "new_tensor: data (a number, boolean, table or tensor) expected, got %s",
                          luaL_typename(L, 2));
    ks_tensor *r = push_from_lua(L, c, 2, (int)o.dt, "new_tensor"); /* boxed on the stack top */
    if (o.requires_grad) {
        if (r->dtype != KS_FLOAT32)
            return luaL_error(L, "new_tensor: only floating point (float32) tensors can require gradients, got %s",
                              ks_dtype_name(r->dtype));
        r->requires_grad = true;
    }
    return 1;
}

/* t:is_floating_point(): float32 is kshot's one floating dtype */
static int t_is_floating_point(lua_State *L)
{
    lua_pushboolean(L, ks_lua_check_tensor(L, 1)->dtype == KS_FLOAT32);
    return 1;
}

static const luaL_Reg create_methods[] = {
    {"fill_", t_fill_}, {"zero_", t_zero_}, {"new_empty", t_new_empty}, {"new_zeros", t_new_zeros},
    {"new_ones", t_new_ones}, {"new_full", t_new_full}, {"new_tensor", t_new_tensor},
    {"is_floating_point", t_is_floating_point}, {NULL, NULL}};

void ks_lua_open_create(lua_State *L, int module, int methods, int ctxbox)
{
    ks_lua_register(L, create_functions, module, ctxbox);
    ks_lua_register(L, create_methods, methods, ctxbox);
    /* dtype constants: the names every dtype argument accepts; then PyTorch's others, which every dtype
     * argument refuses with a hint (ks_lua_dtype_hint) instead of a nil that would mean the default */
    static const char *const constants[][2] = {
        {"float32", "float32"}, {"int64", "int64"},     {"uint8", "uint8"},       {"bool", "bool"},
        {"float", "float32"},   {"long", "int64"},      {"float64", "float64"},   {"double", "float64"},
        {"float16", "float16"}, {"half", "float16"},    {"bfloat16", "bfloat16"}, {"int32", "int32"},
        {"int", "int32"},       {"int16", "int16"},     {"short", "int16"},       {"int8", "int8"}};
    for (size_t i = 0; i < sizeof constants / sizeof *constants; i++) {
        lua_pushstring(L, constants[i][1]);
        lua_setfield(L, module, constants[i][0]);
    }
}
