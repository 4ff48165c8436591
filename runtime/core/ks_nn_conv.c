/* ks_nn_conv.c: 2-D convolution (stride, padding, dilation, groups) by
 * im2col + one GEMM per block of images and group, and its backward:
 *   forward:  Y_g[Co, L] = W_g[Co, K] @ cols[K, L]           (L = images*Ho*Wo)
 *   backward: dW_g += dY_g @ cols^T;  dcols = W_g^T @ dY_g -> col2im
 * Blocks of images keep the column buffer under COLS_BUDGET bytes, so large
 * inputs do not need gigabytes of scratch. GEMMs run on the owning thread
 * (OpenBLAS threads do the parallel part). */
#include "ks_nn.h"

#include <cblas.h>
#include <stdlib.h>
#include <string.h>

#define COLS_BUDGET ((size_t)32 << 20)

typedef struct {
    int64_t N, Ci, H, W, Co, kH, kW, Ho, Wo;
    int64_t sh, sw, ph, pw, dh, dw, groups;
    int64_t Cig, Cog, K; /* per-group in/out channels, K = Cig*kH*kW */
} conv_geom;

static void im2col(const conv_geom *g, const float *x, int64_t n0, int64_t nb, int64_t grp, float *cols)
{
    int64_t HoWo = g->Ho * g->Wo, L = nb * HoWo;
    for (int64_t ci = 0; ci < g->Cig; ci++)
        for (int64_t ky = 0; ky < g->kH; ky++)
            for (int64_t kx = 0; kx < g->kW; kx++) {
                float *row = cols + ((ci * g->kH + ky) * g->kW + kx) * L;
                for (int64_t b = 0; b < nb; b++) {
                    const float *plane = x + ((n0 + b) * g->Ci + grp * g->Cig + ci) * g->H * g->W;
                    float *dst = row + b * HoWo;
                    for (int64_t oy = 0; oy < g->Ho; oy++) {
                        int64_t iy = oy * g->sh - g->ph + ky * g->dh;
                        float *d = dst + oy * g->Wo;
                        if (iy < 0 || iy >= g->H) { memset(d, 0, (size_t)g->Wo * sizeof(float)); continue; }
                        const float *src = plane + iy * g->W;
                        for (int64_t ox = 0; ox < g->Wo; ox++) {
                            int64_t ix = ox * g->sw - g->pw + kx * g->dw;
                            d[ox] = (ix >= 0 && ix < g->W) ? src[ix] : 0.0f;
                        }
                    }
                }
            }
}

static void col2im(const conv_geom *g, const float *cols, int64_t n0, int64_t nb, int64_t grp, float *dx)
{
    int64_t HoWo = g->Ho * g->Wo, L = nb * HoWo;
    for (int64_t ci = 0; ci < g->Cig; ci++)
        for (int64_t ky = 0; ky < g->kH; ky++)
            for (int64_t kx = 0; kx < g->kW; kx++) {
                const float *row = cols + ((ci * g->kH + ky) * g->kW + kx) * L;
                for (int64_t b = 0; b < nb; b++) {
                    float *plane = dx + ((n0 + b) * g->Ci + grp * g->Cig + ci) * g->H * g->W;
                    const float *src = row + b * HoWo;
                    for (int64_t oy = 0; oy < g->Ho; oy++) {
                        int64_t iy = oy * g->sh - g->ph + ky * g->dh;
                        if (iy < 0 || iy >= g->H) continue;
                        float *d = plane + iy * g->W;
                        const float *s = src + oy * g->Wo;
                        for (int64_t ox = 0; ox < g->Wo; ox++) {
                            int64_t ix = ox * g->sw - g->pw + kx * g->dw;
                            if (ix >= 0 && ix < g->W) d[ix] += s[ox];
                        }
                    }
                }
            }
}

/* images per block so that cols (K x nb*HoWo floats) fits the budget */
static int64_t block_images(const conv_geom *g)
{
    size_t per = (size_t)(g->K * g->Ho * g->Wo) * sizeof(float);
    int64_t nb = per ? (int64_t)(COLS_BUDGET / per) : g->N;
    return nb < 1 ? 1 : nb > g->N ? g->N : nb;
}

