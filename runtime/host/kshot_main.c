/* kshot_main.c: the `kshot` command. Its command line is lua.c's (Lua
 * 5.4.4): `kshot [options] [script [args]]`, with the same `arg` table,
 * LUA_INIT handling and exit statuses, plus --help. Everything after option
 * parsing runs inside one protected call (pmain); errors print
 * "kshot: <message>" and a traceback on stderr and the exit status is 1,
 * except for a Ctrl-C (SIGINT received, and the script ended with the
 * interrupt's error, kshot.h), which exits with 130 as a shell reports a
 * process killed by SIGINT (lua.c exits 1). Two additions to lua.c: -i enters
 * the REPL even when the script (or -e, -l) failed, as python -i does, and
 * the script's folder is on package.path (add_script_dir). */
#include "kshot_host.h"

#include <lauxlib.h>
#include <lualib.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum {
    HAS_ERROR = 1 << 0,
    HAS_I = 1 << 1,        /* -i */
    HAS_V = 1 << 2,        /* -v (and -i) */
    HAS_EXEC = 1 << 3,     /* -e */
    HAS_NOENV = 1 << 4,    /* -E */
    HAS_HELP = 1 << 5,     /* --help */
    HAS_COMPLETE = 1 << 6, /* --complete text (hidden, for tests) */
};

typedef struct cmdline {
    int argc;
    char **argv;
    int script;      /* argv index of the script; argc when there is none */
    int flags;
    const char *bad; /* the option that could not be parsed */
    kshot_state *s;
    int ok;          /* pmain finished without error */
    int interrupted; /* the error reported last was an interrupt */
} cmdline;

#define EXIT_INTERRUPTED 130 /* 128 + SIGINT, the shell's convention */

/* ------------------------------------------------------------ messages */
static const char usage_options[] =
    "  -e stat   execute string 'stat'\n"
    "  -i        enter interactive mode after executing 'script'\n"
    "  -l mod    require library 'mod' into global 'mod'\n"
    "  -l g=mod  require library 'mod' into global 'g'\n"
    "  -v        show version information\n"
    "  -E        ignore environment variables (LUA_INIT, LUA_PATH, LUA_CPATH)\n"
    "  -W        turn warnings on\n"
    "  --        stop handling options\n"
    "  -         stop handling options and execute stdin\n"
    "  --help    show this help\n";

static void print_usage(const char *bad)
{
    if (bad[1] == 'e' || bad[1] == 'l') fprintf(stderr, "kshot: '%s' needs argument\n", bad);
    else fprintf(stderr, "kshot: unrecognized option '%s'\n", bad);
    fprintf(stderr, "usage: kshot [options] [script [args]]\nAvailable options are:\n%s", usage_options);
    fflush(stderr);
}

static void print_help(void)
{
    printf("kshot %s: few-shot learning in Lua. Lua 5.4 with the kshot tensor library\n"
           "(tensors, autograd, neural networks, data sets) built in.\n\n"
           "usage: kshot [options] [script [args]]\n"
           "Runs 'script' (or the standard input with '-') with its arguments in the global\n"
           "table 'arg' (arg[0] is the script) and as '...'; require finds modules in the\n"
           "script's folder too. Without a script: the interactive mode on a terminal,\n"
           "the standard input otherwise. Unlike lua5.4, -i enters the interactive mode\n"
           "even when the script failed or was interrupted (as python -i).\n\n"
           "Options (those of lua5.4):\n%s\n"
           "In scripts: local ks = require \"kshot\". The interactive mode defines the\n"
           "globals ks = require \"kshot\" and help = require \"kshot.help\" for you\n"
           "(scripts get no such globals): help() lists the modules, help(\"nn.Linear\")\n"
           "or help(value) shows a module's, class's or function's documentation.\n"
           "Tensor indices, dims and labels are 0-based, as in PyTorch; Lua's own\n"
           "arrays (t:totable(), t.shape) stay 1-based.\n\n"
           "Interactive mode: an expression prints its value(s), plain tables with their\n"
           "contents (require \"kshot.pretty\".format), also when spread over lines, and\n"
           "the global _ keeps the first; unfinished statements continue on the next line\n"
           "(prompt '>>'); each line is a chunk of its own, so use globals, not locals. Keys: Tab completes globals, fields\n"
           "and methods (string.fo<Tab>, t:ma<Tab>); Up/Down and Ctrl-R browse the history;\n"
           "Ctrl-C clears the line, or interrupts the running statement (also inside a\n"
           "long tensor operation); Ctrl-D exits.\n\n"
           "Exit status: 0, or os.exit's; 1 after an error; 130 when Ctrl-C stopped the\n"
           "script (it raises the error \"interrupted!\"; ks.is_interrupt(err) tells it\n"
           "from other errors in code that catches errors).\n\n"
           "Environment:\n"
           "  LUA_INIT_5_4, LUA_INIT  code (or @file) run before the options\n"
           "  LUA_PATH(_5_4), LUA_CPATH(_5_4)  module search paths (C modules such as\n"
           "                         lfs load into kshot as into lua5.4)\n"
           "  KSHOT_LUA_DIR          folder of kshot's Lua modules (default: found next\n"
           "                         to the executable)\n"
           "  KSHOT_HISTORY          history file (default ~/.kshot_history, 1000 lines;\n"
           "                         empty: no history file)\n",
           KSHOT_VERSION, usage_options);
}

