/* ks_optim.c: fused optimizer updates (see ks_optim.h for the rules).
 *
 * Every kernel is one loop over the flat elements of a contiguous parameter
 * and its state, split into fixed-size chunks for the thread pool. Element
 * arithmetic is float32 in the order PyTorch's tensor ops use, so
 * trajectories follow torch.optim to float32 rounding.
 *
 * The kernels with a square root are written on 8-lane vectors (GCC vector
 * extensions): with errno-setting sqrtf (the default -fmath-errno) the
 * compiler will not vectorise them, and they are bound by the square root
 * and the division, not by memory. On x86 each loop is compiled twice, for
 * baseline SSE2 (a vector = two 4-lane halves) and for AVX (chosen at run
 * time), which halves their cost. Lanes do exactly the scalar operations in
 * the same order (no FMA contraction without an FMA target), so results do
 * not depend on the lane, the chunk or the instruction set. The last
 * partial vector of a chunk runs on a zero-padded copy. */
#pragma GCC optimize("vect-cost-model=dynamic")
#include "ks_optim.h"
#include "ks_threads.h"

#include <math.h>
#include <string.h>

#if (defined(__x86_64__) || defined(__i386__)) && defined(__SSE2__)
#define KS_OPTIM_X86 1
#include <immintrin.h>
#else
#define KS_OPTIM_X86 0
#endif

/* 32-byte vectors by value only pass between static inline functions of
 * this file, so the AVX/non-AVX ABI note does not concern anyone */
#pragma GCC diagnostic ignored "-Wpsabi"

typedef float vf __attribute__((vector_size(32)));
#define VL 8

static inline vf vld(const float *p) { vf x; memcpy(&x, p, sizeof x); return x; }
static inline void vst(float *p, vf x) { memcpy(p, &x, sizeof x); }

#if KS_OPTIM_X86
static inline __attribute__((target("avx"))) vf vsqrt_avx(vf x) { return (vf)_mm256_sqrt_ps((__m256)x); }
static inline __attribute__((target("avx"))) vf vmax_avx(vf a, vf b) { return (vf)_mm256_max_ps((__m256)a, (__m256)b); }
static inline vf vsqrt_sse(vf x)
{
    __m128 h[2];
    memcpy(h, &x, sizeof x);
    h[0] = _mm_sqrt_ps(h[0]), h[1] = _mm_sqrt_ps(h[1]);
    memcpy(&x, h, sizeof x);
    return x;
}
static inline vf vmax_sse(vf a, vf b)
{
    __m128 ha[2], hb[2];
    memcpy(ha, &a, sizeof a), memcpy(hb, &b, sizeof b);
    ha[0] = _mm_max_ps(ha[0], hb[0]), ha[1] = _mm_max_ps(ha[1], hb[1]);
    memcpy(&a, ha, sizeof a);
    return a;
}
static bool has_avx(void) { return __builtin_cpu_supports("avx"); }
#else
static inline vf vsqrt_sse(vf x)
{
    for (int k = 0; k < VL; k++) x[k] = sqrtf(x[k]);
    return x;
}
static inline vf vmax_sse(vf a, vf b)
{
    for (int k = 0; k < VL; k++) a[k] = a[k] > b[k] ? a[k] : b[k];
    return a;
}
#define vsqrt_avx vsqrt_sse
#define vmax_avx vmax_sse
static bool has_avx(void) { return false; }
#endif

/* `avx` is a compile-time constant after inlining: true only inside the
 * target("avx") copies of the loops */
static inline __attribute__((always_inline)) vf vsqrt(vf x, const bool avx) { return avx ? vsqrt_avx(x) : vsqrt_sse(x); }
/* a > b ? a : b per lane (torch.maximum for non-NaN values) */
static inline __attribute__((always_inline)) vf vmaxf(vf a, vf b, const bool avx)
{
    return avx ? vmax_avx(a, b) : vmax_sse(a, b);
}

/* zero-padded copy of the last n < VL elements (src may be NULL) */
static inline void pad_in(float *dst, const float *src, int64_t n)
{
    memset(dst, 0, VL * sizeof *dst);
    if (src) memcpy(dst, src, (size_t)n * sizeof *dst);
}
static inline void pad_out(float *dst, const float *src, int64_t n)
{
    if (dst) memcpy(dst, src, (size_t)n * sizeof *dst);
}

#define OPTIM_GRAIN (1 << 14)

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
    float sign, wd, decay, b1, omb1, b2, omb2, eps_bc2, neg_step_bc2;
} adam_args;

