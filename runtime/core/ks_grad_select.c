/* ks_grad_select.c: backward kernels of the selection ops (ks_grad_select.h).
 * Nodes save only inputs (index tensors, masks, cdist operands), never their
 * outputs, so graphs stay acyclic. */
#include "ks_grad_select.h"
#include "ks_grad_ops.h"
#include "ks_grad_views.h"
#include "ks_distance.h"
#include "ks_indexing.h"
#include "ks_sort.h"

#include <math.h>
#include <string.h>

#define TRY(x) do { if ((st = (x)) != KS_OK) goto done; } while (0)

/* zero-filled float32 tensor of the node's input k */
static ks_status zeros_like_input(ks_ctx *c, const ks_node *n, int k, ks_tensor **out)
{
    ks_status st = ks_tensor_empty(c, KS_FLOAT32, n->in_ndim[k], n->in_size[k], out);
    if (!st) memset(ks_tensor_data(*out), 0, (size_t)(*out)->numel * sizeof(float));
    return st;
}

static bool same_shape(const ks_tensor *a, const ks_tensor *b)
{
    return a->ndim == b->ndim && memcmp(a->size, b->size, (size_t)a->ndim * sizeof *a->size) == 0;
}

/* One-input node saving `save` (may be NULL) with options i0, i1 (every
 * such op's backward records under create_graph: double backward) */
