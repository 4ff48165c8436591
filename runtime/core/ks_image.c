/* ks_image.c: PNG (libpng) and JPEG (libjpeg-turbo) codecs (see ks_image.h).
 *
 * Both libraries report errors by longjmp. Every setjmp lives in one small
 * function per codec (decode_png, decode_jpeg, encode_png, encode_jpeg) whose
 * state is kept in a job struct in memory (never in locals modified after
 * setjmp), and nothing outside those functions is jumped over. */
#include "ks_image.h"
#include "ks_fileio.h"

#include <jpeglib.h>
#include <jerror.h>
#include <png.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>

#define MAX_FILE ((size_t)1 << 30)
#define MAX_SIDE 32768
#define DEFLATE_MAX_RATIO 1032 /* deflate cannot expand more than this */

typedef struct job {
    ks_ctx *c;
    const char *path;
    const unsigned char *data; /* encoded bytes (decode) */
    size_t len, pos;
    unsigned char *pixels;     /* HWC, interleaved; through ks_mem_alloc (memory limit) */
    size_t pixels_bytes;
    unsigned char **rows;
    size_t coef_bytes;         /* libjpeg's whole-image coefficient buffer, accounted in c */
    uint64_t blocks;           /* JPEG: 8x8 blocks of all components */
    uint64_t max_work;         /* JPEG: most block visits (scans x blocks) the file can justify */
    unsigned char *out;        /* encoded bytes (encode) */
    size_t out_len, out_cap;
    int w, h, nc;
    char msg[JMSG_LENGTH_MAX > 256 ? JMSG_LENGTH_MAX : 256];
} job;

static void job_free(job *j)
{
    if (j->pixels) ks_mem_free(j->c, j->pixels, j->pixels_bytes);
    if (j->coef_bytes) ks_mem_unaccount(j->c, j->coef_bytes);
    j->coef_bytes = 0;
    free(j->rows);
    free(j->out);
    j->pixels = NULL;
    j->rows = NULL;
    j->out = NULL;
}

/* ------------------------------------------------------------ PNG */
static void png_on_error(png_structp png, png_const_charp msg)
{
    job *j = png_get_error_ptr(png);
    snprintf(j->msg, sizeof j->msg, "%s", msg);
    png_longjmp(png, 1);
}

static void png_on_warning(png_structp png, png_const_charp msg) { (void)png, (void)msg; }

static void png_read_mem(png_structp png, png_bytep out, size_t n)
{
    job *j = png_get_io_ptr(png);
    if (n > j->len - j->pos) png_error(png, "truncated file");
    memcpy(out, j->data + j->pos, n);
    j->pos += n;
}

static int alloc_rows(job *j, size_t rowbytes)
{
    if (j->w <= 0 || j->h <= 0 || j->w > MAX_SIDE || j->h > MAX_SIDE) {
        snprintf(j->msg, sizeof j->msg, "image size %dx%d out of range (1 to %d)", j->w, j->h, MAX_SIDE);
        return 0;
    }
    /* the decoded size counts against the memory limit: a small file may promise a huge image */
    j->pixels_bytes = rowbytes * (size_t)j->h;
    j->pixels = ks_mem_alloc(j->c, j->pixels_bytes);
    j->rows = malloc(sizeof *j->rows * (size_t)j->h);
    if (!j->pixels || !j->rows) {
        snprintf(j->msg, sizeof j->msg, "out of memory for a %dx%d image (%s)", j->w, j->h,
                 j->pixels ? "row table" : ks_ctx_message(j->c));
        return 0;
    }
    for (int y = 0; y < j->h; y++) j->rows[y] = j->pixels + rowbytes * (size_t)y;
    return 1;
}

/* Before allocating: the declared size must fit in what the file can hold.
 * The pixel data (at least w * h * channels * depth / 8 bytes, interlaced or
 * not) is deflated in the IDAT chunks, and deflate expands at most ~1032x,
 * so a small file cannot promise a huge image (the decoded buffer would be
 * allocated before the truncation shows). */
