/* ks_lua_create.h: option parsing shared by the creation and random
 * bindings (ks_lua_create.c, ks_lua_random.c). Private to those files. */
#ifndef KS_LUA_CREATE_H
#define KS_LUA_CREATE_H

#include "ks_lua.h"

#include <stdbool.h>

/* Trailing options of a creation function: nothing, a dtype name, or a
 * table {dtype=, requires_grad=[, generator=]}. */
typedef struct ks_copts {
    ks_dtype dt;
    bool has_dt;
    bool requires_grad;
    ks_generator *gen; /* NULL: the state's default generator */
    const char *fn;    /* the function's name, put in front of its messages */
} ks_copts;

/* Parse options at `arg` (default dtype `def`); `allow_gen` accepts a
 * generator= key. Raises on a bad value, an unknown key (kshot.options'
 * wording) or any argument after `arg`. fn (a static string: "zeros")
 * prefixes the messages ("zeros: option 'dtype': unknown dtype ...") and is
 * kept in o->fn for ks_lua_finish_new and ks_lua_raise_in. */
void ks_lua_check_copts(lua_State *L, int arg, ks_dtype def, bool allow_gen, const char *fn, ks_copts *o);
/* Shape (varargs of integers or one table) at `arg`; returns the index of
 * the argument after it. */
int ks_lua_shape_args(lua_State *L, int arg, int64_t *size, int *ndim);
/* Apply requires_grad and fill the box (raises for a non-float tensor). */
void ks_lua_finish_new(lua_State *L, ks_ctx *c, ks_tensor **box, ks_tensor *t, const ks_copts *o);
/* Raise the context's message as "fn: message" (as is when the core already
 * begins it with "fn:" or "fn("): every creation function's errors name it. */
int ks_lua_raise_in(lua_State *L, ks_ctx *c, const char *fn);

#endif
