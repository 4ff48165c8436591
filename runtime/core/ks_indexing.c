/* ks_indexing.c: index_select / index_add_ / index_copy_ / index_fill_ and
 * gather / scatter_ / scatter_add_.
 *
 * Two drivers do the walking, both over stack descriptors (copies of a
 * tensor header with a changed geometry, never retained or released):
 *  - slice walks (index_*): one ks_iter over the slice without `dim`, set up
 *    once; each index only moves the two base pointers.
 *  - dim walks (gather/scatter): a ks_iter over index's shape with `dim`
 *    collapsed to 1; the loop body runs along dim itself, so writes from
 *    different iteration positions never collide and may run in parallel. */
#include "ks_indexing.h"
#include "ks_iter.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

/* ------------------------------------------------------------ helpers */
static bool is_int64_value(double v)
{
    return v >= -9223372036854775808.0 && v < 9223372036854775808.0 && v == trunc(v);
}

ks_status ks_check_fill_value(ks_ctx *c, const char *op, ks_dtype dt, double v)
{
    bool ok = true;
    if (dt == KS_INT64) ok = v >= -9223372036854775808.0 && v < 9223372036854775808.0;
    else if (dt == KS_UINT8) ok = v > -1 && v < 256;
    if (!ok) return ks_error(c, KS_ERANGE, "%s(): value %g cannot be converted to %s without overflow", op, v,
                             ks_dtype_name(dt));
    return KS_OK;
}

ks_status ks_check_writable(ks_ctx *c, const char *op, const ks_tensor *self)
{
    for (int d = 0; d < self->ndim; d++)
        if (self->stride[d] == 0 && self->size[d] > 1)
            return ks_error(c, KS_EINVAL, "%s(): cannot write in place into a tensor whose elements share memory "
                            "(dimension %d has stride 0, e.g. from expand); clone() it first", op, d);
    return KS_OK;
}

static ks_status check_index_dtype(ks_ctx *c, const char *op, const ks_tensor *index)
{
    if (index->dtype != KS_INT64)
        return ks_error(c, KS_ETYPE, "%s(): argument 'index' must be an int64 tensor, got %s", op,
                        ks_dtype_name(index->dtype));
    return KS_OK;
}

struct range_arg {
    int64_t size, bad;
    bool found;
};

static void range_loop(char **d, const int64_t *s, int64_t n, void *arg)
{
    struct range_arg *a = arg;
    if (a->found) return;
    const char *p = d[0];
    for (int64_t k = 0; k < n; k++, p += s[0]) {
        int64_t v = *(const int64_t *)p;
        if (v < 0 || v >= a->size) { a->found = true; a->bad = v; return; }
    }
}

/* Every value of index in [0, size); names the first bad value in row-major order. */
static ks_status check_index_range(ks_ctx *c, const char *op, ks_tensor *index, int dim, int64_t size)
{
    struct range_arg a = {size, 0, false};
    if (index->ndim <= 1) { /* the common 0-d / 1-D index: a plain loop, no iterator to set up */
        char *p = ks_tensor_data(index);
        range_loop(&p, (int64_t[]){index->ndim ? index->stride[0] * 8 : 8}, index->numel, &a);
    } else {
        ks_iter it;
        ks_status st = ks_iter_init(c, &it, 1, &index);
        if (st) return st;
        ks_iter_run(&it, 0, it.numel, range_loop, &a);
    }
    if (a.found)
        return ks_error(c, KS_ERANGE, "%s(): index %lld is out of bounds for dimension %d with size %lld", op,
                        (long long)a.bad, dim, (long long)size);
    return KS_OK;
}

/* A 0-d tensor seen as 1-D of size 1 (same data). */
static ks_tensor as_1d(const ks_tensor *t)
{
    ks_tensor d = *t;
    if (d.ndim == 0) { d.ndim = 1; d.size[0] = 1; d.stride[0] = 1; }
    return d;
}

/* Descriptor of t without dim (the slice at index 0 along dim). */
static ks_tensor drop_dim(const ks_tensor *t, int dim)
{
    ks_tensor d = *t;
    d.ndim = t->ndim - 1;
    d.numel = 1;
    for (int i = 0, k = 0; i < t->ndim; i++) {
        if (i == dim) continue;
        d.size[k] = t->size[i];
        d.stride[k++] = t->stride[i];
        d.numel *= t->size[i];
    }
    return d;
}

