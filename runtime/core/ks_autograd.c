/* ks_autograd.c: graph nodes and the backward engine. */
#include "ks_autograd.h"
#include "ks_grad_ops.h"
#include "ks_grad_views.h"
#include "ks_iter.h"

#include <stdlib.h>
#include <string.h>

bool ks_ag_needs_record(const ks_ctx *c, int n, ks_tensor *const *inputs)
{
    if (!c->grad_enabled) return false;
    for (int i = 0; i < n; i++)
        if (inputs[i] && inputs[i]->requires_grad) return true;
    return false;
}

/* bytes of a node with nin input and nout output slots: the struct, then
 * the slot arrays, widest elements first so each stays aligned */
static size_t node_bytes(int nin, int nout)
{
    size_t per_in = sizeof(ks_node *) + sizeof(ks_tensor *) + KS_MAX_DIMS * sizeof(int64_t) + 2 * sizeof(int) +
                    sizeof(ks_dtype) + sizeof(bool);
    size_t per_out = KS_MAX_DIMS * sizeof(int64_t) + sizeof(int);
    return sizeof(ks_node) + (size_t)nin * per_in + (size_t)nout * per_out;
}

/* point the slot arrays into the tail of the allocation */
static void node_layout(ks_node *n, int nin, int nout)
{
    char *p = (char *)(n + 1);
    n->next = (ks_node **)p, p += (size_t)nin * sizeof(ks_node *);
    n->leaf = (ks_tensor **)p, p += (size_t)nin * sizeof(ks_tensor *);
    n->in_size = (int64_t(*)[KS_MAX_DIMS])p, p += (size_t)nin * sizeof *n->in_size;
    n->out_size = (int64_t(*)[KS_MAX_DIMS])p, p += (size_t)nout * sizeof *n->out_size;
    n->next_output_nr = (int *)p, p += (size_t)nin * sizeof(int);
    n->in_ndim = (int *)p, p += (size_t)nin * sizeof(int);
    n->out_ndim = (int *)p, p += (size_t)nout * sizeof(int);
    n->in_dtype = (ks_dtype *)p, p += (size_t)nin * sizeof(ks_dtype);
    n->needs_grad = (bool *)p;
}

ks_node *ks_node_new_multi(ks_ctx *c, const ks_op_def *op, int ninputs, ks_tensor *const *inputs, int noutputs)
{
    if (ninputs > (inputs ? KS_NODE_MAX_IN : KS_NODE_MAX_EDGES)) {
        ks_error(c, KS_EINVAL, "%s: at most %d differentiable inputs", op->name, KS_NODE_MAX_IN);
        return NULL;
    }
    if (noutputs < 1 || noutputs > KS_NODE_MAX_IN) {
        ks_error(c, KS_EINVAL, "%s: 1 to %d outputs", op->name, KS_NODE_MAX_IN);
        return NULL;
    }
    size_t bytes = node_bytes(ninputs, noutputs);
    if (ks_mem_account(c, bytes)) return NULL;
    ks_node *n = calloc(1, bytes);
    if (!n) {
        ks_mem_unaccount(c, bytes);
        ks_error(c, KS_ENOMEM, "out of memory recording %s for autograd", op->name);
        return NULL;
    }
    node_layout(n, ninputs, noutputs);
    n->refcount = 1;
    n->ctx = c;
    n->op = op;
    n->ninputs = ninputs;
    n->out_cap = noutputs;
    for (int i = 0; inputs && i < ninputs; i++)
        if (inputs[i]) ks_node_set_input(n, i, inputs[i]);
    return n;
}

void ks_node_set_input(ks_node *n, int i, ks_tensor *t)
{
    n->in_ndim[i] = t->ndim;
    memcpy(n->in_size[i], t->size, sizeof t->size);
    n->in_dtype[i] = t->dtype;
    if (!t->requires_grad) return;
    n->needs_grad[i] = true;
    if (t->grad_fn) {
        n->next[i] = t->grad_fn;
        n->next_output_nr[i] = t->output_nr;
        ks_node_retain(t->grad_fn);
    } else {
        n->leaf[i] = ks_tensor_retain(t);
    }
}

