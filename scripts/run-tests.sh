#!/bin/sh
# Runs Check suites one after another (every suite, even after a failure) and ends with one
# summary line, "LABEL: N passed, M failed", counting checks over all suites.
# usage: run-tests.sh LABEL SUITE...
label=$1
shift
passed=0
failed=0
log=$(mktemp)
for t in "$@"; do
    echo "== $t"
    { "$t" 2>&1; echo "$?" >"$log.rc"; } | tee "$log"
    rc=$(cat "$log.rc")
    # Check ends with "NN%: Checks: C, Failures: F, Errors: E"
    line=$(grep -E '^[0-9]+%: Checks: [0-9]+' "$log" | tail -n 1)
    c=0 f=0 e=0
    if [ -n "$line" ]; then
        c=$(echo "$line" | sed -E 's/.*Checks: ([0-9]+).*/\1/')
        f=$(echo "$line" | sed -E 's/.*Failures: ([0-9]+).*/\1/')
        e=$(echo "$line" | sed -E 's/.*Errors: ([0-9]+).*/\1/')
    fi
    # a suite that died or exited non-zero with no failed check still counts as one failure
    if [ "$rc" -ne 0 ] && [ $((f + e)) -eq 0 ]; then
        echo "$label: $t exited with status $rc"
        e=1
    fi
    passed=$((passed + c - f - e))
    [ "$passed" -lt 0 ] && passed=0
    failed=$((failed + f + e))
done
rm -f "$log" "$log.rc"
echo "$label: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
