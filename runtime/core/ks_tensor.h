/* ks_tensor.h: storages, tensors and O(1) views.
 *
 * A tensor is a strided view (offset, sizes, strides, in elements; strides
 * may be zero (expand) or negative (flip)) onto a reference-counted storage.
 * Tensors are reference counted too: the Lua userdata is only a handle
 * holding one reference, views hold a reference to the storage, and the
 * autograd graph holds references to the tensors it saved.
 *
 * Indexing is 0-based everywhere. Negative dims/indices are NOT normalised
 * here: callers pass dims in [0, ndim) (ks_wrap_dim helps bindings).
 *
 * Ownership rule for `ks_tensor **out` parameters: on KS_OK *out holds a new
 * reference the caller must release; on failure *out is unchanged.
 * Reference counts are not atomic: only the thread that owns the context
 * retains or releases; worker threads only read and write element data.
 */
#ifndef KS_TENSOR_H
#define KS_TENSOR_H

#include "ks_context.h"
#include <stdbool.h>
#include <stdint.h>

#define KS_MAX_DIMS 8

typedef enum ks_dtype {
    KS_FLOAT32 = 0, /* compute type, default for Lua numbers */
    KS_INT64,       /* indices and labels */
    KS_UINT8,       /* raw images */
    KS_BOOL,        /* comparison results, masks (1 byte, 0 or 1) */
    KS_NUM_DTYPES
} ks_dtype;

size_t ks_dtype_size(ks_dtype dt);
const char *ks_dtype_name(ks_dtype dt);   /* "float32", "int64", "uint8", "bool" */
int ks_dtype_from_name(const char *name); /* -1 if unknown */
bool ks_dtype_is_float(ks_dtype dt);
/* PyTorch's promotion between two tensor dtypes: bool < uint8 < int64 < float32. */
ks_dtype ks_promote(ks_dtype a, ks_dtype b);

typedef struct ks_storage {
    int refcount;
    ks_ctx *ctx;       /* holds a reference */
    void *data;        /* 64-byte aligned */
    size_t nbytes;
    uint64_t version;  /* bumped by every in-place write (autograd checks it) */
    void (*free_fn)(void *ud, void *data); /* external memory; NULL = ks_mem_free */
    void *free_ud;
} ks_storage;

struct ks_node; /* autograd graph node (autograd issue) */

typedef struct ks_tensor {
    int refcount;
    ks_dtype dtype;
    int ndim;
    ks_storage *storage;
    int64_t offset;                /* in elements */
    int64_t numel;                 /* product of size */
    int64_t size[KS_MAX_DIMS];
    int64_t stride[KS_MAX_DIMS];   /* in elements; may be 0 or negative */
    /* reserved for autograd */
    bool requires_grad;
    struct ks_tensor *grad;        /* accumulated gradient of a leaf */
    struct ks_node *grad_fn;       /* node that produced this tensor, NULL for leaves */
    int output_nr;                 /* which output of grad_fn */
} ks_tensor;

/* ---- creation and lifetime ---- */
/* New contiguous tensor, uninitialised memory. ndim may be 0 (a scalar). */
ks_status ks_tensor_empty(ks_ctx *c, ks_dtype dt, int ndim, const int64_t *size, ks_tensor **out);
/* New contiguous tensor with the shape of `like` (and dtype dt). */
ks_status ks_tensor_empty_like(ks_ctx *c, const ks_tensor *like, ks_dtype dt, ks_tensor **out);
/* A view onto t's storage with the given geometry; checks it stays in bounds. */
ks_status ks_tensor_view_of(ks_ctx *c, const ks_tensor *t, int ndim, const int64_t *size,
                            const int64_t *stride, int64_t offset, ks_tensor **out);
/* Wrap external memory (freed by free_fn(ud, data) when the storage dies). */
ks_status ks_tensor_from_external(ks_ctx *c, ks_dtype dt, int ndim, const int64_t *size, void *data,
                                  void (*free_fn)(void *, void *), void *ud, ks_tensor **out);
static inline ks_tensor *ks_tensor_retain(ks_tensor *t) { if (t) t->refcount++; return t; }
void ks_tensor_release(ks_tensor *t);