void ks_node_copy_edge(ks_node *n, int i, const ks_node *src, int j)
{
    n->in_ndim[i] = src->in_ndim[j];
    memcpy(n->in_size[i], src->in_size[j], sizeof n->in_size[i]);
    n->in_dtype[i] = src->in_dtype[j];
    n->needs_grad[i] = src->needs_grad[j];
    if (src->leaf[j]) n->leaf[i] = ks_tensor_retain(src->leaf[j]);
    if (src->next[j]) {
        n->next[i] = src->next[j];
        n->next_output_nr[i] = src->next_output_nr[j];
        ks_node_retain(src->next[j]);
    }
}

ks_node *ks_node_new(ks_ctx *c, const ks_op_def *op, int ninputs, ks_tensor *const *inputs)
{
    return ks_node_new_multi(c, op, ninputs, inputs, 1);
}

ks_status ks_node_save(ks_ctx *c, ks_node *n, ks_tensor *t)
{
    if (n->nsaved >= KS_NODE_MAX_SAVED)
        return ks_error(c, KS_EINVAL, "%s: too many saved tensors", n->op->name);
    n->saved[n->nsaved] = ks_tensor_retain(t);
    n->saved_version[n->nsaved] = t->storage->version;
    n->nsaved++;
    return KS_OK;
}

void ks_node_set_output(ks_node *n, int k, ks_tensor *out)
{
    ks_node_retain(n);
    if (out->grad_fn) ks_node_release(out->grad_fn);
    out->grad_fn = n;
    out->output_nr = k;
    out->requires_grad = true;
    if (k + 1 > n->noutputs) n->noutputs = k + 1;
    n->out_ndim[k] = out->ndim;
    memcpy(n->out_size[k], out->size, sizeof out->size);
}

ks_status ks_ag_record(ks_ctx *c, const ks_op_def *op, int nin, ks_tensor *const *ins, int nsave,
                       ks_tensor *const *saves, ks_tensor *out, ks_node **node)
{
    if (node) *node = NULL;
    if (!ks_ag_needs_record(c, nin, ins)) return KS_OK;
    ks_node *n = ks_node_new(c, op, nin, ins);
    if (!n) return KS_ENOMEM;
    ks_status st = KS_OK;
    for (int k = 0; k < nsave && !st; k++)
        if (saves[k]) st = ks_node_save(c, n, saves[k]);
    if (!st) ks_node_set_output(n, 0, out);
    if (!st && node) *node = n;
    ks_node_release(n); /* out holds it now (or it is freed on error) */
    return st;
}

void ks_node_retain(ks_node *n) { n->refcount++; }

static void node_free_saved(ks_node *n)
{
    for (int k = 0; k < n->nsaved; k++) {
        ks_tensor_release(n->saved[k]);
        n->saved[k] = NULL;
    }
    n->freed = true;
}

/* Releasing a long chain recursively could overflow the C stack: use an
 * explicit work list. */
void ks_node_release(ks_node *n)
{
    ks_node *stack_buf[64], **stack = stack_buf;
    size_t top = 0, cap = 64;
    if (!n || --n->refcount > 0) return;
    stack[top++] = n;
    while (top > 0) {
        ks_node *m = stack[--top];
        ks_ctx *c = m->ctx;
        for (int i = 0; i < m->ninputs; i++) {
            if (m->leaf[i]) ks_tensor_release(m->leaf[i]);
            ks_node *x = m->next[i];
            if (x && --x->refcount == 0) {
                if (top == cap) {
                    ks_node **bigger = malloc(2 * cap * sizeof *bigger);
                    if (!bigger) { x->refcount = 1; continue; } /* leak rather than crash */
                    memcpy(bigger, stack, top * sizeof *stack);
                    if (stack != stack_buf) free(stack);
                    stack = bigger;
                    cap *= 2;
                }
                stack[top++] = x;
            }
        }
        for (int k = 0; k < m->nsaved; k++) ks_tensor_release(m->saved[k]);
        if (m->ud_free) m->ud_free(m->ud);
        ks_mem_unaccount(c, node_bytes(m->ninputs, m->out_cap));
        free(m);
    }
    if (stack != stack_buf) free(stack);
}

