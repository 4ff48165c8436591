/* ks_augment.h: seeded batch augmentation of images and tabular rows.
 *
 * Images are contiguous float32 [B, C, H, W]; the output `out` is a
 * contiguous float32 tensor of the documented shape, preallocated by the
 * caller (so a training loop allocates nothing per step). Definitions follow
 * notes/augmentation.md.
 *
 * Determinism: every call first draws ALL per-image random parameters
 * serially from `g`, image by image in batch order, then runs the per-image
 * work with ks_parallel_for over images. Per-pixel random values (noise,
 * random erasing fill) come from Philox blocks reserved up front, image b
 * owning a fixed block range. So a seed gives the same batch for any thread
 * count, and the generator advances by an amount that depends only on the
 * batch shape and the parameters drawn.
 *
 * Aliasing: kernels marked "in place" accept out == x (same storage and
 * offset); the others need an out that does not overlap x (KS_EINVAL).
 * Probabilities p are in [0, 1]; an image not selected is copied unchanged
 * (or centre-cropped when the output size differs).
 */
#ifndef KS_AUGMENT_H
#define KS_AUGMENT_H

#include "ks_random.h"
#include "ks_tensor.h"

typedef enum ks_pad_mode { KS_PAD_CONSTANT = 0, KS_PAD_REFLECT } ks_pad_mode;

/* Random crop with padding, fused with random flips (one pass).
 * out [B, C, out_h, out_w]: the window at a uniform offset in
 * [0, H + 2*pad - out_h] x [0, W + 2*pad - out_w] of x padded by `pad`
 * (constant `fill`, or reflect without edge repeat, needing pad < H and W),
 * then flipped left-right with probability hflip_p and up-down with vflip_p.
 * With probability 1 - p the window is the centre one, at offset
 * floor(margin / 2) (torchvision's CenterCrop rounds half to even: one
 * pixel further when the margin is odd and its half rounds up). */
typedef struct ks_aug_crop {
    int64_t out_h, out_w, pad;
    ks_pad_mode mode;
    float fill;
    double p, hflip_p, vflip_p;
} ks_aug_crop;
ks_status ks_aug_crop_flip(ks_ctx *c, const ks_tensor *x, ks_tensor *out, ks_generator *g, const ks_aug_crop *prm);

/* Flip left-right (horizontal = 1) or up-down (horizontal = 0) each image with
 * probability p. In place. */
ks_status ks_aug_flip(ks_ctx *c, const ks_tensor *x, ks_tensor *out, ks_generator *g, int horizontal, double p);

/* Rotation by theta ~ U(deg_lo, deg_hi) degrees counter-clockwise about the
 * centre ((W-1)/2, (H-1)/2), bilinear, `fill` outside; multiples of 90
 * degrees are exact pixel permutations. out [B, C, H, W]. */
ks_status ks_aug_rotate(ks_ctx *c, const ks_tensor *x, ks_tensor *out, ks_generator *g, double deg_lo, double deg_hi,
                        float fill, double p);

/* Translation by tx ~ U(-fx*W, fx*W), ty ~ U(-fy*H, fy*H) pixels, rounded to
 * integers unless subpixel (then bilinear); `fill` outside. out [B, C, H, W]. */
ks_status ks_aug_translate(ks_ctx *c, const ks_tensor *x, ks_tensor *out, ks_generator *g, double fx, double fy,
                           int subpixel, float fill, double p);

/* Random affine (torchvision's RandomAffine, drawn in this order): angle
 * theta ~ U(deg_lo, deg_hi) counter-clockwise (as ks_aug_rotate). The whole
 * map is torchvision's affine mirrored: kshot (theta, phi_x, phi_y) equals
 * torchvision's affine(-theta, shear = (-phi_x, -phi_y)), so symmetric
 * ranges draw the same distribution and lopsided ones turn and shear the
 * other way (a positive phi_x moves the top row left); a translation
 * of round(U(-tx*W, tx*W)), round(U(-ty*H, ty*H)) pixels; a scale s ~
 * U(scale_lo, scale_hi); shears phi_x ~ U(shear_x_lo, shear_x_hi), phi_y ~
 * U(shear_y_lo, shear_y_hi) degrees. About the centre ((W-1)/2, (H-1)/2) the
 * image moves by s * R(theta) * [1 0; tan phi_y 1] * [1 tan phi_x; 0 1] on
 * (x, y), then by the translation; bilinear over the image extended by
 * `fill` (torchvision instead blends border pixels with a mask for a
 * non-zero fill). Scale 1 and no shear give exactly ks_aug_rotate's image.
 * out [B, C, H, W]. */
typedef struct ks_aug_affine_params {
    double deg_lo, deg_hi, scale_lo, scale_hi, shear_x_lo, shear_x_hi, shear_y_lo, shear_y_hi;
    double translate_x, translate_y, p;
    float fill;
} ks_aug_affine_params;
ks_status ks_aug_affine(ks_ctx *c, const ks_tensor *x, ks_tensor *out, ks_generator *g, const ks_aug_affine_params *prm);

/* Elastic deformation (Simard et al. 2003, torchvision's ElasticTransform
 * convention): per image two fields of U(-1, 1) values, each blurred by a
 * normalised Gaussian of std sigma (kernel size 8*sigma + 1 rounded down,
 * made odd, reflect padding), scaled by alpha / 2, give every output pixel's
 * displacement (dx, dy) in pixels; out(y, x) = bilinear x at (y + dy, x + dx),
 * `fill` outside. (Simard's alpha is this alpha / 2.) The uniforms come from
 * Philox blocks reserved up front, image b owning a fixed range.
 * out [B, C, H, W], all channels moved alike. */
