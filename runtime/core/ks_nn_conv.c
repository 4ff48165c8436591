/* ks_nn_conv.c: 2-D convolution (stride, padding, dilation, groups) by
 * im2col + one GEMM per block of images and group, and its backward:
 *   forward:  Y_g[Co, L] = W_g[Co, K] @ cols[K, L]           (L = images*Ho*Wo)
 *   backward: dW_g += dY_g @ cols^T;  dcols = W_g^T @ dY_g -> col2im
 * Blocks of images keep the column buffer near COLS_BUDGET bytes (cache
 * sized: one big im2col of the batch is written to and read back from DRAM).
 * A block of one image reads and writes Y / dY in place (its [Co, Ho*Wo]
 * slice is the GEMM's layout), so no gather/scatter copies. Blocks run in
 * parallel on the kshot pool, each whole on one thread (im2col, one
 * single-threaded sgemm, bias or col2im); the weight gradient is one chain
 * over the blocks in order (see "blocks and waves"): results do not depend
 * on the thread count. The forward keeps the columns for the weight
 * gradient when it will be wanted (one group, up to KEEP_MAX floats).
 * Under create_graph the backward is written in recording ops instead
 * (unfold / fold / matmul, see conv_backward_recorded): double backward. */
#include "ks_grad_ops.h"
#include "ks_grad_views.h"
#include "ks_nn.h"
#include "ks_threads.h"
#include "ks_nn_im2col.h"

/* -O2's "very cheap" vectoriser cost model leaves the bias loops scalar */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("vect-cost-model=dynamic")
#endif

#include <cblas.h>
#include <stdbool.h>
#include <stdlib.h>

#include <string.h>

#define COLS_BUDGET ((size_t)1 << 20)
/* columns kept from the forward for the weight gradient: up to 16M floats (64 MB) */
#define KEEP_MAX ((int64_t)16 << 20)

typedef ks_conv_geom conv_geom;

/* node option slot after the geometry: 1 when saved tensor 2 holds the
 * forward's columns [K, N*Ho*Wo] */
#define CONV_KEPT_COLS 19

/* the whole of im2col / col2im for one block, on the calling thread */
static void im2col_block(const conv_geom *g, const float *x, int64_t n0, int64_t nb, int64_t grp, float *cols)
{
    ks_col_job j = {g, x, cols, n0, nb, grp};
    ks_im2col_rows(&j, 0, g->K);
}

static void col2im_block(const conv_geom *g, const float *cols, int64_t n0, int64_t nb, int64_t grp, float *dx)
{
    ks_col_job j = {g, cols, dx, n0, nb, grp};
    ks_col2im_channels(&j, 0, g->Cig);
}

/* images per block so that cols (K x nb*HoWo floats) fits the budget; one
 * image when its Ho*Wo already makes a wide enough GEMM (no copies then) */
static int64_t block_images(const conv_geom *g)
{
    if (g->Ho * g->Wo >= 256) return 1;
    size_t per = (size_t)(g->K * g->Ho * g->Wo) * sizeof(float);
    int64_t nb = per ? (int64_t)(COLS_BUDGET / per) : g->N;
    return nb < 1 ? 1 : nb > g->N ? g->N : nb;
}

/* ---- blocks and waves ----
 * Blocks of images are independent in the forward pass and in the input
 * gradient, so they run in parallel, WAVE blocks at a time (the scratch
 * stays bounded for any batch), each block whole on one thread with a
 * single-threaded GEMM. The weight gradient is one chain of GEMMs
 * accumulating block after block in order, run as one task of each wave.
 * Every block's arithmetic is thus the same whatever the thread count:
 * results are bit-identical for any number of threads (and equal to the
 * former one-thread results). */
#define WAVE 8

typedef struct conv_run {
    const conv_geom *g;
    int64_t nbmax, first; /* images per block; the wave's first block */
    const float *x, *w, *bias, *gy, *kept;
    float *y, *dx, *dw;
    float *scr;   /* per block slot: cols [K, L] (unless kept, forward), then buf [Cog, L] */
    float *chain; /* the weight-gradient task's slot: cols (unless kept), then buf */
    int64_t slot_cols, slot_floats; /* a block slot's column part and its whole size */
} conv_run;

static void block_span(const conv_run *r, int64_t blk, int64_t *n0, int64_t *nb)
{
    *n0 = blk * r->nbmax;
    *nb = r->g->N - *n0 < r->nbmax ? r->g->N - *n0 : r->nbmax;
}

