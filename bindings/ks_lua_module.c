/* ks_lua_module.c: luaopen_kshot: the context, the tensor metatable, and
 * the registration of every binding file. */
#include "ks_lua.h"
#include "../runtime/core/ks_threads.h"

#include <dlfcn.h>
#include <libgen.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>


static int ctx_gc(lua_State *L)
{
    ks_ctx **box = luaL_checkudata(L, 1, KS_CTX_MT);
    if (*box) {
        ks_ctx_release(*box);
        *box = NULL;
    }
    return 0;
}

ks_ctx *ks_lua_getctx(lua_State *L)
{
    lua_getfield(L, LUA_REGISTRYINDEX, KS_CTX_MT ".instance");
    ks_ctx **box = lua_touserdata(L, -1);
    lua_pop(L, 1);
    return box ? *box : NULL;
}

int ks_lua_raise(lua_State *L, ks_ctx *c)
{
    return luaL_error(L, "%s", ks_ctx_message(c));
}

/* __index of a C sub-table (ks.data, ks.augment, ...) for a missing key: load
 * its Lua half (upvalue: the module name) once, then look again. */
static int lazy_index(lua_State *L)
{
    lua_getmetatable(L, 1);
    int mt = lua_gettop(L);
    lua_pushnil(L);
    lua_setmetatable(L, 1); /* one shot: no recursion while the Lua module loads */
    lua_getglobal(L, "require");
    lua_pushvalue(L, lua_upvalueindex(1));
    if (lua_pcall(L, 1, 0, 0) != LUA_OK) {
        lua_pushvalue(L, mt);
        lua_setmetatable(L, 1);
        return lua_error(L);
    }
    lua_pushvalue(L, 2);
    lua_rawget(L, 1);
    return 1;
}

void ks_lua_new_subtable(lua_State *L, const luaL_Reg *regs, int ctxbox, const char *lua_module)
{
    ctxbox = lua_absindex(L, ctxbox);
    lua_newtable(L);
    if (regs) ks_lua_register(L, regs, -1, ctxbox);
    if (!lua_module) return;
    lua_newtable(L);
    lua_pushstring(L, lua_module);
    lua_pushcclosure(L, lazy_index, 1);
    lua_setfield(L, -2, "__index");
    lua_pushstring(L, lua_module);
    lua_setfield(L, -2, "__lazy_module"); /* tells the REPL's completion it may load the Lua half */
    lua_setmetatable(L, -2);
}

void ks_lua_register(lua_State *L, const luaL_Reg *regs, int table, int ctxbox)
{
    table = lua_absindex(L, table);
    ctxbox = lua_absindex(L, ctxbox);
    for (; regs->name; regs++) {
        lua_pushvalue(L, ctxbox);
        lua_pushcclosure(L, regs->func, 1);
        lua_setfield(L, table, regs->name);
    }
}

/* Folder of the binary that holds this code: the host sets registry
 * "kshot.home" (it knows /proc/self/exe); kshot.so finds itself by dladdr. */
static int binary_dir(lua_State *L, char *out, size_t n)
{
    char path[PATH_MAX];
    lua_getfield(L, LUA_REGISTRYINDEX, "kshot.home");
    const char *home = lua_tostring(L, -1);
    if (home) {
        snprintf(out, n, "%s", home);
        lua_pop(L, 1);
        return 1;
    }
    lua_pop(L, 1);
    Dl_info info;
    if (!dladdr((void *)luaopen_kshot, &info) || !info.dli_fname || !realpath(info.dli_fname, path)) return 0;
    snprintf(out, n, "%s", dirname(path));
    return 1;
}

/* Put the Lua-side modules (kshot.nn, kshot.data, ...) on package.path:
 * $KSHOT_LUA_DIR, else <bin>/../bindings/lua (source tree), else
 * <bin>/../share/kshot/lua (installed). */
