/* ks_elementwise.c: what every elementwise op shares: names, the PyTorch
 * type-promotion tiers, output checks, scalars as stack 0-d tensors and the
 * run loop with its same-shape contiguous fast path. */
#include "ks_elementwise.h"

#include <string.h>

static const char *binop_names[KS_NUM_BINOPS] = {
    "add", "sub", "mul", "div", "floor_divide", "remainder", "pow", "maximum", "minimum", "atan2",
    "eq", "ne", "lt", "le", "gt", "ge", "logical_and", "logical_or", "logical_xor",
    "bitwise_and", "bitwise_or", "bitwise_xor", "fmod"};

static const char *unop_names[KS_NUM_UNOPS] = {
    "neg", "abs", "sign", "exp", "exp2", "expm1", "log", "log2", "log10", "log1p", "sqrt", "rsqrt",
    "reciprocal", "square", "sin", "cos", "tan", "tanh", "sigmoid", "relu", "floor", "ceil", "round",
    "trunc", "frac", "erf", "isfinite", "isnan", "isinf", "logical_not", "bitwise_not"};

const char *ks_binop_name(ks_binop op) { return (unsigned)op < KS_NUM_BINOPS ? binop_names[op] : "?"; }
const char *ks_unop_name(ks_unop op) { return (unsigned)op < KS_NUM_UNOPS ? unop_names[op] : "?"; }

/* bool < integer < float */
static int category(ks_dtype dt) { return dt == KS_BOOL ? 0 : dt == KS_FLOAT32 ? 2 : 1; }

ks_dtype ks_elementwise_result_type(int n, const ks_operand *ops)
{
    /* tier 2: dimensioned tensors, 1: 0-d tensors, 0: scalars */
    int have[3] = {0, 0, 0};
    ks_dtype dt[3] = {KS_BOOL, KS_BOOL, KS_BOOL};
    for (int i = 0; i < n; i++) {
        int tier = ops[i].t ? (ops[i].t->ndim > 0 ? 2 : 1) : 0;
        ks_dtype d = ops[i].t ? ops[i].t->dtype : ops[i].s.kind;
        dt[tier] = have[tier] ? ks_promote(dt[tier], d) : d;
        have[tier] = 1;
    }
    int top = have[2] ? 2 : have[1] ? 1 : 0;
    ks_dtype r = dt[top];
    for (int tier = top - 1; tier >= 0; tier--)
        if (have[tier] && category(dt[tier]) > category(r)) r = dt[tier];
    return r;
}

bool ks_can_cast(ks_dtype from, ks_dtype to)
{
    if (category(from) > category(to) && category(to) > 0) return false; /* float -> integer */
    if (to == KS_BOOL && from != KS_BOOL) return false;
    return true;
}

ks_status ks_check_dst(ks_ctx *c, const char *what, const ks_tensor *dst, ks_dtype rt, int ndim,
                       const int64_t *size)
{
    char a[160], b[160];
    if (!ks_can_cast(rt, dst->dtype))
        return ks_error(c, KS_ETYPE, "%s: result type %s can't be cast to the desired output type %s", what,
                        ks_dtype_name(rt), ks_dtype_name(dst->dtype));
    bool same = dst->ndim == ndim;
    for (int i = 0; same && i < ndim; i++) same = dst->size[i] == size[i];
    if (!same)
        return ks_error(c, KS_ESHAPE, "%s: output with shape %s doesn't match the broadcast shape %s", what,
                        ks_shape_str(dst, a, sizeof a), ks_dims_str(ndim, size, b, sizeof b));
    for (int i = 0; i < dst->ndim; i++)
        if (dst->stride[i] == 0 && dst->size[i] > 1)
            return ks_error(c, KS_EINVAL,
                            "%s: cannot write in place into an expanded tensor (shape %s, stride 0 at dim %d): "
                            "several elements share one memory location; clone() it first",
                            what, ks_shape_str(dst, a, sizeof a), i);
    return KS_OK;
}

ks_status ks_operands_shape(ks_ctx *c, int n, const ks_operand *ops, int *ndim, int64_t *size)
{
    int nd = 0;
    int64_t cur[KS_MAX_DIMS];
    for (int i = 0; i < n; i++) {
        const ks_tensor *t = ops[i].t;
        if (!t) continue;
        int64_t next[KS_MAX_DIMS];
        int nn;
        ks_status st = ks_broadcast_shapes(c, nd, cur, t->ndim, t->size, &nn, next);
        if (st) return st;
        nd = nn;
        memcpy(cur, next, (size_t)nn * sizeof *cur);
    }
    *ndim = nd;
    memcpy(size, cur, (size_t)nd * sizeof *cur);
    return KS_OK;
}

