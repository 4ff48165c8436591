#!/bin/sh
# spec/run_all.sh: every test of kshot (run by `make test` / `make test-fast`).
#
# Builds, then runs the sub-runs below, prints the time of each, and ends
# with ONE line "N passed, N failed" (the sum over sub-runs). A sub-run that
# crashes or exits non-zero without reporting a failure counts one failure.
# Exit status: 0 only when nothing failed.
#
#   a. core purity   make check-core: no Lua header in runtime/core (1 test)
#   b. C tests       $BUILD/test_core (spec/c/test_core.c, no Lua)
#   c. host specs    every spec/*_spec.lua under busted --lua=$BUILD/kshot
#   d. module specs  unit specs under stock lua5.4 with $BUILD/kshot.so
#   e. sanitizers    ASan+UBSan build ($BUILD/asan): C tests + every spec but host/embed/regression,
#                    and the file readers over their fuzz corpora (make fuzz-replay, spec/c/fuzz)
#   f. valgrind      memcheck of the C tests and of spec/c/smoke.lua
#
# Busted runs one spec file per process (TAP output), so a crash in one file
# cannot hide the results of the others. Logs: $BUILD/test-logs/.
# Each spec file gets at most KSHOT_SPEC_TIMEOUT seconds (default 180, x3
# under the sanitizers); a file that hangs counts as a failure.
# Environment: BUILD (default build); KSHOT_TEST_SKIP, a list of sub-runs to
# leave out while developing (host lua54 asan valgrind; never in CI).
set -u
cd "$(dirname "$0")/.." || exit 1

BUILD=${BUILD:-build}
ROOT=$PWD
LOGS=$BUILD/test-logs
SKIP=${KSHOT_TEST_SKIP:-}
export KSHOT_BIN="$ROOT/$BUILD/kshot"
export KSHOT_SWEEP_TRACE=1 # the sweep names each function in its log (finds a crash)
SPEC_TIMEOUT=${KSHOT_SPEC_TIMEOUT:-180}
TOTAL_PASS=0
TOTAL_FAIL=0
rm -rf "$LOGS"
mkdir -p "$LOGS"

now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

# Unit specs: test the tensor library through the module only (no host).
unit_specs() {
    for f in spec/tensor_*_spec.lua spec/bad_input_sweep_spec.lua spec/system_spec.lua spec/memory_spec.lua; do
        [ -f "$f" ] && echo "$f"
    done
}

