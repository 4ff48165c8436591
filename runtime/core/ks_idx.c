/* ks_idx.c: IDX reader through zlib (see ks_idx.h for the contract). */
#include "ks_idx.h"

#include <errno.h>
#include <stdio.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#define READ_CHUNK ((size_t)1 << 22) /* bytes per gzread between interrupt polls */
#define GZ_BUFFER (1u << 17)         /* zlib's input buffer: fewer, larger reads */
#define DEFLATE_MAX_RATIO 1032       /* deflate cannot expand more than this */

typedef struct reader {
    ks_ctx *c;
    const char *path;
    gzFile f;
    size_t pos;      /* bytes of the uncompressed stream consumed so far */
    off_t file_size; /* -1 when not a regular file */
} reader;

/* Header of an IDX file, as decoded. */
typedef struct idx_header {
    int type;                  /* the type byte, e.g. 0x08 */
    int ndim;
    int64_t size[KS_MAX_DIMS];
    size_t data_offset;        /* 4 + 4 * ndim */
    size_t data_bytes;         /* product of sizes times the element size */
    ks_dtype dtype;            /* dtype of the tensor it loads as */
} idx_header;

/* Element size in bytes of an IDX type byte; 0 when the type is unknown. */
static size_t type_size(int type)
{
    switch (type) {
    case 0x08: case 0x09: return 1;
    case 0x0B: return 2;
    case 0x0C: case 0x0D: return 4;
    case 0x0E: return 8;
    default: return 0;
    }
}

static ks_dtype type_dtype(int type)
{
    if (type == 0x08) return KS_UINT8;
    return type == 0x0D || type == 0x0E ? KS_FLOAT32 : KS_INT64;
}

static ks_status gz_fail(reader *r)
{
    int err;
    const char *msg = gzerror(r->f, &err), *colon = msg ? strstr(msg, ": ") : NULL;
    if (msg && strncmp(msg, "<fd:", 4) == 0 && colon) msg = colon + 2; /* zlib's name for the fd */
    if (err == Z_ERRNO)
        return ks_error(r->c, KS_EIO, "%s: read error near byte %zu (%s)", r->path, r->pos, strerror(errno));
    return ks_error(r->c, KS_EFORMAT, "%s: corrupt gzip data near byte %zu (%s)", r->path, r->pos,
                    msg && *msg ? msg : "unknown zlib error");
}

/* Read up to n bytes into buf in chunks, polling interrupts between chunks;
 * *got < n only at the end of the stream. */
static ks_status read_bytes(reader *r, void *buf, size_t n, size_t *got)
{
    size_t done = 0;
    *got = 0;
    while (done < n) {
        size_t want = n - done < READ_CHUNK ? n - done : READ_CHUNK;
        int k = gzread(r->f, (char *)buf + done, (unsigned)want);
        if (k < 0) return gz_fail(r);
        done += (size_t)k;
        *got = done;
        r->pos += (size_t)k;
        if ((size_t)k < want) break;
        ks_status st = ks_check_interrupt(r->c);
        if (st) return st;
    }
    return KS_OK;
}

/* A short read of the header: say where and, for gzip, if the stream broke. */
static ks_status header_short(reader *r, size_t expected)
{
    int err;
    gzerror(r->f, &err);
    if (err != Z_OK && err != Z_BUF_ERROR) return gz_fail(r);
    return ks_error(r->c, KS_EFORMAT, "%s: truncated at byte %zu of the header (expected %zu header bytes%s)",
                    r->path, r->pos, expected, err == Z_BUF_ERROR ? "; the gzip stream is cut short" : "");
}

static uint32_t be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static ks_status read_header(reader *r, idx_header *h)
{
    unsigned char b[4 * KS_MAX_DIMS];
    size_t got;
    ks_status st = read_bytes(r, b, 4, &got);
    if (st) return st;
    if (got < 4) return header_short(r, 4);
    if (b[0] || b[1])
        return ks_error(r->c, KS_EFORMAT,
                        "%s: bad magic at byte 0: expected 00 00, got %02x %02x (not an IDX file%s)", r->path,
                        b[0], b[1], b[0] == 0x1f && b[1] == 0x8b ? ", or a doubly gzipped one" : "");
    h->type = b[2];
    h->ndim = b[3];
    if (!type_size(h->type))
        return ks_error(r->c, KS_EFORMAT,
                        "%s: unsupported element type 0x%02X at byte 2 "
                        "(expected 0x08, 0x09, 0x0B, 0x0C, 0x0D or 0x0E)", r->path, (unsigned)h->type);
    if (h->ndim < 1 || h->ndim > KS_MAX_DIMS)
        return ks_error(r->c, KS_EFORMAT, "%s: bad number of dimensions %d at byte 3 (expected 1 to %d)",
                        r->path, h->ndim, KS_MAX_DIMS);
    h->data_offset = 4 + 4 * (size_t)h->ndim;
    if ((st = read_bytes(r, b, 4 * (size_t)h->ndim, &got))) return st;
    if (got < 4 * (size_t)h->ndim) return header_short(r, h->data_offset);
    for (int i = 0; i < h->ndim; i++) h->size[i] = be32(b + 4 * i);
    h->dtype = type_dtype(h->type);
    return KS_OK;
}

