/* ks_lua_nn.c: ks.functional: the differentiable NN ops of runtime/core/ks_nn.h
 * (PyTorch's torch.nn.functional names). Its Lua half,
 * bindings/lua/kshot/nn/functional.lua, adds the ops composed from these. */
#include "ks_lua.h"
#include "../runtime/core/ks_nn.h"

#include <string.h>

/* PyTorch's keyword arguments for the positional functions below: a plain
 * table among arguments first .. first+n-1 (n = the count of names) holds
 * the keywords, so F.softmax(x, {dim = 1}) and F.dropout(x, 0.3, {training =
 * false}) work as in torch. Its keys must be among names (ks_lua_check_known
 * words the error) and not already given positionally; their values are
 * type-checked (types[k]: 'i' integer, 'n' number, 'b' boolean, 's' string,
 * 't' tensor; nil is always allowed) and put on the stack in the positions
 * of their names, so the positional code that follows reads them as before. */
static void keywords(lua_State *L, int first, const char *op, const char *const *names, const char *types)
{
    int n = 0, top = lua_gettop(L), at = 0;
    while (names[n]) n++;
    for (int i = first; i <= top && i < first + n && !at; i++)
        if (lua_type(L, i) == LUA_TTABLE) at = i;
    if (!at) return;
    if (top > at) luaL_error(L, "%s: argument %d after the options table (put it in the table)", op, at + 1);
    ks_lua_check_known(L, at, op, names);
    for (int k = 0; k < n; k++) {
        lua_getfield(L, at, names[k]);
        int ty = lua_type(L, -1);
        if (ty != LUA_TNIL && first + k < at)
            luaL_error(L, "%s: '%s' given twice (argument %d and the options table)", op, names[k], first + k);
        bool ok = ty == LUA_TNIL || (types[k] == 'i' && lua_isinteger(L, -1)) || (types[k] == 'n' && ty == LUA_TNUMBER) ||
                  (types[k] == 'b' && ty == LUA_TBOOLEAN) || (types[k] == 's' && ty == LUA_TSTRING) ||
                  (types[k] == 't' && ks_lua_to_tensor(L, -1));
        if (!ok) {
            const char *want = types[k] == 'i' ? "an integer" : types[k] == 'n' ? "a number" : types[k] == 'b' ? "a boolean"
                             : types[k] == 's' ? "a string" : "a kshot.Tensor";
            luaL_error(L, "%s: option '%s' must be %s, got %s", op, names[k], want,
                       ty == LUA_TNUMBER && types[k] == 'i' ? "a non-integer number" : luaL_typename(L, -1));
        }
        lua_pop(L, 1);
    }
    lua_settop(L, at);
    for (int k = at - first; k < n; k++) lua_getfield(L, at, names[k]);
    lua_remove(L, at);
}

/* F.linear(input, weight[, bias]) (or {bias = b}) */
static int f_linear(lua_State *L)
{
    ks_ctx *c = KS_CTX(L);
    keywords(L, 3, "linear", (const char *const[]){"bias", NULL}, "t");
    ks_tensor *x = ks_lua_check_tensor(L, 1), *w = ks_lua_check_tensor(L, 2);
    ks_tensor *b = lua_isnoneornil(L, 3) ? NULL : ks_lua_check_tensor(L, 3);
    ks_tensor **box = ks_lua_newbox(L), *r = NULL;
    if (ks_nn_linear(c, x, &r, w, b)) return ks_lua_raise(L, c);
    ks_lua_fillbox(L, c, box, r);
    return 1;
}

static int activation(lua_State *L, ks_activation act, double alpha)
{
    ks_ctx *c = KS_CTX(L);
    ks_tensor *x = ks_lua_check_tensor(L, 1);
    ks_tensor **box = ks_lua_newbox(L), *r = NULL;
    if (ks_nn_activation(c, act, x, &r, alpha)) return ks_lua_raise(L, c);
    ks_lua_fillbox(L, c, box, r);
    return 1;
}

/* F.relu/silu/tanh/sigmoid(x): the activation element-wise into a new float tensor,
 * differentiable (twice too); t:relu_(), t:tanh_() and t:sigmoid_() write in place */
