/* ks_lua_lapack.c: ks.linalg's C half: the LAPACK factorizations of
 * runtime/core/ks_lapack.h as ks.linalg._solve, _cholesky, _eigh, _svd and
 * _det. They take contiguous float32 [batch, m, n] stacks; the public,
 * differentiable names (ks.linalg.solve, inv, cholesky, eigh, svd, pinv,
 * lstsq, det, norm, ...) are in bindings/lua/kshot/linalg.lua, loaded on the
 * first use of a missing name. */
#include "ks_lua.h"
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

static const luaL_Reg lapack_functions[] = {
    {"_solve", l_solve}, {"_cholesky", l_cholesky}, {"_eigh", l_eigh}, {"_svd", l_svd}, {"_det", l_det},
    {NULL, NULL}};

void ks_lua_open_lapack(lua_State *L, int module, int methods, int ctxbox)
{
    (void)methods;
    ks_lua_new_subtable(L, lapack_functions, ctxbox, "kshot.linalg");
    lua_setfield(L, module, "linalg");
}
