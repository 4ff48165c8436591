/* ks_grad_select.h: autograd-recording entry points for the selection ops
 * (ks_indexing.h, ks_sort.h, ks_distance.h), same contract as
 * ks_grad_ops.h: each runs the plain op and, when grad mode is on and a
 * float32 input requires grad, records a node (backward in ks_grad_select.c).
 *
 * Gradients: index_select -> index_add_ of the gradient; gather -> scatter_add_;
 * index_add / scatter_add -> the gradient itself and its index_select / gather;
 * masked_fill -> the gradient with the filled places zeroed; masked_select ->
 * masked_scatter_ into zeros; the values of sort/topk/kthvalue/median flow back
 * to the positions their indices name; cdist -> ks_cdist_backward. Integer
 * index tensors never get gradients.
 * Under create_graph every backward here records (double backward): the
 * scatter-adds become index_add / scatter_add, whose own gradients are the
 * index_select / gather again; cdist records for finite p >= 1, scatter_add
 * only when its index has the source's shape.
 */
#ifndef KS_GRAD_SELECT_H
#define KS_GRAD_SELECT_H

#include "ks_autograd.h"

ks_status ks_ag_index_select(ks_ctx *c, ks_tensor *t, int dim, ks_tensor *index, ks_tensor **out);
ks_status ks_ag_gather(ks_ctx *c, ks_tensor *t, int dim, ks_tensor *index, ks_tensor **out);
/* out-of-place masked_fill: t and mask broadcast together (PyTorch) */
ks_status ks_ag_masked_fill(ks_ctx *c, ks_tensor *t, ks_tensor *mask, double value, ks_tensor **out);
ks_status ks_ag_masked_select(ks_ctx *c, ks_tensor *t, ks_tensor *mask, ks_tensor **out);
/* out-of-place accumulations (class sums, prototypes): gradients flow to
 * self (unchanged) and to the source (index_select / gather of the gradient) */
ks_status ks_ag_index_add(ks_ctx *c, ks_tensor *self, int dim, ks_tensor *index, ks_tensor *source, double alpha,
                          ks_tensor **out);
ks_status ks_ag_scatter_add(ks_ctx *c, ks_tensor *self, int dim, ks_tensor *index, ks_tensor *src, ks_tensor **out);

/* values carry gradients through the indices; indices may not be NULL */
ks_status ks_ag_sort(ks_ctx *c, ks_tensor *t, int dim, bool descending, ks_tensor **values, ks_tensor **indices);
ks_status ks_ag_topk(ks_ctx *c, ks_tensor *t, int64_t k, int dim, bool largest, ks_tensor **values,
                     ks_tensor **indices);
ks_status ks_ag_kthvalue(ks_ctx *c, ks_tensor *t, int64_t k, int dim, bool keepdim, ks_tensor **values,
                         ks_tensor **indices);
ks_status ks_ag_median(ks_ctx *c, ks_tensor *t, int dim, bool keepdim, ks_tensor **values, ks_tensor **indices);
ks_status ks_ag_median_all(ks_ctx *c, ks_tensor *t, ks_tensor **value);

ks_status ks_ag_cdist(ks_ctx *c, ks_tensor *x1, ks_tensor *x2, double p, ks_tensor **out);

/* For ops without a gradient formula here (in-place writes, scatter-like
 * ops): KS_ESTATE naming op when grad mode is on and one of the n inputs
 * requires grad, so gradients are never silently wrong. */
ks_status ks_ag_refuse(ks_ctx *c, const char *op, int n, ks_tensor *const *inputs);

#endif
