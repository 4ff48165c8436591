/* ks_augment_geometric.c: crop (+ fused flips), flips, rotation, translation,
 * random resized crop (contracts in ks_augment.h). */
#include "ks_augment_impl.h"

#include <math.h>
#include <string.h>

/* ------------------------------------------------------ crop with flips */
typedef struct crop_img {
    int64_t oy, ox; /* window offset in padded coordinates */
    int hf, vf;
} crop_img;

typedef struct crop_job {
    ks_img_geom g;
    const ks_aug_crop *prm;
    const crop_img *img;
} crop_job;

/* numpy "reflect" (no edge repeat); needs n >= 2 and |overshoot| < n */
static inline int64_t reflect(int64_t i, int64_t n)
{
    if (i < 0) return -i;
    if (i >= n) return 2 * (n - 1) - i;
    return i;
}

/* One output row in constant mode: fill, a copy (reversed when hf), fill.
 * srow NULL: the row lies in the padding. */
static void crop_row_const(float *d, const float *srow, int64_t ow, int64_t W, int64_t s0, int hf, float fill)
{
    if (!srow) {
        for (int64_t j = 0; j < ow; j++) d[j] = fill;
        return;
    }
    /* output column j reads source column s0 + (hf ? ow-1-j : j); crop columns [a, b) are inside */
    int64_t a = s0 < 0 ? -s0 : 0, b = W - s0 < ow ? W - s0 : ow;
    if (b < a) b = a;
    int64_t ja = hf ? ow - b : a, jb = hf ? ow - a : b;
    for (int64_t j = 0; j < ja; j++) d[j] = fill;
    if (!hf) {
        if (b > a) memcpy(d + a, srow + (s0 + a), (size_t)(b - a) * sizeof *d);
    } else {
        int64_t last = s0 + ow - 1; /* source column of output column 0 */
        for (int64_t j = ja; j < jb; j++) d[j] = srow[last - j];
    }
    for (int64_t j = jb; j < ow; j++) d[j] = fill;
}

static void crop_plane(const crop_job *j, const crop_img *im, const float *s, float *d)
{
    const ks_img_geom *g = &j->g;
    int64_t P = j->prm->pad;
    int refl = j->prm->mode == KS_PAD_REFLECT;
    for (int64_t i = 0; i < g->OH; i++) {
        int64_t r = im->oy + (im->vf ? g->OH - 1 - i : i) - P;
        float *drow = d + i * g->OW;
        if (refl) {
            const float *srow = s + reflect(r, g->H) * g->W;
            for (int64_t q = 0; q < g->OW; q++)
                drow[q] = srow[reflect(im->ox + (im->hf ? g->OW - 1 - q : q) - P, g->W)];
        } else {
            const float *srow = r >= 0 && r < g->H ? s + r * g->W : NULL;
            crop_row_const(drow, srow, g->OW, g->W, im->ox - P, im->hf, j->prm->fill);
        }
    }
}

static ks_status crop_chunk(void *arg, int64_t b0, int64_t b1)
{
    const crop_job *j = arg;
    const ks_img_geom *g = &j->g;
    for (int64_t b = b0; b < b1; b++)
        for (int64_t ch = 0; ch < g->C; ch++) {
            int64_t p = b * g->C + ch;
            crop_plane(j, &j->img[b], g->src + p * g->H * g->W, g->dst + p * g->OH * g->OW);
        }
    return KS_OK;
}

static ks_status check_crop(ks_ctx *c, const ks_img_geom *g, const ks_aug_crop *prm)
{
    const char *op = "random_crop";
    ks_status st;
    if ((st = ks_aug_check_prob(c, op, "p", prm->p)) || (st = ks_aug_check_prob(c, op, "hflip", prm->hflip_p)) ||
        (st = ks_aug_check_prob(c, op, "vflip", prm->vflip_p)))
        return st;
    if (prm->pad < 0 || prm->pad > (1 << 30))
        return ks_error(c, KS_EINVAL, "%s: padding must be in [0, 2^30], got %lld", op, (long long)prm->pad);
    if (g->OH > g->H + 2 * prm->pad || g->OW > g->W + 2 * prm->pad)
        return ks_error(c, KS_EINVAL, "%s: size %lld x %lld is larger than the padded image %lld x %lld", op,
                        (long long)g->OH, (long long)g->OW, (long long)(g->H + 2 * prm->pad),
                        (long long)(g->W + 2 * prm->pad));
    if (prm->mode == KS_PAD_REFLECT && (prm->pad >= g->H || prm->pad >= g->W))
        return ks_error(c, KS_EINVAL, "%s: reflect padding %lld needs images larger than the padding, got %lld x %lld",
                        op, (long long)prm->pad, (long long)g->H, (long long)g->W);
    return KS_OK;
}

