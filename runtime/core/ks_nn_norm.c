/* ks_nn_norm.c: batch normalisation and layer normalisation, forward and
 * backward. Batch norm runs over whole channels split across the pool, its
 * statistics accumulated in float lanes folded into double per block (see
 * the plane sums below); layer norm accumulates in double. In training mode
 * batch norm normalises with the biased batch variance and updates the
 * running variance with the unbiased one (as PyTorch); in eval mode it uses
 * the running statistics. Backward (xh = normalised input, g = dL/dy):
 *   training:  dx = gamma*invstd * (g - mean(g) - xh * mean(g*xh))
 *   eval:      dx = gamma*invstd * g
 *   dgamma = sum(g*xh), dbeta = sum(g)
 * Under create_graph the same formulas run as recording ops (the training
 * statistics recomputed from x, so their dependence on x is differentiated):
 * both norms support double backward. */
#include "ks_grad_ops.h"
#include "ks_grad_views.h"
#include "ks_nn.h"
#include "ks_threads.h"

/* -O2's "very cheap" vectoriser cost model leaves the element-wise passes scalar */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("vect-cost-model=dynamic")
#endif

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

/* ---- plane sums: the statistics' inner loops.
 * A single double accumulator is a serial dependency chain the compiler may
 * not reorder (no -ffast-math), so each plane accumulates in BN_LANES
 * independent float partial sums (vectorised) over blocks of at most
 * BN_BLOCK elements (bounding the float error) and folds each block's lanes
 * into double in lane order. The order depends on sizes only, and channels
 * are split across threads whole: results are bit-identical for any thread
 * count. */
#define BN_LANES 16
#define BN_BLOCK 1024
#define BN_GRAIN 32768 /* elements per parallel chunk (channels are whole) */

/* 16 float lanes as four 4-wide vectors held in registers (an array of
 * accumulators is kept in memory by the vectoriser, a store-forwarding
 * chain per step); lane 4q + l sums elements 16i + 4q + l of the block. */
typedef float bn_v4 __attribute__((vector_size(16)));
typedef struct {
    bn_v4 q[4];
} bn_lanes;

static inline bn_v4 ld4(const float *p)
{
    bn_v4 v;
    memcpy(&v, p, sizeof v);
    return v;
}

/* the lanes, then the tail elements t[0..nt) (nt < 16, added to lanes 0..nt-1),
 * summed in lane order into double */
static double fold(const bn_lanes *a, const float *t, int64_t nt)
{
    float acc[BN_LANES];
    memcpy(acc, a->q, sizeof acc);
    for (int64_t l = 0; l < nt; l++) acc[l] += t[l];
    double s = 0;
    for (int l = 0; l < BN_LANES; l++) s += acc[l];
    return s;
}

/* sum of x[0..n) */
static double plane_sum(const float *restrict x, int64_t n)
{
    double s = 0;
    for (int64_t b = 0; b < n; b += BN_BLOCK) {
        int64_t e = n - b < BN_BLOCK ? n - b : BN_BLOCK, k = 0;
        bn_lanes a = {{{0}}};
        const float *xb = x + b;
        for (; k + BN_LANES <= e; k += BN_LANES) {
            a.q[0] += ld4(xb + k);
            a.q[1] += ld4(xb + k + 4);
            a.q[2] += ld4(xb + k + 8);
            a.q[3] += ld4(xb + k + 12);
        }
        s += fold(&a, xb + k, e - k);
    }
    return s;
}

