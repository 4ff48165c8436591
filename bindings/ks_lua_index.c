/* ks_lua_index.c: t[key] and t[key] = value.
 *
 * Keys (0-based, negative counts from the end):
 *   t[i]              select on dim 0 -> a view. On a 1-D tensor this is a
 *                     0-d tensor view (as in PyTorch); use t[i]:item().
 *   t[{e1, e2, ...}]  one entry per dim, left to right:
 *       integer       select (the dim disappears)
 *       {start, stop[, step]}  slice, stop exclusive, Python clamping;
 *                     nil start/stop = from the beginning / to the end
 *                     (for negative steps: from the end / to the beginning)
 *       {} or ":"   the whole dim (ks.all is the reduction, as torch.all)
 *       "..."         as many whole dims as needed
 *       int64 tensor  index (a copy; the result has the index's shape in
 *                     place of the dim). Several index tensors index
 *                     together, broadcast: x[{rows, cols}][i] =
 *                     x[rows[i]][cols[i]] (PyTorch's x[rows, cols])
 *       bool/uint8 tensor     mask over as many dims as it has (a copy; those
 *                     dims become one dim of the selected count); joined by
 *                     other index tensors, a mask is the index tensors of its
 *                     set positions (mask:nonzero()'s columns), as in PyTorch
 *   t[mask] / t[index] a tensor key alone is a one-entry key.
 * Several index tensors follow PyTorch: integers select first (their dims
 * go away), then the index tensors' broadcast shape replaces their dims
 * where those dims are adjacent (x[{":", i, j}], also x[{i, 0, j}]), and
 * goes first when slices separate them (x[{i, ":", j}] -> [B, size(1)]).
 * An integer out of range raises "index i is out of bounds for dimension d
 * with size n" at the nearest Lua caller's file:line (also when the lookup
 * comes from C, e.g. ipairs's iterator); i == n adds that indices are 0-based
 * and how to loop (ipairs(t) starts at 1: Lua 5.4 has no __ipairs).
 * Integers and slices give views (writes go through to t); index tensors
 * and masks give copies. Entries may not be nil (Lua tables cannot hold
 * holes): use {} or ":".
 *
 * Assignment t[key] = value: value is a number, boolean, tensor (broadcast
 * to the selected region, converted to t's dtype) or nested table. With a
 * mask or index the selected elements are written in place (masked fill /
 * index copy; a repeated position keeps the last value written, as
 * PyTorch's index_put_ without accumulate on CPU). A number must fit t's
 * dtype (int64/uint8: not NaN/inf, in range; see ks_check_fill_value),
 * else an error names it. In-place writes are refused on a tensor that requires grad
 * while grad mode is on.
 *
 * ks._index_put(t, indices, values, inplace): index_put / index_put_ (kshot/tensor_shape_extra.lua)
 * as a clone and this assignment in one call, for plain arguments.
 */
#include "ks_lua.h"
#include "../runtime/core/ks_fill.h"
#include "../runtime/core/ks_grad_select.h"
#include "../runtime/core/ks_grad_ops.h"
#include "../runtime/core/ks_grad_views.h"
#include "../runtime/core/ks_indexing.h"

#include <string.h>

#define MAX_ENTRIES (KS_MAX_DIMS + 4)
#define SHAPE_MAX (2 * KS_MAX_DIMS + 1) /* room for a result shape before it is checked */

typedef enum { E_INT, E_SLICE, E_ALL, E_ELLIPSIS, E_INDEX, E_MASK } ekind;

typedef struct entry {
    ekind kind;
    int64_t a, b, step;   /* E_INT: a; E_SLICE: start, stop, step (defaults resolved) */
    ks_tensor *t;         /* E_INDEX / E_MASK: borrowed from the key on the stack */
} entry;

typedef struct key {
    int n;
    entry e[MAX_ENTRIES];
    int consumed;        /* dims consumed by entries other than "..." */
    int nadv;
} key;

/* ------------------------------------------------------------- parsing */
static int64_t int_of(lua_State *L, int idx, const char *what)
{
    int ok;
    lua_Integer v = lua_tointegerx(L, idx, &ok);
    if (!ok) {
        if (lua_type(L, idx) == LUA_TNUMBER)
            luaL_error(L, "%s must be an integer, got %s", what, lua_tostring(L, idx));
        luaL_error(L, "%s must be an integer, got %s", what, luaL_typename(L, idx));
    }
    return v;
}

/* Slice field i (1 start, 2 stop, 3 step) of the table at idx, or def when nil. */
static int64_t slice_field(lua_State *L, int idx, int i, int pos, int64_t def)
{
    static const char *names[] = {"", "start", "stop", "step"};
    int64_t v = def;
    if (lua_rawgeti(L, idx, i) != LUA_TNIL) {
        int ok;
        v = lua_tointegerx(L, -1, &ok);
        if (!ok) {
            const char *got = lua_type(L, -1) == LUA_TNUMBER ? lua_tostring(L, -1) : luaL_typename(L, -1);
            luaL_error(L, "index entry %d: slice %s must be an integer, got %s", pos, names[i], got);
        }
    }
    lua_pop(L, 1);
    return v;
}

static void parse_slice(lua_State *L, int idx, int pos, entry *e)
{
    if (lua_rawlen(L, idx) > 3 || lua_rawgeti(L, idx, 4) != LUA_TNIL)
        luaL_error(L, "index entry %d: a slice is {start, stop[, step]}, got a table with more than 3 entries", pos);
    lua_pop(L, 1);
    e->kind = E_SLICE;
    e->step = slice_field(L, idx, 3, pos, 1);
    if (e->step == 0) luaL_error(L, "index entry %d: slice step cannot be zero", pos);
    e->a = slice_field(L, idx, 1, pos, e->step > 0 ? 0 : INT64_MAX);
    e->b = slice_field(L, idx, 2, pos, e->step > 0 ? INT64_MAX : INT64_MIN);
    if (e->a == 0 && e->b == INT64_MAX && e->step == 1) e->kind = E_ALL;
}