ks_status ks_node_get_saved(ks_ctx *c, ks_node *n, int k, ks_tensor **out)
{
    if (n->freed || !n->saved[k])
        return ks_error(c, KS_ESTATE,
                        "trying to backward through the graph a second time (or directly access saved tensors after "
                        "they have already been freed); pass retain_graph=true to backward the first time");
    ks_tensor *t = n->saved[k];
    if (t->storage->version != n->saved_version[k]) {
        char b[160];
        return ks_error(c, KS_ESTATE,
                        "one of the variables needed for gradient computation has been modified by an inplace "
                        "operation: [%s %s], saved by %s, is at version %llu; expected version %llu",
                        ks_dtype_name(t->dtype), ks_shape_str(t, b, sizeof b), n->op->name,
                        (unsigned long long)t->storage->version, (unsigned long long)n->saved_version[k]);
    }
    *out = t;
    return KS_OK;
}

/* ------------------------------------------------------------ helpers */
static void add_loop(char **d, const int64_t *s, int64_t n, void *arg)
{
    (void)arg;
    if (s[0] == 4 && s[1] == 4) {
        float *o = (float *)d[0];
        const float *g = (const float *)d[1];
        for (int64_t k = 0; k < n; k++) o[k] += g[k];
        return;
    }
    char *o = d[0], *g = d[1];
    for (int64_t k = 0; k < n; k++, o += s[0], g += s[1]) *(float *)o += *(const float *)g;
}

ks_status ks_accumulate_(ks_ctx *c, ks_tensor *acc, const ks_tensor *g)
{
    if (acc->dtype != KS_FLOAT32 || g->dtype != KS_FLOAT32)
        return ks_error(c, KS_ETYPE, "gradients must be float32");
    ks_tensor *ops[2] = {acc, (ks_tensor *)g};
    ks_iter it;
    ks_status st = ks_iter_init(c, &it, 2, ops);
    if (st) return st;
    ks_iter_run(&it, 0, it.numel, add_loop, NULL);
    return KS_OK;
}

/* reduction of a broadcast gradient: iterate over g, accumulating into an
 * expanded view of the (zeroed) result. Serial: deterministic. */
static void sum_to_loop(char **d, const int64_t *s, int64_t n, void *arg)
{
    (void)arg;
    char *g = d[0], *o = d[1];
    for (int64_t k = 0; k < n; k++, g += s[0], o += s[1]) *(float *)o += *(const float *)g;
}

ks_status ks_sum_to_shape(ks_ctx *c, ks_tensor *g, int ndim, const int64_t *size, ks_tensor **out)
{
    bool same = g->ndim == ndim;
    for (int i = 0; same && i < ndim; i++) same = g->size[i] == size[i];
    if (same) { *out = ks_tensor_retain(g); return KS_OK; }
    ks_tensor *r;
    ks_status st = ks_tensor_empty(c, KS_FLOAT32, ndim, size, &r);
    if (st) return st;
    memset(ks_tensor_data(r), 0, (size_t)r->numel * sizeof(float));
    ks_tensor *ops[2] = {g, r};
    ks_iter it;
    if ((st = ks_iter_init(c, &it, 2, ops))) { ks_tensor_release(r); return st; }
    ks_iter_run(&it, 0, it.numel, sum_to_loop, NULL);
    *out = r;
    return KS_OK;
}

ks_status ks_detach(ks_ctx *c, ks_tensor *t, ks_tensor **out)
{
    ks_tensor *v;
    ks_status st = ks_tensor_view_of(c, t, t->ndim, t->size, t->stride, t->offset, &v);
    if (st) return st;
    *out = v;
    return KS_OK;
}

/* ------------------------------------------------------------ engine */
/* A small graph (a tiny op's forward and backward) runs on the arrays inside
 * graph_t, on the stack: no malloc per backward or per node. */
#define GRAPH_INLINE 32

