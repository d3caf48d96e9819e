#!/usr/bin/env bash
# CUTE, trained and tested the way a user would: training text for its tasks from words,
# sentences and WordNet's related words CUTE does not contain (`bytelm eval cute
# --write-train`), `bytelm train` on it, then `bytelm eval cute` on CUTE's own 14 files,
# which prints the table with the published LLM figures beside ours. CPU-sized by default
# (tiny, a few minutes); on a GPU:
#
#   DEVICE=cuda CONFIG=configs/small.json scripts/eval-cute.sh ../shared/cute
#
#   scripts/eval-cute.sh [CUTE_DIR] [OUT_DIR]
#
# CUTE_DIR defaults to ../shared/cute; OUT_DIR to runs/cute. Environment: BYTELM (default
# bin/bytelm); DEVICE (cpu); CONFIG (configs/tiny.json); SHOTS (prompts with 4 solved examples,
# the benchmark's, or 0: default 0 on the CPU, where the examples would take most of the few
# bytes it can train on, 4 elsewhere); STEPS, B, L, LR and EXAMPLES (on the CPU 4000, 8, 256,
# 8e-3 and 200000; elsewhere 18800, 16, 2048, 2e-3 and 2200000); TIME_BUDGET (seconds: training
# stops there if STEPS are not done; default none on the CPU, 560 elsewhere, so that small's
# training stays within 10 minutes);
# WORDS (/usr/share/dict/words, Debian's wamerican, which scripts/install-deps.sh installs;
# else tests/data/words.txt); SENTENCES (a text to take sentences from: default the
# benchmark corpus's text, corpus-data/text, when scripts/get-corpus.sh has made it, else
# data/sample.txt); MEANINGS (WordNet's data files, for sem: default /usr/share/wordnet, which
# scripts/install-deps.sh installs; without them sem stays untrained); FOUR_SHOT_SHARE (the
# share of training examples in 4-shot prompts, the rest 0-shot: default 0.25 on a GPU, else
# 1 with SHOTS=4 and 0 with SHOTS=0); WEIGHTS (tasks' weights in the training text,
# TASK=W,...: on a GPU the word-level tasks' and a few others' raised, as README measured,
# else 1 each);
# ANSWERS (a file for every scored row's answer); TASK (tasks written and scored, default
# all); LIMIT (rows scored per task, default all 1000); THREADS; ONLY (train: stop
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
    SHOTS=${SHOTS:-4} STEPS=${STEPS:-18800} B=${B:-16} L=${L:-2048} LR=${LR:-2e-3} EXAMPLES=${EXAMPLES:-2200000}
    TIME_BUDGET=${TIME_BUDGET-560} FOUR_SHOT_SHARE=${FOUR_SHOT_SHARE:-0.25}
    WEIGHTS=${WEIGHTS-ins_word=2.5,del_word=3,sub_word=2.5,swap_word=3.5,contains_word=2,orth=1.5,sem=1.3,spell_inverse=3}
fi
WORDS=${WORDS:-/usr/share/dict/words}
MEANINGS=${MEANINGS:-/usr/share/wordnet}
[ -r "$MEANINGS/data.noun" ] || MEANINGS=
FOUR_SHOT_SHARE=${FOUR_SHOT_SHARE:-$([ "$SHOTS" = 4 ] && echo 1 || echo 0)}
ANSWERS=${ANSWERS:+--answers $ANSWERS}
WEIGHTS=${WEIGHTS:+--weights $WEIGHTS}
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
    ${MEANINGS:+--meanings "$MEANINGS"} --four-shot-share "$FOUR_SHOT_SHARE" $WEIGHTS \
    --data "$CUTE" --examples "$EXAMPLES" --task "$TASK"
# shellcheck disable=SC2086
"$BYTELM" train --device "$DEVICE" --config "$CONFIG" --data "$OUT/train.txt" --out "$OUT/run" \
    --steps "$STEPS" ${TIME_BUDGET:+--time-budget $TIME_BUDGET} -B "$B" -L "$L" --lr "$LR" \
    --warmup 100 --weight-decay 0 --eval-every 0 --ckpt-every 0 --force $THREADS
fi
[ "$ONLY" = train ] && exit 0
# shellcheck disable=SC2086
"$BYTELM" eval cute --device "$DEVICE" --ckpt "$OUT/run" --data "$CUTE" --shots "$SHOTS" --task "$TASK" \
    $LIMIT $THREADS $ANSWERS -q | tee "$OUT/cute.txt"
