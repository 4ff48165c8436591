/* ks_grid_sample.h: 2-D grid sampling (PyTorch's F.grid_sample), a stateless
 * forward/backward kernel pair and the recording op built on them.
 *
 * Contract (THNN argument order: inputs, outputs, then options):
 *   input [N, C, H, W] float32 (H, W >= 1), grid [N, Ho, Wo, 2] float32 holding
 *   normalized (x, y) positions, -1 .. 1 spanning the image (x along W, y along H);
 *   any strides (views read in place). Output [N, C, Ho, Wo], contiguous.
 *   Pixel position of a normalized g along a side of n pixels (torch's formulas):
 *     align_corners: (g + 1) (n - 1) / 2   (-1, 1 = the corner pixels' centres)
 *     otherwise:     (g + 1) n / 2 - 0.5   (-1, 1 = the image's outer edges)
 *   padding: zeros: positions outside read 0; border: the position clipped to
 *   [0, n - 1]; reflection: mirrored at the edges (align_corners: at the
 *   corner pixels' centres 0, n - 1; otherwise at -0.5, n - 0.5) as often as
 *   needed, then clipped. bilinear: the four neighbours weighted by distance;
 *   nearest: the pixel at the position rounded half to even.
 *   Gradients as torch's grid_sampler_2d_backward: grad_input scatters
 *   grad_output with the same weights; grad_grid is the derivative of the
 *   bilinear blend times d position / d grid (border and reflection: 0 where
 *   the clip is active, the borders themselves counting as outside, +-1 per
 *   reflection); nearest mode: grad_grid is zero. A non-finite position in
 *   bilinear mode gives NaN (weights NaN), as torch's CPU kernel; in nearest
 *   mode it reads 0.
 * Work is split over images (backward) and output rows (forward) in chunks
 * fixed by the sizes, so results are bit-identical for any thread count. */
#ifndef KS_GRID_SAMPLE_H
#define KS_GRID_SAMPLE_H

#include "ks_autograd.h"

typedef enum { KS_GS_BILINEAR = 0, KS_GS_NEAREST = 1 } ks_gs_mode;
typedef enum { KS_GS_ZEROS = 0, KS_GS_BORDER = 1, KS_GS_REFLECTION = 2 } ks_gs_padding;

typedef struct {
    ks_gs_mode mode;
    ks_gs_padding padding;
    bool align_corners;
} ks_grid_sample_opts;

/* Checks input, grid and options (errors name both shapes); KS_OK when valid. */
ks_status ks_grid_sample2d_check(ks_ctx *c, const ks_tensor *input, const ks_tensor *grid, const ks_grid_sample_opts *o);

/* output = grid_sample(input, grid): a new contiguous [N, C, Ho, Wo] tensor; records nothing. */
ks_status ks_grid_sample2d_forward(ks_ctx *c, const ks_tensor *input, const ks_tensor *grid, ks_tensor **output,
                                   const ks_grid_sample_opts *o);

/* The gradients of sum(grad_output * grid_sample(input, grid)): grad_output
 * [N, C, Ho, Wo] (any strides); grad_input [N, C, H, W] and grad_grid
 * [N, Ho, Wo, 2] are new contiguous tensors, each computed only when its
 * pointer is not NULL; records nothing. */
ks_status ks_grid_sample2d_backward(ks_ctx *c, const ks_tensor *grad_output, const ks_tensor *input,
                                    const ks_tensor *grid, ks_tensor **grad_input, ks_tensor **grad_grid,
                                    const ks_grid_sample_opts *o);

/* F.grid_sample: the forward kernel plus one autograd node
 * (GridSampler2DBackward, gradients for input and grid). Its backward does
 * not record: under create_graph the engine marks the gradients, so
 * differentiating them again raises "double backward of GridSampler2DBackward
 * is not supported", as torch 1.13 (grid_sampler_2d_backward has no derivative). */
ks_status ks_nn_grid_sample(ks_ctx *c, ks_tensor *input, ks_tensor *grid, ks_tensor **out, const ks_grid_sample_opts *o);

#endif
