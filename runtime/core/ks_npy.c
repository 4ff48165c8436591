/* ks_npy.c: .npy read/write and .npz read (see ks_npy.h). */
#include "ks_npy.h"
#include "ks_fileio.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

#define IO_CHUNK ((size_t)1 << 22)
#define MAX_HEADER ((size_t)1 << 20)
#define DEFLATE_MAX_RATIO 1032 /* deflate cannot expand more than this */

_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "npy I/O assumes a little-endian host");

/* A byte source: a file or a memory block (an npz member); `base` is added
 * to offsets in messages; `name` is what messages call it. */
typedef struct source {
    ks_ctx *c;
    const char *name;
    FILE *f;
    const unsigned char *mem;
    size_t len, pos;
} source;

/* The next n bytes must exist (checked before allocating room for them). */
static ks_status src_need(source *s, size_t n, const char *what)
{
    if (n > s->len - s->pos)
        return ks_error(s->c, KS_EFORMAT, "%s: truncated at byte %zu while reading %s (%zu bytes needed, %zu left)",
                        s->name, s->pos, what, n, s->len - s->pos);
    return KS_OK;
}

static ks_status src_read(source *s, void *dst, size_t n, const char *what)
{
    ks_status st = src_need(s, n, what);
    if (st) return st;
    if (s->mem) {
        memcpy(dst, s->mem + s->pos, n);
        s->pos += n;
        return KS_OK;
    }
    for (size_t done = 0; done < n;) {
        size_t k = n - done < IO_CHUNK ? n - done : IO_CHUNK;
        if (fread((char *)dst + done, 1, k, s->f) != k)
            return ks_error(s->c, KS_EIO, "%s: read error at byte %zu (%s)", s->name, s->pos + done,
                            ferror(s->f) ? strerror(errno) : "file shrank while reading");
        done += k;
        ks_status st = ks_check_interrupt(s->c);
        if (st) return st;
    }
    s->pos += n;
    return KS_OK;
}

/* ------------------------------------------------------------ header */
typedef struct npy_header {
    char descr[16];
    int fortran, have_descr, have_fortran, have_shape;
    int ndim;
    int64_t size[KS_MAX_DIMS];
    size_t itemsize;
    char kind; /* 'f', 'i', 'u', 'b' */
    ks_dtype dtype;
} npy_header;

typedef struct hparser {
    source *s;
    const char *h;
    size_t n, i, base; /* base: file offset of h[0] */
} hparser;

static ks_status hbad(hparser *p, const char *what)
{
    return ks_error(p->s->c, KS_EFORMAT, "%s: bad header at byte %zu: %s (header: %.*s)", p->s->name, p->base + p->i,
                    what, (int)(p->n > 120 ? 120 : p->n), p->h);
}

static void ws(hparser *p)
{
    while (p->i < p->n && (p->h[p->i] == ' ' || p->h[p->i] == '\t' || p->h[p->i] == '\n' || p->h[p->i] == '\r'))
        p->i++;
}

static int eat(hparser *p, char ch)
{
    ws(p);
    if (p->i < p->n && p->h[p->i] == ch) {
        p->i++;
        return 1;
    }
    return 0;
}

static ks_status pystring(hparser *p, char *out, size_t cap)
{
    ws(p);
    if (p->i >= p->n || (p->h[p->i] != '\'' && p->h[p->i] != '"')) return hbad(p, "expected a quoted string");
    char q = p->h[p->i++];
    size_t k = 0;
    while (p->i < p->n && p->h[p->i] != q) {
        if (k + 1 >= cap) return hbad(p, "string too long");
        out[k++] = p->h[p->i++];
    }
    if (p->i >= p->n) return hbad(p, "unterminated string");
    p->i++;
    out[k] = 0;
    return KS_OK;
}