static int png_size_fits(job *j, png_structp png, png_infop info)
{
    uint64_t w = png_get_image_width(png, info), h = png_get_image_height(png, info);
    uint64_t bits = (uint64_t)png_get_channels(png, info) * png_get_bit_depth(png, info);
    uint64_t need = w * h * bits / 8, cap = (uint64_t)j->len * DEFLATE_MAX_RATIO + 1024;
    if (need <= cap) return 1;
    j->pos = 16; /* the IHDR width and height */
    snprintf(j->msg, sizeof j->msg,
             "image size %llux%llu (%llu bytes of pixel data) is more than a %zu-byte PNG can hold "
             "(truncated file or corrupt size)", (unsigned long long)w, (unsigned long long)h,
             (unsigned long long)need, j->len);
    return 0;
}

/* Decode to 8-bit gray or RGB without alpha (rgb: replicate gray). */
static int decode_png(job *j, int rgb)
{
    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, j, png_on_error, png_on_warning);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    if (!info) {
        png_destroy_read_struct(&png, NULL, NULL);
        snprintf(j->msg, sizeof j->msg, "out of memory");
        return 0;
    }
    if (setjmp(png_jmpbuf(png))) {
        png_destroy_read_struct(&png, &info, NULL);
        return 0;
    }
    png_set_read_fn(png, j, png_read_mem);
    png_set_user_limits(png, MAX_SIDE, MAX_SIDE);
    /* skip (unread) the variable-size chunks we never use: libpng would keep
     * every text chunk, each inflated to up to 8 MB (a 1.4 MB file of 200
     * zTXt chunks took 1.4 GB and minutes) */
    static const png_byte skipped[] = "iCCP\0iTXt\0tEXt\0zTXt\0sPLT\0eXIf\0pCAL\0sCAL\0hIST";
    png_set_keep_unknown_chunks(png, PNG_HANDLE_CHUNK_NEVER, skipped, (int)(sizeof skipped / 5));
    png_read_info(png, info);
    if (!png_size_fits(j, png, info)) png_longjmp(png, 1); /* message already set */
    int depth = png_get_bit_depth(png, info), type = png_get_color_type(png, info);
    png_set_expand(png);
    if (depth == 16) png_set_strip_16(png);
    png_set_strip_alpha(png);
    if (rgb && !(type & PNG_COLOR_MASK_COLOR)) png_set_gray_to_rgb(png);
    png_set_interlace_handling(png);
    png_read_update_info(png, info);
    j->w = (int)png_get_image_width(png, info);
    j->h = (int)png_get_image_height(png, info);
    j->nc = png_get_channels(png, info);
    if (!alloc_rows(j, png_get_rowbytes(png, info))) png_longjmp(png, 1); /* message already set */
    png_read_image(png, j->rows);
    png_read_end(png, NULL);
    png_destroy_read_struct(&png, &info, NULL);
    return 1;
}

static void png_write_mem(png_structp png, png_bytep data, size_t n)
{
    job *j = png_get_io_ptr(png);
    if (n > j->out_cap - j->out_len) {
        size_t cap = j->out_cap ? j->out_cap : 4096;
        while (cap - j->out_len < n) cap *= 2;
        unsigned char *p = realloc(j->out, cap);
        if (!p) png_error(png, "out of memory");
        j->out = p;
        j->out_cap = cap;
    }
    memcpy(j->out + j->out_len, data, n);
    j->out_len += n;
}

static void png_flush_mem(png_structp png) { (void)png; }

