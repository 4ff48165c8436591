-- Scripted regression tests: recipes at reduced size with fixed seeds,
-- checked against spec/baselines.json (re-record: make baselines).
require "kshot"
local regression = require "spec.helpers.regression"

-- a shell command's standard output
local function capture(cmd)
  local p = io.popen(cmd)
  local out = p:read("a")
  p:close()
  return out
end

describe("regression helper", function()
  it("tolerance is max(2 points, 3 sd across seeds)", function()
    assert.equal(2, regression.tolerance { 70, 70.1, 70.2 })
    assert.near(3 * math.sqrt(2.5), regression.tolerance { 1, 2, 3, 4, 5 }, 1e-12)
    assert.equal(0.05, regression.tolerance({ 0.9, 0.9 }, 0.05))
  end)

  it("passes within tolerance, fails outside, both directions", function()
    local base = { r = regression.entry { acc = { 70, 71, 72 } } } -- mean 71, sd 1, tolerance 3
    assert.is_true((regression.check("r", { acc = { 73.5, 74, 74.5 } }, base)))
    local ok, report = regression.check("r", { acc = { 67, 68, 68.5 } }, base)
    assert.is_false(ok)
    assert.matches("FAIL r.acc: 67.833 vs baseline 71.000 %(sd 1.000 over 3 seeds%), diff %-3.167, tolerance 3.000  <%- dropped", report)
    ok, report = regression.check("r", { acc = { 75, 74, 74.5 } }, base)
    assert.is_false(ok)
    assert.matches("rose: re%-record on purpose", report)
    ok, report = regression.check("nope", { acc = { 1 } }, base)
    assert.is_false(ok)
    assert.matches("no baseline for 'nope'", report)
    ok, report = regression.check("r", { other = { 1 } }, base)
    assert.is_false(ok)
    assert.matches("r.acc: not measured", report)
  end)

  it("prints the diff of a re-record", function()
    local old = { a = regression.entry { acc = { 70, 72 } } }
    local new = { a = regression.entry { acc = { 71, 73 } }, b = regression.entry { f1 = { 1, 1 } } }
    local d = regression.diff(old, new)
    assert.matches("~ a.acc: mean 71.000 %-> 72.000 %(%+1.000%)", d)
    assert.matches("%+ b %(new%)", d)
    assert.matches("%+ b.f1: mean 1.000", d)
  end)
end)

describe("regression: linear_sgd_fashion (softmax regression, K = 50, SGD 40 steps, 5 seeds)", function()
  it("matches its baseline", function()
    local report = regression.assert_stable("linear_sgd_fashion")
    assert.matches("ok   linear_sgd_fashion.accuracy", report)
  end)

  it("catches a subtle regression: the same recipe with half the training steps", function()
    local ok, report = regression.check("linear_sgd_fashion", regression.measure("linear_sgd_fashion", { steps = 20 }))
    assert.is_false(ok)
    assert.matches("FAIL linear_sgd_fashion.accuracy: .* <%- dropped", report)
    assert.has_error(function() regression.assert_stable("linear_sgd_fashion", { steps = 20 }) end)
  end)
end)