static void print_version(void)
{
    printf("kshot %s -- %s\n", KSHOT_VERSION, LUA_COPYRIGHT);
    fflush(stdout);
}

/* The first line of a failure's message (the traceback follows) is the
 * interrupt's value (kshot_is_interrupt_message, the rule of ks.is_interrupt). */
static int is_interrupt_error(const char *err) { return kshot_is_interrupt_message(err, strcspn(err, "\n")); }

static int report(cmdline *c, int st)
{
    if (st != LUA_OK) {
        const char *err = kshot_last_error(c->s);
        /* 130 says SIGINT: a script that only raises "interrupted!" exits 1 */
        c->interrupted = err && is_interrupt_error(err) && kshot_sigint_pending();
        fflush(stdout);
        fprintf(stderr, "kshot: %s\n", err);
        fflush(stderr);
    }
    return st;
}

/* ------------------------------------------------------------ options */
static int bad_option(cmdline *c, const char *opt)
{
    c->flags |= HAS_ERROR;
    c->bad = opt;
    return 0;
}

/* First pass (as lua.c's collectargs): learn which options exist and where
 * the script is, without running anything. */
static int collect_args(cmdline *c)
{
    char **argv = c->argv;
    int i;
    for (i = 1; argv[i]; i++) {
        const char *a = argv[i];
        c->script = i;
        if (a[0] != '-') return 1; /* the script */
        switch (a[1]) {
        case '-':
            if (a[2] == '\0') {
                c->script = i + 1;
                return 1;
            }
            if (strcmp(a, "--help") == 0) c->flags |= HAS_HELP;
            else if (strcmp(a, "--version") == 0) c->flags |= HAS_V;
            else if (strcmp(a, "--complete") == 0 && argv[i + 1]) c->flags |= HAS_COMPLETE, i++;
            else return bad_option(c, a);
            break;
        case '\0': return 1; /* "-": the standard input is the script */
        case 'E':
            if (a[2]) return bad_option(c, a);
            c->flags |= HAS_NOENV;
            break;
        case 'W':
            if (a[2]) return bad_option(c, a);
            break;
        case 'i': /* -i implies -v */
            c->flags |= HAS_I;
            /* fallthrough */
        case 'v':
            if (a[2]) return bad_option(c, a);
            c->flags |= HAS_V;
            break;
        case 'e':
            c->flags |= HAS_EXEC;
            /* fallthrough */
        case 'l':
            if (a[2] == '\0') {
                i++;
                if (!argv[i] || argv[i][0] == '-') return bad_option(c, a);
            }
            break;
        default: return bad_option(c, a);
        }
    }
    c->script = i;
    return 1;
}

/* ------------------------------------------------------------ running */
/* A protected call with Ctrl-C armed. */
static int call(cmdline *c, int narg, int nres)
{
    kshot_sigint_run(c->s);
    int st = kshot_pcall(c->s, narg, nres);
    kshot_sigint_default();
    return st;
}

static int dochunk(cmdline *c, int st)
{
    if (st == LUA_OK) st = call(c, 0, 0);
    return report(c, st);
}

