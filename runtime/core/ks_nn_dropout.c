/* ks_nn_dropout.c: dropout and embedding lookups, forward and backward.
 * Under create_graph both gradients record (double backward): dropout's is
 * g times the saved mask (the same mask again), embedding's a recorded
 * index_add of g's rows (whose gradient is their index_select). */
#include "ks_grad_ops.h"
#include "ks_grad_select.h"
#include "ks_grad_views.h"
#include "ks_nn.h"
#include "ks_random.h"
#include "ks_threads.h"

/* -O2's "very cheap" vectoriser cost model leaves the mask loop scalar */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("vect-cost-model=dynamic")
#endif

#include <math.h>
#include <string.h>

/* Forward and backward run over chunks of 4-element Philox blocks: element
 * i's draw depends only on (seed, start + i/4), so the mask is the same for
 * any thread count and the same as a serial fill. */
#define DROPOUT_GRAIN 16384 /* elements per parallel chunk (a multiple of 4) */

struct dropout_job {
    uint64_t seed, start;
    uint32_t threshold; /* keep iff the draw's top 24 bits >= threshold */
    float scale;
    int64_t numel;
    const float *x;
    float *y, *mask;
};

/* keep when ks_u32_to_unit(w) >= p: (w >> 8) * 2^-24 >= p is exact in
 * integers as (w >> 8) >= ceil(p * 2^24) (p is a float, the scaling exact) */
static uint32_t keep_threshold(float p) { return (uint32_t)ceil((double)p * 16777216.0); }

/* draws go to a small buffer first so the keep/scale loop is branch-free
 * and vectorises (a branch on random bits mispredicts half the time) */
#define DROPOUT_RUN 64 /* blocks per buffer */

static ks_status dropout_chunk(void *arg, int64_t b0, int64_t b1)
{
    const struct dropout_job *j = arg;
    uint32_t w[4 * DROPOUT_RUN];
    for (int64_t r0 = b0; r0 < b1; r0 += DROPOUT_RUN) {
        int64_t nb = b1 - r0 < DROPOUT_RUN ? b1 - r0 : DROPOUT_RUN;
        for (int64_t k = 0; k < nb; k++) ks_philox(j->seed, j->start + (uint64_t)(r0 + k), w + 4 * k);
        int64_t i0 = 4 * r0, n = j->numel - i0 < 4 * nb ? j->numel - i0 : 4 * nb;
        const float *restrict x = j->x + i0;
        float *restrict m = j->mask + i0, *restrict y = j->y + i0;
        uint32_t t = j->threshold, sbits;
        memcpy(&sbits, &j->scale, sizeof sbits);
        for (int64_t k = 0; k < n; k++) {
            uint32_t kb = (0u - (uint32_t)((w[k] >> 8) >= t)) & sbits; /* scale or +0 as bits */
            float keep;
            memcpy(&keep, &kb, sizeof keep);
            m[k] = keep;
            y[k] = x[k] * keep;
        }
    }
    return KS_OK;
}

/* saved: 0 the scaled keep mask (0 or 1/(1-p)) */
struct dropout_bwd_job {
    const float *m, *g;
    float *dx;
};

static ks_status dropout_backward_chunk(void *arg, int64_t i0, int64_t i1)
{
    const struct dropout_bwd_job *j = arg;
    const float *restrict m = j->m, *restrict g = j->g;
    float *restrict dx = j->dx;
    for (int64_t i = i0; i < i1; i++) dx[i] = g[i] * m[i];
    return KS_OK;
}

static ks_status dropout_backward(ks_ctx *c, ks_node *n, ks_tensor *const *gout, ks_tensor **gin)
{
    ks_tensor *mask, *g, *r;
    ks_status st = ks_node_get_saved(c, n, 0, &mask);
    if (st) return st;
    /* create_graph: g * mask recorded, the same mask (a constant) at every order */
    if (c->grad_enabled) return ks_ag_binary(c, KS_OP_MUL, ks_op_tensor(gout[0]), ks_op_tensor(mask), NULL, &gin[0]);
    if ((st = ks_contiguous(c, gout[0], &g))) return st;
    if ((st = ks_tensor_empty(c, KS_FLOAT32, n->in_ndim[0], n->in_size[0], &r))) { ks_tensor_release(g); return st; }
    struct dropout_bwd_job j = {ks_tensor_data(mask), ks_tensor_data(g), ks_tensor_data(r)};
    if (r->numel) st = ks_parallel_for(c, r->numel, 4 * DROPOUT_GRAIN, dropout_backward_chunk, &j);
    ks_tensor_release(g);
    if (st) { ks_tensor_release(r); return st; }
    gin[0] = r;
    return KS_OK;
}

