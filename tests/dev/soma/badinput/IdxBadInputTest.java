package dev.soma.badinput;

import dev.soma.data.Idx;
import dev.soma.data.Mnist;
import dev.soma.io.CorruptFileException;
import dev.soma.testing.NoLeaks;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.FileNotFoundException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.zip.GZIPOutputStream;

import static dev.soma.badinput.Expect.thrown;
import static org.junit.jupiter.api.Assertions.*;

/** Truncated, malformed and lying IDX files (raw and gzip) and MNIST folders that do not add up. */
@ExtendWith(NoLeaks.class)
class IdxBadInputTest {
    @TempDir
    Path dir;

    static byte[] idx(int type, int[] dims, int dataBytes) {
        ByteBuffer b = ByteBuffer.allocate(4 + 4 * dims.length + dataBytes);
        b.put((byte) 0).put((byte) 0).put((byte) type).put((byte) dims.length);
        for (int d : dims) b.putInt(d);
        return b.array();
    }

    static byte[] gzip(byte[] raw) throws Exception {
        ByteArrayOutputStream bos = new ByteArrayOutputStream();
        try (GZIPOutputStream gz = new GZIPOutputStream(bos)) {
            gz.write(raw);
        }
        return bos.toByteArray();
    }

    private Path file(String name, byte[] content) throws Exception {
        Path p = dir.resolve(name);
        Files.write(p, content);
        return p;
    }

    @Test
    void emptyAndTooShortFiles() throws Exception {
        Path p = file("empty", new byte[0]);
        thrown(CorruptFileException.class, () -> Idx.read(p), "empty", "0 bytes", "4-byte magic");
        Path q = file("short", new byte[] {0, 0, 8});
        thrown(CorruptFileException.class, () -> Idx.read(q), "short", "3 bytes");
    }

    @Test
    void badMagicAndUnsupportedType() throws Exception {
        Path p = file("png", new byte[] {(byte) 0x89, 'P', 'N', 'G', 0, 0, 0, 0});
        thrown(CorruptFileException.class, () -> Idx.read(p), "png", "bad magic", "not an IDX file");
        Path q = file("floats", idx(0x0D, new int[] {1}, 4));
        thrown(CorruptFileException.class, () -> Idx.read(q), "floats", "type code 0x0d", "not supported");
    }

    @Test
    void rankZeroOrTooLarge() throws Exception {
        Path p = file("rank0", idx(8, new int[0], 0));
        thrown(CorruptFileException.class, () -> Idx.read(p), "rank0", "rank 0");
        Path q = file("rank9", idx(8, new int[] {1, 1, 1, 1, 1, 1, 1, 1, 1}, 1));
        thrown(CorruptFileException.class, () -> Idx.read(q), "rank9", "rank 9");
    }

    @Test
    void truncatedHeader() throws Exception {
        byte[] b = Arrays.copyOf(idx(8, new int[] {2, 3, 3}, 18), 9);
        Path p = file("header", b);
        thrown(CorruptFileException.class, () -> Idx.read(p), "header", "truncated", "12 bytes");
    }

    @Test
    void negativeOrHugeDimensions() throws Exception {
        Path p = file("neg", idx(8, new int[] {-5}, 0));
        thrown(CorruptFileException.class, () -> Idx.read(p), "neg", "negative");
        Path q = file("huge", idx(8, new int[] {65536, 65536}, 0));
        thrown(CorruptFileException.class, () -> Idx.read(q), "huge", "more than one Java array holds");
    }

    @Test
    void truncatedOrOverlongData() throws Exception {
        byte[] full = idx(8, new int[] {4, 5}, 20);
        Path p = file("cut", Arrays.copyOf(full, full.length - 1));
        thrown(CorruptFileException.class, () -> Idx.read(p), "cut", "promises 20 bytes", "only 19", "truncated");
        Path q = file("long", Arrays.copyOf(full, full.length + 3));
        thrown(CorruptFileException.class, () -> Idx.read(q), "long", "3 unexpected bytes");
    }

    @Test
    void gzipCorruptTruncatedOrLying() throws Exception {
        byte[] gz = gzip(idx(8, new int[] {10, 10}, 100));
        byte[] flipped = gz.clone();
        flipped[flipped.length / 2] ^= 0x5a;
        flipped[flipped.length - 6] ^= 0x5a;
        Path p = file("flip.gz", flipped);
        thrown(CorruptFileException.class, () -> Idx.read(p), "flip.gz");
        Path q = file("cut.gz", Arrays.copyOf(gz, gz.length - 10));
        thrown(CorruptFileException.class, () -> Idx.read(q), "cut.gz", "truncated");
        Path r = file("bomb.gz", gzip(idx(8, new int[] {1 << 15, 1 << 15}, 0)));
        thrown(CorruptFileException.class, () -> Idx.read(r), "bomb.gz", "more than a");
        Path s = file("short.gz", gzip(idx(8, new int[] {10, 10}, 50)));
        thrown(CorruptFileException.class, () -> Idx.read(s), "short.gz", "decompressed", "only 50");
    }

    @Test
    void mnistFolderThatDoesNotAddUp() throws Exception {
        Idx.writeUbyte(dir.resolve("train-images-idx3-ubyte"), new int[] {3, 2, 2}, new byte[12]);
        Idx.writeUbyte(dir.resolve("train-labels-idx1-ubyte"), new int[] {2}, new byte[] {1, 2});
        thrown(CorruptFileException.class, () -> Mnist.loadTrain(dir), "train-labels-idx1-ubyte", "2 labels for 3 images");
        Idx.writeUbyte(dir.resolve("train-labels-idx1-ubyte"), new int[] {3}, new byte[] {1, 2, 10});
        thrown(CorruptFileException.class, () -> Mnist.loadTrain(dir), "label 10 at index 2", "0..9");
        Idx.writeUbyte(dir.resolve("train-images-idx3-ubyte"), new int[] {3, 4}, new byte[12]);
        thrown(CorruptFileException.class, () -> Mnist.loadTrain(dir), "train-images-idx3-ubyte", "3 dimensions");
        thrown(FileNotFoundException.class, () -> Mnist.loadTest(dir), "t10k-images-idx3-ubyte");
    }

    @Test
    void writerRejectsInconsistentArguments() {
        thrown(IllegalArgumentException.class, () -> Idx.writeUbyte(dir.resolve("w"), new int[] {2, 2}, new byte[3]),
                "IDX write", "needs 4 values");
        thrown(IllegalArgumentException.class, () -> Idx.writeUbyte(dir.resolve("w"), new int[] {-1}, new byte[0]),
                "IDX write", "negative");
        assertFalse(Files.exists(dir.resolve("w")));
    }
}
