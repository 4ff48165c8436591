/* ks_augment_mixing.c: mixup, CutMix and their soft targets (contracts in
 * ks_augment.h). One lambda and one permutation per batch. */
#include "ks_augment_impl.h"

#include <math.h>
#include <string.h>

static ks_status check_perm(ks_ctx *c, const char *op, const ks_tensor *perm, int64_t B)
{
    char s[96];
    if (perm->dtype != KS_INT64 || perm->ndim != 1 || perm->size[0] != B || !ks_tensor_is_contiguous(perm))
        return ks_error(c, KS_ESHAPE, "%s: perm must be a contiguous int64 [%lld] tensor, got %s %s", op,
                        (long long)B, ks_dtype_name(perm->dtype), ks_shape_str(perm, s, sizeof s));
    return KS_OK;
}

/* Fisher-Yates permutation of 0..B-1 into perm (exactly uniform). */
static void draw_perm(ks_generator *g, int64_t *perm, int64_t B)
{
    for (int64_t i = 0; i < B; i++) perm[i] = i;
    for (int64_t i = B - 1; i > 0; i--) {
        int64_t r = (int64_t)ks_random_below(g, (uint64_t)(i + 1));
        int64_t t = perm[i];
        perm[i] = perm[r];
        perm[r] = t;
    }
}

/* ----------------------------------------------------------------- mixup */
typedef struct mix_job {
    ks_img_geom g;
    const int64_t *perm;
    float lam;
    int64_t box[4]; /* cutmix: top, left, h, w */
} mix_job;

static ks_status mixup_chunk(void *arg, int64_t b0, int64_t b1)
{
    const mix_job *j = arg;
    int64_t n = j->g.C * j->g.H * j->g.W;
    float a = j->lam, bw = 1.0f - j->lam;
    for (int64_t b = b0; b < b1; b++) {
        const float *s = j->g.src + b * n, *t = j->g.src + j->perm[b] * n;
        float *d = j->g.dst + b * n;
        for (int64_t i = 0; i < n; i++) d[i] = a * s[i] + bw * t[i];
    }
    return KS_OK;
}

ks_status ks_aug_mixup(ks_ctx *c, const ks_tensor *x, ks_tensor *out, ks_generator *g, double alpha, double p,
                       ks_tensor *perm, double *lambda)
{
    mix_job j;
    ks_status st = ks_aug_check_images(c, "mixup", x, out, -1, -1, 0, &j.g);
    if (st || (st = ks_aug_check_prob(c, "mixup", "p", p)) || (st = check_perm(c, "mixup", perm, j.g.B))) return st;
    if (!isfinite(alpha)) return ks_error(c, KS_EINVAL, "mixup: alpha must be finite, got %g", alpha);
    int apply = ks_aug_coin(g, p);
    double lam = alpha > 0 ? ks_random_beta(g, alpha, alpha) : 1.0;
    int64_t *pm = ks_tensor_data(perm);
    draw_perm(g, pm, j.g.B);
    ks_tensor_bump_version(perm);
    *lambda = apply ? lam : 1.0;
    j.perm = pm;
    j.lam = (float)*lambda;
    st = ks_parallel_for(c, j.g.B, ks_aug_grain(2 * j.g.C * j.g.H * j.g.W), mixup_chunk, &j);
    ks_tensor_bump_version(out);
    return st;
}

/* ---------------------------------------------------------------- cutmix */
static ks_status cutmix_chunk(void *arg, int64_t b0, int64_t b1)
{
    const mix_job *j = arg;
    int64_t H = j->g.H, W = j->g.W, n = H * W;
    for (int64_t b = b0; b < b1; b++)
        for (int64_t ch = 0; ch < j->g.C; ch++) {
            const float *s = j->g.src + (b * j->g.C + ch) * n, *t = j->g.src + (j->perm[b] * j->g.C + ch) * n;
            float *d = j->g.dst + (b * j->g.C + ch) * n;
            memcpy(d, s, (size_t)n * sizeof *d);
            for (int64_t i = j->box[0]; i < j->box[0] + j->box[2]; i++)
                memcpy(d + i * W + j->box[1], t + i * W + j->box[1], (size_t)j->box[3] * sizeof *d);
        }
    return KS_OK;
}

static int64_t clip(int64_t v, int64_t n) { return v < 0 ? 0 : v > n ? n : v; }

