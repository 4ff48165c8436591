/* ks_lapack.c: solve, cholesky, eigh, svd and det on LAPACK (see ks_lapack.h).
 * Each matrix is copied (through its strides) to a float64 column-major
 * buffer, factorized, and the results are written to new row-major float32
 * tensors: [b, ...] results for a [b, m, n] stack, no batch dim for one
 * [m, n] matrix (so ks.linalg's single-matrix calls need no reshapes). */
#include "ks_lapack.h"

#include <string.h>

/* LAPACK's Fortran interface; the trailing size_t are gfortran's hidden
 * lengths of the character arguments (harmless for routines without them). */
extern void dgesv_(const int *n, const int *nrhs, double *a, const int *lda, int *ipiv, double *b, const int *ldb,
                   int *info);
extern void dpotrf_(const char *uplo, const int *n, double *a, const int *lda, int *info, size_t uplo_len);
extern void dsyevd_(const char *jobz, const char *uplo, const int *n, double *a, const int *lda, double *w,
                    double *work, const int *lwork, int *iwork, const int *liwork, int *info, size_t jobz_len,
                    size_t uplo_len);
extern void dgesdd_(const char *jobz, const int *m, const int *n, double *a, const int *lda, double *s, double *u,
                    const int *ldu, double *vt, const int *ldvt, double *work, const int *lwork, int *iwork,
                    int *info, size_t jobz_len);
extern void dgetrf_(const int *m, const int *n, double *a, const int *lda, int *ipiv, int *info);

/* A float32 [m, n] matrix or [b, m, n] stack (any strides) whose sizes fit LAPACK's ints. */
static ks_status check_stack(ks_ctx *c, const char *op, const char *what, const ks_tensor *t, bool square)
{
    if (t->dtype != KS_FLOAT32) return ks_error(c, KS_ETYPE, "%s: %s must be float32, got %s", op, what, ks_dtype_name(t->dtype));
    if (t->ndim != 2 && t->ndim != 3)
        return ks_error(c, KS_EINVAL, "%s: %s must be a [m, n] matrix or a [batch, m, n] stack (internal)", op, what);
    int64_t m = t->size[t->ndim - 2], n = t->size[t->ndim - 1];
    if (m > 46340 || n > 46340)
        return ks_error(c, KS_ERANGE, "%s: %s of %lld x %lld is too large", op, what, (long long)m, (long long)n);
    if (square && m != n)
        return ks_error(c, KS_ESHAPE, "%s: %s must be batches of square matrices, got %lld x %lld", op, what,
                        (long long)m, (long long)n);
    return KS_OK;
}

static int64_t batch_of(const ks_tensor *t) { return t->ndim == 3 ? t->size[0] : 1; }
static int rows_of(const ks_tensor *t) { return (int)t->size[t->ndim - 2]; }
static int cols_of(const ks_tensor *t) { return (int)t->size[t->ndim - 1]; }

static float *fdata(const ks_tensor *t) { return (float *)t->storage->data + t->offset; }

/* matrix i of t (any strides) -> column-major double (leading dim: its rows) */
static void load_colmajor(const ks_tensor *t, int64_t i, double *dst)
{
    int nd = t->ndim, m = rows_of(t), n = cols_of(t);
    int64_t rs = t->stride[nd - 2], cs = t->stride[nd - 1];
    const float *src = fdata(t) + (nd == 3 ? i * t->stride[0] : 0);
    for (int r = 0; r < m; r++)
        for (int j = 0; j < n; j++) dst[r + (size_t)j * m] = src[r * rs + j * cs];
}

/* column-major double (leading dim ld) -> row-major float [m, n] */
static void from_colmajor(const double *src, int ld, int m, int n, float *dst)
{
    for (int i = 0; i < m; i++)
        for (int j = 0; j < n; j++) dst[(size_t)i * n + j] = (float)src[i + (size_t)j * ld];
}

