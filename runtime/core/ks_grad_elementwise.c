/* ks_grad_elementwise.c: autograd for elementwise binary, unary, clamp and
 * where. Backward kernels compose the recording ops (ks_ag_*): grad mode is
 * off during a usual backward, so they run as the plain ops; under
 * create_graph they record, and the gradients can be differentiated again.
 * Masks (relu, clamp, ties of maximum) are comparisons: constants, as the
 * derivative is piecewise. Broadcast gradients are reduced with
 * ks_ag_sum_to_shape. Saved outputs (exp, tanh, sigmoid, ...) are re-attached
 * with ks_ag_saved_output. */
#include "ks_grad_ops.h"
#include "ks_grad_views.h"
#include "ks_fill.h"

#include <string.h>

#include <math.h>

#define TRY(x)                          \
    do {                                \
        if ((st = (x)) != KS_OK) goto done; \
    } while (0)

static void drop(ks_tensor **t)
{
    ks_tensor_release(*t);
    *t = NULL;
}

static ks_status bin(ks_ctx *c, ks_binop op, ks_operand a, ks_operand b, ks_tensor **o)
{
    return ks_ag_binary(c, op, a, b, NULL, o);
}
static ks_status mul(ks_ctx *c, const ks_tensor *a, const ks_tensor *b, ks_tensor **o)
{
    return bin(c, KS_OP_MUL, ks_op_tensor(a), ks_op_tensor(b), o);
}
static ks_status div_(ks_ctx *c, const ks_tensor *a, const ks_tensor *b, ks_tensor **o)
{
    return bin(c, KS_OP_DIV, ks_op_tensor(a), ks_op_tensor(b), o);
}
static ks_status muls(ks_ctx *c, const ks_tensor *a, double s, ks_tensor **o)
{
    return bin(c, KS_OP_MUL, ks_op_tensor(a), ks_op_scalar(ks_scalar_float(s)), o);
}
static ks_status adds(ks_ctx *c, const ks_tensor *a, double s, ks_tensor **o)
{
    return bin(c, KS_OP_ADD, ks_op_tensor(a), ks_op_scalar(ks_scalar_float(s)), o);
}
static ks_status unary(ks_ctx *c, ks_unop op, const ks_tensor *a, ks_tensor **o)
{
    return ks_ag_unary(c, op, (ks_tensor *)a, o);
}
/* float mask (0/1) of a comparison */
static ks_status fmask(ks_ctx *c, ks_binop cmp, const ks_tensor *a, ks_operand b, ks_tensor **o)
{
    ks_tensor *m = NULL;
    ks_status st = ks_binary_op(c, cmp, ks_op_tensor(a), b, NULL, NULL, &m);
    if (!st) st = ks_to_dtype(c, m, KS_FLOAT32, o);
    ks_tensor_release(m);
    return st;
}

/* gin[k] = sum_to_shape(full) and drop full */
static ks_status reduce_into(ks_ctx *c, ks_node *n, int k, ks_tensor **full, ks_tensor **gin)
{
    ks_status st = ks_ag_sum_to_shape(c, *full, n->in_ndim[k], n->in_size[k], &gin[k]);
    drop(full);
    return st;
}

static ks_status record_needed(ks_ctx *c, int n, ks_tensor *const *ins, ks_tensor *out)
{
    return (out->dtype == KS_FLOAT32 && ks_ag_needs_record(c, n, ins)) ? KS_OK : KS_EINVAL;
}

/* ------------------------------------------------------------------ binary */
static bool binop_differentiable(ks_binop op)
{
    switch (op) {
    case KS_OP_ADD: case KS_OP_SUB: case KS_OP_MUL: case KS_OP_DIV: case KS_OP_POW:
    case KS_OP_MAXIMUM: case KS_OP_MINIMUM: case KS_OP_REMAINDER: case KS_OP_FMOD: case KS_OP_ATAN2: return true;
    default: return false;
    }
}

