package dev.soma.cuda;

import dev.soma.data.ArrayDataset;
import dev.soma.model.Sequential;
import dev.soma.nn.DaleDense;
import dev.soma.nn.Dense;
import dev.soma.testing.NoLeaks;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

import java.util.SplittableRandom;
import java.util.stream.IntStream;

/**
 * Two training steps of an MLP of DaleDense layers (divisive and subtractive, with the non-negativity projection after
 * each step) on cuda:0 equal the same steps on the CPU, every weight within 1e-4 relative.
 */
@Tag("gpu")
@ExtendWith(NoLeaks.class)
class CudaDaleDenseTest {
    @AfterEach
    void gpuPoolEmpty() {
        new CudaTrainingStepTest().gpuPoolEmpty();
    }

    @Test
    void daleMlpStepMatchesTheCpu() {
        // Non-negative inputs, as excitatory activity (the divisive denominator then stays positive).
        SplittableRandom r = new SplittableRandom(8);
        float[] x = new float[4 * 12];
        for (int i = 0; i < x.length; i++) x[i] = (float) (0.1 + Math.abs(r.nextGaussian()));
        int[] y = {0, 3, 1, 4};
        // The output layer is a plain Dense: a DaleDense under softmax would have W_IE's gradient exactly 0 at init
        // (its single interneuron shifts every logit equally, which softmax ignores), leaving only rounding noise
        // that Adam's g / (|g| + eps) turns into steps of random sign on each device.
        CudaTrainingStepTest.compareStep(() -> new Sequential(new DaleDense(16, "relu").divisive(true),
                        new DaleDense(8, "relu"), new Dense(5, "softmax")), new long[] {12},
                ArrayDataset.withLabels(x, new long[] {12}, y).gather(IntStream.range(0, 4).toArray()));
    }
}