static void forward_block(const conv_run *r, int64_t blk, float *slot)
{
    const conv_geom *g = r->g;
    int64_t n0, nb, HoWo = g->Ho * g->Wo;
    block_span(r, blk, &n0, &nb);
    int64_t L = nb * HoWo;
    float *cols = r->kept ? (float *)r->kept + g->K * n0 * HoWo : slot, *buf = slot + r->slot_cols;
    for (int64_t grp = 0; grp < g->groups; grp++) {
        im2col_block(g, r->x, n0, nb, grp, cols);
        /* one image: write straight into y's [Cog, HoWo] slice */
        float *out = nb == 1 ? r->y + (n0 * g->Co + grp * g->Cog) * HoWo : buf;
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)g->Cog, (int)L, (int)g->K, 1.0f,
                    r->w + grp * g->Cog * g->K, (int)g->K, cols, (int)L, 0.0f, out, (int)L);
        for (int64_t co = 0; co < g->Cog; co++) {
            int64_t oc = grp * g->Cog + co;
            float b = r->bias ? r->bias[oc] : 0.0f;
            for (int64_t i = 0; i < nb; i++) {
                float *dst = r->y + ((n0 + i) * g->Co + oc) * HoWo;
                const float *src = out + co * L + i * HoWo;
                if (dst == src) { if (r->bias) for (int64_t p = 0; p < HoWo; p++) dst[p] += b; }
                else for (int64_t p = 0; p < HoWo; p++) dst[p] = src[p] + b;
            }
        }
    }
}

static ks_status forward_wave(void *arg, int64_t t0, int64_t t1)
{
    const conv_run *r = arg;
    for (int64_t t = t0; t < t1; t++) forward_block(r, r->first + t, r->scr + t * r->slot_floats);
    return KS_OK;
}

/* dY of block (n0, nb) and group grp as [Cog, L]: in place for one image, else gathered into buf */
static const float *block_dy(const conv_geom *g, const float *gy, int64_t n0, int64_t nb, int64_t grp, float *buf)
{
    int64_t HoWo = g->Ho * g->Wo, L = nb * HoWo;
    if (nb == 1) return gy + (n0 * g->Co + grp * g->Cog) * HoWo;
    for (int64_t co = 0; co < g->Cog; co++)
        for (int64_t i = 0; i < nb; i++)
            memcpy(buf + co * L + i * HoWo, gy + ((n0 + i) * g->Co + grp * g->Cog + co) * HoWo,
                   (size_t)HoWo * sizeof(float));
    return buf;
}

static void dx_block(const conv_run *r, int64_t blk, float *slot)
{
    const conv_geom *g = r->g;
    int64_t n0, nb, HoWo = g->Ho * g->Wo;
    block_span(r, blk, &n0, &nb);
    int64_t L = nb * HoWo;
    float *cols = slot, *buf = slot + r->slot_cols;
    for (int64_t grp = 0; grp < g->groups; grp++) {
        const float *dy = block_dy(g, r->gy, n0, nb, grp, buf);
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)g->K, (int)L, (int)g->Cog, 1.0f,
                    r->w + grp * g->Cog * g->K, (int)g->K, dy, (int)L, 0.0f, cols, (int)L);
        col2im_block(g, cols, n0, nb, grp, r->dx);
    }
}

/* dW += dY_b @ cols_b^T over the wave's blocks [first, first + nblk), in order */
static void dw_chain(const conv_run *r, int64_t nblk)
{
    const conv_geom *g = r->g;
    int64_t HoWo = g->Ho * g->Wo;
    float *cols = r->chain, *buf = r->chain + (r->kept ? 0 : g->K * r->nbmax * HoWo);
    for (int64_t blk = r->first; blk < r->first + nblk; blk++) {
        int64_t n0, nb;
        block_span(r, blk, &n0, &nb);
        int64_t L = nb * HoWo;
        for (int64_t grp = 0; grp < g->groups; grp++) {
            const float *dy = block_dy(g, r->gy, n0, nb, grp, buf);
            const float *xc = r->kept ? r->kept + g->K * n0 * HoWo : cols;
            if (!r->kept) im2col_block(g, r->x, n0, nb, grp, cols);
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)g->Cog, (int)g->K, (int)L, 1.0f, dy, (int)L,
                        xc, (int)L, 1.0f, r->dw + grp * g->Cog * g->K, (int)g->K);
        }
    }
}

