/* ks_sort.c: row-wise sorting kernels (see ks_sort.h for the ordering).
 *
 * Every element becomes an unsigned 64-bit key whose unsigned order is the
 * element order (NaN canonicalised to the largest key, -0.0 to 0.0);
 * descending sorts flip the key bits. Sorting (key, position) pairs by key
 * with a stable algorithm -- or, equivalently, by (key, position) -- then
 * gives PyTorch's stable order in both directions with one code path for
 * every dtype. */
#include "ks_sort.h"
#include "ks_threads.h"

#include <stdlib.h>
#include <string.h>

typedef struct { uint64_t key; int64_t idx; } pair;

#define NAN_KEY 0xFFFFFFFFu  /* key of every float NaN (before flipping) */

static inline uint64_t float_key(float v)
{
    if (v != v) return NAN_KEY;
    if (v == 0) return 0x80000000u; /* -0.0 == 0.0 */
    uint32_t u;
    memcpy(&u, &v, sizeof u);
    return (u & 0x80000000u) ? (uint32_t)~u : (u | 0x80000000u);
}

/* keys of a strided row (stride in elements) */
static void load_keys(const char *p, int64_t stride, ks_dtype dt, int64_t n, bool flip, pair *out)
{
    uint64_t x = flip ? ~(uint64_t)0 : 0;
    switch (dt) {
    case KS_FLOAT32:
        for (int64_t i = 0; i < n; i++) out[i].key = float_key(((const float *)p)[i * stride]) ^ x;
        break;
    case KS_INT64:
        for (int64_t i = 0; i < n; i++)
            out[i].key = ((uint64_t)((const int64_t *)p)[i * stride] ^ ((uint64_t)1 << 63)) ^ x;
        break;
    default: /* uint8, bool */
        for (int64_t i = 0; i < n; i++) out[i].key = (uint64_t)((const uint8_t *)p)[i * stride] ^ x;
        break;
    }
    for (int64_t i = 0; i < n; i++) out[i].idx = i;
}

static inline bool pair_less(pair a, pair b) { return a.key < b.key || (a.key == b.key && a.idx < b.idx); }

static void insertion_sort(pair *a, int64_t n)
{
    for (int64_t i = 1; i < n; i++) {
        pair v = a[i];
        int64_t j = i;
        while (j > 0 && a[j - 1].key > v.key) { a[j] = a[j - 1]; j--; }
        a[j] = v;
    }
}

/* Stable LSD radix sort by key, 8 bits per pass; passes where every key
 * has the same digit are skipped (the upper half of float keys, small ints). */
static void radix_sort(pair *a, pair *tmp, int64_t n)
{
    if (n <= 48) { insertion_sort(a, n); return; }
    int64_t hist[8][256];
    memset(hist, 0, sizeof hist);
    for (int64_t i = 0; i < n; i++) {
        uint64_t k = a[i].key;
        for (int b = 0; b < 8; b++) hist[b][(k >> (8 * b)) & 255]++;
    }
    pair *src = a, *dst = tmp;
    for (int b = 0; b < 8; b++) {
        int64_t *h = hist[b];
        if (h[(src[0].key >> (8 * b)) & 255] == n) continue;
        int64_t sum = 0;
        for (int d = 0; d < 256; d++) { int64_t t = h[d]; h[d] = sum; sum += t; }
        for (int64_t i = 0; i < n; i++) dst[h[(src[i].key >> (8 * b)) & 255]++] = src[i];
        pair *t = src; src = dst; dst = t;
    }
    if (src != a) memcpy(a, src, (size_t)n * sizeof *a);
}

static void sift_down(pair *h, int64_t i, int64_t n)
{
    for (;;) {
        int64_t l = 2 * i + 1, m = i;
        if (l < n && pair_less(h[m], h[l])) m = l;
        if (l + 1 < n && pair_less(h[m], h[l + 1])) m = l + 1;
        if (m == i) return;
        pair t = h[i]; h[i] = h[m]; h[m] = t;
        i = m;
    }
}

/* The m smallest pairs (by key, then position) into a[0..m), ascending:
 * a max-heap of the best m so far, then heapsort of the heap. */
