package dev.soma.model;

import dev.soma.memory.Scope;
import dev.soma.nn.Add;
import dev.soma.nn.Dense;
import dev.soma.nn.Embedding;
import dev.soma.nn.LSTM;
import dev.soma.nn.Layer;
import dev.soma.tensor.Tensor;
import dev.soma.testing.NoLeaks;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

/** Keras masks flow along a functional graph's edges and through merges, as through a Sequential. */
@ExtendWith(NoLeaks.class)
class FunctionalMaskTest {
    /** ids -> Embedding(mask_zero) -> two Dense branches added -> LSTM -> Dense: padding must stay invisible. */
    private static FunctionalModel model(int steps) {
        Input ids = Input.of(steps);
        SymbolicTensor e = ids.then(new Embedding(12, 5, true));
        SymbolicTensor sum = SymbolicTensor.apply(new Add(), e.then(new Dense(4, "tanh")), e.then(new Dense(4)));
        return new FunctionalModel(List.of(ids), List.of(sum.then(new LSTM(3)).then(new Dense(2))));
    }

    @Test
    void paddedStepsChangeNothingInAFunctionalModel() {
        try (FunctionalModel padded = model(7); FunctionalModel plain = model(4); Scope s = Scope.open()) {
            padded.seed(3).build(7);
            plain.seed(3).build(4);
            List<dev.soma.nn.Param> from = padded.params();
            List<dev.soma.nn.Param> to = plain.params();
            assertEquals(from.size(), to.size());
            for (int i = 0; i < from.size(); i++) {
                Tensor src = from.get(i).value();
                src.backend().memory().copy(src, to.get(i).value());
            }
            float[] a = padded.call(Tensor.ofInts(new int[] {4, 7, 2, 9, 0, 0, 0}, 1, 7)).toFloatArray();
            float[] b = plain.call(Tensor.ofInts(new int[] {4, 7, 2, 9}, 1, 4)).toFloatArray();
            assertArrayEquals(b, a, 1e-6f);
            // Without the mask the padded steps would change the LSTM's final state.
            float[] c = padded.call(Tensor.ofInts(new int[] {4, 7, 2, 9, 1, 1, 1}, 1, 7)).toFloatArray();
            assertNotEquals(b[0], c[0], 1e-6f);
        }
    }
}
