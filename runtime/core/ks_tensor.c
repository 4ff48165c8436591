/* ks_tensor.c: storage and tensor lifetime, geometry helpers, dtypes. */
#include "ks_tensor.h"
#include "ks_autograd.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------- dtypes */
static const size_t dtype_sizes[KS_NUM_DTYPES] = {4, 8, 1, 1};
static const char *dtype_names[KS_NUM_DTYPES] = {"float32", "int64", "uint8", "bool"};

size_t ks_dtype_size(ks_dtype dt) { return dtype_sizes[dt]; }
const char *ks_dtype_name(ks_dtype dt) { return (unsigned)dt < KS_NUM_DTYPES ? dtype_names[dt] : "?"; }
bool ks_dtype_is_float(ks_dtype dt) { return dt == KS_FLOAT32; }

int ks_dtype_from_name(const char *name)
{
    for (int i = 0; i < KS_NUM_DTYPES; i++)
        if (strcmp(name, dtype_names[i]) == 0) return i;
    if (strcmp(name, "float") == 0) return KS_FLOAT32;
    if (strcmp(name, "long") == 0) return KS_INT64;
    return -1;
}

ks_dtype ks_promote(ks_dtype a, ks_dtype b)
{
    /* order of the enum is not the lattice; rank explicitly */
    static const int rank[KS_NUM_DTYPES] = {3, 2, 1, 0};
    return rank[a] >= rank[b] ? a : b;
}

double ks_load_f64(const void *p, ks_dtype dt)
{
    switch (dt) {
    case KS_FLOAT32: return *(const float *)p;
    case KS_INT64: return (double)*(const int64_t *)p;
    default: return *(const uint8_t *)p;
    }
}

int64_t ks_load_i64(const void *p, ks_dtype dt)
{
    switch (dt) {
    case KS_FLOAT32: return (int64_t)*(const float *)p;
    case KS_INT64: return *(const int64_t *)p;
    default: return *(const uint8_t *)p;
    }
}

void ks_store_f64(void *p, ks_dtype dt, double v)
{
    switch (dt) {
    case KS_FLOAT32: *(float *)p = (float)v; break;
    case KS_INT64: *(int64_t *)p = (int64_t)v; break;
    case KS_UINT8: *(uint8_t *)p = (uint8_t)(int64_t)v; break;
    case KS_BOOL: *(uint8_t *)p = v != 0; break;
    default: break;
    }
}

void ks_store_i64(void *p, ks_dtype dt, int64_t v)
{
    switch (dt) {
    case KS_FLOAT32: *(float *)p = (float)v; break;
    case KS_INT64: *(int64_t *)p = v; break;
    case KS_UINT8: *(uint8_t *)p = (uint8_t)v; break;
    case KS_BOOL: *(uint8_t *)p = v != 0; break;
    default: break;
    }
}

/* ------------------------------------------------------------- geometry */
char *ks_dims_str(int ndim, const int64_t *size, char *buf, size_t n)
{
    size_t k = 0;
    k += (size_t)snprintf(buf + k, n - k, "[");
    for (int i = 0; i < ndim && k < n; i++)
        k += (size_t)snprintf(buf + k, n - k, i ? ", %lld" : "%lld", (long long)size[i]);
    if (k < n) snprintf(buf + k, n - k, "]");
    return buf;
}

char *ks_shape_str(const ks_tensor *t, char *buf, size_t n) { return ks_dims_str(t->ndim, t->size, buf, n); }

bool ks_same_shape(const ks_tensor *a, const ks_tensor *b)
{
    if (a->ndim != b->ndim) return false;
    for (int i = 0; i < a->ndim; i++)
        if (a->size[i] != b->size[i]) return false;
    return true;
}

bool ks_tensor_is_contiguous(const ks_tensor *t)
{
    int64_t expect = 1;
    for (int i = t->ndim - 1; i >= 0; i--) {
        if (t->size[i] != 1 && t->stride[i] != expect) return false;
        expect *= t->size[i];
    }
    return true;
}

