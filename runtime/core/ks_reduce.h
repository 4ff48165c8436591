/* ks_reduce.h: reductions (sum, mean, prod, max/min, arg*, var/std, norm,
 * logsumexp, any/all, count_nonzero) and scans (cumsum, cumprod).
 *
 * Dims: `dims` lists `ndims` dims to reduce (negative ones count from the
 * end, each at most once); ndims == 0 reduces every dim (PyTorch's dim=None
 * or dim=[]). A 0-d tensor accepts dim 0 / -1 and reduces to itself.
 * keepdim keeps reduced dims with size 1. Outputs are new contiguous tensors.
 *
 * Dtypes (PyTorch): sum/prod/cumsum/cumprod of int64, uint8, bool -> int64,
 * of float32 -> float32 (accumulated in double). mean, var, std and norm
 * need float32 (integer input is a KS_ETYPE error, as in PyTorch);
 * logsumexp promotes integers to float32. max/min/amax/amin keep the dtype;
 * indices are int64. any/all -> bool, count_nonzero -> int64.
 *
 * NaN: max/min/amax/amin/argmax/argmin return NaN (and the index of the
 * first NaN) when the reduced elements hold one. Ties: first occurrence.
 * Ops without an identity (max, min, amax, amin, argmax, argmin, inf-norms)
 * fail with KS_EINVAL on an empty reduction.
 *
 * Determinism: each output is reduced in row-major order of the reduced
 * dims, in partials of KS_RED_CHUNK elements combined in order; chunk
 * boundaries depend only on sizes, so results are bit-identical for any
 * thread count. Long kernels return KS_EINTR when interrupted.
 */
#ifndef KS_REDUCE_H
#define KS_REDUCE_H

#include "ks_tensor.h"

/* reduced elements per partial result */
#define KS_RED_CHUNK 16384
/* "no dim" for argmax/argmin: reduce the flattened tensor */
#define KS_NO_DIM (-1000000)

ks_status ks_sum(ks_ctx *c, ks_tensor *t, int ndims, const int *dims, bool keepdim, ks_tensor **out);
ks_status ks_mean(ks_ctx *c, ks_tensor *t, int ndims, const int *dims, bool keepdim, ks_tensor **out);
ks_status ks_prod(ks_ctx *c, ks_tensor *t, int ndims, const int *dims, bool keepdim, ks_tensor **out);
ks_status ks_amax(ks_ctx *c, ks_tensor *t, int ndims, const int *dims, bool keepdim, ks_tensor **out);
ks_status ks_amin(ks_ctx *c, ks_tensor *t, int ndims, const int *dims, bool keepdim, ks_tensor **out);

/* max/min of every element: a 0-d tensor (error on an empty tensor) */
ks_status ks_max_all(ks_ctx *c, ks_tensor *t, ks_tensor **out);
ks_status ks_min_all(ks_ctx *c, ks_tensor *t, ks_tensor **out);
/* max/min along one dim: values (t's dtype) and int64 indices */
ks_status ks_max_dim(ks_ctx *c, ks_tensor *t, int dim, bool keepdim, ks_tensor **values, ks_tensor **indices);
ks_status ks_min_dim(ks_ctx *c, ks_tensor *t, int dim, bool keepdim, ks_tensor **values, ks_tensor **indices);
/* int64 index along dim, or into the flattened tensor when dim == KS_NO_DIM */
ks_status ks_argmax(ks_ctx *c, ks_tensor *t, int dim, bool keepdim, ks_tensor **out);
ks_status ks_argmin(ks_ctx *c, ks_tensor *t, int dim, bool keepdim, ks_tensor **out);

/* sum((x - mean)^2) / max(0, N - correction); correction 1 = unbiased */
ks_status ks_var(ks_ctx *c, ks_tensor *t, int ndims, const int *dims, double correction, bool keepdim,
                 ks_tensor **out);
ks_status ks_std(ks_ctx *c, ks_tensor *t, int ndims, const int *dims, double correction, bool keepdim,
                 ks_tensor **out);
/* both the variance (or standard deviation) and the mean, in one pass over the data */
ks_status ks_var_mean(ks_ctx *c, ks_tensor *t, int ndims, const int *dims, double correction, bool keepdim,
                      ks_tensor **var, ks_tensor **mean);
ks_status ks_std_mean(ks_ctx *c, ks_tensor *t, int ndims, const int *dims, double correction, bool keepdim,
                      ks_tensor **std, ks_tensor **mean);
/* vector p-norm: p = 2, 1, INFINITY (max |x|), -INFINITY (min |x|), 0 (count of
 * non-zeros), other p: (sum |x|^p)^(1/p) */
ks_status ks_norm(ks_ctx *c, ks_tensor *t, double p, int ndims, const int *dims, bool keepdim, ks_tensor **out);
/* log(sum(exp(x))), computed as max + log(sum(exp(x - max))) */
ks_status ks_logsumexp(ks_ctx *c, ks_tensor *t, int ndims, const int *dims, bool keepdim, ks_tensor **out);

ks_status ks_any(ks_ctx *c, ks_tensor *t, int ndims, const int *dims, bool keepdim, ks_tensor **out);
ks_status ks_all(ks_ctx *c, ks_tensor *t, int ndims, const int *dims, bool keepdim, ks_tensor **out);
ks_status ks_count_nonzero(ks_ctx *c, ks_tensor *t, int ndims, const int *dims, bool keepdim, ks_tensor **out);

/* inclusive scans along dim (ks_reduce_scan.c); same shape as t */
ks_status ks_cumsum(ks_ctx *c, ks_tensor *t, int dim, ks_tensor **out);
ks_status ks_cumprod(ks_ctx *c, ks_tensor *t, int dim, ks_tensor **out);
/* cumprod's gradient: out_k = sum_{j>=k} g_j * prod_{i<=j, i!=k} x_i along dim,
 * computed without division (exact where x holds zeros); x and g float32 of
 * the same shape */
ks_status ks_cumprod_backward(ks_ctx *c, ks_tensor *x, ks_tensor *g, int dim, ks_tensor **out);

#endif