ks_status ks_aug_crop_flip(ks_ctx *c, const ks_tensor *x, ks_tensor *out, ks_generator *g, const ks_aug_crop *prm)
{
    crop_job j = {.prm = prm};
    ks_status st = ks_aug_check_images(c, "random_crop", x, out, prm->out_h, prm->out_w, 0, &j.g);
    if (st || (st = check_crop(c, &j.g, prm))) return st;
    crop_img local[512];
    ks_scratch sc;
    crop_img *im = ks_scratch_get(c, &sc, local, sizeof local, (size_t)j.g.B * sizeof *im);
    if (!im) return KS_ENOMEM;
    int64_t ny = j.g.H + 2 * prm->pad - j.g.OH + 1, nx = j.g.W + 2 * prm->pad - j.g.OW + 1;
    for (int64_t b = 0; b < j.g.B; b++) {
        int apply = ks_aug_coin(g, prm->p);
        im[b].oy = (int64_t)ks_random_below(g, (uint64_t)ny);
        im[b].ox = (int64_t)ks_random_below(g, (uint64_t)nx);
        im[b].hf = ks_aug_coin(g, prm->hflip_p);
        im[b].vf = ks_aug_coin(g, prm->vflip_p);
        if (!apply) im[b].oy = (ny - 1) / 2, im[b].ox = (nx - 1) / 2;
    }
    j.img = im;
    st = ks_parallel_for(c, j.g.B, ks_aug_grain(j.g.C * j.g.OH * j.g.OW), crop_chunk, &j);
    ks_scratch_free(&sc);
    ks_tensor_bump_version(out);
    return st;
}

/* ------------------------------------------------------------- flips */
typedef struct flip_job {
    ks_img_geom g;
    const unsigned char *on;
    int horizontal;
} flip_job;

static void flip_plane(const flip_job *j, const float *s, float *d)
{
    int64_t H = j->g.H, W = j->g.W;
    if (j->horizontal) {
        for (int64_t i = 0; i < H; i++) {
            const float *sr = s + i * W;
            float *dr = d + i * W;
            for (int64_t q = 0; q < (W + 1) / 2; q++) { /* swap pairs: works in place */
                float a = sr[q], b = sr[W - 1 - q];
                dr[q] = b;
                dr[W - 1 - q] = a;
            }
        }
        return;
    }
    for (int64_t i = 0; i < (H + 1) / 2; i++) {
        const float *sa = s + i * W, *sb = s + (H - 1 - i) * W;
        float *da = d + i * W, *db = d + (H - 1 - i) * W;
        for (int64_t q = 0; q < W; q++) {
            float a = sa[q], b = sb[q];
            da[q] = b;
            db[q] = a;
        }
    }
}

static ks_status flip_chunk(void *arg, int64_t b0, int64_t b1)
{
    const flip_job *j = arg;
    int64_t n = j->g.C * j->g.H * j->g.W;
    for (int64_t b = b0; b < b1; b++) {
        const float *s = j->g.src + b * n;
        float *d = j->g.dst + b * n;
        if (!j->on[b]) {
            if (s != d) memcpy(d, s, (size_t)n * sizeof *d);
            continue;
        }
        for (int64_t ch = 0; ch < j->g.C; ch++) flip_plane(j, s + ch * j->g.H * j->g.W, d + ch * j->g.H * j->g.W);
    }
    return KS_OK;
}