/* Overflow of the size product, in file bytes and in tensor bytes. A zero
 * size makes an empty tensor whatever the other sizes are. */
static ks_status check_sizes(reader *r, idx_header *h)
{
    size_t n = 1, tensor_bytes;
    int bad = 0;
    for (int i = 0; i < h->ndim; i++) bad |= ks_mul_overflow(n, (size_t)h->size[i], &n);
    for (int i = 0; i < h->ndim; i++)
        if (h->size[i] == 0) n = 0, bad = 0;
    bad |= n > (size_t)INT64_MAX / 8 || ks_mul_overflow(n, type_size(h->type), &h->data_bytes) ||
           ks_mul_overflow(n, ks_dtype_size(h->dtype), &tensor_bytes);
    char s[160];
    if (bad)
        return ks_error(r->c, KS_ERANGE, "%s: sizes %s (bytes 4 to %zu) overflow when multiplied", r->path,
                        ks_dims_str(h->ndim, h->size, s, sizeof s), h->data_offset - 1);
    int64_t numel; /* the rule of every tensor (non-zero sizes multiply to less than 2^60), zeros or not */
    if (ks_shape_numel(r->c, h->ndim, h->size, &numel)) {
        char msg[KS_MSG_SIZE];
        snprintf(msg, sizeof msg, "%s", ks_ctx_message(r->c));
        return ks_error(r->c, KS_ERANGE, "%s: sizes at bytes 4 to %zu: %s", r->path, h->data_offset - 1, msg);
    }
    return KS_OK;
}

/* Before allocating: compare the promised size with what the file can hold. */
static ks_status check_file_size(reader *r, const idx_header *h)
{
    if (r->file_size < 0) return KS_OK;
    size_t fs = (size_t)r->file_size, need = h->data_offset + h->data_bytes;
    char s[160];
    ks_dims_str(h->ndim, h->size, s, sizeof s);
    if (gzdirect(r->f)) {
        if (fs < need)
            return ks_error(r->c, KS_EFORMAT, "%s: truncated at byte %zu of data (expected %zu bytes for sizes %s)",
                            r->path, fs - h->data_offset, h->data_bytes, s);
        if (fs > need)
            return ks_error(r->c, KS_EFORMAT,
                            "%s: %zu trailing bytes after byte %zu (the sizes %s account for %zu bytes of data)",
                            r->path, fs - need, need, s, h->data_bytes);
        return KS_OK;
    }
    size_t cap;
    if (!ks_mul_overflow(fs, DEFLATE_MAX_RATIO, &cap) && cap + 1024 < need)
        return ks_error(r->c, KS_EFORMAT,
                        "%s: sizes %s promise %zu bytes of data, more than a %zu-byte gzip file can hold "
                        "(truncated file or corrupt sizes)", r->path, s, h->data_bytes, fs);
    return KS_OK;
}

/* Big-endian integers of size sz at the tail of buf widened in place to int64
 * from the front: element i is read before its 8 bytes overwrite anything unread. */
static void widen_ints(char *buf, size_t numel, size_t sz)
{
    const unsigned char *src = (const unsigned char *)buf + numel * (8 - sz);
    int64_t *dst = (int64_t *)buf;
    for (size_t i = 0; i < numel; i++, src += sz) {
        int64_t v;
        if (sz == 1) v = (int8_t)src[0];
        else if (sz == 2) v = (int16_t)(uint16_t)(src[0] << 8 | src[1]);
        else v = (int32_t)be32(src);
        dst[i] = v;
    }
}

static void swap_floats(float *p, size_t numel)
{
    for (size_t i = 0; i < numel; i++) {
        uint32_t u = be32((const unsigned char *)(p + i));
        memcpy(p + i, &u, 4);
    }
}

static ks_status data_short(reader *r, const idx_header *h, size_t got)
{
    char s[160];
    int err;
    gzerror(r->f, &err);
    if (err != Z_OK && err != Z_BUF_ERROR) return gz_fail(r);
    return ks_error(r->c, KS_EFORMAT, "%s: truncated at byte %zu of data (expected %zu bytes for sizes %s%s)",
                    r->path, got, h->data_bytes, ks_dims_str(h->ndim, h->size, s, sizeof s),
                    err == Z_BUF_ERROR ? "; the gzip stream is cut short" : "");
}

