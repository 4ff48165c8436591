/* ks_indexing.h: gathering and scattering by index tensors and masks.
 *
 * PyTorch semantics, 0-based. Index tensors are int64; every index value is
 * checked before any element is written (an out-of-range value fails with
 * KS_ERANGE naming the value, the dim and its size, and the destination is
 * untouched). Masks are bool or uint8 (non-zero = selected). Dims are
 * already normalised to [0, ndim) (a 0-d tensor counts as one element along
 * dim 0). In-place ops (trailing _) bump self's version.
 *
 * Determinism: gathers and scatters whose writes are disjoint run in
 * parallel; accumulations into repeated indices (index_add_, scatter_add_)
 * add in index order, so results do not depend on the thread count.
 *
 * Implemented in ks_indexing.c (index_* / gather / scatter), ks_masked.c
 * (masked_* and nonzero) and ks_labels.c (one_hot, bincount).
 */
#ifndef KS_INDEXING_H
#define KS_INDEXING_H

#include "ks_tensor.h"

/* In-place ops refuse a self with internal overlap (a stride-0 dim of size > 1,
 * e.g. from expand): several elements would share one memory location, and
 * the result would depend on the write order (PyTorch refuses them too). */
ks_status ks_check_writable(ks_ctx *c, const char *op, const ks_tensor *self);
/* A scalar written into a tensor of dtype dt must be representable: finite and
 * in range for int64, in [0, 256) for uint8 (fractions truncate); KS_ERANGE
 * naming the value and the dtype otherwise. */
ks_status ks_check_fill_value(ks_ctx *c, const char *op, ks_dtype dt, double v);

/* ---- along one dim with a 1-D (or 0-d) index ---- */
/* out = t with size(dim) = numel(index); out[.., i, ..] = t[.., index[i], ..] */
ks_status ks_index_select(ks_ctx *c, ks_tensor *t, int dim, ks_tensor *index, ks_tensor **out);
/* self[.., index[i], ..] += alpha * source[.., i, ..]; source: self's shape with size(dim) = numel(index),
 * same dtype as self; alpha integral for integer dtypes */
ks_status ks_index_add_(ks_ctx *c, ks_tensor *self, int dim, ks_tensor *index, ks_tensor *source, double alpha);
/* self[.., index[i], ..] = source[.., i, ..] (a repeated index: the last write wins) */
ks_status ks_index_copy_(ks_ctx *c, ks_tensor *self, int dim, ks_tensor *index, ks_tensor *source);
/* self[.., index[i], ..] = value */
ks_status ks_index_fill_(ks_ctx *c, ks_tensor *self, int dim, ks_tensor *index, double value);

/* ---- element-wise along dim (index has the input's number of dims) ---- */
/* out (index's shape)[p with dim = i] = t[p with dim = index[p, i]];
 * index.size(d) <= t.size(d) for d != dim */
ks_status ks_gather(ks_ctx *c, ks_tensor *t, int dim, ks_tensor *index, ks_tensor **out);
/* self[p with dim = index[p, i]] = src[p, i]; index.size(d) <= src.size(d) for all d and
 * <= self.size(d) for d != dim; src has self's dtype */
ks_status ks_scatter_(ks_ctx *c, ks_tensor *self, int dim, ks_tensor *index, ks_tensor *src);
ks_status ks_scatter_value_(ks_ctx *c, ks_tensor *self, int dim, ks_tensor *index, double value);
/* as scatter_ but accumulates: self[p with dim = index[p, i]] += src[p, i] */
ks_status ks_scatter_add_(ks_ctx *c, ks_tensor *self, int dim, ks_tensor *index, ks_tensor *src);

/* ---- masks ---- */
/* 1-D copy of the elements of t where mask is set, t and mask broadcast
 * together, in row-major order of the broadcast shape */
ks_status ks_masked_select(ks_ctx *c, ks_tensor *t, ks_tensor *mask, ks_tensor **out);
/* self[mask] = value; mask broadcasts to self */
ks_status ks_masked_fill_(ks_ctx *c, ks_tensor *self, ks_tensor *mask, double value);
/* self[mask] = the first count(mask) elements of source (row-major, converted to self's dtype) */
ks_status ks_masked_scatter_(ks_ctx *c, ks_tensor *self, ks_tensor *mask, ks_tensor *source);
/* int64 [n, ndim]: coordinates of the non-zero elements (NaN counts as non-zero), row-major */
ks_status ks_nonzero(ks_ctx *c, ks_tensor *t, ks_tensor **out);

/* ---- labels ---- */
/* int64 labels.shape + [num_classes]; num_classes < 0: max(labels) + 1.
 * Negative labels or labels >= num_classes fail naming the label. */
ks_status ks_one_hot(ks_ctx *c, ks_tensor *labels, int64_t num_classes, ks_tensor **out);
/* counts of each value of the 1-D non-negative int64/uint8 t, length max(max(t) + 1, minlength);
 * int64 counts, or float32 sums of weights (same length as t) when weights != NULL */
ks_status ks_bincount(ks_ctx *c, ks_tensor *t, ks_tensor *weights, int64_t minlength, ks_tensor **out);

#endif