static int dostring(cmdline *c, const char *code, const char *name)
{
    return dochunk(c, kshot_load(c->s, code, (long)strlen(code), name));
}

static int dofile(cmdline *c, const char *path) { return dochunk(c, kshot_load(c->s, path, -1, NULL)); }

/* -l mod, -l g=mod: g = require(mod) */
static int dolibrary(cmdline *c, const char *spec)
{
    lua_State *L = kshot_lua(c->s);
    const char *eq = strchr(spec, '=');
    lua_getglobal(L, "require");
    lua_pushstring(L, eq ? eq + 1 : spec);
    int st = call(c, 1, 1);
    if (st == LUA_OK) {
        lua_pushlstring(L, spec, eq ? (size_t)(eq - spec) : strlen(spec));
        lua_insert(L, -2);
        lua_setglobal(L, lua_tostring(L, -2));
        lua_pop(L, 1);
    }
    return report(c, st);
}

/* --complete text: print the REPL's completion candidates, one per line */
static int docomplete(cmdline *c, const char *text)
{
    lua_State *L = kshot_lua(c->s);
    kshot_repl_define_globals(c->s);
    lua_pushcfunction(L, kshot_complete_cfn);
    lua_pushlightuserdata(L, (void *)text);
    int st = kshot_pcall(c->s, 1, 1);
    if (st == LUA_OK) {
        for (lua_Integer i = 1; i <= (lua_Integer)lua_rawlen(L, -1); i++) {
            lua_rawgeti(L, -1, i);
            printf("%s\n", lua_tostring(L, -1));
            lua_pop(L, 1);
        }
        lua_pop(L, 1);
        fflush(stdout);
    }
    return report(c, st);
}

/* arg: the script at 0, what precedes it at negative indices, its
 * arguments at 1..n (all of argv at 1.. when there is no script). */
static void create_arg_table(lua_State *L, cmdline *c)
{
    int script = c->script == c->argc ? 0 : c->script;
    lua_createtable(L, c->argc - (script + 1), script + 1);
    for (int i = 0; i < c->argc; i++) {
        lua_pushstring(L, c->argv[i]);
        lua_rawseti(L, -2, i - script);
    }
    lua_setglobal(L, "arg");
}

static int handle_init(cmdline *c)
{
    const char *name = "=LUA_INIT_5_4";
    const char *init = getenv(name + 1);
    if (!init) {
        name = "=LUA_INIT";
        init = getenv(name + 1);
    }
    if (!init) return LUA_OK;
    return init[0] == '@' ? dofile(c, init + 1) : dostring(c, init, name);
}

/* Second pass: -e, -l, -W and --complete in command-line order. */
static int run_args(cmdline *c)
{
    char **argv = c->argv;
    for (int i = 1; i < c->script; i++) {
        const char *a = argv[i];
        if (a[1] == 'e' || a[1] == 'l') {
            const char *extra = a[2] ? a + 2 : argv[++i];
            int st = a[1] == 'e' ? dostring(c, extra, "=(command line)") : dolibrary(c, extra);
            if (st != LUA_OK) return 0;
        } else if (a[1] == 'W') {
            lua_warning(kshot_lua(c->s), "@on", 0);
        } else if (strcmp(a, "--complete") == 0) {
            if (docomplete(c, argv[++i]) != LUA_OK) return 0;
        }
    }
    return 1;
}

static int push_script_args(lua_State *L)
{
    if (lua_getglobal(L, "arg") != LUA_TTABLE) luaL_error(L, "'arg' is not a table");
    int n = (int)luaL_len(L, -1);
    luaL_checkstack(L, n + 3, "too many arguments to script");
    for (int i = 1; i <= n; i++) lua_rawgeti(L, -i, i);
    lua_remove(L, -n - 1);
    return n;
}

/* The script's folder joins package.path where "./?.lua" stands (else at
 * the end), so `require "util"` finds util.lua next to the script from any
 * working directory (Python puts the script's folder on sys.path; lua.c
 * only has "./", the working directory). The folder is made absolute: a
 * script may change directory. Folders whose name holds the path
 * separators ';' or '?' are left out. */
