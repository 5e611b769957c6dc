# Sourced by the scripts of bench/gpu on the GPU host (`. "$(dirname "$0")/setup.sh" [output-folder]`): sets ROOT,
# BUNDLE and LOGS (LOGS if already set, else the folder given, else $OUT), checks that bench/gpu/prepare.sh made the
# bundle, unpacks its runtime and jars into a temporary WORK folder (removed on exit), finds cuBLAS / cuDNN / the CUDA
# runtime, writes environment.log to LOGS, and sets JAVA, JIT_OPTS (bin/soma's JIT options, as a java @-file),
# CLASSPATH_JARS, DATA and LD_LIBRARY_PATH.
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BUNDLE="$ROOT/.gpu-bundle"
LOGS="${LOGS:-${1:-${OUT:-$ROOT/gpu-logs}}}"
mkdir -p "$LOGS"
LOGS=$(cd "$LOGS" && pwd)
[ -f "$BUNDLE/runtime.tar.xz" ] || { echo "$(basename "$0"): no $BUNDLE/runtime.tar.xz; run bench/gpu/prepare.sh first" >&2; exit 2; }
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
if command -v xz >/dev/null; then xz -dc "$BUNDLE/runtime.tar.xz" | tar -xf - -C "$WORK"
else python3 -c 'import lzma, shutil, sys; shutil.copyfileobj(lzma.open(sys.argv[1]), sys.stdout.buffer)' "$BUNDLE/runtime.tar.xz" | tar -xf - -C "$WORK"
fi
JAVA="$WORK/runtime/bin/java"
# The JIT options bin/soma launches with (Soma's methods compiled early), for every JVM these scripts start.
JIT_OPTS="@$ROOT/bin/jit.options"

# cuBLAS, cuDNN and NCCL live inside the Python packages (nvidia-cublas, nvidia-cudnn-cu13, nvidia-nccl-cu13); the
# CUDA runtime in the toolkit. Collect every folder that holds one of them.
lib_dirs=()
add_dir() {
  local d
  for d in "$@"; do
    [ -d "$d" ] || continue
    case " ${lib_dirs[*]} " in *" $d "*) ;; *) lib_dirs+=("$d") ;; esac
  done
}
if command -v python3 >/dev/null; then
  while IFS= read -r d; do add_dir "$d"; done < <(python3 - <<'PY' 2>/dev/null
import importlib, os
for name in ("nvidia.cublas", "nvidia.cudnn", "nvidia.cuda_runtime", "nvidia.cuda_nvrtc", "nvidia.nvjitlink", "nvidia.nccl"):
    try:
        m = importlib.import_module(name)
    except Exception:
        continue
    for root in list(getattr(m, "__path__", [])):
        lib = os.path.join(root, "lib")
        if os.path.isdir(lib):
            print(lib)
PY
  )
fi
has_lib() {
  local d
  for d in "${lib_dirs[@]}"; do [ -e "$d/$1" ] && return 0; done
  return 1
}
for lib in libcublas.so.13 libcublasLt.so.13 libcudnn.so.9 libnccl.so.2; do
  if ! has_lib "$lib"; then
    found=$(find /usr /opt /root /home -name "$lib*" -print -quit 2>/dev/null)
    [ -n "$found" ] && add_dir "$(dirname "$found")"
  fi
done
add_dir /usr/local/cuda/lib64 /usr/local/cuda/targets/x86_64-linux/lib
LD_DIRS=$(IFS=:; echo "${lib_dirs[*]}")
export LD_LIBRARY_PATH="${LD_DIRS}${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"

{
  echo "host: $(uname -a)"
  echo "LD_LIBRARY_PATH=$LD_LIBRARY_PATH"
  "$JAVA" -version 2>&1
  if command -v nvidia-smi >/dev/null; then nvidia-smi; else echo "nvidia-smi: not found"; fi
  echo "fonts (curves.png draws text): $(fc-list 2>/dev/null | wc -l) from fc-list"
} > "$LOGS/environment.log" 2>&1

# xz-compressed jars (prepare.sh: oneDNN's natives) are unpacked next to the runtime.
mkdir -p "$WORK/lib"
for packed in "$BUNDLE"/lib/*.jar.xz; do
  [ -f "$packed" ] || continue
  target="$WORK/lib/$(basename "$packed" .xz)"
  if command -v xz >/dev/null; then xz -dc "$packed" > "$target"
  else python3 -c 'import lzma, shutil, sys; shutil.copyfileobj(lzma.open(sys.argv[1]), open(sys.argv[2], "wb"))' "$packed" "$target"
  fi
done
CLASSPATH_JARS=""
for jar in "$BUNDLE"/lib/*.jar "$WORK"/lib/*.jar; do
  [ -f "$jar" ] && CLASSPATH_JARS="${CLASSPATH_JARS:+$CLASSPATH_JARS:}$jar"
done
# MNIST from the bundle, when prepare.sh found it: the CLI test and the training run below use it.
DATA="$WORK/data"
if [ -d "$BUNDLE/mnist" ]; then
  mkdir -p "$DATA/mnist"
  for gz in "$BUNDLE"/mnist/*.gz; do gzip -dc "$gz" > "$DATA/mnist/$(basename "$gz" .gz)"; done
fi
# One family's training-step bench on cuda:0 in a JVM of its own, steady steps (500 warm-up, 300 timed, as
# pytorch_steps.py), JVM options after the family; prints the bench's last line (median_ms=... or the error).
train_step_line() {
  local family=$1
  shift
  timeout 120 "$JAVA" --enable-native-access=ALL-UNNAMED "$JIT_OPTS" "$@" -Dorg.bytedeco.javacpp.cachedir="$WORK/javacpp-cache" \
    -cp "$CLASSPATH_JARS" dev.soma.cli.SomaCli bench train-step --model "$family" --device cuda:0 --steps 300 \
    --warmup 500 --no-settle 2>&1 | tail -n 1  # as measured on the H200 (settling is the CPU default)
}