# Specs for the sanitizer run: every spec but those that drive other
# processes (the host, the embedding example, the scripts' regression runs),
# which the host sub-run covers.
sanitizer_specs() {
    for f in spec/*_spec.lua; do
        case "$f" in
            spec/host_spec.lua | spec/embed_spec.lua | spec/regression_spec.lua) ;;
            *) echo "$f" ;;
        esac
    done
}

# sub-run bookkeeping: begin NAME; ... pass N / fail N ...; finish
begin() {
    SUB_NAME=$1
    SUB_PASS=0
    SUB_FAIL=0
    SUB_T0=$(now)
    echo "== $SUB_NAME"
}
finish() {
    echo "== $SUB_NAME: $SUB_PASS passed, $SUB_FAIL failed ($(elapsed "$SUB_T0") s)"
    TOTAL_PASS=$((TOTAL_PASS + SUB_PASS))
    TOTAL_FAIL=$((TOTAL_FAIL + SUB_FAIL))
}
skipped() { case " $SKIP " in *" $1 "*) echo "== $1: skipped (KSHOT_TEST_SKIP)"; return 0 ;; esac; return 1; }

# One test: `single LABEL LOG CMD...` passes when CMD exits 0.
single() {
    label=$1 log=$2
    shift 2
    if "$@" >"$log" 2>&1; then
        SUB_PASS=$((SUB_PASS + 1))
    else
        SUB_FAIL=$((SUB_FAIL + 1))
        echo "FAILED: $label (log $log)"
        tail -n 30 "$log" | sed 's/^/    /'
    fi
}

# A sanitizer or memcheck report in a log fails the run even if the exit
# status was swallowed somewhere.
has_report() { grep -qE 'ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:|SUMMARY: UndefinedBehaviorSanitizer' "$1"; }

# The first sanitizer report of a log with its top frames, else its tail.
show_crash() {
    if has_report "$1"; then
        grep -m 1 -A 12 -E 'ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:' "$1" | sed 's/^/    /'
    else
        grep -vE '^sweep: ' "$1" | tail -n 30 | sed 's/^/    /'
    fi
}

# The C tests print "N passed, N failed" as their last line.
c_tests() {
    bin=$1 log=$2
    timeout "$SPEC_TIMEOUT" "$bin" >"$log" 2>&1
    rc=$?
    summary=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$log" | tail -n 1)
    p=0 f=0
    if [ -n "$summary" ]; then
        p=${summary%% passed*}
        f=${summary#*passed, }
        f=${f%% failed}
    fi
    if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ] || [ -z "$summary" ] || has_report "$log"; then
        f=$((f + 1))
        echo "FAILED: $bin crashed or reported an error (exit $rc, log $log)"
        show_crash "$log"
    elif [ "$f" -ne 0 ]; then
        echo "FAILED: $bin (log $log)"
        grep -E '^FAIL|check failed' "$log" | head -n 30 | sed 's/^/    /'
    fi
    SUB_PASS=$((SUB_PASS + p))
    SUB_FAIL=$((SUB_FAIL + f))
}

# One spec file under busted with the given interpreter (and cpath).
busted_file() {
    lua=$1 cpath=$2 file=$3 log=$4
    t0=$(now)
    if [ -n "$cpath" ]; then
        timeout "$FILE_TIMEOUT" busted --lua="$lua" --cpath="$cpath" -o TAP "$file" >"$log" 2>&1
    else
        timeout "$FILE_TIMEOUT" busted --lua="$lua" -o TAP "$file" >"$log" 2>&1
    fi
    rc=$?
    [ "$rc" -eq 124 ] && echo "TIMEOUT: $file ran longer than $FILE_TIMEOUT s" >>"$log"
    p=$(grep -E '^ok [0-9]+ - ' "$log" | grep -vcE '^ok [0-9]+ - # SKIP')
    f=$(grep -cE '^not ok [0-9]+ - ' "$log")
    planned=$(grep -cE '^1\.\.[0-9]+$' "$log")
    if { [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; } || [ "$planned" -eq 0 ] || has_report "$log"; then
        f=$((f + 1))
        echo "FAILED: $file crashed or did not finish (exit $rc, log $log)"
        grep -E '^sweep: ' "$log" | tail -n 1 | sed 's/^sweep: /    last function swept: /'
        show_crash "$log"
    elif [ "$f" -ne 0 ]; then
        echo "FAILED: $file: $f failed (log $log)"
        grep -E '^not ok|^# Failure message|^# [^ ]+ @ [0-9]+' "$log" | head -n 40 | sed 's/^/    /'
    fi
    printf '   %-44s %4d passed, %d failed (%s s)\n' "$file" "$p" "$f" "$(elapsed "$t0")"
    SUB_PASS=$((SUB_PASS + p))
    SUB_FAIL=$((SUB_FAIL + f))
}

busted_files() {
    lua=$1 cpath=$2 tag=$3 FILE_TIMEOUT=$4
    shift 4
    mkdir -p "$LOGS/$tag"
    for file in "$@"; do
        busted_file "$lua" "$cpath" "$file" "$LOGS/$tag/$(basename "$file" .lua).log"
    done
}

T_ALL=$(now)

# ---- build (a failed build fails everything that depends on it)
begin "build (make -j2 BUILD=$BUILD)"
single "build" "$LOGS/build.log" make -j2 BUILD="$BUILD" all "$BUILD/test_core"
finish
if [ "$SUB_FAIL" -ne 0 ]; then
    echo "$TOTAL_PASS passed, $TOTAL_FAIL failed"
    exit 1
fi

# ---- a. core purity
begin "a. core purity (make check-core)"
single "check-core" "$LOGS/check-core.log" make --no-print-directory check-core
finish

# ---- b. C tests
begin "b. C tests ($BUILD/test_core)"
c_tests "$BUILD/test_core" "$LOGS/test_core.log"
finish

# ---- c. every spec under the host
if ! skipped host; then
    begin "c. specs under the host (busted --lua=$BUILD/kshot spec)"
    # shellcheck disable=SC2046 # spec file names have no spaces
    busted_files "$ROOT/$BUILD/kshot" "" host "$SPEC_TIMEOUT" $(ls spec/*_spec.lua spec/*/*_spec.lua 2>/dev/null)
    finish
