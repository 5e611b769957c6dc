package dev.soma.cuda;

import dev.soma.backend.Backend;
import dev.soma.backend.Backends;
import dev.soma.backend.LossKernels;
import dev.soma.backend.Transfers;
import dev.soma.memory.Scope;
import dev.soma.ops.Losses;
import dev.soma.tensor.DType;
import dev.soma.tensor.Device;
import dev.soma.tensor.Tensor;
import dev.soma.testing.NoLeaks;
import dev.soma.testing.Reference;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;

import static dev.soma.cuda.CudaReductionsTest.compare;
import static dev.soma.cuda.GpuTesting.*;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * The CUDA loss kernels (cuda-kernels/loss.cu) against the CPU backend: MSE, binary cross-entropy from
 * (clamped) probabilities and from logits, softmax cross-entropy with probability targets and with int32
 * labels; forward (the mean loss and the saved softmax) and backward; outputs poisoned with NaN; f32 (1e-4)
 * and f64 (1e-12); two runs bit-identical; sparse categorical cross-entropy through autograd on cuda:0.
 */
@Tag("gpu")
@ExtendWith({NoLeaks.class, GpuSeeds.class})
class CudaLossTest {
    private static final List<DType> DTYPES = List.of(DType.F32, DType.F64);
    /** Element counts: one block, several, and many chunks of partial sums. */
    private static final int[] SIZES = {1, 7, 4097, 100_003};
    /** rows x cols of logits: warp per row, block per row, odd sizes. */
    private static final long[][] ROWS = {{1, 1}, {3, 10}, {37, 1000}, {300, 7}, {2, 2000}, {5, 33}};

    private static Tensor device(double[] v, DType dtype, long... shape) {
        Tensor host = Tensor.of(v, shape);
        return Transfers.to(dtype == DType.F64 ? host : host.to(dtype), GPU);
    }

    private static Tensor host(double[] v, DType dtype, long... shape) {
        if (dtype == DType.F64) return Tensor.of(v, shape);
        double[] r = new double[v.length];
        for (int i = 0; i < v.length; i++) r[i] = (float) v[i];
        return Tensor.of(r, shape);
    }

    private static double[] uniformD(SplittableRandom r, int n, double lo, double hi) {
        return widen(uniform(r, n, lo, hi));
    }

    @Test
    void elementwiseLossesAndTheirBackwardMatchTheCpuBackend() {
        Backend gpu = gpu();
        LossKernels cpu = Backends.cpu().losses();
        long before = gpuLiveBytes();
        SplittableRandom r = random();
        for (String kind : new String[] {"mse", "bce", "bceLogits"}) {
            for (DType dtype : DTYPES) {
                for (int n : SIZES) {
                    try (Scope sc = Scope.open()) {
                        double[] x = switch (kind) {
                            case "mse" -> widen(gaussian(r, n));
                            case "bce" -> uniformD(r, n, 0, 1);
                            default -> uniformD(r, n, -6, 6);
                        };
                        if (kind.equals("bce") && n > 2) {  // values the clamp catches: no gradient there
                            x[0] = 0;
                            x[1] = 1;
                        }
                        double[] z = kind.equals("mse") ? widen(gaussian(r, n)) : uniformD(r, n, 0, 1);
                        double[] g = {r.nextDouble(0.5, 2)};
                        String what = kind + " " + dtype + " n=" + n;
                        Tensor ref = Tensor.empty(DType.F64, Device.cpu());
                        Tensor out = poisoned(dtype);
                        Tensor gref = Tensor.empty(DType.F64, Device.cpu(), n);
                        Tensor gout = poisoned(dtype, n);
                        Tensor hx = host(x, dtype, n);
                        Tensor hz = host(z, dtype, n);
                        Tensor hg = host(g, dtype);
                        Tensor dx = device(x, dtype, n);
                        Tensor dz = device(z, dtype, n);
                        Tensor dg = device(g, dtype);
                        switch (kind) {
                            case "mse" -> {
                                cpu.meanSquaredError(hx, hz, ref);
                                gpu.losses().meanSquaredError(dx, dz, out);
                                cpu.meanSquaredErrorBackward(hx, hz, hg, gref);
                                gpu.losses().meanSquaredErrorBackward(dx, dz, dg, gout);
                            }
                            default -> {
                                boolean logits = kind.equals("bceLogits");
                                cpu.binaryCrossEntropy(logits, hx, hz, ref);
                                gpu.losses().binaryCrossEntropy(logits, dx, dz, out);
                                cpu.binaryCrossEntropyBackward(logits, hx, hz, hg, gref);
                                gpu.losses().binaryCrossEntropyBackward(logits, dx, dz, dg, gout);
                            }
                        }
                        compare(what, dtype, out.toDoubleArray(), ref.toDoubleArray(), Reference.REDUCTION_F32);
                        compare(what + " backward", dtype, gout.toDoubleArray(), gref.toDoubleArray(),
                                Reference.ELEMENTWISE_F32);
                    }
                }
            }
        }
        assertNoGpuLeak(before);
    }

