/* ks_lua_function.c: the graph node of a custom autograd.Function (forward
 * and backward written in Lua; kshot.autograd.Function builds on it).
 *
 * ks._record_custom(info, ctx, outs, inputs...) runs after the Function's
 * forward (which ran without recording) and attaches one node to its
 * outputs. The node keeps registry refs to info.backward and to ctx, and
 * its own op def, so grad_fn and the error messages carry the Function's
 * name ("SquareBackward").
 *
 * Double backward: the node records (double_backward) unless info.once
 * (autograd.once_differentiable). The engine then runs the Lua backward
 * with grad mode on under create_graph, so the ops it applies to graph
 * tensors record and the gradients it returns differentiate again; with
 * create_graph = false it runs without recording, as any backward.
 *
 * ks._custom_ctx(mt, args...) makes the ctx of one call, before forward:
 * a table with metatable mt and needs_input_grad (in C: the per-call cost
 * of a tiny Function is mostly this bookkeeping).
 *
 * ctx:save_for_backward(...) leaves its tensors in ctx._to_save; they move
 * into the node's saved slots here (and leave ctx, so an output saved that
 * way is no reference cycle: an output is saved as a detached alias, as the
 * built-in ops save theirs). In backward, ctx.saved_tensors lists them back,
 * re-attached to the graph under create_graph (ks_ag_saved_input/output)
 * and version-checked (an in-place change since forward is an error).
 *
 * An output kept in a ctx field (ctx.y = y, PyTorch users' habit) would be
 * a cycle the GC cannot see: y holds the node (grad_fn), the node holds ctx
 * through the registry, ctx holds y. So record walks the tables reachable
 * from ctx through their values (ctx.y, ctx.saved = {y}, ctx.t = {a = {y}},
 * tables with a metatable too), with raw access only (no metamethod runs),
 * each table once (cycles, shared tables), down to SCAN_DEPTH levels, for
 * this call's differentiable outputs: each moves into a saved slot as a
 * detached alias (one slot per output, shared with save_for_backward's)
 * and leaves its table; the list of (table, key, slot, output) stays
 * behind a registry ref. Backward puts the outputs back under their keys
 * (version-checked, re-attached under create_graph, as saved_tensors) and
 * clears them again afterwards. Not reached, so still a cycle: an output
 * used as a table key, deeper than SCAN_DEPTH, past the first SCAN_FIELDS
 * fields read (a ctx that keeps a model or a module), or held by a
 * closure's upvalue or a userdata. Inputs, other tensors and outputs that get no
 * gradient (no grad_fn, so no cycle) stay where they are. */
#include "ks_lua.h"
#include "../runtime/core/ks_autograd.h"

#include <stdlib.h>
#include <string.h>

enum { SAVED_NIL, SAVED_INPUT, SAVED_OUTPUT, SAVED_OTHER };

typedef struct {
    lua_State *L0;   /* main thread, used when backward runs outside a binding call */
    int fn_ref;      /* registry refs: the Function's backward and this call's ctx */
    int ctx_ref;
    int fields_ref;  /* outputs taken from ctx fields: {table, key, slot, output, ...} or LUA_NOREF */
    int nsaved;      /* entries of ctx.saved_tensors (nil ones included) */
    unsigned char kind[KS_NODE_MAX_SAVED];  /* SAVED_* */
    unsigned char which[KS_NODE_MAX_SAVED]; /* input or output number */
    unsigned char slot[KS_NODE_MAX_SAVED];  /* node saved slot */
    ks_op_def op;    /* op.name points at name: "<Function name>Backward" */
    char name[];
} custom_ud;

/* the Function's own name (op.name without "Backward"), for messages */
static int fn_name_len(const custom_ud *u) { return (int)strlen(u->name) - 8; }

static void custom_free(void *ud)
{
    custom_ud *u = ud;
    luaL_unref(u->L0, LUA_REGISTRYINDEX, u->fn_ref);
    luaL_unref(u->L0, LUA_REGISTRYINDEX, u->ctx_ref);
    luaL_unref(u->L0, LUA_REGISTRYINDEX, u->fields_ref);
    free(u);
}

