-- The documentation's examples run: every ```lua block of README.md and the
-- usage examples of the module headers that are complete programs.
--
-- How each kind of example is run:
-- * README blocks are found by their ```lua fence; a block whose first line
--   starts with "$ " or "> " is a TRANSCRIPT (the quick tour): its "> " lines
--   are evaluated in order in one environment as the REPL does (ks and help
--   predefined; an expression is tried as `return <line>` first), and each
--   must run without error; of its "$ " lines only the code of a `-e '...'`
--   is run (in-process, output compared); the others start programs and are
--   not run here (spec/host_spec.lua covers the host). Global settings the
--   tour changes (threads, memory limit) are restored afterwards.
-- * Other README blocks are PROGRAMS, run unchanged as a chunk in a fresh
--   environment. A block's free variables (data it reads, tensors the text
--   defines elsewhere: `images`, `trx`, ...) are GIVEN by the spec (see
--   the `given` tables below), and files it opens by a relative name are
--   created in a temporary folder that is the working directory while it
--   runs (the backbone block names a repository file: it runs from the
--   repository root). No substitution of the text: loop counts are the
--   README's (the whole file takes about 8 s of CPU).
-- * Module headers: kshot's header comments show usage as lines indented by
--   "--   ", but most are fragments (they use `model`, `opt`, `loss` or
--   elide code with three dots). Run here: the complete programs (nn/init, cli,
--   pretty) and those whose only gaps are free variables with an obvious
--   meaning (augment, optim/init, regularize, the lr schedulers), given like
--   README's. Not run: the ones that elide code (dataset, experiment,
--   fewshot, nn/lora, fewshot/pretrain*, options, optim/checkpoint).
-- * Blocks that need Fashion-MNIST ($KSHOT_FASHION_MNIST, else
--   /usr/share/datasets/fashion-mnist) are pending when it is absent.
local ks = require "kshot"

local here = debug.getinfo(1, "S").source:match("^@(.*)[/\\][^/\\]*$") or "."
if not here:match("^/") then here = require("lfs").currentdir() .. "/" .. here end
local root = here .. "/.."

local function read(path)
  local f = assert(io.open(path, "rb"))
  local s = f:read("a")
  f:close()
  return s
end

-- README.md's ```lua blocks, in order: {text =, line = first line number}.
local function readme_blocks()
  local blocks, cur, n = {}, nil, 0
  for line in (read(root .. "/README.md") .. "\n"):gmatch("(.-)\r?\n") do
    n = n + 1
    if cur then
      if line:match("^```") then
        blocks[#blocks + 1] = cur
        cur = nil
      else
        cur.lines[#cur.lines + 1] = line
      end
    elseif line:match("^```lua%s*$") then
      cur = { lines = {}, line = n + 1 }
    end
  end
  assert(cur == nil, "README.md: unclosed ```lua block")
  for _, b in ipairs(blocks) do b.text = table.concat(b.lines, "\n") end
  return blocks
end

-- The usage example of a module header: the first run of lines indented by
-- "--   " that contains `first` (a line of the example).
local function header_example(file, first)
  local lines, start = {}, nil
  for line in io.lines(root .. "/bindings/lua/kshot/" .. file) do
    if not line:match("^%-%-") then break end
    if start == nil and line:find(first, 1, true) then start = true end
    if start then
      if not line:match("^%-%-  ") then break end
      lines[#lines + 1] = line:sub(5)
    end
  end
  assert(#lines > 0, file .. ": example starting with " .. first .. " not found")
  return table.concat(lines, "\n")
end

local function fashion_dir()
  local dir = os.getenv("KSHOT_FASHION_MNIST") or "/usr/share/datasets/fashion-mnist"
  local f = io.open(dir .. "/train-images-idx3-ubyte.gz", "rb")
  if f then f:close() return dir end
  return nil
end

-- Runs `code` with the globals of `given` (plus the standard ones); print is
-- captured into the returned list of lines.
local function run_chunk(code, name, given)
  local out = {}
  local env = setmetatable({}, { __index = _G })
  for k, v in pairs(given or {}) do env[k] = v end
  env.print = function(...)
    local parts = table.pack(...)
    for i = 1, parts.n do parts[i] = tostring(parts[i]) end
    out[#out + 1] = table.concat(parts, "\t", 1, parts.n)
  end
  local chunk, err = load(code, "=" .. name, "t", env)
  assert(chunk, err)
  chunk()
  return out, env
end

-- Runs f with the working directory set to a fresh temporary folder.
local function in_temp_dir(f)
  local lfs = require "lfs"
  local dir = os.tmpname()
  os.remove(dir)
  assert(lfs.mkdir(dir))
  local old = lfs.currentdir()
  assert(lfs.chdir(dir))
  local ok, err = pcall(f, dir)
  lfs.chdir(old)
  for name in lfs.dir(dir) do
    if name ~= "." and name ~= ".." then os.remove(dir .. "/" .. name) end
  end
  lfs.rmdir(dir)
  if not ok then error(err, 0) end
end

local blocks = readme_blocks()

describe("README.md", function()
  it("has the ```lua blocks this spec knows (a new one needs a case here)", function()
    local firsts = {}
    for i, b in ipairs(blocks) do firsts[i] = b.lines[1] end
    assert.same({
      "$ build/kshot                               -- REPL: ks = require \"kshot\" and help() are predefined",
      'local ks = require "kshot"',
      'local data = require "kshot.data"',
      'local fewshot = require "kshot.fewshot"',
      "-- spec/recipes.lua: the experiment at reduced size, a function of the seed (ks.manual_seed(seed) is called first)",
      "-- spec/logreg_regression_spec.lua",
    }, firsts)
  end)

  it("quick tour (transcript): every '> ' line evaluates, the -e code prints what it says", function()
    local b = blocks[1]
    local env = setmetatable({ ks = ks, help = require "kshot.help" }, { __index = _G })
    local results = {}
    local threads = ks.get_num_threads()
    local limit = ks.memory_stats().limit_bytes
    local ok, err = pcall(function()
      for i, line in ipairs(b.lines) do
        local where = ("README.md:%d"):format(b.line + i - 1)
        local code = line:match("^> (.*)$")
        if code then
          local chunk = load("return " .. code, "=" .. where, "t", env)
          if not chunk then chunk = assert(load(code, "=" .. where, "t", env)) end
          local r = table.pack(pcall(chunk))
          assert(r[1], where .. ": " .. tostring(r[2]))
          results[code:match("^(.-)%s*%-%-") or code] = r[2]
        else
          assert(line:match("^%$ "), where .. ": a transcript line starts with '$ ' or '> '")
          local e = line:match("^%$ build/kshot %-e '(.*)'$")
          if e then
            local out = run_chunk(e, where)
            assert.same({ "tensor([0, 1, 2, 3, 4])" }, out)
            results["-e"] = true
          end
        end
      end
    end)
    ks.set_num_threads(threads)
    ks.set_memory_limit(limit)
    assert(ok, err)
    -- what the comments say
    assert.is_true(results["-e"], "no `$ build/kshot -e '...'` line")
    assert.same({ 6, 6 }, results["a:sum(1)"]:totable())
    assert.same({ 2, 2 }, results["ks.matmul(a, a:t())"]:shape())
    local stats = results["ks.memory_stats()"]
    assert.is_number(stats.limit_bytes)
    assert.is_number(stats.live_bytes)
  end)

  it("the small-sample training loop runs and its loss goes down", function()
    if not fashion_dir() then return pending("Fashion-MNIST not installed") end
    local out = run_chunk(blocks[2].text, "README.md:" .. blocks[2].line)
    assert.equal(4, #out)
    local prev = math.huge
    for i, line in ipairs(out) do
      local step, loss = line:match("^(%d+)\t(%S+)$")
      assert.equal(25 * i, tonumber(step))
      loss = tonumber(loss)
      assert(loss and loss > 0 and loss < prev, "loss not decreasing: " .. line)
      prev = loss
    end
  end)

  it("data files: read_csv / read_npy / read_npz / to_float as described", function()
    in_temp_dir(function()
      local f = assert(io.open("iris.csv", "w"))
      f:write("sepal_length,sepal_width,species\n5.1,3.5,setosa\n7.0,3.2,versicolor\n6.3,3.3,virginica\n4.9,3.0,setosa\n")
      f:close()
      ks.data.save_npy("features.npy", ks.arange(6):reshape(2, 3))
      f = assert(io.open("split.npz", "wb"))
      f:write(read(root .. "/spec/fixtures/torch/mlp.npz"))
      f:close()
      local images = ks.arange(5 * 28 * 28):remainder(256):to(ks.uint8):reshape(5, 28, 28)
      local idx = ks.tensor({ 0, 3 }, ks.int64)
      run_chunk(blocks[3].text, "README.md:" .. blocks[3].line, { images = images, idx = idx })
      -- the block's results are locals: check what its comments say by the same calls
      local data = require "kshot.data"
      local x, y, classes = data.read_csv("iris.csv", { label = "species" })
      assert.same({ 4, 2 }, x:shape())
      assert.same({ 0, 1, 2, 0 }, y:totable())
      assert.same({ "setosa", "versicolor", "virginica" }, classes)
      local xb = data.to_float(images:index_select(0, idx)):unsqueeze(1)
      assert.same({ 2, 1, 28, 28 }, xb:shape())
      assert(xb:max():item() <= 1 and xb:min():item() >= 0)
      assert.same({ { 0, 1, 2 }, { 3, 4, 5 } }, data.read_npy("features.npy"):totable())
      local arrays = data.read_npz("split.npz")
      local n = 0
      for name, t in pairs(arrays) do
        assert.is_string(name)
        assert.truthy(ks.is_tensor(t), name)
        n = n + 1
      end
      assert(n > 0, "read_npz gave no arrays")
    end)
  end)

  it("bring your own PyTorch model: load_backbone + evaluate", function()
    if not fashion_dir() then return pending("Fashion-MNIST not installed") end
    local data = require "kshot.data"
    local trx, try = data.fashion_mnist { split = "train" }
    local tex, tey = data.fashion_mnist { split = "test" }
    -- small pools (40 train / 20 test images per class) keep it fast
    local i1 = data.kshot_indices(try, 40, { seed = 1 })
    local i2 = data.kshot_indices(tey, 20, { seed = 2 })
    local given = { trx = trx:index_select(0, i1), try = try:index_select(0, i1),
                    tex = tex:index_select(0, i2), tey = tey:index_select(0, i2) }
    -- the block names its file relative to the repository root
    local lfs = require "lfs"
    local cwd = lfs.currentdir()
    assert(lfs.chdir(root))
    local ok, r = pcall(function()
      local chunk = assert(load(blocks[4].text .. "\nreturn r", "=README.md:" .. blocks[4].line, "t",
        setmetatable(given, { __index = _G })))
      return chunk()
    end)
    lfs.chdir(cwd)
    assert(ok, r)
    assert.is_number(r.mean)
    assert(r.mean > 20 and r.mean <= 100, "accuracy % out of range: " .. tostring(r.mean))
    assert.is_number(r.ci95)
  end)

  it("pin your experiment: the recipes file is recorded, the spec passes, then catches a moved baseline", function()
    if not fashion_dir() then return pending("Fashion-MNIST not installed") end
    -- the block checks the default file, which $KSHOT_BASELINES would move away from the temporary folder
    if os.getenv("KSHOT_BASELINES") then return pending("$KSHOT_BASELINES is set") end
    local regression = require "kshot.regression"
    local lfs = require "lfs"
    in_temp_dir(function(dir)
      assert(lfs.mkdir(dir .. "/spec"))
      local ok, err = pcall(function()
        local f = assert(io.open("spec/recipes.lua", "wb"))
        f:write(blocks[5].text)
        f:close()
        -- the README's record command, in-process (the file name is the default one, relative to the folder)
        local diff = regression.record_all("spec/recipes.lua", { baselines = "spec/baselines.json", quiet = true })
        assert.matches("%+ logreg%.accuracy: mean", diff)
        -- the spec block under stand-ins for busted's describe/it, which run the test at once
        local function run_spec()
          run_chunk(blocks[6].text, "README.md:" .. blocks[6].line, {
            describe = function(_, body) body() end, it = function(_, body) body() end })
        end
        run_spec()
        local t = regression.load("spec/baselines.json")
        t.logreg.accuracy.mean = t.logreg.accuracy.mean + 10 -- as if the recipe had been 10 points better
        regression.save(t, "spec/baselines.json")
        local ok2, msg = pcall(run_spec)
        assert.is_false(ok2)
        assert.matches("regression detected:\nFAIL logreg%.accuracy: [%d.]+ vs baseline [%d.]+", msg)
      end)
      for _, name in ipairs { "recipes.lua", "baselines.json" } do os.remove(dir .. "/spec/" .. name) end
      lfs.rmdir(dir .. "/spec")
      if not ok then error(err, 0) end
    end)
  end)
end)

describe("module header examples", function()
  local function model_and_opt()
    local nn, optim = require "kshot.nn", require "kshot.optim"
    local model = nn.Linear(3, 2)
    local opt = optim.SGD(model:parameters(), { lr = 0.1 })
    return model, opt
  end

  it("nn/init.lua", function()
    local _, env = run_chunk(header_example("nn/init.lua", "local nn = require") .. "\n_G_model = model",
      "nn/init.lua")
    assert.same({ 5, 10 }, env._G_model(ks.zeros(5, 28, 28)):shape())
  end)

  it("cli.lua (parse with no arguments gives the defaults)", function()
    local code = header_example("cli.lua", "local cli = require") .. "\nresult = args"
    local _, env = run_chunk(code, "cli.lua", { arg = { [0] = "fewshot_fashion.lua" } })
    local args = env.result
    assert.same({ 5, 10 }, args.k)
    assert.equal(3, args.seeds)
    assert.equal(false, args.full)
    assert.equal("fast", args.mode)
  end)

  it("pretty.lua (the format of the --> line)", function()
    local code = header_example("pretty.lua", "local pretty = require")
    code = code:gsub("\n%-%->[^\n]*", "")
    local out = run_chunk(code, "pretty.lua", { ks = ks })
    local text = table.concat(out, " "):gsub("%s+", " ")
    assert.truthy(text:match("^{ ?limit_bytes = %d+, live_bytes = %d+, num_allocs = %d+, peak_bytes = %d+ ?}$"), text)
  end)

  it("augment.lua", function()
    local x = ks.rand(4, 1, 8, 8)
    local y = ks.tensor({ 0, 1, 2, 3 }, ks.int64)
    local buf = ks.empty(4, 1, 8, 8)
    local _, env = run_chunk(header_example("augment.lua", "local A = require") .. "\nres = {xb, xm, ysoft}",
      "augment.lua", { x = x, y = y, buf = buf })
    assert.same({ 4, 1, 8, 8 }, env.res[1]:shape())
    assert.same({ 4, 1, 8, 8 }, env.res[2]:shape())
    assert.same({ 4, 10 }, env.res[3]:shape())
  end)

  it("optim/init.lua", function()
    local model = model_and_opt()
    local loss = model(ks.ones(1, 3)):sum()
    local w0 = model.weight:clone()
    run_chunk(header_example("optim/init.lua", "local optim = require"), "optim/init.lua",
      { model = model, weights = { model.weight }, biases = { model.bias }, loss = loss })
    assert.is_false(ks.equal(w0, model.weight))
  end)

  it("regularize.lua", function()
    local reg = require "kshot.regularize"
    local model, opt = model_and_opt()
    local x, y = ks.randn(4, 3), ks.tensor({ 0, 1, 1, 0 }, ks.int64)
    local ema = reg.EMA(model, { decay = 0.5 })
    local w0 = model.weight:clone()
    run_chunk(header_example("regularize.lua", "local reg = require"), "regularize.lua",
      { F = ks.functional, model = model, x = x, y = y, weights = { model.weight }, opt = opt, ema = ema })
    assert.is_false(ks.equal(w0, model.weight))
  end)

  it("optim/lr_scheduler.lua", function()
    local _, opt = model_and_opt()
    local n = 0
    run_chunk(header_example("optim/lr_scheduler.lua", "local lr = require"), "optim/lr_scheduler.lua",
      { opt = opt, train_one_epoch = function() n = n + 1 end })
    assert.equal(100, n)
  end)

  it("optim/lr_scheduler_cyclic.lua", function()
    local _, opt = model_and_opt()
    local n = 0
    run_chunk(header_example("optim/lr_scheduler_cyclic.lua", "local lr = require"),
      "optim/lr_scheduler_cyclic.lua", { opt = opt, iters = 3, train_batch = function() n = n + 1 end })
    assert.equal(60, n)
  end)

  it("optim/lr_scheduler_factor.lua", function()
    local nn, optim = require "kshot.nn", require "kshot.optim"
    local m = nn.Linear(3, 2)
    local opt = optim.SGD({ { params = { m.weight } }, { params = { m.bias } } }, { lr = 0.1 })
    run_chunk(header_example("optim/lr_scheduler_factor.lua", "local lr = require"),
      "optim/lr_scheduler_factor.lua",
      { opt = opt, f1 = function(e) return 1 / (e + 1) end, f2 = function() return 1 end })
  end)
end)
