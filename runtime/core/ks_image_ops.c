/* ks_image_ops.c: bilinear resize and uint8 -> float32 normalisation of
 * image tensors (see ks_image.h for the conventions). */
#include "ks_image.h"
#include "ks_threads.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define PIXEL_GRAIN 65536 /* output pixels per parallel chunk (rounded up to whole planes) */

/* ------------------------------------------------------------ resize */
/* Source taps of one axis: i0, i1 = min(i0 + 1, n - 1), weight of i1. */
typedef struct taps {
    int64_t *i0, *i1;
    float *w;
} taps;

static void make_taps(int64_t in, int64_t out, taps *t)
{
    double scale = (double)in / (double)out;
    for (int64_t d = 0; d < out; d++) {
        double src = (d + 0.5) * scale - 0.5;
        if (src < 0) src = 0;
        int64_t i = (int64_t)src;
        if (i > in - 1) i = in - 1;
        t->i0[d] = i;
        t->i1[d] = i < in - 1 ? i + 1 : i;
        t->w[d] = (float)(src - (double)i);
    }
}

typedef struct resize_job {
    const char *src;
    char *dst;
    ks_dtype dt;
    int64_t ih, iw, oh, ow;
    taps ty, tx;
} resize_job;

static ks_status resize_planes(void *arg, int64_t begin, int64_t end)
{
    const resize_job *r = arg;
    for (int64_t p = begin; p < end; p++) {
        for (int64_t y = 0; y < r->oh; y++) {
            float wy = r->ty.w[y];
            int64_t a = (p * r->ih + r->ty.i0[y]) * r->iw, b = (p * r->ih + r->ty.i1[y]) * r->iw;
            int64_t o = (p * r->oh + y) * r->ow;
            for (int64_t x = 0; x < r->ow; x++) {
                float wx = r->tx.w[x];
                int64_t x0 = r->tx.i0[x], x1 = r->tx.i1[x];
                float v00, v01, v10, v11;
                if (r->dt == KS_UINT8) {
                    const uint8_t *s = (const uint8_t *)r->src;
                    v00 = s[a + x0], v01 = s[a + x1], v10 = s[b + x0], v11 = s[b + x1];
                } else {
                    const float *s = (const float *)r->src;
                    v00 = s[a + x0], v01 = s[a + x1], v10 = s[b + x0], v11 = s[b + x1];
                }
                float v = (1 - wy) * ((1 - wx) * v00 + wx * v01) + wy * ((1 - wx) * v10 + wx * v11);
                if (r->dt == KS_UINT8) {
                    v += 0.5f;
                    ((uint8_t *)r->dst)[o + x] = v >= 255.0f ? 255 : v > 0.0f ? (uint8_t)v : 0;
                } else {
                    ((float *)r->dst)[o + x] = v;
                }
            }
        }
    }
    return KS_OK;
}

ks_status ks_image_resize(ks_ctx *c, ks_tensor *in, int64_t oh, int64_t ow, ks_tensor **out)
{
    char s[160];
    if (in->dtype != KS_UINT8 && in->dtype != KS_FLOAT32)
        return ks_error(c, KS_ETYPE, "resize: expected a uint8 or float32 tensor, got %s", ks_dtype_name(in->dtype));
    if (in->ndim < 2)
        return ks_error(c, KS_ESHAPE, "resize: expected a tensor [..., H, W], got %s", ks_shape_str(in, s, sizeof s));
    if (oh < 1 || ow < 1 || oh > 65536 || ow > 65536)
        return ks_error(c, KS_EINVAL, "resize: output size %lldx%lld out of range (1 to 65536)", (long long)oh,
                        (long long)ow);
    int64_t ih = in->size[in->ndim - 2], iw = in->size[in->ndim - 1];
    if (ih < 1 || iw < 1)
        return ks_error(c, KS_ESHAPE, "resize: input %s has an empty image", ks_shape_str(in, s, sizeof s));
    int64_t size[KS_MAX_DIMS];
    memcpy(size, in->size, sizeof size);
    size[in->ndim - 2] = oh;
    size[in->ndim - 1] = ow;
    ks_tensor *src = NULL, *dst = NULL;
    ks_status st = ks_contiguous(c, in, &src);
    if (!st) st = ks_tensor_empty(c, in->dtype, in->ndim, size, &dst);
    resize_job r = {.dt = in->dtype, .ih = ih, .iw = iw, .oh = oh, .ow = ow};
    void *mem = st ? NULL : malloc((size_t)(oh + ow) * (2 * sizeof(int64_t) + sizeof(float)));
    if (!st && !mem) st = ks_error(c, KS_ENOMEM, "resize: out of memory");
    if (!st) {
        r.ty.i0 = mem;
        r.ty.i1 = r.ty.i0 + oh;
        r.tx.i0 = r.ty.i1 + oh;
        r.tx.i1 = r.tx.i0 + ow;
        r.ty.w = (float *)(r.tx.i1 + ow);
        r.tx.w = r.ty.w + oh;
        make_taps(ih, oh, &r.ty);
        make_taps(iw, ow, &r.tx);
        r.src = ks_tensor_data(src);
        r.dst = ks_tensor_data(dst);
        int64_t planes = dst->numel / (oh * ow), grain = PIXEL_GRAIN / (oh * ow);
        st = ks_parallel_for(c, planes, grain > 0 ? grain : 1, resize_planes, &r);
    }
    free(mem);
    ks_tensor_release(src);
    if (st) {
        ks_tensor_release(dst);
        return st;
    }
    *out = dst;
    return KS_OK;
}

