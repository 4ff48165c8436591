/* ks_random.c: Philox 4x32-10 (Salmon et al., SC'11) and scalar draws. */
#include "ks_random.h"

#include <math.h>
#include <stdlib.h>

#define PHILOX_M0 0xD2511F53u
#define PHILOX_M1 0xCD9E8D57u
#define PHILOX_W0 0x9E3779B9u
#define PHILOX_W1 0xBB67AE85u

void ks_philox(uint64_t seed, uint64_t ctr, uint32_t out[4])
{
    uint32_t c0 = (uint32_t)ctr, c1 = (uint32_t)(ctr >> 32), c2 = 0, c3 = 0;
    uint32_t k0 = (uint32_t)seed, k1 = (uint32_t)(seed >> 32);
    for (int r = 0; r < 10; r++) {
        uint64_t p0 = (uint64_t)PHILOX_M0 * c0, p1 = (uint64_t)PHILOX_M1 * c2;
        uint32_t n0 = (uint32_t)(p1 >> 32) ^ c1 ^ k0, n1 = (uint32_t)p1;
        uint32_t n2 = (uint32_t)(p0 >> 32) ^ c3 ^ k1, n3 = (uint32_t)p0;
        c0 = n0; c1 = n1; c2 = n2; c3 = n3;
        k0 += PHILOX_W0;
        k1 += PHILOX_W1;
    }
    out[0] = c0; out[1] = c1; out[2] = c2; out[3] = c3;
}

uint32_t ks_random_word(uint64_t seed, uint64_t start, uint64_t i)
{
    uint32_t w[4];
    ks_philox(seed, start + i / 4, w);
    return w[i % 4];
}

ks_generator *ks_generator_new(ks_ctx *c, uint64_t seed)
{
    (void)c;
    ks_generator *g = malloc(sizeof *g);
    if (g) ks_generator_seed(g, seed);
    return g;
}

void ks_generator_free(ks_generator *g) { free(g); }

void ks_generator_seed(ks_generator *g, uint64_t seed)
{
    g->seed = seed;
    g->offset = 0;
}

/* splitmix64 finaliser: decorrelates derived keys */
static uint64_t mix64(uint64_t z)
{
    z += 0x9E3779B97F4A7C15ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

void ks_generator_fork(const ks_generator *g, uint64_t stream, ks_generator *out)
{
    out->seed = mix64(g->seed ^ mix64(stream + 0x5851F42D4C957F2Dull));
    out->offset = 0;
}

double ks_random_uniform(ks_generator *g)
{
    uint32_t w[4];
    ks_philox(g->seed, ks_generator_take(g, 1), w);
    return ks_u64_to_unit(w[0], w[1]);
}

double ks_random_normal(ks_generator *g)
{
    uint32_t w[4];
    ks_philox(g->seed, ks_generator_take(g, 1), w);
    double u1 = 1.0 - ks_u64_to_unit(w[0], w[1]); /* (0, 1] so log is finite */
    double u2 = ks_u64_to_unit(w[2], w[3]);
    return sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2);
}

uint64_t ks_random_below(ks_generator *g, uint64_t n)
{
    /* Lemire's multiply-shift with rejection: exactly uniform */
    for (;;) {
        uint32_t w[4];
        ks_philox(g->seed, ks_generator_take(g, 1), w);
        uint64_t x = ((uint64_t)w[0] << 32) | w[1];
        unsigned __int128 m = (unsigned __int128)x * n;
        uint64_t low = (uint64_t)m;
        if (low >= n || low >= (uint64_t)(-n) % n) return (uint64_t)(m >> 64);
    }
}

/* Marsaglia & Tsang (2000); shape < 1 via the boost u^(1/shape). */
double ks_random_gamma(ks_generator *g, double shape)
{
    if (shape < 1.0) {
        double u = ks_random_uniform(g);
        return ks_random_gamma(g, shape + 1.0) * pow(u > 0 ? u : 1e-300, 1.0 / shape);
    }
    double d = shape - 1.0 / 3.0, cc = 1.0 / sqrt(9.0 * d);
    for (;;) {
        double x = ks_random_normal(g), v = 1.0 + cc * x;
        if (v <= 0) continue;
        v = v * v * v;
        double u = ks_random_uniform(g);
        if (u < 1.0 - 0.0331 * x * x * x * x) return d * v;
        if (u > 0 && log(u) < 0.5 * x * x + d * (1.0 - v + log(v))) return d * v;
    }
}

double ks_random_beta(ks_generator *g, double a, double b)
{
    double x = ks_random_gamma(g, a), y = ks_random_gamma(g, b);
    return x + y > 0 ? x / (x + y) : 0.5;
}
