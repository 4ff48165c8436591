/* ks_shape_ops.c: cat, stack, split, chunk, pad, repeat, roll, tril, triu.
 * Everything is expressed as strided copies (ks_copy_) between views, with
 * a memcpy fast path for cat of contiguous same-dtype inputs. */
#include "ks_shape_ops.h"

#include <stdlib.h>
#include <string.h>

/* A view of t with dim d restricted to [start, start + len) (no checks). */
static ks_status part(ks_ctx *c, ks_tensor *t, int d, int64_t start, int64_t len, ks_tensor **out)
{
    int64_t size[KS_MAX_DIMS];
    memcpy(size, t->size, sizeof size);
    size[d] = len;
    return ks_tensor_view_of(c, t, t->ndim, size, t->stride, t->offset + (len > 0 ? start * t->stride[d] : 0), out);
}

/* dst[d in [ds, ds+len)] = src[d in [ss, ss+len)] */
static ks_status copy_part(ks_ctx *c, ks_tensor *dst, int64_t ds, ks_tensor *src, int64_t ss, int d, int64_t len)
{
    if (len <= 0) return KS_OK;
    ks_tensor *vd = NULL, *vs = NULL;
    ks_status st = part(c, dst, d, ds, len, &vd);
    if (!st && !(st = part(c, src, d, ss, len, &vs))) st = ks_copy_(c, vd, vs);
    ks_tensor_release(vd);
    ks_tensor_release(vs);
    return st;
}

/* ================================================================ cat / stack */
static bool legacy_empty(const ks_tensor *t) { return t->ndim == 1 && t->size[0] == 0; }

/* Checks shapes; sets the reference tensor (-1: all legacy-empty), dim, dtype, total size. */
static ks_status cat_check(ks_ctx *c, int n, ks_tensor *const *ts, int64_t dim, int *ref, int *d, ks_dtype *dt,
                           int64_t *total)
{
    char sa[160], sb[160];
    if (n < 1) return ks_error(c, KS_EINVAL, "cat: expected a non-empty list of tensors");
    *ref = -1;
    *dt = ts[0]->dtype;
    for (int i = 0; i < n; i++) {
        if (ts[i]->ndim == 0)
            return ks_error(c, KS_ESHAPE, "cat: zero-dimensional tensor (at position %d) cannot be concatenated", i);
        *dt = ks_promote(*dt, ts[i]->dtype);
        if (*ref < 0 && !legacy_empty(ts[i])) *ref = i;
    }
    if (*ref < 0) { *d = 0; *total = 0; return KS_OK; }
    const ks_tensor *r = ts[*ref];
    ks_status st = ks_wrap_dim(c, dim, r->ndim, d);
    if (st) return st;
    *total = 0;
    for (int i = 0; i < n; i++) {
        const ks_tensor *t = ts[i];
        if (legacy_empty(t)) continue;
        bool ok = t->ndim == r->ndim;
        for (int k = 0; ok && k < r->ndim; k++) ok = k == *d || t->size[k] == r->size[k];
        if (!ok)
            return ks_error(c, KS_ESHAPE, "cat: tensor %d has shape %s but tensor %d has shape %s (sizes must match "
                            "except in dimension %d)", i, ks_shape_str(t, sa, sizeof sa), *ref,
                            ks_shape_str(r, sb, sizeof sb), *d);
        if (__builtin_add_overflow(*total, t->size[*d], total))
            return ks_error(c, KS_ERANGE, "cat: the sizes along dimension %d add up to more than 2^63 - 1", *d);
    }
    return KS_OK;
}

