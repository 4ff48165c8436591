/* ks_iter.h: strided, broadcasting iteration over up to four operands.
 *
 * The iteration shape is the shape of operand 0 (usually the output). Every
 * other operand must broadcast to it (callers check with
 * ks_broadcast_shapes first); broadcast dims get stride 0. Dims of size 1
 * are dropped and dims contiguous in every operand are merged, so an
 * all-contiguous iteration is one flat inner loop.
 *
 * Inner loops receive byte strides, as in PyTorch's TensorIterator:
 *   loop(data, strides, n, arg): for k in [0, n): op(data[j] + k*strides[j])
 * A loop is called for a run of the innermost dimension (or part of one
 * when a parallel chunk boundary cuts it).
 */
#ifndef KS_ITER_H
#define KS_ITER_H

#include "ks_tensor.h"
#include "ks_threads.h"

#define KS_ITER_MAX_OPS 4

typedef struct ks_iter {
    int nops;
    int ndim;                                    /* >= 1 after coalescing */
    int64_t numel;
    int64_t size[KS_MAX_DIMS];                   /* outer .. inner */
    int64_t stride[KS_MAX_DIMS][KS_ITER_MAX_OPS]; /* bytes, per dim per operand */
    char *data[KS_ITER_MAX_OPS];
} ks_iter;

typedef void (*ks_loop_fn)(char **data, const int64_t *strides, int64_t n, void *arg);

/* Prepare an iteration over ops[0]'s shape. Fails if an operand does not
 * broadcast (message names both shapes). */
ks_status ks_iter_init(ks_ctx *c, ks_iter *it, int nops, ks_tensor *const *ops);
/* Run loop over linear elements [begin, end) of the iteration (row-major). */
void ks_iter_run(const ks_iter *it, int64_t begin, int64_t end, ks_loop_fn loop, void *arg);
/* Run the whole iteration, split across the pool when numel >= grain. */
ks_status ks_iter_parallel(ks_ctx *c, const ks_iter *it, int64_t grain, ks_loop_fn loop, void *arg);
/* True when every operand's inner stride equals its element size (the flat fast path). */
bool ks_iter_inner_contiguous(const ks_iter *it, const size_t *itemsizes);

/* Default grain for elementwise loops: below this, no threads. */
#define KS_GRAIN_ELEMENTWISE 32768

#endif