static int f_relu(lua_State *L) { return activation(L, KS_ACT_RELU, 0); }
/* F.leaky_relu(x[, negative_slope=0.01]) (or {negative_slope = s}) */
static int f_leaky_relu(lua_State *L)
{
    keywords(L, 2, "leaky_relu", (const char *const[]){"negative_slope", NULL}, "n");
    return activation(L, KS_ACT_LEAKY_RELU, luaL_optnumber(L, 2, 0.01));
}
static int f_silu(lua_State *L) { return activation(L, KS_ACT_SILU, 0); }
static int f_tanh(lua_State *L) { return activation(L, KS_ACT_TANH, 0); }
static int f_sigmoid(lua_State *L) { return activation(L, KS_ACT_SIGMOID, 0); }

/* F.gelu(x[, approximate="none"|"tanh"]) (or {approximate = "tanh"}) */
static int f_gelu(lua_State *L)
{
    static const char *const modes[] = {"none", "tanh", NULL};
    keywords(L, 2, "gelu", (const char *const[]){"approximate", NULL}, "s");
    const char *given = lua_type(L, 2) == LUA_TSTRING ? lua_tostring(L, 2) : NULL;
    if (given && strcmp(given, "none") && strcmp(given, "tanh"))
        return luaL_error(L, "gelu: approximate must be 'none' or 'tanh', got '%s'", given);
    int m = luaL_checkoption(L, 2, "none", modes);
    return activation(L, m ? KS_ACT_GELU_TANH : KS_ACT_GELU, 0);
}

/* F.softmax/log_softmax(x, dim) (or {dim = d}): the dim must be given (torch's implicit dim is
 * deprecated); log_softmax is computed stably, not as log(softmax) */
static int softmax(lua_State *L, bool want_log)
{
    ks_ctx *c = KS_CTX(L);
    const char *op = want_log ? "log_softmax" : "softmax";
    keywords(L, 2, op, (const char *const[]){"dim", NULL}, "i");
    ks_tensor *x = ks_lua_check_tensor(L, 1);
    if (lua_isnoneornil(L, 2)) /* torch's implicit dim is deprecated: the dim must be given */
        return luaL_error(L, "%s: dim is required, e.g. F.%s(x, 1) or F.%s(x, {dim = 1})", op, op, op);
    int dim = ks_lua_check_dim(L, c, 2, x->ndim);
    ks_tensor **box = ks_lua_newbox(L), *r = NULL;
    if (ks_nn_softmax(c, x, &r, dim, want_log)) return ks_lua_raise(L, c);
    ks_lua_fillbox(L, c, box, r);
    return 1;
}
static int f_softmax(lua_State *L) { return softmax(L, false); }
static int f_log_softmax(lua_State *L) { return softmax(L, true); }

static ks_reduction opt_reduction(lua_State *L, int arg)
{
    static const char *const names[] = {"none", "mean", "sum", NULL};
    if (!lua_istable(L, arg)) return KS_REDUCE_MEAN;
    lua_getfield(L, arg, "reduction");
    int r = lua_isnil(L, -1) ? KS_REDUCE_MEAN : luaL_checkoption(L, -1, NULL, names);
    lua_pop(L, 1);
    return (ks_reduction)r;
}

