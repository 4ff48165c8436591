/* ks_nn_im2col.h (internal): the im2col / col2im loops shared by conv2d
 * (ks_nn_conv.c) and F.unfold / F.fold (ks_nn_unfold.c). Not a public API.
 *
 * Layout: images x [N, Ci, H, W] (contiguous float32); the columns of a
 * block of nb images from n0 and group grp are [K, nb*Ho*Wo], K = Cig*kH*kW,
 * row (ci*kH + ky)*kW + kx holding input channel grp*Cig + ci at kernel
 * offset (ky, kx) of every block position, images side by side. With nb = 1
 * and one group this is PyTorch's unfold layout for one image. */
#ifndef KS_NN_IM2COL_H
#define KS_NN_IM2COL_H

#include "ks_tensor.h"

typedef struct {
    int64_t N, Ci, H, W, Co, kH, kW, Ho, Wo;
    int64_t sh, sw, ph, pw, dh, dw, groups;
    int64_t Cig, Cog, K; /* per-group in/out channels, K = Cig*kH*kW */
} ks_conv_geom;

typedef struct {
    const ks_conv_geom *g;
    const float *x; /* im2col source images, or col2im columns */
    float *out;     /* im2col columns, or col2im images (accumulated into) */
    int64_t n0, nb, grp;
} ks_col_job;

/* im2col of column rows [r0, r1) of job (a ks_col_job *); ks_range_fn shaped */
ks_status ks_im2col_rows(void *job, int64_t r0, int64_t r1);
/* col2im: adds the rows of the group's input channels [c0, c1) into their
 * planes of job->out (each channel touches only its own planes) */
ks_status ks_col2im_channels(void *job, int64_t c0, int64_t c1);

#endif