/* One entry from the value at idx (pos: 1-based position for messages). */
static void parse_entry(lua_State *L, int idx, int pos, entry *e)
{
    idx = lua_absindex(L, idx);
    switch (lua_type(L, idx)) {
    case LUA_TNUMBER:
        e->kind = E_INT;
        e->a = int_of(L, idx, "index");
        return;
    case LUA_TTABLE:
        parse_slice(L, idx, pos, e);
        return;
    case LUA_TSTRING: {
        const char *s = lua_tostring(L, idx);
        if (strcmp(s, ":") == 0) { e->kind = E_ALL; return; }
        if (strcmp(s, "...") == 0) { e->kind = E_ELLIPSIS; return; }
        luaL_error(L, "index entry %d: unknown string '%s' (expected \":\" or \"...\")", pos, s);
        return;
    }
    case LUA_TUSERDATA: {
        ks_tensor *t = ks_lua_to_tensor(L, idx);
        if (!t) break;
        if (t->dtype == KS_INT64) e->kind = E_INDEX;
        else if (t->dtype == KS_BOOL || t->dtype == KS_UINT8) e->kind = E_MASK;
        else
            luaL_error(L, "index entry %d: tensors used as indices must be int64 (index) or bool/uint8 (mask), got %s",
                       pos, ks_dtype_name(t->dtype));
        e->t = t;
        return;
    }
    default: break;
    }
    luaL_error(L, "index entry %d: expected an integer, a slice table, \":\", \"...\" or a tensor, got %s", pos,
               luaL_typename(L, idx));
}

static void add_entry(lua_State *L, key *k, int idx, int pos)
{
    if (k->n == MAX_ENTRIES) luaL_error(L, "too many indices (%d)", MAX_ENTRIES + 1);
    entry *e = &k->e[k->n++];
    memset(e, 0, sizeof *e);
    parse_entry(L, idx, pos, e);
    if (e->kind == E_MASK) k->consumed += e->t->ndim;
    else if (e->kind != E_ELLIPSIS) k->consumed++;
    if (e->kind == E_INDEX || e->kind == E_MASK) k->nadv++;
}

static void parse_key(lua_State *L, const ks_tensor *t, key *k)
{
    memset(k, 0, sizeof *k);
    if (lua_type(L, 2) == LUA_TTABLE) {
        lua_Integer n = (lua_Integer)lua_rawlen(L, 2);
        for (lua_Integer i = 1; i <= n; i++) {
            lua_rawgeti(L, 2, i);
            if (lua_isnil(L, -1)) luaL_error(L, "index entry %d is nil (use {} or \":\" for a whole dim)", (int)i);
            add_entry(L, k, -1, (int)i);
            lua_pop(L, 1);
        }
    } else if (lua_type(L, 2) == LUA_TNUMBER || ks_lua_to_tensor(L, 2)) {
        add_entry(L, k, 2, 1);
    } else {
        luaL_error(L, "tensor index must be an integer, a table of per-dim entries or a tensor, got %s",
                   luaL_typename(L, 2));
    }
    int ell = 0;
    for (int i = 0; i < k->n; i++) ell += k->e[i].kind == E_ELLIPSIS;
    if (ell > 1) luaL_error(L, "an index can only have a single ellipsis (\"...\")");
    if (k->nadv > 1)
        for (int i = 0; i < k->n; i++)
            if (k->e[i].kind == E_MASK && k->e[i].t->ndim == 0)
                luaL_error(L, "index entry %d: a 0-dim mask cannot be combined with other index tensors", i + 1);
    if (t->ndim == 0 && k->n > 0 && k->e[0].kind != E_ELLIPSIS && !(k->e[0].kind == E_MASK && k->e[0].t->ndim == 0))
        luaL_error(L, "invalid index of a 0-dim tensor (use t:item() to read its value)");
    if (k->consumed > t->ndim)
        luaL_error(L, "too many indices for tensor of dimension %d (got %d)", t->ndim, k->consumed);
}

/* ----------------------------------------------------- basic indexing */
/* The key's advanced entries. apply_basic notes each with the view dim it
 * starts at; prepare_adv then leaves either a mask alone (`mask`, over the
 * view dims from `dim`) or n index tensors ix[] over the view dims dim ..
 * dim + n - 1 (masks joined by other indices expanded to coordinates). */
typedef struct adv {
    const entry *e;                /* the first advanced entry (NULL: none) */
    const ks_tensor *mask;         /* a mask alone, after prepare_adv */
    int n;                         /* entries noted, then index tensors */
    int dim;                       /* view dim where the advanced dims start */
    const entry *ents[KS_MAX_DIMS];
    ks_tensor *ix[KS_MAX_DIMS];    /* borrowed from the key or from boxes on the stack */
    int vdim[KS_MAX_DIMS];         /* view dim of each entry / index */
    int orig[KS_MAX_DIMS];         /* dim of the original tensor (messages) */
} adv;

/* view dims the advanced entries consume (merged into one for the lookup) */
static int adv_span(const adv *a) { return a->mask ? a->mask->ndim : a->n; }

/* parse_key allows a 0-dim mask only alone, so at most KS_MAX_DIMS entries */
static void note_adv(adv *a, const entry *e, int vdim, int orig)
{
    if (!a->e) a->e = e;
    a->ents[a->n] = e, a->vdim[a->n] = vdim, a->orig[a->n] = orig;
    a->n++;
}

static void put(ks_tensor **box, ks_tensor *r)
{
    ks_tensor_release(*box);
    *box = r;
}

