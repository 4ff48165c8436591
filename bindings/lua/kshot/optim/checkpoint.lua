--- Checkpoints of optimizer (and scheduler) state in safetensors files.
--
-- A state_dict is a nested Lua table of tensors, numbers, booleans and
-- strings. to_tensors flattens it: tensors go to the tensor table under
-- dotted names ("optim.state.#0.exp_avg"), everything else to the string
-- metadata of the file, typed and exact ("n:0.001" with %.17g, "b:true",
-- "s:strong_wolfe", "t:0.9,0.999" for number lists, "T:k1,k2,..." listing a
-- table's keys, integer keys written "#0"). from_tensors rebuilds the table.
--
--   optim.save_checkpoint(path, {model = model, optimizer = opt, scheduler = sched,
--                                epoch = epoch, best = best_state, rng = ks.get_rng_state()})
--   local extra = optim.load_checkpoint(path, {model = model, optimizer = opt, scheduler = sched})
--   -- extra.epoch, extra.best (name -> tensor), extra.rng: what torch.load(path)["epoch"] ... gives
-- The model's tensors are stored under "model.<name>" (its state_dict names).
-- model, optimizer and scheduler are objects (their state_dict() is saved; a
-- state_dict table is taken as it is). Every other entry is a plain value saved
-- as it is, under "extra.<key>": numbers (integers stay integers), booleans,
-- strings (RNG states: ks.get_rng_state(), g:get_state()), tensors and nested
-- tables of them (a cloned state_dict for the best weights); load_checkpoint
-- returns them as one table, {} for a file without any. An object among them
-- (a module, an optimizer, a generator) is an error that says what to store.
local ks = require "kshot"
local options = require "kshot.options"

local C = {}

local function fmt_number(v)
  if math.type(v) == "integer" then return string.format("%d", v) end
  if v ~= v then return "nan" end
  if v == math.huge or v == -math.huge then return v > 0 and "inf" or "-inf" end
  return string.format("%.17g", v)
end

local SPECIAL = {nan = 0 / 0, inf = math.huge, ["-inf"] = -math.huge}
local function parse_number(s, key)
  local v = tonumber(s)
  if v == nil then v = SPECIAL[s] end
  if v == nil then error(string.format("load: malformed number '%s' in the metadata of '%s'", s, key), 0) end
  return v
end

-- "#3" -> 3, "name" -> "name"
local function parse_key(kt, key)
  if kt:sub(1, 1) ~= "#" then return kt end
  local k = math.tointeger(tonumber(kt:sub(2)))
  if k == nil then error(string.format("load: malformed integer key '%s' in the metadata of '%s'", kt, key), 0) end
  return k
end

local function is_number_list(t)
  local n = 0
  for _ in pairs(t) do n = n + 1 end
  if n == 0 or n ~= #t then return false end
  for i = 1, n do if type(t[i]) ~= "number" then return false end end
  return true
end

local function flatten(v, key, tensors, meta)
  local tv = type(v)
  -- keys may hold '.' (state_dict names), so {["a.b"] = x, a = {b = y}} would map both to one name
  if tensors[key] ~= nil or meta[key] ~= nil then
    error(string.format("save: two entries are stored under the name '%s' (a key with '.' and a nested table)", key), 0)
  end
  if ks.is_tensor(v) then
    tensors[key] = v:detach():contiguous()
  elseif tv == "number" then
    meta[key] = "n:" .. fmt_number(v)
  elseif tv == "boolean" then
    meta[key] = "b:" .. tostring(v)
  elseif tv == "string" then
    meta[key] = "s:" .. v
  elseif tv == "table" then
    if getmetatable(v) ~= nil and type(v.state_dict) == "function" then
      error(string.format("save: '%s' is an object: store its state_dict()", key), 0)
    end
    if is_number_list(v) then
      local parts = {}
      for i, x in ipairs(v) do parts[i] = fmt_number(x) end
      meta[key] = "t:" .. table.concat(parts, ",")
      return
    end
    local keys = {}
    for k in pairs(v) do
      local kt = math.type(k) == "integer" and ("#" .. k) or k
      if type(kt) ~= "string" or kt == "" or kt:find(",", 1, true) or (kt == k and kt:sub(1, 1) == "#") then
        error(string.format("save: cannot store key %s of '%s' (integers or non-empty strings without ',' that do not start with '#')",
          tostring(k), key), 0)
      end
      keys[#keys + 1] = kt
    end
    table.sort(keys)
    meta[key] = "T:" .. table.concat(keys, ",")
    for _, kt in ipairs(keys) do
      local k = kt:sub(1, 1) == "#" and math.tointeger(tonumber(kt:sub(2))) or kt
      flatten(v[k], key .. "." .. kt, tensors, meta)
    end
  elseif v ~= nil then
    error(string.format("save: cannot store a %s at '%s'", tv, key), 0)
  end
end

--- (state_dict, prefix) -> tensors, metadata (string -> string)
function C.to_tensors(sd, prefix, tensors, meta)
  tensors, meta = tensors or {}, meta or {}
  flatten(sd, prefix or "optim", tensors, meta)
  return tensors, meta
end

local function unflatten(key, tensors, meta)
  local m = meta[key]
  if m == nil then
    if tensors[key] == nil then error(string.format("load: checkpoint has no entry '%s'", key), 0) end
    return tensors[key]
  end
  if tensors[key] ~= nil then error(string.format("load: '%s' is both a tensor and a metadata entry", key), 0) end
  local tag, body = m:sub(1, 2), m:sub(3)
  if tag == "n:" then return parse_number(body, key) end
  if tag == "b:" then
    if body ~= "true" and body ~= "false" then
      error(string.format("load: malformed boolean '%s' in the metadata of '%s' (true or false expected)", body, key), 0)
    end
    return body == "true"
  end
  if tag == "s:" then return body end
  if tag == "t:" then
    local out = {}
    for x in body:gmatch("[^,]+") do out[#out + 1] = parse_number(x, key) end
    return out
  end
  if tag == "T:" then
    local out = {}
    for kt in body:gmatch("[^,]+") do
      out[parse_key(kt, key)] = unflatten(key .. "." .. kt, tensors, meta)
    end
    return out
  end
  error(string.format("load: malformed metadata for '%s': %q (expected a n:, b:, s:, t: or T: tag)", key, m), 0)
end

--- (tensors, metadata, prefix) -> state_dict
function C.from_tensors(tensors, meta, prefix)
  return unflatten(prefix or "optim", tensors, meta or {})
end

local function check_parts(fname, parts)
  if type(parts) ~= "table" then
    options.raise(fname .. ": expected {model = ..., optimizer = ..., scheduler = ...}, got " .. type(parts))
  end
end

local PARTS = {model = true, optimizer = true, scheduler = true}

-- a value that is an object rather than data: saving it as a table of fields
-- would store its internals (or fail deep inside), so say what to store
local function object_hint(key, v)
  if ks.is_tensor(v) then return nil end
  if type(v) == "table" and type(v.state_dict) == "function" then
    return string.format("'%s' is an object: store %s:state_dict() (and load it back with %s:load_state_dict(extra.%s))",
      key, key, key, key)
  end
  if type(v) == "userdata" and type(v.get_state) == "function" then
    return string.format("'%s' is a generator: store %s:get_state() (and restore it with %s:set_state(extra.%s))",
      key, key, key, key)
  end
  if type(v) == "function" or type(v) == "userdata" or type(v) == "thread" then
    return string.format("'%s' is a %s: only tensors, numbers, booleans, strings and tables of them are stored", key, type(v))
  end
end

-- model / optimizer / scheduler: an object's state_dict(), or a state_dict table given as it is
local function part_state(name, v)
  if type(v) == "table" and type(v.state_dict) == "function" then return (v:state_dict()) end
  if type(v) == "table" and getmetatable(v) == nil then return v end
  options.raise(string.format("save_checkpoint: parts.%s must be an object with state_dict (or its state_dict table), got %s",
    name, ks.is_tensor(v) and "a tensor" or type(v)))
end

--- Write model, optimizer and scheduler state into one safetensors file, with any other entries
-- (epoch, best weights, RNG states, ...): optim.save_checkpoint(path, {model = m, optimizer = opt,
-- scheduler = sched, epoch = 5, best = best_state, rng = ks.get_rng_state()}). The other entries are
-- numbers, booleans, strings, tensors or tables of them; load_checkpoint returns them.
function C.save_checkpoint(path, parts)
  check_parts("save_checkpoint", parts)
  local tensors, meta, extra, n_extra = {}, {}, {}, 0
  for k, v in pairs(parts) do
    if not PARTS[k] then
      if type(k) ~= "string" then
        options.raise("save_checkpoint: entry keys must be strings, got " .. type(k) .. " " .. tostring(k))
      end
      local hint = object_hint(k, v)
      if hint then options.raise("save_checkpoint: " .. hint) end
      extra[k], n_extra = v, n_extra + 1
    end
  end
  if parts.model then
    for k, t in pairs(part_state("model", parts.model)) do
      if not ks.is_tensor(t) then
        options.raise(string.format("save_checkpoint: the model's state_dict entry '%s' is a %s, not a tensor", k, type(t)))
      end
      tensors["model." .. k] = t:contiguous()
    end
  end
  if parts.optimizer then C.to_tensors(part_state("optimizer", parts.optimizer), "optim", tensors, meta) end
  if parts.scheduler then C.to_tensors(part_state("scheduler", parts.scheduler), "sched", tensors, meta) end
  if n_extra > 0 then
    local ok, err = pcall(C.to_tensors, extra, "extra", tensors, meta)
    if not ok then options.raise("save_checkpoint: " .. tostring(err):gsub("^save: ", ""):gsub("'extra%.", "'")) end
  end
  ks.save(path, tensors, meta)
end

-- run fn(...); on error, raise "load_checkpoint: <path>: <message>" (ks.load's messages name the path already)
local function at_file(path, fn, ...)
  local ok, res, res2 = pcall(fn, ...)
  if not ok then
    local msg = tostring(res)
    if msg:sub(1, #path + 2) ~= path .. ": " then msg = path .. ": " .. msg end
    options.raise("load_checkpoint: " .. msg)
  end
  return res, res2
end

--- Load a checkpoint written by save_checkpoint into fresh instances and return its other entries:
-- local extra = optim.load_checkpoint(path, {model = m, optimizer = opt, scheduler = sched}) (extra.epoch, ...;
-- {} when the file has none). Every part is read and checked before anything is written: on error (naming
-- the file) the model, optimizer and scheduler are unchanged.
function C.load_checkpoint(path, parts)
  check_parts("load_checkpoint", parts)
  if type(path) ~= "string" then options.raise("load_checkpoint: argument 'path' must be a string, got " .. type(path)) end
  for k in pairs(parts) do
    if not PARTS[k] then
      -- torch's ckpt["epoch"] is the result here; a key in parts would otherwise be silently ignored
      options.raise(string.format("load_checkpoint: unknown part '%s' (model, optimizer, scheduler); the other saved "
        .. "entries are returned: local extra = optim.load_checkpoint(path, {...}); extra.%s", tostring(k), tostring(k)))
    end
  end
  for _, name in ipairs({"model", "optimizer", "scheduler"}) do
    local v = parts[name]
    if v ~= nil and (type(v) ~= "table" or type(v.load_state_dict) ~= "function") then
      options.raise(string.format("load_checkpoint: parts.%s must be an object with load_state_dict, got %s", name, type(v)))
    end
  end
  local tensors, meta = at_file(path, ks.load, path)
  meta = meta or {}
  local extra = {}
  if meta.extra ~= nil then extra = at_file(path, C.from_tensors, tensors, meta, "extra") end
  local osd, ssd
  if parts.optimizer then
    if meta.optim == nil then at_file(path, error, "no optimizer state in the file (no 'optim' entry)", 0) end
    osd = at_file(path, C.from_tensors, tensors, meta, "optim")
    at_file(path, parts.optimizer.check_state_dict or function() end, parts.optimizer, osd)
  end
  if parts.scheduler then
    if meta.sched == nil then at_file(path, error, "no scheduler state in the file (no 'sched' entry)", 0) end
    ssd = at_file(path, C.from_tensors, tensors, meta, "sched")
    at_file(path, parts.scheduler.check_state_dict or function() end, parts.scheduler, ssd)
  end
  if parts.model then
    local sd = {}
    for k, t in pairs(tensors) do
      if k:sub(1, 6) == "model." then sd[k:sub(7)] = t end
    end
    at_file(path, parts.model.load_state_dict, parts.model, sd) -- checks every entry before copying any
  end
  if osd then at_file(path, parts.optimizer.load_state_dict, parts.optimizer, osd) end
  if ssd then at_file(path, parts.scheduler.load_state_dict, parts.scheduler, ssd) end
  return extra
end

return C
