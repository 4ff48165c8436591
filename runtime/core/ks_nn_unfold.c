/* ks_nn_unfold.c: F.unfold (im2col) and F.fold (col2im) on the
 * convolution's loops (ks_nn_im2col.h): one image's columns are the conv's
 * column block of nb = 1 image and one group, which is PyTorch's layout.
 * Each op's gradient is the other with the same geometry (so under
 * create_graph both differentiate again, to any order). Work is split
 * over (image, column row) for unfold and (image, channel) for fold: every
 * task writes its own rows / planes, so results do not depend on threads. */
#include "ks_nn.h"
#include "ks_nn_im2col.h"
#include "ks_threads.h"

#include <string.h>

/* node options: kernel, dilation, padding, stride (pairs), then H, W */
enum { OPT_K = 0, OPT_D = 2, OPT_P = 4, OPT_S = 6, OPT_HW = 8 };

typedef struct {
    ks_conv_geom g;
    const float *x;
    float *y;
} unfold_run;

/* the job of image n: its images in x, its columns in y (or the reverse for fold) */
static ks_col_job image_job(const unfold_run *r, int64_t n, bool fold)
{
    const ks_conv_geom *g = &r->g;
    int64_t cols = n * g->K * g->Ho * g->Wo;
    if (fold) return (ks_col_job){g, r->x + cols, r->y, n, 1, 0};
    return (ks_col_job){g, r->x, r->y + cols, n, 1, 0};
}

/* tasks t = n*K + row */
static ks_status unfold_tasks(void *arg, int64_t t0, int64_t t1)
{
    const unfold_run *r = arg;
    int64_t K = r->g.K;
    while (t0 < t1) {
        int64_t n = t0 / K, r0 = t0 % K, r1 = t1 - n * K < K ? t1 - n * K : K;
        ks_col_job j = image_job(r, n, false);
        ks_im2col_rows(&j, r0, r1);
        t0 = n * K + r1;
    }
    return KS_OK;
}

/* tasks t = n*C + channel: zero the channel's plane, then add its rows */
static ks_status fold_tasks(void *arg, int64_t t0, int64_t t1)
{
    const unfold_run *r = arg;
    int64_t C = r->g.Ci, HW = r->g.H * r->g.W;
    while (t0 < t1) {
        int64_t n = t0 / C, c0 = t0 % C, c1 = t1 - n * C < C ? t1 - n * C : C;
        memset(r->y + (n * C + c0) * HW, 0, (size_t)((c1 - c0) * HW) * sizeof(float));
        ks_col_job j = image_job(r, n, true);
        ks_col2im_channels(&j, c0, c1);
        t0 = n * C + c1;
    }
    return KS_OK;
}

/* grain: tasks of about 32K output floats each */
static int64_t grain(int64_t per_task)
{
    int64_t g = per_task > 0 ? ((int64_t)1 << 15) / per_task : 1;
    return g < 1 ? 1 : g;
}

static ks_status check_opts(ks_ctx *c, const char *op, const int64_t *k, const int64_t *d, const int64_t *p,
                            const int64_t *s)
{
    for (int i = 0; i < 2; i++) {
        if (k[i] < 1 || d[i] < 1 || s[i] < 1 || p[i] < 0)
            return ks_error(c, KS_EINVAL, "%s: kernel_size, dilation and stride must be >= 1 and padding >= 0", op);
        if (k[i] > INT32_MAX || d[i] > INT32_MAX || s[i] > INT32_MAX || p[i] > INT32_MAX)
            return ks_error(c, KS_EINVAL, "%s: kernel_size, dilation, padding and stride must be below 2^31", op);
    }
    return KS_OK;
}

/* geometry of images [N, C, H, W]: blocks Ho x Wo, K = C*kH*kW; errors when
 * no block fits or the columns' size overflows */
