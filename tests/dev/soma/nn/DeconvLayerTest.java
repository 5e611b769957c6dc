package dev.soma.nn;

import dev.soma.errors.ShapeException;
import dev.soma.memory.Scope;
import dev.soma.model.Checkpoint;
import dev.soma.model.Sequential;
import dev.soma.ops.Resize;
import dev.soma.ops.TransposedConvolution;
import dev.soma.optim.Adam;
import dev.soma.tensor.DType;
import dev.soma.tensor.Tensor;
import dev.soma.testing.NoLeaks;
import dev.soma.testing.Reference;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.*;

/** UpSampling2D and Conv2DTranspose: Keras shapes, parameters and defaults, errors, registry and checkpoints. */
@ExtendWith(NoLeaks.class)
class DeconvLayerTest {
    @Test
    void dcganGeneratorShapesAndParameterCountsFollowKeras() {
        try (Sequential m = new Sequential(new Dense(7 * 7 * 16), new Reshape(new long[] {7, 7, 16}),
                new Conv2DTranspose(8, 4, "relu").strides(2).padding("same"),
                new UpSampling2D(),
                new Conv2DTranspose(4, new int[] {3, 2}, null).strides(1, 2),
                new Conv2DTranspose(1, 5, "tanh").strides(3).useBias(false),
                new UpSampling2D(new int[] {1, 3}))) {
            m.build(10);
            List<Layer> l = m.layers();
            assertArrayEquals(new long[] {14, 14, 8}, l.get(2).outputShape());
            assertEquals(4 * 4 * 8 * 16 + 8, l.get(2).paramCount());
            assertArrayEquals(new long[] {4, 4, 8, 16}, ((Conv2DTranspose) l.get(2)).kernel().shape());
            assertArrayEquals(new long[] {28, 28, 8}, l.get(3).outputShape());
            assertEquals(0, l.get(3).paramCount());
            // valid: (in - 1) * s + k = 27 + 3 rows; in * s + max(k - s, 0) = 56 columns when k < s.
            assertArrayEquals(new long[] {30, 56, 4}, l.get(4).outputShape());
            assertArrayEquals(new long[] {29 * 3 + 5, 55 * 3 + 5, 1}, l.get(5).outputShape());
            assertEquals(5 * 5 * 1 * 4, l.get(5).paramCount());
            assertArrayEquals(new long[] {92, 170 * 3, 1}, l.get(6).outputShape());
            try (Scope s = Scope.open()) {
                Tensor y = m.call(Tensor.randn(1, 2, 10));
                assertArrayEquals(new long[] {2, 92, 510, 1}, y.shape());
                assertTrue(y.abs().max(null, false).item() <= 1.0);
            }
        }
    }

    @Test
    void defaultsAreKeras() {
        Conv2DTranspose c = new Conv2DTranspose(4, 3);
        assertEquals("valid", c.config().get("padding"));
        assertEquals(List.of(1, 1), c.config().get("strides"));
        assertEquals("linear", c.config().get("activation"));
        assertEquals(true, c.config().get("use_bias"));
        assertEquals(List.of(2, 2), new UpSampling2D().config().get("size"));
        assertEquals("nearest", new UpSampling2D().config().get("interpolation"));
    }

    @Test
    void glorotUniformKernelUsesKerasFans() {
        Conv2DTranspose c = new Conv2DTranspose(16, 3);
        c.build(new long[] {8, 8, 4}, DType.F32, new SplittableRandom(1));
        try (Scope s = Scope.open()) {
            double limit = Math.sqrt(6.0 / (9 * 16 + 9 * 4));
            double max = c.kernel().abs().max(null, false).item();
            assertTrue(max <= limit && max > 0.9 * limit, "max |w| " + max + " vs limit " + limit);
            assertEquals(0.0, c.bias().abs().sum().item());
        } finally {
            c.close();
        }
    }

    @Test
    void layersComputeTheirOps() {
        Conv2DTranspose c = new Conv2DTranspose(3, 3, "sigmoid").strides(2).padding("same")
                .biasInitializer(Initializer.constant(0.2));
        c.build(new long[] {5, 5, 2}, DType.F32, new SplittableRandom(2));
        UpSampling2D u = new UpSampling2D(3);
        try (Scope s = Scope.open()) {
            Tensor x = Tensor.randn(3, 2, 5, 5, 2);
            Tensor expected = TransposedConvolution.conv2dTranspose(x, c.kernel(), c.bias(), new int[] {2, 2}, "same").sigmoid();
            Reference.assertClose(c.apply(x, true).toDoubleArray(), expected.toDoubleArray(), Reference.ELEMENTWISE_F32);
            assertArrayEquals(Resize.upsampleNearest2d(x, new int[] {3, 3}).toFloatArray(), u.apply(x, false).toFloatArray());
        } finally {
            c.close();
            u.close();
        }
    }

