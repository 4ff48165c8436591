#!/bin/sh
# bench_idx_load.sh: wall time of loading both Fashion-MNIST splits with kshot
# (ks.data.fashion_mnist: inflate + validate into tensors) against `zcat` of
# the same four files to /dev/null. Best of $REPS runs each, whole processes.
# Prints: idx_load kshot_s=.. zcat_s=.. ratio=..   (target: ratio <= 1.5)
set -eu
cd "$(dirname "$0")/../.."
BIN=${KSHOT_BIN:-build/kshot}
DIR=${KSHOT_FASHION_MNIST:-/usr/share/datasets/fashion-mnist}
REPS=${REPS:-5}
export KSHOT_LUA_DIR="${KSHOT_LUA_DIR:-$PWD/bindings/lua}"

if [ ! -x "$BIN" ]; then echo "bench_idx_load: $BIN not built (make)" >&2; exit 1; fi
if [ ! -e "$DIR/train-images-idx3-ubyte.gz" ]; then
  echo "bench_idx_load: no Fashion-MNIST in $DIR (apt-get install dataset-fashion-mnist)" >&2; exit 1
fi

CODE="local d = require('kshot').data
for _, s in ipairs{'train', 'test'} do
  local x, y = d.fashion_mnist{split = s, path = '$DIR'}
  assert(x:size(0) == y:size(0))
end"

# best wall time in seconds of running "$@" REPS times
best() {
  b=""
  i=0
  while [ $i -lt "$REPS" ]; do
    t0=$(date +%s%N)
    "$@" >/dev/null
    t1=$(date +%s%N)
    t=$((t1 - t0))
    if [ -z "$b" ] || [ $t -lt "$b" ]; then b=$t; fi
    i=$((i + 1))
  done
  echo "$b"
}

k=$(best "$BIN" -e "$CODE")
z=$(best zcat "$DIR/train-images-idx3-ubyte.gz" "$DIR/train-labels-idx1-ubyte.gz" \
              "$DIR/t10k-images-idx3-ubyte.gz" "$DIR/t10k-labels-idx1-ubyte.gz")
awk -v k="$k" -v z="$z" 'BEGIN { printf "idx_load kshot_s=%.3f zcat_s=%.3f ratio=%.2f\n", k / 1e9, z / 1e9, k / z }'