/* All inputs contiguous with the output's dtype: blocks of memcpy. */
static void cat_memcpy(int n, ks_tensor *const *ts, int d, ks_tensor *out)
{
    size_t isz = ks_dtype_size(out->dtype);
    int64_t outer = 1, inner = 1;
    for (int k = 0; k < d; k++) outer *= out->size[k];
    for (int k = d + 1; k < out->ndim; k++) inner *= out->size[k];
    char *dst = ks_tensor_data(out);
    for (int64_t o = 0; o < outer; o++)
        for (int i = 0; i < n; i++) {
            if (legacy_empty(ts[i])) continue;
            size_t blk = (size_t)(ts[i]->size[d] * inner) * isz;
            memcpy(dst, (const char *)ks_tensor_data(ts[i]) + (size_t)o * blk, blk);
            dst += blk;
        }
}

ks_status ks_cat(ks_ctx *c, int n, ks_tensor *const *ts, int64_t dim, ks_tensor **out)
{
    int ref = -1, d = 0;
    ks_dtype dt = KS_FLOAT32;
    int64_t total = 0;
    ks_status st = cat_check(c, n, ts, dim, &ref, &d, &dt, &total);
    if (st) return st;
    int64_t size[KS_MAX_DIMS] = {0};
    int nd = ref < 0 ? 1 : ts[ref]->ndim;
    if (ref >= 0) memcpy(size, ts[ref]->size, sizeof size);
    size[d] = total;
    ks_tensor *r;
    if ((st = ks_tensor_empty(c, dt, nd, size, &r))) return st;
    bool fast = true;
    for (int i = 0; i < n && fast; i++) fast = ts[i]->dtype == dt && ks_tensor_is_contiguous(ts[i]);
    if (fast) {
        cat_memcpy(n, ts, d, r);
    } else {
        int64_t at = 0;
        for (int i = 0; i < n && !st; i++) {
            if (legacy_empty(ts[i])) continue;
            st = copy_part(c, r, at, ts[i], 0, d, ts[i]->size[d]);
            at += ts[i]->size[d];
        }
    }
    if (st) { ks_tensor_release(r); return st; }
    *out = r;
    return KS_OK;
}

ks_status ks_stack(ks_ctx *c, int n, ks_tensor *const *ts, int64_t dim, ks_tensor **out)
{
    char sa[160], sb[160];
    if (n < 1) return ks_error(c, KS_EINVAL, "stack: expected a non-empty list of tensors");
    for (int i = 1; i < n; i++)
        if (!ks_same_shape(ts[i], ts[0]))
            return ks_error(c, KS_ESHAPE, "stack: tensor %d has shape %s but tensor 0 has shape %s (stack needs "
                            "equal shapes)", i, ks_shape_str(ts[i], sa, sizeof sa), ks_shape_str(ts[0], sb, sizeof sb));
    int d;
    ks_status st = ks_wrap_dim(c, dim, ts[0]->ndim + 1, &d);
    if (st) return st;
    if (ts[0]->ndim + 1 > KS_MAX_DIMS)
        return ks_error(c, KS_EINVAL, "stack: result would have more than %d dimensions", KS_MAX_DIMS);
    ks_tensor **views = calloc((size_t)n, sizeof *views);
    if (!views) return ks_error(c, KS_ENOMEM, "stack: out of memory");
    for (int i = 0; i < n && !st; i++) st = ks_unsqueeze(c, ts[i], d, &views[i]);
    if (!st) st = ks_cat(c, n, views, d, out);
    for (int i = 0; i < n; i++) ks_tensor_release(views[i]);
    free(views);
    return st;
}

/* ================================================================ split / chunk */
static ks_status split_dim(ks_ctx *c, const char *op, const ks_tensor *t, int64_t dim, int *d)
{
    if (t->ndim == 0) return ks_error(c, KS_ESHAPE, "%s: cannot split a 0-d tensor", op);
    return ks_wrap_dim(c, dim, t->ndim, d);
}

