/* ks_lua_tensor.c: the tensor userdata (box, release, __index dispatch:
 * methods, then the fields requires_grad, grad, grad_fn, is_leaf,
 * retains_grad, data, T, mT, ndim, device, is_cuda; any other name is an
 * error with the nearest name), argument helpers, geometry queries and O(1)
 * view methods. */
#include "ks_lua.h"
#include "../runtime/core/ks_grad_views.h"
#include "../runtime/core/ks_grad_ops.h"

#include <string.h>

/* ------------------------------------------------------------------ boxes */
/* The tensor metatable is also kept in the registry under this address:
 * lua_rawgetp is a pointer-keyed lookup, where luaL_testudata and
 * luaL_setmetatable look the name up as a string (hashing and strcmp of
 * "kshot.Tensor" on every call: ~10% of a tiny op with 3 tensors). */
static const char tensor_mt_key = 0;

static void push_tensor_mt(lua_State *L) { lua_rawgetp(L, LUA_REGISTRYINDEX, &tensor_mt_key); }

ks_tensor **ks_lua_newbox(lua_State *L)
{
    ks_tensor **box = lua_newuserdatauv(L, sizeof *box, 0);
    *box = NULL;
    push_tensor_mt(L);
    lua_setmetatable(L, -2);
    return box;
}

void ks_lua_fillbox(lua_State *L, ks_ctx *c, ks_tensor **box, ks_tensor *t)
{
    *box = t;
    ks_lua_gc_pace(L, c);
}

void ks_lua_push_tensor(lua_State *L, ks_ctx *c, ks_tensor *t)
{
    /* the box allocation may raise a memory error: keep t reachable for release */
    ks_tensor **box = lua_newuserdatauv(L, sizeof *box, 0);
    *box = t;
    push_tensor_mt(L);
    lua_setmetatable(L, -2);
    ks_lua_gc_pace(L, c);
}

static ks_tensor **tensor_box(lua_State *L, int idx);

/* __gc, __close and t:close() */
static int tensor_release(lua_State *L)
{
    ks_tensor **box = tensor_box(L, 1);
    if (!box) return luaL_typeerror(L, 1, KS_TENSOR_MT);
    if (*box) {
        ks_tensor_release(*box);
        *box = NULL;
    }
    return 0;
}

/* The box at idx when it is a tensor userdata (released or not), else NULL. */
static ks_tensor **tensor_box(lua_State *L, int idx)
{
    ks_tensor **box = lua_touserdata(L, idx);
    if (!box || !lua_getmetatable(L, idx)) return NULL;
    push_tensor_mt(L);
    int ok = lua_rawequal(L, -1, -2);
    lua_pop(L, 2);
    return ok ? box : NULL;
}

ks_tensor *ks_lua_to_tensor(lua_State *L, int idx)
{
    ks_tensor **box = tensor_box(L, idx);
    return box ? *box : NULL;
}

ks_tensor *ks_lua_check_tensor(lua_State *L, int arg)
{
    ks_tensor **box = tensor_box(L, arg);
    if (!box) {
        /* A method called with '.' (PyTorch's spelling) passes its first argument as the tensor: say how
         * methods are called (Lua names a field call on a tensor and on ks alike, so the hint fits both) */
        lua_Debug ar;
        const char *name = arg == 1 && lua_getstack(L, 0, &ar) && lua_getinfo(L, "n", &ar) ? ar.name : NULL;
        if (name && ar.namewhat && strcmp(ar.namewhat, "method") != 0)
            luaL_argerror(L, arg, lua_pushfstring(L, "kshot.Tensor expected, got %s; a method is called with ':', "
                                                     "x:%s(...) rather than x.%s(...)", luaL_typename(L, arg), name, name));
        luaL_argerror(L, arg, lua_pushfstring(L, "kshot.Tensor expected, got %s", luaL_typename(L, arg)));
    }
    if (!*box) luaL_argerror(L, arg, "tensor has been released (closed)");
    return *box;
}

/* ------------------------------------------------------------- arguments */
/* PyTorch's dtype names (and tensor conversion methods) kshot lacks: 'f' for the floating ones (kshot
 * computes in float32), 'i' for the integer ones (kshot's is int64), 0 for any other name */
static char torch_dtype_kind(const char *name)
{
    static const char *const floats[] = {"float64", "double", "float16", "half", "bfloat16", NULL};
    static const char *const ints[] = {"int32", "int", "int16", "short", "int8", "char", NULL};
    for (int i = 0; floats[i]; i++)
        if (strcmp(name, floats[i]) == 0) return 'f';
    for (int i = 0; ints[i]; i++)
        if (strcmp(name, ints[i]) == 0) return 'i';
    return 0;
}

/* What to say of a PyTorch dtype kshot lacks (ks.float64 and its kin are defined so that ported code fails
 * here rather than getting float32 from a nil): "" for any other name */
const char *ks_lua_dtype_hint(const char *name)
{
    switch (torch_dtype_kind(name)) {
    case 'f': return "; kshot computes in float32 only";
    case 'i': return "; kshot's integer dtype is int64 (ks.long)";
    default: return "";
    }
}

ks_dtype ks_lua_opt_dtype(lua_State *L, int arg, ks_dtype def)
{
    if (lua_isnoneornil(L, arg)) return def;
    const char *name = lua_tostring(L, arg);
    if (lua_type(L, arg) != LUA_TSTRING)
        luaL_argerror(L, arg, lua_pushfstring(L, "dtype name expected, got %s", luaL_typename(L, arg)));
    int dt = ks_dtype_from_name(name);
    if (dt < 0)
        luaL_argerror(L, arg, lua_pushfstring(L, "unknown dtype '%s' (expected float32, int64, uint8 or bool%s)", name,
                                              ks_lua_dtype_hint(name)));
    return (ks_dtype)dt;
}

