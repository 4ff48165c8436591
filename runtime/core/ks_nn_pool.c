/* ks_nn_pool.c: max, average and adaptive average pooling over 2-D planes,
 * forward and backward (PyTorch's output-size, ceil_mode and padding rules).
 * The gradients are linear maps of dY that record under create_graph, so
 * every pool supports double backward (see pool_scatter, avg_adjoint). */
#include "ks_nn.h"
#include "ks_threads.h"

/* -O2's "very cheap" vectoriser cost model leaves the select loops scalar */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("vect-cost-model=dynamic")
#endif

#include <math.h>
#include <string.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

typedef struct {
    int64_t planes, H, W, Ho, Wo;
} plane_geom;

static int64_t pool_out(int64_t in, int64_t k, int64_t s, int64_t p, bool ceil_mode)
{
    int64_t num = in + 2 * p - k + (ceil_mode ? s - 1 : 0);
    int64_t o = (num >= 0 ? num / s : -((-num + s - 1) / s)) + 1; /* floor division, as PyTorch */
    if (ceil_mode && (o - 1) * s >= in + p) o--; /* last window must start inside the input or left padding */
    return o;
}

static ks_status pool_input(ks_ctx *c, const ks_tensor *x, const char *name, plane_geom *g)
{
    char a[160];
    if (x->dtype != KS_FLOAT32) return ks_error(c, KS_ETYPE, "%s: expected a float32 input, got %s", name, ks_dtype_name(x->dtype));
    if (x->ndim != 3 && x->ndim != 4)
        return ks_error(c, KS_ESHAPE, "%s: expected a 3-D [C, H, W] or 4-D [N, C, H, W] input, got %s", name,
                        ks_shape_str(x, a, sizeof a));
    g->H = x->size[x->ndim - 2];
    g->W = x->size[x->ndim - 1];
    g->planes = x->numel / (g->H * g->W > 0 ? g->H * g->W : 1);
    if (x->numel == 0) g->planes = 0;
    return KS_OK;
}

static ks_status new_output(ks_ctx *c, const ks_tensor *x, const plane_geom *g, ks_dtype dt, ks_tensor **out)
{
    int64_t size[4];
    memcpy(size, x->size, (size_t)x->ndim * sizeof *size);
    size[x->ndim - 2] = g->Ho;
    size[x->ndim - 1] = g->Wo;
    return ks_tensor_empty(c, dt, x->ndim, size, out);
}

static ks_status check_opts(ks_ctx *c, const ks_pool2d_opts *o, const char *name)
{
    for (int d = 0; d < 2; d++) {
        if (o->kernel[d] < 1 || o->stride[d] < 1 || o->padding[d] < 0)
            return ks_error(c, KS_EINVAL, "%s: kernel and stride must be >= 1 and padding >= 0", name);
        if (o->kernel[d] > INT32_MAX || o->stride[d] > INT32_MAX || o->padding[d] > INT32_MAX)
            return ks_error(c, KS_EINVAL, "%s: kernel, stride and padding must be below 2^31 (got %lld, %lld, %lld)", name,
                            (long long)o->kernel[d], (long long)o->stride[d], (long long)o->padding[d]);
        if (o->padding[d] * 2 > o->kernel[d])
            return ks_error(c, KS_EINVAL, "%s: padding (%lld) should be at most half of the kernel size (%lld)", name,
                            (long long)o->padding[d], (long long)o->kernel[d]);
    }
    return KS_OK;
}

static ks_status geom_for(ks_ctx *c, const ks_tensor *x, const ks_pool2d_opts *o, const char *name, plane_geom *g)
{
    ks_status st = pool_input(c, x, name, g);
    if (st || (st = check_opts(c, o, name))) return st;
    g->Ho = pool_out(g->H, o->kernel[0], o->stride[0], o->padding[0], o->ceil_mode);
    g->Wo = pool_out(g->W, o->kernel[1], o->stride[1], o->padding[1], o->ceil_mode);
    if (g->Ho < 1 || g->Wo < 1)
        return ks_error(c, KS_ESHAPE, "%s: input %lldx%lld is too small for kernel %lldx%lld (output would be %lldx%lld)",
                        name, (long long)g->H, (long long)g->W, (long long)o->kernel[0], (long long)o->kernel[1],
                        (long long)g->Ho, (long long)g->Wo);
    return KS_OK;
}

