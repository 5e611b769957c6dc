package dev.soma.backend;

import dev.soma.testing.TemporaryProperties;
import dev.soma.data.ArrayDataset;
import dev.soma.jni.CpuKernels;
import dev.soma.jni.NativeLibraries;
import dev.soma.model.FitOptions;
import dev.soma.model.Sequential;
import dev.soma.nn.Dense;
import dev.soma.nn.Dropout;
import dev.soma.optim.Adam;
import dev.soma.tensor.Tensor;
import dev.soma.testing.NoLeaks;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.atomic.AtomicInteger;

import static org.junit.jupiter.api.Assertions.*;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/** The native switch {@link SplitTuner} sets: where split-invariant loops run, per thread, and that no bit changes. */
@ExtendWith(NoLeaks.class)
class SplitInvariantLoopsTest {
    private static final long LARGE = 1L << 20;

    @Test
    void theSwitchPutsTheCallingThreadsLoopsOnOneThreadAndNoOtherThreads() throws Exception {
        NativeLibraries.cpu();
        assumeTrue(ComputeThreads.max() >= 2, "needs two OpenMP threads");
        assertEquals(0, CpuKernels.soma_cpu_split_invariant_one_thread(-1), "off by default");
        int team = CpuKernels.soma_cpu_split_invariant_threads(LARGE);
        assertTrue(team >= 2, "a large loop runs on the team: " + team);
        assertEquals(1, CpuKernels.soma_cpu_split_invariant_threads(1000), "below the grain: one thread");
        int before = CpuKernels.soma_cpu_split_invariant_one_thread(1);
        try {
            assertEquals(1, CpuKernels.soma_cpu_split_invariant_threads(LARGE), "switched: one thread");
            AtomicInteger other = new AtomicInteger();
            Thread t = new Thread(() -> other.set(CpuKernels.soma_cpu_split_invariant_threads(LARGE)));
            t.start();
            t.join();
            assertTrue(other.get() >= 2, "another thread keeps its team: " + other.get());
        } finally {
            CpuKernels.soma_cpu_split_invariant_one_thread(before);
        }
        assertEquals(team, CpuKernels.soma_cpu_split_invariant_threads(LARGE), "handed back");
    }

    @Test
    void trainingGivesTheSameBitsOnOneThreadAsOnTheTeam() {
        assumeTrue(ComputeThreads.max() >= 2, "needs two OpenMP threads");
        // Sizes above the grain: Adam over 131,072 weights, a 65,536-element dropout mask and activations.
        List<float[]> one = train("one"), team = train("false");
        assertEquals(team.size(), one.size());
        for (int i = 0; i < team.size(); i++) assertArrayEquals(team.get(i), one.get(i), 0f, "weight tensor " + i);
    }

    @Test
    void aTrainingLoopHandsTheSwitchBackAfterEachStep() {
        NativeLibraries.cpu();
        for (String policy : new String[] {"one", "false", "true"}) {
            train(policy);
            assertEquals(0, CpuKernels.soma_cpu_split_invariant_one_thread(-1), policy + ": the caller's setting");
            // The steps ran on this thread, and the last one as the policy says (measured: the team until a trial).
            assertEquals(policy.equals("one"), SplitTuner.lastUnitOnOneThread(), policy);
        }
    }

    /** Weights after two epochs with the given {@link SplitTuner#PROPERTY} (read when the model's first step runs). */
    private static List<float[]> train(String policy) {
        try (TemporaryProperties p = new TemporaryProperties().set(SplitTuner.PROPERTY, policy);
             Sequential m = new Sequential(new Dense(512, "relu"), new Dropout(0.3), new Dense(256, "relu"),
                new Dense(3, "softmax"))) {
            m.seed(5).compile(new Adam(0.001), "sparse_categorical_crossentropy", "accuracy");
            m.fit(data(512, 7), new FitOptions().batchSize(128).epochs(2).seed(3).verbose(0));
            List<float[]> weights = new ArrayList<>();
            for (Tensor w : m.parameterTensors()) weights.add(w.toFloatArray());
            return weights;
        }
    }

    private static ArrayDataset data(int n, long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        float[] x = new float[n * 32];
        int[] y = new int[n];
        for (int i = 0; i < n; i++) {
            y[i] = r.nextInt(3);
            for (int d = 0; d < 32; d++) x[i * 32 + d] = (float) (r.nextGaussian() + (d % 3 == y[i] ? 1.0 : 0.0));
        }
        return ArrayDataset.withLabels(x, new long[] {32}, y);
    }
}