ks_status ks_split_count(ks_ctx *c, const ks_tensor *t, int64_t dim, int64_t split_size, int64_t *n)
{
    int d;
    ks_status st = split_dim(c, "split", t, dim, &d);
    if (st) return st;
    int64_t size = t->size[d];
    if (split_size < 0) return ks_error(c, KS_EINVAL, "split: split_size must be >= 0, got %lld", (long long)split_size);
    if (split_size == 0 && size != 0)
        return ks_error(c, KS_EINVAL, "split: split_size can only be 0 if dimension %d has size 0, but it has size "
                        "%lld", d, (long long)size);
    *n = size == 0 ? 1 : size / split_size + (size % split_size != 0); /* no overflow for huge split_size */
    return KS_OK;
}

ks_status ks_chunk_size(ks_ctx *c, const ks_tensor *t, int64_t dim, int64_t chunks, int64_t *split_size)
{
    int d;
    ks_status st = split_dim(c, "chunk", t, dim, &d);
    if (st) return st;
    if (chunks <= 0) return ks_error(c, KS_EINVAL, "chunk: chunks must be greater than 0, got %lld", (long long)chunks);
    *split_size = t->size[d] / chunks + (t->size[d] % chunks != 0);
    return KS_OK;
}

ks_status ks_split_sizes(ks_ctx *c, ks_tensor *t, int64_t dim, int64_t n, const int64_t *sizes, ks_tensor **outs)
{
    int d;
    ks_status st = split_dim(c, "split", t, dim, &d);
    if (st) return st;
    int64_t sum = 0;
    for (int64_t i = 0; i < n; i++) {
        if (sizes[i] < 0)
            return ks_error(c, KS_EINVAL, "split: split size %lld (piece %lld) is negative", (long long)sizes[i],
                            (long long)i);
        sum += sizes[i];
    }
    if (sum != t->size[d])
        return ks_error(c, KS_ESHAPE, "split: split sizes sum to %lld but dimension %d has size %lld", (long long)sum,
                        d, (long long)t->size[d]);
    int64_t at = 0;
    for (int64_t i = 0; i < n; i++) {
        if ((st = part(c, t, d, at, sizes[i], &outs[i]))) {
            while (i-- > 0) ks_tensor_release(outs[i]);
            return st;
        }
        at += sizes[i];
    }
    return KS_OK;
}

/* ================================================================ pad */
int ks_pad_mode_from_name(const char *name)
{
    static const char *names[] = {"constant", "reflect", "replicate", "circular"};
    for (int i = 0; i < 4; i++)
        if (strcmp(name, names[i]) == 0) return i;
    return -1;
}

/* Fill a contiguous tensor with one value. */
static void fill_value(ks_tensor *t, double v)
{
    if (t->numel == 0) return;
    char *p = ks_tensor_data(t);
    ks_store_f64(p, t->dtype, v);
    size_t isz = ks_dtype_size(t->dtype);
    if (isz == 1) { memset(p, *(uint8_t *)p, (size_t)t->numel); return; }
    for (int64_t i = 1; i < t->numel; i++) memcpy(p + (size_t)i * isz, p, isz);
}

/* Source index along a dim of size n for output position i - left. */
int64_t ks_pad_source(ks_pad_mode mode, int64_t i, int64_t n)
{
    switch (mode) {
    case KS_PAD_REFLECT: return i < 0 ? -i : (i >= n ? 2 * (n - 1) - i : i);
    case KS_PAD_REPLICATE: return i < 0 ? 0 : (i >= n ? n - 1 : i);
    default: return ((i % n) + n) % n; /* circular */
    }
}

