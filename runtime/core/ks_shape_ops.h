/* ks_shape_ops.h: joining, splitting and padding tensors (PyTorch's cat,
 * stack, split, chunk, pad, plus repeat, roll, tril and triu).
 *
 * Dims passed here may be negative (counted from the end) and are checked:
 * a bad dim is KS_ERANGE. Shape errors name the offending tensor's index in
 * the list and both shapes. Outputs are new contiguous tensors, except
 * split/chunk, which return views (like PyTorch).
 */
#ifndef KS_SHAPE_OPS_H
#define KS_SHAPE_OPS_H

#include "ks_tensor.h"

/* torch.cat: every tensor has the same shape except along dim; the result
 * dtype promotes over all inputs. 1-D empty tensors are skipped (PyTorch's
 * legacy rule), 0-d tensors are refused. n >= 1. */
ks_status ks_cat(ks_ctx *c, int n, ks_tensor *const *ts, int64_t dim, ks_tensor **out);
/* torch.stack: all shapes equal; dim in [-(ndim+1), ndim]. */
ks_status ks_stack(ks_ctx *c, int n, ks_tensor *const *ts, int64_t dim, ks_tensor **out);

/* torch.split(t, split_size, dim): number of pieces (pieces of split_size
 * along dim, the last may be smaller; split_size 0 only for an empty dim). */
ks_status ks_split_count(ks_ctx *c, const ks_tensor *t, int64_t dim, int64_t split_size, int64_t *n);
/* torch.chunk(t, chunks, dim): the split_size chunk uses (ceil(size/chunks)). */
ks_status ks_chunk_size(ks_ctx *c, const ks_tensor *t, int64_t dim, int64_t chunks, int64_t *split_size);
/* Views of t: pieces of sizes[0..n) along dim; the sizes must be >= 0 and sum
 * to the dim's size. outs[0..n) receive new references (none on failure). */
ks_status ks_split_sizes(ks_ctx *c, ks_tensor *t, int64_t dim, int64_t n, const int64_t *sizes, ks_tensor **outs);

typedef enum ks_pad_mode { KS_PAD_CONSTANT, KS_PAD_REFLECT, KS_PAD_REPLICATE, KS_PAD_CIRCULAR } ks_pad_mode;
/* "constant", "reflect", "replicate", "circular" -> mode; -1 if unknown */
int ks_pad_mode_from_name(const char *name);
/* torch.nn.functional.pad: pads = {left, right} of the last dim, then of the
 * one before, ... (npads even, <= 2*ndim). Constant mode fills with value and
 * accepts negative pads (cropping); reflect needs pads < the dim's size,
 * replicate a non-empty dim, circular pads <= the dim's size. */
ks_status ks_pad(ks_ctx *c, ks_tensor *t, int npads, const int64_t *pads, ks_pad_mode mode, double value,
                 ks_tensor **out);
/* The source index along a dim of size n of the output position i - left
 * (i < 0 or i >= n: in the padding) for the non-constant modes. */
int64_t ks_pad_source(ks_pad_mode mode, int64_t i, int64_t n);

/* torch.Tensor.repeat: nreps >= ndim; extra leading reps add dims. */
ks_status ks_repeat(ks_ctx *c, ks_tensor *t, int nreps, const int64_t *reps, ks_tensor **out);
/* torch.roll: ndims == 0 rolls the flattened tensor (shifts[0]) and keeps the shape. */
ks_status ks_roll(ks_ctx *c, ks_tensor *t, int nshifts, const int64_t *shifts, int ndims, const int64_t *dims,
                  ks_tensor **out);
/* torch.tril / torch.triu of the last two dims (ndim >= 2). */
ks_status ks_tril(ks_ctx *c, ks_tensor *t, int64_t diagonal, ks_tensor **out);
ks_status ks_triu(ks_ctx *c, ks_tensor *t, int64_t diagonal, ks_tensor **out);

#endif
