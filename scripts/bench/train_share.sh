#!/bin/sh
# scripts/bench/train_share.sh: share of a training step's CPU time spent in
# GEMM (OpenBLAS: sgemm kernels, packing and beta passes), in the conv column transforms (im2col / col2im) and
# outside both (Lua, autograd engine, allocation, GC, activations, pooling,
# losses, the SGD update).
#
#   sh scripts/bench/train_share.sh [batch=32] [threads=1]
#
# Method: perf record (2 kHz, no call graphs) of bench_train_steps.lua for
# one model at a time (setup is < 5% of the samples), then the self-time
# samples are split by symbol name. Not run by run_all.sh (needs perf).
#   share model=.. batch=.. threads=.. gemm=..% im2col_col2im=..% outside=..%
set -u
cd "$(dirname "$0")/../.." || exit 1
BUILD=${BUILD:-build}
KSHOT_BIN=${KSHOT_BIN:-$PWD/$BUILD/kshot}
batch=${1:-32}
threads=${2:-1}
command -v perf >/dev/null || { echo "train_share: perf not found" >&2; exit 1; }
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
for m in linear mlp cnn; do
    perf record -q -F 2000 -o "$tmp/$m.data" "$KSHOT_BIN" scripts/bench/bench_train_steps.lua peer=0 \
        models=$m batches="$batch" threads="$threads" seconds=3 >/dev/null 2>&1 || { echo "perf record failed" >&2; exit 1; }
    perf report -i "$tmp/$m.data" --no-children --sort symbol --percent-limit 0 2>/dev/null |
        awk -v m=$m -v b="$batch" -v t="$threads" '
            /^ +[0-9.]+%/ { p = $1 + 0
                if ($0 ~ /sgemm|_ZEN|gemm_|blas_|openblas/) g += p
                else if ($0 ~ /im2col|col2im/) c += p
                else o += p }
            END { printf "share model=%s batch=%s threads=%s gemm=%.1f%% im2col_col2im=%.1f%% outside=%.1f%%\n", m, b, t, g, c, o }'
done
