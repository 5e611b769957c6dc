# Sourced by side-by-side.sh, shape-sweep.sh and load-test.sh: what they do with one Soma run and its PyTorch run.

# pytorch_peer_classpath PEERS: builds ../shared/peers' PyTorch peer on first use (in PEERS, a writable copy made
# then) and prints its class path.
pytorch_peer_classpath() {
  local peers=$1
  if [[ ! -f $peers/pytorch/cp.txt ]]; then
    [[ -d $peers ]] || cp -r "$ROOT/../shared/peers" "$peers"
    (cd "$peers/pytorch" && mvn -B -q package dependency:build-classpath -Dmdep.outputFile=cp.txt -DskipTests) >&2
  fi
  echo "$peers/pytorch/target/peers-pytorch-0.1.jar:$(cat "$peers/pytorch/cp.txt")"
}

# pytorch_peer_step CLASSPATH MODEL THREADS STEPS WARMUP: one run of the peer's step at batch 32 (its only batch), in
# the tuned row of ../shared/peers (passive OpenMP waits, OpenBLAS on one thread); prints its RESULT line.
pytorch_peer_step() {
  OMP_NUM_THREADS=$3 OMP_WAIT_POLICY=PASSIVE OPENBLAS_NUM_THREADS=1 java -Xms1g -Xmx6g -cp "$1" \
    peers.PtBench --model "$2" --threads "$3" --steps "$4" --warmup "$5" | grep '^RESULT' | tail -1
}

# start_busy_loops N: N busy-looping processes beside the timed runs, each its own bash process so that kill reaches
# the loop itself; stop_busy_loops ends them (the caller also sets `trap stop_busy_loops EXIT`).
busy_loops=()
start_busy_loops() {
  local i
  for ((i = 0; i < $1; i++)); do bash -c 'while :; do :; done' & busy_loops+=($!); done
}
stop_busy_loops() {
  local p
  for p in "${busy_loops[@]:-}"; do [[ -n $p ]] && kill "$p" 2>/dev/null || true; done
  busy_loops=()
}

# median_of LINE: the median_ms=.. value of a Soma or PyTorch result line.
median_of() { sed -n 's/.*median_ms=\([0-9.]*\).*/\1/p' <<< "$1"; }

# pair_record LABEL ROUND SOMA_LINE PYTORCH_LINE FILE: prints both lines and appends
# "label round soma_median soma_p99 pytorch_median" to FILE.
pair_record() {
  local label=$1 round=$2 s=$3 p=$4 file=$5 sm s99 pm
  echo "round $round $label soma: $s"
  echo "round $round $label pytorch: ${p#RESULT }"
  sm=$(median_of "$s"); s99=$(sed -n 's/.*p99_ms=\([0-9.]*\).*/\1/p' <<< "$s")
  pm=$(median_of "$p")
  echo "$label $round $sm $s99 $pm" >> "$file"
}

# pair_table FIRST_COLUMN_TITLE FILE: the medians and ratios (Soma / PyTorch) of every recorded pair, as a table.
pair_table() {
  echo
  echo "| $1 | round | Soma median ms | Soma p99 ms | PyTorch median ms | ratio |"
  echo "|---|---|---|---|---|---|"
  awk '{ printf "| %s | %s | %.2f | %.2f | %.2f | %.2f |\n", $1, $2, $3, $4, $5, $3 / $5 }' "$2"
}
