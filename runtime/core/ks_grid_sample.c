/* ks_grid_sample.c: F.grid_sample (2-D, bilinear / nearest, zeros / border /
 * reflection padding, align_corners) forward and backward, in the form of
 * torch 1.13's CPU kernel (GridSamplerKernel.cpp): the same coordinate map,
 * clip and reflection, and the same order of the bilinear sums, so values
 * agree to float rounding. Contract in ks_grid_sample.h. */
#include "ks_grid_sample.h"
#include "ks_threads.h"

#include <math.h>
#include <string.h>

/* the per-point helpers below are small and hot: inline them into the loops */
#if defined(__GNUC__)
#define GS_INLINE static inline __attribute__((always_inline))
#else
#define GS_INLINE static inline
#endif

/* ---------------------------------------------------------------- coordinates */
/* one side of the input: n pixels; position = (g + 1) * scale - shift */
typedef struct {
    float scale;      /* d position / d g */
    float shift;      /* 0 (align_corners) or 0.5 */
    float twice_span; /* the reflection period: 2 (n - 1) or 2 n */
    float max;        /* n - 1, the last pixel */
} gs_axis;

static gs_axis make_axis(int64_t n, bool align)
{
    gs_axis a;
    a.scale = align ? (float)(n - 1) / 2 : (float)n / 2;
    a.shift = align ? 0.f : 0.5f;
    a.twice_span = align ? 2.f * (float)(n - 1) : 2.f * (float)n;
    a.max = (float)(n - 1);
    return a;
}

/* v clipped to [0, max] (NaN stays NaN); *grad is 1 strictly inside, 0 on and
 * beyond the borders (torch counts the borders as outside for the gradient) */
GS_INLINE float clip(float v, float max, float *grad)
{
    *grad = v > 0 && v < max ? 1.f : 0.f;
    if (v < 0) return 0;
    return v > max ? max : v;
}

/* v mirrored into the span between the two mirrors (-shift and max + shift),
 * folding the distance from the low mirror modulo the period; *grad = +-1,
 * the sign of d result / d v (a side of one pixel with align_corners: 0) */
GS_INLINE float reflect(float v, const gs_axis *a, float *grad)
{
    if (a->twice_span == 0) { *grad = 0; return 0; }
    float d = v + a->shift;
    bool neg = d < 0;
    float ad = fabsf(d);
    float extra = ad - truncf(ad / a->twice_span) * a->twice_span;
    float back = a->twice_span - extra;
    bool flip = extra > back;
    *grad = flip != neg ? -1.f : 1.f;
    return (flip ? back : extra) - a->shift;
}

/* the pixel position of normalized g after padding, and d position / d g */
GS_INLINE float source_pos(float g, const gs_axis *a, ks_gs_padding pad, float *grad)
{
    float v = (g + 1) * a->scale - a->shift, gc, gr;
    if (pad == KS_GS_ZEROS) { *grad = a->scale; return v; }
    if (pad == KS_GS_BORDER) { v = clip(v, a->max, &gc); *grad = a->scale * gc; return v; }
    v = reflect(v, a, &gr);
    v = clip(v, a->max, &gc);
    *grad = a->scale * gr * gc;
    return v;
}

/* floor without a libm call (x86-64 without SSE4.1 has no floor instruction);
 * |x| >= 2^23 is integral already, NaN and inf pass through */
GS_INLINE float fast_floor(float x)
{
    if (!(fabsf(x) < 8388608.f)) return x;
    float t = (float)(int32_t)x;
    return t > x ? t - 1 : t;
}

/* round half to even, as torch's nearest mode (Vectorized::round): adding
 * and removing 1.5 * 2^23 rounds |x| < 2^22 in the default rounding mode */
GS_INLINE float round_even(float x)
{
    if (fabsf(x) < 4194304.f) return (x + 12582912.f) - 12582912.f;
    return rintf(x);
}

/* integer pixel of an integral position p when it lies in [lo, hi] (floats,
 * so huge or NaN positions never reach the conversion) */
