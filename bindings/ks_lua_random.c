/* ks_lua_random.c: random tensors, in-place random fills and Generator objects.
 *
 *   ks.rand(shape...[, opts]), ks.randn(shape...[, opts])      float32
 *   ks.randint([low,] high, shape[, opts])                    int64, [low, high)
 *   ks.randperm(n[, opts])                                    int64
 *   ks.rand_like(t[, opts]), ks.randn_like(t[, opts])
 *   ks.bernoulli(p[, opts])   0/1 with probabilities p, dtype of p
 *   ks.multinomial(probs, n[, replacement=false][, opts])  (also t:multinomial)
 *   t:uniform_([a=0, b=1][, opts]), t:normal_([mean=0, std=1][, opts]),
 *   t:bernoulli_([p=0.5][, opts])  p a number or a tensor broadcast to t
 *   opts: a dtype name or {dtype=, requires_grad=, generator=g}
 *
 *   ks.Generator([seed=0]) -> g; g:manual_seed(n) -> g; g:seed() / g:initial_seed()
 *   -> the seed; g:get_state() -> string; g:set_state(s) -> g;
 *   g:fork(stream_id) -> a new generator with an independent stream.
 *   ks.manual_seed(n) -> the default generator; ks.default_generator();
 *   ks.initial_seed(); ks.get_rng_state(); ks.set_rng_state(s).
 *
 * Unlike PyTorch, g:seed() returns the current seed (it does not reseed).
 * The default generator is the context's (ctx->gen): one per Lua state; a
 * handle to it holds a reference on the context so it stays valid.
 * A state string round-trips exactly: "philox:<seed hex>:<offset hex>".
 */
#include "ks_lua_create.h"
#include "../runtime/core/ks_fill.h"
#include "../runtime/core/ks_grad_ops.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

/* ----------------------------------------------------------- generators */
typedef struct lgen {
    ks_generator *g; /* first field: other bindings read it as a ks_generator ** */
    ks_ctx *owner;   /* non-NULL for a handle on ctx->gen (holds a reference) */
    ks_generator own;
} lgen;

#define DEFAULT_GEN_KEY "kshot.default_generator"

ks_generator *ks_lua_opt_generator(lua_State *L, int idx)
{
    if (lua_isnoneornil(L, idx)) return NULL;
    lgen *u = luaL_testudata(L, idx, KS_GENERATOR_MT);
    if (!u) luaL_error(L, "generator must be a kshot.Generator, got %s", luaL_typename(L, idx));
    return u->g;
}

static lgen *check_gen(lua_State *L, int arg) { return luaL_checkudata(L, arg, KS_GENERATOR_MT); }

static lgen *new_gen(lua_State *L, uint64_t seed)
{
    lgen *u = lua_newuserdatauv(L, sizeof *u, 0);
    u->owner = NULL;
    u->g = &u->own;
    ks_generator_seed(&u->own, seed);
    luaL_setmetatable(L, KS_GENERATOR_MT);
    return u;
}

static int gen_gc(lua_State *L)
{
    lgen *u = check_gen(L, 1);
    if (u->owner) {
        ks_ctx_release(u->owner);
        u->owner = NULL;
        u->g = &u->own; /* never dangling, even if resurrected */
    }
    return 0;
}

static uint64_t check_seed(lua_State *L, int arg)
{
    if (!lua_isinteger(L, arg))
        luaL_argerror(L, arg, lua_pushfstring(L, "integer seed expected, got %s",
                                              lua_type(L, arg) == LUA_TNUMBER ? "a float" : luaL_typename(L, arg)));
    return (uint64_t)lua_tointeger(L, arg);
}

static int l_generator(lua_State *L)
{
    uint64_t seed = lua_isnoneornil(L, 1) ? 0 : check_seed(L, 1);
    new_gen(L, seed);
    return 1;
}

static int g_manual_seed(lua_State *L)
{
    lgen *u = check_gen(L, 1);
    ks_generator_seed(u->g, check_seed(L, 2));
    lua_settop(L, 1);
    return 1;
}

static int g_seed(lua_State *L)
{
    lua_pushinteger(L, (lua_Integer)check_gen(L, 1)->g->seed);
    return 1;
}

static void push_state(lua_State *L, const ks_generator *g)
{
    char buf[64];
    snprintf(buf, sizeof buf, "philox:%016" PRIx64 ":%016" PRIx64, g->seed, g->offset);
    lua_pushstring(L, buf);
}

