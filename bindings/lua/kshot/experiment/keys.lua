--- kshot.experiment.keys: how an experiment names and seeds its runs: the
-- seed derived from (experiment seed, text), the folder of a config key and
-- the names reserved for the files beside the run folders.
local M = {}

-- FNV-1a over the bytes, then a splitmix64 finaliser; 63-bit non-negative
local function hash_seed(seed, text)
  local h = 0xcbf29ce484222325 ~ seed
  local s = tostring(seed) .. "|" .. text
  for i = 1, #s do
    h = (h ~ s:byte(i)) * 0x100000001b3
  end
  h = (h ~ (h >> 30)) * 0xBF58476D1CE4E5B9
  h = (h ~ (h >> 27)) * 0x94D049BB133111EB
  h = h ~ (h >> 31)
  return h & 0x7fffffffffffffff
end
M.derive_seed = hash_seed

local function safe_dir(key)
  return (key:gsub("[^%w%.%-_=,+@]", "_"))
end

local MAX_REPLICATES = 1 << 20
-- files the experiment writes next to the run folders (report_files: a
-- selection's report-<id>.md, comparison-<id>.svg and curves-<id>.svg too)
local RESERVED = { ["results.jsonl"] = true, ["report.md"] = true, ["comparison.svg"] = true,
  ["curves.svg"] = true }
local function reserved(folder)
  return RESERVED[folder] or folder:match("^report%-%x+%.md$") or folder:match("^comparison%-%x+%.svg$")
    or folder:match("^curves%-%x+%.svg$")
end

M.derive_seed, M.safe_dir, M.reserved, M.MAX_REPLICATES = hash_seed, safe_dir, reserved, MAX_REPLICATES
return M
