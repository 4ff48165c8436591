--- spec/helpers/same_bits.lua: bit-for-bit comparison of tensors, and the
-- results of a function run with 1 and with 2 threads.
local ks = require "kshot"
local assert = require "luassert"

local M = {}

-- same shape, dtype and every element (NaN matches NaN); names the first difference
function M.assert_same(a, b, what)
  assert.same(a:shape(), b:shape())
  assert.equal(a:dtype(), b:dtype())
  if a:numel() > 4096 and a:eq(b):all():item() then return end -- fast path; a difference is named below
  local va, vb = a:reshape(-1):totable(), b:reshape(-1):totable()
  for i = 1, #va do
    local x, y = va[i], vb[i]
    if x ~= y and not (x ~= x and y ~= y) then
      error(("%s element %d differs: %.17g vs %.17g"):format(what, i, x, y), 2)
    end
  end
end

-- the results of f() with 1 and with 2 threads, as two lists
function M.with_threads(f)
  local saved = ks.get_num_threads()
  ks.set_num_threads(1)
  local one = { f() }
  ks.set_num_threads(2)
  local two = { f() }
  ks.set_num_threads(saved)
  return one, two
end

return M
