/* ks_grad_shape.c: autograd for cat, stack, split/chunk (views), pad
 * (constant mode), repeat, roll, tril and triu. cat, stack, pad (any mode)
 * and repeat also run their backward as recording ops under create_graph
 * (double backward). */
#include "ks_grad_shape.h"
#include "ks_fill.h"
#include "ks_grad_ops.h"
#include "ks_grad_select.h"
#include "ks_grad_views.h"
#include "ks_indexing.h"
#include "ks_shape_ops.h"
#include "ks_reduce.h"

#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------ cat / stack */
/* i[0] dim (normalised), i[1] stack?; each input's extent along dim is its in_size */
static ks_status join_backward(ks_ctx *c, ks_node *n, ks_tensor *const *gout, ks_tensor **gin)
{
    int dim = (int)n->i[0];
    bool stack = n->i[1];
    int64_t off = 0;
    ks_status st = KS_OK;
    for (int k = 0; k < n->ninputs && !st; k++) {
        int64_t len = stack ? 1 : (n->in_ndim[k] == 1 && n->in_size[k][0] == 0 && n->out_ndim[0] > 1 ? 0 : n->in_size[k][dim]);
        if (n->needs_grad[k] && len > 0) {
            ks_tensor *v = NULL;
            st = stack ? ks_select(c, gout[0], dim, off, &v) : ks_narrow(c, gout[0], dim, off, len, &v);
            if (!st && c->grad_enabled) { /* create_graph: the view itself, recorded (the engine copies views it adds into) */
                int64_t args[3] = {dim, off, len};
                st = ks_ag_record_view(c, stack ? KS_VIEW_SELECT : KS_VIEW_NARROW, args, stack ? 2 : 3, gout[0], v);
                if (!st) { gin[k] = v; v = NULL; }
            } else if (!st) {
                st = ks_contiguous(c, v, &gin[k]);
            }
            ks_tensor_release(v);
        }
        off += len;
    }
    return st;
}

static const ks_op_def op_cat = {"CatBackward", join_backward};
static const ks_op_def op_stack = {"StackBackward", join_backward};

/* More inputs than a node holds: join groups of KS_NODE_MAX_IN, then cat the
 * partial results along the (result's) dim -- the same values, a deeper graph. */
static ks_status join_grouped(ks_ctx *c, bool stack, int n, ks_tensor *const *ts, int64_t dim, ks_tensor **out)
{
    int ng = (n + KS_NODE_MAX_IN - 1) / KS_NODE_MAX_IN;
    ks_tensor **parts = malloc((size_t)ng * sizeof *parts);
    if (!parts) return ks_error(c, KS_ENOMEM, "out of memory joining %d tensors", n);
    ks_status st = KS_OK;
    int made = 0;
    for (; made < ng && !st; made++) {
        int first = made * KS_NODE_MAX_IN, len = n - first < KS_NODE_MAX_IN ? n - first : KS_NODE_MAX_IN;
        st = ks_ag_join(c, stack, len, ts + first, dim, &parts[made]);
        if (st) break;
    }
    if (!st) {
        /* stack's dim counts in the result (one more dim than the inputs) */
        int64_t rdim = dim < 0 ? dim + parts[0]->ndim : dim;
        st = ks_ag_join(c, false, ng, parts, rdim, out);
    }
    for (int k = 0; k < made; k++) ks_tensor_release(parts[k]);
    free(parts);
    return st;
}

ks_status ks_ag_join(ks_ctx *c, bool stack, int n, ks_tensor *const *ts, int64_t dim, ks_tensor **out)
{
    if (n > KS_NODE_MAX_IN && ks_ag_needs_record(c, n, ts)) return join_grouped(c, stack, n, ts, dim, out);
    ks_tensor *r = NULL;
    ks_status st = stack ? ks_stack(c, n, ts, dim, &r) : ks_cat(c, n, ts, dim, &r);
    if (st) return st;
    if (r->dtype == KS_FLOAT32 && ks_ag_needs_record(c, n, ts)) {
        ks_node *node = ks_node_new(c, stack ? &op_stack : &op_cat, n, ts);
        if (!node) { ks_tensor_release(r); return KS_ENOMEM; }
        node->i[0] = dim < 0 ? dim + r->ndim : dim;
        node->i[1] = stack;
        node->double_backward = true;
        ks_node_set_output(node, 0, r);
        ks_node_release(node);
    }
    *out = r;
    return KS_OK;
}

ks_status ks_ag_split_sizes(ks_ctx *c, ks_tensor *t, int64_t dim, int64_t n, const int64_t *sizes, ks_tensor **outs)
{
    ks_status st = ks_split_sizes(c, t, dim, n, sizes, outs);
    if (st) return st;
    int64_t d = dim < 0 ? dim + t->ndim : dim, off = 0;
    for (int64_t k = 0; k < n && !st; k++) {
        int64_t args[3] = {d, off, sizes[k]};
        st = ks_ag_record_view(c, KS_VIEW_NARROW, args, 3, t, outs[k]);
        off += sizes[k];
    }
    if (st)
        for (int64_t k = 0; k < n; k++) { ks_tensor_release(outs[k]); outs[k] = NULL; }
    return st;
}

