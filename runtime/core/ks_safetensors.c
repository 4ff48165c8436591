/* ks_safetensors.c: safetensors load and save (see ks_safetensors.h). */
#include "ks_safetensors.h"
#include "ks_fileio.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define IO_CHUNK ((size_t)1 << 22) /* bytes per read/write between interrupt polls */

_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "safetensors I/O assumes a little-endian host");

/* ------------------------------------------------------------ dtypes */
typedef struct st_dtype {
    const char *name;
    size_t size;    /* bytes per element in the file */
    ks_dtype dtype; /* what it loads as */
} st_dtype;

static const st_dtype DTYPES[] = {
    {"F32", 4, KS_FLOAT32}, {"F16", 2, KS_FLOAT32}, {"BF16", 2, KS_FLOAT32}, {"F64", 8, KS_FLOAT32},
    {"I64", 8, KS_INT64},   {"I32", 4, KS_INT64},   {"I16", 2, KS_INT64},    {"I8", 1, KS_INT64},
    {"U8", 1, KS_UINT8},    {"BOOL", 1, KS_BOOL},
};
#define NDTYPES (int)(sizeof DTYPES / sizeof *DTYPES)

static const char *save_dtype_name(ks_dtype dt)
{
    static const char *const names[KS_NUM_DTYPES] = {"F32", "I64", "U8", "BOOL"};
    return names[dt];
}

/* ------------------------------------------------------------ entries */
typedef struct entry {
    const char *name; /* points into the JSON tree */
    const st_dtype *dt;
    int ndim;
    int64_t size[KS_MAX_DIMS];
    uint64_t begin, end;
} entry;

typedef struct loader {
    ks_ctx *c;
    const char *path;
    FILE *f;
    uint64_t file_size, header_len, data_size;
    json_t *root;
    entry *e;
    int n;
} loader;

static ks_status bad(loader *ld, const char *name, const char *fmt, const char *detail)
{
    if (name)
        return ks_error(ld->c, KS_EFORMAT, "%s: header entry '%.200s': %s%s", ld->path, name, fmt, detail ? detail : "");
    return ks_error(ld->c, KS_EFORMAT, "%s: %s%s", ld->path, fmt, detail ? detail : "");
}

static ks_status parse_shape(loader *ld, entry *e, json_t *shape)
{
    if (!json_is_array(shape)) return bad(ld, e->name, "'shape' must be an array of integers", NULL);
    size_t nd = json_array_size(shape);
    if (nd > KS_MAX_DIMS)
        return ks_error(ld->c, KS_EFORMAT, "%s: header entry '%.200s': %zu dimensions (at most %d supported)",
                        ld->path, e->name, nd, KS_MAX_DIMS);
    e->ndim = (int)nd;
    for (size_t i = 0; i < nd; i++) {
        json_t *v = json_array_get(shape, i);
        if (!json_is_integer(v) || json_integer_value(v) < 0)
            return ks_error(ld->c, KS_EFORMAT,
                            "%s: header entry '%.200s': shape entry %zu must be a non-negative integer", ld->path,
                            e->name, i);
        e->size[i] = json_integer_value(v);
    }
    return KS_OK;
}

