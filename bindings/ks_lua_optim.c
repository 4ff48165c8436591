/* ks_lua_optim.c: the fused optimizer kernels for kshot.optim (Lua side:
 * bindings/lua/kshot/optim/init.lua validates options and keeps state).
 *
 * Internal entry points, positional arguments for a low per-call cost:
 *   ks._sgd_step(p, g, buf|nil, first, lr, momentum, dampening, wd, nesterov, maximize)
 *   ks._adam_step(p, g, m, v, vmax|nil, step, lr, beta1, beta2, eps, wd, amsgrad, maximize, decoupled)
 *   ks._rmsprop_step(p, g, v, grad_avg|nil, buf|nil, lr, alpha, eps, wd, momentum, maximize)
 *   ks._adagrad_step(p, g, sum, step, lr, lr_decay, wd, eps, maximize)
 *   ks._adamax_step(p, g, m, u, step, lr, beta1, beta2, eps, wd, maximize)
 *   ks._nadam_step(p, g, m, v, mu_product, step, lr, beta1, beta2, eps, wd, momentum_decay) -> mu_product
 *   ks._radam_step(p, g, m, v, step, lr, beta1, beta2, eps, wd)
 *   ks._adadelta_step(p, g, square_avg, acc_delta, lr, rho, eps, wd, maximize)
 *   ks._clip_grad_norm_(params, max_norm, norm_type, error_if_nonfinite) -> total (regularize.lua)
 *   ks._bench_stream(theta, g, m, v)   -- benchmark reference pass
 *   ks._bench_clock() -> seconds        -- monotonic wall clock for benchmarks
 * A non-contiguous gradient is copied once; parameters must be contiguous. */
#include "ks_lua.h"
#include "../runtime/core/ks_grad_clip.h"
#include "../runtime/core/ks_optim.h"

#include <math.h>

#include <time.h>

static ks_tensor *opt_tensor(lua_State *L, int arg)
{
    return lua_isnoneornil(L, arg) ? NULL : ks_lua_check_tensor(L, arg);
}

/* The gradient as a contiguous tensor (a new reference: release it). */
static ks_tensor *contiguous_grad(lua_State *L, ks_ctx *c, int arg)
{
    ks_tensor *g = ks_lua_check_tensor(L, arg), *out = NULL;
    ks_lua_check(L, c, ks_contiguous(c, g, &out));
    return out;
}

static int finish(lua_State *L, ks_ctx *c, ks_tensor *g, ks_status st)
{
    ks_tensor_release(g);
    ks_lua_check(L, c, st);
    return 0;
}

static int l_sgd_step(lua_State *L)
{
    ks_ctx *c = KS_CTX(L);
    ks_tensor *p = ks_lua_check_tensor(L, 1), *buf = opt_tensor(L, 3);
    ks_sgd_opts o = {luaL_checknumber(L, 5), luaL_checknumber(L, 6), luaL_checknumber(L, 7),
                     luaL_checknumber(L, 8), lua_toboolean(L, 9), lua_toboolean(L, 10)};
    int first = lua_toboolean(L, 4);
    ks_tensor *g = contiguous_grad(L, c, 2);
    return finish(L, c, g, ks_sgd_step(c, p, g, buf, first, &o));
}

static int l_adam_step(lua_State *L)
{
    ks_ctx *c = KS_CTX(L);
    ks_tensor *p = ks_lua_check_tensor(L, 1), *m = ks_lua_check_tensor(L, 3), *v = ks_lua_check_tensor(L, 4);
    ks_tensor *vmax = opt_tensor(L, 5);
    ks_adam_opts o = {luaL_checknumber(L, 7), luaL_checknumber(L, 8), luaL_checknumber(L, 9),
                      luaL_checknumber(L, 10), luaL_checknumber(L, 11), luaL_checkinteger(L, 6),
                      lua_toboolean(L, 12), lua_toboolean(L, 13), lua_toboolean(L, 14)};
    ks_tensor *g = contiguous_grad(L, c, 2);
    return finish(L, c, g, ks_adam_step(c, p, g, m, v, vmax, &o));
}

