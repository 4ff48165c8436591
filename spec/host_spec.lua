-- host_spec.lua: the `kshot` executable (runtime/host): lua.c-compatible
-- command line, errors and exit statuses, REPL over a pipe, completion,
-- Ctrl-C. Runs the binary spec/helpers/host_process.lua names ($KSHOT_BIN, ...).

local H = require "spec.helpers.host_process"
local KSHOT, q, slurp, spit, tmpname, run, script = H.KSHOT, H.q, H.slurp, H.spit, H.tmpname, H.run, H.script

-- Start `kshot <args>` in the background, wait until it writes "ready" on
-- stderr, send SIGINT, and return stdout, stderr, exit code. A watchdog
-- kills it after 60 s so a broken interrupt fails instead of hanging.
local function run_and_interrupt(args, stdin_cmd)
  local out, err = tmpname(), tmpname()
  local sh = string.format([[
%s %s %s >%s 2>%s &
pid=$!
( sleep 60; kill -KILL $pid ) >/dev/null 2>&1 &
dog=$!
i=0
while ! grep -q ready %s && [ $i -lt 600 ]; do sleep 0.05; i=$((i+1)); done
sleep 0.3
kill -INT $pid
wait $pid
echo $? >%s.rc
kill $dog 2>/dev/null
exit 0]], stdin_cmd and (stdin_cmd .. " |") or "", q(KSHOT), args, q(out), q(err), q(err), q(out))
  os.execute(sh)
  local rc = tonumber(slurp(out .. ".rc"))
  os.remove(out .. ".rc")
  return slurp(out), slurp(err), rc
end

teardown(H.cleanup)

