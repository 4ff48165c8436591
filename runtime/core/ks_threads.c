/* ks_threads.c: a small sleeping thread pool with chunked parallel loops. */
#include "ks_threads.h"

#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

/* OpenBLAS's own thread count; resolved at link time (libopenblas). */
extern void openblas_set_num_threads(int);

struct ks_pool {
    int nworkers;
    pthread_t *threads;
    pthread_mutex_t mu;
    pthread_cond_t wake, done;
    atomic_ullong generation; /* bumped for each region (under mu) */
    int open;             /* the current region still admits workers (under mu) */
    atomic_int busy;      /* workers inside the current region (enter under mu) */
    int sleeping;         /* workers blocked on `wake` (under mu) */
    int quit;
    /* the current region */
    ks_ctx *ctx;
    ks_range_fn fn;
    void *arg;
    int64_t n, grain, nchunks;
    atomic_llong next;    /* next chunk to take */
    atomic_llong err_chunk; /* lowest chunk index that failed */
    ks_status err;
};

/* Take chunks until none remain or an interrupt is seen. */
static void run_chunks(ks_pool *p)
{
    for (;;) {
        int64_t i = atomic_fetch_add(&p->next, 1);
        if (i >= p->nchunks) return;
        if (atomic_load_explicit(&p->ctx->interrupted, memory_order_relaxed)) {
            atomic_store(&p->next, p->nchunks);
            return;
        }
        int64_t b = i * p->grain, e = b + p->grain < p->n ? b + p->grain : p->n;
        ks_status st = p->fn(p->arg, b, e);
        if (st != KS_OK) {
            pthread_mutex_lock(&p->mu);
            if (i < atomic_load(&p->err_chunk)) { atomic_store(&p->err_chunk, i); p->err = st; }
            pthread_mutex_unlock(&p->mu);
        }
    }
}

/* Waking a sleeping thread costs tens of microseconds on some VMs, more than
 * a small region's work, so both sides poll briefly before sleeping: 1000
 * pauses, ~30 us on Zen 2 (a pause is ~100 cycles there), enough to bridge
 * the gaps between a training step's regions. 4000 (~125 us) kept a worker
 * spinning through whole steps: on a machine shared with other jobs it
 * took the core the caller needed (MLP step at 2 threads under load 6:
 * ~530 vs ~680 steps/s). */
#define SPIN_ROUNDS 1000

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

static void *worker_main(void *arg)
{
    ks_pool *p = arg;
    uint64_t seen = 0;
    for (;;) {
        for (int i = 0; i < SPIN_ROUNDS && atomic_load(&p->generation) == seen; i++) cpu_relax();
        pthread_mutex_lock(&p->mu);
        p->sleeping++;
        while (!p->quit && atomic_load(&p->generation) == seen) pthread_cond_wait(&p->wake, &p->mu);
        p->sleeping--;
        int quit = p->quit;
        /* a worker that arrives after the caller has taken every chunk and
         * closed the region stays out: the caller never waits for a worker
         * that is late to wake (or descheduled on a busy machine) */
        int enter = !quit && p->open;
        if (enter) atomic_fetch_add(&p->busy, 1);
        seen = atomic_load(&p->generation);
        pthread_mutex_unlock(&p->mu);
        if (quit) break;
        if (!enter) continue;
        run_chunks(p);
        if (atomic_fetch_sub(&p->busy, 1) == 1) {
            pthread_mutex_lock(&p->mu);
            pthread_cond_signal(&p->done);
            pthread_mutex_unlock(&p->mu);
        }
    }
    return NULL;
}

