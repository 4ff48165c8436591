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
#define TARGET_AVX __attribute__((target("avx")))
static inline TARGET_AVX vf vsqrt_avx(vf x) { return (vf)_mm256_sqrt_ps((__m256)x); }
static inline TARGET_AVX vf vmax_avx(vf a, vf b) { return (vf)_mm256_max_ps((__m256)a, (__m256)b); }
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
#define TARGET_AVX
#define vsqrt_avx vsqrt_sse
#define vmax_avx vmax_sse
static bool has_avx(void) { return false; }
#endif

#define ALWAYS_INLINE inline __attribute__((always_inline))

/* `avx` is a compile-time constant after inlining: true only inside the
 * target("avx") copies of the loops */
static ALWAYS_INLINE vf vsqrt(vf x, const bool avx) { return avx ? vsqrt_avx(x) : vsqrt_sse(x); }
/* a > b ? a : b per lane (torch.maximum for non-NaN values) */
static ALWAYS_INLINE vf vmaxf(vf a, vf b, const bool avx) { return avx ? vmax_avx(a, b) : vmax_sse(a, b); }

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

/* the step count t of a bias correction (1 - β^t) or decay: t >= 1 */
static ks_status check_step(ks_ctx *c, const char *op, int64_t step)
{
    if (step >= 1) return KS_OK;
    return ks_error(c, KS_EINVAL, "%s: step count must be >= 1, got %lld", op, (long long)step);
}

static float *fdata(const ks_tensor *t) { return t ? (float *)ks_tensor_data(t) : NULL; }

/* ------------------------------------------------- the vector loop, once
 * A vector optimizer supplies a kernel for one block of VL elements and an
 * args struct holding the gradient and NS streams it updates in place: the
 * parameter, then up to three state buffers (the padded tail is written back
 * in that order), NULL where a buffer is absent. vec_run does the rest. */
#define NS 4

/* x[j]: stream j at the block (NULL when absent); g: the gradient block;
 * args: the optimizer's args struct */
typedef void vec_kernel(const void *args, const float *g, float *const x[NS], bool avx);

static ALWAYS_INLINE float *at(float *const s[NS], const unsigned on, int j, int64_t i)
{
    return on >> j & 1 ? s[j] + i : NULL;
}

static ALWAYS_INLINE void vec_block(vec_kernel *kern, const void *a, const float *g, float *const s[NS],
                                    const unsigned on, int64_t i, const bool avx)
{
    float *const x[NS] = {at(s, on, 0, i), at(s, on, 1, i), at(s, on, 2, i), at(s, on, 3, i)};
    kern(a, g, x, avx);
}

/* full blocks in place, then the partial last one on zero-padded copies;
 * `on` (the streams present), the kernel and `avx` are compile-time
 * constants after inlining, so each variant is its own straight-line loop */
static ALWAYS_INLINE void vec_loop(vec_kernel *kern, const void *a, const float *g, float *const s[NS],
                                   const unsigned on, int64_t lo, int64_t hi, const bool avx)
{
    int64_t i = lo;
    for (; i + VL <= hi; i += VL) vec_block(kern, a, g + i, s, on, i, avx);
    if (i < hi) {
        float t[NS][VL], tg[VL];
        float *const ts[NS] = {t[0], t[1], t[2], t[3]};
        int64_t n = hi - i;
        pad_in(tg, g + i, n);
        for (int j = 0; j < NS; j++) pad_in(t[j], at(s, on, j, i), n);
        vec_block(kern, a, tg, ts, on, 0, avx);
        for (int j = 0; j < NS; j++) pad_out(at(s, on, j, i), t[j], n);
    }
}

/* Streams 0..nreq-1 are always there, the nopt (<= 2) after them may be
 * NULL: one loop per combination present, so the kernel's tests on them are
 * compile-time. `a` is the caller's local copy of its args: element stores
 * cannot alias it, so the constants stay in registers. */
