package dev.soma.cuda;

import dev.soma.memory.Scope;
import dev.soma.ops.Convolution;
import dev.soma.ops.Pooling;
import dev.soma.tensor.DType;
import dev.soma.tensor.Tensor;
import dev.soma.testing.NoLeaks;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

import java.util.Arrays;

import static dev.soma.cuda.GpuTesting.GPU;
import static dev.soma.cuda.GpuTesting.gpu;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * NaN propagates through the CUDA kernels as through the CPU's and PyTorch's: relu, fused conv ReLU, max pooling,
 * recurrent layers.
 */
@Tag("gpu")
@ExtendWith(NoLeaks.class)
class CudaNaNTest {
    /** A 1x4x4x1 image of ones with one NaN at (1, 1), on the GPU. */
    private static Tensor imageWithNaN(DType dtype) {
        double[] v = new double[16];
        Arrays.fill(v, 1);
        v[5] = Double.NaN;
        return Tensor.of(v, 1, 4, 4, 1).to(dtype).to(GPU);
    }

    @Test
    void reluAndFusedConvReluKeepNaN() {
        gpu();
        for (DType dt : new DType[] {DType.F32, DType.F64}) {
            try (Scope s = Scope.open()) {
                Tensor x = imageWithNaN(dt);
                assertTrue(Double.isNaN(x.relu().toDoubleArray()[5]), "relu " + dt);
                Tensor k = Tensor.ones(dt, GPU, 1, 1, 1, 1);
                double[] y = Convolution.conv2dRelu(x, k, null, new int[] {1, 1}, "valid", new int[] {1, 1}).toDoubleArray();
                assertTrue(Double.isNaN(y[5]), "conv2dRelu " + dt + " gave " + y[5]);
                assertEquals(1.0, y[0]);
            }
        }
    }

    @Test
    void recurrentLayersPropagateNaNForEveryCellAndActivation() {
        gpu();
        dev.soma.testing.RecurrentNaN.checkPropagation(GPU);
    }

    @Test
    void maxPoolingLetsNaNWinAndRoutesItsGradientToTheNaN() {
        gpu();
        for (DType dt : new DType[] {DType.F32, DType.F64}) {
            try (Scope s = Scope.open()) {
                Tensor x = imageWithNaN(dt).setRequiresGrad(true);
                Tensor y = Pooling.maxPool2d(x, new int[] {2, 2}, null, "valid");
                double[] v = y.toDoubleArray();
                assertTrue(Double.isNaN(v[0]), "maxPool2d " + dt + ": the window holding NaN gave " + v[0]);
                assertEquals(1.0, v[1]);
                y.sum().backward();
                double[] g = x.grad().toDoubleArray();
                assertEquals(1.0, g[5], "maxPool2d backward " + dt + ": " + Arrays.toString(g));
                assertEquals(0.0, g[0]);
            }
        }
    }
}
