-- Attention: F.scaled_dot_product_attention, nn.MultiheadAttention, nn.TransformerEncoderLayer.
-- Values are checked by hand-computed examples; gradients by gradcheck (the op: its defaults,
-- eps 1e-2 and |a - n| <= 1e-4 + 2e-3 |n|; the modules: eps 3e-3 and |a - n| <= 1e-3 + 2e-3 |n|);
-- the modules also against PyTorch 1.13's MultiheadAttention / TransformerEncoderLayer
-- (spec/fixtures/torch/attention.*, written by make_torch_fixtures.py; kdim / vdim:
-- spec/fixtures/attention_kdim_torch113.json, written by make_attention_kdim_fixture.py) within
-- max|kshot - torch| <= 1e-4 * max|torch| + 1e-6 per tensor.
local ks = require "kshot"
local nn = require "kshot.nn"
local F = ks.functional
local gradcheck = require("kshot.autograd").gradcheck

local HERE = (debug.getinfo(1, "S").source:match("^@(.*[/\\])") or "./")
local DIR = HERE .. "fixtures/torch/"

local sdpa = F.scaled_dot_product_attention
-- the modules' projections make the finite differences curved enough at eps 1e-2 to miss
-- rtol 2e-3 now and then, and float32 rounding at eps 3e-3 reaches ~3e-4: eps 3e-3, atol 1e-3
local MODULE_EPS = {eps = 3e-3, atol = 1e-3}

local function close(a, b, tol)
  if type(b) == "table" then b = ks.tensor(b) end
  assert.are.same(b:shape(), a:shape())
  local d = (a - b):abs():max():item()
  assert(d <= (tol or 1e-6), string.format("max |diff| %g", d))
end

local function errmsg(f, ...)
  local ok, e = pcall(f, ...)
  assert.is_false(ok, "an error was expected")
  return tostring(e)
end

local function leaf(...) return ks.randn(...):requires_grad_(true) end