typedef struct {
    ks_node **nodes;   /* discovered nodes, topo_id indexes this */
    int *first;        /* slots[first[id] + k]: gradient of output k of node id */
    ks_tensor **slots;
    int count, cap, nslots, slot_cap;
    size_t leaf_bytes; /* bytes of .grad tensors this backward attached to leaves */
    /* captures (ks_backward_capture): tensors whose gradient is handed out */
    int ncap;
    ks_tensor *const *caps;
    ks_tensor **out;   /* NULL: caps accumulate into their .grad and leaves as usual; else out[j], no .grad touched */
    bool create_graph; /* backward kernels record; gradients are summed out of place */
    /* out mode only (NULL otherwise: every node runs): need[id] says what node id
     * is for; nodes that lead to no capture neither run nor lose their saved tensors */
    unsigned char *need;
    ks_node *nodes0[GRAPH_INLINE];
    int first0[GRAPH_INLINE], ready0[GRAPH_INLINE];
    ks_tensor *slots0[GRAPH_INLINE];
} graph_t;

enum { NEED_NONE, NEED_DELIVER, NEED_RUN }; /* DELIVER: it made a capture, but nothing past it is wanted */

static void graph_init(graph_t *g)
{
    g->nodes = g->nodes0;
    g->first = g->first0;
    g->slots = g->slots0;
    g->cap = g->slot_cap = GRAPH_INLINE;
}

/* buf (inline or on the heap) with room for new_cap elements of elt bytes; NULL (buf kept) when out of memory */
static void *grow(void *buf, void *inline_buf, int old_cap, int new_cap, size_t elt)
{
    if (buf != inline_buf) return realloc(buf, (size_t)new_cap * elt);
    void *p = malloc((size_t)new_cap * elt);
    if (p) memcpy(p, buf, (size_t)old_cap * elt);
    return p;
}

static ks_status graph_add(ks_ctx *c, graph_t *g, ks_node *n)
{
    if (g->count == g->cap) {
        int cap = 2 * g->cap;
        ks_node **nodes = grow(g->nodes, g->nodes0, g->cap, cap, sizeof *nodes);
        if (!nodes) return ks_error(c, KS_ENOMEM, "out of memory in backward");
        g->nodes = nodes;
        int *first = grow(g->first, g->first0, g->cap, cap, sizeof *first);
        if (!first) return ks_error(c, KS_ENOMEM, "out of memory in backward");
        g->first = first;
        g->cap = cap;
    }
    int nk = n->noutputs > 0 ? n->noutputs : 1;
    while (g->nslots + nk > g->slot_cap) {
        ks_tensor **slots = grow(g->slots, g->slots0, g->slot_cap, 2 * g->slot_cap, sizeof *slots);
        if (!slots) return ks_error(c, KS_ENOMEM, "out of memory in backward");
        g->slots = slots;
        g->slot_cap *= 2;
    }
    memset(g->slots + g->nslots, 0, (size_t)nk * sizeof *g->slots);
    n->topo_id = g->count;
    n->topo_deps = 0;
    g->first[g->count] = g->nslots;
    g->nslots += nk;
    g->nodes[g->count++] = n;
    return KS_OK;
}

/* Discover every node reachable from root and count, for each, how many
 * edges point at it (its dependencies). */
static ks_status discover(ks_ctx *c, graph_t *g, ks_node *root)
{
    ks_status st = graph_add(c, g, root);
    for (int scan = 0; !st && scan < g->count; scan++) {
        ks_node *n = g->nodes[scan];
        for (int i = 0; i < n->ninputs && !st; i++) {
            ks_node *x = n->next[i];
            if (!x) continue;
            if (x->topo_id < 0 || x->topo_id >= g->count || g->nodes[x->topo_id] != x) st = graph_add(c, g, x);
            x->topo_deps++;
        }
    }
    return st;
}

