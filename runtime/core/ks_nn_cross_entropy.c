/* ks_nn_cross_entropy.c: cross entropy on logits, with class-index targets
 * (weights, ignore_index, label smoothing) or probability targets, and its
 * backward. Definitions follow PyTorch exactly:
 *   hard:  l_i = (1-e) w[t_i] (-logp_i[t_i]) + (e/C) sum_c w_c (-logp_i[c])
 *          mean divides by sum of w[t_i] over non-ignored i
 *   soft:  q = (1-e) target + e/C;  l_i = -sum_c w_c q_ic logp_ic
 *          mean divides by the number of samples (weights not in it)
 * Layout: logits [N, C, d1...] seen as (outer N, classes C, inner S).
 * Under create_graph the gradient d = scale * (softmax(x) * A - B), A and B
 * constants of the targets and weights, runs as recording ops on the saved
 * logits, so cross_entropy supports double backward (not with respect to
 * probability targets that require grad); nll_loss's gradient is linear in
 * the incoming one, recorded as a product with a constant. */
#include "ks_grad_ops.h"
#include "ks_grad_views.h"
#include "ks_nn.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    int64_t N, C, S;
} ce_geom;

static inline int64_t at(const ce_geom *g, int64_t n, int64_t c, int64_t s) { return (n * g->C + c) * g->S + s; }

/* logp = log_softmax over classes, in double for the log-sum-exp */
static void log_softmax(const ce_geom *g, const float *x, float *logp)
{
    for (int64_t n = 0; n < g->N; n++)
        for (int64_t s = 0; s < g->S; s++) {
            float m = -INFINITY;
            for (int64_t c = 0; c < g->C; c++) m = fmaxf(m, x[at(g, n, c, s)]);
            double sum = 0;
            /* expf: each term is only needed to float precision; the sum is double */
            for (int64_t c = 0; c < g->C; c++) sum += expf(x[at(g, n, c, s)] - m);
            float lse = m + (float)log(sum);
            for (int64_t c = 0; c < g->C; c++) logp[at(g, n, c, s)] = x[at(g, n, c, s)] - lse;
        }
}

static double weight_of(const float *w, int64_t c) { return w ? w[c] : 1.0; }

/* per-sample losses into li (N*S), returns the mean denominator */
static double hard_losses(const ce_geom *g, const float *logp, const int64_t *t, const float *w, const ks_ce_opts *o,
                          double *li)
{
    double denom = 0, e = o->label_smoothing;
    for (int64_t n = 0; n < g->N; n++)
        for (int64_t s = 0; s < g->S; s++) {
            int64_t k = n * g->S + s, tc = t[k];
            if (tc == o->ignore_index) { li[k] = 0; continue; }
            double wt = weight_of(w, tc), smooth = 0;
            if (e > 0)
                for (int64_t c = 0; c < g->C; c++) smooth -= weight_of(w, c) * logp[at(g, n, c, s)];
            li[k] = (1 - e) * wt * -(double)logp[at(g, n, tc, s)] + e / (double)g->C * smooth;
            denom += wt;
        }
    return denom;
}

static void soft_losses(const ce_geom *g, const float *logp, const float *q, const float *w, double e, double *li)
{
    for (int64_t n = 0; n < g->N; n++)
        for (int64_t s = 0; s < g->S; s++) {
            double l = 0;
            for (int64_t c = 0; c < g->C; c++) {
                double qc = (1 - e) * q[at(g, n, c, s)] + e / (double)g->C;
                l -= weight_of(w, c) * qc * logp[at(g, n, c, s)];
            }
            li[n * g->S + s] = l;
        }
}