static inline void copy_elem(char *dst, const char *src, size_t isz)
{
    switch (isz) {
    case 8: memcpy(dst, src, 8); break;
    case 4: memcpy(dst, src, 4); break;
    default: *dst = *src; break;
    }
}

/* dst += alpha * src for one element of dtype dt */
static inline void add_elem(char *dst, const char *src, ks_dtype dt, double alpha)
{
    if (dt == KS_FLOAT32) *(float *)dst += (float)alpha * *(const float *)src;
    else ks_store_i64(dst, dt, ks_load_i64(dst, dt) + (int64_t)alpha * ks_load_i64(src, dt));
}

/* ------------------------------------------------------------ slice walks */
enum slice_op { SL_COPY_TO_A, SL_COPY_TO_B, SL_ADD_TO_B, SL_FILL_B };

typedef struct {
    ks_iter it;              /* over the slice: op 0 = A (iterated by i), op 1 = B (addressed by index[i]) */
    char *a0, *b0;
    int64_t astep, bstep;    /* bytes per step along dim */
    const char *idx;
    int64_t istep;           /* bytes between index values */
    enum slice_op op;
    ks_dtype dt;
    size_t isz;
    double scalar;           /* alpha or the fill value */
    char fill[8];            /* the fill value as an element of dt */
} slice_job;

static void slice_loop(char **d, const int64_t *s, int64_t n, void *arg)
{
    const slice_job *j = arg;
    char *a = d[0], *b = j->it.nops > 1 ? d[1] : d[0];
    int64_t sa = s[0], sb = j->it.nops > 1 ? s[1] : s[0];
    size_t isz = j->isz;
    switch (j->op) {
    case SL_COPY_TO_A:
        if (sa == (int64_t)isz && sb == (int64_t)isz) { memcpy(a, b, (size_t)n * isz); return; }
        for (int64_t k = 0; k < n; k++, a += sa, b += sb) copy_elem(a, b, isz);
        break;
    case SL_COPY_TO_B:
        for (int64_t k = 0; k < n; k++, a += sa, b += sb) copy_elem(b, a, isz);
        break;
    case SL_ADD_TO_B:
        for (int64_t k = 0; k < n; k++, a += sa, b += sb) add_elem(b, a, j->dt, j->scalar);
        break;
    case SL_FILL_B:
        for (int64_t k = 0; k < n; k++, b += sb) copy_elem(b, j->fill, isz);
        break;
    }
}

static void slice_run(const slice_job *j, int64_t b, int64_t e)
{
    slice_job local = *j;
    for (int64_t i = b; i < e; i++) {
        int64_t v = *(const int64_t *)(j->idx + i * j->istep);
        local.it.data[0] = j->a0 + i * j->astep;
        if (j->it.nops > 1) local.it.data[1] = j->b0 + v * j->bstep;
        else local.it.data[0] = j->b0 + v * j->bstep;
        ks_iter_run(&local.it, 0, local.it.numel, slice_loop, &local);
    }
}

static ks_status slice_chunk(void *arg, int64_t b, int64_t e)
{
    slice_run(arg, b, e);
    return KS_OK;
}

/* Set up a walk: A (may be NULL for fills) is indexed by position, B by index values. */
static ks_status slice_setup(ks_ctx *c, slice_job *j, ks_tensor *A, ks_tensor *B, int dim, ks_tensor *index)
{
    ks_tensor b1 = as_1d(B), bs = drop_dim(&b1, dim), idx = as_1d(index);
    memset(j, 0, sizeof *j);
    j->dt = B->dtype;
    j->isz = ks_dtype_size(B->dtype);
    j->idx = ks_tensor_data(index);
    j->istep = idx.stride[0] * 8;
    j->b0 = ks_tensor_data(B);
    j->bstep = b1.stride[dim] * (int64_t)j->isz;
    if (!A) return ks_iter_init(c, &j->it, 1, (ks_tensor *[]){&bs});
    ks_tensor a1 = as_1d(A), as = drop_dim(&a1, dim);
    j->a0 = ks_tensor_data(A);
    j->astep = a1.stride[dim] * (int64_t)ks_dtype_size(A->dtype);
    return ks_iter_init(c, &j->it, 2, (ks_tensor *[]){&as, &bs});
}