static int encode_png(job *j)
{
    static const int types[5] = {0, PNG_COLOR_TYPE_GRAY, PNG_COLOR_TYPE_GRAY_ALPHA, PNG_COLOR_TYPE_RGB,
                                 PNG_COLOR_TYPE_RGB_ALPHA};
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, j, png_on_error, png_on_warning);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    if (!info) {
        png_destroy_write_struct(&png, NULL);
        snprintf(j->msg, sizeof j->msg, "out of memory");
        return 0;
    }
    if (setjmp(png_jmpbuf(png))) {
        png_destroy_write_struct(&png, &info);
        return 0;
    }
    png_set_write_fn(png, j, png_write_mem, png_flush_mem);
    png_set_IHDR(png, info, (png_uint_32)j->w, (png_uint_32)j->h, 8, types[j->nc], PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_write_info(png, info);
    png_write_image(png, j->rows);
    png_write_end(png, NULL);
    png_destroy_write_struct(&png, &info);
    return 1;
}

/* ------------------------------------------------------------ JPEG */
typedef struct jerr {
    struct jpeg_error_mgr pub;
    jmp_buf jb;
    job *j;
} jerr;

static void jpeg_on_error(j_common_ptr cinfo)
{
    jerr *e = (jerr *)cinfo->err;
    (*cinfo->err->format_message)(cinfo, e->j->msg);
    if (cinfo->is_decompressor) { /* where the decoder stood: the bytes it has consumed */
        struct jpeg_source_mgr *src = ((j_decompress_ptr)cinfo)->src;
        const unsigned char *d = e->j->data, *at = src ? src->next_input_byte : NULL;
        /* the data ran out: the end of the file; else the last byte the decoder
         * synced back (the entropy decoder reads ahead in its own copy) */
        if (cinfo->err->msg_code == JWRN_JPEG_EOF) e->j->pos = e->j->len;
        else if (src) e->j->pos = at >= d && at <= d + e->j->len ? (size_t)(at - d) : e->j->len;
    }
    longjmp(e->jb, 1);
}

/* Warnings (level -1) mean corrupt or truncated data: treat them as errors. */
static void jpeg_on_message(j_common_ptr cinfo, int level)
{
    if (level < 0) jpeg_on_error(cinfo);
}

/* Before jpeg_start_decompress (which allocates the whole coefficient
 * buffer of progressive files) and the pixel buffer: every 8x8 block of every
 * component carries at least one Huffman code (its DC difference), so the
 * scan data must hold at least one bit per block. Arithmetic coding can go
 * lower: it is held to one bit per 64 blocks (a decompression bomb beyond).
 * The coefficient buffer of progressive and multi-scan files counts against
 * the memory limit, like the pixels. */
static int jpeg_size_fits(job *j, j_decompress_ptr ci)
{
    uint64_t at = ci->src ? (uint64_t)(ci->src->next_input_byte - j->data) : 0, coef = 0;
    j->blocks = 0;
    for (int k = 0; k < ci->num_components; k++) {
        const jpeg_component_info *cp = &ci->comp_info[k];
        uint64_t bw = cp->width_in_blocks, bh = cp->height_in_blocks, hs = (uint64_t)cp->h_samp_factor,
                 vs = (uint64_t)cp->v_samp_factor;
        j->blocks += bw * bh;
        coef += (bw + hs - 1) / hs * hs * ((bh + vs - 1) / vs * vs) * DCTSIZE2 * sizeof(JCOEF);
    }
    uint64_t per_bit = ci->arith_code ? 64 : 1, left = j->len - at;
    j->max_work = 32 * (j->len * 8 + 64) * per_bit + ((uint64_t)1 << 24); /* see jpeg_on_progress */
    j->pos = at;
    if (ci->image_width > MAX_SIDE || ci->image_height > MAX_SIDE) {
        snprintf(j->msg, sizeof j->msg, "image size %ux%u out of range (1 to %d)", ci->image_width,
                 ci->image_height, MAX_SIDE);
        return 0;
    }
    if (j->blocks > (left * 8 + 64) * per_bit) {
        snprintf(j->msg, sizeof j->msg,
                 "image size %ux%u (%llu blocks of 8x8) needs at least %llu bytes of scan data, the file has %llu "
                 "from here (truncated file or corrupt size)", ci->image_width, ci->image_height,
                 (unsigned long long)j->blocks, (unsigned long long)((j->blocks / per_bit + 7) / 8),
                 (unsigned long long)left);
        return 0;
    }
    if ((ci->progressive_mode || ci->comps_in_scan < ci->num_components) && coef) {
        if (ks_mem_account(j->c, (size_t)coef)) {
            snprintf(j->msg, sizeof j->msg, "out of memory for the coefficients of a %ux%u image (%s)",
                     ci->image_width, ci->image_height, ks_ctx_message(j->c));
            return 0;
        }
        j->coef_bytes = (size_t)coef;
    }
    return 1;
}