/* float64 through a bounce buffer, converted chunk by chunk. */
static ks_status read_f64(reader *r, const idx_header *h, float *dst, size_t numel)
{
    enum { N = 8192 };
    unsigned char *tmp = malloc(N * 8);
    if (!tmp) return ks_error(r->c, KS_ENOMEM, "%s: out of memory for a read buffer", r->path);
    ks_status st = KS_OK;
    for (size_t i = 0; i < numel && !st;) {
        size_t k = numel - i < N ? numel - i : N, got;
        if ((st = read_bytes(r, tmp, k * 8, &got))) break;
        if (got < k * 8) { st = data_short(r, h, i * 8 + got); break; }
        for (size_t j = 0; j < k; j++) {
            uint64_t u = (uint64_t)be32(tmp + 8 * j) << 32 | be32(tmp + 8 * j + 4);
            double d;
            memcpy(&d, &u, 8);
            dst[i + j] = (float)d;
        }
        i += k;
    }
    free(tmp);
    return st;
}

static ks_status read_data(reader *r, const idx_header *h, ks_tensor *t)
{
    size_t numel = (size_t)t->numel, sz = type_size(h->type), got;
    char *buf = ks_tensor_data(t);
    if (h->type == 0x0E) return read_f64(r, h, (float *)buf, numel);
    char *at = h->dtype == KS_INT64 ? buf + numel * (8 - sz) : buf;
    ks_status st = read_bytes(r, at, h->data_bytes, &got);
    if (st) return st;
    if (got < h->data_bytes) return data_short(r, h, got);
    if (h->dtype == KS_INT64) widen_ints(buf, numel, sz);
    else if (h->type == 0x0D) swap_floats((float *)buf, numel);
    return KS_OK;
}

/* After the data: the stream must end, and (gzip) end cleanly. */
static ks_status check_end(reader *r, const idx_header *h)
{
    unsigned char b;
    size_t end = r->pos;
    int k = gzread(r->f, &b, 1), err;
    if (k < 0) return gz_fail(r);
    char s[160];
    ks_dims_str(h->ndim, h->size, s, sizeof s);
    if (k > 0)
        return ks_error(r->c, KS_EFORMAT,
                        "%s: trailing bytes after byte %zu (the sizes %s account for %zu bytes of data)", r->path,
                        end, s, h->data_bytes);
    gzerror(r->f, &err);
    if (err == Z_BUF_ERROR)
        return ks_error(r->c, KS_EFORMAT, "%s: gzip stream cut short after byte %zu (its end and CRC are missing)",
                        r->path, end);
    return err == Z_OK ? KS_OK : gz_fail(r);
}

static ks_status open_reader(ks_ctx *c, const char *path, reader *r)
{
    memset(r, 0, sizeof *r);
    r->c = c;
    r->path = path;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return ks_error(c, KS_EIO, "%s: cannot open (%s)", path, strerror(errno));
    struct stat sb;
    if (fstat(fd, &sb) == 0 && S_ISDIR(sb.st_mode)) {
        close(fd);
        return ks_error(c, KS_EIO, "%s: is a directory, not an IDX file", path);
    }
    r->file_size = fstat(fd, &sb) == 0 && S_ISREG(sb.st_mode) ? sb.st_size : -1;
    r->f = gzdopen(fd, "rb");
    if (!r->f) {
        close(fd);
        return ks_error(c, KS_ENOMEM, "%s: out of memory opening the file", path);
    }
    gzbuffer(r->f, GZ_BUFFER);
    return KS_OK;
}

/* The tensor, with the path in front of an allocation error. */
static ks_status alloc_tensor(reader *r, const idx_header *h, ks_tensor **t)
{
    ks_status st = ks_tensor_empty(r->c, h->dtype, h->ndim, h->size, t);
    if (st) {
        char msg[KS_MSG_SIZE];
        snprintf(msg, sizeof msg, "%s", ks_ctx_message(r->c));
        ks_error(r->c, st, "%s: %s", r->path, msg);
    }
    return st;
}

ks_status ks_idx_read(ks_ctx *c, const char *path, ks_tensor **out)
{
    reader r;
    idx_header h;
    ks_tensor *t = NULL;
    ks_status st = open_reader(c, path, &r);
    if (st) return st;
    if (!(st = read_header(&r, &h)) && !(st = check_sizes(&r, &h)) && !(st = check_file_size(&r, &h)) &&
        !(st = alloc_tensor(&r, &h, &t)) && !(st = read_data(&r, &h, t)))
        st = check_end(&r, &h);
    gzclose_r(r.f);
    if (st) {
        ks_tensor_release(t);
        return st;
    }
    *out = t;
    return KS_OK;
}