GS_INLINE bool pixel_in(float p, float lo, float hi, int64_t *i)
{
    if (!(p >= lo && p <= hi)) return false;
    *i = (int64_t)p;
    return true;
}

/* ---------------------------------------------------------------- one sample point */
typedef struct {
    int64_t N, C, H, W, Ho, Wo;
    int64_t xs[4], gs[4], os[4]; /* strides of input, grid, grad_output */
    const float *x, *g, *go;
    float *y, *dx, *dg;           /* contiguous outputs */
    ks_grid_sample_opts o;
    gs_axis ax, ay;
    float wmax, hmax; /* W - 1, H - 1 */
} gs_job;

/* the four neighbours of (px, py) (q = 0..3: nw, ne, sw, se): their input
 * offsets (0 when outside, so a read is always safe), pixel indices in a
 * contiguous plane, in-image flags and bilinear weights */
typedef struct {
    int64_t off[4], pix[4];
    bool in[4];
    float w[4];
    float e, we, s, n; /* distances to the east/west and south/north neighbours */
} corners;

GS_INLINE void bilinear_corners(const gs_job *j, float px, float py, corners *k)
{
    float xw = fast_floor(px), yn = fast_floor(py);
    k->we = px - xw;
    k->e = 1 - k->we;
    k->n = py - yn;
    k->s = 1 - k->n;
    k->w[0] = k->s * k->e;
    k->w[1] = k->s * k->we;
    k->w[2] = k->n * k->e;
    k->w[3] = k->n * k->we;
    int64_t x0 = 0, y0 = 0;
    bool xok = pixel_in(xw, -1, j->wmax, &x0), yok = pixel_in(yn, -1, j->hmax, &y0);
    bool xa = xok && x0 >= 0, xb = xok && x0 + 1 < j->W, ya = yok && y0 >= 0, yb = yok && y0 + 1 < j->H;
    k->in[0] = xa && ya;
    k->in[1] = xb && ya;
    k->in[2] = xa && yb;
    k->in[3] = xb && yb;
    int64_t o = y0 * j->xs[2] + x0 * j->xs[3], p = y0 * j->W + x0;
    k->off[0] = k->in[0] ? o : 0;
    k->off[1] = k->in[1] ? o + j->xs[3] : 0;
    k->off[2] = k->in[2] ? o + j->xs[2] : 0;
    k->off[3] = k->in[3] ? o + j->xs[2] + j->xs[3] : 0;
    k->pix[0] = p;
    k->pix[1] = p + 1;
    k->pix[2] = p + j->W;
    k->pix[3] = p + j->W + 1;
}

/* the nearest pixel of (px, py); false when it is outside the image */
GS_INLINE bool nearest_pixel(const gs_job *j, float px, float py, int64_t *ih, int64_t *iw)
{
    return pixel_in(round_even(px), 0, j->wmax, iw) && pixel_in(round_even(py), 0, j->hmax, ih);
}

/* source position of output point (n, ho, wo); mx, my: d position / d grid */
GS_INLINE void point_pos(const gs_job *j, int64_t n, int64_t ho, int64_t wo, float *px, float *py, float *mx, float *my)
{
    const float *gp = j->g + n * j->gs[0] + ho * j->gs[1] + wo * j->gs[2];
    *px = source_pos(gp[0], &j->ax, j->o.padding, mx);
    *py = source_pos(gp[j->gs[3]], &j->ay, j->o.padding, my);
}

