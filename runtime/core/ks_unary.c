/* ks_unary.c: unary elementwise math, clamp and nan_to_num (fill_/zero_ are
 * in ks_fill.c).
 *
 * float32 -> float32 contiguous runs take one loop per op (the switch is
 * outside the loop); everything else goes through a generic loop that
 * loads as double or int64 and stores as the output dtype.
 */
#include "ks_elementwise.h"

/* -O2's "very cheap" vectoriser cost model never emits the runtime alias
 * checks these loops need (out may alias an input): allow them here. */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("vect-cost-model=dynamic")
#endif

#include <float.h>
#include <math.h>
#include <string.h>

/* which ops produce float from integer input, which produce bool */
static bool unop_is_float(ks_unop op)
{
    switch (op) {
    case KS_OP_NEG: case KS_OP_ABS: case KS_OP_SIGN: case KS_OP_SQUARE: case KS_OP_RELU:
    case KS_OP_FLOOR: case KS_OP_CEIL: case KS_OP_ROUND: case KS_OP_TRUNC:
    case KS_OP_ISFINITE: case KS_OP_ISNAN: case KS_OP_ISINF: case KS_OP_LOGICAL_NOT: case KS_OP_BITWISE_NOT:
        return false;
    default:
        return true;
    }
}

static bool unop_is_bool(ks_unop op) { return op >= KS_OP_ISFINITE && op <= KS_OP_LOGICAL_NOT; }

static inline float f32_sigmoid(float v)
{
    if (v >= 0) return 1.0f / (1.0f + expf(-v));
    float e = expf(v); /* never overflows for v < 0 */
    return e / (1.0f + e);
}

static inline __attribute__((always_inline)) float f32_un(ks_unop op, float v)
{
    switch (op) {
    case KS_OP_NEG: return -v;
    case KS_OP_ABS: return fabsf(v);
    case KS_OP_SIGN: return (float)((v > 0) - (v < 0)); /* NaN -> 0 like PyTorch */
    case KS_OP_EXP: return expf(v);
    case KS_OP_EXP2: return exp2f(v);
    case KS_OP_EXPM1: return expm1f(v);
    case KS_OP_LOG: return logf(v);
    case KS_OP_LOG2: return log2f(v);
    case KS_OP_LOG10: return log10f(v);
    case KS_OP_LOG1P: return log1pf(v);
    case KS_OP_SQRT: return sqrtf(v);
    case KS_OP_RSQRT: return 1.0f / sqrtf(v);
    case KS_OP_RECIPROCAL: return 1.0f / v;
    case KS_OP_SQUARE: return v * v;
    case KS_OP_SIN: return sinf(v);
    case KS_OP_COS: return cosf(v);
    case KS_OP_TAN: return tanf(v);
    case KS_OP_TANH: return tanhf(v);
    case KS_OP_SIGMOID: return f32_sigmoid(v);
    case KS_OP_RELU: return v <= 0 ? 0.0f : v; /* NaN stays NaN */
    case KS_OP_FLOOR: return floorf(v);
    case KS_OP_CEIL: return ceilf(v);
    case KS_OP_ROUND: return nearbyintf(v); /* default rounding mode: half to even */
    case KS_OP_TRUNC: return truncf(v);
    case KS_OP_FRAC: return v - truncf(v);
    case KS_OP_ERF: return erff(v);
    case KS_OP_ISFINITE: return isfinite(v);
    case KS_OP_ISNAN: return isnan(v);
    case KS_OP_ISINF: return isinf(v) != 0;
    case KS_OP_LOGICAL_NOT: return v == 0;
    default: return 0;
    }
}

/* integer (and bool) input, integer or bool output */
static inline int64_t i64_un(ks_unop op, int64_t v, ks_dtype dt)
{
    switch (op) {
    case KS_OP_NEG: return (int64_t)(0 - (uint64_t)v);
    case KS_OP_ABS: return v < 0 ? (int64_t)(0 - (uint64_t)v) : v;
    case KS_OP_SIGN: return (v > 0) - (v < 0);
    case KS_OP_SQUARE: return (int64_t)((uint64_t)v * (uint64_t)v);
    case KS_OP_RELU: return v < 0 ? 0 : v;
    case KS_OP_ISFINITE: return 1;
    case KS_OP_ISNAN: case KS_OP_ISINF: return 0;
    case KS_OP_LOGICAL_NOT: return v == 0;
    case KS_OP_BITWISE_NOT: return dt == KS_BOOL ? !v : ~v;
    default: return v; /* floor, ceil, round, trunc: identity on integers */
    }
}

struct un_arg {
    ks_unop op;
    ks_dtype in, out;
};

#define MAP(expr) for (int64_t k = 0; k < n; k++) { float v = x[k]; o[k] = (expr); } break

