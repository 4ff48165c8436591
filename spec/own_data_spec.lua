-- own_data_spec.lua: scripts/own_data.lua on small synthetic data sets (a
-- CSV of 3 Gaussian classes, a folder of 3 classes of bar images): the
-- report, resume, a separate test set, and the errors a user meets first
-- (exit 2, "own_data.lua: <message>", no traceback, nothing printed on stdout).
-- Runs the host binary spec/helpers/host_process.lua names ($KSHOT_BIN, ...).
local ks = require "kshot" -- puts the kshot.* Lua modules on package.path
local lfs = require "lfs"
local json = require "dkjson"
local fixture = require "spec.helpers.own_data_fixture"
local H = require "spec.helpers.host_process"
local q, slurp, run = H.q, H.slurp, H.run

local DIR = os.tmpname()
os.remove(DIR)
assert(lfs.mkdir(DIR))
teardown(function()
  os.execute("rm -rf " .. q(DIR))
  H.cleanup()
end)
local CSV, TEST_CSV, IMAGES = DIR .. "/plants.csv", DIR .. "/plants_test.csv", DIR .. "/bars"
fixture.csv(CSV)
fixture.csv(TEST_CSV, { seed = 2 })
fixture.images(IMAGES)

local function own_data(a) return run("scripts/own_data.lua " .. a) end

-- the report's rows: recipe -> {n, mean} of the accuracy column, for each "## K = k" section
local function rows_of(out)
  local sections = {}
  for k, body in out:gmatch("## K = (%d+) labelled examples per class\n(.-)\n## Paired") do
    local rows = {}
    for name, n, mean in body:gmatch("\n| (%a+)[^|]* | (%d+) | ([%d.]+)") do
      rows[name] = { n = tonumber(n), mean = tonumber(mean) }
    end
    sections[tonumber(k)] = rows
  end
  return sections
end

