package dev.soma.cuda;

import dev.soma.backend.Backend;
import dev.soma.backend.Backends;
import dev.soma.backend.ElementwiseKernels.BiasActivation;
import dev.soma.errors.DeviceException;
import dev.soma.memory.Scope;
import dev.soma.nn.Activations;
import dev.soma.tensor.DType;
import dev.soma.tensor.Device;
import dev.soma.tensor.Tensor;
import dev.soma.testing.NoLeaks;
import dev.soma.testing.Reference;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

import java.util.Arrays;
import java.util.SplittableRandom;

import static dev.soma.cuda.GpuTesting.*;
import static org.junit.jupiter.api.Assertions.*;

/**
 * The CUDA bias-activation kernels against the CPU backend: fresh random inputs, outputs poisoned with NaN,
 * shapes that take the 16-byte path (columns a multiple of the pack) and the scalar one (odd columns), and
 * misaligned operands (views one element into their buffer). Kernels compared in float64 on the CPU; the op
 * (autograd, dbias reduction) compared end to end. Bounds from DESIGN.md: 1e-5 relative in f32, 1e-12 in f64.
 */
@Tag("gpu")
@ExtendWith({NoLeaks.class, GpuSeeds.class})
class CudaBiasActivationTest {
    private static final double ALPHA = Activations.LEAKY_RELU_ALPHA;
    private static final long[][] SHAPES = {{1, 1}, {7, 13}, {64, 128}, {3, 5, 6}, {1000, 37}, {257, 64}, {2, 4}};

    /** {@code values} as a [.., cols] tensor of {@code dtype} on {@code device}, one element into its buffer when shifted. */
    private static Tensor make(double[] values, long[] shape, DType dtype, Device device, boolean shifted) {
        double[] v = values;
        if (shifted) {
            v = new double[values.length + 1];
            System.arraycopy(values, 0, v, 1, values.length);
        }
        Tensor host = Tensor.of(v, v.length).to(dtype);
        Tensor placed = device.isCpu() ? host : dev.soma.backend.Transfers.to(host, device);
        long[] strides = new long[shape.length];
        long s = 1;
        for (int d = shape.length - 1; d >= 0; d--) {
            strides[d] = s;
            s *= shape[d];
        }
        return placed.viewOf(placed.offset() + (shifted ? 1 : 0), shape, strides);
    }

    private static double[] rounded(float[] f) {
        return widen(f);
    }

    @ParameterizedTest
    @EnumSource(BiasActivation.class)
    void kernelsMatchTheCpuBackend(BiasActivation act) {
        Backend gpu = gpu();
        Backend cpu = Backends.cpu();
        long before = gpuLiveBytes();
        SplittableRandom r = random();
        for (DType dtype : new DType[] {DType.F32, DType.F64}) {
            for (long[] shape : SHAPES) {
                for (boolean shifted : new boolean[] {false, true}) {
                    try (Scope s = Scope.open()) {
                        long cols = shape[shape.length - 1];
                        int n = (int) numel(shape);
                        long[] bshape = {cols};
                        // y + bias within [-3, 3], the unary kernels' test domain: further out, f32 GELU's
                        // 1 + erf(x / sqrt 2) cancels and a lone element's relative error says nothing of the kernel.
                        double[] yv = rounded(uniform(r, n, -2, 2));
                        double[] bv = rounded(uniform(r, (int) cols, -1, 1));
                        double[] gv = rounded(gaussian(r, n));
                        String what = act + " " + dtype + " " + Arrays.toString(shape) + (shifted ? " misaligned" : "");

                        Tensor out64 = Tensor.empty(DType.F64, Device.cpu(), shape);
                        cpu.elementwise().biasActivation(act, make(yv, shape, DType.F64, Device.cpu(), false),
                                make(bv, bshape, DType.F64, Device.cpu(), false), out64, ALPHA);
                        Tensor y = make(yv, shape, dtype, GPU, shifted);
                        Tensor b = make(bv, bshape, dtype, GPU, shifted);
                        Tensor out = poisoned(dtype, shape);
                        gpu.elementwise().biasActivation(act, y, b, out, ALPHA);
                        compare(what, dtype, out.toDoubleArray(), out64.toDoubleArray());

                        // The backward's reference reads the device's output (a saturated f32 sigmoid keeps few bits
                        // of 1 - y: an f64 output would compare the forward's rounding, not the backward).
                        Tensor outDevice = Tensor.of(out.toDoubleArray(), shape);
                        Tensor gi64 = Tensor.empty(DType.F64, Device.cpu(), shape);
                        cpu.elementwise().biasActivationBackward(act, make(yv, shape, DType.F64, Device.cpu(), false),
                                make(bv, bshape, DType.F64, Device.cpu(), false), outDevice,
                                make(gv, shape, DType.F64, Device.cpu(), false), gi64, ALPHA);
                        Tensor gi = poisoned(dtype, shape);
                        Tensor outShifted = shifted ? make(out.toDoubleArray(), shape, dtype, GPU, true) : out;
                        gpu.elementwise().biasActivationBackward(act, act.backwardFromOutput() ? null : y,
                                act.backwardFromOutput() ? null : b, act.backwardFromOutput() ? outShifted : null,
                                make(gv, shape, dtype, GPU, shifted), gi, ALPHA);
                        compare(what + " backward", dtype, gi.toDoubleArray(), gi64.toDoubleArray());
                    }
                }
            }
        }
        assertNoGpuLeak(before);
    }

