/* ks_views.c: O(1) views that share storage (view, reshape, transpose,
 * permute, narrow, slice, select, squeeze, unsqueeze, expand, flip). */
#include "ks_tensor.h"

#include <string.h>

/* Can `t` be viewed with the new shape without copying? Computes strides
 * like PyTorch's computeStride: walk groups of old dims that are
 * contiguous among themselves and map new dims onto them. */
static bool view_strides(const ks_tensor *t, int ndim, const int64_t *size, int64_t *stride)
{
    if (t->numel == 0 || t->ndim == 0) {
        int64_t st = 1;
        for (int i = ndim - 1; i >= 0; i--) { stride[i] = st; st *= size[i] > 0 ? size[i] : 1; }
        return true;
    }
    int view_d = ndim - 1;
    int64_t chunk_base_stride = t->ndim ? t->stride[t->ndim - 1] : 1;
    int64_t tensor_numel = 1, view_numel = 1;
    for (int td = t->ndim - 1; td >= 0; td--) {
        tensor_numel *= t->size[td];
        if (td == 0 || (t->size[td - 1] != 1 && t->stride[td - 1] != tensor_numel * chunk_base_stride)) {
            while (view_d >= 0 && (view_numel < tensor_numel || size[view_d] == 1)) {
                stride[view_d] = view_numel * chunk_base_stride;
                view_numel *= size[view_d];
                view_d--;
            }
            if (view_numel != tensor_numel) return false;
            if (td > 0) {
                chunk_base_stride = t->stride[td - 1];
                tensor_numel = 1;
                view_numel = 1;
            }
        }
    }
    return view_d == -1;
}

/* Resolve a single -1 and check the element count. */
static ks_status infer_size(ks_ctx *c, const ks_tensor *t, int ndim, const int64_t *in, int64_t *size)
{
    char a[160], b[160];
    int infer = -1;
    int64_t prod = 1;
    if (ndim < 0 || ndim > KS_MAX_DIMS)
        return ks_error(c, KS_EINVAL, "tensors have at most %d dimensions, got %d", KS_MAX_DIMS, ndim);
    for (int i = 0; i < ndim; i++) {
        size[i] = in[i];
        if (in[i] == -1) {
            if (infer >= 0) return ks_error(c, KS_EINVAL, "only one dimension can be inferred (-1)");
            infer = i;
        } else if (in[i] < 0) {
            return ks_error(c, KS_EINVAL, "invalid shape dimension %lld", (long long)in[i]);
        } else if (__builtin_mul_overflow(prod, in[i], &prod)) {
            return ks_error(c, KS_ERANGE, "shape %s has too many elements", ks_dims_str(ndim, in, a, sizeof a));
        }
    }
    if (infer >= 0) {
        if (prod == 0 || t->numel % prod != 0)
            return ks_error(c, KS_ESHAPE, "shape %s is invalid for input of size %lld",
                            ks_dims_str(ndim, in, a, sizeof a), (long long)t->numel);
        size[infer] = t->numel / prod;
    } else if (prod != t->numel) {
        return ks_error(c, KS_ESHAPE, "shape %s is invalid for input of shape %s (%lld elements)",
                        ks_dims_str(ndim, in, a, sizeof a), ks_shape_str(t, b, sizeof b), (long long)t->numel);
    }
    return KS_OK;
}

ks_status ks_view(ks_ctx *c, ks_tensor *t, int ndim, const int64_t *in, ks_tensor **out)
{
    int64_t size[KS_MAX_DIMS], stride[KS_MAX_DIMS];
    ks_status st = infer_size(c, t, ndim, in, size);
    if (st) return st;
    if (!view_strides(t, ndim, size, stride)) {
        char a[160], b[160];
        return ks_error(c, KS_ESHAPE, "view of shape %s is not compatible with the strides of a tensor of shape %s; use reshape",
                        ks_dims_str(ndim, size, a, sizeof a), ks_shape_str(t, b, sizeof b));
    }
    return ks_tensor_view_of(c, t, ndim, size, stride, t->offset, out);
}

ks_status ks_reshape(ks_ctx *c, ks_tensor *t, int ndim, const int64_t *in, ks_tensor **out)
{
    int64_t size[KS_MAX_DIMS], stride[KS_MAX_DIMS];
    ks_status st = infer_size(c, t, ndim, in, size);
    if (st) return st;
    if (view_strides(t, ndim, size, stride)) return ks_tensor_view_of(c, t, ndim, size, stride, t->offset, out);
    ks_tensor *tmp;
    if ((st = ks_clone(c, t, &tmp))) return st;
    st = ks_view(c, tmp, ndim, size, out);
    ks_tensor_release(tmp);
    return st;
}

