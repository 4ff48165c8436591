--- record_baselines.lua: re-record spec/baselines.json on purpose (`make baselines`).
--
-- Runs every regression recipe of spec/helpers/regression.lua (or the ones
-- named with --only), writes their values over the seeds, mean, sd and
-- tolerance to spec/baselines.json, and prints the diff against the old file.
--   kshot scripts/record_baselines.lua [--only a,b] [--dry-run] [--file F]
-- Runs from any folder: the modules and the recipes' paths (scripts/,
-- models/, build/kshot unless $KSHOT_BIN) are found from this script's own
-- path (the recipes run in the repository root); a relative --file (or
-- $KSHOT_BASELINES) is relative to the folder it is started from.
local lfs = require "lfs"
local script_dir = (arg and arg[0] or ""):match("^(.*)/[^/]*$") or "."
local ROOT = script_dir .. "/.."
package.path = ROOT .. "/?.lua;" .. package.path -- spec.helpers.regression
require "kshot" -- puts the kshot.* Lua modules on package.path
local cli = require "kshot.cli"
local regression = require "spec.helpers.regression"

local args = cli.new {
  name = "record_baselines.lua",
  description = "Re-record the regression baselines (spec/baselines.json) and print the diff.",
  options = {
    { "--only", "recipes to record, comma-separated (default: all)", type = "list:string", unique = true },
    { "--dry-run", "run every recipe as usual (slow) and print the diff, but write nothing", type = "flag" },
    { "--file", "baselines file (default: $KSHOT_BASELINES or the repository's spec/baselines.json)",
      path = "out_file" },
  },
}:parse(arg)

-- a relative path given here is relative to the folder the script was started from
local cwd = lfs.currentdir()
local function absolute(p) return p:sub(1, 1) == "/" and p or cwd .. "/" .. p end
local file = args.file or os.getenv("KSHOT_BASELINES")
file = file and absolute(file) or nil
local known = {}
for k in pairs(regression.recipes) do known[#known + 1] = k end
table.sort(known)
local names = args.only or known
for _, name in ipairs(names) do -- every name checked before the first (slow) recording
  if not regression.recipes[name] then
    cli.fail(args, "unknown recipe '%s' (known recipes: %s)", name, table.concat(known, ", "))
  end
end
-- the recipes use paths relative to the repository root
local ok, err = lfs.chdir(ROOT)
if not ok then cli.fail(args, "cannot enter the repository root %s: %s", ROOT, tostring(err)) end
file = file or lfs.currentdir() .. "/" .. regression.BASELINES -- spec/baselines.json of the repository

local old = regression.load(file)
local new = {}
for k, v in pairs(old) do new[k] = v end
for _, name in ipairs(names) do
  io.stderr:write(("recording %s ...\n"):format(name))
  new[name] = regression.entry(regression.measure(name), regression.recipes[name].points)
end
print(regression.diff(old, new))
if args.dry_run then
  print("(dry run: " .. file .. " not written)")
else
  regression.save(new, file)
  print("wrote " .. file)
end
