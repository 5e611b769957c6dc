package dev.soma.robust;

import dev.soma.util.ImageGrid;

import java.io.IOException;
import java.nio.file.Path;

/**
 * Three rows of images: the originals, the perturbations (grey is zero; white and black are the largest change
 * either way) and the adversarial images.
 */
public final class AttackPicture {
    private AttackPicture() {}

    public static void write(Path png, float[] originals, float[] adversarial, long[] exampleShape, int count,
                             double lo, double hi, int scale) throws IOException {
        int per = originals.length / Math.max(count, 1);
        if (count < 1 || originals.length != count * per || adversarial.length < count * per) {
            throw new IllegalArgumentException("AttackPicture: " + originals.length + " original and " + adversarial.length
                    + " adversarial values are not " + count + " images each");
        }
        float[] all = new float[3 * count * per];
        double largest = 0;
        for (int i = 0; i < count * per; i++) largest = Math.max(largest, Math.abs(adversarial[i] - originals[i]));
        double half = largest == 0 ? 1 : 2 * largest;
        for (int i = 0; i < count * per; i++) {
            all[i] = originals[i];
            // Mapped onto [lo, hi] around its middle, so the middle row reads on the same grey scale.
            all[count * per + i] = (float) (lo + (hi - lo) * (0.5 + (adversarial[i] - originals[i]) / half));
            all[2 * count * per + i] = adversarial[i];
        }
        ImageGrid.write(png, all, exampleShape, count, lo, hi, scale);
    }
}
