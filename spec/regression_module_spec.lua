-- kshot.regression used only through its public API, the way a user pins her
-- own experiment: a tiny in-process experiment (softmax regression on
-- synthetic data, 3 seeds) recorded to a temporary baselines file, then
-- checked unchanged, made worse, and fed bad inputs.
local ks = require "kshot"
local regression = require "kshot.regression"

local function slurp(path)
  local f = assert(io.open(path, "rb"))
  local s = f:read("a")
  f:close()
  return s
end

local function write(path, text)
  local f = assert(io.open(path, "wb"))
  f:write(text)
  f:close()
end

-- the user's experiment: 3 classes in 8-D (fixed centres, noise sd 1), 60
-- labelled points per seed, softmax regression trained full-batch with SGD,
-- accuracy (%) and log-loss on 600 fresh test points
local function logreg(steps, lr)
  return function(seed)
    local nn, optim, F = ks.nn, ks.optim, ks.functional
    local centers = ks.randn(3, 8, { generator = ks.Generator(100) }) * 0.6
    local function draw(n)
      local y = ks.randint(0, 3, { n })
      return centers:index_select(0, y) + ks.randn(n, 8), y
    end
    local x, y = draw(60)
    local tx, ty = draw(600)
    local model = nn.Linear(8, 3)
    local opt = optim.SGD(model:parameters(), { lr = lr })
    for _ = 1, steps do
      opt:zero_grad()
      F.cross_entropy(model(x), y):backward()
      opt:step()
    end
    local logits = model(tx):detach()
    return { accuracy = 100 * require("kshot.metrics").accuracy(logits, ty),
      log_loss = F.cross_entropy(logits, ty):item() }
  end
end

local SEEDS = { 0, 1, 2 }
local recipe = { seeds = SEEDS, run = logreg(60, 0.1), points = { log_loss = 0.05 } }

