#!/usr/bin/python3
"""peer_tiny_op.py: PyTorch's cost of `c = a + b` on float32 tensors (one thread),
for comparison with scripts/bench/bench_tiny_op.lua (same cases, same output format):
    tiny_add n=<elements> ns_per_op=<ns>
Run: /usr/bin/python3 scripts/bench/peer_tiny_op.py"""
import sys
import time

try:
    import torch
except ImportError:
    sys.stderr.write("# peer_tiny_op: PyTorch is not installed (python3-torch); nothing measured\n")
    sys.exit(0)


def measure(body, min_s):
    """ns per iteration of body(iters), repeating until it runs for min_s seconds"""
    iters = 1
    while True:
        t0 = time.process_time()
        body(iters)
        dt = time.process_time() - t0
        if dt >= min_s:
            return dt / iters * 1e9
        iters *= 10 if dt < min_s / 20 else 2


def case(name, n, min_s):
    a, b = torch.ones(n), torch.ones(n)

    def body(iters):
        for _ in range(iters):
            c = a + b  # noqa: F841 (the result is freed at the next assignment, like Lua's GC)

    print("%s n=%d ns_per_op=%.1f" % (name, n, measure(body, min_s)), flush=True)


def main():
    torch.set_num_threads(1)
    sys.stderr.write("# torch %s, 1 thread; ns per `c = a + b`\n" % torch.__version__)
    with torch.no_grad():
        case("tiny_add", 4, 1.0)
        case("tiny_add", 1000, 1.0)
        case("tiny_add", 1000000, 2.0)


if __name__ == "__main__":
    main()