typedef struct { const conv_run *r; int64_t nblk; } backward_wave_job;

/* task 0: the weight-gradient chain (when wanted); tasks 1..nblk: the input gradient per block */
static ks_status backward_wave(void *arg, int64_t t0, int64_t t1)
{
    const backward_wave_job *j = arg;
    const conv_run *r = j->r;
    for (int64_t t = t0; t < t1; t++) {
        if (t == 0) { if (r->dw) dw_chain(r, j->nblk); }
        else if (r->dx) dx_block(r, r->first + t - 1, r->scr + (t - 1) * r->slot_floats);
    }
    return KS_OK;
}

/* all blocks, WAVE at a time (OpenBLAS is single-threaded: ks_linalg.h) */
static ks_status run_waves(ks_ctx *c, conv_run *r, bool backward)
{
    int64_t nblocks = (r->g->N + r->nbmax - 1) / r->nbmax;
    ks_status st = KS_OK;
    for (r->first = 0; !st && r->first < nblocks; r->first += WAVE) {
        int64_t nblk = nblocks - r->first < WAVE ? nblocks - r->first : WAVE;
        if (backward) {
            backward_wave_job j = {r, nblk};
            st = ks_parallel_for(c, nblk + 1, 1, backward_wave, &j);
        } else
            st = ks_parallel_for(c, nblk, 1, forward_wave, r);
    }
    return st;
}

/* scratch: a slot per block of a wave (when wanted: the forward pass, the
 * input gradient), plus one for the weight-gradient chain; column space
 * only where the kept columns do not serve. A tensor, so it comes from the
 * storage cache; release when done. */
static ks_status wave_scratch(ks_ctx *c, conv_run *r, bool blocks, bool chain, ks_tensor **t)
{
    const conv_geom *g = r->g;
    int64_t L = r->nbmax * g->Ho * g->Wo, nblocks = (g->N + r->nbmax - 1) / r->nbmax;
    int64_t slots = !blocks ? 0 : nblocks < WAVE ? nblocks : WAVE;
    /* the forward pass reads kept columns; the input gradient always builds its own */
    r->slot_cols = r->kept && !r->gy ? 0 : g->K * L;
    r->slot_floats = r->slot_cols + g->Cog * L;
    int64_t n = slots * r->slot_floats + (chain ? (r->kept ? 0 : g->K * L) + g->Cog * L : 0);
    ks_status st = ks_tensor_empty(c, KS_FLOAT32, 1, &n, t);
    if (st) return st;
    r->scr = ks_tensor_data(*t);
    r->chain = chain ? r->scr + slots * r->slot_floats : NULL;
    return KS_OK;
}

/* sum of one plane: 8 float lanes (vectorisable, no serial add chain),
 * combined in double; the order depends only on n */
static double plane_sum(const float *restrict x, int64_t n)
{
    float lane[8] = {0};
    int64_t p = 0;
    for (; p + 8 <= n; p += 8)
        for (int l = 0; l < 8; l++) lane[l] += x[p + l];
    double s = 0;
    for (int l = 0; l < 8; l++) s += lane[l];
    for (; p < n; p++) s += x[p];
    return s;
}

static void bias_grad(const conv_geom *g, const float *gy, float *db)
{
    int64_t HoWo = g->Ho * g->Wo;
    for (int64_t oc = 0; oc < g->Co; oc++) {
        double s = 0;
        for (int64_t i = 0; i < g->N; i++) s += plane_sum(gy + (i * g->Co + oc) * HoWo, HoWo);
        db[oc] = (float)s;
    }
}

/* ---- create_graph: the backward as recording ops (double backward) ----
 * With G groups, cols = unfold(x) [N, G*K, L] is [N, G, K, L], dY [N, G, Cog, L], W [G, Cog, K]:
 *   dx = fold(W^T @ dY)                            (matmul batched over N and G)
 *   dW = dY' @ cols'  with dY' [G, Cog, N*L], cols' [G, N*L, K] (the sum over images inside the GEMM)
 *   db = dY summed over (N, Ho, Wo)
 * unfold and fold are each other's gradient and matmul records, so these
 * gradients differentiate again to any order. The fused kernels above stay
 * the first-order path (no graph, no extra copies). */