static ks_status pyshape(hparser *p, npy_header *h)
{
    if (!eat(p, '(')) return hbad(p, "'shape' must be a tuple");
    h->ndim = 0;
    while (!eat(p, ')')) {
        ws(p);
        if (h->ndim >= KS_MAX_DIMS) return hbad(p, "too many dimensions");
        char *end;
        errno = 0;
        long long v = strtoll(p->h + p->i, &end, 10);
        if (end == p->h + p->i || v < 0 || errno) return hbad(p, "shape entries must be non-negative integers");
        p->i = (size_t)(end - p->h);
        if (p->i < p->n && p->h[p->i] == 'L') p->i++; /* Python 2 long */
        h->size[h->ndim++] = v;
        if (!eat(p, ',')) {
            if (!eat(p, ')')) return hbad(p, "expected ',' or ')' in the shape");
            break;
        }
    }
    int64_t numel; /* the rule of every tensor, zeros or not: named here with the file and byte */
    if (ks_shape_numel(p->s->c, h->ndim, h->size, &numel)) {
        char msg[KS_MSG_SIZE];
        snprintf(msg, sizeof msg, "%s", ks_ctx_message(p->s->c));
        return hbad(p, msg);
    }
    return KS_OK;
}

static ks_status set_descr(hparser *p, npy_header *h)
{
    const char *d = h->descr;
    if (d[0] == '>') return hbad(p, "big-endian data ('>') is not supported");
    if (d[0] != '<' && d[0] != '|' && d[0] != '=') return hbad(p, "unsupported descr (expected <f4 <f8 <i8 <i4 <i2 |i1 |u1 |b1)");
    h->kind = d[1];
    h->itemsize = (size_t)atoi(d + 2);
    int ok = (h->kind == 'f' && (h->itemsize == 4 || h->itemsize == 8)) ||
             (h->kind == 'i' && (h->itemsize == 1 || h->itemsize == 2 || h->itemsize == 4 || h->itemsize == 8)) ||
             ((h->kind == 'u' || h->kind == 'b') && h->itemsize == 1);
    if (!ok || strlen(d) != (h->itemsize >= 10 ? 4u : 3u))
        return hbad(p, "unsupported descr (expected <f4 <f8 <i8 <i4 <i2 |i1 |u1 |b1)");
    h->dtype = h->kind == 'f' ? KS_FLOAT32 : h->kind == 'i' ? KS_INT64 : h->kind == 'u' ? KS_UINT8 : KS_BOOL;
    return KS_OK;
}

static ks_status parse_dict(hparser *p, npy_header *h)
{
    if (!eat(p, '{')) return hbad(p, "expected '{'");
    while (!eat(p, '}')) {
        char key[32];
        ks_status st = pystring(p, key, sizeof key);
        if (st) return st;
        if (!eat(p, ':')) return hbad(p, "expected ':'");
        if (strcmp(key, "descr") == 0) {
            if ((st = pystring(p, h->descr, sizeof h->descr)) || (st = set_descr(p, h))) return st;
            h->have_descr = 1;
        } else if (strcmp(key, "fortran_order") == 0) {
            ws(p);
            if (p->n - p->i >= 4 && memcmp(p->h + p->i, "True", 4) == 0) h->fortran = 1, p->i += 4;
            else if (p->n - p->i >= 5 && memcmp(p->h + p->i, "False", 5) == 0) h->fortran = 0, p->i += 5;
            else return hbad(p, "'fortran_order' must be True or False");
            h->have_fortran = 1;
        } else if (strcmp(key, "shape") == 0) {
            if ((st = pyshape(p, h))) return st;
            h->have_shape = 1;
        } else {
            return hbad(p, "unknown key (expected descr, fortran_order, shape)");
        }
        if (!eat(p, ',')) {
            if (!eat(p, '}')) return hbad(p, "expected ',' or '}'");
            break;
        }
    }
    if (!h->have_descr || !h->have_fortran || !h->have_shape)
        return hbad(p, "the keys descr, fortran_order and shape are all required");
    return KS_OK;
}