static ALWAYS_INLINE ks_status vec_run(vec_kernel *kern, const void *a, const float *g, float *const s[NS],
                                       const int nreq, const int nopt, int64_t lo, int64_t hi, const bool avx)
{
    const unsigned req = (1u << nreq) - 1, o1 = nopt > 0 ? 1u << nreq : 0, o2 = nopt > 1 ? 2u << nreq : 0;
    unsigned on = 0;
    for (int j = 0; j < NS; j++) on |= (unsigned)(s[j] != NULL) << j;
    if ((on & o1) && (on & o2)) vec_loop(kern, a, g, s, req | o1 | o2, lo, hi, avx);
    else if (on & o1) vec_loop(kern, a, g, s, req | o1, lo, hi, avx);
    else if (on & o2) vec_loop(kern, a, g, s, req | o2, lo, hi, avx);
    else vec_loop(kern, a, g, s, req, lo, hi, avx);
    return KS_OK;
}

/* Each optimizer compiles its vec_run twice, `avx` a constant: *_sse for
 * baseline x86-64 and *_avx for target("avx"), chosen here once a step. */
static ks_status vec_launch(ks_ctx *c, ks_tensor *param, ks_range_fn sse, ks_range_fn avx, void *a)
{
    ks_tensor_bump_version(param);
    return ks_parallel_for(c, param->numel, OPTIM_GRAIN, has_avx() ? avx : sse, a);
}

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
    const float *g;
    float *x[NS]; /* θ, m, v, and max v (amsgrad, else NULL) */
    float sign, wd, decay, b1, omb1, b2, omb2, eps_bc2, neg_step_bc2;
} adam_args;