/* d[0] += sum(x - m), d[1] += sum((x - m)^2) over x[0..n) */
static void plane_centred(const float *restrict x, int64_t n, float m, double *d)
{
    bn_v4 mv = {m, m, m, m};
    for (int64_t b = 0; b < n; b += BN_BLOCK) {
        int64_t e = n - b < BN_BLOCK ? n - b : BN_BLOCK, k = 0;
        bn_lanes a1 = {{{0}}}, a2 = {{{0}}};
        const float *xb = x + b;
        for (; k + BN_LANES <= e; k += BN_LANES) {
            bn_v4 v0 = ld4(xb + k) - mv, v1 = ld4(xb + k + 4) - mv, v2 = ld4(xb + k + 8) - mv, v3 = ld4(xb + k + 12) - mv;
            a1.q[0] += v0; a1.q[1] += v1; a1.q[2] += v2; a1.q[3] += v3;
            a2.q[0] += v0 * v0; a2.q[1] += v1 * v1; a2.q[2] += v2 * v2; a2.q[3] += v3 * v3;
        }
        float t1[BN_LANES], t2[BN_LANES];
        for (int64_t l = 0; k + l < e; l++) {
            t1[l] = xb[k + l] - m;
            t2[l] = t1[l] * t1[l];
        }
        d[0] += fold(&a1, t1, e - k);
        d[1] += fold(&a2, t2, e - k);
    }
}

/* d[0] += sum(g), d[1] += sum(g * xh) with xh = (x - m) * inv, over [0..n) */
static void plane_grad_sums(const float *restrict x, const float *restrict g, int64_t n, float m, float inv, double *d)
{
    bn_v4 mv = {m, m, m, m}, iv = {inv, inv, inv, inv};
    for (int64_t b = 0; b < n; b += BN_BLOCK) {
        int64_t e = n - b < BN_BLOCK ? n - b : BN_BLOCK, k = 0;
        bn_lanes a1 = {{{0}}}, a2 = {{{0}}};
        const float *xb = x + b, *gb = g + b;
        for (; k + BN_LANES <= e; k += BN_LANES) {
            bn_v4 g0 = ld4(gb + k), g1 = ld4(gb + k + 4), g2 = ld4(gb + k + 8), g3 = ld4(gb + k + 12);
            a1.q[0] += g0; a1.q[1] += g1; a1.q[2] += g2; a1.q[3] += g3;
            a2.q[0] += g0 * ((ld4(xb + k) - mv) * iv);
            a2.q[1] += g1 * ((ld4(xb + k + 4) - mv) * iv);
            a2.q[2] += g2 * ((ld4(xb + k + 8) - mv) * iv);
            a2.q[3] += g3 * ((ld4(xb + k + 12) - mv) * iv);
        }
        float t2[BN_LANES];
        for (int64_t l = 0; k + l < e; l++) t2[l] = gb[k + l] * ((xb[k + l] - m) * inv);
        d[0] += fold(&a1, gb + k, e - k);
        d[1] += fold(&a2, t2, e - k);
    }
}

/* ---- channel sums: planes of at least BN_LANES elements go through the
 * lane sums above; shorter ones ([N, C] inputs, S = 1) accumulate directly
 * in double, where folding lanes per plane would cost more than it saves. */
static double channel_sum(const float *x, const bn_geom *g, int64_t ch)
{
    double s = 0;
    for (int64_t i = 0; i < g->N; i++) {
        const float *xr = chan(x, g, i, ch);
        if (g->S >= BN_LANES) s += plane_sum(xr, g->S);
        else
            for (int64_t k = 0; k < g->S; k++) s += xr[k];
    }
    return s;
}

/* d[0] = sum(x - m), d[1] = sum((x - m)^2) over channel ch */
static void channel_centred(const float *x, const bn_geom *g, int64_t ch, float m, double *d)
{
    double s1 = 0, s2 = 0;
    for (int64_t i = 0; i < g->N; i++) {
        const float *xr = chan(x, g, i, ch);
        if (g->S >= BN_LANES) {
            double p[2] = {0, 0};
            plane_centred(xr, g->S, m, p);
            s1 += p[0];
            s2 += p[1];
        } else
            for (int64_t k = 0; k < g->S; k++) {
                float v = xr[k] - m;
                s1 += v;
                s2 += (double)v * v;
            }
    }
    d[0] = s1;
    d[1] = s2;
}

