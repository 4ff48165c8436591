/* ks_fill.c: constant fills, ranges, identity, and counter-based random fills. */
#include "ks_fill.h"
#include "ks_indexing.h"
#include "ks_iter.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define FILL_GRAIN (KS_GRAIN_ELEMENTWISE * 4)
#define RAND_GRAIN 16384 /* Philox is ~10x the cost of a store: smaller chunks pay */

/* ------------------------------------------------------------ constants */
struct fill_arg {
    size_t isz;
    unsigned char bytes[8]; /* the value, already converted to the dtype */
};

static void fill_loop(char **d, const int64_t *s, int64_t n, void *arg)
{
    const struct fill_arg *a = arg;
    char *p = d[0];
    int64_t st = s[0];
    if (a->isz == 1) {
        if (st == 1) { memset(p, a->bytes[0], (size_t)n); return; }
        for (int64_t k = 0; k < n; k++, p += st) *p = (char)a->bytes[0];
    } else if (a->isz == 4) {
        uint32_t v;
        memcpy(&v, a->bytes, 4);
        for (int64_t k = 0; k < n; k++, p += st) *(uint32_t *)p = v;
    } else {
        uint64_t v;
        memcpy(&v, a->bytes, 8);
        for (int64_t k = 0; k < n; k++, p += st) *(uint64_t *)p = v;
    }
}

static ks_status fill_bytes(ks_ctx *c, ks_tensor *t, struct fill_arg *a)
{
    ks_iter it;
    ks_status st = ks_iter_init(c, &it, 1, &t);
    if (st) return st;
    ks_tensor_bump_version(t);
    return ks_iter_parallel(c, &it, FILL_GRAIN, fill_loop, a);
}

ks_status ks_check_fill_i64(ks_ctx *c, const char *op, ks_dtype dt, int64_t v)
{
    if (dt != KS_UINT8 || (v >= 0 && v <= 255)) return KS_OK;
    return ks_check_fill_value(c, op, dt, (double)v); /* fails: (double)v is outside (-1, 256) */
}

ks_status ks_fill_(ks_ctx *c, ks_tensor *t, double value)
{
    ks_status st = ks_check_fill_value(c, "fill_", t->dtype, value);
    if (st) return st;
    struct fill_arg a = {ks_dtype_size(t->dtype), {0}};
    ks_store_f64(a.bytes, t->dtype, value);
    return fill_bytes(c, t, &a);
}

ks_status ks_fill_i64_(ks_ctx *c, ks_tensor *t, int64_t value)
{
    ks_status st = ks_check_fill_i64(c, "fill_", t->dtype, value);
    if (st) return st;
    struct fill_arg a = {ks_dtype_size(t->dtype), {0}};
    ks_store_i64(a.bytes, t->dtype, value);
    return fill_bytes(c, t, &a);
}

/* --------------------------------------------------------------- ranges */
static ks_status new_1d(ks_ctx *c, ks_dtype dt, int64_t n, ks_tensor **out)
{
    return ks_tensor_empty(c, dt, 1, &n, out);
}

ks_status ks_arange(ks_ctx *c, double start, double end, double step, ks_dtype dt, ks_tensor **out)
{
    if (!isfinite(start) || !isfinite(end) || !isfinite(step))
        return ks_error(c, KS_EINVAL, "arange: unsupported range %g -> %g with step %g (must be finite)", start, end,
                        step);
    if (step == 0) return ks_error(c, KS_EINVAL, "arange: step must be nonzero");
    if ((step > 0 && end < start) || (step < 0 && end > start))
        return ks_error(c, KS_EINVAL, "arange: upper bound %g and lower bound %g inconsistent with step sign (%g)",
                        end, start, step);
    double len = ceil((end - start) / step);
    if (len > 9.0e15) return ks_error(c, KS_ERANGE, "arange: %g elements are too many", len);
    ks_tensor *r;
    ks_status st = new_1d(c, dt, (int64_t)len, &r);
    if (st) return st;
    char *p = ks_tensor_data(r);
    size_t isz = ks_dtype_size(dt);
    for (int64_t i = 0; i < r->numel; i++) ks_store_f64(p + i * (int64_t)isz, dt, start + (double)i * step);
    *out = r;
    return KS_OK;
}

