/* ks_nn_linear.c: fused linear layer (GEMM through OpenBLAS) and its backward. */
#include "ks_nn.h"
#include "ks_threads.h"

#include <cblas.h>
#include <string.h>

/* input viewed as [M, in] rows */
static int64_t rows_of(const ks_tensor *t) { return t->ndim ? t->numel / t->size[t->ndim - 1] : 1; }

/* ---- layers with few outputs (N <= SMALL_N, e.g. a 10-class head) ----
 * OpenBLAS packs operands for every call and reaches ~30 GFLOP/s on these
 * skinny products (32x784x10); direct AVX2/FMA loops that keep 4 outputs in
 * registers run ~2x faster. Used only when the CPU has AVX2 and FMA (checked
 * at run time); the sums run in a fixed order (single thread). */
#define SMALL_N 16

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>

static bool have_avx2_fma(void)
{
    static int v = -1; /* benign race: every thread computes the same value */
    if (v < 0) {
        __builtin_cpu_init();
        v = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    }
    return v;
}

__attribute__((target("avx2,fma"))) static float hsum8(__m256 v)
{
    float l[8];
    _mm256_storeu_ps(l, v);
    return ((l[0] + l[1]) + (l[2] + l[3])) + ((l[4] + l[5]) + (l[6] + l[7]));
}

/* R rows of x (1 or 2) against J rows of w (1..4): R*J independent FMA
 * chains (one chain is latency-bound); y[r, j0 + j] += dot. Constant R and J
 * at each call site let the compiler keep every accumulator in a register. */
static inline __attribute__((always_inline, target("avx2,fma"))) void
dot_block(const float *x, const float *w, int64_t K, int64_t N, int64_t i, int64_t j0, int R, int J, float *y)
{
    __m256 acc[2][4];
    _Pragma("GCC unroll 4")
    for (int r = 0; r < R; r++)
        _Pragma("GCC unroll 4")
        for (int j = 0; j < J; j++) acc[r][j] = _mm256_setzero_ps();
    int64_t k = 0;
    for (; k + 8 <= K; k += 8)
        _Pragma("GCC unroll 4")
        for (int j = 0; j < J; j++) {
            __m256 wv = _mm256_loadu_ps(w + (j0 + j) * K + k);
            _Pragma("GCC unroll 4")
            for (int r = 0; r < R; r++) acc[r][j] = _mm256_fmadd_ps(_mm256_loadu_ps(x + (i + r) * K + k), wv, acc[r][j]);
        }
    _Pragma("GCC unroll 4")
    for (int r = 0; r < R; r++)
        _Pragma("GCC unroll 4")
        for (int j = 0; j < J; j++) {
            float s = hsum8(acc[r][j]);
            for (int64_t kk = k; kk < K; kk++) s += x[(i + r) * K + kk] * w[(j0 + j) * K + kk];
            y[(i + r) * N + j0 + j] += s;
        }
}

__attribute__((target("avx2,fma"))) static void dot_rows(const float *x, const float *w, int64_t K, int64_t N,
                                                         int64_t i, int R, int64_t j0, int J, float *y)
{
    switch (R * 4 + J) {
    case 5: dot_block(x, w, K, N, i, j0, 1, 1, y); break;
    case 6: dot_block(x, w, K, N, i, j0, 1, 2, y); break;
    case 7: dot_block(x, w, K, N, i, j0, 1, 3, y); break;
    case 8: dot_block(x, w, K, N, i, j0, 1, 4, y); break;
    case 9: dot_block(x, w, K, N, i, j0, 2, 1, y); break;
    case 10: dot_block(x, w, K, N, i, j0, 2, 2, y); break;
    case 11: dot_block(x, w, K, N, i, j0, 2, 3, y); break;
    default: dot_block(x, w, K, N, i, j0, 2, 4, y); break;
    }
}

/* y[M, N] += x[M, K] @ w[N, K]^T */
__attribute__((target("avx2,fma"))) static void small_n_forward(int64_t M, int64_t N, int64_t K, const float *x,
                                                                const float *w, float *y)
{
    for (int64_t i = 0; i < M; i += 2) {
        int R = M - i >= 2 ? 2 : 1;
        for (int64_t j0 = 0; j0 < N; j0 += 4) dot_rows(x, w, K, N, i, R, j0, N - j0 >= 4 ? 4 : (int)(N - j0), y);
    }
}

