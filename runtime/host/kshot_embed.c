/* kshot_embed.c: the embedding API (kshot.h): state set-up, protected runs
 * with tracebacks, interrupts. No signal handling and no terminal code here:
 * a program that embeds kshot links only this file of the host. */
#include "kshot_host.h"
#include "../../bindings/ks_lua.h"

#include <lauxlib.h>
#include <lualib.h>

#include <limits.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct kshot_state {
    lua_State *L;
    /* kshot's context once the module is loaded (read by signal handlers,
     * hence atomic); the state holds a reference to it until kshot_close */
    _Atomic(ks_ctx *) ctx;
    char *error;   /* last failure message; NULL after a success */
    int failed;    /* last run failed (error may be NULL if strdup failed) */
    unsigned flags;
};

/* The Lua state's extra space holds its kshot_state (coroutines inherit it). */
kshot_state *kshot_from_lua(lua_State *L) { return *(kshot_state **)lua_getextraspace(L); }

lua_State *kshot_lua(kshot_state *s) { return s ? s->L : NULL; }

/* ------------------------------------------------------------ interrupts */
void kshot_clear_interrupt(kshot_state *s)
{
    lua_sethook(s->L, NULL, 0, 0);
    ks_ctx *c = atomic_load(&s->ctx);
    if (c) ks_ctx_clear_interrupt(c);
}

/* The error value of an interrupt (kshot.h): exactly this string, with no
 * position, so code that catches errors can tell it from a failure. */
#define INTERRUPTED "interrupted!"
#define INTERRUPTED_LEN (sizeof INTERRUPTED - 1)

/* Runs at the next Lua call, return or instruction after an interrupt. */
static void stop_hook(lua_State *L, lua_Debug *ar)
{
    (void)ar;
    kshot_clear_interrupt(kshot_from_lua(L));
    lua_pushliteral(L, INTERRUPTED);
    lua_error(L);
}

/* "interrupted!" (the hook) or "<position>: interrupted!" (a native kernel
 * stopped by the context flag, raised through luaL_error; lua.c's own hook
 * under lua5.4 says the same). */
int kshot_is_interrupt_message(const char *msg, size_t len)
{
    if (len == INTERRUPTED_LEN) return memcmp(msg, INTERRUPTED, len) == 0;
    size_t tail = INTERRUPTED_LEN + 2; /* ": interrupted!" */
    return len > tail && memcmp(msg + len - tail, ": " INTERRUPTED, tail) == 0;
}

/* ks.is_interrupt(err) -> true when err is the error of an interrupt. Only
 * strings qualify: a table or userdata error is never an interrupt. */
static int lua_is_interrupt(lua_State *L)
{
    size_t len = 0;
    const char *msg = lua_type(L, 1) == LUA_TSTRING ? lua_tolstring(L, 1, &len) : NULL;
    lua_pushboolean(L, msg && kshot_is_interrupt_message(msg, len));
    return 1;
}

/* Only async-signal-safe operations: an atomic store and lua_sethook (which
 * Lua's own interpreter calls from its signal handler). */
void kshot_interrupt(kshot_state *s)
{
    if (!s) return;
    ks_ctx *c = atomic_load(&s->ctx);
    if (c) ks_ctx_interrupt(c);
    lua_sethook(s->L, stop_hook, LUA_MASKCALL | LUA_MASKRET | LUA_MASKCOUNT, 1);
}

void ks_interrupt(kshot_state *s) { kshot_interrupt(s); }

/* ------------------------------------------------------------ errors */
int kshot_fail(kshot_state *s, int st)
{
    const char *msg = lua_tostring(s->L, -1);
    free(s->error);
    s->error = strdup(msg ? msg : "(error object is not a string)");
    s->failed = 1;
    lua_pop(s->L, 1);
    return st;
}

/* a failure that never reached Lua (a NULL argument) */
static int fail_msg(kshot_state *s, const char *msg)
{
    free(s->error);
    s->error = strdup(msg);
    s->failed = 1;
    return LUA_ERRRUN;
}

const char *kshot_last_error(kshot_state *s)
{
    if (!s) return "kshot: no state (NULL kshot_state)";
    if (!s->failed) return NULL;
    return s->error ? s->error : "not enough memory";
}

/* Message handler: error text (or the object's __tostring) + traceback. */
static int msghandler(lua_State *L)
{
    const char *msg = lua_tostring(L, 1);
    if (!msg) {
        if (luaL_callmeta(L, 1, "__tostring") && lua_type(L, -1) == LUA_TSTRING)
            msg = lua_tostring(L, -1);
        else
            msg = lua_pushfstring(L, "(error object is a %s value)", luaL_typename(L, 1));
    }
    luaL_traceback(L, L, msg, 1);
    return 1;
}

int kshot_pcall(kshot_state *s, int narg, int nres)
{
    lua_State *L = s->L;
    int base = lua_gettop(L) - narg;
    lua_pushcfunction(L, msghandler);
    lua_insert(L, base);
    kshot_clear_interrupt(s);
    int st = lua_pcall(L, narg, nres, base);
    /* an interrupt that arrives as the code finishes must not fire later */
    kshot_clear_interrupt(s);
    lua_remove(L, base);
    if (st != LUA_OK) return kshot_fail(s, st);
    free(s->error);
    s->error = NULL;
    s->failed = 0;
    return KSHOT_OK;
}

