/* ks_linalg.h: matrix products with PyTorch semantics.
 *
 * float32 goes through OpenBLAS cblas_sgemm. A matrix operand whose strides
 * are those of a row-major matrix (unit column stride) or of a transposed
 * one (unit row stride) is handed to BLAS as it is (NoTrans / Trans, no
 * copy); any other layout (steps, negative or zero strides) is first copied
 * to a contiguous buffer. int64 and uint8 products use a plain loop with an
 * int64 accumulator (uint8 results wrap like PyTorch's). bool is refused.
 * Mixed dtypes are promoted with ks_promote (PyTorch refuses them).
 *
 * Threads: OpenBLAS always runs single-threaded (its own threads change
 * the rounding with the thread count). A product of at least 2^18
 * multiply-adds is cut into blocks of output columns (of the longer output
 * side beyond 2^26) whose bounds depend only on M, N and K, one sgemm per
 * block on the kshot pool; a large batch of small matrices (M*N*K <=
 * KS_GEMM_SMALL_MNK, at least KS_GEMM_PARALLEL_MACS in all) is spread over
 * the pool whole matrices at a time. Every output element comes from the
 * same single-threaded call whatever the thread count, so results are
 * bit-identical for any number of threads.
 *
 * Errors: KS_ESHAPE names both shapes ("matmul: shapes [2, 3] and [4, 5]
 * cannot be multiplied (3 != 4)"), KS_ETYPE names the dtypes, KS_ERANGE when
 * a size does not fit BLAS's 32-bit integers.
 */
#ifndef KS_LINALG_H
#define KS_LINALG_H

#include "ks_tensor.h"

#include <stdbool.h>

/* Per-matrix work below which OpenBLAS runs a gemm on the calling thread
 * (its threshold is 65536 * GEMM_MULTITHREAD_THRESHOLD; this is the value
 * for the smallest threshold a build can choose). */
#define KS_GEMM_SMALL_MNK 65536
/* A batch of small matrices goes to the pool only above this much work
 * (multiply-adds): below it the wake-up of the workers costs more than it
 * saves (64 x 32x32x32 = 2^21 stays serial, like OpenBLAS's own loop). */
#define KS_GEMM_PARALLEL_MACS (1 << 23)

/* C[M,N] = alpha * op(A)[M,K] @ op(B)[K,N] + beta * C, row-major, with
 * op(X) = X or X^T (transA/transB). lda/ldb/ldc are row strides of the
 * stored matrices, as for cblas_sgemm(CblasRowMajor, ...). K == 0 gives
 * C = beta * C (beta == 0 writes zeros, even over NaN). Fails with KS_ERANGE
 * when a size exceeds BLAS's int, KS_EINVAL when a leading dimension is too
 * small. Safe to call from a ks_parallel_for body only when M*N*K <=
 * KS_GEMM_SMALL_MNK (then it never reports an error for valid sizes). */
ks_status ks_gemm_f32(ks_ctx *c, bool transA, bool transB, int64_t M, int64_t N, int64_t K, float alpha,
                      const float *A, int64_t lda, const float *B, int64_t ldb, float beta, float *C,
                      int64_t ldc);
/* C = op(A) @ op(B) + beta * C (M, N, K > 0) through sgemm only, even for a
 * single row or column (the nn layers: their rounding then matches
 * PyTorch's sgemm path and does not change with the batch size); split like
 * ks_gemm_f32. */
ks_status ks_gemm_f32_sgemm(ks_ctx *c, bool transA, bool transB, int64_t M, int64_t N, int64_t K, const float *A,
                            int64_t lda, const float *B, int64_t ldb, float beta, float *C, int64_t ldc);

/* torch.matmul: 1-D x 1-D dot (0-d result), 2-D x 2-D mm, 1-D x 2-D and
 * 2-D x 1-D (the 1 dim is prepended / appended, then removed), N-D batched
 * with the batch dims broadcast. */
ks_status ks_matmul(ks_ctx *c, ks_tensor *a, ks_tensor *b, ks_tensor **out);
/* Same, writing into `out`, which must already have the result's shape and
 * dtype (any layout; may alias an input). Bumps out's version. */
ks_status ks_matmul_out(ks_ctx *c, ks_tensor *a, ks_tensor *b, ks_tensor *out);

/* Strict variants with PyTorch's rank checks. */
ks_status ks_mm(ks_ctx *c, ks_tensor *a, ks_tensor *b, ks_tensor **out);   /* [n,k] @ [k,m] */
ks_status ks_bmm(ks_ctx *c, ks_tensor *a, ks_tensor *b, ks_tensor **out);  /* [B,n,k] @ [B,k,m] */
ks_status ks_mv(ks_ctx *c, ks_tensor *a, ks_tensor *v, ks_tensor **out);   /* [n,k] @ [k] */
ks_status ks_dot(ks_ctx *c, ks_tensor *a, ks_tensor *b, ks_tensor **out);  /* [n] . [n] -> 0-d */
ks_status ks_outer(ks_ctx *c, ks_tensor *a, ks_tensor *b, ks_tensor **out); /* [n] x [m] -> [n,m] */
/* The same products (torch's out=) written into `out`, which must already
 * have the result's shape and dtype, as for ks_matmul_out (any layout; may
 * alias an input). Bumps out's version. */
typedef enum { KS_PRODUCT_MM, KS_PRODUCT_BMM, KS_PRODUCT_MV, KS_PRODUCT_DOT, KS_PRODUCT_OUTER } ks_product;
ks_status ks_product_out(ks_ctx *c, ks_product kind, ks_tensor *a, ks_tensor *b, ks_tensor *out);

/* torch.addmm: out = beta * input + alpha * (a @ b), a [n,k], b [k,m],
 * input broadcastable to [n,m]. beta == 0 ignores input's values (NaN too).
 * For integer results alpha and beta must be integral. */
ks_status ks_addmm(ks_ctx *c, ks_tensor *input, ks_tensor *a, ks_tensor *b, double beta, double alpha,
                   ks_tensor **out);

#endif
