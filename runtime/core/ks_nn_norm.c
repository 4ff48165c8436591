/* ks_nn_norm.c: batch normalisation and layer normalisation, forward and
 * backward. Statistics accumulate in double. Batch norm in training mode
 * normalises with the biased batch variance and updates the running
 * variance with the unbiased one (as PyTorch); in eval mode it uses the
 * running statistics. Backward (xh = normalised input, g = dL/dy):
 *   training:  dx = gamma*invstd * (g - mean(g) - xh * mean(g*xh))
 *   eval:      dx = gamma*invstd * g
 *   dgamma = sum(g*xh), dbeta = sum(g)                                   */
#include "ks_nn.h"

#include <math.h>
#include <string.h>

/* batch norm views input as [N, C, S] */
typedef struct {
    int64_t N, C, S;
} bn_geom;

static inline const float *chan(const float *x, const bn_geom *g, int64_t n, int64_t c)
{
    return x + (n * g->C + c) * g->S;
}

static float vec_at(const ks_tensor *v, int64_t i) { return ((const float *)ks_tensor_data(v))[i * v->stride[0]]; }

static ks_status new_vec(ks_ctx *c, int64_t n, ks_tensor **out) { return ks_tensor_empty(c, KS_FLOAT32, 1, &n, out); }

/* saved: 0 input, 1 mean [C], 2 invstd [C], 3 weight (optional). i[0] training, i[1..3] geometry, i[4] has weight */
static ks_status bn_backward(ks_ctx *c, ks_node *n, ks_tensor *const *gout, ks_tensor **gin)
{
    ks_tensor *xt, *mt, *it, *wt = NULL, *gt;
    ks_status st;
    if ((st = ks_node_get_saved(c, n, 0, &xt)) || (st = ks_node_get_saved(c, n, 1, &mt)) ||
        (st = ks_node_get_saved(c, n, 2, &it)))
        return st;
    if (n->i[4] && (st = ks_node_get_saved(c, n, 3, &wt))) return st;
    if ((st = ks_contiguous(c, gout[0], &gt))) return st;
    bn_geom g = {n->i[1], n->i[2], n->i[3]};
    bool training = n->i[0];
    const float *x = ks_tensor_data(xt), *mean = ks_tensor_data(mt), *inv = ks_tensor_data(it);
    const float *gy = ks_tensor_data(gt);
    float *dx = NULL, *dw = NULL, *db = NULL;
    if (n->needs_grad[0] && !(st = ks_tensor_empty(c, KS_FLOAT32, n->in_ndim[0], n->in_size[0], &gin[0]))) dx = ks_tensor_data(gin[0]);
    if (!st && n->needs_grad[1] && !(st = new_vec(c, g.C, &gin[1]))) dw = ks_tensor_data(gin[1]);
    if (!st && n->needs_grad[2] && !(st = new_vec(c, g.C, &gin[2]))) db = ks_tensor_data(gin[2]);
    double M = (double)(g.N * g.S);
    for (int64_t ch = 0; !st && ch < g.C; ch++) {
        double sg = 0, sgx = 0;
        for (int64_t i = 0; i < g.N; i++) {
            const float *xr = chan(x, &g, i, ch), *gr = chan(gy, &g, i, ch);
            for (int64_t s = 0; s < g.S; s++) {
                sg += gr[s];
                sgx += gr[s] * ((xr[s] - mean[ch]) * inv[ch]);
            }
        }
        if (dw) dw[ch] = (float)sgx;
        if (db) db[ch] = (float)sg;
        if (!dx) continue;
        float scale = (wt ? vec_at(wt, ch) : 1.0f) * inv[ch];
        float mg = training ? (float)(sg / M) : 0.0f, mgx = training ? (float)(sgx / M) : 0.0f;
        for (int64_t i = 0; i < g.N; i++) {
            const float *xr = chan(x, &g, i, ch), *gr = chan(gy, &g, i, ch);
            float *dr = dx + (i * g.C + ch) * g.S;
            for (int64_t s = 0; s < g.S; s++) {
                float xh = (xr[s] - mean[ch]) * inv[ch];
                dr[s] = scale * (gr[s] - mg - xh * mgx);
            }
        }
    }
    ks_tensor_release(gt);
    return st;
}

static const ks_op_def op_bn = {"NativeBatchNormBackward", bn_backward};

