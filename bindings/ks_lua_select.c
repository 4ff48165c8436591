/* ks_lua_select.c: indexing/gather/scatter, masks, labels, sorting and cdist
 * as module functions (ks.sort(t, ...)) and tensor methods (t:sort(...)).
 * PyTorch names and argument order; dims and indices are 0-based.
 *
 *   index_select(t, dim, index)            gather(t, dim, index)
 *   scatter[_](t, dim, index, src|value)   scatter_add[_](t, dim, index, src)
 *   index_add[_](t, dim, index, source[, alpha])
 *   index_copy[_](t, dim, index, source)   index_fill[_](t, dim, index, value)
 *   masked_select(t, mask)                 masked_fill[_](t, mask, value)
 *   masked_scatter[_](t, mask, source)     nonzero(t[, as_tuple]), argwhere(t)
 *   one_hot(labels[, num_classes = -1])    bincount(t[, weights][, minlength = 0])
 *   unique(t[, sorted][, return_inverse][, return_counts]) -> values[, inverse][, counts]
 *                                        (values always ascending; no dim option)
 *   sort(t[, dim = -1][, descending][, stable]) -> values, indices
 *   argsort(t[, dim = -1][, descending][, stable]) -> indices
 *   topk(t, k[, dim = -1][, largest = true][, sorted = true]) -> values, indices (always sorted)
 *   kthvalue(t, k[, dim = -1][, keepdim]) -> values, indices   (k counts from 1)
 *   median(t) -> 0-d;  median(t, dim[, keepdim]) -> values, indices
 *   cdist(x1, x2[, p = 2])               (p = math.huge: max norm)
 * Options after the tensor arguments may instead be given in one trailing
 * table: t:sort{dim = 0, descending = true}, t:topk(3, {largest = false}).
 * Index arguments are int64 tensors (a Lua integer or a list of integers is
 * converted); values are Lua numbers/booleans or one-element tensors.
 * Sorting is always stable (stable = false is accepted; the order is the
 * same). Ordering and NaN rules: runtime/core/ks_sort.h.
 * Autograd: index_select, gather, index_add, scatter_add, masked_fill,
 * masked_select, the values of sort/topk/kthvalue/median and cdist carry
 * gradients; the other scatter-like ops and every in-place op refuse inputs
 * that require grad while grad mode is on.
 */
#include "ks_lua.h"
#include "../runtime/core/ks_distance.h"
#include "../runtime/core/ks_grad_select.h"
#include "../runtime/core/ks_indexing.h"
#include "../runtime/core/ks_sort.h"

#include <string.h>

/* ------------------------------------------------------------ options */
typedef struct {
    const char *fname;
    int first, tbl;            /* first positional option; trailing options table (0: none) */
    const char *const *names;  /* option names in positional order, NULL-terminated */
} opts;

static bool is_options(lua_State *L, int idx)
{
    return lua_type(L, idx) == LUA_TTABLE && lua_rawlen(L, idx) == 0;
}

static void opts_init(lua_State *L, opts *o, const char *fname, int first, const char *const *names)
{
    o->fname = fname;
    o->first = first;
    o->names = names;
    int top = lua_gettop(L);
    o->tbl = top >= first && is_options(L, top) ? top : 0;
    if (o->tbl) ks_lua_check_known(L, o->tbl, fname, names);
}

/* push option i: its positional argument (before the table) or the table's field */
static void opts_push(lua_State *L, const opts *o, int i)
{
    int pos = o->first + i;
    if ((!o->tbl || pos < o->tbl) && !lua_isnoneornil(L, pos)) { lua_pushvalue(L, pos); return; }
    if (o->tbl) lua_getfield(L, o->tbl, o->names[i]);
    else lua_pushnil(L);
}

static lua_Integer opt_int(lua_State *L, const opts *o, int i, lua_Integer def)
{
    opts_push(L, o, i);
    if (lua_isnil(L, -1)) { lua_pop(L, 1); return def; }
    int ok;
    lua_Integer v = lua_tointegerx(L, -1, &ok);
    if (!ok)
        luaL_error(L, "%s: '%s' must be an integer, got %s", o->fname, o->names[i],
                   lua_type(L, -1) == LUA_TNUMBER ? "a float" : luaL_typename(L, -1));
    lua_pop(L, 1);
    return v;
}

