/* ks_metrics.c: confusion matrix, log-loss, calibration error and
 * regression errors (see ks_metrics.h). Inputs are made contiguous once;
 * loops are sequential in index order (deterministic sums). */
#include "ks_metrics.h"

#include <math.h>
#include <string.h>

/* Contiguous view or copy of t (a new reference in *out). */
static ks_status contig(ks_ctx *c, const ks_tensor *t, ks_tensor **out)
{
    return ks_contiguous(c, (ks_tensor *)t, out);
}

static ks_status check_same_numel(ks_ctx *c, const char *op, const ks_tensor *a, const char *an,
                                  const ks_tensor *b, const char *bn)
{
    if (a->numel == b->numel) return KS_OK;
    char sa[96], sb[96];
    return ks_error(c, KS_ESHAPE, "%s: %s %s and %s %s have different lengths (%lld vs %lld)", op, an,
                    ks_shape_str(a, sa, sizeof sa), bn, ks_shape_str(b, sb, sizeof sb), (long long)a->numel,
                    (long long)b->numel);
}

static ks_status check_labels_dtype(ks_ctx *c, const char *op, const ks_tensor *t, const char *name)
{
    if (!ks_dtype_is_float(t->dtype)) return KS_OK;
    return ks_error(c, KS_ETYPE, "%s: %s must hold integer class labels, got %s", op, name, ks_dtype_name(t->dtype));
}

static ks_status label_at(ks_ctx *c, const char *op, const char *name, const ks_tensor *t, int64_t i, int64_t ncls,
                          int64_t *out)
{
    int64_t v = t->dtype == KS_INT64 ? ((const int64_t *)ks_tensor_data(t))[i]
                                     : ks_load_i64((const char *)ks_tensor_data(t) + i * ks_dtype_size(t->dtype), t->dtype);
    if (v < 0 || v >= ncls)
        return ks_error(c, KS_ERANGE, "%s: %s[%lld] = %lld is not a class in [0, %lld)", op, name, (long long)i,
                        (long long)v, (long long)ncls);
    *out = v;
    return KS_OK;
}

ks_status ks_confusion_matrix(ks_ctx *c, const ks_tensor *pred, const ks_tensor *target, int64_t num_classes,
                              ks_tensor **out)
{
    const char *op = "confusion_matrix";
    ks_status st;
    if (num_classes < 1 || num_classes > (1 << 20))
        return ks_error(c, KS_EINVAL, "%s: num_classes must be in [1, 2^20], got %lld", op, (long long)num_classes);
    if ((st = check_labels_dtype(c, op, pred, "predictions")) || (st = check_labels_dtype(c, op, target, "labels")) ||
        (st = check_same_numel(c, op, pred, "predictions", target, "labels")))
        return st;
    ks_tensor *p = NULL, *t = NULL, *m = NULL;
    int64_t size[2] = {num_classes, num_classes};
    if ((st = contig(c, pred, &p)) || (st = contig(c, target, &t)) ||
        (st = ks_tensor_empty(c, KS_INT64, 2, size, &m)))
        goto done;
    int64_t *cm = ks_tensor_data(m);
    memset(cm, 0, (size_t)(num_classes * num_classes) * sizeof *cm);
    for (int64_t i = 0; i < p->numel; i++) {
        int64_t yp, yt;
        if ((st = label_at(c, op, "labels", t, i, num_classes, &yt)) ||
            (st = label_at(c, op, "predictions", p, i, num_classes, &yp)))
            goto done;
        cm[yt * num_classes + yp]++;
    }
    *out = m;
    m = NULL;
done:
    ks_tensor_release(p);
    ks_tensor_release(t);
    ks_tensor_release(m);
    return st;
}

/* probs must be [N, C] floating with target of N labels */
static ks_status check_probs(ks_ctx *c, const char *op, const ks_tensor *probs, const ks_tensor *target)
{
    char sp[96], st[96];
    if (probs->ndim != 2 || probs->size[0] < 1 || probs->size[1] < 1)
        return ks_error(c, KS_ESHAPE, "%s: probabilities must be a non-empty [N, C] matrix, got %s", op,
                        ks_shape_str(probs, sp, sizeof sp));
    if (target->numel != probs->size[0])
        return ks_error(c, KS_ESHAPE, "%s: probabilities %s and labels %s disagree on N", op,
                        ks_shape_str(probs, sp, sizeof sp), ks_shape_str(target, st, sizeof st));
    return check_labels_dtype(c, op, target, "labels");
}

static double prob_at(const ks_tensor *p, int64_t i)
{
    if (p->dtype == KS_FLOAT32) return ((const float *)ks_tensor_data(p))[i];
    return ks_load_f64((const char *)ks_tensor_data(p) + i * ks_dtype_size(p->dtype), p->dtype);
}

/* Every entry of the contiguous [N, C] p must be a probability in [0, 1]
 * (NaN is not); rows need not sum to 1 (scikit-learn >= 1.5 only warns). */
static ks_status check_prob_range(ks_ctx *c, const char *op, const ks_tensor *p)
{
    int64_t ncls = p->size[1];
    for (int64_t i = 0; i < p->numel; i++) {
        double v = prob_at(p, i);
        if (!(v >= 0 && v <= 1))
            return ks_error(c, KS_ERANGE, "%s: probabilities[%lld, %lld] = %g is not in [0, 1] (pass probabilities, "
                            "e.g. the softmax of the scores)", op, (long long)(i / ncls), (long long)(i % ncls),
                            isnan(v) ? NAN : v); /* NAN: prints "nan", never "-nan" */
    }
    return KS_OK;
}