/* scratch: cols [K, nb*HoWo] and a GEMM output/gradient buffer [Cog, nb*HoWo] */
static ks_status scratch(ks_ctx *c, const conv_geom *g, int64_t nb, float **cols, float **buf, size_t *bytes)
{
    size_t L = (size_t)(nb * g->Ho * g->Wo);
    *bytes = ((size_t)g->K * L + (size_t)g->Cog * L) * sizeof(float);
    float *p = ks_mem_alloc(c, *bytes);
    if (!p) return KS_ENOMEM;
    *cols = p;
    *buf = p + (size_t)g->K * L;
    return KS_OK;
}

static void conv_forward(const conv_geom *g, const float *x, const float *w, const float *bias, float *y, float *cols,
                         float *buf, int64_t nbmax)
{
    int64_t HoWo = g->Ho * g->Wo;
    for (int64_t n0 = 0; n0 < g->N; n0 += nbmax) {
        int64_t nb = g->N - n0 < nbmax ? g->N - n0 : nbmax, L = nb * HoWo;
        for (int64_t grp = 0; grp < g->groups; grp++) {
            im2col(g, x, n0, nb, grp, cols);
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)g->Cog, (int)L, (int)g->K, 1.0f,
                        w + grp * g->Cog * g->K, (int)g->K, cols, (int)L, 0.0f, buf, (int)L);
            for (int64_t co = 0; co < g->Cog; co++) {
                int64_t oc = grp * g->Cog + co;
                float b = bias ? bias[oc] : 0.0f;
                for (int64_t i = 0; i < nb; i++) {
                    float *dst = y + ((n0 + i) * g->Co + oc) * HoWo;
                    const float *src = buf + co * L + i * HoWo;
                    for (int64_t p = 0; p < HoWo; p++) dst[p] = src[p] + b;
                }
            }
        }
    }
}

static ks_status conv_backward(ks_ctx *c, ks_node *n, ks_tensor *const *gout, ks_tensor **gin)
{
    ks_tensor *xt, *wt, *gt;
    ks_status st;
    if ((st = ks_node_get_saved(c, n, 0, &xt)) || (st = ks_node_get_saved(c, n, 1, &wt))) return st;
    if ((st = ks_contiguous(c, gout[0], &gt))) return st;
    conv_geom g;
    memcpy(&g, n->i, sizeof g);
    float *cols, *buf;
    size_t bytes;
    int64_t nbmax = block_images(&g), HoWo = g.Ho * g.Wo;
    if ((st = scratch(c, &g, nbmax, &cols, &buf, &bytes))) { ks_tensor_release(gt); return st; }
    const float *x = ks_tensor_data(xt), *w = ks_tensor_data(wt), *gy = ks_tensor_data(gt);
    float *dx = NULL, *dw = NULL;
    for (int k = 0; k < 3 && !st; k++)
        if (n->needs_grad[k]) st = ks_tensor_empty(c, KS_FLOAT32, n->in_ndim[k], n->in_size[k], &gin[k]);
    if (!st && gin[0]) { dx = ks_tensor_data(gin[0]); memset(dx, 0, (size_t)gin[0]->numel * sizeof(float)); }
    if (!st && gin[1]) { dw = ks_tensor_data(gin[1]); memset(dw, 0, (size_t)gin[1]->numel * sizeof(float)); }
    if (!st && gin[2]) {
        float *db = ks_tensor_data(gin[2]);
        for (int64_t oc = 0; oc < g.Co; oc++) {
            double s = 0;
            for (int64_t i = 0; i < g.N; i++) {
                const float *src = gy + (i * g.Co + oc) * HoWo;
                for (int64_t p = 0; p < HoWo; p++) s += src[p];
            }
            db[oc] = (float)s;
        }
    }
    for (int64_t n0 = 0; !st && (dx || dw) && n0 < g.N; n0 += nbmax) {
        int64_t nb = g.N - n0 < nbmax ? g.N - n0 : nbmax, L = nb * HoWo;
        for (int64_t grp = 0; grp < g.groups; grp++) {
            for (int64_t co = 0; co < g.Cog; co++) /* gather dY_g into [Cog, L] */
                for (int64_t i = 0; i < nb; i++)
                    memcpy(buf + co * L + i * HoWo, gy + ((n0 + i) * g.Co + grp * g.Cog + co) * HoWo,
                           (size_t)HoWo * sizeof(float));
            if (dw) {
                im2col(&g, x, n0, nb, grp, cols);
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)g.Cog, (int)g.K, (int)L, 1.0f, buf, (int)L,
                            cols, (int)L, 1.0f, dw + grp * g.Cog * g.K, (int)g.K);
            }
            if (dx) {
                cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)g.K, (int)L, (int)g.Cog, 1.0f,
                            w + grp * g.Cog * g.K, (int)g.K, buf, (int)L, 0.0f, cols, (int)L);
                col2im(&g, cols, n0, nb, grp, dx);
            }
        }
        if (!st) st = ks_check_interrupt(c);
    }
    ks_mem_free(c, cols, bytes);
    ks_tensor_release(gt);
    return st;
}