/* Scans of a progressive (or multi-scan) file each walk every block: a file
 * of many near-empty scans over a large image is quadratic work (minutes for
 * a few hundred KB, and libjpeg cannot be interrupted). The decoding work
 * (scans x blocks) is held to 32 scans over the most blocks the file could
 * hold (256 block visits per byte with Huffman coding) plus 2^24: real
 * progressive files have about 10 scans and more than a bit per block.
 * Called by libjpeg between rows of MCUs. */
typedef struct jprogress {
    struct jpeg_progress_mgr pub;
    job *j;
} jprogress;

static void jpeg_on_progress(j_common_ptr cinfo)
{
    j_decompress_ptr ci = (j_decompress_ptr)cinfo;
    job *j = ((jprogress *)cinfo->progress)->j;
    uint64_t scans = ci->input_scan_number > 0 ? (uint64_t)ci->input_scan_number : 0;
    if (scans * j->blocks <= j->max_work) return;
    j->pos = ci->src ? (size_t)(ci->src->next_input_byte - j->data) : j->len;
    if (j->pos > j->len) j->pos = j->len;
    snprintf(j->msg, sizeof j->msg,
             "%llu scans over %llu blocks of 8x8 are more decoding work than a %zu-byte file can justify "
             "(hostile progressive JPEG)", (unsigned long long)scans, (unsigned long long)j->blocks, j->len);
    longjmp(((jerr *)cinfo->err)->jb, 1);
}

static int decode_jpeg(job *j, int rgb)
{
    struct jpeg_decompress_struct ci;
    jerr e;
    jprogress prog = {.j = j};
    prog.pub.progress_monitor = jpeg_on_progress;
    ci.err = jpeg_std_error(&e.pub);
    e.pub.error_exit = jpeg_on_error;
    e.pub.emit_message = jpeg_on_message;
    e.j = j;
    if (setjmp(e.jb)) {
        jpeg_destroy_decompress(&ci);
        return 0;
    }
    jpeg_create_decompress(&ci);
    jpeg_mem_src(&ci, j->data, (unsigned long)j->len);
    jpeg_read_header(&ci, TRUE);
    if (!jpeg_size_fits(j, &ci)) {
        jpeg_destroy_decompress(&ci);
        return 0;
    }
    ci.progress = &prog.pub;
    ci.out_color_space = ci.num_components == 1 && !rgb ? JCS_GRAYSCALE : JCS_RGB;
    jpeg_start_decompress(&ci);
    j->w = (int)ci.output_width;
    j->h = (int)ci.output_height;
    j->nc = ci.output_components;
    if (!alloc_rows(j, (size_t)j->w * (size_t)j->nc)) {
        jpeg_destroy_decompress(&ci);
        return 0;
    }
    while (ci.output_scanline < ci.output_height) jpeg_read_scanlines(&ci, j->rows + ci.output_scanline, 1);
    jpeg_finish_decompress(&ci);
    jpeg_destroy_decompress(&ci);
    return 1;
}

