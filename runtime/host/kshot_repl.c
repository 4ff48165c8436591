/* kshot_repl.c: the interactive loop.
 *
 * As lua.c: each line is first tried as `return <line>` so expressions
 * print; otherwise lines are read while the statement is incomplete (the
 * syntax error ends with "<eof>"). Errors are reported and the loop goes on.
 * On a terminal, libedit gives line editing, tab completion
 * (kshot_complete.c) and a persistent history; otherwise lines are read with
 * getline so the REPL works over a pipe. Ctrl-C at the prompt clears the line
 * (or the unfinished statement); during a statement it interrupts it. */
#include "kshot_host.h"

#include <lauxlib.h>

#include <editline/readline.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define HISTORY_MAX 1000
#define PROMPT_MAX 256
enum { STMT_EOF = -1, STMT_INTR = -2 };

typedef struct repl {
    kshot_state *s;
    lua_State *L;
    int tty;       /* libedit line editing */
    char *history; /* history file; NULL: no history file */
    char *last;    /* last line added to the history (duplicates are skipped) */
    char prompt[PROMPT_MAX];
} repl;

static repl *g_repl; /* for libedit's callbacks */
static volatile sig_atomic_t g_winch;

/* Every non-identifier character breaks words, so libedit's partial word is
 * exactly the one kshot_complete_start finds. */
static char word_breaks[] = " \t\n\"\\'`@$><=;|&{}()[],+-*/%^~#.:!?";

/* ------------------------------------------------------------ reading */
static void on_winch(int sig)
{
    (void)sig;
    g_winch = 1;
}

/* libedit's input function: returns EOF on Ctrl-C so readline() returns and
 * the caller sees the interrupt; applies window resizes itself (libedit's
 * own signal handlers are off: they re-raise SIGINT to the whole process
 * group). SIGWINCH restarts reads, so a resize is applied at the next key. */
static int repl_getc(FILE *f)
{
    unsigned char ch;
    for (;;) {
        if (g_winch) {
            g_winch = 0;
            rl_resize_terminal();
        }
        ssize_t n = read(fileno(f), &ch, 1);
        if (n == 1) return ch;
        if (n == 0 || errno != EINTR || kshot_sigint_pending()) return EOF;
    }
}

typedef enum { LINE_OK, LINE_EOF, LINE_INTR } line_status;

/* One line without its newline (malloc'd) in *out. */
static line_status read_line(repl *r, const char *prompt, char **out)
{
    char *line = NULL;
    kshot_sigint_take();
    if (r->tty) {
        line = readline(prompt);
    } else {
        size_t cap = 0;
        fputs(prompt, stdout);
        fflush(stdout);
        ssize_t n = getline(&line, &cap, stdin);
        if (n < 0) {
            free(line);
            line = NULL;
            clearerr(stdin);
        } else if (n > 0 && line[n - 1] == '\n') {
            line[n - 1] = '\0';
        }
    }
    if (kshot_sigint_take()) {
        free(line);
        fputs("^C\n", stdout);
        fflush(stdout);
        return LINE_INTR;
    }
    if (!line) return LINE_EOF;
    *out = line;
    return LINE_OK;
}

/* _PROMPT / _PROMPT2 (any value, through tostring) or the defaults. */
static const char *get_prompt(repl *r, int first)
{
    lua_State *L = r->L;
    if (lua_getglobal(L, first ? "_PROMPT" : "_PROMPT2") == LUA_TNIL) {
        snprintf(r->prompt, sizeof r->prompt, "%s", first ? "> " : ">> ");
    } else {
        snprintf(r->prompt, sizeof r->prompt, "%s", luaL_tolstring(L, -1, NULL));
        lua_pop(L, 1);
    }
    lua_pop(L, 1);
    return r->prompt;
}

static void history_add(repl *r, const char *line)
{
    if (!r->tty || !line[0] || (r->last && strcmp(r->last, line) == 0)) return;
    add_history(line);
    free(r->last);
    r->last = strdup(line);
    if (r->history) write_history(r->history); /* now: a crash keeps it */
}

/* ------------------------------------------------------------ statements */
/* Is the load error at the top of the stack an unfinished statement? */
static int incomplete(lua_State *L, int st)
{
    static const char mark[] = "<eof>";
    size_t len, mlen = sizeof mark - 1;
    if (st != LUA_ERRSYNTAX) return 0;
    const char *msg = lua_tolstring(L, -1, &len);
    return len >= mlen && strcmp(msg + len - mlen, mark) == 0;
}

/* The line(s) as an expression: pushes the chunk and returns LUA_OK, or
 * pushes nothing and returns the load error. Tried on the first line, and
 * again on a statement of several lines once it is complete (lua.c tries
 * only the first line), so a call or table spread over lines prints too. */
