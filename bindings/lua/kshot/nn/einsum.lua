--- ks.einsum(equation, a, b, ...) (also ks.einsum(equation, {a, b, ...})): torch.einsum.
--
--   ks.einsum("bij,bjk->bik", a, b)   batched matrix product
--   ks.einsum("ij->ji", x)            transpose;   ks.einsum("ii->i", x) is not supported (no diagonals)
--   ks.einsum("ij,ij->i", x, y)       row-wise dot products; without "->" the output is the
--                                     letters used once, in alphabetical order (ks.einsum("ij,jk", a, b))
-- Letters name dims (a-z, A-Z); a letter's size must agree across operands
-- (no broadcasting, no "..."). Operands are combined left to right; each
-- pair becomes one bmm after summing out the letters only it uses, so the
-- result is differentiable (permute, reshape, sum and bmm record autograd).
local ks = require "kshot"

local function fail(fmt, ...) error("einsum: " .. string.format(fmt, ...), 3) end

local function letters_of(term, what)
  local out = {}
  for i = 1, #term do
    local ch = term:sub(i, i)
    if not ch:match("%a") then
      if term:find("...", 1, true) then fail("'...' (ellipsis) is not supported in %s", what) end
      fail("invalid subscript '%s' in %s: only letters a-z, A-Z", ch, what)
    end
    for _, seen in ipairs(out) do
      if seen == ch then fail("subscript '%s' repeated in %s: diagonals are not supported", ch, what) end
    end
    out[#out + 1] = ch
  end
  return out
end

local function index_of(list, ch)
  for i, c in ipairs(list) do if c == ch then return i end end
  return nil
end

-- sum x over the letters not in keep; returns x and its remaining letters
local function sum_out(x, letters, keep)
  local rest, dims = {}, {}
  for i, ch in ipairs(letters) do
    if keep[ch] then rest[#rest + 1] = ch else dims[#dims + 1] = i - 1 end
  end
  for k = #dims, 1, -1 do x = x:sum(dims[k]) end
  return x, rest
end

-- x (letters) permuted to the order of `order` (a permutation of letters)
local function arrange(x, letters, order)
  if #order == 0 then return x end
  local perm, same = {}, true
  for i, ch in ipairs(order) do
    perm[i] = index_of(letters, ch) - 1
    same = same and perm[i] == i - 1
  end
  return same and x or x:permute(perm)
end

local function size_of(sizes, list)
  local n = 1
  for _, ch in ipairs(list) do n = n * sizes[ch] end
  return n
end

-- one pair: a (la) and b (lb) -> a tensor with letters `want` (any order), via bmm
local function pair(a, la, b, lb, keep, sizes)
  local in_b, in_a = {}, {}
  for _, ch in ipairs(lb) do in_b[ch] = true end
  for _, ch in ipairs(la) do in_a[ch] = true end
  local keep_a, keep_b = {}, {}
  for ch in pairs(in_a) do keep_a[ch] = keep[ch] or in_b[ch] end
  for ch in pairs(in_b) do keep_b[ch] = keep[ch] or in_a[ch] end
  a, la = sum_out(a, la, keep_a)
  b, lb = sum_out(b, lb, keep_b)
  local batch, left, contract, right = {}, {}, {}, {}
  for _, ch in ipairs(la) do
    if in_b[ch] then
      if keep[ch] then batch[#batch + 1] = ch else contract[#contract + 1] = ch end
    else
      left[#left + 1] = ch
    end
  end
  for _, ch in ipairs(lb) do if not in_a[ch] then right[#right + 1] = ch end end
  local function concat(...)
    local out = {}
    for _, l in ipairs({...}) do for _, ch in ipairs(l) do out[#out + 1] = ch end end
    return out
  end
  local nb, nl, nk, nr = size_of(sizes, batch), size_of(sizes, left), size_of(sizes, contract), size_of(sizes, right)
  local a3 = arrange(a, la, concat(batch, left, contract)):reshape(nb, nl, nk)
  local b3 = arrange(b, lb, concat(batch, contract, right)):reshape(nb, nk, nr)
  local out_letters = concat(batch, left, right)
  local shape = {}
  for i, ch in ipairs(out_letters) do shape[i] = sizes[ch] end
  local r = ks.bmm(a3, b3)
  return (#shape == 0 and r:reshape({}) or r:reshape(shape)), out_letters
end

return function(equation, ...)
  if type(equation) ~= "string" then fail("argument 'equation' must be a string, got %s", type(equation)) end
  local ops = table.pack(...)
  if ops.n == 1 and type(ops[1]) == "table" and not ks.is_tensor(ops[1]) then ops = table.pack(table.unpack(ops[1])) end
  local eq = equation:gsub("%s", "")
  local lhs, rhs = eq:match("^(.-)%->(.*)$")
  if not lhs then lhs = eq end
  local terms = {}
  for term in (lhs .. ","):gmatch("(.-),") do terms[#terms + 1] = term end
  if #terms ~= ops.n then
    fail("the equation '%s' has %d operand(s) but %d tensor(s) were given", equation, #terms, ops.n)
  end
  local sizes, count, lets = {}, {}, {}
  for k, term in ipairs(terms) do
    local t = ops[k]
    if not ks.is_tensor(t) then fail("operand %d must be a tensor, got %s", k - 1, type(t)) end
    local l = letters_of(term, "operand " .. (k - 1))
    if #l ~= t:dim() then
      fail("operand %d has %d dims (shape [%s]) but its subscripts '%s' name %d", k - 1, t:dim(),
        table.concat(t:shape(), ", "), term, #l)
    end
    for i, ch in ipairs(l) do
      local n = t:size(i - 1)
      if sizes[ch] and sizes[ch] ~= n then
        fail("subscript '%s' has size %d in operand %d but %d before", ch, n, k - 1, sizes[ch])
      end
      sizes[ch] = n
      count[ch] = (count[ch] or 0) + 1
    end
    lets[k] = l
  end
  local out
  if rhs then
    out = letters_of(rhs, "the output")
    for _, ch in ipairs(out) do
      if not sizes[ch] then fail("output subscript '%s' does not appear in any operand", ch) end
    end
  else
    out = {}
    for ch, n in pairs(count) do if n == 1 then out[#out + 1] = ch end end
    table.sort(out)
  end
  local keep_out = {}
  for _, ch in ipairs(out) do keep_out[ch] = true end
  local x, lx = ops[1], lets[1]
  for k = 2, ops.n do
    local keep = {} -- letters needed after this pair: the output's and the later operands'
    for ch in pairs(keep_out) do keep[ch] = true end
    for j = k + 1, ops.n do for _, ch in ipairs(lets[j]) do keep[ch] = true end end
    x, lx = pair(x, lx, ops[k], lets[k], keep, sizes)
  end
  x, lx = sum_out(x, lx, keep_out)
  return arrange(x, lx, out)
end
