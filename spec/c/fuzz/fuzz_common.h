/* fuzz_common.h: shared part of the libFuzzer harnesses of the file readers.
 *
 * Each harness defines LLVMFuzzerTestOneInput: it writes the input to a
 * temporary file (the readers take paths), runs the reader with a fresh
 * context, checks the outcome (KS_OK with an output, or an error whose
 * message starts with the path) and frees everything, so LeakSanitizer sees
 * any leak. The context keeps its default memory limit, so a hostile size
 * that slips past the reader's checks shows up as a huge allocation
 * (-malloc_limit_mb). Built with clang -fsanitize=fuzzer (make fuzz) or with
 * fuzz_replay.c as main (make fuzz-replay: any C compiler, no libFuzzer).
 */
#ifndef FUZZ_COMMON_H
#define FUZZ_COMMON_H

#include "../../../runtime/core/ks_context.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char fuzz_path[256];
static void fuzz_cleanup(void) { unlink(fuzz_path); }

/* The per-process temporary file for an input, named with `ext` (removed at exit). */
static const char *fuzz_write(const uint8_t *data, size_t size, const char *ext)
{
    char *path = fuzz_path;
    if (!path[0]) atexit(fuzz_cleanup);
    const char *dir = getenv("FUZZ_TMPDIR"); /* default: /dev/shm, 20x faster than a disk's /tmp */
    if (!dir || !*dir) dir = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
    snprintf(path, sizeof fuzz_path, "%s/kshot_fuzz_%ld%s", dir, (long)getpid(), ext);
    FILE *f = fopen(path, "wb");
    if (!f || (size && fwrite(data, 1, size, f) != size) || fclose(f) != 0) {
        perror(path);
        abort();
    }
    return path;
}

/* An error must be a message starting with the path (the quality bar). */
static void fuzz_check_error(ks_ctx *c, ks_status st, const char *path)
{
    const char *msg = ks_ctx_message(c);
    if (st == KS_OK) return;
    if (strncmp(msg, path, strlen(path)) != 0) {
        fprintf(stderr, "error message does not start with the path: %s\n", msg);
        abort();
    }
    if (getenv("FUZZ_VERBOSE")) fprintf(stderr, "%s\n", msg);
}

#endif
