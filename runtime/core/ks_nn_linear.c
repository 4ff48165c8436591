/* ks_nn_linear.c: fused linear layer (GEMM through OpenBLAS) and its backward.
 * Under create_graph the backward runs as recording ops (matmul, reshape,
 * sum), so the layer supports double backward. */
#include "ks_grad_ops.h"
#include "ks_grad_views.h"
#include "ks_linalg.h"
#include "ks_nn.h"
#include "ks_threads.h"

#include <string.h>

/* input viewed as [M, in] rows (the product of the leading sizes: in may be 0) */
static int64_t rows_of(const ks_tensor *t)
{
    int64_t m = 1;
    for (int i = 0; i + 1 < t->ndim; i++) m *= t->size[i];
    return m;
}

/* C[M, N] = op(A)[M, K] @ op(B)[K, N] + beta * C (row-major, M, N, K > 0),
 * through ks_gemm_f32_sgemm: size-determined blocks on the kshot pool, one
 * single-threaded sgemm each, so the result does not depend on the thread
 * count (ks_linalg.h) */
static ks_status linear_gemm(ks_ctx *c, bool ta, bool tb, int64_t M, int64_t N, int64_t K, const float *A, int64_t lda,
                             const float *B, int64_t ldb, float beta, float *C, int64_t ldc)
{
    return ks_gemm_f32_sgemm(c, ta, tb, M, N, K, A, lda, B, ldb, beta, C, ldc);
}

/* gb[j] = sum over rows i of g[i, j], in row order; 8 columns at a time in
 * registers (a running sum in memory is bound by store forwarding) */
static void bias_grad(int64_t M, int64_t N, const float *g, float *gb)
{
    int64_t j0 = 0;
    for (; j0 + 8 <= N; j0 += 8) {
        float acc[8] = {0};
        for (int64_t i = 0; i < M; i++)
            for (int l = 0; l < 8; l++) acc[l] += g[i * N + j0 + l];
        memcpy(gb + j0, acc, sizeof acc);
    }
    for (int64_t j = j0; j < N; j++) {
        float s = 0.0f;
        for (int64_t i = 0; i < M; i++) s += g[i * N + j];
        gb[j] = s;
    }
}

/* dx = g @ w, dw = g2^T @ x2 (rows flattened), db = g summed over all but the last dim, recorded */
static ks_status linear_backward_recorded(ks_ctx *c, ks_node *n, ks_tensor *g, ks_tensor **gin)
{
    ks_tensor *x = NULL, *w = NULL, *g2 = NULL, *gt = NULL, *x2 = NULL;
    ks_status st;
    if ((st = ks_ag_saved_input(c, n, 0, 0, &x)) || (st = ks_ag_saved_input(c, n, 1, 1, &w))) goto done;
    int64_t N = w->size[0], K = w->size[1], M = rows_of(x);
    if (n->needs_grad[0] && (st = ks_ag_matmul(c, g, w, &gin[0]))) goto done;
    if (n->needs_grad[1]) {
        int64_t gs[2] = {M, N}, xs[2] = {M, K};
        if ((st = ks_ag_reshape(c, g, 2, gs, &g2)) || (st = ks_ag_transpose(c, g2, 0, 1, &gt)) ||
            (st = ks_ag_reshape(c, x, 2, xs, &x2)) || (st = ks_ag_matmul(c, gt, x2, &gin[1])))
            goto done;
    }
    if (n->needs_grad[2]) {
        int dims[KS_MAX_DIMS], nd = g->ndim - 1;
        for (int d = 0; d < nd; d++) dims[d] = d;
        if (nd == 0) gin[2] = ks_tensor_retain(g);
        else st = ks_ag_reduce(c, KS_AG_SUM, g, nd, dims, false, &gin[2]);
    }
done:
    ks_tensor_release(x); ks_tensor_release(w); ks_tensor_release(g2);
    ks_tensor_release(gt); ks_tensor_release(x2);
    return st;
}

static ks_status linear_backward(ks_ctx *c, ks_node *n, ks_tensor *const *gout, ks_tensor **gin)
{
    if (c->grad_enabled) return linear_backward_recorded(c, n, gout[0], gin);
    ks_tensor *x, *w, *g = NULL;
    ks_status st;
    if ((st = ks_node_get_saved(c, n, 0, &x)) || (st = ks_node_get_saved(c, n, 1, &w))) return st;
    if ((st = ks_contiguous(c, gout[0], &g))) return st;
    int64_t M = rows_of(x), K = w->size[1], N = w->size[0];
    const float *gp = ks_tensor_data(g), *xp = ks_tensor_data(x), *wp = ks_tensor_data(w);
    if (n->needs_grad[0] && !(st = ks_tensor_empty(c, KS_FLOAT32, n->in_ndim[0], n->in_size[0], &gin[0]))) {
        /* dx[M, K] = g[M, N] @ w[N, K] */
        if (M && K) {
            if (N) st = linear_gemm(c, false, false, M, K, N, gp, N, wp, K, 0.0f, ks_tensor_data(gin[0]), K);
            else memset(ks_tensor_data(gin[0]), 0, (size_t)(M * K) * sizeof(float));
        }
    }
    if (!st && n->needs_grad[1] && !(st = ks_tensor_empty(c, KS_FLOAT32, 2, w->size, &gin[1]))) {
        /* dw[N, K] = g^T[N, M] @ x[M, K] */
        if (M && N && K) st = linear_gemm(c, true, false, N, K, M, gp, N, xp, K, 0.0f, ks_tensor_data(gin[1]), K);
        else if (N && K) memset(ks_tensor_data(gin[1]), 0, (size_t)(N * K) * sizeof(float));
    }
    if (!st && n->needs_grad[2] && !(st = ks_tensor_empty(c, KS_FLOAT32, 1, &N, &gin[2]))) {
        bias_grad(M, N, gp, ks_tensor_data(gin[2]));
    }
    ks_tensor_release(g);
    return st;
}