static ks_status check_ce(ks_ctx *c, const ks_tensor *x, const ks_tensor *t, const ks_ce_opts *o, ce_geom *g,
                          bool *soft)
{
    char a[160], b[160];
    if (x->dtype != KS_FLOAT32) return ks_error(c, KS_ETYPE, "cross_entropy: logits must be float32, got %s", ks_dtype_name(x->dtype));
    if (x->ndim < 1) return ks_error(c, KS_ESHAPE, "cross_entropy: logits must have a class dimension (got a 0-d tensor)");
    bool batched = x->ndim >= 2;
    g->N = batched ? x->size[0] : 1;
    g->C = batched ? x->size[1] : x->size[0];
    g->S = 1;
    for (int d = 2; d < x->ndim; d++) g->S *= x->size[d];
    /* the shape of class-index targets: the logits' without the class dim */
    bool index_shape = t->ndim == (batched ? x->ndim - 1 : 0) && (!batched || t->size[0] == x->size[0]);
    for (int d = 2; index_shape && d < x->ndim; d++) index_shape = t->size[d - 1] == x->size[d];
    *soft = t->dtype == KS_FLOAT32;
    if (*soft) {
        /* float labels (ks.tensor{0, 2, 1} is float32) are a common slip: say how to make them indices */
        if (!ks_same_shape(x, t) && index_shape)
            return ks_error(c, KS_ETYPE, "cross_entropy: class-index targets must be int64, got float32 of shape %s "
                            "(convert with y:long() or ks.tensor(t, \"int64\")); probability targets need the "
                            "logits' shape %s", ks_shape_str(t, a, sizeof a), ks_shape_str(x, b, sizeof b));
        if (!ks_same_shape(x, t))
            return ks_error(c, KS_ESHAPE, "cross_entropy: probability targets of shape %s must match logits of shape %s",
                            ks_shape_str(t, a, sizeof a), ks_shape_str(x, b, sizeof b));
    } else {
        if (t->dtype != KS_INT64)
            return ks_error(c, KS_ETYPE, "cross_entropy: targets must be int64 class indices or float32 probabilities, got %s",
                            ks_dtype_name(t->dtype));
        if (!index_shape)
            return ks_error(c, KS_ESHAPE, "cross_entropy: targets of shape %s do not match logits of shape %s (expected [N, d1, ...] for logits [N, C, d1, ...])",
                            ks_shape_str(t, a, sizeof a), ks_shape_str(x, b, sizeof b));
    }
    if (o->weight && (o->weight->dtype != KS_FLOAT32 || o->weight->ndim != 1 || o->weight->size[0] != g->C))
        return ks_error(c, KS_ESHAPE, "cross_entropy: weight of shape %s must be float32 [%lld] (one per class)",
                        ks_shape_str(o->weight, a, sizeof a), (long long)g->C);
    if (!(o->label_smoothing >= 0 && o->label_smoothing <= 1))
        return ks_error(c, KS_EINVAL, "cross_entropy: label_smoothing must be in [0, 1], got %g", o->label_smoothing);
    if ((unsigned)o->reduction > KS_REDUCE_SUM) return ks_error(c, KS_EINVAL, "cross_entropy: unknown reduction");
    return KS_OK;
}

static ks_status check_targets(ks_ctx *c, const ce_geom *g, const int64_t *t, const ks_ce_opts *o)
{
    for (int64_t k = 0; k < g->N * g->S; k++)
        if (t[k] != o->ignore_index && (t[k] < 0 || t[k] >= g->C))
            return ks_error(c, KS_ERANGE, "cross_entropy: target %lld at position %lld is out of bounds (number of classes %lld)",
                            (long long)t[k], (long long)k, (long long)g->C);
    return KS_OK;
}

/* A (the logits' shape with 1 class) and B (the logits' shape) of d = p * A - B, per sample */
static void ce_constants(const ks_node *n, const ce_geom *g, const ks_tensor *tt, const float *w, float *A, float *B)
{
    double e = n->f[0], wsum = 0;
    for (int64_t k = 0; k < g->C; k++) wsum += weight_of(w, k);
    for (int64_t i = 0; i < g->N; i++)
        for (int64_t s = 0; s < g->S; s++) {
            int64_t k = i * g->S + s;
            double a = 0;
            if (n->i[1]) { /* soft: A = sum_c w_c q_c, B_c = w_c q_c */
                const float *q = ks_tensor_data(tt);
                for (int64_t cc = 0; cc < g->C; cc++) {
                    double b = weight_of(w, cc) * ((1 - e) * q[at(g, i, cc, s)] + e / g->C);
                    B[at(g, i, cc, s)] = (float)b;
                    a += b;
                }
            } else {
                int64_t tc = ((const int64_t *)ks_tensor_data(tt))[k];
                bool ignored = tc == n->i[2];
                double wtc = ignored ? 0 : weight_of(w, tc);
                a = ignored ? 0 : (1 - e) * wtc + e / g->C * wsum;
                for (int64_t cc = 0; cc < g->C; cc++)
                    B[at(g, i, cc, s)] = ignored ? 0.0f : (float)((1 - e) * wtc * (cc == tc) + e / g->C * weight_of(w, cc));
            }
            A[k] = (float)a;
        }
}

