/* ks_augment_photometric.c: Gaussian noise, brightness/contrast and random
 * erasing (contracts in ks_augment.h). All run in place or into out. */
#include "ks_augment_impl.h"

#include <math.h>
#include <string.h>

/* Copy image b into out unless the call runs in place. */
static inline void copy_image(const ks_img_geom *g, int64_t b, int64_t n)
{
    if (g->src != g->dst) memcpy(g->dst + b * n, g->src + b * n, (size_t)n * sizeof(float));
}

/* Four N(0, 1) values from one Philox block (Box-Muller on both word pairs). */
static inline void normal4(uint64_t seed, uint64_t block, float z[4])
{
    uint32_t w[4];
    ks_philox(seed, block, w);
    for (int k = 0; k < 4; k += 2) {
        float u1 = ((float)(w[k] >> 8) + 1.0f) * (1.0f / 16777216.0f); /* (0, 1]: log finite */
        float u2 = ks_u32_to_unit(w[k + 1]);
        float r = sqrtf(-2.0f * logf(u1)), a = 6.28318530717958647f * u2;
        z[k] = r * cosf(a);
        z[k + 1] = r * sinf(a);
    }
}

/* ----------------------------------------------------------------- noise */
typedef struct noise_job {
    ks_img_geom g;
    const unsigned char *on;
    uint64_t seed, start, bpi; /* Philox blocks: image b owns [start + b*bpi, +bpi) */
    float mean, std, lo, hi;
    int clamp;
} noise_job;

static ks_status noise_chunk(void *arg, int64_t b0, int64_t b1)
{
    const noise_job *j = arg;
    int64_t n = j->g.C * j->g.H * j->g.W;
    for (int64_t b = b0; b < b1; b++) {
        if (!j->on[b]) {
            copy_image(&j->g, b, n);
            continue;
        }
        const float *s = j->g.src + b * n;
        float *d = j->g.dst + b * n;
        float z[4];
        for (int64_t i = 0; i < n; i++) {
            if ((i & 3) == 0) normal4(j->seed, j->start + (uint64_t)b * j->bpi + (uint64_t)(i >> 2), z);
            float v = s[i] + j->mean + j->std * z[i & 3];
            if (j->clamp) v = v < j->lo ? j->lo : v > j->hi ? j->hi : v;
            d[i] = v;
        }
    }
    return KS_OK;
}

ks_status ks_aug_noise(ks_ctx *c, const ks_tensor *x, ks_tensor *out, ks_generator *g, double mean, double std,
                       int clamp, double lo, double hi, double p)
{
    const char *op = "gaussian_noise";
    noise_job j = {.mean = (float)mean, .std = (float)std, .lo = (float)lo, .hi = (float)hi, .clamp = clamp};
    ks_status st = ks_aug_check_images(c, op, x, out, -1, -1, 1, &j.g);
    if (st || (st = ks_aug_check_prob(c, op, "p", p))) return st;
    if (!(std >= 0) || !isfinite(std) || !isfinite(mean))
        return ks_error(c, KS_EINVAL, "%s: std must be finite and >= 0, got %g (mean %g)", op, std, mean);
    if (clamp && !(lo <= hi)) return ks_error(c, KS_EINVAL, "%s: clamp range needs lo <= hi, got (%g, %g)", op, lo, hi);
    unsigned char local[4096];
    ks_scratch sc;
    if (!(j.on = ks_aug_coins(c, &sc, local, sizeof local, g, j.g.B, p))) return KS_ENOMEM;
    j.seed = g->seed;
    j.bpi = (uint64_t)(j.g.C * j.g.H * j.g.W + 3) / 4;
    j.start = ks_generator_take(g, j.bpi * (uint64_t)j.g.B);
    st = ks_parallel_for(c, j.g.B, ks_aug_grain(8 * j.g.C * j.g.H * j.g.W), noise_chunk, &j);
    ks_scratch_free(&sc);
    ks_tensor_bump_version(out);
    return st;
}

/* --------------------------------------------------- brightness/contrast */
typedef struct bc_img {
    float c, b;
    int on;
} bc_img;

typedef struct bc_job {
    ks_img_geom g;
    const bc_img *img;
    float lo, hi;
    int clamp;
} bc_job;

static ks_status bc_chunk(void *arg, int64_t b0, int64_t b1)
{
    const bc_job *j = arg;
    int64_t n = j->g.C * j->g.H * j->g.W;
    for (int64_t b = b0; b < b1; b++) {
        if (!j->img[b].on) {
            copy_image(&j->g, b, n);
            continue;
        }
        const float *s = j->g.src + b * n;
        float *d = j->g.dst + b * n, cm = j->img[b].c, ad = j->img[b].b;
        if (j->clamp) {
            for (int64_t i = 0; i < n; i++) {
                float v = s[i] * cm + ad;
                d[i] = v < j->lo ? j->lo : v > j->hi ? j->hi : v;
            }
        } else {
            for (int64_t i = 0; i < n; i++) d[i] = s[i] * cm + ad;
        }
    }
    return KS_OK;
}