/* operand k of the node as an operand: saved tensor or stored scalar */
static ks_status operand_of(ks_ctx *c, ks_node *n, int k, ks_operand *o)
{
    int slot = (int)n->i[3 + k];
    if (slot < 0) { *o = ks_op_scalar(ks_scalar_float(n->f[k])); return KS_OK; }
    ks_tensor *t;
    ks_status st = ks_node_get_saved(c, n, slot, &t);
    if (!st) *o = ks_op_tensor(t);
    return st;
}

/* zeros of t's shape, in place of *t (a constant: no graph) */
static ks_status zeros_instead(ks_ctx *c, ks_tensor **t)
{
    ks_tensor *z;
    ks_status st = ks_tensor_empty(c, KS_FLOAT32, (*t)->ndim, (*t)->size, &z);
    if (st) return st;
    memset(ks_tensor_data(z), 0, (size_t)z->numel * sizeof(float));
    ks_tensor_release(*t);
    *t = z;
    return KS_OK;
}

/* PyTorch's masks of pow's gradients, applied to *t (a fresh tensor):
 * the base's is 0 where b == 0 (else 0 * inf = NaN at a == 0), the
 * exponent's 0 where a == 0 and b >= 0 (else 0 * -inf); elsewhere NaN and
 * inf stay as the formula gives them (a negative base's log is NaN). */
static ks_status pow_grad_zero(ks_ctx *c, ks_operand a, ks_operand b, bool base, ks_tensor **t)
{
    ks_operand zero = ks_op_scalar(ks_scalar_float(0.0));
    ks_tensor *m1 = NULL, *m2 = NULL, *m = NULL, *r = NULL;
    ks_status st = KS_OK;
    if (base && !b.t) return b.s.f == 0 ? zeros_instead(c, t) : KS_OK;
    if (base) st = ks_binary_op(c, KS_OP_EQ, b, zero, NULL, NULL, &m);
    else if (!a.t) {
        if (a.s.f != 0) return KS_OK;
        st = ks_binary_op(c, KS_OP_GE, b, zero, NULL, NULL, &m);
    } else {
        st = ks_binary_op(c, KS_OP_EQ, a, zero, NULL, NULL, &m1);
        if (!st) st = ks_binary_op(c, KS_OP_GE, b, zero, NULL, NULL, &m2);
        if (!st) st = ks_binary_op(c, KS_OP_LOGICAL_AND, ks_op_tensor(m1), ks_op_tensor(m2), NULL, NULL, &m);
    }
    if (!st) st = ks_ag_where(c, m, zero, ks_op_tensor(*t), &r);
    ks_tensor_release(m1);
    ks_tensor_release(m2);
    ks_tensor_release(m);
    if (st) return st;
    ks_tensor_release(*t);
    *t = r;
    return KS_OK;
}