/* a new float32 result of `like`'s batch-ness: [b, dims...] for a stack, [dims...] for one matrix */
static ks_status new_result(ks_ctx *c, const ks_tensor *like, int ndims, int64_t d0, int64_t d1, ks_tensor **out)
{
    int64_t size[3] = {batch_of(like), d0, d1};
    bool stack = like->ndim == 3;
    return ks_tensor_empty(c, KS_FLOAT32, ndims + stack, stack ? size : size + 1, out);
}

static ks_status new_mat(ks_ctx *c, const ks_tensor *like, int64_t m, int64_t n, ks_tensor **out)
{
    return new_result(c, like, 2, m, n, out);
}

static ks_status new_vec(ks_ctx *c, const ks_tensor *like, int64_t n, ks_tensor **out)
{
    return new_result(c, like, 1, n, 0, out);
}

/* one buffer for all the float64 scratch of a call (counts toward the memory limit) */
static double *scratch(ks_ctx *c, size_t doubles, size_t *bytes)
{
    *bytes = (doubles ? doubles : 1) * sizeof(double);
    return ks_mem_alloc(c, *bytes);
}

ks_status ks_lapack_solve(ks_ctx *c, const ks_tensor *a, const ks_tensor *b, ks_tensor **x)
{
    ks_status st;
    if ((st = check_stack(c, "linalg.solve", "A", a, true)) || (st = check_stack(c, "linalg.solve", "B", b, false)))
        return st;
    if (a->ndim != b->ndim || batch_of(a) != batch_of(b) || rows_of(a) != rows_of(b))
        return ks_error(c, KS_ESHAPE, "linalg.solve: A (%lld x %d x %d) and B (%lld x %d x %d) do not match",
                        (long long)batch_of(a), rows_of(a), cols_of(a), (long long)batch_of(b), rows_of(b),
                        cols_of(b));
    int n = rows_of(a), k = cols_of(b);
    int64_t batch = batch_of(a);
    if ((st = new_mat(c, a, n, k, x))) return st;
    size_t bytes;
    double *w = scratch(c, (size_t)n * n + (size_t)n * k + (size_t)n, &bytes);
    if (!w) { ks_tensor_release(*x); *x = NULL; return KS_ENOMEM; }
    double *wa = w, *wb = w + (size_t)n * n;
    int *ipiv = (int *)(wb + (size_t)n * k);
    for (int64_t i = 0; i < batch && !st; i++) {
        load_colmajor(a, i, wa);
        load_colmajor(b, i, wb);
        int info = 0, ld = n > 0 ? n : 1;
        if (n > 0 && k > 0) dgesv_(&n, &k, wa, &ld, ipiv, wb, &ld, &info);
        if (info > 0)
            st = ks_error(c, KS_EINVAL, "linalg.solve: the solver failed because the input matrix is singular "
                                        "(batch element %lld: U[%d, %d] is zero)", (long long)i, info - 1, info - 1);
        else from_colmajor(wb, n, n, k, fdata(*x) + i * n * k);
        if (!st) st = ks_check_interrupt(c);
    }
    ks_mem_free(c, w, bytes);
    if (st) { ks_tensor_release(*x); *x = NULL; }
    return st;
}