ks_status ks_transpose(ks_ctx *c, ks_tensor *t, int d0, int d1, ks_tensor **out)
{
    if (d0 < 0 || d0 >= (t->ndim ? t->ndim : 1) || d1 < 0 || d1 >= (t->ndim ? t->ndim : 1))
        return ks_error(c, KS_ERANGE, "transpose: dims %d, %d out of range for a %d-d tensor", d0, d1, t->ndim);
    int64_t size[KS_MAX_DIMS], stride[KS_MAX_DIMS];
    memcpy(size, t->size, sizeof size);
    memcpy(stride, t->stride, sizeof stride);
    if (t->ndim) {
        int64_t s = size[d0]; size[d0] = size[d1]; size[d1] = s;
        s = stride[d0]; stride[d0] = stride[d1]; stride[d1] = s;
    }
    return ks_tensor_view_of(c, t, t->ndim, size, stride, t->offset, out);
}

ks_status ks_permute(ks_ctx *c, ks_tensor *t, const int *perm, ks_tensor **out)
{
    int64_t size[KS_MAX_DIMS], stride[KS_MAX_DIMS];
    bool seen[KS_MAX_DIMS] = {false};
    for (int i = 0; i < t->ndim; i++) {
        int p = perm[i];
        if (p < 0 || p >= t->ndim || seen[p])
            return ks_error(c, KS_EINVAL, "permute: dims must be a permutation of 0..%d (bad or repeated dim %d)",
                            t->ndim - 1, p);
        seen[p] = true;
        size[i] = t->size[p];
        stride[i] = t->stride[p];
    }
    return ks_tensor_view_of(c, t, t->ndim, size, stride, t->offset, out);
}

static ks_status check_dim(ks_ctx *c, const ks_tensor *t, int dim, const char *op)
{
    if (dim < 0 || dim >= t->ndim)
        return ks_error(c, KS_ERANGE, "%s: dimension %d out of range for a %d-d tensor", op, dim, t->ndim);
    return KS_OK;
}

ks_status ks_narrow(ks_ctx *c, ks_tensor *t, int dim, int64_t start, int64_t length, ks_tensor **out)
{
    ks_status st = check_dim(c, t, dim, "narrow");
    if (st) return st;
    if (start < 0 || length < 0 || start > t->size[dim] - length)
        return ks_error(c, KS_ERANGE, "narrow: start %lld + length %lld exceeds size %lld of dimension %d",
                        (long long)start, (long long)length, (long long)t->size[dim], dim);
    int64_t size[KS_MAX_DIMS];
    memcpy(size, t->size, sizeof size);
    size[dim] = length;
    return ks_tensor_view_of(c, t, t->ndim, size, t->stride, t->offset + start * t->stride[dim], out);
}

ks_status ks_slice(ks_ctx *c, ks_tensor *t, int dim, int64_t start, int64_t stop, int64_t step, ks_tensor **out)
{
    ks_status st = check_dim(c, t, dim, "slice");
    if (st) return st;
    if (step == 0) return ks_error(c, KS_EINVAL, "slice step cannot be zero");
    int64_t n = t->size[dim], len;
    /* Python semantics: negative indices count from the end, then clamp */
    if (start < 0) start += n;
    if (stop < 0) stop += n;
    if (step > 0) {
        start = start < 0 ? 0 : start > n ? n : start;
        stop = stop < start ? start : stop > n ? n : stop;
        len = (stop - start + step - 1) / step;
    } else {
        start = start < -1 ? -1 : start > n - 1 ? n - 1 : start;
        stop = stop < -1 ? -1 : stop > start ? start : stop;
        len = (start - stop + (-step) - 1) / (-step);
    }
    int64_t size[KS_MAX_DIMS], stride[KS_MAX_DIMS];
    memcpy(size, t->size, sizeof size);
    memcpy(stride, t->stride, sizeof stride);
    size[dim] = len;
    stride[dim] = t->stride[dim] * step;
    int64_t off = len > 0 ? t->offset + start * t->stride[dim] : t->offset;
    return ks_tensor_view_of(c, t, t->ndim, size, stride, off, out);
}

