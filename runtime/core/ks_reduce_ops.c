/* ks_reduce_ops.c: per-op kernels of the reduction engine (see
 * ks_reduce_impl.h). float32 input has explicit loops (double accumulators);
 * other dtypes go through the generic loaders. */
#include "ks_reduce_impl.h"

#include <math.h>

#define FX(p, k, sb) ((double)*(const float *)((p) + (k) * (sb)))

/* float32 sum of a run; four accumulators when contiguous (ILP, fixed order) */
static double fsum(const char *p, int64_t sb, int64_t n)
{
    if (sb != 4) {
        double s = 0;
        for (int64_t k = 0; k < n; k++) s += FX(p, k, sb);
        return s;
    }
    const float *x = (const float *)p;
    double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    int64_t k = 0;
    for (; k + 4 <= n; k += 4) {
        s0 += x[k];
        s1 += x[k + 1];
        s2 += x[k + 2];
        s3 += x[k + 3];
    }
    for (; k < n; k++) s0 += x[k];
    return (s0 + s1) + (s2 + s3);
}

static double fsumsq(const char *p, int64_t sb, int64_t n)
{
    double s0 = 0, s1 = 0;
    int64_t k = 0;
    for (; k + 2 <= n; k += 2) {
        double a = FX(p, k, sb), b = FX(p, k + 1, sb);
        s0 += a * a;
        s1 += b * b;
    }
    if (k < n) s0 += FX(p, k, sb) * FX(p, k, sb);
    return s0 + s1;
}

/* ---------------------------------------------------------- sum, mean */
/* v: float sum; i: integer sum (wraps like int64 arithmetic) */
static void sum_init(red_acc *a, const red_job *j) { a->v = 0; a->i = 0; }

static void sum_run(red_acc *a, const char *p, int64_t sb, int64_t n, int64_t pos, const red_job *j)
{
    if (j->in_dt == KS_FLOAT32) { a->v += fsum(p, sb, n); return; }
    uint64_t s = (uint64_t)a->i;
    if (j->in_dt == KS_INT64)
        for (int64_t k = 0; k < n; k++) s += *(const uint64_t *)(p + k * sb);
    else
        for (int64_t k = 0; k < n; k++) s += *(const uint8_t *)(p + k * sb);
    a->i = (int64_t)s;
}

static void sum_combine(red_acc *a, const red_acc *b, const red_job *j)
{
    a->v += b->v;
    a->i = (int64_t)((uint64_t)a->i + (uint64_t)b->i);
}

static void sum_finish(const red_acc *a, const red_job *j, int64_t o)
{
    if (j->out_dt == KS_FLOAT32) ((float *)j->out)[o] = (float)a->v;
    else ((int64_t *)j->out)[o] = a->i;
}

static void mean_finish(const red_acc *a, const red_job *j, int64_t o)
{
    ((float *)j->out)[o] = (float)(a->v / (double)j->red_numel);
}

const red_op ks_red_sum = {.name = "sum", .init = sum_init, .run = sum_run, .combine = sum_combine,
    .finish = sum_finish, .columns = true};
const red_op ks_red_mean = {.name = "mean", .init = sum_init, .run = sum_run, .combine = sum_combine,
    .finish = mean_finish, .float_only = true, .columns = true};

/* ---------------------------------------------------------------- prod */
static void prod_init(red_acc *a, const red_job *j) { a->v = 1; a->i = 1; }

static void prod_run(red_acc *a, const char *p, int64_t sb, int64_t n, int64_t pos, const red_job *j)
{
    if (j->in_dt == KS_FLOAT32) {
        double v = a->v;
        for (int64_t k = 0; k < n; k++) v *= FX(p, k, sb);
        a->v = v;
        return;
    }
    uint64_t v = (uint64_t)a->i;
    for (int64_t k = 0; k < n; k++) v *= (uint64_t)ks_load_i64(p + k * sb, j->in_dt);
    a->i = (int64_t)v;
}

static void prod_combine(red_acc *a, const red_acc *b, const red_job *j)
{
    a->v *= b->v;
    a->i = (int64_t)((uint64_t)a->i * (uint64_t)b->i);
}

const red_op ks_red_prod = {.name = "prod", .init = prod_init, .run = prod_run, .combine = prod_combine,
    .finish = sum_finish};