enum { CT_G4, CT_W, CT_W3, CT_WT, CT_DCOLS, CT_DCOLS3, CT_X, CT_COLS, CT_COLS4, CT_A, CT_B, CT_B2, CT_G1, CT_G2,
       CT_G3, CT_DW, CT_N };

static ks_status conv_dx_recorded(ks_ctx *c, ks_node *n, const conv_geom *g, ks_tensor **t, ks_tensor **dx)
{
    int64_t ws[3] = {g->groups, g->Cog, g->K}, cs[3] = {g->N, g->groups * g->K, g->Ho * g->Wo};
    int64_t k[2] = {g->kH, g->kW}, d[2] = {g->dh, g->dw}, p[2] = {g->ph, g->pw}, s[2] = {g->sh, g->sw};
    int64_t hw[2] = {g->H, g->W};
    ks_status st;
    if ((st = ks_ag_saved_input(c, n, 1, 1, &t[CT_W])) || (st = ks_ag_reshape(c, t[CT_W], 3, ws, &t[CT_W3])) ||
        (st = ks_ag_transpose(c, t[CT_W3], 1, 2, &t[CT_WT])) || (st = ks_ag_matmul(c, t[CT_WT], t[CT_G4], &t[CT_DCOLS])) ||
        (st = ks_ag_reshape(c, t[CT_DCOLS], 3, cs, &t[CT_DCOLS3])))
        return st;
    return ks_nn_fold(c, t[CT_DCOLS3], dx, hw, k, d, p, s);
}

static ks_status conv_dw_recorded(ks_ctx *c, ks_node *n, const conv_geom *g, ks_tensor **t, ks_tensor **dw)
{
    int64_t L = g->Ho * g->Wo, c4[4] = {g->N, g->groups, g->K, L}, ca[3] = {g->groups, g->N * L, g->K};
    int64_t ga[3] = {g->groups, g->Cog, g->N * L}, wshape[4] = {g->Co, g->Cig, g->kH, g->kW};
    int64_t k[2] = {g->kH, g->kW}, d[2] = {g->dh, g->dw}, p[2] = {g->ph, g->pw}, s[2] = {g->sh, g->sw};
    ks_status st;
    /* cols [N, G, K, L] -> [G, N, L, K] -> [G, N*L, K]; dY [N, G, Cog, L] -> [G, Cog, N, L] -> [G, Cog, N*L] */
    if ((st = ks_ag_saved_input(c, n, 0, 0, &t[CT_X])) || (st = ks_nn_unfold(c, t[CT_X], &t[CT_COLS], k, d, p, s)) ||
        (st = ks_ag_reshape(c, t[CT_COLS], 4, c4, &t[CT_COLS4])) || (st = ks_ag_transpose(c, t[CT_COLS4], 0, 1, &t[CT_A])) ||
        (st = ks_ag_transpose(c, t[CT_A], 2, 3, &t[CT_B])) || (st = ks_ag_reshape(c, t[CT_B], 3, ca, &t[CT_B2])) ||
        (st = ks_ag_transpose(c, t[CT_G4], 0, 1, &t[CT_G1])) || (st = ks_ag_transpose(c, t[CT_G1], 1, 2, &t[CT_G2])) ||
        (st = ks_ag_reshape(c, t[CT_G2], 3, ga, &t[CT_G3])) || (st = ks_ag_matmul(c, t[CT_G3], t[CT_B2], &t[CT_DW])))
        return st;
    return ks_ag_reshape(c, t[CT_DW], 4, wshape, dw);
}

static ks_status conv_backward_recorded(ks_ctx *c, ks_node *n, ks_tensor *gy, ks_tensor **gin)
{
    conv_geom g;
    memcpy(&g, n->i, sizeof g);
    ks_tensor *t[CT_N] = {0};
    int64_t gs[4] = {g.N, g.groups, g.Cog, g.Ho * g.Wo};
    int dims[3] = {0, 2, 3};
    ks_status st = ks_ag_reshape(c, gy, 4, gs, &t[CT_G4]);
    if (!st && n->needs_grad[0]) st = conv_dx_recorded(c, n, &g, t, &gin[0]);
    if (!st && n->needs_grad[1]) st = conv_dw_recorded(c, n, &g, t, &gin[1]);
    if (!st && n->needs_grad[2]) st = ks_ag_reduce(c, KS_AG_SUM, gy, 3, dims, false, &gin[2]);
    for (int k = 0; k < CT_N; k++) ks_tensor_release(t[k]);
    return st;
}