/* ---------------------------------------------------------------- forward */
/* tasks are output rows r = n * Ho + ho */
static ks_status forward_rows(void *arg, int64_t r0, int64_t r1)
{
    const gs_job *j = arg;
    int64_t HoWo = j->Ho * j->Wo;
    for (int64_t r = r0; r < r1; r++) {
        int64_t n = r / j->Ho, ho = r % j->Ho;
        const float *xn = j->x + n * j->xs[0];
        float *yrow = j->y + n * j->C * HoWo + ho * j->Wo;
        for (int64_t wo = 0; wo < j->Wo; wo++) {
            float px, py, mx, my;
            point_pos(j, n, ho, wo, &px, &py, &mx, &my);
            if (j->o.mode == KS_GS_NEAREST) {
                int64_t ih, iw;
                bool in = nearest_pixel(j, px, py, &ih, &iw);
                int64_t off = in ? ih * j->xs[2] + iw * j->xs[3] : 0;
                for (int64_t c = 0; c < j->C; c++) yrow[c * HoWo + wo] = in ? xn[c * j->xs[1] + off] : 0.f;
                continue;
            }
            corners k;
            bilinear_corners(j, px, py, &k);
            for (int64_t c = 0; c < j->C; c++) {
                const float *plane = xn + c * j->xs[1];
                float v0 = plane[k.off[0]], v1 = plane[k.off[1]], v2 = plane[k.off[2]], v3 = plane[k.off[3]];
                v0 = k.in[0] ? v0 : 0.f;
                v1 = k.in[1] ? v1 : 0.f;
                v2 = k.in[2] ? v2 : 0.f;
                v3 = k.in[3] ? v3 : 0.f;
                yrow[c * HoWo + wo] = v0 * k.w[0] + v1 * k.w[1] + v2 * k.w[2] + v3 * k.w[3];
            }
        }
    }
    return KS_OK;
}

/* ---------------------------------------------------------------- backward */
/* bilinear gradients of one point: grad_input scatters (into dxn, image n's
 * contiguous planes), grad_grid sums over channels in channel order */
static void backward_bilinear(const gs_job *j, int64_t n, int64_t ho, int64_t wo, float px, float py, float mx,
                              float my, float *dxn, float *dgp)
{
    corners k;
    bilinear_corners(j, px, py, &k);
    const float *xn = j->x + n * j->xs[0], *gon = j->go + n * j->os[0] + ho * j->os[2] + wo * j->os[3];
    int64_t HW = j->H * j->W;
    float gx = 0, gy = 0;
    for (int64_t c = 0; c < j->C; c++) {
        float go = gon[c * j->os[1]];
        if (dxn) {
            float *plane = dxn + c * HW;
            for (int q = 0; q < 4; q++)
                if (k.in[q]) plane[k.pix[q]] += k.w[q] * go;
        }
        if (dgp) { /* scalars, not an array: a store/reload of v[] stalls store forwarding */
            const float *plane = xn + c * j->xs[1];
            float v0 = plane[k.off[0]], v1 = plane[k.off[1]], v2 = plane[k.off[2]], v3 = plane[k.off[3]];
            v0 = k.in[0] ? v0 : 0.f;
            v1 = k.in[1] ? v1 : 0.f;
            v2 = k.in[2] ? v2 : 0.f;
            v3 = k.in[3] ? v3 : 0.f;
            gx = gx + ((v1 - v0) * k.s + (v3 - v2) * k.n) * go;
            gy = gy + ((v2 - v0) * k.e + (v3 - v1) * k.we) * go;
        }
    }
    if (dgp) { dgp[0] = gx * mx; dgp[1] = gy * my; }
}

/* tasks are images n: each writes only its own planes of grad_input and
 * rows of grad_grid, in a fixed point order */
static ks_status backward_images(void *arg, int64_t n0, int64_t n1)
{
    const gs_job *j = arg;
    int64_t HW = j->H * j->W;
    for (int64_t n = n0; n < n1; n++) {
        float *dxn = j->dx ? j->dx + n * j->C * HW : NULL;
        if (dxn) memset(dxn, 0, (size_t)(j->C * HW) * sizeof(float));
        for (int64_t ho = 0; ho < j->Ho; ho++)
            for (int64_t wo = 0; wo < j->Wo; wo++) {
                float px, py, mx, my;
                point_pos(j, n, ho, wo, &px, &py, &mx, &my);
                float *dgp = j->dg ? j->dg + ((n * j->Ho + ho) * j->Wo + wo) * 2 : NULL;
                if (j->o.mode == KS_GS_BILINEAR) { backward_bilinear(j, n, ho, wo, px, py, mx, my, dxn, dgp); continue; }
                if (dgp) dgp[0] = dgp[1] = 0; /* nearest: piecewise constant in the grid */
                int64_t ih, iw;
                if (!dxn || !nearest_pixel(j, px, py, &ih, &iw)) continue;
                const float *gon = j->go + n * j->os[0] + ho * j->os[2] + wo * j->os[3];
                for (int64_t c = 0; c < j->C; c++) dxn[c * HW + ih * j->W + iw] += gon[c * j->os[1]];
            }
    }
    return KS_OK;
}

