/* ks_sampling_episode.c: N-way K-shot episodes (contract in ks_sampling.h). */
#include "ks_sampling.h"

#include <stdlib.h>
#include <string.h>

#define QUERY_STREAM (1ull << 63) /* query draws of a class in a separate pool */
#define CLASS_STREAM UINT64_MAX   /* the choice of classes */

static ks_status check_spec(ks_ctx *c, const ks_episode_spec *s)
{
    if (s->way < 1) return ks_error(c, KS_EINVAL, "episode: way must be >= 1, got %lld", (long long)s->way);
    if (s->shot < 1) return ks_error(c, KS_EINVAL, "episode: shot must be >= 1, got %lld", (long long)s->shot);
    if (s->query < 0) return ks_error(c, KS_EINVAL, "episode: query must be >= 0, got %lld", (long long)s->query);
    if (s->shot > ((int64_t)1 << 40) || s->query > ((int64_t)1 << 40))
        return ks_error(c, KS_ERANGE, "episode: shot = %lld or query = %lld is too large", (long long)s->shot,
                        (long long)s->query);
    return KS_OK;
}

/* Candidate classes (ascending, distinct), each with enough rows in each pool. */
static ks_status candidates(ks_ctx *c, const ks_groups *sp, const ks_groups *qp, const ks_episode_spec *s,
                            int64_t *cand, int64_t *ncand)
{
    int64_t m = s->classes ? s->nclasses : sp->m;
    for (int64_t j = 0; j < m; j++) cand[j] = s->classes ? s->classes[j] : sp->cls[j];
    for (int64_t j = 0; j < m; j++) /* insertion sort: class lists are short */
        for (int64_t i = j; i > 0 && cand[i] < cand[i - 1]; i--) {
            int64_t t = cand[i];
            cand[i] = cand[i - 1];
            cand[i - 1] = t;
        }
    for (int64_t j = 0; j < m; j++) {
        if (cand[j] < 0 || (j && cand[j] == cand[j - 1]))
            return ks_error(c, KS_EINVAL, "episode: class %lld in 'classes' is %s", (long long)cand[j],
                            cand[j] < 0 ? "negative" : "listed twice");
        int64_t gs = ks_groups_find(sp, cand[j]), ns = gs < 0 ? 0 : sp->start[gs + 1] - sp->start[gs];
        if (!qp && ns < s->shot + s->query)
            return ks_error(c, KS_ERANGE, "episode: class %lld has %lld examples, fewer than shot + query = %lld",
                            (long long)cand[j], (long long)ns, (long long)(s->shot + s->query));
        if (qp && ns < s->shot)
            return ks_error(c, KS_ERANGE, "episode: class %lld has %lld examples, fewer than shot = %lld",
                            (long long)cand[j], (long long)ns, (long long)s->shot);
        if (qp) {
            int64_t gq = ks_groups_find(qp, cand[j]), nq = gq < 0 ? 0 : qp->start[gq + 1] - qp->start[gq];
            if (nq < s->query)
                return ks_error(c, KS_ERANGE,
                                "episode: class %lld has %lld examples in query_labels, fewer than query = %lld",
                                (long long)cand[j], (long long)nq, (long long)s->query);
        }
    }
    if (s->way > m)
        return ks_error(c, KS_EINVAL, "episode: way = %lld is larger than the number of classes (%lld)",
                        (long long)s->way, (long long)m);
    *ncand = m;
    return KS_OK;
}

/* Draw `k` rows of class `cls` from pool gr into dst (the group is shuffled in place). */
static void draw_rows(ks_groups *gr, int64_t cls, int64_t k, uint64_t key, uint64_t stream, int64_t *dst)
{
    int64_t g = ks_groups_find(gr, cls), *run = gr->idx + gr->start[g];
    ks_sampling_shuffle(run, gr->start[g + 1] - gr->start[g], k, key, stream);
    memcpy(dst, run, (size_t)k * sizeof *dst);
}

static ks_status new_outputs(ks_ctx *c, const ks_episode_spec *s, ks_tensor *out[5])
{
    int64_t ns = s->way * s->shot, nq = s->way * s->query, sizes[5] = {ns, ns, nq, nq, s->way};
    for (int i = 0; i < 5; i++) {
        ks_status st = ks_tensor_empty(c, KS_INT64, 1, &sizes[i], &out[i]);
        if (st) {
            while (i--) ks_tensor_release(out[i]);
            return st;
        }
    }
    return KS_OK;
}

static void fill_episode(ks_groups *sp, ks_groups *qp, const ks_episode_spec *s, const int64_t *chosen, uint64_t key,
                         ks_tensor *out[5])
{
    int64_t *si = ks_tensor_data(out[0]), *sl = ks_tensor_data(out[1]);
    int64_t *qi = ks_tensor_data(out[2]), *ql = ks_tensor_data(out[3]), *cl = ks_tensor_data(out[4]);
    for (int64_t w = 0; w < s->way; w++) {
        int64_t cls = chosen[w];
        cl[w] = cls;
        if (!qp) { /* same pool: shot + query rows drawn together, then split */
            int64_t g = ks_groups_find(sp, cls), *run = sp->idx + sp->start[g];
            ks_sampling_shuffle(run, sp->start[g + 1] - sp->start[g], s->shot + s->query, key, (uint64_t)cls);
            memcpy(si + w * s->shot, run, (size_t)s->shot * sizeof *si);
            memcpy(qi + w * s->query, run + s->shot, (size_t)s->query * sizeof *qi);
        } else {
            draw_rows(sp, cls, s->shot, key, (uint64_t)cls, si + w * s->shot);
            draw_rows(qp, cls, s->query, key, (uint64_t)cls ^ QUERY_STREAM, qi + w * s->query);
        }
        for (int64_t k = 0; k < s->shot; k++) sl[w * s->shot + k] = w;
        for (int64_t k = 0; k < s->query; k++) ql[w * s->query + k] = w;
    }
}

ks_status ks_episode(ks_ctx *c, const ks_tensor *labels, const ks_tensor *query_labels, const ks_episode_spec *spec,
                     ks_generator *g, ks_tensor *out[5])
{
    ks_groups sp = {0}, qp = {0};
    int64_t *cand = NULL, ncand = 0;
    ks_status st = check_spec(c, spec);
    if (st || (st = ks_groups_build(c, "episode", labels, NULL, &sp))) return st;
    if (query_labels && (st = ks_groups_build(c, "episode (query_labels)", query_labels, NULL, &qp))) goto done;
    cand = malloc((size_t)((spec->classes ? spec->nclasses : sp.m) + 1) * sizeof *cand);
    if (!cand) {
        st = ks_error(c, KS_ENOMEM, "episode: out of memory");
        goto done;
    }
    if ((st = candidates(c, &sp, query_labels ? &qp : NULL, spec, cand, &ncand))) goto done;
    if ((st = new_outputs(c, spec, out))) goto done;
    uint64_t key = ks_sampling_key(g);
    ks_sampling_shuffle(cand, ncand, spec->way, key, CLASS_STREAM);
    fill_episode(&sp, query_labels ? &qp : NULL, spec, cand, key, out);
done:
    free(cand);
    ks_groups_free(&sp);
    ks_groups_free(&qp);
    return st;
}
