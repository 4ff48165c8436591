/* ks_nn_softmax.c: softmax and log-softmax over one dim via a max-shifted
 * log-sum-exp (stable for large logits), and their backward:
 *   softmax:     dx = y * (g - sum(g * y))
 *   log_softmax: dx = g - exp(y) * sum(g)
 * Under create_graph the same formulas run as recording ops on the output
 * re-attached to the graph, so both support double backward. */
#include "ks_grad_ops.h"
#include "ks_nn.h"

#include <math.h>

typedef struct {
    int64_t outer, n, inner;
} sm_geom;

static sm_geom geom_of(const int64_t *size, int ndim, int dim)
{
    sm_geom g = {1, ndim ? size[dim] : 1, 1};
    for (int d = 0; d < dim; d++) g.outer *= size[d];
    for (int d = dim + 1; d < ndim; d++) g.inner *= size[d];
    return g;
}

static void forward(const sm_geom *g, const float *x, float *y, bool want_log)
{
    for (int64_t o = 0; o < g->outer; o++)
        for (int64_t i = 0; i < g->inner; i++) {
            const float *xr = x + o * g->n * g->inner + i;
            float *yr = y + o * g->n * g->inner + i;
            float m = -INFINITY;
            for (int64_t k = 0; k < g->n; k++) m = fmaxf(m, xr[k * g->inner]);
            if (m == -INFINITY) m = 0; /* all -inf: avoid inf - inf */
            double sum = 0;
            for (int64_t k = 0; k < g->n; k++) sum += exp((double)xr[k * g->inner] - m);
            float lse = m + (float)log(sum);
            for (int64_t k = 0; k < g->n; k++) {
                float v = xr[k * g->inner] - lse;
                yr[k * g->inner] = want_log ? v : expf(v);
            }
        }
}

/* the backward as recording ops (create_graph): y is the output as a graph member */
static ks_status sm_backward_recorded(ks_ctx *c, ks_node *n, ks_tensor *g, ks_tensor **gin)
{
    ks_tensor *y = NULL, *t1 = NULL, *t2 = NULL, *t3 = NULL;
    int dim = (int)n->i[0], nd = g->ndim ? 1 : 0; /* a 0-d input: the sum of everything */
    bool want_log = n->i[1];
    ks_status st = ks_ag_saved_output(c, n, 0, 0, &y);
    if (st) return st;
    if (want_log) { /* g - exp(y) * sum(g) */
        if (!(st = ks_ag_reduce(c, KS_AG_SUM, g, nd, &dim, true, &t1)) && !(st = ks_ag_unary(c, KS_OP_EXP, y, &t2)) &&
            !(st = ks_ag_binary(c, KS_OP_MUL, ks_op_tensor(t2), ks_op_tensor(t1), NULL, &t3)))
            st = ks_ag_binary(c, KS_OP_SUB, ks_op_tensor(g), ks_op_tensor(t3), NULL, gin);
    } else { /* y * (g - sum(g * y)) */
        if (!(st = ks_ag_binary(c, KS_OP_MUL, ks_op_tensor(g), ks_op_tensor(y), NULL, &t1)) &&
            !(st = ks_ag_reduce(c, KS_AG_SUM, t1, nd, &dim, true, &t2)) &&
            !(st = ks_ag_binary(c, KS_OP_SUB, ks_op_tensor(g), ks_op_tensor(t2), NULL, &t3)))
            st = ks_ag_binary(c, KS_OP_MUL, ks_op_tensor(y), ks_op_tensor(t3), NULL, gin);
    }
    ks_tensor_release(y);
    ks_tensor_release(t1);
    ks_tensor_release(t2);
    ks_tensor_release(t3);
    return st;
}

static ks_status sm_backward(ks_ctx *c, ks_node *n, ks_tensor *const *gout, ks_tensor **gin)
{
    if (c->grad_enabled) return sm_backward_recorded(c, n, gout[0], &gin[0]);
    ks_tensor *yt, *gt, *r;
    ks_status st = ks_node_get_saved(c, n, 0, &yt);
    if (st || (st = ks_contiguous(c, gout[0], &gt))) return st;
    if ((st = ks_tensor_empty(c, KS_FLOAT32, n->in_ndim[0], n->in_size[0], &r))) { ks_tensor_release(gt); return st; }
    sm_geom g = geom_of(n->in_size[0], n->in_ndim[0], (int)n->i[0]);
    bool want_log = n->i[1];
    const float *y = ks_tensor_data(yt), *gp = ks_tensor_data(gt);
    float *dx = ks_tensor_data(r);
    for (int64_t o = 0; o < g.outer; o++)
        for (int64_t i = 0; i < g.inner; i++) {
            int64_t base = o * g.n * g.inner + i;
            double s = 0;
            for (int64_t k = 0; k < g.n; k++) {
                int64_t p = base + k * g.inner;
                s += want_log ? gp[p] : (double)gp[p] * y[p];
            }
            for (int64_t k = 0; k < g.n; k++) {
                int64_t p = base + k * g.inner;
                dx[p] = want_log ? gp[p] - expf(y[p]) * (float)s : y[p] * (gp[p] - (float)s);
            }
        }
    ks_tensor_release(gt);
    gin[0] = r;
    return KS_OK;
}

static const ks_op_def op_softmax = {"SoftmaxBackward", sm_backward};
static const ks_op_def op_log_softmax = {"LogSoftmaxBackward", sm_backward};

ks_status ks_nn_softmax(ks_ctx *c, ks_tensor *input, ks_tensor **out, int dim, bool want_log)
{
    if (input->dtype != KS_FLOAT32)
        return ks_error(c, KS_ETYPE, "%s: expected a float32 input, got %s", want_log ? "log_softmax" : "softmax",
                        ks_dtype_name(input->dtype));
    if (dim < 0 || dim >= (input->ndim ? input->ndim : 1))
        return ks_error(c, KS_ERANGE, "softmax: dim %d out of range for a %d-d tensor", dim, input->ndim);
    ks_tensor *x, *y, *alias = NULL;
    ks_status st = ks_contiguous(c, input, &x);
    if (st) return st;
    if ((st = ks_tensor_empty(c, KS_FLOAT32, x->ndim, x->size, &y))) { ks_tensor_release(x); return st; }
    sm_geom g = geom_of(x->size, x->ndim, dim);
    forward(&g, ks_tensor_data(x), ks_tensor_data(y), want_log);
    ks_tensor_release(x);
    if (ks_ag_needs_record(c, 1, &input)) {
        ks_node *n = ks_node_new(c, want_log ? &op_log_softmax : &op_softmax, 1, &input);
        if (!n) st = KS_ENOMEM;
        else {
            n->i[0] = dim;
            n->i[1] = want_log;
            n->double_backward = true;
            st = ks_detach(c, y, &alias); /* saving y itself would be a cycle */
            if (!st) st = ks_node_save(c, n, alias);
            if (!st) ks_node_set_output(n, 0, y);
            ks_tensor_release(alias);
            ks_node_release(n);
        }
    }
    if (st) { ks_tensor_release(y); return st; }
    *out = y;
    return KS_OK;
}
