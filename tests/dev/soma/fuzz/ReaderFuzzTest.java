package dev.soma.fuzz;

import com.code_intelligence.jazzer.api.FuzzedDataProvider;
import com.code_intelligence.jazzer.junit.DictionaryEntries;
import com.code_intelligence.jazzer.junit.FuzzTest;
import dev.soma.backend.Backends;
import dev.soma.data.Idx;
import dev.soma.errors.SomaException;
import dev.soma.io.Safetensors;
import dev.soma.model.Checkpoint;
import dev.soma.model.Sequential;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Coverage-guided fuzzing (Jazzer) of the readers that take files from outside: checkpoints (safetensors header,
 * JSON metadata, data) and IDX (raw and gzip). Any input may be rejected with a {@link SomaException} or an
 * {@link IOException}; anything else (a RuntimeException of another kind, an Error, a crash) or native memory left
 * allocated is a finding.
 *
 * <p>{@code mvn test} runs these in regression mode (each target on the empty input and on the local corpus in
 * {@code .cifuzz-corpus/}, if a fuzzing run left one). Fuzzing, one target per run, bounded by maxDuration:
 * {@code JAZZER_FUZZ=1 mvn -o test -Dtest='ReaderFuzzTest#checkpoint'} (likewise {@code #safetensorsHeader},
 * {@code #idx}). Findings are fixed and kept as plain regression tests in {@link ReaderRegressionTest}.
 */
class ReaderFuzzTest {
    private static final Path FILE;

    static {
        try {
            FILE = Files.createTempFile("soma-fuzz", ".bin");
            FILE.toFile().deleteOnExit();
        } catch (IOException e) {
            throw new ExceptionInInitializerError(e);
        }
    }

    @FuzzTest(maxDuration = "5s")
    void checkpoint(byte[] data) throws IOException {
        Files.write(FILE, data);
        loadCheckpoint(FILE);
    }

    /** Well-formed length prefix, fuzzed JSON header and data: gets past the first check to the JSON and layout. */
    @FuzzTest(maxDuration = "5s")
    @DictionaryEntries({"{\"", "\":{\"dtype\":\"F32\",\"shape\":[", "],\"data_offsets\":[0,", "\"F64\"", "\"I32\"",
            "\"BF16\"", "\"__metadata__\":{\"format\":\"soma-checkpoint-1\",\"model\":\"", "\"layers\":[",
            "\"type\":\"dense\"", "\"config\":{\"units\":", "\"input_shape\":[", "\"seed\":\"1\"",
            "weights/0/kernel", "\"data_crc32c\":\"", "\"optimizer\":\"", "\"compile\":\"", "1e999", "-1",
            "18446744073709551616", "\\u0000"})
    void safetensorsHeader(FuzzedDataProvider in) throws IOException {
        byte[] header = in.consumeString(in.consumeInt(0, 4096)).getBytes(StandardCharsets.UTF_8);
        byte[] data = in.consumeRemainingAsBytes();
        ByteBuffer b = ByteBuffer.allocate(8 + header.length + data.length).order(ByteOrder.LITTLE_ENDIAN);
        b.putLong(header.length).put(header).put(data);
        Files.write(FILE, b.array());
        loadCheckpoint(FILE);
        try {
            Safetensors.read(FILE).tensors().values().forEach(dev.soma.tensor.Tensor::close);
        } catch (SomaException expected) {
            // rejected cleanly
        }
        assertNoLiveBytes(FILE);
    }

    @FuzzTest(maxDuration = "5s")
    void idx(byte[] data) throws IOException {
        Files.write(FILE, data);
        try {
            Idx.read(FILE);
        } catch (SomaException expected) {
            // rejected cleanly
        }
    }

    static void loadCheckpoint(Path file) throws IOException {
        long before = Backends.cpu().pool().stats().allocatedBytes();
        try (Sequential m = Checkpoint.load(file)) {
            m.layers();
        } catch (SomaException expected) {
            // rejected cleanly
        }
        long after = Backends.cpu().pool().stats().allocatedBytes();
        if (after != before) throw new IllegalStateException("checkpoint load leaked " + (after - before) + " bytes");
    }

    private static void assertNoLiveBytes(Path file) {
        long live = Backends.cpu().pool().stats().allocatedBytes();
        if (live != 0) throw new IllegalStateException("reading " + file + " left " + live + " live bytes");
    }
}
