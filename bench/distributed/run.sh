#!/usr/bin/env bash
# All-reduce bandwidth: our path (AllreduceBench: Java, JNI, the shim, MPI_Iallreduce, bounded wait) against the MPI
# library's own MPI_Allreduce and MPI_Iallreduce + MPI_Wait (allreduce_reference.c), same sizes, 2 ranks on this
# machine (NP to change). Bus bandwidth as NCCL reports it: 2 (n - 1) / n x bytes / time.
# Needs: mvn -o -q test-compile and target/test.cp (see bench/README.md), mpicc.
set -euo pipefail
cd "$(dirname "$0")/../.."
NP="${NP:-2}"
ROOT_FLAG=()
[ "$(id -u)" = 0 ] && ROOT_FLAG=(--allow-run-as-root)
MPIRUN=(mpirun -np "$NP" --oversubscribe --bind-to none "${ROOT_FLAG[@]}")
mkdir -p target/bench
mpicc -O2 -o target/bench/allreduce_reference bench/distributed/allreduce_reference.c
CP="target/test-classes:target/classes:$(cat target/test.cp)"
export OMP_NUM_THREADS=1
"${MPIRUN[@]}" target/bench/allreduce_reference > target/bench/allreduce-mpi.txt
"${MPIRUN[@]}" java -cp "$CP" dev.soma.bench.AllreduceBench > target/bench/allreduce-soma.txt
echo "| size | MPI_Allreduce us | MPI_Iallreduce+Wait us | Soma us | Soma busbw GB/s | Soma / MPI_Allreduce | Soma / MPI_Iallreduce |"
echo "|---|---|---|---|---|---|---|"
join target/bench/allreduce-mpi.txt target/bench/allreduce-soma.txt | awk -v np="$NP" '{
  bw = 2 * (np - 1) / np * $1 / ($4 * 1e-6) / 1e9;
  printf "| %d KiB | %.1f | %.1f | %.1f | %.2f | %.0f %% | %.0f %% |\n", $1 / 1024, $2, $3, $4, bw, 100 * $2 / $4, 100 * $3 / $4 }'