ks_status ks_arange_i64(ks_ctx *c, int64_t start, int64_t end, int64_t step, ks_dtype dt, ks_tensor **out)
{
    if (step == 0) return ks_error(c, KS_EINVAL, "arange: step must be nonzero");
    if ((step > 0 && end < start) || (step < 0 && end > start))
        return ks_error(c, KS_EINVAL, "arange: upper bound %lld and lower bound %lld inconsistent with step sign (%lld)",
                        (long long)end, (long long)start, (long long)step);
    __int128 span = (__int128)end - start, sgn = step > 0 ? 1 : -1;
    __int128 len = (span + step - sgn) / step;
    ks_tensor *r;
    ks_status st = new_1d(c, dt, (int64_t)len, &r);
    if (st) return st;
    char *p = ks_tensor_data(r);
    size_t isz = ks_dtype_size(dt);
    for (int64_t i = 0; i < r->numel; i++) ks_store_i64(p + i * (int64_t)isz, dt, start + i * step);
    *out = r;
    return KS_OK;
}

ks_status ks_linspace(ks_ctx *c, double start, double end, int64_t steps, ks_dtype dt, ks_tensor **out)
{
    if (steps < 0) return ks_error(c, KS_EINVAL, "linspace: number of steps must be non-negative, got %lld", (long long)steps);
    if (!isfinite(start) || !isfinite(end))
        return ks_error(c, KS_EINVAL, "linspace: start (%g) and end (%g) must be finite", start, end);
    ks_tensor *r;
    ks_status st = new_1d(c, dt, steps, &r);
    if (st) return st;
    char *p = ks_tensor_data(r);
    int64_t half = steps / 2, isz = (int64_t)ks_dtype_size(dt);
    if (steps == 1) {
        ks_store_f64(p, dt, start);
    } else if (dt == KS_FLOAT32) {
        /* float32 arithmetic, as PyTorch's CPU kernel does for float outputs */
        float fs = (float)start, fe = (float)end, fstep = (fe - fs) / (float)(steps - 1);
        float *f = (float *)p;
        for (int64_t i = 0; i < steps; i++) f[i] = i < half ? fs + fstep * (float)i : fe - fstep * (float)(steps - i - 1);
    } else {
        /* integer outputs: integer bounds, double step, truncation */
        double is = (double)(int64_t)start, ie = (double)(int64_t)end, dstep = (ie - is) / (double)(steps - 1);
        for (int64_t i = 0; i < steps; i++)
            ks_store_f64(p + i * isz, dt, i < half ? is + dstep * (double)i : ie - dstep * (double)(steps - i - 1));
    }
    *out = r;
    return KS_OK;
}

ks_status ks_eye(ks_ctx *c, int64_t n, int64_t m, ks_dtype dt, ks_tensor **out)
{
    if (n < 0 || m < 0)
        return ks_error(c, KS_EINVAL, "eye: n and m must be non-negative, got %lld and %lld", (long long)n, (long long)m);
    int64_t size[2] = {n, m};
    ks_tensor *r;
    ks_status st = ks_tensor_empty(c, dt, 2, size, &r);
    if (st) return st;
    if ((st = ks_fill_(c, r, 0))) { ks_tensor_release(r); return st; }
    char *p = ks_tensor_data(r);
    int64_t isz = (int64_t)ks_dtype_size(dt);
    for (int64_t i = 0; i < n && i < m; i++) ks_store_i64(p + (i * m + i) * isz, dt, 1);
    *out = r;
    return KS_OK;
}