/* ---- geometry ---- */
static inline void *ks_tensor_data(const ks_tensor *t)
{
    return (char *)t->storage->data + t->offset * (int64_t)ks_dtype_size(t->dtype);
}
bool ks_tensor_is_contiguous(const ks_tensor *t);
bool ks_same_shape(const ks_tensor *a, const ks_tensor *b);
/* Writes "[2, 3, 4]" into buf; returns buf. */
char *ks_shape_str(const ks_tensor *t, char *buf, size_t n);
char *ks_dims_str(int ndim, const int64_t *size, char *buf, size_t n);
/* Broadcast two shapes (NumPy rules) into out_size; KS_ESHAPE naming both. */
ks_status ks_broadcast_shapes(ks_ctx *c, int na, const int64_t *sa, int nb, const int64_t *sb,
                              int *nout, int64_t *out_size);
/* Checked element count of a shape: KS_EINVAL on a negative size, KS_ERANGE when
 * the product of the non-zero sizes reaches 2^60 (also for a shape with a zero). */
ks_status ks_shape_numel(ks_ctx *c, int ndim, const int64_t *size, int64_t *numel);
/* Validate and normalise a possibly negative dim against ndim (ndim+1 for unsqueeze). */
ks_status ks_wrap_dim(ks_ctx *c, int64_t dim, int ndim, int *out);
/* Mark an in-place write (autograd version counter). */
static inline void ks_tensor_bump_version(ks_tensor *t) { t->storage->version++; }

/* ---- O(1) views (share storage) ---- */
ks_status ks_view(ks_ctx *c, ks_tensor *t, int ndim, const int64_t *size, ks_tensor **out);
/* view when strides allow, else a contiguous copy; one size may be -1 */
ks_status ks_reshape(ks_ctx *c, ks_tensor *t, int ndim, const int64_t *size, ks_tensor **out);
ks_status ks_transpose(ks_ctx *c, ks_tensor *t, int d0, int d1, ks_tensor **out);
ks_status ks_permute(ks_ctx *c, ks_tensor *t, const int *perm, ks_tensor **out);
ks_status ks_narrow(ks_ctx *c, ks_tensor *t, int dim, int64_t start, int64_t length, ks_tensor **out);
/* slice with step (step != 0; negative steps walk backwards), PyTorch/Python clamping of start/stop */
ks_status ks_slice(ks_ctx *c, ks_tensor *t, int dim, int64_t start, int64_t stop, int64_t step, ks_tensor **out);
ks_status ks_select(ks_ctx *c, ks_tensor *t, int dim, int64_t index, ks_tensor **out);
/* dim < 0: squeeze every size-1 dim */
ks_status ks_squeeze(ks_ctx *c, ks_tensor *t, int dim, ks_tensor **out);
ks_status ks_unsqueeze(ks_ctx *c, ks_tensor *t, int dim, ks_tensor **out);
/* size -1 keeps a dim; new leading dims allowed */
ks_status ks_expand(ks_ctx *c, ks_tensor *t, int ndim, const int64_t *size, ks_tensor **out);
ks_status ks_flip(ks_ctx *c, ks_tensor *t, int ndims, const int *dims, ks_tensor **out);

/* ---- copies ---- */
/* dst[...] = src, src broadcast to dst's shape, converting dtype. Bumps dst's version.
 * dst must not be expanded; a src overlapping dst is read from a copy. */
ks_status ks_copy_(ks_ctx *c, ks_tensor *dst, const ks_tensor *src);
/* t itself (retained) when contiguous, else a contiguous copy */
ks_status ks_contiguous(ks_ctx *c, ks_tensor *t, ks_tensor **out);
ks_status ks_clone(ks_ctx *c, const ks_tensor *t, ks_tensor **out);
/* t itself (retained) when dtype matches, else a converted copy */
ks_status ks_to_dtype(ks_ctx *c, ks_tensor *t, ks_dtype dt, ks_tensor **out);

/* ---- scalar element access (slow path; bindings, printing, tests) ---- */
double ks_load_f64(const void *p, ks_dtype dt);
int64_t ks_load_i64(const void *p, ks_dtype dt);
void ks_store_f64(void *p, ks_dtype dt, double v);
void ks_store_i64(void *p, ks_dtype dt, int64_t v);

#endif
