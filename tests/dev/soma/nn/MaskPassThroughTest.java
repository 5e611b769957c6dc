package dev.soma.nn;

import dev.soma.memory.Scope;
import dev.soma.model.Sequential;
import dev.soma.tensor.Tensor;
import dev.soma.testing.NoLeaks;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Layers that work step by step (Dropout, Dense, Activation, LeakyReLU, BatchNormalization) pass the embedding's
 * mask on, as Keras does, so an LSTM behind them still ignores padded steps.
 */
@ExtendWith(NoLeaks.class)
class MaskPassThroughTest {
    @Test
    void paddedStepsStayInvisibleBehindStepWiseLayers() {
        int[] ids = {4, 7, 2, 9, 0, 0, 0};  // a review of 4 words padded to 7 at the end
        int[] unpadded = {4, 7, 2, 9};
        Layer[][] middles = {
                {new Dropout(0.3)}, {new Dense(6, "tanh")}, {new Activation("relu")}, {new LeakyReLU(0.2)},
                {new BatchNormalization()}};
        for (Layer[] middle : middles) {
            String name = middle[0].getClass().getSimpleName();
            try (Sequential padded = new Sequential(new Embedding(12, 5, true));
                 Sequential plain = new Sequential(new Embedding(12, 5, true));
                 Scope s = Scope.open()) {
                padded.add(middle[0]).add(new LSTM(3));
                plain.add(copyOf(middle[0])).add(new LSTM(3));
                padded.seed(2).build(7);
                plain.seed(2).build(4);
                for (int i = 0; i < padded.params().size(); i++) {
                    Tensor src = padded.params().get(i).value();
                    src.backend().memory().copy(src, plain.params().get(i).value());
                }
                float[] a = padded.call(Tensor.ofInts(ids, 1, 7)).toFloatArray();
                float[] b = plain.call(Tensor.ofInts(unpadded, 1, 4)).toFloatArray();
                assertArrayEquals(b, a, 1e-6f, name + ": the padded review's final state");
                Tensor mask = Tensor.of(new float[] {1, 1, 1, 1, 0, 0, 0}, 1, 7);
                assertSame(mask, middle[0].computeMask(Tensor.zeros(1, 7, 5), mask), name);
            }
        }
    }

    private static Layer copyOf(Layer l) {
        return LayerRegistry.create(l.typeName(), l.config());
    }
}