ks_status ks_aug_cutmix(ks_ctx *c, const ks_tensor *x, ks_tensor *out, ks_generator *g, double beta, double p,
                        ks_tensor *perm, double *lambda, int64_t box[4])
{
    mix_job j;
    ks_status st = ks_aug_check_images(c, "cutmix", x, out, -1, -1, 0, &j.g);
    if (st || (st = ks_aug_check_prob(c, "cutmix", "p", p)) || (st = check_perm(c, "cutmix", perm, j.g.B))) return st;
    if (!(beta > 0) || !isfinite(beta)) return ks_error(c, KS_EINVAL, "cutmix: beta must be > 0, got %g", beta);
    int64_t H = j.g.H, W = j.g.W;
    int apply = ks_aug_coin(g, p);
    double lam = ks_random_beta(g, beta, beta);
    int64_t *pm = ks_tensor_data(perm);
    draw_perm(g, pm, j.g.B);
    ks_tensor_bump_version(perm);
    int64_t cx = (int64_t)ks_random_below(g, (uint64_t)W), cy = (int64_t)ks_random_below(g, (uint64_t)H);
    double r = sqrt(1.0 - lam);
    int64_t w = (int64_t)floor((double)W * r), h = (int64_t)floor((double)H * r);
    int64_t x1 = clip(cx - w / 2, W), x2 = clip(cx + w / 2, W), y1 = clip(cy - h / 2, H), y2 = clip(cy + h / 2, H);
    if (!apply) x2 = x1, y2 = y1;
    int64_t bx[4] = {y1, x1, y2 - y1, x2 - x1};
    memcpy(j.box, bx, sizeof bx);
    if (box) memcpy(box, bx, sizeof bx);
    *lambda = 1.0 - (double)(bx[2] * bx[3]) / (double)(H * W);
    j.perm = pm;
    j.lam = (float)*lambda;
    st = ks_parallel_for(c, j.g.B, ks_aug_grain(j.g.C * H * W), cutmix_chunk, &j);
    ks_tensor_bump_version(out);
    return st;
}

/* ------------------------------------------------------------ soft targets */
static ks_status check_targets(ks_ctx *c, const ks_tensor *y, const ks_tensor *perm, int64_t K, const ks_tensor *out)
{
    char s[96], so[96];
    int soft = y->dtype == KS_FLOAT32;
    if (!((soft && y->ndim == 2) || (y->dtype == KS_INT64 && y->ndim == 1)) || !ks_tensor_is_contiguous(y))
        return ks_error(c, KS_ETYPE, "mix targets: y must be int64 labels [B] or float32 soft targets [B, K], got %s %s",
                        ks_dtype_name(y->dtype), ks_shape_str(y, s, sizeof s));
    if (soft && y->size[1] != K)
        return ks_error(c, KS_ESHAPE, "mix targets: y has shape %s but num_classes is %lld",
                        ks_shape_str(y, s, sizeof s), (long long)K);
    ks_status st = check_perm(c, "mix targets", perm, y->size[0]);
    if (st) return st;
    if (out->dtype != KS_FLOAT32 || out->ndim != 2 || out->size[0] != y->size[0] || out->size[1] != K ||
        !ks_tensor_is_contiguous(out))
        return ks_error(c, KS_ESHAPE, "mix targets: out has shape %s, expected float32 [%lld, %lld] for y of shape %s",
                        ks_shape_str(out, so, sizeof so), (long long)y->size[0], (long long)K,
                        ks_shape_str(y, s, sizeof s));
    if (out->storage == y->storage) return ks_error(c, KS_EINVAL, "mix targets: out must not share y's storage");
    return KS_OK;
}

ks_status ks_aug_mix_targets(ks_ctx *c, const ks_tensor *y, const ks_tensor *perm, double lambda, int64_t nclasses,
                             ks_tensor *out)
{
    if (nclasses < 1) return ks_error(c, KS_EINVAL, "mix targets: num_classes must be >= 1, got %lld", (long long)nclasses);
    ks_status st = check_targets(c, y, perm, nclasses, out);
    if (st) return st;
    int64_t B = y->size[0], K = nclasses;
    const int64_t *pm = ks_tensor_data(perm);
    float *d = ks_tensor_data(out), a = (float)lambda, bw = (float)(1.0 - lambda);
    if (y->dtype == KS_FLOAT32) {
        const float *s = ks_tensor_data(y);
        for (int64_t b = 0; b < B; b++)
            for (int64_t k = 0; k < K; k++) d[b * K + k] = a * s[b * K + k] + bw * s[pm[b] * K + k];
    } else {
        const int64_t *lab = ks_tensor_data(y);
        for (int64_t b = 0; b < B; b++)
            if (lab[b] < 0 || lab[b] >= K)
                return ks_error(c, KS_ERANGE, "mix targets: label %lld at index %lld is outside [0, num_classes = %lld)",
                                (long long)lab[b], (long long)b, (long long)K);
        memset(d, 0, (size_t)(B * K) * sizeof *d);
        for (int64_t b = 0; b < B; b++) {
            d[b * K + lab[b]] += a;
            d[b * K + lab[pm[b]]] += bw;
        }
    }
    ks_tensor_bump_version(out);
    return KS_OK;
}
