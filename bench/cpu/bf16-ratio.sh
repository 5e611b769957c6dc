#!/usr/bin/env bash
# bf16 mixed precision against Soma's own f32 step (issue 16's goal: the cnn step <= 0.6x f32 on a CPU with bf16),
# in the same run: `bench train-step` in f32 and in bf16, alternating per round so that a noisy host hurts both
# alike. Prints each run's last line, each round's ratio and the median of the ratios.
#
#   bench/cpu/bf16-ratio.sh                             # cnn, 5 rounds, 300 steps after 50 warm-up (then settling)
#   MODEL=mlp ROUNDS=7 STEPS=300 WARMUP=50 BATCH=32 bench/cpu/bf16-ratio.sh
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
MODEL=${MODEL:-cnn}
ROUNDS=${ROUNDS:-5}
STEPS=${STEPS:-300}
WARMUP=${WARMUP:-50}
BATCH=${BATCH:-32}

"$ROOT/bin/soma" info > /dev/null   # builds the jar once, outside the timed runs
echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) logical CPUs, model $MODEL, batch $BATCH"
ratios=()
for ((round = 1; round <= ROUNDS; round++)); do
  declare -A median=()
  for precision in f32 bf16; do
    line=$("$ROOT/bin/soma" bench train-step --model "$MODEL" --batch "$BATCH" --steps "$STEPS" --warmup "$WARMUP" \
             --precision "$precision" | tail -1)
    echo "round $round $precision: $line"
    median[$precision]=$(sed -n 's/.*median_ms=\([0-9.]*\).*/\1/p' <<< "$line")
  done
  ratio=$(awk -v b="${median[bf16]}" -v f="${median[f32]}" 'BEGIN { printf "%.3f", b / f }')
  echo "round $round ratio bf16/f32: $ratio"
  ratios+=("$ratio")
done
printf '%s\n' "${ratios[@]}" | sort -n | awk '{ r[NR] = $1 } END {
  m = NR % 2 ? r[(NR + 1) / 2] : (r[NR / 2] + r[NR / 2 + 1]) / 2
  printf "bf16/f32 median ratio over %d rounds: %.3f (min %.3f, max %.3f; goal <= 0.6)\n", NR, m, r[1], r[NR] }'
