/* ks_grad_views.h: autograd recording for view and shape ops.
 *
 * Call ks_ag_record_view after a successful view op (ks_view, ks_reshape,
 * ks_transpose, ...) with the op's kind and arguments (dims already
 * normalised); it records a node when grad mode is on and `input`
 * requires grad, so gradients flow through reshape, transpose, slicing,
 * expand and friends. */
#ifndef KS_GRAD_VIEWS_H
#define KS_GRAD_VIEWS_H

#include "ks_autograd.h"

typedef enum {
    KS_VIEW_RESHAPE,   /* args: the new shape (resolved, no -1) */
    KS_VIEW_TRANSPOSE, /* d0, d1 */
    KS_VIEW_PERMUTE,   /* perm[ndim] */
    KS_VIEW_NARROW,    /* dim, start, length */
    KS_VIEW_SLICE,     /* dim, start, stop, step */
    KS_VIEW_SELECT,    /* dim, index */
    KS_VIEW_SQUEEZE,   /* dim (-1: all) */
    KS_VIEW_UNSQUEEZE, /* dim */
    KS_VIEW_FLIP,      /* dims[] */
    KS_VIEW_EXPAND,    /* (none: reduced by shape) */
    KS_VIEW_IDENTITY,  /* clone, contiguous copy, dtype identity */
    KS_VIEW_ALIAS,     /* a new view of the same geometry (t[{"..."}], t[{}]) */
} ks_view_kind;

ks_status ks_ag_record_view(ks_ctx *c, ks_view_kind kind, const int64_t *args, int nargs, ks_tensor *input,
                            ks_tensor *out);

/* View ops that record (for backward kernels that must run under create_graph) */
ks_status ks_ag_reshape(ks_ctx *c, ks_tensor *t, int ndim, const int64_t *size, ks_tensor **out);
ks_status ks_ag_transpose(ks_ctx *c, ks_tensor *t, int d0, int d1, ks_tensor **out);
ks_status ks_ag_unsqueeze(ks_ctx *c, ks_tensor *t, int dim, ks_tensor **out);
ks_status ks_ag_expand(ks_ctx *c, ks_tensor *t, int ndim, const int64_t *size, ks_tensor **out);
/* ks_sum_to_shape that records (its backward expands) */
ks_status ks_ag_sum_to_shape(ks_ctx *c, ks_tensor *g, int ndim, const int64_t *size, ks_tensor **out);

#endif
