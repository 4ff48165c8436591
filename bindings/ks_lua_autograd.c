/* ks_lua_autograd.c: requires_grad, .grad, backward, detach, no_grad,
 * retain_grad, autograd.grad (ks._autograd_grad; kshot.autograd.grad), and the
 * properties t.grad, t.grad_fn, t.is_leaf, t.retains_grad, t.data, t.T, t.mT.
 * Custom autograd.Function nodes: ks_lua_function.c. */
#include "ks_lua.h"
#include "../runtime/core/ks_autograd.h"

#include <stdlib.h>
#include <string.h>

/* t:requires_grad_([flag=true]) -> t */
static int t_requires_grad_(lua_State *L)
{
    ks_tensor *t = ks_lua_check_tensor(L, 1);
    int flag = lua_isnoneornil(L, 2) ? 1 : lua_toboolean(L, 2);
    if (flag && t->dtype != KS_FLOAT32)
        return luaL_error(L, "only float32 tensors can require gradients (got %s)", ks_dtype_name(t->dtype));
    if (!flag && t->grad_fn)
        return luaL_error(L, "requires_grad_(false) on a non-leaf tensor; use detach() to get a tensor that does not require grad");
    t->requires_grad = flag;
    lua_settop(L, 1);
    return 1;
}

/* ------------------------------------------------------------ retain_grad */
/* Non-leaf tensors whose gradient backward keeps (t:retain_grad()): a
 * registry table with weak keys (the Lua boxes), so a dropped tensor leaves. */
#define RETAIN_KEY "kshot.retain_grad"

static void push_retained(lua_State *L)
{
    if (lua_getfield(L, LUA_REGISTRYINDEX, RETAIN_KEY) == LUA_TTABLE) return;
    lua_pop(L, 1);
    lua_newtable(L);
    lua_createtable(L, 0, 1);
    lua_pushliteral(L, "k");
    lua_setfield(L, -2, "__mode");
    lua_setmetatable(L, -2);
    lua_pushvalue(L, -1);
    lua_setfield(L, LUA_REGISTRYINDEX, RETAIN_KEY);
}

/* t:retain_grad(): after backward, t.grad holds t's gradient (accumulating, as a
 * leaf's); a no-op on a leaf, whose .grad is always kept. */
static int t_retain_grad(lua_State *L)
{
    ks_tensor *t = ks_lua_check_tensor(L, 1);
    if (!t->requires_grad) return luaL_error(L, "can't retain_grad on a tensor that has requires_grad=false");
    lua_settop(L, 1);
    if (!t->grad_fn) return 1;
    push_retained(L);
    lua_pushvalue(L, 1);
    lua_pushboolean(L, 1);
    lua_rawset(L, -3);
    lua_settop(L, 1);
    return 1;
}

static bool is_retained(lua_State *L, int idx)
{
    idx = lua_absindex(L, idx);
    if (lua_getfield(L, LUA_REGISTRYINDEX, RETAIN_KEY) != LUA_TTABLE) { lua_pop(L, 1); return false; }
    lua_pushvalue(L, idx);
    bool r = lua_rawget(L, -2) != LUA_TNIL;
    lua_pop(L, 2);
    return r;
}

/* The retained tensors still in a graph, retained (the registry's keys are
 * weak and Lua code may run during backward), in a scratch userdata left on
 * the stack. */
static ks_tensor **collect_retained(lua_State *L, int *n)
{
    *n = 0;
    if (lua_getfield(L, LUA_REGISTRYINDEX, RETAIN_KEY) != LUA_TTABLE) { lua_pop(L, 1); return NULL; }
    int reg = lua_gettop(L), count = 0;
    for (lua_pushnil(L); lua_next(L, reg); lua_pop(L, 1)) count++;
    ks_tensor **ts = count ? lua_newuserdatauv(L, (size_t)count * sizeof *ts, 0) : NULL;
    for (lua_pushnil(L); lua_next(L, reg); lua_pop(L, 1)) {
        ks_tensor *t = ks_lua_to_tensor(L, -2);
        if (t && t->grad_fn && *n < count) ts[(*n)++] = ks_tensor_retain(t);
    }
    lua_remove(L, reg); /* the scratch (if any) stays on top */
    return ts;
}

/* t:backward([grad][, {retain_graph=false, create_graph=false}]): create_graph records the backward
 * (double backward), implies retain_graph and makes .grad a graph member (g_old + g_new out of place) */
