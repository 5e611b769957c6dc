package dev.soma.explain;

import dev.soma.data.ArrayDataset;
import dev.soma.model.FitOptions;
import dev.soma.model.Sequential;
import dev.soma.nn.Conv2D;
import dev.soma.nn.Dense;
import dev.soma.nn.Flatten;
import dev.soma.nn.MaxPooling2D;
import dev.soma.optim.Adam;

import java.util.SplittableRandom;

/**
 * The synthetic task the explanation tests train on: 12x12 grey images of dim noise; class 1 images hold a bright
 * 3x3 patch somewhere, class 0 images do not. A model that learns it must look at the patch, so a good
 * attribution of class 1 points there.
 */
final class PatchTask {
    static final int SIDE = 12;
    static final int PATCH = 3;
    static final long[] SHAPE = {SIDE, SIDE, 1};

    private PatchTask() {}

    /** One image; with {@code patchAt} = {row, col}, the patch's top-left corner, else no patch. */
    static float[] image(SplittableRandom r, int[] patchAt) {
        float[] x = new float[SIDE * SIDE];
        for (int i = 0; i < x.length; i++) x[i] = (float) (0.3 * r.nextDouble());
        if (patchAt != null) {
            for (int dy = 0; dy < PATCH; dy++) {
                for (int dx = 0; dx < PATCH; dx++) x[(patchAt[0] + dy) * SIDE + patchAt[1] + dx] = 1f;
            }
        }
        return x;
    }

    static boolean inPatch(int pixel, int[] patchAt) {
        int y = pixel / SIDE, x = pixel % SIDE;
        return y >= patchAt[0] && y < patchAt[0] + PATCH && x >= patchAt[1] && x < patchAt[1] + PATCH;
    }

    static ArrayDataset dataset(int n, long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        float[] x = new float[n * SIDE * SIDE];
        int[] y = new int[n];
        for (int i = 0; i < n; i++) {
            y[i] = i % 2;
            int[] at = y[i] == 1 ? new int[] {r.nextInt(SIDE - PATCH + 1), r.nextInt(SIDE - PATCH + 1)} : null;
            System.arraycopy(image(r, at), 0, x, i * SIDE * SIDE, SIDE * SIDE);
        }
        return ArrayDataset.withLabels(x, SHAPE, y);
    }

    /** A small CNN, untrained (weights from {@code seed}). */
    static Sequential model(long seed) {
        Sequential m = new Sequential(new Conv2D(8, 3, "relu").padding("same"), new MaxPooling2D(2), new Flatten(),
                new Dense(16, "relu"), new Dense(2, "softmax"));
        m.seed(seed);
        m.build(SHAPE);
        return m;
    }

    /** The CNN trained on 1,024 images for 6 epochs: test accuracy well above 95 % (asserted by the tests that use it). */
    static Sequential trained(long seed) {
        Sequential m = model(seed);
        m.compile(new Adam(3e-3), "sparse_categorical_crossentropy", "accuracy");
        m.fit(dataset(1024, seed + 1), new FitOptions().batchSize(32).epochs(6).verbose(0));
        return m;
    }
}
