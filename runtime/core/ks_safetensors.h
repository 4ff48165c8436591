/* ks_safetensors.h: safetensors checkpoints (the Hugging Face format).
 *
 * Layout: 8-byte little-endian header length N, N bytes of UTF-8 JSON
 * {"name": {"dtype": D, "shape": [..], "data_offsets": [b, e]}, ...,
 *  "__metadata__": {"k": "v", ...}}, then the data section (little-endian,
 * C order, no gaps). Offsets are relative to the data section.
 *
 * Loading enforces every rule of the format: 8 <= file, N <= 100 MB and
 * N <= file - 8, valid UTF-8 JSON object without duplicate keys, entries with
 * exactly dtype/shape/data_offsets, a known dtype, at most KS_MAX_DIMS
 * non-negative integer sizes, 0 <= b <= e, e - b == product(shape) * dtype
 * size, offsets inside the data section, no overlap and no gap, covering the
 * data section exactly; __metadata__ a string -> string object. Metadata
 * values may hold NUL bytes (\u0000, kept with their lengths); keys may not
 * (jansson refuses \u0000 in a key: an error naming the byte offset, never
 * two keys merged).
 * dtypes load as: F32/F16/BF16/F64 -> float32 (F16/BF16 exact, F64
 * rounded), I64/I32/I16/I8 -> int64, U8 -> uint8, BOOL -> bool (nonzero
 * bytes become 1). Data is read straight into the tensors' storage (narrow
 * types are widened in place), in chunks that poll the interrupt flag.
 * Every error message starts with the path and names the tensor or the
 * byte offset that is wrong.
 *
 * Saving writes float32 -> F32, int64 -> I64, uint8 -> U8, bool -> BOOL;
 * keys sorted (byte order), tensors in key order, C order (non-contiguous
 * tensors are written contiguously), the compact JSON header padded with
 * spaces to a multiple of 8 bytes; atomically (see ks_fileio.h).
 */
#ifndef KS_SAFETENSORS_H
#define KS_SAFETENSORS_H

#include "ks_tensor.h"

#define KS_SAFETENSORS_MAX_HEADER ((uint64_t)100 * 1000 * 1000)

/* The contents of a loaded file; free with ks_st_file_free. Tensors appear
 * in data-offset order; metadata in the header's order. */
typedef struct ks_st_file {
    int n;
    char **names;
    ks_tensor **tensors;
    int nmeta;
    char **meta_keys, **meta_values; /* values NUL-terminated, but may hold NULs: */
    size_t *meta_value_lens;         /* their lengths */
} ks_st_file;

ks_status ks_safetensors_load(ks_ctx *c, const char *path, ks_st_file **out);
/* Releases the tensors still held (callers may take one and set it to NULL). */
void ks_st_file_free(ks_st_file *f);

/* Write n named tensors and nmeta metadata pairs (names must be distinct,
 * not "__metadata__", valid UTF-8). Names and keys are C strings (callers
 * refuse ones with embedded NULs); value i has meta_value_lens[i] bytes (NULs
 * allowed, written as \u0000), or strlen when meta_value_lens is NULL. */
ks_status ks_safetensors_save(ks_ctx *c, const char *path, int n, const char *const *names,
                              ks_tensor *const *tensors, int nmeta, const char *const *meta_keys,
                              const char *const *meta_values, const size_t *meta_value_lens);

#endif