/* ------------------------------------------------------------ max pool */
/* Planes are independent: forward and backward run over chunks of planes
 * (same result for any thread count). */
#define POOL_GRAIN_ELEMS 32768

struct maxpool_job {
    const plane_geom *g;
    const ks_pool2d_opts *o;
    const float *x;
    float *y;
    int64_t *ind;
    /* backward: plane sizes of input and output */
    int64_t HW, HoWo;
    const float *gy;
    float *dx;
};

/* one output cell, generic window: the first maximum in scan order wins and
 * the first NaN stops the scan (it propagates) */
static void max_cell(const struct maxpool_job *j, const float *plane, int64_t oy, int64_t ox, float *out, int64_t *idx)
{
    const plane_geom *g = j->g;
    const ks_pool2d_opts *o = j->o;
    int64_t y0 = oy * o->stride[0] - o->padding[0], x0 = ox * o->stride[1] - o->padding[1];
    float best = -INFINITY;
    int64_t bi = -1;
    for (int64_t ky = 0; ky < o->kernel[0]; ky++) {
        int64_t iy = y0 + ky;
        if (iy < 0 || iy >= g->H) continue;
        for (int64_t kx = 0; kx < o->kernel[1]; kx++) {
            int64_t ix = x0 + kx;
            if (ix < 0 || ix >= g->W) continue;
            float v = plane[iy * g->W + ix];
            if (v > best || isnan(v) || bi < 0) { best = v; bi = iy * g->W + ix; if (isnan(v)) goto found; }
        }
    }
found:
    *out = best;
    *idx = bi < 0 ? 0 : bi;
}

#if defined(__SSE2__)
/* Four output cells of a 2x2 row at once (SSE2 is part of x86-64): the same
 * selects as the scalar loop below, with plane offsets in int32 (the caller
 * checks H*W fits) widened to int64 on store. Returns nonzero when a window
 * holds a NaN (the caller redoes the row). */
static int max_2x2_x4(const float *r0, const float *r1, int64_t ox, int32_t row, int32_t W, float *yr, int64_t *ir)
{
    __m128 l0 = _mm_loadu_ps(r0 + 2 * ox), h0 = _mm_loadu_ps(r0 + 2 * ox + 4);
    __m128 l1 = _mm_loadu_ps(r1 + 2 * ox), h1 = _mm_loadu_ps(r1 + 2 * ox + 4);
    __m128 a = _mm_shuffle_ps(l0, h0, _MM_SHUFFLE(2, 0, 2, 0)), b = _mm_shuffle_ps(l0, h0, _MM_SHUFFLE(3, 1, 3, 1));
    __m128 c = _mm_shuffle_ps(l1, h1, _MM_SHUFFLE(2, 0, 2, 0)), d = _mm_shuffle_ps(l1, h1, _MM_SHUFFLE(3, 1, 3, 1));
    __m128 kb = _mm_cmpgt_ps(b, a), m = _mm_or_ps(_mm_and_ps(kb, b), _mm_andnot_ps(kb, a));
    __m128 kc = _mm_cmpgt_ps(c, m);
    m = _mm_or_ps(_mm_and_ps(kc, c), _mm_andnot_ps(kc, m));
    __m128 kd = _mm_cmpgt_ps(d, m);
    m = _mm_or_ps(_mm_and_ps(kd, d), _mm_andnot_ps(kd, m));
    /* k = kd ? W + 1 : kc ? W : kb ? 1 : 0, plus the window's top-left offset */
    __m128i ib = _mm_castps_si128(kb), ic = _mm_castps_si128(kc), id = _mm_castps_si128(kd);
    __m128i k = _mm_and_si128(ib, _mm_set1_epi32(1));
    k = _mm_or_si128(_mm_and_si128(ic, _mm_set1_epi32(W)), _mm_andnot_si128(ic, k));
    k = _mm_or_si128(_mm_and_si128(id, _mm_set1_epi32(W + 1)), _mm_andnot_si128(id, k));
    int32_t base = row + 2 * (int32_t)ox;
    k = _mm_add_epi32(k, _mm_setr_epi32(base, base + 2, base + 4, base + 6));
    __m128i zero = _mm_setzero_si128();
    _mm_storeu_ps(yr + ox, m);
    _mm_storeu_si128((__m128i *)(ir + ox), _mm_unpacklo_epi32(k, zero));
    _mm_storeu_si128((__m128i *)(ir + ox + 2), _mm_unpackhi_epi32(k, zero));
    __m128 s = _mm_add_ps(_mm_add_ps(a, b), _mm_add_ps(c, d));
    return _mm_movemask_ps(_mm_cmpunord_ps(s, s));
}
#endif

