/* ks_lua_reduce.c: reductions and scans, as module functions (ks.sum(t, ...))
 * and tensor methods (t:sum(...)). Dims are 0-based, negative from the end.
 *
 * Signatures (every one also takes a single options table instead of the
 * positional arguments, e.g. t:sum{dim = {0, 2}, keepdim = true}):
 *   sum, mean, prod, amax, amin, any, all, logsumexp, count_nonzero:
 *       (t[, dim or {dims}][, keepdim])         no dim: every dim
 *   max, min:    (t)                  -> 0-d value (error on an empty tensor)
 *                (t, dim[, keepdim])  -> values, indices (int64)
 *                (t, other)           -> elementwise ks.maximum / ks.minimum (torch's max(other))
 *   argmax, argmin: (t[, dim][, keepdim])     no dim: index into the flattened t
 *   var, std:    (t)                            every dim, correction 1
 *                (t, dim or {dims})               correction 1, keepdim false
 *                (t, dim, correction[, keepdim])  correction a number (1 = Bessel, 0 = population)
 *                (t, dim, unbiased[, keepdim])    PyTorch's form: a boolean after dim is
 *                    unbiased (t:std(0, false) is the population sd, as
 *                    torch's std(0, False)), not keepdim as in sum/mean
 *                (t, unbiased)                    PyTorch's std(input, unbiased): every dim
 *                (t[, dim], {options})            options: dim (only without the positional
 *                    one), correction, unbiased (true = 1, false = 0; not both), keepdim
 *   var_mean, std_mean: same arguments -> var (or std), mean
 *   norm:        (t[, p = 2][, dim or {dims}][, keepdim]); p a number
 *                (math.huge, -math.huge, 0, 1, 2, ...) or "fro" (= 2)
 *   cumsum, cumprod: (t, dim)
 *   ks._plain_norm(x, matrix): kshot/linalg.lua's default 2-norms in one call (nothing when not plain)
 * Dtypes and NaN rules: runtime/core/ks_reduce.h. Differentiable ones go
 * through the autograd entry points (ks_grad_ops.h), cumsum and cumprod
 * included (cumprod's gradient is exact where the input holds zeros);
 * argmax/argmin, any/all, count_nonzero and the indices of max/min carry no
 * gradient.
 */
#include "ks_lua.h"
#include "../runtime/core/ks_grad_ops.h"
#include "../runtime/core/ks_reduce.h"
#include "../runtime/core/ks_nn.h"

#include <math.h>
#include <string.h>

typedef struct red_args {
    int ndims;              /* 0: every dim */
    int dims[KS_MAX_DIMS];
    bool has_dim;
    bool keepdim;
    double correction;
    double p;
} red_args;

/* ------------------------------------------------------------ parsing */
static void add_dim(lua_State *L, ks_ctx *c, int arg, const ks_tensor *t, red_args *a, int idx)
{
    int ok, d;
    lua_Integer v = lua_tointegerx(L, idx, &ok);
    if (!ok && lua_type(L, idx) == LUA_TNUMBER)
        luaL_argerror(L, arg, lua_pushfstring(L, "dim must be an integer, got %f", lua_tonumber(L, idx)));
    if (!ok) luaL_argerror(L, arg, lua_pushfstring(L, "dim must be an integer, got %s", luaL_typename(L, idx)));
    if (a->ndims >= KS_MAX_DIMS) luaL_argerror(L, arg, lua_pushfstring(L, "at most %d dims", KS_MAX_DIMS));
    if (ks_wrap_dim(c, v, t->ndim, &d)) luaL_argerror(L, arg, ks_ctx_message(c));
    a->dims[a->ndims++] = d;
}

/* dim value at idx (reported as argument arg): integer or list of integers */
static void read_dims(lua_State *L, ks_ctx *c, int arg, int idx, const ks_tensor *t, red_args *a, bool single)
{
    a->has_dim = true;
    if (lua_type(L, idx) == LUA_TNUMBER) {
        add_dim(L, c, arg, t, a, idx);
        return;
    }
    if (single || !lua_istable(L, idx))
        luaL_argerror(L, arg, lua_pushfstring(L, single ? "dim must be an integer, got %s"
                                                        : "dim must be an integer or a table of dims, got %s",
                                              luaL_typename(L, idx)));
    lua_Integer n = (lua_Integer)lua_rawlen(L, idx);
    for (lua_Integer i = 1; i <= n; i++) {
        lua_rawgeti(L, idx, i);
        add_dim(L, c, arg, t, a, lua_gettop(L));
        lua_pop(L, 1);
    }
}

