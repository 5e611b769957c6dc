#!/usr/bin/env bash
# One family's training step on cuda:0 under several sets of JVM options, alternating rounds so that drift of the
# host hits every variant alike: prints "VARIANT family options: median_ms p90_ms" per round. For choosing defaults
# (e.g. cuDNN's persistent RNN algorithm) from numbers taken in the same run.
# Usage (GPU host, after bench/gpu/prepare.sh): bench/gpu/step-variants.sh FAMILY ROUNDS "OPTS A" "OPTS B" ...
#   ("" is the defaults; options are -D flags separated by spaces)
set -uo pipefail
LOGS="${OUT:-$(cd "$(dirname "$0")/../.." && pwd)/gpu-logs}/variants"
[ $# -ge 3 ] || { echo "usage: step-variants.sh FAMILY ROUNDS OPTS..." >&2; exit 2; }
FAMILY=$1 ROUNDS=$2
shift 2
. "$(dirname "$0")/setup.sh"
status=0
for round in $(seq 1 "$ROUNDS"); do
  for opts in "$@"; do
    # shellcheck disable=SC2086 # options are split on purpose
    line=$(train_step_line "$FAMILY" $opts)
    case "$line" in median_ms=*) ;; *) status=1 ;; esac
    echo "VARIANT $FAMILY round $round [${opts:-defaults}]: $line"
  done
done
exit $status
