package dev.soma.nn;

import dev.soma.autograd.Gradcheck;
import dev.soma.data.ArrayDataset;
import dev.soma.errors.ShapeException;
import dev.soma.memory.Scope;
import dev.soma.model.FunctionalModel;
import dev.soma.model.Input;
import dev.soma.model.Sequential;
import dev.soma.model.SymbolicTensor;
import dev.soma.ops.Shapes;
import dev.soma.optim.Adam;
import dev.soma.tensor.DType;
import dev.soma.tensor.Tensor;
import dev.soma.testing.NoLeaks;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.List;
import java.util.SplittableRandom;

import static dev.soma.nn.RecurrentLayersTest.gaussian;
import static org.junit.jupiter.api.Assertions.*;

/** Slice (saved with the model) and Lambda (any function; says it cannot be saved) in Sequential and functional models. */
@ExtendWith(NoLeaks.class)
class SliceLambdaTest {
    @Test
    void lastStepOfASequence() {
        try (LSTM seq = new LSTM(4).returnSequences(true); LSTM last = new LSTM(4); Slice slice = Slice.lastStep();
             Scope s = Scope.open()) {
            seq.build(new long[] {5, 3}, DType.F64, new SplittableRandom(1));
            last.build(new long[] {5, 3}, DType.F64, new SplittableRandom(1));
            Tensor x = gaussian(2, 2, 5, 3);
            Tensor y = slice.apply(seq.apply(x, false), false);
            assertArrayEquals(new long[] {2, 4}, y.shape());
            assertArrayEquals(new long[] {4}, slice.outputShape());
            // The same weights without return_sequences give exactly the last step.
            assertArrayEquals(last.apply(x, false).toDoubleArray(), y.toDoubleArray(), 0);
        }
    }

    @Test
    void rangesAndIndicesOnAnyAxisWithGradients() {
        try (Slice mid = Slice.range(0, 1, -1); Slice feature = Slice.index(-1, 2); Slice tail = Slice.range(1, -2, 100);
             Scope s = Scope.open()) {
            Tensor x = gaussian(3, 2, 5, 4);
            assertArrayEquals(new long[] {2, 3, 4}, mid.apply(x, false).shape());
            assertArrayEquals(new long[] {2, 5}, feature.apply(x, false).shape());
            assertArrayEquals(new long[] {2, 5, 2}, tail.apply(x, false).shape());
            assertArrayEquals(Shapes.select(x, 2, 2).toDoubleArray(), feature.apply(x, false).toDoubleArray(), 0);
            assertArrayEquals(Shapes.slice(x, 1, 1, 4, 1).contiguous().toDoubleArray(),
                    mid.apply(x, false).contiguous().toDoubleArray(), 0);
            Gradcheck.assertGradients("slice", in -> mid.apply(in[0], true).mul(mid.apply(in[0], true)), x);
        }
        assertThrows(ShapeException.class, () -> Slice.index(0, 5).computeOutputShape(new long[] {5, 3}));
        assertThrows(ShapeException.class, () -> Slice.index(2, 0).computeOutputShape(new long[] {5, 3}));
        ShapeException empty = assertThrows(ShapeException.class, () -> Slice.range(0, 3, 3).computeOutputShape(new long[] {5}));
        assertTrue(empty.getMessage().contains("empty"), empty.getMessage());
    }

    @Test
    void variableLengthSequencesAreSlicedAtRunTime() {
        try (Slice last = Slice.lastStep(); Scope s = Scope.open()) {
            last.build(new long[] {Layer.VARIABLE, 3});
            assertArrayEquals(new long[] {3}, last.outputShape());
            Tensor a = gaussian(1, 2, 4, 3);
            Tensor b = gaussian(1, 2, 7, 3);
            assertArrayEquals(Shapes.select(a, 1, 3).toDoubleArray(), last.apply(a, false).toDoubleArray(), 0);
            assertArrayEquals(Shapes.select(b, 1, 6).toDoubleArray(), last.apply(b, false).toDoubleArray(), 0);
        }
    }

