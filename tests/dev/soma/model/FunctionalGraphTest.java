package dev.soma.model;

import dev.soma.autograd.Gradcheck;
import dev.soma.data.ArrayDataset;
import dev.soma.errors.ShapeException;
import dev.soma.memory.Scope;
import dev.soma.nn.Add;
import dev.soma.nn.Concatenate;
import dev.soma.nn.Dense;
import dev.soma.nn.Layer;
import dev.soma.nn.Param;
import dev.soma.optim.Adam;
import dev.soma.tensor.DType;
import dev.soma.tensor.Tensor;
import dev.soma.testing.NoLeaks;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

import java.nio.file.Path;
import java.util.List;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.*;

/** The graph itself: validation messages, shared layers, summary, and equivalence with Sequential. */
@ExtendWith(NoLeaks.class)
class FunctionalGraphTest {
    @Test
    void aSharedLayerHasOneSetOfWeightsAndCorrectGradients() {
        Input a = Input.of(3).named("a");
        Input b = Input.of(3).named("b");
        Dense shared = new Dense(4, "tanh");
        Dense head = new Dense(2);
        SymbolicTensor sum = SymbolicTensor.apply(new Add(), a.then(shared), b.then(shared));
        try (FunctionalModel model = new FunctionalModel(List.of(a, b), List.of(sum.then(head)))) {
            model.dtype(DType.F64).seed(3);
            model.build();
            assertEquals(3, model.layers().size(), "shared dense, add, head");
            assertEquals(4, model.nodes().size(), "shared dense applied twice, add, head");
            List<Param> params = model.params();
            assertEquals(4, params.size(), "one kernel and bias for the shared layer, one for the head");
            assertEquals(3 * 4 + 4 + 4 * 2 + 2, model.paramCount());
            assertEquals(DType.F64, shared.kernel().dtype());
            try (Scope s = Scope.open()) {
                SplittableRandom r = new SplittableRandom(5);
                double[] xa = new double[5 * 3], xb = new double[5 * 3];
                for (int i = 0; i < xa.length; i++) {
                    xa[i] = r.nextDouble(-1, 1);
                    xb[i] = r.nextDouble(-1, 1);
                }
                Tensor ta = Tensor.of(xa, 5, 3), tb = Tensor.of(xb, 5, 3);
                // The shared kernel's gradient is the sum over both applications; finite differences see both.
                Gradcheck.assertGradients("shared dense", xs -> model.call(List.of(xs[0], xs[1])).get(0),
                        ta, tb, shared.kernel(), shared.bias(), head.kernel());
                // And the two applications really use one weight: the model equals the hand-written formula.
                double[] got = model.call(List.of(ta, tb)).get(0).toDoubleArray();
                Tensor manual = ta.matmul(shared.kernel()).add(shared.bias()).tanh()
                        .add(tb.matmul(shared.kernel()).add(shared.bias()).tanh())
                        .matmul(head.kernel()).add(head.bias());
                assertArrayEquals(manual.toDoubleArray(), got, 0.0);
            }
        }
    }