static void select_smallest(pair *a, int64_t n, int64_t m)
{
    if (m == 0) return;
    for (int64_t i = m / 2 - 1; i >= 0; i--) sift_down(a, i, m);
    for (int64_t i = m; i < n; i++) {
        /* positions increase, so an equal key never beats the heap top */
        if (a[i].key < a[0].key) { a[0] = a[i]; sift_down(a, 0, m); }
    }
    for (int64_t e = m - 1; e > 0; e--) {
        pair t = a[0]; a[0] = a[e]; a[e] = t;
        sift_down(a, 0, e);
    }
}

/* ---------------------------------------------------------- packed words
 * 32-bit keys (float32, uint8, bool) sort as packed words key << 32 |
 * position: ordering the words orders by (key, position), the stable order,
 * with half the memory traffic of pairs. */
static void load_words(const char *p, int64_t stride, ks_dtype dt, int64_t n, bool flip, uint64_t *out)
{
    uint64_t x = flip ? 0xFFFFFFFFu : 0;
    if (dt == KS_FLOAT32) {
        for (int64_t i = 0; i < n; i++)
            out[i] = ((float_key(((const float *)p)[i * stride]) ^ x) << 32) | (uint64_t)i;
    } else {
        for (int64_t i = 0; i < n; i++) out[i] = (((uint64_t)((const uint8_t *)p)[i * stride] ^ x) << 32) | (uint64_t)i;
    }
}

static void insertion_words(uint64_t *a, int64_t n)
{
    for (int64_t i = 1; i < n; i++) {
        uint64_t v = a[i];
        int64_t j = i;
        while (j > 0 && a[j - 1] > v) { a[j] = a[j - 1]; j--; }
        a[j] = v;
    }
}

/* LSD radix over the key half only: positions are already in order */
static void radix_words(uint64_t *a, uint64_t *tmp, int64_t n)
{
    if (n <= 48) { insertion_words(a, n); return; }
    int64_t hist[4][256];
    memset(hist, 0, sizeof hist);
    for (int64_t i = 0; i < n; i++) {
        uint64_t k = a[i] >> 32;
        for (int b = 0; b < 4; b++) hist[b][(k >> (8 * b)) & 255]++;
    }
    uint64_t *src = a, *dst = tmp;
    for (int b = 0; b < 4; b++) {
        int sh = 32 + 8 * b;
        int64_t *h = hist[b];
        if (h[(src[0] >> sh) & 255] == n) continue;
        int64_t sum = 0;
        for (int d = 0; d < 256; d++) { int64_t t = h[d]; h[d] = sum; sum += t; }
        for (int64_t i = 0; i < n; i++) dst[h[(src[i] >> sh) & 255]++] = src[i];
        uint64_t *t = src; src = dst; dst = t;
    }
    if (src != a) memcpy(a, src, (size_t)n * sizeof *a);
}

static void sift_words(uint64_t *h, int64_t i, int64_t n)
{
    for (;;) {
        int64_t l = 2 * i + 1, m = i;
        if (l < n && h[m] < h[l]) m = l;
        if (l + 1 < n && h[m] < h[l + 1]) m = l + 1;
        if (m == i) return;
        uint64_t t = h[i]; h[i] = h[m]; h[m] = t;
        i = m;
    }
}

/* the m smallest words into a[0..m), ascending (as select_smallest) */
static void select_words(uint64_t *a, int64_t n, int64_t m)
{
    if (m == 0) return;
    for (int64_t i = m / 2 - 1; i >= 0; i--) sift_words(a, i, m);
    for (int64_t i = m; i < n; i++)
        if (a[i] < a[0]) { a[0] = a[i]; sift_words(a, 0, m); }
    for (int64_t e = m - 1; e > 0; e--) {
        uint64_t t = a[0]; a[0] = a[e]; a[e] = t;
        sift_words(a, 0, e);
    }
}

