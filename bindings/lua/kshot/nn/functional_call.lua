--- nn.functional_call(module, tensors, ...) -> module(...) run with some of its
-- parameters and buffers replaced by the given tensors (PyTorch's
-- torch.func.functional_call). tensors: a table name -> tensor, names as
-- named_parameters / named_buffers give them ("fc.weight", "0.bias"), or a
-- list of {name, tensor} pairs (the shape of m:named_parameters()).
--
-- The replacements may be any tensors, also results of operations: that is
-- what MAML's inner loop needs, where the adapted weights w - lr * grad are
-- functions of the original ones and the meta-gradient flows through them:
--
--   local grads = autograd.grad(F.cross_entropy(model(xs), ys), params, {create_graph = true})
--   local fast = {}
--   for i, np in ipairs(model:named_parameters()) do fast[np[1]] = np[2] - grads[i] * inner_lr end
--   local loss = F.cross_entropy(nn.functional_call(model, fast, xq), yq)
--   loss:backward()                                -- second-order meta-gradient into p.grad
--
-- The module's own tensors are put back when forward returns or raises, so
-- the module is unchanged afterwards (buffers a forward updates in place,
-- such as batch-norm running statistics in training mode, are updated in the
-- tensors passed, as in PyTorch). Names the module does not have are an
-- error naming the nearest registered names; so are values that are not
-- tensors. Every result of forward is returned.
local ks = require "kshot"

-- depth: 1 when called from the main function, 2 from a helper it calls;
-- the error then names the user's line
local function fail(depth, fmt, ...) error(("nn.functional_call: " .. fmt):format(...), depth + 2) end

-- the registered parameter and buffer names of m, for the error message
local function known_names(m)
  local names = {}
  for _, np in ipairs(m:named_parameters()) do names[#names + 1] = np[1] end
  for _, nb in ipairs(m:named_buffers()) do names[#names + 1] = nb[1] end
  return names
end

local function edit_distance(a, b)
  local prev = {}
  for j = 0, #b do prev[j] = j end
  for i = 1, #a do
    local cur = {[0] = i}
    for j = 1, #b do
      cur[j] = math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a:byte(i) == b:byte(j) and 0 or 1))
    end
    prev = cur
  end
  return prev[#b]
end

local function unknown(m, name)
  local names = known_names(m)
  local best, bd = nil, math.huge
  for _, n in ipairs(names) do
    local d = edit_distance(name, n)
    if d < bd then best, bd = n, d end
  end
  local hint = best and bd <= math.max(2, #name // 3) and ("; did you mean '%s'?"):format(best) or ""
  fail(2, "the module has no parameter or buffer '%s'%s (it has: %s)", name, hint,
    #names > 0 and table.concat(names, ", ") or "none")
end

-- the module owning a dotted name and the name's last part, or nil
local function owner_of(m, name)
  local owner = m
  local parts = {}
  for part in name:gmatch("[^.]+") do parts[#parts + 1] = part end
  for i = 1, #parts - 1 do
    local kinds = rawget(owner, "_kinds")
    if not kinds or kinds[parts[i]] ~= "module" then return nil end
    owner = rawget(owner, "_slots")[parts[i]]
  end
  local kinds = rawget(owner, "_kinds")
  local kind = kinds and kinds[parts[#parts]]
  if kind ~= "param" and kind ~= "buffer" then return nil end
  return owner, parts[#parts]
end

-- {name, tensor} pairs from either accepted form, in a fixed order
local function pairs_of(tensors)
  local list = {}
  if tensors[1] ~= nil then
    for i, e in ipairs(tensors) do
      if type(e) ~= "table" or type(e[1]) ~= "string" then
        fail(2, "tensors[%d] must be a {name, tensor} pair, got %s", i,
          type(e) == "table" and ("a table whose [1] is a %s, not a name"):format(type(e[1])) or ("a " .. type(e)))
      end
      list[#list + 1] = {e[1], e[2]}
    end
  else
    for k, v in pairs(tensors) do
      if type(k) ~= "string" then fail(2, "the keys of tensors must be names (strings), got a %s key", type(k)) end
      list[#list + 1] = {k, v}
    end
    table.sort(list, function(a, b) return a[1] < b[1] end)
  end
  return list
end

return function(m, tensors, ...)
  if type(m) ~= "table" or rawget(m, "_slots") == nil then fail(1, "argument #1 must be an nn.Module, got %s", type(m)) end
  if type(tensors) ~= "table" then
    fail(1, "argument #2 must be a table of name -> tensor (or {name, tensor} pairs), got %s", type(tensors))
  end
  local swaps = {}
  for _, e in ipairs(pairs_of(tensors)) do
    local name, t = e[1], e[2]
    if not ks.is_tensor(t) then fail(1, "'%s' must be a tensor, got %s", name, type(t)) end
    local owner, leaf = owner_of(m, name)
    if not owner then unknown(m, name) end
    swaps[#swaps + 1] = {rawget(owner, "_slots"), leaf, t}
  end
  for _, s in ipairs(swaps) do s[1][s[2]], s[4] = s[3], s[1][s[2]] end
  local res = table.pack(pcall(m.forward, m, ...))
  for i = #swaps, 1, -1 do local s = swaps[i]; s[1][s[2]] = s[4] end
  if not res[1] then error(res[2], 0) end
  return table.unpack(res, 2, res.n)
end