fi

# ---- d. unit specs under stock Lua 5.4 with the module
if ! skipped lua54; then
    begin "d. unit specs under stock lua5.4 (cpath $BUILD/?.so)"
    # the lazy Lua modules are the same code under both interpreters: the host run sweeps them once
    export KSHOT_SWEEP_LAZY=0
    # shellcheck disable=SC2046
    busted_files lua5.4 "$ROOT/$BUILD/?.so" lua54 "$SPEC_TIMEOUT" $(unit_specs)
    unset KSHOT_SWEEP_LAZY
    finish
fi

# ---- e. sanitizers
if ! skipped asan; then
    begin "e. sanitizers (make asan -> $BUILD/asan, ASan + UBSan)"
    single "asan build" "$LOGS/asan-build.log" make -j2 BUILD="$BUILD" asan
    if [ "$SUB_FAIL" -eq 0 ]; then
        # allocator_may_return_null: huge requests fail like malloc, for the
        # memory-limit and overflow tests; suppressions: see spec/lsan.supp
        export ASAN_OPTIONS="allocator_may_return_null=1:detect_leaks=1:abort_on_error=0"
        export LSAN_OPTIONS="suppressions=$ROOT/spec/lsan.supp:print_suppressions=0"
        export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1"
        c_tests "$BUILD/asan/test_core" "$LOGS/asan-test_core.log"
        # every committed fuzz corpus and regression input once (< 1 s; no clang needed)
        single "fuzz replay" "$LOGS/fuzz-replay.log" make --no-print-directory BUILD="$BUILD" fuzz-replay
        KSHOT_BIN="$ROOT/$BUILD/asan/kshot"
        # shellcheck disable=SC2046
        busted_files "$ROOT/$BUILD/asan/kshot" "" asan $((SPEC_TIMEOUT * 3)) $(sanitizer_specs)
        KSHOT_BIN="$ROOT/$BUILD/kshot"
        unset ASAN_OPTIONS LSAN_OPTIONS UBSAN_OPTIONS
    fi
    finish
fi

# ---- f. valgrind
if ! skipped valgrind; then
    begin "f. valgrind (memcheck: C tests, spec/c/smoke.lua under the host)"
    # one OpenBLAS thread: its idle workers only slow memcheck down
    VG="env OPENBLAS_NUM_THREADS=1 valgrind -q --error-exitcode=1 --leak-check=full --errors-for-leak-kinds=definite"
    # shellcheck disable=SC2086 # $VG is a command line
    single "valgrind test_core" "$LOGS/valgrind-test_core.log" $VG "$BUILD/test_core"
    # shellcheck disable=SC2086
    single "valgrind smoke.lua" "$LOGS/valgrind-smoke.log" $VG "$BUILD/kshot" spec/c/smoke.lua
    finish
fi

echo "== total time $(elapsed "$T_ALL") s"
echo "$TOTAL_PASS passed, $TOTAL_FAIL failed"
[ "$TOTAL_FAIL" -eq 0 ]
