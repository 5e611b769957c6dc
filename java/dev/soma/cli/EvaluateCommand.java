package dev.soma.cli;

import dev.soma.data.Mnist;
import dev.soma.model.Checkpoint;
import dev.soma.model.Model;
import dev.soma.tensor.Device;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;

/** {@code soma evaluate --checkpoint run/model.safetensors --dataset mnist}: loss and accuracy on the test split. */
@Command(name = "evaluate", mixinStandardHelpOptions = true,
        description = "Evaluate a checkpoint on the test split of an MNIST-format dataset.")
final class EvaluateCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Option(names = "--checkpoint", required = true, description = "a run folder (with model.safetensors) or a checkpoint file")
    Path checkpoint;

    @Mixin
    DatasetOptions datasetOptions = new DatasetOptions();

    @Mixin
    DeviceOption deviceOption = new DeviceOption();


    @Override
    public Integer call() throws Exception {
        PrintWriter out = spec.commandLine().getOut();
        Device device = deviceOption.resolve();
        Path file = CheckpointFiles.fileOrFolder(checkpoint, "model.safetensors");
        try (Model m = Checkpoint.loadModel(file, device)) {
            CheckpointFiles.requireImageClassifier(file, m);
            Mnist.Dataset data = datasetOptions.load(out);
            ImageData.requireFits(file, m, data.test());
            Map<String, Double> r = m.evaluate(ImageData.toDataset(data.test()), 256);
            out.printf(Locale.ROOT, "test_accuracy=%.4f test_loss=%.4f%n", r.get("accuracy"), r.get("loss"));
        }
        out.flush();
        return 0;
    }
}
