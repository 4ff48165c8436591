/* ks_augment_tabular.c: Gaussian jitter and SMOTE-style interpolation of
 * feature rows (contracts in ks_augment.h). */
#include "ks_augment_impl.h"

#include <math.h>
#include <string.h>

static ks_status check_rows(ks_ctx *c, const char *op, const ks_tensor *x)
{
    char s[96];
    if (x->dtype != KS_FLOAT32 || x->ndim != 2 || !ks_tensor_is_contiguous(x))
        return ks_error(c, x->ndim != 2 ? KS_ESHAPE : KS_ETYPE,
                        "%s: x must be a contiguous float32 matrix [N, F], got %s %s", op, ks_dtype_name(x->dtype),
                        ks_shape_str(x, s, sizeof s));
    return KS_OK;
}

static ks_status check_out_rows(ks_ctx *c, const char *op, const ks_tensor *out, int64_t M, int64_t F)
{
    char s[96];
    if (out->ndim != 2 || out->size[0] != M || out->size[1] != F)
        return ks_error(c, KS_ESHAPE, "%s: out has shape %s, expected [%lld, %lld]", op, ks_shape_str(out, s, sizeof s),
                        (long long)M, (long long)F);
    return KS_OK;
}

/* -------------------------------------------------------- Gaussian jitter */
typedef struct jit_job {
    const float *src, *std;
    float *dst;
    int64_t F;
    const unsigned char *on;
    uint64_t seed, start, bpr;
    float sigma;
} jit_job;

static ks_status jitter_chunk(void *arg, int64_t r0, int64_t r1)
{
    const jit_job *j = arg;
    for (int64_t r = r0; r < r1; r++) {
        const float *s = j->src + r * j->F;
        float *d = j->dst + r * j->F;
        if (!j->on[r]) {
            if (s != d) memcpy(d, s, (size_t)j->F * sizeof *d);
            continue;
        }
        for (int64_t f = 0; f < j->F; f += 2) {
            /* one Philox block per 4 features: Box-Muller on a word pair per 2 */
            uint32_t w[4];
            ks_philox(j->seed, j->start + (uint64_t)r * j->bpr + (uint64_t)(f >> 2), w);
            int k = (int)(f & 3);
            double u1 = 1.0 - ks_u32_to_unit(w[k]), u2 = ks_u32_to_unit(w[k + 1]);
            double rr = sqrt(-2.0 * log(u1)), a = 2.0 * M_PI * u2;
            d[f] = s[f] + j->sigma * j->std[f] * (float)(rr * cos(a));
            if (f + 1 < j->F) d[f + 1] = s[f + 1] + j->sigma * j->std[f + 1] * (float)(rr * sin(a));
        }
    }
    return KS_OK;
}

/* population std (ddof 0) of each column, in double */
static void column_std(const float *x, int64_t N, int64_t F, float *std)
{
    for (int64_t f = 0; f < F; f++) {
        double m = 0, v = 0;
        for (int64_t r = 0; r < N; r++) m += x[r * F + f];
        m = N ? m / (double)N : 0;
        for (int64_t r = 0; r < N; r++) v += (x[r * F + f] - m) * (x[r * F + f] - m);
        std[f] = (float)(N ? sqrt(v / (double)N) : 0);
    }
}

ks_status ks_aug_gauss_jitter(ks_ctx *c, const ks_tensor *x, ks_tensor *out, ks_generator *g, const ks_tensor *std,
                              double sigma, double p)
{
    const char *op = "gaussian_jitter";
    char s[96];
    ks_status st = check_rows(c, op, x);
    if (st || (st = check_out_rows(c, op, out, x->size[0], x->size[1])) || (st = ks_aug_check_alias(c, op, x, out, 1)) ||
        (st = ks_aug_check_prob(c, op, "p", p)))
        return st;
    int64_t N = x->size[0], F = x->size[1];
    if (std && (std->dtype != KS_FLOAT32 || std->ndim != 1 || std->size[0] != F || !ks_tensor_is_contiguous(std)))
        return ks_error(c, KS_ESHAPE, "%s: std must be a float32 [%lld] tensor (one per feature), got %s %s", op,
                        (long long)F, ks_dtype_name(std->dtype), ks_shape_str(std, s, sizeof s));
    if (!(sigma >= 0) || !isfinite(sigma)) return ks_error(c, KS_EINVAL, "%s: sigma must be >= 0, got %g", op, sigma);
    size_t bytes = (size_t)N + (size_t)F * sizeof(float);
    unsigned char *mem = malloc(bytes ? bytes : 1);
    if (!mem) return ks_error(c, KS_ENOMEM, "%s: out of memory", op);
    float *sd = (float *)(void *)mem; /* F floats first (aligned), then N flags */
    unsigned char *on = mem + (size_t)F * sizeof(float);
    if (std) memcpy(sd, ks_tensor_data(std), (size_t)F * sizeof *sd);
    else column_std(ks_tensor_data(x), N, F, sd);
    for (int64_t r = 0; r < N; r++) on[r] = (unsigned char)ks_aug_coin(g, p);
    jit_job j = {ks_tensor_data(x), sd, ks_tensor_data(out), F, on, g->seed, 0, (uint64_t)(F + 3) / 4, (float)sigma};
    j.start = ks_generator_take(g, j.bpr * (uint64_t)N);
    st = ks_parallel_for(c, N, ks_aug_grain(8 * F), jitter_chunk, &j);
    free(mem);
    ks_tensor_bump_version(out);
    return st;
}

