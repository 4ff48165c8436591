/* ks_grad_reduce.c: autograd for reductions (sum, mean, amax/amin,
 * logsumexp, prod, var/std, norm, max/min along a dim, cumsum, cumprod).
 * Backward kernels bring the gradient back to the input's shape by viewing
 * it with the reduced dims kept (size 1) and broadcasting.
 * All compose recording ops under create_graph (double backward), but prod
 * and cumprod only for inputs without zeros (their recorded gradient
 * divides by x); with a zero they mark their gradients as not
 * differentiable again (ks_ag_mark_no_double, done by the engine). */
#include "ks_grad_ops.h"
#include "ks_grad_select.h"
#include "ks_grad_views.h"
#include "ks_indexing.h"

#include <math.h>
#include <string.h>

#define TRY(x)                              \
    do {                                    \
        if ((st = (x)) != KS_OK) goto done; \
    } while (0)

static uint32_t dims_mask(int ndim, int ndims, const int *dims)
{
    uint32_t m = 0;
    if (ndims == 0) return ndim ? (1u << ndim) - 1 : 0;
    for (int k = 0; k < ndims; k++) m |= 1u << (dims[k] < 0 ? dims[k] + ndim : dims[k]);
    return m;
}

/* g (reduced shape) viewed with the reduced dims kept as size 1 */
static ks_status keepdim_view(ks_ctx *c, ks_node *n, ks_tensor *g, ks_tensor **out)
{
    int nd = n->in_ndim[0];
    int64_t size[KS_MAX_DIMS];
    for (int d = 0; d < nd; d++) size[d] = (n->i[1] >> d) & 1 ? 1 : n->in_size[0][d];
    return ks_ag_reshape(c, g, nd, size, out);
}

/* the keepdim view expanded (and materialised, unless recording) at the input's shape */
static ks_status expanded(ks_ctx *c, ks_node *n, ks_tensor *g, ks_tensor **out)
{
    ks_tensor *k = NULL, *e = NULL;
    ks_status st = keepdim_view(c, n, g, &k);
    if (!st) st = ks_ag_expand(c, k, n->in_ndim[0], n->in_size[0], &e);
    if (!st && c->grad_enabled) { *out = e; e = NULL; } /* create_graph: the expand's node is the graph */
    else if (!st) st = ks_clone(c, e, out);
    ks_tensor_release(k);
    ks_tensor_release(e);
    return st;
}

static ks_status bin(ks_ctx *c, ks_binop op, const ks_tensor *a, const ks_tensor *b, ks_tensor **o)
{
    return ks_binary(c, op, a, b, o);
}
static ks_status bins(ks_ctx *c, ks_binop op, const ks_tensor *a, double s, ks_tensor **o)
{
    return ks_binary_scalar(c, op, a, ks_scalar_float(s), false, o);
}

/* recording versions, for the kinds that support create_graph */
static ks_status abin(ks_ctx *c, ks_binop op, const ks_tensor *a, const ks_tensor *b, ks_tensor **o)
{
    return ks_ag_binary(c, op, ks_op_tensor(a), ks_op_tensor(b), NULL, o);
}
static ks_status abins(ks_ctx *c, ks_binop op, const ks_tensor *a, double s, ks_tensor **o)
{
    return ks_ag_binary(c, op, ks_op_tensor(a), ks_op_scalar(ks_scalar_float(s)), NULL, o);
}

/* does float32 t hold a zero? (prod and cumprod record their double
 * backward, which divides by x, only for inputs without zeros) */
static ks_status has_zero(ks_ctx *c, ks_tensor *t, bool *out)
{
    ks_tensor *ct;
    ks_status st = ks_contiguous(c, t, &ct);
    if (st) return st;
    const float *p = ks_tensor_data(ct);
    *out = false;
    for (int64_t k = 0; k < ct->numel && !*out; k++) *out = p[k] == 0.0f;
    ks_tensor_release(ct);
    return KS_OK;
}

static int reduced_dims(ks_node *n, int *dims)
{
    int k = 0;
    for (int d = 0; d < n->in_ndim[0]; d++)
        if ((n->i[1] >> d) & 1) dims[k++] = d;
    return k;
}

