/* ks_grad_clip.h: the total gradient norm of clip_grad_norm_ in one pass per
 * gradient, without temporaries (kshot.regularize's fast path).
 *
 * The values are those of the Lua composition it replaces, to the bit:
 *  - p = 2: each gradient's sum of float32 squares is reduced as ks_sum
 *    reduces a contiguous tensor (partials of KS_RED_CHUNK elements combined
 *    in order, four interleaved double accumulators inside a partial) and
 *    rounded to float32, as (g * g):sum() is; the per-gradient float32 sums
 *    are added in double in gradient order, and the total is
 *    pow(sum, 1.0 / 2), as Lua's `total ^ (1 / 2)`.
 *  - p = inf: the largest |g| over all gradients; a NaN anywhere gives NaN
 *    (g:abs():max() per gradient, the maximum of those kept NaN-first).
 * A gradient that is not contiguous is read through a contiguous copy
 * (g * g is contiguous too, so the order is the same). */
#ifndef KS_GRAD_CLIP_H
#define KS_GRAD_CLIP_H

#include "ks_tensor.h"

/* The norm of order p (2 or INFINITY) of the n float32 gradients, as one
 * vector. n == 0 gives 0. p = inf with an empty gradient is KS_EINVAL (max has
 * no identity), as is any other p or a non-float32 gradient. Checks the
 * interrupt flag between gradients. */
ks_status ks_grads_total_norm(ks_ctx *c, int n, ks_tensor *const *grads, double p, double *total);

/* g *= coef in place for each of the n gradients (float32 arithmetic of
 * t:mul_(coef); a gradient listed twice is scaled twice, as in the loop). */
ks_status ks_grads_scale_(ks_ctx *c, int n, ks_tensor *const *grads, double coef);

#endif
