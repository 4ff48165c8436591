/* ks_sort.h: sorting and order statistics along a dim (sort, topk,
 * kthvalue, median) and unique.
 *
 * Ordering, for every op here, is PyTorch's sort order made total:
 *  - NaN is larger than every number: last when ascending, first when
 *    descending; -0.0 and 0.0 are equal.
 *  - Equal elements keep their original order in BOTH directions (a stable
 *    sort), so results are deterministic and independent of the thread count.
 *    topk/kthvalue/median pick the same elements a stable sort would.
 * Rows are sorted in parallel (ks_parallel_for over rows); each row is an
 * LSD radix sort of (key, position) pairs -- packed into one 64-bit word for
 * 32-bit keys -- insertion sort for short rows, or a k-element heap when
 * k << size (topk, kthvalue, median).
 *
 * Dims are already normalised ([0, ndim); a 0-d tensor is sorted as one
 * element along dim 0). Outputs are new contiguous tensors: values keep
 * t's dtype, indices are int64. Pass NULL for an output you do not need.
 */
#ifndef KS_SORT_H
#define KS_SORT_H

#include "ks_tensor.h"

/* values, indices of t's shape, sorted along dim */
ks_status ks_sort(ks_ctx *c, ks_tensor *t, int dim, bool descending, ks_tensor **values, ks_tensor **indices);

/* the k largest (largest=true) or smallest elements along dim, in sorted
 * order; 0 <= k <= size(dim) else KS_ERANGE naming k and the size */
ks_status ks_topk(ks_ctx *c, ks_tensor *t, int64_t k, int dim, bool largest, ks_tensor **values,
                  ks_tensor **indices);

/* k-th smallest along dim; k counts from 1 as in PyTorch (1 = minimum).
 * keepdim=false removes dim from the output shape. */
ks_status ks_kthvalue(ks_ctx *c, ks_tensor *t, int64_t k, int dim, bool keepdim, ks_tensor **values,
                      ks_tensor **indices);

/* lower median along dim (element (n-1)/2 of the sorted row); a row holding
 * NaN gives NaN and the index of its first NaN (torch.median). */
ks_status ks_median(ks_ctx *c, ks_tensor *t, int dim, bool keepdim, ks_tensor **values, ks_tensor **indices);
/* lower median of all elements, as a 0-d tensor */
ks_status ks_median_all(ks_ctx *c, ks_tensor *t, ks_tensor **value);

/* The distinct values of t (flattened) in ascending order. Each NaN is
 * distinct (NaN != NaN), as in PyTorch. Optional: inverse (int64, t's
 * shape: position of each element in values) and counts (int64). */
ks_status ks_unique(ks_ctx *c, ks_tensor *t, ks_tensor **values, ks_tensor **inverse, ks_tensor **counts);

#endif
