#!/usr/bin/env bash
# Where each family's training step spends GPU time, for Soma and PyTorch eager on the same host: Nsight Compute
# (ncu, hardware timer only: gpu__time_duration) records every kernel of a few steps run inside a CUDA profiler
# range (Soma: -Dsoma.cuda.profilerSteps, PyTorch: SOMA_PROFILER_STEPS), and ncu_summary.py prints the GPU time
# per step, kernels per step and the largest kernels. GPU time per step well under the step's wall time means the
# step is bound by host work (launches, Java), not by kernels.
# Usage (GPU host, after bench/gpu/prepare.sh): bench/gpu/ncu-steps.sh [output-folder] ; SOMA_NCU_FAMILIES="cnn lstm"
set -uo pipefail
NCU=$(command -v ncu || ls /opt/nvidia/nsight-compute/*/ncu /usr/local/cuda/bin/ncu 2>/dev/null | head -n 1)
[ -n "$NCU" ] || { echo "ncu-steps.sh: no ncu on this host" >&2; exit 2; }
. "$(dirname "$0")/setup.sh" "${1:-}"
STEPS="${SOMA_NCU_STEPS:-5}"
# --clock-control none: the clocks as they run; --cache-control none: no L2 flush between kernels (steps run warm).
NCU_ARGS=(--clock-control none --cache-control none --profile-from-start off --target-processes all
  --metrics gpu__time_duration.sum --csv --page raw)
status=0
for family in ${SOMA_NCU_FAMILIES:-cnn lstm attn gan}; do
  timeout 120 "$NCU" "${NCU_ARGS[@]}" --log-file "$LOGS/ncu-soma-$family.csv" \
    "$JAVA" --enable-native-access=ALL-UNNAMED "$JIT_OPTS" -Dsoma.cuda.profilerSteps="$STEPS" \
    -Dorg.bytedeco.javacpp.cachedir="$WORK/javacpp-cache" -cp "$CLASSPATH_JARS" \
    dev.soma.cli.SomaCli bench train-step --model "$family" --device cuda:0 --steps 30 --warmup 20 \
    > "$LOGS/ncu-soma-$family.out" 2>&1 || { echo "soma $family under ncu failed: see ncu-soma-$family.out"; status=1; }
  SOMA_TORCH_FAMILIES="$family" SOMA_PROFILER_STEPS="$STEPS" timeout 120 "$NCU" "${NCU_ARGS[@]}" \
    --log-file "$LOGS/ncu-torch-$family.csv" python3 "$ROOT/bench/gpu/pytorch_steps.py" \
    > "$LOGS/ncu-torch-$family.out" 2>&1 || { echo "torch $family under ncu failed: see ncu-torch-$family.out"; status=1; }
  python3 "$ROOT/bench/gpu/ncu_summary.py" "$family" "$STEPS" "$LOGS/ncu-soma-$family.csv" "$LOGS/ncu-torch-$family.csv"
done
exit $status
