-- ks.linalg: solve, inv, det, cholesky, eigh/eigvalsh, svd/svdvals, pinv, lstsq and the norms
-- (bindings/lua/kshot/linalg.lua on the LAPACK kernels of runtime/core/ks_lapack.c).
-- Expected numbers: torch 1.13 with the same inputs, printed with 6 decimals by
-- spec/fixtures/torch_refs/linalg_parity.py; gradients of the same scalar losses.
local ks = require "kshot"
local autograd = require "kshot.autograd"
local ref = require "spec.helpers.torch_reference"
local close, err_of = ref.close, ref.err_of
local L = ks.linalg

local R = {
  solve = {0.077093, 0.349524, 0.102861, -0.286098, -0.301936, 0.100762, 0.344006, 0.036448, -0.318959,
    -0.200847, 0.172331, 0.34518},
  solve_vec = {0.077093, 0.102861, -0.301936},
  inv = {0.320489, -0.105802, -0.148999, -0.073768, 0.337882, 0.080726, 0.087328, 0.101209, 0.400824, 0.318429,
    -0.106854, -0.148548, -0.072284, 0.339869, 0.082282, 0.08789, 0.100255, 0.398802},
  det = {23.573608, 23.70009},
  cholesky = {1.54471, 0, 0, -0.084077, 1.404752, 0, -0.812447, -0.660852, 1.423573, 1.551899, 0, 0, -0.089007,
    1.399482, 0, -0.817657, -0.650587, 1.422294},
  eigvalsh = {1, 2.251284, 4.238594, 1, 2.251456, 4.238153},
  svdvals = {2.429285, 1.749681, 0.427471},
  pinv = {0.402953, -0.96325, -0.600485, 0.561596, 0.182158, 1.772304, 0.777985, -0.348911, 0.276949,
    -0.433338, 0.184317, 0.052259},
  lstsq = {-0.911884, -1.09876, 1.813349, 2.31333, -0.09132, -0.110934},
  norm_fro = {3.02416},
  norm_nuc = {4.606437},
  norm_2 = {2.429285},
  norm_inf = {2.757174},
  norm_m1 = {1.769739},
  vnorm_1_dim0 = {3.170035, 1.769739, 4.202581},
  vnorm_3 = {2.217215},
  g_solve_A = {-0.047589, 0.036077, -0.0081, -0.150257, 0.060531, 0.07868, -0.120356, 0.026754, 0.105469,
    -0.001529, -0.015797, 0.032923, 0.140063, -0.19092, 0.189649, 0.171476, -0.210727, 0.187148},
  g_solve_B = {0.017333, 0.13233, 0.376347, 0.346882, 0.432397, 0.248972, 0.015362, -0.103049, -0.36843,
    -0.365483, -0.465655, -0.309696},
  g_inv = {0.026774, -0.045659, -0.07932, -0.025655, -0.126469, -0.207819, -0.065654, -0.115555, -0.18486,
    -0.035595, 0.009171, 0.019424, 0.001093, 0.12788, 0.209232, 0.043191, 0.160331, 0.257146},
  g_det = {5.288549, -1.217285, 1.441043, -1.745896, 5.575566, 1.670111, -2.458711, 1.332099, 6.614209,
    -9.056149, 2.055777, -2.499592, 3.038933, -9.665908, -2.851258, 4.22472, -2.340105, -11.341972},
  g_cholesky = {0.061028, -0.223734, -0.40327, 0.182788, 0.178876, 0.090836, 0.309569, 0.410748, 0.318745,
    0.154002, 0.521472, 0.643687, 0.054668, 0.111227, 0.115475, -0.311631, -0.363696, -0.244708},
  g_eigh = {1.547942, 0.492342, 0.293614, 0.492342, 1.401521, -0.66473, 0.293614, -0.66473, 0.484397,
    -0.416382, -0.872662, -0.188099, -0.872662, -0.58454, 0.878304, -0.188099, 0.878304, 0.721495},
  g_svd = {0.248095, 0.211612, 0.27505, -0.542312, 0.729881, -0.074698, 0.105298, 0.477128, 0.170104, 0.269368,
    0.181254, 0.243057},
  g_svd_wide = {0.570522, 0.170813, 0.080238, -0.439947, 0.722958, 0.113086, -0.389577, 0.386038, -0.040085,
    0.167223, 0.150489, -0.086514},
  g_pinv = {-0.80435, 0.996493, -0.144541, 1.051408, -3.194632, -0.015407, 1.061635, -1.75655, 0.143842,
    1.563875, -2.091412, 0.263328},
  g_nuc = {0.614501, 0.426824, 0.505526, -0.183382, 0.851956, -0.490399, -0.476885, 0.297403, 0.70132,
    0.601115, 0.059517, -0.110009},
}