static ks_status pad_check(ks_ctx *c, const ks_tensor *t, int npads, const int64_t *pads, ks_pad_mode mode,
                           int64_t *size)
{
    static const char *names[] = {"constant", "reflect", "replicate", "circular"};
    if (npads % 2 != 0 || npads / 2 > t->ndim)
        return ks_error(c, KS_EINVAL, "pad: padding length must be even and at most 2 * ndim = %d, got %d",
                        2 * t->ndim, npads);
    memcpy(size, t->size, KS_MAX_DIMS * sizeof *size);
    for (int k = 0; k < npads / 2; k++) {
        int d = t->ndim - 1 - k;
        int64_t l = pads[2 * k], r = pads[2 * k + 1], n = t->size[d];
        if (mode != KS_PAD_CONSTANT && (l < 0 || r < 0))
            return ks_error(c, KS_EINVAL, "pad: negative padding (%lld, %lld) is only supported in constant mode",
                            (long long)l, (long long)r);
        if ((mode == KS_PAD_REFLECT && (l >= n || r >= n)) || (mode == KS_PAD_CIRCULAR && (l > n || r > n)) ||
            (mode == KS_PAD_REPLICATE && n == 0 && (l > 0 || r > 0)))
            return ks_error(c, KS_EINVAL, "pad: %s padding (%lld, %lld) is too large for dimension %d of size %lld",
                            names[mode], (long long)l, (long long)r, d, (long long)n);
        int64_t grown;
        if (__builtin_add_overflow(n, l, &grown) || __builtin_add_overflow(grown, r, &grown))
            return ks_error(c, KS_EINVAL, "pad: padding (%lld, %lld) of dimension %d (size %lld) is too large",
                            (long long)l, (long long)r, d, (long long)n);
        size[d] = grown;
        if (size[d] < 0)
            return ks_error(c, KS_EINVAL, "pad: padding (%lld, %lld) of dimension %d (size %lld) gives a negative "
                            "size", (long long)l, (long long)r, d, (long long)n);
    }
    return KS_OK;
}

static ks_status pad_constant(ks_ctx *c, ks_tensor *t, int npads, const int64_t *pads, double value, ks_tensor *r)
{
    fill_value(r, value);
    ks_tensor *src = ks_tensor_retain(t), *dst = ks_tensor_retain(r), *v;
    ks_status st = KS_OK;
    for (int k = 0; k < npads / 2 && !st; k++) {
        int d = t->ndim - 1 - k;
        int64_t l = pads[2 * k], rr = pads[2 * k + 1];
        int64_t cut_l = l < 0 ? -l : 0, cut_r = rr < 0 ? -rr : 0, len = t->size[d] - cut_l - cut_r;
        if (len < 0) len = 0;
        if (!(st = part(c, src, d, cut_l, len, &v))) { ks_tensor_release(src); src = v; }
        if (!st && !(st = part(c, dst, d, l > 0 ? l : 0, len, &v))) { ks_tensor_release(dst); dst = v; }
    }
    if (!st && src->numel > 0) st = ks_copy_(c, dst, src);
    ks_tensor_release(src);
    ks_tensor_release(dst);
    return st;
}

/* reflect / replicate / circular: separable, so pad one dim at a time. */
static ks_status pad_indexed(ks_ctx *c, ks_tensor *t, int npads, const int64_t *pads, ks_pad_mode mode,
                             ks_tensor **out)
{
    ks_tensor *cur = ks_tensor_retain(t), *next = NULL;
    ks_status st = KS_OK;
    for (int k = 0; k < npads / 2 && !st; k++) {
        int d = t->ndim - 1 - k;
        int64_t l = pads[2 * k], r = pads[2 * k + 1], n = cur->size[d];
        int64_t size[KS_MAX_DIMS];
        memcpy(size, cur->size, sizeof size);
        size[d] = n + l + r;
        if ((st = ks_tensor_empty(c, cur->dtype, cur->ndim, size, &next))) break;
        st = copy_part(c, next, l, cur, 0, d, n);
        for (int64_t i = 0; i < l + r && !st; i++) {
            int64_t o = i < l ? i : n + i; /* output position of the i-th padded slot */
            st = copy_part(c, next, o, cur, ks_pad_source(mode, o - l, n), d, 1);
        }
        ks_tensor_release(cur);
        cur = next;
        next = NULL;
    }
    if (st) { ks_tensor_release(cur); return st; }
    if (cur == t) { /* nothing padded: still return a new tensor */
        st = ks_clone(c, t, out);
        ks_tensor_release(cur);
        return st;
    }
    *out = cur;
    return KS_OK;
}

