/* ks_elementwise.h: elementwise unary, binary and ternary ops.
 *
 * Semantics follow PyTorch:
 *  - Broadcasting (NumPy rules) between all tensor operands; a bad pair is
 *    KS_ESHAPE with a message naming both shapes.
 *  - Type promotion (ks_elementwise_result_type): operands are ranked in
 *    tiers, dimensioned tensors > 0-d tensors > scalars (Lua numbers). Within
 *    a tier dtypes promote (bool < uint8 < int64 < float32); a lower tier only
 *    changes the result when it is of a higher category (bool < integer <
 *    float): uint8 tensor + 1 -> uint8, uint8 tensor + 1.5 -> float32,
 *    bool tensor + 1 -> int64. Scalars are converted to the computation dtype
 *    first, wrapping like PyTorch (uint8 tensor + 256 adds 0).
 *  - div and atan2 compute in float32 when the common dtype is an integer;
 *    comparisons and logical ops return bool.
 *  - In place (dst == a) and out= variants: the result dtype must be castable
 *    to dst's (no float -> integer, no non-bool -> bool), the shape of the
 *    broadcast result must equal dst's, and dst must not be expanded
 *    (stride 0 on a dim of size > 1). Writes bump dst's storage version.
 *  - Integer floor_divide/remainder/fmod by zero and integers to negative scalar
 *    powers are errors (the output is then discarded).
 *
 * Ownership: `out` parameters follow ks_tensor.h (new reference on KS_OK).
 * Where a function takes both `dst` and `out`: dst != NULL writes into dst
 * (out unused, may be NULL); dst == NULL allocates *out.
 *
 * Speed: float32 operands take vectorisable loops chosen once per call (no
 * per-element dispatch); same-shape contiguous operands skip the iterator
 * set-up; large tensors are split across the pool (KS_GRAIN_ELEMENTWISE).
 * Other dtype mixes take a generic int64/float path.
 */
#ifndef KS_ELEMENTWISE_H
#define KS_ELEMENTWISE_H

#include "ks_iter.h"
#include "ks_tensor.h"

typedef enum ks_binop {
    KS_OP_ADD, KS_OP_SUB, KS_OP_MUL, KS_OP_DIV, KS_OP_FLOOR_DIVIDE, KS_OP_REMAINDER, KS_OP_POW,
    KS_OP_MAXIMUM, KS_OP_MINIMUM, KS_OP_ATAN2,
    KS_OP_EQ, KS_OP_NE, KS_OP_LT, KS_OP_LE, KS_OP_GT, KS_OP_GE,
    KS_OP_LOGICAL_AND, KS_OP_LOGICAL_OR, KS_OP_LOGICAL_XOR,
    KS_OP_BITWISE_AND, KS_OP_BITWISE_OR, KS_OP_BITWISE_XOR,
    KS_OP_FMOD, /* C's fmod: the remainder with the sign of the dividend (torch.fmod) */
    KS_NUM_BINOPS
} ks_binop;

typedef enum ks_unop {
    KS_OP_NEG, KS_OP_ABS, KS_OP_SIGN, KS_OP_EXP, KS_OP_EXP2, KS_OP_EXPM1, KS_OP_LOG, KS_OP_LOG2,
    KS_OP_LOG10, KS_OP_LOG1P, KS_OP_SQRT, KS_OP_RSQRT, KS_OP_RECIPROCAL, KS_OP_SQUARE, KS_OP_SIN,
    KS_OP_COS, KS_OP_TAN, KS_OP_TANH, KS_OP_SIGMOID, KS_OP_RELU, KS_OP_FLOOR, KS_OP_CEIL,
    KS_OP_ROUND, KS_OP_TRUNC, KS_OP_FRAC, KS_OP_ERF, KS_OP_ISFINITE, KS_OP_ISNAN, KS_OP_ISINF,
    KS_OP_LOGICAL_NOT, KS_OP_BITWISE_NOT,
    KS_NUM_UNOPS
} ks_unop;

/* PyTorch's names ("add", "floor_divide", "exp", ...). */
const char *ks_binop_name(ks_binop op);
const char *ks_unop_name(ks_unop op);

/* A Lua-style scalar: kind is KS_FLOAT32 for a floating number, KS_INT64 for
 * an integer (exact to 64 bits) or KS_BOOL for a boolean. */
typedef struct ks_scalar {
    double f;
    int64_t i;
    ks_dtype kind;
} ks_scalar;

static inline ks_scalar ks_scalar_float(double v) { ks_scalar s = {v, (int64_t)v, KS_FLOAT32}; return s; }
static inline ks_scalar ks_scalar_int(int64_t v) { ks_scalar s = {(double)v, v, KS_INT64}; return s; }
static inline ks_scalar ks_scalar_bool(bool v) { ks_scalar s = {v, v, KS_BOOL}; return s; }

/* One operand of an elementwise op: a tensor (t != NULL) or the scalar s. */
typedef struct ks_operand {
    const ks_tensor *t;
    ks_scalar s;
} ks_operand;

static inline ks_operand ks_op_tensor(const ks_tensor *t) { ks_operand o = {t, {0, 0, KS_INT64}}; return o; }
static inline ks_operand ks_op_scalar(ks_scalar s) { ks_operand o = {NULL, s}; return o; }

/* Common dtype of n operands under the tier rule above. */
ks_dtype ks_elementwise_result_type(int n, const ks_operand *ops);

