/* ks_linalg.c: matmul and friends (float32 through OpenBLAS, integers by a
 * plain loop). Every product is first described by a plan: batch dims,
 * M/N/K and, per operand, the strides of one matrix plus one stride per
 * output batch dim (0 where the operand is broadcast). */
#include "ks_linalg.h"
#include "ks_threads.h"

#include <cblas.h>
#include <limits.h>
#include <math.h>
#include <string.h>

/* ================================================================ gemm */
static bool fits_int(int64_t v) { return v >= 0 && v <= INT_MAX; }
static int64_t max1(int64_t v) { return v > 1 ? v : 1; }

/* C = beta * C for an M x N block (beta == 0 clears, NaN included). */
static void scale_block(float *C, int64_t M, int64_t N, int64_t ldc, float beta)
{
    for (int64_t i = 0; i < M; i++) {
        float *row = C + i * ldc;
        if (beta == 0.0f) memset(row, 0, (size_t)N * sizeof *row);
        else if (beta != 1.0f) for (int64_t j = 0; j < N; j++) row[j] *= beta;
    }
}

/* The BLAS call proper; sizes already validated. Vector shapes go to
 * sgemv, which OpenBLAS 0.3.21's sgemm does not do by itself. */
static void gemm_raw(bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha, const float *A,
                     int64_t lda, const float *B, int64_t ldb, float beta, float *C, int64_t ldc)
{
    if (M == 0 || N == 0) return;
    if (K == 0) { scale_block(C, M, N, ldc, beta); return; }
    if (beta == 0.0f && (N == 1 || M == 1)) scale_block(C, M, N, ldc, 0.0f); /* fresh memory may hold NaN */
    if (N == 1) {          /* y[M] (stride ldc) = op(A) x, x = the column of op(B) */
        int incx = tb ? 1 : (int)ldb;
        cblas_sgemv(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, (int)(ta ? K : M), (int)(ta ? M : K), alpha, A,
                    (int)lda, B, incx, beta, C, (int)ldc);
    } else if (M == 1) {   /* y[N] = op(B)^T x, x = the row of op(A) */
        int incx = ta ? (int)lda : 1;
        cblas_sgemv(CblasRowMajor, tb ? CblasNoTrans : CblasTrans, (int)(tb ? N : K), (int)(tb ? K : N), alpha, B,
                    (int)ldb, A, incx, beta, C, 1);
    } else {
        cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, (int)M, (int)N,
                    (int)K, alpha, A, (int)lda, B, (int)ldb, beta, C, (int)ldc);
    }
}

/* ---- one call or size-determined blocks on the pool ----
 * OpenBLAS runs single-threaded (ks_set_num_threads keeps it at 1): its own
 * threads change the rounding with the thread count (a 64x784x288 sgemm
 * differs between 1 and 2 threads). Products of at least SPLIT_MIN
 * multiply-adds are cut into blocks whose bounds depend only on the sizes,
 * one single-threaded call per block on the kshot pool, so every output
 * element comes from the same call whatever the thread count: up to
 * SPLIT_MID, 4 blocks of output columns (when there are 32 or more); beyond,
 * blocks of the longer output side, 4 per SPLIT_MID of work, at least
 * SPLIT_MIN_GRAIN wide (each call packs the other operand whole). */
#define SPLIT_MIN (1 << 18) /* OpenBLAS's own single-thread limit */
#define SPLIT_MID (1 << 26)
#define SPLIT_ALIGN 16
#define SPLIT_MAX_PARTS 64
#define SPLIT_MIN_GRAIN 128

typedef struct split_job {
    bool ta, tb, by_rows, sgemm_only;
    int64_t M, N, K, lda, ldb, ldc;
    float alpha, beta;
    const float *A, *B;
    float *C;
} split_job;

/* one block: gemm_raw, or (sgemm_only, M, N, K > 0) sgemm even for one row or column */
static void block_call(const split_job *j, int64_t M, int64_t N, const float *A, const float *B, float *C)
{
    if (j->sgemm_only)
        cblas_sgemm(CblasRowMajor, j->ta ? CblasTrans : CblasNoTrans, j->tb ? CblasTrans : CblasNoTrans, (int)M, (int)N,
                    (int)j->K, j->alpha, A, (int)j->lda, B, (int)j->ldb, j->beta, C, (int)j->ldc);
    else
        gemm_raw(j->ta, j->tb, M, N, j->K, j->alpha, A, j->lda, B, j->ldb, j->beta, C, j->ldc);
}

