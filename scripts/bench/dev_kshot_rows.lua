--- dev_kshot_rows.lua: print the K-shot training rows of fewshot_fashion.lua's development replicates (or,
-- with --report, of its report replicates), one comma-separated line per replicate, for parity runs in other
-- frameworks (parity_reference_cnn.py).
--   kshot scripts/bench/dev_kshot_rows.lua [--report] K SEED...   (SEED: the "seed" field of a run record)
local ks = require "kshot"
local report = arg[1] == "--report"
if report then table.remove(arg, 1) end
local k = math.tointeger(tonumber(arg[1] or ""))
if not k or #arg < 2 then
  io.stderr:write("usage: kshot scripts/bench/dev_kshot_rows.lua [--report] K SEED... (seeds from runs/<dev experiment>/*/rep-*/record.json)\n")
  os.exit(2)
end
local _, y = ks.data.fashion_mnist { split = "train" }
for i = 2, #arg do
  local seed = math.tointeger(tonumber(arg[i]))
  if not seed then io.stderr:write(("dev_kshot_rows.lua: seed '%s' is not an integer\n"):format(arg[i])) os.exit(2) end
  -- as fewshot_fashion.lua: --dev draws from the first 50,000 training images, report runs from all 60,000,
  -- with the replicate's data seed
  local pool = report and y or y:narrow(0, 0, 50000)
  print(table.concat(ks.data.kshot_indices(pool, k, { seed = seed % 2147483647 }):totable(), ","))
end