/* ------------------------------------------------------------ backward */
/* ctx.saved_tensors = {...}: the saved tensors as graph members when grad mode is on (create_graph) */
static ks_status push_saved(lua_State *L, ks_ctx *c, ks_node *n, const custom_ud *u, int ctx)
{
    lua_createtable(L, u->nsaved, 1);
    for (int j = 0; j < u->nsaved; j++) {
        ks_tensor *t = NULL;
        ks_status st = KS_OK;
        if (u->kind[j] == SAVED_NIL) continue;
        if (u->kind[j] == SAVED_INPUT) st = ks_ag_saved_input(c, n, u->slot[j], u->which[j], &t);
        else if (u->kind[j] == SAVED_OUTPUT) st = ks_ag_saved_output(c, n, u->slot[j], u->which[j], &t);
        else if (!(st = ks_node_get_saved(c, n, u->slot[j], &t))) ks_tensor_retain(t);
        if (st) { lua_pop(L, 1); return st; }
        ks_lua_push_tensor(L, c, t);
        lua_rawseti(L, -2, j + 1);
    }
    lua_pushinteger(L, u->nsaved);
    lua_setfield(L, -2, "n");
    lua_pushliteral(L, "saved_tensors");
    lua_insert(L, -2);
    lua_rawset(L, ctx);
    return KS_OK;
}

/* With put, the outputs taken from ctx fields go back under their keys (as
 * saved_tensors: version-checked, graph members under create_graph);
 * without, those keys are cleared again (the re-attached outputs would hold
 * the node from ctx: a cycle). Stops at the first error, which the caller
 * follows with a clear. */
static ks_status put_fields(lua_State *L, ks_ctx *c, ks_node *n, const custom_ud *u, bool put)
{
    ks_status st = KS_OK;
    if (!lua_checkstack(L, n->noutputs + 8)) return ks_error(c, KS_ENOMEM, "custom backward: Lua stack overflow");
    lua_rawgeti(L, LUA_REGISTRYINDEX, u->fields_ref);
    int list = lua_gettop(L), len = (int)lua_rawlen(L, list);
    for (int k = 0; k < n->noutputs; k++) lua_pushnil(L); /* list + 1 + k: output k, made once (ctx.y and
                                                              ctx.t[1] are then the same object) */
    for (int e = 1; e + 3 <= len && !st; e += 4) {
        lua_rawgeti(L, list, e);     /* the table: ctx or a plain table in one of its fields */
        lua_rawgeti(L, list, e + 1); /* the key */
        if (!put) {
            lua_pushnil(L);
        } else {
            lua_rawgeti(L, list, e + 2);
            lua_rawgeti(L, list, e + 3);
            int slot = (int)lua_tointeger(L, -2), which = (int)lua_tointeger(L, -1), at = list + 1 + which;
            lua_pop(L, 2);
            ks_tensor *t = NULL;
            if (!lua_isnil(L, at)) lua_pushvalue(L, at);
            else if ((st = ks_ag_saved_output(c, n, slot, which, &t))) lua_pushnil(L);
            else {
                ks_lua_push_tensor(L, c, t);
                lua_copy(L, -1, at);
            }
        }
        lua_rawset(L, -3);
        lua_pop(L, 1);
    }
    lua_settop(L, list - 1);
    return st;
}

/* The values backward returned, at first..top: one gradient (or nil) per
 * forward argument. Fewer is fine while the missing ones need no gradient
 * (non-tensor arguments); a missing or surplus gradient is an error, never a
 * silent zero. */
