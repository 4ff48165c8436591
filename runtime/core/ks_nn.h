/* ks_nn.h: neural-network functional ops with forward and backward kernels.
 *
 * Every function here computes its forward pass and, when grad mode is on
 * and an input requires grad, records one autograd node whose backward
 * kernel is in the same file (one op table entry per op). Inputs are
 * float32 (integer targets/indices are int64); non-contiguous inputs are
 * made contiguous first. Argument order follows THNN: inputs, output,
 * weights, then options. Shape errors name every shape involved.
 */
#ifndef KS_NN_H
#define KS_NN_H

#include "ks_autograd.h"

/* ---- linear: out = input @ weight^T + bias ----
 * input [*, in], weight [out, in], bias [out] or NULL -> [*, out] */
ks_status ks_nn_linear(ks_ctx *c, ks_tensor *input, ks_tensor **out, ks_tensor *weight, ks_tensor *bias);

/* ---- conv2d: input [N, Ci, H, W], weight [Co, Ci/groups, kH, kW], bias [Co] or NULL ---- */
typedef struct {
    int64_t stride[2], padding[2], dilation[2], groups;
} ks_conv2d_opts;
ks_status ks_nn_conv2d(ks_ctx *c, ks_tensor *input, ks_tensor **out, ks_tensor *weight, ks_tensor *bias,
                       const ks_conv2d_opts *o);

/* ---- unfold (im2col) / fold (col2im), PyTorch's F.unfold / F.fold ----
 * Options are {h, w} pairs: kernel and stride >= 1, dilation >= 1, padding
 * >= 0 (each below 2^31). Blocks: oh = (H + 2 ph - dh (kh - 1) - 1) / sh + 1
 * (ow alike; at least one block each way, else an error), L = oh ow.
 * unfold: input [N, C, H, W] (or [C, H, W]) -> [N, C kh kw, L] (or
 *   [C kh kw, L]); row (c kh + i) kw + j holds channel c at kernel offset
 *   (i, j) of every block, blocks in row-major order, zeros in the padding.
 * fold: the adjoint: input [N, C kh kw, L] (or [C kh kw, L]) with L equal
 *   to the block count of output_size {H, W} -> [N, C, H, W] (or [C, H, W]),
 *   overlapping values summed, padding dropped.
 * float32 only; each op's gradient is the other one. */
ks_status ks_nn_unfold(ks_ctx *c, ks_tensor *input, ks_tensor **out, const int64_t kernel[2],
                       const int64_t dilation[2], const int64_t padding[2], const int64_t stride[2]);
ks_status ks_nn_fold(ks_ctx *c, ks_tensor *input, ks_tensor **out, const int64_t output_size[2],
                     const int64_t kernel[2], const int64_t dilation[2], const int64_t padding[2],
                     const int64_t stride[2]);

/* ---- pooling over [N, C, H, W] (or [C, H, W]) ---- */
typedef struct {
    int64_t kernel[2], stride[2], padding[2];
    bool ceil_mode;
    bool count_include_pad; /* avg pool */
} ks_pool2d_opts;
ks_status ks_nn_max_pool2d(ks_ctx *c, ks_tensor *input, ks_tensor **out, const ks_pool2d_opts *o);
ks_status ks_nn_avg_pool2d(ks_ctx *c, ks_tensor *input, ks_tensor **out, const ks_pool2d_opts *o);
ks_status ks_nn_adaptive_avg_pool2d(ks_ctx *c, ks_tensor *input, ks_tensor **out, int64_t oh, int64_t ow);

/* ---- normalisation ----
 * batch_norm: input [N, C, ...]; running stats, weight, bias [C] (each may be NULL,
 * running stats required in eval mode); training updates the running stats in place. */
ks_status ks_nn_batch_norm(ks_ctx *c, ks_tensor *input, ks_tensor **out, ks_tensor *running_mean,
                           ks_tensor *running_var, ks_tensor *weight, ks_tensor *bias, bool training,
                           double momentum, double eps);