static bool opt_bool(lua_State *L, const opts *o, int i, bool def)
{
    opts_push(L, o, i);
    if (lua_isnil(L, -1)) { lua_pop(L, 1); return def; }
    if (!lua_isboolean(L, -1))
        luaL_error(L, "%s: '%s' must be a boolean, got %s", o->fname, o->names[i], luaL_typename(L, -1));
    bool v = lua_toboolean(L, -1);
    lua_pop(L, 1);
    return v;
}

static double opt_num(lua_State *L, const opts *o, int i, double def)
{
    opts_push(L, o, i);
    if (lua_isnil(L, -1)) { lua_pop(L, 1); return def; }
    if (lua_type(L, -1) != LUA_TNUMBER)
        luaL_error(L, "%s: '%s' must be a number, got %s", o->fname, o->names[i], luaL_typename(L, -1));
    double v = lua_tonumber(L, -1);
    lua_pop(L, 1);
    return v;
}

/* dim option normalised against t */
static int opt_dim(lua_State *L, ks_ctx *c, const opts *o, int i, const ks_tensor *t, lua_Integer def)
{
    lua_Integer d = opt_int(L, o, i, def);
    int out;
    if (ks_wrap_dim(c, d, t->ndim, &out)) luaL_error(L, "%s: %s", o->fname, ks_ctx_message(c));
    return out;
}

/* ------------------------------------------------------------ arguments */
static int check_dim(lua_State *L, ks_ctx *c, int arg, const ks_tensor *t)
{
    return ks_lua_check_dim(L, c, arg, t->ndim);
}

/* int64 index tensor; Lua integers and lists of integers are converted */
static ks_tensor *check_index(lua_State *L, int arg)
{
    if (lua_isinteger(L, arg) || lua_type(L, arg) == LUA_TTABLE) return ks_lua_check_tensorlike(L, arg, KS_INT64);
    return ks_lua_check_tensor(L, arg);
}

/* a scalar value: number, boolean or one-element tensor */
static double check_value(lua_State *L, int arg)
{
    switch (lua_type(L, arg)) {
    case LUA_TNUMBER: return lua_tonumber(L, arg);
    case LUA_TBOOLEAN: return lua_toboolean(L, arg);
    default: break;
    }
    ks_tensor *t = ks_lua_to_tensor(L, arg);
    if (!t || t->numel != 1)
        luaL_argerror(L, arg, lua_pushfstring(L, "value must be a number, a boolean or a one-element tensor, got %s",
                                              t ? "a tensor with more than one element" : luaL_typename(L, arg)));
    if (t->requires_grad && KS_CTX(L)->grad_enabled)
        luaL_argerror(L, arg, "a fill value that requires grad gets no gradient; pass value:item() or value:detach()");
    return ks_load_f64(ks_tensor_data(t), t->dtype);
}

/* mask: tensor (bool/uint8 checked by the core) or a nested table of booleans */
static ks_tensor *check_mask(lua_State *L, int arg)
{
    if (lua_type(L, arg) == LUA_TTABLE) return ks_lua_check_tensorlike(L, arg, KS_BOOL);
    return ks_lua_check_tensor(L, arg);
}

/* the tensor arguments of the call (for the autograd guard) */
static int tensor_args(lua_State *L, ks_tensor **out)
{
    int n = 0, top = lua_gettop(L);
    for (int i = 1; i <= top && n < 4; i++) {
        ks_tensor *t = ks_lua_to_tensor(L, i);
        if (t) out[n++] = t;
    }
    return n;
}

/* refuse tensors that require grad (op: the C function's name without "l_") */
#define GUARD(op)                                                    \
    do {                                                             \
        ks_tensor *ins_[4];                                          \
        int nin_ = tensor_args(L, ins_);                             \
        if (ks_ag_refuse(c, (op), nin_, ins_)) return ks_lua_raise(L, c); \
    } while (0)