/* ------------------------------------------------------------ to_float */
typedef struct norm_job {
    const char *src;
    float *dst;
    ks_dtype dt;
    int64_t hw, nch;
    const float *lut;      /* uint8: 256 entries per channel */
    const double *a, *b;   /* float: (x * scale - mean) / std as per-channel mean, std */
    double scale;
} norm_job;

static ks_status norm_planes(void *arg, int64_t begin, int64_t end)
{
    const norm_job *n = arg;
    for (int64_t p = begin; p < end; p++) {
        int64_t ch = p % n->nch;
        float *d = n->dst + p * n->hw;
        if (n->dt == KS_UINT8) {
            const uint8_t *s = (const uint8_t *)n->src + p * n->hw;
            const float *lut = n->lut + 256 * ch;
            for (int64_t i = 0; i < n->hw; i++) d[i] = lut[s[i]];
        } else {
            const float *s = (const float *)n->src + p * n->hw;
            float scale = (float)n->scale, m = (float)n->a[ch], sd = (float)n->b[ch];
            for (int64_t i = 0; i < n->hw; i++) d[i] = (s[i] * scale - m) / sd;
        }
    }
    return KS_OK;
}

ks_status ks_image_to_float(ks_ctx *c, ks_tensor *x, double scale, const double *mean, const double *std, int nch,
                            ks_tensor **out)
{
    char s[160];
    if (x->dtype != KS_UINT8 && x->dtype != KS_FLOAT32)
        return ks_error(c, KS_ETYPE, "to_float: expected uint8 or float32 images, got %s", ks_dtype_name(x->dtype));
    if (x->ndim < 2)
        return ks_error(c, KS_ESHAPE, "to_float: expected images of at least 2 dims ([H, W], [N, H, W], [C, H, W], "
                        "[N, C, H, W], ...), got %s", ks_shape_str(x, s, sizeof s));
    if (nch < 1 || nch > 256)
        return ks_error(c, KS_EINVAL, "to_float: mean/std must have 1 to 256 entries, got %d", nch);
    /* One mean/std (or none) applies to every pixel, whatever the layout: only
     * per-channel lists need to know which dim holds the channels (dim -3). */
    int64_t C = 1;
    if (nch > 1) {
        C = x->ndim >= 3 ? x->size[x->ndim - 3] : 1;
        if (nch != C)
            return ks_error(c, KS_ESHAPE, "to_float: mean/std have %d entries (one per channel) but the images %s have "
                            "%lld channels in dim -3 (per-channel mean/std take images [..., C, H, W]; for a batch "
                            "of single-channel images [N, H, W] pass [N, 1, H, W], e.g. x:unsqueeze(1), or give a "
                            "single mean/std)", nch, ks_shape_str(x, s, sizeof s), (long long)C);
    }
    double m[256], sd[256];
    for (int64_t ch = 0; ch < C; ch++) {
        m[ch] = mean ? mean[nch == 1 ? 0 : ch] : 0.0;
        sd[ch] = std ? std[nch == 1 ? 0 : ch] : 1.0;
        if (sd[ch] == 0) return ks_error(c, KS_EINVAL, "to_float: std of channel %lld is 0", (long long)ch);
    }
    ks_tensor *src = NULL, *dst = NULL;
    float *lut = NULL;
    ks_status st = ks_contiguous(c, x, &src);
    if (!st) st = ks_tensor_empty(c, KS_FLOAT32, x->ndim, x->size, &dst);
    if (!st && x->dtype == KS_UINT8) {
        lut = malloc((size_t)C * 256 * sizeof *lut);
        if (!lut) st = ks_error(c, KS_ENOMEM, "to_float: out of memory");
        for (int64_t ch = 0; lut && ch < C; ch++)
            for (int v = 0; v < 256; v++) lut[ch * 256 + v] = (float)(((float)v * (float)scale - (float)m[ch]) / (float)sd[ch]);
    }
    if (!st && dst->numel) {
        int64_t hw = x->size[x->ndim - 1] * x->size[x->ndim - 2];
        norm_job n = {ks_tensor_data(src), ks_tensor_data(dst), x->dtype, hw, C, lut, m, sd, scale};
        int64_t grain = PIXEL_GRAIN / (hw ? hw : 1);
        st = ks_parallel_for(c, dst->numel / hw, grain > 0 ? grain : 1, norm_planes, &n);
    }
    free(lut);
    ks_tensor_release(src);
    if (st) {
        ks_tensor_release(dst);
        return st;
    }
    *out = dst;
    return KS_OK;
}
