--- spec/helpers/torch_reference.lua: comparisons with numbers printed by
-- PyTorch (the specs that port torch behaviour), and error capture.
local assert = require "luassert"

local M = {}

-- every element of t (any shape, read row-major) within tol (default 1e-5) of
-- the flat list `expected`; names the first element that is not
function M.close(expected, t, tol)
  local got = t:detach():reshape(-1):totable()
  assert.are.equal(#expected, #got, "element count")
  for i = 1, #expected do
    if math.abs(got[i] - expected[i]) > (tol or 1e-5) then
      error(string.format("element %d: expected %.6f, got %.6f", i - 1, expected[i], got[i]), 2)
    end
  end
end

-- the message of the error fn(...) raises (the spec fails if it raises none)
function M.err_of(fn, ...)
  local ok, e = pcall(fn, ...)
  assert.is_false(ok, "expected an error")
  return tostring(e)
end

return M
