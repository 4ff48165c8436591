/* kshot.h: embedding API -- run kshot (Lua 5.4 + the kshot tensor library)
 * inside another C program. The `kshot` executable is built on it.
 *
 * Link with build/libkshot.a, liblua5.4.a (or -llua5.4) and the libraries
 * listed in the Makefile's LIBS; see runtime/host/examples/embed_example.c.
 * Only this header is needed for running code and exchanging tensors; a
 * host that also calls the Lua API (kshot_lua) includes <lua.h> and
 * <lauxlib.h> (-I/usr/include/lua5.4 on Debian).
 *
 * Contract:
 *  - A kshot_state owns one lua_State with the standard libraries opened and
 *    `require "kshot"` available (package.preload). No global is defined for
 *    kshot; scripts say `local ks = require "kshot"`.
 *  - kshot_run_* return KSHOT_OK (0) on success, otherwise the Lua status
 *    code (LUA_ERRSYNTAX, LUA_ERRRUN, LUA_ERRMEM, LUA_ERRERR, LUA_ERRFILE).
 *    They never raise, abort or exit (unless the script calls os.exit).
 *    After a failure kshot_last_error gives the message, with a stack
 *    traceback for run-time errors (error objects that are not strings are
 *    converted with their __tostring metamethod).
 *  - Interrupts: kshot_interrupt may be called at any time from a signal
 *    handler or another thread. The running Lua code stops at its next
 *    instruction with the error value "interrupted!": exactly that string,
 *    with no position (a Lua hook, as lua.c does); a long native kernel
 *    stops between two chunks of work (the kshot context's interrupt flag)
 *    with "<position>: interrupted!". `require "kshot"` in a kshot state
 *    has ks.INTERRUPTED (the string) and ks.is_interrupt(err) (true for
 *    either form, false for anything else): code that catches errors (e.g.
 *    kshot.experiment's runs) rethrows interrupts instead of treating them
 *    as failures. The `kshot` command exits with 130 when Ctrl-C (SIGINT)
 *    ended the script. A kshot_run_* call discards any interrupt
 *    requested before it started. Only the state's main Lua thread is hooked:
 *    a coroutine that never returns to it is stopped only by the kernel flag.
 *  - One state must be used by one thread at a time (Lua's rule); different
 *    states are independent (each has its own kshot context, thread pool,
 *    random generator and memory accounting).
 *  - kshot_open installs no signal handler: signals belong to the program.
 *  - NULL: every function takes a NULL state without crashing (kshot_run_*
 *    return LUA_ERRRUN, kshot_last_error a message saying so, kshot_lua
 *    NULL, kshot_interrupt and kshot_close do nothing); kshot_run_string
 *    with NULL code fails with a message. Using a state after kshot_close
 *    (including a second close) is undefined, as for any freed object.
 *  - A finalizer (__gc) that never returns cannot be interrupted: Lua runs
 *    finalizers with hooks off, so kshot_close (which runs them) would hang.
 */
#ifndef KSHOT_H
#define KSHOT_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define KSHOT_VERSION "0.1.0"
#define KSHOT_OK 0

/* kshot_open_ex flags */
#define KSHOT_IGNORE_ENV 1u /* like `lua -E`: ignore LUA_PATH, LUA_CPATH (and their _5_4 forms) */

typedef struct kshot_state kshot_state;
typedef struct lua_State lua_State;

/* New state: standard libraries, kshot preloaded, generational GC (as
 * lua.c). NULL when out of memory. */
kshot_state *kshot_open(void);
kshot_state *kshot_open_ex(unsigned flags);

/* Run a Lua file (NULL: standard input) / a string of Lua code. Results are
 * discarded. Returns KSHOT_OK or a Lua error status. */
int kshot_run_file(kshot_state *s, const char *path);
int kshot_run_string(kshot_state *s, const char *code);

/* Message of the last failed run (with traceback); NULL if the most recent
 * run succeeded. Valid until the next run or kshot_close. */
const char *kshot_last_error(kshot_state *s);

/* Ask the running code to stop (async-signal-safe, thread-safe). */
void kshot_interrupt(kshot_state *s);
/* The same, under the name used by the original design notes. */
void ks_interrupt(kshot_state *s);

/* The underlying Lua state, for registering functions, setting globals or
 * calling Lua directly (errors raised outside kshot_run_* are yours to
 * catch). Its extra space (lua_getextraspace) belongs to kshot. */
lua_State *kshot_lua(kshot_state *s);

/* ---- tensors between C and Lua (copies: neither side keeps the other's memory) ----
 * A tensor's elements are in C order (row-major), 4-byte floats for
 * KSHOT_FLOAT32, int64_t for KSHOT_INT64, 1 byte (0 or 1 for KSHOT_BOOL)
 * otherwise. These calls count as runs: they return KSHOT_OK or a Lua status
 * with kshot_last_error set, never raise, and `require "kshot"` the module
 * if the state has not yet. Typical use:
 *     int64_t sizes[2] = {2, 3};
 *     float in[6] = {...};
 *     kshot_push_tensor(s, KSHOT_FLOAT32, 2, sizes, in);   // stack: +1 tensor
 *     lua_setglobal(kshot_lua(s), "x");                      // scripts see x
 *     kshot_run_string(s, "y = require('kshot').softmax(x, 1)");
 *     lua_getglobal(kshot_lua(s), "y");
 *     kshot_tensor_read(s, -1, out, sizeof out);             // 6 floats
 *     lua_pop(kshot_lua(s), 1);
 */
typedef enum kshot_dtype { KSHOT_FLOAT32 = 0, KSHOT_INT64 = 1, KSHOT_UINT8 = 2, KSHOT_BOOL = 3 } kshot_dtype;
#define KSHOT_MAX_DIMS 8

/* Push onto kshot_lua(s)'s stack a new tensor of `ndim` dims (0..8; 0 is a
 * scalar) with sizes[0..ndim) (>= 0) holding a copy of `data` (numel
 * elements of dtype; may be NULL when numel is 0). On failure nothing is
 * pushed. The new tensor belongs to Lua (the garbage collector frees it). */
int kshot_push_tensor(kshot_state *s, kshot_dtype dtype, int ndim, const int64_t *sizes, const void *data);
/* Describe the tensor at stack index idx: its dtype, ndim and sizes (an
 * array of KSHOT_MAX_DIMS; any pointer may be NULL). Fails (stack
 * unchanged) when the value there is not a tensor or was released. */
int kshot_tensor_shape(kshot_state *s, int idx, kshot_dtype *dtype, int *ndim, int64_t *sizes);
/* Copy the elements of the tensor at stack index idx, in C order (views
 * such as a transpose included), into dst, which holds `capacity` bytes;
 * fails without writing when the tensor needs more (numel * element size).
 * The stack is unchanged. */
int kshot_tensor_read(kshot_state *s, int idx, void *dst, size_t capacity);

/* Close the Lua state (running finalizers) and free everything. NULL is a
 * no-op. A signal handler must stop using the state before this is called. */
void kshot_close(kshot_state *s);

#ifdef __cplusplus
}
#endif

#endif