/* d[0] = sum(g), d[1] = sum(g * xh) over channel ch */
static void channel_grad_sums(const float *x, const float *gy, const bn_geom *g, int64_t ch, float m, float inv, double *d)
{
    double s1 = 0, s2 = 0;
    for (int64_t i = 0; i < g->N; i++) {
        const float *xr = chan(x, g, i, ch), *gr = chan(gy, g, i, ch);
        if (g->S >= BN_LANES) {
            double p[2] = {0, 0};
            plane_grad_sums(xr, gr, g->S, m, inv, p);
            s1 += p[0];
            s2 += p[1];
        } else
            for (int64_t k = 0; k < g->S; k++) {
                s1 += gr[k];
                s2 += gr[k] * ((xr[k] - m) * inv);
            }
    }
    d[0] = s1;
    d[1] = s2;
}

/* ---- backward.
 * saved: 0 input, 1 mean [C], 2 invstd [C], 3 weight (optional). i[0] training, i[1..3] geometry, i[4] has weight */
struct bn_bwd_job {
    bn_geom g;
    bool training;
    const float *x, *mean, *inv, *gy;
    const ks_tensor *w;
    float *dx, *dw, *db;
};

static ks_status bn_backward_chunk(void *arg, int64_t c0, int64_t c1)
{
    const struct bn_bwd_job *j = arg;
    const bn_geom *g = &j->g;
    double M = (double)(g->N * g->S);
    for (int64_t ch = c0; ch < c1; ch++) {
        float m = j->mean[ch], inv = j->inv[ch];
        double d[2]; /* sum(g), sum(g * xh) */
        channel_grad_sums(j->x, j->gy, g, ch, m, inv, d);
        if (j->dw) j->dw[ch] = (float)d[1];
        if (j->db) j->db[ch] = (float)d[0];
        if (!j->dx) continue;
        float scale = (j->w ? vec_at(j->w, ch) : 1.0f) * inv;
        float mg = j->training ? (float)(d[0] / M) : 0.0f, mgx = j->training ? (float)(d[1] / M) : 0.0f;
        for (int64_t i = 0; i < g->N; i++) {
            const float *restrict xr = chan(j->x, g, i, ch), *restrict gr = chan(j->gy, g, i, ch);
            float *restrict dr = j->dx + (i * g->C + ch) * g->S;
            for (int64_t s = 0; s < g->S; s++) {
                float xh = (xr[s] - m) * inv;
                dr[s] = scale * (gr[s] - mg - xh * mgx);
            }
        }
    }
    return KS_OK;
}

static int64_t bn_grain(const bn_geom *g)
{
    int64_t per = g->N * g->S, k = per > 0 ? BN_GRAIN / per : BN_GRAIN;
    return k < 1 ? 1 : k;
}

/* ---- create_graph: the backward as recording ops.
 * t[] holds the temporaries (released by the caller); dims/nd are the
 * reduced dims of x (batch norm: all but channels; layer norm: the
 * normalised trailing dims). */
enum { NT_X, NT_W, NT_WB, NT_MEAN, NT_XC, NT_SQ, NT_VAR, NT_VE, NT_INV, NT_XH, NT_GX, NT_M1, NT_GXH, NT_M2, NT_T1,
       NT_T2, NT_T3, NT_GXHAT, NT_N };

static ks_status bin_r(ks_ctx *c, ks_binop op, ks_tensor *a, ks_tensor *b, ks_tensor **o)
{
    return ks_ag_binary(c, op, ks_op_tensor(a), ks_op_tensor(b), NULL, o);
}

static ks_status mean_r(ks_ctx *c, ks_tensor *a, int nd, const int *dims, ks_tensor **o)
{
    return ks_ag_reduce(c, KS_AG_MEAN, a, nd, dims, true, o);
}