static int l_rmsprop_step(lua_State *L)
{
    ks_ctx *c = KS_CTX(L);
    ks_tensor *p = ks_lua_check_tensor(L, 1), *v = ks_lua_check_tensor(L, 3);
    ks_tensor *ga = opt_tensor(L, 4), *buf = opt_tensor(L, 5);
    ks_rmsprop_opts o = {luaL_checknumber(L, 6), luaL_checknumber(L, 7), luaL_checknumber(L, 8),
                         luaL_checknumber(L, 9), luaL_checknumber(L, 10), ga != NULL, lua_toboolean(L, 11)};
    ks_tensor *g = contiguous_grad(L, c, 2);
    return finish(L, c, g, ks_rmsprop_step(c, p, g, v, ga, buf, &o));
}

static int l_adagrad_step(lua_State *L)
{
    ks_ctx *c = KS_CTX(L);
    ks_tensor *p = ks_lua_check_tensor(L, 1), *s = ks_lua_check_tensor(L, 3);
    ks_adagrad_opts o = {luaL_checknumber(L, 5), luaL_checknumber(L, 6), luaL_checknumber(L, 7),
                         luaL_checknumber(L, 8), luaL_checkinteger(L, 4), lua_toboolean(L, 9)};
    ks_tensor *g = contiguous_grad(L, c, 2);
    return finish(L, c, g, ks_adagrad_step(c, p, g, s, &o));
}

static int l_adamax_step(lua_State *L)
{
    ks_ctx *c = KS_CTX(L);
    ks_tensor *p = ks_lua_check_tensor(L, 1), *m = ks_lua_check_tensor(L, 3), *u = ks_lua_check_tensor(L, 4);
    ks_adamax_opts o = {luaL_checknumber(L, 6), luaL_checknumber(L, 7), luaL_checknumber(L, 8),
                        luaL_checknumber(L, 9), luaL_checknumber(L, 10), luaL_checkinteger(L, 5), lua_toboolean(L, 11)};
    ks_tensor *g = contiguous_grad(L, c, 2);
    return finish(L, c, g, ks_adamax_step(c, p, g, m, u, &o));
}

/* returns the updated mu_product (a float32 value, as PyTorch's 0-dim tensor) */
static int l_nadam_step(lua_State *L)
{
    ks_ctx *c = KS_CTX(L);
    ks_tensor *p = ks_lua_check_tensor(L, 1), *m = ks_lua_check_tensor(L, 3), *v = ks_lua_check_tensor(L, 4);
    float mu_product = (float)luaL_checknumber(L, 5);
    ks_nadam_opts o = {luaL_checknumber(L, 7),  luaL_checknumber(L, 8),  luaL_checknumber(L, 9),
                       luaL_checknumber(L, 10), luaL_checknumber(L, 11), luaL_checknumber(L, 12),
                       luaL_checkinteger(L, 6)};
    ks_tensor *g = contiguous_grad(L, c, 2);
    finish(L, c, g, ks_nadam_step(c, p, g, m, v, &mu_product, &o));
    lua_pushnumber(L, (lua_Number)mu_product);
    return 1;
}

static int l_radam_step(lua_State *L)
{
    ks_ctx *c = KS_CTX(L);
    ks_tensor *p = ks_lua_check_tensor(L, 1), *m = ks_lua_check_tensor(L, 3), *v = ks_lua_check_tensor(L, 4);
    ks_radam_opts o = {luaL_checknumber(L, 6), luaL_checknumber(L, 7), luaL_checknumber(L, 8),
                       luaL_checknumber(L, 9), luaL_checknumber(L, 10), luaL_checkinteger(L, 5)};
    ks_tensor *g = contiguous_grad(L, c, 2);
    return finish(L, c, g, ks_radam_step(c, p, g, m, v, &o));
}

static int l_adadelta_step(lua_State *L)
{
    ks_ctx *c = KS_CTX(L);
    ks_tensor *p = ks_lua_check_tensor(L, 1), *s = ks_lua_check_tensor(L, 3), *d = ks_lua_check_tensor(L, 4);
    ks_adadelta_opts o = {luaL_checknumber(L, 5), luaL_checknumber(L, 6), luaL_checknumber(L, 7),
                          luaL_checknumber(L, 8), lua_toboolean(L, 9)};
    ks_tensor *g = contiguous_grad(L, c, 2);
    return finish(L, c, g, ks_adadelta_step(c, p, g, s, d, &o));
}

/* grads[n] = g when g is there (counted even past max); -1 when the fast path cannot take g */
static int add_grad(ks_tensor *g, double p, ks_tensor **grads, int max, int n)
{
    if (!g) return n;
    if (g->dtype != KS_FLOAT32 || (isinf(p) && g->numel == 0)) return -1; /* the Lua path's error */
    if (n < max) grads[n] = g;
    return n + 1;
}

