/* ks_nn_activation.c: relu, leaky relu, gelu (exact, tanh), silu, tanh,
 * sigmoid; forward and backward on contiguous float32, chunked over threads.
 * Under create_graph their backward runs as recording ops (double backward);
 * gelu's as g * gelu'(x), where gelu'(x) is an op of its own whose backward
 * multiplies by gelu''(x) (a third derivative of gelu is not supported). */
#include "ks_grad_ops.h"
#include "ks_nn.h"
#include "ks_threads.h"

/* -O2's "very cheap" vectoriser cost model leaves these loops scalar (and
 * relu's branch mispredicts on random signs): allow the vectoriser here. */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("vect-cost-model=dynamic")
#endif

#include <math.h>

#define ACT_GRAIN 65536

struct act_job {
    ks_activation act;
    float alpha;
    const float *x, *y, *g; /* input, forward output, incoming gradient */
    float *out;
};

static inline float sigmoidf_stable(float x)
{
    if (x >= 0) return 1.0f / (1.0f + expf(-x));
    float e = expf(x);
    return e / (1.0f + e);
}

#define GELU_K 0.7978845608028654f /* sqrt(2/pi) */
#define GELU_C 0.044715f

static ks_status act_forward_chunk(void *arg, int64_t b, int64_t e)
{
    struct act_job *j = arg;
    const float *restrict x = j->x;
    float *restrict y = j->out;
    float a = j->alpha;
    switch (j->act) {
    case KS_ACT_RELU:
        for (int64_t i = b; i < e; i++) {
            float v = x[i];
            y[i] = v > 0 || v != v ? v : 0.0f; /* NaN stays NaN, as in PyTorch; -0 gives +0 */
        }
        break;
    case KS_ACT_LEAKY_RELU:
        for (int64_t i = b; i < e; i++) {
            float v = x[i];
            y[i] = v > 0 ? v : a * v;
        }
        break;
    case KS_ACT_GELU: for (int64_t i = b; i < e; i++) y[i] = 0.5f * x[i] * (1.0f + erff(x[i] * 0.70710678118654752f)); break;
    case KS_ACT_GELU_TANH:
        for (int64_t i = b; i < e; i++)
            y[i] = 0.5f * x[i] * (1.0f + tanhf(GELU_K * (x[i] + GELU_C * x[i] * x[i] * x[i])));
        break;
    case KS_ACT_SILU: for (int64_t i = b; i < e; i++) y[i] = x[i] * sigmoidf_stable(x[i]); break;
    case KS_ACT_TANH: for (int64_t i = b; i < e; i++) y[i] = tanhf(x[i]); break;
    case KS_ACT_SIGMOID: for (int64_t i = b; i < e; i++) y[i] = sigmoidf_stable(x[i]); break;
    }
    return KS_OK;
}

static ks_status act_backward_chunk(void *arg, int64_t b, int64_t e)
{
    struct act_job *j = arg;
    const float *restrict x = j->x, *restrict y = j->y, *restrict g = j->g;
    float *restrict o = j->out;
    float a = j->alpha;
    switch (j->act) {
    case KS_ACT_RELU:
        for (int64_t i = b; i < e; i++) {
            float gv = g[i];
            o[i] = x[i] > 0 ? gv : 0.0f;
        }
        break;
    case KS_ACT_LEAKY_RELU:
        for (int64_t i = b; i < e; i++) {
            float gv = g[i];
            o[i] = x[i] > 0 ? gv : a * gv;
        }
        break;
    case KS_ACT_GELU:
        for (int64_t i = b; i < e; i++) {
            float cdf = 0.5f * (1.0f + erff(x[i] * 0.70710678118654752f));
            float pdf = expf(-0.5f * x[i] * x[i]) * 0.3989422804014327f;
            o[i] = g[i] * (cdf + x[i] * pdf);
        }
        break;
    case KS_ACT_GELU_TANH:
        for (int64_t i = b; i < e; i++) {
            float x2 = x[i] * x[i], inner = GELU_K * (x[i] + GELU_C * x2 * x[i]);
            float t = tanhf(inner), dinner = GELU_K * (1.0f + 3.0f * GELU_C * x2);
            o[i] = g[i] * (0.5f * (1.0f + t) + 0.5f * x[i] * (1.0f - t * t) * dinner);
        }
        break;
    case KS_ACT_SILU:
        for (int64_t i = b; i < e; i++) {
            float s = sigmoidf_stable(x[i]);
            o[i] = g[i] * s * (1.0f + x[i] * (1.0f - s));
        }
        break;
    case KS_ACT_TANH: for (int64_t i = b; i < e; i++) o[i] = g[i] * (1.0f - y[i] * y[i]); break;
    case KS_ACT_SIGMOID: for (int64_t i = b; i < e; i++) o[i] = g[i] * y[i] * (1.0f - y[i]); break;
    }
    return KS_OK;
}

