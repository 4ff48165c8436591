/* ks_masked.c: masked_select, masked_fill_, masked_scatter_ and nonzero
 * (declared in ks_indexing.h). Selections whose output position depends on
 * every earlier element run serially: one counting pass, one writing pass. */
#include "ks_indexing.h"
#include "ks_iter.h"

#include <string.h>

static ks_status check_mask(ks_ctx *c, const char *op, const ks_tensor *mask)
{
    if (mask->dtype != KS_BOOL && mask->dtype != KS_UINT8)
        return ks_error(c, KS_ETYPE, "%s(): argument 'mask' must be a bool or uint8 tensor, got %s", op,
                        ks_dtype_name(mask->dtype));
    return KS_OK;
}

/* iteration over (self, mask) with mask broadcast to self; names both shapes */
static ks_status mask_iter(ks_ctx *c, const char *op, ks_iter *it, ks_tensor *self, ks_tensor *mask)
{
    ks_status st = check_mask(c, op, mask);
    if (!st) st = ks_check_writable(c, op, self);
    if (st) return st;
    if (ks_iter_init(c, it, 2, (ks_tensor *[]){self, mask}) != KS_OK) {
        char a[160], b[160];
        return ks_error(c, KS_ESHAPE, "%s(): mask of shape %s cannot be broadcast to self of shape %s", op,
                        ks_shape_str(mask, a, sizeof a), ks_shape_str(self, b, sizeof b));
    }
    return KS_OK;
}

static inline void copy_elem(char *dst, const char *src, size_t isz)
{
    switch (isz) {
    case 8: memcpy(dst, src, 8); break;
    case 4: memcpy(dst, src, 4); break;
    default: *dst = *src; break;
    }
}

/* ------------------------------------------------------------ masked_fill_ */
struct fill_arg {
    size_t isz;
    char value[8];
};

static void fill_loop(char **d, const int64_t *s, int64_t n, void *arg)
{
    const struct fill_arg *a = arg;
    char *o = d[0];
    const char *m = d[1];
    if (a->isz == 4) {
        float v;
        memcpy(&v, a->value, 4);
        for (int64_t k = 0; k < n; k++, o += s[0], m += s[1])
            if (*m) *(float *)o = v;
        return;
    }
    for (int64_t k = 0; k < n; k++, o += s[0], m += s[1])
        if (*m) copy_elem(o, a->value, a->isz);
}

ks_status ks_masked_fill_(ks_ctx *c, ks_tensor *self, ks_tensor *mask, double value)
{
    ks_iter it;
    ks_status st = mask_iter(c, "masked_fill_", &it, self, mask);
    if (!st) st = ks_check_fill_value(c, "masked_fill_", self->dtype, value);
    if (st) return st;
    struct fill_arg a = {ks_dtype_size(self->dtype), {0}};
    ks_store_f64(a.value, self->dtype, value);
    ks_tensor_bump_version(self);
    return ks_iter_parallel(c, &it, KS_GRAIN_ELEMENTWISE, fill_loop, &a);
}

/* --------------------------------------------------------- counting pass */
static void count_loop(char **d, const int64_t *s, int64_t n, void *arg)
{
    int64_t cnt = 0;
    const char *m = d[1];
    for (int64_t k = 0; k < n; k++, m += s[1]) cnt += *m != 0;
    *(int64_t *)arg += cnt;
}

struct move_arg {
    char *cursor;   /* the packed side */
    size_t isz;
    bool to_packed; /* masked_select: packed <- self; masked_scatter_: self <- packed */
};

static void move_loop(char **d, const int64_t *s, int64_t n, void *arg)
{
    struct move_arg *a = arg;
    char *o = d[0];
    const char *m = d[1];
    for (int64_t k = 0; k < n; k++, o += s[0], m += s[1]) {
        if (!*m) continue;
        if (a->to_packed) copy_elem(a->cursor, o, a->isz);
        else copy_elem(o, a->cursor, a->isz);
        a->cursor += a->isz;
    }
}