/* ------------------------------------------------------------ the row job */
typedef struct {
    int ndim, dim;                 /* geometry with dim kept (size n for input, k for outputs) */
    int64_t size[KS_MAX_DIMS];
    ks_dtype dt;
    size_t isz;
    const char *in;
    char *vals, *inds;             /* either may be NULL */
    int64_t in_st[KS_MAX_DIMS], v_st[KS_MAX_DIMS], i_st[KS_MAX_DIMS];
    int64_t n;                     /* row length */
    int64_t first, k;              /* emit sorted elements [first, first + k) */
    bool flip, nan_first;          /* nan_first: median's NaN rule */
    bool packed;                   /* 32-bit keys and positions: sort packed words */
} row_job;

/* Element offsets of row r (r enumerates every dim but dim, row-major). */
static void row_offsets(const row_job *j, int64_t r, int64_t *oi, int64_t *ov, int64_t *ox)
{
    int64_t a = 0, b = 0, x = 0;
    for (int d = j->ndim - 1; d >= 0; d--) {
        if (d == j->dim) continue;
        int64_t q = r % j->size[d];
        r /= j->size[d];
        a += q * j->in_st[d];
        b += q * j->v_st[d];
        x += q * j->i_st[d];
    }
    *oi = a; *ov = b; *ox = x;
}

static void copy_elem(char *dst, const char *src, size_t isz)
{
    switch (isz) {
    case 8: memcpy(dst, src, 8); break;
    case 4: memcpy(dst, src, 4); break;
    default: *dst = *src; break;
    }
}

/* median rule: a row holding NaN yields its first NaN; -1 when there is none */
static int64_t first_nan(const row_job *j, const char *row)
{
    if (j->dt != KS_FLOAT32) return -1;
    const float *p = (const float *)row;
    int64_t rs = j->in_st[j->dim];
    for (int64_t i = 0; i < j->n; i++)
        if (p[i * rs] != p[i * rs]) return i;
    return -1;
}

/* scratch of one chunk: 2n pairs, or 2n words for packed keys */
typedef union {
    pair p[64];
    uint64_t w[128];
} small_buf;

static inline void emit(const row_job *j, const char *row, int64_t ov, int64_t ox, int64_t q, int64_t src)
{
    int64_t rs = j->in_st[j->dim];
    if (j->inds) ((int64_t *)j->inds)[ox + q * j->i_st[j->dim]] = src;
    if (j->vals)
        copy_elem(j->vals + (ov + q * j->v_st[j->dim]) * (int64_t)j->isz, row + src * rs * (int64_t)j->isz, j->isz);
}

static void sort_row(const row_job *j, void *buf, int64_t r)
{
    int64_t oi, ov, ox, n = j->n, need = j->first + j->k;
    row_offsets(j, r, &oi, &ov, &ox);
    const char *row = j->in + oi * (int64_t)j->isz;
    int64_t rs = j->in_st[j->dim];
    int64_t nan_at = j->nan_first ? first_nan(j, row) : -1;
    if (nan_at >= 0) {
        emit(j, row, ov, ox, 0, nan_at);
    } else if (j->packed) {
        uint64_t *a = buf;
        load_words(row, rs, j->dt, n, j->flip, a);
        if (need * 8 < n) select_words(a, n, need);
        else radix_words(a, a + n, n);
        for (int64_t q = 0; q < j->k; q++) emit(j, row, ov, ox, q, (int64_t)(a[j->first + q] & 0xFFFFFFFFu));
    } else {
        pair *a = buf;
        load_keys(row, rs, j->dt, n, j->flip, a);
        if (need * 8 < n) select_smallest(a, n, need);
        else radix_sort(a, a + n, n);
        for (int64_t q = 0; q < j->k; q++) emit(j, row, ov, ox, q, a[j->first + q].idx);
    }
}

static ks_status sort_chunk(void *arg, int64_t b, int64_t e)
{
    const row_job *j = arg;
    small_buf small; /* short rows (the common case) need no allocation */
    void *buf = 2 * j->n <= 64 ? (void *)&small : malloc((size_t)(2 * j->n) * sizeof(pair));
    if (!buf) return KS_ENOMEM;
    for (int64_t r = b; r < e; r++) sort_row(j, buf, r);
    if (buf != &small) free(buf);
    return KS_OK;
}

