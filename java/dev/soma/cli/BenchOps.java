package dev.soma.cli;

import dev.soma.custom.Cost;
import dev.soma.custom.CustomOp;
import dev.soma.custom.examples.FusedSilu;
import dev.soma.custom.examples.RowTopK;
import dev.soma.ops.Convolution;
import dev.soma.ops.Elementwise;
import dev.soma.ops.Linalg;
import dev.soma.ops.Reductions;
import dev.soma.tensor.DType;
import dev.soma.tensor.Device;
import dev.soma.tensor.Tensor;

import java.util.LinkedHashMap;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.function.Function;

/**
 * The ops {@code soma bench op} can sweep: for a device and a size, the inputs (f32, seeded), the call to time
 * and its declared cost (FLOPs; bytes = each input read once, each output written once). What "size" means
 * differs per op and is said in {@link Entry#sizeMeaning}.
 */
final class BenchOps {
    /** One prepared call: inputs already on the device; {@link #run} returns the outputs (closed by the runner). */
    interface Case {
        Tensor[] run();

        Cost cost();

        String shape();
    }

    record Entry(String name, String sizeMeaning, long[] defaultSizes, Maker maker) {}

    @FunctionalInterface
    interface Maker {
        Case make(Device device, long size);
    }

    static final int SOFTMAX_ROWS = 256;
    static final int TOPK_ROWS = 256;
    static final int TOPK_K = 8;
    static final int CONV_BATCH = 8;
    static final int CONV_IN = 32;
    static final int CONV_OUT = 64;

    static final Map<String, Entry> ALL = new LinkedHashMap<>();

    static {
        add(new Entry("add", "n elements: a[n] + b[n]", new long[] {1 << 16, 1 << 20, 1 << 22},
                (d, n) -> elementwise(d, n, 2, x -> Elementwise.add(x[0], x[1]), 1, 12)));
        add(new Entry("relu", "n elements", new long[] {1 << 16, 1 << 20, 1 << 22},
                (d, n) -> elementwise(d, n, 1, x -> Elementwise.relu(x[0]), 1, 8)));
        add(new Entry("silu", "n elements (custom op: fused x * sigmoid(x))", new long[] {1 << 16, 1 << 20, 1 << 22},
                (d, n) -> custom(FusedSilu.OP, random(d, 1, n))));
        add(new Entry("silu-composite", "n elements (built-in ops: x.mul(x.sigmoid()); cost counted as for silu)",
                new long[] {1 << 16, 1 << 20, 1 << 22},
                (d, n) -> elementwise(d, n, 1, x -> x[0].mul(x[0].sigmoid()), 5, 8)));
        add(new Entry("matmul", "n: [n, n] @ [n, n]", new long[] {128, 256, 512, 1024},
                (d, n) -> {
                    Tensor a = random(d, 1, n, n);
                    Tensor b = random(d, 2, n, n);
                    return of(() -> new Tensor[] {Linalg.matmul(a, b)}, new Cost(2.0 * n * n * n, 12.0 * n * n),
                            "[" + n + ", " + n + "] @ [" + n + ", " + n + "]");
                }));
        add(new Entry("softmax", "n columns: softmax over the last axis of [" + SOFTMAX_ROWS + ", n]",
                new long[] {256, 4096, 16384},
                (d, n) -> {
                    Tensor x = random(d, 1, SOFTMAX_ROWS, n);
                    double e = (double) SOFTMAX_ROWS * n;
                    return of(() -> new Tensor[] {Reductions.softmax(x, -1)}, new Cost(5 * e, 8 * e),
                            "[" + SOFTMAX_ROWS + ", " + n + "]");
                }));
        add(new Entry("conv2d", "n: 3x3 'same' convolution of [" + CONV_BATCH + ", n, n, " + CONV_IN + "] to " + CONV_OUT
                + " channels", new long[] {14, 28, 56},
                (d, n) -> {
                    Tensor x = random(d, 1, CONV_BATCH, n, n, CONV_IN);
                    Tensor k = random(d, 2, 3, 3, CONV_IN, CONV_OUT);
                    double outs = (double) CONV_BATCH * n * n * CONV_OUT;
                    Cost c = new Cost(2 * outs * 9 * CONV_IN, 4 * (x.numel() + k.numel() + outs));
                    return of(() -> new Tensor[] {Convolution.conv2d(x, k, null, "same")}, c,
                            "[" + CONV_BATCH + ", " + n + ", " + n + ", " + CONV_IN + "] * [3, 3, " + CONV_IN + ", " + CONV_OUT + "]");
                }));
        add(new Entry("topk", "n columns: the top " + TOPK_K + " of each row of [" + TOPK_ROWS + ", n] (custom op)",
                new long[] {256, 4096, 16384},
                (d, n) -> custom(RowTopK.of(TOPK_K), random(d, 1, TOPK_ROWS, n))));
    }

    private BenchOps() {}

    private static void add(Entry e) {
        ALL.put(e.name(), e);
    }

    static Entry get(String name) {
        Entry e = ALL.get(name);
        if (e == null) {
            throw new IllegalArgumentException("bench op: unknown op '" + name + "'; known: " + String.join(", ", ALL.keySet()));
        }
        return e;
    }

    private static Case of(java.util.function.Supplier<Tensor[]> run, Cost cost, String shape) {
        return new Case() {
            public Tensor[] run() {
                return run.get();
            }

            public Cost cost() {
                return cost;
            }

            public String shape() {
                return shape;
            }
        };
    }

    private static Case elementwise(Device d, long n, int inputs, Function<Tensor[], Tensor> f, double flopsPerElement,
                                    double bytesPerElement) {
        Tensor[] x = new Tensor[inputs];
        for (int i = 0; i < inputs; i++) x[i] = random(d, i + 1, n);
        return of(() -> new Tensor[] {f.apply(x)}, new Cost(flopsPerElement * n, bytesPerElement * n), "[" + n + "]");
    }

    private static Case custom(CustomOp op, Tensor... inputs) {
        Cost c = op.cost(inputs);
        StringBuilder shape = new StringBuilder();
        for (Tensor t : inputs) shape.append(shape.length() == 0 ? "" : ", ").append(java.util.Arrays.toString(t.shape()));
        return of(() -> op.applyAll(inputs), c, shape.toString());
    }

    /** Seeded standard-normal f32 values on the device (made on the CPU, copied over). */
    static Tensor random(Device d, long seed, long... shape) {
        long n = 1;
        for (long s : shape) n = Math.multiplyExact(n, s);
        SplittableRandom r = new SplittableRandom(seed);
        float[] v = new float[Math.toIntExact(n)];
        for (int i = 0; i < v.length; i++) v[i] = (float) r.nextGaussian();
        Tensor t = Tensor.empty(DType.F32, d, shape);
        t.backend().memory().write(t, v);
        return t;
    }
}