-- det(shape, a, s) = sin(arange(numel) * a) * s, reshaped (as the torch script)
local function det(shape, a, s)
  local n = 1
  for _, d in ipairs(shape) do n = n * d end
  return (ks.arange(n):float() * a):sin():reshape(shape) * (s or 1)
end

local eye3 = ks.eye(3)
local X = det({2, 3, 3}, 0.7)
local A = X + eye3 * 3
local S = ks.matmul(X, X.mT) + eye3
local B = det({2, 3, 2}, 1.3)
local W = det({2, 3, 2}, 0.5)
local M = det({4, 3}, 0.9) + ks.eye(4, 3)
local w33 = det({2, 3, 3}, 0.3)

-- the gradient of f at x (a fresh leaf)
local function grad(f, x)
  local leaf = x:detach():clone():requires_grad_()
  f(leaf):backward()
  return leaf.grad
end

local function gradcheck(fn, inputs) assert.is_true((autograd.gradcheck(fn, inputs, {eps = 1e-3, rtol = 1e-2, atol = 1e-3}))) end

describe("ks.linalg values", function()
  it("solve, inv and det match torch (batched; a vector right-hand side)", function()
    close(R.solve, L.solve(A, B))
    close(R.solve_vec, L.solve(A[0], B[{0, ":", 0}]))
    close(R.inv, L.inv(A))
    close(R.det, L.det(A), 2e-4)
    -- batch dims broadcast: one A against two right-hand sides
    close(L.solve(A[0], B[1]):reshape(-1):totable(), L.solve(A[0], B)[1])
    assert.are.same({2, 3, 2}, L.solve(A[0], B):shape())
  end)

  it("cholesky, eigvalsh and svdvals match torch; the factors rebuild the input", function()
    local l = L.cholesky(S)
    close(R.cholesky, l)
    close(S:reshape(-1):totable(), ks.matmul(l, l.mT), 1e-4)
    close(L.cholesky(S, {upper = true}):reshape(-1):totable(), l.mT)
    close(R.eigvalsh, L.eigvalsh(S), 1e-5)
    local w, v = L.eigh(S)
    close(R.eigvalsh, w, 1e-5)
    close(S:reshape(-1):totable(), ks.matmul(v * w:unsqueeze(1), v.mT), 1e-4)
    close(R.svdvals, L.svdvals(M))
    local u, s, vh = L.svd(M, {full_matrices = false})
    assert.are.same({4, 3}, u:shape()); assert.are.same({3, 3}, vh:shape())
    close(M:reshape(-1):totable(), ks.matmul(u * s, vh), 1e-5)
    -- torch's default: full matrices, U [4, 4] orthogonal
    local uf, sf, vhf = L.svd(M)
    assert.are.same({4, 4}, uf:shape()); assert.are.same({3, 3}, vhf:shape())
    close(ks.eye(4):reshape(-1):totable(), ks.matmul(uf, uf.mT), 1e-5)
    close(R.svdvals, sf)
  end)

  it("pinv, lstsq and the norms match torch", function()
    close(R.pinv, L.pinv(M))
    close(R.lstsq, L.lstsq(M, det({4, 2}, 0.4)), 2e-5)
    close(R.norm_fro, L.norm(M))
    close(R.norm_nuc, L.norm(M, "nuc"))
    close(R.norm_2, L.norm(M, 2))
    close(R.norm_inf, L.norm(M, math.huge))
    close(R.norm_m1, L.norm(M, -1))
    close(R.vnorm_1_dim0, L.vector_norm(M, 1, 0))
    close(R.vnorm_1_dim0, L.norm(M, {ord = 1, dim = 0}))
    close(R.vnorm_3, L.vector_norm(M, 3))
    assert.are.same({1, 1}, L.matrix_norm(M, {keepdim = true}):shape())
  end)
end)

