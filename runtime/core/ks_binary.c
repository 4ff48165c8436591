/* ks_binary.c: binary elementwise ops (arithmetic, comparisons, logical,
 * bitwise) with broadcasting and PyTorch type promotion.
 *
 * Two kinds of inner loop:
 *  - float32 fast loops, one per op, chosen once per call: the op is a
 *    compile-time constant inside each loop so gcc vectorises the
 *    contiguous and tensor-scalar layouts;
 *  - one generic loop for every other dtype mix: load each operand as the
 *    computation dtype (float or wrapped int64), compute, store as the
 *    output dtype.
 */
#include "ks_elementwise.h"

/* -O2's "very cheap" vectoriser cost model never emits the runtime alias
 * checks these loops need (out may alias an input): allow them here. */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("vect-cost-model=dynamic")
#endif

#include <math.h>
#include <stdatomic.h>

struct bin_arg {
    ks_binop op;
    ks_dtype ct;          /* computation dtype */
    ks_dtype dt[3];       /* out, a, b */
    float alpha_f;
    int64_t alpha_i;
    atomic_int zero_div;  /* integer division by zero seen */
};

static bool is_compare(ks_binop op) { return op >= KS_OP_EQ && op <= KS_OP_GE; }
static bool is_logical(ks_binop op) { return op >= KS_OP_LOGICAL_AND && op <= KS_OP_LOGICAL_XOR; }
static bool is_bitwise(ks_binop op) { return op >= KS_OP_BITWISE_AND && op <= KS_OP_BITWISE_XOR; }

/* ------------------------------------------------------------ float math */
/* PyTorch's floor division for floats (exact where floor(x / y) rounds badly) */
static inline float f32_floordiv(float x, float y)
{
    if (y == 0) return x / y;
    float mod = fmodf(x, y);
    float div = (x - mod) / y;
    if (mod != 0 && ((y < 0) != (mod < 0))) div -= 1;
    if (div == 0) return copysignf(0, x / y);
    float fl = floorf(div);
    if (div - fl > 0.5f) fl += 1;
    return fl;
}

/* remainder with the sign of the divisor (Python's %) */
static inline float f32_rem(float x, float y)
{
    float m = fmodf(x, y);
    if (m != 0 && ((y < 0) != (m < 0))) m += y;
    return m;
}

static inline __attribute__((always_inline)) float f32_bin(ks_binop op, float x, float y, float alpha)
{
    switch (op) {
    case KS_OP_ADD: return x + alpha * y;
    case KS_OP_SUB: return x - alpha * y;
    case KS_OP_MUL: return x * y;
    case KS_OP_DIV: return x / y;
    case KS_OP_FLOOR_DIVIDE: return f32_floordiv(x, y);
    case KS_OP_REMAINDER: return f32_rem(x, y);
    case KS_OP_FMOD: return fmodf(x, y);
    case KS_OP_POW: return powf(x, y);
    case KS_OP_MAXIMUM: return (x > y || x != x) ? x : y; /* NaN propagates */
    case KS_OP_MINIMUM: return (x < y || x != x) ? x : y;
    case KS_OP_ATAN2: return atan2f(x, y);
    case KS_OP_EQ: return x == y;
    case KS_OP_NE: return x != y;
    case KS_OP_LT: return x < y;
    case KS_OP_LE: return x <= y;
    case KS_OP_GT: return x > y;
    case KS_OP_GE: return x >= y;
    case KS_OP_LOGICAL_AND: return x != 0 && y != 0;
    case KS_OP_LOGICAL_OR: return x != 0 || y != 0;
    case KS_OP_LOGICAL_XOR: return (x != 0) != (y != 0);
    default: return 0; /* bitwise ops reject float earlier */
    }
}