static int t_backward(lua_State *L)
{
    ks_ctx *c = KS_CTX(L);
    ks_tensor *t = ks_lua_check_tensor(L, 1);
    ks_tensor *g = NULL;
    int opts = 0;
    if (ks_lua_to_tensor(L, 2)) { g = ks_lua_check_tensor(L, 2); opts = 3; }
    else if (lua_istable(L, 2)) opts = 2;
    else if (!lua_isnoneornil(L, 2)) return luaL_argerror(L, 2, "gradient tensor or options table expected");
    else opts = 3;
    ks_lua_check_known(L, opts, "backward", (const char *const[]){"retain_graph", "create_graph", NULL});
    ks_backward_opts bo = {ks_lua_opt_boolfield(L, opts, "retain_graph", 0),
                           ks_lua_opt_boolfield(L, opts, "create_graph", 0)};
    int ncap;
    ks_tensor **caps = collect_retained(L, &ncap);
    void *outer = c->binding_state;
    c->binding_state = L; /* custom Lua backward functions run on this thread */
    ks_status st = ks_backward_capture(c, t, g, bo, ncap, caps, NULL);
    c->binding_state = outer;
    for (int i = 0; i < ncap; i++) ks_tensor_release(caps[i]);
    if (st) return ks_lua_raise(L, c);
    return 0;
}

/* ------------------------------------------------------------ autograd.grad */
/* ks._autograd_grad(output, inputs[, {grad_outputs=, retain_graph=false, create_graph=false,
 * allow_unused=false}]) -> {d output / d inputs[1], ...} (torch.autograd.grad): a
 * backward that hands the gradients out instead of adding them to .grad (no
 * .grad is touched). inputs: a tensor or a list of tensors that require grad. */
static int autograd_grad(lua_State *L)
{
    ks_ctx *c = KS_CTX(L);
    ks_tensor *root = ks_lua_to_tensor(L, 1);
    if (!root) {
        if (lua_istable(L, 1) && luaL_len(L, 1) == 1) { /* {output}: PyTorch's sequence of one */
            lua_geti(L, 1, 1);
            lua_replace(L, 1);
            root = ks_lua_to_tensor(L, 1);
        }
        if (!root) return luaL_argerror(L, 1, "outputs must be a tensor (or a list of one tensor)");
    }
    int opts = lua_isnoneornil(L, 3) ? 0 : 3;
    if (opts) {
        luaL_checktype(L, 3, LUA_TTABLE);
        ks_lua_check_known(L, 3, "autograd.grad",
                           (const char *const[]){"grad_outputs", "retain_graph", "create_graph", "allow_unused", NULL});
    }
    ks_backward_opts bo = {opts ? ks_lua_opt_boolfield(L, 3, "retain_graph", 0) : 0,
                           opts ? ks_lua_opt_boolfield(L, 3, "create_graph", 0) : 0};
    int allow_unused = opts ? ks_lua_opt_boolfield(L, 3, "allow_unused", 0) : 0;
    ks_tensor *g = NULL;
    if (opts) {
        lua_getfield(L, 3, "grad_outputs");
        if (!lua_isnil(L, -1)) {
            if (lua_istable(L, -1) && !ks_lua_to_tensor(L, -1) && luaL_len(L, -1) == 1) lua_geti(L, -1, 1);
            g = ks_lua_to_tensor(L, -1);
            if (!g) return luaL_error(L, "autograd.grad: option 'grad_outputs' must be a tensor (or a list of one)");
        }
    }
    /* inputs as a list at index 2 */
    if (ks_lua_to_tensor(L, 2)) {
        lua_createtable(L, 1, 0);
        lua_pushvalue(L, 2);
        lua_rawseti(L, -2, 1);
        lua_replace(L, 2);
    }
    luaL_checktype(L, 2, LUA_TTABLE);
    lua_Integer n = luaL_len(L, 2);
    if (n < 1 || n > 1 << 20) return luaL_argerror(L, 2, "inputs must be a tensor or a non-empty list of tensors");
    ks_tensor **caps = lua_newuserdatauv(L, (size_t)n * 2 * sizeof *caps, 0);
    ks_tensor **out = caps + n;
    for (lua_Integer j = 0; j < n; j++) {
        lua_geti(L, 2, j + 1);
        caps[j] = ks_lua_to_tensor(L, -1);
        out[j] = NULL;
        lua_pop(L, 1);
        if (!caps[j]) return luaL_error(L, "autograd.grad: inputs[%d] is not a tensor", (int)j + 1);
        if (!caps[j]->requires_grad)
            return luaL_error(L, "autograd.grad: inputs[%d] does not require grad", (int)j + 1);
    }
    lua_createtable(L, (int)n, 1); /* result list, with a box per input made before backward runs */
    int res = lua_gettop(L);
    ks_tensor ***boxes = lua_newuserdatauv(L, (size_t)n * sizeof *boxes, 0);
    for (lua_Integer j = 0; j < n; j++) {
        boxes[j] = ks_lua_newbox(L);
        lua_rawseti(L, res, j + 1);
    }
    void *outer = c->binding_state;
    c->binding_state = L;
    ks_status st = ks_backward_capture(c, root, g, bo, (int)n, caps, out);
    c->binding_state = outer;
    for (lua_Integer j = 0; j < n && !st; j++) /* a repeated input gets the first one's gradient */
        for (lua_Integer k = 0; k < j && !out[j]; k++)
            if (caps[k] == caps[j] && out[k]) out[j] = ks_tensor_retain(out[k]);
    lua_Integer unused = 0;
    for (lua_Integer j = 0; j < n && !st && !allow_unused && !unused; j++) if (!out[j]) unused = j + 1;
    if (st || unused) {
        for (lua_Integer j = 0; j < n; j++) ks_tensor_release(out[j]);
        if (st) return ks_lua_raise(L, c);
        return luaL_error(L, "autograd.grad: inputs[%d] was not used to compute the output (pass "
                             "{allow_unused = true} to get nil for it)", (int)unused);
    }
    for (lua_Integer j = 0; j < n; j++) {
        if (out[j]) ks_lua_fillbox(L, c, boxes[j], out[j]);
        else { lua_pushnil(L); lua_rawseti(L, res, j + 1); }
    }
    lua_pushinteger(L, n);
    lua_setfield(L, res, "n");
    lua_settop(L, res);
    return 1;
}