static void add_script_dir(lua_State *L, const char *fname)
{
    const char *slash = strrchr(fname, '/');
    char *dir = slash ? strndup(fname, (size_t)(slash - fname) + (slash == fname)) : strdup(".");
    char *abs = dir ? realpath(dir, NULL) : NULL;
    free(dir);
    if (!abs) return;
    int top = lua_gettop(L);
    if (!strpbrk(abs, ";?") && lua_getglobal(L, "package") == LUA_TTABLE &&
        lua_getfield(L, -1, "path") == LUA_TSTRING) {
        const char *sep = strcmp(abs, "/") == 0 ? "" : "/";
        const char *path = lua_tostring(L, -1);
        const char *entries = lua_pushfstring(L, "%s%s?.lua;%s%s?/init.lua", abs, sep, abs, sep);
        const char *dot = strstr(path, "./?.lua");
        while (dot && dot != path && dot[-1] != ';') dot = strstr(dot + 1, "./?.lua");
        if (dot) lua_pushfstring(L, "%s%s;%s", lua_pushlstring(L, path, (size_t)(dot - path)), entries, dot);
        else lua_pushfstring(L, "%s%s%s", path, *path && path[strlen(path) - 1] != ';' ? ";" : "", entries);
        lua_setfield(L, top + 1, "path");
    }
    lua_settop(L, top);
    free(abs);
}

static int run_script(cmdline *c)
{
    lua_State *L = kshot_lua(c->s);
    char **argv = c->argv + c->script;
    const char *fname = argv[0];
    if (strcmp(fname, "-") == 0 && strcmp(argv[-1], "--") != 0) fname = NULL; /* stdin */
    if (fname) add_script_dir(L, fname);
    int st = kshot_load(c->s, fname, -1, NULL);
    if (st == LUA_OK) st = call(c, push_script_args(L), 0);
    return report(c, st);
}

/* LUA_INIT, -e/-l and the script, in that order, until one fails (already
 * reported). 1 when all succeeded. */
static int run_all(cmdline *c)
{
    if (!(c->flags & HAS_NOENV) && handle_init(c) != LUA_OK) return 0;
    if (!run_args(c)) return 0;
    return c->script == c->argc || run_script(c) == LUA_OK;
}

static int pmain(lua_State *L)
{
    cmdline *c = lua_touserdata(L, 1);
    if (c->flags & HAS_V) print_version();
    create_arg_table(L, c);
    int ok = run_all(c);
    if (c->flags & HAS_I) {
        /* unlike lua.c, -i enters the REPL after a failure too (as python -i):
         * after an error or a Ctrl-C in a long script, its globals are there
         * to inspect. The status is then the REPL's (0). */
        c->interrupted = 0;
        kshot_repl(c->s);
    } else if (!ok) {
        return 0;
    } else if (c->script == c->argc && !(c->flags & (HAS_EXEC | HAS_V | HAS_COMPLETE))) {
        if (isatty(STDIN_FILENO)) {
            print_version();
            kshot_repl(c->s);
        } else if (dofile(c, NULL) != LUA_OK) {
            return 0;
        }
    }
    c->ok = 1;
    return 0;
}

int main(int argc, char **argv)
{
    static char *no_args[] = {"kshot", NULL};
    if (argc < 1 || !argv[0]) argc = 1, argv = no_args;
    cmdline c = {.argc = argc, .argv = argv, .script = argc};
    collect_args(&c);
    if (c.flags & HAS_ERROR) {
        print_usage(c.bad);
        return EXIT_FAILURE;
    }
    if (c.flags & HAS_HELP) {
        print_help();
        return EXIT_SUCCESS;
    }
    c.s = kshot_open_ex(c.flags & HAS_NOENV ? KSHOT_IGNORE_ENV : 0);
    if (!c.s) {
        fprintf(stderr, "kshot: cannot create the Lua state: not enough memory\n");
        return EXIT_FAILURE;
    }
    lua_State *L = kshot_lua(c.s);
    lua_pushcfunction(L, pmain);
    lua_pushlightuserdata(L, &c);
    int st = report(&c, kshot_pcall(c.s, 1, 0));
    kshot_close(c.s);
    if (st == LUA_OK && c.ok) return EXIT_SUCCESS;
    return c.interrupted ? EXIT_INTERRUPTED : EXIT_FAILURE;
}
