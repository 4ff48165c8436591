/* ks_distance.c: cdist (see ks_distance.h). Both inputs are expanded to the
 * broadcast batch shape and made contiguous, so kernels see plain
 * [B, P, M] and [B, R, M] arrays. */
#include "ks_distance.h"
#include "ks_autograd.h"
#include "ks_linalg.h"
#include "ks_threads.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    const float *x1, *x2;
    float *out;
    int64_t P, R, M;
    double p;
    const double *n1, *n2; /* squared row norms (gemm path) */
} dist_job;

/* sum over k of |a - b|^q for q = 1 or 2, four independent double
 * accumulators (breaks the add latency chain; the order is fixed, so the
 * result is still deterministic) */
static double sum_pow12(const float *a, const float *b, int64_t M, int q)
{
    double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    int64_t k = 0;
    if (q == 2) {
        for (; k + 4 <= M; k += 4) {
            double d0 = (double)a[k] - b[k], d1 = (double)a[k + 1] - b[k + 1];
            double d2 = (double)a[k + 2] - b[k + 2], d3 = (double)a[k + 3] - b[k + 3];
            s0 += d0 * d0; s1 += d1 * d1; s2 += d2 * d2; s3 += d3 * d3;
        }
        for (; k < M; k++) { double d = (double)a[k] - b[k]; s0 += d * d; }
    } else {
        for (; k + 4 <= M; k += 4) {
            s0 += fabs((double)a[k] - b[k]);
            s1 += fabs((double)a[k + 1] - b[k + 1]);
            s2 += fabs((double)a[k + 2] - b[k + 2]);
            s3 += fabs((double)a[k + 3] - b[k + 3]);
        }
        for (; k < M; k++) s0 += fabs((double)a[k] - b[k]);
    }
    return (s0 + s1) + (s2 + s3);
}

static double row_dist(const float *a, const float *b, int64_t M, double p)
{
    double s = 0;
    if (p == 2) return sqrt(sum_pow12(a, b, M, 2));
    if (p == 1) return sum_pow12(a, b, M, 1);
    if (p == 0) {
        for (int64_t k = 0; k < M; k++) s += a[k] != b[k];
        return s;
    }
    if (isinf(p)) {
        for (int64_t k = 0; k < M; k++) {
            double d = fabs((double)a[k] - b[k]);
            if (d > s || d != d) s = d;
        }
        return s;
    }
    for (int64_t k = 0; k < M; k++) s += pow(fabs((double)a[k] - b[k]), p);
    return pow(s, 1.0 / p);
}

/* rows [b, e) of the flattened [B * P] first operand */
static ks_status direct_rows(void *arg, int64_t b, int64_t e)
{
    const dist_job *j = arg;
    for (int64_t r = b; r < e; r++) {
        int64_t batch = r / j->P;
        const float *a = j->x1 + r * j->M, *x2 = j->x2 + batch * j->R * j->M;
        float *o = j->out + r * j->R;
        for (int64_t q = 0; q < j->R; q++) o[q] = (float)row_dist(a, x2 + q * j->M, j->M, j->p);
    }
    return KS_OK;
}

/* out holds -2 a.b; add the norms, clamp at 0, take the root */
static ks_status finish_rows(void *arg, int64_t b, int64_t e)
{
    const dist_job *j = arg;
    for (int64_t r = b; r < e; r++) {
        const double *n2 = j->n2 + (r / j->P) * j->R;
        float *o = j->out + r * j->R;
        for (int64_t q = 0; q < j->R; q++) {
            double d = j->n1[r] + n2[q] + o[q];
            o[q] = (float)sqrt(d < 0 ? 0 : d); /* NaN stays NaN */
        }
    }
    return KS_OK;
}

static void sq_norms(const float *x, int64_t rows, int64_t M, double *out)
{
    for (int64_t r = 0; r < rows; r++) {
        double s = 0;
        for (int64_t k = 0; k < M; k++) s += (double)x[r * M + k] * x[r * M + k];
        out[r] = s;
    }
}

static ks_status gemm_path(ks_ctx *c, dist_job *j, int64_t B, int64_t grain)
{
    size_t n = (size_t)(B * (j->P + j->R)) * sizeof(double);
    double *norms = ks_mem_alloc(c, n ? n : 1);
    if (!norms) return KS_ENOMEM;
    sq_norms(j->x1, B * j->P, j->M, norms);
    sq_norms(j->x2, B * j->R, j->M, norms + B * j->P);
    j->n1 = norms;
    j->n2 = norms + B * j->P;
    ks_status st = KS_OK;
    for (int64_t b = 0; b < B && !st; b++)
        st = ks_gemm_f32(c, false, true, j->P, j->R, j->M, -2.0f, j->x1 + b * j->P * j->M, j->M,
                         j->x2 + b * j->R * j->M, j->M, 0.0f, j->out + b * j->P * j->R, j->R);
    if (!st) st = ks_parallel_for(c, B * j->P, grain, finish_rows, j);
    ks_mem_free(c, norms, n ? n : 1);
    return st;
}

