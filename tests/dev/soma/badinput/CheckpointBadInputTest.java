package dev.soma.badinput;

import dev.soma.errors.DTypeException;
import dev.soma.errors.ShapeException;
import dev.soma.errors.SomaException;
import dev.soma.io.CorruptFileException;
import dev.soma.io.Safetensors;
import dev.soma.memory.Scope;
import dev.soma.model.Checkpoint;
import dev.soma.model.Sequential;
import dev.soma.nn.Dense;
import dev.soma.optim.Adam;
import dev.soma.tensor.Tensor;
import dev.soma.testing.NoLeaks;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;

import static dev.soma.badinput.Expect.thrown;
import static org.junit.jupiter.api.Assertions.*;

/** Checkpoints that are missing, truncated, corrupted or inconsistent: always an exception naming the file. */
@ExtendWith(NoLeaks.class)
class CheckpointBadInputTest {
    @TempDir
    Path dir;
    Path good;
    byte[] bytes;

    @BeforeEach
    void save() throws Exception {
        good = dir.resolve("good.safetensors");
        try (Sequential m = new Sequential(new Dense(3, "relu"), new Dense(2, "softmax"))) {
            m.seed(3).build(4);
            m.compile(new Adam(0.01), "sparse_categorical_crossentropy", "accuracy");
            m.save(good);
        }
        bytes = Files.readAllBytes(good);
        try (Sequential back = Checkpoint.load(good)) {
            assertEquals(2, back.layers().size(), "the unmodified file loads");
        }
    }

    private Path write(String name, byte[] content) throws Exception {
        Path p = dir.resolve(name);
        Files.write(p, content);
        return p;
    }

    private long headerLength() {
        return ByteBuffer.wrap(bytes, 0, 8).order(ByteOrder.LITTLE_ENDIAN).getLong();
    }

    @Test
    void missingFileIsAStandardNoSuchFileException() {
        thrown(NoSuchFileException.class, () -> Checkpoint.load(dir.resolve("absent.safetensors")), "absent.safetensors");
    }

    @Test
    void aFolderInsteadOfAFile() {
        assertThrows(java.io.IOException.class, () -> Checkpoint.load(dir));
    }

    @Test
    void emptyFile() throws Exception {
        Path p = write("empty.safetensors", new byte[0]);
        thrown(CorruptFileException.class, () -> Checkpoint.load(p), "empty.safetensors", "0 bytes");
    }

    @Test
    void truncatedAtEveryKindOfBoundary() throws Exception {
        long h = headerLength();
        long[] cuts = {3, 8, 9, 8 + h / 2, 8 + h, 8 + h + 1, bytes.length / 2, bytes.length - 1};
        for (long cut : cuts) {
            Path p = write("cut" + cut + ".safetensors", Arrays.copyOf(bytes, (int) cut));
            CorruptFileException e = thrown(CorruptFileException.class, () -> Checkpoint.load(p), "cut" + cut);
            assertEquals(p, e.file());
        }
    }

    @Test
    void headerLengthThatLies() throws Exception {
        byte[] b = bytes.clone();
        ByteBuffer.wrap(b).order(ByteOrder.LITTLE_ENDIAN).putLong(0, 1L << 62);
        Path p = write("len.safetensors", b);
        thrown(CorruptFileException.class, () -> Checkpoint.load(p), "len.safetensors", "header length");
        ByteBuffer.wrap(b).order(ByteOrder.LITTLE_ENDIAN).putLong(0, -1);
        Path q = write("neg.safetensors", b);
        thrown(CorruptFileException.class, () -> Checkpoint.load(q), "header length 18446744073709551615");
    }

    @Test
    void brokenJsonInTheHeader() throws Exception {
        byte[] b = bytes.clone();
        b[8] = '[';
        Path p = write("json.safetensors", b);
        thrown(CorruptFileException.class, () -> Checkpoint.load(p), "json.safetensors", "does not start with '{'");
        byte[] c = bytes.clone();
        int close = new String(c, 8, (int) headerLength(), StandardCharsets.ISO_8859_1).lastIndexOf('}') + 8;
        c[close] = ',';
        Path q = write("json2.safetensors", c);
        thrown(CorruptFileException.class, () -> Checkpoint.load(q), "json2.safetensors", "not valid JSON");
    }

    @Test
    void invalidUtf8InTheHeader() throws Exception {
        byte[] b = bytes.clone();
        b[9] = (byte) 0xff;
        Path p = write("utf.safetensors", b);
        thrown(CorruptFileException.class, () -> Checkpoint.load(p), "utf.safetensors", "UTF-8");
    }

    @Test
    void aFlippedBitInTheDataFailsTheChecksum() throws Exception {
        byte[] b = bytes.clone();
        b[b.length - 3] ^= 0x10;
        Path p = write("bit.safetensors", b);
        thrown(CorruptFileException.class, () -> Checkpoint.load(p), "bit.safetensors", "checksum", "corrupted");
    }