static ALWAYS_INLINE void adam_vec(const void *args, const float *g, float *const x[NS], const bool avx)
{
    const adam_args *a = args;
    float *p = x[0], *m = x[1], *v = x[2], *vmax = x[3];
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

static ALWAYS_INLINE ks_status adam_run(void *arg, int64_t lo, int64_t hi, const bool avx)
{
    const adam_args k = *(const adam_args *)arg; /* a local copy (see vec_run) */
    return vec_run(adam_vec, &k, k.g, k.x, 3, 1, lo, hi, avx);
}
static ks_status adam_sse(void *a, int64_t lo, int64_t hi) { return adam_run(a, lo, hi, false); }
static TARGET_AVX ks_status adam_avx(void *a, int64_t lo, int64_t hi) { return adam_run(a, lo, hi, true); }

ks_status ks_adam_step(ks_ctx *c, ks_tensor *param, const ks_tensor *grad, ks_tensor *exp_avg, ks_tensor *exp_avg_sq,
                       ks_tensor *max_exp_avg_sq, const ks_adam_opts *o)
{
    const char *op = o->decoupled ? "AdamW" : "Adam";
    ks_status st = check_all(c, op, param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq);
    if (st) return st;
    if (!exp_avg || !exp_avg_sq) return ks_error(c, KS_EINVAL, "%s: moment buffers missing", op);
    if ((st = check_step(c, op, o->step))) return st;
    double bc1 = 1.0 - pow(o->beta1, (double)o->step), bc2 = 1.0 - pow(o->beta2, (double)o->step);
    adam_args a = {
        fdata(grad), {fdata(param), fdata(exp_avg), fdata(exp_avg_sq), fdata(max_exp_avg_sq)},
        o->maximize ? -1.0f : 1.0f,
        o->decoupled ? 0.0f : (float)o->weight_decay,
        o->decoupled ? (float)(1.0 - o->lr * o->weight_decay) : 1.0f,
        (float)o->beta1, (float)(1.0 - o->beta1), (float)o->beta2, (float)(1.0 - o->beta2),
        (float)(o->eps * sqrt(bc2)), (float)(-(o->lr / bc1) * sqrt(bc2)),
    };
    return vec_launch(c, param, adam_sse, adam_avx, &a);
}

/* -------------------------------------------------------------- RMSprop */
typedef struct {
    const float *g;
    float *x[NS]; /* θ, v, and the gradient average (centered) and momentum buffer, each NULL when off */
    float sign, wd, alpha, oma, eps, mu, neg_lr;
} rms_args;

static ALWAYS_INLINE void rms_vec(const void *args, const float *g, float *const x[NS], const bool avx)
{
    const rms_args *a = args;
    float *p = x[0], *v = x[1], *ga = x[2], *b = x[3];
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

static ALWAYS_INLINE ks_status rms_run(void *arg, int64_t lo, int64_t hi, const bool avx)
{
    const rms_args k = *(const rms_args *)arg;
    return vec_run(rms_vec, &k, k.g, k.x, 2, 2, lo, hi, avx);
}
static ks_status rms_sse(void *a, int64_t lo, int64_t hi) { return rms_run(a, lo, hi, false); }
static TARGET_AVX ks_status rms_avx(void *a, int64_t lo, int64_t hi) { return rms_run(a, lo, hi, true); }

ks_status ks_rmsprop_step(ks_ctx *c, ks_tensor *param, const ks_tensor *grad, ks_tensor *square_avg,
                          ks_tensor *grad_avg, ks_tensor *momentum_buf, const ks_rmsprop_opts *o)
{
    ks_status st = check_all(c, "RMSprop", param, grad, square_avg, grad_avg, momentum_buf);
    if (st) return st;
    if (!square_avg) return ks_error(c, KS_EINVAL, "RMSprop: square_avg buffer missing");
    rms_args a = {fdata(grad), {fdata(param), fdata(square_avg), fdata(grad_avg), fdata(momentum_buf)},
                  o->maximize ? -1.0f : 1.0f, (float)o->weight_decay, (float)o->alpha, (float)(1.0 - o->alpha),
                  (float)o->eps, (float)o->momentum, (float)-o->lr};
    return vec_launch(c, param, rms_sse, rms_avx, &a);
}

/* -------------------------------------------------------------- Adagrad */
typedef struct {
    const float *g;
    float *x[NS]; /* θ, the sum of squares */
    float sign, wd, eps, neg_clr;
} adagrad_args;

static ALWAYS_INLINE void adagrad_vec(const void *args, const float *g, float *const x[NS], const bool avx)
{
    const adagrad_args *a = args;
    float *p = x[0], *s = x[1];
    vf pi = vld(p);
    vf gi = a->sign * vld(g) + a->wd * pi;
    vf si = vld(s) + 1.0f * gi * gi;
    vst(s, si);
    vst(p, pi + a->neg_clr * (gi / (vsqrt(si, avx) + a->eps)));
}

static ALWAYS_INLINE ks_status adagrad_run(void *arg, int64_t lo, int64_t hi, const bool avx)
{
    const adagrad_args k = *(const adagrad_args *)arg;
    return vec_run(adagrad_vec, &k, k.g, k.x, 2, 0, lo, hi, avx);
}
static ks_status adagrad_sse(void *a, int64_t lo, int64_t hi) { return adagrad_run(a, lo, hi, false); }
static TARGET_AVX ks_status adagrad_avx(void *a, int64_t lo, int64_t hi) { return adagrad_run(a, lo, hi, true); }

ks_status ks_adagrad_step(ks_ctx *c, ks_tensor *param, const ks_tensor *grad, ks_tensor *state_sum,
                          const ks_adagrad_opts *o)
{
    ks_status st = check_all(c, "Adagrad", param, grad, state_sum, NULL, NULL);
    if (st) return st;
    if (!state_sum) return ks_error(c, KS_EINVAL, "Adagrad: sum buffer missing");
    if ((st = check_step(c, "Adagrad", o->step))) return st;
    double clr = o->lr / (1.0 + (double)(o->step - 1) * o->lr_decay);
    adagrad_args a = {fdata(grad), {fdata(param), fdata(state_sum)}, o->maximize ? -1.0f : 1.0f,
                      (float)o->weight_decay, (float)o->eps, (float)-clr};
    return vec_launch(c, param, adagrad_sse, adagrad_avx, &a);
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
    const adamax_args k = *(const adamax_args *)arg, *a = &k; /* a local copy (see vec_run) */
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
    if ((st = check_step(c, "Adamax", o->step))) return st;
    double clr = o->lr / (1.0 - pow(o->beta1, (double)o->step));
    adamax_args a = {fdata(param), fdata(exp_avg), fdata(exp_inf), fdata(grad), o->maximize ? -1.0f : 1.0f,
                     (float)o->weight_decay, (float)o->beta1, (float)(1.0 - o->beta1), (float)o->beta2,
                     (float)o->eps, (float)-clr};
    ks_tensor_bump_version(param);
    return ks_parallel_for(c, param->numel, OPTIM_GRAIN, adamax_range, &a);
}

/* ---------------------------------------------------------------- NAdam */
typedef struct {
    const float *g;
    float *x[NS]; /* θ, m, v */
    float wd, b1, omb1, b2, omb2, bc2, eps, cg, cm;
} nadam_args;

static ALWAYS_INLINE void nadam_vec(const void *args, const float *g, float *const x[NS], const bool avx)
{
    const nadam_args *a = args;
    float *p = x[0], *m = x[1], *v = x[2];
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

static ALWAYS_INLINE ks_status nadam_run(void *arg, int64_t lo, int64_t hi, const bool avx)
{
    const nadam_args k = *(const nadam_args *)arg;
    return vec_run(nadam_vec, &k, k.g, k.x, 3, 0, lo, hi, avx);
}
static ks_status nadam_sse(void *a, int64_t lo, int64_t hi) { return nadam_run(a, lo, hi, false); }
static TARGET_AVX ks_status nadam_avx(void *a, int64_t lo, int64_t hi) { return nadam_run(a, lo, hi, true); }

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
    if ((st = check_step(c, "NAdam", o->step))) return st;
    double mu = nadam_mu(o, o->step), mu_next = nadam_mu(o, o->step + 1);
    /* the product is a float32 0-dim tensor in PyTorch: float arithmetic */
    float prod = *mu_product * (float)mu;
    float prod_next = prod * (float)mu * (float)mu_next;
    nadam_args a = {fdata(grad), {fdata(param), fdata(exp_avg), fdata(exp_avg_sq)}, (float)o->weight_decay,
                    (float)o->beta1, (float)(1.0 - o->beta1), (float)o->beta2, (float)(1.0 - o->beta2),
                    (float)(1.0 - pow(o->beta2, (double)o->step)), (float)o->eps,
                    (float)(-o->lr * (1.0 - mu) / (1.0 - (double)prod)),
                    (float)(-o->lr * mu_next / (1.0 - (double)prod_next))};
    st = vec_launch(c, param, nadam_sse, nadam_avx, &a);
    if (!st) *mu_product = prod;
    return st;
}

/* ---------------------------------------------------------------- RAdam */
typedef struct {
    const float *g;
    float *x[NS]; /* θ, m, v */
    float wd, b1, omb1, b2, omb2, bc1, lr, eps, sqrt_bc2, rect;
    bool rectify;
} radam_args;

static ALWAYS_INLINE void radam_vec(const radam_args *a, const float *g, float *const x[NS], const bool rectify,
                                    const bool avx)
{
    float *p = x[0], *m = x[1], *v = x[2];
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
/* the rectified and plain steps, each a kernel of its own */
static ALWAYS_INLINE void radam_rect(const void *a, const float *g, float *const x[NS], const bool avx)
{
    radam_vec(a, g, x, true, avx);
}
static ALWAYS_INLINE void radam_plain(const void *a, const float *g, float *const x[NS], const bool avx)
{
    radam_vec(a, g, x, false, avx);
}

static ALWAYS_INLINE ks_status radam_run(void *arg, int64_t lo, int64_t hi, const bool avx)
{
    const radam_args k = *(const radam_args *)arg;
    if (k.rectify) return vec_run(radam_rect, &k, k.g, k.x, 3, 0, lo, hi, avx);
    return vec_run(radam_plain, &k, k.g, k.x, 3, 0, lo, hi, avx);
}
static ks_status radam_sse(void *a, int64_t lo, int64_t hi) { return radam_run(a, lo, hi, false); }
static TARGET_AVX ks_status radam_avx(void *a, int64_t lo, int64_t hi) { return radam_run(a, lo, hi, true); }

ks_status ks_radam_step(ks_ctx *c, ks_tensor *param, const ks_tensor *grad, ks_tensor *exp_avg, ks_tensor *exp_avg_sq,
                        const ks_radam_opts *o)
{
    ks_status st = check_all(c, "RAdam", param, grad, exp_avg, exp_avg_sq, NULL);
    if (st) return st;
    if (!exp_avg || !exp_avg_sq) return ks_error(c, KS_EINVAL, "RAdam: moment buffers missing");
    if ((st = check_step(c, "RAdam", o->step))) return st;
    double t = (double)o->step, b2t = pow(o->beta2, t);
    double bc1 = 1.0 - pow(o->beta1, t), bc2 = 1.0 - b2t;
    /* length of the approximated simple moving average, its limit, and the rectification */
    double rho_inf = 2.0 / (1.0 - o->beta2) - 1.0, rho_t = rho_inf - 2.0 * t * b2t / bc2;
    bool rectify = rho_t > 5.0;
    double rect = rectify ? sqrt((rho_t - 4) * (rho_t - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho_t)) : 0.0;
    radam_args a = {fdata(grad), {fdata(param), fdata(exp_avg), fdata(exp_avg_sq)}, (float)o->weight_decay,
                    (float)o->beta1, (float)(1.0 - o->beta1), (float)o->beta2, (float)(1.0 - o->beta2), (float)bc1,
                    (float)o->lr, (float)o->eps, (float)sqrt(bc2), (float)rect, rectify};
    return vec_launch(c, param, radam_sse, radam_avx, &a);
}

/* ------------------------------------------------------------- Adadelta */
typedef struct {
    const float *g;
    float *x[NS]; /* θ, the square average, the accumulated delta */
    float sign, wd, rho, omr, eps, neg_lr;
} adadelta_args;

static ALWAYS_INLINE void adadelta_vec(const void *args, const float *g, float *const x[NS], const bool avx)
{
    const adadelta_args *a = args;
    float *p = x[0], *s = x[1], *d = x[2];
    vf pi = vld(p);
    vf gi = a->sign * vld(g) + a->wd * pi;
    vf si = vld(s) * a->rho + a->omr * gi * gi;
    vst(s, si);
    vf di = vld(d);
    vf delta = vsqrt(di + a->eps, avx) / vsqrt(si + a->eps, avx) * gi;
    vst(d, di * a->rho + a->omr * delta * delta);
    vst(p, pi + a->neg_lr * delta);
}

static ALWAYS_INLINE ks_status adadelta_run(void *arg, int64_t lo, int64_t hi, const bool avx)
{
    const adadelta_args k = *(const adadelta_args *)arg;
    return vec_run(adadelta_vec, &k, k.g, k.x, 3, 0, lo, hi, avx);
}
static ks_status adadelta_sse(void *a, int64_t lo, int64_t hi) { return adadelta_run(a, lo, hi, false); }
static TARGET_AVX ks_status adadelta_avx(void *a, int64_t lo, int64_t hi) { return adadelta_run(a, lo, hi, true); }

ks_status ks_adadelta_step(ks_ctx *c, ks_tensor *param, const ks_tensor *grad, ks_tensor *square_avg,
                           ks_tensor *acc_delta, const ks_adadelta_opts *o)
{
    ks_status st = check_all(c, "Adadelta", param, grad, square_avg, acc_delta, NULL);
    if (st) return st;
    if (!square_avg || !acc_delta) return ks_error(c, KS_EINVAL, "Adadelta: state buffers missing");
    adadelta_args a = {fdata(grad), {fdata(param), fdata(square_avg), fdata(acc_delta)}, o->maximize ? -1.0f : 1.0f,
                       (float)o->weight_decay, (float)o->rho, (float)(1.0 - o->rho), (float)o->eps, (float)-o->lr};
    return vec_launch(c, param, adadelta_sse, adadelta_avx, &a);
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