/* ------------------------------------------------------------------ sum/mean/amax/amin/logsumexp/prod */
/* saved: 0 input, 1 detached output (amax, amin, logsumexp, prod) */
static ks_status reduce_backward(ks_ctx *c, ks_node *n, ks_tensor *const *gout, ks_tensor **gin)
{
    ks_ag_reduce_kind kind = (ks_ag_reduce_kind)n->i[0];
    ks_tensor *x = NULL, *y = NULL, *yk = NULL, *gk = NULL, *t1 = NULL, *t2 = NULL, *t3 = NULL;
    ks_status st = KS_OK;
    if (kind == KS_AG_SUM) return expanded(c, n, gout[0], &gin[0]);
    if (kind == KS_AG_MEAN) {
        int64_t in = 1, out = gout[0]->numel;
        for (int d = 0; d < n->in_ndim[0]; d++) in *= n->in_size[0][d];
        TRY(expanded(c, n, gout[0], &t1));
        st = abins(c, KS_OP_DIV, t1, out ? (double)in / (double)out : 1.0, &gin[0]);
        goto done;
    }
    TRY(ks_ag_saved_input(c, n, 0, 0, &x));
    TRY(ks_ag_saved_output(c, n, 1, 0, &y));
    TRY(keepdim_view(c, n, y, &yk));
    TRY(keepdim_view(c, n, gout[0], &gk));
    int dims[KS_MAX_DIMS], nd = reduced_dims(n, dims);
    switch (kind) {
    case KS_AG_AMAX: case KS_AG_AMIN: { /* ties share the gradient evenly */
        ks_tensor *m = NULL;
        TRY(bin(c, KS_OP_EQ, x, yk, &m));
        st = ks_to_dtype(c, m, KS_FLOAT32, &t1);
        ks_tensor_release(m);
        if (st) goto done;
        TRY(ks_sum(c, t1, nd, dims, true, &t2));
        TRY(bin(c, KS_OP_DIV, t1, t2, &t3)); /* the share of each tie: a constant */
        st = abin(c, KS_OP_MUL, t3, gk, &gin[0]);
        break;
    }
    case KS_AG_LOGSUMEXP: /* g * exp(x - lse) */
        TRY(abin(c, KS_OP_SUB, x, yk, &t1));
        TRY(ks_ag_unary(c, KS_OP_EXP, t1, &t2));
        st = abin(c, KS_OP_MUL, t2, gk, &gin[0]);
        break;
    case KS_AG_PROD: { /* g * prod / x; where x == 0: the product of the others */
        if (c->grad_enabled) { /* create_graph, which a prod records only for x without zeros */
            TRY(abin(c, KS_OP_DIV, yk, x, &t1));
            st = abin(c, KS_OP_MUL, t1, gk, &gin[0]);
            break;
        }
        ks_tensor *zero = NULL, *nz = NULL, *safe = NULL, *pn = NULL, *one = NULL, *r = NULL;
        ks_operand z = ks_op_scalar(ks_scalar_float(0.0)), o1 = ks_op_scalar(ks_scalar_float(1.0));
        st = ks_binary_op(c, KS_OP_EQ, ks_op_tensor(x), z, NULL, NULL, &zero);
        if (!st) st = ks_where(c, zero, o1, ks_op_tensor(x), &safe);            /* x with zeros -> 1 */
        if (!st) st = ks_prod(c, safe, nd, dims, true, &pn);                   /* product of non-zeros */
        if (!st) { ks_tensor *zf = NULL; st = ks_to_dtype(c, zero, KS_FLOAT32, &zf); if (!st) st = ks_sum(c, zf, nd, dims, true, &nz); ks_tensor_release(zf); }
        if (!st) st = bin(c, KS_OP_DIV, yk, safe, &t1);                         /* prod / x where x != 0 */
        if (!st) st = ks_binary_op(c, KS_OP_EQ, ks_op_tensor(nz), o1, NULL, NULL, &one); /* exactly one zero */
        if (!st) st = ks_where(c, one, ks_op_tensor(pn), z, &t2);             /* product of the others */
        if (!st) st = ks_where(c, zero, ks_op_tensor(t2), ks_op_tensor(t1), &r);
        if (!st) st = bin(c, KS_OP_MUL, r, gk, &gin[0]);
        ks_tensor_release(zero); ks_tensor_release(nz); ks_tensor_release(safe);
        ks_tensor_release(pn); ks_tensor_release(one); ks_tensor_release(r);
        break;
    }
    default: st = ks_error(c, KS_EINVAL, "unknown reduction kind %d", (int)kind);
    }
done:
    ks_tensor_release(x);
    ks_tensor_release(y);
    ks_tensor_release(yk);
    ks_tensor_release(gk);
    ks_tensor_release(t1);
    ks_tensor_release(t2);
    ks_tensor_release(t3);
    return st;
}