/* create_graph: gin = scale * (softmax(x) * A - B), recorded (x: the saved logits as a graph member) */
static ks_status ce_backward_recorded(ks_ctx *c, ks_node *n, ks_tensor *tt, ks_tensor *wt, ks_tensor *g, ks_tensor **gin)
{
    ce_geom geo = {n->i[3], n->i[4], n->i[5]};
    int nd = n->in_ndim[0], cdim = nd >= 2 ? 1 : 0;
    int64_t asz[KS_MAX_DIMS];
    memcpy(asz, n->in_size[0], sizeof asz);
    asz[cdim] = 1;
    ks_tensor *x = NULL, *p = NULL, *A = NULL, *B = NULL, *t1 = NULL, *t2 = NULL, *sc = NULL;
    ks_status st;
    if ((st = ks_ag_saved_input(c, n, (int)n->i[7], 0, &x)) || (st = ks_nn_softmax(c, x, &p, cdim, false)) ||
        (st = ks_tensor_empty(c, KS_FLOAT32, nd, asz, &A)) || (st = ks_tensor_empty(c, KS_FLOAT32, nd, n->in_size[0], &B)))
        goto done;
    ce_constants(n, &geo, tt, wt ? ks_tensor_data(wt) : NULL, ks_tensor_data(A), ks_tensor_data(B));
    if (n->i[0] == KS_REDUCE_NONE) st = ks_ag_reshape(c, g, nd, asz, &sc); /* one gradient per sample */
    else st = ks_ag_binary(c, KS_OP_DIV, ks_op_tensor(g),
                           ks_op_scalar(ks_scalar_float(n->i[0] == KS_REDUCE_MEAN ? n->f[1] : 1.0)), NULL, &sc);
    if (st || (st = ks_ag_binary(c, KS_OP_MUL, ks_op_tensor(p), ks_op_tensor(A), NULL, &t1)) ||
        (st = ks_ag_binary(c, KS_OP_SUB, ks_op_tensor(t1), ks_op_tensor(B), NULL, &t2)))
        goto done;
    st = ks_ag_binary(c, KS_OP_MUL, ks_op_tensor(t2), ks_op_tensor(sc), NULL, &gin[0]);
done:
    ks_tensor_release(x); ks_tensor_release(p); ks_tensor_release(A); ks_tensor_release(B);
    ks_tensor_release(t1); ks_tensor_release(t2); ks_tensor_release(sc);
    return st;
}

/* saved: 0 logp, 1 target (contiguous), 2 weight (when i[6]), i[7]: the contiguous logits (for create_graph).
 * f[0] = e, f[1] = denom, i[0] = reduction, i[1] = soft, i[2] = ignore */
