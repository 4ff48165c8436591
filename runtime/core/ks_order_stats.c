/* ks_order_stats.c: ks_mode and ks_quantile (contract in ks_order_stats.h). */
#include "ks_order_stats.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* t as rows: a contiguous tensor whose last dim (of n elements) is t's dim d
 * (the whole of t when flat or 0-d), rows of n in the row-major order of the
 * other dims */
static ks_status as_rows(ks_ctx *c, ks_tensor *t, bool flat, int d, ks_tensor **x, int64_t *rows, int64_t *n)
{
    if (flat || t->ndim == 0 || d == t->ndim - 1) {
        *n = flat ? t->numel : (t->ndim == 0 ? 1 : t->size[d]);
        *rows = *n > 0 ? t->numel / *n : 0;
        return ks_contiguous(c, t, x);
    }
    int perm[KS_MAX_DIMS], k = 0;
    for (int i = 0; i < t->ndim; i++)
        if (i != d) perm[k++] = i;
    perm[k] = d;
    ks_tensor *p;
    ks_status st = ks_permute(c, t, perm, &p);
    if (st) return st;
    st = ks_contiguous(c, p, x);
    ks_tensor_release(p);
    *n = t->size[d];
    *rows = *n > 0 ? t->numel / *n : 0;
    return st;
}

/* the result shape: [lead] (lead >= 0) then t's dims but d (kept as 1 with keepdim; all dims when flat) */
static int result_shape(const ks_tensor *t, bool flat, int d, bool keepdim, int64_t lead, int64_t *size)
{
    int k = 0;
    if (lead >= 0) size[k++] = lead;
    for (int i = 0; i < t->ndim; i++) {
        if (flat || i == d) {
            if (keepdim) size[k++] = 1;
        } else {
            size[k++] = t->size[i];
        }
    }
    return k;
}

/* ------------------------------------------------------------------- mode */
typedef struct {
    double f;   /* the element as double (all dtypes but int64) */
    int64_t i;  /* the element as int64 (int64) */
    int64_t at; /* its index in the row */
} mode_key;

/* ascending value then index; NaN after every number */
static int cmp_f64(const void *pa, const void *pb)
{
    const mode_key *a = pa, *b = pb;
    bool na = isnan(a->f), nb = isnan(b->f);
    if (na != nb) return na ? 1 : -1;
    if (!na && a->f != b->f) return a->f < b->f ? -1 : 1;
    return (a->at > b->at) - (a->at < b->at);
}

static int cmp_i64(const void *pa, const void *pb)
{
    const mode_key *a = pa, *b = pb;
    if (a->i != b->i) return a->i < b->i ? -1 : 1;
    return (a->at > b->at) - (a->at < b->at);
}

/* the index in the row of the mode of keys[0..n) sorted: the longest run of
 * equal values (the first, so the smallest, among equally long ones), the
 * run's last index (sorted by index within a value) */
static int64_t mode_of_sorted(const mode_key *keys, int64_t n, bool as_int)
{
    int64_t best = keys[0].at, best_len = 0;
    for (int64_t j = 0; j < n;) {
        int64_t k = j;
        while (k + 1 < n && (as_int ? keys[k + 1].i == keys[j].i : keys[k + 1].f == keys[j].f)) k++;
        if (k - j + 1 > best_len) {
            best_len = k - j + 1;
            best = keys[k].at;
        }
        j = k + 1;
    }
    return best;
}

ks_status ks_mode(ks_ctx *c, ks_tensor *t, int64_t dim, bool keepdim, ks_tensor **values, ks_tensor **indices)
{
    int d;
    ks_status st = ks_wrap_dim(c, dim, t->ndim, &d);
    if (st) return st;
    if (t->ndim > 0 && t->size[d] == 0)
        return ks_error(c, KS_EINVAL, "mode: cannot compute the mode of an empty dim");
    int64_t size[KS_MAX_DIMS];
    int nd = result_shape(t, false, d, keepdim && t->ndim > 0, -1, size);
    ks_tensor *x, *v = NULL, *ix = NULL;
    int64_t rows, n;
    if ((st = as_rows(c, t, false, d, &x, &rows, &n))) return st;
    mode_key *keys = malloc((size_t)(n > 0 ? n : 1) * sizeof *keys);
    if (!keys) st = ks_error(c, KS_ENOMEM, "mode: out of memory for a row of %lld elements", (long long)n);
    if (!st) st = ks_tensor_empty(c, t->dtype, nd, size, &v);
    if (!st) st = ks_tensor_empty(c, KS_INT64, nd, size, &ix);
    if (st) {
        free(keys);
        ks_tensor_release(x);
        ks_tensor_release(v);
        ks_tensor_release(ix);
        return st;
    }
    bool as_int = t->dtype == KS_INT64;
    size_t esz = ks_dtype_size(t->dtype);
    const char *src = ks_tensor_data(x);
    char *vout = ks_tensor_data(v);
    int64_t *iout = ks_tensor_data(ix);
    for (int64_t r = 0; r < rows; r++) {
        const char *row = src + (size_t)(r * n) * esz;
        for (int64_t j = 0; j < n; j++) {
            const void *p = row + (size_t)j * esz;
            keys[j].at = j;
            if (as_int) keys[j].i = ks_load_i64(p, t->dtype);
            else keys[j].f = ks_load_f64(p, t->dtype);
        }
        qsort(keys, (size_t)n, sizeof *keys, as_int ? cmp_i64 : cmp_f64);
        int64_t at = mode_of_sorted(keys, n, as_int);
        memcpy(vout + (size_t)r * esz, row + (size_t)at * esz, esz); /* the exact element, any dtype */
        iout[r] = at;
    }
    free(keys);
    ks_tensor_release(x);
    *values = v;
    *indices = ix;
    return KS_OK;
}