static const ks_op_def op_reduce[] = {
    [KS_AG_SUM] = {"SumBackward", reduce_backward},     [KS_AG_MEAN] = {"MeanBackward", reduce_backward},
    [KS_AG_AMAX] = {"AmaxBackward", reduce_backward},   [KS_AG_AMIN] = {"AminBackward", reduce_backward},
    [KS_AG_LOGSUMEXP] = {"LogsumexpBackward", reduce_backward}, [KS_AG_PROD] = {"ProdBackward", reduce_backward},
};

/* record a one-input reduction; saves x and (detached) y when `save` */
static ks_status record(ks_ctx *c, const ks_op_def *def, ks_tensor *t, ks_tensor *r, int64_t kind, uint32_t mask,
                        bool save, ks_node **node)
{
    *node = NULL;
    if (r->dtype != KS_FLOAT32 || !ks_ag_needs_record(c, 1, &t)) return KS_OK;
    ks_node *n = ks_node_new(c, def, 1, &t);
    if (!n) return KS_ENOMEM;
    n->i[0] = kind;
    n->i[1] = mask;
    ks_status st = KS_OK;
    if (save) {
        ks_tensor *alias = NULL;
        st = ks_node_save(c, n, t);
        if (!st) st = ks_detach(c, r, &alias);
        if (!st) st = ks_node_save(c, n, alias);
        ks_tensor_release(alias);
    }
    if (!st) ks_node_set_output(n, 0, r);
    if (st) { ks_node_release(n); return st; }
    *node = n;
    return KS_OK;
}

/* amax's backward rule under median's name: the elements equal to the value share its gradient */
static const ks_op_def op_median_all = {"MedianBackward", reduce_backward};

ks_status ks_ag_record_median_all(ks_ctx *c, ks_tensor *t, ks_tensor *value)
{
    if (!ks_ag_needs_record(c, 1, &t)) return KS_OK;
    ks_node *n;
    ks_status st = record(c, &op_median_all, t, value, KS_AG_AMAX, dims_mask(t->ndim, 0, NULL), true, &n);
    if (n) n->double_backward = true; /* amax's rule */
    ks_node_release(n);
    return st;
}

ks_status ks_ag_reduce(ks_ctx *c, ks_ag_reduce_kind kind, ks_tensor *t, int ndims, const int *dims, bool keepdim,
                       ks_tensor **out)
{
    ks_tensor *r = NULL;
    ks_status st;
    switch (kind) {
    case KS_AG_SUM: st = ks_sum(c, t, ndims, dims, keepdim, &r); break;
    case KS_AG_MEAN: st = ks_mean(c, t, ndims, dims, keepdim, &r); break;
    case KS_AG_AMAX: st = ks_amax(c, t, ndims, dims, keepdim, &r); break;
    case KS_AG_AMIN: st = ks_amin(c, t, ndims, dims, keepdim, &r); break;
    case KS_AG_LOGSUMEXP: st = ks_logsumexp(c, t, ndims, dims, keepdim, &r); break;
    case KS_AG_PROD: st = ks_prod(c, t, ndims, dims, keepdim, &r); break;
    default: return ks_error(c, KS_EINVAL, "unknown reduction kind %d", (int)kind);
    }
    if (st) return st;
    ks_node *n;
    st = record(c, &op_reduce[kind], t, r, kind, dims_mask(t->ndim, ndims, dims), kind > KS_AG_MEAN, &n);
    bool zero = false;
    if (!st && n && kind == KS_AG_PROD) st = has_zero(c, t, &zero);
    if (n) n->double_backward = !zero;
    ks_node_release(n);
    if (st) { ks_tensor_release(r); return st; }
    *out = r;
    return KS_OK;
}

