--- kshot.experiment.plots: the report's SVG plots, written directly (no
-- plotting program needed): the comparison of configs (mean and 95%
-- interval per config) and the mean learning curves.
local sorted_keys = require("kshot.experiment.files").sorted_keys

local M = {}

-- the marks after a config's name (in the plot and in the report's tables):
-- the descriptive best, the pre-registered recipe, the baseline
function M.marks(s, i, key, bold)
  local out = {}
  if i == s.best then
    local m = s.maximize and "(highest mean)" or "(lowest mean)"
    out[#out + 1] = bold and ("**" .. m .. "**") or m
  end
  if s.preregistered and key == s.preregistered_key then out[#out + 1] = "(fixed beforehand)" end
  if s.baseline and key == s.baseline_key then out[#out + 1] = "(baseline)" end
  return #out > 0 and (" " .. table.concat(out, " ")) or ""
end
local marks = M.marks

local function esc(s) return (tostring(s):gsub("&", "&amp;"):gsub("<", "&lt;"):gsub(">", "&gt;")) end
-- 10 colours x 4 dash patterns: 40 series before a style repeats
local COLORS = { "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
  "#bcbd22", "#17becf" }
local DASHES = { nil, "6 3", "2 2", "8 3 2 3" }
local function style(i)
  return COLORS[(i - 1) % #COLORS + 1], DASHES[(i - 1) // #COLORS % #DASHES + 1]
end
M.series_style = style

local function nice_range(lo, hi)
  if lo == hi then lo, hi = lo - 0.5, hi + 0.5 end
  local pad = (hi - lo) * 0.05
  return lo - pad, hi + pad
end

--- ticks(lo, hi) -> values in [lo, hi] at a 1-2-5 step (1, 2 or 5 times a power of 10), about 5 of them
-- A range with no usable step (one point, reversed, not finite, or so narrow for its magnitude that the
-- step underflows) gets its finite ends as the ticks: a zero step would never end the loop below.
local function ticks(lo, hi)
  local raw = (hi - lo) / 5
  local p = 10 ^ math.floor(math.log(raw, 10))
  local step = p * 10
  for _, m in ipairs { 1, 2, 5 } do
    if m * p >= raw then step = m * p break end
  end
  if not (step > 0 and step < math.huge and (hi - lo) / step <= 20 and lo > -math.huge and hi < math.huge) then
    local ends = {}
    for _, v in ipairs { lo, hi } do
      if v == v and v > -math.huge and v < math.huge and v ~= ends[1] then ends[#ends + 1] = v end
    end
    return ends
  end
  local out = {}
  for k = math.ceil(lo / step - 1e-9), math.floor(hi / step + 1e-9) do
    local v = tonumber(("%.12g"):format(k * step)) -- 0.6, not 0.6000000000000001
    if v == 0 then v = 0 end -- no "-0"
    out[#out + 1] = v
  end
  return out
end
M.ticks = ticks

local function fmt_tick(v) return ("%.6g"):format(v) end

--- Comparison plot: one row per config, the mean as a dot and the 95% interval as a bar.
-- With metric_range = {lo, hi} the axis stays inside it and a whisker that
-- leaves it is cut at the edge with an arrowhead.
function M.svg_comparison(s, self)
  local n = #s.rows
  local left, width, rowh, top = 260, 420, 26, 40
  local h = top + n * rowh + 64
  local lo, hi = math.huge, -math.huge
  for _, r in ipairs(s.rows) do
    if r.interval then
      lo, hi = math.min(lo, r.interval.lo or r.interval.mean), math.max(hi, r.interval.hi or r.interval.mean)
    end
  end
  if lo == math.huge then lo, hi = 0, 1 end
  lo, hi = nice_range(lo, hi)
  local range = self.metric_range
  if range then
    lo, hi = math.max(lo, range[1]), math.min(hi, range[2])
    if lo >= hi then lo, hi = range[1], range[2] end
  end
  local function x(v) return left + (math.min(math.max(v, lo), hi) - lo) / (hi - lo) * width end
  local o = { ('<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" font-family="sans-serif" font-size="12">')
    :format(left + width + 30, h), '<rect width="100%" height="100%" fill="white"/>',
    ('<text x="10" y="20" font-size="14">%s: %s, mean and 95%% interval</text>'):format(esc(self.name), esc(s.metric)) }
  for i, r in ipairs(s.rows) do
    local y = top + (i - 0.5) * rowh
    o[#o + 1] = ('<text x="%d" y="%.1f" text-anchor="end" dominant-baseline="middle">%s</text>')
      :format(left - 10, y, esc(r.key .. marks(s, i, r.key)))
    if r.interval then
      local a, b = r.interval.lo or r.interval.mean, r.interval.hi or r.interval.mean
      o[#o + 1] = ('<line x1="%.1f" x2="%.1f" y1="%.1f" y2="%.1f" stroke="#333" stroke-width="2"/>')
        :format(x(a), x(b), y, y)
      -- a clipped end: an arrowhead on the axis edge
      if a < lo then
        o[#o + 1] = ('<path d="M%.1f %.1f l7 -5 v10 z" fill="#333"><title>interval continues to %s</title></path>')
          :format(x(lo), y, fmt_tick(a))
      end
      if b > hi then
        o[#o + 1] = ('<path d="M%.1f %.1f l-7 -5 v10 z" fill="#333"><title>interval continues to %s</title></path>')
          :format(x(hi), y, fmt_tick(b))
      end
      o[#o + 1] = ('<circle cx="%.1f" cy="%.1f" r="4" fill="%s"/>'):format(x(r.interval.mean), y,
        i == s.best and "#d62728" or "#1f77b4")
    end
  end
  if self.baseline then
    local b = s.rows[self.by_key[self.baseline]]
    if b and b.interval then
      o[#o + 1] = ('<line x1="%.1f" x2="%.1f" y1="%d" y2="%d" stroke="#999" stroke-dasharray="4 3"/>')
        :format(x(b.interval.mean), x(b.interval.mean), top, top + n * rowh)
    end
  end
  local ay = top + n * rowh + 10
  o[#o + 1] = ('<line x1="%d" x2="%d" y1="%d" y2="%d" stroke="black"/>'):format(left, left + width, ay, ay)
  for _, v in ipairs(ticks(lo, hi)) do
    o[#o + 1] = ('<line x1="%.1f" x2="%.1f" y1="%d" y2="%d" stroke="black"/>'):format(x(v), x(v), ay, ay + 4)
    o[#o + 1] = ('<text x="%.1f" y="%d" text-anchor="middle">%s</text>'):format(x(v), ay + 16, fmt_tick(v))
  end
  -- axis titles
  o[#o + 1] = ('<text x="%.1f" y="%d" text-anchor="middle">%s</text>'):format(left + width / 2, ay + 36, esc(s.metric))
  o[#o + 1] = ('<text x="14" y="%.1f" text-anchor="middle" transform="rotate(-90 14 %.1f)">config</text>')
    :format(top + n * rowh / 2, top + n * rowh / 2)
  o[#o + 1] = "</svg>\n"
  return table.concat(o, "\n")
end

--- Learning curves: mean over replicates of the curve column (curve_metric, or
-- the first logged column other than epoch/step) per config; config i has
-- colour i and, past 10 configs, a dash pattern (series_style).
function M.svg_curves(s, self)
  local col, xcol
  local series = {}
  for i, c in ipairs(s.configs) do
    local sums, counts, maxx = {}, {}, 0
    for _, r in ipairs(self.replicates) do
      local rows = c.curves[r]
      if rows and #rows > 0 then
        if not col then
          local keys = sorted_keys(rows[1])
          xcol = rows[1].epoch and "epoch" or (rows[1].step and "step") or nil
          col = self.curve_metric
          if not col then
            for _, k in ipairs(keys) do if k ~= xcol then col = k break end end
          end
        end
        for j, row in ipairs(rows) do
          local xv = xcol and row[xcol] or j
          if row[col] then
            sums[xv] = (sums[xv] or 0) + row[col]
            counts[xv] = (counts[xv] or 0) + 1
            maxx = math.max(maxx, xv)
          end
        end
      end
    end
    local pts = {}
    local xs = {}
    for xv in pairs(sums) do xs[#xs + 1] = xv end
    table.sort(xs)
    for _, xv in ipairs(xs) do pts[#pts + 1] = { xv, sums[xv] / counts[xv] } end
    local color, dash = style(i)
    if #pts > 0 then series[#series + 1] = { key = c.key, pts = pts, color = color, dash = dash } end
  end
  if #series == 0 or not col then return nil end
  local xlo, xhi, ylo, yhi = math.huge, -math.huge, math.huge, -math.huge
  for _, se in ipairs(series) do
    for _, p in ipairs(se.pts) do
      xlo, xhi = math.min(xlo, p[1]), math.max(xhi, p[1])
      ylo, yhi = math.min(ylo, p[2]), math.max(yhi, p[2])
    end
  end
  xlo, xhi = nice_range(xlo, xhi)
  ylo, yhi = nice_range(ylo, yhi)
  local L, T, W, H = 70, 40, 480, 300
  local function X(v) return L + (v - xlo) / (xhi - xlo) * W end
  local function Y(v) return T + H - (v - ylo) / (yhi - ylo) * H end
  local xname = xcol or "row"
  local o = { ('<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" font-family="sans-serif" font-size="12">')
    :format(L + W + 240, math.max(T + H + 60, T + 20 + #series * 18)), '<rect width="100%" height="100%" fill="white"/>',
    ('<text x="10" y="20" font-size="14">%s: %s (mean over replicates) by %s</text>'):format(esc(self.name), esc(col),
      esc(xname)),
    ('<rect x="%d" y="%d" width="%d" height="%d" fill="none" stroke="black"/>'):format(L, T, W, H) }
  for _, xv in ipairs(ticks(xlo, xhi)) do
    o[#o + 1] = ('<text x="%.1f" y="%d" text-anchor="middle">%s</text>'):format(X(xv), T + H + 16, fmt_tick(xv))
  end
  for _, yv in ipairs(ticks(ylo, yhi)) do
    o[#o + 1] = ('<text x="%d" y="%.1f" text-anchor="end" dominant-baseline="middle">%s</text>'):format(L - 4, Y(yv),
      fmt_tick(yv))
  end
  -- axis titles
  o[#o + 1] = ('<text x="%.1f" y="%d" text-anchor="middle">%s</text>'):format(L + W / 2, T + H + 36, esc(xname))
  o[#o + 1] = ('<text x="14" y="%.1f" text-anchor="middle" transform="rotate(-90 14 %.1f)">%s</text>')
    :format(T + H / 2, T + H / 2, esc(col))
  for i, se in ipairs(series) do
    local pts = {}
    for _, p in ipairs(se.pts) do pts[#pts + 1] = ("%.1f,%.1f"):format(X(p[1]), Y(p[2])) end
    local dash = se.dash and (' stroke-dasharray="%s"'):format(se.dash) or ""
    o[#o + 1] = ('<polyline fill="none" stroke="%s" stroke-width="1.5"%s points="%s"/>'):format(se.color, dash,
      table.concat(pts, " "))
    local ly = T + 11.5 + (i - 1) * 18
    o[#o + 1] = ('<line x1="%d" x2="%d" y1="%.1f" y2="%.1f" stroke="%s" stroke-width="2"%s/>'):format(L + W + 8,
      L + W + 26, ly, ly, se.color, dash)
    o[#o + 1] = ('<text x="%d" y="%d" dominant-baseline="middle">%s</text>'):format(L + W + 30, T + 12 + (i - 1) * 18,
      esc(se.key))
  end
  o[#o + 1] = "</svg>\n"
  return table.concat(o, "\n")
end

return M
