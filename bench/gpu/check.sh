#!/usr/bin/env bash
# Runs every `gpu`-tagged test (and the element-wise bandwidth check) on a GPU host without Java, Maven or
# network, from the bundle bench/gpu/prepare.sh made: once with the vendor libraries on (cuBLAS, cuDNN where they
# load), then the families that have a vendor path again with -Dsoma.cuda.vendor=false (our kernels), printing
# which path each family took in both runs. Full logs go to the folder given as $1 (or $OUT);
# a short table is printed last. Exit status: the JUnit launcher's (0 = all passed).
# Usage: bench/gpu/check.sh [output-folder]
set -uo pipefail
. "$(dirname "$0")/setup.sh" "${1:-}"
# One JUnit console run: time limit, log file, then extra launcher arguments (after any -D options for the JVM).
junit() {
  local limit=$1 log=$2 jvm=()
  shift 2
  while [ $# -gt 0 ] && [ "${1#-D}" != "$1" ]; do jvm+=("$1"); shift; done
  # On timeout: SIGQUIT first (the JVM prints every thread's stack to the log: which test hung, where), then kill.
  timeout -s QUIT -k 15 "$limit" "$JAVA" --enable-native-access=ALL-UNNAMED -Xss8m "${jvm[@]}" \
    -Dorg.bytedeco.javacpp.cachedir="$WORK/javacpp-cache" -Dsoma.data="$DATA" \
    -jar "$BUNDLE/junit-console.jar" execute \
    --class-path "$BUNDLE/test-classes:$CLASSPATH_JARS" \
    --include-tag gpu \
    --details tree --disable-banner "$@" > "$log" 2>&1
}
START=$(date +%s)
# Every gpu test with the vendor libraries on (the default: cuBLAS / cuDNN where they load and take the shape)...
junit "${SOMA_GPU_LIMIT:-380}" "$LOGS/junit.log" --scan-class-path "$BUNDLE/test-classes"
STATUS=$?
# ...then the families that have a vendor path again with -Dsoma.cuda.vendor=false: our kernels on the device.
junit 60 "$LOGS/junit-vendor-off.log" -Dsoma.cuda.vendor=false \
  --select-class dev.soma.cuda.CudaVendorPathTest --select-class dev.soma.cuda.CudaLinalgTest \
  --select-class dev.soma.cuda.CudaConvTest --select-class dev.soma.cuda.CudnnRnnTest \
  --select-class dev.soma.cuda.CudaRecurrentTest
STATUS_OFF=$?
# The step bench again with every kernel call timed (KernelProfiler): where each family's step goes.
junit 120 "$LOGS/junit-profile.log" -Dsoma.profile=true --select-class dev.soma.cli.CudaStepBenchTest
# cuDNN's other modes (the default: NCHW around cuDNN calls, measured deterministic algorithms): NHWC with the
# heuristic's choice, NHWC measured, and non-deterministic algorithms allowed; their CPU comparisons and steps, in
# one log (the folder may send back only 8 files). SOMA_GPU_MODES="" skips them.
rm -f "$LOGS/junit-cudnn-modes.log"  # (made by the first mode; none when SOMA_GPU_MODES="": $OUT takes 8 files)
for mode in ${SOMA_GPU_MODES-nhwc-heuristic nhwc-measured nondet}; do
  opts=()
  case "$mode" in nhwc*) opts+=(-Dsoma.cuda.cudnn.nchw=false) ;; esac
  case "$mode" in *heuristic) opts+=(-Dsoma.cuda.cudnn.measure=false) ;; esac
  case "$mode" in nondet) opts+=(-Dsoma.cuda.cudnn.deterministic=false) ;; esac
  junit 120 "$WORK/modes.log" "${opts[@]}" \
    --select-method dev.soma.cuda.CudaConvTest#forwardMatchesTheCpu \
    --select-method dev.soma.cuda.CudaConvTest#backwardDataMatchesTheCpu \
    --select-method dev.soma.cuda.CudaConvTest#convolutionAndPoolingOpsTrainOnTheGpuAsOnTheCpu \
    --select-class dev.soma.cli.CudaStepBenchTest
  echo "exit $?" >> "$WORK/modes.log"
  sed "s/^/[$mode] /" "$WORK/modes.log" >> "$LOGS/junit-cudnn-modes.log"
done
# A real training run on cuda:0: the reference CNN on all of MNIST (2 epochs), its curves PNG copied to the logs.
TRAIN_STATUS=skipped
if [ -f "$DATA/mnist/train-images-idx3-ubyte" ]; then
  timeout -s QUIT -k 15 "${SOMA_GPU_TRAIN_LIMIT:-150}" "$JAVA" --enable-native-access=ALL-UNNAMED "$JIT_OPTS" -Djava.awt.headless=true \
    -Dorg.bytedeco.javacpp.cachedir="$WORK/javacpp-cache" -Dsoma.data="$DATA" -cp "$CLASSPATH_JARS" \
    dev.soma.cli.SomaCli train cnn --dataset mnist --device cuda:0 --epochs "${SOMA_GPU_TRAIN_EPOCHS:-2}" \
    --out "$WORK/train-cnn" > "$LOGS/train-cnn.log" 2>&1
  TRAIN_STATUS=$?
  [ -f "$WORK/train-cnn/curves.png" ] && cp "$WORK/train-cnn/curves.png" "$LOGS/train-cnn-curves.png"
