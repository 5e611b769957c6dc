package dev.soma.gan;

import dev.soma.autograd.Gradcheck;
import dev.soma.memory.Scope;
import dev.soma.nn.LayerRegistry;
import dev.soma.nn.LeakyReLU;
import dev.soma.tensor.DType;
import dev.soma.tensor.Device;
import dev.soma.tensor.Tensor;
import dev.soma.testing.NoLeaks;
import dev.soma.util.ImageGrid;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

import java.awt.image.BufferedImage;

import static org.junit.jupiter.api.Assertions.*;

@ExtendWith(NoLeaks.class)
class GanLayersTest {
    @Test
    void leakyReluLayerFollowsKerasDefaultsAndReference() {
        try (Scope s = Scope.open()) {
            LeakyReLU layer = new LeakyReLU();
            assertEquals(0.3, layer.negativeSlope()); // Keras 3's LeakyReLU(negative_slope=0.3)
            float[] in = {-2f, -0.5f, 0f, 1.5f, 3f, -1e-3f};
            float[] out = layer.apply(Tensor.of(in, 2, 3), false).toFloatArray();
            for (int i = 0; i < in.length; i++) {
                double ref = in[i] >= 0 ? in[i] : 0.3 * in[i];
                assertEquals(ref, out[i], 1e-6 * (1 + Math.abs(ref)));
            }
            LeakyReLU copy = (LeakyReLU) LayerRegistry.create(layer.typeName(), layer.config());
            assertEquals(0.3, copy.negativeSlope());
        }
        assertThrows(IllegalArgumentException.class, () -> new LeakyReLU(-0.1));
        assertThrows(IllegalArgumentException.class, () -> new LeakyReLU(Double.NaN));
    }

    @Test
    void leakyReluLayerGradient() {
        try (Scope s = Scope.open()) {
            LeakyReLU layer = new LeakyReLU(0.2);
            Tensor x = dev.soma.ops.Creation.randn(5, DType.F64, Device.cpu(), 4, 3);
            Gradcheck.assertGradients("LeakyReLU layer", xs -> layer.apply(xs[0], true), x);
        }
    }

    @Test
    void imageGridPlacesEveryExample() {
        float[] v = new float[3 * 4];   // three 2x2 grey images: black, white, mid-grey
        for (int i = 0; i < 4; i++) {
            v[i] = -1f;
            v[4 + i] = 1f;
            v[8 + i] = 0f;
        }
        BufferedImage img = ImageGrid.render(v, new long[] {4}, 2, -1, 1, 1);
        // 2 columns x 2 rows of 2x2 tiles with 2-pixel gaps: 2 + 2*(2+2) = 10 wide and tall.
        assertEquals(10, img.getWidth());
        assertEquals(10, img.getHeight());
        assertEquals(0x000000, img.getRGB(2, 2) & 0xFFFFFF);
        assertEquals(0xFFFFFF, img.getRGB(6, 3) & 0xFFFFFF);
        assertEquals(0x808080, img.getRGB(3, 7) & 0xFFFFFF);
        assertThrows(IllegalArgumentException.class, () -> ImageGrid.render(new float[5], new long[] {4}, 2, -1, 1, 1));
        assertThrows(IllegalArgumentException.class, () -> ImageGrid.imageShape(new long[] {3, 3, 2}));
        // Many columns are fine (the grid has as many as there are images); a scale that overflows the pixel count is not.
        BufferedImage oneRow = ImageGrid.render(v, new long[] {4}, Integer.MAX_VALUE, -1, 1, 1);
        assertEquals(14, oneRow.getWidth());
        assertEquals(6, oneRow.getHeight());
        IllegalArgumentException big = assertThrows(IllegalArgumentException.class,
                () -> ImageGrid.render(v, new long[] {4}, 2, -1, 1, 1 << 30));
        assertTrue(big.getMessage().contains("more than one image holds"), big.getMessage());
        assertArrayEquals(new int[] {28, 28, 1}, ImageGrid.imageShape(new long[] {784}));
    }
}