/* ---------------------------------------------------------- masked_select */
ks_status ks_masked_select(ks_ctx *c, ks_tensor *t, ks_tensor *mask, ks_tensor **out)
{
    ks_status st = check_mask(c, "masked_select", mask);
    if (st) return st;
    int nd;
    int64_t shape[KS_MAX_DIMS];
    if (ks_broadcast_shapes(c, t->ndim, t->size, mask->ndim, mask->size, &nd, shape)) {
        char a[160], b[160];
        return ks_error(c, KS_ESHAPE, "masked_select(): mask of shape %s and input of shape %s cannot be broadcast",
                        ks_shape_str(mask, a, sizeof a), ks_shape_str(t, b, sizeof b));
    }
    ks_tensor *te = NULL, *r = NULL;
    if (nd == t->ndim && memcmp(shape, t->size, (size_t)nd * sizeof *shape) == 0) te = ks_tensor_retain(t);
    else if ((st = ks_expand(c, t, nd, shape, &te))) return st;
    ks_iter it;
    if ((st = ks_iter_init(c, &it, 2, (ks_tensor *[]){te, mask}))) goto done;
    int64_t n = 0;
    ks_iter_run(&it, 0, it.numel, count_loop, &n);
    if ((st = ks_tensor_empty(c, t->dtype, 1, &n, &r))) goto done;
    struct move_arg a = {ks_tensor_data(r), ks_dtype_size(t->dtype), true};
    ks_iter_run(&it, 0, it.numel, move_loop, &a);
    *out = r;
done:
    ks_tensor_release(te);
    return st;
}

/* --------------------------------------------------------- masked_scatter_ */
ks_status ks_masked_scatter_(ks_ctx *c, ks_tensor *self, ks_tensor *mask, ks_tensor *source)
{
    ks_iter it;
    ks_status st = mask_iter(c, "masked_scatter_", &it, self, mask);
    if (st) return st;
    int64_t n = 0;
    ks_iter_run(&it, 0, it.numel, count_loop, &n);
    if (source->numel < n)
        return ks_error(c, KS_ESHAPE, "masked_scatter_(): source has %lld elements but the mask selects %lld",
                        (long long)source->numel, (long long)n);
    ks_tensor *conv, *flat;
    if ((st = ks_to_dtype(c, source, self->dtype, &conv))) return st;
    st = ks_contiguous(c, conv, &flat);
    ks_tensor_release(conv);
    if (st) return st;
    struct move_arg a = {ks_tensor_data(flat), ks_dtype_size(self->dtype), false};
    ks_tensor_bump_version(self);
    ks_iter_run(&it, 0, it.numel, move_loop, &a);
    ks_tensor_release(flat);
    return KS_OK;
}

/* ---------------------------------------------------------------- nonzero */
static bool is_nonzero(const char *p, ks_dtype dt)
{
    switch (dt) {
    case KS_FLOAT32: return *(const float *)p != 0; /* NaN != 0 */
    case KS_INT64: return *(const int64_t *)p != 0;
    default: return *(const uint8_t *)p != 0;
    }
}

/* Visit t's elements row-major; with out != NULL write their coordinates. */
static int64_t nonzero_walk(const ks_tensor *t, int64_t *out)
{
    int nd = t->ndim;
    int64_t idx[KS_MAX_DIMS] = {0}, cnt = 0;
    const char *p = ks_tensor_data(t);
    int64_t isz = (int64_t)ks_dtype_size(t->dtype);
    for (int64_t e = 0; e < t->numel; e++) {
        if (is_nonzero(p, t->dtype)) {
            if (out) memcpy(out + cnt * nd, idx, (size_t)nd * sizeof *idx);
            cnt++;
        }
        /* odometer step */
        for (int d = nd - 1; d >= 0; d--) {
            p += t->stride[d] * isz;
            if (++idx[d] < t->size[d]) break;
            p -= t->stride[d] * isz * t->size[d];
            idx[d] = 0;
        }
    }
    return cnt;
}

ks_status ks_nonzero(ks_ctx *c, ks_tensor *t, ks_tensor **out)
{
    int64_t size[2] = {nonzero_walk(t, NULL), t->ndim};
    ks_tensor *r;
    ks_status st = ks_tensor_empty(c, KS_INT64, 2, size, &r);
    if (st) return st;
    nonzero_walk(t, ks_tensor_data(r));
    *out = r;
    return KS_OK;
}
