/* ks_cov.c: ks_cov and ks_corrcoef (contract in ks_cov.h), each step the core
 * op the Lua composition calls for it, with the same scalar kinds. */
#include "ks_cov.h"

#include "ks_elementwise.h"
#include "ks_linalg.h"
#include "ks_reduce.h"

/* releases the temporaries of a composition (NULL entries are skipped) */
static void release_all(ks_tensor **ts, int n)
{
    for (int i = 0; i < n; i++) ks_tensor_release(ts[i]);
}

ks_status ks_cov(ks_ctx *c, ks_tensor *x, int64_t correction, ks_tensor **out)
{
    if (x->dtype != KS_FLOAT32) return ks_error(c, KS_ETYPE, "cov: expects float32, got %s", ks_dtype_name(x->dtype));
    if (x->ndim < 1 || x->ndim > 2) return ks_error(c, KS_ESHAPE, "cov: expects a 1-d or 2-d input, got %d dims", x->ndim);
    if (correction < 0) return ks_error(c, KS_EINVAL, "cov: correction must be >= 0, got %lld", (long long)correction);
    enum { V, MEAN, CENTERED, CT, PROD, N };
    ks_tensor *t[N] = {NULL};
    int64_t row[2] = {1, x->size[0]};
    int dim1 = 1;
    ks_status st = x->ndim == 1 ? ks_reshape(c, x, 2, row, &t[V]) : KS_OK; /* x:reshape({1, -1}) */
    ks_tensor *v = x->ndim == 1 ? t[V] : x;
    if (!st) st = ks_mean(c, v, 1, &dim1, true, &t[MEAN]);
    if (!st) st = ks_binary(c, KS_OP_SUB, v, t[MEAN], &t[CENTERED]);
    if (!st) st = ks_transpose(c, t[CENTERED], 0, 1, &t[CT]);
    if (!st) st = ks_matmul(c, t[CENTERED], t[CT], &t[PROD]);
    int64_t n = st ? 0 : v->size[1], denom = n - correction > 0 ? n - correction : 0; /* v is NULL when reshape failed */
    /* in place on the product (fresh, ours): each element divided alone, as into a new tensor */
    if (!st) st = ks_binary_op(c, KS_OP_DIV, ks_op_tensor(t[PROD]), ks_op_scalar(ks_scalar_int(denom)), NULL, t[PROD], NULL);
    if (!st && x->ndim == 1) { /* one variable: the 0-d variance */
        st = ks_reshape(c, t[PROD], 0, NULL, out);
    } else if (!st) {
        *out = t[PROD];
        t[PROD] = NULL;
    }
    release_all(t, N);
    return st;
}

ks_status ks_corrcoef(ks_ctx *c, ks_tensor *x, ks_tensor **out)
{
    enum { COV, DIAG, SD, COL, ROW, N };
    ks_tensor *t[N] = {NULL};
    ks_status st = ks_cov(c, x, 1, &t[COV]);
    if (!st && t[COV]->ndim == 0) {
        st = ks_binary(c, KS_OP_DIV, t[COV], t[COV], out); /* c / c */
        release_all(t, N);
        return st;
    }
    if (st) return st;
    int64_t nv = t[COV]->size[0], dsize = nv, dstride = nv + 1; /* the contiguous cov's diagonal */
    ks_scalar lo = ks_scalar_int(-1), hi = ks_scalar_int(1);
    st = ks_tensor_view_of(c, t[COV], 1, &dsize, &dstride, t[COV]->offset, &t[DIAG]);
    if (!st) st = ks_unary(c, KS_OP_SQRT, t[DIAG], NULL, &t[SD]);
    if (!st) st = ks_unsqueeze(c, t[SD], 1, &t[COL]);
    if (!st) st = ks_unsqueeze(c, t[SD], 0, &t[ROW]);
    /* the divisions and the clamp in place on cov (fresh, ours; its diagonal already read into sd):
     * element by element the same float32 ops as into new tensors */
    if (!st) st = ks_binary_op(c, KS_OP_DIV, ks_op_tensor(t[COV]), ks_op_tensor(t[COL]), NULL, t[COV], NULL);
    if (!st) st = ks_binary_op(c, KS_OP_DIV, ks_op_tensor(t[COV]), ks_op_tensor(t[ROW]), NULL, t[COV], NULL);
    if (!st) st = ks_clamp(c, t[COV], &lo, &hi, t[COV], NULL);
    if (!st) {
        *out = t[COV];
        t[COV] = NULL;
    }
    release_all(t, N);
    return st;
}
