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
 * Lua function with forward and backward written in Lua) are nodes with an
 * op def of their own (named after the function), kept in node->ud.
 *
 * Saved tensors record the storage version at save time; backward fails
 * with a clear error if an in-place op changed one since (never a silently
 * wrong gradient). Without retain_graph, backward frees saved tensors, and
 * a second backward through the same nodes is an error.
 *
 * Double backward (create_graph): the engine runs the backward kernels with
 * grad mode on, so a kernel written with recording ops (ks_ag_*) produces
 * gradients that carry grad_fn and can be differentiated again. Such ops
 * set double_backward on the nodes they record (a node flag rather than an
 * op-def field, so the many two-field op tables stay as they are); for the
 * others (fused kernels writing floats) the engine marks each gradient
 * they produce with an error node,
 * so differentiating through it raises "double backward of X is not
 * supported" instead of giving a silently wrong (detached) result.
 * Kernels reach their saved tensors as graph members with
 * ks_ag_saved_input/ks_ag_saved_output (ks_autograd_double.c).
 */
#ifndef KS_AUTOGRAD_H
#define KS_AUTOGRAD_H

#include "ks_tensor.h"

#define KS_NODE_MAX_IN 8
/* edges of the engine's own error node (ks_ag_mark_no_double): the inputs
 * and the output gradients of one backward */
#define KS_NODE_MAX_EDGES (2 * KS_NODE_MAX_IN)
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

/* The per-input and per-output arrays live in the node's own allocation,
 * after the struct, with exactly ninputs input slots and out_cap output
 * slots (a node of a tiny op is ~0.7 KB instead of ~1.7 KB with fixed
 * arrays for 8 inputs and 8 outputs: less to zero, and less memory charged
 * to the GC per recorded op). They are pointers, so kernels index them as
 * arrays (n->in_size[i][d]); never index past ninputs / out_cap. */
struct ks_node {
    int refcount;
    ks_ctx *ctx;         /* for memory accounting (not retained: tensors keep it alive) */
    const ks_op_def *op;
    int ninputs, noutputs, out_cap;
    /* edges: exactly one of next/leaf is set where needs_grad[i] */
    ks_node **next;
    int *next_output_nr;
    ks_tensor **leaf;
    bool *needs_grad;
    /* input geometry, for reducing broadcast gradients and shape checks */
    int *in_ndim;
    int64_t (*in_size)[KS_MAX_DIMS];
    ks_dtype *in_dtype;
    /* output geometry (zeros for outputs that received no gradient) */
    int *out_ndim;
    int64_t (*out_size)[KS_MAX_DIMS];
    /* saved tensors and their versions at save time */
    int nsaved;
    ks_tensor *saved[KS_NODE_MAX_SAVED];
    uint64_t saved_version[KS_NODE_MAX_SAVED];
    bool freed;          /* saved state released by a backward without retain_graph */
    /* the op's backward records (ks_ag_* ops, saved tensors through
     * ks_ag_saved_input/output), so it can run under create_graph; false:
     * its gradients cannot be differentiated again (an error node marks them) */
    bool double_backward;
    /* op options */
    double f[6];
    int64_t i[24];
    /* private data of the op (custom Lua functions, the engine's error
     * node), freed with the node by ud_free when set */
    void (*ud_free)(void *ud);
    void *ud;
    /* engine scratch (valid during one backward) */
    int topo_deps;
    int topo_id;
};

/* Does an op on these inputs need to record? (grad mode on and some input requires grad) */
bool ks_ag_needs_record(const ks_ctx *c, int n, ks_tensor *const *inputs);

/* Create a node for op with the given inputs (edges and geometry filled in,
 * refcount 1) and room for one output. Returns NULL with KS_ENOMEM set on failure. */
ks_node *ks_node_new(ks_ctx *c, const ks_op_def *op, int ninputs, ks_tensor *const *inputs);
/* ks_node_new with room for noutputs outputs (1..KS_NODE_MAX_IN); inputs may
 * be NULL: ninputs (up to KS_NODE_MAX_EDGES) empty slots the caller fills
 * with ks_node_set_input or ks_node_copy_edge. */
ks_node *ks_node_new_multi(ks_ctx *c, const ks_op_def *op, int ninputs, ks_tensor *const *inputs, int noutputs);
/* Input slot i of n stands for tensor t: geometry, and the edge when t requires grad. */
void ks_node_set_input(ks_node *n, int i, ks_tensor *t);
/* Input slot i of n gets src's input j (edge and geometry; edges retained). */
void ks_node_copy_edge(ks_node *n, int i, const ks_node *src, int j);
/* Save a tensor for backward (retains it, records its version). */
ks_status ks_node_save(ks_ctx *c, ks_node *n, ks_tensor *t);
/* Attach node as grad_fn of output k < n->out_cap (sets requires_grad, output geometry; node retained). */
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
/* Options of ks_backward_capture. create_graph: record the backward itself
 * (grad mode on), so the gradients carry grad_fn; implies retain_graph, and
 * gradients are summed out of place (.grad becomes .grad + g, a new tensor). */
typedef struct {
    bool retain_graph;
    bool create_graph;
} ks_backward_opts;
/* ks_backward that also hands out the gradients of chosen tensors caps[0..ncap)
 * (leaves, or results of recorded ops; each once):
 *  - out != NULL (torch.autograd.grad): out[j] receives d root / d caps[j] (a
 *    new reference; left NULL when the graph does not reach caps[j]); no .grad
 *    of any tensor is touched. The caller zeroes out[] and releases it.
 *  - out == NULL (retain_grad): a usual backward, and each non-leaf caps[j]
 *    also accumulates its gradient into caps[j]->grad, as a leaf does. */
ks_status ks_backward_capture(ks_ctx *c, ks_tensor *root, ks_tensor *grad, ks_backward_opts opts, int ncap,
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

/* ---- double backward (ks_autograd_double.c) ---- */
/* Saved tensor k of n, which holds the values of input i, as a new
 * reference. With grad mode on (create_graph) and input i requiring grad,
 * the result is a graph member standing for input i (the saved tensor
 * itself when it is the input, else an alias whose grad_fn passes
 * gradients to input i), so ops on it record. */
ks_status ks_ag_saved_input(ks_ctx *c, ks_node *n, int k, int i, ks_tensor **out);
/* Saved tensor k of n, a detached alias of n's output out_nr (saved that way
 * to avoid a cycle), as a new reference; with grad mode on, a view whose
 * grad_fn is n itself (the output as a graph member). */
ks_status ks_ag_saved_output(ks_ctx *c, ks_node *n, int k, int out_nr, ks_tensor **out);
/* Under create_graph, replace each gradient gin[i] of n (computed without
 * recording from gout) by a view whose grad_fn raises "double backward of
 * <n's op> is not supported" when a later backward reaches it. That node's
 * edges are those the gradients depend on (n's inputs, and gout where it is
 * a graph member), so autograd.grad, which runs only the nodes that lead to
 * its inputs, reaches it whenever the true derivative is not zero. */
ks_status ks_ag_mark_no_double(ks_ctx *c, ks_node *n, ks_tensor *const *gout, ks_tensor **gin);

#endif
