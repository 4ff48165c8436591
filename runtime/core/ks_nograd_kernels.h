/* ks_nograd_kernels.h: one-pass forward kernels of tensor functions whose Lua
 * compositions (bindings/lua/kshot/tensor_shape_extra.lua, tensor_math_extra.lua)
 * record autograd through views and ops. The Lua wrappers call these when the
 * input does not require grad (nothing to record), so a call on a small tensor
 * costs one op instead of two to four. Stateless; each makes a new contiguous
 * result and records no autograd. Element values are copied exactly (no
 * conversion) unless said otherwise.
 */
#ifndef KS_NOGRAD_KERNELS_H
#define KS_NOGRAD_KERNELS_H

#include "ks_tensor.h"

/* *out = a new [n + |offset|, n + |offset|] tensor of the 1-D t's dtype, zero
 * but for t's n elements on the diagonal offset (above the main one for
 * offset > 0, below for < 0): torch.diag of a vector. KS_ESHAPE: t not 1-D;
 * KS_EINVAL: |offset| > 2^31. */
ks_status ks_diag_embed(ks_ctx *c, ks_tensor *t, int64_t offset, ks_tensor **out);

/* *out = a new 0-d tensor, the sum of the 2-D t's main diagonal: float32
 * summed in double and rounded once, int64 in int64. KS_ESHAPE: t not 2-D;
 * KS_ETYPE: t neither float32 nor int64. */
ks_status ks_trace(ks_ctx *c, ks_tensor *t, ks_tensor **out);

/* *out = a new tensor of index's shape and t's dtype: t read flat (row-major)
 * at the int64 positions index (negative from the end, -n to n - 1).
 * KS_ETYPE: index not int64; KS_ERANGE: a position outside that range (the
 * message names it). */
ks_status ks_take(ks_ctx *c, ks_tensor *t, ks_tensor *index, ks_tensor **out);

/* *out = the first forward difference of t along its last dim (t[..., 1:] -
 * t[..., :-1]), of t's shape with that dim one shorter. KS_ESHAPE: t 0-d or
 * its last dim empty; KS_ETYPE: t neither float32 nor int64. */
ks_status ks_diff_last(ks_ctx *c, ks_tensor *t, ks_tensor **out);

#endif
