-- embed_spec.lua: the embedding API (runtime/host/kshot.h). Builds
-- runtime/host/examples/embed_example.c and a test program against
-- <build>/libkshot.a + liblua5.4.a with the Makefile's flags, runs them and
-- checks their output. <build> is the folder of the binary
-- spec/helpers/host_process.lua names ($KSHOT_BIN, ...).

local H = require "spec.helpers.host_process"
local KSHOT, q, slurp, tmpname = H.KSHOT, H.q, H.slurp, H.tmpname
local BUILD = KSHOT:match("^(.*)/[^/]*$") or "."
local LUA_LIB = os.getenv("LUA_LIB") or "/usr/lib/x86_64-linux-gnu/liblua5.4.a"
local CFLAGS = "-std=c11 -D_GNU_SOURCE -pthread -Wall -Wextra -Werror -Wno-unused-parameter -O2 -Iruntime/host"
local LIBS = "-lopenblas -ljansson -lpng -ljpeg -lz -lm -lpthread -ldl"

-- compile `source` (a path) into a fresh executable; returns its path
local function build(source)
  local exe, log = tmpname(), tmpname()
  local cmd = string.format("cc %s -o %s %s %s %s %s >%s 2>&1", CFLAGS, q(exe), q(source),
                            q(BUILD .. "/libkshot.a"), q(LUA_LIB), LIBS, q(log))
  local ok = os.execute(cmd)
  assert(ok, "compiling " .. source .. " failed:\n" .. slurp(log))
  return exe
end

-- run a program with a clean environment; returns stdout, stderr, status
local function run(exe, args)
  local out, err = tmpname(), tmpname()
  local _, how, code = os.execute(string.format("env -u LUA_INIT -u LUA_INIT_5_4 %s %s </dev/null >%s 2>%s",
                                                q(exe), args or "", q(out), q(err)))
  assert(how == "exit", "the program was killed by signal " .. tostring(code) .. ":\n" .. slurp(err))
  return slurp(out), slurp(err), code
end

teardown(H.cleanup)