ks_status ks_shape_numel(ks_ctx *c, int ndim, const int64_t *size, int64_t *numel)
{
    char b[160];
    if (ndim < 0 || ndim > KS_MAX_DIMS)
        return ks_error(c, KS_EINVAL, "tensors have at most %d dimensions, got %d", KS_MAX_DIMS, ndim);
    /* The product of the non-zero sizes is bounded whatever zeros the shape
     * holds (so [0, H] and [H, 0] agree, and strides times the element size,
     * products of non-zero sizes, fit in int64 even for an empty tensor). */
    size_t n = 1;
    bool empty = false;
    for (int i = 0; i < ndim; i++) {
        if (size[i] < 0)
            return ks_error(c, KS_EINVAL, "negative size %lld in shape %s", (long long)size[i],
                            ks_dims_str(ndim, size, b, sizeof b));
        if (size[i] == 0) {
            empty = true;
            continue;
        }
        if (ks_mul_overflow(n, (size_t)size[i], &n) || n > (size_t)INT64_MAX / 8)
            return ks_error(c, KS_ERANGE, "shape %s has too many elements (the product of its non-zero sizes "
                            "must be less than 2^60)", ks_dims_str(ndim, size, b, sizeof b));
    }
    *numel = empty ? 0 : (int64_t)n;
    return KS_OK;
}

ks_status ks_wrap_dim(ks_ctx *c, int64_t dim, int ndim, int *out)
{
    int64_t lo = ndim > 0 ? -ndim : -1, hi = ndim > 0 ? ndim - 1 : 0;
    if (dim < lo || dim > hi)
        return ks_error(c, KS_ERANGE, "dimension out of range (expected to be in range of [%lld, %lld], but got %lld)",
                        (long long)lo, (long long)hi, (long long)dim);
    *out = (int)(dim < 0 ? dim + (ndim > 0 ? ndim : 1) : dim);
    return KS_OK;
}

ks_status ks_broadcast_shapes(ks_ctx *c, int na, const int64_t *sa, int nb, const int64_t *sb,
                              int *nout, int64_t *out_size)
{
    int n = na > nb ? na : nb;
    for (int i = 0; i < n; i++) {
        int ia = na - n + i, ib = nb - n + i;
        int64_t a = ia >= 0 ? sa[ia] : 1, b = ib >= 0 ? sb[ib] : 1;
        if (a != b && a != 1 && b != 1) {
            char x[160], y[160];
            return ks_error(c, KS_ESHAPE, "shapes %s and %s cannot be broadcast (size %lld vs %lld at dimension %d)",
                            ks_dims_str(na, sa, x, sizeof x), ks_dims_str(nb, sb, y, sizeof y),
                            (long long)a, (long long)b, i);
        }
        out_size[i] = a == 1 ? b : a;
    }
    *nout = n;
    return KS_OK;
}

/* ------------------------------------------------------------- lifetime */
#define STORAGE_HEADER 64 /* storage struct padded so data stays 64-byte aligned */

/* Free lists (per context) so tiny tensors cost no malloc/free: tensor
 * headers, and storage blocks of SMALL_BLOCK bytes (header + up to 64 data
 * bytes). Cached memory is accounted as freed; blocks are only reused by
 * the owning thread (reference counting already requires that). */
#define SMALL_BLOCK 128
#define CACHE_MAX 1024

struct free_node { struct free_node *next; };

static size_t round64(size_t n) { n = (n + 63) & ~(size_t)63; return n ? n : 64; }

/* Large blocks (SMALL_BLOCK < bytes <= LARGE_MAX) are kept after free in
 * size classes (4 per power of two, so at most 25% slack) up to LARGE_CACHE
 * bytes in all: a training step frees and reallocates the same activation
 * and gradient sizes every step, and a fresh multi-megabyte block from
 * malloc (mmap) page-faults once per 4 KB page. Like the small lists, cached
 * memory is accounted as freed (accounting uses the requested size). */
#define LARGE_MAX ((size_t)64 << 20)
#define LARGE_CACHE ((size_t)128 << 20)
#define LARGE_CLASSES 128

struct large_cache {
    struct free_node *list[LARGE_CLASSES];
    size_t cached_bytes;
};

/* class index and the class's block size for `total` bytes (<= LARGE_MAX) */
static int large_class(size_t total, size_t *class_bytes)
{
    int e = 63 - __builtin_clzll((unsigned long long)(total - 1)); /* 2^e < total <= 2^(e+1) */
    size_t quarter = (size_t)1 << (e - 2);                        /* e >= 7 as total > 128 */
    size_t k = (total - ((size_t)1 << e) + quarter - 1) / quarter; /* 1..4 quarters above 2^e */
    *class_bytes = round64(((size_t)1 << e) + k * quarter);
    return (e - 7) * 4 + (int)k - 1;
}

static void large_cache_free(ks_ctx *c)
{
    struct large_cache *lc = c->large_blocks;
    if (!lc) return;
    for (int i = 0; i < LARGE_CLASSES; i++)
        for (struct free_node *n = lc->list[i], *next; n; n = next) { next = n->next; free(n); }
    free(lc);
    c->large_blocks = NULL;
}