/* *slot = *slot + gin as a new, recorded tensor (create_graph: both may be graph members) */
static ks_status add_recorded(ks_ctx *c, ks_tensor **slot, ks_tensor *gin)
{
    ks_tensor *sum;
    ks_status st = ks_ag_binary(c, KS_OP_ADD, ks_op_tensor(*slot), ks_op_tensor(gin), NULL, &sum);
    if (st) return st;
    ks_tensor_release(*slot);
    *slot = sum;
    return KS_OK;
}

/* a copy of g that records (CloneBackward) when g is a graph member */
static ks_status clone_recorded(ks_ctx *c, ks_tensor *g, ks_tensor **out)
{
    ks_status st = ks_clone(c, g, out);
    if (!st && (st = ks_ag_record_view(c, KS_VIEW_IDENTITY, NULL, 0, g, *out))) {
        ks_tensor_release(*out);
        *out = NULL;
    }
    return st;
}

static bool grad_is_private(const ks_tensor *g, bool create_graph);

static ks_status add_grad(ks_ctx *c, const graph_t *g, ks_tensor **slot, ks_tensor *gin)
{
    if (!*slot) { *slot = ks_tensor_retain(gin); return KS_OK; }
    if (g->create_graph) return add_recorded(c, slot, gin);
    /* shared, or a view (kernels that record for create_graph return views of
     * their gradient: transposes, expands): copy before accumulating in place */
    if (!grad_is_private(*slot, true)) {
        ks_tensor *cp;
        ks_status st = ks_clone(c, *slot, &cp);
        if (st) return st;
        ks_tensor_release(*slot);
        *slot = cp;
    }
    return ks_accumulate_(c, *slot, gin);
}

/* a gradient nothing else references (fresh from a backward kernel): the
 * leaf can take it as .grad without a copy. Under create_graph it may carry
 * a grad_fn (nodes never hold their outputs, so refcount 1 still means private). */
static bool grad_is_private(const ks_tensor *g, bool create_graph)
{
    return g->refcount == 1 && g->storage->refcount == 1 && !g->storage->free_fn && (create_graph || !g->grad_fn) &&
           !g->offset && g->dtype == KS_FLOAT32 && ks_tensor_is_contiguous(g);
}

/* create_graph: .grad becomes gin (or a recorded copy), or .grad + gin as a new tensor, as PyTorch */
static ks_status accumulate_leaf_recorded(ks_ctx *c, ks_tensor *leaf, ks_tensor *gin, size_t *attached)
{
    if (leaf->grad) return add_recorded(c, &leaf->grad, gin);
    ks_status st = grad_is_private(gin, true) ? (leaf->grad = ks_tensor_retain(gin), KS_OK)
                                              : clone_recorded(c, gin, &leaf->grad);
    if (!st) *attached += (size_t)gin->numel * sizeof(float);
    return st;
}

static ks_status accumulate_leaf(ks_ctx *c, const graph_t *gr, ks_tensor *leaf, ks_tensor *gin, size_t *attached)
{
    if (gr->create_graph) return accumulate_leaf_recorded(c, leaf, gin, attached);
    if (!leaf->grad && grad_is_private(gin, false)) {
        leaf->grad = ks_tensor_retain(gin);
        *attached += (size_t)gin->numel * sizeof(float);
        return KS_OK;
    }
    if (!leaf->grad) {
        ks_tensor *g;
        ks_status st = ks_clone(c, gin, &g);
        if (st) return st;
        leaf->grad = g;
        *attached += (size_t)g->numel * sizeof(float);
        return KS_OK;
    }
    ks_tensor_bump_version(leaf->grad);
    return ks_accumulate_(c, leaf->grad, gin);
}

/* index of leaf t among the captures, or -1 */
static int cap_index(const graph_t *g, const ks_tensor *t)
{
    for (int j = 0; j < g->ncap; j++)
        if (g->caps[j] == t) return j;
    return -1;
}

/* n is in g's graph (topo ids of nodes outside it are stale) */
static bool in_graph(const graph_t *g, const ks_node *n)
{
    return n && n->topo_id >= 0 && n->topo_id < g->count && g->nodes[n->topo_id] == n;
}