static ks_status make_geom(ks_ctx *c, const char *op, int64_t N, int64_t C, int64_t H, int64_t W, const int64_t *k,
                           const int64_t *d, const int64_t *p, const int64_t *s, ks_conv_geom *g)
{
    ks_status st = check_opts(c, op, k, d, p, s);
    if (st) return st;
    *g = (ks_conv_geom){N, C, H, W, 0, k[0], k[1], 0, 0, s[0], s[1], p[0], p[1], d[0], d[1], 1, C, 0, 0};
    int64_t eh = d[0] * (k[0] - 1) + 1, ew = d[1] * (k[1] - 1) + 1; /* < 2^62: no overflow */
    if (H + 2 * p[0] < eh || W + 2 * p[1] < ew)
        return ks_error(c, KS_ESHAPE, "%s: kernel_size {%lld, %lld} with dilation {%lld, %lld} spans %lld x %lld, "
                        "larger than the padded image %lld x %lld", op, (long long)k[0], (long long)k[1],
                        (long long)d[0], (long long)d[1], (long long)eh, (long long)ew, (long long)(H + 2 * p[0]),
                        (long long)(W + 2 * p[1]));
    g->Ho = (H + 2 * p[0] - eh) / s[0] + 1;
    g->Wo = (W + 2 * p[1] - ew) / s[1] + 1;
    int64_t n;
    if (__builtin_mul_overflow(C, k[0], &g->K) || __builtin_mul_overflow(g->K, k[1], &g->K) ||
        __builtin_mul_overflow(g->K, g->Ho, &n) || __builtin_mul_overflow(n, g->Wo, &n) ||
        __builtin_mul_overflow(n, N, &n) || n > ((int64_t)1 << 62) / (int64_t)sizeof(float))
        return ks_error(c, KS_ENOMEM, "%s: the columns of %lld channels, kernel %lld x %lld and %lld x %lld blocks are "
                        "too large", op, (long long)C, (long long)k[0], (long long)k[1], (long long)g->Ho,
                        (long long)g->Wo);
    return KS_OK;
}

static ks_status unfold_backward(ks_ctx *c, ks_node *n, ks_tensor *const *gout, ks_tensor **gin)
{
    const int64_t *o = n->i;
    return ks_nn_fold(c, gout[0], &gin[0], o + OPT_HW, o + OPT_K, o + OPT_D, o + OPT_P, o + OPT_S);
}

static ks_status fold_backward(ks_ctx *c, ks_node *n, ks_tensor *const *gout, ks_tensor **gin)
{
    const int64_t *o = n->i;
    return ks_nn_unfold(c, gout[0], &gin[0], o + OPT_K, o + OPT_D, o + OPT_P, o + OPT_S);
}

static const ks_op_def op_unfold = {"Im2ColBackward", unfold_backward};
static const ks_op_def op_fold = {"Col2ImBackward", fold_backward};

/* record op's node with the options (the other op's geometry for backward) */
static ks_status record(ks_ctx *c, const ks_op_def *op, ks_tensor *input, ks_tensor *out, const ks_conv_geom *g)
{
    ks_node *node = NULL;
    ks_status st = ks_ag_record(c, op, 1, &input, 0, NULL, out, &node);
    if (st || !node) return st;
    node->double_backward = true; /* the backward is the other op, which records */
    int64_t opts[10] = {g->kH, g->kW, g->dh, g->dw, g->ph, g->pw, g->sh, g->sw, g->H, g->W};
    memcpy(node->i, opts, sizeof opts);
    return KS_OK;
}