/* ------------------------------------------------------------ gelu' as an op (double backward) */
struct gelu_d_job {
    bool tanh_approx;
    int order;           /* 1: gelu'(x); 2: gelu''(x) times g */
    const float *x, *g;
    float *out;
};

/* exact: gelu' = cdf + x pdf, gelu'' = pdf (2 - x^2); tanh form: with t = tanh(u),
 * u = K (x + C x^3): gelu' = (1 + t) / 2 + x (1 - t^2) u' / 2,
 * gelu'' = (1 - t^2) (u' + x (u'' - 2 t u'^2) / 2) */
static ks_status gelu_d_chunk(void *arg, int64_t b, int64_t e)
{
    struct gelu_d_job *j = arg;
    for (int64_t i = b; i < e; i++) {
        float x = j->x[i], x2 = x * x, d;
        if (!j->tanh_approx) {
            float pdf = expf(-0.5f * x2) * 0.3989422804014327f;
            d = j->order == 1 ? 0.5f * (1.0f + erff(x * 0.70710678118654752f)) + x * pdf : pdf * (2.0f - x2);
        } else {
            float t = tanhf(GELU_K * (x + GELU_C * x2 * x)), du = GELU_K * (1.0f + 3.0f * GELU_C * x2);
            float ddu = 6.0f * GELU_K * GELU_C * x, sech2 = 1.0f - t * t;
            d = j->order == 1 ? 0.5f * (1.0f + t) + 0.5f * x * sech2 * du
                              : sech2 * (du + 0.5f * x * (ddu - 2.0f * t * du * du));
        }
        j->out[i] = j->order == 1 ? d : j->g[i] * d;
    }
    return KS_OK;
}

/* out = gelu'(x) (order 1) or g * gelu''(x) (order 2), x and g contiguous */
static ks_status gelu_d(ks_ctx *c, bool tanh_approx, int order, ks_tensor *x, ks_tensor *g, ks_tensor **out)
{
    ks_tensor *r;
    ks_status st = ks_tensor_empty(c, KS_FLOAT32, x->ndim, x->size, &r);
    if (st) return st;
    struct gelu_d_job j = {tanh_approx, order, ks_tensor_data(x), g ? ks_tensor_data(g) : NULL, ks_tensor_data(r)};
    if ((st = ks_parallel_for(c, r->numel, ACT_GRAIN, gelu_d_chunk, &j))) { ks_tensor_release(r); return st; }
    *out = r;
    return KS_OK;
}

/* backward of gelu'(x): g * gelu''(x), not recorded (its node has no double backward) */
static ks_status gelu_d_backward(ks_ctx *c, ks_node *n, ks_tensor *const *gout, ks_tensor **gin)
{
    ks_tensor *x, *g;
    ks_status st = ks_node_get_saved(c, n, 0, &x);
    if (st || (st = ks_contiguous(c, gout[0], &g))) return st;
    st = gelu_d(c, n->i[0] == KS_ACT_GELU_TANH, 2, x, g, &gin[0]);
    ks_tensor_release(g);
    return st;
}

