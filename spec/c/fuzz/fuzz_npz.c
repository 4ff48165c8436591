/* fuzz_npz.c: libFuzzer harness of ks_npz_read (zip of .npy members). */
#include "fuzz_common.h"
#include "../../../runtime/core/ks_npy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_write(data, size, ".npz");
    ks_ctx *c = ks_ctx_new();
    ks_npz *z = NULL;
    ks_status st = ks_npz_read(c, path, &z);
    fuzz_check_error(c, st, path);
    if (!st) ks_npz_free(z);
    ks_ctx_release(c);
    return 0;
}
