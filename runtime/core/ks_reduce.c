/* ks_reduce.c: the reduction engine (geometry, parallel dispatch, column
 * kernel) and the public reduction functions. Op kernels: ks_reduce_ops.c. */
#include "ks_reduce_impl.h"
#include "ks_threads.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#define RED_WORK 32768  /* elements of work per parallel task */
#define COL_BLOCK 256   /* output columns per block of the column kernel */

static inline int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }

/* ------------------------------------------------------------ walking */
void red_walk(const red_job *j, const char *base, int64_t b, int64_t e, red_run_fn run, red_acc *a)
{
    int nr = j->nr;
    if (nr == 0) { /* every reduced dim has size 1: one element */
        if (b < e) run(a, base, 0, 1, 0, j);
        return;
    }
    int64_t idx[KS_MAX_DIMS], rem = b, pos = b;
    for (int d = nr - 1; d >= 0; d--) {
        idx[d] = rem % j->rsize[d];
        rem /= j->rsize[d];
    }
    while (pos < e) {
        const char *p = base;
        for (int d = 0; d < nr; d++) p += idx[d] * j->rstride[d];
        int64_t n = min64(j->rsize[nr - 1] - idx[nr - 1], e - pos);
        run(a, p, j->rstride[nr - 1], n, pos, j);
        pos += n;
        idx[nr - 1] += n;
        for (int d = nr - 1; d > 0 && idx[d] >= j->rsize[d]; d--) {
            idx[d] = 0;
            idx[d - 1]++;
        }
    }
}

/* first input element of output o */
static const char *kept_base(const red_job *j, int64_t o)
{
    const char *p = j->in;
    for (int d = j->nk - 1; d >= 0; d--) {
        p += (o % j->ksize[d]) * j->kstride[d];
        o /= j->ksize[d];
    }
    return p;
}

static void red_chunk(const red_job *j, const char *base, int64_t b, int64_t e, red_acc *a)
{
    if (j->op->chunk) {
        j->op->chunk(a, base, b, e, j);
    } else {
        j->op->init(a, j);
        red_walk(j, base, b, e, j->op->run, a);
    }
}

/* One output, serially: chunk partials combined in order (same bits as the
 * split path). A single short run (the common case) skips the walk. */
static void reduce_one(const red_job *j, const char *base, int64_t o)
{
    red_acc tot, a;
    if (j->red_numel <= KS_RED_CHUNK && j->nr <= 1 && !j->op->chunk) {
        j->op->init(&tot, j);
        if (j->red_numel > 0) j->op->run(&tot, base, j->nr ? j->rstride[0] : 0, j->red_numel, 0, j);
        j->op->finish(&tot, j, o);
        return;
    }
    if (j->red_numel == 0) j->op->init(&tot, j);
    for (int64_t b = 0; b < j->red_numel; b += KS_RED_CHUNK) {
        int64_t e = min64(b + KS_RED_CHUNK, j->red_numel);
        red_chunk(j, base, b, e, b == 0 ? &tot : &a);
        if (b) j->op->combine(&tot, &a, j);
    }
    j->op->finish(&tot, j, o);
}

/* outputs [b, e), stepping the kept multi-index instead of dividing per output */
static ks_status outputs_range(void *arg, int64_t b, int64_t e)
{
    const red_job *j = arg;
    int64_t idx[KS_MAX_DIMS], rem = b;
    for (int d = j->nk - 1; d >= 0; d--) {
        idx[d] = rem % j->ksize[d];
        rem /= j->ksize[d];
    }
    const char *base = kept_base(j, b);
    for (int64_t o = b; o < e; o++) {
        reduce_one(j, base, o);
        for (int d = j->nk - 1; d >= 0; d--) {
            base += j->kstride[d];
            if (++idx[d] < j->ksize[d]) break;
            base -= j->kstride[d] * j->ksize[d];
            idx[d] = 0;
        }
    }
    return KS_OK;
}

