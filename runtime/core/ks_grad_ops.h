/* ks_grad_ops.h: autograd-recording entry points for the generic tensor ops.
 *
 * Each ks_ag_* function runs the plain op (ks_elementwise.h, ks_reduce.h,
 * ks_linalg.h, ...) and, when grad mode is on and a tensor input requires
 * grad, records a node whose backward is in ks_grad_*.c. The bindings call
 * these rather than the plain ops, so every differentiable op carries
 * gradients; ops without a derivative (comparisons, argmax, floor, ...)
 * produce tensors that do not require grad (as in PyTorch, floor/round/sign
 * give zero gradients).
 *
 * In-place ops on a tensor that requires grad: a leaf that requires grad
 * cannot be modified in place while grad mode is on (error, as PyTorch);
 * modifying a tensor saved for backward is caught by the version counter
 * when backward runs.
 */
#ifndef KS_GRAD_OPS_H
#define KS_GRAD_OPS_H

#include "ks_autograd.h"
#include "ks_elementwise.h"
#include "ks_reduce.h"

/* a op b with a, b tensors or scalars; alpha scales b for add/sub (NULL: 1) */
ks_status ks_ag_binary(ks_ctx *c, ks_binop op, ks_operand a, ks_operand b, const ks_scalar *alpha, ks_tensor **out);
ks_status ks_ag_unary(ks_ctx *c, ks_unop op, ks_tensor *a, ks_tensor **out);
ks_status ks_ag_clamp(ks_ctx *c, ks_tensor *a, const ks_scalar *lo, const ks_scalar *hi, ks_tensor **out);
ks_status ks_ag_where(ks_ctx *c, ks_tensor *cond, ks_operand a, ks_operand b, ks_tensor **out);

/* reductions: kind selects sum, mean, amax, amin, logsumexp (dims as ks_reduce.h) */
typedef enum { KS_AG_SUM, KS_AG_MEAN, KS_AG_AMAX, KS_AG_AMIN, KS_AG_LOGSUMEXP, KS_AG_PROD } ks_ag_reduce_kind;
/* Record value (0-d, the median of all of t) for autograd: as PyTorch's
 * median(), the elements equal to it share its gradient evenly. */
ks_status ks_ag_record_median_all(ks_ctx *c, ks_tensor *t, ks_tensor *value);
ks_status ks_ag_reduce(ks_ctx *c, ks_ag_reduce_kind kind, ks_tensor *t, int ndims, const int *dims, bool keepdim,
                       ks_tensor **out);
ks_status ks_ag_var(ks_ctx *c, ks_tensor *t, int ndims, const int *dims, double correction, bool keepdim, bool take_sqrt,
                    ks_tensor **out);
ks_status ks_ag_norm(ks_ctx *c, ks_tensor *t, double p, int ndims, const int *dims, bool keepdim, ks_tensor **out);
/* max/min along a dim: values carry gradients through the indices */
ks_status ks_ag_max_dim(ks_ctx *c, ks_tensor *t, int dim, bool keepdim, bool is_min, ks_tensor **values,
                        ks_tensor **indices);
ks_status ks_ag_cumsum(ks_ctx *c, ks_tensor *t, int dim, ks_tensor **out);
ks_status ks_ag_cumprod(ks_ctx *c, ks_tensor *t, int dim, ks_tensor **out);

/* matmul with PyTorch's rank rules and batch broadcasting */
ks_status ks_ag_matmul(ks_ctx *c, ks_tensor *a, ks_tensor *b, ks_tensor **out);
/* mm (2-D), bmm (3-D), mv (2-D x 1-D), dot (1-D x 1-D): matmul with fixed ranks */
typedef enum { KS_AG_MM, KS_AG_BMM, KS_AG_MV, KS_AG_DOT } ks_ag_mm_kind;
ks_status ks_ag_mm(ks_ctx *c, ks_ag_mm_kind kind, ks_tensor *a, ks_tensor *b, ks_tensor **out);
ks_status ks_ag_outer(ks_ctx *c, ks_tensor *a, ks_tensor *b, ks_tensor **out);
/* beta * input + alpha * (a @ b) */
ks_status ks_ag_addmm(ks_ctx *c, ks_tensor *input, ks_tensor *a, ks_tensor *b, double beta, double alpha,
                      ks_tensor **out);

/* Refuse an in-place write into a leaf that requires grad while grad mode is on. */
ks_status ks_ag_check_inplace(ks_ctx *c, const ks_tensor *t, const char *op);
/* In-place ops are not recorded: with grad mode on, a source that requires
 * grad would silently get no gradient, so it is an error too. */
ks_status ks_ag_check_inplace_src(ks_ctx *c, const ks_tensor *src, const char *op);

#endif