/* out mode (autograd.grad): which nodes the requested gradients need, since
 * PyTorch runs only the part of the graph between the output and the inputs
 * (running and freeing the rest broke a later backward through it). A node
 * runs when an edge leads to a leaf capture, to a node that runs or to a
 * capture's grad_fn; a capture's grad_fn that does not run only hands out
 * its output's gradient. Children are decided first: a reversed
 * topological order (Kahn's, from the root, on a copy of the dependencies). */
static ks_status mark_needed(ks_ctx *c, graph_t *g)
{
    int *order = malloc((size_t)g->count * sizeof *order), *left = malloc((size_t)g->count * sizeof *left);
    g->need = calloc((size_t)g->count, 1);
    if (!order || !left || !g->need) {
        free(order);
        free(left);
        return ks_error(c, KS_ENOMEM, "out of memory in autograd.grad");
    }
    for (int id = 0; id < g->count; id++) left[id] = g->nodes[id]->topo_deps;
    int head = 0, tail = 0;
    order[tail++] = 0;
    while (head < tail) {
        ks_node *n = g->nodes[order[head++]];
        for (int i = 0; i < n->ninputs; i++)
            if (n->next[i] && --left[n->next[i]->topo_id] == 0) order[tail++] = n->next[i]->topo_id;
    }
    for (int j = 0; j < g->ncap; j++)
        if (in_graph(g, g->caps[j]->grad_fn)) g->need[g->caps[j]->grad_fn->topo_id] = NEED_DELIVER;
    for (int r = tail - 1; r >= 0; r--) {
        ks_node *n = g->nodes[order[r]];
        bool run = false;
        for (int i = 0; i < n->ninputs && !run; i++)
            run = (n->leaf[i] && cap_index(g, n->leaf[i]) >= 0) || (n->next[i] && g->need[n->next[i]->topo_id]);
        if (run) g->need[order[r]] = NEED_RUN;
    }
    free(order);
    free(left);
    return KS_OK;
}

/* hand gradient gin of capture j out: into out[j] (autograd.grad) or caps[j]->grad (retain_grad) */
static ks_status deliver(ks_ctx *c, graph_t *g, int j, ks_tensor *gin)
{
    if (!g->out) return accumulate_leaf(c, g, g->caps[j], gin, &g->leaf_bytes);
    if (g->out[j] && g->create_graph) return add_recorded(c, &g->out[j], gin);
    if (g->out[j]) return ks_accumulate_(c, g->out[j], gin); /* ours: made private below */
    if (grad_is_private(gin, g->create_graph)) { g->out[j] = ks_tensor_retain(gin); return KS_OK; }
    /* a view, an expand or the caller's tensor: never hand it out */
    return g->create_graph ? clone_recorded(c, gin, &g->out[j]) : ks_clone(c, gin, &g->out[j]);
}

/* the gradient a leaf input receives: its .grad (usual backward) or a capture; out mode leaves other leaves alone */
static ks_status to_leaf(ks_ctx *c, graph_t *g, ks_tensor *leaf, ks_tensor *gin)
{
    int j = g->ncap ? cap_index(g, leaf) : -1;
    if (j >= 0 && g->out) return deliver(c, g, j, gin);
    if (g->out) return KS_OK;
    return accumulate_leaf(c, g, leaf, gin, &g->leaf_bytes);
}

static ks_status zeros_for(ks_ctx *c, ks_node *n, int k, ks_tensor **out)
{
    ks_tensor *z;
    ks_status st = ks_tensor_empty(c, KS_FLOAT32, n->out_ndim[k], n->out_size[k], &z);
    if (st) return st;
    memset(ks_tensor_data(z), 0, (size_t)z->numel * sizeof(float));
    *out = z;
    return KS_OK;
}

