-- kshot.options: the one check for options tables.
--
--   local options = require "kshot.options"
--   opts = options.check(opts, "DataLoader", {"batch_size", "shuffle", ...}, level)
--
-- check(opts, fname, known, level)
--   opts   nil or a table; nil gives a fresh empty table back, so callers can
--          write `opts = options.check(opts, ...)` and index it directly.
--   fname  the user-facing function name put in front of the message.
--   known  the accepted keys: a list {"a", "b"} or a set {a = true, b = true}.
--   level  like error()'s level, seen from the function calling check:
--          2 (the default) blames the code that called that function.
-- A non-table opts or a key not in `known` raises (the wording of
-- kshot.nn.options, so every module reads the same)
--   "<fname>: unknown option 'batchsize' (known: batch_size, shuffle, ...); did you mean 'batch_size'?"
-- The known names are listed in the order given (a set: sorted).
-- Why: a misspelled option used to be dropped silently (DataLoader{batchsize = 5}
-- quietly gave batches of 1), so every options table is checked, the way the
-- optimizers always did. The "did you mean" hint is only given for a close
-- name (edit distance <= 2, or the same letters without '_').

local M = {}

local function names_of(known)
  local names = {}
  if known[1] ~= nil then
    for _, k in ipairs(known) do names[#names + 1] = tostring(k) end
  else
    for k in pairs(known) do names[#names + 1] = tostring(k) end
    table.sort(names)
  end
  return names
end

local function is_known(known, k)
  if known[k] ~= nil and type(k) ~= "number" then return true end
  for _, name in ipairs(known) do if name == k then return true end end
  return false
end

-- Levenshtein distance, capped work: option names are short.
local function distance(a, b)
  local prev, cur = {}, {}
  for j = 0, #b do prev[j] = j end
  for i = 1, #a do
    cur[0] = i
    for j = 1, #b do
      local cost = a:byte(i) == b:byte(j) and 0 or 1
      cur[j] = math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost)
    end
    prev, cur = cur, prev
  end
  return prev[#b]
end

--- The closest known name to k, or nil when none is close.
function M.suggest(k, names)
  if type(k) ~= "string" then return nil end
  local bare = k:lower():gsub("_", "")
  local best, best_d
  for _, name in ipairs(names) do
    local d = distance(k:lower(), name:lower())
    if name:lower():gsub("_", "") == bare then d = 0 end
    if d <= 2 and d < #name and (best_d == nil or d < best_d) then best, best_d = name, d end
  end
  return best
end

--- Check an options table (see the header); returns opts or {}.
--- The message for an unknown key k (for callers that raise it their own way).
function M.message(fname, k, known)
  local names = names_of(known)
  local hint = M.suggest(k, names)
  local label = type(k) == "string" and ("'" .. k .. "'") or ("[" .. tostring(k) .. "] (a positional value)")
  return ("%s: unknown option %s (known: %s)%s"):format(fname, label,
    #names > 0 and table.concat(names, ", ") or "none", hint and ("; did you mean '" .. hint .. "'?") or "")
end

--- options.guard_methods(cls, "nn.Module", "model", {"eval", ...}): a method called with '.' (PyTorch's
-- model.eval(), opt.step()) gets no self and used to fail inside kshot with "attempt to index a nil value
-- (local 'self')". Each listed method of cls is wrapped to raise, at the caller's line, "nn.Module:eval
-- called without its object (self is nil): methods are called with ':', model:eval()". The wrapper costs
-- one type check and a tail call, so only methods called at most once a step are listed.
function M.guard_methods(cls, cls_name, obj, names)
  for _, name in ipairs(names) do
    local f = assert(rawget(cls, name), name)
    cls[name] = function(self, ...)
      if type(self) ~= "table" then
        error(("%s:%s called without its object (self is %s): methods are called with ':', %s:%s()"):format(
          cls_name, name, type(self), obj, name), 2)
      end
      return f(self, ...)
    end
  end
end

--- options.one_based("opt.param_groups", "group") -> a metatable for a Lua list that PyTorch code indexes
-- from 0: list[0] raises "opt.param_groups: Lua lists are 1-based, so the first group is [1] (PyTorch's [0])"
-- at the indexing line, instead of a nil that fails later. Other absent keys stay nil.
local one_based_mts = {}
function M.one_based(list, item)
  local key = list .. "\0" .. item
  local mt = one_based_mts[key]
  if not mt then
    mt = { __index = function(_, k)
      if k == 0 then
        error(("%s: Lua lists are 1-based, so the first %s is [1] (PyTorch's [0])"):format(list, item), 2)
      end
    end }
    one_based_mts[key] = mt
  end
  return mt
end

-- "@/.../kshot/": the source prefix of this file's folder (nil when loaded another way, or when an embedder
-- left the debug library out)
local getinfo = type(debug) == "table" and debug.getinfo
local KSHOT_SOURCE = getinfo and (getinfo(1, "S").source or ""):match("^(@.*[/\\])options%.lua$")

-- is a chunk's source one of kshot's Lua files? The same folder as this one, or a ".../kshot/<path>.lua"
-- whose module is loaded (the files can be reached through two package.path entries, one relative)
local function kshot_file(source)
  if KSHOT_SOURCE and source:sub(1, #KSHOT_SOURCE) == KSHOT_SOURCE then return true end
  local rel = source:match("^@.*[/\\]kshot[/\\](.+)%.lua$") or source:match("^@kshot[/\\](.+)%.lua$")
  if not rel then return false end
  local name = ("kshot." .. rel:gsub("[/\\]", ".")):gsub("%.init$", "")
  return package.loaded[name] ~= nil
end

--- options.raise(msg): error(msg) blamed on the first caller outside kshot's Lua files, the user's line, as
-- luaL_error blames the caller of a C function; a module's checks can then sit at any depth. No position when
-- kshot itself catches the error first (an internal pcall that rewraps the message), nor without the debug
-- library.
function M.raise(msg)
  local level = 2
  while getinfo do
    local info = getinfo(level, "Sf")
    if not info or info.func == pcall or info.func == xpcall then break end
    if info.what ~= "C" and not kshot_file(info.source) then error(msg, level) end
    level = level + 1
  end
  error(msg, 0)
end

--- options.shape_str(t) -> "[2, 3]": a tensor's shape as every error message prints it
function M.shape_str(t) return "[" .. table.concat(t:shape(), ", ") .. "]" end

function M.check(opts, fname, known, level)
  level = (level or 2) + 1
  if opts == nil then return {} end
  if type(opts) ~= "table" then
    error(("%s: options must be a table, got %s"):format(fname, type(opts)), level)
  end
  for k in pairs(opts) do
    if not is_known(known, k) then error(M.message(fname, k, known), level) end
  end
  return opts
end

return M