/* ------------------------------------------------------------ loading */
/* Protected part of kshot_load: (source, length or -1 for a file, chunkname)
 * -> chunk or message, load status. */
static int load_chunk(lua_State *L)
{
    const char *src = lua_touserdata(L, 1);
    lua_Integer len = lua_tointeger(L, 2);
    const char *name = lua_touserdata(L, 3);
    int st = len < 0 ? luaL_loadfile(L, src) : luaL_loadbuffer(L, src, (size_t)len, name);
    lua_pushinteger(L, st);
    return 2;
}

int kshot_load(kshot_state *s, const char *src, long len, const char *chunkname)
{
    lua_State *L = s->L;
    kshot_clear_interrupt(s); /* a stale interrupt would fire in the loader */
    lua_pushcfunction(L, load_chunk);
    lua_pushlightuserdata(L, (void *)src);
    lua_pushinteger(L, len);
    lua_pushlightuserdata(L, (void *)chunkname);
    int st = lua_pcall(L, 3, 2, 0);
    if (st != LUA_OK) return kshot_fail(s, st);
    st = (int)lua_tointeger(L, -1);
    lua_pop(L, 1);
    return st == LUA_OK ? LUA_OK : kshot_fail(s, st);
}

int kshot_run_file(kshot_state *s, const char *path)
{
    if (!s) return LUA_ERRRUN;
    int st = kshot_load(s, path, -1, NULL);
    return st != LUA_OK ? st : kshot_pcall(s, 0, 0);
}

int kshot_run_string(kshot_state *s, const char *code)
{
    if (!s) return LUA_ERRRUN;
    if (!code) return fail_msg(s, "kshot_run_string: code is NULL");
    int st = kshot_load(s, code, (long)strlen(code), code);
    return st != LUA_OK ? st : kshot_pcall(s, 0, 0);
}

/* ------------------------------------------------------------ set-up */
/* package.preload.kshot: open the module and keep its context for interrupts. */
static int open_kshot(lua_State *L)
{
    luaopen_kshot(L);
    if (lua_istable(L, -1)) { /* the interrupt's value and its test, next to the hook */
        lua_pushcfunction(L, lua_is_interrupt);
        lua_setfield(L, -2, "is_interrupt");
        lua_pushliteral(L, INTERRUPTED);
        lua_setfield(L, -2, "INTERRUPTED");
    }
    kshot_state *s = kshot_from_lua(L);
    ks_ctx *c = ks_lua_getctx(L);
    if (c && !atomic_load(&s->ctx)) {
        ks_ctx_retain(c);
        atomic_store(&s->ctx, c);
    }
    return 1;
}

/* registry "kshot.home": the folder of the executable, which the module uses
 * to find its Lua files (bindings/ks_lua_module.c, binary_dir) */
static void set_home(lua_State *L)
{
    char path[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", path, sizeof path - 1);
    if (n <= 0) return;
    path[n] = '\0';
    char *slash = strrchr(path, '/');
    if (!slash) return;
    slash[slash == path] = '\0'; /* keep "/" for a binary at the root */
    lua_pushstring(L, path);
    lua_setfield(L, LUA_REGISTRYINDEX, "kshot.home");
}

static int setup(lua_State *L)
{
    kshot_state *s = kshot_from_lua(L);
    luaL_checkversion(L);
    if (s->flags & KSHOT_IGNORE_ENV) { /* read by the package library */
        lua_pushboolean(L, 1);
        lua_setfield(L, LUA_REGISTRYINDEX, "LUA_NOENV");
    }
    lua_gc(L, LUA_GCSTOP);
    luaL_openlibs(L);
    lua_gc(L, LUA_GCRESTART);
    /* incremental, not lua.c's generational mode: young collections leave
     * unreachable tensor boxes alone, so tensor memory would pile up (ks_lua.h) */
    lua_gc(L, LUA_GCINC, 0, 0, 0);
    set_home(L); /* before anything can require kshot */
    ks_lua_add_path(L);
    luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_PRELOAD_TABLE);
    lua_pushcfunction(L, open_kshot);
    lua_setfield(L, -2, "kshot");
    lua_pop(L, 1);
    return 0;
}

kshot_state *kshot_open_ex(unsigned flags)
{
    kshot_state *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    atomic_init(&s->ctx, NULL);
    s->flags = flags;
    s->L = luaL_newstate();
    if (!s->L) {
        free(s);
        return NULL;
    }
    *(kshot_state **)lua_getextraspace(s->L) = s;
    lua_pushcfunction(s->L, setup);
    if (lua_pcall(s->L, 0, 0, 0) != LUA_OK) {
        kshot_close(s);
        return NULL;
    }
    return s;
}

kshot_state *kshot_open(void) { return kshot_open_ex(0); }

void kshot_close(kshot_state *s)
{
    if (!s) return;
    lua_close(s->L);
    ks_ctx *c = atomic_load(&s->ctx);
    if (c) ks_ctx_release(c);
    free(s->error);
    free(s);
}