/* rows or columns [i0, i1) of C */
static ks_status split_block(void *arg, int64_t i0, int64_t i1)
{
    const split_job *j = arg;
    if (j->by_rows) block_call(j, i1 - i0, j->N, j->A + (j->ta ? i0 : i0 * j->lda), j->B, j->C + i0 * j->ldc);
    else block_call(j, j->M, i1 - i0, j->A, j->B + (j->tb ? i0 * j->ldb : i0), j->C + i0);
    return KS_OK;
}

static ks_status gemm_split(ks_ctx *c, bool sgemm_only, bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha,
                            const float *A, int64_t lda, const float *B, int64_t ldb, float beta, float *C, int64_t ldc)
{
    double work = (double)M * (double)N * (double)K;
    bool huge = work > SPLIT_MID, by_rows = huge && M > N;
    split_job j = {ta, tb, by_rows, sgemm_only, M, N, K, lda, ldb, ldc, alpha, beta, A, B, C};
    int64_t n = by_rows ? M : N;
    if (work < SPLIT_MIN || n < 2 * (huge ? SPLIT_MIN_GRAIN : SPLIT_ALIGN)) {
        block_call(&j, M, N, A, B, C);
        return KS_OK;
    }
    double parts = huge ? 4 * ceil(work / SPLIT_MID) : 4;
    if (parts > SPLIT_MAX_PARTS) parts = SPLIT_MAX_PARTS;
    int64_t grain = (n + (int64_t)parts - 1) / (int64_t)parts;
    grain = (grain + SPLIT_ALIGN - 1) / SPLIT_ALIGN * SPLIT_ALIGN;
    if (huge && grain < SPLIT_MIN_GRAIN) grain = SPLIT_MIN_GRAIN;
    return ks_parallel_for(c, n, grain, split_block, &j);
}

ks_status ks_gemm_f32_sgemm(ks_ctx *c, bool transA, bool transB, int64_t M, int64_t N, int64_t K, const float *A,
                            int64_t lda, const float *B, int64_t ldb, float beta, float *C, int64_t ldc)
{
    if (!fits_int(M) || !fits_int(N) || !fits_int(K) || !fits_int(lda) || !fits_int(ldb) || !fits_int(ldc))
        return ks_error(c, KS_ERANGE, "gemm: sizes M=%lld N=%lld K=%lld exceed BLAS's 32-bit range", (long long)M,
                        (long long)N, (long long)K);
    return gemm_split(c, true, transA, transB, M, N, K, 1.0f, A, lda, B, ldb, beta, C, ldc);
}