/* --------------------------------------------------------------- random */
enum rand_kind { R_UNIFORM, R_NORMAL, R_BERNOULLI, R_BERNOULLI_T, R_RANDINT };

struct rand_job {
    ks_iter it;
    enum rand_kind kind;
    ks_dtype dt, pdt;   /* output dtype, probability tensor dtype */
    uint64_t seed, start;
    double a, b;        /* uniform [a, b); normal mean a, std b; bernoulli p = a */
    int64_t low;
    uint64_t range;     /* randint: high - low */
};

/* per-chunk cursor: the linear index of the next element the loop sees */
struct rand_chunk {
    const struct rand_job *job;
    int64_t pos;
};

static int per_block(enum rand_kind k) { return k == R_RANDINT ? 2 : 4; }

static const double TWO_M32 = 1.0 / 4294967296.0;

/* The values of counter block `blk` of the fill (doubles, or int64 for randint). */
static void make_block(const struct rand_job *j, uint64_t blk, double v[4], int64_t iv[2])
{
    uint32_t w[4];
    ks_philox(j->seed, j->start + blk, w);
    switch (j->kind) {
    case R_UNIFORM:
        for (int k = 0; k < 4; k++) v[k] = j->a + (j->b - j->a) * (double)ks_u32_to_unit(w[k]);
        break;
    case R_NORMAL:
        /* Box-Muller on (w0, w1) and (w2, w3); u1 in (0, 1] keeps log finite */
        for (int k = 0; k < 4; k += 2) {
            double u1 = ((double)w[k] + 1.0) * TWO_M32, u2 = (double)w[k + 1] * TWO_M32;
            double r = sqrt(-2.0 * log(u1)), sn, cs;
            sincos(2.0 * M_PI * u2, &sn, &cs);
            v[k] = j->a + j->b * r * cs;
            v[k + 1] = j->a + j->b * r * sn;
        }
        break;
    case R_BERNOULLI:
    case R_BERNOULLI_T:
        for (int k = 0; k < 4; k++) v[k] = (double)w[k] * TWO_M32;
        break;
    case R_RANDINT:
        for (int k = 0; k < 2; k++) {
            /* 64-bit multiply-shift: bias below range / 2^64, fixed draw count */
            uint64_t x = ((uint64_t)w[2 * k] << 32) | w[2 * k + 1];
            iv[k] = (int64_t)((uint64_t)j->low + (uint64_t)(((unsigned __int128)x * j->range) >> 64));
        }
        break;
    }
}

/* Store lanes [lane, lane + m) of a block's values at o, o + s0, ... */
static char *store_lanes(const struct rand_job *j, char *o, int64_t s0, const double *v, const int64_t *iv,
                         unsigned lane, unsigned m, char **pp, int64_t ps)
{
    switch (j->kind) {
    case R_RANDINT:
        for (unsigned l = lane; l < lane + m; l++, o += s0) ks_store_i64(o, j->dt, iv[l]);
        break;
    case R_BERNOULLI:
        for (unsigned l = lane; l < lane + m; l++, o += s0) ks_store_i64(o, j->dt, v[l] < j->a);
        break;
    case R_BERNOULLI_T:
        for (unsigned l = lane; l < lane + m; l++, o += s0, *pp += ps)
            ks_store_i64(o, j->dt, v[l] < ks_load_f64(*pp, j->pdt));
        break;
    default:
        if (j->dt == KS_FLOAT32)
            for (unsigned l = lane; l < lane + m; l++, o += s0) *(float *)o = (float)v[l];
        else
            for (unsigned l = lane; l < lane + m; l++, o += s0) ks_store_f64(o, j->dt, v[l]);
    }
    return o;
}

