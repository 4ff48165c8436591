/* ks_sampling.c: stratified K-per-class sampler (contract in ks_sampling.h). */
#include "ks_sampling.h"

#include <stdlib.h>
#include <string.h>

typedef struct item {
    int64_t label, index;
} item;

static int cmp_item(const void *a, const void *b)
{
    const item *x = a, *y = b;
    if (x->label != y->label) return x->label < y->label ? -1 : 1;
    return (x->index > y->index) - (x->index < y->index);
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static ks_status check_labels(ks_ctx *c, const ks_tensor *labels)
{
    char s[160];
    if (labels->dtype != KS_INT64 && labels->dtype != KS_UINT8)
        return ks_error(c, KS_ETYPE, "kshot_indices: labels must be an int64 or uint8 tensor, got %s",
                        ks_dtype_name(labels->dtype));
    if (labels->ndim != 1)
        return ks_error(c, KS_ESHAPE, "kshot_indices: labels must be 1-D, got shape %s",
                        ks_shape_str(labels, s, sizeof s));
    return KS_OK;
}

/* (label, index) pairs sorted by label then index: each class is one run. */
static ks_status sorted_items(ks_ctx *c, const ks_tensor *labels, item **out)
{
    int64_t n = labels->size[0];
    item *it = malloc((size_t)(n ? n : 1) * sizeof *it);
    if (!it) return ks_error(c, KS_ENOMEM, "kshot_indices: out of memory for %lld labels", (long long)n);
    const char *p = ks_tensor_data(labels);
    int64_t step = labels->stride[0] * (int64_t)ks_dtype_size(labels->dtype);
    for (int64_t i = 0; i < n; i++) {
        it[i].label = ks_load_i64(p + i * step, labels->dtype);
        it[i].index = i;
        if (it[i].label < 0) {
            ks_status st = ks_error(c, KS_EINVAL, "kshot_indices: negative label %lld at index %lld",
                                    (long long)it[i].label, (long long)i);
            free(it);
            return st;
        }
    }
    qsort(it, (size_t)n, sizeof *it, cmp_item);
    *out = it;
    return KS_OK;
}

/* First position in it[0, n) whose label is >= label. */
static int64_t lower_bound(const item *it, int64_t n, int64_t label)
{
    int64_t lo = 0, hi = n;
    while (lo < hi) {
        int64_t mid = lo + (hi - lo) / 2;
        if (it[mid].label < label) lo = mid + 1;
        else hi = mid;
    }
    return lo;
}

/* The requested classes sorted ascending, or every distinct label present. */
static ks_status class_list(ks_ctx *c, const item *it, int64_t n, const int64_t *classes, int nclasses,
                            int64_t **out, int64_t *count)
{
    int64_t m = 0;
    if (!classes)
        for (int64_t i = 0; i < n; i++) m += i == 0 || it[i].label != it[i - 1].label;
    else
        m = nclasses;
    int64_t *cl = malloc((size_t)(m ? m : 1) * sizeof *cl);
    if (!cl) return ks_error(c, KS_ENOMEM, "kshot_indices: out of memory");
    if (!classes) {
        for (int64_t i = 0, j = 0; i < n; i++)
            if (i == 0 || it[i].label != it[i - 1].label) cl[j++] = it[i].label;
    } else {
        memcpy(cl, classes, (size_t)m * sizeof *cl);
        qsort(cl, (size_t)m, sizeof *cl, cmp_i64);
        for (int64_t j = 0; j < m; j++) {
            if (cl[j] < 0 || (j && cl[j] == cl[j - 1])) {
                ks_status st = ks_error(c, KS_EINVAL, "kshot_indices: class %lld is %s", (long long)cl[j],
                                        cl[j] < 0 ? "negative" : "listed twice");
                free(cl);
                return st;
            }
        }
    }
    *out = cl;
    *count = m;
    return KS_OK;
}

/* Partial Fisher-Yates over run[0, len): the first k entries become the draw. */
static void draw_class(item *run, int64_t len, int64_t k, uint64_t key, int64_t label, int64_t *dst)
{
    ks_generator base = {key, 0}, g;
    ks_generator_fork(&base, (uint64_t)label, &g);
    for (int64_t j = 0; j < k; j++) {
        int64_t r = j + (int64_t)ks_random_below(&g, (uint64_t)(len - j));
        item tmp = run[j];
        run[j] = run[r];
        run[r] = tmp;
        dst[j] = run[j].index;
    }
}

static ks_status draw_all(ks_ctx *c, item *it, int64_t n, const int64_t *cl, int64_t m, int64_t k, uint64_t key,
                          ks_tensor *t)
{
    int64_t *dst = ks_tensor_data(t);
    for (int64_t j = 0; j < m; j++) {
        int64_t lo = lower_bound(it, n, cl[j]), hi = lower_bound(it, n, cl[j] + 1);
        if (hi - lo < k)
            return ks_error(c, KS_ERANGE, "kshot_indices: class %lld has %lld examples, fewer than k = %lld",
                            (long long)cl[j], (long long)(hi - lo), (long long)k);
        draw_class(it + lo, hi - lo, k, key, cl[j], dst + j * k);
    }
    return KS_OK;
}

ks_status ks_kshot_indices(ks_ctx *c, const ks_tensor *labels, int64_t k, const int64_t *classes, int nclasses,
                           ks_generator *g, ks_tensor **out)
{
    ks_status st = check_labels(c, labels);
    if (st) return st;
    if (k < 0) return ks_error(c, KS_EINVAL, "kshot_indices: k must be >= 0, got %lld", (long long)k);
    int64_t n = labels->size[0], m = 0, total;
    item *it = NULL;
    int64_t *cl = NULL;
    ks_tensor *t = NULL;
    if ((st = sorted_items(c, labels, &it))) return st;
    if ((st = class_list(c, it, n, classes, nclasses, &cl, &m))) goto done;
    if (__builtin_mul_overflow(m, k, &total)) {
        st = ks_error(c, KS_ERANGE, "kshot_indices: %lld classes times k = %lld overflows", (long long)m,
                      (long long)k);
        goto done;
    }
    if ((st = ks_tensor_empty(c, KS_INT64, 1, &total, &t))) goto done;
    uint32_t w[4];
    ks_philox(g->seed, ks_generator_take(g, 1), w);
    st = draw_all(c, it, n, cl, m, k, (uint64_t)w[0] << 32 | w[1], t);
done:
    free(it);
    free(cl);
    if (st) {
        ks_tensor_release(t);
        return st;
    }
    *out = t;
    return KS_OK;
}