/* ------------------------------------------------------------------ var/std */
/* var_backward under create_graph: the same formulas, recorded, with the
 * saved input and output as graph members */
static ks_status var_backward_recorded(ks_ctx *c, ks_node *n, ks_tensor *g, double denom, ks_tensor **gin)
{
    ks_tensor *x = NULL, *y = NULL, *mean = NULL, *d = NULL, *gk = NULL, *yk = NULL, *t1 = NULL, *t2 = NULL;
    int dims[KS_MAX_DIMS], nd = reduced_dims(n, dims);
    ks_status st;
    TRY(ks_ag_saved_input(c, n, 0, 0, &x));
    TRY(ks_ag_reduce(c, KS_AG_MEAN, x, nd, dims, true, &mean));
    TRY(abin(c, KS_OP_SUB, x, mean, &d));
    TRY(keepdim_view(c, n, g, &gk));
    if (n->i[2]) { /* std: g * (x - mean) / (denom * std) */
        TRY(ks_ag_saved_output(c, n, 1, 0, &y));
        TRY(keepdim_view(c, n, y, &yk));
        TRY(abins(c, KS_OP_MUL, yk, denom, &t1));
        TRY(abin(c, KS_OP_DIV, d, t1, &t2));
    } else { /* var: g * 2 (x - mean) / denom */
        TRY(abins(c, KS_OP_MUL, d, 2.0 / denom, &t2));
    }
    st = abin(c, KS_OP_MUL, t2, gk, &gin[0]);
done:
    ks_tensor_release(x); ks_tensor_release(y); ks_tensor_release(mean); ks_tensor_release(d);
    ks_tensor_release(gk); ks_tensor_release(yk); ks_tensor_release(t1); ks_tensor_release(t2);
    return st;
}

/* saved: 0 x, 1 y (var or std). f[0] correction, i[2] sqrt */
static ks_status var_backward(ks_ctx *c, ks_node *n, ks_tensor *const *gout, ks_tensor **gin)
{
    ks_tensor *x, *y, *mean = NULL, *d = NULL, *gk = NULL, *yk = NULL, *t1 = NULL, *t2 = NULL;
    ks_status st;
    int dims[KS_MAX_DIMS], nd = reduced_dims(n, dims);
    int64_t N = 1;
    for (int k = 0; k < nd; k++) N *= n->in_size[0][dims[k]];
    double denom = fmax(0.0, (double)N - n->f[0]);
    if (c->grad_enabled) return var_backward_recorded(c, n, gout[0], denom, gin); /* create_graph */
    if ((st = ks_node_get_saved(c, n, 0, &x)) || (st = ks_node_get_saved(c, n, 1, &y))) return st;
    TRY(ks_mean(c, x, nd, dims, true, &mean));
    TRY(bin(c, KS_OP_SUB, x, mean, &d));
    TRY(keepdim_view(c, n, gout[0], &gk));
    if (n->i[2]) { /* std: g * (x - mean) / (denom * std) */
        TRY(keepdim_view(c, n, y, &yk));
        TRY(bins(c, KS_OP_MUL, yk, denom, &t1));
        TRY(bin(c, KS_OP_DIV, d, t1, &t2));
    } else { /* var: g * 2 (x - mean) / denom */
        TRY(bins(c, KS_OP_MUL, d, 2.0 / denom, &t2));
    }
    st = bin(c, KS_OP_MUL, t2, gk, &gin[0]);
done:
    ks_tensor_release(mean); ks_tensor_release(d); ks_tensor_release(gk);
    ks_tensor_release(yk); ks_tensor_release(t1); ks_tensor_release(t2);
    return st;
}

static const ks_op_def op_var = {"VarBackward", var_backward};
static const ks_op_def op_std = {"StdBackward", var_backward};

