#!/bin/sh
# GPU check, run on a machine with a CUDA GPU from the repository root, after
#   make BUILD=build-gpu BIN=build-gpu/bytelm build-gpu/bytelm $(ls tests/gpu/test_*.c |
#        sed 's|^tests/gpu/\(.*\)\.c$|build-gpu/tests/gpu/\1|')
# (built there, or built elsewhere and copied along with .devdeps/). Runs every GPU test suite,
# compute-sanitizer memcheck and racecheck on the kernel tests (their smaller shapes, in one
# process so the tool sees every launch), and `bytelm bench kernels`; full logs go to $OUT
# (default gpu-check-out/), a short table is printed last. Exit status 1 if anything failed.
#
#   BUILD=dir           build directory (default build-gpu)
#   STEPS="tests memcheck racecheck bench"   which steps to run; also "profile" (Nsight Compute
#                       sections and stall reasons of the first d_state-16 scan forward and backward
#                       launches) and "sass" (those kernels' machine code)
#   BENCH_ARGS="..."    extra arguments for bench kernels (e.g. --precision bf16, --quick)
#   LIMIT=seconds       time limit of each step (default 300)
#   "benchtrain" times training steps (bf16 and fp32); "converge" trains small 300 steps in each
#   precision on the prepared corpus CORPUS=dir and scores its val split
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
        for kt in test_ops_gpu test_scan_gpu test_bf16_gpu test_step_gpu; do
            [ -x "$BUILD/tests/gpu/$kt" ] || continue
            # the kernel cases only (test_bf16_gpu also has whole-model cases)
            BYTELM_GPU_TEST_QUICK=1 CK_FORK=no CK_RUN_CASE=$([ $kt = test_bf16_gpu ] && echo ops) \
                timeout "$LIMIT" "$SAN" --tool "$step" --error-exitcode 99 \
                "$BUILD/tests/gpu/$kt" > "$LOG/$step-$kt.log" 2>&1
            rc=$?
            # racecheck does not follow the asynchronous barriers (TMA, mbarrier) of cuBLASLt's own
            # Hopper kernels (nvjet_*) and reports hazards inside them; a hazard counts only when
            # it is in one of ours (excluding those kernels from the tool broke its run instead)
            if [ "$step" = racecheck ] && [ $rc -eq 99 ] && grep -q 'Failures: 0, Errors: 0' "$LOG/$step-$kt.log" &&
                ! grep 'Race reported' "$LOG/$step-$kt.log" | grep -qv nvjet &&
                ! grep -q 'Internal Sanitizer Error\|illegal' "$LOG/$step-$kt.log"; then
                echo "only cuBLASLt (nvjet) kernels reported: $(grep -c 'Race reported' "$LOG/$step-$kt.log") of them" >> "$LOG/$step-$kt.log"
                rc=0
            fi
            [ $rc -eq 0 ] || fail=1
            line "$step ($kt)" "$(verdict $rc); $(grep 'ERROR SUMMARY\|RACECHECK SUMMARY\|only cuBLASLt' "$LOG/$step-$kt.log" | tail -2 | sed 's/^=* *//' | tr '\n' ' ')"
        done
        ;;
    bench)
        # shellcheck disable=SC2086
        timeout "$LIMIT" "$BUILD/bytelm" bench kernels $BENCH_ARGS > "$LOG/bench.txt" 2>&1
        rc=$?
        [ $rc -eq 0 ] || fail=1
        line "bench kernels" "$(verdict $rc)"
        ;;
    benchtrain)
        # training throughput: bf16 at the three shapes of the benchmark table, fp32 for reference
        # BT_SPECS: "config B L precision recompute" entries separated by commas
        specs=${BT_SPECS:-"small 16 2048 bf16 auto,small 16 2048 fp32 auto,mambabyte-353m 2 8192 bf16 auto,mambabyte-353m 8 8192 bf16 auto"}
        echo "$specs" | tr ',' '\n' | while read -r spec; do
            # shellcheck disable=SC2086
            set -- $spec
            timeout "$LIMIT" "$BUILD/bytelm" bench train --device cuda --config "configs/$1.json" \
                -B "$2" -L "$3" --precision "$4" --recompute "$5" --steps 5 --json > "$LOG/bt.json" 2>"$LOG/bt.err"
            rc=$?
            [ $rc -eq 0 ] || echo 1 > "$LOG/bt.failed"
            cat "$LOG/bt.json" >> "$LOG/bench_train.jsonl"
            line "bench train $1 $2x$3 $4 $5" "$(verdict $rc); $(sed 's/.*"bytes_per_s":\([0-9.]*\).*"mfu":\([0-9.]*\).*"peak_mem_bytes":\([0-9]*\).*"recompute":\([a-z]*\).*/\1 bytes\/s, MFU \2, peak \3 B, recompute \4/' "$LOG/bt.json") $(tail -1 "$LOG/bt.err" | head -c 200)"
        done
        [ -f "$LOG/bt.failed" ] && fail=1
        ;;
    budget)
        # small in bf16 for SECS seconds (default 120) on $CORPUS, 16 x 2048, the cosine sized to
        # end with the budget (STEPS_BUDGET, default 2600), then bits per byte of the val split
        rm -rf "$LOG/budget"
        timeout "$LIMIT" "$BUILD/bytelm" train --device cuda --config configs/small.json --data "$CORPUS" \
            --out "$LOG/budget" -B 16 -L 2048 --lr 2e-3 --warmup 100 --steps "${STEPS_BUDGET:-2600}" \
            --time-budget "${SECS:-120}" --eval-every 500 --eval-batches 16 --ckpt-every 100000 --json \
            > "$LOG/budget.json" 2>"$LOG/budget.log"
        rc=$?
        timeout "$LIMIT" "$BUILD/bytelm" eval bpb --device cuda --ckpt "$LOG/budget" "$CORPUS" --json \
            > "$LOG/budget-eval.json" 2>>"$LOG/budget.log" || rc=$?
        [ $rc -eq 0 ] || fail=1
        line "budget small bf16" "$(verdict $rc); $(cat "$LOG/budget.json" | head -c 300) eval $(grep -o '"bits_per_byte":[0-9.]*' "$LOG/budget-eval.json" | tail -1)"
        ;;
    converge)
        # small on $CORPUS, 300 steps in each precision, then bits per byte of the val split
        for p in bf16 fp32; do
            rm -rf "$LOG/conv-$p"
            timeout "$LIMIT" "$BUILD/bytelm" train --device cuda --precision $p --config configs/small.json \
                --data "$CORPUS" --out "$LOG/conv-$p" -B 16 -L 2048 --lr 2e-3 --warmup 100 --steps 300 \
                --eval-every 300 --eval-batches 16 --ckpt-every 300 --json > "$LOG/conv-$p.json" 2>"$LOG/conv-$p.log"
            rc=$?
            timeout "$LIMIT" "$BUILD/bytelm" eval bpb --device cuda --precision $p --ckpt "$LOG/conv-$p" \
                "$CORPUS" --json > "$LOG/conv-$p-eval.json" 2>>"$LOG/conv-$p.log" || rc=$?
            [ $rc -eq 0 ] || fail=1
            line "converge $p" "$(verdict $rc); $(grep -o '"val_bpb":[0-9.]*' "$LOG/conv-$p.json" | tail -1) $(grep -o '"bytes_per_s":[0-9.]*' "$LOG/conv-$p.json" | tail -1) eval $(grep -o '"bits_per_byte":[0-9.]*' "$LOG/conv-$p-eval.json" | tail -1)"
        done
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
        "$CUOBJDUMP" -sass "$BUILD/bytelm" | awk '/Function : /{p = ($0 ~ /scan_(fwd|bwd)_kernelIfLi16ELi2E/)} p' \
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