/* ------------------------------------------------------------------ SMOTE */
typedef struct smote_draw {
    int64_t base, rank; /* rank of the neighbour among the nearest, -1: alone in its class */
    double u;
} smote_draw;

typedef struct smote_job {
    const float *x;
    const int64_t *lab;
    float *dst;
    int64_t N, F, k;
    const smote_draw *dr;
} smote_job;

typedef struct nb {
    double d;
    int64_t i;
} nb;

static double sqdist(const float *a, const float *b, int64_t F)
{
    double s = 0;
    for (int64_t f = 0; f < F; f++) {
        double t = (double)a[f] - (double)b[f];
        s += t * t;
    }
    return s;
}

/* The rank-th nearest row of base's class (ties by index), by insertion into a sorted list. */
static int64_t nth_neighbour(const smote_job *j, int64_t base, int64_t rank, nb *list)
{
    int64_t n = 0, want = rank + 1;
    const float *xb = j->x + base * j->F;
    for (int64_t i = 0; i < j->N; i++) {
        if (i == base || j->lab[i] != j->lab[base]) continue;
        nb e = {sqdist(xb, j->x + i * j->F, j->F), i};
        if (n == want && !(e.d < list[n - 1].d)) continue; /* equal distance: the lower index stays */
        int64_t p = n < want ? n++ : n - 1;
        while (p > 0 && e.d < list[p - 1].d) {
            list[p] = list[p - 1];
            p--;
        }
        list[p] = e;
    }
    return list[rank].i;
}

static ks_status smote_chunk(void *arg, int64_t m0, int64_t m1)
{
    const smote_job *j = arg;
    nb *list = malloc((size_t)(j->k + 1) * sizeof *list);
    if (!list) return KS_ENOMEM;
    for (int64_t m = m0; m < m1; m++) {
        const smote_draw *d = &j->dr[m];
        const float *xb = j->x + d->base * j->F;
        float *o = j->dst + m * j->F;
        if (d->rank < 0) {
            memcpy(o, xb, (size_t)j->F * sizeof *o);
            continue;
        }
        const float *xn = j->x + nth_neighbour(j, d->base, d->rank, list) * j->F;
        for (int64_t f = 0; f < j->F; f++) o[f] = (float)(xb[f] + d->u * ((double)xn[f] - xb[f]));
    }
    free(list);
    return KS_OK;
}

static ks_status check_smote(ks_ctx *c, const ks_tensor *x, const ks_tensor *labels, const ks_tensor *bases,
                             const ks_tensor *out, int64_t k)
{
    const char *op = "smote";
    char s[96], s2[96];
    ks_status st = check_rows(c, op, x);
    if (st) return st;
    if (labels->dtype != KS_INT64 || labels->ndim != 1 || labels->size[0] != x->size[0] ||
        !ks_tensor_is_contiguous(labels))
        return ks_error(c, KS_ESHAPE, "%s: labels must be int64 [N] matching x of shape %s, got %s %s", op,
                        ks_shape_str(x, s, sizeof s), ks_dtype_name(labels->dtype), ks_shape_str(labels, s2, sizeof s2));
    if (bases->dtype != KS_INT64 || bases->ndim != 1 || !ks_tensor_is_contiguous(bases))
        return ks_error(c, KS_ESHAPE, "%s: bases must be a 1-D int64 tensor, got %s %s", op,
                        ks_dtype_name(bases->dtype), ks_shape_str(bases, s, sizeof s));
    if (k < 1) return ks_error(c, KS_EINVAL, "%s: k must be >= 1, got %lld", op, (long long)k);
    if ((st = check_out_rows(c, op, out, bases->size[0], x->size[1]))) return st;
    return ks_aug_check_alias(c, op, x, out, 0);
}

ks_status ks_aug_smote(ks_ctx *c, const ks_tensor *x, const ks_tensor *labels, const ks_tensor *bases,
                       ks_tensor *out, ks_generator *g, int64_t k)
{
    ks_status st = check_smote(c, x, labels, bases, out, k);
    if (st) return st;
    smote_job j = {ks_tensor_data(x), ks_tensor_data(labels), ks_tensor_data(out), x->size[0], x->size[1], k, NULL};
    if (j.k > j.N) j.k = j.N; /* never more neighbours than rows */
    int64_t M = bases->size[0];
    const int64_t *bs = ks_tensor_data(bases);
    smote_draw *dr = malloc((size_t)(M ? M : 1) * sizeof *dr);
    if (!dr) return ks_error(c, KS_ENOMEM, "smote: out of memory");
    for (int64_t m = 0; m < M; m++) {
        if (bs[m] < 0 || bs[m] >= j.N) {
            free(dr);
            return ks_error(c, KS_ERANGE, "smote: base index %lld at position %lld is outside [0, %lld)",
                            (long long)bs[m], (long long)m, (long long)j.N);
        }
        int64_t same = 0;
        for (int64_t i = 0; i < j.N; i++) same += j.lab[i] == j.lab[bs[m]];
        int64_t kk = same - 1 < k ? same - 1 : k;
        dr[m].base = bs[m];
        dr[m].rank = kk > 0 ? (int64_t)ks_random_below(g, (uint64_t)kk) : -1;
        dr[m].u = ks_random_uniform(g);
    }
    j.dr = dr;
    st = ks_parallel_for(c, M, ks_aug_grain(j.N * j.F), smote_chunk, &j);
    free(dr);
    if (st == KS_ENOMEM) return ks_error(c, st, "smote: out of memory");
    ks_tensor_bump_version(out);
    return st;
}
