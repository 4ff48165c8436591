/* ks_grad_linalg.c: autograd for matmul (all of PyTorch's rank cases and
 * batch broadcasting). With A = a as a matrix ([1, k] for a vector) and
 * B = b as a matrix ([k, 1] for a vector), G = the gradient viewed as
 * [batch..., n, m]:  dA = G @ B^T,  dB = A^T @ G, each summed over the
 * broadcast batch dims and reshaped back to the operand's own shape.
 * Every step is a recording op, so create_graph (double backward) works. */
#include "ks_grad_ops.h"
#include "ks_grad_views.h"
#include "ks_linalg.h"

#include <string.h>

#define TRY(x)                              \
    do {                                    \
        if ((st = (x)) != KS_OK) goto done; \
    } while (0)

/* the operand as a matrix (batch dims kept) */
static ks_status as_matrix(ks_ctx *c, ks_tensor *t, bool is_left, ks_tensor **out)
{
    if (t->ndim >= 2) { *out = ks_tensor_retain(t); return KS_OK; }
    return ks_ag_unsqueeze(c, t, is_left ? 0 : 1, out);
}

static ks_status transpose_last(ks_ctx *c, ks_tensor *t, ks_tensor **out)
{
    return ks_ag_transpose(c, t, t->ndim - 2, t->ndim - 1, out);
}

static ks_status matmul_backward(ks_ctx *c, ks_node *n, ks_tensor *const *gout, ks_tensor **gin)
{
    ks_tensor *a = NULL, *b = NULL, *A = NULL, *B = NULL, *G = NULL, *T = NULL, *P = NULL, *S = NULL;
    ks_status st;
    TRY(ks_ag_saved_input(c, n, 0, 0, &a));
    TRY(ks_ag_saved_input(c, n, 1, 1, &b));
    TRY(as_matrix(c, a, true, &A));
    TRY(as_matrix(c, b, false, &B));
    /* G: the output's shape with the vector dims put back */
    ks_tensor *g = gout[0];
    int64_t size[KS_MAX_DIMS];
    int nd = g->ndim;
    memcpy(size, g->size, sizeof size);
    if (a->ndim == 1) { /* n = 1 was removed before the last dim (or the only dim) */
        int pos = b->ndim == 1 ? nd : nd - 1;
        memmove(size + pos + 1, size + pos, (size_t)(nd - pos) * sizeof *size);
        size[pos] = 1;
        nd++;
    }
    if (b->ndim == 1) size[nd++] = 1;
    TRY(ks_ag_reshape(c, g, nd, size, &G));
    for (int k = 0; k < 2; k++) {
        if (!n->needs_grad[k]) continue;
        ks_tensor *op = k == 0 ? B : A, *want = k == 0 ? A : B;
        TRY(transpose_last(c, op, &T));
        TRY(k == 0 ? ks_ag_matmul(c, G, T, &P) : ks_ag_matmul(c, T, G, &P));
        TRY(ks_ag_sum_to_shape(c, P, want->ndim, want->size, &S));
        TRY(ks_ag_reshape(c, S, n->in_ndim[k], n->in_size[k], &gin[k]));
        ks_tensor_release(T); T = NULL;
        ks_tensor_release(P); P = NULL;
        ks_tensor_release(S); S = NULL;
    }
done:
    ks_tensor_release(a); ks_tensor_release(b);
    ks_tensor_release(A); ks_tensor_release(B); ks_tensor_release(G);
    ks_tensor_release(T); ks_tensor_release(P); ks_tensor_release(S);
    return st;
}

static const ks_op_def op_matmul = {"MmBackward", matmul_backward};

ks_status ks_ag_matmul(ks_ctx *c, ks_tensor *a, ks_tensor *b, ks_tensor **out)
{
    ks_tensor *r = NULL;
    ks_status st = ks_matmul(c, a, b, &r);
    if (st) return st;
    ks_tensor *ins[2] = {a, b};
    if (r->dtype == KS_FLOAT32 && ks_ag_needs_record(c, 2, ins)) {
        ks_node *n = ks_node_new(c, &op_matmul, 2, ins);
        if (!n) { ks_tensor_release(r); return KS_ENOMEM; }
        n->double_backward = true;
        st = ks_node_save(c, n, a);
        if (!st) st = ks_node_save(c, n, b);
        if (!st) ks_node_set_output(n, 0, r);
        ks_node_release(n);
        if (st) { ks_tensor_release(r); return st; }
    }
    *out = r;
    return KS_OK;
}