/* options table: not a list, and not empty */
static bool is_options(lua_State *L, int idx)
{
    if (!lua_istable(L, idx) || lua_rawlen(L, idx) > 0) return false;
    lua_pushnil(L);
    if (!lua_next(L, idx)) return false;
    lua_pop(L, 2);
    return true;
}

static bool opt_bool(lua_State *L, int arg, int idx, const char *what)
{
    if (lua_isnoneornil(L, idx)) return false;
    if (!lua_isboolean(L, idx))
        luaL_argerror(L, arg, lua_pushfstring(L, "%s must be a boolean, got %s", what, luaL_typename(L, idx)));
    return lua_toboolean(L, idx);
}

static double opt_number(lua_State *L, int arg, int idx, const char *what, double def)
{
    if (lua_isnoneornil(L, idx)) return def;
    if (lua_type(L, idx) != LUA_TNUMBER)
        luaL_argerror(L, arg, lua_pushfstring(L, "%s must be a number, got %s", what, luaL_typename(L, idx)));
    return lua_tonumber(L, idx);
}

/* norm order: a number or "fro" */
static double read_p(lua_State *L, int arg, int idx)
{
    if (lua_type(L, idx) == LUA_TSTRING && strcmp(lua_tostring(L, idx), "fro") == 0) return 2;
    if (lua_type(L, idx) != LUA_TNUMBER)
        luaL_argerror(L, arg, lua_pushfstring(L, "p must be a number or 'fro', got %s", luaL_typename(L, idx)));
    double p = lua_tonumber(L, idx);
    if (isnan(p)) luaL_argerror(L, arg, "p must not be NaN");
    return p;
}

/* k is one of the comma-separated names in allowed */
static bool allowed_key(const char *allowed, const char *k)
{
    size_t n = strlen(k);
    for (const char *s = allowed; (s = strstr(s, k)) != NULL; s += n)
        if ((s == allowed || s[-1] == ' ') && (s[n] == ',' || s[n] == '\0')) return true;
    return false;
}

/* Fields of an options table at arg; `allowed` lists the accepted keys. */
static void read_options(lua_State *L, ks_ctx *c, int arg, const ks_tensor *t, red_args *a, const char *allowed,
                         bool single)
{
    bool corrected = false; /* correction or unbiased seen */
    lua_pushnil(L);
    while (lua_next(L, arg)) {
        const char *k = lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : NULL;
        if (k && (!strcmp(k, "correction") || !strcmp(k, "unbiased"))) {
            if (corrected) luaL_argerror(L, arg, "give either 'correction' or 'unbiased', not both");
            corrected = true;
        }
        int v = lua_gettop(L);
        if (!k || !*k || !allowed_key(allowed, k))
            luaL_argerror(L, arg, lua_pushfstring(L, "unknown option '%s' (expected: %s)",
                                                  k ? k : luaL_typename(L, -2), allowed));
        if (!strcmp(k, "dim")) read_dims(L, c, arg, v, t, a, single);
        else if (!strcmp(k, "keepdim")) a->keepdim = opt_bool(L, arg, v, "keepdim");
        else if (!strcmp(k, "correction")) a->correction = opt_number(L, arg, v, "correction", 1);
        else if (!strcmp(k, "unbiased")) a->correction = opt_bool(L, arg, v, "unbiased") ? 1 : 0;
        else if (!strcmp(k, "p")) a->p = read_p(L, arg, v);
        else luaL_argerror(L, arg, lua_pushfstring(L, "unknown option '%s' (expected: %s)", k, allowed));
        lua_pop(L, 1);
    }
}

/* (t[, dim][, keepdim]) or (t, options); returns the tensor */
static ks_tensor *parse_std(lua_State *L, ks_ctx *c, red_args *a, const char *allowed, bool single)
{
    ks_tensor *t = ks_lua_check_tensor(L, 1);
    *a = (red_args){.correction = 1, .p = 2};
    if (is_options(L, 2)) {
        read_options(L, c, 2, t, a, allowed, single);
        return t;
    }
    if (!lua_isnoneornil(L, 2)) read_dims(L, c, 2, 2, t, a, single);
    a->keepdim = opt_bool(L, 3, 3, "keepdim");
    return t;
}

/* ------------------------------------------------------------ running */
typedef ks_status (*dims_fn)(ks_ctx *, ks_tensor *, int, const int *, bool, ks_tensor **);

/* fill the box with r, or raise the kernel's error (st computed before:
 * never in the same argument list as r, whose evaluation order is unspecified) */
