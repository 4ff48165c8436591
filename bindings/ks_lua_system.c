/* ks_lua_system.c: (being written) */
#include "ks_lua.h"

void ks_lua_open_system(lua_State *L, int module, int methods, int ctxbox)
{
    (void)L; (void)module; (void)methods; (void)ctxbox;
}
