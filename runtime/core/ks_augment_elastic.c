/* ks_augment_elastic.c: elastic deformation (contract in ks_augment.h). */
#include "ks_augment_impl.h"

/* -O2's "very cheap" vectoriser cost model leaves the blur's short rows scalar */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("vect-cost-model=dynamic")
#endif

#include <math.h>
#include <string.h>

enum { ELASTIC_MAX_K = 257 }; /* kernel taps: sigma up to 32 pixels */

typedef struct elastic_job {
    ks_img_geom g;
    const unsigned char *on;
    uint64_t seed, start, bpi; /* Philox blocks: image b owns [start + b*bpi, +bpi) */
    float kern[ELASTIC_MAX_K];
    int64_t half;
    float scale, fill; /* alpha / 2 */
} elastic_job;

/* numpy "reflect" (no edge repeat) for any offset: period 2(n - 1) */
static inline int64_t reflect_any(int64_t i, int64_t n)
{
    if (i >= 0 && i < n) return i; /* the common cases need no division */
    if (i < 0 && i > -n) return -i;
    if (i >= n && i < 2 * n - 1) return 2 * (n - 1) - i;
    if (n == 1) return 0;
    int64_t period = 2 * (n - 1);
    i %= period;
    if (i < 0) i += period;
    return i < n ? i : period - i;
}

/* d[x .. x + w) = sum over t of k[t] * src[t][x ..], w <= 8 and a constant
 * once inlined: the w outputs stay in registers across all the taps
 * instead of going through memory per tap */
static inline __attribute__((always_inline)) void sum_block(float *restrict d, const float *const *src,
                                                             const float *restrict k, int64_t taps, int64_t x, int w)
{
    float acc[8] = {0};
    for (int64_t t = 0; t < taps; t++) {
        const float *restrict s = src[t] + x;
        for (int i = 0; i < w; i++) acc[i] += k[t] * s[i];
    }
    memcpy(d + x, acc, (size_t)w * sizeof *acc);
}

/* d[x] = sum over t of k[t] * src[t][x], the taps added in order from 0 (so
 * the bits match a plain loop's): blocks of eight, then four, then one */
static void sum_taps(float *restrict d, const float *const *src, const float *restrict k, int64_t taps, int64_t n)
{
    int64_t x = 0;
    for (; x + 8 <= n; x += 8) sum_block(d, src, k, taps, x, 8);
    for (; x + 4 <= n; x += 4) sum_block(d, src, k, taps, x, 4);
    for (; x < n; x++) sum_block(d, src, k, taps, x, 1);
}

/* in-place separable blur of an [H, W] plane; tmp holds H*W + W + 2*half floats */
static void blur_plane(const elastic_job *j, float *f, float *tmp)
{
    int64_t H = j->g.H, W = j->g.W, h = j->half, taps = 2 * h + 1;
    float *row = tmp + H * W; /* one reflect-padded row */
    const float *src[ELASTIC_MAX_K];
    for (int64_t t = 0; t < taps; t++) src[t] = row + t;
    for (int64_t y = 0; y < H; y++) {
        for (int64_t x = -h; x < W + h; x++) row[x + h] = f[y * W + reflect_any(x, W)];
        sum_taps(tmp + y * W, src, j->kern, taps, W);
    }
    for (int64_t y = 0; y < H; y++) {
        for (int64_t t = 0; t < taps; t++) src[t] = tmp + reflect_any(y + t - h, H) * W;
        sum_taps(f + y * W, src, j->kern, taps, W);
    }
}

/* the two displacement fields of image b: dx = buf[0 .. n), dy = buf[n .. 2n) */
static void draw_fields(const elastic_job *j, int64_t b, float *buf, float *tmp)
{
    int64_t n = j->g.H * j->g.W;
    uint32_t w[4];
    for (int64_t i = 0; i < 2 * n; i++) {
        if ((i & 3) == 0) ks_philox(j->seed, j->start + (uint64_t)b * j->bpi + (uint64_t)(i >> 2), w);
        buf[i] = 2.0f * ks_u32_to_unit(w[i & 3]) - 1.0f;
    }
    blur_plane(j, buf, tmp);
    blur_plane(j, buf + n, tmp);
}

