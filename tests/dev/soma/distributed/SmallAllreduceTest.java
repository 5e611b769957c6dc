package dev.soma.distributed;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertDoesNotThrow;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The shim's small all-reduce path on real MPI ranks (SmallAllreduceMain): 2 ranks (a power of two), 3 (one rank
 * folded into another), 4 (two rounds), and 3 with the shim's progress thread. CI runs it under Open MPI and again under MPICH's Hydra.
 */
class SmallAllreduceTest {
    @ParameterizedTest(name = "{0} ranks, progress thread {1}")
    @CsvSource({"2, 0", "3, 0", "4, 0", "3, 1"})
    void sumsAreExactAndTheSameOnEveryRankOnBothSidesOfTheLimit(int ranks, int progressThread) throws Exception {
        // With the progress thread, it moves the small all-reduces on from step to step too (under the shim's lock).
        MpiJob.Result job = MpiJob.run(ranks, SmallAllreduceMain.class,
                Map.of("SOMA_DIST_TIMEOUT", "60", "SOMA_MPI_PROGRESS_THREAD", String.valueOf(progressThread)), 180);
        assertEquals(0, job.exitCode(), job.output());
        String out = job.output();
        assertTrue(out.contains("ok small path up to") && out.contains(ranks + " ranks"), out);
        assertTrue(out.contains("ok 40 in flight"), out);
        assertEquals(progressThread == 1, out.contains("progress thread on"), out);
        assertTrue(out.contains("ok sums exact and the same bits on every rank"), out);
        for (int r = 0; r < ranks; r++) assertTrue(out.contains("ok rank " + r + " live bytes 0"), out);
    }

    /** The shim reads the limit with atoll, to which a mistyped value is 0: refused before MPI starts instead. */
    @Test
    void aLimitThatIsNotAByteCountIsRefused() {
        for (String bad : new String[] {"32k", "-1", "1e4", " 8192", "4294967296"}) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> Mpi.checkSmallAllreduceBytes(Map.of("SOMA_MPI_SMALL_ALLREDUCE_BYTES", bad)), bad);
            assertTrue(e.getMessage().contains("SOMA_MPI_SMALL_ALLREDUCE_BYTES") && e.getMessage().contains("'" + bad + "'"),
                    e.getMessage());
        }
        for (String good : new String[] {"0", "8192", "2147483647", ""}) {
            assertDoesNotThrow(() -> Mpi.checkSmallAllreduceBytes(Map.of("SOMA_MPI_SMALL_ALLREDUCE_BYTES", good)), good);
        }
        assertDoesNotThrow(() -> Mpi.checkSmallAllreduceBytes(Map.of()));
    }
}
