/* embed_example.c: kshot inside another C program (see runtime/host/kshot.h).
 *
 * Build (after `make`):
 *   cc -std=c11 -Iruntime/host runtime/host/examples/embed_example.c \
 *      build/libkshot.a /usr/lib/x86_64-linux-gnu/liblua5.4.a \
 *      -lopenblas -ljansson -lpng -ljpeg -lz -lm -lpthread -ldl -o embed_example
 *
 * Runs a string that builds a tensor and prints its sum, then shows what a
 * failing run reports. Exit status 0 when both behaved as expected. */
#include "kshot.h"

#include <stdio.h>

int main(void)
{
    kshot_state *ks = kshot_open();
    if (!ks) {
        fprintf(stderr, "embed_example: cannot create a kshot state\n");
        return 1;
    }

    /* a script: kshot is available through require, as in the kshot host */
    const char *code =
        "local ks = require 'kshot'\n"
        "local t = ks.tensor({{1, 2}, {3, 4}})\n"
        "print('sum = ' .. t:sum():item())\n";
    if (kshot_run_string(ks, code) != KSHOT_OK) {
        fprintf(stderr, "embed_example: unexpected error: %s\n", kshot_last_error(ks));
        kshot_close(ks);
        return 1;
    }

    /* a failing script: the run returns a Lua status and the message (with
     * a traceback) stays available until the next run */
    int st = kshot_run_string(ks, "local ks = require 'kshot'\nerror('no such layer: Conv5d')");
    if (st == KSHOT_OK) {
        fprintf(stderr, "embed_example: the failing script did not fail\n");
        kshot_close(ks);
        return 1;
    }
    printf("error status %d\n", st);
    printf("error message: %s\n", kshot_last_error(ks));

    kshot_close(ks);
    return 0;
}
