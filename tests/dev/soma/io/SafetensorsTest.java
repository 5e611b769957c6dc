package dev.soma.io;

import dev.soma.errors.DTypeException;
import dev.soma.memory.Scope;
import dev.soma.tensor.DType;
import dev.soma.tensor.Tensor;
import dev.soma.testing.NoLeaks;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.*;

@ExtendWith(NoLeaks.class)
class SafetensorsTest {
    @TempDir
    Path dir;

    @Test
    void roundTripKeepsNamesOrderShapesDtypesAndValues() throws IOException {
        SplittableRandom r = new SplittableRandom(11);
        float[] w = new float[3 * 4];
        for (int i = 0; i < w.length; i++) w[i] = (float) r.nextGaussian();
        double[] d = {Math.PI, -0.0, Double.MIN_VALUE, 1e300, Double.NaN};
        int[] ints = {0, -1, Integer.MAX_VALUE, Integer.MIN_VALUE, 42, 7};
        Path file = dir.resolve("model.safetensors");
        try (Scope s = Scope.open()) {
            Map<String, Tensor> in = new LinkedHashMap<>();
            Tensor wt = Tensor.of(w, 3, 4);
            in.put("dense.kernel", wt);
            in.put("dense.kernel_t", wt.transpose(0, 1)); // non-contiguous view: written row-major
            in.put("f64", Tensor.of(d, 5));
            in.put("labels", Tensor.ofInts(ints, 2, 3));
            in.put("scalar", Tensor.scalar(2.5));
            in.put("empty", Tensor.zeros(0, 3));
            Safetensors.write(file, in);

            Safetensors.Loaded out = Safetensors.read(file);
            assertEquals(List.copyOf(in.keySet()), List.copyOf(out.tensors().keySet()));
            for (Map.Entry<String, Tensor> e : in.entrySet()) {
                Tensor got = out.tensors().get(e.getKey());
                assertArrayEquals(e.getValue().shape(), got.shape(), e.getKey());
                assertEquals(e.getValue().dtype(), got.dtype(), e.getKey());
            }
            assertArrayEquals(w, out.tensors().get("dense.kernel").toFloatArray());
            float[] wT = new float[12];
            for (int i = 0; i < 3; i++) for (int j = 0; j < 4; j++) wT[j * 3 + i] = w[i * 4 + j];
            assertArrayEquals(wT, out.tensors().get("dense.kernel_t").toFloatArray());
            double[] dGot = out.tensors().get("f64").toDoubleArray();
            for (int i = 0; i < d.length; i++) {
                assertEquals(Double.doubleToRawLongBits(d[i]), Double.doubleToRawLongBits(dGot[i]), "f64[" + i + "]");
            }
            assertArrayEquals(ints, out.tensors().get("labels").toIntArray());
            assertEquals(0, out.tensors().get("scalar").ndim());
            assertEquals(2.5, out.tensors().get("scalar").item());
            assertEquals(0, out.tensors().get("empty").numel());
            assertTrue(out.metadata().isEmpty());
        }
        // Layout: 8-byte length, JSON padded to 8, then exactly the data bytes.
        byte[] bytes = Files.readAllBytes(file);
        long n = ByteBuffer.wrap(bytes, 0, 8).order(ByteOrder.LITTLE_ENDIAN).getLong();
        assertEquals(0, n % 8);
        assertEquals('{', bytes[8]);
        long data = 12 * 4 + 12 * 4 + 5 * 8 + 6 * 4 + 4;
        assertEquals(8 + n + data, bytes.length);
    }

    @Test
    void readsAFileWrittenByAnotherImplementation() throws IOException {
        // The layout the reference implementation writes: unpadded JSON is allowed too.
        ByteBuffer data = ByteBuffer.allocate(8 + 8).order(ByteOrder.LITTLE_ENDIAN);
        data.putInt(-3).putInt(9).putFloat(1.5f).putFloat(-2f);
        Path file = raw("{\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,16]},"
                + "\"a\":{\"dtype\":\"I32\",\"shape\":[1,2],\"data_offsets\":[0,8]},"
                + "\"__metadata__\":{\"format\":\"pt\"}}", data.array(), false);
        try (Scope s = Scope.open()) {
            Safetensors.Loaded out = Safetensors.read(file);
            assertArrayEquals(new float[] {1.5f, -2f}, out.tensors().get("b").toFloatArray());
            assertArrayEquals(new int[] {-3, 9}, out.tensors().get("a").toIntArray());
            assertArrayEquals(new long[] {1, 2}, out.tensors().get("a").shape());
            assertEquals(Map.of("format", "pt"), out.metadata());
        }
    }