/* Python slice of a dim of size n: first index, length and a step clamped
 * to the size (same elements; keeps stride * step from overflowing). */
static void resolve_slice(const entry *e, int64_t n, int64_t *start, int64_t *len, int64_t *step)
{
    int64_t a = e->a, b = e->b, st = e->step, lim = n > 0 ? n : 1;
    if (a < 0) a += n;
    if (b < 0) b += n;
    if (st > 0) {
        if (st > lim) st = lim;
        a = a < 0 ? 0 : a > n ? n : a;
        b = b < a ? a : b > n ? n : b;
        *len = b == a ? 0 : 1 + (b - a - 1) / st;
    } else {
        if (st < -lim) st = -lim;
        a = a < -1 ? -1 : a > n - 1 ? n - 1 : a;
        b = b < -1 ? -1 : b > a ? a : b;
        *len = a == b ? 0 : 1 + (a - b - 1) / -st;
    }
    *start = *len > 0 ? a : 0;
    *step = st;
}

/* "file:line: " of the nearest Lua function on the call stack: t[i] runs in
 * __index, which may be called from C (ipairs's iterator), whose frame has no
 * line; luaL_error's level 1 would then give no position. */
static void push_lua_where(lua_State *L)
{
    lua_Debug ar;
    for (int level = 1; lua_getstack(L, level, &ar); level++) {
        lua_getinfo(L, "Sl", &ar);
        if (ar.currentline > 0) {
            lua_pushfstring(L, "%s:%d: ", ar.short_src, ar.currentline);
            return;
        }
    }
    lua_pushliteral(L, "");
}

/* Raise "index i is out of bounds ..."; one past the end (the last probe of
 * ipairs, or a 1-based habit) adds how to loop. Kept out of line: the error
 * path only. */
__attribute__((noinline, cold)) static int out_of_bounds(lua_State *L, int64_t idx, int dim, int64_t n)
{
    const char *hint = idx != n ? ""
                       : dim == 0 ? "; tensor indices are 0-based: loop with `for i = 0, #t - 1 do ... t[i] ... end` "
                                    "(ipairs(t) starts at 1 and skips row 0)"
                                  : "; tensor indices are 0-based (0 to size - 1)";
    push_lua_where(L);
    lua_pushfstring(L, "index %I is out of bounds for dimension %d with size %I%s", (lua_Integer)idx, dim,
                    (lua_Integer)n, hint);
    lua_concat(L, 2);
    return lua_error(L);
}

static void check_int(lua_State *L, int64_t idx, int64_t n, int orig)
{
    if (idx < -n || idx >= n) out_of_bounds(L, idx, orig, n);
}

/* t has exactly these sizes (and strides, unless stride is NULL) */
static bool same_dims(const ks_tensor *t, int nd, const int64_t *size, const int64_t *stride)
{
    if (nd != t->ndim) return false;
    for (int d = 0; d < nd; d++)
        if (size[d] != t->size[d] || (stride && stride[d] != t->stride[d])) return false;
    return true;
}

/* Without autograd: the whole view's geometry in one pass, one allocation. */
static void basic_geometry(lua_State *L, ks_ctx *c, ks_tensor **box, const key *k, adv *a)
{
    const ks_tensor *t = *box;
    int64_t size[KS_MAX_DIMS], stride[KS_MAX_DIMS], off = t->offset;
    int nd = 0, src = 0;
    for (int i = 0; i < k->n; i++) {
        const entry *e = &k->e[i];
        int span = 1;
        switch (e->kind) {
        case E_INT: {
            int64_t n = t->size[src], idx = e->a;
            check_int(L, idx, n, src);
            off += (idx < 0 ? idx + n : idx) * t->stride[src];
            src++;
            continue;
        }
        case E_SLICE: {
            int64_t start, len, step;
            resolve_slice(e, t->size[src], &start, &len, &step);
            off += start * t->stride[src];
            size[nd] = len;
            stride[nd++] = t->stride[src++] * step;
            continue;
        }
        case E_ELLIPSIS: span = t->ndim - k->consumed; break;
        case E_MASK:
            span = e->t->ndim;
            note_adv(a, e, nd, src);
            break;
        case E_INDEX:
            note_adv(a, e, nd, src);
            break;
        case E_ALL: break;
        }
        for (int j = 0; j < span; j++, src++, nd++) {
            size[nd] = t->size[src];
            stride[nd] = t->stride[src];
        }
    }
    for (; src < t->ndim; src++, nd++) {
        size[nd] = t->size[src];
        stride[nd] = t->stride[src];
    }
    /* t[idx], t[{":", idx}]: an index or mask copies next, so the unchanged
     * geometry needs no view of its own (t[{":"}] still gets one: a new tensor) */
    if (a->e && off == t->offset && same_dims(t, nd, size, stride)) return;
    ks_tensor *r;
    if (ks_tensor_view_of(c, t, nd, size, stride, off, &r)) ks_lua_raise(L, c);
    put(box, r);
}

/* A key of only ":" and "..." (or none) selects all of *box: the result is
 * still a new tensor, as without grad, so setting its fields (requires_grad,
 * .grad, retain_grad) leaves the indexed tensor alone. Recorded as
 * PyTorch does: a full slice of dim 0 when the key has a ":", else an alias. */
static void record_new_view(lua_State *L, ks_ctx *c, ks_tensor **box, bool full_slice)
{
    ks_tensor *t = *box, *r;
    int64_t args[4] = {0, 0, t->ndim ? t->size[0] : 0, 1};
    ks_status st = full_slice ? ks_slice(c, t, 0, 0, args[2], 1, &r)
                              : ks_tensor_view_of(c, t, t->ndim, t->size, t->stride, t->offset, &r);
    if (st) ks_lua_raise(L, c);
    ks_tensor_retain(t);
    put(box, r);
    st = ks_ag_record_view(c, full_slice ? KS_VIEW_SLICE : KS_VIEW_ALIAS, args, full_slice ? 4 : 0, t, r);
    ks_tensor_release(t);
    if (st) ks_lua_raise(L, c);
}

