#!/usr/bin/python3
"""peer_train_cpu.py: PyTorch training steps per second of *process CPU time*
(time.process_time, one torch thread), for bench_train_steps.lua cpu=1. Same
models, inputs, loss and SGD step as ../shared/peers/torch_steps.py; CPU
time instead of wall time so a busy machine (other processes taking the
cores) does not decide the comparison.
    cpu model=<name> batch=<b> torch_cpu_steps_per_s=<x>
Run: OPENBLAS_NUM_THREADS=1 /usr/bin/python3 scripts/bench/peer_train_cpu.py [models] [batches] [seconds]"""
import sys
import time

try:
    import torch
    import torch.nn as nn
    import torch.nn.functional as F
except ImportError:
    sys.stderr.write("# peer_train_cpu: PyTorch is not installed (python3-torch); nothing measured\n")
    sys.exit(0)

torch.set_num_threads(1)
MODELS = {
    "linear": lambda: nn.Sequential(nn.Flatten(), nn.Linear(784, 10)),
    "mlp": lambda: nn.Sequential(nn.Flatten(), nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 128), nn.ReLU(),
                                 nn.Linear(128, 10)),
    "cnn": lambda: nn.Sequential(nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                                 nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                                 nn.Flatten(), nn.Linear(64 * 7 * 7, 128), nn.ReLU(), nn.Linear(128, 10)),
}
models = sys.argv[1].split(",") if len(sys.argv) > 1 else ["linear", "mlp", "cnn"]
batches = [int(b) for b in sys.argv[2].split(",")] if len(sys.argv) > 2 else [8, 32, 128]
seconds = float(sys.argv[3]) if len(sys.argv) > 3 else 1.0


def cpu_steps_per_second(model, x, y):
    """best of 3 timings of n steps each (n sized to ~seconds/3 of CPU), after 5 warm-up steps"""
    opt = torch.optim.SGD(model.parameters(), lr=0.01)

    def step():
        opt.zero_grad()
        F.cross_entropy(model(x), y).backward()
        opt.step()
    for _ in range(5):
        step()
    t = time.process_time()
    step()
    n = max(3, int(seconds / 3 / max(time.process_time() - t, 1e-6)))
    best = float("inf")
    for _ in range(3):
        t = time.process_time()
        for _ in range(n):
            step()
        best = min(best, (time.process_time() - t) / n)
    return 1 / best


torch.manual_seed(0)
for name in models:
    for batch in batches:
        x = torch.randn(batch, 1, 28, 28)
        y = torch.randint(0, 10, (batch,))
        sps = cpu_steps_per_second(MODELS[name](), x, y)
        print(f"cpu model={name} batch={batch} torch_cpu_steps_per_s={sps:.1f}", flush=True)