static void set_state(lua_State *L, ks_generator *g, int arg)
{
    const char *s = luaL_checkstring(L, arg);
    uint64_t seed, off;
    int end = 0;
    if (strlen(s) != 40 || sscanf(s, "philox:%16" SCNx64 ":%16" SCNx64 "%n", &seed, &off, &end) != 2 || end != 40)
        luaL_argerror(L, arg, "not a generator state (expected a string from get_state(): \"philox:<16 hex>:<16 hex>\")");
    g->seed = seed;
    g->offset = off;
}

static int g_get_state(lua_State *L)
{
    push_state(L, check_gen(L, 1)->g);
    return 1;
}

static int g_set_state(lua_State *L)
{
    lgen *u = check_gen(L, 1);
    set_state(L, u->g, 2);
    lua_settop(L, 1);
    return 1;
}

static int g_fork(lua_State *L)
{
    lgen *u = check_gen(L, 1);
    lua_Integer stream = luaL_checkinteger(L, 2);
    lgen *f = new_gen(L, 0);
    ks_generator_fork(u->g, (uint64_t)stream, &f->own);
    return 1;
}

static int g_tostring(lua_State *L)
{
    lgen *u = check_gen(L, 1);
    lua_pushfstring(L, "kshot.Generator(seed=%I, offset=%I%s)", (lua_Integer)u->g->seed, (lua_Integer)u->g->offset,
                    u->owner ? ", default" : "");
    return 1;
}

/* The cached handle on ctx->gen (created on first use). */
static void push_default(lua_State *L, ks_ctx *c)
{
    if (lua_getfield(L, LUA_REGISTRYINDEX, DEFAULT_GEN_KEY) != LUA_TNIL) return;
    lua_pop(L, 1);
    lgen *u = new_gen(L, 0);
    u->g = c->gen;
    u->owner = c;
    ks_ctx_retain(c);
    lua_pushvalue(L, -1);
    lua_setfield(L, LUA_REGISTRYINDEX, DEFAULT_GEN_KEY);
}

static int l_default_generator(lua_State *L)
{
    push_default(L, KS_CTX(L));
    return 1;
}

static int l_manual_seed(lua_State *L)
{
    ks_ctx *c = KS_CTX(L);
    ks_generator_seed(c->gen, check_seed(L, 1));
    push_default(L, c);
    return 1;
}

static int l_initial_seed(lua_State *L)
{
    lua_pushinteger(L, (lua_Integer)KS_CTX(L)->gen->seed);
    return 1;
}

static int l_get_rng_state(lua_State *L)
{
    push_state(L, KS_CTX(L)->gen);
    return 1;
}

static int l_set_rng_state(lua_State *L)
{
    set_state(L, KS_CTX(L)->gen, 1);
    return 0;
}

/* ---------------------------------------------------- random creation */
enum { K_RAND, K_RANDN };

static ks_status run_fill(ks_ctx *c, ks_tensor *t, ks_generator *g, int kind)
{
    return kind == K_RAND ? ks_uniform_(c, t, g, 0, 1) : ks_normal_(c, t, g, 0, 1);
}

static void need_float_dtype(lua_State *L, const char *fn, ks_dtype dt)
{
    if (dt != KS_FLOAT32) luaL_error(L, "%s: only float32 is supported, got %s", fn, ks_dtype_name(dt));
}

static int rand_shape(lua_State *L, int kind, const char *fn)
{
    ks_ctx *c = KS_CTX(L);
    int64_t size[KS_MAX_DIMS];
    int ndim;
    ks_copts o;
    ks_lua_check_copts(L, ks_lua_shape_args(L, 1, size, &ndim), KS_FLOAT32, true, fn, &o);
    need_float_dtype(L, fn, o.dt);
    ks_tensor **box = ks_lua_newbox(L);
    ks_tensor *t;
    if (ks_tensor_empty(c, o.dt, ndim, size, &t)) return ks_lua_raise_in(L, c, fn);
    if (run_fill(c, t, o.gen, kind)) { ks_tensor_release(t); return ks_lua_raise_in(L, c, fn); }
    ks_lua_finish_new(L, c, box, t, &o);
    return 1;
}
static int l_rand(lua_State *L) { return rand_shape(L, K_RAND, "rand"); }
static int l_randn(lua_State *L) { return rand_shape(L, K_RANDN, "randn"); }