describe("kshot host: command line", function()
  it("gives the script arg[0], options at negative indices, args at 1..n and as varargs", function()
    local s = script([[
print(arg[-3] ~= nil, arg[-2], arg[-1], arg[0] == THIS, arg[1], arg[2], #arg)
print(select('#', ...), ...)
]])
    local out, err, code = run("-e " .. q("THIS=" .. string.format("%q", s)) .. " " .. q(s) .. " a 'b c'")
    assert.are.equal(0, code, err)
    assert.are.equal("true\t-e\tTHIS=" .. string.format("%q", s) .. "\ttrue\ta\tb c\t2\n2\ta\tb c\n", out)
  end)

  it("puts the interpreter at arg[0] and the options at 1..n when there is no script", function()
    local out = run("-e 'print(arg[0], arg[1], arg[2], arg[-1])'")
    assert.are.equal(KSHOT .. "\t-e\tprint(arg[0], arg[1], arg[2], arg[-1])\tnil\n", out)
  end)

  it("runs -e and -l in command-line order", function()
    local out, err, code = run("-e 'io.write(1)' -l s=string -e 'io.write(2, tostring(s == string))' -l lfs -e 'print(type(lfs))'")
    assert.are.equal(0, code, err)
    assert.are.equal("12truetable\n", out)
  end)

  it("accepts -e with its argument attached (-estat)", function()
    assert.are.equal("7\n", (run("'-eprint(7)'")))
  end)

  it("-v prints kshot's version and Lua's", function()
    local out, _, code = run("-v")
    assert.are.equal(0, code)
    assert.truthy(out:match("^kshot %d+%.%d+%.%d+"), out)
    assert.truthy(out:find("Lua 5.4", 1, true), out)
  end)

  it("--help explains kshot, the options, the REPL, the environment and 0-based indexing", function()
    local out, _, code = run("--help")
    assert.are.equal(0, code)
    for _, word in ipairs({"kshot", "usage:", "-e stat", "-l g=mod", "-i", "-E", "-W", "KSHOT_LUA_DIR",
                           "KSHOT_HISTORY", "LUA_INIT", "0-based", "Tab", "Ctrl-C", "ks = require \"kshot\""}) do
      assert.truthy(out:find(word, 1, true), "--help lacks " .. word)
    end
  end)

  it("every script in scripts/ answers --help with its usage, and rejects an unknown option, without running", function()
    local lfs = require "lfs"
    local n = 0
    for f in lfs.dir("scripts") do
      if f:match("%.lua$") then
        n = n + 1
        local out, err, code = run(q("scripts/" .. f) .. " --help")
        assert.are.equal(0, code, f .. ": " .. err)
        assert.truthy(out:find("Usage: " .. f, 1, true), f .. " --help printed: " .. out)
        local _, err2, code2 = run(q("scripts/" .. f) .. " --no-such-option")
        assert.are.equal(2, code2, f)
        assert.truthy(err2:find("unknown option '--no-such-option'", 1, true), f .. ": " .. err2)
        -- an output file in a folder that does not exist is refused before anything runs
        if out:find("--json <file>", 1, true) then
          local _, err3, code3 = run(q("scripts/" .. f) .. " --json /nonexistent_kshot_dir/x.json")
          assert.are.equal(2, code3, f .. ": " .. err3)
          assert.truthy(err3:find("folder '/nonexistent_kshot_dir' does not exist", 1, true), f .. ": " .. err3)
        end
      end
    end
    assert.is_true(n >= 7, "scripts found: " .. n)
  end)

  it("runs the standard input for '-', with arguments", function()
    local out, err, code = run("- a b", "print('stdin', ...)")
    assert.are.equal(0, code, err)
    assert.are.equal("stdin\ta\tb\n", out)
  end)

  it("runs the standard input when there is no script and it is not a terminal", function()
    assert.are.equal("piped\n", (run("", "print('piped')")))
  end)

  it("stops handling options at --", function()
    local s = script("print(...)")
    local out, err, code = run("-- " .. q(s) .. " -e x")
    assert.are.equal(0, code, err)
    assert.are.equal("-e\tx\n", out)
  end)

  it("rejects unknown options and missing arguments with the usage and status 1", function()
    local out, err, code = run("-x")
    assert.are.equal(1, code)
    assert.are.equal("", out)
    assert.truthy(err:find("unrecognized option '-x'", 1, true), err)
    assert.truthy(err:find("usage: kshot", 1, true), err)
    _, err, code = run("-e")
    assert.are.equal(1, code)
    assert.truthy(err:find("'-e' needs argument", 1, true), err)
    _, err, code = run("-l")
    assert.are.equal(1, code)
    assert.truthy(err:find("'-l' needs argument", 1, true), err)
    _, err, code = run("--nope")
    assert.are.equal(1, code)
    assert.truthy(err:find("unrecognized option '--nope'", 1, true), err)
    _, err, code = run("-vx")
    assert.are.equal(1, code)
  end)

  it("runs LUA_INIT_5_4 (preferred) or LUA_INIT, as code or @file, unless -E", function()
    assert.are.equal("init\n1\n", (run("-e 'print(1)'", nil, "LUA_INIT='print(\"init\")'")))
    assert.are.equal("i54\n1\n", (run("-e 'print(1)'", nil, "LUA_INIT='print(1/0)' LUA_INIT_5_4='print(\"i54\")'")))
    local f = script("print('from file')")
    assert.are.equal("from file\n", (run("-e ''", nil, "LUA_INIT=@" .. q(f))))
    assert.are.equal("1\n", (run("-E -e 'print(1)'", nil, "LUA_INIT='print(\"init\")'")))
    local _, err, code = run("-e 'print(1)'", nil, "LUA_INIT='error(\"bad init\")'")
    assert.are.equal(1, code)
    assert.truthy(err:find("kshot: LUA_INIT:1: bad init", 1, true), err)
  end)

  it("-E ignores LUA_PATH", function()
    local probe = "-e 'print(package.path:find(\"/nowhere/\", 1, true) ~= nil)'"
    assert.are.equal("true\n", (run(probe, nil, "LUA_PATH='/nowhere/?.lua'")))
    assert.are.equal("false\n", (run("-E " .. probe, nil, "LUA_PATH='/nowhere/?.lua'")))
  end)

  it("-W turns warnings on", function()
    local _, err = run("-e 'warn(\"hello\")'")
    assert.are.equal("", err)
    _, err = run("-W -e 'warn(\"hello\")'")
    assert.truthy(err:find("Lua warning: hello", 1, true), err)
  end)
end)

describe("kshot host: errors and exit statuses", function()
  it("exits 0 on success and with os.exit's status", function()
    assert.are.equal(0, select(3, run("-e 'x = 1'")))
    assert.are.equal(3, select(3, run("-e 'os.exit(3)'")))
    assert.are.equal(1, select(3, run("-e 'os.exit(false)'")))
  end)

  it("prints 'kshot: <msg>' and a traceback on stderr and exits 1", function()
    local s = script("local function inner() error('boom') end\nlocal function outer() inner() end\nouter()\n")
    local out, err, code = run(q(s))
    assert.are.equal(1, code)
    assert.are.equal("", out)
    assert.truthy(err:find("kshot: " .. s .. ":1: boom", 1, true), err)
    assert.truthy(err:find("stack traceback:", 1, true), err)
    assert.truthy(err:find("in local 'inner'", 1, true) or err:find("in upvalue 'inner'", 1, true), err)
    assert.truthy(err:find("in main chunk", 1, true), err)
  end)

  it("converts error objects with __tostring, and names other non-string objects", function()
    local _, err, code = run("-e 'error(setmetatable({}, {__tostring = function() return \"custom object\" end}))'")
    assert.are.equal(1, code)
    assert.truthy(err:find("kshot: custom object", 1, true), err)
    assert.truthy(err:find("stack traceback:", 1, true), err)
    _, err, code = run("-e 'error({})'")
    assert.are.equal(1, code)
    assert.truthy(err:find("kshot: (error object is a table value)", 1, true), err)
    _, err = run("-e 'error()'")
    assert.truthy(err:find("(error object is a nil value)", 1, true), err)
  end)

  it("reports syntax errors and missing files with status 1", function()
    local _, err, code = run("-e 'x = = 1'")
    assert.are.equal(1, code)
    assert.truthy(err:find("kshot: (command line):1: unexpected symbol near '='", 1, true), err)
    _, err, code = run("/nonexistent/script.lua")
    assert.are.equal(1, code)
    assert.truthy(err:find("kshot: cannot open /nonexistent/script.lua", 1, true), err)
  end)

  it("stops at the first failing -e and does not run the script", function()
    local s = script("print('script ran')")
    local out, _, code = run("-e 'print(1)' -e 'error(\"stop\")' -e 'print(2)' " .. q(s))
    assert.are.equal(1, code)
    assert.are.equal("1\n", out)
  end)

  it("reports a module that cannot be found by -l", function()
    local _, err, code = run("-l no_such_module_xyz")
    assert.are.equal(1, code)
    assert.truthy(err:find("module 'no_such_module_xyz' not found", 1, true), err)
  end)
end)

describe("kshot host: modules", function()
  it("preloads kshot without defining a global in scripts", function()
    local out, err, code = run("-e 'local ks = require \"kshot\"; print(ks == package.loaded.kshot, ks == require(\"kshot\"), rawget(_G, \"ks\"))'")
    assert.are.equal(0, code, err)
    assert.are.equal("true\ttrue\tnil\n", out)
  end)

  it("finds the user's modules next to the script from any working directory", function()
    local dir = tmpname()
    os.remove(dir)
    assert(os.execute("mkdir -p " .. q(dir .. "/pkg")))
    spit(dir .. "/mymod.lua", "return {name = 'mymod'}")
    spit(dir .. "/pkg/init.lua", "return {name = 'pkg'}")
    spit(dir .. "/main.lua", "print(require('mymod').name, require('pkg').name)\nio.stderr:write(package.path)")
    local out, err, code = run("-e 'require\"lfs\".chdir(\"/\")' " .. q(dir .. "/main.lua"))
    os.execute("rm -rf " .. q(dir))
    assert.are.equal(0, code, err)
    assert.are.equal("mymod\tpkg\n", out)
    -- the folder (absolute) comes right before the working directory's "./?.lua",
    -- after kshot's and the installed modules
    assert.truthy(err:find(";" .. dir .. "/?.lua;" .. dir .. "/?/init.lua;./?.lua;", 1, true), err)
    local plain = run("-e 'io.write(package.path)'") -- no script: lua.c's path
    assert.are.equal(select(2, err:gsub(";", "")), select(2, plain:gsub(";", "")) + 2)
  end)

  it("loads C modules such as LuaFileSystem (Lua API exported)", function()
    local out, err, code = run("-e 'local lfs = require \"lfs\"; print(type(lfs.currentdir()), lfs.attributes(\"/\", \"mode\"))'")
    assert.are.equal(0, code, err)
    assert.are.equal("string\tdirectory\n", out)
  end)

  it("sets the registry's kshot.home to the folder of the executable", function()
    local p = io.popen("readlink -f " .. q(KSHOT))
    local real = p:read("l")
    p:close()
    local dir = real:match("^(.*)/[^/]*$")
    local out = run("-e 'print(debug.getregistry()[\"kshot.home\"])'")
    assert.are.equal(dir .. "\n", out)
  end)

  it("puts its Lua modules' folder on package.path as a canonical path (tracebacks name files plainly)", function()
    local out, err, code = run("-E -e 'io.write(package.path)'")
    assert.are.equal(0, code, err)
    local dir = out:match("^([^;]*)/%?%.lua;")
    assert.truthy(dir and dir:find("/bindings/lua$"), out)
    local p = io.popen("cd " .. q(dir) .. " && pwd -P")
    local canonical = p:read("l")
    p:close()
    assert.are.equal(canonical, dir)
  end)
end)

describe("kshot host: REPL over a pipe (-i)", function()
  it("prints expressions, runs multi-line statements and survives errors", function()
    local out, err, code = run("-i", table.concat({
      "1 + 1",
      "x = 10",
      "x * 2",
      "for i = 1, 3 do",
      "  io.write(i, ';')",
      "end",
      "error('boom')",
      "print('after error')",
      "=x",
      "'a', 2, nil",
      "local t = setmetatable({}, {__tostring = function() return 'TOSTR' end}); return t",
      "x = = 1",
      "print('still here')",
    }, "\n") .. "\n")
    assert.are.equal(0, code)
    assert.truthy(out:find("^kshot %d"), out) -- -i implies -v
    local function has(s) assert.truthy(out:find(s, 1, true), "missing " .. s .. " in:\n" .. out) end
    has("> 2\n")
    has("> 20\n")
    has(">> >> 1;2;3;")
    has("after error\n")
    has("> 10\n")
    has("a\t2\tnil\n")
    has("TOSTR\n")
    has("still here\n")
    assert.truthy(err:find("stdin:1: boom", 1, true), err)
    assert.truthy(err:find("stdin:1: unexpected symbol near '='", 1, true), err)
  end)

  it("defines ks for convenience and prints tensors through their __tostring", function()
    local out, err, code = run("-i", "t = ks.ones(2, 2)\nt\nprint(tostring(t))\nks == require 'kshot'\n")
    assert.are.equal(0, code, err)
    local shown = out:match("> > (.-)\n> ")
    local printed = out:match("\n> ([^>]-)\n> true")
    assert.truthy(shown and shown:find("1"), out)
    assert.are.equal(printed, shown)
  end)

  it("defines help, which prints documentation from kshot's sources and keeps a user's own help", function()
    local out, err, code = run("-i", 'help("nn.Linear")\nhelp(ks.matmul)\nhelp = 5\nhelp\n')
    assert.are.equal(0, code, err)
    assert.truthy(out:find("Linear(in_features, out_features", 1, true), out)
    assert.truthy(out:find("ks.matmul(a, b[, out])", 1, true), out)
    assert.truthy(out:find("> 5\n", 1, true), out)
  end)

  it("prints plain tables through kshot.pretty, other values through tostring", function()
    local out, err, code = run("-i", table.concat({
      "{b = 2, a = {1, 'x'}}, 3",
      "setmetatable({}, {__tostring = function() return 'custom' end})",
      "require = nil",            -- no formatter: tostring, no error
      "{5}", ""}, "\n"))
    assert.are.equal(0, code, err)
    assert.truthy(out:find('> {a = {1, "x"}, b = 2}\t3\n', 1, true), out)
    assert.truthy(out:find("> custom\n", 1, true), out)
    assert.truthy(out:find("> > table: 0x", 1, true), out)
    assert.are.equal("", err)
  end)

  it("reports an unfinished statement at end of input", function()
    local _, err, code = run("-i", "for i = 1, 2 do\n")
    assert.are.equal(0, code)
    assert.truthy(err:find("'end' expected near <eof>", 1, true), err)
  end)

  it("honours _PROMPT and _PROMPT2", function()
    local out = run("-i", "_PROMPT = 'P1$ '; _PROMPT2 = 'P2$ '\nif true then\nend\n")
    assert.truthy(out:find("P1$ P2$ P1$ ", 1, true), out)
  end)

  it("runs a script first, then the REPL", function()
    local s = script("y = 41")
    local out, _, code = run("-i " .. q(s), "y + 1\n")
    assert.are.equal(0, code)
    assert.truthy(out:find("> 42\n", 1, true), out)
  end)

  it("enters the REPL after a failing script too (python -i), with the script's globals", function()
    local s = script("y = 41\nerror('boom')")
    local out, err, code = run("-i " .. q(s), "y + 1\n")
    assert.are.equal(0, code, err)
    assert.truthy(err:find(":2: boom", 1, true), err)
    assert.truthy(out:find("> 42\n", 1, true), out)
    -- without -i a failing script still exits 1 (lua.c)
    assert.are.equal(1, select(3, run(q(s))))
  end)

  it("prints an expression spread over several lines once it is complete", function()
    local out, err, code = run("-i", "ks.tensor({\n{1, 2},\n{3, 4}}):sum()\nmath.max(\n1,\n7)\nfor i = 1, 2 do\nend\n")
    assert.are.equal(0, code, err)
    assert.truthy(out:find(">> >> tensor(10.)\n", 1, true), out)
    assert.truthy(out:find(">> >> 7\n", 1, true), out)
    assert.are.equal("", err)
  end)

  it("keeps the first value of the last expression in _", function()
    local out, err, code = run("-i", table.concat({
      "ks.ones(2, 3):sum(), 'second'",
      "_ * 2",
      "x = 99",                                  -- a statement leaves _ alone
      "_",
      "setmetatable(_G, {__newindex = function() error('strict') end}) == _G",
      "_",                                       -- set even when globals are strict
    }, "\n") .. "\n")
    assert.are.equal(0, code, err)
    assert.truthy(out:find("> tensor(6.)\tsecond\n> tensor(12.)\n> > tensor(12.)\n> true\n> true\n", 1, true), out)
    assert.are.equal("", err)
  end)
end)

describe("kshot host: completion (--complete)", function()
  local function complete(text, pre)
    local out, err, code = run((pre or "") .. " --complete " .. q(text))
    assert.are.equal(0, code, err)
    local list = {}
    for line in out:gmatch("[^\n]+") do list[#list + 1] = line end
    return list
  end

  it("completes fields of library tables", function()
    assert.are.same({"format"}, complete("string.fo"))
    assert.are.same({"stderr", "stdin", "stdout"}, complete("io.std"))
    assert.are.same({"stderr", "stdin", "stdout"}, complete("x = io.std"))
  end)

  it("completes string methods after a literal", function()
    assert.are.same({"upper"}, complete('("x"):up'))
    assert.are.same({"upper"}, complete("('x'):up"))
    assert.are.same({}, complete('f("x"):up')) -- a call result: unknown
  end)

  it("completes globals and keywords", function()
    local l = complete("pri")
    assert.are.same({"print"}, l)
    assert.are.same({"while"}, complete("whi"))
    assert.are.same({"rawequal", "rawget", "rawlen", "rawset"}, complete("if raw"))
  end)

  it("completes the modules reachable as fields before they are loaded (ks.nn, ks.optim)", function()
    assert.are.same({"optim"}, complete("ks.op"))
    assert.truthy(table.concat(complete("ks.n"), " "):find("%f[%w_]nn%f[^%w_]"))
  end)

  it("completes the names written in Lua before their first use (ks.data's, ks.linalg's, ks.movedim)", function()
    assert.are.same({"solve", "svd", "svdvals"}, complete("ks.linalg.s"))
    assert.are.same({"read_csv", "read_idx", "read_npy", "read_npz"}, complete("ks.data.read_"))
    assert.are.same({"movedim"}, complete("ks.movedi"))
    assert.are.same({"movedim"}, complete("t:movedi", "-e 't = require(\"kshot\").ones(2)'"))
  end)

  it("completes kshot functions and tensor methods through the metatable", function()
    local l = complete("ks.on")
    assert.truthy(#l >= 2, table.concat(l, " "))
    for _, name in ipairs(l) do assert.are.equal("on", name:sub(1, 2)) end
    assert.truthy(table.concat(l, " "):find("%f[%w_]ones%f[^%w_]"), table.concat(l, " "))
    local methods = complete("t:", "-e 't = require(\"kshot\").ones(2)'")
    local set = {}
    for _, m in ipairs(methods) do set[m] = true end
    assert.truthy(set.totable and set.dim and set.reshape and set.sum, table.concat(methods, " "))
    assert.are.same({"totable"}, complete("t:tot", "-e 't = require(\"kshot\").ones(2)'"))
  end)

  it("follows __index tables recursively and filters methods after ':'", function()
    local pre = "-e 'Base = {greet = function() end, kind = \"base\"}; Base.__index = Base;"
             .. " Mid = setmetatable({wave = function() end}, Base); Mid.__index = Mid;"
             .. " obj = setmetatable({own = 1}, Mid)'"
    assert.are.same({"greet", "kind", "own", "wave"}, complete("obj.", pre))
    assert.are.same({"greet", "wave"}, complete("obj:", pre))
    assert.are.same({"__index"}, complete("Base.__", pre))
  end)

  it("never calls __index functions and offers nothing for numbers", function()
    local pre = "-e 'P = setmetatable({}, {__index = function() error(\"called\") end})'"
    assert.are.same({}, complete("P.x", pre))
    assert.are.same({}, complete("P:", pre))
    assert.are.same({}, complete("1.5"))
    assert.are.same({}, complete("nosuchglobal.x"))
  end)
end)

describe("kshot host: Ctrl-C", function()
  it("interrupts a running Lua loop: 'interrupted!' and the status 130 (128 + SIGINT)", function()
    local out, err, rc = run_and_interrupt("-e 'io.stderr:write(\"ready\\n\") while true do end'")
    assert.are.equal(130, rc)
    assert.truthy(err:find("kshot: interrupted!\n", 1, true), err)
    assert.are.equal("", out)
  end)

  it("raises exactly ks.INTERRUPTED, which ks.is_interrupt tells from other errors", function()
    local s = script([[
local ks = require "kshot"
local ok, err = pcall(function() io.stderr:write("ready\n") while true do end end)
print(ok, err == ks.INTERRUPTED, ks.is_interrupt(err), ks.is_interrupt("f.lua:2: interrupted!"),
  ks.is_interrupt("boom"), ks.is_interrupt({}))
error(err, 0)
]])
    local out, err, rc = run_and_interrupt(q(s))
    assert.are.equal("false\ttrue\ttrue\ttrue\tfalse\tfalse\n", out)
    assert.are.equal(130, rc) -- the rethrown interrupt ends the script as Ctrl-C does
    assert.truthy(err:find("kshot: interrupted!\n", 1, true), err)
  end)

  it("exits 130 only after a Ctrl-C: the same error raised by the script itself exits 1", function()
    assert.are.equal(1, select(3, run("-e 'error(\"interrupted!\", 0)'")))
    assert.are.equal(1, select(3, run("-e 'error(\"interrupted!\")'")))
    -- Ctrl-C during a kernel (the context flag: "<position>: interrupted!") is 130 too
    local out, err, rc = run_and_interrupt(
      "-e 'local ks = require \"kshot\"; local a = ks.ones(1000, 1000); io.stderr:write(\"ready\\n\"); while true do a = a + a end'")
    assert.are.equal(130, rc)
    assert.truthy(err:find("interrupted!\n", 1, true), err)
    -- a caught Ctrl-C followed by an ordinary error is that error's 1
    local s = script([[
local ok, err = pcall(function() io.stderr:write("ready\n") while true do end end)
assert(not ok)
error("later failure")
]])
    out, err, rc = run_and_interrupt(q(s))
    assert.are.equal(1, rc)
    assert.truthy(err:find("later failure", 1, true), err)
  end)

  it("stops a long native kernel through the context flag (in a coroutine, which the hook does not reach)", function()
    local s = script([[
local ks = require "kshot"
local a = ks.ones(1000, 1000)
local co = coroutine.wrap(function()
  local ok, err = pcall(function()
    io.stderr:write("ready\n")
    while true do a = a + 0 end
  end)
  print("caught", ok, err)
end)
co()
print("not reached")
]])
    local out, err, rc = run_and_interrupt(q(s))
    assert.are_not.equal(0, rc)
    assert.truthy(out:find("caught\tfalse\t.*interrupted!"), out)
    assert.falsy(out:find("not reached", 1, true))
    assert.truthy(err:find("interrupted!", 1, true), err)
  end)

  it("interrupts a loop of large tensor additions", function()
    local out, err, rc = run_and_interrupt(
      "-e 'local ks = require \"kshot\"; local a = ks.ones(1000, 1000); io.stderr:write(\"ready\\n\"); while true do a = a + a end'")
    assert.are_not.equal(0, rc)
    assert.truthy(err:find("interrupted!", 1, true), err)
    assert.are.equal("", out)
  end)

  it("returns to the REPL prompt after interrupting a statement", function()
    local out, err, rc = run_and_interrupt("-i",
      "( printf 'io.stderr:write(\"ready\\\\n\") while true do end\\n'; sleep 2; printf 'print(\"after\")\\n' )")
    assert.are.equal(0, rc)
    assert.truthy(err:find("interrupted!", 1, true), err)
    assert.truthy(out:find("after\n", 1, true), out)
  end)
end)

describe("kshot host: terminal REPL (script -qc)", function()
  local has_script = os.execute("command -v script >/dev/null 2>&1")

  it("completes with Tab, clears the line on Ctrl-C and keeps a history file", function()
    if not has_script then return pending("script(1) is not installed") end
    local home = tmpname()
    os.remove(home)
    assert(os.execute("mkdir -p " .. q(home)))
    local out = tmpname()
    local input = "sleep 1; printf 'string.fo\\t'; sleep 0.5; printf '(\"%%d\", 7)\\n'; sleep 0.5;"
               .. " printf 'nonsense here\\003'; sleep 0.5; printf 'print(\"ok\")\\n'; sleep 0.5; printf '\\004'"
    os.execute(string.format("(%s) | env -u LUA_INIT -u LUA_INIT_5_4 HOME=%s script -qc %s /dev/null >%s 2>&1",
                             input, q(home), q(KSHOT), q(out)))
    local text = slurp(out)
    assert.truthy(text:find("rmat(\"%d\", 7)", 1, true), text) -- libedit redraws the completed word
    assert.truthy(text:find("\r\n7\r\n", 1, true), text)
    assert.truthy(text:find("\r\nok\r\n", 1, true), text)
    assert.falsy(text:find("nonsense", 1, true) and text:find("syntax error", 1, true), text)
    local hist = slurp(home .. "/.kshot_history")
    assert.truthy(hist:find("string.format", 1, true), hist)
    assert.truthy(hist:find("print(\"ok\")", 1, true), hist)
    os.execute("rm -rf " .. q(home))
  end)
end)
