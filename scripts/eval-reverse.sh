#!/usr/bin/env bash
# Word reversal, trained and tested the way a user would: write the task's training text (training
# words only), train with `bytelm train`, then score the checkpoint on held-out words it never saw
# (and on training words, for comparison). CPU-sized by default.
#
#   scripts/eval-reverse.sh [WORDS] [OUT_DIR]
#
# WORDS defaults to /usr/share/dict/words (Debian's wamerican, which scripts/install-deps.sh
# installs), else tests/data/words.txt; OUT_DIR to
# runs/reverse. Environment: BYTELM (binary, default bin/bytelm), CONFIG (default
# configs/tiny.json), STEPS (default 3000), THREADS (default: all cores), TASK (default reverse).
set -euo pipefail
BYTELM=${BYTELM:-bin/bytelm}
WORDS=${1:-/usr/share/dict/words}
[ -n "${1:-}" ] || [ -r "$WORDS" ] || WORDS=tests/data/words.txt
OUT=${2:-runs/reverse}
CONFIG=${CONFIG:-configs/tiny.json}
STEPS=${STEPS:-3000}
TASK=${TASK:-reverse}
THREADS=${THREADS:+--threads $THREADS}
mkdir -p "$OUT"
"$BYTELM" eval tasks --words "$WORDS" --task "$TASK" --write-train "$OUT/train.txt" --examples 200000
# shellcheck disable=SC2086
"$BYTELM" train --config "$CONFIG" --data "$OUT/train.txt" --out "$OUT/run" --steps "$STEPS" \
    -B 16 -L 128 --lr 3e-3 --warmup 100 --weight-decay 0 --eval-every 0 --ckpt-every 0 --force $THREADS
for words in --held-out --seen; do
    # shellcheck disable=SC2086
    "$BYTELM" eval tasks --ckpt "$OUT/run" --words "$WORDS" --task "$TASK" $words --n 500 \
        --show 5 --json $THREADS
done