/* Apply integers, slices and ellipses to *box (in place: the box holds the
 * current view). With `record`, one view op at a time so autograd records
 * each (select/slice nodes); else basic_geometry. */
static void apply_basic(lua_State *L, ks_ctx *c, ks_tensor **box, const key *k, adv *a, bool record)
{
    a->e = NULL, a->mask = NULL, a->n = 0;
    if (!record) {
        basic_geometry(L, c, box, k, a);
        return;
    }
    int d = 0, orig = 0, ndim0 = (*box)->ndim;
    ks_tensor *t0 = *box;
    bool any_all = false;
    for (int i = 0; i < k->n; i++) {
        const entry *e = &k->e[i];
        ks_tensor *cur = *box, *r = NULL;
        ks_status st = KS_OK;
        int64_t args[4];
        switch (e->kind) {
        case E_INT:
            check_int(L, e->a, cur->size[d], orig);
            args[0] = d, args[1] = e->a;
            if (ks_select(c, cur, d, e->a, &r)) ks_lua_raise(L, c);
            ks_tensor_retain(cur);
            put(box, r);
            st = ks_ag_record_view(c, KS_VIEW_SELECT, args, 2, cur, r);
            ks_tensor_release(cur);
            orig++;
            break;
        case E_SLICE: {
            int64_t start, len, step;
            resolve_slice(e, cur->size[d], &start, &len, &step);
            args[0] = d, args[1] = e->a, args[2] = e->b, args[3] = step;
            if (ks_slice(c, cur, d, e->a, e->b, step, &r)) ks_lua_raise(L, c);
            ks_tensor_retain(cur);
            put(box, r);
            st = ks_ag_record_view(c, KS_VIEW_SLICE, args, 4, cur, r);
            ks_tensor_release(cur);
            d++, orig++;
            break;
        }
        case E_ALL: d++, orig++, any_all = true; break;
        case E_ELLIPSIS: {
            int span = ndim0 - k->consumed;
            d += span, orig += span;
            break;
        }
        case E_INDEX:
        case E_MASK:
            note_adv(a, e, d, orig);
            d += e->kind == E_MASK ? e->t->ndim : 1;
            orig += e->kind == E_MASK ? e->t->ndim : 1;
            break;
        }
        if (st) ks_lua_raise(L, c);
    }
    if (!a->e && *box == t0) record_new_view(L, c, box, any_all);
}

/* ------------------------------------------------- advanced indexing */
/* A mask covers the view's dims from vdim with exactly their sizes. */
static void check_mask(lua_State *L, const ks_tensor *view, const ks_tensor *mask, int vdim, int orig)
{
    for (int j = 0; j < mask->ndim; j++)
        if (mask->size[j] != view->size[vdim + j]) {
            char ms[160], vs[160];
            luaL_error(L, "the shape of the mask %s at index %d does not match the shape of the indexed tensor %s at index %d",
                       ks_shape_str(mask, ms, sizeof ms), j, ks_shape_str(view, vs, sizeof vs), orig + j);
        }
}

/* A mask joined by other index tensors indexes as the columns of its
 * nonzero(): one 1-D index tensor per mask dim (PyTorch does the same).
 * The columns live in boxes pushed on the stack. Returns the count added. */
static int mask_coords(lua_State *L, ks_ctx *c, const ks_tensor *view, const entry *e, int vdim, int orig,
                       ks_tensor **ix)
{
    check_mask(L, view, e->t, vdim, orig);
    ks_tensor **nz = ks_lua_newbox(L);
    if (ks_nonzero(c, e->t, nz)) ks_lua_raise(L, c);
    for (int j = 0; j < e->t->ndim; j++) {
        ks_tensor **col = ks_lua_newbox(L);
        if (ks_select(c, *nz, 1, j, col)) ks_lua_raise(L, c);
        ix[j] = *col;
    }
    return e->t->ndim;
}

/* Index tensors on adjacent view dims index in place; separated ones (a
 * slice between them) move their dims to the front, in key order, so the
 * broadcast index dims come first in the result (PyTorch's rule). The move
 * is a permute view, recorded for autograd with `record`. */
static void gather_adv_dims(lua_State *L, ks_ctx *c, ks_tensor **box, adv *a, bool record)
{
    a->dim = a->vdim[0];
    bool adjacent = true;
    for (int i = 1; i < a->n; i++) adjacent = adjacent && a->vdim[i] == a->vdim[0] + i;
    if (adjacent) return;
    ks_tensor *cur = *box, *r;
    int perm[KS_MAX_DIMS], np = 0;
    bool used[KS_MAX_DIMS] = {false};
    for (int i = 0; i < a->n; i++) perm[np++] = a->vdim[i], used[a->vdim[i]] = true;
    for (int d = 0; d < cur->ndim; d++)
        if (!used[d]) perm[np++] = d;
    int64_t args[KS_MAX_DIMS];
    for (int d = 0; d < np; d++) args[d] = perm[d];
    if (ks_permute(c, cur, perm, &r)) ks_lua_raise(L, c);
    ks_tensor_retain(cur);
    put(box, r);
    ks_status st = record ? ks_ag_record_view(c, KS_VIEW_PERMUTE, args, np, cur, r) : KS_OK;
    ks_tensor_release(cur);
    if (st) ks_lua_raise(L, c);
    for (int i = 0; i < a->n; i++) a->vdim[i] = i;
    a->dim = 0;
}

/* After apply_basic: a mask alone stays a mask; otherwise every advanced
 * entry becomes index tensors (a->ix) whose dims are then made adjacent. */