ks_status ks_log_loss(ks_ctx *c, const ks_tensor *probs, const ks_tensor *target, double eps, double *out)
{
    const char *op = "log_loss";
    ks_status st = check_probs(c, op, probs, target);
    if (st) return st;
    if (!(eps > 0 && eps < 0.5)) return ks_error(c, KS_EINVAL, "%s: eps must be in (0, 0.5), got %g", op, eps);
    ks_tensor *p = NULL, *t = NULL;
    if ((st = contig(c, probs, &p)) || (st = contig(c, target, &t)) || (st = check_prob_range(c, op, p))) goto done;
    int64_t n = p->size[0], ncls = p->size[1];
    double sum = 0;
    for (int64_t i = 0; i < n; i++) {
        int64_t y;
        if ((st = label_at(c, op, "labels", t, i, ncls, &y))) goto done;
        double q = prob_at(p, i * ncls + y);
        q = q < eps ? eps : q > 1 - eps ? 1 - eps : q;
        sum -= log(q);
    }
    *out = sum / (double)n;
done:
    ks_tensor_release(p);
    ks_tensor_release(t);
    return st;
}

ks_status ks_calibration(ks_ctx *c, const ks_tensor *probs, const ks_tensor *target, int nbins, double *ece,
                         int64_t *counts, double *acc, double *conf)
{
    const char *op = "calibration_error";
    ks_status st = check_probs(c, op, probs, target);
    if (st) return st;
    if (nbins < 1 || nbins > 100000) return ks_error(c, KS_EINVAL, "%s: bins must be in [1, 100000], got %d", op, nbins);
    ks_tensor *p = NULL, *t = NULL;
    int64_t *n_b = NULL;
    double *hit_b = NULL, *conf_b = NULL;
    size_t bytes = (size_t)nbins * (sizeof *n_b + sizeof *hit_b + sizeof *conf_b);
    char *buf = NULL;
    if ((st = contig(c, probs, &p)) || (st = contig(c, target, &t)) || (st = check_prob_range(c, op, p))) goto done;
    if (!(buf = ks_mem_alloc(c, bytes))) { st = KS_ENOMEM; goto done; }
    memset(buf, 0, bytes);
    n_b = (int64_t *)buf;
    hit_b = (double *)(n_b + nbins);
    conf_b = hit_b + nbins;
    int64_t n = p->size[0], ncls = p->size[1];
    for (int64_t i = 0; i < n; i++) {
        int64_t y, arg = 0;
        if ((st = label_at(c, op, "labels", t, i, ncls, &y))) goto done;
        double best = prob_at(p, i * ncls);
        for (int64_t k = 1; k < ncls; k++) {
            double v = prob_at(p, i * ncls + k);
            if (v > best) best = v, arg = k;
        }
        /* bin b holds (b/nbins, (b+1)/nbins]: ceil(p * nbins) - 1, clamped */
        int b = (int)ceil(best * nbins) - 1;
        b = b < 0 ? 0 : b >= nbins ? nbins - 1 : b;
        n_b[b]++;
        hit_b[b] += arg == y;
        conf_b[b] += best;
    }
    double e = 0;
    for (int b = 0; b < nbins; b++) {
        double a = n_b[b] ? hit_b[b] / (double)n_b[b] : 0, m = n_b[b] ? conf_b[b] / (double)n_b[b] : 0;
        e += (double)n_b[b] / (double)n * fabs(a - m);
        if (counts) counts[b] = n_b[b];
        if (acc) acc[b] = a;
        if (conf) conf[b] = m;
    }
    *ece = e;
done:
    if (buf) ks_mem_free(c, buf, bytes);
    ks_tensor_release(p);
    ks_tensor_release(t);
    return st;
}

ks_status ks_regression_errors(ks_ctx *c, const ks_tensor *pred, const ks_tensor *target, double *mse, double *mae,
                               double *r2)
{
    const char *op = "regression_errors";
    ks_status st = check_same_numel(c, op, pred, "predictions", target, "targets");
    if (st) return st;
    if (target->numel < 1) return ks_error(c, KS_EINVAL, "%s: needs at least one value", op);
    ks_tensor *p = NULL, *t = NULL;
    if ((st = contig(c, pred, &p)) || (st = contig(c, target, &t))) goto done;
    int64_t n = t->numel;
    double sum_t = 0;
    for (int64_t i = 0; i < n; i++) sum_t += prob_at(t, i);
    double mean_t = sum_t / (double)n, ss_res = 0, ss_tot = 0, sabs = 0;
    for (int64_t i = 0; i < n; i++) {
        double yt = prob_at(t, i), d = prob_at(p, i) - yt;
        ss_res += d * d;
        sabs += fabs(d);
        ss_tot += (yt - mean_t) * (yt - mean_t);
    }
    *mse = ss_res / (double)n;
    *mae = sabs / (double)n;
    *r2 = ss_tot > 0 ? 1 - ss_res / ss_tot : ss_res == 0 ? 1 : 0;
done:
    ks_tensor_release(p);
    ks_tensor_release(t);
    return st;
}
