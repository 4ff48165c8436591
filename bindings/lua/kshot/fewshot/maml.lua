--- kshot.fewshot.maml: Model-Agnostic Meta-Learning (Finn, Abbeel & Levine 2017),
-- first- and second-order, for any nn.Module classifier.
--
--   local maml = require "kshot.fewshot.maml"      -- also fewshot.maml
--   local model = maml.conv4{way = 5}              -- 4 x [conv3x3 32, BN, ReLU, maxpool2] + linear head
--   local opt = ks.optim.Adam(model:parameters(), {lr = 1e-3})
--   local o = {steps = 1, inner_lr = 0.4, first_order = false}
--   local r = maml.meta_step(model, {{xs, ys, xq, yq}, ...}, opt, o)   -- r.loss, r.accuracy (queries, %)
--   local fast = maml.adapt(model, xs, ys, o)      -- name -> adapted tensor
--   local logits = ks.nn.functional_call(model, fast, xq)
--   local s = maml.evaluate(model, tasks, {steps = 3, inner_lr = 0.4})  -- s.mean, s.ci95 (%)
--
-- Inner loop: `steps` steps of plain SGD on the support set's cross-entropy,
-- w' = w - inner_lr * dL_support/dw, for every parameter that requires grad
-- (PyTorch's torch.func style: the module is run with the adapted tensors by
-- nn.functional_call, its own parameters are never written). Second order
-- (first_order = false) records the inner gradients (autograd.grad with
-- create_graph), so the meta-gradient differentiates through them; first
-- order (FOMAML) uses the inner gradients as constants: the meta-gradient is
-- the query loss's gradient at the adapted weights. Both give the same
-- adapted weights; evaluation therefore always adapts first-order.
--
-- Batch norm: maml.conv4 builds BatchNorm2d without running statistics
-- (track_running_stats = false), so every forward -- support and query, in
-- meta-training and in evaluation -- normalises with the statistics of its
-- own batch, as Finn et al.'s reference implementation does (the queries of
-- an episode are normalised together: transductive, as in the paper). Other
-- models run in whatever train/eval mode the caller set; a BN that tracks
-- running statistics and is in training mode updates them on every forward
-- (inner and outer), as in PyTorch.
--
-- Tasks (episodes): a list of {xs, ys, xq, yq} (or {xs=, ys=, xq=, yq=}):
-- support / query inputs [N, ...] float32 and int64 labels 0..way-1 [N].
local ks = require "kshot"

local M = {}

local options = require "kshot.options"
-- raised at the user's line, none when kshot catches it to add context (options.raise)
local function fail(fmt, ...) options.raise(string.format(fmt, ...)) end

local shape_str = require("kshot.options").shape_str

local DEFAULTS = {steps = 1, inner_lr = 0.4, first_order = false}

-- the options of adapt / meta_step / evaluate, checked, defaults filled
local function check_opts(opts, where, extra)
  if opts ~= nil and type(opts) ~= "table" then fail("%s: options must be a table, got %s", where, type(opts)) end
  opts = opts or {}
  local known = {steps = true, inner_lr = true, first_order = true}
  for k in pairs(extra or {}) do known[k] = true end
  for k in pairs(opts) do
    if not known[k] then fail("%s", require("kshot.options").message(where, k, known)) end
  end
  local o = {}
  for k, v in pairs(DEFAULTS) do
    if opts[k] == nil then o[k] = v else o[k] = opts[k] end -- (not `and/or`: first_order may be false)
  end
  for k in pairs(extra or {}) do o[k] = opts[k] end
  if math.type(o.steps) ~= "integer" or o.steps < 0 then
    fail("%s: steps must be an integer >= 0, got %s", where, tostring(o.steps))
  end
  if type(o.inner_lr) ~= "number" or not (o.inner_lr > 0) or o.inner_lr == math.huge then
    fail("%s: inner_lr must be a finite number > 0, got %s", where, tostring(o.inner_lr))
  end
  if type(o.first_order) ~= "boolean" then
    fail("%s: first_order must be a boolean, got %s", where, tostring(o.first_order))
  end
  return o
