#!/bin/bash
# One call's worth of GPU work for a machine with a GPU and a prebuilt bytelm: the model-level GPU
# tests, training benchmarks, a timed training run of `small` on the benchmark corpus with
# validation, evaluation and a sample, and the transformers interop check. A table comes last.
#
#   scripts/gpu-session.sh BINDIR CORPUS OUTDIR [TRAIN_SECONDS]
# BINDIR holds bytelm and tests/gpu binaries; CORPUS is a prepared corpus directory.
set -u
BIN=$1
CORPUS=$2
OUT=$3
SECS=${4:-180}
mkdir -p "$OUT"
[ -f scripts/device-env.sh ] && . scripts/device-env.sh
B="$BIN/bytelm"
summary=""
add() { summary="$summary$1\n"; }

nvidia-smi -L | tee "$OUT/gpu.txt"

echo "== model GPU tests"
BYTELM=$B "$BIN/test_model_gpu" 2>&1 | tee "$OUT/test_model_gpu.log"
add "test_model_gpu: $(grep -E 'Checks' "$OUT/test_model_gpu.log" | tail -1)"

echo "== bench train"
for spec in "configs/small.json 16 2048" "configs/mambabyte-353m.json 2 8192"; do
    set -- $spec
    "$B" bench train --device cuda --config "$1" -B "$2" -L "$3" --steps 5 --json \
        2>&1 | tee -a "$OUT/bench_train.jsonl"
done

echo "== train small for ${SECS}s on $CORPUS"
rm -rf "$OUT/small"
"$B" train --device cuda --config configs/small.json --data "$CORPUS" --out "$OUT/small" \
    -B 16 -L 2048 --lr 2e-3 --warmup 100 --steps 3000 --eval-every 200 --eval-batches 16 \
    --ckpt-every 1000 --time-budget "$SECS" --json 2>"$OUT/train_small.log" | tee "$OUT/train_small.json"
tail -3 "$OUT/train_small.log"

echo "== eval"
"$B" eval bpb --ckpt "$OUT/small" "$CORPUS" --device cuda --json | tee "$OUT/eval_small.json"
"$B" generate --ckpt "$OUT/small" --prompt "And God said, " -n 400 --temperature 0.8 --top-k 40 \
    --seed 1 --device cuda > "$OUT/sample_small.txt" 2>"$OUT/generate.log"
cat "$OUT/sample_small.txt"; echo

echo "== interop: the bytelm-trained checkpoint in transformers"
"$B" info "$OUT/small" --dump-logits "$OUT/small_logits.safetensors" >/dev/null
PYTHONUNBUFFERED=1 python3 tests/ref/make_fixtures.py --check-bytelm "$OUT/small/checkpoint" \
    --logits "$OUT/small_logits.safetensors" 2>&1 | tail -2 | tee "$OUT/interop.log"

echo
echo "==================== summary"
printf "%b" "$summary"
echo "bench train:"; cat "$OUT/bench_train.jsonl" | grep '^{' || true
echo "train: $(cat "$OUT/train_small.json")"
echo "eval: $(grep '^{' "$OUT/eval_small.json" | tail -1)"
echo "interop: $(tail -1 "$OUT/interop.log")"
