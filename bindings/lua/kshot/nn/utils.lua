--- kshot.nn.utils (nn.utils): torch.nn.utils's gradient clipping and
-- parameter vectors.
--   nn.utils.clip_grad_norm_(model:parameters(), 1.0)      -- = kshot.regularize's
--   local v = nn.utils.parameters_to_vector(model:parameters())
--   nn.utils.vector_to_parameters(v, model:parameters())
local ks = require "kshot"
local regularize = require "kshot.regularize"

local M = {}

--- nn.utils.clip_grad_norm_(parameters, max_norm[, norm_type = 2 (p >= 1, or math.huge / "inf")[,
-- error_if_nonfinite = false]]) -> the total norm before clipping: the gradients scaled in place so
-- their global norm is at most max_norm; torch's keywords also as a table after the positional values
-- ({norm_type =, error_if_nonfinite =}) (kshot.regularize's; help("regularize.clip_grad_norm_") has the details)
M.clip_grad_norm_ = regularize.clip_grad_norm_
--- nn.utils.clip_grad_value_(parameters, clip_value): each gradient element clamped in place
-- to [-clip_value, clip_value] (kshot.regularize's)
M.clip_grad_value_ = regularize.clip_grad_value_

local function param_list(fname, params)
  if ks.is_tensor(params) then return { params } end
  if type(params) ~= "table" then
    error(string.format("%s: argument 'parameters' must be a list of tensors, got %s", fname, type(params)), 3)
  end
  for i, p in ipairs(params) do
    if not ks.is_tensor(p) then
      error(string.format("%s: parameters[%d] must be a tensor, got %s", fname, i, type(p)), 3)
    end
  end
  return params
end

--- parameters_to_vector(parameters): the parameters flattened and joined into
-- one 1-d tensor (differentiable, as torch's).
function M.parameters_to_vector(params)
  params = param_list("parameters_to_vector", params)
  local flat = {}
  for i, p in ipairs(params) do flat[i] = p:reshape(-1) end
  if #flat == 0 then return ks.zeros(0) end
  return ks.cat(flat, 0)
end

--- vector_to_parameters(vec, parameters): copies consecutive slices of the
-- 1-d vec into the parameters (their .data, in place, not recorded).
function M.vector_to_parameters(vec, params)
  if not ks.is_tensor(vec) or vec:dim() ~= 1 then
    error("vector_to_parameters: argument 'vec' must be a 1-d tensor, got "
      .. (ks.is_tensor(vec) and ("a " .. vec:dim() .. "-d tensor") or type(vec)), 2)
  end
  params = param_list("vector_to_parameters", params)
  local total = 0
  for _, p in ipairs(params) do total = total + p:numel() end
  if total ~= vec:numel() then
    error(string.format("vector_to_parameters: vec has %d elements, the parameters %d", vec:numel(), total), 2)
  end
  ks.no_grad(function()
    local at = 0
    for _, p in ipairs(params) do
      local n = p:numel()
      p.data:copy_(vec:narrow(0, at, n):reshape(p:shape()))
      at = at + n
    end
  end)
end

return M