ks_status ks_aug_flip(ks_ctx *c, const ks_tensor *x, ks_tensor *out, ks_generator *g, int horizontal, double p)
{
    const char *op = horizontal ? "hflip" : "vflip";
    flip_job j = {.horizontal = horizontal};
    ks_status st = ks_aug_check_images(c, op, x, out, -1, -1, 1, &j.g);
    if (st || (st = ks_aug_check_prob(c, op, "p", p))) return st;
    unsigned char local[4096];
    ks_scratch sc;
    if (!(j.on = ks_aug_coins(c, &sc, local, sizeof local, g, j.g.B, p))) return KS_ENOMEM;
    st = ks_parallel_for(c, j.g.B, ks_aug_grain(j.g.C * j.g.H * j.g.W), flip_chunk, &j);
    ks_scratch_free(&sc);
    ks_tensor_bump_version(out);
    return st;
}

/* ------------------------------------------- affine warps (bilinear, fill) */
/* source (sy, sx) = (m[0] + m[1]*y + m[2]*x, m[3] + m[4]*y + m[5]*x) */
typedef struct warp_img {
    double m[6];
    int apply;
} warp_img;

typedef struct warp_job {
    ks_img_geom g;
    const warp_img *img;
    float fill;
} warp_job;

/* coordinates within 1e-9 of an integer are snapped: exact 90-degree turns and integer shifts */
static inline double snap(double v)
{
    double r = nearbyint(v);
    return fabs(v - r) < 1e-9 ? r : v;
}

static void warp_plane(const warp_job *j, const warp_img *im, const float *s, float *d)
{
    int64_t H = j->g.H, W = j->g.W;
    for (int64_t y = 0; y < H; y++)
        for (int64_t x = 0; x < W; x++) {
            double sy = snap(im->m[0] + im->m[1] * (double)y + im->m[2] * (double)x);
            double sx = snap(im->m[3] + im->m[4] * (double)y + im->m[5] * (double)x);
            d[y * W + x] = ks_aug_bilinear(s, H, W, sy, sx, j->fill);
        }
}

static ks_status warp_chunk(void *arg, int64_t b0, int64_t b1)
{
    const warp_job *j = arg;
    int64_t n = j->g.H * j->g.W;
    for (int64_t b = b0; b < b1; b++)
        for (int64_t ch = 0; ch < j->g.C; ch++) {
            int64_t p = (b * j->g.C + ch) * n;
            if (j->img[b].apply) warp_plane(j, &j->img[b], j->g.src + p, j->g.dst + p);
            else memcpy(j->g.dst + p, j->g.src + p, (size_t)n * sizeof(float));
        }
    return KS_OK;
}

/* Draws each image's coin (probability p) then its matrix (draw(g, geometry, arg, m)),
 * image by image in batch order, then warps the batch in parallel. */
typedef void (*warp_draw_fn)(ks_generator *g, const ks_img_geom *geom, const void *arg, double m[6]);
static ks_status warp_batch(ks_ctx *c, warp_job *j, ks_tensor *out, ks_generator *g, double p, warp_draw_fn draw,
                            const void *arg)
{
    warp_img local[256];
    ks_scratch sc;
    warp_img *im = ks_scratch_get(c, &sc, local, sizeof local, (size_t)j->g.B * sizeof *im);
    if (!im) return KS_ENOMEM;
    for (int64_t b = 0; b < j->g.B; b++) {
        im[b].apply = ks_aug_coin(g, p);
        draw(g, &j->g, arg, im[b].m);
    }
    j->img = im;
    ks_status st = ks_parallel_for(c, j->g.B, ks_aug_grain(4 * j->g.C * j->g.H * j->g.W), warp_chunk, j);
    ks_scratch_free(&sc);
    ks_tensor_bump_version(out);
    return st;
}

/* cos/sin with exact zeros and ones at multiples of 90 degrees */
static void cos_sin_deg(double deg, double *cs, double *sn)
{
    double q = deg / 90.0;
    if (q == nearbyint(q)) {
        static const double cq[4] = {1, 0, -1, 0}, sq[4] = {0, 1, 0, -1};
        int k = (int)(((long long)nearbyint(q) % 4 + 4) % 4);
        *cs = cq[k];
        *sn = sq[k];
        return;
    }
    *cs = cos(deg * M_PI / 180.0);
    *sn = sin(deg * M_PI / 180.0);
}

typedef struct rotate_arg {
    double lo, hi;
} rotate_arg;