static ks_status conv_backward(ks_ctx *c, ks_node *n, ks_tensor *const *gout, ks_tensor **gin)
{
    if (c->grad_enabled) return conv_backward_recorded(c, n, gout[0], gin); /* create_graph */
    ks_tensor *xt, *wt, *gt, *kt = NULL, *scr = NULL;
    ks_status st;
    if ((st = ks_node_get_saved(c, n, 0, &xt)) || (st = ks_node_get_saved(c, n, 1, &wt))) return st;
    if (n->i[CONV_KEPT_COLS] && (st = ks_node_get_saved(c, n, 2, &kt))) return st;
    if ((st = ks_contiguous(c, gout[0], &gt))) return st;
    conv_geom g;
    memcpy(&g, n->i, sizeof g);
    conv_run r = {.g = &g, .nbmax = block_images(&g), .x = ks_tensor_data(xt), .w = ks_tensor_data(wt),
                  .gy = ks_tensor_data(gt), .kept = kt ? ks_tensor_data(kt) : NULL};
    for (int k = 0; k < 3 && !st; k++)
        if (n->needs_grad[k]) st = ks_tensor_empty(c, KS_FLOAT32, n->in_ndim[k], n->in_size[k], &gin[k]);
    if (!st && gin[0]) { r.dx = ks_tensor_data(gin[0]); memset(r.dx, 0, (size_t)gin[0]->numel * sizeof(float)); }
    if (!st && gin[1]) { r.dw = ks_tensor_data(gin[1]); memset(r.dw, 0, (size_t)gin[1]->numel * sizeof(float)); }
    if (!st && gin[2]) bias_grad(&g, r.gy, ks_tensor_data(gin[2]));
    if (!st && (r.dx || r.dw) && g.N && !(st = wave_scratch(c, &r, r.dx != NULL, r.dw != NULL, &scr))) st = run_waves(c, &r, true);
    ks_tensor_release(scr);
    ks_tensor_release(gt);
    return st;
}

static const ks_op_def op_conv2d = {"ConvolutionBackward", conv_backward};

static ks_status make_geom(ks_ctx *c, const ks_tensor *x, const ks_tensor *w, const ks_tensor *b,
                           const ks_conv2d_opts *o, conv_geom *g)
{
    char a[160], bb[160];
    if (x->dtype != KS_FLOAT32 || w->dtype != KS_FLOAT32 || (b && b->dtype != KS_FLOAT32))
        return ks_error(c, KS_ETYPE, "conv2d: expected float32 input, weight and bias (got %s, %s, %s)%s",
                        ks_dtype_name(x->dtype), ks_dtype_name(w->dtype), b ? ks_dtype_name(b->dtype) : "none",
                        x->dtype == KS_UINT8 ? "; convert images with data.to_float(x) or x:float()" : "");
    if (x->ndim != 4 || w->ndim != 4)
        return ks_error(c, KS_ESHAPE, "conv2d: expected a 4-D input [N, C, H, W] and a 4-D weight [Co, Ci/groups, kH, kW], got %s and %s",
                        ks_shape_str(x, a, sizeof a), ks_shape_str(w, bb, sizeof bb));
    if (o->groups < 1 || o->stride[0] < 1 || o->stride[1] < 1 || o->dilation[0] < 1 || o->dilation[1] < 1 ||
        o->padding[0] < 0 || o->padding[1] < 0)
        return ks_error(c, KS_EINVAL, "conv2d: stride, dilation and groups must be >= 1 and padding >= 0");
    for (int d = 0; d < 2; d++)
        if (o->stride[d] > INT32_MAX || o->dilation[d] > INT32_MAX || o->padding[d] > INT32_MAX || o->groups > INT32_MAX)
            return ks_error(c, KS_EINVAL, "conv2d: stride, padding, dilation and groups must be below 2^31");
    *g = (conv_geom){x->size[0], x->size[1], x->size[2], x->size[3], w->size[0], w->size[2], w->size[3], 0, 0,
                     o->stride[0], o->stride[1], o->padding[0], o->padding[1], o->dilation[0], o->dilation[1],
                     o->groups, 0, 0, 0};
    if (g->Ci % g->groups || g->Co % g->groups || w->size[1] * g->groups != g->Ci)
        return ks_error(c, KS_ESHAPE, "conv2d: input of shape %s with groups=%lld does not match weight of shape %s (expected %lld input channels)",
                        ks_shape_str(x, a, sizeof a), (long long)g->groups, ks_shape_str(w, bb, sizeof bb),
                        (long long)(w->size[1] * g->groups));
    if (b && (b->ndim != 1 || b->size[0] != g->Co))
        return ks_error(c, KS_ESHAPE, "conv2d: bias of shape %s does not match %lld output channels",
                        ks_shape_str(b, a, sizeof a), (long long)g->Co);
    g->Ho = (g->H + 2 * g->ph - g->dh * (g->kH - 1) - 1) / g->sh + 1;
    g->Wo = (g->W + 2 * g->pw - g->dw * (g->kW - 1) - 1) / g->sw + 1;
    if (g->H + 2 * g->ph < g->dh * (g->kH - 1) + 1 || g->W + 2 * g->pw < g->dw * (g->kW - 1) + 1)
        return ks_error(c, KS_ESHAPE, "conv2d: kernel %lldx%lld (dilation %lld) is larger than the padded input %lldx%lld",
                        (long long)g->kH, (long long)g->kW, (long long)g->dh, (long long)(g->H + 2 * g->ph),
                        (long long)(g->W + 2 * g->pw));
    g->Cig = g->Ci / g->groups;
    g->Cog = g->Co / g->groups;
    g->K = g->Cig * g->kH * g->kW;
    return KS_OK;
}

