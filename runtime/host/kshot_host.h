/* kshot_host.h: internals shared by the files of the kshot host (not part of
 * the embedding API, see kshot.h). */
#ifndef KSHOT_HOST_H
#define KSHOT_HOST_H

#include "kshot.h"

#include <lua.h>

/* ---- kshot_embed.c ---- */
/* Call the function below `narg` arguments on the stack, through the
 * traceback message handler, after discarding pending interrupts. On error
 * the message is recorded for kshot_last_error and popped; on success the
 * `nres` results (LUA_MULTRET: all) are left on the stack. */
int kshot_pcall(kshot_state *s, int narg, int nres);
/* Load a chunk without running it: a file (len < 0; src NULL = stdin) or
 * the string src[0..len) named `chunkname` (lua_load naming: "=name",
 * "@file" or the code itself). On success the function is pushed; on
 * failure the message is recorded (nothing pushed). Discards pending
 * interrupts first. Returns a Lua status. */
int kshot_load(kshot_state *s, const char *src, long len, const char *chunkname);
/* Record the error message at the top of the stack (popped) and return st. */
int kshot_fail(kshot_state *s, int st);
/* Remove the interrupt hook and clear the kernel flag. */
void kshot_clear_interrupt(kshot_state *s);
/* The kshot_state a Lua state belongs to. */
kshot_state *kshot_from_lua(lua_State *L);

/* ---- kshot_signal.c: SIGINT -> kshot_interrupt(state) ---- */
/* Statement mode: Ctrl-C interrupts; a second Ctrl-C before the handler is
 * re-armed kills the process (as lua.c). */
void kshot_sigint_run(kshot_state *s);
/* Prompt mode: Ctrl-C only sets the flag read by kshot_sigint_take. */
void kshot_sigint_prompt(kshot_state *s);
/* Default action again. */
void kshot_sigint_default(void);
/* 1 if SIGINT arrived since the last call (and clears it). */
int kshot_sigint_take(void);
/* 1 if SIGINT arrived since the last kshot_sigint_take (not cleared). */
int kshot_sigint_pending(void);
/* kshot_embed.c: msg (len bytes) is the error of an interrupt: exactly
 * "interrupted!" (the Ctrl-C hook) or "<position>: interrupted!" (a native
 * kernel stopped by the context's flag). ks.is_interrupt applies this rule. */
int kshot_is_interrupt_message(const char *msg, size_t len);

/* ---- kshot_complete.c ---- */
/* lua_CFunction: (light userdata: the NUL-terminated text before the
 * cursor) -> sorted array of the words that can replace its last partial
 * identifier. Never runs user code (no __index functions, no calls). */
int kshot_complete_cfn(lua_State *L);
/* Offset in `line` where the partial word completed by kshot_complete starts. */
size_t kshot_complete_start(const char *line);

/* ---- kshot_repl.c ---- */
/* Interactive loop until end of input; errors are reported, never fatal. */
void kshot_repl(kshot_state *s);
/* Define the globals `ks = require "kshot"` and `help = require
 * "kshot.help"` where they are nil (the REPL's conveniences; scripts get no
 * such globals). Warns on failure. */
void kshot_repl_define_globals(kshot_state *s);

#endif
