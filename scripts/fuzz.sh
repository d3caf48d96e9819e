#!/bin/sh
# Builds the libFuzzer targets of tests/fuzz/ with clang (-fsanitize=fuzzer,address,undefined),
# compiling the library sources each target needs directly (not the gcc-built archive, which has
# no coverage instrumentation), runs each for FUZZ_SECONDS seconds starting from the committed
# seeds in tests/fuzz/seeds/TARGET/ (and past crash inputs in tests/fuzz/regressions/TARGET/),
# and prints a table of executions and crashes per target.
#
#   FUZZ_SECONDS   seconds per target (default 60)
#   FUZZ_TARGETS   which targets (default: all of safetensors config shard utf8)
#   FUZZ_BUILD     build and work directory (default build/fuzz)
#   FUZZ_JOBS      libFuzzer processes per target (default 1); with more than one, libFuzzer's
#                  fork mode keeps going after a crash and collects every crash it meets
#   CLANG          the compiler (default clang-14, else clang)
#
# The grown corpus stays in FUZZ_BUILD/corpus/TARGET (reused by the next run); crash inputs land
# in FUZZ_BUILD/artifacts/TARGET/ ("crashes" counts them: in fork mode one bug can leave many).
# FUZZ_BUILD/fuzz_TARGET CRASH_FILE reruns one input with the full report. Copy a crash input into
# tests/fuzz/regressions/TARGET/ and `make test` replays it (tests/test_fuzz_regressions.c); each
# target's libFuzzer run also starts with those inputs, so it stops at once while the bug lives.
# Exit status: 1 if any target crashed.
set -eu
cd "$(dirname "$0")/.."

FUZZ_SECONDS=${FUZZ_SECONDS:-60}
FUZZ_TARGETS=${FUZZ_TARGETS:-"safetensors config shard utf8"}
FUZZ_BUILD=${FUZZ_BUILD:-build/fuzz}
FUZZ_JOBS=${FUZZ_JOBS:-1}
CLANG=${CLANG:-$(command -v clang-14 || command -v clang || echo clang)}

# The library sources each target links, besides its tests/fuzz/fuzz_TARGET.c.
sources() {
    case $1 in
    safetensors) echo byte_lm/format/safetensors.c byte_lm/format/safetensors_access.c \
        byte_lm/format/safetensors_dtype.c byte_lm/base/file_read.c byte_lm/base/error.c ;;
    config) echo byte_lm/format/config.c byte_lm/base/atomic_dir.c byte_lm/base/file_read.c byte_lm/base/error.c ;;
    shard) echo corpus/seekable_reader.c corpus/shard_set.c corpus/manifest.c corpus/seqreader.c \
        corpus/source.c byte_lm/base/file_read.c byte_lm/base/error.c ;;
    utf8) echo corpus/utf8_filter.c byte_lm/base/error.c ;;
    *) echo "fuzz.sh: unknown target '$1'" >&2; exit 2 ;;
    esac
}

CFLAGS="-std=c11 -D_GNU_SOURCE -O1 -g -Wall -Wextra -Wno-unused-parameter -I. -Itests/fuzz \
  -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer \
  $(pkg-config --cflags libcjson libzstd libutf8proc)"
LIBS="$(pkg-config --libs libcjson libzstd libutf8proc) -lm -lpthread"

mkdir -p "$FUZZ_BUILD"
for t in $FUZZ_TARGETS; do
    echo "fuzz.sh: building $FUZZ_BUILD/fuzz_$t"
    # shellcheck disable=SC2046,SC2086
    "$CLANG" $CFLAGS "tests/fuzz/fuzz_$t.c" $(sources "$t") $LIBS -o "$FUZZ_BUILD/fuzz_$t"
done

status=0
table="$FUZZ_BUILD/results.txt"
printf '%-12s %12s %10s %8s  %s\n' target executions exec/s crashes 'crash inputs' >"$table"
for t in $FUZZ_TARGETS; do
    corpus="$FUZZ_BUILD/corpus/$t" art="$FUZZ_BUILD/artifacts/$t" log="$FUZZ_BUILD/fuzz_$t.log"
    mkdir -p "$corpus" "$art"
    dirs="$corpus tests/fuzz/seeds/$t"
    [ -d "tests/fuzz/regressions/$t" ] && dirs="$dirs tests/fuzz/regressions/$t"
    before=$(find "$art" -type f \( -name 'crash-*' -o -name 'leak-*' -o -name 'timeout-*' -o -name 'oom-*' \) | wc -l)
    echo "fuzz.sh: running fuzz_$t for ${FUZZ_SECONDS}s (log: $log)"
    fork=""
    [ "$FUZZ_JOBS" -gt 1 ] && fork="-fork=$FUZZ_JOBS -ignore_crashes=1 -ignore_timeouts=1 -ignore_ooms=1"
    # shellcheck disable=SC2086
    if "$FUZZ_BUILD/fuzz_$t" -max_total_time="$FUZZ_SECONDS" -print_final_stats=1 -timeout=20 \
        -rss_limit_mb=4096 -artifact_prefix="$art/" $fork $dirs >"$log" 2>&1; then rc=0; else rc=$?; fi
    after=$(find "$art" -type f \( -name 'crash-*' -o -name 'leak-*' -o -name 'timeout-*' -o -name 'oom-*' \) | wc -l)
    crashes=$((after - before))
    [ $rc -ne 0 ] && [ $crashes -eq 0 ] && crashes=1 # died without writing an input
    # executions: the final stats line, or in fork mode the last progress line
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
    [ -n "$execs" ] || execs=$(sed -n 's/^#\([0-9][0-9]*\).*/\1/p' "$log" | tail -n 1)
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)
    [ -n "$rate" ] || rate=$(( ${execs:-0} / FUZZ_SECONDS ))
    # shellcheck disable=SC2012 # artifact names are hex digests
    newest=$(ls -t "$art" 2>/dev/null | head -n 3 | tr '\n' ' ')
    printf '%-12s %12s %10s %8s  %s\n' "$t" "${execs:-?}" "$rate" "$crashes" \
        "$([ $crashes -gt 0 ] && echo "$art/: $newest")" >>"$table"
    if [ $crashes -gt 0 ]; then
        status=1
        grep -m 3 -E 'ERROR: |fuzz: .*failed|runtime error' "$log" >&2 || true
    fi
done
echo
cat "$table"
exit $status
