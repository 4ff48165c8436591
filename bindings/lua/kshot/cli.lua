--- kshot.cli: declared command-line options for scripts, on top of
-- lua-argparse (Debian's lua-argparse; falls back to an error naming the
-- package if it is missing).
--
--   local cli = require "kshot.cli"
--   local args = cli.new {
--     name = "fewshot_fashion.lua",
--     description = "K-shot Fashion-MNIST: baseline vs tricks",
--     options = {
--       { "--k", "K values, comma-separated", type = "list:integer", default = { 5, 10 } },
--       { "--seeds", "report seeds", type = "integer", default = 3 },
--       { "--lr", "learning rate", type = "number", default = 0.05 },
--       { "--mode", "what to run", choices = { "fast", "full" }, default = "fast" },
--       { "--full", "more seeds, full test set", type = "flag" },
--     },
--   }:parse(arg)
--   -- args.k = {5, 10}, args.seeds = 3, args.full = false; "--test-size" -> args.test_size
--
-- Types: string (default), integer, number, flag (boolean, no value),
-- list:integer, list:number, list:string (comma-separated; with `choices`
-- every item must be one of them). Defaults are typed values shown in --help.
-- A negative number is a value, not an option: "--lr -1", "--lr=-1" and
-- "--k -1,2" all work (an argument starting with "-" and a digit or "." that
-- follows an option taking a value, and is not itself a declared option,
-- is given to that option). An unknown option, a missing value or a
-- value of the wrong type is an error naming the option:
--   parse(argv)      prints "<name>: <what is wrong> (see --help for the options)"
--                    plus the usage to stderr, exits 2;
--                    --help prints the help and exits 0
--   try_parse(argv)  raises a Lua error instead; --help returns nil, help text
--
-- Constraints, checked on the values given on the command line (defaults are
-- trusted) and shown in --help; a value that breaks one is an error naming
-- the option, like a value of the wrong type (exit 2 from parse):
--   min = n, max = n   integer / number options, and every item of a list
--   unique = true      lists: no value twice ("--k 2,2")
--   path = "out_file"  a file the script writes: its folder must exist and be
--                      writable, and it must not be a folder (checked by
--                      opening it for append; a file that did not exist is
--                      removed again). Folders are never created for it.
--   path = "in_dir"    an existing folder
--   path = "in_file"   an existing file that can be read (not a folder)
--   path = "in_path"   an existing file or folder (an input that may be either)
--   path = "dir"       a folder the script creates if missing (run records):
--                      not empty, not a file, and the nearest existing
--                      folder on its way must be writable
--   special = {..}     values taken as they are, not checked as paths (e.g. "none")
--   check = fn         fn(value) -> nil | message: any other check, run last
--
-- For the checks a script makes itself, and for cleanup on any exit:
--   cli.fail(args or name, fmt, ...)  prints "<name>: <message>" to stderr and
--                                     exits 2 (after the cleanups below)
--   cli.call(args or name, f, ...)    f(...), or cli.fail with its error message
--                                     (e.g. loading a dataset from --path)
--   cli.exit(code)                    runs the cleanups, then os.exit(code)
--   cli.check_path(kind, path)        true | nil, message: the path = kind checks
--   local tmp <close> = cli.temp_dir() a fresh temporary folder name (tmp.path;
--                                     not created); the folder is deleted when
--                                     tmp goes out of scope: at the end of the
--                                     script, on an error (Ctrl-C's
--                                     "interrupted!" included), or through
--                                     cli.fail / cli.exit
local M = {}

local ok_argparse, argparse = pcall(require, "argparse")

local TYPES = { string = true, integer = true, number = true, flag = true,
  ["list:integer"] = true, ["list:number"] = true, ["list:string"] = true }

local function convert_scalar(kind, s, opt)
  if kind == "string" then return s end
  local v = tonumber(s)
  if kind == "integer" then v = v and math.tointeger(v) end
  if v == nil then
    return nil, ("option '%s': '%s' is not %s"):format(opt, s, kind == "integer" and "an integer" or "a number")
  end
  return v
end

local has_lfs, lfs = pcall(require, "lfs")

local function mode_of(p)
  if has_lfs then return lfs.attributes(p, "mode") end
  local f = io.open(p, "rb")
  if not f then return nil end
  local _, _, code = f:read(0) -- reading a folder fails with EISDIR (21)
  f:close()
  return code == 21 and "directory" or "file"
end

local function parent_of(p)
  local dir = p:match("^(.*)/[^/]*$")
  if dir == nil then return "." end
  return dir == "" and "/" or dir
end