describe("own_data.lua on a CSV table", function()
  local root = DIR .. "/runs"
  local cmd = ("--csv %s --label kind --smoke --k 3,5 --root %s"):format(q(CSV), q(root))
  local out, err, code
  setup(function() out, err, code = own_data(cmd) end)

  it("reports every tabular recipe for every K, the baseline first, accuracies in range", function()
    assert.are.equal(0, code, err)
    assert.matches("plants.csv: 60 examples, 4 features per example, 3 classes (alpha: 20, beta: 20, gamma: 20)",
      out, 1, true)
    assert.matches("test set: the examples not drawn", out, 1, true)
    assert.matches("| centroid (baseline) |", out, 1, true)
    assert.not_matches("| cnn", out, 1, true)
    -- one table across K, each cell the report's mean
    local summary = out:match("## Summary: test accuracy.-\n(| recipe | K = 3 | K = 5 |.-)\n\n")
    assert.is_string(summary, out)
    local sections = rows_of(out)
    for _, r in ipairs { "centroid", "logreg", "mlp" } do
      local m3, m5 = summary:match("\n| " .. r .. " | ([%d.]+) ± [%d.]+ | ([%d.]+) ± [%d.]+ |")
      -- the report rounds the mean to its half-width's precision (here 0.1)
      assert.is_true(math.abs(tonumber(m3) - sections[3][r].mean) <= 0.051, summary)
      assert.is_true(math.abs(tonumber(m5) - sections[5][r].mean) <= 0.051, summary)
    end
    for _, k in ipairs { 3, 5 } do
      local rows = sections[k]
      assert.is_table(rows, out)
      for _, r in ipairs { "centroid", "logreg", "mlp" } do
        assert.are.equal(3, rows[r] and rows[r].n, out)
        assert.is_true(rows[r].mean >= 0 and rows[r].mean <= 100, out)
      end
      -- easy data, 3 classes (chance 33%): the logistic regression is far above chance
      assert.is_true(rows.logreg.mean > 75, out)
    end
    assert.matches("Paired comparisons with the baseline `centroid`", out, 1, true)
    assert.matches("Holm", out, 1, true)
    assert.matches("records and reports: " .. root .. "/own_data-plants-k*/", out, 1, true)
    assert.is_table(lfs.attributes(root .. "/own_data-plants-k3/report.md"))
  end)

  it("resumes from its records with an identical report; other data re-runs", function()
    local again, err2, code2 = own_data(cmd)
    assert.are.equal(0, code2, err2)
    assert.are.equal(out, again)
    assert.matches("all 9 runs loaded from the records", err2, 1, true)
    -- the same file name with other rows: the records are stale, every run is made again
    local other = DIR .. "/other/plants.csv"
    assert(lfs.mkdir(DIR .. "/other"))
    fixture.csv(other, { seed = 5 })
    local out3, err3, code3 = own_data(("--csv %s --label kind --smoke --k 3 --root %s"):format(q(other), q(root)))
    assert.are.equal(0, code3, err3)
    assert.not_matches("loaded from the records", err3, 1, true)
    assert.are_not.equal(out:match("| logreg | [^\n]*"), out3:match("| logreg | [^\n]*"))
  end)

  it("writes the accuracies per recipe and replicate to --json", function()
    local path = DIR .. "/out.json"
    local _, e, c = own_data(("--csv %s --label kind --smoke --no-records -q --json %s"):format(q(CSV), q(path)))
    assert.are.equal(0, c, e)
    local j = json.decode(slurp(path))
    for _, r in ipairs { "centroid", "logreg", "mlp" } do
      assert.are.equal(3, #j.regression[r .. "_k5_accuracy"])
    end
  end)

  it("scores a separate --test table and keeps integer class labels apart", function()
    local o, e, c = own_data(("--csv %s --test %s --label kind --smoke --seeds 2 --recipes logreg --no-records -q")
      :format(q(CSV), q(TEST_CSV)))
    assert.are.equal(0, c, e)
    assert.matches("test set: [^\n]*plants_test.csv, 60 examples", o)
    local rows = rows_of(o)[5]
    assert.are.same({ "centroid", "logreg" }, (function()
      local names = {}
      for n in pairs(rows) do names[#names + 1] = n end
      table.sort(names)
      return names
    end)())
    -- integer labels 3, 7, 9 are classes "3", "7", "9" (0..2 inside), not 10 classes
    local int = DIR .. "/ints.csv"
    local src = slurp(CSV):gsub(",alpha,", ",3,"):gsub(",beta,", ",7,"):gsub(",gamma,", ",9,")
    H.spit(int, src)
    o, e, c = own_data(("--csv %s --label kind --smoke --seeds 2 --recipes logreg --no-records -q"):format(q(int)))
    assert.are.equal(0, c, e)
    assert.matches("3 classes (3: 20, 7: 20, 9: 20)", o, 1, true)
  end)
end)

-- a CSV of 3 classes x 20 rows (interleaved, label column "kind" last): 3 signal columns, column c of class c
-- shifted by 2.7 sd, times signal_sd; then `noise` columns of pure noise times noise_sd
local function scales_csv(path, o)
  local g = ks.Generator():manual_seed(o.seed or 1)
  local names, n = { "alpha", "beta", "gamma" }, 3 + o.noise
  local header = {}
  for j = 1, n do header[j] = "x" .. j end
  local lines = { table.concat(header, ",") .. ",kind" }
  for i = 0, 59 do
    local c = i % 3
    local v = ks.randn({ n }, { generator = g }):totable()
    v[c + 1] = v[c + 1] + 2.7
    for j = 1, n do v[j] = ("%.6g"):format(v[j] * (j <= 3 and o.signal_sd or o.noise_sd)) end
    lines[#lines + 1] = table.concat(v, ",") .. "," .. names[c + 1]
  end
  H.spit(path, table.concat(lines, "\n") .. "\n")
end

describe("own_data.lua --scale on a CSV table", function()
  -- UNITS: the signal in columns 1000x smaller than the noise (other units): only column standardisation
  -- sees it. FAINT: 40 columns of nearly constant noise, which standardisation blows up to the signal's size.
  local UNITS, FAINT = DIR .. "/units.csv", DIR .. "/faint.csv"
  scales_csv(UNITS, { signal_sd = 0.001, noise_sd = 1, noise = 6 })
  scales_csv(FAINT, { signal_sd = 1, noise_sd = 0.001, noise = 40 })
  local function run_json(a)
    local path = H.tmpname()
    local o, e, c = own_data(a .. " --smoke --no-records -q --json " .. q(path))
    assert.are.equal(0, c, e)
    return json.decode(slurp(path)), o
  end
  local function scales_of(j, key)
    local list = {}
    for i, u in ipairs(j.scaling[key]) do list[i] = u.scale end
    return list
  end

  it("auto chooses per recipe and replicate by inner CV: column when the columns have other units, "
    .. "global when nearly constant columns would be blown up", function()
    local units = run_json(("--csv %s --label kind --recipes logreg"):format(q(UNITS)))
    assert.are.same({ "column", "column", "column" }, scales_of(units, "centroid_k5"))
    assert.are.same({ "column", "column", "column" }, scales_of(units, "logreg_k5"))
    local faint, text = run_json(("--csv %s --label kind --recipes logreg"):format(q(FAINT)))
    -- nearest mean cannot tell global from none (a uniform scale): the tie goes to global
    assert.are.same({ "global", "global", "global" }, scales_of(faint, "centroid_k5"))
    for _, u in ipairs(faint.scaling.logreg_k5) do
      assert.is_true(u.scale ~= "column" and u.C > 0, text)
    end
    assert.matches("Scaling of the CSV features (--scale auto: chosen by inner cross-validation on the labelled "
      .. "rows), per replicate (0, 1, 2):\n- centroid: global, global, global\n- logreg: ", text, 1, true)
    -- the choice is what the run used: the same accuracies as --scale global; column scores far lower here
    local global = run_json(("--csv %s --label kind --recipes logreg --scale global"):format(q(FAINT)))
    local column, ctext = run_json(("--csv %s --label kind --recipes logreg --scale column"):format(q(FAINT)))
    assert.are.same(global.regression.centroid_k5_accuracy, faint.regression.centroid_k5_accuracy)
    assert.are.same({ "column", "column", "column" }, scales_of(column, "centroid_k5"))
    assert.matches("Scaling of the CSV features (--scale column), per replicate (0, 1, 2):\n", ctext, 1, true)
    local mean = function(t) return (t[1] + t[2] + t[3]) / 3 end
    assert.is_true(mean(faint.regression.centroid_k5_accuracy) > mean(column.regression.centroid_k5_accuracy) + 10,
      text .. ctext)
  end)

  it("auto with K = 1 has no row to hold out: column, as it says", function()
    local j, text = run_json(("--csv %s --label kind --recipes logreg --k 1"):format(q(FAINT)))
    assert.are.same({ "column", "column", "column" }, scales_of(j, "centroid_k1"))
    assert.are.same({ "column", "column", "column" }, scales_of(j, "logreg_k1"))
    assert.matches("(--scale auto: K = 1 leaves no labelled row to hold out, so column)", text, 1, true)
  end)

  it("never looks at the test rows: permuted test labels or other test features leave every choice as it was",
    function()
    local test, perm, feat = DIR .. "/faint_test.csv", DIR .. "/faint_perm.csv", DIR .. "/faint_feat.csv"
    scales_csv(test, { seed = 2, signal_sd = 1, noise_sd = 0.001, noise = 40 })
    -- the same rows, each label moved to the next class
    H.spit(perm, (slurp(test):gsub(",(%a+)\n", { alpha = ",beta\n", beta = ",gamma\n", gamma = ",alpha\n" })))
    -- the same labels (interleaved as in every file), other features
    scales_csv(feat, { seed = 3, signal_sd = 1, noise_sd = 0.001, noise = 40 })
    local cmd = "--csv " .. q(FAINT) .. " --label kind --seeds 4 --test "
    local a, b, c = run_json(cmd .. q(test)), run_json(cmd .. q(perm)), run_json(cmd .. q(feat))
    for _, key in ipairs { "centroid_k5", "logreg_k5", "mlp_k5" } do
      assert.are.equal(4, #a.scaling[key])
      assert.are.same(a.scaling[key], b.scaling[key])
      assert.are.same(a.scaling[key], c.scaling[key])
      -- the test rows did change what was measured
      assert.are_not.same(a.regression[key .. "_accuracy"], b.regression[key .. "_accuracy"])
      assert.are_not.same(a.regression[key .. "_accuracy"], c.regression[key .. "_accuracy"])
    end
    assert.is_true(a.regression.logreg_k5_accuracy[1] > 80 and b.regression.logreg_k5_accuracy[1] < 20)
  end)

  it("records the scaling each run used (and logreg's C); another --scale re-runs", function()
    local root = DIR .. "/scale_runs"
    local cmd = ("--csv %s --label kind --smoke --seeds 2 --recipes logreg -q --root %s"):format(q(FAINT), q(root))
    local _, e, c = own_data(cmd)
    assert.are.equal(0, c, e)
    local dir = root .. "/own_data-faint-k5/"
    for _, r in ipairs { "centroid", "logreg" } do
      for rep = 0, 1 do
        assert.are.equal("auto", json.decode(slurp(("%s%s/rep-%d/config.json"):format(dir, r, rep))).scale)
        local m = json.decode(slurp(("%s%s/rep-%d/record.json"):format(dir, r, rep))).metrics
        assert.are.equal(1, m.scale_column + m.scale_global + m.scale_none)
        assert.are.equal(r == "logreg", m.C ~= nil)
      end
    end
    local out2, e2, c2 = own_data(cmd .. " --scale none")
    assert.are.equal(0, c2, e2)
    assert.not_matches("loaded from the records", e2, 1, true)
    assert.matches("- centroid: none, none\n- logreg: none C=", out2, 1, true)
    local m = json.decode(slurp(dir .. "centroid/rep-0/record.json")).metrics
    assert.are.same({ 0, 0, 1 }, { m.scale_column, m.scale_global, m.scale_none })
  end)
end)

describe("own_data.lua on an image folder", function()
  it("runs the pixel baselines, the CNN and the probe of a backbone", function()
    local out, err, code = own_data(("--images %s --smoke --no-records --backbone %s -q"):format(q(IMAGES),
      "models/fashion_resnet_supervised.safetensors"))
    assert.are.equal(0, code, err)
    assert.matches("bars: 36 examples, 1x12x12 per example, 3 classes (diagonal: 12, horizontal: 12, vertical: 12)",
      out, 1, true)
    local rows = rows_of(out)[5]
    for _, r in ipairs { "centroid", "logreg", "mlp", "cnn", "probe" } do
      assert.are.equal(3, rows[r] and rows[r].n, out)
      assert.is_true(rows[r].mean >= 0 and rows[r].mean <= 100, out)
    end
    -- the bars move from image to image: the CNN sees them, the pixel centroid barely does
    assert.is_true(rows.cnn.mean > rows.centroid.mean + 15, out)
  end)

  it("resizes every image with --size", function()
    local out, err, code = own_data(("--images %s --size 16,20 --k 4 --seeds 2 --recipes cnn --steps 3 "
      .. "--no-records -q"):format(q(IMAGES)))
    assert.are.equal(0, code, err)
    assert.matches("1x16x20 per example", out, 1, true)
  end)
end)

describe("own_data.lua rejects bad input up front", function()
  local MIXED, FLAT, BIG = DIR .. "/mixed", DIR .. "/flat", DIR .. "/big"
  for _, d in ipairs { MIXED, MIXED .. "/a", MIXED .. "/b", FLAT, BIG, BIG .. "/diagonal" } do assert(lfs.mkdir(d)) end
  ks.image.save(MIXED .. "/a/1.png", ks.zeros({ 1, 12, 12 }, "uint8"))
  ks.image.save(MIXED .. "/b/2.png", ks.zeros({ 1, 10, 12 }, "uint8"))
  ks.image.save(FLAT .. "/x.png", ks.zeros({ 1, 12, 12 }, "uint8"))
  ks.image.save(BIG .. "/diagonal/x.png", ks.zeros({ 1, 14, 14 }, "uint8"))
  local BAD_TEST = DIR .. "/bad_test.csv"
  H.spit(BAD_TEST, "f1,f2,kind,f3,f4\n1,2,alpha,3,4\n1,2,delta,3,4\n")
  local CASES = {
    { "", "give --csv FILE --label COLUMN or --images DIR (one of them)" },
    { "--csv " .. DIR .. "/nope.csv --label kind", "option '--csv': file '" .. DIR .. "/nope.csv' does not exist" },
    { "--csv " .. CSV, "--csv needs --label COLUMN" },
    { "--csv " .. CSV .. " --label species", "plants.csv: no column named 'species' in the header" },
    { "--csv " .. CSV .. " --label f1", "non-numeric value 'alpha' (every column but --label must hold numbers)" },
    { "--images " .. DIR .. "/nope", "option '--images': folder '" .. DIR .. "/nope' does not exist" },
    { "--images " .. FLAT, FLAT .. " has no class sub-folders" },
    { "--images " .. MIXED, MIXED .. "/b/2.png is 10x12 but " .. MIXED
      .. "/a/1.png is 12x12 (pass --size H,W to resize every image)" },
    { "--images " .. IMAGES .. " --size 12", "--size takes H,W (two integers), got 1 values" },
    { "--csv " .. CSV .. " --label kind --k 5,20", "--k 20: " .. CSV .. ": too few examples in classes 'alpha' (20), "
      .. "'beta' (20), 'gamma' (20): each needs at least 21 (K to draw + 1 to test)" },
    { "--images " .. IMAGES .. " --test " .. IMAGES .. " --k 13", "--k 13: " .. IMAGES .. ": too few examples in "
      .. "classes 'diagonal' (12), 'horizontal' (12), 'vertical' (12): each needs at least 13 (K)" },
    { "--csv " .. CSV .. " --label kind --test " .. BAD_TEST,
      "bad_test.csv: class 'delta' is not in the training data" },
    { "--images " .. IMAGES .. " --test " .. BIG, "--test " .. BIG .. " has examples of shape {1, 14, 14} but "
      .. IMAGES .. " has {1, 12, 12}" },
    { "--csv " .. CSV .. " --label kind --recipes cnn", "--recipes cnn needs --images" },
    { "--csv " .. CSV .. " --label kind --recipes svm", "option '--recipes'" },
    { "--csv " .. CSV .. " --label kind --scale bogus",
      "option '--scale': 'bogus' is not one of: auto, column, global, none" },
    { "--images " .. IMAGES .. " --scale column", "--scale is for CSV tables: images are scaled to [0, 1]" },
    { "--images " .. IMAGES .. " --recipes probe", "--recipes probe needs --images and --backbone" },
    { "--images " .. IMAGES .. " --backbone " .. CSV .. " --recipes logreg",
      "--backbone is used only by the probe recipe: add probe to --recipes" },
    { "--images " .. IMAGES .. " --backbone " .. DIR .. "/none.safetensors",
      "option '--backbone': file '" .. DIR .. "/none.safetensors' does not exist" },
  }
  for _, c in ipairs(CASES) do
    it(c[1] == "" and "(no input)" or c[1]:gsub(DIR, "<tmp>"), function()
      local out, err, code = own_data(c[1] .. " --no-records -q")
      assert.are.equal(2, code, err)
      assert.truthy(err:find("own_data.lua: ", 1, true), err)
      assert.truthy(err:find(c[2], 1, true), "expected '" .. c[2] .. "' in: " .. err)
      assert.falsy(err:find("traceback", 1, true), err)
      assert.falsy(err:find("%.lua:%d+:"), err)
      assert.are.equal("", out)
    end)
  end
end)