/* x expanded to batch + its last two dims, contiguous */
static ks_status batch_view(ks_ctx *c, ks_tensor *x, int nb, const int64_t *batch, ks_tensor **out)
{
    int64_t size[KS_MAX_DIMS];
    memcpy(size, batch, (size_t)nb * sizeof *size);
    size[nb] = x->size[x->ndim - 2];
    size[nb + 1] = x->size[x->ndim - 1];
    ks_tensor *e;
    if (x->ndim == nb + 2 && memcmp(x->size, size, (size_t)(nb + 2) * sizeof *size) == 0)
        return ks_contiguous(c, x, out); /* no broadcast: skip the view */
    ks_status st = ks_expand(c, x, nb + 2, size, &e);
    if (st) return st;
    st = ks_contiguous(c, e, out);
    ks_tensor_release(e);
    return st;
}

static ks_status check_args(ks_ctx *c, const ks_tensor *x1, const ks_tensor *x2, double p)
{
    char a[160], b[160];
    if (x1->dtype != KS_FLOAT32 || x2->dtype != KS_FLOAT32)
        return ks_error(c, KS_ETYPE, "cdist(): x1 and x2 must be float32, got %s and %s", ks_dtype_name(x1->dtype),
                        ks_dtype_name(x2->dtype));
    if (x1->ndim < 2 || x2->ndim < 2 || x1->size[x1->ndim - 1] != x2->size[x2->ndim - 1])
        return ks_error(c, KS_ESHAPE, "cdist(): x1 %s and x2 %s must be at least 2-D with the same number of "
                        "columns", ks_shape_str(x1, a, sizeof a), ks_shape_str(x2, b, sizeof b));
    if (!(p >= 0)) return ks_error(c, KS_EINVAL, "cdist(): p must be >= 0, got %g", p);
    return KS_OK;
}

ks_status ks_cdist(ks_ctx *c, ks_tensor *x1, ks_tensor *x2, double p, ks_tensor **out)
{
    ks_status st = check_args(c, x1, x2, p);
    if (st) return st;
    int nb;
    int64_t size[KS_MAX_DIMS];
    if ((st = ks_broadcast_shapes(c, x1->ndim - 2, x1->size, x2->ndim - 2, x2->size, &nb, size))) {
        char a[160], b[160];
        return ks_error(c, KS_ESHAPE, "cdist(): batch dims of x1 %s and x2 %s cannot be broadcast",
                        ks_shape_str(x1, a, sizeof a), ks_shape_str(x2, b, sizeof b));
    }
    ks_tensor *a = NULL, *b = NULL, *r = NULL;
    if ((st = batch_view(c, x1, nb, size, &a)) || (st = batch_view(c, x2, nb, size, &b))) goto done;
    dist_job j = {ks_tensor_data(a), ks_tensor_data(b), NULL, a->size[nb], b->size[nb], a->size[nb + 1], p, NULL, NULL};
    int64_t B = 1;
    for (int i = 0; i < nb; i++) B *= size[i];
    size[nb] = j.P;
    size[nb + 1] = j.R;
    if ((st = ks_tensor_empty(c, KS_FLOAT32, nb + 2, size, &r))) goto done;
    j.out = ks_tensor_data(r);
    if (r->numel > 0) {
        int64_t work = j.R * (j.M > 0 ? j.M : 1), grain = 65536 / (work > 0 ? work : 1);
        if (grain < 1) grain = 1;
        if (p == 2 && (j.P > 25 || j.R > 25)) st = gemm_path(c, &j, B, grain);
        else st = ks_parallel_for(c, B * j.P, grain, direct_rows, &j);
    }
    if (st) { ks_tensor_release(r); goto done; }
    *out = r;
done:
    ks_tensor_release(a);
    ks_tensor_release(b);
    return st;
}

/* ------------------------------------------------------------- backward */
typedef struct {
    const float *x, *y, *g;  /* x [B, P, M] rows get the gradient; y [B, R, M]; g [B, P, R] */
    float *out;              /* [B, P, M] */
    int64_t P, R, M;
    bool g_transposed;       /* g is [B, R, P] seen from x (the x2 pass) */
    double p;
} grad_job;

/* d dist(x, y) / d x_k for diff = x_k - y_k (odd in diff, so the same
 * function serves x2 with the roles swapped) */
