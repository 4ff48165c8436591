/* ks_order_stats.h: statistics read from the sorted values of each row
 * (torch.mode and torch.quantile). Stateless kernels without autograd: each
 * makes new result tensors in one pass (a sort per row) over its input. The
 * Lua wrappers (bindings/lua/kshot/tensor_math_extra.lua) keep the public
 * names, options and argument checks, and keep the differentiable Lua
 * composition of quantile for inputs that require grad.
 */
#ifndef KS_ORDER_STATS_H
#define KS_ORDER_STATS_H

#include "ks_tensor.h"

/* The most frequent value of each row of t along dim (0-based, negative from
 * the end; a 0-d t is one row of one element) and the index of its last
 * occurrence, as torch.mode on the CPU: among equally frequent values the
 * smallest wins; NaNs never equal each other. *values has t's dtype, *indices
 * is int64, both of t's shape without dim (keepdim: dim kept with size 1; a
 * 0-d t gives 0-d results). int64 elements compare as int64, the others as
 * double. KS_ERANGE: dim out of range; KS_EINVAL: an empty dim. */
ks_status ks_mode(ks_ctx *c, ks_tensor *t, int64_t dim, bool keepdim, ks_tensor **values, ks_tensor **indices);

typedef enum {
    KS_QUANTILE_LINEAR,
    KS_QUANTILE_LOWER,
    KS_QUANTILE_HIGHER,
    KS_QUANTILE_NEAREST,  /* ties to the even position, as torch */
    KS_QUANTILE_MIDPOINT
} ks_quantile_mode;

/* *out = the quantiles q[0..nq) (each in [0, 1]) of the float32 t, along dim
 * (0-based, negative from the end), or of t flattened when flat. Position
 * p = q * (n - 1) in float32 over the ascending row (NaN last), the value
 * between its floor and ceil chosen by mode, linear as
 * lo + (hi - lo) * (p - floor(p)) in float32 (torch 1.13's arithmetic).
 * Shape: [nq] then t's shape without dim (flat: nothing; keepdim: dim, or
 * every dim when flat, kept with size 1); q_dim false drops the leading [nq]
 * (nq must then be 1). KS_EINVAL: t not float32, q outside [0, 1] or NaN,
 * nq != 1 without q_dim, or an empty dim; KS_ERANGE: dim out of range. */
ks_status ks_quantile(ks_ctx *c, ks_tensor *t, const float *q, int64_t nq, bool q_dim, bool flat, int64_t dim,
                      bool keepdim, ks_quantile_mode mode, ks_tensor **out);

#endif