static int t_detach(lua_State *L)
{
    ks_ctx *c = KS_CTX(L);
    ks_tensor *t = ks_lua_check_tensor(L, 1);
    ks_tensor **box = ks_lua_newbox(L), *r = NULL;
    if (ks_detach(c, t, &r)) return ks_lua_raise(L, c);
    ks_lua_fillbox(L, c, box, r);
    return 1;
}

/* t:detach_(): cut t from its graph in place */
static int t_detach_(lua_State *L)
{
    ks_tensor *t = ks_lua_check_tensor(L, 1);
    if (t->grad_fn) { ks_node_release(t->grad_fn); t->grad_fn = NULL; }
    t->requires_grad = false;
    lua_settop(L, 1);
    return 1;
}

static int t_is_leaf(lua_State *L)
{
    lua_pushboolean(L, ks_lua_check_tensor(L, 1)->grad_fn == NULL);
    return 1;
}

/* run f(...) with grad mode set to `mode`, restoring it even on error */
static int with_grad_mode(lua_State *L, int mode)
{
    ks_ctx *c = KS_CTX(L);
    luaL_checktype(L, 1, LUA_TFUNCTION);
    int old = c->grad_enabled, base = lua_gettop(L);
    c->grad_enabled = mode;
    int st = lua_pcall(L, base - 1, LUA_MULTRET, 0);
    c->grad_enabled = old;
    if (st != LUA_OK) return lua_error(L);
    return lua_gettop(L);
}
static int no_grad(lua_State *L) { return with_grad_mode(L, 0); }
/* ks.inference_mode(f, ...) -> f's results: ks.no_grad under torch's other name (kshot has no
 * inference tensors, so nothing else differs); a function, not a context manager */
static int enable_grad(lua_State *L) { return with_grad_mode(L, 1); }

static int set_grad_enabled(lua_State *L)
{
    luaL_checkany(L, 1);
    ks_ctx *c = KS_CTX(L);
    lua_pushboolean(L, c->grad_enabled);
    c->grad_enabled = lua_toboolean(L, 1);
    return 1;
}

static int is_grad_enabled(lua_State *L)
{
    lua_pushboolean(L, KS_CTX(L)->grad_enabled);
    return 1;
}

/* t.T: all dims reversed (PyTorch's Tensor.T; t:t() for <= 2 dims), through the
 * permute method so the view is recorded for autograd like any other. */
static int t_reversed(lua_State *L, ks_tensor *t)
{
    if (luaL_getmetafield(L, 1, "methods") != LUA_TTABLE) return luaL_error(L, "tensor methods not found");
    lua_getfield(L, -1, "permute");
    lua_pushvalue(L, 1);
    lua_createtable(L, t->ndim, 0);
    for (int i = 0; i < t->ndim; i++) {
        lua_pushinteger(L, t->ndim - 1 - i);
        lua_rawseti(L, -2, i + 1);
    }
    lua_call(L, 2, 1);
    return 1;
}