-- Exercises every function of kshot.h; prints one line per check.
local API_TEST = [==[
#include "kshot.h"

#include <lauxlib.h>
#include <lua.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static int fails;
static void check(int cond, const char *what)
{
    printf("%s %s\n", cond ? "ok" : "FAIL", what);
    if (!cond) fails++;
}

static int has(const char *s, const char *part) { return s && strstr(s, part) != NULL; }

static volatile int g_running;

static void *interrupter(void *arg)
{
    /* wait until the script says it is running, then interrupt it */
    kshot_state *s = arg;
    while (!g_running) usleep(1000);
    usleep(100000);
    ks_interrupt(s); /* the alias of kshot_interrupt */
    return NULL;
}

static int mark_running(lua_State *L)
{
    (void)L;
    g_running = 1;
    return 0;
}

static int run_interrupted(kshot_state *s, const char *code)
{
    pthread_t th;
    g_running = 0;
    pthread_create(&th, NULL, interrupter, s);
    int st = kshot_run_string(s, code);
    pthread_join(th, NULL);
    return st;
}

int main(int argc, char **argv)
{
    kshot_state *s = kshot_open();
    check(s != NULL, "kshot_open");
    check(kshot_last_error(s) == NULL, "no error before any run");

    check(kshot_run_string(s, "x = 41") == KSHOT_OK, "run_string ok");
    check(kshot_last_error(s) == NULL, "no error after success");
    check(kshot_run_string(s, "assert(x == 41); assert(ks == nil)") == KSHOT_OK, "globals persist, no global ks");
    check(kshot_run_string(s, "local ks = require 'kshot'; assert(ks.ones(3):sum():item() == 3)") == KSHOT_OK,
          "kshot preloaded");

    int st = kshot_run_string(s, "x = = 1");
    check(st == LUA_ERRSYNTAX, "syntax error status");
    check(has(kshot_last_error(s), "unexpected symbol"), "syntax error message");

    st = kshot_run_string(s, "local function f() error('deep failure') end f()");
    check(st == LUA_ERRRUN, "runtime error status");
    check(has(kshot_last_error(s), "deep failure") && has(kshot_last_error(s), "stack traceback"),
          "runtime error message with traceback");

    st = kshot_run_string(s, "error(setmetatable({}, {__tostring = function() return 'my object' end}))");
    check(st == LUA_ERRRUN && has(kshot_last_error(s), "my object"), "error object __tostring");

    st = kshot_run_string(s, "local ks = require 'kshot'; return ks.ones(2, 3) + ks.ones(4, 5)");
    check(st == LUA_ERRRUN && has(kshot_last_error(s), "[2, 3]") && has(kshot_last_error(s), "[4, 5]"),
          "kshot errors come back as messages");

    check(kshot_run_file(s, "/nonexistent/file.lua") == LUA_ERRFILE, "missing file status");
    check(has(kshot_last_error(s), "cannot open /nonexistent/file.lua"), "missing file message");
    check(kshot_run_file(s, argv[1]) == KSHOT_OK, "run_file ok");
    check(kshot_run_string(s, "assert(from_file == 'yes')") == KSHOT_OK, "run_file ran the file");

    /* the Lua state is usable directly */
    lua_State *L = kshot_lua(s);
    lua_pushcfunction(L, mark_running);
    lua_setglobal(L, "mark_running");
    lua_pushinteger(L, 5);
    lua_setglobal(L, "from_c");
    check(kshot_run_string(s, "assert(from_c == 5)") == KSHOT_OK, "kshot_lua");

    /* interrupts from another thread: a Lua loop, then a native kernel in a
     * coroutine (where the Lua hook does not reach) */
    st = run_interrupted(s, "mark_running() while true do end");
    check(st == LUA_ERRRUN && has(kshot_last_error(s), "interrupted!"), "interrupt a Lua loop");
    check(kshot_run_string(s, "y = 1") == KSHOT_OK, "runs again after an interrupt");
    st = run_interrupted(s,
        "local ks = require 'kshot'; local a = ks.ones(1000, 1000)\n"
        "local co = coroutine.wrap(function()\n"
        "  local ok, err = pcall(function() mark_running() while true do a = a + 0 end end)\n"
        "  caught = err\n"
        "end)\n"
        "co()\n");
    check(st == LUA_ERRRUN && has(kshot_last_error(s), "interrupted!"), "interrupt a kernel loop");
    check(kshot_run_string(s, "assert(tostring(caught):find('interrupted!'))") == KSHOT_OK,
          "the kernel itself stopped (kshot context flag)");

    /* an interrupt requested while nothing runs is discarded */
    kshot_interrupt(s);
    check(kshot_run_string(s, "for i = 1, 1000 do end") == KSHOT_OK, "stale interrupt discarded");

    /* two states are independent */
    kshot_state *s2 = kshot_open_ex(KSHOT_IGNORE_ENV);
    check(s2 != NULL, "kshot_open_ex");
    check(kshot_run_string(s2, "assert(x == nil); local ks = require 'kshot'; t = ks.ones(2)") == KSHOT_OK,
          "second state is separate");
    kshot_interrupt(s);
    check(kshot_run_string(s2, "for i = 1, 100000 do end") == KSHOT_OK, "interrupting one state spares the other");
    kshot_close(s2);

    /* NULL arguments are errors, not crashes */
    check(kshot_run_string(NULL, "x = 1") != KSHOT_OK, "run_string on a NULL state");
    check(kshot_run_file(NULL, "x.lua") != KSHOT_OK, "run_file on a NULL state");
    check(strstr(kshot_last_error(NULL), "NULL") != NULL, "last_error of a NULL state says so");
    check(kshot_lua(NULL) == NULL, "kshot_lua(NULL)");
    kshot_interrupt(NULL);
    check(kshot_run_string(s, NULL) != KSHOT_OK, "NULL code fails");
    check(strstr(kshot_last_error(s), "code is NULL") != NULL, "and says why");
    check(kshot_run_string(s, "y = 2") == KSHOT_OK && kshot_last_error(s) == NULL, "the state still runs");

    kshot_close(s);
    kshot_close(NULL);
    printf("%d failures\n", fails);
    return fails != 0;
}
]==]

