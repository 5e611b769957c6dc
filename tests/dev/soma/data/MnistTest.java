package dev.soma.data;

import dev.soma.io.CorruptFileException;
import dev.soma.memory.Scope;
import dev.soma.tensor.DType;
import dev.soma.tensor.Tensor;
import dev.soma.testing.NoLeaks;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;

import java.io.FileNotFoundException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.*;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

@ExtendWith(NoLeaks.class)
class MnistTest {
    @TempDir
    Path dir;

    @Test
    void loadsASmallSyntheticDatasetAsNhwcFloatsAndIntLabels() throws IOException {
        int n = 5, h = 4, w = 3;
        byte[] px = new byte[n * h * w];
        for (int i = 0; i < px.length; i++) px[i] = (byte) (i * 7);
        byte[] labels = {3, 0, 9, 1, 3};
        Idx.writeUbyte(dir.resolve("train-images-idx3-ubyte.gz"), new int[] {n, h, w}, px);
        Idx.writeUbyte(dir.resolve("train-labels-idx1-ubyte"), new int[] {n}, labels);
        Idx.writeUbyte(dir.resolve("t10k-images.idx3-ubyte"), new int[] {1, h, w}, new byte[h * w]);
        Idx.writeUbyte(dir.resolve("t10k-labels.idx1-ubyte"), new int[] {1}, new byte[] {7});

        Mnist.Dataset d = Mnist.load(dir);
        Mnist.Split train = d.train();
        assertEquals(n, train.count());
        assertEquals(h, train.height());
        assertEquals(w, train.width());
        for (int i = 0; i < px.length; i++) assertEquals((px[i] & 0xff) / 255f, train.images()[i], "pixel " + i);
        assertArrayEquals(new int[] {3, 0, 9, 1, 3}, train.labels());
        assertArrayEquals(new int[] {1, 1, 0, 2, 0, 0, 0, 0, 0, 1}, train.labelCounts());
        assertArrayEquals(new int[] {7}, d.test().labels());

        Mnist.Split s = train.slice(1, 3);
        assertArrayEquals(new int[] {0, 9}, s.labels());
        assertEquals(train.images()[h * w], s.images()[0]);
        assertThrows(IndexOutOfBoundsException.class, () -> train.slice(2, 6));

        try (Scope scope = Scope.open()) {
            Tensor x = train.imagesTensor();
            Tensor y = train.labelsTensor();
            assertArrayEquals(new long[] {n, h, w, 1}, x.shape());
            assertEquals(DType.F32, x.dtype());
            assertArrayEquals(train.images(), x.toFloatArray());
            assertEquals(DType.I32, y.dtype());
            assertArrayEquals(train.labels(), y.toIntArray());
        }
    }

    @Test
    void inconsistentFilesAreRejected() throws IOException {
        Path images = dir.resolve("i");
        Path labels = dir.resolve("l");
        Idx.writeUbyte(images, new int[] {2, 2, 2}, new byte[8]);
        Idx.writeUbyte(labels, new int[] {3}, new byte[3]);
        assertTrue(assertThrows(CorruptFileException.class, () -> Mnist.load(images, labels)).getMessage()
                .contains("3 labels for 2 images"));
        Idx.writeUbyte(labels, new int[] {2}, new byte[] {1, 10});
        assertTrue(assertThrows(CorruptFileException.class, () -> Mnist.load(images, labels)).getMessage()
                .contains("label 10 at index 1"));
        Idx.writeUbyte(labels, new int[] {2, 1}, new byte[2]);
        assertTrue(assertThrows(CorruptFileException.class, () -> Mnist.load(images, labels)).getMessage()
                .contains("labels must have 1 dimension"));
        Idx.writeUbyte(images, new int[] {2, 4}, new byte[8]);
        Idx.writeUbyte(labels, new int[] {2}, new byte[2]);
        assertTrue(assertThrows(CorruptFileException.class, () -> Mnist.load(images, labels)).getMessage()
                .contains("images must have 3 dimensions"));
        for (int[] empty : new int[][] {{0, 28, 28}, {2, 0, 28}, {2, 28, 0}}) {
            Idx.writeUbyte(images, empty, new byte[0]);
            Idx.writeUbyte(labels, new int[] {empty[0]}, new byte[empty[0]]);
            assertTrue(assertThrows(CorruptFileException.class, () -> Mnist.load(images, labels)).getMessage()
                    .contains("holds no images"), java.util.Arrays.toString(empty));
        }
        FileNotFoundException missing = assertThrows(FileNotFoundException.class, () -> Mnist.loadTest(dir));
        assertTrue(missing.getMessage().contains("t10k-images-idx3-ubyte"), missing.getMessage());
    }

    /** Runs where the real data was fetched (bin/soma fetch mnist); skipped elsewhere. */
    @Test
    void realMnistTestSetLooksLikeMnist() throws IOException {
        Path folder = DatasetFetcher.defaultDataRoot().resolve("mnist");
        assumeTrue(Files.isDirectory(folder), "no " + folder.toAbsolutePath() + " (run bin/soma fetch mnist)");
        assertTrue(DatasetFetcher.isPresent(DatasetFetcher.Known.MNIST, folder), "checksums of " + folder);
        Mnist.Split test = Mnist.loadTest(folder);
        assertEquals(10_000, test.count());
        assertEquals(28, test.height());
        assertEquals(28, test.width());
        assertEquals(10_000 * 28 * 28, test.images().length);
        int[] counts = test.labelCounts();
        for (int c = 0; c < 10; c++) {
            assertTrue(counts[c] >= 850 && counts[c] <= 1200, "class " + c + " has " + counts[c] + " test images");
        }
        double sum = 0;
        float min = Float.MAX_VALUE, max = -Float.MAX_VALUE;
        for (float v : test.images()) {
            sum += v;
            min = Math.min(min, v);
            max = Math.max(max, v);
        }
        assertEquals(0f, min);
        assertEquals(1f, max);
        double mean = sum / test.images().length;
        assertTrue(mean > 0.12 && mean < 0.145, "MNIST's mean pixel is about 0.13, got " + mean);
    }

    /** Runs where Fashion-MNIST was fetched (bin/soma fetch fashion-mnist): gzip files, exactly 1000 per class. */
    @Test
    void realFashionMnistTestSetIsBalanced() throws IOException {
        Path folder = DatasetFetcher.defaultDataRoot().resolve("fashion-mnist");
        assumeTrue(Files.isDirectory(folder), "no " + folder.toAbsolutePath() + " (run bin/soma fetch fashion-mnist)");
        assertTrue(DatasetFetcher.isPresent(DatasetFetcher.Known.FASHION_MNIST, folder), "checksums of " + folder);
        Mnist.Split test = Mnist.loadTest(folder);
        assertEquals(10_000, test.count());
        assertArrayEquals(new int[] {1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000}, test.labelCounts());
    }
}