fi
# Each family's steady training step in a JVM of its own, as a user's training process runs it (the JUnit JVM
# above ran every gpu test first, and its step bench read up to 1.5x slower): the STEP lines tables.sh compares
# with PyTorch. The same counts as pytorch_steps.py.
: > "$LOGS/steps.log"
for family in cnn lstm attn gan dcgan; do
  line=$(train_step_line "$family")
  ms=$(echo "$line" | sed -n 's/^median_ms=\([0-9.]*\).*/\1/p')
  if [ -n "$ms" ]; then echo "STEP $family $ms ms  ($line)" >> "$LOGS/steps.log"
  else echo "STEP-FAILED $family: $line" >> "$LOGS/steps.log"
  fi
done
SECONDS_TAKEN=$(( $(date +%s) - START ))

count() { grep -Eo "[0-9]+ tests $1" "${2:-$LOGS/junit.log}" | head -n 1 | cut -d' ' -f1; }
# Which path each family took ("PATH family: description" from CudaVendorPathTest), and how many distinct
# (family, shape) "CUDA path:" log lines named each library.
paths() {
  local label=$1 log=$2
  grep -E '^PATH ' "$log" | sort -u | sed "s/^PATH /path $label  /" || true
  grep -E 'CUDA path: ' "$log" | awk -F' => ' '{ split($2, w, " "); print w[1] }' | sort | uniq -c \
    | awk -v l="$label" '{ printf "path %s  %s distinct shapes on %s\n", l, $1, $2 }' || true
}
echo
echo "== Soma GPU check ($SECONDS_TAKEN s, logs in $LOGS)"
grep -E '^DEVICE ' "$LOGS/junit.log" | sed 's/^DEVICE /device   /' || true
printf '%-10s %s\n' "found" "$(count found)" "succeeded" "$(count successful)" "failed" "$(count failed)" \
  "skipped" "$(count skipped)" "aborted" "$(count aborted)"
grep -E '^BENCH ' "$LOGS/junit.log" | sed 's/^BENCH /bench    /' || true
grep -E '^NCCL on ' "$LOGS/junit.log" | head -n 1 | sed 's/^/nccl     /' || true
paths "(vendor on) " "$LOGS/junit.log"
printf '%-10s %s\n' "vendor-off" "found $(count found "$LOGS/junit-vendor-off.log"), succeeded $(count successful "$LOGS/junit-vendor-off.log"), failed $(count failed "$LOGS/junit-vendor-off.log"), exit $STATUS_OFF"
paths "(vendor off)" "$LOGS/junit-vendor-off.log"
echo "== profile: the 6 largest kernel families per step (all in junit-profile.log)"
awk '$1 == "PROFILE" { if ($2 != f) { f = $2; n = 0 } if (n++ < 8) print }' "$LOGS/junit-profile.log" || true
echo "== cuDNN's timings of the step convolutions' algorithms: $(grep -c '^ALGO ' "$LOGS/junit-profile.log") lines in junit-profile.log"
echo "== cuDNN modes (the CPU comparisons of CudaConvTest and the step bench under each)"
grep -E '^\[[a-z+-]+\] (STEP |exit |\[ +[0-9]+ tests (successful|failed))' "$LOGS/junit-cudnn-modes.log" 2>/dev/null | sed 's/^/mode     /' || true
echo "train    cnn on MNIST, cuda:0 (exit $TRAIN_STATUS):"
grep -hE '^(training on|Epoch |test_accuracy=)' "$LOGS/train-cnn.log" 2>/dev/null | sed 's/^/train    /' || true
grep -hE '✘' "$LOGS/junit.log" "$LOGS/junit-vendor-off.log" | head -n 20 | sed 's/^/failed   /' || true
# Tests that assume the emulated device abort on a real one by design; any other assumption is a problem here.
ABORTED=$(( $(count aborted || true) + 0 - $(grep -cE 'Assumption failed: .*(emulated|SOMA_CUDA_EMULATE)' "$LOGS/junit.log" || true) ))
if [ "$STATUS" = 0 ] && [ "$TRAIN_STATUS" != 0 ] && [ "$TRAIN_STATUS" != skipped ]; then STATUS=4; fi
if [ "$STATUS" = 0 ] && [ "$STATUS_OFF" != 0 ]; then STATUS=$STATUS_OFF; fi
if [ "$STATUS" = 0 ] && [ "${ABORTED:-0}" != 0 ]; then
  echo "note     $ABORTED tests were skipped by an assumption other than 'emulated only' (no usable CUDA device? no MNIST?): see $LOGS/junit.log"
  STATUS=3
fi
bash "$ROOT/bench/gpu/tables.sh" "$LOGS/junit.log" "$LOGS"
echo "exit     $STATUS"
exit "$STATUS"