/* ----------------------------------------------------- float32 fast loops */
static inline __attribute__((always_inline)) void f32_loop(ks_binop op, char **d, const int64_t *s, int64_t n,
                                                           const struct bin_arg *a)
{
    float *o = (float *)d[0];
    const float *x = (const float *)d[1], *y = (const float *)d[2];
    float al = a->alpha_f;
    if (s[0] == 4 && s[1] == 4 && s[2] == 4) {
        for (int64_t k = 0; k < n; k++) o[k] = f32_bin(op, x[k], y[k], al);
    } else if (s[0] == 4 && s[1] == 4 && s[2] == 0) {
        float yv = *y;
        for (int64_t k = 0; k < n; k++) o[k] = f32_bin(op, x[k], yv, al);
    } else if (s[0] == 4 && s[1] == 0 && s[2] == 4) {
        float xv = *x;
        for (int64_t k = 0; k < n; k++) o[k] = f32_bin(op, xv, y[k], al);
    } else {
        char *po = d[0], *px = d[1], *py = d[2];
        for (int64_t k = 0; k < n; k++, po += s[0], px += s[1], py += s[2])
            *(float *)po = f32_bin(op, *(const float *)px, *(const float *)py, al);
    }
}

/* comparisons: float32 operands, bool output */
static inline __attribute__((always_inline)) void f32_cmp_loop(ks_binop op, char **d, const int64_t *s, int64_t n)
{
    uint8_t *o = (uint8_t *)d[0];
    const float *x = (const float *)d[1], *y = (const float *)d[2];
    if (s[0] == 1 && s[1] == 4 && s[2] == 4) {
        for (int64_t k = 0; k < n; k++) o[k] = (uint8_t)f32_bin(op, x[k], y[k], 1);
    } else if (s[0] == 1 && s[1] == 4 && s[2] == 0) {
        float yv = *y;
        for (int64_t k = 0; k < n; k++) o[k] = (uint8_t)f32_bin(op, x[k], yv, 1);
    } else {
        char *po = d[0], *px = d[1], *py = d[2];
        for (int64_t k = 0; k < n; k++, po += s[0], px += s[1], py += s[2])
            *(uint8_t *)po = (uint8_t)f32_bin(op, *(const float *)px, *(const float *)py, 1);
    }
}

#define F32_LOOP(name, OP) \
    static void name(char **d, const int64_t *s, int64_t n, void *a) { f32_loop(OP, d, s, n, a); }
#define F32_CMP(name, OP) \
    static void name(char **d, const int64_t *s, int64_t n, void *a) { (void)a; f32_cmp_loop(OP, d, s, n); }
F32_LOOP(f32_add, KS_OP_ADD)
F32_LOOP(f32_sub, KS_OP_SUB)
F32_LOOP(f32_mul, KS_OP_MUL)
F32_LOOP(f32_div, KS_OP_DIV)
F32_LOOP(f32_floor_divide, KS_OP_FLOOR_DIVIDE)
F32_LOOP(f32_remainder, KS_OP_REMAINDER)
F32_LOOP(f32_fmod, KS_OP_FMOD)
F32_LOOP(f32_maximum, KS_OP_MAXIMUM)
F32_LOOP(f32_minimum, KS_OP_MINIMUM)
F32_LOOP(f32_atan2, KS_OP_ATAN2)
F32_CMP(f32_eq, KS_OP_EQ)
F32_CMP(f32_ne, KS_OP_NE)
F32_CMP(f32_lt, KS_OP_LT)
F32_CMP(f32_le, KS_OP_LE)
F32_CMP(f32_gt, KS_OP_GT)
F32_CMP(f32_ge, KS_OP_GE)

/* pow: a scalar exponent of 2, 0.5, -1, 1 takes a cheap exact path */
static void f32_pow(char **d, const int64_t *s, int64_t n, void *a)
{
    if (s[0] == 4 && s[1] == 4 && s[2] == 0) {
        float *o = (float *)d[0];
        const float *x = (const float *)d[1];
        float e = *(const float *)d[2];
        if (e == 2) { for (int64_t k = 0; k < n; k++) o[k] = x[k] * x[k]; return; }
        if (e == 0.5f) { for (int64_t k = 0; k < n; k++) o[k] = sqrtf(x[k]); return; }
        if (e == -1) { for (int64_t k = 0; k < n; k++) o[k] = 1.0f / x[k]; return; }
        if (e == 1) { for (int64_t k = 0; k < n; k++) o[k] = x[k]; return; }
    }
    f32_loop(KS_OP_POW, d, s, n, a);
}