void ks_lua_add_path(lua_State *L)
{
    lua_getfield(L, LUA_REGISTRYINDEX, "kshot.path_added");
    int done = lua_toboolean(L, -1);
    lua_pop(L, 1);
    if (done) return;
    lua_pushboolean(L, 1);
    lua_setfield(L, LUA_REGISTRYINDEX, "kshot.path_added");
    ks_lua_add_module_cache(L);
    char dir[PATH_MAX], cand[PATH_MAX + 64], probe[PATH_MAX + 96];
    const char *env = getenv("KSHOT_LUA_DIR");
    if (env && *env) {
        snprintf(cand, sizeof cand, "%s", env);
    } else {
        if (!binary_dir(L, dir, sizeof dir)) return;
        /* build/kshot, build/<variant>/kshot (sanitizer builds), or an install prefix */
        static const char *const rel[] = {"/../bindings/lua", "/../../bindings/lua", "/../../../bindings/lua",
                                          "/../share/kshot/lua"};
        int found = 0;
        for (size_t i = 0; i < sizeof rel / sizeof *rel && !found; i++) {
            snprintf(cand, sizeof cand, "%s%s", dir, rel[i]);
            snprintf(probe, sizeof probe, "%s/kshot", cand);
            found = access(probe, F_OK) == 0;
        }
        if (!found) return;
        /* "<bin>/../bindings/lua" made canonical: tracebacks and help name the files plainly */
        char canon[PATH_MAX];
        if (realpath(cand, canon)) snprintf(cand, sizeof cand, "%s", canon);
    }
    lua_getglobal(L, "package");
    if (!lua_istable(L, -1)) { lua_pop(L, 1); return; }
    lua_getfield(L, -1, "path");
    lua_pushfstring(L, "%s/?.lua;%s/?/init.lua;%s", cand, cand, lua_tostring(L, -1) ? lua_tostring(L, -1) : "");
    lua_setfield(L, -3, "path");
    lua_pop(L, 2);
}

static const ks_lua_open_fn openers[] = {
    ks_lua_open_tensor, ks_lua_open_create, ks_lua_open_random, ks_lua_open_index,
    ks_lua_open_print,  ks_lua_open_elementwise, ks_lua_open_reduce, ks_lua_open_linalg,
    ks_lua_open_lapack,
    ks_lua_open_select, ks_lua_open_shape, ks_lua_open_system, ks_lua_open_data, ks_lua_open_autograd, ks_lua_open_nn,
    ks_lua_open_augment, ks_lua_open_optim,
    ks_lua_open_io,
    ks_lua_open_metrics, ks_lua_open_composed_kernels,
};

/* ks.nn, ks.optim, ... (as torch.nn): the Lua modules kshot.<name>, loaded
 * on first use and then stored in the module table. Other missing names stay
 * nil. A module that reads its own name while it loads gets nil (no loop). */
static const char *const LAZY_MODULES[] = {"nn", "optim", "autograd", "stats", "experiment", "fewshot", "features",
                                           "regularize", "dataset", "model_selection", "progress", "cli", "pretty",
                                           "help", "regression", NULL};

static int module_index(lua_State *L)
{
    const char *key = lua_type(L, 2) == LUA_TSTRING ? lua_tostring(L, 2) : NULL;
    int known = 0;
    for (int i = 0; key && LAZY_MODULES[i]; i++) known |= strcmp(key, LAZY_MODULES[i]) == 0;
    if (!known) {
        if (!ks_lua_load_extras(L)) return 0;
        lua_pushvalue(L, 2);
        lua_rawget(L, 1);
        return 1;
    }
    lua_pushfstring(L, "kshot.lazy_loading.%s", key);
    lua_pushvalue(L, -1);
    if (lua_rawget(L, LUA_REGISTRYINDEX) != LUA_TNIL) return 0;
    lua_pop(L, 1);
    int flag = lua_gettop(L);
    lua_pushvalue(L, flag);
    lua_pushboolean(L, 1);
    lua_rawset(L, LUA_REGISTRYINDEX);
    lua_getglobal(L, "require");
    lua_pushfstring(L, "kshot.%s", key);
    int st = lua_pcall(L, 1, 1, 0);
    lua_pushvalue(L, flag);
    lua_pushnil(L);
    lua_rawset(L, LUA_REGISTRYINDEX);
    if (st != LUA_OK) return lua_error(L);
    lua_pushvalue(L, 2);
    lua_pushvalue(L, -2);
    lua_rawset(L, 1);
    return 1;
}

/* The tensor functions composed in Lua (kshot/tensor_extra.lua: unbind,
 * movedim, meshgrid, isclose, diff, histc, bucketize, ...) load on first use,
 * so that `require "kshot"` costs only its C part: the first ks.<name> or
 * tensor method that is missing installs them all into the module and the
 * method table (module_index, the tensor's __index and the REPL's completion
 * call this). Returns 1 when this call installed them (look again), 0 when
 * they were installed already or cannot be found (a tree without the Lua
 * files, KSHOT_LUA_DIR elsewhere: those names are just missing). An error
 * inside the file is raised. */
int ks_lua_load_extras(lua_State *L)
{
    int top = lua_gettop(L);
    if (lua_getfield(L, LUA_REGISTRYINDEX, "kshot.extras_loaded") != LUA_TNIL) { lua_settop(L, top); return 0; }
    lua_pushboolean(L, 1);
    lua_setfield(L, LUA_REGISTRYINDEX, "kshot.extras_loaded"); /* once, even if it fails: no loop */
    lua_getglobal(L, "package");
    if (!lua_istable(L, -1)) { lua_settop(L, top); return 0; }
    lua_getfield(L, -1, "searchpath");
    lua_pushliteral(L, "kshot.tensor_extra");
    lua_getfield(L, -3, "path");
    int found = lua_isfunction(L, -3) && lua_isstring(L, -1) && lua_pcall(L, 2, 1, 0) == LUA_OK && lua_isstring(L, -1);
    lua_settop(L, top);
    if (!found || lua_getfield(L, LUA_REGISTRYINDEX, KS_CTX_MT ".module") != LUA_TTABLE) { lua_settop(L, top); return 0; }
    lua_getglobal(L, "require");
    lua_pushliteral(L, "kshot.tensor_extra");
    lua_call(L, 1, 1);
    lua_pushvalue(L, -2);
    lua_call(L, 1, 0);
    lua_settop(L, top);
    return 1;
}

