#!/usr/bin/env bash
# Selective copying (Mamba paper, §4.1) on the CPU: trains the tiny config on the task through
# `bytelm eval memory --train` and scores it on fresh random sequences (exact match of all the
# data letters, greedy decoding). The instance is smaller than the paper's (4096 positions, 16
# tokens) so that it trains in minutes on one core: 32 positions, 4 data letters of 8.
#
#   scripts/eval-selective-copy.sh [OUT_DIR] [extra bytelm eval memory options]
#
# BYTELM names the binary (default bin/bytelm). The model is saved to OUT_DIR/checkpoint
# (default runs/selective-copy); the final line of stdout is the JSON result.
set -euo pipefail
BYTELM=${BYTELM:-bin/bytelm}
OUT=${1:-runs/selective-copy}
shift || true
"$BYTELM" eval memory --task selective-copy --length 32 --tokens 4 --vocab 8 \
    --train --config configs/tiny.json --steps 8000 -B 32 --lr 3e-3 --warmup 100 \
    --eval-every 1000 --n 1000 --show 5 --out "$OUT" --json "$@"