/* ---------------------------------------------------------------- entry points */
ks_status ks_grid_sample2d_check(ks_ctx *c, const ks_tensor *input, const ks_tensor *grid, const ks_grid_sample_opts *o)
{
    char a[160], b[160];
    const ks_tensor *t[2] = {input, grid};
    const char *names[2] = {"input", "grid"};
    for (int i = 0; i < 2; i++)
        if (t[i]->dtype != KS_FLOAT32)
            return ks_error(c, KS_ETYPE, "grid_sample: argument '%s' must be a float32 tensor, got %s", names[i],
                            ks_dtype_name(t[i]->dtype));
    if (input->ndim != 4)
        return ks_error(c, KS_ESHAPE, "grid_sample: input must be 4-D [N, C, H, W] (only 2-D sampling), got %s",
                        ks_shape_str(input, a, sizeof a));
    if (grid->ndim != 4 || grid->size[3] != 2 || grid->size[0] != input->size[0])
        return ks_error(c, KS_ESHAPE, "grid_sample: grid must be [N, Ho, Wo, 2] with input's N, got %s for input %s",
                        ks_shape_str(grid, a, sizeof a), ks_shape_str(input, b, sizeof b));
    if (input->size[2] < 1 || input->size[3] < 1)
        return ks_error(c, KS_ESHAPE, "grid_sample: input %s has an empty spatial dim (H and W must be >= 1)",
                        ks_shape_str(input, a, sizeof a));
    if (o->mode != KS_GS_BILINEAR && o->mode != KS_GS_NEAREST)
        return ks_error(c, KS_EINVAL, "grid_sample: unknown interpolation mode %d", (int)o->mode);
    if (o->padding != KS_GS_ZEROS && o->padding != KS_GS_BORDER && o->padding != KS_GS_REFLECTION)
        return ks_error(c, KS_EINVAL, "grid_sample: unknown padding mode %d", (int)o->padding);
    return KS_OK;
}

static gs_job make_job(const ks_tensor *input, const ks_tensor *grid, const ks_grid_sample_opts *o)
{
    gs_job j;
    memset(&j, 0, sizeof j);
    j.N = input->size[0];
    j.C = input->size[1];
    j.H = input->size[2];
    j.W = input->size[3];
    j.Ho = grid->size[1];
    j.Wo = grid->size[2];
    memcpy(j.xs, input->stride, sizeof j.xs);
    memcpy(j.gs, grid->stride, sizeof j.gs);
    j.x = ks_tensor_data(input);
    j.g = ks_tensor_data(grid);
    j.o = *o;
    j.ax = make_axis(j.W, o->align_corners);
    j.ay = make_axis(j.H, o->align_corners);
    j.wmax = (float)(j.W - 1);
    j.hmax = (float)(j.H - 1);
    return j;
}

/* tasks of about 4K channel-points each (a few chunks per thread even for one small batch) */
static int64_t grain_for(int64_t per_task)
{
    int64_t g = per_task > 0 ? ((int64_t)1 << 12) / per_task : 1;
    return g < 1 ? 1 : g;
}

ks_status ks_grid_sample2d_forward(ks_ctx *c, const ks_tensor *input, const ks_tensor *grid, ks_tensor **output,
                                   const ks_grid_sample_opts *o)
{
    ks_status st = ks_grid_sample2d_check(c, input, grid, o);
    if (st) return st;
    gs_job j = make_job(input, grid, o);
    int64_t size[4] = {j.N, j.C, j.Ho, j.Wo};
    ks_tensor *y;
    if ((st = ks_tensor_empty(c, KS_FLOAT32, 4, size, &y))) return st;
    j.y = ks_tensor_data(y);
    if (y->numel && (st = ks_parallel_for(c, j.N * j.Ho, grain_for(j.Wo * j.C), forward_rows, &j))) {
        ks_tensor_release(y);
        return st;
    }
    *output = y;
    return KS_OK;
}