static const ks_op_def op_gelu_d = {"GeluBackwardBackward", gelu_d_backward};

/* gelu'(s) as a recorded op of s (a graph member standing for gelu's input) */
static ks_status gelu_deriv_recorded(ks_ctx *c, ks_activation act, ks_tensor *s, ks_tensor **d)
{
    ks_tensor *x;
    ks_status st = ks_contiguous(c, s, &x);
    if (st) return st;
    ks_node *n = NULL;
    if (!(st = gelu_d(c, act == KS_ACT_GELU_TANH, 1, x, NULL, d)) &&
        !(st = ks_ag_record(c, &op_gelu_d, 1, &s, 1, &x, *d, &n)) && n)
        n->i[0] = act;
    if (st && *d) { ks_tensor_release(*d); *d = NULL; }
    ks_tensor_release(x);
    return st;
}

/* tanh and sigmoid differentiate through their output, the rest through the input */
static bool saves_output(ks_activation a) { return a == KS_ACT_TANH || a == KS_ACT_SIGMOID; }

static ks_status mul_ag(ks_ctx *c, ks_tensor *a, ks_operand b, ks_tensor **o)
{
    return ks_ag_binary(c, KS_OP_MUL, ks_op_tensor(a), b, NULL, o);
}

/* f'(x) as recording ops: masks (relu, leaky relu) are constants; s is x or the output y as a graph member */
static ks_status act_deriv_recorded(ks_ctx *c, ks_activation act, double alpha, ks_tensor *s, ks_tensor **d)
{
    ks_operand one = ks_op_scalar(ks_scalar_float(1.0));
    ks_tensor *m = NULL, *t = NULL, *u = NULL;
    ks_status st;
    switch (act) {
    case KS_ACT_RELU: case KS_ACT_LEAKY_RELU:
        st = ks_binary_op(c, KS_OP_GT, ks_op_tensor(s), ks_op_scalar(ks_scalar_float(0.0)), NULL, NULL, &m);
        if (!st) st = ks_where(c, m, one, ks_op_scalar(ks_scalar_float(act == KS_ACT_RELU ? 0.0 : alpha)), d);
        break;
    case KS_ACT_TANH: /* 1 - y^2 */
        if (!(st = mul_ag(c, s, ks_op_tensor(s), &t)))
            st = ks_ag_binary(c, KS_OP_SUB, one, ks_op_tensor(t), NULL, d);
        break;
    case KS_ACT_SIGMOID: /* y (1 - y) */
        if (!(st = ks_ag_binary(c, KS_OP_SUB, one, ks_op_tensor(s), NULL, &t))) st = mul_ag(c, s, ks_op_tensor(t), d);
        break;
    case KS_ACT_GELU: case KS_ACT_GELU_TANH: st = gelu_deriv_recorded(c, act, s, d); break;
    default: /* silu: sig(x) (1 + x (1 - sig(x))) */
        if (!(st = ks_ag_unary(c, KS_OP_SIGMOID, s, &m)) && !(st = ks_ag_binary(c, KS_OP_SUB, one, ks_op_tensor(m), NULL, &t)) &&
            !(st = mul_ag(c, s, ks_op_tensor(t), &u))) {
            ks_tensor_release(t);
            t = NULL;
            if (!(st = ks_ag_binary(c, KS_OP_ADD, ks_op_tensor(u), one, NULL, &t))) st = mul_ag(c, m, ks_op_tensor(t), d);
        }
        break;
    }
    ks_tensor_release(m);
    ks_tensor_release(t);
    ks_tensor_release(u);
    return st;
}