static const ks_op_def op_conv2d = {"ConvolutionBackward", conv_backward};

static ks_status make_geom(ks_ctx *c, const ks_tensor *x, const ks_tensor *w, const ks_tensor *b,
                           const ks_conv2d_opts *o, conv_geom *g)
{
    char a[160], bb[160];
    if (x->dtype != KS_FLOAT32 || w->dtype != KS_FLOAT32 || (b && b->dtype != KS_FLOAT32))
        return ks_error(c, KS_ETYPE, "conv2d: expected float32 input, weight and bias");
    if (x->ndim != 4 || w->ndim != 4)
        return ks_error(c, KS_ESHAPE, "conv2d: expected a 4-D input [N, C, H, W] and a 4-D weight [Co, Ci/groups, kH, kW], got %s and %s",
                        ks_shape_str(x, a, sizeof a), ks_shape_str(w, bb, sizeof bb));
    if (o->groups < 1 || o->stride[0] < 1 || o->stride[1] < 1 || o->dilation[0] < 1 || o->dilation[1] < 1 ||
        o->padding[0] < 0 || o->padding[1] < 0)
        return ks_error(c, KS_EINVAL, "conv2d: stride, dilation and groups must be >= 1 and padding >= 0");
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
    ks_tensor *x = NULL, *w = NULL, *bc = NULL, *y = NULL;
    float *cols = NULL, *buf;
    size_t bytes = 0;
    if ((st = ks_contiguous(c, input, &x)) || (st = ks_contiguous(c, weight, &w))) goto done;
    if (bias && (st = ks_contiguous(c, bias, &bc))) goto done;
    int64_t size[4] = {g.N, g.Co, g.Ho, g.Wo}, nbmax = block_images(&g);
    if ((st = ks_tensor_empty(c, KS_FLOAT32, 4, size, &y))) goto done;
    if (y->numel) {
        if ((st = scratch(c, &g, nbmax, &cols, &buf, &bytes))) goto done;
        conv_forward(&g, ks_tensor_data(x), ks_tensor_data(w), bc ? ks_tensor_data(bc) : NULL, ks_tensor_data(y),
                     cols, buf, nbmax);
    }
    ks_tensor *ins[3] = {input, weight, bias};
    if (ks_ag_needs_record(c, 3, ins)) {
        ks_node *n = ks_node_new(c, &op_conv2d, 3, ins);
        if (!n) { st = KS_ENOMEM; goto done; }
        _Static_assert(sizeof(conv_geom) <= sizeof(((ks_node *)0)->i), "conv geometry fits the node's options");
        memcpy(n->i, &g, sizeof g);
        st = ks_node_save(c, n, x);
        if (!st) st = ks_node_save(c, n, w);
        if (!st) ks_node_set_output(n, 0, y);
        ks_node_release(n);
        if (st) goto done;
    }
    *out = y;
    y = NULL;
done:
    if (cols) ks_mem_free(c, cols, bytes);
    ks_tensor_release(x);
    ks_tensor_release(w);
    ks_tensor_release(bc);
    ks_tensor_release(y);
    return st;
}