-- true, or nil and what is wrong with writing the file p
local function writable_file(p)
  if mode_of(p) == "directory" then return nil, ("'%s' is a folder, not a file"):format(p) end
  local dir = parent_of(p)
  local dm = mode_of(dir)
  if dm == nil then return nil, ("cannot write '%s': folder '%s' does not exist (create it first)"):format(p, dir) end
  if dm ~= "directory" then return nil, ("cannot write '%s': '%s' is not a folder"):format(p, dir) end
  local existed = mode_of(p) ~= nil
  local f, err = io.open(p, "ab")
  if not f then return nil, ("cannot write '%s': %s"):format(p, err) end
  f:close()
  if not existed then os.remove(p) end
  return true
end

local PATH_CHECKS = {
  out_file = writable_file,
  in_file = function(p)
    local m = mode_of(p)
    if m == nil then return nil, ("file '%s' does not exist"):format(p) end
    if m == "directory" then return nil, ("'%s' is a folder, not a file"):format(p) end
    local f, err = io.open(p, "rb")
    if not f then return nil, ("cannot read '%s': %s"):format(p, err) end
    f:close()
    return true
  end,
  in_path = function(p)
    if mode_of(p) == nil then return nil, ("'%s' does not exist"):format(p) end
    return true
  end,
  in_dir = function(p)
    local m = mode_of(p)
    if m == nil then return nil, ("folder '%s' does not exist"):format(p) end
    if m ~= "directory" then return nil, ("'%s' is not a folder"):format(p) end
    return true
  end,
  dir = function(p)
    local m = mode_of(p)
    if m ~= nil and m ~= "directory" then return nil, ("'%s' exists and is not a folder"):format(p) end
    local probe = p
    while mode_of(probe) == nil do probe = parent_of(probe) end -- "." and "/" exist
    if mode_of(probe) ~= "directory" then
      return nil, ("cannot create folder '%s': '%s' is not a folder"):format(p, probe)
    end
    local test = probe .. "/.kshot_cli_probe_" .. tostring({}):match("(%x+)$")
    local f, err = io.open(test, "wb")
    if not f then return nil, ("cannot write in '%s': %s"):format(probe, err) end
    f:close()
    os.remove(test)
    return true
  end,
}

-- Checks of one item (a scalar, or an item of a list) against min / max.
local function range_error(o, opt, x)
  if o.min ~= nil and x < o.min then return ("option '%s': %s is below the minimum %s"):format(opt, x, o.min) end
  if o.max ~= nil and x > o.max then return ("option '%s': %s is above the maximum %s"):format(opt, x, o.max) end
end

local function is_special(o, v)
  for _, s in ipairs(o.special or {}) do if s == v then return true end end
  return false
end