static int load_expression(repl *r, const char *line)
{
    lua_State *L = r->L;
    if (line[0] == '=') line++; /* Lua 5.2's "=expr" */
    const char *code = lua_pushfstring(L, "return %s;", line);
    int st = luaL_loadbuffer(L, code, strlen(code), "=stdin");
    lua_remove(L, -2);
    if (st != LUA_OK) lua_pop(L, 1);
    return st;
}

/* Read one statement: pushes its chunk and returns LUA_OK, or returns a
 * load error (message recorded), STMT_EOF or STMT_INTR. */
static int read_statement(repl *r)
{
    lua_State *L = r->L;
    char *line;
    line_status ls = read_line(r, get_prompt(r, 1), &line);
    if (ls != LINE_OK) return ls == LINE_EOF ? STMT_EOF : STMT_INTR;
    int st = load_expression(r, line);
    if (st == LUA_OK) {
        history_add(r, line);
        free(line);
        return LUA_OK;
    }
    lua_pushstring(L, line);
    free(line);
    for (;;) { /* stack: the statement so far */
        size_t len;
        const char *code = lua_tolstring(L, -1, &len);
        st = luaL_loadbuffer(L, code, len, "=stdin");
        if (incomplete(L, st)) {
            ls = read_line(r, get_prompt(r, 0), &line);
            if (ls == LINE_OK) {
                lua_pop(L, 1); /* the <eof> message */
                lua_pushliteral(L, "\n");
                lua_pushstring(L, line);
                free(line);
                lua_concat(L, 3);
                continue;
            }
            if (ls == LINE_INTR) {
                lua_pop(L, 2);
                return STMT_INTR;
            }
        }
        history_add(r, code);
        if (st == LUA_OK && load_expression(r, code) == LUA_OK) lua_remove(L, -2); /* the expression */
        lua_remove(L, -2);
        return st == LUA_OK ? LUA_OK : kshot_fail(r->s, st);
    }
}

/* A call with Ctrl-C armed. */
static int run(repl *r, int narg, int nres)
{
    kshot_sigint_run(r->s);
    int st = kshot_pcall(r->s, narg, nres);
    kshot_sigint_prompt(r->s);
    return st;
}

/* A plain table (no __tostring or __name) as require("kshot.pretty").format
 * gives it, pushed on the stack; 0 (nothing pushed) when it is not a plain
 * table or the formatter is not there, so the caller falls back to tostring. */
static int push_pretty(lua_State *L, int i)
{
    int top = lua_gettop(L);
    if (lua_type(L, i) != LUA_TTABLE || luaL_getmetafield(L, i, "__tostring") != LUA_TNIL ||
        luaL_getmetafield(L, i, "__name") != LUA_TNIL)
        goto fallback;
    lua_getglobal(L, "require");
    lua_pushliteral(L, "kshot.pretty");
    if (lua_pcall(L, 1, 1, 0) != LUA_OK || lua_getfield(L, -1, "format") != LUA_TFUNCTION) goto fallback;
    lua_pushvalue(L, i);
    if (lua_pcall(L, 1, 1, 0) != LUA_OK || lua_type(L, -1) != LUA_TSTRING) goto fallback;
    lua_replace(L, top + 1); /* the string where the module was */
    lua_settop(L, top + 1);
    return 1;
fallback:
    lua_settop(L, top);
    return 0;
}

/* The results of an expression: the first becomes the global `_` (the last
 * result, as in Python's REPL; a raw set, so a strict-globals metatable
 * does not refuse it), then all are printed. */
static int show_results(lua_State *L)
{
    int n = lua_gettop(L);
    lua_pushglobaltable(L);
    lua_pushliteral(L, "_");
    lua_pushvalue(L, 1);
    lua_rawset(L, -3);
    lua_pop(L, 1);
    for (int i = 1; i <= n; i++) {
        size_t len;
        const char *s = push_pretty(L, i) ? lua_tolstring(L, -1, &len) : luaL_tolstring(L, i, &len);
        if (i > 1) fputc('\t', stdout);
        fwrite(s, 1, len, stdout);
        lua_pop(L, 1);
    }
    fputc('\n', stdout);
    fflush(stdout);
    return 0;
}

static void report(repl *r, int st)
{
    if (st == LUA_OK) return;
    fflush(stdout);
    fprintf(stderr, "%s\n", kshot_last_error(r->s));
    fflush(stderr);
}

/* Run the chunk at the top and print its results (tab-separated, through
 * tostring so tensors pretty-print; the first is kept in `_`). */
static void execute(repl *r)
{
    lua_State *L = r->L;
    int base = lua_gettop(L) - 1;
    int st = run(r, 0, LUA_MULTRET);
    int n = lua_gettop(L) - base;
    if (st == LUA_OK && n > 0) {
        luaL_checkstack(L, 1, "too many results to print");
        lua_pushcfunction(L, show_results);
        lua_insert(L, base + 1);
        st = run(r, n, 0);
    }
    report(r, st);
}