/* 2x2 windows, stride 2, no padding, all inside the plane: select-only code
 * (random data mispredicts every branch), four cells at a time with SSE2; a
 * row with a NaN is redone by the generic scan for its exact semantics. */
static void max_plane_2x2(const struct maxpool_job *j, const float *plane, float *restrict yp, int64_t *restrict ip)
{
    const plane_geom *g = j->g;
    int64_t W = g->W, Wo = g->Wo;
    for (int64_t oy = 0; oy < g->Ho; oy++) {
        const float *restrict r0 = plane + 2 * oy * W, *restrict r1 = r0 + W;
        float *restrict yr = yp + oy * Wo;
        int64_t *restrict ir = ip + oy * Wo, row = 2 * oy * W, ox = 0;
        int nan = 0;
#if defined(__SSE2__)
        if (g->H * W <= INT32_MAX)
            for (; ox + 4 <= Wo; ox += 4) nan |= max_2x2_x4(r0, r1, ox, (int32_t)row, (int32_t)W, yr, ir);
#endif
        for (; ox < Wo; ox++) {
            float a = r0[2 * ox], b = r0[2 * ox + 1], c = r1[2 * ox], d = r1[2 * ox + 1];
            /* arithmetic selects: if-conversion of ternaries on k fails */
            int64_t kb = b > a;
            float m = kb ? b : a;
            int64_t kc = c > m;
            m = kc ? c : m;
            int64_t kd = d > m;
            m = kd ? d : m;
            int64_t k = kd * (W + 1) + (1 - kd) * (kc * W + (1 - kc) * kb);
            float s = a + b + c + d;
            nan |= s != s;
            yr[ox] = m;
            ir[ox] = row + 2 * ox + k;
        }
        if (nan)
            for (ox = 0; ox < Wo; ox++) max_cell(j, plane, oy, ox, &yr[ox], &ir[ox]);
    }
}

static bool is_plain_2x2(const plane_geom *g, const ks_pool2d_opts *o)
{
    return o->kernel[0] == 2 && o->kernel[1] == 2 && o->stride[0] == 2 && o->stride[1] == 2 && o->padding[0] == 0 &&
           o->padding[1] == 0 && 2 * g->Ho <= g->H && 2 * g->Wo <= g->W;
}

static ks_status maxpool_forward_chunk(void *arg, int64_t p0, int64_t p1)
{
    const struct maxpool_job *j = arg;
    const plane_geom *g = j->g;
    bool fast = is_plain_2x2(g, j->o);
    for (int64_t p = p0; p < p1; p++) {
        const float *plane = j->x + p * g->H * g->W;
        float *yp = j->y + p * g->Ho * g->Wo;
        int64_t *ip = j->ind + p * g->Ho * g->Wo;
        if (fast) { max_plane_2x2(j, plane, yp, ip); continue; }
        for (int64_t oy = 0; oy < g->Ho; oy++)
            for (int64_t ox = 0; ox < g->Wo; ox++) max_cell(j, plane, oy, ox, &yp[oy * g->Wo + ox], &ip[oy * g->Wo + ox]);
    }
    return KS_OK;
}

