/* ks_lua_module_cache.c: one copy of each kshot Lua module per Lua state.
 *
 * The C half of kshot is one per state (luaopen_kshot keeps its module in the
 * registry), and ks.nn, ks.optim, ... keep the Lua module they loaded first.
 * A tool that empties package.loaded between files (busted does, for each
 * spec file) would otherwise make `require "kshot.nn"` load a second copy:
 * nn.Linear from it is not ks.nn.Linear, and help() no longer knows the first
 * copy's values. So a searcher placed before Lua's own serves "kshot.*" names
 * from a per-state cache and records each one it loads. */
#include "ks_lua.h"

#include <string.h>

#define CACHE_KEY "kshot.lua_module_cache"

/* the cache table, pushed */
static void push_cache(lua_State *L)
{
    if (lua_getfield(L, LUA_REGISTRYINDEX, CACHE_KEY) == LUA_TTABLE) return;
    lua_pop(L, 1);
    lua_newtable(L);
    lua_pushvalue(L, -1);
    lua_setfield(L, LUA_REGISTRYINDEX, CACHE_KEY);
}

/* every cached module back into package.loaded (where another is not): they
 * are all in use through each other and ks.<name>, and code that lists the
 * loaded modules (help) must see them */
void ks_lua_restore_modules(lua_State *L)
{
    int top = lua_gettop(L);
    if (lua_getfield(L, LUA_REGISTRYINDEX, CACHE_KEY) != LUA_TTABLE) { lua_settop(L, top); return; }
    lua_getfield(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE);
    lua_pushnil(L);
    while (lua_next(L, top + 1)) {
        lua_pushvalue(L, -2);
        if (lua_rawget(L, top + 2) == LUA_TNIL) {
            lua_pushvalue(L, -3);
            lua_pushvalue(L, -3);
            lua_rawset(L, top + 2);
        }
        lua_pop(L, 2);
    }
    lua_settop(L, top);
}

/* loader of a module already in the cache (upvalue: its value) */
static int cached_value(lua_State *L)
{
    lua_pushvalue(L, lua_upvalueindex(1));
    return 1;
}

/* loader of a file (upvalues: its chunk, the module name): runs it as require
 * would, with (name, file), and caches the value require will store */
static int load_and_cache(lua_State *L)
{
    const char *name = lua_tostring(L, lua_upvalueindex(2));
    lua_settop(L, 2);
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_insert(L, 1);
    lua_call(L, 2, 1);
    if (lua_isnil(L, -1)) { /* as require: the value the chunk left in package.loaded, else true */
        lua_pop(L, 1);
        lua_getfield(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE);
        if (lua_getfield(L, -1, name) == LUA_TNIL) {
            lua_pop(L, 1);
            lua_pushboolean(L, 1);
        }
        lua_remove(L, -2);
    }
    push_cache(L);
    lua_pushvalue(L, -2);
    lua_setfield(L, -2, name);
    lua_pop(L, 1);
    return 1;
}

/* package.searchers entry: "kshot.*" from the cache, else found on
 * package.path as Lua's own searcher finds it (other names: nothing to say) */
static int kshot_searcher(lua_State *L)
{
    const char *name = luaL_checkstring(L, 1);
    if (strncmp(name, "kshot.", 6) != 0) return 0;
    push_cache(L);
    if (lua_getfield(L, -1, name) != LUA_TNIL) {
        ks_lua_restore_modules(L);
        lua_pushcclosure(L, cached_value, 1);
        lua_pushvalue(L, 1);
        return 2;
    }
    lua_settop(L, 1);
    if (lua_getglobal(L, "package") != LUA_TTABLE) return 0;
    lua_getfield(L, -1, "searchpath");
    lua_pushvalue(L, 1);
    lua_getfield(L, -3, "path");
    if (!lua_isfunction(L, -3) || !lua_isstring(L, -1)) return 0;
    lua_call(L, 2, 1);
    if (!lua_isstring(L, -1)) return 0; /* not on the path: Lua's searchers say where they looked */
    const char *file = lua_tostring(L, -1);
    if (luaL_loadfilex(L, file, NULL) != LUA_OK)
        return luaL_error(L, "error loading module '%s' from file '%s':\n\t%s", name, file, lua_tostring(L, -1));
    lua_pushvalue(L, 1);
    lua_pushcclosure(L, load_and_cache, 2);
    lua_insert(L, -2); /* the loader, then the file name (require's second result) */
    return 2;
}

void ks_lua_add_module_cache(lua_State *L)
{
    int top = lua_gettop(L);
    if (lua_getglobal(L, "package") != LUA_TTABLE || lua_getfield(L, -1, "searchers") != LUA_TTABLE) {
        lua_settop(L, top);
        return;
    }
    lua_Integer n = (lua_Integer)luaL_len(L, -1);
    for (lua_Integer i = n; i >= 2; i--) { /* after the preload searcher, before Lua's */
        lua_geti(L, -1, i);
        lua_seti(L, -2, i + 1);
    }
    lua_pushcfunction(L, kshot_searcher);
    lua_seti(L, -2, n >= 1 ? 2 : 1);
    lua_settop(L, top);
}