    @Test
    void aSequentialModelWithASliceSavesAndLoads(@TempDir Path dir) throws Exception {
        float[] x = new float[8 * 12];
        SplittableRandom r = new SplittableRandom(3);
        for (int i = 0; i < x.length; i++) x[i] = (float) r.nextGaussian();
        ArrayDataset data = ArrayDataset.withLabels(x, new long[] {12}, new int[] {0, 1, 0, 1, 1, 0, 0, 1});
        Path file = dir.resolve("slice.safetensors");
        float[] before;
        try (Sequential m = new Sequential(new Reshape(4, 3), new SimpleRNN(5).returnSequences(true), Slice.range(0, -2, 4),
                new Flatten(), new Dense(2, "softmax"))) {
            m.seed(1).compile(new Adam(0.01), "sparse_categorical_crossentropy");
            m.fit(data, 4, 1, null);
            try (Tensor p = m.predict(data, 8)) {
                before = p.toFloatArray();
            }
            m.save(file);
        }
        try (Sequential loaded = Sequential.load(file); Tensor p = loaded.predict(data, 8)) {
            assertInstanceOf(Slice.class, loaded.layers().get(2));
            assertArrayEquals(before, p.toFloatArray(), 0f);
        }
    }

    @Test
    void lambdaInSequentialAndFunctionalModels() {
        try (Sequential m = new Sequential(new Dense(4), new Lambda(t -> t.mul(t).sum(new int[] {-1}, true)), new Dense(2));
             Scope s = Scope.open()) {
            Tensor y = m.call(Tensor.zeros(3, 5));
            assertArrayEquals(new long[] {3, 2}, y.shape());
            assertArrayEquals(new long[] {1}, m.layers().get(1).outputShape(), "found by a trial run");
        }
        Input in = Input.of(6);
        Lambda half = new Lambda(t -> Shapes.slice(t, 1, 0, 3, 1));
        Dense head = new Dense(1);
        SymbolicTensor sliced = in.then(half);
        assertArrayEquals(new long[] {3}, sliced.shape(), "found by a trial run when the graph is written");
        SymbolicTensor out = sliced.then(head);
        try (FunctionalModel f = new FunctionalModel(List.of(in), List.of(out)); Scope s = Scope.open()) {
            f.dtype(DType.F64).seed(2);
            Tensor x = gaussian(4, 2, 6);
            Gradcheck.assertGradients("lambda", xs -> f.call(List.of(xs[0])).get(0), x);
            double[] got = f.call(List.of(x)).get(0).toDoubleArray();
            double[] want = Shapes.slice(x, 1, 0, 3, 1).matmul(head.kernel()).add(head.bias()).toDoubleArray();
            assertArrayEquals(want, got, 1e-12);
        }
    }

    @Test
    void lambdaErrorsAreClear(@TempDir Path dir) {
        try (Lambda dropsBatch = new Lambda(t -> t.sum(new int[] {0}, false));
             Lambda lies = new Lambda(t -> t, in -> new long[] {7});
             Scope s = Scope.open()) {
            ShapeException e = assertThrows(ShapeException.class, () -> dropsBatch.apply(Tensor.zeros(2, 3), false));
            assertTrue(e.getMessage().contains("batch"), e.getMessage());
            ShapeException shape = assertThrows(ShapeException.class, () -> lies.apply(Tensor.zeros(2, 3), false));
            assertTrue(shape.getMessage().contains("[batch, 7]"), shape.getMessage());
        }
        try (Lambda variable = new Lambda(t -> t)) {
            assertThrows(ShapeException.class, () -> variable.build(Layer.VARIABLE, 3));
        }
        try (Sequential m = new Sequential(new Dense(2), new Lambda(t -> t.mul(2)))) {
            m.build(3);
            UnsupportedOperationException e = assertThrows(UnsupportedOperationException.class,
                    () -> m.layers().get(1).config());
            assertTrue(e.getMessage().contains("cannot be saved"), e.getMessage());
            Exception save = assertThrows(Exception.class, () -> m.save(dir.resolve("lambda.safetensors")));
            assertTrue(String.valueOf(save.getMessage()).contains("Lambda"), save.toString());
        }
    }
}