static ks_status act_backward_recorded(ks_ctx *c, ks_node *n, ks_tensor *g, ks_tensor **gin)
{
    ks_activation act = (ks_activation)n->i[0];
    ks_tensor *s = NULL, *d = NULL;
    ks_status st = saves_output(act) ? ks_ag_saved_output(c, n, 0, 0, &s) : ks_ag_saved_input(c, n, 0, 0, &s);
    if (!st) st = act_deriv_recorded(c, act, n->f[0], s, &d);
    if (!st) st = mul_ag(c, g, ks_op_tensor(d), gin);
    ks_tensor_release(s);
    ks_tensor_release(d);
    return st;
}

static ks_status act_backward(ks_ctx *c, ks_node *n, ks_tensor *const *gout, ks_tensor **gin)
{
    if (c->grad_enabled) return act_backward_recorded(c, n, gout[0], &gin[0]); /* create_graph */
    ks_tensor *s, *g, *r;
    ks_status st = ks_node_get_saved(c, n, 0, &s);
    if (st) return st;
    if ((st = ks_contiguous(c, gout[0], &g))) return st;
    if ((st = ks_tensor_empty(c, KS_FLOAT32, n->in_ndim[0], n->in_size[0], &r))) { ks_tensor_release(g); return st; }
    struct act_job j = {(ks_activation)n->i[0], (float)n->f[0], NULL, NULL, ks_tensor_data(g), ks_tensor_data(r)};
    if (saves_output(j.act)) j.y = ks_tensor_data(s); else j.x = ks_tensor_data(s);
    st = ks_parallel_for(c, r->numel, ACT_GRAIN, act_backward_chunk, &j);
    ks_tensor_release(g);
    if (st) { ks_tensor_release(r); return st; }
    gin[0] = r;
    return KS_OK;
}

static const ks_op_def op_act[] = {
    [KS_ACT_RELU] = {"ReluBackward", act_backward},       [KS_ACT_LEAKY_RELU] = {"LeakyReluBackward", act_backward},
    [KS_ACT_GELU] = {"GeluBackward", act_backward},       [KS_ACT_GELU_TANH] = {"GeluBackward", act_backward},
    [KS_ACT_SILU] = {"SiluBackward", act_backward},       [KS_ACT_TANH] = {"TanhBackward", act_backward},
    [KS_ACT_SIGMOID] = {"SigmoidBackward", act_backward},
};

ks_status ks_nn_activation(ks_ctx *c, ks_activation act, ks_tensor *input, ks_tensor **out, double alpha)
{
    if ((unsigned)act > KS_ACT_SIGMOID) return ks_error(c, KS_EINVAL, "unknown activation %d", (int)act);
    if (input->dtype != KS_FLOAT32)
        return ks_error(c, KS_ETYPE, "%s: expected a float32 input, got %s", op_act[act].name, ks_dtype_name(input->dtype));
    ks_tensor *x, *y;
    ks_status st = ks_contiguous(c, input, &x);
    if (st) return st;
    if ((st = ks_tensor_empty(c, KS_FLOAT32, x->ndim, x->size, &y))) { ks_tensor_release(x); return st; }
    struct act_job j = {act, (float)alpha, ks_tensor_data(x), NULL, NULL, ks_tensor_data(y)};
    st = ks_parallel_for(c, y->numel, ACT_GRAIN, act_forward_chunk, &j);
    if (!st && ks_ag_needs_record(c, 1, &input)) {
        ks_node *n = ks_node_new(c, &op_act[act], 1, &input);
        if (!n) st = KS_ENOMEM;
        else {
            n->i[0] = act;
            n->f[0] = alpha;
            n->double_backward = true;
            /* saving y itself would make a cycle (y -> node -> y): save a detached alias */
            ks_tensor *alias = NULL;
            st = saves_output(act) ? ks_detach(c, y, &alias) : KS_OK;
            if (!st) st = ks_node_save(c, n, alias ? alias : x);
            ks_tensor_release(alias);
            if (!st) ks_node_set_output(n, 0, y);
            ks_node_release(n);
        }
    }
    ks_tensor_release(x);
    if (st) { ks_tensor_release(y); return st; }
    *out = y;
    return KS_OK;
}
