/* ks_autograd.h: define-by-run reverse-mode autograd.
 *
 * Graph: every tensor produced by a recording op while grad mode is on and
 * some input requires grad gets grad_fn = a node (and output_nr). A node
 * holds edges to its inputs: either the input's own grad_fn (an interior
 * tensor) or the input tensor itself (a leaf that requires grad; its .grad
 * accumulates). Nodes never point at their outputs, so the graph is acyclic
 * in memory: dropping the last tensor of a graph frees it.
 *
 * One op table entry (ks_op_def) per differentiable op holds its name and
 * backward kernel; forward kernels live with the ops. Custom ops (e.g. a
 * Lua function with forward and backward written in Lua) are nodes whose
 * op def calls node->custom with node->ud.
 *
 * Saved tensors record the storage version at save time; backward fails
 * with a clear error if an in-place op changed one since (never a silently
 * wrong gradient). Without retain_graph, backward frees saved tensors, and
 * a second backward through the same nodes is an error.
 */
#ifndef KS_AUTOGRAD_H
#define KS_AUTOGRAD_H

#include "ks_tensor.h"

#define KS_NODE_MAX_IN 8
#define KS_NODE_MAX_SAVED 8

typedef struct ks_node ks_node;

/* grad_out[k] is the gradient of output k (never NULL: zeros are materialised).
 * Set grad_in[i] (a new reference) for each input i with n->needs_grad[i];
 * leaving it NULL means "no gradient" (treated as zero). Shapes must equal
 * the input shapes (use ks_sum_to_shape for broadcast inputs). */
typedef ks_status (*ks_backward_fn)(ks_ctx *c, ks_node *n, ks_tensor *const *grad_out, ks_tensor **grad_in);

typedef struct ks_op_def {
    const char *name;
    ks_backward_fn backward;
} ks_op_def;

struct ks_node {
    int refcount;
    ks_ctx *ctx;         /* for memory accounting (not retained: tensors keep it alive) */
    const ks_op_def *op;
    int ninputs, noutputs;
    /* edges: exactly one of next/leaf is set where needs_grad[i] */
    ks_node *next[KS_NODE_MAX_IN];
    int next_output_nr[KS_NODE_MAX_IN];
    ks_tensor *leaf[KS_NODE_MAX_IN];
    bool needs_grad[KS_NODE_MAX_IN];
    /* input geometry, for reducing broadcast gradients and shape checks */
    int in_ndim[KS_NODE_MAX_IN];
    int64_t in_size[KS_NODE_MAX_IN][KS_MAX_DIMS];
    ks_dtype in_dtype[KS_NODE_MAX_IN];
    /* output geometry (zeros for outputs that received no gradient) */
    int out_ndim[KS_NODE_MAX_IN];
    int64_t out_size[KS_NODE_MAX_IN][KS_MAX_DIMS];
    /* saved tensors and their versions at save time */
    int nsaved;
    ks_tensor *saved[KS_NODE_MAX_SAVED];
    uint64_t saved_version[KS_NODE_MAX_SAVED];
    bool freed;          /* saved state released by a backward without retain_graph */
    /* op options */
    double f[6];
    int64_t i[24];
    /* custom nodes (Lua functions): backward calls custom(ud, ...) */
    ks_status (*custom)(void *ud, ks_ctx *c, ks_node *n, ks_tensor *const *grad_out, ks_tensor **grad_in);
    void (*ud_free)(void *ud);
    void *ud;
    /* engine scratch (valid during one backward) */
    int topo_deps;
    int topo_id;
};

/* Does an op on these inputs need to record? (grad mode on and some input requires grad) */
bool ks_ag_needs_record(const ks_ctx *c, int n, ks_tensor *const *inputs);

/* Create a node for op with the given inputs (edges and geometry filled in,
 * refcount 1). Returns NULL with KS_ENOMEM set on failure. */
ks_node *ks_node_new(ks_ctx *c, const ks_op_def *op, int ninputs, ks_tensor *const *inputs);
/* Save a tensor for backward (retains it, records its version). */
ks_status ks_node_save(ks_ctx *c, ks_node *n, ks_tensor *t);
/* Attach node as grad_fn of output k (sets requires_grad, output geometry; node retained). */
void ks_node_set_output(ks_node *n, int k, ks_tensor *out);
/* The usual recording step of a forward kernel: when grad mode is on and an
 * input requires grad, make op's node, save the non-NULL tensors of
 * saves[0..nsave) in order (optional ones last, so indices stay fixed) and
 * attach out as output 0. *node, when given, receives the node (owned by
 * out, for setting options) or NULL when nothing was recorded. */
ks_status ks_ag_record(ks_ctx *c, const ks_op_def *op, int nin, ks_tensor *const *ins, int nsave,
                       ks_tensor *const *saves, ks_tensor *out, ks_node **node);
void ks_node_retain(ks_node *n);
void ks_node_release(ks_node *n);

/* Run backward from `root` with gradient `grad` (NULL: root must have one
 * element, gradient 1). Accumulates into .grad of the reachable leaves. */
ks_status ks_backward(ks_ctx *c, ks_tensor *root, ks_tensor *grad, bool retain_graph);
/* ks_backward that also hands out the gradients of chosen tensors caps[0..ncap)
 * (leaves, or results of recorded ops; each once):
 *  - out != NULL (torch.autograd.grad): out[j] receives d root / d caps[j] (a
 *    new reference; left NULL when the graph does not reach caps[j]); no .grad
 *    of any tensor is touched. The caller zeroes out[] and releases it.
 *  - out == NULL (retain_grad): a usual backward, and each non-leaf caps[j]
 *    also accumulates its gradient into caps[j]->grad, as a leaf does. */
ks_status ks_backward_capture(ks_ctx *c, ks_tensor *root, ks_tensor *grad, bool retain_graph, int ncap,
                              ks_tensor *const *caps, ks_tensor **out);

/* Gradient helpers for backward kernels. */
/* Sum g over broadcast dims so it has shape (ndim, size); new reference. */
ks_status ks_sum_to_shape(ks_ctx *c, ks_tensor *g, int ndim, const int64_t *size, ks_tensor **out);
/* acc += g, element-wise, float32; shapes equal. */
ks_status ks_accumulate_(ks_ctx *c, ks_tensor *acc, const ks_tensor *g);
/* A saved tensor, after checking its version; NULL with an error if freed or modified in place. */
ks_status ks_node_get_saved(ks_ctx *c, ks_node *n, int k, ks_tensor **out);

/* detach: a view of t's data that does not require grad (shares storage). */
ks_status ks_detach(ks_ctx *c, ks_tensor *t, ks_tensor **out);

#endif
