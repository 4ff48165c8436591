--- kshot.nn.options: kshot.options.check with the argument order the nn
-- constructors use, check(opts, known, fname, level). A misspelled key
-- would otherwise keep its default silently (nn.Conv2d(1, 8, 3, {paddin = 1})
-- has no padding), so unknown keys are an error naming the function, the
-- key, the valid ones and the nearest of them ("Conv2d: unknown option
-- 'paddin' (known: stride, padding, dilation, groups, bias); did you mean
-- 'padding'?"):
--   opts = options.check(opts, {"stride", "padding"}, "Conv2d", 3)
-- level is error()'s level seen from the caller of check (3 in a layer's
-- __init: __init <- the class call <- the user's line); default 1.
local options = require "kshot.options"
local ks = require "kshot"

local M = {}

function M.check(opts, known, fname, level)
  -- + 1 for this frame (not a tail call, so the frame stays on the stack)
  local r = options.check(opts, fname, known, (level or 1) + 1)
  return r
end
--- PyTorch's positional arguments after a constructor's required ones, in
-- PyTorch's order (nn.Conv2d(1, 8, 3, 1, 1) = nn.Conv2d(1, 8, 3, {stride = 1,
-- padding = 1})): positional(fname, order, ...) -> the options table (or
-- nil). A lone table (or nothing) is the options table itself; otherwise the
-- values name order[1], order[2], ... (nil skips one) and a trailing table
-- holds the rest. A list ({2, 1}) is a value, never the options table
-- (ConvTranspose2d(4, 6, 3, 2, 1, 1, 1, true, {1, 2}) ends with a dilation pair). The caller still checks the result (so a PyTorch argument
-- kshot lacks is an unknown-option error). Errors blame the constructor's
-- caller (positional <- __init <- the class call <- the user's line).
function M.positional(fname, order, ...)
  local n = select("#", ...)
  local first = ...
  local function is_opts(v) return type(v) == "table" and v[1] == nil end
  if n <= 1 and (first == nil or is_opts(first)) then return first end
  local opts = {}
  for i = 1, n do
    local v = select(i, ...)
    if i == n and is_opts(v) then
      for k, x in pairs(v) do
        if opts[k] ~= nil then
          error(string.format("%s: option '%s' given both positionally and in the options table", fname, tostring(k)), 4)
        end
        opts[k] = x
      end
    elseif i > #order then
      error(string.format("%s: too many positional arguments (after the required ones PyTorch's order is %s)", fname,
        table.concat(order, ", ")), 4)
    elseif v ~= nil then
      opts[order[i]] = v
    end
  end
  return opts
end

-- conv_channels(name, cin, cout, groups, level): a conv layer's channel counts (two non-negative
-- integers) and groups (a positive integer dividing both), checked in that order. Shared by Conv2d,
-- Conv1d and ConvTranspose2d; level as check's (3 in a layer's __init).
function M.conv_channels(name, cin, cout, groups, level)
  level = level + 1
  if math.type(cin) ~= "integer" or math.type(cout) ~= "integer" or cin < 0 or cout < 0 then
    error(string.format("%s(in_channels, out_channels, kernel_size): two non-negative integers expected, got %s and %s",
      name, tostring(cin), tostring(cout)), level)
  end
  if math.type(groups) ~= "integer" or groups < 1 then
    error(string.format("%s: groups must be a positive integer, got %s", name, tostring(groups)), level)
  end
  if cin % groups ~= 0 or cout % groups ~= 0 then
    error(string.format("%s: in_channels (%d) and out_channels (%d) must be divisible by groups (%d)", name, cin, cout,
      groups), level)
  end
end

--- show(v): a value as an error message shows it: a list as "{1, 2}", anything else by tostring.
function M.show(v)
  if type(v) ~= "table" then return tostring(v) end
  local s = {}
  for i = 1, #v do s[i] = tostring(v[i]) end
  return "{" .. table.concat(s, ", ") .. "}"
end

--- check_float(t, what, fname[, level = 3]): t must be a float32 tensor; errors name the
-- function and the argument at the user's line (check_float <- F function <- user; a
-- helper between them passes level 4).
function M.check_float(t, what, fname, level)
  level = level or 3
  if not ks.is_tensor(t) then
    error(string.format("%s: argument '%s' must be a tensor, got %s", fname, what, type(t)), level)
  end
  if t:dtype() ~= "float32" then
    error(string.format("%s: argument '%s' must be float32, got %s", fname, what, t:dtype()), level)
  end
end

return M
