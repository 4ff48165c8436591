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
 *   ks._bench_stream(theta, g, m, v)   -- benchmark reference pass
 *   ks._bench_clock() -> seconds        -- monotonic wall clock for benchmarks
 * A non-contiguous gradient is copied once; parameters must be contiguous. */
#include "ks_lua.h"
#include "../runtime/core/ks_optim.h"

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
    {"_bench_clock", l_bench_clock},   {NULL, NULL}};

void ks_lua_open_optim(lua_State *L, int module, int methods, int ctxbox)
{
    ks_lua_register(L, optim_fns, module, ctxbox);
}