static ks_status take_grads(lua_State *L, ks_ctx *c, ks_node *n, const custom_ud *u, int first, ks_tensor **gin)
{
    int nret = lua_gettop(L) - first + 1, len = fn_name_len(u);
    char a[160], b[160];
    for (int i = 0; i < nret || i < n->ninputs; i++) {
        int idx = first + i;
        if (i >= n->ninputs) {
            if (lua_isnil(L, idx)) continue;
            return ks_error(c, KS_EINVAL, "%.*s.backward returned %d gradients, but forward took %d argument%s "
                            "(one gradient, or nil, per argument)", len, u->name, nret, n->ninputs,
                            n->ninputs == 1 ? "" : "s");
        }
        if (i >= nret) {
            if (!n->needs_grad[i]) continue;
            return ks_error(c, KS_EINVAL, "%.*s.backward returned %d gradient%s, but forward's argument %d requires "
                            "grad (return one gradient, or nil, per argument)", len, u->name, nret,
                            nret == 1 ? "" : "s", i + 1);
        }
        if (lua_isnil(L, idx) || !n->needs_grad[i]) continue; /* as PyTorch: ignored where no gradient is needed */
        ks_tensor *g = ks_lua_to_tensor(L, idx);
        if (!g || g->dtype != KS_FLOAT32)
            return ks_error(c, KS_ETYPE, "%.*s.backward: the gradient for argument %d must be a float32 tensor or nil, "
                            "got %s", len, u->name, i + 1, g ? ks_dtype_name(g->dtype) : luaL_typename(L, idx));
        if (g->ndim != n->in_ndim[i] || memcmp(g->size, n->in_size[i], sizeof(int64_t) * (size_t)g->ndim))
            return ks_error(c, KS_ESHAPE, "%.*s.backward returned a gradient of shape %s for argument %d of shape %s",
                            len, u->name, ks_shape_str(g, a, sizeof a), i + 1,
                            ks_dims_str(n->in_ndim[i], n->in_size[i], b, sizeof b));
        gin[i] = ks_tensor_retain(g);
    }
    return KS_OK;
}

/* after backward (or a failed start): take saved_tensors and the fields back
 * out of ctx (at index ctx); the re-attached outputs would hold the node from
 * ctx: a cycle */
static void clear_ctx(lua_State *L, ks_ctx *c, ks_node *n, const custom_ud *u, int ctx)
{
    if (u->nsaved) {
        lua_pushliteral(L, "saved_tensors");
        lua_pushnil(L);
        lua_rawset(L, ctx);
    }
    if (u->fields_ref != LUA_NOREF) put_fields(L, c, n, u, false);
}

static int tolstring_at1(lua_State *L)
{
    luaL_tolstring(L, 1, NULL);
    return 1;
}

/* the error value at the top as text, as lua.c's message handler words it: a
 * string or number as is, an object through its __tostring (an assertion
 * failure's table), else "(error object is a X value)"; the text replaces it */
static const char *error_text(lua_State *L)
{
    if (lua_type(L, -1) == LUA_TSTRING || lua_type(L, -1) == LUA_TNUMBER) return lua_tostring(L, -1);
    if (luaL_getmetafield(L, -1, "__tostring") != LUA_TNIL) {
        lua_pop(L, 1);
        lua_pushcfunction(L, tolstring_at1);
        lua_pushvalue(L, -2);
        if (lua_pcall(L, 1, 1, 0) == LUA_OK && lua_type(L, -1) == LUA_TSTRING) {
            lua_remove(L, -2);
            return lua_tostring(L, -1);
        }
        lua_pop(L, 1); /* __tostring failed: its own error */
    }
    const char *t = lua_pushfstring(L, "(error object is a %s value)", luaL_typename(L, -1));
    lua_remove(L, -2);
    return t;
}

static ks_status custom_backward(ks_ctx *c, ks_node *n, ks_tensor *const *gout, ks_tensor **gin)
{
    custom_ud *u = n->ud;
    lua_State *L = c->binding_state ? (lua_State *)c->binding_state : u->L0;
    int top = lua_gettop(L);
    if (!lua_checkstack(L, n->noutputs + n->ninputs + 8)) return ks_error(c, KS_ENOMEM, "custom backward: Lua stack overflow");
    lua_rawgeti(L, LUA_REGISTRYINDEX, u->ctx_ref); /* top + 1: ctx, kept to clear saved_tensors */
    ks_status st = u->nsaved ? push_saved(L, c, n, u, top + 1) : KS_OK;
    if (!st && u->fields_ref != LUA_NOREF) st = put_fields(L, c, n, u, true);
    if (st) { clear_ctx(L, c, n, u, top + 1); lua_settop(L, top); return st; }
    lua_rawgeti(L, LUA_REGISTRYINDEX, u->fn_ref);
    lua_pushvalue(L, top + 1);
    for (int k = 0; k < n->noutputs; k++) ks_lua_push_tensor(L, c, ks_tensor_retain(gout[k]));
    if (lua_pcall(L, 1 + n->noutputs, LUA_MULTRET, 0) != LUA_OK) {
        st = ks_error(c, KS_ESTATE, "%.*s.backward: %s", fn_name_len(u), u->name, error_text(L));
    } else {
        st = take_grads(L, c, n, u, top + 2, gin);
    }
    clear_ctx(L, c, n, u, top + 1);
    lua_settop(L, top);
    return st;
}

