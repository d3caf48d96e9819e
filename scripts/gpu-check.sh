#!/bin/sh
# GPU check, run on a machine with a CUDA GPU from the repository root, after
#   make BUILD=build-gpu BIN=build-gpu/bytelm build-gpu/bytelm build-gpu/tests/gpu/test_ops_gpu \
#        build-gpu/tests/gpu/test_scan_gpu
# (built there, or built elsewhere and copied along with .devdeps/). Runs every GPU test suite,
# compute-sanitizer memcheck and racecheck on the kernel tests (their smaller shapes, in one
# process so the tool sees every launch), and `bytelm bench kernels`; full logs go to $OUT
# (default gpu-check-out/), a short table is printed last. Exit status 1 if anything failed.
#
#   BUILD=dir           build directory (default build-gpu)
#   STEPS="tests memcheck racecheck bench"   which steps to run; also "profile" (Nsight Compute
#                       sections and stall reasons of the first d_state-16 scan forward and backward
#                       launches) and "sass" (those kernels' machine code)
#   BENCH_ARGS="..."    extra arguments for bench kernels (e.g. --variants, --quick)
#   LIMIT=seconds       time limit of each step (default 300)
set -u
BUILD=${BUILD:-build-gpu}
LOG=${OUT:-gpu-check-out}
STEPS=${STEPS:-tests memcheck racecheck bench}
LIMIT=${LIMIT:-300}
BENCH_ARGS=${BENCH_ARGS:-}
mkdir -p "$LOG"
if [ -d .devdeps ] && [ -f scripts/device-env.sh ]; then . scripts/device-env.sh; fi
SAN=$(command -v compute-sanitizer 2>/dev/null || ls /usr/local/cuda/bin/compute-sanitizer 2>/dev/null)
SUMMARY="$LOG/summary.txt"
: > "$SUMMARY"
fail=0

line() { printf '%-30s %s\n' "$1" "$2" | tee -a "$SUMMARY" > /dev/null; }
verdict() { # rc -> text
    case "$1" in
    0) echo ok ;;
    124 | 137) echo "TIMED OUT (${LIMIT}s)" ;;
    *) echo "FAILED (exit $1)" ;;
    esac
}

gpu=$(nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm,clocks.mem,power.draw,temperature.gpu \
    --format=csv,noheader 2>&1 | tail -1)
line "gpu" "$gpu"

for step in $STEPS; do
    case "$step" in
    tests)
        for t in "$BUILD"/tests/gpu/test_*; do
            [ -x "$t" ] || continue
            n=$(basename "$t")
            CK_DEFAULT_TIMEOUT=$LIMIT BYTELM="$BUILD/bytelm" timeout "$LIMIT" "$t" > "$LOG/$n.log" 2>&1
            rc=$?
            [ $rc -eq 0 ] || fail=1
            worst=$(awk '/ rel /{v=$NF+0; if (v>m) m=v} END{printf "%.1e", m}' "$LOG/$n.log")
            line "$n" "$(verdict $rc); $(grep -c ' rel ' "$LOG/$n.log") comparisons, worst rel $worst"
        done
        ;;
    memcheck | racecheck)
        if [ -z "$SAN" ]; then
            line "$step" "compute-sanitizer not found"
            fail=1
            continue
        fi
        for kt in test_ops_gpu test_scan_gpu; do
            BYTELM_GPU_TEST_QUICK=1 CK_FORK=no timeout "$LIMIT" "$SAN" --tool "$step" --error-exitcode 99 \
                "$BUILD/tests/gpu/$kt" > "$LOG/$step-$kt.log" 2>&1
            rc=$?
            [ $rc -eq 0 ] || fail=1
            line "$step ($kt)" "$(verdict $rc); $(grep 'ERROR SUMMARY' "$LOG/$step-$kt.log" | tail -1 | sed 's/^=* *//')"
        done
        ;;
    bench)
        # shellcheck disable=SC2086
        timeout "$LIMIT" "$BUILD/bytelm" bench kernels $BENCH_ARGS > "$LOG/bench.txt" 2>&1
        rc=$?
        [ $rc -eq 0 ] || fail=1
        line "bench kernels" "$(verdict $rc)"
        ;;
    profile)
        NCU=$(command -v ncu 2>/dev/null || ls /usr/local/cuda/bin/ncu 2>/dev/null)
        timeout "$LIMIT" "$NCU" --clock-control none -k 'regex:scan_(fwd|bwd)_kernel' -c 2 \
            --section SpeedOfLight --section Occupancy --section LaunchStats \
            --section InstructionStats --section WarpStateStats \
            --metrics 'regex:smsp__average_warps_issue_stalled_.*_per_issue_active\.ratio' \
            "$BUILD/bytelm" bench kernels --only scan --reps 1 > "$LOG/profile.txt" 2>&1
        line "profile (ncu)" "$(verdict $?)"
        ;;
    sass)
        CUOBJDUMP=$(command -v cuobjdump 2>/dev/null || ls /usr/local/cuda/bin/cuobjdump 2>/dev/null)
        "$CUOBJDUMP" -sass "$BUILD/bytelm" | awk '/Function : /{p = ($0 ~ /scan_(fwd|bwd)_kernelIfLi16ELi16E/)} p' \
            > "$LOG/sass.txt" 2>&1
        line "sass" "$(verdict $?); $(grep -c 'Function :' "$LOG/sass.txt") kernels"
        ;;
    *)
        echo "gpu-check: unknown step '$step'" >&2
        exit 2
        ;;
    esac
done

echo
[ -f "$LOG/bench.txt" ] && cat "$LOG/bench.txt"
echo
cat "$SUMMARY"
exit $fail