ks_status ks_lapack_cholesky(ks_ctx *c, const ks_tensor *a, ks_tensor **l)
{
    ks_status st;
    if ((st = check_stack(c, "linalg.cholesky", "A", a, true))) return st;
    int n = rows_of(a);
    int64_t batch = batch_of(a);
    if ((st = new_mat(c, a, n, n, l))) return st;
    size_t bytes;
    double *w = scratch(c, (size_t)n * n, &bytes);
    if (!w) { ks_tensor_release(*l); *l = NULL; return KS_ENOMEM; }
    for (int64_t i = 0; i < batch && !st; i++) {
        load_colmajor(a, i, w);
        int info = 0, ld = n > 0 ? n : 1;
        if (n > 0) dpotrf_("L", &n, w, &ld, &info, 1);
        if (info > 0) {
            st = ks_error(c, KS_EINVAL, "linalg.cholesky: the factorization could not be completed because the input "
                                        "is not positive-definite (batch element %lld: the leading minor of order %d "
                                        "is not positive-definite)", (long long)i, info);
            break;
        }
        for (int col = 0; col < n; col++) /* dpotrf leaves the strict upper triangle as it was */
            for (int row = 0; row < col; row++) w[row + (size_t)col * n] = 0.0;
        from_colmajor(w, n, n, n, fdata(*l) + i * n * n);
        st = ks_check_interrupt(c);
    }
    ks_mem_free(c, w, bytes);
    if (st) { ks_tensor_release(*l); *l = NULL; }
    return st;
}

ks_status ks_lapack_eigh(ks_ctx *c, const ks_tensor *a, ks_tensor **wout, ks_tensor **vout)
{
    ks_status st;
    if ((st = check_stack(c, "linalg.eigh", "A", a, true))) return st;
    int n = rows_of(a);
    int64_t batch = batch_of(a);
    *wout = *vout = NULL;
    if ((st = new_vec(c, a, n, wout)) || (st = new_mat(c, a, n, n, vout))) goto fail;
    /* workspace sizes of dsyevd with jobz = 'V' (LAPACK's documented minimums) */
    int lwork = 1 + 6 * n + 2 * n * n, liwork = 3 + 5 * n;
    size_t bytes;
    double *buf = scratch(c, (size_t)n * n + (size_t)n + (size_t)lwork + (size_t)liwork, &bytes);
    if (!buf) { st = KS_ENOMEM; goto fail; }
    double *wa = buf, *ev = wa + (size_t)n * n, *work = ev + n;
    int *iwork = (int *)(work + lwork);
    for (int64_t i = 0; i < batch && !st; i++) {
        load_colmajor(a, i, wa);
        int info = 0, ld = n > 0 ? n : 1;
        if (n > 0) dsyevd_("V", "L", &n, wa, &ld, ev, work, &lwork, iwork, &liwork, &info, 1, 1);
        if (info != 0) {
            st = ks_error(c, KS_EINVAL, "linalg.eigh: the algorithm failed to converge (batch element %lld, info %d)",
                          (long long)i, info);
            break;
        }
        for (int j = 0; j < n; j++) fdata(*wout)[i * n + j] = (float)ev[j];
        from_colmajor(wa, n, n, n, fdata(*vout) + i * n * n);
        st = ks_check_interrupt(c);
    }
    ks_mem_free(c, buf, bytes);
    if (!st) return KS_OK;
fail:
    ks_tensor_release(*wout);
    ks_tensor_release(*vout);
    *wout = *vout = NULL;
    return st;
}