ks_status ks_aug_brightness_contrast(ks_ctx *c, const ks_tensor *x, ks_tensor *out, ks_generator *g,
                                     const ks_aug_bc *prm)
{
    const char *op = "brightness_contrast";
    bc_job j = {.lo = (float)prm->lo, .hi = (float)prm->hi, .clamp = prm->clamp};
    ks_status st = ks_aug_check_images(c, op, x, out, -1, -1, 1, &j.g);
    if (st || (st = ks_aug_check_prob(c, op, "p", prm->p))) return st;
    if (!(prm->b_lo <= prm->b_hi) || !(prm->c_lo <= prm->c_hi))
        return ks_error(c, KS_EINVAL, "%s: ranges need lo <= hi, got brightness (%g, %g), contrast (%g, %g)", op,
                        prm->b_lo, prm->b_hi, prm->c_lo, prm->c_hi);
    if (!isfinite(prm->pivot)) return ks_error(c, KS_EINVAL, "%s: pivot must be finite, got %g", op, prm->pivot);
    if (prm->clamp && !(prm->lo <= prm->hi))
        return ks_error(c, KS_EINVAL, "%s: clamp range needs lo <= hi, got (%g, %g)", op, prm->lo, prm->hi);
    bc_img local[512];
    ks_scratch sc;
    bc_img *im = ks_scratch_get(c, &sc, local, sizeof local, (size_t)j.g.B * sizeof *im);
    if (!im) return KS_ENOMEM;
    for (int64_t b = 0; b < j.g.B; b++) {
        im[b].on = ks_aug_coin(g, prm->p);
        im[b].c = (float)ks_aug_unif(g, prm->c_lo, prm->c_hi);
        im[b].b = (float)(ks_aug_unif(g, prm->b_lo, prm->b_hi) + prm->pivot * (1 - (double)im[b].c));
    }
    j.img = im;
    st = ks_parallel_for(c, j.g.B, ks_aug_grain(j.g.C * j.g.H * j.g.W), bc_chunk, &j);
    ks_scratch_free(&sc);
    ks_tensor_bump_version(out);
    return st;
}

/* --------------------------------------------------------- random erasing */
typedef struct erase_img {
    int64_t top, left, h, w; /* h = 0: not erased */
} erase_img;

typedef struct erase_job {
    ks_img_geom g;
    const ks_aug_erase_params *prm;
    const erase_img *img;
    uint64_t seed, start, bpi;
} erase_job;

static void erase_plane(const erase_job *j, int64_t b, int64_t ch, const erase_img *e, float *d)
{
    int64_t W = j->g.W;
    float v = j->prm->value, lo = j->prm->lo, span = j->prm->hi - j->prm->lo;
    if (j->prm->fill == KS_ERASE_MEAN) {
        double s = 0; /* the plane is intact here: the box is written after */
        for (int64_t i = 0; i < j->g.H * W; i++) s += d[i];
        v = (float)(s / (double)(j->g.H * W));
    }
    for (int64_t i = e->top; i < e->top + e->h; i++) {
        float *row = d + i * W;
        if (j->prm->fill != KS_ERASE_RANDOM) {
            for (int64_t q = e->left; q < e->left + e->w; q++) row[q] = v;
            continue;
        }
        /* value of pixel (ch, i, q) = word ch*H*W + i*W + q of the image's blocks */
        for (int64_t q = e->left; q < e->left + e->w; q++) {
            uint64_t word = (uint64_t)((ch * j->g.H + i) * W + q);
            uint32_t u = ks_random_word(j->seed, j->start + (uint64_t)b * j->bpi, word);
            row[q] = lo + span * ks_u32_to_unit(u);
        }
    }
}

static ks_status erase_chunk(void *arg, int64_t b0, int64_t b1)
{
    const erase_job *j = arg;
    int64_t n = j->g.C * j->g.H * j->g.W;
    for (int64_t b = b0; b < b1; b++) {
        copy_image(&j->g, b, n);
        if (!j->img[b].h) continue;
        for (int64_t ch = 0; ch < j->g.C; ch++) erase_plane(j, b, ch, &j->img[b], j->g.dst + b * n + ch * j->g.H * j->g.W);
    }
    return KS_OK;
}