/* layer_norm over the trailing dims given by normalized_shape; weight/bias of that shape or NULL */
ks_status ks_nn_layer_norm(ks_ctx *c, ks_tensor *input, ks_tensor **out, int nnorm, const int64_t *normalized_shape,
                           ks_tensor *weight, ks_tensor *bias, double eps);

/* ---- dropout: zero elements with probability p (from the context's generator), scale by 1/(1-p) ---- */
ks_status ks_nn_dropout(ks_ctx *c, ks_tensor *input, ks_tensor **out, double p, bool training);

/* ---- embedding: indices int64 [*] into weight [V, D] -> [*, D]; padding_idx < 0: none ---- */
ks_status ks_nn_embedding(ks_ctx *c, ks_tensor *indices, ks_tensor **out, ks_tensor *weight, int64_t padding_idx);

/* ---- activations (element-wise) ---- */
typedef enum {
    KS_ACT_RELU,
    KS_ACT_LEAKY_RELU, /* alpha = negative slope */
    KS_ACT_GELU,       /* exact (erf) */
    KS_ACT_GELU_TANH,  /* tanh approximation */
    KS_ACT_SILU,
    KS_ACT_TANH,
    KS_ACT_SIGMOID,
} ks_activation;
ks_status ks_nn_activation(ks_ctx *c, ks_activation act, ks_tensor *input, ks_tensor **out, double alpha);

/* ---- softmax / log_softmax over dim (through log-sum-exp) ---- */
ks_status ks_nn_softmax(ks_ctx *c, ks_tensor *input, ks_tensor **out, int dim, bool want_log);

/* ---- losses ---- */
typedef enum { KS_REDUCE_NONE, KS_REDUCE_MEAN, KS_REDUCE_SUM } ks_reduction;

/* cross entropy on logits [N, C] (or [N, C, d1, ...]) with int64 class targets
 * [N] (or [N, d1, ...]), optional class weights [C], ignore_index, label
 * smoothing in [0, 1]; or with float probability targets of the logits'
 * shape (soft targets, for mixup/cutmix). PyTorch's definitions: with
 * weights, the mean divides by the sum of the weights of the non-ignored
 * targets. */
typedef struct {
    ks_tensor *weight;     /* [C] or NULL */
    int64_t ignore_index;  /* default -100 */
    double label_smoothing;
    ks_reduction reduction;
} ks_ce_opts;
ks_status ks_nn_cross_entropy(ks_ctx *c, ks_tensor *logits, ks_tensor *target, ks_tensor **out, const ks_ce_opts *o);
/* nll_loss on log-probabilities: the same definitions with the log-softmax left out */
ks_status ks_nn_nll_loss(ks_ctx *c, ks_tensor *logp, ks_tensor *target, ks_tensor **out, const ks_ce_opts *o);

/* element-wise losses on input and target of one shape (float32):
 *   mse (x-y)^2; l1 |x-y|; smooth_l1 0.5 d^2/beta if |d| < beta else |d| - beta/2;
 *   bce_with_logits (1-y)x + (1+(pw-1)y) log(1+e^-x) (stable form);
 *   kl_div y (log y - x) with x log-probabilities (log_target: e^y (y - x)).
 * mean divides by the number of elements (batchmean: by the batch size). */
typedef enum { KS_LOSS_MSE, KS_LOSS_L1, KS_LOSS_SMOOTH_L1, KS_LOSS_BCE_LOGITS, KS_LOSS_KL_DIV } ks_pointwise_loss;
typedef struct {
    ks_reduction reduction;
    double beta;            /* smooth_l1, default 1 */
    ks_tensor *weight;      /* per-element weight (bce), or NULL */
    ks_tensor *pos_weight;  /* bce: [C] over the last dim, or NULL */
    bool log_target;        /* kl_div */
    bool batchmean;         /* kl_div: mean over the batch (dim 0) */
} ks_loss_opts;
ks_status ks_nn_pointwise_loss(ks_ctx *c, ks_pointwise_loss kind, ks_tensor *input, ks_tensor *target, ks_tensor **out,
                               const ks_loss_opts *o);

#endif
