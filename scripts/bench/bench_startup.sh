#!/bin/sh
# bench_startup.sh: start-up cost of the kshot host (start, load the module,
# make a tensor, exit) against stock `lua5.4 -e ''`. Target: ratio <= 3.
# ROUNDS rounds (default 10) of RUNS runs (default 20) of each command,
# alternated so both see the same machine load; each command's time is its
# best round mean (the least disturbed estimate of its own cost).
# Usage: sh scripts/bench/bench_startup.sh   (KSHOT_BIN=path ROUNDS= RUNS=)
# Prints: startup kshot_ms=.. lua_ms=.. ratio=.. kshot_bare_ms=..
set -eu
cd "$(dirname "$0")/../.."
KSHOT=${KSHOT_BIN:-build/kshot}
ROUNDS=${ROUNDS:-10}
RUNS=${RUNS:-20}
[ -x "$KSHOT" ] || { echo "bench_startup: $KSHOT not built (make)" >&2; exit 1; }

# mean milliseconds per run of the command over RUNS runs
round_ms() {
    t0=$(date +%s%N)
    i=0
    while [ "$i" -lt "$RUNS" ]; do
        "$@" >/dev/null
        i=$((i + 1))
    done
    t1=$(date +%s%N)
    awk -v a="$t0" -v b="$t1" -v n="$RUNS" 'BEGIN { printf "%.3f", (b - a) / 1e6 / n }'
}

min() { awk -v x="$1" -v y="$2" 'BEGIN { print (y == "" || x < y) ? x : y }'; }

"$KSHOT" -e 'require"kshot".ones(1)' >/dev/null # warm the page cache
k="" l="" bare=""
r=0
while [ "$r" -lt "$ROUNDS" ]; do
    k=$(min "$(round_ms "$KSHOT" -e 'require"kshot".ones(1)')" "$k")
    l=$(min "$(round_ms lua5.4 -e '')" "$l")
    bare=$(min "$(round_ms "$KSHOT" -e '')" "$bare")
    r=$((r + 1))
done
ratio=$(awk -v a="$k" -v b="$l" 'BEGIN { printf "%.2f", a / b }')
echo "startup kshot_ms=$k lua_ms=$l ratio=$ratio kshot_bare_ms=$bare"
