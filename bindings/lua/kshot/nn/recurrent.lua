--- kshot.nn recurrent layers: LSTM and GRU with PyTorch's gate order,
-- parameter names (weight_ih_l0, weight_hh_l0, bias_ih_l0, bias_hh_l0, and
-- *_reverse for the backward direction), shapes and initialisation
-- (every tensor ~ U(-1/sqrt(hidden_size), 1/sqrt(hidden_size))), so
-- state_dicts map both ways. Composed from differentiable ops in Lua: per
-- layer and direction, the input projection of the whole sequence is one
-- matmul, then each step is one matmul for all gates (h @ weight_hh^T) and
-- element-wise ops.
--   local lstm = nn.LSTM(8, 16, {num_layers = 2, batch_first = true})
--   local out, state = lstm(x)            -- x [N, T, 8] -> out [N, T, 16]
--   out, state = lstm(x, state)           -- state = {h_n, c_n}, each [num_layers, N, 16]
--   local out2, h_n = nn.GRU(8, 16)(x2)   -- GRU: the state is h_n alone; x2 [T, N, 8]
-- What Lua changes: PyTorch's `output, (h_n, c_n) = lstm(x, (h0, c0))` is
-- `local output, state = lstm(x, {h0, c0})` with state = {h_n, c_n}.
local ks = require "kshot"
local Module = require "kshot.nn.module"
local init = require "kshot.nn.weight_init"
local options = require "kshot.nn.options"
local F = ks.functional

local R = {}

local shape_str = require("kshot.options").shape_str

-- one LSTM step (gates i, f, g, o); xw: x_t @ weight_ih^T + bias_ih
local function lstm_step(xw, h, c, w_hh, b_hh)
  local gates = xw + F.linear(h, w_hh, b_hh)
  local q = gates:chunk(4, -1)
  c = F.sigmoid(q[2]) * c + F.sigmoid(q[1]) * F.tanh(q[3])
  return F.sigmoid(q[4]) * F.tanh(c), c
end

-- one GRU step (gates r, z, n): n = tanh(x_n + r * (h @ W_hn^T + b_hn)), h' = n + z * (h - n)
local function gru_step(xw, h, _, w_hh, b_hh)
  local xq, hq = xw:chunk(3, -1), F.linear(h, w_hh, b_hh):chunk(3, -1)
  local r, z = F.sigmoid(xq[1] + hq[1]), F.sigmoid(xq[2] + hq[2])
  local n = F.tanh(xq[3] + r * hq[3])
  return n + z * (h - n)
end