static ks_status binary_backward(ks_ctx *c, ks_node *n, ks_tensor *const *gout, ks_tensor **gin)
{
    ks_binop op = (ks_binop)n->i[0];
    ks_tensor *g = gout[0], *t1 = NULL, *t2 = NULL, *t3 = NULL;
    ks_operand a, b, go = ks_op_tensor(g);
    ks_status st = KS_OK;
    TRY(operand_of(c, n, 0, &a));
    TRY(operand_of(c, n, 1, &b));
    double alpha = n->f[2];
    for (int k = 0; k < 2; k++) {
        if (!n->needs_grad[k]) continue;
        switch (op) {
        case KS_OP_ADD: case KS_OP_SUB: {
            double s = k == 0 ? 1.0 : (op == KS_OP_SUB ? -alpha : alpha);
            TRY(s == 1.0 ? (t1 = ks_tensor_retain(g), KS_OK) : muls(c, g, s, &t1));
            break;
        }
        case KS_OP_MUL: TRY(bin(c, KS_OP_MUL, go, k == 0 ? b : a, &t1)); break;
        case KS_OP_DIV:
            if (k == 0) TRY(bin(c, KS_OP_DIV, go, b, &t1));
            else { /* -g * a / b^2 */
                TRY(bin(c, KS_OP_MUL, go, a, &t2));
                TRY(bin(c, KS_OP_MUL, b, b, &t3));
                TRY(div_(c, t2, t3, &t1));
                drop(&t2); drop(&t3);
                TRY(muls(c, t1, -1.0, &t2));
                drop(&t1); t1 = t2; t2 = NULL;
            }
            break;
        case KS_OP_POW:
            if (k == 0) { /* g * b * a^(b-1) */
                ks_operand bm1;
                if (b.t) { TRY(adds(c, b.t, -1.0, &t3)); bm1 = ks_op_tensor(t3); }
                else bm1 = ks_op_scalar(ks_scalar_float(b.s.f - 1.0));
                TRY(bin(c, KS_OP_POW, a, bm1, &t2));
                drop(&t3);
                TRY(bin(c, KS_OP_MUL, ks_op_tensor(t2), b, &t3));
                TRY(mul(c, g, t3, &t1));
                TRY(pow_grad_zero(c, a, b, true, &t1));
            } else { /* g * a^b * log(a) (0 where a == 0 and b >= 0, as PyTorch masks it) */
                ks_operand la;
                if (a.t) { TRY(unary(c, KS_OP_LOG, a.t, &t3)); la = ks_op_tensor(t3); }
                else la = ks_op_scalar(ks_scalar_float(log(a.s.f)));
                TRY(bin(c, KS_OP_POW, a, b, &t2));
                ks_tensor *t4 = NULL;
                st = bin(c, KS_OP_MUL, ks_op_tensor(t2), la, &t4);
                drop(&t2);
                if (st) goto done;
                t2 = t4;
                TRY(pow_grad_zero(c, a, b, false, &t2));
                TRY(mul(c, g, t2, &t1));
            }
            break;
        case KS_OP_MAXIMUM: case KS_OP_MINIMUM: { /* ties split the gradient evenly */
            /* operand k wins where it beats the other one (self/other already swapped for k = 1) */
            ks_binop win = op == KS_OP_MAXIMUM ? KS_OP_GT : KS_OP_LT;
            ks_operand self = k == 0 ? a : b, other = k == 0 ? b : a;
            TRY(fmask(c, win, self.t, other, &t2));
            TRY(fmask(c, KS_OP_EQ, self.t, other, &t3));
            ks_tensor *w = NULL;
            st = ks_binary_op(c, KS_OP_ADD, ks_op_tensor(t2), ks_op_tensor(t3), &(ks_scalar){0.5, 0, KS_FLOAT32}, NULL, &w); /* a constant */
            if (st) goto done;
            st = mul(c, g, w, &t1);
            ks_tensor_release(w);
            if (st) goto done;
            break;
        }
        case KS_OP_REMAINDER:
            if (k == 0) t1 = ks_tensor_retain(g);
            else { /* -g * floor(a / b) */
                TRY(bin(c, KS_OP_FLOOR_DIVIDE, a, b, &t2));
                TRY(mul(c, g, t2, &t3));
                TRY(muls(c, t3, -1.0, &t1));
            }
            break;
        case KS_OP_FMOD:
            if (k == 0) t1 = ks_tensor_retain(g);
            else { /* -g * trunc(a / b) */
                TRY(bin(c, KS_OP_DIV, a, b, &t2));
                TRY(unary(c, KS_OP_TRUNC, t2, &t3));
                drop(&t2);
                TRY(mul(c, g, t3, &t2));
                drop(&t3);
                TRY(muls(c, t2, -1.0, &t1));
            }
            break;
        case KS_OP_ATAN2: { /* d/da = b/(a^2+b^2), d/db = -a/(a^2+b^2) */
            ks_tensor *a2 = NULL, *b2 = NULL;
            st = bin(c, KS_OP_MUL, a, a, &a2);
            if (!st) st = bin(c, KS_OP_MUL, b, b, &b2);
            if (!st) st = bin(c, KS_OP_ADD, ks_op_tensor(a2), ks_op_tensor(b2), &t2);
            ks_tensor_release(a2);
            ks_tensor_release(b2);
            if (st) goto done;
            TRY(bin(c, KS_OP_DIV, k == 0 ? b : a, ks_op_tensor(t2), &t3));
            TRY(bin(c, KS_OP_MUL, go, ks_op_tensor(t3), &t1));
            if (k == 1) { drop(&t2); TRY(muls(c, t1, -1.0, &t2)); drop(&t1); t1 = t2; t2 = NULL; }
            break;
        }
        default: break;
        }
        drop(&t2);
        drop(&t3);
        if (t1) TRY(reduce_into(c, n, k, &t1, gin));
    }
done:
    ks_tensor_release(t1);
    ks_tensor_release(t2);
    ks_tensor_release(t3);
    return st;
}

