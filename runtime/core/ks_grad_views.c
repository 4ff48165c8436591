/* ks_grad_views.c: autograd for shape and view ops.
 *
 * One backward serves every view-like op: make zeros of the input's shape,
 * apply the same op (same arguments) to them, and copy the incoming
 * gradient into that view: each output element's gradient lands on the
 * input element it came from. expand is the exception: many outputs share
 * one input element, so its gradient is summed (ks_sum_to_shape).
 *
 * Under create_graph the scattered gradient is recorded as a ViewGrad node
 * whose own backward applies the view again (recorded), and the sum of
 * expand as a SumToShape node whose backward expands (recorded), so views
 * can be differentiated any number of times. */
#include "ks_grad_views.h"

#include <string.h>

static ks_status apply_view(ks_ctx *c, ks_view_kind kind, const int64_t *a, int na, ks_tensor *t, ks_tensor **out)
{
    int dims[KS_MAX_DIMS];
    switch (kind) {
    case KS_VIEW_RESHAPE: return ks_reshape(c, t, na, a, out);
    case KS_VIEW_TRANSPOSE: return ks_transpose(c, t, (int)a[0], (int)a[1], out);
    case KS_VIEW_PERMUTE:
        for (int k = 0; k < na; k++) dims[k] = (int)a[k];
        return ks_permute(c, t, dims, out);
    case KS_VIEW_NARROW: return ks_narrow(c, t, (int)a[0], a[1], a[2], out);
    case KS_VIEW_SLICE: return ks_slice(c, t, (int)a[0], a[1], a[2], a[3], out);
    case KS_VIEW_SELECT: return ks_select(c, t, (int)a[0], a[1], out);
    case KS_VIEW_SQUEEZE: return ks_squeeze(c, t, (int)a[0], out);
    case KS_VIEW_UNSQUEEZE: return ks_unsqueeze(c, t, (int)a[0], out);
    case KS_VIEW_FLIP:
        for (int k = 0; k < na; k++) dims[k] = (int)a[k];
        return ks_flip(c, t, na, dims, out);
    case KS_VIEW_IDENTITY:
    case KS_VIEW_ALIAS: *out = ks_tensor_retain(t); return KS_OK;
    default: return ks_error(c, KS_EINVAL, "unknown view kind %d", (int)kind);
    }
}

/* ------------------------------------------------------------ recorded inverses (create_graph) */
/* backward of a view's backward: the view itself, recorded; i[] as the view node's */
static ks_status view_grad_backward(ks_ctx *c, ks_node *n, ks_tensor *const *gout, ks_tensor **gin)
{
    ks_view_kind kind = (ks_view_kind)n->i[0];
    int na = (int)n->i[1];
    ks_status st = apply_view(c, kind, n->i + 2, na, gout[0], &gin[0]);
    if (!st && (st = ks_ag_record_view(c, kind, n->i + 2, na, gout[0], gin[0]))) {
        ks_tensor_release(gin[0]);
        gin[0] = NULL;
    }
    return st;
}

static const ks_op_def op_view_grad = {"ViewGradBackward", view_grad_backward};

/* backward of a sum to shape: expand back, recorded */
static ks_status sum_to_backward(ks_ctx *c, ks_node *n, ks_tensor *const *gout, ks_tensor **gin)
{
    return ks_ag_expand(c, gout[0], n->in_ndim[0], n->in_size[0], &gin[0]);
}

static const ks_op_def op_sum_to = {"SumToSizeBackward", sum_to_backward};

/* attach a one-input node of op (input g) to out, when g is a graph member and grad mode is on */
static ks_status record_on(ks_ctx *c, const ks_op_def *op, ks_tensor *g, ks_tensor *out, const int64_t *opts, int nopts)
{
    if (!ks_ag_needs_record(c, 1, &g) || out == g) return KS_OK;
    ks_node *n = ks_node_new(c, op, 1, &g);
    if (!n) return KS_ENOMEM;
    n->double_backward = true;
    if (nopts) memcpy(n->i, opts, (size_t)nopts * sizeof *opts);
    ks_node_set_output(n, 0, out);
    ks_node_release(n);
    return KS_OK;
}

ks_status ks_ag_sum_to_shape(ks_ctx *c, ks_tensor *g, int ndim, const int64_t *size, ks_tensor **out)
{
    ks_status st = ks_sum_to_shape(c, g, ndim, size, out);
    if (!st && (st = record_on(c, &op_sum_to, g, *out, NULL, 0))) { ks_tensor_release(*out); *out = NULL; }
    return st;
}