local function rnn(name, ngates, step, lstm)
  local cls = Module:extend(name)
  local ORDER = {"num_layers", "bias", "batch_first", "dropout", "bidirectional", "proj_size"}
  --- LSTM / GRU(input_size, hidden_size[, {num_layers=1, bias=true, batch_first=false, dropout=0,
  -- bidirectional=false}]) (or PyTorch's positional order num_layers, bias, batch_first, dropout,
  -- bidirectional). forward(x[, state]): x [T, N, input_size] ([N, T, input_size] with batch_first, or
  -- unbatched [T, input_size]) -> output [T, N, D hidden_size] (D = 2 when bidirectional) and the final
  -- state: LSTM {h_n, c_n}, GRU h_n, each [num_layers D, N, hidden_size] (the state given likewise, zeros
  -- when absent). dropout: on the outputs of every layer but the last, in train() only.
  function cls:__init(input_size, hidden_size, ...)
    Module.__init(self)
    local opts = options.positional(name, ORDER, ...)
    opts = options.check(opts, {"num_layers", "bias", "batch_first", "dropout", "bidirectional"}, name, 3)
    if math.type(input_size) ~= "integer" or math.type(hidden_size) ~= "integer" or input_size < 1 or hidden_size < 1 then
      error(string.format("%s(input_size, hidden_size): two positive integers expected, got %s and %s", name,
        tostring(input_size), tostring(hidden_size)), 3)
    end
    local layers = opts.num_layers or 1
    if math.type(layers) ~= "integer" or layers < 1 then
      error(name .. ": num_layers must be a positive integer, got " .. tostring(layers), 3)
    end
    for _, k in ipairs({"bias", "batch_first", "bidirectional"}) do
      if opts[k] ~= nil and type(opts[k]) ~= "boolean" then
        error(string.format("%s: option '%s' must be a boolean, got %s", name, k, tostring(opts[k])), 3)
      end
    end
    local p = opts.dropout or 0
    if type(p) ~= "number" or not (p >= 0 and p <= 1) then error(name .. ": dropout must be in [0, 1], got " .. tostring(p), 3) end
    self.input_size, self.hidden_size, self.num_layers, self.dropout = input_size, hidden_size, layers, p
    self.bias, self.batch_first = opts.bias ~= false, opts.batch_first == true
    self.bidirectional = opts.bidirectional == true
    local dirs, H = self.bidirectional and 2 or 1, hidden_size
    local bound = 1 / math.sqrt(H)
    for l = 0, layers - 1 do
      for d = 1, dirs do
        local sfx = string.format("_l%d%s", l, d == 2 and "_reverse" or "")
        local fan = l == 0 and input_size or H * dirs
        self:register_parameter("weight_ih" .. sfx, ks.empty(ngates * H, fan))
        self:register_parameter("weight_hh" .. sfx, ks.empty(ngates * H, H))
        if self.bias then
          self:register_parameter("bias_ih" .. sfx, ks.empty(ngates * H))
          self:register_parameter("bias_hh" .. sfx, ks.empty(ngates * H))
        end
      end
    end
    for _, w in ipairs(self:parameters()) do init.uniform_(w, -bound, bound) end
  end

  -- the initial state as [layers D, N, H] tensors (h, and c for the LSTM)
  function cls:_initial(state, n, batched)
    local dirs = self.bidirectional and 2 or 1
    local want = batched and {self.num_layers * dirs, n, self.hidden_size} or {self.num_layers * dirs, self.hidden_size}
    local parts
    if state == nil then
      local z = ks.zeros(want)
      return z, lstm and z or nil
    elseif lstm then
      if type(state) ~= "table" or ks.is_tensor(state) or not ks.is_tensor(state[1]) or not ks.is_tensor(state[2]) then
        error(name .. ": the state must be a list {h0, c0} of two tensors", 3)
      end
      parts = {state[1], state[2]}
    else
      if not ks.is_tensor(state) then error(name .. ": the state must be a tensor h0, got " .. type(state), 3) end
      parts = {state}
    end
    for i, t in ipairs(parts) do
      local ok = t:dim() == #want
      for k = 1, #want do ok = ok and t:size(k - 1) == want[k] end
      if not ok then
        error(string.format("%s: expected %s of shape [%s], got %s", name, i == 1 and "h0" or "c0", table.concat(want, ", "),
          shape_str(t)), 3)
      end
      if not batched then parts[i] = t:unsqueeze(1) end
    end
    return parts[1], parts[2]
  end

  -- one layer in one direction over x [T, N, I]: outputs [T, N, H], final h (and c)
  function cls:_run(x, l, reverse, h, c)
    local sfx = string.format("_l%d%s", l, reverse and "_reverse" or "")
    local xw = F.linear(x, self["weight_ih" .. sfx], self["bias_ih" .. sfx]) -- every step's input projection at once
    local w_hh, b_hh = self["weight_hh" .. sfx], self["bias_hh" .. sfx]
    local T, outs = x:size(0), {}
    for s = 0, T - 1 do
      local t = reverse and T - 1 - s or s
      h, c = step(xw[t], h, c, w_hh, b_hh)
      outs[t + 1] = h
    end
    return ks.stack(outs, 0), h, c
  end

  function cls:forward(x, state)
    if not ks.is_tensor(x) or (x:dim() ~= 3 and x:dim() ~= 2) then
      error(string.format("%s: expected a 3-D input %s (or unbatched 2-D [T, input_size]), got %s", name,
        self.batch_first and "[N, T, input_size]" or "[T, N, input_size]",
        ks.is_tensor(x) and ("shape " .. shape_str(x)) or type(x)), 2)
    end
    if x:size(-1) ~= self.input_size then
      error(string.format("%s: input of shape %s has %d features in its last dim, expected input_size=%d", name,
        shape_str(x), x:size(-1), self.input_size), 2)
    end
    local batched = x:dim() == 3
    local seq = batched and (self.batch_first and x:transpose(0, 1) or x) or x:unsqueeze(1)
    if seq:size(0) == 0 then error(name .. ": the input sequence is empty (shape " .. shape_str(x) .. ")", 2) end
    local h0, c0 = self:_initial(state, seq:size(1), batched)
    local dirs = self.bidirectional and 2 or 1
    local hs, cs = {}, {}
    for l = 0, self.num_layers - 1 do
      if l > 0 and self.dropout > 0 and self.training then seq = F.dropout(seq, self.dropout, true) end
      local outs = {}
      for d = 1, dirs do
        local k = l * dirs + d - 1
        local out, h, c = self:_run(seq, l, d == 2, h0[k], c0 and c0[k])
        outs[d], hs[k + 1], cs[k + 1] = out, h, c
      end
      seq = dirs == 1 and outs[1] or ks.cat(outs, -1)
    end
    local out = batched and (self.batch_first and seq:transpose(0, 1) or seq) or seq:squeeze(1)
    local hn = ks.stack(hs, 0)
    local cn = lstm and ks.stack(cs, 0) or nil
    if not batched then
      hn = hn:squeeze(1)
      cn = cn and cn:squeeze(1)
    end
    if lstm then return out, {hn, cn} end
    return out, hn
  end

  function cls:extra_repr()
    local s = string.format("%d, %d", self.input_size, self.hidden_size)
    if self.num_layers ~= 1 then s = s .. ", num_layers=" .. self.num_layers end
    if not self.bias then s = s .. ", bias=false" end
    if self.batch_first then s = s .. ", batch_first=true" end
    if self.dropout ~= 0 then s = s .. ", dropout=" .. tostring(self.dropout) end
    if self.bidirectional then s = s .. ", bidirectional=true" end
    return s
  end
  return cls
end

--- LSTM(input_size, hidden_size[, {num_layers=1, bias=true, batch_first=false, dropout=0, bidirectional=false}]):
-- gates i, f, g, o stacked in weight_ih_l0 [4 hidden, input] and weight_hh_l0 [4 hidden, hidden];
-- c' = sigmoid(f) c + sigmoid(i) tanh(g), h' = sigmoid(o) tanh(c'). forward(x[, {h0, c0}]) -> output, {h_n, c_n}
R.LSTM = rnn("LSTM", 4, lstm_step, true)
--- GRU(input_size, hidden_size[, {num_layers=1, bias=true, batch_first=false, dropout=0, bidirectional=false}]):
-- gates r, z, n stacked in weight_ih_l0 [3 hidden, input] and weight_hh_l0 [3 hidden, hidden];
-- n = tanh(W_in x + b_in + r (W_hn h + b_hn)), h' = (1 - z) n + z h. forward(x[, h0]) -> output, h_n
R.GRU = rnn("GRU", 3, gru_step, false)

return R
