/* ks_lapack.h: the factorizations behind ks.linalg (solve, cholesky, eigh,
 * svd, det), on LAPACK (the copy inside OpenBLAS, single-threaded).
 *
 * Every function takes a float32 matrix [m, n] or stack of matrices
 * [batch, m, n] (any strides: each matrix is copied) and returns new
 * contiguous float32 tensors, with a leading batch dim for a stack and
 * without one for a single matrix (det: [batch] or 0-d). The work is done in
 * float64 (a column-major copy per matrix), so float32 results are as good
 * as PyTorch's float32 ones or better; batches run one matrix after another,
 * so results do not depend on the thread count. Broadcasting, vectors as
 * right-hand sides and gradients live in bindings/lua/kshot/linalg.lua.
 *
 * Errors (messages as torch.linalg's): KS_ESHAPE for shapes that do not fit,
 * KS_ETYPE for a dtype other than float32, KS_EINVAL for a singular matrix
 * (solve), one that is not positive-definite (cholesky) or an algorithm that
 * did not converge (eigh, svd), naming the batch element.
 */
#ifndef KS_LAPACK_H
#define KS_LAPACK_H

#include "ks_tensor.h"

#include <stdbool.h>

/* X = A^-1 B for A [b, n, n], B [b, n, k]; X [b, n, k] (A and B both stacks or both matrices) */
ks_status ks_lapack_solve(ks_ctx *c, const ks_tensor *a, const ks_tensor *b, ks_tensor **x);
/* lower factor L with A = L L^T (A [b, n, n], only its lower triangle is read) */
ks_status ks_lapack_cholesky(ks_ctx *c, const ks_tensor *a, ks_tensor **l);
/* eigenvalues w [b, n] ascending and eigenvectors V [b, n, n] (columns) of the
 * symmetric matrices whose lower triangles A holds */
ks_status ks_lapack_eigh(ks_ctx *c, const ks_tensor *a, ks_tensor **w, ks_tensor **v);
/* A = U diag(S) Vh for A [b, m, n], k = min(m, n): U [b, m, k], S [b, k]
 * descending, Vh [b, k, n]; full: U [b, m, m], Vh [b, n, n] */
ks_status ks_lapack_svd(ks_ctx *c, const ks_tensor *a, bool full, ks_tensor **u, ks_tensor **s, ks_tensor **vh);
/* determinants [b] of A [b, n, n] (LU with partial pivoting; 0 when singular) */
ks_status ks_lapack_det(ks_ctx *c, const ks_tensor *a, ks_tensor **det);

#endif
