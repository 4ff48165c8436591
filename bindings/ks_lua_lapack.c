/* ks_lua_lapack.c: ks.linalg's C half: the LAPACK factorizations of
 * runtime/core/ks_lapack.h as ks.linalg._solve, _cholesky, _eigh, _svd and
 * _det. They take float32 [batch, m, n] stacks (or one [m, n] matrix); the
 * public, differentiable names (ks.linalg.solve, inv, cholesky, eigh, svd,
 * pinv, lstsq, det, norm, ...) are in bindings/lua/kshot/linalg.lua, loaded on
 * the first use of a missing name.
 *
 * The _plain_* entries are those names' fast path for one plain matrix: a
 * float32 2-D tensor (square where the op needs it) whose op records no
 * gradient (grad mode off or no input requiring grad). They answer with the
 * same kernel as the general path, so with bit-identical values and the same
 * errors for singular / non-positive-definite input, and return nothing when
 * an argument is not plain, so that the Lua wrapper's general path checks,
 * names what is wrong, broadcasts batches and records autograd. One C call
 * instead of ~12 Lua-side checks and views (BENCHMARKS.md). */
#include "ks_lua.h"
#include "../runtime/core/ks_fill.h"
#include "../runtime/core/ks_lapack.h"

/* ks.linalg._solve(A, B) -> X */
static int l_solve(lua_State *L)
{
    ks_ctx *c = KS_CTX(L);
    ks_tensor *a = ks_lua_check_tensor(L, 1), *b = ks_lua_check_tensor(L, 2);
    KS_LUA_NEW_RESULT(ks_lapack_solve(c, a, b, &r));
}

/* ks.linalg._cholesky(A) -> L */
static int l_cholesky(lua_State *L)
{
    ks_ctx *c = KS_CTX(L);
    ks_tensor *a = ks_lua_check_tensor(L, 1);
    KS_LUA_NEW_RESULT(ks_lapack_cholesky(c, a, &r));
}

/* ks.linalg._det(A) -> det [batch] */
static int l_det(lua_State *L)
{
    ks_ctx *c = KS_CTX(L);
    ks_tensor *a = ks_lua_check_tensor(L, 1);
    KS_LUA_NEW_RESULT(ks_lapack_det(c, a, &r));
}

/* ks.linalg._eigh(A) -> w, V */
static int l_eigh(lua_State *L)
{
    ks_ctx *c = KS_CTX(L);
    ks_tensor *a = ks_lua_check_tensor(L, 1);
    ks_tensor **wbox = ks_lua_newbox(L), **vbox = ks_lua_newbox(L);
    ks_tensor *w = NULL, *v = NULL;
    if (ks_lapack_eigh(c, a, &w, &v)) return ks_lua_raise(L, c);
    *wbox = w; /* both boxes are on the stack: fill them, then pace the GC once */
    ks_lua_fillbox(L, c, vbox, v);
    return 2;
}

/* ks.linalg._svd(A, full) -> U, S, Vh */
static int l_svd(lua_State *L)
{
    ks_ctx *c = KS_CTX(L);
    ks_tensor *a = ks_lua_check_tensor(L, 1);
    bool full = lua_toboolean(L, 2);
    ks_tensor **ubox = ks_lua_newbox(L), **sbox = ks_lua_newbox(L), **vbox = ks_lua_newbox(L);
    ks_tensor *u = NULL, *s = NULL, *vh = NULL;
    if (ks_lapack_svd(c, a, full, &u, &s, &vh)) return ks_lua_raise(L, c);
    *ubox = u;
    *sbox = s;
    ks_lua_fillbox(L, c, vbox, vh);
    return 3;
}

/* ------------------------------------------------ single plain matrices */
/* The tensor at idx when it is a float32 [m, n] matrix (square: m == n)
 * whose op would record no gradient, else NULL. */
static ks_tensor *plain_matrix(lua_State *L, ks_ctx *c, int idx, bool square)
{
    ks_tensor *t = ks_lua_to_tensor(L, idx);
    if (!t || t->dtype != KS_FLOAT32 || t->ndim != 2 || (square && t->size[0] != t->size[1])) return NULL;
    if (c->grad_enabled && t->requires_grad) return NULL;
    return t;
}

