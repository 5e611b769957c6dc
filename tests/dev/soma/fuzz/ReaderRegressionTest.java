package dev.soma.fuzz;

import dev.soma.io.CorruptFileException;
import dev.soma.model.Checkpoint;
import dev.soma.testing.NoLeaks;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Adversarial reader inputs kept as plain tests: the shapes of input a fuzzer reaches slowly (deep nesting, huge
 * literals) and any finding of {@link ReaderFuzzTest}, each rejected with a {@link CorruptFileException} quickly.
 */
@ExtendWith(NoLeaks.class)
class ReaderRegressionTest {
    @TempDir
    Path dir;

    private Path safetensors(String header) throws Exception {
        byte[] json = header.getBytes(StandardCharsets.UTF_8);
        ByteBuffer b = ByteBuffer.allocate(8 + json.length).order(ByteOrder.LITTLE_ENDIAN);
        b.putLong(json.length).put(json);
        Path p = dir.resolve("f.safetensors");
        Files.write(p, b.array());
        return p;
    }

    @Test
    void deeplyNestedHeaderJsonIsRejectedWithoutAStackOverflow() throws Exception {
        int depth = 200_000;
        Path p = safetensors("{\"a\":" + "[".repeat(depth) + "]".repeat(depth) + "}");
        assertThrows(CorruptFileException.class, () -> Checkpoint.load(p));
    }

    @Test
    void deeplyNestedArchitectureJsonIsRejectedWithoutAStackOverflow() throws Exception {
        int depth = 200_000;
        String model = "[".repeat(depth) + "]".repeat(depth);
        Path p = safetensors("{\"__metadata__\":{\"format\":\"soma-checkpoint-1\",\"model\":\"" + model + "\"}}");
        assertThrows(CorruptFileException.class, () -> Checkpoint.load(p));
    }

    @Test
    void aHugeNumberLiteralIsRejectedQuickly() throws Exception {
        // Two million digits that denote 1 exactly: converting them with BigDecimal.longValueExact takes 80 s (a
        // big-number division); the JSON reader must refuse such a literal before converting it.
        String one = "1" + "0".repeat(2_000_000) + "e-2000000";
        Path p = safetensors("{\"a\":{\"dtype\":\"F32\",\"shape\":[" + one + "],\"data_offsets\":[0,4]}}");
        CorruptFileException e = assertTimeoutPreemptively(Duration.ofSeconds(5),
                () -> assertThrows(CorruptFileException.class, () -> Checkpoint.load(p)));
        assertTrue(e.getMessage().endsWith("header is not valid JSON (malformed at line 1 column 30)"), e.getMessage());
        // A long but accepted literal converts at once.
        String ok = "1" + "0".repeat(20) + "e-20";          // = 1
        Path q = safetensors("{\"a\":{\"dtype\":\"F32\",\"shape\":[" + ok + "],\"data_offsets\":[0,4]}}");
        CorruptFileException f = assertTimeoutPreemptively(Duration.ofSeconds(5),
                () -> assertThrows(CorruptFileException.class, () -> Checkpoint.load(q)));
        assertTrue(f.getMessage().contains("run past the end of the data section"), f.getMessage());
    }
}