static const ks_op_def op_binary[KS_NUM_BINOPS] = {
    [KS_OP_ADD] = {"AddBackward", binary_backward},       [KS_OP_SUB] = {"SubBackward", binary_backward},
    [KS_OP_MUL] = {"MulBackward", binary_backward},       [KS_OP_DIV] = {"DivBackward", binary_backward},
    [KS_OP_POW] = {"PowBackward", binary_backward},       [KS_OP_MAXIMUM] = {"MaximumBackward", binary_backward},
    [KS_OP_MINIMUM] = {"MinimumBackward", binary_backward}, [KS_OP_REMAINDER] = {"RemainderBackward", binary_backward},
    [KS_OP_ATAN2] = {"Atan2Backward", binary_backward}, [KS_OP_FMOD] = {"FmodBackward", binary_backward},
};

/* which operands the backward reads */
static bool binary_saves(ks_binop op, int k)
{
    if (op == KS_OP_ADD || op == KS_OP_SUB) return false;
    if (op == KS_OP_REMAINDER || op == KS_OP_FMOD) return true;
    (void)k;
    return true;
}

ks_status ks_ag_binary(ks_ctx *c, ks_binop op, ks_operand a, ks_operand b, const ks_scalar *alpha, ks_tensor **out)
{
    ks_tensor *r = NULL;
    ks_status st = ks_binary_op(c, op, a, b, alpha, NULL, &r);
    if (st) return st;
    ks_tensor *ins[2] = {(ks_tensor *)a.t, (ks_tensor *)b.t};
    if (binop_differentiable(op) && record_needed(c, 2, ins, r) == KS_OK) {
        ks_node *n = ks_node_new(c, &op_binary[op], 2, ins);
        if (!n) { ks_tensor_release(r); return KS_ENOMEM; }
        n->double_backward = true;
        n->i[0] = op;
        n->f[0] = a.t ? 0 : a.s.f;
        n->f[1] = b.t ? 0 : b.s.f;
        n->f[2] = alpha ? alpha->f : 1.0;
        for (int k = 0; k < 2 && !st; k++) {
            n->i[3 + k] = -1;
            if (ins[k] && binary_saves(op, k)) {
                n->i[3 + k] = n->nsaved;
                st = ks_node_save(c, n, ins[k]);
            }
        }
        if (!st) ks_node_set_output(n, 0, r);
        ks_node_release(n);
        if (st) { ks_tensor_release(r); return st; }
    }
    *out = r;
    return KS_OK;
}