static ks_status bn_check(ks_ctx *c, const ks_tensor *x, ks_tensor *const *vecs, bn_geom *g)
{
    char a[160], b[160];
    static const char *names[] = {"running_mean", "running_var", "weight", "bias"};
    if (x->dtype != KS_FLOAT32) return ks_error(c, KS_ETYPE, "batch_norm: expected a float32 input, got %s", ks_dtype_name(x->dtype));
    if (x->ndim < 2)
        return ks_error(c, KS_ESHAPE, "batch_norm: expected an input of at least 2 dims [N, C, ...], got %s", ks_shape_str(x, a, sizeof a));
    g->N = x->size[0];
    g->C = x->size[1];
    g->S = 1;
    for (int d = 2; d < x->ndim; d++) g->S *= x->size[d];
    for (int k = 0; k < 4; k++) {
        const ks_tensor *v = vecs[k];
        if (v && (v->dtype != KS_FLOAT32 || v->ndim != 1 || v->size[0] != g->C))
            return ks_error(c, KS_ESHAPE, "batch_norm: %s of shape %s does not match input %s (expected float32 [%lld])",
                            names[k], ks_shape_str(v, b, sizeof b), ks_shape_str(x, a, sizeof a), (long long)g->C);
    }
    return KS_OK;
}

/* running stats update (training, when given): r = (1 - m) r + m * batch (unbiased var) */
static void bn_update_running(ks_tensor *rm, ks_tensor *rv, const double *mean, const double *var, const bn_geom *g,
                              double momentum)
{
    double M = (double)(g->N * g->S);
    for (int64_t ch = 0; ch < g->C; ch++) {
        if (rm) {
            float *p = (float *)ks_tensor_data(rm) + ch * rm->stride[0];
            *p = (float)((1 - momentum) * *p + momentum * mean[ch]);
        }
        if (rv) {
            float *p = (float *)ks_tensor_data(rv) + ch * rv->stride[0];
            double unbiased = M > 1 ? var[ch] * M / (M - 1) : var[ch];
            *p = (float)((1 - momentum) * *p + momentum * unbiased);
        }
    }
    if (rm) ks_tensor_bump_version(rm);
    if (rv) ks_tensor_bump_version(rv);
}


ks_status ks_nn_batch_norm(ks_ctx *c, ks_tensor *input, ks_tensor **out, ks_tensor *running_mean,
                           ks_tensor *running_var, ks_tensor *weight, ks_tensor *bias, bool training,
                           double momentum, double eps)
{
    bn_geom g = {0, 0, 0};
    ks_tensor *vecs[4] = {running_mean, running_var, weight, bias};
    ks_status st = bn_check(c, input, vecs, &g);
    if (st) return st;
    if (!training && (!running_mean || !running_var))
        return ks_error(c, KS_EINVAL, "batch_norm: running_mean and running_var are required in eval mode");
    if (training && g.N * g.S <= 1)
        return ks_error(c, KS_ESHAPE, "batch_norm: expected more than 1 value per channel when training (input %lld x %lld)",
                        (long long)g.N, (long long)g.S);
    ks_tensor *x = NULL, *y = NULL, *mt = NULL, *it = NULL;
    double *stats = NULL;
    if ((st = ks_contiguous(c, input, &x)) || (st = ks_tensor_empty(c, KS_FLOAT32, x->ndim, x->size, &y)) ||
        (st = new_vec(c, g.C, &mt)) || (st = new_vec(c, g.C, &it)))
        goto done;
    stats = ks_mem_alloc(c, (size_t)(2 * g.C) * sizeof(double));
    if (!stats) { st = KS_ENOMEM; goto done; }
    const float *xp = ks_tensor_data(x);
    float *mean = ks_tensor_data(mt), *inv = ks_tensor_data(it), *yp = ks_tensor_data(y);
    for (int64_t ch = 0; ch < g.C; ch++) {
        double m, v;
        if (training) { /* two passes in double */
            double s = 0, ss = 0, M = (double)(g.N * g.S);
            for (int64_t i = 0; i < g.N; i++) {
                const float *xr = chan(xp, &g, i, ch);
                for (int64_t k = 0; k < g.S; k++) s += xr[k];
            }
            m = s / M;
            for (int64_t i = 0; i < g.N; i++) {
                const float *xr = chan(xp, &g, i, ch);
                for (int64_t k = 0; k < g.S; k++) ss += (xr[k] - m) * (xr[k] - m);
            }
            v = ss / M;
        } else {
            m = vec_at(running_mean, ch);
            v = vec_at(running_var, ch);
        }
        stats[ch] = m;
        stats[g.C + ch] = v;
        mean[ch] = (float)m;
        inv[ch] = (float)(1.0 / sqrt(v + eps));
        float w = weight ? vec_at(weight, ch) : 1.0f, b = bias ? vec_at(bias, ch) : 0.0f;
        for (int64_t i = 0; i < g.N; i++) {
            const float *xr = chan(xp, &g, i, ch);
            float *yr = yp + (i * g.C + ch) * g.S;
            for (int64_t k = 0; k < g.S; k++) yr[k] = (xr[k] - mean[ch]) * inv[ch] * w + b;
        }
    }
    if (training) bn_update_running(running_mean, running_var, stats, stats + g.C, &g, momentum);
    ks_tensor *ins[3] = {input, weight, bias};
    ks_tensor *saves[4] = {x, mt, it, weight};
    ks_node *n;
    if ((st = ks_ag_record(c, &op_bn, 3, ins, 4, saves, y, &n))) goto done;
    if (n) { n->i[0] = training; n->i[1] = g.N; n->i[2] = g.C; n->i[3] = g.S; n->i[4] = weight != NULL; }
    *out = y;
    y = NULL;
done:
    if (stats) ks_mem_free(c, stats, (size_t)(2 * g.C) * sizeof(double));
    ks_tensor_release(x);
    ks_tensor_release(y);
    ks_tensor_release(mt);
    ks_tensor_release(it);
    return st;
}