static void warp_image(const elastic_job *j, int64_t b, const float *fields)
{
    int64_t H = j->g.H, W = j->g.W, n = H * W;
    for (int64_t ch = 0; ch < j->g.C; ch++) {
        const float *s = j->g.src + (b * j->g.C + ch) * n;
        float *d = j->g.dst + (b * j->g.C + ch) * n;
        for (int64_t y = 0; y < H; y++)
            for (int64_t x = 0; x < W; x++) {
                int64_t i = y * W + x;
                double sy = (double)y + (double)(j->scale * fields[n + i]);
                double sx = (double)x + (double)(j->scale * fields[i]);
                d[i] = ks_aug_bilinear(s, H, W, sy, sx, j->fill);
            }
    }
}

static ks_status elastic_chunk(void *arg, int64_t b0, int64_t b1)
{
    const elastic_job *j = arg;
    int64_t n = j->g.H * j->g.W, per = j->g.C * n;
    int64_t need = 3 * n + j->g.W + 2 * j->half;
    float local[4 * 1024];
    float *buf = need <= (int64_t)(sizeof local / sizeof *local) ? local : malloc((size_t)need * sizeof(float));
    if (!buf) return KS_ENOMEM;
    for (int64_t b = b0; b < b1; b++) {
        if (!j->on[b]) {
            memcpy(j->g.dst + b * per, j->g.src + b * per, (size_t)per * sizeof(float));
            continue;
        }
        draw_fields(j, b, buf, buf + 2 * n);
        warp_image(j, b, buf);
    }
    if (buf != local) free(buf);
    return KS_OK;
}

ks_status ks_aug_elastic(ks_ctx *c, const ks_tensor *x, ks_tensor *out, ks_generator *g, double alpha, double sigma,
                         float fill, double p)
{
    const char *op = "elastic_transform";
    elastic_job job = {.fill = fill}, *j = &job; /* on the stack: a training step allocates nothing */
    ks_status st = ks_aug_check_images(c, op, x, out, -1, -1, 0, &j->g);
    if (st || (st = ks_aug_check_prob(c, op, "p", p))) return st;
    if (!(alpha >= 0 && isfinite(alpha)))
        return ks_error(c, KS_EINVAL, "%s: alpha must be finite and >= 0, got %g", op, alpha);
    if (!(sigma > 0 && sigma <= 32)) return ks_error(c, KS_EINVAL, "%s: sigma must be in (0, 32] pixels, got %g", op, sigma);
    unsigned char local[4096];
    ks_scratch sc;
    if (!(j->on = ks_aug_coins(c, &sc, local, sizeof local, g, j->g.B, p))) return KS_ENOMEM;
    /* torchvision: kernel size int(8 sigma + 1), made odd */
    int64_t k = (int64_t)(8 * sigma + 1);
    if (k % 2 == 0) k++;
    j->half = k / 2;
    double sum = 0;
    for (int64_t t = -j->half; t <= j->half; t++) sum += exp(-0.5 * (double)(t * t) / (sigma * sigma));
    for (int64_t t = -j->half; t <= j->half; t++)
        j->kern[t + j->half] = (float)(exp(-0.5 * (double)(t * t) / (sigma * sigma)) / sum);
    j->scale = (float)(alpha / 2);
    j->seed = g->seed;
    j->bpi = (uint64_t)(2 * j->g.H * j->g.W + 3) / 4;
    j->start = ks_generator_take(g, j->bpi * (uint64_t)j->g.B);
    st = ks_parallel_for(c, j->g.B, ks_aug_grain((4 * k + 8 * j->g.C) * j->g.H * j->g.W), elastic_chunk, j);
    if (st == KS_ENOMEM) ks_error(c, KS_ENOMEM, "%s: out of memory for the displacement fields", op);
    ks_scratch_free(&sc);
    ks_tensor_bump_version(out);
    return st;
}