static const ks_op_def op_dropout = {"DropoutBackward", dropout_backward};

ks_status ks_nn_dropout(ks_ctx *c, ks_tensor *input, ks_tensor **out, double p, bool training)
{
    if (!(p >= 0 && p <= 1)) return ks_error(c, KS_EINVAL, "dropout probability has to be between 0 and 1, but got %g", p);
    if (input->dtype != KS_FLOAT32) return ks_error(c, KS_ETYPE, "dropout: expected a float32 input, got %s", ks_dtype_name(input->dtype));
    if (!training || p == 0) { /* identity, as PyTorch returns the input itself */
        *out = ks_tensor_retain(input);
        return KS_OK;
    }
    ks_tensor *x = NULL, *y = NULL, *mask = NULL;
    ks_status st;
    if ((st = ks_contiguous(c, input, &x)) || (st = ks_tensor_empty(c, KS_FLOAT32, x->ndim, x->size, &y)) ||
        (st = ks_tensor_empty(c, KS_FLOAT32, x->ndim, x->size, &mask)))
        goto done;
    int64_t nblocks = (x->numel + 3) / 4;
    struct dropout_job j = {.seed = c->gen->seed, .start = ks_generator_take(c->gen, (uint64_t)nblocks),
                            .threshold = keep_threshold((float)p), .scale = p < 1 ? (float)(1.0 / (1.0 - p)) : 0.0f,
                            .numel = x->numel, .x = ks_tensor_data(x), .y = ks_tensor_data(y), .mask = ks_tensor_data(mask)};
    if (nblocks && (st = ks_parallel_for(c, nblocks, DROPOUT_GRAIN / 4, dropout_chunk, &j))) goto done;
    ks_node *n;
    if ((st = ks_ag_record(c, &op_dropout, 1, &input, 1, &mask, y, &n))) goto done;
    if (n) n->double_backward = true; /* dropout_backward records under create_graph */
    *out = y;
    y = NULL;
done:
    ks_tensor_release(x);
    ks_tensor_release(y);
    ks_tensor_release(mask);
    return st;
}

/* ------------------------------------------------------------ embedding */
/* g's rows (as [N, D]) times a constant 0/1 column that drops the rows of
 * padding_idx (g's rows themselves when no index is padding_idx), recorded */
static ks_status embedding_rows(ks_ctx *c, ks_node *n, ks_tensor *idx, ks_tensor *g, ks_tensor **out)
{
    int64_t N = idx->numel, shape[2] = {N, n->in_size[1][1]}, col[2] = {N, 1};
    const int64_t *ip = ks_tensor_data(idx);
    bool padded = false;
    for (int64_t k = 0; k < N; k++) padded |= ip[k] == n->i[0];
    ks_tensor *rows = NULL, *keep = NULL;
    ks_status st = ks_ag_reshape(c, g, 2, shape, &rows);
    if (st || !padded) { *out = rows; return st; }
    if (!(st = ks_tensor_empty(c, KS_FLOAT32, 2, col, &keep))) {
        float *kp = ks_tensor_data(keep);
        for (int64_t k = 0; k < N; k++) kp[k] = ip[k] == n->i[0] ? 0.0f : 1.0f;
        st = ks_ag_binary(c, KS_OP_MUL, ks_op_tensor(rows), ks_op_tensor(keep), NULL, out);
    }
    ks_tensor_release(rows);
    ks_tensor_release(keep);
    return st;
}

/* embedding's backward under create_graph: index_add of the rows into zeros, recorded */
static ks_status embedding_backward_recorded(ks_ctx *c, ks_node *n, ks_tensor *idx, ks_tensor *g, ks_tensor **gin)
{
    int64_t N = idx->numel;
    ks_tensor *rows = NULL, *flat = NULL, *z = NULL;
    ks_status st;
    if (!(st = embedding_rows(c, n, idx, g, &rows)) && !(st = ks_reshape(c, idx, 1, &N, &flat)) &&
        !(st = ks_tensor_empty(c, KS_FLOAT32, n->in_ndim[1], n->in_size[1], &z))) {
        memset(ks_tensor_data(z), 0, (size_t)z->numel * sizeof(float));
        st = ks_ag_index_add(c, z, 0, flat, rows, 1.0, &gin[1]);
    }
    ks_tensor_release(rows);
    ks_tensor_release(flat);
    ks_tensor_release(z);
    return st;
}