static int finish1(lua_State *L, ks_ctx *c, ks_tensor **box, ks_status st, ks_tensor *r)
{
    if (st) return ks_lua_raise(L, c);
    ks_lua_fillbox(L, c, box, r);
    return 1;
}

static int run_dims(lua_State *L, dims_fn fn)
{
    ks_ctx *c = KS_CTX(L);
    red_args a;
    ks_tensor *t = parse_std(L, c, &a, "dim, keepdim", false);
    ks_tensor **box = ks_lua_newbox(L), *r = NULL;
    ks_status st = fn(c, t, a.ndims, a.dims, a.keepdim, &r);
    return finish1(L, c, box, st, r);
}

/* differentiable reductions: through ks_ag_reduce */
static int run_ag(lua_State *L, ks_ag_reduce_kind kind)
{
    ks_ctx *c = KS_CTX(L);
    red_args a;
    ks_tensor *t = parse_std(L, c, &a, "dim, keepdim", false);
    ks_tensor **box = ks_lua_newbox(L), *r = NULL;
    ks_status st = ks_ag_reduce(c, kind, t, a.ndims, a.dims, a.keepdim, &r);
    return finish1(L, c, box, st, r);
}

static int l_sum(lua_State *L) { return run_ag(L, KS_AG_SUM); }
static int l_mean(lua_State *L) { return run_ag(L, KS_AG_MEAN); }
static int l_prod(lua_State *L) { return run_ag(L, KS_AG_PROD); }
static int l_amax(lua_State *L) { return run_ag(L, KS_AG_AMAX); }
static int l_amin(lua_State *L) { return run_ag(L, KS_AG_AMIN); }
static int l_logsumexp(lua_State *L) { return run_ag(L, KS_AG_LOGSUMEXP); }
static int l_any(lua_State *L) { return run_dims(L, ks_any); }
static int l_all(lua_State *L) { return run_dims(L, ks_all); }
static int l_count_nonzero(lua_State *L) { return run_dims(L, ks_count_nonzero); }

/* max/min: one value without a dim, values and indices with one; with a
 * tensor second argument torch's elementwise form, t:max(other) = ks.maximum(t, other) */
static int run_extreme(lua_State *L, bool is_min)
{
    ks_ctx *c = KS_CTX(L);
    red_args a;
    if (ks_lua_to_tensor(L, 1) && ks_lua_to_tensor(L, 2)) {
        if (lua_gettop(L) > 2)
            return luaL_error(L, "%s(other): the elementwise form takes one tensor, got %d extra argument(s)",
                              is_min ? "min" : "max", lua_gettop(L) - 2);
        lua_getfield(L, 1, is_min ? "minimum" : "maximum");
        lua_insert(L, 1);
        lua_call(L, 2, 1);
        return 1;
    }
    ks_tensor *t = parse_std(L, c, &a, "dim, keepdim", true);
    ks_tensor **box = ks_lua_newbox(L), *r = NULL;
    if (!a.has_dim) {
        /* the value of amax/amin over every dim (same gradient rule as PyTorch's max()), but
         * with max()'s message for an empty tensor */
        ks_status st = t->numel == 0 ? (is_min ? ks_min_all(c, t, &r) : ks_max_all(c, t, &r))
                                     : ks_ag_reduce(c, is_min ? KS_AG_AMIN : KS_AG_AMAX, t, 0, NULL, false, &r);
        return finish1(L, c, box, st, r);
    }
    ks_tensor **box2 = ks_lua_newbox(L), *r2 = NULL;
    ks_status st = ks_ag_max_dim(c, t, a.dims[0], a.keepdim, is_min, &r, &r2);
    if (st) return ks_lua_raise(L, c);
    *box = r;
    ks_lua_fillbox(L, c, box2, r2);
    return 2;
}

static int l_max(lua_State *L) { return run_extreme(L, false); }
static int l_min(lua_State *L) { return run_extreme(L, true); }

static int run_arg(lua_State *L, bool is_min)
{
    ks_ctx *c = KS_CTX(L);
    red_args a;
    ks_tensor *t = parse_std(L, c, &a, "dim, keepdim", true);
    int dim = a.has_dim ? a.dims[0] : KS_NO_DIM;
    ks_tensor **box = ks_lua_newbox(L), *r = NULL;
    ks_status st = is_min ? ks_argmin(c, t, dim, a.keepdim, &r) : ks_argmax(c, t, dim, a.keepdim, &r);
    return finish1(L, c, box, st, r);
}

static int l_argmax(lua_State *L) { return run_arg(L, false); }
static int l_argmin(lua_State *L) { return run_arg(L, true); }

/* The arguments after dim: (correction[, keepdim]), (unbiased[, keepdim])
 * or ({options}); returns the last argument used. */