static ks_status pool_start(ks_ctx *c)
{
    int nw = c->num_threads - 1;
    ks_pool *p = calloc(1, sizeof *p);
    if (!p) return ks_error(c, KS_ENOMEM, "out of memory creating the thread pool");
    p->threads = calloc((size_t)nw, sizeof *p->threads);
    if (!p->threads) { free(p); return ks_error(c, KS_ENOMEM, "out of memory creating the thread pool"); }
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->wake, NULL);
    pthread_cond_init(&p->done, NULL);
    /* workers inherit a mask with SIGINT blocked: the handler runs on the main thread */
    sigset_t block, old;
    sigemptyset(&block);
    sigaddset(&block, SIGINT);
    pthread_sigmask(SIG_BLOCK, &block, &old);
    for (int i = 0; i < nw; i++) {
        if (pthread_create(&p->threads[i], NULL, worker_main, p) != 0) break;
        p->nworkers++;
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    c->pool = p;
    return KS_OK;
}

void ks_pool_free(ks_pool *p)
{
    if (!p) return;
    pthread_mutex_lock(&p->mu);
    p->quit = 1;
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->mu);
    for (int i = 0; i < p->nworkers; i++) pthread_join(p->threads[i], NULL);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->wake);
    pthread_cond_destroy(&p->done);
    free(p->threads);
    free(p);
}

ks_status ks_parallel_for(ks_ctx *c, int64_t n, int64_t grain, ks_range_fn fn, void *arg)
{
    if (n <= 0) return KS_OK;
    if (grain < 1) grain = 1;
    int64_t nchunks = ks_num_chunks(n, grain);
    if (nchunks == 1 || c->num_threads <= 1) {
        for (int64_t i = 0; i < nchunks; i++) {
            if (ks_check_interrupt(c)) return KS_EINTR;
            int64_t b = i * grain, e = b + grain < n ? b + grain : n;
            ks_status st = fn(arg, b, e);
            if (st) return st;
        }
        return KS_OK;
    }
    if (!c->pool) {
        ks_status st = pool_start(c);
        if (st) return st;
    }
    ks_pool *p = c->pool;
    pthread_mutex_lock(&p->mu);
    p->ctx = c;
    p->fn = fn;
    p->arg = arg;
    p->n = n;
    p->grain = grain;
    p->nchunks = nchunks;
    p->err = KS_OK;
    atomic_store(&p->next, 0);
    atomic_store(&p->err_chunk, INT64_MAX);
    p->open = 1;
    atomic_fetch_add(&p->generation, 1);
    if (p->sleeping) pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->mu);
    run_chunks(p);
    /* every chunk is taken: close the region, then wait only for the
     * workers inside it (those still running a chunk) */
    pthread_mutex_lock(&p->mu);
    p->open = 0;
    pthread_mutex_unlock(&p->mu);
    for (int i = 0; i < SPIN_ROUNDS && atomic_load(&p->busy) > 0; i++) cpu_relax();
    pthread_mutex_lock(&p->mu);
    while (atomic_load(&p->busy) > 0) pthread_cond_wait(&p->done, &p->mu);
    ks_status err = p->err;
    pthread_mutex_unlock(&p->mu);
    if (ks_check_interrupt(c)) return KS_EINTR;
    if (err) return ks_error(c, err, "%s in a parallel kernel", ks_status_name(err));
    return KS_OK;
}

ks_status ks_set_num_threads(ks_ctx *c, int n)
{
    if (n < 1 || n > 256) return ks_error(c, KS_EINVAL, "number of threads must be in [1, 256], got %d", n);
    if (n != c->num_threads) {
        ks_pool_free(c->pool);
        c->pool = NULL;
        c->num_threads = n;
    }
    openblas_set_num_threads(1); /* kshot splits products itself (ks_linalg.h): thread-count independent */
    return KS_OK;
}

int ks_get_num_threads(const ks_ctx *c) { return c->num_threads; }

int ks_default_num_threads(void)
{
    cpu_set_t set;
    int n = 1;
    if (sched_getaffinity(0, sizeof set, &set) == 0) n = CPU_COUNT(&set);
    else n = (int)sysconf(_SC_NPROCESSORS_ONLN);
    if (n < 1) n = 1;
    return n > 8 ? 8 : n;
}