ks_status ks_grid_sample2d_backward(ks_ctx *c, const ks_tensor *grad_output, const ks_tensor *input,
                                    const ks_tensor *grid, ks_tensor **grad_input, ks_tensor **grad_grid,
                                    const ks_grid_sample_opts *o)
{
    char a[160], b[160];
    ks_status st = ks_grid_sample2d_check(c, input, grid, o);
    if (st) return st;
    gs_job j = make_job(input, grid, o);
    int64_t osize[4] = {j.N, j.C, j.Ho, j.Wo};
    if (grad_output->dtype != KS_FLOAT32 || grad_output->ndim != 4 || memcmp(grad_output->size, osize, sizeof osize))
        return ks_error(c, KS_ESHAPE, "grid_sample backward: grad_output must be float32 %s, got %s %s",
                        ks_dims_str(4, osize, a, sizeof a), ks_dtype_name(grad_output->dtype),
                        ks_shape_str(grad_output, b, sizeof b));
    memcpy(j.os, grad_output->stride, sizeof j.os);
    j.go = ks_tensor_data(grad_output);
    ks_tensor *dx = NULL, *dg = NULL;
    if (grad_input && (st = ks_tensor_empty(c, KS_FLOAT32, 4, input->size, &dx))) return st;
    if (grad_grid && (st = ks_tensor_empty(c, KS_FLOAT32, 4, grid->size, &dg))) goto fail;
    j.dx = dx ? ks_tensor_data(dx) : NULL;
    j.dg = dg ? ks_tensor_data(dg) : NULL;
    if (j.Ho * j.Wo == 0 || j.C == 0) { /* nothing sampled: zero gradients */
        if (dx) memset(j.dx, 0, (size_t)dx->numel * sizeof(float));
        if (dg) memset(j.dg, 0, (size_t)dg->numel * sizeof(float));
    } else if (j.N && (st = ks_parallel_for(c, j.N, grain_for(j.Ho * j.Wo * j.C), backward_images, &j))) {
        goto fail;
    }
    if (grad_input) *grad_input = dx;
    if (grad_grid) *grad_grid = dg;
    return KS_OK;
fail:
    ks_tensor_release(dx);
    ks_tensor_release(dg);
    return st;
}

/* ---------------------------------------------------------------- autograd */
/* node options: i[0] mode, i[1] padding, i[2] align_corners; saved: input, grid */
static ks_status grid_sample_backward(ks_ctx *c, ks_node *n, ks_tensor *const *gout, ks_tensor **gin)
{
    ks_tensor *x, *g;
    ks_status st;
    if ((st = ks_node_get_saved(c, n, 0, &x)) || (st = ks_node_get_saved(c, n, 1, &g))) return st;
    ks_grid_sample_opts o = {(ks_gs_mode)n->i[0], (ks_gs_padding)n->i[1], n->i[2] != 0};
    return ks_grid_sample2d_backward(c, gout[0], x, g, n->needs_grad[0] ? &gin[0] : NULL,
                                     n->needs_grad[1] ? &gin[1] : NULL, &o);
}

static const ks_op_def op_grid_sample = {"GridSampler2DBackward", grid_sample_backward};

ks_status ks_nn_grid_sample(ks_ctx *c, ks_tensor *input, ks_tensor *grid, ks_tensor **out, const ks_grid_sample_opts *o)
{
    ks_tensor *y, *ins[2] = {input, grid};
    ks_status st = ks_grid_sample2d_forward(c, input, grid, &y, o);
    if (st) return st;
    ks_node *n;
    if ((st = ks_ag_record(c, &op_grid_sample, 2, ins, 2, ins, y, &n))) {
        ks_tensor_release(y);
        return st;
    }
    if (n) { /* double_backward stays false: the engine marks the gradients */
        n->i[0] = o->mode;
        n->i[1] = o->padding;
        n->i[2] = o->align_corners;
    }
    *out = y;
    return KS_OK;
}
