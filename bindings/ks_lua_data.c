/* ks_lua_data.c: the `ks.data` table: IDX reading and K-shot sampling.
 *
 *   ks.data.read_idx(path) -> tensor
 *   ks.data.kshot_indices(labels, k, {seed=n | generator=g, classes={...}}) -> int64 tensor
 *   ks.data.episode(labels, {way=, shot=, query=, ...}) -> support_rows, support_labels, query_rows,
 *                                 query_labels, episode_classes (int64; labels 0..way-1)
 *   ks.data.stratified_kfold(labels, k, {seed=|generator=, indices=, repeats=}) -> {{train=, val=}, ...}
 *                                 (repeats in [1, 2^20], checked before any work)
 *   ks.data.train_val_split(labels, indices|nil, {val=|val_count=, seed=|generator=}) -> train, val
 *   ks.data.learning_curve_subsets(labels, {1, 2, 5, ...}, {seed=|generator=, classes=}) -> {[K]=rows}
 *
 * Every options table is checked: an unknown key is an error listing the known ones.
 * The Lua-side part (fashion_mnist, ...) lives in bindings/lua/kshot/data.lua;
 * the first lookup of a field this table lacks loads it (require "kshot.data"),
 * so ks.data.fashion_mnist works without an explicit require.
 */
#include "ks_lua.h"
#include "../runtime/core/ks_idx.h"
#include "../runtime/core/ks_sampling.h"

#include <string.h>

/* ks.data.read_idx(path): the whole file as a tensor (see ks_idx.h for dtypes). */
static int l_read_idx(lua_State *L)
{
    ks_ctx *c = KS_CTX(L);
    luaL_checktype(L, 1, LUA_TSTRING);
    const char *path = lua_tostring(L, 1);
    ks_tensor **box = ks_lua_newbox(L);
    ks_tensor *t = NULL;
    if (ks_idx_read(c, path, &t)) return ks_lua_raise(L, c);
    ks_lua_fillbox(L, c, box, t);
    return 1;
}

/* classes option: a Lua list of integers or a 1-D integer tensor, copied into
 * a scratch userdata left on the stack (collected on error). */
static int64_t *opt_classes(lua_State *L, int opts, int *n, const char *op)
{
    *n = 0;
    lua_getfield(L, opts, "classes");
    int v = lua_gettop(L);
    if (lua_isnil(L, v)) return NULL;
    ks_tensor *t = ks_lua_to_tensor(L, v);
    if (t) {
        if (t->ndim != 1 || (t->dtype != KS_INT64 && t->dtype != KS_UINT8))
            luaL_error(L, "%s: option 'classes' must be a 1-D int64 tensor or a list of integers", op);
        if (t->size[0] > INT32_MAX) luaL_error(L, "%s: too many classes", op);
        *n = (int)t->size[0];
    } else if (lua_istable(L, v)) {
        lua_Integer len = luaL_len(L, v);
        if (len > INT32_MAX) luaL_error(L, "%s: too many classes", op);
        *n = (int)len;
    } else {
        luaL_error(L, "%s: option 'classes' must be a list of integers, got %s", op, luaL_typename(L, v));
    }
    int64_t *cl = lua_newuserdatauv(L, (size_t)(*n ? *n : 1) * sizeof *cl, 0);
    const char *p = t ? ks_tensor_data(t) : NULL;
    for (int i = 0; i < *n; i++) {
        if (t) {
            cl[i] = ks_load_i64(p + (int64_t)i * t->stride[0] * (int64_t)ks_dtype_size(t->dtype), t->dtype);
            continue;
        }
        lua_geti(L, v, i + 1);
        int ok;
        cl[i] = lua_tointegerx(L, -1, &ok);
        if (!ok) luaL_error(L, "%s: classes[%d] is not an integer (%s)", op, i + 1, luaL_typename(L, -1));
        lua_pop(L, 1);
    }
    return cl;
}

/* The generator of the draw: {generator=g} (a kshot.Generator, advanced by the
 * call) or {seed=n} (a fresh generator seeded with n). */
