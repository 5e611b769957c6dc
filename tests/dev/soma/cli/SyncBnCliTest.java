package dev.soma.cli;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;

/**
 * {@code soma train --sync-bn}: refused before data loads outside a data-parallel run (the 2-rank DCGAN with it is
 * dev.soma.distributed.SyncBnLaunchTest; the equivalence it rests on is GanDataParallelTest's "bn" case).
 */
class SyncBnCliTest {
    @Test
    void refusedOutsideADataParallelRun(@TempDir Path root) throws Exception {
        for (String model : new String[] {"gan", "cnn"}) {
            CliRun.refusedBeforeData(root, model, "--sync-bn synchronises BatchNormalization over the ranks of a "
                    + "data-parallel run; start it with `soma launch --nproc N -- train ...` or mpirun", "--sync-bn");
        }
    }
}