/* ------------------------------------------------------------------ pad */
/* i[0] npads, i[1..16] pads, i[17] mode. Constant: the output gradient padded
 * by -pads. Other modes: each output element reads one input element, so the
 * gradient is summed back dim by dim with index_add over the source map. */
static ks_status pad_indexed_backward(ks_ctx *c, ks_node *n, ks_tensor *g, ks_tensor **gin)
{
    int np = (int)n->i[0], nd = n->in_ndim[0];
    ks_pad_mode mode = (ks_pad_mode)n->i[17];
    ks_tensor *cur = ks_tensor_retain(g), *idx = NULL, *next = NULL;
    ks_status st = KS_OK;
    for (int k = 0; k < np / 2 && !st; k++) {
        int d = nd - 1 - k;
        int64_t left = n->i[1 + 2 * k], len = n->in_size[0][d], outn = cur->size[d];
        if (n->i[1 + 2 * k] == 0 && n->i[2 + 2 * k] == 0) continue;
        int64_t size[KS_MAX_DIMS];
        memcpy(size, cur->size, sizeof size);
        size[d] = len;
        if ((st = ks_tensor_empty(c, KS_INT64, 1, &outn, &idx))) break;
        int64_t *map = ks_tensor_data(idx);
        for (int64_t o = 0; o < outn; o++) map[o] = ks_pad_source(mode, o - left, len);
        if (!(st = ks_tensor_empty(c, KS_FLOAT32, cur->ndim, size, &next)) && !(st = ks_fill_(c, next, 0.0))) {
            if (c->grad_enabled) { /* create_graph: recorded (its gradient is the index_select) */
                ks_tensor *z = next;
                next = NULL;
                st = ks_ag_index_add(c, z, d, idx, cur, 1.0, &next);
                ks_tensor_release(z);
            } else {
                st = ks_index_add_(c, next, d, idx, cur, 1.0);
            }
        }
        ks_tensor_release(idx);
        idx = NULL;
        ks_tensor_release(cur);
        cur = next;
        next = NULL;
    }
    if (st) { ks_tensor_release(cur); return st; }
    *gin = cur;
    return KS_OK;
}

static ks_status pad_backward(ks_ctx *c, ks_node *n, ks_tensor *const *gout, ks_tensor **gin)
{
    if ((ks_pad_mode)n->i[17] != KS_PAD_CONSTANT) return pad_indexed_backward(c, n, gout[0], &gin[0]);
    int np = (int)n->i[0];
    int64_t neg[2 * KS_MAX_DIMS];
    for (int k = 0; k < np; k++) neg[k] = -n->i[1 + k];
    /* create_graph: a recorded pad by -pads, whose gradient pads back */
    return (c->grad_enabled ? ks_ag_pad : ks_pad)(c, gout[0], np, neg, KS_PAD_CONSTANT, 0.0, &gin[0]);
}

static const ks_op_def op_pad = {"PadBackward", pad_backward};

ks_status ks_ag_pad(ks_ctx *c, ks_tensor *t, int npads, const int64_t *pads, ks_pad_mode mode, double value,
                    ks_tensor **out)
{
    ks_tensor *r = NULL;
    ks_status st = ks_pad(c, t, npads, pads, mode, value, &r);
    if (st) return st;
    if (r->dtype == KS_FLOAT32 && ks_ag_needs_record(c, 1, &t)) {
        /* ks_pad accepted npads <= 2 * ndim <= 16: they fit in i[1..16] */
        ks_node *nd = ks_node_new(c, &op_pad, 1, &t);
        if (!nd) { ks_tensor_release(r); return KS_ENOMEM; }
        nd->i[0] = npads;
        memcpy(nd->i + 1, pads, (size_t)npads * sizeof *pads);
        nd->i[17] = mode;
        nd->double_backward = true;
        ks_node_set_output(nd, 0, r);
        ks_node_release(nd);
    }
    *out = r;
    return KS_OK;
}

