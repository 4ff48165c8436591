/* ks_iter.c: broadcasting strided iteration with dimension coalescing. */
#include "ks_iter.h"

#include <string.h>

ks_status ks_iter_init(ks_ctx *c, ks_iter *it, int nops, ks_tensor *const *ops)
{
    const ks_tensor *o = ops[0];
    int64_t size[KS_MAX_DIMS], stride[KS_MAX_DIMS][KS_ITER_MAX_OPS];
    int nd = o->ndim;
    it->nops = nops;
    it->numel = o->numel;
    for (int j = 0; j < nops; j++) {
        const ks_tensor *t = ops[j];
        int64_t isz = (int64_t)ks_dtype_size(t->dtype);
        it->data[j] = ks_tensor_data(t);
        if (t->ndim > nd) goto bad;
        for (int d = 0; d < nd; d++) {
            int k = d - (nd - t->ndim);
            if (k < 0 || t->size[k] == 1) {
                stride[d][j] = 0;
            } else if (t->size[k] == o->size[d]) {
                stride[d][j] = t->stride[k] * isz;
            } else {
            bad:;
                char a[160], b[160];
                return ks_error(c, KS_ESHAPE, "shape %s cannot be broadcast to %s", ks_shape_str(t, a, sizeof a),
                                ks_shape_str(o, b, sizeof b));
            }
        }
    }
    memcpy(size, o->size, sizeof size);
    /* drop size-1 dims, then merge dim d into d-1 when contiguous for all operands */
    int n = 0;
    for (int d = 0; d < nd; d++) {
        if (size[d] == 1) continue;
        if (n > 0) {
            bool merge = true;
            for (int j = 0; j < nops; j++)
                if (it->stride[n - 1][j] != stride[d][j] * size[d]) { merge = false; break; }
            if (merge) {
                it->size[n - 1] *= size[d];
                for (int j = 0; j < nops; j++) it->stride[n - 1][j] = stride[d][j];
                continue;
            }
        }
        it->size[n] = size[d];
        for (int j = 0; j < nops; j++) it->stride[n][j] = stride[d][j];
        n++;
    }
    if (n == 0) {
        it->size[0] = 1;
        for (int j = 0; j < nops; j++) it->stride[0][j] = 0;
        n = 1;
    }
    it->ndim = n;
    return KS_OK;
}

bool ks_iter_inner_contiguous(const ks_iter *it, const size_t *itemsizes)
{
    for (int j = 0; j < it->nops; j++)
        if (it->stride[it->ndim - 1][j] != (int64_t)itemsizes[j]) return false;
    return true;
}

void ks_iter_run(const ks_iter *it, int64_t begin, int64_t end, ks_loop_fn loop, void *arg)
{
    if (begin >= end) return; /* empty tensors have a size-0 dim: no modulo by it */
    int nd = it->ndim, nops = it->nops;
    int64_t inner = it->size[nd - 1];
    int64_t idx[KS_MAX_DIMS];
    char *ptr[KS_ITER_MAX_OPS];
    const int64_t *istr = it->stride[nd - 1];
    /* decompose begin into a multi-index */
    int64_t rem = begin;
    for (int d = nd - 1; d >= 0; d--) {
        idx[d] = rem % it->size[d];
        rem /= it->size[d];
    }
    int64_t pos = begin;
    while (pos < end) {
        for (int j = 0; j < nops; j++) {
            char *p = it->data[j];
            for (int d = 0; d < nd; d++) p += idx[d] * it->stride[d][j];
            ptr[j] = p;
        }
        int64_t n = inner - idx[nd - 1];
        if (n > end - pos) n = end - pos;
        loop(ptr, istr, n, arg);
        pos += n;
        /* advance the multi-index by n (the inner dim wraps at most once) */
        idx[nd - 1] += n;
        for (int d = nd - 1; d > 0 && idx[d] >= it->size[d]; d--) {
            idx[d] = 0;
            idx[d - 1]++;
        }
    }
}

struct iter_job {
    const ks_iter *it;
    ks_loop_fn loop;
    void *arg;
};

static ks_status iter_chunk(void *a, int64_t b, int64_t e)
{
    struct iter_job *j = a;
    ks_iter_run(j->it, b, e, j->loop, j->arg);
    return KS_OK;
}

ks_status ks_iter_parallel(ks_ctx *c, const ks_iter *it, int64_t grain, ks_loop_fn loop, void *arg)
{
    if (it->numel < grain) {
        ks_iter_run(it, 0, it->numel, loop, arg);
        return KS_OK;
    }
    /* chunked even on one thread, so an interrupt is seen between chunks */
    struct iter_job job = {it, loop, arg};
    return ks_parallel_for(c, it->numel, grain, iter_chunk, &job);
}