    @Test
    void badInputsNameTheLayer() {
        try (Conv2DTranspose c = new Conv2DTranspose(4, 3); UpSampling2D u = new UpSampling2D()) {
            ShapeException e = assertThrows(ShapeException.class, () -> c.computeOutputShape(new long[] {28, 28}));
            assertTrue(e.getMessage().startsWith(c.name() + ": input [batch, 28, 28] has rank 3"), e.getMessage());
            e = assertThrows(ShapeException.class, () -> u.computeOutputShape(new long[] {28}));
            assertTrue(e.getMessage().startsWith(u.name() + ": input [batch, 28] has rank 2"), e.getMessage());
            e = assertThrows(ShapeException.class, () -> u.computeOutputShape(new long[] {Long.MAX_VALUE / 2, 2, 1}));
            assertTrue(e.getMessage().startsWith(u.name() + ": "), e.getMessage());
        }
        ShapeException e = assertThrows(ShapeException.class, () -> new UpSampling2D(0));
        assertTrue(e.getMessage().startsWith("UpSampling2D: size must be two positive values"), e.getMessage());
        e = assertThrows(ShapeException.class, () -> new Conv2DTranspose(0, 3));
        assertTrue(e.getMessage().startsWith("Conv2DTranspose: filters must be > 0"), e.getMessage());
        e = assertThrows(ShapeException.class, () -> new Conv2DTranspose(4, -1));
        assertTrue(e.getMessage().startsWith("Conv2DTranspose: kernel size"), e.getMessage());
        e = assertThrows(ShapeException.class, () -> new Conv2DTranspose(4, 3).strides(0, 1));
        assertTrue(e.getMessage().startsWith("Conv2DTranspose: strides"), e.getMessage());
        e = assertThrows(ShapeException.class, () -> new Conv2DTranspose(4, 3).padding("full"));
        assertTrue(e.getMessage().startsWith("Conv2DTranspose: padding"), e.getMessage());
        try (Conv2DTranspose c = new Conv2DTranspose(4, 3); Scope s = Scope.open()) {
            c.build(new long[] {8, 8, 3}, DType.F32, new SplittableRandom(1));
            e = assertThrows(ShapeException.class, () -> c.apply(Tensor.zeros(2, 8, 8, 2), false));
            assertTrue(e.getMessage().startsWith(c.name() + ": expected input of shape [batch, 8, 8, 3]"), e.getMessage());
        }
        IllegalArgumentException bad = assertThrows(IllegalArgumentException.class,
                () -> LayerRegistry.create("up_sampling2d", Map.of("size", List.of(2, 2), "interpolation", "bilinear")));
        assertTrue(bad.getMessage().contains("nearest"), bad.getMessage());
    }

    @Test
    void registryRebuildsBothLayersFromTheirConfigs() {
        Conv2DTranspose c = new Conv2DTranspose(6, new int[] {4, 3}, "relu").strides(2, 1).padding("same").useBias(false);
        Layer back = LayerRegistry.create(c.typeName(), c.config());
        assertTrue(back instanceof Conv2DTranspose);
        assertEquals("conv2d_transpose", back.typeName());
        assertEquals(c.config(), back.config());
        UpSampling2D u = new UpSampling2D(new int[] {3, 1});
        Layer ub = LayerRegistry.create(u.typeName(), u.config());
        assertEquals("up_sampling2d", ub.typeName());
        assertEquals(u.config(), ub.config());
    }

    @Test
    void checkpointsRebuildBothLayers(@TempDir Path dir) throws Exception {
        Path file = dir.resolve("gen.safetensors");
        float[] before;
        Tensor x = Tensor.randn(7, 3, 4, 4, 2).keep();
        try {
            try (Sequential m = new Sequential(new Conv2DTranspose(4, new int[] {3, 2}, "tanh").strides(2, 1).padding("same"),
                    new UpSampling2D(new int[] {1, 2}), new Conv2DTranspose(3, 2).useBias(false).strides(2),
                    new GlobalAveragePooling2D(), new Dense(2, "softmax"))) {
                m.seed(4).compile(new Adam(0.01), "sparse_categorical_crossentropy");
                m.build(4, 4, 2);
                try (Scope s = Scope.open()) {
                    before = m.call(x).toFloatArray();
                }
                m.save(file);
            }
            try (Sequential m = Checkpoint.load(file); Scope s = Scope.open()) {
                assertArrayEquals(before, m.call(x).toFloatArray());
                Conv2DTranspose c = (Conv2DTranspose) m.layers().get(0);
                assertEquals(List.of(3, 2), c.config().get("kernel_size"));
                assertEquals(List.of(2, 1), c.config().get("strides"));
                assertEquals("same", c.config().get("padding"));
                assertEquals("tanh", c.activationName());
                assertEquals(List.of(1, 2), m.layers().get(1).config().get("size"));
                assertEquals(false, m.layers().get(2).config().get("use_bias"));
            }
        } finally {
            x.close();
        }
    }
}