/* ks.linalg._plain_solve(A, B) -> X [n, k] for B [n, k], X [n] for B [n]; nothing when not plain */
static int l_plain_solve(lua_State *L)
{
    ks_ctx *c = KS_CTX(L);
    ks_tensor *a = plain_matrix(L, c, 1, true), *b = ks_lua_to_tensor(L, 2);
    if (!a || !b || b->dtype != KS_FLOAT32 || (b->ndim != 1 && b->ndim != 2) || b->size[0] != a->size[0] ||
        (c->grad_enabled && b->requires_grad))
        return 0;
    if (b->ndim == 2) KS_LUA_NEW_RESULT(ks_lapack_solve(c, a, b, &r));
    /* a vector: solved as the column [n, 1], returned as [n] (a view, as the general path's) */
    ks_tensor **box = ks_lua_newbox(L);
    ks_tensor *col = NULL, *x = NULL, *r = NULL;
    ks_status st = ks_unsqueeze(c, b, 1, &col);
    if (!st) st = ks_lapack_solve(c, a, col, &x);
    if (!st) st = ks_view(c, x, 1, b->size, &r);
    ks_tensor_release(col);
    ks_tensor_release(x);
    if (st) return ks_lua_raise(L, c);
    ks_lua_fillbox(L, c, box, r);
    return 1;
}

/* ks.linalg._plain_inv(A) -> A^-1 (solve(A, I), as the general path); nothing when not plain */
static int l_plain_inv(lua_State *L)
{
    ks_ctx *c = KS_CTX(L);
    ks_tensor *a = plain_matrix(L, c, 1, true);
    if (!a) return 0;
    ks_tensor **box = ks_lua_newbox(L);
    ks_tensor *eye = NULL, *r = NULL;
    ks_status st = ks_eye(c, a->size[0], a->size[0], KS_FLOAT32, &eye);
    if (!st) st = ks_lapack_solve(c, a, eye, &r);
    ks_tensor_release(eye);
    if (st) return ks_lua_raise(L, c);
    ks_lua_fillbox(L, c, box, r);
    return 1;
}

/* ks.linalg._plain_det(A) -> 0-d det; nothing when not plain */
static int l_plain_det(lua_State *L)
{
    ks_ctx *c = KS_CTX(L);
    if (!plain_matrix(L, c, 1, true)) return 0;
    return l_det(L);
}

/* ks.linalg._plain_cholesky(A) -> L (lower); nothing when not plain */
static int l_plain_cholesky(lua_State *L)
{
    ks_ctx *c = KS_CTX(L);
    if (!plain_matrix(L, c, 1, true)) return 0;
    return l_cholesky(L);
}

/* ks.linalg._plain_eigh(A) -> w [n], V [n, n]; nothing when not plain */
static int l_plain_eigh(lua_State *L)
{
    ks_ctx *c = KS_CTX(L);
    if (!plain_matrix(L, c, 1, true)) return 0;
    return l_eigh(L);
}

/* ks.linalg._plain_svd(A, full) -> U, S, Vh; nothing when not plain */
static int l_plain_svd(lua_State *L)
{
    ks_ctx *c = KS_CTX(L);
    if (!plain_matrix(L, c, 1, false)) return 0;
    return l_svd(L);
}

static const luaL_Reg lapack_functions[] = {
    {"_solve", l_solve}, {"_cholesky", l_cholesky}, {"_eigh", l_eigh}, {"_svd", l_svd}, {"_det", l_det},
    {"_plain_solve", l_plain_solve}, {"_plain_inv", l_plain_inv}, {"_plain_det", l_plain_det},
    {"_plain_cholesky", l_plain_cholesky}, {"_plain_eigh", l_plain_eigh}, {"_plain_svd", l_plain_svd},
    {NULL, NULL}};

void ks_lua_open_lapack(lua_State *L, int module, int methods, int ctxbox)
{
    (void)methods;
    ks_lua_new_subtable(L, lapack_functions, ctxbox, "kshot.linalg");
    lua_setfield(L, module, "linalg");
}
