-- kshot.experiment: records, resume after a kill, failed runs, report
local ks = require "kshot"
local experiment = require "kshot.experiment"
local stats = require "kshot.stats"
local json = require "dkjson"

local function tmpdir()
  local p = os.tmpname()
  os.remove(p)
  assert(os.execute("mkdir -p '" .. p .. "'"))
  return p
end

local function read(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local s = f:read("a")
  f:close()
  return s
end

-- a deterministic "training": accuracy = base + lr effect + seeded noise; 4 epochs of curve
local function spec(root, hook)
  return {
    name = "sweep", root = root, seed = 17, seeds = 4, progress = false,
    configs = {
      { name = "base", lr = 0.1 },
      { name = "aug", lr = 0.1, aug = true },
      { name = "wd", lr = 0.1, wd = 1e-4 },
      { name = "broken", lr = 10 },
    },
    baseline = "base",
    run = function(cfg, ctx)
      local draw = stats.rng(ctx.seed)
      local noise = (draw(1000) - 500) / 10000
      local acc = 0.70 + noise + (cfg.aug and 0.03 or 0) + (cfg.wd and 0.001 * (ctx.replicate % 2) or 0)
      for e = 1, 4 do
        ctx.log { epoch = e, loss = 1 / e + noise, val_accuracy = acc * e / 4 }
        if hook then hook(ctx, e) end
      end
      if cfg.lr > 1 and ctx.replicate == 2 then error("loss became NaN at epoch 3") end
      return { accuracy = acc, loss = 1 / 4 + noise }
    end,
  }
end

describe("kshot.experiment", function()
  it("derives seeds from the experiment seed and keys only", function()
    assert.equal(experiment.derive_seed(17, "rep-1"), experiment.derive_seed(17, "rep-1"))
    assert.are_not.equal(experiment.derive_seed(17, "rep-1"), experiment.derive_seed(17, "rep-2"))
    assert.are_not.equal(experiment.derive_seed(17, "rep-1"), experiment.derive_seed(18, "rep-1"))
    assert.is_true(experiment.derive_seed(0, "x") >= 0)
  end)

  it("records an error object that is a plain table by its contents", function()
    local root = tmpdir()
    local exp = experiment.new { name = "tab", root = root, seed = 1, seeds = 1, progress = false,
      configs = { { name = "c" } }, run = function() error({ code = 3, what = "diverged" }) end }
    assert.same({ ran = 1, skipped = 0, failed = 1 }, exp:run())
    local rec = json.decode(read(root .. "/tab/c/rep-0/record.json"))
    assert.equal('{code = 3, what = "diverged"}', rec.error)
  end)

  it("writes a record per run and a report; failed runs are recorded and the sweep goes on", function()
    local root = tmpdir()
    local exp = experiment.new(spec(root))
    local s = exp:run()
    assert.same({ ran = 16, skipped = 0, failed = 1 }, s)
    local dir = root .. "/sweep/aug/rep-0"
    local cfg = json.decode(read(dir .. "/config.json"))
    assert.same({ name = "aug", lr = 0.1, aug = true }, cfg)
    local rec = json.decode(read(dir .. "/record.json"))
    assert.equal("ok", rec.status)
    assert.equal("aug/rep-0", rec.key)
    assert.equal(experiment.derive_seed(17, "rep-0"), rec.seed)
    assert.equal(experiment.derive_seed(17, "aug/rep-0"), rec.run_seed)
    assert.equal(ks.__version, rec.kshot_version)
    assert.is_number(rec.metrics.accuracy)
    -- provenance apart from the record (which stays the same whatever the timing)
    assert.is_nil(rec.seconds)
    assert.is_nil(rec.started)
    local prov = json.decode(read(dir .. "/provenance.json"))
    assert.matches("^%d%d%d%d%-%d%d%-%d%dT%d%d:%d%d:%d%dZ$", prov.started)
    assert.is_true(prov.seconds >= 0 and prov.seconds < 60, tostring(prov.seconds))
    assert.equal(ks.get_num_threads(), prov.threads)
    assert.equal(ks.__version, prov.kshot_version)
    assert.equal(_VERSION, prov.lua_version)
    local arg0 = rawget(_G, "arg") and arg[0]
    if arg0 then assert.truthy(prov.command:find(tostring(arg0), 1, true), prov.command) end
    local bad_prov = json.decode(read(root .. "/sweep/broken/rep-2/provenance.json"))
    assert.is_number(bad_prov.seconds) -- failed runs get one too
    local curve = read(dir .. "/curve.csv")
    assert.matches("^epoch,loss,val_accuracy\n1,", curve)
    local _, lines = curve:gsub("\n", "")
    assert.equal(5, lines)
    local bad = json.decode(read(root .. "/sweep/broken/rep-2/record.json"))
    assert.equal("failed", bad.status)
    assert.matches("loss became NaN at epoch 3", bad.error)
    -- where it failed: the message and the stack down to the run function's line, beside the record
    local tb = read(root .. "/sweep/broken/rep-2/traceback.txt")
    assert.matches("loss became NaN at epoch 3\nstack traceback:\n", tb)
    assert.truthy(tb:find("experiment_spec.lua:41:", 1, true), tb)
    assert.is_nil(io.open(dir .. "/traceback.txt")) -- none for a run that succeeded
    -- results.jsonl: 16 whole lines, each valid JSON
    local n = 0
    for line in read(root .. "/sweep/results.jsonl"):gmatch("([^\n]*)\n") do
      n = n + 1
      assert.is_table(json.decode(line))
    end
    assert.equal(16, n)
    -- re-running skips everything recorded
    assert.same({ ran = 0, skipped = 16, failed = 0 }, exp:run())
    assert.same({ ran = 1, skipped = 15, failed = 1 }, exp:run { retry_failed = true })
    local text, sum = exp:report()
    assert.equal(text, read(root .. "/sweep/report.md"))
    assert.matches("| aug %*%*%(highest mean%)%*%* | 4 | ", text)
    assert.matches("| base %(baseline%) | 4 |", text)
    assert.matches("| broken | 3 | [%d.]+ ± [%d.]+ | [%d.]+ | 1 |", text)
    assert.matches("Holm", text)
    assert.matches("loss became NaN", text)
    assert.matches("Student t with n%-1 df", text)
    assert.equal("accuracy", sum.metric)
    assert.equal(2, sum.best)
    -- aug beats base by exactly 0.03 on every pair: paired t degenerate (sd 0) -> p = 0
    local aug = sum.comparisons[1]
    assert.equal("aug", aug.key)
    assert.near(0.03, aug.diff, 1e-12)
    assert.near(2 / 16, aug.w.p, 1e-12) -- exact Wilcoxon, n = 4, all positive
    assert.matches("<svg", read(root .. "/sweep/comparison.svg"))
    assert.matches("polyline", read(root .. "/sweep/curves.svg"))
  end)

  it("a sweep killed part-way and re-run ends with an identical report", function()
    local a, b = tmpdir(), tmpdir()
    local full = experiment.new(spec(a))
    full:run()
    local expected = full:report()
    -- the kill: the 6th run stops forever in the middle of its second epoch
    -- (the coroutine is abandoned, so no line of the runner runs after that)
    local started = 0
    local co = coroutine.create(function()
      experiment.new(spec(b, function(ctx, e)
        if e == 1 then started = started + 1 end
        if started == 6 and e == 2 then coroutine.yield("killed") end
      end)):run()
    end)
    local ok, why = coroutine.resume(co)
    assert.is_true(ok)
    assert.equal("killed", why)
    co = nil
    collectgarbage()
    local partial = experiment.new(spec(b))
    local recorded = 0
    for _, run in ipairs(partial:runs()) do if partial:record(run) then recorded = recorded + 1 end end
    assert.equal(5, recorded)
    assert.is_not_nil(read(b .. "/sweep/aug/rep-1/curve.csv")) -- the killed run left a partial curve
    local s = partial:run()
    assert.same({ ran = 11, skipped = 5, failed = 1 }, s)
    assert.equal(expected, partial:report())
    assert.equal(read(a .. "/sweep/comparison.svg"), read(b .. "/sweep/comparison.svg"))
    assert.equal(read(a .. "/sweep/curves.svg"), read(b .. "/sweep/curves.svg"))
  end)

  -- captures what fn writes on io.stderr (the runner looks it up at each write)
  local function stderr_of(fn)
    local old, got = io.stderr, {}
    io.stderr = { write = function(self, ...) for _, x in ipairs({ ... }) do got[#got + 1] = x end return self end,
      flush = function() end }
    local ok, err = pcall(fn)
    io.stderr = old
    return table.concat(got), ok, err
  end

  it("an interrupt inside a run is rethrown, never recorded as failed; the same sweep again resumes it", function()
    local a, b = tmpdir(), tmpdir()
    local full = experiment.new(spec(a))
    full:run()
    local expected = full:report()
    -- the host's Ctrl-C hook raises exactly ks.INTERRUPTED ("interrupted!", no position)
    local value = ks.INTERRUPTED or "interrupted!"
    assert.equal("interrupted!", value)
    local started = 0
    local exp = experiment.new(spec(b, function(ctx, e)
      if e == 1 then started = started + 1 end
      if started == 6 and e == 2 then error(value, 0) end
    end))
    local err_text, ok, err = stderr_of(function() return exp:run() end)
    assert.is_false(ok)
    assert.equal("interrupted!", err) -- the same value propagates
    assert.equal(("interrupted: 5 of 16 runs recorded under %s/sweep; run the same command again to resume\n")
      :format(b), err_text)
    local partial = experiment.new(spec(b))
    local recorded = 0
    for _, run in ipairs(partial:runs()) do
      local rec = partial:record(run)
      if rec then
        recorded = recorded + 1
        assert.equal("ok", rec.status) -- the interrupted run is not a failure
      end
    end
    assert.equal(5, recorded)
    assert.is_nil(read(b .. "/sweep/aug/rep-1/record.json"))
    local lines = 0
    for _ in read(b .. "/sweep/results.jsonl"):gmatch("\n") do lines = lines + 1 end
    assert.equal(5, lines)
    assert.same({ ran = 11, skipped = 5, failed = 1 }, partial:run())
    assert.equal(expected, partial:report())
    assert.equal(read(a .. "/sweep/comparison.svg"), read(b .. "/sweep/comparison.svg"))
    assert.equal(read(a .. "/sweep/curves.svg"), read(b .. "/sweep/curves.svg"))
  end)

  it("tells interrupts from failures: a kernel's '<position>: interrupted!' too, other messages are failures", function()
    assert.is_true(experiment.is_interrupt("interrupted!"))
    assert.is_true(experiment.is_interrupt("x.lua:3: interrupted!"))
    assert.is_false(experiment.is_interrupt("not interrupted! at all"))
    assert.is_false(experiment.is_interrupt("interrupted"))
    assert.is_false(experiment.is_interrupt({}))
    assert.is_false(experiment.is_interrupt(nil))
    if ks.is_interrupt then -- the host's test (kshot.h) is the one the module uses
      assert.equal(ks.is_interrupt, experiment.is_interrupt)
    end
    local root = tmpdir()
    local function sweep(msg)
      return experiment.new { name = "i", root = root, seeds = 1, progress = false, grid = { a = { 1 } },
        run = function() error(msg) end }
    end
    local _, ok, err = stderr_of(function() return sweep("interrupted!"):run() end) -- error() adds the position
    assert.is_false(ok)
    assert.matches("^.-:%d+: interrupted!$", err)
    assert.is_nil(read(root .. "/i/a=1/rep-0/record.json"))
    assert.same({ ran = 1, skipped = 0, failed = 1 }, sweep("interrupted! by a bug"):run())
    -- Ctrl-C outside the run function's pcall (here: while the runner reads its metrics) still stops the sweep
    local e = experiment.new { name = "o", root = root, seeds = 2, progress = false, grid = { a = { 1 } },
      run = function(_, ctx)
        if ctx.replicate == 0 then return { m = 1 } end
        return setmetatable({}, { __pairs = function() error("interrupted!", 0) end })
      end }
    local text, ok2, err2 = stderr_of(function() return e:run() end)
    assert.is_false(ok2)
    assert.equal("interrupted!", err2)
    assert.equal(("interrupted: 1 of 2 runs recorded under %s/o; run the same command again to resume\n"):format(root),
      text)
    assert.is_nil(read(root .. "/o/a=1/rep-1/record.json"))
  end)

  it("a metric no run reports is flagged after the first successful run, not only by the report", function()
    local root = tmpdir()
    local sp = spec(root)
    sp.metric, sp.seeds = "acuracy", 1
    local e = experiment.new(sp)
    e.show_progress = true
    local err_text, ok = stderr_of(function() return e:run { progress_mode = "plain" } end)
    assert.is_true(ok)
    local _, count = err_text:gsub("reports no metric", "")
    assert.equal(1, count, err_text)
    assert.truthy(err_text:find("warning: run base/rep-0 reports no metric 'acuracy' (it reports accuracy, loss): the "
      .. "report needs it; is experiment.new's metric misspelled?", 1, true), err_text)
    sp = spec(tmpdir())
    sp.metric, sp.seeds = "accuracy", 1
    e = experiment.new(sp)
    e.show_progress = true
    err_text = stderr_of(function() return e:run { progress_mode = "plain" } end)
    assert.truthy(err_text:find("4/4", 1, true), err_text) -- the plain progress lines are there
    assert.falsy(err_text:find("reports no metric", 1, true), err_text)
  end)

  it("a resume says when every run is loaded from the records, and which recorded failures it keeps", function()
    local root = tmpdir()
    local function sweep()
      local e = experiment.new(spec(root))
      e.show_progress = true
      return e
    end
    sweep():run { progress_mode = "off" }
    local err_text, ok = stderr_of(function() return sweep():run { progress_mode = "plain" } end)
    assert.is_true(ok)
    assert.equal("sweep: all 16 runs loaded from the records, none run now; exp:run{force = true} re-runs them "
      .. "(--fresh in kshot's scripts)\n"
      .. "sweep: 1 failed run is recorded; exp:run{retry_failed = true} re-runs it\n", err_text)
    err_text = stderr_of(function() return sweep():run { progress_mode = "plain", retry_failed = true } end)
    assert.falsy(err_text:find("loaded from the records", 1, true), err_text)
    assert.falsy(err_text:find("recorded; exp:run{retry_failed", 1, true), err_text)
  end)

  it("a real child process killed by SIGKILL part-way, then re-run, ends with an identical report", function()
    -- the sweep runs in a separate kshot process (a script file); with a kill
    -- count it sends SIGKILL to itself (kill -KILL $PPID from os.execute's shell)
    -- in the middle of the second epoch of that run: no Lua code runs after it
    local dir = tmpdir()
    local script = dir .. "/sweep.lua"
    local f = assert(io.open(script, "wb"))
    f:write([[
local experiment = require "kshot.experiment"
local stats = require "kshot.stats"
local root, kill_at = arg[1], tonumber(arg[2] or "0")
local started = 0
local exp = experiment.new {
  name = "sweep", root = root, seed = 17, seeds = 4, progress = false, baseline = "base",
  configs = { { name = "base", lr = 0.1 }, { name = "aug", lr = 0.1, aug = true }, { name = "broken", lr = 10 } },
  run = function(cfg, ctx)
    local draw = stats.rng(ctx.seed)
    local noise = (draw(1000) - 500) / 10000
    local acc = 0.70 + noise + (cfg.aug and 0.03 or 0)
    started = started + 1
    for e = 1, 4 do
      ctx.log { epoch = e, loss = 1 / e + noise, val_accuracy = acc * e / 4 }
      if started == kill_at and e == 2 then os.execute("kill -KILL $PPID") end
    end
    if cfg.lr > 1 and ctx.replicate == 2 then error("loss became NaN at epoch 3") end
    return { accuracy = acc, loss = 1 / 4 + noise }
  end,
}
local s = exp:run()
exp:report()
print(("ran=%d skipped=%d failed=%d"):format(s.ran, s.skipped, s.failed))
]])
    f:close()
    local host = require("spec.helpers.host_process").KSHOT
    local function child(root, kill_at)
      local p = io.popen(("'%s' '%s' '%s' %d 2>&1; echo \"exit=$?\""):format(host, script, root, kill_at))
      local out = p:read("a")
      p:close()
      return out
    end
    local a, b = dir .. "/a", dir .. "/b"
    local out = child(a, 0)
    assert.matches("ran=12 skipped=0 failed=1\nexit=0\n$", out)
    out = child(b, 6) -- killed in its 6th run
    assert.matches("exit=137\n$", out) -- 128 + SIGKILL
    assert.is_nil(read(b .. "/sweep/report.md"))
    assert.is_not_nil(read(b .. "/sweep/aug/rep-1/curve.csv")) -- the killed run's partial curve
    assert.is_nil(read(b .. "/sweep/aug/rep-1/record.json"))
    local lines = 0
    for line in read(b .. "/sweep/results.jsonl"):gmatch("[^\n]*\n") do
      assert.truthy(json.decode(line)) -- only whole lines
      lines = lines + 1
    end
    assert.equal(5, lines)
    out = child(b, 0) -- the re-run resumes
    assert.matches("ran=7 skipped=5 failed=1\nexit=0\n$", out)
    assert.equal(read(a .. "/sweep/report.md"), read(b .. "/sweep/report.md"))
    assert.matches("aug", read(b .. "/sweep/report.md"))
    assert.equal(read(a .. "/sweep/comparison.svg"), read(b .. "/sweep/comparison.svg"))
    assert.equal(read(a .. "/sweep/curves.svg"), read(b .. "/sweep/curves.svg"))
    os.execute("rm -rf '" .. dir .. "'")
  end)

  it("a config edited under the same name is re-run, not reported from its stale records", function()
    local root = tmpdir()
    experiment.new(spec(root)):run()
    local sp = spec(root)
    sp.configs[2] = { name = "aug", lr = 0.1, aug = false } -- same name, another recipe
    local e = experiment.new(sp)
    assert.same({ ran = 4, skipped = 12, failed = 0, stale = 4 }, e:run())
    for _, run in ipairs(e:runs()) do
      if run.config_key == "aug" then -- now scored like base (no +0.03)
        local base = e:record { config_key = "base", replicate = run.replicate }
        assert.equal(base.metrics.accuracy, e:record(run).metrics.accuracy)
      end
    end
    assert.same({ ran = 0, skipped = 16, failed = 0 }, e:run())
  end)

  it("any subset or order of runs gives the same records", function()
    local a, b = tmpdir(), tmpdir()
    experiment.new(spec(a)):run()
    local e = experiment.new(spec(b))
    e:run { order = "reverse", only = function(run) return run.replicate % 2 == 1 end }
    e:run { order = "reverse" }
    for _, run in ipairs(e:runs()) do
      local ra = read(a .. "/sweep/" .. run.config_key .. "/rep-" .. run.replicate .. "/record.json")
      local rb = read(b .. "/sweep/" .. run.config_key .. "/rep-" .. run.replicate .. "/record.json")
      assert.equal(ra, rb)
    end
    assert.equal(experiment.new(spec(a)):report { write = false }, e:report { write = false })
  end)

  it("expands grids and names runs by their options", function()
    local root = tmpdir()
    local e = experiment.new { name = "g", root = root, seeds = { 3, 5 }, progress = false,
      grid = { lr = { 0.1, 0.01 }, wd = { 0 } }, run = function(cfg, ctx) return { score = cfg.lr } end }
    local keys = {}
    for _, r in ipairs(e:runs()) do keys[#keys + 1] = r.key end
    assert.same({ "lr=0.1,wd=0/rep-3", "lr=0.1,wd=0/rep-5", "lr=0.01,wd=0/rep-3", "lr=0.01,wd=0/rep-5" }, keys)
    e:run()
    local text = e:report()
    assert.matches("lr=0.1,wd=0 %*%*%(highest mean%)%*%*", text)
  end)

  describe("bad inputs", function()
    it("are clear errors", function()
      local run = function() return { a = 1 } end
      assert.has_error(function() experiment.new { name = "x", run = run, grid = { lr = {} } } end,
        "grid: option 'lr' has an empty list of values")
      assert.has_error(function() experiment.new { name = "x", run = run, configs = {} } end,
        "experiment.new: configs must be a non-empty list of tables")
      assert.has_error(function() experiment.new { name = "a/b", run = run } end)
      assert.has_error(function() experiment.new { name = "x" } end,
        "experiment.new: run must be a function(config, ctx), got nil")
      assert.has_error(function() experiment.new { name = "x", run = run, seeds = 0 } end,
        "experiment.new: seeds must be >= 1, got 0")
      assert.has_error(function()
        experiment.new { name = "x", run = run, configs = { { name = "a" } }, baseline = "b" }
      end, "experiment.new: baseline 'b' is not a config (configs: a)")
      assert.has_error(function()
        experiment.new { name = "x", run = run, configs = { { name = "a" }, { name = "a" } } }
      end, "experiment.new: two configs have the key 'a'")
    end)
    it("a run returning garbage is a failed run, not a crash", function()
      local root = tmpdir()
      local e = experiment.new { name = "g", root = root, seeds = 1, progress = false,
        run = function() return "oops" end }
      assert.same({ ran = 1, skipped = 0, failed = 1 }, e:run())
      assert.matches("run returned string, expected a table of metrics", e:report())
    end)
  end)
end)

describe("kshot.experiment audit fixes", function()
  local run = function(cfg) return { accuracy = cfg.v or 0.5 } end
  local function new(root, extra)
    local sp = { name = "e", root = root, seeds = 1, progress = false, configs = { { name = "x" } }, run = run }
    for k, v in pairs(extra or {}) do sp[k] = v end
    return experiment.new(sp)
  end

  it("bounds seeds before any work and reports the value as given; replicate ids are distinct", function()
    assert.has_error(function() new("/nonexistent", { seeds = { 1, 2, 1 } }) end,
      "experiment.new: seeds[3] = 1 repeats seeds[1] (replicate ids must be distinct)")
    assert.has_error(function() new("/nonexistent", { seeds = 1 << 40 }) end, -- used to eat all memory
      "experiment.new: seeds must be a count in [1, 1048576] (2^20), got 1099511627776")
    assert.equal(1 << 20, #new("/nonexistent", { seeds = 1 << 20 }).replicates)
  end)

  it("rejects config keys that share a run folder or escape it, and the names . and ..", function()
    assert.has_error(function() new("/nonexistent", { configs = { { name = "a/b", v = 0.1 }, { name = "a_b", v = 0.9 } } }) end,
      "experiment.new: configs 'a/b' and 'a_b' would share the run folder 'a_b' (characters other than letters, "
      .. "digits and . - _ = , + @ become '_'): rename one")
    for _, bad in ipairs { "..", ".", "" } do
      local ok, e = pcall(new, "/nonexistent", { configs = { { name = bad } } })
      assert.is_false(ok)
      assert.matches("config key '" .. bad:gsub("%.", "%%.") .. "' cannot name a run folder", e)
    end
    assert.has_error(function() new("/nonexistent", { name = ".." }) end)
    assert.has_error(function() new("/nonexistent", { name = "." }) end)
    -- ordinary names keep their folders (records on disk are still found)
    local root = tmpdir()
    local e = new(root, { configs = { { name = "lr=0.1,wd=1e-4" }, { name = "a b" } } })
    e:run()
    assert.truthy(read(root .. "/e/lr=0.1,wd=1e-4/rep-0/record.json"))
    assert.truthy(read(root .. "/e/a_b/rep-0/record.json"))
  end)

  it("names the config and field of a non-JSON config value", function()
    assert.has_error(function() new("/nonexistent", { configs = { { name = "x", f = print } } }) end,
      "experiment.new: config 'x' (configs[1]): field 'f' is a function; configs are saved as JSON "
      .. "(strings, numbers, booleans and tables of them)")
    local c = { name = "y", opt = {} }
    c.opt.back = c
    local ok, e = pcall(new, "/nonexistent", { configs = { c } })
    assert.is_false(ok)
    assert.matches("config 'y' %(configs%[1%]%): field 'opt.back' refers back to an enclosing table", e)
    -- nested tables in a grid get distinct keys
    local g = experiment.new { name = "g", root = "/nonexistent", run = run, grid = { opt = { { { lr = 1 } }, { { lr = 2 } } } } }
    assert.same({ "opt={{lr=1}}", "opt={{lr=2}}" }, g.keys)
  end)

  it("a record.json that is JSON but not a record is a broken record naming the file", function()
    local root = tmpdir()
    local e = new(root)
    e:run()
    local path = root .. "/e/x/rep-0/record.json"
    for content, why in pairs { ["5"] = "not a JSON object %(a number%)",
      ['{"status":"ok","metrics":5}'] = "an ok record without a metrics object",
      ['{"status":"ok","metrics":{"accuracy":"high"}}'] = "metric 'accuracy' is \"high\", not a number",
      ['{"status":"o'] = "unterminated string" } do
      local f = assert(io.open(path, "wb"))
      f:write(content)
      f:close()
      for _, call in ipairs { function() return e:run() end, function() return e:report { write = false } end } do
        local ok, err = pcall(call)
        assert.is_false(ok)
        assert.matches("^experiment: broken record " .. path:gsub("%p", "%%%0") .. ": " .. why, err)
      end
    end
  end)

  it("NaN and infinite metrics are failed runs naming the metric, not silently dropped", function()
    local root = tmpdir()
    local vals = { 0 / 0, math.huge, -math.huge }
    local e = new(root, { seeds = 3, run = function(_, ctx) return { accuracy = vals[ctx.replicate + 1] } end })
    assert.same({ ran = 3, skipped = 0, failed = 3 }, e:run())
    local text, s = e:report { write = false }
    assert.equal(3, s.rows[1].failed)
    assert.matches("run returned a non%-finite value for metric 'accuracy' %(inf%)", text)
  end)

  it("ctx.log keeps keys first seen in later rows (union of the columns)", function()
    local root = tmpdir()
    local e = new(root, { run = function(_, ctx)
      ctx.log { epoch = 1, acc = 0.5 }
      ctx.log { epoch = 2, loss = 0.25 }
      ctx.log { epoch = 3, acc = 0.75, loss = 0.125 }
      return { accuracy = 1 }
    end })
    e:run()
    assert.equal("epoch,acc,loss\n1,0.5,\n2,,0.25\n3,0.75,0.125\n", read(root .. "/e/x/rep-0/curve.csv"))
  end)

  it("a report on a metric no run reports names the metrics that exist; run options are checked", function()
    local root = tmpdir()
    local e = new(root, { metric = "bogus" })
    e:run()
    assert.has_error(function() e:report { write = false } end,
      "experiment 'e': metric 'bogus' is reported by no recorded run (metrics reported: accuracy)")
    assert.has_error(function() e:run { only = 5 } end,
      "exp:run: option 'only' must be a function(run) -> boolean, got number")
    assert.has_error(function() e:run { order = "backwards" } end,
      "exp:run: option 'order' must be \"canonical\" or \"reverse\", got backwards")
  end)

  it("rejects unknown keys in new, run and report", function()
    local ok, msg = pcall(new, "/nonexistent", { baseline = "x", maximise = false })
    assert.is_false(ok)
    assert.truthy(msg:find("experiment.new: unknown option 'maximise'", 1, true)
      and msg:find("did you mean 'maximize'?", 1, true), msg)
    local e = new(tmpdir())
    ok, msg = pcall(e.run, e, { retry = true })
    assert.truthy(msg:find("exp:run: unknown option 'retry' (known: only, order, force, retry_failed, progress_mode)",
      1, true), msg)
    ok, msg = pcall(e.report, e, { plot = false })
    assert.truthy(msg:find("exp:report: unknown option 'plot' (known: write, plots, print, hide); did you mean 'plots'?",
      1, true), msg)
  end)

  -- a config whose runs all failed gives no p-value: Holm's correction is over the others only
  local function holm_exp(root, broken)
    local configs = { { name = "base", bonus = 0 }, { name = "better", bonus = 1 } }
    for i = 1, broken do configs[#configs + 1] = { name = "broken" .. i, bonus = -1 } end
    return experiment.new { name = "toy", root = root, seeds = 5, progress = false, configs = configs,
      metric = "accuracy", baseline = "base",
      run = function(config, ctx)
        if config.bonus < 0 then error("diverged") end
        return { accuracy = 70 + (ctx.seed % 1000) / 200 + config.bonus + (ctx.run_seed % 7) / 10 }
      end }
  end

  it("says how many comparisons Holm's correction is over, and which configs were left out and why", function()
    local e = holm_exp(tmpdir(), 1)
    e:run()
    local text, s = e:report { write = false }
    assert.equal(1, s.corrected)
    assert.truthy(text:find("Holm's correction over the 1 comparison with a p-value. Left out (no p-value, fewer "
      .. "than 2 pairs): `broken1` (0 pairs: all its runs failed).", 1, true), text)
    assert.falsy(text:find("over the 2 comparisons", 1, true))
    assert.truthy(text:find("| broken1 | 0 | - | - | - | - | - | too few pairs (all its runs failed) |", 1, true), text)
    -- with one comparison, Holm's p is the raw p
    assert.equal(s.comparisons[1].t.p, s.comparisons[1].holm_t)
    e = holm_exp(tmpdir(), 2)
    e:run()
    text = e:report { write = false }
    assert.truthy(text:find("over the 1 comparison with a p-value. Left out (no p-value, fewer than 2 pairs): "
      .. "`broken1` (0 pairs: all its runs failed), `broken2` (0 pairs: all its runs failed).", 1, true), text)
  end)

  it("marks the highest observed mean as descriptive and a pre-registered config as fixed beforehand", function()
    local root = tmpdir()
    local function toy(extra)
      local opts = { name = "marks", root = root, seeds = 3, progress = false, baseline = "base",
        configs = { { name = "base", bonus = 0 }, { name = "better", bonus = 1 }, { name = "chosen", bonus = 0.5 } },
        run = function(config, ctx) return { accuracy = 70 + config.bonus + ctx.replicate / 10 } end }
      for k, v in pairs(extra or {}) do opts[k] = v end
      return experiment.new(opts)
    end
    local e = toy { preregistered = "chosen" }
    e:run()
    local text, s = e:report()
    assert.truthy(text:find("| better **(highest mean)** | 3 |", 1, true), text)
    assert.truthy(text:find("| chosen (fixed beforehand) | 3 |", 1, true), text)
    assert.truthy(text:find("| base (baseline) | 3 |", 1, true), text)
    assert.falsy(text:find("(best)", 1, true), text)
    assert.truthy(text:find("(highest mean): the config whose mean on these replicates is the highest, a "
      .. "description of this sample, not a recipe chosen in advance", 1, true), text)
    assert.truthy(text:find("(fixed beforehand): `chosen`, the config declared before the runs, so its result is "
      .. "free of that selection.", 1, true), text)
    local out = tostring(s)
    assert.truthy(out:find("\nbetter %(highest mean%) +3 "), out)
    assert.truthy(out:find("\nchosen %(fixed beforehand%) +3 "), out)
    local svg = read(root .. "/marks/comparison.svg")
    assert.truthy(svg:find(">better (highest mean)<", 1, true), svg)
    assert.truthy(svg:find(">chosen (fixed beforehand)<", 1, true), svg)
    -- one config can be both; minimizing says "lowest"
    text = toy { preregistered = "better" }:report { write = false }
    assert.truthy(text:find("| better **(highest mean)** (fixed beforehand) | 3 |", 1, true), text)
    text = toy { maximize = false }:report { write = false }
    assert.truthy(text:find("| base **(lowest mean)** (baseline) | 3 |", 1, true), text)
    assert.falsy(text:find("fixed beforehand", 1, true), text)
    assert.has_error(function() toy { preregistered = "nosuch" } end,
      "experiment.new: preregistered 'nosuch' is not a config (configs: base; better; chosen)")
    assert.has_error(function() toy { preregistered = 3 } end,
      "experiment.new: preregistered '3' is not a config (configs: base; better; chosen)")
  end)

  it("metric_range keeps the comparison axis inside it and cuts whiskers with an arrowhead; n < 3 is flagged", function()
    local root = tmpdir()
    local function two(extra)
      local opts = { name = "range", root = root, seeds = 2, progress = false, metric = "accuracy",
        configs = { { name = "noisy", spread = 60 }, { name = "steady", spread = 1 } },
        run = function(config, ctx) return { accuracy = 50 + (ctx.replicate == 0 and -1 or 1) * config.spread / 2 } end }
      for k, v in pairs(extra or {}) do opts[k] = v end
      return experiment.new(opts)
    end
    local e = two { metric_range = { 0, 100 } }
    e:run()
    local text, s = e:report()
    assert.truthy(s.rows[1].interval.lo < -300 and s.rows[1].interval.hi > 400) -- 2 replicates: +-12.7 se
    assert.truthy(text:find("\nn < 3: intervals are very wide", 1, true), text)
    local svg = read(root .. "/range/comparison.svg")
    local xs = {}
    for v in svg:gmatch('text%-anchor="middle">([%-%d.e]+)</text>') do xs[#xs + 1] = tonumber(v) end
    assert.same({ 0, 20, 40, 60, 80, 100 }, xs) -- 1-2-5 ticks inside {0, 100}
    local _, arrows = svg:gsub("<path d=", "")
    assert.equal(2, arrows) -- both ends of noisy's whisker are cut
    assert.truthy(svg:find("interval continues to %-"), svg)
    assert.truthy(svg:find(">accuracy</text>", 1, true), svg) -- axis titles
    assert.truthy(svg:find(">config</text>", 1, true), svg)
    -- without the range the axis follows the data
    local _, s2 = two():report { write = false }
    local plain = experiment.svg_comparison(s2, two())
    assert.falsy(plain:find("<path d=", 1, true))
    assert.truthy(plain:find(">%-200<") and plain:find(">400<"), plain)
    -- 3 replicates: no note
    local three = experiment.new { name = "r3", root = root, seeds = 3, progress = false, grid = { a = { 1 } },
      run = function(_, ctx) return { m = ctx.replicate } end }
    three:run()
    assert.falsy(three:report { write = false }:find("n < 3", 1, true))
    for _, bad in ipairs { {}, { 0 }, { 1, 0 }, { 0, 0 / 0 }, { 0, math.huge }, { "0", 1 }, 5 } do
      assert.has_error(function() two { metric_range = bad } end)
      local ok, err = pcall(two, { metric_range = bad })
      assert.truthy(err:find("experiment.new: metric_range must be {lo, hi} with finite numbers lo < hi", 1, true), err)
    end
  end)

  it("plots: 1-2-5 ticks, axis titles, and a distinct colour or dash for each of many curves", function()
    assert.same({ 0, 0.2, 0.4, 0.6, 0.8, 1 }, experiment.ticks(0, 1))
    assert.same({ -100, 0, 100, 200 }, experiment.ticks(-103, 200))
    assert.same({ 0, 5, 10 }, experiment.ticks(-0.5, 10.5))
    -- a range with no step used to loop forever (ticks(50, 50): a zero step); its finite ends are the ticks
    assert.same({ 50 }, experiment.ticks(50, 50))
    assert.same({ 0 }, experiment.ticks(0, 0))
    assert.same({ 1, 0 }, experiment.ticks(1, 0))
    assert.same({}, experiment.ticks(-math.huge, math.huge))
    assert.same({ 1 }, experiment.ticks(0 / 0, 1))
    assert.same({ 0, 5e-324 }, experiment.ticks(0, 5e-324))
    local seen = {}
    for i = 1, 40 do
      local c, d = experiment.series_style(i)
      local k = c .. "|" .. tostring(d)
      assert.is_nil(seen[k], "style " .. i .. " repeats style " .. tostring(seen[k]))
      seen[k] = i
    end
    local root = tmpdir()
    local configs = {}
    for i = 1, 12 do configs[i] = { name = ("c%02d"):format(i), v = i } end
    local e = experiment.new { name = "many", root = root, seeds = 1, progress = false, configs = configs,
      run = function(cfg, ctx)
        for step = 1, 3 do ctx.log { step = step, loss = cfg.v / step } end
        return { m = cfg.v }
      end }
    e:run()
    e:report()
    local svg = read(root .. "/many/curves.svg")
    local styles = {}
    for line in svg:gmatch("<polyline[^>]*>") do
      local k = line:match('stroke="([^"]+)"') .. "|" .. (line:match('stroke%-dasharray="([^"]+)"') or "")
      assert.is_nil(styles[k], k)
      styles[k] = true
    end
    assert.truthy(svg:find(">step</text>", 1, true), svg)
    assert.truthy(svg:find(">loss</text>", 1, true), svg)
    local _, legend = svg:gsub('<line x1="%d+" x2="%d+" y1="[%d.]+" y2="[%d.]+" stroke="#%x+" stroke%-width="2"', "")
    assert.equal(12, legend)
  end)

  it("the summary report returns prints as a table, not table: 0x...", function()
    local e = holm_exp(tmpdir(), 1)
    e:run()
    local _, s = e:report { write = false }
    local out = tostring(s)
    assert.falsy(out:find("table: 0x", 1, true))
    assert.truthy(out:find("experiment 'toy': accuracy (higher is better)", 1, true), out)
    assert.truthy(out:find("\nconfig +n +accuracy +failed\n"), out)
    assert.truthy(out:find("\nbase %(baseline%) +5 +[%d.]+ ± [%d.]+ +0\n"), out)
    assert.truthy(out:find("\nbroken1 +0 +%- +5\n"), out)
    assert.truthy(out:find("\nbetter +5 +[%d.]+ ± [%d.]+ +0%.%d+ +better"), out)
    assert.truthy(out:find("Holm's correction over the 1 comparison", 1, true), out)
  end)
end)

describe("kshot.experiment records (session 11)", function()
  local function write(path, text)
    assert(os.execute("mkdir -p '" .. path:match("^(.*)/[^/]*$") .. "'"))
    local f = assert(io.open(path, "wb"))
    f:write(text)
    f:close()
  end
  local H1, H2 = ("1"):rep(40), ("ab"):rep(20)

  it("git_commit reads HEAD, loose refs, packed refs, a detached HEAD and a worktree's .git file", function()
    local root = tmpdir()
    -- a branch with a loose ref, found from a folder two levels down
    write(root .. "/loose/.git/HEAD", "ref: refs/heads/main\n")
    write(root .. "/loose/.git/refs/heads/main", H1 .. "\n")
    write(root .. "/loose/scripts/deep/x.lua", "")
    assert.equal(H1, experiment.git_commit(root .. "/loose/scripts/deep"))
    assert.equal(H1, experiment.git_commit(root .. "/loose/scripts/deep/../.."))
    -- only in packed-refs (after git gc); upper-case hex is given in lower case
    write(root .. "/packed/.git/HEAD", "ref: refs/heads/topic/x\n")
    write(root .. "/packed/.git/packed-refs", "# pack-refs with: peeled fully-peeled sorted\n"
      .. H1 .. " refs/heads/main\n" .. H2:upper() .. " refs/heads/topic/x\n^" .. H1 .. "\n")
    assert.equal(H2, experiment.git_commit(root .. "/packed"))
    -- a detached HEAD is the hash itself
    write(root .. "/detached/.git/HEAD", H2 .. "\n")
    assert.equal(H2, experiment.git_commit(root .. "/detached"))
    -- a worktree: .git is a file naming its git dir (relative here), whose commondir holds the refs
    write(root .. "/main/.git/HEAD", "ref: refs/heads/main\n")
    write(root .. "/main/.git/refs/heads/main", H1 .. "\n")
    write(root .. "/main/.git/refs/heads/feature", H2 .. "\n")
    write(root .. "/main/.git/worktrees/wt/HEAD", "ref: refs/heads/feature\n")
    write(root .. "/main/.git/worktrees/wt/commondir", "../..\n")
    write(root .. "/wt/.git", "gitdir: ../main/.git/worktrees/wt\n")
    assert.equal(H2, experiment.git_commit(root .. "/wt"))
    write(root .. "/wt2/.git", "gitdir: " .. root .. "/main/.git\n") -- absolute, a plain git dir
    assert.equal(H1, experiment.git_commit(root .. "/wt2"))
    -- not a repository, an unborn branch, a .git file naming nothing: no commit (not an error)
    write(root .. "/plain/sub/f", "")
    assert.is_nil(experiment.git_commit(root .. "/plain/sub"))
    write(root .. "/unborn/.git/HEAD", "ref: refs/heads/main\n")
    assert.is_nil(experiment.git_commit(root .. "/unborn"))
    write(root .. "/dangling/.git", "gitdir: /nonexistent/h48/.git\n")
    assert.is_nil(experiment.git_commit(root .. "/dangling"))
    write(root .. "/junk/.git/HEAD", "not a ref\n")
    assert.is_nil(experiment.git_commit(root .. "/junk"))
    os.execute("rm -rf '" .. root .. "'")
  end)

  it("provenance.json names the host and the commit of the script's repository; record.json neither", function()
    local root = tmpdir()
    write(root .. "/repo/.git/HEAD", "ref: refs/heads/main\n")
    write(root .. "/repo/.git/refs/heads/main", H1 .. "\n")
    local saved = rawget(_G, "arg")
    local function sweep(script)
      _G.arg = { [0] = script, "--x" }
      local ok, err = pcall(function()
        experiment.new { name = "p", root = root .. "/runs", seeds = 1, progress = false,
          configs = { { name = "c" } }, run = function() return { m = 1 } end }:run { force = true }
      end)
      _G.arg = saved
      assert(ok, err)
      return json.decode(read(root .. "/runs/p/c/rep-0/provenance.json")), read(root .. "/runs/p/c/rep-0/record.json")
    end
    local prov, rec = sweep(root .. "/repo/scripts/run.lua")
    assert.equal(H1, prov.git_commit)
    assert.equal(ks.hostname(), prov.host)
    assert.equal(root .. "/repo/scripts/run.lua --x", prov.command)
    local prov2, rec2 = sweep(root .. "/elsewhere/run.lua") -- not in a repository: no field
    assert.is_nil(prov2.git_commit)
    assert.equal(ks.hostname(), prov2.host)
    assert.equal(rec, rec2) -- the record does not depend on where or when it ran
    assert.falsy(rec:find("host", 1, true))
    assert.falsy(rec:find(H1, 1, true))
    os.execute("rm -rf '" .. root .. "'")
  end)

  local function lines_of(path)
    local out = {}
    for line in (read(path) or ""):gmatch("([^\n]*)\n") do out[#out + 1] = json.decode(line) end
    return out
  end
  local function keys_of(lines)
    local seen, dup = {}, nil
    for _, l in ipairs(lines) do
      if seen[l.key] then dup = l.key end
      seen[l.key] = true
    end
    return seen, dup
  end

  it("results.jsonl keeps one line per run across retries, --fresh and edited configs", function()
    local root = tmpdir()
    local path = root .. "/sweep/results.jsonl"
    experiment.new(spec(root)):run()
    local before = lines_of(path)
    assert.equal(16, #before)
    -- a retried failure replaces its line (here it fails again)
    assert.same({ ran = 1, skipped = 15, failed = 1 }, experiment.new(spec(root)):run { retry_failed = true })
    local after = lines_of(path)
    assert.equal(16, #after)
    local _, dup = keys_of(after)
    assert.is_nil(dup)
    -- every run again: still 16 lines, the same set of keys
    experiment.new(spec(root)):run { force = true }
    after = lines_of(path)
    assert.equal(16, #after)
    assert.same(keys_of(before), (keys_of(after)))
    -- an edited config re-runs its 4 runs: their lines hold the new metrics
    local sp = spec(root)
    sp.configs[2] = { name = "aug", lr = 0.1, aug = false }
    local e = experiment.new(sp)
    e:run()
    after = lines_of(path)
    assert.equal(16, #after)
    for _, l in ipairs(after) do
      if l.config_key == "aug" then
        assert.same(e:record { config_key = "aug", replicate = l.replicate }.metrics, l.metrics)
      end
    end
    -- a new run appends; a line that is not a record is left alone
    local f = assert(io.open(path, "ab"))
    f:write("not json\n")
    f:close()
    sp.seeds = 5
    experiment.new(sp):run { force = true }
    local text = read(path)
    assert.truthy(text:find("not json\n", 1, true))
    local n = 0
    for _ in text:gmatch("\n") do n = n + 1 end
    assert.equal(21, n) -- 20 runs + the foreign line
    os.execute("rm -rf '" .. root .. "'")
  end)

  it("a report of part of the experiment goes to report-<id>.md, never over the whole one's report.md", function()
    local root = tmpdir()
    local dir = root .. "/sweep"
    local full = experiment.new(spec(root))
    full:run()
    local whole = full:report()
    assert.same({ report = dir .. "/report.md", comparison = dir .. "/comparison.svg", curves = dir .. "/curves.svg" },
      full:report_files())
    assert.equal(whole, read(dir .. "/report.md"))
    -- two of the configs (a script's --only): loaded from the records, reported apart
    local sp = spec(root)
    sp.configs = { sp.configs[1], sp.configs[2] }
    local part = experiment.new(sp)
    assert.same({ ran = 0, skipped = 8, failed = 0 }, part:run())
    local files = part:report_files()
    local id = files.report:match("/report%-(%x%x%x%x%x%x%x%x)%.md$")
    assert.truthy(id, files.report)
    assert.same({ report = dir .. "/report-" .. id .. ".md", comparison = dir .. "/comparison-" .. id .. ".svg",
      curves = dir .. "/curves-" .. id .. ".svg" }, files)
    local text = part:report()
    assert.equal(text, read(files.report))
    assert.truthy(read(files.comparison):find("<svg", 1, true))
    assert.truthy(read(files.curves):find("<svg", 1, true))
    assert.equal(whole, read(dir .. "/report.md")) -- untouched
    -- the same selection in another order: the same files
    sp.configs = { sp.configs[2], sp.configs[1] }
    assert.equal(files.report, experiment.new(sp):report_files().report)
    -- fewer replicates are a part too, with another id
    local sp3 = spec(root)
    sp3.seeds = { 0, 1 }
    local fewer = experiment.new(sp3):report_files().report
    assert.truthy(fewer:match("/report%-%x+%.md$"), fewer)
    assert.are_not.equal(files.report, fewer)
    -- the whole experiment again writes report.md
    assert.equal(dir .. "/report.md", experiment.new(spec(root)):report_files().report)
    -- a config key cannot take a report's file name
    local bad = spec(root)
    bad.configs = { { name = "report-0a1b2c3d.md" } }
    assert.has_error(function() experiment.new(bad) end)
    os.execute("rm -rf '" .. root .. "'")
  end)
end)

describe("kshot.progress", function()
  local progress = require "kshot.progress"
  -- a fake stream and clock
  local function sink()
    local s = { buf = {} }
    function s:write(...) for _, x in ipairs { ... } do self.buf[#self.buf + 1] = x end return self end
    function s:flush() end
    function s:text() return table.concat(self.buf) end
    return s
  end

  it("plain mode prints whole lines periodically with step, loss, rate and ETA", function()
    local t, out = 0, sink()
    local bar = progress.new { total = 100, label = "train", mode = "plain", every = 10, stream = out,
      clock = function() return t end }
    for step = 1, 100 do
      t = step * 0.5 -- 2 steps per second
      bar:update(step, { loss = 1 / step })
    end
    bar:finish()
    local lines = {}
    for l in out:text():gmatch("[^\n]+") do lines[#lines + 1] = l end
    -- first update, then every 10 s (20 steps), then the final line
    assert.equal(6, #lines) -- steps 1, 21, 41, 61, 81 and the final line
    assert.equal("train  1/100   1%  loss 1  2 it/s  ETA 0:49  elapsed 0:00", lines[1])
    assert.equal("train  21/100  21%  loss 0.04762  2 it/s  ETA 0:39  elapsed 0:10", lines[2])
    assert.equal("train  100/100 100%  loss 0.01  2 it/s  ETA 0:00  elapsed 0:50", lines[6])
    assert.is_nil(out:text():find("\r"))
  end)

  it("bar mode redraws one line in place; silent prints nothing", function()
    local t, out = 0, sink()
    local bar = progress.new { total = 4, mode = "bar", stream = out, width = 4, clock = function() return t end }
    for step = 1, 4 do t = step; bar:update(step) end
    bar:finish()
    local s = out:text()
    assert.matches("^\r\27%[K%[#%.%.%.%] 1/4  25%%", s)
    assert.matches("\r\27%[K%[####%] 4/4 100%%.*\n$", s)
    local quiet = sink()
    local b2 = progress.new { total = 4, silent = true, stream = quiet }
    b2:update(1); b2:log("x"); b2:finish()
    assert.equal("", quiet:text())
    assert.equal("off", b2.mode)
  end)

  it("picks plain when the stream is not a terminal (busted's output is captured)", function()
    assert.is_boolean(progress.isatty(io.stderr))
    local f = io.tmpfile()
    local b = progress.new { total = 1, stream = f }
    assert.equal(os.getenv("KSHOT_PROGRESS") or "plain", b.mode)
    f:close()
    assert.has_error(function() progress.new { mode = "fancy" } end,
      "progress.new: unknown mode 'fancy' (bar, plain or off)")
    assert.has_error(function() progress.new { total = -1 } end)
  end)
end)

describe("report numbers", function()
  it("print mean ± half-width to the half-width's 3 significant digits (percents and fractions alike)", function()
    local exp = experiment.new { name = "fmt", root = tmpdir(), seed = 1, seeds = 4, progress = false,
      configs = { { name = "pct", scale = 1 }, { name = "frac", scale = 0.01 } },
      run = function(cfg, ctx) return { accuracy = (70 + ctx.replicate) * cfg.scale } end }
    exp:run()
    local md = exp:report { write = false }
    -- mean 71.5, sd 1.291, t(3) = 3.182: half-width 2.054
    assert.truthy(md:find("| pct **(highest mean)** | 4 | 71.50 ± 2.05 |", 1, true), md)
    assert.truthy(md:find("| frac | 4 | 0.7150 ± 0.0205 |", 1, true), md)
    assert.truthy(tostring(exp:summarize()):find("71.50 ± 2.05", 1, true))
  end)

  it("show a column of means for each other metric, but those hide's patterns match", function()
    local exp = experiment.new { name = "cols", root = tmpdir(), seed = 1, seeds = 2, progress = false,
      configs = { { name = "a" } },
      run = function(_, ctx) return { accuracy = 70 + ctx.replicate, lr = 0.1, recall_c0 = 50, recall_c1 = 60 } end }
    exp:run()
    local all = exp:report { write = false }
    assert.truthy(all:find("| config | n | accuracy (mean ± 95% half-width) | lr (mean) | recall_c0 (mean) | "
      .. "recall_c1 (mean) | failed |", 1, true), all)
    local some, s = exp:report { write = false, hide = { "^recall_c" } }
    assert.truthy(some:find("| config | n | accuracy (mean ± 95% half-width) | lr (mean) | failed |", 1, true), some)
    assert.are.equal(50, s.rows[1].means.recall_c0) -- the summary keeps every metric
    assert.has_error(function() exp:report { write = false, hide = "^recall" } end,
      "exp:report: hide must be a list of Lua patterns, got string")
    assert.has_error(function() exp:report { write = false, hide = { 3 } } end,
      "exp:report: hide[1] must be a string (a Lua pattern), got number")
  end)
end)

describe("exp:compare", function()
  it("pairs two configs that are not the baseline over the replicates where both succeeded", function()
    local exp = experiment.new(spec(tmpdir()))
    exp:run()
    local c = exp:compare("aug", "wd")
    local a, b = {}, {}
    for _, r in ipairs { 0, 1, 2, 3 } do
      a[#a + 1] = json.decode(read(exp.dir .. "/aug/rep-" .. r .. "/record.json")).metrics.accuracy
      b[#b + 1] = json.decode(read(exp.dir .. "/wd/rep-" .. r .. "/record.json")).metrics.accuracy
    end
    assert.equal("aug", c.a)
    assert.equal("wd", c.b)
    assert.equal("accuracy", c.metric)
    assert.equal(4, c.n)
    assert.same({ 0, 1, 2, 3 }, c.replicates)
    local t = stats.paired_t(a, b)
    assert.near(t.mean_diff, c.diff, 1e-12)
    assert.near(0.03 - 0.0005, c.diff, 1e-9) -- aug adds 0.03, wd 0.001 on odd replicates
    assert.near(t.p, c.t.p, 1e-12)
    assert.near(stats.wilcoxon(a, b).p, c.w.p, 1e-12)
    assert.truthy(c.diff_interval.lo < c.diff and c.diff < c.diff_interval.hi)
    -- "broken" failed on replicate 2: three pairs remain
    local cb = exp:compare("broken", "base", { metric = "loss" })
    assert.equal(3, cb.n)
    assert.same({ 0, 1, 3 }, cb.replicates)
  end)

  it("names unknown configs, an unknown metric and too few pairs", function()
    local exp = experiment.new(spec(tmpdir()))
    exp:run { only = function(run) return run.replicate < 1 or run.config_key ~= "wd" end }
    local function err(...)
      local ok, e = pcall(exp.compare, exp, ...)
      assert.is_false(ok)
      return e
    end
    assert.matches("config a 'agu' is not a config of experiment 'sweep' %(configs: base; aug; wd; broken%)",
      err("agu", "base"))
    assert.matches("config b 'nil' is not a config", err("aug"))
    assert.matches("'aug' and 'wd' have 1 replicate where both recorded metric 'accuracy' %(2 or more needed",
      err("aug", "wd"))
    assert.matches("have 0 replicates where both recorded metric 'f1' %(2 or more needed; metrics recorded: "
      .. "accuracy, loss%)", err("aug", "base", { metric = "f1" }))
    assert.matches("unknown option 'metrc'", err("aug", "base", { metrc = "loss" }))
  end)
end)

describe("kshot.cli", function()
  local cli = require "kshot.cli"
  local function parser()
    return cli.new { name = "demo.lua", description = "a demo", options = {
      { "--k", "K values", type = "list:integer", default = { 5, 10 } },
      { "--seeds", "seeds", type = "integer", default = 3 },
      { "--lr", "learning rate", type = "number", default = 0.05 },
      { "--mode", "mode", choices = { "fast", "full" }, default = "fast" },
      { "--test-size", "test images", type = "integer", default = 0 },
      { "-q --quiet", "quiet", type = "flag" },
    } }
  end

  it("applies typed defaults and parses values", function()
    local a = parser():try_parse {}
    assert.same({ k = { 5, 10 }, seeds = 3, lr = 0.05, mode = "fast", test_size = 0, quiet = false }, a)
    a = parser():try_parse { "--k", "1, 2", "--seeds=7", "--test-size", "5", "-q", "--mode", "full", "--lr", "1e-3" }
    assert.same({ k = { 1, 2 }, seeds = 7, lr = 1e-3, mode = "full", test_size = 5, quiet = true }, a)
    assert.equal("integer", math.type(a.seeds))
  end)

  it("--help lists every option with its default", function()
    local a, help = parser():try_parse { "--help" }
    assert.is_nil(a)
    assert.matches("Usage: demo.lua", help)
    assert.matches("%-%-seeds <integer> +seeds %(default: 3%)", help)
    assert.matches("%-%-k <a,b,...> +K values %(default: 5,10%)", help)
    assert.matches("one of: fast, full", help)
  end)

  it("unknown options and bad values are clear errors", function()
    local p = parser()
    local ok, e = pcall(p.try_parse, p, { "--sedes", "3" })
    assert.is_false(ok)
    assert.matches("^demo.lua: unknown option '%-%-sedes' %(see %-%-help for the options%)\nDid you mean '%-%-seeds'%?", e)
    assert.has_error(function() p:try_parse { "--seeds", "x" } end, "demo.lua: option '--seeds': 'x' is not an integer")
    assert.has_error(function() p:try_parse { "--seeds", "2.5" } end,
      "demo.lua: option '--seeds': '2.5' is not an integer")
    assert.has_error(function() p:try_parse { "--mode", "slow" } end,
      "demo.lua: option '--mode': 'slow' is not one of: fast, full")
    assert.has_error(function() p:try_parse { "--k", "1,x" } end, "demo.lua: option '--k': 'x' is not an integer")
    assert.has_error(function() p:try_parse { "--seeds" } end, "demo.lua: option '--seeds' requires an argument")
    assert.has_error(function() cli.new { options = { { "--a", type = "float" } } } end)
  end)

  it("checks each item of a list option against its choices", function()
    local p = cli.new { name = "s", options = { { "--n", "n", type = "list:string", choices = { "a", "b" } } } }
    assert.same({ "a" }, p:try_parse { "--n", "a" }.n)
    assert.same({ "b", "a" }, p:try_parse { "--n", "b,a" }.n)
    assert.has_error(function() p:try_parse { "--n", "a,c" } end, "s: option '--n': 'c' is not one of: a, b")
  end)

  it("takes negative numbers as option values", function()
    local p = parser()
    assert.equal(-1, p:try_parse({ "--lr", "-1" }).lr)
    assert.equal(-1.5, p:try_parse({ "--lr=-1.5" }).lr)
    assert.equal(-3, p:try_parse({ "--seeds", "-3" }).seeds)
    assert.same({ -1, 2 }, p:try_parse({ "--k", "-1,2", "-q" }).k)
    local s = cli.new { name = "s", options = { { "-l --lr", "lr", type = "number" }, { "--name", "name" } } }
    assert.same({ lr = -0.5, name = "-2" }, s:try_parse { "-l", "-.5", "--name", "-2" })
    assert.has_error(function() s:try_parse { "--lr", "-x" } end)
  end)

  it("names an option spec without dashes", function()
    assert.has_error(function() cli.new { name = "s", options = { { "x", "x" } } } end,
      "cli.new: options[1] names 'x': each name must be '-s' (one letter or digit) or '--long' (letters, digits, "
      .. "'-', '_'), e.g. \"-s --long\"; got 'x'")
    assert.has_error(function() cli.new { name = "s", options = { { "--ok", "x" }, { "-", "x" } } } end)
  end)
end)