ks_status ks_ag_var(ks_ctx *c, ks_tensor *t, int ndims, const int *dims, double correction, bool keepdim, bool take_sqrt,
                    ks_tensor **out)
{
    ks_tensor *r = NULL;
    ks_status st = take_sqrt ? ks_std(c, t, ndims, dims, correction, keepdim, &r)
                             : ks_var(c, t, ndims, dims, correction, keepdim, &r);
    if (st) return st;
    ks_node *n;
    st = record(c, take_sqrt ? &op_std : &op_var, t, r, 0, dims_mask(t->ndim, ndims, dims), true, &n);
    if (!st && n) { n->f[0] = correction; n->i[2] = take_sqrt; n->double_backward = true; }
    ks_node_release(n);
    if (st) { ks_tensor_release(r); return st; }
    *out = r;
    return KS_OK;
}

/* ------------------------------------------------------------------ norm */
/* d norm / d x for 1 < p < inf under create_graph, recorded: x / norm for
 * p = 2 (no |x|^0, whose derivative is 0 * inf at 0), else
 * x |x|^(p-2) / norm^(p-1); 0 where the norm is 0 (a constant mask) */
static ks_status norm_dx_recorded(ks_ctx *c, ks_tensor *x, ks_tensor *yk, double p, ks_tensor **out)
{
    ks_tensor *ax = NULL, *pw = NULL, *t2 = NULL, *np = NULL, *t1 = NULL, *zero = NULL;
    ks_status st;
    if (p == 2) {
        TRY(abin(c, KS_OP_DIV, x, yk, &t1));
    } else {
        TRY(ks_ag_unary(c, KS_OP_ABS, x, &ax));
        TRY(abins(c, KS_OP_POW, ax, p - 2, &pw));
        TRY(abin(c, KS_OP_MUL, x, pw, &t2));
        TRY(abins(c, KS_OP_POW, yk, p - 1, &np));
        TRY(abin(c, KS_OP_DIV, t2, np, &t1));
    }
    TRY(bins(c, KS_OP_EQ, yk, 0.0, &zero));
    st = ks_ag_where(c, zero, ks_op_scalar(ks_scalar_float(0.0)), ks_op_tensor(t1), out);
done:
    ks_tensor_release(ax); ks_tensor_release(pw); ks_tensor_release(t2);
    ks_tensor_release(np); ks_tensor_release(t1); ks_tensor_release(zero);
    return st;
}

/* norm_backward under create_graph. p = 0, 1, inf: piecewise-linear, so the
 * factor multiplying g is a constant; other p: norm_dx_recorded */
static ks_status norm_backward_recorded(ks_ctx *c, ks_node *n, ks_tensor *g, ks_tensor **gin)
{
    ks_tensor *x = NULL, *y = NULL, *yk = NULL, *gk = NULL, *t1 = NULL, *ax = NULL, *m = NULL, *cnt = NULL,
              *sh = NULL, *sg = NULL;
    double p = n->f[0];
    int dims[KS_MAX_DIMS], nd = reduced_dims(n, dims);
    ks_status st;
    TRY(ks_ag_saved_input(c, n, 0, 0, &x));
    TRY(ks_ag_saved_output(c, n, 1, 0, &y));
    TRY(keepdim_view(c, n, y, &yk));
    TRY(keepdim_view(c, n, g, &gk));
    if (p == 0) {
        TRY(bins(c, KS_OP_MUL, x, 0.0, &t1));
    } else if (p == 1) {
        TRY(ks_unary(c, KS_OP_SIGN, x, NULL, &t1));
    } else if (isinf(p)) { /* ties of |x| with the norm share it evenly */
        TRY(ks_unary(c, KS_OP_ABS, x, NULL, &ax));
        TRY(bin(c, KS_OP_EQ, ax, yk, &m));
        TRY(ks_to_dtype(c, m, KS_FLOAT32, &sh));
        TRY(ks_sum(c, sh, nd, dims, true, &cnt));
        TRY(ks_unary(c, KS_OP_SIGN, x, NULL, &sg));
        ks_tensor_release(m);
        m = NULL;
        TRY(bin(c, KS_OP_DIV, sh, cnt, &m));
        TRY(bin(c, KS_OP_MUL, m, sg, &t1));
    } else {
        TRY(norm_dx_recorded(c, x, yk, p, &t1));
    }
    st = abin(c, KS_OP_MUL, t1, gk, &gin[0]);
done:
    ks_tensor_release(x); ks_tensor_release(y); ks_tensor_release(yk); ks_tensor_release(gk);
    ks_tensor_release(t1); ks_tensor_release(ax); ks_tensor_release(m); ks_tensor_release(cnt);
    ks_tensor_release(sh); ks_tensor_release(sg);
    return st;
}

