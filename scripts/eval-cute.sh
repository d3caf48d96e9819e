#!/usr/bin/env bash
# CUTE, trained and tested the way a user would: training text for its tasks from words and
# sentences CUTE does not contain (`bytelm eval cute --write-train`), `bytelm train` on it, then
# `bytelm eval cute` on CUTE's own 14 files, which prints the table with the published LLM
# figures beside ours. CPU-sized by default (tiny, a few minutes); on a GPU:
#
#   DEVICE=cuda CONFIG=configs/small.json scripts/eval-cute.sh ../shared/cute
#
#   scripts/eval-cute.sh [CUTE_DIR] [OUT_DIR]
#
# CUTE_DIR defaults to ../shared/cute; OUT_DIR to runs/cute. Environment: BYTELM (default
# bin/bytelm); DEVICE (cpu); CONFIG (configs/tiny.json); SHOTS (prompts with 4 solved examples,
# the benchmark's, or 0: default 0 on the CPU, where the examples would take most of the few
# bytes it can train on, 4 elsewhere); STEPS, B, L, LR and EXAMPLES (on the CPU 4000, 8, 256,
# 8e-3 and 200000; elsewhere 13000, 16, 2048, 2e-3 and 400000); TIME_BUDGET (seconds: training
# stops there if STEPS are not done; default none);
# WORDS (/usr/share/dict/words, Debian's wamerican, which scripts/install-deps.sh installs;
# else tests/data/words.txt); SENTENCES (a text to take sentences from: default the
# benchmark corpus's text, corpus-data/text, when scripts/get-corpus.sh has made it, else
# data/sample.txt); TASK (tasks written and scored, default all); LIMIT (rows scored per
# task, default all 1000); THREADS; ONLY (train: stop
# after training; eval: score the run OUT_DIR already holds).
set -euo pipefail
BYTELM=${BYTELM:-bin/bytelm}
CUTE=${1:-../shared/cute}
OUT=${2:-runs/cute}
DEVICE=${DEVICE:-cpu}
CONFIG=${CONFIG:-configs/tiny.json}
# defaults measured for each: tiny on 2 CPU cores, small on one H200 (README, CUTE)
if [ "$DEVICE" = cpu ]; then
    SHOTS=${SHOTS:-0} STEPS=${STEPS:-4000} B=${B:-8} L=${L:-256} LR=${LR:-8e-3} EXAMPLES=${EXAMPLES:-200000}
else
    SHOTS=${SHOTS:-4} STEPS=${STEPS:-13000} B=${B:-16} L=${L:-2048} LR=${LR:-2e-3} EXAMPLES=${EXAMPLES:-400000}
fi
WORDS=${WORDS:-/usr/share/dict/words}
[ -r "$WORDS" ] || WORDS=tests/data/words.txt
THREADS=${THREADS:+--threads $THREADS}
LIMIT=${LIMIT:+--limit $LIMIT}
TASK=${TASK:-all}
ONLY=${ONLY:-}
mkdir -p "$OUT"
if [ "$ONLY" != eval ]; then
if [ -z "${SENTENCES:-}" ]; then
    if [ -d corpus-data/text ]; then
        SENTENCES=$OUT/sentences.txt
        find corpus-data/text -name '*.txt' | sort | xargs cat > "$SENTENCES"
    else
        SENTENCES=data/sample.txt
    fi
fi
"$BYTELM" eval cute --write-train "$OUT/train.txt" --words "$WORDS" --sentences "$SENTENCES" \
    --data "$CUTE" --shots "$SHOTS" --examples "$EXAMPLES" --task "$TASK"
# shellcheck disable=SC2086
"$BYTELM" train --device "$DEVICE" --config "$CONFIG" --data "$OUT/train.txt" --out "$OUT/run" \
    --steps "$STEPS" ${TIME_BUDGET:+--time-budget $TIME_BUDGET} -B "$B" -L "$L" --lr "$LR" \
    --warmup 100 --weight-decay 0 --eval-every 0 --ckpt-every 0 --force $THREADS
fi
[ "$ONLY" = train ] && exit 0
# shellcheck disable=SC2086
"$BYTELM" eval cute --device "$DEVICE" --ckpt "$OUT/run" --data "$CUTE" --shots "$SHOTS" --task "$TASK" \
    $LIMIT $THREADS -q | tee "$OUT/cute.txt"
