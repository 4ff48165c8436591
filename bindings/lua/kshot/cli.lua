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

local function converter(kind, opt, choices)
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
    if choices then
      local items = type(v) == "table" and v or { v }
      for _, x in ipairs(items) do
        local found = false
        for _, c in ipairs(choices) do if c == x then found = true end end
        if not found then
          return nil, ("option '%s': '%s' is not one of: %s"):format(opt, type(v) == "table" and tostring(x) or s,
            table.concat(choices, ", "))
        end
      end
    end
    return v
  end
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
    local long = o[1]:match("%-%-([%w%-_]+)") or o[1]:match("%-([%w])")
    local target = long:gsub("%-", "_")
    local help = o[2] or ""
    if o.choices then help = help .. " (one of: " .. table.concat(o.choices, ", ") .. ")" end
    if o.default ~= nil and kind ~= "flag" then help = help .. " (default: " .. show(o.default) .. ")" end
    if kind == "flag" then
      p:flag(o[1], help):target(target)
      self.defaults[target] = o.default or false
    else
      p:option(o[1], help):target(target):convert(converter(kind, "--" .. long, o.choices))
        :argname("<" .. (kind:match("list") and "a,b,..." or kind) .. ">")
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
  return res
end

return M