/* ------------------------------------------------------- max, min, arg* */
/* v (float) or i (integer): best value; n: its index, -1 before the first
 * element. A NaN wins (the first NaN). Ties keep the first occurrence. */
static void ext_init(red_acc *a, const red_job *j) { a->v = 0; a->i = 0; a->n = -1; }

/* merge b (later elements) into a */
static void ext_combine(red_acc *a, const red_acc *b, const red_job *j)
{
    if (b->n < 0) return;
    if (a->n < 0) { *a = *b; return; }
    bool take;
    if (j->in_dt == KS_FLOAT32)
        take = !isnan(a->v) && (isnan(b->v) || (j->is_min ? b->v < a->v : b->v > a->v));
    else
        take = j->is_min ? b->i < a->i : b->i > a->i;
    if (take) *a = *b;
}

#define FL(p, k, sb) (*(const float *)((p) + (k) * (sb)))

/* float32 run in two passes: the extreme with selects (no unpredictable
 * branch; NaN noted), then, when an index is wanted, its first position */
static void ext_run_f(red_acc *a, const char *p, int64_t sb, int64_t n, int64_t pos, const red_job *j)
{
    float m = FL(p, 0, sb);
    bool nan = m != m;
    if (j->is_min)
        for (int64_t k = 1; k < n; k++) {
            float x = FL(p, k, sb);
            m = x < m ? x : m;
            nan |= x != x;
        }
    else
        for (int64_t k = 1; k < n; k++) {
            float x = FL(p, k, sb);
            m = x > m ? x : m;
            nan |= x != x;
        }
    int64_t i = 0;
    if (nan)
        while (!isnan(FL(p, i, sb))) i++;
    else if (j->want_index)
        while (FL(p, i, sb) != m) i++;
    red_acc r = {.v = nan ? NAN : m, .n = pos + i};
    ext_combine(a, &r, j);
}

static void ext_run(red_acc *a, const char *p, int64_t sb, int64_t n, int64_t pos, const red_job *j)
{
    if (j->in_dt == KS_FLOAT32) { ext_run_f(a, p, sb, n, pos, j); return; }
    int64_t best = a->i, bi = a->n;
    for (int64_t k = 0; k < n; k++) {
        int64_t x = ks_load_i64(p + k * sb, j->in_dt);
        if (bi < 0 || (j->is_min ? x < best : x > best)) { best = x; bi = pos + k; }
    }
    a->i = best;
    a->n = bi;
}

/* value, and the index too when the job has a second output */
static void ext_finish(const red_acc *a, const red_job *j, int64_t o)
{
    size_t isz = ks_dtype_size(j->out_dt);
    if (j->out_dt == KS_FLOAT32) ((float *)j->out)[o] = (float)a->v;
    else ks_store_i64(j->out + o * (int64_t)isz, j->out_dt, a->i);
    if (j->out2) ((int64_t *)j->out2)[o] = a->n;
}

static void arg_finish(const red_acc *a, const red_job *j, int64_t o) { ((int64_t *)j->out)[o] = a->n; }

const red_op ks_red_amax = {.name = "amax", .init = ext_init, .run = ext_run, .combine = ext_combine,
    .finish = ext_finish, .needs_nonempty = true};
const red_op ks_red_amin = {.name = "amin", .init = ext_init, .run = ext_run, .combine = ext_combine,
    .finish = ext_finish, .needs_nonempty = true};
const red_op ks_red_max = {.name = "max", .init = ext_init, .run = ext_run, .combine = ext_combine,
    .finish = ext_finish, .needs_nonempty = true};
const red_op ks_red_min = {.name = "min", .init = ext_init, .run = ext_run, .combine = ext_combine,
    .finish = ext_finish, .needs_nonempty = true};
const red_op ks_red_argmax = {.name = "argmax", .init = ext_init, .run = ext_run, .combine = ext_combine,
    .finish = arg_finish, .needs_nonempty = true};
const red_op ks_red_argmin = {.name = "argmin", .init = ext_init, .run = ext_run, .combine = ext_combine,
    .finish = arg_finish, .needs_nonempty = true};

/* ------------------------------------------------------------ var, std */
/* n: count, v: mean, w: sum of squared deviations (M2). Each chunk is
 * reduced in two passes (mean, then deviations); chunks are merged with
 * Chan et al.'s pairwise update. float32 input only. */
static void var_init(red_acc *a, const red_job *j) { a->n = 0; a->v = 0; a->w = 0; }