    @Test
    void anOutputNotReachableFromTheInputsIsReported() {
        Input a = Input.of(4).named("a");
        Input c = Input.of(4).named("c");
        SymbolicTensor fromA = a.then(new Dense(2));
        SymbolicTensor fromC = c.then(new Dense(2)).named("stray");
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> new FunctionalModel(List.of(a), List.of(fromA, fromC)));
        assertTrue(e.getMessage().contains("output 1 ('stray') is not connected to the model's inputs")
                && e.getMessage().contains("input 'c' [4]") && e.getMessage().contains("'a' [4]"), e.getMessage());
    }

    @Test
    void anInputThatIsNotGivenIsReported() {
        Input a = Input.of(4).named("a");
        Input b = Input.of(3).named("b");
        SymbolicTensor joined = SymbolicTensor.apply(new Concatenate(), a, b).then(new Dense(2));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> new FunctionalModel(List.of(a), List.of(joined)));
        assertTrue(e.getMessage().contains("depends on input 'b' [3], which is not among the inputs given"), e.getMessage());
        // Given at construction but missing at call time.
        try (FunctionalModel m = new FunctionalModel(List.of(a, b), List.of(joined)); Scope s = Scope.open()) {
            e = assertThrows(IllegalArgumentException.class, () -> m.call(List.of(Tensor.zeros(2, 4))));
            assertTrue(e.getMessage().contains("takes 2 input(s) ('a' [4], 'b' [3]), got 1"), e.getMessage());
            ShapeException se = assertThrows(ShapeException.class, () -> m.call(List.of(Tensor.zeros(2, 4), Tensor.zeros(2, 4))));
            assertTrue(se.getMessage().contains("input 'b' expects shape [batch, 3]"), se.getMessage());
            se = assertThrows(ShapeException.class, () -> m.call(List.of(Tensor.zeros(2, 4), Tensor.zeros(3, 3))));
            assertTrue(se.getMessage().contains("differ in batch size"), se.getMessage());
        }
        // An input that feeds no output.
        SymbolicTensor onlyA = a.then(new Dense(2));
        e = assertThrows(IllegalArgumentException.class, () -> new FunctionalModel(List.of(a, b), List.of(onlyA)));
        assertTrue(e.getMessage().contains("input 'b' [3] is not connected to any output"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> new FunctionalModel(List.of(a, a), List.of(onlyA)));
        assertTrue(e.getMessage().contains("input 'a' is given twice"), e.getMessage());
    }

    @Test
    void shapeMismatchesNameTheLayers() {
        Input a = Input.of(4).named("a");
        Dense d8 = new Dense(8);
        Dense d5 = new Dense(5);
        SymbolicTensor h8 = a.then(d8), h5 = a.then(d5);
        Add add = new Add();
        ShapeException e = assertThrows(ShapeException.class, () -> SymbolicTensor.apply(add, h8, h5));
        assertTrue(e.getMessage().contains(add.name() + " (Add) applied to '" + d8.name() + "' [8], '" + d5.name() + "' [5]")
                && e.getMessage().contains("same shape"), e.getMessage());
        Dense one = new Dense(2);
        e = assertThrows(ShapeException.class, () -> SymbolicTensor.apply(one, h8, h5));
        assertTrue(e.getMessage().contains(one.name()) && e.getMessage().contains("takes one input, got 2"), e.getMessage());
        // A shared layer fed two different shapes.
        Dense shared = new Dense(3);
        SymbolicTensor s8 = h8.then(shared), s5 = h5.then(shared);
        e = assertThrows(ShapeException.class,
                () -> new FunctionalModel(List.of(a), List.of(SymbolicTensor.apply(new Add(), s8, s5))));
        assertTrue(e.getMessage().contains("layer " + shared.name() + " is shared by applications with different input shapes")
                && e.getMessage().contains("[8]") && e.getMessage().contains("[5]"), e.getMessage());
        // A layer already built for another shape.
        try (Scope s = Scope.open()) {
            Dense built = new Dense(2);
            built.apply(Tensor.zeros(1, 7), false);
            e = assertThrows(ShapeException.class, () -> a.then(built));
            assertTrue(e.getMessage().contains(built.name()) && e.getMessage().contains("built for input shape [7], not [4]"),
                    e.getMessage());
            built.close();
        }
    }

    @Test
    void summaryShowsConnectionsAndCountsSharedWeightsOnce() {
        Input a = Input.of(4).named("left");
        Input b = Input.of(4).named("right");
        Dense shared = new Dense(6, "relu");
        Concatenate cat = new Concatenate();
        Dense head = new Dense(2, "softmax");
        SymbolicTensor out = SymbolicTensor.apply(cat, a.then(shared), b.then(shared)).then(head);
        try (FunctionalModel m = new FunctionalModel(List.of(a, b), List.of(out))) {
            String s = m.summary();
            assertTrue(s.contains("Connected to"), s);
            assertTrue(s.contains("left (InputLayer)") && s.contains("right (InputLayer)"), s);
            assertTrue(s.contains("left[0][0]") && s.contains("right[0][0]"), s);
            assertTrue(s.contains(shared.name() + "[0][0]") && s.contains(shared.name() + "[1][0]"), s);
            assertTrue(s.contains("(None, 12)"), s);
            assertTrue(s.contains("Total params: " + (4 * 6 + 6 + 12 * 2 + 2)), s);
            assertEquals(1, s.split(shared.name() + " \\(Dense\\)", -1).length - 1, "a shared layer is listed once: " + s);
        }
    }

    @Test
    void aFunctionalModelEqualToASequentialOneTrainsAndPredictsIdentically() {
        ArrayDataset data = TrainingLoopTest.blobs(200, 21);
        Input in = Input.of(4);
        SymbolicTensor out = in.then(new Dense(8, "relu")).then(new Dense(3, "softmax"));
        try (Sequential seq = new Sequential(new Dense(8, "relu"), new Dense(3, "softmax"));
             FunctionalModel fun = new FunctionalModel(List.of(in), List.of(out))) {
            seq.seed(9).build(4);
            fun.seed(1234).build();
            List<Param> ps = seq.params(), pf = fun.params();
            assertEquals(ps.size(), pf.size());
            for (int i = 0; i < ps.size(); i++) pf.get(i).value().backend().memory().copy(ps.get(i).value(), pf.get(i).value());
            try (Tensor p1 = seq.predict(data, 64); Tensor p2 = fun.predict(data, 64)) {
                assertArrayEquals(p1.toFloatArray(), p2.toFloatArray(), 0f);
            }
            // The same training (folded softmax + cross-entropy on both) gives the same losses, bit for bit.
            seq.compile(new Adam(0.01), "sparse_categorical_crossentropy", "accuracy");
            fun.compile(new Adam(0.01), "sparse_categorical_crossentropy", "accuracy");
            FitOptions opts = new FitOptions().batchSize(16).epochs(2).seed(4).verbose(0);
            History hs = seq.fit(data, opts), hf = fun.fit(data, opts);
            assertEquals(hs.get("loss"), hf.get("loss"));
            assertEquals(hs.get("accuracy"), hf.get("accuracy"));
            try (Tensor p1 = seq.predict(data, 64); Tensor p2 = fun.predict(data, 64)) {
                assertArrayEquals(p1.toFloatArray(), p2.toFloatArray(), 0f);
            }
        }
    }

    @Test
    void aFunctionalModelSavesBeforeItsFirstUseAndCheckpointsDuringFit(@org.junit.jupiter.api.io.TempDir Path dir)
            throws Exception {
        Input in = Input.of(4);
        var data = TrainingLoopTest.blobs(32, 1);
        float[] before;
        try (FunctionalModel m = new FunctionalModel(List.of(in), List.of(in.then(new Dense(3, "softmax"))))) {
            m.compile(new Adam(0.01), "sparse_categorical_crossentropy");
            m.save(dir.resolve("unused.safetensors"));   // builds the model: its weights are saved, not left to chance
            try (FunctionalModel back = FunctionalModel.load(dir.resolve("unused.safetensors"));
                 Tensor p1 = m.predict(data, 32); Tensor p2 = back.predict(data, 32)) {
                assertArrayEquals(p1.toFloatArray(), p2.toFloatArray());
            }
            m.fit(data, new FitOptions().epochs(1).verbose(0).callbacks(new ModelCheckpoint(dir.resolve("m.safetensors"))));
            try (Tensor p = m.predict(data, 32)) {
                before = p.toFloatArray();
            }
        }
        try (FunctionalModel back = FunctionalModel.load(dir.resolve("m.safetensors")); Tensor p = back.predict(data, 32)) {
            assertArrayEquals(before, p.toFloatArray());
        }
    }

    @Test
    void layersOfAModelAreListedOnceInOrderOfFirstUse() {
        Input in = Input.of(2);
        Dense d = new Dense(2);
        SymbolicTensor x = in.then(d).then(d).then(d);
        try (FunctionalModel m = new FunctionalModel(List.of(in), List.of(x))) {
            List<Layer> layers = m.layers();
            assertEquals(List.of(d), layers);
            assertEquals(3, m.nodes().size());
        }
    }
}