static void f32_contig(ks_unop op, float *o, const float *x, int64_t n)
{
    switch (op) {
    case KS_OP_NEG: MAP(-v);
    case KS_OP_ABS: MAP(fabsf(v));
    case KS_OP_EXP: MAP(expf(v));
    case KS_OP_LOG: MAP(logf(v));
    case KS_OP_SQRT: MAP(sqrtf(v));
    case KS_OP_RSQRT: MAP(1.0f / sqrtf(v));
    case KS_OP_RECIPROCAL: MAP(1.0f / v);
    case KS_OP_SQUARE: MAP(v * v);
    case KS_OP_TANH: MAP(tanhf(v));
    case KS_OP_SIGMOID: MAP(f32_sigmoid(v));
    case KS_OP_RELU: MAP(v <= 0 ? 0.0f : v);
    case KS_OP_FLOOR: MAP(floorf(v));
    case KS_OP_CEIL: MAP(ceilf(v));
    case KS_OP_TRUNC: MAP(truncf(v));
    default: MAP(f32_un(op, v));
    }
}
#undef MAP

static void f32_loop(char **d, const int64_t *s, int64_t n, void *arg)
{
    const struct un_arg *a = arg;
    if (s[0] == 4 && s[1] == 4) {
        f32_contig(a->op, (float *)d[0], (const float *)d[1], n);
        return;
    }
    char *po = d[0], *px = d[1];
    for (int64_t k = 0; k < n; k++, po += s[0], px += s[1]) *(float *)po = f32_un(a->op, *(const float *)px);
}

static void generic_loop(char **d, const int64_t *s, int64_t n, void *arg)
{
    const struct un_arg *a = arg;
    char *po = d[0], *px = d[1];
    if (a->in == KS_FLOAT32 || unop_is_float(a->op)) {
        for (int64_t k = 0; k < n; k++, po += s[0], px += s[1])
            ks_store_f64(po, a->out, f32_un(a->op, (float)ks_load_f64(px, a->in)));
        return;
    }
    for (int64_t k = 0; k < n; k++, po += s[0], px += s[1])
        ks_store_i64(po, a->out, i64_un(a->op, ks_load_i64(px, a->in), a->in));
}

/* Allocate *out (dst NULL) or check dst, then run loop over (r, a). */
static ks_status run_unary(ks_ctx *c, const char *what, const ks_tensor *a, ks_dtype rt, ks_tensor *dst,
                           ks_tensor **out, ks_loop_fn loop, void *arg)
{
    ks_status st;
    ks_tensor *r = dst;
    if (dst) {
        if ((st = ks_check_dst(c, what, dst, rt, a->ndim, a->size))) return st;
    } else if ((st = ks_tensor_empty(c, rt, a->ndim, a->size, &r))) {
        return st;
    }
    ks_tensor *ops[2] = {r, (ks_tensor *)a};
    st = ks_elementwise_run(c, 2, ops, loop, arg);
    if (dst) {
        ks_tensor_bump_version(dst);
        return st;
    }
    if (st) { ks_tensor_release(r); return st; }
    *out = r;
    return KS_OK;
}

ks_status ks_unary(ks_ctx *c, ks_unop op, const ks_tensor *a, ks_tensor *dst, ks_tensor **out)
{
    if ((unsigned)op >= KS_NUM_UNOPS) return ks_error(c, KS_EINVAL, "unknown unary op %d", (int)op);
    const char *name = ks_unop_name(op);
    ks_dtype in = a->dtype, rt = in;
    if (op == KS_OP_BITWISE_NOT && in == KS_FLOAT32)
        return ks_error(c, KS_ETYPE, "bitwise_not: only implemented on integer and bool tensors, got float32");
    if (op == KS_OP_NEG && in == KS_BOOL)
        return ks_error(c, KS_ETYPE, "neg: negation of a bool tensor is not supported; "
                                     "to invert a mask use logical_not() or the ~ operator");
    if ((op == KS_OP_ABS || op == KS_OP_RELU || op == KS_OP_SIGN) && in == KS_BOOL)
        return ks_error(c, KS_ETYPE, "%s: not implemented for bool tensors", name);
    if (op == KS_OP_FRAC && in != KS_FLOAT32)
        return ks_error(c, KS_ETYPE, "frac: not implemented for %s tensors", ks_dtype_name(in));
    if (unop_is_bool(op)) rt = KS_BOOL;
    else if (unop_is_float(op)) rt = KS_FLOAT32;
    else if (op == KS_OP_SQUARE && in == KS_BOOL) rt = KS_INT64;
    struct un_arg arg = {op, in, dst ? dst->dtype : rt};
    ks_loop_fn loop = in == KS_FLOAT32 && arg.out == KS_FLOAT32 && !unop_is_bool(op) ? f32_loop : generic_loop;
    return run_unary(c, name, a, rt, dst, out, loop, &arg);
}

/* ------------------------------------------------------------- clamp */
struct clamp_arg {
    bool has_lo, has_hi;
    double lo, hi;        /* float computation */
    int64_t ilo, ihi;     /* integer computation (wrapped to the dtype) */
    ks_dtype ct, in, out;
};

