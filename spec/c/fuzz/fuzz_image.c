/* fuzz_image.c: libFuzzer harness of ks_image_load (PNG and JPEG). The
 * last byte picks channels 0, 1 or 3 (ks.image.load's gray=/channels=);
 * the whole input is the file (a trailing byte is harmless to both codecs). */
#include "fuzz_common.h"
#include "../../../runtime/core/ks_image.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const int channels[3] = {0, 1, 3};
    int ch = size ? channels[data[size - 1] % 3] : 0;
    const char *path = fuzz_write(data, size, ".img");
    ks_ctx *c = ks_ctx_new();
    ks_tensor *t = NULL;
    ks_status st = ks_image_load(c, path, ch, &t);
    fuzz_check_error(c, st, path);
    if (!st) ks_tensor_release(t);
    ks_ctx_release(c);
    return 0;
}
