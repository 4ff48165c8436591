/* ks_grad_select.c: backward kernels of the selection ops (ks_grad_select.h).
 * Nodes save only inputs (index tensors, masks, cdist operands), never their
 * outputs, so graphs stay acyclic. */
#include "ks_grad_select.h"
#include "ks_grad_ops.h"
#include "ks_distance.h"
#include "ks_indexing.h"
#include "ks_sort.h"

#include <string.h>

#define TRY(x) do { if ((st = (x)) != KS_OK) goto done; } while (0)

/* zero-filled float32 tensor of the node's input k */
static ks_status zeros_like_input(ks_ctx *c, const ks_node *n, int k, ks_tensor **out)
{
    ks_status st = ks_tensor_empty(c, KS_FLOAT32, n->in_ndim[k], n->in_size[k], out);
    if (!st) memset(ks_tensor_data(*out), 0, (size_t)(*out)->numel * sizeof(float));
    return st;
}

/* One-input node saving `save` (may be NULL) with options i0, i1. */
static ks_status record1(ks_ctx *c, const ks_op_def *op, ks_tensor *t, ks_tensor *out, ks_tensor *save, int64_t i0,
                         int64_t i1)
{
    if (out->dtype != KS_FLOAT32 || !ks_ag_needs_record(c, 1, &t)) return KS_OK;
    ks_node *n = ks_node_new(c, op, 1, &t);
    if (!n) return KS_ENOMEM;
    n->i[0] = i0;
    n->i[1] = i1;
    ks_status st = save ? ks_node_save(c, n, save) : KS_OK;
    if (!st) ks_node_set_output(n, 0, out);
    ks_node_release(n);
    return st;
}

ks_status ks_ag_refuse(ks_ctx *c, const char *op, int n, ks_tensor *const *inputs)
{
    if (ks_ag_needs_record(c, n, inputs))
        return ks_error(c, KS_ESTATE, "%s: not differentiable here (an input requires grad); use an out-of-place op "
                        "with a gradient, detach() the input, or run it inside ks.no_grad", op);
    return KS_OK;
}

/* ------------------------------------------------------------ index_select */
/* saved 0: index; i[0] dim */
static ks_status index_select_backward(ks_ctx *c, ks_node *n, ks_tensor *const *gout, ks_tensor **gin)
{
    ks_tensor *idx, *z = NULL;
    ks_status st = ks_node_get_saved(c, n, 0, &idx);
    if (st) return st;
    TRY(zeros_like_input(c, n, 0, &z));
    TRY(ks_index_add_(c, z, (int)n->i[0], idx, gout[0], 1.0));
    gin[0] = z;
    z = NULL;
done:
    ks_tensor_release(z);
    return st;
}

static const ks_op_def op_index_select = {"IndexSelectBackward", index_select_backward};

ks_status ks_ag_index_select(ks_ctx *c, ks_tensor *t, int dim, ks_tensor *index, ks_tensor **out)
{
    ks_tensor *r;
    ks_status st = ks_index_select(c, t, dim, index, &r);
    if (!st && (st = record1(c, &op_index_select, t, r, index, dim, 0))) ks_tensor_release(r);
    if (!st) *out = r;
    return st;
}

/* ------------------------------------------------------------------ gather */
static ks_status gather_backward(ks_ctx *c, ks_node *n, ks_tensor *const *gout, ks_tensor **gin)
{
    ks_tensor *idx, *z = NULL;
    ks_status st = ks_node_get_saved(c, n, 0, &idx);
    if (st) return st;
    TRY(zeros_like_input(c, n, 0, &z));
    TRY(ks_scatter_add_(c, z, (int)n->i[0], idx, gout[0]));
    gin[0] = z;
    z = NULL;
done:
    ks_tensor_release(z);
    return st;
}

static const ks_op_def op_gather = {"GatherBackward", gather_backward};

ks_status ks_ag_gather(ks_ctx *c, ks_tensor *t, int dim, ks_tensor *index, ks_tensor **out)
{
    ks_tensor *r;
    ks_status st = ks_gather(c, t, dim, index, &r);
    if (!st && (st = record1(c, &op_gather, t, r, index, dim, 0))) ks_tensor_release(r);
    if (!st) *out = r;
    return st;
}