static ks_status maxpool_backward_chunk(void *arg, int64_t p0, int64_t p1)
{
    const struct maxpool_job *j = arg;
    int64_t HW = j->HW, HoWo = j->HoWo;
    for (int64_t p = p0; p < p1; p++) {
        float *d = j->dx + p * HW;
        const float *gp = j->gy + p * HoWo;
        const int64_t *ip = j->ind + p * HoWo;
        memset(d, 0, (size_t)HW * sizeof(float));
        for (int64_t k = 0; k < HoWo; k++) d[ip[k]] += gp[k];
    }
    return KS_OK;
}

static int64_t plane_grain(int64_t elems_per_plane)
{
    int64_t g = POOL_GRAIN_ELEMS / (elems_per_plane > 0 ? elems_per_plane : 1);
    return g < 1 ? 1 : g;
}

/* ---- max pool's gradient and its derivatives ----
 * The gradient scatters dY into the argmax cells of zero planes; that is
 * linear in dY, and its own gradient is the gather of the same cells, whose
 * gradient is the scatter again. Both record under create_graph (a node
 * whose saved tensor is the indices), so max_pool2d differentiates to any
 * order; x's argmax is piecewise constant, so x gets no second-order term. */
static ks_status pool_scatter(ks_ctx *c, ks_tensor *g, ks_tensor *idx, int ndim, const int64_t *size, ks_tensor **out);

static ks_status gather_chunk(void *arg, int64_t p0, int64_t p1)
{
    const struct maxpool_job *j = arg;
    for (int64_t p = p0; p < p1; p++) {
        const float *src = j->gy + p * j->HW;
        const int64_t *ip = j->ind + p * j->HoWo;
        float *d = j->dx + p * j->HoWo;
        for (int64_t k = 0; k < j->HoWo; k++) d[k] = src[ip[k]];
    }
    return KS_OK;
}

/* out[plane, k] = g[plane, idx[plane, k]]: g has x's shape, out and idx y's */
static ks_status pool_gather(ks_ctx *c, ks_tensor *g, ks_tensor *idx, ks_tensor **out);

static ks_status scatter_grad_backward(ks_ctx *c, ks_node *n, ks_tensor *const *gout, ks_tensor **gin)
{
    ks_tensor *idx;
    ks_status st = ks_node_get_saved(c, n, 0, &idx);
    return st ? st : pool_gather(c, gout[0], idx, &gin[0]);
}

static ks_status gather_grad_backward(ks_ctx *c, ks_node *n, ks_tensor *const *gout, ks_tensor **gin)
{
    ks_tensor *idx;
    ks_status st = ks_node_get_saved(c, n, 0, &idx);
    return st ? st : pool_scatter(c, gout[0], idx, n->in_ndim[0], n->in_size[0], &gin[0]);
}

static const ks_op_def op_pool_scatter = {"MaxPool2DGradBackward", scatter_grad_backward};
static const ks_op_def op_pool_gather = {"MaxPool2DGradGradBackward", gather_grad_backward};

/* record op on out (input g, idx saved) when g is a graph member and grad mode is on */
static ks_status record_linear_pool(ks_ctx *c, const ks_op_def *op, ks_tensor *g, ks_tensor *idx, ks_tensor *out)
{
    ks_node *n;
    ks_status st = ks_ag_record(c, op, 1, &g, 1, &idx, out, &n);
    if (!st && n) n->double_backward = true;
    return st;
}