/* F.cross_entropy(logits, target[, {weight=, ignore_index=-100, label_smoothing=0, reduction="mean"}]) */
static int f_cross_entropy(lua_State *L)
{
    ks_ctx *c = KS_CTX(L);
    ks_tensor *x = ks_lua_check_tensor(L, 1), *t = ks_lua_check_tensor(L, 2);
    ks_ce_opts o = {NULL, -100, 0.0, KS_REDUCE_MEAN};
    if (!lua_isnoneornil(L, 3)) {
        luaL_checktype(L, 3, LUA_TTABLE);
        ks_lua_check_known(L, 3, "cross_entropy",
                           (const char *const[]){"weight", "ignore_index", "label_smoothing", "reduction", NULL});
        lua_getfield(L, 3, "weight");
        if (!lua_isnil(L, -1)) {
            o.weight = ks_lua_to_tensor(L, -1);
            if (!o.weight) return luaL_argerror(L, 3, "option 'weight' must be a tensor");
        }
        lua_getfield(L, 3, "ignore_index");
        if (!lua_isnil(L, -1)) {
            int ok;
            o.ignore_index = lua_tointegerx(L, -1, &ok);
            if (!ok) return luaL_argerror(L, 3, "option 'ignore_index' must be an integer");
        }
        lua_getfield(L, 3, "label_smoothing");
        if (!lua_isnil(L, -1)) {
            if (lua_type(L, -1) != LUA_TNUMBER) return luaL_argerror(L, 3, "option 'label_smoothing' must be a number");
            o.label_smoothing = lua_tonumber(L, -1);
        }
        lua_pop(L, 3);
        o.reduction = opt_reduction(L, 3);
    }
    ks_tensor **box = ks_lua_newbox(L), *r = NULL;
    if (ks_nn_cross_entropy(c, x, t, &r, &o)) return ks_lua_raise(L, c);
    ks_lua_fillbox(L, c, box, r);
    return 1;
}

/* an int or a pair {a, b} option; `def` when absent */
static void opt_pair(lua_State *L, int arg, const char *key, int64_t def, int64_t *out)
{
    out[0] = out[1] = def;
    if (!lua_istable(L, arg)) return;
    lua_getfield(L, arg, key);
    if (lua_isinteger(L, -1)) {
        out[0] = out[1] = lua_tointeger(L, -1);
    } else if (lua_istable(L, -1)) {
        for (int k = 0; k < 2; k++) {
            lua_geti(L, -1, k + 1);
            int ok;
            out[k] = lua_tointegerx(L, -1, &ok);
            if (!ok) luaL_error(L, "option '%s' must be an integer or a pair of integers", key);
            lua_pop(L, 1);
        }
    } else if (!lua_isnil(L, -1)) {
        luaL_error(L, "option '%s' must be an integer or a pair of integers, got %s", key, luaL_typename(L, -1));
    }
    lua_pop(L, 1);
}

static int64_t opt_int(lua_State *L, int arg, const char *key, int64_t def)
{
    if (!lua_istable(L, arg)) return def;
    lua_getfield(L, arg, key);
    int ok;
    int64_t v = lua_isnil(L, -1) ? def : lua_tointegerx(L, -1, &ok);
    if (!lua_isnil(L, -1) && !ok) luaL_error(L, "option '%s' must be an integer", key);
    lua_pop(L, 1);
    return v;
}

/* F.conv2d(input, weight[, bias][, {stride=1, padding=0, dilation=1, groups=1}]) */
static int f_conv2d(lua_State *L)
{
    ks_ctx *c = KS_CTX(L);
    ks_tensor *x = ks_lua_check_tensor(L, 1), *w = ks_lua_check_tensor(L, 2);
    ks_tensor *b = ks_lua_to_tensor(L, 3);
    int oi = b ? 4 : 3;
    if (!b && !lua_isnoneornil(L, 3) && !lua_istable(L, 3)) return luaL_argerror(L, 3, "bias tensor or options table expected");
    if (lua_isnil(L, 3) && lua_istable(L, 4)) oi = 4;
    if (!lua_isnoneornil(L, oi)) luaL_checktype(L, oi, LUA_TTABLE);
    ks_lua_check_known(L, oi, "conv2d", (const char *const[]){"stride", "padding", "dilation", "groups", NULL});
    ks_conv2d_opts o;
    opt_pair(L, oi, "stride", 1, o.stride);
    opt_pair(L, oi, "padding", 0, o.padding);
    opt_pair(L, oi, "dilation", 1, o.dilation);
    o.groups = opt_int(L, oi, "groups", 1);
    ks_tensor **box = ks_lua_newbox(L), *r = NULL;
    if (ks_nn_conv2d(c, x, &r, w, b, &o)) return ks_lua_raise(L, c);
    ks_lua_fillbox(L, c, box, r);
    return 1;
}

/* integer pairs from args i, i+1, ... into the n pairs out[k][0..1] */
static void int_pairs(lua_State *L, int i, int n, int64_t (*out)[2])
{
    for (int k = 0; k < n; k++)
        for (int d = 0; d < 2; d++) out[k][d] = luaL_checkinteger(L, i + 2 * k + d);
}

