package dev.soma.cli;

import dev.soma.data.ArrayDataset;
import dev.soma.data.ImageFiles;
import dev.soma.data.Mnist;
import dev.soma.model.Checkpoint;
import dev.soma.model.Model;
import dev.soma.tensor.Device;
import dev.soma.tensor.Tensor;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;

/**
 * {@code soma predict --checkpoint ... --dataset mnist --count 10}: the predicted class of test images; with
 * {@code --image a.png --image b.jpg}, of the user's own image files instead (converted to the model's input shape
 * and scaled to [0, 1] as the training data were; see {@link ImageFiles}).
 */
@Command(name = "predict", mixinStandardHelpOptions = true,
        description = "Predict classes of test images of an MNIST-format dataset, or of your own image files "
                + "(--image), with a checkpoint.")
final class PredictCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Option(names = "--checkpoint", required = true, description = "a run folder (with model.safetensors) or a checkpoint file")
    Path checkpoint;

    @Mixin
    DatasetOptions datasetOptions = new DatasetOptions();

    @Mixin
    DeviceOption deviceOption = new DeviceOption();

    @Option(names = "--from", defaultValue = "0", description = "first test image")
    int from;

    @Option(names = "--count", defaultValue = "10", description = "how many test images")
    int count;

    @Option(names = "--image", paramLabel = "FILE", description = "an image file (PNG, JPEG, BMP, GIF) to classify "
            + "instead of dataset images; repeat for several. It must have the model's size unless --resize")
    List<Path> images = new ArrayList<>();

    @Option(names = "--resize", description = "scale --image files to the model's input size (bilinear)")
    boolean resize;

    @Option(names = "--invert", description = "invert --image files (dark drawings on a light background, as "
            + "MNIST's digits are light on dark)")
    boolean invert;

    @Override
    public Integer call() throws Exception {
        PrintWriter out = spec.commandLine().getOut();
        if (from < 0 || count <= 0) {
            throw new IllegalArgumentException("predict: --from must be >= 0 and --count >= 1, got " + from + " and " + count);
        }
        Device device = deviceOption.resolve();
        if (!images.isEmpty()) return predictFiles(out, device);
        Path file = CheckpointFiles.fileOrFolder(checkpoint, "model.safetensors");
        try (Model m = Checkpoint.loadModel(file, device)) {
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

    /** Classifies the --image files: each is read (checked) before the model runs, so a bad file stops early. */
    private int predictFiles(PrintWriter out, Device device) throws Exception {
        try (Model m = Checkpoint.loadModel(CheckpointFiles.fileOrFolder(checkpoint, "model.safetensors"), device)) {
            long[] in = m.exampleInputShape();
            if (in == null || !(in.length == 3 || in.length == 2)) {
                throw new IllegalArgumentException("predict --image: the model takes input of per-example shape "
                        + (in == null ? "(unknown: the checkpoint is not built)" : Arrays.toString(in))
                        + ", not an image [height, width] or [height, width, channels]");
            }
            int height = Math.toIntExact(in[0]);
            int width = Math.toIntExact(in[1]);
            int channels = in.length == 3 ? Math.toIntExact(in[2]) : 1;
            float[] x = new float[images.size() * height * width * channels];
            int per = height * width * channels;
            for (int i = 0; i < images.size(); i++) {
                float[] one = ImageFiles.read(images.get(i), height, width, channels, resize, invert);
                System.arraycopy(one, 0, x, i * per, per);
            }
            ArrayDataset data = ArrayDataset.withLabels(x, in, new int[images.size()]);
            try (Tensor probs = m.predict(data, 256)) {
                float[] p = probs.toFloatArray();
                int classes = (int) probs.size(1);
                out.println("predicted probability file");
                for (int i = 0; i < images.size(); i++) {
                    int best = 0;
                    for (int c = 1; c < classes; c++) if (p[i * classes + c] > p[i * classes + best]) best = c;
                    out.printf(Locale.ROOT, "%9d %11.4f %s%n", best, p[i * classes + best], images.get(i));
                }
            }
        }
        out.flush();
        return 0;
    }
}