static ks_status pool_gather(ks_ctx *c, ks_tensor *g, ks_tensor *idx, ks_tensor **out)
{
    ks_tensor *gc, *r;
    ks_status st = ks_contiguous(c, g, &gc);
    if (st) return st;
    if ((st = ks_tensor_empty(c, KS_FLOAT32, idx->ndim, idx->size, &r))) { ks_tensor_release(gc); return st; }
    int64_t HW = g->size[g->ndim - 2] * g->size[g->ndim - 1], HoWo = idx->size[idx->ndim - 2] * idx->size[idx->ndim - 1];
    int64_t planes = HoWo ? idx->numel / HoWo : 0;
    struct maxpool_job j = {.HW = HW, .HoWo = HoWo, .ind = ks_tensor_data(idx), .gy = ks_tensor_data(gc), .dx = ks_tensor_data(r)};
    if (planes) st = ks_parallel_for(c, planes, plane_grain(HoWo), gather_chunk, &j);
    if (!st) st = record_linear_pool(c, &op_pool_gather, g, idx, r);
    ks_tensor_release(gc);
    if (st) { ks_tensor_release(r); return st; }
    *out = r;
    return KS_OK;
}

/* zero planes of shape size with g added at the cells idx names: g and idx have y's shape */
static ks_status pool_scatter(ks_ctx *c, ks_tensor *g, ks_tensor *idx, int ndim, const int64_t *size, ks_tensor **out)
{
    ks_tensor *gc, *r;
    ks_status st = ks_contiguous(c, g, &gc);
    if (st) return st;
    if ((st = ks_tensor_empty(c, KS_FLOAT32, ndim, size, &r))) { ks_tensor_release(gc); return st; }
    int64_t HW = size[ndim - 2] * size[ndim - 1], HoWo = idx->size[idx->ndim - 2] * idx->size[idx->ndim - 1];
    int64_t planes = HoWo ? idx->numel / HoWo : 0;
    struct maxpool_job j = {.HW = HW, .HoWo = HoWo, .ind = ks_tensor_data(idx), .gy = ks_tensor_data(gc), .dx = ks_tensor_data(r)};
    if (planes) st = ks_parallel_for(c, planes, plane_grain(HW), maxpool_backward_chunk, &j);
    else memset(j.dx, 0, (size_t)r->numel * sizeof(float));
    if (!st) st = record_linear_pool(c, &op_pool_scatter, g, idx, r);
    ks_tensor_release(gc);
    if (st) { ks_tensor_release(r); return st; }
    *out = r;
    return KS_OK;
}

static ks_status maxpool_backward(ks_ctx *c, ks_node *n, ks_tensor *const *gout, ks_tensor **gin)
{
    ks_tensor *idx;
    ks_status st = ks_node_get_saved(c, n, 0, &idx);
    return st ? st : pool_scatter(c, gout[0], idx, n->in_ndim[0], n->in_size[0], &gin[0]);
}

static const ks_op_def op_maxpool = {"MaxPool2DBackward", maxpool_backward};

ks_status ks_nn_max_pool2d(ks_ctx *c, ks_tensor *input, ks_tensor **out, const ks_pool2d_opts *o)
{
    plane_geom g;
    ks_status st = geom_for(c, input, o, "max_pool2d", &g);
    if (st) return st;
    ks_tensor *x = NULL, *y = NULL, *ind = NULL;
    if ((st = ks_contiguous(c, input, &x)) || (st = new_output(c, input, &g, KS_FLOAT32, &y)) ||
        (st = new_output(c, input, &g, KS_INT64, &ind)))
        goto done;
    struct maxpool_job j = {.g = &g, .o = o, .x = ks_tensor_data(x), .y = ks_tensor_data(y), .ind = ks_tensor_data(ind)};
    if (g.planes && (st = ks_parallel_for(c, g.planes, plane_grain(g.H * g.W), maxpool_forward_chunk, &j))) goto done;
    ks_node *n;
    if ((st = ks_ag_record(c, &op_maxpool, 1, &input, 1, &ind, y, &n))) goto done;
    if (n) n->double_backward = true; /* its gradient records (pool_scatter) */
    *out = y;
    y = NULL;
done:
    ks_tensor_release(x);
    ks_tensor_release(y);
    ks_tensor_release(ind);
    return st;
}

