package dev.soma.distributed;

import dev.soma.data.ArrayDataset;
import dev.soma.model.FitOptions;
import dev.soma.model.Sequential;
import dev.soma.nn.Conv2D;
import dev.soma.nn.Dense;
import dev.soma.nn.Embedding;
import dev.soma.nn.Flatten;
import dev.soma.nn.GlobalAveragePooling1D;
import dev.soma.nn.LSTM;
import dev.soma.nn.LayerNormalization;
import dev.soma.nn.MaxPooling2D;
import dev.soma.nn.Param;
import dev.soma.nn.TokenAndPositionEmbedding;
import dev.soma.nn.TransformerEncoder;
import dev.soma.optim.SGD;
import dev.soma.tensor.DType;

import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;

/**
 * The models and data of the data-parallel equivalence test, shared by the 2-rank run (DataParallelMain under
 * mpirun) and the 1-rank reference (in the test's JVM). The reference models' architectures (ReferenceModels' cnn,
 * lstm and transformer) at small widths, without dropout: dropout draws its masks per batch position, so it cannot
 * give the same masks to a batch cut in two. 88 examples: 3 global batches of 32 per epoch, the last one short (24).
 */
final class EquivalenceCases {
    private EquivalenceCases() {}

    static final List<String> MODELS = List.of("cnn", "lstm", "attention");
    static final int EXAMPLES = 88, EPOCHS = 2, BATCH_PER_RANK = 16, VOCAB = 20, STEPS = 6;

    static Sequential model(String name, DType dtype, long seed) {
        Sequential m = switch (name) {
            case "cnn" -> new Sequential(new Conv2D(8, 3, "relu").padding("same"), new Conv2D(8, 3, "relu").padding("same"),
                    new MaxPooling2D(2), new Flatten(), new Dense(16, "relu"), new Dense(10, "softmax"));
            case "lstm" -> new Sequential(new Embedding(VOCAB, 8, true), new LSTM(8), new Dense(2, "softmax"));
            case "attention" -> new Sequential(new TokenAndPositionEmbedding(VOCAB, STEPS, 8, false, true),
                    new TransformerEncoder(2, 16, 0.0), new LayerNormalization(), new GlobalAveragePooling1D(),
                    new Dense(2, "softmax"));
            // Not one of MODELS: a parameter that some batches leave without a gradient (DataParallelTest).
            case "branch" -> new Sequential(new BranchLayer(8), new Dense(2, "softmax"));
            default -> throw new IllegalArgumentException(name);
        };
        // The inputs arrive as f32: an f64 CNN (or branch model) casts them first (a Lambda, so that model cannot be checkpointed).
        if ((name.equals("cnn") || name.equals("branch")) && dtype != DType.F32) {
            m = prepend(new dev.soma.nn.Lambda(x -> x.to(dtype)), m);
        }
        m.dtype(dtype).seed(seed);
        // SGD with momentum: Adam divides by the root of its second moment, which turns the rounding of gradient
        // entries near zero into updates of full learning-rate size (measured with Adam(0.01): 8.6e-5 in f32 for
        // the attention model after 6 steps, against 1e-7 for the others); that is Adam's sensitivity, not a
        // difference of the data-parallel gradient.
        m.compile(new SGD(0.1, 0.9, false), "sparse_categorical_crossentropy", "accuracy");
        return m;
    }

    private static Sequential prepend(dev.soma.nn.Layer first, Sequential rest) {
        Sequential out = new Sequential(first);
        for (dev.soma.nn.Layer l : rest.layers()) out.add(l);
        return out;
    }

    /** The model's BranchLayer ("branch" only). */
    static BranchLayer branchLayer(Sequential m) {
        for (dev.soma.nn.Layer l : m.layers()) if (l instanceof BranchLayer b) return b;
        throw new AssertionError("no BranchLayer in " + m.layers());
    }

