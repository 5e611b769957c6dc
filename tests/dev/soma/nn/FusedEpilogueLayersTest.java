package dev.soma.nn;

import dev.soma.memory.Scope;
import dev.soma.tensor.DType;
import dev.soma.tensor.Tensor;
import dev.soma.testing.NoLeaks;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.util.LinkedHashMap;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.function.Supplier;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Dense and Conv2DTranspose run bias + activation as one fused op; a training step through them must be the step
 * of the unfused composition {@code activation(x · kernel + bias)} on the same parameters: output and every
 * gradient (kernel, bias, input) bit-identical on the CPU, so the optimizer's update is too. Softmax (not fused)
 * and a layer without bias keep the unfused path and are checked the same way. Config and parameter names
 * unchanged.
 */
@ExtendWith(NoLeaks.class)
class FusedEpilogueLayersTest {
    @ParameterizedTest
    @ValueSource(strings = {"linear", "relu", "leaky_relu", "tanh", "sigmoid", "gelu", "softmax"})
    void aTrainingStepEqualsTheUnfusedComposition(String activation) {
        SplittableRandom seeds = new SplittableRandom();
        for (DType dtype : new DType[] {DType.F32, DType.F64}) {
            for (boolean useBias : new boolean[] {true, false}) {
                for (long[] in : new long[][] {{9, 6}, {2, 5, 6}}) {
                    try (Scope s = Scope.open(); Dense d = new Dense(7, activation).useBias(useBias)) {
                        d.build(java.util.Arrays.copyOfRange(in, 1, in.length), dtype, new SplittableRandom(seeds.nextLong()));
                        if (useBias) {   // a non-zero bias, so the epilogue's add matters
                            d.bias().backend().memory().copy(Tensor.randn(seeds.nextLong(), 7).to(dtype), d.bias());
                        }
                        Tensor x = Tensor.randn(seeds.nextLong(), in).mul(2.0).to(dtype).setRequiresGrad(true);
                        long[] outShape = in.clone();
                        outShape[outShape.length - 1] = 7;
                        Tensor w = Tensor.randn(seeds.nextLong(), outShape).to(dtype);
                        String what = activation + " " + dtype + " bias " + useBias + " " + java.util.Arrays.toString(in);

                        Map<String, double[]> fused = step(d, x, w, () -> d.apply(x, true));
                        Map<String, double[]> composed = step(d, x, w, () -> {
                            Tensor z = x.matmul(d.kernel());
                            if (useBias) z = z.add(d.bias());
                            return Activations.get(activation).apply(z);
                        });
                        for (String k : fused.keySet()) assertArrayEquals(composed.get(k), fused.get(k), 0.0, what + " " + k);
                    }
                }
            }
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"linear", "relu", "leaky_relu", "tanh", "sigmoid", "gelu"})
    void aConv2DTransposeStepEqualsTheUnfusedComposition(String activation) {
        SplittableRandom seeds = new SplittableRandom();
        for (DType dtype : new DType[] {DType.F32, DType.F64}) {
            try (Scope s = Scope.open(); Conv2DTranspose c = new Conv2DTranspose(3, 3, activation).strides(2, 2)) {
                c.build(new long[] {4, 5, 2}, dtype, new SplittableRandom(seeds.nextLong()));
                c.bias().backend().memory().copy(Tensor.randn(seeds.nextLong(), 3).to(dtype), c.bias());
                Tensor x = Tensor.randn(seeds.nextLong(), 2, 4, 5, 2).to(dtype).setRequiresGrad(true);
                Tensor probe = c.apply(x, false);
                Tensor w = Tensor.randn(seeds.nextLong(), probe.shape()).to(dtype);
                Map<String, double[]> fused = step(c.kernel(), c.bias(), x, w, () -> c.apply(x, true));
                Map<String, double[]> composed = step(c.kernel(), c.bias(), x, w, () -> Activations.get(activation)
                        .apply(dev.soma.ops.TransposedConvolution.conv2dTranspose(x, c.kernel(), c.bias(),
                                new int[] {2, 2}, "valid")));
                for (String k : fused.keySet()) {
                    assertArrayEquals(composed.get(k), fused.get(k), 0.0, activation + " " + dtype + " " + k);
                }
            }
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"relu", "gelu"})
    void configAndParameterNamesAreUnchanged(String activation) {
        try (Scope s = Scope.open(); Dense d = new Dense(3, activation)) {
            d.build(4);
            assertEquals(Map.of("units", 3, "activation", activation, "use_bias", true), d.config());
            assertEquals(java.util.List.of(d.name() + "/kernel", d.name() + "/bias"), d.params().stream().map(Param::name).toList());
        }
    }

    /** Output and gradients of {@code sum(forward() * w)}, gradients cleared afterwards. */
    private static Map<String, double[]> step(Dense d, Tensor x, Tensor w, Supplier<Tensor> forward) {
        return step(d.kernel(), d.bias(), x, w, forward);
    }

    private static Map<String, double[]> step(Tensor kernel, Tensor bias, Tensor x, Tensor w, Supplier<Tensor> forward) {
        Tensor out = forward.get();
        out.mul(w).sum().backward();
        Map<String, double[]> r = new LinkedHashMap<>();
        r.put("output", out.toDoubleArray());
        r.put("dx", x.grad().toDoubleArray());
        r.put("dkernel", kernel.grad().toDoubleArray());
        if (bias != null) r.put("dbias", bias.grad().toDoubleArray());
        x.zeroGrad();
        kernel.zeroGrad();
        if (bias != null) bias.zeroGrad();
        return r;
    }
}