/* Out-of-place variant of an in-place op: box, clone of t, op on the clone. */
#define OUT_OF_PLACE(call)                                     \
    do {                                                       \
        GUARD(__func__ + 2);                                   \
        ks_tensor **box = ks_lua_newbox(L);                    \
        ks_tensor *r;                                          \
        if (ks_clone(c, t, &r)) return ks_lua_raise(L, c);     \
        if ((call) != KS_OK) {                                 \
            ks_tensor_release(r);                              \
            return ks_lua_raise(L, c);                         \
        }                                                      \
        ks_lua_fillbox(L, c, box, r);                          \
        return 1;                                              \
    } while (0)

#define IN_PLACE(call)                                         \
    do {                                                       \
        GUARD(__func__ + 2);                                   \
        if ((call) != KS_OK) return ks_lua_raise(L, c);        \
        lua_settop(L, 1);                                      \
        return 1;                                              \
    } while (0)


/* ------------------------------------------------------- index_* / gather */
static int l_index_select(lua_State *L)
{
    ks_ctx *c = KS_CTX(L);
    ks_tensor *t = ks_lua_check_tensor(L, 1);
    int d = check_dim(L, c, 2, t);
    ks_tensor *idx = check_index(L, 3);
    KS_LUA_NEW_RESULT(ks_ag_index_select(c, t, d, idx, &r));
}

static int l_gather(lua_State *L)
{
    ks_ctx *c = KS_CTX(L);
    ks_tensor *t = ks_lua_check_tensor(L, 1);
    int d = check_dim(L, c, 2, t);
    ks_tensor *idx = check_index(L, 3);
    KS_LUA_NEW_RESULT(ks_ag_gather(c, t, d, idx, &r));
}

/* index_add(t, dim, index, source[, alpha]): alpha positional or {alpha = }; read before any box is pushed */
static double check_alpha(lua_State *L)
{
    static const char *const names[] = {"alpha", NULL};
    opts o;
    opts_init(L, &o, "index_add", 5, names);
    return opt_num(L, &o, 0, 1.0);
}

#define INDEX_ARGS                                   \
    ks_ctx *c = KS_CTX(L);                           \
    ks_tensor *t = ks_lua_check_tensor(L, 1);        \
    int d = check_dim(L, c, 2, t);                   \
    ks_tensor *idx = check_index(L, 3)

static int l_index_add_(lua_State *L) { INDEX_ARGS; ks_tensor *s = ks_lua_check_tensor(L, 4); double a = check_alpha(L); IN_PLACE(ks_index_add_(c, t, d, idx, s, a)); }
static int l_index_add(lua_State *L) { INDEX_ARGS; ks_tensor *s = ks_lua_check_tensor(L, 4); double a = check_alpha(L); KS_LUA_NEW_RESULT(ks_ag_index_add(c, t, d, idx, s, a, &r)); }
static int l_index_copy_(lua_State *L) { INDEX_ARGS; ks_tensor *s = ks_lua_check_tensor(L, 4); IN_PLACE(ks_index_copy_(c, t, d, idx, s)); }
static int l_index_copy(lua_State *L) { INDEX_ARGS; ks_tensor *s = ks_lua_check_tensor(L, 4); OUT_OF_PLACE(ks_index_copy_(c, r, d, idx, s)); }
static int l_index_fill_(lua_State *L) { INDEX_ARGS; double v = check_value(L, 4); IN_PLACE(ks_index_fill_(c, t, d, idx, v)); }
static int l_index_fill(lua_State *L) { INDEX_ARGS; double v = check_value(L, 4); OUT_OF_PLACE(ks_index_fill_(c, r, d, idx, v)); }

/* scatter: a tensor src, or a value (a number, boolean or 0-d tensor when self is not 0-d) */
static ks_status do_scatter(ks_ctx *c, ks_tensor *self, int d, ks_tensor *idx, ks_tensor *src, double v)
{
    if (src) return ks_scatter_(c, self, d, idx, src);
    return ks_scatter_value_(c, self, d, idx, v);
}

#define SCATTER_ARGS                                                         \
    INDEX_ARGS;                                                              \
    ks_tensor *src = ks_lua_to_tensor(L, 4);                                 \
    double v = 0;                                                            \
    if (src && src->ndim == 0 && t->ndim > 0) src = NULL;                    \
    if (!src) v = check_value(L, 4)