static void prepare_adv(lua_State *L, ks_ctx *c, ks_tensor **box, adv *a, bool record)
{
    if (a->n == 1 && a->e->kind == E_MASK) {
        a->mask = a->e->t;
        a->dim = a->vdim[0];
        return;
    }
    int n = 0, vdim[KS_MAX_DIMS], orig[KS_MAX_DIMS];
    for (int i = 0; i < a->n; i++) {
        const entry *e = a->ents[i];
        int k = 1;
        if (e->kind == E_MASK) k = mask_coords(L, c, *box, e, a->vdim[i], a->orig[i], a->ix + n);
        else a->ix[n] = e->t;
        for (int j = 0; j < k; j++) vdim[n + j] = a->vdim[i] + j, orig[n + j] = a->orig[i] + j;
        n += k;
    }
    a->n = n;
    memcpy(a->vdim, vdim, sizeof(int) * (size_t)n);
    memcpy(a->orig, orig, sizeof(int) * (size_t)n);
    gather_adv_dims(L, c, box, a, record);
}

/* Row-major positions in the merged dims of n adjacent index tensors,
 * broadcast together (x[{rows, cols}]: element i reads (rows[i], cols[i])).
 * idx_shape receives the broadcast shape. */
static ks_tensor *tuple_positions(lua_State *L, ks_ctx *c, const ks_tensor *view, const adv *a, int *idx_ndim,
                                  int64_t *idx_shape)
{
    int nd = 0;
    int64_t shape[KS_MAX_DIMS];
    for (int i = 0; i < a->n; i++) {
        const ks_tensor *ix = a->ix[i];
        int64_t out[KS_MAX_DIMS];
        int on;
        if (ks_broadcast_shapes(c, nd, shape, ix->ndim, ix->size, &on, out)) {
            char xs[160], ss[160];
            luaL_error(L, "shape mismatch: index tensors could not be broadcast together: %s and %s",
                       ks_dims_str(nd, shape, ss, sizeof ss), ks_shape_str(ix, xs, sizeof xs));
        }
        nd = on;
        memcpy(shape, out, sizeof(int64_t) * (size_t)on);
    }
    int64_t count = 1;
    for (int d = 0; d < nd; d++) count *= shape[d];
    ks_tensor **pbox = ks_lua_newbox(L), *r;
    if (ks_tensor_empty(c, KS_INT64, 1, &count, &r)) ks_lua_raise(L, c);
    *pbox = r;
    int64_t *o = ks_tensor_data(r);
    for (int64_t j = 0; j < count; j++) o[j] = 0;
    for (int i = 0; i < a->n; i++) { /* o = o * size_i + index_i, index_i broadcast to the shape */
        const ks_tensor *ix = a->ix[i];
        int64_t st[KS_MAX_DIMS], at[KS_MAX_DIMS] = {0}, p = 0, n = view->size[a->dim + i];
        int lead = nd - ix->ndim; /* read in place through broadcast strides (0 on new and size-1 dims) */
        for (int d = 0; d < nd; d++) st[d] = d < lead || ix->size[d - lead] == 1 ? 0 : ix->stride[d - lead];
        const int64_t *v = ks_tensor_data(ix);
        for (int64_t j = 0; j < count; j++) {
            int64_t x = v[p];
            if (x < -n || x >= n)
                luaL_error(L, "index %I is out of bounds for dimension %d with size %I", (lua_Integer)x, a->orig[i],
                           (lua_Integer)n);
            o[j] = o[j] * n + (x < 0 ? x + n : x);
            for (int d = nd - 1; d >= 0; d--) { /* step the row-major position */
                p += st[d];
                if (++at[d] < shape[d]) break;
                p -= st[d] * shape[d];
                at[d] = 0;
            }
        }
    }
    *idx_ndim = nd;
    memcpy(idx_shape, shape, sizeof(int64_t) * (size_t)nd);
    return r; /* owned by pbox, left on the stack */
}

/* A 1-D contiguous index whose values are all in [0, n) already is its own
 * positions: no copy, no box (the key on the stack keeps it alive). */
static bool usable_as_is(const ks_tensor *ix, const ks_tensor *view, int64_t n)
{
    if (ix->ndim != 1 || (ix->stride[0] != 1 && ix->size[0] > 1) || ix->storage == view->storage) return false;
    const int64_t *v = ks_tensor_data(ix);
    for (int64_t i = 0; i < ix->numel; i++)
        if (v[i] < 0 || v[i] >= n) return false;
    return true;
}

/* A 1-D int64 tensor of positions along the view's dim a->dim: the index
 * values wrapped and range-checked, or the row-major positions of the set
 * mask entries (mask dims merged). idx_shape receives the shape the index
 * contributes to the result. With `borrow`, a usable_as_is index is
 * returned itself (not when autograd keeps the positions for backward: a
 * later write to the user's index would change the gradient; never one
 * sharing the indexed tensor's storage, which an assignment may write). */