static int rand_like(lua_State *L, int kind, const char *fn)
{
    ks_ctx *c = KS_CTX(L);
    ks_tensor *like = ks_lua_check_tensor(L, 1);
    ks_copts o;
    ks_lua_check_copts(L, 2, like->dtype, true, fn, &o);
    need_float_dtype(L, fn, o.dt);
    ks_tensor **box = ks_lua_newbox(L);
    ks_tensor *t;
    if (ks_tensor_empty_like(c, like, o.dt, &t)) return ks_lua_raise_in(L, c, fn);
    if (run_fill(c, t, o.gen, kind)) { ks_tensor_release(t); return ks_lua_raise_in(L, c, fn); }
    ks_lua_finish_new(L, c, box, t, &o);
    return 1;
}
static int l_rand_like(lua_State *L) { return rand_like(L, K_RAND, "rand_like"); }
static int l_randn_like(lua_State *L) { return rand_like(L, K_RANDN, "randn_like"); }

/* ks.randint([low=0,] high, shape[, opts]); shape a table */
static int l_randint(lua_State *L)
{
    ks_ctx *c = KS_CTX(L);
    int two = lua_type(L, 2) == LUA_TNUMBER;
    lua_Integer low = two ? luaL_checkinteger(L, 1) : 0, high = luaL_checkinteger(L, two ? 2 : 1);
    int sarg = two ? 3 : 2;
    if (!lua_istable(L, sarg))
        return luaL_argerror(L, sarg, lua_pushfstring(L, "shape table expected, got %s", luaL_typename(L, sarg)));
    int64_t size[KS_MAX_DIMS];
    int ndim = ks_lua_check_shape(L, sarg, size);
    ks_copts o;
    ks_lua_check_copts(L, sarg + 1, KS_INT64, true, "randint", &o);
    ks_tensor **box = ks_lua_newbox(L);
    ks_tensor *t;
    if (ks_tensor_empty(c, o.dt, ndim, size, &t)) return ks_lua_raise_in(L, c, "randint");
    if (ks_randint_(c, t, o.gen, low, high)) { ks_tensor_release(t); return ks_lua_raise_in(L, c, "randint"); }
    ks_lua_finish_new(L, c, box, t, &o);
    return 1;
}

static int l_randperm(lua_State *L)
{
    ks_ctx *c = KS_CTX(L);
    lua_Integer n = luaL_checkinteger(L, 1);
    ks_copts o;
    ks_lua_check_copts(L, 2, KS_INT64, true, "randperm", &o);
    ks_tensor **box = ks_lua_newbox(L);
    ks_tensor *t;
    if (ks_randperm(c, o.gen, n, o.dt, &t)) return ks_lua_raise_in(L, c, "randperm");
    ks_lua_finish_new(L, c, box, t, &o);
    return 1;
}

static int l_bernoulli(lua_State *L)
{
    ks_ctx *c = KS_CTX(L);
    ks_tensor *p = ks_lua_check_tensor(L, 1);
    ks_copts o;
    ks_lua_check_copts(L, 2, p->dtype, true, "bernoulli", &o);
    ks_tensor **box = ks_lua_newbox(L);
    ks_tensor *t;
    if (ks_tensor_empty_like(c, p, o.dt, &t)) return ks_lua_raise_in(L, c, "bernoulli");
    if (ks_bernoulli_tensor_(c, t, o.gen, p)) { ks_tensor_release(t); return ks_lua_raise_in(L, c, "bernoulli"); }
    ks_lua_finish_new(L, c, box, t, &o);
    return 1;
}

/* ks.multinomial(probs, n[, replacement][, {generator=g}]) */
static int l_multinomial(lua_State *L)
{
    ks_ctx *c = KS_CTX(L);
    ks_tensor *p = ks_lua_check_tensor(L, 1);
    lua_Integer n = luaL_checkinteger(L, 2);
    int optarg = 3;
    bool repl = false;
    if (lua_isboolean(L, 3) || (lua_isnil(L, 3) && lua_gettop(L) > 3)) {
        repl = lua_toboolean(L, 3);
        optarg = 4;
    }
    ks_copts o;
    ks_lua_check_copts(L, optarg, KS_INT64, true, "multinomial", &o);
    if (o.dt != KS_INT64) return luaL_error(L, "multinomial: the result is int64, got dtype %s", ks_dtype_name(o.dt));
    ks_tensor **box = ks_lua_newbox(L);
    ks_tensor *t;
    if (ks_multinomial(c, p, o.gen, n, repl, &t)) return ks_lua_raise_in(L, c, "multinomial");
    ks_lua_fillbox(L, c, box, t);
    return 1;
}

