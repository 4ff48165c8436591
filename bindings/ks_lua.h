/* ks_lua.h: shared conventions of the Lua bindings of the kshot core.
 *
 * - Every C function of the module is registered with one upvalue: the
 *   state's context box (a full userdata holding a ks_ctx*). KS_CTX(L)
 *   fetches it in O(1).
 * - A tensor is a full userdata of type KS_TENSOR_MT holding one ks_tensor*
 *   reference (NULL once released). __gc and __close share one idempotent
 *   release; using a released tensor is a Lua error, never a crash.
 * - Binding pattern: check every argument first (luaL_check*, naming the
 *   argument), push the output userdata box, run the kernel, then either
 *   fill the box or raise the context's message with ks_lua_raise. Nothing
 *   is leaked when an error is raised: the box is collected empty.
 * - Memory pacing: core allocations add to ctx->gc_debt; ks_lua_gc_pace
 *   feeds them to lua_gc(LUA_GCSTEP) in batches so the collector sees tensor
 *   memory. ks_lua_push_tensor does it for you.
 * - Dims, indices and labels are 0-based; negative dims count from the end.
 */
#ifndef KS_LUA_H
#define KS_LUA_H

#include <lauxlib.h>
#include <lua.h>

#include "../runtime/core/ks_context.h"
#include "../runtime/core/ks_tensor.h"

#define KS_TENSOR_MT "kshot.Tensor"
#define KS_GENERATOR_MT "kshot.Generator"
#define KS_CTX_MT "kshot.Context"
#define KS_VERSION "0.1.0" /* ks.version, ks.__version, kshot -v */

/* bytes of core allocation between two GC steps */
#define KS_GC_BATCH (64 * 1024)
/* at most this much tensor garbage may build up per collection cycle beyond
 * the Lua heap's own size (see ks_lua_gc_pace): small enough that freed
 * blocks come back while still in cache, large enough for 2-3 cycles per
 * step of a small CNN instead of ~25 */
#define KS_GC_SLACK ((size_t)8 << 20)

#define KS_CTX(L) (*(ks_ctx **)lua_touserdata((L), lua_upvalueindex(1)))

/* ---- context ---- */
/* The context of this Lua state (from the registry); for code without the upvalue. */
ks_ctx *ks_lua_getctx(lua_State *L);
/* Raise the context's last message as a Lua error (with position). */
int ks_lua_raise(lua_State *L, ks_ctx *c);
/* Raise if st != KS_OK. */
static inline void ks_lua_check(lua_State *L, ks_ctx *c, ks_status st)
{
    if (st != KS_OK) ks_lua_raise(L, c);
}
/* Lua's generational mode ignores LUA_GCSTEP debt for finalized userdata
 * (young collections leave unreachable tensor boxes alone until a major
 * collection, which waits for the Lua heap itself to double), so tensor
 * memory piles up; pacing therefore keeps the collector incremental.
 * A collection cycle costs about the Lua heap's size in work, whatever the
 * tensors weigh. Feeding every tensor byte as one byte of debt ran a cycle
 * per heap-size of tensor allocation: ~25 cycles per step of the main job's
 * CNN (~10% of its time, marking the same heap). So the debt is scaled by
 * heap / span, where span = the live tensor bytes clamped to
 * [heap, heap + KS_GC_SLACK]: a cycle per span bytes allocated, as Lua's
 * own pause paces its heap, with the garbage between cycles still bounded. */
static inline void ks_lua_gc_pace(lua_State *L, ks_ctx *c)
{
    if (c->gc_debt < KS_GC_BATCH) return;
    size_t heap = (size_t)lua_gc(L, LUA_GCCOUNT) << 10;
    size_t live = atomic_load(&c->live_bytes);
    size_t span = live < heap ? heap : (live - heap > KS_GC_SLACK ? heap + KS_GC_SLACK : live);
    size_t kb = span ? (size_t)((double)c->gc_debt * (double)heap / (double)span) >> 10 : c->gc_debt >> 10;
    if (kb == 0) return; /* keep the debt until it is worth a step */
    c->gc_debt = 0;
    lua_gc(L, LUA_GCINC, 0, 0, 0);
    lua_gc(L, LUA_GCSTEP, (int)(kb > 1000000 ? 1000000 : kb));
}

