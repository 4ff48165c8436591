--- spec/helpers/sampling_fixture.lua: shared pieces of the sampler specs.
local M = {}

--- The message of the error fn(...) raises (asserts that it raises).
function M.err_of(fn, ...)
  local ok, msg = pcall(fn, ...)
  if ok then error("expected an error", 2) end
  return tostring(msg)
end

--- Labels of 5 classes with 7, 4, 9, 5, 6 rows, interleaved (0,1,2,3,4,0,1,...).
function M.interleaved_labels()
  local list, counts, left = {}, { 7, 4, 9, 5, 6 }, true
  while left do
    left = false
    for c = 0, 4 do
      if counts[c + 1] > 0 then
        list[#list + 1] = c
        counts[c + 1] = counts[c + 1] - 1
        left = true
      end
    end
  end
  return list
end

return M
