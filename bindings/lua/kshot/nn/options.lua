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

local M = {}

function M.check(opts, known, fname, level)
  -- + 1 for this frame (not a tail call, so the frame stays on the stack)
  local r = options.check(opts, fname, known, (level or 1) + 1)
  return r
end

return M
