package dev.soma.data;

import dev.soma.io.CorruptFileException;
import dev.soma.tensor.Tensor;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;

/**
 * MNIST-format datasets (MNIST, Fashion-MNIST): 28×28 grey images with labels 0..9, as the four IDX files
 * {@code train-images-idx3-ubyte}, {@code train-labels-idx1-ubyte}, {@code t10k-images-idx3-ubyte},
 * {@code t10k-labels-idx1-ubyte}, each raw or {@code .gz}. Images become floats in [0, 1], laid out NHWC
 * {@code [N, H, W, 1]}; labels become ints.
 */
public final class Mnist {
    public static final int NUM_CLASSES = 10;

    /** One split: {@code count} images of {@code height × width} (row-major, channel last) and their labels. */
    public record Split(float[] images, int[] labels, int count, int height, int width) {
        /** The images as an f32 tensor [N, H, W, 1] in the current scope. */
        public Tensor imagesTensor() {
            return Tensor.of(images, count, height, width, 1);
        }

        /** The labels as an i32 tensor [N] in the current scope. */
        public Tensor labelsTensor() {
            return Tensor.ofInts(labels, count);
        }

        /** Items {@code [from, to)} as a new split (copies). */
        public Split slice(int from, int to) {
            if (from < 0 || to > count || from > to) {
                throw new IndexOutOfBoundsException("Mnist.Split.slice: [" + from + ", " + to + ") of " + count + " items");
            }
            int px = height * width;
            return new Split(Arrays.copyOfRange(images, from * px, to * px), Arrays.copyOfRange(labels, from, to),
                    to - from, height, width);
        }

        /** How many items carry each label 0..9. */
        public int[] labelCounts() {
            int[] c = new int[NUM_CLASSES];
            for (int l : labels) c[l]++;
            return c;
        }
    }

    public record Dataset(Split train, Split test) {}

    private Mnist() {}

    /** Loads both splits from {@code folder}. */
    public static Dataset load(Path folder) throws IOException {
        return new Dataset(loadTrain(folder), loadTest(folder));
    }

    public static Split loadTrain(Path folder) throws IOException {
        return load(find(folder, "train-images-idx3-ubyte"), find(folder, "train-labels-idx1-ubyte"));
    }

    public static Split loadTest(Path folder) throws IOException {
        return load(find(folder, "t10k-images-idx3-ubyte"), find(folder, "t10k-labels-idx1-ubyte"));
    }

    /** Loads one split from an images file [N, H, W] and a labels file [N]. */
    public static Split load(Path imagesFile, Path labelsFile) throws IOException {
        Idx.Data images = Idx.read(imagesFile);
        Idx.Data labels = Idx.read(labelsFile);
        if (images.dims().length != 3) {
            throw new CorruptFileException(imagesFile, "images must have 3 dimensions [N, H, W], found "
                    + Arrays.toString(images.dims()));
        }
        if (labels.dims().length != 1) {
            throw new CorruptFileException(labelsFile, "labels must have 1 dimension [N], found " + Arrays.toString(labels.dims()));
        }
        if (images.count() != labels.count()) {
            throw new CorruptFileException(labelsFile, labels.count() + " labels for " + images.count() + " images in "
                    + imagesFile.getFileName());
        }
        int n = images.count();
        if (n == 0 || images.dims()[1] == 0 || images.dims()[2] == 0) { // nothing any command could train or test on
            throw new CorruptFileException(imagesFile, "holds no images (header " + Arrays.toString(images.dims()) + ")");
        }
        int[] y = new int[n];
        for (int i = 0; i < n; i++) {
            y[i] = labels.unsigned(i);
            if (y[i] >= NUM_CLASSES) {
                throw new CorruptFileException(labelsFile, "label " + y[i] + " at index " + i + " is outside 0.." + (NUM_CLASSES - 1));
            }
        }
        byte[] px = images.values();
        float[] x = new float[px.length];
        for (int i = 0; i < px.length; i++) x[i] = (px[i] & 0xff) / 255f;
        return new Split(x, y, n, images.dims()[1], images.dims()[2]);
    }

    /** The file {@code base} in {@code folder}: raw or .gz, with '-' or '.' before "idx" (both spellings exist). */
    static Path find(Path folder, String base) throws IOException {
        String dotted = base.replace("-idx", ".idx");
        List<String> candidates = List.of(base, base + ".gz", dotted, dotted + ".gz");
        for (String c : candidates) {
            Path p = folder.resolve(c);
            if (Files.isRegularFile(p)) return p;
        }
        throw new java.io.FileNotFoundException(folder + ": no " + base + " (looked for " + String.join(", ", candidates)
                + "); expected the four MNIST-format IDX files");
    }
}