/* ------------------------------------------------------------------ unary */
/* derivative f'(x) as a tensor, from x (a) and/or y = f(x) (y) */
static ks_status unary_deriv(ks_ctx *c, ks_unop op, ks_tensor *a, ks_tensor *y, ks_tensor **d)
{
    ks_tensor *t = NULL, *u = NULL;
    ks_status st = KS_OK;
    switch (op) {
    case KS_OP_ABS: return ks_unary(c, KS_OP_SIGN, a, NULL, d); /* piecewise: a constant */
    case KS_OP_EXP: *d = ks_tensor_retain(y); return KS_OK;
    case KS_OP_EXP2: return muls(c, y, M_LN2, d);
    case KS_OP_EXPM1: return adds(c, y, 1.0, d);
    case KS_OP_LOG: return unary(c, KS_OP_RECIPROCAL, a, d);
    case KS_OP_LOG2: case KS_OP_LOG10:
        TRY(muls(c, a, op == KS_OP_LOG2 ? M_LN2 : M_LN10, &t));
        st = unary(c, KS_OP_RECIPROCAL, t, d);
        break;
    case KS_OP_LOG1P:
        TRY(adds(c, a, 1.0, &t));
        st = unary(c, KS_OP_RECIPROCAL, t, d);
        break;
    case KS_OP_SQRT: /* 1 / (2 y) */
        TRY(muls(c, y, 2.0, &t));
        st = unary(c, KS_OP_RECIPROCAL, t, d);
        break;
    case KS_OP_RSQRT: /* -0.5 y^3 */
        TRY(mul(c, y, y, &t));
        TRY(mul(c, t, y, &u));
        st = muls(c, u, -0.5, d);
        break;
    case KS_OP_RECIPROCAL: /* -y^2 */
        TRY(mul(c, y, y, &t));
        st = muls(c, t, -1.0, d);
        break;
    case KS_OP_SQUARE: return muls(c, a, 2.0, d);
    case KS_OP_SIN: return unary(c, KS_OP_COS, a, d);
    case KS_OP_COS:
        TRY(unary(c, KS_OP_SIN, a, &t));
        st = muls(c, t, -1.0, d);
        break;
    case KS_OP_TAN: /* 1 + y^2 */
        TRY(mul(c, y, y, &t));
        st = adds(c, t, 1.0, d);
        break;
    case KS_OP_TANH: /* 1 - y^2 */
        TRY(mul(c, y, y, &t));
        TRY(muls(c, t, -1.0, &u));
        st = adds(c, u, 1.0, d);
        break;
    case KS_OP_SIGMOID: /* y (1 - y) */
        TRY(muls(c, y, -1.0, &t));
        TRY(adds(c, t, 1.0, &u));
        st = mul(c, y, u, d);
        break;
    case KS_OP_RELU: return fmask(c, KS_OP_GT, a, ks_op_scalar(ks_scalar_float(0.0)), d);
    case KS_OP_ERF: /* 2/sqrt(pi) exp(-x^2) */
        TRY(mul(c, a, a, &t));
        TRY(muls(c, t, -1.0, &u));
        drop(&t);
        TRY(unary(c, KS_OP_EXP, u, &t));
        st = muls(c, t, 1.1283791670955126, d);
        break;
    default: *d = NULL; return KS_OK; /* sign, floor, ceil, round, trunc: zero gradient */
    }
done:
    ks_tensor_release(t);
    ks_tensor_release(u);
    return st;
}

static bool unary_differentiable(ks_unop op)
{
    return op != KS_OP_ISFINITE && op != KS_OP_ISNAN && op != KS_OP_ISINF && op != KS_OP_LOGICAL_NOT &&
           op != KS_OP_BITWISE_NOT;
}

static bool unary_uses_output(ks_unop op)
{
    return op == KS_OP_EXP || op == KS_OP_EXP2 || op == KS_OP_EXPM1 || op == KS_OP_SQRT || op == KS_OP_RSQRT ||
           op == KS_OP_RECIPROCAL || op == KS_OP_TAN || op == KS_OP_TANH || op == KS_OP_SIGMOID;
}

/* saved: 0 input or detached output */
static ks_status unary_backward(ks_ctx *c, ks_node *n, ks_tensor *const *gout, ks_tensor **gin)
{
    ks_unop op = (ks_unop)n->i[0];
    ks_tensor *s = NULL, *d = NULL;
    ks_status st = KS_OK;
    if (op == KS_OP_NEG) return muls(c, gout[0], -1.0, &gin[0]);
    if (op == KS_OP_FRAC) { gin[0] = ks_tensor_retain(gout[0]); return KS_OK; }
    bool uses_y = unary_uses_output(op);
    if (n->nsaved && (st = uses_y ? ks_ag_saved_output(c, n, 0, 0, &s) : ks_ag_saved_input(c, n, 0, 0, &s)))
        return st;
    st = unary_deriv(c, op, uses_y ? NULL : s, uses_y ? s : NULL, &d);
    ks_tensor_release(s);
    if (st || !d) return st; /* !d: zero gradient */
    st = mul(c, gout[0], d, &gin[0]);
    ks_tensor_release(d);
    return st;
}

