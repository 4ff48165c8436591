/* fuzz_safetensors.c: libFuzzer harness of ks_safetensors_load (ks.load). */
#include "fuzz_common.h"
#include "../../../runtime/core/ks_safetensors.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_write(data, size, ".safetensors");
    ks_ctx *c = ks_ctx_new();
    ks_st_file *f = NULL;
    ks_status st = ks_safetensors_load(c, path, &f);
    fuzz_check_error(c, st, path);
    if (!st) ks_st_file_free(f);
    ks_ctx_release(c);
    return 0;
}