local function converter(kind, opt, o)
  local choices = o.choices
  return function(s)
    local v, err
    if kind:sub(1, 5) == "list:" then
      local list = {}
      for item in s:gmatch("[^,]+") do
        local x
        x, err = convert_scalar(kind:sub(6), item:match("^%s*(.-)%s*$"), opt)
        if err then return nil, err end
        list[#list + 1] = x
      end
      if #list == 0 then return nil, ("option '%s': give at least one value"):format(opt) end
      v = list
    else
      v, err = convert_scalar(kind, s, opt)
      if err then return nil, err end
    end
    local items = type(v) == "table" and v or { v }
    if choices then
      for _, x in ipairs(items) do
        local found = false
        for _, c in ipairs(choices) do if c == x then found = true end end
        if not found then
          return nil, ("option '%s': '%s' is not one of: %s"):format(opt, type(v) == "table" and tostring(x) or s,
            table.concat(choices, ", "))
        end
      end
    end
    local seen = {}
    for _, x in ipairs(items) do
      if type(x) == "number" then
        err = range_error(o, opt, x)
        if err then return nil, err end
      end
      if o.unique then
        if seen[x] then return nil, ("option '%s': %s is given twice"):format(opt, tostring(x)) end
        seen[x] = true
      end
      if o.path and not is_special(o, x) then
        if x == "" then return nil, ("option '%s': an empty path"):format(opt) end
        local ok, why = PATH_CHECKS[o.path](x)
        if not ok then return nil, ("option '%s': %s"):format(opt, why) end
      end
    end
    if o.check then
      err = o.check(v)
      if err then return nil, ("option '%s': %s"):format(opt, err) end
    end
    return v
  end
end

-- What --help says about the constraints, e.g. "(>= 1, no repeats)".
local PATH_HELP = { out_file = "its folder must exist", in_dir = "an existing folder", dir = "created if missing",
  in_file = "an existing file", in_path = "an existing file or folder" }
local function constraint_help(o, kind)
  local parts = {}
  local each = kind:sub(1, 5) == "list:" and "each " or ""
  if o.min ~= nil and o.max ~= nil then parts[#parts + 1] = ("%s%s..%s"):format(each, o.min, o.max)
  elseif o.min ~= nil then parts[#parts + 1] = ("%s>= %s"):format(each, o.min)
  elseif o.max ~= nil then parts[#parts + 1] = ("%s<= %s"):format(each, o.max) end
  if o.unique then parts[#parts + 1] = "no repeats" end
  if o.path then parts[#parts + 1] = PATH_HELP[o.path] end
  if #parts == 0 then return "" end
  return " (" .. table.concat(parts, ", ") .. ")"
end

local function show(v)
  if type(v) == "table" then return table.concat(v, ",") end
  return tostring(v)
end

local Cli = {}
Cli.__index = Cli

--- cli.new{name=, description=, epilog=, options = { {"--long" or "-s --long", "help", type=, default=, choices=}, ...}}
function M.new(spec)
  if not ok_argparse then
    error("kshot.cli needs lua-argparse (Debian package lua-argparse): " .. tostring(argparse), 2)
  end
  if type(spec) ~= "table" or type(spec.options) ~= "table" then
    error("cli.new: a table with an options list expected", 2)
  end
  local p = argparse(spec.name or "script", spec.description, spec.epilog):add_help(false)
  p:flag("-h --help", "Show this help and exit.")
  local self = setmetatable({ parser = p, defaults = {}, kinds = {}, name = spec.name or "script",
    known = { ["-h"] = true, ["--help"] = true }, takes_value = {} }, Cli)
  for i, o in ipairs(spec.options) do
    if type(o) ~= "table" or type(o[1]) ~= "string" then
      error(("cli.new: options[%d] must be {\"--name\", \"help\", type=, default=}"):format(i), 2)
    end
    if o.choices ~= nil and (type(o.choices) ~= "table" or #o.choices == 0) then
      error(("cli.new: option '%s': choices must be a non-empty list, got %s"):format(o[1], type(o.choices)), 2)
    end
    local names = {}
    for word in o[1]:gmatch("%S+") do
      if not (word:match("^%-%w$") or word:match("^%-%-%w[%w%-_]*$")) then
        error(("cli.new: options[%d] names '%s': each name must be '-s' (one letter or digit) or '--long' "
          .. "(letters, digits, '-', '_'), e.g. \"-s --long\"; got '%s'"):format(i, o[1], word), 2)
      end
      names[#names + 1] = word
    end
    if #names == 0 then error(("cli.new: options[%d] has an empty name"):format(i), 2) end
    local kind = o.type or (o.choices and type(o.choices[1]) == "number" and "number") or "string"
    if not TYPES[kind] then
      error(("cli.new: option '%s' has unknown type '%s' (string, integer, number, flag, list:integer, "
        .. "list:number, list:string)"):format(o[1], tostring(kind)), 2)
    end
    local numeric = kind:match("integer") or kind:match("number")
    for _, f in ipairs { "min", "max" } do
      if o[f] ~= nil and (not numeric or type(o[f]) ~= "number") then
        error(("cli.new: option '%s': %s needs an integer or number option and a number, got %s %s"):format(o[1],
          f, kind, type(o[f])), 2)
      end
    end
    if o.min ~= nil and o.max ~= nil and o.min > o.max then
      error(("cli.new: option '%s': min %s > max %s"):format(o[1], o.min, o.max), 2)
    end
    if o.unique and not kind:match("^list:") then
      error(("cli.new: option '%s': unique = true needs a list type, got %s"):format(o[1], kind), 2)
    end
    if o.path ~= nil and (not PATH_CHECKS[o.path] or not (kind == "string" or kind == "list:string")) then
      error(("cli.new: option '%s': path must be \"out_file\", \"in_file\", \"in_path\", \"in_dir\" or \"dir\" on a string option, "
        .. "got %s on %s"):format(o[1], tostring(o.path), kind), 2)
    end
    if o.check ~= nil and type(o.check) ~= "function" then
      error(("cli.new: option '%s': check must be a function, got %s"):format(o[1], type(o.check)), 2)
    end
    if o.special ~= nil and type(o.special) ~= "table" then
      error(("cli.new: option '%s': special must be a list of values, got %s"):format(o[1], type(o.special)), 2)
    end
    local long = o[1]:match("%-%-([%w%-_]+)") or o[1]:match("%-([%w])")
    local target = long:gsub("%-", "_")
    local help = o[2] or ""
    if o.choices then help = help .. " (one of: " .. table.concat(o.choices, ", ") .. ")" end
    help = help .. constraint_help(o, kind)
    if o.default ~= nil and kind ~= "flag" then help = help .. " (default: " .. show(o.default) .. ")" end
    if kind == "flag" then
      p:flag(o[1], help):target(target)
      self.defaults[target] = o.default or false
    else
      p:option(o[1], help):target(target):convert(converter(kind, "--" .. long, o))
        :argname("<" .. (kind:match("list") and "a,b,..." or ((o.path == "out_file" or o.path == "in_file") and "file")
          or (o.path == "in_path" and "path") or (o.path and "folder") or kind) .. ">")
      self.defaults[target] = o.default
    end
    self.kinds[target] = kind
    for _, n in ipairs(names) do
      self.known[n] = true
      if kind ~= "flag" then self.takes_value[n] = true end
    end
  end
  return self
end

function Cli:help() return self.parser:get_help() end

--- cli:try_parse(argv) -> args (raises "<name>: <message>" on bad input); --help -> nil, help
function Cli:try_parse(argv)
  local list = {}
  local n = #(argv or {})
  local i, j = 1, 0
  while i <= n do
    local a, b = argv[i], argv[i + 1]
    if a ~= nil and type(a) ~= "string" then
      error(("%s: argv[%d] is a %s, expected a string"):format(self.name, i, type(a)), 0)
    end
    j = j + 1
    if a == "--" then
      for k = i, n do list[j + k - i] = argv[k] end
      break
    end
    -- "--lr -1": lua-argparse would take "-1" for an option; glue it on as "--lr=-1" / "-l-1"
    if self.takes_value[a] and type(b) == "string" and b:match("^%-[%d%.]") and not self.known[b] then
      list[j] = a:sub(1, 2) == "--" and (a .. "=" .. b) or (a .. b)
      i = i + 2
    else
      list[j] = a
      i = i + 1
    end
  end
  local ok, res = self.parser:pparse(list)
  if not ok then
    res = res:gsub("^unknown option '([^']*)'", "unknown option '%1' (see --help for the options)")
    error(self.name .. ": " .. res, 0)
  end
  if res.help then return nil, self:help() end
  res.help = nil
  for k, v in pairs(self.defaults) do
    if res[k] == nil then res[k] = v end
  end
  return res
end

-- the script name of each args table parse returned (cli.fail(args, ...))
local names = setmetatable({}, { __mode = "k" })
local last_name = "script"

--- cli:parse(argv) -> args; prints the error or help and exits (for scripts)
function Cli:parse(argv)
  local ok, res, help = pcall(self.try_parse, self, argv)
  if not ok then
    io.stderr:write(tostring(res), "\n", self.parser:get_usage(), "\n")
    os.exit(2)
  end
  if res == nil then
    io.stdout:write(help, "\n")
    os.exit(0)
  end
  names[res], last_name = self.name, self.name
  return res
end

-- ------------------------------------------------------------ exits and cleanup
local cleanups = {} -- functions run once by cli.exit / cli.fail, newest first

local function run_cleanups()
  while #cleanups > 0 do
    local f = table.remove(cleanups)
    pcall(f)
  end
end

--- cli.check_path(kind, path) -> true | nil, message: the checks of path = kind
-- ("out_file", "in_file", "in_path", "in_dir", "dir"), for paths a script derives itself.
function M.check_path(kind, p)
  if not PATH_CHECKS[kind] then error("cli.check_path: kind must be \"out_file\", \"in_file\", \"in_path\", \"in_dir\" or \"dir\", got "
    .. tostring(kind), 2) end
  if type(p) ~= "string" then error("cli.check_path: path must be a string, got " .. type(p), 2) end
  if p == "" then return nil, "an empty path" end
  return PATH_CHECKS[kind](p)
end

--- cli.exit(code): run the pending cleanups (temporary folders), then os.exit(code).
function M.exit(code)
  run_cleanups()
  io.stdout:flush()
  os.exit(code)
end

--- cli.fail(args or name, fmt, ...): "<name>: <message>" on stderr, cleanups, exit 2.
function M.fail(who, fmt, ...)
  local name = type(who) == "string" and who or names[who] or last_name
  io.stderr:write(name, ": ", (select("#", ...) > 0 and fmt:format(...) or tostring(fmt)), "\n")
  M.exit(2)
end

--- cli.call(args or name, f, ...) -> f(...), or cli.fail with f's error message.
function M.call(who, f, ...)
  local res = table.pack(pcall(f, ...))
  if not res[1] then M.fail(who, "%s", tostring(res[2])) end
  return table.unpack(res, 2, res.n)
end

local function quote(s) return "'" .. tostring(s):gsub("'", "'\\''") .. "'" end

--- local tmp <close> = cli.temp_dir(): {path = a fresh name under the temporary
-- folder (not created)}; the folder is deleted on close, cli.exit or cli.fail.
function M.temp_dir()
  local path = os.tmpname()
  os.remove(path)
  local done = false
  local function remove()
    if not done then
      done = true
      os.execute("rm -rf " .. quote(path))
    end
  end
  cleanups[#cleanups + 1] = remove
  return setmetatable({ path = path, remove = remove }, { __close = remove })
end

return M