/* ------------------------------------------------------------ average pools */
/* window of output cell (oy, ox): [y0, y1) x [x0, x1) clipped, and its divisor */
typedef struct {
    int64_t y0, y1, x0, x1;
    float div;
} window;

static window avg_window(const plane_geom *g, const int64_t *i, int64_t oy, int64_t ox)
{
    /* i: kernel[2], stride[2], padding[2], count_include_pad, adaptive */
    window w;
    if (i[7]) { /* adaptive: floor(i*H/Ho) .. ceil((i+1)*H/Ho) */
        w.y0 = oy * g->H / g->Ho;
        w.y1 = ((oy + 1) * g->H + g->Ho - 1) / g->Ho;
        w.x0 = ox * g->W / g->Wo;
        w.x1 = ((ox + 1) * g->W + g->Wo - 1) / g->Wo;
        w.div = (float)((w.y1 - w.y0) * (w.x1 - w.x0));
        return w;
    }
    int64_t y0 = oy * i[2] - i[4], x0 = ox * i[3] - i[5];
    int64_t y1 = y0 + i[0], x1 = x0 + i[1];
    if (y1 > g->H + i[4]) y1 = g->H + i[4];
    if (x1 > g->W + i[5]) x1 = g->W + i[5];
    int64_t padded = (y1 - y0) * (x1 - x0);
    w.y0 = y0 < 0 ? 0 : y0;
    w.x0 = x0 < 0 ? 0 : x0;
    w.y1 = y1 > g->H ? g->H : y1;
    w.x1 = x1 > g->W ? g->W : x1;
    w.div = (float)(i[6] ? padded : (w.y1 - w.y0) * (w.x1 - w.x0));
    return w;
}

static ks_status avg_common(ks_ctx *c, ks_tensor *input, ks_tensor **out, const plane_geom *g, const int64_t *opt);

/* node options of the pools and of their gradients: i[0..8) the window
 * options (kernel, stride, padding, count_include_pad, adaptive), i[8..13)
 * the plane geometry */
static void set_pool_opts(ks_node *n, const int64_t *opt, const plane_geom *g)
{
    memcpy(n->i, opt, 8 * sizeof *opt);
    n->i[8] = g->planes; n->i[9] = g->H; n->i[10] = g->W; n->i[11] = g->Ho; n->i[12] = g->Wo;
}

/* The gradient of an average pool spreads each dY cell over its window;
 * it is linear in dY and its own gradient is the pool itself (the adjoint
 * of the adjoint), so under create_graph it records a node whose backward
 * runs the forward pool, which records in turn: any order. */
static ks_status avg_grad_backward(ks_ctx *c, ks_node *n, ks_tensor *const *gout, ks_tensor **gin)
{
    plane_geom pg = {n->i[8], n->i[9], n->i[10], n->i[11], n->i[12]};
    return avg_common(c, gout[0], &gin[0], &pg, n->i);
}

static const ks_op_def op_avg_grad = {"AvgPool2DGradBackward", avg_grad_backward};

/* dx of shape (ndim, size) from dY g: each cell's value over its window's divisor, summed */
static ks_status avg_adjoint(ks_ctx *c, ks_tensor *g, const int64_t *opt, const plane_geom *pg, int ndim,
                             const int64_t *size, ks_tensor **out)
{
    ks_tensor *gc, *r;
    ks_status st = ks_contiguous(c, g, &gc);
    if (st) return st;
    if ((st = ks_tensor_empty(c, KS_FLOAT32, ndim, size, &r))) { ks_tensor_release(gc); return st; }
    float *dx = ks_tensor_data(r);
    const float *gp = ks_tensor_data(gc);
    memset(dx, 0, (size_t)r->numel * sizeof(float));
    for (int64_t p = 0; p < pg->planes; p++)
        for (int64_t oy = 0; oy < pg->Ho; oy++)
            for (int64_t ox = 0; ox < pg->Wo; ox++) {
                window w = avg_window(pg, opt, oy, ox);
                float v = gp[(p * pg->Ho + oy) * pg->Wo + ox] / w.div;
                for (int64_t iy = w.y0; iy < w.y1; iy++)
                    for (int64_t ix = w.x0; ix < w.x1; ix++) dx[(p * pg->H + iy) * pg->W + ix] += v;
            }
    ks_tensor_release(gc);
    ks_node *n;
    if ((st = ks_ag_record(c, &op_avg_grad, 1, &g, 0, NULL, r, &n))) { ks_tensor_release(r); return st; }
    if (n) { set_pool_opts(n, opt, pg); n->double_backward = true; }
    *out = r;
    return KS_OK;
}

