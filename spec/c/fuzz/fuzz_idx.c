/* fuzz_idx.c: libFuzzer harness of ks_idx_read (plain and gzip IDX). */
#include "fuzz_common.h"
#include "../../../runtime/core/ks_idx.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_write(data, size, ".idx");
    ks_ctx *c = ks_ctx_new();
    ks_tensor *t = NULL;
    ks_status st = ks_idx_read(c, path, &t);
    fuzz_check_error(c, st, path);
    if (!st) ks_tensor_release(t);
    ks_ctx_release(c);
    return 0;
}