static ks_status read_header(source *s, npy_header *h)
{
    unsigned char pre[12];
    ks_status st = src_read(s, pre, 10, "the magic and header length");
    if (st) return st;
    if (memcmp(pre, "\x93NUMPY", 6) != 0)
        return ks_error(s->c, KS_EFORMAT, "%s: bad magic at byte 0 (not a .npy file)", s->name);
    if (pre[6] < 1 || pre[6] > 3)
        return ks_error(s->c, KS_EFORMAT, "%s: unsupported .npy version %d.%d at byte 6", s->name, pre[6], pre[7]);
    size_t hlen = (size_t)pre[8] | (size_t)pre[9] << 8;
    if (pre[6] > 1) {
        if ((st = src_read(s, pre + 10, 2, "the header length"))) return st;
        hlen |= (size_t)pre[10] << 16 | (size_t)pre[11] << 24;
    }
    if (hlen > MAX_HEADER)
        return ks_error(s->c, KS_EFORMAT, "%s: header length %zu at byte 8 is larger than %zu", s->name, hlen, MAX_HEADER);
    if ((st = src_need(s, hlen, "the header"))) return st;
    char *text = malloc(hlen + 1);
    if (!text) return ks_error(s->c, KS_ENOMEM, "%s: out of memory", s->name);
    hparser p = {s, text, hlen, 0, s->pos};
    memset(h, 0, sizeof *h);
    if (!(st = src_read(s, text, hlen, "the header"))) {
        text[hlen] = 0;
        st = parse_dict(&p, h);
    }
    free(text);
    return st;
}

/* ------------------------------------------------------------ data */
static ks_status read_data(source *s, const npy_header *h, ks_tensor **out)
{
    int64_t size[KS_MAX_DIMS];
    for (int i = 0; i < h->ndim; i++) size[i] = h->fortran ? h->size[h->ndim - 1 - i] : h->size[i];
    /* checked by pyshape already (ks_shape_numel: non-zero sizes multiply to
     * less than 2^60, zeros or not) */
    int64_t n64;
    if (ks_shape_numel(s->c, h->ndim, h->size, &n64)) {
        char msg[KS_MSG_SIZE];
        snprintf(msg, sizeof msg, "%s", ks_ctx_message(s->c));
        return ks_error(s->c, KS_ERANGE, "%s: header: %s", s->name, msg);
    }
    size_t numel = (size_t)n64, bytes = numel * h->itemsize; /* <= 2^63 */
    if (bytes != s->len - s->pos) {
        char d[160];
        ks_dims_str(h->ndim, h->size, d, sizeof d);
        return ks_error(s->c, KS_EFORMAT, "%s: the data from byte %zu holds %zu bytes but shape %s of %s needs %zu (%s)",
                        s->name, s->pos, s->len - s->pos, d, h->descr, bytes,
                        bytes > s->len - s->pos ? "truncated file" : "trailing bytes");
    }
    ks_tensor *t;
    ks_status st = ks_tensor_empty(s->c, h->dtype, h->ndim, size, &t);
    if (st) return st;
    char *buf = ks_tensor_data(t);
    size_t tsz = ks_dtype_size(t->dtype);
    if (h->kind == 'f' && h->itemsize == 8) {
        double tmp[4096];
        for (size_t i = 0; i < numel && !st; i += 4096) {
            size_t k = numel - i < 4096 ? numel - i : 4096;
            if (!(st = src_read(s, tmp, k * 8, "the data")))
                for (size_t j = 0; j < k; j++) ((float *)buf)[i + j] = (float)tmp[j];
        }
    } else if (h->itemsize == tsz) {
        st = src_read(s, buf, bytes, "the data");
        if (!st && h->kind == 'b')
            for (size_t i = 0; i < numel; i++) buf[i] = buf[i] != 0;
    } else { /* narrower ints: read at the tail, widen from the front */
        const unsigned char *src = (unsigned char *)buf + numel * 8 - bytes;
        if (!(st = src_read(s, (void *)src, bytes, "the data")))
            for (size_t i = 0; i < numel; i++, src += h->itemsize) {
                int64_t v = h->itemsize == 1 ? (int8_t)src[0]
                          : h->itemsize == 2 ? (int16_t)(uint16_t)(src[0] | src[1] << 8)
                                             : (int32_t)((uint32_t)src[0] | (uint32_t)src[1] << 8 |
                                                         (uint32_t)src[2] << 16 | (uint32_t)src[3] << 24);
                memcpy(buf + 8 * i, &v, 8);
            }
    }
    if (!st && h->fortran && h->ndim > 1) { /* data is the C-order transpose: permute back and copy */
        int perm[KS_MAX_DIMS];
        for (int i = 0; i < h->ndim; i++) perm[i] = h->ndim - 1 - i;
        ks_tensor *v = NULL, *ct = NULL;
        if (!(st = ks_permute(s->c, t, perm, &v))) st = ks_clone(s->c, v, &ct);
        ks_tensor_release(v);
        ks_tensor_release(t);
        t = ct;
    }
    if (st) {
        ks_tensor_release(t);
        return st;
    }
    *out = t;
    return KS_OK;
}