static ks_status check_erase(ks_ctx *c, const ks_aug_erase_params *prm)
{
    const char *op = "random_erasing";
    ks_status st = ks_aug_check_prob(c, op, "p", prm->p);
    if (st) return st;
    if (!(prm->scale_lo > 0 && prm->scale_lo <= prm->scale_hi && prm->scale_hi <= 1))
        return ks_error(c, KS_EINVAL, "%s: scale must satisfy 0 < lo <= hi <= 1, got (%g, %g)", op, prm->scale_lo,
                        prm->scale_hi);
    if (!(prm->ratio_lo > 0 && prm->ratio_lo <= prm->ratio_hi && isfinite(prm->ratio_hi)))
        return ks_error(c, KS_EINVAL, "%s: ratio must satisfy 0 < lo <= hi, got (%g, %g)", op, prm->ratio_lo,
                        prm->ratio_hi);
    if (prm->attempts < 1 || prm->attempts > 1000000)
        return ks_error(c, KS_EINVAL, "%s: attempts must be in [1, 1000000], got %d", op, prm->attempts);
    return KS_OK;
}

/* The paper's box search for one image (h = 0 when every attempt failed). */
static erase_img erase_draw(ks_generator *g, int64_t H, int64_t W, const ks_aug_erase_params *prm)
{
    erase_img e = {0, 0, 0, 0};
    if (!ks_aug_coin(g, prm->p) || H < 2 || W < 2) return e; /* no box fits 1 <= h < H */
    double lr0 = log(prm->ratio_lo), lr1 = log(prm->ratio_hi);
    for (int t = 0; t < prm->attempts; t++) {
        double area = ks_aug_unif(g, prm->scale_lo, prm->scale_hi) * (double)H * (double)W;
        double r = prm->log_ratio ? exp(ks_aug_unif(g, lr0, lr1)) : ks_aug_unif(g, prm->ratio_lo, prm->ratio_hi);
        int64_t h = ks_aug_round_dim(sqrt(area * r), H), w = ks_aug_round_dim(sqrt(area / r), W);
        if (h >= 1 && h < H && w >= 1 && w < W) {
            e.top = (int64_t)ks_random_below(g, (uint64_t)(H - h + 1));
            e.left = (int64_t)ks_random_below(g, (uint64_t)(W - w + 1));
            e.h = h;
            e.w = w;
            return e;
        }
    }
    return e;
}

static ks_status check_boxes(ks_ctx *c, const ks_tensor *boxes, int64_t B)
{
    char s[96];
    if (boxes && (boxes->dtype != KS_INT64 || boxes->ndim != 2 || boxes->size[0] != B || boxes->size[1] != 4 ||
                  !ks_tensor_is_contiguous(boxes)))
        return ks_error(c, KS_ESHAPE, "random_erasing: boxes must be a contiguous int64 [%lld, 4] tensor, got %s %s",
                        (long long)B, ks_dtype_name(boxes->dtype), ks_shape_str(boxes, s, sizeof s));
    return KS_OK;
}

ks_status ks_aug_erase(ks_ctx *c, const ks_tensor *x, ks_tensor *out, ks_generator *g, const ks_aug_erase_params *prm,
                       ks_tensor *boxes)
{
    erase_job j = {.prm = prm};
    ks_status st = ks_aug_check_images(c, "random_erasing", x, out, -1, -1, 1, &j.g);
    if (st || (st = check_erase(c, prm)) || (st = check_boxes(c, boxes, j.g.B))) return st;
    erase_img local[256];
    ks_scratch sc;
    erase_img *im = ks_scratch_get(c, &sc, local, sizeof local, (size_t)j.g.B * sizeof *im);
    if (!im) return KS_ENOMEM;
    for (int64_t b = 0; b < j.g.B; b++) im[b] = erase_draw(g, j.g.H, j.g.W, prm);
    if (prm->fill == KS_ERASE_RANDOM) {
        j.seed = g->seed;
        j.bpi = (uint64_t)(j.g.C * j.g.H * j.g.W + 3) / 4;
        j.start = ks_generator_take(g, j.bpi * (uint64_t)j.g.B);
    }
    j.img = im;
    st = ks_parallel_for(c, j.g.B, ks_aug_grain(j.g.C * j.g.H * j.g.W), erase_chunk, &j);
    if (boxes) {
        int64_t *bx = ks_tensor_data(boxes);
        for (int64_t b = 0; b < j.g.B; b++) {
            bx[4 * b] = im[b].top;
            bx[4 * b + 1] = im[b].left;
            bx[4 * b + 2] = im[b].h;
            bx[4 * b + 3] = im[b].w;
        }
        ks_tensor_bump_version(boxes);
    }
    ks_scratch_free(&sc);
    ks_tensor_bump_version(out);
    return st;
}