/* ------------------------------------------------------------ record */
/* the value of field k of ctx (raw, at index ctx), removed from ctx; left on the stack */
static int take_field(lua_State *L, int ctx, const char *k)
{
    lua_pushstring(L, k);
    int type = lua_rawget(L, ctx);
    if (type != LUA_TNIL) {
        lua_pushstring(L, k);
        lua_pushnil(L);
        lua_rawset(L, ctx);
    }
    return type;
}

/* the node's private data: registry refs (info.backward, ctx) and the op def named after info.name */
static custom_ud *new_ud(lua_State *L, int info, int ctx)
{
    lua_getfield(L, info, "name");
    size_t len = 0;
    const char *name = lua_tolstring(L, -1, &len);
    if (!name) name = "CustomFunction", len = strlen(name);
    custom_ud *u = malloc(sizeof *u + len + sizeof "Backward");
    if (!u) luaL_error(L, "out of memory recording a custom Function");
    memset(u, 0, sizeof *u);
    u->fields_ref = LUA_NOREF; /* 0 would be a real registry slot to luaL_unref */
    memcpy(u->name, name, len);
    memcpy(u->name + len, "Backward", sizeof "Backward");
    lua_pop(L, 1);
    u->op.name = u->name;
    u->op.backward = custom_backward;
    lua_rawgeti(L, LUA_REGISTRYINDEX, LUA_RIDX_MAINTHREAD);
    u->L0 = lua_tothread(L, -1);
    lua_pop(L, 1);
    lua_getfield(L, info, "backward");
    u->fn_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    lua_pushvalue(L, ctx);
    u->ctx_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    return u;
}

/* move ctx:save_for_backward's tensors (list at index list) into n's saved slots */
static ks_status save_tensors(lua_State *L, ks_ctx *c, ks_node *n, custom_ud *u, int list, ks_tensor *const *ins,
                              int nin, ks_tensor *const *outs, const bool *diff, int nout)
{
    lua_getfield(L, list, "n");
    int count = (int)lua_tointeger(L, -1);
    lua_pop(L, 1);
    if (count > KS_NODE_MAX_SAVED) count = KS_NODE_MAX_SAVED; /* save_for_backward checked it */
    ks_status st = KS_OK;
    for (int j = 0; j < count && !st; j++) {
        lua_geti(L, list, j + 1);
        ks_tensor *t = ks_lua_to_tensor(L, -1), *d = NULL;
        lua_pop(L, 1);
        u->nsaved = j + 1;
        if (!t) continue; /* SAVED_NIL */
        u->kind[j] = SAVED_OTHER;
        for (int i = 0; i < nin && u->kind[j] == SAVED_OTHER; i++)
            if (ins[i] == t) u->kind[j] = SAVED_INPUT, u->which[j] = (unsigned char)i;
        for (int k = 0; k < nout && u->kind[j] == SAVED_OTHER; k++)
            if (outs[k] == t && diff[k]) u->kind[j] = SAVED_OUTPUT, u->which[j] = (unsigned char)k;
        u->slot[j] = (unsigned char)n->nsaved;
        if (u->kind[j] != SAVED_OUTPUT) { st = ks_node_save(c, n, t); continue; }
        /* an output holds the node (grad_fn): the node keeps a detached alias instead */
        if (!(st = ks_detach(c, t, &d))) st = ks_node_save(c, n, d);
        ks_tensor_release(d);
    }
    return st;
}

/* the number of the differentiable output held by the value at idx, or -1.
 * A tensor's userdata is a box whose first word is its ks_tensor: compare
 * that word first (ks_lua_to_tensor's metatable check costs more than the
 * whole scan otherwise) and confirm a match properly. */
static int output_at(lua_State *L, int idx, ks_tensor *const *outs, const bool *diff, int nout)
{
    if (lua_type(L, idx) != LUA_TUSERDATA || lua_rawlen(L, idx) < sizeof(void *)) return -1;
    void *word = *(void **)lua_touserdata(L, idx);
    for (int k = 0; k < nout; k++)
        if (word == outs[k] && diff[k] && ks_lua_to_tensor(L, idx) == outs[k]) return k;
    return -1;
}

/* How deep below ctx the scan for outputs goes (ctx's own fields are depth
 * 0): deep enough for any bookkeeping a backward needs, and a bound on the
 * C recursion for a chain of tables (ctx.hist = {prev = {prev = ...}}). */