    static ArrayDataset data(String name) {
        SplittableRandom r = new SplittableRandom(7);
        int[] labels = new int[EXAMPLES];
        if (name.equals("branch")) {
            // Three examples of 88 take the branch (first feature 0.9; the others stay below 0.5), so some global
            // batches have none, and others have one, on one rank's part only.
            float[] x = new float[EXAMPLES * 4];
            for (int i = 0; i < x.length; i++) x[i] = (float) r.nextDouble(-0.5, 0.5);
            for (int i : new int[] {5, 40, 77}) x[i * 4] = 0.9f;
            for (int i = 0; i < EXAMPLES; i++) labels[i] = r.nextInt(2);
            return ArrayDataset.withLabels(x, new long[] {4}, labels);
        }
        if (name.equals("cnn")) {
            float[] x = new float[EXAMPLES * 8 * 8];
            for (int i = 0; i < x.length; i++) x[i] = (float) r.nextDouble(-1, 1);
            for (int i = 0; i < EXAMPLES; i++) labels[i] = r.nextInt(10);
            return ArrayDataset.withLabels(x, new long[] {8, 8, 1}, labels);
        }
        float[] ids = new float[EXAMPLES * STEPS];
        for (int i = 0; i < EXAMPLES; i++) {
            int length = 2 + r.nextInt(STEPS - 1); // trailing padding (id 0) that the masks skip
            for (int t = 0; t < length; t++) ids[i * STEPS + t] = 1 + r.nextInt(VOCAB - 1);
            labels[i] = ids[i * STEPS] > VOCAB / 2 ? 1 : 0;
        }
        return ArrayDataset.withLabels(ids, new long[] {STEPS}, labels);
    }

    static FitOptions options(int batch, boolean dataParallel) {
        return new FitOptions().batchSize(batch).epochs(EPOCHS).seed(11).verbose(0).dataParallel(dataParallel);
    }

    static void writeWeights(Sequential m, Path file) throws IOException {
        try (DataOutputStream out = new DataOutputStream(Files.newOutputStream(file))) {
            List<Param> ps = m.params();
            out.writeInt(ps.size());
            for (Param p : ps) {
                double[] v = p.value().to(DType.F64).toDoubleArray();
                out.writeInt(v.length);
                for (double d : v) out.writeDouble(d);
            }
        }
    }

    static List<double[]> readWeights(Path file) throws IOException {
        try (DataInputStream in = new DataInputStream(Files.newInputStream(file))) {
            int n = in.readInt();
            List<double[]> out = new ArrayList<>();
            for (int i = 0; i < n; i++) {
                double[] v = new double[in.readInt()];
                for (int k = 0; k < v.length; k++) v[k] = in.readDouble();
                out.add(v);
            }
            return out;
        }
    }

    /**
     * Checks that both ranks wrote the same weights ({@code <out>/<name>-rank0.bin}, {@code -rank1.bin}), trains the
     * one-process reference in this JVM ({@code train} on a fresh {@code model}, its weights kept as
     * {@code <name>-one.bin}) and returns the relative difference of rank 0's weights from it.
     */
    static double ranksAgainstOneProcess(Path out, String name, java.util.function.Supplier<Sequential> model,
                                         java.util.function.Consumer<Sequential> train) throws IOException {
        List<double[]> rank0 = readWeights(out.resolve(name + "-rank0.bin"));
        List<double[]> rank1 = readWeights(out.resolve(name + "-rank1.bin"));
        for (int i = 0; i < rank0.size(); i++) {
            org.junit.jupiter.api.Assertions.assertArrayEquals(rank0.get(i), rank1.get(i), 0.0, name + " param " + i);
        }
        try (dev.soma.memory.Scope s = dev.soma.memory.Scope.open(); Sequential m = model.get()) {
            train.accept(m);
            Path f = out.resolve(name + "-one.bin");
            writeWeights(m, f);
            return relativeDifference(rank0, readWeights(f));
        }
    }

    /**
     * sqrt(sum (a - b)^2 / sum b^2) over every weight: how far a run's weights {@code a} are from the reference
     * {@code b}. An AssertionError when the counts differ or a weight of {@code a} is not finite.
     */
    static double relativeDifference(List<double[]> a, List<double[]> b) {
        if (a.size() != b.size()) throw new AssertionError("weight count " + a.size() + ", expected " + b.size());
        double diff = 0, norm = 0;
        for (int i = 0; i < b.size(); i++) {
            for (int k = 0; k < b.get(i).length; k++) {
                if (!Double.isFinite(a.get(i)[k])) throw new AssertionError("weight " + i + "[" + k + "] is " + a.get(i)[k]);
                diff += Math.pow(a.get(i)[k] - b.get(i)[k], 2);
                norm += Math.pow(b.get(i)[k], 2);
            }
        }
        return Math.sqrt(diff / norm);
    }
}
