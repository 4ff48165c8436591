/* ks_sampling.h: stratified subset samplers for small-sample experiments.
 *
 * ks_kshot_indices draws exactly k examples of each class without
 * replacement. Output: an int64 tensor [nclasses * k] of row indices into
 * `labels`, grouped by class in ascending class order, each group in draw
 * order.
 *
 * Randomness: the call takes ONE 64-bit key from `g` (advancing it by one
 * block), then draws class c from its own Philox stream forked from (key, c)
 * with a partial Fisher-Yates shuffle. Hence:
 *  - the result depends only on the generator's state, k and the class set;
 *  - a class's draws do not depend on which other classes are requested;
 *  - for one generator state, the k = 1 subset is inside the k = 5 subset,
 *    which is inside the k = 10 subset (nested learning curves);
 *  - the sampler uses its own generator, so drawing data never shifts the
 *    stream of the model's initialisation (pass a dedicated generator).
 */
#ifndef KS_SAMPLING_H
#define KS_SAMPLING_H

#include "ks_random.h"
#include "ks_tensor.h"

/* labels: 1-D int64 or uint8 tensor of class ids >= 0 (any strides).
 * classes: the classes to draw from (distinct, >= 0; any order, the output is
 * in ascending class order), or NULL for every class present in labels.
 * Errors: KS_ETYPE/KS_ESHAPE for a bad labels tensor, KS_EINVAL for k < 0, a
 * negative label or a repeated class, KS_ERANGE naming the class and its count
 * when a class has fewer than k examples, KS_ENOMEM. */
ks_status ks_kshot_indices(ks_ctx *c, const ks_tensor *labels, int64_t k, const int64_t *classes, int nclasses,
                           ks_generator *g, ks_tensor **out);

/* ---- class groups (shared by the samplers below) ----
 * The rows of `labels` (or of `subset`, an int64 [M] list of row indices into
 * labels, NULL for all rows) grouped by class: idx holds row indices sorted
 * by (label, row), class j's rows are idx[start[j], start[j+1]), cls[j] its
 * label (ascending). Counting sort when labels are small, else a sort.
 * `op` names the caller in error messages (negative label, bad subset). */
typedef struct ks_groups {
    int64_t n, m;                 /* rows, classes */
    int64_t *idx, *cls, *start;   /* n, m, m + 1 entries (one malloc) */
} ks_groups;
ks_status ks_groups_build(ks_ctx *c, const char *op, const ks_tensor *labels, const ks_tensor *subset, ks_groups *gr);
void ks_groups_free(ks_groups *gr);
/* group number of class `label`, or -1 */
int64_t ks_groups_find(const ks_groups *gr, int64_t label);
/* One 64-bit key from g (advancing it by one block): samplers derive every
 * per-class stream from it with ks_generator_fork. */
uint64_t ks_sampling_key(ks_generator *g);
/* Partial Fisher-Yates: the first k entries of a[0, n) become a uniform draw
 * without replacement, from the stream fork(key, stream). */
void ks_sampling_shuffle(int64_t *a, int64_t n, int64_t k, uint64_t key, uint64_t stream);

/* ---- N-way K-shot episodes ----
 * Chooses `way` classes without replacement from `classes` (NULL: every class
 * of `labels`), in draw order; relabels them 0..way-1. For each, shot support
 * rows and query query rows, disjoint: both from labels, or the query rows
 * from query_labels (a separate pool, e.g. the test set) when non-NULL.
 * Every candidate class is checked (errors do not depend on the seed):
 * KS_EINVAL for way > number of candidate classes, KS_ERANGE naming the class
 * when it has fewer than shot + query rows (or fewer than shot / query in
 * each pool). Outputs (int64, class-major): out[0] support rows [way*shot],
 * out[1] their labels 0..way-1, out[2] query rows [way*query], out[3] their
 * labels, out[4] the original class ids [way]. */
typedef struct ks_episode_spec {
    int64_t way, shot, query;
    const int64_t *classes;
    int nclasses;
} ks_episode_spec;
ks_status ks_episode(ks_ctx *c, const ks_tensor *labels, const ks_tensor *query_labels, const ks_episode_spec *spec,
                     ks_generator *g, ks_tensor *out[5]);

/* ---- stratified folds and splits (rows of `subset`, or all rows) ----
 * Stratified k-fold: each class's rows are shuffled (own stream), then dealt
 * round-robin to folds 0..k-1 with one counter running across the classes in
 * ascending order, so fold sizes differ by at most one and each class's
 * count per fold by at most one. rows (int64 [M], ascending) and fold
 * (int64 [M], the fold of rows[i]). KS_EINVAL when k < 2 or k > M. */
ks_status ks_stratified_folds(ks_ctx *c, const ks_tensor *labels, const ks_tensor *subset, int64_t k,
                              ks_generator *g, ks_tensor **rows, ks_tensor **fold);
/* Train/validation split: per class, val_count rows (val_count >= 0) or
 * round(val_frac * n_class) (val_count < 0) go to validation, capped so
 * train keeps at least one row of each class. Outputs ascending. */
ks_status ks_stratified_split(ks_ctx *c, const ks_tensor *labels, const ks_tensor *subset, double val_frac,
                              int64_t val_count, ks_generator *g, ks_tensor **train, ks_tensor **val);

#endif