static int l_scatter_(lua_State *L) { SCATTER_ARGS; IN_PLACE(do_scatter(c, t, d, idx, src, v)); }
static int l_scatter(lua_State *L) { SCATTER_ARGS; OUT_OF_PLACE(do_scatter(c, r, d, idx, src, v)); }
static int l_scatter_add_(lua_State *L) { INDEX_ARGS; ks_tensor *s = ks_lua_check_tensor(L, 4); IN_PLACE(ks_scatter_add_(c, t, d, idx, s)); }
static int l_scatter_add(lua_State *L) { INDEX_ARGS; ks_tensor *s = ks_lua_check_tensor(L, 4); KS_LUA_NEW_RESULT(ks_ag_scatter_add(c, t, d, idx, s, &r)); }

/* ------------------------------------------------------------------ masks */
static int l_masked_select(lua_State *L)
{
    ks_ctx *c = KS_CTX(L);
    ks_tensor *t = ks_lua_check_tensor(L, 1), *m = check_mask(L, 2);
    KS_LUA_NEW_RESULT(ks_ag_masked_select(c, t, m, &r));
}

static int l_masked_fill_(lua_State *L)
{
    ks_ctx *c = KS_CTX(L);
    ks_tensor *t = ks_lua_check_tensor(L, 1), *m = check_mask(L, 2);
    double v = check_value(L, 3);
    IN_PLACE(ks_masked_fill_(c, t, m, v));
}

/* out-of-place: t and mask broadcast together (PyTorch) */
static int l_masked_fill(lua_State *L)
{
    ks_ctx *c = KS_CTX(L);
    ks_tensor *t = ks_lua_check_tensor(L, 1), *m = check_mask(L, 2);
    double v = check_value(L, 3);
    KS_LUA_NEW_RESULT(ks_ag_masked_fill(c, t, m, v, &r));
}

static int l_masked_scatter_(lua_State *L)
{
    ks_ctx *c = KS_CTX(L);
    ks_tensor *t = ks_lua_check_tensor(L, 1), *m = check_mask(L, 2), *s = ks_lua_check_tensor(L, 3);
    IN_PLACE(ks_masked_scatter_(c, t, m, s));
}

static int l_masked_scatter(lua_State *L)
{
    ks_ctx *c = KS_CTX(L);
    ks_tensor *t = ks_lua_check_tensor(L, 1), *m = check_mask(L, 2), *s = ks_lua_check_tensor(L, 3);
    OUT_OF_PLACE(ks_masked_scatter_(c, r, m, s));
}

/* nonzero(t[, as_tuple]): as_tuple returns one 1-D int64 tensor per dim */
static int l_nonzero(lua_State *L)
{
    static const char *const names[] = {"as_tuple", NULL};
    ks_ctx *c = KS_CTX(L);
    ks_tensor *t = ks_lua_check_tensor(L, 1);
    opts o;
    opts_init(L, &o, "nonzero", 2, names);
    bool tuple = opt_bool(L, &o, 0, false);
    ks_tensor **box = ks_lua_newbox(L);
    ks_tensor *r;
    if (ks_nonzero(c, t, &r)) return ks_lua_raise(L, c);
    ks_lua_fillbox(L, c, box, r);
    if (!tuple) return 1;
    int n = t->ndim ? t->ndim : 1;
    luaL_checkstack(L, n + 2, "nonzero");
    for (int d = 0; d < n; d++) {
        ks_tensor **cb = ks_lua_newbox(L), *col, *cc;
        if (t->ndim == 0) {
            int64_t len = r->size[0];
            if (ks_tensor_empty(c, KS_INT64, 1, &len, &cc)) return ks_lua_raise(L, c);
            memset(ks_tensor_data(cc), 0, (size_t)len * 8);
        } else {
            if (ks_select(c, r, 1, d, &col)) return ks_lua_raise(L, c);
            ks_status st = ks_clone(c, col, &cc);
            ks_tensor_release(col);
            if (st) return ks_lua_raise(L, c);
        }
        ks_lua_fillbox(L, c, cb, cc);
    }
    return n;
}