static void *large_alloc(ks_ctx *c, size_t total)
{
    size_t cb;
    int k = large_class(total, &cb);
    if (ks_mem_account(c, round64(total)) != KS_OK) return NULL;
    struct large_cache *lc = c->large_blocks;
    struct free_node *n = lc ? lc->list[k] : NULL;
    if (n) {
        lc->list[k] = n->next;
        lc->cached_bytes -= cb;
        return n;
    }
    void *p = aligned_alloc(64, cb);
    if (!p && lc && lc->cached_bytes) { /* give the cached blocks back and retry */
        large_cache_free(c);
        p = aligned_alloc(64, cb);
    }
    if (!p) {
        ks_mem_unaccount(c, round64(total));
        ks_error(c, KS_ENOMEM, "out of memory allocating %zu bytes", total);
    }
    return p;
}

static void large_free(ks_ctx *c, void *p, size_t total)
{
    size_t cb;
    int k = large_class(total, &cb);
    ks_mem_unaccount(c, round64(total));
    struct large_cache *lc = c->large_blocks;
    if (!lc && !(lc = c->large_blocks = calloc(1, sizeof *lc))) { free(p); return; }
    if (lc->cached_bytes + cb > LARGE_CACHE) { free(p); return; }
    struct free_node *n = p;
    n->next = lc->list[k];
    lc->list[k] = n;
    lc->cached_bytes += cb;
}

void ks_tensor_caches_free(ks_ctx *c)
{
    for (struct free_node *n = c->free_headers, *next; n; n = next) { next = n->next; free(n); }
    for (struct free_node *n = c->free_blocks, *next; n; n = next) { next = n->next; free(n); }
    c->free_headers = c->free_blocks = NULL;
    c->n_free_headers = c->n_free_blocks = 0;
    large_cache_free(c);
}

/* storage memory of `total` bytes (64-byte aligned), accounted like ks_mem_alloc */
static void *block_alloc(ks_ctx *c, size_t total)
{
    if (total > LARGE_MAX) return ks_mem_alloc(c, total);
    if (total > SMALL_BLOCK) return large_alloc(c, total);
    if (ks_mem_account(c, round64(total)) != KS_OK) return NULL;
    struct free_node *n = c->free_blocks;
    if (n) {
        c->free_blocks = n->next;
        c->n_free_blocks--;
        return n;
    }
    void *p = aligned_alloc(64, SMALL_BLOCK);
    if (!p) {
        ks_mem_unaccount(c, round64(total));
        ks_error(c, KS_ENOMEM, "out of memory allocating %zu bytes", total);
    }
    return p;
}

static void block_free(ks_ctx *c, void *p, size_t total)
{
    if (total > LARGE_MAX) { ks_mem_free(c, p, total); return; }
    if (total > SMALL_BLOCK) { large_free(c, p, total); return; }
    ks_mem_unaccount(c, round64(total));
    if (c->n_free_blocks >= CACHE_MAX) { free(p); return; }
    struct free_node *n = p;
    n->next = c->free_blocks;
    c->free_blocks = n;
    c->n_free_blocks++;
}

static void storage_release(ks_storage *s)
{
    if (!s || --s->refcount > 0) return;
    ks_ctx *c = s->ctx;
    if (s->free_fn) {
        s->free_fn(s->free_ud, s->data);
        ks_mem_free(c, s, STORAGE_HEADER);
    } else {
        block_free(c, s, STORAGE_HEADER + s->nbytes);
    }
    ks_ctx_release(c); /* last: may free c and its caches */
}

static ks_status tensor_header(ks_ctx *c, ks_tensor **out)
{
    if (ks_mem_account(c, sizeof(ks_tensor)) != KS_OK) return KS_ENOMEM;
    ks_tensor *t = c->free_headers;
    if (t) {
        c->free_headers = ((struct free_node *)t)->next;
        c->n_free_headers--;
    } else if (!(t = malloc(sizeof *t))) {
        ks_mem_unaccount(c, sizeof(ks_tensor));
        return ks_error(c, KS_ENOMEM, "out of memory allocating a tensor header");
    }
    memset(t, 0, sizeof *t);
    t->refcount = 1;
    *out = t;
    return KS_OK;
}

static void header_free(ks_ctx *c, ks_tensor *t)
{
    ks_mem_unaccount(c, sizeof(ks_tensor));
    if (c->n_free_headers >= CACHE_MAX) { free(t); return; }
    struct free_node *n = (struct free_node *)t;
    n->next = c->free_headers;
    c->free_headers = n;
    c->n_free_headers++;
}

void ks_tensor_release(ks_tensor *t)
{
    if (!t || --t->refcount > 0) return;
    ks_storage *s = t->storage;
    ks_ctx *c = s->ctx;
    ks_tensor_release(t->grad);
    ks_node_release(t->grad_fn);
    header_free(c, t);
    storage_release(s); /* after the header: it may release the context */
}

