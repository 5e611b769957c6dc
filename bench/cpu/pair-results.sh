# Sourced by side-by-side.sh and shape-sweep.sh: what both do with one Soma run and its PyTorch run.

# pair_record LABEL ROUND SOMA_LINE PYTORCH_LINE FILE: prints both lines and appends
# "label round soma_median soma_p99 pytorch_median" to FILE.
pair_record() {
  local label=$1 round=$2 s=$3 p=$4 file=$5 sm s99 pm
  echo "round $round $label soma: $s"
  echo "round $round $label pytorch: ${p#RESULT }"
  sm=$(sed -n 's/.*median_ms=\([0-9.]*\).*/\1/p' <<< "$s"); s99=$(sed -n 's/.*p99_ms=\([0-9.]*\).*/\1/p' <<< "$s")
  pm=$(sed -n 's/.*median_ms=\([0-9.]*\).*/\1/p' <<< "$p")
  echo "$label $round $sm $s99 $pm" >> "$file"
}

# pair_table FIRST_COLUMN_TITLE FILE: the medians and ratios (Soma / PyTorch) of every recorded pair, as a table.
pair_table() {
  echo
  echo "| $1 | round | Soma median ms | Soma p99 ms | PyTorch median ms | ratio |"
  echo "|---|---|---|---|---|---|"
  awk '{ printf "| %s | %s | %.2f | %.2f | %.2f | %.2f |\n", $1, $2, $3, $4, $5, $3 / $5 }' "$2"
}