static ks_generator *opt_generator(lua_State *L, int opts, ks_generator *local, const char *op)
{
    lua_getfield(L, opts, "generator");
    if (!lua_isnil(L, -1)) {
        ks_generator **g = luaL_testudata(L, -1, KS_GENERATOR_MT);
        if (!g || !*g) luaL_error(L, "%s: option 'generator' must be a kshot.Generator, got %s", op,
                                  luaL_typename(L, -1));
        return *g;
    }
    lua_getfield(L, opts, "seed");
    if (lua_isnil(L, -1))
        luaL_error(L, "%s: pass {seed=n} or {generator=g} (data draws use their own random stream)", op);
    int ok;
    lua_Integer seed = lua_tointegerx(L, -1, &ok);
    if (!ok) luaL_error(L, "%s: option 'seed' must be an integer, got %s", op, luaL_typename(L, -1));
    ks_generator_seed(local, (uint64_t)seed);
    return local;
}

static void check_opts_table(lua_State *L, int arg, const char *op);

/* ks.data.kshot_indices(labels, k, opts): int64 indices, k per class, grouped
 * by ascending class then in draw order (see ks_sampling.h). */
static int l_kshot_indices(lua_State *L)
{
    ks_ctx *c = KS_CTX(L);
    ks_tensor *labels = ks_lua_check_tensor(L, 1);
    lua_Integer k = luaL_checkinteger(L, 2);
    check_opts_table(L, 3, "kshot_indices");
    ks_lua_check_known(L, 3, "kshot_indices", (const char *const[]){"seed", "generator", "classes", NULL});
    int n;
    int64_t *classes = opt_classes(L, 3, &n, "kshot_indices");
    ks_generator local, *g = opt_generator(L, 3, &local, "kshot_indices");
    ks_tensor **box = ks_lua_newbox(L);
    ks_tensor *t = NULL;
    if (ks_kshot_indices(c, labels, k, classes, n, g, &t)) return ks_lua_raise(L, c);
    ks_lua_fillbox(L, c, box, t);
    return 1;
}

/* Integer option `key` of the table at `opts` (def when absent, def < -1 means required). */
static lua_Integer opt_int(lua_State *L, int opts, const char *key, lua_Integer def, const char *op)
{
    lua_getfield(L, opts, key);
    int ok;
    lua_Integer v = lua_tointegerx(L, -1, &ok);
    if (lua_isnil(L, -1)) {
        if (def < -1) luaL_error(L, "%s: option '%s' is required (an integer)", op, key);
        v = def;
    } else if (!ok) {
        luaL_error(L, "%s: option '%s' must be an integer, got %s", op, key, luaL_typename(L, -1));
    }
    lua_pop(L, 1);
    return v;
}

/* Optional tensor option `key` (nil -> NULL). */
static ks_tensor *opt_tensor(lua_State *L, int opts, const char *key, const char *op)
{
    lua_getfield(L, opts, key);
    ks_tensor *t = NULL;
    if (!lua_isnil(L, -1) && !(t = ks_lua_to_tensor(L, -1)))
        luaL_error(L, "%s: option '%s' must be an int64 tensor, got %s", op, key, luaL_typename(L, -1));
    lua_pop(L, 1); /* the option table keeps it alive */
    return t;
}

/* Every sampler draws from its own generator, so its options table (with the
 * seed) is required; a missing one says what to pass rather than only "table expected". */
static void check_opts_table(lua_State *L, int arg, const char *op)
{
    if (lua_isnoneornil(L, arg))
        luaL_error(L, "%s: options table expected as argument #%d, got %s: pass {seed=n} or {generator=g} "
                   "(data draws use their own random stream)", op, arg, luaL_typename(L, arg));
    if (!lua_istable(L, arg))
        luaL_error(L, "%s: options table expected as argument #%d, got %s", op, arg, luaL_typename(L, arg));
}

/* ks.data.episode(labels, {way=, shot=, query=0, classes=, query_labels=, seed=|generator=})
 * -> support rows, support labels (0..way-1), query rows, query labels, class ids (all int64) */
