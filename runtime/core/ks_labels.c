/* ks_labels.c: one_hot and bincount (declared in ks_indexing.h). Labels are
 * read through a contiguous int64 copy, so one loop serves every dtype. */
#include "ks_indexing.h"

#include <string.h>

/* larger labels could not size an output anyway (ks_shape_numel's limit) */
#define MAX_LABEL (INT64_MAX / 16)

/* contiguous int64 version of an integral tensor (retained t when it already is one) */
static ks_status as_labels(ks_ctx *c, const char *op, const char *arg, ks_tensor *t, ks_tensor **out)
{
    if (t->dtype != KS_INT64 && t->dtype != KS_UINT8)
        return ks_error(c, KS_ETYPE, "%s(): argument '%s' must be an int64 or uint8 tensor, got %s", op, arg,
                        ks_dtype_name(t->dtype));
    ks_tensor *l;
    ks_status st = ks_to_dtype(c, t, KS_INT64, &l);
    if (st) return st;
    st = ks_contiguous(c, l, out);
    ks_tensor_release(l);
    return st;
}

ks_status ks_one_hot(ks_ctx *c, ks_tensor *labels, int64_t num_classes, ks_tensor **out)
{
    if (labels->ndim >= KS_MAX_DIMS)
        return ks_error(c, KS_EINVAL, "one_hot(): labels have %d dimensions, at most %d allowed", labels->ndim,
                        KS_MAX_DIMS - 1);
    ks_tensor *l, *r = NULL;
    ks_status st = as_labels(c, "one_hot", "labels", labels, &l);
    if (st) return st;
    const int64_t *v = ks_tensor_data(l);
    int64_t n = l->numel, maxv = -1;
    for (int64_t i = 0; i < n; i++) {
        if (v[i] < 0) {
            st = ks_error(c, KS_ERANGE, "one_hot(): labels must be non-negative, got label %lld", (long long)v[i]);
            goto done;
        }
        if (v[i] > maxv) maxv = v[i];
    }
    if (maxv >= MAX_LABEL) {
        st = ks_error(c, KS_ERANGE, "one_hot(): label %lld is too large", (long long)maxv);
        goto done;
    }
    if (num_classes < 0) {
        if (n == 0) {
            st = ks_error(c, KS_EINVAL, "one_hot(): cannot infer num_classes from empty labels; pass num_classes");
            goto done;
        }
        num_classes = maxv + 1;
    } else if (maxv >= num_classes) {
        st = ks_error(c, KS_ERANGE, "one_hot(): label %lld is out of range for num_classes %lld (labels are 0-based)",
                      (long long)maxv, (long long)num_classes);
        goto done;
    }
    int64_t size[KS_MAX_DIMS];
    memcpy(size, labels->size, (size_t)labels->ndim * sizeof *size);
    size[labels->ndim] = num_classes;
    if ((st = ks_tensor_empty(c, KS_INT64, labels->ndim + 1, size, &r))) goto done;
    int64_t *o = ks_tensor_data(r);
    memset(o, 0, (size_t)r->numel * sizeof *o);
    for (int64_t i = 0; i < n; i++) o[i * num_classes + v[i]] = 1;
    *out = r;
done:
    ks_tensor_release(l);
    return st;
}

ks_status ks_bincount(ks_ctx *c, ks_tensor *t, ks_tensor *weights, int64_t minlength, ks_tensor **out)
{
    char a[160], b[160];
    if (t->ndim != 1)
        return ks_error(c, KS_ESHAPE, "bincount(): input must be 1-D, got shape %s", ks_shape_str(t, a, sizeof a));
    if (minlength < 0)
        return ks_error(c, KS_EINVAL, "bincount(): minlength must be non-negative, got %lld", (long long)minlength);
    if (weights && !ks_same_shape(weights, t))
        return ks_error(c, KS_ESHAPE, "bincount(): weights of shape %s must have the shape of the input %s",
                        ks_shape_str(weights, a, sizeof a), ks_shape_str(t, b, sizeof b));
    ks_tensor *l, *w = NULL, *r = NULL;
    ks_status st = as_labels(c, "bincount", "input", t, &l);
    if (st) return st;
    const int64_t *v = ks_tensor_data(l);
    int64_t n = l->numel, len = minlength;
    for (int64_t i = 0; i < n; i++) {
        if (v[i] < 0) {
            st = ks_error(c, KS_ERANGE, "bincount(): values must be non-negative, got %lld", (long long)v[i]);
            goto done;
        }
        if (v[i] >= MAX_LABEL) {
            st = ks_error(c, KS_ERANGE, "bincount(): value %lld is too large", (long long)v[i]);
            goto done;
        }
        if (v[i] >= len) len = v[i] + 1;
    }
    if (weights) {
        ks_tensor *wf;
        if ((st = ks_to_dtype(c, weights, KS_FLOAT32, &wf))) goto done;
        st = ks_contiguous(c, wf, &w);
        ks_tensor_release(wf);
        if (st) goto done;
    }
    if ((st = ks_tensor_empty(c, w ? KS_FLOAT32 : KS_INT64, 1, &len, &r))) goto done;
    if (w) {
        /* double accumulators, in input order: deterministic and accurate */
        double *acc = ks_mem_alloc(c, (size_t)(len + 1) * sizeof *acc);
        if (!acc) { st = KS_ENOMEM; ks_tensor_release(r); goto done; }
        memset(acc, 0, (size_t)(len + 1) * sizeof *acc);
        const float *wd = ks_tensor_data(w);
        for (int64_t i = 0; i < n; i++) acc[v[i]] += wd[i];
        float *o = ks_tensor_data(r);
        for (int64_t i = 0; i < len; i++) o[i] = (float)acc[i];
        ks_mem_free(c, acc, (size_t)(len + 1) * sizeof *acc);
    } else {
        int64_t *o = ks_tensor_data(r);
        memset(o, 0, (size_t)len * sizeof *o);
        for (int64_t i = 0; i < n; i++) o[v[i]]++;
    }
    *out = r;
done:
    ks_tensor_release(w);
    ks_tensor_release(l);
    return st;
}
