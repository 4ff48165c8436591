/* ks_nn_dropout.c: dropout and embedding lookups, forward and backward. */
#include "ks_nn.h"
#include "ks_random.h"

#include <string.h>

/* saved: 0 the scaled keep mask (0 or 1/(1-p)) */
static ks_status dropout_backward(ks_ctx *c, ks_node *n, ks_tensor *const *gout, ks_tensor **gin)
{
    ks_tensor *mask, *g, *r;
    ks_status st = ks_node_get_saved(c, n, 0, &mask);
    if (st || (st = ks_contiguous(c, gout[0], &g))) return st;
    if ((st = ks_tensor_empty(c, KS_FLOAT32, n->in_ndim[0], n->in_size[0], &r))) { ks_tensor_release(g); return st; }
    const float *m = ks_tensor_data(mask), *gp = ks_tensor_data(g);
    float *dx = ks_tensor_data(r);
    for (int64_t i = 0; i < r->numel; i++) dx[i] = gp[i] * m[i];
    ks_tensor_release(g);
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
    float *m = ks_tensor_data(mask), *yp = ks_tensor_data(y);
    const float *xp = ks_tensor_data(x);
    float scale = p < 1 ? (float)(1.0 / (1.0 - p)) : 0.0f;
    uint64_t start = ks_generator_take(c->gen, (uint64_t)(x->numel + 3) / 4);
    for (int64_t i = 0; i < x->numel; i += 4) {
        uint32_t w[4];
        ks_philox(c->gen->seed, start + (uint64_t)i / 4, w);
        for (int k = 0; k < 4 && i + k < x->numel; k++) {
            float keep = ks_u32_to_unit(w[k]) >= (float)p ? scale : 0.0f;
            m[i + k] = keep;
            yp[i + k] = xp[i + k] * keep;
        }
    }
    if ((st = ks_ag_record(c, &op_dropout, 1, &input, 1, &mask, y, NULL))) goto done;
    *out = y;
    y = NULL;
done:
    ks_tensor_release(x);
    ks_tensor_release(y);
    ks_tensor_release(mask);
    return st;
}

/* ------------------------------------------------------------ embedding */
/* saved: 0 indices (contiguous int64). i[0] padding_idx. Rows accumulate in index order: deterministic. */
static ks_status embedding_backward(ks_ctx *c, ks_node *n, ks_tensor *const *gout, ks_tensor **gin)
{
    ks_tensor *idx, *g, *r;
    ks_status st = ks_node_get_saved(c, n, 0, &idx);
    if (st || !n->needs_grad[1]) return st;
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
    if (n) n->i[0] = padding_idx;
    *out = y;
    y = NULL;
done:
    ks_tensor_release(idx);
    ks_tensor_release(w);
    ks_tensor_release(y);
    return st;
}
