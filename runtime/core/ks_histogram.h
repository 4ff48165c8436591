/* ks_histogram.h: counting values into bins (torch.histc) and finding their
 * places in sorted sequences (torch.searchsorted / torch.bucketize).
 * Stateless kernels with no autograd (torch has no gradient for them either):
 * each makes a new result tensor in one pass over its input. Elements of any
 * dtype are read as numbers (float32, int64, uint8, bool); single-threaded
 * (the answers are counts and positions, the same at any thread count).
 */
#ifndef KS_HISTOGRAM_H
#define KS_HISTOGRAM_H

#include "ks_tensor.h"

/* *out = a new float32 [bins] histogram of t's elements (t flattened, read as
 * float32) over bins equal bins spanning [lo, hi]: element x counts in bin
 * (int)((x - lo) * bins / (hi - lo)) computed in float32 as torch 1.13 does,
 * x == hi in the last bin, x outside [lo, hi] and NaN not counted.
 * lo == hi: t's own min and max (NaN skipped) are used; when those are equal
 * too (or t is empty) the range is [lo - 1, hi + 1], as torch.histc.
 * KS_EINVAL: bins < 1, lo > hi, or lo / hi not finite. */
ks_status ks_histc(ks_ctx *c, ks_tensor *t, int64_t bins, double lo, double hi, ks_tensor **out);

/* *out = a new int64 tensor of values' shape: for each value v, the index at
 * which v would be inserted into the ascending sequence seq keeping it sorted;
 * right = false: the first such index (the count of elements < v), right =
 * true: the last (the count of elements <= v). seq is 1-D [M] (every value
 * searches it), or [..., M] with values [..., K] of the same leading sizes
 * (each row of values searches its row of seq). Binary search as torch's, so
 * a NaN value lands at M; seq is not checked to be sorted (an unsorted seq
 * gives some index in [0, M], as torch). Values compare as int64 when both
 * tensors are int64, else as double. KS_ESHAPE: seq 0-d, or rows that do not
 * match (message names both shapes). */
ks_status ks_searchsorted(ks_ctx *c, ks_tensor *seq, ks_tensor *values, bool right, ks_tensor **out);

#endif
