package dev.soma.cuda;

import dev.soma.backend.Backend;
import dev.soma.backend.Backends;
import dev.soma.backend.OptimizerKernels;
import dev.soma.backend.Transfers;
import dev.soma.memory.Scope;
import dev.soma.optim.Adam;
import dev.soma.optim.AdamW;
import dev.soma.optim.Optimizer;
import dev.soma.optim.RMSprop;
import dev.soma.optim.SGD;
import dev.soma.tensor.DType;
import dev.soma.tensor.Device;
import dev.soma.tensor.Tensor;
import dev.soma.testing.NoLeaks;
import dev.soma.testing.Reference;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.function.Supplier;

import static dev.soma.cuda.GpuTesting.*;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The fused multi-tensor optimizer kernels (cuda-kernels/optim.cu) against the CPU backend: two steps of SGD
 * (plain, momentum, Nesterov, weight decay), Adam, AdamW and RMSprop (with and without momentum) with gradient
 * scaling and clipping, over lists of tensors of odd sizes (empty, 1, a chunk boundary, a misaligned view, and
 * enough tensors to fill several launch tables); parameters and every state array are compared after each step.
 * The CPU reference runs in the same dtype (the same arithmetic), so f32 must agree to 1e-5 and f64 to 1e-12.
 * Then the public optimizers stepping cuda:0 parameters against the same on the CPU.
 */
@Tag("gpu")
@ExtendWith({NoLeaks.class, GpuSeeds.class})
class CudaOptimizerTest {
    private static final List<DType> DTYPES = List.of(DType.F32, DType.F64);

    /**
     * Sizes of the parameter list: empty, tiny, odd, the largest chunk (65,536) and a bit (the chunk follows the
     * list's total, so with these sizes the tensors above 2,048 span several chunks), then 70 small tensors: 77 in
     * all, more than one launch table holds for 3 and 4 arrays per tensor (69 and 55 tensors); the 2- and 1-array
     * tables (93 and 139) are crossed in listsLargerThanOneLaunchAreCutCorrectly.
     */
    private static long[] sizes() {
        List<Long> s = new ArrayList<>(List.of(0L, 1L, 3L, 31L, 1000L, 4099L, 65_539L));
        for (int i = 0; i < 70; i++) s.add((long) (1 + i % 9));
        return s.stream().mapToLong(Long::longValue).toArray();
    }

    /** The index in sizes() of the tensor made as a misaligned view (offset by one element). */
    private static final int MISALIGNED = 4;

    /** A tensor on {@code device} in {@code dtype} with these values; index MISALIGNED is a view at offset 1. */
    private static Tensor make(double[] v, DType dtype, Device device, boolean misaligned) {
        double[] data = v;
        if (misaligned) {
            data = new double[v.length + 1];
            System.arraycopy(v, 0, data, 1, v.length);
        }
        Tensor host = Tensor.of(data, data.length);
        Tensor typed = dtype == DType.F64 ? host : host.to(dtype);
        Tensor placed = device.isCpu() ? typed : Transfers.to(typed, device);
        return misaligned ? placed.viewOf(placed.offset() + 1, new long[] {v.length}, new long[] {1}) : placed;
    }

    /** One list of tensors (params, grads or a state array) on the CPU and on the GPU with equal values. */
    private record Twin(Tensor[] cpu, Tensor[] gpu) {}

    private static Twin twin(SplittableRandom r, long[] sizes, DType dtype, Supplier<Double> value) {
        Tensor[] c = new Tensor[sizes.length], g = new Tensor[sizes.length];
        for (int i = 0; i < sizes.length; i++) {
            double[] v = new double[(int) sizes[i]];
            for (int k = 0; k < v.length; k++) v[k] = value.get();
            c[i] = make(v, dtype, Device.cpu(), i == MISALIGNED);
            g[i] = make(v, dtype, GPU, i == MISALIGNED);
        }
        return new Twin(c, g);
    }