/* saved: 0 x, 1 y. f[0] p */
static ks_status norm_backward(ks_ctx *c, ks_node *n, ks_tensor *const *gout, ks_tensor **gin)
{
    ks_tensor *x, *y, *yk = NULL, *gk = NULL, *t1 = NULL, *t2 = NULL, *t3 = NULL;
    ks_status st;
    if (c->grad_enabled) return norm_backward_recorded(c, n, gout[0], gin); /* create_graph */
    if ((st = ks_node_get_saved(c, n, 0, &x)) || (st = ks_node_get_saved(c, n, 1, &y))) return st;
    double p = n->f[0];
    TRY(keepdim_view(c, n, y, &yk));
    TRY(keepdim_view(c, n, gout[0], &gk));
    if (p == 0) { /* piecewise constant */
        TRY(ks_binary_scalar(c, KS_OP_MUL, x, ks_scalar_float(0.0), false, &gin[0]));
        goto done;
    }
    if (p == 1) {
        TRY(ks_unary(c, KS_OP_SIGN, x, NULL, &t1));
    } else if (isinf(p)) { /* |x| == norm picks the elements; ties share */
        ks_tensor *ax = NULL, *m = NULL, *cnt = NULL;
        int dims[KS_MAX_DIMS], nd = reduced_dims(n, dims);
        st = ks_unary(c, KS_OP_ABS, x, NULL, &ax);
        if (!st) st = bin(c, KS_OP_EQ, ax, yk, &m);
        if (!st) st = ks_to_dtype(c, m, KS_FLOAT32, &t2);
        if (!st) st = ks_sum(c, t2, nd, dims, true, &cnt);
        if (!st) st = bin(c, KS_OP_DIV, t2, cnt, &t3);
        ks_tensor_release(ax); ks_tensor_release(m); ks_tensor_release(cnt);
        if (st) goto done;
        ks_tensor *sg = NULL;
        TRY(ks_unary(c, KS_OP_SIGN, x, NULL, &sg));
        st = bin(c, KS_OP_MUL, t3, sg, &t1);
        ks_tensor_release(sg);
        if (st) goto done;
    } else { /* x |x|^(p-2) / norm^(p-1), 0 where the norm is 0 */
        ks_tensor *ax = NULL, *pw = NULL, *np = NULL;
        st = ks_unary(c, KS_OP_ABS, x, NULL, &ax);
        if (!st) st = bins(c, KS_OP_POW, ax, p - 2, &pw);
        if (!st) st = bin(c, KS_OP_MUL, x, pw, &t2);
        if (!st) st = bins(c, KS_OP_POW, yk, p - 1, &np);
        if (!st) st = bin(c, KS_OP_DIV, t2, np, &t1);
        ks_tensor_release(ax); ks_tensor_release(pw); ks_tensor_release(np);
        if (st) goto done;
        TRY(ks_nan_to_num(c, t1, &(double){0.0}, NULL, NULL, t1, NULL));
    }
    st = bin(c, KS_OP_MUL, t1, gk, &gin[0]);
done:
    ks_tensor_release(yk); ks_tensor_release(gk);
    ks_tensor_release(t1); ks_tensor_release(t2); ks_tensor_release(t3);
    return st;
}

static const ks_op_def op_norm = {"NormBackward", norm_backward};

ks_status ks_ag_norm(ks_ctx *c, ks_tensor *t, double p, int ndims, const int *dims, bool keepdim, ks_tensor **out)
{
    ks_tensor *r = NULL;
    ks_status st = ks_norm(c, t, p, ndims, dims, keepdim, &r);
    if (st) return st;
    ks_node *n;
    st = record(c, &op_norm, t, r, 0, dims_mask(t->ndim, ndims, dims), true, &n);
    if (!st && n) { n->f[0] = p; n->double_backward = true; }
    ks_node_release(n);
    if (st) { ks_tensor_release(r); return st; }
    *out = r;
    return KS_OK;
}

