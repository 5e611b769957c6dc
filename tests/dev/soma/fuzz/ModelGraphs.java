package dev.soma.fuzz;

import dev.soma.data.MultiArrayDataset;
import dev.soma.model.FunctionalModel;
import dev.soma.model.Input;
import dev.soma.model.Loss;
import dev.soma.model.Sequential;
import dev.soma.model.SymbolicTensor;
import dev.soma.nn.*;

import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;

/**
 * Random functional graphs for {@link ModelFuzzTest}: one or two feature inputs and now and then a sequence input
 * (through an LSTM or a pooling to a vector), then two to five random steps over the vectors made so far (a Dense, a
 * Dense shared by two vectors of one width, Add, Multiply, Concatenate, a nested Sequential, normalisations, Dropout),
 * and one or two heads: a softmax over classes (sparse cross-entropy) and a regression (mean squared error).
 */
final class ModelGraphs {
    private ModelGraphs() {}

    /** A model, its inputs' per-example shapes, its heads' losses (in output order) and the class count. */
    record Graph(FunctionalModel model, List<long[]> inputs, List<Loss> losses, int classes) {}

    /** A vector [width] of the graph and the inputs it depends on (bit i: input i). */
    private record Vector(SymbolicTensor tensor, long width, int from) {}

    static Graph draw(SplittableRandom r) {
        LayerKnobs k = new LayerKnobs(r, false);
        List<Input> inputs = new ArrayList<>();
        List<long[]> shapes = new ArrayList<>();
        List<Vector> vectors = new ArrayList<>();
        for (int i = 0, n = 1 + r.nextInt(2); i < n; i++) {
            long width = k.size(2, 6);
            Input in = Input.of(width).named("in" + i);
            inputs.add(in);
            shapes.add(new long[] {width});
            vectors.add(new Vector(in, width, 1 << i));
        }
        if (r.nextInt(3) == 0) {
            long steps = k.size(2, 5), features = k.size(2, 4);
            Input seq = Input.of(steps, features).named("seq");
            inputs.add(seq);
            shapes.add(new long[] {steps, features});
            int units = k.count(2, 4), bit = 1 << (inputs.size() - 1);
            vectors.add(r.nextBoolean() ? new Vector(seq.then(new LSTM(units)), units, bit)
                    : new Vector(seq.then(new GlobalAveragePooling1D()), features, bit));
        }
        for (int step = 0, n = 2 + r.nextInt(4); step < n; step++) {
            Vector a = vectors.get(r.nextInt(vectors.size()));
            Vector b = sameWidth(vectors, a, r);
            switch (r.nextInt(8)) {
                case 0 -> {
                    int units = k.count(2, 6);
                    vectors.add(new Vector(a.tensor().then(new Dense(units, k.activation())), units, a.from()));
                }
                case 1 -> {
                    if (b == null) continue;
                    int units = k.count(2, 6);
                    Dense shared = new Dense(units, k.activation()); // one layer, one set of weights, two uses
                    vectors.add(new Vector(a.tensor().then(shared), units, a.from()));
                    vectors.add(new Vector(b.tensor().then(shared), units, b.from()));
                }
                case 2 -> {
                    if (b == null) continue;
                    Merge m = r.nextBoolean() ? new Add() : new Multiply();
                    vectors.add(new Vector(SymbolicTensor.apply(m, a.tensor(), b.tensor()), a.width(), a.from() | b.from()));
                }
                case 3 -> {
                    Vector c = vectors.get(r.nextInt(vectors.size()));
                    if (c == a) continue;
                    vectors.add(new Vector(SymbolicTensor.apply(new Concatenate(), a.tensor(), c.tensor()),
                            a.width() + c.width(), a.from() | c.from()));
                }
                case 4 -> {
                    int units = k.count(2, 5);
                    Sequential nested = new Sequential(new Dense(units + 1, "relu"), new Dense(units, k.activation()));
                    vectors.add(new Vector(a.tensor().then(nested.asLayer()), units, a.from()));
                }
                case 5 -> vectors.add(new Vector(a.tensor().then(r.nextBoolean() ? new BatchNormalization()
                        : new LayerNormalization()), a.width(), a.from()));
                case 6 -> vectors.add(new Vector(a.tensor().then(new Dropout(k.rate(0.5))), a.width(), a.from()));
                default -> {
                    int units = k.count(3, 6);
                    vectors.add(new Vector(a.tensor().then(new DaleDense(units, k.activation())), units, a.from()));
                }
            }
        }
        int classes = 2 + r.nextInt(3);
        List<SymbolicTensor> outputs = new ArrayList<>();
        List<Loss> losses = new ArrayList<>();
        Vector last = connected(vectors, (1 << inputs.size()) - 1);
        outputs.add(last.tensor().then(new Dense(classes, "softmax")).named("cls"));
        losses.add(Loss.byName("sparse_categorical_crossentropy"));
        if (r.nextBoolean()) {
            Vector other = vectors.get(r.nextInt(vectors.size()));
            outputs.add(other.tensor().then(new Dense(1)).named("reg"));
            losses.add(Loss.byName("mse"));
        }
        return new Graph(new FunctionalModel(inputs, outputs), shapes, losses, classes);
    }

    /**
     * The last vector, joined (Concatenate) with the latest vector of each input it does not depend on: every input
     * reaches the first head (a model refuses an input connected to no output).
     */
    private static Vector connected(List<Vector> vectors, int all) {
        Vector last = vectors.get(vectors.size() - 1);
        List<SymbolicTensor> parts = new ArrayList<>(List.of(last.tensor()));
        long width = last.width();
        int from = last.from();
        for (int i = vectors.size() - 1; i >= 0 && from != all; i--) {
            Vector v = vectors.get(i);
            if ((v.from() & ~from) != 0) {
                parts.add(v.tensor());
                width += v.width();
                from |= v.from();
            }
        }
        if (parts.size() == 1) return last;
        return new Vector(SymbolicTensor.apply(new Concatenate(), parts.toArray(new SymbolicTensor[0])), width, from);
    }

    /** Another vector of a's width, or null. */
    private static Vector sameWidth(List<Vector> vectors, Vector a, SplittableRandom r) {
        List<Vector> same = new ArrayList<>();
        for (Vector v : vectors) if (v != a && v.width() == a.width()) same.add(v);
        return same.isEmpty() ? null : same.get(r.nextInt(same.size()));
    }

    /** Gaussian inputs, class labels for the first head and a regression target for the second. */
    static MultiArrayDataset data(Graph g, int n, long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        MultiArrayDataset.Builder b = MultiArrayDataset.builder();
        for (long[] shape : g.inputs()) {
            long per = 1;
            for (long d : shape) per *= d;
            float[] x = new float[Math.toIntExact(n * per)];
            for (int i = 0; i < x.length; i++) x[i] = (float) r.nextGaussian();
            b.input(x, shape);
        }
        int[] y = new int[n];
        for (int i = 0; i < n; i++) y[i] = r.nextInt(g.classes());
        b.labels(y);
        if (g.losses().size() > 1) {
            float[] t = new float[n];
            for (int i = 0; i < n; i++) t[i] = (float) r.nextGaussian();
            b.targets(t, 1);
        }
        return b.build();
    }
}