/* dw[j0.., k..k+8*KB) for J outputs: J*KB chains, sums over i in order */
static inline __attribute__((always_inline, target("avx2,fma"))) void
grad_block(const float *g, const float *x, int64_t M, int64_t N, int64_t K, int64_t j0, int64_t k, int J, int KB,
           float *dw)
{
    __m256 a[4][2];
    _Pragma("GCC unroll 4")
    for (int j = 0; j < J; j++)
        _Pragma("GCC unroll 4")
        for (int b = 0; b < KB; b++) a[j][b] = _mm256_setzero_ps();
    for (int64_t i = 0; i < M; i++)
        _Pragma("GCC unroll 4")
        for (int b = 0; b < KB; b++) {
            __m256 xv = _mm256_loadu_ps(x + i * K + k + 8 * b);
            _Pragma("GCC unroll 4")
            for (int j = 0; j < J; j++) a[j][b] = _mm256_fmadd_ps(_mm256_broadcast_ss(g + i * N + j0 + j), xv, a[j][b]);
        }
    _Pragma("GCC unroll 4")
    for (int j = 0; j < J; j++)
        _Pragma("GCC unroll 4")
        for (int b = 0; b < KB; b++) _mm256_storeu_ps(dw + (j0 + j) * K + k + 8 * b, a[j][b]);
}

__attribute__((target("avx2,fma"))) static void grad_cols(const float *g, const float *x, int64_t M, int64_t N,
                                                          int64_t K, int64_t j0, int64_t k, int J, int KB, float *dw)
{
    switch (KB * 4 + J) {
    case 5: grad_block(g, x, M, N, K, j0, k, 1, 1, dw); break;
    case 6: grad_block(g, x, M, N, K, j0, k, 2, 1, dw); break;
    case 7: grad_block(g, x, M, N, K, j0, k, 3, 1, dw); break;
    case 8: grad_block(g, x, M, N, K, j0, k, 4, 1, dw); break;
    case 9: grad_block(g, x, M, N, K, j0, k, 1, 2, dw); break;
    case 10: grad_block(g, x, M, N, K, j0, k, 2, 2, dw); break;
    case 11: grad_block(g, x, M, N, K, j0, k, 3, 2, dw); break;
    default: grad_block(g, x, M, N, K, j0, k, 4, 2, dw); break;
    }
}

/* dw[N, K] = g[M, N]^T @ x[M, K] */
__attribute__((target("avx2,fma"))) static void small_n_weight_grad(int64_t M, int64_t N, int64_t K, const float *g,
                                                                    const float *x, float *dw)
{
    for (int64_t j0 = 0; j0 < N; j0 += 4) {
        int J = N - j0 >= 4 ? 4 : (int)(N - j0);
        int64_t k = 0;
        for (; k + 8 <= K; k += 16) {
            int KB = k + 16 <= K ? 2 : 1;
            grad_cols(g, x, M, N, K, j0, k, J, KB, dw);
            if (KB == 1) { k += 8; break; }
        }
        for (; k < K; k++)
            for (int j = 0; j < J; j++) {
                float s = 0.0f;
                for (int64_t i = 0; i < M; i++) s += g[i * N + j0 + j] * x[i * K + k];
                dw[(j0 + j) * K + k] = s;
            }
    }
}

static bool use_small_n(int64_t N) { return N > 0 && N <= SMALL_N && have_avx2_fma(); }
#else
/* other CPUs: always OpenBLAS (the stubs below are never called) */
static bool use_small_n(int64_t N) { (void)N; return false; }
static void small_n_forward(int64_t M, int64_t N, int64_t K, const float *x, const float *w, float *y)
{
    (void)M, (void)N, (void)K, (void)x, (void)w, (void)y;
}
static void small_n_weight_grad(int64_t M, int64_t N, int64_t K, const float *g, const float *x, float *dw)
{
    (void)M, (void)N, (void)K, (void)g, (void)x, (void)dw;
}
#endif