    /** Writes a safetensors file with the good file's tensors and the given metadata changes. */
    private Path withMetadata(String name, Map<String, String> changes, Map<String, Tensor> extra) throws Exception {
        Path p = dir.resolve(name);
        try (Scope s = Scope.open()) {
            Safetensors.Loaded l = Safetensors.read(good);
            Map<String, String> meta = new LinkedHashMap<>(l.metadata());
            meta.remove("data_crc32c");
            changes.forEach((k, v) -> {
                if (v == null) meta.remove(k);
                else meta.put(k, v);
            });
            Map<String, Tensor> tensors = new LinkedHashMap<>(l.tensors());
            tensors.putAll(extra);
            tensors.values().removeIf(t -> t == null);
            Safetensors.write(p, tensors, meta);
        }
        return p;
    }

    @Test
    void notASomaCheckpoint() throws Exception {
        Path p = withMetadata("fmt.safetensors", Map.of("format", "pytorch"), Map.of());
        thrown(SomaException.class, () -> Checkpoint.load(p), "fmt.safetensors", "not a Soma checkpoint", "pytorch");
    }

    @Test
    void malformedArchitectureJson() throws Exception {
        Path p = withMetadata("arch.safetensors", Map.of("model", "{\"class\": \"Sequential\", \"layers\": [}"), Map.of());
        CorruptFileException e = thrown(CorruptFileException.class, () -> Checkpoint.load(p), "arch.safetensors",
                "metadata is malformed", "line 1 column");
        assertFalse(e.getMessage().contains("\n"), "one line, without Gson's troubleshooting link: " + e.getMessage());
        Path q = withMetadata("arch2.safetensors", Map.of("model", "{\"class\": \"Sequential\"}"), Map.of());
        thrown(CorruptFileException.class, () -> Checkpoint.load(q), "arch2.safetensors", "metadata is malformed");
        Path r = withMetadata("arch3.safetensors", Map.of("model", "[1, 2]"), Map.of());
        thrown(CorruptFileException.class, () -> Checkpoint.load(r), "arch3.safetensors", "metadata is malformed");
        Path n = withMetadata("arch4.safetensors", new java.util.HashMap<>(java.util.Collections.singletonMap("model", null)),
                Map.of());
        thrown(CorruptFileException.class, () -> Checkpoint.load(n), "arch4.safetensors", "no 'model' entry");
    }

    @Test
    void unknownLayerTypeInTheArchitecture() throws Exception {
        Path p = withMetadata("layer.safetensors", Map.of("model",
                "{\"class\":\"Sequential\",\"seed\":\"1\",\"input_shape\":[4],\"layers\":[{\"type\":\"conv9d\",\"config\":{}}]}"),
                Map.of());
        thrown(CorruptFileException.class, () -> Checkpoint.load(p), "layer.safetensors", "unknown layer type 'conv9d'");
    }

    @Test
    void missingWeight() throws Exception {
        Map<String, Tensor> drop = new java.util.HashMap<>();
        drop.put("weights/1/kernel", null);
        Path p = withMetadata("missing.safetensors", Map.of(), drop);
        thrown(SomaException.class, () -> Checkpoint.load(p), "missing.safetensors", "weights/1/kernel", "missing");
    }

    @Test
    void weightOfTheWrongShape() throws Exception {
        Path p;
        try (Scope s = Scope.open()) {
            p = withMetadata("shape.safetensors", Map.of(), Map.of("weights/0/kernel", Tensor.zeros(5, 3)));
        }
        thrown(ShapeException.class, () -> Checkpoint.load(p), "shape.safetensors", "weights/0/kernel", "[4, 3]", "[5, 3]");
    }

    @Test
    void tensorOfADTypeSomaCannotRead() throws Exception {
        String header = "{\"w\":{\"dtype\":\"BF16\",\"shape\":[2],\"data_offsets\":[0,4]}}";
        Path p = write("bf16.safetensors", safetensors(header, new byte[4]));
        thrown(DTypeException.class, () -> Checkpoint.load(p), "bf16.safetensors", "BF16", "cannot load");
    }

    @Test
    void offsetsThatOverlapOrLeaveHoles() throws Exception {
        String overlap = "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                + "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}";
        Path p = write("overlap.safetensors", safetensors(overlap, new byte[8]));
        thrown(CorruptFileException.class, () -> Checkpoint.load(p), "overlap.safetensors", "overlap");
        String wrongSize = "{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}";
        Path q = write("size.safetensors", safetensors(wrongSize, new byte[8]));
        thrown(CorruptFileException.class, () -> Checkpoint.load(q), "size.safetensors", "needs 12");
        String huge = "{\"a\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296],\"data_offsets\":[0,8]}}";
        Path r = write("huge.safetensors", safetensors(huge, new byte[8]));
        thrown(CorruptFileException.class, () -> Checkpoint.load(r), "huge.safetensors", "overflows");
    }

    static byte[] safetensors(String header, byte[] data) {
        byte[] json = header.getBytes(StandardCharsets.UTF_8);
        ByteBuffer b = ByteBuffer.allocate(8 + json.length + data.length).order(ByteOrder.LITTLE_ENDIAN);
        b.putLong(json.length).put(json).put(data);
        return b.array();
    }
}