int ks_lua_check_dim(lua_State *L, ks_ctx *c, int arg, int ndim)
{
    lua_Integer d = luaL_checkinteger(L, arg);
    int out;
    if (ks_wrap_dim(c, d, ndim, &out)) {
        luaL_argerror(L, arg, ks_ctx_message(c));
    }
    return out;
}

int ks_lua_check_shape(lua_State *L, int arg, int64_t *size)
{
    int n = 0;
    if (lua_istable(L, arg)) {
        lua_Integer len = (lua_Integer)luaL_len(L, arg);
        if (len > KS_MAX_DIMS) luaL_argerror(L, arg, lua_pushfstring(L, "at most %d dimensions", KS_MAX_DIMS));
        for (lua_Integer i = 1; i <= len; i++) {
            lua_geti(L, arg, i);
            int ok;
            lua_Integer v = lua_tointegerx(L, -1, &ok);
            if (!ok) luaL_argerror(L, arg, lua_pushfstring(L, "shape entry %d is not an integer", (int)i));
            size[n++] = v;
            lua_pop(L, 1);
        }
        return n;
    }
    int top = lua_gettop(L);
    for (int i = arg; i <= top && lua_type(L, i) == LUA_TNUMBER; i++) {
        if (n >= KS_MAX_DIMS) luaL_argerror(L, i, lua_pushfstring(L, "at most %d dimensions", KS_MAX_DIMS));
        if (!lua_isinteger(L, i)) luaL_argerror(L, i, "size must be an integer");
        size[n++] = lua_tointeger(L, i);
    }
    return n;
}

int ks_lua_opt_boolfield(lua_State *L, int arg, const char *key, int def)
{
    if (!lua_istable(L, arg)) return def;
    lua_getfield(L, arg, key);
    int v = lua_isnil(L, -1) ? def : lua_toboolean(L, -1);
    lua_pop(L, 1);
    return v;
}

/* Unknown keys in the options table at `arg` (a misspelled option would be
 * ignored silently) raise through kshot.options.check, the one helper that
 * words the message for every function. `known` ends with NULL. */
void ks_lua_check_known(lua_State *L, int arg, const char *op, const char *const *known)
{
    if (!lua_istable(L, arg)) return;
    arg = lua_absindex(L, arg);
    lua_pushnil(L);
    while (lua_next(L, arg)) {
        lua_pop(L, 1);
        int ok = 0;
        if (lua_type(L, -1) == LUA_TSTRING)
            for (const char *const *k = known; *k && !ok; k++) ok = strcmp(lua_tostring(L, -1), *k) == 0;
        if (!ok) {
            lua_pop(L, 1);
            lua_getglobal(L, "require");
            lua_pushliteral(L, "kshot.options");
            lua_call(L, 1, 1);
            lua_getfield(L, -1, "check");
            lua_pushvalue(L, arg);
            lua_pushstring(L, op);
            lua_newtable(L);
            for (int i = 0; known[i]; i++) {
                lua_pushstring(L, known[i]);
                lua_rawseti(L, -2, i + 1);
            }
            lua_pushinteger(L, 2); /* blame the Lua code that called op */
            lua_call(L, 4, 0);
            luaL_error(L, "%s: unknown option", op); /* not reached: check raised */
        }
    }
}

/* ----------------------------------------------------------- __index */
/* The fields (t.name, not methods) a tensor has; writable: grad, requires_grad. */
static const char *const FIELDS[] = {"requires_grad", "grad", "grad_fn", "is_leaf", "retains_grad", "data",
                                     "T", "mT", "ndim", "device", "is_cuda", NULL};

/* raise the message just pushed (the pushfstring in the call) with the
 * position of the Lua code that used the field, as luaL_error would */
static int field_error(lua_State *L, const char *pushed)
{
    (void)pushed; /* on the stack top */
    luaL_where(L, 1);
    lua_insert(L, -2);
    lua_concat(L, 2);
    return lua_error(L);
}

/* A misspelled field (x.requries_grad, x.shap) used to read as nil, or be
 * dropped on assignment: an error naming the field and the nearest name
 * (kshot.options.suggest, the hint of every options check). Off the hot
 * path: methods and fields are found before this runs. */
/* PyTorch tensor methods kshot has no equivalent of by that name: what to use instead, or NULL */
static const char *torch_only_hint(const char *k)
{
    if (strcmp(k, "numpy") == 0)
        return "kshot has no NumPy: t:totable() gives Lua arrays, data.save_npy(path, t) writes a .npy file";
    switch (torch_dtype_kind(k)) { /* t:double(), t:int(), ... */
    case 'f': return "kshot computes in float32 only: t:float()";
    case 'i': return "kshot's integer dtype is int64: t:long()";
    default: return NULL;
    }
}