static ks_status ce_backward(ks_ctx *c, ks_node *n, ks_tensor *const *gout, ks_tensor **gin)
{
    ks_tensor *lp, *tt, *wt = NULL, *go;
    ks_status st;
    if ((st = ks_node_get_saved(c, n, 0, &lp)) || (st = ks_node_get_saved(c, n, 1, &tt))) return st;
    if (n->i[6] && (st = ks_node_get_saved(c, n, 2, &wt))) return st;
    if (c->grad_enabled) return n->needs_grad[0] ? ce_backward_recorded(c, n, tt, wt, gout[0], gin) : KS_OK;
    if ((st = ks_contiguous(c, gout[0], &go))) return st;
    ce_geom g = {n->i[3], n->i[4], n->i[5]};
    double e = n->f[0], denom = n->f[1];
    int red = (int)n->i[0], soft = (int)n->i[1];
    const float *logp = ks_tensor_data(lp), *w = wt ? ks_tensor_data(wt) : NULL, *gp = ks_tensor_data(go);
    double wsum = 0;
    for (int64_t k = 0; k < g.C; k++) wsum += weight_of(w, k);
    if (n->needs_grad[0] && !(st = ks_tensor_empty(c, KS_FLOAT32, n->in_ndim[0], n->in_size[0], &gin[0]))) {
        float *dx = ks_tensor_data(gin[0]);
        for (int64_t i = 0; i < g.N; i++)
            for (int64_t s = 0; s < g.S; s++) {
                int64_t k = i * g.S + s;
                double scale = red == KS_REDUCE_NONE ? gp[k] : red == KS_REDUCE_SUM ? gp[0] : gp[0] / denom;
                if (soft) {
                    const float *q = ks_tensor_data(tt);
                    double sq = 0;
                    for (int64_t cc = 0; cc < g.C; cc++) sq += weight_of(w, cc) * ((1 - e) * q[at(&g, i, cc, s)] + e / g.C);
                    for (int64_t cc = 0; cc < g.C; cc++) {
                        double qc = (1 - e) * q[at(&g, i, cc, s)] + e / g.C, p = exp(logp[at(&g, i, cc, s)]);
                        dx[at(&g, i, cc, s)] = (float)(scale * (p * sq - weight_of(w, cc) * qc));
                    }
                    continue;
                }
                int64_t tc = ((const int64_t *)ks_tensor_data(tt))[k];
                if (tc == n->i[2]) {
                    for (int64_t cc = 0; cc < g.C; cc++) dx[at(&g, i, cc, s)] = 0;
                    continue;
                }
                double wtc = weight_of(w, tc);
                for (int64_t cc = 0; cc < g.C; cc++) {
                    double p = expf(logp[at(&g, i, cc, s)]); /* float logp: expf is exact enough */
                    double d = (1 - e) * wtc * (p - (cc == tc)) + e / g.C * (p * wsum - weight_of(w, cc));
                    dx[at(&g, i, cc, s)] = (float)(scale * d);
                }
            }
    }
    if (!st && soft && n->needs_grad[1] && !(st = ks_tensor_empty(c, KS_FLOAT32, n->in_ndim[1], n->in_size[1], &gin[1]))) {
        float *dq = ks_tensor_data(gin[1]);
        for (int64_t i = 0; i < g.N; i++)
            for (int64_t s = 0; s < g.S; s++) {
                int64_t k = i * g.S + s;
                double scale = red == KS_REDUCE_NONE ? gp[k] : red == KS_REDUCE_SUM ? gp[0] : gp[0] / denom;
                for (int64_t cc = 0; cc < g.C; cc++)
                    dq[at(&g, i, cc, s)] = (float)(-scale * (1 - e) * weight_of(w, cc) * logp[at(&g, i, cc, s)]);
            }
    }
    ks_tensor_release(go);
    return st;
}

static const ks_op_def op_ce = {"CrossEntropyBackward", ce_backward};

static ks_status reduce_out(ks_ctx *c, const ce_geom *g, const ks_tensor *target, const double *li, double denom,
                            ks_reduction red, ks_tensor **out)
{
    ks_status st;
    if (red == KS_REDUCE_NONE) {
        int nd = target->dtype == KS_FLOAT32 ? target->ndim - 1 : target->ndim;
        int64_t size[KS_MAX_DIMS];
        if (target->dtype == KS_FLOAT32) { /* drop the class dim */
            size[0] = target->size[0];
            for (int d = 2; d < target->ndim; d++) size[d - 1] = target->size[d];
            if (target->ndim == 1) nd = 0;
        } else {
            memcpy(size, target->size, sizeof size);
        }
        if ((st = ks_tensor_empty(c, KS_FLOAT32, nd, size, out))) return st;
        float *o = ks_tensor_data(*out);
        for (int64_t k = 0; k < g->N * g->S; k++) o[k] = (float)li[k];
        return KS_OK;
    }
    double total = 0;
    for (int64_t k = 0; k < g->N * g->S; k++) total += li[k];
    if ((st = ks_tensor_empty(c, KS_FLOAT32, 0, NULL, out))) return st;
    *(float *)ks_tensor_data(*out) = (float)(red == KS_REDUCE_SUM ? total : total / denom);
    return KS_OK;
}

