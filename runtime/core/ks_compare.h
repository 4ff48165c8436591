/* ks_compare.h: whole-tensor comparisons that answer one boolean
 * (torch.equal, torch.allclose), and torch.isclose's element-wise answer.
 * No autograd.
 *
 * Both scan with ks_iter_parallel; the answer is an AND over elements, so
 * it does not depend on the thread count. A chunk skips its work once any
 * chunk has found a mismatch.
 */
#ifndef KS_COMPARE_H
#define KS_COMPARE_H

#include "ks_tensor.h"

/* *out = a and b have the same shape and equal elements. Values compare
 * after PyTorch promotion (int64 1 equals float32 1.0); NaN equals nothing.
 * Different shapes give false, not an error (as torch.equal). */
ks_status ks_equal(ks_ctx *c, ks_tensor *a, ks_tensor *b, bool *out);

/* *out = every element of a and b (broadcast together; KS_ESHAPE naming
 * both shapes when they do not broadcast) satisfies
 *     a == b  or  |a - b| <= atol + rtol * |b|  (finite |a - b| only)
 * or, with equal_nan, both are NaN: torch.isclose(...).all(). Computed in
 * double for every dtype. rtol and atol must be >= 0 (KS_EINVAL). */
ks_status ks_allclose(ks_ctx *c, ks_tensor *a, ks_tensor *b, double rtol, double atol, bool equal_nan, bool *out);

/* *out = a new bool tensor of the broadcast shape of a and b (KS_ESHAPE naming
 * both when they do not broadcast): torch.isclose element-wise,
 *     x == y  or  (|x - y| finite and |x - y| <= atol + |rtol * y|)
 * or, with equal_nan, both NaN. Elements are read as float32 (int64, uint8 and
 * bool converted) and the test runs in float32, as torch does for float32
 * tensors, so borderline answers match it. rtol and atol are not checked
 * (the caller's: torch accepts any). One stateless pass, threads above
 * KS_GRAIN_ELEMENTWISE elements. */
ks_status ks_isclose(ks_ctx *c, ks_tensor *a, ks_tensor *b, double rtol, double atol, bool equal_nan,
                     ks_tensor **out);

#endif
