package dev.soma.cli;

import dev.soma.data.Mnist;
import dev.soma.model.Checkpoint;
import dev.soma.model.Model;
import dev.soma.robust.Attack;
import dev.soma.robust.GaussianNoise;
import dev.soma.robust.RobustAccuracy;
import dev.soma.robust.RobustnessPlot;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.Locale;
import java.util.concurrent.Callable;

/**
 * {@code soma robustness --checkpoint runs/cnn-mnist}: accuracy on the first test images against the Gaussian
 * noise level and against the attack's epsilon, printed and drawn as two curves in one PNG.
 */
@Command(name = "robustness", mixinStandardHelpOptions = true,
        description = "Accuracy of a checkpoint's image classifier against Gaussian noise level and attack epsilon: "
                + "a table and a PNG with both curves.")
final class RobustnessCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Option(names = "--checkpoint", required = true, description = "a run folder (with model.safetensors) or a checkpoint file")
    Path checkpoint;

    @Mixin
    DatasetOptions datasetOptions = new DatasetOptions();

    @Mixin
    DeviceOption deviceOption = new DeviceOption();

    @Mixin
    AttackOptions attackOptions = new AttackOptions();

    @Option(names = "--limit", defaultValue = "500", description = "use the first N test images (default ${DEFAULT-VALUE})")
    int limit;

    @Option(names = "--sigmas", split = ",", defaultValue = "0,0.1,0.2,0.3,0.4,0.5",
            description = "Gaussian noise levels (default ${DEFAULT-VALUE})")
    double[] sigmas;

    @Option(names = "--epsilons", split = ",", defaultValue = "0,0.05,0.1,0.15,0.2,0.3",
            description = "attack budgets (default ${DEFAULT-VALUE})")
    double[] epsilons;

    @Option(names = "--out", description = "PNG (default robustness.png in the run folder)")
    Path out;

    @Override
    public Integer call() throws Exception {
        attackOptions.attack("robustness", limit, 1); // every option checked before any data is loaded
        for (double s : sigmas) new GaussianNoise(s, 0);
        Attack[] attacks = new Attack[epsilons.length];
        for (int i = 0; i < epsilons.length; i++) attacks[i] = attackOptions.attack("robustness", epsilons[i]);
        PrintWriter console = spec.commandLine().getOut();
        Path file = CheckpointFiles.fileOrFolder(checkpoint, "model.safetensors");
        try (Model m = Checkpoint.loadModel(file, deviceOption.resolve())) {
            CheckpointFiles.requireImageClassifier(file, m);
            Mnist.Split test = datasetOptions.load(console).test();
            ImageData.requireFits(file, m, test);
            Mnist.Split part = test.slice(0, Math.min(limit, test.count()));
            long[] shape = {part.height(), part.width(), 1};
            double[] noiseAccuracy = new double[sigmas.length];
            for (int i = 0; i < sigmas.length; i++) {
                GaussianNoise noise = new GaussianNoise(sigmas[i], attackOptions.seed);
                noiseAccuracy[i] = RobustAccuracy.underChange(m, noise::apply, part.images(), shape, part.labels(), 100);
                console.printf(Locale.ROOT, "noise sigma=%.3f accuracy=%.4f%n", sigmas[i], noiseAccuracy[i]);
                console.flush();
            }
            double[] attackAccuracy = new double[epsilons.length];
            for (int i = 0; i < epsilons.length; i++) {
                attackAccuracy[i] = RobustAccuracy.of(m, attacks[i], part.images(), shape, part.labels(), 100, 0).robust();
                console.printf(Locale.ROOT, "%s accuracy=%.4f%n", attacks[i], attackAccuracy[i]);
                console.flush();
            }
            Path png = out != null ? out : file.toAbsolutePath().getParent().resolve("robustness.png");
            String name = attacks.length > 0 ? attacks[0].name() + "-" + attackOptions.steps + " " + attacks[0].norm() : "attack";
            RobustnessPlot.write(png, sigmas, noiseAccuracy, name, epsilons, attackAccuracy);
            console.println("wrote " + png);
        }
        console.flush();
        return 0;
    }
}
