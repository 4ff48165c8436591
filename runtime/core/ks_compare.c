/* ks_compare.c: ks_equal, ks_allclose and ks_isclose (contract in ks_compare.h). */
#include "ks_compare.h"
#include "ks_iter.h"

#include <math.h>
#include <stdatomic.h>
#include <string.h>

typedef enum { CMP_F32, CMP_I64, CMP_CLOSE } cmp_mode;

typedef struct cmp_job {
    cmp_mode mode;
    ks_dtype da, db;
    double rtol, atol;
    bool equal_nan;
    atomic_int differ; /* set by the first chunk that finds a mismatch */
} cmp_job;

/* an element as float32, converted as PyTorch's promotion does */
static inline float load_f32(const char *p, ks_dtype dt)
{
    switch (dt) {
    case KS_FLOAT32: return *(const float *)p;
    case KS_INT64: return (float)*(const int64_t *)p;
    default: return (float)*(const uint8_t *)p;
    }
}

static inline bool close_f64(double x, double y, const cmp_job *j)
{
    if (x == y) return true; /* equal infinities included */
    if (isnan(x) || isnan(y)) return j->equal_nan && isnan(x) && isnan(y);
    double err = fabs(x - y);
    return isfinite(err) && err <= j->atol + j->rtol * fabs(y);
}

static void cmp_loop(char **data, const int64_t *strides, int64_t n, void *arg)
{
    cmp_job *j = arg;
    if (atomic_load_explicit(&j->differ, memory_order_relaxed)) return;
    const char *pa = data[0], *pb = data[1];
    int64_t sa = strides[0], sb = strides[1];
    bool ok = true;
    switch (j->mode) {
    case CMP_F32:
        if (j->da == KS_FLOAT32 && j->db == KS_FLOAT32) {
            for (int64_t k = 0; k < n && ok; k++) ok = *(const float *)(pa + k * sa) == *(const float *)(pb + k * sb);
        } else {
            for (int64_t k = 0; k < n && ok; k++) ok = load_f32(pa + k * sa, j->da) == load_f32(pb + k * sb, j->db);
        }
        break;
    case CMP_I64:
        for (int64_t k = 0; k < n && ok; k++) ok = ks_load_i64(pa + k * sa, j->da) == ks_load_i64(pb + k * sb, j->db);
        break;
    case CMP_CLOSE:
        for (int64_t k = 0; k < n && ok; k++)
            ok = close_f64(ks_load_f64(pa + k * sa, j->da), ks_load_f64(pb + k * sb, j->db), j);
        break;
    }
    if (!ok) atomic_store_explicit(&j->differ, 1, memory_order_relaxed);
}

/* scan ops[0] (the iteration shape) against ops[1] */
static ks_status scan(ks_ctx *c, ks_tensor *a, ks_tensor *b, cmp_job *j, bool *out)
{
    ks_tensor *ops[2] = {a, b};
    ks_iter it;
    ks_status st = ks_iter_init(c, &it, 2, ops);
    if (st) return st;
    j->da = a->dtype;
    j->db = b->dtype;
    atomic_init(&j->differ, 0);
    if (it.numel > 0 && (st = ks_iter_parallel(c, &it, KS_GRAIN_ELEMENTWISE, cmp_loop, j))) return st;
    *out = !atomic_load(&j->differ);
    return KS_OK;
}

ks_status ks_equal(ks_ctx *c, ks_tensor *a, ks_tensor *b, bool *out)
{
    if (!ks_same_shape(a, b)) {
        *out = false;
        return KS_OK;
    }
    cmp_job j = {.mode = ks_promote(a->dtype, b->dtype) == KS_FLOAT32 ? CMP_F32 : CMP_I64};
    return scan(c, a, b, &j, out);
}

ks_status ks_allclose(ks_ctx *c, ks_tensor *a, ks_tensor *b, double rtol, double atol, bool equal_nan, bool *out)
{
    if (isnan(rtol) || isnan(atol))
        return ks_error(c, KS_EINVAL, "allclose: %s must be >= 0, got NaN", isnan(rtol) ? "rtol" : "atol");
    if (rtol < 0) return ks_error(c, KS_EINVAL, "allclose: rtol must be >= 0, got %g", rtol);
    if (atol < 0) return ks_error(c, KS_EINVAL, "allclose: atol must be >= 0, got %g", atol);
    int nd;
    int64_t size[KS_MAX_DIMS];
    ks_status st = ks_broadcast_shapes(c, a->ndim, a->size, b->ndim, b->size, &nd, size);
    if (st) return st;
    cmp_job j = {.mode = CMP_CLOSE, .rtol = rtol, .atol = atol, .equal_nan = equal_nan};
    if (nd == a->ndim && memcmp(a->size, size, sizeof(int64_t) * (size_t)nd) == 0) return scan(c, a, b, &j, out);
    /* the iteration runs over operand 0's shape: broadcast a first */
    ks_tensor *ea;
    if ((st = ks_expand(c, a, nd, size, &ea))) return st;
    st = scan(c, ea, b, &j, out);
    ks_tensor_release(ea);
    return st;
}

/* ---------------------------------------------------------------- isclose */
typedef struct close_job {
    ks_dtype da, db;
    float rtol, atol;
    bool equal_nan;
} close_job;

static inline bool close_f32(float x, float y, const close_job *j)
{
    if (x == y) return true; /* equal infinities included */
    if (isnan(x) || isnan(y)) return j->equal_nan && isnan(x) && isnan(y);
    float err = fabsf(x - y);
    return isfinite(err) && err <= j->atol + fabsf(j->rtol * y);
}

static void close_loop(char **data, const int64_t *strides, int64_t n, void *arg)
{
    const close_job *j = arg;
    char *po = data[0];
    const char *pa = data[1], *pb = data[2];
    int64_t so = strides[0], sa = strides[1], sb = strides[2];
    if (j->da == KS_FLOAT32 && j->db == KS_FLOAT32) {
        for (int64_t k = 0; k < n; k++)
            *(uint8_t *)(po + k * so) = close_f32(*(const float *)(pa + k * sa), *(const float *)(pb + k * sb), j);
        return;
    }
    for (int64_t k = 0; k < n; k++)
        *(uint8_t *)(po + k * so) = close_f32(load_f32(pa + k * sa, j->da), load_f32(pb + k * sb, j->db), j);
}

ks_status ks_isclose(ks_ctx *c, ks_tensor *a, ks_tensor *b, double rtol, double atol, bool equal_nan,
                     ks_tensor **out)
{
    int nd;
    int64_t size[KS_MAX_DIMS];
    ks_status st = ks_broadcast_shapes(c, a->ndim, a->size, b->ndim, b->size, &nd, size);
    if (st) return st;
    ks_tensor *r;
    if ((st = ks_tensor_empty(c, KS_BOOL, nd, size, &r))) return st;
    ks_tensor *ops[3] = {r, a, b};
    ks_iter it;
    close_job j = {.da = a->dtype, .db = b->dtype, .rtol = (float)rtol, .atol = (float)atol, .equal_nan = equal_nan};
    if (!(st = ks_iter_init(c, &it, 3, ops)) && it.numel > 0)
        st = ks_iter_parallel(c, &it, KS_GRAIN_ELEMENTWISE, close_loop, &j);
    if (st) {
        ks_tensor_release(r);
        return st;
    }
    *out = r;
    return KS_OK;
}
