--- kshot.optim.LBFGS: PyTorch's L-BFGS (full batch; linear probes, small convex fits).
--
--   local opt = optim.LBFGS(params, {lr = 1, max_iter = 20, line_search_fn = "strong_wolfe"})
--   opt:step(function() opt:zero_grad(); local l = loss_fn(); l:backward(); return l end)
--
-- Options and defaults as torch.optim.LBFGS: lr = 1, max_iter = 20,
-- max_eval = max_iter * 5 // 4, tolerance_grad = 1e-7, tolerance_change = 1e-9,
-- history_size = 100, line_search_fn = nil | "strong_wolfe". One parameter
-- group only; all parameters are treated as one flat vector. The closure
-- re-evaluates the loss and gradients and returns the loss (tensor or number).
-- Scalars (step sizes, curvature products) are kept as Lua doubles; vectors
-- are float32 tensors. This is not a hot loop: the vector algebra goes
-- through ordinary tensor ops.
local ks = require "kshot"

return function(M, Optimizer, class, fail, check_range)
  local dot = function(a, b) return ks.dot(a, b):item() end
  local function absmax(t) return t:abs():max():item() end

  local function gather_flat_grad(params)
    local views = {}
    for i, p in ipairs(params) do
      local g = p.grad
      views[i] = g and g:reshape(-1) or ks.zeros(p:numel())
    end
    return ks.cat(views, 0)
  end

  local function add_grad(params, step, update)
    local off = 0
    for _, p in ipairs(params) do
      local n = p:numel()
      p:add_(update:narrow(0, off, n):view(p:shape()), step)
      off = off + n
    end
  end

  local function set_params(params, xs)
    for i, p in ipairs(params) do p:copy_(xs[i]) end
  end

  local function cubic_interpolate(x1, f1, g1, x2, f2, g2, lo, hi)
    if not lo then
      if x1 <= x2 then lo, hi = x1, x2 else lo, hi = x2, x1 end
    end
    local d1 = g1 + g2 - 3 * (f1 - f2) / (x1 - x2)
    local d2_square = d1 * d1 - g1 * g2
    if d2_square >= 0 then
      local d2 = math.sqrt(d2_square)
      local min_pos
      if x1 <= x2 then
        min_pos = x2 - (x2 - x1) * ((g2 + d2 - d1) / (g2 - g1 + 2 * d2))
      else
        min_pos = x1 - (x1 - x2) * ((g1 + d2 - d1) / (g1 - g2 + 2 * d2))
      end
      return math.min(math.max(min_pos, lo), hi)
    end
    return (lo + hi) / 2
  end

  -- Strong-Wolfe line search along d from x (More-Thuente style bracketing
  -- with cubic interpolation, as minFunc / PyTorch). Returns f, g, t, evals.
  local function strong_wolfe(obj, x, t, d, f, g, gtd, c1, c2, tolerance_change, max_ls)
    c1, c2, tolerance_change, max_ls = c1 or 1e-4, c2 or 0.9, tolerance_change or 1e-9, max_ls or 25
    local d_norm = absmax(d)
    g = g:clone()
    local f_new, g_new = obj(x, t, d)
    local evals = 1
    local gtd_new = dot(g_new, d)
    local t_prev, f_prev, g_prev, gtd_prev = 0, f, g, gtd
    local done, ls_iter = false, 0
    local br, br_f, br_g, br_gtd
    while ls_iter < max_ls do
      if f_new > f + c1 * t * gtd or (ls_iter > 1 and f_new >= f_prev) then
        br, br_f, br_g, br_gtd = {t_prev, t}, {f_prev, f_new}, {g_prev, g_new:clone()}, {gtd_prev, gtd_new}
        break
      end
      if math.abs(gtd_new) <= -c2 * gtd then
        br, br_f, br_g, done = {t}, {f_new}, {g_new}, true
        break
      end
      if gtd_new >= 0 then
        br, br_f, br_g, br_gtd = {t_prev, t}, {f_prev, f_new}, {g_prev, g_new:clone()}, {gtd_prev, gtd_new}
        break
      end
      local min_step, max_step = t + 0.01 * (t - t_prev), t * 10
      local tmp = t
      t = cubic_interpolate(t_prev, f_prev, gtd_prev, t, f_new, gtd_new, min_step, max_step)
      t_prev, f_prev, g_prev, gtd_prev = tmp, f_new, g_new:clone(), gtd_new
      f_new, g_new = obj(x, t, d)
      evals = evals + 1
      gtd_new = dot(g_new, d)
      ls_iter = ls_iter + 1
    end
    if ls_iter == max_ls then
      br, br_f, br_g = {0, t}, {f, f_new}, {g, g_new}
      br_gtd = br_gtd or {gtd, gtd_new}
    end
    -- zoom: shrink the bracket until the strong Wolfe conditions hold
    local insuf_progress = false
    local low, high = 1, 2
    if br_f[1] > br_f[#br_f] then low, high = 2, 1 end
    while not done and ls_iter < max_ls do
      if math.abs(br[2] - br[1]) * d_norm < tolerance_change then break end
      t = cubic_interpolate(br[1], br_f[1], br_gtd[1], br[2], br_f[2], br_gtd[2])
      local bmax, bmin = math.max(br[1], br[2]), math.min(br[1], br[2])
      local eps = 0.1 * (bmax - bmin)
      if math.min(bmax - t, t - bmin) < eps then
        if insuf_progress or t >= bmax or t <= bmin then
          if math.abs(t - bmax) < math.abs(t - bmin) then t = bmax - eps else t = bmin + eps end
          insuf_progress = false
        else
          insuf_progress = true
        end
      else
        insuf_progress = false
      end
      f_new, g_new = obj(x, t, d)
      evals = evals + 1
      gtd_new = dot(g_new, d)
      ls_iter = ls_iter + 1
      if f_new > f + c1 * t * gtd or f_new >= br_f[low] then
        br[high], br_f[high], br_g[high], br_gtd[high] = t, f_new, g_new:clone(), gtd_new
        if br_f[1] <= br_f[2] then low, high = 1, 2 else low, high = 2, 1 end
      else
        if math.abs(gtd_new) <= -c2 * gtd then
          done = true
        elseif gtd_new * (br[high] - br[low]) >= 0 then
          br[high], br_f[high], br_g[high], br_gtd[high] = br[low], br_f[low], br_g[low], br_gtd[low]
        end
        br[low], br_f[low], br_g[low], br_gtd[low] = t, f_new, g_new:clone(), gtd_new
      end
    end
    return br_f[low], br_g[low], br[low], evals
  end

  local LBFGS = class("LBFGS", {lr = 1, max_iter = 20, tolerance_grad = 1e-7, tolerance_change = 1e-9,
    history_size = 100},
    function(self, g)
      check_range(self, g, "lr", 0)
      if type(g.max_iter) ~= "number" or g.max_iter < 1 then fail(self, "invalid max_iter: %s (expected >= 1)", tostring(g.max_iter)) end
      g.max_eval = g.max_eval or (g.max_iter * 5 // 4)
      check_range(self, g, "tolerance_grad", 0)
      check_range(self, g, "tolerance_change", 0)
      if type(g.history_size) ~= "number" or g.history_size < 1 then
        fail(self, "invalid history_size: %s (expected >= 1)", tostring(g.history_size))
      end
      if g.line_search_fn ~= nil and g.line_search_fn ~= "strong_wolfe" then
        fail(self, "line_search_fn must be nil or \"strong_wolfe\", got %s", tostring(g.line_search_fn))
      end
    end)
  LBFGS._flat_state = true -- its state vectors span all parameters
  LBFGS._optional = {max_eval = true, line_search_fn = true} -- options whose default is nil

  local base_add = Optimizer.add_param_group
  function LBFGS:add_param_group(g)
    if #self.param_groups >= 1 then fail(self, "LBFGS doesn't support per-parameter options (parameter groups)") end
    base_add(self, g)
  end

  local function to_number(self, loss)
    if ks.is_tensor(loss) then return loss:item() end
    if type(loss) ~= "number" then fail(self, "the closure must return the loss (a tensor or number), got %s", type(loss)) end
    return loss
  end

  --- One optimization step (up to max_iter L-BFGS iterations); returns the first loss.
  function LBFGS:step(closure)
    if type(closure) ~= "function" then
      fail(self, "step needs a closure that re-evaluates the model and returns the loss, got %s", type(closure))
    end
    local group = self.param_groups[1]
    local params = group.params
    local lr, max_iter, max_eval = group.lr, group.max_iter, group.max_eval
    local tol_grad, tol_change, history_size = group.tolerance_grad, group.tolerance_change, group.history_size
    local state = self.state[params[1]]
    if not state then
      state = {func_evals = 0, n_iter = 0}
      self.state[params[1]] = state
    end
    local function evaluate() return ks.enable_grad(closure) end
    local orig_loss = evaluate()
    local loss = to_number(self, orig_loss)
    local current_evals = 1
    state.func_evals = state.func_evals + 1
    return ks.no_grad(function()
      local flat_grad = gather_flat_grad(params)
      if absmax(flat_grad) <= tol_grad then return orig_loss end
      local d, t = state.d, state.t
      local old_dirs, old_stps, ro = state.old_dirs, state.old_stps, state.ro
      local H_diag, prev_flat_grad, prev_loss = state.H_diag, state.prev_flat_grad, state.prev_loss
      local n_iter = 0
      while n_iter < max_iter do
        n_iter = n_iter + 1
        state.n_iter = state.n_iter + 1
        if state.n_iter == 1 then
          d = flat_grad:neg()
          old_dirs, old_stps, ro, H_diag = {}, {}, {}, 1
        else
          local y = flat_grad:sub(prev_flat_grad)
          local s = d:mul(t)
          local ys = dot(y, s)
          if ys > 1e-10 then
            if #old_dirs == history_size then
              table.remove(old_dirs, 1); table.remove(old_stps, 1); table.remove(ro, 1)
            end
            old_dirs[#old_dirs + 1], old_stps[#old_stps + 1], ro[#ro + 1] = y, s, 1 / ys
            H_diag = ys / dot(y, y)
          end
          -- two-loop recursion: d = -H g
          local al = {}
          local q = flat_grad:neg()
          for i = #old_dirs, 1, -1 do
            al[i] = dot(old_stps[i], q) * ro[i]
            q:add_(old_dirs[i], -al[i])
          end
          d = q:mul(H_diag)
          for i = 1, #old_dirs do
            local be_i = dot(old_dirs[i], d) * ro[i]
            d:add_(old_stps[i], al[i] - be_i)
          end
        end
        prev_flat_grad = flat_grad:clone()
        prev_loss = loss
        if state.n_iter == 1 then
          t = math.min(1, 1 / flat_grad:abs():sum():item()) * lr
        else
          t = lr
        end
        local gtd = dot(flat_grad, d)
        if gtd > -tol_change then break end
        local ls_evals = 0
        local opt_cond = false
        if group.line_search_fn == "strong_wolfe" then
          local x_init = {}
          for i, p in ipairs(params) do x_init[i] = p:clone() end
          local function obj(x, step, dir)
            add_grad(params, step, dir)
            local l = to_number(self, evaluate())
            local fg = gather_flat_grad(params)
            set_params(params, x)
            return l, fg
          end
          loss, flat_grad, t, ls_evals = strong_wolfe(obj, x_init, t, d, loss, flat_grad, gtd)
          add_grad(params, t, d)
          opt_cond = absmax(flat_grad) <= tol_grad
        else
          add_grad(params, t, d)
          if n_iter ~= max_iter then
            loss = to_number(self, evaluate())
            flat_grad = gather_flat_grad(params)
            opt_cond = absmax(flat_grad) <= tol_grad
            ls_evals = 1
          end
        end
        current_evals = current_evals + ls_evals
        state.func_evals = state.func_evals + ls_evals
        if n_iter == max_iter or current_evals >= max_eval or opt_cond then break end
        if absmax(d:mul(t)) <= tol_change then break end
        if math.abs(loss - prev_loss) < tol_change then break end
      end
      state.d, state.t, state.old_dirs, state.old_stps, state.ro = d, t, old_dirs, old_stps, ro
      state.H_diag, state.prev_flat_grad, state.prev_loss = H_diag, prev_flat_grad, prev_loss
      return orig_loss
    end)
  end

  return LBFGS
end
