/* ks_context.h: the per-state context of the kshot core.
 *
 * Contract (every core function follows it):
 *  - Functions that can fail return ks_status. On failure they leave a
 *    human-readable message in the context (ks_ctx_message) and release
 *    everything they acquired; outputs are left untouched (NULL).
 *  - The core never aborts, exits or longjmps. Nothing here knows Lua.
 *  - One ks_ctx per embedding state (one per lua_State). There is no
 *    process-wide mutable state in the core, so two contexts in one process
 *    are independent (memory accounting, RNG, thread pool, interrupt flag).
 *  - A context is reference counted: every storage holds a reference, so the
 *    context outlives the last tensor whatever order finalizers run in.
 */
#ifndef KS_CONTEXT_H
#define KS_CONTEXT_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdatomic.h>

typedef enum ks_status {
    KS_OK = 0,
    KS_EINVAL,   /* bad argument value (negative size, bad dim, bad option) */
    KS_ESHAPE,   /* shapes do not match / cannot broadcast */
    KS_ETYPE,    /* dtype not supported by this op */
    KS_ENOMEM,   /* allocation failed or the memory limit would be exceeded */
    KS_ERANGE,   /* index out of range, size overflow */
    KS_EIO,      /* file system error */
    KS_EFORMAT,  /* malformed or hostile file contents */
    KS_EINTR,    /* interrupted (Ctrl-C) between chunks of a kernel */
    KS_ESTATE    /* operation not valid in the current state */
} ks_status;

#define KS_MSG_SIZE 512

typedef struct ks_pool ks_pool;           /* ks_threads.h */
typedef struct ks_generator ks_generator; /* ks_random.h */

typedef struct ks_ctx {
    int refcount;
    char message[KS_MSG_SIZE];   /* last error message */
    /* memory accounting: bytes of tensor storage and tensor headers */
    atomic_size_t live_bytes;
    size_t peak_bytes;
    size_t limit_bytes;          /* requests beyond this fail with KS_ENOMEM */
    size_t gc_debt;              /* bytes allocated since the host last asked */
    uint64_t num_allocs;
    /* set asynchronously (signal handler, other thread); kernels poll it */
    atomic_int interrupted;
    /* threads (created lazily on first parallel region) */
    int num_threads;
    ks_pool *pool;
    /* the state's default random generator */
    ks_generator *gen;
    /* autograd mode: ops record graph nodes only when this is non-zero */
    int grad_enabled;
    /* opaque pointer for the embedding layer (the bindings keep the calling
     * lua_State here while backward runs custom Lua functions) */
    void *binding_state;
    /* free lists of tensor headers and small storage blocks, owned by
     * ks_tensor.c (per-op allocation cost of tiny tensors); still accounted
     * as freed memory. ks_ctx_release empties them. */
    void *free_headers, *free_blocks;
    int n_free_headers, n_free_blocks;
    /* size-classed cache of large storage blocks (ks_tensor.c; NULL until
     * first used): reusing them avoids the page faults of fresh mmaps */
    void *large_blocks;
} ks_ctx;

/* Create a context (refcount 1); NULL if out of memory. */
ks_ctx *ks_ctx_new(void);
void ks_ctx_retain(ks_ctx *c);
/* Free the tensor header and small-storage free lists (ks_tensor.c). */
void ks_tensor_caches_free(ks_ctx *c);
/* Drops a reference; frees the pool, generator and context at zero. */
void ks_ctx_release(ks_ctx *c);

/* Record an error message (printf format) and return `code`. */
ks_status ks_error(ks_ctx *c, ks_status code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
const char *ks_ctx_message(const ks_ctx *c);
const char *ks_status_name(ks_status s);

/* ---- interrupts: async-signal-safe to set ---- */
static inline void ks_ctx_interrupt(ks_ctx *c) { atomic_store(&c->interrupted, 1); }
static inline void ks_ctx_clear_interrupt(ks_ctx *c) { atomic_store(&c->interrupted, 0); }
/* Kernels call this between chunks; returns KS_EINTR with a message when set. */
ks_status ks_check_interrupt(ks_ctx *c);

/* ---- memory ----
 * All tensor memory goes through these. Buffers are 64-byte aligned.
 * ks_mem_alloc fails (NULL, KS_ENOMEM message) when the request would take
 * live bytes above limit_bytes, or malloc fails. */
void *ks_mem_alloc(ks_ctx *c, size_t nbytes);
void ks_mem_free(ks_ctx *c, void *p, size_t nbytes);
/* Account bytes that were allocated elsewhere (tensor headers). */
ks_status ks_mem_account(ks_ctx *c, size_t nbytes);
void ks_mem_unaccount(ks_ctx *c, size_t nbytes);
/* Bytes allocated since the previous call (for the host's GC pacing). */
static inline size_t ks_mem_take_debt(ks_ctx *c) { size_t d = c->gc_debt; c->gc_debt = 0; return d; }
void ks_set_memory_limit(ks_ctx *c, size_t bytes);
/* Default limit: 3/4 of physical memory. */
size_t ks_default_memory_limit(void);

/* Overflow-checked size arithmetic: return 0 on success, 1 on overflow. */
static inline int ks_mul_overflow(size_t a, size_t b, size_t *out) { return __builtin_mul_overflow(a, b, out); }
static inline int ks_add_overflow(size_t a, size_t b, size_t *out) { return __builtin_add_overflow(a, b, out); }

#endif
