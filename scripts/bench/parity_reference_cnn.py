# parity_reference_cnn.py: the protocol note's reference CNN (2 conv blocks 32-64 + BN, 128 head, dropout 0.3,
# AdamW lr 1e-3 wd 0.01, 300 steps of batch 32) in PyTorch on the K-shot rows printed by dev_kshot_rows.lua,
# scored on training images 50000..51999 like fewshot_fashion.lua --dev --test-size 2000, or with "test" (rows
# from dev_kshot_rows.lua --report) on all 10,000 test images like --full. Benchmark only (needs python3-torch).
# Usage: /usr/bin/python3 parity_reference_cnn.py ROWS_FILE [std|raw] [steps] [dev|test]
import sys, gzip, numpy as np, torch, torch.nn as nn, torch.nn.functional as F
torch.set_num_threads(1)
D='/usr/share/datasets/fashion-mnist/'
def idx(f, off): return np.frombuffer(gzip.open(D+f).read(), np.uint8, offset=off)
X = idx('train-images-idx3-ubyte.gz', 16).reshape(-1, 1, 28, 28).astype(np.float32) / 255
Y = idx('train-labels-idx1-ubyte.gz', 8).astype(np.int64)
MEAN, SD = 0.2860, 0.3530
norm = sys.argv[2] if len(sys.argv) > 2 else 'std'
f = (lambda a: (a - MEAN) / SD) if norm == 'std' else (lambda a: a)
if len(sys.argv) > 4 and sys.argv[4] == 'test':
    xd = torch.tensor(f(idx('t10k-images-idx3-ubyte.gz', 16).reshape(-1, 1, 28, 28).astype(np.float32) / 255))
    yd = torch.tensor(idx('t10k-labels-idx1-ubyte.gz', 8).astype(np.int64))
else:
    xd, yd = torch.tensor(f(X[50000:52000])), torch.tensor(Y[50000:52000])
steps = int(sys.argv[3]) if len(sys.argv) > 3 else 300
def model():
    return nn.Sequential(nn.Conv2d(1, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3, padding=1), nn.BatchNorm2d(64), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
        nn.Dropout(0.3), nn.Linear(3136, 128), nn.ReLU(), nn.Linear(128, 10))
for line in open(sys.argv[1]):
    rows = [int(v) for v in line.split(',')]
    x, y = torch.tensor(f(X[rows])), torch.tensor(Y[rows])
    accs = []
    for s in range(3):
        torch.manual_seed(s); m = model(); opt = torch.optim.AdamW(m.parameters(), lr=1e-3, weight_decay=0.01)
        for _ in range(steps):
            i = torch.randint(0, len(rows), (32,)); opt.zero_grad(); F.cross_entropy(m(x[i]), y[i]).backward(); opt.step()
        m.eval()
        with torch.no_grad(): accs.append(100 * (m(xd).argmax(1) == yd).float().mean().item())
    print(' '.join(f'{a:.2f}' for a in accs), f'mean {np.mean(accs):.2f}', flush=True)