static ks_status parse_offsets(loader *ld, entry *e, json_t *off)
{
    if (!json_is_array(off) || json_array_size(off) != 2 || !json_is_integer(json_array_get(off, 0)) ||
        !json_is_integer(json_array_get(off, 1)))
        return bad(ld, e->name, "'data_offsets' must be an array of two integers [begin, end]", NULL);
    json_int_t b = json_integer_value(json_array_get(off, 0)), en = json_integer_value(json_array_get(off, 1));
    if (b < 0 || en < b)
        return ks_error(ld->c, KS_EFORMAT, "%s: header entry '%.200s': bad data_offsets [%lld, %lld] (need 0 <= begin <= end)",
                        ld->path, e->name, (long long)b, (long long)en);
    e->begin = (uint64_t)b;
    e->end = (uint64_t)en;
    if (e->end > ld->data_size)
        return ks_error(ld->c, KS_EFORMAT,
                        "%s: header entry '%.200s': data_offsets [%llu, %llu] out of range (the data section has %llu bytes)",
                        ld->path, e->name, (unsigned long long)e->begin, (unsigned long long)e->end,
                        (unsigned long long)ld->data_size);
    /* byte count must match the shape */
    /* the rule of every tensor (ks_shape_numel: non-zero sizes multiply to
     * less than 2^60, zeros or not) */
    int64_t numel;
    if (ks_shape_numel(ld->c, e->ndim, e->size, &numel)) {
        char msg[KS_MSG_SIZE];
        snprintf(msg, sizeof msg, "%s", ks_ctx_message(ld->c));
        return ks_error(ld->c, KS_EFORMAT, "%s: header entry '%.200s': %s", ld->path, e->name, msg);
    }
    size_t bytes = (size_t)numel * e->dt->size; /* <= 2^63 */
    char s[160];
    ks_dims_str(e->ndim, e->size, s, sizeof s);
    if (bytes != e->end - e->begin)
        return ks_error(ld->c, KS_EFORMAT,
                        "%s: header entry '%.200s': data_offsets [%llu, %llu] hold %llu bytes but shape %s of %s needs %zu",
                        ld->path, e->name, (unsigned long long)e->begin, (unsigned long long)e->end,
                        (unsigned long long)(e->end - e->begin), s, e->dt->name, bytes);
    return KS_OK;
}

static ks_status parse_entry(loader *ld, entry *e, const char *name, json_t *v)
{
    e->name = name;
    if (!json_is_object(v)) return bad(ld, name, "must be an object {dtype, shape, data_offsets}", NULL);
    const char *k;
    json_t *x;
    json_object_foreach(v, k, x) {
        if (strcmp(k, "dtype") && strcmp(k, "shape") && strcmp(k, "data_offsets"))
            return ks_error(ld->c, KS_EFORMAT, "%s: header entry '%.200s': unknown field '%.100s'", ld->path, name, k);
    }
    json_t *dt = json_object_get(v, "dtype"), *shape = json_object_get(v, "shape"),
           *off = json_object_get(v, "data_offsets");
    if (!dt || !shape || !off) return bad(ld, name, "needs the fields dtype, shape and data_offsets", NULL);
    if (!json_is_string(dt)) return bad(ld, name, "'dtype' must be a string", NULL);
    e->dt = NULL;
    for (int i = 0; i < NDTYPES; i++) /* lengths too: strings may hold NULs */
        if (json_string_length(dt) == strlen(DTYPES[i].name) && strcmp(json_string_value(dt), DTYPES[i].name) == 0)
            e->dt = &DTYPES[i];
    if (!e->dt)
        return ks_error(ld->c, KS_EFORMAT,
                        "%s: header entry '%.200s': unknown dtype '%.40s'%s (expected F32, F16, BF16, F64, I64, I32, I16, I8, U8 or BOOL)",
                        ld->path, name, json_string_value(dt),
                        strlen(json_string_value(dt)) != json_string_length(dt) ? " followed by a NUL byte" : "");
    ks_status st = parse_shape(ld, e, shape);
    return st ? st : parse_offsets(ld, e, off);
}

static ks_status check_metadata(loader *ld, json_t *meta)
{
    if (!json_is_object(meta)) return bad(ld, NULL, "header: '__metadata__' must be an object of strings", NULL);
    const char *k;
    json_t *v;
    json_object_foreach(meta, k, v) {
        if (!json_is_string(v))
            return ks_error(ld->c, KS_EFORMAT, "%s: header: __metadata__ value of '%.200s' is not a string", ld->path, k);
    }
    return KS_OK;
}

static int cmp_entry(const void *a, const void *b)
{
    const entry *x = a, *y = b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    return x->end < y->end ? -1 : x->end > y->end;
}

