package dev.soma.data;

import dev.soma.io.CorruptFileException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.SplittableRandom;
import java.util.zip.GZIPOutputStream;

import static org.junit.jupiter.api.Assertions.*;

class IdxTest {
    @TempDir
    Path dir;

    @Test
    void roundTripRawAndGzip() throws IOException {
        byte[] values = new byte[4 * 3 * 5];
        new SplittableRandom(3).nextBytes(values);
        values[0] = (byte) 255; // unsigned values survive
        for (String name : new String[] {"a-idx3-ubyte", "a-idx3-ubyte.gz"}) {
            Path f = dir.resolve(name);
            Idx.writeUbyte(f, new int[] {4, 3, 5}, values);
            Idx.Data d = Idx.read(f);
            assertArrayEquals(new int[] {4, 3, 5}, d.dims(), name);
            assertArrayEquals(values, d.values(), name);
            assertEquals(4, d.count());
            assertEquals(255, d.unsigned(0));
        }
        byte[] rawBytes = Files.readAllBytes(dir.resolve("a-idx3-ubyte"));
        assertEquals(4 + 3 * 4 + values.length, rawBytes.length);
        assertArrayEquals(new byte[] {0, 0, 8, 3, 0, 0, 0, 4}, Arrays.copyOf(rawBytes, 8));
        byte[] gz = Files.readAllBytes(dir.resolve("a-idx3-ubyte.gz"));
        assertEquals(0x1f, gz[0] & 0xff, "the .gz file must really be gzip");
    }

    @Test
    void readsAHandWrittenFileRegardlessOfItsName() throws IOException {
        // Written byte by byte (not by our writer): big-endian dims 2 x 2, then four values; gzip detected by magic.
        byte[] file = {0, 0, 8, 2, 0, 0, 0, 2, 0, 0, 0, 2, 1, 2, 3, (byte) 200};
        Path f = dir.resolve("plain.bin");
        Files.write(f, gzip(file));
        Idx.Data d = Idx.read(f);
        assertArrayEquals(new int[] {2, 2}, d.dims());
        assertEquals(200, d.unsigned(3));
    }

    @Test
    void truncatedFilesAreRejectedWithTheReason() throws IOException {
        byte[] full = header(3, 10, 2, 2);
        byte[] data = Arrays.copyOf(full, full.length + 10 * 4 - 1); // one value missing
        assertCorrupt(write("short", data), "promises 40 bytes of data but the file holds only 39");
        assertCorrupt(write("short.gz", gzip(data)), "holds only 39");
        // gzip stream itself cut in the middle
        byte[] gz = gzip(Arrays.copyOf(full, full.length + 40));
        assertCorrupt(write("cut.gz", Arrays.copyOf(gz, gz.length - 12)), "gzip data is corrupt or truncated");
        // header cut
        assertCorrupt(write("hdr", Arrays.copyOf(full, 9)), "header is truncated");
        assertCorrupt(write("tiny", new byte[] {0, 0}), "4-byte magic");
        assertCorrupt(write("empty", new byte[0]), "4-byte magic");
        // trailing garbage
        assertCorrupt(write("long", Arrays.copyOf(full, full.length + 41)), "1 unexpected bytes after");
        assertCorrupt(write("long.gz", gzip(Arrays.copyOf(full, full.length + 41))), "unexpected bytes after");
    }

    @Test
    void badMagicTypeAndRankAreRejected() throws IOException {
        assertCorrupt(write("magic", new byte[] {0, 1, 8, 1, 0, 0, 0, 0}), "bad magic number 0x00010801");
        assertCorrupt(write("png", new byte[] {(byte) 0x89, 'P', 'N', 'G', 0, 0, 0, 0}), "not an IDX file");
        assertCorrupt(write("float", new byte[] {0, 0, 0x0D, 1, 0, 0, 0, 0}), "type code 0x0d is not supported");
        assertCorrupt(write("rank0", new byte[] {0, 0, 8, 0}), "rank 0 is outside");
        assertCorrupt(write("rank9", new byte[] {0, 0, 8, 9}), "rank 9 is outside");
        assertCorrupt(write("neg", header(1, -5)), "dimension 0 is negative");
    }

    @Test
    void hugeHeaderDimensionsAreRejectedBeforeAllocating() throws IOException {
        // Products beyond a Java array.
        assertCorrupt(write("huge", header(3, 0x7fffffff, 0x7fffffff, 0x7fffffff)), "more than one Java array holds");
        assertCorrupt(write("huge2", header(2, 70000, 70000)), "more than one Java array holds");
        // Plausible sizes the file cannot hold: rejected from the file size, not by trying to allocate.
        assertCorrupt(write("big", header(3, 1_000_000, 28, 28)), "promises 784000000 bytes of data but the file holds only 0");
        assertCorrupt(write("big.gz", gzip(header(3, 1_000_000, 28, 28))), "more than a");
    }

    @Test
    void writerRejectsInconsistentArguments() {
        assertThrows(IllegalArgumentException.class, () -> Idx.writeUbyte(dir.resolve("x"), new int[] {2, 2}, new byte[3]));
        assertThrows(IllegalArgumentException.class, () -> Idx.writeUbyte(dir.resolve("x"), new int[] {}, new byte[0]));
        assertThrows(IllegalArgumentException.class, () -> Idx.writeUbyte(dir.resolve("x"), new int[] {-1}, new byte[0]));
    }

    private static byte[] header(int rank, int... dims) {
        ByteBuffer b = ByteBuffer.allocate(4 + 4 * rank);
        b.put(new byte[] {0, 0, 8, (byte) rank});
        for (int d : dims) b.putInt(d);
        return b.array();
    }

    private Path write(String name, byte[] bytes) throws IOException {
        Path f = dir.resolve(name);
        Files.write(f, bytes);
        return f;
    }

    private static byte[] gzip(byte[] bytes) throws IOException {
        ByteArrayOutputStream bos = new ByteArrayOutputStream();
        try (GZIPOutputStream gz = new GZIPOutputStream(bos)) {
            gz.write(bytes);
        }
        return bos.toByteArray();
    }

    private static void assertCorrupt(Path file, String fragment) {
        CorruptFileException e = assertThrows(CorruptFileException.class, () -> Idx.read(file));
        assertTrue(e.getMessage().contains(fragment), "expected '" + fragment + "' in: " + e.getMessage());
        assertTrue(e.getMessage().startsWith(file.toString()), "message must name the file: " + e.getMessage());
    }
}
