/* ks_grad_shape.h: autograd-recording versions of the shape ops of
 * ks_shape_ops.h (same arguments and semantics; see ks_grad_ops.h). */
#ifndef KS_GRAD_SHAPE_H
#define KS_GRAD_SHAPE_H

#include "ks_autograd.h"
#include "ks_shape_ops.h"

/* cat (stack = false) or stack; at most KS_NODE_MAX_IN inputs carry gradients */
ks_status ks_ag_join(ks_ctx *c, bool stack, int n, ks_tensor *const *ts, int64_t dim, ks_tensor **out);
ks_status ks_ag_split_sizes(ks_ctx *c, ks_tensor *t, int64_t dim, int64_t n, const int64_t *sizes, ks_tensor **outs);
/* gradients for constant mode only (other modes with a tensor that requires grad: an error) */
ks_status ks_ag_pad(ks_ctx *c, ks_tensor *t, int npads, const int64_t *pads, ks_pad_mode mode, double value,
                    ks_tensor **out);
ks_status ks_ag_repeat(ks_ctx *c, ks_tensor *t, int nreps, const int64_t *reps, ks_tensor **out);
ks_status ks_ag_roll(ks_ctx *c, ks_tensor *t, int nshifts, const int64_t *shifts, int ndims, const int64_t *dims,
                     ks_tensor **out);
ks_status ks_ag_tri(ks_ctx *c, bool upper, ks_tensor *t, int64_t diagonal, ks_tensor **out);

#endif
