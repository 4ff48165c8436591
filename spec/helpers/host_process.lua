-- spec/helpers/host_process.lua: running the `kshot` binary ($KSHOT_BIN, the kshot
-- busted runs under, or build/kshot) from specs, with temporary files removed by cleanup().
local M = {}

-- $KSHOT_BIN, else the interpreter busted runs under when it is a kshot host (busted --lua=build18/kshot),
-- else build/kshot
local interpreter = type(arg) == "table" and type(arg[-1]) == "string" and arg[-1] or ""
M.KSHOT = os.getenv("KSHOT_BIN") or (interpreter:match("kshot$") and interpreter) or "build/kshot"

--- q(s): s quoted for the shell
function M.q(s) return "'" .. tostring(s):gsub("'", "'\\''") .. "'" end

function M.slurp(path)
  local f = assert(io.open(path, "rb"))
  local s = f:read("a")
  f:close()
  return s
end

function M.spit(path, s)
  local f = assert(io.open(path, "wb"))
  f:write(s)
  f:close()
end

local tmpfiles = {}
--- tmpname(): a temporary path, removed by cleanup()
function M.tmpname()
  local p = os.tmpname()
  tmpfiles[#tmpfiles + 1] = p
  return p
end

--- track(path): remove path too at cleanup()
function M.track(path) tmpfiles[#tmpfiles + 1] = path end

--- cleanup(): remove every temporary path (call it from teardown)
function M.cleanup()
  for _, p in ipairs(tmpfiles) do os.remove(p) end
  tmpfiles = {}
end

--- script(src): a temporary file holding src
function M.script(src)
  local p = M.tmpname()
  M.spit(p, src)
  return p
end

--- run(args[, input[, env]]): `kshot <args>` (a shell fragment) with input on
-- stdin (none: empty), no LUA_INIT, env an extra "K=V" prefix -> stdout, stderr, exit code
function M.run(args, input, env)
  local out, err, inp = M.tmpname(), M.tmpname(), M.tmpname()
  M.spit(inp, input or "")
  local cmd = string.format("env -u LUA_INIT -u LUA_INIT_5_4 %s %s %s <%s >%s 2>%s",
                            env or "", M.q(M.KSHOT), args, M.q(inp), M.q(out), M.q(err))
  local _, how, code = os.execute(cmd)
  assert(how == "exit", "kshot was killed by a signal: " .. tostring(code))
  return M.slurp(out), M.slurp(err), code
end

return M
