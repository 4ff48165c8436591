--- kshot.tensor_args: the argument checks shared by the tensor functions
-- written in Lua (kshot.tensor_shape_extra, kshot.tensor_math_extra). A
-- check's `level` counts as error()'s does, from the function that called it,
-- so the message points at the user's line.
local ks = require "kshot"

local M = {}

function M.fail(level, fmt, ...) error(string.format(fmt, ...), level + 1) end

function M.check_tensor(fname, what, t, level)
  if not ks.is_tensor(t) then M.fail(level + 1, "%s: argument '%s' must be a tensor, got %s", fname, what, type(t)) end
end

--- A 0-based dim of a tensor with ndim dims (negative from the end), checked; a 0-d tensor has dims -1 and 0.
function M.wrap_dim(fname, what, d, ndim, level)
  if math.type(d) ~= "integer" then
    M.fail(level + 1, "%s: argument '%s' must be an integer, got %s", fname, what, tostring(d))
  end
  local n = math.max(ndim, 1)
  if d < -n or d >= n then
    M.fail(level + 1, "%s: dim %d out of range for a %d-d tensor (expected %d to %d)", fname, d, ndim, -n, n - 1)
  end
  return d < 0 and d + n or d
end

return M
