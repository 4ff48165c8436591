--- kshot.help: documentation at the prompt, read from kshot's own sources
-- (Torch7's trepl had `?`; PyTorch users type help(torch.nn.Linear)).
--
--   help()                  the modules, one line each, and how to ask for more
--   help("nn.Linear")       a name: "nn", "optim.AdamW", "F.cross_entropy",
--                           "ks.zeros", "t:view", "stats.interval", ...; also as
--                           reached from ks or written in PyTorch code:
--                           "ks.nn.init.kaiming_normal_", "nn.functional.relu",
--                           "torch.nn.functional.relu", "torch.Tensor.view"
--   help("SGD")             a bare name: ks.<name>, else the first module that
--                           has it (nn, F, optim, lr_scheduler, data, ...)
--   help(nn.Linear)         a kshot module, class or function (found by
--                           identity among the loaded kshot modules)
--   help(t)                 a tensor: its fields and the names of its methods
--   help(x.sum)             a tensor method, as help("t:sum")
--   help(nil)               says the value is nil (help() is the overview)
--
-- The interactive mode defines the global `help`; scripts can
-- `local help = require "kshot.help"`. help prints the doc comment (a
-- module's header, or the comment block that names the function) and
-- returns nothing; help.text(x) returns that text instead (nil, message when
-- nothing is found). The Lua modules' docs are always there; the C
-- functions' (ks.*, tensor methods, F.*) come from bindings/*.c, read when
-- the source tree sits next to the Lua modules (a checkout), as it does for
-- `make` builds. A name that follows PyTorch with no doc comment of its own
-- (t:sum, ks.add, nn.ReLU, optim.Adam) shows its call shape, a summary, what
-- kshot does differently and the PyTorch name, from kshot.help_signatures
-- (read on first need; spec/help_spec.lua checks it against the code).
local ks = require "kshot"
ks._load_extras() -- the tensor functions written in Lua (loaded on first use) are listed and found too

local M = {}

local PREFIXES = { ks = "kshot", kshot = "kshot", F = "functional", functional = "functional",
  t = "tensor", tensor = "tensor", Tensor = "tensor" }

-- the names PyTorch code gives to what lives in a kshot module: help("lr.StepLR"),
-- help("m:named_parameters"), help("opt:step")
local MODULE_ALIASES = { lr = "kshot.optim.lr_scheduler", lr_scheduler = "kshot.optim.lr_scheduler",
  sched = "kshot.optim.lr_scheduler", scheduler = "kshot.optim.lr_scheduler",
  m = "kshot.nn.module", model = "kshot.nn.module", module = "kshot.nn.module", self = "kshot.nn.module",
  opt = "kshot.optim", optimizer = "kshot.optim", init = "kshot.nn.weight_init", exp = "kshot.experiment" }

-- the PyTorch namespace a kshot module follows (the undocumented names' pointer)
local TORCH_NAMES = { ["kshot"] = "torch", ["kshot.optim"] = "torch.optim",
  ["kshot.optim.lr_scheduler"] = "torch.optim.lr_scheduler", ["kshot.nn"] = "torch.nn",
  ["kshot.nn.module"] = "torch.nn.Module", ["kshot.nn.layers"] = "torch.nn",
  ["kshot.nn.containers"] = "torch.nn", ["kshot.nn.norm_layers"] = "torch.nn",
  ["kshot.nn.losses"] = "torch.nn", ["kshot.nn.functional"] = "torch.nn.functional",
  ["kshot.nn.weight_init"] = "torch.nn.init", ["kshot.dataset"] = "torch.utils.data",
  ["kshot.data"] = "torch.utils.data", ["kshot.nn.utils"] = "torch.nn.utils", ["kshot.linalg"] = "torch.linalg" }

-- the folder holding kshot/*.lua (bindings/lua in a checkout)
local function lua_root()
  local p = package.searchpath("kshot.help", package.path)
  return p and p:gsub("kshot[/\\]help%.lua$", "") or nil
end

-- the sources are read once per session: a lookup scans dozens of files, and
-- a spec (or a user's loop) asks for hundreds of names
local read_cache = {}
local function read(path)
  local cached = read_cache[path]
  if cached ~= nil then return cached or nil end
  local f = io.open(path, "r")
  local s = f and f:read("a")
  if f then f:close() end
  read_cache[path] = s or false
  return s
end

-- (kept per source text: the same files are split for every lookup; callers only read the list)
local lines_cache = {}
local function lines_of(s)
  if lines_cache[s] then return lines_cache[s] end
  local t = {}
  for l in (s .. "\n"):gmatch("(.-)\r?\n") do t[#t + 1] = l end
  lines_cache[s] = t
  return t
end

-- the leading comment block of a Lua file, "-- " markers removed
local function lua_header(src)
  local out = {}
  for _, l in ipairs(lines_of(src)) do
    local body = l:match("^%-%-%-? ?(.*)$")
    if not body then break end
    out[#out + 1] = body
  end
  return #out > 0 and table.concat(out, "\n") or nil
end

-- kshot's Lua modules: name -> file, sorted names (the folder is walked once)
local modules_cache
local function lua_modules()
  if modules_cache then return modules_cache[1], modules_cache[2] end
  local root = lua_root()
  local ok, lfs = pcall(require, "lfs")
  local mods, names = {}, {}
  if not root or not ok then return mods, names end
  local function walk(dir, prefix)
    for f in lfs.dir(dir) do
      local path = dir .. "/" .. f
      if f:match("%.lua$") then
        local name = prefix .. (f == "init.lua" and "" or "." .. f:gsub("%.lua$", ""))
        mods[name] = path
      elseif f ~= "." and f ~= ".." and lfs.attributes(path, "mode") == "directory" then
        walk(path, prefix .. "." .. f)
      end
    end
  end
  walk(root .. "kshot", "kshot")
  for n in pairs(mods) do names[#names + 1] = n end
  table.sort(names)
  modules_cache = { mods, names }
  return mods, names
end

-- the module a user's name means: exact ("optim.lr_scheduler"), an alias
-- ("lr", "m"), any case ("nn.Module"), or the last part of a module name
-- ("lr_scheduler"); a file that is only `return require "x"` stands for x
local function find_module(mods, name)
  local full = name:match("^kshot") and name or "kshot." .. name
  local hit = mods[full] and full or MODULE_ALIASES[name]
  if not hit then
    for n in pairs(mods) do
      if n:lower() == full:lower() then hit = n break end
    end
  end
  if not hit and not name:find("[%.:]") then
    local found = {}
    for n in pairs(mods) do
      if (n:match("%.([%w_]+)$") or ""):lower() == name:lower() then found[#found + 1] = n end
    end
    table.sort(found)
    hit = found[1]
  end
  for _ = 1, 3 do -- follow forwarding files
    local src = hit and mods[hit] and read(mods[hit])
    local target = src and src:match("^%s*return%s+require%s*%(?%s*[\"']([%w_%.]+)[\"']%s*%)?%s*$")
    if not (target and mods[target]) then break end
    hit = target
  end
  return hit and mods[hit] and hit or nil
end

-- the C binding sources (a checkout: bindings/ks_lua_*.c beside bindings/lua)
local c_cache
local function c_sources()
  if c_cache then return c_cache end
  local root = lua_root()
  local ok, lfs = pcall(require, "lfs")
  local files = {}
  if not root or not ok then return files end
  local dir = root .. "../"
  if not lfs.attributes(dir) then return files end
  for f in lfs.dir(dir) do
    if f:match("^ks_lua_.*%.c$") then files[#files + 1] = dir .. f end
  end
  table.sort(files)
  c_cache = files
  return files
end

local function escape(s) return (s:gsub("[%^%$%(%)%%%.%[%]%*%+%-%?]", "%%%1")) end

-- the text of a comment line (Lua "--", C "/*" / " * "), nil for code and
-- for separator lines made only of dashes
local function comment_body(line, c_style)
  local b
  if c_style then
    b = line:match("^%s*/%*+ ?(.*)$") or line:match("^%s*%*+ ?(.*)$")
    b = b and b:gsub("%s*%*/%s*$", "")
  else
    b = line:match("^%s*%-%-%-? ?(.*)$")
  end
  if b and b:match("^%-%-%-%-%-%-") then return nil end -- a separator or section rule
  return b
end

-- a comment line that starts with a signature naming member: "ks.zeros(",
-- "t:view(", "ks.empty/zeros/ones(", "* interval(xs", "Linear(in, out"
local function is_signature(body, member)
  local lead = body:match("^%s*[%*%-]?%s*([%w_%.:/]+)%s*[%(%{]")
  if not lead then return false end
  for part in lead:gmatch("[^/]+") do
    if part == member or part:match("[%.:]([%w_]+)$") == member then return true end
  end
  return false
end

local function indent(s) return #s:match("^%s*") end

-- the signature line and the lines that continue it, at most 30. A Lua
-- "---" doc line starts a doc block: it runs to a blank comment line, code or
-- the next "---" line (so "es:step(metric) once per epoch" inside
-- EarlyStopping's doc belongs to it). Elsewhere (C comments, header lists)
-- a line at the same indent that starts like a call ("ks.ones(") begins the
-- next signature; prose such as ".matrix (int64" or "prints (tostring)" does not.
local function signature_block(L, i, c_style)
  local first = comment_body(L[i], c_style)
  local out, base = { first }, indent(first)
  local doc_block = not c_style and L[i]:match("^%s*%-%-%-") ~= nil
  for j = i + 1, math.min(#L, i + 30) do
    local b = comment_body(L[j], c_style)
    if not b or b == "" or L[j]:match("^%s*%*/") then break end
    if doc_block then
      if L[j]:match("^%s*%-%-%-") then break end
    elseif indent(b) <= base and b:match("^%s*[%*%-]?%s*[%a_][%w_%.:/]*[%(%{]") then
      break
    end
    out[#out + 1] = b
  end
  return table.concat(out, "\n")
end

local DEFS = { "^%s*function%s+[%w_%.]*[%.:]MEMBER%s*%(", "^%s*[%w_%.]*%.MEMBER%s*=", "^%s*local%s+function%s+MEMBER%s*%(",
  "class%(%s*[\"']MEMBER[\"']", ":extend%(%s*[\"']MEMBER[\"']%s*%)", "^%s*function%s+[%w_%.]*%.MEMBER:__init%s*%(" }

-- the comment block right above line i (separators skipped), then the line
local function block_above(L, i)
  local j, out = i - 1, {}
  while j >= 1 and L[j]:match("^%s*%-%-") do
    local b = comment_body(L[j], false)
    if b then table.insert(out, 1, b) end
    j = j - 1
  end
  return #out > 0 and table.concat(out, "\n") or nil
end

-- the documentation of member in one source: a comment signature line first,
-- else (Lua) the comment above its definition
-- the first comment line of L that is a signature of member (only "---"
-- doc lines when doc_only)
local function signature_in(L, member, c_style, doc_only, no_list_items)
  for i, l in ipairs(L) do
    local b = (not doc_only or l:match("^%s*%-%-%-")) and comment_body(l, c_style)
    if b and is_signature(b, member) then
      local block = signature_block(L, i, c_style)
      -- "episode(labels, {...})," in a header's list, "A.random_crop{padding = 2}," in
      -- a usage example: a mention, not the documentation (taken only as a last resort)
      if not (no_list_items and block:match(",%s*$")) then return block end
    end
  end
  return nil
end

-- the documentation of member in one source, best first: a "--- name(" doc
-- line, the comment right above its definition, then (C, or a Lua module
-- header's list or usage example such as "  reg.clip_grad_norm_(model:...)")
-- any comment line that starts with its signature
local function find_block(src, member, c_style, strict)
  local L = lines_of(src)
  if c_style then return signature_in(L, member, true, false) end
  local doc = signature_in(L, member, false, true)
  if doc then return doc end
  local word = escape(member):gsub("%%", "%%%%")
  local found
  for _, d in ipairs(DEFS) do
    local pat = d:gsub("MEMBER", word)
    for i, l in ipairs(L) do
      if l:find(pat) then
        doc = block_above(L, i)
        if doc then return doc end
        found = found or i
      end
    end
  end
  doc = signature_in(L, member, false, false, strict)
  if doc then return doc end
  if found then return nil, L, found end -- undocumented: see undocumented()
  return nil
end

-- a C binding comment documenting exactly ks.<short>.<member> ("ks.data.kshot_indices("),
-- for the Lua modules whose functions come partly from C (data, image, metrics)
local function c_qualified(short, member)
  local want = { ["ks." .. short .. "." .. member] = true, [short .. "." .. member] = true }
  for _, f in ipairs(c_sources()) do
    local L = lines_of(read(f) or "")
    for i, l in ipairs(L) do
      local b = comment_body(l, true)
      local lead = b and b:match("^%s*[%*%-]?%s*([%w_%.:]+)%s*[%(%{]")
      if lead and want[lead] then return signature_block(L, i, true) end
    end
  end
  return nil
end

-- the paragraphs of a module's header that name member (bullets count as
-- paragraphs; the title line does not)
local function header_mentions(src, member)
  local h = lua_header(src or "")
  if not h then return nil end
  local paras, cur = {}, nil
  for i, l in ipairs(lines_of(h)) do
    if i > 1 then
      if l:match("^%s*$") or l:match("^%s*[%*%-] ") then cur = nil end
      if not l:match("^%s*$") then
        if not cur then cur = {} paras[#paras + 1] = cur end
        cur[#cur + 1] = l
      end
    end
  end
  local out, pat = {}, "%f[%w_]" .. escape(member) .. "%f[^%w_]"
  for _, p in ipairs(paras) do
    local text = table.concat(p, "\n")
    if text:find(pat) then out[#out + 1] = text end
  end
  return #out > 0 and table.concat(out, "\n") or nil
end

-- The names whose only doc would be a pointer to PyTorch's have their call
-- shape in kshot.help_signatures, read on the first lookup that needs it (so
-- require "kshot" and help's other answers never load it).
local signatures
local function signature_doc(canon)
  if not canon then return nil end
  signatures = signatures or require "kshot.help_signatures"
  local e = signatures[canon]
  if not e then return nil end
  local out = { e.sig, e[1] }
  if e.kshot then out[#out + 1] = "kshot: " .. e.kshot end
  local torch = e.torch
  if torch == nil then -- t:sum -> torch.Tensor.sum, ks.add -> torch.add, nn.ReLU -> torch.nn.ReLU
    torch = canon:gsub("^t:", "torch.Tensor."):gsub("^ks%.", "torch."):gsub("^(%a)", "torch.%1"):gsub("^torch%.torch%.", "torch.")
  end
  out[#out + 1] = torch and ("PyTorch: %s (the same semantics otherwise)"):format(torch)
    or "kshot's own: PyTorch has no such function."
  return table.concat(out, "\n")
end

-- a definition without a doc comment: its signature, the PyTorch name it
-- follows and what the module's header says about it (not its code);
-- canon is help's name for it ("nn.ReLU"), which may have a signature entry
local function undocumented(L, i, member, modname, mods, canon)
  local line = L[i]
  local target = line:match("=%s*require%s*%(?%s*[\"']([%w_%.]+)[\"']")
  if target and mods[target] then return lua_header(read(mods[target]) or "") end
  local entry = signature_doc(canon)
  if entry then -- (a tensor function's module header is about the whole file, not about it)
    local said = not canon:match("^ks%.") and not canon:match("^t:")
      and header_mentions(read(mods[modname or ""] or "") or "", member)
    return said and ("%s\nFrom the %s header:\n%s"):format(entry, modname, said) or entry
  end
  local sig
  local class_start = line:find("class%(%s*[\"']" .. escape(member) .. "[\"']")
  if class_start then -- class("AdamW", {defaults}, ...): the defaults are the options
    local rest = table.concat(L, "\n", i, math.min(#L, i + 10)):sub(class_start)
    local defaults = rest:match("^class%(%s*[\"'][%w_]+[\"']%s*,%s*(%b{})")
    if defaults then sig = ("%s(params, %s)"):format(member, defaults:gsub("%s+", " ")) end
  end
  if not sig then -- its constructor's or its own parameter list
    for j = i, math.min(#L, i + 3) do
      local args = L[j]:match("function%s+" .. escape(member) .. "[%.:]new%s*%(([^)]*)%)")
        or L[j]:match("function%s+[%w_%.]*[%.:]" .. escape(member) .. "%s*%(([^)]*)%)")
        or L[j]:match("local%s+function%s+" .. escape(member) .. "%s*%(([^)]*)%)")
      if args then sig = ("%s(%s)"):format(member, args) break end
    end
  end
  local torch = TORCH_NAMES[modname or ""]
  local out = { sig or member }
  out[#out + 1] = torch and ("No notes of its own: it follows PyTorch's %s.%s%s."):format(torch, member,
    class_start and " (the same options and defaults)" or "") or "No notes of its own."
  local said = header_mentions(read(mods[modname or ""] or "") or "", member)
  if said then out[#out + 1] = ("From the %s header:\n%s"):format(modname, said) end
  return table.concat(out, "\n")
end

-- the names of a loaded kshot value, found by identity, in sorted order (so
-- the answer does not depend on pairs); a module is named by itself alone
local function names_of(v)
  local names = {}
  for mod, t in pairs(package.loaded) do
    if type(mod) == "string" and mod:match("^kshot") and type(t) == "table" then
      if t == v then return { mod } end
      local short = mod == "kshot" and "ks" or mod:gsub("^kshot%.", "")
      for k, x in pairs(t) do
        if x == v and type(k) == "string" then names[#names + 1] = short .. "." .. k end
      end
    end
  end
  if #names == 0 and type(ks.functional) == "table" then
    for k, x in pairs(ks.functional) do if x == v then names[#names + 1] = "F." .. k end end
  end
  if #names == 0 and type(ks.Tensor) == "table" then -- a tensor method: help(x.sum) as help("t:sum")
    for k, x in pairs(ks.Tensor) do if x == v and type(k) == "string" then names[#names + 1] = "t:" .. k end end
  end
  table.sort(names)
  return names
end

local function name_of(v) return names_of(v)[1] end

--- help.name(v): the name help knows a loaded kshot value by ("nn.Linear", "optim.SGD", "F.relu",
-- "t:sum"), or nil; the REPL prints a class as <class nn.Linear> with it
function M.name(v) return name_of(v) end

-- the value a "module.member" name stands for (nil when it is not loadable)
local function member_value(short, member)
  if not short then return nil end
  local ok, mod = pcall(require, "kshot." .. short)
  if not ok or type(mod) ~= "table" then return nil end
  local okv, v = pcall(function() return mod[member] end)
  return okv and v or nil
end

-- lines after out's: the names joined by spaces, wrapped before 100 columns
local function wrap_names(out, names)
  local line = " "
  for _, n in ipairs(names) do
    if #line + #n + 1 > 100 then out[#out + 1], line = line, " " end
    line = line .. " " .. n
  end
  out[#out + 1] = line
  return table.concat(out, "\n")
end

-- the public members of a module table, as lines of at most 100 columns
-- (a module's header says what it is for; this says what is in it)
local function member_lines(modname)
  local ok, mod = pcall(require, modname)
  if not ok or type(mod) ~= "table" then return nil end
  local names = {}
  for k, v in pairs(mod) do
    if type(k) == "string" and not k:match("^_") and (type(v) == "function" or type(v) == "table") then
      names[#names + 1] = k
    end
  end
  if #names == 0 then return nil end
  table.sort(names)
  local short = modname:gsub("^kshot%.", "")
  return wrap_names({ ("Members (help(\"%s.<name>\") documents one):"):format(short) }, names)
end

-- a module's one-line summary: the header's first sentence (which often
-- runs over two lines), without the module's name, cut at a word boundary
-- with "..." past 90 characters
local function summary(h, name)
  local para = {}
  for l in ((h or "") .. "\n"):gmatch("(.-)\n") do
    if l:match("^%s*$") then break end
    para[#para + 1] = l:gsub("^%s+", "")
  end
  local text = table.concat(para, " "):gsub("^" .. escape(name) .. "[:%s]*", "")
  text = text:match("^(.-%.)%s+%u") or text -- a sentence ends before a capital ("Hu et al. 2021" goes on)
  if #text > 90 then text = text:sub(1, 87):gsub("%s+%S*$", "") .. "..." end
  return text
end

local function overview()
  local mods, names = lua_modules()
  local out = { "kshot: tensors with autograd, nn, optim, data, augment, metrics, stats, experiments.",
    "help(\"name\") or help(value) shows the documentation of a module, class or function, e.g.",
    "  help(\"nn.Linear\")  help(\"optim.AdamW\")  help(\"F.cross_entropy\")  help(\"ks.zeros\")  help(\"t:view\")",
    "Tensor indices, dims and labels are 0-based; t:totable() gives 1-based Lua arrays.", "", "Modules:" }
  for _, n in ipairs(names) do
    local src = read(mods[n]) or ""
    local target = src:match("^%s*return%s+require%s*%(?%s*[\"']([%w_%.]+)[\"']%s*%)?%s*$")
    local first = target and ("the same module as " .. target) or summary(lua_header(src), n)
    if not n:match("%.[%w_]*_check$") then out[#out + 1] = ("  %-32s %s"):format(n, first) end
  end
  return table.concat(out, "\n")
end

-- help(t) / help("tensor"): what a user can do with a tensor (the fields, the
-- methods by name), not the binding's implementation notes
local function tensor_overview()
  local names = {}
  for k in pairs(ks.Tensor) do
    if type(k) == "string" and not k:match("^_") then names[#names + 1] = k end
  end
  table.sort(names)
  local out = { "kshot tensor: a strided view of float32, int64, uint8 or bool elements (PyTorch's torch.Tensor;",
    "indices and dims 0-based). help(\"t:view\") or help(x.view) documents one method.",
    "Fields: requires_grad, grad, grad_fn, is_leaf, retains_grad, ndim, data, T, mT, device, is_cuda.",
    ("Methods (%d; a trailing _ writes in place):"):format(#names) }
  return wrap_names(out, names)
end

-- "nn.Linear" -> the module files to search and the member name
local function resolve(name)
  local mods = lua_modules()
  name = name:gsub("^require%s*%(?%s*[\"']?", ""):gsub("[\"']?%)?$", "")
  local whole = not PREFIXES[name] and find_module(mods, name)
  if whole then return { header = mods[whole], module = whole } end
  local prefix, member = name:match("^(.-)[%.:]([%w_]+)$")
  if not prefix then prefix, member = "ks", name end
  -- ks.linalg.solve is linalg.solve: a kshot module reached from ks
  local sub = prefix:match("^ks%.([%w_]+)$") or prefix:match("^kshot%.([%w_]+)$")
  if sub and mods["kshot." .. sub] then prefix = sub end
  local files = {}
  local kind = PREFIXES[prefix]
  local modfull = not kind and find_module(mods, prefix) or (prefix:match("^kshot") and prefix or "kshot." .. prefix)
  if mods[modfull] then
    files[#files + 1] = { mods[modfull], false, modfull }
    -- a package's other files, the files that register into the module
    -- (lr_scheduler_factor.lua adds to kshot.optim.lr_scheduler) or the
    -- folder of its parts beside it (experiment.lua + experiment/report.lua)
    local _, names = lua_modules()
    for _, n in ipairs(names) do
      local head = n:sub(1, #modfull + 1)
      if head == modfull .. "_" or head == modfull .. "." then files[#files + 1] = { mods[n], false, modfull } end
    end
  end
  if kind == "kshot" or kind == "tensor" then
    -- ks.<name> and tensor methods written in Lua (kshot.tensor_extra installs them)
    for _, n in ipairs({ "kshot.tensor_shape_extra", "kshot.tensor_math_extra" }) do
      if mods[n] then files[#files + 1] = { mods[n], false, n } end
    end
  end
  if kind or #files == 0 then
    for _, f in ipairs(c_sources()) do files[#files + 1] = { f, true } end
    if kind == "functional" or #files == 0 then
      for n, path in pairs(mods) do
        if n:match("^kshot%.nn") or kind ~= "functional" then files[#files + 1] = { path } end
      end
    end
  end
  return { files = files, member = member, mods = mods,
    short = not kind and mods[modfull] and modfull:gsub("^kshot%.", "") or nil }
end

-- The spellings users type for one name, rewritten to help's own: PyTorch's
-- ("torch.nn.functional.relu", "torch.Tensor.view", "torch.zeros"), kshot's
-- modules reached from ks ("ks.nn.init.kaiming_normal_", "ks.data.read_csv",
-- "ks.linalg") and nn's fields that are other modules ("nn.functional.relu",
-- "nn.init.zeros_"). Applied until nothing changes.
local SPELLINGS = {
  { "^torch%.nn%.functional%.", "F." }, { "^torch%.Tensor[%.:]", "t:" }, { "^torch%.", "ks." },
  { "^kshot%.functional%.", "F." }, { "^ks%.functional%.", "F." },
  { "^nn%.functional%.", "F." }, { "^nn%.F%.", "F." },
  { "^nn%.init%.", "nn.weight_init." }, { "^nn%.init$", "nn.weight_init" },
}
local function normalize(name)
  local mods = lua_modules()
  for _ = 1, 4 do
    local before = name
    for _, r in ipairs(SPELLINGS) do name = name:gsub(r[1], r[2]) end
    -- ks.<module>... is kshot.<module>...: drop the "ks." when a kshot module follows
    local seg = name:match("^ks%.([%w_]+)") or name:match("^kshot%.([%w_]+)")
    if seg and mods["kshot." .. seg] then name = name:gsub("^ks%.", ""):gsub("^kshot%.", "") end
    if name == before then break end
  end
  return name
end

local aliasing = false -- M.text is looking a value up by its other names

-- help's own spelling of a resolved name, the key of kshot.help_signatures:
-- "t:sum", "ks.add", "nn.ReLU", "optim.lr_scheduler.StepLR" (nil for anything else)
local function canonical(x, r)
  local prefix = x:match("^(.-)[%.:][%w_]+$")
  local kind = PREFIXES[prefix or "ks"]
  if kind == "tensor" then return "t:" .. r.member end
  if kind == "kshot" then return "ks." .. r.member end
  if r.short then return r.short .. "." .. r.member end
  return nil
end

-- where a bare name ("SGD", "DataLoader", "Linear") lives: the first of these
-- modules that has it, and the others that have it too
local BARE_HOMES = { "nn", "F", "optim", "optim.lr_scheduler", "data", "nn.init", "nn.utils", "linalg", "augment",
  "metrics", "stats", "regularize", "model_selection", "experiment", "fewshot", "features" }
local function home_table(home)
  if home == "F" then return ks.nn.functional end
  local t = ks
  for seg in home:gmatch("[^.]+") do
    t = type(t) == "table" and t[seg] or nil
  end
  return type(t) == "table" and t or nil
end
local function bare_name(x)
  local homes = {}
  if not x:match("^[%w_]+$") then return nil, homes end
  for _, home in ipairs(BARE_HOMES) do
    local ok, has = pcall(function() local t = home_table(home) return t and t[x] ~= nil end)
    if ok and has then homes[#homes + 1] = home .. "." .. x end
  end
  return table.remove(homes, 1), homes
end

--- help.text(x): the documentation of x as a string, or nil and a message
function M.text(x)
  if x == nil then return overview() end
  if ks.is_tensor(x) then x = "tensor" end
  -- a shape list (x.shape, x:size(), x:stride()) is a plain array with the lists' shared metatable
  if type(x) == "table" and getmetatable(x) ~= nil and getmetatable(x) == getmetatable(ks.empty(0).shape) then
    x = "t:shape"
  end
  if type(x) ~= "string" then
    local n = name_of(x)
    if not n and type(x) == "table" and type(getmetatable(x)) == "table" then n = name_of(getmetatable(x)) end
    if not n then return nil, ("no kshot documentation for this %s (help() lists the modules)"):format(type(x)) end
    x = n
  end
  x = normalize(x)
  if x == "tensor" or x == "t" or x == "Tensor" then return tensor_overview() end
  if x == "ks" or x == "kshot" then return overview() end
  local r = resolve(x)
  if r.header then
    local head = lua_header(read(r.header) or "") or ("%s: no header comment"):format(x)
    local members = member_lines(r.module)
    return members and head .. "\n\n" .. members or head
  end
  -- a "--- name(" doc line in the module's Lua files, then the C binding's
  -- comment for exactly ks.<module>.<name>, then everything else
  for _, f in ipairs(r.files) do
    local src = not f[2] and read(f[1])
    local doc = src and signature_in(lines_of(src), r.member, false, true)
    if doc then return doc end
  end
  for _, f in ipairs(r.files) do
    local src = not f[2] and read(f[1])
    local doc = src and find_block(src, r.member, false, true)
    if doc then return doc end
  end
  local canon = canonical(x, r)
  local cdoc = r.short and c_qualified(r.short, r.member)
  if cdoc then return cdoc end
  local plain -- the first undocumented definition, described if nothing better turns up
  for _, f in ipairs(r.files) do
    local src = read(f[1])
    local block, lines, at
    if src then block, lines, at = find_block(src, r.member, f[2]) end
    if block then return block end
    if at and not plain then plain = undocumented(lines, at, r.member, f[3], r.mods, canon) end
  end
  -- another name of the same value documents it: data.DataLoader is dataset.DataLoader,
  -- augment.hflip is augment.random_horizontal_flip
  local value = not aliasing and member_value(r.short, r.member)
  if value and (type(value) == "function" or type(value) == "table") then
    aliasing = true
    for _, other in ipairs(names_of(value)) do
      if other ~= x then
        local ok, doc = pcall(M.text, other)
        -- (a bare pointer under the other name, nn.layers.ReLU, says less than this name's own entry)
        if ok and doc and not (plain and doc:find("[Nn]o notes of its own")) then aliasing = false return doc end
      end
    end
    aliasing = false
  end
  if plain then return plain end
  -- a value defined in a way the patterns above miss (lr_scheduler's H.class("CyclicLR")):
  -- the PyTorch name it follows and what its module's headers say about it
  if value and r.short then
    local out = { signature_doc(canon) }
    if not out[1] then
      local torch = TORCH_NAMES["kshot." .. r.short]
      out = { r.member, torch and ("No notes of its own: it follows PyTorch's %s.%s."):format(torch, r.member)
        or "No notes of its own." }
    end
    -- the file that names it in its code (H.class("CyclicLR")) first: its header is about it
    local ranked = {}
    for _, f in ipairs(r.files) do
      local src = not f[2] and read(f[1]) or ""
      table.insert(ranked, src:find('"' .. r.member .. '"', 1, true) and 1 or #ranked + 1, f)
    end
    for _, f in ipairs(ranked) do
      local said = not f[2] and header_mentions(read(f[1]) or "", r.member)
      local file = f[1]:match("(kshot[/\\].-)%.lua$")
      local name = file and file:gsub("[/\\]", ".") or f[3] or r.short
      if said then out[#out + 1] = ("From the %s header:\n%s"):format(name, said) break end
    end
    return table.concat(out, "\n")
  end
  -- undocumented names that exist: their signature entry, else what they are (kshot keeps PyTorch's semantics)
  local prefix, member = x:match("^(.-)[%.:]([%w_]+)$")
  local kind = PREFIXES[prefix or "ks"]
  member = member or x
  local probe = ks.zeros(1)
  local okm, method = pcall(function() return probe[member] end)
  method = okm and type(method) == "function"
  local entry = (kind == "tensor" and method or kind == "kshot" and ks[member] ~= nil) and signature_doc(canon)
  if entry then return entry end
  if (kind == "tensor" or kind == "kshot") and method then
    return ("t:%s: a tensor method, with PyTorch's semantics (torch.Tensor.%s); kshot adds no notes of its own"):format(member, member)
  end
  if kind == "kshot" and ks[member] then
    return ("ks.%s: with PyTorch's semantics (torch.%s); kshot adds no notes of its own"):format(member, member)
  end
  local found, others = bare_name(x)
  if found then
    local doc = M.text(found)
    if doc then
      local also = #others > 0 and (" (also: %s)"):format(table.concat(others, ", ")) or ""
      return ("%s is %s%s\n%s"):format(x, found, also, doc)
    end
  end
  return nil, ("no kshot documentation found for '%s' (help() lists the modules)"):format(x)
end

-- help() is the overview; help(nil) is an explicit nil, most often a name
-- that is not defined (help(ks.nn) where kshot.nn is a module of its own)
setmetatable(M, { __call = function(_, ...)
  if select("#", ...) > 0 and (...) == nil then
    print("help: the value is nil (a name or field that is not defined?); help() lists the modules, "
      .. "help(\"nn.Linear\") takes a name as a string")
    return
  end
  local s, msg = M.text((...))
  print(s or msg)
end })

return M
