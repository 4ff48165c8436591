/* fuzz_csv.c: libFuzzer harness of ks_csv_read. The first byte picks the
 * options (as ks.data.read_csv can pass them), the rest is the file:
 * bit 0 header, bit 1 has a label, bit 2 label by name (the first header
 * field's text), bits 3-4 label index 0, 1, -1 or 5, bit 5 fill, bit 6
 * sep ';' (else ','), bit 7 sep '\t' instead. */
#include "fuzz_common.h"
#include "../../../runtime/core/ks_csv.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    uint8_t b = data[0];
    static const int64_t idx[4] = {0, 1, -1, 5};
    ks_csv_opts o = {.sep = b & 0x80 ? '\t' : b & 0x40 ? ';' : ',', .header = b & 1, .has_label = (b >> 1) & 1,
                     .label_index = idx[(b >> 3) & 3], .has_fill = (b >> 5) & 1, .fill = -1};
    char name[16] = "";
    if (b & 4) { /* a name that may or may not be a column: the first bytes up to a separator */
        size_t k = 0;
        while (k + 1 < sizeof name && 1 + k < size && data[1 + k] != (uint8_t)o.sep && data[1 + k] != '\n' &&
               data[1 + k] != '\r' && data[1 + k] != '"' && data[1 + k] != 0)
            name[k] = (char)data[1 + k], k++;
        name[k] = 0;
        o.label_name = name;
    }
    const char *path = fuzz_write(data + 1, size - 1, ".csv");
    ks_ctx *c = ks_ctx_new();
    ks_csv_result r;
    ks_status st = ks_csv_read(c, path, &o, &r);
    if (st != KS_EINVAL) fuzz_check_error(c, st, path); /* option errors may name the option instead */
    if (!st) ks_csv_result_free(&r);
    ks_ctx_release(c);
    return 0;
}