static const ks_op_def op_linear = {"LinearBackward", linear_backward};

static ks_status check_linear(ks_ctx *c, const ks_tensor *x, const ks_tensor *w, const ks_tensor *b)
{
    char a[160], bb[160], cc[160];
    if (x->dtype != KS_FLOAT32 || w->dtype != KS_FLOAT32 || (b && b->dtype != KS_FLOAT32))
        return ks_error(c, KS_ETYPE, "linear: expected float32 input, weight and bias (got %s, %s, %s)%s",
                        ks_dtype_name(x->dtype), ks_dtype_name(w->dtype), b ? ks_dtype_name(b->dtype) : "none",
                        x->dtype != KS_FLOAT32 ? "; convert the input with x:float()" : "");
    if (w->ndim != 2 || x->ndim < 1 || x->size[x->ndim - 1] != w->size[1])
        return ks_error(c, KS_ESHAPE, "linear: input of shape %s does not match weight of shape %s (expected [*, %lld])",
                        ks_shape_str(x, a, sizeof a), ks_shape_str(w, bb, sizeof bb),
                        (long long)(w->ndim == 2 ? w->size[1] : -1));
    if (b && (b->ndim != 1 || b->size[0] != w->size[0]))
        return ks_error(c, KS_ESHAPE, "linear: bias of shape %s does not match weight of shape %s (expected [%lld])",
                        ks_shape_str(b, cc, sizeof cc), ks_shape_str(w, bb, sizeof bb), (long long)w->size[0]);
    return KS_OK;
}

static ks_status record_linear(ks_ctx *c, ks_tensor *x, ks_tensor *w, ks_tensor *b, ks_tensor *xc, ks_tensor *wc,
                               ks_tensor *out)
{
    ks_tensor *ins[3] = {x, w, b};
    if (!ks_ag_needs_record(c, 3, ins)) return KS_OK;
    ks_node *n = ks_node_new(c, &op_linear, 3, ins);
    if (!n) return KS_ENOMEM;
    n->double_backward = true;
    ks_status st = ks_node_save(c, n, xc);
    if (!st) st = ks_node_save(c, n, wc);
    if (!st) ks_node_set_output(n, 0, out);
    ks_node_release(n);
    return st;
}

ks_status ks_nn_linear(ks_ctx *c, ks_tensor *input, ks_tensor **out, ks_tensor *weight, ks_tensor *bias)
{
    ks_status st = check_linear(c, input, weight, bias);
    if (st) return st;
    ks_tensor *x = NULL, *w = NULL, *y = NULL;
    if ((st = ks_contiguous(c, input, &x)) || (st = ks_contiguous(c, weight, &w))) goto done;
    int64_t size[KS_MAX_DIMS];
    memcpy(size, input->size, sizeof size);
    int64_t M = rows_of(x), K = w->size[1], N = w->size[0];
    size[input->ndim - 1] = N;
    if ((st = ks_tensor_empty(c, KS_FLOAT32, input->ndim, size, &y))) goto done;
    float *yp = ks_tensor_data(y);
    if (bias && M) { /* y starts as the bias rows; the GEMM adds x @ w^T (beta = 1) */
        const float *bp = ks_tensor_data(bias);
        int64_t bs = bias->stride[0];
        for (int64_t j = 0; j < N; j++) yp[j] = bp[j * bs];
        for (int64_t i = 1; i < M; i++) memcpy(yp + i * N, yp, (size_t)N * sizeof(float));
    }
    if (M && N) {
        if (K) st = linear_gemm(c, false, true, M, N, K, ks_tensor_data(x), K, ks_tensor_data(w), K,
                                     bias ? 1.0f : 0.0f, yp, N);
        else if (!bias) memset(yp, 0, (size_t)(M * N) * sizeof(float));
        if (st) goto done;
    }
    if ((st = record_linear(c, input, weight, bias, x, w, y))) goto done;
    *out = y;
    y = NULL;
done:
    ks_tensor_release(x);
    ks_tensor_release(w);
    ks_tensor_release(y);
    return st;
}
