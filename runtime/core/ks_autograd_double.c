/* ks_autograd_double.c: what backward kernels need to run with create_graph
 * (double backward): saved tensors as graph members, and the error node
 * that marks gradients of ops whose backward does not record.
 *
 * Saved tensors are often not the graph's own tensors: an op saves its
 * output as a detached alias (saving the output itself would be a cycle:
 * output -> node -> output), and fused kernels save contiguous copies of
 * their inputs. Under create_graph such a tensor is re-attached: an output
 * alias becomes a view whose grad_fn is the node itself (as PyTorch's
 * SavedVariable rebuilds it on unpack), a copied input becomes a view
 * whose grad_fn is an identity node with the input's edge. */
#include "ks_autograd.h"

#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------ identity node */
static ks_status alias_backward(ks_ctx *c, ks_node *n, ks_tensor *const *gout, ks_tensor **gin)
{
    (void)c;
    (void)n;
    gin[0] = ks_tensor_retain(gout[0]);
    return KS_OK;
}

static const ks_op_def op_alias = {"AliasBackward", alias_backward};

/* a one-input node of op whose edge is a copy of n's edge i (no tensor for
 * input i is at hand when it is not a leaf: only its grad_fn) */
static ks_node *node_with_edge(ks_ctx *c, const ks_op_def *op, ks_node *n, int i)
{
    ks_node *m = ks_node_new_multi(c, op, 1, NULL, 1);
    if (!m) return NULL;
    m->double_backward = true;
    ks_node_copy_edge(m, 0, n, i);
    return m;
}

static bool is_input(const ks_node *n, int i, const ks_tensor *t)
{
    if (n->leaf[i]) return t == n->leaf[i];
    return t->grad_fn == n->next[i] && t->output_nr == n->next_output_nr[i];
}

ks_status ks_ag_saved_input(ks_ctx *c, ks_node *n, int k, int i, ks_tensor **out)
{
    ks_tensor *t, *v;
    ks_status st = ks_node_get_saved(c, n, k, &t);
    if (st) return st;
    if (!c->grad_enabled || !n->needs_grad[i] || is_input(n, i, t)) {
        *out = ks_tensor_retain(t);
        return KS_OK;
    }
    if ((st = ks_tensor_view_of(c, t, t->ndim, t->size, t->stride, t->offset, &v))) return st;
    ks_node *m = node_with_edge(c, &op_alias, n, i);
    if (!m) { ks_tensor_release(v); return KS_ENOMEM; }
    ks_node_set_output(m, 0, v);
    ks_node_release(m);
    *out = v;
    return KS_OK;
}

ks_status ks_ag_saved_output(ks_ctx *c, ks_node *n, int k, int out_nr, ks_tensor **out)
{
    ks_tensor *t, *v;
    ks_status st = ks_node_get_saved(c, n, k, &t);
    if (st) return st;
    if (!c->grad_enabled) {
        *out = ks_tensor_retain(t);
        return KS_OK;
    }
    if ((st = ks_tensor_view_of(c, t, t->ndim, t->size, t->stride, t->offset, &v))) return st;
    ks_node_set_output(n, out_nr, v); /* no cycle: n never holds v */
    *out = v;
    return KS_OK;
}

/* ------------------------------------------------------------ ops without double backward */
/* node->ud: a copy of the name of the op whose backward produced the marked gradients */
static ks_status no_double_backward(ks_ctx *c, ks_node *n, ks_tensor *const *gout, ks_tensor **gin)
{
    (void)gout;
    (void)gin;
    return ks_error(c, KS_ESTATE,
                    "double backward of %s is not supported: a gradient computed with create_graph=true went "
                    "through it, and kshot cannot differentiate that op's backward; use create_graph=false "
                    "(first-order) or avoid the op on the differentiated path",
                    (const char *)n->ud);
}

static const ks_op_def op_no_double = {"NotImplemented", no_double_backward};

/* The error node raises whatever it is differentiated for; its edges (n's
 * inputs that require grad, and the output gradients that are graph
 * members) only tell the engine which inputs it leads to. It keeps its own
 * copy of n's op name: it may outlive n, and a custom Function's op def
 * (named after the Function) lives in n. */
static ks_node *error_node(ks_ctx *c, ks_node *n, ks_tensor *const *gout)
{
    int nedges = 0;
    for (int i = 0; i < n->ninputs; i++) nedges += n->needs_grad[i];
    for (int k = 0; k < n->noutputs; k++) nedges += gout[k] && gout[k]->requires_grad;
    size_t len = strlen(n->op->name) + 1;
    char *name = malloc(len);
    if (!name) {
        ks_error(c, KS_ENOMEM, "out of memory recording %s for autograd", n->op->name);
        return NULL;
    }
    memcpy(name, n->op->name, len);
    ks_node *m = ks_node_new_multi(c, &op_no_double, nedges, NULL, n->ninputs);
    if (!m) { free(name); return NULL; }
    m->ud = name;
    m->ud_free = free;
    int e = 0;
    for (int i = 0; i < n->ninputs; i++)
        if (n->needs_grad[i]) ks_node_copy_edge(m, e++, n, i);
    for (int k = 0; k < n->noutputs; k++)
        if (gout[k] && gout[k]->requires_grad) ks_node_set_input(m, e++, gout[k]);
    return m;
}

ks_status ks_ag_mark_no_double(ks_ctx *c, ks_node *n, ks_tensor *const *gout, ks_tensor **gin)
{
    ks_node *m = NULL;
    ks_status st = KS_OK;
    for (int i = 0; i < n->ninputs && !st; i++) {
        ks_tensor *g = gin[i], *v;
        if (!g) continue;
        if (!m && !(m = error_node(c, n, gout))) return KS_ENOMEM;
        if ((st = ks_tensor_view_of(c, g, g->ndim, g->size, g->stride, g->offset, &v))) break;
        ks_node_set_output(m, i, v);
        ks_tensor_release(g);
        gin[i] = v;
    }
    ks_node_release(m);
    return st;
}
