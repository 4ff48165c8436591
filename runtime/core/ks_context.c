/* ks_context.c: per-state context, error messages, memory accounting. */
#include "ks_context.h"
#include "ks_random.h"
#include "ks_threads.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

extern void openblas_set_num_threads(int);

ks_ctx *ks_ctx_new(void)
{
    ks_ctx *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    c->refcount = 1;
    atomic_init(&c->live_bytes, 0);
    atomic_init(&c->interrupted, 0);
    c->limit_bytes = ks_default_memory_limit();
    c->num_threads = ks_default_num_threads();
    openblas_set_num_threads(1); /* kshot splits products itself (ks_linalg.h) */
    c->grad_enabled = 1;
    c->gen = ks_generator_new(c, 0);
    if (!c->gen) { free(c); return NULL; }
    return c;
}

void ks_ctx_retain(ks_ctx *c) { c->refcount++; }

void ks_ctx_release(ks_ctx *c)
{
    if (!c || --c->refcount > 0) return;
    ks_tensor_caches_free(c);
    ks_pool_free(c->pool);
    ks_generator_free(c->gen);
    free(c);
}

ks_status ks_error(ks_ctx *c, ks_status code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->message, sizeof c->message, fmt, ap);
    va_end(ap);
    return code;
}

const char *ks_ctx_message(const ks_ctx *c) { return c->message; }

const char *ks_status_name(ks_status s)
{
    static const char *names[] = {"ok", "invalid argument", "shape mismatch", "unsupported dtype",
                                  "out of memory", "out of range", "i/o error", "bad format",
                                  "interrupted", "invalid state"};
    return (unsigned)s < sizeof names / sizeof *names ? names[s] : "unknown error";
}

ks_status ks_check_interrupt(ks_ctx *c)
{
    if (!atomic_load_explicit(&c->interrupted, memory_order_relaxed)) return KS_OK;
    atomic_store(&c->interrupted, 0);
    return ks_error(c, KS_EINTR, "interrupted!");
}

size_t ks_default_memory_limit(void)
{
    long pages = sysconf(_SC_PHYS_PAGES), psize = sysconf(_SC_PAGESIZE);
    if (pages <= 0 || psize <= 0) return (size_t)4 << 30;
    return (size_t)pages / 4 * 3 * (size_t)psize;
}

void ks_set_memory_limit(ks_ctx *c, size_t bytes) { c->limit_bytes = bytes; }

ks_status ks_mem_account(ks_ctx *c, size_t nbytes)
{
    size_t live = atomic_load(&c->live_bytes), next;
    if (ks_add_overflow(live, nbytes, &next) || next > c->limit_bytes)
        return ks_error(c, KS_ENOMEM,
                        "memory limit exceeded: %zu bytes requested with %zu live, limit %zu "
                        "(see ks.set_memory_limit)", nbytes, live, c->limit_bytes);
    atomic_fetch_add(&c->live_bytes, nbytes);
    if (next > c->peak_bytes) c->peak_bytes = next;
    c->gc_debt += nbytes;
    c->num_allocs++;
    return KS_OK;
}

void ks_mem_unaccount(ks_ctx *c, size_t nbytes) { atomic_fetch_sub(&c->live_bytes, nbytes); }

void *ks_mem_alloc(ks_ctx *c, size_t nbytes)
{
    size_t rounded;
    if (ks_add_overflow(nbytes, 63, &rounded)) {
        ks_error(c, KS_ENOMEM, "allocation of %zu bytes overflows", nbytes);
        return NULL;
    }
    rounded &= ~(size_t)63;
    if (rounded == 0) rounded = 64;
    if (ks_mem_account(c, rounded) != KS_OK) return NULL;
    void *p = aligned_alloc(64, rounded);
    if (!p) {
        ks_mem_unaccount(c, rounded);
        ks_error(c, KS_ENOMEM, "out of memory allocating %zu bytes", nbytes);
        return NULL;
    }
    return p;
}

void ks_mem_free(ks_ctx *c, void *p, size_t nbytes)
{
    if (!p) return;
    size_t rounded = (nbytes + 63) & ~(size_t)63;
    if (rounded == 0) rounded = 64;
    ks_mem_unaccount(c, rounded);
    free(p);
}
