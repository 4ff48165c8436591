--- kshot.progress: progress for training loops and sweeps.
--
--   local bar = progress.new { total = 300, label = "train" }
--   for step = 1, 300 do ...; bar:update(step, { loss = l }) end
--   bar:finish()
--
-- Three modes:
--   "bar"    one line redrawn in place with \r (step/total, percent, named
--            values such as loss, rate in steps/s, ETA), at most 10 times a second
--   "plain"  a full line every `every` seconds (default 10) and at the end,
--            for logs and pipes
--   "off"    nothing (silent = true)
-- Mode choice (first that applies): opts.mode; opts.silent -> "off";
-- $KSHOT_PROGRESS ("bar", "plain" or "off"); "bar" when the output stream
-- is a terminal, else "plain". Terminal test: Lua has no isatty and the host
-- provides none, so we ask the shell once (`[ -t 2 ]` for io.stderr, `[ -t 1 ]`
-- for io.stdout: the child inherits our descriptors) and require $TERM to be
-- set and not "dumb". The answer is cached per stream.
-- Output goes to opts.stream (default io.stderr, so results on stdout stay clean).
-- Time: ks._bench_clock (monotonic wall clock) when available, else os.time;
-- opts.clock overrides it (tests).
-- Totals: total = nil or 0 shows "step N" (no percent, no ETA). A step past
-- the total is shown as "50/5 (past total)": no percent, no ETA, a full bar,
-- and no error (a miscounted total must not stop a training run).
-- Checks: the stream needs a write method (flush is used when present);
-- update's step must be nil or an integer >= 0 (3.0 is accepted) and its
-- values nil or a table with string keys; bad input is an error naming it.
local options = require "kshot.options"

local M = {}

local tty_cache = {}

--- progress.isatty(stream) -> bool (see above; io.stdout / io.stderr only)
function M.isatty(stream)
  stream = stream or io.stderr
  if tty_cache[stream] ~= nil then return tty_cache[stream] end
  local fd = (stream == io.stdout and 1) or (stream == io.stderr and 2) or nil
  local term = os.getenv("TERM")
  local yes = false
  if fd and term and term ~= "" and term ~= "dumb" then
    yes = os.execute(("[ -t %d ]"):format(fd)) == true
  end
  tty_cache[stream] = yes
  return yes
end

local function default_clock()
  local ok, ks = pcall(require, "kshot")
  if ok and type(ks) == "table" and ks._bench_clock then return ks._bench_clock end
  return os.time
end

local function hms(s)
  if s ~= s or s == math.huge then return "?" end
  s = math.floor(s)
  local h, m = s // 3600, (s % 3600) // 60
  if h > 0 then return ("%d:%02d:%02d"):format(h, m, s % 60) end
  return ("%d:%02d"):format(m, s % 60)
end

local function fmt_value(v)
  if type(v) ~= "number" then return tostring(v) end
  if math.type(v) == "integer" then return tostring(v) end
  return ("%.4g"):format(v)
end

local Progress = {}
Progress.__index = Progress

local MODES = { bar = true, plain = true, off = true }

--- progress.new{total=, label="", mode=, silent=, every=10, stream=io.stderr, clock=, width=24}
function M.new(opts)
  opts = options.check(opts, "progress.new", { "total", "label", "mode", "silent", "every", "stream", "clock", "width" })
  local total = opts.total
  if total ~= nil and (math.type(total) ~= "integer" or total < 0) then
    error("progress.new: total must be an integer >= 0, got " .. tostring(total), 2)
  end
  local stream = opts.stream or io.stderr
  local okw, write = pcall(function() return stream.write end)
  if not okw or write == nil then
    error(("progress.new: stream must be a file or an object with a write method (e.g. io.stderr), got %s")
      :format(type(stream)), 2)
  end
  if opts.label ~= nil and type(opts.label) ~= "string" and type(opts.label) ~= "number" then
    error("progress.new: label must be a string, got " .. type(opts.label), 2)
  end
  if opts.every ~= nil and (type(opts.every) ~= "number" or not (opts.every >= 0)) then
    error("progress.new: every must be a number of seconds >= 0, got " .. tostring(opts.every), 2)
  end
  if opts.width ~= nil and (math.type(opts.width) ~= "integer" or opts.width < 1 or opts.width > 1000) then
    error("progress.new: width must be an integer in [1, 1000], got " .. tostring(opts.width), 2)
  end
  if opts.clock ~= nil and type(opts.clock) ~= "function" then
    error("progress.new: clock must be a function, got " .. type(opts.clock), 2)
  end
  local mode = opts.mode
  if mode == nil then
    if opts.silent then mode = "off"
    else
      local env = os.getenv("KSHOT_PROGRESS")
      if env and MODES[env] then mode = env else mode = M.isatty(stream) and "bar" or "plain" end
    end
  end
  if not MODES[mode] then
    error(("progress.new: unknown mode '%s' (bar, plain or off)"):format(tostring(mode)), 2)
  end
  local clock = opts.clock or default_clock()
  local now = clock()
  return setmetatable({ total = total, label = tostring(opts.label or ""), mode = mode, stream = stream,
    every = opts.every or 10, clock = clock, start = now, last_draw = -math.huge, step = 0,
    width = opts.width or 24, values = {}, keys = {} }, Progress)
