package dev.soma.nn;

import dev.soma.errors.ShapeException;
import dev.soma.memory.Scope;
import dev.soma.model.Checkpoint;
import dev.soma.model.Sequential;
import dev.soma.optim.Adam;
import dev.soma.tensor.Tensor;
import dev.soma.testing.NoLeaks;
import dev.soma.testing.Reference;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.List;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.*;

/** Conv2D and the pooling layers: Keras shapes, parameters and defaults, errors, checkpoints. */
@ExtendWith(NoLeaks.class)
class ConvLayerTest {
    @Test
    void shapesAndParameterCountsFollowKeras() {
        try (Sequential m = new Sequential(new Conv2D(32, 3, "relu").padding("same"), new MaxPooling2D(),
                new Conv2D(64, new int[] {3, 3}, "relu").padding("same"), new MaxPooling2D(),
                new Conv2D(16, 2).strides(2).useBias(false), new AveragePooling2D(2).strides(1).padding("same"),
                new Conv2D(8, 3).dilation(2).padding("same"), new GlobalAveragePooling2D(), new Dense(10, "softmax"))) {
            m.build(28, 28, 1);
            List<Layer> l = m.layers();
            assertArrayEquals(new long[] {28, 28, 32}, l.get(0).outputShape());
            assertEquals(3 * 3 * 1 * 32 + 32, l.get(0).paramCount());
            assertArrayEquals(new long[] {14, 14, 32}, l.get(1).outputShape());
            assertArrayEquals(new long[] {14, 14, 64}, l.get(2).outputShape());
            assertEquals(3 * 3 * 32 * 64 + 64, l.get(2).paramCount());
            assertArrayEquals(new long[] {7, 7, 64}, l.get(3).outputShape());
            assertArrayEquals(new long[] {3, 3, 16}, l.get(4).outputShape());
            assertEquals(2 * 2 * 64 * 16, l.get(4).paramCount());
            assertArrayEquals(new long[] {3, 3, 16}, l.get(5).outputShape());
            assertArrayEquals(new long[] {3, 3, 8}, l.get(6).outputShape());
            assertArrayEquals(new long[] {8}, l.get(7).outputShape());
            assertArrayEquals(new long[] {3, 3, 1, 32}, ((Conv2D) l.get(0)).kernel().shape());
            assertTrue(m.summary().contains("Conv2D"), m.summary());
            try (Scope s = Scope.open()) {
                assertArrayEquals(new long[] {5, 10}, m.call(Tensor.rand(1, 5, 28, 28, 1)).shape());
            }
        }
    }

    @Test
    void defaultsAreKeras() {
        Conv2D c = new Conv2D(4, 3);
        assertEquals("valid", c.config().get("padding"));
        assertEquals(List.of(1, 1), c.config().get("strides"));
        assertEquals(List.of(1, 1), c.config().get("dilation_rate"));
        assertEquals("linear", c.config().get("activation"));
        assertEquals(true, c.config().get("use_bias"));
        MaxPooling2D p = new MaxPooling2D(3);
        assertEquals(List.of(3, 3), p.config().get("strides"));
        assertEquals("valid", p.config().get("padding"));
        assertEquals(List.of(2, 2), new AveragePooling2D().config().get("pool_size"));
    }

    @Test
    void glorotUniformKernelUsesReceptiveFieldFans() {
        Conv2D c = new Conv2D(16, 3);
        c.build(new long[] {8, 8, 4}, dev.soma.tensor.DType.F32, new SplittableRandom(1));
        try (Scope s = Scope.open()) {
            double limit = Math.sqrt(6.0 / (9 * 4 + 9 * 16));
            double max = c.kernel().abs().max(null, false).item();
            assertTrue(max <= limit && max > 0.9 * limit, "max |w| " + max + " vs limit " + limit);
            assertEquals(0.0, c.bias().abs().sum().item());
        } finally {
            c.close();
        }
    }

    @Test
    void fusedReluMatchesReluAfterTheConvolution() {
        Conv2D c = new Conv2D(8, 3, "relu").padding("same").biasInitializer(Initializer.constant(0.1));
        try (Scope s = Scope.open()) {
            Tensor x = Tensor.randn(2, 2, 9, 9, 3);
            Tensor fused = c.apply(x, true);
            Tensor separate = c.callWithoutActivation(x, true).relu();
            Reference.assertClose(fused.toDoubleArray(), separate.toDoubleArray(), Reference.ELEMENTWISE_F32);
        } finally {
            c.close();
        }
    }

