/* ks_metrics.h: evaluation metrics over many values (classification and
 * regression), the parts of kshot.metrics that touch every element.
 *
 * Contract:
 *  - Labels are 0-based class indices in any integer dtype (int64, uint8,
 *    bool); a label outside [0, num_classes) is KS_ERANGE naming the position.
 *  - pred and target must have the same number of elements (KS_ESHAPE naming
 *    both shapes); any shape is read in row-major order.
 *  - Sums run in one thread in index order with double accumulators, so the
 *    results are bit-identical whatever the thread count.
 *  - Outputs are untouched on failure.
 */
#ifndef KS_METRICS_H
#define KS_METRICS_H

#include "ks_tensor.h"

/* Confusion matrix counts: *out = int64 [num_classes, num_classes], row =
 * true class, column = predicted class (scikit-learn's layout). */
ks_status ks_confusion_matrix(ks_ctx *c, const ks_tensor *pred, const ks_tensor *target, int64_t num_classes,
                              ks_tensor **out);

/* Mean negative log-likelihood of the true class: probs [N, C] (rows are
 * probabilities; each is clipped to [eps, 1 - eps], scikit-learn's rule,
 * not renormalised), target [N] labels in [0, C). Every entry of probs must
 * be in [0, 1] (KS_ERANGE naming the first bad entry, NaN included); rows
 * need not sum to 1 (scikit-learn >= 1.5 only warns about that). */
ks_status ks_log_loss(ks_ctx *c, const ks_tensor *probs, const ks_tensor *target, double eps, double *out);

/* Expected calibration error with `nbins` equal-width bins of the
 * confidence p = max_c probs[i, c]: bin b holds b/nbins < p <= (b+1)/nbins
 * (p = 0 goes to bin 0). The predicted class is the first arg-max.
 * ECE = sum_b (n_b / N) |acc_b - conf_b|. If counts/acc/conf are non-NULL
 * they receive the per-bin count, accuracy and mean confidence (nbins each;
 * empty bins give 0). probs entries must be in [0, 1] as for ks_log_loss. */
ks_status ks_calibration(ks_ctx *c, const ks_tensor *probs, const ks_tensor *target, int nbins, double *ece,
                         int64_t *counts, double *acc, double *conf);

/* Regression errors between pred and target (any numeric dtypes, same
 * numel, N >= 1): mean squared error, mean absolute error and
 * R^2 = 1 - SS_res / SS_tot (SS_tot = 0: 1 when SS_res = 0, else 0, as
 * scikit-learn's r2_score). */
ks_status ks_regression_errors(ks_ctx *c, const ks_tensor *pred, const ks_tensor *target, double *mse, double *mae,
                               double *r2);

#endif