end

-- the status text without the bar: "45/100 45% loss 0.123 12.3 it/s ETA 0:05"
function Progress:text()
  local elapsed = self.clock() - self.start
  local parts = {}
  if self.label ~= "" then parts[#parts + 1] = self.label end
  local known = self.total and self.total > 0 and self.step <= self.total -- a meaningful fraction
  if known then
    parts[#parts + 1] = ("%d/%d %3d%%"):format(self.step, self.total, math.floor(100 * self.step / self.total))
  elseif self.total and self.total > 0 then
    parts[#parts + 1] = ("%d/%d (past total)"):format(self.step, self.total)
  else
    parts[#parts + 1] = ("step %d"):format(self.step)
  end
  for _, k in ipairs(self.keys) do parts[#parts + 1] = k .. " " .. fmt_value(self.values[k]) end
  local rate = elapsed > 0 and self.step / elapsed or nil
  if rate then parts[#parts + 1] = ("%.3g it/s"):format(rate) end
  if rate and rate > 0 and known then
    parts[#parts + 1] = "ETA " .. hms((self.total - self.step) / rate)
  end
  parts[#parts + 1] = "elapsed " .. hms(elapsed)
  return table.concat(parts, "  ")
end

function Progress:draw(final)
  if self.mode == "bar" then
    local bar = ""
    if self.total and self.total > 0 then
      local filled = math.floor(self.width * math.min(self.step, self.total) / self.total)
      bar = "[" .. ("#"):rep(filled) .. ("."):rep(self.width - filled) .. "] "
    end
    self.stream:write("\r\27[K" .. bar .. self:text() .. (final and "\n" or ""))
  else
    self.stream:write(self:text() .. "\n")
  end
  if self.stream.flush then self.stream:flush() end
end

--- bar:update(step[, values]): step is the number of steps done; values a
-- table of named numbers shown after the count (e.g. {loss = 0.12}).
local function check_update(step, values)
  if step ~= nil and (type(step) ~= "number" or math.tointeger(step) == nil or step < 0) then
    error(("progress:update: step must be an integer >= 0 (the number of steps done), got %s (%s)")
      :format(tostring(step), type(step)), 3)
  end
  if values ~= nil then
    if type(values) ~= "table" then
      error("progress:update: values must be a table of named numbers (e.g. {loss = 0.1}), got " .. type(values), 3)
    end
    for k in pairs(values) do
      if type(k) ~= "string" then
        error(("progress:update: values must have string keys, got key %s (%s)"):format(tostring(k), type(k)), 3)
      end
    end
  end
end

function Progress:update(step, values)
  check_update(step, values)
  if self.mode == "off" then return end
  self.step = step and math.tointeger(step) or self.step + 1
  if values then
    for k, v in pairs(values) do
      if self.values[k] == nil then
        self.keys[#self.keys + 1] = k
        table.sort(self.keys)
      end
      self.values[k] = v
    end
  end
  local now = self.clock()
  local gap = self.mode == "bar" and 0.1 or self.every
  if now - self.last_draw >= gap then
    self.last_draw = now
    self:draw(false)
  end
end

--- bar:finish([values]): the final line (always printed unless silent).
function Progress:finish(values)
  check_update(nil, values)
  if self.mode == "off" then return end
  if values then self:update(self.step, values) end
  self:draw(true)
end

--- bar:log(text): a line of text that does not break the bar.
function Progress:log(text)
  if self.mode == "off" then return end
  if self.mode == "bar" then self.stream:write("\r\27[K") end
  self.stream:write(text, "\n")
  if self.mode == "bar" then self:draw(false) end
end

return M
