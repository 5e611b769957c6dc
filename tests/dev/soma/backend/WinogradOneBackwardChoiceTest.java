package dev.soma.backend;

import dev.soma.memory.Scope;
import dev.soma.ops.Convolution;
import dev.soma.ops.ConvolutionPooling;
import dev.soma.tensor.Tensor;
import dev.soma.testing.NoLeaks;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * Which backward calls run the Winograd convolution's two backward passes as one (its numbers:
 * dev.soma.ops.WinogradOneBackwardTest): batches of 8 images or more whose convolution is Winograd's and that want
 * both the input and the kernel gradient, through the fused convolution + ReLU + max pooling or a plain convolution.
 */
@ExtendWith(NoLeaks.class)
class WinogradOneBackwardChoiceTest {
    private static final int[] ONE = {1, 1}, POOL = {2, 2};

    @Test
    void batchesOfEightOrMoreImagesWantingBothGradientsTakeIt() {
        assertEquals(1, calls(8, 16, 3, true, true));
        assertEquals(1, calls(12, 16, 7, true, true));
        assertEquals(0, calls(7, 16, 3, true, true));    // fewer images: the passes apart
        assertEquals(0, calls(8, 15, 3, true, true));    // too few channels for Winograd: oneDNN's passes
        assertEquals(1, calls(8, 16, 4, true, true));    // a 4x4 kernel: one 5x5 piece
        assertEquals(1, calls(8, 16, 9, true, true));    // a 9x9 kernel: four 5x5 pieces, one sweep each
        assertEquals(0, calls(8, 16, 2, true, true));    // no Winograd pass for 2x2 kernels
        assertEquals(0, calls(8, 16, 3, false, true));   // no input gradient wanted
        assertEquals(0, calls(8, 16, 3, true, false));   // no kernel gradient wanted
    }

    @Test
    void plainConvolutionsTakeItAlike() {
        assertEquals(1, calls(8, 16, 5, true, true, false));
        assertEquals(0, calls(7, 16, 5, true, true, false));
        assertEquals(0, calls(8, 16, 5, false, true, false));
        assertEquals(0, calls(8, 16, 5, true, false, false));
    }

    private static long calls(int n, int channels, int k, boolean wantX, boolean wantKernel) {
        return calls(n, channels, k, wantX, wantKernel, true);
    }

    /** How many one-backward calls a step of the fused op (or a plain convolution) made. */
    private static long calls(int n, int channels, int k, boolean wantX, boolean wantKernel, boolean pooled) {
        long before = WinogradConv.ONE_BACKWARD_CALLS.get();
        try (Scope s = Scope.open()) {
            Tensor x = Tensor.ones(n, 10, 10, channels).setRequiresGrad(wantX);
            Tensor kernel = Tensor.ones(k, k, channels, 16).mul(0.01).setRequiresGrad(wantKernel);
            Tensor y = pooled
                    ? ConvolutionPooling.conv2dReluMaxPool(x, kernel, null, ONE, "same", ONE, POOL, null, "valid")
                    : Convolution.conv2d(x, kernel, null, ONE, "same", ONE);
            y.sum().backward();
        }
        return WinogradConv.ONE_BACKWARD_CALLS.get() - before;
    }
}
