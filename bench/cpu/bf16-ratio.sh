#!/usr/bin/env bash
# bf16 mixed precision against Soma's own f32 step (issue 16's goal: the cnn step <= 0.6x f32 on a CPU with bf16).
# Each round is one process that times an identical model in both precisions, alternating blocks of 10 steps
# (`bench train-step --precision bf16 --against-f32`), so that a noisy host slows both alike; separate processes a
# minute apart differed by 20-30 % on the shared hosts. Prints each round's lines and the median of the ratios.
#
#   bench/cpu/bf16-ratio.sh                             # cnn, 5 rounds, 300 steps each after 50 warm-up (then settling)
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
  # (a CPU without bf16 prints one line saying so, and --against-f32 then refuses: the script stops there)
  if ! out=$("$ROOT/bin/soma" bench train-step --model "$MODEL" --batch "$BATCH" --steps "$STEPS" \
               --warmup "$WARMUP" --precision bf16 --against-f32); then
    echo "round $round: bench train-step failed:"; echo "$out"; exit 1
  fi
  grep -E '^(precision=|bf16_over_f32=)' <<< "$out" | sed "s/^/round $round: /"
  ratio=$(sed -n 's/^bf16_over_f32=\([0-9.]*\).*/\1/p' <<< "$out")
  ratios+=("$ratio")
done
printf '%s\n' "${ratios[@]}" | sort -n | awk '{ r[NR] = $1 } END {
  m = NR % 2 ? r[(NR + 1) / 2] : (r[NR / 2] + r[NR / 2 + 1]) / 2
  printf "bf16/f32 median ratio over %d rounds: %.3f (min %.3f, max %.3f; goal <= 0.6)\n", NR, m, r[1], r[NR] }'
