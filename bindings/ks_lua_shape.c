/* ks_lua_shape.c: cat/concat, stack, split, chunk, pad, repeat/tile, roll,
 * tril, triu (module functions and tensor methods), einsum (module function). */
#include "ks_lua.h"
#include "../runtime/core/ks_grad_shape.h"

#include <string.h>

/* The tensors of the list at `arg` in a scratch array (a userdata left on
 * the stack, so nothing leaks on error). */
static ks_tensor **check_list(lua_State *L, int arg, int *n)
{
    luaL_checktype(L, arg, LUA_TTABLE);
    lua_Integer len = (lua_Integer)luaL_len(L, arg);
    if (len < 1) luaL_argerror(L, arg, "expected a non-empty list of tensors");
    if (len > 1 << 24) luaL_argerror(L, arg, "too many tensors");
    ks_tensor **ts = lua_newuserdatauv(L, (size_t)len * sizeof *ts, 0);
    for (lua_Integer i = 1; i <= len; i++) {
        lua_geti(L, arg, i);
        ts[i - 1] = ks_lua_to_tensor(L, -1);
        if (!ts[i - 1])
            luaL_argerror(L, arg, lua_pushfstring(L, "element %d (0-based) is %s, expected a tensor", (int)(i - 1),
                                                  luaL_typename(L, -1)));
        lua_pop(L, 1);
    }
    *n = (int)len;
    return ts;
}

/* dim at 2: an integer, or torch's keyword in a table ({dim = 1}); nothing after it */
static lua_Integer join_dim(lua_State *L, const char *op)
{
    static const char *const known[] = {"dim", NULL};
    for (int i = lua_gettop(L); i > 2; i--)
        if (!lua_isnil(L, i)) luaL_error(L, "%s: takes (tensors[, dim]), got an argument #%d (%s)", op, i, luaL_typename(L, i));
    if (!lua_istable(L, 2)) return luaL_optinteger(L, 2, 0);
    ks_lua_check_known(L, 2, op, known);
    lua_getfield(L, 2, "dim");
    if (!lua_isnil(L, -1) && !lua_isinteger(L, -1))
        luaL_error(L, "%s: option 'dim' must be an integer, got %s", op, luaL_typename(L, -1));
    lua_Integer dim = lua_isnil(L, -1) ? 0 : lua_tointeger(L, -1);
    lua_pop(L, 1);
    return dim;
}

static int join(lua_State *L, const char *op,
                ks_status (*fn)(ks_ctx *, int, ks_tensor *const *, int64_t, ks_tensor **))
{
    ks_ctx *c = KS_CTX(L);
    /* torch.cat takes a sequence too, but a call with the tensors as arguments is a common slip */
    if (ks_lua_to_tensor(L, 1))
        return luaL_error(L, "%s: takes a list of tensors, got a tensor as argument #1 (write ks.%s({a, b}[, dim]))",
                          op, op);
    lua_Integer dim = join_dim(L, op);
    int n;
    ks_tensor **ts = check_list(L, 1, &n);
    ks_tensor **box = ks_lua_newbox(L);
    ks_tensor *r = NULL;
    if (fn(c, n, ts, dim, &r)) return ks_lua_raise(L, c);
    ks_lua_fillbox(L, c, box, r);
    return 1;
}

static ks_status ag_cat(ks_ctx *c, int n, ks_tensor *const *ts, int64_t dim, ks_tensor **out)
{
    return ks_ag_join(c, false, n, ts, dim, out);
}
static ks_status ag_stack(ks_ctx *c, int n, ks_tensor *const *ts, int64_t dim, ks_tensor **out)
{
    return ks_ag_join(c, true, n, ts, dim, out);
}
/* ks.cat({a, b, ...}[, dim=0]) or ks.cat(list, {dim = 0}) */
static int l_cat(lua_State *L) { return join(L, "cat", ag_cat); }
/* ks.stack({a, b, ...}[, dim=0]) or ks.stack(list, {dim = 0}) */
static int l_stack(lua_State *L) { return join(L, "stack", ag_stack); }

/* Push a Lua list of the n views of t along dim with the given sizes. */
static int push_pieces(lua_State *L, ks_ctx *c, ks_tensor *t, int64_t dim, int64_t n, const int64_t *sizes)
{
    ks_tensor **outs = lua_newuserdatauv(L, (size_t)n * sizeof *outs, 0);
    lua_createtable(L, (int)n, 0);
    /* boxes first so a Lua memory error cannot strand the views */
    for (int64_t i = 0; i < n; i++) {
        ks_lua_newbox(L);
        lua_rawseti(L, -2, i + 1);
    }
    if (ks_ag_split_sizes(c, t, dim, n, sizes, outs)) return ks_lua_raise(L, c);
    for (int64_t i = 0; i < n; i++) {
        lua_rawgeti(L, -1, i + 1);
        *(ks_tensor **)lua_touserdata(L, -1) = outs[i];
        lua_pop(L, 1);
    }
    return 1;
}

