-- scripts_args_spec.lua: the scripts in scripts/ reject bad arguments up
-- front (exit 2, "<script>: <message>", no traceback, nothing run), and the
-- kshot.cli features behind that: min / max / unique / path / special /
-- check, cli.fail, cli.call, cli.check_path, cli.temp_dir cleanup. Runs the
-- host binary spec/helpers/host_process.lua names; every case fails
-- while parsing or before any training (the whole file takes seconds).
local ks = require "kshot" -- puts the kshot.* Lua modules on package.path
local cli = require "kshot.cli"
local lfs = require "lfs"

local H = require "spec.helpers.host_process"
local KSHOT, q, slurp, spit, tmpname, run, script = H.KSHOT, H.q, H.slurp, H.spit, H.tmpname, H.run, H.script
teardown(H.cleanup)

-- a plain file and a folder that does not exist, for the path cases
local AFILE = tmpname()
local NODIR = "/nonexistent_kshot_dir_" .. tostring({}):match("(%x+)$")
local EMPTY = tmpname() -- an empty folder (removed by teardown: os.remove takes an empty folder)
os.remove(EMPTY)
lfs.mkdir(EMPTY)
local NOT_FOUND = "fashion_mnist: " .. EMPTY .. "/train-images-idx3-ubyte.gz not found"

local CASES = {
  -- 1. bad values that used to run
  { "fewshot_fashion.lua --test-size -5", "option '--test-size': -5 is below the minimum 0" },
  { "fewshot_fashion.lua --only nope", "preset 'default' has no recipe 'nope'" },
  { "fewshot_fashion.lua --preset smoke --only best_recipe", "preset 'smoke' has no recipe 'best_recipe'" },
  { "fewshot_fashion.lua --k 1", "option '--k': 1 is below the minimum 2" },
  { "fewshot_fashion.lua --jobs 0", "fewshot_fashion.lua: --jobs must be >= 1\n" },
  { "learning_curve.lua --test-size -1", "option '--test-size': -1 is below the minimum 0" },
  { "learning_curve.lua --test-size 10001", "option '--test-size': 10001 is above the maximum 10000" },
  { "learning_curve.lua --base-size -5", "option '--base-size': -5 is below the minimum 1" },
  { "learning_curve.lua --scratch-steps 0", "option '--scratch-steps': 0 is below the minimum 1" },
  { "learning_curve.lua --heads foo", "--heads: 'foo' is not a head" },
  { "learning_curve.lua --records /nonexistent-dir/x.records",
    "option '--records': cannot write '/nonexistent-dir/x.records': folder '/nonexistent-dir' does not exist" },
  { "linear_regression.lua --tolerance -1", "option '--tolerance': -1 is below the minimum 0" },
  { "linear_regression.lua --noise -0.5", "option '--noise': -0.5 is below the minimum 0" },
  -- 2. duplicates
  { "fewshot_fashion.lua --k 2,2 --jobs 2", "option '--k': 2 is given twice" },
  { "fewshot_fashion.lua --only adamw,adamw", "option '--only': adamw is given twice" },
  { "learning_curve.lua --k 1,1", "option '--k': 1 is given twice" },
  { "learning_curve.lua --heads CL2N,CL2N", "option '--heads': CL2N is given twice" },
  { "transfer_fashion.lua --shots 1,5,1", "option '--shots': 1 is given twice" },
  { "transfer_fashion.lua --novel 5,6,6", "option '--novel': 6 is given twice" },
  { "pretrain_backbone.lua --base 0,0", "option '--base': 0 is given twice" },
  { "record_baselines.lua --only a,a", "option '--only': a is given twice" },
  -- 3. values that ended in a traceback
  { "learning_curve.lua --threads 0", "option '--threads': 0 is below the minimum 1" },
  { "transfer_fashion.lua --threads 0", "option '--threads': 0 is below the minimum 1" },
  { "pretrain_backbone.lua --threads 0", "option '--threads': 0 is below the minimum 1" },
  { "fewshot_fashion.lua --threads 300", "option '--threads': 300 is above the maximum 256" },
  { "learning_curve.lua --k 0", "option '--k': 0 is below the minimum 1" },
  { "learning_curve.lua --k 10000", "option '--k': 10000 is above the maximum 6000" },
  { "learning_curve.lua --seeds 0", "option '--seeds': 0 is below the minimum 1" },
  { "optimizers.lua --k 100000", "option '--k': 100000 is above the maximum 6000" },
  { "transfer_fashion.lua --shots 7000", "option '--shots': 7000 is above the maximum 6000" },
  { "transfer_fashion.lua --query 100000", "option '--query': 100000 is above the maximum 1000" },
  { "transfer_fashion.lua --base 0,10", "option '--base': 10 is above the maximum 9" },
  -- 4. the dataset folder
  { "fewshot_fashion.lua --path " .. NODIR, "option '--path': folder '" .. NODIR .. "' does not exist" },
  { "fewshot_fashion.lua --path " .. AFILE, "option '--path': '" .. AFILE .. "' is not a folder" },
  { "fewshot_fashion.lua --path " .. EMPTY, NOT_FOUND },
  { "learning_curve.lua --supervised none --simclr none --path " .. EMPTY, NOT_FOUND },
  { "transfer_fashion.lua --path " .. EMPTY, NOT_FOUND },
  { "optimizers.lua --path " .. EMPTY, NOT_FOUND },
  { "transfer_fashion.lua --no-records --backbone " .. NODIR .. "/x.safetensors",
    "transfer_fashion.lua: " .. NODIR .. "/x.safetensors: cannot open (No such file or directory)\n" },
  { "pretrain_backbone.lua --out " .. AFILE .. " --path " .. EMPTY, NOT_FOUND },
  -- 5. output files
  { "fewshot_fashion.lua --json /tmp", "option '--json': '/tmp' is a folder, not a file" },
  { "fewshot_fashion.lua --json " .. NODIR .. "/x.json", "folder '" .. NODIR .. "' does not exist" },
  { "optimizers.lua --json " .. NODIR .. "/x.json", "folder '" .. NODIR .. "' does not exist" },
  { "transfer_fashion.lua --json " .. NODIR .. "/x.json", "folder '" .. NODIR .. "' does not exist" },
  -- 7. the records folder
  { "fewshot_fashion.lua --root ''", "option '--root': an empty path" },
  { "fewshot_fashion.lua --root " .. AFILE, "option '--root': '" .. AFILE .. "' exists and is not a folder" },
  { "fewshot_fashion.lua --root " .. AFILE .. "/sub", "'" .. AFILE .. "' is not a folder" },
  { "optimizers.lua --root ''", "option '--root': an empty path" },
  -- K larger than the smallest class of the pool the K-shot sets come from (checked once the labels are read)
  { "fewshot_fashion.lua --k 5,7000", "--k 7000: the training set has only 6000 images in its smallest class" },
  { "fewshot_fashion.lua --dev --k 5500", "--k 5500: the development pool (training images 0..49999) has only 4950" },
  -- 8. output paths in folders that do not exist
  { "pretrain_backbone.lua --out " .. NODIR .. "/x.st", "folder '" .. NODIR .. "' does not exist" },
  { "learning_curve.lua --svg " .. NODIR .. "/x.svg", "folder '" .. NODIR .. "' does not exist" },
  { "learning_curve.lua --json " .. NODIR .. "/x.json", "folder '" .. NODIR .. "' does not exist" },
  -- maml_fashion.lua: checked before the data is read
  { "maml_fashion.lua --orders first,third", "option '--orders'" },
  { "maml_fashion.lua --inner-lr 0", "option '--inner-lr': must be a finite number > 0" },
  { "maml_fashion.lua --meta-lr -1", "option '--meta-lr': must be a finite number > 0" },
  { "maml_fashion.lua --shots 1,1", "option '--shots': 1 is given twice" },
  { "maml_fashion.lua --base 0,1,5", "class 5 is listed twice (base and novel must be disjoint)" },
  { "maml_fashion.lua --novel 5,6,7", "--way 5 is more than the 3 novel classes" },
  { "maml_fashion.lua --json " .. NODIR .. "/x.json", "folder '" .. NODIR .. "' does not exist" },
}