/* ---- mid-sized GEMMs split over the kshot pool ----
 * OpenBLAS threads a 32x256x784 product only ~1.5x on 2 cores. Instead the
 * output's columns are cut into blocks whose bounds depend only on the sizes
 * and each block is one single-threaded sgemm on the kshot pool: it scales
 * better, and the result no longer depends on the thread count. Products
 * outside [SPLIT_MIN, SPLIT_MAX] multiply-adds keep one call (tiny ones are
 * not worth a wake-up; huge ones thread well inside OpenBLAS). */
#define SPLIT_MIN (1 << 18)
#define SPLIT_MAX (1 << 26)
#define SPLIT_PARTS 4
#define SPLIT_ALIGN 16

extern void openblas_set_num_threads(int);

typedef struct gemm_job {
    bool tb;
    int64_t M, K, lda, ldb, ldc;
    bool ta;
    float beta;
    const float *A, *B;
    float *C;
} gemm_job;

/* columns [j0, j1) of C = op(A) @ op(B) + beta * C */
static ks_status gemm_cols(void *arg, int64_t j0, int64_t j1)
{
    const gemm_job *g = arg;
    const float *B = g->B + (g->tb ? j0 * g->ldb : j0);
    cblas_sgemm(CblasRowMajor, g->ta ? CblasTrans : CblasNoTrans, g->tb ? CblasTrans : CblasNoTrans, (int)g->M,
                (int)(j1 - j0), (int)g->K, 1.0f, g->A, (int)g->lda, B, (int)g->ldb, g->beta, g->C + j0, (int)g->ldc);
    return KS_OK;
}

/* C[M, N] = op(A)[M, K] @ op(B)[K, N] + beta * C (row-major, M, N, K > 0) */
static ks_status linear_gemm(ks_ctx *c, bool ta, bool tb, int64_t M, int64_t N, int64_t K, const float *A, int64_t lda,
                             const float *B, int64_t ldb, float beta, float *C, int64_t ldc)
{
    gemm_job g = {tb, M, K, lda, ldb, ldc, ta, beta, A, B, C};
    double work = (double)M * (double)N * (double)K;
    if (work < SPLIT_MIN || work > SPLIT_MAX || N < 2 * SPLIT_ALIGN) return gemm_cols(&g, 0, N);
    int64_t grain = (N + SPLIT_PARTS - 1) / SPLIT_PARTS;
    grain = (grain + SPLIT_ALIGN - 1) / SPLIT_ALIGN * SPLIT_ALIGN;
    int nt = ks_get_num_threads(c);
    if (nt > 1) openblas_set_num_threads(1); /* one BLAS thread per pool worker */
    ks_status st = ks_parallel_for(c, N, grain, gemm_cols, &g);
    if (nt > 1) openblas_set_num_threads(nt);
    return st;
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

static ks_status linear_backward(ks_ctx *c, ks_node *n, ks_tensor *const *gout, ks_tensor **gin)
{
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
        if (M && K && use_small_n(N)) small_n_weight_grad(M, N, K, gp, xp, ks_tensor_data(gin[1]));
        else if (M) st = linear_gemm(c, true, false, N, K, M, gp, N, xp, K, 0.0f, ks_tensor_data(gin[1]), K);
        else memset(ks_tensor_data(gin[1]), 0, (size_t)(N * K) * sizeof(float));
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
        return ks_error(c, KS_ETYPE, "linear: expected float32 input, weight and bias (got %s, %s, %s)",
                        ks_dtype_name(x->dtype), ks_dtype_name(w->dtype), b ? ks_dtype_name(b->dtype) : "none");
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
        if (!bias && K && use_small_n(N)) memset(yp, 0, (size_t)(M * N) * sizeof(float));
        if (K && use_small_n(N)) small_n_forward(M, N, K, ks_tensor_data(x), ks_tensor_data(w), yp);
        else if (K) st = linear_gemm(c, false, true, M, N, K, ks_tensor_data(x), K, ks_tensor_data(w), K,
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