/* ------------------------------------------------------------------ repeat */
/* view g as [r_lead..., r0, s0, r1, s1, ...] and sum over the r dims */
static ks_status repeat_backward(ks_ctx *c, ks_node *n, ks_tensor *const *gout, ks_tensor **gin)
{
    int nreps = (int)n->i[0], nd = n->in_ndim[0], lead = nreps - nd, k = 0, nr = 0;
    int64_t shape[2 * KS_MAX_DIMS];
    int rdims[2 * KS_MAX_DIMS];
    for (int i = 0; i < lead; i++) { rdims[nr++] = k; shape[k++] = n->i[1 + i]; }
    for (int i = 0; i < nd; i++) {
        rdims[nr++] = k;
        shape[k++] = n->i[1 + lead + i];
        shape[k++] = n->in_size[0][i];
    }
    if (k > KS_MAX_DIMS)
        return ks_error(c, KS_EINVAL, "repeat: gradient needs %d dims, more than the %d supported", k, KS_MAX_DIMS);
    ks_tensor *v = NULL;
    ks_status st;
    if (c->grad_enabled) { /* create_graph: the same reshape and sum, recorded */
        if (!(st = ks_ag_reshape(c, gout[0], k, shape, &v))) st = ks_ag_reduce(c, KS_AG_SUM, v, nr, rdims, false, &gin[0]);
        ks_tensor_release(v);
        return st;
    }
    st = ks_reshape(c, gout[0], k, shape, &v);
    if (!st) st = ks_sum(c, v, nr, rdims, false, &gin[0]);
    ks_tensor_release(v);
    return st;
}

static const ks_op_def op_repeat = {"RepeatBackward", repeat_backward};

ks_status ks_ag_repeat(ks_ctx *c, ks_tensor *t, int nreps, const int64_t *reps, ks_tensor **out)
{
    ks_tensor *r = NULL;
    ks_status st = ks_repeat(c, t, nreps, reps, &r);
    if (st) return st;
    if (r->dtype == KS_FLOAT32 && ks_ag_needs_record(c, 1, &t)) {
        ks_node *nd = ks_node_new(c, &op_repeat, 1, &t);
        if (!nd) { ks_tensor_release(r); return KS_ENOMEM; }
        nd->i[0] = nreps;
        memcpy(nd->i + 1, reps, (size_t)nreps * sizeof *reps);
        nd->double_backward = true;
        ks_node_set_output(nd, 0, r);
        ks_node_release(nd);
    }
    *out = r;
    return KS_OK;
}

/* ------------------------------------------------------------------ roll, tril, triu */
/* i[0] kind (0 roll, 1 tril, 2 triu); roll: i[1] nshifts, i[2] ndims, then shifts, dims; tri: i[1] diagonal */
static ks_status shape_backward(ks_ctx *c, ks_node *n, ks_tensor *const *gout, ks_tensor **gin)
{
    if (n->i[0] == 1) return ks_tril(c, gout[0], n->i[1], &gin[0]);
    if (n->i[0] == 2) return ks_triu(c, gout[0], n->i[1], &gin[0]);
    int ns = (int)n->i[1], nd = (int)n->i[2];
    int64_t neg[KS_MAX_DIMS];
    for (int k = 0; k < ns; k++) neg[k] = -n->i[3 + k];
    return ks_roll(c, gout[0], ns, neg, nd, n->i + 3 + ns, &gin[0]);
}

static const ks_op_def op_roll = {"RollBackward", shape_backward};
static const ks_op_def op_tril = {"TrilBackward", shape_backward};
static const ks_op_def op_triu = {"TriuBackward", shape_backward};

static ks_status record_shape(ks_ctx *c, const ks_op_def *def, ks_tensor *t, ks_tensor *r, const int64_t *opts, int nopts)
{
    if (r->dtype != KS_FLOAT32 || !ks_ag_needs_record(c, 1, &t)) return KS_OK;
    ks_node *nd = ks_node_new(c, def, 1, &t);
    if (!nd) return KS_ENOMEM;
    memcpy(nd->i, opts, (size_t)nopts * sizeof *opts);
    ks_node_set_output(nd, 0, r);
    ks_node_release(nd);
    return KS_OK;
}

ks_status ks_ag_roll(ks_ctx *c, ks_tensor *t, int nshifts, const int64_t *shifts, int ndims, const int64_t *dims,
                     ks_tensor **out)
{
    ks_tensor *r = NULL;
    ks_status st = ks_roll(c, t, nshifts, shifts, ndims, dims, &r);
    if (st) return st;
    int64_t opts[3 + 2 * KS_MAX_DIMS] = {0, nshifts, ndims};
    if (nshifts <= KS_MAX_DIMS && ndims <= KS_MAX_DIMS) {
        memcpy(opts + 3, shifts, (size_t)nshifts * sizeof *shifts);
        memcpy(opts + 3 + nshifts, dims, (size_t)ndims * sizeof *dims);
        st = record_shape(c, &op_roll, t, r, opts, 3 + nshifts + ndims);
    }
    if (st) { ks_tensor_release(r); return st; }
    *out = r;
    return KS_OK;
}

ks_status ks_ag_tri(ks_ctx *c, bool upper, ks_tensor *t, int64_t diagonal, ks_tensor **out)
{
    ks_tensor *r = NULL;
    ks_status st = upper ? ks_triu(c, t, diagonal, &r) : ks_tril(c, t, diagonal, &r);
    if (st) return st;
    int64_t opts[2] = {upper ? 2 : 1, diagonal};
    if ((st = record_shape(c, upper ? &op_triu : &op_tril, t, r, opts, 2))) { ks_tensor_release(r); return st; }
    *out = r;
    return KS_OK;
}
