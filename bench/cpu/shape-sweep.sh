#!/usr/bin/env bash
# Soma against PyTorch at shapes other than the four reference ones: each variant's training step timed by Soma's
# `bench train-step --shape` and by its PyTorch twin (bench/pytorch, ShapeBench: the same model and sizes, PyTorch
# tuned as ../shared/peers' tuned row), alternating per variant and round so that a noisy host hurts both alike.
# Prints one line per run and a table of medians and ratios (Soma / PyTorch; issue 16's goal is <= 0.5 everywhere).
#
#   bench/cpu/shape-sweep.sh                                  # the default variants below, 1 round
#   VARIANTS="cnn:kernel=5 lstm:hidden=256@64" ROUNDS=2 bench/cpu/shape-sweep.sh
#
# A variant is model[:key=value,...][@batch]; the keys are `bin/soma bench train-step --help`'s --shape keys.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck source=pair-results.sh
source "$ROOT/bench/cpu/pair-results.sh"
VARIANTS=${VARIANTS:-"cnn:kernel=5 cnn:filters1=16,filters2=32,dense=256 cnn:image=32,channels=3 cnn@64 \
lstm:hidden=256 lstm:length=50,embed=128 lstm:cell=gru lstm@8 \
attn:heads=4 attn:length=200,dim=128,heads=8 attn@128 \
gan:hidden=512 gan:latent=64,hidden=128 gan@128"}
ROUNDS=${ROUNDS:-1}
STEPS=${STEPS:-200}
WARMUP=${WARMUP:-50}
BATCH=${BATCH:-32}
THREADS=${THREADS:-$(nproc)}
SETTLE=${SETTLE:-1}

twins=$ROOT/bench/pytorch
if [[ ! -f $twins/target/cp.txt || $twins/src -nt $twins/target/cp.txt ]]; then
  (cd "$twins" && mvn -B -q package dependency:build-classpath -Dmdep.outputFile=target/cp.txt -DskipTests)
fi
PT_CP="$twins/target/soma-pytorch-twins-0.1.jar:$(cat "$twins/target/cp.txt")"
"$ROOT/bin/soma" info > /dev/null   # builds the jar once, outside the timed runs

echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) logical CPUs, $THREADS threads"
results=$(mktemp)
for ((round = 1; round <= ROUNDS; round++)); do
  for v in $VARIANTS; do
    batch=$BATCH; spec=$v
    [[ $spec == *@* ]] && { batch=${spec##*@}; spec=${spec%@*}; }
    model=${spec%%:*}; shape=""
    [[ $spec == *:* ]] && shape=${spec#*:}
    s=$(OMP_NUM_THREADS=$THREADS "$ROOT/bin/soma" bench train-step --model "$model" --batch "$batch" \
          ${shape:+--shape "$shape"} --steps "$STEPS" --warmup "$WARMUP" \
          $([ "$SETTLE" = 1 ] && echo --settle || echo --no-settle) | tail -1)
    p=$(OMP_NUM_THREADS=$THREADS OMP_WAIT_POLICY=PASSIVE OPENBLAS_NUM_THREADS=1 java -Xms1g -Xmx6g -cp "$PT_CP" \
          soma.bench.ShapeBench --model "$model" --batch "$batch" ${shape:+--shape "$shape"} --threads "$THREADS" \
          --steps "$STEPS" --warmup "$WARMUP" | grep '^RESULT' | tail -1)
    pair_record "$v" "$round" "$s" "$p" "$results"
  done
done
pair_table "variant (model:shape@batch)" "$results"
rm -f "$results"
