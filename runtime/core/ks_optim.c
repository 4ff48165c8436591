/* ks_optim.c: fused optimizer updates (see ks_optim.h for the rules).
 *
 * Every kernel is one loop over the flat elements of a contiguous parameter
 * and its state, split into fixed-size chunks for the thread pool. Element
 * arithmetic is float32 in the order PyTorch's tensor ops use, so
 * trajectories follow torch.optim to float32 rounding. */
/* sqrtf without errno handling lets the loops vectorise (inputs are >= 0;
 * a negative one gives NaN either way). */
#pragma GCC optimize("vect-cost-model=dynamic", "no-math-errno")
#include "ks_optim.h"
#include "ks_threads.h"

#include <math.h>

#define OPTIM_GRAIN (1 << 16)

/* float32, contiguous, same shape as param */
static ks_status check_buf(ks_ctx *c, const char *op, const char *what, const ks_tensor *param, const ks_tensor *t)
{
    char a[96], b[96];
    if (t->dtype != KS_FLOAT32)
        return ks_error(c, KS_ETYPE, "%s: %s must be float32, got %s", op, what, ks_dtype_name(t->dtype));
    if (!ks_tensor_is_contiguous(t)) return ks_error(c, KS_EINVAL, "%s: %s must be contiguous", op, what);
    if (t != param && !ks_same_shape(param, t))
        return ks_error(c, KS_ESHAPE, "%s: %s shape %s does not match parameter shape %s", op, what,
                        ks_shape_str(t, a, sizeof a), ks_shape_str(param, b, sizeof b));
    return KS_OK;
}

static ks_status check_all(ks_ctx *c, const char *op, ks_tensor *param, const ks_tensor *grad, const ks_tensor *b1,
                           const ks_tensor *b2, const ks_tensor *b3)
{
    ks_status st = check_buf(c, op, "parameter", param, param);
    if (!st) st = check_buf(c, op, "gradient", param, grad);
    if (!st && b1) st = check_buf(c, op, "state buffer", param, b1);
    if (!st && b2) st = check_buf(c, op, "state buffer", param, b2);
    if (!st && b3) st = check_buf(c, op, "state buffer", param, b3);
    return st;
}

static float *fdata(const ks_tensor *t) { return t ? (float *)ks_tensor_data(t) : NULL; }

/* ------------------------------------------------------------------ SGD */
typedef struct {
    float *p, *b;
    const float *g;
    float lr, mu, damp1, wd, sign;
    bool first, nesterov;
} sgd_args;

static ks_status sgd_range(void *arg, int64_t lo, int64_t hi)
{
    const sgd_args *a = arg;
    float *restrict p = a->p, *restrict b = a->b;
    const float *restrict g = a->g;
    if (!b) {
        for (int64_t i = lo; i < hi; i++) p[i] = p[i] + -a->lr * (a->sign * g[i] + a->wd * p[i]);
        return KS_OK;
    }
    for (int64_t i = lo; i < hi; i++) {
        float d = a->sign * g[i] + a->wd * p[i];
        float buf = a->first ? d : b[i] * a->mu + a->damp1 * d;
        b[i] = buf;
        float step = a->nesterov ? d + a->mu * buf : buf;
        p[i] = p[i] + -a->lr * step;
    }
    return KS_OK;
}

ks_status ks_sgd_step(ks_ctx *c, ks_tensor *param, const ks_tensor *grad, ks_tensor *momentum_buf, bool first,
                      const ks_sgd_opts *o)
{
    ks_status st = check_all(c, "SGD", param, grad, momentum_buf, NULL, NULL);
    if (st) return st;
    sgd_args a = {fdata(param), fdata(momentum_buf), fdata(grad), (float)o->lr, (float)o->momentum,
                  (float)(1.0 - o->dampening), (float)o->weight_decay, o->maximize ? -1.0f : 1.0f, first, o->nesterov};
    ks_tensor_bump_version(param);
    return ks_parallel_for(c, param->numel, OPTIM_GRAIN, sgd_range, &a);
}