describe("ks.linalg gradients", function()
  it("match torch 1.13", function()
    close(R.g_solve_A, grad(function(a) return (L.solve(a, B) * W):sum() end, A))
    close(R.g_solve_B, grad(function(b) return (L.solve(A, b) * W):sum() end, B))
    close(R.g_inv, grad(function(a) return (L.inv(a) * w33):sum() end, A))
    close(R.g_det, grad(function(a) return (L.det(a) * ks.tensor({0.7, -1.2})):sum() end, A), 5e-4)
    close(R.g_cholesky, grad(function(x) return (L.cholesky(ks.matmul(x, x.mT) + eye3) * w33):sum() end, X), 2e-5)
    close(R.g_eigh, grad(function(x)
      local w, v = L.eigh(x + x.mT)
      return (w * det({2, 3}, 0.8)):sum() + (v * v * w33):sum()
    end, X), 2e-5)
    local function svd_loss(m, uw, vw)
      local u, s, vh = L.svd(m, {full_matrices = false})
      return (s * det({3}, 0.6)):sum() + (u * u * uw):sum() + (vh * vh * vw):sum()
    end
    close(R.g_svd, grad(function(m) return svd_loss(m, det({4, 3}, 0.2), det({3, 3}, 0.35)) end, M), 2e-5)
    close(R.g_svd_wide, grad(function(m) return svd_loss(m.mT, det({3, 3}, 0.2), det({3, 4}, 0.35)) end, M), 2e-5)
    close(R.g_pinv, grad(function(m) return (L.pinv(m) * det({3, 4}, 0.45)):sum() end, M), 5e-5)
    close(R.g_nuc, grad(function(m) return L.norm(m, "nuc") end, M))
  end)

  it("pass gradcheck", function()
    local x = det({3, 3}, 0.45):requires_grad_()
    local b = det({3, 2}, 0.8):requires_grad_()
    gradcheck(function(a, r) return L.solve(a + eye3 * 3, r) end, {x, b})
    gradcheck(function(a) return L.inv(a + eye3 * 3) end, {x})
    gradcheck(function(a) return L.det(a + eye3 * 3) end, {x})
    gradcheck(function(a) return L.cholesky(ks.matmul(a, a.mT) + eye3) end, {x})
    gradcheck(function(a) local w, v = L.eigh(a + a.mT); return ks.cat({w, (v * v):reshape(-1)}) end, {x})
    local m = M:clone():requires_grad_()
    gradcheck(function(a)
      local u, s, vh = L.svd(a, {full_matrices = false})
      return ks.cat({s, (u * u):reshape(-1), (vh * vh):reshape(-1)})
    end, {m})
    gradcheck(function(a) return L.pinv(a) end, {m})
    gradcheck(function(a) return L.vector_norm(a, 3, 1) end, {m})
  end)
end)

describe("ks.linalg bad inputs", function()
  it("name the shapes, the argument and the failure", function()
    assert.matches("linalg.solve: A must be batches of square matrices, but they are 4 by 3 matrices %(%[4, 3%]%)",
      err_of(L.solve, M, B))
    assert.matches("linalg.solve: A %[2, 3, 3%] and B %[4, 3%] do not match %(B needs 3 rows%)", err_of(L.solve, A, M))
    assert.matches("linalg.solve: the batch dims of A %[2, 3, 3%] and B %[3, 3, 2%]", err_of(L.solve, A, ks.zeros(3, 3, 2)))
    assert.matches("the input matrix is singular", err_of(L.solve, ks.zeros(2, 2), ks.ones(2, 1)))
    assert.matches("the input matrix is singular", err_of(L.inv, ks.ones(3, 3)))
    assert.matches("linalg.inv: argument 'A' must be float32, got int64", err_of(L.inv, ks.eye(2, ks.int64)))
    assert.matches("linalg.inv: argument 'A' must be a tensor, got table", err_of(L.inv, {{1, 0}, {0, 1}}))
    assert.matches("linalg.det: A must have at least 2 dims, got %[3%]", err_of(L.det, ks.ones(3)))
    assert.matches("linalg.cholesky: .*not positive%-definite %(batch element 0: the leading minor of order 2",
      err_of(L.cholesky, ks.tensor({{1, 2}, {2, 1}})))
    assert.matches("linalg.eigh: UPLO must be \"L\" or \"U\"", err_of(L.eigh, S, {UPLO = "X"}))
    assert.matches("linalg.svd: unknown option 'full_matrix'", err_of(L.svd, M, {full_matrix = false}))
    assert.matches("linalg.lstsq: A %[4, 3%] and B %[3, 2%] must have the same number of rows", err_of(L.lstsq, M, B[0]))
    assert.matches("linalg.norm: ord must be a number, \"fro\" or \"nuc\", got \"max\"", err_of(L.norm, M, "max"))
    assert.matches("linalg.matrix_norm: ord must be", err_of(L.matrix_norm, M, 3))
    -- the gradient of U with full matrices of a non-square A is refused, not wrong
    local m = M:clone():requires_grad_()
    local u = L.svd(m)
    assert.matches("full_matrices = true is not supported", err_of(function() u:sum():backward() end))
    -- the gradients are first-order: differentiating them again is an error, not a silently wrong number
    if autograd.once_differentiable then
      local a = (eye3 * 3 + det({3, 3}, 0.4)):requires_grad_()
      local g = autograd.grad(L.det(a), a, {create_graph = true})[1]
      assert.matches("double backward of .* is not supported", err_of(function() g:sum():backward() end))
    end
  end)
end)
