# Peer benchmark for bench_augment.lua's warp pipeline: torchvision's per-image RandomAffine
# (degrees 10, translate 0.1, scale 0.9-1.1, shear 10) then ElasticTransform (alpha 50, sigma 4)
# on Fashion-MNIST images, one thread. Benchmark only (Debian's python3-torchvision).
# Usage: /usr/bin/python3 peer_warp_augment.py
import gzip, time, numpy as np, torch, torchvision.transforms as T
torch.set_num_threads(1)
with gzip.open("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz") as f:
    X = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 1, 28, 28)[:2000]
X = torch.tensor(X, dtype=torch.float32) / 255
tf = T.Compose([T.RandomAffine(10, translate=(0.1, 0.1), scale=(0.9, 1.1), shear=10,
                               interpolation=T.InterpolationMode.BILINEAR),
                T.ElasticTransform(alpha=50.0, sigma=4.0)])
for i in range(100): tf(X[i])
t = time.perf_counter()
for i in range(len(X)): tf(X[i])
print(f"torchvision per-image affine+elastic: {len(X) / (time.perf_counter() - t):.0f} images/s")