/* ---- binary ---- */
/* The general entry: a op b (alpha scales b for add/sub: a + alpha*b; NULL =
 * 1; an integer common dtype needs an integer alpha). At least one of a, b
 * must be a tensor. */
ks_status ks_binary_op(ks_ctx *c, ks_binop op, ks_operand a, ks_operand b, const ks_scalar *alpha,
                       ks_tensor *dst, ks_tensor **out);
ks_status ks_binary(ks_ctx *c, ks_binop op, const ks_tensor *a, const ks_tensor *b, ks_tensor **out);
/* a op s, or s op a when reversed; the scalar is never materialised as a tensor */
ks_status ks_binary_scalar(ks_ctx *c, ks_binop op, const ks_tensor *a, ks_scalar s, bool reversed,
                           ks_tensor **out);
/* in place: a = a op b, b broadcast to a */
ks_status ks_binary_(ks_ctx *c, ks_binop op, ks_tensor *a, const ks_tensor *b);
ks_status ks_binary_scalar_(ks_ctx *c, ks_binop op, ks_tensor *a, ks_scalar s);
ks_status ks_binary_out(ks_ctx *c, ks_binop op, const ks_tensor *a, const ks_tensor *b, ks_tensor *out);

/* ---- unary ---- */
/* Float functions of integer input give float32; abs/neg/sign/square/relu/
 * floor/ceil/round/trunc keep integer dtypes; is* and logical_not give bool;
 * bitwise_not needs bool/uint8/int64. round is half to even. */
ks_status ks_unary(ks_ctx *c, ks_unop op, const ks_tensor *a, ks_tensor *dst, ks_tensor **out);
/* clamp to [lo, hi]; either bound may be NULL. NaN stays NaN. */
ks_status ks_clamp(ks_ctx *c, const ks_tensor *a, const ks_scalar *lo, const ks_scalar *hi, ks_tensor *dst,
                   ks_tensor **out);
/* NaN -> nan, +inf -> posinf, -inf -> neginf (NULL: 0, largest and lowest float32) */
ks_status ks_nan_to_num(ks_ctx *c, const ks_tensor *a, const double *nan, const double *posinf,
                        const double *neginf, ks_tensor *dst, ks_tensor **out);

/* ---- ternary ---- */
/* cond ? a : b with broadcasting; cond bool or uint8; a, b tensors or scalars */
ks_status ks_where(ks_ctx *c, const ks_tensor *cond, ks_operand a, ks_operand b, ks_tensor **out);
/* start + w * (end - start), float32 only; w a tensor or a scalar */
ks_status ks_lerp(ks_ctx *c, const ks_tensor *start, const ks_tensor *end, ks_operand w, ks_tensor *dst,
                  ks_tensor **out);
/* self + value * t1 * t2 (addcmul) or self + value * t1 / t2 (addcdiv), float32 only */
ks_status ks_addcmul(ks_ctx *c, const ks_tensor *self, const ks_tensor *t1, const ks_tensor *t2, double value,
                     bool divide, ks_tensor *dst, ks_tensor **out);

/* ---- helpers shared by the elementwise files ---- */
/* Check dst can receive a result of dtype rt and shape (ndim, size). `what` names the op. */
/* True when src and dst share memory in a way that writing dst element by
 * element would change src elements not yet read (b:add_(b:flip(0)),
 * b:copy_(b:t())): the op then reads a copy of src, as NumPy does. Same
 * layout (a:add_(a)) is safe and needs no copy. */
bool ks_overlap_needs_copy(const ks_tensor *dst, const ks_tensor *src);
ks_status ks_check_dst(ks_ctx *c, const char *what, const ks_tensor *dst, ks_dtype rt, int ndim,
                       const int64_t *size);
/* PyTorch's can_cast: no float -> integer, no non-bool -> bool */
bool ks_can_cast(ks_dtype from, ks_dtype to);
/* Output shape of broadcasting the tensor operands (scalars are 0-d). */
ks_status ks_operands_shape(ks_ctx *c, int n, const ks_operand *ops, int *ndim, int64_t *size);

/* A scalar operand seen as a 0-d tensor on the stack (never retained or
 * released), so scalars run through the same loops without an allocation. */
typedef struct ks_scalar_tensor {
    ks_tensor t;
    ks_storage s;
    union { double f64; float f32; int64_t i64; uint8_t u8; } v;
} ks_scalar_tensor;
/* Fill st with s converted to dt (wrapping like PyTorch); returns &st->t. */
ks_tensor *ks_scalar_tensor_init(ks_scalar_tensor *st, ks_scalar s, ks_dtype dt);
/* The operand as a tensor: its own tensor, or st holding the scalar as dt. */
static inline ks_tensor *ks_operand_tensor(ks_operand o, ks_scalar_tensor *st, ks_dtype dt)
{
    return o.t ? (ks_tensor *)o.t : ks_scalar_tensor_init(st, o.s, dt);
}
/* Run loop over ops[0]'s shape: a flat loop when every tensor operand is
 * contiguous with ops[0]'s shape (or 0-d), else a broadcasting ks_iter;
 * split across the pool from KS_GRAIN_ELEMENTWISE elements. */
ks_status ks_elementwise_run(ks_ctx *c, int nops, ks_tensor *const *ops, ks_loop_fn loop, void *arg);

#endif