-- Tensors across kshot.h: in from a C buffer, through a script, out again;
-- the wrong uses fail with a message and leave the stack as it was.
local TENSOR_TEST = [==[
#include "kshot.h"

#include <lua.h>
#include <stdio.h>
#include <string.h>

static int fails;
static void check(int cond, const char *what)
{
    printf("%s %s\n", cond ? "ok" : "FAIL", what);
    if (!cond) fails++;
}

static int has(const char *s, const char *part) { return s && strstr(s, part) != NULL; }

int main(void)
{
    kshot_state *s = kshot_open(); /* no require "kshot" yet: the push loads it */
    lua_State *L = kshot_lua(s);
    int64_t sizes[2] = {2, 3};
    float in[6] = {1, 2, 3, 4, 5, 6}, out[6] = {0};
    check(kshot_push_tensor(s, KSHOT_FLOAT32, 2, sizes, in) == KSHOT_OK && lua_gettop(L) == 1, "push");
    in[0] = 100; /* a copy: the caller's buffer is its own */
    lua_setglobal(L, "x");
    check(kshot_run_string(s, "y = (x * 2):t(); assert(x[{0, 0}]:item() == 1)") == KSHOT_OK, "scripts use it");

    lua_getglobal(L, "y");
    kshot_dtype dt = KSHOT_BOOL;
    int nd = 0;
    int64_t sz[KSHOT_MAX_DIMS] = {0};
    check(kshot_tensor_shape(s, -1, &dt, &nd, sz) == KSHOT_OK, "shape");
    check(dt == KSHOT_FLOAT32 && nd == 2 && sz[0] == 3 && sz[1] == 2, "dtype float32, sizes [3, 2]");
    check(kshot_tensor_read(s, -1, out, sizeof out) == KSHOT_OK, "read");
    check(out[0] == 2 && out[1] == 8 && out[2] == 4 && out[3] == 10 && out[4] == 6 && out[5] == 12,
          "a transposed view is read in C order");
    out[0] = -1;
    check(kshot_tensor_read(s, -1, out, 8) != KSHOT_OK && out[0] == -1, "a small buffer is refused, untouched");
    check(has(kshot_last_error(s), "holds 8 bytes, the tensor needs 24"), "and says the sizes");
    check(lua_gettop(L) == 1, "the stack is unchanged");
    lua_pop(L, 1);

    int64_t labels[3] = {0, 2, 1};
    int64_t n3 = 3;
    check(kshot_push_tensor(s, KSHOT_INT64, 1, &n3, labels) == KSHOT_OK, "push int64");
    lua_setglobal(L, "lab");
    unsigned char px[4] = {0, 255, 7, 9};
    int64_t hw[2] = {2, 2};
    check(kshot_push_tensor(s, KSHOT_UINT8, 2, hw, px) == KSHOT_OK, "push uint8");
    lua_setglobal(L, "img");
    check(kshot_run_string(s, "assert(lab:dtype() == 'int64' and lab[1]:item() == 2);"
                              "assert(img:dtype() == 'uint8' and img[{0, 1}]:item() == 255);"
                              "mask = img:gt(8)") == KSHOT_OK, "int64 and uint8 arrive as such");
    lua_getglobal(L, "mask");
    unsigned char m[4] = {9, 9, 9, 9};
    check(kshot_tensor_shape(s, -1, &dt, NULL, NULL) == KSHOT_OK && dt == KSHOT_BOOL, "bool out");
    check(kshot_tensor_read(s, -1, m, sizeof m) == KSHOT_OK && m[0] == 0 && m[1] == 1 && m[2] == 0 && m[3] == 1,
          "bool elements are 0 or 1");
    lua_pop(L, 1);

    int64_t seven = 7;
    check(kshot_push_tensor(s, KSHOT_INT64, 0, NULL, &seven) == KSHOT_OK, "a scalar (ndim 0)");
    check(kshot_tensor_shape(s, -1, NULL, &nd, NULL) == KSHOT_OK && nd == 0, "has ndim 0");
    lua_pop(L, 1);
    int64_t zero = 0;
    check(kshot_push_tensor(s, KSHOT_FLOAT32, 1, &zero, NULL) == KSHOT_OK, "an empty tensor needs no data");
    lua_pop(L, 1);

    /* wrong uses: a message, nothing pushed */
    int64_t neg = -1;
    check(kshot_push_tensor(s, KSHOT_FLOAT32, 1, &neg, in) != KSHOT_OK && lua_gettop(L) == 0, "negative size");
    check(has(kshot_last_error(s), "negative size -1"), "names the size");
    check(kshot_push_tensor(s, (kshot_dtype)9, 1, &n3, in) != KSHOT_OK && has(kshot_last_error(s), "unknown dtype 9"),
          "unknown dtype");
    check(kshot_push_tensor(s, KSHOT_FLOAT32, 9, sizes, in) != KSHOT_OK && has(kshot_last_error(s), "ndim must be"),
          "too many dims");
    check(kshot_push_tensor(s, KSHOT_FLOAT32, 1, &n3, NULL) != KSHOT_OK && has(kshot_last_error(s), "data is NULL"),
          "NULL data");
    lua_pushinteger(L, 5);
    check(kshot_tensor_shape(s, -1, &dt, &nd, sz) != KSHOT_OK && has(kshot_last_error(s), "got number"),
          "not a tensor");
    check(kshot_tensor_read(s, -1, out, sizeof out) != KSHOT_OK && lua_gettop(L) == 1, "read of a number fails");
    lua_pop(L, 1);
    check(kshot_run_string(s, "released = require('kshot').ones(2); released:close()") == KSHOT_OK, "close");
    lua_getglobal(L, "released");
    check(kshot_tensor_read(s, -1, out, sizeof out) != KSHOT_OK && has(kshot_last_error(s), "released"),
          "a released tensor");
    lua_pop(L, 1);
    check(kshot_push_tensor(NULL, KSHOT_FLOAT32, 1, &n3, in) != KSHOT_OK, "NULL state");
    check(kshot_run_string(s, "z = 1") == KSHOT_OK && lua_gettop(L) == 0, "the state still runs");

    kshot_close(s);
    printf("%d failures\n", fails);
    return fails != 0;
}
]==]

