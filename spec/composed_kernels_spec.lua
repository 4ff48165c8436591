-- The no-grad C kernels under mode, quantile, diag (1-d), trace, take and diff (ks._mode,
-- ks._quantile, ks._diag_embed, ks._trace, ks._take, ks._diff in bindings/ks_lua_composed_kernels.c):
-- torch's values for strided and integer inputs, the same answers as the differentiable Lua
-- compositions (still used for inputs that require grad), and the Lua errors for bad arguments.
-- Torch values printed by spec/fixtures/torch_refs/composed_kernels.py (torch 1.13).
local ks = require "kshot"
local ref = require "spec.helpers.torch_reference"
local close, err_of = ref.close, ref.err_of

local function leaf(t) return t:clone():requires_grad_() end

describe("mode and quantile kernels", function()
  it("mode picks the smallest most frequent value and its last index, any dtype, strided", function()
    local m = ks.tensor({{3, 1, 3, 1, 2}, {5, 5, 4, 4, 4}, {0, 7, 7, 0, 9}})
    local v, i = m:t():mode(0)
    close({1, 4, 0}, v); close({3, 4, 3}, i:float())
    assert.are.equal("int64", i:dtype())
    v, i = ks.tensor({{true, false, true}, {false, false, true}}):mode(1, true)
    assert.are.equal("bool", v:dtype())
    assert.are.same({2, 1}, v:shape())
    close({1, 0}, v:float()); close({2, 1}, i:float())
    local big = ks.tensor({(1 << 53) + 1, 1 << 53, (1 << 53) + 1}, ks.int64)
    v, i = big:mode()
    assert.are.equal((1 << 53) + 1, v:item()) -- compared as int64, not double
    assert.are.equal(2, i:item())
    v, i = ks.tensor(4.5):mode(0, true)
    assert.are.equal(0, v:dim()); assert.are.equal(4.5, v:item()); assert.are.equal(0, i:item())
  end)

  it("mode rejects an empty dim and a bad dim with the Lua messages", function()
    assert.matches("mode: cannot compute the mode of an empty dim %(input %[2, 0%]%)", err_of(ks.mode, ks.zeros(2, 0), 1))
    assert.matches("mode: dim 2 out of range for a 2%-d tensor", err_of(ks.mode, ks.zeros(2, 3), 2))
    assert.matches("mode: argument 'dim' must be an integer, got 0.5", err_of(ks.mode, ks.zeros(2, 3), 0.5))
    assert.matches("mode: argument 'input' must be a tensor, got table", err_of(ks.mode, {1, 2}))
  end)

  it("quantile matches torch in every interpolation, and the differentiable path exactly", function()
    local expected = {
      linear = {-1, -3, -0.09999996423721313, 0.6000001430511475, 1.25, 4, 4, 7},
      lower = {-1, -3, -1, -3, 0, 1, 4, 7},
      higher = {-1, -3, 0, 1, 2.5, 7, 4, 7},
      nearest = {-1, -3, 0, 1, 2.5, 7, 4, 7},
      midpoint = {-1, -3, -0.5, -1, 1.25, 4, 4, 7},
    }
    local x = ks.tensor({{4, -1, 2.5, 0}, {7, 7, -3, 1}}):t() -- strided
    local q = ks.tensor({0, 0.3, 0.5, 1})
    for mode, want in pairs(expected) do
      local r = x:quantile(q, 0, {interpolation = mode})
      close(want, r)
      assert.is_true(r:eq(leaf(x):quantile(q, 0, {interpolation = mode}):detach()):all():item(), mode)
    end
    assert.are.same({4, 1}, x:quantile(0.25, 1, true):shape())
    assert.are.same({4, 1, 1}, x:quantile(q, nil, true):shape())
    assert.are.same({1}, ks.tensor(3):quantile(0.5, 0, true):shape())
    assert.is_nil(x:quantile(0.5).grad_fn)
    assert.is_not_nil(leaf(x):quantile(0.5).grad_fn) -- with grad: the Lua composition
  end)

  it("quantile rejects bad q, dims and dtypes with the Lua messages", function()
    local x = ks.zeros(2, 3)
    assert.matches("quantile: q values must be in %[0, 1%]", err_of(ks.quantile, x, 1.5))
    assert.matches("quantile: q values must be in %[0, 1%]", err_of(ks.quantile, x, ks.tensor({0.5, -0.1})))
    assert.matches("quantile: dim 3 out of range for a 2%-d tensor", err_of(ks.quantile, x, 0.5, 3))
    assert.matches("quantile: input must be float32, got int64", err_of(ks.quantile, ks.zeros(2, ks.int64), 0.5))
    assert.matches("quantile: cannot compute a quantile of an empty dim", err_of(ks.quantile, ks.zeros(2, 0), 0.5, 1))
    assert.matches("quantile: q must be a number or a 0%-d/1%-d tensor", err_of(ks.quantile, x, ks.zeros(1, 1)))
    assert.matches("quantile: interpolation must be", err_of(ks.quantile, x, 0.5, {interpolation = "cubic"}))
  end)
end)