/* ------------------------------------------------------ split full reduction */
static ks_status chunks_range(void *arg, int64_t b, int64_t e)
{
    red_job *j = arg;
    for (int64_t k = b; k < e; k++)
        red_chunk(j, j->in, k * KS_RED_CHUNK, min64((k + 1) * KS_RED_CHUNK, j->red_numel), &j->partials[k]);
    return KS_OK;
}

static ks_status reduce_split(ks_ctx *c, red_job *j)
{
    int64_t nch = ks_num_chunks(j->red_numel, KS_RED_CHUNK);
    red_acc local[64];
    size_t bytes = (size_t)nch * sizeof(red_acc);
    j->partials = nch <= 64 ? local : ks_mem_alloc(c, bytes);
    if (!j->partials) return KS_ENOMEM;
    ks_status st = ks_parallel_for(c, nch, 1, chunks_range, j);
    if (st == KS_OK) {
        red_acc tot = j->partials[0];
        for (int64_t k = 1; k < nch; k++) j->op->combine(&tot, &j->partials[k], j);
        j->op->finish(&tot, j, 0);
    }
    if (j->partials != local) ks_mem_free(c, j->partials, bytes);
    j->partials = NULL;
    return st;
}

/* ------------------------------------------------ float32 column kernel */
/* Reduced rows of contiguous columns: add whole rows into double buffers
 * (vectorises, reads memory in order). Per column, the order of additions is
 * the serial one, in KS_RED_CHUNK partials combined in order. */
static inline void add_row(double *restrict acc, const float *restrict x, int64_t w)
{
    int64_t k = 0;
    for (; k + 4 <= w; k += 4) { /* unrolled so -O2 vectorises it */
        acc[k] += x[k];
        acc[k + 1] += x[k + 1];
        acc[k + 2] += x[k + 2];
        acc[k + 3] += x[k + 3];
    }
    for (; k < w; k++) acc[k] += x[k];
}

static void col_rows(const red_job *j, const char *base, int64_t b, int64_t e, double *acc, int64_t w)
{
    int nr = j->nr;
    int64_t idx[KS_MAX_DIMS], rem = b;
    for (int d = nr - 1; d >= 0; d--) {
        idx[d] = rem % j->rsize[d];
        rem /= j->rsize[d];
    }
    for (int64_t pos = b; pos < e; pos++) {
        const char *p = base;
        for (int d = 0; d < nr; d++) p += idx[d] * j->rstride[d];
        add_row(acc, (const float *)p, w);
        for (int d = nr - 1; d >= 0; d--) {
            if (++idx[d] < j->rsize[d] || d == 0) break;
            idx[d] = 0;
        }
    }
}

static void col_block(const red_job *j, int64_t o, int64_t w)
{
    double tot[COL_BLOCK], part[COL_BLOCK];
    const char *base = kept_base(j, o);
    for (int64_t b = 0; b < j->red_numel; b += KS_RED_CHUNK) {
        double *acc = b == 0 ? tot : part;
        memset(acc, 0, (size_t)w * sizeof *acc);
        col_rows(j, base, b, min64(b + KS_RED_CHUNK, j->red_numel), acc, w);
        if (b)
            for (int64_t k = 0; k < w; k++) tot[k] += part[k];
    }
    float *out = (float *)j->out + o;
    double scale = j->op == &ks_red_mean ? (double)j->red_numel : 1.0;
    for (int64_t k = 0; k < w; k++) out[k] = (float)(scale == 1.0 ? tot[k] : tot[k] / scale);
}

static ks_status columns_range(void *arg, int64_t b, int64_t e)
{
    const red_job *j = arg;
    int64_t cols = j->ksize[j->nk - 1];
    for (int64_t o = b; o < e;) {
        int64_t w = min64(min64(cols - o % cols, e - o), COL_BLOCK);
        col_block(j, o, w);
        o += w;
    }
    return KS_OK;
}

static bool use_columns(const red_job *j)
{
    return j->op->columns && j->in_dt == KS_FLOAT32 && j->nk > 0 && j->nr > 0 && j->red_numel > 0 &&
           j->kstride[j->nk - 1] == 4 && j->rstride[j->nr - 1] != 4;
}