    @Test
    void softmaxCrossEntropiesAndTheirBackwardMatchTheCpuBackend() {
        Backend gpu = gpu();
        LossKernels cpu = Backends.cpu().losses();
        long before = gpuLiveBytes();
        SplittableRandom r = random();
        for (boolean sparse : new boolean[] {false, true}) {
            for (DType dtype : DTYPES) {
                for (long[] s : ROWS) {
                    for (boolean keepProbs : new boolean[] {true, false}) {
                        try (Scope sc = Scope.open()) {
                            int rows = (int) s[0];
                            int cols = (int) s[1];
                            double[] x = widen(gaussian(r, rows * cols));
                            for (int i = 0; i < x.length; i++) x[i] *= 3;
                            x[0] = 90;  // exp(90) overflows f32: the max subtraction must handle it
                            int[] labels = new int[rows];
                            for (int i = 0; i < rows; i++) labels[i] = r.nextInt(cols);
                            double[] t = uniformD(r, rows * cols, 0, 1);  // not normalised: sum(t) matters
                            double[] g = {r.nextDouble(0.5, 2)};
                            String what = (sparse ? "sparse " : "") + "softmax CE " + dtype + " " + Arrays.toString(s)
                                    + (keepProbs ? "" : " without probs");
                            Tensor hx = host(x, dtype, s);
                            Tensor ht = host(t, dtype, s);
                            Tensor hl = Tensor.ofInts(labels, rows);
                            Tensor dx = device(x, dtype, s);
                            Tensor dt = device(t, dtype, s);
                            Tensor dl = Transfers.to(hl, GPU);
                            Tensor ref = Tensor.empty(DType.F64, Device.cpu());
                            Tensor pref = Tensor.empty(DType.F64, Device.cpu(), s);
                            Tensor out = poisoned(dtype);
                            Tensor probs = keepProbs ? poisoned(dtype, s) : null;
                            if (sparse) {
                                cpu.sparseSoftmaxCrossEntropy(hx, hl, ref, pref);
                                gpu.losses().sparseSoftmaxCrossEntropy(dx, dl, out, probs);
                            } else {
                                cpu.softmaxCrossEntropy(hx, ht, ref, pref);
                                gpu.losses().softmaxCrossEntropy(dx, dt, out, probs);
                            }
                            compare(what, dtype, out.toDoubleArray(), ref.toDoubleArray(), Reference.REDUCTION_F32);
                            if (!keepProbs) continue;
                            compare(what + " probs", dtype, probs.toDoubleArray(), pref.toDoubleArray(),
                                    Reference.REDUCTION_F32);
                            // backward from the device's probabilities
                            Tensor hp = Tensor.of(probs.toDoubleArray(), s);
                            Tensor gref = Tensor.empty(DType.F64, Device.cpu(), s);
                            Tensor gout = poisoned(dtype, s);
                            if (sparse) {
                                cpu.sparseSoftmaxCrossEntropyBackward(hp, hl, host(g, dtype), gref);
                                gpu.losses().sparseSoftmaxCrossEntropyBackward(probs, dl, device(g, dtype), gout);
                            } else {
                                cpu.softmaxCrossEntropyBackward(hp, ht, host(g, dtype), gref);
                                gpu.losses().softmaxCrossEntropyBackward(probs, dt, device(g, dtype), gout);
                            }
                            compare(what + " backward", dtype, gout.toDoubleArray(), gref.toDoubleArray(),
                                    Reference.ELEMENTWISE_F32);
                        }
                    }
                }
            }
        }
        assertNoGpuLeak(before);
    }