enum { SCAN_DEPTH = 16, SEEN_FAST = 16 };
/* How many fields the scan reads in all: a ctx holds a few, but one that keeps
 * a big structure (ctx.model = model, ctx.m = ks) would be walked on every
 * call; past this budget the rest is left unscanned (its outputs stay). */
enum { SCAN_FIELDS = 64 };

typedef struct {
    ks_node *n;
    custom_ud *u;
    ks_tensor *const *outs;
    const bool *diff;
    int nout, list, nlist; /* list: stack index of the {table, key, slot, output, ...} list (nil until needed) */
    int budget;            /* fields still to read (SCAN_FIELDS in all) */
    int oslot[KS_NODE_MAX_IN]; /* each output's saved slot, -1 until it has one */
    /* the tables scanned so far, each with the depth it was scanned at: the
     * first SEEN_FAST in seen[] (no allocation for a usual ctx), the rest in
     * a Lua table at stack index seen_set (nil until needed) */
    int ctx, nseen, seen_set;
    const void *seen[SEEN_FAST];
    int seen_depth[SEEN_FAST];
} field_scan;

/* Output k is the value of the key at index key in the table at tbl: it
 * moves into a saved slot (its own, or the one save_for_backward gave it)
 * and out of the table (clearing a field during lua_next is allowed). */
static ks_status take_output(lua_State *L, ks_ctx *c, field_scan *f, int tbl, int key, int k)
{
    if (f->oslot[k] < 0) {
        if (f->n->nsaved >= KS_NODE_MAX_SAVED)
            return ks_error(c, KS_EINVAL, "%.*s: at most %d tensors kept for backward (save_for_backward's and "
                            "outputs in ctx fields together)", fn_name_len(f->u), f->u->name, KS_NODE_MAX_SAVED);
        ks_tensor *d = NULL;
        ks_status st = ks_detach(c, f->outs[k], &d);
        if (!st) st = ks_node_save(c, f->n, d);
        ks_tensor_release(d);
        if (st) return st;
        f->oslot[k] = f->n->nsaved - 1;
    }
    if (lua_isnil(L, f->list)) {
        lua_createtable(L, 4, 0);
        lua_replace(L, f->list);
    }
    lua_pushvalue(L, tbl);
    lua_rawseti(L, f->list, ++f->nlist);
    lua_pushvalue(L, key);
    lua_rawseti(L, f->list, ++f->nlist);
    lua_pushinteger(L, f->oslot[k]);
    lua_rawseti(L, f->list, ++f->nlist);
    lua_pushinteger(L, k);
    lua_rawseti(L, f->list, ++f->nlist);
    lua_pushvalue(L, key);
    lua_pushnil(L);
    lua_rawset(L, tbl);
    return KS_OK;
}

/* the key at idx is "needs_input_grad" (booleans only: scanning it would
 * be half the cost of a scan that finds nothing) */
static bool is_needs_input_grad(lua_State *L, int idx)
{
    size_t len = 0;
    const char *k = lua_type(L, idx) == LUA_TSTRING ? lua_tolstring(L, idx, &len) : NULL;
    return k && len == 16 && !memcmp(k, "needs_input_grad", 16);
}

/* Whether the table at idx still needs a scan at depth: not when it was
 * scanned already at this depth or a shallower one (so a cycle or a table
 * shared by two fields is scanned once; one met first down a long path
 * is scanned again from a shorter one, whose bound reaches further). */
static bool first_visit(lua_State *L, field_scan *f, int idx, int depth)
{
    if (!f->nseen) { /* ctx itself, marked at the first table met (ctx.self = ctx) */
        f->seen[0] = lua_topointer(L, f->ctx);
        f->seen_depth[f->nseen++] = 0;
    }
    const void *p = lua_topointer(L, idx);
    int fast = f->nseen < SEEN_FAST ? f->nseen : SEEN_FAST;
    for (int i = 0; i < fast; i++) {
        if (f->seen[i] != p) continue;
        if (f->seen_depth[i] <= depth) return false;
        f->seen_depth[i] = depth;
        return true;
    }
    if (f->nseen < SEEN_FAST) {
        f->seen[f->nseen] = p;
        f->seen_depth[f->nseen++] = depth;
        return true;
    }
    if (lua_isnil(L, f->seen_set)) {
        lua_createtable(L, 0, SEEN_FAST);
        lua_replace(L, f->seen_set);
    }
    lua_pushvalue(L, idx);
    if (lua_rawget(L, f->seen_set) == LUA_TNUMBER && lua_tointeger(L, -1) <= depth) {
        lua_pop(L, 1);
        return false;
    }
    lua_pop(L, 1);
    lua_pushvalue(L, idx);
    lua_pushinteger(L, depth);
    lua_rawset(L, f->seen_set);
    f->nseen++;
    return true;
}