static int parse_var_tail(lua_State *L, ks_ctx *c, ks_tensor *t, red_args *a)
{
    switch (lua_type(L, 3)) {
    case LUA_TNONE: return 2;
    case LUA_TTABLE:
        if (a->has_dim) {
            if (lua_getfield(L, 3, "dim") != LUA_TNIL)
                luaL_argerror(L, 3, "dim is given twice (before and in the options table)");
            lua_pop(L, 1);
        }
        read_options(L, c, 3, t, a, a->has_dim ? "correction, unbiased, keepdim" : "dim, correction, unbiased, keepdim",
                     false);
        return 3;
    case LUA_TBOOLEAN: /* PyTorch's (dim, unbiased[, keepdim]): a boolean after dim is unbiased */
        a->correction = lua_toboolean(L, 3) ? 1 : 0;
        a->keepdim = opt_bool(L, 4, 4, "keepdim");
        return 4;
    case LUA_TNUMBER:
    case LUA_TNIL:
        a->correction = opt_number(L, 3, 3, "correction", 1);
        a->keepdim = opt_bool(L, 4, 4, "keepdim");
        return 4;
    default:
        return luaL_argerror(L, 3, lua_pushfstring(L, "expected a correction (number), keepdim (boolean) or an "
                                                      "options table, got %s", luaL_typename(L, 3)));
    }
}

/* var/std[_mean]: the forms listed at the top of the file */
static int run_var(lua_State *L, bool is_std, bool with_mean)
{
    ks_ctx *c = KS_CTX(L);
    ks_tensor *t = ks_lua_check_tensor(L, 1);
    red_args a = {.correction = 1};
    int last, top = lua_gettop(L);
    if (is_options(L, 2)) {
        read_options(L, c, 2, t, &a, "dim, correction, unbiased, keepdim", false);
        last = 2;
    } else if (lua_isboolean(L, 2)) { /* PyTorch's std(input, unbiased) */
        a.correction = lua_toboolean(L, 2) ? 1 : 0;
        last = 2;
    } else {
        if (!lua_isnoneornil(L, 2)) read_dims(L, c, 2, 2, t, &a, false);
        last = parse_var_tail(L, c, t, &a);
    }
    for (int i = last + 1; i <= top; i++)
        if (!lua_isnil(L, i))
            return luaL_argerror(L, i, lua_pushfstring(L, "unexpected extra argument (%s)", luaL_typename(L, i)));
    ks_tensor **box = ks_lua_newbox(L), *r = NULL, *m = NULL;
    ks_tensor **mbox = with_mean ? ks_lua_newbox(L) : NULL;
    ks_status st;
    if (with_mean && !ks_ag_needs_record(c, 1, &t)) /* fused: one pass */
        st = is_std ? ks_std_mean(c, t, a.ndims, a.dims, a.correction, a.keepdim, &r, &m)
                    : ks_var_mean(c, t, a.ndims, a.dims, a.correction, a.keepdim, &r, &m);
    else
        st = ks_ag_var(c, t, a.ndims, a.dims, a.correction, a.keepdim, is_std, &r);
    if (!st && with_mean && !m) st = ks_ag_reduce(c, KS_AG_MEAN, t, a.ndims, a.dims, a.keepdim, &m);
    if (st) {
        ks_tensor_release(r);
        return ks_lua_raise(L, c);
    }
    *box = r;
    if (with_mean) *mbox = m;
    ks_lua_gc_pace(L, c);
    return with_mean ? 2 : 1;
}

static int l_var(lua_State *L) { return run_var(L, false, false); }
static int l_std(lua_State *L) { return run_var(L, true, false); }
static int l_var_mean(lua_State *L) { return run_var(L, false, true); }
static int l_std_mean(lua_State *L) { return run_var(L, true, true); }

/* norm: (t[, p][, dims][, keepdim]) or (t, options) */
static int l_norm(lua_State *L)
{
    ks_ctx *c = KS_CTX(L);
    ks_tensor *t = ks_lua_check_tensor(L, 1);
    red_args a = {.p = 2};
    if (is_options(L, 2)) {
        read_options(L, c, 2, t, &a, "p, dim, keepdim", false);
    } else {
        if (!lua_isnoneornil(L, 2)) a.p = read_p(L, 2, 2);
        if (!lua_isnoneornil(L, 3)) read_dims(L, c, 3, 3, t, &a, false);
        a.keepdim = opt_bool(L, 4, 4, "keepdim");
    }
    ks_tensor **box = ks_lua_newbox(L), *r = NULL;
    ks_status st = ks_ag_norm(c, t, a.p, a.ndims, a.dims, a.keepdim, &r);
    return finish1(L, c, box, st, r);
}