/* index: int64, 0-d or 1-D, values in [0, size of B along dim) */
static ks_status check_slice_index(ks_ctx *c, const char *op, ks_tensor *B, int dim, ks_tensor *index)
{
    ks_status st = check_index_dtype(c, op, index);
    if (st) return st;
    if (index->ndim > 1)
        return ks_error(c, KS_ESHAPE, "%s(): argument 'index' must be 0-d or 1-D, got %d dimensions", op,
                        index->ndim);
    return check_index_range(c, op, index, dim, B->ndim ? B->size[dim] : 1);
}

/* index_select along dim 0 of a contiguous t: whole rows, one memcpy each.
 * Only for work small enough to stay on one thread anyway (the general walk
 * below costs more to set up than a tiny selection takes to copy). */
static bool select_rows(const ks_tensor *t, int dim, const ks_tensor *index, ks_tensor *r)
{
    int64_t rows = t->ndim ? t->size[0] : 1, per = rows ? t->numel / rows : 0;
    if (dim != 0 || per * index->numel > 32768 || !ks_tensor_is_contiguous(t)) return false;
    size_t row = (size_t)per * ks_dtype_size(t->dtype);
    const char *src = ks_tensor_data(t), *ix = ks_tensor_data(index);
    int64_t istep = index->ndim ? index->stride[0] * 8 : 8;
    char *dst = ks_tensor_data(r);
    for (int64_t i = 0; i < index->numel; i++, dst += row)
        memcpy(dst, src + *(const int64_t *)(ix + i * istep) * (int64_t)row, row);
    return true;
}

ks_status ks_index_select(ks_ctx *c, ks_tensor *t, int dim, ks_tensor *index, ks_tensor **out)
{
    ks_status st = check_slice_index(c, "index_select", t, dim, index);
    if (st) return st;
    int64_t size[KS_MAX_DIMS];
    int nd = t->ndim ? t->ndim : index->ndim;
    if (t->ndim) memcpy(size, t->size, sizeof size);
    size[0 + dim] = index->numel;
    ks_tensor *r;
    if ((st = ks_tensor_empty(c, t->dtype, nd, size, &r))) return st;
    if (select_rows(t, dim, index, r)) {
        *out = r;
        return KS_OK;
    }
    slice_job j;
    if ((st = slice_setup(c, &j, r, t, dim, index))) { ks_tensor_release(r); return st; }
    j.op = SL_COPY_TO_A;
    int64_t per = j.it.numel > 0 ? j.it.numel : 1, grain = 32768 / per;
    if ((st = ks_parallel_for(c, index->numel, grain < 1 ? 1 : grain, slice_chunk, &j))) {
        ks_tensor_release(r);
        return st;
    }
    *out = r;
    return KS_OK;
}

/* source: self's shape except size(dim) = numel(index); same dtype */
static ks_status check_source(ks_ctx *c, const char *op, const ks_tensor *self, int dim, const ks_tensor *index,
                              const ks_tensor *src)
{
    if (src->dtype != self->dtype)
        return ks_error(c, KS_ETYPE, "%s(): self (%s) and source (%s) must have the same dtype", op,
                        ks_dtype_name(self->dtype), ks_dtype_name(src->dtype));
    bool ok = src->ndim == self->ndim || (self->ndim <= 1 && src->ndim <= 1);
    for (int d = 0; ok && d < self->ndim && d < src->ndim; d++)
        ok = d == dim ? src->size[d] == index->numel : src->size[d] == self->size[d];
    if (ok && self->ndim == 0 && src->numel != index->numel) ok = false;
    if (!ok) {
        char a[160], b[160];
        return ks_error(c, KS_ESHAPE,
                        "%s(): source shape %s does not match self shape %s with dimension %d of size %lld "
                        "(the number of indices)", op, ks_shape_str(src, a, sizeof a),
                        ks_shape_str(self, b, sizeof b), dim, (long long)index->numel);
    }
    return KS_OK;
}