    /** The batch mean is a fixed-order reduction: two runs give the same bits. */
    @Test
    void twoRunsAreBitIdentical() {
        Backend gpu = gpu();
        long before = gpuLiveBytes();
        SplittableRandom r = random();
        LossKernels k = gpu.losses();
        try (Scope sc = Scope.open()) {
            int n = 100_003;
            Tensor x = device(widen(uniform(r, n, 0, 1)), DType.F32, n);
            Tensor z = device(widen(uniform(r, n, 0, 1)), DType.F32, n);
            float[][] runs = new float[2][];
            for (int i = 0; i < 2; i++) {
                Tensor a = poisoned(DType.F32);
                Tensor b = poisoned(DType.F32);
                Tensor c = poisoned(DType.F32);
                k.meanSquaredError(x, z, a);
                k.binaryCrossEntropy(false, x, z, b);
                k.binaryCrossEntropy(true, x, z, c);
                runs[i] = new float[] {a.toFloatArray()[0], b.toFloatArray()[0], c.toFloatArray()[0]};
            }
            assertArrayEquals(runs[0], runs[1]);
            long[] s = {300, 70};
            Tensor logits = device(widen(gaussian(r, 300 * 70)), DType.F32, s);
            int[] labels = new int[300];
            for (int i = 0; i < labels.length; i++) labels[i] = r.nextInt(70);
            Tensor dl = Transfers.to(Tensor.ofInts(labels, 300), GPU);
            Tensor a = poisoned(DType.F32);
            Tensor b = poisoned(DType.F32);
            k.sparseSoftmaxCrossEntropy(logits, dl, a, null);
            k.sparseSoftmaxCrossEntropy(logits, dl, b, null);
            assertEquals(Float.floatToRawIntBits(a.toFloatArray()[0]), Float.floatToRawIntBits(b.toFloatArray()[0]));
        }
        assertNoGpuLeak(before);
    }

    /** sparseCategoricalCrossEntropy and MSE through dev.soma.ops, forward and backward via autograd. */
    @Test
    void lossOpsOnCudaMatchTheCpu() {
        SplittableRandom r = random();
        int n = 19;
        int c = 11;
        double[] x = widen(gaussian(r, n * c));
        int[] labels = new int[n];
        for (int i = 0; i < n; i++) labels[i] = r.nextInt(c);
        double[] z = widen(gaussian(r, n * c));
        lossesOnCudaMatchTheCpu(x, n, c, (logits, dev) -> {
            Tensor ce = Losses.sparseCategoricalCrossEntropy(logits, Transfers.to(Tensor.ofInts(labels, n), dev));
            Tensor mse = Losses.meanSquaredError(logits, Transfers.to(Tensor.of(z, n, c), dev));
            return List.of(ce, mse, ce.add(mse.mul(0.5)));
        });
    }

    /** Label smoothing composes existing ops: the smoothed cross-entropies on cuda:0 match the CPU, with gradients. */
    @Test
    void labelSmoothedCrossEntropiesOnCudaMatchTheCpu() {
        SplittableRandom r = random();
        int n = 13;
        int c = 7;
        double[] x = widen(gaussian(r, n * c));
        int[] labels = new int[n];
        for (int i = 0; i < n; i++) labels[i] = r.nextInt(c);
        double[] z = uniformD(r, n * c, 0, 1);
        dev.soma.model.Loss sparse = dev.soma.model.Loss.withLabelSmoothing("sparse_categorical_crossentropy", 0.1).fromLogits();
        dev.soma.model.Loss binary = dev.soma.model.Loss.withLabelSmoothing("binary_crossentropy", 0.2).fromLogits();
        lossesOnCudaMatchTheCpu(x, n, c, (logits, dev) -> {
            Tensor a = sparse.compute(logits, Transfers.to(Tensor.ofInts(labels, n), dev));
            Tensor b = binary.compute(logits, Transfers.to(Tensor.of(z, n, c), dev));
            return List.of(a, b, a.add(b));
        });
    }

    /**
     * The losses {@code f} makes from logits {@code x} [n, c] on a device, on the CPU and on cuda:0 (the last one is
     * backwarded): every value and the logits' gradient must agree in f64 to 1e-12, and cuda:0 keeps no live bytes.
     */
    private static void lossesOnCudaMatchTheCpu(double[] x, int n, int c,
                                                java.util.function.BiFunction<Tensor, Device, List<Tensor>> f) {
        gpu();
        long before = gpuLiveBytes();
        double[][] losses = new double[2][];
        double[][] grads = new double[2][];
        for (int pass = 0; pass < 2; pass++) {
            Device dev = pass == 0 ? Device.cpu() : GPU;
            try (Scope sc = Scope.open()) {
                Tensor logits = Transfers.to(Tensor.of(x, n, c), dev).setRequiresGrad(true);
                List<Tensor> values = f.apply(logits, dev);
                values.get(values.size() - 1).backward();
                losses[pass] = values.stream().mapToDouble(Tensor::item).toArray();
                grads[pass] = logits.grad().toDoubleArray();
            }
        }
        Reference.assertClose(losses[1], losses[0], 1e-12);
        Reference.assertClose(grads[1], grads[0], 1e-12);
        assertNoGpuLeak(before);
    }
}
