/* ks_threads.h: the context's thread pool and deterministic parallel loops.
 *
 * One pool per context, created on the first parallel region, with
 * num_threads - 1 workers (the calling thread is the last worker). The
 * caller waits only for workers that joined a region before it had taken
 * every chunk itself; a worker that wakes later stays out (no stall on a
 * late wake-up or a descheduled worker). Workers
 * poll briefly (a thousand pause instructions, ~30 us, so back-to-back regions
 * such as a linear layer's GEMM blocks do not pay a wake-up each) and then
 * sleep on a condition variable. OpenBLAS is kept single-threaded (its own
 * threads change the rounding with their number): matrix products are split
 * into size-determined blocks on this pool instead (ks_linalg.h,
 * ks_nn_conv.c). Workers block SIGINT: the host's handler always runs on
 * the main thread.
 *
 * Determinism: work is split into chunks whose boundaries depend only on the
 * problem size and the grain, never on the thread count; reductions combine
 * per-chunk partial results in chunk order. Results are therefore
 * bit-identical for any thread count.
 *
 * Interrupts: ks_parallel_for checks the context's interrupt flag between
 * chunks and returns KS_EINTR once all started chunks have finished.
 */
#ifndef KS_THREADS_H
#define KS_THREADS_H

#include "ks_context.h"
#include <stdint.h>

/* Body of a parallel loop: process chunk [begin, end). Returns KS_OK or an
 * error status (the first error in chunk order is reported). Bodies must not
 * call ks_error (the message buffer is shared); return a status only. */
typedef ks_status (*ks_range_fn)(void *arg, int64_t begin, int64_t end);

/* Run fn over [0, n) in chunks of `grain` elements (the last may be shorter).
 * Runs serially when n <= grain or only one thread is configured. */
ks_status ks_parallel_for(ks_ctx *c, int64_t n, int64_t grain, ks_range_fn fn, void *arg);

/* Number of chunks ks_parallel_for uses for (n, grain): reductions size their
 * partial-result arrays with it. Chunk i covers [i*grain, min(n, (i+1)*grain)). */
static inline int64_t ks_num_chunks(int64_t n, int64_t grain) { return n <= 0 ? 0 : (n + grain - 1) / grain; }

ks_status ks_set_num_threads(ks_ctx *c, int n);
int ks_get_num_threads(const ks_ctx *c);
/* Threads to use by default: cores available to this process, capped at 8. */
int ks_default_num_threads(void);
void ks_pool_free(ks_pool *p);

#endif