/* Output shape: t's with dim sized k (keepdim) or removed. */
static ks_status new_output(ks_ctx *c, const ks_tensor *t, int dim, int64_t k, bool keepdim, ks_dtype dt,
                            ks_tensor **out)
{
    int64_t size[KS_MAX_DIMS];
    int n = 0;
    for (int d = 0; d < t->ndim; d++) {
        if (d != dim) size[n++] = t->size[d];
        else if (keepdim) size[n++] = k;
    }
    return ks_tensor_empty(c, dt, n, size, out);
}

/* Strides of an output in kept-dim geometry (a removed dim gets stride 0). */
static void out_strides(const ks_tensor *o, int ndim, int dim, int64_t *st)
{
    if (o->ndim == ndim) {
        memcpy(st, o->stride, (size_t)ndim * sizeof *st);
        return;
    }
    for (int d = 0, s = 0; d < ndim; d++) st[d] = d == dim ? 0 : o->stride[s++];
}

/* Shared driver: emit sorted elements [first, first + k) of each row. */
static ks_status run_rows(ks_ctx *c, ks_tensor *t, int dim, int64_t first, int64_t k, bool flip, bool keepdim,
                          bool nan_first, ks_tensor **values, ks_tensor **indices)
{
    ks_tensor *v = NULL, *x = NULL;
    ks_status st = KS_OK;
    if (values && (st = new_output(c, t, dim, k, keepdim, t->dtype, &v))) return st;
    if (indices && (st = new_output(c, t, dim, k, keepdim, KS_INT64, &x))) { ks_tensor_release(v); return st; }
    row_job j;
    memset(&j, 0, sizeof j);
    j.ndim = t->ndim ? t->ndim : 1;
    j.dim = dim;
    j.dt = t->dtype;
    j.isz = ks_dtype_size(t->dtype);
    j.in = ks_tensor_data(t);
    if (t->ndim) {
        memcpy(j.size, t->size, sizeof j.size);
        memcpy(j.in_st, t->stride, sizeof j.in_st);
    } else {
        j.size[0] = 1;
    }
    j.n = j.size[dim];
    j.packed = j.dt != KS_INT64 && j.n <= (int64_t)UINT32_MAX;
    j.size[dim] = 1; /* rows enumerate the other dims */
    int64_t rows = 1;
    for (int d = 0; d < j.ndim; d++) rows *= j.size[d];
    if (v) { j.vals = ks_tensor_data(v); out_strides(v, t->ndim, dim, j.v_st); }
    if (x) { j.inds = ks_tensor_data(x); out_strides(x, t->ndim, dim, j.i_st); }
    j.first = first;
    j.k = k;
    j.flip = flip;
    j.nan_first = nan_first;
    if (j.n > 0 && k > 0) {
        int64_t grain = 32768 / j.n;
        st = ks_parallel_for(c, rows, grain < 1 ? 1 : grain, sort_chunk, &j);
        if (st == KS_ENOMEM) st = ks_error(c, st, "out of memory for the sort buffers (%lld elements)", (long long)j.n);
    }
    if (st) {
        ks_tensor_release(v);
        ks_tensor_release(x);
        return st;
    }
    if (values) *values = v;
    if (indices) *indices = x;
    return KS_OK;
}

static int64_t dim_size(const ks_tensor *t, int dim) { return t->ndim ? t->size[dim] : 1; }

ks_status ks_sort(ks_ctx *c, ks_tensor *t, int dim, bool descending, ks_tensor **values, ks_tensor **indices)
{
    return run_rows(c, t, dim, 0, dim_size(t, dim), descending, true, false, values, indices);
}

ks_status ks_topk(ks_ctx *c, ks_tensor *t, int64_t k, int dim, bool largest, ks_tensor **values,
                  ks_tensor **indices)
{
    int64_t n = dim_size(t, dim);
    if (k < 0 || k > n)
        return ks_error(c, KS_ERANGE, "topk: k (%lld) is out of range for dimension %d of size %lld", (long long)k,
                        dim, (long long)n);
    return run_rows(c, t, dim, 0, k, largest, true, false, values, indices);
}