describe("scripts reject bad arguments up front", function()
  for _, c in ipairs(CASES) do
    it(c[1], function()
      local name = c[1]:match("^(%S+)")
      local out, err, code = run(q("scripts/" .. name) .. c[1]:sub(#name + 1))
      assert.are.equal(2, code, err)
      assert.truthy(err:find(name .. ": ", 1, true), err)
      assert.truthy(err:find(c[2], 1, true), "expected '" .. c[2] .. "' in: " .. err)
      assert.falsy(err:find("traceback", 1, true), err)
      assert.are.equal("", out)
    end)
  end

  it("creates no folder for an output file", function()
    run("scripts/learning_curve.lua --svg " .. NODIR .. "/x.svg")
    assert.is_nil(lfs.attributes(NODIR))
  end)

  it("--help shows the constraints", function()
    local out = run("scripts/learning_curve.lua --help")
    assert.truthy(out:find("(each 1..6000, no repeats)", 1, true), out)
    assert.truthy(out:find("(its folder must exist)", 1, true), out)
    out = run("scripts/fewshot_fashion.lua --help")
    assert.truthy(out:find("(each >= 2, no repeats)", 1, true), out)
    assert.truthy(out:find("(created if missing)", 1, true), out)
    assert.truthy(out:find("(an existing folder)", 1, true), out)
  end)
end)

describe("kshot.cli constraints", function()
  local function parser(extra)
    local options = {
      { "--k", "K values", type = "list:integer", default = { 5 }, min = 1, max = 9, unique = true },
      { "--n", "a count", type = "integer", min = 0 },
      { "--lr", "a rate", type = "number", min = 0, max = 1 },
      { "--names", "names", type = "list:string", unique = true },
      { "--json", "output", path = "out_file" },
      { "--svg", "picture", path = "out_file", special = { "none" } },
      { "--root", "records", path = "dir" },
      { "--data", "data", path = "in_dir" },
      { "--even", "an even number", type = "integer", check = function(v) if v % 2 ~= 0 then return "odd" end end },
    }
    for _, o in ipairs(extra or {}) do options[#options + 1] = o end
    return cli.new { name = "demo.lua", options = options }
  end
  local function err_of(argv)
    local ok, e = pcall(parser().try_parse, parser(), argv)
    assert.is_false(ok, "accepted: " .. table.concat(argv, " "))
    return e
  end

  it("accepts values within the constraints", function()
    local d = tmpname()
    os.remove(d)
    local a = parser():try_parse { "--k", "1,9", "--n", "0", "--lr", "1", "--names", "a,b", "--json", d,
      "--svg", "none", "--root", d .. "/sub", "--data", "/tmp", "--even", "4" }
    assert.are.same({ 1, 9 }, a.k)
    assert.are.equal(0, a.n)
    assert.are.equal(1, a.lr)
    assert.are.equal("none", a.svg)
    assert.are.equal(4, a.even)
    assert.is_nil(lfs.attributes(d), "the out_file check left the file behind")
  end)

  it("leaves defaults unchecked", function()
    local p = cli.new { name = "d.lua", options = { { "--n", "n", type = "integer", default = -1, min = 0 } } }
    assert.are.equal(-1, p:try_parse({}).n)
  end)

  it("rejects values out of range, naming the option, the value and the bound", function()
    assert.are.equal("demo.lua: option '--k': 0 is below the minimum 1", err_of { "--k", "3,0" })
    assert.are.equal("demo.lua: option '--k': 10 is above the maximum 9", err_of { "--k", "10" })
    assert.are.equal("demo.lua: option '--n': -1 is below the minimum 0", err_of { "--n", "-1" })
    assert.are.equal("demo.lua: option '--lr': 1.5 is above the maximum 1", err_of { "--lr", "1.5" })
  end)

  it("rejects repeated list items", function()
    assert.are.equal("demo.lua: option '--k': 2 is given twice", err_of { "--k", "2,3,2" })
    assert.are.equal("demo.lua: option '--names': a is given twice", err_of { "--names", "a, a" })
  end)

  it("checks paths", function()
    local f = tmpname()
    assert.truthy(err_of { "--json", "/tmp" }:find("'/tmp' is a folder, not a file", 1, true))
    assert.truthy(err_of { "--json", "/nonexistent_kshot/x" }:find("folder '/nonexistent_kshot' does not exist", 1, true))
    assert.truthy(err_of { "--json", f .. "/x" }:find("'" .. f .. "' is not a folder", 1, true))
    assert.truthy(err_of { "--svg", "" }:find("option '--svg': an empty path", 1, true))
    assert.truthy(err_of { "--root", "" }:find("option '--root': an empty path", 1, true))
    assert.truthy(err_of { "--root", f }:find("exists and is not a folder", 1, true))
    assert.truthy(err_of { "--data", "/nonexistent_kshot" }:find("folder '/nonexistent_kshot' does not exist", 1, true))
    assert.truthy(err_of { "--data", f }:find("is not a folder", 1, true))
    spit(f, "keep")
    parser():try_parse { "--json", f }
    assert.are.equal("keep", slurp(f), "an existing file must be left as it was")
  end)

  it("runs check functions", function()
    assert.are.equal("demo.lua: option '--even': odd", err_of { "--even", "3" })
  end)

  it("shows the constraints in --help", function()
    local h = parser():help()
    assert.truthy(h:find("K values (each 1..9, no repeats) (default: 5)", 1, true), h)
    assert.truthy(h:find("a count (>= 0)", 1, true), h)
    assert.truthy(h:find("a rate (0..1)", 1, true), h)
    assert.truthy(h:find("--json <file>", 1, true), h)
    assert.truthy(h:find("output (its folder must exist)", 1, true), h)
    assert.truthy(h:find("records (created if missing)", 1, true), h)
    assert.truthy(h:find("data (an existing folder)", 1, true), h)
  end)

  it("rejects bad declarations", function()
    local function decl(o) return select(2, pcall(cli.new, { name = "d.lua", options = { o } })) end
    assert.truthy(decl { "--s", "s", min = 1 }:find("min needs an integer or number option", 1, true))
    assert.truthy(decl { "--n", "n", type = "integer", max = "9" }:find("max needs an integer or number option", 1, true))
    assert.truthy(decl { "--n", "n", type = "integer", min = 2, max = 1 }:find("min 2 > max 1", 1, true))
    assert.truthy(decl { "--n", "n", type = "integer", unique = true }:find("unique = true needs a list type", 1, true))
    assert.truthy(decl { "--p", "p", path = "file" }:find("path must be", 1, true))
    assert.truthy(decl { "--p", "p", type = "integer", path = "dir" }:find("path must be", 1, true))
    assert.truthy(decl { "--p", "p", check = 1 }:find("check must be a function", 1, true))
    assert.truthy(decl { "--p", "p", special = "none" }:find("special must be a list", 1, true))
  end)

  it("check_path checks a path the script derives itself", function()
    assert.is_true(cli.check_path("in_dir", "/tmp"))
    local ok, why = cli.check_path("out_file", "/nonexistent_kshot/x")
    assert.is_nil(ok)
    assert.truthy(why:find("folder '/nonexistent_kshot' does not exist", 1, true))
    assert.are.equal("an empty path", select(2, cli.check_path("dir", "")))
    assert.has_error(function() cli.check_path("file", "x") end,
      'cli.check_path: kind must be "out_file", "in_file", "in_path", "in_dir" or "dir", got file')
    -- inputs: an existing readable file; a file or a folder
    assert.is_true(cli.check_path("in_file", "Makefile"))
    assert.are.equal("file '/nonexistent_kshot/x.csv' does not exist", select(2, cli.check_path("in_file", "/nonexistent_kshot/x.csv")))
    assert.are.equal("'/tmp' is a folder, not a file", select(2, cli.check_path("in_file", "/tmp")))
    assert.is_true(cli.check_path("in_path", "/tmp"))
    assert.is_true(cli.check_path("in_path", "Makefile"))
    assert.are.equal("'/nonexistent_kshot' does not exist", select(2, cli.check_path("in_path", "/nonexistent_kshot")))
    assert.has_error(function() cli.check_path("dir", 1) end, "cli.check_path: path must be a string, got number")
  end)
end)

describe("kshot.cli exits and cleanup (through the host)", function()
  -- the script makes a temporary folder, writes its name, then ends as told
  local function temp_script(ending)
    return script(([[
local cli = require "kshot.cli"
local args = cli.new { name = "t.lua", options = {} }:parse(arg)
local tmp <close> = cli.temp_dir()
os.execute("mkdir -p '" .. tmp.path .. "/a'")
print(tmp.path)
io.stdout:flush()
%s
]]):format(ending))
  end

  local function check(ending, want_code, want_err)
    local out, err, code = run(q(temp_script(ending)))
    local dir = out:match("^(%S+)")
    assert.truthy(dir, err)
    assert.are.equal(want_code, code, err)
    if want_err then assert.truthy(err:find(want_err, 1, true), err) end
    assert.is_nil(lfs.attributes(dir), dir .. " was left behind")
  end

  it("deletes the temporary folder at the end", function() check("", 0) end)
  it("deletes it on an error", function() check("error('boom')", 1, "boom") end)
  it("deletes it on the interrupt error", function() check("error('interrupted!')", 1, "interrupted!") end)
  it("deletes it through cli.fail, which exits 2 with '<name>: <message>'", function()
    check("cli.fail(args, 'bad %s %d', 'thing', 7)", 2, "t.lua: bad thing 7\n")
  end)
  it("deletes it through cli.exit", function() check("cli.exit(3)", 3) end)
  it("cli.call returns f's results, or fails with its message", function()
    check("assert(select('#', cli.call(args, function() return 1, nil end)) == 2)\n"
      .. "cli.call('other.lua', error, 'no data here', 0)", 2, "other.lua: no data here\n")
  end)
end)

-- small real runs of the scripts (a few seconds each): what they print and compute
describe("scripts' statistics and wording (small runs)", function()
  local stats = require "kshot.stats"
  local json = require "dkjson"
  local function ok_run(args)
    local out, err, code = run(args)
    assert.are.equal(0, code, err)
    return out, err
  end

  it("fewshot_fashion.lua --json: the same results give the same bytes (keys sorted)", function()
    local a, b = tmpname(), tmpname()
    for _, f in ipairs { a, b } do
      ok_run("scripts/fewshot_fashion.lua --preset smoke --seeds 2 --test-size 100 --steps 3 --no-records -q "
        .. "--jobs 1 --threads 1 --json " .. q(f))
    end
    local ja = slurp(a)
    assert.are.equal(ja, slurp(b))
    local k10, k5, reg, set = ja:find('"k10"'), ja:find('"k5"'), ja:find('"regression"'), ja:find('"settings"')
    assert.truthy(k10 and k5 and reg and set and k10 < k5 and k5 < reg and reg < set, ja:sub(1, 200))
  end)

  it("fewshot_fashion.lua --json: per K and recipe the report's means, intervals and tests as fields", function()
    local f = tmpname()
    ok_run("scripts/fewshot_fashion.lua --preset smoke --k 5 --seeds 3 --test-size 100 --steps 3 --no-records -q "
      .. "--jobs 1 --threads 1 --json " .. q(f))
    local j = json.decode(slurp(f))
    local k5 = j.k.k5
    assert.are.equal("accuracy", k5.metric)
    assert.are.equal("baseline", k5.baseline)
    assert.are.equal(1, k5.holm_comparisons)
    assert.are.equal(2, #k5.rows)
    local base, adamw = k5.rows[1], k5.rows[2]
    assert.are.equal("baseline", base.name)
    assert.are.equal("adamw", adamw.name)
    assert.is_true(base.baseline)
    assert.is_nil(base.comparison)
    for _, r in ipairs(k5.rows) do
      local vals = j.regression[r.name .. "_k5_accuracy"]
      local iv = stats.interval(vals)
      assert.are.equal(3, r.n)
      assert.are.equal(0, r.failed)
      assert.are.equal(0, r.not_run)
      assert.are.equal("t", r.interval)
      assert.is_true(math.abs(r.mean - iv.mean) < 1e-9 and math.abs(r.half_width - iv.half) < 1e-9)
      assert.is_true(math.abs(r.lo - iv.lo) < 1e-9 and math.abs(r.hi - iv.hi) < 1e-9)
      -- the same figures as the Markdown table
      local label = r.name .. (r.highest_mean and " **(highest mean)**" or "") .. (r.baseline and " (baseline)" or "")
      -- printed to the half-width's 3 significant digits
      local d = math.max(0, math.min(6, 2 - math.floor(math.log(r.half_width, 10))))
      local cell = ("%." .. d .. "f ± %." .. d .. "f"):format(r.mean, r.half_width)
      assert.truthy(k5.report:find(("| %s | 3 | %s |"):format(label, cell), 1, true), k5.report)
    end
    local c = adamw.comparison
    local base_vals, vals = j.regression.baseline_k5_accuracy, j.regression.adamw_k5_accuracy
    local t, w = stats.paired_t(vals, base_vals), stats.wilcoxon(vals, base_vals)
    assert.are.equal(3, c.pairs)
    assert.is_true(math.abs(c.difference - t.mean_diff) < 1e-9)
    assert.is_true(math.abs(c.t_p - t.p) < 1e-9 and math.abs(c.holm_t_p - t.p) < 1e-9) -- one comparison: Holm = p
    assert.is_true(math.abs(c.wilcoxon_p - w.p) < 1e-9 and math.abs(c.holm_wilcoxon_p - w.p) < 1e-9)
    assert.are.equal(w.exact == true, c.wilcoxon_exact)
    assert.is_number(c.difference_half_width)
    local expect = c.holm_t_p <= 0.05 and (c.difference > 0 and "better" or "worse") or "no significant difference"
    assert.are.equal(expect, c.verdict)
    assert.truthy(k5.report:find("| " .. c.verdict .. " |", 1, true), k5.report)
  end)

  it("transfer_fashion.lua: no interval for 1 episode (n/a, not ± 0.00)", function()
    local out = ok_run("scripts/transfer_fashion.lua --no-backbones --episodes 1 --shots 1 --query 2 --threads 1 -q "
      .. "--no-records")
    assert.truthy(out:find("Student t (sample sd) below 100 episodes, normal (population sd) from 100", 1, true), out)
    assert.truthy(out:find("| pixels UN | %d+%.%d%d ± n/a | 1 |"), out)
    assert.falsy(out:find("± 0.00", 1, true), out)
  end)

  it("transfer_fashion.lua: a Student t interval (sample sd) below 100 episodes", function()
    local jf = tmpname()
    local out = ok_run("scripts/transfer_fashion.lua --no-backbones --episodes 3 --shots 1 --query 2 --threads 1 -q "
      .. "--no-records --json " .. q(jf))
    local rows = json.decode(slurp(jf)).shots.k1.rows
    assert.are.equal(4, #rows)
    local wider = 0
    for _, r in ipairs(rows) do
      assert.are.equal(3, r.n)
      assert.are.equal(3, #r.per_episode)
      local t = stats.interval(r.per_episode, { method = "t" })
      assert.are.equal("t", r.interval)
      assert.is_true(math.abs(r.ci95 - t.half) < 1e-9, r.method)
      assert.truthy(out:find(("| %s | %.2f ± %.2f | 3 |"):format(r.method, t.mean, t.half), 1, true), out)
      -- the old 1.96 * population sd / sqrt(n): 2.7x narrower at n = 3
      local old = 1.96 * stats.sd(r.per_episode, 0) / math.sqrt(3)
      if old > 0 then
        assert.is_true(r.ci95 > 2.6 * old, r.method)
        wider = wider + 1
      end
    end
    assert.is_true(wider > 0, "every method had the same accuracy on the 3 episodes")
  end)

  it("transfer_fashion.lua resumes from its records and prints what a fresh run prints", function()
    local root = tmpname()
    os.remove(root)
    local cmd = "scripts/transfer_fashion.lua --no-backbones --episodes 3 --shots 1,2 --query 2 --threads 1 --root "
      .. q(root)
    local j1, j2 = tmpname(), tmpname()
    local out1, err1 = ok_run(cmd .. " --json " .. q(j1))
    assert.falsy(err1:find("reused", 1, true), err1)
    local rec = json.decode(slurp(root .. "/transfer_fashion.json"))
    local n = 0
    for key, part in pairs(rec.parts) do
      n = n + 1
      assert.truthy(key:find('"part":"pixels"', 1, true), key)
      assert.are.equal(3, #part.correct["pixels L2N"]) -- correct queries per episode, integers
      for _, c in ipairs(part.correct["pixels L2N"]) do assert.is_true(math.type(c) == "integer" and c <= 10) end
    end
    assert.are.equal(2, n, "one part per K")
    local out2, err2 = ok_run(cmd .. " --json " .. q(j2))
    assert.truthy(err2:find("2 part(s) reused from " .. root .. "/transfer_fashion.json", 1, true), err2)
    local function strip(s) return (s:gsub("elapsed %d+ s", "")) end
    assert.are.equal(strip(out1), strip(out2))
    assert.are.equal(slurp(j1), slurp(j2), "the same results give the same JSON bytes")
    local settings = json.decode(slurp(j1)).settings
    assert.are.same({ 1, 2 }, settings.shots)
    assert.are.same({}, settings.backbones)
    -- another seed is another part; --fresh re-runs the recorded ones
    local _, err3 = ok_run(cmd .. " --seed 1")
    assert.falsy(err3:find("reused", 1, true), err3)
    local _, err4 = ok_run(cmd .. " --fresh")
    assert.falsy(err4:find("reused", 1, true), err4)
    -- a damaged record file is a clear error, not a traceback
    spit(root .. "/transfer_fashion.json", "[1, 2]")
    local out5, err5, code = run(cmd)
    assert.are.equal(2, code, err5)
    assert.truthy(err5:find("transfer_fashion.lua: " .. root .. "/transfer_fashion.json is not a transfer_fashion "
      .. "record file (delete it, or pass --fresh or --no-records)", 1, true), err5)
    assert.falsy(err5:find("traceback", 1, true), err5)
    assert.are.equal("", out5)
    os.execute("rm -rf " .. q(root))
  end)

  it("transfer_fashion.lua: the reference check needs an interval narrow enough to tell", function()
    local base = "scripts/transfer_fashion.lua --no-backbones --shots 1 --threads 1 -q --no-records "
    local out = ok_run(base .. "--episodes 3")
    assert.truthy(out:find("reference check: raw%-pixel L2N [%d.]+ ± [%d.]+ vs about 59 in the reference setup: "
      .. "not checkable at 3 episodes %(the reference is (%a+) the 95%% interval; within 2 points needs a "
      .. "half%-width <= 2%)"), out)
    assert.falsy(out:find("NOT reproduced", 1, true), out)
    -- only the reference setup's novel classes 5-9 are checked (not any split whose first novel class is 5)
    out = ok_run(base .. "--episodes 2 --novel 5,0,1,2,3 --base 4,6,7,8,9")
    assert.falsy(out:find("reference check", 1, true), out)
    out = ok_run(base .. "--episodes 2 --novel 9,8,7,6,5")
    assert.truthy(out:find("reference check", 1, true), out)
  end)

  it("optimizers.lua --smoke: explicit --seeds / --steps / --test-size win; the rate column is 'lr'", function()
    local out = ok_run("scripts/optimizers.lua --smoke --seeds 2 --steps 5 --test-size 200 --no-records --threads 1 -q")
    assert.truthy(out:find("# Experiment `optimizers-k10-test200-steps5`", 1, true), out)
    assert.truthy(out:find("4 configurations x 2 replicates", 1, true), out)
    assert.truthy(out:find("| failed |", 1, true), out)
    assert.truthy(out:find("| lr |", 1, true), out)
    assert.falsy(out:find("lr (mean)", 1, true), out)
  end)

  it("optimizers.lua: a run of fewer replicates writes report-<id>.md and leaves the folder's report.md", function()
    local root = tmpname()
    os.remove(root)
    assert(lfs.mkdir(root))
    local cmd = "scripts/optimizers.lua --smoke --steps 20 --test-size 100 --threads 1 -q --root " .. q(root)
    ok_run(cmd .. " --seeds 2")
    local out = ok_run(cmd .. " --seeds 1")
    local dir = root .. "/optimizers-k10-test100-steps20"
    assert.truthy(slurp(dir .. "/report.md"):find("4 configurations x 2 replicates", 1, true))
    local sub
    for f in lfs.dir(dir) do sub = sub or f:match("^report%-(%x+)%.md$") end
    assert.truthy(sub, "no report-<id>.md")
    assert.truthy(slurp(dir .. "/report-" .. sub .. ".md"):find("4 configurations x 1 replicates", 1, true))
    assert.truthy(out:find(dir .. "/range_test-" .. sub .. ".svg", 1, true), out)
    assert.truthy(out:find(dir .. "/comparison-" .. sub .. ".svg", 1, true), out)
    os.execute("rm -rf " .. q(root))
  end)

  it("optimizers.lua: the report says the task and how lr was chosen; the range plot has loss values", function()
    local root = tmpname()
    os.remove(root)
    assert(lfs.mkdir(root))
    local out = ok_run("scripts/optimizers.lua --smoke --seeds 2 --steps 20 --test-size 100 --threads 1 -q --root "
      .. q(root))
    local dir = root .. "/optimizers-k10-test100-steps20"
    local report = slurp(dir .. "/report.md")
    assert.truthy(report:find("# Experiment `optimizers-k10-test100-steps20`\n\nTask: Fashion-MNIST, K = 10 labelled "
      .. "training images per class (100 images, a stratified draw per replicate), an MLP 784-128-10 trained 20 steps",
      1, true), report)
    assert.truthy(report:find("`accuracy`: % correct on the first 100 test images.", 1, true), report)
    assert.truthy(report:find("range test (50 steps, lr 1e-5 to 10; range_test.svg) on a separate K-shot draw", 1,
      true), report)
    assert.truthy(out:find(report, 1, true), "the printed report is the saved one")
    local svg = slurp(dir .. "/range_test.svg")
    assert.truthy(svg:find("smoothed training loss (cross-entropy)</text>", 1, true), svg)
    assert.truthy(svg:find("learning rate (log scale)</text>", 1, true), svg)
    local _, dashed = svg:gsub('stroke%-dasharray="4 3"', "")
    assert.are.equal(4, dashed, "one dashed line per optimizer's training rate")
    os.execute("rm -rf " .. q(root))
  end)

  it("optimizers.lua resumes from its records; --fresh re-runs them", function()
    local root = tmpname()
    os.remove(root)
    assert(lfs.mkdir(root))
    local cmd = "scripts/optimizers.lua --smoke --seeds 2 --steps 20 --test-size 100 --threads 1 -q --root " .. q(root)
    local first = ok_run(cmd)
    local dir = root .. "/optimizers-k10-test100-steps20"
    -- a run that was interrupted has no record.json; a recorded one is marked to see whether it is re-run
    local lost = dir .. "/SGD/rep-1/record.json"
    local before = slurp(lost)
    assert(os.remove(lost))
    local marked = dir .. "/GD/rep-0/curve.csv"
    spit(marked, slurp(marked) .. "# marker\n")
    local again = ok_run(cmd)
    assert.are.equal(before, slurp(lost), "the missing run was re-run to the same record")
    assert.truthy(slurp(marked):find("# marker", 1, true), "a recorded run was re-run without --fresh")
    assert.are.equal(first, again)
    ok_run(cmd .. " --fresh")
    assert.falsy(slurp(marked):find("# marker", 1, true), "--fresh did not re-run the recorded runs")
    os.execute("rm -rf " .. q(root))
  end)

  local FF = "scripts/fewshot_fashion.lua --preset smoke --k 5 --seeds 1 --steps 2 --test-size 200 --no-records "
    .. "--threads 1 -q"
  it("fewshot_fashion.lua --dev says development images, not test images", function()
    local out = ok_run(FF .. " --dev")
    assert.truthy(out:find("## Summary: development accuracy % (mean ± 95% Student-t", 1, true), out)
    assert.truthy(out:find("; 200 development images (training rows 50000+); ", 1, true), out)
    assert.falsy(out:find("test accuracy", 1, true), out)
    assert.falsy(out:find("full test set", 1, true), out)
    assert.falsy(out:find("BEST", 1, true), out)
  end)

  it("fewshot_fashion.lua without --dev keeps its test-set wording", function()
    local out = ok_run(FF)
    assert.truthy(out:find("## Summary: test accuracy % (mean ± 95% Student-t half-width over the replicates)\n", 1, true), out)
    assert.truthy(out:find("replicates 0 (report replicates, not used to choose best_recipe); 200 test images; 2 steps "
      .. "of batch 32; records under (temporary)/\nreference (protocol note, 10 seeds, full test set): ", 1, true), out)
  end)

  it("fewshot_fashion.lua --help describes every preset and says best_recipe", function()
    local out = ok_run("scripts/fewshot_fashion.lua --help")
    for _, s in ipairs { "default: baseline, the tricks one at a time", "tricks: the default preset without best_recipe",
      "best: baseline and best_recipe", "smoke: baseline and adamw", "candidates: the development recipes" } do
      assert.truthy(out:find(s, 1, true), s .. " in: " .. out)
    end
    assert.falsy(out:find("BEST", 1, true), out)
  end)

  it("learning_curve.lua: the supervised backbone's caveat under the table, 'elapsed N s'", function()
    local out = ok_run("scripts/learning_curve.lua --k 1 --seeds 1 --no-scratch --simclr none --test-size 50 "
      .. "--base-size 20 --heads CL2N --svg none --threads 1 -q")
    -- 1 seed: no interval, and the header does not promise one
    assert.truthy(out:find("\n1 seed: the accuracy of one K%-shot draw, no interval %(%-%-seeds 2 or more for one%); "
      .. "elapsed %d+ s\n"), out)
    assert.falsy(out:find("t interval", 1, true), out)
    assert.truthy(out:find("| supervised %+ CL2N | [%d.]+ |\n\nCaveat: the supervised backbone was pretrained on the "
      .. "base classes' labelled training images %(classes 0%-4, about 27,000 labelled images%)"), out)
    out = ok_run("scripts/learning_curve.lua --k 1 --seeds 2 --no-scratch --simclr none --test-size 50 "
      .. "--base-size 20 --heads CL2N --svg none --threads 1 -q")
    assert.truthy(out:find("\nmean ± 95% t interval over 2 seeds (sample sd, ddof = 1); elapsed ", 1, true), out)
  end)

  it("learning_curve.lua finds its default backbones from any folder; says what simclr saw; JSON null", function()
    local bin = KSHOT:sub(1, 1) == "/" and KSHOT or lfs.currentdir() .. "/" .. KSHOT
    local jf = tmpname()
    local o, e = tmpname(), tmpname()
    local _, _, code = os.execute(("cd /tmp && %s %s --k 1 --seeds 1 --no-scratch --test-size 50 --base-size 20 "
      .. "--heads CL2N --svg none --threads 1 -q --json %s >%s 2>%s"):format(q(bin),
      q(lfs.currentdir() .. "/scripts/learning_curve.lua"), q(jf), q(o), q(e)))
    local out = slurp(o)
    assert.are.equal(0, code, slurp(e))
    assert.truthy(out:find("/scripts/../models/fashion_resnet_simclr.safetensors\n", 1, true), out)
    assert.truthy(out:find("\nCaveat: the simclr backbone was pretrained without labels on all 60,000 training "
      .. "images, the K-shot images among them (never on test images).", 1, true), out)
    assert.truthy(out:find("(classes 0-4, about 27,000 labelled images)", 1, true), out)
    local r = json.decode(slurp(jf), 1, json.null)
    assert.are.equal(2, #r.series)
    assert.are.equal(json.null, r.series[1].half[1], "1 seed: half is null, not a missing entry")
  end)

  it("linear_regression.lua defines final_loss and distance", function()
    local out = ok_run("scripts/linear_regression.lua")
    assert.truthy(out:find("\nfinal_loss: mean squared error of the fitted (W, b) on the training data", 1, true), out)
    assert.truthy(out:find("\ndistance: Euclidean distance of (W, b), all 8 numbers, to the closed-form least-squares "
      .. "solution", 1, true), out)
  end)

  it("record_baselines.lua runs from another folder; an unknown recipe lists the known ones", function()
    local lfs_ = require "lfs"
    local cwd = lfs_.currentdir()
    local bin = KSHOT:sub(1, 1) == "/" and KSHOT or cwd .. "/" .. KSHOT
    local function from_tmp(args)
      local out, err = tmpname(), tmpname()
      local _, _, code = os.execute(("cd /tmp && env -u LUA_INIT -u LUA_INIT_5_4 %s %s %s >%s 2>%s"):format(q(bin),
        q(cwd .. "/scripts/record_baselines.lua"), args, q(out), q(err)))
      return slurp(out), slurp(err), code
    end
    local out, err, code = from_tmp("--help")
    assert.are.equal(0, code, err)
    assert.truthy(out:find("Usage: record_baselines.lua", 1, true), out)
    assert.truthy(out:find("run every recipe as usual (slow) and print the diff, but write nothing", 1, true), out)
    out, err, code = from_tmp("--only nosuch")
    assert.are.equal(2, code, err)
    assert.truthy(err:find("record_baselines.lua: unknown recipe 'nosuch' (known recipes: fewshot_fashion, "
      .. "linear_sgd_fashion, maml_fashion, optimizers, own_data, transfer_fashion)", 1, true), err)
    assert.falsy(err:find("traceback", 1, true), err)
  end)
end)