static const ks_op_def unary_defs[KS_NUM_UNOPS] = {
    [KS_OP_NEG] = {"NegBackward", unary_backward},
    [KS_OP_ABS] = {"AbsBackward", unary_backward},
    [KS_OP_SIGN] = {"SignBackward", unary_backward},
    [KS_OP_EXP] = {"ExpBackward", unary_backward},
    [KS_OP_EXP2] = {"Exp2Backward", unary_backward},
    [KS_OP_EXPM1] = {"Expm1Backward", unary_backward},
    [KS_OP_LOG] = {"LogBackward", unary_backward},
    [KS_OP_LOG2] = {"Log2Backward", unary_backward},
    [KS_OP_LOG10] = {"Log10Backward", unary_backward},
    [KS_OP_LOG1P] = {"Log1PBackward", unary_backward},
    [KS_OP_SQRT] = {"SqrtBackward", unary_backward},
    [KS_OP_RSQRT] = {"RsqrtBackward", unary_backward},
    [KS_OP_RECIPROCAL] = {"ReciprocalBackward", unary_backward},
    [KS_OP_SQUARE] = {"PowBackward", unary_backward},
    [KS_OP_SIN] = {"SinBackward", unary_backward},
    [KS_OP_COS] = {"CosBackward", unary_backward},
    [KS_OP_TAN] = {"TanBackward", unary_backward},
    [KS_OP_TANH] = {"TanhBackward", unary_backward},
    [KS_OP_SIGMOID] = {"SigmoidBackward", unary_backward},
    [KS_OP_RELU] = {"ReluBackward", unary_backward},
    [KS_OP_FLOOR] = {"FloorBackward", unary_backward},
    [KS_OP_CEIL] = {"CeilBackward", unary_backward},
    [KS_OP_ROUND] = {"RoundBackward", unary_backward},
    [KS_OP_TRUNC] = {"TruncBackward", unary_backward},
    [KS_OP_FRAC] = {"FracBackward", unary_backward},
    [KS_OP_ERF] = {"ErfBackward", unary_backward},
};

ks_status ks_ag_unary(ks_ctx *c, ks_unop op, ks_tensor *a, ks_tensor **out)
{
    ks_tensor *r = NULL, *alias = NULL;
    ks_status st = ks_unary(c, op, a, NULL, &r);
    if (st) return st;
    if (unary_differentiable(op) && record_needed(c, 1, &a, r) == KS_OK) {
        ks_node *n = ks_node_new(c, &unary_defs[op], 1, &a);
        if (!n) { ks_tensor_release(r); return KS_ENOMEM; }
        n->double_backward = true;
        n->i[0] = op;
        if (unary_uses_output(op)) {
            st = ks_detach(c, r, &alias); /* saving r itself would be a cycle */
            if (!st) st = ks_node_save(c, n, alias);
            ks_tensor_release(alias);
        } else {
            st = ks_node_save(c, n, a);
        }
        if (!st) ks_node_set_output(n, 0, r);
        ks_node_release(n);
        if (st) { ks_tensor_release(r); return st; }
    }
    *out = r;
    return KS_OK;
}

/* ------------------------------------------------------------------ clamp */
/* saved: 0 input; i[0] has lo, i[1] has hi; f[0] lo, f[1] hi. Gradient passes where lo <= x <= hi. */
static ks_status clamp_backward(ks_ctx *c, ks_node *n, ks_tensor *const *gout, ks_tensor **gin)
{
    ks_tensor *a, *m1 = NULL, *m2 = NULL, *m = NULL;
    ks_status st = ks_node_get_saved(c, n, 0, &a);
    if (st) return st; /* a only feeds the masks: constants */
    if (n->i[0]) TRY(fmask(c, KS_OP_GE, a, ks_op_scalar(ks_scalar_float(n->f[0])), &m1));
    if (n->i[1]) TRY(fmask(c, KS_OP_LE, a, ks_op_scalar(ks_scalar_float(n->f[1])), &m2));
    if (m1 && m2) TRY(mul(c, m1, m2, &m));
    else m = ks_tensor_retain(m1 ? m1 : m2);
    st = m ? mul(c, gout[0], m, &gin[0]) : (gin[0] = ks_tensor_retain(gout[0]), KS_OK);
done:
    ks_tensor_release(m1);
    ks_tensor_release(m2);
    ks_tensor_release(m);
    return st;
}

