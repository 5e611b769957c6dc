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
            CliRun run = CliRun.of("bench", "train-step", "--model", model, "--batch", "4", "--warmup", "1", "--steps", "3",
                    "--no-settle"); // settling (up to 150 s) is StepTimerTest's subject
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

    @Test
    void shapedVariantsRunAndSayWhatChanged() {
        String[][] variants = {
                {"cnn", "image=12,channels=3,kernel=5,filters1=4,filters2=6,pool=3,dense=16"},
                {"lstm", "length=7,vocab=50,embed=8,hidden=12,cell=gru"},
                {"attn", "length=9,dim=16,heads=4"},
                {"gan", "latent=8,hidden=16,pixels=20"}};
        for (String[] v : variants) {
            CliRun run = CliRun.of("bench", "train-step", "--model", v[0], "--shape", v[1], "--batch", "3", "--warmup",
                    "1", "--steps", "2", "--no-settle");
            assertEquals(0, run.exit(), run.err());
            assertTrue(run.out().contains("model=" + v[0] + " shape=" + v[1] + " batch=3"), run.out());
            assertTrue(Pattern.compile("(?m)^median_ms=[0-9.]+ p90_ms=").matcher(run.out()).find(), run.out());
        }
        // The reference values are the defaults: naming one changes nothing in the label.
        CliRun same = CliRun.of("bench", "train-step", "--model", "attn", "--shape", "heads=1,length=3", "--batch", "2",
                "--warmup", "0", "--steps", "1", "--no-settle");
        assertEquals(0, same.exit(), same.err());
        assertTrue(same.out().contains("model=attn shape=length=3 batch=2"), same.out());
    }

    @Test
    void shapeRefusalsNameTheKeyAndWhatIsExpected() {
        String[][] bad = {
                {"cnn", "depth=2", "'depth'", "kernel"},
                {"cnn", "kernel=0", "kernel", "> 0"},
                {"cnn", "kernel=three", "kernel", "integer"},
                {"attn", "dim=10,heads=4", "dim 10", "heads 4"},
                {"lstm", "cell=rnn", "cell", "lstm or gru"},
                {"mlp", "dense=3", "--model mlp", "cnn"}};
        for (String[] b : bad) {
            CliRun run = CliRun.of("bench", "train-step", "--model", b[0], "--shape", b[1], "--steps", "1");
            assertNotEquals(0, run.exit(), b[1]);
            assertTrue(run.err().contains(b[2]) && run.err().contains(b[3]), run.err());
        }
    }

    @Test
    void theShapedBuildersMakeTheSizesAsked() {
        try (dev.soma.model.Sequential cnn = dev.soma.zoo.ReferenceModels.cnn(5, 4, 6, 3, 16, 10);
             dev.soma.model.Sequential attn = dev.soma.zoo.TransformerModels.attnBench(4, 16)) {
            cnn.build(12, 12, 3);
            java.util.List<dev.soma.nn.Param> p = cnn.params();
            assertArrayEquals(new long[] {5, 5, 3, 4}, p.get(0).value().shape());   // HWIO
            assertArrayEquals(new long[] {5, 5, 4, 6}, p.get(2).value().shape());
            assertArrayEquals(new long[] {4 * 4 * 6, 16}, p.get(4).value().shape()); // 12 / pool 3 = 4
            attn.build(9, 16);
            assertEquals(16 * 16 * 3 + 16 * 3 + 16 * 10 + 10, attn.paramCount());
        }
    }
}
