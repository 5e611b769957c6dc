package dev.soma.model;

import dev.soma.autograd.Gradcheck;
import dev.soma.data.MultiArrayDataset;
import dev.soma.memory.Scope;
import dev.soma.nn.Concatenate;
import dev.soma.nn.Dense;
import dev.soma.nn.Embedding;
import dev.soma.nn.GRU;
import dev.soma.nn.LSTM;
import dev.soma.nn.Slice;
import dev.soma.optim.Adam;
import dev.soma.tensor.DType;
import dev.soma.tensor.Tensor;
import dev.soma.testing.NoLeaks;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

import java.util.List;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.*;

/**
 * The recurrent-state graph of docs/functional-api.md trains (gradients reach the encoder through h and c), and a
 * Slice of a returned sequence equals the returned state.
 */
@ExtendWith(NoLeaks.class)
class FunctionalStatesTrainingTest {
    @Test
    void aClassifierOnTheFinalStatesLearns() {
        // Label: does token 3 occur in the (zero-padded) sequence? Learnable only through the recurrent states.
        int n = 256, steps = 8;
        SplittableRandom r = new SplittableRandom(4);
        int[] ids = new int[n * steps];
        float[] labels = new float[n];
        for (int i = 0; i < n; i++) {
            int len = 3 + r.nextInt(steps - 2);
            boolean has = false;
            for (int t = 0; t < len; t++) {
                int id = 1 + r.nextInt(5);
                ids[i * steps + t] = id;
                has |= id == 3;
            }
            labels[i] = has ? 1 : 0;
        }
        Input tokens = Input.of(steps).named("tokens");
        SymbolicTensor emb = tokens.then(new Embedding(6, 8, true));
        List<SymbolicTensor> enc = emb.thenAll(new LSTM(12).returnState(true));
        SymbolicTensor state = SymbolicTensor.apply(new Concatenate(), enc.get(1), enc.get(2));
        SymbolicTensor out = state.then(new Dense(1, "sigmoid"));
        MultiArrayDataset data = MultiArrayDataset.builder().intInput(ids, steps).targets(labels, 1).build();
        try (FunctionalModel model = new FunctionalModel(List.of(tokens), List.of(out))) {
            model.seed(2).compile(new Adam(0.02), "binary_crossentropy", "accuracy");
            History h = model.fit(data, new FitOptions().batchSize(32).epochs(12).seed(1).verbose(0));
            assertTrue(h.last("accuracy") > 0.9, "accuracy " + h.get("accuracy"));
        }
    }

    @Test
    void gradientsFlowThroughEveryState() {
        Input in = Input.of(4, 3);
        GRU gru = new GRU(3).returnSequences(true).returnState(true);
        List<SymbolicTensor> outs = in.thenAll(gru);
        SymbolicTensor last = outs.get(0).then(Slice.lastStep());
        Dense head = new Dense(2);
        SymbolicTensor y = SymbolicTensor.apply(new Concatenate(), last, outs.get(1)).then(head);
        try (FunctionalModel model = new FunctionalModel(List.of(in), List.of(y, last, outs.get(1)));
             Scope s = Scope.open()) {
            model.dtype(DType.F64).seed(5);
            model.build();
            Tensor x = RandomTensors.gaussian(3, 2, 4, 3);
            List<Tensor> got = model.call(List.of(x));
            assertArrayEquals(got.get(2).toDoubleArray(), got.get(1).toDoubleArray(), 0, "a GRU's h is its last output");
            Tensor[] inputs = new Tensor[1 + gru.params().size()];
            inputs[0] = x;
            for (int i = 0; i < gru.params().size(); i++) inputs[i + 1] = gru.params().get(i).value();
            Gradcheck.assertGradients("gru states", xs -> model.call(List.of(xs[0])).get(0), inputs);
        }
    }

    /** Seeded Gaussian tensors (float64). */
    static final class RandomTensors {
        static Tensor gaussian(long seed, long... shape) {
            SplittableRandom r = new SplittableRandom(seed);
            double[] v = new double[(int) dev.soma.ops.Shapes.numel(shape)];
            for (int i = 0; i < v.length; i++) v[i] = r.nextGaussian();
            return Tensor.of(v, shape);
        }
    }
}