static void rand_loop(char **d, const int64_t *s, int64_t n, void *arg)
{
    struct rand_chunk *rc = arg;
    const struct rand_job *j = rc->job;
    uint64_t per = (uint64_t)per_block(j->kind), blk = (uint64_t)rc->pos / per;
    unsigned lane = (unsigned)((uint64_t)rc->pos % per);
    char *o = d[0], *p = j->kind == R_BERNOULLI_T ? d[1] : NULL;
    int64_t ps = j->kind == R_BERNOULLI_T ? s[1] : 0;
    double v[4];
    int64_t iv[2];
    for (int64_t k = 0; k < n; blk++, lane = 0) { /* one counter block per pass */
        unsigned m = (unsigned)per - lane;
        if ((int64_t)m > n - k) m = (unsigned)(n - k);
        make_block(j, blk, v, iv);
        o = store_lanes(j, o, s[0], v, iv, lane, m, &p, ps);
        k += m;
    }
    rc->pos += n;
}

static ks_status rand_chunk_fn(void *arg, int64_t b, int64_t e)
{
    struct rand_chunk rc = {arg, b};
    ks_iter_run(&rc.job->it, b, e, rand_loop, &rc);
    return KS_OK;
}

/* Reserve the fill's blocks and run it over t (with p as a second operand). */
static ks_status rand_run(ks_ctx *c, ks_tensor *t, const ks_tensor *p, ks_generator *g, struct rand_job *j)
{
    /* several elements sharing memory would get racing, thread-dependent values */
    for (int d = 0; d < t->ndim; d++)
        if (t->stride[d] == 0 && t->size[d] > 1)
            return ks_error(c, KS_EINVAL, "random fill of an expanded tensor (dim %d has stride 0): "
                                          "several elements share memory; clone() it first", d);
    ks_tensor *ops[2] = {t, (ks_tensor *)p};
    ks_status st = ks_iter_init(c, &j->it, p ? 2 : 1, ops);
    if (st) return st;
    if (!g) g = c->gen;
    uint64_t per = (uint64_t)per_block(j->kind);
    j->dt = t->dtype;
    j->seed = g->seed;
    j->start = ks_generator_take(g, ((uint64_t)t->numel + per - 1) / per);
    ks_tensor_bump_version(t);
    return ks_parallel_for(c, t->numel, RAND_GRAIN, rand_chunk_fn, j);
}

static ks_status need_float(ks_ctx *c, const ks_tensor *t, const char *op)
{
    if (t->dtype != KS_FLOAT32)
        return ks_error(c, KS_ETYPE, "%s expects a floating point tensor (float32), got %s", op, ks_dtype_name(t->dtype));
    return KS_OK;
}

ks_status ks_uniform_(ks_ctx *c, ks_tensor *t, ks_generator *g, double a, double b)
{
    ks_status st = need_float(c, t, "uniform_");
    if (st) return st;
    if (!(a <= b) || !isfinite(b - a))
        return ks_error(c, KS_EINVAL, "uniform_ expects from <= to with a finite range, got from=%g to=%g", a, b);
    struct rand_job j = {.kind = R_UNIFORM, .a = a, .b = b};
    return rand_run(c, t, NULL, g, &j);
}

ks_status ks_normal_(ks_ctx *c, ks_tensor *t, ks_generator *g, double mean, double std)
{
    ks_status st = need_float(c, t, "normal_");
    if (st) return st;
    if (!(std >= 0) || !isfinite(std) || !isfinite(mean))
        return ks_error(c, KS_EINVAL, "normal_ expects std >= 0.0 and a finite mean, got mean=%g std=%g", mean, std);
    struct rand_job j = {.kind = R_NORMAL, .a = mean, .b = std};
    return rand_run(c, t, NULL, g, &j);
}

ks_status ks_bernoulli_(ks_ctx *c, ks_tensor *t, ks_generator *g, double p)
{
    if (!(p >= 0 && p <= 1)) return ks_error(c, KS_EINVAL, "bernoulli_ expects 0 <= p <= 1, but got p=%g", p);
    struct rand_job j = {.kind = R_BERNOULLI, .a = p};
    return rand_run(c, t, NULL, g, &j);
}

