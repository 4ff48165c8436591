/* sgemm_ref.c: raw OpenBLAS cblas_sgemm throughput for the matmul
 * benchmark's cases, the reference that bench_matmul.lua compares kshot to.
 *
 *   sgemm_ref <threads>   ->  one line per case:
 *   case=1024 threads=1 gflops=123.4
 *
 * Cases (row-major, float32, C = A @ B, beta = 0, a fresh C reused):
 *   1024   1024x1024 @ 1024x1024
 *   mlp    32x784 @ 784x256
 *   mlp_t  32x784 @ (256x784)^T     (B passed as CblasTrans, no copy)
 *   bmm    64 x (32x32 @ 32x32)      (one sgemm call per matrix, serial loop)
 * Timing: iterations doubled until a run takes >= 0.2 s, then the best of
 * five runs of that many iterations. With 1 thread the clock is the
 * process's CPU time (equal to wall time on a quiet machine, much less
 * disturbed by other processes on a busy one); otherwise the wall clock.
 */
#include <cblas.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

extern void openblas_set_num_threads(int);

typedef struct bench_case {
    const char *name;
    int batch, M, N, K;
    int transB;
} bench_case;

static const bench_case cases[] = {
    {"1024", 1, 1024, 1024, 1024, 0},
    {"mlp", 1, 32, 256, 784, 0},
    {"mlp_t", 1, 32, 256, 784, 1},
    {"bmm", 64, 32, 32, 32, 0},
};

static clockid_t clock_id = CLOCK_MONOTONIC;

static double now(void)
{
    struct timespec ts;
    clock_gettime(clock_id, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void fill(float *p, size_t n, uint32_t seed)
{
    for (size_t i = 0; i < n; i++) {
        seed ^= seed << 13; seed ^= seed >> 17; seed ^= seed << 5;
        p[i] = (float)((double)seed / 4294967296.0 * 2.0 - 1.0);
    }
}

static void run_case(const bench_case *bc, const float *A, const float *B, float *C)
{
    size_t sa = (size_t)bc->M * bc->K, sb = (size_t)bc->K * bc->N, sc = (size_t)bc->M * bc->N;
    int ldb = bc->transB ? bc->K : bc->N;
    for (int b = 0; b < bc->batch; b++)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, bc->transB ? CblasTrans : CblasNoTrans, bc->M, bc->N, bc->K, 1.0f,
                    A + b * sa, bc->K, B + b * sb, ldb, 0.0f, C + b * sc, bc->N);
}

static double time_iters(const bench_case *bc, const float *A, const float *B, float *C, long iters)
{
    double t0 = now();
    for (long i = 0; i < iters; i++) run_case(bc, A, B, C);
    return now() - t0;
}

int main(int argc, char **argv)
{
    int threads = argc > 1 ? atoi(argv[1]) : 1;
    if (threads < 1) {
        fprintf(stderr, "usage: sgemm_ref <threads>\n");
        return 2;
    }
    openblas_set_num_threads(threads);
    if (threads == 1) clock_id = CLOCK_PROCESS_CPUTIME_ID;
    for (size_t ci = 0; ci < sizeof cases / sizeof *cases; ci++) {
        const bench_case *bc = &cases[ci];
        size_t na = (size_t)bc->batch * bc->M * bc->K, nb = (size_t)bc->batch * bc->K * bc->N;
        size_t nc = (size_t)bc->batch * bc->M * bc->N;
        float *A = malloc(na * sizeof *A), *B = malloc(nb * sizeof *B), *C = calloc(nc, sizeof *C);
        if (!A || !B || !C) { fprintf(stderr, "out of memory\n"); return 1; }
        fill(A, na, 12345u);
        fill(B, nb, 67890u);
        run_case(bc, A, B, C); /* warm up (thread start, page faults) */
        long iters = 1;
        while (time_iters(bc, A, B, C, iters) < 0.2) iters *= 2;
        double best = 1e30;
        for (int trial = 0; trial < 5; trial++) {
            double t = time_iters(bc, A, B, C, iters);
            if (t < best) best = t;
        }
        double flops = 2.0 * bc->batch * bc->M * bc->N * (double)bc->K * (double)iters;
        printf("case=%s threads=%d gflops=%.3f clock=%s\n", bc->name, threads, flops / best * 1e-9,
               threads == 1 ? "cpu" : "wall");
        fflush(stdout);
        free(A);
        free(B);
        free(C);
    }
    return 0;
}
