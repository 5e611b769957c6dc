package dev.soma.cli;

import dev.soma.data.Mnist;
import dev.soma.model.Checkpoint;
import dev.soma.model.Sequential;
import dev.soma.tensor.Device;
import dev.soma.tensor.Tensor;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.Locale;
import java.util.concurrent.Callable;

/** {@code soma predict --checkpoint ... --dataset mnist --count 10}: the predicted class of test images. */
@Command(name = "predict", mixinStandardHelpOptions = true,
        description = "Predict classes of test images of an MNIST-format dataset with a checkpoint.")
final class PredictCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Option(names = "--checkpoint", required = true)
    Path checkpoint;

    @Mixin
    DatasetOptions datasetOptions = new DatasetOptions();

    @Mixin
    DeviceOption deviceOption = new DeviceOption();

    @Option(names = "--from", defaultValue = "0", description = "first test image")
    int from;

    @Option(names = "--count", defaultValue = "10", description = "how many test images")
    int count;


    @Override
    public Integer call() throws Exception {
        PrintWriter out = spec.commandLine().getOut();
        if (from < 0 || count <= 0) {
            throw new IllegalArgumentException("predict: --from must be >= 0 and --count >= 1, got " + from + " and " + count);
        }
        Device device = deviceOption.resolve();
        Path file = CheckpointFiles.file(checkpoint);
        try (Sequential m = Checkpoint.load(file, device)) {
            CheckpointFiles.requireImageClassifier(file, m);
            Mnist.Split test = datasetOptions.load(out).test();
            if ((long) from + count > test.count()) {
                throw new IllegalArgumentException("predict: images [" + from + ", " + ((long) from + count) + ") are outside the "
                        + test.count() + " test images");
            }
            Mnist.Split part = test.slice(from, from + count);
            ImageData.requireFits(file, m, part);
            try (Tensor probs = m.predict(ImageData.toDataset(part), 256)) {
                float[] p = probs.toFloatArray();
                int classes = (int) probs.size(1);
                out.println("index predicted probability label");
                for (int i = 0; i < count; i++) {
                    int best = 0;
                    for (int c = 1; c < classes; c++) if (p[i * classes + c] > p[i * classes + best]) best = c;
                    out.printf(Locale.ROOT, "%5d %9d %11.4f %5d%n", from + i, best, p[i * classes + best], part.labels()[i]);
                }
            }
        }
        out.flush();
        return 0;
    }
}