/* ------------------------------------------------------------------ max/min along a dim */
/* saved: 0 indices (keepdim shape). i[0] dim */
static ks_status maxdim_backward(ks_ctx *c, ks_node *n, ks_tensor *const *gout, ks_tensor **gin)
{
    ks_tensor *idx, *gk = NULL, *z = NULL;
    ks_status st = ks_node_get_saved(c, n, 0, &idx);
    if (st) return st;
    int nd = n->in_ndim[0], dim = (int)n->i[0];
    int64_t size[KS_MAX_DIMS];
    memcpy(size, n->in_size[0], sizeof size);
    if (nd) size[dim] = 1;
    /* create_graph: gk a recorded view, scattered by a recorded scatter_add (whose gradient gathers) */
    TRY((c->grad_enabled ? ks_ag_reshape : ks_reshape)(c, gout[0], nd, size, &gk));
    TRY(ks_tensor_empty(c, KS_FLOAT32, nd, n->in_size[0], &z));
    memset(ks_tensor_data(z), 0, (size_t)z->numel * sizeof(float));
    if (c->grad_enabled) {
        if (nd) st = ks_ag_scatter_add(c, z, dim, idx, gk, &gin[0]);
        else gin[0] = ks_tensor_retain(gk);
        goto done;
    }
    if (nd) TRY(ks_scatter_add_(c, z, dim, idx, gk));
    else TRY(ks_copy_(c, z, gk));
    gin[0] = z;
    z = NULL;
done:
    ks_tensor_release(gk);
    ks_tensor_release(z);
    return st;
}

static const ks_op_def op_maxdim = {"MaxBackward", maxdim_backward};

ks_status ks_ag_max_dim(ks_ctx *c, ks_tensor *t, int dim, bool keepdim, bool is_min, ks_tensor **values,
                        ks_tensor **indices)
{
    ks_tensor *v = NULL, *ix = NULL, *ik = NULL;
    ks_status st = is_min ? ks_min_dim(c, t, dim, keepdim, &v, &ix) : ks_max_dim(c, t, dim, keepdim, &v, &ix);
    if (st) return st;
    if (v->dtype == KS_FLOAT32 && ks_ag_needs_record(c, 1, &t)) {
        ks_node *n = ks_node_new(c, &op_maxdim, 1, &t);
        if (!n) st = KS_ENOMEM;
        else {
            int64_t size[KS_MAX_DIMS];
            memcpy(size, t->size, sizeof size);
            if (t->ndim) size[dim] = 1;
            n->i[0] = dim;
            n->double_backward = true;
            st = ks_reshape(c, ix, t->ndim, size, &ik);
            if (!st) st = ks_node_save(c, n, ik);
            if (!st) ks_node_set_output(n, 0, v);
            ks_tensor_release(ik);
            ks_node_release(n);
        }
    }
    if (st) { ks_tensor_release(v); ks_tensor_release(ix); return st; }
    *values = v;
    *indices = ix;
    return KS_OK;
}

/* ------------------------------------------------------------------ cumsum */
/* flip, cumsum, flip along dim, recorded (a view: the engine copies views it adds into) */
static ks_status reverse_cumsum_recorded(ks_ctx *c, ks_tensor *g, int dim, ks_tensor **out)
{
    int64_t d64 = dim;
    ks_tensor *f = NULL, *cs = NULL, *b = NULL;
    ks_status st;
    TRY(ks_flip(c, g, 1, &dim, &f));
    TRY(ks_ag_record_view(c, KS_VIEW_FLIP, &d64, 1, g, f));
    TRY(ks_ag_cumsum(c, f, dim, &cs));
    TRY(ks_flip(c, cs, 1, &dim, &b));
    TRY(ks_ag_record_view(c, KS_VIEW_FLIP, &d64, 1, cs, b));
    *out = b;
    b = NULL;
done:
    ks_tensor_release(f);
    ks_tensor_release(cs);
    ks_tensor_release(b);
    return st;
}