static int unknown_field(lua_State *L, const char *k, int methods, const char *prefix)
{
    const char *why = torch_only_hint(k);
    if (why) return field_error(L, lua_pushfstring(L, "%sTensor has no field '%s' (%s)", prefix, k, why));
    lua_newtable(L);
    int names = lua_gettop(L), n = 0;
    for (int i = 0; FIELDS[i]; i++) {
        lua_pushstring(L, FIELDS[i]);
        lua_rawseti(L, names, ++n);
    }
    /* the methods after the fields, sorted: the hint must not depend on table order */
    lua_getglobal(L, "table");
    lua_getfield(L, -1, "sort");
    lua_newtable(L);
    int ms = lua_gettop(L), m = 0;
    lua_pushnil(L);
    while (lua_next(L, methods)) {
        lua_pop(L, 1);
        if (lua_type(L, -1) != LUA_TSTRING) continue;
        lua_pushvalue(L, -1);
        lua_rawseti(L, ms, ++m);
    }
    if (lua_isfunction(L, ms - 1)) {
        lua_pushvalue(L, ms - 1);
        lua_pushvalue(L, ms);
        if (lua_pcall(L, 1, 0, 0) != LUA_OK) lua_pop(L, 1); /* unsorted then: still a hint */
    }
    for (int i = 1; i <= m; i++) {
        lua_rawgeti(L, ms, i);
        lua_rawseti(L, names, ++n);
    }
    const char *hint = NULL;
    lua_getglobal(L, "require");
    lua_pushliteral(L, "kshot.options");
    if (lua_pcall(L, 1, 1, 0) == LUA_OK && lua_istable(L, -1)) {
        lua_getfield(L, -1, "suggest");
        lua_pushstring(L, k);
        lua_pushvalue(L, names);
        if (lua_pcall(L, 2, 1, 0) == LUA_OK && lua_type(L, -1) == LUA_TSTRING) hint = lua_tostring(L, -1);
    }
    if (hint) return field_error(L, lua_pushfstring(L, "%sTensor has no field '%s'; did you mean '%s'?", prefix, k, hint));
    return field_error(L, lua_pushfstring(L, "%sTensor has no field '%s' (fields: requires_grad, grad, grad_fn, "
                                             "is_leaf, retains_grad, data, T, mT, ndim, device, is_cuda, shape; methods are "
                                             "called with ':', e.g. t:dtype())", prefix, k));
}

static int t_shape(lua_State *L);

static int tensor_index(lua_State *L)
{
    if (lua_type(L, 2) == LUA_TSTRING) {
        lua_pushvalue(L, 2);
        lua_rawget(L, lua_upvalueindex(2));
        if (!lua_isnil(L, -1)) {
            /* x.shape is the shape list, as PyTorch's property (x.shape[1], #x.shape); the list is
             * callable, so x:shape() gives the same list. The method stays in the table for help and
             * completion. */
            if (lua_tocfunction(L, -1) == t_shape) {
                ks_tensor *t = ks_lua_check_tensor(L, 1);
                ks_lua_push_dims(L, t->ndim, t->size);
            }
            return 1;
        }
        /* properties */
        const char *k = lua_tostring(L, 2);
        ks_tensor *t = ks_lua_check_tensor(L, 1);
        if (strcmp(k, "ndim") == 0) { lua_pushinteger(L, t->ndim); return 1; }
        if (strcmp(k, "requires_grad") == 0) { lua_pushboolean(L, t->requires_grad); return 1; }
        if (ks_lua_autograd_property(L, t, k)) return 1;
        /* read by PyTorch code that picks a device: kshot is CPU only */
        if (strcmp(k, "device") == 0) { lua_pushliteral(L, "cpu"); return 1; }
        if (strcmp(k, "is_cuda") == 0) { lua_pushboolean(L, 0); return 1; }
        if (ks_lua_load_extras(L)) { /* the methods written in Lua, installed on first use */
            lua_pushvalue(L, 2);
            if (lua_rawget(L, lua_upvalueindex(2)) != LUA_TNIL) return 1;
        }
        return unknown_field(L, k, lua_upvalueindex(2), "");
    }
    ks_lua_check_tensor(L, 1);
    return ks_lua_index_get(L, KS_CTX(L));
}

static int tensor_newindex(lua_State *L)
{
    ks_tensor *t = ks_lua_check_tensor(L, 1);
    if (lua_type(L, 2) == LUA_TSTRING) {
        const char *k = lua_tostring(L, 2);
        if (ks_lua_autograd_setproperty(L, t, k)) return 0;
        for (int i = 0; FIELDS[i]; i++)
            if (strcmp(k, FIELDS[i]) == 0) return field_error(L, lua_pushfstring(L, "tensor field '%s' is read-only", k));
        lua_pushvalue(L, 2);
        if (lua_rawget(L, lua_upvalueindex(2)) != LUA_TNIL)
            return field_error(L, lua_pushfstring(L, "cannot set field '%s' of a tensor: '%s' is a tensor method", k, k));
        return unknown_field(L, k, lua_upvalueindex(2), lua_pushfstring(L, "cannot set field '%s' of a tensor: ", k));
    }
    return ks_lua_index_set(L, KS_CTX(L));
}

static int tensor_len(lua_State *L)
{
    ks_tensor *t = ks_lua_check_tensor(L, 1);
    if (t->ndim == 0) return luaL_error(L, "len() of a 0-d tensor");
    lua_pushinteger(L, t->size[0]);
    return 1;
}

/* --------------------------------------------------------- geometry */
static int t_dim(lua_State *L) { lua_pushinteger(L, ks_lua_check_tensor(L, 1)->ndim); return 1; }
static int t_numel(lua_State *L) { lua_pushinteger(L, ks_lua_check_tensor(L, 1)->numel); return 1; }
static int t_dtype(lua_State *L) { lua_pushstring(L, ks_dtype_name(ks_lua_check_tensor(L, 1)->dtype)); return 1; }
static int t_is_contiguous(lua_State *L) { lua_pushboolean(L, ks_tensor_is_contiguous(ks_lua_check_tensor(L, 1))); return 1; }
static int t_storage_offset(lua_State *L) { lua_pushinteger(L, ks_lua_check_tensor(L, 1)->offset); return 1; }

