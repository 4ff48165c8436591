#!/usr/bin/python3
"""peer_grid_sample.py: PyTorch's cost of F.grid_sample / F.affine_grid on x [32, 1, 28, 28]
with a rotation-like affine grid (align_corners=False, one thread), for comparison with
scripts/bench/bench_grid_sample.lua (same cases, same output format):
    grid_sample case=<name> us_per_call=<us>
Run: /usr/bin/python3 scripts/bench/peer_grid_sample.py"""
import sys
import time

try:
    import torch
    import torch.nn.functional as F
except ImportError:
    sys.stderr.write("# peer_grid_sample: PyTorch is not installed (python3-torch); nothing measured\n")
    sys.exit(0)

torch.set_num_threads(1)
SIZE = (32, 1, 28, 28)


def best(fn, reps=15, iters=40):
    """best of reps batches of iters calls, microseconds per call (CPU time)"""
    b = float("inf")
    for _ in range(reps):
        t0 = time.process_time()
        for _ in range(iters):
            fn()
        b = min(b, (time.process_time() - t0) / iters * 1e6)
    return b


x = torch.randn(*SIZE)
th = torch.tensor([[1, 0.1, 0], [-0.1, 1, 0]]).unsqueeze(0).expand(32, 2, 3).contiguous()
g = F.affine_grid(th, SIZE, align_corners=False)
xr, thr = x.clone().requires_grad_(), th.clone().requires_grad_()


def fwd_bwd():
    y = F.grid_sample(xr, F.affine_grid(thr, SIZE, align_corners=False), align_corners=False)
    y.sum().backward()


cases = [
    ("grid_sample_fwd", lambda: F.grid_sample(x, g, align_corners=False)),
    ("affine_grid", lambda: F.affine_grid(th, SIZE, align_corners=False)),
    ("affine_grid+grid_sample_fwd_bwd", fwd_bwd),
]
print("# torch %s, 1 thread; x [32, 1, 28, 28], best of 15 x 40 calls" % torch.__version__)
for name, fn in cases:
    print("grid_sample case=%s us_per_call=%.1f" % (name, best(fn)))