-- fn(x, p1, p2, ...) running module m with its parameters replaced (for gradcheck)
local function with_params(m, call)
  local named = m:named_parameters()
  local function set(path, t)
    local owner, parts = m, {}
    for part in path:gmatch("[^.]+") do parts[#parts + 1] = part end
    for i = 1, #parts - 1 do owner = owner[parts[i]] end
    owner[parts[#parts]] = t
  end
  local inputs = {}
  for _, p in ipairs(named) do inputs[#inputs + 1] = p[2]:detach():clone():requires_grad_(true) end
  return function(x, ...)
    local vals = {...}
    for i, p in ipairs(named) do set(p[1], vals[i]) end
    local ok, out = pcall(call, x)
    for _, p in ipairs(named) do set(p[1], p[2]) end
    if not ok then error(out, 0) end
    return out
  end, inputs
end

describe("F.scaled_dot_product_attention", function()
  before_each(function() ks.manual_seed(0) end)

  it("computes softmax(q k^T / sqrt(E)) v", function()
    local q, k, v = ks.tensor({{1, 0}}), ks.tensor({{1, 0}, {0, 1}}), ks.tensor({{1, 2}, {3, 4}})
    local e = math.exp(1 / math.sqrt(2))
    local a = e / (e + 1)
    close(sdpa(q, k, v), {{a * 1 + (1 - a) * 3, a * 2 + (1 - a) * 4}})
    close(sdpa(q, k, v, {scale = 0}), {{2, 3}}) -- uniform weights
    local e2 = math.exp(3)
    close(sdpa(q, k, v, {scale = 3}), {{(e2 + 3) / (e2 + 1), (2 * e2 + 4) / (e2 + 1)}})
  end)

  it("bool attn_mask: True takes part (PyTorch's SDPA convention); float masks are added", function()
    local q, k, v = ks.tensor({{1, 0}}), ks.tensor({{1, 0}, {0, 1}}), ks.tensor({{1, 2}, {3, 4}})
    close(sdpa(q, k, v, ks.tensor({{false, true}})), {{3, 4}})
    close(sdpa(q, k, v, {attn_mask = ks.tensor({{true, false}})}), {{1, 2}})
    close(sdpa(q, k, v, ks.tensor({{0, -math.huge}})), {{1, 2}})
    local e = math.exp(1 / math.sqrt(2) + 1)
    local a = e / (e + 1)
    close(sdpa(q, k, v, ks.tensor({{1, 0}})), {{a + (1 - a) * 3, 2 * a + (1 - a) * 4}})
  end)

  it("a query with every key masked out gets zero output and finite gradients", function()
    local q, k, v = leaf(1, 2, 3), leaf(1, 4, 3), leaf(1, 4, 5)
    local mask = ks.tensor({{true, false, true, false}, {false, false, false, false}})
    local out = sdpa(q, k, v, mask)
    close(out[{{}, 1}], ks.zeros(1, 5))
    out:sum():backward()
    assert.is_false(q.grad:isnan():any():item())
    close(q.grad[{{}, 1}], ks.zeros(1, 3))
    assert.is_false(v.grad:isnan():any():item())
  end)

  it("is_causal keeps the lower triangle, like an explicit tril mask", function()
    local q, k, v = ks.randn(2, 4, 3), ks.randn(2, 4, 3), ks.randn(2, 4, 3)
    local tril = ks.ones(4, 4, "bool"):tril()
    close(sdpa(q, k, v, {is_causal = true}), sdpa(q, k, v, tril))
    close(sdpa(q, k, v, {is_causal = true})[{{}, 0}], v[{{}, 0}], 1e-6) -- first query sees only key 0
    assert.truthy(errmsg(sdpa, q, k, v, tril, {is_causal = true}):find("attn_mask must be nil when is_causal", 1, true))
  end)

  it("broadcasts batch dims and takes heads as a dim", function()
    local q, k, v = ks.randn(2, 3, 4, 8), ks.randn(2, 3, 6, 8), ks.randn(1, 3, 6, 5)
    assert.are.same({2, 3, 4, 5}, sdpa(q, k, v):shape())
    local out = sdpa(q, k, v)
    close(out[1][2], sdpa(q[1][2], k[1][2], v[0][2]), 1e-6)
  end)

  it("applies dropout to the weights when dropout_p > 0, reproducibly from the seed", function()
    local q, k, v = ks.randn(2, 6, 4), ks.randn(2, 6, 4), ks.randn(2, 6, 4)
    ks.manual_seed(3)
    local a = sdpa(q, k, v, {dropout_p = 0.5})
    ks.manual_seed(3)
    local b = sdpa(q, k, v, {dropout_p = 0.5})
    close(a, b, 0)
    assert.is_true((a - sdpa(q, k, v)):abs():max():item() > 1e-3)
    close(sdpa(q, k, v, {dropout_p = 1}), ks.zeros(2, 6, 4))
  end)

  it("passes gradcheck without a mask, with a bool mask and with a float mask", function()
    gradcheck(sdpa, {leaf(2, 3, 4), leaf(2, 5, 4), leaf(2, 5, 6)})
    local keep = ks.tensor({{true, false, true, true, false}, {true, true, true, true, true},
      {false, false, false, true, false}})
    gradcheck(sdpa, {leaf(2, 3, 4), leaf(2, 5, 4), leaf(2, 5, 6), keep})
    gradcheck(sdpa, {leaf(2, 3, 4), leaf(2, 5, 4), leaf(2, 5, 6), leaf(3, 5)}) -- the float mask too
    gradcheck(function(q, k, v) return sdpa(q, k, v, {is_causal = true, scale = 0.7}) end,
      {leaf(1, 2, 4, 3), leaf(1, 2, 4, 3), leaf(1, 2, 4, 3)})
  end)

  it("rejects bad arguments with clear errors", function()
    local q, k, v = ks.randn(2, 3, 4), ks.randn(2, 5, 4), ks.randn(2, 5, 6)
    local e = errmsg(sdpa, q, ks.randn(2, 5, 3), v)
    assert.truthy(e:find("query [2, 3, 4], key [2, 5, 3] and value [2, 5, 6]", 1, true))
    assert.truthy(errmsg(sdpa, q, k, ks.randn(2, 4, 6)):find("value [2, 4, 6]", 1, true))
    assert.truthy(errmsg(sdpa, nil, k, v):find("query must be a tensor, got nil", 1, true))
    assert.truthy(errmsg(sdpa, q, k:long(), v):find("key must be float32, got int64", 1, true))
    assert.truthy(errmsg(sdpa, q, k, v, ks.ones(3, 4, "bool")):find("attn_mask of shape [3, 4] cannot be broadcast", 1, true))
    assert.truthy(errmsg(sdpa, q, k, v, ks.ones(3, 5):long()):find("attn_mask must be bool or float32, got int64", 1, true))
    assert.truthy(errmsg(sdpa, q, k, v, {dropout_p = 2}):find("dropout_p must be in [0, 1]", 1, true))
    assert.truthy(errmsg(sdpa, q, k, v, {scale = "x"}):find("scale must be a number", 1, true))
    assert.truthy(errmsg(sdpa, ks.randn(4), k, v):find("do not fit", 1, true))
    -- unknown option names (typos) and non-boolean flags
    assert.truthy(errmsg(sdpa, q, k, v, {causal = true}):find("unknown option 'causal'", 1, true))
    assert.truthy(errmsg(sdpa, q, k, v, {is_causal = 1}):find("option is_causal must be a boolean, got number", 1, true))
  end)
end)

describe("nn.MultiheadAttention", function()
  before_each(function() ks.manual_seed(0) end)

  it("has PyTorch's parameter names, shapes and initialisation", function()
    local m = nn.MultiheadAttention(8, 2)
    local sd, keys = m:state_dict()
    assert.are.same({"in_proj_weight", "in_proj_bias", "out_proj.weight", "out_proj.bias"}, keys)
    assert.are.same({24, 8}, sd.in_proj_weight:shape())
    assert.are.same({24}, sd.in_proj_bias:shape())
    assert.are.same({8, 8}, sd["out_proj.weight"]:shape())
    assert.are.equal(0, sd.in_proj_bias:abs():max():item())
    assert.are.equal(0, sd["out_proj.bias"]:abs():max():item())
    assert.is_true(sd.in_proj_weight:abs():max():item() <= math.sqrt(6 / (8 + 24))) -- xavier_uniform
    local _, nobias = nn.MultiheadAttention(8, 2, {bias = false}):state_dict()
    assert.are.same({"in_proj_weight", "out_proj.weight"}, nobias)
    assert.truthy(m:extra_repr():find("embed_dim=8, num_heads=2", 1, true))
    assert.truthy(tostring(m):find("(out_proj): Linear(in_features=8, out_features=8, bias=true)", 1, true))
  end)

  it("returns [N, L, E] and head-averaged weights [N, L, S] (batch first by default)", function()
    local m = nn.MultiheadAttention(8, 4)
    local q, kv = ks.randn(3, 5, 8), ks.randn(3, 7, 8)
    local out, w = m(q, kv, kv)
    assert.are.same({3, 5, 8}, out:shape())
    assert.are.same({3, 5, 7}, w:shape())
    close(w:sum(-1), ks.ones(3, 5), 1e-5)
    local _, wh = m(q, kv, kv, {average_attn_weights = false})
    assert.are.same({3, 4, 5, 7}, wh:shape())
    close(wh:mean(1), w, 1e-6)
    local o2, none = m(q, kv, kv, {need_weights = false})
    assert.is_nil(none)
    close(o2, out, 0)
  end)

  it("time-first (batch_first=false) and unbatched inputs give the same numbers", function()
    local a = nn.MultiheadAttention(6, 2)
    local b = nn.MultiheadAttention(6, 2, {batch_first = false})
    b:load_state_dict((a:state_dict()))
    local x = ks.randn(2, 4, 6)
    local ya = a(x, x, x)
    local yb = b(x:transpose(0, 1):contiguous(), nil, nil)
    close(yb:transpose(0, 1), ya, 1e-6)
    local y1, w1 = a(x[1], x[1], x[1])
    assert.are.same({4, 6}, y1:shape())
    assert.are.same({4, 4}, w1:shape())
    close(y1, ya[1], 1e-6)
  end)

  it("uses PyTorch's mask convention: True is NOT allowed; padding masks drop keys", function()
    local m = nn.MultiheadAttention(4, 1)
    local q, kv = ks.randn(1, 2, 4), ks.randn(1, 3, 4)
    local pad = ks.tensor({{false, false, true}})
    local _, w = m(q, kv, kv, {key_padding_mask = pad})
    close(w[{{}, {}, 2}], ks.zeros(1, 2), 0)
    local am = ks.tensor({{false, true, true}, {true, false, true}})
    local _, w2 = m(q, kv, kv, {attn_mask = am})
    close(w2, ks.tensor({{{1, 0, 0}, {0, 1, 0}}}), 1e-6)
    local _, w3 = m(q, kv, kv, {attn_mask = ks.zeros(2, 3):masked_fill(am, -math.huge), key_padding_mask = pad})
    close(w3, w2, 1e-6) -- float attn_mask added, bool padding mask folded in as -inf
    local _, w4 = m(q, kv, kv, {attn_mask = am:unsqueeze(0)}) -- [N*H, L, S]
    close(w4, w2, 1e-6)
  end)

  it("applies dropout to the attention weights only in training", function()
    local m = nn.MultiheadAttention(8, 2, {dropout = 0.5})
    local x = ks.randn(2, 6, 8)
    m:eval()
    local e1, e2 = m(x, x, x), m(x, x, x)
    close(e1, e2, 0)
    m:train()
    assert.is_true((m(x, x, x) - e1):abs():max():item() > 1e-4)
  end)

  it("passes gradcheck (input and parameters, with masks)", function()
    local m = nn.MultiheadAttention(6, 2)
    local pad = ks.tensor({{false, false, false, true}, {false, false, false, false}})
    local causal = ks.ones(4, 4, "bool"):triu(1)
    local fn, params = with_params(m, function(x)
      return (m(x, x, x, {key_padding_mask = pad, attn_mask = causal}))
    end)
    gradcheck(fn, {leaf(2, 4, 6), table.unpack(params)}, MODULE_EPS)
    local kv = leaf(2, 5, 6)
    local fn2, params2 = with_params(m, function(q) return (m(q, kv, kv)) end)
    gradcheck(fn2, {leaf(2, 3, 6), table.unpack(params2)}, MODULE_EPS)
    gradcheck(function(q, k) return (m(q, k, k)) end, {leaf(2, 3, 6), leaf(2, 5, 6)}, MODULE_EPS)
  end)

  it("rejects bad arguments with clear errors", function()
    assert.truthy(errmsg(nn.MultiheadAttention, 10, 3):find("embed_dim (10) must be divisible by num_heads (3)", 1, true))
    assert.truthy(errmsg(nn.MultiheadAttention, 8):find("two positive integers", 1, true))
    local m = nn.MultiheadAttention(8, 2)
    assert.truthy(errmsg(m, ks.randn(2, 3, 6)):find("query must be [N, T, 8] or unbatched [T, 8], got [2, 3, 6]", 1, true))
    local x, kv = ks.randn(2, 3, 8), ks.randn(3, 4, 8)
    assert.truthy(errmsg(m, x, kv, kv):find("disagree on batch", 1, true))
    assert.truthy(errmsg(m, x, x, x, {key_padding_mask = ks.ones(2, 4, "bool")})
      :find("key_padding_mask must be [N, S] = [2, 3], got [2, 4]", 1, true))
    assert.truthy(errmsg(m, x, x, x, {attn_mask = ks.ones(2, 3, 3, "bool")})
      :find("attn_mask must be [L, S] = [3, 3] or [N*num_heads, L, S] = [4, 3, 3], got [2, 3, 3]", 1, true))
    assert.truthy(errmsg(m, x, x, x, {attn_mask = ks.ones(3, 3):long()}):find("bool or float32, got int64", 1, true))
    assert.truthy(errmsg(m, "x"):find("query must be a tensor, got string", 1, true))
  end)

  it("rejects unknown or mistyped options", function()
    local e = errmsg(nn.MultiheadAttention, 8, 2, {kdim = 2.5})
    assert.truthy(e:find("MultiheadAttention: option kdim must be a positive integer, got 2.5", 1, true), e)
    assert.truthy(errmsg(nn.MultiheadAttention, 8, 2, {vdim = 0}):find("option vdim must be a positive integer, got 0", 1,
      true))
    assert.truthy(errmsg(nn.MultiheadAttention, 8, 2, {vdim = "6"}):find("option vdim must be a positive integer, got string",
      1, true))
    assert.truthy(errmsg(nn.MultiheadAttention, 8, 2, {dropuot = 0.1}):find("unknown option 'dropuot'", 1, true))
    assert.truthy(errmsg(nn.MultiheadAttention, 8, 2, {batch_first = "no"})
      :find("option batch_first must be a boolean, got string", 1, true))
    assert.truthy(errmsg(nn.MultiheadAttention, 8, 2, {bias = 0}):find("option bias must be a boolean, got number", 1, true))
    assert.truthy(errmsg(nn.MultiheadAttention, 8, 2, 5):find("options table expected, got number", 1, true))
    local m = nn.MultiheadAttention(8, 2, {kdim = 8, vdim = 8}) -- the packed case is PyTorch's default
    assert.are.same({"in_proj_weight", "in_proj_bias", "out_proj.weight", "out_proj.bias"}, select(2, m:state_dict()))
    local x = ks.randn(2, 3, 8)
    e = errmsg(m, x, x, x, {need_weight = false})
    assert.truthy(e:find("MultiheadAttention: unknown option 'need_weight' (known: attn_mask, average_attn_weights, "
      .. "key_padding_mask, need_weights)", 1, true), e)
    assert.truthy(errmsg(m, x, x, x, {need_weights = "no"}):find("option need_weights must be a boolean, got string", 1, true))
    local _, w = m(x, x, x, {need_weights = false})
    assert.is_nil(w)
  end)
end)

describe("nn.MultiheadAttention with kdim / vdim", function()
  before_each(function() ks.manual_seed(0) end)

  it("has PyTorch's separate projections: names, shapes, xavier_uniform each, zero biases", function()
    local m = nn.MultiheadAttention(8, 2, {kdim = 4, vdim = 6})
    local sd, keys = m:state_dict()
    assert.are.same({"q_proj_weight", "k_proj_weight", "v_proj_weight", "in_proj_bias", "out_proj.weight",
      "out_proj.bias"}, keys)
    assert.is_nil(m.in_proj_weight)
    for name, shape in pairs({q_proj_weight = {8, 8}, k_proj_weight = {8, 4}, v_proj_weight = {8, 6}}) do
      local w = sd[name]
      assert.are.same(shape, w:shape())
      local bound = math.sqrt(6 / (shape[1] + shape[2]))
      assert.is_true(w:abs():max():item() <= bound, name) -- xavier_uniform: within the bound, and spread over it
      assert.is_true(w:abs():max():item() > 0.5 * bound, name)
    end
    assert.are.same({24}, sd.in_proj_bias:shape())
    assert.are.equal(0, sd.in_proj_bias:abs():max():item())
    assert.are.equal(0, sd["out_proj.bias"]:abs():max():item())
    assert.truthy(m:extra_repr():find("embed_dim=8, num_heads=2, kdim=4, vdim=6", 1, true))
    -- one of the two differing is enough to separate them (PyTorch's _qkv_same_embed_dim)
    local m2 = nn.MultiheadAttention(8, 2, {vdim = 3, bias = false})
    local sd2, keys2 = m2:state_dict()
    assert.are.same({"q_proj_weight", "k_proj_weight", "v_proj_weight", "out_proj.weight"}, keys2)
    assert.are.same({8, 8}, sd2.k_proj_weight:shape())
    assert.are.same({8, 3}, sd2.v_proj_weight:shape())
  end)

  it("maps query [N, L, E], key [N, S, kdim], value [N, S, vdim] to [N, L, E]", function()
    local m = nn.MultiheadAttention(8, 2, {kdim = 4, vdim = 6})
    ks.no_grad(function() m.in_proj_bias:copy_(ks.randn(24)) end) -- nonzero: each projection takes its third
    local q, k, v = ks.randn(3, 5, 8), ks.randn(3, 7, 4), ks.randn(3, 7, 6)
    local out, w = m(q, k, v, {key_padding_mask = ks.zeros(3, 7, "bool")})
    assert.are.same({3, 5, 8}, out:shape())
    assert.are.same({3, 5, 7}, w:shape())
    close(w:sum(-1), ks.ones(3, 5), 1e-5)
    -- the projections by hand: heads of (x W^T + b), softmax(q k^T / sqrt(d)) v, out_proj
    local b = m.in_proj_bias
    local function heads(x, wt, i, t)
      return (ks.matmul(x, wt:t()) + b:narrow(0, i * 8, 8)):reshape(3, t, 2, 4):transpose(1, 2)
    end
    local qh, kh, vh = heads(q, m.q_proj_weight, 0, 5), heads(k, m.k_proj_weight, 1, 7), heads(v, m.v_proj_weight, 2, 7)
    local o = sdpa(qh, kh, vh):transpose(1, 2):reshape(3, 5, 8)
    close(out, m.out_proj(o), 1e-5)
    -- unbatched and time-first give the same numbers
    local o1 = m(q[1], k[1], v[1])
    close(o1, out[1], 1e-5)
    local tf = nn.MultiheadAttention(8, 2, {kdim = 4, vdim = 6, batch_first = false})
    tf:load_state_dict((m:state_dict()))
    close(tf(q:transpose(0, 1), k:transpose(0, 1), v:transpose(0, 1)):transpose(0, 1), out, 1e-5)
  end)

  it("names both shapes when keys or values do not have kdim / vdim features", function()
    local m = nn.MultiheadAttention(8, 2, {kdim = 4, vdim = 6})
    local q = ks.randn(2, 3, 8)
    local e = errmsg(m, q, ks.randn(2, 5, 8), ks.randn(2, 5, 6))
    assert.truthy(e:find("MultiheadAttention: key must be [N, T, 4] or unbatched [T, 4] (kdim = 4, embed_dim = 8), "
      .. "got [2, 5, 8]", 1, true), e)
    e = errmsg(m, q, ks.randn(2, 5, 4), ks.randn(2, 5, 4))
    assert.truthy(e:find("value must be [N, T, 6] or unbatched [T, 6] (vdim = 6, embed_dim = 8), got [2, 5, 4]", 1,
      true), e)
    e = errmsg(m, q) -- key defaults to the query, which has embed_dim features
    assert.truthy(e:find("key must be [N, T, 4]", 1, true) and e:find("got [2, 3, 8]", 1, true), e)
    e = errmsg(m, q, ks.randn(2, 5, 4), ks.randn(2, 4, 6))
    assert.truthy(e:find("query [2, 3, 8], key [2, 5, 4] and value [2, 4, 6] disagree", 1, true), e)
    local tf = nn.MultiheadAttention(8, 2, {kdim = 4, batch_first = false})
    e = errmsg(tf, ks.randn(3, 2, 8), ks.randn(5, 2, 6), ks.randn(5, 2, 8))
    assert.truthy(e:find("key must be [N, T, 4] (time first: [T, N, E]) or unbatched [T, 4] (kdim = 4, embed_dim = 8), "
      .. "got [5, 2, 6]", 1, true), e)
    -- a packed state dict does not load into separate projections (and back)
    local packed = nn.MultiheadAttention(8, 2)
    assert.truthy(errmsg(function() m:load_state_dict((packed:state_dict())) end):find("q_proj_weight", 1, true))
    assert.truthy(errmsg(function() packed:load_state_dict((m:state_dict())) end):find("in_proj_weight", 1, true))
  end)

  it("passes gradcheck (query, key, value and parameters, with a padding mask)", function()
    local m = nn.MultiheadAttention(6, 2, {kdim = 4, vdim = 5})
    local pad = ks.tensor({{false, false, false, true}, {false, false, false, false}})
    local k, v = leaf(2, 4, 4), leaf(2, 4, 5)
    local fn, params = with_params(m, function(q) return (m(q, k, v, {key_padding_mask = pad})) end)
    gradcheck(fn, {leaf(2, 3, 6), table.unpack(params)}, MODULE_EPS)
    gradcheck(function(q, kk, vv) return (m(q, kk, vv)) end, {leaf(2, 3, 6), k, v}, MODULE_EPS)
  end)
end)

describe("nn.TransformerEncoderLayer", function()
  before_each(function() ks.manual_seed(0) end)

  it("has PyTorch's submodule and parameter names", function()
    local layer = nn.TransformerEncoderLayer(8, 2)
    local _, keys = layer:state_dict()
    assert.are.same({"self_attn.in_proj_weight", "self_attn.in_proj_bias", "self_attn.out_proj.weight",
      "self_attn.out_proj.bias", "linear1.weight", "linear1.bias", "linear2.weight", "linear2.bias",
      "norm1.weight", "norm1.bias", "norm2.weight", "norm2.bias"}, keys)
    assert.are.same({2048, 8}, layer.linear1.weight:shape()) -- dim_feedforward 2048 by default
    local names = {}
    for name in layer:named_children() do names[#names + 1] = name end
    assert.are.same({"self_attn", "linear1", "dropout", "linear2", "norm1", "norm2", "dropout1", "dropout2"}, names)
    assert.are.equal(0.1, layer.dropout.p)
  end)

  it("maps [N, L, E] to [N, L, E]; eval is deterministic, train applies dropout", function()
    local layer = nn.TransformerEncoderLayer(8, 2, {dim_feedforward = 16})
    local x = ks.randn(2, 5, 8)
    layer:eval()
    local a = layer(x)
    assert.are.same({2, 5, 8}, a:shape())
    close(layer(x), a, 0)
    layer:train()
    assert.is_true((layer(x) - a):abs():max():item() > 1e-4)
    local causal = ks.ones(5, 5, "bool"):triu(1)
    layer:eval()
    local c = layer(x, causal)
    close(layer(x, {src_mask = causal}), c, 0)
    -- causal: the first position's output depends on nothing after it
    local x2 = x:clone()
    x2[{{}, 4}] = ks.randn(2, 8)
    close(layer(x2, causal)[{{}, 0}], c[{{}, 0}], 1e-6)
  end)

  it("passes gradcheck (post-norm and pre-norm, eval mode)", function()
    for _, opts in ipairs({{dim_feedforward = 12, activation = "gelu"},
                           {dim_feedforward = 12, activation = "gelu", norm_first = true}}) do
      local layer = nn.TransformerEncoderLayer(6, 2, opts)
      layer:eval()
      local pad = ks.tensor({{false, false, true}, {false, false, false}})
      local fn, params = with_params(layer, function(x) return layer(x, {src_key_padding_mask = pad}) end)
      gradcheck(fn, {leaf(2, 3, 6), table.unpack(params)}, MODULE_EPS)
    end
  end)

  it("rejects bad options", function()
    assert.truthy(errmsg(nn.TransformerEncoderLayer, 8, 2, {activation = "tanh"}):find("activation must be", 1, true))
    assert.truthy(errmsg(nn.TransformerEncoderLayer, 8, 3):find("divisible by num_heads", 1, true))
    assert.truthy(errmsg(nn.TransformerEncoderLayer, 8, 2, {dim_feedforward = 0}):find("dim_feedforward", 1, true))
    assert.truthy(errmsg(nn.TransformerEncoderLayer, 8, 2, {norm_first = "yes"})
      :find("TransformerEncoderLayer: option norm_first must be a boolean, got string", 1, true))
    assert.truthy(errmsg(nn.TransformerEncoderLayer, 8, 2, {nhead = 2}):find("unknown option 'nhead'", 1, true))
    assert.truthy(errmsg(nn.TransformerEncoderLayer, 8, 2, {dropout = 2}):find("dropout must be a number in [0, 1]", 1, true))
    assert.truthy(errmsg(nn.TransformerEncoderLayer, 8, 2, {layer_norm_eps = 0}):find("layer_norm_eps must be a number > 0", 1,
      true))
    local l = nn.TransformerEncoderLayer(8, 2, {dim_feedforward = 4})
    assert.truthy(errmsg(l, ks.randn(2, 3, 8), {mask = ks.ones(3, 3, "bool")}):find("unknown option 'mask'", 1, true))
  end)
end)

describe("attention against PyTorch 1.13", function()
  local RTOL, ATOL = 1e-4, 1e-6
  local function match(what, a, b)
    assert.are.same(b:shape(), a:shape(), what)
    local d, s = (a - b):abs():max():item(), b:abs():max():item()
    assert(d <= RTOL * s + ATOL, string.format("%s: max |diff| %g (scale %g)", what, d, s))
  end
  local function sub(fx, prefix)
    local sd = {}
    for k, v in pairs(fx) do
      if k:sub(1, #prefix) == prefix then sd[k:sub(#prefix + 1)] = v end
    end
    return sd
  end

  for _, format in ipairs({"safetensors", "npz"}) do
    local function fixture()
      if format == "safetensors" then return (ks.load(DIR .. "attention.safetensors")) end
      return ks.data.read_npz(DIR .. "attention.npz")
    end

    it("MultiheadAttention: outputs, weights and gradients with masks (" .. format .. ")", function()
      local fx = fixture()
      local m = nn.MultiheadAttention(8, 2)
      m:load_state_dict(sub(fx, "mha.w."))
      local x = fx["mha.x"]:clone():requires_grad_(true)
      local out, w = m(x, x, x, {key_padding_mask = fx["mha.pad"]:bool(), attn_mask = fx["mha.causal"]:bool()})
      match("out", out, fx["mha.out"])
      match("weights", w, fx["mha.weights"])
      ;(out * fx["mha.proj"]):sum():backward()
      match("grad x", x.grad, fx["mha.grad.x"])
      for _, p in ipairs(m:named_parameters()) do match("grad " .. p[1], p[2].grad, fx["mha.grad." .. p[1]]) end
      m:eval()
      local o2, w2 = m(fx["mha.q"], fx["mha.kv"], fx["mha.kv"], {average_attn_weights = false})
      match("cross out", o2, fx["mha.cross_out"])
      match("cross weights", w2, fx["mha.cross_weights"])
    end)

    it("TransformerEncoderLayer post-norm relu and pre-norm gelu (" .. format .. ")", function()
      local fx = fixture()
      for _, tag in ipairs({"enc", "encpre"}) do
        local pre = tag == "encpre"
        local layer = nn.TransformerEncoderLayer(8, 2, {dim_feedforward = 16, dropout = 0, norm_first = pre,
          activation = pre and "gelu" or "relu"})
        layer:load_state_dict(sub(fx, tag .. ".w."))
        local src = fx[tag .. ".src"]:clone():requires_grad_(true)
        local out = layer(src, {src_key_padding_mask = fx["mha.pad"]:bool()})
        match(tag .. " out", out, fx[tag .. ".out"])
        ;(out * fx[tag .. ".proj"]):sum():backward()
        match(tag .. " grad src", src.grad, fx[tag .. ".grad.src"])
        for _, p in ipairs(layer:named_parameters()) do
          match(tag .. " grad " .. p[1], p[2].grad, fx[tag .. ".grad." .. p[1]])
        end
      end
    end)
  end
end)

describe("MultiheadAttention with kdim / vdim against PyTorch 1.13", function()
  local json = require "dkjson"
  local f = assert(io.open(HERE .. "fixtures/attention_kdim_torch113.json", "rb"))
  local fx = json.decode(f:read("a"))
  f:close()
  local RTOL, ATOL = 1e-4, 1e-6
  local function match(what, a, b)
    b = ks.tensor(b)
    assert.are.same(b:shape(), a:shape(), what)
    local d, s = (a - b):abs():max():item(), b:abs():max():item()
    assert(d <= RTOL * s + ATOL, string.format("%s: max |diff| %g (scale %g)", what, d, s))
  end

  assert.are.equal(2, #fx.cases)
  for _, c in ipairs(fx.cases) do
    it(c.name .. ": state_dict keys, outputs, weights and gradients", function()
      local a = c.args
      local m = nn.MultiheadAttention(a.embed_dim, a.num_heads, {kdim = a.kdim, vdim = a.vdim, bias = a.bias,
        batch_first = a.batch_first})
      local _, keys = m:state_dict()
      assert.are.same(c.keys, keys)
      local sd = {}
      for k, v in pairs(c.state_dict) do sd[k] = ks.tensor(v) end
      m:load_state_dict(sd)
      local q, k, v = ks.tensor(c.query):requires_grad_(), ks.tensor(c.key):requires_grad_(),
        ks.tensor(c.value):requires_grad_()
      local out, w = m(q, k, v, {key_padding_mask = c.key_padding_mask and ks.tensor(c.key_padding_mask),
        average_attn_weights = a.average_attn_weights})
      match("out", out, c.out)
      match("weights", w, c.weights)
      ;(out * ks.tensor(c.proj)):sum():backward()
      match("grad query", q.grad, c.grad.query)
      match("grad key", k.grad, c.grad.key)
      match("grad value", v.grad, c.grad.value)
      for _, p in ipairs(m:named_parameters()) do match("grad " .. p[1], p[2].grad, c.grad[p[1]]) end
    end)
  end
end)