/* ------------------------------------------------ index_add / scatter_add */
/* two-input node (self, source) saving index; i[0] dim, i[1] 1 for scatter_add; f[0] alpha */
static ks_status add_backward(ks_ctx *c, ks_node *n, ks_tensor *const *gout, ks_tensor **gin)
{
    ks_tensor *idx, *g = NULL, *z = NULL, *v = NULL, *nv = NULL;
    ks_status st = ks_node_get_saved(c, n, 0, &idx);
    if (st) return st;
    int dim = (int)n->i[0];
    if (n->needs_grad[0]) gin[0] = ks_tensor_retain(gout[0]);
    if (!n->needs_grad[1]) return KS_OK;
    if (n->i[1] == 0) {
        TRY(ks_index_select(c, gout[0], dim, idx, &g));
        float *p = ks_tensor_data(g);
        for (int64_t k = 0; k < g->numel; k++) p[k] *= (float)n->f[0];
        gin[1] = g;
        g = NULL;
    } else {
        /* src may be larger than index: gather into the index-shaped corner of zeros */
        TRY(ks_gather(c, gout[0], dim, idx, &g));
        TRY(zeros_like_input(c, n, 1, &z));
        v = ks_tensor_retain(z);
        for (int d = 0; d < idx->ndim; d++) {
            TRY(ks_narrow(c, v, d, 0, idx->size[d], &nv));
            ks_tensor_release(v);
            v = nv;
            nv = NULL;
        }
        TRY(ks_copy_(c, v, g));
        gin[1] = z;
        z = NULL;
    }
done:
    ks_tensor_release(g);
    ks_tensor_release(z);
    ks_tensor_release(v);
    ks_tensor_release(nv);
    return st;
}

static const ks_op_def op_index_add = {"IndexAddBackward", add_backward};
static const ks_op_def op_scatter_add = {"ScatterAddBackward", add_backward};

static ks_status add_op(ks_ctx *c, bool scatter, ks_tensor *self, int dim, ks_tensor *index, ks_tensor *src,
                        double alpha, ks_tensor **out)
{
    ks_tensor *r;
    ks_status st = ks_clone(c, self, &r);
    if (st) return st;
    st = scatter ? ks_scatter_add_(c, r, dim, index, src) : ks_index_add_(c, r, dim, index, src, alpha);
    ks_tensor *ins[2] = {self, src};
    if (!st && r->dtype == KS_FLOAT32 && ks_ag_needs_record(c, 2, ins)) {
        ks_node *n = ks_node_new(c, scatter ? &op_scatter_add : &op_index_add, 2, ins);
        if (!n) st = KS_ENOMEM;
        else {
            n->i[0] = dim;
            n->i[1] = scatter;
            n->f[0] = alpha;
            st = ks_node_save(c, n, index);
            if (!st) ks_node_set_output(n, 0, r);
            ks_node_release(n);
        }
    }
    if (st) { ks_tensor_release(r); return st; }
    *out = r;
    return KS_OK;
}

ks_status ks_ag_index_add(ks_ctx *c, ks_tensor *self, int dim, ks_tensor *index, ks_tensor *source, double alpha,
                          ks_tensor **out)
{
    return add_op(c, false, self, dim, index, source, alpha, out);
}

ks_status ks_ag_scatter_add(ks_ctx *c, ks_tensor *self, int dim, ks_tensor *index, ks_tensor *src, ks_tensor **out)
{
    return add_op(c, true, self, dim, index, src, 1.0, out);
}

/* ------------------------------------------------------------- masked_fill */
static ks_status masked_fill_backward(ks_ctx *c, ks_node *n, ks_tensor *const *gout, ks_tensor **gin)
{
    ks_tensor *mask, *g = NULL;
    ks_status st = ks_node_get_saved(c, n, 0, &mask);
    if (st) return st;
    TRY(ks_clone(c, gout[0], &g));
    TRY(ks_masked_fill_(c, g, mask, 0));
    st = ks_sum_to_shape(c, g, n->in_ndim[0], n->in_size[0], &gin[0]);
done:
    ks_tensor_release(g);
    return st;
}

static const ks_op_def op_masked_fill = {"MaskedFillBackward", masked_fill_backward};