end

local function check_model(model, where)
  if type(model) ~= "table" or type(model.named_parameters) ~= "function" or rawget(model, "_slots") == nil then
    fail("%s: model must be an nn.Module, got %s", where, type(model))
  end
end

-- inputs [N, ...] and int64 labels [N] of one set ("support" / "query")
local function check_set(x, y, what, where)
  if not ks.is_tensor(x) then fail("%s: the %s inputs must be a tensor, got %s", where, what, type(x)) end
  if not ks.is_tensor(y) then fail("%s: the %s labels must be a tensor, got %s", where, what, type(y)) end
  if x:dim() < 2 then
    fail("%s: the %s inputs must be [N, ...] with N examples, got shape %s", where, what, shape_str(x))
  end
  if y:dim() ~= 1 or y:size(0) ~= x:size(0) then
    fail("%s: the %s labels must be [N] with N = %d (the inputs' rows), got shape %s (inputs %s)", where, what,
      x:size(0), shape_str(y), shape_str(x))
  end
  if y:dtype() ~= "int64" then fail("%s: the %s labels must be int64, got %s", where, what, y:dtype()) end
  if x:size(0) == 0 then fail("%s: the %s set is empty (shape %s)", where, what, shape_str(x)) end
  if y:min():item() < 0 then fail("%s: the %s labels must be >= 0, got %d", where, what, y:min():item()) end
end

-- the logits of x must have one column per class of y
local function check_logits(logits, y, what, where)
  if not ks.is_tensor(logits) or logits:dim() ~= 2 or logits:size(0) ~= y:size(0) then
    fail("%s: the model must return logits [N, classes] for the %s set, got %s", where, what,
      ks.is_tensor(logits) and shape_str(logits) or type(logits))
  end
  local top = y:max():item()
  if top >= logits:size(1) then
    fail("%s: a %s label is %d but the model returns %d logits per example (labels must be 0..%d)", where, what, top,
      logits:size(1), logits:size(1) - 1)
  end
end