/* mm, bmm, mv, dot: matmul restricted to fixed ranks; outer: a column times a row */
static ks_status check_ranks(ks_ctx *c, const char *name, const ks_tensor *a, const ks_tensor *b, int ra, int rb)
{
    if (a->ndim == ra && b->ndim == rb) return KS_OK;
    char x[160], y[160];
    return ks_error(c, KS_ESHAPE, "%s: expected %d-D and %d-D tensors, got %s and %s", name, ra, rb,
                    ks_shape_str(a, x, sizeof x), ks_shape_str(b, y, sizeof y));
}

ks_status ks_ag_mm(ks_ctx *c, ks_ag_mm_kind kind, ks_tensor *a, ks_tensor *b, ks_tensor **out)
{
    static const char *names[] = {"mm", "bmm", "mv", "dot"};
    static const int ranks[][2] = {{2, 2}, {3, 3}, {2, 1}, {1, 1}};
    ks_tensor *ins[2] = {a, b};
    if (!ks_ag_needs_record(c, 2, ins)) {
        switch (kind) {
        case KS_AG_MM: return ks_mm(c, a, b, out);
        case KS_AG_BMM: return ks_bmm(c, a, b, out);
        case KS_AG_MV: return ks_mv(c, a, b, out);
        default: return ks_dot(c, a, b, out);
        }
    }
    ks_status st = check_ranks(c, names[kind], a, b, ranks[kind][0], ranks[kind][1]);
    if (st) return st;
    if (kind == KS_AG_BMM && a->size[0] != b->size[0]) {
        char x[160], y[160];
        return ks_error(c, KS_ESHAPE, "bmm: batch sizes differ: %s and %s", ks_shape_str(a, x, sizeof x),
                        ks_shape_str(b, y, sizeof y));
    }
    return ks_ag_matmul(c, a, b, out);
}

ks_status ks_ag_outer(ks_ctx *c, ks_tensor *a, ks_tensor *b, ks_tensor **out)
{
    ks_tensor *ins[2] = {a, b};
    if (!ks_ag_needs_record(c, 2, ins)) return ks_outer(c, a, b, out);
    ks_status st = check_ranks(c, "outer", a, b, 1, 1);
    if (st) return st;
    ks_tensor *u = NULL, *v = NULL;
    int64_t d1 = 1, d0 = 0;
    if ((st = ks_unsqueeze(c, a, 1, &u)) || (st = ks_ag_record_view(c, KS_VIEW_UNSQUEEZE, &d1, 1, a, u)) ||
        (st = ks_unsqueeze(c, b, 0, &v)) || (st = ks_ag_record_view(c, KS_VIEW_UNSQUEEZE, &d0, 1, b, v)))
        goto done;
    st = ks_ag_matmul(c, u, v, out);
done:
    ks_tensor_release(u);
    ks_tensor_release(v);
    return st;
}

ks_status ks_ag_addmm(ks_ctx *c, ks_tensor *input, ks_tensor *a, ks_tensor *b, double beta, double alpha,
                      ks_tensor **out)
{
    ks_tensor *ins[3] = {input, a, b};
    if (!ks_ag_needs_record(c, 3, ins)) return ks_addmm(c, input, a, b, beta, alpha, out);
    ks_status st = check_ranks(c, "addmm", a, b, 2, 2);
    if (st) return st;
    ks_tensor *p = NULL, *q = NULL;
    ks_scalar sa = ks_scalar_float(alpha);
    if ((st = ks_ag_matmul(c, a, b, &p))) return st;
    st = ks_ag_binary(c, KS_OP_MUL, ks_op_tensor(input), ks_op_scalar(ks_scalar_float(beta)), NULL, &q);
    if (!st) st = ks_ag_binary(c, KS_OP_ADD, ks_op_tensor(q), ks_op_tensor(p), &sa, out);
    ks_tensor_release(p);
    ks_tensor_release(q);
    return st;
}