/* t:shape() or t.shape -> {2, 3}: the sizes as a Lua array (1-based) that prints as {2, 3} and compares by
 * contents with another shape or a list; s[-1] is the last size, s[0] an error saying the list is 1-based
 * (ks_lua_size.c) */
static int t_shape(lua_State *L)
{
    ks_tensor *t = ks_lua_check_tensor(L, 1);
    ks_lua_push_dims(L, t->ndim, t->size);
    return 1;
}

/* t:size() -> table like shape(); t:size(d) -> size of dim d (0-based, negative ok) */
static int t_size(lua_State *L)
{
    ks_tensor *t = ks_lua_check_tensor(L, 1);
    if (lua_isnoneornil(L, 2)) return t_shape(L);
    int d = ks_lua_check_dim(L, KS_CTX(L), 2, t->ndim);
    lua_pushinteger(L, t->ndim ? t->size[d] : 1);
    return 1;
}

static int t_stride(lua_State *L)
{
    ks_tensor *t = ks_lua_check_tensor(L, 1);
    if (lua_isnoneornil(L, 2)) { ks_lua_push_dims(L, t->ndim, t->stride); return 1; }
    int d = ks_lua_check_dim(L, KS_CTX(L), 2, t->ndim);
    lua_pushinteger(L, t->ndim ? t->stride[d] : 1);
    return 1;
}

static int t_shares_storage(lua_State *L)
{
    ks_tensor *a = ks_lua_check_tensor(L, 1), *b = ks_lua_check_tensor(L, 2);
    lua_pushboolean(L, a->storage == b->storage);
    return 1;
}

/* ------------------------------------------------------------ views */
/* An op with nothing to do (t:to(t's dtype), t:contiguous() of a contiguous
 * t) returns t itself, the same Lua object, as PyTorch returns self; a new
 * box holding the same tensor would look like a new tensor yet share its
 * fields. r: the op's new reference to t. */
static int push_self(lua_State *L, ks_tensor *r)
{
    ks_tensor_release(r);
    lua_pushvalue(L, 1);
    return 1;
}

/* record a finished view op for autograd (args NULL: the result's own shape) */
static void record_view(lua_State *L, ks_ctx *c, ks_view_kind kind, const int64_t *args, int nargs, ks_tensor *t,
                        ks_tensor *r)
{
    if (!args) { args = r->size; nargs = r->ndim; }
    if (ks_ag_record_view(c, kind, args, nargs, t, r)) ks_lua_raise(L, c);
}

#define VIEW_RUN(call)                          \
    do {                                        \
        ks_tensor **box = ks_lua_newbox(L);     \
        ks_tensor *r = NULL;                    \
        if ((call) != KS_OK) ks_lua_raise(L, c); \
        if (r == t) return push_self(L, r);     \
        ks_lua_fillbox(L, c, box, r);           \
        return 1;                               \
    } while (0)

/* run a view op, then record it for autograd */
#define VIEW_RUN_AG(call, kind, args, nargs)         \
    do {                                             \
        ks_tensor **box = ks_lua_newbox(L);          \
        ks_tensor *r = NULL;                         \
        if ((call) != KS_OK) ks_lua_raise(L, c);     \
        ks_lua_fillbox(L, c, box, r);                \
        record_view(L, c, kind, args, nargs, t, r);  \
        return 1;                                    \
    } while (0)

static int t_view(lua_State *L)
{
    ks_ctx *c = KS_CTX(L);
    ks_tensor *t = ks_lua_check_tensor(L, 1);
    int64_t size[KS_MAX_DIMS];
    int n = ks_lua_check_shape(L, 2, size);
    VIEW_RUN_AG(ks_view(c, t, n, size, &r), KS_VIEW_RESHAPE, NULL, 0);
}

static int t_reshape(lua_State *L)
{
    ks_ctx *c = KS_CTX(L);
    ks_tensor *t = ks_lua_check_tensor(L, 1);
    int64_t size[KS_MAX_DIMS];
    int n = ks_lua_check_shape(L, 2, size);
    VIEW_RUN_AG(ks_reshape(c, t, n, size, &r), KS_VIEW_RESHAPE, NULL, 0);
}

static int t_transpose(lua_State *L)
{
    ks_ctx *c = KS_CTX(L);
    ks_tensor *t = ks_lua_check_tensor(L, 1);
    int d0 = ks_lua_check_dim(L, c, 2, t->ndim), d1 = ks_lua_check_dim(L, c, 3, t->ndim);
    int64_t args[2] = {d0, d1};
    VIEW_RUN_AG(ks_transpose(c, t, d0, d1, &r), KS_VIEW_TRANSPOSE, args, 2);
}

/* t:t(): transpose of a tensor with at most 2 dims */
static int t_t(lua_State *L)
{
    ks_ctx *c = KS_CTX(L);
    ks_tensor *t = ks_lua_check_tensor(L, 1);
    if (t->ndim > 2) return luaL_error(L, "t() expects a tensor with <= 2 dimensions, but self is %dD", t->ndim);
    int64_t args[2] = {0, t->ndim == 2 ? 1 : 0};
    VIEW_RUN_AG(ks_transpose(c, t, 0, (int)args[1], &r), KS_VIEW_TRANSPOSE, args, 2);
}