/* Sorted by offsets, the tensors must tile [0, data_size) exactly. */
static ks_status check_coverage(loader *ld)
{
    qsort(ld->e, (size_t)ld->n, sizeof *ld->e, cmp_entry);
    uint64_t at = 0;
    const char *prev = NULL;
    for (int i = 0; i < ld->n; i++) {
        entry *e = &ld->e[i];
        if (e->begin > at)
            return ks_error(ld->c, KS_EFORMAT,
                            "%s: gap in the data section: bytes [%llu, %llu) belong to no tensor (next is '%.200s')",
                            ld->path, (unsigned long long)at, (unsigned long long)e->begin, e->name);
        if (e->begin < at)
            return ks_error(ld->c, KS_EFORMAT,
                            "%s: tensors '%.200s' and '%.200s' overlap (data_offsets begin %llu < previous end %llu)",
                            ld->path, prev, e->name, (unsigned long long)e->begin, (unsigned long long)at);
        at = e->end;
        prev = e->name;
    }
    if (at != ld->data_size)
        return ks_error(ld->c, KS_EFORMAT,
                        "%s: the tensors cover %llu bytes but the data section has %llu (trailing bytes from file offset %llu)",
                        ld->path, (unsigned long long)at, (unsigned long long)ld->data_size,
                        (unsigned long long)(8 + ld->header_len + at));
    return KS_OK;
}

static uint64_t le64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = v << 8 | p[i];
    return v;
}

/* What a file that is not safetensors probably is, from its first 8 bytes
 * (NULL: unknown). torch.save writes a zip archive since PyTorch 1.6 and a
 * pickle stream before (and with _use_new_zipfile_serialization=False). */
static const char *foreign_format(const unsigned char *b)
{
    if (b[0] == 'P' && b[1] == 'K' && b[2] == 3 && b[3] == 4)
        return "a zip archive (torch.save's .pt/.pth format, or an .npz)";
    if (b[0] == 0x80 && b[1] >= 2 && b[1] <= 5) return "a Python pickle (an old torch.save file or a .pkl)";
    if (b[0] == 0x93 && memcmp(b + 1, "NUMPY", 5) == 0) return "a NumPy .npy array (read it with ks.data.read_npy)";
    if (b[0] == 0x89 && memcmp(b + 1, "HDF", 3) == 0) return "an HDF5 file (Keras .h5)";
    return NULL;
}

static ks_status read_header(loader *ld)
{
    unsigned char b[8];
    struct stat sb;
    if (fstat(fileno(ld->f), &sb) != 0 || !S_ISREG(sb.st_mode))
        return ks_error(ld->c, KS_EIO, "%s: not a regular file", ld->path);
    ld->file_size = (uint64_t)sb.st_size;
    if (ld->file_size < 8 || fread(b, 1, 8, ld->f) != 8)
        return ks_error(ld->c, KS_EFORMAT, "%s: file of %llu bytes is too short for the 8-byte header length",
                        ld->path, (unsigned long long)ld->file_size);
    ld->header_len = le64(b);
    if (ld->header_len > KS_SAFETENSORS_MAX_HEADER || ld->header_len > ld->file_size - 8) {
        /* not safetensors at all: name the format and say what to write instead */
        const char *what = foreign_format(b);
        if (what)
            return ks_error(ld->c, KS_EFORMAT,
                            "%s is not a safetensors file: bytes 0-7 start like %s. kshot reads safetensors: in "
                            "PyTorch write the state_dict with safetensors.torch.save_file(model.state_dict(), "
                            "path) (README: Bring your own PyTorch model)",
                            ld->path, what);
    }
    if (ld->header_len > KS_SAFETENSORS_MAX_HEADER)
        return ks_error(ld->c, KS_EFORMAT, "%s: header length %llu (bytes 0-7) exceeds the limit of %llu bytes",
                        ld->path, (unsigned long long)ld->header_len, (unsigned long long)KS_SAFETENSORS_MAX_HEADER);
    if (ld->header_len > ld->file_size - 8)
        return ks_error(ld->c, KS_EFORMAT,
                        "%s: header length %llu (bytes 0-7) runs past the end of the file (%llu bytes)", ld->path,
                        (unsigned long long)ld->header_len, (unsigned long long)ld->file_size);
    ld->data_size = ld->file_size - 8 - ld->header_len;
    char *h = malloc(ld->header_len ? ld->header_len : 1);
    if (!h) return ks_error(ld->c, KS_ENOMEM, "%s: out of memory for a %llu-byte header", ld->path,
                            (unsigned long long)ld->header_len);
    if (fread(h, 1, ld->header_len, ld->f) != ld->header_len) {
        free(h);
        return ks_error(ld->c, KS_EIO, "%s: read error in the header", ld->path);
    }
    json_error_t err;
    /* \u0000 is valid JSON: metadata values keep it; jansson refuses it in keys */
    ld->root = json_loadb(h, ld->header_len, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &err);
    free(h);
    if (!ld->root)
        return ks_error(ld->c, KS_EFORMAT, "%s: invalid JSON header near file byte %llu: %s", ld->path,
                        (unsigned long long)(8 + err.position), err.text);
    if (!json_is_object(ld->root)) return bad(ld, NULL, "the header is not a JSON object", NULL);
    return KS_OK;
}

