--- spec/helpers/own_data_fixture.lua: small synthetic "own data" sets for
-- scripts/own_data.lua (its spec and its regression recipe).
local ks = require "kshot"

local M = {}

local function write(path, text)
  local f = assert(io.open(path, "wb"))
  f:write(text)
  f:close()
end

--- csv(path[, {rows_per_class = 20, seed = 1, sep = 0.9}]): 3 Gaussian classes
-- ("alpha", "beta", "gamma") in 4 features, class means 3 * sep apart on
-- different features (an easy problem: linear models score well above 1/3);
-- the label column "kind" sits between the features.
function M.csv(path, opts)
  opts = opts or {}
  local per, sep = opts.rows_per_class or 20, opts.sep or 0.9
  local g = ks.Generator():manual_seed(opts.seed or 1)
  local names = { "alpha", "beta", "gamma" }
  local lines = { "f1,f2,kind,f3,f4" }
  for i = 0, 3 * per - 1 do
    local c = i % 3 -- classes interleaved, as a real table might be
    local v = ks.randn({ 4 }, { generator = g }):totable()
    v[c + 1] = v[c + 1] + 3 * sep
    lines[#lines + 1] = ("%.5f,%.5f,%s,%.5f,%.5f"):format(v[1], v[2], names[c + 1], v[3], v[4])
  end
  write(path, table.concat(lines, "\n") .. "\n")
end

--- images(dir[, {per_class = 12, size = 12, seed = 1, classes = {...}}]): one
-- sub-folder per class of gray PNGs: "horizontal" (a bright row), "vertical"
-- (a bright column), "diagonal", each at a random offset, on noise.
function M.images(dir, opts)
  opts = opts or {}
  local per, n = opts.per_class or 12, opts.size or 12
  local g = ks.Generator():manual_seed(opts.seed or 1)
  assert(os.execute("mkdir -p '" .. dir .. "'"))
  for _, name in ipairs(opts.classes or { "diagonal", "horizontal", "vertical" }) do
    assert(os.execute("mkdir -p '" .. dir .. "/" .. name .. "'"))
    for i = 1, per do
      local img = ks.rand({ 1, n, n }, { generator = g }) * 60
      local at = ks.randint(2, n - 2, { 1 }, { generator = g })[0]:item()
      for j = 0, n - 1 do
        local r, col = j, j
        if name == "horizontal" then r = at elseif name == "vertical" then col = at
        else col = (j + at) % n end
        img[{ 0, r, col }] = 220
      end
      ks.image.save(("%s/%s/%02d.png"):format(dir, name, i), img:to("uint8"))
    end
  end
end

--- fashion_csv(path[, n = 1000]): the first n Fashion-MNIST test images as a
-- CSV table: 784 pixel columns and a "label" column of class names.
function M.fashion_csv(path, n)
  n = n or 1000
  local x, y, names = ks.data.fashion_mnist { split = "test" }
  local px, ys = x:narrow(0, 0, n):reshape(n, 784):totable(), y:narrow(0, 0, n):totable()
  local header = {}
  for j = 1, 784 do header[j] = "p" .. j end
  local lines = { table.concat(header, ",") .. ",label" }
  for i = 1, n do lines[#lines + 1] = table.concat(px[i], ",") .. "," .. names[ys[i] + 1] end
  write(path, table.concat(lines, "\n") .. "\n")
end

return M
