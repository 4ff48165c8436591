--- kshot.experiment.files: the files of an experiment's records: folders,
-- atomic writes, JSON with sorted keys (the same config gives the same
-- bytes), curve.csv cells and rows, and the run keys listed in results.jsonl.
-- Used by kshot.experiment; errors name the path.
local json = require "dkjson"

local M = {}

local has_lfs, lfs = pcall(require, "lfs")

local function mkdir_p(path)
  if has_lfs then
    local acc = path:sub(1, 1) == "/" and "" or nil
    for part in path:gmatch("[^/]+") do
      acc = acc and (acc .. "/" .. part) or part
      if not lfs.attributes(acc, "mode") then
        local ok, err = lfs.mkdir(acc)
        if not ok and lfs.attributes(acc, "mode") ~= "directory" then
          error(("experiment: cannot create folder '%s': %s"):format(acc, tostring(err)), 0)
        end
      end
    end
  else
    local ok = os.execute(("mkdir -p '%s'"):format(path:gsub("'", "'\\''")))
    if not ok then error(("experiment: cannot create folder '%s'"):format(path), 0) end
  end
end

local function exists(path)
  local f = io.open(path, "rb")
  if f then f:close() return true end
  return false
end

local function read_file(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local s = f:read("a")
  f:close()
  return s
end

-- write whole content to a temporary file then rename (atomic on POSIX)
local function write_atomic(path, content)
  local tmp = path .. ".tmp"
  local f, err = io.open(tmp, "wb")
  if not f then error(("experiment: cannot write '%s': %s"):format(tmp, err), 0) end
  f:write(content)
  f:close()
  local ok, rerr = os.rename(tmp, path)
  if not ok then error(("experiment: cannot rename '%s': %s"):format(tmp, rerr), 0) end
end

local function sorted_keys(t)
  local keys = {}
  for k in pairs(t) do keys[#keys + 1] = k end
  table.sort(keys, function(a, b) return tostring(a) < tostring(b) end)
  return keys
end

-- JSON with keys in sorted order at every level (stable files)
local function encode_sorted(v)
  local order = {}
  local function collect(t)
    if type(t) ~= "table" then return end
    for k, x in pairs(t) do
      if type(k) == "string" then order[#order + 1] = k end
      collect(x)
    end
  end
  collect(v)
  table.sort(order)
  local seen, keyorder = {}, {}
  for _, k in ipairs(order) do
    if not seen[k] then seen[k], keyorder[#keyorder + 1] = true, k end
  end
  return json.encode(v, { indent = true, keyorder = keyorder })
end

local function csv_cell(v)
  if type(v) == "number" then
    if math.type(v) == "integer" then return tostring(v) end
    return ("%.17g"):format(v)
  end
  local s = tostring(v)
  if s:find('[,"\n]') then s = '"' .. s:gsub('"', '""') .. '"' end
  return s
end

local function read_curve(path)
  local s = read_file(path)
  if not s then return nil end
  local rows, header = {}, nil
  for line in s:gmatch("[^\n]+") do
    local cells = {}
    for c in (line .. ","):gmatch("([^,]*),") do cells[#cells + 1] = c end
    if not header then header = cells
    else
      local row = {}
      for i, k in ipairs(header) do row[k] = tonumber(cells[i]) end
      rows[#rows + 1] = row
    end
  end
  return rows, header
end

-- the run keys of results.jsonl's lines (a line that is not a JSON object
-- with a string key is kept as it is and counts for no run)
local function result_keys(text)
  local keys = {}
  for line in (text or ""):gmatch("[^\n]+") do
    local rec = json.decode(line)
    if type(rec) == "table" and type(rec.key) == "string" then keys[rec.key] = true end
  end
  return keys
end

M.has_lfs, M.lfs = has_lfs, lfs
M.mkdir_p, M.exists, M.read_file, M.write_atomic = mkdir_p, exists, read_file, write_atomic
M.sorted_keys, M.encode_sorted, M.csv_cell, M.read_curve, M.result_keys = sorted_keys, encode_sorted, csv_cell,
  read_curve, result_keys
return M
