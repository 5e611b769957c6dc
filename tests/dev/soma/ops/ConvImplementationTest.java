package dev.soma.ops;

import dev.soma.backend.ConvKernels.PoolKind;
import dev.soma.backend.dnnl.DnnlConvolution;
import dev.soma.backend.dnnl.PrimitiveCache;
import dev.soma.memory.Scope;
import dev.soma.tensor.DType;
import dev.soma.tensor.Tensor;
import dev.soma.testing.NoLeaks;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

import java.util.Arrays;

import static org.junit.jupiter.api.Assertions.*;

/**
 * The reference CNN's layers run on optimised kernels in every pass (asked by implementation name, not by timing):
 * its 3x3 convolution with 32 channels on our Winograd kernels, the rest on oneDNN's (plain HWIO weights would
 * drop the backward passes to slow paths, OHWI to "ref"), and a repeated shape reuses its primitives.
 */
@ExtendWith(NoLeaks.class)
class ConvImplementationTest {
    private static final int[] ONE = {1, 1};

    private static void assertFast(String what, String[] impl, int passes) {
        assertEquals(passes, impl.length, what);
        for (String s : impl) {
            assertTrue(s.startsWith("onednn "), what + ": " + Arrays.toString(impl));
            assertFalse(s.contains("ref"), what + " runs on a oneDNN reference kernel: " + Arrays.toString(impl));
        }
    }

    @Test
    void referenceCnnConvolutionsAndPoolingAreNotReferenceKernels() {
        try (Scope s = Scope.open()) {
            // conv2: batch 32, 28x28x32 -> 64, 3x3 same (forward, backward data, backward weights).
            Tensor x2 = Tensor.zeros(32, 28, 28, 32);
            Tensor k2 = Tensor.zeros(3, 3, 32, 64);
            Tensor b2 = Tensor.zeros(64);
            // Ours: the Winograd kernels take 3x3 stride-1 convolutions with 16 or more channels each way.
            String[] conv2 = Convolution.implementations(x2, k2, b2, ONE, "same", ONE);
            for (String pass : conv2) assertTrue(pass.startsWith("soma winograd F(4x4, 3x3), "), "conv2 28x28x32->64: " + pass);
            // With 2x2 strides, oneDNN's.
            assertFast("conv2 strided", Convolution.implementations(x2, k2, b2, new int[] {2, 2}, "same", ONE), 3);
            // conv1: 28x28x1 -> 32.
            String[] conv1 = Convolution.implementations(Tensor.zeros(32, 28, 28, 1), Tensor.zeros(3, 3, 1, 32),
                    Tensor.zeros(32), ONE, "same", ONE);
            assertFast("conv1 28x28x1->32", new String[] {conv1[0], conv1[2]}, 2);
            // max pool 2x2 on 28x28x64 (forward with workspace, backward).
            assertFast("maxpool 2x2", Pooling.implementations(PoolKind.MAX, Tensor.zeros(32, 28, 28, 64),
                    new int[] {2, 2}, null, "valid"), 2);
            assertFast("avgpool 2x2", Pooling.implementations(PoolKind.AVG, Tensor.zeros(32, 28, 28, 64),
                    new int[] {2, 2}, null, "valid"), 2);
            System.out.println("conv2 passes: " + Arrays.toString(conv2) + "; conv1 passes: " + Arrays.toString(conv1));
            // f64 says where it runs.
            String[] f64 = Convolution.implementations(Tensor.zeros(DType.F64, x2.device(), 1, 5, 5, 2),
                    Tensor.zeros(DType.F64, x2.device(), 3, 3, 2, 4), null, ONE, "same", ONE);
            assertTrue(f64[0].startsWith("soma_cpu_conv2d"), f64[0]);
        }
    }

    @Test
    void aRepeatedShapeReusesItsPrimitives() {
        try (Scope s = Scope.open()) {
            Tensor x = Tensor.rand(3, 4, 10, 10, 8).setRequiresGrad(true);
            Tensor k = Tensor.rand(4, 3, 3, 8, 16).setRequiresGrad(true);
            Tensor b = Tensor.zeros(16).setRequiresGrad(true);
            Convolution.conv2d(x, k, b, ONE, "same", ONE).sum().backward();
            PrimitiveCache.Stats first = DnnlConvolution.cache().stats();
            PrimitiveCache.Stats firstReorders = DnnlConvolution.reorderCache().stats();
            for (int i = 0; i < 3; i++) Convolution.conv2d(x, k, b, ONE, "same", ONE).sum().backward();
            PrimitiveCache.Stats later = DnnlConvolution.cache().stats();
            assertEquals(first.builds(), later.builds(), "no convolution primitive is built again");
            assertEquals(first.hits() + 9, later.hits(), "three passes per step hit the cache");
            assertEquals(firstReorders.builds(), DnnlConvolution.reorderCache().stats().builds(), "no reorder built again");
        }
    }
}