static ks_tensor *flat_positions(lua_State *L, ks_ctx *c, const ks_tensor *view, const adv *a, bool borrow,
                                 int *idx_ndim, int64_t *idx_shape)
{
    if (!a->mask && a->n > 1) return tuple_positions(L, c, view, a, idx_ndim, idx_shape);
    if (borrow && !a->mask && usable_as_is(a->ix[0], view, view->size[a->dim])) {
        *idx_ndim = 1;
        idx_shape[0] = a->ix[0]->numel;
        return a->ix[0];
    }
    const ks_tensor *ix = a->mask ? a->mask : a->ix[0];
    ks_tensor **box = ks_lua_newbox(L);
    ks_tensor *src = NULL;
    if (ks_contiguous(c, (ks_tensor *)ix, &src)) ks_lua_raise(L, c);
    *box = src; /* released with the box */
    ks_tensor *r;
    if (!a->mask) {
        int64_t n = view->size[a->dim];
        const int64_t *v = ks_tensor_data(src);
        for (int64_t i = 0; i < src->numel; i++)
            if (v[i] < -n || v[i] >= n)
                luaL_error(L, "index %I is out of bounds for dimension %d with size %I", (lua_Integer)v[i], a->orig[0],
                           (lua_Integer)n);
        int64_t len = src->numel;
        if (ks_tensor_empty(c, KS_INT64, 1, &len, &r)) ks_lua_raise(L, c);
        int64_t *o = ks_tensor_data(r);
        for (int64_t i = 0; i < len; i++) o[i] = v[i] < 0 ? v[i] + n : v[i];
        *idx_ndim = ix->ndim;
        memcpy(idx_shape, ix->size, sizeof(int64_t) * (size_t)ix->ndim);
    } else {
        check_mask(L, view, ix, a->dim, a->orig[0]);
        const uint8_t *m = ks_tensor_data(src);
        int64_t count = 0;
        for (int64_t i = 0; i < src->numel; i++) count += m[i] != 0;
        if (ks_tensor_empty(c, KS_INT64, 1, &count, &r)) ks_lua_raise(L, c);
        int64_t *o = ks_tensor_data(r), k = 0;
        for (int64_t i = 0; i < src->numel; i++)
            if (m[i]) o[k++] = i;
        *idx_ndim = 1;
        idx_shape[0] = count;
    }
    put(box, r); /* the box now owns the positions (kept alive on the stack) */
    return r;
}

/* Shape of the view with the mask's dims merged into one (an index: unchanged). */
static int merged_shape(const ks_tensor *view, const adv *a, int64_t *size)
{
    int k = adv_span(a), n = 0;
    for (int i = 0; i < a->dim; i++) size[n++] = view->size[i];
    int64_t m = 1;
    for (int i = 0; i < k; i++) m *= a->dim + i < view->ndim ? view->size[a->dim + i] : 1;
    size[n++] = m;
    for (int i = a->dim + k; i < view->ndim; i++) size[n++] = view->size[i];
    return n;
}

/* Result shape: view dims before, the index's shape, view dims after. */
static int result_shape(const ks_tensor *view, const adv *a, int idx_ndim, const int64_t *idx_shape, int64_t *size)
{
    int k = adv_span(a), n = 0;
    for (int i = 0; i < a->dim; i++) size[n++] = view->size[i];
    for (int i = 0; i < idx_ndim; i++) size[n++] = idx_shape[i];
    for (int i = a->dim + k; i < view->ndim; i++) size[n++] = view->size[i];
    return n;
}

/* ----------------------------------------------------------------- get */
/* t[key] beyond t[i]: the result is left in a box at stack index 3. */
static void index_get_key(lua_State *L, ks_ctx *c, ks_tensor *t)
{
    key k;
    parse_key(L, t, &k);
    ks_tensor **box = ks_lua_newbox(L); /* the result; intermediate views live in it */
    *box = ks_tensor_retain(t);
    adv a;
    apply_basic(L, c, box, &k, &a, ks_ag_needs_record(c, 1, &t));
    if (!a.e) return;
    /* Differentiable as [permute ->] reshape -> index_select -> view, each recorded. */
    bool rec = ks_ag_needs_record(c, 1, box);
    prepare_adv(L, c, box, &a, rec);
    ks_tensor *view = *box;
    int idx_ndim;
    int64_t idx_shape[KS_MAX_DIMS], msize[SHAPE_MAX], rsize[SHAPE_MAX]; /* may exceed 8 before the check */
    ks_tensor *pos = flat_positions(L, c, view, &a, !rec, &idx_ndim, idx_shape);
    int mn = merged_shape(view, &a, msize), rn = result_shape(view, &a, idx_ndim, idx_shape, rsize);
    if (rn > KS_MAX_DIMS) luaL_error(L, "indexing result would have %d dims (at most %d)", rn, KS_MAX_DIMS);
    ks_tensor *merged, *sel, *res;
    /* the reshape and view around index_select are skipped when they would not
     * change the shape (one 1-D index, or a 1-D mask): a view and a node less */
    if (!same_dims(view, mn, msize, NULL)) {
        if (ks_reshape(c, view, mn, msize, &merged)) ks_lua_raise(L, c);
        if (rec && ks_ag_record_view(c, KS_VIEW_RESHAPE, msize, mn, view, merged)) {
            ks_tensor_release(merged);
            ks_lua_raise(L, c);
        }
        put(box, merged);
    }
    if ((rec ? ks_ag_index_select : ks_index_select)(c, *box, a.dim, pos, &sel)) ks_lua_raise(L, c);
    put(box, sel);
    if (!same_dims(sel, rn, rsize, NULL)) {
        if (ks_view(c, sel, rn, rsize, &res)) ks_lua_raise(L, c);
        if (rec && ks_ag_record_view(c, KS_VIEW_RESHAPE, rsize, rn, sel, res)) {
            ks_tensor_release(res);
            ks_lua_raise(L, c);
        }
        put(box, res);
    }
}

int ks_lua_index_get(lua_State *L, ks_ctx *c)
{
    ks_tensor *t = ks_lua_check_tensor(L, 1);
    if (lua_type(L, 2) == LUA_TNUMBER && t->ndim > 0) { /* fast path: t[i] */
        lua_Integer i = lua_tointeger(L, 2);
        if (!lua_isinteger(L, 2)) int_of(L, 2, "index");
        if (i < -t->size[0] || i >= t->size[0]) return out_of_bounds(L, i, 0, t->size[0]);
        ks_tensor **box = ks_lua_newbox(L);
        ks_tensor *r;
        int64_t args[2] = {0, i};
        if (ks_select(c, t, 0, i, &r)) return ks_lua_raise(L, c);
        ks_lua_fillbox(L, c, box, r);
        if (ks_ag_record_view(c, KS_VIEW_SELECT, args, 2, t, r)) return ks_lua_raise(L, c);
        return 1;
    }
    lua_settop(L, 2);
    index_get_key(L, c, t);
    lua_settop(L, 3); /* t, key, result box */
    /* the views and copies made here never pass through ks_lua_fillbox: without
     * this, their bytes never reach the collector and garbage piles up */
    ks_lua_gc_pace(L, c);
    return 1;
}