-- the trainable parameters: names and tensors, in named_parameters' order
local function trainable(model, where)
  local names, params = {}, {}
  for _, np in ipairs(model:named_parameters()) do
    if np[2].requires_grad then names[#names + 1], params[#params + 1] = np[1], np[2] end
  end
  if #params == 0 then fail("%s: the model has no parameter that requires grad", where) end
  return names, params
end

local function as_table(names, tensors)
  local t = {}
  for i, n in ipairs(names) do t[n] = tensors[i] end
  return t
end

local function accuracy(logits, y)
  return 100 * logits:argmax(1):eq(y):sum():item() / y:size(0)
end

-- the inner loop on checked inputs -> fast (name -> tensor), support losses (numbers)
local function inner_loop(model, xs, ys, o, where)
  local names, fast = trainable(model, where)
  local losses = {}
  for step = 1, o.steps do
    local logits = ks.nn.functional_call(model, as_table(names, fast), xs)
    if step == 1 then check_logits(logits, ys, "support", where) end
    local loss = ks.functional.cross_entropy(logits, ys)
    losses[step] = loss:item()
    -- retain_graph: autograd.grad would free the nodes behind the fast weights
    -- of the previous step, which the outer backward still needs
    local grads = ks.autograd.grad(loss, fast, {create_graph = not o.first_order, retain_graph = true,
      allow_unused = true})
    local nf = {}
    for i, w in ipairs(fast) do
      local g = grads[i]
      if g == nil then nf[i] = w
      else nf[i] = w - (o.first_order and g:detach() or g) * o.inner_lr end
    end
    fast = nf
  end
  return as_table(names, fast), losses
end

--- maml.adapt(model, xs, ys[, {steps = 1, inner_lr = 0.4, first_order = false}]) -> fast, losses
-- fast: name -> adapted tensor for every parameter that requires grad (for
-- nn.functional_call(model, fast, x)); a function of the model's parameters,
-- so a loss on it back-propagates the meta-gradient (through the inner
-- gradients unless first_order). losses: the support loss before each step
-- (Lua numbers). steps = 0 returns the parameters themselves.
function M.adapt(model, xs, ys, opts)
  local where = "maml.adapt"
  check_model(model, where)
  check_set(xs, ys, "support", where)
  local o = check_opts(opts, where)
  return inner_loop(model, xs, ys, o, where)
end

-- a task {xs, ys, xq, yq} / {xs=, ys=, xq=, yq=} -> its four tensors, checked
local function task_of(t, i, where)
  if type(t) ~= "table" then fail("%s: tasks[%d] must be a table {xs, ys, xq, yq}, got %s", where, i, type(t)) end
  local xs, ys, xq, yq = t.xs or t[1], t.ys or t[2], t.xq or t[3], t.yq or t[4]
  local w = ("%s: tasks[%d]"):format(where, i)
  check_set(xs, ys, "support", w)
  check_set(xq, yq, "query", w)
  return xs, ys, xq, yq
end

local function check_tasks(tasks, where)
  if type(tasks) ~= "table" or ks.is_tensor(tasks) then
    fail("%s: tasks must be a list of {xs, ys, xq, yq}, got %s", where, ks.is_tensor(tasks) and "a tensor" or type(tasks))
  end
  if #tasks == 0 then fail("%s: tasks is empty (a meta-batch needs at least one task)", where) end
end

--- maml.query_loss(model, fast, xq, yq) -> loss, logits: the adapted model's
-- cross-entropy on a query set (what meta_step averages over its tasks).
function M.query_loss(model, fast, xq, yq)
  local where = "maml.query_loss"
  check_model(model, where)
  if type(fast) ~= "table" then fail("%s: fast must be a table name -> tensor (from maml.adapt), got %s", where, type(fast)) end
  check_set(xq, yq, "query", where)
  local logits = ks.nn.functional_call(model, fast, xq)
  check_logits(logits, yq, "query", where)
  return ks.functional.cross_entropy(logits, yq), logits
end

--- maml.meta_step(model, tasks, opt[, opts]) -> {loss =, accuracy =, support_loss =}
-- One outer update: for each task of the meta-batch, adapt on its support
-- set, take the cross-entropy of the adapted model on its queries; the
-- meta-loss is their mean, back-propagated into the parameters' .grad (each
-- task's part as soon as it is computed, so one task's graph is alive at a
-- time), then opt:step(). opt: a kshot.optim optimiser over the model's
-- parameters (zero_grad is called first). Returns the mean query loss and
-- query accuracy (%, before the update) and the mean support loss before
-- adaptation (NaN with steps = 0: no support loss is computed).
function M.meta_step(model, tasks, opt, opts)
  local where = "maml.meta_step"
  check_model(model, where)
  check_tasks(tasks, where)
  if type(opt) ~= "table" or type(opt.step) ~= "function" or type(opt.zero_grad) ~= "function" then
    fail("%s: opt must be an optimiser (kshot.optim, with step and zero_grad), got %s", where, type(opt))
  end
  local o = check_opts(opts, where)
  local checked = {}
  for i, t in ipairs(tasks) do checked[i] = {task_of(t, i, where)} end
  local n, loss_sum, acc_sum, sup_sum = #checked, 0, 0, 0
  opt:zero_grad()
  for _, t in ipairs(checked) do
    local xs, ys, xq, yq = t[1], t[2], t[3], t[4]
    local fast, losses = inner_loop(model, xs, ys, o, where)
    local logits = ks.nn.functional_call(model, fast, xq)
    check_logits(logits, yq, "query", where)
    local loss = ks.functional.cross_entropy(logits, yq)
    ;(loss / n):backward()
    loss_sum, acc_sum = loss_sum + loss:item(), acc_sum + accuracy(logits:detach(), yq)
    sup_sum = sup_sum + (losses[1] or 0 / 0)
  end
  opt:step()
  return {loss = loss_sum / n, accuracy = acc_sum / n, support_loss = sup_sum / n}
