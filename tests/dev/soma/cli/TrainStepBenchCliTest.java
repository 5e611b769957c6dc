package dev.soma.cli;

import dev.soma.testing.NoLeaks;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.*;

/**
 * {@code bench train-step --model gan|dcgan}: a few steps print their medians (bench/gpu/check.sh reads the last line
 * of each family's run on cuda:0); the GAN benches refuse bf16 by name; an unknown model names the known ones;
 * {@code --against-f32} times bf16 and f32 in one run.
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
    void bf16AgainstF32TimesBothPrecisionsInOneRun() {
        org.junit.jupiter.api.Assumptions.assumeTrue(dev.soma.backend.MixedPrecision.bf16UnsupportedReason() == null,
                "this CPU has no bf16 instructions");
        long converted = dev.soma.backend.dnnl.Bf16Conversion.convertedElementsOnThisThread();
        CliRun run = CliRun.of("bench", "train-step", "--model", "cnn", "--shape", "image=12,filters1=4,filters2=8,dense=16",
                "--batch", "4", "--warmup", "1", "--steps", "15", "--no-settle", "--precision", "bf16", "--against-f32");
        assertEquals(0, run.exit(), run.err());
        assertTrue(run.out().contains("steps=15 (each precision) warmup=1 block=10"), run.out());
        double[] medians = new double[2];
        for (int i = 0; i < 2; i++) {
            Matcher m = Pattern.compile("(?m)^precision=" + (i == 0 ? "f32" : "bf16") + " median_ms=([0-9.]+) p90_ms=")
                    .matcher(run.out());
            assertTrue(m.find(), run.out());
            medians[i] = Double.parseDouble(m.group(1));
            assertTrue(medians[i] > 0, run.out());
        }
        Matcher ratio = Pattern.compile("(?m)^bf16_over_f32=([0-9.]+) block_ratio_median=([0-9.]+) blocks=2$")
                .matcher(run.out());
        assertTrue(ratio.find(), run.out());
        // (the medians are printed to 0.01 ms: their ratio is the printed one within that rounding)
        double want = medians[1] / medians[0];
        assertEquals(want, Double.parseDouble(ratio.group(1)), want * (0.005 / medians[0] + 0.005 / medians[1]) + 5e-4, run.out());
        // The bf16 model's steps rounded its products' operands (16 steps of it: warm-up and timed); the f32 one's did
        // not, or the f32 line would time bf16 work too: 16 steps of the conv2 input alone are 16 * 4*12*12*4 elements.
        long rounded = dev.soma.backend.dnnl.Bf16Conversion.convertedElementsOnThisThread() - converted;
        assertTrue(rounded >= 16L * 4 * 12 * 12 * 4, "elements rounded to bf16: " + rounded);
    }

    @Test
    void againstF32NeedsABf16ImageClassifierRun() {
        CliRun f32 = CliRun.of("bench", "train-step", "--model", "cnn", "--steps", "1", "--against-f32");
        assertNotEquals(0, f32.exit());
        assertTrue(f32.err().contains("--against-f32") && f32.err().contains("--precision bf16"), f32.err());
        if (dev.soma.backend.MixedPrecision.bf16UnsupportedReason() == null) {
            CliRun lstm = CliRun.of("bench", "train-step", "--model", "lstm", "--steps", "1", "--precision", "bf16",
                    "--against-f32");
            assertNotEquals(0, lstm.exit());
            assertTrue(lstm.err().contains("--against-f32") && lstm.err().contains("lstm"), lstm.err());
            CliRun traced = CliRun.of("bench", "train-step", "--model", "cnn", "--steps", "1", "--precision", "bf16",
                    "--against-f32", "--trace", "steps.csv");
            assertNotEquals(0, traced.exit());
            assertTrue(traced.err().contains("--trace") && traced.err().contains("--against-f32"), traced.err());
        }
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
