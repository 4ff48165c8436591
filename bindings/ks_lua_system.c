/* ks_lua_system.c: memory accounting, memory limit, threads, interrupts and
 * the version, as module functions:
 *
 *   ks.memory_stats()        -> {live_bytes=, peak_bytes=, limit_bytes=, num_allocs=}
 *   ks.set_memory_limit(b)   -> previous limit; b = bytes (integer >= 0),
 *                               math.huge (no limit) or a string "512MB", "2GB",
 *                               "1.5GiB" (K/M/G/T units are powers of 1024)
 *   ks.get_memory_limit()    -> bytes
 *   ks.set_num_threads(n)    -> previous count (1..256; OpenBLAS stays single-threaded)
 *   ks.get_num_threads()
 *   ks.interrupt()           -> the next native kernel stops between chunks
 *                               with "interrupted!" (as Ctrl-C does)
 *   ks.hostname()            -> this machine's name (POSIX gethostname), or
 *                               nil and a message when it has none
 *   ks.version, ks.__version -> "x.y.z"
 */
#include "ks_lua.h"
#include "../runtime/core/ks_threads.h"

#include <ctype.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <strings.h>
#include <unistd.h>

static void set_int_field(lua_State *L, const char *k, lua_Integer v)
{
    lua_pushinteger(L, v);
    lua_setfield(L, -2, k);
}

/* sizes above LUA_MAXINTEGER (an unlimited limit) are reported as math.huge */
static void push_size(lua_State *L, size_t v)
{
    if (v > (size_t)LUA_MAXINTEGER) lua_pushnumber(L, HUGE_VAL);
    else lua_pushinteger(L, (lua_Integer)v);
}

static int sys_memory_stats(lua_State *L)
{
    ks_ctx *c = KS_CTX(L);
    lua_createtable(L, 0, 4);
    set_int_field(L, "live_bytes", (lua_Integer)atomic_load(&c->live_bytes));
    set_int_field(L, "peak_bytes", (lua_Integer)c->peak_bytes);
    push_size(L, c->limit_bytes);
    lua_setfield(L, -2, "limit_bytes");
    set_int_field(L, "num_allocs", (lua_Integer)c->num_allocs);
    return 1;
}

/* "1.5GB" -> bytes; returns 0 when the string is not a size */
static int parse_size(const char *s, double *out)
{
    static const struct { const char *unit; double mul; } units[] = {
        {"", 1}, {"b", 1}, {"k", 1024.0}, {"kb", 1024.0}, {"kib", 1024.0},
        {"m", 1048576.0}, {"mb", 1048576.0}, {"mib", 1048576.0},
        {"g", 1073741824.0}, {"gb", 1073741824.0}, {"gib", 1073741824.0},
        {"t", 1099511627776.0}, {"tb", 1099511627776.0}, {"tib", 1099511627776.0},
    };
    char *end;
    double v = strtod(s, &end);
    if (end == s) return 0;
    while (isspace((unsigned char)*end)) end++;
    for (size_t i = 0; i < sizeof units / sizeof *units; i++) {
        if (strcasecmp(end, units[i].unit) == 0) {
            *out = v * units[i].mul;
            return 1;
        }
    }
    return 0;
}

/* Byte count argument: integer >= 0, integral float, math.huge or a size string. */
static size_t check_bytes(lua_State *L, int arg)
{
    double v = 0;
    int t = lua_type(L, arg);
    if (t == LUA_TNUMBER && lua_isinteger(L, arg)) {
        lua_Integer i = lua_tointeger(L, arg);
        if (i < 0) luaL_argerror(L, arg, lua_pushfstring(L, "memory limit must be >= 0, got %I", i));
        return (size_t)i;
    }
    if (t == LUA_TNUMBER) {
        v = lua_tonumber(L, arg);
    } else if (t == LUA_TSTRING) {
        if (!parse_size(lua_tostring(L, arg), &v))
            luaL_argerror(L, arg, lua_pushfstring(L, "size string like \"512MB\" or \"2GB\" expected, got \"%s\"",
                                                  lua_tostring(L, arg)));
    } else {
        return (size_t)luaL_argerror(L, arg, lua_pushfstring(L, "number of bytes or size string expected, got %s",
                                                             luaL_typename(L, arg)));
    }
    if (isnan(v) || v < 0) luaL_argerror(L, arg, lua_pushfstring(L, "memory limit must be >= 0, got %f", v));
    if (v >= 18446744073709551616.0) return SIZE_MAX; /* math.huge and beyond: no limit */
    return (size_t)v;
}

static int sys_set_memory_limit(lua_State *L)
{
    ks_ctx *c = KS_CTX(L);
    size_t bytes = check_bytes(L, 1);
    push_size(L, c->limit_bytes);
    ks_set_memory_limit(c, bytes);
    return 1;
}

static int sys_get_memory_limit(lua_State *L)
{
    push_size(L, KS_CTX(L)->limit_bytes);
    return 1;
}

static int sys_set_num_threads(lua_State *L)
{
    ks_ctx *c = KS_CTX(L);
    lua_Integer n = luaL_checkinteger(L, 1);
    int before = ks_get_num_threads(c);
    if (n < 1 || n > 256)
        return luaL_argerror(L, 1, lua_pushfstring(L, "number of threads must be in [1, 256], got %I", n));
    if (ks_set_num_threads(c, (int)n) != KS_OK) return luaL_argerror(L, 1, ks_ctx_message(c));
    lua_pushinteger(L, before);
    return 1;
}

static int sys_get_num_threads(lua_State *L)
{
    lua_pushinteger(L, ks_get_num_threads(KS_CTX(L)));
    return 1;
}

static int sys_interrupt(lua_State *L)
{
    ks_ctx_interrupt(KS_CTX(L));
    return 0;
}

/* A run record's provenance names the machine without running a program. */
static int sys_hostname(lua_State *L)
{
    char name[256];
    if (gethostname(name, sizeof name) != 0) {
        lua_pushnil(L);
        lua_pushliteral(L, "hostname: gethostname failed");
        return 2;
    }
    name[sizeof name - 1] = '\0'; /* POSIX leaves a truncated name unterminated */
    lua_pushstring(L, name);
    return 1;
}

static const luaL_Reg system_functions[] = {
    {"memory_stats", sys_memory_stats},
    {"set_memory_limit", sys_set_memory_limit},
    {"get_memory_limit", sys_get_memory_limit},
    {"set_num_threads", sys_set_num_threads},
    {"get_num_threads", sys_get_num_threads},
    {"interrupt", sys_interrupt},
    {"hostname", sys_hostname},
    {NULL, NULL}};

void ks_lua_open_system(lua_State *L, int module, int methods, int ctxbox)
{
    (void)methods;
    ks_lua_register(L, system_functions, module, ctxbox);
    lua_pushliteral(L, KS_VERSION);
    lua_setfield(L, lua_absindex(L, module), "version");
}