describe("diag, trace, take and diff kernels", function()
  it("diag of a vector keeps the dtype and places offset diagonals as torch", function()
    close({0, 0, 0, 4, 0, 0, 0, -2, 0}, ks.tensor({4, -2}, ks.int64):diag(-1):float())
    assert.are.equal("int64", ks.tensor({4, -2}, ks.int64):diag():dtype())
    assert.are.equal("bool", ks.tensor({true, false}):diag(1):dtype())
    local strided = ks.tensor({{1, 2}, {3, 4}}):t()[0] -- {1, 3}, stride 2
    close({1, 0, 0, 3}, strided:diag())
    assert.matches("diag: argument 'diagonal' must be an integer", err_of(ks.diag, ks.ones(2), 0.5))
    assert.matches("diag: input must be 1%-d or 2%-d, got %[1, 1, 1%]", err_of(ks.diag, ks.ones(1, 1, 1)))
  end)

  it("trace of int64 and strided matrices as torch; bool and grad inputs take the composition", function()
    assert.are.equal(15, ks.arange(12):reshape({3, 4}):t():trace():item())
    assert.are.equal("int64", ks.arange(12):reshape({3, 4}):trace():dtype())
    close({11}, ks.tensor({{4, -1, 2.5, 0}, {7, 7, -3, 1}}):t():trace())
    close({2}, ks.tensor({{true, false}, {true, true}}):trace():float())
    local x = ks.tensor({{1, 2}, {3, 4}}):requires_grad_()
    x:trace():backward()
    close({1, 0, 0, 1}, x.grad)
    assert.matches("trace: input must be a matrix %(2%-d%), got %[2%]", err_of(ks.trace, ks.ones(2)))
  end)

  it("take wraps negative positions of a strided input; errors name the index", function()
    local t = ks.arange(12):reshape({3, 4}):t()
    close({11, 0, 9, 0}, t:take(ks.tensor({{-1, 0}, {5, -12}}, ks.int64)):float())
    assert.are.same({2, 2}, t:take(ks.tensor({{-1, 0}, {5, -12}}, ks.int64)):shape())
    assert.matches("take: index 12 out of range for a tensor of 12 elements", err_of(ks.take, t, ks.tensor({12}, ks.int64)))
    assert.matches("take: index %-13 out of range", err_of(ks.take, t, ks.tensor({-13}, ks.int64)))
    assert.matches("take: argument 'index' must be an int64 tensor, got float32", err_of(ks.take, t, ks.tensor({0})))
    assert.matches("take: argument 'index' must be an int64 tensor, got table", err_of(ks.take, t, {0}))
  end)

  it("diff of int64 and strided inputs as torch, uint8 and bool through the composition", function()
    close({1, -7, -9}, ks.tensor({{1, 4, 9}, {2, -3, 0}}, ks.int64):t():diff():float())
    assert.are.equal("int64", ks.tensor({1, 4}, ks.int64):diff():dtype())
    close({1, 0}, ks.tensor({true, false, false}):diff():float())
    assert.are.same({3, 0}, ks.zeros(3, 1):diff():shape())
    assert.are.same({3, 0}, ks.zeros(3, 0):diff():shape())
    assert.matches("diff: expects a tensor with at least 1 dim", err_of(ks.diff, ks.tensor(1)))
  end)
end)