/* xh = (x - mean) * invstd, invstd = rsqrt(biased var + eps), all from x (recorded) */
static ks_status stats_recorded(ks_ctx *c, ks_tensor **t, int nd, const int *dims, double eps)
{
    ks_status st;
    if ((st = mean_r(c, t[NT_X], nd, dims, &t[NT_MEAN])) || (st = bin_r(c, KS_OP_SUB, t[NT_X], t[NT_MEAN], &t[NT_XC])) ||
        (st = bin_r(c, KS_OP_MUL, t[NT_XC], t[NT_XC], &t[NT_SQ])) || (st = mean_r(c, t[NT_SQ], nd, dims, &t[NT_VAR])) ||
        (st = ks_ag_binary(c, KS_OP_ADD, ks_op_tensor(t[NT_VAR]), ks_op_scalar(ks_scalar_float(eps)), NULL, &t[NT_VE])) ||
        (st = ks_ag_unary(c, KS_OP_RSQRT, t[NT_VE], &t[NT_INV])))
        return st;
    return bin_r(c, KS_OP_MUL, t[NT_XC], t[NT_INV], &t[NT_XH]);
}

/* dx = invstd * (gx - mean(gx) - xh * mean(gx * xh)), means over dims (recorded) */
static ks_status dx_recorded(ks_ctx *c, ks_tensor **t, int nd, const int *dims, ks_tensor **dx)
{
    ks_status st;
    if ((st = mean_r(c, t[NT_GX], nd, dims, &t[NT_M1])) || (st = bin_r(c, KS_OP_MUL, t[NT_GX], t[NT_XH], &t[NT_GXH])) ||
        (st = mean_r(c, t[NT_GXH], nd, dims, &t[NT_M2])) || (st = bin_r(c, KS_OP_SUB, t[NT_GX], t[NT_M1], &t[NT_T1])) ||
        (st = bin_r(c, KS_OP_MUL, t[NT_XH], t[NT_M2], &t[NT_T2])) || (st = bin_r(c, KS_OP_SUB, t[NT_T1], t[NT_T2], &t[NT_T3])))
        return st;
    return bin_r(c, KS_OP_MUL, t[NT_INV], t[NT_T3], dx);
}

/* to the weight's shape: batch norm sums over dims (all but channels), layer norm over the leading dims (nd 0) */
static ks_status sum_to_weight(ks_ctx *c, ks_node *n, int k, ks_tensor *v, int nd, const int *dims, ks_tensor **o)
{
    if (nd) return ks_ag_reduce(c, KS_AG_SUM, v, nd, dims, false, o);
    return ks_ag_sum_to_shape(c, v, n->in_ndim[k], n->in_size[k], o);
}

/* gx = g * weight (broadcast as t[NT_WB]) or g; dweight = sum(g * xh), dbias = sum(g) */
static ks_status affine_grads_recorded(ks_ctx *c, ks_node *n, ks_tensor **t, ks_tensor *g, int nd, const int *dims,
                                       ks_tensor **gin)
{
    ks_status st = t[NT_WB] ? bin_r(c, KS_OP_MUL, g, t[NT_WB], &t[NT_GX]) : KS_OK;
    if (!t[NT_WB]) t[NT_GX] = ks_tensor_retain(g);
    if (!st && n->needs_grad[1] && !(st = bin_r(c, KS_OP_MUL, g, t[NT_XH], &t[NT_GXHAT])))
        st = sum_to_weight(c, n, 1, t[NT_GXHAT], nd, dims, &gin[1]);
    if (!st && n->needs_grad[2]) st = sum_to_weight(c, n, 2, g, nd, dims, &gin[2]);
    return st;
}

