/* ks_fileio.c: whole-file reads and atomic writes (see ks_fileio.h). */
#include "ks_fileio.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static atomic_uint tmp_counter;

ks_status ks_atomic_open(ks_ctx *c, const char *path, ks_atomic_file *af)
{
    memset(af, 0, sizeof *af);
    af->path = path;
    size_t n = strlen(path) + 48;
    af->tmp = malloc(n);
    if (!af->tmp) return ks_error(c, KS_ENOMEM, "%s: out of memory", path);
    int fd = -1;
    for (int tries = 0; tries < 100 && fd < 0; tries++) {
        snprintf(af->tmp, n, "%s.tmp%ld.%u", path, (long)getpid(), atomic_fetch_add(&tmp_counter, 1));
        fd = open(af->tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
        if (fd < 0 && errno != EEXIST) break;
    }
    if (fd < 0) {
        int e = errno;
        free(af->tmp);
        af->tmp = NULL;
        return ks_error(c, KS_EIO, "%s: cannot create a temporary file next to it (%s)", path, strerror(e));
    }
    af->f = fdopen(fd, "wb");
    if (!af->f) {
        close(fd);
        ks_atomic_abort(af);
        return ks_error(c, KS_ENOMEM, "%s: out of memory opening the temporary file", path);
    }
    return KS_OK;
}

void ks_atomic_abort(ks_atomic_file *af)
{
    if (af->f) fclose(af->f);
    af->f = NULL;
    if (af->tmp) {
        unlink(af->tmp);
        free(af->tmp);
        af->tmp = NULL;
    }
}

static ks_status io_fail(ks_ctx *c, ks_atomic_file *af, const char *what, int e)
{
    ks_atomic_abort(af);
    return ks_error(c, KS_EIO, "%s: %s failed (%s); nothing was written", af->path, what, strerror(e));
}

ks_status ks_atomic_write(ks_ctx *c, ks_atomic_file *af, const void *data, size_t n)
{
    if (n && fwrite(data, 1, n, af->f) != n) return io_fail(c, af, "write", errno);
    return KS_OK;
}

/* fsync the folder so the rename itself is durable (best effort). */
static void sync_dir(const char *path)
{
    char *copy = strdup(path);
    if (!copy) return;
    int fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
    free(copy);
}

ks_status ks_atomic_commit(ks_ctx *c, ks_atomic_file *af)
{
    if (fflush(af->f) != 0) return io_fail(c, af, "write", errno);
    if (fsync(fileno(af->f)) != 0) return io_fail(c, af, "fsync", errno);
    FILE *f = af->f;
    af->f = NULL;
    if (fclose(f) != 0) return io_fail(c, af, "close", errno);
    if (rename(af->tmp, af->path) != 0) return io_fail(c, af, "rename", errno);
    free(af->tmp);
    af->tmp = NULL;
    sync_dir(af->path);
    return KS_OK;
}

ks_status ks_file_read_all(ks_ctx *c, const char *path, size_t max_bytes, unsigned char **buf, size_t *len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return ks_error(c, KS_EIO, "%s: cannot open (%s)", path, strerror(errno));
    struct stat sb;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        close(fd);
        return ks_error(c, KS_EIO, "%s: not a regular file", path);
    }
    if ((uint64_t)sb.st_size > max_bytes) {
        close(fd);
        return ks_error(c, KS_EFORMAT, "%s: file of %lld bytes is larger than the limit of %zu bytes", path,
                        (long long)sb.st_size, max_bytes);
    }
    size_t n = (size_t)sb.st_size, done = 0;
    unsigned char *p = malloc(n + 1);
    if (!p) {
        close(fd);
        return ks_error(c, KS_ENOMEM, "%s: out of memory reading %zu bytes", path, n);
    }
    while (done < n) {
        ssize_t k = read(fd, p + done, n - done);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) {
            int e = k < 0 ? errno : 0;
            free(p);
            close(fd);
            return ks_error(c, KS_EIO, "%s: read error at byte %zu (%s)", path, done,
                            e ? strerror(e) : "file shrank while reading");
        }
        done += (size_t)k;
    }
    close(fd);
    p[n] = 0; /* convenience terminator for text parsers */
    *buf = p;
    *len = n;
    return KS_OK;
}