/* Even pieces of split_size (the last may be smaller). */
static int split_even(lua_State *L, ks_ctx *c, ks_tensor *t, int64_t split_size, int64_t dim)
{
    int64_t n;
    if (ks_split_count(c, t, dim, split_size, &n)) return ks_lua_raise(L, c);
    if (n > 1 << 24) return luaL_error(L, "split: too many pieces (%I)", (lua_Integer)n);
    int64_t *sizes = lua_newuserdatauv(L, (size_t)n * sizeof *sizes, 0);
    int d = ks_lua_check_dim(L, c, 3, t->ndim);
    for (int64_t i = 0; i < n; i++) {
        int64_t left = t->size[d] - i * split_size;
        sizes[i] = left < split_size ? left : split_size;
    }
    if (t->size[d] == 0) sizes[0] = 0;
    return push_pieces(L, c, t, dim, n, sizes);
}

/* ks.split(t, split_size | {sizes}[, dim=0]) -> list of views */
static int l_split(lua_State *L)
{
    ks_ctx *c = KS_CTX(L);
    ks_tensor *t = ks_lua_check_tensor(L, 1);
    if (lua_isnoneornil(L, 3)) { lua_settop(L, 2); lua_pushinteger(L, 0); } /* dim defaults to 0 */
    lua_Integer dim = luaL_checkinteger(L, 3);
    if (!lua_istable(L, 2)) return split_even(L, c, t, luaL_checkinteger(L, 2), dim);
    lua_Integer n = (lua_Integer)luaL_len(L, 2);
    if (n < 1 || n > 1 << 24) return luaL_argerror(L, 2, "expected a non-empty list of sizes");
    int64_t *sizes = lua_newuserdatauv(L, (size_t)n * sizeof *sizes, 0);
    for (lua_Integer i = 1; i <= n; i++) {
        lua_geti(L, 2, i);
        int ok;
        sizes[i - 1] = lua_tointegerx(L, -1, &ok);
        if (!ok) return luaL_argerror(L, 2, lua_pushfstring(L, "split size %d is not an integer", (int)(i - 1)));
        lua_pop(L, 1);
    }
    return push_pieces(L, c, t, dim, n, sizes);
}

/* ks.chunk(t, chunks[, dim=0]) -> list of at most `chunks` views */
static int l_chunk(lua_State *L)
{
    ks_ctx *c = KS_CTX(L);
    ks_tensor *t = ks_lua_check_tensor(L, 1);
    lua_Integer chunks = luaL_checkinteger(L, 2);
    if (lua_isnoneornil(L, 3)) { lua_settop(L, 2); lua_pushinteger(L, 0); } /* dim defaults to 0 */
    lua_Integer dim = luaL_checkinteger(L, 3);
    int64_t ss;
    if (ks_chunk_size(c, t, dim, chunks, &ss)) return ks_lua_raise(L, c);
    return split_even(L, c, t, ss, dim);
}

/* Integers of a table (or one integer) at arg; returns the count. */
static int check_ints(lua_State *L, int arg, int64_t *v, int max, const char *what)
{
    if (lua_type(L, arg) == LUA_TNUMBER) { v[0] = luaL_checkinteger(L, arg); return 1; }
    if (!lua_istable(L, arg))
        return luaL_argerror(L, arg, lua_pushfstring(L, "%s: integer or table of integers expected, got %s", what,
                                                     luaL_typename(L, arg)));
    lua_Integer n = (lua_Integer)luaL_len(L, arg);
    if (n > max) return luaL_argerror(L, arg, lua_pushfstring(L, "%s: at most %d entries", what, max));
    for (lua_Integer i = 1; i <= n; i++) {
        lua_geti(L, arg, i);
        int ok;
        v[i - 1] = lua_tointegerx(L, -1, &ok);
        if (!ok) return luaL_argerror(L, arg, lua_pushfstring(L, "%s: entry %d is not an integer", what, (int)i));
        lua_pop(L, 1);
    }
    return (int)n;
}

/* ks.pad(t, {left, right[, top, bottom, ...]}[, mode="constant"][, value=0])
 * or ks.pad(t, pads, {mode=, value=}) */
static int l_pad(lua_State *L)
{
    ks_ctx *c = KS_CTX(L);
    ks_tensor *t = ks_lua_check_tensor(L, 1);
    int64_t pads[2 * KS_MAX_DIMS];
    if (!lua_istable(L, 2)) return luaL_argerror(L, 2, "table of paddings expected, e.g. {left, right}");
    int np = check_ints(L, 2, pads, 2 * KS_MAX_DIMS, "pad");
    const char *mode = "constant";
    double value = 0;
    if (lua_istable(L, 3)) {
        ks_lua_check_known(L, 3, "pad", (const char *const[]){"mode", "value", NULL});
        lua_getfield(L, 3, "mode");
        if (!lua_isnil(L, -1)) mode = luaL_checkstring(L, -1);
        lua_getfield(L, 3, "value");
        if (!lua_isnil(L, -1)) value = luaL_checknumber(L, -1);
        lua_pop(L, 2);
    } else {
        mode = luaL_optstring(L, 3, "constant");
        value = luaL_optnumber(L, 4, 0);
    }
    int m = ks_pad_mode_from_name(mode);
    if (m < 0)
        return luaL_argerror(L, 3, lua_pushfstring(L, "unknown padding mode '%s' (expected constant, reflect, "
                                                      "replicate or circular)", mode));
    ks_tensor **box = ks_lua_newbox(L);
    ks_tensor *r = NULL;
    if (ks_ag_pad(c, t, np, pads, (ks_pad_mode)m, value, &r)) return ks_lua_raise(L, c);
    ks_lua_fillbox(L, c, box, r);
    return 1;
}