/* ---- tensors ---- */
/* Push a new empty box (call before running the kernel). Returns the slot. */
ks_tensor **ks_lua_newbox(lua_State *L);
/* The body of a binding that returns one new tensor: push its box first (so
 * that an error or the GC step of filling it cannot leak it), run `call`,
 * which sets the ks_tensor *r it declares, and return the filled box. Needs
 * `L` and `c` (the context) in scope. */
#define KS_LUA_NEW_RESULT(call)                                \
    do {                                                       \
        ks_tensor **box_ = ks_lua_newbox(L);                   \
        ks_tensor *r = NULL;                                   \
        if ((call) != KS_OK) return ks_lua_raise(L, c);        \
        ks_lua_fillbox(L, c, box_, r);                         \
        return 1;                                              \
    } while (0)
/* Fill the box at the top of the stack (steals t's reference) and pace the GC. */
void ks_lua_fillbox(lua_State *L, ks_ctx *c, ks_tensor **box, ks_tensor *t);
/* Push t (steals the reference): newbox + fillbox. On a Lua memory error t is released. */
void ks_lua_push_tensor(lua_State *L, ks_ctx *c, ks_tensor *t);
/* Tensor argument `arg`, error "bad argument #arg to 'f' (kshot.Tensor expected, got X)" */
ks_tensor *ks_lua_check_tensor(lua_State *L, int arg);
/* NULL when the value is not a tensor (or released). */
ks_tensor *ks_lua_to_tensor(lua_State *L, int idx);
/* Tensor, or a Lua number / boolean / nested table converted to a tensor of
 * dtype `dt` (-1: float32 for numbers, bool for booleans). The converted
 * tensor is left on the stack in place of the argument. */
ks_tensor *ks_lua_check_tensorlike(lua_State *L, int arg, int dt);

/* t[key] and t[key] = v for non-string keys (ks_lua_index.c): integer
 * (0-based, negative from the end), or a table of per-dim entries: an
 * integer, {start, stop[, step]} (stop exclusive), {} for all, a bool/int64
 * tensor mask or index. Stack: 1 tensor, 2 key[, 3 value]. */
int ks_lua_index_get(lua_State *L, ks_ctx *c);
int ks_lua_index_set(lua_State *L, ks_ctx *c);

/* ---- generators (ks_lua_random.c) ----
 * A kshot.Generator is a full userdata whose first field is a non-NULL
 * ks_generator* (so luaL_testudata(L, i, KS_GENERATOR_MT) gives a
 * ks_generator **). The value at idx: a Generator -> its generator; nil or
 * none -> NULL (meaning the state's default, ctx->gen); else a Lua error. */
ks_generator *ks_lua_opt_generator(lua_State *L, int idx);

/* ---- arguments ---- */
/* dtype by name ("float32", "int64", "uint8", "bool") or `def` when absent */
const char *ks_lua_dtype_hint(const char *name);
ks_dtype ks_lua_opt_dtype(lua_State *L, int arg, ks_dtype def);
/* A dim argument (integer, may be negative), normalised against ndim. */
int ks_lua_check_dim(lua_State *L, ks_ctx *c, int arg, int ndim);
/* Shape from varargs of integers starting at `arg`, or from one table
 * {2, 3} at `arg`. Returns ndim; stops at the first non-number. */
int ks_lua_check_shape(lua_State *L, int arg, int64_t *size);
/* Push a shape or stride list: a Lua array {v[0], ...} with the kshot.Size
 * metatable (prints as {2, 3}, == by contents); ks_lua_open_size creates the
 * metatable (ks_lua_size.c). */
void ks_lua_push_dims(lua_State *L, int n, const int64_t *v);
void ks_lua_open_size(lua_State *L);
/* Install the tensor functions written in Lua (kshot.tensor_extra) on first
 * use; 1 when this call installed them (ks_lua_module.c). */
int ks_lua_load_extras(lua_State *L);
/* Read a boolean option field of a table at `arg` (absent -> def). */
int ks_lua_opt_boolfield(lua_State *L, int arg, const char *key, int def);
/* Raise (through kshot.options.check, which words the message for every
 * module) when the options table at `arg` has a key not in `known` (a
 * NULL-terminated list); no-op when arg is not a table. */
void ks_lua_check_known(lua_State *L, int arg, const char *op, const char *const *known);

/* ---- registration ----
 * Each binding file exports one function that adds its functions to the
 * module table (at stack index `module`) and methods to the tensor method
 * table (at `methods`). Both use the ctx box upvalue (at `ctxbox`).
 * KS_REG_BOTH registers a luaL_Reg list in both tables. */
