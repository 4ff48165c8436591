/* kshot_main.c: (being written: minimal runner until the host lands) */
#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>
#include <stdio.h>
#include <string.h>

int luaopen_kshot(lua_State *L);

int main(int argc, char **argv)
{
    lua_State *L = luaL_newstate();
    luaL_openlibs(L);
    luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_PRELOAD_TABLE);
    lua_pushcfunction(L, luaopen_kshot);
    lua_setfield(L, -2, "kshot");
    lua_pop(L, 1);
    int st = 0;
    if (argc > 2 && strcmp(argv[1], "-e") == 0) st = luaL_dostring(L, argv[2]);
    else if (argc > 1) st = luaL_dofile(L, argv[1]);
    if (st) fprintf(stderr, "kshot: %s\n", lua_tostring(L, -1));
    lua_close(L);
    return st ? 1 : 0;
}
