package dev.soma.cli;

import dev.soma.data.Mnist;
import dev.soma.model.Checkpoint;
import dev.soma.model.Model;
import dev.soma.robust.Attack;
import dev.soma.robust.AttackPicture;
import dev.soma.robust.RobustAccuracy;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Locale;
import java.util.concurrent.Callable;

/**
 * {@code soma attack --checkpoint runs/cnn-mnist --epsilon 0.1 --steps 20}: clean and robust (PGD, or FGSM with
 * {@code --steps 1}) accuracy of an image classifier on the first test images, and a PNG of originals,
 * perturbations and adversarial images.
 */
@Command(name = "attack", mixinStandardHelpOptions = true,
        description = "Attack a checkpoint's image classifier with FGSM/PGD (L-inf or L2) on test images: clean and "
                + "robust accuracy, and a PNG of originals, perturbations and adversarial images.")
final class AttackCommand implements Callable<Integer> {
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

    @Option(names = "--limit", defaultValue = "1000", description = "attack the first N test images (default ${DEFAULT-VALUE})")
    int limit;

    @Option(names = "--show", defaultValue = "10", description = "images in the PNG (default ${DEFAULT-VALUE})")
    int show;

    @Option(names = "--out", description = "PNG (default attack-<norm>-<epsilon>.png in the run folder)")
    Path out;

    @Override
    public Integer call() throws Exception {
        Attack attack = attackOptions.attack("attack", limit, show); // every option checked before any data is loaded
        PrintWriter console = spec.commandLine().getOut();
        Path file = CheckpointFiles.fileOrFolder(checkpoint, "model.safetensors");
        try (Model m = Checkpoint.loadModel(file, deviceOption.resolve())) {
            CheckpointFiles.requireImageClassifier(file, m);
            Mnist.Split test = datasetOptions.load(console).test();
            ImageData.requireFits(file, m, test);
            Mnist.Split part = test.slice(0, Math.min(limit, test.count()));
            long[] shape = {part.height(), part.width(), 1};
            int k = Math.min(show, part.count());
            RobustAccuracy.Result r = RobustAccuracy.of(m, attack, part.images(), shape, part.labels(), 100, k);
            Path png = out != null ? out : file.toAbsolutePath().getParent()
                    .resolve(String.format(Locale.ROOT, "attack-%s-%s.png", attack.norm().name().toLowerCase(Locale.ROOT), attack.epsilon()));
            int per = part.height() * part.width();
            AttackPicture.write(png, Arrays.copyOf(part.images(), k * per), r.adversarialHead(), shape, k,
                    AttackOptions.LO, AttackOptions.HI, 3);
            console.printf(Locale.ROOT, "%s on %d test images: clean_accuracy=%.4f robust_accuracy=%.4f%nwrote %s%n",
                    attack, part.count(), r.clean(), r.robust(), png);
        }
        console.flush();
        return 0;
    }
}
