/* ks_augment_impl.h: helpers shared by the ks_augment*.c files (private). */
#ifndef KS_AUGMENT_IMPL_H
#define KS_AUGMENT_IMPL_H

#include "ks_augment.h"
#include "ks_threads.h"

#include <stdlib.h>

/* Batch geometry of an image batch x [B, C, H, W]. */
typedef struct ks_img_geom {
    int64_t B, C, H, W;   /* input */
    int64_t OH, OW;       /* output spatial size */
    const float *src;
    float *dst;
} ks_img_geom;

/* Check x (float32 4-D contiguous) and out (float32 contiguous [B, C, oh, ow];
 * oh/ow < 0: same as x) and aliasing (in_place: out may equal x exactly, never
 * overlap otherwise). Fills geom. Errors name `op` and both shapes. */
ks_status ks_aug_check_images(ks_ctx *c, const char *op, const ks_tensor *x, const ks_tensor *out, int64_t oh,
                              int64_t ow, int in_place, ks_img_geom *geom);
/* out must be float32 contiguous; checks only overlap rules (shared by tabular) */
ks_status ks_aug_check_alias(ks_ctx *c, const char *op, const ks_tensor *x, const ks_tensor *out, int in_place);
ks_status ks_aug_check_prob(ks_ctx *c, const char *op, const char *name, double p);

/* Scratch for per-image parameters: on the stack for small batches. */
typedef struct ks_scratch {
    void *p;
    int heap;
} ks_scratch;
static inline void *ks_scratch_get(ks_ctx *c, ks_scratch *s, void *local, size_t local_bytes, size_t bytes)
{
    s->heap = bytes > local_bytes;
    s->p = s->heap ? malloc(bytes) : local;
    if (!s->p) ks_error(c, KS_ENOMEM, "augment: out of memory for %zu bytes of parameters", bytes);
    return s->p;
}
static inline void ks_scratch_free(ks_scratch *s)
{
    if (s->heap) free(s->p);
}

/* Images per parallel chunk: about 64K floats of work per chunk. */
static inline int64_t ks_aug_grain(int64_t per_image)
{
    int64_t g = 65536 / (per_image > 0 ? per_image : 1);
    return g < 1 ? 1 : g;
}

/* Bernoulli(p) from g; always consumes one block so the stream does not depend on p. */
static inline int ks_aug_coin(ks_generator *g, double p) { return ks_random_uniform(g) < p; }
static inline double ks_aug_unif(ks_generator *g, double lo, double hi) { return lo + (hi - lo) * ks_random_uniform(g); }

/* One Bernoulli(p) flag per image (n of them), drawn in order from g, in
 * scratch `sc` (local when it fits): the "is this image augmented" draws
 * that flip, noise and elastic take before any other. NULL: out of memory
 * (error set). Free with ks_scratch_free(sc). */
static inline unsigned char *ks_aug_coins(ks_ctx *c, ks_scratch *sc, unsigned char *local, size_t local_bytes,
                                          ks_generator *g, int64_t n, double p)
{
    unsigned char *on = ks_scratch_get(c, sc, local, local_bytes, (size_t)n);
    if (!on) return NULL;
    for (int64_t b = 0; b < n; b++) on[b] = (unsigned char)ks_aug_coin(g, p);
    return on;
}

/* round(v) as a size, or -1 when v is not in [0, limit] (no overflowing casts) */
static inline int64_t ks_aug_round_dim(double v, int64_t limit)
{
    v = __builtin_nearbyint(v);
    return v >= 0 && v <= (double)limit ? (int64_t)v : -1;
}

/* Bilinear sample of a [H, W] plane at (sy, sx) with `fill` outside. */
static inline float ks_aug_bilinear(const float *s, int64_t H, int64_t W, double sy, double sx, float fill)
{
    double fy = __builtin_floor(sy), fx = __builtin_floor(sx);
    int64_t y0 = (int64_t)fy, x0 = (int64_t)fx;
    double wy = sy - fy, wx = sx - fx;
    double v00 = fill, v01 = fill, v10 = fill, v11 = fill;
    int iny0 = y0 >= 0 && y0 < H, iny1 = y0 + 1 >= 0 && y0 + 1 < H;
    int inx0 = x0 >= 0 && x0 < W, inx1 = x0 + 1 >= 0 && x0 + 1 < W;
    if (iny0 && inx0) v00 = s[y0 * W + x0];
    if (iny0 && inx1) v01 = s[y0 * W + x0 + 1];
    if (iny1 && inx0) v10 = s[(y0 + 1) * W + x0];
    if (iny1 && inx1) v11 = s[(y0 + 1) * W + x0 + 1];
    return (float)((1 - wy) * ((1 - wx) * v00 + wx * v01) + wy * ((1 - wx) * v10 + wx * v11));
}

#endif