/* t:repeat(2, 3) / ks["repeat"](t, {2, 3}); tile also accepts fewer reps than dims (leading 1s) */
static int repeat_impl(lua_State *L, bool tile)
{
    ks_ctx *c = KS_CTX(L);
    ks_tensor *t = ks_lua_check_tensor(L, 1);
    int64_t reps[KS_MAX_DIMS], full[KS_MAX_DIMS];
    int n = ks_lua_check_shape(L, 2, reps);
    if (tile && n < t->ndim) {
        int lead = t->ndim - n;
        for (int i = 0; i < t->ndim; i++) full[i] = i < lead ? 1 : reps[i - lead];
        memcpy(reps, full, sizeof reps);
        n = t->ndim;
    }
    ks_tensor **box = ks_lua_newbox(L);
    ks_tensor *r = NULL;
    if (ks_ag_repeat(c, t, n, reps, &r)) return ks_lua_raise(L, c);
    ks_lua_fillbox(L, c, box, r);
    return 1;
}
static int l_repeat(lua_State *L) { return repeat_impl(L, false); }
static int l_tile(lua_State *L) { return repeat_impl(L, true); }

/* ks.roll(t, shifts[, dims]): shifts and dims integers or tables */
static int l_roll(lua_State *L)
{
    ks_ctx *c = KS_CTX(L);
    ks_tensor *t = ks_lua_check_tensor(L, 1);
    int64_t shifts[KS_MAX_DIMS], dims[KS_MAX_DIMS];
    int ns = check_ints(L, 2, shifts, KS_MAX_DIMS, "roll shifts");
    int nd = lua_isnoneornil(L, 3) ? 0 : check_ints(L, 3, dims, KS_MAX_DIMS, "roll dims");
    ks_tensor **box = ks_lua_newbox(L);
    ks_tensor *r = NULL;
    if (ks_ag_roll(c, t, ns, shifts, nd, dims, &r)) return ks_lua_raise(L, c);
    ks_lua_fillbox(L, c, box, r);
    return 1;
}

static int tri(lua_State *L, ks_status (*fn)(ks_ctx *, ks_tensor *, int64_t, ks_tensor **))
{
    ks_ctx *c = KS_CTX(L);
    ks_tensor *t = ks_lua_check_tensor(L, 1);
    lua_Integer diag = luaL_optinteger(L, 2, 0);
    ks_tensor **box = ks_lua_newbox(L);
    ks_tensor *r = NULL;
    if (fn(c, t, diag, &r)) return ks_lua_raise(L, c);
    ks_lua_fillbox(L, c, box, r);
    return 1;
}
/* ks.tril(t[, diagonal=0]), ks.triu(t[, diagonal=0]) */
static ks_status ag_tril(ks_ctx *c, ks_tensor *t, int64_t d, ks_tensor **out) { return ks_ag_tri(c, false, t, d, out); }
static ks_status ag_triu(ks_ctx *c, ks_tensor *t, int64_t d, ks_tensor **out) { return ks_ag_tri(c, true, t, d, out); }
static int l_tril(lua_State *L) { return tri(L, ag_tril); }
static int l_triu(lua_State *L) { return tri(L, ag_triu); }

/* ks.einsum(equation, a, b, ...): torch.einsum, composed in Lua from permute,
 * reshape, sum and bmm (bindings/lua/kshot/nn/einsum.lua, loaded on first use). */
static int l_einsum(lua_State *L)
{
    int n = lua_gettop(L);
    lua_getglobal(L, "require");
    lua_pushliteral(L, "kshot.nn.einsum");
    lua_call(L, 1, 1);
    lua_insert(L, 1);
    lua_call(L, n, 1);
    return 1;
}

static const luaL_Reg module_fns[] = {
    {"cat", l_cat}, {"concat", l_cat}, {"stack", l_stack}, {"split", l_split}, {"chunk", l_chunk},
    {"pad", l_pad}, {"repeat", l_repeat}, {"tile", l_tile}, {"roll", l_roll}, {"tril", l_tril}, {"triu", l_triu},
    {"einsum", l_einsum}, {NULL, NULL}};

static const luaL_Reg method_fns[] = {
    {"split", l_split}, {"chunk", l_chunk}, {"pad", l_pad}, {"repeat", l_repeat}, {"tile", l_tile},
    {"roll", l_roll}, {"tril", l_tril}, {"triu", l_triu},
    {NULL, NULL}};

void ks_lua_open_shape(lua_State *L, int module, int methods, int ctxbox)
{
    ks_lua_register(L, module_fns, module, ctxbox);
    ks_lua_register(L, method_fns, methods, ctxbox);
}