static void rotate_draw(ks_generator *g, const ks_img_geom *geom, const void *arg, double m[6])
{
    const rotate_arg *a = arg;
    double cy = (double)(geom->H - 1) / 2, cx = (double)(geom->W - 1) / 2, cs, sn;
    cos_sin_deg(ks_aug_unif(g, a->lo, a->hi), &cs, &sn);
    /* counter-clockwise on screen (y down): sx = cx + cs*dx - sn*dy, sy = cy + sn*dx + cs*dy */
    double r[6] = {cy - sn * cx - cs * cy, cs, sn, cx - cs * cx + sn * cy, -sn, cs};
    memcpy(m, r, sizeof r);
}

ks_status ks_aug_rotate(ks_ctx *c, const ks_tensor *x, ks_tensor *out, ks_generator *g, double deg_lo, double deg_hi,
                        float fill, double p)
{
    warp_job j = {.fill = fill};
    ks_status st = ks_aug_check_images(c, "random_rotation", x, out, -1, -1, 0, &j.g);
    if (st || (st = ks_aug_check_prob(c, "random_rotation", "p", p))) return st;
    if (!(deg_lo <= deg_hi) || !isfinite(deg_lo) || !isfinite(deg_hi))
        return ks_error(c, KS_EINVAL, "random_rotation: degrees must be a finite range lo <= hi, got (%g, %g)", deg_lo,
                        deg_hi);
    rotate_arg a = {deg_lo, deg_hi};
    return warp_batch(c, &j, out, g, p, rotate_draw, &a);
}

typedef struct translate_arg {
    double fx, fy;
    int subpixel;
} translate_arg;

static void translate_draw(ks_generator *g, const ks_img_geom *geom, const void *arg, double m[6])
{
    const translate_arg *a = arg;
    double tx = ks_aug_unif(g, -a->fx * (double)geom->W, a->fx * (double)geom->W);
    double ty = ks_aug_unif(g, -a->fy * (double)geom->H, a->fy * (double)geom->H);
    if (!a->subpixel) tx = nearbyint(tx), ty = nearbyint(ty);
    double r[6] = {-ty, 1, 0, -tx, 0, 1};
    memcpy(m, r, sizeof r);
}

ks_status ks_aug_translate(ks_ctx *c, const ks_tensor *x, ks_tensor *out, ks_generator *g, double fx, double fy,
                           int subpixel, float fill, double p)
{
    warp_job j = {.fill = fill};
    ks_status st = ks_aug_check_images(c, "random_translation", x, out, -1, -1, 0, &j.g);
    if (st || (st = ks_aug_check_prob(c, "random_translation", "p", p))) return st;
    if (!(fx >= 0 && fx <= 1 && fy >= 0 && fy <= 1))
        return ks_error(c, KS_EINVAL, "random_translation: max fractions must be in [0, 1], got (%g, %g)", fx, fy);
    translate_arg a = {fx, fy, subpixel};
    return warp_batch(c, &j, out, g, p, translate_draw, &a);
}

/* --------------------------------------------------- random resized crop */
typedef struct rrc_img {
    int64_t top, left, h, w;
} rrc_img;

typedef struct rrc_job {
    ks_img_geom g;
    const rrc_img *img;
} rrc_job;

/* Source coordinate of output index o (half-pixel centres), clamped to [0, n-1]. */
static inline double src_coord(int64_t o, int64_t out_n, int64_t n)
{
    double v = ((double)o + 0.5) * (double)n / (double)out_n - 0.5;
    return v < 0 ? 0 : v > (double)(n - 1) ? (double)(n - 1) : v;
}

static void rrc_plane(const rrc_job *j, const rrc_img *im, const float *s, float *d)
{
    int64_t W = j->g.W, OH = j->g.OH, OW = j->g.OW;
    for (int64_t y = 0; y < OH; y++) {
        double sy = src_coord(y, OH, im->h);
        int64_t y0 = (int64_t)sy, y1 = y0 + 1 < im->h ? y0 + 1 : y0;
        double wy = sy - (double)y0;
        const float *r0 = s + (im->top + y0) * W + im->left, *r1 = s + (im->top + y1) * W + im->left;
        for (int64_t x = 0; x < OW; x++) {
            double sx = src_coord(x, OW, im->w);
            int64_t x0 = (int64_t)sx, x1 = x0 + 1 < im->w ? x0 + 1 : x0;
            double wx = sx - (double)x0;
            d[y * OW + x] = (float)((1 - wy) * ((1 - wx) * r0[x0] + wx * r0[x1]) + wy * ((1 - wx) * r1[x0] + wx * r1[x1]));
        }
    }
}

