/* ks_cov.h: torch.cov and torch.corrcoef without autograd, for the Lua
 * wrappers' no-grad path (bindings/lua/kshot/tensor_math_extra.lua keeps the
 * differentiable composition for inputs that require grad).
 *
 * Both run the very core ops of that composition in its order (mean, sub,
 * matmul with the transposed view, division by an integer; the diagonal's
 * sqrt, two divisions and a clamp), so their float32 results equal the Lua
 * path's bit for bit; only the Lua calls between the ops are saved.
 */
#ifndef KS_COV_H
#define KS_COV_H

#include "ks_tensor.h"

/* *out = the covariance matrix [V, V] of the variables in the rows of the
 * float32 x [V, N] (a 1-d x is one variable: a 0-d result), divided by
 * max(N - correction, 0) (0 gives inf / NaN, as torch). KS_ETYPE: x not
 * float32; KS_ESHAPE: x neither 1-d nor 2-d; KS_EINVAL: correction < 0. */
ks_status ks_cov(ks_ctx *c, ks_tensor *x, int64_t correction, ks_tensor **out);

/* *out = Pearson's correlation coefficients of x's rows (cov / the outer
 * product of the standard deviations, clamped to [-1, 1]); 0-d for a 1-d x
 * (cov / cov). Errors as ks_cov. */
ks_status ks_corrcoef(ks_ctx *c, ks_tensor *x, ks_tensor **out);

#endif