ks_status ks_nn_unfold(ks_ctx *c, ks_tensor *input, ks_tensor **out, const int64_t kernel[2],
                       const int64_t dilation[2], const int64_t padding[2], const int64_t stride[2])
{
    char a[160];
    if (input->dtype != KS_FLOAT32)
        return ks_error(c, KS_ETYPE, "unfold: expected a float32 input, got %s", ks_dtype_name(input->dtype));
    if (input->ndim != 3 && input->ndim != 4)
        return ks_error(c, KS_ESHAPE, "unfold: expected a 3-D [C, H, W] or 4-D [N, C, H, W] input, got shape %s",
                        ks_shape_str(input, a, sizeof a));
    const int64_t *sz = input->size + input->ndim - 3;
    int64_t N = input->ndim == 4 ? input->size[0] : 1;
    unfold_run r;
    ks_status st = make_geom(c, "unfold", N, sz[0], sz[1], sz[2], kernel, dilation, padding, stride, &r.g);
    if (st) return st;
    ks_tensor *x = NULL, *y = NULL;
    int64_t L = r.g.Ho * r.g.Wo, size[3] = {N, r.g.K, L};
    bool batched = input->ndim == 4;
    if ((st = ks_contiguous(c, input, &x)) || (st = ks_tensor_empty(c, KS_FLOAT32, 2 + batched, size + !batched, &y)))
        goto done;
    r.x = ks_tensor_data(x);
    r.y = ks_tensor_data(y);
    if (y->numel && (st = ks_parallel_for(c, N * r.g.K, grain(L), unfold_tasks, &r))) goto done;
    if ((st = record(c, &op_unfold, input, y, &r.g))) goto done;
    *out = y;
    y = NULL;
done:
    ks_tensor_release(x);
    ks_tensor_release(y);
    return st;
}

ks_status ks_nn_fold(ks_ctx *c, ks_tensor *input, ks_tensor **out, const int64_t output_size[2],
                     const int64_t kernel[2], const int64_t dilation[2], const int64_t padding[2],
                     const int64_t stride[2])
{
    char a[160];
    if (input->dtype != KS_FLOAT32)
        return ks_error(c, KS_ETYPE, "fold: expected a float32 input, got %s", ks_dtype_name(input->dtype));
    if (input->ndim != 2 && input->ndim != 3)
        return ks_error(c, KS_ESHAPE, "fold: expected a 2-D [C kh kw, L] or 3-D [N, C kh kw, L] input, got shape %s",
                        ks_shape_str(input, a, sizeof a));
    ks_status st = check_opts(c, "fold", kernel, dilation, padding, stride);
    if (st) return st;
    if (output_size[0] < 1 || output_size[1] < 1 || output_size[0] > INT32_MAX || output_size[1] > INT32_MAX)
        return ks_error(c, KS_EINVAL, "fold: output_size must be >= 1 and below 2^31, got {%lld, %lld}",
                        (long long)output_size[0], (long long)output_size[1]);
    bool batched = input->ndim == 3;
    int64_t N = batched ? input->size[0] : 1, CK = input->size[batched], L = input->size[batched + 1];
    int64_t kk = kernel[0] * kernel[1];
    if (CK % kk)
        return ks_error(c, KS_ESHAPE, "fold: dim %d of the input of shape %s must be divisible by kernel_size's "
                        "product %lld", (int)batched, ks_shape_str(input, a, sizeof a), (long long)kk);
    unfold_run r;
    if ((st = make_geom(c, "fold", N, CK / kk, output_size[0], output_size[1], kernel, dilation, padding, stride, &r.g)))
        return st;
    if (r.g.Ho * r.g.Wo != L)
        return ks_error(c, KS_ESHAPE, "fold: output_size {%lld, %lld} gives %lld x %lld blocks, but the input of "
                        "shape %s has %lld", (long long)output_size[0], (long long)output_size[1],
                        (long long)r.g.Ho, (long long)r.g.Wo, ks_shape_str(input, a, sizeof a), (long long)L);
    ks_tensor *x = NULL, *y = NULL;
    int64_t size[4] = {N, r.g.Ci, r.g.H, r.g.W};
    if ((st = ks_contiguous(c, input, &x)) || (st = ks_tensor_empty(c, KS_FLOAT32, 3 + batched, size + !batched, &y)))
        goto done;
    r.x = ks_tensor_data(x);
    r.y = ks_tensor_data(y);
    if (y->numel && (st = ks_parallel_for(c, N * r.g.Ci, grain(kk * L), fold_tasks, &r))) goto done;
    if ((st = record(c, &op_fold, input, y, &r.g))) goto done;
    *out = y;
    y = NULL;
done:
    ks_tensor_release(x);
    ks_tensor_release(y);
    return st;
}