    /**
     * ‖out − ref‖ / ‖ref‖ over the whole list (DESIGN.md's norm-wise bound): a one-element tensor whose state
     * cancels to nearly zero would otherwise turn a last-bit difference (fused multiply-adds on one side) into a
     * large "relative" error.
     */
    private static void compare(String what, DType dtype, Twin t) {
        List<double[]> outs = new ArrayList<>(), refs = new ArrayList<>();
        for (int i = 0; i < t.cpu.length; i++) {
            refs.add(t.cpu[i].toDoubleArray());
            outs.add(t.gpu[i].toDoubleArray());
            assertEquals(refs.get(i).length, outs.get(i).length);
        }
        double err = Reference.relativeError(flat(outs), flat(refs));
        double bound = dtype == DType.F32 ? Reference.ELEMENTWISE_F32 : 1e-12;
        assertTrue(err <= bound, () -> what + ": relative error " + err + " exceeds " + bound);
    }

    private static double[] flat(List<double[]> parts) {
        return concat(parts.toArray(new double[0][]));
    }

    /** One hyper-parameter variant: how many state arrays and the update through a backend's kernels. */
    private interface Update {
        void apply(OptimizerKernels k, Tensor[] p, Tensor[] g, Tensor[][] state, long step);
    }

    private void check(String name, int stateArrays, boolean randomState, Update update) {
        Backend gpu = gpu();
        Backend cpu = Backends.cpu();
        long before = gpuLiveBytes();
        SplittableRandom r = random();
        long[] sizes = sizes();
        for (DType dtype : DTYPES) {
            try (Scope s = Scope.open()) {
                Twin p = twin(r, sizes, dtype, r::nextGaussian);
                Twin[] state = new Twin[stateArrays];
                for (int k = 0; k < stateArrays; k++) {
                    // Adam's and RMSprop's second moments must stay >= 0.
                    state[k] = twin(r, sizes, dtype, randomState ? () -> Math.abs(r.nextGaussian()) * 0.1 : () -> 0.0);
                }
                for (long step = 1; step <= 2; step++) {
                    Twin g = twin(r, sizes, dtype, () -> r.nextGaussian() * 2);
                    Tensor[][] cs = new Tensor[stateArrays][], gs = new Tensor[stateArrays][];
                    for (int k = 0; k < stateArrays; k++) {
                        cs[k] = state[k].cpu;
                        gs[k] = state[k].gpu;
                    }
                    update.apply(cpu.optimizer(), p.cpu, g.cpu, cs, step);
                    update.apply(gpu.optimizer(), p.gpu, g.gpu, gs, step);
                    String what = name + " " + dtype + " step " + step;
                    compare(what + " params", dtype, p);
                    for (int k = 0; k < stateArrays; k++) compare(what + " state " + k, dtype, state[k]);
                    compare(what + " grads (read only)", dtype, g);
                }
            }
        }
        assertNoGpuLeak(before);
    }

    @Test
    void sgdVariantsMatchTheCpu() {
        check("sgd plain", 0, false, (k, p, g, s, step) -> k.sgd(p, g, null, 0.1, 0, false, 0, 1, 0));
        check("sgd weight decay, scale and clip", 0, false,
                (k, p, g, s, step) -> k.sgd(p, g, null, 0.05, 0, false, 1e-2, 0.7, 0.5));
        check("sgd momentum", 1, true, (k, p, g, s, step) -> k.sgd(p, g, s[0], 0.1, 0.9, false, 0, 1, 0));
        check("sgd nesterov, weight decay and clip", 1, true,
                (k, p, g, s, step) -> k.sgd(p, g, s[0], 0.03, 0.8, true, 5e-3, 1, 1.0));
    }

    @Test
    void adamAndAdamWMatchTheCpu() {
        check("adam", 2, false, (k, p, g, s, step) -> k.adam(p, g, s[0], s[1], 1e-2, 0.9, 0.999, 1e-7, 0, false, step,
                1, 0));
        check("adam L2 weight decay, warm state", 2, true, (k, p, g, s, step) -> k.adam(p, g, s[0], s[1], 3e-3, 0.8,
                0.99, 1e-6, 1e-2, false, step + 10, 0.5, 0));
        check("adamw decoupled weight decay and clip", 2, true, (k, p, g, s, step) -> k.adam(p, g, s[0], s[1], 1e-2,
                0.9, 0.999, 1e-7, 0.05, true, step, 1, 0.3));
    }