/* ----------------------------------------------------------------- set */
/* Fast path: a number into one element addressed by ndim integers. A value
 * that does not fit t's dtype takes the slow path, whose fill names it. */
static bool set_scalar_fast(lua_State *L, ks_ctx *c, ks_tensor *t)
{
    if (lua_type(L, 3) != LUA_TNUMBER && !lua_isboolean(L, 3)) return false;
    if (lua_type(L, 3) == LUA_TNUMBER && (t->dtype == KS_INT64 || t->dtype == KS_UINT8) &&
        (lua_isinteger(L, 3) ? ks_check_fill_i64(c, "fill_", t->dtype, lua_tointeger(L, 3))
                             : ks_check_fill_value(c, "fill_", t->dtype, lua_tonumber(L, 3))))
        return false;
    int64_t off = t->offset;
    if (lua_type(L, 2) == LUA_TNUMBER) {
        if (t->ndim != 1 || !lua_isinteger(L, 2)) return false;
        int64_t i = lua_tointeger(L, 2);
        if (i < -t->size[0] || i >= t->size[0]) return false; /* the slow path names the error */
        off += (i < 0 ? i + t->size[0] : i) * t->stride[0];
    } else if (lua_type(L, 2) == LUA_TTABLE && t->ndim > 0 && lua_rawlen(L, 2) == (size_t)t->ndim) {
        for (int d = 0; d < t->ndim; d++) {
            lua_rawgeti(L, 2, d + 1);
            int64_t i = lua_tointeger(L, -1), n = t->size[d];
            bool ok = lua_isinteger(L, -1) && i >= -n && i < n;
            lua_pop(L, 1);
            if (!ok) return false;
            off += (i < 0 ? i + n : i) * t->stride[d];
        }
    } else {
        return false;
    }
    void *p = (char *)t->storage->data + off * (int64_t)ks_dtype_size(t->dtype);
    if (lua_isboolean(L, 3)) ks_store_i64(p, t->dtype, lua_toboolean(L, 3));
    else if (lua_isinteger(L, 3)) ks_store_i64(p, t->dtype, lua_tointeger(L, 3));
    else ks_store_f64(p, t->dtype, lua_tonumber(L, 3));
    ks_tensor_bump_version(t);
    return true;
}

/* The value at 3 as a tensor of dtype dt (numbers/tables converted), not
 * sharing storage with `dst` (copied when it does: writes may overlap reads). */
static ks_tensor *value_tensor(lua_State *L, ks_ctx *c, const ks_tensor *dst)
{
    if (lua_isnoneornil(L, 3)) luaL_error(L, "cannot assign nil to tensor elements");
    ks_tensor *v = ks_lua_check_tensorlike(L, 3, dst->dtype);
    if (v->storage == dst->storage) {
        ks_tensor **box = ks_lua_newbox(L);
        if (ks_clone(c, v, box)) ks_lua_raise(L, c);
        lua_replace(L, 3);
        v = ks_lua_to_tensor(L, 3);
    }
    return v;
}

static void fill_number(lua_State *L, ks_ctx *c, ks_tensor *view)
{
    ks_status st = lua_isboolean(L, 3) ? ks_fill_i64_(c, view, lua_toboolean(L, 3))
                 : lua_isinteger(L, 3) ? ks_fill_i64_(c, view, lua_tointeger(L, 3))
                                       : ks_fill_(c, view, lua_tonumber(L, 3));
    if (st) ks_lua_raise(L, c);
}

/* view[pos along a->dim] = value, value broadcast to the result shape. */
static void set_advanced(lua_State *L, ks_ctx *c, ks_tensor *view, const adv *a)
{
    int idx_ndim;
    int64_t idx_shape[KS_MAX_DIMS], msize[SHAPE_MAX], rsize[SHAPE_MAX]; /* may exceed 8 before the check */
    ks_tensor *pos = flat_positions(L, c, view, a, true, &idx_ndim, idx_shape);
    int mn = merged_shape(view, a, msize), rn = result_shape(view, a, idx_ndim, idx_shape, rsize);
    if (rn > KS_MAX_DIMS) luaL_error(L, "indexing result would have %d dims (at most %d)", rn, KS_MAX_DIMS);
    /* write through view itself when no dims merge, a merged view, or a contiguous copy copied back (the
     * boxes only when needed: each is a Lua allocation with a finalizer) */
    ks_tensor *m = view, **tmpbox = NULL;
    if (!same_dims(view, mn, msize, NULL)) {
        ks_tensor **mbox = ks_lua_newbox(L);
        if (ks_view(c, view, mn, msize, mbox) != KS_OK) {
            tmpbox = ks_lua_newbox(L);
            if (ks_clone(c, view, tmpbox) || ks_view(c, *tmpbox, mn, msize, mbox)) ks_lua_raise(L, c);
        }
        m = *mbox;
    }
    ks_status st;
    /* index_fill_ takes a double: an integer into int64 goes the exact tensor way */
    bool scalar = (lua_type(L, 3) == LUA_TNUMBER && !(lua_isinteger(L, 3) && view->dtype == KS_INT64)) ||
                  lua_isboolean(L, 3);
    if (scalar) {
        double v = lua_isboolean(L, 3) ? lua_toboolean(L, 3) : lua_tonumber(L, 3);
        st = ks_index_fill_(c, m, a->dim, pos, v);
    } else {
        ks_tensor *v = value_tensor(L, c, view);
        int nout;
        int64_t bsize[KS_MAX_DIMS];
        if (v->ndim > rn || ks_broadcast_shapes(c, v->ndim, v->size, rn, rsize, &nout, bsize) || nout != rn ||
            memcmp(bsize, rsize, sizeof(int64_t) * (size_t)rn)) {
            char vs[160], rs[160];
            luaL_error(L, "shape mismatch: value tensor of shape %s cannot be broadcast to indexing result of shape %s",
                       ks_shape_str(v, vs, sizeof vs), ks_dims_str(rn, rsize, rs, sizeof rs));
        }
        /* source for index_copy_: the value laid out as m with size(dim) = #pos */
        int64_t ssize[KS_MAX_DIMS];
        memcpy(ssize, m->size, sizeof ssize);
        ssize[a->dim] = pos->numel;
        ks_tensor **sbox = ks_lua_newbox(L), **ebox = ks_lua_newbox(L);
        if (ks_expand(c, v, rn, rsize, ebox) || ks_tensor_empty(c, view->dtype, rn, rsize, sbox) ||
            ks_copy_(c, *sbox, *ebox))
            ks_lua_raise(L, c);
        ks_tensor *src;
        if (ks_view(c, *sbox, m->ndim, ssize, &src)) ks_lua_raise(L, c);
        put(ebox, src);
        st = ks_index_copy_(c, m, a->dim, pos, src);
    }
    if (st) ks_lua_raise(L, c);
    if (tmpbox && ks_copy_(c, view, *tmpbox)) ks_lua_raise(L, c);
}

