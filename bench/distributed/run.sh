#!/usr/bin/env bash
# All-reduce bandwidth: our path (AllreduceBench: Java, JNI, the shim, its small path or MPI_Iallreduce, bounded wait)
# against the MPI library's own blocking MPI_Allreduce on the same buffer, in the same process, alternating
# iteration by iteration (the comparison that holds on a shared machine), and, from a separate run, the C program
# allreduce_reference.c (MPI_Allreduce and MPI_Iallreduce + MPI_Wait without Java). 2 ranks on this machine (NP to
# change). Bus bandwidth as NCCL reports it: 2 (n - 1) / n x bytes / time.
# Needs: mvn -o -q test-compile and target/test.cp (see bench/README.md), mpicc.
# Another MPI than the default one: MPIEXEC=mpiexec.mpich MPICC=mpicc.mpich bench/distributed/run.sh (the ranks open
# the launcher's library by themselves).
set -euo pipefail
cd "$(dirname "$0")/../.."
NP="${NP:-2}"
MPIEXEC="${MPIEXEC:-mpirun}"
MPIRUN=("$MPIEXEC" -np "$NP")
if "$MPIEXEC" --version 2>&1 | grep -q "Open MPI"; then
  MPIRUN+=(--oversubscribe --bind-to none)
  [ "$(id -u)" = 0 ] && MPIRUN+=(--allow-run-as-root)
fi
echo "MPI: $("$MPIEXEC" --version 2>&1 | grep -m1 -E 'Open MPI|Version:' | xargs)" >&2
mkdir -p target/bench
"${MPICC:-mpicc}" -O2 -o target/bench/allreduce_reference bench/distributed/allreduce_reference.c
CP="target/test-classes:target/classes:$(cat target/test.cp)"
export OMP_NUM_THREADS=1
"${MPIRUN[@]}" java -cp "$CP" dev.soma.bench.AllreduceBench > target/bench/allreduce-soma.txt
"${MPIRUN[@]}" target/bench/allreduce_reference > target/bench/allreduce-mpi.txt
echo "| size | Soma us (median) | MPI_Allreduce, same process, alternating, us (median) | MPI_Allreduce / Soma (fastest, median) | Soma busbw GB/s | C program: MPI_Allreduce / MPI_Iallreduce+Wait us |"
echo "|---|---|---|---|---|---|"
# Both programs print the same sizes in the same order; paste pairs their lines.
paste -d ' ' target/bench/allreduce-soma.txt target/bench/allreduce-mpi.txt | awk -v np="$NP" '{
  bw = 2 * (np - 1) / np * $1 / ($2 * 1e-6) / 1e9;
  size = $1 < 1024 ? sprintf("%d B", $1) : sprintf("%d KiB", $1 / 1024);
  printf "| %s | %.1f (%.1f) | %.1f (%.1f) | %.0f %%, %.0f %% | %.2f | %.1f / %.1f |\n", size, $2, $4, $3, $5,
    100 * $3 / $2, 100 * $5 / $4, bw, $7, $8 }'
