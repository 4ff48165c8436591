/* kshot_complete.c: tab completion of the REPL.
 *
 * The text before the cursor ends with a partial identifier (maybe empty).
 * What precedes it decides the candidates:
 *   name.name.  -> fields of that value        (`string.fo` -> format)
 *   name:       -> its callable fields/methods (`t:ma` -> matmul, max, ...)
 *   "str": ("str"):  -> string methods         (`("x"):up` -> upper)
 *   otherwise   -> globals and keywords
 * Fields are found through metatables: an __index table is followed
 * recursively; when __index is a function (kshot tensors), the metatable's
 * `methods` table is used instead. Nothing is ever called: no __index
 * function, no __tostring, no getter, so completion has no side effects
 * (but one: kshot's Lua halves -- the tensor functions written in Lua, and
 * those of ks.data, ks.linalg, ... -- are loaded first, as a use would). */
#include "kshot_host.h"
#include "../../bindings/ks_lua.h"

#include <lauxlib.h>

#include <stdlib.h>
#include <string.h>

#define MAX_DEPTH 8 /* metatable hops followed (also stops cycles) */

static const char *const keywords[] = {
    "and", "break", "do", "else", "elseif", "end", "false", "for", "function", "goto", "if",
    "in", "local", "nil", "not", "or", "repeat", "return", "then", "true", "until", "while", NULL};

/* ASCII only: the C library's isalnum depends on the locale */
static int is_ident(int ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '_';
}
static int is_digit(int ch) { return ch >= '0' && ch <= '9'; }

static int is_keyword(const char *s)
{
    for (int i = 0; keywords[i]; i++)
        if (strcmp(s, keywords[i]) == 0) return 1;
    return 0;
}

size_t kshot_complete_start(const char *line)
{
    size_t n = strlen(line);
    while (n > 0 && is_ident((unsigned char)line[n - 1])) n--;
    return n;
}

/* ------------------------------------------------------------ lookups */
/* Push the table that supplies obj's missing fields: the metatable's
 * __index if it is a table, else the metatable's `methods` table (kshot's
 * userdata keep their methods there behind a C __index). 0: none. */
static int push_index_table(lua_State *L, int obj)
{
    if (!lua_getmetatable(L, obj)) return 0;
    lua_pushliteral(L, "__index");
    if (lua_rawget(L, -2) == LUA_TTABLE) {
        lua_remove(L, -2);
        return 1;
    }
    lua_pop(L, 1);
    lua_pushliteral(L, "methods");
    if (lua_rawget(L, -2) == LUA_TTABLE) {
        lua_remove(L, -2);
        return 1;
    }
    lua_pop(L, 2);
    return 0;
}

/* Push obj[key] found by raw gets along the __index chain; nil if absent. */
static void push_field(lua_State *L, int obj, const char *key, size_t len, int depth)
{
    obj = lua_absindex(L, obj);
    if (lua_istable(L, obj)) {
        lua_pushlstring(L, key, len);
        if (lua_rawget(L, obj) != LUA_TNIL) return;
        lua_pop(L, 1);
    }
    if (depth < MAX_DEPTH && push_index_table(L, obj)) {
        push_field(L, -1, key, len, depth + 1);
        lua_remove(L, -2);
        return;
    }
    lua_pushnil(L);
}

static int is_callable(lua_State *L, int idx)
{
    if (lua_type(L, idx) == LUA_TFUNCTION) return 1;
    if (!lua_getmetatable(L, idx)) return 0;
    lua_pushliteral(L, "__call");
    int callable = lua_rawget(L, -2) != LUA_TNIL;
    lua_pop(L, 2);
    return callable;
}

/* ------------------------------------------------------------ candidates */
typedef struct {
    const char *prefix;
    size_t plen;
    int methods_only;
    int set; /* stack index of the table of candidates (name -> true) */
} query;

/* Add the string key at `key` to the set if it completes the prefix and
 * can be written after '.' or ':' (an identifier, not a keyword). Names
 * starting with "__" (metamethods, internals) only when asked for. */
static void add_name(lua_State *L, const query *q, int key)
{
    size_t len;
    const char *s = lua_tolstring(L, key, &len);
    if (len < q->plen || memcmp(s, q->prefix, q->plen) != 0) return;
    if (len == 0 || is_digit((unsigned char)s[0])) return;
    for (size_t i = 0; i < len; i++)
        if (!is_ident((unsigned char)s[i])) return;
    if (len > 1 && s[0] == '_' && s[1] == '_' && !(q->plen > 1 && q->prefix[1] == '_')) return;
    if (is_keyword(s)) return;
    lua_pushvalue(L, key);
    lua_pushboolean(L, 1);
    lua_rawset(L, q->set);
}

/* a missing-key read of t (the lazy __index of ks.data, ks.linalg, ...) */
static int probe_missing(lua_State *L)
{
    lua_getfield(L, 1, "\x01");
    return 0;
}

/* kshot's C sub-tables (ks.data, ks.linalg, ...) load their Lua half on the
 * first missing key; their metatable says so (__lazy_module). Load it now so
 * that its names are listed too. */
static void load_lazy_half(lua_State *L, int obj)
{
    if (!lua_getmetatable(L, obj)) return;
    int lazy = lua_getfield(L, -1, "__lazy_module") == LUA_TSTRING;
    lua_pop(L, 2);
    if (!lazy) return;
    lua_pushcfunction(L, probe_missing);
    lua_pushvalue(L, obj);
    if (lua_pcall(L, 1, 0, 0) != LUA_OK) lua_pop(L, 1); /* no completion from it, no error either */
}

