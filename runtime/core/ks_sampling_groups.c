/* ks_sampling_groups.c: rows grouped by class, keys and shuffles shared by
 * the samplers (contracts in ks_sampling.h). */
#include "ks_sampling.h"

#include <stdlib.h>
#include <string.h>

uint64_t ks_sampling_key(ks_generator *g)
{
    uint32_t w[4];
    ks_philox(g->seed, ks_generator_take(g, 1), w);
    return (uint64_t)w[0] << 32 | w[1];
}

void ks_sampling_shuffle(int64_t *a, int64_t n, int64_t k, uint64_t key, uint64_t stream)
{
    ks_generator base = {key, 0}, g;
    ks_generator_fork(&base, stream, &g);
    for (int64_t j = 0; j < k && j < n; j++) {
        int64_t r = j + (int64_t)ks_random_below(&g, (uint64_t)(n - j));
        int64_t t = a[j];
        a[j] = a[r];
        a[r] = t;
    }
}

void ks_groups_free(ks_groups *gr)
{
    free(gr->idx);
    memset(gr, 0, sizeof *gr);
}

int64_t ks_groups_find(const ks_groups *gr, int64_t label)
{
    int64_t lo = 0, hi = gr->m;
    while (lo < hi) {
        int64_t mid = lo + (hi - lo) / 2;
        if (gr->cls[mid] < label) lo = mid + 1;
        else hi = mid;
    }
    return lo < gr->m && gr->cls[lo] == label ? lo : -1;
}

typedef struct pair {
    int64_t label, row;
} pair;

static int cmp_pair(const void *a, const void *b)
{
    const pair *x = a, *y = b;
    if (x->label != y->label) return x->label < y->label ? -1 : 1;
    return (x->row > y->row) - (x->row < y->row);
}

static ks_status check_inputs(ks_ctx *c, const char *op, const ks_tensor *labels, const ks_tensor *subset)
{
    char s[96];
    if ((labels->dtype != KS_INT64 && labels->dtype != KS_UINT8) || labels->ndim != 1)
        return ks_error(c, KS_ETYPE, "%s: labels must be a 1-D int64 or uint8 tensor, got %s %s", op,
                        ks_dtype_name(labels->dtype), ks_shape_str(labels, s, sizeof s));
    if (subset && (subset->dtype != KS_INT64 || subset->ndim != 1))
        return ks_error(c, KS_ETYPE, "%s: indices must be a 1-D int64 tensor, got %s %s", op,
                        ks_dtype_name(subset->dtype), ks_shape_str(subset, s, sizeof s));
    return KS_OK;
}

/* (label, row) of every selected row, checked. */
static ks_status read_pairs(ks_ctx *c, const char *op, const ks_tensor *labels, const ks_tensor *subset, pair *p,
                            int64_t n, int64_t *maxlab)
{
    const char *lp = ks_tensor_data(labels), *sp = subset ? ks_tensor_data(subset) : NULL;
    int64_t lstep = labels->stride[0] * (int64_t)ks_dtype_size(labels->dtype), N = labels->size[0];
    *maxlab = -1;
    for (int64_t i = 0; i < n; i++) {
        int64_t row = sp ? *(const int64_t *)(sp + i * subset->stride[0] * 8) : i;
        if (row < 0 || row >= N)
            return ks_error(c, KS_ERANGE, "%s: index %lld at position %lld is outside [0, %lld)", op, (long long)row,
                            (long long)i, (long long)N);
        int64_t lab = ks_load_i64(lp + row * lstep, labels->dtype);
        if (lab < 0)
            return ks_error(c, KS_EINVAL, "%s: negative label %lld at index %lld", op, (long long)lab, (long long)row);
        p[i] = (pair){lab, row};
        if (lab > *maxlab) *maxlab = lab;
    }
    return KS_OK;
}

/* Stable counting sort by label when labels are small, else qsort. */
static int sort_pairs(pair *p, int64_t n, int64_t maxlab)
{
    if (maxlab >= 4 * n + 1024) {
        qsort(p, (size_t)n, sizeof *p, cmp_pair);
        return 0;
    }
    int64_t *cnt = calloc((size_t)maxlab + 2, sizeof *cnt);
    pair *tmp = malloc((size_t)(n > 0 ? n : 1) * sizeof *tmp);
    if (!cnt || !tmp) {
        free(cnt);
        free(tmp);
        return -1;
    }
    int sorted_rows = 1;
    for (int64_t i = 0; i < n; i++) {
        cnt[p[i].label + 1]++;
        if (i && p[i].row < p[i - 1].row) sorted_rows = 0;
    }
    for (int64_t l = 0; l <= maxlab; l++) cnt[l + 1] += cnt[l];
    for (int64_t i = 0; i < n; i++) tmp[cnt[p[i].label]++] = p[i];
    memcpy(p, tmp, (size_t)n * sizeof *p);
    free(cnt);
    free(tmp);
    if (!sorted_rows) qsort(p, (size_t)n, sizeof *p, cmp_pair); /* unsorted subset: order rows within classes */
    return 0;
}

ks_status ks_groups_build(ks_ctx *c, const char *op, const ks_tensor *labels, const ks_tensor *subset, ks_groups *gr)
{
    memset(gr, 0, sizeof *gr);
    ks_status st = check_inputs(c, op, labels, subset);
    if (st) return st;
    int64_t n = subset ? subset->size[0] : labels->size[0], maxlab;
    pair *p = malloc((size_t)(n > 0 ? n : 1) * sizeof *p);
    if (!p) return ks_error(c, KS_ENOMEM, "%s: out of memory for %lld labels", op, (long long)n);
    if ((st = read_pairs(c, op, labels, subset, p, n, &maxlab))) goto done;
    if (sort_pairs(p, n, maxlab)) {
        st = ks_error(c, KS_ENOMEM, "%s: out of memory sorting %lld labels", op, (long long)n);
        goto done;
    }
    int64_t m = 0;
    for (int64_t i = 0; i < n; i++) m += i == 0 || p[i].label != p[i - 1].label;
    gr->idx = malloc((size_t)(2 * n + 2 * m + 2) * sizeof(int64_t) + 8);
    if (!gr->idx) {
        st = ks_error(c, KS_ENOMEM, "%s: out of memory", op);
        goto done;
    }
    gr->cls = gr->idx + n;
    gr->start = gr->cls + m;
    gr->n = n;
    gr->m = m;
    for (int64_t i = 0, j = 0; i < n; i++) {
        gr->idx[i] = p[i].row;
        if (i == 0 || p[i].label != p[i - 1].label) {
            gr->cls[j] = p[i].label;
            gr->start[j++] = i;
        }
    }
    gr->start[m] = n;
    /* a subset could name one row twice: the samplers would then return it twice */
    for (int64_t i = 1; i < n; i++)
        if (p[i].row == p[i - 1].row) {
            st = ks_error(c, KS_EINVAL, "%s: index %lld is listed twice", op, (long long)p[i].row);
            ks_groups_free(gr);
            goto done;
        }
done:
    free(p);
    return st;
}