static int l_episode(lua_State *L)
{
    const char *op = "episode";
    ks_ctx *c = KS_CTX(L);
    ks_tensor *labels = ks_lua_check_tensor(L, 1);
    check_opts_table(L, 2, op);
    ks_lua_check_known(L, 2, op,
                (const char *const[]){"way", "shot", "query", "classes", "query_labels", "seed", "generator", NULL});
    ks_episode_spec spec = {opt_int(L, 2, "way", -2, op), opt_int(L, 2, "shot", -2, op), opt_int(L, 2, "query", 0, op),
                            NULL, 0};
    ks_tensor *qlabels = opt_tensor(L, 2, "query_labels", op);
    spec.classes = opt_classes(L, 2, &spec.nclasses, op);
    ks_generator local, *g = opt_generator(L, 2, &local, op);
    ks_tensor **box[5];
    for (int i = 0; i < 5; i++) box[i] = ks_lua_newbox(L);
    ks_tensor *out[5];
    if (ks_episode(c, labels, qlabels, &spec, g, out)) return ks_lua_raise(L, c);
    for (int i = 0; i < 5; i++) *box[i] = out[i];
    ks_lua_gc_pace(L, c);
    return 5;
}

/* Push {train=, val=} for fold f of (rows, fold) (both int64 [M]). */
static void push_fold(lua_State *L, ks_ctx *c, const ks_tensor *rows, const ks_tensor *fold, int64_t f)
{
    const int64_t *r = ks_tensor_data(rows), *fo = ks_tensor_data(fold);
    int64_t M = rows->size[0], nv = 0;
    for (int64_t i = 0; i < M; i++) nv += fo[i] == f;
    int64_t sizes[2] = {M - nv, nv};
    lua_createtable(L, 0, 2);
    ks_tensor *t[2];
    for (int j = 0; j < 2; j++) {
        ks_tensor **box = ks_lua_newbox(L);
        if (ks_tensor_empty(c, KS_INT64, 1, &sizes[j], &t[j])) ks_lua_raise(L, c);
        *box = t[j];
        lua_setfield(L, -2, j ? "val" : "train");
    }
    int64_t *pt = ks_tensor_data(t[0]), *pv = ks_tensor_data(t[1]);
    for (int64_t i = 0; i < M; i++) {
        if (fo[i] == f) *pv++ = r[i];
        else *pt++ = r[i];
    }
    ks_lua_gc_pace(L, c);
}

/* Upper bound on stratified_kfold's repeats: a typo like 1 << 32 is an error, not an endless loop. */
#define KS_MAX_REPEATS (1 << 20)

/* ks.data.stratified_kfold(labels, k, {seed=|generator=, indices=, repeats=1})
 * -> a list of repeats*k folds {train=rows, val=rows} (rows ascending); each
 * repeat draws a new shuffle from the same generator. */
static int l_stratified_kfold(lua_State *L)
{
    const char *op = "stratified_kfold";
    ks_ctx *c = KS_CTX(L);
    ks_tensor *labels = ks_lua_check_tensor(L, 1);
    lua_Integer k = luaL_checkinteger(L, 2);
    check_opts_table(L, 3, op);
    ks_lua_check_known(L, 3, op, (const char *const[]){"seed", "generator", "indices", "repeats", NULL});
    ks_tensor *subset = opt_tensor(L, 3, "indices", op);
    lua_Integer repeats = opt_int(L, 3, "repeats", 1, op);
    if (repeats < 1 || repeats > KS_MAX_REPEATS)
        luaL_error(L, "%s: option 'repeats' must be in [1, %d] (2^20), got %I", op, KS_MAX_REPEATS, repeats);
    ks_generator local, *g = opt_generator(L, 3, &local, op);
    lua_createtable(L, (int)(k > 0 && k < (1 << 20) && repeats * k < (1 << 20) ? repeats * k : 0), 0);
    int list = lua_gettop(L), n = 0;
    for (lua_Integer r = 0; r < repeats; r++) {
        ks_tensor **rb = ks_lua_newbox(L), **fb = ks_lua_newbox(L);
        if (ks_stratified_folds(c, labels, subset, k, g, rb, fb)) return ks_lua_raise(L, c);
        for (int64_t f = 0; f < k; f++) {
            push_fold(L, c, *rb, *fb, f);
            lua_rawseti(L, list, ++n);
        }
        lua_pop(L, 2);
    }
    return 1;
}

