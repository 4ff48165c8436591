/* ks_copy.c: strided copies with broadcasting and dtype conversion. */
#include "ks_iter.h"
#include "ks_elementwise.h"

#include <string.h>

struct copy_arg {
    ks_dtype dst, src;
};

static void copy_same(char **d, const int64_t *s, int64_t n, void *arg)
{
    size_t isz = ks_dtype_size(((struct copy_arg *)arg)->dst);
    if (s[0] == (int64_t)isz && s[1] == (int64_t)isz) {
        memcpy(d[0], d[1], (size_t)n * isz);
        return;
    }
    char *o = d[0], *i = d[1];
    switch (isz) {
    case 4: for (int64_t k = 0; k < n; k++, o += s[0], i += s[1]) *(uint32_t *)o = *(const uint32_t *)i; break;
    case 8: for (int64_t k = 0; k < n; k++, o += s[0], i += s[1]) *(uint64_t *)o = *(const uint64_t *)i; break;
    default: for (int64_t k = 0; k < n; k++, o += s[0], i += s[1]) *o = *i; break;
    }
}

static void copy_convert(char **d, const int64_t *s, int64_t n, void *arg)
{
    struct copy_arg *a = arg;
    char *o = d[0], *i = d[1];
    if (a->dst == KS_FLOAT32 || a->src == KS_FLOAT32) {
        for (int64_t k = 0; k < n; k++, o += s[0], i += s[1]) ks_store_f64(o, a->dst, ks_load_f64(i, a->src));
    } else {
        for (int64_t k = 0; k < n; k++, o += s[0], i += s[1]) ks_store_i64(o, a->dst, ks_load_i64(i, a->src));
    }
}

ks_status ks_copy_(ks_ctx *c, ks_tensor *dst, const ks_tensor *src)
{
    char shape[160];
    for (int i = 0; i < dst->ndim; i++)
        if (dst->stride[i] == 0 && dst->size[i] > 1)
            return ks_error(c, KS_EINVAL,
                            "copy_: cannot write in place into an expanded tensor (shape %s, stride 0 at dim %d): "
                            "several elements share one memory location; clone() it first",
                            ks_shape_str(dst, shape, sizeof shape), i);
    if (ks_overlap_needs_copy(dst, src)) { /* e.g. b:copy_(b:t()): read a copy, as NumPy does */
        ks_tensor *tmp;
        ks_status st = ks_clone(c, src, &tmp);
        if (!st) st = ks_copy_(c, dst, tmp);
        ks_tensor_release(tmp);
        return st;
    }
    ks_tensor *ops[2] = {dst, (ks_tensor *)src};
    ks_iter it;
    ks_status st = ks_iter_init(c, &it, 2, ops);
    if (st) return st;
    struct copy_arg a = {dst->dtype, src->dtype};
    ks_tensor_bump_version(dst);
    return ks_iter_parallel(c, &it, KS_GRAIN_ELEMENTWISE * 4, a.dst == a.src ? copy_same : copy_convert, &a);
}

ks_status ks_clone(ks_ctx *c, const ks_tensor *t, ks_tensor **out)
{
    ks_tensor *r;
    ks_status st = ks_tensor_empty_like(c, t, t->dtype, &r);
    if (st) return st;
    if ((st = ks_copy_(c, r, t))) { ks_tensor_release(r); return st; }
    *out = r;
    return KS_OK;
}

ks_status ks_contiguous(ks_ctx *c, ks_tensor *t, ks_tensor **out)
{
    if (ks_tensor_is_contiguous(t)) { *out = ks_tensor_retain(t); return KS_OK; }
    return ks_clone(c, t, out);
}

ks_status ks_to_dtype(ks_ctx *c, ks_tensor *t, ks_dtype dt, ks_tensor **out)
{
    if (t->dtype == dt) { *out = ks_tensor_retain(t); return KS_OK; }
    ks_tensor *r;
    ks_status st = ks_tensor_empty_like(c, t, dt, &r);
    if (st) return st;
    if ((st = ks_copy_(c, r, t))) { ks_tensor_release(r); return st; }
    *out = r;
    return KS_OK;
}