ks_status ks_kthvalue(ks_ctx *c, ks_tensor *t, int64_t k, int dim, bool keepdim, ks_tensor **values,
                      ks_tensor **indices)
{
    int64_t n = dim_size(t, dim);
    if (k < 1 || k > n)
        return ks_error(c, KS_ERANGE, "kthvalue: k (%lld) is out of range for dimension %d of size %lld (k counts from 1)",
                        (long long)k, dim, (long long)n);
    return run_rows(c, t, dim, k - 1, 1, false, keepdim, false, values, indices);
}

ks_status ks_median(ks_ctx *c, ks_tensor *t, int dim, bool keepdim, ks_tensor **values, ks_tensor **indices)
{
    int64_t n = dim_size(t, dim);
    if (n == 0) return ks_error(c, KS_EINVAL, "median: cannot take the median of an empty dimension %d", dim);
    return run_rows(c, t, dim, (n - 1) / 2, 1, false, keepdim, true, values, indices);
}

ks_status ks_median_all(ks_ctx *c, ks_tensor *t, ks_tensor **value)
{
    if (t->numel == 0) return ks_error(c, KS_EINVAL, "median: cannot take the median of an empty tensor");
    int64_t all = -1;
    ks_tensor *flat;
    ks_status st = ks_reshape(c, t, 1, &all, &flat);
    if (st) return st;
    st = ks_median(c, flat, 0, false, value, NULL);
    ks_tensor_release(flat);
    return st;
}

/* ------------------------------------------------------------- unique */
static ks_status unique_fill(ks_ctx *c, const ks_tensor *flat, pair *a, ks_tensor *inverse, ks_tensor **values,
                             ks_tensor **counts)
{
    int64_t n = flat->numel, groups = 0;
    bool isf = flat->dtype == KS_FLOAT32;
    /* each NaN is its own group */
    for (int64_t i = 0; i < n; i++)
        if (i == 0 || a[i].key != a[i - 1].key || (isf && a[i].key == NAN_KEY)) groups++;
    ks_tensor *v = NULL, *cnt = NULL;
    ks_status st = ks_tensor_empty(c, flat->dtype, 1, &groups, &v);
    if (!st && counts) st = ks_tensor_empty(c, KS_INT64, 1, &groups, &cnt);
    if (st) { ks_tensor_release(v); return st; }
    size_t isz = ks_dtype_size(flat->dtype);
    const char *src = ks_tensor_data(flat);
    char *vd = ks_tensor_data(v);
    int64_t *cd = cnt ? ks_tensor_data(cnt) : NULL, *inv = inverse ? ks_tensor_data(inverse) : NULL;
    int64_t g = -1;
    for (int64_t i = 0; i < n; i++) {
        if (i == 0 || a[i].key != a[i - 1].key || (isf && a[i].key == NAN_KEY)) {
            g++;
            copy_elem(vd + g * (int64_t)isz, src + a[i].idx * (int64_t)isz, isz);
            if (cd) cd[g] = 0;
        }
        if (cd) cd[g]++;
        if (inv) inv[a[i].idx] = g;
    }
    *values = v;
    if (counts) *counts = cnt;
    return KS_OK;
}

ks_status ks_unique(ks_ctx *c, ks_tensor *t, ks_tensor **values, ks_tensor **inverse, ks_tensor **counts)
{
    ks_tensor *flat, *inv = NULL;
    ks_status st = ks_contiguous(c, t, &flat);
    if (st) return st;
    int64_t n = flat->numel;
    if (inverse && (st = ks_tensor_empty(c, KS_INT64, t->ndim, t->size, &inv))) {
        ks_tensor_release(flat);
        return st;
    }
    pair *a = malloc((size_t)(2 * n + 1) * sizeof *a);
    if (!a) {
        st = ks_error(c, KS_ENOMEM, "unique: out of memory for %lld elements", (long long)n);
    } else {
        load_keys(ks_tensor_data(flat), 1, flat->dtype, n, false, a);
        radix_sort(a, a + n, n);
        st = unique_fill(c, flat, a, inv, values, counts);
        free(a);
    }
    ks_tensor_release(flat);
    if (st) { ks_tensor_release(inv); return st; }
    if (inverse) *inverse = inv;
    return KS_OK;
}
