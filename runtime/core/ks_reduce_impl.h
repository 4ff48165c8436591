/* ks_reduce_impl.h: internals shared by the reduction engine (ks_reduce.c)
 * and the per-op kernels (ks_reduce_ops.c). Not a public header.
 *
 * A reduction is described by a job: the kept dims (one output element per
 * kept index, row-major) and the reduced dims (walked row-major for each
 * output), both with size-1 dims dropped and mergeable neighbours merged.
 * An op reduces runs of elements into an accumulator, combines accumulators
 * of consecutive chunks in order, and stores the final value.
 */
#ifndef KS_REDUCE_IMPL_H
#define KS_REDUCE_IMPL_H

#include "ks_reduce.h"

/* Accumulator; each op documents which fields it uses. */
typedef struct red_acc {
    double v, w;  /* float value / second quantity (M2, scaled sum) */
    int64_t i;    /* integer value or flag */
    int64_t n;    /* count or index (-1: none yet) */
} red_acc;

typedef struct red_job red_job;

/* run: fold n elements at p (byte stride sb), the first being reduced
 * element number `pos`, into a. */
typedef void (*red_run_fn)(red_acc *a, const char *p, int64_t sb, int64_t n, int64_t pos, const red_job *j);

typedef struct red_op {
    const char *name;
    void (*init)(red_acc *a, const red_job *j);
    red_run_fn run;
    /* optional: reduce elements [b, e) into a fresh a (multi-pass ops) */
    void (*chunk)(red_acc *a, const char *base, int64_t b, int64_t e, const red_job *j);
    void (*combine)(red_acc *a, const red_acc *b, const red_job *j);
    /* store output number o */
    void (*finish)(const red_acc *a, const red_job *j, int64_t o);
    bool needs_nonempty;  /* no identity: empty reductions are errors */
    bool float_only;      /* integer input is a KS_ETYPE error */
    bool float_out2;      /* the second output is float32 (else int64) */
    bool columns;         /* may use the float32 column kernel (sum, mean) */
} red_op;

struct red_job {
    const red_op *op;
    ks_dtype in_dt, out_dt;
    const char *in;
    char *out, *out2;             /* out2: int64 indices (max/min), float32 means (var_mean) */
    int nk, nr;                   /* kept / reduced dims after merging */
    int64_t ksize[KS_MAX_DIMS], kstride[KS_MAX_DIMS]; /* strides in bytes */
    int64_t rsize[KS_MAX_DIMS], rstride[KS_MAX_DIMS];
    int64_t out_numel, red_numel;
    double p;                     /* norm order, var correction */
    bool is_min;                  /* extreme ops: min instead of max */
    bool want_index;              /* extreme ops: the position is an output */
    bool is_std;                  /* var op: take the square root */
    red_acc *partials;            /* split full reductions: one per chunk */
};

/* Walk reduced elements [b, e) of the output whose first element is at base. */
void red_walk(const red_job *j, const char *base, int64_t b, int64_t e, red_run_fn run, red_acc *a);

/* element loads: float32 fast, other dtypes through the generic loaders */
static inline double red_ld(const char *p, ks_dtype dt)
{
    return dt == KS_FLOAT32 ? (double)*(const float *)p : ks_load_f64(p, dt);
}

extern const red_op ks_red_sum, ks_red_mean, ks_red_prod, ks_red_amax, ks_red_amin, ks_red_max, ks_red_min,
    ks_red_argmax, ks_red_argmin, ks_red_var, ks_red_std, ks_red_norm, ks_red_lse, ks_red_any, ks_red_all,
    ks_red_count;

#endif