static int t_permute(lua_State *L)
{
    ks_ctx *c = KS_CTX(L);
    ks_tensor *t = ks_lua_check_tensor(L, 1);
    int64_t dims[KS_MAX_DIMS];
    int n = ks_lua_check_shape(L, 2, dims);
    if (n != t->ndim)
        return luaL_error(L, "permute: number of dims (%d) does not match the tensor's (%d)", n, t->ndim);
    int perm[KS_MAX_DIMS];
    for (int i = 0; i < n; i++) {
        int d;
        if (ks_wrap_dim(c, dims[i], t->ndim, &d)) return ks_lua_raise(L, c);
        perm[i] = d;
    }
    int64_t args[KS_MAX_DIMS];
    for (int i = 0; i < n; i++) args[i] = perm[i];
    VIEW_RUN_AG(ks_permute(c, t, perm, &r), KS_VIEW_PERMUTE, args, n);
}

static int t_narrow(lua_State *L)
{
    ks_ctx *c = KS_CTX(L);
    ks_tensor *t = ks_lua_check_tensor(L, 1);
    int d = ks_lua_check_dim(L, c, 2, t->ndim);
    lua_Integer start = luaL_checkinteger(L, 3), len = luaL_checkinteger(L, 4);
    if (start < 0 && t->ndim) start += t->size[d];
    int64_t args[3] = {d, start, len};
    VIEW_RUN_AG(ks_narrow(c, t, d, start, len, &r), KS_VIEW_NARROW, args, 3);
}

static int t_select(lua_State *L)
{
    ks_ctx *c = KS_CTX(L);
    ks_tensor *t = ks_lua_check_tensor(L, 1);
    if (t->ndim == 0) return luaL_error(L, "select() cannot be applied to a 0-dim tensor");
    int d = ks_lua_check_dim(L, c, 2, t->ndim);
    lua_Integer idx = luaL_checkinteger(L, 3);
    int64_t args[2] = {d, idx};
    VIEW_RUN_AG(ks_select(c, t, d, idx, &r), KS_VIEW_SELECT, args, 2);
}

static int t_squeeze(lua_State *L)
{
    ks_ctx *c = KS_CTX(L);
    ks_tensor *t = ks_lua_check_tensor(L, 1);
    int d = lua_isnoneornil(L, 2) ? -1 : ks_lua_check_dim(L, c, 2, t->ndim);
    if (t->ndim == 0) d = -1;
    int64_t args[1] = {d};
    VIEW_RUN_AG(ks_squeeze(c, t, d, &r), KS_VIEW_SQUEEZE, args, 1);
}

static int t_unsqueeze(lua_State *L)
{
    ks_ctx *c = KS_CTX(L);
    ks_tensor *t = ks_lua_check_tensor(L, 1);
    int d = ks_lua_check_dim(L, c, 2, t->ndim + 1);
    int64_t args[1] = {d};
    VIEW_RUN_AG(ks_unsqueeze(c, t, d, &r), KS_VIEW_UNSQUEEZE, args, 1);
}

static int t_expand(lua_State *L)
{
    ks_ctx *c = KS_CTX(L);
    ks_tensor *t = ks_lua_check_tensor(L, 1);
    int64_t size[KS_MAX_DIMS];
    int n = ks_lua_check_shape(L, 2, size);
    VIEW_RUN_AG(ks_expand(c, t, n, size, &r), KS_VIEW_EXPAND, size, 0);
}

static int t_expand_as(lua_State *L)
{
    ks_ctx *c = KS_CTX(L);
    ks_tensor *t = ks_lua_check_tensor(L, 1), *o = ks_lua_check_tensor(L, 2);
    VIEW_RUN_AG(ks_expand(c, t, o->ndim, o->size, &r), KS_VIEW_EXPAND, o->size, 0);
}

/* t:view_as(other) / t:reshape_as(other): t:view / t:reshape with other's
 * shape, read from the tensor directly (no shape list is built) */
static int t_view_as(lua_State *L)
{
    ks_ctx *c = KS_CTX(L);
    ks_tensor *t = ks_lua_check_tensor(L, 1), *o = ks_lua_check_tensor(L, 2);
    VIEW_RUN_AG(ks_view(c, t, o->ndim, o->size, &r), KS_VIEW_RESHAPE, NULL, 0);
}

static int t_reshape_as(lua_State *L)
{
    ks_ctx *c = KS_CTX(L);
    ks_tensor *t = ks_lua_check_tensor(L, 1), *o = ks_lua_check_tensor(L, 2);
    VIEW_RUN_AG(ks_reshape(c, t, o->ndim, o->size, &r), KS_VIEW_RESHAPE, NULL, 0);
}

/* ks._unflatten(t, dim, sizes) -> t:reshape(shape) with dim split into the Lua list sizes, when every argument
 * is plain: dim an integer in range, sizes integers >= 0 multiplying to size(dim). Nothing otherwise (-1
 * included): tensor_shape_extra.lua's unflatten then checks and names what is wrong. */