/* ----------------------------------------------------------------- Adam */
typedef struct {
    float *p, *m, *v, *vmax;
    const float *g;
    float sign, wd, decay, b1, omb1, b2, omb2, bc2_sqrt, eps, neg_step;
} adam_args;

static ks_status adam_range(void *arg, int64_t lo, int64_t hi)
{
    const adam_args *a = arg;
    float *restrict p = a->p, *restrict m = a->m, *restrict v = a->v, *restrict vmax = a->vmax;
    const float *restrict g = a->g;
    for (int64_t i = lo; i < hi; i++) {
        float pi = p[i] * a->decay; /* decay == 1 unless AdamW */
        float gi = a->sign * g[i] + a->wd * pi;
        float mi = m[i] * a->b1 + a->omb1 * gi;
        float vi = v[i] * a->b2 + a->omb2 * gi * gi;
        m[i] = mi;
        v[i] = vi;
        if (vmax) {
            vi = vmax[i] > vi ? vmax[i] : vi;
            vmax[i] = vi;
        }
        float denom = sqrtf(vi) / a->bc2_sqrt + a->eps;
        p[i] = pi + a->neg_step * (mi / denom);
    }
    return KS_OK;
}

ks_status ks_adam_step(ks_ctx *c, ks_tensor *param, const ks_tensor *grad, ks_tensor *exp_avg, ks_tensor *exp_avg_sq,
                       ks_tensor *max_exp_avg_sq, const ks_adam_opts *o)
{
    const char *op = o->decoupled ? "AdamW" : "Adam";
    ks_status st = check_all(c, op, param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq);
    if (st) return st;
    if (!exp_avg || !exp_avg_sq) return ks_error(c, KS_EINVAL, "%s: moment buffers missing", op);
    if (o->step < 1) return ks_error(c, KS_EINVAL, "%s: step count must be >= 1, got %lld", op, (long long)o->step);
    double bc1 = 1.0 - pow(o->beta1, (double)o->step), bc2 = 1.0 - pow(o->beta2, (double)o->step);
    adam_args a = {
        fdata(param), fdata(exp_avg), fdata(exp_avg_sq), fdata(max_exp_avg_sq), fdata(grad),
        o->maximize ? -1.0f : 1.0f,
        o->decoupled ? 0.0f : (float)o->weight_decay,
        o->decoupled ? (float)(1.0 - o->lr * o->weight_decay) : 1.0f,
        (float)o->beta1, (float)(1.0 - o->beta1), (float)o->beta2, (float)(1.0 - o->beta2),
        (float)sqrt(bc2), (float)o->eps, (float)(-(o->lr / bc1)),
    };
    ks_tensor_bump_version(param);
    return ks_parallel_for(c, param->numel, OPTIM_GRAIN, adam_range, &a);
}

/* -------------------------------------------------------------- RMSprop */
typedef struct {
    float *p, *v, *ga, *b;
    const float *g;
    float sign, wd, alpha, oma, eps, mu, neg_lr;
} rms_args;

static ks_status rms_range(void *arg, int64_t lo, int64_t hi)
{
    const rms_args *a = arg;
    float *restrict p = a->p, *restrict v = a->v, *restrict ga = a->ga, *restrict b = a->b;
    const float *restrict g = a->g;
    for (int64_t i = lo; i < hi; i++) {
        float gi = a->sign * g[i] + a->wd * p[i];
        float vi = v[i] * a->alpha + a->oma * gi * gi;
        v[i] = vi;
        if (ga) {
            float ai = ga[i] * a->alpha + a->oma * gi;
            ga[i] = ai;
            vi = vi + -1.0f * ai * ai;
        }
        float avg = sqrtf(vi) + a->eps;
        if (b) {
            float bi = b[i] * a->mu + gi / avg;
            b[i] = bi;
            p[i] = p[i] + a->neg_lr * bi;
        } else {
            p[i] = p[i] + a->neg_lr * (gi / avg);
        }
    }
    return KS_OK;
}

