/* ks_ternary.c: elementwise ops of three operands: where, lerp,
 * addcmul/addcdiv (the optimizers' helpers). Four-operand iterations
 * (out, x, y, z) with broadcasting; scalars ride along as stack 0-d tensors.
 */
#include "ks_elementwise.h"

/* -O2's "very cheap" vectoriser cost model never emits the runtime alias
 * checks these loops need (out may alias an input): allow them here. */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("vect-cost-model=dynamic")
#endif

#include <string.h>

/* Allocate the result of shape broadcast(ops) (dst NULL) or check dst. */
static ks_status prepare_out(ks_ctx *c, const char *what, int n, const ks_operand *ops, ks_dtype rt,
                             ks_tensor *dst, ks_tensor **r)
{
    int ndim;
    int64_t size[KS_MAX_DIMS];
    ks_status st = ks_operands_shape(c, n, ops, &ndim, size);
    if (st) return st;
    if (dst) {
        if ((st = ks_check_dst(c, what, dst, rt, ndim, size))) return st;
        *r = dst;
        return KS_OK;
    }
    return ks_tensor_empty(c, rt, ndim, size, r);
}

static ks_status finish(ks_tensor *dst, ks_tensor *r, ks_status st, ks_tensor **out)
{
    if (dst) {
        ks_tensor_bump_version(dst);
        return st;
    }
    if (st) { ks_tensor_release(r); return st; }
    *out = r;
    return KS_OK;
}

/* -------------------------------------------------------------- where */
struct where_arg {
    ks_dtype out, a, b;
};

/* a and b already have the output dtype: select by item size */
static void where_same(char **d, const int64_t *s, int64_t n, void *arg)
{
    size_t isz = ks_dtype_size(((const struct where_arg *)arg)->out);
    char *po = d[0], *pc = d[1], *pa = d[2], *pb = d[3];
    if (isz == 4 && s[0] == 4 && s[1] == 1 && s[2] == 4 && s[3] == 4) {
        float *o = (float *)po;
        const float *x = (const float *)pa, *y = (const float *)pb;
        const uint8_t *m = (const uint8_t *)pc;
        for (int64_t k = 0; k < n; k++) o[k] = m[k] ? x[k] : y[k];
        return;
    }
    for (int64_t k = 0; k < n; k++, po += s[0], pc += s[1], pa += s[2], pb += s[3])
        memcpy(po, *pc ? pa : pb, isz);
}

static void where_convert(char **d, const int64_t *s, int64_t n, void *arg)
{
    const struct where_arg *a = arg;
    char *po = d[0], *pc = d[1], *pa = d[2], *pb = d[3];
    for (int64_t k = 0; k < n; k++, po += s[0], pc += s[1], pa += s[2], pb += s[3]) {
        if (a->out == KS_FLOAT32) ks_store_f64(po, a->out, *pc ? ks_load_f64(pa, a->a) : ks_load_f64(pb, a->b));
        else ks_store_i64(po, a->out, *pc ? ks_load_i64(pa, a->a) : ks_load_i64(pb, a->b));
    }
}

ks_status ks_where(ks_ctx *c, const ks_tensor *cond, ks_operand a, ks_operand b, ks_tensor **out)
{
    if (cond->dtype != KS_BOOL && cond->dtype != KS_UINT8)
        return ks_error(c, KS_ETYPE, "where: expected condition to be a bool (or uint8) tensor, got %s",
                        ks_dtype_name(cond->dtype));
    ks_operand pair[2] = {a, b};
    ks_dtype rt = ks_elementwise_result_type(2, pair);
    ks_operand ops[3] = {ks_op_tensor(cond), a, b};
    ks_tensor *r;
    ks_status st = prepare_out(c, "where", 3, ops, rt, NULL, &r);
    if (st) return st;
    ks_scalar_tensor sa, sb;
    ks_tensor *it[4] = {r, (ks_tensor *)cond, ks_operand_tensor(a, &sa, rt), ks_operand_tensor(b, &sb, rt)};
    struct where_arg arg = {rt, it[2]->dtype, it[3]->dtype};
    bool same = arg.a == rt && arg.b == rt;
    st = ks_elementwise_run(c, 4, it, same ? where_same : where_convert, &arg);
    return finish(NULL, r, st, out);
}