static int l_argwhere(lua_State *L)
{
    ks_ctx *c = KS_CTX(L);
    ks_tensor *t = ks_lua_check_tensor(L, 1);
    KS_LUA_NEW_RESULT(ks_nonzero(c, t, &r));
}

/* ----------------------------------------------------------------- labels */
static int l_one_hot(lua_State *L)
{
    static const char *const names[] = {"num_classes", NULL};
    ks_ctx *c = KS_CTX(L);
    ks_tensor *t = check_index(L, 1);
    opts o;
    opts_init(L, &o, "one_hot", 2, names);
    lua_Integer n = opt_int(L, &o, 0, -1);
    KS_LUA_NEW_RESULT(ks_one_hot(c, t, n, &r));
}

static int l_bincount(lua_State *L)
{
    static const char *const names[] = {"weights", "minlength", NULL};
    ks_ctx *c = KS_CTX(L);
    ks_tensor *t = check_index(L, 1);
    opts o;
    opts_init(L, &o, "bincount", 2, names);
    lua_Integer minlength = opt_int(L, &o, 1, 0);
    opts_push(L, &o, 0);
    ks_tensor *w = NULL;
    if (!lua_isnil(L, -1)) {
        w = ks_lua_to_tensor(L, -1);
        if (!w) w = ks_lua_check_tensorlike(L, lua_gettop(L), KS_FLOAT32);
    }
    KS_LUA_NEW_RESULT(ks_bincount(c, t, w, minlength, &r));
}

/* ------------------------------------------------------------------ sort */
/* push two boxes, run, fill both (values, indices) */
static int two_results(lua_State *L, ks_ctx *c, ks_status (*fn)(ks_ctx *, ks_tensor *, int64_t, int, bool,
                                                                  ks_tensor **, ks_tensor **),
                       ks_tensor *t, int64_t k, int dim, bool flag)
{
    ks_tensor **vb = ks_lua_newbox(L), **ib = ks_lua_newbox(L);
    ks_tensor *v, *i;
    if (fn(c, t, k, dim, flag, &v, &i)) return ks_lua_raise(L, c);
    *vb = v;
    ks_lua_fillbox(L, c, ib, i);
    return 2;
}

static ks_status sort_fn(ks_ctx *c, ks_tensor *t, int64_t k, int dim, bool desc, ks_tensor **v, ks_tensor **i)
{
    (void)k;
    return ks_ag_sort(c, t, dim, desc, v, i);
}

static ks_status median_fn(ks_ctx *c, ks_tensor *t, int64_t k, int dim, bool keepdim, ks_tensor **v, ks_tensor **i)
{
    (void)k;
    return ks_ag_median(c, t, dim, keepdim, v, i);
}

static const char *const sort_names[] = {"dim", "descending", "stable", NULL};

static int l_sort(lua_State *L)
{
    ks_ctx *c = KS_CTX(L);
    ks_tensor *t = ks_lua_check_tensor(L, 1);
    opts o;
    opts_init(L, &o, "sort", 2, sort_names);
    int d = opt_dim(L, c, &o, 0, t, -1);
    bool desc = opt_bool(L, &o, 1, false);
    (void)opt_bool(L, &o, 2, true);
    return two_results(L, c, sort_fn, t, 0, d, desc);
}

static int l_argsort(lua_State *L)
{
    ks_ctx *c = KS_CTX(L);
    ks_tensor *t = ks_lua_check_tensor(L, 1);
    opts o;
    opts_init(L, &o, "argsort", 2, sort_names);
    int d = opt_dim(L, c, &o, 0, t, -1);
    bool desc = opt_bool(L, &o, 1, false);
    (void)opt_bool(L, &o, 2, true);
    KS_LUA_NEW_RESULT(ks_sort(c, t, d, desc, NULL, &r));
}