static const ks_op_def op_clamp = {"ClampBackward", clamp_backward};

ks_status ks_ag_clamp(ks_ctx *c, ks_tensor *a, const ks_scalar *lo, const ks_scalar *hi, ks_tensor **out)
{
    ks_tensor *r = NULL;
    ks_status st = ks_clamp(c, a, lo, hi, NULL, &r);
    if (st) return st;
    if (record_needed(c, 1, &a, r) == KS_OK) {
        ks_node *n = ks_node_new(c, &op_clamp, 1, &a);
        if (!n) { ks_tensor_release(r); return KS_ENOMEM; }
        n->double_backward = true;
        n->i[0] = lo != NULL;
        n->i[1] = hi != NULL;
        n->f[0] = lo ? lo->f : 0;
        n->f[1] = hi ? hi->f : 0;
        st = ks_node_save(c, n, a);
        if (!st) ks_node_set_output(n, 0, r);
        ks_node_release(n);
        if (st) { ks_tensor_release(r); return st; }
    }
    *out = r;
    return KS_OK;
}

/* ------------------------------------------------------------------ where */
/* saved: 0 cond. inputs: 0 a, 1 b */
static ks_status where_backward(ks_ctx *c, ks_node *n, ks_tensor *const *gout, ks_tensor **gin)
{
    ks_tensor *cond, *t = NULL;
    ks_status st = ks_node_get_saved(c, n, 0, &cond);
    if (st) return st;
    ks_operand zero = ks_op_scalar(ks_scalar_float(0.0)), g = ks_op_tensor(gout[0]);
    for (int k = 0; k < 2; k++) {
        if (!n->needs_grad[k]) continue;
        TRY(ks_ag_where(c, cond, k == 0 ? g : zero, k == 0 ? zero : g, &t));
        TRY(reduce_into(c, n, k, &t, gin));
    }
done:
    ks_tensor_release(t);
    return st;
}

static const ks_op_def op_where = {"WhereBackward", where_backward};

ks_status ks_ag_where(ks_ctx *c, ks_tensor *cond, ks_operand a, ks_operand b, ks_tensor **out)
{
    ks_tensor *r = NULL;
    ks_status st = ks_where(c, cond, a, b, &r);
    if (st) return st;
    ks_tensor *ins[2] = {(ks_tensor *)a.t, (ks_tensor *)b.t};
    if (record_needed(c, 2, ins, r) == KS_OK) {
        ks_node *n = ks_node_new(c, &op_where, 2, ins);
        if (!n) { ks_tensor_release(r); return KS_ENOMEM; }
        n->double_backward = true;
        st = ks_node_save(c, n, cond);
        if (!st) ks_node_set_output(n, 0, r);
        ks_node_release(n);
        if (st) { ks_tensor_release(r); return st; }
    }
    *out = r;
    return KS_OK;
}

ks_status ks_ag_check_inplace(ks_ctx *c, const ks_tensor *t, const char *op)
{
    if (!c->grad_enabled || !t->requires_grad) return KS_OK;
    if (!t->grad_fn)
        return ks_error(c, KS_ESTATE,
                        "%s: a leaf tensor that requires grad is being used in an in-place operation; wrap it in "
                        "ks.no_grad(function() ... end) or use an out-of-place op", op);
    return ks_error(c, KS_ESTATE,
                    "%s: in-place operation on a tensor that is part of the autograd graph (computed by %s); kshot "
                    "does not record in-place ops, so gradients through it would be wrong; use the out-of-place "
                    "op (y = y * 3, not y:mul_(3)), or ks.no_grad(function() ... end) if no gradient should flow",
                    op, t->grad_fn->op->name);
}

ks_status ks_ag_check_inplace_src(ks_ctx *c, const ks_tensor *src, const char *op)
{
    if (c->grad_enabled && src && src->requires_grad)
        return ks_error(c, KS_ESTATE,
                        "%s: an input requires grad, but in-place and out= writes are not recorded by autograd, so "
                        "it would get no gradient; use the out-of-place op, or pass input:detach()", op);
    return KS_OK;
}
