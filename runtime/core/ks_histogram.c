/* ks_histogram.c: ks_histc and ks_searchsorted (contract in ks_histogram.h). */
#include "ks_histogram.h"

#include <math.h>
#include <stdlib.h>

/* element i of a contiguous buffer of dtype dt as float32 (PyTorch's conversion) */
static inline float at_f32(const void *p, ks_dtype dt, int64_t i)
{
    switch (dt) {
    case KS_FLOAT32: return ((const float *)p)[i];
    case KS_INT64: return (float)((const int64_t *)p)[i];
    default: return (float)((const uint8_t *)p)[i];
    }
}

static inline double at_f64(const void *p, ks_dtype dt, int64_t i)
{
    switch (dt) {
    case KS_FLOAT32: return ((const float *)p)[i];
    case KS_INT64: return (double)((const int64_t *)p)[i];
    default: return ((const uint8_t *)p)[i];
    }
}

/* ------------------------------------------------------------------ histc */
/* the min and max of n float32 elements, NaN skipped; false when there are none */
static bool value_range(const void *p, ks_dtype dt, int64_t n, float *lo, float *hi)
{
    bool any = false;
    for (int64_t i = 0; i < n; i++) {
        float x = at_f32(p, dt, i);
        if (isnan(x)) continue;
        if (!any || x < *lo) *lo = x;
        if (!any || x > *hi) *hi = x;
        any = true;
    }
    return any;
}

ks_status ks_histc(ks_ctx *c, ks_tensor *t, int64_t bins, double lo, double hi, ks_tensor **out)
{
    if (bins < 1) return ks_error(c, KS_EINVAL, "histc: bins must be >= 1, got %lld", (long long)bins);
    if (!isfinite(lo) || !isfinite(hi))
        return ks_error(c, KS_EINVAL, "histc: range of [%g, %g] is not finite", lo, hi);
    if (lo > hi) return ks_error(c, KS_EINVAL, "histc: max must be >= min, got min %g and max %g", lo, hi);
    ks_tensor *x;
    ks_status st = ks_contiguous(c, t, &x);
    if (st) return st;
    ks_tensor *r;
    if ((st = ks_tensor_empty(c, KS_FLOAT32, 1, &bins, &r))) {
        ks_tensor_release(x);
        return st;
    }
    const void *p = ks_tensor_data(x);
    int64_t n = x->numel;
    float flo = (float)lo, fhi = (float)hi;
    if (flo == fhi && !value_range(p, x->dtype, n, &flo, &fhi)) flo = fhi = (float)lo;
    if (flo == fhi) {
        flo -= 1;
        fhi += 1;
    }
    /* counted as integers: float32 counts stop adding 1 above 2^24 */
    int64_t *count = calloc((size_t)bins, sizeof *count);
    if (!count) {
        ks_tensor_release(x);
        ks_tensor_release(r);
        return ks_error(c, KS_ENOMEM, "histc: out of memory for %lld bins", (long long)bins);
    }
    float width = fhi - flo, fbins = (float)bins;
    for (int64_t i = 0; i < n; i++) {
        float v = at_f32(p, x->dtype, i);
        if (!(v >= flo && v <= fhi)) continue; /* NaN fails both */
        int64_t b = (int64_t)((v - flo) * fbins / width);
        count[b >= bins ? bins - 1 : b]++;
    }
    float *o = ks_tensor_data(r);
    for (int64_t b = 0; b < bins; b++) o[b] = (float)count[b];
    free(count);
    ks_tensor_release(x);
    *out = r;
    return KS_OK;
}

/* ----------------------------------------------------------- searchsorted */
/* torch's binary searches: the first index whose element is >= v (> v when right) */
static int64_t place_f64(const void *s, ks_dtype dt, int64_t m, double v, bool right)
{
    int64_t lo = 0, hi = m;
    while (lo < hi) {
        int64_t mid = lo + ((hi - lo) >> 1);
        double e = at_f64(s, dt, mid);
        if (right ? !(e > v) : !(e >= v)) lo = mid + 1;
        else hi = mid;
    }
    return lo;
}

static int64_t place_i64(const int64_t *s, int64_t m, int64_t v, bool right)
{
    int64_t lo = 0, hi = m;
    while (lo < hi) {
        int64_t mid = lo + ((hi - lo) >> 1);
        if (right ? s[mid] <= v : s[mid] < v) lo = mid + 1;
        else hi = mid;
    }
    return lo;
}

/* KS_ESHAPE unless seq is 1-D, or [..., M] against values [..., K] */
static ks_status check_rows(ks_ctx *c, const ks_tensor *seq, const ks_tensor *values)
{
    bool ok = seq->ndim >= 1;
    if (ok && seq->ndim > 1) {
        ok = values->ndim == seq->ndim;
        for (int i = 0; ok && i < seq->ndim - 1; i++) ok = values->size[i] == seq->size[i];
    }
    if (ok) return KS_OK;
    char a[96], b[96];
    if (seq->ndim == 0) return ks_error(c, KS_ESHAPE, "searchsorted: sorted_sequence must have at least 1 dim, got []");
    return ks_error(c, KS_ESHAPE, "searchsorted: sorted_sequence %s and values %s must share all dims but the last",
                    ks_shape_str(seq, a, sizeof a), ks_shape_str(values, b, sizeof b));
}

ks_status ks_searchsorted(ks_ctx *c, ks_tensor *seq, ks_tensor *values, bool right, ks_tensor **out)
{
    ks_status st = check_rows(c, seq, values);
    if (st) return st;
    ks_tensor *s = NULL, *v = NULL, *r = NULL;
    if ((st = ks_contiguous(c, seq, &s)) || (st = ks_contiguous(c, values, &v)) ||
        (st = ks_tensor_empty(c, KS_INT64, values->ndim, values->size, &r))) {
        ks_tensor_release(s);
        ks_tensor_release(v);
        return st;
    }
    int64_t m = s->size[s->ndim - 1];
    /* values per row of seq: all of them for a 1-D seq, else the last dim's K */
    int64_t k = s->ndim == 1 ? v->numel : v->size[v->ndim - 1];
    const void *sp = ks_tensor_data(s), *vp = ks_tensor_data(v);
    int64_t *o = ks_tensor_data(r);
    bool ints = s->dtype == KS_INT64 && v->dtype == KS_INT64;
    for (int64_t i = 0; i < v->numel; i++) {
        int64_t row = k ? i / k : 0;
        if (ints) {
            o[i] = place_i64((const int64_t *)sp + row * m, m, ((const int64_t *)vp)[i], right);
        } else {
            size_t off = (size_t)(row * m) * ks_dtype_size(s->dtype);
            o[i] = place_f64((const char *)sp + off, s->dtype, m, at_f64(vp, v->dtype, i), right);
        }
    }
    ks_tensor_release(s);
    ks_tensor_release(v);
    *out = r;
    return KS_OK;
}