ks_status ks_pad(ks_ctx *c, ks_tensor *t, int npads, const int64_t *pads, ks_pad_mode mode, double value,
                 ks_tensor **out)
{
    int64_t size[KS_MAX_DIMS];
    if ((unsigned)mode > KS_PAD_CIRCULAR) return ks_error(c, KS_EINVAL, "pad: unknown mode %d", (int)mode);
    ks_status st = pad_check(c, t, npads, pads, mode, size);
    if (st) return st;
    if (mode != KS_PAD_CONSTANT) return pad_indexed(c, t, npads, pads, mode, out);
    ks_tensor *r;
    if ((st = ks_tensor_empty(c, t->dtype, t->ndim, size, &r))) return st;
    if ((st = pad_constant(c, t, npads, pads, value, r))) { ks_tensor_release(r); return st; }
    *out = r;
    return KS_OK;
}

/* ================================================================ repeat */
ks_status ks_repeat(ks_ctx *c, ks_tensor *t, int nreps, const int64_t *reps, ks_tensor **out)
{
    if (nreps < t->ndim || nreps > KS_MAX_DIMS)
        return ks_error(c, KS_EINVAL, "repeat: number of repeat dims (%d) must be between the tensor's dims (%d) "
                        "and %d", nreps, t->ndim, KS_MAX_DIMS);
    int lead = nreps - t->ndim;
    int64_t in_size[KS_MAX_DIMS], size[KS_MAX_DIMS], filled[KS_MAX_DIMS];
    for (int i = 0; i < nreps; i++) {
        if (reps[i] < 0) return ks_error(c, KS_EINVAL, "repeat: repeats must be >= 0, got %lld", (long long)reps[i]);
        in_size[i] = i < lead ? 1 : t->size[i - lead];
        if (__builtin_mul_overflow(in_size[i], reps[i], &size[i]))
            return ks_error(c, KS_ERANGE, "repeat: %lld repeats of size %lld overflow", (long long)reps[i],
                            (long long)in_size[i]);
    }
    ks_tensor *r, *src = NULL, *a = NULL, *b = NULL;
    ks_status st = ks_tensor_empty(c, t->dtype, nreps, size, &r);
    if (st) return st;
    if (r->numel > 0) {
        /* copy t once into the corner, then double the filled block along each dim */
        if (!(st = ks_reshape(c, t, nreps, in_size, &src)) &&
            !(st = ks_tensor_view_of(c, r, nreps, in_size, r->stride, 0, &a)))
            st = ks_copy_(c, a, src);
        ks_tensor_release(a);
        ks_tensor_release(src);
        memcpy(filled, in_size, sizeof filled);
        for (int d = 0; d < nreps && !st; d++) {
            while (filled[d] < size[d] && !st) {
                int64_t len = filled[d] < size[d] - filled[d] ? filled[d] : size[d] - filled[d];
                int64_t ext[KS_MAX_DIMS];
                memcpy(ext, filled, sizeof ext);
                ext[d] = len;
                a = b = NULL;
                if (!(st = ks_tensor_view_of(c, r, nreps, ext, r->stride, 0, &a)) &&
                    !(st = ks_tensor_view_of(c, r, nreps, ext, r->stride, filled[d] * r->stride[d], &b)))
                    st = ks_copy_(c, b, a);
                ks_tensor_release(a);
                ks_tensor_release(b);
                filled[d] += len;
            }
        }
    }
    if (st) { ks_tensor_release(r); return st; }
    *out = r;
    return KS_OK;
}

