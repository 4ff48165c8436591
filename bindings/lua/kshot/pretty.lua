--- kshot.pretty: Lua values as readable text, for the REPL (which prints
-- every plain table through it, as Torch7's trepl did) and for scripts.
--
--   local pretty = require "kshot.pretty"
--   print(pretty.format(ks.memory_stats()))
--   --> {limit_bytes = 6442450944, live_bytes = 0, num_allocs = 0, peak_bytes = 0}
--   pretty.format(v, {depth = 3, items = 40, width = 80})
--
-- Tables: the array part 1..n first, then the other keys sorted (strings,
-- then numbers, then the rest by their text); a table that fits in `width`
-- columns stays on one line, else one entry per line, indented (array
-- items share lines up to the width). Nested
-- tables deeper than `depth` (default 3) print as {...}; a table met again
-- inside itself as <cycle>; more than `items` entries (default 40) end with
-- "... (N entries)". Values with a __tostring (tensors, modules) print
-- through it, tensors nested in a table only as tensor([shape] dtype);
-- classes (nn.Linear, optim.SGD) as <class nn.Linear: help("nn.Linear")>;
-- strings are quoted.
local M = {}

local function is_tensor(v)
  local mt = getmetatable(v)
  return type(v) == "userdata" and type(mt) == "table" and mt.__name == "kshot.Tensor"
end

local function key_text(k)
  if type(k) == "string" and k:match("^[%a_][%w_]*$") then return k end
  if type(k) == "string" then return ("[%q]"):format(k) end
  return "[" .. tostring(k) .. "]"
end

local function key_order(a, b)
  local ta, tb = type(a), type(b)
  if ta ~= tb then
    if ta == "string" then return true end
    if tb == "string" then return false end
    if ta == "number" then return true end
    if tb == "number" then return false end
    return ta < tb
  end
  if ta == "string" or ta == "number" then return a < b end
  return tostring(a) < tostring(b)
end

-- the array part 1..n, then the other keys sorted
local function entries(t)
  local n, list, rest = 0, {}, {}
  while rawget(t, n + 1) ~= nil do n = n + 1; list[n] = n end
  for k in next, t do
    if not (math.type(k) == "integer" and k >= 1 and k <= n) then rest[#rest + 1] = k end
  end
  table.sort(rest, key_order)
  return list, rest
end

local format_value

-- one entry per line, except that the first `narr` (the array part) share
-- lines up to `width` columns when they are one-line
local function pack_lines(parts, narr, pad, width)
  local lines, cur = {}, nil
  for i, p in ipairs(parts) do
    local packable = i <= narr and not p:find("\n", 1, true)
    if packable and cur and #cur + 2 + #p + 1 <= width then
      cur = cur .. ", " .. p
    else
      if cur then lines[#lines + 1] = cur end
      cur = pad .. p
      if not packable then lines[#lines + 1], cur = cur, nil end
    end
  end
  if cur then lines[#lines + 1] = cur end
  return lines
end

local function format_table(t, o, level, seen, indent)
  if seen[t] then return "<cycle>" end
  if level > o.depth then return next(t) == nil and "{}" or "{...}" end
  local list, rest = entries(t)
  if #list + #rest == 0 then return "{}" end
  seen[t] = true
  local parts, total = {}, #list + #rest
  for _, k in ipairs(list) do
    if #parts >= o.items then break end
    parts[#parts + 1] = format_value(t[k], o, level + 1, seen, indent .. "  ")
  end
  for _, k in ipairs(rest) do
    if #parts >= o.items then break end
    parts[#parts + 1] = key_text(k) .. " = " .. format_value(t[k], o, level + 1, seen, indent .. "  ")
  end
  seen[t] = nil
  if total > #parts then parts[#parts + 1] = ("... (%d entries)"):format(total) end
  local one = "{" .. table.concat(parts, ", ") .. "}"
  if #indent + #one <= o.width and not one:find("\n", 1, true) then return one end
  return "{\n" .. table.concat(pack_lines(parts, math.min(#list, #parts), indent .. "  ", o.width), ",\n") .. "\n"
    .. indent .. "}"
end

-- a class table (nn.Linear, optim.SGD: its own __name and __index) is not data: its name, and where its doc is
local function is_class(t) return type(rawget(t, "__name")) == "string" and rawget(t, "__index") ~= nil end
local function class_text(t)
  local ok, help = pcall(require, "kshot.help")
  local name = ok and type(help) == "table" and help.name and help.name(t)
  if name then return ('<class %s: help("%s")>'):format(name, name) end
  return ("<class %s>"):format(rawget(t, "__name"))
end

function format_value(v, o, level, seen, indent)
  local tv = type(v)
  if tv == "string" then return (("%q"):format(v):gsub("\\\n", "\\n")) end
  if is_tensor(v) and level > 1 then
    return ("tensor([%s] %s)"):format(table.concat(v:shape(), ", "), v:dtype())
  end
  if tv == "table" then
    if is_class(v) then return class_text(v) end
    local mt = getmetatable(v)
    if not (type(mt) == "table" and (rawget(mt, "__tostring") or rawget(mt, "__name"))) then
      return format_table(v, o, level, seen, indent)
    end
  end
  return tostring(v)
end

local function count_opt(opts, key, def)
  local v = opts[key]
  if v == nil then return def end
  if math.type(v) ~= "integer" or v < 1 then
    error(("pretty.format: %s must be an integer >= 1, got %s"):format(key, tostring(v)), 3)
  end
  return v
end

--- format(v[, opts]) -> string
function M.format(v, opts)
  if opts ~= nil and type(opts) ~= "table" then
    error("pretty.format: options must be a table, got " .. type(opts), 2)
  end
  opts = opts or {}
  local o = {depth = count_opt(opts, "depth", 3), items = count_opt(opts, "items", 40),
             width = count_opt(opts, "width", 80)}
  return format_value(v, o, 1, {}, "")
end

return M
