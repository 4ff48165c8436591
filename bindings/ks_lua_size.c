/* ks_lua_size.c: the lists that t.shape (= t:shape()), t:size() and t:stride() return.
 *
 * They stay plain Lua arrays (1-based, #, ipairs, table.unpack, table.concat,
 * writable) so that nothing which takes a shape has to know about them; a
 * shared metatable only adds what torch.Size users expect of them: print()
 * and tostring() show the contents ({2, 3}, not "table: 0x..."), `..` joins
 * them into strings, == compares contents (two tensors' shapes, or a
 * shape and a literal list {2, 3}), s[-1] is the last entry and s[0] an
 * error that says the list is 1-based, and calling the list with no
 * argument (or a tensor, which is how x:shape() reaches it) returns it. */
#include "ks_lua.h"

#define KS_SIZE_MT "kshot.Size"
static const char size_mt_key = 0; /* the metatable again, under a light-userdata key: faster than by name */

/* push s's text: "{2, 3}"; entries that are not numbers (the list is
 * writable) print as tostring would */
static void push_text(lua_State *L, int s)
{
    luaL_Buffer b;
    lua_Integer n = luaL_len(L, s);
    luaL_buffinit(L, &b);
    luaL_addchar(&b, '{');
    for (lua_Integer i = 1; i <= n; i++) {
        if (i > 1) luaL_addstring(&b, ", ");
        lua_geti(L, s, i);
        luaL_tolstring(L, -1, NULL);
        lua_remove(L, -2);
        luaL_addvalue(&b);
    }
    luaL_addchar(&b, '}');
    luaL_pushresult(&b);
}

static int size_tostring(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    push_text(L, 1);
    return 1;
}

/* Lua calls __eq only for two tables that are not the same one: equal when
 * both are arrays of the same length with equal entries (2 == 2.0) */
static int size_eq(lua_State *L)
{
    lua_Integer n = (lua_Integer)lua_rawlen(L, 1);
    int eq = n == (lua_Integer)lua_rawlen(L, 2);
    for (lua_Integer i = 1; eq && i <= n; i++) {
        lua_rawgeti(L, 1, i);
        lua_rawgeti(L, 2, i);
        eq = lua_rawequal(L, -1, -2);
        lua_pop(L, 2);
    }
    lua_pushboolean(L, eq);
    return 1;
}

static int is_size(lua_State *L, int i)
{
    if (!lua_getmetatable(L, i)) return 0;
    luaL_getmetatable(L, KS_SIZE_MT);
    int ours = lua_rawequal(L, -1, -2);
    lua_pop(L, 2);
    return ours;
}

/* "shape " .. s and s .. "!": either operand may be the list; anything
 * else that is not a string or a number fails as `..` would */
static int size_concat(lua_State *L)
{
    for (int i = 1; i <= 2; i++) {
        if (is_size(L, i)) push_text(L, i);
        else if (lua_type(L, i) == LUA_TSTRING || lua_type(L, i) == LUA_TNUMBER) lua_pushstring(L, lua_tostring(L, i));
        else return luaL_error(L, "attempt to concatenate a %s value with a shape list", luaL_typename(L, i));
        lua_replace(L, i);
    }
    lua_concat(L, 2);
    return 1;
}

/* Only absent keys get here. s[-1] is the last entry (as x.shape[-1] in
 * PyTorch, and string.sub's negative positions); s[0], PyTorch's first dim,
 * is an error that says the list is 1-based rather than a silent nil. Other
 * absent keys (s[#s + 1], which ipairs reads to stop) stay nil. */
static int size_index(lua_State *L)
{
    if (!lua_isinteger(L, 2)) return 0;
    lua_Integer i = lua_tointeger(L, 2), n = (lua_Integer)lua_rawlen(L, 1);
    if (i == 0)
        return luaL_error(L, "shape lists are Lua arrays (1-based): [1] is the size of dim 0 and [-1] the last; "
                             "t:size(0) names dim 0 directly");
    if (i < 0 && -i <= n) {
        lua_rawgeti(L, 1, n + 1 + i);
        return 1;
    }
    return 0;
}

/* x.shape is a list, and x:shape() calls it with x: the list answers with
 * itself, so both spellings work. Anything else (x:shape(0), s(1)) is an
 * error that points at the size of one dim. */
static int size_call(lua_State *L)
{
    int n = lua_gettop(L);
    if (n == 1 || (n == 2 && ks_lua_to_tensor(L, 2))) {
        lua_settop(L, 1);
        return 1;
    }
    return luaL_error(L, "a shape list takes no arguments: x.shape and x:shape() give the list, x:size(d) the size "
                         "of dim d (0-based)");
}

void ks_lua_push_dims(lua_State *L, int n, const int64_t *v)
{
    lua_createtable(L, n, 0);
    for (int i = 0; i < n; i++) {
        lua_pushinteger(L, v[i]);
        lua_rawseti(L, -2, i + 1);
    }
    lua_rawgetp(L, LUA_REGISTRYINDEX, &size_mt_key);
    lua_setmetatable(L, -2);
}

void ks_lua_open_size(lua_State *L)
{
    luaL_newmetatable(L, KS_SIZE_MT);
    lua_pushcfunction(L, size_tostring);
    lua_setfield(L, -2, "__tostring");
    lua_pushcfunction(L, size_eq);
    lua_setfield(L, -2, "__eq");
    lua_pushcfunction(L, size_concat);
    lua_setfield(L, -2, "__concat");
    lua_pushcfunction(L, size_index);
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, size_call);
    lua_setfield(L, -2, "__call");
    lua_rawsetp(L, LUA_REGISTRYINDEX, &size_mt_key);
}