end

--- maml.episode_accuracy(model, xs, ys, xq, yq[, opts]) -> accuracy (%) of the
-- model adapted on the support set (first-order: the same weights, no
-- second-order graph), on the queries. The model's parameters are unchanged.
function M.episode_accuracy(model, xs, ys, xq, yq, opts)
  local where = "maml.episode_accuracy"
  check_model(model, where)
  check_set(xs, ys, "support", where)
  check_set(xq, yq, "query", where)
  local o = check_opts(opts, where)
  o.first_order = true
  local fast = inner_loop(model, xs, ys, o, where)
  local logits = ks.no_grad(function() return ks.nn.functional_call(model, fast, xq) end)
  check_logits(logits, yq, "query", where)
  return accuracy(logits, yq)
end

--- maml.evaluate(model, tasks[, {steps, inner_lr, episodes =, progress =}]) -> summary
-- Per episode: adapt a copy of the weights on the support set (the model is
-- unchanged), accuracy on the queries. tasks: a list of {xs, ys, xq, yq}, or
-- a function(e) -> xs, ys, xq, yq for e = 1..episodes (episodes= required
-- then). summary: {mean, ci95, sd, n, per_episode, sigma} in percent, as
-- kshot.fewshot's: ci95 = 1.96 * sigma / sqrt(n) with the POPULATION sigma
-- (ddof = 0) from 100 episodes on, Student's t with the sample sd below.
-- progress = function(e, n) is called after each episode.
function M.evaluate(model, tasks, opts)
  local where = "maml.evaluate"
  check_model(model, where)
  local o = check_opts(opts, where, {episodes = true, progress = true})
  local n
  if type(tasks) == "function" then
    n = o.episodes
    if math.type(n) ~= "integer" or n < 1 then
      fail("%s: episodes must be an integer >= 1 when tasks is a function, got %s", where, tostring(n))
    end
  else
    check_tasks(tasks, where)
    n = #tasks
    if o.episodes ~= nil and o.episodes ~= n then
      fail("%s: episodes = %s but tasks lists %d episodes", where, tostring(o.episodes), n)
    end
  end
  if o.progress ~= nil and type(o.progress) ~= "function" then
    fail("%s: progress must be a function(episode, episodes), got %s", where, type(o.progress))
  end
  local accs = {}
  local inner = {steps = o.steps, inner_lr = o.inner_lr}
  for e = 1, n do
    local xs, ys, xq, yq
    if type(tasks) == "function" then xs, ys, xq, yq = tasks(e)
    else xs, ys, xq, yq = task_of(tasks[e], e, where) end
    accs[e] = M.episode_accuracy(model, xs, ys, xq, yq, inner)
    if o.progress then o.progress(e, n) end
    if e % 10 == 0 then collectgarbage("step") end
  end
  return require("kshot.fewshot.protocol").summary(accs)
end

