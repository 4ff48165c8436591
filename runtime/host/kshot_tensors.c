/* kshot_tensors.c: tensors across the embedding API (kshot.h): a C buffer
 * copied into a new tensor on the Lua stack, and a tensor on the stack
 * described and copied out. Every step that can raise (loading the module,
 * allocating, a wrong argument) runs inside kshot_pcall, so these functions
 * report errors as kshot_run_* do and never raise into the caller. */
#include "kshot_host.h"
#include "../../bindings/ks_lua.h"

#include <string.h>

_Static_assert((int)KSHOT_FLOAT32 == (int)KS_FLOAT32 && (int)KSHOT_INT64 == (int)KS_INT64 &&
                   (int)KSHOT_UINT8 == (int)KS_UINT8 && (int)KSHOT_BOOL == (int)KS_BOOL,
               "kshot_dtype follows ks_dtype");
_Static_assert(KSHOT_MAX_DIMS == KS_MAX_DIMS, "kshot.h's dim limit is the core's");

/* the arguments and results of one call, passed as a light userdata */
typedef struct xfer {
    const char *fn; /* API function, for messages */
    int dtype, ndim;
    const int64_t *sizes_in;
    const void *src;
    void *dst;
    size_t capacity;
    /* results of kshot_tensor_shape */
    int dtype_out, ndim_out;
    int64_t sizes_out[KS_MAX_DIMS];
} xfer;

/* The state's kshot context, requiring the module first if no one has. */
static ks_ctx *context(lua_State *L)
{
    lua_getglobal(L, "require");
    lua_pushliteral(L, "kshot");
    lua_call(L, 1, 0);
    return ks_lua_getctx(L);
}

/* (xfer) -> the new tensor */
static int push_tensor_p(lua_State *L)
{
    xfer *x = lua_touserdata(L, 1);
    ks_ctx *c = context(L);
    if (x->dtype < KS_FLOAT32 || x->dtype > KS_BOOL)
        return luaL_error(L, "%s: unknown dtype %d (KSHOT_FLOAT32, KSHOT_INT64, KSHOT_UINT8 or KSHOT_BOOL)",
                          x->fn, x->dtype);
    if (x->ndim < 0 || x->ndim > KS_MAX_DIMS)
        return luaL_error(L, "%s: ndim must be 0..%d, got %d", x->fn, KS_MAX_DIMS, x->ndim);
    if (x->ndim > 0 && !x->sizes_in) return luaL_error(L, "%s: sizes is NULL", x->fn);
    int64_t numel;
    if (ks_shape_numel(c, x->ndim, x->sizes_in, &numel) != KS_OK)
        return luaL_error(L, "%s: %s", x->fn, ks_ctx_message(c));
    if (numel > 0 && !x->src) return luaL_error(L, "%s: data is NULL", x->fn);
    ks_tensor **box = ks_lua_newbox(L); /* before the allocation: an error leaves nothing behind */
    ks_tensor *t;
    ks_lua_check(L, c, ks_tensor_empty(c, (ks_dtype)x->dtype, x->ndim, x->sizes_in, &t));
    if (numel > 0) memcpy(ks_tensor_data(t), x->src, (size_t)numel * ks_dtype_size(t->dtype));
    ks_lua_fillbox(L, c, box, t);
    return 1;
}

/* The tensor at argument 2, or an error naming what is there instead. */
static ks_tensor *tensor_arg(lua_State *L, const xfer *x)
{
    ks_tensor *t = ks_lua_to_tensor(L, 2);
    if (t) return t;
    if (luaL_testudata(L, 2, KS_TENSOR_MT)) luaL_error(L, "%s: the tensor was released (t:close())", x->fn);
    luaL_error(L, "%s: kshot tensor expected at the given index, got %s", x->fn, luaL_typename(L, 2));
    return NULL;
}

/* (xfer, value) -> nothing; fills x's shape results */
static int shape_p(lua_State *L)
{
    xfer *x = lua_touserdata(L, 1);
    ks_tensor *t = tensor_arg(L, x);
    x->dtype_out = (int)t->dtype;
    x->ndim_out = t->ndim;
    memcpy(x->sizes_out, t->size, sizeof(int64_t) * (size_t)t->ndim);
    return 0;
}

/* (xfer, value) -> nothing; copies the elements in C order into x->dst */
static int read_p(lua_State *L)
{
    xfer *x = lua_touserdata(L, 1);
    ks_tensor *t = tensor_arg(L, x);
    size_t need = (size_t)t->numel * ks_dtype_size(t->dtype);
    if (x->capacity < need)
        return luaL_error(L, "%s: the buffer holds %I bytes, the tensor needs %I", x->fn, (lua_Integer)x->capacity,
                          (lua_Integer)need);
    if (need == 0) return 0;
    if (!x->dst) return luaL_error(L, "%s: dst is NULL", x->fn);
    ks_ctx *c = ks_lua_getctx(L);
    ks_tensor *dense;
    ks_lua_check(L, c, ks_contiguous(c, t, &dense)); /* views (t:t(), expand) are read in logical order */
    memcpy(x->dst, ks_tensor_data(dense), need);
    ks_tensor_release(dense);
    return 0;
}

/* Run fn(x[, value at idx]) protected; nres results stay on the stack. */
static int run(kshot_state *s, lua_CFunction fn, xfer *x, int idx, int nres)
{
    lua_State *L = kshot_lua(s);
    if (!lua_checkstack(L, 4)) return LUA_ERRMEM;
    if (idx) idx = lua_absindex(L, idx);
    lua_pushcfunction(L, fn);
    lua_pushlightuserdata(L, x);
    if (idx) lua_pushvalue(L, idx);
    return kshot_pcall(s, idx ? 2 : 1, nres);
}

int kshot_push_tensor(kshot_state *s, kshot_dtype dtype, int ndim, const int64_t *sizes, const void *data)
{
    if (!s) return LUA_ERRRUN;
    xfer x = {.fn = "kshot_push_tensor", .dtype = (int)dtype, .ndim = ndim, .sizes_in = sizes, .src = data};
    return run(s, push_tensor_p, &x, 0, 1);
}

int kshot_tensor_shape(kshot_state *s, int idx, kshot_dtype *dtype, int *ndim, int64_t *sizes)
{
    if (!s) return LUA_ERRRUN;
    xfer x = {.fn = "kshot_tensor_shape"};
    int st = run(s, shape_p, &x, idx, 0);
    if (st != KSHOT_OK) return st;
    if (dtype) *dtype = (kshot_dtype)x.dtype_out;
    if (ndim) *ndim = x.ndim_out;
    if (sizes) memcpy(sizes, x.sizes_out, sizeof(int64_t) * (size_t)x.ndim_out);
    return KSHOT_OK;
}

int kshot_tensor_read(kshot_state *s, int idx, void *dst, size_t capacity)
{
    if (!s) return LUA_ERRRUN;
    xfer x = {.fn = "kshot_tensor_read", .dst = dst, .capacity = capacity};
    return run(s, read_p, &x, idx, 0);
}