static int t_unflatten(lua_State *L)
{
    ks_ctx *c = KS_CTX(L);
    ks_tensor *t = ks_lua_to_tensor(L, 1);
    if (!t || !lua_isinteger(L, 2) || !lua_istable(L, 3) || lua_getmetatable(L, 3)) return 0;
    lua_Integer dim = lua_tointeger(L, 2), nd = t->ndim, n = (lua_Integer)lua_rawlen(L, 3);
    if (dim < -nd || dim >= nd || n == 0 || nd - 1 + n > KS_MAX_DIMS) return 0;
    if (dim < 0) dim += nd;
    int64_t size[KS_MAX_DIMS], known = 1;
    int k = 0;
    for (int d = 0; d < dim; d++) size[k++] = t->size[d];
    for (lua_Integer i = 1; i <= n; i++) {
        lua_rawgeti(L, 3, i);
        lua_Integer s = lua_tointeger(L, -1);
        bool ok = lua_isinteger(L, -1) && s >= 0 && (s == 0 || known <= INT64_MAX / s);
        lua_pop(L, 1);
        if (!ok) return 0;
        size[k++] = s;
        known *= s;
    }
    if (known != t->size[dim]) return 0;
    for (int d = (int)dim + 1; d < nd; d++) size[k++] = t->size[d];
    VIEW_RUN_AG(ks_reshape(c, t, k, size, &r), KS_VIEW_RESHAPE, NULL, 0);
}

/* ks._diagonal(t, offset): the diagonal (above the main one for offset > 0,
 * below for < 0) of the matrices in t's last two dims, as its last dim: those
 * two dims flattened (a view when they are contiguous, else a copy), then
 * every (cols + 1)-th element as a stepped slice, both recorded for autograd.
 * The part of kshot/tensor_shape_extra.lua's diagonal after dim1 and dim2
 * are moved last; one C call, no index table. */
static int t_diagonal(lua_State *L)
{
    ks_ctx *c = KS_CTX(L);
    ks_tensor *t = ks_lua_check_tensor(L, 1);
    lua_Integer offset = luaL_checkinteger(L, 2);
    char buf[96];
    if (t->ndim < 2)
        return luaL_error(L, "diagonal: input must have at least 2 dims, got %s", ks_shape_str(t, buf, sizeof buf));
    int nd = t->ndim;
    int64_t rows = t->size[nd - 2], cols = t->size[nd - 1], len = 0, start = 0;
    if (offset > -rows && offset < cols) { /* compared before negating: offset may be INT64_MIN */
        int64_t r0 = offset < 0 ? -offset : 0, c0 = offset > 0 ? offset : 0;
        len = rows - r0 < cols - c0 ? rows - r0 : cols - c0;
        start = r0 * cols + c0;
    }
    int64_t flat_size[KS_MAX_DIMS];
    for (int i = 0; i < nd - 2; i++) flat_size[i] = t->size[i];
    flat_size[nd - 2] = rows * cols;
    ks_tensor **fbox = ks_lua_newbox(L), *flat = NULL;
    if (ks_reshape(c, t, nd - 1, flat_size, &flat)) ks_lua_raise(L, c);
    ks_lua_fillbox(L, c, fbox, flat);
    record_view(L, c, KS_VIEW_RESHAPE, NULL, 0, t, flat);
    int64_t stop = len ? start + (len - 1) * (cols + 1) + 1 : start;
    int64_t args[4] = {nd - 2, start, stop, cols + 1};
    ks_tensor **box = ks_lua_newbox(L), *r = NULL;
    if (ks_slice(c, flat, nd - 2, start, stop, cols + 1, &r)) ks_lua_raise(L, c);
    ks_lua_fillbox(L, c, box, r);
    record_view(L, c, KS_VIEW_SLICE, args, 4, flat, r);
    return 1;
}

static int t_flip(lua_State *L)
{
    ks_ctx *c = KS_CTX(L);
    ks_tensor *t = ks_lua_check_tensor(L, 1);
    int64_t dims[KS_MAX_DIMS];
    int n = ks_lua_check_shape(L, 2, dims), perm[KS_MAX_DIMS];
    for (int i = 0; i < n; i++)
        if (ks_wrap_dim(c, dims[i], t->ndim, &perm[i])) return ks_lua_raise(L, c);
    int64_t args[KS_MAX_DIMS];
    for (int i = 0; i < n; i++) args[i] = perm[i];
    VIEW_RUN_AG(ks_flip(c, t, n, perm, &r), KS_VIEW_FLIP, args, n);
}

/* t:flatten([start_dim=0[, end_dim=-1]]) */
static int t_flatten(lua_State *L)
{
    ks_ctx *c = KS_CTX(L);
    ks_tensor *t = ks_lua_check_tensor(L, 1);
    int nd = t->ndim ? t->ndim : 1;
    int s = lua_isnoneornil(L, 2) ? 0 : ks_lua_check_dim(L, c, 2, nd);
    int e = lua_isnoneornil(L, 3) ? nd - 1 : ks_lua_check_dim(L, c, 3, nd);
    if (s > e) return luaL_error(L, "flatten: start_dim (%d) cannot come after end_dim (%d)", s, e);
    int64_t size[KS_MAX_DIMS];
    int k = 0;
    for (int i = 0; i < s; i++) size[k++] = t->size[i];
    int64_t m = 1;
    for (int i = s; i <= e && i < t->ndim; i++) m *= t->size[i];
    size[k++] = m;
    for (int i = e + 1; i < t->ndim; i++) size[k++] = t->size[i];
    VIEW_RUN_AG(ks_reshape(c, t, k, size, &r), KS_VIEW_RESHAPE, NULL, 0);
}

static int t_contiguous(lua_State *L)
{
    ks_ctx *c = KS_CTX(L);
    ks_tensor *t = ks_lua_check_tensor(L, 1);
    if (ks_tensor_is_contiguous(t)) return push_self(L, ks_tensor_retain(t));
    VIEW_RUN_AG(ks_contiguous(c, t, &r), KS_VIEW_IDENTITY, NULL, 0);
}

