/* ks_reduce_scan.c: inclusive scans (cumsum, cumprod) along one dim, and
 * cumprod's gradient.
 *
 * Each line along the dim is scanned serially (double accumulator for
 * float32, wrapping int64 otherwise); lines are spread over threads, so the
 * result does not depend on the thread count. */
#include "ks_reduce.h"
#include "ks_threads.h"

#include <stdio.h>

#define SCAN_WORK 32768
#define SCAN_MAX_T 3 /* tensors walked together: out, in[, grad] */

typedef enum { SCAN_SUM, SCAN_PROD, SCAN_PROD_GRAD } scan_kind;

typedef struct scan_job {
    scan_kind kind;
    ks_dtype in_dt, out_dt;
    int nt;
    char *base[SCAN_MAX_T];
    int nd;                                   /* dims other than the scanned one */
    int64_t size[KS_MAX_DIMS], stride[SCAN_MAX_T][KS_MAX_DIMS]; /* bytes */
    int64_t len, lstride[SCAN_MAX_T];         /* scanned dim: length, byte strides */
} scan_job;

static void scan_line(const scan_job *j, char *const *p)
{
    const char *x = p[1];
    char *y = p[0];
    int64_t n = j->len, isb = j->lstride[1], osb = j->lstride[0];
    bool prod = j->kind == SCAN_PROD;
    if (j->out_dt == KS_FLOAT32) {
        double acc = prod ? 1 : 0;
        for (int64_t k = 0; k < n; k++) {
            double v = *(const float *)(x + k * isb);
            acc = prod ? acc * v : acc + v;
            *(float *)(y + k * osb) = (float)acc;
        }
        return;
    }
    uint64_t acc = prod ? 1 : 0;
    for (int64_t k = 0; k < n; k++) {
        uint64_t v = (uint64_t)ks_load_i64(x + k * isb, j->in_dt);
        acc = prod ? acc * v : acc + v;
        *(int64_t *)(y + k * osb) = (int64_t)acc;
    }
}

/* d/dx_k of sum_j g_j y_j with y_j = x_0 ... x_j is P_{k-1} S_k, where
 * P_{k-1} = x_0 ... x_{k-1} and S_k = sum_{j>=k} g_j x_{k+1} ... x_j obeys
 * S_k = g_k + x_{k+1} S_{k+1}. No division: exact where x holds zeros. */
static void cumprod_grad_line(const scan_job *j, char *const *p)
{
    const char *x = p[1], *g = p[2];
    char *o = p[0];
    int64_t n = j->len, xs = j->lstride[1], gs = j->lstride[2], os = j->lstride[0];
    double pre = 1, s = 0;
    for (int64_t k = 0; k < n; k++) { /* out_k = P_{k-1} */
        *(float *)(o + k * os) = (float)pre;
        pre *= *(const float *)(x + k * xs);
    }
    for (int64_t k = n - 1; k >= 0; k--) {
        double next = k + 1 < n ? *(const float *)(x + (k + 1) * xs) : 0;
        s = *(const float *)(g + k * gs) + next * s;
        *(float *)(o + k * os) = (float)(*(const float *)(o + k * os) * s);
    }
}

static ks_status scan_range(void *arg, int64_t b, int64_t e)
{
    const scan_job *j = arg;
    for (int64_t l = b; l < e; l++) {
        char *p[SCAN_MAX_T];
        for (int t = 0; t < j->nt; t++) p[t] = j->base[t];
        int64_t r = l;
        for (int d = j->nd - 1; d >= 0; d--) {
            int64_t i = r % j->size[d];
            r /= j->size[d];
            for (int t = 0; t < j->nt; t++) p[t] += i * j->stride[t][d];
        }
        if (j->kind == SCAN_PROD_GRAD) cumprod_grad_line(j, p);
        else scan_line(j, p);
    }
    return KS_OK;
}

