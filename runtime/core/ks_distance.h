/* ks_distance.h: pairwise distances (torch.cdist).
 *
 * x1 [*, P, M] and x2 [*, R, M], float32, batch dims (*) broadcast
 * together -> out [*, P, R] with out[.., i, j] = ||x1[.., i, :] - x2[.., j, :]||_p.
 * p >= 0: 0 counts the differing coordinates, 1 and 2 are the usual norms,
 * INFINITY is the max norm, other p the general Minkowski distance.
 *
 * p = 2 with P > 25 or R > 25 follows PyTorch's default compute mode:
 * ||a||^2 + ||b||^2 - 2 a.b with one sgemm per batch, clamped at 0 before
 * the square root (fast; like PyTorch, equal points may come out slightly
 * above 0). Everything else is a direct loop with double accumulators.
 * Rows are spread over the pool; results do not depend on the thread count.
 */
#ifndef KS_DISTANCE_H
#define KS_DISTANCE_H

#include "ks_tensor.h"

ks_status ks_cdist(ks_ctx *c, ks_tensor *x1, ks_tensor *x2, double p, ks_tensor **out);

/* Gradients of cdist: grad [*, P, R] (the broadcast batch shape) ->
 * g1 (x1's shape) and g2 (x2's shape), either may be NULL. Distances are
 * recomputed directly; where a distance is 0 the gradient is 0 (p > 1 and
 * p = 2), as in PyTorch; p = inf sends the gradient to every coordinate
 * reaching the max. */
ks_status ks_cdist_backward(ks_ctx *c, ks_tensor *x1, ks_tensor *x2, double p, ks_tensor *grad, ks_tensor **g1,
                            ks_tensor **g2);

#endif
