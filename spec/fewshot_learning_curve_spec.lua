-- scripts/learning_curve.lua at a tiny size (synthetic 12x12 images, a
-- random-weight ResNet checkpoint): nested K-shot sets, every model scored
-- on every K and seed, deterministic results, the table and the SVG.
local ks = require "kshot"
local nn = require "kshot.nn"

local SCRIPT = (debug.getinfo(1, "S").source:match("^@(.*[/\\])") or "./") .. "../scripts/learning_curve.lua"
local LC = assert(loadfile(SCRIPT))("--as-module")

-- uint8 [N, 12, 12] images of 3 classes (a bright band per class, plus noise)
local function images(per, seed)
  local g = ks.Generator(seed)
  local x = ks.rand({3 * per, 12, 12}, {generator = g}) * 90
  local labels = {}
  for i = 0, 3 * per - 1 do
    local c = i % 3
    x[i]:narrow(0, c * 4, 4):add_(140)
    labels[#labels + 1] = c
  end
  return x:byte(), ks.tensor(labels, "int64")
end

describe("learning_curve.lua (tiny)", function()
  local trx, try = images(8, 1)
  local tex, tey = images(5, 2)
  local path = os.tmpname()
  ks.manual_seed(4)
  local model = nn.resnet {layers = {1, 1, 1, 1}, width = 2, num_classes = 3}
  ks.save(path, model:state_dict(), {layers = "1,1,1,1", width = "2", classes = "0,1"})
  teardown(function() os.remove(path) end)

  local opts = {train = {trx, try}, test = {tex, tey}, k = {1, 2, 4}, seeds = 2, scratch_steps = 4,
    backbones = {{"random", path}}, heads = {"logreg", "CL2N"}}

  it("draws nested, stratified K-shot sets per seed", function()
    local orders = LC.class_orders(try, 3, 0)
    local r2, y2 = LC.kshot(orders, 3, 2)
    local r4 = LC.kshot(orders, 3, 4)
    assert.are.same({0, 0, 1, 1, 2, 2}, y2:totable())
    for i = 0, 5 do assert.are.equal(y2[i]:item(), try[r2[i]:item()]:item()) end
    local in4 = {}
    for _, r in ipairs(r4:totable()) do in4[r] = true end
    for _, r in ipairs(r2:totable()) do assert.is_true(in4[r], "row " .. r) end
    local other = LC.kshot(LC.class_orders(try, 3, 1), 3, 2)
    assert.are_not.same(r2:totable(), other:totable()) -- another seed, another draw
    assert.has_error(function() LC.kshot(orders, 3, 9) end, "learning_curve: class 0 has 8 training images, fewer than K = 9")
  end)

  it("scores every model at every K and seed, deterministically", function()
    local r = LC.run(opts)
    local names = {}
    for i, se in ipairs(r.series) do names[i] = se.name end
    assert.are.same({"scratch CNN", "random + linear probe", "random + CL2N"}, names)
    for _, se in ipairs(r.series) do
      for _, k in ipairs(opts.k) do
        assert.are.equal(2, #se.acc[k])
        for _, a in ipairs(se.acc[k]) do
          assert.is_true(a >= 0 and a <= 100)
          -- 15 test images: accuracies are multiples of 100 / 15
          assert.is_true(math.abs(a * 15 / 100 - math.floor(a * 15 / 100 + 0.5)) < 1e-9)
        end
        local s = se.summary[k]
        assert.is_true(math.abs(s.mean - (se.acc[k][1] + se.acc[k][2]) / 2) < 1e-9)
        assert.is_true(s.lo <= s.mean and s.mean <= s.hi)
      end
    end
    local again = LC.run(opts)
    for i, se in ipairs(r.series) do
      for _, k in ipairs(opts.k) do assert.are.same(se.acc[k], again.series[i].acc[k]) end
    end
    -- the bright bands are easy: the frozen random features already separate them at K = 4
    assert.is_true(r.series[3].summary[4].mean > 60)

    local tbl = LC.table(r)
    assert.truthy(tbl:find("| model | K=1 | K=2 | K=4 |", 1, true))
    assert.truthy(tbl:find("| random + CL2N |", 1, true))
    assert.truthy(tbl:find(("%.1f ± %.1f"):format(r.series[1].summary[4].mean, r.series[1].summary[4].half), 1, true))
    local svg = LC.svg(r, "tiny <test>")
    assert.truthy(svg:find("^<svg"))
    assert.truthy(svg:find("</svg>\n$"))
    assert.truthy(svg:find("tiny &lt;test&gt;", 1, true))
    local lines = select(2, svg:gsub("<polyline", ""))
    assert.are.equal(3, lines)
    assert.are.equal(9, select(2, svg:gsub("<circle", ""))) -- 3 series x 3 K
  end)

  it("resumes from its records: a run stopped part-way ends with the same figures", function()
    local plain = LC.run(opts)
    local rec = os.tmpname()
    finally(function() os.remove(rec) end)
    local function with(t)
      local o = {}
      for k, v in pairs(opts) do o[k] = v end
      for k, v in pairs(t) do o[k] = v end
      return o
    end
    -- stopped after 5 figures (the error stands for Ctrl-C)
    local n, records = 0, LC.records(rec)
    local ok, err = pcall(LC.run, with {records = records, log = function()
      n = n + 1
      if n == 5 then error("stopped") end
    end})
    records.close()
    assert.is_false(ok)
    assert.matches("stopped", err)
    -- a kill in the middle of a line leaves a piece that is skipped
    local f = assert(io.open(rec, "a")); f:write("scratch CNN|steps=4|K=9|se"); f:close()
    local measured = 0
    local real = LC.scratch_accuracy
    LC.scratch_accuracy = function(...) measured = measured + 1; return real(...) end
    finally(function() LC.scratch_accuracy = real end)
    records = LC.records(rec)
    local resumed = LC.run(with {records = records})
    records.close()
    assert.are.equal(5, records.reused)
    assert.are.equal(6 - 5, measured) -- 6 scratch figures (3 K x 2 seeds), 5 recorded
    for i, se in ipairs(plain.series) do
      for _, k in ipairs(opts.k) do assert.are.same(se.acc[k], resumed.series[i].acc[k]) end
    end
    -- everything recorded now: nothing measured, the checkpoint not even read
    measured = 0
    records = LC.records(rec)
    local again = LC.run(with {records = records, backbones = {{"random", path .. ".gone", path}}})
    records.close()
    assert.are.equal(0, measured)
    assert.are.equal(6 * 3, records.reused)
    assert.are.same(plain.series[3].acc[4], again.series[3].acc[4])
    -- another setting is another figure; fresh = true measures everything
    records = LC.records(rec)
    LC.run(with {records = records, scratch_steps = 5, backbones = {}})
    records.close()
    assert.are.equal(0, records.reused)
    assert.are.equal(6, measured)
    records = LC.records(rec, true)
    LC.run(with {records = records, backbones = {}})
    records.close()
    assert.are.equal(0, records.reused)
    assert.are.equal(12, measured)
    assert.has_error(function() LC.records("/nonexistent-dir/x.records") end,
      "learning_curve: cannot write the records file '/nonexistent-dir/x.records'")
  end)

  it("rejects a bad K and a missing checkpoint", function()
    local o = {}
    for k, v in pairs(opts) do o[k] = v end
    o.k = {0}
    assert.has_error(function() LC.run(o) end, "learning_curve: K values must be integers >= 1")
    o.k, o.scratch, o.backbones = {1}, false, {{"gone", path .. ".missing"}}
    assert.has_error(function() LC.run(o) end)
  end)
end)