/* batch norm: saved 0 x, 1 mean, 2 invstd, 3 weight; f[0] eps */
static ks_status bn_backward_recorded(ks_ctx *c, ks_node *n, ks_tensor *g, ks_tensor **gin)
{
    ks_tensor *t[NT_N] = {0};
    int nd = 0, dims[KS_MAX_DIMS];
    int64_t bshape[KS_MAX_DIMS];
    ks_status st = ks_ag_saved_input(c, n, 0, 0, &t[NT_X]);
    if (st) return st;
    for (int d = 0; d < t[NT_X]->ndim; d++) {
        bshape[d] = d == 1 ? n->i[2] : 1;
        if (d != 1) dims[nd++] = d;
    }
    if (n->i[4] && !(st = ks_ag_saved_input(c, n, 3, 1, &t[NT_W])))
        st = ks_ag_reshape(c, t[NT_W], t[NT_X]->ndim, bshape, &t[NT_WB]);
    if (st) goto done;
    if (n->i[0]) st = stats_recorded(c, t, nd, dims, n->f[0]);
    else { /* eval: the running statistics are constants */
        ks_tensor *m, *inv;
        if (!(st = ks_node_get_saved(c, n, 1, &m)) && !(st = ks_node_get_saved(c, n, 2, &inv)) &&
            !(st = ks_reshape(c, m, t[NT_X]->ndim, bshape, &t[NT_MEAN])) &&
            !(st = ks_reshape(c, inv, t[NT_X]->ndim, bshape, &t[NT_INV])) &&
            !(st = bin_r(c, KS_OP_SUB, t[NT_X], t[NT_MEAN], &t[NT_XC])))
            st = bin_r(c, KS_OP_MUL, t[NT_XC], t[NT_INV], &t[NT_XH]);
    }
    if (!st) st = affine_grads_recorded(c, n, t, g, nd, dims, gin);
    if (!st && n->needs_grad[0])
        st = n->i[0] ? dx_recorded(c, t, nd, dims, &gin[0]) : bin_r(c, KS_OP_MUL, t[NT_GX], t[NT_INV], &gin[0]);
done:
    for (int k = 0; k < NT_N; k++) ks_tensor_release(t[k]);
    return st;
}

