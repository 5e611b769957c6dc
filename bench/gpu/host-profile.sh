#!/usr/bin/env bash
# Where the host's time goes in a family's training step on cuda:0: the step bench under Java Flight Recorder
# (settings=profile: Java and native method samples), one recording per family, for `jfr view hot-methods` or
# `jfr print` on any machine with a JDK. A step whose GPU time (bench/gpu/ncu-steps.sh) is well under its wall
# time is bound by this host work.
# Usage (GPU host, after bench/gpu/prepare.sh): bench/gpu/host-profile.sh [output-folder] ; SOMA_JFR_FAMILIES="cnn"
set -uo pipefail
. "$(dirname "$0")/setup.sh" "${1:-}"
status=0
for family in ${SOMA_JFR_FAMILIES:-cnn}; do
  timeout 120 "$JAVA" --enable-native-access=ALL-UNNAMED "$JIT_OPTS" \
    -XX:StartFlightRecording=filename="$LOGS/host-$family.jfr",settings=profile \
    -Dorg.bytedeco.javacpp.cachedir="$WORK/javacpp-cache" -cp "$CLASSPATH_JARS" \
    dev.soma.cli.SomaCli bench train-step --model "$family" --device cuda:0 --steps "${SOMA_JFR_STEPS:-3000}" --warmup 200 \
    > "$LOGS/host-$family.out" 2>&1 || { echo "host-profile: $family failed: see host-$family.out"; status=1; }
  echo "HOST $family $(tail -n 1 "$LOGS/host-$family.out")"
done
exit $status
