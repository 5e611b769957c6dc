package dev.soma.cuda;

import dev.soma.memory.Scope;
import dev.soma.nn.Bidirectional;
import dev.soma.nn.Conv2D;
import dev.soma.nn.Dense;
import dev.soma.nn.GRU;
import dev.soma.nn.LSTM;
import dev.soma.nn.Layer;
import dev.soma.nn.LayerNormalization;
import dev.soma.nn.Param;
import dev.soma.nn.TimeDistributed;
import dev.soma.nn.TransformerEncoder;
import dev.soma.tensor.Device;
import dev.soma.tensor.Tensor;
import dev.soma.testing.NoLeaks;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

import java.util.List;
import java.util.function.Supplier;

import static org.junit.jupiter.api.Assertions.*;

/**
 * A layer first called on a GPU tensor builds its weights on that device (as Keras builds on its input's device) and
 * computes what the same weights compute on the CPU. Before, weights were always drawn on the CPU and the first call
 * failed with "tensors are on different devices" unless a Model moved them (found by the layer fuzzer).
 */
@Tag("gpu")
@ExtendWith(NoLeaks.class)
class CudaLayerBuildTest {
    private static final Device GPU = Device.cuda(0);

    @AfterEach
    void gpuPoolEmpty() {
        new CudaTrainingStepTest().gpuPoolEmpty();
    }

    private record Case(Supplier<Layer> layer, long... shape) {}

    @Test
    void anUnbuiltLayerBuildsOnItsFirstInputsDevice() {
        GpuTesting.gpu();
        List<Case> cases = List.of(
                new Case(() -> new Dense(3, "relu"), 2, 5),
                new Case(() -> new Conv2D(2, 3, "tanh").padding("same"), 2, 6, 5, 3),
                new Case(() -> new LSTM(4).returnSequences(true), 2, 5, 3),
                new Case(() -> new Bidirectional(new GRU(3), new GRU(3)), 3, 4, 2),
                new Case(() -> new TimeDistributed(new Dense(2)), 2, 3, 4),
                new Case(() -> new LayerNormalization(), 3, 7),
                new Case(() -> new TransformerEncoder(2, 8, 0.0), 2, 5, 4));
        for (Case c : cases) {
            try (Layer onGpu = c.layer().get(); Layer onCpu = c.layer().get(); Scope s = Scope.open()) {
                Tensor x = Tensor.randn(7, c.shape());
                Tensor y = onGpu.apply(x.to(GPU), false);
                assertEquals(GPU, y.device(), onGpu.name());
                for (Param p : onGpu.params()) assertEquals(GPU, p.value().device(), p.name());
                onCpu.apply(x, false);
                onCpu.setWeights(onGpu.getWeights());
                double err = CudaTrainingStepTest.relative(y.toDoubleArray(), onCpu.apply(x, false).toDoubleArray());
                assertTrue(err < 1e-4, onGpu.name() + ": relative error " + err + " from the CPU");
            }
        }
    }
}