/* ================================================================ roll */
/* out = t rolled by shift along d (two block copies). */
static ks_status roll_one(ks_ctx *c, ks_tensor *t, int d, int64_t shift, ks_tensor **out)
{
    ks_tensor *r;
    ks_status st = ks_tensor_empty(c, t->dtype, t->ndim, t->size, &r);
    if (st) return st;
    int64_t n = t->size[d], s = n ? ((shift % n) + n) % n : 0;
    if (!(st = copy_part(c, r, s, t, 0, d, n - s))) st = copy_part(c, r, 0, t, n - s, d, s);
    if (st) { ks_tensor_release(r); return st; }
    *out = r;
    return KS_OK;
}

ks_status ks_roll(ks_ctx *c, ks_tensor *t, int nshifts, const int64_t *shifts, int ndims, const int64_t *dims,
                  ks_tensor **out)
{
    ks_status st;
    if (ndims == 0) {
        if (nshifts != 1)
            return ks_error(c, KS_EINVAL, "roll: without dims, shifts must hold one value, got %d", nshifts);
        int64_t flat = t->numel;
        ks_tensor *f = NULL, *rolled = NULL;
        if (!(st = ks_reshape(c, t, 1, &flat, &f)) && !(st = roll_one(c, f, 0, shifts[0], &rolled)))
            st = ks_view(c, rolled, t->ndim, t->size, out);
        ks_tensor_release(f);
        ks_tensor_release(rolled);
        return st;
    }
    if (nshifts != ndims)
        return ks_error(c, KS_EINVAL, "roll: shifts and dims must have the same length, got %d and %d", nshifts, ndims);
    int wd[KS_MAX_DIMS];
    for (int i = 0; i < ndims; i++)
        if ((st = ks_wrap_dim(c, dims[i], t->ndim, &wd[i]))) return st;
    if (t->ndim == 0) return ks_clone(c, t, out);
    ks_tensor *cur = ks_tensor_retain(t), *next;
    for (int i = 0; i < ndims; i++) {
        st = roll_one(c, cur, wd[i], shifts[i], &next);
        ks_tensor_release(cur);
        if (st) return st;
        cur = next;
    }
    *out = cur;
    return KS_OK;
}

/* ================================================================ tril / triu */
static ks_status tri(ks_ctx *c, const char *op, ks_tensor *t, int64_t diag, bool lower, ks_tensor **out)
{
    char s[160];
    if (t->ndim < 2)
        return ks_error(c, KS_ESHAPE, "%s: expected a tensor with at least 2 dimensions, got shape %s", op,
                        ks_shape_str(t, s, sizeof s));
    ks_tensor *r;
    ks_status st = ks_clone(c, t, &r);
    if (st) return st;
    int64_t M = t->size[t->ndim - 2], N = t->size[t->ndim - 1], nmat = M > 0 && N > 0 ? r->numel / (M * N) : 0;
    size_t isz = ks_dtype_size(r->dtype);
    char *p = ks_tensor_data(r);
    for (int64_t b = 0; b < nmat; b++)
        for (int64_t i = 0; i < M; i++) {
            char *row = p + (size_t)((b * M + i) * N) * isz;
            /* zero [lo, hi); diag is clamped so i + diag cannot overflow */
            int64_t dg = diag < -N - M ? -N - M : diag > N + M ? N + M : diag;
            int64_t lo = lower ? i + dg + 1 : 0, hi = lower ? N : i + dg;
            if (lo < 0) lo = 0;
            if (hi > N) hi = N;
            if (hi > lo) memset(row + (size_t)lo * isz, 0, (size_t)(hi - lo) * isz);
        }
    *out = r;
    return KS_OK;
}

ks_status ks_tril(ks_ctx *c, ks_tensor *t, int64_t diagonal, ks_tensor **out)
{
    return tri(c, "tril", t, diagonal, true, out);
}

ks_status ks_triu(ks_ctx *c, ks_tensor *t, int64_t diagonal, ks_tensor **out)
{
    return tri(c, "triu", t, diagonal, false, out);
}
