#!/usr/bin/env bash
# Prepares .gpu-bundle/ on the build machine for bench/gpu/check.sh on a GPU host that has CUDA but no Java,
# no Maven and no network: the jar with CUDA kernels (nvcc required here), the runtime jars the GPU tests
# need, the test classes, the JUnit console launcher and a jlink runtime (xz; check.sh unpacks it).
# The bundle must stay under 64 MiB (what a device run may carry). Usage: bench/gpu/prepare.sh
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"
BUNDLE="$ROOT/.gpu-bundle"
JDK="${SOMA_JLINK_JDK:-/usr/lib/jvm/temurin-25-jdk-amd64}"
JUNIT_CONSOLE="org.junit.platform:junit-platform-console-standalone:1.11.4"
LIMIT=$((64 * 1024 * 1024))
# Runtime jars the gpu tests load (the CPU backend loads dnnl, whose initialisation needs opencl; picocli and gson
# for the classes of CLI and checkpoint tests); openblas (big) is not needed by the tests.
JARS=(javacpp dnnl opencl cuda picocli gson)

command -v nvcc >/dev/null || { echo "prepare.sh: nvcc is not on PATH; the bundle needs the CUDA kernels" >&2; exit 1; }
[ -x "$JDK/bin/jlink" ] || { echo "prepare.sh: no jlink in $JDK (set SOMA_JLINK_JDK)" >&2; exit 1; }

echo "== building the jar with CUDA kernels"
mvn -q -ntp package -DskipTests -Dsoma.cuda=ON -Dsoma.cuda.archs=90-real  # sm_90 only: the H200 host; keeps the bundle small
JAR=""
for candidate in target/soma-*.jar; do
  case "$candidate" in *-tests.jar) ;; *) JAR="$candidate" ;; esac
done
[ -n "$JAR" ] || { echo "prepare.sh: no target/soma-*.jar after the build" >&2; exit 1; }
# (count, not -q: an early exit of grep would fail the pipe under pipefail)
if [ "$(unzip -p "$JAR" 'dev/soma/jni/linux-x86_64/libsoma_cuda.so' | grep -ac 'built with nvcc')" = 0 ]; then
  echo "prepare.sh: $JAR holds the CUDA stub, not the kernels" >&2
  exit 1
fi

echo "== fetching the JUnit console launcher"
M2="${MAVEN_REPO:-$HOME/.m2/repository}"
CONSOLE="$M2/org/junit/platform/junit-platform-console-standalone/1.11.4/junit-platform-console-standalone-1.11.4.jar"
if [ ! -f "$CONSOLE" ]; then
  mvn -q dependency:get -Dartifact="$JUNIT_CONSOLE"
fi

echo "== assembling $BUNDLE"
rm -rf "$BUNDLE"
mkdir -p "$BUNDLE/lib"
cp "$JAR" "$BUNDLE/lib/"
for name in "${JARS[@]}"; do
  found=0
  for jar in target/lib/"$name"-[0-9]*.jar; do
    [ -f "$jar" ] || continue
    cp "$jar" "$BUNDLE/lib/"
    found=1
  done
  [ "$found" = 1 ] || { echo "prepare.sh: no $name jars in target/lib" >&2; exit 1; }
done
# Keep only what the GPU tests load: the cuda preset's JNI for cudart, cuBLAS, cuDNN and NVRTC (not NPP, cuFFT,
# cuSOLVER, cuSPARSE, nvJPEG...), no headers, and not our emulated-device libraries.
for jar in "$BUNDLE"/lib/cuda-*-linux-x86_64.jar; do
  unzip -Z1 "$jar" | grep -E 'linux-x86_64/libjni' | grep -vE 'libjni(cudart|cublas|cudnn|nvrtc)\.so' > "$BUNDLE/strip.txt" || true
  unzip -Z1 "$jar" | grep -E '/include/' >> "$BUNDLE/strip.txt" || true
  [ -s "$BUNDLE/strip.txt" ] && zip -q -d "$jar" $(cat "$BUNDLE/strip.txt")
done
for jar in "$BUNDLE"/lib/dnnl-*-linux-x86_64.jar; do
  zip -q -d "$jar" 'org/bytedeco/dnnl/linux-x86_64/include/*' >/dev/null || true
done
zip -q -d "$BUNDLE/lib/$(basename "$JAR")" 'dev/soma/jni/linux-x86_64/libsoma_cuda_emu*.so' >/dev/null || true
rm -f "$BUNDLE/strip.txt"
# oneDNN's native jar is most of the bundle: stored (no deflate) then xz-compressed it is 10 MB smaller, which
# leaves room for MNIST. check.sh unpacks *.jar.xz before the run.
for jar in "$BUNDLE"/lib/dnnl-*-linux-x86_64.jar; do
  XTMP=$(mktemp -d)
  (cd "$XTMP" && unzip -q "$jar" && rm "$jar" && zip -q -0 -r "$jar" .)
  rm -rf "$XTMP"
  xz -6 -T2 "$jar"
done
# MNIST (gzipped) when data/mnist has it: check.sh then trains the CNN on it on cuda:0 (`bin/soma fetch mnist`).
if [ -f data/mnist/train-images-idx3-ubyte ]; then
  mkdir -p "$BUNDLE/mnist"
  for f in data/mnist/*-ubyte; do gzip -9 -c "$f" > "$BUNDLE/mnist/$(basename "$f").gz"; done
else
  echo "prepare.sh: no data/mnist (bin/soma fetch mnist): the GPU check will not train on MNIST" >&2
fi
cp -r target/test-classes "$BUNDLE/test-classes"
cp "$CONSOLE" "$BUNDLE/junit-console.jar"

# java.base + jdk.unsupported run Soma and JavaCPP; the JUnit console launcher needs java.logging (its XML
# reports would need java.xml too: 4 MB more, so check.sh keeps the text log instead); java.desktop draws the
# training run's curves.png (8 MB more); java.management and jdk.management give the step benches their process CPU time; jdk.jfr lets a run record where the host's time goes.
echo "== jlink runtime"
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
# Uncompressed modules in an xz tarball: 21 MB, where jlink's own zip-9 in a gzip tarball was 30 MB.
"$JDK/bin/jlink" --add-modules java.base,jdk.unsupported,java.logging,java.management,jdk.management,jdk.jfr,java.desktop --strip-debug --no-header-files --no-man-pages \
  --output "$TMP/runtime"
tar -cf - -C "$TMP" runtime | xz -6 -T2 > "$BUNDLE/runtime.tar.xz"
"$TMP/runtime/bin/java" -version 2>&1 | head -n 1

SIZE=$(du -sb "$BUNDLE" | cut -f1)
awk -v s="$SIZE" -v b="$BUNDLE" 'BEGIN { printf "== %s: %.1f MiB (limit 64 MiB)\n", b, s / 1048576 }'
du -sh "$BUNDLE"/* | sort -h
if [ "$SIZE" -ge "$LIMIT" ]; then
  echo "prepare.sh: the bundle is over 64 MiB" >&2
  exit 1
fi
