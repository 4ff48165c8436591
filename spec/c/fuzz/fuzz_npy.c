/* fuzz_npy.c: libFuzzer harness of ks_npy_read. */
#include "fuzz_common.h"
#include "../../../runtime/core/ks_npy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_write(data, size, ".npy");
    ks_ctx *c = ks_ctx_new();
    ks_tensor *t = NULL;
    ks_status st = ks_npy_read(c, path, &t);
    fuzz_check_error(c, st, path);
    if (!st) ks_tensor_release(t);
    ks_ctx_release(c);
    return 0;
}