    @Test
    void badInputsNameTheLayer() {
        try (Conv2D c = new Conv2D(4, 3)) {
            ShapeException e = assertThrows(ShapeException.class, () -> c.computeOutputShape(new long[] {28, 28}));
            assertTrue(e.getMessage().startsWith(c.name() + ": input [batch, 28, 28] has rank 3"), e.getMessage());
            e = assertThrows(ShapeException.class, () -> c.computeOutputShape(new long[] {2, 5, 1}));
            assertTrue(e.getMessage().startsWith(c.name() + ": window 3 along the height is larger than the input [batch, 2, 5, 1]"),
                    e.getMessage());
        }
        MaxPooling2D p = new MaxPooling2D(4);
        ShapeException e = assertThrows(ShapeException.class, () -> p.computeOutputShape(new long[] {3, 8, 2}));
        assertTrue(e.getMessage().startsWith(p.name() + ": window 4 along the height"), e.getMessage());
        GlobalAveragePooling2D g = new GlobalAveragePooling2D();
        e = assertThrows(ShapeException.class, () -> g.computeOutputShape(new long[] {10}));
        assertTrue(e.getMessage().startsWith(g.name() + ": input [batch, 10] has rank 2"), e.getMessage());
        e = assertThrows(ShapeException.class, () -> new Conv2D(4, 3).strides(0));
        assertTrue(e.getMessage().startsWith("Conv2D: strides must be two positive values"), e.getMessage());
        e = assertThrows(ShapeException.class, () -> new Conv2D(0, 3));
        assertTrue(e.getMessage().startsWith("Conv2D: filters must be > 0"), e.getMessage());
        e = assertThrows(ShapeException.class, () -> new Conv2D(4, -1));
        assertTrue(e.getMessage().startsWith("Conv2D: kernel size"), e.getMessage());
        e = assertThrows(ShapeException.class, () -> new Conv2D(4, 3).padding("full"));
        assertTrue(e.getMessage().startsWith("Conv2D: padding"), e.getMessage());
        e = assertThrows(ShapeException.class, () -> new AveragePooling2D(2).strides(-1, 1));
        assertTrue(e.getMessage().startsWith("AveragePooling2D: strides"), e.getMessage());
        try (Conv2D c = new Conv2D(4, 3); Scope s = Scope.open()) {
            c.build(new long[] {8, 8, 3}, dev.soma.tensor.DType.F32, new SplittableRandom(1));
            e = assertThrows(ShapeException.class, () -> c.apply(Tensor.zeros(2, 8, 8, 2), false));
            assertTrue(e.getMessage().startsWith(c.name() + ": expected input of shape [batch, 8, 8, 3]"), e.getMessage());
        }
    }

    @Test
    void checkpointsRebuildEveryConvolutionAndPoolingLayer(@TempDir Path dir) throws Exception {
        Path file = dir.resolve("cnn.safetensors");
        float[] before;
        Tensor x = Tensor.randn(7, 3, 10, 10, 2).keep();
        try {
            try (Sequential m = new Sequential(new Conv2D(4, new int[] {3, 2}, "tanh").strides(1, 2).padding("same").dilation(2, 1),
                    new MaxPooling2D(new int[] {2, 1}).strides(1, 1), new Conv2D(3, 2).useBias(false),
                    new AveragePooling2D(2).padding("same"), new GlobalAveragePooling2D(), new Dense(2, "softmax"))) {
                m.seed(4).compile(new Adam(0.01), "sparse_categorical_crossentropy");
                m.build(10, 10, 2);
                try (Scope s = Scope.open()) {
                    before = m.call(x).toFloatArray();
                }
                m.save(file);
            }
            try (Sequential m = Checkpoint.load(file); Scope s = Scope.open()) {
                assertArrayEquals(before, m.call(x).toFloatArray());
                Conv2D c = (Conv2D) m.layers().get(0);
                assertEquals(List.of(3, 2), c.config().get("kernel_size"));
                assertEquals(List.of(1, 2), c.config().get("strides"));
                assertEquals(List.of(2, 1), c.config().get("dilation_rate"));
                assertEquals("same", c.config().get("padding"));
                assertEquals("tanh", c.activationName());
                assertEquals(false, m.layers().get(2).config().get("use_bias"));
                assertEquals(List.of(2, 1), m.layers().get(1).config().get("pool_size"));
                assertEquals(List.of(1, 1), m.layers().get(1).config().get("strides"));
                assertTrue(m.layers().get(3) instanceof AveragePooling2D);
                assertTrue(m.layers().get(4) instanceof GlobalAveragePooling2D);
            }
        } finally {
            x.close();
        }
    }
}