static int encode_jpeg(job *j, int quality)
{
    struct jpeg_compress_struct ci;
    jerr e;
    unsigned long size = 0;
    ci.err = jpeg_std_error(&e.pub);
    e.pub.error_exit = jpeg_on_error;
    e.pub.emit_message = jpeg_on_message;
    e.j = j;
    if (setjmp(e.jb)) {
        jpeg_destroy_compress(&ci);
        return 0;
    }
    jpeg_create_compress(&ci);
    jpeg_mem_dest(&ci, &j->out, &size);
    ci.image_width = (JDIMENSION)j->w;
    ci.image_height = (JDIMENSION)j->h;
    ci.input_components = j->nc;
    ci.in_color_space = j->nc == 1 ? JCS_GRAYSCALE : JCS_RGB;
    jpeg_set_defaults(&ci);
    jpeg_set_quality(&ci, quality, TRUE);
    ci.comp_info[0].h_samp_factor = ci.comp_info[0].v_samp_factor = 1; /* 4:4:4 */
    jpeg_start_compress(&ci, TRUE);
    while (ci.next_scanline < ci.image_height) jpeg_write_scanlines(&ci, j->rows + ci.next_scanline, 1);
    jpeg_finish_compress(&ci);
    jpeg_destroy_compress(&ci);
    j->out_len = size;
    return 1;
}

/* ------------------------------------------------------------ load */
/* HWC pixels (nc channels) -> uint8 [C, H, W] with the requested channels. */
static ks_status to_tensor(ks_ctx *c, job *j, int channels, ks_tensor **out)
{
    int oc = channels ? channels : j->nc;
    int64_t size[3] = {oc, j->h, j->w};
    ks_tensor *t;
    ks_status st = ks_tensor_empty(c, KS_UINT8, 3, size, &t);
    if (st) return st;
    uint8_t *d = ks_tensor_data(t);
    size_t hw = (size_t)j->h * (size_t)j->w, nc = (size_t)j->nc;
    const uint8_t *s = j->pixels;
    if (oc == 1 && nc == 3) {
        for (size_t i = 0; i < hw; i++, s += 3)
            d[i] = (uint8_t)((19595u * s[0] + 38470u * s[1] + 7471u * s[2] + 0x8000u) >> 16);
    } else {
        for (size_t i = 0; i < hw; i++, s += nc)
            for (int ch = 0; ch < oc; ch++) d[(size_t)ch * hw + i] = s[ch < (int)nc ? ch : 0];
    }
    *out = t;
    return KS_OK;
}

ks_status ks_image_load(ks_ctx *c, const char *path, int channels, ks_tensor **out)
{
    if (channels != 0 && channels != 1 && channels != 3)
        return ks_error(c, KS_EINVAL, "%s: channels must be 0 (as stored), 1 or 3, got %d", path, channels);
    job j;
    memset(&j, 0, sizeof j);
    j.c = c;
    j.path = path;
    unsigned char *buf;
    ks_status st = ks_file_read_all(c, path, MAX_FILE, &buf, &j.len);
    if (st) return st;
    j.data = buf;
    int ok;
    const char *fmt;
    if (j.len >= 8 && memcmp(buf, "\x89PNG\r\n\x1a\n", 8) == 0) {
        fmt = "PNG";
        ok = decode_png(&j, channels == 3);
    } else if (j.len >= 3 && memcmp(buf, "\xFF\xD8\xFF", 3) == 0) {
        fmt = "JPEG";
        ok = decode_jpeg(&j, channels == 3);
    } else {
        free(buf);
        return ks_error(c, KS_EFORMAT, "%s: not a PNG or JPEG file (unknown magic bytes at byte 0)", path);
    }
    free(buf);
    st = ok ? to_tensor(c, &j, channels, out)
            : ks_error(c, KS_EFORMAT, "%s: corrupt %s file at byte %zu: %s", path, fmt, j.pos, j.msg);
    job_free(&j);
    return st;
}

