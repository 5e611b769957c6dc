package dev.soma.cli;

import dev.soma.testing.NoLeaks;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.*;

/**
 * {@code bench train-step --model gan|dcgan}: a few steps print their medians (bench/gpu/check.sh reads the last line
 * of each family's run on cuda:0); the GAN benches refuse bf16 by name; an unknown model names the known ones.
 */
@ExtendWith(NoLeaks.class)
class TrainStepBenchCliTest {
    @Test
    void theGanBenchesPrintTheirMedians() {
        for (String model : new String[] {"gan", "dcgan"}) {
            CliRun run = CliRun.of("bench", "train-step", "--model", model, "--batch", "4", "--warmup", "1", "--steps", "3");
            assertEquals(0, run.exit(), run.err());
            assertTrue(run.out().contains("model=" + model + " batch=4 steps=3"), run.out());
            Matcher m = Pattern.compile("(?m)^median_ms=([0-9.]+) p90_ms=").matcher(run.out());
            assertTrue(m.find(), run.out());
            assertTrue(Double.parseDouble(m.group(1)) > 0, run.out());
        }
    }

    @Test
    void refusalsNameTheModel() {
        // (on a CPU without bf16 the option falls back to f32 with one line, and then the bench runs)
        if (dev.soma.backend.MixedPrecision.bf16UnsupportedReason() == null) {
            CliRun bf16 = CliRun.of("bench", "train-step", "--model", "dcgan", "--precision", "bf16", "--steps", "1");
            assertNotEquals(0, bf16.exit());
            assertTrue(bf16.err().contains("bf16") && bf16.err().contains("dcgan"), bf16.err());
        }
        CliRun unknown = CliRun.of("bench", "train-step", "--model", "vae", "--steps", "1");
        assertNotEquals(0, unknown.exit());
        assertTrue(unknown.err().contains("'vae'") && unknown.err().contains("dcgan"), unknown.err());
    }
}