/* --------------------------------------------------------------- lerp */
static inline float lerp1(float a, float b, float w)
{
    /* PyTorch's form: exact at w = 0 and w = 1 */
    return w < 0.5f ? a + w * (b - a) : b - (b - a) * (1 - w);
}

static void lerp_loop(char **d, const int64_t *s, int64_t n, void *arg)
{
    (void)arg;
    if (s[0] == 4 && s[1] == 4 && s[2] == 4 && s[3] == 0) {
        float *o = (float *)d[0], w = *(const float *)d[3];
        const float *x = (const float *)d[1], *y = (const float *)d[2];
        for (int64_t k = 0; k < n; k++) o[k] = lerp1(x[k], y[k], w);
        return;
    }
    char *po = d[0], *px = d[1], *py = d[2], *pw = d[3];
    for (int64_t k = 0; k < n; k++, po += s[0], px += s[1], py += s[2], pw += s[3])
        *(float *)po = lerp1(*(const float *)px, *(const float *)py, *(const float *)pw);
}

static ks_status need_f32(ks_ctx *c, const char *what, const char *arg, const ks_tensor *t)
{
    if (t->dtype == KS_FLOAT32) return KS_OK;
    return ks_error(c, KS_ETYPE, "%s: expected a float32 tensor for '%s', got %s", what, arg, ks_dtype_name(t->dtype));
}

ks_status ks_lerp(ks_ctx *c, const ks_tensor *start, const ks_tensor *end, ks_operand w, ks_tensor *dst,
                  ks_tensor **out)
{
    ks_status st;
    if ((st = need_f32(c, "lerp", "start", start)) || (st = need_f32(c, "lerp", "end", end))) return st;
    if (w.t && (st = need_f32(c, "lerp", "weight", w.t))) return st;
    ks_operand ops[3] = {ks_op_tensor(start), ks_op_tensor(end), w};
    ks_tensor *r;
    if ((st = prepare_out(c, "lerp", 3, ops, KS_FLOAT32, dst, &r))) return st;
    ks_scalar_tensor sw;
    ks_tensor *it[4] = {r, (ks_tensor *)start, (ks_tensor *)end, ks_operand_tensor(w, &sw, KS_FLOAT32)};
    st = ks_elementwise_run(c, 4, it, lerp_loop, NULL);
    return finish(dst, r, st, out);
}

/* ------------------------------------------------------ addcmul / addcdiv */
struct addc_arg {
    float value;
    bool divide;
};

static void addc_loop(char **d, const int64_t *s, int64_t n, void *arg)
{
    const struct addc_arg *a = arg;
    float v = a->value;
    if (s[0] == 4 && s[1] == 4 && s[2] == 4 && s[3] == 4) {
        float *o = (float *)d[0];
        const float *x = (const float *)d[1], *p = (const float *)d[2], *q = (const float *)d[3];
        if (a->divide) for (int64_t k = 0; k < n; k++) o[k] = x[k] + v * (p[k] / q[k]);
        else for (int64_t k = 0; k < n; k++) o[k] = x[k] + v * (p[k] * q[k]);
        return;
    }
    char *po = d[0], *px = d[1], *pp = d[2], *pq = d[3];
    for (int64_t k = 0; k < n; k++, po += s[0], px += s[1], pp += s[2], pq += s[3]) {
        float p = *(const float *)pp, q = *(const float *)pq;
        *(float *)po = *(const float *)px + v * (a->divide ? p / q : p * q);
    }
}

ks_status ks_addcmul(ks_ctx *c, const ks_tensor *self, const ks_tensor *t1, const ks_tensor *t2, double value,
                     bool divide, ks_tensor *dst, ks_tensor **out)
{
    const char *what = divide ? "addcdiv" : "addcmul";
    ks_status st;
    if ((st = need_f32(c, what, "self", self)) || (st = need_f32(c, what, "tensor1", t1)) ||
        (st = need_f32(c, what, "tensor2", t2)))
        return st;
    ks_operand ops[3] = {ks_op_tensor(self), ks_op_tensor(t1), ks_op_tensor(t2)};
    ks_tensor *r;
    if ((st = prepare_out(c, what, 3, ops, KS_FLOAT32, dst, &r))) return st;
    struct addc_arg arg = {(float)value, divide};
    ks_tensor *it[4] = {r, (ks_tensor *)self, (ks_tensor *)t1, (ks_tensor *)t2};
    st = ks_elementwise_run(c, 4, it, addc_loop, &arg);
    return finish(dst, r, st, out);
}