/* ks._load_extras(): install them now (code that lists the module's or the
 * tensors' functions: help, the bad-input sweep) */
static int load_extras(lua_State *L)
{
    ks_lua_load_extras(L);
    return 0;
}

int luaopen_kshot(lua_State *L)
{
    /* one context per Lua state, shared by every require of the module */
    lua_getfield(L, LUA_REGISTRYINDEX, KS_CTX_MT ".module");
    if (!lua_isnil(L, -1)) {
        ks_lua_restore_modules(L);
        return 1;
    }
    lua_pop(L, 1);

    ks_ctx **box = lua_newuserdatauv(L, sizeof *box, 0);
    *box = NULL;
    luaL_newmetatable(L, KS_CTX_MT);
    lua_pushcfunction(L, ctx_gc);
    lua_setfield(L, -2, "__gc");
    lua_setmetatable(L, -2);
    *box = ks_ctx_new();
    if (!*box) return luaL_error(L, "kshot: out of memory creating the context");
    lua_pushvalue(L, -1);
    lua_setfield(L, LUA_REGISTRYINDEX, KS_CTX_MT ".instance");
    int ctxbox = lua_gettop(L);

    lua_newtable(L); /* module */
    int module = lua_gettop(L);
    luaL_newmetatable(L, KS_TENSOR_MT);
    int mt = lua_gettop(L);
    lua_newtable(L); /* methods */
    int methods = lua_gettop(L);
    lua_pushvalue(L, methods);
    lua_setfield(L, mt, "methods");
    lua_pushliteral(L, KS_TENSOR_MT);
    lua_setfield(L, mt, "__name");

    for (size_t i = 0; i < sizeof openers / sizeof *openers; i++) openers[i](L, module, methods, ctxbox);

    lua_pushvalue(L, methods);
    lua_setfield(L, module, "Tensor"); /* the method table, for extension from Lua */
    lua_pushliteral(L, KS_VERSION);
    lua_setfield(L, module, "__version");
    lua_pushcfunction(L, load_extras);
    lua_setfield(L, module, "_load_extras");
    lua_newtable(L);
    lua_pushcfunction(L, module_index);
    lua_setfield(L, -2, "__index");
    lua_newtable(L); /* the REPL's Tab completion lists a function __index's `methods` */
    for (int i = 0; LAZY_MODULES[i]; i++) {
        lua_pushboolean(L, 1);
        lua_setfield(L, -2, LAZY_MODULES[i]);
    }
    lua_setfield(L, -2, "methods");
    lua_setmetatable(L, module);
    ks_lua_add_path(L);
    lua_pushvalue(L, module);
    lua_setfield(L, LUA_REGISTRYINDEX, KS_CTX_MT ".module");
    lua_pushvalue(L, module);
    return 1;
}

/* Under stock lua5.4, `require "kshot.nn"` before `require "kshot"` finds no
 * Lua file (the path is added when kshot loads) and falls back to the
 * all-in-one loader, which calls luaopen_kshot_nn in kshot.so. These openers
 * load kshot (adding the path), then require the Lua module itself. */
static int open_lua_half(lua_State *L)
{
    const char *name = luaL_checkstring(L, 1);
    luaL_requiref(L, "kshot", luaopen_kshot, 0);
    lua_pop(L, 1);
    lua_getglobal(L, "require");
    lua_pushstring(L, name);
    lua_call(L, 1, 1);
    return 1;
}

#define KS_LUA_HALF(sym) \
    int luaopen_kshot_##sym(lua_State *L) { return open_lua_half(L); }
KS_LUA_HALF(nn)
KS_LUA_HALF(autograd)
KS_LUA_HALF(optim)
KS_LUA_HALF(data)
KS_LUA_HALF(dataset)
KS_LUA_HALF(image)
KS_LUA_HALF(augment)
KS_LUA_HALF(regularize)
KS_LUA_HALF(metrics)
KS_LUA_HALF(stats)
KS_LUA_HALF(model_selection)
KS_LUA_HALF(experiment)
KS_LUA_HALF(fewshot)
KS_LUA_HALF(progress)
KS_LUA_HALF(cli)
KS_LUA_HALF(regression)