struct prob_check {
    ks_dtype dt;
    bool bad;
    double value; /* the first bad probability */
};

static void prob_check_loop(char **d, const int64_t *s, int64_t n, void *arg)
{
    struct prob_check *pc = arg;
    const char *p = d[0];
    for (int64_t k = 0; k < n && !pc->bad; k++, p += s[0]) {
        double v = ks_load_f64(p, pc->dt);
        if (!(v >= 0 && v <= 1)) pc->bad = true, pc->value = v;
    }
}

ks_status ks_bernoulli_tensor_(ks_ctx *c, ks_tensor *t, ks_generator *g, const ks_tensor *p)
{
    /* validate first (serially): kernel bodies cannot report errors */
    struct prob_check pc = {p->dtype, false, 0};
    ks_iter it;
    ks_tensor *pp = (ks_tensor *)p;
    ks_status st = ks_iter_init(c, &it, 1, &pp);
    if (st) return st;
    ks_iter_run(&it, 0, it.numel, prob_check_loop, &pc);
    if (pc.bad) return ks_error(c, KS_EINVAL, "bernoulli expects all probabilities in [0, 1], but found %g", pc.value);
    struct rand_job j = {.kind = R_BERNOULLI_T, .pdt = p->dtype};
    return rand_run(c, t, p, g, &j);
}

ks_status ks_randint_(ks_ctx *c, ks_tensor *t, ks_generator *g, int64_t low, int64_t high)
{
    if (low >= high)
        return ks_error(c, KS_EINVAL, "randint: low (%lld) must be less than high (%lld)", (long long)low, (long long)high);
    struct rand_job j = {.kind = R_RANDINT, .low = low, .range = (uint64_t)high - (uint64_t)low};
    return rand_run(c, t, NULL, g, &j);
}

ks_status ks_randperm(ks_ctx *c, ks_generator *g, int64_t n, ks_dtype dt, ks_tensor **out)
{
    if (n < 0) return ks_error(c, KS_EINVAL, "randperm: n must be non-negative, got %lld", (long long)n);
    if ((dt == KS_UINT8 && n > 256) || (dt == KS_FLOAT32 && n > (1 << 24)) || (dt == KS_BOOL && n > 2))
        return ks_error(c, KS_EINVAL, "randperm: n = %lld is too large for dtype %s", (long long)n, ks_dtype_name(dt));
    if (!g) g = c->gen;
    ks_tensor *r;
    ks_status st = new_1d(c, KS_INT64, n, &r);
    if (st) return st;
    int64_t *v = ks_tensor_data(r);
    for (int64_t i = 0; i < n; i++) v[i] = i;
    for (int64_t i = n - 1; i > 0; i--) {
        int64_t k = (int64_t)ks_random_below(g, (uint64_t)i + 1), tmp = v[i];
        v[i] = v[k];
        v[k] = tmp;
    }
    if (dt != KS_INT64) {
        ks_tensor *conv;
        st = ks_to_dtype(c, r, dt, &conv);
        ks_tensor_release(r);
        if (st) return st;
        r = conv;
    }
    *out = r;
    return KS_OK;
}

/* ---------------------------------------------------------- multinomial */
struct keyed {
    double key;
    int64_t idx;
};

static int by_key_desc(const void *a, const void *b)
{
    const struct keyed *x = a, *y = b;
    if (x->key != y->key) return x->key > y->key ? -1 : 1;
    return x->idx < y->idx ? -1 : x->idx > y->idx;
}

