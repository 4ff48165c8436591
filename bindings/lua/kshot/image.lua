--- kshot.image: image files (the Lua side of ks.image).
--
-- C functions (bindings/ks_lua_io.c): ks.image.load(path, {gray=, size={h, w}}),
-- ks.image.save(path, t, {format=, quality=}), ks.image.resize(t, {h, w}),
-- ks.image.listdir(path). This file adds save_grid and image_folder.
-- Images are uint8 [C, H, W] (or float32 in [0, 1] when saving).
--
-- Saving float32 images (save and save_grid), as torchvision's save_image:
-- each value x is written as the byte round(x * 255) CLAMPED to [0, 255]
-- (NaN -> 0), so values below 0 print black and values above 1 white,
-- silently. Images standardised with mean/std (values around -2..2) must be
-- mapped back first: x * std + mean, or save_grid{normalize = true}, which
-- maps the batch's [min, max] to [0, 1].
-- Options tables are checked: an unknown key is an error listing the known ones.
local ks = require "kshot"
local options = require "kshot.options"

local M = ks.image

local shape_str = options.shape_str

local function opt_int(opts, key, def, min, op)
  local v = opts[key]
  if v == nil then return def end
  if math.type(v) ~= "integer" or v < min then
    error(("%s: option '%s' must be an integer >= %d, got %s"):format(op, key, min, tostring(v)), 3)
  end
  return v
end

--- ks.image.save_grid(path, images [B, C, H, W], {nrow=8, padding=2, normalize=false, pad_value=0})
-- torchvision's make_grid + save_image: min(nrow, B) images per row, `padding`
-- pixels around and between them (filled with pad_value); normalize=true
-- maps [min, max] of the whole batch to [0, 1] first. uint8 or float32 in
-- [0, 1] (float values outside are clamped when written, see the header);
-- 1-channel images give a gray PNG. Returns the grid tensor.
function M.save_grid(path, images, opts)
  if type(path) ~= "string" then error("save_grid: path (string) expected, got " .. type(path), 2) end
  if not ks.is_tensor(images) then
    error("save_grid: images must be a kshot.Tensor [B, C, H, W], got " .. type(images), 2)
  end
  opts = options.check(opts, "save_grid", { "nrow", "padding", "normalize", "pad_value" })
  if images:dim() == 3 then images = images:unsqueeze(1) end
  if images:dim() ~= 4 or images:size(0) < 1 then
    error("save_grid: images must be [B, C, H, W] with B >= 1, got " .. shape_str(images), 2)
  end
  local nrow = opt_int(opts, "nrow", 8, 1, "save_grid")
  local pad = opt_int(opts, "padding", 2, 0, "save_grid")
  local B, C, H, W = images:size(0), images:size(1), images:size(2), images:size(3)
  if opts.normalize then
    images = images:float()
    local lo, hi = images:amin():item(), images:amax():item()
    images = (images - lo) / math.max(hi - lo, 1e-5)
  end
  local dtype = images:dtype() == "uint8" and "uint8" or "float32"
  if dtype == "float32" then images = images:float() end
  local xmaps = math.min(nrow, B)
  local ymaps = (B + xmaps - 1) // xmaps
  local h, w = H + pad, W + pad
  local grid = ks.full({C, h * ymaps + pad, w * xmaps + pad}, opts.pad_value or 0, dtype)
  for k = 0, B - 1 do
    local y, x = k // xmaps, k % xmaps
    grid[{{}, {y * h + pad, y * h + pad + H}, {x * w + pad, x * w + pad + W}}]:copy_(images[k])
  end
  M.save(path, grid)
  return grid
end

local function lower_ext(name)
  return (name:match("%.([^./]+)$") or ""):lower()
end

--- ks.image.image_folder(root, {size={h, w}, gray=true|false|nil, extensions={"png", "jpg", "jpeg"}})
-- (also ks.data.image_folder) -> images uint8 [N, C, H, W], labels int64 [N], class names.
-- One sub-folder of root per class: classes are the sub-folder names sorted
-- in byte order, numbered 0..C-1 (names[label + 1]); inside each, the files
-- whose extension (case-insensitive) is listed, sorted by name; hidden
-- entries (".*") are skipped. size resizes every image (bilinear, half-pixel
-- centres, see ks.image.resize); without it every image must already have
-- the size of the first. gray=nil keeps the first image's channel count for
-- all images (1 or 3); true/false forces 1/3.
function M.image_folder(root, opts)
  if type(root) ~= "string" then error("image_folder: root folder (string) expected, got " .. type(root), 2) end
  opts = options.check(opts, "image_folder", { "size", "gray", "extensions" })
  local exts = {}
  for _, e in ipairs(opts.extensions or { "png", "jpg", "jpeg" }) do exts[tostring(e):lower():gsub("^%.", "")] = true end
  local names, isdir = M.listdir(root)
  local classes, files, labels = {}, {}, {}
  for _, name in ipairs(names) do
    if isdir[name] then
      classes[#classes + 1] = name
      local dir = root .. "/" .. name
      local fnames, fdirs = M.listdir(dir)
      for _, f in ipairs(fnames) do
        if not fdirs[f] and exts[lower_ext(f)] then
          files[#files + 1] = dir .. "/" .. f
          labels[#labels + 1] = #classes - 1
        end
      end
    end
  end
  if #classes == 0 then error(("image_folder: %s has no class sub-folders"):format(root), 2) end
  if #files == 0 then error(("image_folder: no image files under %s (extensions: %s)"):format(
    root, table.concat(opts.extensions or { "png", "jpg", "jpeg" }, ", ")), 2) end
  local lopts = { size = opts.size }
  if opts.gray ~= nil then lopts.gray = opts.gray end
  local first = M.load(files[1], lopts)
  lopts.channels = first:size(0)
  lopts.gray = nil
  local C, H, W = first:size(0), first:size(1), first:size(2)
  local images = ks.empty({ #files, C, H, W }, "uint8")
  images[0]:copy_(first)
  for i = 2, #files do
    local img = M.load(files[i], lopts)
    if img:size(1) ~= H or img:size(2) ~= W then
      error(("image_folder: %s is %dx%d but %s is %dx%d (pass size={h, w} to resize)"):format(
        files[i], img:size(1), img:size(2), files[1], H, W), 2)
    end
    images[i - 1]:copy_(img)
  end
  return images, ks.tensor(labels, "int64"), classes
end

return M