describe("embedding API", function()
  it("builds and runs runtime/host/examples/embed_example.c", function()
    local exe = build("runtime/host/examples/embed_example.c")
    local out, err, code = run(exe)
    assert.are.equal(0, code, err)
    assert.truthy(out:find("^sum = 10%.0\n"), out)
    assert.truthy(out:find("error status 2\n", 1, true), out)
    assert.truthy(out:find("no such layer: Conv5d", 1, true), out)
    assert.truthy(out:find("stack traceback:", 1, true), out)
  end)

  it("keeps every promise of kshot.h", function()
    local src = tmpname() .. ".c"
    H.track(src)
    local f = assert(io.open(src, "w"))
    f:write(API_TEST)
    f:close()
    local lua = tmpname()
    f = assert(io.open(lua, "w"))
    f:write("from_file = 'yes'\n")
    f:close()
    -- the test program needs Lua's headers too
    local saved = CFLAGS
    CFLAGS = CFLAGS .. " -I/usr/include/lua5.4"
    local ok, exe = pcall(build, src)
    CFLAGS = saved
    assert(ok, exe)
    local out, err, code = run(exe, q(lua))
    assert.are.equal(0, code, out .. err)
    assert.falsy(out:find("FAIL", 1, true), out)
    assert.truthy(out:find("0 failures\n", 1, true), out)
  end)

  it("passes tensors in and out as copies of C buffers (kshot_push_tensor, kshot_tensor_shape/read)", function()
    local src = tmpname() .. ".c"
    H.track(src)
    local f = assert(io.open(src, "w"))
    f:write(TENSOR_TEST)
    f:close()
    local saved = CFLAGS
    CFLAGS = CFLAGS .. " -I/usr/include/lua5.4"
    local ok, exe = pcall(build, src)
    CFLAGS = saved
    assert(ok, exe)
    local out, err, code = run(exe)
    assert.are.equal(0, code, out .. err)
    assert.falsy(out:find("FAIL", 1, true), out)
    assert.truthy(out:find("0 failures\n", 1, true), out)
  end)
end)
