package dev.soma.cli;

import dev.soma.backend.CudaProbe;
import dev.soma.model.Checkpoint;
import dev.soma.model.Sequential;
import dev.soma.nn.Dense;
import dev.soma.testing.NoLeaks;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.*;
import static org.junit.jupiter.api.Assumptions.assumeFalse;

/**
 * {@code --device} on train, evaluate, predict, generate, sample and bench train-step, fit-step and serve-load, in the default execution (a
 * CPU-only JVM, where CUDA is not usable): cpu is the default and works; cuda:0 fails with one sentence, the probe's
 * reason, exit code 1 and no stack trace; a malformed device is refused.
 */
@ExtendWith(NoLeaks.class)
class DeviceCliTest {
    /** Each command with the arguments it needs to reach its device check. */
    static final List<String[]> COMMANDS = List.of(
            new String[] {"train", "mlp", "--limit", "8", "--epochs", "1"},
            new String[] {"train", "gan", "--limit", "8", "--epochs", "1"},
            new String[] {"evaluate", "--checkpoint", "/nonexistent/model.safetensors"},
            new String[] {"predict", "--checkpoint", "/nonexistent/model.safetensors"},
            new String[] {"generate", "--checkpoint", "/nonexistent/model.safetensors"},
            new String[] {"sample", "--checkpoint", "/nonexistent/generator.safetensors"},
            new String[] {"bench", "train-step", "--model", "mlp", "--steps", "1", "--warmup", "0"},
            new String[] {"bench", "fit-step", "--model", "mlp", "--data", "/nonexistent"},
            new String[] {"bench", "serve-load", "--model", "mlp", "--seconds", "0.1"});

    static String[] with(String[] args, String... more) {
        String[] all = java.util.Arrays.copyOf(args, args.length + more.length);
        System.arraycopy(more, 0, all, args.length, more.length);
        return all;
    }

    @Test
    void cudaWhereItIsNotUsableIsOneClearSentence() {
        assumeFalse(CudaProbe.result().usable(), "CUDA is usable in this JVM");
        String reason = CudaProbe.result().reason();
        for (String[] cmd : COMMANDS) {
            CliRun r = CliRun.of(with(cmd, "--device", "cuda:0"));
            String what = String.join(" ", cmd);
            assertEquals(1, r.exit(), what + ": " + r.err());
            String err = r.err().strip();
            assertEquals(1, err.lines().count(), what + ": one line, got:\n" + err);
            assertTrue(err.startsWith("soma " + cmd[cmd[0].equals("bench") ? 1 : 0] + ": --device cuda:0 cannot be used: "),
                    what + ": " + err);
            assertTrue(err.endsWith(reason), what + ": the probe's reason ends the line: " + err);
            assertFalse(err.contains("Exception") || err.contains("\tat "), what + ": no stack trace: " + err);
            assertEquals("", r.out().strip(), what + ": nothing ran before the check");
        }
    }

    @Test
    void aMalformedDeviceIsRefused() {
        for (String[] cmd : COMMANDS) {
            CliRun r = CliRun.of(with(cmd, "--device", "tpu:0"));
            assertEquals(1, r.exit(), String.join(" ", cmd));
            assertTrue(r.err().contains("--device: unknown device 'tpu:0': expected cpu, cuda or cuda:N"), r.err());
            assertEquals(1, r.err().strip().lines().count(), r.err());
        }
    }

    @Test
    void cpuIsTheDefaultAndCanBeNamed(@TempDir Path dir) throws Exception {
        try (Sequential g = new Sequential(new Dense(784, "tanh"))) {
            g.seed(3).build(4);
            Checkpoint.save(g, dir.resolve(GanTraining.GENERATOR_FILE));
        }
        CliRun named = CliRun.of("sample", "--checkpoint", dir.toString(), "--count", "2", "--device", "cpu",
                "--out", dir.resolve("a.png").toString());
        assertEquals(0, named.exit(), named.err());
        CliRun implicit = CliRun.of("sample", "--checkpoint", dir.toString(), "--count", "2",
                "--out", dir.resolve("b.png").toString());
        assertEquals(0, implicit.exit(), implicit.err());
        assertArrayEquals(Files.readAllBytes(dir.resolve("a.png")), Files.readAllBytes(dir.resolve("b.png")));
        CliRun help = CliRun.of("train", "--help");
        assertTrue(help.out().contains("--device=DEVICE"), help.out());
        CliRun bench = CliRun.of("bench", "train-step", "--model", "mlp", "--steps", "1", "--warmup", "0", "--batch", "2",
                "--device", "cpu");
        assertEquals(0, bench.exit(), bench.err());
        assertTrue(bench.out().contains("median_ms="), bench.out());
    }
}