static void set_contiguous_strides(ks_tensor *t)
{
    int64_t st = 1;
    for (int i = t->ndim - 1; i >= 0; i--) {
        t->stride[i] = st;
        st *= t->size[i] > 0 ? t->size[i] : 1;
    }
}

/* A fresh storage s over `data` (owned by the block, or by the caller with a
 * free_fn set after this): refcount 1, and it keeps the context alive. */
static void storage_init(ks_ctx *c, ks_storage *s, void *data, size_t nbytes)
{
    memset(s, 0, sizeof *s);
    s->refcount = 1;
    s->ctx = c;
    ks_ctx_retain(c);
    s->data = data;
    s->nbytes = nbytes;
}

/* The fresh header t as a contiguous view of all of s; returns t. */
static ks_tensor *contiguous_over(ks_tensor *t, ks_storage *s, ks_dtype dt, int ndim, const int64_t *size,
                                  int64_t numel)
{
    t->storage = s;
    t->dtype = dt;
    t->ndim = ndim;
    t->numel = numel;
    if (ndim) memcpy(t->size, size, (size_t)ndim * sizeof *size);
    set_contiguous_strides(t);
    return t;
}

ks_status ks_tensor_empty(ks_ctx *c, ks_dtype dt, int ndim, const int64_t *size, ks_tensor **out)
{
    int64_t numel;
    ks_status st = ks_shape_numel(c, ndim, size, &numel);
    if (st) return st;
    size_t nbytes = (size_t)numel * ks_dtype_size(dt);
    ks_storage *s = block_alloc(c, STORAGE_HEADER + nbytes);
    if (!s) return KS_ENOMEM;
    ks_tensor *t;
    if ((st = tensor_header(c, &t))) {
        block_free(c, s, STORAGE_HEADER + nbytes);
        return st;
    }
    storage_init(c, s, (char *)s + STORAGE_HEADER, nbytes);
    *out = contiguous_over(t, s, dt, ndim, size, numel);
    return KS_OK;
}

ks_status ks_tensor_empty_like(ks_ctx *c, const ks_tensor *like, ks_dtype dt, ks_tensor **out)
{
    return ks_tensor_empty(c, dt, like->ndim, like->size, out);
}

ks_status ks_tensor_from_external(ks_ctx *c, ks_dtype dt, int ndim, const int64_t *size, void *data,
                                  void (*free_fn)(void *, void *), void *ud, ks_tensor **out)
{
    int64_t numel;
    ks_status st = ks_shape_numel(c, ndim, size, &numel);
    if (st) return st;
    ks_storage *s = ks_mem_alloc(c, STORAGE_HEADER);
    if (!s) return KS_ENOMEM;
    ks_tensor *t;
    if ((st = tensor_header(c, &t))) {
        ks_mem_free(c, s, STORAGE_HEADER);
        return st;
    }
    storage_init(c, s, data, (size_t)numel * ks_dtype_size(dt));
    s->free_fn = free_fn;
    s->free_ud = ud;
    *out = contiguous_over(t, s, dt, ndim, size, numel);
    return KS_OK;
}

ks_status ks_tensor_view_of(ks_ctx *c, const ks_tensor *t, int ndim, const int64_t *size,
                            const int64_t *stride, int64_t offset, ks_tensor **out)
{
    int64_t numel;
    ks_status st = ks_shape_numel(c, ndim, size, &numel);
    if (st) return st;
    /* bounds: lowest and highest element reached must lie inside the storage */
    if (numel > 0) {
        int64_t lo = offset, hi = offset;
        for (int i = 0; i < ndim; i++) {
            int64_t span = (size[i] - 1) * stride[i];
            if (span < 0) lo += span; else hi += span;
        }
        int64_t cap = (int64_t)(t->storage->nbytes / ks_dtype_size(t->dtype));
        if (lo < 0 || hi >= cap)
            return ks_error(c, KS_ERANGE, "view out of bounds of its storage (elements %lld..%lld of %lld)",
                            (long long)lo, (long long)hi, (long long)cap);
    }
    ks_tensor *v;
    if ((st = tensor_header(c, &v))) return st;
    v->storage = t->storage;
    v->storage->refcount++;
    v->dtype = t->dtype;
    v->ndim = ndim;
    v->numel = numel;
    v->offset = offset;
    if (ndim) {
        memcpy(v->size, size, (size_t)ndim * sizeof *size);
        memcpy(v->stride, stride, (size_t)ndim * sizeof *stride);
    }
    *out = v;
    return KS_OK;
}