/* ------------------------------------------------------ in-place fills */
/* Two optional numbers at 2, 3 then a generator option table. */
static ks_generator *fill_args(lua_State *L, double *a, double *b, double da, double db, int *nnum, const char *fn)
{
    int n = 0;
    while (n < 2 && lua_type(L, 2 + n) == LUA_TNUMBER) n++;
    *a = n >= 1 ? lua_tonumber(L, 2) : da;
    *b = n >= 2 ? lua_tonumber(L, 3) : db;
    if (nnum) *nnum = n;
    ks_copts o;
    ks_lua_check_copts(L, 2 + n, KS_FLOAT32, true, fn, &o);
    if (o.has_dt || o.requires_grad) luaL_error(L, "%s: in-place random fills take only a generator option", fn);
    return o.gen;
}

static int t_uniform_(lua_State *L)
{
    ks_ctx *c = KS_CTX(L);
    ks_tensor *t = ks_lua_check_tensor(L, 1);
    double a, b;
    ks_generator *g = fill_args(L, &a, &b, 0, 1, NULL, "uniform_");
    if (ks_ag_check_inplace(c, t, "uniform_") || ks_uniform_(c, t, g, a, b)) return ks_lua_raise(L, c);
    lua_settop(L, 1);
    return 1;
}

static int t_normal_(lua_State *L)
{
    ks_ctx *c = KS_CTX(L);
    ks_tensor *t = ks_lua_check_tensor(L, 1);
    double m, s;
    ks_generator *g = fill_args(L, &m, &s, 0, 1, NULL, "normal_");
    if (ks_ag_check_inplace(c, t, "normal_") || ks_normal_(c, t, g, m, s)) return ks_lua_raise(L, c);
    lua_settop(L, 1);
    return 1;
}

static int t_bernoulli_(lua_State *L)
{
    ks_ctx *c = KS_CTX(L);
    ks_tensor *t = ks_lua_check_tensor(L, 1);
    ks_tensor *p = ks_lua_to_tensor(L, 2);
    ks_status st;
    if (ks_ag_check_inplace(c, t, "bernoulli_")) return ks_lua_raise(L, c);
    if (p) {
        ks_copts o;
        ks_lua_check_copts(L, 3, KS_FLOAT32, true, "bernoulli_", &o);
        st = ks_bernoulli_tensor_(c, t, o.gen, p);
    } else {
        double pv, unused;
        int n;
        ks_generator *g = fill_args(L, &pv, &unused, 0.5, 0, &n, "bernoulli_");
        if (n > 1) return luaL_argerror(L, 3, "bernoulli_ takes one probability");
        st = ks_bernoulli_(c, t, g, pv);
    }
    if (st) return ks_lua_raise(L, c);
    lua_settop(L, 1);
    return 1;
}

static const luaL_Reg random_functions[] = {
    {"rand", l_rand}, {"randn", l_randn}, {"randint", l_randint}, {"randperm", l_randperm},
    {"rand_like", l_rand_like}, {"randn_like", l_randn_like}, {"bernoulli", l_bernoulli},
    {"multinomial", l_multinomial}, {"Generator", l_generator}, {"manual_seed", l_manual_seed},
    {"default_generator", l_default_generator}, {"initial_seed", l_initial_seed},
    {"get_rng_state", l_get_rng_state}, {"set_rng_state", l_set_rng_state},
    {NULL, NULL}};

static const luaL_Reg random_methods[] = {
    {"uniform_", t_uniform_}, {"normal_", t_normal_}, {"bernoulli_", t_bernoulli_},
    {"bernoulli", l_bernoulli}, {"multinomial", l_multinomial},
    {NULL, NULL}};

static const luaL_Reg generator_methods[] = {
    {"manual_seed", g_manual_seed}, {"seed", g_seed}, {"initial_seed", g_seed}, {"get_state", g_get_state},
    {"set_state", g_set_state}, {"fork", g_fork},
    {NULL, NULL}};

void ks_lua_open_random(lua_State *L, int module, int methods, int ctxbox)
{
    ks_lua_register(L, random_functions, module, ctxbox);
    ks_lua_register(L, random_methods, methods, ctxbox);
    luaL_newmetatable(L, KS_GENERATOR_MT);
    int mt = lua_gettop(L);
    lua_newtable(L);
    ks_lua_register(L, generator_methods, -1, ctxbox);
    lua_setfield(L, mt, "__index");
    lua_pushcfunction(L, gen_gc);
    lua_setfield(L, mt, "__gc");
    lua_pushcfunction(L, g_tostring);
    lua_setfield(L, mt, "__tostring");
    lua_pop(L, 1);
}