ks_status ks_select(ks_ctx *c, ks_tensor *t, int dim, int64_t index, ks_tensor **out)
{
    ks_status st = check_dim(c, t, dim, "select");
    if (st) return st;
    int64_t n = t->size[dim];
    if (index < -n || index >= n)
        return ks_error(c, KS_ERANGE, "index %lld is out of bounds for dimension %d with size %lld",
                        (long long)index, dim, (long long)n);
    if (index < 0) index += n;
    int64_t size[KS_MAX_DIMS], stride[KS_MAX_DIMS];
    int k = 0;
    for (int i = 0; i < t->ndim; i++)
        if (i != dim) { size[k] = t->size[i]; stride[k] = t->stride[i]; k++; }
    return ks_tensor_view_of(c, t, k, size, stride, t->offset + index * t->stride[dim], out);
}

ks_status ks_squeeze(ks_ctx *c, ks_tensor *t, int dim, ks_tensor **out)
{
    int64_t size[KS_MAX_DIMS], stride[KS_MAX_DIMS];
    int k = 0;
    if (dim >= 0) {
        ks_status st = check_dim(c, t, dim, "squeeze");
        if (st) return st;
    }
    for (int i = 0; i < t->ndim; i++) {
        bool drop = t->size[i] == 1 && (dim < 0 || dim == i);
        if (!drop) { size[k] = t->size[i]; stride[k] = t->stride[i]; k++; }
    }
    return ks_tensor_view_of(c, t, k, size, stride, t->offset, out);
}

ks_status ks_unsqueeze(ks_ctx *c, ks_tensor *t, int dim, ks_tensor **out)
{
    if (dim < 0 || dim > t->ndim)
        return ks_error(c, KS_ERANGE, "unsqueeze: dimension %d out of range for a %d-d tensor", dim, t->ndim);
    if (t->ndim >= KS_MAX_DIMS)
        return ks_error(c, KS_EINVAL, "tensors have at most %d dimensions", KS_MAX_DIMS);
    int64_t size[KS_MAX_DIMS], stride[KS_MAX_DIMS];
    int k = 0;
    for (int i = 0; i <= t->ndim; i++) {
        if (i == dim) {
            size[k] = 1;
            stride[k] = i < t->ndim ? t->size[i] * t->stride[i] : 1;
            k++;
        }
        if (i < t->ndim) { size[k] = t->size[i]; stride[k] = t->stride[i]; k++; }
    }
    return ks_tensor_view_of(c, t, k, size, stride, t->offset, out);
}

ks_status ks_expand(ks_ctx *c, ks_tensor *t, int ndim, const int64_t *in, ks_tensor **out)
{
    char a[160], b[160];
    if (ndim < t->ndim || ndim > KS_MAX_DIMS)
        return ks_error(c, KS_ESHAPE, "expand: the number of sizes (%d) must be at least the tensor's dims (%d) and at most %d",
                        ndim, t->ndim, KS_MAX_DIMS);
    int64_t size[KS_MAX_DIMS], stride[KS_MAX_DIMS];
    int lead = ndim - t->ndim;
    for (int i = 0; i < ndim; i++) {
        int j = i - lead;
        if (j < 0) {
            if (in[i] < 0) return ks_error(c, KS_EINVAL, "expand: -1 not allowed in new leading dimension %d", i);
            size[i] = in[i];
            stride[i] = 0;
        } else if (in[i] == -1 || in[i] == t->size[j]) {
            size[i] = t->size[j];
            stride[i] = t->stride[j];
        } else if (t->size[j] == 1 && in[i] >= 0) {
            size[i] = in[i];
            stride[i] = 0;
        } else {
            return ks_error(c, KS_ESHAPE, "expand: the expanded size %lld must match the existing size %lld at dimension %d (shape %s to %s)",
                            (long long)in[i], (long long)t->size[j], i, ks_shape_str(t, a, sizeof a),
                            ks_dims_str(ndim, in, b, sizeof b));
        }
    }
    return ks_tensor_view_of(c, t, ndim, size, stride, t->offset, out);
}

ks_status ks_flip(ks_ctx *c, ks_tensor *t, int ndims, const int *dims, ks_tensor **out)
{
    int64_t stride[KS_MAX_DIMS];
    int64_t off = t->offset;
    bool seen[KS_MAX_DIMS] = {false};
    memcpy(stride, t->stride, sizeof stride);
    for (int i = 0; i < ndims; i++) {
        int d = dims[i];
        ks_status st = check_dim(c, t, d, "flip");
        if (st) return st;
        if (seen[d]) return ks_error(c, KS_EINVAL, "flip: dim %d appears more than once", d);
        seen[d] = true;
        if (t->size[d] > 0) off += (t->size[d] - 1) * t->stride[d];
        stride[d] = -t->stride[d];
    }
    return ks_tensor_view_of(c, t, t->ndim, t->size, stride, off, out);
}