static void fsum_run(red_acc *a, const char *p, int64_t sb, int64_t n, int64_t pos, const red_job *j)
{
    a->v += fsum(p, sb, n);
}

static void sqdev_run(red_acc *a, const char *p, int64_t sb, int64_t n, int64_t pos, const red_job *j)
{
    double m = a->v, s = 0;
    for (int64_t k = 0; k < n; k++) {
        double d = FX(p, k, sb) - m;
        s += d * d;
    }
    a->w += s;
}

static void var_chunk(red_acc *a, const char *base, int64_t b, int64_t e, const red_job *j)
{
    red_acc s = {0};
    red_walk(j, base, b, e, fsum_run, &s);
    a->n = e - b;
    a->v = s.v / (double)a->n;
    a->w = 0;
    red_walk(j, base, b, e, sqdev_run, a);
}

static void var_combine(red_acc *a, const red_acc *b, const red_job *j)
{
    if (b->n == 0) return;
    if (a->n == 0) { *a = *b; return; }
    double na = (double)a->n, nb = (double)b->n, n = na + nb, d = b->v - a->v;
    a->v += d * (nb / n);
    a->w += b->w + d * d * (na * nb / n);
    a->n += b->n;
}

static void var_finish(const red_acc *a, const red_job *j, int64_t o)
{
    double div = (double)a->n - j->p;
    double r = a->w / (div > 0 ? div : 0);
    ((float *)j->out)[o] = (float)(j->is_std ? sqrt(r) : r);
    if (j->out2) ((float *)j->out2)[o] = a->n ? (float)a->v : NAN;
}

const red_op ks_red_var = {.name = "var", .init = var_init, .chunk = var_chunk, .combine = var_combine,
    .finish = var_finish, .float_only = true, .float_out2 = true};
const red_op ks_red_std = {.name = "std", .init = var_init, .chunk = var_chunk, .combine = var_combine,
    .finish = var_finish, .float_only = true, .float_out2 = true};

/* ---------------------------------------------------------------- norm */
/* v: sum of |x|^p (max/min of |x| for p = +-inf, non-zero count for p = 0) */
static void norm_init(red_acc *a, const red_job *j) { a->v = j->p == -INFINITY ? INFINITY : 0; }

/* NaN-propagating max (is_min: min) of a and b */
static double nan_ext(double a, double b, bool is_min)
{
    if (isnan(a)) return a;
    if (isnan(b)) return b;
    return (is_min ? b < a : b > a) ? b : a;
}

static void norm_run(red_acc *a, const char *p, int64_t sb, int64_t n, int64_t pos, const red_job *j)
{
    double q = j->p, v = a->v;
    if (q == 2) {
        v += fsumsq(p, sb, n);
    } else if (q == 1) {
        for (int64_t k = 0; k < n; k++) v += fabs(FX(p, k, sb));
    } else if (isinf(q)) {
        for (int64_t k = 0; k < n; k++) v = nan_ext(v, fabs(FX(p, k, sb)), q < 0);
    } else if (q == 0) {
        for (int64_t k = 0; k < n; k++) v += FX(p, k, sb) != 0;
    } else {
        for (int64_t k = 0; k < n; k++) v += pow(fabs(FX(p, k, sb)), q);
    }
    a->v = v;
}

static void norm_combine(red_acc *a, const red_acc *b, const red_job *j)
{
    a->v = isinf(j->p) ? nan_ext(a->v, b->v, j->p < 0) : a->v + b->v;
}

static void norm_finish(const red_acc *a, const red_job *j, int64_t o)
{
    double q = j->p, r = a->v;
    if (q == 2) r = sqrt(r);
    else if (q != 1 && q != 0 && !isinf(q)) r = pow(r, 1.0 / q);
    ((float *)j->out)[o] = (float)r;
}

const red_op ks_red_norm = {.name = "norm", .init = norm_init, .run = norm_run, .combine = norm_combine,
    .finish = norm_finish, .float_only = true};

/* ----------------------------------------------------------- logsumexp */
/* v: max (the shift), w: sum of exp(x - v). NaN anywhere gives NaN. */
static void lse_init(red_acc *a, const red_job *j) { a->v = -INFINITY; a->w = 0; }

static void lse_max_run(red_acc *a, const char *p, int64_t sb, int64_t n, int64_t pos, const red_job *j)
{
    double m = a->v;
    for (int64_t k = 0; k < n && !isnan(m); k++) {
        double x = red_ld(p + k * sb, j->in_dt);
        if (x > m || x != x) m = x;
    }
    a->v = m;
}