/* ------------------------------------------------------------ layer norm */
/* input seen as [R rows, D] with D = product of the normalised shape.
 * saved: 0 input, 1 mean [R], 2 invstd [R], 3 weight (optional) */
static ks_status ln_backward(ks_ctx *c, ks_node *n, ks_tensor *const *gout, ks_tensor **gin)
{
    ks_tensor *xt, *mt, *it, *wt = NULL, *gt;
    ks_status st;
    if ((st = ks_node_get_saved(c, n, 0, &xt)) || (st = ks_node_get_saved(c, n, 1, &mt)) ||
        (st = ks_node_get_saved(c, n, 2, &it)))
        return st;
    if (n->i[2] && (st = ks_node_get_saved(c, n, 3, &wt))) return st;
    if ((st = ks_contiguous(c, gout[0], &gt))) return st;
    int64_t R = n->i[0], D = n->i[1];
    const float *x = ks_tensor_data(xt), *mean = ks_tensor_data(mt), *inv = ks_tensor_data(it);
    const float *gy = ks_tensor_data(gt), *w = wt ? ks_tensor_data(wt) : NULL;
    float *dx = NULL, *dw = NULL, *db = NULL;
    if (n->needs_grad[0] && !(st = ks_tensor_empty(c, KS_FLOAT32, n->in_ndim[0], n->in_size[0], &gin[0]))) dx = ks_tensor_data(gin[0]);
    if (!st && n->needs_grad[1] && !(st = ks_tensor_empty(c, KS_FLOAT32, n->in_ndim[1], n->in_size[1], &gin[1]))) dw = ks_tensor_data(gin[1]);
    if (!st && n->needs_grad[2] && !(st = ks_tensor_empty(c, KS_FLOAT32, n->in_ndim[2], n->in_size[2], &gin[2]))) db = ks_tensor_data(gin[2]);
    if (!st && dw) memset(dw, 0, (size_t)D * sizeof(float));
    if (!st && db) memset(db, 0, (size_t)D * sizeof(float));
    for (int64_t r = 0; !st && r < R; r++) {
        const float *xr = x + r * D, *gr = gy + r * D;
        double s1 = 0, s2 = 0;
        for (int64_t k = 0; k < D; k++) {
            float xh = (xr[k] - mean[r]) * inv[r], gx = gr[k] * (w ? w[k] : 1.0f);
            s1 += gx;
            s2 += gx * xh;
            if (dw) dw[k] += gr[k] * xh;
            if (db) db[k] += gr[k];
        }
        if (!dx) continue;
        float m1 = (float)(s1 / D), m2 = (float)(s2 / D);
        for (int64_t k = 0; k < D; k++) {
            float xh = (xr[k] - mean[r]) * inv[r], gx = gr[k] * (w ? w[k] : 1.0f);
            dx[r * D + k] = inv[r] * (gx - m1 - xh * m2);
        }
    }
    ks_tensor_release(gt);
    return st;
}

