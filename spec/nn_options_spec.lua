-- Every nn constructor taking an options table rejects unknown keys (a typo
-- would silently keep the default: nn.Conv2d(1, 8, 3, {paddin = 1}) had no
-- padding), naming the constructor, the key and the valid keys.
local ks = require "kshot"
local nn = require "kshot.nn"
local F = ks.functional

local function errmsg(fn, ...)
  local ok, e = pcall(fn, ...)
  assert.is_false(ok)
  return tostring(e)
end

describe("nn option tables", function()
  it("reject a misspelled key with the valid ones and the nearest", function()
    local e = errmsg(function() local m = nn.Conv2d(1, 8, 3, {paddin = 1}) return m end)
    assert.matches("nn_options_spec.lua:%d+: Conv2d: unknown option 'paddin'", e)
    assert.truthy(e:find("(known: stride, padding, dilation, groups, bias); did you mean 'padding'?", 1, true))
  end)

  it("are checked by every constructor", function()
    local cases = {
      {"Linear", function() return nn.Linear(2, 2, {biass = false}) end},
      {"Conv2d", function() return nn.Conv2d(1, 2, 3, {strides = 2}) end},
      {"MaxPool2d", function() return nn.MaxPool2d(2, {count_include_pad = false}) end},
      {"AvgPool2d", function() return nn.AvgPool2d(2, {ceilmode = true}) end},
      {"BatchNorm1d", function() return nn.BatchNorm1d(2, {momentun = 0.1}) end},
      {"BatchNorm2d", function() return nn.BatchNorm2d(2, {afine = false}) end},
      {"LayerNorm", function() return nn.LayerNorm(2, {elementwise = false}) end},
      {"Embedding", function() return nn.Embedding(3, 2, {padding = 0}) end},
      {"CrossEntropyLoss", function() return nn.CrossEntropyLoss({label_smothing = 0.1}) end},
      {"NLLLoss", function() return nn.NLLLoss({reduce = "sum"}) end},
      {"MSELoss", function() return nn.MSELoss({reductions = "sum"}) end},
      {"L1Loss", function() return nn.L1Loss({size_average = true}) end},
      {"SmoothL1Loss", function() return nn.SmoothL1Loss({delta = 1}) end},
      {"BCEWithLogitsLoss", function() return nn.BCEWithLogitsLoss({posweight = 1}) end},
      {"KLDivLoss", function() return nn.KLDivLoss({logtarget = true}) end},
      {"resnet", function() return nn.resnet({widht = 8}) end},
      {"resnet18", function() return nn.resnet18({classes = 8}) end},
      {"resnet", function() return nn.ResNet({layers = {1, 1, 1, 1}, depth = 2}) end},
      {"small_cnn", function() return nn.small_cnn({classes = 3}) end},
      {"MultiheadAttention", function() return nn.MultiheadAttention(8, 2, {dropuot = 0.1}) end},
      {"TransformerEncoderLayer", function() return nn.TransformerEncoderLayer(8, 2, {nhead = 2}) end},
      {"load_state_dict", function() return nn.Linear(1, 1):load_state_dict({}, {strcit = false}) end},
      {"normalize", function() return F.normalize(ks.ones(2, 2), {dims = 1}) end},
      {"cosine_similarity", function() return F.cosine_similarity(ks.ones(2, 2), ks.ones(2, 2), {axis = 1}) end},
      {"elu", function() return F.elu(ks.ones(2), {alhpa = 1}) end},
    }
    for _, c in ipairs(cases) do
      local e = errmsg(c[2])
      assert.truthy(e:find(c[1] .. ": unknown option '", 1, true), c[1] .. " gave: " .. e)
      assert.truthy(e:find("(known: ", 1, true), c[1] .. " gave: " .. e)
    end
  end)

  it("must be tables or PyTorch's positional arguments, checked the same way", function()
    -- positional values name PyTorch's arguments in order (spec/port_pytorch_spec.lua covers them)
    assert.matches("Linear: option 'bias' must be a boolean, got number", errmsg(nn.Linear, 2, 2, 1))
    assert.matches("Conv2d: stride", errmsg(nn.Conv2d, 1, 2, 3, "same"))
    assert.matches("MaxPool2d: unknown option 'dilation'", errmsg(nn.MaxPool2d, 2, 2, 0, 1))
    assert.matches("small_cnn: options must be a table, got number", errmsg(nn.small_cnn, 10))
  end)

  it("check the types of boolean flags", function()
    assert.matches("Linear: option 'bias' must be a boolean, got number", errmsg(nn.Linear, 2, 2, {bias = 0}))
    assert.matches("Conv2d: option 'bias' must be a boolean, got string", errmsg(nn.Conv2d, 1, 2, 3, {bias = "no"}))
  end)

  it("still accept the valid keys", function()
    local c = nn.Conv2d(1, 2, 3, {padding = 1, stride = 1, dilation = 1, groups = 1, bias = false})
    assert.are.same({1, 2, 5, 5}, c(ks.ones(1, 1, 5, 5)):shape())
    assert.is_nil(nn.Linear(2, 2, {bias = false}).bias)
    assert.are.same({1, 1, 2, 2}, nn.AvgPool2d(2, {stride = 2, padding = 0, ceil_mode = false,
      count_include_pad = true})(ks.ones(1, 1, 4, 4)):shape())
    assert.are.same({2, 5}, nn.small_cnn({num_classes = 5, hidden = 8, in_channels = 1, image_size = 28})(
      ks.ones(2, 1, 28, 28)):shape())
    local l = nn.Linear(2, 2)
    local sd = l:state_dict()
    assert.are.same({missing_keys = {}, unexpected_keys = {}}, l:load_state_dict(sd, {strict = true}))
    -- m:load_state_dict(other:state_dict()) also passes state_dict's key list: not an options table
    l:load_state_dict(nn.Linear(2, 2):state_dict())
  end)
end)

describe("nn.init modes", function()
  it("reject a mode other than fan_in / fan_out", function()
    local w = ks.empty(4, 3)
    assert.matches("kaiming_uniform_: mode must be 'fan_in' or 'fan_out', got fanout",
      errmsg(nn.init.kaiming_uniform_, w, 0, "fanout"))
    assert.matches("kaiming_normal_: mode must be 'fan_in' or 'fan_out', got fan", errmsg(nn.init.kaiming_normal_, w, 0, "fan"))
    nn.init.kaiming_normal_(w, 0, "fan_out", "relu")
    nn.init.kaiming_uniform_(w)
  end)
end)