static void collect(lua_State *L, const query *q, int obj, int depth)
{
    obj = lua_absindex(L, obj);
    if (lua_istable(L, obj)) load_lazy_half(L, obj);
    if (lua_istable(L, obj)) {
        lua_pushnil(L);
        while (lua_next(L, obj)) {
            /* check the type first: lua_tolstring on a number key would break lua_next */
            if (lua_type(L, -2) == LUA_TSTRING && (!q->methods_only || is_callable(L, -1)))
                add_name(L, q, lua_gettop(L) - 1);
            lua_pop(L, 1);
        }
    }
    if (depth < MAX_DEPTH && push_index_table(L, obj)) {
        collect(L, q, -1, depth + 1);
        lua_pop(L, 1);
    }
}

/* ------------------------------------------------------------ parsing */
/* Push the value of the expression that ends at line[end): a chain of names
 * (a.b.c), or a string literal, bare or in parentheses. Nil otherwise. */
static void push_prefix_value(lua_State *L, const char *line, size_t end)
{
    if (end > 0 && line[end - 1] == ')') { /* ("literal") but not f("literal") */
        char quote = end > 1 ? line[end - 2] : 0;
        if (quote == '"' || quote == '\'') {
            const char *open = NULL;
            for (size_t i = end - 2; i > 0; i--)
                if (line[i - 1] == quote && (i < 2 || line[i - 2] != '\\')) {
                    open = line + i - 1;
                    break;
                }
            if (open && open > line && open[-1] == '(' &&
                (open - 1 == line || !(is_ident((unsigned char)open[-2]) || open[-2] == ')' || open[-2] == ']'))) {
                lua_pushliteral(L, "");
                return;
            }
        }
        lua_pushnil(L);
        return;
    }
    if (end > 0 && (line[end - 1] == '"' || line[end - 1] == '\'')) {
        lua_pushliteral(L, ""); /* any string: only its metatable matters */
        return;
    }
    /* a chain of names: find where it starts */
    size_t start = end;
    for (;;) {
        size_t p = start;
        while (p > 0 && is_ident((unsigned char)line[p - 1])) p--;
        if (p == start || is_digit((unsigned char)line[p])) { /* empty name or a number */
            lua_pushnil(L);
            return;
        }
        start = p;
        if (p >= 2 && line[p - 1] == '.' && line[p - 2] != '.') start = p - 1;
        else break;
    }
    if (start > 0 && strchr(":)]}\"'", line[start - 1])) { /* the chain continues something unknown */
        lua_pushnil(L);
        return;
    }
    lua_pushglobaltable(L);
    for (size_t i = start; i < end;) {
        size_t j = i;
        while (j < end && line[j] != '.') j++;
        push_field(L, -1, line + i, j - i, 0);
        lua_remove(L, -2);
        i = j + 1;
    }
}

/* Fill the set at q->set with the candidates for `line`. */
static void find_candidates(lua_State *L, query *q, const char *line)
{
    size_t w = kshot_complete_start(line);
    q->prefix = line + w;
    q->plen = strlen(line + w);
    if (q->plen > 0 && is_digit((unsigned char)q->prefix[0])) return; /* a number */
    char sep = w > 0 ? line[w - 1] : 0;
    if (sep == '.' && w > 1 && line[w - 2] == '.') sep = 0; /* `..` concatenation */
    if (sep == '.' || sep == ':') {
        q->methods_only = sep == ':';
        push_prefix_value(L, line, w - 1);
        if (!lua_isnil(L, -1)) collect(L, q, -1, 0);
        lua_pop(L, 1);
        return;
    }
    lua_pushglobaltable(L);
    collect(L, q, -1, 0);
    lua_pop(L, 1);
    for (int i = 0; keywords[i]; i++)
        if (strncmp(keywords[i], q->prefix, q->plen) == 0) {
            lua_pushstring(L, keywords[i]);
            lua_pushboolean(L, 1);
            lua_rawset(L, q->set);
        }
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(const char *const *)a, *(const char *const *)b); }

int kshot_complete_cfn(lua_State *L)
{
    const char *line = lua_touserdata(L, 1);
    if (!line) return luaL_argerror(L, 1, "line expected");
    ks_lua_load_extras(L); /* kshot's functions written in Lua load on first use: list them too */
    lua_newtable(L);
    query q = {.set = lua_gettop(L)};
    find_candidates(L, &q, line);

    int n = 0;
    lua_pushnil(L);
    while (lua_next(L, q.set)) {
        n++;
        lua_pop(L, 1);
    }
    /* the names stay anchored by the set while they are sorted */
    const char **names = lua_newuserdatauv(L, (size_t)(n ? n : 1) * sizeof *names, 0);
    int i = 0;
    lua_pushnil(L);
    while (lua_next(L, q.set)) {
        names[i++] = lua_tostring(L, -2);
        lua_pop(L, 1);
    }
    qsort(names, (size_t)n, sizeof *names, cmp_str);
    lua_createtable(L, n, 0);
    for (i = 0; i < n; i++) {
        lua_pushstring(L, names[i]);
        lua_rawseti(L, -2, i + 1);
    }
    return 1;
}