    @Test
    void everyTensorStartsAlignedToItsElementSize() throws IOException {
        Path file = dir.resolve("aligned.safetensors");
        try (Scope s = Scope.open()) {
            Map<String, Tensor> in = new LinkedHashMap<>();
            in.put("one_f32", Tensor.of(new float[] {1}));
            in.put("f64", Tensor.of(new double[] {2, 3}));
            in.put("three_i32", Tensor.ofInts(new int[] {4, 5, 6}));
            in.put("f64b", Tensor.of(new double[] {7}));
            Safetensors.write(file, in);
            Safetensors.Header h = Safetensors.readHeader(file);
            assertEquals(0, h.dataStart() % 8, "the data section starts 8-aligned");
            assertEquals(List.copyOf(in.keySet()), h.entries().stream().map(Safetensors.Entry::name).toList());
            for (Safetensors.Entry e : h.entries()) {
                assertEquals(0, e.begin() % e.dtype().byteSize(), e.name() + " starts at " + e.begin());
            }
            Safetensors.Loaded l = Safetensors.read(file);
            assertArrayEquals(new double[] {2, 3}, l.tensors().get("f64").toDoubleArray());
            assertArrayEquals(new double[] {7}, l.tensors().get("f64b").toDoubleArray());
            assertArrayEquals(new float[] {1}, l.tensors().get("one_f32").toFloatArray());
            assertArrayEquals(new int[] {4, 5, 6}, l.tensors().get("three_i32").toIntArray());
        }
    }

    @Test
    void metadataRoundTrips() throws IOException {
        Path file = dir.resolve("m.safetensors");
        Map<String, String> meta = new LinkedHashMap<>();
        meta.put("epochs", "3");
        meta.put("model", "cnn \"quoted\" <html> é ✓");
        meta.put("empty", "");
        try (Scope s = Scope.open()) {
            Safetensors.write(file, Map.of("x", Tensor.of(new float[] {1, 2})), meta);
            assertEquals(meta, Safetensors.read(file).metadata());
            assertEquals(meta, Safetensors.readHeader(file).metadata());
            // Metadata alone, no tensors, is a valid file.
            Path only = dir.resolve("only-meta.safetensors");
            Safetensors.write(only, Map.of(), meta);
            Safetensors.Loaded l = Safetensors.read(only);
            assertTrue(l.tensors().isEmpty());
            assertEquals(meta, l.metadata());
        }
    }

    @Test
    void writeReplacesAtomicallyAndLeavesNoTemporaryFiles() throws IOException {
        Path file = dir.resolve("w.safetensors");
        try (Scope s = Scope.open()) {
            Safetensors.write(file, Map.of("x", Tensor.of(new float[] {1, 2, 3})));
            assertEquals("rw-r--r--", java.nio.file.attribute.PosixFilePermissions.toString(
                    Files.getPosixFilePermissions(file)), "a new file must not stay owner-only like a temp file");
            Files.setPosixFilePermissions(file, java.nio.file.attribute.PosixFilePermissions.fromString("rw-rw----"));
            Safetensors.write(file, Map.of("y", Tensor.of(new float[] {4})));
            assertEquals("rw-rw----", java.nio.file.attribute.PosixFilePermissions.toString(
                    Files.getPosixFilePermissions(file)), "replacing a file keeps its permissions");
            assertEquals(List.of("y"), List.copyOf(Safetensors.read(file).tensors().keySet()));
            byte[] before = Files.readAllBytes(file);
            Tensor closed = Tensor.of(new float[] {5});
            closed.close();
            assertThrows(dev.soma.errors.ClosedTensorException.class,
                    () -> Safetensors.write(file, Map.of("z", closed)));
            assertArrayEquals(before, Files.readAllBytes(file), "a failed write must leave the old file");
            assertThrows(IllegalArgumentException.class,
                    () -> Safetensors.write(file, Map.of("__metadata__", Tensor.of(new float[] {1}))));
        }
        try (Stream<Path> files = Files.list(dir)) {
            assertEquals(List.of(file), files.toList(), "temporary files left behind");
        }
    }

