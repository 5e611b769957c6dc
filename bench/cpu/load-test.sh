#!/usr/bin/env bash
# Issue 16's load goal: how much each side's training step slows down beside busy-looping processes. For each
# model and round it times Soma (its defaults, and with the opt-in adaptive thread count) and PyTorch's tuned row of
# ../shared/peers on a quiet host, then the same runs beside LOAD busy loops, so that the host's drift over the
# hour hits both sides of each ratio alike. Prints each run's line and a table of medians and of loaded / quiet per
# side; the goal is Soma's loaded / quiet <= PyTorch's.
#
#   bench/cpu/load-test.sh                           # cnn lstm attn gan, 1 round, 300 steps, two busy loops
#   MODELS="gan" ROUNDS=3 ADAPTIVE=0 bench/cpu/load-test.sh   # ADAPTIVE=0: Soma's defaults only
#
# Soma's runs are settled (bench train-step's default: untimed steps until the JIT compilers are done), loaded ones
# too, so that both sides are timed in their steady state; under load settling takes longer (at most 150 s).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck source=pair-results.sh
source "$ROOT/bench/cpu/pair-results.sh"
MODELS=${MODELS:-"cnn lstm attn gan"}
ROUNDS=${ROUNDS:-1}
STEPS=${STEPS:-300}
WARMUP=${WARMUP:-50}
LOAD=${LOAD:-2}
ADAPTIVE=${ADAPTIVE:-1}
PEERS=${PEERS:-/tmp/soma-peers}
THREADS=${THREADS:-$(nproc)}

PT_CP=$(pytorch_peer_classpath "$PEERS")
"$ROOT/bin/soma" info > /dev/null   # builds the jar once, outside the timed runs

trap stop_busy_loops EXIT

# soma_step JAVA_OPTIONS MODEL: one settled `bench train-step` run; prints its last line (median_ms=.. p99_ms=..)
# after how long it took to settle (under load the JIT's compilers share the cores too).
soma_step() {
  local out
  out=$(SOMA_JAVA_OPTS=$1 OMP_NUM_THREADS=$THREADS "$ROOT/bin/soma" bench train-step --model "$2" --batch 32 \
          --steps "$STEPS" --warmup "$WARMUP" --settle)
  echo "$(grep -m1 '^settle_steps=' <<< "$out") $(tail -1 <<< "$out")"
}

echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) logical CPUs, $THREADS threads," \
     "load: $LOAD busy loops"
sides=("soma" "pytorch")
[[ $ADAPTIVE == 1 ]] && sides=("soma" "soma-adaptive" "pytorch")
results=$(mktemp)
for ((round = 1; round <= ROUNDS; round++)); do
  for m in $MODELS; do
    row="$m $round"
    for phase in quiet loaded; do
      [[ $phase == loaded ]] && start_busy_loops "$LOAD"
      for side in "${sides[@]}"; do
        case $side in
          soma) line=$(soma_step "" "$m") ;;
          soma-adaptive) line=$(soma_step "-Dsoma.cpu.adaptiveThreads=true" "$m") ;;
          pytorch) line=$(pytorch_peer_step "$PT_CP" "$m" "$THREADS" "$STEPS" "$WARMUP") ;;
        esac
        echo "round $round $m $phase $side: ${line#RESULT }"
        row="$row $(median_of "$line")"
      done
      [[ $phase == loaded ]] && stop_busy_loops
    done
    echo "$row" >> "$results"
  done
done

# Columns of each row: model round, then the quiet medians of every side, then the loaded ones.
echo
header="| model | round |"; rule="|---|---|"
for side in "${sides[@]}"; do header="$header $side quiet ms | loaded ms | loaded / quiet |"; rule="$rule---|---|---|"; done
echo "$header Soma within PyTorch's slow-down |"
echo "$rule---|"
awk -v n=${#sides[@]} '{
  printf "| %s | %s |", $1, $2
  for (i = 0; i < n; i++) { q = $(3 + i); l = $(3 + n + i); printf " %.2f | %.2f | %.2f |", q, l, l / q }
  soma = $(3 + n) / $3; pytorch = $(3 + 2 * n - 1) / $(3 + n - 1)
  printf " %s |\n", soma <= pytorch ? "yes" : "no"
}' "$results"
rm -f "$results"