    @Test
    void rmspropVariantsMatchTheCpu() {
        check("rmsprop", 1, false, (k, p, g, s, step) -> k.rmsprop(p, g, s[0], null, 1e-2, 0.9, 0, 1e-7, 1, 0));
        check("rmsprop momentum, scale and clip", 2, true, (k, p, g, s, step) -> k.rmsprop(p, g, s[0], s[1], 1e-3,
                0.95, 0.9, 1e-6, 0.8, 0.7));
    }

    @Test
    void sumSquaresMatchesTheCpu() {
        Backend gpu = gpu();
        long before = gpuLiveBytes();
        SplittableRandom r = random();
        for (DType dtype : DTYPES) {
            try (Scope s = Scope.open()) {
                Twin t = twin(r, sizes(), dtype, r::nextGaussian);
                double ref = Backends.cpu().optimizer().sumSquares(t.cpu);
                double out = gpu.optimizer().sumSquares(t.gpu);
                // Both accumulate in double: only the order of the additions differs.
                assertEquals(ref, out, Math.abs(ref) * 1e-12, "sum of squares " + dtype);
                assertEquals(out, gpu.optimizer().sumSquares(t.gpu), 0.0, "the same sum every run");
                Tensor[] one = {t.gpu[2]};
                assertEquals(Backends.cpu().optimizer().sumSquares(new Tensor[] {t.cpu[2]}),
                        gpu.optimizer().sumSquares(one), 1e-12, "one tensor");
                assertEquals(0.0, gpu.optimizer().sumSquares(new Tensor[] {t.gpu[0]}), "an empty tensor");
            }
        }
        assertNoGpuLeak(before);
    }

    /**
     * A tensor of more chunks than one launch maps (320 x 65,536 elements) followed by more tensors than one table
     * holds: the host cuts the tensor between launches and starts new tables. Constant values, so the result is
     * known exactly without a CPU twin of 20 M elements.
     */
    @Test
    void listsLargerThanOneLaunchAreCutCorrectly() {
        Backend gpu = gpu();
        long before = gpuLiveBytes();
        long big = 331L * 65_536 + 5;
        try (Scope s = Scope.open()) {
            List<Tensor> ps = new ArrayList<>(), gs = new ArrayList<>();
            ps.add(Tensor.full(1.0, DType.F32, GPU, big));
            gs.add(Tensor.full(0.5, DType.F32, GPU, big));
            for (int i = 0; i < 200; i++) {
                ps.add(Tensor.full(1.0, DType.F32, GPU, 1 + i % 5));
                gs.add(Tensor.full(0.5, DType.F32, GPU, 1 + i % 5));
            }
            Tensor[] p = ps.toArray(Tensor[]::new), g = gs.toArray(Tensor[]::new);
            long total = 0;
            for (Tensor t : p) total += t.numel();
            assertEquals(total * 0.25, gpu.optimizer().sumSquares(g), 0.0, "sum of squares over many launches");
            gpu.optimizer().sgd(p, g, null, 0.1, 0, false, 0, 1, 0);  // p = 1 - 0.1 * 0.5 everywhere
            double expected = 0.95f;
            assertEquals(total * expected * expected, gpu.optimizer().sumSquares(p), total * 1e-9,
                    "every element updated once");
            for (long at : new long[] {0, 320L * 65_536 - 1, 320L * 65_536, big - 1}) {
                try (Tensor v = p[0].viewOf(at, new long[] {1}, new long[] {1})) {
                    assertEquals(expected, v.toDoubleArray()[0], 0.0, "element " + at);
                }
            }
            for (int i = 1; i < p.length; i++) assertEquals(expected, last(p[i]), 0.0, "tensor " + i);
        }
        assertNoGpuLeak(before);
    }

    // ------------------------------------------------------------------ the public optimizers on cuda:0

