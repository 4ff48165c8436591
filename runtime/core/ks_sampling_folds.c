/* ks_sampling_folds.c: stratified k-fold assignment and stratified
 * train/validation splits (contracts in ks_sampling.h). */
#include "ks_sampling.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct rowval {
    int64_t row, val;
} rowval;

static int cmp_row(const void *a, const void *b)
{
    int64_t x = ((const rowval *)a)->row, y = ((const rowval *)b)->row;
    return (x > y) - (x < y);
}

/* Two int64 [n] tensors: rows ascending and their values. */
static ks_status emit_sorted(ks_ctx *c, rowval *rv, int64_t n, ks_tensor **rows, ks_tensor **vals)
{
    qsort(rv, (size_t)n, sizeof *rv, cmp_row);
    ks_tensor *r = NULL, *v = NULL;
    ks_status st = ks_tensor_empty(c, KS_INT64, 1, &n, &r);
    if (st || (st = ks_tensor_empty(c, KS_INT64, 1, &n, &v))) {
        ks_tensor_release(r);
        return st;
    }
    int64_t *pr = ks_tensor_data(r), *pv = ks_tensor_data(v);
    for (int64_t i = 0; i < n; i++) pr[i] = rv[i].row, pv[i] = rv[i].val;
    *rows = r;
    *vals = v;
    return KS_OK;
}

ks_status ks_stratified_folds(ks_ctx *c, const ks_tensor *labels, const ks_tensor *subset, int64_t k,
                              ks_generator *g, ks_tensor **rows, ks_tensor **fold)
{
    ks_groups gr;
    ks_status st = ks_groups_build(c, "stratified_kfold", labels, subset, &gr);
    if (st) return st;
    if (k < 2 || k > gr.n) {
        st = ks_error(c, KS_EINVAL, "stratified_kfold: k must be in [2, number of examples = %lld], got %lld",
                      (long long)gr.n, (long long)k);
        ks_groups_free(&gr);
        return st;
    }
    rowval *rv = malloc((size_t)gr.n * sizeof *rv);
    if (!rv) {
        ks_groups_free(&gr);
        return ks_error(c, KS_ENOMEM, "stratified_kfold: out of memory");
    }
    uint64_t key = ks_sampling_key(g);
    int64_t pos = 0;
    for (int64_t j = 0; j < gr.m; j++) {
        int64_t *run = gr.idx + gr.start[j], len = gr.start[j + 1] - gr.start[j];
        ks_sampling_shuffle(run, len, len, key, (uint64_t)gr.cls[j]);
        for (int64_t i = 0; i < len; i++, pos++) rv[pos] = (rowval){run[i], pos % k};
    }
    st = emit_sorted(c, rv, gr.n, rows, fold);
    free(rv);
    ks_groups_free(&gr);
    return st;
}

/* Rows with val == want, as an int64 tensor (rv sorted by row). */
static ks_status select_rows(ks_ctx *c, const rowval *rv, int64_t n, int64_t want, ks_tensor **out)
{
    int64_t m = 0;
    for (int64_t i = 0; i < n; i++) m += rv[i].val == want;
    ks_status st = ks_tensor_empty(c, KS_INT64, 1, &m, out);
    if (st) return st;
    int64_t *p = ks_tensor_data(*out);
    for (int64_t i = 0; i < n; i++)
        if (rv[i].val == want) *p++ = rv[i].row;
    return KS_OK;
}

ks_status ks_stratified_split(ks_ctx *c, const ks_tensor *labels, const ks_tensor *subset, double val_frac,
                              int64_t val_count, ks_generator *g, ks_tensor **train, ks_tensor **val)
{
    if (val_count < 0 && !(val_frac >= 0 && val_frac <= 1))
        return ks_error(c, KS_EINVAL, "train_val_split: val fraction must be in [0, 1], got %g", val_frac);
    ks_groups gr;
    ks_status st = ks_groups_build(c, "train_val_split", labels, subset, &gr);
    if (st) return st;
    rowval *rv = malloc((size_t)(gr.n ? gr.n : 1) * sizeof *rv);
    if (!rv) {
        ks_groups_free(&gr);
        return ks_error(c, KS_ENOMEM, "train_val_split: out of memory");
    }
    uint64_t key = ks_sampling_key(g);
    for (int64_t j = 0, pos = 0; j < gr.m; j++) {
        int64_t *run = gr.idx + gr.start[j], len = gr.start[j + 1] - gr.start[j];
        int64_t nv = val_count >= 0 ? val_count : (int64_t)floor(val_frac * (double)len + 0.5);
        if (nv > len - 1) nv = len - 1; /* train keeps one row of every class */
        ks_sampling_shuffle(run, len, nv, key, (uint64_t)gr.cls[j]);
        for (int64_t i = 0; i < len; i++) rv[pos++] = (rowval){run[i], i < nv};
    }
    qsort(rv, (size_t)gr.n, sizeof *rv, cmp_row);
    ks_tensor *t = NULL, *v = NULL;
    st = select_rows(c, rv, gr.n, 0, &t);
    if (!st && (st = select_rows(c, rv, gr.n, 1, &v))) ks_tensor_release(t);
    free(rv);
    ks_groups_free(&gr);
    if (st) return st;
    *train = t;
    *val = v;
    return KS_OK;
}