/* VL elements; vmax is NULL unless amsgrad */
static inline __attribute__((always_inline)) void adam_vec(const adam_args *a, float *p, float *m, float *v, float *vmax,
                                                           const float *g, const bool avx)
{
    vf pi = vld(p) * a->decay; /* decay == 1 unless AdamW */
    vf gi = a->sign * vld(g) + a->wd * pi;
    vf mi = vld(m) * a->b1 + a->omb1 * gi;
    vf vi = vld(v) * a->b2 + a->omb2 * gi * gi;
    vst(m, mi);
    vst(v, vi);
    if (vmax) {
        vi = vmaxf(vld(vmax), vi, avx);
        vst(vmax, vi);
    }
    /* θ − (γ/bc1)·m/(√v/√bc2 + ε) with the bias correction moved out of the
     * denominator (as PyTorch's capturable path): one division per element */
    vf denom = vsqrt(vi, avx) + a->eps_bc2;
    vst(p, pi + a->neg_step_bc2 * (mi / denom));
}

static inline __attribute__((always_inline)) void adam_loop(const adam_args *args, int64_t lo, int64_t hi, const bool ams,
                                                            const bool avx)
{
    /* a local copy: element stores cannot alias it, so the constants stay in registers */
    const adam_args k = *args, *a = &k;
    float *p = a->p, *m = a->m, *v = a->v, *vm = a->vmax;
    const float *g = a->g;
    int64_t i = lo;
    for (; i + VL <= hi; i += VL) adam_vec(a, p + i, m + i, v + i, ams ? vm + i : NULL, g + i, avx);
    if (i < hi) {
        float tp[VL], tm[VL], tv[VL], tx[VL], tg[VL];
        int64_t n = hi - i;
        pad_in(tp, p + i, n), pad_in(tm, m + i, n), pad_in(tv, v + i, n), pad_in(tg, g + i, n);
        pad_in(tx, ams ? vm + i : NULL, n);
        adam_vec(a, tp, tm, tv, ams ? tx : NULL, tg, avx);
        pad_out(p + i, tp, n), pad_out(m + i, tm, n), pad_out(v + i, tv, n), pad_out(ams ? vm + i : NULL, tx, n);
    }
}