/* ------------------------------------------------------------ save */
/* t [C, H, W] or [H, W], uint8 or float32 -> HWC uint8 rows in j. */
static ks_status from_tensor(ks_ctx *c, const char *path, ks_tensor *t, int max_c, job *j)
{
    char s[160];
    ks_shape_str(t, s, sizeof s);
    if (t->dtype != KS_UINT8 && t->dtype != KS_FLOAT32)
        return ks_error(c, KS_ETYPE, "%s: image tensor must be uint8 or float32 in [0, 1], got %s", path,
                        ks_dtype_name(t->dtype));
    int three = t->ndim == 3;
    if ((t->ndim != 2 && !three) || (three && t->size[0] != 1 && t->size[0] != 3 && (t->size[0] != 4 || max_c < 4)))
        return ks_error(c, KS_ESHAPE, "%s: image tensor must be [C, H, W] with C in {1, 3%s} or [H, W], got %s", path,
                        max_c == 4 ? ", 4" : "", s);
    j->nc = three ? (int)t->size[0] : 1;
    int64_t h = t->size[t->ndim - 2], w = t->size[t->ndim - 1];
    if (h < 1 || w < 1 || h > MAX_SIDE || w > MAX_SIDE)
        return ks_error(c, KS_ESHAPE, "%s: image size %s out of range (sides 1 to %d)", path, s, MAX_SIDE);
    j->h = (int)h;
    j->w = (int)w;
    if (!alloc_rows(j, (size_t)w * (size_t)j->nc)) return ks_error(c, KS_ENOMEM, "%s: %s", path, j->msg);
    ks_tensor *ct;
    ks_status st = ks_contiguous(c, t, &ct);
    if (st) return st;
    size_t hw = (size_t)h * (size_t)w, nc = (size_t)j->nc;
    const uint8_t *u = ks_tensor_data(ct);
    const float *f = ks_tensor_data(ct);
    for (size_t ch = 0; ch < nc; ch++)
        for (size_t i = 0; i < hw; i++) {
            uint8_t v;
            if (ct->dtype == KS_UINT8) {
                v = u[ch * hw + i];
            } else {
                float x = f[ch * hw + i] * 255.0f + 0.5f;
                v = x >= 255.0f ? 255 : x > 0.0f ? (uint8_t)x : 0; /* NaN -> 0 */
            }
            j->pixels[i * nc + ch] = v;
        }
    ks_tensor_release(ct);
    return KS_OK;
}

static ks_status write_out(ks_ctx *c, const char *path, job *j)
{
    ks_atomic_file af;
    ks_status st = ks_atomic_open(c, path, &af);
    if (!st && !(st = ks_atomic_write(c, &af, j->out, j->out_len))) st = ks_atomic_commit(c, &af);
    return st;
}

ks_status ks_image_save_png(ks_ctx *c, const char *path, ks_tensor *t)
{
    job j;
    memset(&j, 0, sizeof j);
    j.c = c;
    ks_status st = from_tensor(c, path, t, 4, &j);
    if (!st) st = encode_png(&j) ? write_out(c, path, &j) : ks_error(c, KS_EIO, "%s: PNG encoding failed: %s", path, j.msg);
    job_free(&j);
    return st;
}

ks_status ks_image_save_jpeg(ks_ctx *c, const char *path, ks_tensor *t, int quality)
{
    if (quality < 1 || quality > 100) return ks_error(c, KS_EINVAL, "%s: JPEG quality must be in [1, 100], got %d", path, quality);
    job j;
    memset(&j, 0, sizeof j);
    j.c = c;
    ks_status st = from_tensor(c, path, t, 3, &j);
    if (!st)
        st = encode_jpeg(&j, quality) ? write_out(c, path, &j) : ks_error(c, KS_EIO, "%s: JPEG encoding failed: %s", path, j.msg);
    job_free(&j);
    return st;
}
