package dev.soma.distributed;

import org.junit.jupiter.api.Test;

import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * Which GPU a rank takes under `--device cuda` (its place on its node, from each launcher's variable), and how GPU
 * collectives travel (SOMA_GPU_COLLECTIVES).
 */
class LocalRankTest {
    @Test
    void eachLaunchersVariableGivesTheLocalRank() {
        assertEquals(3, Mpi.localRank(Map.of("OMPI_COMM_WORLD_LOCAL_RANK", "3")));
        assertEquals(2, Mpi.localRank(Map.of("MPI_LOCALRANKID", "2")));
        assertEquals(5, Mpi.localRank(Map.of("SLURM_LOCALID", "5")));
        // Open MPI's own answer wins over Slurm's when mpirun runs inside an allocation.
        assertEquals(1, Mpi.localRank(Map.of("OMPI_COMM_WORLD_LOCAL_RANK", "1", "SLURM_LOCALID", "0")));
    }

    @Test
    void withoutALauncherOrWithJunkItIsZero() {
        assertEquals(0, Mpi.localRank(Map.of()));
        assertEquals(0, Mpi.localRank(Map.of("OMPI_COMM_WORLD_LOCAL_RANK", "x")));
        assertEquals(0, Mpi.localRank(Map.of("SLURM_LOCALID", "99999999999999999999")));
        assertEquals(0, Mpi.localRank(Map.of("MPI_LOCALRANKID", "-1")));
    }

    @Test
    void gpuCollectivesAreHostUnlessNcclIsAsked() {
        assertEquals(Mpi.GpuCollectives.HOST, Mpi.GpuCollectives.configured(Map.of()));
        assertEquals(Mpi.GpuCollectives.HOST, Mpi.GpuCollectives.configured(Map.of("SOMA_GPU_COLLECTIVES", "host")));
        assertEquals(Mpi.GpuCollectives.NCCL, Mpi.GpuCollectives.configured(Map.of("SOMA_GPU_COLLECTIVES", "NCCL")));
        IllegalArgumentException e = org.junit.jupiter.api.Assertions.assertThrows(IllegalArgumentException.class,
                () -> Mpi.GpuCollectives.configured(Map.of("SOMA_GPU_COLLECTIVES", "gloo")));
        org.junit.jupiter.api.Assertions.assertTrue(e.getMessage().contains("must be host or nccl, got 'gloo'"), e.getMessage());
    }
}