ks_status ks_ag_masked_fill(ks_ctx *c, ks_tensor *t, ks_tensor *mask, double value, ks_tensor **out)
{
    int nd;
    int64_t shape[KS_MAX_DIMS];
    ks_status st = ks_broadcast_shapes(c, t->ndim, t->size, mask->ndim, mask->size, &nd, shape);
    if (st) return st;
    ks_tensor *e, *r;
    if (nd == t->ndim && memcmp(shape, t->size, (size_t)nd * sizeof *shape) == 0) e = ks_tensor_retain(t);
    else if ((st = ks_expand(c, t, nd, shape, &e))) return st;
    st = ks_clone(c, e, &r);
    ks_tensor_release(e);
    if (st) return st;
    if ((st = ks_masked_fill_(c, r, mask, value)) || (st = record1(c, &op_masked_fill, t, r, mask, 0, 0))) {
        ks_tensor_release(r);
        return st;
    }
    *out = r;
    return KS_OK;
}

/* ----------------------------------------------------------- masked_select */
static ks_status masked_select_backward(ks_ctx *c, ks_node *n, ks_tensor *const *gout, ks_tensor **gin)
{
    ks_tensor *mask, *z = NULL;
    ks_status st = ks_node_get_saved(c, n, 0, &mask);
    if (st) return st;
    int nd;
    int64_t shape[KS_MAX_DIMS];
    TRY(ks_broadcast_shapes(c, n->in_ndim[0], n->in_size[0], mask->ndim, mask->size, &nd, shape));
    TRY(ks_tensor_empty(c, KS_FLOAT32, nd, shape, &z));
    memset(ks_tensor_data(z), 0, (size_t)z->numel * sizeof(float));
    TRY(ks_masked_scatter_(c, z, mask, gout[0]));
    st = ks_sum_to_shape(c, z, n->in_ndim[0], n->in_size[0], &gin[0]);
done:
    ks_tensor_release(z);
    return st;
}

static const ks_op_def op_masked_select = {"MaskedSelectBackward", masked_select_backward};

ks_status ks_ag_masked_select(ks_ctx *c, ks_tensor *t, ks_tensor *mask, ks_tensor **out)
{
    ks_tensor *r;
    ks_status st = ks_masked_select(c, t, mask, &r);
    if (!st && (st = record1(c, &op_masked_select, t, r, mask, 0, 0))) ks_tensor_release(r);
    if (!st) *out = r;
    return st;
}

/* ----------------------------------------------- values taken by indices */
/* saved 0: indices in keepdim shape (or [1] for a flattened t); i[0] dim (-1: flattened) */
static ks_status take_backward(ks_ctx *c, ks_node *n, ks_tensor *const *gout, ks_tensor **gin)
{
    ks_tensor *idx, *z = NULL, *zv = NULL, *g = NULL;
    ks_status st = ks_node_get_saved(c, n, 0, &idx);
    if (st) return st;
    int dim = (int)n->i[0];
    TRY(zeros_like_input(c, n, 0, &z));
    TRY(ks_reshape(c, gout[0], idx->ndim, idx->size, &g));
    if (dim < 0) {
        TRY(ks_view(c, z, 1, &z->numel, &zv));
        TRY(ks_scatter_add_(c, zv, 0, idx, g));
    } else {
        TRY(ks_scatter_add_(c, z, dim, idx, g));
    }
    gin[0] = z;
    z = NULL;
done:
    ks_tensor_release(z);
    ks_tensor_release(zv);
    ks_tensor_release(g);
    return st;
}

static const ks_op_def op_take = {"SortValuesBackward", take_backward};

/* record values = t[indices along dim]; indices has the keepdim shape unless !keepdim */
static ks_status record_take(ks_ctx *c, ks_tensor *t, int dim, bool keepdim, ks_tensor *values, ks_tensor *indices)
{
    if (values->dtype != KS_FLOAT32 || !ks_ag_needs_record(c, 1, &t)) return KS_OK;
    ks_tensor *ik = ks_tensor_retain(indices);
    ks_status st = KS_OK;
    if (!keepdim && t->ndim > 0) {
        ks_tensor_release(ik);
        ik = NULL;
        if ((st = ks_unsqueeze(c, indices, dim, &ik))) return st;
    }
    st = record1(c, &op_take, t, values, ik, dim, 0);
    ks_tensor_release(ik);
    return st;
}