static double dist_coef(double diff, double d, double p)
{
    double s = (diff > 0) - (diff < 0);
    if (p == 0) return 0;
    if (p == 1) return s;
    if (isinf(p)) return fabs(diff) == d ? s : 0;
    if (d == 0 || (p < 1 && diff == 0)) return 0;
    if (p == 2) return diff / d;
    return s * pow(fabs(diff), p - 1) / pow(d, p - 1);
}

static ks_status grad_rows(void *arg, int64_t b, int64_t e)
{
    const grad_job *j = arg;
    double acc[256];
    double *a = j->M <= 256 ? acc : malloc((size_t)j->M * sizeof *a);
    if (!a) return KS_ENOMEM;
    for (int64_t r = b; r < e; r++) {
        int64_t batch = r / j->P, i = r % j->P;
        const float *x = j->x + r * j->M, *ys = j->y + batch * j->R * j->M;
        for (int64_t k = 0; k < j->M; k++) a[k] = 0;
        for (int64_t q = 0; q < j->R; q++) {
            double g = j->g_transposed ? j->g[(batch * j->R + q) * j->P + i] : j->g[r * j->R + q];
            if (g == 0) continue;
            const float *y = ys + q * j->M;
            double d = row_dist(x, y, j->M, j->p);
            for (int64_t k = 0; k < j->M; k++) a[k] += g * dist_coef((double)x[k] - y[k], d, j->p);
        }
        for (int64_t k = 0; k < j->M; k++) j->out[r * j->M + k] = (float)a[k];
    }
    if (a != acc) free(a);
    return KS_OK;
}

/* gradient for the rows of x (against y), summed back to the shape of `like` */
static ks_status grad_side(ks_ctx *c, grad_job *j, int nb, const int64_t *batch, int64_t B, const ks_tensor *like,
                           ks_tensor **out)
{
    int64_t size[KS_MAX_DIMS];
    memcpy(size, batch, (size_t)nb * sizeof *size);
    size[nb] = j->P;
    size[nb + 1] = j->M;
    ks_tensor *r, *s;
    ks_status st = ks_tensor_empty(c, KS_FLOAT32, nb + 2, size, &r);
    if (st) return st;
    j->out = ks_tensor_data(r);
    int64_t work = j->R * (j->M > 0 ? j->M : 1), grain = 32768 / (work > 0 ? work : 1);
    st = ks_parallel_for(c, B * j->P, grain < 1 ? 1 : grain, grad_rows, j);
    if (st == KS_ENOMEM) st = ks_error(c, st, "cdist backward: out of memory");
    if (!st) st = ks_sum_to_shape(c, r, like->ndim, like->size, &s);
    ks_tensor_release(r);
    if (!st) *out = s;
    return st;
}

ks_status ks_cdist_backward(ks_ctx *c, ks_tensor *x1, ks_tensor *x2, double p, ks_tensor *grad, ks_tensor **g1,
                            ks_tensor **g2)
{
    ks_status st = check_args(c, x1, x2, p);
    if (st) return st;
    int nb;
    int64_t size[KS_MAX_DIMS];
    if ((st = ks_broadcast_shapes(c, x1->ndim - 2, x1->size, x2->ndim - 2, x2->size, &nb, size))) return st;
    ks_tensor *a = NULL, *b = NULL, *g = NULL, *r1 = NULL, *r2 = NULL;
    if ((st = batch_view(c, x1, nb, size, &a)) || (st = batch_view(c, x2, nb, size, &b))) goto done;
    int64_t B = 1, P = a->size[nb], R = b->size[nb], M = a->size[nb + 1];
    for (int i = 0; i < nb; i++) B *= size[i];
    if (grad->dtype != KS_FLOAT32 || grad->numel != B * P * R) {
        char s1[160];
        st = ks_error(c, KS_ESHAPE, "cdist backward: gradient of shape %s does not match the distances",
                      ks_shape_str(grad, s1, sizeof s1));
        goto done;
    }
    if ((st = ks_contiguous(c, grad, &g))) goto done;
    grad_job j = {ks_tensor_data(a), ks_tensor_data(b), ks_tensor_data(g), NULL, P, R, M, false, p};
    if (g1 && (st = grad_side(c, &j, nb, size, B, x1, &r1))) goto done;
    grad_job k = {ks_tensor_data(b), ks_tensor_data(a), ks_tensor_data(g), NULL, R, P, M, true, p};
    if (g2 && (st = grad_side(c, &k, nb, size, B, x2, &r2))) goto done;
    if (g1) *g1 = r1;
    if (g2) *g2 = r2;
    r1 = r2 = NULL;
done:
    ks_tensor_release(r1);
    ks_tensor_release(r2);
    ks_tensor_release(a);
    ks_tensor_release(b);
    ks_tensor_release(g);
    return st;
}