    private static List<Tensor> params(SplittableRandom r, DType dtype, Device device, long[][] shapes, double[][] v) {
        List<Tensor> ps = new ArrayList<>();
        try (Scope s = Scope.open()) {
            for (int i = 0; i < shapes.length; i++) {
                Tensor host = Tensor.of(v[i], shapes[i]);
                Tensor typed = dtype == DType.F64 ? host.copy() : host.to(dtype);
                Tensor placed = device.isCpu() ? typed : Transfers.to(typed, device);
                placed.keep();
                ps.add(placed.setRequiresGrad(true));
            }
        }
        return ps;
    }

    /** Gradients through autograd: d(sum(p * x * seed))/dp = x * seed, via p.mul(x).backward(seed). */
    private static void backward(List<Tensor> ps, double[][] x, double[][] seed, long[][] shapes, DType dtype,
                                 Device device) {
        for (int i = 0; i < ps.size(); i++) {
            Tensor xt = on(Tensor.of(x[i], shapes[i]), dtype, device);
            Tensor st = on(Tensor.of(seed[i], shapes[i]), dtype, device);
            ps.get(i).mul(xt).backward(st);
        }
    }

    private static Tensor on(Tensor host, DType dtype, Device device) {
        Tensor typed = dtype == DType.F64 ? host : host.to(dtype);
        return device.isCpu() ? typed : Transfers.to(typed, device);
    }

    @Test
    void optimizersStepCudaParametersAsOnTheCpu() {
        gpu();
        long before = gpuLiveBytes();
        SplittableRandom r = random();
        long[][] shapes = {{7, 5}, {5}, {3, 3, 3}, {1}};
        List<Supplier<Optimizer>> optimizers = List.of(
                () -> new Adam(1e-2).weightDecay(1e-3),
                () -> new AdamW(1e-2, 0.05).globalClipNorm(0.5),
                () -> new SGD(0.05, 0.9, true).weightDecay(1e-2).clipValue(0.3),
                () -> new RMSprop(1e-2, 0.9, 0.5, 1e-7).globalClipNorm(1.0));
        for (DType dtype : DTYPES) {
            for (Supplier<Optimizer> make : optimizers) {
                double[][] init = new double[shapes.length][];
                for (int i = 0; i < shapes.length; i++) init[i] = widen(gaussian(r, (int) numel(shapes[i])));
                List<Tensor> cpuParams = params(r, dtype, Device.cpu(), shapes, init);
                List<Tensor> gpuParams = params(r, dtype, GPU, shapes, init);
                try (Optimizer cpuOpt = make.get(); Optimizer gpuOpt = make.get()) {
                    for (int step = 0; step < 3; step++) {
                        try (Scope s = Scope.open()) {
                            double[][] x = new double[shapes.length][], seed = new double[shapes.length][];
                            for (int i = 0; i < shapes.length; i++) {
                                x[i] = widen(gaussian(r, (int) numel(shapes[i])));
                                seed[i] = widen(gaussian(r, (int) numel(shapes[i])));
                            }
                            backward(cpuParams, x, seed, shapes, dtype, Device.cpu());
                            backward(gpuParams, x, seed, shapes, dtype, GPU);
                            cpuOpt.step(cpuParams);
                            gpuOpt.step(gpuParams);
                            for (int i = 0; i < shapes.length; i++) {
                                double[] ref = cpuParams.get(i).toDoubleArray();
                                double[] out = gpuParams.get(i).toDoubleArray();
                                double err = Reference.relativeError(out, ref);
                                double bound = dtype == DType.F32 ? Reference.ELEMENTWISE_F32 : 1e-12;
                                String what = cpuOpt.name() + " " + dtype + " step " + step + " param " + i;
                                assertTrue(err <= bound, what + ": relative error " + err + " exceeds " + bound);
                                cpuParams.get(i).zeroGrad();
                                gpuParams.get(i).zeroGrad();
                            }
                        }
                    }
                    assertEquals(cpuOpt.iterations(), gpuOpt.iterations());
                } finally {
                    for (Tensor t : cpuParams) {
                        t.zeroGrad();
                        t.close();
                    }
                    for (Tensor t : gpuParams) {
                        t.zeroGrad();
                        t.close();
                    }
                }
            }
        }
        assertNoGpuLeak(before);
    }
}