static ks_status rrc_chunk(void *arg, int64_t b0, int64_t b1)
{
    const rrc_job *j = arg;
    const ks_img_geom *g = &j->g;
    for (int64_t b = b0; b < b1; b++)
        for (int64_t ch = 0; ch < g->C; ch++) {
            int64_t p = b * g->C + ch;
            rrc_plane(j, &j->img[b], g->src + p * g->H * g->W, g->dst + p * g->OH * g->OW);
        }
    return KS_OK;
}

/* torchvision's RandomResizedCrop.get_params, drawing from g. */
static rrc_img rrc_draw(ks_generator *g, int64_t H, int64_t W, const ks_aug_rrc *prm, int apply)
{
    if (!apply) return (rrc_img){0, 0, H, W};
    double area = (double)H * (double)W, lr0 = log(prm->ratio_lo), lr1 = log(prm->ratio_hi);
    for (int t = 0; t < 10; t++) {
        double a = area * ks_aug_unif(g, prm->scale_lo, prm->scale_hi);
        double r = exp(ks_aug_unif(g, lr0, lr1));
        int64_t w = ks_aug_round_dim(sqrt(a * r), W), h = ks_aug_round_dim(sqrt(a / r), H);
        if (w > 0 && w <= W && h > 0 && h <= H) {
            int64_t top = (int64_t)ks_random_below(g, (uint64_t)(H - h + 1));
            return (rrc_img){top, (int64_t)ks_random_below(g, (uint64_t)(W - w + 1)), h, w};
        }
    }
    double in_ratio = (double)W / (double)H;
    int64_t w = W, h = H;
    if (in_ratio < prm->ratio_lo) h = ks_aug_round_dim((double)w / prm->ratio_lo, H);
    else if (in_ratio > prm->ratio_hi) w = ks_aug_round_dim((double)h * prm->ratio_hi, W);
    if (h < 1) h = 1;
    if (w < 1) w = 1;
    return (rrc_img){(H - h) / 2, (W - w) / 2, h, w};
}

ks_status ks_aug_resized_crop(ks_ctx *c, const ks_tensor *x, ks_tensor *out, ks_generator *g, const ks_aug_rrc *prm)
{
    rrc_job j;
    const char *op = "random_resized_crop";
    ks_status st = ks_aug_check_images(c, op, x, out, out->ndim == 4 ? out->size[2] : -1,
                                       out->ndim == 4 ? out->size[3] : -1, 0, &j.g);
    if (st || (st = ks_aug_check_prob(c, op, "p", prm->p))) return st;
    if (!(prm->scale_lo > 0 && prm->scale_lo <= prm->scale_hi && prm->scale_hi <= 1))
        return ks_error(c, KS_EINVAL, "%s: scale must satisfy 0 < lo <= hi <= 1, got (%g, %g)", op, prm->scale_lo,
                        prm->scale_hi);
    if (!(prm->ratio_lo > 0 && prm->ratio_lo <= prm->ratio_hi && isfinite(prm->ratio_hi)))
        return ks_error(c, KS_EINVAL, "%s: ratio must satisfy 0 < lo <= hi, got (%g, %g)", op, prm->ratio_lo,
                        prm->ratio_hi);
    rrc_img local[256];
    ks_scratch sc;
    rrc_img *im = ks_scratch_get(c, &sc, local, sizeof local, (size_t)j.g.B * sizeof *im);
    if (!im) return KS_ENOMEM;
    for (int64_t b = 0; b < j.g.B; b++) {
        int apply = ks_aug_coin(g, prm->p);
        im[b] = rrc_draw(g, j.g.H, j.g.W, prm, apply);
    }
    j.img = im;
    st = ks_parallel_for(c, j.g.B, ks_aug_grain(4 * j.g.C * j.g.OH * j.g.OW), rrc_chunk, &j);
    ks_scratch_free(&sc);
    ks_tensor_bump_version(out);
    return st;
}