ks_status ks_nn_cross_entropy(ks_ctx *c, ks_tensor *logits, ks_tensor *target, ks_tensor **out, const ks_ce_opts *o)
{
    ce_geom g = {0, 0, 0};
    bool soft = false;
    ks_status st = check_ce(c, logits, target, o, &g, &soft);
    if (st) return st;
    ks_tensor *x = NULL, *t = NULL, *w = NULL, *lp = NULL, *r = NULL;
    double *li = NULL, denom = 0;
    if ((st = ks_contiguous(c, logits, &x)) || (st = ks_contiguous(c, target, &t))) goto done;
    if (o->weight && (st = ks_contiguous(c, o->weight, &w))) goto done;
    if (!soft && (st = check_targets(c, &g, ks_tensor_data(t), o))) goto done;
    if ((st = ks_tensor_empty(c, KS_FLOAT32, x->ndim, x->size, &lp))) goto done;
    log_softmax(&g, ks_tensor_data(x), ks_tensor_data(lp));
    li = malloc((size_t)(g.N * g.S > 0 ? g.N * g.S : 1) * sizeof *li);
    if (!li) { st = ks_error(c, KS_ENOMEM, "out of memory in cross_entropy"); goto done; }
    const float *wp = w ? ks_tensor_data(w) : NULL;
    if (soft) {
        soft_losses(&g, ks_tensor_data(lp), ks_tensor_data(t), wp, o->label_smoothing, li);
        denom = (double)(g.N * g.S);
    } else {
        denom = hard_losses(&g, ks_tensor_data(lp), ks_tensor_data(t), wp, o, li);
    }
    if ((st = reduce_out(c, &g, target, li, denom, o->reduction, &r))) goto done;
    ks_tensor *ins[2] = {logits, target};
    if (ks_ag_needs_record(c, 2, ins)) {
        ks_node *n = ks_node_new(c, &op_ce, 2, ins);
        if (!n) { st = KS_ENOMEM; goto done; }
        n->f[0] = o->label_smoothing;
        n->f[1] = denom;
        n->i[0] = o->reduction; n->i[1] = soft; n->i[2] = o->ignore_index;
        n->i[3] = g.N; n->i[4] = g.C; n->i[5] = g.S;
        n->i[6] = w != NULL;
        n->i[7] = w ? 3 : 2;
        /* create_graph differentiates the backward through the logits only */
        n->double_backward = !(soft && target->requires_grad);
        st = ks_node_save(c, n, lp);
        if (!st) st = ks_node_save(c, n, t);
        if (!st && w) st = ks_node_save(c, n, w);
        if (!st) st = ks_node_save(c, n, x);
        if (!st) ks_node_set_output(n, 0, r);
        ks_node_release(n);
        if (st) goto done;
    }
    *out = r;
    r = NULL;
done:
    free(li);
    ks_tensor_release(x);
    ks_tensor_release(t);
    ks_tensor_release(w);
    ks_tensor_release(lp);
    ks_tensor_release(r);
    return st;
}

/* ------------------------------------------------------------ nll_loss */
/* dx (zeroed) = d loss / d logp: -w[t] * scale at the target class;
 * scale from the incoming gradient gp, or (gp NULL) per unit of it: 1, or
 * 1 / denom for the mean (the create_graph form, dx times the gradient) */
static void nll_fill(const ks_node *n, const int64_t *t, const float *w, const float *gp, float *dx)
{
    ce_geom g = {n->i[3], n->i[4], n->i[5]};
    int red = (int)n->i[0];
    for (int64_t i = 0; i < g.N; i++)
        for (int64_t s = 0; s < g.S; s++) {
            int64_t k = i * g.S + s;
            if (t[k] == n->i[1]) continue;
            double unit = red == KS_REDUCE_MEAN ? 1.0 / n->f[0] : 1.0;
            double scale = !gp ? unit : red == KS_REDUCE_NONE ? gp[k] : red == KS_REDUCE_SUM ? gp[0] : gp[0] / n->f[0];
            dx[at(&g, i, t[k], s)] = (float)(-scale * weight_of(w, t[k]));
        }
}

/* create_graph: the gradient is linear in the incoming one, so it is
 * g * dx_unit, recorded (g gets a class dim for reduction 'none') */