static ks_status parse_entries(loader *ld)
{
    size_t count = json_object_size(ld->root);
    ld->e = calloc(count ? count : 1, sizeof *ld->e);
    if (!ld->e) return ks_error(ld->c, KS_ENOMEM, "%s: out of memory", ld->path);
    const char *k;
    json_t *v;
    json_object_foreach(ld->root, k, v) {
        ks_status st = strcmp(k, "__metadata__") == 0 ? check_metadata(ld, v) : parse_entry(ld, &ld->e[ld->n++], k, v);
        if (st) return st;
    }
    return check_coverage(ld);
}

/* ------------------------------------------------------------ data */
static float half_to_float(uint16_t h)
{
    uint32_t sign = (uint32_t)(h >> 15) << 31, ex = (h >> 10) & 0x1f, man = h & 0x3ff, bits;
    if (ex == 0) {
        float v = ldexpf((float)man, -24); /* zero or subnormal: exact */
        return sign ? -v : v;
    }
    bits = ex == 31 ? sign | 0x7f800000u | man << 13 : sign | (ex + 112) << 23 | man << 13;
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

static ks_status read_chunked(loader *ld, const entry *e, char *dst, size_t n)
{
    for (size_t done = 0; done < n;) {
        size_t want = n - done < IO_CHUNK ? n - done : IO_CHUNK;
        if (fread(dst + done, 1, want, ld->f) != want)
            return ks_error(ld->c, KS_EIO, "%s: read error in the data of '%.200s' (%s)", ld->path, e->name,
                            ferror(ld->f) ? strerror(errno) : "file shrank while reading");
        done += want;
        ks_status st = ks_check_interrupt(ld->c);
        if (st) return st;
    }
    return KS_OK;
}

/* Convert numel elements at src (file format, little-endian) into dst
 * (tensor format). src lies at the tail of dst's buffer, so walking from the
 * front never overwrites an unread element. */
static void widen(const st_dtype *dt, const unsigned char *src, char *dst, size_t numel)
{
    for (size_t i = 0; i < numel; i++, src += dt->size) {
        if (dt->dtype == KS_FLOAT32) {
            uint16_t h = (uint16_t)(src[0] | src[1] << 8);
            float f;
            if (dt->name[0] == 'B') {
                uint32_t bits = (uint32_t)h << 16;
                memcpy(&f, &bits, 4);
            } else {
                f = half_to_float(h);
            }
            memcpy(dst + 4 * i, &f, 4);
        } else {
            int64_t v = dt->size == 1 ? (int8_t)src[0]
                      : dt->size == 2 ? (int16_t)(uint16_t)(src[0] | src[1] << 8)
                                      : (int32_t)((uint32_t)src[0] | (uint32_t)src[1] << 8 | (uint32_t)src[2] << 16 | (uint32_t)src[3] << 24);
            memcpy(dst + 8 * i, &v, 8);
        }
    }
}

static ks_status read_f64(loader *ld, const entry *e, float *dst, size_t numel)
{
    enum { N = 8192 };
    double *tmp = malloc(N * sizeof *tmp);
    if (!tmp) return ks_error(ld->c, KS_ENOMEM, "%s: out of memory for a read buffer", ld->path);
    ks_status st = KS_OK;
    for (size_t i = 0; i < numel && !st; i += N) {
        size_t k = numel - i < N ? numel - i : N;
        if ((st = read_chunked(ld, e, (char *)tmp, k * 8))) break;
        for (size_t j = 0; j < k; j++) dst[i + j] = (float)tmp[j];
    }
    free(tmp);
    return st;
}

static ks_status read_tensor(loader *ld, const entry *e, ks_tensor **out)
{
    ks_tensor *t;
    ks_status st = ks_tensor_empty(ld->c, e->dt->dtype, e->ndim, e->size, &t);
    if (st) {
        char msg[KS_MSG_SIZE];
        snprintf(msg, sizeof msg, "%s", ks_ctx_message(ld->c));
        return ks_error(ld->c, st, "%s: tensor '%.200s': %s", ld->path, e->name, msg);
    }
    size_t numel = (size_t)t->numel, bytes = (size_t)(e->end - e->begin), tsz = ks_dtype_size(t->dtype);
    char *buf = ks_tensor_data(t);
    if (e->dt->size == 8 && t->dtype == KS_FLOAT32) {
        st = read_f64(ld, e, (float *)buf, numel);
    } else if (e->dt->size == tsz) {
        st = read_chunked(ld, e, buf, bytes);
        if (!st && t->dtype == KS_BOOL)
            for (size_t i = 0; i < numel; i++) buf[i] = buf[i] != 0;
    } else {
        char *tail = buf + numel * tsz - bytes;
        st = read_chunked(ld, e, tail, bytes);
        if (!st) widen(e->dt, (const unsigned char *)tail, buf, numel);
    }
    if (st) {
        ks_tensor_release(t);
        return st;
    }
    *out = t;
    return KS_OK;
}

void ks_st_file_free(ks_st_file *f)
{
    if (!f) return;
    for (int i = 0; i < f->n; i++) {
        free(f->names[i]);
        ks_tensor_release(f->tensors[i]);
    }
    for (int i = 0; i < f->nmeta; i++) {
        free(f->meta_keys[i]);
        free(f->meta_values[i]);
    }
    free(f->names);
    free(f->tensors);
    free(f->meta_keys);
    free(f->meta_values);
    free(f->meta_value_lens);
    free(f);
}

static ks_status collect(loader *ld, ks_st_file *r)
{
    json_t *meta = json_object_get(ld->root, "__metadata__");
    size_t nm = meta ? json_object_size(meta) : 0;
    r->names = calloc((size_t)ld->n + 1, sizeof *r->names);
    r->tensors = calloc((size_t)ld->n + 1, sizeof *r->tensors);
    r->meta_keys = calloc(nm + 1, sizeof *r->meta_keys);
    r->meta_values = calloc(nm + 1, sizeof *r->meta_values);
    r->meta_value_lens = calloc(nm + 1, sizeof *r->meta_value_lens);
    if (!r->names || !r->tensors || !r->meta_keys || !r->meta_values || !r->meta_value_lens)
        return ks_error(ld->c, KS_ENOMEM, "%s: out of memory", ld->path);
    if (meta) {
        const char *k;
        json_t *v;
        json_object_foreach(meta, k, v) {
            size_t vl = json_string_length(v);
            r->meta_keys[r->nmeta] = strdup(k);
            r->meta_values[r->nmeta] = malloc(vl + 1);
            r->meta_value_lens[r->nmeta] = vl;
            if (r->meta_values[r->nmeta]) memcpy(r->meta_values[r->nmeta], json_string_value(v), vl + 1);
            r->nmeta++;
            if (!r->meta_keys[r->nmeta - 1] || !r->meta_values[r->nmeta - 1])
                return ks_error(ld->c, KS_ENOMEM, "%s: out of memory", ld->path);
        }
    }
    for (int i = 0; i < ld->n; i++) {
        r->names[i] = strdup(ld->e[i].name);
        r->n = i + 1;
        if (!r->names[i]) return ks_error(ld->c, KS_ENOMEM, "%s: out of memory", ld->path);
        ks_status st = read_tensor(ld, &ld->e[i], &r->tensors[i]);
        if (st) return st;
    }
    return KS_OK;
}

ks_status ks_safetensors_load(ks_ctx *c, const char *path, ks_st_file **out)
{
    loader ld = {.c = c, .path = path};
    ld.f = fopen(path, "rbe");
    if (!ld.f) return ks_error(c, KS_EIO, "%s: cannot open (%s)", path, strerror(errno));
    ks_st_file *r = calloc(1, sizeof *r);
    ks_status st = r ? KS_OK : ks_error(c, KS_ENOMEM, "%s: out of memory", path);
    if (!st && !(st = read_header(&ld)) && !(st = parse_entries(&ld))) st = collect(&ld, r);
    fclose(ld.f);
    json_decref(ld.root);
    free(ld.e);
    if (st) {
        ks_st_file_free(r);
        return st;
    }
    *out = r;
    return KS_OK;
}

/* ------------------------------------------------------------ save */
typedef struct save_item {
    const char *name;
    ks_tensor *t;
} save_item;

static int cmp_item(const void *a, const void *b)
{
    return strcmp(((const save_item *)a)->name, ((const save_item *)b)->name);
}

static json_t *entry_json(const ks_tensor *t, uint64_t begin, uint64_t end)
{
    json_t *o = json_object(), *shape = json_array(), *off = json_array();
    if (!o || !shape || !off) goto fail;
    for (int i = 0; i < t->ndim; i++)
        if (json_array_append_new(shape, json_integer(t->size[i]))) goto fail;
    if (json_array_append_new(off, json_integer((json_int_t)begin)) ||
        json_array_append_new(off, json_integer((json_int_t)end)))
        goto fail;
    if (json_object_set_new(o, "dtype", json_string(save_dtype_name(t->dtype)))) goto fail;
    if (json_object_set_new(o, "shape", shape)) { shape = NULL; goto fail; } /* set_new steals even on failure */
    shape = NULL;
    if (json_object_set_new(o, "data_offsets", off)) { off = NULL; goto fail; }
    return o;
fail:
    json_decref(shape);
    json_decref(off);
    json_decref(o);
    return NULL;
}

/* The header: compact JSON with sorted keys, padded with spaces to 8 bytes. */
static ks_status build_header(ks_ctx *c, const char *path, const save_item *it, int n, int nmeta,
                              const char *const *mk, const char *const *mv, const size_t *mvl, char **out,
                              size_t *len)
{
    json_t *root = json_object(), *meta = nmeta ? json_object() : NULL;
    if (!root || (nmeta && !meta)) goto nomem;
    uint64_t at = 0;
    for (int i = 0; i < n; i++) {
        if (i && strcmp(it[i].name, it[i - 1].name) == 0) {
            json_decref(root);
            json_decref(meta);
            return ks_error(c, KS_EINVAL, "%s: tensor name '%.200s' appears twice", path, it[i].name);
        }
        uint64_t bytes = (uint64_t)it[i].t->numel * ks_dtype_size(it[i].t->dtype);
        json_t *e = entry_json(it[i].t, at, at + bytes);
        if (!e) goto nomem;
        if (json_object_set_new(root, it[i].name, e)) {
            json_decref(root);
            json_decref(meta);
            return ks_error(c, KS_EINVAL, "%s: tensor name '%.200s' is not valid UTF-8", path, it[i].name);
        }
        at += bytes;
    }
    for (int i = 0; i < nmeta; i++) {
        json_t *v = json_stringn(mv[i], mvl ? mvl[i] : strlen(mv[i]));
        if (!v || json_object_set_new(meta, mk[i], v)) {
            json_decref(root);
            json_decref(meta);
            return ks_error(c, KS_EINVAL, "%s: metadata key '%.200s' or its value is not valid UTF-8", path, mk[i]);
        }
    }
    if (meta && json_object_set_new(root, "__metadata__", meta)) { meta = NULL; goto nomem; }
    meta = NULL;
    char *s = json_dumps(root, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(root);
    if (!s) return ks_error(c, KS_ENOMEM, "%s: out of memory building the header", path);
    size_t l = strlen(s), padded = (l + 7) / 8 * 8;
    char *h = realloc(s, padded + 1);
    if (!h) {
        free(s);
        return ks_error(c, KS_ENOMEM, "%s: out of memory building the header", path);
    }
    memset(h + l, ' ', padded - l);
    h[padded] = 0;
    *out = h;
    *len = padded;
    return KS_OK;
nomem:
    json_decref(root);
    json_decref(meta);
    return ks_error(c, KS_ENOMEM, "%s: out of memory building the header", path);
}

static ks_status write_tensor(ks_ctx *c, ks_atomic_file *af, ks_tensor *t)
{
    ks_tensor *ct;
    ks_status st = ks_contiguous(c, t, &ct);
    if (st) {
        ks_atomic_abort(af);
        return st;
    }
    const char *p = ks_tensor_data(ct);
    size_t n = (size_t)ct->numel * ks_dtype_size(ct->dtype);
    for (size_t done = 0; done < n && !st;) {
        size_t k = n - done < IO_CHUNK ? n - done : IO_CHUNK;
        if ((st = ks_atomic_write(c, af, p + done, k))) break;
        done += k;
        if ((st = ks_check_interrupt(c))) ks_atomic_abort(af);
    }
    ks_tensor_release(ct);
    return st;
}

ks_status ks_safetensors_save(ks_ctx *c, const char *path, int n, const char *const *names,
                              ks_tensor *const *tensors, int nmeta, const char *const *meta_keys,
                              const char *const *meta_values, const size_t *meta_value_lens)
{
    save_item *it = malloc(((size_t)n + 1) * sizeof *it);
    if (!it) return ks_error(c, KS_ENOMEM, "%s: out of memory", path);
    for (int i = 0; i < n; i++) {
        if (strcmp(names[i], "__metadata__") == 0) {
            free(it);
            return ks_error(c, KS_EINVAL, "%s: '__metadata__' is reserved and cannot name a tensor", path);
        }
        it[i] = (save_item){names[i], tensors[i]};
    }
    qsort(it, (size_t)n, sizeof *it, cmp_item);
    char *header = NULL;
    size_t hlen = 0;
    ks_status st = build_header(c, path, it, n, nmeta, meta_keys, meta_values, meta_value_lens, &header, &hlen);
    if (st) {
        free(it);
        return st;
    }
    unsigned char lenb[8];
    for (int i = 0; i < 8; i++) lenb[i] = (unsigned char)((uint64_t)hlen >> (8 * i));
    ks_atomic_file af;
    if (!(st = ks_atomic_open(c, path, &af)) && !(st = ks_atomic_write(c, &af, lenb, 8)) &&
        !(st = ks_atomic_write(c, &af, header, hlen))) {
        for (int i = 0; i < n && !st; i++) st = write_tensor(c, &af, it[i].t);
        if (!st) st = ks_atomic_commit(c, &af);
    }
    free(header);
    free(it);
    return st;
}