/* ----------------------------------------------------------- random affine */
static void affine_draw(ks_generator *g, const ks_img_geom *geom, const void *arg, double out_m[6])
{
    const ks_aug_affine_params *prm = arg;
    double cy = (double)(geom->H - 1) / 2, cx = (double)(geom->W - 1) / 2;
    double cs, sn;
    cos_sin_deg(ks_aug_unif(g, prm->deg_lo, prm->deg_hi), &cs, &sn);
    double tx = nearbyint(ks_aug_unif(g, -prm->translate_x * (double)geom->W, prm->translate_x * (double)geom->W));
    double ty = nearbyint(ks_aug_unif(g, -prm->translate_y * (double)geom->H, prm->translate_y * (double)geom->H));
    double s = ks_aug_unif(g, prm->scale_lo, prm->scale_hi);
    double hx = tan(ks_aug_unif(g, prm->shear_x_lo, prm->shear_x_hi) * M_PI / 180.0);
    double hy = tan(ks_aug_unif(g, prm->shear_y_lo, prm->shear_y_hi) * M_PI / 180.0);
    /* forward map on (x, y) about the centre: s * R * SHy * SHx, R = [cs sn; -sn cs] (counter-clockwise
     * on screen, y down), SHx = [1 hx; 0 1], SHy = [1 0; hy 1] */
    double h00 = 1, h01 = hx, h10 = hy, h11 = hy * hx + 1;
    double a00 = s * (cs * h00 + sn * h10), a01 = s * (cs * h01 + sn * h11);
    double a10 = s * (-sn * h00 + cs * h10), a11 = s * (-sn * h01 + cs * h11);
    double det = a00 * a11 - a01 * a10; /* = s^2 > 0: shears have determinant 1 */
    double i00 = a11 / det, i01 = -a01 / det, i10 = -a10 / det, i11 = a00 / det;
    if (s == 1 && hx == 0 && hy == 0) i00 = cs, i01 = -sn, i10 = sn, i11 = cs; /* exact as random_rotation */
    /* source = centre + A^-1 (dest - centre - t); m maps (y, x) */
    double ox = -cx - tx, oy = -cy - ty;
    double m[6] = {cy + i10 * ox + i11 * oy, i11, i10, cx + i00 * ox + i01 * oy, i01, i00};
    memcpy(out_m, m, sizeof m);
}

ks_status ks_aug_affine(ks_ctx *c, const ks_tensor *x, ks_tensor *out, ks_generator *g, const ks_aug_affine_params *prm)
{
    const char *op = "random_affine";
    warp_job j = {.fill = prm->fill};
    ks_status st = ks_aug_check_images(c, op, x, out, -1, -1, 0, &j.g);
    if (st || (st = ks_aug_check_prob(c, op, "p", prm->p))) return st;
    const char *names[4] = {"degrees", "scale", "shear_x", "shear_y"};
    const double r[4][2] = {{prm->deg_lo, prm->deg_hi},
                            {prm->scale_lo, prm->scale_hi},
                            {prm->shear_x_lo, prm->shear_x_hi},
                            {prm->shear_y_lo, prm->shear_y_hi}};
    for (int k = 0; k < 4; k++) {
        if (!(r[k][0] <= r[k][1]) || !isfinite(r[k][0]) || !isfinite(r[k][1]))
            return ks_error(c, KS_EINVAL, "%s: %s must be a finite range lo <= hi, got (%g, %g)", op, names[k],
                            r[k][0], r[k][1]);
        if (k >= 2 && !(r[k][0] > -90 && r[k][1] < 90))
            return ks_error(c, KS_EINVAL, "%s: %s angles must be in (-90, 90) degrees, got (%g, %g)", op, names[k],
                            r[k][0], r[k][1]);
    }
    if (!(prm->scale_lo > 0))
        return ks_error(c, KS_EINVAL, "%s: scale must be > 0, got (%g, %g)", op, prm->scale_lo, prm->scale_hi);
    if (!(prm->translate_x >= 0 && prm->translate_x <= 1 && prm->translate_y >= 0 && prm->translate_y <= 1))
        return ks_error(c, KS_EINVAL, "%s: translate fractions must be in [0, 1], got (%g, %g)", op, prm->translate_x,
                        prm->translate_y);
    return warp_batch(c, &j, out, g, prm->p, affine_draw, prm);
}