/* run a (values, indices) op, then record; on failure release both */
#define TAKE_OP(call, dim, keepdim)                                             \
    do {                                                                        \
        ks_status st_ = (call);                                                 \
        if (st_) return st_;                                                    \
        if ((st_ = record_take(c, t, (dim), (keepdim), *values, *indices))) {  \
            ks_tensor_release(*values);                                         \
            ks_tensor_release(*indices);                                        \
            *values = *indices = NULL;                                          \
        }                                                                       \
        return st_;                                                             \
    } while (0)

ks_status ks_ag_sort(ks_ctx *c, ks_tensor *t, int dim, bool descending, ks_tensor **values, ks_tensor **indices)
{
    TAKE_OP(ks_sort(c, t, dim, descending, values, indices), dim, true);
}

ks_status ks_ag_topk(ks_ctx *c, ks_tensor *t, int64_t k, int dim, bool largest, ks_tensor **values,
                     ks_tensor **indices)
{
    TAKE_OP(ks_topk(c, t, k, dim, largest, values, indices), dim, true);
}

ks_status ks_ag_kthvalue(ks_ctx *c, ks_tensor *t, int64_t k, int dim, bool keepdim, ks_tensor **values,
                         ks_tensor **indices)
{
    TAKE_OP(ks_kthvalue(c, t, k, dim, keepdim, values, indices), dim, keepdim);
}

ks_status ks_ag_median(ks_ctx *c, ks_tensor *t, int dim, bool keepdim, ks_tensor **values, ks_tensor **indices)
{
    TAKE_OP(ks_median(c, t, dim, keepdim, values, indices), dim, keepdim);
}

ks_status ks_ag_median_all(ks_ctx *c, ks_tensor *t, ks_tensor **value)
{
    if (t->numel == 0) return ks_error(c, KS_EINVAL, "median: cannot take the median of an empty tensor");
    int64_t all = -1;
    ks_tensor *flat = NULL, *v = NULL, *i = NULL;
    ks_status st;
    TRY(ks_reshape(c, t, 1, &all, &flat));
    TRY(ks_median(c, flat, 0, false, &v, &i));
    if (v->dtype == KS_FLOAT32) TRY(ks_ag_record_median_all(c, t, v));
    *value = v;
    v = NULL;
done:
    ks_tensor_release(flat);
    ks_tensor_release(v);
    ks_tensor_release(i);
    return st;
}

/* ------------------------------------------------------------------- cdist */
/* saved 0: x1, 1: x2; f[0] p */
static ks_status cdist_backward(ks_ctx *c, ks_node *n, ks_tensor *const *gout, ks_tensor **gin)
{
    ks_tensor *x1, *x2;
    ks_status st = ks_node_get_saved(c, n, 0, &x1);
    if (!st) st = ks_node_get_saved(c, n, 1, &x2);
    if (st) return st;
    return ks_cdist_backward(c, x1, x2, n->f[0], gout[0], n->needs_grad[0] ? &gin[0] : NULL,
                             n->needs_grad[1] ? &gin[1] : NULL);
}

static const ks_op_def op_cdist = {"CdistBackward", cdist_backward};

ks_status ks_ag_cdist(ks_ctx *c, ks_tensor *x1, ks_tensor *x2, double p, ks_tensor **out)
{
    ks_tensor *r;
    ks_status st = ks_cdist(c, x1, x2, p, &r);
    if (st) return st;
    ks_tensor *ins[2] = {x1, x2};
    if (ks_ag_needs_record(c, 2, ins)) {
        ks_node *n = ks_node_new(c, &op_cdist, 2, ins);
        if (!n) st = KS_ENOMEM;
        else {
            n->f[0] = p;
            st = ks_node_save(c, n, x1);
            if (!st) st = ks_node_save(c, n, x2);
            if (!st) ks_node_set_output(n, 0, r);
            ks_node_release(n);
        }
    }
    if (st) { ks_tensor_release(r); return st; }
    *out = r;
    return KS_OK;
}