static const ks_loop_fn f32_loops[KS_NUM_BINOPS] = {
    [KS_OP_ADD] = f32_add, [KS_OP_SUB] = f32_sub, [KS_OP_MUL] = f32_mul, [KS_OP_DIV] = f32_div,
    [KS_OP_FLOOR_DIVIDE] = f32_floor_divide, [KS_OP_REMAINDER] = f32_remainder, [KS_OP_FMOD] = f32_fmod,
    [KS_OP_POW] = f32_pow,
    [KS_OP_MAXIMUM] = f32_maximum, [KS_OP_MINIMUM] = f32_minimum, [KS_OP_ATAN2] = f32_atan2,
    [KS_OP_EQ] = f32_eq, [KS_OP_NE] = f32_ne, [KS_OP_LT] = f32_lt, [KS_OP_LE] = f32_le,
    [KS_OP_GT] = f32_gt, [KS_OP_GE] = f32_ge};

/* ------------------------------------------------------- generic path */
static inline int64_t wrap_int(int64_t v, ks_dtype ct)
{
    return ct == KS_UINT8 ? (int64_t)(uint8_t)v : ct == KS_BOOL ? v != 0 : v;
}

static int64_t i64_pow(int64_t x, int64_t y)
{
    if (y < 0) return x == 1 ? 1 : x == -1 ? ((y & 1) ? -1 : 1) : 0;
    uint64_t r = 1, b = (uint64_t)x;
    for (uint64_t e = (uint64_t)y; e; e >>= 1, b *= b)
        if (e & 1) r *= b;
    return (int64_t)r;
}

/* integer op; wraps like two's complement (unsigned arithmetic) */
static int64_t i64_bin(const struct bin_arg *a, int64_t x, int64_t y)
{
    uint64_t ux = (uint64_t)x, uy = (uint64_t)y;
    switch (a->op) {
    case KS_OP_ADD: return (int64_t)(ux + (uint64_t)a->alpha_i * uy);
    case KS_OP_SUB: return (int64_t)(ux - (uint64_t)a->alpha_i * uy);
    case KS_OP_MUL: return (int64_t)(ux * uy);
    case KS_OP_FLOOR_DIVIDE: {
        if (y == 0) { atomic_store_explicit((atomic_int *)&a->zero_div, 1, memory_order_relaxed); return 0; }
        if (y == -1) return (int64_t)(0 - ux);
        int64_t q = x / y;
        if (x % y != 0 && ((x < 0) != (y < 0))) q--;
        return q;
    }
    case KS_OP_REMAINDER: {
        if (y == 0) { atomic_store_explicit((atomic_int *)&a->zero_div, 1, memory_order_relaxed); return 0; }
        if (y == -1) return 0;
        int64_t r = x % y;
        if (r != 0 && ((r < 0) != (y < 0))) r += y;
        return r;
    }
    case KS_OP_FMOD: /* C's %: the sign of x */
        if (y == 0) { atomic_store_explicit((atomic_int *)&a->zero_div, 1, memory_order_relaxed); return 0; }
        return y == -1 ? 0 : x % y;
    case KS_OP_POW: return i64_pow(x, y);
    case KS_OP_MAXIMUM: return x > y ? x : y;
    case KS_OP_MINIMUM: return x < y ? x : y;
    case KS_OP_EQ: return x == y;
    case KS_OP_NE: return x != y;
    case KS_OP_LT: return x < y;
    case KS_OP_LE: return x <= y;
    case KS_OP_GT: return x > y;
    case KS_OP_GE: return x >= y;
    case KS_OP_LOGICAL_AND: return x != 0 && y != 0;
    case KS_OP_LOGICAL_OR: return x != 0 || y != 0;
    case KS_OP_LOGICAL_XOR: return (x != 0) != (y != 0);
    case KS_OP_BITWISE_AND: return x & y;
    case KS_OP_BITWISE_OR: return x | y;
    case KS_OP_BITWISE_XOR: return x ^ y;
    default: return 0; /* div/atan2 always compute in float */
    }
}

static void generic_loop(char **d, const int64_t *s, int64_t n, void *arg)
{
    const struct bin_arg *a = arg;
    char *po = d[0], *px = d[1], *py = d[2];
    bool to_bool = is_compare(a->op) || is_logical(a->op);
    if (a->ct == KS_FLOAT32) {
        for (int64_t k = 0; k < n; k++, po += s[0], px += s[1], py += s[2]) {
            float r = f32_bin(a->op, (float)ks_load_f64(px, a->dt[1]), (float)ks_load_f64(py, a->dt[2]), a->alpha_f);
            ks_store_f64(po, a->dt[0], r);
        }
        return;
    }
    for (int64_t k = 0; k < n; k++, po += s[0], px += s[1], py += s[2]) {
        int64_t x = wrap_int(ks_load_i64(px, a->dt[1]), a->ct), y = wrap_int(ks_load_i64(py, a->dt[2]), a->ct);
        int64_t r = i64_bin(a, x, y);
        ks_store_i64(po, a->dt[0], to_bool ? r : wrap_int(r, a->ct));
    }
}

