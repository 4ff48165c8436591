/* test_core.c: C-only tests of the kshot core (no Lua): view geometry and
 * bounds, iterator coalescing and broadcasting, the thread pool, the Philox
 * known-answer test, memory accounting and overflow checks.
 *
 * Usage: test_core [name-substring]. Prints one line per failed check and
 * ends with "N passed, N failed" (one count per test function); the exit
 * status is 1 when anything failed.
 */
#include "../../runtime/core/ks_context.h"
#include "../../runtime/core/ks_iter.h"
#include "../../runtime/core/ks_random.h"
#include "../../runtime/core/ks_tensor.h"
#include "../../runtime/core/ks_threads.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------- harness */
static int check_failed; /* checks failed in the current test */

static void check_fail(const char *file, int line, const char *what)
{
    fprintf(stderr, "  %s:%d: check failed: %s\n", file, line, what);
    check_failed++;
}

#define CHECK(cond) do { if (!(cond)) check_fail(__FILE__, __LINE__, #cond); } while (0)
#define CHECK_EQ(a, b)                                                                         \
    do {                                                                                       \
        long long a_ = (long long)(a), b_ = (long long)(b);                                    \
        if (a_ != b_) {                                                                        \
            char m_[256];                                                                      \
            snprintf(m_, sizeof m_, "%s == %s (%lld vs %lld)", #a, #b, a_, b_);                \
            check_fail(__FILE__, __LINE__, m_);                                                \
        }                                                                                      \
    } while (0)
/* the context's message contains `word` */
#define CHECK_MSG(c, word)                                                                     \
    do {                                                                                       \
        if (!strstr(ks_ctx_message(c), (word))) {                                              \
            char m_[KS_MSG_SIZE + 64];                                                         \
            snprintf(m_, sizeof m_, "message \"%s\" lacks \"%s\"", ks_ctx_message(c), (word)); \
            check_fail(__FILE__, __LINE__, m_);                                                \
        }                                                                                      \
    } while (0)

typedef void (*test_fn)(ks_ctx *c);

static size_t live(ks_ctx *c) { return atomic_load(&c->live_bytes); }

/* 1-d float32 tensor 0, 1, ..., n-1 */
static ks_tensor *arange_f(ks_ctx *c, int64_t n)
{
    ks_tensor *t = NULL;
    if (ks_tensor_empty(c, KS_FLOAT32, 1, &n, &t)) return NULL;
    float *p = ks_tensor_data(t);
    for (int64_t i = 0; i < n; i++) p[i] = (float)i;
    return t;
}

/* element at a multi-index of any view, as double */
static double at(const ks_tensor *t, const int64_t *idx)
{
    int64_t off = 0;
    for (int d = 0; d < t->ndim; d++) off += idx[d] * t->stride[d];
    return ks_load_f64((const char *)ks_tensor_data(t) + off * (int64_t)ks_dtype_size(t->dtype), t->dtype);
}

static double at2(const ks_tensor *t, int64_t i, int64_t j) { int64_t x[2] = {i, j}; return at(t, x); }

/* ------------------------------------------------------- view geometry */
static void test_views_basic(ks_ctx *c)
{
    ks_tensor *a = arange_f(c, 6), *m = NULL, *tr = NULL, *nar = NULL;
    int64_t shape[2] = {2, 3};
    CHECK(a && ks_view(c, a, 2, shape, &m) == KS_OK);
    if (!m) return;
    CHECK_EQ(m->stride[0], 3);
    CHECK_EQ(m->stride[1], 1);
    CHECK(ks_tensor_is_contiguous(m));
    CHECK(m->storage == a->storage);
    CHECK(ks_transpose(c, m, 0, 1, &tr) == KS_OK);
    CHECK_EQ(tr->size[0], 3);
    CHECK_EQ(tr->stride[0], 1);
    CHECK_EQ(tr->stride[1], 3);
    CHECK(!ks_tensor_is_contiguous(tr));
    CHECK(at2(tr, 2, 1) == 5.0 && at2(tr, 1, 0) == 1.0);
    CHECK(ks_narrow(c, m, 1, 1, 2, &nar) == KS_OK);
    CHECK_EQ(nar->offset, 1);
    CHECK(at2(nar, 1, 1) == 5.0 && at2(nar, 0, 0) == 1.0);
    ks_tensor_release(nar);
    ks_tensor_release(tr);
    ks_tensor_release(m);
    ks_tensor_release(a);
    CHECK_EQ(live(c), 0);
}

static void test_views_errors(ks_ctx *c)
{
    ks_tensor *a = arange_f(c, 6), *m = NULL, *out = NULL;
    int64_t shape[2] = {2, 3};
    ks_view(c, a, 2, shape, &m);
    CHECK(ks_narrow(c, m, 1, 2, 2, &out) == KS_ERANGE && out == NULL);
    CHECK_MSG(c, "narrow");
    CHECK(ks_narrow(c, m, 1, -1, 1, &out) == KS_ERANGE && out == NULL);
    CHECK(ks_select(c, m, 0, 2, &out) == KS_ERANGE && out == NULL);
    CHECK_MSG(c, "out of bounds");
    CHECK(ks_select(c, m, 2, 0, &out) == KS_ERANGE && out == NULL);
    /* a view whose last element falls outside the storage */
    int64_t sz[1] = {4}, st[1] = {2};
    CHECK(ks_tensor_view_of(c, a, 1, sz, st, 0, &out) == KS_ERANGE && out == NULL);
    CHECK_MSG(c, "out of bounds");
    /* negative stride walking below element 0 */
    int64_t nst[1] = {-1};
    CHECK(ks_tensor_view_of(c, a, 1, sz, nst, 2, &out) == KS_ERANGE && out == NULL);
    CHECK(ks_tensor_view_of(c, a, 1, sz, nst, 3, &out) == KS_OK && out && at(out, (int64_t[]){3}) == 0.0);
    ks_tensor_release(out);
    out = NULL;
    /* 9 dims, negative sizes */
    int64_t nine[9] = {1, 1, 1, 1, 1, 1, 1, 1, 6};
    CHECK(ks_view(c, a, 9, nine, &out) == KS_EINVAL && out == NULL);
    int64_t neg[2] = {-2, -3};
    CHECK(ks_view(c, a, 2, neg, &out) != KS_OK && out == NULL);
    int64_t two_infer[2] = {-1, -1};
    CHECK(ks_view(c, a, 2, two_infer, &out) == KS_EINVAL && out == NULL);
    int64_t bad[2] = {4, 2};
    CHECK(ks_view(c, a, 2, bad, &out) == KS_ESHAPE && out == NULL);
    CHECK_MSG(c, "[4, 2]");
    /* expand: incompatible size names both shapes */
    int64_t ex[2] = {4, 4};
    CHECK(ks_expand(c, m, 2, ex, &out) == KS_ESHAPE && out == NULL);
    CHECK_MSG(c, "[2, 3]");
    CHECK_MSG(c, "[4, 4]");
    int dims[2] = {0, 0};
    CHECK(ks_flip(c, m, 2, dims, &out) == KS_EINVAL && out == NULL);
    int perm[2] = {1, 1};
    CHECK(ks_permute(c, m, perm, &out) == KS_EINVAL && out == NULL);
    CHECK(ks_slice(c, m, 1, 0, 3, 0, &out) == KS_EINVAL && out == NULL);
    ks_tensor_release(m);
    ks_tensor_release(a);
    CHECK_EQ(live(c), 0);
}

static void test_views_slice_flip_expand(ks_ctx *c)
{
    ks_tensor *a = arange_f(c, 10), *s = NULL, *r = NULL, *f = NULL, *e = NULL, *u = NULL, *q = NULL;
    CHECK(ks_slice(c, a, 0, 1, 8, 3, &s) == KS_OK); /* 1, 4, 7 */
    CHECK_EQ(s->size[0], 3);
    CHECK(at(s, (int64_t[]){2}) == 7.0);
    CHECK(ks_slice(c, a, 0, -1, -11, -4, &r) == KS_OK); /* 9, 5, 1 */
    CHECK_EQ(r->size[0], 3);
    CHECK(at(r, (int64_t[]){0}) == 9.0 && at(r, (int64_t[]){2}) == 1.0);
    ks_tensor_release(r);
    CHECK(ks_slice(c, a, 0, 20, 30, 1, &r) == KS_OK); /* clamped to empty */
    CHECK_EQ(r->numel, 0);
    int d0 = 0;
    CHECK(ks_flip(c, a, 1, &d0, &f) == KS_OK);
    CHECK_EQ(f->stride[0], -1);
    CHECK_EQ(f->offset, 9);
    CHECK(at(f, (int64_t[]){0}) == 9.0 && at(f, (int64_t[]){9}) == 0.0);
    int64_t ex[2] = {4, -1};
    CHECK(ks_unsqueeze(c, a, 0, &u) == KS_OK && u->ndim == 2 && u->size[0] == 1);
    CHECK(ks_expand(c, u, 2, ex, &e) == KS_OK);
    CHECK_EQ(e->stride[0], 0);
    CHECK(at2(e, 3, 4) == 4.0);
    CHECK(ks_squeeze(c, u, -1, &q) == KS_OK && q->ndim == 1);
    ks_tensor_release(q);
    ks_tensor_release(e);
    ks_tensor_release(u);
    ks_tensor_release(f);
    ks_tensor_release(r);
    ks_tensor_release(s);
    ks_tensor_release(a);
    CHECK_EQ(live(c), 0);
}

static void test_view_vs_reshape(ks_ctx *c)
{
    ks_tensor *a = arange_f(c, 6), *m = NULL, *tr = NULL, *v = NULL, *r = NULL;
    int64_t shape[2] = {2, 3}, flat[1] = {-1};
    ks_view(c, a, 2, shape, &m);
    ks_transpose(c, m, 0, 1, &tr);
    CHECK(ks_view(c, tr, 1, flat, &v) == KS_ESHAPE && v == NULL);
    CHECK_MSG(c, "reshape");
    CHECK(ks_reshape(c, tr, 1, flat, &r) == KS_OK);
    CHECK(r->storage != a->storage);
    /* transposed order: 0 3 1 4 2 5 */
    CHECK(at(r, (int64_t[]){1}) == 3.0 && at(r, (int64_t[]){4}) == 2.0);
    ks_tensor_release(r);
    r = NULL;
    CHECK(ks_reshape(c, m, 1, flat, &r) == KS_OK && r->storage == a->storage);
    ks_tensor_release(r);
    ks_tensor_release(tr);
    ks_tensor_release(m);
    ks_tensor_release(a);
    CHECK_EQ(live(c), 0);
}

static void test_zero_d_and_empty(ks_ctx *c)
{
    ks_tensor *s = NULL, *e = NULL, *v = NULL;
    CHECK(ks_tensor_empty(c, KS_INT64, 0, NULL, &s) == KS_OK);
    CHECK_EQ(s->numel, 1);
    CHECK(ks_tensor_is_contiguous(s));
    int64_t z[2] = {0, 5}, z2[3] = {5, 0, 7};
    CHECK(ks_tensor_empty(c, KS_FLOAT32, 2, z, &e) == KS_OK);
    CHECK_EQ(e->numel, 0);
    CHECK(ks_reshape(c, e, 3, z2, &v) == KS_OK && v->numel == 0);
    int nd;
    int64_t out[KS_MAX_DIMS];
    CHECK(ks_broadcast_shapes(c, 0, NULL, 2, z, &nd, out) == KS_OK && nd == 2 && out[1] == 5);
    int d = 9;
    CHECK(ks_wrap_dim(c, -1, 0, &d) == KS_OK && d == 0);
    CHECK(ks_wrap_dim(c, 1, 0, &d) == KS_ERANGE);
    CHECK(ks_wrap_dim(c, -3, 2, &d) == KS_ERANGE);
    CHECK_MSG(c, "[-2, 1]");
    CHECK(ks_wrap_dim(c, -2, 2, &d) == KS_OK && d == 0);
    ks_tensor_release(v);
    ks_tensor_release(e);
    ks_tensor_release(s);
    CHECK_EQ(live(c), 0);
}

static void test_copy_and_dtypes(ks_ctx *c)
{
    ks_tensor *a = arange_f(c, 6), *m = NULL, *tr = NULL, *i64 = NULL, *b = NULL;
    int64_t shape[2] = {2, 3};
    ks_view(c, a, 2, shape, &m);
    ks_transpose(c, m, 0, 1, &tr);
    CHECK(ks_to_dtype(c, tr, KS_INT64, &i64) == KS_OK && i64->dtype == KS_INT64);
    CHECK(ks_tensor_is_contiguous(i64));
    CHECK_EQ(((int64_t *)ks_tensor_data(i64))[1], 3);
    CHECK(ks_to_dtype(c, i64, KS_BOOL, &b) == KS_OK);
    CHECK_EQ(((uint8_t *)ks_tensor_data(b))[0], 0);
    CHECK_EQ(((uint8_t *)ks_tensor_data(b))[5], 1);
    /* copy_ with broadcasting and a shape that does not broadcast */
    int64_t three = 3;
    ks_tensor *row = NULL;
    ks_tensor_empty(c, KS_FLOAT32, 1, &three, &row);
    float *rp = ks_tensor_data(row);
    rp[0] = 7; rp[1] = 8; rp[2] = 9;
    CHECK(ks_copy_(c, m, row) == KS_OK);
    CHECK(at2(m, 1, 2) == 9.0 && at2(m, 0, 0) == 7.0);
    CHECK(ks_copy_(c, tr, row) == KS_ESHAPE);
    CHECK_MSG(c, "[3]");
    CHECK_MSG(c, "[3, 2]");
    CHECK(ks_promote(KS_UINT8, KS_INT64) == KS_INT64);
    CHECK(ks_promote(KS_BOOL, KS_UINT8) == KS_UINT8);
    CHECK(ks_promote(KS_INT64, KS_FLOAT32) == KS_FLOAT32);
    CHECK(ks_promote(KS_BOOL, KS_BOOL) == KS_BOOL);
    CHECK_EQ(ks_dtype_from_name("uint8"), KS_UINT8);
    CHECK_EQ(ks_dtype_from_name("float64"), -1);
    ks_tensor_release(row);
    ks_tensor_release(b);
    ks_tensor_release(i64);
    ks_tensor_release(tr);
    ks_tensor_release(m);
    ks_tensor_release(a);
    CHECK_EQ(live(c), 0);
}

/* --------------------------------------------------------- iterator */
static void count_loop(char **data, const int64_t *strides, int64_t n, void *arg)
{
    (void)arg;
    for (int64_t k = 0; k < n; k++) (*(float *)(data[0] + k * strides[0])) += 1.0f;
}

static void add_loop(char **data, const int64_t *strides, int64_t n, void *arg)
{
    (void)arg;
    for (int64_t k = 0; k < n; k++)
        *(float *)(data[0] + k * strides[0]) = *(float *)(data[1] + k * strides[1]) + 100.0f;
}

static void test_iter_coalesce(ks_ctx *c)
{
    ks_tensor *a = arange_f(c, 24), *b = arange_f(c, 24), *x = NULL, *y = NULL, *yt = NULL;
    int64_t s3[3] = {2, 3, 4};
    ks_view(c, a, 3, s3, &x);
    ks_view(c, b, 3, s3, &y);
    ks_iter it;
    ks_tensor *ops[2] = {x, y};
    CHECK(ks_iter_init(c, &it, 2, ops) == KS_OK);
    CHECK_EQ(it.ndim, 1);
    CHECK_EQ(it.size[0], 24);
    CHECK_EQ(it.stride[0][0], 4);
    size_t isz[2] = {4, 4};
    CHECK(ks_iter_inner_contiguous(&it, isz));
    /* a transposed operand prevents merging of the swapped dims */
    ks_transpose(c, y, 1, 2, &yt);
    int64_t s3t[3] = {2, 4, 3};
    ks_tensor *x2 = NULL;
    ks_view(c, a, 3, s3t, &x2);
    ks_tensor *ops2[2] = {x2, yt};
    CHECK(ks_iter_init(c, &it, 2, ops2) == KS_OK);
    CHECK_EQ(it.ndim, 3);
    ks_iter_run(&it, 0, it.numel, add_loop, NULL);
    CHECK(at(x2, (int64_t[]){1, 2, 1}) == 100.0 + 12 + 1 * 4 + 2);
    /* size-1 dims are dropped */
    int64_t s1[3] = {1, 24, 1};
    ks_tensor *x3 = NULL;
    ks_view(c, a, 3, s1, &x3);
    CHECK(ks_iter_init(c, &it, 1, &x3) == KS_OK && it.ndim == 1 && it.size[0] == 24);
    ks_tensor_release(x3);
    ks_tensor_release(x2);
    ks_tensor_release(yt);
    ks_tensor_release(y);
    ks_tensor_release(x);
    ks_tensor_release(b);
    ks_tensor_release(a);
    CHECK_EQ(live(c), 0);
}

static void test_iter_broadcast(ks_ctx *c)
{
    ks_tensor *out = NULL, *row = arange_f(c, 3), *col = NULL, *bad = arange_f(c, 4);
    int64_t s[2] = {2, 3};
    ks_tensor_empty(c, KS_FLOAT32, 2, s, &out);
    ks_iter it;
    ks_tensor *ops[2] = {out, row};
    CHECK(ks_iter_init(c, &it, 2, ops) == KS_OK);
    CHECK_EQ(it.ndim, 2);
    CHECK_EQ(it.stride[0][1], 0); /* broadcast dim */
    ks_iter_run(&it, 0, it.numel, add_loop, NULL);
    CHECK(at2(out, 1, 2) == 102.0 && at2(out, 0, 1) == 101.0);
    /* a column [2, 1] broadcast along dim 1 */
    int64_t cs[2] = {2, 1};
    ks_tensor *two = arange_f(c, 2);
    ks_view(c, two, 2, cs, &col);
    ks_tensor *ops2[2] = {out, col};
    CHECK(ks_iter_init(c, &it, 2, ops2) == KS_OK);
    ks_iter_run(&it, 0, it.numel, add_loop, NULL);
    CHECK(at2(out, 1, 0) == 101.0 && at2(out, 1, 2) == 101.0 && at2(out, 0, 2) == 100.0);
    /* operand that does not broadcast: message names both shapes */
    ks_tensor *ops3[2] = {out, bad};
    CHECK(ks_iter_init(c, &it, 2, ops3) == KS_ESHAPE);
    CHECK_MSG(c, "[4]");
    CHECK_MSG(c, "[2, 3]");
    ks_tensor_release(col);
    ks_tensor_release(two);
    ks_tensor_release(bad);
    ks_tensor_release(row);
    ks_tensor_release(out);
    CHECK_EQ(live(c), 0);
}

/* every element of [begin, end) exactly once, for ranges cutting inner rows */
static void test_iter_ranges(ks_ctx *c)
{
    ks_tensor *a = NULL, *t = NULL;
    int64_t s[2] = {4, 6};
    ks_tensor_empty(c, KS_FLOAT32, 2, s, &a);
    memset(ks_tensor_data(a), 0, 24 * sizeof(float));
    ks_transpose(c, a, 0, 1, &t); /* non-coalescable: 2 dims */
    ks_iter it;
    CHECK(ks_iter_init(c, &it, 1, &t) == KS_OK && it.ndim == 2);
    ks_iter_run(&it, 5, 17, count_loop, NULL);
    int bad = 0;
    for (int64_t lin = 0; lin < 24; lin++) {
        float v = (float)at2(t, lin / 4, lin % 4);
        if (v != ((lin >= 5 && lin < 17) ? 1.0f : 0.0f)) bad++;
    }
    CHECK_EQ(bad, 0);
    /* parallel over small chunks, several thread counts */
    for (int nt = 1; nt <= 4; nt++) {
        memset(ks_tensor_data(a), 0, 24 * sizeof(float));
        ks_set_num_threads(c, nt);
        CHECK(ks_iter_parallel(c, &it, 5, count_loop, NULL) == KS_OK);
        const float *p = ks_tensor_data(a);
        int wrong = 0;
        for (int i = 0; i < 24; i++) wrong += p[i] != 1.0f;
        CHECK_EQ(wrong, 0);
    }
    /* 0-d: a single element */
    ks_tensor *z = NULL;
    ks_tensor_empty(c, KS_FLOAT32, 0, NULL, &z);
    *(float *)ks_tensor_data(z) = 0;
    CHECK(ks_iter_init(c, &it, 1, &z) == KS_OK && it.ndim == 1 && it.numel == 1);
    ks_iter_run(&it, 0, 1, count_loop, NULL);
    CHECK(*(float *)ks_tensor_data(z) == 1.0f);
    ks_tensor_release(z);
    ks_tensor_release(t);
    ks_tensor_release(a);
    CHECK_EQ(live(c), 0);
}

/* ----------------------------------------------------------- threads */
#define COVER_N 1000
struct cover {
    atomic_int hits[COVER_N];
    atomic_int bad_bounds;
    int64_t grain;
};

static ks_status cover_body(void *arg, int64_t b, int64_t e)
{
    struct cover *cv = arg;
    int64_t want_end = b + cv->grain < COVER_N ? b + cv->grain : COVER_N;
    if (b % cv->grain != 0 || e != want_end) atomic_fetch_add(&cv->bad_bounds, 1);
    for (int64_t i = b; i < e; i++) atomic_fetch_add(&cv->hits[i], 1);
    return KS_OK;
}

static void test_parallel_for_cover(ks_ctx *c)
{
    static struct cover cv;
    for (int nt = 1; nt <= 4; nt++) {
        CHECK(ks_set_num_threads(c, nt) == KS_OK);
        CHECK_EQ(ks_get_num_threads(c), nt);
        for (int rep = 0; rep < 20; rep++) {
            memset(&cv, 0, sizeof cv);
            cv.grain = 7;
            CHECK(ks_parallel_for(c, COVER_N, cv.grain, cover_body, &cv) == KS_OK);
            int wrong = 0;
            for (int i = 0; i < COVER_N; i++) wrong += atomic_load(&cv.hits[i]) != 1;
            CHECK_EQ(wrong, 0);
            CHECK_EQ(atomic_load(&cv.bad_bounds), 0);
        }
    }
    CHECK_EQ(ks_num_chunks(COVER_N, 7), 143);
    CHECK_EQ(ks_num_chunks(0, 7), 0);
    CHECK(ks_parallel_for(c, 0, 7, cover_body, &cv) == KS_OK);
    CHECK(ks_set_num_threads(c, 0) == KS_EINVAL);
    CHECK_MSG(c, "[1, 256]");
    CHECK(ks_set_num_threads(c, 100000) == KS_EINVAL);
    CHECK_EQ(ks_get_num_threads(c), 4);
}

/* chunks 3 and 7 fail; the status of chunk 3 must win whatever the threads */
static ks_status failing_body(void *arg, int64_t b, int64_t e)
{
    (void)arg; (void)e;
    if (b == 3 * 10) return KS_ERANGE;
    if (b == 7 * 10) return KS_EINVAL;
    return KS_OK;
}

static void test_parallel_for_errors(ks_ctx *c)
{
    for (int nt = 1; nt <= 4; nt++) {
        ks_set_num_threads(c, nt);
        for (int rep = 0; rep < 50; rep++) CHECK_EQ(ks_parallel_for(c, 200, 10, failing_body, NULL), KS_ERANGE);
    }
}

struct intr {
    ks_ctx *c;
    atomic_int ran;
};

static ks_status interrupting_body(void *arg, int64_t b, int64_t e)
{
    struct intr *in = arg;
    (void)e;
    atomic_fetch_add(&in->ran, 1);
    if (b == 0) ks_ctx_interrupt(in->c);
    return KS_OK;
}

static ks_status count_body(void *arg, int64_t b, int64_t e)
{
    struct intr *in = arg;
    (void)b; (void)e;
    atomic_fetch_add(&in->ran, 1);
    return KS_OK;
}

static void test_parallel_for_interrupt(ks_ctx *c)
{
    for (int nt = 1; nt <= 4; nt++) {
        ks_set_num_threads(c, nt);
        struct intr in = {c, 0};
        CHECK_EQ(ks_parallel_for(c, 100000, 1, interrupting_body, &in), KS_EINTR);
        CHECK_MSG(c, "interrupted");
        CHECK(atomic_load(&in.ran) < 100000);
        CHECK_EQ(atomic_load(&c->interrupted), 0); /* cleared once reported */
        /* the next region runs completely */
        atomic_store(&in.ran, 0);
        CHECK_EQ(ks_parallel_for(c, 1000, 1, count_body, &in), KS_OK);
        CHECK_EQ(atomic_load(&in.ran), 1000);
    }
}

/* Chunked float sums with double partials combined in chunk order: the
 * pattern reductions use; the bits must not depend on the thread count. */
struct psum {
    const float *x;
    double *partial;
    int64_t grain;
};

static ks_status psum_body(void *arg, int64_t b, int64_t e)
{
    struct psum *p = arg;
    double s = 0;
    for (int64_t i = b; i < e; i++) s += p->x[i];
    p->partial[b / p->grain] = s;
    return KS_OK;
}

static void test_deterministic_sum(ks_ctx *c)
{
    enum { N = 100003, GRAIN = 1000 };
    float *x = malloc(N * sizeof *x);
    double *partial = malloc((size_t)ks_num_chunks(N, GRAIN) * sizeof *partial);
    ks_generator g = {12345, 0};
    for (int i = 0; i < N; i++) x[i] = (float)(ks_random_normal(&g) * 1e3);
    float first = 0;
    for (int nt = 1; nt <= 4; nt++) {
        ks_set_num_threads(c, nt);
        struct psum p = {x, partial, GRAIN};
        CHECK(ks_parallel_for(c, N, GRAIN, psum_body, &p) == KS_OK);
        double s = 0;
        for (int64_t k = 0; k < ks_num_chunks(N, GRAIN); k++) s += partial[k];
        float f = (float)s;
        if (nt == 1) first = f;
        CHECK(memcmp(&f, &first, sizeof f) == 0);
    }
    free(partial);
    free(x);
}

/* ------------------------------------------------------------ Philox */
/* Reference Philox 4x32-10 over a full 4-word counter and 2-word key,
 * written from the paper's round definition (Salmon et al., SC'11). */
static void philox_ref(const uint32_t ctr_in[4], const uint32_t key_in[2], uint32_t out[4])
{
    uint32_t x0 = ctr_in[0], x1 = ctr_in[1], x2 = ctr_in[2], x3 = ctr_in[3];
    uint32_t k0 = key_in[0], k1 = key_in[1];
    for (int r = 0; r < 10; r++) {
        if (r > 0) { k0 += 0x9E3779B9u; k1 += 0xBB67AE85u; }
        uint64_t a = (uint64_t)0xD2511F53u * x0, b = (uint64_t)0xCD9E8D57u * x2;
        uint32_t y0 = (uint32_t)(b >> 32) ^ x1 ^ k0, y1 = (uint32_t)b;
        uint32_t y2 = (uint32_t)(a >> 32) ^ x3 ^ k1, y3 = (uint32_t)a;
        x0 = y0; x1 = y1; x2 = y2; x3 = y3;
    }
    out[0] = x0; out[1] = x1; out[2] = x2; out[3] = x3;
}

static int words_eq(const uint32_t *a, const uint32_t *b) { return memcmp(a, b, 4 * sizeof *a) == 0; }

static void test_philox_kat(ks_ctx *c)
{
    (void)c;
    /* Random123 kat_vectors, philox4x32 10 rounds */
    static const struct { uint32_t ctr[4], key[2], out[4]; } kat[] = {
        {{0, 0, 0, 0}, {0, 0}, {0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8}},
        {{0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff}, {0xffffffff, 0xffffffff},
         {0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd}},
        {{0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344}, {0xa4093822, 0x299f31d0},
         {0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1}},
    };
    for (size_t i = 0; i < sizeof kat / sizeof *kat; i++) {
        uint32_t out[4];
        philox_ref(kat[i].ctr, kat[i].key, out);
        CHECK(words_eq(out, kat[i].out));
    }
    /* ks_philox(seed, ctr): ctr is counter words 0-1 (low first), words 2-3
     * are zero, and the seed is the key (low word first) */
    uint32_t w[4];
    ks_philox(0, 0, w);
    CHECK(words_eq(w, kat[0].out));
    static const uint64_t seeds[] = {1, 0xffffffffffffffffull, 0x299f31d0a4093822ull, 42};
    static const uint64_t ctrs[] = {0, 1, 0x85a308d3243f6a88ull, 0xffffffffffffffffull};
    int mismatches = 0;
    for (int i = 0; i < 4; i++) {
        for (int j = 0; j < 4; j++) {
            uint32_t ctr[4] = {(uint32_t)ctrs[j], (uint32_t)(ctrs[j] >> 32), 0, 0};
            uint32_t key[2] = {(uint32_t)seeds[i], (uint32_t)(seeds[i] >> 32)};
            uint32_t ref[4];
            philox_ref(ctr, key, ref);
            ks_philox(seeds[i], ctrs[j], w);
            mismatches += !words_eq(w, ref);
        }
    }
    CHECK_EQ(mismatches, 0);
    /* word i of a draw comes from block start + i/4 */
    ks_philox(7, 12, w);
    CHECK(ks_random_word(7, 10, 9) == w[1]);
    ks_generator g = {7, 0};
    CHECK_EQ(ks_generator_take(&g, 5), 0);
    CHECK_EQ(ks_generator_take(&g, 1), 5);
    /* forks are reproducible and distinct */
    ks_generator f1, f2, f3;
    ks_generator_fork(&g, 1, &f1);
    ks_generator_fork(&g, 1, &f2);
    ks_generator_fork(&g, 2, &f3);
    CHECK(f1.seed == f2.seed && f1.seed != f3.seed && f1.offset == 0);
    for (int i = 0; i < 1000; i++) {
        uint64_t r = ks_random_below(&g, 3);
        if (r >= 3) { CHECK(r < 3); break; }
        double u = ks_random_uniform(&g);
        if (!(u >= 0 && u < 1)) { CHECK(u >= 0 && u < 1); break; }
    }
}

/* ------------------------------------------------------------ memory */
static void test_memory_accounting(ks_ctx *c)
{
    CHECK_EQ(live(c), 0);
    uint64_t allocs = c->num_allocs;
    (void)ks_mem_take_debt(c);
    int64_t n = 1000;
    ks_tensor *t = NULL, *v = NULL;
    CHECK(ks_tensor_empty(c, KS_FLOAT32, 1, &n, &t) == KS_OK);
    size_t one = live(c);
    CHECK(one >= 4000 + sizeof(ks_tensor));
    CHECK(one < 4000 + sizeof(ks_tensor) + 256);
    CHECK(c->peak_bytes >= one);
    CHECK_EQ(c->num_allocs, allocs + 2); /* storage + header */
    CHECK_EQ(ks_mem_take_debt(c), one);
    CHECK_EQ(ks_mem_take_debt(c), 0);
    /* a view costs a header only and keeps the storage alive */
    int64_t two[2] = {10, 100};
    CHECK(ks_view(c, t, 2, two, &v) == KS_OK);
    CHECK_EQ(live(c), one + sizeof(ks_tensor));
    ks_tensor_release(t);
    CHECK(live(c) > sizeof(ks_tensor));
    ((float *)ks_tensor_data(v))[999] = 1; /* storage still valid (valgrind/ASan check) */
    ks_tensor_release(v);
    CHECK_EQ(live(c), 0);
}

static void test_memory_limit(ks_ctx *c)
{
    size_t old = c->limit_bytes;
    ks_set_memory_limit(c, 8192);
    int64_t n = 1000, big = 2000;
    ks_tensor *t = NULL, *u = NULL;
    CHECK(ks_tensor_empty(c, KS_FLOAT32, 1, &n, &t) == KS_OK);
    if (!t) return;
    size_t before = live(c);
    CHECK(ks_tensor_empty(c, KS_FLOAT32, 1, &big, &u) == KS_ENOMEM && u == NULL);
    CHECK_MSG(c, "memory limit");
    CHECK_MSG(c, "8192");
    CHECK_EQ(live(c), before); /* nothing half-accounted */
    /* header accounting can fail too */
    ks_tensor *v = NULL;
    ks_set_memory_limit(c, before);
    CHECK(ks_view(c, t, 1, &n, &v) == KS_ENOMEM && v == NULL);
    CHECK_EQ(live(c), before);
    ks_set_memory_limit(c, old);
    CHECK(ks_tensor_empty(c, KS_FLOAT32, 1, &big, &u) == KS_OK);
    ks_tensor_release(u);
    ks_tensor_release(t);
    CHECK_EQ(live(c), 0);
}

static void test_overflow(ks_ctx *c)
{
    ks_tensor *t = NULL;
    int64_t huge[2] = {(int64_t)1 << 40, (int64_t)1 << 40};
    CHECK(ks_tensor_empty(c, KS_FLOAT32, 2, huge, &t) == KS_ERANGE && t == NULL);
    CHECK_MSG(c, "too many elements");
    int64_t max[1] = {INT64_MAX};
    CHECK(ks_tensor_empty(c, KS_INT64, 1, max, &t) != KS_OK && t == NULL);
    /* fits in int64 elements but not in bytes, or beyond the limit */
    int64_t near[1] = {INT64_MAX / 16};
    CHECK(ks_tensor_empty(c, KS_INT64, 1, near, &t) == KS_ENOMEM && t == NULL);
    int64_t neg[2] = {3, -1};
    CHECK(ks_tensor_empty(c, KS_FLOAT32, 2, neg, &t) == KS_EINVAL && t == NULL);
    CHECK_MSG(c, "negative");
    int64_t nine[9] = {1, 1, 1, 1, 1, 1, 1, 1, 1};
    CHECK(ks_tensor_empty(c, KS_FLOAT32, 9, nine, &t) == KS_EINVAL && t == NULL);
    CHECK(ks_mem_alloc(c, SIZE_MAX) == NULL);
    CHECK_MSG(c, "overflows");
    CHECK(ks_mem_alloc(c, SIZE_MAX / 2) == NULL);
    CHECK(ks_mem_account(c, SIZE_MAX) == KS_ENOMEM);
    size_t o;
    CHECK(ks_mul_overflow((size_t)1 << 40, (size_t)1 << 40, &o) == 1);
    CHECK(ks_add_overflow(SIZE_MAX, 1, &o) == 1);
    CHECK(ks_add_overflow(1, 2, &o) == 0 && o == 3);
    int64_t numel = -1;
    CHECK(ks_shape_numel(c, 2, huge, &numel) == KS_ERANGE && numel == -1);
    /* a zero does not exempt the other sizes: their product stays below 2^60 */
    int64_t zero_big[3] = {0, (int64_t)1 << 62, (int64_t)1 << 62};
    CHECK(ks_shape_numel(c, 3, zero_big, &numel) == KS_ERANGE && numel == -1);
    int64_t zero_ok[3] = {0, (int64_t)1 << 29, (int64_t)1 << 30};
    CHECK(ks_shape_numel(c, 3, zero_ok, &numel) == KS_OK && numel == 0);
    CHECK_EQ(live(c), 0);
}

static int external_frees;
static void external_free(void *ud, void *data)
{
    (void)ud;
    external_frees++;
    free(data);
}

static void test_external_and_lifetime(ks_ctx *c)
{
    (void)c;
    /* the context outlives its last tensor whatever the release order */
    ks_ctx *own = ks_ctx_new();
    CHECK(own != NULL);
    if (!own) return;
    int64_t n = 16;
    float *buf = malloc(16 * sizeof *buf);
    ks_tensor *ext = NULL, *t = NULL;
    CHECK(ks_tensor_from_external(own, KS_FLOAT32, 1, &n, buf, external_free, NULL, &ext) == KS_OK);
    CHECK(ks_tensor_empty(own, KS_UINT8, 1, &n, &t) == KS_OK);
    ks_ctx_release(own); /* tensors still hold it */
    ks_tensor_release(ext);
    CHECK_EQ(external_frees, 1);
    ks_tensor_release(t); /* frees the context: valgrind/ASan catch mistakes */
    /* a long message is truncated, never overflows */
    char longs[2000];
    memset(longs, 'x', sizeof longs - 1);
    longs[sizeof longs - 1] = 0;
    ks_ctx *d = ks_ctx_new();
    CHECK(ks_error(d, KS_EINVAL, "%s", longs) == KS_EINVAL);
    CHECK_EQ(strlen(ks_ctx_message(d)), KS_MSG_SIZE - 1);
    CHECK(strcmp(ks_status_name(KS_EINTR), "interrupted") == 0);
    CHECK(strcmp(ks_status_name((ks_status)99), "unknown error") == 0);
    ks_ctx_release(d);
}

/* -------------------------------------------------------------- main */
static const struct { const char *name; test_fn fn; } tests[] = {
    {"views_basic", test_views_basic},
    {"views_errors", test_views_errors},
    {"views_slice_flip_expand", test_views_slice_flip_expand},
    {"view_vs_reshape", test_view_vs_reshape},
    {"zero_d_and_empty", test_zero_d_and_empty},
    {"copy_and_dtypes", test_copy_and_dtypes},
    {"iter_coalesce", test_iter_coalesce},
    {"iter_broadcast", test_iter_broadcast},
    {"iter_ranges", test_iter_ranges},
    {"parallel_for_cover", test_parallel_for_cover},
    {"parallel_for_errors", test_parallel_for_errors},
    {"parallel_for_interrupt", test_parallel_for_interrupt},
    {"deterministic_sum", test_deterministic_sum},
    {"philox_kat", test_philox_kat},
    {"memory_accounting", test_memory_accounting},
    {"memory_limit", test_memory_limit},
    {"overflow", test_overflow},
    {"external_and_lifetime", test_external_and_lifetime},
};

int main(int argc, char **argv)
{
    int passed = 0, failed = 0;
    setvbuf(stdout, NULL, _IOLBF, 0); /* lines survive a crash */
    for (size_t i = 0; i < sizeof tests / sizeof *tests; i++) {
        if (argc > 1 && !strstr(tests[i].name, argv[1])) continue;
        /* each test gets a fresh context, so live bytes start at zero */
        ks_ctx *c = ks_ctx_new();
        if (!c) { fprintf(stderr, "cannot create a context\n"); return 1; }
        check_failed = 0;
        tests[i].fn(c);
        ks_ctx_release(c);
        if (check_failed) { failed++; printf("FAIL %s\n", tests[i].name); }
        else { passed++; printf("ok   %s\n", tests[i].name); }
    }
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