/* amsgrad and the instruction set are compile-time constants in each copy */
static void adam_sse(const adam_args *a, int64_t lo, int64_t hi)
{
    if (a->vmax) adam_loop(a, lo, hi, true, false);
    else adam_loop(a, lo, hi, false, false);
}
static __attribute__((target("avx"))) void adam_avx(const adam_args *a, int64_t lo, int64_t hi)
{
    if (a->vmax) adam_loop(a, lo, hi, true, true);
    else adam_loop(a, lo, hi, false, true);
}
static ks_status adam_range(void *arg, int64_t lo, int64_t hi)
{
    if (has_avx()) adam_avx(arg, lo, hi);
    else adam_sse(arg, lo, hi);
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
        (float)(o->eps * sqrt(bc2)), (float)(-(o->lr / bc1) * sqrt(bc2)),
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

/* VL elements; ga (centered) and b (momentum) may be NULL */
static inline __attribute__((always_inline)) void rms_vec(const rms_args *a, float *p, float *v, float *ga, float *b,
                                                          const float *g, const bool avx)
{
    vf pi = vld(p);
    vf gi = a->sign * vld(g) + a->wd * pi;
    vf vi = vld(v) * a->alpha + a->oma * gi * gi;
    vst(v, vi);
    if (ga) {
        vf ai = vld(ga) * a->alpha + a->oma * gi;
        vst(ga, ai);
        vi = vi + -1.0f * ai * ai;
    }
    vf avg = vsqrt(vi, avx) + a->eps;
    if (b) {
        vf bi = vld(b) * a->mu + gi / avg;
        vst(b, bi);
        vst(p, pi + a->neg_lr * bi);
    } else {
        vst(p, pi + a->neg_lr * (gi / avg));
    }
}

static inline __attribute__((always_inline)) void rms_loop(const rms_args *args, int64_t lo, int64_t hi,
                                                           const bool centered, const bool mom, const bool avx)
{
    const rms_args k = *args, *a = &k; /* constants in registers (see adam_loop) */
    float *p = a->p, *v = a->v, *ga = a->ga, *b = a->b;
    const float *g = a->g;
    int64_t i = lo;
    for (; i + VL <= hi; i += VL) rms_vec(a, p + i, v + i, centered ? ga + i : NULL, mom ? b + i : NULL, g + i, avx);
    if (i < hi) {
        float tp[VL], tv[VL], ta[VL], tb[VL], tg[VL];
        int64_t n = hi - i;
        pad_in(tp, p + i, n), pad_in(tv, v + i, n), pad_in(tg, g + i, n);
        pad_in(ta, centered ? ga + i : NULL, n), pad_in(tb, mom ? b + i : NULL, n);
        rms_vec(a, tp, tv, centered ? ta : NULL, mom ? tb : NULL, tg, avx);
        pad_out(p + i, tp, n), pad_out(v + i, tv, n);
        pad_out(centered ? ga + i : NULL, ta, n), pad_out(mom ? b + i : NULL, tb, n);
    }
}

static inline __attribute__((always_inline)) void rms_variants(const rms_args *a, int64_t lo, int64_t hi, const bool avx)
{
    if (a->ga && a->b) rms_loop(a, lo, hi, true, true, avx);
    else if (a->ga) rms_loop(a, lo, hi, true, false, avx);
    else if (a->b) rms_loop(a, lo, hi, false, true, avx);
    else rms_loop(a, lo, hi, false, false, avx);
}
static void rms_sse(const rms_args *a, int64_t lo, int64_t hi) { rms_variants(a, lo, hi, false); }
static __attribute__((target("avx"))) void rms_avx(const rms_args *a, int64_t lo, int64_t hi)
{
    rms_variants(a, lo, hi, true);
}
static ks_status rms_range(void *arg, int64_t lo, int64_t hi)
{
    if (has_avx()) rms_avx(arg, lo, hi);
    else rms_sse(arg, lo, hi);
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

static inline __attribute__((always_inline)) void adagrad_vec(const adagrad_args *a, float *p, float *s, const float *g,
                                                              const bool avx)
{
    vf pi = vld(p);
    vf gi = a->sign * vld(g) + a->wd * pi;
    vf si = vld(s) + 1.0f * gi * gi;
    vst(s, si);
    vst(p, pi + a->neg_clr * (gi / (vsqrt(si, avx) + a->eps)));
}

static inline __attribute__((always_inline)) void adagrad_loop(const adagrad_args *args, int64_t lo, int64_t hi,
                                                               const bool avx)
{
    const adagrad_args k = *args, *a = &k; /* see adam_loop */
    float *p = a->p, *s = a->s;
    const float *g = a->g;
    int64_t i = lo;
    for (; i + VL <= hi; i += VL) adagrad_vec(a, p + i, s + i, g + i, avx);
    if (i < hi) {
        float tp[VL], ts[VL], tg[VL];
        int64_t n = hi - i;
        pad_in(tp, p + i, n), pad_in(ts, s + i, n), pad_in(tg, g + i, n);
        adagrad_vec(a, tp, ts, tg, avx);
        pad_out(p + i, tp, n), pad_out(s + i, ts, n);
    }
}
static void adagrad_sse(const adagrad_args *a, int64_t lo, int64_t hi) { adagrad_loop(a, lo, hi, false); }
static __attribute__((target("avx"))) void adagrad_avx(const adagrad_args *a, int64_t lo, int64_t hi)
{
    adagrad_loop(a, lo, hi, true);
}
static ks_status adagrad_range(void *arg, int64_t lo, int64_t hi)
{
    if (has_avx()) adagrad_avx(arg, lo, hi);
    else adagrad_sse(arg, lo, hi);
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

/* --------------------------------------------------------------- Adamax */
typedef struct {
    float *p, *m, *u;
    const float *g;
    float sign, wd, b1, omb1, b2, eps, neg_clr;
} adamax_args;

/* no square root: a plain loop the compiler vectorises */
static ks_status adamax_range(void *arg, int64_t lo, int64_t hi)
{
    const adamax_args k = *(const adamax_args *)arg, *a = &k; /* see adam_loop */
    float *restrict p = a->p, *restrict m = a->m, *restrict u = a->u;
    const float *restrict g = a->g;
    for (int64_t i = lo; i < hi; i++) {
        float gi = a->sign * g[i] + a->wd * p[i];
        float mi = m[i] * a->b1 + a->omb1 * gi;
        float ui = u[i] * a->b2, ai = fabsf(gi) + a->eps;
        ui = (ui > ai || ui != ui) ? ui : ai; /* torch.amax: NaN propagates */
        m[i] = mi;
        u[i] = ui;
        p[i] = p[i] + a->neg_clr * mi / ui; /* addcdiv: (value·t1)/t2 */
    }
    return KS_OK;
}

ks_status ks_adamax_step(ks_ctx *c, ks_tensor *param, const ks_tensor *grad, ks_tensor *exp_avg, ks_tensor *exp_inf,
                         const ks_adamax_opts *o)
{
    ks_status st = check_all(c, "Adamax", param, grad, exp_avg, exp_inf, NULL);
    if (st) return st;
    if (!exp_avg || !exp_inf) return ks_error(c, KS_EINVAL, "Adamax: moment buffers missing");
    if (o->step < 1) return ks_error(c, KS_EINVAL, "Adamax: step count must be >= 1, got %lld", (long long)o->step);
    double clr = o->lr / (1.0 - pow(o->beta1, (double)o->step));
    adamax_args a = {fdata(param), fdata(exp_avg), fdata(exp_inf), fdata(grad), o->maximize ? -1.0f : 1.0f,
                     (float)o->weight_decay, (float)o->beta1, (float)(1.0 - o->beta1), (float)o->beta2,
                     (float)o->eps, (float)-clr};
    ks_tensor_bump_version(param);
    return ks_parallel_for(c, param->numel, OPTIM_GRAIN, adamax_range, &a);
}

/* ---------------------------------------------------------------- NAdam */
typedef struct {
    float *p, *m, *v;
    const float *g;
    float wd, b1, omb1, b2, omb2, bc2, eps, cg, cm;
} nadam_args;

static inline __attribute__((always_inline)) void nadam_vec(const nadam_args *a, float *p, float *m, float *v,
                                                            const float *g, const bool avx)
{
    vf pi = vld(p);
    vf gi = vld(g) + a->wd * pi;
    vf mi = vld(m) * a->b1 + a->omb1 * gi;
    vf vi = vld(v) * a->b2 + a->omb2 * gi * gi;
    vst(m, mi);
    vst(v, vi);
    vf denom = vsqrt(vi / a->bc2, avx) + a->eps;
    pi = pi + a->cg * gi / denom; /* two addcdivs, in PyTorch's order */
    vst(p, pi + a->cm * mi / denom);
}

static inline __attribute__((always_inline)) void nadam_loop(const nadam_args *args, int64_t lo, int64_t hi,
                                                             const bool avx)
{
    const nadam_args k = *args, *a = &k; /* see adam_loop */
    float *p = a->p, *m = a->m, *v = a->v;
    const float *g = a->g;
    int64_t i = lo;
    for (; i + VL <= hi; i += VL) nadam_vec(a, p + i, m + i, v + i, g + i, avx);
    if (i < hi) {
        float tp[VL], tm[VL], tv[VL], tg[VL];
        int64_t n = hi - i;
        pad_in(tp, p + i, n), pad_in(tm, m + i, n), pad_in(tv, v + i, n), pad_in(tg, g + i, n);
        nadam_vec(a, tp, tm, tv, tg, avx);
        pad_out(p + i, tp, n), pad_out(m + i, tm, n), pad_out(v + i, tv, n);
    }
}
static void nadam_sse(const nadam_args *a, int64_t lo, int64_t hi) { nadam_loop(a, lo, hi, false); }
static __attribute__((target("avx"))) void nadam_avx(const nadam_args *a, int64_t lo, int64_t hi)
{
    nadam_loop(a, lo, hi, true);
}
static ks_status nadam_range(void *arg, int64_t lo, int64_t hi)
{
    if (has_avx()) nadam_avx(arg, lo, hi);
    else nadam_sse(arg, lo, hi);
    return KS_OK;
}

/* μ_t = β1·(1 − ½·0.96^(t·ψ)) in double, as PyTorch's Python floats */
static double nadam_mu(const ks_nadam_opts *o, int64_t t)
{
    return o->beta1 * (1.0 - 0.5 * pow(0.96, (double)t * o->momentum_decay));
}

ks_status ks_nadam_step(ks_ctx *c, ks_tensor *param, const ks_tensor *grad, ks_tensor *exp_avg, ks_tensor *exp_avg_sq,
                        float *mu_product, const ks_nadam_opts *o)
{
    ks_status st = check_all(c, "NAdam", param, grad, exp_avg, exp_avg_sq, NULL);
    if (st) return st;
    if (!exp_avg || !exp_avg_sq || !mu_product) return ks_error(c, KS_EINVAL, "NAdam: state missing");
    if (o->step < 1) return ks_error(c, KS_EINVAL, "NAdam: step count must be >= 1, got %lld", (long long)o->step);
    double mu = nadam_mu(o, o->step), mu_next = nadam_mu(o, o->step + 1);
    /* the product is a float32 0-dim tensor in PyTorch: float arithmetic */
    float prod = *mu_product * (float)mu;
    float prod_next = prod * (float)mu * (float)mu_next;
    nadam_args a = {fdata(param), fdata(exp_avg), fdata(exp_avg_sq), fdata(grad), (float)o->weight_decay,
                    (float)o->beta1, (float)(1.0 - o->beta1), (float)o->beta2, (float)(1.0 - o->beta2),
                    (float)(1.0 - pow(o->beta2, (double)o->step)), (float)o->eps,
                    (float)(-o->lr * (1.0 - mu) / (1.0 - (double)prod)),
                    (float)(-o->lr * mu_next / (1.0 - (double)prod_next))};
    ks_tensor_bump_version(param);
    st = ks_parallel_for(c, param->numel, OPTIM_GRAIN, nadam_range, &a);
    if (!st) *mu_product = prod;
    return st;
}

/* ---------------------------------------------------------------- RAdam */
typedef struct {
    float *p, *m, *v;
    const float *g;
    float wd, b1, omb1, b2, omb2, bc1, lr, eps, sqrt_bc2, rect;
    bool rectify;
} radam_args;

static inline __attribute__((always_inline)) void radam_vec(const radam_args *a, float *p, float *m, float *v,
                                                            const float *g, const bool rectify, const bool avx)
{
    vf pi = vld(p);
    vf gi = vld(g) + a->wd * pi;
    vf mi = vld(m) * a->b1 + a->omb1 * gi;
    vf vi = vld(v) * a->b2 + a->omb2 * gi * gi;
    vst(m, mi);
    vst(v, vi);
    vf step = (mi / a->bc1) * a->lr;
    if (rectify) {
        /* PyTorch: sqrt(bc2) / (√v + ε) is (1/(√v + ε))·sqrt(bc2) (Tensor.__rdiv__) */
        vf adaptive = (1.0f / (vsqrt(vi, avx) + a->eps)) * a->sqrt_bc2;
        step = step * adaptive * a->rect;
    }
    vst(p, pi + -1.0f * step);
}

static inline __attribute__((always_inline)) void radam_loop(const radam_args *args, int64_t lo, int64_t hi,
                                                             const bool rectify, const bool avx)
{
    const radam_args k = *args, *a = &k; /* see adam_loop */
    float *p = a->p, *m = a->m, *v = a->v;
    const float *g = a->g;
    int64_t i = lo;
    for (; i + VL <= hi; i += VL) radam_vec(a, p + i, m + i, v + i, g + i, rectify, avx);
    if (i < hi) {
        float tp[VL], tm[VL], tv[VL], tg[VL];
        int64_t n = hi - i;
        pad_in(tp, p + i, n), pad_in(tm, m + i, n), pad_in(tv, v + i, n), pad_in(tg, g + i, n);
        radam_vec(a, tp, tm, tv, tg, rectify, avx);
        pad_out(p + i, tp, n), pad_out(m + i, tm, n), pad_out(v + i, tv, n);
    }
}
static void radam_sse(const radam_args *a, int64_t lo, int64_t hi)
{
    if (a->rectify) radam_loop(a, lo, hi, true, false);
    else radam_loop(a, lo, hi, false, false);
}
static __attribute__((target("avx"))) void radam_avx(const radam_args *a, int64_t lo, int64_t hi)
{
    if (a->rectify) radam_loop(a, lo, hi, true, true);
    else radam_loop(a, lo, hi, false, true);
}
static ks_status radam_range(void *arg, int64_t lo, int64_t hi)
{
    if (has_avx()) radam_avx(arg, lo, hi);
    else radam_sse(arg, lo, hi);
    return KS_OK;
}

ks_status ks_radam_step(ks_ctx *c, ks_tensor *param, const ks_tensor *grad, ks_tensor *exp_avg, ks_tensor *exp_avg_sq,
                        const ks_radam_opts *o)
{
    ks_status st = check_all(c, "RAdam", param, grad, exp_avg, exp_avg_sq, NULL);
    if (st) return st;
    if (!exp_avg || !exp_avg_sq) return ks_error(c, KS_EINVAL, "RAdam: moment buffers missing");
    if (o->step < 1) return ks_error(c, KS_EINVAL, "RAdam: step count must be >= 1, got %lld", (long long)o->step);
    double t = (double)o->step, b2t = pow(o->beta2, t);
    double bc1 = 1.0 - pow(o->beta1, t), bc2 = 1.0 - b2t;
    /* length of the approximated simple moving average, its limit, and the rectification */
    double rho_inf = 2.0 / (1.0 - o->beta2) - 1.0, rho_t = rho_inf - 2.0 * t * b2t / bc2;
    bool rectify = rho_t > 5.0;
    double rect = rectify ? sqrt((rho_t - 4) * (rho_t - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho_t)) : 0.0;
    radam_args a = {fdata(param), fdata(exp_avg), fdata(exp_avg_sq), fdata(grad), (float)o->weight_decay,
                    (float)o->beta1, (float)(1.0 - o->beta1), (float)o->beta2, (float)(1.0 - o->beta2), (float)bc1,
                    (float)o->lr, (float)o->eps, (float)sqrt(bc2), (float)rect, rectify};
    ks_tensor_bump_version(param);
    return ks_parallel_for(c, param->numel, OPTIM_GRAIN, radam_range, &a);
}

/* ------------------------------------------------------------- Adadelta */
typedef struct {
    float *p, *s, *d;
    const float *g;
    float sign, wd, rho, omr, eps, neg_lr;
} adadelta_args;

static inline __attribute__((always_inline)) void adadelta_vec(const adadelta_args *a, float *p, float *s, float *d,
                                                               const float *g, const bool avx)
{
    vf pi = vld(p);
    vf gi = a->sign * vld(g) + a->wd * pi;
    vf si = vld(s) * a->rho + a->omr * gi * gi;
    vst(s, si);
    vf di = vld(d);
    vf delta = vsqrt(di + a->eps, avx) / vsqrt(si + a->eps, avx) * gi;
    vst(d, di * a->rho + a->omr * delta * delta);
    vst(p, pi + a->neg_lr * delta);
}

static inline __attribute__((always_inline)) void adadelta_loop(const adadelta_args *args, int64_t lo, int64_t hi,
                                                                const bool avx)
{
    const adadelta_args k = *args, *a = &k; /* see adam_loop */
    float *p = a->p, *s = a->s, *d = a->d;
    const float *g = a->g;
    int64_t i = lo;
    for (; i + VL <= hi; i += VL) adadelta_vec(a, p + i, s + i, d + i, g + i, avx);
    if (i < hi) {
        float tp[VL], ts[VL], td[VL], tg[VL];
        int64_t n = hi - i;
        pad_in(tp, p + i, n), pad_in(ts, s + i, n), pad_in(td, d + i, n), pad_in(tg, g + i, n);
        adadelta_vec(a, tp, ts, td, tg, avx);
        pad_out(p + i, tp, n), pad_out(s + i, ts, n), pad_out(d + i, td, n);
    }
}
static void adadelta_sse(const adadelta_args *a, int64_t lo, int64_t hi) { adadelta_loop(a, lo, hi, false); }
static __attribute__((target("avx"))) void adadelta_avx(const adadelta_args *a, int64_t lo, int64_t hi)
{
    adadelta_loop(a, lo, hi, true);
}
static ks_status adadelta_range(void *arg, int64_t lo, int64_t hi)
{
    if (has_avx()) adadelta_avx(arg, lo, hi);
    else adadelta_sse(arg, lo, hi);
    return KS_OK;
}

ks_status ks_adadelta_step(ks_ctx *c, ks_tensor *param, const ks_tensor *grad, ks_tensor *square_avg,
                           ks_tensor *acc_delta, const ks_adadelta_opts *o)
{
    ks_status st = check_all(c, "Adadelta", param, grad, square_avg, acc_delta, NULL);
    if (st) return st;
    if (!square_avg || !acc_delta) return ks_error(c, KS_EINVAL, "Adadelta: state buffers missing");
    adadelta_args a = {fdata(param), fdata(square_avg), fdata(acc_delta), fdata(grad), o->maximize ? -1.0f : 1.0f,
                       (float)o->weight_decay, (float)o->rho, (float)(1.0 - o->rho), (float)o->eps, (float)-o->lr};
    ks_tensor_bump_version(param);
    return ks_parallel_for(c, param->numel, OPTIM_GRAIN, adadelta_range, &a);
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