--- maml.protocol_episodes{support_pool =, query_pool =, classes =, way = 5, shot = 1, query = 15, seed = 0}
-- -> next(): the episodes kshot.fewshot.evaluate / compare draw for the same
-- pools, classes, way, shot, query and seed (ks.data.episode over the pools
-- restricted to `classes`, one generator seeded with `seed`), so MAML's
-- figures are paired with the other methods'. Each call returns the next
-- episode: support images, support labels, query images, query labels (the
-- pools' images as they are, labels 0..way-1 int64). Pools: {images =
-- [N, ...], labels = int64 [N]}; query_pool = nil draws the queries from
-- the support pool (disjoint from the support).
function M.protocol_episodes(o)
  local where = "maml.protocol_episodes"
  if type(o) ~= "table" then fail("%s: options table expected, got %s", where, type(o)) end
  local known = {support_pool = true, query_pool = true, classes = true, way = true, shot = true, query = true,
    seed = true}
  for k in pairs(o) do
    if not known[k] then fail("%s", require("kshot.options").message(where, k, known)) end
  end
  local P = require "kshot.fewshot.protocol"
  local sx, sy = P.pool(o.support_pool, "support_pool", where)
  local qx, qy = sx, sy
  if o.query_pool ~= nil then qx, qy = P.pool(o.query_pool, "query_pool", where) end
  if o.classes == nil then fail("%s: classes= is required (the episodes' classes)", where) end
  local classes = P.class_list(o.classes, where)
  local way, shot, query, seed = o.way or 5, o.shot or 1, o.query or 15, o.seed or 0
  for k, v in pairs({way = way, shot = shot, query = query}) do
    if math.type(v) ~= "integer" or v < 1 then fail("%s: %s must be an integer >= 1, got %s", where, k, tostring(v)) end
  end
  if math.type(seed) ~= "integer" then fail("%s: seed must be an integer, got %s", where, tostring(seed)) end
  -- the rows of a pool whose label is one of the classes, ascending (as the protocol restricts pools)
  local function rows_in(y)
    local mask = ks.zeros({y:size(0)}, "bool")
    for _, c in ipairs(classes) do mask = mask:logical_or(y:eq(c)) end
    return mask:nonzero():reshape(-1)
  end
  local srows = rows_in(sy)
  local slabels = sy:index_select(0, srows)
  local qrows, qlabels = srows, slabels
  if o.query_pool ~= nil then qrows = rows_in(qy); qlabels = qy:index_select(0, qrows) end
  local g = ks.Generator(seed)
  local spec = {way = way, shot = shot, query = query, classes = classes, generator = g,
    query_labels = o.query_pool ~= nil and qlabels or nil}
  return function()
    local si, sl, qi, ql = ks.data.episode(slabels, spec)
    return sx:index_select(0, srows:index_select(0, si)), sl, qx:index_select(0, qrows:index_select(0, qi)), ql
  end
end

--- maml.conv4{way = 5, in_channels = 1, hidden = 32, size = 28} -> nn.Sequential
-- The Conv-4 of the MAML / prototypical-network papers: 4 blocks of conv 3x3
-- (padding 1, `hidden` channels), BatchNorm2d WITHOUT running statistics
-- (batch statistics always, see the header), ReLU, max-pool 2; then flatten
-- and a linear head with `way` outputs. A size x size input ends as a
-- hidden x s x s map, s = size halved (floor) 4 times (28 -> 1).
function M.conv4(opts)
  local where = "maml.conv4"
  if opts ~= nil and type(opts) ~= "table" then fail("%s: options must be a table, got %s", where, type(opts)) end
  opts = opts or {}
  local known = {way = true, in_channels = true, hidden = true, size = true}
  for k in pairs(opts) do
    if not known[k] then fail("%s", require("kshot.options").message(where, k, known)) end
  end
  local o = {way = opts.way or 5, in_channels = opts.in_channels or 1, hidden = opts.hidden or 32,
    size = opts.size or 28}
  for _, k in ipairs({"way", "in_channels", "hidden", "size"}) do
    if math.type(o[k]) ~= "integer" or o[k] < 1 then fail("%s: %s must be an integer >= 1, got %s", where, k,
      tostring(o[k])) end
  end
  local s = o.size
  for _ = 1, 4 do s = s // 2 end
  if s < 1 then fail("%s: size = %d is too small for 4 max-pools (needs >= 16)", where, o.size) end
  local nn = ks.nn
  local layers, c = {}, o.in_channels
  for _ = 1, 4 do
    layers[#layers + 1] = nn.Conv2d(c, o.hidden, 3, {padding = 1})
    layers[#layers + 1] = nn.BatchNorm2d(o.hidden, {track_running_stats = false})
    layers[#layers + 1] = nn.ReLU()
    layers[#layers + 1] = nn.MaxPool2d(2)
    c = o.hidden
  end
  layers[#layers + 1] = nn.Flatten()
  layers[#layers + 1] = nn.Linear(o.hidden * s * s, o.way)
  return nn.Sequential(table.unpack(layers))
end

return M
