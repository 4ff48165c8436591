/* ks_grad_views.c: autograd for shape and view ops.
 *
 * One backward serves every view-like op: make zeros of the input's shape,
 * apply the same op (same arguments) to them, and copy the incoming
 * gradient into that view: each output element's gradient lands on the
 * input element it came from. expand is the exception: many outputs share
 * one input element, so its gradient is summed (ks_sum_to_shape). */
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
    case KS_VIEW_IDENTITY: *out = ks_tensor_retain(t); return KS_OK;
    default: return ks_error(c, KS_EINVAL, "unknown view kind %d", (int)kind);
    }
}

static ks_status view_backward(ks_ctx *c, ks_node *n, ks_tensor *const *gout, ks_tensor **gin)
{
    ks_view_kind kind = (ks_view_kind)n->i[0];
    int na = (int)n->i[1];
    ks_status st;
    if (kind == KS_VIEW_EXPAND) return ks_sum_to_shape(c, gout[0], n->in_ndim[0], n->in_size[0], &gin[0]);
    ks_tensor *z, *v = NULL;
    if ((st = ks_tensor_empty(c, KS_FLOAT32, n->in_ndim[0], n->in_size[0], &z))) return st;
    memset(ks_tensor_data(z), 0, (size_t)z->numel * sizeof(float));
    st = apply_view(c, kind, n->i + 2, na, z, &v);
    if (!st) st = ks_copy_(c, v, gout[0]);
    ks_tensor_release(v);
    if (st) { ks_tensor_release(z); return st; }
    gin[0] = z;
    return KS_OK;
}

static const ks_op_def op_names[] = {
    [KS_VIEW_RESHAPE] = {"ViewBackward", view_backward},     [KS_VIEW_TRANSPOSE] = {"TransposeBackward", view_backward},
    [KS_VIEW_PERMUTE] = {"PermuteBackward", view_backward},  [KS_VIEW_NARROW] = {"NarrowBackward", view_backward},
    [KS_VIEW_SLICE] = {"SliceBackward", view_backward},      [KS_VIEW_SELECT] = {"SelectBackward", view_backward},
    [KS_VIEW_SQUEEZE] = {"SqueezeBackward", view_backward},  [KS_VIEW_UNSQUEEZE] = {"UnsqueezeBackward", view_backward},
    [KS_VIEW_FLIP] = {"FlipBackward", view_backward},        [KS_VIEW_EXPAND] = {"ExpandBackward", view_backward},
    [KS_VIEW_IDENTITY] = {"CloneBackward", view_backward},
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