ks_status ks_lapack_svd(ks_ctx *c, const ks_tensor *a, bool full, ks_tensor **uout, ks_tensor **sout,
                        ks_tensor **vhout)
{
    ks_status st;
    if ((st = check_stack(c, "linalg.svd", "A", a, false))) return st;
    int m = rows_of(a), n = cols_of(a), k = m < n ? m : n;
    int ucols = full ? m : k, vrows = full ? n : k;
    int64_t batch = batch_of(a);
    *uout = *sout = *vhout = NULL;
    if ((st = new_mat(c, a, m, ucols, uout)) || (st = new_vec(c, a, k, sout)) ||
        (st = new_mat(c, a, vrows, n, vhout)))
        goto fail;
    /* dgesdd's workspace: asked for once (lwork = -1), as its size depends on the LAPACK build */
    int lwork = 1;
    if (k > 0) {
        double q = 0;
        int qinfo = 0, ql = -1, one = 1, lda0 = m, ldvt0 = vrows;
        dgesdd_(full ? "A" : "S", &m, &n, &q, &lda0, &q, &q, &lda0, &q, &ldvt0, &q, &ql, &one, &qinfo, 1);
        lwork = qinfo == 0 && q > 1 ? (int)q + 1 : 4 * k * k + 7 * k + 4 * (m > n ? m : n) + 64;
    }
    size_t bytes;
    double *buf = scratch(c, (size_t)m * n + (size_t)k + (size_t)m * ucols + (size_t)vrows * n + (size_t)lwork +
                                 (size_t)(8 * k + 1), &bytes);
    if (!buf) { st = KS_ENOMEM; goto fail; }
    double *wa = buf, *s = wa + (size_t)m * n, *u = s + k, *vt = u + (size_t)m * ucols, *work = vt + (size_t)vrows * n;
    int *iwork = (int *)(work + lwork);
    for (int64_t i = 0; i < batch && !st; i++) {
        load_colmajor(a, i, wa);
        int info = 0, lda = m > 0 ? m : 1, ldu = lda, ldvt = vrows > 0 ? vrows : 1;
        if (k > 0) dgesdd_(full ? "A" : "S", &m, &n, wa, &lda, s, u, &ldu, vt, &ldvt, work, &lwork, iwork, &info, 1);
        else if (full) { /* an empty side: identity factors, as torch */
            memset(u, 0, sizeof(double) * (size_t)m * ucols);
            memset(vt, 0, sizeof(double) * (size_t)vrows * n);
            for (int d = 0; d < m; d++) u[d + (size_t)d * m] = 1.0;
            for (int d = 0; d < n; d++) vt[d + (size_t)d * vrows] = 1.0;
        }
        if (info != 0) {
            st = ks_error(c, KS_EINVAL, "linalg.svd: the algorithm failed to converge (batch element %lld, info %d)",
                          (long long)i, info);
            break;
        }
        for (int j = 0; j < k; j++) fdata(*sout)[i * k + j] = (float)s[j];
        from_colmajor(u, lda, m, ucols, fdata(*uout) + i * m * ucols);
        from_colmajor(vt, ldvt, vrows, n, fdata(*vhout) + i * vrows * n);
        st = ks_check_interrupt(c);
    }
    ks_mem_free(c, buf, bytes);
    if (!st) return KS_OK;
fail:
    ks_tensor_release(*uout);
    ks_tensor_release(*sout);
    ks_tensor_release(*vhout);
    *uout = *sout = *vhout = NULL;
    return st;
}

ks_status ks_lapack_det(ks_ctx *c, const ks_tensor *a, ks_tensor **det)
{
    ks_status st;
    if ((st = check_stack(c, "linalg.det", "A", a, true))) return st;
    int n = rows_of(a);
    int64_t batch = batch_of(a);
    if ((st = new_result(c, a, 0, 0, 0, det))) return st; /* [b], or 0-d for one matrix */
    size_t bytes;
    double *w = scratch(c, (size_t)n * n + (size_t)n, &bytes);
    if (!w) { ks_tensor_release(*det); *det = NULL; return KS_ENOMEM; }
    int *ipiv = (int *)(w + (size_t)n * n);
    for (int64_t i = 0; i < batch && !st; i++) {
        load_colmajor(a, i, w);
        int info = 0, ld = n > 0 ? n : 1;
        if (n > 0) dgetrf_(&n, &n, w, &ld, ipiv, &info);
        double d = 1.0; /* info > 0: an exact zero pivot, and the product below is 0 */
        for (int j = 0; j < n; j++) d *= ipiv[j] != j + 1 ? -w[j + (size_t)j * n] : w[j + (size_t)j * n];
        fdata(*det)[i] = (float)d;
        st = ks_check_interrupt(c);
    }
    ks_mem_free(c, w, bytes);
    if (st) { ks_tensor_release(*det); *det = NULL; }
    return st;
}