static ks_status red_execute(ks_ctx *c, red_job *j)
{
    if (j->out_numel == 0) return KS_OK;
    int64_t per = j->red_numel > 0 ? j->red_numel : 1;
    if (use_columns(j)) {
        int64_t grain = RED_WORK / per < 64 ? 64 : RED_WORK / per;
        return ks_parallel_for(c, j->out_numel, grain, columns_range, j);
    }
    if (j->out_numel == 1 && j->red_numel > KS_RED_CHUNK) return reduce_split(c, j);
    int64_t grain = RED_WORK / per < 1 ? 1 : RED_WORK / per;
    return ks_parallel_for(c, j->out_numel, grain, outputs_range, j);
}

/* ------------------------------------------------------------ geometry */
static ks_status prefixed(ks_ctx *c, ks_status st, const char *name)
{
    char msg[KS_MSG_SIZE];
    snprintf(msg, sizeof msg, "%s", ks_ctx_message(c));
    return ks_error(c, st, "%s(): %s", name, msg);
}

/* Mark the reduced dims (all when ndims == 0); errors name the op. */
static ks_status mark_dims(ks_ctx *c, const char *name, const ks_tensor *t, int ndims, const int *dims, bool *red)
{
    if (ndims < 0 || ndims > KS_MAX_DIMS)
        return ks_error(c, KS_EINVAL, "%s(): expected at most %d dims, got %d", name, KS_MAX_DIMS, ndims);
    for (int d = 0; d < t->ndim; d++) red[d] = ndims == 0;
    for (int i = 0; i < ndims; i++) {
        int d;
        if (ks_wrap_dim(c, dims[i], t->ndim, &d)) return prefixed(c, KS_ERANGE, name);
        if (t->ndim == 0) continue;
        if (red[d]) return ks_error(c, KS_EINVAL, "%s(): dim %d appears multiple times in the list of dims", name, d);
        red[d] = true;
    }
    return KS_OK;
}

/* append a dim to a kept/reduced list, merging with the previous one when possible */
static void push_dim(int *n, int64_t *size, int64_t *stride, int64_t sz, int64_t st)
{
    if (*n > 0 && stride[*n - 1] == st * sz) {
        size[*n - 1] *= sz;
        stride[*n - 1] = st;
        return;
    }
    size[*n] = sz;
    stride[*n] = st;
    (*n)++;
}

static void build_geometry(red_job *j, const ks_tensor *t, const bool *red, bool keepdim, int *ondim, int64_t *osize)
{
    int64_t isz = (int64_t)ks_dtype_size(t->dtype);
    int on = 0;
    j->out_numel = j->red_numel = 1;
    for (int d = 0; d < t->ndim; d++) {
        int64_t sz = t->size[d], st = t->stride[d] * isz;
        if (red[d]) {
            if (keepdim) osize[on++] = 1;
            j->red_numel *= sz;
            if (sz != 1) push_dim(&j->nr, j->rsize, j->rstride, sz, st);
        } else {
            osize[on++] = sz;
            j->out_numel *= sz;
            if (sz != 1) push_dim(&j->nk, j->ksize, j->kstride, sz, st);
        }
    }
    *ondim = on;
    j->in = ks_tensor_data(t);
    j->in_dt = t->dtype;
}

static ks_status check_input(ks_ctx *c, const red_job *j, const ks_tensor *t, const bool *red, bool all)
{
    const char *name = j->op->name;
    char b[160];
    if (j->op->float_only && t->dtype != KS_FLOAT32)
        return ks_error(c, KS_ETYPE,
                        "%s(): could not infer output dtype: input dtype must be floating point (float32), got %s "
                        "(convert with :float() first)", name, ks_dtype_name(t->dtype));
    bool nonempty = j->op->needs_nonempty || (j->op == &ks_red_norm && isinf(j->p));
    if (!nonempty || j->red_numel > 0) return KS_OK;
    if (all)
        return ks_error(c, KS_EINVAL, "%s(): cannot reduce the empty tensor of shape %s (the operation has no "
                        "identity); specify a dim", name, ks_shape_str(t, b, sizeof b));
    int d = 0;
    while (d < t->ndim && !(red[d] && t->size[d] == 0)) d++;
    return ks_error(c, KS_EINVAL, "%s(): expected reduction dim %d to have non-zero size (input shape %s)", name, d,
                    ks_shape_str(t, b, sizeof b));
}