static const ks_op_def op_ln = {"NativeLayerNormBackward", ln_backward};

ks_status ks_nn_layer_norm(ks_ctx *c, ks_tensor *input, ks_tensor **out, int nnorm, const int64_t *normalized_shape,
                           ks_tensor *weight, ks_tensor *bias, double eps)
{
    char a[160], b[160];
    if (input->dtype != KS_FLOAT32) return ks_error(c, KS_ETYPE, "layer_norm: expected a float32 input");
    bool ok = nnorm >= 1 && nnorm <= input->ndim;
    for (int k = 0; ok && k < nnorm; k++) ok = input->size[input->ndim - nnorm + k] == normalized_shape[k];
    if (!ok)
        return ks_error(c, KS_ESHAPE, "layer_norm: normalized_shape %s does not match the trailing dims of input %s",
                        ks_dims_str(nnorm, normalized_shape, a, sizeof a), ks_shape_str(input, b, sizeof b));
    ks_tensor *affine[2] = {weight, bias};
    for (int k = 0; k < 2; k++) {
        ks_tensor *v = affine[k];
        bool same = v && v->dtype == KS_FLOAT32 && v->ndim == nnorm;
        for (int d = 0; same && d < nnorm; d++) same = v->size[d] == normalized_shape[d];
        if (v && !same)
            return ks_error(c, KS_ESHAPE, "layer_norm: %s of shape %s must have the normalized shape %s",
                            k ? "bias" : "weight", ks_shape_str(v, a, sizeof a), ks_dims_str(nnorm, normalized_shape, b, sizeof b));
    }
    int64_t D = 1;
    for (int k = 0; k < nnorm; k++) D *= normalized_shape[k];
    int64_t R = D ? input->numel / D : 0;
    ks_tensor *x = NULL, *w = NULL, *bb = NULL, *y = NULL, *mt = NULL, *it = NULL;
    ks_status st;
    if ((st = ks_contiguous(c, input, &x)) || (weight && (st = ks_contiguous(c, weight, &w))) ||
        (bias && (st = ks_contiguous(c, bias, &bb))) || (st = ks_tensor_empty(c, KS_FLOAT32, x->ndim, x->size, &y)) ||
        (st = new_vec(c, R, &mt)) || (st = new_vec(c, R, &it)))
        goto done;
    const float *xp = ks_tensor_data(x), *wp = w ? ks_tensor_data(w) : NULL, *bp = bb ? ks_tensor_data(bb) : NULL;
    float *yp = ks_tensor_data(y), *mean = ks_tensor_data(mt), *inv = ks_tensor_data(it);
    for (int64_t r = 0; r < R; r++) {
        const float *xr = xp + r * D;
        double s = 0, ss = 0;
        for (int64_t k = 0; k < D; k++) s += xr[k];
        double m = s / D;
        for (int64_t k = 0; k < D; k++) ss += (xr[k] - m) * (xr[k] - m);
        mean[r] = (float)m;
        inv[r] = (float)(1.0 / sqrt(ss / D + eps));
        for (int64_t k = 0; k < D; k++)
            yp[r * D + k] = (xr[k] - mean[r]) * inv[r] * (wp ? wp[k] : 1.0f) + (bp ? bp[k] : 0.0f);
    }
    ks_tensor *ins[3] = {input, weight, bias};
    ks_tensor *saves[4] = {x, mt, it, w};
    ks_node *n;
    if ((st = ks_ag_record(c, &op_ln, 3, ins, 4, saves, y, &n))) goto done;
    if (n) { n->i[0] = R; n->i[1] = D; n->i[2] = w != NULL; }
    *out = y;
    y = NULL;
done:
    ks_tensor_release(x);
    ks_tensor_release(w);
    ks_tensor_release(bb);
    ks_tensor_release(y);
    ks_tensor_release(mt);
    ks_tensor_release(it);
    return st;
}
