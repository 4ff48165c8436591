/* ks_nn_im2col.c: the im2col / col2im loops (contract: ks_nn_im2col.h),
 * used by conv2d and by F.unfold / F.fold. */
#include "ks_nn_im2col.h"

/* -O2's "very cheap" vectoriser cost model leaves short loops scalar */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("vect-cost-model=dynamic")
#endif

typedef ks_conv_geom conv_geom;
typedef ks_col_job col_job;

/* output columns [lo, hi) of row ky/kx read inside the input width */
static void valid_cols(const conv_geom *g, int64_t kx, int64_t *lo, int64_t *hi)
{
    int64_t off = kx * g->dw - g->pw; /* ix = ox*sw + off */
    int64_t a = off >= 0 ? 0 : (-off + g->sw - 1) / g->sw;
    int64_t b = g->W - off <= 0 ? 0 : (g->W - off + g->sw - 1) / g->sw;
    if (b > g->Wo) b = g->Wo;
    if (a > b) a = b;
    *lo = a;
    *hi = b;
}

/* GCC turns short copy and zeroing loops into memcpy / memset calls, whose
 * overhead dominates rows of 7-28 floats (im2col was ~11% of a CNN step, a
 * third of it in the calls); ks_im2col_rows and what it inlines keep them inline */
#if defined(__GNUC__) && !defined(__clang__)
#define KS_NO_LIBCALLS __attribute__((optimize("no-tree-loop-distribute-patterns")))
#else
#define KS_NO_LIBCALLS
#endif

KS_NO_LIBCALLS static inline void copy_run(float *restrict d, const float *restrict s, int64_t n)
{
    for (int64_t i = 0; i < n; i++) d[i] = s[i];
}

static inline void add_run(float *restrict d, const float *restrict s, int64_t n)
{
    for (int64_t i = 0; i < n; i++) d[i] += s[i];
}

KS_NO_LIBCALLS ks_status ks_im2col_rows(void *arg, int64_t r0, int64_t r1)
{
    const col_job *j = arg;
    const conv_geom *g = j->g;
    int64_t HoWo = g->Ho * g->Wo, L = j->nb * HoWo;
    for (int64_t r = r0; r < r1; r++) {
        int64_t ci = r / (g->kH * g->kW), ky = r / g->kW % g->kH, kx = r % g->kW, lo, hi;
        valid_cols(g, kx, &lo, &hi);
        int64_t off = kx * g->dw - g->pw;
        for (int64_t b = 0; b < j->nb; b++) {
            const float *plane = j->x + ((j->n0 + b) * g->Ci + j->grp * g->Cig + ci) * g->H * g->W;
            float *dst = j->out + r * L + b * HoWo;
            for (int64_t oy = 0; oy < g->Ho; oy++) {
                int64_t iy = oy * g->sh - g->ph + ky * g->dh;
                float *d = dst + oy * g->Wo;
                if (iy < 0 || iy >= g->H) { for (int64_t ox = 0; ox < g->Wo; ox++) d[ox] = 0.0f; continue; }
                const float *src = plane + iy * g->W + off;
                for (int64_t ox = 0; ox < lo; ox++) d[ox] = 0.0f;
                if (g->sw == 1) copy_run(d + lo, src + lo, hi - lo); /* rows are short: no memcpy call */
                else for (int64_t ox = lo; ox < hi; ox++) d[ox] = src[ox * g->sw];
                for (int64_t ox = hi; ox < g->Wo; ox++) d[ox] = 0.0f;
            }
        }
    }
    return KS_OK;
}

/* input channels [c0, c1): each accumulates its own kH*kW rows into its own planes */
ks_status ks_col2im_channels(void *arg, int64_t c0, int64_t c1)
{
    const col_job *j = arg;
    const conv_geom *g = j->g;
    int64_t HoWo = g->Ho * g->Wo, L = j->nb * HoWo;
    for (int64_t ci = c0; ci < c1; ci++)
        for (int64_t ky = 0; ky < g->kH; ky++)
            for (int64_t kx = 0; kx < g->kW; kx++) {
                const float *row = j->x + ((ci * g->kH + ky) * g->kW + kx) * L;
                int64_t lo, hi, off = kx * g->dw - g->pw;
                valid_cols(g, kx, &lo, &hi);
                for (int64_t b = 0; b < j->nb; b++) {
                    float *plane = j->out + ((j->n0 + b) * g->Ci + j->grp * g->Cig + ci) * g->H * g->W;
                    const float *src = row + b * HoWo;
                    for (int64_t oy = 0; oy < g->Ho; oy++) {
                        int64_t iy = oy * g->sh - g->ph + ky * g->dh;
                        if (iy < 0 || iy >= g->H) continue;
                        float *d = plane + iy * g->W + off;
                        const float *sr = src + oy * g->Wo;
                        if (g->sw == 1) add_run(d + lo, sr + lo, hi - lo);
                        else for (int64_t ox = lo; ox < hi; ox++) d[ox * g->sw] += sr[ox];
                    }
                }
            }
    return KS_OK;
}

