package dev.soma.model;

import dev.soma.backend.ComputeThreads;
import dev.soma.backend.ThreadTuner;
import dev.soma.data.Batch;
import dev.soma.nn.Dense;
import dev.soma.optim.SGD;
import dev.soma.testing.NoLeaks;
import dev.soma.testing.TemporaryProperties;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

import static org.junit.jupiter.api.Assertions.*;

/** Training steps run on their tuner's thread count and hand the caller's own count back, even when they fail. */
@ExtendWith(NoLeaks.class)
class TunedStepThreadsTest {
    @Test
    void stepsRestoreTheCallersCount() {
        int before = ComputeThreads.current();
        // The test JVM pins threads (pom.xml); this model tunes.
        try (TemporaryProperties p = new TemporaryProperties().set(ThreadTuner.PROPERTY, "true");
             Sequential m = new Sequential(new Dense(3, "softmax"))) {
            m.compile(new SGD(0.1), "sparse_categorical_crossentropy");
            Batch b = TrainingLoopTest.blobs(32, 1).gather(java.util.stream.IntStream.range(0, 32).toArray());
            for (int i = 0; i < 60; i++) {
                m.trainStep(b);
                assertEquals(before, ComputeThreads.current(), "step " + i);
                int used = ThreadTuner.lastUnitThreads();
                assertTrue(used >= 1 && used <= ComputeThreads.max(), "step " + i + " ran on " + used);
            }
            ComputeThreads.set(1); // a caller with its own count keeps it after a failing step too
            Batch wrong = new Batch(new float[32 * 5], new long[] {32, 5}, new int[32], null, new long[] {32});
            assertThrows(RuntimeException.class, () -> m.trainStep(wrong));
            assertEquals(1, ComputeThreads.current());
        } finally {
            ComputeThreads.set(before);
        }
    }
}
