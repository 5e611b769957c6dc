#!/usr/bin/env bash
# Data-parallel scaling on this machine, steady state: the CNN on MNIST at batch 32 per rank, 1 OpenMP thread per
# rank, 1 rank against RANKS ranks (bin/soma launch). Each is run for FIRST and for SECOND epochs of the same LIMIT
# images and the difference taken, so JVM start-up, the JIT's first seconds and data loading cancel out: a short
# run's throughput (the first 6144 images, one epoch) is mostly those. The JIT compilers need about 3,000 steps of
# the cnn to finish on these 2-core hosts (docs/cpu-performance.md), and with 2 ranks both JVMs compile on the cores
# the ranks use: FIRST=2 SECOND=3 on all of MNIST leaves that out too. Prints examples/s and the ratio.
#   bench/cpu/ddp-scaling.sh            # LIMIT=24576 RANKS=2 FIRST=1 SECOND=2
#   LIMIT=60000 FIRST=2 SECOND=3 bench/cpu/ddp-scaling.sh
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
LIMIT=${LIMIT:-24576}
RANKS=${RANKS:-2}
FIRST=${FIRST:-1}
SECOND=${SECOND:-2}
OUTDIR=$(mktemp -d)
trap 'rm -rf "$OUTDIR"' EXIT
"$ROOT/bin/soma" info > /dev/null   # builds the jar once, outside the timed runs

# seconds of fit for (ranks, epochs), from the "fit: N epoch(s) in S s" line
fit_seconds() {
  local ranks=$1 epochs=$2 out
  local args=(train cnn --dataset mnist --limit "$LIMIT" --epochs "$epochs" --validation-split 0 --quiet
    --out "$OUTDIR/r$ranks-e$epochs" ${EXTRA:-})
  if [ "$ranks" = 1 ]; then
    out=$(OMP_NUM_THREADS=1 "$ROOT/bin/soma" "${args[@]}" 2>&1)
  else
    out=$(OMP_NUM_THREADS=1 "$ROOT/bin/soma" launch --nproc "$ranks" -- "${args[@]}" 2>&1)
  fi
  local s
  s=$(sed -n 's/^fit: [0-9]* epoch(s) in \([0-9.]*\) s.*/\1/p' <<< "$out" | head -n 1)
  [ -n "$s" ] || { echo "ddp-scaling: no fit line for $ranks rank(s), $epochs epoch(s):" >&2; tail -n 20 <<< "$out" >&2; exit 1; }
  echo "$s"
}

echo "CPU: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) logical CPUs; load average $(cut -d' ' -f1-3 /proc/loadavg)"
declare -A rate
for ranks in 1 "$RANKS"; do
  s1=$(fit_seconds "$ranks" "$FIRST")
  s2=$(fit_seconds "$ranks" "$SECOND")
  rate[$ranks]=$(awk -v n="$LIMIT" -v e=$((SECOND - FIRST)) -v a="$s1" -v b="$s2" \
    'BEGIN { printf "%.0f", (b > a) ? n * e / (b - a) : 0 }')
  echo "$ranks rank(s) x 1 thread: $FIRST epoch(s) $s1 s, $SECOND epochs $s2 s: steady ${rate[$ranks]} examples/s"
done
awk -v a="${rate[1]}" -v b="${rate[$RANKS]}" -v r="$RANKS" 'BEGIN {
  if (a > 0) printf "scaling: %d ranks / 1 rank = %.2fx (goal >= 1.8x for 2 ranks)\n", r, b / a }'
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