/* property reads used by __index: t.grad, t.grad_fn, t.is_leaf, t.data, t.T.
 * t.data is PyTorch's: the same storage, cut from the graph (= t:detach()), so
 * the manual update p.data:add_(p.grad, {alpha = -lr}) works. */
int ks_lua_autograd_property(lua_State *L, ks_tensor *t, const char *k)
{
    if (!strcmp(k, "data")) {
        ks_ctx *c = ks_lua_getctx(L);
        ks_tensor **box = ks_lua_newbox(L), *r = NULL;
        if (ks_detach(c, t, &r)) return ks_lua_raise(L, c);
        ks_lua_fillbox(L, c, box, r);
        return 1;
    }
    if (!strcmp(k, "T")) return t_reversed(L, t);
    if (!strcmp(k, "mT")) {
        if (t->ndim < 2) return luaL_error(L, "tensor.mT is only supported on matrices or batches of matrices. Got %dD tensor", t->ndim);
        if (luaL_getmetafield(L, 1, "methods") != LUA_TTABLE) return luaL_error(L, "tensor methods not found");
        lua_getfield(L, -1, "transpose");
        lua_pushvalue(L, 1);
        lua_pushinteger(L, -2);
        lua_pushinteger(L, -1);
        lua_call(L, 3, 1);
        return 1;
    }
    if (!strcmp(k, "grad")) {
        if (t->grad) ks_lua_push_tensor(L, ks_lua_getctx(L), ks_tensor_retain(t->grad));
        else lua_pushnil(L);
        return 1;
    }
    if (!strcmp(k, "grad_fn")) {
        if (t->grad_fn) lua_pushstring(L, t->grad_fn->op->name);
        else lua_pushnil(L);
        return 1;
    }
    if (!strcmp(k, "is_leaf")) { lua_pushboolean(L, t->grad_fn == NULL); return 1; }
    if (!strcmp(k, "retains_grad")) { lua_pushboolean(L, t->grad_fn != NULL && is_retained(L, 1)); return 1; }
    return 0;
}

/* t.grad = nil | tensor; t.requires_grad = bool */
int ks_lua_autograd_setproperty(lua_State *L, ks_tensor *t, const char *k)
{
    if (!strcmp(k, "grad")) {
        ks_tensor *g = lua_isnil(L, 3) ? NULL : ks_lua_check_tensor(L, 3);
        if (g && !ks_same_shape(g, t)) {
            char a[160], b[160];
            return luaL_error(L, "assigned grad has shape %s but the tensor has shape %s",
                              ks_shape_str(g, a, sizeof a), ks_shape_str(t, b, sizeof b));
        }
        if (g && g->dtype != KS_FLOAT32)
            return luaL_error(L, "assigned grad has dtype %s but gradients are float32", ks_dtype_name(g->dtype));
        bool expanded = false; /* backward adds into the grad in place: it needs one location per element */
        for (int i = 0; g && i < g->ndim; i++) expanded = expanded || (g->stride[i] == 0 && g->size[i] > 1);
        ks_tensor *keep = NULL;
        if (expanded && ks_clone(ks_lua_getctx(L), g, &keep)) return ks_lua_raise(L, ks_lua_getctx(L));
        ks_tensor_release(t->grad);
        t->grad = expanded ? keep : ks_tensor_retain(g);
        return 1;
    }
    if (!strcmp(k, "requires_grad")) {
        lua_settop(L, 3);
        lua_remove(L, 2);
        t_requires_grad_(L);
        return 1;
    }
    return 0;
}

static const luaL_Reg methods[] = {
    {"requires_grad_", t_requires_grad_}, {"backward", t_backward}, {"detach", t_detach},
    {"detach_", t_detach_}, {"is_leaf_", t_is_leaf}, {"retain_grad", t_retain_grad}, {NULL, NULL}};

static const luaL_Reg functions[] = {
    {"no_grad", no_grad}, {"inference_mode", no_grad}, {"enable_grad", enable_grad}, {"set_grad_enabled", set_grad_enabled},
    {"is_grad_enabled", is_grad_enabled}, {"detach", t_detach}, {"_autograd_grad", autograd_grad}, {NULL, NULL}};

void ks_lua_open_autograd(lua_State *L, int module, int methods_idx, int ctxbox)
{
    ks_lua_register(L, methods, methods_idx, ctxbox);
    ks_lua_register(L, functions, module, ctxbox);
    ks_lua_open_function(L, module, methods_idx, ctxbox);
}