/* run view op kind on t and record it */
static ks_status view_recorded(ks_ctx *c, ks_view_kind kind, const int64_t *a, int na, ks_tensor *t, ks_tensor **out)
{
    ks_status st = apply_view(c, kind, a, na, t, out);
    if (!st && (st = ks_ag_record_view(c, kind, a, na, t, *out))) { ks_tensor_release(*out); *out = NULL; }
    return st;
}

ks_status ks_ag_reshape(ks_ctx *c, ks_tensor *t, int ndim, const int64_t *size, ks_tensor **out)
{
    return view_recorded(c, KS_VIEW_RESHAPE, size, ndim, t, out);
}

ks_status ks_ag_transpose(ks_ctx *c, ks_tensor *t, int d0, int d1, ks_tensor **out)
{
    int64_t a[2] = {d0, d1};
    return view_recorded(c, KS_VIEW_TRANSPOSE, a, 2, t, out);
}

ks_status ks_ag_unsqueeze(ks_ctx *c, ks_tensor *t, int dim, ks_tensor **out)
{
    int64_t a = dim;
    return view_recorded(c, KS_VIEW_UNSQUEEZE, &a, 1, t, out);
}

ks_status ks_ag_expand(ks_ctx *c, ks_tensor *t, int ndim, const int64_t *size, ks_tensor **out)
{
    ks_status st = ks_expand(c, t, ndim, size, out);
    if (!st && (st = ks_ag_record_view(c, KS_VIEW_EXPAND, NULL, 0, t, *out))) { ks_tensor_release(*out); *out = NULL; }
    return st;
}

/* ------------------------------------------------------------ view backward */
static ks_status view_backward(ks_ctx *c, ks_node *n, ks_tensor *const *gout, ks_tensor **gin)
{
    ks_view_kind kind = (ks_view_kind)n->i[0];
    int na = (int)n->i[1];
    ks_status st;
    if (kind == KS_VIEW_EXPAND) return ks_ag_sum_to_shape(c, gout[0], n->in_ndim[0], n->in_size[0], &gin[0]);
    ks_tensor *z, *v = NULL;
    if ((st = ks_tensor_empty(c, KS_FLOAT32, n->in_ndim[0], n->in_size[0], &z))) return st;
    memset(ks_tensor_data(z), 0, (size_t)z->numel * sizeof(float));
    st = apply_view(c, kind, n->i + 2, na, z, &v);
    if (!st) st = ks_copy_(c, v, gout[0]);
    ks_tensor_release(v);
    if (!st) st = record_on(c, &op_view_grad, gout[0], z, n->i, 2 + na); /* create_graph */
    if (st) { ks_tensor_release(z); return st; }
    gin[0] = z;
    return KS_OK;
}

static const ks_op_def op_names[] = {
    [KS_VIEW_RESHAPE] = {"ViewBackward", view_backward},
    [KS_VIEW_TRANSPOSE] = {"TransposeBackward", view_backward},
    [KS_VIEW_PERMUTE] = {"PermuteBackward", view_backward},
    [KS_VIEW_NARROW] = {"NarrowBackward", view_backward},
    [KS_VIEW_SLICE] = {"SliceBackward", view_backward},
    [KS_VIEW_SELECT] = {"SelectBackward", view_backward},
    [KS_VIEW_SQUEEZE] = {"SqueezeBackward", view_backward},
    [KS_VIEW_UNSQUEEZE] = {"UnsqueezeBackward", view_backward},
    [KS_VIEW_FLIP] = {"FlipBackward", view_backward},
    [KS_VIEW_EXPAND] = {"ExpandBackward", view_backward},
    [KS_VIEW_IDENTITY] = {"CloneBackward", view_backward},
    [KS_VIEW_ALIAS] = {"AliasBackward", view_backward},
};

ks_status ks_ag_record_view(ks_ctx *c, ks_view_kind kind, const int64_t *args, int nargs, ks_tensor *input,
                            ks_tensor *out)
{
    if (!ks_ag_needs_record(c, 1, &input)) return KS_OK;
    if (input->dtype != KS_FLOAT32 || out->dtype != KS_FLOAT32)
        return ks_error(c, KS_ETYPE, "autograd: only float32 tensors carry gradients");
    if (nargs > 20) return ks_error(c, KS_EINVAL, "autograd: too many view arguments");
    ks_node *n = ks_node_new(c, &op_names[kind], 1, &input);
    if (!n) return KS_ENOMEM;
    n->double_backward = true;
    n->i[0] = kind;
    n->i[1] = nargs;
    if (nargs) memcpy(n->i + 2, args, (size_t)nargs * sizeof *args);
    /* out may already share a node (e.g. contiguous() returning t itself): never re-parent input */
    if (out == input) {
        ks_node_release(n);
        return KS_OK;
    }
    ks_node_set_output(n, 0, out);
    ks_node_release(n);
    return KS_OK;
}