static ks_status run_node(ks_ctx *c, graph_t *g, ks_node *n, bool retain, int *ready, int *nready)
{
    ks_tensor **gout = g->slots + g->first[n->topo_id];
    ks_tensor *gin[KS_NODE_MAX_EDGES] = {NULL};
    ks_status st = KS_OK;
    int need = g->need ? g->need[n->topo_id] : NEED_RUN;
    for (int k = 0; k < n->noutputs && !st && need; k++)
        if (!gout[k]) st = zeros_for(c, n, k, &gout[k]);
    /* captured non-leaf tensors made by this node: their gradient is complete now */
    for (int j = 0; j < g->ncap && !st; j++)
        if (g->caps[j]->grad_fn == n) st = deliver(c, g, j, gout[g->caps[j]->output_nr]);
    if (need != NEED_RUN) { /* nothing wanted past it: it neither runs nor frees its saved tensors */
        for (int k = 0; k < n->noutputs; k++) { ks_tensor_release(gout[k]); gout[k] = NULL; }
        return st;
    }
    if (!st && n->freed)
        st = ks_error(c, KS_ESTATE, "trying to backward through the graph a second time (node %s); pass "
                                    "retain_graph=true to backward the first time", n->op->name);
    if (!st && g->create_graph && !n->double_backward) {
        /* its kernel does not record: run it plainly and mark what it gives */
        c->grad_enabled = 0;
        st = n->op->backward(c, n, gout, gin);
        c->grad_enabled = 1;
        if (!st) st = ks_ag_mark_no_double(c, n, gout, gin);
    } else if (!st) {
        st = n->op->backward(c, n, gout, gin);
    }
    for (int i = 0; i < n->ninputs && !st; i++) {
        bool wants_zeros = n->leaf[i] && (g->out ? cap_index(g, n->leaf[i]) >= 0 : !n->leaf[i]->grad);
        if (!gin[i] && n->needs_grad[i] && wants_zeros) {
            /* no gradient flows back (floor, sign, ...): the leaf still gets zeros, as in PyTorch */
            st = ks_tensor_empty(c, KS_FLOAT32, n->in_ndim[i], n->in_size[i], &gin[i]);
            if (!st) memset(ks_tensor_data(gin[i]), 0, (size_t)gin[i]->numel * sizeof(float));
        }
        if (!n->needs_grad[i]) continue;
        if (gin[i] && (gin[i]->ndim != n->in_ndim[i] ||
                       memcmp(gin[i]->size, n->in_size[i], sizeof(int64_t) * (size_t)gin[i]->ndim))) {
            char a[160], b[160];
            st = ks_error(c, KS_ESHAPE, "%s backward returned a gradient of shape %s for input %d of shape %s",
                          n->op->name, ks_shape_str(gin[i], a, sizeof a), i,
                          ks_dims_str(n->in_ndim[i], n->in_size[i], b, sizeof b));
            break;
        }
        if (n->leaf[i] && gin[i]) {
            st = to_leaf(c, g, n->leaf[i], gin[i]);
        } else if (n->next[i] && (!g->need || g->need[n->next[i]->topo_id])) {
            /* no gradient (sign, floor, ...) still counts as this edge done: the
             * next node waits for all its edges, and others may bring gradients */
            ks_node *x = n->next[i];
            if (gin[i]) st = add_grad(c, g, &g->slots[g->first[x->topo_id] + n->next_output_nr[i]], gin[i]);
            if (!st && --x->topo_deps == 0) ready[(*nready)++] = x->topo_id;
        }
    }
    for (int i = 0; i < n->ninputs; i++) ks_tensor_release(gin[i]);
    for (int k = 0; k < n->noutputs; k++) { ks_tensor_release(gout[k]); gout[k] = NULL; }
    if (!retain && !st) node_free_saved(n);
    return st;
}

/* GC pacing (ctx->gc_debt feeds the host's collector): of the memory a
 * backward pass allocates, only its net growth can ever become garbage the
 * collector must find -- intermediate gradients are freed here, and leaf
 * .grad tensors are owned by their leaves (freed by C when replaced or set
 * to nil, or with the leaf). Counting the gross allocations made a training
 * step run the collector for ~1 MB of weight gradients (~10% of an MLP
 * step). So the pass adds its net growth minus the bytes attached as .grad
 * (never below 0, never more than it allocated); if the collector ran
 * meanwhile (custom Lua backward functions), the debt is left alone. */
