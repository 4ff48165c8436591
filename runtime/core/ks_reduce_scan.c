/* ks_reduce_scan.c: inclusive scans (cumsum, cumprod) along one dim.
 *
 * Each line along the dim is scanned serially (double accumulator for
 * float32, wrapping int64 otherwise); lines are spread over threads, so the
 * result does not depend on the thread count. */
#include "ks_reduce.h"
#include "ks_threads.h"

#include <stdio.h>

#define SCAN_WORK 32768

typedef struct scan_job {
    bool prod;
    ks_dtype in_dt, out_dt;
    const char *in;
    char *out;
    int nd;                                   /* dims other than the scanned one */
    int64_t size[KS_MAX_DIMS], istride[KS_MAX_DIMS], ostride[KS_MAX_DIMS]; /* bytes */
    int64_t len, isb, osb;                    /* scanned dim: length, byte strides */
} scan_job;

static void scan_line(const scan_job *j, const char *x, char *y)
{
    int64_t n = j->len, isb = j->isb, osb = j->osb;
    if (j->out_dt == KS_FLOAT32) {
        double acc = j->prod ? 1 : 0;
        for (int64_t k = 0; k < n; k++) {
            double v = *(const float *)(x + k * isb);
            acc = j->prod ? acc * v : acc + v;
            *(float *)(y + k * osb) = (float)acc;
        }
        return;
    }
    uint64_t acc = j->prod ? 1 : 0;
    for (int64_t k = 0; k < n; k++) {
        uint64_t v = (uint64_t)ks_load_i64(x + k * isb, j->in_dt);
        acc = j->prod ? acc * v : acc + v;
        *(int64_t *)(y + k * osb) = (int64_t)acc;
    }
}

static ks_status scan_range(void *arg, int64_t b, int64_t e)
{
    const scan_job *j = arg;
    for (int64_t l = b; l < e; l++) {
        const char *x = j->in;
        char *y = j->out;
        int64_t r = l;
        for (int d = j->nd - 1; d >= 0; d--) {
            int64_t i = r % j->size[d];
            r /= j->size[d];
            x += i * j->istride[d];
            y += i * j->ostride[d];
        }
        scan_line(j, x, y);
    }
    return KS_OK;
}

static ks_status scan(ks_ctx *c, const char *name, bool prod, ks_tensor *t, int dim, ks_tensor **out)
{
    int d;
    if (ks_wrap_dim(c, dim, t->ndim, &d)) {
        char msg[KS_MSG_SIZE];
        snprintf(msg, sizeof msg, "%s", ks_ctx_message(c));
        return ks_error(c, KS_ERANGE, "%s(): %s", name, msg);
    }
    ks_dtype odt = t->dtype == KS_FLOAT32 ? KS_FLOAT32 : KS_INT64;
    ks_tensor *r;
    ks_status st = ks_tensor_empty_like(c, t, odt, &r);
    if (st) return st;
    scan_job j = {.prod = prod, .in_dt = t->dtype, .out_dt = odt, .in = ks_tensor_data(t), .out = ks_tensor_data(r),
                  .len = 1};
    int64_t isz = (int64_t)ks_dtype_size(t->dtype), osz = (int64_t)ks_dtype_size(odt), lines = 1;
    for (int k = 0; k < t->ndim; k++) {
        if (k == d) {
            j.len = t->size[k];
            j.isb = t->stride[k] * isz;
            j.osb = r->stride[k] * osz;
            continue;
        }
        j.size[j.nd] = t->size[k];
        j.istride[j.nd] = t->stride[k] * isz;
        j.ostride[j.nd++] = r->stride[k] * osz;
        lines *= t->size[k];
    }
    if (t->numel > 0) {
        int64_t grain = SCAN_WORK / j.len < 1 ? 1 : SCAN_WORK / j.len;
        if ((st = ks_parallel_for(c, lines, grain, scan_range, &j))) {
            ks_tensor_release(r);
            return st;
        }
    }
    *out = r;
    return KS_OK;
}

ks_status ks_cumsum(ks_ctx *c, ks_tensor *t, int dim, ks_tensor **out)
{
    return scan(c, "cumsum", false, t, dim, out);
}

ks_status ks_cumprod(ks_ctx *c, ks_tensor *t, int dim, ks_tensor **out)
{
    return scan(c, "cumprod", true, t, dim, out);
}