ks_status ks_aug_elastic(ks_ctx *c, const ks_tensor *x, ks_tensor *out, ks_generator *g, double alpha, double sigma,
                         float fill, double p);

/* Random resized crop (torchvision's sampling): area share U(scale_lo,
 * scale_hi), aspect ratio log-uniform in (ratio_lo, ratio_hi), up to 10
 * attempts, else the centre crop with the ratio clamped; the box is resized
 * to out [B, C, out_h, out_w] bilinearly (half-pixel centres, edges clamped
 * to the box). */
typedef struct ks_aug_rrc {
    double scale_lo, scale_hi, ratio_lo, ratio_hi, p;
} ks_aug_rrc;
ks_status ks_aug_resized_crop(ks_ctx *c, const ks_tensor *x, ks_tensor *out, ks_generator *g, const ks_aug_rrc *prm);

/* x + mean + std * N(0, 1) per element, then clamp to [lo, hi] when clamp. In place. */
ks_status ks_aug_noise(ks_ctx *c, const ks_tensor *x, ks_tensor *out, ks_generator *g, double mean, double std,
                       int clamp, double lo, double hi, double p);

/* pivot + (x - pivot) * contrast + brightness, contrast ~ U(c_lo, c_hi),
 * brightness ~ U(b_lo, b_hi) per image, then optional clamp. pivot 0: the
 * plain x * c + b; pivot = the standardised value of black scales the pixel
 * intensities of standardised images. In place. */
typedef struct ks_aug_bc {
    double b_lo, b_hi, c_lo, c_hi, lo, hi, p, pivot;
    int clamp;
} ks_aug_bc;
ks_status ks_aug_brightness_contrast(ks_ctx *c, const ks_tensor *x, ks_tensor *out, ks_generator *g,
                                     const ks_aug_bc *prm);

/* Random erasing (Zhong et al.): with probability p, up to `attempts` tries of
 * area U(scale_lo, scale_hi)*H*W and aspect U(ratio_lo, ratio_hi) (uniform,
 * as the paper; log_ratio selects torchvision's log-uniform); h = round(
 * sqrt(area*r)), w = round(sqrt(area/r)); accepted when 1 <= h < H and
 * 1 <= w < W; top-left uniform. The box (all channels) is filled with
 * `value`, with U(lo, hi) per pixel (RANDOM) or the image's channel mean
 * (MEAN). In place. */
typedef enum ks_erase_fill { KS_ERASE_CONST = 0, KS_ERASE_RANDOM, KS_ERASE_MEAN } ks_erase_fill;
typedef struct ks_aug_erase_params {
    double p, scale_lo, scale_hi, ratio_lo, ratio_hi;
    int attempts, log_ratio;
    ks_erase_fill fill;
    float value, lo, hi;
} ks_aug_erase_params;
/* boxes (optional, int64 [B, 4]: top, left, h, w; h = w = 0 when not erased) */
ks_status ks_aug_erase(ks_ctx *c, const ks_tensor *x, ks_tensor *out, ks_generator *g, const ks_aug_erase_params *prm,
                       ks_tensor *boxes);

/* ---- mixing (Zhang et al. mixup; Yun et al. CutMix) ----
 * Both draw, always in this order, the batch's coin (probability p), lambda
 * and a permutation perm of the batch (int64 [B], written by the call; cutmix
 * then the box centre), and report the lambda used (1 when the batch was not
 * selected). mixup: out = lam*x + (1-lam)*x[perm];
 * alpha <= 0 means lam = 1. cutmix: lam ~ Beta(beta, beta), a box of
 * half-sizes floor(H*sqrt(1-lam)/2) x floor(W*sqrt(1-lam)/2) on each side
 * of a uniform centre (as the paper's code), clipped, taken from x[perm];
 * lam is recomputed as the kept share of pixels.
 * box (optional, 4 int64: top, left, h, w). out must not overlap x. */
ks_status ks_aug_mixup(ks_ctx *c, const ks_tensor *x, ks_tensor *out, ks_generator *g, double alpha, double p,
                       ks_tensor *perm, double *lambda);
ks_status ks_aug_cutmix(ks_ctx *c, const ks_tensor *x, ks_tensor *out, ks_generator *g, double beta, double p,
                        ks_tensor *perm, double *lambda, int64_t box[4]);
/* Soft targets out [B, K] = lam*onehot(y) + (1-lam)*onehot(y[perm]); y is
 * int64 labels [B] in [0, K) or float32 soft targets [B, K]. */
ks_status ks_aug_mix_targets(ks_ctx *c, const ks_tensor *y, const ks_tensor *perm, double lambda, int64_t nclasses,
                             ks_tensor *out);

/* ---- tabular rows x [N, F] float32 contiguous ----
 * Gaussian jitter: out = x + sigma * std[f] * N(0, 1) per element, each row
 * with probability p; std float32 [F] (NULL: the population std of each
 * column of x). In place. */
ks_status ks_aug_gauss_jitter(ks_ctx *c, const ks_tensor *x, ks_tensor *out, ks_generator *g, const ks_tensor *std,
                              double sigma, double p);
/* SMOTE-style interpolation: for each base row b = bases[i] (int64 [M]), a
 * neighbour drawn uniformly among the k nearest rows of the same class
 * (squared Euclidean, ties by index, itself excluded; all the class's other
 * rows when it has <= k), then out[i] = x[b] + u * (x[nn] - x[b]),
 * u ~ U(0, 1). A row alone in its class is copied. out [M, F]. */
ks_status ks_aug_smote(ks_ctx *c, const ks_tensor *x, const ks_tensor *labels, const ks_tensor *bases,
                       ks_tensor *out, ks_generator *g, int64_t k);

#endif
