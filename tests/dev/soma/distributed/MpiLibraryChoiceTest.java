package dev.soma.distributed;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * A rank opens the MPI library of the launcher that started it, and refuses one of another MPI (which would start a
 * world of one, so that each rank trained alone without a word).
 */
class MpiLibraryChoiceTest {
    private static final Map<String, String> HYDRA = Map.of("PMI_RANK", "1", "PMI_SIZE", "2", "PMI_FD", "6",
            "MPI_LOCALRANKID", "1", "MPI_LOCALNRANKS", "2");
    private static final Map<String, String> OPEN_MPI = Map.of("OMPI_COMM_WORLD_SIZE", "2", "OMPI_COMM_WORLD_RANK", "1",
            "OMPI_COMM_WORLD_LOCAL_RANK", "1");
    /** Slurm's srun with PMI-2: either MPI may be behind it. */
    private static final Map<String, String> SRUN_PMI2 = Map.of("PMI_RANK", "3", "PMI_SIZE", "8", "PMI_FD", "5",
            "SLURM_LOCALID", "1");

    @Test
    void theLaunchersOwnLibraryComesFirst() {
        assertEquals(List.of("libmpi.so.12", "libmpich.so.12", "libmpi.so.40", "libmpi.so"), MpiLibraries.candidates(HYDRA));
        assertEquals(List.of("libmpi.so.40", "libmpi.so.12", "libmpich.so.12", "libmpi.so"), MpiLibraries.candidates(OPEN_MPI));
        assertEquals(List.of("libmpi.so.40", "libmpi.so.12", "libmpich.so.12", "libmpi.so"), MpiLibraries.candidates(SRUN_PMI2));
        assertEquals(List.of("libmpi.so.40", "libmpi.so.12", "libmpich.so.12", "libmpi.so"), MpiLibraries.candidates(Map.of()));
    }

    @Test
    void somaMpiLibraryAloneWhenSet() {
        Map<String, String> env = new java.util.HashMap<>(HYDRA);
        env.put("SOMA_MPI_LIBRARY", "/opt/cray/pe/lib64/libmpi_cray.so.12");
        assertEquals(List.of("/opt/cray/pe/lib64/libmpi_cray.so.12"), MpiLibraries.candidates(env));
        env.put("SOMA_MPI_LIBRARY", " ");
        assertEquals("libmpi.so.12", MpiLibraries.candidates(env).get(0), "a blank value is no choice");
    }

    @Test
    void aWorldOfAnotherSizeThanAnnouncedIsAMismatch() {
        assertNull(MpiLibraries.mismatch(HYDRA, "libmpich.so.12", 2));
        assertNull(MpiLibraries.mismatch(SRUN_PMI2, "libmpi.so.40", 8));
        assertNull(MpiLibraries.mismatch(Map.of(), "libmpi.so.40", 1), "no launcher: a singleton is what was asked for");
        String hydra = MpiLibraries.mismatch(HYDRA, "libmpi.so.40", 1);
        assertTrue(hydra.contains("Hydra (MPICH's or Intel MPI's mpiexec) started 2 ranks (PMI_SIZE=2), but libmpi.so.40 "
                + "initialised a world of 1"), hydra);
        assertTrue(hydra.contains("SOMA_MPI_LIBRARY to the MPICH-ABI library (libmpi.so.12; on Debian and Ubuntu "
                + "libmpich.so.12)"), hydra);
        String openMpi = MpiLibraries.mismatch(OPEN_MPI, "libmpich.so.12", 1);
        assertTrue(openMpi.contains("Open MPI's mpirun started 2 ranks (OMPI_COMM_WORLD_SIZE=2), but libmpich.so.12 "
                + "initialised a world of 1") && openMpi.contains("SOMA_MPI_LIBRARY to Open MPI's libmpi.so.40"), openMpi);
        String srun = MpiLibraries.mismatch(SRUN_PMI2, "libmpi.so.40", 1);
        assertTrue(srun.contains("the launcher started 8 ranks (PMI_SIZE=8)"), srun);
        assertEquals(0, MpiLibraries.announcedWorldSize(Map.of("PMI_SIZE", "two")), "not a number: nothing announced");
    }

    /** soma info's list: a library in a directory of LD_LIBRARY_PATH is found there, by name, without loading it. */
    @Test
    void installedLibrariesAreFoundWithoutLoadingThem(@TempDir Path dir) throws Exception {
        Path fake = Files.write(dir.resolve("libmpi.so.12"), new byte[0]); // not a library: loading it would fail
        Map<String, Path> found = MpiLibraries.installed(Map.of("LD_LIBRARY_PATH", "/nonexistent:" + dir));
        assertEquals(fake, found.get("libmpi.so.12"), found.toString());
        assertTrue(MpiLibraries.installed(Map.of("LD_LIBRARY_PATH", "/nonexistent")).values().stream()
                .noneMatch(p -> p.startsWith(dir)));
    }

    /**
     * The real thing, where both MPIs are installed (CI installs both): 2 ranks started by this launcher but told to
     * open the other MPI's library stop at once with the mismatch, instead of training as two worlds of one.
     */
    @Test
    void aLibraryOfAnotherMpiThanTheLauncherIsRefused(@TempDir Path dir) throws Exception {
        MpiJob.assumeMpirun();
        List<String> otherMpi = MpiJob.openMpiLauncher() ? MpiLibraries.MPICH : MpiLibraries.OPEN_MPI;
        String other = MpiLibraries.installed(System.getenv()).keySet().stream().filter(otherMpi::contains).findFirst()
                .orElse(null);
        assumeTrue(other != null, "the other MPI's library is not installed here (CI installs Open MPI and MPICH)");
        MpiJob.Result job = MpiJob.run(2, DataParallelMain.class, Map.of("SOMA_MPI_LIBRARY", other, "SOMA_DIST_TIMEOUT", "30"),
                90, dir.toString());
        assertNotEquals(0, job.exitCode(), job.output());
        assertTrue(job.output().contains("but " + other + " initialised a world of 1"), job.output());
        assertFalse(job.output().contains("ok collectives"), "no rank may go on alone:\n" + job.output());
    }

    /**
     * The JVM keeps its own signal handlers after MPI starts: compiled code that meets a null still throws a
     * NullPointerException on both ranks. Under MPICH (CI's second run of these tests) UCX used to install its SIGSEGV
     * handler over the JVM's and kill the rank there (the shim now sets UCX_ERROR_SIGNALS to nothing).
     */
    @Test
    void theJvmsOwnSignalsSurviveTheMpiLibrary() throws Exception {
        MpiJob.Result job = MpiJob.run(2, NullCheckAfterMpiMain.class, Map.of("SOMA_DIST_TIMEOUT", "30"), 90);
        assertEquals(0, job.exitCode(), job.output());
        for (int r = 0; r < 2; r++) {
            assertTrue(job.output().contains("ok rank " + r + " of 2 caught 3 null pointers, sum 2000000"), job.output());
        }
    }
}