/* F._unfold(x, kh, kw, dh, dw, ph, pw, sh, sw): the core of F.unfold (kshot.nn.unfold checks the options) */
static int f_unfold_raw(lua_State *L)
{
    ks_ctx *c = KS_CTX(L);
    ks_tensor *x = ks_lua_check_tensor(L, 1);
    int64_t o[4][2];
    int_pairs(L, 2, 4, o);
    ks_tensor **box = ks_lua_newbox(L), *r = NULL;
    if (ks_nn_unfold(c, x, &r, o[0], o[1], o[2], o[3])) return ks_lua_raise(L, c);
    ks_lua_fillbox(L, c, box, r);
    return 1;
}

/* F._fold(cols, oh, ow, kh, kw, dh, dw, ph, pw, sh, sw): the core of F.fold */
static int f_fold_raw(lua_State *L)
{
    ks_ctx *c = KS_CTX(L);
    ks_tensor *x = ks_lua_check_tensor(L, 1);
    int64_t o[5][2];
    int_pairs(L, 2, 5, o);
    ks_tensor **box = ks_lua_newbox(L), *r = NULL;
    if (ks_nn_fold(c, x, &r, o[0], o[1], o[2], o[3], o[4])) return ks_lua_raise(L, c);
    ks_lua_fillbox(L, c, box, r);
    return 1;
}

/* kernel as arg 2 (int or pair), options table at 3: {stride=kernel, padding=0, ceil_mode=false, count_include_pad=true};
 * or torch's keywords in one table at 2: F.max_pool2d(x, {kernel_size = 2, stride = 2}) */
static void pool_opts(lua_State *L, ks_pool2d_opts *o, const char *op, const char *const *known)
{
    int oi = 3;
    if (lua_istable(L, 2)) {
        if (lua_getfield(L, 2, "kernel_size") != LUA_TNIL) oi = 2;
        lua_pop(L, 1);
    }
    if (oi == 2) {
        if (!lua_isnoneornil(L, 3))
            luaL_error(L, "%s: give the kernel once: F.%s(x, kernel, {stride = ...}) or F.%s(x, {kernel_size = kernel, "
                          "stride = ...})", op, op, op);
        const char *with_kernel[8] = {"kernel_size"};
        int n = 1;
        for (; known[n - 1] && n < 7; n++) with_kernel[n] = known[n - 1];
        with_kernel[n] = NULL;
        ks_lua_check_known(L, 2, op, with_kernel);
        opt_pair(L, 2, "kernel_size", 0, o->kernel);
    } else {
        if (!lua_isnoneornil(L, 3)) luaL_checktype(L, 3, LUA_TTABLE);
        ks_lua_check_known(L, 3, op, known);
        if (lua_isinteger(L, 2)) o->kernel[0] = o->kernel[1] = lua_tointeger(L, 2);
        else {
            if (!lua_istable(L, 2))
                luaL_error(L, "%s: kernel_size must be an integer or a pair {kh, kw}, got %s", op, luaL_typename(L, 2));
            lua_pushvalue(L, 2); /* {kh, kw} -> {kernel_size = {kh, kw}}: errors name the argument */
            lua_newtable(L);
            lua_insert(L, -2);
            lua_setfield(L, -2, "kernel_size");
            opt_pair(L, lua_gettop(L), "kernel_size", 0, o->kernel);
            lua_pop(L, 1);
        }
    }
    opt_pair(L, oi, "stride", 0, o->stride);
    if (o->stride[0] == 0) o->stride[0] = o->kernel[0];
    if (o->stride[1] == 0) o->stride[1] = o->kernel[1];
    opt_pair(L, oi, "padding", 0, o->padding);
    o->ceil_mode = ks_lua_opt_boolfield(L, oi, "ceil_mode", 0);
    o->count_include_pad = ks_lua_opt_boolfield(L, oi, "count_include_pad", 1);
}

