package dev.soma.custom;

import dev.soma.autograd.Gradcheck;
import dev.soma.errors.ClosedTensorException;
import dev.soma.errors.DTypeException;
import dev.soma.errors.DeviceException;
import dev.soma.errors.ShapeException;
import dev.soma.memory.Scope;
import dev.soma.ops.Check;
import dev.soma.tensor.DType;
import dev.soma.tensor.Device;
import dev.soma.tensor.Tensor;
import dev.soma.testing.NoLeaks;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

/** The custom-op machinery on the CPU: both kernel kinds, outputs, validation, autograd, scopes, costs. */
@ExtendWith(NoLeaks.class)
class CustomOpTest {
    /** y = a * x + b (two inputs, one output), Java kernel, backward from built-in ops. */
    static final CustomOp AXPB = CustomOp.builder("axpb")
            .arity(2)
            .validate((op, in) -> {
                Check.floating(op, in[0]);
                Check.sameDType(op, in[0], in[1]);
                Check.sameShape(op, in[0], in[1]);
            })
            .output(in -> OutputSpec.of(in[0].dtype(), in[0].shape()))
            .cpu((CpuKernel.Host) (in, out) -> {
                for (int i = 0; i < in[0].length(); i++) out[0].set(i, 3 * in[0].get(i) + in[1].get(i));
            })
            .backward((in, out, g) -> new Tensor[] {g[0].mul(3), g[0]})
            .cost(in -> new Cost(2.0 * in[0].numel(), 3.0 * in[0].numel() * in[0].dtype().byteSize()))
            .build();

    /** A "native" kernel: works on the tensors' memory through the backend (no host copies). */
    static final CustomOp NATIVE_COPY = CustomOp.builder("native_copy")
            .arity(1)
            .output(in -> OutputSpec.of(in[0].dtype(), in[0].shape()))
            .cpu((CpuKernel.Native) (in, out) -> {
                assertTrue(in[0].isContiguous());
                assertNotEquals(0, in[0].address());
                in[0].backend().memory().copy(in[0], out[0]);
            })
            .build();

    @Test
    void hostKernelComputesAndRecordsAGradient() {
        try (Scope s = Scope.open()) {
            Tensor x = Tensor.of(new float[] {1, -2, 3, 4}, 2, 2);
            Tensor b = Tensor.of(new float[] {0.5f, 0.5f, -1, 0}, 2, 2);
            Tensor y = AXPB.apply(x, b);
            assertArrayEquals(new long[] {2, 2}, y.shape());
            assertArrayEquals(new float[] {3.5f, -5.5f, 8, 12}, y.toFloatArray());
            assertEquals(new Cost(8, 48), AXPB.cost(x, b));

            Tensor xd = Tensor.of(new double[] {0.1, -0.7, 2.5}, 3);
            Tensor bd = Tensor.of(new double[] {1, 2, 3}, 3);
            Gradcheck.assertGradients(AXPB, xd, bd);
        }
    }

    @Test
    void nativeKernelSeesContiguousInputsEvenForViews() {
        try (Scope s = Scope.open()) {
            Tensor x = Tensor.of(new float[] {1, 2, 3, 4, 5, 6}, 2, 3);
            Tensor t = x.transpose(0, 1); // a strided view: copied to contiguous before the kernel
            Tensor y = NATIVE_COPY.apply(t);
            assertArrayEquals(t.contiguous().toFloatArray(), y.toFloatArray());
            assertArrayEquals(new float[] {1, 4, 2, 5, 3, 6}, y.toFloatArray());
        }
    }

    @Test
    void outputsBelongToTheScopeAndTemporariesAreFreed() {
        Tensor y;
        try (Scope s = Scope.open()) {
            Tensor x = Tensor.of(new float[] {1, 2, 3, 4, 5, 6}, 2, 3);
            y = NATIVE_COPY.apply(x.transpose(0, 1));
            assertFalse(y.isClosed());
        }
        assertTrue(y.isClosed());
    }

    @Test
    void backwardFlowsThroughAChainOfCustomAndBuiltInOps() {
        try (Scope s = Scope.open()) {
            Tensor x = Tensor.of(new double[] {0.3, -1.2, 2.0, 0.4}, 4);
            Tensor b = Tensor.of(new double[] {1, 1, 1, 1}, 4);
            Gradcheck.assertGradients("axpb chain", xs -> AXPB.apply(AXPB.apply(xs[0], xs[1]).tanh(), xs[0]).mul(xs[0]), x, b);
        }
    }

    @Test
    void badInputsNameTheOp() {
        try (Scope s = Scope.open()) {
            Tensor x = Tensor.of(new float[] {1, 2, 3}, 3);
            Tensor y = Tensor.of(new float[] {1, 2}, 2);
            Tensor i = Tensor.ofInts(new int[] {1, 2, 3}, 3);
            Tensor d = Tensor.of(new double[] {1, 2, 3}, 3);
            assertMessage(assertThrows(IllegalArgumentException.class, () -> AXPB.apply(x)), "axpb", "2 input");
            assertMessage(assertThrows(ShapeException.class, () -> AXPB.apply(x, y)), "axpb", "[3]", "[2]");
            assertMessage(assertThrows(DTypeException.class, () -> AXPB.apply(i, i)), "axpb", "int32");
            assertMessage(assertThrows(DTypeException.class, () -> AXPB.apply(x, d)), "axpb", "float64");
            assertThrows(NullPointerException.class, () -> AXPB.apply(x, null));
            Tensor closed = Tensor.of(new float[] {1, 2, 3}, 3);
            closed.close();
            assertMessage(assertThrows(ClosedTensorException.class, () -> AXPB.apply(x, closed)), "axpb", "closed");
        }
    }

