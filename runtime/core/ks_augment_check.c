/* ks_augment_check.c: argument checks shared by the augmentation kernels. */
#include "ks_augment_impl.h"

#include <math.h>

ks_status ks_aug_check_prob(ks_ctx *c, const char *op, const char *name, double p)
{
    if (!(p >= 0.0 && p <= 1.0)) return ks_error(c, KS_EINVAL, "%s: %s must be in [0, 1], got %g", op, name, p);
    return KS_OK;
}

static void byte_range(const ks_tensor *t, const char **lo, const char **hi)
{
    *lo = ks_tensor_data(t);
    *hi = *lo + t->numel * (int64_t)ks_dtype_size(t->dtype);
}

ks_status ks_aug_check_alias(ks_ctx *c, const char *op, const ks_tensor *x, const ks_tensor *out, int in_place)
{
    char s[96];
    if (out->dtype != KS_FLOAT32 || !ks_tensor_is_contiguous(out))
        return ks_error(c, KS_ETYPE, "%s: out must be a contiguous float32 tensor, got %s %s", op,
                        ks_dtype_name(out->dtype), ks_shape_str(out, s, sizeof s));
    const char *a0, *a1, *b0, *b1;
    byte_range(x, &a0, &a1);
    byte_range(out, &b0, &b1);
    if (x->storage != out->storage || a1 <= b0 || b1 <= a0) return KS_OK;
    if (in_place && a0 == b0 && ks_same_shape(x, out)) return KS_OK;
    return ks_error(c, KS_EINVAL, "%s: out overlaps the input x (this transform needs a separate output)", op);
}

ks_status ks_aug_check_images(ks_ctx *c, const char *op, const ks_tensor *x, const ks_tensor *out, int64_t oh,
                              int64_t ow, int in_place, ks_img_geom *geom)
{
    char s[96], so[96];
    /* an empty image has no pixel to sample from (random_resized_crop would return zeros) */
    if (x->ndim == 4 && (x->size[2] < 1 || x->size[3] < 1))
        return ks_error(c, KS_ESHAPE, "%s: x has images of size %lld x %lld (H x W), expected at least 1 x 1 (x of shape %s)",
                        op, (long long)x->size[2], (long long)x->size[3], ks_shape_str(x, s, sizeof s));
    if (x->dtype != KS_FLOAT32 || x->ndim != 4 || !ks_tensor_is_contiguous(x))
        return ks_error(c, x->ndim != 4 ? KS_ESHAPE : KS_ETYPE,
                        "%s: x must be a contiguous float32 image batch [B, C, H, W], got %s %s", op,
                        ks_dtype_name(x->dtype), ks_shape_str(x, s, sizeof s));
    geom->B = x->size[0];
    geom->C = x->size[1];
    geom->H = x->size[2];
    geom->W = x->size[3];
    geom->OH = oh < 0 ? geom->H : oh;
    geom->OW = ow < 0 ? geom->W : ow;
    if (geom->OH < 1 || geom->OW < 1)
        return ks_error(c, KS_EINVAL, "%s: output size must be positive, got %lld x %lld", op, (long long)geom->OH,
                        (long long)geom->OW);
    if (out->ndim != 4 || out->size[0] != geom->B || out->size[1] != geom->C || out->size[2] != geom->OH ||
        out->size[3] != geom->OW)
        return ks_error(c, KS_ESHAPE, "%s: out has shape %s, expected [%lld, %lld, %lld, %lld] for x of shape %s", op,
                        ks_shape_str(out, so, sizeof so), (long long)geom->B, (long long)geom->C,
                        (long long)geom->OH, (long long)geom->OW, ks_shape_str(x, s, sizeof s));
    ks_status st = ks_aug_check_alias(c, op, x, out, in_place);
    if (st) return st;
    geom->src = ks_tensor_data(x);
    geom->dst = ks_tensor_data(out);
    return KS_OK;
}
