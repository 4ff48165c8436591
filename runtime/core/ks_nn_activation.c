/* ks_nn_activation.c: relu, leaky relu, gelu (exact, tanh), silu, tanh,
 * sigmoid; forward and backward on contiguous float32, chunked over threads. */
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

/* tanh and sigmoid differentiate through their output, the rest through the input */
static bool saves_output(ks_activation a) { return a == KS_ACT_TANH || a == KS_ACT_SIGMOID; }

static ks_status act_backward(ks_ctx *c, ks_node *n, ks_tensor *const *gout, ks_tensor **gin)
{
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