/* --------------------------------------------------------------- quantile */
/* ascending float32, NaN last */
static int cmp_f32(const void *pa, const void *pb)
{
    float a = *(const float *)pa, b = *(const float *)pb;
    bool na = isnan(a), nb = isnan(b);
    if (na || nb) return na - nb;
    return (a > b) - (a < b);
}

/* the quantile at float32 position p of the sorted row s (the Lua composition's arithmetic) */
static float quantile_at(const float *s, float p, ks_quantile_mode mode)
{
    double lo = floor(p), hi = ceil(p), f = (double)p - lo;
    switch (mode) {
    case KS_QUANTILE_LOWER: hi = lo; f = 0; break;
    case KS_QUANTILE_HIGHER: lo = hi; f = 0; break;
    case KS_QUANTILE_MIDPOINT: f = hi > lo ? 0.5 : 0; break;
    case KS_QUANTILE_NEAREST: {
        double r = f == 0.5 ? (fmod(lo, 2) == 0 ? lo : hi) : floor((double)p + 0.5);
        lo = hi = r;
        f = 0;
        break;
    }
    default: break;
    }
    float lv = s[(int64_t)lo], hv = s[(int64_t)hi];
    float diff = hv - lv, step = diff * (float)f; /* rounded to float32 at each op, as the tensor ops */
    return lv + step;
}

ks_status ks_quantile(ks_ctx *c, ks_tensor *t, const float *q, int64_t nq, bool q_dim, bool flat, int64_t dim,
                      bool keepdim, ks_quantile_mode mode, ks_tensor **out)
{
    if (t->dtype != KS_FLOAT32) return ks_error(c, KS_EINVAL, "quantile: input must be float32");
    if (nq < 0 || (!q_dim && nq != 1)) return ks_error(c, KS_EINVAL, "quantile: expects one q without a q dim");
    for (int64_t i = 0; i < nq; i++)
        if (!(q[i] >= 0 && q[i] <= 1)) return ks_error(c, KS_EINVAL, "quantile: q values must be in [0, 1]");
    int d = 0;
    ks_status st = flat ? KS_OK : ks_wrap_dim(c, dim, t->ndim, &d);
    if (st) return st;
    ks_tensor *x, *r = NULL;
    int64_t rows, n;
    if ((st = as_rows(c, t, flat, d, &x, &rows, &n))) return st;
    if (n == 0) {
        ks_tensor_release(x);
        return ks_error(c, KS_EINVAL, "quantile: cannot compute a quantile of an empty dim");
    }
    int64_t size[KS_MAX_DIMS + 1];
    int nd = result_shape(t, flat, d, keepdim, q_dim ? nq : -1, size);
    if (keepdim && !flat && t->ndim == 0) size[nd++] = 1; /* a 0-d t along dim 0 is [1] */
    float *row = malloc((size_t)n * sizeof *row);
    if (!row) st = ks_error(c, KS_ENOMEM, "quantile: out of memory for a row of %lld elements", (long long)n);
    if (!st) st = ks_tensor_empty(c, KS_FLOAT32, nd, size, &r);
    if (st) {
        free(row);
        ks_tensor_release(x);
        return st;
    }
    const float *src = ks_tensor_data(x);
    float *o = ks_tensor_data(r);
    float last = (float)(n - 1);
    for (int64_t k = 0; k < rows; k++) {
        memcpy(row, src + k * n, (size_t)n * sizeof *row);
        qsort(row, (size_t)n, sizeof *row, cmp_f32);
        for (int64_t i = 0; i < nq; i++) o[i * rows + k] = quantile_at(row, q[i] * last, mode);
    }
    free(row);
    ks_tensor_release(x);
    *out = r;
    return KS_OK;
}