describe("kshot.regression: pinning a user's experiment", function()
  local file

  before_each(function()
    file = os.tmpname() -- an empty file: no baseline yet
  end)

  after_each(function()
    os.remove(file)
  end)

  it("is reached as require 'kshot.regression' and as ks.regression, and documented for help()", function()
    assert.equal(regression, ks.regression)
    local help = require "kshot.help"
    assert.matches("regression.check%(name, values%[, opts%]%) %-> ok, report", help.text("regression.check"))
    assert.matches("record_all%(\"spec/recipes.lua\"%)", help.text("regression.record_all"))
    assert.matches("kshot%.regression%s+regression tests that pin", help.text())
  end)

  it("tolerance is max(points, 3 sd across seeds); the default file is spec/baselines.json or $KSHOT_BASELINES", function()
    assert.equal(2, regression.tolerance { 70, 70.1, 70.2 })
    assert.near(3 * math.sqrt(2.5), regression.tolerance { 1, 2, 3, 4, 5 }, 1e-12)
    assert.equal(0.05, regression.tolerance({ 0.9, 0.9 }, 0.05))
    assert.equal(os.getenv("KSHOT_BASELINES") or "spec/baselines.json", regression.path())
    assert.equal("mine.json", regression.path { baselines = "mine.json" })
  end)

  it("records, then passes unchanged and fails when the recipe is made worse", function()
    local values = regression.measure(recipe)
    assert.equal(3, #values.accuracy)
    assert.same(values, regression.measure(recipe)) -- seeded: the same numbers again
    local diff = regression.record("logreg", values, { baselines = file, points = recipe.points })
    assert.matches("%+ logreg %(new%)\n%+ logreg.accuracy: mean [%d.]+, sd [%d.]+\n%+ logreg.log_loss", diff)
    local base = regression.load(file).logreg
    assert.near(regression.mean(values.accuracy), base.accuracy.mean, 1e-9)
    assert.equal(2, base.accuracy.points)
    assert.equal(0.05, base.log_loss.points)

    -- unchanged: passes, the report names every metric
    local report = regression.assert_stable("logreg", recipe, { baselines = file })
    assert.matches("ok   logreg.accuracy: ", report)
    assert.matches("ok   logreg.log_loss: ", report)

    -- half the training steps: a subtle regression, caught; the report names the metric, both means and the tolerance
    local worse = regression.measure { seeds = SEEDS, run = logreg(30, 0.1) }
    local ok, rep = regression.check("logreg", worse, { baselines = file })
    assert.is_false(ok)
    local line = ("FAIL logreg.accuracy: %.3f vs baseline %.3f (sd %.3f over 3 seeds), diff %+.3f, tolerance %.3f  <- dropped")
      :format(regression.mean(worse.accuracy), base.accuracy.mean, base.accuracy.sd,
        regression.mean(worse.accuracy) - base.accuracy.mean, regression.tolerance(base.accuracy.values))
    assert.truthy(rep:find(line, 1, true), rep)
    assert.matches("FAIL logreg.log_loss: [^\n]*<%- rose", rep)
    assert.is_true(regression.mean(values.accuracy) - regression.mean(worse.accuracy) > 2.2, rep) -- not borderline

    -- a bad learning rate, through assert_stable (as in a busted it())
    local ok2, msg = pcall(regression.assert_stable, "logreg", { seeds = SEEDS, run = logreg(60, 0.01) },
      { baselines = file })
    assert.is_false(ok2)
    assert.matches("regression detected:\nFAIL logreg.accuracy: [%d.]+ vs baseline [%d.]+ [^\n]*<%- dropped", msg)
  end)

  it("a recipe can be a bare function of the seed, with the seeds as an option; ks.manual_seed(seed) comes first", function()
    local v = regression.measure(function(seed) return { r = ks.rand(1):item(), s = seed } end, { seeds = { 7, 8 } })
    assert.same({ 7, 8 }, v.s)
    ks.manual_seed(7)
    assert.equal(ks.rand(1):item(), v.r[1])
    local m = regression.measure({ measure = function() return { acc = { 1, 2 } } end })
    assert.same({ acc = { 1, 2 } }, m)
  end)

  it("writes sorted keys (stable diffs), keeps other entries, and re-records with record_all and a recipes file", function()
    regression.record("b_recipe", { z = { 1, 2 }, a = { 3, 4 } }, file)
    regression.record("a_recipe", { m = { 5, 5 } }, file)
    local text = slurp(file)
    assert.truthy(text:find('"a_recipe"', 1, true) < text:find('"b_recipe"', 1, true), text)
    assert.truthy(text:find('"a":', 1, true) < text:find('"z":', 1, true), text)
    assert.truthy(text:find('"mean"', 1, true) < text:find('"values"', 1, true), text)
    assert.equal(regression.encode(regression.load(file)), text)

    -- the user's recipes file, shared by her spec and the re-record command
    local recipes = os.tmpname()
    write(recipes, [[return { a_recipe = { seeds = { 1, 2, 3 }, run = function(seed) return { m = 10 * seed } end } }]])
    local d = regression.record_all(recipes, { baselines = file, dry_run = true, quiet = true })
    assert.matches("~ a_recipe.m: mean 5.000 %-> 20.000 %(%+15.000%), sd 0.000 %-> 10.000", d)
    assert.equal(text, slurp(file)) -- a dry run writes nothing
    regression.record_all(recipes, { baselines = file, quiet = true })
    assert.same({ 10, 20, 30 }, regression.load(file).a_recipe.m.values)
    assert.same({ 1, 2 }, regression.load(file).b_recipe.z.values) -- other entries kept
    assert.matches("= a_recipe.m: mean 20.000 %-> 20.000", regression.record_all(recipes, { baselines = file,
      quiet = true }))
    assert.has_error(function() regression.record_all(recipes, { baselines = file, only = { "nope" } }) end,
      "regression.record_all: unknown recipe 'nope' (known: a_recipe)")

    -- the documented command line: kshot -e 'require("kshot.regression").record_all(...)'
    local p = io.popen(("'%s' -e 'require(\"kshot.regression\").record_all(%q, {baselines = %q})' 2>&1")
      :format(regression.host(), recipes, file))
    local out = p:read("a")
    p:close()
    os.remove(recipes)
    assert.matches("recording a_recipe %.%.%.\n= a_recipe.m: mean 20.000", out)
    assert.matches("wrote " .. file:gsub("%p", "%%%0"), out)
  end)

  it("checks seed by seed when the baseline has its seeds: a uniform shift smaller than 3 sd across seeds fails", function()
    -- seeds whose data draws differ a lot (sd 4 across seeds): unpaired, the tolerance would be 12 points
    local base_values, seeds = { acc = { 60, 68, 64 } }, { 0, 1, 2 }
    local shifted = { acc = { 57, 65, 61 } } -- every seed 3 points down: half the training steps, say
    regression.record("r", base_values, { baselines = file }) -- no seeds: unpaired, as before
    local ok, report = regression.check("r", shifted, { baselines = file })
    assert.is_true(ok, report)
    assert.matches("ok   r.acc: 61.000 vs baseline 64.000 %(sd 4.000 over 3 seeds%), diff %-3.000, tolerance 12.000", report)
    assert.matches("note: unpaired check %(the baseline has no seeds%)", report)

    local d = regression.record("r", base_values, { baselines = file, seeds = seeds })
    assert.matches("~ r.acc: mean 64.000 %-> 64.000 %(%+0.000%), sd 4.000 %-> 4.000, now paired by seed {0, 1, 2}", d)
    assert.same(seeds, regression.load(file).r.acc.seeds)
    assert.is_nil(regression.load(file).r.acc.tolerance) -- a paired tolerance depends on the measurement
    ok, report = regression.check("r", shifted, { baselines = file })
    assert.is_false(ok)
    assert.equal("FAIL r.acc: 61.000 vs baseline 64.000 (paired over 3 seeds, per-seed diff -3.000, -3.000, -3.000), "
      .. "diff -3.000, tolerance 2.000  <- dropped", report)
    -- a change that only reshuffles the seeds' results is held to 3 standard errors of its differences
    ok, report = regression.check("r", { acc = { 64, 62, 64 } }, { baselines = file, seeds = seeds })
    assert.is_true(ok, report)
    assert.matches("ok   r.acc: 63.333 vs baseline 64.000 %(paired over 3 seeds, per%-seed diff %+4.000, %-6.000, "
      .. "%+0.000%), diff %-0.667, tolerance 8.718", report)
    -- other seeds than the baseline's: unpaired, and the report says why
    ok, report = regression.check("r", shifted, { baselines = file, seeds = { 5, 6, 7 } })
    assert.is_true(ok, report)
    assert.matches("note: unpaired check %(seeds {5, 6, 7} measured, the baseline's are {0, 1, 2}%)", report)
    ok, report = regression.check("r", { acc = { 57, 65 } }, { baselines = file })
    assert.matches("unpaired check %(2 values measured for the baseline's 3 seeds%)", report)
    assert.has_error(function() regression.check("r", shifted, { baselines = file, seeds = { 1, 2 } }) end,
      "regression.check: values.acc has 3 values for 2 seeds")
    assert.has_error(function() regression.record("r", shifted, { baselines = file, seeds = { 1, "2", 3 } }) end,
      "regression.record: seeds[2] is not a number (string)")
    assert.equal(2, regression.paired_tolerance { -3, -3, -3 })
    assert.near(3 * math.sqrt(76 / 3) / math.sqrt(3), regression.paired_tolerance { 4, -6, 0 }, 1e-12)
  end)

  it("record_all stores the recipe's seeds, and assert_stable then catches half the training steps seed by seed", function()
    local recipes = os.tmpname()
    write(recipes, [[
      return { shift = { seeds = { 0, 1, 2 }, run = function(seed) return { acc = 54 + 10 * seed } end } }
    ]])
    regression.record_all(recipes, { baselines = file, quiet = true })
    assert.same({ 0, 1, 2 }, regression.load(file).shift.acc.seeds)
    local half = { seeds = { 0, 1, 2 }, run = function(seed) return { acc = 50 + 10 * seed + 1 } end } -- 3 points down
    local ok, err = pcall(regression.assert_stable, "shift", half, { baselines = file })
    assert.is_false(ok)
    assert.matches("FAIL shift.acc: 61.000 vs baseline 64.000 %(paired over 3 seeds, per%-seed diff %-3.000, %-3.000, "
      .. "%-3.000%), diff %-3.000, tolerance 2.000  <%- dropped", err)
    os.remove(recipes)
  end)

  it("run_script runs a script under the kshot host with --json and decodes it", function()
    local script = os.tmpname()
    write(script, [[
      local json = require "dkjson"
      local out
      for i = 1, #arg do if arg[i] == "--json" then out = arg[i + 1] end end
      if arg[1] == "--fail" then io.stderr:write("it broke\n") os.exit(3) end
      local f = assert(io.open(out, "wb"))
      f:write(json.encode { regression = { acc = { tonumber(arg[1]), tonumber(arg[1]) + 1 } } })
      f:close()
    ]])
    local v = regression.run_script(script, { "41" })
    assert.same({ 41, 42 }, v.regression.acc)
    local ok, err = pcall(regression.run_script, script, { "--fail" })
    assert.is_false(ok)
    assert.matches("regression: '.*' failed: it broke", err)
    os.remove(script)
  end)

  describe("bad inputs give clear errors", function()
    it("an unknown baseline name fails the check and says how to record it", function()
      local ok, report = regression.check("logreg", { accuracy = { 70 } }, { baselines = file })
      assert.is_false(ok)
      assert.equal(("regression: no baseline for 'logreg' in %s; record it once with regression.record(\"logreg\", "
        .. "values) or regression.record_all(recipes), which write the file and print the diff"):format(file), report)
      ok, report = regression.check("logreg", { accuracy = { 70 } }, { baselines = file .. ".missing" })
      assert.is_false(ok)
      assert.matches("%.missing %(no such file%); record it once with", report)
      assert.has_error(function() regression.assert_stable("logreg", { accuracy = { 70 } }, { baselines = file }) end)
    end)

    it("values that are not numbers", function()
      assert.has_error(function() regression.check("r", { acc = { 70, "71" } }, { baselines = file }) end,
        "regression.check: values.acc[2] is not a number (string)")
      assert.has_error(function() regression.record("r", { loss = { ks.tensor(0.5) } }, file) end,
        "regression.record: values.loss[1] is not a finite number (a tensor; use t:item() for a number)")
      assert.has_error(function() regression.record("r", { loss = { 0 / 0 } }, file) end,
        "regression.record: values.loss[1] is not a finite number (nan)")
      assert.has_error(function() regression.check("r", { acc = {} }, { baselines = file }) end,
        "regression.check: values.acc must be a non-empty list of numbers (one per seed), got an empty table")
      assert.has_error(function() regression.check("r", 71, { baselines = file }) end,
        "regression.check: values must be a table {metric = {value per seed, ...}}, got 71")
      assert.has_error(function() regression.measure(function() return { acc = "high" } end, { seeds = { 1 } }) end,
        "regression.measure: metric 'acc' of seed 1 is not a number (string)")
      assert.has_error(function()
        regression.measure(function(seed) return seed == 1 and {} or { acc = 1 } end, { seeds = { 1, 2, 3 } })
      end, "regression.measure: metric 'acc' was returned for 2 of 3 seeds")
      assert.has_error(function() regression.measure(function() return 0.9 end, { seeds = { 1 } }) end,
        "regression.measure: the recipe returned 0.9 for seed 1 (expected a table {metric = number})")
    end)

    it("an empty seed list, a missing recipe, an unknown option", function()
      assert.has_error(function() regression.measure(logreg(1, 0.1), { seeds = {} }) end,
        "regression.measure: seeds must be a non-empty list of numbers, got an empty list")
      assert.has_error(function() regression.measure(logreg(1, 0.1)) end,
        "regression.measure: seeds must be a non-empty list of numbers, got nil")
      assert.has_error(function() regression.measure({ seeds = { 1 } }) end,
        "regression.measure: recipe must be a function(seed) -> metrics or a table {run = function, seeds = {...}}, "
        .. "got a table without run")
      local ok, err = pcall(regression.check, "r", { acc = { 1 } }, { baseline = file })
      assert.is_false(ok)
      assert.matches("regression.check: unknown option 'baseline' %(known: baselines, seeds%); did you mean 'baselines'%?", err)
    end)

    it("a baselines file that is not valid JSON names the file and dkjson's offset", function()
      write(file, '{"logreg": {"accuracy": [1, 2,}}')
      assert.has_error(function() regression.check("logreg", { accuracy = { 1 } }, { baselines = file }) end,
        ("regression: %s is not valid JSON (offset 31: no valid JSON value at line 1, column 31)"):format(file))
      assert.has_error(function() regression.record("logreg", { accuracy = { 1 } }, file) end,
        ("regression: %s is not valid JSON (offset 31: no valid JSON value at line 1, column 31)"):format(file))
    end)
  end)
end)