static int t_clone(lua_State *L)
{
    ks_ctx *c = KS_CTX(L);
    ks_tensor *t = ks_lua_check_tensor(L, 1);
    VIEW_RUN_AG(ks_clone(c, t, &r), KS_VIEW_IDENTITY, NULL, 0);
}

static int cpu_only(lua_State *L, const char *device)
{
    return luaL_error(L, "kshot runs on the CPU only: there is no device '%s' (x.device is \"cpu\", and x:to(\"cpu\") "
                         "returns x)", device);
}

/* PyTorch code moves tensors with x:to(device) / x:cpu() / x:cuda(): kshot tensors live on the CPU, so
 * "cpu" is no change and any other device an error that says so. True when arg i named a device. */
static bool device_arg(lua_State *L, int i)
{
    if (lua_type(L, i) != LUA_TSTRING) return false;
    const char *s = lua_tostring(L, i);
    if (strcmp(s, "cpu") == 0) return true;
    static const char *const others[] = {"cuda", "mps", "xpu", "xla", "meta", "hip", "vulkan", "ipu", NULL};
    for (int k = 0; others[k]; k++) {
        size_t n = strlen(others[k]);
        if (strncmp(s, others[k], n) == 0 && (s[n] == '\0' || s[n] == ':')) cpu_only(L, s);
    }
    return false;
}

/* t:to(dtype) / t:type(dtype); t:float(), t:long(), t:byte(), t:bool(); t:to("cpu"[, dtype]) and t:cpu()
 * return t (or its conversion): the only device; t:to("cuda") and t:cuda() are errors saying so */
static int t_to(lua_State *L)
{
    ks_ctx *c = KS_CTX(L);
    ks_tensor *t = ks_lua_check_tensor(L, 1);
    if (device_arg(L, 2)) {
        if (lua_isnoneornil(L, 3)) {
            lua_settop(L, 1);
            return 1;
        }
        lua_remove(L, 2); /* x:to("cpu", dtype) converts */
    }
    ks_tensor *like = ks_lua_to_tensor(L, 2);
    if (!like && lua_type(L, 2) != LUA_TSTRING)
        return luaL_argerror(L, 2, lua_pushfstring(L, "dtype name or tensor expected, got %s", luaL_typename(L, 2)));
    ks_dtype dt = like ? like->dtype : ks_lua_opt_dtype(L, 2, t->dtype);
    VIEW_RUN(ks_to_dtype(c, t, dt, &r));
}

/* t:cpu() -> t itself: kshot tensors live on the CPU (PyTorch returns self when nothing moves) */
static int t_cpu(lua_State *L)
{
    ks_lua_check_tensor(L, 1);
    lua_settop(L, 1);
    return 1;
}

/* t:cuda() -> an error: kshot runs on the CPU only (x.device is "cpu") */
static int t_cuda(lua_State *L)
{
    ks_lua_check_tensor(L, 1);
    return cpu_only(L, "cuda");
}

/* PyTorch's legacy type strings of the dtypes (CPU tensors), by ks_dtype */
static const char *const TYPE_NAMES[KS_NUM_DTYPES] = {
    [KS_FLOAT32] = "torch.FloatTensor", [KS_INT64] = "torch.LongTensor", [KS_UINT8] = "torch.ByteTensor",
    [KS_BOOL] = "torch.BoolTensor"};

/* With no argument, the type string of t's dtype, as PyTorch's t.type(); a dtype, a tensor or one of those
 * strings converts as t:to (so x:type(y:type()) works as in PyTorch). Documented in help_signatures.lua. */
static int t_type(lua_State *L)
{
    ks_tensor *t = ks_lua_check_tensor(L, 1);
    if (lua_isnoneornil(L, 2)) {
        const char *name = (unsigned)t->dtype < KS_NUM_DTYPES ? TYPE_NAMES[t->dtype] : NULL;
        if (!name) return luaL_error(L, "type: no PyTorch type name for dtype %s", ks_dtype_name(t->dtype));
        lua_pushstring(L, name);
        return 1;
    }
    if (lua_type(L, 2) == LUA_TSTRING)
        for (int d = 0; d < KS_NUM_DTYPES; d++)
            if (TYPE_NAMES[d] && strcmp(lua_tostring(L, 2), TYPE_NAMES[d]) == 0) {
                lua_pushstring(L, ks_dtype_name((ks_dtype)d));
                lua_replace(L, 2);
                break;
            }
    return t_to(L);
}

static int to_fixed(lua_State *L, ks_dtype dt)
{
    ks_ctx *c = KS_CTX(L);
    ks_tensor *t = ks_lua_check_tensor(L, 1);
    VIEW_RUN(ks_to_dtype(c, t, dt, &r));
}
static int t_float(lua_State *L) { return to_fixed(L, KS_FLOAT32); }
static int t_long(lua_State *L) { return to_fixed(L, KS_INT64); }
static int t_byte(lua_State *L) { return to_fixed(L, KS_UINT8); }
static int t_bool(lua_State *L) { return to_fixed(L, KS_BOOL); }

/* t:copy_(src): copy src (tensor or number, broadcast) into t in place */
static int t_copy_(lua_State *L)
{
    ks_ctx *c = KS_CTX(L);
    ks_tensor *t = ks_lua_check_tensor(L, 1);
    ks_tensor *s = ks_lua_check_tensorlike(L, 2, t->dtype);
    if (ks_ag_check_inplace(c, t, "copy_") || ks_ag_check_inplace_src(c, s, "copy_") || ks_copy_(c, t, s))
        return ks_lua_raise(L, c);
    lua_settop(L, 1);
    return 1;
}