ks_tensor *ks_scalar_tensor_init(ks_scalar_tensor *st, ks_scalar s, ks_dtype dt)
{
    memset(&st->t, 0, sizeof st->t);
    memset(&st->s, 0, sizeof st->s);
    st->v.i64 = 0;
    int64_t iv = s.kind == KS_FLOAT32 ? (int64_t)s.f : s.i;
    switch (dt) {
    case KS_FLOAT32: st->v.f32 = s.kind == KS_FLOAT32 ? (float)s.f : (float)s.i; break;
    case KS_INT64: st->v.i64 = iv; break;
    case KS_UINT8: st->v.u8 = (uint8_t)iv; break; /* wraps, as PyTorch does */
    default: st->v.u8 = s.kind == KS_FLOAT32 ? s.f != 0 : s.i != 0; break;
    }
    st->s.refcount = 1 << 30; /* never released */
    st->s.data = &st->v;
    st->s.nbytes = sizeof st->v;
    st->t.refcount = 1 << 30;
    st->t.dtype = dt;
    st->t.numel = 1;
    st->t.storage = &st->s;
    return &st->t;
}

/* byte span [lo, hi) of t's elements in its storage */
static void byte_span(const ks_tensor *t, int64_t *lo, int64_t *hi)
{
    int64_t isz = (int64_t)ks_dtype_size(t->dtype), a = t->offset, b = t->offset;
    for (int i = 0; i < t->ndim; i++) {
        int64_t ext = t->stride[i] * (t->size[i] - 1);
        if (ext < 0) a += ext; else b += ext;
    }
    *lo = a * isz;
    *hi = (b + 1) * isz;
}

bool ks_overlap_needs_copy(const ks_tensor *dst, const ks_tensor *src)
{
    if (!src || src == dst || src->storage != dst->storage || !src->numel || !dst->numel) return false;
    if (src->dtype == dst->dtype && src->offset == dst->offset && src->ndim == dst->ndim) {
        bool same = true;
        for (int i = 0; same && i < dst->ndim; i++) same = src->size[i] == dst->size[i] && src->stride[i] == dst->stride[i];
        if (same) return false; /* element i reads what element i writes: safe */
    }
    int64_t l1, h1, l2, h2;
    byte_span(dst, &l1, &h1);
    byte_span(src, &l2, &h2);
    return l1 < h2 && l2 < h1;
}

/* ks_elementwise_run with the operands that overlap the output replaced by copies */
static ks_status run_with_copies(ks_ctx *c, int nops, ks_tensor *const *ops, ks_loop_fn loop, void *arg)
{
    ks_tensor *own[KS_ITER_MAX_OPS] = {NULL}, *use[KS_ITER_MAX_OPS];
    ks_status st = KS_OK;
    for (int j = 0; j < nops && !st; j++) {
        use[j] = ops[j];
        if (j > 0 && ks_overlap_needs_copy(ops[0], ops[j]) && !(st = ks_clone(c, ops[j], &own[j]))) use[j] = own[j];
    }
    if (!st) st = ks_elementwise_run(c, nops, use, loop, arg);
    for (int j = 0; j < nops; j++) ks_tensor_release(own[j]);
    return st;
}

/* same shape as `like` and contiguous, or 0-d (broadcast with stride 0) */
static bool flat_operand(const ks_tensor *t, const ks_tensor *like)
{
    if (t->ndim == 0) return true;
    return ks_same_shape(t, like) && ks_tensor_is_contiguous(t);
}

ks_status ks_elementwise_run(ks_ctx *c, int nops, ks_tensor *const *ops, ks_loop_fn loop, void *arg)
{
    const ks_tensor *o = ops[0];
    if (o->numel == 0) return KS_OK;
    for (int j = 1; j < nops; j++) /* an input the output overwrites before reading it: read a copy, as NumPy does */
        if (ks_overlap_needs_copy(o, ops[j])) return run_with_copies(c, nops, ops, loop, arg);
    ks_iter it;
    bool flat = ks_tensor_is_contiguous(o);
    for (int j = 1; flat && j < nops; j++) flat = flat_operand(ops[j], o);
    if (flat) {
        /* the common case: no ks_iter_init (shape checks, coalescing) */
        it.nops = nops;
        it.ndim = 1;
        it.numel = it.size[0] = o->numel;
        for (int j = 0; j < nops; j++) {
            it.data[j] = ks_tensor_data(ops[j]);
            it.stride[0][j] = ops[j]->ndim == 0 && j > 0 ? 0 : (int64_t)ks_dtype_size(ops[j]->dtype);
        }
        if (it.numel < KS_GRAIN_ELEMENTWISE) {
            loop(it.data, it.stride[0], it.numel, arg);
            return KS_OK;
        }
    } else {
        ks_status st = ks_iter_init(c, &it, nops, ops);
        if (st) return st;
    }
    return ks_iter_parallel(c, &it, KS_GRAIN_ELEMENTWISE, loop, arg);
}
