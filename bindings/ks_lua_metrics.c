/* ks_lua_metrics.c: ks.metrics, the C half of kshot.metrics (the rest is
 * bindings/lua/kshot/metrics.lua, loaded on first use of a missing key).
 *
 *   ks.metrics.confusion(pred, target, num_classes)  -> int64 [C, C] (row = true class)
 *   ks.metrics.log_loss_(probs, target[, eps])      -> number
 *   ks.metrics.calibration_(probs, target, bins)    -> ece, counts, acc, conf (Lua lists, bin 1 first)
 *   ks.metrics.regression_(pred, target)            -> mse, mae, r2
 * The trailing underscore marks the raw tensor-only entry points. */
#include "ks_lua.h"
#include "../runtime/core/ks_metrics.h"

static int l_confusion(lua_State *L)
{
    ks_ctx *c = KS_CTX(L);
    ks_tensor *pred = ks_lua_check_tensor(L, 1), *target = ks_lua_check_tensor(L, 2);
    lua_Integer n = luaL_checkinteger(L, 3);
    ks_tensor **box = ks_lua_newbox(L);
    ks_tensor *m = NULL;
    if (ks_confusion_matrix(c, pred, target, n, &m)) return ks_lua_raise(L, c);
    ks_lua_fillbox(L, c, box, m);
    return 1;
}

static int l_log_loss(lua_State *L)
{
    ks_ctx *c = KS_CTX(L);
    ks_tensor *probs = ks_lua_check_tensor(L, 1), *target = ks_lua_check_tensor(L, 2);
    double eps = luaL_optnumber(L, 3, 1e-15), out = 0;
    if (ks_log_loss(c, probs, target, eps, &out)) return ks_lua_raise(L, c);
    lua_pushnumber(L, out);
    return 1;
}

static void push_list_d(lua_State *L, const double *v, int n)
{
    lua_createtable(L, n, 0);
    for (int i = 0; i < n; i++) {
        lua_pushnumber(L, v[i]);
        lua_rawseti(L, -2, i + 1);
    }
}

static int l_calibration(lua_State *L)
{
    ks_ctx *c = KS_CTX(L);
    ks_tensor *probs = ks_lua_check_tensor(L, 1), *target = ks_lua_check_tensor(L, 2);
    lua_Integer bins = luaL_checkinteger(L, 3);
    luaL_argcheck(L, bins >= 1 && bins <= 100000, 3, "bins must be in [1, 100000]");
    /* scratch as a Lua userdata: collected even if an error is raised */
    char *buf = lua_newuserdatauv(L, (size_t)bins * (sizeof(int64_t) + 2 * sizeof(double)), 0);
    int64_t *counts = (int64_t *)buf;
    double *acc = (double *)(counts + bins), *conf = acc + bins, ece = 0;
    if (ks_calibration(c, probs, target, (int)bins, &ece, counts, acc, conf)) return ks_lua_raise(L, c);
    lua_pushnumber(L, ece);
    lua_createtable(L, (int)bins, 0);
    for (int i = 0; i < bins; i++) {
        lua_pushinteger(L, counts[i]);
        lua_rawseti(L, -2, i + 1);
    }
    push_list_d(L, acc, (int)bins);
    push_list_d(L, conf, (int)bins);
    return 4;
}

static int l_regression(lua_State *L)
{
    ks_ctx *c = KS_CTX(L);
    ks_tensor *pred = ks_lua_check_tensor(L, 1), *target = ks_lua_check_tensor(L, 2);
    double mse, mae, r2;
    if (ks_regression_errors(c, pred, target, &mse, &mae, &r2)) return ks_lua_raise(L, c);
    lua_pushnumber(L, mse);
    lua_pushnumber(L, mae);
    lua_pushnumber(L, r2);
    return 3;
}

static const luaL_Reg metrics_functions[] = {
    {"confusion", l_confusion},
    {"log_loss_", l_log_loss},
    {"calibration_", l_calibration},
    {"regression_", l_regression},
    {NULL, NULL}};

void ks_lua_open_metrics(lua_State *L, int module, int methods, int ctxbox)
{
    (void)methods;
    ks_lua_new_subtable(L, metrics_functions, ctxbox, "kshot.metrics");
    lua_setfield(L, module, "metrics");
}
