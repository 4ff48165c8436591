--- record_baselines.lua: re-record spec/baselines.json on purpose (`make baselines`).
--
-- Runs every regression recipe of spec/helpers/regression.lua (or the ones
-- named with --only), writes their values over the seeds, mean, sd and
-- tolerance to spec/baselines.json, and prints the diff against the old file.
-- Run from the repository root: kshot scripts/record_baselines.lua [--only a,b] [--dry-run]
require "kshot" -- puts the kshot.* Lua modules on package.path
local cli = require "kshot.cli"
local regression = require "spec.helpers.regression"

local args = cli.new {
  name = "record_baselines.lua",
  description = "Re-record the regression baselines (spec/baselines.json) and print the diff.",
  options = {
    { "--only", "recipes to record, comma-separated (default: all)", type = "list:string", unique = true },
    { "--dry-run", "print the diff without writing the file", type = "flag" },
    { "--file", "baselines file", default = regression.BASELINES, path = "out_file" },
  },
}:parse(arg)

local old = regression.load(args.file)
local new = {}
for k, v in pairs(old) do new[k] = v end
local names = args.only
if not names then
  names = {}
  for k in pairs(regression.recipes) do names[#names + 1] = k end
  table.sort(names)
end
for _, name in ipairs(names) do -- every name checked before the first (slow) recording
  if not regression.recipes[name] then cli.fail(args, "unknown recipe '%s'", name) end
end
for _, name in ipairs(names) do
  io.stderr:write(("recording %s ...\n"):format(name))
  new[name] = regression.entry(regression.measure(name), regression.recipes[name].points)
end
print(regression.diff(old, new))
if args.dry_run then
  print("(dry run: " .. args.file .. " not written)")
else
  regression.save(new, args.file)
  print("wrote " .. args.file)
end