/* Serial walk: repeated indices must accumulate/overwrite in index order. */
static ks_status index_write(ks_ctx *c, const char *op, ks_tensor *self, int dim, ks_tensor *index,
                             ks_tensor *source, enum slice_op kind, double scalar)
{
    ks_status st = ks_check_writable(c, op, self);
    if (!st && kind == SL_FILL_B) st = ks_check_fill_value(c, op, self->dtype, scalar);
    if (!st && kind == SL_ADD_TO_B && self->dtype != KS_FLOAT32 && !is_int64_value(scalar))
        st = ks_error(c, KS_EINVAL, "%s(): alpha must be an integer for %s tensors, got %g", op,
                      ks_dtype_name(self->dtype), scalar);
    if (!st) st = check_slice_index(c, op, self, dim, index);
    if (!st && source) st = check_source(c, op, self, dim, index, source);
    if (st) return st;
    slice_job j;
    if ((st = slice_setup(c, &j, source, self, dim, index))) return st;
    j.op = kind;
    j.scalar = scalar;
    ks_store_f64(j.fill, self->dtype, scalar);
    ks_tensor_bump_version(self);
    slice_run(&j, 0, index->numel);
    return KS_OK;
}

ks_status ks_index_add_(ks_ctx *c, ks_tensor *self, int dim, ks_tensor *index, ks_tensor *source, double alpha)
{
    return index_write(c, "index_add_", self, dim, index, source, SL_ADD_TO_B, alpha);
}

ks_status ks_index_copy_(ks_ctx *c, ks_tensor *self, int dim, ks_tensor *index, ks_tensor *source)
{
    return index_write(c, "index_copy_", self, dim, index, source, SL_COPY_TO_B, 0);
}

ks_status ks_index_fill_(ks_ctx *c, ks_tensor *self, int dim, ks_tensor *index, double value)
{
    return index_write(c, "index_fill_", self, dim, index, NULL, SL_FILL_B, value);
}

/* -------------------------------------------------------------- dim walks */
enum dim_op { DW_GATHER, DW_SCATTER, DW_SCATTER_ADD, DW_SCATTER_VALUE };

typedef struct {
    ks_iter it;          /* op 0 = index, op 1 = X (walked by i), op 2 = Y (addressed by index values) */
    int64_t n;           /* index.size(dim) */
    int64_t ist, xst, yst; /* bytes per step along dim */
    enum dim_op op;
    ks_dtype dt;
    size_t isz;
    char value[8];
} dim_job;

static void dim_loop(char **d, const int64_t *s, int64_t m, void *arg)
{
    const dim_job *j = arg;
    for (int64_t k = 0; k < m; k++) {
        const char *pi = d[0] + k * s[0];
        char *px = d[1] + k * s[1], *py = d[2] + k * s[2];
        for (int64_t i = 0; i < j->n; i++) {
            char *y = py + *(const int64_t *)(pi + i * j->ist) * j->yst, *x = px + i * j->xst;
            switch (j->op) {
            case DW_GATHER: copy_elem(x, y, j->isz); break;
            case DW_SCATTER: copy_elem(y, x, j->isz); break;
            case DW_SCATTER_ADD: add_elem(y, x, j->dt, 1.0); break;
            case DW_SCATTER_VALUE: copy_elem(y, j->value, j->isz); break;
            }
        }
    }
}

/* index's geometry with dim collapsed to 1, t's strides */
static ks_tensor collapse_like(const ks_tensor *t, const ks_tensor *index, int dim)
{
    ks_tensor d = as_1d(t);
    memcpy(d.size, index->size, sizeof d.size);
    if (d.ndim == 1 && index->ndim == 0) d.size[0] = 1;
    d.size[dim] = 1;
    d.numel = 1;
    for (int i = 0; i < d.ndim; i++) d.numel *= d.size[i];
    return d;
}

static ks_status dim_walk(ks_ctx *c, enum dim_op op, ks_tensor *X, ks_tensor *Y, int dim, ks_tensor *index,
                          double value)
{
    ks_tensor i1 = as_1d(index), x1 = as_1d(X), y1 = as_1d(Y);
    ks_tensor ic = collapse_like(index, index, dim), xc = collapse_like(X, index, dim), yc = collapse_like(Y, index, dim);
    dim_job j;
    memset(&j, 0, sizeof j);
    ks_status st = ks_iter_init(c, &j.it, 3, (ks_tensor *[]){&ic, &xc, &yc});
    if (st) return st;
    j.n = i1.size[dim];
    j.op = op;
    j.dt = Y->dtype;
    j.isz = ks_dtype_size(Y->dtype);
    j.ist = i1.stride[dim] * 8;
    j.xst = x1.stride[dim] * (int64_t)ks_dtype_size(X->dtype);
    j.yst = y1.stride[dim] * (int64_t)j.isz;
    ks_store_f64(j.value, Y->dtype, value);
    if (index->numel == 0) return KS_OK;
    int64_t grain = 32768 / (j.n > 0 ? j.n : 1);
    return ks_iter_parallel(c, &j.it, grain < 1 ? 1 : grain, dim_loop, &j);
}