static ks_status cumsum_backward(ks_ctx *c, ks_node *n, ks_tensor *const *gout, ks_tensor **gin)
{
    int dim = (int)n->i[0];
    ks_tensor *f = NULL, *cs = NULL, *b = NULL;
    ks_status st;
    if (n->in_ndim[0] == 0) { gin[0] = ks_tensor_retain(gout[0]); return KS_OK; }
    if (c->grad_enabled) return reverse_cumsum_recorded(c, gout[0], dim, &gin[0]); /* create_graph */
    TRY(ks_flip(c, gout[0], 1, &dim, &f));
    TRY(ks_cumsum(c, f, dim, &cs));
    TRY(ks_flip(c, cs, 1, &dim, &b));
    st = ks_contiguous(c, b, &gin[0]);
done:
    ks_tensor_release(f);
    ks_tensor_release(cs);
    ks_tensor_release(b);
    return st;
}

static const ks_op_def op_cumsum = {"CumsumBackward", cumsum_backward};

ks_status ks_ag_cumsum(ks_ctx *c, ks_tensor *t, int dim, ks_tensor **out)
{
    ks_tensor *r = NULL;
    ks_status st = ks_cumsum(c, t, dim, &r);
    if (st) return st;
    ks_node *n;
    st = record(c, &op_cumsum, t, r, dim, 0, false, &n);
    if (n) n->double_backward = true;
    ks_node_release(n);
    if (st) { ks_tensor_release(r); return st; }
    *out = r;
    return KS_OK;
}

/* ------------------------------------------------------------------ cumprod */
/* saved: 0 input. i[0] dim. The kernel needs no division, so zeros in the
 * input get their exact gradient (the product of the other factors). */
/* under create_graph (recorded only for x without zeros): reverse cumsum of
 * g * cumprod(x), over x; cumprod(x) recomputed as a recorded op */
static ks_status cumprod_backward_recorded(ks_ctx *c, ks_node *n, ks_tensor *g, ks_tensor **gin)
{
    int dim = (int)n->i[0];
    ks_tensor *x = NULL, *y = NULL, *gy = NULL, *r = NULL;
    ks_status st;
    TRY(ks_ag_saved_input(c, n, 0, 0, &x));
    if (x->ndim == 0) { gin[0] = ks_tensor_retain(g); goto done; } /* cumprod of a scalar: itself */
    TRY(ks_ag_cumprod(c, x, dim, &y));
    TRY(abin(c, KS_OP_MUL, g, y, &gy));
    TRY(reverse_cumsum_recorded(c, gy, dim, &r));
    st = abin(c, KS_OP_DIV, r, x, &gin[0]);
done:
    ks_tensor_release(x);
    ks_tensor_release(y);
    ks_tensor_release(gy);
    ks_tensor_release(r);
    return st;
}

static ks_status cumprod_backward(ks_ctx *c, ks_node *n, ks_tensor *const *gout, ks_tensor **gin)
{
    if (c->grad_enabled) return cumprod_backward_recorded(c, n, gout[0], gin); /* create_graph */
    ks_tensor *x;
    ks_status st = ks_node_get_saved(c, n, 0, &x);
    return st ? st : ks_cumprod_backward(c, x, gout[0], (int)n->i[0], &gin[0]);
}

static const ks_op_def op_cumprod = {"CumprodBackward", cumprod_backward};

ks_status ks_ag_cumprod(ks_ctx *c, ks_tensor *t, int dim, ks_tensor **out)
{
    ks_tensor *r = NULL;
    ks_status st = ks_cumprod(c, t, dim, &r);
    if (st) return st;
    ks_node *n = NULL;
    if (r->dtype == KS_FLOAT32) st = ks_ag_record(c, &op_cumprod, 1, &t, 1, &t, r, &n);
    bool zero = false;
    if (!st && n) {
        n->i[0] = dim;
        st = has_zero(c, t, &zero);
        n->double_backward = !zero;
    }
    if (st) { ks_tensor_release(r); return st; }
    *out = r;
    return KS_OK;
}