static int run_scan(lua_State *L, ks_status (*fn)(ks_ctx *, ks_tensor *, int, ks_tensor **))
{
    ks_ctx *c = KS_CTX(L);
    ks_tensor *t = ks_lua_check_tensor(L, 1);
    red_args a = {0};
    if (is_options(L, 2)) read_options(L, c, 2, t, &a, "dim", true);
    else if (!lua_isnoneornil(L, 2)) read_dims(L, c, 2, 2, t, &a, true);
    if (!a.has_dim) return luaL_argerror(L, 2, "dim expected (an integer)");
    ks_tensor **box = ks_lua_newbox(L), *r = NULL;
    ks_status st = fn(c, t, a.dims[0], &r);
    return finish1(L, c, box, st, r);
}

static int l_cumsum(lua_State *L) { return run_scan(L, ks_ag_cumsum); }
static int l_cumprod(lua_State *L) { return run_scan(L, ks_ag_cumprod); }

/* t:softmax(dim), t:log_softmax(dim) (also {dim = d}), as torch.Tensor.softmax:
 * the same kernel and gradient as F.softmax / F.log_softmax. */
static int run_softmax(lua_State *L, bool want_log)
{
    ks_ctx *c = KS_CTX(L);
    ks_tensor *t = ks_lua_check_tensor(L, 1);
    red_args a = {0};
    if (is_options(L, 2)) read_options(L, c, 2, t, &a, "dim", true);
    else if (!lua_isnoneornil(L, 2)) read_dims(L, c, 2, 2, t, &a, true);
    if (!a.has_dim) return luaL_argerror(L, 2, "dim expected (an integer), as torch.softmax(t, dim)");
    ks_tensor **box = ks_lua_newbox(L), *r = NULL;
    ks_status st = ks_nn_softmax(c, t, &r, a.dims[0], want_log);
    return finish1(L, c, box, st, r);
}

static int l_softmax(lua_State *L) { return run_softmax(L, false); }
static int l_log_softmax(lua_State *L) { return run_softmax(L, true); }

/* ks._plain_norm(x, matrix): linalg's default 2-norm in one call (kshot/linalg.lua's fast path): of every
 * element (x:norm(), as vector_norm(x) and norm(x) compute it), or with matrix true of the last two dims
 * (matrix_norm(A)'s "fro": every dim of a matrix, ks.norm(A, 2, {n-2, n-1}) of a batch). Nothing when x is
 * not a float32 tensor of at least 1 (matrix: 2) dims, so that linalg.lua's general path answers. */
static int l_plain_norm(lua_State *L)
{
    ks_ctx *c = KS_CTX(L);
    ks_tensor *t = ks_lua_to_tensor(L, 1);
    bool matrix = lua_toboolean(L, 2);
    if (!t || t->dtype != KS_FLOAT32 || t->ndim < (matrix ? 2 : 1)) return 0;
    int dims[2] = {t->ndim - 2, t->ndim - 1}, ndims = matrix && t->ndim > 2 ? 2 : 0;
    ks_tensor **box = ks_lua_newbox(L), *r = NULL;
    ks_status st = ks_ag_norm(c, t, 2, ndims, dims, false, &r);
    return finish1(L, c, box, st, r);
}

static const luaL_Reg plain_funcs[] = {{"_plain_norm", l_plain_norm}, {NULL, NULL}};

static const luaL_Reg reduce_funcs[] = {
    {"sum", l_sum}, {"mean", l_mean}, {"prod", l_prod}, {"amax", l_amax}, {"amin", l_amin},
    {"max", l_max}, {"min", l_min}, {"argmax", l_argmax}, {"argmin", l_argmin}, {"var", l_var},
    {"std", l_std}, {"var_mean", l_var_mean}, {"std_mean", l_std_mean}, {"norm", l_norm},
    {"logsumexp", l_logsumexp}, {"any", l_any}, {"all", l_all}, {"count_nonzero", l_count_nonzero},
    {"cumsum", l_cumsum}, {"cumprod", l_cumprod}, {"softmax", l_softmax}, {"log_softmax", l_log_softmax},
    {NULL, NULL}};

void ks_lua_open_reduce(lua_State *L, int module, int methods, int ctxbox)
{
    ks_lua_register(L, reduce_funcs, module, ctxbox);
    ks_lua_register(L, reduce_funcs, methods, ctxbox);
    ks_lua_register(L, plain_funcs, module, ctxbox);
}