/* index.ndim == t.ndim and index.size(d) <= t.size(d) (for d != dim unless all) */
static ks_status check_fits(ks_ctx *c, const char *op, const char *what, const ks_tensor *index,
                            const ks_tensor *t, int dim, bool all)
{
    bool ok = index->ndim == t->ndim;
    for (int d = 0; ok && d < t->ndim; d++)
        if ((all || d != dim) && index->size[d] > t->size[d]) ok = false;
    if (!ok) {
        char a[160], b[160], x[48] = "";
        if (!all) snprintf(x, sizeof x, " outside dimension %d", dim);
        return ks_error(c, KS_ESHAPE, "%s(): index shape %s does not fit %s shape %s (needs the same number of "
                        "dimensions and no larger size%s)", op, ks_shape_str(index, a, sizeof a), what,
                        ks_shape_str(t, b, sizeof b), x);
    }
    return KS_OK;
}

ks_status ks_gather(ks_ctx *c, ks_tensor *t, int dim, ks_tensor *index, ks_tensor **out)
{
    ks_status st = check_index_dtype(c, "gather", index);
    if (!st) st = check_fits(c, "gather", "input", index, t, dim, false);
    if (!st) st = check_index_range(c, "gather", index, dim, t->ndim ? t->size[dim] : 1);
    if (st) return st;
    ks_tensor *r;
    if ((st = ks_tensor_empty(c, t->dtype, index->ndim, index->size, &r))) return st;
    if ((st = dim_walk(c, DW_GATHER, r, t, dim, index, 0))) { ks_tensor_release(r); return st; }
    *out = r;
    return KS_OK;
}

static ks_status scatter_checks(ks_ctx *c, const char *op, ks_tensor *self, int dim, ks_tensor *index,
                                ks_tensor *src)
{
    ks_status st = ks_check_writable(c, op, self);
    if (!st) st = check_index_dtype(c, op, index);
    if (!st) st = check_fits(c, op, "self", index, self, dim, false);
    if (!st && src) st = check_fits(c, op, "src", index, src, dim, true);
    if (!st && src && src->dtype != self->dtype)
        st = ks_error(c, KS_ETYPE, "%s(): self (%s) and src (%s) must have the same dtype", op,
                      ks_dtype_name(self->dtype), ks_dtype_name(src->dtype));
    if (!st) st = check_index_range(c, op, index, dim, self->ndim ? self->size[dim] : 1);
    return st;
}

ks_status ks_scatter_(ks_ctx *c, ks_tensor *self, int dim, ks_tensor *index, ks_tensor *src)
{
    ks_status st = scatter_checks(c, "scatter_", self, dim, index, src);
    if (st) return st;
    ks_tensor_bump_version(self);
    return dim_walk(c, DW_SCATTER, src, self, dim, index, 0);
}

ks_status ks_scatter_value_(ks_ctx *c, ks_tensor *self, int dim, ks_tensor *index, double value)
{
    ks_status st = scatter_checks(c, "scatter_", self, dim, index, NULL);
    if (!st) st = ks_check_fill_value(c, "scatter_", self->dtype, value);
    if (st) return st;
    ks_tensor_bump_version(self);
    return dim_walk(c, DW_SCATTER_VALUE, index, self, dim, index, value);
}

ks_status ks_scatter_add_(ks_ctx *c, ks_tensor *self, int dim, ks_tensor *index, ks_tensor *src)
{
    ks_status st = scatter_checks(c, "scatter_add_", self, dim, index, src);
    if (st) return st;
    ks_tensor_bump_version(self);
    return dim_walk(c, DW_SCATTER_ADD, src, self, dim, index, 0);
}