static int l_topk(lua_State *L)
{
    static const char *const names[] = {"dim", "largest", "sorted", NULL};
    ks_ctx *c = KS_CTX(L);
    ks_tensor *t = ks_lua_check_tensor(L, 1);
    lua_Integer k = luaL_checkinteger(L, 2);
    opts o;
    opts_init(L, &o, "topk", 3, names);
    int d = opt_dim(L, c, &o, 0, t, -1);
    bool largest = opt_bool(L, &o, 1, true);
    (void)opt_bool(L, &o, 2, true);
    return two_results(L, c, ks_ag_topk, t, k, d, largest);
}

static int l_kthvalue(lua_State *L)
{
    static const char *const names[] = {"dim", "keepdim", NULL};
    ks_ctx *c = KS_CTX(L);
    ks_tensor *t = ks_lua_check_tensor(L, 1);
    lua_Integer k = luaL_checkinteger(L, 2);
    opts o;
    opts_init(L, &o, "kthvalue", 3, names);
    int d = opt_dim(L, c, &o, 0, t, -1);
    return two_results(L, c, ks_ag_kthvalue, t, k, d, opt_bool(L, &o, 1, false));
}

static int l_median(lua_State *L)
{
    static const char *const names[] = {"dim", "keepdim", NULL};
    ks_ctx *c = KS_CTX(L);
    ks_tensor *t = ks_lua_check_tensor(L, 1);
    opts o;
    opts_init(L, &o, "median", 2, names);
    opts_push(L, &o, 0);
    bool all = lua_isnil(L, -1);
    lua_pop(L, 1);
    if (all) KS_LUA_NEW_RESULT(ks_ag_median_all(c, t, &r));
    int d = opt_dim(L, c, &o, 0, t, -1);
    return two_results(L, c, median_fn, t, 0, d, opt_bool(L, &o, 1, false));
}

static int l_unique(lua_State *L)
{
    static const char *const names[] = {"sorted", "return_inverse", "return_counts", "dim", NULL};
    ks_ctx *c = KS_CTX(L);
    ks_tensor *t = ks_lua_check_tensor(L, 1);
    opts o;
    opts_init(L, &o, "unique", 2, names);
    (void)opt_bool(L, &o, 0, true);
    bool inv = opt_bool(L, &o, 1, false), cnt = opt_bool(L, &o, 2, false);
    opts_push(L, &o, 3);
    if (!lua_isnil(L, -1)) return luaL_error(L, "unique: the dim option is not supported (unique of the flattened tensor only)");
    lua_pop(L, 1);
    ks_tensor **vb = ks_lua_newbox(L), **ib = inv ? ks_lua_newbox(L) : NULL, **cb = cnt ? ks_lua_newbox(L) : NULL;
    ks_tensor *v, *i = NULL, *n = NULL;
    if (ks_unique(c, t, &v, inv ? &i : NULL, cnt ? &n : NULL)) return ks_lua_raise(L, c);
    *vb = v;
    if (ib) *ib = i;
    if (cb) *cb = n;
    ks_lua_gc_pace(L, c);
    return 1 + inv + cnt;
}

/* ----------------------------------------------------------------- cdist */
static int l_cdist(lua_State *L)
{
    static const char *const names[] = {"p", NULL};
    ks_ctx *c = KS_CTX(L);
    ks_tensor *a = ks_lua_check_tensor(L, 1), *b = ks_lua_check_tensor(L, 2);
    opts o;
    opts_init(L, &o, "cdist", 3, names);
    double p = opt_num(L, &o, 0, 2.0);
    KS_LUA_NEW_RESULT(ks_ag_cdist(c, a, b, p, &r));
}

/* ------------------------------------------------------ repeat_interleave */
/* element i of a 0-d or 1-D int64 tensor (any stride) */
static int64_t count_at(const ks_tensor *rt, int64_t i)
{
    const char *p = (const char *)ks_tensor_data(rt) + (rt->ndim ? i * rt->stride[0] : 0) * (int64_t)sizeof(int64_t);
    return ks_load_i64(p, rt->dtype);
}

/* t:repeat_interleave(repeats[, dim]): each slice along dim repeated
 * `repeats` times (an integer, or a 1-D int64 tensor with one count per
 * slice or a single count); without dim, t is flattened first, as PyTorch.
 * An index_select with a built index, so gradients flow as for it. */