static ks_status read_source(source *s, ks_tensor **out)
{
    npy_header h;
    ks_status st = read_header(s, &h);
    return st ? st : read_data(s, &h, out);
}

ks_status ks_npy_read(ks_ctx *c, const char *path, ks_tensor **out)
{
    source s = {.c = c, .name = path};
    s.f = fopen(path, "rbe");
    if (!s.f) return ks_error(c, KS_EIO, "%s: cannot open (%s)", path, strerror(errno));
    struct stat sb;
    if (fstat(fileno(s.f), &sb) != 0 || !S_ISREG(sb.st_mode)) {
        fclose(s.f);
        return ks_error(c, KS_EIO, "%s: not a regular file", path);
    }
    s.len = (size_t)sb.st_size;
    ks_status st = read_source(&s, out);
    fclose(s.f);
    return st;
}

/* ------------------------------------------------------------ save */
ks_status ks_npy_save(ks_ctx *c, const char *path, ks_tensor *t)
{
    static const char *const descr[KS_NUM_DTYPES] = {"<f4", "<i8", "|u1", "|b1"};
    char dict[512], shape[256] = "";
    size_t k = 0;
    for (int i = 0; i < t->ndim; i++)
        k += (size_t)snprintf(shape + k, sizeof shape - k, "%lld,%s", (long long)t->size[i],
                              i + 1 < t->ndim ? " " : "");
    if (t->ndim > 1) shape[k - 1] = 0; /* "(2, 3)" but "(3,)" */
    int n = snprintf(dict, sizeof dict, "{'descr': '%s', 'fortran_order': False, 'shape': (%s), }", descr[t->dtype], shape);
    size_t total = 10 + (size_t)n + 1, pad = (64 - total % 64) % 64, hlen = (size_t)n + pad + 1;
    memset(dict + n, ' ', pad);
    dict[n + pad] = '\n';
    unsigned char pre[10] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, (unsigned char)hlen, (unsigned char)(hlen >> 8)};
    ks_tensor *ct;
    ks_status st = ks_contiguous(c, t, &ct);
    if (st) return st;
    ks_atomic_file af;
    if (!(st = ks_atomic_open(c, path, &af)) && !(st = ks_atomic_write(c, &af, pre, 10)) &&
        !(st = ks_atomic_write(c, &af, dict, hlen))) {
        const char *p = ks_tensor_data(ct);
        size_t bytes = (size_t)ct->numel * ks_dtype_size(ct->dtype);
        for (size_t done = 0; done < bytes && !st; done += IO_CHUNK) {
            size_t m = bytes - done < IO_CHUNK ? bytes - done : IO_CHUNK;
            if (!(st = ks_atomic_write(c, &af, p + done, m)) && (st = ks_check_interrupt(c))) ks_atomic_abort(&af);
        }
        if (!st) st = ks_atomic_commit(c, &af);
    }
    ks_tensor_release(ct);
    return st;
}