/* One row: weights w[k] (validated), n samples into o (int64). */
static void sample_row(ks_generator *g, const double *w, int64_t k, int64_t n, bool repl, double *cum,
                       struct keyed *keys, int64_t *o)
{
    if (repl) {
        double total = 0;
        for (int64_t i = 0; i < k; i++) cum[i] = total += w[i];
        for (int64_t s = 0; s < n; s++) {
            double u = ks_random_uniform(g) * total;
            int64_t lo = 0, hi = k - 1;
            while (lo < hi) { /* first i with cum[i] > u */
                int64_t mid = lo + (hi - lo) / 2;
                if (cum[mid] > u) hi = mid; else lo = mid + 1;
            }
            o[s] = lo;
        }
        return;
    }
    /* exponential race: key -E/w orders categories like sequential draws without replacement */
    int64_t m = 0;
    for (int64_t i = 0; i < k; i++) {
        if (w[i] <= 0) continue;
        double e = -log(1.0 - ks_random_uniform(g));
        keys[m].key = -e / w[i];
        keys[m].idx = i;
        m++;
    }
    qsort(keys, (size_t)m, sizeof *keys, by_key_desc);
    for (int64_t s = 0; s < n; s++) o[s] = keys[s].idx;
}

ks_status ks_multinomial(ks_ctx *c, const ks_tensor *probs, ks_generator *g, int64_t n, bool replacement,
                         ks_tensor **out)
{
    if (probs->ndim < 1 || probs->ndim > 2)
        return ks_error(c, KS_EINVAL, "multinomial: probability distribution must be 1 or 2 dimensional, got %d-d",
                        probs->ndim);
    int64_t rows = probs->ndim == 2 ? probs->size[0] : 1, k = probs->size[probs->ndim - 1];
    int64_t rs = probs->ndim == 2 ? probs->stride[0] : 0, ks = probs->stride[probs->ndim - 1];
    if (k == 0) return ks_error(c, KS_EINVAL, "multinomial: the distribution has no categories");
    if (n <= 0) return ks_error(c, KS_EINVAL, "multinomial: cannot sample n_sample <= 0 samples (got %lld)", (long long)n);
    if (!g) g = c->gen;
    double *w = malloc((size_t)k * (sizeof(double) * 2 + sizeof(struct keyed)));
    if (!w) return ks_error(c, KS_ENOMEM, "multinomial: out of memory for %lld categories", (long long)k);
    double *cum = w + k;
    struct keyed *keys = (struct keyed *)(cum + k);
    int64_t size[2] = {rows, n};
    ks_tensor *r = NULL;
    ks_status st = ks_tensor_empty(c, KS_INT64, probs->ndim, probs->ndim == 2 ? size : size + 1, &r);
    const char *base = ks_tensor_data(probs);
    size_t isz = ks_dtype_size(probs->dtype);
    for (int64_t row = 0; !st && row < rows; row++) {
        int64_t nonzero = 0;
        double total = 0;
        for (int64_t i = 0; i < k; i++) {
            w[i] = ks_load_f64(base + (row * rs + i * ks) * (int64_t)isz, probs->dtype);
            if (!(w[i] >= 0) || !isfinite(w[i])) {
                st = ks_error(c, KS_EINVAL, "multinomial: probabilities must be finite and non-negative (row %lld, category %lld is %g)",
                              (long long)row, (long long)i, w[i]);
                break;
            }
            nonzero += w[i] > 0;
            total += w[i];
        }
        if (st) break;
        if (total <= 0)
            st = ks_error(c, KS_EINVAL, "multinomial: invalid distribution (sum of probabilities <= 0) in row %lld", (long long)row);
        else if (!replacement && n > nonzero)
            st = ks_error(c, KS_EINVAL, "multinomial: cannot draw %lld samples without replacement from %lld non-zero categories",
                          (long long)n, (long long)nonzero);
        else
            sample_row(g, w, k, n, replacement, cum, keys, (int64_t *)ks_tensor_data(r) + row * n);
    }
    free(w);
    if (st) { ks_tensor_release(r); return st; }
    *out = r;
    return KS_OK;
}