/* ------------------------------------------------------------ values */
static void push_element(lua_State *L, const void *p, ks_dtype dt)
{
    switch (dt) {
    case KS_FLOAT32: lua_pushnumber(L, *(const float *)p); break;
    case KS_INT64: lua_pushinteger(L, *(const int64_t *)p); break;
    case KS_UINT8: lua_pushinteger(L, *(const uint8_t *)p); break;
    case KS_BOOL: lua_pushboolean(L, *(const uint8_t *)p); break;
    default: lua_pushnil(L);
    }
}

static int t_item(lua_State *L)
{
    ks_tensor *t = ks_lua_check_tensor(L, 1);
    if (t->numel != 1)
        return luaL_error(L, "item(): a tensor with %d elements cannot be converted to a Lua number (need exactly 1)",
                          (int)t->numel);
    push_element(L, ks_tensor_data(t), t->dtype);
    return 1;
}

static void totable_rec(lua_State *L, const ks_tensor *t, int d, const char *p)
{
    size_t isz = ks_dtype_size(t->dtype);
    if (d == t->ndim) { push_element(L, p, t->dtype); return; }
    luaL_checkstack(L, 3, "totable");
    lua_createtable(L, (int)t->size[d], 0);
    for (int64_t i = 0; i < t->size[d]; i++) {
        totable_rec(L, t, d + 1, p + i * t->stride[d] * (int64_t)isz);
        lua_rawseti(L, -2, i + 1);
    }
}

/* t:totable() / t:tolist(): nested 1-based Lua arrays (a number for a 0-d
 * tensor); tolist is PyTorch's name, same 1-based result */
static int t_totable(lua_State *L)
{
    ks_tensor *t = ks_lua_check_tensor(L, 1);
    totable_rec(L, t, 0, ks_tensor_data(t));
    return 1;
}

static const luaL_Reg tensor_methods[] = {
    {"dim", t_dim}, {"numel", t_numel}, {"nelement", t_numel}, {"dtype", t_dtype}, {"shape", t_shape},
    {"size", t_size}, {"stride", t_stride}, {"is_contiguous", t_is_contiguous},
    {"storage_offset", t_storage_offset}, {"shares_storage", t_shares_storage},
    {"view", t_view}, {"reshape", t_reshape}, {"transpose", t_transpose}, {"t", t_t},
    {"permute", t_permute}, {"narrow", t_narrow}, {"select", t_select}, {"squeeze", t_squeeze},
    {"unsqueeze", t_unsqueeze}, {"expand", t_expand}, {"expand_as", t_expand_as},
    {"view_as", t_view_as}, {"reshape_as", t_reshape_as}, {"flip", t_flip},
    {"flatten", t_flatten}, {"contiguous", t_contiguous}, {"clone", t_clone}, {"to", t_to}, {"type", t_type},
    {"float", t_float}, {"long", t_long}, {"byte", t_byte}, {"bool", t_bool}, {"copy_", t_copy_},
    {"cpu", t_cpu}, {"cuda", t_cuda},
    {"item", t_item}, {"totable", t_totable}, {"tolist", t_totable}, {"close", tensor_release},
    {NULL, NULL}};

/* functions that are also module-level (ks.reshape(t, ...), ks.transpose(t, 0, 1), ...) */
static const luaL_Reg tensor_functions[] = {
    {"view", t_view}, {"reshape", t_reshape}, {"transpose", t_transpose}, {"permute", t_permute},
    {"narrow", t_narrow}, {"select", t_select}, {"squeeze", t_squeeze}, {"unsqueeze", t_unsqueeze},
    {"flip", t_flip}, {"flatten", t_flatten}, {"clone", t_clone}, {"numel", t_numel},
    {"_diagonal", t_diagonal}, {"_unflatten", t_unflatten}, {NULL, NULL}};

static int is_tensor(lua_State *L)
{
    lua_pushboolean(L, ks_lua_to_tensor(L, 1) != NULL);
    return 1;
}

void ks_lua_open_tensor(lua_State *L, int module, int methods, int ctxbox)
{
    luaL_getmetatable(L, KS_TENSOR_MT); /* first: the other openers may make tensors */
    lua_rawsetp(L, LUA_REGISTRYINDEX, &tensor_mt_key);
    ks_lua_open_size(L);
    ks_lua_register(L, tensor_methods, methods, ctxbox);
    ks_lua_register(L, tensor_functions, module, ctxbox);
    lua_pushvalue(L, ctxbox);
    lua_pushcclosure(L, is_tensor, 1);
    lua_setfield(L, module, "is_tensor");
    luaL_getmetatable(L, KS_TENSOR_MT);
    int mt = lua_gettop(L);
    lua_pushvalue(L, ctxbox);
    lua_pushvalue(L, methods);
    lua_pushcclosure(L, tensor_index, 2);
    lua_setfield(L, mt, "__index");
    lua_pushvalue(L, ctxbox);
    lua_pushvalue(L, methods);
    lua_pushcclosure(L, tensor_newindex, 2);
    lua_setfield(L, mt, "__newindex");
    lua_pushcfunction(L, tensor_release);
    lua_setfield(L, mt, "__gc");
    lua_pushcfunction(L, tensor_release);
    lua_setfield(L, mt, "__close");
    lua_pushvalue(L, ctxbox);
    lua_pushcclosure(L, tensor_len, 1);
    lua_setfield(L, mt, "__len");
    lua_pop(L, 1);
}
