#!/usr/bin/env bash
# The two tables bench/gpu/check.sh prints last: the kernel table (KERNEL lines of CudaKernelTableBenchTest: each
# kernel's throughput as a fraction of the copy bandwidth or cuBLAS measured in the same run) and each family's
# training step next to PyTorch eager on the same host (STEP lines of CudaStepBenchTest, TORCH lines of
# pytorch_steps.py, run here). Usage: bench/gpu/tables.sh JUNIT_LOG OUTPUT_FOLDER
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
JUNIT_LOG="$1"
LOGS="$2"

echo
echo "== kernels (fraction: of the device-to-device copy for GB/s rows, of cuBLAS for TFLOP/s rows)"
if grep -q '^KERNEL ' "$JUNIT_LOG"; then
  printf '%-28s %9s %-7s %6s  %s\n' kernel value unit frac goal
  grep '^KERNEL ' "$JUNIT_LOG" | cut -c8-
else
  echo "(no KERNEL lines: CudaKernelTableBenchTest did not run on a real GPU)"
fi

echo
# Soma's steps from steps.log (check.sh: each family in a JVM of its own) when there, else the JUnit log's.
STEPS_LOG="$LOGS/steps.log"
[ -s "$STEPS_LOG" ] || STEPS_LOG="$JUNIT_LOG"
echo "== training step, batch 32, median of 300 after 500 warm-up, ms (goal: Soma <= 0.7x PyTorch eager); Soma from $(basename "$STEPS_LOG")"
grep '^STEP-FAILED' "$STEPS_LOG" || true
TORCH_LOG="$LOGS/pytorch_steps.log"
if command -v python3 >/dev/null; then
  timeout 100 python3 "$HERE/pytorch_steps.py" > "$TORCH_LOG" 2>&1 || echo "(pytorch_steps.py failed: see $TORCH_LOG)"
else
  echo "(no python3: no PyTorch reference)" > "$TORCH_LOG"
fi
grep '^# ' "$TORCH_LOG" | head -n 1
printf '%-7s %10s %10s %7s %s\n' family soma_ms torch_ms ratio goal
for family in cnn lstm attn gan dcgan; do
  soma=$(awk -v f="$family" '$1 == "STEP" && $2 == f { print $3 }' "$STEPS_LOG" | head -n 1)
  torch=$(awk -v f="$family" '$1 == "TORCH" && $2 == f { print $3 }' "$TORCH_LOG" | head -n 1)
  awk -v f="$family" -v s="${soma:-}" -v t="${torch:-}" 'BEGIN {
    if (s == "" || t == "") { printf "%-7s %10s %10s %7s %s\n", f, (s == "" ? "-" : s), (t == "" ? "-" : t), "-", "no ratio"; exit }
    r = s / t
    printf "%-7s %10.3f %10.3f %6.2fx %s\n", f, s, t, r, (r <= 0.7 ? "met" : "not met")
  }'
done