ks_status ks_nn_conv2d(ks_ctx *c, ks_tensor *input, ks_tensor **out, ks_tensor *weight, ks_tensor *bias,
                       const ks_conv2d_opts *o)
{
    conv_geom g;
    ks_status st = make_geom(c, input, weight, bias, o, &g);
    if (st) return st;
    ks_tensor *x = NULL, *w = NULL, *bc = NULL, *y = NULL, *scr = NULL, *kept = NULL;
    if ((st = ks_contiguous(c, input, &x)) || (st = ks_contiguous(c, weight, &w))) goto done;
    if (bias && (st = ks_contiguous(c, bias, &bc))) goto done;
    int64_t size[4] = {g.N, g.Co, g.Ho, g.Wo};
    if ((st = ks_tensor_empty(c, KS_FLOAT32, 4, size, &y))) goto done;
    ks_tensor *ins[3] = {input, weight, bias};
    bool record = ks_ag_needs_record(c, 3, ins);
    /* the weight gradient reads the same columns: keep them (one group, up to KEEP_MAX floats) */
    int64_t nk = g.K * g.N * g.Ho * g.Wo;
    bool keep = record && weight->requires_grad && g.groups == 1 && y->numel && nk <= KEEP_MAX;
    if (keep && (st = ks_tensor_empty(c, KS_FLOAT32, 1, &nk, &kept))) goto done;
    if (y->numel) {
        conv_run r = {.g = &g, .nbmax = block_images(&g), .x = ks_tensor_data(x), .w = ks_tensor_data(w),
                      .bias = bc ? ks_tensor_data(bc) : NULL, .y = ks_tensor_data(y),
                      .kept = keep ? ks_tensor_data(kept) : NULL};
        if ((st = wave_scratch(c, &r, true, false, &scr)) || (st = run_waves(c, &r, false))) goto done;
    }
    if (record) {
        ks_node *n = ks_node_new(c, &op_conv2d, 3, ins);
        if (!n) { st = KS_ENOMEM; goto done; }
        _Static_assert(sizeof(conv_geom) <= CONV_KEPT_COLS * sizeof(int64_t) &&
                           CONV_KEPT_COLS < sizeof(((ks_node *)0)->i) / sizeof(int64_t),
                       "conv geometry and the kept-columns flag fit the node's options");
        memcpy(n->i, &g, sizeof g);
        n->i[CONV_KEPT_COLS] = keep;
        n->double_backward = true;
        st = ks_node_save(c, n, x);
        if (!st) st = ks_node_save(c, n, w);
        if (!st && keep) st = ks_node_save(c, n, kept);
        if (!st) ks_node_set_output(n, 0, y);
        ks_node_release(n);
        if (st) goto done;
    }
    *out = y;
    y = NULL;
done:
    ks_tensor_release(scr);
    ks_tensor_release(kept);
    ks_tensor_release(x);
    ks_tensor_release(w);
    ks_tensor_release(bc);
    ks_tensor_release(y);
    return st;
}