describe("regression: main scripts at reduced size", function()
  it("fewshot_fashion.lua (smoke preset) matches its baseline", function()
    regression.assert_stable("fewshot_fashion")
  end)

  it("fewshot_fashion.lua: the same recipes with half the training steps are caught", function()
    local ok, report = regression.check("fewshot_fashion", regression.measure("fewshot_fashion", { steps = 15 }))
    assert.is_false(ok)
    assert.matches("FAIL fewshot_fashion%.[%w_]+_k50_accuracy: [^\n]* <%- dropped", report)
  end)

  it("few-shot transfer (pixels and the protonet backbone, 200 episodes x 3 seeds) matches its baseline", function()
    regression.assert_stable("transfer_fashion")
  end)

  it("optimizers.lua --smoke matches its baseline", function()
    regression.assert_stable("optimizers")
  end)

  it("maml_fashion.lua --smoke (first- and second-order MAML, K = 1 and 5) matches its baseline", function()
    regression.assert_stable("maml_fashion")
  end)

  it("maml_fashion.lua --smoke without meta-training (--iterations 0) is caught", function()
    local ok, report = regression.check("maml_fashion", regression.measure("maml_fashion", { iterations = 0 }))
    assert.is_false(ok)
    assert.matches("FAIL maml_fashion%.maml_%a+_k1_accuracy: [^\n]* <%- dropped", report)
  end)

  it("own_data.lua --smoke on a CSV of Fashion-MNIST pixels matches its baseline", function()
    regression.assert_stable("own_data")
  end)

  it("own_data.lua: its MLP trained 2 steps instead of 40 is caught", function()
    local ok, report = regression.check("own_data", regression.measure("own_data", { steps = 2 }))
    assert.is_false(ok)
    assert.matches("FAIL own_data%.mlp_k5_accuracy: [^\n]* <%- dropped", report)
    assert.matches("ok   own_data%.logreg_k5_accuracy", report)
  end)

  it("an unknown option on a script's command line is a clear error", function()
    for _, script in ipairs { "scripts/fewshot_fashion.lua", "scripts/optimizers.lua" } do
      local p = io.popen(("'%s' %s --seeds 2 --bogus 2>&1; echo \"exit=$?\""):format(regression.host(), script))
      local out = p:read("a")
      p:close()
      assert.matches("unknown option '%-%-bogus' %(see %-%-help for the options%)", out)
      assert.matches("Usage: ", out)
      assert.matches("exit=2\n$", out)
    end
  end)

  it("fewshot_fashion.lua --dev (how BEST is chosen) never reads the test set", function()
    -- a Fashion-MNIST folder holding only the training split: --dev must run, the report mode must not
    local dir = os.tmpname()
    os.remove(dir)
    assert(os.execute(("mkdir -p '%s'"):format(dir)))
    local src = "/usr/share/datasets/fashion-mnist/"
    for _, f in ipairs { "train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz" } do
      assert(os.execute(("ln -s '%s%s' '%s/%s'"):format(src, f, dir, f)))
    end
    local function run(extra)
      local p = io.popen(("'%s' scripts/fewshot_fashion.lua --path '%s' --k 5 --seeds 1 --steps 2 --test-size 200 "
        .. "--preset smoke --no-records --threads 1 -q %s 2>&1; echo \"exit=$?\""):format(regression.host(), dir, extra))
      local out = p:read("a")
      p:close()
      return out
    end
    local dev, report = run("--dev"), run("")
    os.execute(("rm -rf '%s'"):format(dir))
    assert.matches("development replicates", dev)
    assert.matches("exit=0\n$", dev)
    assert.matches("t10k%-images", report)
    assert.not_matches("exit=0\n$", report)
  end)

  it("fewshot_fashion.lua --jobs 2 (one process per K, shared records) reports exactly what one process does", function()
    local errs = os.tmpname()
    local function run(extra)
      local p = io.popen(("'%s' scripts/fewshot_fashion.lua --k 5,10 --seeds 2 --steps 3 --test-size 200 --preset smoke "
        .. "--no-records %s 2>'%s'"):format(regression.host(), extra, errs))
      local out = p:read("a")
      p:close()
      local f = io.open(errs)
      local err = f:read("a")
      f:close()
      return out, err
    end
    local one = run("--jobs 1 --threads 1")
    local two, log = run("--jobs 2 --threads 2")
    os.remove(errs)
    assert.matches("running K = 5, 10 in 2 processes side by side", log)
    local function report(out) return (out:match("\n## K = 5 .*"):gsub("elapsed %d+ s", "")) end
    assert.matches("| adamw | 2 | ", report(one), 1, true)
    assert.are.equal(report(one), report(two))
    local out = capture(("'%s' scripts/fewshot_fashion.lua --jobs 0 2>&1; echo \"exit=$?\""):format(regression.host()))
    assert.matches("fewshot_fashion.lua: %-%-jobs must be >= 1\nexit=2\n$", out)
  end)

  it("fewshot_fashion.lua --per-class: each recipe's recall per class, printed and in --json", function()
    local json_path = os.tmpname()
    local out = capture(("'%s' scripts/fewshot_fashion.lua --k 5 --seeds 2 --steps 3 --test-size 500 --preset smoke "
      .. "--no-records --threads 1 -q --per-class --json '%s' 2>&1; echo \"exit=$?\""):format(regression.host(), json_path))
    assert.matches("exit=0\n$", out)
    assert.truthy(out:find("| recipe | T-shirt | Trouser | Pullover | Dress | Coat | Sandal | Shirt | Sneaker | Bag | Boot |",
      1, true), out)
    assert.falsy(out:find("recall_c0", 1, true), out) -- the report's own table leaves the per-class metrics out
    local f = assert(io.open(json_path))
    local doc = require("dkjson").decode(f:read("a"))
    f:close()
    os.remove(json_path)
    local pc = doc.k.k5.per_class
    for _, recipe in ipairs { "baseline", "adamw" } do
      local cells = { out:match("\n| " .. recipe .. " | ([%d.]+) | ([%d.]+) | ([%d.]+) | ([%d.]+) | ([%d.]+) | ([%d.]+) | "
        .. "([%d.]+) | ([%d.]+) | ([%d.]+) | ([%d.]+) |\n") }
      assert.are.equal(10, #cells, out)
      for c, name in ipairs(require("kshot").data.FASHION_MNIST_CLASSES) do
        local v = pc[recipe][name]
        assert.is_true(v >= 0 and v <= 100, name)
        assert.are.equal(("%.1f"):format(v), cells[c])
      end
    end
  end)

  it("fewshot_fashion.lua --preset best runs its whole recipe (two CNNs, precise BN, HOG and scattering members)", function()
    local out = capture(("'%s' scripts/fewshot_fashion.lua --k 5 --seeds 1 --steps 2 --test-size 300 --preset best "
      .. "--no-records --threads 1 -q 2>&1; echo \"exit=$?\""):format(regression.host()))
    assert.matches("exit=0\n$", out)
    -- 16 steps of two CNNs barely move them; the fixed-feature members alone beat the 2-step baseline
    local summary = out:match("## Summary.*") or ""
    local best, base = summary:match("| best_recipe | ([%d.]+) |"), summary:match("| baseline | ([%d.]+) |")
    assert.is_truthy(best, out)
    assert.is_true(tonumber(best) > tonumber(base) + 10, out)
  end)

  it("transfer_fashion.lua names a feature layer the backbone lacks before any episode runs", function()
    local out = capture(("'%s' scripts/transfer_fashion.lua --feature-layers layer9 --episodes 1 -q 2>&1; "
      .. "echo \"exit=$?\""):format(regression.host()))
    assert.matches("%-%-feature%-layers: [^\n]*fashion_resnet_supervised%.safetensors has no layer 'layer9'", out)
    assert.not_matches("episodes", out)
    assert.matches("exit=2\n$", out)
  end)
end)