static void lse_exp_run(red_acc *a, const char *p, int64_t sb, int64_t n, int64_t pos, const red_job *j)
{
    double m = a->v, s = 0;
    if (j->in_dt == KS_FLOAT32) /* float exp of a float32 difference: float32 accuracy, 3x faster */
        for (int64_t k = 0; k < n; k++) s += expf((float)(FX(p, k, sb) - m));
    else
        for (int64_t k = 0; k < n; k++) s += exp(red_ld(p + k * sb, j->in_dt) - m);
    a->w += s;
}

static void lse_chunk(red_acc *a, const char *base, int64_t b, int64_t e, const red_job *j)
{
    lse_init(a, j);
    red_walk(j, base, b, e, lse_max_run, a);
    if (isfinite(a->v)) red_walk(j, base, b, e, lse_exp_run, a);
    else a->w = a->v == -INFINITY ? 0 : 1; /* all -inf: empty sum; +inf or NaN: kept as is */
}

/* exp(v - m) with inf - inf taken as 0 */
static double lse_scale(double v, double m) { return v == m ? 1.0 : exp(v - m); }

static void lse_combine(red_acc *a, const red_acc *b, const red_job *j)
{
    if (isnan(a->v) || isnan(b->v)) { a->v = NAN; return; }
    double m = a->v > b->v ? a->v : b->v;
    a->w = a->w * lse_scale(a->v, m) + b->w * lse_scale(b->v, m);
    a->v = m;
}

static void lse_finish(const red_acc *a, const red_job *j, int64_t o)
{
    double r = isnan(a->v) ? a->v : a->w == 0 ? -INFINITY : a->v + log(a->w);
    ((float *)j->out)[o] = (float)r;
}

const red_op ks_red_lse = {.name = "logsumexp", .init = lse_init, .chunk = lse_chunk, .combine = lse_combine,
    .finish = lse_finish};

/* ------------------------------------------------ any, all, count_nonzero */
/* i: flag or count. NaN counts as non-zero (true), as in PyTorch. */
static inline bool nonzero(const char *p, ks_dtype dt)
{
    switch (dt) {
    case KS_FLOAT32: return *(const float *)p != 0;
    case KS_INT64: return *(const int64_t *)p != 0;
    default: return *(const uint8_t *)p != 0;
    }
}

static void zero_init(red_acc *a, const red_job *j) { a->i = 0; }
static void one_init(red_acc *a, const red_job *j) { a->i = 1; }

static void any_run(red_acc *a, const char *p, int64_t sb, int64_t n, int64_t pos, const red_job *j)
{
    for (int64_t k = 0; k < n && !a->i; k++) a->i = nonzero(p + k * sb, j->in_dt);
}

static void all_run(red_acc *a, const char *p, int64_t sb, int64_t n, int64_t pos, const red_job *j)
{
    for (int64_t k = 0; k < n && a->i; k++) a->i = nonzero(p + k * sb, j->in_dt);
}

static void count_run(red_acc *a, const char *p, int64_t sb, int64_t n, int64_t pos, const red_job *j)
{
    int64_t s = 0;
    for (int64_t k = 0; k < n; k++) s += nonzero(p + k * sb, j->in_dt);
    a->i += s;
}

static void any_combine(red_acc *a, const red_acc *b, const red_job *j) { a->i = a->i || b->i; }
static void all_combine(red_acc *a, const red_acc *b, const red_job *j) { a->i = a->i && b->i; }
static void count_combine(red_acc *a, const red_acc *b, const red_job *j) { a->i += b->i; }

static void flag_finish(const red_acc *a, const red_job *j, int64_t o) { ((uint8_t *)j->out)[o] = a->i != 0; }
static void count_finish(const red_acc *a, const red_job *j, int64_t o) { ((int64_t *)j->out)[o] = a->i; }

const red_op ks_red_any = {.name = "any", .init = zero_init, .run = any_run, .combine = any_combine,
    .finish = flag_finish};
const red_op ks_red_all = {.name = "all", .init = one_init, .run = all_run, .combine = all_combine,
    .finish = flag_finish};
const red_op ks_red_count = {.name = "count_nonzero", .init = zero_init, .run = count_run, .combine = count_combine,
    .finish = count_finish};