ks_status ks_gemm_f32(ks_ctx *c, bool transA, bool transB, int64_t M, int64_t N, int64_t K, float alpha,
                      const float *A, int64_t lda, const float *B, int64_t ldb, float beta, float *C,
                      int64_t ldc)
{
    if (!fits_int(M) || !fits_int(N) || !fits_int(K) || !fits_int(lda) || !fits_int(ldb) || !fits_int(ldc))
        return ks_error(c, KS_ERANGE, "gemm: sizes M=%lld N=%lld K=%lld (lda=%lld ldb=%lld ldc=%lld) are negative "
                        "or exceed BLAS's 32-bit range", (long long)M, (long long)N, (long long)K, (long long)lda,
                        (long long)ldb, (long long)ldc);
    if (M > 0 && N > 0 && K > 0) {
        if (lda < max1(transA ? M : K) || ldb < max1(transB ? K : N) || ldc < max1(N))
            return ks_error(c, KS_EINVAL, "gemm: leading dimension too small (lda=%lld ldb=%lld ldc=%lld for "
                            "M=%lld N=%lld K=%lld)", (long long)lda, (long long)ldb, (long long)ldc, (long long)M,
                            (long long)N, (long long)K);
    }
    return gemm_split(c, false, transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

/* ================================================================ plans */
typedef struct mat_op {
    const char *data;           /* first element of batch 0 */
    int64_t rs, cs;             /* row / column stride of one matrix (elements) */
    int64_t bst[KS_MAX_DIMS];   /* stride per output batch dim, 0 = broadcast */
    bool trans;                 /* BLAS layout (float path) */
    int64_t ld;
} mat_op;

typedef struct mm_plan {
    int nb;                     /* batch dims */
    int64_t bsize[KS_MAX_DIMS];
    int64_t nbatch, M, N, K;
    mat_op a, b;
    int out_ndim;
    int64_t out_size[KS_MAX_DIMS];
} mm_plan;

/* Can dims [0, n) of t (sizes/strides) be walked as one dim? Sets *stride. */
static bool collapse(const ks_tensor *t, int n, int64_t *stride)
{
    int64_t span = -1;
    *stride = 0;
    for (int i = n - 1; i >= 0; i--) {
        if (t->size[i] == 1) continue;
        if (span < 0) *stride = t->stride[i];
        else if (t->stride[i] != span) return false;
        span = *stride * t->size[i];
    }
    return true;
}

/* Shapes, batch broadcasting and strides of a @ b (no data touched). */
static ks_status plan_init(ks_ctx *c, const char *op, const ks_tensor *a, const ks_tensor *b, mm_plan *p)
{
    char sa[160], sb[160];
    if (a->ndim == 0 || b->ndim == 0)
        return ks_error(c, KS_ESHAPE, "%s: both arguments need at least 1 dimension, got %dD and %dD", op,
                        a->ndim, b->ndim);
    int na = a->ndim, nbd = b->ndim;
    int64_t ka = a->size[na - 1], kb = nbd == 1 ? b->size[0] : b->size[nbd - 2];
    if (ka != kb)
        return ks_error(c, KS_ESHAPE, "%s: shapes %s and %s cannot be multiplied (%lld != %lld)", op,
                        ks_shape_str(a, sa, sizeof sa), ks_shape_str(b, sb, sizeof sb), (long long)ka,
                        (long long)kb);
    memset(p, 0, sizeof *p);
    p->K = ka;
    p->M = na == 1 ? 1 : a->size[na - 2];
    p->N = nbd == 1 ? 1 : b->size[nbd - 1];
    p->a.data = ks_tensor_data(a);
    p->a.rs = na == 1 ? 0 : a->stride[na - 2];
    p->a.cs = a->stride[na - 1];
    p->b.data = ks_tensor_data(b);
    p->b.rs = nbd == 1 ? b->stride[0] : b->stride[nbd - 2];
    p->b.cs = nbd == 1 ? 0 : b->stride[nbd - 1];
    /* batch dims, right-aligned and broadcast */
    int ba = na > 2 ? na - 2 : 0, bb = nbd > 2 ? nbd - 2 : 0;
    p->nb = ba > bb ? ba : bb;
    p->nbatch = 1;
    for (int i = 0; i < p->nb; i++) {
        int ia = i - (p->nb - ba), ib = i - (p->nb - bb);
        int64_t da = ia >= 0 ? a->size[ia] : 1, db = ib >= 0 ? b->size[ib] : 1;
        if (da != db && da != 1 && db != 1)
            return ks_error(c, KS_ESHAPE, "%s: batch dimensions of shapes %s and %s cannot be broadcast "
                            "(%lld vs %lld at batch dim %d)", op, ks_shape_str(a, sa, sizeof sa),
                            ks_shape_str(b, sb, sizeof sb), (long long)da, (long long)db, i);
        p->bsize[i] = da == 1 ? db : da;
        p->a.bst[i] = ia >= 0 && da != 1 ? a->stride[ia] : 0;
        p->b.bst[i] = ib >= 0 && db != 1 ? b->stride[ib] : 0;
        p->nbatch *= p->bsize[i];
    }
    p->out_ndim = 0;
    for (int i = 0; i < p->nb; i++) p->out_size[p->out_ndim++] = p->bsize[i];
    if (na > 1) p->out_size[p->out_ndim++] = p->M;
    if (nbd > 1) p->out_size[p->out_ndim++] = p->N;
    /* [..., M, K] @ [K, N]: fold a's batch dims into M (one big gemm) */
    int64_t rs;
    if (nbd <= 2 && na > 2 && (p->K <= 1 || p->a.cs == 1) && collapse(a, na - 1, &rs) && rs >= max1(p->K)) {
        p->M *= p->nbatch;
        p->a.rs = rs;
        p->nb = 0;
        p->nbatch = 1;
    }
    return KS_OK;
}

/* BLAS layout of a rows x cols matrix with strides (rs, cs): row-major
 * (NoTrans) or column-major (Trans) with a valid leading dimension. */
static bool blas_layout(int64_t rows, int64_t cols, mat_op *m)
{
    if ((cols <= 1 || m->cs == 1) && (rows <= 1 || m->rs >= max1(cols))) {
        m->trans = false;
        m->ld = rows <= 1 ? max1(cols) : m->rs;
    } else if ((rows <= 1 || m->rs == 1) && (cols <= 1 || m->cs >= max1(rows))) {
        m->trans = true;
        m->ld = cols <= 1 ? max1(rows) : m->cs;
    } else {
        return false;
    }
    return fits_int(m->ld);
}

static void batch_offsets(const mm_plan *p, int64_t idx, int64_t *oa, int64_t *ob)
{
    int64_t ea = 0, eb = 0;
    for (int d = p->nb - 1; d >= 0; d--) {
        int64_t i = idx % p->bsize[d];
        idx /= p->bsize[d];
        ea += i * p->a.bst[d];
        eb += i * p->b.bst[d];
    }
    *oa = ea;
    *ob = eb;
}

/* ================================================================ float32 */
struct f32_run {
    const mm_plan *p;
    float *out;
    float alpha, beta;
};

static ks_status f32_batches(void *arg, int64_t begin, int64_t end)
{
    const struct f32_run *r = arg;
    const mm_plan *p = r->p;
    const float *A = (const float *)p->a.data, *B = (const float *)p->b.data;
    int64_t mn = p->M * p->N;
    for (int64_t i = begin; i < end; i++) {
        int64_t oa, ob;
        batch_offsets(p, i, &oa, &ob);
        gemm_raw(p->a.trans, p->b.trans, p->M, p->N, p->K, r->alpha, A + oa, p->a.ld, B + ob, p->b.ld, r->beta,
                 r->out + i * mn, p->N);
    }
    return KS_OK;
}

/* out: contiguous [nbatch, M, N]. */
static ks_status run_f32(ks_ctx *c, const mm_plan *p, float *out, float alpha, float beta)
{
    if (!fits_int(p->M) || !fits_int(p->N) || !fits_int(p->K))
        return ks_error(c, KS_ERANGE, "matmul: sizes M=%lld N=%lld K=%lld exceed BLAS's 32-bit range",
                        (long long)p->M, (long long)p->N, (long long)p->K);
    struct f32_run r = {p, out, alpha, beta};
    double mnk = (double)p->M * (double)p->N * (double)p->K;
    if (p->nbatch > 1 && mnk <= KS_GEMM_SMALL_MNK && mnk * (double)p->nbatch >= KS_GEMM_PARALLEL_MACS) {
        /* many small matrices: whole matrices per chunk (about 2^20 MACs each),
         * OpenBLAS single-threaded in each */
        int64_t grain = (int64_t)(1048576.0 / (mnk > 1 ? mnk : 1)) + 1;
        return ks_parallel_for(c, p->nbatch, grain, f32_batches, &r);
    }
    const float *A = (const float *)p->a.data, *B = (const float *)p->b.data;
    for (int64_t i = 0; i < p->nbatch; i++) {
        if (i > 0 && ks_check_interrupt(c)) return KS_EINTR;
        int64_t oa, ob;
        batch_offsets(p, i, &oa, &ob);
        ks_status st = gemm_split(c, false, p->a.trans, p->b.trans, p->M, p->N, p->K, alpha, A + oa, p->a.ld, B + ob,
                                  p->b.ld, beta, out + i * p->M * p->N, p->N);
        if (st) return st;
    }
    return KS_OK;
}

/* ================================================================ integers */
/* Wrapping int64 product (unsigned arithmetic: overflow wraps, no UB). */
static void mm_i64(const mm_plan *p, int64_t *out)
{
    const int64_t *A = (const int64_t *)p->a.data, *B = (const int64_t *)p->b.data;
    int64_t M = p->M, N = p->N, K = p->K;
    for (int64_t bi = 0; bi < p->nbatch; bi++) {
        int64_t oa, ob;
        batch_offsets(p, bi, &oa, &ob);
        uint64_t *C = (uint64_t *)out + bi * M * N;
        memset(C, 0, (size_t)(M * N) * sizeof *C);
        for (int64_t i = 0; i < M; i++)
            for (int64_t k = 0; k < K; k++) {
                uint64_t av = (uint64_t)A[oa + i * p->a.rs + k * p->a.cs];
                const int64_t *brow = B + ob + k * p->b.rs;
                for (int64_t j = 0; j < N; j++) C[i * N + j] += av * (uint64_t)brow[j * p->b.cs];
            }
    }
}

/* ================================================================ drivers */
static ks_status result_dtype(ks_ctx *c, const char *op, ks_dtype x, ks_dtype y, ks_dtype *dt)
{
    *dt = ks_promote(x, y);
    if (*dt == KS_BOOL)
        return ks_error(c, KS_ETYPE, "%s: not implemented for bool tensors (%s and %s); convert with :long() or "
                        ":float() first", op, ks_dtype_name(x), ks_dtype_name(y));
    return KS_OK;
}

/* Product of a and b into `dst` (contiguous, compute dtype, result shape). */
static ks_status product_into(ks_ctx *c, const char *op, ks_tensor *a, ks_tensor *b, ks_tensor *dst, float alpha,
                              float beta)
{
    mm_plan p;
    ks_status st = plan_init(c, op, a, b, &p);
    if (st) return st;
    if (dst->dtype != KS_FLOAT32) {
        mm_i64(&p, ks_tensor_data(dst));
        return KS_OK;
    }
    ks_tensor *ca = NULL, *cb = NULL;
    bool oka = blas_layout(p.M, p.K, &p.a), okb = blas_layout(p.K, p.N, &p.b);
    if (!oka || !okb) { /* copy the operand(s) BLAS cannot read as they are */
        if ((!oka && (st = ks_contiguous(c, a, &ca))) || (!okb && (st = ks_contiguous(c, b, &cb)))) goto done;
        if ((st = plan_init(c, op, ca ? ca : a, cb ? cb : b, &p))) goto done;
        if (!blas_layout(p.M, p.K, &p.a) || !blas_layout(p.K, p.N, &p.b)) {
            st = ks_error(c, KS_ERANGE, "%s: matrix too large for BLAS's 32-bit leading dimension", op);
            goto done;
        }
    }
    st = run_f32(c, &p, ks_tensor_data(dst), alpha, beta);
done:
    ks_tensor_release(ca);
    ks_tensor_release(cb);
    return st;
}

/* a, b converted to the compute dtype (float32 or int64); new references. */
static ks_status to_compute(ks_ctx *c, ks_tensor *a, ks_tensor *b, ks_dtype rt, ks_tensor **ca, ks_tensor **cb)
{
    ks_dtype ct = rt == KS_FLOAT32 ? KS_FLOAT32 : KS_INT64;
    ks_status st = ks_to_dtype(c, a, ct, ca);
    if (st) return st;
    if ((st = ks_to_dtype(c, b, ct, cb))) { ks_tensor_release(*ca); *ca = NULL; }
    return st;
}

static bool shares(const ks_tensor *x, const ks_tensor *a, const ks_tensor *b)
{
    return x->storage == a->storage || x->storage == b->storage;
}

static ks_status matmul_impl(ks_ctx *c, const char *op, ks_tensor *a, ks_tensor *b, ks_tensor *out,
                             ks_tensor **res)
{
    mm_plan p;
    ks_dtype rt;
    char so[160], se[160];
    ks_status st = plan_init(c, op, a, b, &p);
    if (st || (st = result_dtype(c, op, a->dtype, b->dtype, &rt))) return st;
    if (out && (out->dtype != rt || out->ndim != p.out_ndim ||
                memcmp(out->size, p.out_size, (size_t)p.out_ndim * sizeof *p.out_size) != 0))
        return ks_error(c, KS_ESHAPE, "%s: out has shape %s and dtype %s, expected %s and %s", op,
                        ks_shape_str(out, so, sizeof so), ks_dtype_name(out->dtype),
                        ks_dims_str(p.out_ndim, p.out_size, se, sizeof se), ks_dtype_name(rt));
    ks_tensor *ca = NULL, *cb = NULL, *dst = NULL;
    if ((st = to_compute(c, a, b, rt, &ca, &cb))) return st;
    bool direct = out && ks_tensor_is_contiguous(out) && out->dtype == ca->dtype && !shares(out, a, b);
    if (direct) dst = ks_tensor_retain(out);
    else if ((st = ks_tensor_empty(c, ca->dtype, p.out_ndim, p.out_size, &dst))) goto done;
    if ((st = product_into(c, op, ca, cb, dst, 1.0f, 0.0f))) goto done;
    if (out) {
        if (direct) ks_tensor_bump_version(out);
        else st = ks_copy_(c, out, dst);
    } else {
        st = ks_to_dtype(c, dst, rt, res); /* dst itself unless the result is uint8 */
    }
done:
    ks_tensor_release(ca);
    ks_tensor_release(cb);
    ks_tensor_release(dst);
    return st;
}

ks_status ks_matmul(ks_ctx *c, ks_tensor *a, ks_tensor *b, ks_tensor **out)
{
    return matmul_impl(c, "matmul", a, b, NULL, out);
}

ks_status ks_matmul_out(ks_ctx *c, ks_tensor *a, ks_tensor *b, ks_tensor *out)
{
    return matmul_impl(c, "matmul", a, b, out, NULL);
}

/* ================================================================ strict variants */
static ks_status check_ranks(ks_ctx *c, const char *op, const ks_tensor *a, const ks_tensor *b, int ra, int rb)
{
    if (a->ndim == ra && b->ndim == rb) return KS_OK;
    char sa[160], sb[160];
    return ks_error(c, KS_ESHAPE, "%s: expected %dD and %dD tensors, got shapes %s and %s", op, ra, rb,
                    ks_shape_str(a, sa, sizeof sa), ks_shape_str(b, sb, sizeof sb));
}

/* The rank (and bmm's batch size) checks of one strict product, then the
 * product into out (out != NULL) or a new tensor *res. */
static ks_status product(ks_ctx *c, ks_product kind, ks_tensor *a, ks_tensor *b, ks_tensor *out, ks_tensor **res)
{
    static const char *const names[] = {"mm", "bmm", "mv", "dot", "outer"};
    static const int ranks[][2] = {{2, 2}, {3, 3}, {2, 1}, {1, 1}, {1, 1}};
    if ((unsigned)kind > KS_PRODUCT_OUTER) return ks_error(c, KS_EINVAL, "product: unknown kind %d", (int)kind);
    const char *op = names[kind];
    ks_status st = check_ranks(c, op, a, b, ranks[kind][0], ranks[kind][1]);
    if (st) return st;
    if (kind == KS_PRODUCT_BMM && a->size[0] != b->size[0]) {
        char sa[160], sb[160];
        return ks_error(c, KS_ESHAPE, "bmm: shapes %s and %s have different batch sizes (%lld != %lld)",
                        ks_shape_str(a, sa, sizeof sa), ks_shape_str(b, sb, sizeof sb), (long long)a->size[0],
                        (long long)b->size[0]);
    }
    if (kind != KS_PRODUCT_OUTER) return matmul_impl(c, op, a, b, out, res);
    /* outer: the column a [n, 1] times the row b [1, m] */
    ks_tensor *col = NULL, *row = NULL;
    if (!(st = ks_unsqueeze(c, a, 1, &col)) && !(st = ks_unsqueeze(c, b, 0, &row)))
        st = matmul_impl(c, op, col, row, out, res);
    ks_tensor_release(col);
    ks_tensor_release(row);
    return st;
}

ks_status ks_mm(ks_ctx *c, ks_tensor *a, ks_tensor *b, ks_tensor **out)
{
    return product(c, KS_PRODUCT_MM, a, b, NULL, out);
}

ks_status ks_bmm(ks_ctx *c, ks_tensor *a, ks_tensor *b, ks_tensor **out)
{
    return product(c, KS_PRODUCT_BMM, a, b, NULL, out);
}

ks_status ks_mv(ks_ctx *c, ks_tensor *a, ks_tensor *v, ks_tensor **out)
{
    return product(c, KS_PRODUCT_MV, a, v, NULL, out);
}

ks_status ks_dot(ks_ctx *c, ks_tensor *a, ks_tensor *b, ks_tensor **out)
{
    return product(c, KS_PRODUCT_DOT, a, b, NULL, out);
}

ks_status ks_outer(ks_ctx *c, ks_tensor *a, ks_tensor *b, ks_tensor **out)
{
    return product(c, KS_PRODUCT_OUTER, a, b, NULL, out);
}

ks_status ks_product_out(ks_ctx *c, ks_product kind, ks_tensor *a, ks_tensor *b, ks_tensor *out)
{
    return product(c, kind, a, b, out, NULL);
}

/* ================================================================ addmm */
/* out = beta * out + alpha * r, int64, both contiguous of the same size. */
static void axpby_i64(int64_t *o, const int64_t *r, int64_t n, int64_t alpha, int64_t beta)
{
    for (int64_t i = 0; i < n; i++)
        o[i] = (int64_t)((uint64_t)beta * (uint64_t)o[i] + (uint64_t)alpha * (uint64_t)r[i]);
}

static ks_status addmm_check(ks_ctx *c, ks_tensor *input, ks_tensor *a, ks_tensor *b, double beta, double alpha,
                             ks_dtype *rt)
{
    ks_status st = check_ranks(c, "addmm", a, b, 2, 2);
    if (st) return st;
    if (a->size[1] != b->size[0]) {
        char sa[160], sb[160];
        return ks_error(c, KS_ESHAPE, "addmm: shapes %s and %s cannot be multiplied (%lld != %lld)",
                        ks_shape_str(a, sa, sizeof sa), ks_shape_str(b, sb, sizeof sb), (long long)a->size[1],
                        (long long)b->size[0]);
    }
    int64_t mn[2] = {a->size[0], b->size[1]}, bs[KS_MAX_DIMS];
    int nd;
    char si[160], so[160];
    if (input->ndim > 2 || ks_broadcast_shapes(c, input->ndim, input->size, 2, mn, &nd, bs) || bs[0] != mn[0] ||
        bs[1] != mn[1])
        return ks_error(c, KS_ESHAPE, "addmm: input of shape %s cannot be broadcast to the product's shape %s",
                        ks_shape_str(input, si, sizeof si), ks_dims_str(2, mn, so, sizeof so));
    if ((st = result_dtype(c, "addmm", a->dtype, b->dtype, rt))) return st;
    if ((st = result_dtype(c, "addmm", *rt, input->dtype, rt))) return st;
    if (*rt != KS_FLOAT32 && (alpha != (double)(int64_t)alpha || beta != (double)(int64_t)beta))
        return ks_error(c, KS_EINVAL, "addmm: for integer tensors alpha and beta must be integers, got %g and %g",
                        alpha, beta);
    return KS_OK;
}

ks_status ks_addmm(ks_ctx *c, ks_tensor *input, ks_tensor *a, ks_tensor *b, double beta, double alpha,
                   ks_tensor **out)
{
    ks_dtype rt;
    ks_status st = addmm_check(c, input, a, b, beta, alpha, &rt);
    if (st) return st;
    int64_t mn[2] = {a->size[0], b->size[1]};
    ks_tensor *ca = NULL, *cb = NULL, *dst = NULL, *prod = NULL;
    if ((st = to_compute(c, a, b, rt, &ca, &cb))) return st;
    if ((st = ks_tensor_empty(c, ca->dtype, 2, mn, &dst))) goto done;
    if (beta != 0.0 && (st = ks_copy_(c, dst, input))) goto done;
    if (ca->dtype == KS_FLOAT32) {
        st = product_into(c, "addmm", ca, cb, dst, (float)alpha, beta == 0.0 ? 0.0f : (float)beta);
    } else {
        if ((st = ks_tensor_empty(c, KS_INT64, 2, mn, &prod)) || (st = product_into(c, "addmm", ca, cb, prod, 1, 0)))
            goto done;
        if (beta == 0.0) memset(ks_tensor_data(dst), 0, (size_t)dst->numel * sizeof(int64_t));
        axpby_i64(ks_tensor_data(dst), ks_tensor_data(prod), dst->numel, (int64_t)alpha, (int64_t)beta);
    }
    if (!st) st = ks_to_dtype(c, dst, rt, out); /* dst itself when the dtype is already rt */
done:
    ks_tensor_release(ca);
    ks_tensor_release(cb);
    ks_tensor_release(dst);
    ks_tensor_release(prod);
    return st;
}