/* dim d of ts[0..nt) (same shape) split into the scanned line and the others; runs the job */
static ks_status run_job(ks_ctx *c, scan_job *j, int d, ks_tensor *const *ts)
{
    const ks_tensor *t0 = ts[0];
    int64_t lines = 1;
    j->len = 1;
    for (int k = 0; k < t0->ndim; k++) {
        for (int t = 0; t < j->nt; t++) {
            int64_t bytes = ts[t]->stride[k] * (int64_t)ks_dtype_size(ts[t]->dtype);
            if (k == d) j->lstride[t] = bytes;
            else j->stride[t][j->nd] = bytes;
        }
        if (k == d) {
            j->len = t0->size[k];
        } else {
            j->size[j->nd++] = t0->size[k];
            lines *= t0->size[k];
        }
    }
    for (int t = 0; t < j->nt; t++) j->base[t] = ks_tensor_data(ts[t]);
    if (t0->numel == 0) return KS_OK;
    int64_t grain = SCAN_WORK / j->len < 1 ? 1 : SCAN_WORK / j->len;
    return ks_parallel_for(c, lines, grain, scan_range, j);
}

static ks_status wrap(ks_ctx *c, const char *name, int dim, int ndim, int *d)
{
    if (!ks_wrap_dim(c, dim, ndim, d)) return KS_OK;
    char msg[KS_MSG_SIZE];
    snprintf(msg, sizeof msg, "%s", ks_ctx_message(c));
    return ks_error(c, KS_ERANGE, "%s(): %s", name, msg);
}

static ks_status scan(ks_ctx *c, const char *name, scan_kind kind, ks_tensor *t, int dim, ks_tensor **out)
{
    int d;
    ks_status st = wrap(c, name, dim, t->ndim, &d);
    if (st) return st;
    ks_dtype odt = t->dtype == KS_FLOAT32 ? KS_FLOAT32 : KS_INT64;
    ks_tensor *r;
    if ((st = ks_tensor_empty_like(c, t, odt, &r))) return st;
    scan_job j = {.kind = kind, .in_dt = t->dtype, .out_dt = odt, .nt = 2};
    if ((st = run_job(c, &j, d, (ks_tensor *const[]){r, t}))) {
        ks_tensor_release(r);
        return st;
    }
    *out = r;
    return KS_OK;
}

ks_status ks_cumsum(ks_ctx *c, ks_tensor *t, int dim, ks_tensor **out)
{
    return scan(c, "cumsum", SCAN_SUM, t, dim, out);
}

ks_status ks_cumprod(ks_ctx *c, ks_tensor *t, int dim, ks_tensor **out)
{
    return scan(c, "cumprod", SCAN_PROD, t, dim, out);
}

ks_status ks_cumprod_backward(ks_ctx *c, ks_tensor *x, ks_tensor *g, int dim, ks_tensor **out)
{
    if (x->dtype != KS_FLOAT32 || g->dtype != KS_FLOAT32)
        return ks_error(c, KS_ETYPE, "cumprod_backward(): input and gradient must be float32, got %s and %s",
                        ks_dtype_name(x->dtype), ks_dtype_name(g->dtype));
    if (!ks_same_shape(x, g)) {
        char xs[64], gs[64];
        ks_shape_str(x, xs, sizeof xs);
        ks_shape_str(g, gs, sizeof gs);
        return ks_error(c, KS_ESHAPE, "cumprod_backward(): gradient of shape %s for an input of shape %s", gs, xs);
    }
    int d;
    ks_status st = wrap(c, "cumprod_backward", dim, x->ndim, &d);
    if (st) return st;
    ks_tensor *r;
    if ((st = ks_tensor_empty_like(c, x, KS_FLOAT32, &r))) return st;
    scan_job j = {.kind = SCAN_PROD_GRAD, .in_dt = KS_FLOAT32, .out_dt = KS_FLOAT32, .nt = 3};
    if ((st = run_job(c, &j, d, (ks_tensor *const[]){r, x, g}))) {
        ks_tensor_release(r);
        return st;
    }
    *out = r;
    return KS_OK;
}