/* Set up j (op and parameters already set), allocate outputs, run. */
static ks_status red_do(ks_ctx *c, red_job *j, ks_tensor *t, int ndims, const int *dims, bool keepdim,
                        ks_dtype out_dt, ks_tensor **out, ks_tensor **out2)
{
    bool red[KS_MAX_DIMS];
    int on;
    int64_t osize[KS_MAX_DIMS];
    ks_status st = mark_dims(c, j->op->name, t, ndims, dims, red);
    if (st) return st;
    build_geometry(j, t, red, keepdim, &on, osize);
    if ((st = check_input(c, j, t, red, ndims == 0))) return st;
    ks_tensor *r = NULL, *r2 = NULL;
    if ((st = ks_tensor_empty(c, out_dt, on, osize, &r))) return st;
    if (out2 && (st = ks_tensor_empty(c, j->op->float_out2 ? KS_FLOAT32 : KS_INT64, on, osize, &r2))) goto fail;
    j->out_dt = out_dt;
    j->out = ks_tensor_data(r);
    j->out2 = r2 ? ks_tensor_data(r2) : NULL;
    if ((st = red_execute(c, j))) goto fail;
    *out = r;
    if (out2) *out2 = r2;
    return KS_OK;
fail:
    ks_tensor_release(r);
    ks_tensor_release(r2);
    return st;
}

/* ------------------------------------------------------------ public */
static ks_dtype acc_dtype(ks_dtype dt) { return dt == KS_FLOAT32 ? KS_FLOAT32 : KS_INT64; }

ks_status ks_sum(ks_ctx *c, ks_tensor *t, int ndims, const int *dims, bool keepdim, ks_tensor **out)
{
    red_job j = {.op = &ks_red_sum};
    return red_do(c, &j, t, ndims, dims, keepdim, acc_dtype(t->dtype), out, NULL);
}

ks_status ks_mean(ks_ctx *c, ks_tensor *t, int ndims, const int *dims, bool keepdim, ks_tensor **out)
{
    red_job j = {.op = &ks_red_mean};
    return red_do(c, &j, t, ndims, dims, keepdim, KS_FLOAT32, out, NULL);
}

ks_status ks_prod(ks_ctx *c, ks_tensor *t, int ndims, const int *dims, bool keepdim, ks_tensor **out)
{
    red_job j = {.op = &ks_red_prod};
    return red_do(c, &j, t, ndims, dims, keepdim, acc_dtype(t->dtype), out, NULL);
}

ks_status ks_amax(ks_ctx *c, ks_tensor *t, int ndims, const int *dims, bool keepdim, ks_tensor **out)
{
    red_job j = {.op = &ks_red_amax};
    return red_do(c, &j, t, ndims, dims, keepdim, t->dtype, out, NULL);
}

ks_status ks_amin(ks_ctx *c, ks_tensor *t, int ndims, const int *dims, bool keepdim, ks_tensor **out)
{
    red_job j = {.op = &ks_red_amin, .is_min = true};
    return red_do(c, &j, t, ndims, dims, keepdim, t->dtype, out, NULL);
}

ks_status ks_max_all(ks_ctx *c, ks_tensor *t, ks_tensor **out)
{
    red_job j = {.op = &ks_red_max};
    return red_do(c, &j, t, 0, NULL, false, t->dtype, out, NULL);
}

ks_status ks_min_all(ks_ctx *c, ks_tensor *t, ks_tensor **out)
{
    red_job j = {.op = &ks_red_min, .is_min = true};
    return red_do(c, &j, t, 0, NULL, false, t->dtype, out, NULL);
}

ks_status ks_max_dim(ks_ctx *c, ks_tensor *t, int dim, bool keepdim, ks_tensor **values, ks_tensor **indices)
{
    red_job j = {.op = &ks_red_max, .want_index = true};
    return red_do(c, &j, t, 1, &dim, keepdim, t->dtype, values, indices);
}

