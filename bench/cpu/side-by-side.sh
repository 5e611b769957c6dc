#!/usr/bin/env bash
# Soma's `bench train-step` and PyTorch's step (../shared/peers, the tuned row) side by side, in the same run,
# alternating per model and round so that a noisy host hurts both alike. Prints one line per run and a table of
# medians and ratios (Soma / PyTorch; the goal is <= 0.5).
#
#   bench/cpu/side-by-side.sh                        # cnn lstm attn gan, 2 rounds, 300 steps after 50 warm-up
#   MODELS="cnn gan" ROUNDS=3 STEPS=300 WARMUP=50 bench/cpu/side-by-side.sh   # batch 32: the peer's only one
#   PEERS=/tmp/peers bench/cpu/side-by-side.sh      # a writable copy of ../shared/peers (built on first use)
#   LOAD=2 bench/cpu/side-by-side.sh                 # the same with two busy-looping processes beside both
#   SETTLE=0 bench/cpu/side-by-side.sh               # Soma timed right after WARMUP (--no-settle); by default it first
#                                                    # warms up until the JIT compilers are done (bench train-step's default)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck source=pair-results.sh
source "$ROOT/bench/cpu/pair-results.sh"
MODELS=${MODELS:-"cnn lstm attn gan"}
ROUNDS=${ROUNDS:-2}
STEPS=${STEPS:-300}
WARMUP=${WARMUP:-50}
BATCH=${BATCH:-32}
LOAD=${LOAD:-0}
SETTLE=${SETTLE:-1}
PEERS=${PEERS:-/tmp/soma-peers}
THREADS=${THREADS:-$(nproc)}

if [[ $BATCH != 32 ]]; then
  echo "side-by-side.sh: BATCH=$BATCH, but the PyTorch peer runs batch 32 only; for other batches use" \
       "VARIANTS=\"cnn@$BATCH ...\" bench/cpu/shape-sweep.sh, whose PyTorch twins take any batch" >&2
  exit 2
fi
PT_CP=$(pytorch_peer_classpath "$PEERS")
"$ROOT/bin/soma" info > /dev/null   # builds the jar once, outside the timed runs

trap stop_busy_loops EXIT
start_busy_loops "$LOAD"

echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) logical CPUs, load beside: $LOAD busy loops"
results=$(mktemp)
for ((round = 1; round <= ROUNDS; round++)); do
  for m in $MODELS; do
    s=$(OMP_NUM_THREADS=$THREADS "$ROOT/bin/soma" bench train-step --model "$m" --batch "$BATCH" \
          --steps "$STEPS" --warmup "$WARMUP" $([ "$SETTLE" = 1 ] && echo --settle || echo --no-settle) | tail -1)
    p=$(pytorch_peer_step "$PT_CP" "$m" "$THREADS" "$STEPS" "$WARMUP")
    pair_record "$m" "$round" "$s" "$p" "$results"
  done
done
pair_table "model" "$results"
rm -f "$results"