/* F.max_pool2d/avg_pool2d(x, kernel[, {stride=kernel, padding=0, ceil_mode=false}]): x [N, C, H, W]
 * or [C, H, W], kernel an int or {kh, kw}; avg_pool2d also takes count_include_pad=true.
 * torch's keywords in one table work too: F.max_pool2d(x, {kernel_size = 2, stride = 1}).
 * Output sizes given instead of a kernel: F.adaptive_max_pool2d / F.adaptive_avg_pool2d */
static int f_max_pool2d(lua_State *L)
{
    ks_ctx *c = KS_CTX(L);
    ks_tensor *x = ks_lua_check_tensor(L, 1);
    ks_pool2d_opts o;
    pool_opts(L, &o, "max_pool2d", (const char *const[]){"stride", "padding", "ceil_mode", NULL});
    ks_tensor **box = ks_lua_newbox(L), *r = NULL;
    if (ks_nn_max_pool2d(c, x, &r, &o)) return ks_lua_raise(L, c);
    ks_lua_fillbox(L, c, box, r);
    return 1;
}

static int f_avg_pool2d(lua_State *L)
{
    ks_ctx *c = KS_CTX(L);
    ks_tensor *x = ks_lua_check_tensor(L, 1);
    ks_pool2d_opts o;
    pool_opts(L, &o, "avg_pool2d",
              (const char *const[]){"stride", "padding", "ceil_mode", "count_include_pad", NULL});
    ks_tensor **box = ks_lua_newbox(L), *r = NULL;
    if (ks_nn_avg_pool2d(c, x, &r, &o)) return ks_lua_raise(L, c);
    ks_lua_fillbox(L, c, box, r);
    return 1;
}

/* F.adaptive_avg_pool2d(x, size) with size an int or {h, w}, or torch's keyword {output_size = size} */
static int f_adaptive_avg_pool2d(lua_State *L)
{
    ks_ctx *c = KS_CTX(L);
    ks_tensor *x = ks_lua_check_tensor(L, 1);
    int64_t hw[2];
    if (lua_istable(L, 2) && lua_rawlen(L, 2) == 0) {
        ks_lua_check_known(L, 2, "adaptive_avg_pool2d", (const char *const[]){"output_size", NULL});
        lua_getfield(L, 2, "output_size");
        lua_replace(L, 2);
        if (lua_isnil(L, 2)) return luaL_error(L, "adaptive_avg_pool2d: output_size is required");
    }
    if (lua_isinteger(L, 2)) hw[0] = hw[1] = lua_tointeger(L, 2);
    else {
        luaL_checktype(L, 2, LUA_TTABLE);
        for (int k = 0; k < 2; k++) {
            lua_geti(L, 2, k + 1);
            int ok;
            hw[k] = lua_tointegerx(L, -1, &ok);
            if (!ok) return luaL_argerror(L, 2, "output size must be an integer or a pair of integers");
            lua_pop(L, 1);
        }
    }
    ks_tensor **box = ks_lua_newbox(L), *r = NULL;
    if (ks_nn_adaptive_avg_pool2d(c, x, &r, hw[0], hw[1])) return ks_lua_raise(L, c);
    ks_lua_fillbox(L, c, box, r);
    return 1;
}

/* optional tensor argument: nil or a tensor */
static ks_tensor *opt_tensor(lua_State *L, int arg)
{
    return lua_isnoneornil(L, arg) ? NULL : ks_lua_check_tensor(L, arg);
}

static double opt_number(lua_State *L, int arg, const char *key, double def)
{
    if (!lua_istable(L, arg)) return def;
    lua_getfield(L, arg, key);
    if (!lua_isnil(L, -1) && lua_type(L, -1) != LUA_TNUMBER) luaL_error(L, "option '%s' must be a number", key);
    double v = lua_isnil(L, -1) ? def : lua_tonumber(L, -1);
    lua_pop(L, 1);
    return v;
}

/* F.batch_norm(x, running_mean, running_var[, weight, bias][, {training=false, momentum=0.1, eps=1e-5}])
 * (or all of torch's keywords in one table: F.batch_norm(x, rm, rv, {weight = w, bias = b, training = true})) */
