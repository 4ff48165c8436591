/* ks_optim.h: fused optimizer update kernels (torch.optim's update rules).
 *
 * Each kernel updates ONE parameter tensor and its state buffers in a single
 * pass over memory: no temporaries, threaded over chunks with
 * ks_parallel_for for large tensors. The updates are elementwise, so the
 * result does not depend on the thread count.
 *
 * Contract shared by every kernel:
 *  - param, grad and the state buffers are float32, contiguous, and have
 *    the same shape (KS_ETYPE / KS_EINVAL / KS_ESHAPE naming both shapes).
 *    Optional buffers are NULL when the option is off.
 *  - Scalars that depend on the step count (bias corrections, the decayed
 *    Adagrad rate) are computed here in double from `step` (1 for the first
 *    update), as PyTorch computes them in Python floats; element arithmetic
 *    is float32 in PyTorch's operation order (Adam: in the algebraically
 *    equal form of PyTorch's capturable path, which needs one division per
 *    element instead of two; results agree to float32 rounding).
 *  - param's storage version is bumped (an in-place write for autograd).
 * Option validation (negative lr, betas range...) is the caller's job; the
 * kernels only check tensors.
 */
#ifndef KS_OPTIM_H
#define KS_OPTIM_H

#include "ks_tensor.h"

typedef struct ks_sgd_opts {
    double lr, momentum, dampening, weight_decay;
    bool nesterov, maximize;
} ks_sgd_opts;

/* g' = ±g + wd*θ; buf = g' (first) or μ·buf + (1-τ)·g'; d = nesterov ? g' + μ·buf : buf;
 * θ -= lr·d. momentum_buf is NULL when momentum == 0; `first` says it is uninitialised. */
ks_status ks_sgd_step(ks_ctx *c, ks_tensor *param, const ks_tensor *grad, ks_tensor *momentum_buf, bool first,
                      const ks_sgd_opts *o);

typedef struct ks_adam_opts {
    double lr, beta1, beta2, eps, weight_decay;
    int64_t step;   /* t >= 1 */
    bool amsgrad, maximize;
    bool decoupled; /* AdamW: θ *= 1 - lr·wd first, no L2 term in g */
} ks_adam_opts;

/* Adam / AdamW. max_exp_avg_sq is NULL unless amsgrad. */
ks_status ks_adam_step(ks_ctx *c, ks_tensor *param, const ks_tensor *grad, ks_tensor *exp_avg, ks_tensor *exp_avg_sq,
                       ks_tensor *max_exp_avg_sq, const ks_adam_opts *o);

typedef struct ks_rmsprop_opts {
    double lr, alpha, eps, weight_decay, momentum;
    bool centered, maximize;
} ks_rmsprop_opts;

/* RMSprop. grad_avg is NULL unless centered; momentum_buf NULL unless momentum > 0. */
ks_status ks_rmsprop_step(ks_ctx *c, ks_tensor *param, const ks_tensor *grad, ks_tensor *square_avg,
                          ks_tensor *grad_avg, ks_tensor *momentum_buf, const ks_rmsprop_opts *o);

typedef struct ks_adagrad_opts {
    double lr, lr_decay, weight_decay, eps;
    int64_t step; /* t >= 1 */
    bool maximize;
} ks_adagrad_opts;

ks_status ks_adagrad_step(ks_ctx *c, ks_tensor *param, const ks_tensor *grad, ks_tensor *state_sum,
                          const ks_adagrad_opts *o);

typedef struct ks_adamax_opts {
    double lr, beta1, beta2, eps, weight_decay;
    int64_t step; /* t >= 1 */
    bool maximize;
} ks_adamax_opts;

/* Adamax: g' = ±g + wd*θ; m = β1·m + (1-β1)·g'; u = max(β2·u, |g'| + ε); θ += (-lr/bc1)·m / u. */
ks_status ks_adamax_step(ks_ctx *c, ks_tensor *param, const ks_tensor *grad, ks_tensor *exp_avg, ks_tensor *exp_inf,
                         const ks_adamax_opts *o);

typedef struct ks_nadam_opts {
    double lr, beta1, beta2, eps, weight_decay, momentum_decay;
    int64_t step; /* t >= 1 */
} ks_nadam_opts;

/* NAdam (torch 1.13: no maximize). mu_product is the float32 scalar state
 * (1 before the first step), updated here as PyTorch's 0-dim float tensor:
 * μ_t = β1(1 - ½·0.96^(t·ψ)), Π ← Π·μ_t; m, v as Adam;
 * θ += (-lr(1-μ_t)/(1-Π))·g'/d + (-lr·μ_{t+1}/(1-Π·μ_t·μ_{t+1}))·m/d with d = √(v/bc2) + ε. */
ks_status ks_nadam_step(ks_ctx *c, ks_tensor *param, const ks_tensor *grad, ks_tensor *exp_avg, ks_tensor *exp_avg_sq,
                        float *mu_product, const ks_nadam_opts *o);

typedef struct ks_radam_opts {
    double lr, beta1, beta2, eps, weight_decay;
    int64_t step; /* t >= 1 */
} ks_radam_opts;

/* RAdam (torch 1.13: no maximize). m, v as Adam; with ρ_t > 5 the rectified
 * adaptive step θ -= ((m/bc1)·lr)·(√bc2 · 1/(√v + ε))·r_t, else θ -= (m/bc1)·lr. */
ks_status ks_radam_step(ks_ctx *c, ks_tensor *param, const ks_tensor *grad, ks_tensor *exp_avg, ks_tensor *exp_avg_sq,
                        const ks_radam_opts *o);

typedef struct ks_adadelta_opts {
    double lr, rho, eps, weight_decay;
    bool maximize;
} ks_adadelta_opts;

/* Adadelta: s = ρ·s + (1-ρ)·g'²; δ = √(a + ε)/√(s + ε)·g'; a = ρ·a + (1-ρ)·δ²; θ -= lr·δ. */
ks_status ks_adadelta_step(ks_ctx *c, ks_tensor *param, const ks_tensor *grad, ks_tensor *square_avg,
                           ks_tensor *acc_delta, const ks_adadelta_opts *o);

/* Benchmark reference: the plainest pass touching the arrays an Adam step
 * touches (read θ, g, m, v; write θ, m, v), with trivial arithmetic. */
ks_status ks_stream_bench(ks_ctx *c, ks_tensor *theta, const ks_tensor *g, ks_tensor *m, ks_tensor *v);

#endif
