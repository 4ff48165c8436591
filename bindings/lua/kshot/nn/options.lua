--- kshot.nn.options: the check every nn constructor (and F function written
-- in Lua) runs on its options table. A misspelled key would otherwise keep
-- its default silently (nn.Conv2d(1, 8, 3, {paddin = 1}) has no padding),
-- so unknown keys are an error naming the function, the key, the valid
-- ones and the nearest of them ("Conv2d: unknown option 'paddin' (known:
-- stride, padding, dilation, groups, bias); did you mean 'padding'?"):
--   opts = options.check(opts, {"stride", "padding"}, "Conv2d", 3)
local M = {}

-- edit distance, for the "did you mean" hint (names are a few characters)
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

local function unknown(key, known, fname, level)
  local hint = ""
  if type(key) == "string" then
    local best, bd = nil, 3 -- only close names: at most 2 edits
    for _, name in ipairs(known) do
      local d = distance(key, name)
      if d < bd then best, bd = name, d end
    end
    if best then hint = string.format("; did you mean '%s'?", best) end
  end
  error(string.format("%s: unknown option '%s' (known: %s)%s", fname, tostring(key),
    #known > 0 and table.concat(known, ", ") or "none", hint), level + 1)
end

--- check(opts, known, fname, level): opts must be nil or a table whose keys
-- are all in the list known. Returns opts, or {} for nil. level is error()'s
-- level seen from the caller of check (3 in a layer's __init: __init <-
-- the class call <- the user's line).
function M.check(opts, known, fname, level)
  level = (level or 1) + 1
  if opts == nil then return {} end
  if type(opts) ~= "table" then
    error(string.format("%s: options must be a table, got %s", fname, type(opts)), level)
  end
  for k in pairs(opts) do
    local ok = false
    for i = 1, #known do
      if known[i] == k then ok = true break end
    end
    if not ok then unknown(k, known, fname, level) end
  end
  return opts
end

return M