/* ------------------------------------------------------------ npz */
static uint32_t le16(const unsigned char *p) { return (uint32_t)p[0] | (uint32_t)p[1] << 8; }
static uint32_t le32(const unsigned char *p) { return le16(p) | le16(p + 2) << 16; }

void ks_npz_free(ks_npz *z)
{
    if (!z) return;
    for (int i = 0; i < z->n; i++) {
        free(z->names[i]);
        ks_tensor_release(z->tensors[i]);
    }
    free(z->names);
    free(z->tensors);
    free(z);
}

/* The bytes of one member (stored: a pointer into the archive; deflated:
 * inflated into *owned). */
static ks_status member_data(ks_ctx *c, const char *path, const unsigned char *zip, size_t len, const unsigned char *ce,
                             size_t *used, const unsigned char **data, size_t *n, unsigned char **owned)
{
    uint32_t method = le16(ce + 10), crc = le32(ce + 16), csize = le32(ce + 20), usize = le32(ce + 24);
    uint32_t lho = le32(ce + 42);
    if (le16(ce + 8) & 1)
        return ks_error(c, KS_EFORMAT, "%s: member at byte %u is encrypted (not supported)", path, lho);
    if (csize == 0xffffffffu || usize == 0xffffffffu || lho == 0xffffffffu)
        return ks_error(c, KS_EFORMAT, "%s: member at byte %u is a ZIP64 member (not supported)", path, lho);
    if ((size_t)lho + 30 > len || le32(zip + lho) != 0x04034b50)
        return ks_error(c, KS_EFORMAT, "%s: bad local header at byte %u", path, lho);
    size_t start = (size_t)lho + 30 + le16(zip + lho + 26) + le16(zip + lho + 28);
    if (start > len || csize > len - start)
        return ks_error(c, KS_EFORMAT, "%s: member data at byte %zu runs past the end of the archive", path, start);
    /* members of a real archive are disjoint, so their headers and data add up
     * to at most the file; members sharing bytes are a zip bomb (thousands of
     * directory entries decoding one deflated member again and again) */
    *used += start - lho + csize;
    if (*used > len)
        return ks_error(c, KS_EFORMAT,
                        "%s: member at byte %u overlaps other members (the members so far take %zu bytes, more than "
                        "the archive's %zu: a zip bomb or corrupt directory)", path, lho, *used, len);
    if (method == 0) {
        if (csize != usize) return ks_error(c, KS_EFORMAT, "%s: stored member at byte %zu has mismatched sizes", path, start);
        *data = zip + start;
        *n = usize;
    } else if (method == 8) {
        /* before allocating: deflate expands at most ~1032x (a hostile usize
         * must not make a 4 GB buffer out of a few bytes) */
        if ((uint64_t)usize > (uint64_t)csize * DEFLATE_MAX_RATIO + 64)
            return ks_error(c, KS_EFORMAT,
                            "%s: member at byte %u claims %u bytes inflated from %u deflated bytes at byte %zu "
                            "(more than deflate can expand: corrupt sizes)", path, lho, usize, csize, start);
        unsigned char *out = malloc(usize ? usize : 1);
        if (!out) return ks_error(c, KS_ENOMEM, "%s: out of memory inflating %u bytes", path, usize);
        z_stream zs;
        memset(&zs, 0, sizeof zs);
        if (inflateInit2(&zs, -15) != Z_OK) {
            free(out);
            return ks_error(c, KS_ENOMEM, "%s: cannot start zlib", path);
        }
        zs.next_in = (unsigned char *)zip + start;
        zs.avail_in = csize;
        zs.next_out = out;
        zs.avail_out = usize;
        int r = inflate(&zs, Z_FINISH);
        inflateEnd(&zs);
        if (r != Z_STREAM_END || zs.total_out != usize) {
            free(out);
            return ks_error(c, KS_EFORMAT, "%s: corrupt deflated member at byte %zu", path, start);
        }
        *owned = out;
        *data = out;
        *n = usize;
    } else {
        return ks_error(c, KS_EFORMAT, "%s: member at byte %u uses compression method %u (only stored and deflate)",
                        path, lho, method);
    }
    if (crc32(0L, *data, (uInt)*n) != crc)
        return ks_error(c, KS_EFORMAT, "%s: CRC mismatch in the member at byte %u", path, lho);
    return KS_OK;
}

