/* ks_npy.h: NumPy .npy files, and .npz archives of them (read only).
 *
 * NPY: magic "\x93NUMPY", version 1.0 (uint16 header length) or 2.0/3.0
 * (uint32), then a Python dict literal {'descr': D, 'fortran_order': B,
 * 'shape': (..)} padded with spaces and ending in '\n', then the data.
 * Read: descr (byte order '<', '|' or '=') f4 -> float32, f8 -> float32
 * (rounded), i8/i4/i2/i1 -> int64, u1 -> uint8, b1 -> bool; '>' (big-endian)
 * and other types are errors. fortran_order True is read and transposed into
 * a C-order tensor. The data must hold exactly product(shape) elements (a
 * truncated file and trailing bytes are both errors). Errors name the file
 * and the byte offset.
 * Save: float32 '<f4', int64 '<i8', uint8 '|u1', bool '|b1'; C order;
 * version 1.0 (2.0 when the header needs it); the header padded so the data
 * starts at a multiple of 64 bytes, as NumPy does; written atomically.
 *
 * NPZ: a zip archive of .npy members, stored or deflated (np.savez and
 * np.savez_compressed); names lose their ".npy"; CRCs are checked. ZIP64
 * archives, encryption and other compression methods are errors, and so are
 * (before allocating) an inflated size deflate cannot reach (over 1032x the
 * deflated size) and members that overlap (headers and data of the members
 * adding up to more than the file: a zip bomb).
 */
#ifndef KS_NPY_H
#define KS_NPY_H

#include "ks_tensor.h"

ks_status ks_npy_read(ks_ctx *c, const char *path, ks_tensor **out);
ks_status ks_npy_save(ks_ctx *c, const char *path, ks_tensor *t);

/* Members of an archive, in the archive's order; free with ks_npz_free. */
typedef struct ks_npz {
    int n;
    char **names;
    ks_tensor **tensors;
} ks_npz;
ks_status ks_npz_read(ks_ctx *c, const char *path, ks_npz **out);
void ks_npz_free(ks_npz *z);

#endif