/* The gradients of the tensor or list of tensors (to ipairs' end) at arg into grads (room for max), in list
 * order; returns how many there are (also when more than max), or -1 when an entry is not a tensor or
 * add_grad refuses a gradient: the Lua path then raises its error. */
static int collect_grads(lua_State *L, int arg, double p, ks_tensor **grads, int max)
{
    ks_tensor *one = ks_lua_to_tensor(L, arg);
    if (one) return add_grad(one->grad, p, grads, max, 0);
    if (!lua_istable(L, arg)) return -1;
    int n = 0;
    for (lua_Integer i = 1; n >= 0; i++) {
        int ty = lua_geti(L, arg, i);
        ks_tensor *t = ks_lua_to_tensor(L, -1);
        lua_pop(L, 1);
        if (ty == LUA_TNIL) break;
        n = t ? add_grad(t->grad, p, grads, max, n) : -1;
    }
    return n;
}

/* ks._clip_grad_norm_(params, max_norm, norm_type, error_if_nonfinite): clip_grad_norm_ in one call for
 * norm_type 2 or inf. Returns the total norm as a float32 0-d tensor (the gradients scaled in place when
 * max_norm / (total + 1e-6) < 1); false, total when error_if_nonfinite and the total is nan or inf (nothing
 * scaled; regularize.lua raises its error); nothing for anything else, which regularize.lua's general path
 * answers. The values are the general path's to the bit (ks_grad_clip.h). */
static int l_clip_grad_norm(lua_State *L)
{
    ks_ctx *c = KS_CTX(L);
    double max_norm = luaL_checknumber(L, 2), p = luaL_checknumber(L, 3);
    bool check_finite = lua_toboolean(L, 4);
    if (p != 2 && p != HUGE_VAL) return 0;
    ks_tensor *local[32], **grads = local;
    int n = collect_grads(L, 1, p, local, 32);
    if (n < 0) return 0;
    if (n > 32) {
        grads = lua_newuserdatauv(L, (size_t)n * sizeof *grads, 0);
        if (collect_grads(L, 1, p, grads, n) != n) return 0; /* an __index changed the list */
    }
    double total;
    ks_lua_check(L, c, ks_grads_total_norm(c, n, grads, p, &total));
    if (check_finite && !isfinite(total)) {
        lua_pushboolean(L, 0);
        lua_pushnumber(L, total);
        return 2;
    }
    double coef = max_norm / (total + 1e-6);
    /* torch multiplies by clamp(coef, max = 1): a NaN total makes every gradient NaN */
    if (coef < 1 || isnan(coef)) ks_lua_check(L, c, ks_grads_scale_(c, n, grads, coef));
    ks_tensor **box = ks_lua_newbox(L), *r = NULL;
    ks_lua_check(L, c, ks_tensor_empty(c, KS_FLOAT32, 0, NULL, &r));
    *(float *)ks_tensor_data(r) = (float)total; /* ks.tensor(total) */
    ks_lua_fillbox(L, c, box, r);
    return 1;
}

static int l_bench_stream(lua_State *L)
{
    ks_ctx *c = KS_CTX(L);
    ks_tensor *p = ks_lua_check_tensor(L, 1), *g = ks_lua_check_tensor(L, 2);
    ks_tensor *m = ks_lua_check_tensor(L, 3), *v = ks_lua_check_tensor(L, 4);
    ks_lua_check(L, c, ks_stream_bench(c, p, g, m, v));
    return 0;
}

static int l_bench_clock(lua_State *L)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    lua_pushnumber(L, (lua_Number)ts.tv_sec + 1e-9 * (lua_Number)ts.tv_nsec);
    return 1;
}

static const luaL_Reg optim_fns[] = {
    {"_sgd_step", l_sgd_step},         {"_adam_step", l_adam_step},   {"_rmsprop_step", l_rmsprop_step},
    {"_adagrad_step", l_adagrad_step}, {"_adamax_step", l_adamax_step}, {"_nadam_step", l_nadam_step},
    {"_radam_step", l_radam_step},     {"_adadelta_step", l_adadelta_step}, {"_bench_stream", l_bench_stream},
    {"_clip_grad_norm_", l_clip_grad_norm},
    {"_bench_clock", l_bench_clock},   {NULL, NULL}};

void ks_lua_open_optim(lua_State *L, int module, int methods, int ctxbox)
{
    ks_lua_register(L, optim_fns, module, ctxbox);
}