static void pace_by_net_growth(ks_ctx *c, size_t debt0, size_t live0, size_t leaf_bytes)
{
    size_t live = atomic_load(&c->live_bytes), debt = c->gc_debt;
    if (debt < debt0) return;
    size_t up = debt0 + (live > live0 ? live - live0 : 0), down = (live0 > live ? live0 - live : 0) + leaf_bytes;
    size_t net = up > down ? up - down : 0;
    c->gc_debt = net < debt ? net : debt;
}

ks_status ks_backward(ks_ctx *c, ks_tensor *root, ks_tensor *grad, bool retain_graph)
{
    return ks_backward_capture(c, root, grad, (ks_backward_opts){retain_graph, false}, 0, NULL, NULL);
}

ks_status ks_backward_capture(ks_ctx *c, ks_tensor *root, ks_tensor *grad, ks_backward_opts opts, int ncap,
                              ks_tensor *const *caps, ks_tensor **out)
{
    bool retain_graph = opts.retain_graph || opts.create_graph;
    char a[160], b[160];
    if (!root->requires_grad)
        return ks_error(c, KS_ESTATE, "element 0 of tensors does not require grad and does not have a grad_fn");
    if (!grad && root->numel != 1)
        return ks_error(c, KS_EINVAL, "grad can be implicitly created only for scalar outputs (got shape %s)",
                        ks_shape_str(root, a, sizeof a));
    if (grad && !ks_same_shape(grad, root))
        return ks_error(c, KS_ESHAPE, "backward: gradient of shape %s does not match the output's shape %s",
                        ks_shape_str(grad, a, sizeof a), ks_shape_str(root, b, sizeof b));
    ks_tensor *g0;
    ks_status st;
    if (grad) st = ks_to_dtype(c, grad, KS_FLOAT32, &g0);
    else {
        st = ks_tensor_empty(c, KS_FLOAT32, root->ndim, root->size, &g0);
        if (!st) *(float *)ks_tensor_data(g0) = 1.0f;
    }
    if (st) return st;
    graph_t g = {0};
    graph_init(&g);
    g.ncap = ncap;
    g.caps = caps;
    g.out = out;
    g.create_graph = opts.create_graph;
    if (!root->grad_fn) { /* a leaf: d root / d root */
        st = to_leaf(c, &g, root, g0);
        ks_tensor_release(g0);
        return st;
    }
    size_t debt0 = c->gc_debt, live0 = atomic_load(&c->live_bytes);
    int *ready = NULL, nready = 0;
    int old_mode = c->grad_enabled;
    c->grad_enabled = opts.create_graph; /* backward kernels record only for create_graph */
    /* invalidate stale topo ids from earlier runs */
    root->grad_fn->topo_id = -1;
    st = discover(c, &g, root->grad_fn);
    if (!st && out) st = mark_needed(c, &g);
    if (!st && g.count <= GRAPH_INLINE) ready = g.ready0;
    else if (!st && !(ready = malloc((size_t)g.count * sizeof *ready))) st = ks_error(c, KS_ENOMEM, "out of memory in backward");
    if (!st) {
        g.slots[g.first[0] + root->output_nr] = g0;
        g0 = NULL;
        ready[nready++] = 0;
        int processed = 0;
        while (nready > 0 && !st) {
            ks_node *n = g.nodes[ready[--nready]];
            st = run_node(c, &g, n, retain_graph, ready, &nready);
            processed++;
            if (!st && (processed & 63) == 0) st = ks_check_interrupt(c);
        }
    }
    for (int k = 0; k < g.nslots; k++) ks_tensor_release(g.slots[k]);
    for (int i = 0; i < g.count; i++) g.nodes[i]->topo_id = -1;
    c->grad_enabled = old_mode;
    ks_tensor_release(g0);
    if (g.nodes != g.nodes0) free(g.nodes);
    if (g.first != g.first0) free(g.first);
    if (g.slots != g.slots0) free(g.slots);
    if (ready != g.ready0) free(ready);
    free(g.need);
    pace_by_net_growth(c, debt0, live0, g.leaf_bytes);
    return st;
}
