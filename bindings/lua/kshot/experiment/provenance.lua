--- kshot.experiment.provenance: what provenance.json records of a run --
-- when it started, its wall time, threads, command, versions, host -- and
-- the git commit of the script's repository, read from .git without running
-- git (experiment.git_commit).
local ks = require "kshot"
local files = require "kshot.experiment.files"

local read_file, has_lfs, lfs = files.read_file, files.has_lfs, files.lfs
local M = {}

-- "a/b/../c/" -> "a/c": lexical, so a folder can be walked up without the file system
local function normalize(path)
  local parts = {}
  for part in path:gmatch("[^/]+") do
    if part == ".." and #parts > 0 and parts[#parts] ~= ".." then parts[#parts] = nil
    elseif part ~= "." then parts[#parts + 1] = part end
  end
  return (path:sub(1, 1) == "/" and "/" or "") .. table.concat(parts, "/")
end

local function absolute(path)
  if path:sub(1, 1) == "/" then return normalize(path) end
  local cwd = has_lfs and lfs.currentdir() or os.getenv("PWD")
  if not cwd then return nil end
  return normalize(cwd .. "/" .. path)
end

local function trim(s) return s and (s:gsub("^%s+", ""):gsub("%s+$", "")) end

local function is_hash(s) return s ~= nil and (#s == 40 or #s == 64) and s:match("^%x+$") ~= nil end

-- the hash a ref names: a loose ref file in the git dir (a worktree's own) or
-- the common dir, else the common dir's packed-refs; symbolic refs followed
local function resolve_ref(gitdir, common, ref, depth)
  if depth > 5 then return nil end
  for _, dir in ipairs { gitdir, common } do
    local v = trim(read_file(dir .. "/" .. ref))
    if v then
      if is_hash(v) then return v:lower() end
      local sym = v:match("^ref:%s*(%S+)$")
      if sym then return resolve_ref(gitdir, common, sym, depth + 1) end
    end
  end
  local packed = read_file(common .. "/packed-refs")
  if packed then
    for line in packed:gmatch("[^\n]+") do
      local h, name = line:match("^(%x+) (%S+)$")
      if name == ref and is_hash(h) then return h:lower() end
    end
  end
  return nil
end

-- the git dir of a working tree at dir: the folder dir/.git, or the one a
-- .git FILE names ("gitdir: <path>", worktrees and submodules); nil if none
local function git_dir_at(dir)
  local dotgit = (dir == "/" and "" or dir) .. "/.git"
  if read_file(dotgit .. "/HEAD") then return dotgit end
  local f = io.open(dotgit, "rb")
  if not f then return nil end
  local text = f:read("a") -- nil for a folder without HEAD
  f:close()
  local path = text and trim(text:match("^gitdir:%s*([^\n]+)"))
  if not path or path == "" then return nil end
  if path:sub(1, 1) ~= "/" then path = dir .. "/" .. path end
  path = normalize(path)
  return read_file(path .. "/HEAD") and path or nil
end

--- experiment.git_commit(dir) -> the commit hash checked out in the git
-- working tree holding dir (dir or a folder above it), or nil (not in a
-- repository, an unborn branch, an unreadable HEAD). Read from the
-- repository's files (.git/HEAD, refs, packed-refs; a .git file of a
-- worktree), no program is run; a detached HEAD gives its hash. Whether the
-- tree has uncommitted changes is not known this way, so it is not said.
function M.git_commit(dir)
  dir = absolute(dir or ".")
  while dir do
    local gitdir = git_dir_at(dir)
    if gitdir then
      local head = trim(read_file(gitdir .. "/HEAD"))
      if is_hash(head) then return head:lower() end
      local ref = head and head:match("^ref:%s*(%S+)$")
      if not ref then return nil end
      -- a worktree's git dir names the shared one in "commondir"
      local common = trim(read_file(gitdir .. "/commondir"))
      if common then common = normalize(common:sub(1, 1) == "/" and common or (gitdir .. "/" .. common))
      else common = gitdir end
      return resolve_ref(gitdir, common, ref, 0)
    end
    if dir == "/" or dir == "" then return nil end
    dir = dir:match("^(.*)/[^/]*$")
    if dir == "" then dir = "/" end
  end
  return nil
end

-- the script's folder (arg[0]; the current folder without a script)
local function script_dir()
  local a = rawget(_G, "arg")
  local script = type(a) == "table" and type(a[0]) == "string" and a[0] or nil
  if not script then return "." end
  return script:match("^(.*)/[^/]*$") or "."
end

-- read once per process and script folder: the code that runs is the code
-- loaded at the start, whatever is checked out later
local static_provenance = {}
local function process_provenance()
  local dir = script_dir()
  if not static_provenance[dir] then
    static_provenance[dir] = { git_commit = M.git_commit(dir) or false, host = ks.hostname and ks.hostname() or false }
  end
  return static_provenance[dir]
end

-- provenance.json: when a run started (UTC), its wall time, the threads, the
-- command that ran it (the script's global arg, when there is one), the
-- versions, the git commit of the script's repository and the host name
local function provenance(started, seconds)
  local p = { started = os.date("!%Y-%m-%dT%H:%M:%SZ", started), seconds = math.floor(seconds * 1000 + 0.5) / 1000,
    threads = ks.get_num_threads(), kshot_version = ks.__version or "unknown", lua_version = _VERSION }
  local a = rawget(_G, "arg")
  if type(a) == "table" and a[0] ~= nil then
    local words = {}
    for i = 0, #a do words[#words + 1] = tostring(a[i]) end
    p.command = table.concat(words, " ")
  end
  local fixed = process_provenance()
  p.git_commit = fixed.git_commit or nil
  p.host = fixed.host or nil
  return p
end

M.provenance = provenance
return M