static ks_status avgpool_backward(ks_ctx *c, ks_node *n, ks_tensor *const *gout, ks_tensor **gin)
{
    plane_geom pg = {n->i[8], n->i[9], n->i[10], n->i[11], n->i[12]};
    return avg_adjoint(c, gout[0], n->i, &pg, n->in_ndim[0], n->in_size[0], &gin[0]);
}

static const ks_op_def op_avgpool = {"AvgPool2DBackward", avgpool_backward};
static const ks_op_def op_adaptive = {"AdaptiveAvgPool2DBackward", avgpool_backward};

/* the pool over planes g (opt as the node options); records op_avgpool or op_adaptive (opt[7]) */
static ks_status avg_common(ks_ctx *c, ks_tensor *input, ks_tensor **out, const plane_geom *g, const int64_t *opt)
{
    ks_tensor *x = NULL, *y = NULL;
    ks_status st;
    if ((st = ks_contiguous(c, input, &x)) || (st = new_output(c, input, g, KS_FLOAT32, &y))) goto done;
    const float *xp = ks_tensor_data(x);
    float *yp = ks_tensor_data(y);
    for (int64_t p = 0; p < g->planes; p++)
        for (int64_t oy = 0; oy < g->Ho; oy++)
            for (int64_t ox = 0; ox < g->Wo; ox++) {
                window w = avg_window(g, opt, oy, ox);
                double s = 0;
                for (int64_t iy = w.y0; iy < w.y1; iy++)
                    for (int64_t ix = w.x0; ix < w.x1; ix++) s += xp[(p * g->H + iy) * g->W + ix];
                yp[(p * g->Ho + oy) * g->Wo + ox] = (float)(s / w.div);
            }
    ks_node *n;
    if ((st = ks_ag_record(c, opt[7] ? &op_adaptive : &op_avgpool, 1, &input, 0, NULL, y, &n))) goto done;
    if (n) { set_pool_opts(n, opt, g); n->double_backward = true; } /* its gradient records (avg_adjoint) */
    *out = y;
    y = NULL;
done:
    ks_tensor_release(x);
    ks_tensor_release(y);
    return st;
}

ks_status ks_nn_avg_pool2d(ks_ctx *c, ks_tensor *input, ks_tensor **out, const ks_pool2d_opts *o)
{
    plane_geom g;
    ks_status st = geom_for(c, input, o, "avg_pool2d", &g);
    if (st) return st;
    int64_t opt[8] = {o->kernel[0], o->kernel[1], o->stride[0], o->stride[1], o->padding[0], o->padding[1],
                      o->count_include_pad, 0};
    return avg_common(c, input, out, &g, opt);
}

ks_status ks_nn_adaptive_avg_pool2d(ks_ctx *c, ks_tensor *input, ks_tensor **out, int64_t oh, int64_t ow)
{
    plane_geom g;
    ks_status st = pool_input(c, input, "adaptive_avg_pool2d", &g);
    if (st) return st;
    if (oh < 1 || ow < 1)
        return ks_error(c, KS_EINVAL, "adaptive_avg_pool2d: output size must be >= 1, got %lldx%lld", (long long)oh, (long long)ow);
    g.Ho = oh;
    g.Wo = ow;
    int64_t opt[8] = {0, 0, 0, 0, 0, 0, 0, 1};
    return avg_common(c, input, out, &g, opt);
}