/* t[key] = value beyond one element: through a view of the selection */
static void index_set_key(lua_State *L, ks_ctx *c, ks_tensor *t)
{
    key k;
    parse_key(L, t, &k);
    ks_tensor **box = ks_lua_newbox(L);
    *box = ks_tensor_retain(t);
    adv a;
    apply_basic(L, c, box, &k, &a, false);
    if (a.e) {
        prepare_adv(L, c, box, &a, false);
        set_advanced(L, c, *box, &a);
    } else if (lua_type(L, 3) == LUA_TNUMBER || lua_isboolean(L, 3)) {
        fill_number(L, c, *box);
    } else {
        ks_tensor *v = value_tensor(L, c, *box);
        if (ks_copy_(c, *box, v)) ks_lua_raise(L, c);
    }
}

int ks_lua_index_set(lua_State *L, ks_ctx *c)
{
    ks_tensor *t = ks_lua_check_tensor(L, 1);
    lua_settop(L, 3);
    if (ks_ag_needs_record(c, 1, &t))
        return luaL_error(L, "in-place assignment to a tensor that requires grad (use ks.no_grad() for "
                             "parameter updates, or clone() first)");
    if (ks_ag_check_inplace_src(c, ks_lua_to_tensor(L, 3), "index assignment")) return ks_lua_raise(L, c);
    if (set_scalar_fast(L, c, t)) return 0;
    index_set_key(L, c, t);
    ks_lua_gc_pace(L, c); /* as in ks_lua_index_get: the views made here reach the collector */
    return 0;
}

/* ------------------------------------------------------------ index_put */
/* indices (at 2) is a plain non-empty list of at most ndim int64 or bool tensors, value (at 3) a number,
 * boolean or tensor: what index_put's Lua checks accept, minus the value forms whose errors would name
 * this function instead of the assignment */
static bool plain_index_put(lua_State *L, const ks_tensor *t)
{
    if (!lua_istable(L, 2) || lua_getmetatable(L, 2)) return false; /* a tensor, or a table with a __len */
    lua_Integer n = (lua_Integer)lua_rawlen(L, 2);
    if (n == 0 || n > t->ndim) return false;
    for (lua_Integer i = 1; i <= n; i++) {
        lua_rawgeti(L, 2, i);
        ks_tensor *ix = ks_lua_to_tensor(L, -1);
        lua_pop(L, 1);
        if (!ix || (ix->dtype != KS_INT64 && ix->dtype != KS_BOOL)) return false;
    }
    int vt = lua_type(L, 3);
    return vt == LUA_TNUMBER || vt == LUA_TBOOLEAN || ks_lua_to_tensor(L, 3);
}

/* ks._index_put(t, indices, values, inplace) -> the result (t itself when inplace): index_put / index_put_
 * without accumulate in one call (kshot/tensor_shape_extra.lua): t:clone() (unless inplace), then the
 * assignment r[indices] = values itself (ks_lua_index_set: the same errors). Nothing when an argument is
 * not plain or t's clone would record a gradient; the Lua path then checks, names and records. */
static int l_index_put(lua_State *L)
{
    ks_ctx *c = KS_CTX(L);
    ks_tensor *t = ks_lua_to_tensor(L, 1);
    bool inplace = lua_toboolean(L, 4);
    if (!t || !plain_index_put(L, t) || (!inplace && ks_ag_needs_record(c, 1, &t))) return 0;
    lua_settop(L, 3);
    if (!inplace) {
        ks_tensor **box = ks_lua_newbox(L), *r = NULL;
        if (ks_clone(c, t, &r)) return ks_lua_raise(L, c);
        ks_lua_fillbox(L, c, box, r);
        lua_replace(L, 1); /* (r, indices, values) */
    }
    ks_lua_index_set(L, c);
    lua_settop(L, 1);
    return 1;
}

static const luaL_Reg index_funcs[] = {{"_index_put", l_index_put}, {NULL, NULL}};

void ks_lua_open_index(lua_State *L, int module, int methods, int ctxbox)
{
    (void)methods;
    ks_lua_register(L, index_funcs, module, ctxbox);
}