static ks_status bn_backward(ks_ctx *c, ks_node *n, ks_tensor *const *gout, ks_tensor **gin)
{
    if (c->grad_enabled) return bn_backward_recorded(c, n, gout[0], gin); /* create_graph */
    ks_tensor *xt, *mt, *it, *wt = NULL, *gt;
    ks_status st;
    if ((st = ks_node_get_saved(c, n, 0, &xt)) || (st = ks_node_get_saved(c, n, 1, &mt)) ||
        (st = ks_node_get_saved(c, n, 2, &it)))
        return st;
    if (n->i[4] && (st = ks_node_get_saved(c, n, 3, &wt))) return st;
    if ((st = ks_contiguous(c, gout[0], &gt))) return st;
    struct bn_bwd_job j = {.g = {n->i[1], n->i[2], n->i[3]}, .training = n->i[0], .x = ks_tensor_data(xt),
                           .mean = ks_tensor_data(mt), .inv = ks_tensor_data(it), .gy = ks_tensor_data(gt), .w = wt};
    if (n->needs_grad[0] && !(st = ks_tensor_empty(c, KS_FLOAT32, n->in_ndim[0], n->in_size[0], &gin[0]))) j.dx = ks_tensor_data(gin[0]);
    if (!st && n->needs_grad[1] && !(st = new_vec(c, j.g.C, &gin[1]))) j.dw = ks_tensor_data(gin[1]);
    if (!st && n->needs_grad[2] && !(st = new_vec(c, j.g.C, &gin[2]))) j.db = ks_tensor_data(gin[2]);
    if (!st && j.g.C) st = ks_parallel_for(c, j.g.C, bn_grain(&j.g), bn_backward_chunk, &j);
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

/* ---- forward, per chunk of whole channels: statistics (training: two passes,
 * the mean, then the sums of centred values and squares about the float mean),
 * then the fused normalise + affine pass. */
struct bn_fwd_job {
    bn_geom g;
    bool training;
    double eps;
    const float *x;
    const ks_tensor *rm, *rv, *w, *b;
    float *y, *mean, *inv;
    double *stats; /* [2C]: mean, biased var */
};

static void bn_channel_stats(const struct bn_fwd_job *j, int64_t ch, double *m, double *v)
{
    const bn_geom *g = &j->g;
    double M = (double)(g->N * g->S), d[2];
    float mf = (float)(channel_sum(j->x, g, ch) / M);
    channel_centred(j->x, g, ch, mf, d);
    double dm = d[0] / M; /* the float mean's offset from the exact one */
    *m = mf + dm;
    *v = d[1] / M - dm * dm;
    if (*v < 0) *v = 0;
}

static ks_status bn_forward_chunk(void *arg, int64_t c0, int64_t c1)
{
    const struct bn_fwd_job *j = arg;
    const bn_geom *g = &j->g;
    for (int64_t ch = c0; ch < c1; ch++) {
        double m, v;
        if (j->training) bn_channel_stats(j, ch, &m, &v);
        else {
            m = vec_at(j->rm, ch);
            v = vec_at(j->rv, ch);
        }
        j->stats[ch] = m;
        j->stats[g->C + ch] = v;
        float mf = (float)m, inv = (float)(1.0 / sqrt(v + j->eps));
        j->mean[ch] = mf;
        j->inv[ch] = inv;
        float w = j->w ? vec_at(j->w, ch) : 1.0f, b = j->b ? vec_at(j->b, ch) : 0.0f;
        for (int64_t i = 0; i < g->N; i++) {
            const float *restrict xr = chan(j->x, g, i, ch);
            float *restrict yr = j->y + (i * g->C + ch) * g->S;
            for (int64_t k = 0; k < g->S; k++) yr[k] = (xr[k] - mf) * inv * w + b;
        }
    }
    return KS_OK;
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
    struct bn_fwd_job j = {.g = g, .training = training, .eps = eps, .x = ks_tensor_data(x), .rm = running_mean,
                           .rv = running_var, .w = weight, .b = bias, .y = ks_tensor_data(y),
                           .mean = ks_tensor_data(mt), .inv = ks_tensor_data(it), .stats = stats};
    if (g.C && (st = ks_parallel_for(c, g.C, bn_grain(&g), bn_forward_chunk, &j))) goto done;
    if (training) bn_update_running(running_mean, running_var, stats, stats + g.C, &g, momentum);
    ks_tensor *ins[3] = {input, weight, bias};
    ks_tensor *saves[4] = {x, mt, it, weight};
    ks_node *n;
    if ((st = ks_ag_record(c, &op_bn, 3, ins, 4, saves, y, &n))) goto done;
    if (n) {
        n->i[0] = training; n->i[1] = g.N; n->i[2] = g.C; n->i[3] = g.S; n->i[4] = weight != NULL;
        n->f[0] = eps;
        n->double_backward = true; /* bn_backward_recorded */
    }
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
/* layer norm: saved 0 x, 1 mean, 2 invstd, 3 weight; i[3] the number of normalised dims, f[0] eps */
static ks_status ln_backward_recorded(ks_ctx *c, ks_node *n, ks_tensor *g, ks_tensor **gin)
{
    ks_tensor *t[NT_N] = {0};
    int nd = (int)n->i[3], dims[KS_MAX_DIMS];
    ks_status st = ks_ag_saved_input(c, n, 0, 0, &t[NT_X]);
    if (st) return st;
    for (int k = 0; k < nd; k++) dims[k] = t[NT_X]->ndim - nd + k;
    if (n->i[2] && !(st = ks_ag_saved_input(c, n, 3, 1, &t[NT_W]))) t[NT_WB] = ks_tensor_retain(t[NT_W]);
    if (!st) st = stats_recorded(c, t, nd, dims, n->f[0]);
    if (!st) st = affine_grads_recorded(c, n, t, g, 0, NULL, gin);
    if (!st && n->needs_grad[0]) st = dx_recorded(c, t, nd, dims, &gin[0]);
    for (int k = 0; k < NT_N; k++) ks_tensor_release(t[k]);
    return st;
}

static ks_status ln_backward(ks_ctx *c, ks_node *n, ks_tensor *const *gout, ks_tensor **gin)
{
    if (c->grad_enabled) return ln_backward_recorded(c, n, gout[0], gin); /* create_graph */
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
    if (input->dtype != KS_FLOAT32)
        return ks_error(c, KS_ETYPE, "layer_norm: expected a float32 input, got %s", ks_dtype_name(input->dtype));
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
    if (n) {
        n->i[0] = R; n->i[1] = D; n->i[2] = w != NULL; n->i[3] = nnorm;
        n->f[0] = eps;
        n->double_backward = true; /* ln_backward_recorded */
    }
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