/* saved: 0 indices (contiguous int64). i[0] padding_idx. Rows accumulate in index order: deterministic. */
static ks_status embedding_backward(ks_ctx *c, ks_node *n, ks_tensor *const *gout, ks_tensor **gin)
{
    ks_tensor *idx, *g, *r;
    ks_status st = ks_node_get_saved(c, n, 0, &idx);
    if (st || !n->needs_grad[1]) return st;
    if (c->grad_enabled) return embedding_backward_recorded(c, n, idx, gout[0], gin); /* create_graph */
    if ((st = ks_contiguous(c, gout[0], &g))) return st;
    if ((st = ks_tensor_empty(c, KS_FLOAT32, n->in_ndim[1], n->in_size[1], &r))) { ks_tensor_release(g); return st; }
    int64_t D = n->in_size[1][1];
    float *dw = ks_tensor_data(r);
    const float *gp = ks_tensor_data(g);
    const int64_t *ip = ks_tensor_data(idx);
    memset(dw, 0, (size_t)r->numel * sizeof(float));
    for (int64_t k = 0; k < idx->numel; k++) {
        if (ip[k] == n->i[0]) continue;
        float *row = dw + ip[k] * D;
        for (int64_t d = 0; d < D; d++) row[d] += gp[k * D + d];
    }
    ks_tensor_release(g);
    gin[1] = r;
    return KS_OK;
}

static const ks_op_def op_embedding = {"EmbeddingBackward", embedding_backward};

ks_status ks_nn_embedding(ks_ctx *c, ks_tensor *indices, ks_tensor **out, ks_tensor *weight, int64_t padding_idx)
{
    char a[160];
    if (indices->dtype != KS_INT64)
        return ks_error(c, KS_ETYPE, "embedding: indices must be int64, got %s", ks_dtype_name(indices->dtype));
    if (weight->dtype != KS_FLOAT32 || weight->ndim != 2)
        return ks_error(c, KS_ESHAPE, "embedding: weight must be a float32 matrix [num_embeddings, dim], got %s %s",
                        ks_dtype_name(weight->dtype), ks_shape_str(weight, a, sizeof a));
    if (indices->ndim >= KS_MAX_DIMS) return ks_error(c, KS_EINVAL, "embedding: too many index dimensions");
    ks_tensor *idx = NULL, *w = NULL, *y = NULL;
    ks_status st;
    if ((st = ks_contiguous(c, indices, &idx)) || (st = ks_contiguous(c, weight, &w))) goto done;
    int64_t V = w->size[0], D = w->size[1];
    const int64_t *ip = ks_tensor_data(idx);
    for (int64_t k = 0; k < idx->numel; k++)
        if (ip[k] < 0 || ip[k] >= V) {
            st = ks_error(c, KS_ERANGE, "embedding: index %lld at position %lld is out of range for %lld embeddings",
                          (long long)ip[k], (long long)k, (long long)V);
            goto done;
        }
    int64_t size[KS_MAX_DIMS];
    memcpy(size, idx->size, (size_t)idx->ndim * sizeof *size);
    size[idx->ndim] = D;
    if ((st = ks_tensor_empty(c, KS_FLOAT32, idx->ndim + 1, size, &y))) goto done;
    for (int64_t k = 0; k < idx->numel; k++)
        memcpy((float *)ks_tensor_data(y) + k * D, (const float *)ks_tensor_data(w) + ip[k] * D, (size_t)D * sizeof(float));
    ks_tensor *ins[2] = {indices, weight};
    ks_node *n;
    if ((st = ks_ag_record(c, &op_embedding, 2, ins, 1, &idx, y, &n))) goto done;
    if (n) {
        n->i[0] = padding_idx;
        n->double_backward = true;
    }
    *out = y;
    y = NULL;
done:
    ks_tensor_release(idx);
    ks_tensor_release(w);
    ks_tensor_release(y);
    return st;
}
