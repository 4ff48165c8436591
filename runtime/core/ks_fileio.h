/* ks_fileio.h: whole-file reads and atomic writes shared by the file formats.
 *
 * Atomic write: ks_atomic_open creates "<path>.tmp<pid>.<n>" in the target's
 * folder (O_EXCL, mode 0666 minus the umask); ks_atomic_write appends bytes;
 * ks_atomic_commit flushes, fsyncs, closes and renames over the target (then
 * fsyncs the folder), so readers see the old file or the whole new one, never
 * a half-written one. On any failure (and in ks_atomic_abort) the temporary
 * file is removed. Every error message starts with the target path.
 */
#ifndef KS_FILEIO_H
#define KS_FILEIO_H

#include "ks_context.h"
#include <stdio.h>

typedef struct ks_atomic_file {
    FILE *f;
    char *tmp;        /* temporary path (malloc'd) */
    const char *path; /* target path (borrowed) */
} ks_atomic_file;

ks_status ks_atomic_open(ks_ctx *c, const char *path, ks_atomic_file *af);
/* Append n bytes; on failure the file is aborted (removed). */
ks_status ks_atomic_write(ks_ctx *c, ks_atomic_file *af, const void *data, size_t n);
/* Flush, fsync, close, rename. On failure the file is aborted. */
ks_status ks_atomic_commit(ks_ctx *c, ks_atomic_file *af);
/* Close and remove the temporary file (idempotent). */
void ks_atomic_abort(ks_atomic_file *af);

/* Read a whole regular file into a malloc'd buffer (*buf, free() it).
 * Files larger than max_bytes are refused (KS_EFORMAT, naming the limit). */
ks_status ks_file_read_all(ks_ctx *c, const char *path, size_t max_bytes, unsigned char **buf, size_t *len);

#endif