void ks_lua_register(lua_State *L, const luaL_Reg *regs, int table, int ctxbox);
/* Push a new sub-table (ks.data, ks.augment, ...) holding regs; when
 * lua_module is given, a missing key loads that Lua module (which adds the
 * Lua-side functions to the same table) and is looked up again. */
void ks_lua_new_subtable(lua_State *L, const luaL_Reg *regs, int ctxbox, const char *lua_module);
typedef void (*ks_lua_open_fn)(lua_State *L, int module, int methods, int ctxbox);

void ks_lua_open_tensor(lua_State *L, int module, int methods, int ctxbox);      /* ks_lua_tensor.c */
void ks_lua_open_create(lua_State *L, int module, int methods, int ctxbox);      /* ks_lua_create.c */
void ks_lua_open_random(lua_State *L, int module, int methods, int ctxbox);      /* ks_lua_random.c */
void ks_lua_open_index(lua_State *L, int module, int methods, int ctxbox);       /* ks_lua_index.c */
void ks_lua_open_print(lua_State *L, int module, int methods, int ctxbox);       /* ks_lua_print.c */
void ks_lua_open_elementwise(lua_State *L, int module, int methods, int ctxbox); /* ks_lua_elementwise.c */
void ks_lua_open_reduce(lua_State *L, int module, int methods, int ctxbox);      /* ks_lua_reduce.c */
void ks_lua_open_linalg(lua_State *L, int module, int methods, int ctxbox);      /* ks_lua_linalg.c */
void ks_lua_open_lapack(lua_State *L, int module, int methods, int ctxbox);      /* ks_lua_lapack.c: ks.linalg */
void ks_lua_open_select(lua_State *L, int module, int methods, int ctxbox);      /* ks_lua_select.c */
void ks_lua_open_shape(lua_State *L, int module, int methods, int ctxbox);       /* ks_lua_shape.c */
void ks_lua_open_system(lua_State *L, int module, int methods, int ctxbox);      /* ks_lua_system.c */
void ks_lua_open_data(lua_State *L, int module, int methods, int ctxbox);        /* ks_lua_data.c */
void ks_lua_open_autograd(lua_State *L, int module, int methods, int ctxbox);    /* ks_lua_autograd.c */
void ks_lua_open_function(lua_State *L, int module, int methods, int ctxbox);    /* ks_lua_function.c (from ks_lua_open_autograd) */
void ks_lua_open_nn(lua_State *L, int module, int methods, int ctxbox);          /* ks_lua_nn.c */
void ks_lua_open_augment(lua_State *L, int module, int methods, int ctxbox);     /* ks_lua_augment.c */
void ks_lua_open_optim(lua_State *L, int module, int methods, int ctxbox);       /* ks_lua_optim.c */
void ks_lua_open_io(lua_State *L, int module, int methods, int ctxbox);          /* ks_lua_io.c */
void ks_lua_open_metrics(lua_State *L, int module, int methods, int ctxbox);     /* ks_lua_metrics.c */
void ks_lua_open_composed_kernels(lua_State *L, int module, int methods, int ctxbox);   /* ks_lua_composed_kernels.c */
/* autograd properties (t.grad, t.grad_fn, t.is_leaf; setting t.grad, t.requires_grad):
 * push the value / perform the assignment and return 1, or return 0 if k is not one */
int ks_lua_autograd_property(lua_State *L, ks_tensor *t, const char *k);
int ks_lua_autograd_setproperty(lua_State *L, ks_tensor *t, const char *k);

/* Put the Lua-side modules (kshot.nn, kshot.data, ...) on package.path, once
 * per state: $KSHOT_LUA_DIR, else next to the binary (ks_lua_module.c). The
 * host calls it at start-up so `require "kshot.nn"` works before `require "kshot"`. */
void ks_lua_add_path(lua_State *L);
/* ... and keep one copy of each kshot.* Lua module per state, even when
 * package.loaded is emptied (busted between spec files): ks_lua_module_cache.c */
void ks_lua_add_module_cache(lua_State *L);
/* put every cached kshot.* module back into package.loaded (a second require "kshot") */
void ks_lua_restore_modules(lua_State *L);

/* The module opener (kshot.so exports it; the host preloads it). */
int luaopen_kshot(lua_State *L);
/* openers of the Lua-side modules for the all-in-one loader (ks_lua_module.c) */
int luaopen_kshot_nn(lua_State *L);

#endif