/* ks.data.train_val_split(labels, indices|nil, {val=fraction | val_count=n, seed=|generator=})
 * -> train rows, val rows (ascending; each class keeps >= 1 row in train) */
static int l_train_val_split(lua_State *L)
{
    const char *op = "train_val_split";
    ks_ctx *c = KS_CTX(L);
    ks_tensor *labels = ks_lua_check_tensor(L, 1);
    ks_tensor *subset = lua_isnil(L, 2) ? NULL : ks_lua_check_tensor(L, 2);
    check_opts_table(L, 3, op);
    ks_lua_check_known(L, 3, op, (const char *const[]){"val", "val_count", "seed", "generator", NULL});
    lua_Integer count = opt_int(L, 3, "val_count", -1, op);
    lua_getfield(L, 3, "val");
    double frac = 0.2;
    if (!lua_isnil(L, -1)) {
        if (lua_type(L, -1) != LUA_TNUMBER) luaL_error(L, "%s: option 'val' must be a fraction in [0, 1]", op);
        frac = lua_tonumber(L, -1);
    }
    lua_pop(L, 1);
    if (count < -1) luaL_error(L, "%s: option 'val_count' must be >= 0, got %I", op, count);
    ks_generator local, *g = opt_generator(L, 3, &local, op);
    ks_tensor **tb = ks_lua_newbox(L), **vb = ks_lua_newbox(L);
    if (ks_stratified_split(c, labels, subset, frac, count, g, tb, vb)) return ks_lua_raise(L, c);
    ks_lua_gc_pace(L, c);
    return 2;
}

/* ks.data.learning_curve_subsets(labels, {1, 2, 5, 10}, {seed=|generator=, classes=})
 * -> {[K]=rows, ...} keyed by K: K rows per class for each K, nested (the set
 * for a smaller K is inside the set for a larger one); advances g once. */
static int l_learning_curve(lua_State *L)
{
    const char *op = "learning_curve_subsets";
    ks_ctx *c = KS_CTX(L);
    ks_tensor *labels = ks_lua_check_tensor(L, 1);
    luaL_checktype(L, 2, LUA_TTABLE);
    check_opts_table(L, 3, op);
    ks_lua_check_known(L, 3, op, (const char *const[]){"seed", "generator", "classes", NULL});
    int n;
    int64_t *classes = opt_classes(L, 3, &n, op);
    ks_generator local, *g = opt_generator(L, 3, &local, op);
    ks_generator start = *g;
    lua_Integer len = luaL_len(L, 2);
    if (len < 1) luaL_error(L, "%s: the list of K values is empty", op);
    lua_createtable(L, 0, (int)(len < 64 ? len : 64));
    for (lua_Integer i = 1; i <= len; i++) {
        lua_geti(L, 2, i);
        int ok;
        lua_Integer k = lua_tointegerx(L, -1, &ok);
        if (!ok || k < 0) luaL_error(L, "%s: K values must be integers >= 0, got %s at position %d", op,
                                     luaL_tolstring(L, -1, NULL), (int)i);
        lua_pop(L, 1);
        *g = start; /* the same state for every K: nested subsets */
        ks_tensor **box = ks_lua_newbox(L);
        if (ks_kshot_indices(c, labels, k, classes, n, g, box)) return ks_lua_raise(L, c);
        lua_rawseti(L, -2, k);
    }
    ks_lua_gc_pace(L, c);
    return 1;
}

static const luaL_Reg data_functions[] = {
    {"read_idx", l_read_idx},
    {"kshot_indices", l_kshot_indices},
    {"episode", l_episode},
    {"stratified_kfold", l_stratified_kfold},
    {"train_val_split", l_train_val_split},
    {"learning_curve_subsets", l_learning_curve},
    {NULL, NULL}};

void ks_lua_open_data(lua_State *L, int module, int methods, int ctxbox)
{
    (void)methods;
    ks_lua_new_subtable(L, data_functions, ctxbox, "kshot.data");
    lua_setfield(L, module, "data");
}
