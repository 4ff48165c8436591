/* ks_fill.h: creation kernels (constant fills, ranges, identity) and random
 * fills drawn from the Philox generator.
 *
 * Fills write through any strided tensor (views included) in row-major
 * logical order and bump its version. Every fill runs through ks_iter /
 * ks_parallel_for.
 *
 * Random fills: value i (row-major position in the tensor) of one fill
 * depends only on (generator seed, first block of the fill, i): uniform,
 * normal and bernoulli use 4 values per 128-bit Philox block (block i/4),
 * randint uses 2 (64 bits each, block i/2). A fill reserves its blocks up
 * front (ks_generator_take), so results are identical for any thread count
 * and the stream continues reproducibly. `g` NULL means the context's
 * default generator (c->gen).
 */
#ifndef KS_FILL_H
#define KS_FILL_H

#include "ks_random.h"
#include "ks_tensor.h"

/* ---- constant fills (any dtype) ----
 * The value must be representable in t's dtype (KS_ERANGE naming the value and
 * the dtype, t untouched): ks_fill_ applies ks_check_fill_value (ks_indexing.h:
 * finite and in range for int64, in (-1, 256) for uint8, fractions truncate),
 * ks_fill_i64_ its exact-integer twin ks_check_fill_i64. As in PyTorch, only
 * scalars are checked: tensor-to-tensor conversions (copy_, :byte(), :long())
 * wrap or saturate like C casts. */
ks_status ks_fill_(ks_ctx *c, ks_tensor *t, double value);
/* exact for int64 values beyond 2^53 */
ks_status ks_fill_i64_(ks_ctx *c, ks_tensor *t, int64_t value);
/* ks_check_fill_value for an integer scalar: any int64 fits int64, float32 and
 * bool; uint8 needs 0..255 (the error is ks_check_fill_value's). */
ks_status ks_check_fill_i64(ks_ctx *c, const char *op, ks_dtype dt, int64_t v);

/* ---- ranges ----
 * arange: ceil((end - start) / step) values start + i*step (computed in
 * double, like PyTorch on CPU); KS_EINVAL when step is 0 or its sign does
 * not lead from start to end, or a bound is not finite. */
ks_status ks_arange(ks_ctx *c, double start, double end, double step, ks_dtype dt, ks_tensor **out);
/* exact integer version (int64 start/end/step) */
ks_status ks_arange_i64(ks_ctx *c, int64_t start, int64_t end, int64_t step, ks_dtype dt, ks_tensor **out);
/* linspace: `steps` (>= 0) values from start to end inclusive, computed as
 * PyTorch does (first half from start, second half back from end, float32
 * arithmetic for float32 output) */
ks_status ks_linspace(ks_ctx *c, double start, double end, int64_t steps, ks_dtype dt, ks_tensor **out);
/* n x m identity (ones on the main diagonal) */
ks_status ks_eye(ks_ctx *c, int64_t n, int64_t m, ks_dtype dt, ks_tensor **out);

/* ---- random fills ----
 * uniform_: [a, b) (float32 only; a <= b); normal_: mean + std * N(0, 1)
 * (float32 only; std >= 0), Box-Muller on each block's two word pairs. */
ks_status ks_uniform_(ks_ctx *c, ks_tensor *t, ks_generator *g, double a, double b);
ks_status ks_normal_(ks_ctx *c, ks_tensor *t, ks_generator *g, double mean, double std);
/* 1 with probability p (in [0, 1]), else 0; any dtype */
ks_status ks_bernoulli_(ks_ctx *c, ks_tensor *t, ks_generator *g, double p);
/* per-element probabilities p (broadcast to t's shape, values in [0, 1]) */
ks_status ks_bernoulli_tensor_(ks_ctx *c, ks_tensor *t, ks_generator *g, const ks_tensor *p);
/* integers uniform in [low, high) (low < high); any dtype */
ks_status ks_randint_(ks_ctx *c, ks_tensor *t, ks_generator *g, int64_t low, int64_t high);
/* a random permutation of 0..n-1 (Fisher-Yates with ks_random_below, exactly uniform) */
ks_status ks_randperm(ks_ctx *c, ks_generator *g, int64_t n, ks_dtype dt, ks_tensor **out);
/* PyTorch's multinomial: probs 1-D [k] or 2-D [rows, k] (non-negative weights,
 * not necessarily normalised); n samples per row -> int64 [n] or [rows, n].
 * Without replacement n must not exceed the number of non-zero weights. */
ks_status ks_multinomial(ks_ctx *c, const ks_tensor *probs, ks_generator *g, int64_t n, bool replacement,
                         ks_tensor **out);

#endif