static ks_status nll_backward_recorded(ks_ctx *c, ks_node *n, ks_tensor *g, ks_tensor *unit, ks_tensor **gin)
{
    ks_tensor *gu;
    bool per_sample = n->i[0] == KS_REDUCE_NONE && g->ndim > 0;
    ks_status st = per_sample ? ks_ag_unsqueeze(c, g, 1, &gu) : (gu = ks_tensor_retain(g), KS_OK);
    if (st) return st;
    st = ks_ag_binary(c, KS_OP_MUL, ks_op_tensor(gu), ks_op_tensor(unit), NULL, gin);
    ks_tensor_release(gu);
    return st;
}

/* saved: 0 target, 1 weight (optional). f[0] denom; i[0] reduction, i[1] ignore, i[3..5] geometry */
static ks_status nll_backward(ks_ctx *c, ks_node *n, ks_tensor *const *gout, ks_tensor **gin)
{
    ks_tensor *tt, *wt = NULL, *go = NULL, *dx;
    ks_status st;
    if ((st = ks_node_get_saved(c, n, 0, &tt))) return st;
    if (n->nsaved > 1 && (st = ks_node_get_saved(c, n, 1, &wt))) return st;
    if (!n->needs_grad[0]) return KS_OK;
    bool recorded = c->grad_enabled; /* create_graph */
    if (!recorded && (st = ks_contiguous(c, gout[0], &go))) return st;
    if ((st = ks_tensor_empty(c, KS_FLOAT32, n->in_ndim[0], n->in_size[0], &dx))) { ks_tensor_release(go); return st; }
    memset(ks_tensor_data(dx), 0, (size_t)dx->numel * sizeof(float));
    nll_fill(n, ks_tensor_data(tt), wt ? ks_tensor_data(wt) : NULL, go ? ks_tensor_data(go) : NULL, ks_tensor_data(dx));
    ks_tensor_release(go);
    if (!recorded) { gin[0] = dx; return KS_OK; }
    st = nll_backward_recorded(c, n, gout[0], dx, &gin[0]);
    ks_tensor_release(dx);
    return st;
}

static const ks_op_def op_nll = {"NllLossBackward", nll_backward};

ks_status ks_nn_nll_loss(ks_ctx *c, ks_tensor *logp, ks_tensor *target, ks_tensor **out, const ks_ce_opts *o)
{
    ce_geom g = {0, 0, 0};
    bool soft = false;
    ks_status st = check_ce(c, logp, target, o, &g, &soft);
    if (st) return st;
    if (soft) return ks_error(c, KS_ETYPE, "nll_loss: targets must be int64 class indices");
    if (o->label_smoothing != 0) return ks_error(c, KS_EINVAL, "nll_loss: label smoothing is not supported (use cross_entropy)");
    ks_tensor *x = NULL, *t = NULL, *w = NULL, *r = NULL;
    double *li = NULL, denom = 0;
    if ((st = ks_contiguous(c, logp, &x)) || (st = ks_contiguous(c, target, &t))) goto done;
    if (o->weight && (st = ks_contiguous(c, o->weight, &w))) goto done;
    if ((st = check_targets(c, &g, ks_tensor_data(t), o))) goto done;
    li = malloc((size_t)(g.N * g.S > 0 ? g.N * g.S : 1) * sizeof *li);
    if (!li) { st = ks_error(c, KS_ENOMEM, "out of memory in nll_loss"); goto done; }
    denom = hard_losses(&g, ks_tensor_data(x), ks_tensor_data(t), w ? ks_tensor_data(w) : NULL, o, li);
    if ((st = reduce_out(c, &g, target, li, denom, o->reduction, &r))) goto done;
    ks_tensor *ins[2] = {logp, target};
    if (ks_ag_needs_record(c, 2, ins)) {
        ks_node *n = ks_node_new(c, &op_nll, 2, ins);
        if (!n) { st = KS_ENOMEM; goto done; }
        n->f[0] = denom;
        n->i[0] = o->reduction; n->i[1] = o->ignore_index;
        n->i[3] = g.N; n->i[4] = g.C; n->i[5] = g.S;
        n->double_backward = true;
        st = ks_node_save(c, n, t);
        if (!st && w) st = ks_node_save(c, n, w);
        if (!st) ks_node_set_output(n, 0, r);
        ks_node_release(n);
        if (st) goto done;
    }
    *out = r;
    r = NULL;
done:
    free(li);
    ks_tensor_release(x);
    ks_tensor_release(t);
    ks_tensor_release(w);
    ks_tensor_release(r);
    return st;
}