static ks_status read_members(ks_ctx *c, const char *path, const unsigned char *zip, size_t len, ks_npz *z)
{
    size_t eocd = len >= 22 ? len - 22 : 0, stop = len > 65557 ? len - 65557 : 0;
    while (len >= 22 && eocd > stop && le32(zip + eocd) != 0x06054b50) eocd--;
    if (len < 22 || le32(zip + eocd) != 0x06054b50)
        return ks_error(c, KS_EFORMAT, "%s: not a zip archive (no end-of-central-directory record in the last %zu bytes)",
                        path, len - stop);
    uint32_t count = le16(zip + eocd + 10), cdoff = le32(zip + eocd + 16);
    if (count == 0xffff || cdoff == 0xffffffffu)
        return ks_error(c, KS_EFORMAT, "%s: ZIP64 archive (end-of-central-directory record at byte %zu): not supported",
                        path, eocd);
    z->names = calloc(count + 1, sizeof *z->names);
    z->tensors = calloc(count + 1, sizeof *z->tensors);
    if (!z->names || !z->tensors) return ks_error(c, KS_ENOMEM, "%s: out of memory", path);
    size_t at = cdoff, used = 0;
    for (uint32_t i = 0; i < count; i++) {
        if (at + 46 > len || le32(zip + at) != 0x02014b50)
            return ks_error(c, KS_EFORMAT, "%s: bad central directory entry at byte %zu", path, at);
        const unsigned char *ce = zip + at;
        size_t nl = le16(ce + 28), next = at + 46 + nl + le16(ce + 30) + le16(ce + 32);
        if (next > len) return ks_error(c, KS_EFORMAT, "%s: central directory entry at byte %zu is cut short", path, at);
        size_t keep = nl >= 4 && memcmp(ce + 46 + nl - 4, ".npy", 4) == 0 ? nl - 4 : nl;
        char *name = malloc(keep + 1), label[512];
        if (!name) return ks_error(c, KS_ENOMEM, "%s: out of memory", path);
        memcpy(name, ce + 46, keep);
        name[keep] = 0;
        z->names[z->n] = name;
        z->n++;
        snprintf(label, sizeof label, "%s: member '%.200s'", path, name);
        const unsigned char *data = NULL;
        size_t n = 0;
        unsigned char *owned = NULL;
        ks_status st = member_data(c, path, zip, len, ce, &used, &data, &n, &owned);
        if (!st) {
            source s = {.c = c, .name = label, .mem = data, .len = n};
            st = read_source(&s, &z->tensors[z->n - 1]);
        }
        free(owned);
        if (st) return st;
        at = next;
    }
    return KS_OK;
}

ks_status ks_npz_read(ks_ctx *c, const char *path, ks_npz **out)
{
    unsigned char *zip;
    size_t len;
    ks_status st = ks_file_read_all(c, path, (size_t)1 << 36, &zip, &len);
    if (st) return st;
    ks_npz *z = calloc(1, sizeof *z);
    st = z ? read_members(c, path, zip, len, z) : ks_error(c, KS_ENOMEM, "%s: out of memory", path);
    free(zip);
    if (st) {
        ks_npz_free(z);
        return st;
    }
    *out = z;
    return KS_OK;
}
