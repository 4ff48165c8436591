-- The PyTorch surface a small-data script uses, name by name (the checklist of the parity sweep,
-- session 13): each entry names what a ported script calls and does one small thing with it that
-- must give the right value. Details and gradients are in the specs of each area
-- (tensor_parity_spec, linalg_spec, nn_*_spec, optim_spec, lr_scheduler_spec, dataloader_spec, ...).
local ks = require "kshot"
local nn = require "kshot.nn"
local optim = require "kshot.optim"
local data = require "kshot.data"
local F = ks.functional
local lr = optim.lr_scheduler

local function near(a, b, tol) return math.abs(a - b) <= (tol or 1e-5) end
local function same(t, list) return ks.allclose(t:float(), ks.tensor(list):reshape(t:shape()), {atol = 1e-4}) end
local v = ks.tensor({3, -1, 2, 2})
local m = ks.tensor({{1, 2}, {3, 4}})

-- torch.* (as ks.*) and tensor methods
local TORCH = {
  {"tensor", function() return ks.tensor({1, 2}, ks.int64):dtype() == "int64" end},
  {"zeros/ones/full/empty", function() return ks.zeros(2):sum():item() == 0 and ks.ones(2, 2):numel() == 4
      and ks.full({2}, 7):sum():item() == 14 and #ks.empty(3) == 3 end},
  {"zeros_like/ones_like/full_like/empty_like", function() return ks.ones_like(m):sum():item() == 4
      and ks.zeros_like(m):sum():item() == 0 and ks.full_like(m, 2):sum():item() == 8 and #ks.empty_like(m) == 2 end},
  {"arange/linspace/logspace", function() return same(ks.arange(1, 7, 2), {1, 3, 5}) and same(ks.linspace(0, 1, 3), {0, 0.5, 1})
      and same(ks.logspace(0, 2, 3), {1, 10, 100}) end},
  {"eye", function() return same(ks.eye(2), {1, 0, 0, 1}) end},
  {"rand/randn/randint/randperm", function() return ks.rand(5):max():item() < 1 and #ks.randn(4) == 4
      and ks.randint(0, 3, {10}):max():item() <= 2 and ks.randperm(5):sort():equal(ks.arange(5)) end},
  {"normal/bernoulli/multinomial", function() return #ks.normal(0, 1, {3}) == 3 and ks.bernoulli(ks.ones(3)):sum():item() == 3
      and ks.multinomial(ks.tensor({0, 1}), 2, true):sum():item() == 2 end},
  {"manual_seed/Generator", function()
      ks.manual_seed(1); local a = ks.rand(3); ks.manual_seed(1)
      return ks.equal(a, ks.rand(3)) and ks.equal(ks.rand(2, {generator = ks.Generator(4)}), ks.rand(2, {generator = ks.Generator(4)})) end},
  {"cat/stack", function() return #ks.cat({m, m}, 0) == 4 and ks.stack({m, m}):dim() == 3 end},
  {"split/chunk/unbind", function() return #ks.split(ks.arange(5), 2) == 3 and #ks.chunk(ks.arange(6), 3) == 3
      and #ks.unbind(m, 1) == 2 end},
  {"flatten/unflatten", function() return #m:flatten() == 4 and m:flatten():unflatten(0, {2, 2}):equal(m) end},
  {"squeeze/unsqueeze", function() return m:unsqueeze(0):dim() == 3 and m:unsqueeze(0):squeeze(0):dim() == 2 end},
  {"permute/transpose/movedim", function() return same(m:permute({1, 0}), {1, 3, 2, 4}) and same(m:transpose(0, 1), {1, 3, 2, 4})
      and same(m:movedim(0, 1), {1, 3, 2, 4}) end},
  {"reshape/view", function() return same(m:reshape(4), {1, 2, 3, 4}) and same(m:view(-1), {1, 2, 3, 4}) end},
  {"expand/broadcast_to", function() return #ks.ones(1, 2):expand(3, 2) == 3 and #ks.broadcast_to(ks.ones(2), {3, 2}) == 3 end},
  {"repeat/repeat_interleave/tile", function() return same(ks.tensor({1, 2}):repeat_interleave(2), {1, 1, 2, 2})
      and same(ks.tensor({1, 2}):tile({2}), {1, 2, 1, 2}) and same(ks.tensor({1, 2})["repeat"](ks.tensor({1, 2}), 2), {1, 2, 1, 2}) end},
  {"flip/roll", function() return same(ks.flip(ks.tensor({1, 2, 3}), {0}), {3, 2, 1}) and same(ks.roll(ks.tensor({1, 2, 3}), 1), {3, 1, 2}) end},
  {"tril/triu", function() return same(ks.tril(m), {1, 0, 3, 4}) and same(ks.triu(m), {1, 2, 0, 4}) end},
  {"narrow", function() return same(ks.narrow(ks.arange(5), 0, 1, 2), {1, 2}) end},
  {"meshgrid", function() local g = ks.meshgrid(ks.arange(2), ks.arange(3)); return g[1]:size(1) == 3 end},
  {"where/clamp", function() return same(ks.where(v:gt(0), v, 0), {3, 0, 2, 2}) and same(v:clamp(0, 2), {2, 0, 2, 2}) end},
  {"abs/exp/log/log1p/expm1", function() return same(v:abs(), {3, 1, 2, 2}) and near(ks.exp(ks.tensor(1)):item(), math.exp(1))
      and near(ks.log(ks.tensor(2)):item(), math.log(2)) and near(ks.log1p(ks.tensor(1e-3)):item(), 9.995e-4, 1e-7)
      and near(ks.expm1(ks.tensor(1e-3)):item(), 1.0005e-3, 1e-7) end},
  {"sqrt/rsqrt/pow", function() return near(ks.sqrt(ks.tensor(4)):item(), 2) and near(ks.rsqrt(ks.tensor(4)):item(), 0.5)
      and same(ks.pow(m, 2), {1, 4, 9, 16}) end},
  {"sin/cos/tanh/sigmoid/erf", function() return near(ks.sin(ks.tensor(1)):item(), math.sin(1)) and near(ks.cos(ks.tensor(1)):item(), math.cos(1))
      and near(ks.tanh(ks.tensor(0.5)):item(), 0.462117) and near(ks.sigmoid(ks.tensor(0)):item(), 0.5)
      and near(ks.erf(ks.tensor(1)):item(), 0.842701) end},
  {"floor/ceil/round/trunc/sign", function() local t = ks.tensor({-1.5, 2.5})
      return same(t:floor(), {-2, 2}) and same(t:ceil(), {-1, 3}) and same(t:round(), {-2, 2}) and same(t:trunc(), {-1, 2})
      and same(t:sign(), {-1, 1}) end},
  {"fmod/remainder", function() return same(ks.fmod(ks.tensor({-3}), 2), {-1}) and same(ks.remainder(ks.tensor({-3}), 2), {1}) end},
  {"maximum/minimum/lerp", function() return same(ks.maximum(v, 0), {3, 0, 2, 2}) and same(ks.minimum(v, 0), {0, -1, 0, 0})
      and same(ks.lerp(ks.zeros(2), ks.ones(2), 0.25), {0.25, 0.25}) end},
  {"addmm/bmm/matmul/einsum", function() return same(ks.addmm(m, m, m), {8, 12, 18, 26}) and ks.bmm(m:unsqueeze(0), m:unsqueeze(0)):dim() == 3
      and same(ks.matmul(m, m), {7, 10, 15, 22}) and same(ks.einsum("ij,ij->i", m, m), {5, 25}) end},
  {"outer/dot/norm/dist/cdist", function() return #ks.outer(ks.ones(2), ks.ones(3)) == 2 and ks.dot(ks.ones(3), ks.ones(3)):item() == 3
      and near(ks.norm(ks.tensor({3, 4})):item(), 5) and near(ks.dist(ks.tensor({3, 4}), ks.zeros(2)):item(), 5)
      and near(ks.cdist(ks.tensor({{0, 0}}), ks.tensor({{3, 4}})):item(), 5) end},
  {"cumsum/cumprod/diff", function() return same(ks.cumsum(m, 1), {1, 3, 3, 7}) and same(ks.cumprod(m, 1), {1, 2, 3, 12})
      and same(ks.diff(ks.tensor({1, 4, 9})), {3, 5}) end},
  {"allclose/isclose/equal", function() return ks.allclose(m, m + 1e-7) and ks.isclose(m, m):all():item() and ks.equal(m, m:clone()) end},
  {"isnan/isinf/isfinite/nan_to_num", function() local t = ks.tensor({0 / 0, math.huge, 1})
      return same(t:isnan(), {1, 0, 0}) and same(t:isinf(), {0, 1, 0}) and same(t:isfinite(), {0, 0, 1})
      and same(ks.nan_to_num(t, 0, 9), {0, 9, 1}) end},
  {"sum/mean/prod", function() return m:sum():item() == 10 and m:mean():item() == 2.5 and m:prod():item() == 24 end},
  {"std/var (correction, unbiased)", function() local t = ks.tensor({1, 2, 3, 4})
      return near(t:var():item(), 5 / 3) and near(t:var({unbiased = false}):item(), 1.25)
      and near(t:std(0, {correction = 0}):item(), math.sqrt(1.25)) end},
  {"max/min/amax/amin/argmax/argmin", function() local val, idx = m:max(1)
      return same(val, {2, 4}) and same(idx, {1, 1}) and m:amax():item() == 4 and m:amin():item() == 1
      and v:argmax():item() == 0 and v:argmin():item() == 1 end},
  {"median/mode/kthvalue", function() return ks.median(v):item() == 2 and ks.mode(v):item() == 2 and ks.kthvalue(v, 1):item() == -1 end},
  {"topk/sort/argsort", function() local val = v:topk(2)
      return same(val, {3, 2}) and same(v:sort(), {-1, 2, 2, 3}) and v:argsort()[0]:item() == 1 end},
  {"logsumexp", function() return near(ks.logsumexp(ks.zeros(2), 0):item(), math.log(2)) end},
  {"all/any/count_nonzero", function() return not v:gt(0):all():item() and v:lt(0):any():item() and ks.count_nonzero(v):item() == 4 end},
  {"unique (sorted, return_counts)", function() local u, c = ks.unique(v, {return_counts = true})
      return same(u, {-1, 2, 3}) and same(c, {1, 2, 1}) end},
  {"bincount/histc", function() return same(ks.bincount(ks.tensor({0, 2, 2}, ks.int64)), {1, 0, 2})
      and same(ks.histc(ks.tensor({0, 1, 1}), 2, 0, 1), {1, 2}) end},
  {"bucketize/searchsorted", function() return same(ks.bucketize(ks.tensor({0.5, 2}), ks.tensor({0, 1})), {1, 2})
      and same(ks.searchsorted(ks.tensor({0, 1}), ks.tensor({1})), {1}) end},
  {"quantile/cov/corrcoef", function() return near(ks.quantile(ks.tensor({1, 2, 3, 4}), 0.5):item(), 2.5)
      and near(ks.cov(ks.tensor({1, 2, 3})):item(), 1) and near(ks.corrcoef(ks.tensor({{1, 2, 3}, {2, 4, 6}}))[{0, 1}]:item(), 1) end},
  {"index_select/gather", function() return same(m:index_select(1, ks.tensor({1}, ks.int64)), {2, 4})
      and same(m:gather(1, ks.tensor({{1}, {0}}, ks.int64)), {2, 3}) end},
  {"scatter/scatter_add", function() return same(ks.zeros(3):scatter(0, ks.tensor({2}, ks.int64), ks.ones(1)), {0, 0, 1})
      and same(ks.zeros(2):scatter_add(0, ks.tensor({1, 1}, ks.int64), ks.ones(2)), {0, 2}) end},
  {"masked_fill/masked_select/nonzero", function() return same(v:masked_fill(v:lt(0), 0), {3, 0, 2, 2})
      and same(v:masked_select(v:gt(2)), {3}) and same(ks.nonzero(ks.tensor({0, 1})), {1}) end},
  {"take/index_put_", function() return same(ks.take(m, ks.tensor({3}, ks.int64)), {4})
      and same(ks.zeros(2):index_put_({ks.tensor({1}, ks.int64)}, ks.ones(1)), {0, 1}) end},
  {"diag/diagonal/trace", function() return same(ks.diag(ks.tensor({1, 2})), {1, 0, 0, 2}) and same(m:diagonal(), {1, 4})
      and m:trace():item() == 5 end},
  {"linalg.norm/solve/inv", function() return near(ks.linalg.norm(ks.tensor({3, 4})):item(), 5)
      and same(ks.linalg.solve(m, ks.tensor({5, 11})), {1, 2}) and same(ks.matmul(m, ks.linalg.inv(m)), {1, 0, 0, 1}) end},
  {"linalg.cholesky/eigh/svd/pinv/lstsq/det", function() local spd = ks.tensor({{4, 2}, {2, 3}})
      local w = ks.linalg.eigh(spd)
      local _, s = ks.linalg.svd(m)
      return same(ks.linalg.cholesky(ks.tensor({{4, 0}, {0, 9}})), {2, 0, 0, 3}) and near(w:sum():item(), 7, 1e-4)
      and near(s:prod():item(), 2, 1e-4) and same(ks.matmul(ks.linalg.pinv(m), m), {1, 0, 0, 1})
      and same(ks.linalg.lstsq(m, ks.tensor({{5}, {11}})), {1, 2}) and near(ks.linalg.det(m):item(), -2, 1e-5) end},
  {"one_hot", function() return same(ks.one_hot(ks.tensor({1}, ks.int64), 3), {0, 1, 0}) end},
  {"no_grad/enable_grad/set_grad_enabled", function()
      local x = ks.ones(1):requires_grad_()
      local a = ks.no_grad(function() return x * 2 end)
      local b = ks.no_grad(function() return ks.enable_grad(function() return x * 2 end) end)
      ks.set_grad_enabled(false); local c = x * 2; ks.set_grad_enabled(true)
      return not a.requires_grad and b.requires_grad and not c.requires_grad end},
}

-- torch.nn, nn.functional, nn.init, nn.utils
local NN = {
  {"Linear/Conv2d/BatchNorm2d/Dropout/ReLU", function()
      local net = nn.Sequential(nn.Conv2d(1, 2, 3, 1, 1), nn.BatchNorm2d(2), nn.ReLU(), nn.Dropout(0.1), nn.Flatten(), nn.Linear(8, 3))
      return #net(ks.randn(4, 1, 2, 2)) == 4 end},
  {"losses (CrossEntropy, BCE, NLL, KLDiv, Huber, MarginRanking, Triplet, CosineEmbedding)", function()
      local x, y = ks.zeros(2, 3), ks.tensor({0, 1}, ks.int64)
      return near(nn.CrossEntropyLoss()(x, y):item(), math.log(3)) and near(nn.BCELoss()(ks.full({2}, 0.5), ks.ones(2)):item(), math.log(2))
      and near(nn.NLLLoss()(ks.log_softmax(x, 1), y):item(), math.log(3)) and near(nn.KLDivLoss({reduction = "batchmean"})(x, x:exp()):item(), 0)
      and near(nn.HuberLoss()(ks.zeros(1), ks.ones(1) * 3):item(), 2.5) and near(nn.MarginRankingLoss()(ks.ones(1), ks.zeros(1), ks.ones(1)):item(), 0)
      and near(nn.TripletMarginLoss()(ks.zeros(1, 2), ks.zeros(1, 2), ks.ones(1, 2)):item(), 0, 1e-5)
      and near(nn.CosineEmbeddingLoss()(ks.ones(1, 2), ks.ones(1, 2), ks.ones(1)):item(), 0, 1e-6) end},
  {"Sequential (with names)/ModuleList/ModuleDict", function()
      local s = nn.Sequential({{"fc", nn.Linear(2, 2)}, {"act", nn.Tanh()}})
      local names = {}
      for name in s:named_children() do names[#names + 1] = name end
      return s.fc == s[0] and table.concat(names, ",") == "fc,act" and #nn.ModuleList({nn.ReLU()}) == 1
      and nn.ModuleDict({a = nn.ReLU()}).a ~= nil end},
  {"Identity/Flatten/Unflatten/Embedding", function() return #nn.Identity()(m) == 2 and #nn.Flatten()(ks.ones(2, 2, 2)) == 2
      and nn.Unflatten(1, {2, 2})(ks.ones(3, 4)):dim() == 3 and nn.Embedding(5, 2)(ks.tensor({1, 4}, ks.int64)):dim() == 2 end},
  {"CosineSimilarity/PairwiseDistance", function() return near(nn.CosineSimilarity()(ks.ones(1, 2), ks.ones(1, 2)):item(), 1)
      and near(nn.PairwiseDistance()(ks.tensor({{3, 4}}), ks.zeros(1, 2)):item(), 5, 1e-4) end},
  {"nn.utils.clip_grad_norm_/clip_grad_value_", function()
      local p = ks.zeros(2):requires_grad_(); (p * ks.tensor({3, 4})):sum():backward()
      local total = nn.utils.clip_grad_norm_({p}, 1.0)
      local ok = near(ks.is_tensor(total) and total:item() or total, 5) and near(p.grad:norm():item(), 1, 1e-4)
      nn.utils.clip_grad_value_({p}, 0.1)
      return ok and p.grad:abs():max():item() <= 0.1 + 1e-7 end},
  {"nn.utils.parameters_to_vector/vector_to_parameters", function()
      local lin = nn.Linear(2, 1)
      nn.utils.vector_to_parameters(ks.tensor({1, 2, 3}), lin:parameters())
      return same(nn.utils.parameters_to_vector(lin:parameters()), {1, 2, 3}) end},
  {"apply/train/eval/requires_grad_/zero_grad", function()
      local net = nn.Sequential(nn.Linear(2, 2), nn.Dropout(0.5))
      local count = 0
      net:apply(function() count = count + 1 end)
      net:eval(); local evald = not net[1].training; net:train()
      net:requires_grad_(false); local frozen = not net[0].weight.requires_grad; net:requires_grad_(true)
      net[0](ks.ones(1, 2)):sum():backward(); net:zero_grad()
      return count == 3 and evald and net[1].training and frozen and (net[0].weight.grad == nil or net[0].weight.grad:sum():item() == 0) end},
  {"named_modules/children/buffers/register_buffer", function()
      local net = nn.Sequential(nn.BatchNorm1d(2))
      net:register_buffer("scale", ks.ones(1))
      local b = {}
      for name in net:named_buffers() do b[#b + 1] = name end
      local mods = 0
      for _ in net:named_modules() do mods = mods + 1 end
      return mods == 2 and #net:children() == 1 and table.concat(b, ","):find("scale") ~= nil end},
  {"state_dict/load_state_dict(strict)", function()
      local a, b = nn.Linear(2, 2), nn.Linear(2, 2)
      b:load_state_dict(a:state_dict())
      local ok = pcall(b.load_state_dict, b, {weight = a.weight}, {strict = true})
      return ks.equal(a.weight, b.weight) and not ok and pcall(b.load_state_dict, b, {weight = a.weight}, {strict = false}) end},
  {"F.pad/normalize/cosine_similarity/pairwise_distance/softplus/one_hot", function()
      return #F.pad(ks.ones(1, 2), {1, 1}):shape() == 2 and F.pad(ks.ones(1, 2), {1, 1}):size(1) == 4
      and near(F.normalize(ks.tensor({{3, 4}}), {dim = 1})[{0, 0}]:item(), 0.6)
      and near(F.cosine_similarity(ks.ones(1, 2), ks.ones(1, 2)):item(), 1) and near(F.pairwise_distance(ks.ones(1, 2), ks.ones(1, 2)):item(), 0, 1e-5)
      and near(F.softplus(ks.zeros(1)):item(), math.log(2)) and F.one_hot(ks.tensor({2}, ks.int64), 3)[{0, 2}]:item() == 1 end},
  {"F.affine_grid/grid_sample", function()
      local id = ks.tensor({{{1, 0, 0}, {0, 1, 0}}})
      local img = ks.arange(6):float():reshape(1, 1, 2, 3)
      return ks.allclose(F.grid_sample(img, F.affine_grid(id, {1, 1, 2, 3})), img, {atol = 1e-5}) end},
  {"nn.init (kaiming/xavier/normal/uniform/zeros/ones/constant/trunc_normal/orthogonal/eye)", function()
      local w = ks.empty(4, 3)
      nn.init.kaiming_normal_(w); nn.init.xavier_uniform_(w); nn.init.normal_(w); nn.init.uniform_(w)
      nn.init.trunc_normal_(w, {std = 1, a = -0.5, b = 0.5}); local trunc = w:abs():max():item() <= 0.5
      nn.init.orthogonal_(w); local orth = same(ks.matmul(w:t(), w), {1, 0, 0, 0, 1, 0, 0, 0, 1})
      nn.init.eye_(w); local eye = w:sum():item() == 3
      nn.init.constant_(w, 2); nn.init.zeros_(w); nn.init.ones_(w)
      return trunc and orth and eye and w:sum():item() == 12 end},
}

-- torch.optim and lr_scheduler
local function opt_of(cls, opts) return cls({ks.zeros(1):requires_grad_()}, opts or {lr = 0.1}) end
local OPTIM = {
  {"SGD/Adam/AdamW/RMSprop/Adagrad/LBFGS", function()
      for _, cls in ipairs({optim.SGD, optim.Adam, optim.AdamW, optim.RMSprop, optim.Adagrad}) do
        local p = ks.ones(1):requires_grad_()
        local o = cls({p}, {lr = 0.1});
        (p * p):sum():backward(); o:step()
        if p:item() >= 1 then return false end
      end
      local p = ks.ones(1):requires_grad_()
      local o = optim.LBFGS({p}, {lr = 1})
      o:step(function() o:zero_grad(); local l = ((p - 3) ^ 2):sum(); l:backward(); return l end)
      return near(p:item(), 3, 1e-3) end},
  {"param groups/add_param_group/state_dict/load_state_dict", function()
      local a, b = ks.zeros(1):requires_grad_(), ks.zeros(1):requires_grad_()
      local o = optim.SGD({{params = {a}, lr = 0.5}}, {lr = 0.1})
      o:add_param_group({params = {b}})
      local o2 = optim.SGD({{params = {a}, lr = 0.5}, {params = {b}}}, {lr = 0.1})
      o2:load_state_dict(o:state_dict())
      return #o.param_groups == 2 and o.param_groups[1].lr == 0.5 and o.param_groups[2].lr == 0.1 end},
  {"StepLR/MultiStepLR/ExponentialLR/get_last_lr", function()
      local o = opt_of(optim.SGD); local s = lr.StepLR(o, {step_size = 1, gamma = 0.5}); o:step(); s:step()
      local o2 = opt_of(optim.SGD); local s2 = lr.MultiStepLR(o2, {milestones = {1}, gamma = 0.1}); s2:step()
      local o3 = opt_of(optim.SGD); local s3 = lr.ExponentialLR(o3, {gamma = 0.9}); s3:step()
      return near(s:get_last_lr()[1], 0.05) and near(s2:get_last_lr()[1], 0.01) and near(s3:get_last_lr()[1], 0.09) end},
  {"CosineAnnealingLR/CosineAnnealingWarmRestarts/OneCycleLR/LinearLR", function()
      local o = opt_of(optim.SGD); local s = lr.CosineAnnealingLR(o, {T_max = 2}); s:step(); s:step()
      local o2 = opt_of(optim.SGD); local s2 = lr.CosineAnnealingWarmRestarts(o2, {T_0 = 2}); s2:step(); s2:step()
      local o3 = opt_of(optim.SGD); local s3 = lr.OneCycleLR(o3, {max_lr = 1, total_steps = 10})
      local o4 = opt_of(optim.SGD); local s4 = lr.LinearLR(o4, {start_factor = 0.5, total_iters = 2})
      return near(s:get_last_lr()[1], 0) and near(s2:get_last_lr()[1], 0.1) and near(s3:get_last_lr()[1], 0.04)
      and near(s4:get_last_lr()[1], 0.05) end},
  {"ReduceLROnPlateau/LambdaLR/SequentialLR", function()
      local o = opt_of(optim.SGD); local s = lr.ReduceLROnPlateau(o, {patience = 0, factor = 0.5}); s:step(1); s:step(1)
      local o2 = opt_of(optim.SGD); local s2 = lr.LambdaLR(o2, {lr_lambda = function(e) return 1 / (e + 1) end}); s2:step()
      local o3 = opt_of(optim.SGD)
      local s3 = lr.SequentialLR(o3, {lr.ConstantLR(o3, {factor = 0.5, total_iters = 1}),
        lr.ExponentialLR(o3, {gamma = 0.9})}, {milestones = {1}})
      return near(o.param_groups[1].lr, 0.05) and near(s2:get_last_lr()[1], 0.05) and near(s3:get_last_lr()[1], 0.05) end},
}

-- torch.utils.data
local DATA = {
  {"TensorDataset/DataLoader (batch_size, shuffle, drop_last, generator)", function()
      local ds = data.TensorDataset(ks.arange(10))
      local n = 0
      for xb in data.DataLoader(ds, {batch_size = 4, shuffle = true, drop_last = true, generator = ks.Generator(0)}) do n = n + #xb end
      return #ds == 10 and n == 8 end},
  {"Dataset/collate_fn/sampler", function()
      local ds = data.Dataset{len = function() return 4 end, get = function(_, i) return i * 10 end}
      local got = {}
      local loader = data.DataLoader(ds, {batch_size = 2, sampler = data.SequentialSampler(ds),
        collate_fn = function(rows) return rows[1][1] + rows[2][1] end})
      for s in loader do got[#got + 1] = s end
      return got[1] == 10 and got[2] == 50 end},
  {"random_split/Subset/ConcatDataset", function()
      local ds = data.TensorDataset(ks.arange(10))
      local a, b = table.unpack(data.random_split(ds, {7, 3}, {generator = ks.Generator(1)}))
      local all = data.ConcatDataset({a, b})
      local seen = {}
      for i = 0, #all - 1 do seen[all:get(i):item()] = true end
      local count = 0
      for _ in pairs(seen) do count = count + 1 end
      return #a == 7 and #b == 3 and count == 10 and #data.Subset(ds, {0, 1}) == 2 end},
  {"WeightedRandomSampler/RandomSampler/SubsetRandomSampler", function()
      local w = data.WeightedRandomSampler(ks.tensor({0, 1, 0}), 5, {generator = ks.Generator(2)})
      local r = data.RandomSampler(data.TensorDataset(ks.arange(4)), {generator = ks.Generator(2)})
      local s = data.SubsetRandomSampler({3, 5}, {generator = ks.Generator(2)})
      return same(w:indices(), {1, 1, 1, 1, 1}) and ks.equal(r:indices():sort(), ks.arange(4))
      and same(s:indices():sort(), {3, 5}) and #w == 5 end},
}

local CHECKLIST = {{"torch", TORCH}, {"torch.nn", NN}, {"torch.optim", OPTIM}, {"torch.utils.data", DATA}}

describe("PyTorch parity surface", function()
  for _, group in ipairs(CHECKLIST) do
    for _, entry in ipairs(group[2]) do
      it(group[1] .. ": " .. entry[1], function()
        assert.is_true(entry[2]() and true or false, entry[1])
      end)
    end
  end
end)

-- the names added by the sweep reject bad inputs with a message naming the argument or the shapes
describe("PyTorch parity surface, bad inputs", function()
  local err_of = require("spec.helpers.torch_reference").err_of
  it("nn modules, nn.utils and nn.init", function()
    assert.matches("Unflatten: argument 'dim' must be an integer", err_of(nn.Unflatten, "1", {2, 2}))
    assert.matches("unflatten: sizes {3, 3} multiply to 9, not dim 1's size 4", err_of(function() return nn.Unflatten(1, {3, 3})(ks.ones(2, 4)) end))
    assert.matches("CosineSimilarity: unknown option 'dims'", err_of(nn.CosineSimilarity, {dims = 1}))
    assert.matches("PairwiseDistance: p must be a number", err_of(nn.PairwiseDistance, "2"))
    assert.matches("Sequential{{name, module}, ...}: entry 2 must be {name, module}",
      err_of(nn.Sequential, {{"a", nn.ReLU()}, {"b", 3}}))
    assert.matches("name 'a' is given twice", err_of(nn.Sequential, {{"a", nn.ReLU()}, {"a", nn.ReLU()}}))
    assert.matches("parameters_to_vector: parameters%[2%] must be a tensor, got string",
      err_of(nn.utils.parameters_to_vector, {ks.ones(1), "w"}))
    assert.matches("vector_to_parameters: vec has 2 elements, the parameters 3",
      err_of(nn.utils.vector_to_parameters, ks.ones(2), nn.Linear(2, 1):parameters()))
    assert.matches("vector_to_parameters: argument 'vec' must be a 1%-d tensor", err_of(nn.utils.vector_to_parameters, ks.ones(1, 3), {}))
    assert.matches("init.trunc_normal_: a %(1%) must be below b %(%-1%)", err_of(nn.init.trunc_normal_, ks.empty(2), {a = 1, b = -1}))
    assert.matches("init.orthogonal_: only tensors with 2 or more dims", err_of(nn.init.orthogonal_, ks.empty(3)))
    assert.matches("init.eye_: only 2%-d tensors", err_of(nn.init.eye_, ks.empty(3)))
  end)

  it("data sets, samplers and the loader's sampler and collate_fn", function()
    local ds = data.TensorDataset(ks.arange(4))
    assert.matches("random_split: the lengths sum to 3, the data set has 4 rows", err_of(data.random_split, ds, {2, 1}))
    assert.matches("random_split: fractions must sum to 1, got 0.9", err_of(data.random_split, ds, {0.5, 0.4}))
    assert.matches("random_split: unknown option 'gen'", err_of(data.random_split, ds, {2, 2}, {gen = 1}))
    assert.matches("ConcatDataset: datasets%[2%] is not a data set", err_of(data.ConcatDataset, {ds, 5}))
    assert.matches("ConcatDataset:get: index 4 out of range %[0, 4%)", err_of(function() return data.ConcatDataset({ds}):get(4) end))
    assert.matches("Dataset: expects a table with the functions len%(self%) and get%(self, i%)", err_of(data.Dataset, {len = 3}))
    assert.matches("WeightedRandomSampler: weights must be >= 0 with a positive sum",
      err_of(data.WeightedRandomSampler, ks.tensor({-1, 2}), 3))
    assert.matches("WeightedRandomSampler: num_samples 3 exceeds the 2 weights without replacement",
      err_of(data.WeightedRandomSampler, ks.tensor({1, 2}), 3, {replacement = false}))
    assert.matches("RandomSampler: generator must be a kshot.Generator, got number", err_of(data.RandomSampler, ds, {generator = 3}))
    assert.matches("DataLoader: sampler option is mutually exclusive with shuffle",
      err_of(data.DataLoader, ds, {sampler = data.SequentialSampler(ds), shuffle = true}))
    assert.matches("DataLoader: sampler must be a sampler", err_of(data.DataLoader, ds, {sampler = {}}))
    assert.matches("DataLoader: collate_fn must be a function, got number", err_of(data.DataLoader, ds, {collate_fn = 1}))
  end)
end)