    @ParameterizedTest
    @EnumSource(BiasActivation.class)
    void theOpWithItsGradientsMatchesTheCpuAndTheUnfusedComposition(BiasActivation act) {
        gpu();
        long before = gpuLiveBytes();
        SplittableRandom r = random();
        for (DType dtype : new DType[] {DType.F32, DType.F64}) {
            for (long[] shape : new long[][] {{5, 3, 8}, {33, 7}}) {
                try (Scope s = Scope.open()) {
                    long cols = shape[shape.length - 1];
                    int n = (int) numel(shape);
                    double[] yv = rounded(uniform(r, n, -2, 2));
                    double[] bv = rounded(uniform(r, (int) cols, -1, 1));
                    double[] gv = rounded(gaussian(r, n));
                    String what = act + " " + dtype + " " + Arrays.toString(shape);
                    double[][] cpu = run(act, false, yv, bv, gv, shape, dtype, Device.cpu());
                    double[][] cuda = run(act, false, yv, bv, gv, shape, dtype, GPU);
                    double[][] unfused = run(act, true, yv, bv, gv, shape, dtype, GPU);
                    String[] parts = {"forward", "dy", "dbias"};
                    for (int k = 0; k < 3; k++) {
                        compare(what + " " + parts[k] + " vs cpu", dtype, cuda[k], cpu[k]);
                        compare(what + " " + parts[k] + " vs unfused", dtype, cuda[k], unfused[k]);
                    }
                }
            }
        }
        assertNoGpuLeak(before);
    }

    /** Forward output, dL/dy and dL/dbias of the fused op (or add-then-activation) for upstream gradient g. */
    private static double[][] run(BiasActivation act, boolean composed, double[] yv, double[] bv, double[] gv,
                                  long[] shape, DType dtype, Device device) {
        long[] bshape = {shape[shape.length - 1]};
        Tensor y = make(yv, shape, dtype, device, false).setRequiresGrad(true);
        Tensor b = make(bv, bshape, dtype, device, false).setRequiresGrad(true);
        Tensor out = composed ? composed(y, b, act)
                : dev.soma.ops.BiasActivation.apply(y, b, act, ALPHA);
        out.backward(make(gv, shape, dtype, device, false));
        return new double[][] {out.toDoubleArray(), y.grad().toDoubleArray(), b.grad().toDoubleArray()};
    }

    private static Tensor composed(Tensor y, Tensor bias, BiasActivation act) {
        Tensor z = y.add(bias);
        return switch (act) {
            case LINEAR -> z;
            case RELU -> z.relu();
            case LEAKY_RELU -> z.leakyRelu(ALPHA);
            case SIGMOID -> z.sigmoid();
            case TANH -> z.tanh();
            case GELU -> z.gelu();
        };
    }

    @Test
    void nanPropagatesOnTheDevice() {
        gpu();
        try (Scope s = Scope.open()) {
            for (BiasActivation act : BiasActivation.values()) {
                for (DType dtype : new DType[] {DType.F32, DType.F64}) {
                    long[] shape = {3, 4};
                    double[] yv = {Double.NaN, 1, -1, 2, -3, Double.NaN, 0.5, -0.5, 1, 1, 1, 1};
                    Tensor y = make(yv, shape, dtype, GPU, false);
                    Tensor b = make(new double[] {0, 0, Double.NaN, 0}, new long[] {4}, dtype, GPU, false);
                    double[] out = dev.soma.ops.BiasActivation.apply(y, b, act, ALPHA).toDoubleArray();
                    for (int i : new int[] {0, 2, 5, 6, 10}) {
                        assertTrue(Double.isNaN(out[i]), act + " " + dtype + " element " + i + " = " + out[i]);
                    }
                }
            }
        }
    }

    @Test
    void operandsOnDifferentDevicesAreRejectedBeforeAnyKernel() {
        gpu();
        try (Scope s = Scope.open()) {
            Tensor y = make(new double[] {1, 2, 3, 4}, new long[] {2, 2}, DType.F32, GPU, false);
            Tensor b = Tensor.of(new float[] {1, 2}, 2);
            DeviceException e = assertThrows(DeviceException.class,
                    () -> dev.soma.ops.BiasActivation.apply(y, b, BiasActivation.RELU, ALPHA));
            for (String part : new String[] {"biasActivation", "float32[2, 2] on cuda:0", "float32[2] on cpu"}) {
                assertTrue(e.getMessage().contains(part), () -> "'" + part + "' missing in: " + e.getMessage());
            }
        }
    }

    private static void compare(String what, DType dtype, double[] out, double[] ref) {
        double err = Reference.relativeError(out, ref);
        double bound = dtype == DType.F32 ? Reference.ELEMENTWISE_F32 : 1e-12;
        assertTrue(err <= bound, what + ": relative error " + err + " exceeds " + bound);
    }
}
