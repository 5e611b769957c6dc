package dev.soma.cli;

import dev.soma.autograd.GradMode;
import dev.soma.memory.Scope;
import dev.soma.model.Checkpoint;
import dev.soma.model.Sequential;
import dev.soma.tensor.Device;
import dev.soma.tensor.Tensor;
import dev.soma.util.ImageGrid;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.Callable;

/** {@code soma sample --checkpoint runs/gan-mnist}: draws new samples from a trained generator into a PNG grid. */
@Command(name = "sample", mixinStandardHelpOptions = true,
        description = "Draw samples from a trained GAN generator into a PNG grid.")
final class SampleCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Option(names = "--checkpoint", required = true,
            description = "the generator's checkpoint, or the run folder holding generator.safetensors")
    Path checkpoint;

    @Option(names = "--count", defaultValue = "64", description = "how many samples (default ${DEFAULT-VALUE})")
    int count;

    @Option(names = "--columns", defaultValue = "8")
    int columns;

    @Option(names = "--seed", defaultValue = "1", description = "noise seed: the same seed draws the same samples")
    long seed;

    @Option(names = "--out", description = "PNG to write (default samples.png next to the checkpoint)")
    Path out;

    @Mixin
    DeviceOption deviceOption = new DeviceOption();

    @Override
    public Integer call() throws Exception {
        if (count < 1 || count > 4096) throw new IllegalArgumentException("sample: --count must be in 1..4096, got " + count);
        if (columns < 1) throw new IllegalArgumentException("sample: --columns must be >= 1, got " + columns);
        Device device = deviceOption.resolve();
        Path file = CheckpointFiles.fileOrFolder(checkpoint, GanTraining.GENERATOR_FILE);
        Path png = out != null ? out : file.toAbsolutePath().getParent().resolve("samples.png");
        PrintWriter console = spec.commandLine().getOut();
        try (Sequential g = Checkpoint.load(file, device); Scope s = Scope.open(); GradMode.Guard guard = GradMode.disable()) {
            CheckpointFiles.requireGenerator(file, g);
            long[] latent = g.layers().get(0).inputShape();
            long[] noiseShape = new long[latent.length + 1];
            noiseShape[0] = count;
            System.arraycopy(latent, 0, noiseShape, 1, latent.length);
            // The noise is drawn on the CPU (the same samples for a seed on every device); call() copies it over.
            Tensor images = g.call(Tensor.randn(seed, noiseShape));
            ImageGrid.write(png, images.toFloatArray(), g.outputShape(), columns, -1, 1, 2);
        }
        console.println("wrote " + count + " samples to " + png);
        console.flush();
        return 0;
    }
}