/* Scan the table at tbl (at depth below ctx) for outputs, and the tables in
 * its values down to SCAN_DEPTH. Raw access only (lua_next, lua_rawset): a
 * table with a metatable is scanned as plain storage, no __index, __pairs
 * or __newindex runs. Keys are not scanned. Cheap when there is nothing to
 * find: one lua_next per field (a tiny Function's ctx holds
 * needs_input_grad only), and nothing allocated for up to SEEN_FAST tables. */
static ks_status scan_fields(lua_State *L, ks_ctx *c, field_scan *f, int tbl, int depth)
{
    ks_status st = KS_OK;
    /* per level: this traversal's key and value, and a few for take_output and first_visit */
    if (!lua_checkstack(L, 8)) return ks_error(c, KS_ENOMEM, "%.*s: Lua stack overflow", fn_name_len(f->u), f->u->name);
    lua_pushnil(L);
    while (!st && lua_next(L, tbl)) {
        if (f->budget-- <= 0) { /* over budget: leave the rest (each level unwinds here) */
            lua_pop(L, 2);
            return KS_OK;
        }
        int val = lua_gettop(L), k = output_at(L, val, f->outs, f->diff, f->nout);
        if (k >= 0)
            st = take_output(L, c, f, tbl, val - 1, k);
        else if (depth < SCAN_DEPTH && lua_type(L, val) == LUA_TTABLE && !(depth == 0 && is_needs_input_grad(L, val - 1))
                 && first_visit(L, f, val, depth + 1))
            st = scan_fields(L, c, f, val, depth + 1);
        lua_pop(L, 1); /* the value; the key stays for lua_next */
    }
    if (st) lua_pop(L, 1); /* the key of the unfinished traversal */
    return st;
}

/* move the differentiable outputs kept in tables reachable from ctx (at
 * index ctx) into n's saved slots; the list of where they were stays behind
 * u->fields_ref */
static ks_status save_fields(lua_State *L, ks_ctx *c, ks_node *n, custom_ud *u, int ctx, ks_tensor *const *outs,
                             const bool *diff, int nout)
{
    field_scan f; /* not zero-filled: seen[] is read only below nseen */
    f.n = n, f.u = u, f.outs = outs, f.diff = diff, f.nout = nout, f.nlist = 0, f.ctx = ctx, f.nseen = 0;
    f.budget = SCAN_FIELDS;
    for (int k = 0; k < KS_NODE_MAX_IN; k++) f.oslot[k] = -1;
    for (int j = 0; j < u->nsaved; j++)
        if (u->kind[j] == SAVED_OUTPUT) f.oslot[u->which[j]] = u->slot[j];
    lua_pushnil(L);
    f.list = lua_gettop(L);
    lua_pushnil(L);
    f.seen_set = lua_gettop(L);
    ks_status st = scan_fields(L, c, &f, ctx, 0);
    lua_pop(L, 1); /* seen_set */
    if (!st && f.nlist) u->fields_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    else lua_pop(L, 1);
    return st;
}

