#!/bin/sh
# scripts/bench/run_all.sh: run every benchmark present (run by `make bench`)
# and print their result lines. bench_*.lua run under the host ($KSHOT_BIN,
# default build/kshot), bench_*.sh under sh. A benchmark that fails is
# reported and the others still run; the exit status is 1 if any failed.
# Benchmarks measure, they never test: see BENCHMARKS.md for the figures.
set -u
cd "$(dirname "$0")/../.." || exit 1
BUILD=${BUILD:-build}
KSHOT_BIN=${KSHOT_BIN:-$PWD/$BUILD/kshot}
export KSHOT_BIN
[ -x "$KSHOT_BIN" ] || { echo "bench: $KSHOT_BIN not built (make)" >&2; exit 1; }

status=0
for f in scripts/bench/bench_*.lua scripts/bench/bench_*.sh; do
    [ -f "$f" ] || continue
    echo "== $f"
    t0=$(date +%s.%N)
    case "$f" in
        *.lua) "$KSHOT_BIN" "$f" ;;
        *.sh) sh "$f" ;;
    esac
    rc=$?
    t=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
    if [ "$rc" -ne 0 ]; then
        echo "== $f FAILED (exit $rc, $t s)"
        status=1
    else
        echo "== $f done ($t s)"
    fi
done
exit $status