    @Test
    void badOutputRulesAndMissingPartsAreReported() {
        CustomOp negative = CustomOp.builder("neg_shape").output(in -> OutputSpec.of(DType.F32, -1, 2))
                .cpu((CpuKernel.Host) (in, out) -> {}).build();
        CustomOp none = CustomOp.builder("no_outputs").outputs(in -> List.of()).cpu((CpuKernel.Host) (in, out) -> {}).build();
        try (Scope s = Scope.open()) {
            Tensor x = Tensor.of(new float[] {1, 2}, 2);
            assertMessage(assertThrows(ShapeException.class, () -> negative.apply(x)), "neg_shape", "negative");
            assertMessage(assertThrows(IllegalStateException.class, () -> none.apply(x)), "no_outputs");
            Tensor xg = Tensor.of(new double[] {1, 2}, 2).setRequiresGrad(true);
            Tensor y = NATIVE_COPY.apply(xg); // forward works without a backward rule
            assertMessage(assertThrows(UnsupportedOperationException.class, () -> y.sum().backward()),
                    "native_copy", "no backward");
            assertMessage(assertThrows(UnsupportedOperationException.class, () -> NATIVE_COPY.cost(x)), "native_copy");
        }
        assertThrows(NullPointerException.class, () -> CustomOp.builder("x").build());
        assertThrows(IllegalArgumentException.class, () -> CustomOp.builder("bad name"));
        assertThrows(IllegalArgumentException.class, () -> CustomOp.builder("x").arity(0));
    }

    @Test
    void backwardRulesReturningTheWrongGradientsAreNamed() {
        java.util.Map<String, CustomOp.Backward> rules = new java.util.LinkedHashMap<>();
        rules.put("two_for_one", (in, out, g) -> new Tensor[] {g[0], g[0]});
        rules.put("short_grad", (in, out, g) -> new Tensor[] {Tensor.zeros(DType.F32, Device.cpu(), 2)});
        rules.put("f64_grad", (in, out, g) -> new Tensor[] {Tensor.zeros(DType.F64, Device.cpu(), 3)});
        rules.put("int_grad", (in, out, g) -> new Tensor[] {Tensor.zeros(DType.I32, Device.cpu(), 3)});
        String[] expected = {"returned 2 gradient(s) for 1 input(s)", "float32[2]", "float64[3]", "int32[3]"};
        int i = 0;
        for (var rule : rules.entrySet()) {
            CustomOp op = CustomOp.builder(rule.getKey()).output(in -> OutputSpec.of(in[0].dtype(), in[0].shape()))
                    .cpu((CpuKernel.Host) (in, out) -> {}).backward(rule.getValue()).build();
            try (Scope s = Scope.open()) {
                Tensor x = Tensor.of(new float[] {1, 2, 3}, 3).setRequiresGrad(true);
                Tensor loss = op.apply(x).sum();
                RuntimeException e = assertThrows(RuntimeException.class, loss::backward);
                // Named where the rule returned it (it once surfaced later, as "accumulateGrad: ... must match").
                assertMessage(e, rule.getKey(), expected[i++]);
            }
        }
    }

    @Test
    void aKernelThatThrowsLeavesNothingBehind() {
        CustomOp failing = CustomOp.builder("failing").output(in -> OutputSpec.of(DType.F32, 1000))
                .cpu((CpuKernel.Host) (in, out) -> { throw new IllegalStateException("kernel bug"); }).build();
        Tensor x = Tensor.of(new float[] {1}, 1);
        try {
            assertThrows(IllegalStateException.class, () -> failing.apply(x));
        } finally {
            x.close();
        }
    }

    @Test
    void launchPlansAreValidated() {
        Launch l = Launch.linear(1000, 256, 1000L);
        assertArrayEquals(new int[] {4, 1, 1}, l.grid());
        assertArrayEquals(new int[] {256, 1, 1}, l.block());
        assertEquals(1, Launch.linear(0, 128).grid()[0]);
        assertThrows(IllegalArgumentException.class, () -> new Launch(new int[] {0}, new int[] {1}, 0, null));
        assertThrows(IllegalArgumentException.class, () -> new Launch(new int[] {1}, new int[] {1}, -1, null));
        assertThrows(IllegalArgumentException.class, () -> new Launch(new int[] {1}, new int[] {1}, 0, new Object[] {"s"}));
        assertThrows(IllegalArgumentException.class, () -> Launch.linear(1L << 50, 1));
    }

    @Test
    void compareSaysClearlyWhenThereIsNoGpu() {
        org.junit.jupiter.api.Assumptions.assumeFalse(dev.soma.backend.CudaProbe.result().usable(), "a GPU is present");
        try (Scope s = Scope.open()) {
            Tensor x = Tensor.of(new float[] {1, 2}, 2);
            DeviceException e = assertThrows(DeviceException.class, () -> Backends.compare(NATIVE_COPY, x));
            assertMessage(e, "native_copy", "no GPU", "cuda:0 is not usable");
        }
    }

    static void assertMessage(Throwable t, String... parts) {
        for (String p : parts) assertTrue(String.valueOf(t.getMessage()).contains(p), "'" + p + "' missing in: " + t.getMessage());
    }
}