/* ks._record_custom(info{backward=, name=, once=}, ctx, outs{..., n=}, inputs...) */
static int record_custom(lua_State *L)
{
    ks_ctx *c = KS_CTX(L);
    luaL_checktype(L, 1, LUA_TTABLE);
    luaL_checktype(L, 2, LUA_TTABLE);
    luaL_checktype(L, 3, LUA_TTABLE);
    int nin = lua_gettop(L) - 3;
    int saved = (take_field(L, 2, "_to_save"), lua_gettop(L));
    int nondiff = (take_field(L, 2, "_nondiff"), lua_gettop(L));
    lua_getfield(L, 1, "name");
    const char *name = luaL_optstring(L, -1, "CustomFunction");
    lua_pop(L, 1);
    if (nin > KS_NODE_MAX_IN) return luaL_error(L, "%s: at most %d forward arguments", name, KS_NODE_MAX_IN);
    ks_tensor *ins[KS_NODE_MAX_IN] = {NULL}, *outs[KS_NODE_MAX_IN] = {NULL};
    bool diff[KS_NODE_MAX_IN] = {false};
    for (int i = 0; i < nin; i++) ins[i] = ks_lua_to_tensor(L, 4 + i);
    if (!ks_ag_needs_record(c, nin, ins)) return 0;
    lua_getfield(L, 3, "n");
    lua_Integer nout = lua_isinteger(L, -1) ? lua_tointeger(L, -1) : (lua_Integer)lua_rawlen(L, 3);
    lua_pop(L, 1);
    if (nout < 1 || nout > KS_NODE_MAX_IN) return luaL_error(L, "%s.forward must return 1 to %d tensors", name, KS_NODE_MAX_IN);
    int ndiff = 0;
    for (int k = 0; k < nout; k++) {
        lua_geti(L, 3, k + 1);
        outs[k] = ks_lua_to_tensor(L, -1);
        if (!outs[k]) return luaL_error(L, "%s.forward must return tensors; result %d is a %s", name, k + 1, luaL_typename(L, -1));
        for (int i = 0; i < nin; i++)
            if (outs[k] == ins[i]) return luaL_error(L, "%s.forward returned argument %d itself; return a clone", name, i + 1);
        /* integer and bool results are never differentiable (PyTorch: the same) */
        diff[k] = outs[k]->dtype == KS_FLOAT32;
        if (diff[k] && lua_istable(L, nondiff)) {
            lua_pushvalue(L, -1);
            diff[k] = lua_rawget(L, nondiff) == LUA_TNIL;
            lua_pop(L, 1);
        }
        lua_pop(L, 1);
        ndiff += diff[k];
    }
    if (!ndiff) return 0;
    custom_ud *u = new_ud(L, 1, 2);
    ks_node *n = ks_node_new_multi(c, &u->op, nin, ins, (int)nout);
    if (!n) { custom_free(u); return ks_lua_raise(L, c); }
    n->ud = u;
    n->ud_free = custom_free;
    lua_getfield(L, 1, "once");
    n->double_backward = !lua_toboolean(L, -1);
    lua_pop(L, 1);
    ks_status st = lua_istable(L, saved) ? save_tensors(L, c, n, u, saved, ins, nin, outs, diff, (int)nout) : KS_OK;
    if (!st) st = save_fields(L, c, n, u, 2, outs, diff, (int)nout);
    if (st) { ks_node_release(n); return ks_lua_raise(L, c); }
    for (int k = 0; k < nout; k++) {
        if (diff[k]) { ks_node_set_output(n, k, outs[k]); continue; }
        /* not attached, but backward still gets a zero gradient of its shape */
        n->out_ndim[k] = outs[k]->ndim;
        memcpy(n->out_size[k], outs[k]->size, sizeof outs[k]->size);
        if (k + 1 > n->noutputs) n->noutputs = k + 1;
    }
    ks_node_release(n);
    return 0;
}

/* ks._custom_ctx(mt, args...) -> ctx {needs_input_grad = {bool per arg}} with metatable mt */
static int custom_ctx(lua_State *L)
{
    ks_ctx *c = KS_CTX(L);
    luaL_checktype(L, 1, LUA_TTABLE);
    int nargs = lua_gettop(L) - 1;
    lua_createtable(L, 0, 1);
    lua_createtable(L, nargs, 0);
    for (int i = 0; i < nargs; i++) {
        ks_tensor *t = c->grad_enabled ? ks_lua_to_tensor(L, 2 + i) : NULL;
        lua_pushboolean(L, t && t->requires_grad);
        lua_rawseti(L, -2, i + 1);
    }
    lua_setfield(L, -2, "needs_input_grad");
    lua_pushvalue(L, 1);
    lua_setmetatable(L, -2);
    return 1;
}

static const luaL_Reg functions[] = {{"_record_custom", record_custom}, {"_custom_ctx", custom_ctx}, {NULL, NULL}};

void ks_lua_open_function(lua_State *L, int module, int methods, int ctxbox)
{
    (void)methods;
    ks_lua_register(L, functions, module, ctxbox);
}