static int f_batch_norm(lua_State *L)
{
    ks_ctx *c = KS_CTX(L);
    if (lua_istable(L, 4) || (lua_istable(L, 5) && lua_isnoneornil(L, 6))) {
        /* the keywords: weight and bias go to their positions, the rest stays the options table */
        int at = lua_istable(L, 4) ? 4 : 5;
        if (lua_gettop(L) > at) luaL_error(L, "batch_norm: argument %d after the options table (put it in the table)", at + 1);
        ks_lua_check_known(L, at, "batch_norm", (const char *const[]){"weight", "bias", "training", "momentum", "eps", NULL});
        if (at == 5) {
            lua_getfield(L, at, "weight");
            if (!lua_isnil(L, -1)) luaL_error(L, "batch_norm: 'weight' given twice (argument 4 and the options table)");
            lua_pop(L, 1);
        }
        /* the positional form on top: x, rm, rv, weight, bias, {training, momentum, eps}; then drop the originals */
        for (int k = 1; k <= 3; k++) lua_pushvalue(L, k);
        if (at == 5) lua_pushvalue(L, 4);
        else lua_getfield(L, at, "weight");
        lua_getfield(L, at, "bias");
        lua_newtable(L);
        static const char *const rest[] = {"training", "momentum", "eps"};
        for (int k = 0; k < 3; k++) {
            lua_getfield(L, at, rest[k]);
            lua_setfield(L, -2, rest[k]);
        }
        lua_rotate(L, 1, -at);
        lua_pop(L, at);
        for (int k = 4; k <= 5; k++)
            if (!lua_isnil(L, k) && !ks_lua_to_tensor(L, k))
                luaL_error(L, "batch_norm: option '%s' must be a kshot.Tensor, got %s", k == 4 ? "weight" : "bias",
                           luaL_typename(L, k));
    }
    ks_tensor *x = ks_lua_check_tensor(L, 1), *rm = opt_tensor(L, 2), *rv = opt_tensor(L, 3);
    ks_tensor *w = opt_tensor(L, 4), *b = opt_tensor(L, 5);
    if (!lua_isnoneornil(L, 6)) luaL_checktype(L, 6, LUA_TTABLE);
    ks_lua_check_known(L, 6, "batch_norm", (const char *const[]){"training", "momentum", "eps", NULL});
    int training = ks_lua_opt_boolfield(L, 6, "training", 0);
    double momentum = opt_number(L, 6, "momentum", 0.1), eps = opt_number(L, 6, "eps", 1e-5);
    ks_tensor **box = ks_lua_newbox(L), *r = NULL;
    if (ks_nn_batch_norm(c, x, &r, rm, rv, w, b, training, momentum, eps)) return ks_lua_raise(L, c);
    ks_lua_fillbox(L, c, box, r);
    return 1;
}

/* F.layer_norm(x, normalized_shape[, weight, bias][, eps=1e-5]) (or {weight =, bias =, eps =}) */
static int f_layer_norm(lua_State *L)
{
    ks_ctx *c = KS_CTX(L);
    keywords(L, 3, "layer_norm", (const char *const[]){"weight", "bias", "eps", NULL}, "ttn");
    ks_tensor *x = ks_lua_check_tensor(L, 1);
    int64_t shape[KS_MAX_DIMS];
    int n;
    if (lua_isinteger(L, 2)) { shape[0] = lua_tointeger(L, 2); n = 1; }
    else { luaL_checktype(L, 2, LUA_TTABLE); n = ks_lua_check_shape(L, 2, shape); }
    ks_tensor *w = opt_tensor(L, 3), *b = opt_tensor(L, 4);
    double eps = luaL_optnumber(L, 5, 1e-5);
    ks_tensor **box = ks_lua_newbox(L), *r = NULL;
    if (ks_nn_layer_norm(c, x, &r, n, shape, w, b, eps)) return ks_lua_raise(L, c);
    ks_lua_fillbox(L, c, box, r);
    return 1;
}

