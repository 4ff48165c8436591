--- kshot.nn builders for the standard small models (28x28 grayscale inputs by default).
local L = require "kshot.nn.layers"
local C = require "kshot.nn.containers"
local options = require "kshot.nn.options"

local M = {}

--- mlp{784, 256, 128, 10}: Flatten, then Linear + ReLU between the sizes (no ReLU after the last).
function M.mlp(sizes)
  if type(sizes) ~= "table" or #sizes < 2 then error("mlp: a list of at least two layer sizes expected", 2) end
  local layers = {L.Flatten()}
  for i = 1, #sizes - 1 do
    layers[#layers + 1] = L.Linear(sizes[i], sizes[i + 1])
    if i < #sizes - 1 then layers[#layers + 1] = L.ReLU() end
  end
  return C.Sequential(layers)
end

--- The benchmark CNN: Conv2d(1,32,3,p1) ReLU MaxPool2d(2) | Conv2d(32,64,3,p1) ReLU MaxPool2d(2)
-- | Flatten Linear(64*7*7, 128) ReLU Linear(128, classes).
-- Options: {in_channels=1, num_classes=10, hidden=128, image_size=28}.
function M.small_cnn(opts)
  opts = options.check(opts, {"in_channels", "num_classes", "hidden", "image_size"}, "small_cnn", 2)
  local cin, classes, hidden = opts.in_channels or 1, opts.num_classes or 10, opts.hidden or 128
  local side = (opts.image_size or 28) // 4
  return C.Sequential(
    L.Conv2d(cin, 32, 3, {padding = 1}), L.ReLU(), L.MaxPool2d(2),
    L.Conv2d(32, 64, 3, {padding = 1}), L.ReLU(), L.MaxPool2d(2),
    L.Flatten(), L.Linear(64 * side * side, hidden), L.ReLU(), L.Linear(hidden, classes))
end

return M