static void clamp_f32(char **d, const int64_t *s, int64_t n, void *arg)
{
    const struct clamp_arg *a = arg;
    float lo = a->has_lo ? (float)a->lo : -INFINITY, hi = a->has_hi ? (float)a->hi : INFINITY;
    if (s[0] == 4 && s[1] == 4) {
        float *o = (float *)d[0];
        const float *x = (const float *)d[1];
        for (int64_t k = 0; k < n; k++) {
            float v = x[k] < lo ? lo : x[k]; /* comparisons with NaN are false: NaN stays */
            o[k] = v > hi ? hi : v;
        }
        return;
    }
    char *po = d[0], *px = d[1];
    for (int64_t k = 0; k < n; k++, po += s[0], px += s[1]) {
        float v = *(const float *)px;
        v = v < lo ? lo : v;
        *(float *)po = v > hi ? hi : v;
    }
}

static void clamp_generic(char **d, const int64_t *s, int64_t n, void *arg)
{
    const struct clamp_arg *a = arg;
    char *po = d[0], *px = d[1];
    for (int64_t k = 0; k < n; k++, po += s[0], px += s[1]) {
        if (a->ct == KS_FLOAT32) {
            float v = (float)ks_load_f64(px, a->in);
            if (a->has_lo && v < (float)a->lo) v = (float)a->lo;
            if (a->has_hi && v > (float)a->hi) v = (float)a->hi;
            ks_store_f64(po, a->out, v);
        } else {
            int64_t v = ks_load_i64(px, a->in);
            if (a->has_lo && v < a->ilo) v = a->ilo;
            if (a->has_hi && v > a->ihi) v = a->ihi;
            ks_store_i64(po, a->out, v);
        }
    }
}

static int64_t scalar_as_int(const ks_scalar *s, ks_dtype ct)
{
    int64_t v = s->kind == KS_FLOAT32 ? (int64_t)s->f : s->i;
    return ct == KS_UINT8 ? (int64_t)(uint8_t)v : ct == KS_BOOL ? v != 0 : v;
}

ks_status ks_clamp(ks_ctx *c, const ks_tensor *a, const ks_scalar *lo, const ks_scalar *hi, ks_tensor *dst,
                   ks_tensor **out)
{
    if (!lo && !hi) return ks_error(c, KS_EINVAL, "clamp: at least one of min or max must be given");
    ks_operand ops[3] = {ks_op_tensor(a)};
    int n = 1;
    if (lo) ops[n++] = ks_op_scalar(*lo);
    if (hi) ops[n++] = ks_op_scalar(*hi);
    ks_dtype ct = ks_elementwise_result_type(n, ops);
    if (ct == KS_BOOL) return ks_error(c, KS_ETYPE, "clamp: not implemented for bool tensors");
    struct clamp_arg arg = {lo != NULL, hi != NULL, 0, 0, 0, 0, ct, a->dtype, dst ? dst->dtype : ct};
    if (lo) { arg.lo = lo->kind == KS_FLOAT32 ? lo->f : (double)lo->i; arg.ilo = scalar_as_int(lo, ct); }
    if (hi) { arg.hi = hi->kind == KS_FLOAT32 ? hi->f : (double)hi->i; arg.ihi = scalar_as_int(hi, ct); }
    bool fast = ct == KS_FLOAT32 && a->dtype == KS_FLOAT32 && arg.out == KS_FLOAT32;
    return run_unary(c, "clamp", a, ct, dst, out, fast ? clamp_f32 : clamp_generic, &arg);
}

/* ------------------------------------------------------ nan_to_num */
struct n2n_arg {
    float nan, pos, neg;
    ks_dtype in, out;
};

static void n2n_loop(char **d, const int64_t *s, int64_t n, void *arg)
{
    const struct n2n_arg *a = arg;
    char *po = d[0], *px = d[1];
    for (int64_t k = 0; k < n; k++, po += s[0], px += s[1]) {
        if (a->in != KS_FLOAT32) { /* integers have no NaN or inf: a copy */
            ks_store_i64(po, a->out, ks_load_i64(px, a->in));
            continue;
        }
        float v = *(const float *)px;
        v = v != v ? a->nan : v == INFINITY ? a->pos : v == -INFINITY ? a->neg : v;
        ks_store_f64(po, a->out, v);
    }
}

ks_status ks_nan_to_num(ks_ctx *c, const ks_tensor *a, const double *nan, const double *posinf,
                        const double *neginf, ks_tensor *dst, ks_tensor **out)
{
    struct n2n_arg arg = {nan ? (float)*nan : 0.0f, posinf ? (float)*posinf : FLT_MAX,
                          neginf ? (float)*neginf : -FLT_MAX, a->dtype, dst ? dst->dtype : a->dtype};
    return run_unary(c, "nan_to_num", a, a->dtype, dst, out, n2n_loop, &arg);
}