/* ------------------------------------------------------------ completion */
/* readline's convention: [0] the common prefix that replaces the word, then
 * the candidates, NULL-terminated; a single candidate is alone in [0]. */
static char **to_matches(lua_State *L, int idx)
{
    size_t n = lua_rawlen(L, idx), lcp = 0;
    if (n == 0) return NULL;
    char **m = calloc(n + 2, sizeof *m);
    if (!m) return NULL;
    const char *first = NULL; /* strings stay anchored by the array */
    int ok = 1;
    for (size_t i = 1; i <= n; i++) {
        lua_rawgeti(L, idx, (lua_Integer)i);
        const char *s = lua_tostring(L, -1);
        lua_pop(L, 1);
        if (i == 1) first = s, lcp = strlen(s);
        while (lcp > 0 && strncmp(s, first, lcp) != 0) lcp--;
        if (n > 1 && !(m[i] = strdup(s))) ok = 0;
    }
    if (!(m[0] = strndup(first, lcp))) ok = 0;
    if (!ok) {
        for (size_t i = 0; i <= n; i++) free(m[i]);
        free(m);
        return NULL;
    }
    return m;
}

static char **repl_complete(const char *text, int start, int end)
{
    (void)text;
    (void)start;
    rl_attempted_completion_over = 1; /* no file-name completion */
    lua_State *L = g_repl->L;
    char *line = strndup(rl_line_buffer, (size_t)end);
    if (!line || !lua_checkstack(L, 4)) {
        free(line);
        return NULL;
    }
    lua_pushcfunction(L, kshot_complete_cfn);
    lua_pushlightuserdata(L, line);
    int st = lua_pcall(L, 1, 1, 0);
    free(line);
    char **m = st == LUA_OK ? to_matches(L, -1) : NULL;
    lua_pop(L, 1);
    return m;
}

/* ------------------------------------------------------------ set-up */
static void editing_init(repl *r)
{
    rl_readline_name = "kshot"; /* for "kshot:" lines in ~/.editrc */
    rl_catch_signals = 0;
    rl_getc_function = repl_getc;
    rl_attempted_completion_function = repl_complete;
    rl_basic_word_break_characters = word_breaks;
    rl_completer_word_break_characters = word_breaks;
    rl_completion_append_character = '\0';

    const char *env = getenv("KSHOT_HISTORY"), *home = getenv("HOME");
    if (env) r->history = *env ? strdup(env) : NULL;
    else if (home && *home && asprintf(&r->history, "%s/.kshot_history", home) < 0) r->history = NULL;
    using_history();
    stifle_history(HISTORY_MAX);
    if (r->history) read_history(r->history);

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_winch;
    sa.sa_flags = SA_RESTART; /* never make a running statement's read fail */
    sigemptyset(&sa.sa_mask);
    sigaction(SIGWINCH, &sa, NULL);
}

static void editing_end(repl *r)
{
    signal(SIGWINCH, SIG_DFL);
    free(r->history);
    free(r->last);
}

/* global `name` = require(module), unless the user already defined it */
static void define_global(kshot_state *s, const char *name, const char *module)
{
    lua_State *L = kshot_lua(s);
    int defined = lua_getglobal(L, name) != LUA_TNIL;
    lua_pop(L, 1);
    if (defined) return;
    lua_getglobal(L, "require");
    lua_pushstring(L, module);
    if (kshot_pcall(s, 1, 1) == LUA_OK) {
        lua_setglobal(L, name);
    } else {
        fprintf(stderr, "kshot: warning: `%s` is not defined: %s\n", name, kshot_last_error(s));
        fflush(stderr);
    }
}

void kshot_repl_define_globals(kshot_state *s)
{
    define_global(s, "ks", "kshot");
    define_global(s, "help", "kshot.help");
}

void kshot_repl(kshot_state *s)
{
    repl r = {.s = s, .L = kshot_lua(s), .tty = isatty(STDIN_FILENO)};
    lua_State *L = r.L;
    int top = lua_gettop(L);
    g_repl = &r;
    kshot_repl_define_globals(s);
    if (r.tty) {
        editing_init(&r);
        printf("ks = require \"kshot\" is loaded (indices are 0-based). help() documents, Tab completes, "
               "Ctrl-C interrupts, Ctrl-D exits.\n");
    }
    kshot_sigint_prompt(s);
    for (;;) {
        lua_settop(L, top);
        int st = read_statement(&r);
        if (st == STMT_EOF) break;
        if (st == STMT_INTR) continue;
        if (st == LUA_OK) execute(&r);
        else report(&r, st);
    }
    lua_settop(L, top);
    fputc('\n', stdout);
    fflush(stdout);
    kshot_sigint_default();
    if (r.tty) editing_end(&r);
    g_repl = NULL;
}