static ks_status record1(ks_ctx *c, const ks_op_def *op, ks_tensor *t, ks_tensor *out, ks_tensor *save, int64_t i0,
                         int64_t i1)
{
    if (out->dtype != KS_FLOAT32 || !ks_ag_needs_record(c, 1, &t)) return KS_OK;
    ks_node *n = ks_node_new(c, op, 1, &t);
    if (!n) return KS_ENOMEM;
    n->i[0] = i0;
    n->i[1] = i1;
    n->double_backward = true;
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

/* ---------------------------------------------------- index_select / gather */
/* One backward for both selections: the incoming gradient added back at the
 * index into zeros of the input's shape, by index_add (index_select) or
 * scatter_add (gather). Saved 0: index; i[0] dim, i[1] 1 for gather. */
static ks_status select_backward(ks_ctx *c, ks_node *n, ks_tensor *const *gout, ks_tensor **gin)
{
    ks_tensor *idx, *z = NULL;
    ks_status st = ks_node_get_saved(c, n, 0, &idx);
    if (st) return st;
    int dim = (int)n->i[0];
    bool scatter = n->i[1] != 0;
    TRY(zeros_like_input(c, n, 0, &z));
    if (c->grad_enabled) { /* create_graph: recorded, so its own gradient is the selection again */
        st = scatter ? ks_ag_scatter_add(c, z, dim, idx, gout[0], &gin[0])
                     : ks_ag_index_add(c, z, dim, idx, gout[0], 1.0, &gin[0]);
        goto done;
    }
    TRY(scatter ? ks_scatter_add_(c, z, dim, idx, gout[0]) : ks_index_add_(c, z, dim, idx, gout[0], 1.0));
    gin[0] = z;
    z = NULL;
done:
    ks_tensor_release(z);
    return st;
}

static const ks_op_def op_index_select = {"IndexSelectBackward", select_backward};
static const ks_op_def op_gather = {"GatherBackward", select_backward};

static ks_status select_op(ks_ctx *c, bool gather, ks_tensor *t, int dim, ks_tensor *index, ks_tensor **out)
{
    ks_tensor *r;
    ks_status st = gather ? ks_gather(c, t, dim, index, &r) : ks_index_select(c, t, dim, index, &r);
    if (!st && (st = record1(c, gather ? &op_gather : &op_index_select, t, r, index, dim, gather)))
        ks_tensor_release(r);
    if (!st) *out = r;
    return st;
}

ks_status ks_ag_index_select(ks_ctx *c, ks_tensor *t, int dim, ks_tensor *index, ks_tensor **out)
{
    return select_op(c, false, t, dim, index, out);
}

ks_status ks_ag_gather(ks_ctx *c, ks_tensor *t, int dim, ks_tensor *index, ks_tensor **out)
{
    return select_op(c, true, t, dim, index, out);
}

/* ------------------------------------------------ index_add / scatter_add */
/* add_backward under create_graph: source's gradient as a recorded
 * index_select (times alpha) or gather; a scatter_add node records only when
 * its index has the source's shape (no zero-padded corner to place) */
static ks_status add_backward_recorded(ks_ctx *c, ks_node *n, ks_tensor *g, ks_tensor *idx, ks_tensor **gin)
{
    ks_tensor *s = NULL;
    ks_status st = KS_OK;
    int dim = (int)n->i[0];
    if (n->needs_grad[0]) gin[0] = ks_tensor_retain(g);
    if (!n->needs_grad[1]) return KS_OK;
    if (n->i[1]) return ks_ag_gather(c, g, dim, idx, &gin[1]);
    if ((st = ks_ag_index_select(c, g, dim, idx, &s)) || n->f[0] == 1.0) {
        gin[1] = st ? NULL : s;
        return st;
    }
    st = ks_ag_binary(c, KS_OP_MUL, ks_op_tensor(s), ks_op_scalar(ks_scalar_float(n->f[0])), NULL, &gin[1]);
    ks_tensor_release(s);
    return st;
}

/* two-input node (self, source) saving index; i[0] dim, i[1] 1 for scatter_add; f[0] alpha */
static ks_status add_backward(ks_ctx *c, ks_node *n, ks_tensor *const *gout, ks_tensor **gin)
{
    ks_tensor *idx, *g = NULL, *z = NULL, *v = NULL, *nv = NULL;
    ks_status st = ks_node_get_saved(c, n, 0, &idx);
    if (st) return st;
    if (c->grad_enabled) return add_backward_recorded(c, n, gout[0], idx, gin); /* create_graph */
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
            n->double_backward = !scatter || same_shape(index, src);
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
    if (c->grad_enabled) { /* create_graph: the same steps, recorded */
        TRY(ks_ag_masked_fill(c, gout[0], mask, 0, &g));
        st = ks_ag_sum_to_shape(c, g, n->in_ndim[0], n->in_size[0], &gin[0]);
        goto done;
    }
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
/* masked_select_backward under create_graph: masked_select is an
 * index_select of the flattened (broadcast) input at the mask's set
 * positions, so its gradient is a recorded index_add at those positions */
static ks_status masked_select_backward_recorded(ks_ctx *c, ks_node *n, ks_tensor *mask, int nd, const int64_t *shape,
                                                 ks_tensor *g, ks_tensor **gin)
{
    ks_tensor *me = NULL, *mc = NULL, *pos = NULL, *z = NULL, *r = NULL, *rs = NULL;
    ks_status st;
    TRY(ks_expand(c, mask, nd, shape, &me));
    TRY(ks_contiguous(c, me, &mc));
    int64_t total = mc->numel, cnt = g->numel, k = 0;
    TRY(ks_tensor_empty(c, KS_INT64, 1, &cnt, &pos));
    const uint8_t *m = ks_tensor_data(mc); /* bool and uint8: one byte */
    int64_t *pp = ks_tensor_data(pos);
    for (int64_t i = 0; i < total && k < cnt; i++)
        if (m[i]) pp[k++] = i;
    TRY(ks_tensor_empty(c, KS_FLOAT32, 1, &total, &z));
    memset(ks_tensor_data(z), 0, (size_t)total * sizeof(float));
    TRY(ks_ag_index_add(c, z, 0, pos, g, 1.0, &r));
    TRY(ks_ag_reshape(c, r, nd, shape, &rs));
    st = ks_ag_sum_to_shape(c, rs, n->in_ndim[0], n->in_size[0], &gin[0]);
done:
    ks_tensor_release(me); ks_tensor_release(mc); ks_tensor_release(pos);
    ks_tensor_release(z); ks_tensor_release(r); ks_tensor_release(rs);
    return st;
}

static ks_status masked_select_backward(ks_ctx *c, ks_node *n, ks_tensor *const *gout, ks_tensor **gin)
{
    ks_tensor *mask, *z = NULL;
    ks_status st = ks_node_get_saved(c, n, 0, &mask);
    if (st) return st;
    int nd;
    int64_t shape[KS_MAX_DIMS];
    TRY(ks_broadcast_shapes(c, n->in_ndim[0], n->in_size[0], mask->ndim, mask->size, &nd, shape));
    if (c->grad_enabled) return masked_select_backward_recorded(c, n, mask, nd, shape, gout[0], gin); /* create_graph */
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
/* take_backward under create_graph: a recorded scatter_add of g (index and
 * source shaped alike, so it records too) into zeros z (released here) */
static ks_status take_backward_recorded(ks_ctx *c, ks_node *n, ks_tensor *idx, ks_tensor *z, ks_tensor *g,
                                        ks_tensor **gin)
{
    ks_tensor *gi = NULL, *zv = NULL, *r = NULL;
    int dim = (int)n->i[0];
    ks_status st;
    TRY(ks_ag_reshape(c, g, idx->ndim, idx->size, &gi));
    if (dim < 0) { /* t was flattened: scatter into its flat view, then back to its shape */
        TRY(ks_view(c, z, 1, &z->numel, &zv));
        TRY(ks_ag_scatter_add(c, zv, 0, idx, gi, &r));
        st = ks_ag_reshape(c, r, n->in_ndim[0], n->in_size[0], &gin[0]);
    } else {
        st = ks_ag_scatter_add(c, z, dim, idx, gi, &gin[0]);
    }
done:
    ks_tensor_release(z);
    ks_tensor_release(gi);
    ks_tensor_release(zv);
    ks_tensor_release(r);
    return st;
}

/* saved 0: indices in keepdim shape (or [1] for a flattened t); i[0] dim (-1: flattened) */
static ks_status take_backward(ks_ctx *c, ks_node *n, ks_tensor *const *gout, ks_tensor **gin)
{
    ks_tensor *idx, *z = NULL, *zv = NULL, *g = NULL;
    ks_status st = ks_node_get_saved(c, n, 0, &idx);
    if (st) return st;
    int dim = (int)n->i[0];
    TRY(zeros_like_input(c, n, 0, &z));
    if (c->grad_enabled) return take_backward_recorded(c, n, idx, z, gout[0], gin); /* create_graph; consumes z */
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
/* does cdist record its backward for this p? finite p >= 1 */
static bool cdist_double(double p) { return p >= 1 && isfinite(p); }

/* d dist / d x1 per pair and coordinate, [*, P, R, M], recorded, from diff =
 * x1_i - x2_j: sign(diff) for p = 1 (a constant), else
 * diff |diff|^(p-2) / dist^(p-1) (p = 2: diff / dist), 0 where dist = 0 */
static ks_status cdist_factor(ks_ctx *c, ks_tensor *diff, double p, ks_tensor **out)
{
    ks_tensor *ad = NULL, *ap = NULL, *s = NULL, *d = NULL, *num = NULL, *den = NULL, *f = NULL, *zero = NULL;
    int last = diff->ndim - 1;
    ks_operand z = ks_op_scalar(ks_scalar_float(0.0));
    ks_status st;
    if (p == 1) return ks_unary(c, KS_OP_SIGN, diff, NULL, out);
    TRY(ks_ag_unary(c, KS_OP_ABS, diff, &ad));
    TRY(ks_ag_binary(c, KS_OP_POW, ks_op_tensor(ad), ks_op_scalar(ks_scalar_float(p)), NULL, &ap));
    TRY(ks_ag_reduce(c, KS_AG_SUM, ap, 1, &last, true, &s));
    TRY(ks_ag_binary(c, KS_OP_POW, ks_op_tensor(s), ks_op_scalar(ks_scalar_float(1.0 / p)), NULL, &d));
    if (p == 2) {
        TRY(ks_ag_binary(c, KS_OP_DIV, ks_op_tensor(diff), ks_op_tensor(d), NULL, &f));
    } else {
        ks_tensor *pw = NULL;
        st = ks_ag_binary(c, KS_OP_POW, ks_op_tensor(ad), ks_op_scalar(ks_scalar_float(p - 2)), NULL, &pw);
        if (!st) st = ks_ag_binary(c, KS_OP_MUL, ks_op_tensor(diff), ks_op_tensor(pw), NULL, &num);
        ks_tensor_release(pw);
        if (st) goto done;
        TRY(ks_ag_binary(c, KS_OP_POW, ks_op_tensor(d), ks_op_scalar(ks_scalar_float(p - 1)), NULL, &den));
        TRY(ks_ag_binary(c, KS_OP_DIV, ks_op_tensor(num), ks_op_tensor(den), NULL, &f));
    }
    TRY(ks_binary_op(c, KS_OP_EQ, ks_op_tensor(d), z, NULL, NULL, &zero));
    st = ks_ag_where(c, zero, z, ks_op_tensor(f), out);
done:
    ks_tensor_release(ad); ks_tensor_release(ap); ks_tensor_release(s); ks_tensor_release(d);
    ks_tensor_release(num); ks_tensor_release(den); ks_tensor_release(f); ks_tensor_release(zero);
    return st;
}

/* cdist_backward under create_graph (finite p >= 1): the per-pair factor
 * times g, summed over the other set's rows, recorded */
static ks_status cdist_backward_recorded(ks_ctx *c, ks_node *n, ks_tensor *g, ks_tensor **gin)
{
    ks_tensor *x1 = NULL, *x2 = NULL, *a = NULL, *b = NULL, *diff = NULL, *f = NULL, *gk = NULL, *t = NULL,
              *s = NULL, *ns = NULL;
    ks_status st;
    TRY(ks_ag_saved_input(c, n, 0, 0, &x1));
    TRY(ks_ag_saved_input(c, n, 1, 1, &x2));
    TRY(ks_ag_unsqueeze(c, x1, x1->ndim - 1, &a)); /* [*, P, 1, M] */
    TRY(ks_ag_unsqueeze(c, x2, x2->ndim - 2, &b)); /* [*, 1, R, M] */
    TRY(ks_ag_binary(c, KS_OP_SUB, ks_op_tensor(a), ks_op_tensor(b), NULL, &diff));
    TRY(cdist_factor(c, diff, n->f[0], &f));
    TRY(ks_ag_unsqueeze(c, g, g->ndim, &gk)); /* [*, P, R, 1] */
    TRY(ks_ag_binary(c, KS_OP_MUL, ks_op_tensor(f), ks_op_tensor(gk), NULL, &t));
    int rdim = t->ndim - 2, pdim = t->ndim - 3;
    if (n->needs_grad[0]) {
        TRY(ks_ag_reduce(c, KS_AG_SUM, t, 1, &rdim, false, &s));
        TRY(ks_ag_sum_to_shape(c, s, n->in_ndim[0], n->in_size[0], &gin[0]));
        ks_tensor_release(s);
        s = NULL;
    }
    if (n->needs_grad[1]) {
        TRY(ks_ag_reduce(c, KS_AG_SUM, t, 1, &pdim, false, &s));
        TRY(ks_ag_unary(c, KS_OP_NEG, s, &ns));
        TRY(ks_ag_sum_to_shape(c, ns, n->in_ndim[1], n->in_size[1], &gin[1]));
    }
done:
    ks_tensor_release(x1); ks_tensor_release(x2); ks_tensor_release(a); ks_tensor_release(b);
    ks_tensor_release(diff); ks_tensor_release(f); ks_tensor_release(gk); ks_tensor_release(t);
    ks_tensor_release(s); ks_tensor_release(ns);
    return st;
}

/* saved 0: x1, 1: x2; f[0] p */
static ks_status cdist_backward(ks_ctx *c, ks_node *n, ks_tensor *const *gout, ks_tensor **gin)
{
    if (c->grad_enabled) return cdist_backward_recorded(c, n, gout[0], gin); /* create_graph */
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
            n->double_backward = cdist_double(p);
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
