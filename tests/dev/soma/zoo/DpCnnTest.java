package dev.soma.zoo;

import dev.soma.memory.Scope;
import dev.soma.model.Sequential;
import dev.soma.nn.Param;
import dev.soma.tensor.Tensor;
import dev.soma.testing.NoLeaks;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

import static org.junit.jupiter.api.Assertions.*;

/** The contrast model "dpcnn" has Tramer & Boneh's shapes: 26 010 parameters, 28x28x1 -> 10 probabilities. */
@ExtendWith(NoLeaks.class)
class DpCnnTest {
    @Test
    void hasThePublishedSizeAndShapes() {
        try (Sequential m = ReferenceModels.imageClassifier("dpcnn", 10); Scope s = Scope.open()) {
            m.build(28, 28, 1);
            long n = 0;
            for (Param p : m.params()) n += p.value().numel();
            // conv 8x8x1x16 + 16, conv 4x4x16x32 + 32, dense 4*4*32 x 32 + 32, dense 32 x 10 + 10
            assertEquals(1040 + 8224 + 16416 + 330, n);
            Tensor out = m.call(Tensor.zeros(2, 28, 28, 1));
            assertArrayEquals(new long[] {2, 10}, out.shape());
        }
    }
}
