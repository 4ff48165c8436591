/* ks_random.h: counter-based random numbers (Philox 4x32-10).
 *
 * A generator is (seed, offset): the seed makes the Philox key, the offset is
 * the 128-bit block counter. Every draw of n values consumes a block range
 * fixed by n alone, and value i of a draw depends only on (key, start + i/4),
 * so fills are reproducible and identical for any thread count. Streams split
 * cheaply: ks_generator_fork derives an independent key from (seed, stream).
 */
#ifndef KS_RANDOM_H
#define KS_RANDOM_H

#include "ks_context.h"
#include <stdint.h>

typedef struct ks_generator {
    uint64_t seed;
    uint64_t offset; /* next unused 128-bit counter block */
} ks_generator;

ks_generator *ks_generator_new(ks_ctx *c, uint64_t seed);
void ks_generator_free(ks_generator *g);
void ks_generator_seed(ks_generator *g, uint64_t seed);
/* A new independent stream derived from g's seed and a stream id; g unchanged. */
void ks_generator_fork(const ks_generator *g, uint64_t stream, ks_generator *out);

/* Philox 4x32-10: 4 random words for counter block `ctr` under key from seed. */
void ks_philox(uint64_t seed, uint64_t ctr, uint32_t out[4]);

/* Reserve `nblocks` counter blocks; returns the first one. */
static inline uint64_t ks_generator_take(ks_generator *g, uint64_t nblocks)
{
    uint64_t start = g->offset;
    g->offset += nblocks;
    return start;
}

/* Word i (0-based) of a draw that started at block `start`. */
uint32_t ks_random_word(uint64_t seed, uint64_t start, uint64_t i);
/* uint32 -> float in [0, 1) with 24 random bits */
static inline float ks_u32_to_unit(uint32_t x) { return (float)(x >> 8) * (1.0f / 16777216.0f); }
/* two uint32 -> double in [0, 1) with 53 random bits */
static inline double ks_u64_to_unit(uint32_t hi, uint32_t lo)
{
    return (double)(((uint64_t)hi << 21) ^ (lo >> 11)) * (1.0 / 9007199254740992.0);
}

/* Convenience scalar draws that advance g (serial use: samplers, augmentation). */
double ks_random_uniform(ks_generator *g);          /* [0, 1), 53 bits */
double ks_random_normal(ks_generator *g);           /* N(0, 1) */
uint64_t ks_random_below(ks_generator *g, uint64_t n); /* uniform in [0, n), n > 0 */
double ks_random_gamma(ks_generator *g, double shape);
double ks_random_beta(ks_generator *g, double a, double b);

#endif
