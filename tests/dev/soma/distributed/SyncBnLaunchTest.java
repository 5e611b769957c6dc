package dev.soma.distributed;

import dev.soma.data.Idx;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@code soma train gan --arch dcgan --sync-bn} on 2 MPI ranks: the DCGAN's generator (batch normalisation) trains
 * with statistics synchronised over the ranks, and the run says so. The numerics are GanDataParallelTest's.
 */
class SyncBnLaunchTest {
    @Test
    void aDataParallelDcganTrainsWithSynchronisedBatchNorm(@TempDir Path dir) throws Exception {
        MpiJob.assumeMpirun();
        Path data = Files.createDirectories(dir.resolve("digits"));
        int n = 48;
        SplittableRandom r = new SplittableRandom(4);
        byte[] px = new byte[n * 28 * 28];
        for (int i = 0; i < px.length; i++) px[i] = (byte) r.nextInt(256);
        byte[] labels = new byte[n];
        for (String part : new String[] {"train", "t10k"}) {
            Idx.writeUbyte(data.resolve(part + "-images-idx3-ubyte"), new int[] {n, 28, 28}, px);
            Idx.writeUbyte(data.resolve(part + "-labels-idx1-ubyte"), new int[] {n}, labels);
        }
        MpiJob.Result job = MpiJob.run(2, dev.soma.cli.SomaCli.class, Map.of("SOMA_DIST_TIMEOUT", "60"), 240,
                "train", "gan", "--arch", "dcgan", "--sync-bn", "--dataset", data.toString(), "--epochs", "1",
                "--batch-size", "8", "--quiet", "--out", dir.resolve("run").toString());
        assertEquals(0, job.exitCode(), job.output());
        assertTrue(job.output().contains("per rank x 2 ranks = 16 (data-parallel, ")
                && job.output().contains(", synchronised batch norm)"), job.output());
    }
}