/* F.dropout(x[, p=0.5[, training=true]]) (or {p =, training =}) */
static int f_dropout(lua_State *L)
{
    ks_ctx *c = KS_CTX(L);
    keywords(L, 2, "dropout", (const char *const[]){"p", "training", NULL}, "nb");
    ks_tensor *x = ks_lua_check_tensor(L, 1);
    double p = luaL_optnumber(L, 2, 0.5);
    int training = lua_isnoneornil(L, 3) ? 1 : lua_toboolean(L, 3);
    ks_tensor **box = ks_lua_newbox(L), *r = NULL;
    if (ks_nn_dropout(c, x, &r, p, training)) return ks_lua_raise(L, c);
    ks_lua_fillbox(L, c, box, r);
    return 1;
}

/* F.embedding(indices, weight[, padding_idx]) (or {padding_idx = i}) */
static int f_embedding(lua_State *L)
{
    ks_ctx *c = KS_CTX(L);
    keywords(L, 3, "embedding", (const char *const[]){"padding_idx", NULL}, "i");
    ks_tensor *idx = ks_lua_check_tensor(L, 1), *w = ks_lua_check_tensor(L, 2);
    int64_t pad = luaL_optinteger(L, 3, -1);
    if (pad < 0 && !lua_isnoneornil(L, 3)) pad += w->ndim ? w->size[0] : 0;
    ks_tensor **box = ks_lua_newbox(L), *r = NULL;
    if (ks_nn_embedding(c, idx, &r, w, pad)) return ks_lua_raise(L, c);
    ks_lua_fillbox(L, c, box, r);
    return 1;
}

/* F.mse_loss/l1_loss/smooth_l1_loss/binary_cross_entropy_with_logits/kl_div(input, target[, {reduction="mean"}]):
 * the element-wise losses, reduction "mean" | "sum" | "none". smooth_l1_loss takes beta=1.0;
 * binary_cross_entropy_with_logits weight= and pos_weight= tensors; kl_div log_target=false and
 * reduction "batchmean" (input holds log-probabilities, as torch's). `known` is each loss's own keys
 * (kl_div's table may carry the internal _batchmean) */
static int pointwise_loss(lua_State *L, ks_pointwise_loss kind, const char *op, const char *const *known)
{
    ks_ctx *c = KS_CTX(L);
    ks_tensor *x = ks_lua_check_tensor(L, 1), *y = ks_lua_check_tensor(L, 2);
    if (!lua_isnoneornil(L, 3)) luaL_checktype(L, 3, LUA_TTABLE);
    ks_lua_check_known(L, 3, op, known);
    ks_loss_opts o = {opt_reduction(L, 3), opt_number(L, 3, "beta", 1.0), NULL, NULL,
                      ks_lua_opt_boolfield(L, 3, "log_target", 0), false};
    if (lua_istable(L, 3)) {
        lua_getfield(L, 3, "weight");
        lua_getfield(L, 3, "pos_weight");
        if (!lua_isnil(L, -2) && !(o.weight = ks_lua_to_tensor(L, -2))) return luaL_argerror(L, 3, "option 'weight' must be a tensor");
        if (!lua_isnil(L, -1) && !(o.pos_weight = ks_lua_to_tensor(L, -1))) return luaL_argerror(L, 3, "option 'pos_weight' must be a tensor");
        lua_getfield(L, 3, "_batchmean");
        o.batchmean = lua_toboolean(L, -1);
        lua_pop(L, 3);
    }
    ks_tensor **box = ks_lua_newbox(L), *r = NULL;
    if (ks_nn_pointwise_loss(c, kind, x, y, &r, &o)) return ks_lua_raise(L, c);
    ks_lua_fillbox(L, c, box, r);
    return 1;
}
static const char *const REDUCTION_ONLY[] = {"reduction", NULL};
static int f_mse_loss(lua_State *L) { return pointwise_loss(L, KS_LOSS_MSE, "mse_loss", REDUCTION_ONLY); }
static int f_l1_loss(lua_State *L) { return pointwise_loss(L, KS_LOSS_L1, "l1_loss", REDUCTION_ONLY); }
static int f_smooth_l1_loss(lua_State *L)
{
    return pointwise_loss(L, KS_LOSS_SMOOTH_L1, "smooth_l1_loss", (const char *const[]){"reduction", "beta", NULL});
}
static int f_bce_with_logits(lua_State *L)
{
    return pointwise_loss(L, KS_LOSS_BCE_LOGITS, "binary_cross_entropy_with_logits",
                          (const char *const[]){"weight", "pos_weight", "reduction", NULL});
}

