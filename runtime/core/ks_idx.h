/* ks_idx.h: reader of IDX files (MNIST, Fashion-MNIST), plain or gzip.
 *
 * Format (big-endian): bytes 0-1 zero, byte 2 the element type, byte 3 the
 * number of dims d, then d uint32 sizes, then the row-major data. Supported
 * element types and the tensor dtype they load as:
 *   0x08 uint8   -> uint8      0x0D float32 -> float32
 *   0x09 int8    -> int64      0x0E float64 -> float32 (rounded)
 *   0x0B int16   -> int64
 *   0x0C int32   -> int64
 *
 * The file is read through zlib: gzip files (magic 1f 8b) are inflated on the
 * fly, other files are read as they are; nothing is unpacked to disk. The
 * data lands directly in the tensor's storage (one allocation; integer types
 * are widened in place, float64 goes through a small bounce buffer).
 *
 * Validation: the zero magic bytes, the type byte, 1 <= d <= KS_MAX_DIMS,
 * that the sizes multiply without overflow, and that the data holds exactly
 * the sizes' product (a truncated file and trailing bytes are both errors),
 * and gzip integrity (CRC, length). Every error message starts with the path
 * and names the byte offset (in the uncompressed stream) and what is wrong.
 * Reads are chunked and poll the context's interrupt flag between chunks.
 */
#ifndef KS_IDX_H
#define KS_IDX_H

#include "ks_tensor.h"

/* Read a whole IDX file into a new contiguous tensor (*out on KS_OK).
 * Errors: KS_EIO (cannot open/read), KS_EFORMAT (malformed contents),
 * KS_ERANGE (sizes overflow), KS_ENOMEM, KS_EINTR. */
ks_status ks_idx_read(ks_ctx *c, const char *path, ks_tensor **out);

#endif
