/* ks_image.h: PNG/JPEG decoding and encoding, bilinear resize, and
 * uint8 -> float32 normalisation.
 *
 * Images are uint8 tensors [C, H, W] (C order, channels first, as in
 * PyTorch). Loading (the format is taken from the file's magic bytes, not
 * its name):
 *   channels 0: as stored (1 for gray, 3 for colour; alpha is dropped),
 *   channels 1: gray; colour images are converted with PIL's "L" rule
 *               L = (19595 R + 38470 G + 7471 B + 32768) >> 16,
 *   channels 3: RGB; gray images are replicated.
 * PNG: palette, low bit depths and tRNS are expanded; 16-bit samples keep
 * their high byte; gamma chunks are ignored (like PIL). JPEG: gray or
 * YCbCr/RGB (CMYK is an error). A corrupt or truncated file is an error
 * naming the path and the decoder's message; libjpeg warnings (e.g.
 * "Premature end of JPEG file") are errors too. libpng/libjpeg report errors
 * by longjmp; the jumps stay inside the decoding functions of ks_image.c.
 * Hostile files (before anything large is allocated): sides above 32768 are
 * errors; a PNG's pixel data cannot exceed 1032x the file (deflate's limit);
 * a JPEG needs a bit of scan data per 8x8 block (arithmetic coding: per 64
 * blocks); a progressive JPEG's work (scans x blocks) is held to 32 scans
 * over the most blocks the file could hold, plus 2^24 block visits (256 per
 * file byte with Huffman coding); PNG text, ICC and other variable-size
 * ancillary chunks are skipped unread. The pixels and libjpeg's coefficient
 * buffer count against the memory limit.
 *
 * Saving: t uint8 (as is) or float32 (x * 255 rounded half up, clamped to
 * [0, 255], NaN -> 0), shape [C, H, W] with C in {1, 3, 4} (4 = RGBA, PNG
 * only) or [H, W] (gray). JPEG: baseline, 4:4:4 (no chroma subsampling),
 * quality 1..100. Written atomically (ks_fileio.h).
 */
#ifndef KS_IMAGE_H
#define KS_IMAGE_H

#include "ks_tensor.h"

ks_status ks_image_load(ks_ctx *c, const char *path, int channels, ks_tensor **out);
ks_status ks_image_save_png(ks_ctx *c, const char *path, ks_tensor *t);
ks_status ks_image_save_jpeg(ks_ctx *c, const char *path, ks_tensor *t, int quality);

/* Bilinear resize of the last two dims of a uint8 or float32 tensor
 * [..., H, W] to [..., oh, ow]. PyTorch's interpolate(mode="bilinear",
 * align_corners=False, antialias=False): half-pixel centres, source
 * coordinate (dst + 0.5) * in / out - 0.5 clamped below at 0, the right/
 * bottom neighbour clamped to the edge. Computed in float; uint8 results are
 * rounded half up. Output contiguous, same dtype. */
ks_status ks_image_resize(ks_ctx *c, ks_tensor *in, int64_t oh, int64_t ow, ks_tensor **out);

/* float32 out = (x * scale - mean[ch]) / std[ch] for uint8 or float32 x of
 * at least 2 dims. With nch <= 1 (one mean/std for all, or NULL) any layout
 * works ([N, H, W] batches of any N); with nch > 1 the channel dim is -3
 * ([..., C, H, W]) and must have nch entries. NULL mean = 0, NULL std = 1.
 * uint8 goes through a per-channel 256-entry table (exact formula, fast). */
ks_status ks_image_to_float(ks_ctx *c, ks_tensor *x, double scale, const double *mean, const double *std, int nch,
                            ks_tensor **out);

#endif
