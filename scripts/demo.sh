#!/bin/sh
# make demo: prepare the committed sample, train the tiny config for about two minutes, report
# validation bits per byte, and generate a sample. Uses the GPU when bytelm was built with CUDA
# and one is present.
set -e
BYTELM=${BYTELM:-bin/bytelm}
RUN=${RUN:-runs/demo}
SECONDS_BUDGET=${DEMO_SECONDS:-150}

device=cpu
# a CUDA build lists the kernels benchmark; nvidia-smi says whether a GPU is there to use
if "$BYTELM" bench --help 2>/dev/null | grep -q kernels && nvidia-smi -L >/dev/null 2>&1; then
    device=cuda
fi

echo "== preparing data/sample.txt"
"$BYTELM" prepare data/sample.txt -o "$RUN/corpus" --val-fraction 0.05

# about two minutes on two CPU cores; the time budget only guards a slow machine
steps=1200
[ "$device" = cuda ] && steps=3000
echo "== training configs/tiny.json on $device: $steps steps (at most ${SECONDS_BUDGET}s)"
rm -rf "$RUN/tiny"
"$BYTELM" train --config configs/tiny.json --data "$RUN/corpus" --out "$RUN/tiny" \
    --device "$device" -B 16 -L 256 --lr 3e-3 --warmup 50 --steps "$steps" \
    --eval-every 100 --eval-batches 8 --ckpt-every 250 --time-budget "$SECONDS_BUDGET"

echo "== validation: the whole val split read once, front to back, with the state carried"
echo "   (training's val above is a mean over random 256-byte windows read from a fresh state)"
"$BYTELM" eval bpb --ckpt "$RUN/tiny" "$RUN/corpus" --device "$device"

echo "== sample"
# strict: the sample never holds a byte that breaks UTF-8 (no U+FFFD); the text goes to stdout
# exactly as generated, and the timing line (stderr) follows on its own line
if ! "$BYTELM" generate --ckpt "$RUN/tiny" --prompt "And God said, " -n 300 --temperature 0.8 \
    --top-k 40 --seed 1 --utf8 strict --device "$device" 2>"$RUN/generate.log"; then
    cat "$RUN/generate.log" >&2
    exit 1
fi
echo
cat "$RUN/generate.log"
echo "== done: loss curve in $RUN/tiny/loss.svg, metrics in $RUN/tiny/metrics.jsonl"