static int l_repeat_interleave(lua_State *L)
{
    ks_ctx *c = KS_CTX(L);
    ks_lua_check_tensor(L, 1);
    int d = 0;
    if (lua_isnoneornil(L, 3)) { /* flatten through the reshape method (records autograd like any view) */
        if (luaL_getmetafield(L, 1, "methods") != LUA_TTABLE) return luaL_error(L, "tensor methods not found");
        lua_getfield(L, -1, "reshape");
        lua_pushvalue(L, 1);
        lua_pushinteger(L, -1);
        lua_call(L, 2, 1);
        lua_replace(L, 1);
        lua_pop(L, 1);
    }
    ks_tensor *t = ks_lua_check_tensor(L, 1);
    if (!lua_isnoneornil(L, 3)) d = ks_lua_check_dim(L, c, 3, t->ndim);
    int64_t n = t->ndim ? t->size[d] : 1;
    ks_tensor *rt = ks_lua_to_tensor(L, 2);
    int64_t r = 0, total = 0;
    if (rt) {
        if (rt->dtype != KS_INT64 || rt->ndim > 1 || (rt->numel != n && rt->numel != 1))
            return luaL_error(L, "repeat_interleave: repeats must be an integer or an int64 tensor of %d or 1 counts, "
                                 "got %s with %d elements", (int)n, ks_dtype_name(rt->dtype), (int)rt->numel);
        for (int64_t i = 0; i < rt->numel; i++) {
            int64_t k = count_at(rt, i);
            if (k < 0) return luaL_error(L, "repeat_interleave: repeats must be >= 0, got %d", (int)k);
            total += rt->numel == 1 ? k * n : k;
        }
    } else {
        if (!lua_isinteger(L, 2)) return luaL_argerror(L, 2, "repeats must be an integer or an int64 tensor");
        r = lua_tointeger(L, 2);
        if (r < 0) return luaL_error(L, "repeat_interleave: repeats must be >= 0, got %d", (int)r);
        if (n && r > INT64_MAX / n) return luaL_error(L, "repeat_interleave: too many repeats");
        total = n * r;
    }
    ks_tensor **ibox = ks_lua_newbox(L), *idx = NULL;
    if (ks_tensor_empty(c, KS_INT64, 1, &total, &idx)) return ks_lua_raise(L, c);
    ks_lua_fillbox(L, c, ibox, idx);
    int64_t *out = ks_tensor_data(idx), pos = 0;
    for (int64_t i = 0; i < n; i++) {
        int64_t k = rt ? count_at(rt, rt->numel == 1 ? 0 : i) : r;
        for (int64_t j = 0; j < k; j++) out[pos++] = i;
    }
    KS_LUA_NEW_RESULT(ks_ag_index_select(c, t, d, idx, &r));
}

static const luaL_Reg select_fns[] = {
    {"index_select", l_index_select}, {"gather", l_gather}, {"scatter", l_scatter}, {"scatter_", l_scatter_},
    {"scatter_add", l_scatter_add}, {"scatter_add_", l_scatter_add_}, {"index_add", l_index_add},
    {"index_add_", l_index_add_}, {"index_copy", l_index_copy}, {"index_copy_", l_index_copy_},
    {"index_fill", l_index_fill}, {"index_fill_", l_index_fill_}, {"masked_select", l_masked_select},
    {"masked_fill", l_masked_fill}, {"masked_fill_", l_masked_fill_}, {"masked_scatter", l_masked_scatter},
    {"masked_scatter_", l_masked_scatter_}, {"nonzero", l_nonzero}, {"argwhere", l_argwhere},
    {"one_hot", l_one_hot}, {"bincount", l_bincount}, {"unique", l_unique}, {"sort", l_sort},
    {"argsort", l_argsort}, {"topk", l_topk}, {"kthvalue", l_kthvalue}, {"median", l_median},
    {"cdist", l_cdist}, {"repeat_interleave", l_repeat_interleave}, {NULL, NULL}};

void ks_lua_open_select(lua_State *L, int module, int methods, int ctxbox)
{
    ks_lua_register(L, select_fns, module, ctxbox);
    ks_lua_register(L, select_fns, methods, ctxbox);
}