/* ------------------------------------------------------------ dtypes */
/* Computation and result dtypes of op, or an error naming the dtypes. */
static ks_status binary_types(ks_ctx *c, ks_binop op, ks_operand a, ks_operand b, const ks_scalar *alpha,
                              ks_dtype *ct, ks_dtype *rt)
{
    ks_operand ops[2] = {a, b};
    ks_dtype t = ks_elementwise_result_type(2, ops);
    if (is_bitwise(op) && t == KS_FLOAT32)
        return ks_error(c, KS_ETYPE, "%s: not implemented for float32 (expects bool, uint8 or int64 operands)",
                        ks_binop_name(op));
    if (op == KS_OP_SUB && t == KS_BOOL)
        return ks_error(c, KS_ETYPE, "sub: subtraction of two bool tensors is not supported; "
                                     "use logical_xor() or the ~ operator instead");
    if ((op == KS_OP_DIV || op == KS_OP_ATAN2) && t != KS_FLOAT32) t = KS_FLOAT32;
    if (alpha && t != KS_FLOAT32 && alpha->kind == KS_FLOAT32)
        return ks_error(c, KS_ETYPE, "%s: for integral input tensors, argument alpha must not be a floating point "
                                     "number (got %g)", ks_binop_name(op), alpha->f);
    if (op == KS_OP_POW && t != KS_FLOAT32 && !b.t && b.s.kind != KS_FLOAT32 && b.s.i < 0)
        return ks_error(c, KS_EINVAL, "pow: integers to negative integer powers are not allowed (exponent %lld)",
                        (long long)b.s.i);
    *ct = t;
    *rt = is_compare(op) || is_logical(op) ? KS_BOOL : t;
    return KS_OK;
}

/* ------------------------------------------------------------ entry */
/* The per-op fast path for tiny tensors: float32 tensor op float32 tensor
 * (or a number), same shape, contiguous, new output, no alpha. Returns
 * false when it does not apply (nothing done). */
static bool binary_fast(ks_ctx *c, ks_binop op, ks_operand a, ks_operand b, ks_tensor **out, ks_status *st)
{
    const ks_tensor *x = a.t, *y = b.t;
    if (!x || x->dtype != KS_FLOAT32 || !f32_loops[op] || is_compare(op) || !ks_tensor_is_contiguous(x)) return false;
    float yv = 0;
    if (y) {
        if (y->dtype != KS_FLOAT32 || !ks_same_shape(x, y) || !ks_tensor_is_contiguous(y)) return false;
    } else {
        if (b.s.kind == KS_BOOL) return false;
        yv = b.s.kind == KS_FLOAT32 ? (float)b.s.f : (float)b.s.i;
    }
    ks_tensor *r;
    if ((*st = ks_tensor_empty(c, KS_FLOAT32, x->ndim, x->size, &r))) return true;
    char *data[3] = {ks_tensor_data(r), ks_tensor_data(x), y ? ks_tensor_data(y) : (char *)&yv};
    int64_t strides[3] = {4, 4, y ? 4 : 0};
    struct bin_arg arg = {.op = op, .ct = KS_FLOAT32, .alpha_f = 1.0f, .alpha_i = 1};
    if (r->numel < KS_GRAIN_ELEMENTWISE) {
        f32_loops[op](data, strides, r->numel, &arg);
    } else {
        ks_tensor *ops[3] = {r, (ks_tensor *)x, (ks_tensor *)y};
        ks_scalar_tensor sy;
        if (!y) ops[2] = ks_scalar_tensor_init(&sy, b.s, KS_FLOAT32);
        if ((*st = ks_elementwise_run(c, 3, ops, f32_loops[op], &arg))) { ks_tensor_release(r); return true; }
    }
    *out = r;
    return true;
}