ks_status ks_min_dim(ks_ctx *c, ks_tensor *t, int dim, bool keepdim, ks_tensor **values, ks_tensor **indices)
{
    red_job j = {.op = &ks_red_min, .is_min = true, .want_index = true};
    return red_do(c, &j, t, 1, &dim, keepdim, t->dtype, values, indices);
}

ks_status ks_argmax(ks_ctx *c, ks_tensor *t, int dim, bool keepdim, ks_tensor **out)
{
    red_job j = {.op = &ks_red_argmax, .want_index = true};
    return red_do(c, &j, t, dim == KS_NO_DIM ? 0 : 1, &dim, keepdim, KS_INT64, out, NULL);
}

ks_status ks_argmin(ks_ctx *c, ks_tensor *t, int dim, bool keepdim, ks_tensor **out)
{
    red_job j = {.op = &ks_red_argmin, .is_min = true, .want_index = true};
    return red_do(c, &j, t, dim == KS_NO_DIM ? 0 : 1, &dim, keepdim, KS_INT64, out, NULL);
}

ks_status ks_var(ks_ctx *c, ks_tensor *t, int ndims, const int *dims, double correction, bool keepdim,
                 ks_tensor **out)
{
    red_job j = {.op = &ks_red_var, .p = correction};
    return red_do(c, &j, t, ndims, dims, keepdim, KS_FLOAT32, out, NULL);
}

ks_status ks_std(ks_ctx *c, ks_tensor *t, int ndims, const int *dims, double correction, bool keepdim,
                 ks_tensor **out)
{
    red_job j = {.op = &ks_red_std, .p = correction, .is_std = true};
    return red_do(c, &j, t, ndims, dims, keepdim, KS_FLOAT32, out, NULL);
}

ks_status ks_var_mean(ks_ctx *c, ks_tensor *t, int ndims, const int *dims, double correction, bool keepdim,
                      ks_tensor **var, ks_tensor **mean)
{
    red_job j = {.op = &ks_red_var, .p = correction};
    return red_do(c, &j, t, ndims, dims, keepdim, KS_FLOAT32, var, mean);
}

ks_status ks_std_mean(ks_ctx *c, ks_tensor *t, int ndims, const int *dims, double correction, bool keepdim,
                      ks_tensor **std, ks_tensor **mean)
{
    red_job j = {.op = &ks_red_std, .p = correction, .is_std = true};
    return red_do(c, &j, t, ndims, dims, keepdim, KS_FLOAT32, std, mean);
}

ks_status ks_norm(ks_ctx *c, ks_tensor *t, double p, int ndims, const int *dims, bool keepdim, ks_tensor **out)
{
    if (isnan(p)) return ks_error(c, KS_EINVAL, "norm(): the order p must not be NaN");
    red_job j = {.op = &ks_red_norm, .p = p};
    return red_do(c, &j, t, ndims, dims, keepdim, KS_FLOAT32, out, NULL);
}

ks_status ks_logsumexp(ks_ctx *c, ks_tensor *t, int ndims, const int *dims, bool keepdim, ks_tensor **out)
{
    red_job j = {.op = &ks_red_lse};
    return red_do(c, &j, t, ndims, dims, keepdim, KS_FLOAT32, out, NULL);
}

ks_status ks_any(ks_ctx *c, ks_tensor *t, int ndims, const int *dims, bool keepdim, ks_tensor **out)
{
    red_job j = {.op = &ks_red_any};
    return red_do(c, &j, t, ndims, dims, keepdim, KS_BOOL, out, NULL);
}

ks_status ks_all(ks_ctx *c, ks_tensor *t, int ndims, const int *dims, bool keepdim, ks_tensor **out)
{
    red_job j = {.op = &ks_red_all};
    return red_do(c, &j, t, ndims, dims, keepdim, KS_BOOL, out, NULL);
}

ks_status ks_count_nonzero(ks_ctx *c, ks_tensor *t, int ndims, const int *dims, bool keepdim, ks_tensor **out)
{
    red_job j = {.op = &ks_red_count};
    return red_do(c, &j, t, ndims, dims, keepdim, KS_INT64, out, NULL);
}