    @Test
    void corruptedHeadersAreRejectedWithTheReason() throws IOException {
        byte[] eight = new byte[8];
        String ok = "{\"x\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}";
        assertCorrupt(raw("{\"x\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}", eight, true), "not valid JSON");
        assertCorrupt(raw("[1,2]", new byte[0], true), "does not start with '{'");
        assertCorrupt(raw("{\"x\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                + "\"x\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", eight, true), "names 'x' twice");
        assertCorrupt(raw(ok.replace("F32", "Q7"), eight, true), "unknown dtype 'Q7'");
        assertCorrupt(raw(ok.replace("[2]", "[3]"), eight, true), "needs 12");
        assertCorrupt(raw(ok.replace("[2]", "[-2]"), eight, true), "negative");
        assertCorrupt(raw(ok.replace("[2]", "[2.5]"), eight, true), "not a 64-bit integer");
        assertCorrupt(raw(ok.replace("[2]", "[4294967296,4294967296,4294967296]"), eight, true), "overflows");
        assertCorrupt(raw(ok.replace("\"shape\"", "\"extra\":1,\"shape\""), eight, true), "unknown field 'extra'");
        assertCorrupt(raw("{\"__metadata__\":{\"a\":1}}", new byte[0], true), "is not a string");
        assertCorrupt(raw(ok + "{}", eight, true), "not valid JSON (malformed at line 1 column");
        DTypeException f16 = assertThrows(DTypeException.class,
                () -> Safetensors.read(raw(ok.replace("F32", "F16").replace("[2]", "[4]"), eight, true)));
        assertTrue(f16.getMessage().contains("F16"), f16.getMessage());

        // Header length fields that cannot be right.
        assertCorrupt(withLength(-1, 16), "outside");
        assertCorrupt(withLength(200L << 20, 16), "outside");
        assertCorrupt(withLength(64, 16), "runs past the end of the file");
        Path tiny = dir.resolve("tiny.safetensors");
        Files.write(tiny, new byte[5]);
        assertCorrupt(tiny, "8-byte header length");
        Path badUtf8 = dir.resolve("utf8.safetensors");
        ByteBuffer b = ByteBuffer.allocate(16).order(ByteOrder.LITTLE_ENDIAN).putLong(8);
        b.put(new byte[] {'{', (byte) 0xC3, (byte) 0x28, '}', ' ', ' ', ' ', ' '});
        Files.write(badUtf8, b.array());
        assertCorrupt(badUtf8, "not valid UTF-8");
    }

    @Test
    void truncatedDataIsRejectedAndNothingLeaks() throws IOException {
        Path file = dir.resolve("t.safetensors");
        try (Scope s = Scope.open()) {
            Map<String, Tensor> in = new LinkedHashMap<>();
            in.put("a", Tensor.of(new float[] {1, 2, 3, 4}));
            in.put("b", Tensor.of(new float[] {5, 6}));
            Safetensors.write(file, in);
        }
        long size = Files.size(file);
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.WRITE)) {
            ch.truncate(size - 4);
        }
        CorruptFileException e = assertCorrupt(file, "run past the end of the data section");
        assertTrue(e.getMessage().contains("'b'"), e.getMessage());
        assertEquals(file, e.file());
    }

    @Test
    void offsetsOutOfRangeOverlappingOrLeavingHolesAreRejected() throws IOException {
        byte[] sixteen = new byte[16];
        assertCorrupt(raw("{\"x\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[16,24]}}", sixteen, true),
                "run past the end");
        assertCorrupt(raw("{\"x\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[8,4]}}", sixteen, true),
                "end before they begin");
        assertCorrupt(raw("{\"x\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                + "\"y\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", sixteen, true), "overlap");
        assertCorrupt(raw("{\"x\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,16]}}", sixteen, true),
                "belong to no tensor");
        assertCorrupt(raw("{\"x\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", sixteen, true),
                "trailing bytes");
        assertCorrupt(raw("{\"x\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0]}}", sixteen, true),
                "expected 2");
    }

    @Test
    void dtypeNamesMatchTheFormat() {
        assertEquals("F32", Safetensors.dtypeName(DType.F32));
        assertEquals("F64", Safetensors.dtypeName(DType.F64));
        assertEquals("I32", Safetensors.dtypeName(DType.I32));
    }

    private CorruptFileException assertCorrupt(Path file, String fragment) {
        CorruptFileException e = assertThrows(CorruptFileException.class, () -> {
            try (Scope s = Scope.open()) {
                Safetensors.read(file);
            }
        });
        assertTrue(e.getMessage().contains(fragment), "expected '" + fragment + "' in: " + e.getMessage());
        assertTrue(e.getMessage().startsWith(file.toString()), "message must name the file: " + e.getMessage());
        return e;
    }

    private int counter;

    private Path raw(String json, byte[] data, boolean pad) throws IOException {
        byte[] j = json.getBytes(StandardCharsets.UTF_8);
        int n = pad ? (j.length + 7) / 8 * 8 : j.length;
        ByteBuffer b = ByteBuffer.allocate(8 + n + data.length).order(ByteOrder.LITTLE_ENDIAN);
        b.putLong(n).put(j);
        while (b.position() < 8 + n) b.put((byte) ' ');
        b.put(data);
        Path f = dir.resolve("raw" + (counter++) + ".safetensors");
        Files.write(f, b.array());
        return f;
    }

    private Path withLength(long headerLength, int totalBytes) throws IOException {
        ByteBuffer b = ByteBuffer.allocate(totalBytes).order(ByteOrder.LITTLE_ENDIAN).putLong(headerLength);
        b.put((byte) '{').put((byte) '}');
        Path f = dir.resolve("len" + (counter++) + ".safetensors");
        Files.write(f, b.array());
        return f;
    }
}
