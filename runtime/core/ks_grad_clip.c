/* ks_grad_clip.c: clip_grad_norm_'s total norm and scaling (ks_grad_clip.h). */
#include "ks_grad_clip.h"
#include "ks_elementwise.h"
#include "ks_reduce.h"

#include <math.h>

static inline int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }

/* One partial of ks_sum over the squares: the loop of ks_reduce_ops.c's fsum
 * (four accumulators, combined (s0 + s1) + (s2 + s3)) fed with the float32
 * product x*x that g * g stores. Keep the two in step: composed_tail_spec
 * compares against the composition across several partials. */
static double partial_sumsq(const float *x, int64_t n)
{
    double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    int64_t k = 0;
    for (; k + 4 <= n; k += 4) {
        float a = x[k] * x[k], b = x[k + 1] * x[k + 1], c = x[k + 2] * x[k + 2], d = x[k + 3] * x[k + 3];
        s0 += a;
        s1 += b;
        s2 += c;
        s3 += d;
    }
    for (; k < n; k++) {
        float a = x[k] * x[k];
        s0 += a;
    }
    return (s0 + s1) + (s2 + s3);
}

/* (g * g):sum() of a contiguous float32 gradient, as a float32 value */
static float sumsq(const float *x, int64_t n)
{
    double tot = 0;
    for (int64_t b = 0; b < n; b += KS_RED_CHUNK) tot += partial_sumsq(x + b, min64(KS_RED_CHUNK, n - b));
    return (float)tot;
}

/* g:abs():max() of a non-empty contiguous float32 gradient: NaN if one is there */
static float absmax(const float *x, int64_t n)
{
    float m = fabsf(x[0]);
    for (int64_t k = 0; k < n && !isnan(m); k++) {
        float a = fabsf(x[k]);
        if (isnan(a) || a > m) m = a;
    }
    return m;
}

static ks_status check_grad(ks_ctx *c, const ks_tensor *g, double p)
{
    if (g->dtype != KS_FLOAT32)
        return ks_error(c, KS_ETYPE, "clip_grad_norm_: gradients must be float32, got %s", ks_dtype_name(g->dtype));
    if (isinf(p) && g->numel == 0)
        return ks_error(c, KS_EINVAL, "clip_grad_norm_: the max norm of an empty gradient is undefined");
    return KS_OK;
}

ks_status ks_grads_total_norm(ks_ctx *c, int n, ks_tensor *const *grads, double p, double *total)
{
    if (p != 2 && p != INFINITY) return ks_error(c, KS_EINVAL, "clip_grad_norm_: norm type %g has no kernel", p);
    double t = 0;
    for (int i = 0; i < n; i++) {
        ks_tensor *g = NULL;
        ks_status st = check_grad(c, grads[i], p);
        if (!st) st = ks_contiguous(c, grads[i], &g);
        if (st) return st;
        const float *x = ks_tensor_data(g);
        if (p == 2) {
            t += sumsq(x, g->numel);
        } else {
            double m = absmax(x, g->numel);
            if (isnan(m) || m > t) t = m; /* a NaN stays: nothing compares greater than it */
        }
        ks_tensor_release(g);
        if ((st = ks_check_interrupt(c))) return st;
    }
    *total = p == 2 ? pow(t, 1.0 / p) : t;
    return KS_OK;
}

ks_status ks_grads_scale_(ks_ctx *c, int n, ks_tensor *const *grads, double coef)
{
    for (int i = 0; i < n; i++) {
        ks_status st = ks_binary_op(c, KS_OP_MUL, ks_op_tensor(grads[i]), ks_op_scalar(ks_scalar_float(coef)), NULL,
                                    grads[i], NULL);
        if (st) return st;
    }
    return KS_OK;
}