ks_status ks_binary_op(ks_ctx *c, ks_binop op, ks_operand a, ks_operand b, const ks_scalar *alpha,
                       ks_tensor *dst, ks_tensor **out)
{
    if ((unsigned)op >= KS_NUM_BINOPS) return ks_error(c, KS_EINVAL, "unknown binary op %d", (int)op);
    if (!a.t && !b.t) return ks_error(c, KS_EINVAL, "%s: at least one operand must be a tensor", ks_binop_name(op));
    if (op != KS_OP_ADD && op != KS_OP_SUB) alpha = NULL;
    ks_status fst;
    if (!dst && !alpha && binary_fast(c, op, a, b, out, &fst)) return fst;
    ks_dtype ct = KS_FLOAT32, rt = KS_FLOAT32;
    ks_status st = binary_types(c, op, a, b, alpha, &ct, &rt);
    if (st) return st;
    int ndim;
    int64_t size[KS_MAX_DIMS];
    if (a.t && b.t && ks_same_shape(a.t, b.t)) { /* the common case: no broadcast */
        ndim = a.t->ndim;
        for (int i = 0; i < ndim; i++) size[i] = a.t->size[i];
    } else {
        ks_operand ops[2] = {a, b};
        if ((st = ks_operands_shape(c, 2, ops, &ndim, size))) return st;
    }
    ks_tensor *r = dst;
    if (dst) {
        if ((st = ks_check_dst(c, ks_binop_name(op), dst, rt, ndim, size))) return st;
    } else if ((st = ks_tensor_empty(c, rt, ndim, size, &r))) {
        return st;
    }
    ks_scalar_tensor sa, sb;
    ks_tensor *ops[3] = {r, ks_operand_tensor(a, &sa, ct), ks_operand_tensor(b, &sb, ct)};
    struct bin_arg arg = {.op = op, .ct = ct, .dt = {r->dtype, ops[1]->dtype, ops[2]->dtype}};
    arg.alpha_f = alpha ? (float)(alpha->kind == KS_FLOAT32 ? alpha->f : (double)alpha->i) : 1.0f;
    arg.alpha_i = alpha ? (alpha->kind == KS_FLOAT32 ? (int64_t)alpha->f : alpha->i) : 1;
    atomic_init(&arg.zero_div, 0);
    ks_loop_fn loop = generic_loop;
    if (ct == KS_FLOAT32 && arg.dt[1] == KS_FLOAT32 && arg.dt[2] == KS_FLOAT32 && r->dtype == rt && f32_loops[op])
        loop = f32_loops[op];
    st = ks_elementwise_run(c, 3, ops, loop, &arg);
    if (!st && atomic_load(&arg.zero_div))
        st = ks_error(c, KS_EINVAL, "%s: integer division by zero", ks_binop_name(op));
    if (dst) {
        ks_tensor_bump_version(dst);
        return st;
    }
    if (st) {
        ks_tensor_release(r);
        return st;
    }
    *out = r;
    return KS_OK;
}

ks_status ks_binary(ks_ctx *c, ks_binop op, const ks_tensor *a, const ks_tensor *b, ks_tensor **out)
{
    return ks_binary_op(c, op, ks_op_tensor(a), ks_op_tensor(b), NULL, NULL, out);
}

ks_status ks_binary_scalar(ks_ctx *c, ks_binop op, const ks_tensor *a, ks_scalar s, bool reversed,
                           ks_tensor **out)
{
    ks_operand t = ks_op_tensor(a), v = ks_op_scalar(s);
    return reversed ? ks_binary_op(c, op, v, t, NULL, NULL, out) : ks_binary_op(c, op, t, v, NULL, NULL, out);
}

ks_status ks_binary_(ks_ctx *c, ks_binop op, ks_tensor *a, const ks_tensor *b)
{
    return ks_binary_op(c, op, ks_op_tensor(a), ks_op_tensor(b), NULL, a, NULL);
}

ks_status ks_binary_scalar_(ks_ctx *c, ks_binop op, ks_tensor *a, ks_scalar s)
{
    return ks_binary_op(c, op, ks_op_tensor(a), ks_op_scalar(s), NULL, a, NULL);
}

ks_status ks_binary_out(ks_ctx *c, ks_binop op, const ks_tensor *a, const ks_tensor *b, ks_tensor *out)
{
    return ks_binary_op(c, op, ks_op_tensor(a), ks_op_tensor(b), NULL, out, NULL);
}