static int f_kl_div(lua_State *L)
{
    /* "batchmean" is not one of the three generic reductions: map it before the generic parser sees it */
    ks_lua_check_known(L, 3, "kl_div", (const char *const[]){"reduction", "log_target", NULL});
    if (lua_istable(L, 3)) {
        lua_getfield(L, 3, "reduction");
        int bm = lua_type(L, -1) == LUA_TSTRING && !strcmp(lua_tostring(L, -1), "batchmean");
        lua_pop(L, 1);
        if (bm) {
            lua_newtable(L);
            lua_pushnil(L);
            while (lua_next(L, 3)) { lua_pushvalue(L, -2); lua_insert(L, -2); lua_settable(L, -4); }
            lua_pushliteral(L, "mean");
            lua_setfield(L, -2, "reduction");
            lua_pushboolean(L, 1);
            lua_setfield(L, -2, "_batchmean");
            lua_replace(L, 3);
        }
    }
    return pointwise_loss(L, KS_LOSS_KL_DIV, "kl_div",
                          (const char *const[]){"reduction", "log_target", "_batchmean", NULL});
}

/* F.nll_loss(logp, target[, {weight=, ignore_index=-100, reduction="mean"}]) */
static int f_nll_loss(lua_State *L)
{
    ks_ctx *c = KS_CTX(L);
    ks_tensor *x = ks_lua_check_tensor(L, 1), *t = ks_lua_check_tensor(L, 2);
    ks_lua_check_known(L, 3, "nll_loss", (const char *const[]){"weight", "ignore_index", "reduction", NULL});
    ks_ce_opts o = {NULL, -100, 0.0, opt_reduction(L, 3)};
    if (lua_istable(L, 3)) {
        lua_getfield(L, 3, "weight");
        if (!lua_isnil(L, -1) && !(o.weight = ks_lua_to_tensor(L, -1))) return luaL_argerror(L, 3, "option 'weight' must be a tensor");
        lua_getfield(L, 3, "ignore_index");
        if (!lua_isnil(L, -1)) {
            int ok;
            o.ignore_index = lua_tointegerx(L, -1, &ok);
            if (!ok) return luaL_argerror(L, 3, "option 'ignore_index' must be an integer");
        }
        lua_pop(L, 2);
    }
    ks_tensor **box = ks_lua_newbox(L), *r = NULL;
    if (ks_nn_nll_loss(c, x, t, &r, &o)) return ks_lua_raise(L, c);
    ks_lua_fillbox(L, c, box, r);
    return 1;
}

static const luaL_Reg functional[] = {
    {"batch_norm", f_batch_norm}, {"layer_norm", f_layer_norm}, {"dropout", f_dropout}, {"embedding", f_embedding},
    {"mse_loss", f_mse_loss}, {"l1_loss", f_l1_loss}, {"smooth_l1_loss", f_smooth_l1_loss},
    {"binary_cross_entropy_with_logits", f_bce_with_logits}, {"kl_div", f_kl_div}, {"nll_loss", f_nll_loss},
    {"conv2d", f_conv2d}, {"max_pool2d", f_max_pool2d}, {"avg_pool2d", f_avg_pool2d},
    {"adaptive_avg_pool2d", f_adaptive_avg_pool2d}, {"_unfold", f_unfold_raw}, {"_fold", f_fold_raw},
    {"linear", f_linear}, {"relu", f_relu}, {"leaky_relu", f_leaky_relu}, {"gelu", f_gelu}, {"silu", f_silu},
    {"tanh", f_tanh}, {"sigmoid", f_sigmoid}, {"softmax", f_softmax}, {"log_softmax", f_log_softmax},
    {"cross_entropy", f_cross_entropy}, {NULL, NULL}};

void ks_lua_open_nn(lua_State *L, int module, int methods, int ctxbox)
{
    (void)methods;
    /* the ops composed in Lua (normalize, cosine_similarity, elu, ...) load on first use */
    ks_lua_new_subtable(L, functional, ctxbox, "kshot.nn.functional");
    lua_setfield(L, module, "functional");
}
