/* ks_nograd_kernels.c: ks_diag_embed, ks_trace, ks_take, ks_diff_last
 * (contract in ks_nograd_kernels.h). */
#include "ks_nograd_kernels.h"

#include <string.h>

ks_status ks_diag_embed(ks_ctx *c, ks_tensor *t, int64_t offset, ks_tensor **out)
{
    if (t->ndim != 1) return ks_error(c, KS_ESHAPE, "diag_embed: expects a 1-D tensor, got %d dims", t->ndim);
    if (offset > ((int64_t)1 << 31) || offset < -((int64_t)1 << 31))
        return ks_error(c, KS_EINVAL, "diag_embed: offset %lld is too far from the main diagonal", (long long)offset);
    int64_t n = t->size[0], k = offset < 0 ? -offset : offset, m = n + k;
    int64_t size[2] = {m, m};
    ks_tensor *x, *r;
    ks_status st = ks_contiguous(c, t, &x);
    if (st) return st;
    if ((st = ks_tensor_empty(c, t->dtype, 2, size, &r))) {
        ks_tensor_release(x);
        return st;
    }
    size_t esz = ks_dtype_size(t->dtype);
    char *o = ks_tensor_data(r);
    const char *s = ks_tensor_data(x);
    memset(o, 0, (size_t)(m * m) * esz); /* all-zero bytes are 0 in every dtype */
    int64_t row0 = offset < 0 ? k : 0, col0 = offset > 0 ? k : 0;
    for (int64_t i = 0; i < n; i++) memcpy(o + (size_t)((row0 + i) * m + col0 + i) * esz, s + (size_t)i * esz, esz);
    ks_tensor_release(x);
    *out = r;
    return KS_OK;
}

ks_status ks_trace(ks_ctx *c, ks_tensor *t, ks_tensor **out)
{
    if (t->ndim != 2) return ks_error(c, KS_ESHAPE, "trace: expects a 2-D tensor, got %d dims", t->ndim);
    if (t->dtype != KS_FLOAT32 && t->dtype != KS_INT64) return ks_error(c, KS_ETYPE, "trace: expects float32 or int64");
    ks_tensor *r;
    ks_status st = ks_tensor_empty(c, t->dtype, 0, NULL, &r);
    if (st) return st;
    int64_t n = t->size[0] < t->size[1] ? t->size[0] : t->size[1];
    int64_t step = t->stride[0] + t->stride[1]; /* strided read: no contiguous copy */
    if (t->dtype == KS_FLOAT32) {
        const float *p = (const float *)ks_tensor_data(t);
        double acc = 0;
        for (int64_t i = 0; i < n; i++) acc += p[i * step];
        *(float *)ks_tensor_data(r) = (float)acc;
    } else {
        const int64_t *p = (const int64_t *)ks_tensor_data(t);
        uint64_t acc = 0; /* wraps as torch's int64 sum, without signed overflow */
        for (int64_t i = 0; i < n; i++) acc += (uint64_t)p[i * step];
        *(int64_t *)ks_tensor_data(r) = (int64_t)acc;
    }
    *out = r;
    return KS_OK;
}

ks_status ks_take(ks_ctx *c, ks_tensor *t, ks_tensor *index, ks_tensor **out)
{
    if (index->dtype != KS_INT64) return ks_error(c, KS_ETYPE, "take: index must be int64");
    ks_tensor *x, *ix = NULL, *r = NULL;
    ks_status st = ks_contiguous(c, t, &x);
    if (!st) st = ks_contiguous(c, index, &ix);
    if (!st) st = ks_tensor_empty(c, t->dtype, index->ndim, index->size, &r);
    if (st) goto done;
    int64_t n = x->numel;
    size_t esz = ks_dtype_size(t->dtype);
    const int64_t *pos = ks_tensor_data(ix);
    const char *s = ks_tensor_data(x);
    char *o = ks_tensor_data(r);
    for (int64_t i = 0; i < ix->numel; i++) {
        int64_t p = pos[i];
        if (p < -n || p >= n) {
            st = ks_error(c, KS_ERANGE, "take: index %lld out of range for a tensor of %lld elements", (long long)p,
                          (long long)n);
            goto done;
        }
        memcpy(o + (size_t)i * esz, s + (size_t)(p < 0 ? p + n : p) * esz, esz);
    }
done:
    ks_tensor_release(x);
    ks_tensor_release(ix);
    if (st) {
        ks_tensor_release(r);
        return st;
    }
    *out = r;
    return KS_OK;
}

ks_status ks_diff_last(ks_ctx *c, ks_tensor *t, ks_tensor **out)
{
    if (t->ndim == 0 || t->size[t->ndim - 1] == 0)
        return ks_error(c, KS_ESHAPE, "diff: expects a last dim of at least 1 element");
    if (t->dtype != KS_FLOAT32 && t->dtype != KS_INT64) return ks_error(c, KS_ETYPE, "diff: expects float32 or int64");
    int64_t size[KS_MAX_DIMS];
    memcpy(size, t->size, sizeof(int64_t) * (size_t)t->ndim);
    int64_t len = size[t->ndim - 1]--;
    ks_tensor *x, *r;
    ks_status st = ks_contiguous(c, t, &x);
    if (st) return st;
    if ((st = ks_tensor_empty(c, t->dtype, t->ndim, size, &r))) {
        ks_tensor_release(x);
        return st;
    }
    int64_t rows = x->numel / len;
    if (t->dtype == KS_FLOAT32) {
        const float *s = ks_tensor_data(x);
        float *o = ks_tensor_data(r);
        for (int64_t k = 0; k < rows; k++, s += len, o += len - 1)
            for (int64_t j = 0; j + 1 < len; j++) o[j] = s[j + 1] - s[j];
    } else {
        const int64_t *s = ks_tensor_data(x);
        int64_t *o = ks_tensor_data(r);
        for (int64_t k = 0; k < rows; k++, s += len, o += len - 1)
            for (int64_t j = 0; j + 1 < len; j++) o[j] = (int64_t)((uint64_t)s[j + 1] - (uint64_t)s[j]);
    }
    ks_tensor_release(x);
    *out = r;
    return KS_OK;
}