ks_status ks_rmsprop_step(ks_ctx *c, ks_tensor *param, const ks_tensor *grad, ks_tensor *square_avg,
                          ks_tensor *grad_avg, ks_tensor *momentum_buf, const ks_rmsprop_opts *o)
{
    ks_status st = check_all(c, "RMSprop", param, grad, square_avg, grad_avg, momentum_buf);
    if (st) return st;
    if (!square_avg) return ks_error(c, KS_EINVAL, "RMSprop: square_avg buffer missing");
    rms_args a = {fdata(param), fdata(square_avg), fdata(grad_avg), fdata(momentum_buf), fdata(grad),
                  o->maximize ? -1.0f : 1.0f, (float)o->weight_decay, (float)o->alpha, (float)(1.0 - o->alpha),
                  (float)o->eps, (float)o->momentum, (float)-o->lr};
    ks_tensor_bump_version(param);
    return ks_parallel_for(c, param->numel, OPTIM_GRAIN, rms_range, &a);
}

/* -------------------------------------------------------------- Adagrad */
typedef struct {
    float *p, *s;
    const float *g;
    float sign, wd, eps, neg_clr;
} adagrad_args;

static ks_status adagrad_range(void *arg, int64_t lo, int64_t hi)
{
    const adagrad_args *a = arg;
    float *restrict p = a->p, *restrict s = a->s;
    const float *restrict g = a->g;
    for (int64_t i = lo; i < hi; i++) {
        float gi = a->sign * g[i] + a->wd * p[i];
        float si = s[i] + 1.0f * gi * gi;
        s[i] = si;
        p[i] = p[i] + a->neg_clr * (gi / (sqrtf(si) + a->eps));
    }
    return KS_OK;
}

ks_status ks_adagrad_step(ks_ctx *c, ks_tensor *param, const ks_tensor *grad, ks_tensor *state_sum,
                          const ks_adagrad_opts *o)
{
    ks_status st = check_all(c, "Adagrad", param, grad, state_sum, NULL, NULL);
    if (st) return st;
    if (!state_sum) return ks_error(c, KS_EINVAL, "Adagrad: sum buffer missing");
    if (o->step < 1) return ks_error(c, KS_EINVAL, "Adagrad: step count must be >= 1, got %lld", (long long)o->step);
    double clr = o->lr / (1.0 + (double)(o->step - 1) * o->lr_decay);
    adagrad_args a = {fdata(param), fdata(state_sum), fdata(grad), o->maximize ? -1.0f : 1.0f,
                      (float)o->weight_decay, (float)o->eps, (float)-clr};
    ks_tensor_bump_version(param);
    return ks_parallel_for(c, param->numel, OPTIM_GRAIN, adagrad_range, &a);
}

/* ------------------------------------------------------- stream reference */
typedef struct {
    float *p, *m, *v;
    const float *g;
} stream_args;

static ks_status stream_range(void *arg, int64_t lo, int64_t hi)
{
    const stream_args *a = arg;
    float *restrict p = a->p, *restrict m = a->m, *restrict v = a->v;
    const float *restrict g = a->g;
    for (int64_t i = lo; i < hi; i++) {
        float gi = g[i];
        m[i] = m[i] + gi;
        v[i] = v[i] + gi;
        p[i] = p[i] + gi;
    }
    return KS_OK;
}

ks_status ks_stream_bench(ks_ctx *c, ks_tensor *theta, const ks_tensor *g, ks_tensor *m, ks_tensor *v)
{
    ks_status st = check_all(c, "stream", theta, g, m, v, NULL);
    if (st) return st;
    stream_args a = {fdata(theta), fdata(m), fdata(v), fdata(g)};
    ks_tensor_bump_version(theta);
    return ks_parallel_for(c, theta->numel, OPTIM_GRAIN, stream_range, &a);
}
